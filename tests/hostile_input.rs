//! Hostile and malformed input through the batch consumer, against the local emulator stack.
//!
//! What every test here holds the consumer to (contract, sections 1-4): every message ends as a
//! record (a command record, or an `INVALID` record) and is acknowledged, or is reported for
//! retry only when a retry can help; a refusal names the field; records and log lines carry no
//! raw body beyond the `INVALID` record's first 4 KiB, no control characters and nothing secret;
//! nothing panics, hangs, or runs a command twice.

mod support;

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_cloudwatchlogs::operation::describe_deliveries::DescribeDeliveriesOutput;
use aws_sdk_cloudwatchlogs::Client as LogsClient;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::mock;
use cdn_onboard::command::{parse, Parsed};
use cdn_onboard::consumer::Consumer;
use cdn_onboard::delivery_names::DeliveryPlan;
use cdn_onboard::ids::{AccountId, DistributionId, ImsOrgId};
use cdn_onboard::records::{CommandKey, INVALID_BODY_BYTES};
use serde_json::{json, Value};
use support::capture::Captured;
use support::mocks::{json_error, logs_template};
use support::stack::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn message_id() -> String {
    format!("m-hostile-{}", unique_suffix())
}

fn site(stack: &Stack) -> String {
    stack.var("DEMO_SITE_ID").to_owned()
}

/// A valid enable command for the demo customer, as a JSON value to be bent out of shape.
fn base(stack: &Stack, command_id: &str, distribution: &str) -> Value {
    json!({
        "schemaVersion": 1,
        "commandId": command_id,
        "type": "enable-log-delivery",
        "siteId": stack.var("DEMO_SITE_ID"),
        "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
        "params": {"distributionId": distribution},
    })
}

/// Handles one message in a batch of its own; returns the ids reported for retry.
async fn handle_one(consumer: &Consumer, message_id: &str, body: &str) -> Vec<String> {
    let response = consumer
        .handle(event(vec![sqs_message(message_id, body, 1)]), deadline())
        .await;
    failed_ids(&response)
}

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\t')
}

/// Every string anywhere in a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(fields) => fields.iter().for_each(|(k, v)| {
            out.push(k.clone());
            strings(v, out)
        }),
        _ => {}
    }
}

/// A command record that refused the command: failed, INVALID_COMMAND, not retryable, nothing
/// run, a message for people that names `field`, has no control characters and fits 1,024.
fn assert_refused_naming(record: &Value, field: &str, case: &str) {
    assert_eq!(record["status"], "failed", "{case}: {record}");
    assert_eq!(
        record["error"]["code"], "INVALID_COMMAND",
        "{case}: {record}"
    );
    assert_eq!(record["error"]["retryable"], false, "{case}: {record}");
    assert_eq!(record["attempts"], 0, "{case}: nothing ran: {record}");
    assert_eq!(record["awsCalls"], 0, "{case}: no AWS call: {record}");
    let message = record["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains(field),
        "{case}: the message names {field}: {message}"
    );
    assert!(message.chars().count() <= 1024, "{case}: {message}");
    assert!(!has_control(message), "{case}: {message:?}");
}

/// The `INVALID` record whose stored body is exactly `body` (for messages without an id).
async fn invalid_record_with_body(stack: &Stack, body: &str) -> Option<Value> {
    cdn_onboard::cli::status::invalid(&stack.table())
        .await
        .expect("read INVALID records")
        .into_iter()
        .find(|r| r["body"] == body)
}

async fn lease_item(
    stack: &Stack,
    distribution: &str,
) -> Option<std::collections::HashMap<String, AttributeValue>> {
    let key = cdn_onboard::lease::lease_key(
        &AccountId::parse(stack.var("DEMO_ACCOUNT_ID")).unwrap(),
        &DistributionId::parse(distribution).unwrap(),
    );
    stack
        .table()
        .client
        .get_item()
        .table_name(stack.table().name)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .expect("read the lease")
        .item
}

async fn delayed_on_queue(consumer: &Consumer) -> u64 {
    let attributes = consumer
        .queue
        .client
        .get_queue_attributes()
        .queue_url(&consumer.queue.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
}

fn plan(stack: &Stack, distribution: &str) -> DeliveryPlan {
    DeliveryPlan::new(
        &AccountId::parse(stack.var("DEMO_ACCOUNT_ID")).unwrap(),
        &DistributionId::parse(distribution).unwrap(),
        &ImsOrgId::parse(stack.var("DEMO_IMS_ORG_ID")).unwrap(),
        &AccountId::parse(stack.var("CDN_LOG_DELIVERY_DEST_ACCOUNT_ID")).unwrap(),
    )
}

/// Mocked customer Logs: no source yet, none foreign, then CreateDelivery throttled forever.
fn throttled_forever() -> aws_sdk_cloudwatchlogs::config::Builder {
    let get = mock!(LogsClient::get_delivery_source)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"));
    let sources = mock!(LogsClient::describe_delivery_sources).then_output(|| {
        aws_sdk_cloudwatchlogs::operation::describe_delivery_sources::DescribeDeliverySourcesOutput::builder().build()
    });
    let put = mock!(LogsClient::put_delivery_source).then_output(|| {
        aws_sdk_cloudwatchlogs::operation::put_delivery_source::PutDeliverySourceOutput::builder()
            .build()
    });
    let list = mock!(LogsClient::describe_deliveries)
        .then_output(|| DescribeDeliveriesOutput::builder().build());
    let create = mock!(LogsClient::create_delivery)
        .sequence()
        .http_response(|| json_error(400, "ThrottlingException"))
        .repeatedly()
        .build();
    logs_template(&[&get, &sources, &put, &list, &create])
}

// ---------------------------------------------------------------------------------------------
// Bodies that are not commands at all
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn empty_blank_and_non_object_bodies_are_recorded_as_invalid_and_acknowledged() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let bodies = [
        "",
        "   \n\t  ",
        "null",
        "true",
        "0",
        "\"enable-log-delivery\"",
        "[]",
        "{}",
        "[{\"commandId\":\"a\",\"siteId\":\"b\"}]",
        "{\"type\":",
        "\u{feff}{\"schemaVersion\":1}",
        "{\"commandId\":\"x\",\"siteId\":\"s\"} trailing",
        "{\"commandId\":\"x\",\"siteId\":\"s\"}{\"commandId\":\"y\",\"siteId\":\"s\"}",
        "\"{\\\"commandId\\\":\\\"x\\\",\\\"siteId\\\":\\\"s\\\"}\"",
    ];
    for body in bodies {
        let id = message_id();
        let failed = handle_one(&consumer, &id, body).await;
        assert!(failed.is_empty(), "{body:?}: acknowledged, never retried");
        let invalid = stack.invalid_record(&id).await;
        assert_eq!(invalid["code"], "INVALID_COMMAND", "{body:?}: {invalid}");
        assert_eq!(invalid["body"], body, "{body:?}: {invalid}");
        assert_eq!(invalid["bodyBytes"], body.len(), "{body:?}");
        assert!(invalid["receivedAt"].is_string(), "{body:?}: {invalid}");
        let reason = invalid["reason"].as_str().unwrap_or("");
        assert!(
            !reason.is_empty() && !has_control(reason),
            "{body:?}: {reason:?}"
        );
    }

    // A record whose body is absent altogether (the event's `body` is null).
    let id = message_id();
    let mut message = sqs_message(&id, "", 1);
    message.body = None;
    let response = consumer.handle(event(vec![message]), deadline()).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(stack.invalid_record(&id).await["code"], "INVALID_COMMAND");
}

