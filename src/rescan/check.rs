//! One target's check: registered targets only, one rescan at a time per target, drift found
//! from what the target record says should be there, healed when asked, and recorded on the
//! target record and on the rescan's counts.
//!
//! - Log delivery: the delivery read by its recorded id and compared (source, destination,
//!   record fields, path); healing is the converging enable plus setting the configuration back.
//! - Routing: the deploy's converging steps run as a plan (origin, function, cache, Lambda@Edge
//!   and its version, associations); anything not in place is drift; healing runs those steps.
//!
//! A target whose connector role is gone, or whose source now belongs to someone else, is
//! recorded as such and not retried: those need the customer.

use std::time::SystemTime;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::attributes::get_s;
use crate::aws_calls::AwsCalls;
use crate::command::{Command, Tenant};
use crate::delivery_names::DeliveryPlan;
use crate::error::{ErrorCode, Failure};
use crate::execute::{Executed, Failed, Services};
use crate::ids::{CommandId, DistributionId};
use crate::log_delivery_check;
use crate::records::{CommandKey, CommandRecord, StoreError};
use crate::rescan::target_state::CheckOutcome;
use crate::rescan_params::{ParentScope, TargetKind};
use crate::routing::deploy::{deploy, Clock, Prior, Progress};
use crate::routing::plan::plan;
use crate::routing::step::Mode;
use crate::routing_params::{Behavior, RoutingParams, StepChoice, StepKey, StepSet};
use crate::site::SiteBaseUrl;

/// The target a check is about, and the rescan it belongs to.
pub struct Check<'a> {
    pub distribution_id: &'a DistributionId,
    pub kind: TargetKind,
    pub heal: bool,
    pub rescan_id: Option<&'a CommandId>,
    pub rescan_scope: Option<ParentScope>,
}

impl<'a> Check<'a> {
    /// The target check a command is, if it is one.
    pub fn of(command: &'a Command) -> Option<Self> {
        match &command.action {
            crate::command::Action::Rescan {
                scope:
                    crate::rescan_params::RescanScope::Target {
                        distribution_id,
                        kind,
                        rescan_id,
                        rescan_scope,
                    },
                heal,
            } => Some(Self {
                distribution_id,
                kind: *kind,
                heal: *heal,
                rescan_id: rescan_id.as_ref(),
                rescan_scope: *rescan_scope,
            }),
            _ => None,
        }
    }
}

#[allow(clippy::too_many_arguments)] // the pieces of one command's execution
pub async fn check(
    services: &Services<'_>,
    command: &Command,
    check: &Check<'_>,
    record: &CommandRecord,
    progress: &dyn Progress,
    calls: &AwsCalls,
    deadline: Instant,
) -> Result<Executed, Failed> {
    let tenant = command.tenant();
    let table = services.table;
    if let Some(parent) = parent_key(command, check) {
        sent_by_its_rescan(services, command, check, &parent).await?;
    }
    let target = table
        .target(&tenant.account_id, check.distribution_id, check.kind)
        .await
        .map_err(store_failure)?;
    let Some(target) = target.filter(|item| registered_to(item, tenant)) else {
        count(services, command, check, CheckOutcome::NotRegistered).await;
        return Ok(done(
            "not-registered",
            json!({"target": check.kind.as_param()}),
        ));
    };
    if get_s(&target, "imsOrgId").is_some_and(|org| org != tenant.ims_org_id.as_str()) {
        return Err(Failure::new(
            ErrorCode::Conflict,
            "the check names another tenant (imsOrgId) than the one the target is registered to",
        )
        .into());
    }

    // A continuation of a waiting heal is the same check going on: no new claim.
    let resuming = record.wait.is_some();
    let claimant = check
        .rescan_id
        .map(CommandId::as_str)
        .unwrap_or(command.command_id.as_str());
    if !resuming
        && !table
            .claim_check(
                &tenant.account_id,
                check.distribution_id,
                check.kind,
                claimant,
                services.config.rescan_min_interval,
                SystemTime::now(),
            )
            .await
            .map_err(store_failure)?
    {
        count(services, command, check, CheckOutcome::Skipped).await;
        return Ok(done(
            "skipped",
            json!({"reason": "another rescan checked the target moments ago"}),
        ));
    }

    let found = match check.kind {
        TargetKind::LogDelivery => {
            log_delivery(services, tenant, check, &target, calls, deadline).await
        }
        TargetKind::Routing => {
            routing(
                services, command, check, &target, record, progress, calls, deadline,
            )
            .await
        }
    };
    let found = match found {
        Ok(found) => found,
        Err(failed) if failed.failure.retryable() => return Err(failed),
        Err(failed) => {
            let drift = json!([{"what": "check-failed", "code": failed.failure.code, "detail": failed.failure.message}]);
            record_target(services, command, check, CheckOutcome::Failed, &drift, None).await?;
            count(services, command, check, CheckOutcome::Failed).await;
            return Err(failed);
        }
    };
    if let Some(waiting) = found.waiting {
        return Ok(waiting);
    }
    // What a heal repaired, and since when it had drifted (an earlier report-only check may
    // have seen it first).
    let action = found.action.map(|mut action| {
        // Drift no earlier check saw began with this one.
        let since = get_s(&target, "driftSince")
            .map(str::to_owned)
            .unwrap_or_else(|| action["at"].as_str().unwrap_or_default().to_owned());
        action["found"] = found.drift.clone();
        action["driftSince"] = json!(since);
        action
    });
    let found = Found { action, ..found };
    record_target(
        services,
        command,
        check,
        found.outcome,
        &found.drift,
        found.action.as_ref(),
    )
    .await?;
    count(services, command, check, found.outcome).await;
    Ok(Executed {
        outcome: found.outcome.as_str().to_owned(),
        result: json!({
            "target": check.kind.as_param(),
            "drift": found.drift,
            "heal": check.heal,
            "action": found.action,
        }),
        steps: found.steps,
        wait: None,
    })
}

