//! A customer account for routing tests, answered by `aws-smithy-mocks` rules that keep state:
//! one distribution, CloudFront Functions, cache policies, IAM roles and one Lambda function.
//!
//! The rules behave as AWS documents, where the local emulator does not: ETags change on every
//! write and a stale `IfMatch` is refused with `PreconditionFailed`; functions have DEVELOPMENT
//! and LIVE stages; managed cache policies cannot be edited; Lambda functions are `Pending`
//! after a create and `InProgress` after an update for a number of reads; a new role cannot be
//! passed to Lambda until IAM has propagated it. Every write is logged, so a test can tell
//! exactly which writes a command made.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_sdk_cloudfront as cloudfront;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use aws_sdk_s3 as s3;
use aws_smithy_mocks::{
    create_mock_http_client, mock, MockResponse, MockResponseInterceptor, Rule, RuleMode,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use cdn_onboard::connector::ClientTemplates;
use cloudfront::types::{
    Aliases, CachePolicy, CachePolicyConfig, CachePolicyList, CachePolicySummary, CachePolicyType,
    CookiePreference, DefaultCacheBehavior, Distribution, DistributionConfig, ForwardedValues,
    FunctionMetadata, FunctionStage, FunctionSummary, Headers, ItemSelection, Origin, Origins,
    ViewerProtocolPolicy,
};
use sha2::{Digest, Sha256};

use super::mocks::RAW_AWS_TEXT;

pub const ACCOUNT: &str = "111122223333";
pub const DISTRIBUTION: &str = "E2EXAMPLE1ABCD";
pub const CUSTOMER_ORIGIN: &str = "web";
pub const SITE_HOST: &str = "www.example.com";
pub const API_KEY: &str = "SENTINEL-EDGE-OPTIMIZE-API-KEY";

/// The actions [`Customer::log_only_templates`] refuses: what the log-and-routing connector
/// role grants beyond the log-only one (a test keeps the two lists equal).
pub const LOG_ONLY_DENIED: &[&str] = &[
    "cloudfront:UpdateDistribution",
    "cloudfront:GetFunction",
    "cloudfront:DescribeFunction",
    "cloudfront:CreateFunction",
    "cloudfront:UpdateFunction",
    "cloudfront:PublishFunction",
    "cloudfront:GetCachePolicy",
    "cloudfront:ListCachePolicies",
    "cloudfront:CreateCachePolicy",
    "cloudfront:UpdateCachePolicy",
    "iam:GetRole",
    "iam:CreateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "lambda:GetFunctionConfiguration",
    "lambda:CreateFunction",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:ListVersionsByFunction",
    "lambda:PublishVersion",
];

/// A CloudFront (REST-XML) error.
pub fn xml_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{RAW_AWS_TEXT}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// A Lambda (REST-JSON) error.
pub fn lambda_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"Type":"User","message":"{message}"}}"#);
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_owned());
    response
}