#[tokio::test]
async fn a_huge_non_json_body_keeps_at_most_4_kib_cut_on_a_character_boundary() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    // Multi-byte characters straddle the 4,096th byte: '€' is 3 bytes, '😀' is 4, 'é' is 2.
    for (prefix, wide) in [(4094, "€"), (4093, "😀"), (4095, "é"), (4096, "😀")] {
        let body = format!("{}{}{}", "x".repeat(prefix), wide, "y".repeat(200 * 1024));
        let id = message_id();
        let failed = handle_one(&consumer, &id, &body).await;
        assert!(failed.is_empty());
        let invalid = stack.invalid_record(&id).await;
        let kept = invalid["body"].as_str().expect("the body is kept");
        assert!(
            kept.len() <= INVALID_BODY_BYTES,
            "{} bytes kept",
            kept.len()
        );
        assert!(body.starts_with(kept), "a prefix of the body");
        let expected = if prefix + wide.len() <= INVALID_BODY_BYTES {
            prefix + wide.len()
        } else {
            prefix
        };
        assert_eq!(kept.len(), expected, "cut on the last whole character");
        assert_eq!(invalid["bodyBytes"], body.len());
    }
}

#[tokio::test]
async fn deep_nesting_without_an_identity_is_recorded_and_never_crashes() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let depth = 10_000;
    let bodies = [
        "[".repeat(depth),
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        "{\"a\":".repeat(depth),
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
    ];
    for body in &bodies {
        let id = message_id();
        let failed = handle_one(&consumer, &id, body).await;
        assert!(failed.is_empty(), "acknowledged");
        let invalid = stack.invalid_record(&id).await;
        assert_eq!(invalid["code"], "INVALID_COMMAND");
        assert!(invalid["body"].as_str().unwrap().len() <= INVALID_BODY_BYTES);
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies that name their command (commandId and siteId usable) but are otherwise hostile
// ---------------------------------------------------------------------------------------------

/// Contract 2: "A body that parses far enough to give commandId and siteId but breaks a field
/// rule gets a normal command record with status failed and INVALID_COMMAND." A body nested 200
/// levels deep inside an unknown field is valid JSON (RFC 8259 sets no depth limit) that names
/// its command, so the UI polling `SITE#<site>/CMD#<id>` must see a failed record. Today the
/// parser's recursion limit (128) makes it "not valid JSON" and it lands under INVALID, without
/// even its commandId.
#[tokio::test]
async fn deep_nesting_inside_a_named_command_gets_a_failed_command_record() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let body = format!(
        r#"{{"schemaVersion":1,"commandId":"{command_id}","type":"enable-log-delivery","siteId":"{}","imsOrgId":"{}","accountId":"{}","params":{{"distributionId":"{}"}},"extra":{nested}}}"#,
        stack.var("DEMO_SITE_ID"),
        stack.var("DEMO_IMS_ORG_ID"),
        stack.var("DEMO_ACCOUNT_ID"),
        unique_distribution()
    );
    let id = message_id();
    let failed = handle_one(&consumer, &id, &body).await;
    assert!(failed.is_empty(), "acknowledged");

    let invalid = stack.invalid_record(&id).await;
    let record = stack.record(&site(&stack), &command_id).await;
    assert!(
        record != Value::Null,
        "the command names itself, so it gets a command record; instead INVALID holds: {invalid}"
    );
    assert_refused_naming(&record, "extra", "deeply nested unknown field");
}

/// As above, for a number JSON allows but f64 cannot hold.
#[tokio::test]
async fn an_out_of_range_number_in_a_named_command_gets_a_failed_command_record() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = format!(
        r#"{{"schemaVersion":1e400,"commandId":"{command_id}","type":"enable-log-delivery","siteId":"{}","imsOrgId":"{}","accountId":"{}","params":{{"distributionId":"{}"}}}}"#,
        stack.var("DEMO_SITE_ID"),
        stack.var("DEMO_IMS_ORG_ID"),
        stack.var("DEMO_ACCOUNT_ID"),
        unique_distribution()
    );
    let id = message_id();
    let failed = handle_one(&consumer, &id, &body).await;
    assert!(failed.is_empty(), "acknowledged");

    let invalid = stack.invalid_record(&id).await;
    let record = stack.record(&site(&stack), &command_id).await;
    assert!(
        record != Value::Null,
        "the command names itself, so it gets a command record; instead INVALID holds: {invalid}"
    );
    assert_refused_naming(&record, "schemaVersion", "schemaVersion 1e400");
}

#[tokio::test]
async fn a_huge_named_command_is_refused_without_its_payload_in_the_record() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let mut body = base(&stack, &command_id, &unique_distribution());
    let sentinel = format!("HUGE-SENTINEL-{}", "z".repeat(200 * 1024));
    body["note"] = json!(sentinel);
    let body = body.to_string();
    assert!(body.len() > 200 * 1024);

    let failed = handle_one(&consumer, &message_id(), &body).await;
    assert!(failed.is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_refused_naming(&record, "note", "200 KiB unknown field");
    assert!(
        !record.to_string().contains("HUGE-SENTINEL"),
        "no raw payload in the command record"
    );

    // The same with thousands of unknown fields: the message stays within 1,024 characters.
    let command_id = unique_command();
    let mut body = base(&stack, &command_id, &unique_distribution());
    for i in 0..5_000 {
        body[format!("unknownField{i:05}")] = json!(i);
    }
    let failed = handle_one(&consumer, &message_id(), &body.to_string()).await;
    assert!(failed.is_empty());
    let record = stack.record(&site(&stack), &command_id).await;
    assert_refused_naming(&record, "unknownField", "5,000 unknown fields");
}

#[tokio::test]
async fn hostile_command_and_site_ids_are_recorded_as_invalid_naming_the_field() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let distribution = unique_distribution();
    let cases: Vec<(&str, Value)> = vec![
        ("commandId", json!(format!("{}#x", unique_command()))),
        ("commandId", json!(format!("x#SK#{}", unique_command()))),
        (
            "commandId",
            json!(format!("{}\u{202e}gpj", unique_command())),
        ),
        ("commandId", json!(format!("{}\u{0000}", unique_command()))),
        ("commandId", json!(format!("{}😀", unique_command()))),
        ("commandId", json!(format!("{} x", unique_command()))),
        ("commandId", json!(format!("{}/../x", unique_command()))),
        ("commandId", json!("a".repeat(129))),
        ("commandId", json!("")),
        ("commandId", json!(12345)),
        ("commandId", json!(null)),
        ("commandId", json!(["cmd-1"])),
        ("commandId", json!({"id": "cmd-1"})),
        ("siteId", json!("site#CMD#x")),
        ("siteId", json!("site-demo\u{200b}")),
        ("siteId", json!("site-demo\n")),
        ("siteId", json!("")),
        ("siteId", json!(42)),
        ("siteId", json!(null)),
        ("siteId", json!("s".repeat(129))),
    ];
    for (field, value) in cases {
        let command_id = unique_command();
        let mut body = base(&stack, &command_id, &distribution);
        body[field] = value.clone();
        let id = message_id();
        let failed = handle_one(&consumer, &id, &body.to_string()).await;
        let case = format!("{field} = {value}");
        assert!(failed.is_empty(), "{case}: acknowledged");
        let invalid = stack.invalid_record(&id).await;
        assert_eq!(invalid["code"], "INVALID_COMMAND", "{case}: {invalid}");
        let reason = invalid["reason"].as_str().unwrap_or("");
        assert!(
            reason.starts_with(field),
            "{case}: names the field: {reason}"
        );
        assert!(!has_control(reason), "{case}: {reason:?}");
        if field == "siteId" {
            assert_eq!(
                invalid["commandId"], command_id,
                "{case}: the readable commandId is kept"
            );
        } else {
            assert!(
                invalid.get("commandId").is_none(),
                "{case}: an unusable commandId is not copied: {invalid}"
            );
        }
        // Nothing was written under the demo site for it.
        assert_eq!(stack.record(&site(&stack), &command_id).await, Value::Null);
    }
    // A forged key prefix never lands anywhere: no record under the forged site.
    assert_eq!(stack.record("site", "x").await, Value::Null);
}

