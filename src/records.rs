//! The command records the UI polls, and the `INVALID` records of messages that could not be
//! judged or were refused: every DynamoDB read and conditional write for them.
//!
//! Every write after the first is conditional on `version`, so two deliveries of one message
//! never both win, and a late delivery never moves a status backwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;

use crate::attributes::{get_n, get_s, item_to_json, n, s, to_attribute, Item};
use crate::clock::{epoch_millis, epoch_secs, rfc3339};
use crate::command::{Command, Identity};
use crate::error::{ErrorCode, Failure};
use crate::steps::StepRow;

/// How many bytes of an unreadable body an `INVALID` record keeps.
pub const INVALID_BODY_BYTES: usize = 4096;

/// A DynamoDB call that failed: the message cannot be judged now and goes back to the queue.
#[derive(Debug, thiserror::Error)]
#[error("DynamoDB {operation} failed ({code})")]
pub struct StoreError {
    pub operation: &'static str,
    pub code: String,
}

impl StoreError {
    pub fn from_sdk<E: ProvideErrorMetadata>(
        operation: &'static str,
        error: &aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> Self {
        Self {
            operation,
            code: crate::error::AwsFault::from_sdk(error).describe(),
        }
    }
}

/// A conditional write's result: `true` when written, `false` when its condition did not hold.
pub(crate) fn written<T, E: ProvideErrorMetadata>(
    result: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
    operation: &'static str,
) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(is_condition_failure) => Ok(false),
        Err(e) => Err(StoreError::from_sdk(operation, &e)),
    }
}

fn is_condition_failure<E: ProvideErrorMetadata>(error: &E) -> bool {
    error.code() == Some("ConditionalCheckFailedException")
}

/// The table and how long its records live.
#[derive(Clone, Debug)]
pub struct Table {
    pub client: Client,
    pub name: String,
    pub record_ttl: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Accepted,
    Running,
    Waiting,
    Succeeded,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Accepted,
            Self::Running,
            Self::Waiting,
            Self::Succeeded,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// Where a command's record lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandKey {
    pub pk: String,
    pub sk: String,
}

impl CommandKey {
    pub fn of(identity: &Identity) -> Self {
        let pk = match &identity.site_id {
            Some(site) => format!("SITE#{site}"),
            None => "SYSTEM".to_owned(),
        };
        Self {
            pk,
            sk: format!("CMD#{}", identity.command_id),
        }
    }

    fn item(&self) -> Item {
        Item::from([
            ("pk".to_owned(), s(&self.pk)),
            ("sk".to_owned(), s(&self.sk)),
        ])
    }
}

/// What the consumer needs to know of a stored command record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    pub key: CommandKey,
    pub status: Status,
    pub version: u64,
    pub payload_hash: String,
    pub attempts: u64,
    pub aws_calls: u64,
    pub error_code: Option<String>,
    pub claim_token: Option<String>,
    pub claim_expires_at_ms: u64,
    pub finished_at_ms: Option<u64>,
    /// The step list as last written (deploys and plans).
    pub steps: Vec<StepRow>,
    /// The result as last written (a waiting deploy's facts so far).
    pub result: Option<Value>,
    /// What the command is waiting on, while it waits.
    pub wait: Option<Wait>,
}

/// A deploy step waiting on AWS: which, since when, how often it was checked, and the sequence
/// number of the one continuation message that may resume it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wait {
    pub step: String,
    pub since_ms: u64,
    pub checks: u32,
    pub seq: u64,
    #[serde(default)]
    pub next_check_at: String,
    /// Go on after exactly this long instead of the growing pause of a step waiting on AWS:
    /// the command is not waiting on anything (a rescan's fan-out continuing from its cursor,
    /// at once when it ran out of time, later when one account's checks fill the queue's
    /// longest delay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_delay_secs: Option<u32>,
}

/// A claimed attempt: the record it holds, its token, and the record's version as this attempt
/// last wrote it.
#[derive(Debug)]
pub struct Claim {
    pub key: CommandKey,
    pub token: String,
    version: AtomicU64,
}

