//! What the local emulator cannot show of rescans: a log delivery's record fields and path read
//! in full (moto has no UpdateDeliveryConfiguration), a destination changed behind our back, a
//! source taken by someone else; and routing drift found and healed on the stateful mocked
//! customer account, through the whole consumer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::operation::{
    create_delivery::CreateDeliveryOutput, delete_delivery::DeleteDeliveryOutput,
    describe_deliveries::DescribeDeliveriesOutput,
    describe_delivery_sources::DescribeDeliverySourcesOutput, get_delivery::GetDeliveryOutput,
    get_delivery_source::GetDeliverySourceOutput,
    update_delivery_configuration::UpdateDeliveryConfigurationOutput,
};
use aws_sdk_cloudwatchlogs::types::{Delivery, DeliverySource, S3DeliveryConfiguration};
use aws_sdk_cloudwatchlogs::Client;
use aws_smithy_mocks::mock;
use cdn_onboard::delivery_names::{RECORD_FIELDS, SUFFIX_PATH};
use cdn_onboard::log_delivery_check::{check, heal};
use support::bodies::{deploy_step, site_rescan};
use support::customer::Customer;
use support::delivery::{plan, DESTINATION, RESOURCE, SOURCE};
use support::mocks::{json_error, logs_client};
use support::routing::CannedProber;
use support::stack::*;
use tokio::time::Instant;

const OLD_DESTINATION: &str =
    "arn:aws:logs:us-east-1:444455556666:delivery-destination:cdn-logs-oldname";

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn source(name: &str) -> DeliverySource {
    DeliverySource::builder()
        .name(name)
        .resource_arns(RESOURCE)
        .log_type("ACCESS_LOGS")
        .build()
}

fn full_delivery(destination: &str, fields: &[&str], suffix: &str) -> Delivery {
    Delivery::builder()
        .id("dlv-1")
        .delivery_source_name(SOURCE)
        .delivery_destination_arn(destination)
        .set_record_fields(Some(fields.iter().map(|f| f.to_string()).collect()))
        .s3_delivery_configuration(
            S3DeliveryConfiguration::builder()
                .suffix_path(suffix)
                .build(),
        )
        .build()
}

fn our_source() -> aws_smithy_mocks::Rule {
    mock!(Client::get_delivery_source).then_output(|| {
        GetDeliverySourceOutput::builder()
            .delivery_source(source(SOURCE))
            .build()
    })
}

fn get_delivery(delivery: Delivery) -> aws_smithy_mocks::Rule {
    mock!(Client::get_delivery)
        .match_requests(|r| r.id() == Some("dlv-1"))
        .then_output(move || {
            GetDeliveryOutput::builder()
                .delivery(delivery.clone())
                .build()
        })
}

#[tokio::test]
async fn a_delivery_as_it_should_be_has_no_drift() {
    let (source, get) = (
        our_source(),
        get_delivery(full_delivery(DESTINATION, &RECORD_FIELDS, SUFFIX_PATH)),
    );
    let logs = logs_client(&[&source, &get]);
    let drift = check(&logs, &plan(), Some("dlv-1"), deadline())
        .await
        .unwrap();
    assert!(drift.is_empty(), "{drift:?}");
    assert_eq!(get.num_calls(), 1, "read by its recorded id");
}

#[tokio::test]
async fn a_changed_destination_is_drift_and_heal_repoints_it() {
    let (source, get) = (
        our_source(),
        get_delivery(full_delivery(OLD_DESTINATION, &RECORD_FIELDS, SUFFIX_PATH)),
    );
    let listed = mock!(Client::describe_deliveries).then_output(|| {
        DescribeDeliveriesOutput::builder()
            .deliveries(full_delivery(OLD_DESTINATION, &RECORD_FIELDS, SUFFIX_PATH))
            .build()
    });
    let delete = mock!(Client::delete_delivery)
        .match_requests(|r| r.id() == Some("dlv-1"))
        .then_output(|| DeleteDeliveryOutput::builder().build());
    let create = mock!(Client::create_delivery)
        .match_requests(|r| r.delivery_destination_arn() == Some(DESTINATION))
        .then_output(|| {
            CreateDeliveryOutput::builder()
                .delivery(
                    full_delivery(DESTINATION, &RECORD_FIELDS, SUFFIX_PATH).to_builder_id("dlv-2"),
                )
                .build()
        });
    let logs = logs_client(&[&source, &get, &listed, &delete, &create]);

    let drift = check(&logs, &plan(), Some("dlv-1"), deadline())
        .await
        .unwrap();
    assert_eq!(
        drift.iter().map(|d| d.what).collect::<Vec<_>>(),
        ["destination-changed"]
    );
    assert!(drift[0].healable);

    let healed = heal(&logs, &plan(), &drift, deadline()).await.unwrap();
    assert_eq!(healed.report.outcome.as_str(), "repointed");
    assert_eq!(healed.report.delivery_id.as_deref(), Some("dlv-2"));
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
    assert!(!healed.reconfigured);
}

