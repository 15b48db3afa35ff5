//! Runs one claimed command against the customer's account and records the target's new state.

use std::time::SystemTime;

use serde_json::Value;
use tokio::time::Instant;

use crate::aws_calls::AwsCalls;
use crate::command::{Action, Command};
use crate::config::Config;
use crate::connector::{Connector, CustomerSession};
use crate::delivery_names::DeliveryPlan;
use crate::edge::names::RoutingNames;
use crate::error::{ErrorCode, Failure};
use crate::ids::DistributionId;
use crate::log_delivery;
use crate::records::{CommandRecord, StoreError, Table, Wait};
use crate::rescan::enumerate::Source;
use crate::rescan::fanout;
use crate::rescan_params::RescanScope;
use crate::routing::api_key::SiteConfigs;
use crate::routing::context::Routing;
use crate::routing::deploy::{deploy, Clock, Prior, Progress};
use crate::routing::discover::{self, Clients};
use crate::routing::plan::plan;
use crate::routing::step::Mode;
use crate::routing::verify::Prober;
use crate::routing_params::RoutingParams;
use crate::steps::{completed, StepRow};
use crate::targets::{LOG_DELIVERY_KIND, ROUTING_KIND};

/// What a command runs with, besides the command itself.
pub struct Services<'a> {
    pub table: &'a Table,
    /// The command queue: a rescan fans its target checks out onto it.
    pub queue: &'a crate::queue::CommandQueue,
    pub connector: &'a Connector,
    pub config: &'a Config,
    pub site_configs: &'a SiteConfigs,
    pub prober: &'a dyn Prober,
}

/// A command that ended well, or that waits: its outcome word, its result, its step list.
#[derive(Clone, Debug, PartialEq)]
pub struct Executed {
    pub outcome: String,
    pub result: Value,
    pub steps: Option<Vec<StepRow>>,
    /// Set when a step waits on AWS: the command goes on in a continuation.
    pub wait: Option<Wait>,
}

impl Executed {
    fn done(outcome: &str, result: Value) -> Self {
        Self {
            outcome: outcome.to_owned(),
            result,
            steps: None,
            wait: None,
        }
    }
}

/// A command that failed, with its step list as it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Failed {
    pub failure: Failure,
    pub steps: Option<Vec<StepRow>>,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Self {
            failure,
            steps: None,
        }
    }
}

pub async fn execute(
    services: &Services<'_>,
    command: &Command,
    record: &CommandRecord,
    progress: &dyn Progress,
    calls: &AwsCalls,
    deadline: Instant,
) -> Result<Executed, Failed> {
    match &command.action {
        Action::EnableLogDelivery { distribution_id }
        | Action::DisableLogDelivery { distribution_id } => {
            log_delivery(services, command, distribution_id, calls, deadline)
                .await
                .map_err(Failed::from)
        }
        Action::DeployStep { step, routing } => {
            ensure_site_owns(
                services.table,
                command,
                &routing.distribution_id,
                ROUTING_KIND,
            )
            .await?;
            let session = session(services, command, calls).await?;
            let mut ctx = routing_context(
                services,
                &command.tenant().account_id,
                &session,
                routing,
                calls,
                deadline,
                Mode::Apply,
            );
            let prior = Prior {
                steps: record.steps.clone(),
                wait: record.wait.clone(),
                facts: record
                    .result
                    .as_ref()
                    .and_then(|r| r.get("steps"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            };
            let clock = Clock {
                now: SystemTime::now(),
                wait_timeout: services.config.wait_timeout,
            };
            let deployed = deploy(
                &mut ctx,
                *step,
                &prior,
                services.site_configs,
                progress,
                clock,
            )
            .await;
            let ran = match deployed {
                Ok(ran) => ran,
                Err(stopped) => {
                    // What a failed run wrote belongs to this site all the same.
                    if stopped.changed_routing {
                        services
                            .table
                            .routing_deployed(
                                command,
                                routing,
                                &ctx.names,
                                &stopped.result["steps"],
                                completed(&stopped.steps),
                                SystemTime::now(),
                            )
                            .await
                            .map_err(target_not_recorded)?;
                    }
                    return Err(Failed {
                        failure: stopped.failure,
                        steps: Some(stopped.steps),
                    });
                }
            };
            if ran.changed_routing {
                services
                    .table
                    .routing_deployed(
                        command,
                        routing,
                        &ctx.names,
                        &ran.result["steps"],
                        completed(&ran.steps),
                        SystemTime::now(),
                    )
                    .await
                    .map_err(target_not_recorded)?;
            }
            Ok(Executed {
                outcome: ran.outcome.to_owned(),
                result: ran.result,
                steps: Some(ran.steps),
                wait: ran.wait,
            })
        }
        Action::PlanDeploy { routing } => {
            let session = session(services, command, calls).await?;
            let mut ctx = routing_context(
                services,
                &command.tenant().account_id,
                &session,
                routing,
                calls,
                deadline,
                Mode::Plan,
            );
            let planned = plan(&mut ctx, services.site_configs, SystemTime::now()).await?;
            Ok(Executed {
                outcome: planned.outcome.to_owned(),
                result: planned.result,
                steps: Some(planned.steps),
                wait: None,
            })
        }
        Action::Rescan {
            scope: RescanScope::Target { .. },
            ..
        } => {
            let target = crate::rescan::check::Check::of(command).expect("a target check");
            crate::rescan::check::check(
                services, command, &target, record, progress, calls, deadline,
            )
            .await
        }
        Action::Rescan { scope, heal } => {
            let source = match scope {
                RescanScope::Site => Source::Site(command.tenant().site_id.clone()),
                _ => Source::AllTargets,
            };
            let settings = fanout::Settings {
                heal: *heal,
                max_targets: services.config.rescan_max_targets,
                min_interval: services.config.rescan_min_interval,
            };
            let prior = fanout::Progress::from_result(record.result.as_ref());
            let run = fanout::fan_out(
                services.table,
                services.queue,
                command,
                &source,
                &settings,
                prior,
                deadline,
            )
            .await?;
            if run.finished {
                return Ok(Executed::done("fanned-out", run.result));
            }
            let checks = record.wait.as_ref().map_or(0, |w| w.checks) + 1;
            Ok(Executed {
                outcome: "waiting".to_owned(),
                result: run.result,
                steps: None,
                wait: Some(Wait {
                    step: "fan-out".to_owned(),
                    since_ms: record.wait.as_ref().map_or_else(
                        || crate::clock::epoch_millis(SystemTime::now()),
                        |w| w.since_ms,
                    ),
                    checks,
                    seq: record.wait.as_ref().map_or(0, |w| w.seq),
                    next_check_at: String::new(),
                    fixed_delay_secs: Some(run.resume_after_secs),
                }),
            })
        }
        Action::Discover { distribution_id } => {
            let role_arn = services.connector.role_arn(&command.tenant().account_id);
            let session = match session(services, command, calls).await {
                Ok(session) => session,
                Err(failure) if failure.code == ErrorCode::NotConnected => {
                    return Ok(Executed::done(
                        "not-connected",
                        discover::not_connected(&role_arn, &failure.message),
                    ))
                }
                Err(failure) => return Err(failure.into()),
            };
            let clients = Clients {
                cloudfront: session.cloudfront(calls),
                iam: session.iam(calls),
                lambda: session.lambda(calls),
            };
            let result = discover::discover(
                &clients,
                &role_arn,
                distribution_id.as_ref(),
                &services.config.edge_domain,
                deadline,
            )
            .await?;
            Ok(Executed::done("connected", result))
        }
    }
}

async fn session(
    services: &Services<'_>,
    command: &Command,
    calls: &AwsCalls,
) -> Result<CustomerSession, Failure> {
    services
        .connector
        .session(
            &command.tenant().account_id,
            &command.tenant().site_id,
            &command.tenant().ims_org_id,
            calls,
        )
        .await
}

pub(crate) fn routing_context<'a>(
    services: &Services<'a>,
    account_id: &'a crate::ids::AccountId,
    session: &CustomerSession,
    routing: &'a RoutingParams,
    calls: &AwsCalls,
    deadline: Instant,
    mode: Mode,
) -> Routing<'a> {
    Routing {
        cloudfront: session.cloudfront(calls),
        iam: session.iam(calls),
        lambda: session.lambda(calls),
        account_id,
        params: routing,
        names: RoutingNames::new(&routing.distribution_id),
        edge_domain: &services.config.edge_domain,
        connector_role_name: &services.config.connector_role_name,
        api_key: None,
        prober: services.prober,
        deadline,
        mode,
    }
}

