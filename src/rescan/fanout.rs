//! The fan-out of a `rescan` with scope `all` or `site`: registered targets, page by page, each
//! becoming one `rescan` with scope `target` on the queue, ten to a batch.
//!
//! - A target checked by any rescan less than the minimum interval ago is left out, so two
//!   overlapping scheduled rescans never check a target twice (the check claims the target too).
//! - Checks of one account are spread in time: the queue delays them in groups, so a tenant with
//!   many distributions never has more than a few checked at once. The indexes yield one
//!   account's targets one after another, so the spreading keeps count of one account at a time
//!   (and of the first, which a rotating rescan comes round to again): what a continuation
//!   carries in its record stays small however many accounts there are.
//! - Child command ids are derived from the rescan's id, a salt its record drew when it
//!   started, and the target: a resent batch is a duplicate, not more work, and no producer can
//!   foresee (and take) a check's id.
//! - With a cap, a rescan of every target starts where the last capped one stopped and wraps
//!   around, so successive runs cover every target.
//! - A fan-out that runs short of time stops at a page boundary and continues itself with the
//!   cursor kept in its record. One whose checks of one account would need a longer delay than
//!   SQS allows stops before that target and continues when the queue's longest delay is over.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::clock::epoch_millis;
use crate::command::{self, Command};
use crate::error::{ErrorCode, Failure};
use crate::queue::{CommandQueue, Outgoing, MAX_BATCH, MAX_DELAY_SECS};
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
    /// Index items that were not well-formed targets.
    pub malformed: u64,
    /// Checks sent so far of the account being read, and of the first account this rescan
    /// read: never more than these two.
    pub per_account: HashMap<String, u64>,
    /// The first account this rescan sent a check of.
    pub first_account: Option<String>,
    /// A capped rescan of every target began where the last one stopped (this cursor), and
    /// ends when it comes round to it again.
    pub began_at: Option<Cursor>,
    /// It has gone past the last shard and goes on from the first.
    pub wrapped: bool,
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
            malformed: result["malformed"].as_u64().unwrap_or(0),
            per_account: serde_json::from_value(result["perAccount"].clone()).unwrap_or_default(),
            first_account: result["firstAccount"].as_str().map(str::to_owned),
            began_at: serde_json::from_value(result["beganAt"].clone()).ok(),
            wrapped: result["wrapped"].as_bool().unwrap_or(false),
        }
    }

    fn is_fresh(&self) -> bool {
        *self == Self::default()
    }

    /// The delay for the next check of `account`: its checks go in groups of [`ACCOUNT_GROUP`],
    /// each group [`ACCOUNT_GROUP_SPACING_SECS`] after the one before.
    fn next_delay_secs(&mut self, account: &str) -> u32 {
        let first = self
            .first_account
            .get_or_insert_with(|| account.to_owned())
            .clone();
        if !self.per_account.contains_key(account) {
            // A new account: the one before it has no targets left to read.
            self.per_account.retain(|seen, _| *seen == first);
        }
        let sent = self.per_account.entry(account.to_owned()).or_insert(0);
        let group = *sent / ACCOUNT_GROUP as u64;
        *sent += 1;
        u32::try_from(group)
            .unwrap_or(u32::MAX)
            .saturating_mul(ACCOUNT_GROUP_SPACING_SECS)
    }
}

/// How a fan-out run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct FannedOut {
    /// Every target was read (or the cap reached); `false` means a continuation goes on.
    pub finished: bool,
    /// When the continuation goes on: at once (0), or once the checks already queued for one
    /// account have all been released.
    pub resume_after_secs: u32,
    pub result: Value,
}

pub struct Settings {
    pub heal: bool,
    /// `CDN_LOG_RESCAN_MAX_DISTRIBUTIONS`: at most this many targets per rescan.
    pub max_targets: Option<u64>,
    pub min_interval: Duration,
}

