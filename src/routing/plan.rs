//! `plan-deploy`: runs the converging steps in plan mode (reads only) and says per step what a
//! deploy would do: `create`, `exists`, `update`, or `blocked` with the reason, and whether the
//! deploy can proceed.

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::error::Failure;
use crate::routing::api_key::SiteConfigs;
use crate::routing::context::Routing;
use crate::routing::deploy::run_step;
use crate::routing::distribution::read;
use crate::routing::guardrail::{check, Serving};
use crate::routing::step::{Change, Outcome};
use crate::routing_params::StepKey;
use crate::steps::{StepRow, StepStatus};

/// The steps a plan assesses: the ones that change the customer's account.
pub const PLANNED_STEPS: [StepKey; 5] = [
    StepKey::Origin,
    StepKey::Function,
    StepKey::Cache,
    StepKey::Lambda,
    StepKey::Associate,
];

/// A plan: its outcome word, its result and its step rows.
#[derive(Clone, Debug)]
pub struct Plan {
    pub outcome: &'static str,
    pub result: Value,
    pub steps: Vec<StepRow>,
}

/// Assesses every step. Only failures that a later attempt may not see (throttling, AWS
/// unavailable) fail the plan; anything else blocks the step it concerns.
pub async fn plan(
    ctx: &mut Routing<'_>,
    site_configs: &SiteConfigs,
    now: SystemTime,
) -> Result<Plan, Failure> {
    let now = rfc3339(now);
    let snapshot = read(ctx).await?;
    let mut rows: Vec<StepRow> = PLANNED_STEPS
        .iter()
        .map(|s| StepRow::pending(*s, &now))
        .collect();

    let serving = match check(&snapshot, ctx.params) {
        Ok(serving) => serving,
        Err(blocker) if !blocker.retryable() => {
            for row in &mut rows {
                row.set(StepStatus::Skipped, "blocked by the guardrail", &now);
            }
            return Ok(Plan {
                outcome: "blocked",
                result: json!({
                    "canProceed": false,
                    "blocker": blocker.message,
                    "targetDomain": ctx.params.site_base_url.host(),
                    "plan": [],
                }),
                steps: rows,
            });
        }
        Err(failure) => return Err(failure),
    };

    let api_key = site_configs
        .api_key(&ctx.params.site_base_url, ctx.deadline)
        .await;
    let mut plan = Vec::new();
    for (row, step) in rows.iter_mut().zip(PLANNED_STEPS) {
        let assessed = match (&api_key, step) {
            (Err(failure), StepKey::Origin) => Err(failure.clone()),
            (Ok(key), StepKey::Origin) => {
                ctx.api_key = Some(key.clone());
                run_step(ctx, step).await
            }
            _ => run_step(ctx, step).await,
        };
        let (action, reason) = match assessed {
            Ok(Outcome::Done(done)) => (done.change.planned(), reason(step, done.change)),
            Ok(Outcome::Waiting { detail }) => ("update", detail),
            Err(failure) if failure.retryable() => return Err(failure),
            Err(failure) => ("blocked", failure.message),
        };
        let status = if action == "blocked" {
            StepStatus::Error
        } else {
            StepStatus::Done
        };
        row.set(status, reason.clone(), &now);
        row.action = Some(action.to_owned());
        plan.push(json!({"step": step.as_str(), "action": action, "reason": reason}));
    }
    ctx.api_key = None;

    let can_proceed = rows.iter().all(|r| r.action.as_deref() != Some("blocked"));
    let mut result = json!({
        "canProceed": can_proceed,
        "targetDomain": ctx.params.site_base_url.host(),
        "plan": plan,
    });
    if serving == Serving::Overridden {
        result["domainMismatchAllowed"] = json!(true);
    }
    if let Some(blocked) = rows.iter().find(|r| r.action.as_deref() == Some("blocked")) {
        result["blocker"] = json!(blocked.detail);
    }
    Ok(Plan {
        outcome: if can_proceed {
            "can-proceed"
        } else {
            "blocked"
        },
        result,
        steps: rows,
    })
}

/// What a step would do, for people.
fn reason(step: StepKey, change: Change) -> String {
    let what = match step {
        StepKey::Origin => "the Edge Optimize origin",
        StepKey::Function => "the routing function",
        StepKey::Cache => "the behavior's cache key headers",
        StepKey::Lambda => "the Lambda@Edge function, its role and its version",
        StepKey::Associate => "the behavior's associations",
        StepKey::Propagation => "the deployment",
        StepKey::Verify => "the verification",
    };
    match change {
        Change::Created => format!("{what}: to be created"),
        Change::Updated => format!("{what}: to be updated"),
        Change::Exists => format!("{what}: already in place"),
    }
}
