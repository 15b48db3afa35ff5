//! `infra/cdn-onboard.yaml` agrees with the code: the queue, table and function settings match
//! the consumer's configuration defaults, and the function's environment is what
//! `Config::from_env` reads.
//!
//! The template is read through `scripts/local_stack/template.py` (PyYAML with CloudFormation's
//! short tags), from the project's `.venv`, which `scripts/test` installs.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use cdn_onboard::app::UNREPORTED_DEADLINE;
use cdn_onboard::config::{
    Config, DEFAULT_EDGE_DOMAIN, DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_RECORD_TTL_DAYS,
    DEFAULT_ROLE_NAME, DEFAULT_WAIT_TIMEOUT_SECS,
};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Value {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test (or scripts/local_stack/venv.sh) installs it",
        python.display()
    );
    let output = Command::new(python)
        .arg(repo().join("scripts/local_stack/template.py"))
        .arg(repo().join("infra/cdn-onboard.yaml"))
        .output()
        .expect("run template.py");
    assert!(
        output.status.success(),
        "template.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("template.py prints JSON")
}

fn default_of(template: &Value, parameter: &str) -> String {
    match &template["Parameters"][parameter]["Default"] {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        other => panic!("parameter {parameter} has no default: {other}"),
    }
}

fn properties<'a>(template: &'a Value, resource: &str) -> &'a Value {
    &template["Resources"][resource]["Properties"]
}

#[test]
fn the_queue_redrives_at_the_consumers_receive_count_and_outlasts_six_timeouts() {
    let template = template();
    assert_eq!(
        default_of(&template, "MaxReceiveCount"),
        DEFAULT_MAX_RECEIVE_COUNT.to_string()
    );
    let queue = properties(&template, "CommandQueue");
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"]["Ref"],
        "MaxReceiveCount"
    );
    assert_eq!(
        queue["VisibilityTimeout"]["Fn::FindInMap"][0],
        "VisibilityTimeoutByFunctionTimeout"
    );
    assert_eq!(
        queue["VisibilityTimeout"]["Fn::FindInMap"][1]["Ref"],
        "FunctionTimeoutSeconds"
    );
    let mapping = &template["Mappings"]["VisibilityTimeoutByFunctionTimeout"];
    let allowed = template["Parameters"]["FunctionTimeoutSeconds"]["AllowedValues"]
        .as_array()
        .expect("allowed function timeouts");
    for timeout in allowed {
        let timeout = timeout.as_u64().expect("a number of seconds");
        assert_eq!(
            mapping[timeout.to_string()]["Seconds"].as_u64(),
            Some(6 * timeout),
            "visibility for a {timeout} s timeout"
        );
    }
    // The consumer's own deadline when Lambda gives none is the default timeout.
    assert_eq!(
        default_of(&template, "FunctionTimeoutSeconds"),
        UNREPORTED_DEADLINE.as_secs().to_string()
    );
    let function = properties(&template, "CommandFunction");
    assert_eq!(function["Timeout"]["Ref"], "FunctionTimeoutSeconds");
}

