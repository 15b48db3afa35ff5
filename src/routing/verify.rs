//! Step `verify`: probes the site as an AI agent and as a person and checks that only the agent
//! was served by Edge Optimize. The site's own host is probed when the distribution serves it;
//! the distribution's `*.cloudfront.net` name only otherwise. Redirects are reported, not
//! followed; each probe has a time limit.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::json;

use crate::edge::names::{FAILOVER_HEADER, PROXY_HEADER, REQUEST_ID_HEADER};
use crate::error::Failure;
use crate::routing::context::Routing;
use crate::routing::distribution::read;
use crate::routing::guardrail::{check, Serving};
use crate::routing::step::{Change, Done, Outcome};

/// The user agent of the agent probe (one of the routed agents).
pub const AGENT_USER_AGENT: &str = "chatgpt-user";
/// The user agent of the person probe.
pub const HUMAN_USER_AGENT: &str = "Mozilla/5.0";
/// How long one probe may take, unless the invocation has less time left.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Edge Optimize headers kept from one response, and characters kept of each value: a probe's
/// result is recorded, and a record has a size limit.
const MAX_HEADERS: usize = 16;
const MAX_HEADER_CHARS: usize = 256;

/// What one probe saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// The HTTP status; 0 when no response arrived.
    pub status: u16,
    /// Every `x-edgeoptimize-*` response header.
    pub headers: BTreeMap<String, String>,
    /// Where a redirect pointed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

impl Probe {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Sends a probe. The production prober speaks HTTPS; tests answer with canned responses.
pub trait Prober: Send + Sync {
    fn probe<'a>(
        &'a self,
        url: &'a str,
        user_agent: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Probe>;
}

/// HTTPS GETs with no redirects followed.
#[derive(Clone, Debug)]
pub struct HttpProber {
    client: reqwest::Client,
}

impl HttpProber {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without redirects builds");
        Self { client }
    }
}

impl Default for HttpProber {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober for HttpProber {
    fn probe<'a>(
        &'a self,
        url: &'a str,
        user_agent: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            let sent = self
                .client
                .get(url)
                .header(reqwest::header::USER_AGENT, user_agent)
                .timeout(timeout)
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let headers = response
                        .headers()
                        .iter()
                        .filter(|(name, _)| name.as_str().starts_with("x-edgeoptimize"))
                        .filter_map(|(name, value)| {
                            let value: String = value
                                .to_str()
                                .ok()?
                                .chars()
                                .filter(|c| !c.is_control())
                                .take(MAX_HEADER_CHARS)
                                .collect();
                            Some((name.as_str().to_owned(), value))
                        })
                        .take(MAX_HEADERS)
                        .collect();
                    let location = response
                        .status()
                        .is_redirection()
                        .then(|| response.headers().get(reqwest::header::LOCATION))
                        .flatten()
                        .and_then(|l| l.to_str().ok())
                        .map(crate::command::printable);
                    Probe {
                        status: response.status().as_u16(),
                        headers,
                        location,
                        timed_out: false,
                    }
                }
                Err(error) => Probe {
                    timed_out: error.is_timeout(),
                    ..Probe::default()
                },
            }
        })
    }
}

/// Whether the probes show routing working, and if not, why not, for people.
pub fn judge(url: &str, agent: &Probe, human: &Probe) -> Result<String, String> {
    if human.header(REQUEST_ID_HEADER).is_some()
        || human.header(FAILOVER_HEADER).is_some()
        || human.header(PROXY_HEADER) == Some("1")
    {
        return Err(format!(
            "a person's request to {url} reached Edge Optimize; only AI agents should be routed"
        ));
    }
    if let Some(id) = agent.header(REQUEST_ID_HEADER) {
        return Ok(format!(
            "agents are served by Edge Optimize at {url} (request id {}) and people by the site",
            crate::command::printable(id)
        ));
    }
    Err(if agent.header(FAILOVER_HEADER).is_some() {
        format!(
            "agents are routed at {url}, but Edge Optimize did not answer and the site's origin \
             served them (failover); waiting for Edge Optimize to serve the site"
        )
    } else if let Some(location) = &agent.location {
        format!(
            "{url} answers agents with a redirect ({} to {location}); Edge Optimize serves only \
             pages the site answers itself",
            agent.status
        )
    } else if agent.timed_out {
        format!("{url} did not answer the agent probe in time")
    } else if agent.status == 0 {
        format!("{url} could not be reached")
    } else {
        format!(
            "{url} answered the agent probe ({}) without Edge Optimize yet",
            agent.status
        )
    })
}

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let snapshot = read(ctx).await?;
    let host = match check(&snapshot, ctx.params) {
        Ok(Serving::Site(host)) => host,
        _ => snapshot.domain_name.clone(),
    };
    // With targeted paths only those pages are routed: probe one of them.
    let path = ctx
        .params
        .targeted_paths
        .as_ref()
        .and_then(|paths| paths.iter().find(|p| !p.contains('*')))
        .map_or("/", String::as_str);
    let url = format!("https://{host}{path}");
    let left = ctx
        .deadline
        .saturating_duration_since(tokio::time::Instant::now());
    let timeout = PROBE_TIMEOUT.min(left.saturating_sub(Duration::from_secs(1)));
    let (agent, human) = futures::join!(
        ctx.prober.probe(&url, AGENT_USER_AGENT, timeout),
        ctx.prober.probe(&url, HUMAN_USER_AGENT, timeout)
    );
    let probe = json!({
        "url": url,
        "agent": {"userAgent": AGENT_USER_AGENT, "result": agent},
        "human": {"userAgent": HUMAN_USER_AGENT, "result": human},
    });
    match judge(&url, &agent, &human) {
        Ok(detail) => Ok(Outcome::Done(
            Done::new(Change::Exists, detail).fact("probe", probe),
        )),
        Err(detail) => {
            tracing::info!(url = %url, agent_status = agent.status, human_status = human.status, "verify: not yet");
            Ok(Outcome::waiting(detail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(status: u16, headers: &[(&str, &str)]) -> Probe {
        Probe {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Probe::default()
        }
    }

    const URL: &str = "https://www.example.com/";

    #[test]
    fn passes_only_when_the_agent_alone_is_served_by_edge_optimize() {
        let agent = probe(200, &[(REQUEST_ID_HEADER, "r-1")]);
        let human = probe(200, &[]);
        assert!(judge(URL, &agent, &human).is_ok());

        let human_optimized = probe(200, &[(REQUEST_ID_HEADER, "r-2")]);
        assert!(judge(URL, &agent, &human_optimized)
            .unwrap_err()
            .contains("a person's request"));
        let human_proxied = probe(200, &[(PROXY_HEADER, "1")]);
        assert!(judge(URL, &agent, &human_proxied).is_err());
    }

    #[test]
    fn failover_and_redirects_are_not_yet_and_say_why() {
        let failover = probe(200, &[(FAILOVER_HEADER, "1")]);
        let human = probe(200, &[]);
        assert!(judge(URL, &failover, &human)
            .unwrap_err()
            .contains("failover"));

        let mut redirect = probe(301, &[]);
        redirect.location = Some("https://example.com/".into());
        let why = judge(URL, &redirect, &human).unwrap_err();
        assert!(
            why.contains("redirect (301 to https://example.com/)"),
            "{why}"
        );

        let timed_out = Probe {
            timed_out: true,
            ..Probe::default()
        };
        assert!(judge(URL, &timed_out, &human)
            .unwrap_err()
            .contains("in time"));
    }
}
