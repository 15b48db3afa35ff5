//! Each deploy step against a mocked customer account (what the local emulator lacks: IfMatch
//! and ETags, function stages, cache policies, Lambda states): the fresh case, the converged
//! case (no write at all), and the drifted case (exactly the needed write), with the request
//! bodies checked through the account's resulting state.

mod support;

use aws_sdk_cloudfront::types::{
    CachePolicyConfig, DistributionConfig, EventType, FunctionAssociation, FunctionAssociations,
    LambdaFunctionAssociation, LambdaFunctionAssociations,
};
use cdn_onboard::edge::code::routing_function;
use cdn_onboard::edge::names::{
    API_KEY_HEADER, CACHE_KEY_HEADERS, FORWARDED_HOST_HEADER, ORIGIN_ID,
};
use cdn_onboard::error::ErrorCode;
use cdn_onboard::routing::deploy::run_step;
use cdn_onboard::routing::lambda_edge::{package_for, trust_policy};
use cdn_onboard::routing::step::{Change, Mode, Outcome};
use cdn_onboard::routing_params::StepKey;
use support::customer::*;
use support::routing::{account, context, params, CannedProber, EDGE_DOMAIN};

async fn step(customer: &Customer, step: StepKey) -> Result<Outcome, cdn_onboard::error::Failure> {
    let (account, params, prober) = (account(), params(), CannedProber::passing());
    let ctx = context(customer, &account, &params, &prober, Mode::Apply);
    run_step(&ctx, step).await
}

fn change(outcome: Outcome) -> Change {
    match outcome {
        Outcome::Done(done) => done.change,
        Outcome::Waiting { detail } => panic!("expected done, waiting: {detail}"),
    }
}

fn waiting(outcome: Outcome) -> String {
    match outcome {
        Outcome::Waiting { detail } => detail,
        Outcome::Done(done) => panic!("expected a wait, done: {}", done.detail),
    }
}

fn our_origin(config: &DistributionConfig) -> Option<aws_sdk_cloudfront::types::Origin> {
    config
        .origins
        .as_ref()
        .and_then(|o| o.items.iter().find(|o| o.id == ORIGIN_ID).cloned())
}

fn headers_of(origin: &aws_sdk_cloudfront::types::Origin) -> Vec<(String, String)> {
    origin
        .custom_headers
        .as_ref()
        .and_then(|h| h.items.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|h| (h.header_name, h.header_value))
        .collect()
}

// --- origin -----------------------------------------------------------------------------------

#[tokio::test]
async fn origin_fresh_adds_the_edge_optimize_origin_with_its_headers() {
    let customer = Customer::fresh();
    assert_eq!(
        change(step(&customer, StepKey::Origin).await.unwrap()),
        Change::Created
    );

    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
    let config = customer.state().config.clone();
    let origin = our_origin(&config).expect("the origin was added");
    assert_eq!(origin.domain_name, EDGE_DOMAIN);
    assert_eq!(
        headers_of(&origin),
        [
            (API_KEY_HEADER.to_owned(), API_KEY.to_owned()),
            (FORWARDED_HOST_HEADER.to_owned(), SITE_HOST.to_owned())
        ]
    );
    let origins = config.origins.unwrap();
    assert_eq!((origins.quantity, origins.items.len()), (2, 2));
    assert_eq!(
        origins.items[0].id, CUSTOMER_ORIGIN,
        "the customer's origin is kept first"
    );
}

#[tokio::test]
async fn origin_converged_makes_no_write() {
    let customer = Customer::fresh();
    step(&customer, StepKey::Origin).await.unwrap();
    customer.clear_writes();

    assert_eq!(
        change(step(&customer, StepKey::Origin).await.unwrap()),
        Change::Exists
    );
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());
}