#[tokio::test]
async fn every_broken_field_rule_gets_a_failed_record_naming_the_field() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let long = "r".repeat(10_000);
    // (JSON pointer to set, value, or None to remove; the field the message must name)
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        ("/schemaVersion", Some(json!("1")), "schemaVersion"),
        ("/schemaVersion", Some(json!(true)), "schemaVersion"),
        ("/schemaVersion", Some(json!(2)), "schemaVersion"),
        ("/schemaVersion", Some(json!(0)), "schemaVersion"),
        ("/schemaVersion", Some(json!(-1)), "schemaVersion"),
        ("/schemaVersion", Some(json!(1.5)), "schemaVersion"),
        ("/schemaVersion", Some(json!(null)), "schemaVersion"),
        ("/schemaVersion", Some(json!([1])), "schemaVersion"),
        (
            "/schemaVersion",
            Some(json!(18446744073709551617.0)),
            "schemaVersion",
        ),
        ("/schemaVersion", None, "schemaVersion"),
        ("/type", Some(json!(7)), "type"),
        ("/type", Some(json!(null)), "type"),
        ("/type", Some(json!("ENABLE-LOG-DELIVERY")), "type"),
        ("/type", Some(json!("enable-log-delivery ")), "type"),
        ("/type", Some(json!("re-scan")), "type"),
        ("/type", None, "type"),
        ("/imsOrgId", Some(json!("")), "imsOrgId"),
        ("/imsOrgId", Some(json!("ABC123DEF456")), "imsOrgId"),
        (
            "/imsOrgId",
            Some(json!(" ABC123DEF456@AdobeOrg")),
            "imsOrgId",
        ),
        (
            "/imsOrgId",
            Some(json!("ABC123DEF456@AdobeOrg ")),
            "imsOrgId",
        ),
        (
            "/imsOrgId",
            Some(json!("ABC123DEF456@adobeorg")),
            "imsOrgId",
        ),
        ("/imsOrgId", Some(json!("../../x@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!("a.b@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!("a:b@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!("a/b@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!("ＡBC@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!("ABC\u{0000}@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!("ABC\u{202e}@AdobeOrg")), "imsOrgId"),
        ("/imsOrgId", Some(json!(123)), "imsOrgId"),
        ("/imsOrgId", None, "imsOrgId"),
        ("/accountId", Some(json!(111122223333u64)), "accountId"),
        ("/accountId", Some(json!(" 111122223333")), "accountId"),
        ("/accountId", Some(json!("111122223333 ")), "accountId"),
        ("/accountId", Some(json!("1111-2222-3333")), "accountId"),
        ("/accountId", Some(json!("11112222333３")), "accountId"),
        ("/accountId", Some(json!("١١١١٢٢٢٢٣٣٣٣")), "accountId"),
        ("/accountId", Some(json!("+11122223333")), "accountId"),
        ("/accountId", Some(json!("0x1122223333")), "accountId"),
        ("/accountId", Some(json!("1.1122223333")), "accountId"),
        ("/accountId", Some(json!(null)), "accountId"),
        ("/accountId", Some(json!(true)), "accountId"),
        ("/accountId", None, "accountId"),
        ("/requestedBy", Some(json!(long)), "requestedBy"),
        ("/requestedBy", Some(json!(7)), "requestedBy"),
        ("/requestedBy", Some(json!("alice\u{0000}")), "requestedBy"),
        (
            "/requestedBy",
            Some(json!("alice\nadmin: approved")),
            "requestedBy",
        ),
        ("/requestedBy", Some(json!("alice\u{1b}[2J")), "requestedBy"),
        (
            "/requestedBy",
            Some(json!({"user": "alice"})),
            "requestedBy",
        ),
        ("/params", Some(json!(["E2EXAMPLE1ABCD"])), "params"),
        ("/params", Some(json!("E2EXAMPLE1ABCD")), "params"),
        ("/params", Some(json!(null)), "params"),
        ("/params", None, "params.distributionId"),
        (
            "/params/distributionId",
            Some(json!("e2example1abcd")),
            "params.distributionId",
        ),
        (
            "/params/distributionId",
            Some(json!("E2EXAMPLE1ABC#")),
            "params.distributionId",
        ),
        (
            "/params/distributionId",
            Some(json!(" E2EXAMPLE1ABC")),
            "params.distributionId",
        ),
        (
            "/params/distributionId",
            Some(json!("E2EXAMPLE1ABCDEF")),
            "params.distributionId",
        ),
        (
            "/params/distributionId",
            Some(json!("Ｅ2EXAMPLE1ABCD")),
            "params.distributionId",
        ),
        (
            "/params/distributionId",
            Some(json!(1234567890123u64)),
            "params.distributionId",
        ),
        (
            "/params/distributionId",
            Some(json!({"id": "E2EXAMPLE1ABCD"})),
            "params.distributionId",
        ),
        ("/params/distributionId", None, "params.distributionId"),
        (
            "/params/provider",
            Some(json!("CloudFront")),
            "params.provider",
        ),
        ("/params/provider", Some(json!("akamai")), "params.provider"),
        (
            "/params/provider",
            Some(json!(["cloudfront"])),
            "params.provider",
        ),
        (
            "/params/externalId",
            Some(json!("attacker-chosen")),
            "params.externalId",
        ),
        (
            "/params/roleArn",
            Some(json!("arn:aws:iam::999999999999:role/x")),
            "params.roleArn",
        ),
        ("/externalId", Some(json!("attacker-chosen")), "externalId"),
        ("/SchemaVersion", Some(json!(1)), "SchemaVersion"),
        ("/commandid", Some(json!("other")), "commandid"),
    ];
    for (pointer, value, field) in cases {
        let command_id = unique_command();
        let mut body = base(&stack, &command_id, &unique_distribution());
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        let target = target.as_object_mut().unwrap();
        match &value {
            Some(v) => {
                target.insert(key.to_owned(), v.clone());
            }
            None => {
                target.remove(key);
            }
        }
        let case = format!("{pointer} = {value:?}");
        let failed = handle_one(&consumer, &message_id(), &body.to_string()).await;
        assert!(failed.is_empty(), "{case}: acknowledged");
        let record = stack.record(&site(&stack), &command_id).await;
        assert_refused_naming(&record, field, &case);
        // A refused record copies only values that passed their rule.
        if let Some(account) = record.get("accountId") {
            assert_eq!(account, stack.var("DEMO_ACCOUNT_ID"), "{case}");
        }
        if let Some(kind) = record.get("type") {
            assert!(
                matches!(
                    kind.as_str(),
                    Some(
                        "enable-log-delivery"
                            | "disable-log-delivery"
                            | "rescan"
                            | "deploy-step"
                            | "plan-deploy"
                            | "discover"
                    )
                ),
                "{case}: the record's type is one the contract names: {record}"
            );
        }
        let mut texts = Vec::new();
        strings(&record, &mut texts);
        for text in texts {
            assert!(!has_control(&text), "{case}: {text:?} in {record}");
            assert!(
                text.chars().count() <= 1024,
                "{case}: unbounded text in the record"
            );
        }
    }
}

#[tokio::test]
async fn records_keep_no_control_characters_or_unbounded_producer_text() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let hostile_type = format!(
        "enable-log-delivery\u{0}\u{1b}[2J\r\n{}",
        "t".repeat(10_000)
    );
    let hostile_key = format!("x\u{0}\u{1b}[31m\n{}", "k".repeat(10_000));
    for (field, value) in [
        ("type", json!(hostile_type)),
        (hostile_key.as_str(), json!(1)),
    ] {
        let command_id = unique_command();
        let mut body = base(&stack, &command_id, &unique_distribution());
        body[field] = value;
        let failed = handle_one(&consumer, &message_id(), &body.to_string()).await;
        assert!(failed.is_empty());
        let record = stack.record(&site(&stack), &command_id).await;
        assert_eq!(record["status"], "failed");
        let mut texts = Vec::new();
        strings(&record, &mut texts);
        for text in texts {
            assert!(!has_control(&text), "{text:?} in {record}");
            assert!(text.chars().count() <= 1024, "unbounded text in {record}");
        }
    }
}

