//! `deploy-step`: one step, or `all` of them in order. Each run writes the step list as it goes;
//! a step that waits on AWS ends the run as a wait (the consumer records `waiting` and sends a
//! continuation), and the continuation resumes at the first step not yet done. A step that waits
//! longer than the configured timeout fails `TIMED_OUT`; a step that fails stops the run with
//! its code, later steps left pending.

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::clock::{epoch_millis, rfc3339};
use crate::error::{ErrorCode, Failure};
use crate::records::Wait;
use crate::routing::api_key::SiteConfigs;
use crate::routing::context::Routing;
use crate::routing::distribution::read;
use crate::routing::guardrail::{check, Serving};
use crate::routing::step::{Change, Outcome};
use crate::routing::{associate, cache, function, lambda_edge, origin, propagation, verify};
use crate::routing_params::{StepChoice, StepKey};
use crate::steps::{StepRow, StepStatus};

/// Runs one step against the customer's account, in the context's mode.
///
/// Each step's future is boxed: the SDK's request futures are large, and a step nests several
/// of them, so keeping them off the caller's stack keeps deep debug builds within a thread's
/// stack.
pub async fn run_step(ctx: &Routing<'_>, step: StepKey) -> Result<Outcome, Failure> {
    match step {
        StepKey::Origin => Box::pin(origin::run(ctx)).await,
        StepKey::Function => Box::pin(function::run(ctx)).await,
        StepKey::Cache => Box::pin(cache::run(ctx)).await,
        StepKey::Lambda => Box::pin(lambda_edge::run(ctx)).await,
        StepKey::Associate => Box::pin(associate::run(ctx)).await,
        StepKey::Propagation => Box::pin(propagation::run(ctx)).await,
        StepKey::Verify => Box::pin(verify::run(ctx)).await,
    }
}

/// What an earlier run of the same command left in its record.
#[derive(Clone, Debug, Default)]
pub struct Prior {
    pub steps: Vec<StepRow>,
    pub wait: Option<Wait>,
    /// Facts earlier runs gathered, per step.
    pub facts: Map<String, Value>,
}

/// Where a run stopped without failing.
#[derive(Clone, Debug)]
pub struct Ran {
    pub outcome: &'static str,
    pub result: Value,
    pub steps: Vec<StepRow>,
    /// Set when a step waits: what to record (the consumer sets the continuation's number).
    pub wait: Option<Wait>,
    /// Whether a mutating step finished in this run, so the target record is worth updating.
    pub changed_routing: bool,
}

/// A run that failed, with the step list as it ended.
#[derive(Clone, Debug)]
pub struct Stopped {
    pub failure: Failure,
    pub steps: Vec<StepRow>,
    /// A step that changes the distribution ran (and may have written) before the failure.
    pub changed_routing: bool,
    /// What the run gathered before it stopped.
    pub result: Value,
}

/// Writes the step list while a run goes on.
pub trait Progress: Send + Sync {
    fn write<'a>(&'a self, steps: &'a [StepRow]) -> futures::future::BoxFuture<'a, ()>;
}

/// How long a step may wait, and the time now.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: SystemTime,
    pub wait_timeout: Duration,
}

