//! `cdn-onboard redrive` against mocked SQS: the local emulator has no message move tasks, so
//! the request StartMessageMoveTask receives is checked here.

mod support;

use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
use aws_sdk_sqs::operation::start_message_move_task::StartMessageMoveTaskOutput;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use aws_smithy_mocks::mock;
use cdn_onboard::cli::redrive::{self, RedriveError};
use support::mocks::{json_error, sqs_client, RAW_AWS_TEXT};

const QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/cdn-onboard-commands";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:cdn-onboard-commands";
const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:cdn-onboard-commands-dlq";

fn attributes(redrive_policy: Option<&str>) -> GetQueueAttributesOutput {
    let mut output =
        GetQueueAttributesOutput::builder().attributes(QueueAttributeName::QueueArn, QUEUE_ARN);
    if let Some(policy) = redrive_policy {
        output = output.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    output.build()
}

#[tokio::test]
async fn moves_the_dead_letter_queue_back_to_the_command_queue() {
    let policy = format!(r#"{{"deadLetterTargetArn":"{DLQ_ARN}","maxReceiveCount":"5"}}"#);
    let read = mock!(Client::get_queue_attributes)
        .match_requests(|r| r.queue_url() == Some(QUEUE_URL))
        .then_output(move || attributes(Some(&policy)));
    let start = mock!(Client::start_message_move_task)
        .match_requests(|r| {
            r.source_arn() == Some(DLQ_ARN)
                && r.destination_arn() == Some(QUEUE_ARN)
                && r.max_number_of_messages_per_second() == Some(10)
        })
        .then_output(|| {
            StartMessageMoveTaskOutput::builder()
                .task_handle("task-1")
                .build()
        });

    let started = redrive::start(&sqs_client(&[&read, &start]), QUEUE_URL, Some(10))
        .await
        .unwrap();

    assert_eq!(
        start.num_calls(),
        1,
        "the move task is started from the DLQ to the queue"
    );
    assert_eq!(started.task_handle, "task-1");
    assert_eq!(started.dead_letter_queue_arn, DLQ_ARN);
    assert_eq!(started.queue_arn, QUEUE_ARN);
}

#[tokio::test]
async fn a_queue_without_a_redrive_policy_starts_nothing() {
    let read = mock!(Client::get_queue_attributes).then_output(|| attributes(None));
    let start = mock!(Client::start_message_move_task)
        .then_output(|| StartMessageMoveTaskOutput::builder().build());

    let error = redrive::start(&sqs_client(&[&read, &start]), QUEUE_URL, None)
        .await
        .unwrap_err();

    assert!(matches!(error, RedriveError::NoDeadLetterQueue), "{error}");
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_refused_move_names_the_code_and_not_the_aws_text() {
    let policy = format!(r#"{{"deadLetterTargetArn":"{DLQ_ARN}","maxReceiveCount":"5"}}"#);
    let read = mock!(Client::get_queue_attributes).then_output(move || attributes(Some(&policy)));
    // SQS refuses a second task while one is running on the same source.
    let start = mock!(Client::start_message_move_task)
        .then_http_response(|| json_error(400, "UnsupportedOperation"));

    let error = redrive::start(&sqs_client(&[&read, &start]), QUEUE_URL, None)
        .await
        .unwrap_err()
        .to_string();

    assert!(
        error.contains("StartMessageMoveTask") && error.contains("UnsupportedOperation"),
        "{error}"
    );
    assert!(!error.contains(RAW_AWS_TEXT), "{error}");
}
