//! The fan-out of a `rescan` with scope `all` or `site`: registered targets, page by page, each
//! becoming one `rescan` with scope `target` on the queue, ten to a batch.
//!
//! - A target checked by any rescan less than the minimum interval ago is left out, so two
//!   overlapping scheduled rescans never check a target twice (the check claims the target too).
//! - Checks of one account are spread in time: the queue delays them in groups, so a tenant with
//!   many distributions never has more than a few checked at once.
//! - Child command ids are derived from the rescan's id and the target, so a resent batch is a
//!   duplicate, not more work.
//! - A fan-out that runs short of time stops at a page boundary and continues itself with the
//!   cursor kept in its record.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::clock::epoch_millis;
use crate::command::{self, Command};
use crate::error::{ErrorCode, Failure};
use crate::queue::{CommandQueue, Outgoing, MAX_BATCH};
use crate::records::{CommandKey, Table};
use crate::rescan::enumerate::{Cursor, Source, TargetRef};
use crate::rescan_params::ParentScope;

/// Checks of one account that may start together.
pub const ACCOUNT_GROUP: usize = 5;
/// The pause between two groups of one account's checks.
pub const ACCOUNT_GROUP_SPACING_SECS: u32 = 2;
/// Batches in flight at once.
const SEND_CONCURRENCY: usize = 8;
/// A fan-out stops reading pages when less than this is left before its deadline.
const TIME_RESERVE: Duration = Duration::from_secs(8);

/// Where a fan-out stands: what it has done so far, and its cursor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub cursor: Cursor,
    pub sent: u64,
    pub recently_checked: u64,
    /// Sent so far per account, for spreading one account's checks.
    pub per_account: HashMap<String, u64>,
}

impl Progress {
    /// The progress an earlier run of the same rescan recorded in its result.
    pub fn from_result(result: Option<&Value>) -> Self {
        let Some(result) = result else {
            return Self::default();
        };
        Self {
            cursor: serde_json::from_value(result["cursor"].clone()).unwrap_or_default(),
            sent: result["sent"].as_u64().unwrap_or(0),
            recently_checked: result["recentlyChecked"].as_u64().unwrap_or(0),
            per_account: serde_json::from_value(result["perAccount"].clone()).unwrap_or_default(),
        }
    }
}

/// How a fan-out run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct FannedOut {
    /// Every target was read (or the cap reached); `false` means a continuation goes on.
    pub finished: bool,
    pub result: Value,
}

pub struct Settings {
    pub heal: bool,
    /// `CDN_LOG_RESCAN_MAX_DISTRIBUTIONS`: at most this many targets per rescan.
    pub max_targets: Option<u64>,
    pub min_interval: Duration,
}

pub async fn fan_out(
    table: &Table,
    queue: &CommandQueue,
    command: &Command,
    source: &Source,
    settings: &Settings,
    mut progress: Progress,
    deadline: Instant,
) -> Result<FannedOut, Failure> {
    let key = CommandKey::of(&command.identity());
    table.start_counts(&key).await.map_err(store_failure)?;
    let now_ms = epoch_millis(std::time::SystemTime::now());
    let cutoff = now_ms.saturating_sub(settings.min_interval.as_millis() as u64);
    let parent = match source {
        Source::AllTargets => ParentScope::All,
        Source::Site(_) => ParentScope::Site,
    };

    let mut truncated = false;
    let mut pages = 0;
    // Checks wait here until ten make a full batch; the rest go out when the run ends.
    let mut outgoing = Vec::new();
    while !progress.cursor.done {
        // Every run reads at least one page, so a continuation always gets further.
        if pages > 0 && Instant::now() + TIME_RESERVE >= deadline {
            break;
        }
        pages += 1;
        if settings.max_targets.is_some_and(|cap| progress.sent >= cap) {
            truncated = true;
            break;
        }
        let (page, next) = table
            .targets_page(source, &progress.cursor)
            .await
            .map_err(store_failure)?;
        for target in page.iter().filter(|t| t.registered) {
            if target.last_checked_ms.is_some_and(|at| at > cutoff) {
                progress.recently_checked += 1;
                continue;
            }
            if settings.max_targets.is_some_and(|cap| progress.sent >= cap) {
                truncated = true;
                break;
            }
            let in_account = progress
                .per_account
                .entry(target.account_id.to_string())
                .or_insert(0);
            let group = (*in_account / ACCOUNT_GROUP as u64) as u32;
            *in_account += 1;
            progress.sent += 1;
            outgoing.push(Outgoing {
                body: child_body(command, target, settings.heal, parent).to_string(),
                delay_secs: group.saturating_mul(ACCOUNT_GROUP_SPACING_SECS),
            });
        }
        let full = outgoing.len() - outgoing.len() % MAX_BATCH;
        send(queue, &outgoing[..full]).await?;
        outgoing.drain(..full);
        // A truncated page is not resumed: the cap holds for the whole rescan.
        progress.cursor = next;
        if truncated {
            break;
        }
    }
    send(queue, &outgoing).await?;

    let finished = progress.cursor.done || truncated;
    let mut result = json!({
        "scope": parent.as_param(),
        "heal": settings.heal,
        "sent": progress.sent,
        "recentlyChecked": progress.recently_checked,
        "truncated": truncated,
    });
    if !finished {
        result["cursor"] = serde_json::to_value(&progress.cursor).expect("a cursor serializes");
        result["perAccount"] =
            serde_json::to_value(&progress.per_account).expect("counts serialize");
    }
    tracing::info!(
        sent = progress.sent,
        recently_checked = progress.recently_checked,
        finished,
        "rescan fanned out"
    );
    Ok(FannedOut { finished, result })
}