#[test]
fn the_function_runs_on_al2023_arm64_and_reports_batch_item_failures() {
    let template = template();
    let function = properties(&template, "CommandFunction");
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Architectures"][0], "arm64");
    assert_eq!(function["Handler"], "bootstrap");
    let mapping = properties(&template, "CommandEventSource");
    assert_eq!(
        mapping["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(mapping["BatchSize"]["Ref"], "BatchSize");
    assert_eq!(
        mapping["MaximumBatchingWindowInSeconds"]["Ref"],
        "BatchingWindowSeconds"
    );
    assert_eq!(
        mapping["ScalingConfig"]["MaximumConcurrency"]["Ref"],
        "MaximumConcurrency"
    );
}

#[test]
fn the_table_has_the_keys_indexes_ttl_and_recovery_the_records_use() {
    let template = template();
    let table = properties(&template, "StateTable");
    let keys: Vec<_> = table["KeySchema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);
    let indexes: BTreeSet<_> = table["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["IndexName"].as_str().unwrap())
        .collect();
    assert_eq!(
        indexes,
        BTreeSet::from([
            cdn_onboard::targets::SHARD_INDEX,
            cdn_onboard::targets::SITE_INDEX
        ])
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        "expiresAt"
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

#[test]
fn the_parameter_defaults_are_the_configs_defaults() {
    let template = template();
    assert_eq!(
        default_of(&template, "ConnectorRoleName"),
        DEFAULT_ROLE_NAME
    );
    assert_eq!(
        default_of(&template, "EdgeOptimizeDomain"),
        DEFAULT_EDGE_DOMAIN
    );
    assert_eq!(
        default_of(&template, "WaitTimeoutSeconds"),
        DEFAULT_WAIT_TIMEOUT_SECS.to_string()
    );
    assert_eq!(
        default_of(&template, "RecordTtlDays"),
        DEFAULT_RECORD_TTL_DAYS.to_string()
    );
}

/// The function's environment with each `Ref` replaced by its parameter's default (or a
/// sample value, for parameters without one) or by the resource's name.
fn environment(template: &Value) -> Vec<(String, String)> {
    let variables = properties(template, "CommandFunction")["Environment"]["Variables"]
        .as_object()
        .expect("the function's environment");
    variables
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Object(intrinsic) => match intrinsic.get("Ref").and_then(Value::as_str) {
                    Some("LogDestinationAccountId") => "444455556666".to_owned(),
                    Some("SiteConfigBucket") => "site-configs".to_owned(),
                    Some("StateTable") => "cdn-onboard".to_owned(),
                    Some("CommandQueue") => {
                        "https://sqs.us-east-1.amazonaws.com/123456789012/cdn-onboard-commands"
                            .to_owned()
                    }
                    Some(parameter) => default_of(template, parameter),
                    None => panic!("{name} is set by an intrinsic the test does not know"),
                },
                other => panic!("{name} = {other}"),
            };
            (name.clone(), value)
        })
        .collect()
}

#[test]
fn the_functions_environment_is_a_valid_config_with_the_defaults() {
    let template = template();
    let environment = environment(&template);
    let config = Config::from_lookup(|name| {
        environment
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    })
    .expect("the template's environment is a complete, valid configuration");
    assert_eq!(config.max_receive_count, DEFAULT_MAX_RECEIVE_COUNT);
    assert_eq!(config.connector_role_name, DEFAULT_ROLE_NAME);
    assert_eq!(config.edge_domain, DEFAULT_EDGE_DOMAIN);

    // Every variable the template sets is one the configuration (or the log filter) reads.
    let config_source = std::fs::read_to_string(repo().join("src/config.rs")).unwrap();
    for (name, _) in &environment {
        assert!(
            name == "RUST_LOG" || config_source.contains(&format!("\"{name}\"")),
            "the template sets {name}, which src/config.rs never reads"
        );
    }
}

#[test]
fn the_execution_role_reaches_only_the_services_own_resources_and_connector_roles() {
    let template = template();
    let policies = properties(&template, "ExecutionRole")["Policies"]
        .as_array()
        .expect("inline policies");
    let statements: Vec<&Value> = policies
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    for statement in &statements {
        let resource = statement["Resource"].to_string();
        assert!(
            !resource.contains("\"*\""),
            "no statement on every resource: {statement}"
        );
    }
    let assume: Vec<_> = statements
        .iter()
        .filter(|s| s["Action"].to_string().contains("sts:AssumeRole"))
        .collect();
    assert_eq!(assume.len(), 1);
    assert_eq!(
        assume[0]["Resource"]["Fn::Sub"], "arn:${AWS::Partition}:iam::*:role/${ConnectorRoleName}",
        "AssumeRole only on the connector role's name, in any account"
    );
    let buckets: Vec<_> = statements
        .iter()
        .filter(|s| s["Action"].to_string().contains("s3:"))
        .map(|s| {
            (
                s["Action"].as_str().unwrap_or_default(),
                s["Resource"]["Fn::Sub"].as_str().unwrap_or_default(),
                s["Condition"]["StringLike"]["s3:prefix"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        [
            (
                "s3:GetObject",
                "arn:${AWS::Partition}:s3:::${SiteConfigBucket}/opportunities/*",
                None
            ),
            (
                "s3:ListBucket",
                "arn:${AWS::Partition}:s3:::${SiteConfigBucket}",
                Some("opportunities/*")
            ),
        ]
    );
    let role = &template["Resources"]["ExecutionRole"];
    assert_eq!(
        role["DeletionPolicy"], "Retain",
        "customers trust this very role"
    );
    assert!(role["Properties"]["RoleName"].is_object(), "a fixed name");
}

#[test]
fn the_schedule_sends_the_events_rescan_in_a_group_an_alarm_watches() {
    let template = template();
    let schedule = properties(&template, "RescanSchedule");
    let input = schedule["Target"]["Input"].as_str().expect("an input");
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/rescan-scheduled.json")).unwrap(),
    )
    .unwrap();
    let body = event["Records"][0]["body"].as_str().unwrap();
    assert_eq!(
        input.replace("<aws.scheduler.scheduled-time>", "2026-12-03T18:00:00Z"),
        body,
        "events/rescan-scheduled.json is what the schedule sends"
    );
    assert!(matches!(
        cdn_onboard::command::parse(body),
        cdn_onboard::command::Parsed::Valid(_)
    ));

    assert_eq!(schedule["GroupName"]["Ref"], "RescanScheduleGroup");
    let alarm = properties(&template, "RescanScheduleAlarm");
    assert_eq!(alarm["Namespace"], "AWS/Scheduler");
    assert_eq!(alarm["Dimensions"][0]["Name"], "ScheduleGroup");
    assert_eq!(
        alarm["Dimensions"][0]["Value"]["Ref"],
        "RescanScheduleGroup"
    );
}
