//! The `steps` list of a deploy or plan record: one row per step, so the UI (and a support
//! engineer) can see which step is where without reading logs.

use serde::{Deserialize, Serialize};

use crate::routing_params::{StepKey, StepSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    InProgress,
    Done,
    Error,
    Skipped,
}

/// One row of the `steps` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRow {
    pub key: String,
    pub label: String,
    pub status: StepStatus,
    /// What happened or what is awaited, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A deploy's `created`, `exists` or `updated` once the step is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// A plan's `create`, `exists`, `update` or `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default)]
    pub updated_at: String,
}

impl StepRow {
    pub fn pending(step: StepKey, now: &str) -> Self {
        Self {
            key: step.as_str().to_owned(),
            label: step.label().to_owned(),
            status: StepStatus::Pending,
            detail: None,
            change: None,
            action: None,
            updated_at: now.to_owned(),
        }
    }

    pub fn set(&mut self, status: StepStatus, detail: impl Into<String>, now: &str) {
        self.status = status;
        self.detail = Some(crate::error::sanitize_message(&detail.into()));
        self.updated_at = now.to_owned();
    }
}
/// The steps that change the distribution which `rows` show done: what a deploy registers on
/// the routing target as deployed.
pub fn completed(rows: &[StepRow]) -> StepSet {
    rows.iter()
        .filter(|r| r.status == StepStatus::Done)
        .filter_map(|r| StepKey::from_name(&r.key))
        .filter(|s| s.is_mutating())
        .collect()
}