async fn log_delivery(
    services: &Services<'_>,
    command: &Command,
    distribution_id: &DistributionId,
    calls: &AwsCalls,
    deadline: Instant,
) -> Result<Executed, Failure> {
    ensure_site_owns(services.table, command, distribution_id, LOG_DELIVERY_KIND).await?;
    let logs = session(services, command, calls).await?.logs(calls);
    let plan = DeliveryPlan::new(
        &command.tenant().account_id,
        distribution_id,
        &command.tenant().ims_org_id,
        &services.config.log_destination_account,
    );
    let report = if matches!(command.action, Action::EnableLogDelivery { .. }) {
        let report = log_delivery::enable(&logs, &plan, deadline).await?;
        services
            .table
            .log_delivery_enabled(command, &plan, &report, SystemTime::now())
            .await
            .map_err(target_not_recorded)?;
        report
    } else {
        let report = log_delivery::disable(&logs, &plan, deadline).await?;
        services
            .table
            .log_delivery_disabled(command, &plan, SystemTime::now())
            .await
            .map_err(target_not_recorded)?;
        report
    };
    Ok(Executed::done(
        report.outcome.as_str(),
        serde_json::to_value(&report).expect("a delivery report always serializes"),
    ))
}

/// A distribution whose log delivery (or routing) another site registered is that site's to
/// change.
async fn ensure_site_owns(
    table: &Table,
    command: &Command,
    distribution_id: &DistributionId,
    kind: &str,
) -> Result<(), Failure> {
    let owner = table
        .target_owner(&command.tenant().account_id, distribution_id, kind)
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "could not read the target record");
            Failure::new(
                ErrorCode::Internal,
                "the target record could not be read; the command will be retried",
            )
        })?;
    let what = if kind == ROUTING_KIND {
        "edge routing"
    } else {
        "log delivery"
    };
    match owner {
        Some(owner) if owner.enabled && owner.site_id != command.tenant().site_id.as_str() => {
            Err(Failure::new(
                ErrorCode::Conflict,
                format!(
                    "the {what} of distribution {distribution_id} is registered to site {}; \
                     change it from that site, or disable it there first",
                    owner.site_id
                ),
            ))
        }
        _ => Ok(()),
    }
}

fn target_not_recorded(error: StoreError) -> Failure {
    tracing::error!(error = %error, "the customer's account changed but the target record was not written");
    Failure::new(
        ErrorCode::Internal,
        "the change was made but its target record could not be written; the command will be retried",
    )
}
