//! Step `lambda`: the distribution's Lambda@Edge function and its execution role. The role
//! trusts both Lambda services and may write its logs; the function runs the current handler
//! (its `CodeSha256` compared with the deterministic package's); a numbered version carrying that
//! code is published once the function is Active and idle.
//!
//! Nothing here sleeps: IAM propagating a new role, and the function provisioning or updating,
//! are waits that the deploy turns into continuations.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, Runtime, State};
use serde_json::{json, Value};

use crate::edge::code::origin_handler;
use crate::edge::names::{
    LAMBDA_DESCRIPTION, LAMBDA_HANDLER, LAMBDA_MEMORY_MB, LAMBDA_RUNTIME, LAMBDA_TIMEOUT_SECS,
    LAMBDA_VERSION_DESCRIPTION, LOGGING_POLICY_NAME, ROLE_DESCRIPTION,
};
use crate::edge::package::{package, Package};
use crate::error::{ErrorCode, Failure};
use crate::retry::aws_call;
use crate::routing::calls::aws_failure;
use crate::routing::context::Routing;
use crate::routing::step::{Change, Done, Outcome};

/// The services that run a Lambda@Edge function: both must be trusted by its role.
pub const TRUSTED_SERVICES: [&str; 2] = ["lambda.amazonaws.com", "edgelambda.amazonaws.com"];
/// ListVersionsByFunction pages read at most.
const MAX_LIST_PAGES: usize = 50;

/// The handler package for this deployment's Edge Optimize domain.
pub fn handler_package(ctx: &Routing<'_>) -> Package {
    package_for(ctx.edge_domain)
}

pub fn package_for(edge_domain: &str) -> Package {
    package(&origin_handler(edge_domain))
}

pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": TRUSTED_SERVICES},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// Lambda@Edge writes its logs in every region it runs in, under `us-east-1.<name>`.
pub fn logging_policy(ctx: &Routing<'_>) -> Value {
    let account = ctx.account_id;
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "logs:CreateLogGroup",
                "Resource": format!("arn:aws:logs:*:{account}:*")
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": format!(
                    "arn:aws:logs:*:{account}:log-group:/aws/lambda/us-east-1.{}:*",
                    ctx.names.lambda
                )
            }
        ]
    })
}

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let built = handler_package(ctx);

    let (role_arn, role_change) = ensure_role(ctx).await?;
    let policy_change = ensure_logging_policy(ctx).await?;
    let setup = role_change.and(policy_change);
    if role_change == Change::Created && !ctx.planning() {
        return Ok(Outcome::waiting(format!(
            "created the execution role {}; waiting for IAM to propagate it before creating the function",
            ctx.names.role
        )));
    }

    let function = match function_state(ctx).await? {
        None if ctx.planning() => return Ok(planned(ctx, Change::Created)),
        None => return create_function(ctx, &role_arn, &built).await,
        Some(function) => function,
    };
    if function.state == Some(State::Failed) {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "the Lambda@Edge function {} failed to provision; delete it so that it can be \
                 created again, then send the command again",
                ctx.names.lambda
            ),
        ));
    }
    if function.busy() {
        let detail = format!("Lambda@Edge {} is still provisioning", ctx.names.lambda);
        return Ok(if ctx.planning() {
            planned(ctx, Change::Updated)
        } else {
            Outcome::waiting(detail)
        });
    }
    if !function.configured_as(&role_arn) {
        if ctx.planning() {
            return Ok(planned(ctx, Change::Updated));
        }
        update_configuration(ctx, &role_arn).await?;
        return Ok(Outcome::waiting(format!(
            "restored the configuration of {}; waiting for the update to finish",
            ctx.names.lambda
        )));
    }
    if function.code_sha256.as_deref() != Some(built.code_sha256.as_str()) {
        if ctx.planning() {
            return Ok(planned(ctx, Change::Updated));
        }
        update_code(ctx, &built).await?;
        return Ok(Outcome::waiting(format!(
            "rolled out the current handler code to {}; waiting for the update to finish",
            ctx.names.lambda
        )));
    }

    let (versions_seen, current) = versions(
        &ctx.lambda,
        &ctx.names.lambda,
        &built.code_sha256,
        ctx.deadline,
    )
    .await?;
    let (version_arn, change) = match current {
        Some(arn) => (arn, setup),
        None if ctx.planning() => return Ok(planned(ctx, Change::Updated)),
        None => {
            let arn = publish(ctx, &built.code_sha256).await?;
            let change = if versions_seen == 0 {
                Change::Created
            } else {
                Change::Updated
            };
            (arn, change)
        }
    };
    let detail = match change {
        Change::Exists => format!("{version_arn} carries the current handler"),
        _ => format!("published {version_arn} with the current handler"),
    };
    Ok(Outcome::Done(
        Done::new(change, detail)
            .fact("lambdaFunctionName", ctx.names.lambda.as_str())
            .fact("lambdaVersionArn", version_arn)
            .fact("roleName", ctx.names.role.as_str())
            .fact("roleArn", role_arn)
            .fact("codeSha256", built.code_sha256),
    ))
}