impl Claim {
    pub fn new(key: CommandKey, token: impl Into<String>, version: u64) -> Self {
        Self {
            key,
            token: token.into(),
            version: AtomicU64::new(version),
        }
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    fn advanced(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    fn caught_up(&self, version: u64) {
        self.version.store(version, Ordering::SeqCst);
    }
}

/// How often a claimed write catches up with writes that advanced the version without taking
/// the claim (a rescan's checks counting themselves on its record) before it gives up.
const CATCH_UPS: usize = 50;

impl CommandRecord {
    fn from_item(key: CommandKey, item: &Item) -> Self {
        Self {
            key,
            status: get_s(item, "status")
                .and_then(Status::parse)
                .unwrap_or(Status::Accepted),
            version: get_n(item, "version").unwrap_or(0),
            payload_hash: get_s(item, "payloadHash").unwrap_or_default().to_owned(),
            attempts: get_n(item, "attempts").unwrap_or(0),
            aws_calls: get_n(item, "awsCalls").unwrap_or(0),
            error_code: item
                .get("error")
                .and_then(|e| e.as_m().ok())
                .and_then(|m| m.get("code"))
                .and_then(|c| c.as_s().ok())
                .cloned(),
            claim_token: get_s(item, "claimToken").map(str::to_owned),
            claim_expires_at_ms: get_n(item, "claimExpiresAt").unwrap_or(0),
            finished_at_ms: get_n(item, "finishedAtMs"),
            steps: item
                .get("steps")
                .map(crate::attributes::to_json)
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default(),
            result: item.get("result").map(crate::attributes::to_json),
            wait: item
                .get("wait")
                .map(crate::attributes::to_json)
                .and_then(|v| serde_json::from_value(v).ok()),
        }
    }

    /// Finished for good for a message sent at `sent_at_ms`: a later delivery is a duplicate and
    /// changes nothing. The one way back from `failed` is an explicit redrive from the dead-letter
    /// queue, which SQS sends anew: a command that failed with `RETRIES_EXHAUSTED` runs again only
    /// for a message sent after it failed, never for an older copy.
    pub fn is_final(&self, sent_at_ms: Option<u64>) -> bool {
        let exhausted = self.error_code.as_deref() == Some(ErrorCode::RetriesExhausted.as_str());
        match self.status {
            Status::Succeeded => true,
            Status::Failed if exhausted => match (sent_at_ms, self.finished_at_ms) {
                (Some(sent), Some(finished)) => sent <= finished,
                _ => true,
            },
            Status::Failed => true,
            _ => false,
        }
    }

    /// Another invocation holds the command and its deadline has not passed.
    pub fn is_claimed_by_other(&self, token: &str, now: SystemTime) -> bool {
        matches!(self.status, Status::Running | Status::Waiting)
            && self.claim_token.as_deref().is_some_and(|t| t != token)
            && self.claim_expires_at_ms > epoch_millis(now)
    }
}

/// What writing a new command record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    /// The record was already there.
    Exists,
    /// Another site's command already uses this `commandId`.
    IdTakenElsewhere,
}

/// How a finished attempt ends the record.
#[derive(Clone, Debug)]
pub struct Finish {
    pub status: Status,
    pub outcome: Option<String>,
    pub result: Option<Value>,
    pub error: Option<Failure>,
    pub aws_calls: u32,
    pub steps: Option<Vec<StepRow>>,
    /// Set when the status is `waiting`.
    pub wait: Option<Wait>,
}

impl Finish {
    pub fn new(status: Status, aws_calls: u32) -> Self {
        Self {
            status,
            outcome: None,
            result: None,
            error: None,
            aws_calls,
            steps: None,
            wait: None,
        }
    }
}

fn error_attribute(failure: &Failure) -> AttributeValue {
    AttributeValue::M(
        [
            ("code".to_owned(), s(failure.code.as_str())),
            ("message".to_owned(), s(&failure.message)),
            (
                "retryable".to_owned(),
                AttributeValue::Bool(failure.retryable()),
            ),
        ]
        .into(),
    )
}

impl Table {
    fn expires_at(&self, now: SystemTime) -> AttributeValue {
        n(epoch_secs(now + self.record_ttl))
    }

