//! Rescans through the whole consumer on the local stack: the fan-out over the target indexes,
//! the target checks against the demo customer's CloudWatch Logs on moto, the target records
//! and the rescan's counts.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_sqs::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use aws_smithy_runtime_api::box_error::BoxError;
use cdn_onboard::consumer::Consumer;
use serde_json::{json, Value};
use support::bodies::{enable, scheduled, site_rescan};
use support::stack::*;

/// A site of the test's own, with one enabled log delivery; returns (site, distribution,
/// source name).
async fn site_with_delivery(stack: &Stack, consumer: &Consumer) -> (String, String, String) {
    let site = format!("site-{}", unique_suffix());
    let distribution = unique_distribution();
    let command_id = unique_command();
    stack
        .run_to_end(consumer, &enable(stack, &site, &command_id, &distribution))
        .await;
    let record = cdn_onboard::cli::status::command(&consumer.table, &site, &command_id)
        .await
        .unwrap()
        .unwrap_or(Value::Null);
    assert_eq!(record["status"], "succeeded", "{record}");
    let source = record["result"]["deliverySourceName"]
        .as_str()
        .unwrap()
        .to_owned();
    (site, distribution, source)
}

async fn target(stack: &Stack, distribution: &str) -> Value {
    cdn_onboard::cli::status::target(&stack.table(), stack.var("DEMO_ACCOUNT_ID"), distribution)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t["sk"] == "LOG_DELIVERY")
        .expect("a log delivery target")
}

async fn delete_deliveries(stack: &Stack, source: &str) {
    let logs = stack.customer_logs().await;
    for delivery in stack.deliveries_from(source).await {
        logs.delete_delivery()
            .id(delivery.id().unwrap())
            .send()
            .await
            .unwrap();
    }
    assert!(stack.deliveries_from(source).await.is_empty());
}

/// The records of a rescan's target checks, found through the site's command records.
async fn checks_of(stack: &Stack, site: &str) -> Vec<Value> {
    cdn_onboard::cli::status::site(&stack.table(), site)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r["commandId"].as_str().unwrap().starts_with("rescan."))
        .collect()
}

#[tokio::test]
async fn a_delivery_deleted_behind_our_back_is_recreated_and_the_drift_recorded() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (site, distribution, source) = site_with_delivery(&stack, &consumer).await;
    delete_deliveries(&stack, &source).await;

    let rescan = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &rescan, true))
        .await;

    let record = stack.record(&site, &rescan).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "fanned-out");
    assert_eq!(record["result"]["sent"], 1);
    assert_eq!(record["counts"]["checked"], 1, "{record}");
    assert_eq!(record["counts"]["healed"], 1);

    let checks = checks_of(&stack, &site).await;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0]["outcome"], "healed", "{}", checks[0]);
    assert_eq!(checks[0]["result"]["drift"][0]["what"], "delivery-missing");

    let deliveries = stack.deliveries_from(&source).await;
    assert_eq!(deliveries.len(), 1, "re-created");
    let target = target(&stack, &distribution).await;
    assert_eq!(target["checkStatus"], "healed", "{target}");
    assert_eq!(target["lastHeal"]["repaired"][0], "delivery-missing");
    assert_eq!(target["deliveryId"], deliveries[0].id().unwrap());
    assert!(target.get("drift").is_none(), "healthy again");
    assert!(target["lastCheckedAt"].as_str().is_some());
}

#[tokio::test]
async fn heal_false_reports_the_same_drift_and_changes_nothing() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (site, distribution, source) = site_with_delivery(&stack, &consumer).await;
    delete_deliveries(&stack, &source).await;

    let rescan = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &rescan, false))
        .await;

    let checks = checks_of(&stack, &site).await;
    assert_eq!(checks[0]["outcome"], "drifted", "{}", checks[0]);
    assert_eq!(checks[0]["result"]["drift"][0]["what"], "delivery-missing");
    assert!(
        stack.deliveries_from(&source).await.is_empty(),
        "nothing was changed"
    );
    let target = target(&stack, &distribution).await;
    assert_eq!(target["checkStatus"], "drifted");
    assert_eq!(target["drift"][0]["what"], "delivery-missing");
    assert!(target["driftSince"].as_str().is_some());
    let record = stack.record(&site, &rescan).await;
    assert_eq!(record["counts"]["driftedNotHealed"], 1, "{record}");
}

