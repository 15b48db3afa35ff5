//! One typed struct from the environment, loaded once at start. A missing or malformed variable
//! fails fast and names itself.

use std::time::Duration;

use crate::ids::AccountId;

/// The connector role's name in customer accounts when `EDGE_OPTIMIZE_ROLE_NAME` is unset.
pub const DEFAULT_ROLE_NAME: &str = "AdobeLLMOptimizerCloudFrontConnectorRole";
/// Must equal the command queue's redrive `maxReceiveCount` (see `infra/cdn-onboard.yaml`).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
/// How many targets one batch works on at once.
pub const DEFAULT_TARGET_CONCURRENCY: usize = 5;
/// Command records live this long after their last write.
pub const DEFAULT_RECORD_TTL_DAYS: u64 = 30;
/// How long a message for a busy distribution waits before it comes back.
pub const DEFAULT_BUSY_DELAY_SECS: u32 = 15;
/// The Edge Optimize origin's domain when `EDGE_OPTIMIZE_EDGE_DOMAIN` is unset.
pub const DEFAULT_EDGE_DOMAIN: &str = "live.edgeoptimize.net";
/// How long one deploy step may keep waiting on AWS (IAM, Lambda, a CloudFront deployment, the
/// edge answering) before it fails `TIMED_OUT`. CloudFront deployments usually take minutes.
pub const DEFAULT_WAIT_TIMEOUT_SECS: u64 = 3600;
/// The first pause before a waiting step is checked again; each later one is twice as long.
pub const DEFAULT_WAIT_DELAY_SECS: u32 = 10;
/// A target checked by a rescan less than this long ago is not checked again by another one:
/// two overlapping scheduled rescans never double the work on a target.
pub const DEFAULT_RESCAN_MIN_INTERVAL_SECS: u64 = 1800;

