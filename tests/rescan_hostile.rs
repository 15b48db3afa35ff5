//! Rescans under hostile and unlucky input, from an adversarial review: each finding the review
//! made is a test of the fix (`finding_*`), and each defence that held stays tested (`holds_*`).

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use cdn_onboard::consumer::Consumer;
use cdn_onboard::records::CommandKey;
use serde_json::{json, Value};
use support::bodies::{disable, enable, scheduled, scheduled_report_only, site_rescan};
use support::customer::Customer;
use support::routing::CannedProber;
use support::stack::*;

// --- helpers ---------------------------------------------------------------------------------

fn target_check(
    stack: &Stack,
    site: &str,
    command_id: &str,
    distribution: &str,
    kind: &str,
    extra: Value,
) -> String {
    let mut params = json!({"scope": "target", "distributionId": distribution, "target": kind});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    json!({
        "schemaVersion": 1, "commandId": command_id, "type": "rescan",
        "siteId": site, "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
        "params": params,
    })
    .to_string()
}

/// A consumer on a table of the test's own.
async fn consumer_on(stack: &Stack, table: &str) -> Consumer {
    let mut config = stack.config();
    config.table = table.to_owned();
    let mut consumer = stack.consumer_with(config).await;
    consumer.table.name = table.to_owned();
    consumer
}

fn dynamodb(stack: &Stack) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&stack.sdk)
}

/// Writes `count` enabled log delivery targets of one site into `table`, each with `extra`
/// attributes; returns their distribution ids in creation order.
async fn register_targets(
    stack: &Stack,
    table: &str,
    site: &str,
    count: usize,
    extra: &[(&str, AttributeValue)],
) -> Vec<String> {
    let prefix = unique_distribution()[..5].to_owned();
    let distributions: Vec<String> = (0..count).map(|i| format!("{prefix}{i:09}")).collect();
    stack
        .put_log_delivery_targets(table, site, &distributions, extra)
        .await;
    distributions
}

/// Runs a healing check of `site`'s log delivery on `distribution` of its own; its record.
async fn healing_check(
    stack: &Stack,
    consumer: &Consumer,
    site: &str,
    distribution: &str,
) -> Value {
    let check = unique_command();
    let body = target_check(
        stack,
        site,
        &check,
        distribution,
        "log-delivery",
        json!({"heal": true}),
    );
    stack.run_to_end(consumer, &body).await;
    record_in(consumer, site, &check).await
}

/// Runs the healing site rescan `rescan` of `site`, whose one target makes one check; that
/// check's body and command id, taken off the queue.
async fn only_check(
    stack: &Stack,
    consumer: &Consumer,
    site: &str,
    rescan: &str,
) -> (String, String) {
    let body = site_rescan(stack, site, rescan, true);
    assert!(!handle_one(consumer, &body, "m-r", 1).await);
    let children = drain(stack, consumer).await;
    assert_eq!(children.len(), 1, "{children:?}");
    let id = children[0]["commandId"].as_str().unwrap().to_owned();
    (children[0].to_string(), id)
}

/// A new site with log delivery enabled on a new distribution, through `consumer`.
async fn enabled(stack: &Stack, consumer: &Consumer) -> (String, String) {
    let site = format!("site-{}", unique_suffix());
    let distribution = unique_distribution();
    stack
        .run_to_end(
            consumer,
            &enable(stack, &site, &unique_command(), &distribution),
        )
        .await;
    (site, distribution)
}

/// As [`enabled`], on a table of the test's own, where that is the only target.
async fn enabled_alone(stack: &Stack) -> (Consumer, String, String) {
    let table = stack.fresh_table().await;
    let consumer = consumer_on(stack, &table).await;
    let (site, distribution) = enabled(stack, &consumer).await;
    (consumer, site, distribution)
}

async fn system_record(consumer: &Consumer, command_id: &str) -> Value {
    consumer
        .table
        .command_json(&CommandKey {
            pk: "SYSTEM".into(),
            sk: format!("CMD#{command_id}"),
        })
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

async fn record_in(consumer: &Consumer, site: &str, command_id: &str) -> Value {
    consumer
        .table
        .command_json(&CommandKey {
            pk: format!("SITE#{site}"),
            sk: format!("CMD#{command_id}"),
        })
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

async fn target_in(consumer: &Consumer, stack: &Stack, distribution: &str, kind: &str) -> Value {
    cdn_onboard::cli::status::target(&consumer.table, stack.var("DEMO_ACCOUNT_ID"), distribution)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t["sk"] == kind)
        .unwrap_or(Value::Null)
}

/// Handles one message as the event source mapping would, and says whether it was reported
/// for retry.
async fn handle_one(consumer: &Consumer, body: &str, message_id: &str, receive: u32) -> bool {
    let response = consumer
        .handle(
            event(vec![sqs_message(message_id, body, receive)]),
            deadline(),
        )
        .await;
    !failed_ids(&response).is_empty()
}

/// The bodies of every message now on the consumer's queue (visible ones; they are deleted).
async fn drain(stack: &Stack, consumer: &Consumer) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let taken = stack.take_messages(consumer).await;
        if taken.is_empty() {
            return bodies;
        }
        bodies.extend(
            taken
                .iter()
                .map(|m| serde_json::from_str::<Value>(m.body.as_deref().unwrap()).unwrap()),
        );
    }
}

