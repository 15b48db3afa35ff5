//! The scheduled rescan's fan-out at the scale issue 4 names: 100,000 registered targets.
//!
//! The index and the queue are answered by `aws-smithy-mocks` rules at once, so what is measured
//! is the service's own work per target (reading pages, building and serializing the checks,
//! the SDK's request handling), not AWS latency. Printed, from one run each:
//!
//! - time for every target, as a ratio of what one invocation has for it (the default 60 s
//!   function timeout less what the consumer and the fan-out keep back);
//! - peak heap the fan-out added, as a ratio of the default 256 MB function;
//! - the record a continuation carries, when a run stops short after nine tenths of the index
//!   pages, as a ratio of DynamoDB's 400 KB item limit;
//! - the largest number of one account's checks released at the same moment (the limit is the
//!   fan-out's group of five), and the batched sends against the 10-per-batch floor.
//!
//! Run: `cargo bench --bench rescan_fanout`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use cdn_onboard::command::{self, Command};
use cdn_onboard::rescan::enumerate::Source;
use cdn_onboard::rescan::fanout::{fan_out, Progress, Settings, ACCOUNT_GROUP};
use cdn_onboard::targets::TARGET_SHARDS;
use peak_alloc::PeakAlloc;
use tokio::time::Instant;

#[path = "../tests/support/fanout_mocks.rs"]
#[allow(dead_code)]
mod fanout_mocks;
use fanout_mocks::{queue, table, Index, Sent};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const TARGETS: u64 = 100_000;
/// What one invocation has for a fan-out: the default function timeout, less the 10 s the
/// consumer keeps for its record writes and the 8 s the fan-out keeps before its deadline.
const BUDGET: Duration = Duration::from_secs(60 - 10 - 8);
const FUNCTION_MEMORY_BYTES: f64 = 256.0 * 1024.0 * 1024.0;
const ITEM_LIMIT_BYTES: f64 = 400.0 * 1024.0;
/// The fan-out keeps this much back before its deadline (see `fanout::TIME_RESERVE`).
const TIME_RESERVE: Duration = Duration::from_secs(8);

fn scheduled_rescan() -> Command {
    match command::parse(
        r#"{"schemaVersion":1,"commandId":"scheduled-bench","type":"rescan","params":{"scope":"all","heal":true}}"#,
    ) {
        command::Parsed::Valid(command) => command,
        other => panic!("the scheduled rescan is valid: {other:?}"),
    }
}

fn settings() -> Settings {
    Settings {
        heal: true,
        max_targets: None,
        min_interval: Duration::from_secs(3600),
    }
}

async fn whole_run(name: &str, index: Arc<Index>) {
    let sent = Arc::new(Sent::default());
    let table = table(index, None);
    let queue = queue(sent.clone());
    let command = scheduled_rescan();
    let baseline = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let started = Instant::now();
    let outcome = fan_out(
        &table,
        &queue,
        &command,
        &Source::AllTargets,
        &settings(),
        Progress::default(),
        started + Duration::from_secs(15 * 60),
    )
    .await
    .expect("the fan-out runs");
    let took = started.elapsed();
    let peak = HEAP.peak_usage().saturating_sub(baseline);
    assert!(outcome.finished, "{name}: every target in one run");

    let checks = sent.checks.load(Ordering::Relaxed);
    let batches = sent.batches.load(Ordering::Relaxed);
    let together = sent
        .released
        .lock()
        .expect("not poisoned")
        .values()
        .copied()
        .max()
        .unwrap_or(0);
    assert_eq!(checks, TARGETS, "{name}: one check per target");
    println!("{name}");
    println!(
        "  time for {TARGETS} targets: {:.3} s = {:.3} of the {} s an invocation has",
        took.as_secs_f64(),
        took.as_secs_f64() / BUDGET.as_secs_f64(),
        BUDGET.as_secs()
    );
    println!(
        "  peak heap added: {:.1} MB = {:.3} of a 256 MB function",
        peak as f64 / 1_048_576.0,
        peak as f64 / FUNCTION_MEMORY_BYTES
    );
    println!(
        "  batched sends: {batches} = {:.2} of one per ten checks",
        batches as f64 / (checks as f64 / 10.0)
    );
    println!(
        "  most checks of one account released together: {together} = {:.2} of the group of {ACCOUNT_GROUP}",
        together as f64 / ACCOUNT_GROUP as f64
    );
}

async fn stopped_run(name: &str, index: Arc<Index>) {
    let pages_at_90_percent = TARGETS * 9 / 10 / cdn_onboard::rescan::enumerate::PAGE_SIZE as u64;
    let sent = Arc::new(Sent::default());
    let started = std::time::Instant::now();
    // The deadline leaves ten seconds past the fan-out's reserve (the whole run takes a few);
    // the page after 90 % is held until they are over, so the run stops there and records a
    // continuation.
    let free = Duration::from_secs(10);
    let table = table(index, Some((pages_at_90_percent + 1, started + free)));
    let queue = queue(sent.clone());
    let outcome = fan_out(
        &table,
        &queue,
        &scheduled_rescan(),
        &Source::AllTargets,
        &settings(),
        Progress::default(),
        Instant::now() + TIME_RESERVE + free,
    )
    .await
    .expect("the fan-out runs");
    assert!(!outcome.finished, "{name}: the run stops short");
    let size = serde_json::to_vec(&outcome.result)
        .expect("a result serializes")
        .len();
    println!(
        "  stopped after {} of {TARGETS} targets: the continuation's result is {size} bytes = {:.4} of the 400 KB item limit",
        sent.checks.load(Ordering::Relaxed),
        size as f64 / ITEM_LIMIT_BYTES
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    for (name, per_account) in [
        ("every target in its own account (100,000 accounts)", 1),
        ("fifty targets per account (2,000 accounts)", 50),
    ] {
        let index = Arc::new(Index::new(TARGETS, per_account));
        assert_eq!(
            index
                .items
                .keys()
                .map(|(p, _)| p)
                .filter(|p| p.starts_with("TARGETS#"))
                .collect::<std::collections::HashSet<_>>()
                .len() as u32,
            TARGET_SHARDS,
            "every shard holds targets"
        );
        runtime.block_on(whole_run(name, index.clone()));
        runtime.block_on(stopped_run(name, index));
    }
}
