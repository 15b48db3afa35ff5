//! Everything a routing step works with: the customer-scoped clients, the command's params, the
//! per-distribution names, and the mode (apply or plan).

use aws_sdk_cloudfront as cloudfront;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use tokio::time::Instant;

use crate::edge::names::RoutingNames;
use crate::ids::{AccountId, DistributionId};
use crate::routing::api_key::ApiKey;
use crate::routing::step::Mode;
use crate::routing::verify::Prober;
use crate::routing_params::RoutingParams;

pub struct Routing<'a> {
    pub cloudfront: cloudfront::Client,
    pub iam: iam::Client,
    pub lambda: lambda::Client,
    pub account_id: &'a AccountId,
    pub params: &'a RoutingParams,
    pub names: RoutingNames,
    /// The Edge Optimize origin's domain (`EDGE_OPTIMIZE_EDGE_DOMAIN`).
    pub edge_domain: &'a str,
    /// The connector role's name (`EDGE_OPTIMIZE_ROLE_NAME`): the role's template names the
    /// permissions boundary of the Lambda@Edge execution roles after it.
    pub connector_role_name: &'a str,
    /// The site's key, loaded when a step that needs it runs.
    pub api_key: Option<ApiKey>,
    pub prober: &'a dyn Prober,
    pub deadline: Instant,
    pub mode: Mode,
}

impl Routing<'_> {
    pub fn distribution_id(&self) -> &DistributionId {
        &self.params.distribution_id
    }

    pub fn planning(&self) -> bool {
        self.mode == Mode::Plan
    }

    /// The ARN the routing function has once it exists.
    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:cloudfront::{}:function/{}",
            self.account_id, self.names.function
        )
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account_id, self.names.role)
    }

    /// The permissions boundary the Lambda@Edge execution role is created with.
    pub fn role_boundary_arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:policy/{}",
            self.account_id,
            crate::edge::names::role_boundary_policy(self.connector_role_name)
        )
    }
}
