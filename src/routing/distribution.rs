//! Reading a distribution and changing its configuration safely: every write sends back exactly
//! the configuration just read, with the step's change applied, under that read's ETag; a stale
//! ETag (someone else changed the distribution meanwhile) re-reads and re-applies the change to
//! the fresh configuration, so their change is kept.
//!
//! <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_UpdateDistribution.html>

use aws_sdk_cloudfront::types::{
    CacheBehavior, DefaultCacheBehavior, DistributionConfig, ForwardedValues, FunctionAssociations,
    LambdaFunctionAssociations,
};

use crate::error::{ErrorCode, Failure};
use crate::retry::aws_call;
use crate::routing::calls::{cloudfront_failure, is_stale_etag, STALE_ETAG_ATTEMPTS};
use crate::routing::context::Routing;
use crate::routing_params::Behavior;

/// A distribution as one GetDistribution saw it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub config: DistributionConfig,
    pub etag: String,
    /// `Deployed` or `InProgress`.
    pub status: String,
    /// The distribution's own `*.cloudfront.net` name.
    pub domain_name: String,
}

impl Snapshot {
    /// The distribution's alternate domain names, lowercased.
    pub fn aliases(&self) -> Vec<String> {
        self.config
            .aliases
            .as_ref()
            .and_then(|a| a.items.as_ref())
            .map(|items| items.iter().map(|a| a.to_ascii_lowercase()).collect())
            .unwrap_or_default()
    }
}

pub async fn read(ctx: &Routing<'_>) -> Result<Snapshot, Failure> {
    let id = ctx.distribution_id();
    let output = aws_call(ctx.deadline, || {
        ctx.cloudfront.get_distribution().id(id.as_str()).send()
    })
    .await
    .map_err(|fault| {
        if fault.is("NoSuchDistribution") {
            not_found(ctx)
        } else {
            cloudfront_failure(&fault, "cloudfront:GetDistribution")
        }
    })?;
    let etag = output.e_tag.clone().unwrap_or_default();
    let distribution = output.distribution.ok_or_else(|| not_found(ctx))?;
    let config = distribution
        .distribution_config
        .ok_or_else(|| not_found(ctx))?;
    Ok(Snapshot {
        config,
        etag,
        status: distribution.status,
        domain_name: distribution.domain_name,
    })
}

fn not_found(ctx: &Routing<'_>) -> Failure {
    Failure::new(
        ErrorCode::NotFound,
        format!(
            "distribution {} does not exist in account {}",
            ctx.distribution_id(),
            ctx.account_id
        ),
    )
}

/// Applies `change` to the distribution's configuration until it holds: read, change, write
/// under the read's ETag. `change` returns `None` when the configuration already is as wanted
/// (nothing is written then); in a plan nothing is ever written. Returns what `change` reported.
pub async fn converge<T>(
    ctx: &Routing<'_>,
    mut change: impl FnMut(&mut DistributionConfig) -> Result<Option<T>, Failure>,
) -> Result<Option<T>, Failure> {
    let id = ctx.distribution_id();
    for attempt in 1..=STALE_ETAG_ATTEMPTS {
        let snapshot = read(ctx).await?;
        let mut config = snapshot.config;
        let Some(changed) = change(&mut config)? else {
            return Ok(None);
        };
        if ctx.planning() {
            return Ok(Some(changed));
        }
        let written = aws_call(ctx.deadline, || {
            ctx.cloudfront
                .update_distribution()
                .id(id.as_str())
                .if_match(&snapshot.etag)
                .distribution_config(config.clone())
                .send()
        })
        .await;
        match written {
            Ok(_) => return Ok(Some(changed)),
            Err(fault) if is_stale_etag(&fault) => {
                tracing::warn!(
                    attempt,
                    "the distribution changed since it was read; reading it again"
                );
            }
            Err(fault) => return Err(cloudfront_failure(&fault, "cloudfront:UpdateDistribution")),
        }
    }
    Err(Failure::new(
        ErrorCode::Unavailable,
        format!(
            "distribution {id} kept changing while Edge Optimize was being applied; the command \
             will be retried"
        ),
    ))
}

/// One cache behavior of a configuration, default or ordered, with the fields routing touches.
pub enum BehaviorMut<'a> {
    Default(&'a mut DefaultCacheBehavior),
    Ordered(&'a mut CacheBehavior),
}

macro_rules! field {
    ($name:ident: $ty:ty) => {
        // The SDK marks the legacy cache settings deprecated; routing still has to handle the
        // behaviors that use them.
        #[allow(deprecated)]
        pub fn $name(&mut self) -> &mut $ty {
            match self {
                Self::Default(b) => &mut b.$name,
                Self::Ordered(b) => &mut b.$name,
            }
        }
    };
}

impl BehaviorMut<'_> {
    field!(target_origin_id: String);
    field!(cache_policy_id: Option<String>);
    field!(forwarded_values: Option<ForwardedValues>);
    field!(min_ttl: Option<i64>);

    /// Both association lists at once.
    pub fn associations(
        &mut self,
    ) -> (
        &mut Option<FunctionAssociations>,
        &mut Option<LambdaFunctionAssociations>,
    ) {
        match self {
            Self::Default(b) => (
                &mut b.function_associations,
                &mut b.lambda_function_associations,
            ),
            Self::Ordered(b) => (
                &mut b.function_associations,
                &mut b.lambda_function_associations,
            ),
        }
    }

    /// The cache policy id, treating CloudFront's empty string as none.
    pub fn policy_id(&mut self) -> Option<String> {
        self.cache_policy_id().clone().filter(|id| !id.is_empty())
    }
}

/// The behavior routing is deployed on.
pub fn behavior<'a>(
    config: &'a mut DistributionConfig,
    wanted: &Behavior,
) -> Result<BehaviorMut<'a>, Failure> {
    let missing = || {
        Failure::new(
            ErrorCode::NotFound,
            format!("{} does not exist on the distribution", wanted.describe()),
        )
    };
    match wanted {
        Behavior::Default => config
            .default_cache_behavior
            .as_mut()
            .map(BehaviorMut::Default)
            .ok_or_else(missing),
        Behavior::Path(pattern) => config
            .cache_behaviors
            .as_mut()
            .and_then(|b| b.items.as_mut())
            .and_then(|items| items.iter_mut().find(|b| &b.path_pattern == pattern))
            .map(BehaviorMut::Ordered)
            .ok_or_else(missing),
    }
}

/// The origin agents' requests fail over to: the one the routed behavior sends its own traffic
/// to. It must be an origin (an origin group cannot be one half of the failover group the
/// routing function makes) and not the Edge Optimize origin itself.
pub fn failover_origin_id(
    config: &mut DistributionConfig,
    wanted: &Behavior,
) -> Result<String, Failure> {
    let place = wanted.describe();
    let target = behavior(config, wanted)?.target_origin_id().clone();
    if target.is_empty() {
        return Err(Failure::new(
            ErrorCode::NotFound,
            format!("{place} has no target origin"),
        ));
    }
    if target == crate::edge::names::ORIGIN_ID {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "{place} sends its traffic to the Edge Optimize origin itself; point it back at \
                 the site's own origin, then send the command again"
            ),
        ));
    }
    let is_group = config
        .origin_groups
        .as_ref()
        .and_then(|g| g.items.as_ref())
        .is_some_and(|groups| groups.iter().any(|g| g.id == target));
    if is_group {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "{place} sends its traffic to the origin group '{target}'; Edge Optimize routing \
                 fails over to a single origin, so it cannot be deployed on this behavior"
            ),
        ));
    }
    Ok(target)
}