fn invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Hardening beyond the letter of the contract: `requestedBy` is "for audit lines only", and an
/// audit line whose author can reverse the text direction or start a new line misleads the
/// reader (Trojan Source). Control characters are refused today; Unicode format and separator
/// characters (U+202E, U+2066, U+200B, U+2028, U+FEFF) are not, and land in the record as they
/// are.
#[tokio::test]
async fn requested_by_with_bidi_overrides_or_line_separators_is_refused() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let mut reached = Vec::new();
    for who in [
        "alice\u{202e}nimda",
        "alice\u{2066}admin\u{2069}",
        "ali\u{200b}ce",
        "alice\u{2028}approved-by: security",
        "alice\u{feff}",
    ] {
        let command_id = unique_command();
        let mut body = base(&stack, &command_id, &unique_distribution());
        body["requestedBy"] = json!(who);
        let failed = handle_one(&consumer, &message_id(), &body.to_string()).await;
        assert!(failed.is_empty());
        let record = stack.record(&site(&stack), &command_id).await;
        let kept = record["requestedBy"].as_str().unwrap_or("");
        if kept.contains(invisible_or_bidi) {
            reached.push(format!(
                "{who:?} kept as {kept:?} (status {})",
                record["status"]
            ));
        } else if record["status"] == "failed" {
            assert_refused_naming(&record, "requestedBy", who);
        }
    }
    assert!(
        reached.is_empty(),
        "refuse them (INVALID_COMMAND naming requestedBy) or drop the invisible characters:\n{}",
        reached.join("\n")
    );
}

/// The same hardening for the producer text a refusal echoes (the unknown type, unknown field
/// names): the message for people is cleaned of control characters but not of bidi overrides.
#[tokio::test]
async fn refusal_messages_echo_no_bidi_overrides() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let mut reached = Vec::new();
    for (field, value) in [
        (
            "type",
            json!("enable-log-delivery\u{202e}yreviled-gol-elbane"),
        ),
        ("not\u{202e}eton", json!(1)),
    ] {
        let command_id = unique_command();
        let mut body = base(&stack, &command_id, &unique_distribution());
        body[field] = value;
        assert!(handle_one(&consumer, &message_id(), &body.to_string())
            .await
            .is_empty());
        let record = stack.record(&site(&stack), &command_id).await;
        assert_eq!(record["status"], "failed", "{record}");
        let message = record["error"]["message"].as_str().unwrap_or("");
        if message.contains(invisible_or_bidi) {
            reached.push(format!("{message:?}"));
        }
    }
    assert!(
        reached.is_empty(),
        "bidi characters in messages:\n{}",
        reached.join("\n")
    );
}