#[tokio::test]
async fn a_target_whose_role_no_longer_admits_the_service_is_not_connected_and_not_retried() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (site, distribution, _) = site_with_delivery(&stack, &consumer).await;
    // The role now trusts another tenant only: what a deleted or replaced role looks like.
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.config().table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "TARGET#{}#{distribution}",
                stack.var("DEMO_ACCOUNT_ID")
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("LOG_DELIVERY".into()),
        )
        .update_expression("SET imsOrgId = :org")
        .expression_attribute_values(
            ":org",
            aws_sdk_dynamodb::types::AttributeValue::S("SOMEONEELSE1@AdobeOrg".into()),
        )
        .send()
        .await
        .unwrap();

    let rescan = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &rescan, true))
        .await;

    let checks = checks_of(&stack, &site).await;
    assert_eq!(checks[0]["status"], "failed", "{}", checks[0]);
    assert_eq!(checks[0]["error"]["code"], "NOT_CONNECTED");
    assert_eq!(checks[0]["error"]["retryable"], false);
    assert_eq!(checks[0]["attempts"], 1, "not retried");
    let target = target(&stack, &distribution).await;
    assert_eq!(target["checkStatus"], "failed");
    assert_eq!(target["drift"][0]["code"], "NOT_CONNECTED");
    let record = stack.record(&site, &rescan).await;
    assert_eq!(record["counts"]["failed"], 1, "{record}");
}

#[tokio::test]
async fn a_distribution_that_was_never_registered_is_never_touched() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = json!({
        "schemaVersion": 1, "commandId": command_id, "type": "rescan",
        "siteId": stack.var("DEMO_SITE_ID"), "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
        "params": {"scope": "target", "distributionId": unique_distribution(), "target": "log-delivery"},
    });
    stack.run_to_end(&consumer, &body.to_string()).await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["outcome"], "not-registered", "{record}");
    assert_eq!(record["awsCalls"], 0, "no call into the customer's account");
}

/// Counts the `SendMessageBatch` requests a consumer makes (once per request, however often the
/// SDK retries it on the wire).
#[derive(Clone, Debug, Default)]
struct BatchSends(Arc<AtomicU32>);

impl BatchSends {
    fn count(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for BatchSends {
    fn name(&self) -> &'static str {
        "BatchSends"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context
            .input()
            .downcast_ref::<SendMessageBatchInput>()
            .is_some()
        {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// A consumer on a table of the test's own whose `SendMessageBatch` requests are counted.
async fn counted_consumer(stack: &Stack, table: &str, calls: &BatchSends) -> Consumer {
    let mut config = stack.config();
    config.table = table.to_owned();
    let mut consumer = stack.consumer_with(config).await;
    consumer.table.name = table.to_owned();
    consumer.queue.client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&stack.sdk)
            .interceptor(calls.clone())
            .build(),
    );
    consumer
}

/// Writes `count` enabled log delivery targets of one site into `table`.
async fn register_targets(stack: &Stack, table: &str, site: &str, count: usize) {
    let distributions: Vec<String> = (0..count).map(|i| format!("E{i:013}")).collect();
    stack
        .put_log_delivery_targets(table, site, &distributions, &[])
        .await;
}

async fn queued(consumer: &Consumer) -> u64 {
    let output = consumer
        .queue
        .client
        .get_queue_attributes()
        .queue_url(&consumer.queue.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    output
        .attributes()
        .unwrap()
        .values()
        .map(|v| v.parse::<u64>().unwrap())
        .sum()
}

#[tokio::test]
async fn a_thousand_targets_fan_out_in_at_most_a_hundred_batched_sends() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    register_targets(&stack, &table, &format!("site-{}", unique_suffix()), 1_000).await;
    let calls = BatchSends::default();
    let consumer = counted_consumer(&stack, &table, &calls).await;

    let rescan = unique_command();
    consumer
        .handle(
            event(vec![sqs_message("m-1", &scheduled(&rescan), 1)]),
            deadline(),
        )
        .await;

    let record = system_record(&consumer, &rescan).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["sent"], 1_000);
    let sends = calls.count();
    assert!(sends <= 100, "{sends} batched sends for 1,000 targets");
    assert_eq!(queued(&consumer).await, 1_000, "one check per target");
}

#[tokio::test]
async fn a_fan_out_short_of_time_continues_from_its_cursor_and_sends_each_target_once() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    register_targets(&stack, &table, &format!("site-{}", unique_suffix()), 300).await;
    let calls = BatchSends::default();
    let mut consumer = counted_consumer(&stack, &table, &calls).await;
    consumer.config.wait_delay_secs = 0;

