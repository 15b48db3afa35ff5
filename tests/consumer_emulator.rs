//! Whole commands through the batch consumer against the local emulator stack: the records in
//! the table and the log delivery in the demo customer's account.

mod support;

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatchlogs::operation::describe_deliveries::DescribeDeliveriesOutput;
use aws_sdk_cloudwatchlogs::Client as LogsClient;
use aws_smithy_mocks::mock;
use cdn_onboard::command::{parse, Parsed};
use cdn_onboard::delivery_names::DeliveryPlan;
use cdn_onboard::ids::{AccountId, DistributionId, ImsOrgId};
use cdn_onboard::records::CommandKey;
use serde_json::Value;
use support::mocks::{json_error, logs_template};
use support::stack::*;

fn plan_for(stack: &Stack, distribution: &str, destination_account: &str) -> DeliveryPlan {
    DeliveryPlan::new(
        &AccountId::parse(stack.var("DEMO_ACCOUNT_ID")).unwrap(),
        &DistributionId::parse(distribution).unwrap(),
        &ImsOrgId::parse(stack.var("DEMO_IMS_ORG_ID")).unwrap(),
        &AccountId::parse(destination_account).unwrap(),
    )
}

fn plan(stack: &Stack, distribution: &str) -> DeliveryPlan {
    plan_for(
        stack,
        distribution,
        stack.var("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID"),
    )
}

fn site(stack: &Stack) -> String {
    stack.var("DEMO_SITE_ID").to_owned()
}

#[tokio::test]
async fn the_same_message_delivered_three_times_makes_one_delivery_and_one_record() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (distribution, command_id) = (unique_distribution(), unique_command());
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);

    for receive in 1..=2 {
        let response = consumer
            .handle(event(vec![sqs_message("m-1", &body, receive)]), deadline())
            .await;
        assert!(failed_ids(&response).is_empty());
    }
    // A third copy in one batch with a different message id, as SQS may deliver it.
    let response = consumer
        .handle(event(vec![sqs_message("m-1-dup", &body, 1)]), deadline())
        .await;
    assert!(failed_ids(&response).is_empty());

    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["outcome"], "created");
    assert_eq!(
        record["attempts"], 1,
        "duplicates are replayed, not executed"
    );
    assert!(record["awsCalls"].as_u64().unwrap() >= 4, "{record}");
    assert_eq!(
        record["result"]["deliverySourceName"],
        plan(&stack, &distribution).source_name
    );
    let deliveries = stack
        .deliveries_from(&plan(&stack, &distribution).source_name)
        .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(record["result"]["deliveryId"].as_str(), deliveries[0].id());
    assert_eq!(
        deliveries[0].delivery_destination_arn(),
        Some(stack.var("DEMO_DESTINATION_ARN"))
    );

    let site_records = cdn_onboard::cli::status::site(&stack.table(), &site(&stack))
        .await
        .unwrap();
    assert_eq!(
        site_records
            .iter()
            .filter(|r| r["commandId"] == command_id.as_str())
            .count(),
        1
    );
}

#[tokio::test]
async fn enable_writes_a_target_record_that_rescans_can_find() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (distribution, command_id) = (unique_distribution(), unique_command());
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);
    consumer
        .handle(event(vec![sqs_message("m-1", &body, 1)]), deadline())
        .await;

    let targets = cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap();
    assert_eq!(targets.len(), 1);
    let target = &targets[0];
    assert_eq!(target["sk"], "LOG_DELIVERY");
    assert_eq!(target["desiredState"], "enabled");
    assert_eq!(target["lastCommandId"], command_id.as_str());
    assert!(target["gsi1pk"].as_str().unwrap().starts_with("TARGETS#"));
    assert!(target["deliveryId"].is_string());

    let disable_id = unique_command();
    let body = stack.command(&disable_id, "disable-log-delivery", &distribution);
    consumer
        .handle(event(vec![sqs_message("m-2", &body, 1)]), deadline())
        .await;
    let record = stack.record(&site(&stack), &disable_id).await;
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["outcome"], "disabled");
    assert!(stack
        .deliveries_from(&plan(&stack, &distribution).source_name)
        .await
        .is_empty());
    let target = &cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap()[0];
    assert_eq!(target["desiredState"], "disabled");
    assert!(
        target.get("gsi1pk").is_none(),
        "disabled targets leave the rescan index"
    );

    let again = unique_command();
    let body = stack.command(&again, "disable-log-delivery", &distribution);
    consumer
        .handle(event(vec![sqs_message("m-3", &body, 1)]), deadline())
        .await;
    assert_eq!(
        stack.record(&site(&stack), &again).await["outcome"],
        "not-enabled"
    );
}