fn planned(ctx: &Routing<'_>, change: Change) -> Outcome {
    let detail = match change {
        Change::Created => format!(
            "would create {} and publish its first version",
            ctx.names.lambda
        ),
        _ => format!(
            "would bring {} up to date and publish a version",
            ctx.names.lambda
        ),
    };
    Outcome::Done(Done::new(change, detail))
}

/// The role, created or with its trust healed. Returns its ARN and what changed.
async fn ensure_role(ctx: &Routing<'_>) -> Result<(String, Change), Failure> {
    let name = &ctx.names.role;
    let existing = aws_call(ctx.deadline, || ctx.iam.get_role().role_name(name).send()).await;
    let role = match existing {
        Ok(output) => output.role,
        Err(fault) if fault.is("NoSuchEntity") => None,
        Err(fault) => return Err(aws_failure(&fault, "iam:GetRole")),
    };
    let Some(role) = role else {
        if ctx.planning() {
            return Ok((ctx.role_arn(), Change::Created));
        }
        let created = aws_call(ctx.deadline, || {
            ctx.iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust_policy().to_string())
                .description(ROLE_DESCRIPTION)
                .permissions_boundary(ctx.role_boundary_arn())
                .send()
        })
        .await;
        return match created {
            Ok(output) => Ok((
                output.role.map(|r| r.arn).unwrap_or_else(|| ctx.role_arn()),
                Change::Created,
            )),
            // A concurrent run created it between our read and our write.
            Err(fault) if fault.is("EntityAlreadyExists") => Ok((ctx.role_arn(), Change::Exists)),
            Err(fault) => Err(aws_failure(&fault, "iam:CreateRole")),
        };
    };
    // Every role this service makes carries the boundary (the connector role may create no
    // other). A role of that name without it is the customer's: its trust is not ours to
    // change, and IAM cannot tie UpdateAssumeRolePolicy to the boundary, so this check does.
    let boundary = ctx.role_boundary_arn();
    let bounded = role
        .permissions_boundary
        .as_ref()
        .and_then(|b| b.permissions_boundary_arn.as_deref())
        == Some(boundary.as_str());
    if !bounded {
        return Err(Failure::new(
            ErrorCode::Conflict,
            format!(
                "the IAM role {name} exists but was not made by this service (its permissions \
                 boundary is not {boundary}); rename or delete that role, then deploy again"
            ),
        ));
    }
    if trusts_edge_services(role.assume_role_policy_document.as_deref()) {
        return Ok((role.arn, Change::Exists));
    }
    if !ctx.planning() {
        aws_call(ctx.deadline, || {
            ctx.iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(trust_policy().to_string())
                .send()
        })
        .await
        .map_err(|fault| aws_failure(&fault, "iam:UpdateAssumeRolePolicy"))?;
    }
    Ok((role.arn, Change::Updated))
}

