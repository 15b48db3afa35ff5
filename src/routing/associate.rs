//! Step `associate`: the routing function on the behavior's viewer-request event, the Lambda@Edge
//! version on origin-request and origin-response. Associations are merged, never replaced: every
//! association on an event type routing does not use is kept, and a slot the customer already
//! uses is refused with what to remove.

use aws_sdk_cloudfront::types::FunctionStage;
use aws_sdk_cloudfront::types::{
    DistributionConfig, EventType, FunctionAssociation, FunctionAssociations,
    LambdaFunctionAssociation, LambdaFunctionAssociations,
};

use crate::edge::names::{is_origin_lambda_arn, is_routing_function_arn, ORIGIN_ID};
use crate::error::{ErrorCode, Failure};
use crate::retry::aws_call;
use crate::routing::cache::forwards_headers;
use crate::routing::calls::cloudfront_failure;
use crate::routing::context::Routing;
use crate::routing::distribution::{behavior, converge, read};
use crate::routing::lambda_edge::{handler_package, versions};
use crate::routing::step::{Change, Done, Outcome};
use crate::routing_params::Behavior;

/// The Lambda@Edge events routing uses.
const LAMBDA_EVENTS: [EventType; 2] = [EventType::OriginRequest, EventType::OriginResponse];

pub async fn run(ctx: &Routing<'_>) -> Result<Outcome, Failure> {
    if !ctx.planning() {
        ensure_prerequisites(ctx).await?;
    }
    let function_arn = live_function_arn(ctx).await?;
    let version_arn = current_version_arn(ctx).await?;
    let wanted = &ctx.params.behavior;
    let mut kept = None;
    let change = converge(ctx, |config| {
        let merged = merge(config, wanted, &function_arn, &version_arn)?;
        kept = merged.kept_origin_response;
        Ok(merged.change)
    })
    .await?
    .unwrap_or(Change::Exists);
    let mut detail = match change {
        Change::Exists => format!(
            "{} is wired to the routing function and {version_arn}",
            wanted.describe()
        ),
        _ => format!(
            "associated the routing function and {version_arn} with {}",
            wanted.describe()
        ),
    };
    let mut done = Done::new(change, String::new())
        .fact("functionArn", function_arn)
        .fact("lambdaVersionArn", version_arn.clone());
    if let Some(arn) = kept {
        detail.push_str(&format!(
            "; the customer's origin-response Lambda@Edge function {arn} was kept, so failover \
             responses are not marked no-store"
        ));
        done = done.fact("customerOriginResponseLambda", arn);
    }
    done.detail = detail;
    Ok(Outcome::Done(done))
}

