//! Step `cache`: the behavior forwards the two Edge Optimize headers in its cache key, so agents
//! and people never share a cached page, and its minimum TTL is not longer than
//! [`MIN_TTL_KEEP_SECS`].
//!
//! Three cases, by what the behavior uses:
//! - legacy cache settings (`ForwardedValues`): the headers are added in place, on the behavior;
//! - a cache policy this service cloned for this distribution: updated in place when it drifted;
//! - any other cache policy (AWS-managed, or the customer's own, possibly shared with other
//!   distributions): never edited. A per-distribution clone with the headers is created (or
//!   reused, on an exact name match, and brought up to date), and the behavior points at it.
//!
//! A behavior never ends with both `ForwardedValues` and a cache policy.

use aws_sdk_cloudfront::types::{
    CachePolicyConfig, CachePolicyHeaderBehavior, CachePolicyHeadersConfig, CachePolicyType,
    DistributionConfig, Headers,
};

use crate::edge::names::CACHE_KEY_HEADERS;
use crate::error::{ErrorCode, Failure};
use crate::retry::aws_call;
use crate::routing::calls::{cloudfront_failure, is_stale_etag, STALE_ETAG_ATTEMPTS};
use crate::routing::context::Routing;
use crate::routing::distribution::{behavior, converge, read};
use crate::routing::step::{Change, Done, Outcome};

/// A minimum TTL up to this many seconds is kept; a longer one is set to 0, so a routed page
/// can change without waiting for the cache.
pub const MIN_TTL_KEEP_SECS: i64 = 5;
/// CloudFront's limit on a cache policy comment.
const MAX_COMMENT_CHARS: usize = 128;
/// ListCachePolicies pages read before giving up on finding a clone.
const MAX_LIST_PAGES: usize = 50;

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let mut snapshot = read(ctx).await?;
    let policy_id = behavior(&mut snapshot.config, &ctx.params.behavior)?.policy_id();
    let done = match policy_id {
        None => legacy(ctx).await?,
        Some(id) => with_policy(ctx, &id).await?,
    };
    Ok(Outcome::Done(done))
}

/// Whether the behavior's cache key already holds both Edge Optimize headers (its legacy
/// settings, or its cache policy).
pub async fn forwards_headers(
    ctx: &Routing<'_>,
    config: &mut DistributionConfig,
) -> Result<bool, Failure> {
    let mut target = behavior(config, &ctx.params.behavior)?;
    let has_all = |items: &[String]| {
        items.iter().any(|h| h == "*")
            || CACHE_KEY_HEADERS
                .iter()
                .all(|wanted| items.iter().any(|h| h.eq_ignore_ascii_case(wanted)))
    };
    match target.policy_id() {
        None => Ok(target
            .forwarded_values()
            .as_ref()
            .and_then(|f| f.headers.as_ref())
            .and_then(|h| h.items.as_deref())
            .is_some_and(has_all)),
        Some(id) => {
            let (policy, _) = get_policy(ctx, &id).await?;
            let headers = policy
                .parameters_in_cache_key_and_forwarded_to_origin
                .as_ref()
                .and_then(|p| p.headers_config.as_ref())
                .filter(|h| h.header_behavior == CachePolicyHeaderBehavior::Whitelist)
                .and_then(|h| h.headers.as_ref())
                .and_then(|h| h.items.as_deref());
            Ok(headers.is_some_and(|items| !items.iter().any(|h| h == "*") && has_all(items)))
        }
    }
}

/// The behavior keeps its legacy cache settings; the headers join its forwarded headers.
async fn legacy(ctx: &Routing<'_>) -> Result<Done, Failure> {
    let wanted = &ctx.params.behavior;
    let change = converge(ctx, |config| forward_legacy(config, wanted))
        .await?
        .unwrap_or(Change::Exists);
    let detail = match change {
        Change::Exists => "the behavior's legacy cache settings forward the Edge Optimize headers",
        _ => "added the Edge Optimize headers to the behavior's legacy cache settings",
    };
    Ok(Done::new(change, detail).fact("scenario", "legacy"))
}

