//! Routing commands through the whole consumer: records, leases and continuations on the local
//! stack (moto's DynamoDB and SQS, its STS with the trust check), the customer's CloudFront, IAM
//! and Lambda answered by the stateful mocks of `support::customer` (what moto lacks).

mod support;

use std::sync::Arc;

use cdn_onboard::consumer::Consumer;
use serde_json::{json, Value};
use support::bodies::deploy_body;
use support::capture::Captured;
use support::customer::{Customer, API_KEY};
use support::routing::CannedProber;
use support::stack::*;

/// Runs a discovery of the demo account with `distribution` in detail; its command id.
async fn discover(stack: &Stack, consumer: &Consumer, distribution: &str) -> String {
    let command_id = unique_command();
    let body = json!({
        "schemaVersion": 1, "commandId": command_id, "type": "discover",
        "siteId": stack.var("DEMO_SITE_ID"), "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"), "params": {"distributionId": distribution},
    });
    run_to_end(stack, consumer, &body).await;
    command_id
}

async fn run_to_end(stack: &Stack, consumer: &Consumer, body: &Value) -> usize {
    stack.run_to_end(consumer, &body.to_string()).await
}

fn step_statuses(record: &Value) -> Vec<(String, String)> {
    record["steps"]
        .as_array()
        .expect("a steps list")
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn step_all_deploys_through_its_waits_and_a_second_run_writes_nothing() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;

    let first = unique_command();
    let messages = run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &first, &distribution, "all"),
    )
    .await;
    assert!(
        messages > 3,
        "the waits became continuations ({messages} messages)"
    );

    let record = stack.record(stack.var("DEMO_SITE_ID"), &first).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "deployed");
    assert!(
        record.get("wait").is_none(),
        "a finished command waits for nothing"
    );
    assert!(
        step_statuses(&record)
            .iter()
            .all(|(_, status)| status == "done"),
        "{record}"
    );
    assert_eq!(record["result"]["routingDeployed"], true);
    assert_eq!(record["result"]["verified"], true);
    let writes = customer.writes();
    for write in [
        "cloudfront:UpdateDistribution",
        "cloudfront:CreateFunction",
        "cloudfront:PublishFunction",
        "iam:CreateRole",
        "lambda:CreateFunction",
        "lambda:PublishVersion",
    ] {
        assert!(writes.iter().any(|w| w == write), "{write} in {writes:?}");
    }

    let target = cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap();
    let routing = target
        .iter()
        .find(|t| t["sk"] == "ROUTING")
        .expect("a routing target record");
    assert_eq!(routing["desiredState"], "deployed");
    assert!(
        routing["lambdaVersionArn"]
            .as_str()
            .unwrap()
            .ends_with(":1"),
        "{routing}"
    );
    assert!(
        routing["gsi1pk"].as_str().unwrap().starts_with("TARGETS#"),
        "in the rescan index"
    );

    customer.clear_writes();
    let second = unique_command();
    let messages = run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &second, &distribution, "all"),
    )
    .await;
    assert_eq!(messages, 1, "nothing to wait for");
    let record = stack.record(stack.var("DEMO_SITE_ID"), &second).await;
    assert_eq!(record["outcome"], "already-deployed", "{record}");
    assert!(
        customer.writes().is_empty(),
        "the second run wrote {:?}",
        customer.writes()
    );
}