pub async fn deploy(
    ctx: &mut Routing<'_>,
    choice: StepChoice,
    prior: &Prior,
    site_configs: &SiteConfigs,
    progress: &dyn Progress,
    clock: Clock,
) -> Result<Ran, Stopped> {
    let steps = choice.steps();
    let now = rfc3339(clock.now);
    let mut rows: Vec<StepRow> = steps
        .iter()
        .map(|step| {
            prior
                .steps
                .iter()
                .find(|r| r.key == step.as_str() && r.status == StepStatus::Done)
                .cloned()
                .unwrap_or_else(|| StepRow::pending(*step, &now))
        })
        .collect();
    let mut facts = prior.facts.clone();
    let first = rows
        .iter()
        .position(|r| r.status != StepStatus::Done)
        .unwrap_or(rows.len());
    let remaining = &steps[first..];

    let mut changed_routing = false;
    let stop = |rows: &mut Vec<StepRow>,
                index: usize,
                failure: Failure,
                changed_routing: bool,
                facts: &Map<String, Value>| {
        if let Some(row) = rows.get_mut(index) {
            row.set(StepStatus::Error, failure.message.clone(), &now);
        }
        Stopped {
            failure,
            steps: rows.clone(),
            changed_routing,
            result: json!({"steps": facts}),
        }
    };

    let serving = match prepare(ctx, remaining, site_configs).await {
        Ok(serving) => serving,
        Err(failure) => {
            let stopped = stop(&mut rows, first, failure, false, &facts);
            progress.write(&stopped.steps).await;
            return Err(stopped);
        }
    };

    for (offset, step) in remaining.iter().enumerate() {
        let index = first + offset;
        rows[index].set(StepStatus::InProgress, "running", &now);
        progress.write(&rows).await;
        // From here the step may write: the target is registered however it ends.
        changed_routing |= step.is_mutating() && !ctx.planning();

        let outcome = match run_step(ctx, *step).await {
            Ok(outcome) => outcome,
            Err(failure) => {
                let stopped = stop(&mut rows, index, failure, changed_routing, &facts);
                progress.write(&stopped.steps).await;
                return Err(stopped);
            }
        };
        match outcome {
            Outcome::Done(done) => {
                let change = merged_change(&prior.steps, *step, done.change);
                rows[index].set(StepStatus::Done, done.detail, &now);
                rows[index].change = Some(change.as_str().to_owned());
                facts.insert(step.as_str().to_owned(), Value::Object(done.facts));
                progress.write(&rows).await;
            }
            Outcome::Waiting { detail } => {
                let wait = next_wait(prior.wait.as_ref(), *step, clock);
                let waited =
                    Duration::from_millis(epoch_millis(clock.now).saturating_sub(wait.since_ms));
                if waited > clock.wait_timeout {
                    let failure = Failure::new(
                        ErrorCode::TimedOut,
                        format!(
                            "the {} step waited {}, longer than its limit of {}: {detail}",
                            step.as_str(),
                            spoken(waited),
                            spoken(clock.wait_timeout)
                        ),
                    );
                    let stopped = stop(&mut rows, index, failure, changed_routing, &facts);
                    progress.write(&stopped.steps).await;
                    return Err(stopped);
                }
                rows[index].set(StepStatus::InProgress, detail, &now);
                return Ok(Ran {
                    outcome: "waiting",
                    result: result(choice, &serving, &facts, &rows),
                    steps: rows,
                    wait: Some(wait),
                    changed_routing,
                });
            }
        }
    }

    let outcome = final_outcome(choice, &rows);
    Ok(Ran {
        outcome,
        result: result(choice, &serving, &facts, &rows),
        steps: rows,
        wait: None,
        changed_routing,
    })
}

/// What every run checks before its steps: the guardrail (when a step will change the
/// distribution) and the site's API key (when the origin step will run).
async fn prepare(
    ctx: &mut Routing<'_>,
    remaining: &[StepKey],
    site_configs: &SiteConfigs,
) -> Result<Option<Serving>, Failure> {
    let mut serving = None;
    if remaining.iter().any(|s| s.is_mutating()) {
        let snapshot = read(ctx).await?;
        serving = Some(check(&snapshot, ctx.params)?);
    }
    if remaining.contains(&StepKey::Origin) && ctx.api_key.is_none() {
        ctx.api_key = Some(
            site_configs
                .api_key(&ctx.params.site_base_url, ctx.deadline)
                .await?,
        );
    }
    Ok(serving)
}

/// A step an earlier run of this command created or updated still counts as created or
/// updated when a later run finds it in place.
fn merged_change(prior: &[StepRow], step: StepKey, now: Change) -> Change {
    prior
        .iter()
        .find(|r| r.key == step.as_str())
        .and_then(|r| r.change.as_deref())
        .and_then(Change::parse)
        .map_or(now, |before| before.and(now))
}

fn next_wait(prior: Option<&Wait>, step: StepKey, clock: Clock) -> Wait {
    let now_ms = epoch_millis(clock.now);
    match prior.filter(|w| w.step == step.as_str()) {
        Some(prior) => Wait {
            step: prior.step.clone(),
            since_ms: prior.since_ms,
            checks: prior.checks + 1,
            seq: prior.seq,
            next_check_at: String::new(),
            fixed_delay_secs: None,
        },
        None => Wait {
            step: step.as_str().to_owned(),
            since_ms: now_ms,
            checks: 1,
            seq: prior.map_or(0, |w| w.seq),
            next_check_at: String::new(),
            fixed_delay_secs: None,
        },
    }
}

