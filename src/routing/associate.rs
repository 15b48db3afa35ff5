//! Step `associate`: the routing function on the behavior's viewer-request event, the Lambda@Edge
//! version on origin-request and origin-response. Associations are merged, never replaced: every
//! association on an event type routing does not use is kept, and a slot the customer already
//! uses is refused with what to remove.

use aws_sdk_cloudfront::types::{
    DistributionConfig, EventType, FunctionAssociation, FunctionAssociations,
    LambdaFunctionAssociation, LambdaFunctionAssociations,
};
use aws_sdk_cloudfront::types::FunctionStage;

use crate::edge::names::{is_origin_lambda_arn, is_routing_function_arn};
use crate::error::{ErrorCode, Failure};
use crate::retry::aws_call;
use crate::routing::calls::cloudfront_failure;
use crate::routing::context::Routing;
use crate::routing::distribution::{behavior, converge};
use crate::routing::lambda_edge::{handler_package, versions};
use crate::routing::step::{Change, Done, Outcome};
use crate::routing_params::Behavior;

/// The Lambda@Edge events routing uses.
const LAMBDA_EVENTS: [EventType; 2] = [EventType::OriginRequest, EventType::OriginResponse];

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    let function_arn = live_function_arn(ctx).await?;
    let version_arn = current_version_arn(ctx).await?;
    let wanted = &ctx.params.behavior;
    let change = converge(ctx, |config| {
        merge(config, wanted, &function_arn, &version_arn)
    })
    .await?
    .unwrap_or(Change::Exists);
    let detail = match change {
        Change::Exists => format!("{} is wired to the routing function and {version_arn}", wanted.describe()),
        _ => format!(
            "associated the routing function and {version_arn} with {}",
            wanted.describe()
        ),
    };
    Ok(Outcome::Done(
        Done::new(change, detail)
            .fact("functionArn", function_arn)
            .fact("lambdaVersionArn", version_arn),
    ))
}

/// The routing function's ARN, once it is published. In a plan, the ARN it will have.
async fn live_function_arn(ctx: &Routing<'_>) -> Result<String, Failure> {
    let name = &ctx.names.function;
    let described = aws_call(ctx.deadline, || {
        ctx.cloudfront
            .describe_function()
            .name(name)
            .stage(FunctionStage::Live)
            .send()
    })
    .await;
    match described {
        Ok(output) => Ok(output
            .function_summary
            .and_then(|s| s.function_metadata)
            .map(|m| m.function_arn)
            .unwrap_or_else(|| ctx.function_arn())),
        Err(fault) if fault.is("NoSuchFunctionExists") && ctx.planning() => Ok(ctx.function_arn()),
        Err(fault) if fault.is("NoSuchFunctionExists") => Err(Failure::new(
            ErrorCode::NotFound,
            format!(
                "the routing function {name} is not published yet; run the function step first"
            ),
        )),
        Err(fault) => Err(cloudfront_failure(&fault, "cloudfront:DescribeFunction")),
    }
}

/// The newest Lambda@Edge version carrying the current handler. In a plan, a placeholder for
/// the version the lambda step will publish.
async fn current_version_arn(ctx: &Routing<'_>) -> Result<String, Failure> {
    let built = handler_package(ctx);
    match versions(&ctx.lambda, &ctx.names.lambda, &built.code_sha256, ctx.deadline).await? {
        (_, Some(arn)) => Ok(arn),
        _ if ctx.planning() => Ok(format!(
            "arn:aws:lambda:us-east-1:{}:function:{}:(next)",
            ctx.account_id, ctx.names.lambda
        )),
        _ => Err(Failure::new(
            ErrorCode::NotFound,
            format!(
                "no published version of {} carries the current handler; run the lambda step first",
                ctx.names.lambda
            ),
        )),
    }
}

/// Sets routing's associations on the behavior, keeping the customer's. `None` when they are
/// already in place.
pub fn merge(
    config: &mut DistributionConfig,
    wanted: &Behavior,
    function_arn: &str,
    version_arn: &str,
) -> Result<Option<Change>, Failure> {
    let mut target = behavior(config, wanted)?;
    let place = wanted.describe();

    let (functions, lambdas) = target.associations();
    let functions = functions.get_or_insert_with(|| {
        FunctionAssociations::builder()
            .quantity(0)
            .build()
            .expect("a quantity is set")
    });
    let function_items = functions.items.get_or_insert_with(Vec::new);
    let lambdas = lambdas.get_or_insert_with(|| {
        LambdaFunctionAssociations::builder()
            .quantity(0)
            .build()
            .expect("a quantity is set")
    });
    let lambda_items = lambdas.items.get_or_insert_with(Vec::new);

    if let Some(foreign) = function_items
        .iter()
        .find(|f| f.event_type == EventType::ViewerRequest && !is_routing_function_arn(&f.function_arn))
    {
        return Err(slot_taken(&place, "viewer-request function", &foreign.function_arn));
    }
    if let Some(foreign) = lambda_items
        .iter()
        .find(|l| l.event_type == EventType::ViewerRequest)
    {
        // CloudFront allows no viewer-request Lambda next to a viewer-request function.
        return Err(slot_taken(&place, "viewer-request Lambda@Edge function", &foreign.lambda_function_arn));
    }
    if let Some(foreign) = lambda_items.iter().find(|l| {
        LAMBDA_EVENTS.contains(&l.event_type) && !is_origin_lambda_arn(&l.lambda_function_arn)
    }) {
        return Err(slot_taken(
            &place,
            &format!("{} Lambda@Edge function", foreign.event_type.as_str()),
            &foreign.lambda_function_arn,
        ));
    }

    let had_ours = function_items.iter().any(|f| is_routing_function_arn(&f.function_arn))
        || lambda_items.iter().any(|l| is_origin_lambda_arn(&l.lambda_function_arn));
    let mut changed = false;

    let viewer_request = function_items
        .iter()
        .position(|f| f.event_type == EventType::ViewerRequest);
    let ours = FunctionAssociation::builder()
        .function_arn(function_arn)
        .event_type(EventType::ViewerRequest)
        .build()
        .expect("arn and event are set");
    match viewer_request {
        Some(i) if function_items[i] == ours => {}
        Some(i) => {
            function_items[i] = ours;
            changed = true;
        }
        None => {
            function_items.push(ours);
            changed = true;
        }
    }
    for event in LAMBDA_EVENTS {
        let ours = LambdaFunctionAssociation::builder()
            .lambda_function_arn(version_arn)
            .event_type(event.clone())
            .include_body(false)
            .build()
            .expect("arn and event are set");
        match lambda_items.iter().position(|l| l.event_type == event) {
            Some(i) if lambda_items[i] == ours => {}
            Some(i) => {
                lambda_items[i] = ours;
                changed = true;
            }
            None => {
                lambda_items.push(ours);
                changed = true;
            }
        }
    }
    functions.quantity = function_items.len() as i32;
    lambdas.quantity = lambda_items.len() as i32;
    if !changed {
        return Ok(None);
    }
    Ok(Some(if had_ours {
        Change::Updated
    } else {
        Change::Created
    }))
}

fn slot_taken(place: &str, slot: &str, arn: &str) -> Failure {
    Failure::new(
        ErrorCode::Conflict,
        format!(
            "{place} already has a {slot} of the customer's own ({arn}); Edge Optimize routing \
             needs that slot. Remove that association (or merge its logic elsewhere), then send \
             the command again. Nothing was changed"
        ),
    )
}