#[tokio::test]
async fn lambda_provisioning_waits_in_the_record_then_finishes() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    customer.state().iam_propagation_refusals = 0;
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let command_id = unique_command();
    let body = deploy_body(&stack, &command_id, &distribution, "lambda");

    consumer
        .handle(
            event(vec![sqs_message("m-1", &body.to_string(), 1)]),
            deadline(),
        )
        .await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "waiting", "{record}");
    assert_eq!(record["wait"]["step"], "lambda");
    assert_eq!(record["steps"][0]["status"], "in_progress");
    assert!(
        record["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("propagate"),
        "{record}"
    );
    let continuation = stack.take_messages(&consumer).await;
    assert_eq!(continuation.len(), 1, "exactly one continuation");
    assert_eq!(
        continuation[0].body.as_deref(),
        Some(body.to_string().as_str()),
        "the command as sent"
    );

    // A stale copy of the first message changes nothing while the command waits.
    consumer
        .handle(
            event(vec![sqs_message("m-dup", &body.to_string(), 1)]),
            deadline(),
        )
        .await;
    let unchanged = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(
        unchanged["version"], record["version"],
        "the stale copy was dropped"
    );
    assert!(stack.take_messages(&consumer).await.is_empty());

    let mut pending = continuation;
    for _ in 0..10 {
        if pending.is_empty() {
            break;
        }
        consumer.handle(event(pending), deadline()).await;
        pending = stack.take_messages(&consumer).await;
    }
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "created");
    assert!(record["attempts"].as_u64().unwrap() >= 3, "{record}");
    assert_eq!(customer.state().lambda.as_ref().unwrap().versions.len(), 1);
}

#[tokio::test]
async fn a_distribution_stuck_in_progress_past_its_deadline_times_out() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    customer.state().deploying_reads = u32::MAX;
    let mut consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    consumer.config.wait_timeout = std::time::Duration::from_secs(2);
    let command_id = unique_command();
    let body = deploy_body(&stack, &command_id, &distribution, "propagation");

    let mut pending = vec![sqs_message("m-1", &body.to_string(), 1)];
    let started = std::time::Instant::now();
    while !pending.is_empty() {
        assert!(started.elapsed().as_secs() < 30, "never timed out");
        consumer.handle(event(pending), deadline()).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        pending = stack.take_messages(&consumer).await;
    }
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error"]["code"], "TIMED_OUT");
    assert_eq!(record["error"]["retryable"], false);
    assert!(
        record["error"]["message"]
            .as_str()
            .unwrap()
            .contains("InProgress"),
        "{record}"
    );
    assert_eq!(record["steps"][0]["status"], "error");
}

#[tokio::test]
async fn the_api_key_reaches_no_record_and_no_log_line() {
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber("cdn_onboard=trace,warn"));
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let deploy = unique_command();
    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &deploy, &distribution, "all"),
    )
    .await;
    let mut plan = deploy_body(&stack, &unique_command(), &distribution, "all");
    plan["type"] = json!("plan-deploy");
    plan["params"].as_object_mut().unwrap().remove("step");
    let plan_id = plan["commandId"].as_str().unwrap().to_owned();
    run_to_end(&stack, &consumer, &plan).await;

    let origin_has_key = customer
        .state()
        .config
        .origins
        .iter()
        .flat_map(|o| o.items.iter())
        .flat_map(|o| {
            o.custom_headers
                .iter()
                .flat_map(|h| h.items.iter().flatten())
        })
        .any(|h| h.header_value == API_KEY);
    assert!(origin_has_key, "the key did reach the origin header");
    for command_id in [&deploy, &plan_id] {
        let record = stack.record(stack.var("DEMO_SITE_ID"), command_id).await;
        assert_eq!(record["status"], "succeeded", "{record}");
        assert!(!record.to_string().contains(API_KEY), "{record}");
    }
    let target = cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap();
    assert!(!serde_json::to_string(&target).unwrap().contains(API_KEY));
    let lines = captured.text();
    assert!(lines.contains("command succeeded"), "logs were captured");
    assert!(!lines.contains(API_KEY), "a log line carries the API key");
}

#[tokio::test]
async fn a_distribution_that_does_not_serve_the_site_is_refused_unless_allowed() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    customer.state().config.aliases = None;
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;

    let refused = unique_command();
    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &refused, &distribution, "origin"),
    )
    .await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &refused).await;
    assert_eq!(record["error"]["code"], "CONFLICT", "{record}");
    assert!(record["error"]["message"]
        .as_str()
        .unwrap()
        .contains("allowDomainMismatch"));
    assert!(customer.writes().is_empty());

    let allowed = unique_command();
    let mut body = deploy_body(&stack, &allowed, &distribution, "origin");
    body["params"]["allowDomainMismatch"] = json!(true);
    run_to_end(&stack, &consumer, &body).await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &allowed).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["domainMismatchAllowed"], true);
    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
}

