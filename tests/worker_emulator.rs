//! The CLI's worker draining a real queue of the local stack, as the Lambda event source mapping
//! would: batches received, the consumer run, acknowledged messages deleted.

mod support;

use std::time::Duration;

use cdn_onboard::worker::{self, WorkerOptions};
use support::stack::*;

#[tokio::test]
async fn the_worker_drains_the_queue_and_leaves_records() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let sqs = &consumer.queue.client;
    let ids: Vec<String> = (0..12).map(|_| unique_command()).collect();
    for id in &ids {
        let body = stack.command(id, "enable-log-delivery", &unique_distribution());
        sqs.send_message()
            .queue_url(&consumer.queue.url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    sqs.send_message()
        .queue_url(&consumer.queue.url)
        .message_body("not json")
        .send()
        .await
        .unwrap();

    let options = WorkerOptions {
        drain: true,
        grace: Duration::from_secs(1),
        invocation: Duration::from_secs(60),
    };
    let mut progress_lines = 0;
    let totals = worker::run(&consumer, &options, |_| progress_lines += 1)
        .await
        .unwrap();

    assert_eq!(totals.messages, 13);
    assert_eq!(totals.acknowledged, 13);
    assert_eq!(totals.retried, 0);
    assert!(totals.batches >= 2, "at most 10 messages a batch");
    assert_eq!(progress_lines, totals.batches);
    for id in &ids {
        assert_eq!(
            stack.record(stack.var("DEMO_SITE_ID"), id).await["status"],
            "succeeded",
            "{id}"
        );
    }
    let left = sqs
        .receive_message()
        .queue_url(&consumer.queue.url)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    assert!(
        left.messages().is_empty(),
        "acknowledged messages were deleted"
    );
}

#[tokio::test]
async fn drain_waits_for_delayed_messages() {
    let stack = Stack::connect().await;
    let consumer = stack.consumer().await;
    let id = unique_command();
    let body = stack.command(&id, "enable-log-delivery", &unique_distribution());
    consumer
        .queue
        .client
        .send_message()
        .queue_url(&consumer.queue.url)
        .message_body(body)
        .delay_seconds(2)
        .send()
        .await
        .unwrap();

    let options = WorkerOptions {
        drain: true,
        grace: Duration::from_millis(500),
        invocation: Duration::from_secs(60),
    };
    let totals = worker::run(&consumer, &options, |_| {}).await.unwrap();

    assert_eq!(totals.messages, 1, "the delayed message was waited for");
    assert_eq!(
        stack.record(stack.var("DEMO_SITE_ID"), &id).await["status"],
        "succeeded"
    );
}

#[tokio::test]
async fn the_configured_receive_limit_must_match_the_queue_redrive() {
    let stack = Stack::connect().await;
    let mut on_real_queue = stack.consumer().await;
    on_real_queue.queue.url = stack.var("CDN_ONBOARD_QUEUE_URL").to_owned();
    assert_eq!(
        cdn_onboard::app::redrive_mismatch(&on_real_queue).await,
        None
    );

    on_real_queue.config.max_receive_count += 1;
    let mismatch = cdn_onboard::app::redrive_mismatch(&on_real_queue)
        .await
        .unwrap();
    assert!(
        mismatch.contains("CDN_ONBOARD_MAX_RECEIVE_COUNT"),
        "{mismatch}"
    );

    let without_dlq = stack.consumer().await;
    let mismatch = cdn_onboard::app::redrive_mismatch(&without_dlq)
        .await
        .unwrap();
    assert!(mismatch.contains("no dead-letter queue"), "{mismatch}");
}