    pub async fn command(&self, key: &CommandKey) -> Result<Option<CommandRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key.item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", &e))?;
        Ok(output
            .item
            .map(|item| CommandRecord::from_item(key.clone(), &item)))
    }

    /// The whole stored record as JSON, for people and the CLI.
    pub async fn command_json(&self, key: &CommandKey) -> Result<Option<Value>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(key.item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", &e))?;
        Ok(output.item.as_ref().map(item_to_json))
    }

    /// Writes the `accepted` record unless one exists. Returns whether this call created it.
    pub async fn accept(&self, command: &Command, now: SystemTime) -> Result<Written, StoreError> {
        let identity = command.identity();
        let mut item = self.base_item(&identity, now);
        item.insert("status".into(), s(Status::Accepted.as_str()));
        if let Some(who) = &command.requested_by {
            item.insert("requestedBy".into(), s(who));
        }
        self.put_new(item).await
    }

    /// Writes a `failed` record for a command that broke a field rule, unless one exists.
    pub async fn refuse(
        &self,
        identity: &Identity,
        failure: &Failure,
        now: SystemTime,
    ) -> Result<Written, StoreError> {
        let mut item = self.base_item(identity, now);
        item.insert("status".into(), s(Status::Failed.as_str()));
        item.insert("error".into(), error_attribute(failure));
        item.insert("finishedAt".into(), s(rfc3339(now)));
        item.insert("finishedAtMs".into(), n(epoch_millis(now)));
        self.put_new(item).await
    }

    fn base_item(&self, identity: &Identity, now: SystemTime) -> Item {
        let mut item = CommandKey::of(identity).item();
        item.insert("commandId".into(), s(identity.command_id.as_str()));
        if let Some(type_name) = &identity.type_name {
            item.insert("type".into(), s(type_name));
        }
        if let Some(site) = &identity.site_id {
            item.insert("siteId".into(), s(site.as_str()));
        }
        if let Some(account) = &identity.account_id {
            item.insert("accountId".into(), s(account.as_str()));
        }
        if let Some(distribution) = &identity.distribution_id {
            item.insert("distributionId".into(), s(distribution.as_str()));
        }
        item.insert("payloadHash".into(), s(&identity.payload_hash));
        item.insert("attempts".into(), n(0));
        item.insert("awsCalls".into(), n(0));
        item.insert("createdAt".into(), s(rfc3339(now)));
        item.insert("updatedAt".into(), s(rfc3339(now)));
        item.insert("version".into(), n(1));
        item.insert("expiresAt".into(), self.expires_at(now));
        item
    }

    /// Writes a new command record, after reserving its `commandId` for its site: the contract
    /// makes `commandId` the idempotency key across sites, while records are keyed by site. The
    /// reservation comes first and is idempotent for its owner, so a crash between the two writes
    /// is healed by the next delivery.
    async fn put_new(&self, item: Item) -> Result<Written, StoreError> {
        let command_id = get_s(&item, "commandId").unwrap_or_default().to_owned();
        let owner_pk = get_s(&item, "pk").unwrap_or_default().to_owned();
        if !self
            .reserve_command_id(&command_id, &owner_pk, &item)
            .await?
        {
            return Ok(Written::IdTakenElsewhere);
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(if written(result, "PutItem")? {
            Written::Created
        } else {
            Written::Exists
        })
    }

    /// Reserves `command_id` for the partition `owner_pk`; `false` when another partition has it.
    async fn reserve_command_id(
        &self,
        command_id: &str,
        owner_pk: &str,
        record: &Item,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .item("pk", s(format!("COMMAND#{command_id}")))
            .item("sk", s("OWNER"))
            .item("ownerPk", s(owner_pk))
            .item(
                "expiresAt",
                record.get("expiresAt").cloned().unwrap_or_else(|| n(0)),
            )
            .condition_expression("attribute_not_exists(pk) OR ownerPk = :owner")
            .expression_attribute_values(":owner", s(owner_pk))
            .send()
            .await;
        written(result, "PutItem")
    }

    /// Takes the command for this invocation until `deadline`: `running`, one more attempt.
    /// `None` when another writer got there first.
    pub async fn claim(
        &self,
        record: &CommandRecord,
        token: &str,
        deadline: SystemTime,
        now: SystemTime,
    ) -> Result<Option<Claim>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(record.key.item()))
            .update_expression(
                "SET #status = :running, attempts = attempts + :one, claimToken = :token, \
                 claimExpiresAt = :deadline, version = version + :one, updatedAt = :now, \
                 expiresAt = :expires REMOVE finishedAt",
            )
            .condition_expression("version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(Status::Running.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":deadline", n(epoch_millis(deadline)))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":expires", self.expires_at(now))
            .expression_attribute_values(":version", n(record.version))
            .send()
            .await;
        Ok(written(result, "UpdateItem")?
            .then(|| Claim::new(record.key.clone(), token, record.version + 1)))
    }