#[tokio::test]
async fn origin_drifted_headers_are_healed_with_one_write() {
    let customer = Customer::fresh();
    step(&customer, StepKey::Origin).await.unwrap();
    {
        let mut state = customer.state();
        let origins = state.config.origins.as_mut().unwrap();
        let ours = origins
            .items
            .iter_mut()
            .find(|o| o.id == ORIGIN_ID)
            .unwrap();
        ours.custom_headers
            .as_mut()
            .unwrap()
            .items
            .as_mut()
            .unwrap()[0]
            .header_value = "old-key".into();
    }
    customer.clear_writes();

    assert_eq!(
        change(step(&customer, StepKey::Origin).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
    let origin = our_origin(&customer.state().config).unwrap();
    assert_eq!(headers_of(&origin)[0].1, API_KEY);
}

#[tokio::test]
async fn a_stale_etag_is_read_again_and_the_change_reapplied_keeping_theirs() {
    let customer = Customer::fresh();
    customer.state().out_of_band = Some(|config| config.comment = "edited in the console".into());

    assert_eq!(
        change(step(&customer, StepKey::Origin).await.unwrap()),
        Change::Created
    );

    let state = customer.state();
    assert_eq!(
        state.writes,
        ["cloudfront:UpdateDistribution"],
        "one write landed"
    );
    assert_eq!(
        state.config.comment, "edited in the console",
        "their change is kept"
    );
    let origins = state.config.origins.as_ref().unwrap();
    assert_eq!(
        origins.items.iter().filter(|o| o.id == ORIGIN_ID).count(),
        1,
        "exactly one Edge Optimize origin"
    );
    assert_eq!(state.etag, 3, "written under the fresh ETag");
}

#[tokio::test]
async fn origin_on_the_edge_domain_under_another_id_is_refused() {
    let customer = Customer::fresh();
    customer
        .state()
        .config
        .origins
        .as_mut()
        .unwrap()
        .items
        .push(
            aws_sdk_cloudfront::types::Origin::builder()
                .id("eo-by-hand")
                .domain_name(EDGE_DOMAIN)
                .build()
                .unwrap(),
        );
    let failure = step(&customer, StepKey::Origin).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::Conflict);
    assert!(customer.writes().is_empty());
}

/// A site configuration bucket in another region answers with a redirect: the failure says which
/// setting fixes it, without S3's text.
#[tokio::test]
async fn site_configs_in_another_region_name_the_setting() {
    let customer = Customer::fresh();
    customer.state().site_config_elsewhere = true;
    let site = cdn_onboard::site::SiteBaseUrl::parse("https://www.example.com").unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let failure = customer
        .site_configs()
        .api_key(&site, deadline)
        .await
        .unwrap_err();
    assert_eq!(failure.code, ErrorCode::Internal);
    assert!(
        failure
            .message
            .contains("TOKOWAKA_SITE_CONFIG_BUCKET_REGION"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("SENTINEL"), "{}", failure.message);
}

// --- function ---------------------------------------------------------------------------------

const FUNCTION: &str = "edgeoptimize-routing-adobe-E2EXAMPLE1ABCD";

#[tokio::test]
async fn function_fresh_is_created_and_published_from_its_development_etag() {
    let customer = Customer::fresh();
    assert_eq!(
        change(step(&customer, StepKey::Function).await.unwrap()),
        Change::Created
    );

    assert_eq!(
        customer.writes(),
        ["cloudfront:CreateFunction", "cloudfront:PublishFunction"]
    );
    let state = customer.state();
    let function = &state.functions[FUNCTION];
    let expected = routing_function(CUSTOMER_ORIGIN, None);
    assert_eq!(
        function.development,
        expected.as_bytes(),
        "built from the default origin"
    );
    assert_eq!(function.live.as_deref(), Some(expected.as_bytes()));
}

#[tokio::test]
async fn function_converged_makes_no_write() {
    let customer = Customer::fresh();
    step(&customer, StepKey::Function).await.unwrap();
    customer.clear_writes();
    assert_eq!(
        change(step(&customer, StepKey::Function).await.unwrap()),
        Change::Exists
    );
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());
}

#[tokio::test]
async fn function_drifted_code_is_updated_then_published() {
    let customer = Customer::fresh();
    step(&customer, StepKey::Function).await.unwrap();
    {
        let mut state = customer.state();
        let function = state.functions.get_mut(FUNCTION).unwrap();
        function.development = b"// edited by hand".to_vec();
        function.live = Some(b"// edited by hand".to_vec());
        function.etag = 7;
    }
    customer.clear_writes();

    assert_eq!(
        change(step(&customer, StepKey::Function).await.unwrap()),
        Change::Updated
    );
    assert_eq!(
        customer.writes(),
        ["cloudfront:UpdateFunction", "cloudfront:PublishFunction"]
    );
    let expected = routing_function(CUSTOMER_ORIGIN, None);
    assert_eq!(
        customer.state().functions[FUNCTION].live.as_deref(),
        Some(expected.as_bytes())
    );
}

#[tokio::test]
async fn function_current_but_unpublished_is_only_published() {
    let customer = Customer::fresh();
    step(&customer, StepKey::Function).await.unwrap();
    customer.state().functions.get_mut(FUNCTION).unwrap().live = None;
    customer.clear_writes();

    assert_eq!(
        change(step(&customer, StepKey::Function).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["cloudfront:PublishFunction"]);
}

// --- cache ------------------------------------------------------------------------------------

fn forwarded(config: &DistributionConfig) -> (Vec<String>, Option<i64>) {
    #[allow(deprecated)]
    let behavior = config.default_cache_behavior.as_ref().unwrap();
    #[allow(deprecated)]
    let headers = behavior
        .forwarded_values
        .as_ref()
        .and_then(|f| f.headers.as_ref())
        .and_then(|h| h.items.clone())
        .unwrap_or_default();
    #[allow(deprecated)]
    let min_ttl = behavior.min_ttl;
    (headers, min_ttl)
}

#[tokio::test]
async fn cache_legacy_fresh_adds_both_headers() {
    let customer = Customer::fresh();
    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
    let (headers, _) = forwarded(&customer.state().config);
    assert_eq!(
        headers,
        ["Host", CACHE_KEY_HEADERS[0], CACHE_KEY_HEADERS[1]]
    );
    let behavior = customer
        .state()
        .config
        .default_cache_behavior
        .clone()
        .unwrap();
    assert!(behavior.cache_policy_id.is_none(), "legacy stays legacy");
}

#[tokio::test]
async fn cache_legacy_converged_makes_no_write() {
    let customer = Customer::with(distribution_config(legacy_behavior(
        &["Host", CACHE_KEY_HEADERS[0], CACHE_KEY_HEADERS[1]],
        3,
    )));
    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Exists
    );
    assert!(customer.writes().is_empty());
    assert_eq!(
        forwarded(&customer.state().config).1,
        Some(3),
        "a short MinTTL is kept"
    );
}

#[tokio::test]
async fn cache_legacy_drifted_min_ttl_is_lowered_in_one_write() {
    let customer = Customer::with(distribution_config(legacy_behavior(
        &[CACHE_KEY_HEADERS[0], CACHE_KEY_HEADERS[1]],
        86_400,
    )));
    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
    assert_eq!(forwarded(&customer.state().config).1, Some(0));
}

const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

fn managed_policy() -> CachePolicyConfig {
    use aws_sdk_cloudfront::types::*;
    CachePolicyConfig::builder()
        .name("Managed-CachingOptimized")
        .comment("Policy with caching enabled")
        .min_ttl(1)
        .default_ttl(86_400)
        .max_ttl(31_536_000)
        .parameters_in_cache_key_and_forwarded_to_origin(
            ParametersInCacheKeyAndForwardedToOrigin::builder()
                .enable_accept_encoding_gzip(true)
                .enable_accept_encoding_brotli(true)
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

fn behavior_policy(customer: &Customer) -> Option<String> {
    customer
        .state()
        .config
        .default_cache_behavior
        .as_ref()
        .unwrap()
        .cache_policy_id
        .clone()
}

#[tokio::test]
async fn cache_managed_policy_is_cloned_once_and_reused() {
    let customer = Customer::with(distribution_config(policy_behavior(CACHING_OPTIMIZED)));
    customer.add_policy(CACHING_OPTIMIZED, managed_policy(), true);

    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Created
    );
    assert_eq!(
        customer.writes(),
        [
            "cloudfront:CreateCachePolicy",
            "cloudfront:UpdateDistribution"
        ]
    );
    let clone_id = behavior_policy(&customer).unwrap();
    {
        let state = customer.state();
        let clone = &state.policies[&clone_id];
        assert_eq!(clone.config.name, "CachingOptimized-adobe-E2EXAMPLE1ABCD");
        assert_eq!(clone.config.min_ttl, 1, "a MinTTL up to 5 s is kept");
        assert_eq!(
            clone.config.default_ttl,
            Some(86_400),
            "the source's TTLs are copied"
        );
        let headers = clone
            .config
            .parameters_in_cache_key_and_forwarded_to_origin
            .as_ref()
            .unwrap()
            .headers_config
            .as_ref()
            .unwrap();
        assert_eq!(
            headers.headers.as_ref().unwrap().items.as_deref().unwrap(),
            CACHE_KEY_HEADERS
        );
        assert_eq!(
            state.policies[CACHING_OPTIMIZED].etag, 1,
            "the managed policy is untouched"
        );
    }

    // The behavior is pointed back at the managed policy (a console edit): the clone is reused.
    customer
        .state()
        .config
        .default_cache_behavior
        .as_mut()
        .unwrap()
        .cache_policy_id = Some(CACHING_OPTIMIZED.into());
    customer.clear_writes();
    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Updated
    );
    assert_eq!(
        customer.writes(),
        ["cloudfront:UpdateDistribution"],
        "no second clone"
    );
    assert_eq!(behavior_policy(&customer), Some(clone_id.clone()));

    customer.clear_writes();
    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Exists
    );
    assert!(
        customer.writes().is_empty(),
        "converged: {:?}",
        customer.writes()
    );
    assert_eq!(customer.state().policies.len(), 2);
}

