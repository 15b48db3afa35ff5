//! Hostile inputs and situations for edge routing (`deploy-step`, `plan-deploy`, `discover`),
//! its continuations and the generated edge code, from an adversarial review: each test pins
//! the behaviour a finding called for (associations only once the origin and cache key are in
//! place, failover to the routed behavior's own origin, continuation numbers that were never
//! issued dropped, records that always fit, a failed deploy still registering its target, a
//! verify that probes a targeted page, strict site hosts and targeted paths, an origin kept on
//! https, line separators escaped in the generated code).

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_cloudfront as cloudfront;
use aws_sdk_cloudfront::types::{
    Aliases, CacheBehavior, CacheBehaviors, Origin, OriginProtocolPolicy, ViewerProtocolPolicy,
};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, RuleMode};
use cdn_onboard::command::{parse, Parsed};
use cdn_onboard::consumer::Consumer;
use cdn_onboard::edge::code::routing_function;
use cdn_onboard::edge::names::ORIGIN_ID;
use cdn_onboard::routing::deploy::run_step;
use cdn_onboard::routing::step::{Change, Mode, Outcome};
use cdn_onboard::routing::verify::{Probe, Prober};
use cdn_onboard::routing_params::{Behavior, StepKey};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use support::bodies::deploy_body;
use support::customer::*;
use support::routing::{account, context, params, CannedProber};
use support::stack::*;

// --- helpers ----------------------------------------------------------------------------------

/// Handles `body`, then every continuation it puts on the queue, until none comes.
async fn run_to_end(stack: &Stack, consumer: &Consumer, body: &Value) -> usize {
    let mut pending = vec![sqs_message(&unique_command(), &body.to_string(), 1)];
    let mut handled = 0;
    let started = std::time::Instant::now();
    while !pending.is_empty() {
        handled += pending.len();
        assert!(handled < 60, "the command never settled");
        assert!(
            started.elapsed().as_secs() < 60,
            "the command never settled"
        );
        consumer.handle(event(pending), deadline()).await;
        pending = stack.take_messages(consumer).await;
    }
    handled
}

fn with_continuation(mut message: SqsMessage, seq: &str) -> SqsMessage {
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some(seq.to_owned());
    attribute.data_type = Some("Number".to_owned());
    message.message_attributes = HashMap::from([(
        cdn_onboard::queue::CONTINUATION_ATTRIBUTE.to_owned(),
        attribute,
    )]);
    message
}

