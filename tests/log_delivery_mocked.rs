//! Log delivery against mocked CloudWatch Logs: exact requests, AWS's answers injected, and the
//! outcome each must give. Covers what the local emulator does differently from AWS
//! (cross-account destinations, paging, one source per resource, conflicts, throttling).

mod support;

use std::time::Duration;

use aws_sdk_cloudwatchlogs::operation::{
    create_delivery::CreateDeliveryOutput, delete_delivery::DeleteDeliveryOutput,
    delete_delivery_source::DeleteDeliverySourceOutput,
    describe_deliveries::DescribeDeliveriesOutput,
    describe_delivery_sources::DescribeDeliverySourcesOutput,
    get_delivery_source::GetDeliverySourceOutput, put_delivery_source::PutDeliverySourceOutput,
};
use aws_sdk_cloudwatchlogs::types::{Delivery, DeliverySource};
use aws_sdk_cloudwatchlogs::Client;
use aws_smithy_mocks::mock;
use cdn_onboard::delivery_names::{RECORD_FIELDS, SUFFIX_PATH};
use cdn_onboard::error::ErrorCode;
use cdn_onboard::log_delivery::{disable, enable, Outcome};
use support::delivery::{plan, DESTINATION, RESOURCE, SOURCE};
use support::mocks::{json_error, logs_client, RAW_AWS_TEXT};
use tokio::time::Instant;

const OLD_DESTINATION: &str =
    "arn:aws:logs:us-east-1:999988887777:delivery-destination:cdn-logs-abc123def456";

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn source(name: &str) -> DeliverySource {
    source_for(name, RESOURCE)
}

fn source_for(name: &str, resource: &str) -> DeliverySource {
    DeliverySource::builder()
        .name(name)
        .resource_arns(resource)
        .log_type("ACCESS_LOGS")
        .build()
}

fn delivery(id: &str, source: &str, destination: &str) -> Delivery {
    Delivery::builder()
        .id(id)
        .delivery_source_name(source)
        .delivery_destination_arn(destination)
        .build()
}

fn our_source_exists() -> aws_smithy_mocks::Rule {
    mock!(Client::get_delivery_source).then_output(|| {
        GetDeliverySourceOutput::builder()
            .delivery_source(source(SOURCE))
            .build()
    })
}

fn no_source() -> aws_smithy_mocks::Rule {
    mock!(Client::get_delivery_source)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"))
}

fn no_sources_listed() -> aws_smithy_mocks::Rule {
    mock!(Client::describe_delivery_sources)
        .then_output(|| DescribeDeliverySourcesOutput::builder().build())
}

fn deliveries(list: Vec<Delivery>) -> aws_smithy_mocks::Rule {
    mock!(Client::describe_deliveries).then_output(move || {
        DescribeDeliveriesOutput::builder()
            .set_deliveries(Some(list.clone()))
            .build()
    })
}

fn put_source() -> aws_smithy_mocks::Rule {
    mock!(Client::put_delivery_source)
        .match_requests(|r| {
            r.name() == Some(SOURCE)
                && r.resource_arn() == Some(RESOURCE)
                && r.log_type() == Some("ACCESS_LOGS")
        })
        .then_output(|| {
            PutDeliverySourceOutput::builder()
                .delivery_source(source(SOURCE))
                .build()
        })
}

fn create_ok() -> aws_smithy_mocks::Rule {
    mock!(Client::create_delivery)
        .match_requests(|r| {
            let fields: Vec<&str> = r.record_fields().iter().map(String::as_str).collect();
            r.delivery_source_name() == Some(SOURCE)
                && r.delivery_destination_arn() == Some(DESTINATION)
                && fields == RECORD_FIELDS
                && r.s3_delivery_configuration().and_then(|c| c.suffix_path()) == Some(SUFFIX_PATH)
        })
        .then_output(|| {
            CreateDeliveryOutput::builder()
                .delivery(delivery("dlv-new", SOURCE, DESTINATION))
                .build()
        })
}

#[tokio::test]
async fn creates_source_and_delivery_on_a_fresh_distribution() {
    let (get, list_sources, put, list, create) = (
        no_source(),
        no_sources_listed(),
        put_source(),
        deliveries(vec![]),
        create_ok(),
    );
    let logs = logs_client(&[&get, &list_sources, &put, &list, &create]);

    let report = enable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Created);
    assert_eq!(report.delivery_id.as_deref(), Some("dlv-new"));
    assert_eq!(report.delivery_source_name, SOURCE);
    assert_eq!(
        (put.num_calls(), create.num_calls()),
        (1, 1),
        "request bodies matched the rules"
    );
}