#[tokio::test]
async fn a_reused_command_id_with_another_payload_is_refused_and_the_first_record_kept() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let first = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    consumer
        .handle(event(vec![sqs_message("m-first", &first, 1)]), deadline())
        .await;
    let before = stack.record(&site(&stack), &command_id).await;

    let second = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    let message_id = format!("m-second-{}", unique_suffix());
    let response = consumer
        .handle(
            event(vec![sqs_message(&message_id, &second, 1)]),
            deadline(),
        )
        .await;

    assert!(
        failed_ids(&response).is_empty(),
        "a refusal is acknowledged"
    );
    assert_eq!(stack.record(&site(&stack), &command_id).await, before);
    let invalid = stack.invalid_record(&message_id).await;
    assert_eq!(invalid["code"], "PAYLOAD_MISMATCH");
    assert_eq!(invalid["commandId"], command_id.as_str());
}

#[tokio::test]
async fn two_commands_for_one_distribution_in_one_batch_run_one_after_the_other() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let distribution = unique_distribution();
    let (a, b) = (unique_command(), unique_command());
    let response = consumer
        .handle(
            event(vec![
                sqs_message(
                    "m-a",
                    &stack.command(&a, "enable-log-delivery", &distribution),
                    1,
                ),
                sqs_message(
                    "m-b",
                    &stack.command(&b, "enable-log-delivery", &distribution),
                    1,
                ),
            ]),
            deadline(),
        )
        .await;

    assert!(failed_ids(&response).is_empty());
    let (ra, rb) = (
        stack.record(&site(&stack), &a).await,
        stack.record(&site(&stack), &b).await,
    );
    assert_eq!(
        (ra["status"].as_str(), rb["status"].as_str()),
        (Some("succeeded"), Some("succeeded"))
    );
    assert_eq!(
        (ra["outcome"].as_str(), rb["outcome"].as_str()),
        (Some("created"), Some("already-enabled"))
    );
    assert!(ra["finishedAt"].as_str() <= rb["updatedAt"].as_str());
    assert_eq!(
        stack
            .deliveries_from(&plan(&stack, &distribution).source_name)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_malformed_body_in_a_batch_is_recorded_and_never_blocks_the_others() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (a, b) = (unique_command(), unique_command());
    let bad_id = format!("m-bad-{}", unique_suffix());
    let response = consumer
        .handle(
            event(vec![
                sqs_message(
                    "m-a",
                    &stack.command(&a, "enable-log-delivery", &unique_distribution()),
                    1,
                ),
                sqs_message(&bad_id, "{\"type\":", 1),
                sqs_message(
                    "m-b",
                    &stack.command(&b, "enable-log-delivery", &unique_distribution()),
                    1,
                ),
            ]),
            deadline(),
        )
        .await;

    assert!(
        failed_ids(&response).is_empty(),
        "the malformed one is not a batch item failure"
    );
    assert_eq!(stack.record(&site(&stack), &a).await["status"], "succeeded");
    assert_eq!(stack.record(&site(&stack), &b).await["status"], "succeeded");
    let invalid = stack.invalid_record(&bad_id).await;
    assert_eq!(invalid["code"], "INVALID_COMMAND");
    assert_eq!(invalid["body"], "{\"type\":");
    assert!(invalid["reason"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
}

#[tokio::test]
async fn a_command_breaking_a_field_rule_gets_a_failed_record_naming_the_field() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = stack
        .command(&command_id, "enable-log-delivery", &unique_distribution())
        .replace(
            &format!("\"{}\"", stack.var("DEMO_ACCOUNT_ID")),
            "111122223333",
        );
    assert!(matches!(parse(&body), Parsed::Refused { .. }));

    let response = consumer
        .handle(event(vec![sqs_message("m-1", &body, 1)]), deadline())
        .await;

    assert!(failed_ids(&response).is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "INVALID_COMMAND");
    assert_eq!(record["error"]["retryable"], false);
    assert!(record["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("accountId"));
}

#[tokio::test]
async fn a_changed_destination_is_repointed_and_the_old_delivery_removed() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let service_account = "123456789012";
    provision_destination_in_service_account(&stack).await;

    let old = stack.consumer_with(stack.config()).await;
    let first = unique_command();
    old.handle(
        event(vec![sqs_message(
            "m-1",
            &stack.command(&first, "enable-log-delivery", &distribution),
            1,
        )]),
        deadline(),
    )
    .await;
    let old_id = stack.record(&site(&stack), &first).await["result"]["deliveryId"].clone();

    let mut moved = stack.config();
    moved.log_destination_account = AccountId::parse(service_account).unwrap();
    let new = stack.consumer_with(moved).await;
    let second = unique_command();
    new.handle(
        event(vec![sqs_message(
            "m-2",
            &stack.command(&second, "enable-log-delivery", &distribution),
            1,
        )]),
        deadline(),
    )
    .await;

    let record = stack.record(&site(&stack), &second).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "repointed");
    assert_eq!(
        record["result"]["removedDeliveryIds"],
        Value::Array(vec![old_id])
    );
    let deliveries = stack
        .deliveries_from(&plan(&stack, &distribution).source_name)
        .await;
    assert_eq!(deliveries.len(), 1, "the old delivery is gone");
    assert_eq!(
        deliveries[0].delivery_destination_arn(),
        Some(
            plan_for(&stack, &distribution, service_account)
                .destination_arn
                .as_str()
        )
    );
}

/// A second tenant destination (same name, another account) for the repoint test: made in the
/// service's own account, whose credentials the tests hold, with a policy admitting the customer.
async fn provision_destination_in_service_account(stack: &Stack) {
    let logs = LogsClient::new(&stack.sdk);
    let name = format!(
        "cdn-logs-{}",
        ImsOrgId::parse(stack.var("DEMO_IMS_ORG_ID"))
            .unwrap()
            .safe_name()
    );
    let destination = logs
        .put_delivery_destination()
        .name(&name)
        .delivery_destination_configuration(
            aws_sdk_cloudwatchlogs::types::DeliveryDestinationConfiguration::builder()
                .destination_resource_arn("arn:aws:s3:::cdn-onboard-test-repoint-bucket")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("put a delivery destination in the service account");
    let arn = destination
        .delivery_destination()
        .and_then(|d| d.arn())
        .expect("destination arn")
        .to_owned();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": stack.var("DEMO_ACCOUNT_ID")},
            "Action": "logs:CreateDelivery",
            "Resource": arn,
        }]
    });
    logs.put_delivery_destination_policy()
        .delivery_destination_name(&name)
        .delivery_destination_policy(policy.to_string())
        .send()
        .await
        .expect("put the destination policy");
}

