//! The Lambda function: wires config, clients and the batch consumer to the Lambda runtime.

use std::sync::Arc;
use std::time::SystemTime;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use cdn_onboard::{app, config::Config, telemetry};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = Config::from_env()?;
    let sdk = app::sdk_config().await;
    let consumer = Arc::new(app::consumer(config, &sdk));
    if let Some(mismatch) = app::redrive_mismatch(&consumer).await {
        tracing::error!(reason = %mismatch, "queue settings disagree with the configuration");
    }

    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let consumer = Arc::clone(&consumer);
        async move {
            let deadline = app::invocation_deadline(event.context.deadline(), SystemTime::now());
            Ok::<SqsBatchResponse, Error>(consumer.handle(event.payload, deadline).await)
        }
    }))
    .await
}