async fn send(queue: &CommandQueue, outgoing: &[Outgoing]) -> Result<(), Failure> {
    let results: Vec<_> = futures::stream::iter(outgoing.chunks(MAX_BATCH))
        .map(|batch| queue.send_batch(batch))
        .buffer_unordered(SEND_CONCURRENCY)
        .collect()
        .await;
    if let Some(Err(error)) = results.into_iter().find(Result::is_err) {
        tracing::warn!(error = %error, "a fan-out batch could not be sent");
        return Err(Failure::new(
            ErrorCode::Unavailable,
            "the rescan could not queue its target checks; it will be retried (checks already \
             queued are not repeated)",
        ));
    }
    Ok(())
}

/// The target check for one target, as a command of its own.
pub fn child_body(command: &Command, target: &TargetRef, heal: bool, parent: ParentScope) -> Value {
    json!({
        "schemaVersion": command::SCHEMA_VERSION,
        "commandId": child_id(command.command_id.as_str(), target),
        "type": "rescan",
        "siteId": target.site_id,
        "imsOrgId": target.ims_org_id,
        "accountId": target.account_id,
        "requestedBy": format!("rescan {}", command.command_id),
        "params": {
            "scope": "target",
            "distributionId": target.distribution_id,
            "target": target.kind.as_param(),
            "heal": heal,
            "rescanId": command.command_id,
            "rescanScope": parent.as_param(),
        },
    })
}

/// `rescan.<12 hex of the rescan's id>.<account>.<distribution>.<ld|rt>`: the same for the same
/// rescan and target, and within the 128 characters a command id may have.
pub fn child_id(rescan_id: &str, target: &TargetRef) -> String {
    let digest = command::payload_hash(&Value::String(rescan_id.to_owned()));
    let kind = match target.kind {
        crate::rescan_params::TargetKind::LogDelivery => "ld",
        crate::rescan_params::TargetKind::Routing => "rt",
    };
    format!(
        "rescan.{}.{}.{}.{kind}",
        &digest[..12],
        target.account_id,
        target.distribution_id
    )
}

fn store_failure(error: crate::records::StoreError) -> Failure {
    tracing::error!(error = %error, "a rescan could not read or write its records");
    Failure::new(
        ErrorCode::Internal,
        "the rescan could not read the target records; it will be retried",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, DistributionId, ImsOrgId, SiteId};
    use crate::rescan_params::TargetKind;

    fn target(kind: TargetKind) -> TargetRef {
        TargetRef {
            account_id: AccountId::parse("111122223333").unwrap(),
            distribution_id: DistributionId::parse("E2EXAMPLE1ABCD").unwrap(),
            kind,
            site_id: SiteId::parse("site-1").unwrap(),
            ims_org_id: ImsOrgId::parse("ABC123DEF456@AdobeOrg").unwrap(),
            last_checked_ms: None,
            registered: true,
        }
    }

    #[test]
    fn child_ids_are_stable_distinct_and_valid() {
        let long = "r".repeat(128);
        let a = child_id(&long, &target(TargetKind::LogDelivery));
        assert_eq!(a, child_id(&long, &target(TargetKind::LogDelivery)));
        assert_ne!(a, child_id(&long, &target(TargetKind::Routing)));
        assert_ne!(a, child_id("another", &target(TargetKind::LogDelivery)));
        assert!(crate::ids::CommandId::parse(&a).is_ok(), "{a}");
    }

    #[test]
    fn a_child_is_a_valid_target_check() {
        let parent = match command::parse(
            r#"{"schemaVersion":1,"commandId":"scheduled-1","type":"rescan","params":{"scope":"all"}}"#,
        ) {
            command::Parsed::Valid(c) => c,
            other => panic!("{other:?}"),
        };
        let body = child_body(
            &parent,
            &target(TargetKind::Routing),
            false,
            ParentScope::All,
        );
        match command::parse(&body.to_string()) {
            command::Parsed::Valid(child) => {
                assert_eq!(child.tenant().site_id.as_str(), "site-1");
                assert!(!child.action.is_mutating(), "heal false only reads");
            }
            other => panic!("{other:?}"),
        }
    }
}