/// Hardening beyond the letter of the contract: a body with a duplicated key means two things to
/// two parsers (first-wins vs last-wins); serde_json silently keeps the last one, so a producer's
/// validator and this consumer can disagree on the account a command acts on. The contract
/// rejects unknown fields "so a typo never silently does nothing"; a duplicated field is the same
/// hazard and should be refused naming it.
#[tokio::test]
async fn duplicated_keys_are_refused_naming_the_field() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    for field in ["accountId", "imsOrgId", "distributionId"] {
        let command_id = unique_command();
        let distribution = unique_distribution();
        let (first, last) = match field {
            "accountId" => (r#""accountId":"999988887777","#.to_owned(), String::new()),
            "imsOrgId" => (
                r#""imsOrgId":"OTHER0RG0000@AdobeOrg","#.to_owned(),
                String::new(),
            ),
            _ => (
                String::new(),
                format!(r#","distributionId":"{}""#, unique_distribution()),
            ),
        };
        let body = format!(
            r#"{{"schemaVersion":1,"commandId":"{command_id}","type":"enable-log-delivery","siteId":"{}",{first}"imsOrgId":"{}","accountId":"{}","params":{{"distributionId":"{distribution}"{last}}}}}"#,
            stack.var("DEMO_SITE_ID"),
            stack.var("DEMO_IMS_ORG_ID"),
            stack.var("DEMO_ACCOUNT_ID"),
        );
        let failed = handle_one(&consumer, &message_id(), &body).await;
        assert!(failed.is_empty());
        let record = stack.record(&site(&stack), &command_id).await;
        assert_refused_naming(&record, field, &format!("duplicated {field}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Identity and idempotency
// ---------------------------------------------------------------------------------------------

/// Contract 1: commandId "is the idempotency key"; contract 3: PAYLOAD_MISMATCH is "a commandId
/// seen before arrived with a different payload". The record is keyed by site as well, so the
/// same commandId reused on another site with another payload is executed a second time today.
#[tokio::test]
async fn a_command_id_reused_on_another_site_with_another_payload_is_a_payload_mismatch() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let first = base(&stack, &command_id, &unique_distribution()).to_string();
    assert!(handle_one(&consumer, &message_id(), &first)
        .await
        .is_empty());
    assert_eq!(
        stack.record(&site(&stack), &command_id).await["status"],
        "succeeded"
    );

    let other_site = format!("site-other-{}", unique_suffix());
    let second_distribution = unique_distribution();
    let mut second = base(&stack, &command_id, &second_distribution);
    second["siteId"] = json!(other_site);
    let id = message_id();
    assert!(handle_one(&consumer, &id, &second.to_string())
        .await
        .is_empty());

    let invalid = stack.invalid_record(&id).await;
    let other = stack.record(&other_site, &command_id).await;
    assert_eq!(
        invalid["code"], "PAYLOAD_MISMATCH",
        "the reused commandId is refused; instead the other site got: {other}"
    );
    assert_eq!(other, Value::Null, "nothing executed for the reuse");
    assert!(stack
        .deliveries_from(&plan(&stack, &second_distribution).source_name)
        .await
        .is_empty());
}

#[tokio::test]
async fn a_refused_body_reusing_a_finished_command_id_is_a_payload_mismatch() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = base(&stack, &command_id, &unique_distribution());
    assert!(handle_one(&consumer, &message_id(), &body.to_string())
        .await
        .is_empty());
    let before = stack.record(&site(&stack), &command_id).await;
    assert_eq!(before["status"], "succeeded");

    let mut broken = body.clone();
    broken["schemaVersion"] = json!(2);
    let id = message_id();
    assert!(handle_one(&consumer, &id, &broken.to_string())
        .await
        .is_empty());
    assert_eq!(stack.record(&site(&stack), &command_id).await, before);
    let invalid = stack.invalid_record(&id).await;
    assert_eq!(invalid["code"], "PAYLOAD_MISMATCH");
    assert_eq!(invalid["commandId"], command_id.as_str());

    // The same body re-sent with other formatting and key order is the same payload: replayed.
    let reordered = format!(
        "{{ \"params\" : {{\"distributionId\":{}}},\n \"accountId\":{}, \"imsOrgId\":{}, \"siteId\":{}, \"type\":\"enable-log-delivery\", \"commandId\":\"{command_id}\", \"schemaVersion\":1 }}",
        body["params"]["distributionId"], body["accountId"], body["imsOrgId"], body["siteId"]
    );
    let id = message_id();
    assert!(handle_one(&consumer, &id, &reordered).await.is_empty());
    assert_eq!(stack.invalid_record(&id).await, Value::Null);
    assert_eq!(stack.record(&site(&stack), &command_id).await, before);
}

#[tokio::test]
async fn a_site_less_rescan_is_recorded_under_system_and_refused() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = json!({"schemaVersion": 1, "commandId": command_id, "type": "rescan",
                      "params": {"scope": "all", "heal": "yes"}});
    assert!(handle_one(&consumer, &message_id(), &body.to_string())
        .await
        .is_empty());
    let record = stack
        .table()
        .command_json(&CommandKey {
            pk: "SYSTEM".into(),
            sk: format!("CMD#{command_id}"),
        })
        .await
        .unwrap()
        .expect("a record under SYSTEM");
    assert_refused_naming(&record, "params.heal", "site-less rescan");
}

// ---------------------------------------------------------------------------------------------
// The SQS envelope: message id, receive count
// ---------------------------------------------------------------------------------------------

/// A record without a `messageId` is skipped today: not recorded, not run, not reported (it
/// cannot be), so the event source mapping deletes it and the command is lost without a trace.
/// The command record is keyed by commandId, so a valid command can still be run and recorded.
#[tokio::test]
async fn a_valid_command_without_a_message_id_is_not_lost() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let command_id = unique_command();
    let body = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    let mut message = sqs_message("unused", &body, 1);
    message.message_id = None;
    let response = consumer.handle(event(vec![message]), deadline()).await;
    assert!(
        response
            .batch_item_failures
            .iter()
            .all(|f| !f.item_identifier.is_empty()),
        "an empty itemIdentifier fails the whole batch"
    );
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(
        record["status"], "succeeded",
        "a received command is never invisible: {record}"
    );
}

#[tokio::test]
async fn an_unreadable_body_without_a_message_id_is_still_recorded() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let body = format!("not json {}", unique_suffix());
    let mut message = sqs_message("unused", &body, 1);
    message.message_id = None;
    message.receipt_handle = None;
    message.attributes.clear();
    let response = consumer.handle(event(vec![message]), deadline()).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(
        invalid_record_with_body(&stack, &body).await.is_some(),
        "the message is recorded under INVALID (under some stand-in for the missing id)"
    );
}

/// Odd `ApproximateReceiveCount` values never make a retryable failure final early, never panic,
/// and the failure is still reported for retry.
#[tokio::test]
async fn odd_receive_counts_keep_a_retryable_failure_retryable() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer_with_logs(throttled_forever()).await;
    let variants: [Option<&str>; 6] = [
        None,
        Some("0"),
        Some("-3"),
        Some("abc"),
        Some(""),
        Some("1.5"),
    ];
    let mut messages = Vec::new();
    let mut expected = Vec::new();
    for variant in variants {
        let command_id = unique_command();
        let id = message_id();
        let body = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
        let mut message = sqs_message(&id, &body, 1);
        message.attributes.remove("ApproximateReceiveCount");
        if let Some(value) = variant {
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), value.into());
        }
        messages.push(message);
        expected.push((variant, id, command_id));
    }
    let response = consumer.handle(event(messages), deadline()).await;
    let mut failed = failed_ids(&response);
    failed.sort();
    let mut ids: Vec<String> = expected.iter().map(|(_, id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(failed, ids, "every throttled message is reported for retry");
    for (variant, _, command_id) in expected {
        let record = stack.record(&site(&stack), &command_id).await;
        assert_eq!(record["status"], "running", "{variant:?}: {record}");
        assert_eq!(
            record["error"]["code"], "THROTTLED",
            "{variant:?}: {record}"
        );
        assert_eq!(record["error"]["retryable"], true, "{variant:?}");
        assert!(
            record.get("claimToken").is_none(),
            "{variant:?}: the claim is released"
        );
    }
}

/// A receive count past `u32::MAX` is past the limit, not the first delivery: today it fails to
/// parse and counts as 1, so the record never becomes RETRIES_EXHAUSTED while SQS moves the
/// message to the dead-letter queue. (Minor: SQS caps redrive at 1,000 receives.)
#[tokio::test]
async fn a_receive_count_beyond_u32_counts_as_past_the_limit() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer_with_logs(throttled_forever()).await;
    let command_id = unique_command();
    let id = message_id();
    let body = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    let mut message = sqs_message(&id, &body, 1);
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), "4294967296".into());
    let response = consumer.handle(event(vec![message]), deadline()).await;
    assert_eq!(failed_ids(&response), vec![id]);
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error"]["code"], "RETRIES_EXHAUSTED", "{record}");
}