/// IAM returns policy documents URL-encoded.
fn decode_policy(document: &str) -> Option<Value> {
    let text = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether a trust policy lets both Lambda services assume the role.
pub fn trusts_edge_services(document: Option<&str>) -> bool {
    let Some(policy) = document.and_then(decode_policy) else {
        return false;
    };
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => return false,
    };
    let as_list = |value: &Value| -> Vec<String> {
        match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let trusted: Vec<String> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow" && s.get("Condition").is_none())
        .filter(|s| as_list(&s["Action"]).iter().any(|a| a == "sts:AssumeRole"))
        .flat_map(|s| as_list(&s["Principal"]["Service"]))
        .collect();
    TRUSTED_SERVICES
        .iter()
        .all(|service| trusted.iter().any(|t| t == service))
}

async fn ensure_logging_policy(ctx: &Routing<'_>) -> Result<Change, Failure> {
    let name = &ctx.names.role;
    let wanted = logging_policy(ctx);
    let current = aws_call(ctx.deadline, || {
        ctx.iam
            .get_role_policy()
            .role_name(name)
            .policy_name(LOGGING_POLICY_NAME)
            .send()
    })
    .await;
    let change = match current {
        Ok(output) if decode_policy(&output.policy_document) == Some(wanted.clone()) => {
            return Ok(Change::Exists)
        }
        Ok(_) => Change::Updated,
        Err(fault) if fault.is("NoSuchEntity") => Change::Created,
        Err(fault) => return Err(aws_failure(&fault, "iam:GetRolePolicy")),
    };
    if !ctx.planning() {
        aws_call(ctx.deadline, || {
            ctx.iam
                .put_role_policy()
                .role_name(name)
                .policy_name(LOGGING_POLICY_NAME)
                .policy_document(wanted.to_string())
                .send()
        })
        .await
        .map_err(|fault| aws_failure(&fault, "iam:PutRolePolicy"))?;
    }
    Ok(change)
}

/// What GetFunctionConfiguration says of the function.
struct FunctionState {
    state: Option<State>,
    last_update: Option<LastUpdateStatus>,
    code_sha256: Option<String>,
    role: Option<String>,
    runtime: Option<Runtime>,
    handler: Option<String>,
    timeout: Option<i32>,
    memory: Option<i32>,
    has_environment: bool,
}

impl FunctionState {
    /// Provisioning or updating: nothing may be changed or published now.
    fn busy(&self) -> bool {
        self.state == Some(State::Pending) || self.last_update == Some(LastUpdateStatus::InProgress)
    }

    /// Configured as Lambda@Edge requires: our role, runtime and handler, the viewer-safe limits,
    /// and no environment variables (CloudFront refuses a function that has any).
    fn configured_as(&self, role_arn: &str) -> bool {
        self.role.as_deref() == Some(role_arn)
            && self.runtime.as_ref().map(Runtime::as_str) == Some(LAMBDA_RUNTIME)
            && self.handler.as_deref() == Some(LAMBDA_HANDLER)
            && self.timeout == Some(LAMBDA_TIMEOUT_SECS)
            && self.memory == Some(LAMBDA_MEMORY_MB)
            && !self.has_environment
            && self.last_update != Some(LastUpdateStatus::Failed)
    }
}

async fn function_state(ctx: &Routing<'_>) -> Result<Option<FunctionState>, Failure> {
    let name = &ctx.names.lambda;
    let result = aws_call(ctx.deadline, || {
        ctx.lambda
            .get_function_configuration()
            .function_name(name)
            .send()
    })
    .await;
    match result {
        Ok(output) => Ok(Some(FunctionState {
            state: output.state,
            last_update: output.last_update_status,
            code_sha256: output.code_sha256,
            role: output.role,
            runtime: output.runtime,
            handler: output.handler,
            timeout: output.timeout,
            memory: output.memory_size,
            has_environment: output
                .environment
                .and_then(|e| e.variables)
                .is_some_and(|v| !v.is_empty()),
        })),
        Err(fault) if fault.is("ResourceNotFoundException") => Ok(None),
        Err(fault) => Err(aws_failure(&fault, "lambda:GetFunctionConfiguration")),
    }
}

async fn create_function(
    ctx: &Routing<'_>,
    role_arn: &str,
    built: &Package,
) -> Result<Outcome, Failure> {
    let name = &ctx.names.lambda;
    let result = aws_call(ctx.deadline, || {
        ctx.lambda
            .create_function()
            .function_name(name)
            .runtime(Runtime::from(LAMBDA_RUNTIME))
            .role(role_arn)
            .handler(LAMBDA_HANDLER)
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(built.zip.clone()))
                    .build(),
            )
            .description(LAMBDA_DESCRIPTION)
            .timeout(LAMBDA_TIMEOUT_SECS)
            .memory_size(LAMBDA_MEMORY_MB)
            .publish(false)
            .send()
    })
    .await;
    match result {
        Ok(_) => Ok(Outcome::waiting(format!(
            "created Lambda@Edge {name}; waiting for it to become active"
        ))),
        Err(fault) if fault.role_not_assumable => Ok(Outcome::waiting(format!(
            "IAM is still propagating the role {}; the function is created on the next check",
            ctx.names.role
        ))),
        // Created by an earlier, interrupted attempt or a concurrent one: it is provisioning.
        Err(fault) if fault.is("ResourceConflictException") => Ok(Outcome::waiting(format!(
            "Lambda@Edge {name} is being created; waiting for it to become active"
        ))),
        Err(fault) => Err(aws_failure(&fault, "lambda:CreateFunction")),
    }
}