/// The managed CachingDisabled policy's settings: every TTL 0.
fn caching_disabled() -> aws_sdk_cloudfront::types::CachePolicyConfig {
    use aws_sdk_cloudfront::types::*;
    CachePolicyConfig::builder()
        .name("Managed-CachingDisabled")
        .min_ttl(0)
        .default_ttl(0)
        .max_ttl(0)
        .parameters_in_cache_key_and_forwarded_to_origin(
            ParametersInCacheKeyAndForwardedToOrigin::builder()
                .enable_accept_encoding_gzip(false)
                .headers_config(
                    CachePolicyHeadersConfig::builder()
                        .header_behavior(CachePolicyHeaderBehavior::None)
                        .build()
                        .unwrap(),
                )
                .cookies_config(
                    CachePolicyCookiesConfig::builder()
                        .cookie_behavior(CachePolicyCookieBehavior::None)
                        .build()
                        .unwrap(),
                )
                .query_strings_config(
                    CachePolicyQueryStringsConfig::builder()
                        .query_string_behavior(CachePolicyQueryStringBehavior::None)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// A distribution whose default behavior uses Managed-CachingDisabled (common for dynamic
/// sites): the `cache` step refuses it with CONFLICT, after `origin` and `function` have
/// already written to the customer's account, and before anything waits.
fn customer_with_caching_disabled(distribution: &str) -> Customer {
    const DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
    let customer = Customer::of(distribution, distribution_config(policy_behavior(DISABLED)));
    customer.add_policy(DISABLED, caching_disabled(), true);
    customer
}

// --- 1. a deploy that changed the account and then failed leaves no target record -------------

#[tokio::test]
async fn a_deploy_that_changed_the_account_and_then_failed_still_registers_its_target() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = customer_with_caching_disabled(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let command_id = unique_command();
    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &command_id, &distribution, "all"),
    )
    .await;

    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error"]["code"], "CONFLICT", "{record}");
    let writes = customer.writes();
    assert!(
        writes.iter().any(|w| w == "cloudfront:UpdateDistribution")
            && writes.iter().any(|w| w == "cloudfront:PublishFunction"),
        "origin and function were written before cache refused: {writes:?}"
    );
    assert!(
        our_origin_present(&customer),
        "the Edge Optimize origin (with the site's API key) is on the distribution"
    );

    // The customer's distribution now carries our origin (with this site's API key) and our
    // published routing function: the routing target must say so, and whose site it is.
    let targets = cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap();
    assert!(
        targets.iter().any(|t| t["sk"] == "ROUTING"),
        "no ROUTING target record although the run changed the distribution: {targets:?}"
    );
}

#[tokio::test]
async fn after_such_a_failed_deploy_another_site_is_refused_the_distribution() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = customer_with_caching_disabled(&distribution);
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    run_to_end(
        &stack,
        &consumer,
        &deploy_body(&stack, &unique_command(), &distribution, "all"),
    )
    .await;
    assert!(our_origin_present(&customer));

    customer.clear_writes();
    let mut other_site = deploy_body(&stack, &unique_command(), &distribution, "origin");
    other_site["siteId"] = json!("another-site");
    let other_id = other_site["commandId"].as_str().unwrap().to_owned();
    run_to_end(&stack, &consumer, &other_site).await;
    let record = stack.record("another-site", &other_id).await;
    let targets = cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap();
    let owner = targets
        .iter()
        .find(|t| t["sk"] == "ROUTING")
        .map(|t| t["siteId"].clone());
    assert_eq!(
        record["error"]["code"],
        "CONFLICT",
        "the origin was set up by {} and another site may take it over (target now registered \
         to {owner:?}, writes {:?}): {record}",
        stack.var("DEMO_SITE_ID"),
        customer.writes()
    );
}

fn our_origin_present(customer: &Customer) -> bool {
    customer
        .state()
        .config
        .origins
        .as_ref()
        .is_some_and(|o| o.items.iter().any(|o| o.id == ORIGIN_ID))
}

// --- 2. targetedPaths without "/" can never verify --------------------------------------------

/// Answers as the deployed routing function would: an agent's request is served by Edge
/// Optimize only on a targeted path.
struct TargetedSite {
    targeted: Vec<String>,
    urls: std::sync::Mutex<Vec<String>>,
}

impl Prober for TargetedSite {
    fn probe<'a>(&'a self, url: &'a str, user_agent: &'a str, _: Duration) -> BoxFuture<'a, Probe> {
        self.urls.lock().unwrap().push(url.to_owned());
        let path = url
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or_else(|| "/".into());
        let mut probe = Probe {
            status: 200,
            ..Probe::default()
        };
        if user_agent == cdn_onboard::routing::verify::AGENT_USER_AGENT
            && self.targeted.contains(&path)
        {
            probe
                .headers
                .insert("x-edgeoptimize-request-id".into(), "r-1".into());
        }
        Box::pin(async move { probe })
    }
}