/// Adds the headers (and the TTL rule) to a behavior's `ForwardedValues`.
pub fn forward_legacy(
    config: &mut DistributionConfig,
    wanted: &crate::routing_params::Behavior,
) -> Result<Option<Change>, Failure> {
    let mut target = behavior(config, wanted)?;
    let mut changed = false;
    if let Some(min_ttl) = target.min_ttl().as_mut() {
        if *min_ttl > MIN_TTL_KEEP_SECS {
            *min_ttl = 0;
            changed = true;
        }
    }
    let Some(forwarded) = target.forwarded_values().as_mut() else {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "{} has neither a cache policy nor legacy cache settings; attach a cache policy to \
                 it, then send the command again",
                wanted.describe()
            ),
        ));
    };
    let headers = forwarded.headers.get_or_insert_with(empty_headers);
    changed |= add_headers(headers, false);
    Ok(changed.then_some(Change::Updated))
}

fn empty_headers() -> Headers {
    Headers::builder()
        .quantity(0)
        .build()
        .expect("a quantity is set")
}

/// Adds the missing Edge Optimize headers to a header list; whether it changed. `*` (every
/// header, legacy settings only) already includes them.
fn add_headers(headers: &mut Headers, policy: bool) -> bool {
    let items = headers.items.get_or_insert_with(Vec::new);
    if !policy && items.iter().any(|h| h == "*") {
        return false;
    }
    let mut changed = false;
    for wanted in CACHE_KEY_HEADERS {
        if !items.iter().any(|h| h.eq_ignore_ascii_case(wanted)) {
            items.push(wanted.to_owned());
            changed = true;
        }
    }
    headers.quantity = items.len() as i32;
    changed
}

/// The policy config with the headers in its cache key and the TTL rule applied; whether it
/// changed.
fn add_to_policy(config: &mut CachePolicyConfig) -> Result<bool, Failure> {
    let mut changed = false;
    if config.min_ttl > MIN_TTL_KEEP_SECS {
        config.min_ttl = 0;
        changed = true;
    }
    let parameters = config
        .parameters_in_cache_key_and_forwarded_to_origin
        .as_mut()
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::Conflict,
                format!(
                    "the cache policy {} has no cache key settings to add the Edge Optimize headers to",
                    config.name
                ),
            )
        })?;
    let headers_config = parameters.headers_config.get_or_insert_with(|| {
        CachePolicyHeadersConfig::builder()
            .header_behavior(CachePolicyHeaderBehavior::None)
            .build()
            .expect("a behavior is set")
    });
    if headers_config.header_behavior != CachePolicyHeaderBehavior::Whitelist {
        headers_config.header_behavior = CachePolicyHeaderBehavior::Whitelist;
        headers_config.headers = Some(empty_headers());
        changed = true;
    }
    let headers = headers_config.headers.get_or_insert_with(empty_headers);
    changed |= add_headers(headers, true);
    Ok(changed)
}

/// A policy whose TTLs are all 0 disables caching; CloudFront refuses headers in its cache key.
fn disables_caching(config: &CachePolicyConfig) -> bool {
    config.max_ttl == Some(0) && config.default_ttl.unwrap_or(0) == 0 && config.min_ttl == 0
}

async fn with_policy(ctx: &Routing<'_>, policy_id: &str) -> Result<Done, Failure> {
    let (policy, _) = get_policy(ctx, policy_id).await?;
    if ctx.names.is_our_cache_policy(&policy.name) {
        let change = keep_clone_current(ctx, policy_id, None).await?;
        let detail = match change {
            Change::Exists => format!(
                "the behavior uses {} with the Edge Optimize headers",
                policy.name
            ),
            _ => format!("restored the Edge Optimize headers in {}", policy.name),
        };
        return Ok(Done::new(change, detail)
            .fact("scenario", "clone")
            .fact("cachePolicyId", policy_id)
            .fact("cachePolicyName", policy.name));
    }

    if disables_caching(&policy) {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "{} uses the cache policy {}, which disables caching, so the Edge Optimize headers \
                 cannot join its cache key; attach a cache policy that caches, then send the \
                 command again",
                ctx.params.behavior.describe(),
                policy.name
            ),
        ));
    }
    let clone_name = ctx.names.cache_policy_clone(&policy.name);
    let mut desired = policy.clone();
    desired.name = clone_name.clone();
    desired.comment = Some(clone_comment(&policy.name));
    add_to_policy(&mut desired)?;

    let (clone_id, change) = match find_custom_policy(ctx, &clone_name).await? {
        Some(id) => {
            keep_clone_current(ctx, &id, Some(&desired)).await?;
            (id, Change::Updated)
        }
        None if ctx.planning() => (String::new(), Change::Created),
        None => (create_policy(ctx, &desired).await?, Change::Created),
    };
    if !ctx.planning() {
        let wanted = &ctx.params.behavior;
        converge(ctx, |config| {
            let mut target = behavior(config, wanted)?;
            if target.policy_id().as_deref() == Some(clone_id.as_str()) {
                return Ok(None);
            }
            *target.cache_policy_id() = Some(clone_id.clone());
            *target.forwarded_values() = None;
            Ok(Some(()))
        })
        .await?;
    }
    let detail = match change {
        Change::Created => format!(
            "cloned {} as {clone_name} with the Edge Optimize headers and pointed the behavior at it",
            policy.name
        ),
        _ => format!(
            "pointed the behavior at the existing clone {clone_name} of {}",
            policy.name
        ),
    };
    Ok(Done::new(change, detail)
        .fact("scenario", "cloned")
        .fact("sourceCachePolicyName", policy.name)
        .fact("cachePolicyId", clone_id)
        .fact("cachePolicyName", clone_name))
}