// --- findings ----------------------------------------------------------------------------------

/// F1. A tenant stages routing step by step (origin, function, cache, lambda) and stops before
/// `associate`, the step that turns routing on. The routing target records only the steps the
/// tenant's deploys completed, and a rescan checks and heals those alone: it never associates.
#[tokio::test]
async fn finding_a_heal_never_runs_a_step_the_tenant_did_not_deploy() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let site = format!("site-{}", unique_suffix());
    for step in ["origin", "function", "cache", "lambda"] {
        let command_id = unique_command();
        let body = json!({
            "schemaVersion": 1, "commandId": command_id, "type": "deploy-step",
            "siteId": site, "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
            "accountId": stack.var("DEMO_ACCOUNT_ID"),
            "params": {"distributionId": distribution, "step": step,
                       "siteBaseUrl": "https://www.example.com"},
        });
        stack.run_to_end(&consumer, &body.to_string()).await;
        let record = stack.record(&site, &command_id).await;
        assert_eq!(record["status"], "succeeded", "{step}: {record}");
    }
    let associated = |customer: &Customer| {
        let state = customer.state();
        let behavior = state.config.default_cache_behavior.as_ref().unwrap();
        let functions = behavior
            .function_associations
            .as_ref()
            .map_or(0, |a| a.quantity);
        let lambdas = behavior
            .lambda_function_associations
            .as_ref()
            .map_or(0, |a| a.quantity);
        functions + lambdas
    };
    assert_eq!(associated(&customer), 0, "staged, not associated");
    customer.clear_writes();

    // What the schedule does for this site's targets (scope site stands in for scope all).
    let rescan = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &rescan, true))
        .await;

    let target = target_in(&consumer, &stack, &distribution, "ROUTING").await;
    assert_eq!(
        associated(&customer),
        0,
        "a rescan associated routing the tenant never ran `associate` for; writes {:?}; target {target}",
        customer.writes()
    );
}