/// A duration as people say it: seconds under two minutes, minutes after.
fn spoken(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs < 120 {
        format!("{secs} s")
    } else {
        format!("{} min", secs / 60)
    }
}

fn final_outcome(choice: StepChoice, rows: &[StepRow]) -> &'static str {
    match choice {
        StepChoice::One(StepKey::Propagation) => "deployed",
        StepChoice::One(StepKey::Verify) => "verified",
        StepChoice::One(_) => rows
            .first()
            .and_then(|r| r.change.as_deref())
            .and_then(Change::parse)
            .map_or("exists", Change::as_str),
        StepChoice::All | StepChoice::Converge(_) => {
            let changed = rows
                .iter()
                .any(|r| matches!(r.change.as_deref(), Some("created") | Some("updated")));
            if changed {
                "deployed"
            } else {
                "already-deployed"
            }
        }
    }
}

fn result(
    choice: StepChoice,
    serving: &Option<Serving>,
    facts: &Map<String, Value>,
    rows: &[StepRow],
) -> Value {
    let done = |key: StepKey| {
        rows.iter()
            .any(|r| r.key == key.as_str() && r.status == StepStatus::Done)
    };
    let mut result = json!({
        "step": match choice {
            StepChoice::All => "all",
            StepChoice::Converge(_) => "converge",
            StepChoice::One(step) => step.as_str(),
        },
        "steps": facts,
    });
    if choice == StepChoice::All {
        result["routingDeployed"] = json!(done(StepKey::Associate));
        result["verified"] = json!(done(StepKey::Verify));
    }
    match serving {
        Some(Serving::Site(host)) => result["servesSite"] = json!(host),
        Some(Serving::Overridden) => result["domainMismatchAllowed"] = json!(true),
        None => {}
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: StepKey, status: StepStatus, change: Option<&str>) -> StepRow {
        let mut row = StepRow::pending(step, "t");
        row.status = status;
        row.change = change.map(str::to_owned);
        row
    }

    #[test]
    fn a_wait_on_the_same_step_keeps_its_start() {
        let clock = Clock {
            now: std::time::UNIX_EPOCH + Duration::from_secs(1_000),
            wait_timeout: Duration::from_secs(60),
        };
        let first = next_wait(None, StepKey::Propagation, clock);
        assert_eq!((first.since_ms, first.checks), (1_000_000, 1));
        let mut earlier = first.clone();
        earlier.since_ms = 400_000;
        earlier.seq = 3;
        let again = next_wait(Some(&earlier), StepKey::Propagation, clock);
        assert_eq!((again.since_ms, again.checks, again.seq), (400_000, 2, 3));
        let other = next_wait(Some(&earlier), StepKey::Verify, clock);
        assert_eq!((other.since_ms, other.checks, other.seq), (1_000_000, 1, 3));
    }

    #[test]
    fn changes_made_by_earlier_runs_are_not_forgotten() {
        let prior = vec![row(
            StepKey::Lambda,
            StepStatus::InProgress,
            Some("created"),
        )];
        assert_eq!(
            merged_change(&prior, StepKey::Lambda, Change::Exists),
            Change::Created
        );
        assert_eq!(
            merged_change(&[], StepKey::Lambda, Change::Exists),
            Change::Exists
        );
    }

    #[test]
    fn all_reports_whether_anything_changed() {
        let unchanged: Vec<_> = StepKey::ALL
            .iter()
            .map(|s| row(*s, StepStatus::Done, Some("exists")))
            .collect();
        assert_eq!(
            final_outcome(StepChoice::All, &unchanged),
            "already-deployed"
        );
        let mut changed = unchanged.clone();
        changed[2].change = Some("updated".into());
        assert_eq!(final_outcome(StepChoice::All, &changed), "deployed");
        assert_eq!(
            final_outcome(StepChoice::One(StepKey::Cache), &changed[2..3]),
            "updated"
        );
    }
}