#[tokio::test]
async fn cache_clone_drifted_headers_are_restored_in_place() {
    let customer = Customer::with(distribution_config(policy_behavior(CACHING_OPTIMIZED)));
    customer.add_policy(CACHING_OPTIMIZED, managed_policy(), true);
    step(&customer, StepKey::Cache).await.unwrap();
    let clone_id = behavior_policy(&customer).unwrap();
    customer
        .state()
        .policies
        .get_mut(&clone_id)
        .unwrap()
        .config
        .parameters_in_cache_key_and_forwarded_to_origin
        .as_mut()
        .unwrap()
        .headers_config = None;
    customer.clear_writes();

    assert_eq!(
        change(step(&customer, StepKey::Cache).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["cloudfront:UpdateCachePolicy"]);
}

#[tokio::test]
async fn a_header_quota_that_would_be_passed_is_limit_exceeded() {
    let mut full = managed_policy();
    full.name = "customer-policy".into();
    let headers: Vec<String> = (0..9).map(|i| format!("x-customer-{i}")).collect();
    full.parameters_in_cache_key_and_forwarded_to_origin
        .as_mut()
        .unwrap()
        .headers_config = Some(
        aws_sdk_cloudfront::types::CachePolicyHeadersConfig::builder()
            .header_behavior(aws_sdk_cloudfront::types::CachePolicyHeaderBehavior::Whitelist)
            .headers(
                aws_sdk_cloudfront::types::Headers::builder()
                    .quantity(9)
                    .set_items(Some(headers))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    let customer = Customer::with(distribution_config(policy_behavior("customer-1")));
    customer.add_policy("customer-1", full, false);

    let failure = step(&customer, StepKey::Cache).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::LimitExceeded);
    assert!(
        failure.message.contains("TooManyHeadersInCachePolicy"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("SENTINEL"), "no raw AWS text");
    assert!(customer.writes().is_empty());
    assert_eq!(behavior_policy(&customer).as_deref(), Some("customer-1"));
}

#[tokio::test]
async fn a_policy_that_disables_caching_is_refused_before_any_write() {
    let mut disabled = managed_policy();
    disabled.name = "Managed-CachingDisabled".into();
    disabled.min_ttl = 0;
    disabled.default_ttl = Some(0);
    disabled.max_ttl = Some(0);
    let customer = Customer::with(distribution_config(policy_behavior("disabled")));
    customer.add_policy("disabled", disabled, true);
    let failure = step(&customer, StepKey::Cache).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::Conflict);
    assert!(customer.writes().is_empty());
}

// --- lambda -----------------------------------------------------------------------------------

const ROLE: &str = "edgeoptimize-origin-role-adobe-E2EXAMPLE1ABCD";

#[tokio::test]
async fn lambda_fresh_creates_the_role_then_waits_for_iam_then_the_function_then_publishes() {
    let customer = Customer::fresh();

    let first = waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert!(first.contains("propagate"), "{first}");
    assert_eq!(customer.writes(), ["iam:CreateRole", "iam:PutRolePolicy"]);
    let trust: serde_json::Value = serde_json::from_str(&customer.state().roles[ROLE]).unwrap();
    assert_eq!(trust, trust_policy(), "trusts lambda and edgelambda");

    // IAM has not propagated the role yet: Lambda refuses it once.
    customer.clear_writes();
    let second = waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert!(second.contains("propagating"), "{second}");
    assert!(customer.writes().is_empty());

    let third = waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert!(third.contains("created"), "{third}");
    assert_eq!(customer.writes(), ["lambda:CreateFunction"]);

    // Pending on the next read: still waiting, nothing touched.
    customer.clear_writes();
    waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert!(customer.writes().is_empty());

    let done = step(&customer, StepKey::Lambda).await.unwrap();
    assert_eq!(customer.writes(), ["lambda:PublishVersion"]);
    let Outcome::Done(done) = done else { panic!() };
    assert_eq!(done.change, Change::Created);
    assert_eq!(done.facts["lambdaVersionArn"], lambda_arn(Some(1)));
    let state = customer.state();
    let function = state.lambda.as_ref().unwrap();
    assert_eq!(function.code_sha256, package_for(EDGE_DOMAIN).code_sha256);
    assert_eq!(
        (function.runtime.as_str(), function.memory, function.timeout),
        ("nodejs24.x", 128, 5)
    );
    assert!(function.role.ends_with(ROLE));
}

async fn deployed_lambda() -> Customer {
    let customer = Customer::fresh();
    customer.state().iam_propagation_refusals = 0;
    customer.state().provision_reads = 0;
    for _ in 0..4 {
        if let Outcome::Done(_) = step(&customer, StepKey::Lambda).await.unwrap() {
            customer.clear_writes();
            return customer;
        }
    }
    panic!("the lambda step never finished: {:?}", customer.writes());
}

#[tokio::test]
async fn lambda_converged_makes_no_write() {
    let customer = deployed_lambda().await;
    assert_eq!(
        change(step(&customer, StepKey::Lambda).await.unwrap()),
        Change::Exists
    );
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());
}

#[tokio::test]
async fn lambda_drifted_code_is_rolled_out_and_a_new_version_published() {
    // The handler changed since (a new release): the function and its version carry old code.
    let customer = deployed_lambda().await;
    {
        let mut state = customer.state();
        state.provision_reads = 1;
        let function = state.lambda.as_mut().unwrap();
        function.code_sha256 = "old-handler".into();
        function.versions[0].1 = "old-handler".into();
    }

    waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert_eq!(customer.writes(), ["lambda:UpdateFunctionCode"]);
    customer.clear_writes();
    waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert!(
        customer.writes().is_empty(),
        "no publish while the update is in progress"
    );
    assert_eq!(
        change(step(&customer, StepKey::Lambda).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["lambda:PublishVersion"]);
    assert_eq!(customer.state().lambda.as_ref().unwrap().versions.len(), 2);
}

#[tokio::test]
async fn lambda_drifted_trust_and_environment_are_healed() {
    let customer = deployed_lambda().await;
    customer.state().roles.insert(
        ROLE.into(),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#.into(),
    );
    customer
        .state()
        .lambda
        .as_mut()
        .unwrap()
        .environment
        .insert("DEBUG".into(), "1".into());

    waiting(step(&customer, StepKey::Lambda).await.unwrap());
    assert_eq!(
        customer.writes(),
        [
            "iam:UpdateAssumeRolePolicy",
            "lambda:UpdateFunctionConfiguration"
        ]
    );
    assert!(customer
        .state()
        .lambda
        .as_ref()
        .unwrap()
        .environment
        .is_empty());
}

/// A role under our role's name that the customer made (it lacks the boundary every role of
/// ours carries) is theirs: its trust is not rewritten, nor its policy, nor a function made on it.
#[tokio::test]
async fn lambda_a_customers_role_under_our_name_is_refused_untouched() {
    let customer = Customer::fresh();
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    customer.state().roles.insert(ROLE.into(), theirs.into());
    customer.state().foreign_roles.insert(ROLE.into());

    let failure = step(&customer, StepKey::Lambda).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::Conflict);
    assert!(failure.message.contains(ROLE), "{}", failure.message);
    assert!(
        failure.message.contains("rename or delete"),
        "{}",
        failure.message
    );
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());
    assert_eq!(customer.state().roles[ROLE], theirs);
}