/// Routing may only be wired in once the origin it sends agents to exists and the behavior's
/// cache key tells agents' pages from people's; otherwise agents would be sent to a missing
/// origin, or share cached pages with people.
async fn ensure_prerequisites(ctx: &Routing<'_>) -> Result<(), Failure> {
    let mut snapshot = read(ctx).await?;
    let has_origin = snapshot
        .config
        .origins
        .as_ref()
        .is_some_and(|o| o.items.iter().any(|o| o.id == ORIGIN_ID));
    if !has_origin {
        return Err(Failure::new(
            ErrorCode::NotFound,
            format!(
                "the distribution has no {ORIGIN_ID} origin yet; run the origin step first \
                 (nothing was changed)"
            ),
        ));
    }
    if !forwards_headers(ctx, &mut snapshot.config).await? {
        return Err(Failure::new(
            ErrorCode::NotFound,
            format!(
                "{} does not forward the Edge Optimize headers in its cache key yet; run the \
                 cache step first (nothing was changed)",
                ctx.params.behavior.describe()
            ),
        ));
    }
    Ok(())
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
    match versions(
        &ctx.lambda,
        &ctx.names.lambda,
        &built.code_sha256,
        ctx.deadline,
    )
    .await?
    {
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

/// What merging found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// `None` when routing's associations were already in place.
    pub change: Option<Change>,
    /// The customer's own origin-response Lambda, kept in its slot.
    pub kept_origin_response: Option<String>,
}

/// Sets routing's associations on the behavior, keeping the customer's: their associations on
/// events routing does not use, and their origin-response Lambda (routing then does without
/// marking failover responses). A slot routing cannot do without (viewer request, origin
/// request) that the customer uses is refused.
pub fn merge(
    config: &mut DistributionConfig,
    wanted: &Behavior,
    function_arn: &str,
    version_arn: &str,
) -> Result<Merged, Failure> {
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

    if let Some(foreign) = function_items.iter().find(|f| {
        f.event_type == EventType::ViewerRequest && !is_routing_function_arn(&f.function_arn)
    }) {
        return Err(slot_taken(
            &place,
            "viewer-request function",
            &foreign.function_arn,
        ));
    }
    if let Some(foreign) = lambda_items
        .iter()
        .find(|l| l.event_type == EventType::ViewerRequest)
    {
        // CloudFront allows no viewer-request Lambda next to a viewer-request function.
        return Err(slot_taken(
            &place,
            "viewer-request Lambda@Edge function",
            &foreign.lambda_function_arn,
        ));
    }
    if let Some(foreign) = lambda_items.iter().find(|l| {
        l.event_type == EventType::OriginRequest && !is_origin_lambda_arn(&l.lambda_function_arn)
    }) {
        return Err(slot_taken(
            &place,
            "origin-request Lambda@Edge function",
            &foreign.lambda_function_arn,
        ));
    }
    let kept_origin_response = lambda_items
        .iter()
        .find(|l| {
            l.event_type == EventType::OriginResponse
                && !is_origin_lambda_arn(&l.lambda_function_arn)
        })
        .map(|l| l.lambda_function_arn.clone());

    let had_ours = function_items
        .iter()
        .any(|f| is_routing_function_arn(&f.function_arn))
        || lambda_items
            .iter()
            .any(|l| is_origin_lambda_arn(&l.lambda_function_arn));
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
        if event == EventType::OriginResponse && kept_origin_response.is_some() {
            continue;
        }
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
    let change = changed.then_some(if had_ours {
        Change::Updated
    } else {
        Change::Created
    });
    Ok(Merged {
        change,
        kept_origin_response,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudfront::types::{DefaultCacheBehavior, ViewerProtocolPolicy};

    const FUNCTION: &str =
        "arn:aws:cloudfront::111122223333:function/edgeoptimize-routing-adobe-E2EXAMPLE1ABCD";
    const VERSION: &str =
        "arn:aws:lambda:us-east-1:111122223333:function:edgeoptimize-origin-adobe-E2EXAMPLE1ABCD:4";
    const OLD_VERSION: &str =
        "arn:aws:lambda:us-east-1:111122223333:function:edgeoptimize-origin-adobe-E2EXAMPLE1ABCD:3";
    const CUSTOMER_FUNCTION: &str = "arn:aws:cloudfront::111122223333:function/security-headers";
    const CUSTOMER_LAMBDA: &str = "arn:aws:lambda:us-east-1:111122223333:function:rewrite:9";

    fn function(arn: &str, event: EventType) -> FunctionAssociation {
        FunctionAssociation::builder()
            .function_arn(arn)
            .event_type(event)
            .build()
            .unwrap()
    }

    fn lambda(arn: &str, event: EventType) -> LambdaFunctionAssociation {
        LambdaFunctionAssociation::builder()
            .lambda_function_arn(arn)
            .event_type(event)
            .include_body(false)
            .build()
            .unwrap()
    }

    fn config(
        functions: Vec<FunctionAssociation>,
        lambdas: Vec<LambdaFunctionAssociation>,
    ) -> DistributionConfig {
        let behavior = DefaultCacheBehavior::builder()
            .target_origin_id("web")
            .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
            .function_associations(
                FunctionAssociations::builder()
                    .quantity(functions.len() as i32)
                    .set_items(Some(functions))
                    .build()
                    .unwrap(),
            )
            .lambda_function_associations(
                LambdaFunctionAssociations::builder()
                    .quantity(lambdas.len() as i32)
                    .set_items(Some(lambdas))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        DistributionConfig::builder()
            .caller_reference("r")
            .comment("c")
            .enabled(true)
            .default_cache_behavior(behavior)
            .build()
            .unwrap()
    }

    type Slots = Vec<(String, EventType)>;

    fn associations(config: &DistributionConfig) -> (Slots, Slots) {
        let behavior = config.default_cache_behavior.as_ref().unwrap();
        let functions = behavior.function_associations.as_ref().unwrap();
        let lambdas = behavior.lambda_function_associations.as_ref().unwrap();
        assert_eq!(
            functions.quantity as usize,
            functions.items.as_ref().unwrap().len()
        );
        assert_eq!(
            lambdas.quantity as usize,
            lambdas.items.as_ref().unwrap().len()
        );
        (
            functions
                .items
                .iter()
                .flatten()
                .map(|f| (f.function_arn.clone(), f.event_type.clone()))
                .collect(),
            lambdas
                .items
                .iter()
                .flatten()
                .map(|l| (l.lambda_function_arn.clone(), l.event_type.clone()))
                .collect(),
        )
    }

    #[test]
    fn wires_a_fresh_behavior_and_then_changes_nothing() {
        let mut config = config(vec![], vec![]);
        let merged = merge(&mut config, &Behavior::Default, FUNCTION, VERSION).unwrap();
        assert_eq!(merged.change, Some(Change::Created));
        let (functions, lambdas) = associations(&config);
        assert_eq!(
            functions,
            vec![(FUNCTION.to_owned(), EventType::ViewerRequest)]
        );
        assert_eq!(
            lambdas,
            vec![
                (VERSION.to_owned(), EventType::OriginRequest),
                (VERSION.to_owned(), EventType::OriginResponse)
            ]
        );
        let again = merge(&mut config, &Behavior::Default, FUNCTION, VERSION).unwrap();
        assert_eq!(again.change, None);
    }

    #[test]
    fn moves_to_a_new_version_in_place() {
        let mut config = config(
            vec![function(FUNCTION, EventType::ViewerRequest)],
            vec![
                lambda(OLD_VERSION, EventType::OriginRequest),
                lambda(OLD_VERSION, EventType::OriginResponse),
            ],
        );
        let merged = merge(&mut config, &Behavior::Default, FUNCTION, VERSION).unwrap();
        assert_eq!(merged.change, Some(Change::Updated));
        let (_, lambdas) = associations(&config);
        assert!(lambdas.iter().all(|(arn, _)| arn == VERSION), "{lambdas:?}");
    }

    #[test]
    fn keeps_the_customers_viewer_response_function_and_origin_response_lambda() {
        let mut config = config(
            vec![function(CUSTOMER_FUNCTION, EventType::ViewerResponse)],
            vec![lambda(CUSTOMER_LAMBDA, EventType::OriginResponse)],
        );
        let merged = merge(&mut config, &Behavior::Default, FUNCTION, VERSION).unwrap();
        assert_eq!(merged.change, Some(Change::Created));
        assert_eq!(
            merged.kept_origin_response.as_deref(),
            Some(CUSTOMER_LAMBDA)
        );
        let (functions, lambdas) = associations(&config);
        assert!(functions.contains(&(CUSTOMER_FUNCTION.to_owned(), EventType::ViewerResponse)));
        assert!(functions.contains(&(FUNCTION.to_owned(), EventType::ViewerRequest)));
        assert!(lambdas.contains(&(CUSTOMER_LAMBDA.to_owned(), EventType::OriginResponse)));
        assert!(lambdas.contains(&(VERSION.to_owned(), EventType::OriginRequest)));
        assert_eq!(lambdas.len(), 2);
    }

    #[test]
    fn refuses_slots_the_customer_uses_and_changes_nothing() {
        let cases = [
            config(
                vec![function(CUSTOMER_FUNCTION, EventType::ViewerRequest)],
                vec![],
            ),
            config(
                vec![],
                vec![lambda(CUSTOMER_LAMBDA, EventType::ViewerRequest)],
            ),
            config(
                vec![],
                vec![lambda(CUSTOMER_LAMBDA, EventType::OriginRequest)],
            ),
        ];
        for original in cases {
            let mut config = original.clone();
            let error = merge(&mut config, &Behavior::Default, FUNCTION, VERSION).unwrap_err();
            assert_eq!(error.code, ErrorCode::Conflict);
            assert!(
                error.message.contains(CUSTOMER_FUNCTION)
                    || error.message.contains(CUSTOMER_LAMBDA),
                "{}",
                error.message
            );
            assert!(error.message.contains("Remove that association"));
        }
    }
}