fn clone_comment(source: &str) -> String {
    format!("Cloned from {source} with Edge Optimize headers — managed by LLM Optimizer")
        .chars()
        .take(MAX_COMMENT_CHARS)
        .collect()
}

async fn get_policy(ctx: &Routing<'_>, id: &str) -> Result<(CachePolicyConfig, String), Failure> {
    let output = aws_call(ctx.deadline, || {
        ctx.cloudfront.get_cache_policy().id(id).send()
    })
    .await
    .map_err(|fault| {
        if fault.is("NoSuchCachePolicy") {
            Failure::new(
                ErrorCode::NotFound,
                format!("the behavior's cache policy {id} does not exist"),
            )
        } else {
            cloudfront_failure(&fault, "cloudfront:GetCachePolicy")
        }
    })?;
    let config = output
        .cache_policy
        .and_then(|p| p.cache_policy_config)
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::NotFound,
                format!("the cache policy {id} has no configuration"),
            )
        })?;
    Ok((config, output.e_tag.unwrap_or_default()))
}

/// Brings our clone `id` to `desired`, or (with `None`) makes sure it still carries the headers
/// and the TTL rule. Returns whether it had to change.
async fn keep_clone_current(
    ctx: &Routing<'_>,
    id: &str,
    desired: Option<&CachePolicyConfig>,
) -> Result<Change, Failure> {
    for attempt in 1..=STALE_ETAG_ATTEMPTS {
        let (current, etag) = get_policy(ctx, id).await?;
        let wanted = match desired {
            Some(desired) => desired.clone(),
            None => {
                let mut wanted = current.clone();
                add_to_policy(&mut wanted)?;
                wanted
            }
        };
        if wanted == current {
            return Ok(Change::Exists);
        }
        if ctx.planning() {
            return Ok(Change::Updated);
        }
        let result = aws_call(ctx.deadline, || {
            ctx.cloudfront
                .update_cache_policy()
                .id(id)
                .if_match(&etag)
                .cache_policy_config(wanted.clone())
                .send()
        })
        .await;
        match result {
            Ok(_) => return Ok(Change::Updated),
            Err(fault) if is_stale_etag(&fault) => {
                tracing::warn!(
                    attempt,
                    "the cache policy changed since it was read; reading it again"
                );
            }
            Err(fault) => return Err(cloudfront_failure(&fault, "cloudfront:UpdateCachePolicy")),
        }
    }
    Err(Failure::new(
        ErrorCode::Unavailable,
        format!("the cache policy {id} kept changing; the command will be retried"),
    ))
}

/// The id of the customer-account cache policy named exactly `name`, across all pages.
async fn find_custom_policy(ctx: &Routing<'_>, name: &str) -> Result<Option<String>, Failure> {
    let mut marker: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let output = aws_call(ctx.deadline, || {
            ctx.cloudfront
                .list_cache_policies()
                .r#type(CachePolicyType::Custom)
                .set_marker(marker.clone())
                .send()
        })
        .await
        .map_err(|fault| cloudfront_failure(&fault, "cloudfront:ListCachePolicies"))?;
        let Some(list) = output.cache_policy_list else {
            return Ok(None);
        };
        let found = list
            .items
            .iter()
            .flatten()
            .filter_map(|summary| summary.cache_policy.as_ref())
            .find(|policy| {
                policy
                    .cache_policy_config
                    .as_ref()
                    .is_some_and(|c| c.name == name)
            });
        if let Some(policy) = found {
            return Ok(Some(policy.id.clone()));
        }
        marker = list.next_marker.filter(|m| !m.is_empty());
        if marker.is_none() {
            return Ok(None);
        }
    }
    Ok(None)
}