#[derive(Clone, Debug)]
pub struct Config {
    /// `CDN_ONBOARD_TABLE`: the table of the contract's section 2.
    pub table: String,
    /// `CDN_ONBOARD_QUEUE_URL`: the command queue; busy messages are sent back to it.
    pub queue_url: String,
    /// `CDN_LOG_DELIVERY_DEST_ACCOUNT_ID`: the account holding the tenants' log destinations.
    pub log_destination_account: AccountId,
    /// `EDGE_OPTIMIZE_ROLE_NAME`: the connector role's name in customer accounts.
    pub connector_role_name: String,
    /// `CDN_ONBOARD_MAX_RECEIVE_COUNT`: the receive on which a retryable failure becomes
    /// `RETRIES_EXHAUSTED`; equal to the queue's redrive setting.
    pub max_receive_count: u32,
    /// `CDN_ONBOARD_TARGET_CONCURRENCY`: distributions worked on at once within one batch.
    pub target_concurrency: usize,
    /// `CDN_ONBOARD_RECORD_TTL_DAYS`: how long records are kept after their last write.
    pub record_ttl: Duration,
    /// `CDN_ONBOARD_BUSY_DELAY_SECS`: how long a message for a busy distribution waits.
    pub busy_delay_secs: u32,
    /// `EDGE_OPTIMIZE_EDGE_DOMAIN`: the Edge Optimize origin's domain.
    pub edge_domain: String,
    /// `TOKOWAKA_SITE_CONFIG_BUCKET`: the bucket of site configurations (their API keys).
    pub site_config_bucket: String,
    /// `TOKOWAKA_SITE_CONFIG_BUCKET_REGION`: that bucket's region, when it is not the
    /// function's own (S3 answers a request to the wrong region with a redirect the SDK does
    /// not follow).
    pub site_config_region: Option<String>,
    /// `CDN_ONBOARD_WAIT_TIMEOUT_SECS`: how long one deploy step may keep waiting.
    pub wait_timeout: Duration,
    /// `CDN_ONBOARD_WAIT_DELAY_SECS`: the first pause before a waiting step is checked again.
    pub wait_delay_secs: u32,
    /// `CDN_LOG_RESCAN_MAX_DISTRIBUTIONS`: at most this many targets per rescan; unset or 0 for
    /// no cap.
    pub rescan_max_targets: Option<u64>,
    /// `CDN_ONBOARD_RESCAN_MIN_INTERVAL_SECS`: how soon a target may be checked again.
    pub rescan_min_interval: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is malformed: {rule}")]
    Malformed { name: &'static str, rule: String },
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup` so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let log_destination_account =
            AccountId::parse(&required("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID")?).map_err(|rule| {
                ConfigError::Malformed {
                    name: "CDN_LOG_DELIVERY_DEST_ACCOUNT_ID",
                    rule,
                }
            })?;
        let max_receive_count = number(
            &get,
            "CDN_ONBOARD_MAX_RECEIVE_COUNT",
            DEFAULT_MAX_RECEIVE_COUNT as u64,
            1..=1000,
        )? as u32;
        let target_concurrency = number(
            &get,
            "CDN_ONBOARD_TARGET_CONCURRENCY",
            DEFAULT_TARGET_CONCURRENCY as u64,
            1..=64,
        )? as usize;
        let ttl_days = number(
            &get,
            "CDN_ONBOARD_RECORD_TTL_DAYS",
            DEFAULT_RECORD_TTL_DAYS,
            1..=3650,
        )?;
        let busy_delay_secs = number(
            &get,
            "CDN_ONBOARD_BUSY_DELAY_SECS",
            DEFAULT_BUSY_DELAY_SECS as u64,
            0..=900,
        )? as u32;
        let connector_role_name =
            get("EDGE_OPTIMIZE_ROLE_NAME").unwrap_or_else(|| DEFAULT_ROLE_NAME.to_owned());
        if !is_role_name(&connector_role_name) {
            return Err(ConfigError::Malformed {
                name: "EDGE_OPTIMIZE_ROLE_NAME",
                rule: "must be an IAM role name: 1-64 characters of [A-Za-z0-9+=,.@_-]".to_owned(),
            });
        }

        // Lowercased: the Lambda@Edge handler compares it exactly with the origin's domain.
        let edge_domain = get("EDGE_OPTIMIZE_EDGE_DOMAIN")
            .unwrap_or_else(|| DEFAULT_EDGE_DOMAIN.to_owned())
            .to_ascii_lowercase();
        if !crate::site::is_domain_name(&edge_domain) {
            return Err(ConfigError::Malformed {
                name: "EDGE_OPTIMIZE_EDGE_DOMAIN",
                rule: "must be a domain name such as live.edgeoptimize.net".to_owned(),
            });
        }
        let wait_timeout_secs = number(
            &get,
            "CDN_ONBOARD_WAIT_TIMEOUT_SECS",
            DEFAULT_WAIT_TIMEOUT_SECS,
            1..=86_400,
        )?;

        let wait_delay_secs = number(
            &get,
            "CDN_ONBOARD_WAIT_DELAY_SECS",
            DEFAULT_WAIT_DELAY_SECS as u64,
            0..=300,
        )? as u32;

        let rescan_max_targets =
            number(&get, "CDN_LOG_RESCAN_MAX_DISTRIBUTIONS", 0, 0..=10_000_000)?;
        let rescan_min_interval_secs = number(
            &get,
            "CDN_ONBOARD_RESCAN_MIN_INTERVAL_SECS",
            DEFAULT_RESCAN_MIN_INTERVAL_SECS,
            0..=604_800,
        )?;

        let site_config_region = get("TOKOWAKA_SITE_CONFIG_BUCKET_REGION")
            .map(|region| region.trim().to_owned())
            .filter(|region| !region.is_empty());
        if let Some(region) = &site_config_region {
            if !is_region(region) {
                return Err(ConfigError::Malformed {
                    name: "TOKOWAKA_SITE_CONFIG_BUCKET_REGION",
                    rule: "must be an AWS region such as us-east-1".to_owned(),
                });
            }
        }

        Ok(Self {
            table: required("CDN_ONBOARD_TABLE")?,
            queue_url: required("CDN_ONBOARD_QUEUE_URL")?,
            log_destination_account,
            connector_role_name,
            max_receive_count,
            target_concurrency,
            record_ttl: Duration::from_secs(ttl_days * 24 * 3600),
            busy_delay_secs,
            edge_domain,
            site_config_bucket: required("TOKOWAKA_SITE_CONFIG_BUCKET")?,
            site_config_region,
            wait_timeout: Duration::from_secs(wait_timeout_secs),
            wait_delay_secs,
            rescan_max_targets: (rescan_max_targets > 0).then_some(rescan_max_targets),
            rescan_min_interval: Duration::from_secs(rescan_min_interval_secs),
        })
    }
}

fn number(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError::Malformed {
            name,
            rule: format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        })
}

/// An AWS region's shape: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const BASE: [(&str, &str); 4] = [
        ("CDN_ONBOARD_TABLE", "cdn-onboard"),
        ("CDN_ONBOARD_QUEUE_URL", "http://localhost/q"),
        ("TOKOWAKA_SITE_CONFIG_BUCKET", "site-configs"),
        ("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID", "444455556666"),
    ];

    #[test]
    fn defaults_follow_the_reference() {
        let config = config(&BASE).unwrap();
        assert_eq!(config.connector_role_name, DEFAULT_ROLE_NAME);
        assert_eq!(config.max_receive_count, 5);
        assert_eq!(config.record_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(config.edge_domain, "live.edgeoptimize.net");
        assert_eq!(config.wait_timeout, Duration::from_secs(3600));
    }

    #[test]
    fn missing_and_malformed_variables_name_themselves() {
        assert_eq!(
            config(&BASE[..3]).unwrap_err(),
            ConfigError::Missing("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID")
        );
        let mut vars = BASE.to_vec();
        vars.push(("EDGE_OPTIMIZE_EDGE_DOMAIN", "https://live.edgeoptimize.net"));
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .starts_with("EDGE_OPTIMIZE_EDGE_DOMAIN is malformed"));
        let mut vars = BASE.to_vec();
        vars.push(("CDN_ONBOARD_MAX_RECEIVE_COUNT", "five"));
        let error = config(&vars).unwrap_err().to_string();
        assert!(
            error.starts_with("CDN_ONBOARD_MAX_RECEIVE_COUNT is malformed"),
            "{error}"
        );
        let mut vars = BASE.to_vec();
        vars[3].1 = "4444-5555-6666";
        assert!(config(&vars)
            .unwrap_err()
            .to_string()
            .contains("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID"));
    }

    #[test]
    fn the_site_config_region_is_optional_and_checked() {
        assert_eq!(config(&BASE).unwrap().site_config_region, None);
        let mut vars = BASE.to_vec();
        vars.push(("TOKOWAKA_SITE_CONFIG_BUCKET_REGION", "eu-central-1"));
        assert_eq!(
            config(&vars).unwrap().site_config_region.as_deref(),
            Some("eu-central-1")
        );
        for good in ["us-gov-west-1", "ap-southeast-4"] {
            vars.last_mut().unwrap().1 = good;
            assert!(config(&vars).is_ok(), "{good}");
        }
        vars.last_mut().unwrap().1 = "";
        assert_eq!(
            config(&vars).unwrap().site_config_region,
            None,
            "empty is unset"
        );
        for bad in [
            "Frankfurt",
            "eu-central",
            "eu--1",
            "https://s3.eu-central-1.amazonaws.com",
        ] {
            vars.last_mut().unwrap().1 = bad;
            assert!(
                config(&vars)
                    .unwrap_err()
                    .to_string()
                    .starts_with("TOKOWAKA_SITE_CONFIG_BUCKET_REGION is malformed"),
                "{bad}"
            );
        }
    }
}
