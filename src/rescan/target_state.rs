//! What rescans write: a target's claim (so two overlapping rescans never both check it), what
//! a check found and did (what the UI sees on the target record), and the counts on the
//! rescan's own record.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::attributes::{n, s, to_attribute};
use crate::clock::{epoch_millis, rfc3339};
use crate::ids::{AccountId, DistributionId};
use crate::records::{written, CommandKey, StoreError, Table};
use crate::rescan_params::TargetKind;
use crate::targets::target_pk;

/// How a target check ended, as counted on the rescan's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckOutcome {
    /// As it should be.
    Healthy,
    /// Drift was found and repaired.
    Healed,
    /// Drift was found and left: `heal: false`, or nothing the service may repair.
    Drifted,
    /// The check could not be made (the connector role is gone, a permission is missing, ...).
    Failed,
    /// Another rescan checked it a moment ago; nothing was done.
    Skipped,
    /// The target was no longer registered when its check ran (disabled meanwhile).
    NotRegistered,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Healed => "healed",
            Self::Drifted => "drifted",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::NotRegistered => "not-registered",
        }
    }

    /// The counter it adds to on the rescan's record (`skipped` is not counted as checked).
    fn counter(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Healed => "healed",
            Self::Drifted => "driftedNotHealed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::NotRegistered => "notRegistered",
        }
    }

    /// Whether it counts as checked (the target was looked at).
    fn is_checked(self) -> bool {
        !matches!(self, Self::Skipped | Self::NotRegistered)
    }
}

/// Every counter a rescan's record carries: `checked + skipped + notRegistered` reaches the
/// fan-out's `sent` once every check has ended.
pub const COUNTERS: [&str; 7] = [
    "checked",
    "healthy",
    "healed",
    "driftedNotHealed",
    "failed",
    "skipped",
    "notRegistered",
];

impl Table {
    /// Takes the target for the rescan `rescan_id`, unless another rescan took it less than
    /// `min_interval` ago. The same rescan may take it again (a retried check).
    pub async fn claim_check(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        kind: TargetKind,
        rescan_id: &str,
        min_interval: Duration,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let cutoff = epoch_millis(
            now.checked_sub(min_interval)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        );
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(target_pk(account_id, distribution_id)))
            .key("sk", s(kind.sort_key()))
            .update_expression("SET checkedBy = :me, checkStartedAtMs = :now")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(checkedBy) OR checkedBy = :me \
                 OR attribute_not_exists(checkStartedAtMs) OR checkStartedAtMs < :cutoff)",
            )
            .expression_attribute_values(":me", s(rescan_id))
            .expression_attribute_values(":now", n(epoch_millis(now)))
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await;
        written(result, "UpdateItem")
    }

    /// Records what a check found (`drift`, empty when healthy) and did. Drift keeps the time it
    /// was first seen (`driftSince`) until a check finds the target healthy again.
    #[allow(clippy::too_many_arguments)] // each is a distinct fact of the check
    pub async fn target_checked(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        kind: TargetKind,
        outcome: CheckOutcome,
        drift: &Value,
        action: Option<&Value>,
        command_id: &str,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut set = vec![
            "lastCheckedAt = :now",
            "lastCheckedAtMs = :nowMs",
            "lastCheckCommandId = :command",
            "checkStatus = :status",
            "updatedAt = :now",
            "version = if_not_exists(version, :zero) + :one",
        ];
        let mut remove = vec![];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(target_pk(account_id, distribution_id)))
            .key("sk", s(kind.sort_key()))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":nowMs", n(epoch_millis(now)))
            .expression_attribute_values(":command", s(command_id))
            .expression_attribute_values(":status", s(outcome.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        let drifting = matches!(outcome, CheckOutcome::Drifted | CheckOutcome::Failed);
        if drifting {
            set.push("drift = :drift");
            set.push("driftSince = if_not_exists(driftSince, :now)");
            request = request.expression_attribute_values(":drift", to_attribute(drift));
        } else {
            remove.push("drift");
            remove.push("driftSince");
        }
        if let Some(action) = action {
            set.push("lastHeal = :heal");
            request = request.expression_attribute_values(":heal", to_attribute(action));
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = request.update_expression(expression).send().await;
        written(result, "UpdateItem").map(|_| ())
    }

    /// Starts a rescan's counters at zero and draws its salt (see
    /// [`crate::rescan_params::check_id`]), unless they exist (a continuing fan-out). Returns
    /// the salt.
    pub async fn start_counts(&self, key: &CommandKey) -> Result<String, StoreError> {
        let zeros: serde_json::Map<String, Value> = COUNTERS
            .iter()
            .map(|c| (c.to_string(), Value::from(0)))
            .collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(&key.pk))
            .key("sk", s(&key.sk))
            .update_expression(
                "SET counts = if_not_exists(counts, :zeros), checkSalt = if_not_exists(checkSalt, :salt)",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":zeros", to_attribute(&Value::Object(zeros)))
            .expression_attribute_values(":salt", s(format!("{:016x}", fastrand::u64(..))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", &e))?;
        result
            .attributes()
            .and_then(|item| crate::attributes::get_s(item, "checkSalt"))
            .map(str::to_owned)
            .ok_or_else(|| StoreError {
                operation: "UpdateItem",
                code: "no checkSalt returned".to_owned(),
            })
    }

    /// The salt a rescan's record drew (`None`: no such rescan, or not one that fanned out).
    pub async fn check_salt(&self, key: &CommandKey) -> Result<Option<String>, StoreError> {
        Ok(self
            .command_json(key)
            .await?
            .filter(|record| record["type"] == "rescan")
            .and_then(|record| record["checkSalt"].as_str().map(str::to_owned)))
    }

    /// Counts one finished target check on its rescan's record. A rescan record that is gone
    /// (expired) is nothing to count on.
    pub async fn count_check(
        &self,
        key: &CommandKey,
        outcome: CheckOutcome,
    ) -> Result<(), StoreError> {
        let expression = if outcome.is_checked() {
            "SET counts.checked = counts.checked + :one, \
             counts.#c = if_not_exists(counts.#c, :zero) + :one, version = version + :one"
        } else {
            "SET counts.#c = if_not_exists(counts.#c, :zero) + :one, version = version + :one"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(&key.pk))
            .key("sk", s(&key.sk))
            .update_expression(expression)
            // Only a rescan's own record carries counts: a check naming any other command as
            // its rescan counts nowhere.
            .condition_expression("attribute_exists(counts) AND #type = :rescan")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":rescan", s("rescan"))
            .expression_attribute_names("#c", outcome.counter())
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        written(result, "UpdateItem").map(|_| ())
    }
}
