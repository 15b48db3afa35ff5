//! Nothing secret or raw reaches a record or a log line: AWS errors whose text carries ARNs and
//! principals, and sessions whose credentials are sentinels, run through the whole consumer while
//! every log line is captured.

mod support;

use aws_sdk_cloudwatchlogs::operation::{
    describe_deliveries::DescribeDeliveriesOutput,
    describe_delivery_sources::DescribeDeliverySourcesOutput,
};
use aws_sdk_cloudwatchlogs::Client as LogsClient;
use aws_sdk_sts::Client as StsClient;
use aws_smithy_mocks::mock;
use cdn_onboard::connector::Connector;
use support::capture::Captured;
use support::mocks::{granted, json_error, logs_template, sts_client, sts_error, with_logs};
use support::stack::*;

#[tokio::test]
async fn no_credentials_or_raw_aws_text_in_records_or_logs() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber("cdn_onboard=trace,info"));

    let stack = Stack::connect().await;
    let assume = mock!(StsClient::assume_role)
        .match_requests(|r| r.external_id() == Some("ABC123DEF456@AdobeOrg"))
        .then_output(granted);
    let denied =
        mock!(StsClient::assume_role).then_http_response(|| sts_error(403, "AccessDenied"));
    let get = mock!(LogsClient::get_delivery_source)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"));
    let sources = mock!(LogsClient::describe_delivery_sources)
        .then_output(|| DescribeDeliverySourcesOutput::builder().build());
    let put = mock!(LogsClient::put_delivery_source)
        .then_output(|| aws_sdk_cloudwatchlogs::operation::put_delivery_source::PutDeliverySourceOutput::builder().build());
    let list = mock!(LogsClient::describe_deliveries)
        .then_output(|| DescribeDeliveriesOutput::builder().build());
    let create = mock!(LogsClient::create_delivery)
        .sequence()
        .http_response(|| json_error(400, "AccessDeniedException"))
        .http_response(|| json_error(400, "ResourceNotFoundException"))
        .http_response(|| json_error(400, "ValidationException"))
        .http_response(|| json_error(400, "ThrottlingException"))
        .repeatedly()
        .build();
    let mut consumer = stack.consumer().await;
    consumer.connector = Connector::new(
        sts_client(&[&assume, &denied]),
        with_logs(logs_template(&[&get, &sources, &put, &list, &create])),
        consumer.config.connector_role_name.clone(),
    );

    let mut commands = Vec::new();
    for _ in 0..4 {
        let id = unique_command();
        commands.push(id.clone());
        let body = stack.command(&id, "enable-log-delivery", &unique_distribution());
        consumer
            .handle(event(vec![sqs_message(&id, &body, 1)]), deadline())
            .await;
    }
    let denied_id = unique_command();
    let body = stack
        .command(&denied_id, "enable-log-delivery", &unique_distribution())
        .replace("ABC123DEF456@AdobeOrg", "OTHER0RG@AdobeOrg");
    consumer
        .handle(event(vec![sqs_message(&denied_id, &body, 1)]), deadline())
        .await;
    commands.push(denied_id);

    let mut codes = Vec::new();
    for id in &commands {
        let record = stack.record(stack.var("DEMO_SITE_ID"), id).await;
        codes.push(
            record["error"]["code"]
                .as_str()
                .unwrap_or("none")
                .to_owned(),
        );
        let text = record.to_string();
        assert!(!text.contains("SENTINEL"), "a record leaked: {text}");
        assert!(
            !text.contains("assumed-role"),
            "a record carries raw AWS text: {text}"
        );
    }
    assert_eq!(
        codes,
        [
            "PERMISSION_MISSING",
            "NOT_PROVISIONED",
            "INTERNAL",
            "THROTTLED",
            "NOT_CONNECTED"
        ]
    );

    let lines = captured.text();
    assert!(lines.lines().count() > 10, "logs were captured: {lines}");
    assert!(!lines.contains("SENTINEL"), "a log line leaked:\n{lines}");
    assert!(
        !lines.contains("assumed-role"),
        "a log line carries raw AWS text:\n{lines}"
    );
}
