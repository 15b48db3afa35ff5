//! The batch consumer: one SQS batch in, one partial batch response out.
//!
//! A message's way through: parse → command record `accepted` → idempotency (payload hash, final
//! status, a live claim elsewhere) → the distribution's lease → claim (`running`, one more
//! attempt) → the command against the customer's account → `succeeded` or `failed`, or a retry.
//! Messages for different distributions run concurrently (bounded); messages for the same
//! distribution run one after the other, in batch order.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::aws_calls::AwsCalls;
use crate::clock::rfc3339;
use crate::command::{self, Command, Identity, Parsed};
use crate::config::Config;
use crate::connector::Connector;
use crate::error::{ErrorCode, Failure};
use crate::execute::{execute, Executed, Failed, Services};
use crate::queue::{wait_delay_secs, CommandQueue, CONTINUATION_ATTRIBUTE};
use crate::records::{
    Claim, CommandKey, CommandRecord, Finish, Status, StoreError, Table, Wait, Written,
};
use crate::routing::api_key::SiteConfigs;
use crate::routing::deploy::Progress;
use crate::routing::verify::Prober;
use crate::steps::StepRow;

/// Time kept back from the invocation's deadline for the final record writes.
const FINISHING_MARGIN: Duration = Duration::from_secs(5);

/// What becomes of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Done with: deleted from the queue.
    Acknowledge,
    /// Reported as a batch item failure: SQS delivers it again, or moves it to the dead-letter
    /// queue after its last allowed receive.
    Retry,
}

pub struct Consumer {
    pub table: Table,
    pub queue: CommandQueue,
    pub connector: Connector,
    pub config: Config,
    /// The site configurations holding each site's Edge Optimize API key.
    pub site_configs: SiteConfigs,
    /// Sends the verify step's probes.
    pub prober: std::sync::Arc<dyn Prober>,
}

impl Consumer {
    /// Handles one batch. `deadline` is when the invocation must have answered; claims and leases
    /// taken for its messages expire then.
    pub async fn handle(&self, event: SqsEvent, deadline: SystemTime) -> SqsBatchResponse {
        let time_left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tracing::info!(
            messages = event.records.len(),
            time_left_ms = time_left.as_millis() as u64,
            "batch received"
        );
        let groups = group_by_distribution(event.records);
        let failed: Vec<String> = futures::stream::iter(groups)
            .map(|group| self.handle_in_order(group, deadline))
            .buffer_unordered(self.config.target_concurrency)
            .flat_map(futures::stream::iter)
            .collect()
            .await;

        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }

    /// Handles one distribution's messages one after the other; returns the ids to retry.
    async fn handle_in_order(&self, group: Vec<SqsMessage>, deadline: SystemTime) -> Vec<String> {
        let mut failed = Vec::new();
        for message in group {
            let (message_id, reportable) = message_identity(&message);
            if !reportable {
                tracing::error!(message_id = %message_id, "an SQS record without a messageId: handled, but it cannot be reported for retry");
            }
            let verdict = if too_late_to_start(deadline) {
                tracing::warn!(message_id = %message_id, "too little time left in this invocation; the message will be retried");
                Verdict::Retry
            } else {
                self.handle_contained(&message, &message_id, deadline).await
            };
            if verdict == Verdict::Retry && reportable {
                failed.push(message_id);
            }
        }
        failed
    }

    /// Handles one message; a panic is contained to it. A message that panics on its last
    /// allowed receive has its record ended `failed`, so the UI never shows a dead attempt as
    /// running while the message sits in the dead-letter queue.
    async fn handle_contained(
        &self,
        message: &SqsMessage,
        message_id: &str,
        deadline: SystemTime,
    ) -> Verdict {
        let span = tracing::info_span!("message", message_id = %message_id, command_id = tracing::field::Empty);
        let handled = AssertUnwindSafe(
            self.handle_message(message, message_id, deadline)
                .instrument(span),
        )
        .catch_unwind()
        .await;
        if let Ok(verdict) = handled {
            return verdict;
        }
        tracing::error!(message_id = %message_id, "handling the message panicked; it will be retried");
        let receives = receive_count(message);
        if receives >= self.config.max_receive_count {
            let failure = Failure::new(
                ErrorCode::RetriesExhausted,
                format!(
                    "gave up after {receives} attempts: handling the command failed unexpectedly \
                     each time. The message is in the dead-letter queue; report it to the \
                     service's maintainers"
                ),
            );
            if let Err(error) = self.abandon(message, &failure).await {
                tracing::error!(error = %error, "could not mark the abandoned command failed");
            }
        }
        Verdict::Retry
    }

