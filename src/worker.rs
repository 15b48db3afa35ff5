//! The long-polling worker: what the Lambda event source mapping does, for local runs and for
//! teams that run containers. It receives batches of up to 10, runs the same consumer, deletes
//! what was acknowledged and leaves what failed for SQS to deliver again.

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};

use crate::consumer::Consumer;
use crate::queue::QueueError;

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Stop once the queue, delayed and in-flight messages included, stays empty for `grace`.
    pub drain: bool,
    pub grace: Duration,
    /// The deadline each batch gets, like a Lambda function's timeout.
    pub invocation: Duration,
}

/// Counts shown as progress and at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub batches: u64,
    pub messages: u64,
    pub acknowledged: u64,
    pub retried: u64,
}

/// One handled batch, for progress lines.
#[derive(Clone, Copy, Debug)]
pub struct BatchDone {
    pub messages: usize,
    pub retried: usize,
    pub totals: Totals,
}

/// Longest long-poll SQS allows.
const MAX_WAIT_SECS: i32 = 20;
/// Long-poll while draining: short, so emptiness is noticed soon.
const DRAIN_WAIT_SECS: i32 = 1;

pub async fn run(
    consumer: &Consumer,
    options: &WorkerOptions,
    mut progress: impl FnMut(&BatchDone),
) -> Result<Totals, QueueError> {
    let mut totals = Totals::default();
    let mut empty_since: Option<Instant> = None;
    loop {
        let messages = receive(consumer, options).await?;
        if messages.is_empty() {
            if !options.drain {
                continue;
            }
            if queue_holds_messages(consumer).await? {
                empty_since = None;
                continue;
            }
            let since = *empty_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= options.grace {
                return Ok(totals);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        empty_since = None;

        let received: Vec<SqsMessage> = messages.iter().map(to_event_record).collect();
        let mut event = SqsEvent::default();
        event.records = received;
        let response = consumer
            .handle(event, SystemTime::now() + options.invocation)
            .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        delete_acknowledged(consumer, &messages, &failed).await?;

        totals.batches += 1;
        totals.messages += messages.len() as u64;
        totals.retried += failed.len() as u64;
        totals.acknowledged += (messages.len() - failed.len()) as u64;
        progress(&BatchDone {
            messages: messages.len(),
            retried: failed.len(),
            totals,
        });
    }
}

async fn receive(consumer: &Consumer, options: &WorkerOptions) -> Result<Vec<Message>, QueueError> {
    let output = consumer
        .queue
        .client
        .receive_message()
        .queue_url(&consumer.queue.url)
        .max_number_of_messages(10)
        .wait_time_seconds(if options.drain {
            DRAIN_WAIT_SECS
        } else {
            MAX_WAIT_SECS
        })
        .visibility_timeout((options.invocation.as_secs() + 30) as i32)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(|e| QueueError::from_sdk("ReceiveMessage", &e))?;
    Ok(output.messages.unwrap_or_default())
}

/// Whether anything is still on its way: visible, in flight or delayed.
async fn queue_holds_messages(consumer: &Consumer) -> Result<bool, QueueError> {
    let output = consumer
        .queue
        .client
        .get_queue_attributes()
        .queue_url(&consumer.queue.url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| QueueError::from_sdk("GetQueueAttributes", &e))?;
    let pending = output
        .attributes()
        .map(|attributes| {
            attributes
                .values()
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
        })
        .unwrap_or(0);
    Ok(pending > 0)
}

async fn delete_acknowledged(
    consumer: &Consumer,
    messages: &[Message],
    failed: &[&str],
) -> Result<(), QueueError> {
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.message_id().is_some_and(|id| failed.contains(&id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let output = consumer
        .queue
        .client
        .delete_message_batch()
        .queue_url(&consumer.queue.url)
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| QueueError::from_sdk("DeleteMessageBatch", &e))?;
    for failure in output.failed() {
        tracing::warn!(entry = failure.id(), code = failure.code(), "an acknowledged message could not be deleted; it will be delivered again and replayed from its record");
    }
    Ok(())
}

/// The SQS message as the Lambda event source mapping would hand it over.
pub fn to_event_record(message: &Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = message.body().map(str::to_owned);
    record.md5_of_body = message.md5_of_body().map(str::to_owned);
    record.event_source = Some("aws:sqs".to_owned());
    if let Some(attributes) = message.attributes() {
        record.attributes = attributes
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
            .collect();
    }
    if let Some(attributes) = message.message_attributes() {
        record.message_attributes = attributes
            .iter()
            .map(|(name, value)| {
                let mut attribute = SqsMessageAttribute::default();
                attribute.string_value = value.string_value().map(str::to_owned);
                attribute.data_type = Some(value.data_type().to_owned());
                (name.clone(), attribute)
            })
            .collect();
    }
    record
}