/// What one check found and did.
struct Found {
    outcome: CheckOutcome,
    drift: Value,
    action: Option<Value>,
    steps: Option<Vec<crate::steps::StepRow>>,
    /// A heal that waits on AWS: the check goes on in a continuation.
    waiting: Option<Executed>,
}

fn done(outcome: &str, result: Value) -> Executed {
    Executed {
        outcome: outcome.to_owned(),
        result,
        steps: None,
        wait: None,
    }
}

async fn log_delivery(
    services: &Services<'_>,
    tenant: &Tenant,
    check: &Check<'_>,
    target: &crate::attributes::Item,
    calls: &AwsCalls,
    deadline: Instant,
) -> Result<Found, Failed> {
    let ims_org = &tenant.ims_org_id;
    let logs = services
        .connector
        .session(&tenant.account_id, &tenant.site_id, ims_org, calls)
        .await?
        .logs(calls);
    let plan = DeliveryPlan::new(
        &tenant.account_id,
        check.distribution_id,
        ims_org,
        &services.config.log_destination_account,
    );
    let drift =
        log_delivery_check::check(&logs, &plan, get_s(target, "deliveryId"), deadline).await?;
    let listed = serde_json::to_value(&drift).expect("drift serializes");
    if drift.is_empty() {
        return Ok(found(CheckOutcome::Healthy, listed, None));
    }
    if !check.heal || drift.iter().any(|d| !d.healable) {
        return Ok(found(CheckOutcome::Drifted, listed, None));
    }
    let healed = log_delivery_check::heal(&logs, &plan, &drift, deadline).await?;
    services
        .table
        .log_delivery_healed(&tenant.account_id, check.distribution_id, &healed.report)
        .await
        .map_err(store_failure)?;
    let action = json!({
        "at": crate::clock::rfc3339(SystemTime::now()),
        "outcome": healed.report.outcome.as_str(),
        "deliveryId": healed.report.delivery_id,
        "reconfigured": healed.reconfigured,
        "repaired": drift.iter().map(|d| d.what).collect::<Vec<_>>(),
    });
    Ok(found(CheckOutcome::Healed, listed, Some(action)))
}

fn found(outcome: CheckOutcome, drift: Value, action: Option<Value>) -> Found {
    Found {
        outcome,
        drift,
        action,
        steps: None,
        waiting: None,
    }
}