/// An S3 (REST-XML, unwrapped) error.
pub fn s3_error(status: u16, code: &str) -> HttpResponse {
    let body = format!("<Error><Code>{code}</Code><Message>{RAW_AWS_TEXT}</Message></Error>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

#[derive(Clone, Debug)]
pub struct Function {
    pub development: Vec<u8>,
    pub live: Option<Vec<u8>>,
    pub etag: u32,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub config: CachePolicyConfig,
    pub etag: u32,
    pub managed: bool,
}

#[derive(Clone, Debug)]
pub struct LambdaFunction {
    pub role: String,
    pub runtime: String,
    pub handler: String,
    pub timeout: i32,
    pub memory: i32,
    pub code_sha256: String,
    /// Reads left that report the function `Pending` (after a create).
    pub pending_reads: u32,
    /// Reads left that report the last update `InProgress`.
    pub updating_reads: u32,
    /// Published versions: number and code hash.
    pub versions: Vec<(u64, String)>,
    pub environment: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct State {
    pub distribution_id: String,
    pub config: DistributionConfig,
    pub etag: u32,
    /// Reads left that report the distribution `InProgress` after a write.
    pub deploying_reads: u32,
    /// How many reads a deployment takes after each write.
    pub deploy_reads: u32,
    /// Applied to the stored configuration just before the next UpdateDistribution, which then
    /// fails with `PreconditionFailed`: someone else edited the distribution in between.
    pub out_of_band: Option<fn(&mut DistributionConfig)>,
    pub functions: BTreeMap<String, Function>,
    pub policies: BTreeMap<String, Policy>,
    /// Headers a cache policy may hold before CloudFront refuses it.
    pub header_quota: usize,
    /// Role name -> trust policy JSON.
    pub roles: BTreeMap<String, String>,
    /// Roles the customer made themselves: without the Edge Optimize permissions boundary
    /// (every role the service creates carries it).
    pub foreign_roles: BTreeSet<String>,
    /// (role, policy name) -> policy JSON.
    pub role_policies: BTreeMap<(String, String), String>,
    /// CreateFunction calls refused as "role cannot be assumed" after a role is created.
    pub iam_propagation_refusals: u32,
    /// How many reads a Lambda create or update takes.
    pub provision_reads: u32,
    pub lambda: Option<LambdaFunction>,
    pub site_config: Option<String>,
    /// The site configuration bucket lives in another region: S3 redirects every read.
    pub site_config_elsewhere: bool,
    /// Every write, in order (`cloudfront:UpdateDistribution`, ...).
    pub writes: Vec<String>,
}

/// The customer account, and the rules that answer for it.
#[derive(Clone)]
pub struct Customer {
    pub state: Arc<Mutex<State>>,
}

pub fn legacy_behavior(forwarded_headers: &[&str], min_ttl: i64) -> DefaultCacheBehavior {
    #[allow(deprecated)]
    DefaultCacheBehavior::builder()
        .target_origin_id(CUSTOMER_ORIGIN)
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .min_ttl(min_ttl)
        .forwarded_values(
            ForwardedValues::builder()
                .query_string(false)
                .cookies(
                    CookiePreference::builder()
                        .forward(ItemSelection::None)
                        .build()
                        .unwrap(),
                )
                .headers(
                    Headers::builder()
                        .quantity(forwarded_headers.len() as i32)
                        .set_items(Some(
                            forwarded_headers.iter().map(|h| h.to_string()).collect(),
                        ))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

pub fn policy_behavior(policy_id: &str) -> DefaultCacheBehavior {
    DefaultCacheBehavior::builder()
        .target_origin_id(CUSTOMER_ORIGIN)
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id(policy_id)
        .build()
        .unwrap()
}

pub fn distribution_config(behavior: DefaultCacheBehavior) -> DistributionConfig {
    DistributionConfig::builder()
        .caller_reference("customer")
        .comment("the customer's site")
        .enabled(true)
        .aliases(
            Aliases::builder()
                .quantity(1)
                .items(SITE_HOST)
                .build()
                .unwrap(),
        )
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id(CUSTOMER_ORIGIN)
                        .domain_name("origin.example.com")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(behavior)
        .build()
        .unwrap()
}

impl Customer {
    /// A customer whose default behavior uses legacy cache settings forwarding `Host`.
    pub fn fresh() -> Self {
        Self::with(distribution_config(legacy_behavior(&["Host"], 0)))
    }

    pub fn with(config: DistributionConfig) -> Self {
        Self::of(DISTRIBUTION, config)
    }

    /// A fresh customer whose distribution is `distribution_id`.
    pub fn fresh_as(distribution_id: &str) -> Self {
        Self::of(
            distribution_id,
            distribution_config(legacy_behavior(&["Host"], 0)),
        )
    }

    /// A customer whose distribution has the id `distribution_id`.
    pub fn of(distribution_id: &str, config: DistributionConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                distribution_id: distribution_id.to_owned(),
                config,
                etag: 1,
                deploying_reads: 0,
                deploy_reads: 1,
                out_of_band: None,
                functions: BTreeMap::new(),
                policies: BTreeMap::new(),
                header_quota: 10,
                roles: BTreeMap::new(),
                foreign_roles: BTreeSet::new(),
                role_policies: BTreeMap::new(),
                iam_propagation_refusals: 1,
                provision_reads: 1,
                lambda: None,
                site_config: Some(format!(r#"{{"apiKeys":["{API_KEY}"]}}"#)),
                site_config_elsewhere: false,
                writes: Vec::new(),
            })),
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn writes(&self) -> Vec<String> {
        self.state().writes.clone()
    }

    pub fn clear_writes(&self) {
        self.state().writes.clear();
    }

    /// Adds an AWS-managed cache policy.
    pub fn add_policy(&self, id: &str, config: CachePolicyConfig, managed: bool) {
        self.state().policies.insert(
            id.to_owned(),
            Policy {
                config,
                etag: 1,
                managed,
            },
        );
    }

    /// Client templates whose CloudFront, IAM and Lambda calls this account answers.
    pub fn templates(&self) -> ClientTemplates {
        self.templates_denying(Vec::new(), Vec::new(), Vec::new())
    }

    /// Client templates of this account when its connector role is the log-only variant: each
    /// operation that role does not grant ([`LOG_ONLY_DENIED`]) is refused `AccessDenied`, as
    /// IAM refuses it, before the account sees it.
    pub fn log_only_templates(&self) -> ClientTemplates {
        macro_rules! deny {
            ($op:path, $error:expr) => {
                mock!($op).then_http_response(move || $error)
            };
        }
        let cf = || xml_error(403, "AccessDenied");
        let iam_denied = || xml_error(403, "AccessDenied");
        let lambda_denied = || lambda_error(403, "AccessDeniedException", RAW_AWS_TEXT);
        self.templates_denying(
            vec![
                deny!(cloudfront::Client::update_distribution, cf()),
                deny!(cloudfront::Client::get_function, cf()),
                deny!(cloudfront::Client::describe_function, cf()),
                deny!(cloudfront::Client::create_function, cf()),
                deny!(cloudfront::Client::update_function, cf()),
                deny!(cloudfront::Client::publish_function, cf()),
                deny!(cloudfront::Client::get_cache_policy, cf()),
                deny!(cloudfront::Client::list_cache_policies, cf()),
                deny!(cloudfront::Client::create_cache_policy, cf()),
                deny!(cloudfront::Client::update_cache_policy, cf()),
            ],
            vec![
                deny!(iam::Client::get_role, iam_denied()),
                deny!(iam::Client::create_role, iam_denied()),
                deny!(iam::Client::update_assume_role_policy, iam_denied()),
                deny!(iam::Client::get_role_policy, iam_denied()),
                deny!(iam::Client::put_role_policy, iam_denied()),
            ],
            vec![
                deny!(lambda::Client::get_function_configuration, lambda_denied()),
                deny!(lambda::Client::create_function, lambda_denied()),
                deny!(lambda::Client::update_function_code, lambda_denied()),
                deny!(
                    lambda::Client::update_function_configuration,
                    lambda_denied()
                ),
                deny!(lambda::Client::list_versions_by_function, lambda_denied()),
                deny!(lambda::Client::publish_version, lambda_denied()),
            ],
        )
    }

    fn templates_denying(
        &self,
        cloudfront_denied: Vec<Rule>,
        iam_denied: Vec<Rule>,
        lambda_denied: Vec<Rule>,
    ) -> ClientTemplates {
        let first = |mut denied: Vec<Rule>, rules: Vec<Rule>| {
            denied.extend(rules);
            denied
        };
        ClientTemplates {
            logs: aws_sdk_cloudwatchlogs::Config::builder(),
            cloudfront: cloudfront::Config::builder()
                .behavior_version(cloudfront::config::BehaviorVersion::latest())
                .http_client(create_mock_http_client())
                .interceptor(interceptor(first(
                    cloudfront_denied,
                    self.cloudfront_rules(),
                ))),
            iam: iam::Config::builder()
                .behavior_version(iam::config::BehaviorVersion::latest())
                .http_client(create_mock_http_client())
                .interceptor(interceptor(first(iam_denied, self.iam_rules()))),
            lambda: lambda::Config::builder()
                .behavior_version(lambda::config::BehaviorVersion::latest())
                .http_client(create_mock_http_client())
                .interceptor(interceptor(first(lambda_denied, self.lambda_rules()))),
        }
    }

    /// The service's own S3, holding the site configuration.
    pub fn site_configs(&self) -> cdn_onboard::routing::api_key::SiteConfigs {
        let state = self.state.clone();
        let get = mock!(s3::Client::get_object).then_compute_response(move |request| {
            let (text, elsewhere) = {
                let s = state.lock().unwrap();
                (s.site_config.clone(), s.site_config_elsewhere)
            };
            if elsewhere {
                return MockResponse::Http(s3_error(301, "PermanentRedirect"));
            }
            match (request.key(), text) {
                (Some("opportunities/example.com/config"), Some(text)) => MockResponse::Output(
                    s3::operation::get_object::GetObjectOutput::builder()
                        .content_length(text.len() as i64)
                        .body(s3::primitives::ByteStream::from(text.into_bytes()))
                        .build(),
                ),
                _ => MockResponse::Http(s3_error(404, "NoSuchKey")),
            }
        });
        cdn_onboard::routing::api_key::SiteConfigs {
            s3: super::mocks::s3_client(&[&get]),
            bucket: "site-configs".to_owned(),
        }
    }

    fn cloudfront_rules(&self) -> Vec<Rule> {
        use cloudfront::operation::*;
        let mut rules = Vec::new();

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::get_distribution).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                if request.id() != Some(s.distribution_id.as_str()) {
                    return MockResponse::Http(xml_error(404, "NoSuchDistribution"));
                }
                let status = if s.deploying_reads > 0 {
                    s.deploying_reads -= 1;
                    "InProgress"
                } else {
                    "Deployed"
                };
                MockResponse::Output(
                    get_distribution::GetDistributionOutput::builder()
                        .e_tag(format!("E{}", s.etag))
                        .distribution(distribution(&s.distribution_id, &s.config, status))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::update_distribution).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                if let Some(edit) = s.out_of_band.take() {
                    edit(&mut s.config);
                    s.etag += 1;
                    return MockResponse::Http(xml_error(412, "PreconditionFailed"));
                }
                if request.if_match() != Some(format!("E{}", s.etag).as_str()) {
                    return MockResponse::Http(xml_error(412, "PreconditionFailed"));
                }
                s.config = request
                    .distribution_config()
                    .cloned()
                    .expect("a configuration is sent");
                s.etag += 1;
                s.deploying_reads = s.deploy_reads;
                s.writes.push("cloudfront:UpdateDistribution".into());
                MockResponse::Output(
                    update_distribution::UpdateDistributionOutput::builder()
                        .e_tag(format!("E{}", s.etag))
                        .distribution(distribution(&s.distribution_id, &s.config, "InProgress"))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::get_function).then_compute_response(move |request| {
                let s = state.lock().unwrap();
                let Some(function) = request.name().and_then(|n| s.functions.get(n)) else {
                    return MockResponse::Http(xml_error(404, "NoSuchFunctionExists"));
                };
                let code = match request.stage() {
                    Some(FunctionStage::Live) => match &function.live {
                        Some(code) => code.clone(),
                        None => return MockResponse::Http(xml_error(404, "NoSuchFunctionExists")),
                    },
                    _ => function.development.clone(),
                };
                MockResponse::Output(
                    get_function::GetFunctionOutput::builder()
                        .function_code(cloudfront::primitives::Blob::new(code))
                        .e_tag(format!("F{}", function.etag))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::describe_function).then_compute_response(move |request| {
                let s = state.lock().unwrap();
                let name = request.name().unwrap_or_default().to_owned();
                let published = s.functions.get(&name).is_some_and(|f| {
                    request.stage() != Some(&FunctionStage::Live) || f.live.is_some()
                });
                if !published {
                    return MockResponse::Http(xml_error(404, "NoSuchFunctionExists"));
                }
                MockResponse::Output(
                    describe_function::DescribeFunctionOutput::builder()
                        .function_summary(function_summary(&name))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::create_function).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let name = request.name().unwrap_or_default().to_owned();
                if s.functions.contains_key(&name) {
                    return MockResponse::Http(xml_error(409, "FunctionAlreadyExists"));
                }
                let code = request
                    .function_code()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                if code.len() > 10_240 {
                    return MockResponse::Http(xml_error(413, "FunctionSizeLimitExceeded"));
                }
                s.functions.insert(
                    name.clone(),
                    Function {
                        development: code,
                        live: None,
                        etag: 1,
                    },
                );
                s.writes.push("cloudfront:CreateFunction".into());
                MockResponse::Output(
                    create_function::CreateFunctionOutput::builder()
                        .e_tag("F1")
                        .function_summary(function_summary(&name))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::update_function).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let name = request.name().unwrap_or_default().to_owned();
                let Some(function) = s.functions.get_mut(&name) else {
                    return MockResponse::Http(xml_error(404, "NoSuchFunctionExists"));
                };
                if request.if_match() != Some(format!("F{}", function.etag).as_str()) {
                    return MockResponse::Http(xml_error(412, "PreconditionFailed"));
                }
                function.development = request
                    .function_code()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                function.etag += 1;
                let etag = function.etag;
                s.writes.push("cloudfront:UpdateFunction".into());
                MockResponse::Output(
                    update_function::UpdateFunctionOutput::builder()
                        .e_tag(format!("F{etag}"))
                        .function_summary(function_summary(&name))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::publish_function).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let name = request.name().unwrap_or_default().to_owned();
                let Some(function) = s.functions.get_mut(&name) else {
                    return MockResponse::Http(xml_error(404, "NoSuchFunctionExists"));
                };
                // Publishing takes the DEVELOPMENT stage's ETag.
                if request.if_match() != Some(format!("F{}", function.etag).as_str()) {
                    return MockResponse::Http(xml_error(412, "PreconditionFailed"));
                }
                function.live = Some(function.development.clone());
                s.writes.push("cloudfront:PublishFunction".into());
                MockResponse::Output(
                    publish_function::PublishFunctionOutput::builder()
                        .function_summary(function_summary(&name))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::get_cache_policy).then_compute_response(move |request| {
                let s = state.lock().unwrap();
                let id = request.id().unwrap_or_default();
                let Some(policy) = s.policies.get(id) else {
                    return MockResponse::Http(xml_error(404, "NoSuchCachePolicy"));
                };
                MockResponse::Output(
                    get_cache_policy::GetCachePolicyOutput::builder()
                        .e_tag(format!("P{}", policy.etag))
                        .cache_policy(cache_policy(id, &policy.config))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::list_cache_policies).then_compute_response(move |request| {
                let s = state.lock().unwrap();
                let managed = request.r#type() == Some(&CachePolicyType::Managed);
                // One policy per page, to exercise the paging.
                let matching: Vec<(&String, &Policy)> = s
                    .policies
                    .iter()
                    .filter(|(_, p)| p.managed == managed)
                    .collect();
                let start: usize = request.marker().and_then(|m| m.parse().ok()).unwrap_or(0);
                let items: Vec<CachePolicySummary> = matching
                    .iter()
                    .skip(start)
                    .take(1)
                    .map(|(id, p)| {
                        CachePolicySummary::builder()
                            .r#type(if p.managed {
                                CachePolicyType::Managed
                            } else {
                                CachePolicyType::Custom
                            })
                            .cache_policy(cache_policy(id, &p.config))
                            .build()
                            .unwrap()
                    })
                    .collect();
                let next = (start + 1 < matching.len()).then(|| (start + 1).to_string());
                MockResponse::Output(
                    list_cache_policies::ListCachePoliciesOutput::builder()
                        .cache_policy_list(
                            CachePolicyList::builder()
                                .max_items(1)
                                .quantity(items.len() as i32)
                                .set_items(Some(items))
                                .set_next_marker(next)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::create_cache_policy).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let config = request
                    .cache_policy_config()
                    .cloned()
                    .expect("a policy config is sent");
                if s.policies.values().any(|p| p.config.name == config.name) {
                    return MockResponse::Http(xml_error(409, "CachePolicyAlreadyExists"));
                }
                if header_count(&config) > s.header_quota {
                    return MockResponse::Http(xml_error(400, "TooManyHeadersInCachePolicy"));
                }
                let id = format!("clone-{}", s.policies.len() + 1);
                s.policies.insert(
                    id.clone(),
                    Policy {
                        config: config.clone(),
                        etag: 1,
                        managed: false,
                    },
                );
                s.writes.push("cloudfront:CreateCachePolicy".into());
                MockResponse::Output(
                    create_cache_policy::CreateCachePolicyOutput::builder()
                        .e_tag("P1")
                        .cache_policy(cache_policy(&id, &config))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::update_cache_policy).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let quota = s.header_quota;
                let id = request.id().unwrap_or_default().to_owned();
                let Some(policy) = s.policies.get_mut(&id) else {
                    return MockResponse::Http(xml_error(404, "NoSuchCachePolicy"));
                };
                if policy.managed {
                    return MockResponse::Http(xml_error(400, "IllegalUpdate"));
                }
                if request.if_match() != Some(format!("P{}", policy.etag).as_str()) {
                    return MockResponse::Http(xml_error(412, "PreconditionFailed"));
                }
                let config = request
                    .cache_policy_config()
                    .cloned()
                    .expect("a policy config is sent");
                if header_count(&config) > quota {
                    return MockResponse::Http(xml_error(400, "TooManyHeadersInCachePolicy"));
                }
                policy.config = config.clone();
                policy.etag += 1;
                s.writes.push("cloudfront:UpdateCachePolicy".into());
                MockResponse::Output(
                    update_cache_policy::UpdateCachePolicyOutput::builder()
                        .cache_policy(cache_policy(&id, &config))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(cloudfront::Client::list_distributions).then_compute_response(move |_| {
                let s = state.lock().unwrap();
                MockResponse::Output(
                    list_distributions::ListDistributionsOutput::builder()
                        .distribution_list(
                            cloudfront::types::DistributionList::builder()
                                .marker("")
                                .max_items(100)
                                .is_truncated(false)
                                .quantity(1)
                                .items(summary(&s.distribution_id, &s.config))
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
            }),
        );
        rules
    }

    fn iam_rules(&self) -> Vec<Rule> {
        use iam::operation::*;
        let mut rules = Vec::new();

        let state = self.state.clone();
        rules.push(
            mock!(iam::Client::get_role).then_compute_response(move |request| {
                let s = state.lock().unwrap();
                let name = request.role_name().unwrap_or_default();
                match s.roles.get(name) {
                    Some(trust) => MockResponse::Output(
                        get_role::GetRoleOutput::builder()
                            .role(role(name, trust, !s.foreign_roles.contains(name)))
                            .build(),
                    ),
                    None => MockResponse::Http(super::mocks::sts_error(404, "NoSuchEntity")),
                }
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(iam::Client::create_role).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let name = request.role_name().unwrap_or_default().to_owned();
                // The connector role grants CreateRole only with its boundary on the new role.
                if request.permissions_boundary() != Some(edge_role_boundary().as_str()) {
                    return MockResponse::Http(super::mocks::sts_error(403, "AccessDenied"));
                }
                if s.roles.contains_key(&name) {
                    return MockResponse::Http(super::mocks::sts_error(409, "EntityAlreadyExists"));
                }
                let trust = request
                    .assume_role_policy_document()
                    .unwrap_or_default()
                    .to_owned();
                s.roles.insert(name.clone(), trust.clone());
                s.writes.push("iam:CreateRole".into());
                MockResponse::Output(
                    create_role::CreateRoleOutput::builder()
                        .role(role(&name, &trust, true))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(iam::Client::update_assume_role_policy).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let name = request.role_name().unwrap_or_default().to_owned();
                let document = request.policy_document().unwrap_or_default().to_owned();
                s.roles.insert(name, document);
                s.writes.push("iam:UpdateAssumeRolePolicy".into());
                MockResponse::Output(
                    update_assume_role_policy::UpdateAssumeRolePolicyOutput::builder().build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(iam::Client::get_role_policy).then_compute_response(move |request| {
                let s = state.lock().unwrap();
                let key = (
                    request.role_name().unwrap_or_default().to_owned(),
                    request.policy_name().unwrap_or_default().to_owned(),
                );
                match s.role_policies.get(&key) {
                    Some(document) => MockResponse::Output(
                        get_role_policy::GetRolePolicyOutput::builder()
                            .role_name(&key.0)
                            .policy_name(&key.1)
                            .policy_document(url_encoded(document))
                            .build()
                            .unwrap(),
                    ),
                    None => MockResponse::Http(super::mocks::sts_error(404, "NoSuchEntity")),
                }
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(iam::Client::put_role_policy).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let key = (
                    request.role_name().unwrap_or_default().to_owned(),
                    request.policy_name().unwrap_or_default().to_owned(),
                );
                s.role_policies.insert(
                    key,
                    request.policy_document().unwrap_or_default().to_owned(),
                );
                s.writes.push("iam:PutRolePolicy".into());
                MockResponse::Output(put_role_policy::PutRolePolicyOutput::builder().build())
            }),
        );
        rules
    }

    fn lambda_rules(&self) -> Vec<Rule> {
        use lambda::operation::*;
        let mut rules = Vec::new();

        let state = self.state.clone();
        rules.push(
            mock!(lambda::Client::get_function_configuration).then_compute_response(move |_| {
                let mut s = state.lock().unwrap();
                let name = format!("edgeoptimize-origin-adobe-{}", s.distribution_id);
                let Some(function) = s.lambda.as_mut() else {
                    return MockResponse::Http(lambda_error(
                        404,
                        "ResourceNotFoundException",
                        RAW_AWS_TEXT,
                    ));
                };
                let state = if function.pending_reads > 0 {
                    function.pending_reads -= 1;
                    lambda::types::State::Pending
                } else {
                    lambda::types::State::Active
                };
                let update = if function.updating_reads > 0 {
                    function.updating_reads -= 1;
                    lambda::types::LastUpdateStatus::InProgress
                } else {
                    lambda::types::LastUpdateStatus::Successful
                };
                let mut output =
                    get_function_configuration::GetFunctionConfigurationOutput::builder()
                        .function_name(name)
                        .role(&function.role)
                        .runtime(lambda::types::Runtime::from(function.runtime.as_str()))
                        .handler(&function.handler)
                        .timeout(function.timeout)
                        .memory_size(function.memory)
                        .code_sha256(&function.code_sha256)
                        .state(state)
                        .last_update_status(update);
                if !function.environment.is_empty() {
                    output = output.environment(
                        lambda::types::EnvironmentResponse::builder()
                            .set_variables(Some(function.environment.clone().into_iter().collect()))
                            .build(),
                    );
                }
                MockResponse::Output(output.build())
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(lambda::Client::create_function).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                assert!(
                    request.environment().is_none(),
                    "a Lambda@Edge function has no environment"
                );
                if s.lambda.is_some() {
                    return MockResponse::Http(lambda_error(
                        409,
                        "ResourceConflictException",
                        RAW_AWS_TEXT,
                    ));
                }
                if s.iam_propagation_refusals > 0 {
                    s.iam_propagation_refusals -= 1;
                    return MockResponse::Http(lambda_error(
                        400,
                        "InvalidParameterValueException",
                        "The role defined for the function cannot be assumed by Lambda.",
                    ));
                }
                let zip = request
                    .code()
                    .and_then(|c| c.zip_file())
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                s.lambda = Some(LambdaFunction {
                    role: request.role().unwrap_or_default().to_owned(),
                    runtime: request
                        .runtime()
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_default(),
                    handler: request.handler().unwrap_or_default().to_owned(),
                    timeout: request.timeout().unwrap_or(3),
                    memory: request.memory_size().unwrap_or(128),
                    code_sha256: code_sha256(&zip),
                    pending_reads: s.provision_reads,
                    updating_reads: 0,
                    versions: Vec::new(),
                    environment: BTreeMap::new(),
                });
                s.writes.push("lambda:CreateFunction".into());
                MockResponse::Output(
                    create_function::CreateFunctionOutput::builder()
                        .state(lambda::types::State::Pending)
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(lambda::Client::update_function_code).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let reads = s.provision_reads;
                let function = s.lambda.as_mut().expect("the function exists");
                let zip = request
                    .zip_file()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                function.code_sha256 = code_sha256(&zip);
                function.updating_reads = reads;
                s.writes.push("lambda:UpdateFunctionCode".into());
                MockResponse::Output(
                    update_function_code::UpdateFunctionCodeOutput::builder().build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(lambda::Client::update_function_configuration).then_compute_response(
                move |request| {
                    let mut s = state.lock().unwrap();
                    let reads = s.provision_reads;
                    let function = s.lambda.as_mut().expect("the function exists");
                    function.role = request.role().unwrap_or_default().to_owned();
                    function.runtime = request
                        .runtime()
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_default();
                    function.handler = request.handler().unwrap_or_default().to_owned();
                    function.timeout = request.timeout().unwrap_or(3);
                    function.memory = request.memory_size().unwrap_or(128);
                    function.environment = request
                        .environment()
                        .and_then(|e| e.variables())
                        .map(|v| v.clone().into_iter().collect())
                        .unwrap_or_default();
                    function.updating_reads = reads;
                    s.writes.push("lambda:UpdateFunctionConfiguration".into());
                    MockResponse::Output(
                        update_function_configuration::UpdateFunctionConfigurationOutput::builder()
                            .build(),
                    )
                },
            ),
        );

        let state = self.state.clone();
        rules.push(
            mock!(lambda::Client::list_versions_by_function).then_compute_response(move |_| {
                let s = state.lock().unwrap();
                let id = s.distribution_id.clone();
                let Some(function) = &s.lambda else {
                    return MockResponse::Http(lambda_error(
                        404,
                        "ResourceNotFoundException",
                        RAW_AWS_TEXT,
                    ));
                };
                let mut versions = vec![lambda::types::FunctionConfiguration::builder()
                    .version("$LATEST")
                    .function_arn(lambda_arn_of(&id, None))
                    .code_sha256(&function.code_sha256)
                    .build()];
                versions.extend(function.versions.iter().map(|(n, sha)| {
                    lambda::types::FunctionConfiguration::builder()
                        .version(n.to_string())
                        .function_arn(lambda_arn_of(&id, Some(*n)))
                        .code_sha256(sha)
                        .build()
                }));
                MockResponse::Output(
                    list_versions_by_function::ListVersionsByFunctionOutput::builder()
                        .set_versions(Some(versions))
                        .build(),
                )
            }),
        );

        let state = self.state.clone();
        rules.push(
            mock!(lambda::Client::publish_version).then_compute_response(move |request| {
                let mut s = state.lock().unwrap();
                let id = s.distribution_id.clone();
                let function = s.lambda.as_mut().expect("the function exists");
                if request.code_sha256() != Some(function.code_sha256.as_str()) {
                    return MockResponse::Http(lambda_error(
                        412,
                        "PreconditionFailedException",
                        RAW_AWS_TEXT,
                    ));
                }
                let number = function.versions.len() as u64 + 1;
                function
                    .versions
                    .push((number, function.code_sha256.clone()));
                s.writes.push("lambda:PublishVersion".into());
                MockResponse::Output(
                    publish_version::PublishVersionOutput::builder()
                        .version(number.to_string())
                        .function_arn(lambda_arn_of(&id, Some(number)))
                        .build(),
                )
            }),
        );
        rules
    }
}

fn interceptor(rules: Vec<Rule>) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

pub fn lambda_arn(version: Option<u64>) -> String {
    lambda_arn_of(DISTRIBUTION, version)
}

pub fn lambda_arn_of(distribution_id: &str, version: Option<u64>) -> String {
    let base = format!(
        "arn:aws:lambda:us-east-1:{ACCOUNT}:function:edgeoptimize-origin-adobe-{distribution_id}"
    );
    match version {
        Some(n) => format!("{base}:{n}"),
        None => base,
    }
}

pub fn code_sha256(zip: &[u8]) -> String {
    aws_smithy_types::base64::encode(Sha256::digest(zip))
}

fn url_encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The permissions boundary every Lambda@Edge role the service creates carries.
fn edge_role_boundary() -> String {
    format!(
        "arn:aws:iam::{ACCOUNT}:policy/{}",
        cdn_onboard::edge::names::role_boundary_policy(cdn_onboard::config::DEFAULT_ROLE_NAME)
    )
}

fn role(name: &str, trust: &str, bounded: bool) -> iam::types::Role {
    let boundary = bounded.then(|| {
        iam::types::AttachedPermissionsBoundary::builder()
            .permissions_boundary_type(iam::types::PermissionsBoundaryAttachmentType::Policy)
            .permissions_boundary_arn(edge_role_boundary())
            .build()
    });
    iam::types::Role::builder()
        .path("/")
        .role_name(name)
        .role_id("AROAEXAMPLE")
        .arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
        .create_date(aws_smithy_types::DateTime::from_secs(0))
        .assume_role_policy_document(url_encoded(trust))
        .set_permissions_boundary(boundary)
        .build()
        .unwrap()
}

fn header_count(config: &CachePolicyConfig) -> usize {
    config
        .parameters_in_cache_key_and_forwarded_to_origin
        .as_ref()
        .and_then(|p| p.headers_config.as_ref())
        .and_then(|h| h.headers.as_ref())
        .map_or(0, |h| h.items.as_ref().map_or(0, Vec::len))
}

fn cache_policy(id: &str, config: &CachePolicyConfig) -> CachePolicy {
    CachePolicy::builder()
        .id(id)
        .last_modified_time(aws_smithy_types::DateTime::from_secs(0))
        .cache_policy_config(config.clone())
        .build()
        .unwrap()
}

fn function_summary(name: &str) -> FunctionSummary {
    FunctionSummary::builder()
        .name(name)
        .function_config(
            cloudfront::types::FunctionConfig::builder()
                .comment("")
                .runtime(cloudfront::types::FunctionRuntime::CloudfrontJs20)
                .build()
                .unwrap(),
        )
        .function_metadata(
            FunctionMetadata::builder()
                .function_arn(format!("arn:aws:cloudfront::{ACCOUNT}:function/{name}"))
                .last_modified_time(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn distribution(id: &str, config: &DistributionConfig, status: &str) -> Distribution {
    Distribution::builder()
        .id(id)
        .arn(format!("arn:aws:cloudfront::{ACCOUNT}:distribution/{id}"))
        .status(status)
        .last_modified_time(aws_smithy_types::DateTime::from_secs(0))
        .in_progress_invalidation_batches(0)
        .domain_name("d111111abcdef8.cloudfront.net")
        .distribution_config(config.clone())
        .build()
        .unwrap()
}

fn summary(id: &str, config: &DistributionConfig) -> cloudfront::types::DistributionSummary {
    cloudfront::types::DistributionSummary::builder()
        .id(id)
        .arn(format!("arn:aws:cloudfront::{ACCOUNT}:distribution/{id}"))
        .status("Deployed")
        .last_modified_time(aws_smithy_types::DateTime::from_secs(0))
        .domain_name("d111111abcdef8.cloudfront.net")
        .set_aliases(config.aliases.clone())
        .comment(config.comment.clone())
        .price_class(cloudfront::types::PriceClass::PriceClassAll)
        .enabled(config.enabled)
        .web_acl_id("")
        .http_version(cloudfront::types::HttpVersion::Http2)
        .is_ipv6_enabled(true)
        .staging(false)
        .build()
        .unwrap()
}