/// F2. Checks that finish while their fan-out is still sending count on the rescan's record,
/// advancing its version; the fan-out's own writes catch up (it still holds the claim) instead
/// of failing their condition, so the rescan ends `succeeded`.
#[tokio::test]
async fn finding_checks_counted_during_the_fan_out_do_not_keep_the_rescan_running() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    let now_ms = cdn_onboard::clock::epoch_millis(SystemTime::now());
    // Every target was just claimed by another rescan: each check ends `skipped` with no AWS
    // call, and counts itself (any counted outcome does the same).
    register_targets(
        &stack,
        &table,
        &format!("site-{}", unique_suffix()),
        1_500,
        &[
            ("checkedBy", AttributeValue::S("rescan-overlapping".into())),
            ("checkStartedAtMs", AttributeValue::N(now_ms.to_string())),
        ],
    )
    .await;
    let consumer = consumer_on(&stack, &table).await;
    let rescan = unique_command();

    let fanned_out = AtomicBool::new(false);
    let counted_meanwhile = AtomicUsize::new(0);
    let parent = async {
        consumer
            .handle(
                event(vec![sqs_message("m-parent", &scheduled(&rescan), 1)]),
                deadline(),
            )
            .await;
        fanned_out.store(true, Ordering::SeqCst);
    };
    // Another invocation taking the checks off the queue as they arrive.
    let checks = async {
        loop {
            let done = fanned_out.load(Ordering::SeqCst);
            let taken = stack.take_messages(&consumer).await;
            if taken.is_empty() && done {
                break;
            }
            for message in taken {
                consumer.handle(event(vec![message]), deadline()).await;
                if !fanned_out.load(Ordering::SeqCst) {
                    counted_meanwhile.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    };
    futures::join!(parent, checks);

    let record = system_record(&consumer, &rescan).await;
    let meanwhile = counted_meanwhile.load(Ordering::SeqCst);
    assert!(
        meanwhile > 0,
        "no check finished during the fan-out; inconclusive"
    );
    assert_eq!(
        record["status"], "succeeded",
        "{meanwhile} checks counted while the fan-out ran; the rescan's record: status {}, outcome {}, claimToken {}, counts {}",
        record["status"], record["outcome"], record["claimToken"], record["counts"]
    );
}

/// F3. A producer's check naming a rescan as its parent (to pass that rescan's claim on the
/// target, or count on its record) is refused: without a check's id before its id is reserved,
/// and with a check's id the rescan's salt did not make, at once, without a call.
#[tokio::test]
async fn finding_a_check_the_rescan_did_not_send_cannot_name_it() {
    let stack = Stack::connect().await;
    let (consumer, site, distribution) = enabled_alone(&stack).await;

    let rescan = format!("rescan-{}", unique_suffix());
    stack.run_to_end(&consumer, &scheduled(&rescan)).await;
    let before = system_record(&consumer, &rescan).await;
    assert_eq!(before["result"]["sent"], 1, "{before}");
    assert_eq!(before["counts"]["checked"], 1, "{before}");

    // The site's producer, minutes later: a check of its own naming the scheduled rescan is
    // refused before its id is even reserved...
    let forged = unique_command();
    let forged_body = target_check(
        &stack,
        &site,
        &forged,
        &distribution,
        "log-delivery",
        json!({"rescanId": rescan, "rescanScope": "all", "heal": true}),
    );
    assert!(!handle_one(&consumer, &forged_body, "m-forged", 1).await);
    assert_eq!(record_in(&consumer, &site, &forged).await, Value::Null);
    let invalid = cdn_onboard::cli::status::invalid(&consumer.table)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["messageId"] == "m-forged")
        .expect("the forged check is recorded under INVALID");
    assert!(
        invalid["reason"]
            .as_str()
            .unwrap()
            .contains("params.rescanId"),
        "{invalid}"
    );

    // ...and one dressed in a check's id, whose hash the rescan did not make, runs nothing.
    let dressed = format!(
        "rescan.0123456789ab.{}.{distribution}.ld",
        stack.var("DEMO_ACCOUNT_ID")
    );
    let dressed_body = target_check(
        &stack,
        &site,
        &dressed,
        &distribution,
        "log-delivery",
        json!({"rescanId": rescan, "rescanScope": "all", "heal": true}),
    );
    assert!(!handle_one(&consumer, &dressed_body, "m-dressed", 1).await);
    let record = record_in(&consumer, &site, &dressed).await;
    assert_eq!(record["error"]["code"], "INVALID_COMMAND", "{record}");
    assert_eq!(record["awsCalls"], 0, "{record}");

    let after = system_record(&consumer, &rescan).await;
    assert_eq!(
        after["counts"], before["counts"],
        "nothing counted on the rescan: {after}"
    );
}

/// F4. A routing target whose record lacks a usable `siteBaseUrl` (or `behavior`) fails its
/// check `NOT_FOUND` on the first receive, not retried: the target says `checkStatus: failed`
/// and the rescan counts it.
#[tokio::test]
async fn finding_a_malformed_routing_target_fails_its_check_once_and_is_recorded() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let site = format!("site-{}", unique_suffix());
    let distribution = unique_distribution();
    let account = stack.var("DEMO_ACCOUNT_ID");
    let pk = format!("TARGET#{account}#{distribution}");
    let sort = format!("{account}#{distribution}#ROUTING");
    let item = [
        ("pk", pk.clone()),
        ("sk", "ROUTING".into()),
        ("siteId", site.clone()),
        ("imsOrgId", stack.var("DEMO_IMS_ORG_ID").into()),
        ("accountId", account.into()),
        ("distributionId", distribution.clone()),
        ("desiredState", "deployed".into()),
        ("behavior", "default".into()),
        ("siteBaseUrl", "https://www.example.com/shop".into()),
        ("gsi2pk", format!("SITE#{site}")),
        ("gsi2sk", format!("TARGET#{sort}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
    .collect();
    dynamodb(&stack)
        .put_item()
        .table_name(&consumer.table.name)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    let rescan = unique_command();
    let (child, child_id) = only_check(&stack, &consumer, &site, &rescan).await;
    let mut retried = Vec::new();
    for receive in 1..=5 {
        retried.push(handle_one(&consumer, &child, "m-child", receive).await);
    }
    let record = record_in(&consumer, &site, &child_id).await;
    let target = target_in(&consumer, &stack, &distribution, "ROUTING").await;
    let parent = record_in(&consumer, &site, &rescan).await;
    assert_eq!(
        (retried[0], target["checkStatus"].clone(), parent["counts"]["failed"].clone()),
        (false, json!("failed"), json!(1)),
        "retried on receives {retried:?}; the check's record ended {} {}; target checkStatus {}; rescan counts {}",
        record["status"], record["error"], target["checkStatus"], parent["counts"]
    );
}

/// F5. A target the fan-out sent a check for, and which stops being registered before the check
/// runs (disabled in between), is counted as `notRegistered`, so `checked + skipped +
/// notRegistered` reaches `sent`.
#[tokio::test]
async fn finding_a_check_whose_target_is_gone_is_counted() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (site, distribution) = enabled(&stack, &consumer).await;
    let rescan = unique_command();
    assert!(
        !handle_one(
            &consumer,
            &site_rescan(&stack, &site, &rescan, true),
            "m-r",
            1
        )
        .await
    );
    // The tenant disables log delivery while the check is on the queue; run_to_end then also
    // handles the queued check.
    stack
        .run_to_end(
            &consumer,
            &disable(&stack, &site, &unique_command(), &distribution),
        )
        .await;
    let parent = record_in(&consumer, &site, &rescan).await;
    let counts = &parent["counts"];
    let accounted = counts["checked"].as_u64().unwrap()
        + counts["skipped"].as_u64().unwrap()
        + counts["notRegistered"].as_u64().unwrap();
    assert_eq!(counts["notRegistered"], 1, "{counts}");
    assert_eq!(
        accounted,
        parent["result"]["sent"].as_u64().unwrap(),
        "sent {} but counts {counts}",
        parent["result"]["sent"]
    );
}

/// F6. With `CDN_LOG_RESCAN_MAX_DISTRIBUTIONS` below the number of targets, each capped rescan
/// starts where the last one stopped and wraps around: three rescans of two over four targets
/// check all four.
#[tokio::test]
async fn finding_capped_rescans_rotate_through_every_target() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    register_targets(&stack, &table, &format!("site-{}", unique_suffix()), 4, &[]).await;
    let mut consumer = consumer_on(&stack, &table).await;
    consumer.config.rescan_max_targets = Some(2);
    // Stands in for the six hours between two scheduled rescans.
    consumer.config.rescan_min_interval = Duration::ZERO;

    let mut checked = Vec::new();
    for _ in 0..3 {
        let rescan = unique_command();
        assert!(!handle_one(&consumer, &scheduled_report_only(&rescan), "m-r", 1).await);
        let children = drain(&stack, &consumer).await;
        let mut sent: Vec<String> = children
            .iter()
            .map(|c| c["params"]["distributionId"].as_str().unwrap().to_owned())
            .collect();
        sent.sort();
        for child in &children {
            handle_one(&consumer, &child.to_string(), "m-c", 1).await;
        }
        checked.push(sent);
    }
    let mut ever: Vec<&String> = checked.iter().flatten().collect();
    ever.sort();
    ever.dedup();
    assert_eq!(
        ever.len(),
        4,
        "three capped rescans over 4 targets checked only {ever:?} ({checked:?})"
    );
}

/// F7. With exactly as many targets as the cap allows, nothing was left out: not truncated.
#[tokio::test]
async fn finding_exactly_the_cap_is_not_truncated() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    // Three targets of one account, so in one shard, with empty shards after it: the index
    // holds nothing after them.
    let account = cdn_onboard::ids::AccountId::parse(stack.var("DEMO_ACCOUNT_ID")).unwrap();
    assert!(cdn_onboard::targets::shard_of(&account) < cdn_onboard::targets::TARGET_SHARDS - 1);
    let distributions: Vec<String> = std::iter::repeat_with(unique_distribution)
        .take(3)
        .collect();
    stack
        .put_log_delivery_targets(
            &table,
            &format!("site-{}", unique_suffix()),
            &distributions,
            &[],
        )
        .await;
    let mut consumer = consumer_on(&stack, &table).await;
    consumer.config.rescan_max_targets = Some(3);
    let rescan = unique_command();
    assert!(!handle_one(&consumer, &scheduled_report_only(&rescan), "m-r", 1).await);
    let record = system_record(&consumer, &rescan).await;
    assert_eq!(record["result"]["sent"], 3, "{record}");
    assert_eq!(
        record["result"]["truncated"], false,
        "every target was sent: {}",
        record["result"]
    );
}

