//! The cross-account connector: AssumeRole into the customer's connector role with the
//! server-derived external id, sessions cached while valid, and clients scoped to the customer's
//! account.
//!
//! A session is keyed by account, site and tenant, so one batch makes at most one AssumeRole per
//! account and site, and a session assumed for one tenant is never used for another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_cloudfront as cloudfront;
use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use aws_sdk_sts as sts;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::aws_calls::AwsCalls;
use crate::error::{classify, AwsFault, ErrorCode, Failure};
use crate::ids::{AccountId, ImsOrgId, SiteId};

/// Every control-plane call (STS, CloudFront, IAM, Lambda, CloudWatch Logs) goes to this region.
pub const CONTROL_PLANE_REGION: &str = "us-east-1";
/// How long an assumed session lasts.
pub const SESSION_DURATION_SECS: i32 = 900;
/// A cached session is not handed out when it has less than this left.
const SESSION_REUSE_MARGIN: Duration = Duration::from_secs(120);
/// One attempt of one customer-account call may take this long.
const CALL_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SessionKey {
    account_id: AccountId,
    site_id: SiteId,
    ims_org_id: ImsOrgId,
}

/// What every client in a customer account shares (endpoint, HTTP client), without
/// credentials: one builder per service the commands use there.
#[derive(Clone, Debug, Default)]
pub struct ClientTemplates {
    pub logs: logs::config::Builder,
    pub cloudfront: cloudfront::config::Builder,
    pub iam: iam::config::Builder,
    pub lambda: lambda::config::Builder,
}

impl ClientTemplates {
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            logs: logs::config::Builder::from(sdk),
            cloudfront: cloudfront::config::Builder::from(sdk),
            iam: iam::config::Builder::from(sdk),
            lambda: lambda::config::Builder::from(sdk),
        }
    }
}

/// Temporary credentials for one customer account. `Credentials` prints no secret in `Debug`.
#[derive(Clone, Debug)]
pub struct CustomerSession {
    pub account_id: AccountId,
    credentials: Credentials,
    expires_at: SystemTime,
    templates: ClientTemplates,
}

/// Applies what every customer-account client gets: the control-plane region, the session's
/// credentials, no SDK retries (the calling code retries what is worth retrying itself), a
/// bounded attempt time, and the request counter.
macro_rules! customer_client {
    ($module:ident, $template:expr, $session:expr, $calls:expr) => {{
        let config = $template
            .clone()
            .region($module::config::Region::from_static(CONTROL_PLANE_REGION))
            .credentials_provider($session.credentials.clone())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(CALL_ATTEMPT_TIMEOUT)
                    .build(),
            )
            .interceptor($calls.clone())
            .build();
        $module::Client::from_conf(config)
    }};
}

impl CustomerSession {
    fn usable_at(&self, now: SystemTime) -> bool {
        self.expires_at > now + SESSION_REUSE_MARGIN
    }

    /// A CloudWatch Logs client acting as the connector role, counting its requests on `calls`.
    pub fn logs(&self, calls: &AwsCalls) -> logs::Client {
        customer_client!(logs, self.templates.logs, self, calls)
    }

    pub fn cloudfront(&self, calls: &AwsCalls) -> cloudfront::Client {
        customer_client!(cloudfront, self.templates.cloudfront, self, calls)
    }

    pub fn iam(&self, calls: &AwsCalls) -> iam::Client {
        customer_client!(iam, self.templates.iam, self, calls)
    }

