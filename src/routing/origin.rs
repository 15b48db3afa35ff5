//! Step `origin`: the Edge Optimize origin on the distribution, with the site's API key and
//! forwarded host as origin headers. Drifted headers or domain are healed; an origin of someone
//! else's on the Edge Optimize domain is refused, since the routing function addresses the
//! origin by its fixed id.

use std::collections::BTreeMap;

use aws_sdk_cloudfront::types::{
    CustomHeaders, CustomOriginConfig, DistributionConfig, Origin, OriginCustomHeader,
    OriginProtocolPolicy, OriginSslProtocols, SslProtocol,
};

use crate::edge::names::{API_KEY_HEADER, FORWARDED_HOST_HEADER, ORIGIN_ID};
use crate::error::{ErrorCode, Failure};
use crate::routing::api_key::ApiKey;
use crate::routing::context::Routing;
use crate::routing::distribution::converge;
use crate::routing::step::{Change, Done, Outcome};

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let api_key = ctx.api_key.as_ref().ok_or_else(|| {
        Failure::new(
            ErrorCode::Internal,
            "the site's API key was not loaded before the origin step",
        )
    })?;
    let headers = desired_headers(api_key, &ctx.params.site_base_url.forwarded_host());
    let change = converge(ctx, |config| apply(config, ctx.edge_domain, &headers))
        .await?
        .unwrap_or(Change::Exists);
    let detail = match change {
        Change::Created => format!("added origin {ORIGIN_ID} for {}", ctx.edge_domain),
        Change::Updated => format!("healed origin {ORIGIN_ID}: its domain or headers had drifted"),
        Change::Exists => format!("origin {ORIGIN_ID} is in place"),
    };
    Ok(Outcome::Done(
        Done::new(change, detail)
            .fact("originId", ORIGIN_ID)
            .fact("originDomain", ctx.edge_domain),
    ))
}

/// The origin's headers, in order. The API key's value is the only copy outside its bucket.
pub fn desired_headers(api_key: &ApiKey, forwarded_host: &str) -> Vec<OriginCustomHeader> {
    [
        (API_KEY_HEADER, api_key.expose()),
        (FORWARDED_HOST_HEADER, forwarded_host),
    ]
    .into_iter()
    .map(|(name, value)| {
        OriginCustomHeader::builder()
            .header_name(name)
            .header_value(value)
            .build()
            .expect("a header has its name and value")
    })
    .collect()
}

/// Puts the Edge Optimize origin into `config` as routing needs it. `None` when it already is.
pub fn apply(
    config: &mut DistributionConfig,
    edge_domain: &str,
    headers: &[OriginCustomHeader],
) -> Result<Option<Change>, Failure> {
    let origins = config.origins.get_or_insert_with(|| {
        aws_sdk_cloudfront::types::Origins::builder()
            .quantity(0)
            .set_items(Some(Vec::new()))
            .build()
            .expect("an empty origin list")
    });
    if let Some(ours) = origins.items.iter_mut().find(|o| o.id == ORIGIN_ID) {
        return Ok(heal(ours, edge_domain, headers).then_some(Change::Updated));
    }
    if let Some(foreign) = origins
        .items
        .iter()
        .find(|o| o.domain_name.eq_ignore_ascii_case(edge_domain))
    {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "an origin for {edge_domain} already exists as '{}'; Edge Optimize routing needs \
                 it under the id {ORIGIN_ID}. Remove or rename that origin, then send the command \
                 again",
                foreign.id
            ),
        ));
    }
    origins.items.push(new_origin(edge_domain, headers));
    origins.quantity = origins.items.len() as i32;
    Ok(Some(Change::Created))
}

/// Brings our origin back to its domain and headers; whether anything changed.
fn heal(origin: &mut Origin, edge_domain: &str, headers: &[OriginCustomHeader]) -> bool {
    let mut changed = false;
    // Exactly: the Lambda@Edge handler compares the two as they are.
    if origin.domain_name != edge_domain {
        origin.domain_name = edge_domain.to_owned();
        changed = true;
    }
    let current = header_map(origin.custom_headers.as_ref());
    let wanted = header_map(Some(&custom_headers(headers)));
    if current != wanted {
        origin.custom_headers = Some(custom_headers(headers));
        changed = true;
    }
    // The API key travels in a header: https only, TLS 1.2.
    match origin.custom_origin_config.as_mut() {
        None => {
            origin.custom_origin_config = Some(custom_origin_config());
            changed = true;
        }
        Some(config) => {
            if config.origin_protocol_policy != OriginProtocolPolicy::HttpsOnly {
                config.origin_protocol_policy = OriginProtocolPolicy::HttpsOnly;
                changed = true;
            }
            let tls = config
                .origin_ssl_protocols
                .as_ref()
                .map(|p| p.items.as_slice());
            if tls != Some(&[SslProtocol::TlSv12][..]) {
                config.origin_ssl_protocols = custom_origin_config().origin_ssl_protocols;
                changed = true;
            }
        }
    }
    changed
}