/// F8. An index item that is not a well-formed target (here: no `imsOrgId`) is counted in the
/// fan-out's result as `malformed` (and logged), not dropped without a word.
#[tokio::test]
async fn finding_a_malformed_index_item_is_counted() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    let distributions =
        register_targets(&stack, &table, &format!("site-{}", unique_suffix()), 1, &[]).await;
    let account = stack.var("DEMO_ACCOUNT_ID");
    dynamodb(&stack)
        .update_item()
        .table_name(&table)
        .key(
            "pk",
            AttributeValue::S(format!("TARGET#{account}#{}", distributions[0])),
        )
        .key("sk", AttributeValue::S("LOG_DELIVERY".into()))
        .update_expression("REMOVE imsOrgId")
        .send()
        .await
        .unwrap();
    let consumer = consumer_on(&stack, &table).await;
    let rescan = unique_command();
    assert!(!handle_one(&consumer, &scheduled_report_only(&rescan), "m-r", 1).await);
    let record = system_record(&consumer, &rescan).await;
    let result = &record["result"];
    let accounted = result["sent"].as_u64().unwrap()
        + result["recentlyChecked"].as_u64().unwrap()
        + result
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| {
                !["sent", "recentlyChecked", "truncated", "heal", "scope"].contains(&k.as_str())
            })
            .filter_map(|(_, v)| v.as_u64())
            .sum::<u64>();
    assert_eq!(
        accounted, 1,
        "one registered target, the rescan says {result}"
    );
}