// --- associate --------------------------------------------------------------------------------

async fn ready_for_association() -> Customer {
    let customer = deployed_lambda().await;
    step(&customer, StepKey::Origin).await.unwrap();
    step(&customer, StepKey::Function).await.unwrap();
    step(&customer, StepKey::Cache).await.unwrap();
    customer.clear_writes();
    customer
}

fn lambda_associations(config: &DistributionConfig) -> Vec<(String, EventType)> {
    config
        .default_cache_behavior
        .as_ref()
        .unwrap()
        .lambda_function_associations
        .as_ref()
        .and_then(|l| l.items.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l.lambda_function_arn, l.event_type))
        .collect()
}

#[tokio::test]
async fn associate_fresh_wires_the_function_and_the_version() {
    let customer = ready_for_association().await;
    assert_eq!(
        change(step(&customer, StepKey::Associate).await.unwrap()),
        Change::Created
    );
    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
    let config = customer.state().config.clone();
    assert_eq!(
        lambda_associations(&config),
        [
            (lambda_arn(Some(1)), EventType::OriginRequest),
            (lambda_arn(Some(1)), EventType::OriginResponse)
        ]
    );
}

#[tokio::test]
async fn associate_converged_makes_no_write() {
    let customer = ready_for_association().await;
    step(&customer, StepKey::Associate).await.unwrap();
    customer.clear_writes();
    assert_eq!(
        change(step(&customer, StepKey::Associate).await.unwrap()),
        Change::Exists
    );
    assert!(customer.writes().is_empty());
}