/// Contract 2: "a late or duplicate delivery never overwrites succeeded or failed. The only way
/// back from failed is an explicit redrive of the message." A copy of the message sent before
/// the command exhausted its retries (a busy copy from `come_back_later`, or an SQS duplicate)
/// is not a redrive, yet today it runs the command again and turns `failed` into `succeeded`.
#[tokio::test]
async fn a_stale_copy_never_reruns_a_command_that_exhausted_its_retries() {
    let stack = Stack::connect().await;
    let throttled = stack.consumer_with_logs(throttled_forever()).await;
    let command_id = unique_command();
    let body = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    let sent_before = cdn_onboard::clock::epoch_millis(SystemTime::now() - Duration::from_secs(60));

    let last = throttled.config.max_receive_count;
    let mut original = sqs_message(&message_id(), &body, last);
    original
        .attributes
        .insert("SentTimestamp".into(), sent_before.to_string());
    throttled.handle(event(vec![original]), deadline()).await;
    let exhausted = stack.record(&site(&stack), &command_id).await;
    assert_eq!(
        exhausted["error"]["code"], "RETRIES_EXHAUSTED",
        "{exhausted}"
    );

    // The stale copy: another message id, sent as long ago as the original, first receive.
    let healthy = stack.consumer().await;
    let mut copy = sqs_message(&message_id(), &body, 1);
    copy.attributes
        .insert("SentTimestamp".into(), (sent_before + 1).to_string());
    let response = healthy.handle(event(vec![copy]), deadline()).await;
    assert!(
        failed_ids(&response).is_empty(),
        "a duplicate is acknowledged"
    );
    let after = stack.record(&site(&stack), &command_id).await;
    assert_eq!(after["status"], "failed", "status went backwards: {after}");
    assert_eq!(after["error"]["code"], "RETRIES_EXHAUSTED");
    assert_eq!(
        after["attempts"], exhausted["attempts"],
        "nothing ran again"
    );
}

/// The companion of the test above: a redriven message (SQS gives it a new message id and a new
/// SentTimestamp) does run an exhausted command again, as the README promises.
#[tokio::test]
async fn a_redriven_message_reruns_a_command_that_exhausted_its_retries() {
    let stack = Stack::connect().await;
    let throttled = stack.consumer_with_logs(throttled_forever()).await;
    let command_id = unique_command();
    let body = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    let sent_before = cdn_onboard::clock::epoch_millis(SystemTime::now() - Duration::from_secs(60));
    let last = throttled.config.max_receive_count;
    let mut original = sqs_message(&message_id(), &body, last);
    original
        .attributes
        .insert("SentTimestamp".into(), sent_before.to_string());
    throttled.handle(event(vec![original]), deadline()).await;
    assert_eq!(
        stack.record(&site(&stack), &command_id).await["error"]["code"],
        "RETRIES_EXHAUSTED"
    );

    tokio::time::sleep(Duration::from_millis(20)).await;
    let healthy = stack.consumer().await;
    let mut redriven = sqs_message(&message_id(), &body, 1);
    redriven.attributes.insert(
        "SentTimestamp".into(),
        cdn_onboard::clock::epoch_millis(SystemTime::now()).to_string(),
    );
    let response = healthy.handle(event(vec![redriven]), deadline()).await;
    assert!(failed_ids(&response).is_empty());
    let after = stack.record(&site(&stack), &command_id).await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert_eq!(after["attempts"], 2);
}

// ---------------------------------------------------------------------------------------------
// Concurrency and batches
// ---------------------------------------------------------------------------------------------

/// The same command in two batches handled at the same time: exactly one execution, each message
/// acknowledged (the loser sends a copy back) or reported for retry, never lost, lease released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_in_two_concurrent_batches_runs_exactly_once() {
    let stack = Stack::connect().await;
    let mut config = stack.config();
    config.busy_delay_secs = 0;
    let consumer = stack.consumer_with(config).await;
    let mut copies = 0;
    for round in 0..4 {
        let (distribution, command_id) = (unique_distribution(), unique_command());
        let body = stack.command(&command_id, "enable-log-delivery", &distribution);
        let (a, b) = (message_id(), message_id());
        let (ra, rb) = tokio::join!(
            consumer.handle(event(vec![sqs_message(&a, &body, 1)]), deadline()),
            consumer.handle(event(vec![sqs_message(&b, &body, 1)]), deadline()),
        );
        assert!(failed_ids(&ra).iter().all(|id| *id == a), "round {round}");
        assert!(failed_ids(&rb).iter().all(|id| *id == b), "round {round}");

        let record = stack.record(&site(&stack), &command_id).await;
        assert_eq!(record["status"], "succeeded", "round {round}: {record}");
        assert_eq!(
            record["attempts"], 1,
            "round {round}: executed once: {record}"
        );
        assert_eq!(
            stack
                .deliveries_from(&plan(&stack, &distribution).source_name)
                .await
                .len(),
            1,
            "round {round}"
        );
        assert!(
            lease_item(&stack, &distribution).await.is_none(),
            "round {round}: the lease is released"
        );

        // A loser that sent a copy back: the copy, delivered, is a replay that changes nothing.
        let received = consumer
            .queue
            .client
            .receive_message()
            .queue_url(&consumer.queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for copy in received.messages() {
            copies += 1;
            assert_eq!(
                copy.body(),
                Some(body.as_str()),
                "the copy is the message as sent"
            );
            let copy_id = copy.message_id().unwrap().to_owned();
            let failed = handle_one(&consumer, &copy_id, copy.body().unwrap()).await;
            assert!(failed.is_empty(), "round {round}: the copy is acknowledged");
            consumer
                .queue
                .client
                .delete_message()
                .queue_url(&consumer.queue.url)
                .receipt_handle(copy.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        let after = stack.record(&site(&stack), &command_id).await;
        assert_eq!(
            after, record,
            "round {round}: the replayed copy changed the record"
        );
    }
    // For the reader: how many losers took the send-back path rather than the replay path.
    eprintln!("copies sent back and replayed: {copies}");
}

/// As above, across two invocations (two consumers, two session caches, two queues).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_command_in_two_concurrent_invocations_runs_exactly_once() {
    let stack = Stack::connect().await;
    let (first, second) = (stack.consumer().await, stack.consumer().await);
    for round in 0..3 {
        let (distribution, command_id) = (unique_distribution(), unique_command());
        let body = stack.command(&command_id, "enable-log-delivery", &distribution);
        let (a, b) = (message_id(), message_id());
        let (ra, rb) = tokio::join!(
            first.handle(event(vec![sqs_message(&a, &body, 1)]), deadline()),
            second.handle(event(vec![sqs_message(&b, &body, 1)]), deadline()),
        );
        assert!(failed_ids(&ra).iter().all(|id| *id == a));
        assert!(failed_ids(&rb).iter().all(|id| *id == b));
        let record = stack.record(&site(&stack), &command_id).await;
        assert_eq!(record["status"], "succeeded", "round {round}: {record}");
        assert_eq!(record["attempts"], 1, "round {round}: {record}");
        assert_eq!(
            stack
                .deliveries_from(&plan(&stack, &distribution).source_name)
                .await
                .len(),
            1
        );
    }
}

/// An enable and a disable for one distribution in concurrent batches: neither fails, each
/// either ran or was sent back for later (acknowledged with a delayed copy), none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_and_disable_of_one_distribution_in_concurrent_batches_are_never_lost() {
    let stack = Stack::connect().await;
    let (first, second) = (stack.consumer().await, stack.consumer().await);
    let distribution = unique_distribution();
    let setup = unique_command();
    let body = stack.command(&setup, "enable-log-delivery", &distribution);
    assert!(handle_one(&first, &message_id(), &body).await.is_empty());

    let (disable, enable) = (unique_command(), unique_command());
    let (a, b) = (message_id(), message_id());
    let (ra, rb) = tokio::join!(
        first.handle(
            event(vec![sqs_message(
                &a,
                &stack.command(&disable, "disable-log-delivery", &distribution),
                1
            )]),
            deadline()
        ),
        second.handle(
            event(vec![sqs_message(
                &b,
                &stack.command(&enable, "enable-log-delivery", &distribution),
                1
            )]),
            deadline()
        ),
    );
    assert!(failed_ids(&ra).is_empty() && failed_ids(&rb).is_empty());
    let mut ran = 0;
    for (command_id, consumer) in [(&disable, &first), (&enable, &second)] {
        let record = stack.record(&site(&stack), command_id).await;
        match record["status"].as_str() {
            Some("succeeded") => ran += 1,
            Some("accepted") => {
                assert_eq!(record["attempts"], 0);
                assert_eq!(
                    delayed_on_queue(consumer).await,
                    1,
                    "a copy comes back later"
                );
            }
            other => panic!("{command_id}: {other:?}: {record}"),
        }
    }
    assert!(ran >= 1, "one of them ran");
    assert!(lease_item(&stack, &distribution).await.is_none());
}