#[tokio::test]
async fn a_deploy_with_targeted_paths_that_omit_the_home_page_verifies() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    // Deploy every step with targetedPaths ["/products"] (a prober that always passes).
    let deployer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let deployed = unique_command();
    let mut body = deploy_body(&stack, &deployed, &distribution, "all");
    body["params"]["targetedPaths"] = json!(["/products"]);
    run_to_end(&stack, &deployer, &body).await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &deployed).await;
    assert_eq!(record["status"], "succeeded", "{record}");

    // Now verify against a site that answers as that routing function does: agents are served
    // by Edge Optimize on /products (the one targeted page), and by the site elsewhere.
    let site = Arc::new(TargetedSite {
        targeted: vec!["/products".into()],
        urls: Default::default(),
    });
    let mut verifier = stack.consumer_with_customer(&customer, site.clone()).await;
    verifier.config.wait_timeout = Duration::from_secs(2);
    let command_id = unique_command();
    let mut body = deploy_body(&stack, &command_id, &distribution, "verify");
    body["params"]["targetedPaths"] = json!(["/products"]);
    let mut pending = vec![sqs_message("m-verify", &body.to_string(), 1)];
    let started = std::time::Instant::now();
    while !pending.is_empty() && started.elapsed().as_secs() < 30 {
        verifier.handle(event(pending), deadline()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        pending = stack.take_messages(&verifier).await;
    }
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    let urls: std::collections::BTreeSet<_> = site.urls.lock().unwrap().iter().cloned().collect();
    assert_eq!(
        record["status"], "succeeded",
        "routing works on /products, but verify probed only {urls:?}: {}",
        record["error"]
    );
}

#[test]
fn targeted_paths_that_can_never_match_are_refused() {
    let body = |paths: Value| {
        json!({"schemaVersion":1,"commandId":"c-1","type":"deploy-step","siteId":"s-1",
            "imsOrgId":"ABC123DEF456@AdobeOrg","accountId":"111122223333",
            "params":{"distributionId":"E2EXAMPLE1ABCD","siteBaseUrl":"https://www.example.com",
                      "step":"all","targetedPaths":paths}})
        .to_string()
    };
    // [] deploys a routing function that routes nothing (TARGETED_PATHS = []), and the verify
    // step then waits for an hour; a path without a leading '/' never equals a request URI.
    for paths in [json!([]), json!(["products"]), json!(["/products.json"])] {
        match parse(&body(paths.clone())) {
            Parsed::Refused { failure, .. } => {
                assert!(
                    failure.message.contains("targetedPaths"),
                    "{paths}: {}",
                    failure.message
                )
            }
            Parsed::Valid(command) => panic!("{paths} accepted: {:?}", command.action),
            Parsed::Unreadable { reason, .. } => panic!("{paths}: {reason}"),
        }
    }
}

// --- 3. forged continuation numbers -----------------------------------------------------------

/// A deploy-step lambda waiting on IAM (continuation 1 on the queue, returned).
async fn waiting_lambda(stack: &Stack) -> (Customer, Consumer, String, Value, Vec<SqsMessage>) {
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    customer.state().iam_propagation_refusals = 0;
    let consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    let command_id = unique_command();
    let body = deploy_body(stack, &command_id, &distribution, "lambda");
    consumer
        .handle(
            event(vec![sqs_message("m-first", &body.to_string(), 1)]),
            deadline(),
        )
        .await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert_eq!(record["status"], "waiting", "{record}");
    assert_eq!(record["wait"]["seq"], 1);
    let continuation = stack.take_messages(&consumer).await;
    assert_eq!(continuation.len(), 1);
    (customer, consumer, command_id, body, continuation)
}

#[tokio::test]
async fn a_continuation_number_never_issued_does_not_resume_a_waiting_command() {
    let stack = Stack::connect().await;
    let (_customer, consumer, command_id, body, continuation) = waiting_lambda(&stack).await;
    let before = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;

    let forged = with_continuation(sqs_message("m-forged", &body.to_string(), 1), "1000000");
    let response = consumer.handle(event(vec![forged]), deadline()).await;
    assert!(failed_ids(&response).is_empty());
    let after = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    let forged_ran = after["version"] != before["version"];
    // Clean up what the forged copy queued.
    let _ = stack.take_messages(&consumer).await;

    // The one real continuation (seq 1) must still be the one that resumes the command.
    consumer.handle(event(continuation), deadline()).await;
    let resumed = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert!(
        !forged_ran,
        "a continuation numbered 1000000 (only 1 was issued) resumed the command: wait now {}",
        after["wait"]
    );
    assert_ne!(
        resumed["version"], after["version"],
        "the real continuation was dropped as 'older': {}",
        resumed["wait"]
    );
}

