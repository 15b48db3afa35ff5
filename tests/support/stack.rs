//! The local emulator stack as the tests see it: its environment (from the process, or from the
//! `.local-stack/env` file that `scripts/local-stack up` writes), clients acting as the service
//! and as the demo customer, and a consumer wired to it.
//!
//! A test that needs the stack and cannot find it fails and says how to start it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sts::config::{Credentials, Region};
use cdn_onboard::app;
use cdn_onboard::config::Config;
use cdn_onboard::connector::Connector;
use cdn_onboard::consumer::Consumer;
use cdn_onboard::records::Table;
use serde_json::{json, Value};

const NOT_RUNNING: &str = "the local stack is not running: start it with `eval \"$(scripts/local-stack up)\"` or run scripts/test";

pub struct Stack {
    vars: HashMap<String, String>,
    pub sdk: SdkConfig,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unquote(value: &str) -> String {
    // shlex.quote wraps in single quotes and writes a quote as '"'"'.
    if value.starts_with('\'') && value.ends_with('\'') && value.len() >= 2 {
        value[1..value.len() - 1].replace("'\"'\"'", "'")
    } else {
        value.to_owned()
    }
}

/// The stack's folder: `CDN_ONBOARD_STACK_DIR` (scripts/test sets it), else `.local-stack`.
pub fn stack_dir() -> PathBuf {
    std::env::var_os("CDN_ONBOARD_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".local-stack"))
}

fn read_env_file() -> HashMap<String, String> {
    let path = stack_dir().join("env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{NOT_RUNNING} ({} is missing)", path.display()));
    text.lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), unquote(v)))
        .collect()
}

impl Stack {
    pub async fn connect() -> Stack {
        super::capture::keep_callsites_undecided();
        let vars = read_env_file();
        let endpoint = vars
            .get("AWS_ENDPOINT_URL")
            .expect("the stack's env names AWS_ENDPOINT_URL")
            .clone();
        let probe = std::net::TcpStream::connect_timeout(
            &endpoint
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .expect("endpoint is host:port"),
            Duration::from_secs(2),
        );
        assert!(
            probe.is_ok(),
            "{NOT_RUNNING} (nothing answers at {endpoint})"
        );
        let sdk = Self::sdk_as(&vars, "testing", "testing").await;
        Stack { vars, sdk }
    }

