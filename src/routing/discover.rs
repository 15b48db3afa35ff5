//! `discover`: what the UI shows before a deploy. Reads only: whether the connector role can be
//! assumed (and why not), the prerequisite checks, the account's distributions (every page), and
//! for one distribution its origins, behaviors and the state of the routing resources.

use aws_sdk_cloudfront as cloudfront;
use aws_sdk_cloudfront::types::{DistributionConfig, FunctionStage};
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::edge::names::{RoutingNames, LOGGING_POLICY_NAME, ORIGIN_ID};
use crate::error::{ErrorCode, Failure};
use crate::ids::DistributionId;
use crate::retry::aws_call;
use crate::routing::calls::{aws_failure, cloudfront_failure};
use crate::routing::lambda_edge::{package_for, trusts_edge_services, versions};

/// ListDistributions pages read at most (100 distributions each).
const MAX_LIST_PAGES: usize = 100;
/// The distribution list a record carries, in bytes of JSON at most: the whole record must stay
/// under DynamoDB's 400 KB. What does not fit is counted, not listed.
const MAX_LISTED_BYTES: usize = 200_000;
/// Aliases listed per distribution at most (the count says how many there are).
const MAX_ALIASES: usize = 50;

pub struct Clients {
    pub cloudfront: cloudfront::Client,
    pub iam: iam::Client,
    pub lambda: lambda::Client,
}

/// The discovery of an account whose connector role could not be assumed.
pub fn not_connected(role_arn: &str, reason: &str) -> Value {
    json!({
        "connected": false,
        "reason": reason,
        "roleArn": role_arn,
        "checks": [
            {"name": "connectorRole", "ok": false, "detail": reason},
            {"name": "cloudFrontRead", "ok": false, "detail": "connector role not assumable"},
        ],
    })
}

pub async fn discover(
    clients: &Clients,
    role_arn: &str,
    distribution_id: Option<&DistributionId>,
    edge_domain: &str,
    deadline: Instant,
) -> Result<Value, Failure> {
    let mut result = json!({"connected": true, "roleArn": role_arn});
    let listed = list_distributions(&clients.cloudfront, deadline).await;
    let read_check = match &listed {
        Ok(_) => json!({"name": "cloudFrontRead", "ok": true}),
        Err(failure) if failure.code == ErrorCode::PermissionMissing => {
            json!({"name": "cloudFrontRead", "ok": false, "detail": failure.message})
        }
        Err(failure) => return Err(failure.clone()),
    };
    result["checks"] = json!([{"name": "connectorRole", "ok": true}, read_check]);
    let listed = listed.unwrap_or_default();
    let total = listed.len();
    let (shown, _) = listed
        .into_iter()
        .fold((Vec::new(), 0usize), |(mut shown, bytes), d| {
            let size = d.to_string().len();
            if bytes + size <= MAX_LISTED_BYTES {
                shown.push(d);
            }
            (shown, bytes + size)
        });
    if shown.len() < total {
        result["distributionsTruncated"] = json!(true);
    }
    result["distributionCount"] = json!(total);
    result["distributions"] = json!(shown);

    if let Some(id) = distribution_id {
        result["distribution"] = one_distribution(clients, id, edge_domain, deadline).await?;
    }
    Ok(result)
}

async fn list_distributions(
    cloudfront: &cloudfront::Client,
    deadline: Instant,
) -> Result<Vec<Value>, Failure> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let output = aws_call(deadline, || {
            cloudfront
                .list_distributions()
                .set_marker(marker.clone())
                .send()
        })
        .await
        .map_err(|fault| cloudfront_failure(&fault, "cloudfront:ListDistributions"))?;
        let Some(list) = output.distribution_list else {
            break;
        };
        for summary in list.items.unwrap_or_default() {
            let aliases = summary.aliases.and_then(|a| a.items).unwrap_or_default();
            let comment: String = summary.comment.chars().take(128).collect();
            found.push(json!({
                "id": summary.id,
                "domainName": summary.domain_name,
                "aliasCount": aliases.len(),
                "aliases": aliases.into_iter().take(MAX_ALIASES).collect::<Vec<_>>(),
                "status": summary.status,
                "enabled": summary.enabled,
                "comment": comment,
            }));
        }
        marker = list
            .next_marker
            .filter(|m| list.is_truncated && !m.is_empty());
        if marker.is_none() {
            break;
        }
    }
    Ok(found)
}

async fn one_distribution(
    clients: &Clients,
    id: &DistributionId,
    edge_domain: &str,
    deadline: Instant,
) -> Result<Value, Failure> {
    let output = aws_call(deadline, || {
        clients.cloudfront.get_distribution().id(id.as_str()).send()
    })
    .await;
    let distribution = match output {
        Ok(output) => output.distribution,
        Err(fault) if fault.is("NoSuchDistribution") => None,
        Err(fault) => return Err(cloudfront_failure(&fault, "cloudfront:GetDistribution")),
    };
    let Some(distribution) = distribution else {
        return Ok(json!({"id": id, "found": false}));
    };
    let config = distribution.distribution_config.unwrap_or_else(|| {
        DistributionConfig::builder()
            .caller_reference("")
            .comment("")
            .enabled(false)
            .build()
            .expect("an empty configuration")
    });
    let names = RoutingNames::new(id);
    Ok(json!({
        "id": id,
        "found": true,
        "status": distribution.status,
        "domainName": distribution.domain_name,
        "origins": origins(&config),
        "hasEdgeOptimizeOrigin": origins(&config).iter().any(|o| {
            o["id"] == ORIGIN_ID || o["domainName"].as_str().is_some_and(|d| d.eq_ignore_ascii_case(edge_domain))
        }),
        "behaviors": behaviors(&config),
        "routingFunction": readable(routing_function(&clients.cloudfront, &names, deadline).await)?,
        "lambda": readable(lambda_status(clients, &names, edge_domain, deadline).await)?,
    }))
}

