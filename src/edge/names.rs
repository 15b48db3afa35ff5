//! Names and fixed values of the routing resources. Every resource is named per distribution,
//! so several distributions in one account never share (or overwrite) each other's function,
//! Lambda, role or cache policy.

use crate::ids::DistributionId;

/// The Edge Optimize origin's id on every distribution; the routing function refers to it.
pub const ORIGIN_ID: &str = "EdgeOptimize_Origin";
/// The origin header carrying the site's Edge Optimize API key (a secret).
pub const API_KEY_HEADER: &str = "x-edgeoptimize-api-key";
/// The origin header naming the host Edge Optimize renders for.
pub const FORWARDED_HOST_HEADER: &str = "x-forwarded-host";
/// Set by the routing function on agent requests; in the cache key so bots and people never
/// share a cached page.
pub const CONFIG_HEADER: &str = "x-edgeoptimize-config";
/// Set by the routing function on agent requests: the page Edge Optimize is asked to render.
pub const URL_HEADER: &str = "x-edgeoptimize-url";
/// The two headers the target behavior must forward (in its cache key).
pub const CACHE_KEY_HEADERS: [&str; 2] = [CONFIG_HEADER, URL_HEADER];
/// Present on Edge Optimize's own fetches and on failover passes.
pub const REQUEST_HEADER: &str = "x-edgeoptimize-request";
/// Present on every response Edge Optimize served.
pub const REQUEST_ID_HEADER: &str = "x-edgeoptimize-request-id";
/// Set by the Lambda@Edge handler on a response the customer's origin served in failover.
pub const FAILOVER_HEADER: &str = "x-edgeoptimize-fo";
/// Set by Edge Optimize when it proxied a request.
pub const PROXY_HEADER: &str = "x-edgeoptimize-proxy";

pub const FUNCTION_RUNTIME: &str = "cloudfront-js-2.0";
pub const FUNCTION_COMMENT: &str = "EdgeOptimize agentic bot routing — managed by LLM Optimizer";
pub const LAMBDA_RUNTIME: &str = "nodejs24.x";
pub const LAMBDA_HANDLER: &str = "index.handler";
pub const LAMBDA_MEMORY_MB: i32 = 128;
pub const LAMBDA_TIMEOUT_SECS: i32 = 5;
pub const LAMBDA_DESCRIPTION: &str = "EdgeOptimize origin request/response handler (Lambda@Edge)";
pub const LAMBDA_VERSION_DESCRIPTION: &str = "Published by cdn-onboard";
pub const ROLE_DESCRIPTION: &str = "Execution role for EdgeOptimize Lambda@Edge function";
pub const LOGGING_POLICY_NAME: &str = "EdgeOptimizeLambdaLogging";
/// What the permissions boundary policy's name adds to the connector role's name.
pub const ROLE_BOUNDARY_SUFFIX: &str = "-EdgeOptimizeBoundary";

/// The managed policy the customer's connector role template creates beside the role, as the
/// permissions boundary of every Lambda@Edge execution role this service creates: they can
/// never do more than write their logs, whatever policy is put on them.
pub fn role_boundary_policy(connector_role_name: &str) -> String {
    format!("{connector_role_name}{ROLE_BOUNDARY_SUFFIX}")
}

/// CloudFront's limit on a cache policy name.
const MAX_CACHE_POLICY_NAME_CHARS: usize = 128;

/// The per-distribution names of the routing resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingNames {
    pub distribution_id: DistributionId,
    /// The viewer-request CloudFront Function.
    pub function: String,
    /// The origin-request/origin-response Lambda@Edge function.
    pub lambda: String,
    /// The Lambda@Edge function's execution role.
    pub role: String,
}

impl RoutingNames {
    pub fn new(distribution_id: &DistributionId) -> Self {
        Self {
            distribution_id: distribution_id.clone(),
            function: format!("edgeoptimize-routing-adobe-{distribution_id}"),
            lambda: format!("edgeoptimize-origin-adobe-{distribution_id}"),
            role: format!("edgeoptimize-origin-role-adobe-{distribution_id}"),
        }
    }

    fn clone_suffix(&self) -> String {
        format!("-adobe-{}", self.distribution_id)
    }

    /// The name of our copy of the cache policy `source_name` for this distribution: the source's
    /// name without a leading `Managed-`, then `-adobe-<distributionId>`. A long source name is
    /// cut, never the suffix, so two distributions never share a clone.
    pub fn cache_policy_clone(&self, source_name: &str) -> String {
        let base = match source_name.get(..8) {
            Some(prefix) if prefix.eq_ignore_ascii_case("managed-") => &source_name[8..],
            _ => source_name,
        };
        let suffix = self.clone_suffix();
        let room = MAX_CACHE_POLICY_NAME_CHARS - suffix.len();
        let base: String = base.chars().take(room).collect();
        format!("{base}{suffix}")
    }

    /// Whether a cache policy name is one of our clones for this distribution.
    pub fn is_our_cache_policy(&self, name: &str) -> bool {
        name.ends_with(&self.clone_suffix())
    }
}

/// A function association this service made (the routing function, under any of its names).
pub fn is_routing_function_arn(arn: &str) -> bool {
    arn.to_ascii_lowercase().contains("edgeoptimize-routing")
}

/// A Lambda@Edge association this service made.
pub fn is_origin_lambda_arn(arn: &str) -> bool {
    arn.to_ascii_lowercase().contains("edgeoptimize-origin")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> RoutingNames {
        RoutingNames::new(&DistributionId::parse("E2EXAMPLE1ABCD").unwrap())
    }

    #[test]
    fn names_are_per_distribution_and_fit_aws_limits() {
        let names = names();
        assert_eq!(names.function, "edgeoptimize-routing-adobe-E2EXAMPLE1ABCD");
        assert_eq!(names.lambda, "edgeoptimize-origin-adobe-E2EXAMPLE1ABCD");
        assert_eq!(names.role, "edgeoptimize-origin-role-adobe-E2EXAMPLE1ABCD");
        assert!(names.function.len() <= 64 && names.lambda.len() <= 64 && names.role.len() <= 64);
    }

    #[test]
    fn cache_policy_clones_drop_managed_and_keep_the_distribution() {
        let names = names();
        assert_eq!(
            names.cache_policy_clone("Managed-CachingOptimized"),
            "CachingOptimized-adobe-E2EXAMPLE1ABCD"
        );
        assert_eq!(
            names.cache_policy_clone("my-policy"),
            "my-policy-adobe-E2EXAMPLE1ABCD"
        );
        let long = names.cache_policy_clone(&"x".repeat(200));
        assert_eq!(long.len(), 128);
        assert!(long.ends_with("-adobe-E2EXAMPLE1ABCD"));
        assert!(names.is_our_cache_policy(&long));
        assert!(!names.is_our_cache_policy("CachingOptimized-adobe-EOTHERDIST01"));
    }

    #[test]
    fn our_associations_are_recognised_by_name() {
        assert!(is_routing_function_arn(
            "arn:aws:cloudfront::111122223333:function/edgeoptimize-routing-adobe-E2EXAMPLE1ABCD"
        ));
        assert!(is_routing_function_arn(
            "arn:aws:cloudfront::111122223333:function/EdgeOptimize-Routing"
        ));
        assert!(!is_routing_function_arn(
            "arn:aws:cloudfront::111122223333:function/security-headers"
        ));
        assert!(is_origin_lambda_arn(
            "arn:aws:lambda:us-east-1:111122223333:function:edgeoptimize-origin-adobe-E2EXAMPLE1ABCD:3"
        ));
    }
}
