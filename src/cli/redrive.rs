//! `cdn-onboard redrive`: moves the dead-letter queue's messages back to the command queue with
//! SQS's own message move task, the one way back from `RETRIES_EXHAUSTED` (a redriven message is
//! sent anew, so its command runs again).

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;

use crate::queue::QueueError;

/// A started move task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redrive {
    pub task_handle: String,
    pub dead_letter_queue_arn: String,
    pub queue_arn: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the command queue has no dead-letter queue (no redrive policy)")]
    NoDeadLetterQueue,
}

/// Starts moving every message of `queue_url`'s dead-letter queue (from its redrive policy)
/// back to it, at most `per_second` a second when given.
pub async fn start(
    sqs: &Client,
    queue_url: &str,
    per_second: Option<i32>,
) -> Result<Redrive, RedriveError> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| QueueError::from_sdk("GetQueueAttributes", &e))?;
    let attributes = attributes.attributes().cloned().unwrap_or_default();
    let queue_arn = attributes
        .get(&QueueAttributeName::QueueArn)
        .cloned()
        .unwrap_or_default();
    let dead_letter_queue_arn = attributes
        .get(&QueueAttributeName::RedrivePolicy)
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
        .ok_or(RedriveError::NoDeadLetterQueue)?;
    let task = sqs
        .start_message_move_task()
        .source_arn(&dead_letter_queue_arn)
        .destination_arn(&queue_arn)
        .set_max_number_of_messages_per_second(per_second)
        .send()
        .await
        .map_err(|e| QueueError::from_sdk("StartMessageMoveTask", &e))?;
    Ok(Redrive {
        task_handle: task.task_handle().unwrap_or_default().to_owned(),
        dead_letter_queue_arn,
        queue_arn,
    })
}
