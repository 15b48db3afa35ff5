//! Step `function`: the distribution's routing function (CloudFront Functions), generated from
//! the routed behavior's origin (where agents fail over to) and the targeted paths, created or
//! updated only when its code differs, then published to LIVE.
//!
//! The function is one per distribution: routing serves one behavior of a distribution at a
//! time (the routing target record names it).
//!
//! Publishing uses the DEVELOPMENT stage's ETag (the one the preceding create or update
//! returned), never the LIVE one.
//! <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_PublishFunction.html>

use aws_sdk_cloudfront::primitives::Blob;
use aws_sdk_cloudfront::types::{FunctionConfig, FunctionRuntime, FunctionStage};

use crate::edge::code::{routing_function, MAX_FUNCTION_CODE_BYTES};
use crate::edge::names::FUNCTION_COMMENT;
use crate::error::{AwsFault, ErrorCode, Failure};
use crate::retry::aws_call;
use crate::routing::calls::{cloudfront_failure, is_stale_etag, STALE_ETAG_ATTEMPTS};
use crate::routing::context::Routing;
use crate::routing::distribution::{failover_origin_id, read};
use crate::routing::step::{Change, Done, Outcome};

/// One stage of the function as CloudFront holds it.
struct Stage {
    code: Vec<u8>,
    etag: String,
}

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let mut snapshot = read(ctx).await?;
    let default_origin = failover_origin_id(&mut snapshot.config, &ctx.params.behavior)?;
    let code = desired_code(ctx, &default_origin)?;

    for attempt in 1..=STALE_ETAG_ATTEMPTS {
        match converge(ctx, &code).await {
            Ok(change) => return Ok(done(ctx, change, &default_origin)),
            Err(Step::Failed(failure)) => return Err(failure),
            Err(Step::Stale) => {
                tracing::warn!(
                    attempt,
                    "the routing function changed since it was read; reading it again"
                );
            }
        }
    }
    Err(Failure::new(
        ErrorCode::Unavailable,
        format!(
            "the routing function {} kept changing while it was being published; the command \
             will be retried",
            ctx.names.function
        ),
    ))
}

/// The function's source for this distribution, refused before any call when it would pass
/// CloudFront's size limit.
pub fn desired_code(ctx: &Routing<'_>, default_origin: &str) -> Result<String, Failure> {
    let code = routing_function(default_origin, ctx.params.targeted_paths.as_deref());
    if code.len() > MAX_FUNCTION_CODE_BYTES {
        return Err(Failure::new(
            ErrorCode::LimitExceeded,
            format!(
                "the routing function would be {} bytes, over CloudFront's {MAX_FUNCTION_CODE_BYTES}; \
                 send fewer or shorter targetedPaths",
                code.len()
            ),
        ));
    }
    Ok(code)
}

fn done(ctx: &Routing<'_>, change: Change, default_origin: &str) -> Outcome {
    let name = &ctx.names.function;
    let detail = match change {
        Change::Created => format!("created and published {name}"),
        Change::Updated => format!("published the current code of {name}"),
        Change::Exists => format!("{name} is live with the current code"),
    };
    Outcome::Done(
        Done::new(change, detail)
            .fact("functionName", name.as_str())
            .fact("functionArn", ctx.function_arn())
            .fact("defaultOriginId", default_origin),
    )
}

enum Step {
    Failed(Failure),
    /// An ETag went stale between read and write: read again.
    Stale,
}

impl From<Failure> for Step {
    fn from(failure: Failure) -> Self {
        Self::Failed(failure)
    }
}

fn write_failure(fault: AwsFault, action: &str) -> Step {
    if is_stale_etag(&fault) {
        Step::Stale
    } else {
        Step::Failed(cloudfront_failure(&fault, action))
    }
}

async fn converge(ctx: &Routing<'_>, code: &str) -> Result<Change, Step> {
    let Some(development) = stage(ctx, FunctionStage::Development).await? else {
        if ctx.planning() {
            return Ok(Change::Created);
        }
        let etag = create(ctx, code).await?;
        publish(ctx, &etag).await?;
        return Ok(Change::Created);
    };
    let live = stage(ctx, FunctionStage::Live).await?;
    let development_current = development.code == code.as_bytes();
    let live_current = live.is_some_and(|l| l.code == code.as_bytes());
    if development_current && live_current {
        return Ok(Change::Exists);
    }
    if ctx.planning() {
        return Ok(Change::Updated);
    }
    let etag = if development_current {
        development.etag
    } else {
        update(ctx, code, &development.etag).await?
    };
    publish(ctx, &etag).await?;
    Ok(Change::Updated)
}

async fn stage(ctx: &Routing<'_>, stage: FunctionStage) -> Result<Option<Stage>, Failure> {
    let name = &ctx.names.function;
    let result = aws_call(ctx.deadline, || {
        ctx.cloudfront
            .get_function()
            .name(name)
            .stage(stage.clone())
            .send()
    })
    .await;
    match result {
        Ok(output) => Ok(Some(Stage {
            code: output
                .function_code
                .map(|b| b.into_inner())
                .unwrap_or_default(),
            etag: output.e_tag.unwrap_or_default(),
        })),
        Err(fault) if fault.is("NoSuchFunctionExists") => Ok(None),
        Err(fault) => Err(cloudfront_failure(&fault, "cloudfront:GetFunction")),
    }
}

fn function_config() -> FunctionConfig {
    FunctionConfig::builder()
        .comment(FUNCTION_COMMENT)
        .runtime(FunctionRuntime::CloudfrontJs20)
        .build()
        .expect("comment and runtime are set")
}

async fn create(ctx: &Routing<'_>, code: &str) -> Result<String, Step> {
    let name = &ctx.names.function;
    let result = aws_call(ctx.deadline, || {
        ctx.cloudfront
            .create_function()
            .name(name)
            .function_config(function_config())
            .function_code(Blob::new(code.as_bytes()))
            .send()
    })
    .await;
    match result {
        Ok(output) => Ok(output.e_tag.unwrap_or_default()),
        // Created by a concurrent run between our read and our write: read it again.
        Err(fault) if fault.is("FunctionAlreadyExists") => Err(Step::Stale),
        Err(fault) => Err(write_failure(fault, "cloudfront:CreateFunction")),
    }
}

async fn update(ctx: &Routing<'_>, code: &str, etag: &str) -> Result<String, Step> {
    let name = &ctx.names.function;
    aws_call(ctx.deadline, || {
        ctx.cloudfront
            .update_function()
            .name(name)
            .if_match(etag)
            .function_config(function_config())
            .function_code(Blob::new(code.as_bytes()))
            .send()
    })
    .await
    .map(|output| output.e_tag.unwrap_or_default())
    .map_err(|fault| write_failure(fault, "cloudfront:UpdateFunction"))
}

async fn publish(ctx: &Routing<'_>, development_etag: &str) -> Result<(), Step> {
    let name = &ctx.names.function;
    aws_call(ctx.deadline, || {
        ctx.cloudfront
            .publish_function()
            .name(name)
            .if_match(development_etag)
            .send()
    })
    .await
    .map(|_| ())
    .map_err(|fault| write_failure(fault, "cloudfront:PublishFunction"))
}