/// F9. The scheduled rescan's ids (`rescan-<scheduled time>`) and a rescan's check ids
/// (`rescan.<hash>...`) are reserved: any other command using one is refused under `INVALID`
/// before the id is taken, so the schedule still runs.
#[tokio::test]
async fn finding_the_scheduled_ids_cannot_be_taken_first() {
    let stack = Stack::connect().await;
    let (consumer, site, distribution) = enabled_alone(&stack).await;
    // A schedule time that has not come yet.
    let next = format!("rescan-2099-01-01T00:00:00Z-{}", unique_suffix());
    // A producer's site rescan that happens to use the same id.
    assert!(
        !handle_one(
            &consumer,
            &site_rescan(&stack, &site, &next, false),
            "m-squat",
            1
        )
        .await
    );
    drain(&stack, &consumer).await;
    // The schedule fires.
    assert!(!handle_one(&consumer, &scheduled(&next), "m-schedule", 1).await);
    let record = system_record(&consumer, &next).await;
    let invalid = cdn_onboard::cli::status::invalid(&consumer.table)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["messageId"] == "m-schedule")
        .unwrap_or(Value::Null);
    assert_eq!(
        record["status"], "succeeded",
        "the scheduled rescan did not run; INVALID record: {} {}",
        invalid["code"], invalid["reason"]
    );
    let squat = cdn_onboard::cli::status::invalid(&consumer.table)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["messageId"] == "m-squat")
        .expect("the squatting site rescan is recorded under INVALID");
    assert!(
        squat["reason"].as_str().unwrap().contains("reserved"),
        "{squat}"
    );

    // Any other command with a check's id is refused the same way.
    let check_like = format!(
        "rescan.0123456789ab.{}.{distribution}.ld",
        stack.var("DEMO_ACCOUNT_ID")
    );
    assert!(
        !handle_one(
            &consumer,
            &enable(&stack, &site, &check_like, &distribution),
            "m-squat-2",
            1
        )
        .await
    );
    assert_eq!(record_in(&consumer, &site, &check_like).await, Value::Null);
}

