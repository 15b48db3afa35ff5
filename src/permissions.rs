//! Every permission the service uses inside a customer account, declared once: the IAM action,
//! the template variant that needs it, where it applies, and why, for the customer to read.
//!
//! The customer's connector role templates (`infra/customer/`) are generated from this table
//! (`cdn-onboard templates`), and tests check both directions: every action the code names at a
//! call site is declared here, and everything declared is called (or is one of the permissions
//! AWS checks behind a call, marked `implied`).

use serde::Serialize;

/// Which connector role template grants a permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Log delivery only (and reading distributions).
    LogOnly,
    /// Log delivery and edge routing.
    LogAndRouting,
}

impl Variant {
    pub const ALL: [Variant; 2] = [Variant::LogOnly, Variant::LogAndRouting];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LogOnly => "log-only",
            Self::LogAndRouting => "log-and-routing",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// Whether this variant grants what `needed` needs (log-and-routing includes log-only).
    pub fn includes(self, needed: Variant) -> bool {
        self == needed || self == Variant::LogAndRouting
    }
}

/// Where a permission applies, in the customer's account (`${AWS::AccountId}` in templates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything: list calls, and resources whose names the service cannot know in advance.
    Any,
    /// The per-distribution routing functions.
    RoutingFunctions,
    /// The per-distribution Lambda@Edge functions and their versions.
    EdgeLambdas,
    /// The per-distribution Lambda@Edge execution roles.
    EdgeRoles,
    /// The service-linked roles CloudFront and Lambda@Edge replication need.
    EdgeServiceLinkedRoles,
}

impl Scope {
    /// The resource ARNs, as CloudFormation `Fn::Sub` strings.
    pub fn resources(self) -> &'static [&'static str] {
        match self {
            Self::Any => &["*"],
            Self::RoutingFunctions => {
                &["arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:function/edgeoptimize-routing-adobe-*"]
            }
            Self::EdgeLambdas => &[
                "arn:${AWS::Partition}:lambda:us-east-1:${AWS::AccountId}:function:edgeoptimize-origin-adobe-*",
                "arn:${AWS::Partition}:lambda:us-east-1:${AWS::AccountId}:function:edgeoptimize-origin-adobe-*:*",
            ],
            Self::EdgeRoles => {
                &["arn:${AWS::Partition}:iam::${AWS::AccountId}:role/edgeoptimize-origin-role-adobe-*"]
            }
            Self::EdgeServiceLinkedRoles => &[
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/replicator.lambda.amazonaws.com/AWSServiceRoleForLambdaReplicator",
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/logger.cloudfront.amazonaws.com/AWSServiceRoleForCloudFrontLogger",
            ],
        }
    }
}

/// One permission of the connector role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub action: &'static str,
    pub variant: Variant,
    /// The group the customer sees it in.
    pub group: &'static str,
    pub scope: Scope,
    /// Why the service needs it, in one line.
    pub reason: &'static str,
    /// AWS checks it behind another call (no call of the code names it).
    pub implied: bool,
}

const fn permission(
    action: &'static str,
    variant: Variant,
    group: &'static str,
    scope: Scope,
    reason: &'static str,
    implied: bool,
) -> Permission {
    Permission {
        action,
        variant,
        group,
        scope,
        reason,
        implied,
    }
}

/// A permission a call of the code names.
const fn call(
    action: &'static str,
    variant: Variant,
    group: &'static str,
    scope: Scope,
    reason: &'static str,
) -> Permission {
    permission(action, variant, group, scope, reason, false)
}

/// A permission AWS checks behind another call.
const fn implied(
    action: &'static str,
    variant: Variant,
    group: &'static str,
    scope: Scope,
    reason: &'static str,
) -> Permission {
    permission(action, variant, group, scope, reason, true)
}

use Scope::*;
use Variant::*;

const LOGS: &str = "LogDelivery";
const READ: &str = "CloudFrontRead";
const WRITE: &str = "CloudFrontRouting";
const EDGE: &str = "LambdaEdge";
const ROLE: &str = "LambdaEdgeRole";