#[tokio::test]
async fn plan_deploy_says_per_step_what_a_deploy_would_do() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let command_id = unique_command();
    let mut body = deploy_body(&stack, &command_id, &distribution, "all");
    body["type"] = json!("plan-deploy");
    body["params"].as_object_mut().unwrap().remove("step");
    run_to_end(&stack, &consumer, &body).await;

    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "can-proceed");
    assert_eq!(record["result"]["canProceed"], true);
    let actions: Vec<(String, String)> = record["result"]["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["step"].as_str().unwrap().to_owned(),
                p["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("origin".to_owned(), "create".to_owned()),
            ("function".to_owned(), "create".to_owned()),
            ("cache".to_owned(), "update".to_owned()),
            ("lambda".to_owned(), "create".to_owned()),
            ("associate".to_owned(), "create".to_owned()),
        ]
    );
    assert!(
        customer.writes().is_empty(),
        "a plan reads only: {:?}",
        customer.writes()
    );
}

#[tokio::test]
async fn discover_lists_the_account_and_one_distributions_routing_state() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let command_id = discover(&stack, &consumer, &distribution).await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["outcome"], "connected", "{record}");
    let result = &record["result"];
    assert_eq!(result["checks"][1]["ok"], true);
    assert_eq!(result["distributions"][0]["id"], distribution.as_str());
    assert_eq!(
        result["distribution"]["behaviors"][0]["pathPattern"],
        "Default (*)"
    );
    assert_eq!(result["distribution"]["hasEdgeOptimizeOrigin"], false);
    assert_eq!(result["distribution"]["lambda"]["exists"], false);
    assert!(customer.writes().is_empty());
}

#[tokio::test]
async fn discover_with_a_wrong_tenant_says_not_connected_and_succeeds() {
    let stack = Stack::connect().await;
    let customer = Customer::fresh_as(&unique_distribution());
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let command_id = unique_command();
    let body = json!({
        "schemaVersion": 1, "commandId": command_id, "type": "discover",
        "siteId": stack.var("DEMO_SITE_ID"), "imsOrgId": "SOMEONEELSE1@AdobeOrg",
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
    });
    run_to_end(&stack, &consumer, &body).await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "not-connected");
    assert_eq!(record["result"]["connected"], false);
    assert_eq!(record["result"]["checks"][0]["ok"], false);
}

#[test]
fn the_log_only_mock_refuses_exactly_what_only_routing_grants() {
    use cdn_onboard::permissions::{Variant, PERMISSIONS};
    let mut routing_only: Vec<&str> = PERMISSIONS
        .iter()
        .filter(|p| p.variant == Variant::LogAndRouting && !p.implied)
        .map(|p| p.action)
        .collect();
    let mut denied = support::customer::LOG_ONLY_DENIED.to_vec();
    routing_only.sort_unstable();
    denied.sort_unstable();
    assert_eq!(denied, routing_only);
}

/// A fresh customer account whose connector role is the log-only variant, and a consumer on it.
async fn log_only_customer(stack: &Stack) -> (String, Customer, Consumer) {
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let consumer = stack
        .consumer_with_customer_role(
            &customer,
            customer.log_only_templates(),
            Arc::new(CannedProber::passing()),
        )
        .await;
    (distribution, customer, consumer)
}

#[tokio::test]
async fn discover_through_a_log_only_role_lists_the_account_and_says_what_it_cannot_read() {
    let stack = Stack::connect().await;
    let (distribution, _, consumer) = log_only_customer(&stack).await;
    let command_id = discover(&stack, &consumer, &distribution).await;

    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "connected", "{record}");
    let found = &record["result"]["distribution"];
    assert_eq!(found["found"], true);
    assert_eq!(found["behaviors"][0]["pathPattern"], "Default (*)");
    for part in ["routingFunction", "lambda"] {
        assert_eq!(found[part]["readable"], false, "{part}: {found}");
        assert!(
            found[part]["detail"].as_str().unwrap().contains(':'),
            "names the missing action: {found}"
        );
    }
    assert!(!record.to_string().contains(support::mocks::RAW_AWS_TEXT));
}