/// A routing resource's state, or, where the connector role does not let the service read it
/// (the log-only variant), that it is not readable and which permission is missing: the rest
/// of the discovery stands.
fn readable(state: Result<Value, Failure>) -> Result<Value, Failure> {
    match state {
        Err(failure) if failure.code == ErrorCode::PermissionMissing => {
            Ok(json!({"readable": false, "detail": failure.message}))
        }
        other => other,
    }
}

fn origins(config: &DistributionConfig) -> Vec<Value> {
    config
        .origins
        .as_ref()
        .map(|o| {
            o.items
                .iter()
                .map(|origin| {
                    json!({
                        "id": origin.id,
                        "domainName": origin.domain_name,
                        "originPath": origin.origin_path.clone().unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn behaviors(config: &DistributionConfig) -> Vec<Value> {
    let mut found = Vec::new();
    if let Some(default) = &config.default_cache_behavior {
        found.push(json!({
            "pathPattern": "Default (*)",
            "targetOriginId": default.target_origin_id,
            "isDefault": true,
        }));
    }
    for behavior in config
        .cache_behaviors
        .as_ref()
        .and_then(|b| b.items.as_ref())
        .into_iter()
        .flatten()
    {
        found.push(json!({
            "pathPattern": behavior.path_pattern,
            "targetOriginId": behavior.target_origin_id,
            "isDefault": false,
        }));
    }
    found
}

async fn routing_function(
    cloudfront: &cloudfront::Client,
    names: &RoutingNames,
    deadline: Instant,
) -> Result<Value, Failure> {
    let mut state = json!({"name": names.function});
    for (stage, field) in [
        (FunctionStage::Development, "exists"),
        (FunctionStage::Live, "live"),
    ] {
        let described = aws_call(deadline, || {
            cloudfront
                .describe_function()
                .name(&names.function)
                .stage(stage.clone())
                .send()
        })
        .await;
        state[field] = match described {
            Ok(_) => json!(true),
            Err(fault) if fault.is("NoSuchFunctionExists") => json!(false),
            Err(fault) => return Err(cloudfront_failure(&fault, "cloudfront:DescribeFunction")),
        };
    }
    Ok(state)
}

async fn lambda_status(
    clients: &Clients,
    names: &RoutingNames,
    edge_domain: &str,
    deadline: Instant,
) -> Result<Value, Failure> {
    let role = aws_call(deadline, || {
        clients.iam.get_role().role_name(&names.role).send()
    })
    .await;
    let role = match role {
        Ok(output) => output.role,
        Err(fault) if fault.is("NoSuchEntity") => None,
        Err(fault) => return Err(aws_failure(&fault, "iam:GetRole")),
    };
    let logging = match &role {
        None => false,
        Some(_) => {
            let policy = aws_call(deadline, || {
                clients
                    .iam
                    .get_role_policy()
                    .role_name(&names.role)
                    .policy_name(LOGGING_POLICY_NAME)
                    .send()
            })
            .await;
            match policy {
                Ok(_) => true,
                Err(fault) if fault.is("NoSuchEntity") => false,
                Err(fault) => return Err(aws_failure(&fault, "iam:GetRolePolicy")),
            }
        }
    };
    let role_ok = logging
        && role
            .as_ref()
            .is_some_and(|r| trusts_edge_services(r.assume_role_policy_document.as_deref()));
    let mut status = json!({
        "name": names.lambda,
        "roleName": names.role,
        "roleExists": role.is_some(),
        "roleOk": role_ok,
    });

    let function = aws_call(deadline, || {
        clients
            .lambda
            .get_function_configuration()
            .function_name(&names.lambda)
            .send()
    })
    .await;
    let function = match function {
        Ok(function) => function,
        Err(fault) if fault.is("ResourceNotFoundException") => {
            status["exists"] = json!(false);
            status["ready"] = json!(false);
            return Ok(status);
        }
        Err(fault) => return Err(aws_failure(&fault, "lambda:GetFunctionConfiguration")),
    };
    let built = package_for(edge_domain);
    let (_, version_arn) =
        versions(&clients.lambda, &names.lambda, &built.code_sha256, deadline).await?;
    let state = function.state.as_ref().map(|s| s.as_str().to_owned());
    let last_update = function
        .last_update_status
        .as_ref()
        .map(|s| s.as_str().to_owned());
    let ready = state.as_deref() == Some("Active")
        && last_update.as_deref() != Some("InProgress")
        && version_arn.is_some()
        && role_ok;
    status["exists"] = json!(true);
    status["state"] = json!(state);
    status["lastUpdateStatus"] = json!(last_update);
    status["codeCurrent"] =
        json!(function.code_sha256.as_deref() == Some(built.code_sha256.as_str()));
    status["versionArn"] = json!(version_arn);
    status["ready"] = json!(ready);
    Ok(status)
}