#[allow(clippy::too_many_arguments)] // the pieces of one command's execution
async fn routing(
    services: &Services<'_>,
    command: &Command,
    check: &Check<'_>,
    target: &crate::attributes::Item,
    record: &CommandRecord,
    progress: &dyn Progress,
    calls: &AwsCalls,
    deadline: Instant,
) -> Result<Found, Failed> {
    let tenant = command.tenant();
    // Not retried: the record stays as it is until a deploy registers the routing again.
    let params = routing_params(check.distribution_id, target).ok_or_else(|| {
        Failed::from(Failure::new(
            ErrorCode::NotFound,
            "the routing target record has no usable site URL or behavior; deploy the routing \
             again to register it",
        ))
    })?;
    // Only what the tenant's deploys completed is checked and healed: a step they never ran
    // (say, `associate` on a distribution they only staged) is never run for them.
    let deployed: StepSet = target
        .get("deployedSteps")
        .and_then(|v| v.as_ss().ok())
        .into_iter()
        .flatten()
        .filter_map(|name| StepKey::from_name(name))
        .collect();
    let session = services
        .connector
        .session(
            &tenant.account_id,
            &tenant.site_id,
            &tenant.ims_org_id,
            calls,
        )
        .await?;
    let mut ctx = crate::execute::routing_context(
        services,
        &tenant.account_id,
        &session,
        &params,
        calls,
        deadline,
        Mode::Plan,
    );

    // Drift, as a plan sees it; a waiting heal's drift was recorded by its first run.
    let drift = match record.result.as_ref().filter(|_| record.wait.is_some()) {
        Some(result) => result["drift"].clone(),
        None => {
            let planned = plan(&mut ctx, services.site_configs, SystemTime::now()).await?;
            let drifted: Vec<Value> = planned.result["plan"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|row| row["action"] != "exists")
                .filter(|row| {
                    row["step"]
                        .as_str()
                        .and_then(StepKey::from_name)
                        .is_some_and(|step| deployed.contains(step))
                })
                .cloned()
                .collect();
            if let Some(blocker) = planned.result.get("blocker").filter(|_| drifted.is_empty()) {
                vec![json!({"step": "guardrail", "action": "blocked", "reason": blocker})]
            } else {
                drifted
            }
            .into()
        }
    };
    let rows = drift.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return Ok(found(CheckOutcome::Healthy, drift, None));
    }
    if !check.heal || rows.iter().any(|r| r["action"] == "blocked") {
        return Ok(found(CheckOutcome::Drifted, drift, None));
    }

    ctx.mode = Mode::Apply;
    ctx.api_key = None;
    let prior = Prior {
        steps: record.steps.clone(),
        wait: record.wait.clone(),
        facts: record
            .result
            .as_ref()
            .and_then(|r| r["steps"].as_object())
            .cloned()
            .unwrap_or_default(),
    };
    let clock = Clock {
        now: SystemTime::now(),
        wait_timeout: services.config.wait_timeout,
    };
    let ran = deploy(
        &mut ctx,
        StepChoice::Converge(deployed),
        &prior,
        services.site_configs,
        progress,
        clock,
    )
    .await
    .map_err(|stopped| Failed {
        failure: stopped.failure,
        steps: Some(stopped.steps),
    })?;
    if ran.wait.is_some() {
        let mut result = ran.result.clone();
        result["drift"] = drift;
        result["target"] = json!(check.kind.as_param());
        return Ok(Found {
            outcome: CheckOutcome::Healed,
            drift: Value::Null,
            action: None,
            steps: None,
            waiting: Some(Executed {
                outcome: "waiting".to_owned(),
                result,
                steps: Some(ran.steps),
                wait: ran.wait,
            }),
        });
    }
    // The healed resources' ids (a new Lambda@Edge version, a cache policy clone) go on the
    // target record, as a deploy records them.
    services
        .table
        .routing_deployed(
            command,
            &params,
            &ctx.names,
            &ran.result["steps"],
            StepSet::default(),
            SystemTime::now(),
        )
        .await
        .map_err(store_failure)?;
    let action = json!({
        "at": crate::clock::rfc3339(SystemTime::now()),
        "outcome": ran.outcome,
        "repaired": rows.iter().map(|r| r["step"].clone()).collect::<Vec<_>>(),
    });
    Ok(Found {
        outcome: CheckOutcome::Healed,
        drift,
        action: Some(action),
        steps: Some(ran.steps),
        waiting: None,
    })
}

/// The routing params a deploy registered on the target record.
fn routing_params(
    distribution_id: &DistributionId,
    target: &crate::attributes::Item,
) -> Option<RoutingParams> {
    let behavior = match get_s(target, "behavior")? {
        "default" => Behavior::Default,
        pattern => Behavior::Path(pattern.to_owned()),
    };
    Some(RoutingParams {
        distribution_id: distribution_id.clone(),
        behavior,
        site_base_url: SiteBaseUrl::parse(get_s(target, "siteBaseUrl")?).ok()?,
        targeted_paths: target
            .get("targetedPaths")
            .map(crate::attributes::to_json)
            .and_then(|v| serde_json::from_value(v).ok()),
        allow_domain_mismatch: target
            .get("allowDomainMismatch")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
    })
}