/// Ten commands for one distribution in one batch run one after the other in batch order.
#[tokio::test]
async fn ten_commands_for_one_distribution_in_one_batch_run_in_batch_order() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let distribution = unique_distribution();
    let mut commands = Vec::new();
    let mut messages = Vec::new();
    for i in 0..10 {
        let kind = if i % 2 == 0 {
            "enable-log-delivery"
        } else {
            "disable-log-delivery"
        };
        let command_id = unique_command();
        messages.push(sqs_message(
            &message_id(),
            &stack.command(&command_id, kind, &distribution),
            1,
        ));
        commands.push(command_id);
    }
    let response = consumer.handle(event(messages), deadline()).await;
    assert!(failed_ids(&response).is_empty());

    let mut previous_finish = String::new();
    for (i, command_id) in commands.iter().enumerate() {
        let record = stack.record(&site(&stack), command_id).await;
        assert_eq!(record["status"], "succeeded", "{i}: {record}");
        let expected = if i % 2 == 0 { "created" } else { "disabled" };
        assert_eq!(record["outcome"], expected, "{i}: {record}");
        assert_eq!(record["attempts"], 1);
        let finished = record["finishedAt"].as_str().unwrap().to_owned();
        assert!(finished >= previous_finish, "{i}: batch order");
        previous_finish = finished;
    }
    assert!(stack
        .deliveries_from(&plan(&stack, &distribution).source_name)
        .await
        .is_empty());
    assert!(lease_item(&stack, &distribution).await.is_none());
}

/// A full batch mixing eight distributions with two bodies that are not commands.
#[tokio::test]
async fn a_batch_of_many_distributions_and_garbage_is_all_acknowledged() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let mut commands = Vec::new();
    let mut messages: Vec<SqsMessage> = Vec::new();
    for _ in 0..8 {
        let (command_id, distribution) = (unique_command(), unique_distribution());
        messages.push(sqs_message(
            &message_id(),
            &stack.command(&command_id, "enable-log-delivery", &distribution),
            1,
        ));
        commands.push((command_id, distribution));
    }
    let (bad_a, bad_b) = (message_id(), message_id());
    messages.insert(3, sqs_message(&bad_a, "[[[[", 1));
    messages.push(sqs_message(
        &bad_b,
        "{\"commandId\":\"x#y\",\"siteId\":\"s\"}",
        1,
    ));
    assert_eq!(messages.len(), 10);

    let response = consumer.handle(event(messages), deadline()).await;
    assert!(failed_ids(&response).is_empty());
    for (command_id, distribution) in &commands {
        let record = stack.record(&site(&stack), command_id).await;
        assert_eq!(record["status"], "succeeded", "{record}");
        assert_eq!(
            stack
                .deliveries_from(&plan(&stack, distribution).source_name)
                .await
                .len(),
            1
        );
    }
    assert_eq!(
        stack.invalid_record(&bad_a).await["code"],
        "INVALID_COMMAND"
    );
    assert_eq!(
        stack.invalid_record(&bad_b).await["code"],
        "INVALID_COMMAND"
    );
}

// ---------------------------------------------------------------------------------------------
// Names derived from input, and what reaches logs
// ---------------------------------------------------------------------------------------------

/// `ImsOrgId::parse` says it accepts only org ids whose derived AWS names are valid, but a
/// delivery destination name is 1-60 characters of `[\w-]` (CloudWatch Logs API) and
/// `cdn-logs-<safeOrg>` passes 60 once the org name is longer than 51 characters. Such a command
/// is accepted, then fails in AWS with a validation error that classifies as INTERNAL and is
/// retried until RETRIES_EXHAUSTED. It must instead be refused up front naming imsOrgId.
#[test]
fn every_accepted_ims_org_id_yields_valid_aws_names() {
    let valid_name = |name: &str| {
        (1..=60).contains(&name.chars().count())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let mut broken = Vec::new();
    for length in [1usize, 24, 51, 52, 60, 100, 128] {
        for org in [
            format!("{}@AdobeOrg", "A".repeat(length)),
            format!(
                "{}@AdobeOrg",
                "a_b-"
                    .repeat(length)
                    .chars()
                    .take(length)
                    .collect::<String>()
            ),
        ] {
            let body = json!({
                "schemaVersion": 1, "commandId": "cmd-1", "type": "enable-log-delivery",
                "siteId": "site-1", "imsOrgId": org, "accountId": "111122223333",
                "params": {"distributionId": "E2EXAMPLE1ABCD"}
            })
            .to_string();
            match parse(&body) {
                Parsed::Valid(command) => {
                    let plan = DeliveryPlan::new(
                        &command.tenant().account_id,
                        command.action.distribution_id().unwrap(),
                        &command.tenant().ims_org_id,
                        &AccountId::parse("444455556666").unwrap(),
                    );
                    let destination = plan
                        .destination_arn
                        .rsplit_once(":delivery-destination:")
                        .map(|(_, name)| name.to_owned())
                        .unwrap_or_default();
                    if !valid_name(&destination) || !valid_name(&plan.source_name) {
                        broken.push(format!(
                            "{org} -> {destination} ({} chars)",
                            destination.len()
                        ));
                    }
                }
                Parsed::Refused { failure, .. } => {
                    assert!(
                        failure.message.contains("imsOrgId"),
                        "{org}: {}",
                        failure.message
                    )
                }
                Parsed::Unreadable { reason, .. } => panic!("{org}: unreadable: {reason}"),
            }
        }
    }
    assert!(
        broken.is_empty(),
        "accepted org ids whose delivery destination name AWS refuses:\n{}",
        broken.join("\n")
    );
}

/// Bodies are logged as sizes: no part of a body, however it is broken, reaches a log line, and
/// no part of a refused body reaches its command record or an INVALID record's reason.
#[tokio::test]
async fn no_body_content_reaches_log_lines_or_refusal_reasons() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber("cdn_onboard=trace,warn"));

    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let secret = "SENTINELwJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY";
    let mut refused_commands = Vec::new();
    let mut invalid_ids = Vec::new();

    // Not JSON at all.
    let id = message_id();
    handle_one(&consumer, &id, &format!("aws_secret_access_key={secret}\n")).await;
    invalid_ids.push(id);
    // Named commands breaking a rule, the secret in the offending value.
    for (pointer, value) in [
        ("/note", json!(secret)),
        ("/accountId", json!(secret)),
        ("/imsOrgId", json!(secret)),
        ("/requestedBy", json!(format!("{secret}\n"))),
        ("/params/distributionId", json!(secret)),
        ("/params/provider", json!(secret)),
        ("/schemaVersion", json!(secret)),
    ] {
        let command_id = unique_command();
        let mut body = base(&stack, &command_id, &unique_distribution());
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut body
        } else {
            body.pointer_mut(parent).unwrap()
        };
        target[key] = value;
        handle_one(&consumer, &message_id(), &body.to_string()).await;
        refused_commands.push(command_id);
    }
    // Unusable identity fields carrying the secret.
    for field in ["commandId", "siteId"] {
        let mut body = base(&stack, &unique_command(), &unique_distribution());
        body[field] = json!(format!("{secret} x"));
        let id = message_id();
        handle_one(&consumer, &id, &body.to_string()).await;
        invalid_ids.push(id);
    }
    // A valid command whose requestedBy is the secret: kept for audit, never logged.
    let valid = unique_command();
    let mut body = base(&stack, &valid, &unique_distribution());
    body["requestedBy"] = json!(secret);
    handle_one(&consumer, &message_id(), &body.to_string()).await;

    for command_id in &refused_commands {
        let record = stack.record(&site(&stack), command_id).await;
        assert_eq!(record["status"], "failed", "{record}");
        assert!(!record.to_string().contains("SENTINEL"), "{record}");
    }
    for id in &invalid_ids {
        let invalid = stack.invalid_record(id).await;
        assert!(
            !invalid["reason"]
                .as_str()
                .unwrap_or("")
                .contains("SENTINEL"),
            "{invalid}"
        );
    }
    assert_eq!(
        stack.record(&site(&stack), &valid).await["status"],
        "succeeded"
    );

    let lines = captured.text();
    assert!(lines.lines().count() > 5, "logs were captured: {lines}");
    assert!(
        !lines.contains("SENTINEL"),
        "a log line carries body content:\n{lines}"
    );
}