trait WithId {
    fn to_builder_id(self, id: &str) -> Delivery;
}

impl WithId for Delivery {
    fn to_builder_id(self, id: &str) -> Delivery {
        Delivery::builder()
            .id(id)
            .set_delivery_source_name(self.delivery_source_name)
            .set_delivery_destination_arn(self.delivery_destination_arn)
            .set_record_fields(self.record_fields)
            .set_s3_delivery_configuration(self.s3_delivery_configuration)
            .build()
    }
}

#[tokio::test]
async fn changed_record_fields_and_path_are_set_back_in_place() {
    let (source, get) = (
        our_source(),
        get_delivery(full_delivery(DESTINATION, &["date", "time"], "/{yyyy}")),
    );
    let listed = mock!(Client::describe_deliveries).then_output(|| {
        DescribeDeliveriesOutput::builder()
            .deliveries(full_delivery(DESTINATION, &["date", "time"], "/{yyyy}"))
            .build()
    });
    let update = mock!(Client::update_delivery_configuration)
        .match_requests(|r| {
            let fields: Vec<&str> = r.record_fields().iter().map(String::as_str).collect();
            r.id() == Some("dlv-1")
                && fields == RECORD_FIELDS
                && r.s3_delivery_configuration().and_then(|c| c.suffix_path()) == Some(SUFFIX_PATH)
        })
        .then_output(|| UpdateDeliveryConfigurationOutput::builder().build());
    let create =
        mock!(Client::create_delivery).then_http_response(|| json_error(400, "ConflictException"));
    let logs = logs_client(&[&source, &get, &listed, &update, &create]);

    let drift = check(&logs, &plan(), Some("dlv-1"), deadline())
        .await
        .unwrap();
    let kinds: Vec<_> = drift.iter().map(|d| d.what).collect();
    assert_eq!(kinds, ["record-fields-changed", "suffix-path-changed"]);

    let healed = heal(&logs, &plan(), &drift, deadline()).await.unwrap();
    assert_eq!(
        healed.report.outcome.as_str(),
        "already-enabled",
        "the delivery stays"
    );
    assert!(healed.reconfigured);
    assert_eq!(
        update.num_calls(),
        1,
        "the request carried the 12 fields and the hourly path"
    );
    assert_eq!(create.num_calls(), 0);
}

/// Where the set-back in place is refused (a destination policy that does not admit it), the
/// heal deletes the delivery and makes it anew with the fixed configuration.
#[tokio::test]
async fn a_refused_set_back_recreates_the_delivery() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let drifted = full_delivery(DESTINATION, &["date", "time"], "/{yyyy}");
    let (source, get) = (our_source(), get_delivery(drifted.clone()));
    let deleted = Arc::new(AtomicBool::new(false));
    let gone = deleted.clone();
    let listed = mock!(Client::describe_deliveries).then_compute_response(move |_| {
        let mut page = DescribeDeliveriesOutput::builder();
        if !gone.load(Ordering::SeqCst) {
            page = page.deliveries(drifted.clone());
        }
        aws_smithy_mocks::MockResponse::Output(page.build())
    });
    let update = mock!(Client::update_delivery_configuration)
        .then_http_response(|| json_error(400, "AccessDeniedException"));
    let flag = deleted.clone();
    let delete = mock!(Client::delete_delivery)
        .match_requests(|r| r.id() == Some("dlv-1"))
        .then_compute_response(move |_| {
            flag.store(true, Ordering::SeqCst);
            aws_smithy_mocks::MockResponse::Output(DeleteDeliveryOutput::builder().build())
        });
    let create = mock!(Client::create_delivery)
        .match_requests(|r| {
            let fields: Vec<&str> = r.record_fields().iter().map(String::as_str).collect();
            r.delivery_destination_arn() == Some(DESTINATION) && fields == RECORD_FIELDS
        })
        .then_output(|| {
            CreateDeliveryOutput::builder()
                .delivery(
                    full_delivery(DESTINATION, &RECORD_FIELDS, SUFFIX_PATH).to_builder_id("dlv-2"),
                )
                .build()
        });
    let logs = logs_client(&[&source, &get, &listed, &update, &delete, &create]);

    let drift = check(&logs, &plan(), Some("dlv-1"), deadline())
        .await
        .unwrap();
    let healed = heal(&logs, &plan(), &drift, deadline()).await.unwrap();

    assert_eq!(update.num_calls(), 1, "tried in place first");
    assert_eq!((delete.num_calls(), create.num_calls()), (1, 1));
    assert_eq!(healed.report.delivery_id.as_deref(), Some("dlv-2"));
    assert!(healed.reconfigured);
}