    /// Writes the step list of a running command, as it goes. `false` when the claim was lost.
    pub async fn record_steps(
        &self,
        claim: &Claim,
        steps: &[StepRow],
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        for _ in 0..CATCH_UPS {
            if self.record_steps_once(claim, steps, now).await? {
                return Ok(true);
            }
            if !self.still_held(claim).await? {
                return Ok(false);
            }
        }
        Ok(false)
    }

    async fn record_steps_once(
        &self,
        claim: &Claim,
        steps: &[StepRow],
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let rows = serde_json::to_value(steps).expect("step rows serialize");
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(claim.key.item()))
            .update_expression("SET steps = :steps, version = version + :one, updatedAt = :now")
            .condition_expression("version = :version AND claimToken = :token")
            .expression_attribute_values(":steps", to_attribute(&rows))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":version", n(claim.version()))
            .expression_attribute_values(":token", s(&claim.token))
            .send()
            .await;
        let done = written(result, "UpdateItem")?;
        if done {
            claim.advanced();
        }
        Ok(done)
    }

    /// Ends the claimed attempt. Returns `false` when the claim was lost meanwhile (the write
    /// is then skipped: the record belongs to whoever took it over).
    pub async fn finish(
        &self,
        claim: &Claim,
        finish: &Finish,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        for _ in 0..CATCH_UPS {
            if self.finish_once(claim, finish, now).await? {
                return Ok(true);
            }
            if !self.still_held(claim).await? {
                tracing::warn!(
                    status = finish.status.as_str(),
                    "the record was taken over before this attempt could write its end; skipped"
                );
                return Ok(false);
            }
        }
        tracing::error!(
            status = finish.status.as_str(),
            "the record kept changing under this attempt's claim; its end was not written"
        );
        Ok(false)
    }

    /// Whether `claim` still holds its record; if so, the claim takes the record's version, so
    /// its next write is conditional on what is there now.
    async fn still_held(&self, claim: &Claim) -> Result<bool, StoreError> {
        match self.command(&claim.key).await? {
            Some(record) if record.claim_token.as_deref() == Some(claim.token.as_str()) => {
                claim.caught_up(record.version);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn finish_once(
        &self,
        claim: &Claim,
        finish: &Finish,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let (key, version, token) = (&claim.key, claim.version(), claim.token.as_str());
        let mut set = vec![
            "#status = :status",
            "awsCalls = if_not_exists(awsCalls, :zero) + :calls",
            "version = version + :one",
            "updatedAt = :now",
            "expiresAt = :expires",
        ];
        let mut remove = vec!["claimToken", "claimExpiresAt"];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(key.item()))
            .condition_expression("version = :version AND claimToken = :token")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(finish.status.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":calls", n(finish.aws_calls))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":expires", self.expires_at(now))
            .expression_attribute_values(":version", n(version))
            .expression_attribute_values(":token", s(token));
        if matches!(finish.status, Status::Succeeded | Status::Failed) {
            set.push("finishedAt = :now");
            set.push("finishedAtMs = :nowMs");
            request = request.expression_attribute_values(":nowMs", n(epoch_millis(now)));
        }
        if let Some(outcome) = &finish.outcome {
            set.push("outcome = :outcome");
            request = request.expression_attribute_values(":outcome", s(outcome));
        }
        if let Some(result) = &finish.result {
            set.push("#result = :result");
            request = request
                .expression_attribute_names("#result", "result")
                .expression_attribute_values(":result", to_attribute(result));
        }
        match &finish.error {
            Some(failure) => {
                set.push("#error = :error");
                request = request
                    .expression_attribute_names("#error", "error")
                    .expression_attribute_values(":error", error_attribute(failure));
            }
            None if finish.status == Status::Succeeded => {
                remove.push("#error");
                request = request.expression_attribute_names("#error", "error");
            }
            None => {}
        }
        if let Some(steps) = &finish.steps {
            set.push("steps = :steps");
            let rows = serde_json::to_value(steps).expect("step rows serialize");
            request = request.expression_attribute_values(":steps", to_attribute(&rows));
        }
        match &finish.wait {
            Some(wait) => {
                set.push("#wait = :wait");
                let wait = serde_json::to_value(wait).expect("a wait serializes");
                request = request
                    .expression_attribute_names("#wait", "wait")
                    .expression_attribute_values(":wait", to_attribute(&wait));
            }
            None if matches!(finish.status, Status::Succeeded | Status::Failed) => {
                remove.push("#wait");
                request = request.expression_attribute_names("#wait", "wait");
            }
            None => {}
        }
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        let done = written(
            request.update_expression(expression).send().await,
            "UpdateItem",
        )?;
        if done {
            claim.advanced();
        }
        Ok(done)
    }

    /// Records the failed attempt of a command that will be retried, and lets the claim go so
    /// the next delivery can take it at once. The status stays `running`.
    pub async fn release_for_retry(
        &self,
        claim: &Claim,
        failure: &Failure,
        aws_calls: u32,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut finish = Finish::new(Status::Running, aws_calls);
        finish.error = Some(failure.clone());
        self.finish(claim, &finish, now).await
    }

    /// Ends a command whose attempt died without finishing (its handler panicked): `failed`
    /// unless it already finished, whoever holds the claim. Returns whether it was written.
    pub async fn force_fail(
        &self,
        record: &CommandRecord,
        failure: &Failure,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(record.key.item()))
            .update_expression(
                "SET #status = :failed, #error = :error, finishedAt = :now, finishedAtMs = :nowMs, \
                 updatedAt = :now, expiresAt = :expires, version = version + :one \
                 REMOVE claimToken, claimExpiresAt, #wait",
            )
            .condition_expression("version = :version")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_names("#wait", "wait")
            .expression_attribute_values(":failed", s(Status::Failed.as_str()))
            .expression_attribute_values(":error", error_attribute(failure))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":nowMs", n(epoch_millis(now)))
            .expression_attribute_values(":expires", self.expires_at(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":version", n(record.version))
            .send()
            .await;
        written(result, "UpdateItem")
    }

    /// Records a message that could not be judged or was refused, keyed by its SQS message id.
    pub async fn record_invalid(
        &self,
        message_id: &str,
        code: ErrorCode,
        reason: &str,
        command_id: Option<&str>,
        body: &str,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("pk".to_owned(), s("INVALID")),
            ("sk".to_owned(), s(invalid_sort_key(message_id))),
            ("messageId".to_owned(), s(truncate_utf8(message_id, 1024))),
            ("code".to_owned(), s(code.as_str())),
            (
                "reason".to_owned(),
                s(crate::error::sanitize_message(reason)),
            ),
            (
                "body".to_owned(),
                s(truncate_utf8(body, INVALID_BODY_BYTES)),
            ),
            ("bodyBytes".to_owned(), n(body.len())),
            ("receivedAt".to_owned(), s(rfc3339(now))),
            ("expiresAt".to_owned(), self.expires_at(now)),
        ]);
        if let Some(id) = command_id {
            item.insert("commandId".into(), s(id));
        }
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", &e))?;
        Ok(())
    }

    /// Every item of one partition whose sort key starts with `sk_prefix` (all of them when it is
    /// empty), all pages, as JSON (the CLI's `status`).
    pub async fn partition_json(
        &self,
        pk: &str,
        sk_prefix: &str,
    ) -> Result<Vec<Value>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.name)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start);
            query = if sk_prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(sk_prefix))
            };
            let page = query
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("Query", &e))?;
            items.extend(page.items().iter().map(item_to_json));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// `MSG#<messageId>`; an id too long for a DynamoDB sort key (SQS never sends one) is cut and