#[tokio::test]
async fn a_source_someone_else_created_is_a_conflict_and_nothing_changes() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let distribution = unique_distribution();
    let plan = plan(&stack, &distribution);
    let customer = stack.customer_logs().await;
    let foreign = format!("customer-own-{}", distribution.to_lowercase());
    customer
        .put_delivery_source()
        .name(&foreign)
        .resource_arn(&plan.resource_arn)
        .log_type("ACCESS_LOGS")
        .send()
        .await
        .expect("the customer's own delivery source");

    let command_id = unique_command();
    let response = consumer
        .handle(
            event(vec![sqs_message(
                "m-1",
                &stack.command(&command_id, "enable-log-delivery", &distribution),
                1,
            )]),
            deadline(),
        )
        .await;

    assert!(failed_ids(&response).is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "CONFLICT");
    assert!(record["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&foreign));
    let ours = customer
        .get_delivery_source()
        .name(&plan.source_name)
        .send()
        .await;
    assert!(ours.is_err(), "no source of ours was created");
    assert!(stack.deliveries_from(&plan.source_name).await.is_empty());
}

#[tokio::test]
async fn a_missing_tenant_destination_is_not_provisioned() {
    let stack = Stack::connect().await;
    let mut config = stack.config();
    config.log_destination_account = AccountId::parse("999988887777").unwrap();
    let consumer = stack.consumer_with(config).await;
    let command_id = unique_command();

    consumer
        .handle(
            event(vec![sqs_message(
                "m-1",
                &stack.command(&command_id, "enable-log-delivery", &unique_distribution()),
                1,
            )]),
            deadline(),
        )
        .await;

    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "NOT_PROVISIONED");
}