#[tokio::test]
async fn a_source_taken_by_someone_else_is_drift_that_is_not_healed() {
    let get_source = mock!(Client::get_delivery_source)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"));
    let sources = mock!(Client::describe_delivery_sources).then_output(|| {
        DescribeDeliverySourcesOutput::builder()
            .delivery_sources(source("customer-cf-logs"))
            .build()
    });
    let none = mock!(Client::get_delivery)
        .then_http_response(|| json_error(400, "ResourceNotFoundException"));
    let listed = mock!(Client::describe_deliveries)
        .then_output(|| DescribeDeliveriesOutput::builder().build());
    let logs = logs_client(&[&get_source, &sources, &none, &listed]);

    let drift = check(&logs, &plan(), Some("dlv-1"), deadline())
        .await
        .unwrap();
    let foreign = drift
        .iter()
        .find(|d| d.what == "source-foreign")
        .expect("{drift:?}");
    assert!(!foreign.healable);
    assert!(
        foreign.detail.contains("customer-cf-logs"),
        "{}",
        foreign.detail
    );
}

// --- routing rescans on the mocked customer account -------------------------------------------

async fn routing_check(stack: &Stack, site: &str) -> serde_json::Value {
    cdn_onboard::cli::status::site(&stack.table(), site)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find(|r| r["commandId"].as_str().unwrap().ends_with(".rt"))
        .expect("a routing target check")
}

#[tokio::test]
async fn routing_drift_is_found_reported_and_healed() {
    let stack = Stack::connect().await;
    let distribution = unique_distribution();
    let customer = Customer::fresh_as(&distribution);
    let mut consumer = stack
        .consumer_with_customer(&customer, Arc::new(CannedProber::passing()))
        .await;
    // Each rescan here checks again at once.
    consumer.config.rescan_min_interval = Duration::ZERO;
    let site = format!("site-{}", unique_suffix());
    stack
        .run_to_end(
            &consumer,
            &deploy_step(&stack, &site, &unique_command(), &distribution, "all").to_string(),
        )
        .await;

    // Healthy: a check makes no write.
    customer.clear_writes();
    let healthy = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &healthy, true))
        .await;
    assert_eq!(routing_check(&stack, &site).await["outcome"], "healthy");
    assert!(customer.writes().is_empty(), "{:?}", customer.writes());

    // Someone removes our origin in the console.
    {
        let mut state = customer.state();
        let origins = state.config.origins.as_mut().unwrap();
        origins.items.retain(|o| o.id != "EdgeOptimize_Origin");
        origins.quantity = origins.items.len() as i32;
    }
    let reported = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &reported, false))
        .await;
    let check = routing_check(&stack, &site).await;
    assert_eq!(check["outcome"], "drifted", "{check}");
    assert_eq!(check["result"]["drift"][0]["step"], "origin");
    assert!(customer.writes().is_empty(), "heal: false changes nothing");

    let healed = unique_command();
    stack
        .run_to_end(&consumer, &site_rescan(&stack, &site, &healed, true))
        .await;
    let check = routing_check(&stack, &site).await;
    assert_eq!(check["outcome"], "healed", "{check}");
    assert_eq!(
        customer.writes(),
        ["cloudfront:UpdateDistribution"],
        "exactly the origin put back"
    );
    let target = cdn_onboard::cli::status::target(
        &stack.table(),
        stack.var("DEMO_ACCOUNT_ID"),
        &distribution,
    )
    .await
    .unwrap()
    .into_iter()
    .find(|t| t["sk"] == "ROUTING")
    .unwrap();
    assert_eq!(target["checkStatus"], "healed", "{target}");
    assert_eq!(target["lastHeal"]["repaired"][0], "origin");
    let record = stack.record(&site, &healed).await;
    assert_eq!(record["counts"]["healed"], 1, "{record}");
}