#[tokio::test]
async fn a_deploy_through_a_log_only_role_fails_permission_missing_and_writes_nothing() {
    let stack = Stack::connect().await;
    let (distribution, customer, consumer) = log_only_customer(&stack).await;
    let command_id = unique_command();
    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &command_id, &distribution, "all"),
    )
    .await;

    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error"]["code"], "PERMISSION_MISSING", "{record}");
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());
    assert!(!record.to_string().contains(support::mocks::RAW_AWS_TEXT));
}

/// A distribution of the demo customer's on the emulator, serving the demo site.
async fn emulator_distribution(stack: &Stack) -> (aws_sdk_cloudfront::Client, String) {
    use aws_sdk_cloudfront::types::*;
    let cloudfront =
        aws_sdk_cloudfront::Client::new(&stack.sdk_of_account(stack.var("DEMO_ACCOUNT_ID")).await);
    let reference = unique_command();
    #[allow(deprecated)]
    let behavior = DefaultCacheBehavior::builder()
        .target_origin_id("web")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .min_ttl(0)
        .forwarded_values(
            ForwardedValues::builder()
                .query_string(false)
                .cookies(
                    CookiePreference::builder()
                        .forward(ItemSelection::None)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(&reference)
        .comment("deploy_emulator")
        .enabled(true)
        .aliases(
            Aliases::builder()
                .quantity(1)
                .items("www.example.com")
                .build()
                .unwrap(),
        )
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("web")
                        .domain_name("origin.example.com")
                        .custom_origin_config(
                            CustomOriginConfig::builder()
                                .http_port(80)
                                .https_port(443)
                                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(behavior)
        .build()
        .unwrap();
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("create a distribution on the emulator");
    let id = created.distribution.unwrap().id;
    (cloudfront, id)
}

#[tokio::test]
async fn step_all_on_the_emulator_leaves_the_customer_account_routed() {
    let stack = Stack::connect().await;
    let (cloudfront, distribution) = emulator_distribution(&stack).await;
    let mut config = stack.config();
    config.wait_delay_secs = 0;
    let mut consumer = stack.consumer_with(config).await;
    consumer.prober = Arc::new(CannedProber::passing());
    let command_id = unique_command();

    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &command_id, &distribution, "all"),
    )
    .await;

    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["outcome"], "deployed");

    // The customer account, as the emulator holds it.
    let deployed = cloudfront
        .get_distribution_config()
        .id(&distribution)
        .send()
        .await
        .unwrap()
        .distribution_config
        .unwrap();
    let origins = deployed.origins.unwrap().items;
    assert!(
        origins.iter().any(|o| o.id == "EdgeOptimize_Origin"),
        "{origins:?}"
    );
    let behavior = deployed.default_cache_behavior.unwrap();
    let functions = behavior
        .function_associations
        .and_then(|f| f.items)
        .unwrap_or_default();
    assert!(functions.iter().any(|f| f
        .function_arn
        .contains(&format!("edgeoptimize-routing-adobe-{distribution}"))));
    let lambdas = behavior
        .lambda_function_associations
        .and_then(|l| l.items)
        .unwrap_or_default();
    assert_eq!(lambdas.len(), 2, "{lambdas:?}");
    let live = cloudfront
        .get_function()
        .name(format!("edgeoptimize-routing-adobe-{distribution}"))
        .stage(aws_sdk_cloudfront::types::FunctionStage::Live)
        .send()
        .await
        .expect("the routing function is published");
    assert!(String::from_utf8_lossy(live.function_code.unwrap().as_ref()).contains("\"web\""));
    let lambda =
        aws_sdk_lambda::Client::new(&stack.sdk_of_account(stack.var("DEMO_ACCOUNT_ID")).await);
    let versions = lambda
        .list_versions_by_function()
        .function_name(format!("edgeoptimize-origin-adobe-{distribution}"))
        .send()
        .await
        .unwrap()
        .versions
        .unwrap_or_default();
    assert!(
        versions.iter().any(|v| v.version.as_deref() == Some("1")),
        "{versions:?}"
    );

    // Again, as a new command: nothing to change.
    let again = unique_command();
    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &again, &distribution, "all"),
    )
    .await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &again).await;
    assert_eq!(record["outcome"], "already-deployed", "{record}");
}
