//! Runs one claimed command against the customer's account and records the target's new state.

use std::time::SystemTime;

use serde_json::Value;
use tokio::time::Instant;

use crate::aws_calls::AwsCalls;
use crate::command::{Action, Command};
use crate::config::Config;
use crate::connector::Connector;
use crate::delivery_names::DeliveryPlan;
use crate::error::{ErrorCode, Failure};
use crate::log_delivery;
use crate::records::{StoreError, Table};

/// A command that ended well: its outcome word and its result map.
#[derive(Clone, Debug, PartialEq)]
pub struct Executed {
    pub outcome: &'static str,
    pub result: Value,
}

pub async fn execute(
    table: &Table,
    connector: &Connector,
    config: &Config,
    command: &Command,
    calls: &AwsCalls,
    deadline: Instant,
) -> Result<Executed, Failure> {
    ensure_site_owns_target(table, command).await?;
    let session = connector
        .session(
            &command.account_id,
            &command.site_id,
            &command.ims_org_id,
            calls,
        )
        .await?;
    let logs = session.logs(calls);
    let plan = DeliveryPlan::new(
        &command.account_id,
        command.action.distribution_id(),
        &command.ims_org_id,
        &config.log_destination_account,
    );

    let report = match &command.action {
        Action::EnableLogDelivery { .. } => {
            let report = log_delivery::enable(&logs, &plan, deadline).await?;
            table
                .log_delivery_enabled(command, &plan, &report, SystemTime::now())
                .await
                .map_err(target_not_recorded)?;
            report
        }
        Action::DisableLogDelivery { .. } => {
            let report = log_delivery::disable(&logs, &plan, deadline).await?;
            table
                .log_delivery_disabled(command, &plan, SystemTime::now())
                .await
                .map_err(target_not_recorded)?;
            report
        }
    };
    Ok(Executed {
        outcome: report.outcome.as_str(),
        result: serde_json::to_value(&report).expect("a delivery report always serializes"),
    })
}

/// A distribution whose log delivery another site enabled is that site's to change.
async fn ensure_site_owns_target(table: &Table, command: &Command) -> Result<(), Failure> {
    let distribution_id = command.action.distribution_id();
    let owner = table
        .log_delivery_owner(&command.account_id, distribution_id)
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "could not read the target record");
            Failure::new(
                ErrorCode::Internal,
                "the target record could not be read; the command will be retried",
            )
        })?;
    match owner {
        Some(owner) if owner.enabled && owner.site_id != command.site_id.as_str() => {
            Err(Failure::new(
                ErrorCode::Conflict,
                format!(
                    "the log delivery of distribution {distribution_id} is registered to site {}; \
                 disable it from that site first",
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
