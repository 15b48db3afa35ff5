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

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
use aws_sdk_sqs::types::SendMessageBatchResultEntry;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use cdn_onboard::command::{self, Command};
use cdn_onboard::ids::AccountId;
use cdn_onboard::queue::CommandQueue;
use cdn_onboard::records::Table;
use cdn_onboard::rescan::enumerate::Source;
use cdn_onboard::rescan::fanout::{fan_out, Progress, Settings, ACCOUNT_GROUP};
use cdn_onboard::targets::{shard_of, shard_partition, target_pk, TARGET_SHARDS};
use peak_alloc::PeakAlloc;
use tokio::time::Instant;

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

type Item = HashMap<String, AttributeValue>;

/// `targets-by-shard` as DynamoDB would hold it: by partition, then sort key.
struct Index {
    items: BTreeMap<(String, String), Item>,
}

impl Index {
    fn new(targets: u64, per_account: u64) -> Self {
        let mut items = BTreeMap::new();
        for i in 0..targets {
            let account = AccountId::parse(&format!("{:012}", 100_000_000_000 + i / per_account))
                .expect("a twelve-digit account");
            let distribution =
                cdn_onboard::ids::DistributionId::parse(&format!("E{i:013}")).expect("an id");
            let pk = target_pk(&account, &distribution);
            let partition = shard_partition(shard_of(&account));
            let sort = format!("{account}#{distribution}#LOG_DELIVERY");
            let item: Item = [
                ("pk", pk),
                ("sk", "LOG_DELIVERY".to_owned()),
                ("accountId", account.to_string()),
                ("distributionId", distribution.to_string()),
                ("siteId", format!("site-{}", i / per_account)),
                ("imsOrgId", "ABC123DEF456@AdobeOrg".to_owned()),
                ("desiredState", "enabled".to_owned()),
                ("gsi1pk", partition.clone()),
                ("gsi1sk", sort.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
            .collect();
            items.insert((partition, sort), item);
        }
        Self { items }
    }

    /// One query page: up to `limit` items of `partition` after `after`.
    fn page(&self, partition: &str, after: Option<&str>, limit: usize) -> QueryOutput {
        let start = (partition.to_owned(), after.unwrap_or("").to_owned());
        let items: Vec<Item> = self
            .items
            .range(start..)
            .filter(|((p, sort), _)| Some(sort.as_str()) != after || p != partition)
            .take_while(|((p, _), _)| p == partition)
            .take(limit)
            .map(|(_, item)| item.clone())
            .collect();
        let last = (items.len() == limit).then(|| {
            let item = items.last().expect("a full page");
            ["pk", "sk", "gsi1pk", "gsi1sk"]
                .into_iter()
                .map(|k| (k.to_owned(), item[k].clone()))
                .collect::<Item>()
        });
        QueryOutput::builder()
            .set_items(Some(items))
            .set_last_evaluated_key(last)
            .build()
    }
}

/// What the queue was sent.
#[derive(Default)]
struct Sent {
    batches: AtomicU64,
    checks: AtomicU64,
    /// Checks released at each delay, per account.
    released: Mutex<HashMap<(String, i32), u64>>,
}

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// The table: the rescan's record answers `start_counts`; queries page through `index`, and
/// the page numbered `stall_at` (if any) is held until the fan-out's time is up.
fn table(index: Arc<Index>, stall: Option<(u64, std::time::Instant)>) -> Table {
    let pages = Arc::new(AtomicU64::new(0));
    let query = mock!(aws_sdk_dynamodb::Client::query).then_compute_output(move |input| {
        let page = pages.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some((at, until)) = stall {
            if page == at {
                std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
            }
        }
        let partition = input
            .expression_attribute_values()
            .and_then(|v| v.get(":p"))
            .and_then(|v| v.as_s().ok())
            .expect("a partition");
        let after = input
            .exclusive_start_key()
            .and_then(|k| k.get("gsi1sk"))
            .and_then(|v| v.as_s().ok());
        index.page(
            partition,
            after.map(String::as_str),
            input.limit().unwrap_or(1000) as usize,
        )
    });
    let counts = mock!(aws_sdk_dynamodb::Client::update_item).then_output(|| {
        UpdateItemOutput::builder()
            .attributes(
                "checkSalt",
                AttributeValue::S("0123456789abcdef".to_owned()),
            )
            .build()
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKIDBENCH",
            "bench-secret",
            None,
            None,
            "bench",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[&query, &counts]))
        .build();
    Table {
        client: aws_sdk_dynamodb::Client::from_conf(config),
        name: "cdn-onboard".to_owned(),
        record_ttl: Duration::from_secs(86_400),
    }
}

fn queue(sent: Arc<Sent>) -> CommandQueue {
    let send = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |input| {
        sent.batches.fetch_add(1, Ordering::Relaxed);
        let mut released = sent.released.lock().expect("not poisoned");
        let entries = input.entries();
        for entry in entries {
            sent.checks.fetch_add(1, Ordering::Relaxed);
            let body: serde_json::Value =
                serde_json::from_str(entry.message_body()).expect("a JSON check");
            let account = body["accountId"].as_str().expect("an account").to_owned();
            *released
                .entry((account, entry.delay_seconds().unwrap_or(0)))
                .or_insert(0) += 1;
        }
        SendMessageBatchOutput::builder()
            .set_successful(Some(
                entries
                    .iter()
                    .map(|e| {
                        SendMessageBatchResultEntry::builder()
                            .id(e.id())
                            .message_id(format!("msg-{}", e.id()))
                            .md5_of_message_body("-")
                            .build()
                            .expect("the required fields are set")
                    })
                    .collect(),
            ))
            .set_failed(Some(Vec::new()))
            .build()
            .expect("the required fields are set")
    });
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "AKIDBENCH",
            "bench-secret",
            None,
            None,
            "bench",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[&send]))
        .build();
    CommandQueue {
        client: aws_sdk_sqs::Client::from_conf(config),
        url: "https://sqs.us-east-1.amazonaws.com/444455556666/cdn-onboard".to_owned(),
    }
}

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
                .collect::<std::collections::HashSet<_>>()
                .len() as u32,
            TARGET_SHARDS,
            "every shard holds targets"
        );
        runtime.block_on(whole_run(name, index.clone()));
        runtime.block_on(stopped_run(name, index));
    }
}