    /// Ends the record of the command a message names as `failed`, if it has not finished.
    async fn abandon(&self, message: &SqsMessage, failure: &Failure) -> Result<(), ConsumerError> {
        let identity = match command::parse(message.body.as_deref().unwrap_or("")) {
            Parsed::Valid(command) => command.identity(),
            Parsed::Refused { identity, .. } => identity,
            Parsed::Unreadable { .. } => return Ok(()),
        };
        let Some(record) = self.table.command(&CommandKey::of(&identity)).await? else {
            return Ok(());
        };
        if !record.is_final(None) {
            self.table
                .force_fail(&record, failure, SystemTime::now())
                .await?;
        }
        Ok(())
    }

    /// Judges one message. Any store or queue failure makes it a retry: never lost.
    pub async fn handle_message(
        &self,
        message: &SqsMessage,
        message_id: &str,
        deadline: SystemTime,
    ) -> Verdict {
        let body = message.body.as_deref().unwrap_or("");
        tracing::debug!(body_bytes = body.len(), "message received");
        let result = match command::parse(body) {
            Parsed::Unreadable { command_id, reason } => {
                tracing::warn!(code = "INVALID_COMMAND", reason = %reason, "unreadable message recorded under INVALID");
                self.record_invalid(
                    message_id,
                    ErrorCode::InvalidCommand,
                    &reason,
                    command_id.as_deref(),
                    body,
                )
                .await
            }
            Parsed::Refused { identity, failure } => {
                tracing::Span::current().record("command_id", identity.command_id.as_str());
                self.refuse(message_id, body, &identity, &failure).await
            }
            Parsed::Valid(command) => {
                tracing::Span::current().record("command_id", command.command_id.as_str());
                self.run(message, message_id, body, &command, deadline)
                    .await
            }
        };
        result.unwrap_or_else(|error| {
            tracing::error!(error = %error, "could not judge the message; it will be retried");
            Verdict::Retry
        })
    }

    async fn record_invalid(
        &self,
        message_id: &str,
        code: ErrorCode,
        reason: &str,
        command_id: Option<&str>,
        body: &str,
    ) -> Result<Verdict, ConsumerError> {
        self.table
            .record_invalid(
                message_id,
                code,
                reason,
                command_id,
                body,
                SystemTime::now(),
            )
            .await?;
        Ok(Verdict::Acknowledge)
    }

    /// A command that broke a field rule: a `failed` record, unless the id was used before.
    async fn refuse(
        &self,
        message_id: &str,
        body: &str,
        identity: &Identity,
        failure: &Failure,
    ) -> Result<Verdict, ConsumerError> {
        tracing::warn!(code = failure.code.as_str(), reason = %failure.message, "command refused");
        match self
            .table
            .refuse(identity, failure, SystemTime::now())
            .await?
        {
            Written::Created => return Ok(Verdict::Acknowledge),
            Written::IdTakenElsewhere => {
                return self
                    .payload_mismatch(message_id, identity.command_id.as_str(), body)
                    .await
            }
            Written::Exists => {}
        }
        let existing = self.table.command(&CommandKey::of(identity)).await?;
        if existing.is_some_and(|r| r.payload_hash != identity.payload_hash) {
            return self
                .payload_mismatch(message_id, identity.command_id.as_str(), body)
                .await;
        }
        Ok(Verdict::Acknowledge)
    }