#[tokio::test]
async fn a_continuation_numbered_u64_max_is_not_a_poison_message() {
    let stack = Stack::connect().await;
    let (_customer, consumer, command_id, body, _continuation) = waiting_lambda(&stack).await;

    let forged = with_continuation(
        sqs_message("m-max", &body.to_string(), 1),
        &u64::MAX.to_string(),
    );
    let response = consumer.handle(event(vec![forged]), deadline()).await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert!(
        failed_ids(&response).is_empty(),
        "the message was reported for retry (seq + 1 overflowed and panicked): {record}"
    );
    assert_ne!(record["status"], "running", "{record}");
}

// --- 4. a discovery too large for one DynamoDB item ----------------------------------------------

fn many_distributions_template() -> cdn_onboard::connector::ClientTemplates {
    let list = mock!(cloudfront::Client::list_distributions).then_compute_response(|_| {
        let items: Vec<_> = (0..30)
            .map(|i| {
                let aliases: Vec<String> = (0..60)
                    .map(|a| format!("tenant-{a:03}-{}.d{i:02}.example.com", "x".repeat(210)))
                    .collect();
                cloudfront::types::DistributionSummary::builder()
                    .id(format!("E{i:013}"))
                    .arn(format!(
                        "arn:aws:cloudfront::{ACCOUNT}:distribution/E{i:013}"
                    ))
                    .status("Deployed")
                    .last_modified_time(aws_smithy_types::DateTime::from_secs(0))
                    .domain_name("d111111abcdef8.cloudfront.net")
                    .aliases(
                        Aliases::builder()
                            .quantity(aliases.len() as i32)
                            .set_items(Some(aliases))
                            .build()
                            .unwrap(),
                    )
                    .comment("a multi-tenant distribution")
                    .price_class(cloudfront::types::PriceClass::PriceClassAll)
                    .enabled(true)
                    .web_acl_id("")
                    .http_version(cloudfront::types::HttpVersion::Http2)
                    .is_ipv6_enabled(true)
                    .staging(false)
                    .build()
                    .unwrap()
            })
            .collect();
        aws_smithy_mocks::MockResponse::Output(
            cloudfront::operation::list_distributions::ListDistributionsOutput::builder()
                .distribution_list(
                    cloudfront::types::DistributionList::builder()
                        .marker("")
                        .max_items(100)
                        .is_truncated(false)
                        .quantity(items.len() as i32)
                        .set_items(Some(items))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
    });
    cdn_onboard::connector::ClientTemplates {
        cloudfront: cloudfront::Config::builder()
            .behavior_version(cloudfront::config::BehaviorVersion::latest())
            .http_client(create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::MatchAny)
                    .with_rule(&list),
            ),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_discovery_of_a_large_account_ends_with_a_final_record() {
    // 30 distributions with 60 aliases each (multi-tenant SaaS distributions): the discovery
    // result is about 450 KB, over DynamoDB's 400 KB item limit, so the final write of the
    // record fails. On DynamoDB the update fails whole, every delivery re-runs the discovery and
    // fails again, and after the last allowed receive the message sits in the dead-letter queue
    // while the record still says `running` (a store failure never becomes RETRIES_EXHAUSTED).
    // (moto applies part of the failed update, so here the second delivery finds a `succeeded`
    // record with no result and a leftover claimToken.)
    let stack = Stack::connect().await;
    let mut consumer = stack.consumer().await;
    consumer.connector = cdn_onboard::connector::Connector::new(
        aws_sdk_sts::Client::new(&stack.sdk),
        many_distributions_template(),
        consumer.config.connector_role_name.clone(),
    );
    let command_id = unique_command();
    let body = json!({
        "schemaVersion": 1, "commandId": command_id, "type": "discover",
        "siteId": stack.var("DEMO_SITE_ID"), "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
    });
    let response = consumer
        .handle(
            event(vec![sqs_message("m-discover", &body.to_string(), 1)]),
            deadline(),
        )
        .await;
    let record = stack.record(stack.var("DEMO_SITE_ID"), &command_id).await;
    assert!(
        failed_ids(&response).is_empty(),
        "the discovery ran but its ~450 KB result could not be written; the message is \
         retried (record now {}, result present: {})",
        record["status"],
        record.get("result").is_some()
    );
    assert_eq!(record["status"], "succeeded", "{record}");
    assert!(record["result"]["distributions"].is_array(), "{record}");
}

// --- 5. the origin's transport drifting to plain HTTP is not healed ---------------------------

#[tokio::test]
async fn an_edge_optimize_origin_drifted_to_plain_http_is_healed() {
    let customer = Customer::fresh();
    let (account, params, prober) = (account(), params(), CannedProber::passing());
    let ctx = context(&customer, &account, &params, &prober, Mode::Apply);
    run_step(&ctx, StepKey::Origin).await.unwrap();
    {
        let mut state = customer.state();
        let ours = state
            .config
            .origins
            .as_mut()
            .unwrap()
            .items
            .iter_mut()
            .find(|o| o.id == ORIGIN_ID)
            .unwrap();
        // Someone switches the origin to HTTP: the API key header would travel in clear text.
        ours.custom_origin_config
            .as_mut()
            .unwrap()
            .origin_protocol_policy = OriginProtocolPolicy::HttpOnly;
    }
    customer.clear_writes();
    let outcome = run_step(&ctx, StepKey::Origin).await.unwrap();
    let Outcome::Done(done) = outcome else {
        panic!("waiting")
    };
    let policy = customer
        .state()
        .config
        .origins
        .as_ref()
        .unwrap()
        .items
        .iter()
        .find(|o| o.id == ORIGIN_ID)
        .unwrap()
        .custom_origin_config
        .as_ref()
        .unwrap()
        .origin_protocol_policy
        .clone();
    assert_eq!(
        (done.change, policy),
        (Change::Updated, OriginProtocolPolicy::HttpsOnly),
        "the origin carrying the API key stays http-only: {}",
        done.detail
    );
}

// --- 6. failover for an ordered behavior goes to the default behavior's origin ----------------

#[tokio::test]
async fn routing_on_an_ordered_behavior_fails_over_to_that_behaviors_origin() {
    let mut config = distribution_config(legacy_behavior(&["Host"], 0));
    let origins = config.origins.as_mut().unwrap();
    origins.items.push(
        Origin::builder()
            .id("blog")
            .domain_name("blog-origin.example.com")
            .build()
            .unwrap(),
    );
    origins.quantity = 2;
    #[allow(deprecated)]
    let blog = CacheBehavior::builder()
        .path_pattern("/blog/*")
        .target_origin_id("blog")
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .forwarded_values(
            legacy_behavior(&["Host"], 0)
                .forwarded_values
                .clone()
                .unwrap(),
        )
        .min_ttl(0)
        .build()
        .unwrap();
    config.cache_behaviors = Some(
        CacheBehaviors::builder()
            .quantity(1)
            .items(blog)
            .build()
            .unwrap(),
    );
    let customer = Customer::with(config);
    let (account, mut params, prober) = (account(), params(), CannedProber::passing());
    params.behavior = Behavior::Path("/blog/*".into());
    let ctx = context(&customer, &account, &params, &prober, Mode::Apply);
    run_step(&ctx, StepKey::Function).await.unwrap();
    let code = customer
        .state()
        .functions
        .values()
        .next()
        .map(|f| String::from_utf8(f.development.clone()).unwrap())
        .unwrap();
    let line = code
        .lines()
        .find(|l| l.starts_with("const DEFAULT_ORIGIN_ID"))
        .unwrap()
        .to_owned();
    assert_eq!(
        line, r#"const DEFAULT_ORIGIN_ID = "blog";"#,
        "agents on /blog/* would fail over to the default behavior's origin"
    );
}

// --- 7. generated code: U+2028/U+2029 from a customer's origin id ------------------------------

#[test]
fn origin_ids_with_line_separators_stay_inside_their_string_literal() {
    // ES 5.1 (which CloudFront Functions' runtime is documented to comply with) ends a line at
    // U+2028/U+2029, so an unescaped one inside a string literal is a syntax error there.
    let code = routing_function("web\u{2028}\u{2029}", None);
    assert!(
        !code.contains('\u{2028}') && !code.contains('\u{2029}'),
        "the default origin id's U+2028/U+2029 are written raw into the routing function"
    );
}

// --- 8. siteBaseUrl hosts that are not host names ---------------------------------------------

#[test]
fn site_base_urls_whose_host_is_not_a_dns_name_are_refused() {
    for raw in [
        "https://*.example.com",
        "https://www.exa\"mple.com",
        "https://www.exa'mple.com",
        "https://a{b}.example.com",
        "https://a;b.example.com",
        "https://a`b.example.com",
        "https://.example.com",
        "https://a..example.com",
    ] {
        let parsed = cdn_onboard::site::SiteBaseUrl::parse(raw);
        assert!(
            parsed.is_err(),
            "{raw} accepted as host {:?}",
            parsed.map(|s| s.host().to_owned())
        );
    }
}

// --- 9. behavior "*" is the default behavior ----------------------------------------------------

#[test]
fn behavior_star_names_the_default_behavior() {
    let body = json!({"schemaVersion":1,"commandId":"c-1","type":"plan-deploy","siteId":"s-1",
        "imsOrgId":"ABC123DEF456@AdobeOrg","accountId":"111122223333",
        "params":{"distributionId":"E2EXAMPLE1ABCD","siteBaseUrl":"https://www.example.com",
                  "behavior":"*"}})
    .to_string();
    // Accepted as the ordered behavior "*", which no distribution has: the command then fails
    // NOT_FOUND saying "the behavior '*' does not exist on the distribution".
    let Parsed::Valid(command) = parse(&body) else {
        panic!("refused")
    };
    let cdn_onboard::command::Action::PlanDeploy { routing } = command.action else {
        panic!()
    };
    assert_eq!(routing.behavior, Behavior::Default);
}

// --- 10. associate wires routing in although the origin and the cache key are missing --------

#[tokio::test]
async fn associate_refuses_while_the_origin_or_the_cache_key_is_missing() {
    let customer = Customer::fresh();
    let (account, params, prober) = (account(), params(), CannedProber::passing());
    let ctx = context(&customer, &account, &params, &prober, Mode::Apply);
    // A producer running steps one by one skips `origin` (say it failed NOT_PROVISIONED) and
    // `cache`, and goes on with function, lambda and associate.
    run_step(&ctx, StepKey::Function).await.unwrap();
    for _ in 0..20 {
        if let Outcome::Done(_) = run_step(&ctx, StepKey::Lambda).await.unwrap() {
            break;
        }
    }
    customer.clear_writes();
    let associated = run_step(&ctx, StepKey::Associate).await;
    let behavior = customer
        .state()
        .config
        .default_cache_behavior
        .clone()
        .unwrap();
    #[allow(deprecated)]
    let cache_key = behavior
        .forwarded_values
        .as_ref()
        .and_then(|f| f.headers.as_ref())
        .and_then(|h| h.items.clone())
        .unwrap_or_default();
    assert!(
        associated.is_err(),
        "associate wired the routing function into the behavior (writes {:?}) while the \
         distribution has no {ORIGIN_ID} origin ({}) and the cache key lacks the Edge Optimize \
         headers ({cache_key:?}): agents' requests go to an origin that does not exist, and \
         agents' and people's pages share cache entries",
        customer.writes(),
        our_origin_present(&customer)
    );
}