#[tokio::test]
async fn a_wrong_external_id_is_not_connected() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = stack
        .command(&command_id, "enable-log-delivery", &unique_distribution())
        .replace(stack.var("DEMO_IMS_ORG_ID"), "WRONG0RG0000@AdobeOrg");

    let response = consumer
        .handle(event(vec![sqs_message("m-1", &body, 1)]), deadline())
        .await;

    assert!(failed_ids(&response).is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "NOT_CONNECTED");
    assert_eq!(record["awsCalls"], 1, "only the denied AssumeRole");
}

/// Mocked customer Logs: no source yet, none foreign, then CreateDelivery throttled `times`
/// times (forever when `None`).
fn throttled_logs(create_throttles: Option<usize>) -> Vec<aws_smithy_mocks::Rule> {
    let get = mock!(LogsClient::get_delivery_source)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"));
    let sources = mock!(LogsClient::describe_delivery_sources)
        .then_output(|| aws_sdk_cloudwatchlogs::operation::describe_delivery_sources::DescribeDeliverySourcesOutput::builder().build());
    let put = mock!(LogsClient::put_delivery_source)
        .then_output(|| aws_sdk_cloudwatchlogs::operation::put_delivery_source::PutDeliverySourceOutput::builder().build());
    let list = mock!(LogsClient::describe_deliveries)
        .then_output(|| DescribeDeliveriesOutput::builder().build());
    let create = match create_throttles {
        Some(times) => mock!(LogsClient::create_delivery)
            .sequence()
            .http_response(|| json_error(400, "ThrottlingException"))
            .times(times)
            .output(|| {
                aws_sdk_cloudwatchlogs::operation::create_delivery::CreateDeliveryOutput::builder()
                    .build()
            })
            .build(),
        None => mock!(LogsClient::create_delivery)
            .sequence()
            .http_response(|| json_error(400, "ThrottlingException"))
            .repeatedly()
            .build(),
    };
    vec![get, sources, put, list, create]
}

fn template(rules: &[aws_smithy_mocks::Rule]) -> aws_sdk_cloudwatchlogs::config::Builder {
    logs_template(&rules.iter().collect::<Vec<_>>())
}

#[tokio::test]
async fn throttling_is_retried_then_exhausted_on_the_last_receive() {
    let stack = Stack::connect().await;

    // Throttled past the in-call retries on an early receive: retried through the queue.
    let consumer = stack
        .consumer_with_logs(template(&throttled_logs(None)))
        .await;
    let command_id = unique_command();
    let distribution = unique_distribution();
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);
    let response = consumer
        .handle(event(vec![sqs_message("m-1", &body, 1)]), deadline())
        .await;
    assert_eq!(failed_ids(&response), vec!["m-1"]);
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "running");
    assert_eq!(record["error"]["code"], "THROTTLED");
    assert_eq!(record["error"]["retryable"], true);

    // Still throttled on the last allowed receive: RETRIES_EXHAUSTED, reported for the DLQ.
    let last = consumer.config.max_receive_count;
    let response = consumer
        .handle(event(vec![sqs_message("m-1", &body, last)]), deadline())
        .await;
    assert_eq!(
        failed_ids(&response),
        vec!["m-1"],
        "reported so SQS moves it to the dead-letter queue"
    );
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "RETRIES_EXHAUSTED");
    assert!(record["error"]["message"]
        .as_str()
        .unwrap()
        .contains("THROTTLED"));
    assert_eq!(record["attempts"], 2);

    // Throttling that clears within the in-call retries ends well.
    let consumer = stack
        .consumer_with_logs(template(&throttled_logs(Some(2))))
        .await;
    let command_id = unique_command();
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);
    let response = consumer
        .handle(event(vec![sqs_message("m-2", &body, 1)]), deadline())
        .await;
    assert!(failed_ids(&response).is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "succeeded");
    assert_eq!(
        record["awsCalls"].as_u64(),
        Some(1 + 4 + 3),
        "AssumeRole; Get, DescribeSources, Put, Describe; 3 x Create"
    );
}