/// Headers as a map with lowercased names, for comparing (CloudFront header names are
/// case-insensitive).
fn header_map(headers: Option<&CustomHeaders>) -> BTreeMap<String, String> {
    headers
        .and_then(|h| h.items.as_ref())
        .map(|items| {
            items
                .iter()
                .map(|h| (h.header_name.to_ascii_lowercase(), h.header_value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn custom_headers(headers: &[OriginCustomHeader]) -> CustomHeaders {
    CustomHeaders::builder()
        .quantity(headers.len() as i32)
        .set_items(Some(headers.to_vec()))
        .build()
        .expect("headers have a quantity")
}

fn custom_origin_config() -> CustomOriginConfig {
    CustomOriginConfig::builder()
        .http_port(80)
        .https_port(443)
        .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
        .origin_ssl_protocols(
            OriginSslProtocols::builder()
                .quantity(1)
                .items(SslProtocol::TlSv12)
                .build()
                .expect("one protocol"),
        )
        .origin_read_timeout(30)
        .origin_keepalive_timeout(5)
        .build()
        .expect("ports and policy are set")
}

fn new_origin(edge_domain: &str, headers: &[OriginCustomHeader]) -> Origin {
    Origin::builder()
        .id(ORIGIN_ID)
        .domain_name(edge_domain)
        .origin_path("")
        .custom_headers(custom_headers(headers))
        .custom_origin_config(custom_origin_config())
        .connection_attempts(3)
        .connection_timeout(10)
        .build()
        .expect("id and domain are set")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudfront::types::Origins;

    fn config_with(origins: Vec<Origin>) -> DistributionConfig {
        DistributionConfig::builder()
            .caller_reference("r")
            .comment("c")
            .enabled(true)
            .origins(
                Origins::builder()
                    .quantity(origins.len() as i32)
                    .set_items(Some(origins))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    fn customer_origin() -> Origin {
        Origin::builder()
            .id("web")
            .domain_name("origin.example.com")
            .build()
            .unwrap()
    }

    fn headers() -> Vec<OriginCustomHeader> {
        desired_headers(&ApiKey::new("k-1"), "www.example.com")
    }

    #[test]
    fn adds_the_origin_once() {
        let mut config = config_with(vec![customer_origin()]);
        let edge = "live.edgeoptimize.net";
        assert_eq!(
            apply(&mut config, edge, &headers()).unwrap(),
            Some(Change::Created)
        );
        let origins = config.origins.as_ref().unwrap();
        assert_eq!(origins.quantity, 2);
        let ours = &origins.items[1];
        assert_eq!(
            (ours.id.as_str(), ours.domain_name.as_str()),
            (ORIGIN_ID, edge)
        );
        assert_eq!(
            ours.custom_origin_config
                .as_ref()
                .unwrap()
                .origin_protocol_policy,
            OriginProtocolPolicy::HttpsOnly
        );
        assert_eq!(apply(&mut config, edge, &headers()).unwrap(), None);
    }

    #[test]
    fn heals_drifted_headers_whatever_their_case() {
        let mut config = config_with(vec![customer_origin()]);
        let edge = "live.edgeoptimize.net";
        apply(&mut config, edge, &headers()).unwrap();
        let stale = desired_headers(&ApiKey::new("k-old"), "www.example.com");
        assert_eq!(
            apply(&mut config, edge, &stale).unwrap(),
            Some(Change::Updated)
        );
        let mut shouting = stale.clone();
        shouting[0].header_name = API_KEY_HEADER.to_ascii_uppercase();
        config.origins.as_mut().unwrap().items[1].custom_headers = Some(custom_headers(&shouting));
        assert_eq!(apply(&mut config, edge, &stale).unwrap(), None);
    }

    #[test]
    fn heals_an_origin_moved_to_plain_http() {
        let mut config = config_with(vec![customer_origin()]);
        let edge = "live.edgeoptimize.net";
        apply(&mut config, edge, &headers()).unwrap();
        let ours = &mut config.origins.as_mut().unwrap().items[1];
        ours.custom_origin_config
            .as_mut()
            .unwrap()
            .origin_protocol_policy = OriginProtocolPolicy::HttpOnly;
        assert_eq!(
            apply(&mut config, edge, &headers()).unwrap(),
            Some(Change::Updated)
        );
        let ours = &config.origins.as_ref().unwrap().items[1];
        assert_eq!(
            ours.custom_origin_config
                .as_ref()
                .unwrap()
                .origin_protocol_policy,
            OriginProtocolPolicy::HttpsOnly
        );
        assert_eq!(apply(&mut config, edge, &headers()).unwrap(), None);
    }

    #[test]
    fn refuses_a_foreign_origin_on_the_edge_domain() {
        let foreign = Origin::builder()
            .id("eo-by-hand")
            .domain_name("LIVE.edgeoptimize.net")
            .build()
            .unwrap();
        let mut config = config_with(vec![customer_origin(), foreign]);
        let error = apply(&mut config, "live.edgeoptimize.net", &headers()).unwrap_err();
        assert_eq!(error.code, ErrorCode::Conflict);
        assert!(error.message.contains("'eo-by-hand'"), "{}", error.message);
        assert!(!error.message.contains("k-1"));
    }
}