/// given a hash of the whole, so the record can still be written.
pub fn invalid_sort_key(message_id: &str) -> String {
    const MAX_ID_BYTES: usize = 256;
    if message_id.len() <= MAX_ID_BYTES {
        return format!("MSG#{message_id}");
    }
    let digest = hex::encode(sha2::Sha256::digest(message_id.as_bytes()));
    format!("MSG#{}~{}", truncate_utf8(message_id, 200), &digest[..16])
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary.
pub fn truncate_utf8(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status, error: Option<&str>) -> CommandRecord {
        record_finished(status, error, Some(5_000))
    }

    fn record_finished(
        status: Status,
        error: Option<&str>,
        finished_at_ms: Option<u64>,
    ) -> CommandRecord {
        CommandRecord {
            key: CommandKey {
                pk: "SITE#s".into(),
                sk: "CMD#c".into(),
            },
            status,
            version: 3,
            payload_hash: "h".into(),
            attempts: 1,
            aws_calls: 0,
            error_code: error.map(str::to_owned),
            claim_token: Some("other".into()),
            claim_expires_at_ms: 2_000,
            finished_at_ms,
            steps: Vec::new(),
            result: None,
            wait: None,
        }
    }

    #[test]
    fn only_exhausted_failures_redriven_later_can_run_again() {
        let redriven = Some(6_000);
        assert!(record(Status::Succeeded, None).is_final(redriven));
        assert!(record(Status::Failed, Some("CONFLICT")).is_final(redriven));
        assert!(!record(Status::Failed, Some("RETRIES_EXHAUSTED")).is_final(redriven));
        assert!(
            record(Status::Failed, Some("RETRIES_EXHAUSTED")).is_final(Some(4_000)),
            "an older copy"
        );
        assert!(record(Status::Failed, Some("RETRIES_EXHAUSTED")).is_final(None));
        assert!(
            record_finished(Status::Failed, Some("RETRIES_EXHAUSTED"), None).is_final(redriven)
        );
        assert!(!record(Status::Running, None).is_final(None));
    }

    #[test]
    fn overlong_message_ids_still_make_a_valid_key() {
        assert_eq!(invalid_sort_key("m-1"), "MSG#m-1");
        let key = invalid_sort_key(&"x".repeat(2_000));
        assert!(key.len() < 300);
        assert_ne!(key, invalid_sort_key(&"x".repeat(2_001)));
    }

    #[test]
    fn a_claim_counts_until_its_deadline_and_not_after() {
        let before = std::time::UNIX_EPOCH + Duration::from_millis(1_999);
        let at = std::time::UNIX_EPOCH + Duration::from_millis(2_000);
        let running = record(Status::Running, None);
        assert!(running.is_claimed_by_other("mine", before));
        assert!(
            !running.is_claimed_by_other("mine", at),
            "a deadline reached counts as expired"
        );
        assert!(!running.is_claimed_by_other("other", before));
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }

    #[test]
    fn site_less_commands_live_under_system() {
        let identity = Identity {
            command_id: crate::ids::CommandId::parse("r-1").unwrap(),
            site_id: None,
            type_name: None,
            account_id: None,
            distribution_id: None,
            payload_hash: String::new(),
        };
        assert_eq!(
            CommandKey::of(&identity),
            CommandKey {
                pk: "SYSTEM".into(),
                sk: "CMD#r-1".into()
            }
        );
    }
}