#[tokio::test]
async fn converged_delivery_found_on_a_later_page_makes_no_write() {
    let get = our_source_exists();
    let list = mock!(Client::describe_deliveries)
        .sequence()
        .output(|| {
            DescribeDeliveriesOutput::builder()
                .deliveries(delivery("dlv-other", "someone-else", DESTINATION))
                .next_token("page-2")
                .build()
        })
        .output(|| {
            DescribeDeliveriesOutput::builder()
                .deliveries(delivery("dlv-1", SOURCE, DESTINATION))
                .build()
        })
        .build();
    let (put, create) = (put_source(), create_ok());
    let logs = logs_client(&[&get, &list, &put, &create]);

    let report = enable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::AlreadyEnabled);
    assert_eq!(report.delivery_id.as_deref(), Some("dlv-1"));
    assert_eq!(list.num_calls(), 2);
    assert_eq!((put.num_calls(), create.num_calls()), (0, 0));
}

#[tokio::test]
async fn repoints_a_delivery_to_the_current_destination() {
    let get = our_source_exists();
    let list = deliveries(vec![delivery("dlv-old", SOURCE, OLD_DESTINATION)]);
    let delete = mock!(Client::delete_delivery)
        .match_requests(|r| r.id() == Some("dlv-old"))
        .then_output(|| DeleteDeliveryOutput::builder().build());
    let create = create_ok();
    let logs = logs_client(&[&get, &list, &delete, &create]);

    let report = enable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Repointed);
    assert_eq!(report.removed_delivery_ids, vec!["dlv-old".to_owned()]);
    assert_eq!(report.delivery_id.as_deref(), Some("dlv-new"));
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_source_someone_else_created_is_a_conflict_and_nothing_changes() {
    let get = no_source();
    let list_sources = mock!(Client::describe_delivery_sources)
        .sequence()
        .output(|| {
            DescribeDeliverySourcesOutput::builder()
                .delivery_sources(source_for(
                    "unrelated",
                    "arn:aws:cloudfront::111122223333:distribution/EOTHER000000",
                ))
                .next_token("t")
                .build()
        })
        .output(|| {
            DescribeDeliverySourcesOutput::builder()
                .delivery_sources(source("customer-cf-logs"))
                .build()
        })
        .build();
    let (put, create) = (put_source(), create_ok());
    let logs = logs_client(&[&get, &list_sources, &put, &create]);

    let failure = enable(&logs, &plan(), deadline()).await.unwrap_err();

    assert_eq!(failure.code, ErrorCode::Conflict);
    assert!(
        failure.message.contains("customer-cf-logs"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("must delete that delivery source"),
        "{}",
        failure.message
    );
    assert_eq!((put.num_calls(), create.num_calls()), (0, 0));
}

#[tokio::test]
async fn put_conflict_from_a_racing_foreign_source_is_a_conflict() {
    let get = no_source();
    let list_sources = mock!(Client::describe_delivery_sources)
        .sequence()
        .output(|| DescribeDeliverySourcesOutput::builder().build())
        .output(|| {
            DescribeDeliverySourcesOutput::builder()
                .delivery_sources(source("hand-made"))
                .build()
        })
        .build();
    let put = mock!(Client::put_delivery_source)
        .then_http_response(|| json_error(400, "ConflictException"));
    let create = create_ok();
    let logs = logs_client(&[&get, &list_sources, &put, &create]);

    let failure = enable(&logs, &plan(), deadline()).await.unwrap_err();

    assert_eq!(failure.code, ErrorCode::Conflict);
    assert!(failure.message.contains("hand-made"));
    assert_eq!((put.num_calls(), create.num_calls()), (1, 0));
}

#[tokio::test]
async fn a_missing_destination_is_not_provisioned() {
    let (get, list) = (our_source_exists(), deliveries(vec![]));
    let create = mock!(Client::create_delivery)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"));
    let logs = logs_client(&[&get, &list, &create]);

    let failure = enable(&logs, &plan(), deadline()).await.unwrap_err();

    assert_eq!(failure.code, ErrorCode::NotProvisioned);
    assert!(failure.message.contains("cdn-logs-abc123def456"));
    assert!(!failure.retryable());
}

#[tokio::test]
async fn create_race_with_another_enable_is_already_enabled() {
    let get = our_source_exists();
    let list = mock!(Client::describe_deliveries)
        .sequence()
        .output(|| DescribeDeliveriesOutput::builder().build())
        .output(|| {
            DescribeDeliveriesOutput::builder()
                .deliveries(delivery("dlv-race", SOURCE, DESTINATION))
                .build()
        })
        .build();
    let create =
        mock!(Client::create_delivery).then_http_response(|| json_error(400, "ConflictException"));
    let logs = logs_client(&[&get, &list, &create]);

    let report = enable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::AlreadyEnabled);
    assert_eq!(report.delivery_id.as_deref(), Some("dlv-race"));
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_succeeds() {
    let (get, list) = (our_source_exists(), deliveries(vec![]));
    let create = mock!(Client::create_delivery)
        .sequence()
        .http_response(|| json_error(400, "ThrottlingException"))
        .times(2)
        .output(|| {
            CreateDeliveryOutput::builder()
                .delivery(delivery("dlv-after-throttle", SOURCE, DESTINATION))
                .build()
        })
        .build();
    let logs = logs_client(&[&get, &list, &create]);

    let report = enable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Created);
    assert_eq!(create.num_calls(), 3);
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_retryable() {
    let (get, list) = (our_source_exists(), deliveries(vec![]));
    let create = mock!(Client::create_delivery)
        .sequence()
        .http_response(|| json_error(400, "ThrottlingException"))
        .repeatedly()
        .build();
    let logs = logs_client(&[&get, &list, &create]);

    let failure = enable(&logs, &plan(), deadline()).await.unwrap_err();

    assert_eq!(failure.code, ErrorCode::Throttled);
    assert!(failure.retryable());
    assert_eq!(create.num_calls(), 5);
}

#[tokio::test]
async fn access_denied_names_the_missing_action_and_hides_aws_text() {
    let (get, list_sources) = (no_source(), no_sources_listed());
    let put = mock!(Client::put_delivery_source)
        .then_http_response(|| json_error(400, "AccessDeniedException"));
    let logs = logs_client(&[&get, &list_sources, &put]);

    let failure = enable(&logs, &plan(), deadline()).await.unwrap_err();

    assert_eq!(failure.code, ErrorCode::PermissionMissing);
    assert!(failure.message.contains("logs:PutDeliverySource"));
    assert!(
        !failure.message.contains("SENTINEL"),
        "raw AWS text leaked: {}",
        failure.message
    );
    assert!(!failure.message.contains(RAW_AWS_TEXT));
}

#[tokio::test]
async fn disable_removes_our_delivery_and_source() {
    let get = our_source_exists();
    let list = deliveries(vec![delivery("dlv-1", SOURCE, DESTINATION)]);
    let delete = mock!(Client::delete_delivery)
        .match_requests(|r| r.id() == Some("dlv-1"))
        .then_output(|| DeleteDeliveryOutput::builder().build());
    let delete_source = mock!(Client::delete_delivery_source)
        .match_requests(|r| r.name() == Some(SOURCE))
        .then_output(|| DeleteDeliverySourceOutput::builder().build());
    let logs = logs_client(&[&get, &list, &delete, &delete_source]);

    let report = disable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Disabled);
    assert_eq!(report.removed_delivery_ids, vec!["dlv-1".to_owned()]);
    assert_eq!((delete.num_calls(), delete_source.num_calls()), (1, 1));
}