    async fn sdk_as(vars: &HashMap<String, String>, key: &str, secret: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&vars["AWS_ENDPOINT_URL"])
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "local-stack"))
            .load()
            .await
    }

    /// Every variable the stack exports.
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("the stack's env lacks {name}"))
    }

    pub fn config(&self) -> Config {
        Config::from_lookup(|name| self.vars.get(name).cloned())
            .expect("the stack's env is a valid config")
    }

    pub fn table(&self) -> Table {
        let config = self.config();
        Table {
            client: aws_sdk_dynamodb::Client::new(&self.sdk),
            name: config.table,
            record_ttl: config.record_ttl,
        }
    }

    /// A queue of the test's own, so messages it sends back never reach another test.
    pub async fn fresh_queue(&self) -> String {
        let name = format!("test-{}", unique_suffix());
        aws_sdk_sqs::Client::new(&self.sdk)
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create a test queue")
            .queue_url
            .expect("queue url")
    }

    /// A consumer on the stack, with a queue of its own.
    pub async fn consumer(&self) -> Consumer {
        self.consumer_with(self.config()).await
    }

    pub async fn consumer_with(&self, mut config: Config) -> Consumer {
        config.queue_url = self.fresh_queue().await;
        app::consumer(config, &self.sdk)
    }

    /// A consumer whose customer-account Logs calls are answered by `logs_template`'s mocks,
    /// while records, queue and STS are the stack's.
    pub async fn consumer_with_logs(
        &self,
        logs_template: aws_sdk_cloudwatchlogs::config::Builder,
    ) -> Consumer {
        let mut consumer = self.consumer().await;
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        consumer.connector = Connector::new(
            sts,
            super::mocks::with_logs(logs_template),
            consumer.config.connector_role_name.clone(),
        );
        consumer
    }

    /// A consumer whose customer-account CloudFront, IAM and Lambda calls, and whose site
    /// configuration, are `customer`'s mocks, probing with `prober`; records, queue and STS are
    /// the stack's. Waits are checked again at once, so continuations arrive without delay.
    pub async fn consumer_with_customer(
        &self,
        customer: &super::customer::Customer,
        prober: std::sync::Arc<dyn cdn_onboard::routing::verify::Prober>,
    ) -> Consumer {
        self.consumer_with_customer_role(customer, customer.templates(), prober)
            .await
    }

    /// As [`Stack::consumer_with_customer`], with the customer's calls made through
    /// `templates` (for instance [`super::customer::Customer::log_only_templates`]).
    pub async fn consumer_with_customer_role(
        &self,
        customer: &super::customer::Customer,
        templates: cdn_onboard::connector::ClientTemplates,
        prober: std::sync::Arc<dyn cdn_onboard::routing::verify::Prober>,
    ) -> Consumer {
        let mut config = self.config();
        config.wait_delay_secs = 0;
        config.busy_delay_secs = 0;
        let mut consumer = self.consumer_with(config).await;
        consumer.connector = Connector::new(
            aws_sdk_sts::Client::new(&self.sdk),
            templates,
            consumer.config.connector_role_name.clone(),
        );
        consumer.site_configs = customer.site_configs();
        consumer.prober = prober;
        consumer
    }

    /// Messages waiting on the consumer's queue, as the event source mapping hands them over;
    /// each is deleted as it is taken.
    pub async fn take_messages(&self, consumer: &Consumer) -> Vec<SqsMessage> {
        let sqs = &consumer.queue.client;
        let output = sqs
            .receive_message()
            .queue_url(&consumer.queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from the test queue");
        let messages = output.messages.unwrap_or_default();
        for message in &messages {
            sqs.delete_message()
                .queue_url(&consumer.queue.url)
                .set_receipt_handle(message.receipt_handle.clone())
                .send()
                .await
                .expect("delete a taken message");
        }
        messages
            .iter()
            .map(cdn_onboard::worker::to_event_record)
            .collect()
    }

    /// Handles `body`, then every message the consumer puts on its queue (continuations, a
    /// rescan's target checks), until none comes. Returns how many messages were handled.
    pub async fn run_to_end(&self, consumer: &Consumer, body: &str) -> usize {
        let mut pending = vec![sqs_message(&unique_command(), body, 1)];
        let mut handled = 0;
        while !pending.is_empty() {
            handled += pending.len();
            assert!(handled < 2_000, "the command never settled");
            let response = consumer.handle(event(pending), deadline()).await;
            assert!(failed_ids(&response).is_empty(), "no message is retried");
            pending = self.take_messages(consumer).await;
        }
        handled
    }

    /// A table of the test's own, with the stack table's keys and indexes, so a test can own
    /// every target in it.
    pub async fn fresh_table(&self) -> String {
        let dynamodb = aws_sdk_dynamodb::Client::new(&self.sdk);
        let existing = dynamodb
            .describe_table()
            .table_name(self.config().table)
            .send()
            .await
            .expect("describe the stack's table")
            .table
            .expect("the stack's table");
        let name = format!("test-{}", unique_suffix());
        let indexes = existing
            .global_secondary_indexes()
            .iter()
            .map(|index| {
                aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                    .index_name(index.index_name().unwrap())
                    .set_key_schema(Some(index.key_schema().to_vec()))
                    .projection(index.projection().unwrap().clone())
                    .build()
                    .unwrap()
            })
            .collect();
        dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(existing.attribute_definitions().to_vec()))
            .set_key_schema(Some(existing.key_schema().to_vec()))
            .set_global_secondary_indexes(Some(indexes))
            .send()
            .await
            .expect("create a test table");
        name
    }

    /// Writes enabled log delivery targets of `site` for `distributions` into `table`, with
    /// `extra` attributes on each, as enable would register them.
    pub async fn put_log_delivery_targets(
        &self,
        table: &str,
        site: &str,
        distributions: &[String],
        extra: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
    ) {
        let account = self.var("DEMO_ACCOUNT_ID").to_owned();
        let items: Vec<aws_sdk_dynamodb::types::WriteRequest> = distributions
            .iter()
            .map(|distribution| {
                let distribution = distribution.clone();
                let pk = format!("TARGET#{account}#{distribution}");
                let sort = format!("{account}#{distribution}#LOG_DELIVERY");
                let mut item: std::collections::HashMap<
                    String,
                    aws_sdk_dynamodb::types::AttributeValue,
                > = [
                    ("pk", pk.clone()),
                    ("sk", "LOG_DELIVERY".into()),
                    ("siteId", site.into()),
                    ("imsOrgId", self.var("DEMO_IMS_ORG_ID").into()),
                    ("accountId", account.clone()),
                    ("distributionId", distribution),
                    ("desiredState", "enabled".into()),
                    (
                        "gsi1pk",
                        cdn_onboard::targets::shard_partition(cdn_onboard::targets::shard_of(
                            &cdn_onboard::ids::AccountId::parse(&account).unwrap(),
                        )),
                    ),
                    ("gsi1sk", sort.clone()),
                    ("gsi2pk", format!("SITE#{site}")),
                    ("gsi2sk", format!("TARGET#{sort}")),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), aws_sdk_dynamodb::types::AttributeValue::S(v)))
                .collect();
                for (k, v) in extra {
                    item.insert((*k).to_owned(), v.clone());
                }
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        for chunk in items.chunks(25) {
            aws_sdk_dynamodb::Client::new(&self.sdk)
                .batch_write_item()
                .request_items(table, chunk.to_vec())
                .send()
                .await
                .unwrap();
        }
    }

    /// Credentials acting as an account's own administrator (from accounts.json).
    pub async fn sdk_of_account(&self, account_id: &str) -> SdkConfig {
        let path = PathBuf::from(self.var("CDN_ONBOARD_LOCAL_ACCOUNTS_FILE"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{NOT_RUNNING} ({} is missing)", path.display()));
        let accounts: Value = serde_json::from_str(&text).expect("accounts.json is JSON");
        let account = &accounts["accounts"][account_id];
        let key = account["accessKeyId"].as_str().expect("access key");
        let secret = account["secretAccessKey"].as_str().expect("secret");
        Self::sdk_as(&self.vars, key, secret).await
    }

    /// CloudWatch Logs as the demo customer sees it.
    pub async fn customer_logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk_of_account(self.var("DEMO_ACCOUNT_ID")).await)
    }

    /// The deliveries in the customer account whose source is `source_name`.
    pub async fn deliveries_from(
        &self,
        source_name: &str,
    ) -> Vec<aws_sdk_cloudwatchlogs::types::Delivery> {
        let logs = self.customer_logs().await;
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = logs
                .describe_deliveries()
                .set_next_token(token)
                .send()
                .await
                .expect("describe deliveries");
            found.extend(
                page.deliveries()
                    .iter()
                    .filter(|d| d.delivery_source_name() == Some(source_name))
                    .cloned(),
            );
            token = page.next_token;
            if token.is_none() {
                return found;
            }
        }
    }

    pub async fn record(&self, site_id: &str, command_id: &str) -> Value {
        cdn_onboard::cli::status::command(&self.table(), site_id, command_id)
            .await
            .expect("read the record")
            .unwrap_or(Value::Null)
    }

    pub async fn invalid_record(&self, message_id: &str) -> Value {
        cdn_onboard::cli::status::invalid(&self.table())
            .await
            .expect("read INVALID records")
            .into_iter()
            .find(|r| r["messageId"] == message_id)
            .unwrap_or(Value::Null)
    }

    /// A contract command for the demo customer.
    pub fn command(&self, command_id: &str, command_type: &str, distribution_id: &str) -> String {
        json!({
            "schemaVersion": 1,
            "commandId": command_id,
            "type": command_type,
            "siteId": self.var("DEMO_SITE_ID"),
            "imsOrgId": self.var("DEMO_IMS_ORG_ID"),
            "accountId": self.var("DEMO_ACCOUNT_ID"),
            "params": {"distributionId": distribution_id},
        })
        .to_string()
    }
}

pub fn unique_suffix() -> String {
    format!(
        "{:x}{:06x}",
        cdn_onboard::clock::epoch_millis(SystemTime::now()),
        fastrand::u32(..0xFFFFFF)
    )
}

/// A distribution id no other test uses.
pub fn unique_distribution() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tail: String = (0..13)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect();
    format!("E{tail}")
}

pub fn unique_command() -> String {
    format!("cmd-{}", unique_suffix())
}

/// An SQS record as the event source mapping hands it over.
pub fn sqs_message(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(message_id.to_owned());
    message.receipt_handle = Some(format!("receipt-{message_id}"));
    message.body = Some(body.to_owned());
    message.event_source = Some("aws:sqs".to_owned());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message
}

pub fn event(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

pub fn deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(60)
}

pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}