async fn update_configuration(ctx: &Routing<'_>, role_arn: &str) -> Result<(), Failure> {
    let name = &ctx.names.lambda;
    let result = aws_call(ctx.deadline, || {
        ctx.lambda
            .update_function_configuration()
            .function_name(name)
            .role(role_arn)
            .runtime(Runtime::from(LAMBDA_RUNTIME))
            .handler(LAMBDA_HANDLER)
            .timeout(LAMBDA_TIMEOUT_SECS)
            .memory_size(LAMBDA_MEMORY_MB)
            .description(LAMBDA_DESCRIPTION)
            .environment(
                Environment::builder()
                    .set_variables(Some(Default::default()))
                    .build(),
            )
            .send()
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(fault) if fault.is("ResourceConflictException") => Ok(()),
        Err(fault) => Err(aws_failure(&fault, "lambda:UpdateFunctionConfiguration")),
    }
}

async fn update_code(ctx: &Routing<'_>, built: &Package) -> Result<(), Failure> {
    let name = &ctx.names.lambda;
    let result = aws_call(ctx.deadline, || {
        ctx.lambda
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(built.zip.clone()))
            .send()
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(fault) if fault.is("ResourceConflictException") => Ok(()),
        Err(fault) => Err(aws_failure(&fault, "lambda:UpdateFunctionCode")),
    }
}

/// How many numbered versions of the function `name` exist, and the ARN of the newest one
/// carrying `code_sha256`.
pub async fn versions(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    code_sha256: &str,
    deadline: tokio::time::Instant,
) -> Result<(usize, Option<String>), Failure> {
    let mut marker: Option<String> = None;
    let mut seen = 0;
    let mut newest: Option<(u64, String)> = None;
    for _ in 0..MAX_LIST_PAGES {
        let page = aws_call(deadline, || {
            lambda
                .list_versions_by_function()
                .function_name(name)
                .set_marker(marker.clone())
                .send()
        })
        .await;
        let page = match page {
            Ok(page) => page,
            Err(fault) if fault.is("ResourceNotFoundException") => return Ok((0, None)),
            Err(fault) => return Err(aws_failure(&fault, "lambda:ListVersionsByFunction")),
        };
        for version in page.versions.unwrap_or_default() {
            let Some(number) = version
                .version
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
            else {
                continue; // $LATEST
            };
            seen += 1;
            let current = version.code_sha256.as_deref() == Some(code_sha256);
            if current && newest.as_ref().is_none_or(|(n, _)| number > *n) {
                if let Some(arn) = version.function_arn {
                    newest = Some((number, arn));
                }
            }
        }
        marker = page.next_marker.filter(|m| !m.is_empty());
        if marker.is_none() {
            break;
        }
    }
    Ok((seen, newest.map(|(_, arn)| arn)))
}

async fn publish(ctx: &Routing<'_>, code_sha256: &str) -> Result<String, Failure> {
    let name = &ctx.names.lambda;
    let output = aws_call(ctx.deadline, || {
        ctx.lambda
            .publish_version()
            .function_name(name)
            .code_sha256(code_sha256)
            .description(LAMBDA_VERSION_DESCRIPTION)
            .send()
    })
    .await
    .map_err(|fault| {
        if fault.is("PreconditionFailedException") || fault.is("ResourceConflictException") {
            Failure::new(
                ErrorCode::Unavailable,
                format!("{name} changed while its version was being published; the command will be retried"),
            )
        } else {
            aws_failure(&fault, "lambda:PublishVersion")
        }
    })?;
    output
        .function_arn
        .filter(|arn| {
            arn.rsplit(':')
                .next()
                .is_some_and(|v| v.parse::<u64>().is_ok())
        })
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::Internal,
                "PublishVersion returned no numbered version; the command will be retried",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(policy: &Value) -> String {
        percent_encoding::utf8_percent_encode(
            &policy.to_string(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string()
    }

    #[test]
    fn trust_needs_both_lambda_services() {
        assert!(trusts_edge_services(Some(&encoded(&trust_policy()))));
        let lambda_only = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]});
        assert!(!trusts_edge_services(Some(&encoded(&lambda_only))));
        let split = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": ["sts:AssumeRole"]},
            {"Effect": "Allow", "Principal": {"Service": ["edgelambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}]});
        assert!(trusts_edge_services(Some(&encoded(&split))));
        assert!(!trusts_edge_services(Some("%7Bnot json")));
        assert!(!trusts_edge_services(None));
    }
}
