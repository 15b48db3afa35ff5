//! Builds the consumer from config: one shared SDK config, each client built once.

use aws_config::BehaviorVersion;
use aws_sdk_sts::config::Region;

use crate::config::Config;
use crate::connector::{Connector, CONTROL_PLANE_REGION};
use crate::consumer::Consumer;
use crate::queue::CommandQueue;
use crate::records::Table;

/// The SDK config every client shares: region, credentials and `AWS_ENDPOINT_URL` from the
/// environment, as the SDK reads them.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

pub fn consumer(config: Config, sdk: &aws_config::SdkConfig) -> Consumer {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(sdk)
            .region(Region::from_static(CONTROL_PLANE_REGION))
            .build(),
    );
    let logs_template = aws_sdk_cloudwatchlogs::config::Builder::from(sdk);
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
        connector: Connector::new(sts, logs_template, config.connector_role_name.clone()),
        config,
    }
}
