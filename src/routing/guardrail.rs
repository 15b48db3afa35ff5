//! The guardrail: routing changes only a distribution that serves the site, unless the command
//! says `allowDomainMismatch`, which is logged as an override.

use crate::error::{ErrorCode, Failure};
use crate::routing::distribution::Snapshot;
use crate::routing_params::RoutingParams;

/// How the distribution relates to the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serving {
    /// One of the distribution's aliases is this site host.
    Site(String),
    /// It does not serve the site; the command allowed that.
    Overridden,
}

pub fn check(snapshot: &Snapshot, params: &RoutingParams) -> Result<Serving, Failure> {
    let aliases = snapshot.aliases();
    let hosts = params.site_base_url.hosts();
    if let Some(host) = hosts.iter().find(|h| aliases.contains(h)) {
        return Ok(Serving::Site(host.clone()));
    }
    if params.allow_domain_mismatch {
        tracing::warn!(
            distribution_id = %params.distribution_id,
            site = %params.site_base_url,
            "guardrail overridden: the distribution does not serve the site, and the command set allowDomainMismatch"
        );
        return Ok(Serving::Overridden);
    }
    let listed = if aliases.is_empty() {
        "it has no alternate domain names".to_owned()
    } else {
        format!("its alternate domain names are {}", aliases.join(", "))
    };
    Err(Failure::new(
        ErrorCode::Conflict,
        format!(
            "distribution {} does not serve the site {} ({listed}); choose the distribution that \
             serves the site, or send allowDomainMismatch: true to change this one anyway",
            params.distribution_id, params.site_base_url
        ),
    ))
}
