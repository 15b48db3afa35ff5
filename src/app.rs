//! Builds the consumer from config: one shared SDK config, each client built once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_sts::config::Region;

use crate::config::Config;
use crate::connector::{ClientTemplates, Connector, CONTROL_PLANE_REGION};
use crate::consumer::Consumer;
use crate::queue::CommandQueue;
use crate::records::Table;
use crate::routing::api_key::SiteConfigs;
use crate::routing::verify::HttpProber;

/// The SDK config every client shares: region, credentials and `AWS_ENDPOINT_URL` from the
/// environment, as the SDK reads them.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The service's own S3 client (site configurations, the customer templates).
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::new(sdk)
}

/// The client of the site configuration bucket: in the bucket's region when it is set.
fn site_config_client(sdk: &aws_config::SdkConfig, region: Option<&str>) -> aws_sdk_s3::Client {
    match region {
        Some(region) => aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .region(Region::new(region.to_owned()))
                .build(),
        ),
        None => s3_client(sdk),
    }
}

pub fn consumer(config: Config, sdk: &aws_config::SdkConfig) -> Consumer {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::from_static(CONTROL_PLANE_REGION))
            .build(),
    );
    Consumer {
        table: Table {
            client: aws_sdk_dynamodb::Client::new(sdk),
            name: config.table.clone(),
            record_ttl: config.record_ttl,
        },
        queue: CommandQueue {
            client: aws_sdk_sqs::Client::new(sdk),
            url: config.queue_url.clone(),
        },
        connector: Connector::new(
            sts,
            ClientTemplates::from_sdk(sdk),
            config.connector_role_name.clone(),
        ),
        site_configs: SiteConfigs {
            s3: site_config_client(sdk, config.site_config_region.as_deref()),
            bucket: config.site_config_bucket.clone(),
        },
        prober: Arc::new(HttpProber::new()),
        config,
    }
}

/// Compares `CDN_ONBOARD_MAX_RECEIVE_COUNT` with the queue's redrive setting; they must agree, or
/// `RETRIES_EXHAUSTED` would be written on the wrong receive. Returns a description of the
/// mismatch, if there is one.
pub async fn redrive_mismatch(consumer: &Consumer) -> Option<String> {
    let configured = consumer.config.max_receive_count;
    match consumer.queue.redrive_max_receive_count().await {
        Ok(Some(queue)) if queue == configured => None,
        Ok(Some(queue)) => Some(format!(
            "CDN_ONBOARD_MAX_RECEIVE_COUNT is {configured} but the queue's redrive maxReceiveCount is {queue}; set them equal"
        )),
        Ok(None) => Some("the command queue has no dead-letter queue (no redrive policy)".to_owned()),
        Err(error) => Some(format!("could not read the queue's redrive policy: {error}")),
    }
}

/// The deadline used when the runtime reports none (the Lambda runtime emulator sends none, so
/// its context says 1970): the function timeout the template sets by default.
pub const UNREPORTED_DEADLINE: Duration = Duration::from_secs(60);

/// The invocation's deadline as reported by the runtime, unless it is clearly not a deadline at
/// all (more than a day in the past), in which case [`UNREPORTED_DEADLINE`] from `now`.
pub fn invocation_deadline(reported: SystemTime, now: SystemTime) -> SystemTime {
    if reported + Duration::from_secs(86_400) < now {
        tracing::warn!(
            "the runtime reported no deadline; assuming {}s",
            UNREPORTED_DEADLINE.as_secs()
        );
        return now + UNREPORTED_DEADLINE;
    }
    reported
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_deadline_becomes_the_default_timeout() {
        let now = SystemTime::now();
        assert_eq!(
            invocation_deadline(SystemTime::UNIX_EPOCH, now),
            now + UNREPORTED_DEADLINE
        );
        let real = now + Duration::from_secs(30);
        assert_eq!(invocation_deadline(real, now), real);
        let just_passed = now - Duration::from_secs(1);
        assert_eq!(
            invocation_deadline(just_passed, now),
            just_passed,
            "a passed deadline stays passed"
        );
    }
}
