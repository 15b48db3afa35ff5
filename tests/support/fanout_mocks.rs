//! The rescan fan-out's AWS side answered by `aws-smithy-mocks`: `targets-by-shard` as an
//! in-memory index, the rescan's record, and a queue that counts what it is sent. Used by
//! `tests/fanout_mocked.rs` and `benches/rescan_fanout.rs`.

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
use cdn_onboard::ids::AccountId;
use cdn_onboard::queue::CommandQueue;
use cdn_onboard::records::Table;
use cdn_onboard::targets::{shard_of, shard_partition, target_pk};

pub type Item = HashMap<String, AttributeValue>;

/// `targets-by-shard` and `targets-by-site` as DynamoDB would hold them: by partition, then
/// sort key (each target is in both, under partitions `TARGETS#..` and `SITE#..`).
pub struct Index {
    pub items: BTreeMap<(String, String), Item>,
}

impl Index {
    /// `targets` log delivery targets, `per_account` to an account.
    pub fn new(targets: u64, per_account: u64) -> Self {
        let mut items = BTreeMap::new();
        for i in 0..targets {
            let account = AccountId::parse(&format!("{:012}", 100_000_000_000 + i / per_account))
                .expect("a twelve-digit account");
            let distribution =
                cdn_onboard::ids::DistributionId::parse(&format!("E{i:013}")).expect("an id");
            let pk = target_pk(&account, &distribution);
            let partition = shard_partition(shard_of(&account));
            let sort = format!("{account}#{distribution}#LOG_DELIVERY");
            let site = format!("site-{}", i / per_account);
            let (site_partition, site_sort) = (format!("SITE#{site}"), format!("TARGET#{sort}"));
            let item: Item = [
                ("pk", pk),
                ("sk", "LOG_DELIVERY".to_owned()),
                ("accountId", account.to_string()),
                ("distributionId", distribution.to_string()),
                ("siteId", site),
                ("imsOrgId", "ABC123DEF456@AdobeOrg".to_owned()),
                ("desiredState", "enabled".to_owned()),
                ("gsi1pk", partition.clone()),
                ("gsi1sk", sort.clone()),
                ("gsi2pk", site_partition.clone()),
                ("gsi2sk", site_sort.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), AttributeValue::S(v)))
            .collect();
            items.insert((site_partition, site_sort), item.clone());
            items.insert((partition, sort), item);
        }
        Self { items }
    }

    /// One query page: up to `limit` items of `partition` after `after`.
    pub fn page(&self, partition: &str, after: Option<&str>, limit: usize) -> QueryOutput {
        let start = (partition.to_owned(), after.unwrap_or("").to_owned());
        let items: Vec<Item> = self
            .items
            .range(start..)
            .filter(|((p, sort), _)| Some(sort.as_str()) != after || p != partition)
            .take_while(|((p, _), _)| p == partition)
            .take(limit)
            .map(|(_, item)| item.clone())
            .collect();
        let index_keys = if partition.starts_with("SITE#") {
            ["gsi2pk", "gsi2sk"]
        } else {
            ["gsi1pk", "gsi1sk"]
        };
        let last = (items.len() == limit).then(|| {
            let item = items.last().expect("a full page");
            ["pk", "sk", index_keys[0], index_keys[1]]
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
pub struct Sent {
    pub batches: AtomicU64,
    pub checks: AtomicU64,
    /// Checks released at each delay, per account.
    pub released: Mutex<HashMap<(String, i32), u64>>,
    /// Every check's command id, in the order sent, when `keep_command_ids` (the benchmark
    /// keeps none: they would count in the heap it measures).
    pub command_ids: Mutex<Vec<String>>,
    pub keep_command_ids: bool,
}

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// The table: the rescan's record answers `start_counts`; queries page through `index`, and
/// the page numbered `stall_at` (if any) is held until the fan-out's time is up.
pub fn table(index: Arc<Index>, stall: Option<(u64, std::time::Instant)>) -> Table {
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
            .and_then(|k| k.get("gsi1sk").or_else(|| k.get("gsi2sk")))
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

pub fn queue(sent: Arc<Sent>) -> CommandQueue {
    let send = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |input| {
        sent.batches.fetch_add(1, Ordering::Relaxed);
        let mut released = sent.released.lock().expect("not poisoned");
        let entries = input.entries();
        for entry in entries {
            sent.checks.fetch_add(1, Ordering::Relaxed);
            let body: serde_json::Value =
                serde_json::from_str(entry.message_body()).expect("a JSON check");
            let account = body["accountId"].as_str().expect("an account").to_owned();
            if let Some(id) = body["commandId"].as_str().filter(|_| sent.keep_command_ids) {
                sent.command_ids
                    .lock()
                    .expect("not poisoned")
                    .push(id.to_owned());
            }
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