    pub fn lambda(&self, calls: &AwsCalls) -> lambda::Client {
        customer_client!(lambda, self.templates.lambda, self, calls)
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<CustomerSession>>>;

pub struct Connector {
    sts: sts::Client,
    templates: ClientTemplates,
    role_name: String,
    sessions: Mutex<HashMap<SessionKey, Slot>>,
}

impl Connector {
    /// `sts` must be a client for [`CONTROL_PLANE_REGION`].
    pub fn new(sts: sts::Client, templates: ClientTemplates, role_name: impl Into<String>) -> Self {
        Self {
            sts,
            templates,
            role_name: role_name.into(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn role_arn(&self, account_id: &AccountId) -> String {
        format!("arn:aws:iam::{account_id}:role/{}", self.role_name)
    }

    /// A session in the customer's account for this site and tenant: the cached one while it is
    /// valid, otherwise a fresh AssumeRole (counted on `calls`).
    pub async fn session(
        &self,
        account_id: &AccountId,
        site_id: &SiteId,
        ims_org_id: &ImsOrgId,
        calls: &AwsCalls,
    ) -> Result<CustomerSession, Failure> {
        let key = SessionKey {
            account_id: account_id.clone(),
            site_id: site_id.clone(),
            ims_org_id: ims_org_id.clone(),
        };
        let slot = self.slot(&key);
        // Holding the slot's lock while assuming makes concurrent messages for the same account
        // and site wait for one AssumeRole instead of each making their own.
        let mut cached = slot.lock().await;
        if let Some(session) = cached.as_ref().filter(|s| s.usable_at(SystemTime::now())) {
            return Ok(session.clone());
        }
        let session = self.assume(&key, calls).await?;
        *cached = Some(session.clone());
        Ok(session)
    }

    /// Drops a cached session, after AWS reported its credentials expired.
    pub fn forget(&self, account_id: &AccountId, site_id: &SiteId, ims_org_id: &ImsOrgId) {
        let key = SessionKey {
            account_id: account_id.clone(),
            site_id: site_id.clone(),
            ims_org_id: ims_org_id.clone(),
        };
        self.sessions
            .lock()
            .expect("session map poisoned")
            .remove(&key);
    }

    fn slot(&self, key: &SessionKey) -> Slot {
        let mut sessions = self.sessions.lock().expect("session map poisoned");
        sessions.entry(key.clone()).or_default().clone()
    }

    async fn assume(&self, key: &SessionKey, calls: &AwsCalls) -> Result<CustomerSession, Failure> {
        let role_arn = self.role_arn(&key.account_id);
        let response = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(session_name(&key.site_id))
            .external_id(external_id(&key.ims_org_id))
            .duration_seconds(SESSION_DURATION_SECS)
            .customize()
            .config_override(sts::config::Builder::default().interceptor(calls.clone()))
            .send()
            .await
            .map_err(|error| assume_failure(&AwsFault::from_sdk(&error), &role_arn))?;

        let Some(credentials) = response.credentials() else {
            return Err(Failure::new(
                ErrorCode::NotConnected,
                format!("AssumeRole on {role_arn} returned no credentials"),
            ));
        };
        let expires_at = SystemTime::try_from(*credentials.expiration()).unwrap_or_else(|_| {
            SystemTime::now() + Duration::from_secs(SESSION_DURATION_SECS as u64)
        });
        tracing::info!(account_id = %key.account_id, site_id = %key.site_id, "assumed the connector role");
        Ok(CustomerSession {
            account_id: key.account_id.clone(),
            credentials: Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key(),
                Some(credentials.session_token().to_owned()),
                Some(expires_at),
                "cdn-onboard-connector",
            ),
            expires_at,
            templates: self.templates.clone(),
        })
    }
}

/// The AssumeRole external id of a tenant: its IMS org id, derived on the server, never taken
/// from a message field of its own. The onboarding link gives the customer the same value.
pub fn external_id(ims_org_id: &ImsOrgId) -> &str {
    ims_org_id.as_str()
}

fn assume_failure(fault: &AwsFault, role_arn: &str) -> Failure {
    if fault.is_access_denied() || fault.is("RegionDisabledException") {
        return Failure::new(
            ErrorCode::NotConnected,
            format!(
                "the connector role {role_arn} cannot be assumed: it is missing, or its trust \
                 policy does not admit this service with the tenant's external id; have the \
                 customer create or update the connector role stack"
            ),
        );
    }
    classify(fault, "sts:AssumeRole")
}

/// The RoleSessionName the customer's CloudTrail shows: which site the calls served.
/// AWS allows 2-64 characters of `[\w+=,.@-]`.
pub fn session_name(site_id: &SiteId) -> String {
    let site: String = site_id
        .as_str()
        .chars()
        .map(|c| if c == ':' { '.' } else { c })
        .collect();
    let name = format!("cdn-onboard-{site}");
    if name.len() <= 64 {
        return name;
    }
    let digest = crate::command::payload_hash(&serde_json::Value::String(site_id.to_string()));
    format!("{}-{}", &name[..55], &digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_tell_the_site_and_fit_aws_rules() {
        let short = session_name(&SiteId::parse("site:42").unwrap());
        assert_eq!(short, "cdn-onboard-site.42");
        let long_site = SiteId::parse(&"s".repeat(128)).unwrap();
        let long = session_name(&long_site);
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("cdn-onboard-sss"));
        assert_ne!(
            long,
            session_name(&SiteId::parse(&"s".repeat(127)).unwrap())
        );
    }

    #[test]
    fn denied_assume_is_not_connected() {
        let fault = AwsFault {
            code: Some("AccessDenied".into()),
            status: Some(403),
            transport: false,
            role_not_assumable: false,
        };
        let failure = assume_failure(&fault, "arn:aws:iam::111122223333:role/R");
        assert_eq!(failure.code, ErrorCode::NotConnected);
        let throttled = AwsFault {
            code: Some("Throttling".into()),
            status: Some(400),
            transport: false,
            role_not_assumable: false,
        };
        assert_eq!(assume_failure(&throttled, "x").code, ErrorCode::Throttled);
    }
}