    async fn payload_mismatch(
        &self,
        message_id: &str,
        command_id: &str,
        body: &str,
    ) -> Result<Verdict, ConsumerError> {
        tracing::warn!(
            code = "PAYLOAD_MISMATCH",
            "commandId reused with a different payload; first record kept"
        );
        let reason = format!(
            "commandId {command_id} was already used for a different command; the first record is \
             unchanged. Send a new commandId for a new command"
        );
        self.record_invalid(
            message_id,
            ErrorCode::PayloadMismatch,
            &reason,
            Some(command_id),
            body,
        )
        .await
    }

    async fn run(
        &self,
        message: &SqsMessage,
        message_id: &str,
        body: &str,
        command: &Command,
        deadline: SystemTime,
    ) -> Result<Verdict, ConsumerError> {
        let Some(record) = self.accepted_record(command).await? else {
            return self
                .payload_mismatch(message_id, command.command_id.as_str(), body)
                .await;
        };
        if record.payload_hash != command.payload_hash {
            return self
                .payload_mismatch(message_id, command.command_id.as_str(), body)
                .await;
        }
        if record.is_final(sent_at_ms(message)) {
            tracing::info!(
                status = record.status.as_str(),
                "duplicate delivery of a finished command; nothing done"
            );
            return Ok(Verdict::Acknowledge);
        }

        let continuation = continuation_of(message);
        let issued = record.wait.as_ref().map_or(0, |w| w.seq);
        if record.wait.is_some() && continuation < issued {
            tracing::info!(
                continuation,
                "an older copy of a waiting command; its continuation resumes it"
            );
            return Ok(Verdict::Acknowledge);
        }
        // The newest continuation is the one recorded, or (when recording the wait failed after
        // it was sent) the one after it; a higher number was never issued.
        if continuation > issued.saturating_add(1) {
            tracing::warn!(
                continuation,
                issued,
                "a continuation number this command never issued; dropped"
            );
            return Ok(Verdict::Acknowledge);
        }

        let token = claim_token(message_id);
        let now = SystemTime::now();
        if record.is_claimed_by_other(&token, now) {
            return self
                .come_back_later(message, "the command is running in another invocation")
                .await;
        }
        let leased = command.leased_target();
        if let Some((account_id, distribution_id)) = leased {
            if !self
                .table
                .acquire_lease(account_id, distribution_id, &token, deadline, now)
                .await?
            {
                return self
                    .come_back_later(message, "another command is changing this distribution")
                    .await;
            }
        }

        // The lease is let go even when the attempt panics; the panic then goes on to the
        // message's handler, which decides what becomes of the message.
        let attempt =
            AssertUnwindSafe(self.claim_and_execute(message, command, &record, &token, deadline))
                .catch_unwind()
                .await;
        if let Some((account_id, distribution_id)) = leased {
            if let Err(error) = self
                .table
                .release_lease(account_id, distribution_id, &token)
                .await
            {
                tracing::warn!(error = %error, "could not release the lease; it expires at the deadline");
            }
        }
        attempt.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// The stored record, written `accepted` first if this is the command's first delivery;
    /// `None` when another site's command already uses the `commandId`.
    async fn accepted_record(
        &self,
        command: &Command,
    ) -> Result<Option<CommandRecord>, ConsumerError> {
        let key = CommandKey::of(&command.identity());
        if let Some(record) = self.table.command(&key).await? {
            return Ok(Some(record));
        }
        if self.table.accept(command, SystemTime::now()).await? == Written::IdTakenElsewhere {
            return Ok(None);
        }
        let record = self
            .table
            .command(&key)
            .await?
            .ok_or(ConsumerError::Vanished)?;
        Ok(Some(record))
    }

    async fn claim_and_execute(
        &self,
        message: &SqsMessage,
        command: &Command,
        record: &CommandRecord,
        token: &str,
        deadline: SystemTime,
    ) -> Result<Verdict, ConsumerError> {
        let Some(claim) = self
            .table
            .claim(record, token, deadline, SystemTime::now())
            .await?
        else {
            return self
                .come_back_later(message, "another delivery claimed the command first")
                .await;
        };
        tracing::info!(
            command_type = command.action.command_type().as_str(),
            account_id = command
                .tenant
                .as_ref()
                .map(|t| t.account_id.as_str())
                .unwrap_or(""),
            distribution_id = command
                .action
                .distribution_id()
                .map(|d| d.as_str())
                .unwrap_or(""),
            attempt = record.attempts + 1,
            "command started"
        );

        let calls = AwsCalls::new();
        let services = Services {
            table: &self.table,
            queue: &self.queue,
            connector: &self.connector,
            config: &self.config,
            site_configs: &self.site_configs,
            prober: self.prober.as_ref(),
        };
        let progress = RecordedProgress {
            table: &self.table,
            claim: &claim,
        };
        // Boxed: a command's work nests many SDK futures; on the heap it never strains the stack.
        let executed = Box::pin(execute(
            &services,
            command,
            record,
            &progress,
            &calls,
            tokio_deadline(deadline),
        ))
        .await;
        self.conclude(message, command, record, &claim, executed, calls.count())
            .await
    }

    /// Writes how the attempt ended and decides the message's fate.
    async fn conclude(
        &self,
        message: &SqsMessage,
        command: &Command,
        record: &CommandRecord,
        claim: &Claim,
        executed: Result<Executed, Failed>,
        aws_calls: u32,
    ) -> Result<Verdict, ConsumerError> {
        let now = SystemTime::now();
        let receive_count = receive_count(message);
        let Failed { failure, steps } = match executed {
            Ok(Executed {
                result,
                steps,
                wait: Some(wait),
                ..
            }) => {
                return self
                    .wait(message, record, claim, result, steps, wait, aws_calls)
                    .await
            }
            Ok(done) => {
                tracing::info!(outcome = %done.outcome, aws_calls, "command succeeded");
                let mut finish = Finish::new(Status::Succeeded, aws_calls);
                finish.outcome = Some(done.outcome);
                finish.result = Some(done.result);
                finish.steps = done.steps;
                if let Err(error) = self.table.finish(claim, &finish, now).await {
                    if error.code != "ValidationException" {
                        return Err(error.into());
                    }
                    // A result too large for a record must not make the command run forever.
                    tracing::error!(
                        "the command's result does not fit in its record; recorded without it"
                    );
                    finish.result = Some(serde_json::json!({
                        "omitted": "the result was larger than a record may hold"
                    }));
                    finish.steps = None;
                    self.table.finish(claim, &finish, now).await?;
                }
                return Ok(Verdict::Acknowledge);
            }
            Err(failed) => failed,
        };

        if !failure.retryable() {
            tracing::warn!(code = failure.code.as_str(), aws_calls, "command failed");
            self.finish_failed(claim, failure, steps, aws_calls).await?;
            return Ok(Verdict::Acknowledge);
        }

        if let Some(tenant) = &command.tenant {
            self.connector
                .forget(&tenant.account_id, &tenant.site_id, &tenant.ims_org_id);
        }
        if receive_count >= self.config.max_receive_count {
            tracing::error!(
                code = failure.code.as_str(),
                receive_count,
                "retries exhausted; the message goes to the dead-letter queue"
            );
            let exhausted = Failure::new(
                ErrorCode::RetriesExhausted,
                format!(
                    "gave up after {receive_count} attempts; the last one failed with {}: {} \
                     The message is in the dead-letter queue; redrive it to try again",
                    failure.code, failure.message
                ),
            );
            if let Some(check) = crate::rescan::check::Check::of(command) {
                crate::rescan::check::gave_up(&self.table, command, &check, &exhausted).await;
            }
            self.finish_failed(claim, exhausted, steps, aws_calls)
                .await?;
            return Ok(Verdict::Retry);
        }

        tracing::warn!(
            code = failure.code.as_str(),
            receive_count,
            "attempt failed; the message will be retried"
        );
        let mut finish = Finish::new(Status::Running, aws_calls);
        finish.error = Some(failure);
        finish.steps = steps;
        self.table.finish(claim, &finish, now).await?;
        if let Some(handle) = message.receipt_handle.as_deref() {
            if let Err(error) = self.queue.delay_retry(handle, receive_count).await {
                tracing::warn!(error = %error, "could not space out the retry; the queue's visibility timeout applies");
            }
        }
        Ok(Verdict::Retry)
    }

    /// A step waits on AWS: the continuation goes on the queue first, then the record says
    /// `waiting`, so a waiting record always has a message on its way. The continuation carries
    /// the next sequence number; older copies of the command are then recognised and dropped.
    #[allow(clippy::too_many_arguments)] // the pieces of the attempt being closed
    async fn wait(
        &self,
        message: &SqsMessage,
        record: &CommandRecord,
        claim: &Claim,
        result: serde_json::Value,
        steps: Option<Vec<StepRow>>,
        mut wait: Wait,
        aws_calls: u32,
    ) -> Result<Verdict, ConsumerError> {
        let seq = record
            .wait
            .as_ref()
            .map_or(0, |w| w.seq)
            .max(continuation_of(message))
            .saturating_add(1);
        let delay = wait
            .fixed_delay_secs
            .unwrap_or_else(|| wait_delay_secs(self.config.wait_delay_secs, wait.checks));
        let now = SystemTime::now();
        wait.seq = seq;
        wait.next_check_at = rfc3339(now + Duration::from_secs(delay as u64));
        let body = message.body.as_deref().unwrap_or("");
        if let Err(error) = self.queue.send_later(body, delay, seq).await {
            tracing::warn!(error = %error, "could not send the continuation; the message will be retried");
            let failure = Failure::new(
                ErrorCode::Unavailable,
                "the command waits on AWS but its continuation could not be queued; it will be retried",
            );
            let mut finish = Finish::new(Status::Running, aws_calls);
            finish.error = Some(failure);
            finish.steps = steps;
            self.table.finish(claim, &finish, now).await?;
            return Ok(Verdict::Retry);
        }
        tracing::info!(
            step = %wait.step,
            checks = wait.checks,
            delay_secs = delay,
            continuation = seq,
            aws_calls,
            "command waiting; a continuation will check again"
        );
        let mut finish = Finish::new(Status::Waiting, aws_calls);
        finish.result = Some(result);
        finish.steps = steps;
        finish.wait = Some(wait);
        // The continuation is on its way: even if this write fails, it resumes the command.
        if let Err(error) = self.table.finish(claim, &finish, now).await {
            tracing::warn!(error = %error, "could not record the wait; the continuation resumes the command anyway");
        }
        Ok(Verdict::Acknowledge)
    }

    async fn finish_failed(
        &self,
        claim: &Claim,
        failure: Failure,
        steps: Option<Vec<StepRow>>,
        aws_calls: u32,
    ) -> Result<(), ConsumerError> {
        let mut finish = Finish::new(Status::Failed, aws_calls);
        finish.error = Some(failure);
        finish.steps = steps;
        self.table.finish(claim, &finish, SystemTime::now()).await?;
        Ok(())
    }

    /// Sends a copy of the message back for later and acknowledges this one, so that waiting
    /// neither busy-loops nor burns the receive count.
    async fn come_back_later(
        &self,
        message: &SqsMessage,
        why: &str,
    ) -> Result<Verdict, ConsumerError> {
        let delay = self.config.busy_delay_secs;
        tracing::info!(
            reason = why,
            delay_secs = delay,
            "target busy; the message comes back later"
        );
        let body = message.body.as_deref().unwrap_or("");
        self.queue
            .send_later(body, delay, continuation_of(message))
            .await?;
        Ok(Verdict::Acknowledge)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error("the command record was written but could not be read back")]
    Vanished,
}

/// Messages in batch order, grouped by the distribution they name; a message that names none is
/// a group of its own.
fn group_by_distribution(messages: Vec<SqsMessage>) -> Vec<Vec<SqsMessage>> {
    let mut groups: Vec<Vec<SqsMessage>> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for message in messages {
        match message.body.as_deref().and_then(command::peek_target) {
            Some(target) => match index.get(&target) {
                Some(&i) => groups[i].push(message),
                None => {
                    index.insert(target, groups.len());
                    groups.push(vec![message]);
                }
            },
            None => groups.push(vec![message]),
        }
    }
    groups
}

/// SQS's `ApproximateReceiveCount`: 1 on the first delivery (and when absent or unreadable).
pub fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(|n| n.clamp(1, u32::MAX as u64) as u32)
        .unwrap_or(1)
}