#[tokio::test]
async fn a_claim_whose_holder_missed_its_deadline_is_taken_over() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let table = stack.table();
    let (command_id, distribution) = (unique_command(), unique_distribution());
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);
    let Parsed::Valid(command) = parse(&body) else {
        panic!("valid command")
    };

    // An earlier invocation accepted and claimed the command, took the lease, then died.
    let past = SystemTime::now() - Duration::from_secs(1);
    table.accept(&command, SystemTime::now()).await.unwrap();
    let record = table
        .command(&CommandKey::of(&command.identity()))
        .await
        .unwrap()
        .unwrap();
    table
        .claim(&record, "dead-invocation", past, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    assert!(table
        .acquire_lease(
            &command.tenant().account_id,
            command.action.distribution_id().unwrap(),
            "dead-invocation",
            past,
            SystemTime::now()
        )
        .await
        .unwrap());

    let response = consumer
        .handle(event(vec![sqs_message("m-1", &body, 2)]), deadline())
        .await;

    assert!(failed_ids(&response).is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["attempts"], 2);
}

#[tokio::test]
async fn a_busy_distribution_sends_the_message_back_without_burning_its_receive_count() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let table = stack.table();
    let (command_id, distribution) = (unique_command(), unique_distribution());
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);
    let Parsed::Valid(command) = parse(&body) else {
        panic!("valid command")
    };
    let live = SystemTime::now() + Duration::from_secs(60);
    assert!(table
        .acquire_lease(
            &command.tenant().account_id,
            command.action.distribution_id().unwrap(),
            "live-invocation",
            live,
            SystemTime::now()
        )
        .await
        .unwrap());

    let response = consumer
        .handle(event(vec![sqs_message("m-1", &body, 1)]), deadline())
        .await;

    assert!(
        failed_ids(&response).is_empty(),
        "acknowledged: a copy comes back later"
    );
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "accepted");
    assert_eq!(record["attempts"], 0);
    let attributes = consumer
        .queue
        .client
        .get_queue_attributes()
        .queue_url(&consumer.queue.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let delayed = attributes
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(
        delayed.as_deref(),
        Some("1"),
        "one delayed copy waits on the queue"
    );
}

#[tokio::test]
async fn another_sites_distribution_is_a_conflict_and_left_alone() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let distribution = unique_distribution();
    let owner = unique_command();
    consumer
        .handle(
            event(vec![sqs_message(
                "m-1",
                &stack.command(&owner, "enable-log-delivery", &distribution),
                1,
            )]),
            deadline(),
        )
        .await;
    assert_eq!(
        stack.record(&site(&stack), &owner).await["status"],
        "succeeded"
    );

    for command_type in ["enable-log-delivery", "disable-log-delivery"] {
        let intruder = unique_command();
        let body = stack
            .command(&intruder, command_type, &distribution)
            .replace(
                &format!("\"siteId\":\"{}\"", site(&stack)),
                "\"siteId\":\"site-other\"",
            );
        consumer
            .handle(event(vec![sqs_message("m-2", &body, 1)]), deadline())
            .await;

        let record = stack.record("site-other", &intruder).await;
        assert_eq!(
            record["error"]["code"], "CONFLICT",
            "{command_type}: {record}"
        );
        assert!(record["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&site(&stack)));
    }
    assert_eq!(
        stack
            .deliveries_from(&plan(&stack, &distribution).source_name)
            .await
            .len(),
        1
    );
    let target = &cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap()[0];
    assert_eq!(target["siteId"], site(&stack).as_str());
}