async fn record_target(
    services: &Services<'_>,
    command: &Command,
    check: &Check<'_>,
    outcome: CheckOutcome,
    drift: &Value,
    action: Option<&Value>,
) -> Result<(), Failed> {
    let tenant = command.tenant();
    services
        .table
        .target_checked(
            &tenant.account_id,
            check.distribution_id,
            check.kind,
            outcome,
            drift,
            action,
            command.command_id.as_str(),
            SystemTime::now(),
        )
        .await
        .map_err(|e| Failed::from(store_failure(e)))
}

/// The record of the rescan a check names, if it names one.
fn parent_key(command: &Command, check: &Check<'_>) -> Option<CommandKey> {
    let (Some(rescan_id), Some(scope)) = (check.rescan_id, check.rescan_scope) else {
        return None;
    };
    let pk = match scope {
        ParentScope::All => "SYSTEM".to_owned(),
        ParentScope::Site => format!("SITE#{}", command.tenant().site_id),
    };
    Some(CommandKey {
        pk,
        sk: format!("CMD#{rescan_id}"),
    })
}

/// A check that names a rescan must carry the id that rescan gave it (from the rescan's salt):
/// only then does it share the rescan's claim on the target and count on its record.
async fn sent_by_its_rescan(
    services: &Services<'_>,
    command: &Command,
    check: &Check<'_>,
    parent: &CommandKey,
) -> Result<(), Failed> {
    let salt = services
        .table
        .check_salt(parent)
        .await
        .map_err(store_failure)?;
    let expected = salt.map(|salt| {
        crate::rescan_params::check_id(
            check.rescan_id.map(CommandId::as_str).unwrap_or_default(),
            &salt,
            &command.tenant().account_id,
            check.distribution_id,
            check.kind,
        )
    });
    if expected.as_deref() == Some(command.command_id.as_str()) {
        return Ok(());
    }
    Err(Failure::new(
        ErrorCode::InvalidCommand,
        "params.rescanId names a rescan that did not send this check; a check of one's own is \
         sent without params.rescanId and params.rescanScope",
    )
    .into())
}

/// Whether a target record is registered (log delivery enabled, routing deployed) to the site.
fn registered_to(item: &crate::attributes::Item, tenant: &Tenant) -> bool {
    matches!(
        get_s(item, "desiredState"),
        Some("enabled") | Some("deployed")
    ) && get_s(item, "siteId") == Some(tenant.site_id.as_str())
}

/// Counts the check on its rescan's record; a count that cannot be written is logged, not
/// retried (the target record holds the check's result either way).
async fn count(
    services: &Services<'_>,
    command: &Command,
    check: &Check<'_>,
    outcome: CheckOutcome,
) {
    count_on(services.table, command, check, outcome).await;
}

async fn count_on(
    table: &crate::records::Table,
    command: &Command,
    check: &Check<'_>,
    outcome: CheckOutcome,
) {
    let Some(key) = parent_key(command, check) else {
        return;
    };
    if let Err(error) = table.count_check(&key, outcome).await {
        tracing::warn!(error = %error, "could not count the check on its rescan's record");
    }
}

/// A check that gave up (`RETRIES_EXHAUSTED`): recorded as failed on its target, if the target
/// is the site's, and counted on its rescan, so no check ends unaccounted for.
pub async fn gave_up(
    table: &crate::records::Table,
    command: &Command,
    check: &Check<'_>,
    failure: &Failure,
) {
    let tenant = command.tenant();
    let target = match table
        .target(&tenant.account_id, check.distribution_id, check.kind)
        .await
    {
        Ok(target) => target,
        Err(error) => {
            tracing::warn!(error = %error, "could not read the target of a check that gave up");
            return;
        }
    };
    if target
        .as_ref()
        .is_some_and(|item| registered_to(item, tenant))
    {
        let drift =
            json!([{"what": "check-failed", "code": failure.code, "detail": failure.message}]);
        if let Err(error) = table
            .target_checked(
                &tenant.account_id,
                check.distribution_id,
                check.kind,
                CheckOutcome::Failed,
                &drift,
                None,
                command.command_id.as_str(),
                SystemTime::now(),
            )
            .await
        {
            tracing::warn!(error = %error, "could not record a check that gave up on its target");
        }
    }
    count_on(table, command, check, CheckOutcome::Failed).await;
}

fn store_failure(error: StoreError) -> Failure {
    tracing::error!(error = %error, "a target check could not read or write its records");
    Failure::new(
        ErrorCode::Internal,
        "the target record could not be read or written; the check will be retried",
    )
}