/// The continuation number a message carries; 0 for a message a producer sent.
pub fn continuation_of(message: &SqsMessage) -> u64 {
    message
        .message_attributes
        .get(CONTINUATION_ATTRIBUTE)
        .and_then(|a| a.string_value.as_deref())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Writes a running command's step list to its record as the steps go.
struct RecordedProgress<'a> {
    table: &'a Table,
    claim: &'a Claim,
}

impl Progress for RecordedProgress<'_> {
    fn write<'a>(&'a self, steps: &'a [StepRow]) -> futures::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            match self
                .table
                .record_steps(self.claim, steps, SystemTime::now())
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("the command's claim was lost; its steps were not recorded")
                }
                Err(error) => {
                    tracing::warn!(error = %error, "could not record the steps; the final write carries them")
                }
            }
        })
    }
}

/// SQS's `SentTimestamp`: when the message was (re)sent, in epoch milliseconds.
fn sent_at_ms(message: &SqsMessage) -> Option<u64> {
    message
        .attributes
        .get("SentTimestamp")
        .and_then(|t| t.parse().ok())
}

/// The id a message is recorded and reported under, and whether SQS can be told about it.
/// The event source mapping always sends one; a record without it is still handled, keyed by a
/// hash of its body.
fn message_identity(message: &SqsMessage) -> (String, bool) {
    match message.message_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => (id.to_owned(), true),
        None => {
            let body = message.body.as_deref().unwrap_or("");
            let digest = command::payload_hash(&serde_json::Value::String(body.to_owned()));
            (format!("no-message-id-{}", &digest[..16]), false)
        }
    }
}

