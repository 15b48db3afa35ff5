//! Step `propagation`: CloudFront has deployed the distribution's latest change everywhere.

use crate::error::Failure;
use crate::routing::context::Routing;
use crate::routing::distribution::read;
use crate::routing::step::{Change, Done, Outcome};

/// The status of a distribution whose configuration is live at every edge location.
pub const DEPLOYED: &str = "Deployed";

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let snapshot = read(ctx).await?;
    if snapshot.status == DEPLOYED {
        return Ok(Outcome::Done(
            Done::new(Change::Exists, "CloudFront has deployed the distribution")
                .fact("distributionStatus", DEPLOYED)
                .fact("distributionDomain", snapshot.domain_name),
        ));
    }
    Ok(Outcome::waiting(format!(
        "CloudFront is propagating the change to every edge location (status {})",
        crate::command::printable(&snapshot.status)
    )))
}
