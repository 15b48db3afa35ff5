//! The names and the fixed configuration of a log delivery: pure functions of the tenant, the
//! customer account and the distribution, so enable, disable and rescans always agree.

use sha2::{Digest, Sha256};

use crate::connector::CONTROL_PLANE_REGION;
use crate::ids::{AccountId, DistributionId, ImsOrgId};

/// The log type CloudFront vends for standard access logs.
pub const LOG_TYPE: &str = "ACCESS_LOGS";
/// The prefix of every delivery source this service creates (the `cloudfront` provider).
pub const SOURCE_PREFIX: &str = "llmo-cf";
/// The prefix of every tenant's delivery destination name.
pub const DESTINATION_PREFIX: &str = "cdn-logs-";
/// Delivery source names longer than this get a hashed tail.
pub const MAX_SOURCE_NAME_CHARS: usize = 60;
/// Hex characters of the SHA-256 kept in a shortened source name.
const SOURCE_HASH_CHARS: usize = 12;
/// The hourly S3 layout of the delivered files.
pub const SUFFIX_PATH: &str = "/{yyyy}/{MM}/{dd}/{HH}";
/// The record fields every delivery carries, in this order.
pub const RECORD_FIELDS: [&str; 12] = [
    "date",
    "time",
    "x-edge-location",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "time-to-first-byte",
    "sc-content-type",
    "x-host-header",
];

/// What one distribution's log delivery should look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPlan {
    pub source_name: String,
    /// The distribution's ARN: partition `aws`, no region (CloudFront is global).
    pub resource_arn: String,
    pub destination_arn: String,
    /// The account that holds the tenants' destinations.
    pub destination_account: AccountId,
    /// The customer's account, where the source and deliveries live.
    pub customer_account: AccountId,
}

impl DeliveryPlan {
    pub fn new(
        account_id: &AccountId,
        distribution_id: &DistributionId,
        ims_org_id: &ImsOrgId,
        destination_account: &AccountId,
    ) -> Self {
        let safe_org = ims_org_id.safe_name();
        Self {
            source_name: source_name(&safe_org, distribution_id),
            resource_arn: format!("arn:aws:cloudfront::{account_id}:distribution/{distribution_id}"),
            destination_arn: format!(
                "arn:aws:logs:{CONTROL_PLANE_REGION}:{destination_account}:delivery-destination:{DESTINATION_PREFIX}{safe_org}"
            ),
            destination_account: destination_account.clone(),
            customer_account: account_id.clone(),
        }
    }

    /// Whether a delivery destination is one of the tenants' destinations this service delivers
    /// to (named `cdn-logs-*`, outside the customer's own account; possibly in an account the
    /// service used before), so a delivery to it from our source is one we created.
    pub fn is_service_destination(&self, destination_arn: &str) -> bool {
        let Some((prefix, name)) = destination_arn.rsplit_once(":delivery-destination:") else {
            return false;
        };
        let account = prefix.rsplit(':').next().unwrap_or_default();
        name.starts_with(DESTINATION_PREFIX) && account != self.customer_account.as_str()
    }
}

/// `llmo-cf-<safeOrg>-<distributionId>`, or, past 60 characters, its first 47 characters, a
/// dash and the first 12 hex characters of the SHA-256 of the full name: exactly 60, and the same
/// on every run, which idempotency depends on.
pub fn source_name(safe_org: &str, distribution_id: &DistributionId) -> String {
    let full = format!("{SOURCE_PREFIX}-{safe_org}-{distribution_id}");
    if full.len() <= MAX_SOURCE_NAME_CHARS {
        return full;
    }
    let digest = hex::encode(Sha256::digest(full.as_bytes()));
    let keep = MAX_SOURCE_NAME_CHARS - SOURCE_HASH_CHARS - 1;
    format!("{}-{}", &full[..keep], &digest[..SOURCE_HASH_CHARS])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(org: &str) -> DeliveryPlan {
        DeliveryPlan::new(
            &AccountId::parse("111122223333").unwrap(),
            &DistributionId::parse("E2EXAMPLE1ABCD").unwrap(),
            &ImsOrgId::parse(org).unwrap(),
            &AccountId::parse("444455556666").unwrap(),
        )
    }

    #[test]
    fn names_follow_the_reference() {
        let plan = plan("ABC123DEF456@AdobeOrg");
        assert_eq!(plan.source_name, "llmo-cf-abc123def456-E2EXAMPLE1ABCD");
        assert_eq!(
            plan.resource_arn,
            "arn:aws:cloudfront::111122223333:distribution/E2EXAMPLE1ABCD"
        );
        assert_eq!(
            plan.destination_arn,
            "arn:aws:logs:us-east-1:444455556666:delivery-destination:cdn-logs-abc123def456"
        );
    }

    #[test]
    fn long_source_names_are_capped_with_a_stable_hash() {
        let org = "0123456789ABCDEF01234567@AdobeOrg";
        let name = plan(org).source_name;
        let full = "llmo-cf-0123456789abcdef01234567-E2EXAMPLE1ABCD";
        assert_eq!(full.len(), 47);
        assert_eq!(name, full, "names up to 60 characters stay as they are");

        let long_org = "0123456789ABCDEF0123456789ABCDEF01234567@AdobeOrg";
        let capped = plan(long_org).source_name;
        let full = "llmo-cf-0123456789abcdef0123456789abcdef01234567-E2EXAMPLE1ABCD";
        assert_eq!(full.len(), 63);
        let digest = hex::encode(Sha256::digest(full.as_bytes()));
        assert_eq!(capped.len(), 60);
        assert_eq!(capped, format!("{}-{}", &full[..47], &digest[..12]));
        assert_eq!(capped, plan(long_org).source_name);
    }

    #[test]
    fn recognises_only_tenant_destinations_as_ours() {
        let plan = plan("ABC123DEF456@AdobeOrg");
        assert!(plan.is_service_destination(&plan.destination_arn));
        assert!(plan.is_service_destination(
            "arn:aws:logs:us-east-1:999999999999:delivery-destination:cdn-logs-old"
        ));
        assert!(!plan.is_service_destination(
            "arn:aws:logs:us-east-1:111122223333:delivery-destination:customer-own"
        ));
        assert!(
            !plan.is_service_destination(
                "arn:aws:logs:us-east-1:111122223333:delivery-destination:cdn-logs-mine"
            ),
            "a cdn-logs-* destination in the customer's own account is theirs"
        );
    }
}