    let rescan = unique_command();
    // 12 s: the message starts (10 s are kept back), and the fan-out, keeping 8 s of the 7 it
    // is given, reads one page per run.
    let short = std::time::Duration::from_secs(12);
    let mut pending = vec![sqs_message("m-1", &scheduled(&rescan), 1)];
    let mut checks = std::collections::HashSet::new();
    let mut runs = 0;
    while !pending.is_empty() {
        runs += 1;
        assert!(runs < 100, "never finished");
        consumer
            .handle(event(pending), std::time::SystemTime::now() + short)
            .await;
        pending = Vec::new();
        loop {
            let taken = stack.take_messages(&consumer).await;
            if taken.is_empty() {
                break;
            }
            for message in taken {
                let body: Value = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
                if body["params"]["scope"] == "target" {
                    assert!(
                        checks.insert(body["commandId"].as_str().unwrap().to_owned()),
                        "sent twice"
                    );
                } else {
                    pending.push(message);
                }
            }
        }
    }
    // Checks of one account are spread with delays: most are not visible yet, but queued.
    assert_eq!(
        queued(&consumer).await,
        (300 - checks.len()) as u64,
        "every target exactly once"
    );
    assert!(runs > 1, "the fan-out continued itself ({runs} runs)");
    let record = system_record(&consumer, &rescan).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["sent"], 300);
    assert!(record["result"].get("cursor").is_none());
}

#[tokio::test]
async fn two_overlapping_scheduled_rescans_do_not_double_the_work_on_any_target() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    let calls = BatchSends::default();
    let consumer = counted_consumer(&stack, &table, &calls).await;
    let mut sources = Vec::new();
    for _ in 0..3 {
        let (site, _, source) = site_with_delivery(&stack, &consumer).await;
        sources.push((site, source));
    }

    // Both fan-outs before any check runs: what two overlapping schedules do.
    let (first, second) = (unique_command(), unique_command());
    consumer
        .handle(
            event(vec![
                sqs_message("m-1", &scheduled(&first), 1),
                sqs_message("m-2", &scheduled(&second), 1),
            ]),
            deadline(),
        )
        .await;
    let mut pending = stack.take_messages(&consumer).await;
    assert_eq!(pending.len(), 6, "each rescan sent its three checks");
    while !pending.is_empty() {
        consumer.handle(event(pending), deadline()).await;
        pending = stack.take_messages(&consumer).await;
    }

    let mut worked = 0;
    let mut skipped = 0;
    for (site, _) in &sources {
        for check in checks_of_table(&consumer, site).await {
            match check["outcome"].as_str() {
                Some("healthy") => {
                    worked += 1;
                    assert!(check["awsCalls"].as_u64().unwrap() > 0);
                }
                Some("skipped") => {
                    skipped += 1;
                    assert_eq!(check["awsCalls"], 0, "a skipped check calls nothing");
                }
                other => panic!("unexpected outcome {other:?}: {check}"),
            }
        }
    }
    assert_eq!((worked, skipped), (3, 3), "each target was checked once");
}

async fn checks_of_table(consumer: &Consumer, site: &str) -> Vec<Value> {
    consumer
        .table
        .partition_json(&format!("SITE#{site}"), "CMD#rescan.")
        .await
        .unwrap()
}

/// A site-less rescan's record, under `SYSTEM`.
async fn system_record(consumer: &Consumer, command_id: &str) -> Value {
    consumer
        .table
        .command_json(&cdn_onboard::records::CommandKey {
            pk: "SYSTEM".into(),
            sk: format!("CMD#{command_id}"),
        })
        .await
        .unwrap()
        .expect("the rescan's record")
}