async fn create_policy(ctx: &Routing<'_>, desired: &CachePolicyConfig) -> Result<String, Failure> {
    let result = aws_call(ctx.deadline, || {
        ctx.cloudfront
            .create_cache_policy()
            .cache_policy_config(desired.clone())
            .send()
    })
    .await;
    match result {
        Ok(output) => output.cache_policy.map(|p| p.id).ok_or_else(|| {
            Failure::new(
                ErrorCode::Internal,
                "CreateCachePolicy returned no policy; the command will be retried",
            )
        }),
        // A concurrent run created it first: use theirs.
        Err(fault) if fault.is("CachePolicyAlreadyExists") => {
            find_custom_policy(ctx, &desired.name).await?.ok_or_else(|| {
                Failure::new(
                    ErrorCode::Unavailable,
                    "the cache policy clone is being created by another request; the command will be retried",
                )
            })
        }
        Err(fault) => Err(cloudfront_failure(&fault, "cloudfront:CreateCachePolicy")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudfront::types::{
        CachePolicyCookieBehavior, CachePolicyCookiesConfig, CachePolicyQueryStringBehavior,
        CachePolicyQueryStringsConfig, ParametersInCacheKeyAndForwardedToOrigin,
    };

    pub(crate) fn policy(name: &str, min_ttl: i64, headers: &[&str]) -> CachePolicyConfig {
        let headers_config = if headers.is_empty() {
            CachePolicyHeadersConfig::builder()
                .header_behavior(CachePolicyHeaderBehavior::None)
                .build()
                .unwrap()
        } else {
            CachePolicyHeadersConfig::builder()
                .header_behavior(CachePolicyHeaderBehavior::Whitelist)
                .headers(
                    Headers::builder()
                        .quantity(headers.len() as i32)
                        .set_items(Some(headers.iter().map(|h| h.to_string()).collect()))
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        CachePolicyConfig::builder()
            .name(name)
            .min_ttl(min_ttl)
            .default_ttl(86400)
            .max_ttl(31536000)
            .parameters_in_cache_key_and_forwarded_to_origin(
                ParametersInCacheKeyAndForwardedToOrigin::builder()
                    .enable_accept_encoding_gzip(true)
                    .headers_config(headers_config)
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

    fn header_items(config: &CachePolicyConfig) -> Vec<String> {
        config
            .parameters_in_cache_key_and_forwarded_to_origin
            .as_ref()
            .unwrap()
            .headers_config
            .as_ref()
            .unwrap()
            .headers
            .as_ref()
            .unwrap()
            .items
            .clone()
            .unwrap()
    }

    #[test]
    fn policies_gain_both_headers_once_and_keep_their_own() {
        let mut config = policy("p", 0, &["Host"]);
        assert!(add_to_policy(&mut config).unwrap());
        assert_eq!(
            header_items(&config),
            ["Host", CACHE_KEY_HEADERS[0], CACHE_KEY_HEADERS[1]]
        );
        assert!(!add_to_policy(&mut config).unwrap(), "already there");

        let mut none = policy("p", 0, &[]);
        assert!(add_to_policy(&mut none).unwrap());
        assert_eq!(header_items(&none), CACHE_KEY_HEADERS);
    }

    #[test]
    fn short_minimum_ttls_are_kept_and_long_ones_dropped() {
        let mut short = policy("p", 5, &CACHE_KEY_HEADERS);
        assert!(!add_to_policy(&mut short).unwrap());
        assert_eq!(short.min_ttl, 5);
        let mut long = policy("p", 60, &CACHE_KEY_HEADERS);
        assert!(add_to_policy(&mut long).unwrap());
        assert_eq!(long.min_ttl, 0);
    }

    #[test]
    fn caching_disabled_is_recognised() {
        let mut disabled = policy("Managed-CachingDisabled", 0, &[]);
        disabled.default_ttl = Some(0);
        disabled.max_ttl = Some(0);
        assert!(disables_caching(&disabled));
        assert!(!disables_caching(&policy("p", 0, &[])));
    }

    #[test]
    fn legacy_wildcards_already_forward_everything() {
        let mut headers = Headers::builder().quantity(1).items("*").build().unwrap();
        assert!(!add_headers(&mut headers, false));
        let mut host = Headers::builder()
            .quantity(1)
            .items("Host")
            .build()
            .unwrap();
        assert!(add_headers(&mut host, false));
        assert_eq!(host.quantity, 3);
    }
}