/// Every permission, grouped as the customer sees them.
pub const PERMISSIONS: &[Permission] = &[
    call("logs:GetDeliverySource", LogOnly, LOGS, Any, "Read the delivery source this service created for a distribution"),
    call("logs:DescribeDeliverySources", LogOnly, LOGS, Any, "Find a delivery source the customer already bound to a distribution, so it is never replaced"),
    call("logs:PutDeliverySource", LogOnly, LOGS, Any, "Create the delivery source of a distribution's access logs"),
    implied("logs:TagResource", LogOnly, LOGS, Any, "Tag the delivery source and delivery it creates as managed by this service (only that tag)"),
    implied("cloudfront:AllowVendedLogDeliveryForResource", LogOnly, LOGS, Any, "CloudFront's consent, checked by PutDeliverySource, to vend a distribution's logs"),
    call("logs:DeleteDeliverySource", LogOnly, LOGS, Any, "Remove the delivery source this service created, when log delivery is disabled"),
    call("logs:DescribeDeliveries", LogOnly, LOGS, Any, "Find the deliveries from this service's delivery source"),
    call("logs:GetDelivery", LogOnly, LOGS, Any, "Read a delivery in full when a rescan checks it for drift"),
    call("logs:CreateDelivery", LogOnly, LOGS, Any, "Deliver a distribution's access logs to the tenant's destination"),
    call("logs:UpdateDeliveryConfiguration", LogOnly, LOGS, Any, "Set a delivery's record fields and path back when they drifted"),
    call("logs:DeleteDelivery", LogOnly, LOGS, Any, "Remove this service's delivery when logs are disabled or repointed"),
    call("cloudfront:ListDistributions", LogOnly, READ, Any, "List the account's distributions for the onboarding screens"),
    call("cloudfront:GetDistribution", LogOnly, READ, Any, "Read a distribution's configuration, status and aliases"),
    call("cloudfront:UpdateDistribution", LogAndRouting, WRITE, Any, "Add the Edge Optimize origin, cache key headers and associations to the routed behavior"),
    call("cloudfront:GetFunction", LogAndRouting, WRITE, RoutingFunctions, "Compare the routing function's code with the current one"),
    call("cloudfront:DescribeFunction", LogAndRouting, WRITE, RoutingFunctions, "Find the published routing function's ARN"),
    // CreateFunction has no resource-level permissions: AWS matches it only against "*".
    call("cloudfront:CreateFunction", LogAndRouting, WRITE, Any, "Create the per-distribution routing function"),
    call("cloudfront:UpdateFunction", LogAndRouting, WRITE, RoutingFunctions, "Roll out the routing function's current code"),
    call("cloudfront:PublishFunction", LogAndRouting, WRITE, RoutingFunctions, "Publish the routing function to LIVE"),
    call("cloudfront:GetCachePolicy", LogAndRouting, WRITE, Any, "Read the routed behavior's cache policy (it is never edited unless it is this service's clone)"),
    call("cloudfront:ListCachePolicies", LogAndRouting, WRITE, Any, "Find this service's clone of a cache policy by name"),
    call("cloudfront:CreateCachePolicy", LogAndRouting, WRITE, Any, "Clone a cache policy with the Edge Optimize headers in its cache key"),
    call("cloudfront:UpdateCachePolicy", LogAndRouting, WRITE, Any, "Keep this service's clone in line with its source"),
    call("lambda:GetFunctionConfiguration", LogAndRouting, EDGE, EdgeLambdas, "Read the Lambda@Edge function's state and code hash"),
    call("lambda:CreateFunction", LogAndRouting, EDGE, EdgeLambdas, "Create the per-distribution Lambda@Edge function"),
    call("lambda:UpdateFunctionCode", LogAndRouting, EDGE, EdgeLambdas, "Roll out the current Lambda@Edge handler"),
    call("lambda:UpdateFunctionConfiguration", LogAndRouting, EDGE, EdgeLambdas, "Restore the Lambda@Edge function's settings when they drifted"),
    call("lambda:ListVersionsByFunction", LogAndRouting, EDGE, EdgeLambdas, "Find the version that carries the current handler"),
    call("lambda:PublishVersion", LogAndRouting, EDGE, EdgeLambdas, "Publish the numbered version CloudFront runs"),
    implied("lambda:GetFunction", LogAndRouting, EDGE, EdgeLambdas, "Checked by CloudFront when a Lambda@Edge version is associated"),
    implied("lambda:EnableReplication*", LogAndRouting, EDGE, EdgeLambdas, "Lets CloudFront replicate the Lambda@Edge version to the edge when it is associated"),
    implied("lambda:DisableReplication*", LogAndRouting, EDGE, EdgeLambdas, "Lets CloudFront stop replicating the version an association no longer uses"),
    call("iam:GetRole", LogAndRouting, ROLE, EdgeRoles, "Read the Lambda@Edge execution role and its trust"),
    call("iam:CreateRole", LogAndRouting, ROLE, EdgeRoles, "Create the per-distribution Lambda@Edge execution role, bounded to writing its logs"),
    call("iam:UpdateAssumeRolePolicy", LogAndRouting, ROLE, EdgeRoles, "Restore the role's trust in Lambda and Lambda@Edge when it drifted"),
    call("iam:GetRolePolicy", LogAndRouting, ROLE, EdgeRoles, "Read the role's logging policy"),
    call("iam:PutRolePolicy", LogAndRouting, ROLE, EdgeRoles, "Let the Lambda@Edge function write its logs"),
    implied("iam:PassRole", LogAndRouting, ROLE, EdgeRoles, "Give the execution role to the Lambda@Edge function (checked by CreateFunction and UpdateFunctionConfiguration)"),
    implied("iam:CreateServiceLinkedRole", LogAndRouting, ROLE, EdgeServiceLinkedRoles, "The service-linked roles Lambda@Edge replication and CloudFront need on first use"),
];

/// The permissions a variant's template grants.
pub fn granted_by(variant: Variant) -> impl Iterator<Item = &'static Permission> {
    PERMISSIONS
        .iter()
        .filter(move |p| variant.includes(p.variant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_declared_once_and_log_only_is_a_subset() {
        let mut actions: Vec<_> = PERMISSIONS.iter().map(|p| p.action).collect();
        actions.sort();
        let before = actions.len();
        actions.dedup();
        assert_eq!(before, actions.len(), "an action is declared twice");
        assert!(granted_by(LogOnly).all(|p| p.variant == LogOnly));
        assert_eq!(granted_by(LogAndRouting).count(), PERMISSIONS.len());
        assert!(PERMISSIONS
            .iter()
            .all(|p| !p.reason.is_empty() && p.reason.len() < 120));
    }
}