/// F10. A recorded delivery id that now names another source's delivery is not ours: the check
/// reports our delivery missing.
#[tokio::test]
async fn finding_a_recorded_delivery_of_another_source_is_not_ours() {
    use aws_sdk_cloudwatchlogs::operation::{
        describe_deliveries::DescribeDeliveriesOutput, get_delivery::GetDeliveryOutput,
        get_delivery_source::GetDeliverySourceOutput,
    };
    use aws_sdk_cloudwatchlogs::types::{Delivery, DeliverySource, S3DeliveryConfiguration};
    use aws_sdk_cloudwatchlogs::Client;
    use aws_smithy_mocks::mock;
    use cdn_onboard::delivery_names::{DeliveryPlan, RECORD_FIELDS, SUFFIX_PATH};
    use cdn_onboard::ids::{AccountId, DistributionId, ImsOrgId};

    let plan = DeliveryPlan::new(
        &AccountId::parse("111122223333").unwrap(),
        &DistributionId::parse("E2EXAMPLE1ABCD").unwrap(),
        &ImsOrgId::parse("ABC123DEF456@AdobeOrg").unwrap(),
        &AccountId::parse("444455556666").unwrap(),
    );
    let (source_name, resource, destination) = (
        plan.source_name.clone(),
        plan.resource_arn.clone(),
        plan.destination_arn.clone(),
    );
    let ours = mock!(Client::get_delivery_source).then_output(move || {
        GetDeliverySourceOutput::builder()
            .delivery_source(
                DeliverySource::builder()
                    .name(&source_name)
                    .resource_arns(&resource)
                    .log_type("ACCESS_LOGS")
                    .build(),
            )
            .build()
    });
    let dest = destination.clone();
    let foreign = mock!(Client::get_delivery)
        .match_requests(|r| r.id() == Some("dlv-foreign"))
        .then_output(move || {
            GetDeliveryOutput::builder()
                .delivery(
                    Delivery::builder()
                        .id("dlv-foreign")
                        .delivery_source_name("customer-own-source")
                        .delivery_destination_arn(&dest)
                        .set_record_fields(Some(
                            RECORD_FIELDS.iter().map(|f| f.to_string()).collect(),
                        ))
                        .s3_delivery_configuration(
                            S3DeliveryConfiguration::builder()
                                .suffix_path(SUFFIX_PATH)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    // Nothing comes from our source any more.
    let none = mock!(Client::describe_deliveries)
        .then_output(|| DescribeDeliveriesOutput::builder().build());
    let logs = support::mocks::logs_client(&[&ours, &foreign, &none]);
    let drift = cdn_onboard::log_delivery_check::check(
        &logs,
        &plan,
        Some("dlv-foreign"),
        tokio::time::Instant::now() + Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(
        drift.iter().any(|d| d.what == "delivery-missing"),
        "our source has no delivery, the check says {drift:?}"
    );
}

// --- what held ---------------------------------------------------------------------------------

/// A site's producer checking (and healing) a distribution whose log delivery another site
/// registered: `not-registered`, no AWS call, the other site's target record untouched; the
/// same for a target its own site disabled.
#[tokio::test]
async fn holds_other_sites_and_disabled_targets_are_never_touched() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (owner, intruder) = (
        format!("site-{}", unique_suffix()),
        format!("site-{}", unique_suffix()),
    );
    let distribution = unique_distribution();
    stack
        .run_to_end(
            &consumer,
            &enable(&stack, &owner, &unique_command(), &distribution),
        )
        .await;
    let before = target_in(&consumer, &stack, &distribution, "LOG_DELIVERY").await;
    let record = healing_check(&stack, &consumer, &intruder, &distribution).await;
    assert_eq!(record["outcome"], "not-registered", "{record}");
    assert_eq!(record["awsCalls"], 0);
    assert_eq!(
        target_in(&consumer, &stack, &distribution, "LOG_DELIVERY").await,
        before
    );

    stack
        .run_to_end(
            &consumer,
            &disable(&stack, &owner, &unique_command(), &distribution),
        )
        .await;
    let record = healing_check(&stack, &consumer, &owner, &distribution).await;
    assert_eq!(record["outcome"], "not-registered", "{record}");
    assert_eq!(record["awsCalls"], 0);
}

/// Envelope rules of rescans: `scope: all` with a site is refused, `scope: site` without one is
/// unreadable, a `commandId` used by a site-less rescan cannot be reused by a site's command,
/// and forged parent fields are validated.
#[tokio::test]
async fn holds_envelope_rules() {
    let stack = Stack::connect().await;
    let table = stack.fresh_table().await;
    let consumer = consumer_on(&stack, &table).await;
    let site = format!("site-{}", unique_suffix());

    let with_site = unique_command();
    let body = json!({"schemaVersion": 1, "commandId": with_site, "type": "rescan",
        "siteId": site, "imsOrgId": stack.var("DEMO_IMS_ORG_ID"), "accountId": stack.var("DEMO_ACCOUNT_ID"),
        "params": {"scope": "all"}});
    handle_one(&consumer, &body.to_string(), "m-1", 1).await;
    let record = record_in(&consumer, &site, &with_site).await;
    assert_eq!(record["error"]["code"], "INVALID_COMMAND", "{record}");

    let body = json!({"schemaVersion": 1, "commandId": unique_command(), "type": "rescan",
        "params": {"scope": "site"}});
    handle_one(&consumer, &body.to_string(), "m-2", 1).await;
    let invalid = cdn_onboard::cli::status::invalid(&consumer.table)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["messageId"] == "m-2")
        .unwrap();
    assert_eq!(invalid["code"], "INVALID_COMMAND");

    let system = unique_command();
    handle_one(&consumer, &scheduled_report_only(&system), "m-3", 1).await;
    handle_one(
        &consumer,
        &enable(&stack, &site, &system, &unique_distribution()),
        "m-4",
        1,
    )
    .await;
    let invalid = cdn_onboard::cli::status::invalid(&consumer.table)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r["messageId"] == "m-4")
        .unwrap();
    assert_eq!(invalid["code"], "PAYLOAD_MISMATCH");

    for (extra, expected) in [
        (json!({"rescanId": "r-1"}), "go together"),
        (
            json!({"rescanId": "r-1", "rescanScope": "target"}),
            "rescanScope",
        ),
        (json!({"rescanId": "a b", "rescanScope": "all"}), "rescanId"),
    ] {
        let id = unique_command();
        handle_one(
            &consumer,
            &target_check(
                &stack,
                &site,
                &id,
                &unique_distribution(),
                "log-delivery",
                extra,
            ),
            "m-5",
            1,
        )
        .await;
        let record = record_in(&consumer, &site, &id).await;
        assert!(
            record["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{record}"
        );
    }
}

/// A duplicate of a target check while the first is still claimed comes back later; after it
/// finished it is acknowledged without a second count.
#[tokio::test]
async fn holds_a_duplicate_check_is_not_counted_twice() {
    let stack = Stack::connect().await;
    let (consumer, _, _) = enabled_alone(&stack).await;
    let rescan = unique_command();
    handle_one(&consumer, &scheduled_report_only(&rescan), "m-r", 1).await;
    let children = drain(&stack, &consumer).await;
    assert_eq!(children.len(), 1);
    let child = children[0].to_string();
    for (message, receive) in [("m-a", 1), ("m-b", 1), ("m-a", 2)] {
        handle_one(&consumer, &child, message, receive).await;
    }
    let record = system_record(&consumer, &rescan).await;
    assert_eq!(record["counts"]["checked"], 1, "{record}");
}

/// A site with log delivery enabled on a fresh distribution, and a consumer whose Logs calls
/// are throttled while the returned switch is on (calls counted), else answered healthy.
async fn throttled_site(stack: &Stack) -> ThrottledSite {
    use aws_sdk_cloudwatchlogs::operation::{
        get_delivery::GetDeliveryOutput, get_delivery_source::GetDeliverySourceOutput,
    };
    use aws_sdk_cloudwatchlogs::types::{Delivery, DeliverySource, S3DeliveryConfiguration};
    use aws_sdk_cloudwatchlogs::Client;
    use aws_smithy_mocks::{mock, MockResponse};
    use cdn_onboard::delivery_names::{DeliveryPlan, RECORD_FIELDS, SUFFIX_PATH};
    use cdn_onboard::ids::{AccountId, DistributionId, ImsOrgId};

    let real = stack.consumer().await;
    let site = format!("site-{}", unique_suffix());
    let distribution = unique_distribution();
    stack
        .run_to_end(
            &real,
            &enable(stack, &site, &unique_command(), &distribution),
        )
        .await;
    let delivery_id = target_in(&real, stack, &distribution, "LOG_DELIVERY").await["deliveryId"]
        .as_str()
        .unwrap()
        .to_owned();

    let plan = DeliveryPlan::new(
        &AccountId::parse(stack.var("DEMO_ACCOUNT_ID")).unwrap(),
        &DistributionId::parse(&distribution).unwrap(),
        &ImsOrgId::parse(stack.var("DEMO_IMS_ORG_ID")).unwrap(),
        &AccountId::parse(stack.var("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID")).unwrap(),
    );
    let throttling = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicUsize::new(0));
    let (t, c, name, resource) = (
        throttling.clone(),
        calls.clone(),
        plan.source_name.clone(),
        plan.resource_arn.clone(),
    );
    let source = mock!(Client::get_delivery_source).then_compute_response(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        if t.load(Ordering::SeqCst) {
            return MockResponse::Http(support::mocks::json_error(400, "ThrottlingException"));
        }
        MockResponse::Output(
            GetDeliverySourceOutput::builder()
                .delivery_source(
                    DeliverySource::builder()
                        .name(&name)
                        .resource_arns(&resource)
                        .log_type("ACCESS_LOGS")
                        .build(),
                )
                .build(),
        )
    });
    let (id, destination) = (delivery_id.clone(), plan.destination_arn.clone());
    let get = mock!(Client::get_delivery).then_output(move || {
        GetDeliveryOutput::builder()
            .delivery(
                Delivery::builder()
                    .id(&id)
                    .delivery_source_name(&plan.source_name)
                    .delivery_destination_arn(&destination)
                    .set_record_fields(Some(RECORD_FIELDS.iter().map(|f| f.to_string()).collect()))
                    .s3_delivery_configuration(
                        S3DeliveryConfiguration::builder()
                            .suffix_path(SUFFIX_PATH)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let consumer = stack
        .consumer_with_logs(support::mocks::logs_template(&[&source, &get]))
        .await;
    (consumer, site, distribution, throttling, calls)
}

/// The consumer, the site, the distribution, the throttling switch, the calls made.
type ThrottledSite = (Consumer, String, String, Arc<AtomicBool>, Arc<AtomicUsize>);

/// A check throttled past its in-place retries goes back to the queue; its retry passes the
/// target claim (same rescan) and the check is counted once.
#[tokio::test]
async fn holds_a_throttled_check_is_retried_through_its_claim_and_counted_once() {
    let stack = Stack::connect().await;
    let (consumer, site, _, throttling, calls) = throttled_site(&stack).await;
    let rescan = unique_command();
    let (child, child_id) = only_check(&stack, &consumer, &site, &rescan).await;
    assert!(
        handle_one(&consumer, &child, "m-c", 1).await,
        "throttled: retried"
    );
    let record = record_in(&consumer, &site, &child_id).await;
    assert_eq!(record["error"]["code"], "THROTTLED", "{record}");
    assert!(calls.load(Ordering::SeqCst) >= 5, "retried in place first");
    throttling.store(false, Ordering::SeqCst);
    assert!(!handle_one(&consumer, &child, "m-c", 2).await);
    let record = record_in(&consumer, &site, &child_id).await;
    assert_eq!(record["outcome"], "healthy", "{record}");
    assert_eq!(record["attempts"], 2);
    let parent = record_in(&consumer, &site, &rescan).await;
    assert_eq!(parent["counts"]["checked"], 1, "{parent}");
    assert_eq!(parent["counts"]["healthy"], 1, "{parent}");
}

/// A routing check that finds the API key header drifted, reported and then healed: the key
/// appears in no record of the site, not on the target record, and in no log line.
#[tokio::test]
async fn holds_the_api_key_stays_out_of_rescan_records_and_logs() {
    use support::capture::Captured;
    use support::customer::API_KEY;
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber("cdn_onboard=trace,info"));

    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let mut consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    consumer.config.rescan_min_interval = Duration::ZERO;
    let site = format!("site-{}", unique_suffix());
    let body = json!({
        "schemaVersion": 1, "commandId": unique_command(), "type": "deploy-step",
        "siteId": site, "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
        "params": {"distributionId": distribution, "step": "all",
                   "siteBaseUrl": "https://www.example.com"},
    });
    stack.run_to_end(&consumer, &body.to_string()).await;
    // The key in the origin header is replaced in the console.
    {
        let mut state = customer.state();
        let origins = state.config.origins.as_mut().unwrap();
        let ours = origins
            .items
            .iter_mut()
            .find(|o| o.id == "EdgeOptimize_Origin")
            .unwrap();
        for header in ours
            .custom_headers
            .as_mut()
            .unwrap()
            .items
            .as_mut()
            .unwrap()
        {
            if header.header_name == "x-edgeoptimize-api-key" {
                header.header_value = "a-stale-key".into();
            }
        }
    }
    for heal in [false, true] {
        stack
            .run_to_end(
                &consumer,
                &site_rescan(&stack, &site, &unique_command(), heal),
            )
            .await;
    }
    let records = cdn_onboard::cli::status::site(&consumer.table, &site)
        .await
        .unwrap();
    let outcomes: Vec<_> = records
        .iter()
        .filter(|r| r["commandId"].as_str().unwrap().ends_with(".rt"))
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [json!("drifted"), json!("healed")],
        "{outcomes:?}"
    );
    let target = target_in(&consumer, &stack, &distribution, "ROUTING").await;
    for text in [
        serde_json::to_string(&records).unwrap(),
        target.to_string(),
        captured.text(),
    ] {
        assert!(!text.contains(API_KEY));
        assert!(!text.contains("a-stale-key"));
    }
}

/// A check that keeps failing with a retryable error until its last receive gives up
/// (`RETRIES_EXHAUSTED`, the dead-letter queue) and is still accounted for: `checkStatus:
/// failed` on the target, `failed` on the rescan's counts.
#[tokio::test]
async fn finding_a_check_that_exhausts_its_retries_is_recorded_and_counted() {
    let stack = Stack::connect().await;
    let (consumer, site, distribution, _throttling, _) = throttled_site(&stack).await;
    let rescan = unique_command();
    let (child, child_id) = only_check(&stack, &consumer, &site, &rescan).await;
    let last = consumer.config.max_receive_count;
    for receive in 1..=last {
        assert!(
            handle_one(&consumer, &child, "m-c", receive).await,
            "receive {receive} is retried"
        );
    }
    let record = record_in(&consumer, &site, &child_id).await;
    assert_eq!(record["error"]["code"], "RETRIES_EXHAUSTED", "{record}");
    let target = target_in(&consumer, &stack, &distribution, "LOG_DELIVERY").await;
    assert_eq!(target["checkStatus"], "failed", "{target}");
    assert_eq!(target["drift"][0]["code"], "RETRIES_EXHAUSTED", "{target}");
    let parent = record_in(&consumer, &site, &rescan).await;
    assert_eq!(parent["counts"]["failed"], 1, "{parent}");
    assert_eq!(parent["counts"]["checked"], 1, "{parent}");
}