#[tokio::test]
async fn associate_drifted_version_is_moved_in_one_write() {
    let customer = ready_for_association().await;
    step(&customer, StepKey::Associate).await.unwrap();
    // A newer handler: the lambda step publishes version 2, associate moves to it.
    customer
        .state()
        .lambda
        .as_mut()
        .unwrap()
        .versions
        .push((2, package_for(EDGE_DOMAIN).code_sha256));
    customer.clear_writes();
    assert_eq!(
        change(step(&customer, StepKey::Associate).await.unwrap()),
        Change::Updated
    );
    assert_eq!(customer.writes(), ["cloudfront:UpdateDistribution"]);
    assert!(lambda_associations(&customer.state().config)
        .iter()
        .all(|(arn, _)| arn == &lambda_arn(Some(2))));
}

const CUSTOMER_FUNCTION: &str = "arn:aws:cloudfront::111122223333:function/security-headers";
const CUSTOMER_LAMBDA: &str = "arn:aws:lambda:us-east-1:111122223333:function:rewrite:9";

fn with_associations(
    customer: &Customer,
    functions: Vec<(&str, EventType)>,
    lambdas: Vec<(&str, EventType)>,
) {
    let mut state = customer.state();
    let behavior = state.config.default_cache_behavior.as_mut().unwrap();
    behavior.function_associations = Some(
        FunctionAssociations::builder()
            .quantity(functions.len() as i32)
            .set_items(Some(
                functions
                    .into_iter()
                    .map(|(arn, event)| {
                        FunctionAssociation::builder()
                            .function_arn(arn)
                            .event_type(event)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .build()
            .unwrap(),
    );
    behavior.lambda_function_associations = Some(
        LambdaFunctionAssociations::builder()
            .quantity(lambdas.len() as i32)
            .set_items(Some(
                lambdas
                    .into_iter()
                    .map(|(arn, event)| {
                        LambdaFunctionAssociation::builder()
                            .lambda_function_arn(arn)
                            .event_type(event)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .build()
            .unwrap(),
    );
}

#[tokio::test]
async fn a_customers_viewer_response_function_and_origin_response_lambda_are_kept() {
    let customer = ready_for_association().await;
    with_associations(
        &customer,
        vec![(CUSTOMER_FUNCTION, EventType::ViewerResponse)],
        vec![(CUSTOMER_LAMBDA, EventType::OriginResponse)],
    );
    let Outcome::Done(done) = step(&customer, StepKey::Associate).await.unwrap() else {
        panic!()
    };
    assert!(done.detail.contains(CUSTOMER_LAMBDA), "{}", done.detail);

    let config = customer.state().config.clone();
    let behavior = config.default_cache_behavior.unwrap();
    let functions = behavior.function_associations.unwrap().items.unwrap();
    assert!(functions
        .iter()
        .any(|f| f.function_arn == CUSTOMER_FUNCTION && f.event_type == EventType::ViewerResponse));
    assert!(functions
        .iter()
        .any(|f| f.event_type == EventType::ViewerRequest && f.function_arn.ends_with(FUNCTION)));
    let lambdas = lambda_associations(&customer.state().config);
    assert!(lambdas.contains(&(CUSTOMER_LAMBDA.to_owned(), EventType::OriginResponse)));
    assert!(lambdas.contains(&(lambda_arn(Some(1)), EventType::OriginRequest)));
}

#[tokio::test]
async fn a_customers_own_viewer_request_function_is_refused() {
    let customer = ready_for_association().await;
    with_associations(
        &customer,
        vec![(CUSTOMER_FUNCTION, EventType::ViewerRequest)],
        vec![],
    );
    let failure = step(&customer, StepKey::Associate).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::Conflict);
    assert!(
        failure.message.contains(CUSTOMER_FUNCTION),
        "{}",
        failure.message
    );
    assert!(customer.writes().is_empty());
}

#[tokio::test]
async fn associate_before_the_function_is_published_says_which_step_to_run() {
    let customer = deployed_lambda().await;
    step(&customer, StepKey::Origin).await.unwrap();
    step(&customer, StepKey::Cache).await.unwrap();
    let failure = step(&customer, StepKey::Associate).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::NotFound);
    assert!(
        failure.message.contains("function step"),
        "{}",
        failure.message
    );
}

// --- propagation and verify -------------------------------------------------------------------

#[tokio::test]
async fn propagation_waits_while_in_progress() {
    let customer = Customer::fresh();
    customer.state().deploying_reads = 1;
    assert!(waiting(step(&customer, StepKey::Propagation).await.unwrap()).contains("InProgress"));
    assert_eq!(
        change(step(&customer, StepKey::Propagation).await.unwrap()),
        Change::Exists
    );
}

#[tokio::test]
async fn verify_probes_the_sites_own_host_and_reports_failover_as_not_yet() {
    let customer = Customer::fresh();
    let (account, params) = (account(), params());
    let mut failover = cdn_onboard::routing::verify::Probe {
        status: 200,
        ..Default::default()
    };
    failover
        .headers
        .insert("x-edgeoptimize-fo".into(), "1".into());
    let prober = CannedProber::answering(failover);
    let ctx = context(&customer, &account, &params, &prober, Mode::Apply);
    let detail = waiting(run_step(&ctx, StepKey::Verify).await.unwrap());
    assert!(detail.contains("failover"), "{detail}");
    assert_eq!(prober.urls.lock().unwrap()[0], "https://www.example.com/");

    let passing = CannedProber::passing();
    let ctx = context(&customer, &account, &params, &passing, Mode::Apply);
    assert_eq!(
        change(run_step(&ctx, StepKey::Verify).await.unwrap()),
        Change::Exists
    );
}

#[tokio::test]
async fn verify_falls_back_to_the_distribution_domain_when_it_does_not_serve_the_site() {
    let customer = Customer::fresh();
    customer.state().config.aliases = None;
    let account = account();
    let mut params = params();
    params.allow_domain_mismatch = true;
    let prober = CannedProber::passing();
    let ctx = context(&customer, &account, &params, &prober, Mode::Apply);
    run_step(&ctx, StepKey::Verify).await.unwrap();
    assert_eq!(
        prober.urls.lock().unwrap()[0],
        "https://d111111abcdef8.cloudfront.net/"
    );
}

// --- plan -------------------------------------------------------------------------------------

#[tokio::test]
async fn planning_reads_only() {
    let customer = Customer::with(distribution_config(policy_behavior(CACHING_OPTIMIZED)));
    customer.add_policy(CACHING_OPTIMIZED, managed_policy(), true);
    let (account, params, prober) = (account(), params(), CannedProber::passing());
    let ctx = context(&customer, &account, &params, &prober, Mode::Plan);
    for step in [
        StepKey::Origin,
        StepKey::Function,
        StepKey::Cache,
        StepKey::Lambda,
        StepKey::Associate,
    ] {
        let outcome = run_step(&ctx, step).await.unwrap();
        assert_eq!(change(outcome), Change::Created, "{step:?}");
    }
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());
}