#[tokio::test]
async fn disable_never_touches_what_it_did_not_create() {
    let get = our_source_exists();
    let customer_destination =
        "arn:aws:logs:us-east-1:111122223333:delivery-destination:customer-own";
    let list = deliveries(vec![
        delivery("dlv-ours", SOURCE, DESTINATION),
        delivery("dlv-customer", SOURCE, customer_destination),
        delivery("dlv-elsewhere", "customer-source", DESTINATION),
    ]);
    let delete = mock!(Client::delete_delivery)
        .match_requests(|r| r.id() == Some("dlv-ours"))
        .then_output(|| DeleteDeliveryOutput::builder().build());
    let delete_source = mock!(Client::delete_delivery_source)
        .then_output(|| DeleteDeliverySourceOutput::builder().build());
    let logs = logs_client(&[&get, &list, &delete, &delete_source]);

    let report = disable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Disabled);
    assert!(report.source_kept);
    assert_eq!(delete.num_calls(), 1);
    assert_eq!(
        delete_source.num_calls(),
        0,
        "the source still feeds the customer's own delivery"
    );
}

#[tokio::test]
async fn disable_with_nothing_there_is_not_enabled() {
    let (get, list) = (no_source(), deliveries(vec![]));
    let delete_source = mock!(Client::delete_delivery_source)
        .then_output(|| DeleteDeliverySourceOutput::builder().build());
    let logs = logs_client(&[&get, &list, &delete_source]);

    let report = disable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::NotEnabled);
    assert_eq!(delete_source.num_calls(), 0);
}

#[tokio::test]
async fn being_updated_conflicts_on_delete_are_retried() {
    let get = our_source_exists();
    let list = deliveries(vec![delivery("dlv-1", SOURCE, DESTINATION)]);
    let delete = mock!(Client::delete_delivery)
        .sequence()
        .http_response(|| json_error(400, "ConflictException"))
        .output(|| DeleteDeliveryOutput::builder().build())
        .build();
    let delete_source = mock!(Client::delete_delivery_source)
        .then_output(|| DeleteDeliverySourceOutput::builder().build());
    let logs = logs_client(&[&get, &list, &delete, &delete_source]);

    let report = disable(&logs, &plan(), deadline()).await.unwrap();

    assert_eq!(report.outcome, Outcome::Disabled);
    assert_eq!(delete.num_calls(), 2);
}