/// No message starts with less than this left before the deadline: it gets time to run and to
/// write its record, or goes back to the queue untouched.
const START_MARGIN: Duration = Duration::from_secs(10);

fn too_late_to_start(deadline: SystemTime) -> bool {
    SystemTime::now() + START_MARGIN >= deadline
}

/// Identifies one attempt on a claim and a lease.
fn claim_token(message_id: &str) -> String {
    format!("{message_id}/{:016x}", fastrand::u64(..))
}

fn tokio_deadline(deadline: SystemTime) -> tokio::time::Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .saturating_sub(FINISHING_MARGIN);
    tokio::time::Instant::now() + left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.to_owned());
        message.body = Some(body.to_owned());
        message
    }

    fn for_target(id: &str, account: &str, distribution: &str) -> SqsMessage {
        message(
            id,
            &format!(
                r#"{{"accountId":"{account}","params":{{"distributionId":"{distribution}"}}}}"#
            ),
        )
    }

    #[test]
    fn groups_keep_batch_order_per_distribution() {
        let groups = group_by_distribution(vec![
            for_target("1", "111122223333", "EA"),
            message("2", "not json"),
            for_target("3", "111122223333", "EB"),
            for_target("4", "111122223333", "EA"),
            for_target("5", "999999999999", "EA"),
        ]);
        let ids: Vec<Vec<_>> = groups
            .iter()
            .map(|g| g.iter().map(|m| m.message_id.clone().unwrap()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["1", "4"], vec!["2"], vec!["3"], vec!["5"]]);
    }

    #[test]
    fn receive_count_defaults_to_first_delivery() {
        let mut m = message("1", "{}");
        assert_eq!(receive_count(&m), 1);
        m.attributes
            .insert("ApproximateReceiveCount".into(), "4".into());
        assert_eq!(receive_count(&m), 4);
    }
}
