//! The fan-out of a tenant with more checks than SQS can spread in one go: the queue delays a
//! message 900 s at most, so an account's checks past that go out from a continuation that comes
//! once the queued ones have been released, never bunched at the longest delay.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cdn_onboard::command::{self, Command};
use cdn_onboard::queue::MAX_DELAY_SECS;
use cdn_onboard::rescan::enumerate::Source;
use cdn_onboard::rescan::fanout::{
    fan_out, Progress, Settings, ACCOUNT_GROUP, ACCOUNT_GROUP_SPACING_SECS,
};
use support::fanout_mocks::{queue, table, Index, Sent};
use tokio::time::Instant;

fn scheduled() -> Command {
    match command::parse(
        r#"{"schemaVersion":1,"commandId":"scheduled-big-tenant","type":"rescan","params":{"scope":"all"}}"#,
    ) {
        command::Parsed::Valid(command) => command,
        other => panic!("{other:?}"),
    }
}

fn settings() -> Settings {
    Settings {
        heal: true,
        max_targets: None,
        min_interval: Duration::from_secs(1800),
    }
}

/// The most checks of one account sent with one delay, in one run.
fn most_released_together(sent: &Sent) -> u64 {
    sent.released
        .lock()
        .unwrap()
        .values()
        .copied()
        .max()
        .unwrap_or(0)
}

/// Runs `command` and its continuations to the end over one account with 50 more targets than
/// one run may spread: two runs, the first continuing after SQS's longest delay.
async fn paced_over_one_big_account(command: Command, source: Source) {
    // More targets than groups of five spaced 2 s apart fit in 900 s.
    let per_run = (MAX_DELAY_SECS / ACCOUNT_GROUP_SPACING_SECS) as u64 * ACCOUNT_GROUP as u64;
    let targets = per_run + 50;
    let index = Arc::new(Index::new(targets, targets));
    let mut progress = Progress::default();
    let mut ids = HashSet::new();
    let mut runs = Vec::new();
    loop {
        assert!(runs.len() < 5, "never finished: {runs:?}");
        let sent = Arc::new(Sent {
            keep_command_ids: true,
            ..Sent::default()
        });
        let run = fan_out(
            &table(index.clone(), None),
            &queue(sent.clone()),
            &command,
            &source,
            &settings(),
            progress,
            Instant::now() + Duration::from_secs(600),
        )
        .await
        .unwrap();
        let max_delay = sent
            .released
            .lock()
            .unwrap()
            .keys()
            .map(|(_, delay)| *delay)
            .max()
            .unwrap_or(0);
        assert!(
            max_delay < MAX_DELAY_SECS as i32,
            "no check at SQS's longest delay: {max_delay}"
        );
        assert!(most_released_together(&sent) <= ACCOUNT_GROUP as u64);
        for id in sent.command_ids.lock().unwrap().iter() {
            assert!(ids.insert(id.clone()), "{id} sent twice");
        }
        runs.push((
            sent.command_ids.lock().unwrap().len(),
            run.finished,
            run.resume_after_secs,
        ));
        if run.finished {
            assert_eq!(run.result["sent"], targets, "{}", run.result);
            break;
        }
        progress = Progress::from_result(Some(&run.result));
    }
    assert_eq!(
        runs,
        [(per_run as usize, false, MAX_DELAY_SECS), (50, true, 0)],
        "(sent, finished, resume after)"
    );
    assert_eq!(ids.len() as u64, targets, "every target exactly once");
}

#[tokio::test]
async fn an_account_past_the_longest_delay_continues_after_it_instead_of_bunching() {
    paced_over_one_big_account(scheduled(), Source::AllTargets).await;
}

#[tokio::test]
async fn a_site_rescan_continues_from_its_own_index_after_the_longest_delay() {
    let command = match command::parse(
        r#"{"schemaVersion":1,"commandId":"site-big-tenant","type":"rescan","siteId":"site-0","imsOrgId":"ABC123DEF456@AdobeOrg","accountId":"100000000000","params":{"scope":"site"}}"#,
    ) {
        command::Parsed::Valid(command) => command,
        other => panic!("{other:?}"),
    };
    let site = command.tenant().site_id.clone();
    paced_over_one_big_account(command, Source::Site(site)).await;
}
