//! The mocked log delivery tests' one distribution: its delivery plan and the names AWS would
//! show for it.

use cdn_onboard::delivery_names::DeliveryPlan;
use cdn_onboard::ids::{AccountId, DistributionId, ImsOrgId};

/// The delivery source of distribution `E2EXAMPLE1ABCD` for the org `ABC123DEF456@AdobeOrg`.
pub const SOURCE: &str = "llmo-cf-abc123def456-E2EXAMPLE1ABCD";
pub const RESOURCE: &str = "arn:aws:cloudfront::111122223333:distribution/E2EXAMPLE1ABCD";
/// The tenant's log destination in the destination account `444455556666`.
pub const DESTINATION: &str =
    "arn:aws:logs:us-east-1:444455556666:delivery-destination:cdn-logs-abc123def456";

pub fn plan() -> DeliveryPlan {
    DeliveryPlan::new(
        &AccountId::parse("111122223333").unwrap(),
        &DistributionId::parse("E2EXAMPLE1ABCD").unwrap(),
        &ImsOrgId::parse("ABC123DEF456@AdobeOrg").unwrap(),
        &AccountId::parse("444455556666").unwrap(),
    )
}