/// Why a fan-out run stopped reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Out of time: a continuation goes on from the cursor.
    Time,
    /// One account's checks fill the queue's longest delay: a continuation goes on from the
    /// cursor once they have been released.
    Paced,
    /// Every target read (or, rotating, come full circle).
    Done,
    /// The cap was reached with targets left: the next capped rescan starts at `resume`.
    Capped,
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
    let salt = table.start_counts(&key).await.map_err(store_failure)?;
    let now_ms = epoch_millis(std::time::SystemTime::now());
    let cutoff = now_ms.saturating_sub(settings.min_interval.as_millis() as u64);
    let parent = match source {
        Source::AllTargets => ParentScope::All,
        Source::Site(_) => ParentScope::Site,
    };
    let rotating = *source == Source::AllTargets && settings.max_targets.is_some();
    if rotating && progress.is_fresh() {
        if let Some(start) = table.rotation_start().await.map_err(store_failure)? {
            progress.cursor = start.clone();
            progress.began_at = Some(start);
        }
    }
    let capped = |progress: &Progress| settings.max_targets.is_some_and(|cap| progress.sent >= cap);

    let mut pages = 0;
    // Where a capped rescan's successor starts: just after the last target this one passed.
    let mut resume = progress.cursor.clone();
    // Checks wait here until ten make a full batch; the rest go out when the run ends.
    let mut outgoing = Vec::new();
    let stop = 'pages: loop {
        if progress.cursor.done {
            match &progress.began_at {
                Some(_) if !progress.wrapped => {
                    progress.cursor = Cursor::default();
                    progress.wrapped = true;
                }
                _ => break Stop::Done,
            }
        }
        if progress.wrapped
            && progress
                .began_at
                .as_ref()
                .is_some_and(|began| progress.cursor.shard > began.shard)
        {
            break Stop::Done;
        }
        // Every run reads at least one page, so a continuation always gets further.
        if pages > 0 && Instant::now() + TIME_RESERVE >= deadline {
            break Stop::Time;
        }
        pages += 1;
        let page = table
            .targets_page(source, &progress.cursor)
            .await
            .map_err(store_failure)?;
        progress.malformed += page.malformed;
        resume = progress.cursor.clone();
        for target in &page.targets {
            if progress.wrapped
                && progress
                    .began_at
                    .as_ref()
                    .is_some_and(|began| began.reached_by(&target.position()))
            {
                send(queue, &outgoing).await?;
                outgoing.clear();
                break 'pages Stop::Done;
            }
            if !target.registered {
                resume = target.cursor_after(source);
                continue;
            }
            if target.last_checked_ms.is_some_and(|at| at > cutoff) {
                progress.recently_checked += 1;
                resume = target.cursor_after(source);
                continue;
            }
            if capped(&progress) {
                send(queue, &outgoing).await?;
                outgoing.clear();
                break 'pages Stop::Capped;
            }
            let delay_secs = progress.next_delay_secs(target.account_id.as_str());
            if delay_secs >= MAX_DELAY_SECS {
                // SQS delays no longer: the rest of this account's checks start afresh from a
                // continuation that comes when the ones queued have all been released.
                progress
                    .per_account
                    .insert(target.account_id.to_string(), 0);
                progress.cursor = resume.clone();
                send(queue, &outgoing).await?;
                outgoing.clear();
                break 'pages Stop::Paced;
            }
            progress.sent += 1;
            resume = target.cursor_after(source);
            outgoing.push(Outgoing {
                body: child_body(command, &salt, target, settings.heal, parent).to_string(),
                delay_secs,
            });
        }
        let full = outgoing.len() - outgoing.len() % MAX_BATCH;
        send(queue, &outgoing[..full]).await?;
        outgoing.drain(..full);
        progress.cursor = page.next;
    };
    send(queue, &outgoing).await?;

    let truncated = stop == Stop::Capped;
    let finished = !matches!(stop, Stop::Time | Stop::Paced);
    if rotating && finished {
        table
            .save_rotation(truncated.then_some(&resume))
            .await
            .map_err(store_failure)?;
    }
    let mut result = json!({
        "scope": parent.as_param(),
        "heal": settings.heal,
        "sent": progress.sent,
        "recentlyChecked": progress.recently_checked,
        "truncated": truncated,
    });
    if progress.malformed > 0 {
        result["malformed"] = json!(progress.malformed);
    }
    if !finished {
        result["cursor"] = serde_json::to_value(&progress.cursor).expect("a cursor serializes");
        result["perAccount"] =
            serde_json::to_value(&progress.per_account).expect("counts serialize");
        if let Some(first) = &progress.first_account {
            result["firstAccount"] = json!(first);
        }
        if let Some(began) = &progress.began_at {
            result["beganAt"] = serde_json::to_value(began).expect("a cursor serializes");
            result["wrapped"] = json!(progress.wrapped);
        }
    }
    tracing::info!(
        sent = progress.sent,
        recently_checked = progress.recently_checked,
        malformed = progress.malformed,
        finished,
        truncated,
        paced = stop == Stop::Paced,
        "rescan fanned out"
    );
    Ok(FannedOut {
        finished,
        resume_after_secs: if stop == Stop::Paced {
            MAX_DELAY_SECS
        } else {
            0
        },
        result,
    })
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
pub fn child_body(
    command: &Command,
    salt: &str,
    target: &TargetRef,
    heal: bool,
    parent: ParentScope,
) -> Value {
    json!({
        "schemaVersion": command::SCHEMA_VERSION,
        "commandId": child_id(command.command_id.as_str(), salt, target),
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

/// The check's command id: see [`crate::rescan_params::check_id`].
pub fn child_id(rescan_id: &str, salt: &str, target: &TargetRef) -> String {
    crate::rescan_params::check_id(
        rescan_id,
        salt,
        &target.account_id,
        &target.distribution_id,
        target.kind,
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
    fn one_accounts_checks_go_in_spaced_groups_and_each_account_starts_again() {
        let mut progress = Progress::default();
        let delays: Vec<u32> = (0..12)
            .map(|_| progress.next_delay_secs("111122223333"))
            .collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 4, 4]);
        assert_eq!(progress.next_delay_secs("444455556666"), 0);
    }

    #[test]
    fn the_counts_kept_stay_two_however_many_accounts_are_read() {
        let mut progress = Progress::default();
        for _ in 0..7 {
            progress.next_delay_secs("100000000000");
        }
        for account in 100_000_000_001u64..100_000_010_000 {
            for _ in 0..3 {
                progress.next_delay_secs(&account.to_string());
            }
            assert!(progress.per_account.len() <= 2);
        }
        assert_eq!(
            progress.next_delay_secs("100000000000"),
            2,
            "a rotating rescan come round to its first account goes on counting it"
        );
    }

    #[test]
    fn a_continuation_goes_on_counting_where_its_record_stopped() {
        let mut progress = Progress::default();
        for _ in 0..6 {
            progress.next_delay_secs("111122223333");
        }
        let recorded = json!({
            "perAccount": progress.per_account,
            "firstAccount": progress.first_account,
        });
        let mut resumed = Progress::from_result(Some(&recorded));
        assert_eq!(resumed.next_delay_secs("111122223333"), 2);
        assert_eq!(resumed.first_account.as_deref(), Some("111122223333"));
    }

    #[test]
    fn child_ids_are_stable_distinct_and_valid() {
        let long = "r".repeat(128);
        let a = child_id(&long, "salt", &target(TargetKind::LogDelivery));
        assert_eq!(a, child_id(&long, "salt", &target(TargetKind::LogDelivery)));
        assert_ne!(a, child_id(&long, "salt", &target(TargetKind::Routing)));
        assert_ne!(
            a,
            child_id("another", "salt", &target(TargetKind::LogDelivery))
        );
        assert_ne!(
            a,
            child_id(&long, "other salt", &target(TargetKind::LogDelivery))
        );
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
            "salt",
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