// ---------------------------------------------------------------------------------------------
// The invocation's deadline
// ---------------------------------------------------------------------------------------------

/// `Consumer::handle` says `deadline` "is when the invocation must have answered", and claims and
/// leases end there. A batch that cannot finish in time keeps starting messages past the deadline
/// today: in Lambda the function is then killed, no partial response is sent, and every message
/// of the batch (finished ones included) comes back and burns a receive; in the worker, commands
/// run on under a lease and a claim that have already expired, so another worker may take the
/// same distribution or command at the same time. A message not started in time must be handed
/// back (reported for retry, or sent back with a delay) and `handle` must answer by its deadline.
#[tokio::test]
async fn a_batch_answers_by_its_deadline_and_starts_nothing_after_it() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let distribution = unique_distribution();
    let mut commands = Vec::new();
    let mut messages = Vec::new();
    for _ in 0..10 {
        let (command_id, id) = (unique_command(), message_id());
        messages.push(sqs_message(
            &id,
            &stack.command(&command_id, "enable-log-delivery", &distribution),
            1,
        ));
        commands.push((command_id, id));
    }
    let deadline = SystemTime::now() + Duration::from_millis(200);
    let response = consumer.handle(event(messages), deadline).await;
    let answered = SystemTime::now();
    let failed = failed_ids(&response);

    let late = answered.duration_since(deadline).unwrap_or(Duration::ZERO);
    let mut started_late = Vec::new();
    for (command_id, id) in &commands {
        let record = stack.record(&site(&stack), command_id).await;
        let handed_back = failed.contains(id)
            || record.is_null()
            || (record["attempts"] == 0 && record["status"] != "succeeded");
        if !handed_back {
            started_late.push(format!(
                "{id}: {} (updated {})",
                record["status"], record["updatedAt"]
            ));
        }
    }
    assert!(
        late <= Duration::from_millis(500),
        "handle answered {late:?} after its deadline; messages run to completion instead of \
         being handed back: {started_late:?}"
    );
}

/// The same, in its plainest form: a batch whose deadline has already passed claims nothing and
/// runs nothing; every message is handed back untouched.
#[tokio::test]
async fn a_batch_past_its_deadline_runs_nothing() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let (command_id, id) = (unique_command(), message_id());
    let body = stack.command(&command_id, "enable-log-delivery", &unique_distribution());
    let past = SystemTime::now() - Duration::from_secs(1);
    let response = consumer
        .handle(event(vec![sqs_message(&id, &body, 1)]), past)
        .await;
    let record = stack.record(&site(&stack), &command_id).await;
    let reported = failed_ids(&response) == vec![id.clone()];
    let sent_back = failed_ids(&response).is_empty() && delayed_on_queue(&consumer).await == 1;
    assert!(
        reported || sent_back,
        "handed back (reported for retry or sent back); got {:?} and {record}",
        failed_ids(&response)
    );
    assert!(
        record == Value::Null || record["attempts"] == 0,
        "nothing ran past the deadline: {record}"
    );
}

/// SQS message ids are short UUIDs, but the consumer keys INVALID records by whatever id the
/// event carries; one past DynamoDB's 1,024-byte sort key limit makes the INVALID write fail on
/// every delivery, so the message is retried until the dead-letter queue without ever being
/// recorded. (Minor: SQS itself never sends such an id.)
#[tokio::test]
async fn an_oversized_message_id_never_makes_an_unreadable_body_a_poison_message() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let id = format!("{}-{}", unique_suffix(), "i".repeat(2_000));
    let body = format!("not json {}", unique_suffix());
    let failed = handle_one(&consumer, &id, &body).await;
    let recorded = invalid_record_with_body(&stack, &body).await;
    assert!(
        recorded.is_some() && failed.is_empty(),
        "recorded and acknowledged; got retry {:?}, record {recorded:?}",
        failed.iter().map(|f| f.len()).collect::<Vec<_>>()
    );
}

/// README: "A panic while handling one message is contained to that message", and contract 4:
/// "On its last allowed receive the record is marked failed with RETRIES_EXHAUSTED". A message
/// whose handling panics (any bug; here a CloudWatch Logs call that panics) is reported for retry,
/// but its record stays `running` under the dead attempt's claim on every receive, the last one
/// included: the message ends in the dead-letter queue while the UI shows it running.
#[tokio::test]
async fn a_message_that_panics_on_its_last_receive_ends_failed_not_running() {
    let stack = Stack::connect().await;
    let get = mock!(LogsClient::get_delivery_source)
        .then_http_response(|| panic!("a bug while handling the message"));
    let consumer = stack.consumer_with_logs(logs_template(&[&get])).await;
    let (command_id, distribution) = (unique_command(), unique_distribution());
    let body = stack.command(&command_id, "enable-log-delivery", &distribution);
    let id = message_id();
    let last = consumer.config.max_receive_count;
    let response = consumer
        .handle(event(vec![sqs_message(&id, &body, last)]), deadline())
        .await;
    assert_eq!(
        failed_ids(&response),
        vec![id],
        "reported, so SQS moves it to the DLQ"
    );
    let record = stack.record(&site(&stack), &command_id).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error"]["code"], "RETRIES_EXHAUSTED", "{record}");
    assert!(
        lease_item(&stack, &distribution).await.is_none(),
        "the distribution is not left leased to the dead attempt"
    );
}
