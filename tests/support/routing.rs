//! Routing contexts over a mocked customer account, and a prober with canned answers.

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_cloudfront as cloudfront;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use cdn_onboard::edge::names::RoutingNames;
use cdn_onboard::ids::{AccountId, DistributionId};
use cdn_onboard::routing::context::Routing;
use cdn_onboard::routing::step::Mode;
use cdn_onboard::routing::verify::{Probe, Prober};
use cdn_onboard::routing_params::{Behavior, RoutingParams};
use cdn_onboard::site::SiteBaseUrl;
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::customer::{Customer, ACCOUNT, DISTRIBUTION};

pub const EDGE_DOMAIN: &str = "live.edgeoptimize.net";

/// Answers the agent and the person probe with what the test set.
pub struct CannedProber {
    pub agent: Mutex<Probe>,
    pub human: Mutex<Probe>,
    pub urls: Mutex<Vec<String>>,
}

impl CannedProber {
    /// Edge Optimize serving agents, the site serving people.
    pub fn passing() -> Self {
        let mut agent = Probe {
            status: 200,
            ..Probe::default()
        };
        agent
            .headers
            .insert("x-edgeoptimize-request-id".into(), "req-1".into());
        Self::answering(agent)
    }

    pub fn answering(agent: Probe) -> Self {
        Self {
            agent: Mutex::new(agent),
            human: Mutex::new(Probe {
                status: 200,
                ..Probe::default()
            }),
            urls: Mutex::new(Vec::new()),
        }
    }
}

impl Prober for CannedProber {
    fn probe<'a>(
        &'a self,
        url: &'a str,
        user_agent: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Probe> {
        self.urls.lock().unwrap().push(url.to_owned());
        let answer = if user_agent == cdn_onboard::routing::verify::AGENT_USER_AGENT {
            self.agent.lock().unwrap().clone()
        } else {
            self.human.lock().unwrap().clone()
        };
        Box::pin(async move { answer })
    }
}

pub fn params() -> RoutingParams {
    RoutingParams {
        distribution_id: DistributionId::parse(DISTRIBUTION).unwrap(),
        behavior: Behavior::Default,
        site_base_url: SiteBaseUrl::parse("https://www.example.com").unwrap(),
        targeted_paths: None,
        allow_domain_mismatch: false,
    }
}

pub fn account() -> AccountId {
    AccountId::parse(ACCOUNT).unwrap()
}

/// A routing context acting in `customer`'s account.
pub fn context<'a>(
    customer: &Customer,
    account: &'a AccountId,
    params: &'a RoutingParams,
    prober: &'a dyn Prober,
    mode: Mode,
) -> Routing<'a> {
    let templates = customer.templates();
    let region = "us-east-1";
    let credentials = cloudfront::config::Credentials::new(
        "ASIATEST",
        "secret",
        Some("token".into()),
        None,
        "test",
    );
    Routing {
        cloudfront: cloudfront::Client::from_conf(
            templates
                .cloudfront
                .region(cloudfront::config::Region::from_static(region))
                .credentials_provider(credentials.clone())
                .build(),
        ),
        iam: iam::Client::from_conf(
            templates
                .iam
                .region(iam::config::Region::from_static(region))
                .credentials_provider(credentials.clone())
                .build(),
        ),
        lambda: lambda::Client::from_conf(
            templates
                .lambda
                .region(lambda::config::Region::from_static(region))
                .credentials_provider(credentials)
                .build(),
        ),
        account_id: account,
        params,
        names: RoutingNames::new(&params.distribution_id),
        edge_domain: EDGE_DOMAIN,
        connector_role_name: cdn_onboard::config::DEFAULT_ROLE_NAME,
        api_key: Some(cdn_onboard::routing::api_key::ApiKey::new(
            super::customer::API_KEY,
        )),
        prober,
        deadline: Instant::now() + Duration::from_secs(60),
        mode,
    }
}
