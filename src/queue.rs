//! The command queue as the consumer uses it: sending a message back for later, and spacing out
//! the retries of a failed one.

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;

/// SQS's longest message delay.
pub const MAX_DELAY_SECS: u32 = 900;
/// The first retry of a failed message waits this long; each later one twice as long.
pub const FIRST_RETRY_DELAY_SECS: u32 = 10;
/// The message attribute carrying a continuation's sequence number: the body stays the command
/// as the producer sent it (so its payload hash matches), while a stale copy can be told from
/// the one continuation that may resume a waiting command.
pub const CONTINUATION_ATTRIBUTE: &str = "cdn-onboard-continuation";

#[derive(Debug, thiserror::Error)]
#[error("SQS {operation} failed ({code})")]
pub struct QueueError {
    pub operation: &'static str,
    pub code: String,
}

impl QueueError {
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

#[derive(Clone, Debug)]
pub struct CommandQueue {
    pub client: Client,
    pub url: String,
}

impl CommandQueue {
    /// Puts a copy of `body` back on the queue after `delay_secs`, as continuation `continuation`
    /// (0 for none). The copy starts with a fresh receive count, so waiting (for a busy
    /// distribution, or on AWS) never counts toward the dead-letter limit.
    pub async fn send_later(
        &self,
        body: &str,
        delay_secs: u32,
        continuation: u64,
    ) -> Result<(), QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_secs.min(MAX_DELAY_SECS) as i32);
        if continuation > 0 {
            request = request.message_attributes(
                CONTINUATION_ATTRIBUTE,
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value(continuation.to_string())
                    .build()
                    .expect("a data type is set"),
            );
        }
        request
            .send()
            .await
            .map_err(|e| QueueError::from_sdk("SendMessage", &e))?;
        Ok(())
    }

    /// Keeps a failed message hidden for a delay that doubles with every receive, instead of the
    /// queue's fixed visibility timeout.
    pub async fn delay_retry(
        &self,
        receipt_handle: &str,
        receive_count: u32,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(retry_delay_secs(receive_count) as i32)
            .send()
            .await
            .map_err(|e| QueueError::from_sdk("ChangeMessageVisibility", &e))?;
        Ok(())
    }
}

/// One message of a batch: its body and its delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub body: String,
    pub delay_secs: u32,
}

/// SQS takes at most this many messages in one SendMessageBatch.
pub const MAX_BATCH: usize = 10;

impl CommandQueue {
    /// Sends up to [`MAX_BATCH`] messages in one request. Entries SQS refuses are sent again
    /// once; what still fails is an error (the caller's retry resends, and deterministic command
    /// ids make a resent message a duplicate).
    pub async fn send_batch(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        let mut pending: Vec<(usize, &Outgoing)> = messages.iter().enumerate().collect();
        for _ in 0..2 {
            let entries: Vec<SendMessageBatchRequestEntry> = pending
                .iter()
                .map(|(i, m)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .message_body(&m.body)
                        .delay_seconds(m.delay_secs.min(MAX_DELAY_SECS) as i32)
                        .build()
                        .expect("an id and a body are set")
                })
                .collect();
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::from_sdk("SendMessageBatch", &e))?;
            let failed: Vec<&str> = output.failed().iter().map(|f| f.id()).collect();
            pending.retain(|(i, _)| failed.contains(&format!("m{i}").as_str()));
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(QueueError {
            operation: "SendMessageBatch",
            code: format!("{} entries refused", pending.len()),
        })
    }
}

impl CommandQueue {
    /// The queue's redrive `maxReceiveCount`, if it has a dead-letter queue.
    pub async fn redrive_max_receive_count(&self) -> Result<Option<u32>, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| QueueError::from_sdk("GetQueueAttributes", &e))?;
        let policy = output
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok());
        Ok(policy.and_then(|p| match &p["maxReceiveCount"] {
            serde_json::Value::Number(n) => n.as_u64().map(|n| n as u32),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }))
    }
}

/// 10 s after the first receive, then 20, 40, ... at most 900.
pub fn retry_delay_secs(receive_count: u32) -> u32 {
    let doublings = receive_count.saturating_sub(1).min(7);
    (FIRST_RETRY_DELAY_SECS << doublings).min(MAX_DELAY_SECS)
}

/// The longest pause between two checks of a waiting step.
pub const MAX_WAIT_DELAY_SECS: u32 = 300;

/// The pause before check `checks + 1` of a waiting step: `first`, then twice as long each
/// time, at most [`MAX_WAIT_DELAY_SECS`].
pub fn wait_delay_secs(first: u32, checks: u32) -> u32 {
    let doublings = checks.saturating_sub(1).min(8);
    first
        .saturating_mul(1 << doublings)
        .min(MAX_WAIT_DELAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_stay_within_sqs_limits() {
        let delays: Vec<_> = (1..=9).map(retry_delay_secs).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
        let waits: Vec<_> = (1..=7).map(|n| wait_delay_secs(10, n)).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(wait_delay_secs(0, 5), 0);
    }
}
