//! Enable and disable one distribution's log delivery in the customer's account, through
//! CloudWatch Logs vended delivery (CloudFront logging v2).
//!
//! Both converge: they read what exists, change only what differs, and touch only the delivery
//! source and deliveries this service created (names from [`DeliveryPlan`]). Every list call is
//! paginated; throttling and "resource is being updated" conflicts are retried with backoff.

use std::future::Future;

use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::{Delivery, DeliverySource, S3DeliveryConfiguration};
use aws_sdk_cloudwatchlogs::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde::Serialize;
use tokio::time::Instant;

use crate::delivery_names::{DeliveryPlan, LOG_TYPE, RECORD_FIELDS, SUFFIX_PATH};
use crate::error::{classify, AwsFault, ErrorCode, Failure};
use crate::retry::{aws_call as call, aws_call_retrying, is_transient, Backoff};

/// DescribeDeliveries and DescribeDeliverySources stop after this many pages.
pub const MAX_LIST_PAGES: usize = 50;
/// Tag put on what this service creates, so the customer can tell it apart.
/// The one tag this service puts on what it creates.
pub const MANAGED_BY_TAG_KEY: &str = "managed-by";
const MANAGED_BY_TAG: (&str, &str) = (MANAGED_BY_TAG_KEY, "cdn-onboard");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Created,
    AlreadyEnabled,
    Repointed,
    Disabled,
    NotEnabled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::AlreadyEnabled => "already-enabled",
            Self::Repointed => "repointed",
            Self::Disabled => "disabled",
            Self::NotEnabled => "not-enabled",
        }
    }
}

/// What enable or disable found and did; it becomes the command record's `result`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReport {
    pub outcome: Outcome,
    pub delivery_source_name: String,
    pub delivery_destination_arn: String,
    /// The delivery now in place (enable). `None` only when AWS has not listed a delivery
    /// another request created yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// Deliveries of ours that were removed: repointed or disabled.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_delivery_ids: Vec<String>,
    /// Disable left the source because a delivery we did not create still uses it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub source_kept: bool,
}

/// Forwards the distribution's access logs to the tenant's destination.
pub async fn enable(
    logs: &Client,
    plan: &DeliveryPlan,
    deadline: Instant,
) -> Result<DeliveryReport, Failure> {
    ensure_source(logs, plan, deadline).await?;

    let deliveries = list_deliveries_from(logs, &plan.source_name, deadline).await?;
    if let Some(existing) = deliveries
        .iter()
        .find(|d| d.delivery_destination_arn() == Some(plan.destination_arn.as_str()))
    {
        return Ok(report(
            plan,
            Outcome::AlreadyEnabled,
            existing.id(),
            Vec::new(),
        ));
    }

    // Ours, but to another destination (the tenant's destination was renamed or moved): a
    // source keeps one delivery per destination type, so the old one goes first.
    let mut removed = Vec::new();
    for stale in deliveries.iter().filter(|d| is_ours(plan, d)) {
        if let Some(id) = stale.id() {
            delete_delivery(logs, id, deadline).await?;
            removed.push(id.to_owned());
        }
    }
    let outcome = if removed.is_empty() {
        Outcome::Created
    } else {
        Outcome::Repointed
    };

    match create_delivery(logs, plan, deadline).await? {
        Created::New(id) => Ok(report(plan, outcome, id.as_deref(), removed)),
        Created::ByAnotherRequest(id) => Ok(report(
            plan,
            Outcome::AlreadyEnabled,
            id.as_deref(),
            removed,
        )),
    }
}

/// Removes our deliveries and our source for the distribution; never anything we did not create.
pub async fn disable(
    logs: &Client,
    plan: &DeliveryPlan,
    deadline: Instant,
) -> Result<DeliveryReport, Failure> {
    let source = get_source(logs, &plan.source_name, deadline).await?;
    let deliveries = list_deliveries_from(logs, &plan.source_name, deadline).await?;

    let mut removed = Vec::new();
    for delivery in deliveries.iter().filter(|d| is_ours(plan, d)) {
        if let Some(id) = delivery.id() {
            delete_delivery(logs, id, deadline).await?;
            removed.push(id.to_owned());
        }
    }

    let foreign_deliveries = deliveries.iter().any(|d| !is_ours(plan, d));
    let source_is_ours = source.as_ref().is_some_and(|s| serves(s, plan));
    let mut source_kept = false;
    if source_is_ours && foreign_deliveries {
        source_kept = true;
        tracing::warn!(source = %plan.source_name, "kept the delivery source: a delivery we did not create uses it");
    } else if source_is_ours {
        delete_source(logs, &plan.source_name, deadline).await?;
    }

    let source_deleted = source_is_ours && !source_kept;
    let outcome = if removed.is_empty() && !source_deleted {
        Outcome::NotEnabled
    } else {
        Outcome::Disabled
    };
    let mut report = report(plan, outcome, None, removed);
    report.source_kept = source_kept;
    Ok(report)
}

fn report(
    plan: &DeliveryPlan,
    outcome: Outcome,
    delivery_id: Option<&str>,
    removed: Vec<String>,
) -> DeliveryReport {
    DeliveryReport {
        outcome,
        delivery_source_name: plan.source_name.clone(),
        delivery_destination_arn: plan.destination_arn.clone(),
        delivery_id: delivery_id.map(str::to_owned),
        removed_delivery_ids: removed,
        source_kept: false,
    }
}

/// A delivery from our source to one of the tenants' destinations.
fn is_ours(plan: &DeliveryPlan, delivery: &Delivery) -> bool {
    delivery.delivery_source_name() == Some(plan.source_name.as_str())
        && delivery
            .delivery_destination_arn()
            .is_some_and(|arn| plan.is_service_destination(arn))
}

fn serves(source: &DeliverySource, plan: &DeliveryPlan) -> bool {
    source.resource_arns().contains(&plan.resource_arn)
}

/// Makes sure our delivery source exists for the distribution, refusing when the distribution is
/// already bound to a source someone else created.
async fn ensure_source(
    logs: &Client,
    plan: &DeliveryPlan,
    deadline: Instant,
) -> Result<(), Failure> {
    match get_source(logs, &plan.source_name, deadline).await? {
        Some(source) if serves(&source, plan) && source.log_type() == Some(LOG_TYPE) => return Ok(()),
        Some(_) => {
            return Err(Failure::new(
                ErrorCode::Conflict,
                format!(
                    "the delivery source {} exists but is not bound to this distribution's access logs; \
                     the customer must delete that delivery source so it can be created again",
                    plan.source_name
                ),
            ))
        }
        None => {}
    }
    if let Some(foreign) = find_foreign_source(logs, plan, deadline).await? {
        return Err(foreign_source_conflict(plan, &foreign));
    }

    let result = call(deadline, || {
        logs.put_delivery_source()
            .name(&plan.source_name)
            .resource_arn(&plan.resource_arn)
            .log_type(LOG_TYPE)
            .tags(MANAGED_BY_TAG.0, MANAGED_BY_TAG.1)
            .send()
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        // AWS answers a conflict when the distribution is bound to a different source; a source
        // created by someone else between our check and our write lands here too.
        Err(fault) if fault.is("ConflictException") => match find_foreign_source(logs, plan, deadline).await? {
            Some(foreign) => Err(foreign_source_conflict(plan, &foreign)),
            None => Err(Failure::new(
                ErrorCode::Unavailable,
                "the distribution's log delivery is being updated by another request; the command will be retried",
            )),
        },
        Err(fault) => Err(classify(&fault, "logs:PutDeliverySource")),
    }
}

fn foreign_source_conflict(plan: &DeliveryPlan, foreign: &str) -> Failure {
    Failure::new(
        ErrorCode::Conflict,
        format!(
            "the distribution is already registered to the delivery source {foreign}, which this \
             service did not create; the customer must delete that delivery source (and its \
             deliveries) in CloudWatch Logs, then send the command again. Nothing was changed. \
             Expected source: {}",
            plan.source_name
        ),
    )
}

pub(crate) async fn get_source(
    logs: &Client,
    name: &str,
    deadline: Instant,
) -> Result<Option<DeliverySource>, Failure> {
    match call(deadline, || logs.get_delivery_source().name(name).send()).await {
        Ok(output) => Ok(output.delivery_source),
        Err(fault) if fault.is("ResourceNotFoundException") => Ok(None),
        Err(fault) => Err(classify(&fault, "logs:GetDeliverySource")),
    }
}

/// The name of a delivery source, not ours, that is bound to the distribution.
pub(crate) async fn find_foreign_source(
    logs: &Client,
    plan: &DeliveryPlan,
    deadline: Instant,
) -> Result<Option<String>, Failure> {
    let mut next_token = None;
    for _ in 0..MAX_LIST_PAGES {
        let page = call(deadline, || {
            logs.describe_delivery_sources()
                .set_next_token(next_token.clone())
                .send()
        })
        .await
        .map_err(|fault| classify(&fault, "logs:DescribeDeliverySources"))?;
        let foreign = page
            .delivery_sources()
            .iter()
            .find(|s| serves(s, plan) && s.name() != Some(plan.source_name.as_str()));
        if let Some(source) = foreign {
            return Ok(Some(source.name().unwrap_or("(unnamed)").to_owned()));
        }
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    Ok(None)
}

/// Every delivery whose source is `source_name`, across all pages.
pub(crate) async fn list_deliveries_from(
    logs: &Client,
    source_name: &str,
    deadline: Instant,
) -> Result<Vec<Delivery>, Failure> {
    let mut found = Vec::new();
    let mut next_token = None;
    for _ in 0..MAX_LIST_PAGES {
        let page = call(deadline, || {
            logs.describe_deliveries()
                .set_next_token(next_token.clone())
                .send()
        })
        .await
        .map_err(|fault| classify(&fault, "logs:DescribeDeliveries"))?;
        found.extend(
            page.deliveries()
                .iter()
                .filter(|d| d.delivery_source_name() == Some(source_name))
                .cloned(),
        );
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    Ok(found)
}

enum Created {
    New(Option<String>),
    /// A concurrent request created the same delivery first.
    ByAnotherRequest(Option<String>),
}

async fn create_delivery(
    logs: &Client,
    plan: &DeliveryPlan,
    deadline: Instant,
) -> Result<Created, Failure> {
    let s3 = S3DeliveryConfiguration::builder()
        .suffix_path(SUFFIX_PATH)
        .enable_hive_compatible_path(false)
        .build();
    for attempt in 1..=Backoff::STANDARD.max_attempts {
        let result = call(deadline, || {
            logs.create_delivery()
                .delivery_source_name(&plan.source_name)
                .delivery_destination_arn(&plan.destination_arn)
                .set_record_fields(Some(RECORD_FIELDS.iter().map(|f| f.to_string()).collect()))
                .s3_delivery_configuration(s3.clone())
                .tags(MANAGED_BY_TAG.0, MANAGED_BY_TAG.1)
                .send()
        })
        .await;
        let fault = match result {
            Ok(output) => {
                return Ok(Created::New(
                    output.delivery().and_then(|d| d.id()).map(str::to_owned),
                ))
            }
            Err(fault) => fault,
        };
        if !fault.is("ConflictException") {
            return Err(create_failure(plan, &fault));
        }
        // Check-then-create race with another enable: if the delivery now exists, it is done.
        // Otherwise the source is still being updated; wait and try again.
        let deliveries = list_deliveries_from(logs, &plan.source_name, deadline).await?;
        let existing = deliveries
            .iter()
            .find(|d| d.delivery_destination_arn() == Some(plan.destination_arn.as_str()));
        if let Some(existing) = existing {
            return Ok(Created::ByAnotherRequest(existing.id().map(str::to_owned)));
        }
        let delay = Backoff::STANDARD.delay_after(attempt);
        if Instant::now() + delay >= deadline {
            break;
        }
        tokio::time::sleep(delay).await;
    }
    Err(being_updated())
}

fn create_failure(plan: &DeliveryPlan, fault: &AwsFault) -> Failure {
    if fault.is("ResourceNotFoundException") {
        return Failure::new(
            ErrorCode::NotProvisioned,
            format!(
                "the tenant's log destination {} does not exist yet; provision the tenant's CDN log \
                 destination first, then send the command again",
                plan.destination_arn
            ),
        );
    }
    if fault.is_access_denied() {
        return Failure::new(
            ErrorCode::PermissionMissing,
            format!(
                "logs:CreateDelivery was denied: the connector role must grant logs:CreateDelivery, \
                 and the policy of {} must admit the customer's account",
                plan.destination_arn
            ),
        );
    }
    classify(fault, "logs:CreateDelivery")
}

pub(crate) async fn delete_delivery(
    logs: &Client,
    id: &str,
    deadline: Instant,
) -> Result<(), Failure> {
    match call_through_conflicts(deadline, || logs.delete_delivery().id(id).send()).await {
        Ok(_) => Ok(()),
        Err(fault) if fault.is("ResourceNotFoundException") => Ok(()),
        Err(fault) if fault.is("ConflictException") => Err(being_updated()),
        Err(fault) => Err(classify(&fault, "logs:DeleteDelivery")),
    }
}

async fn delete_source(logs: &Client, name: &str, deadline: Instant) -> Result<(), Failure> {
    match call_through_conflicts(deadline, || logs.delete_delivery_source().name(name).send()).await
    {
        Ok(_) => Ok(()),
        Err(fault) if fault.is("ResourceNotFoundException") => Ok(()),
        Err(fault) if fault.is("ConflictException") => Err(being_updated()),
        Err(fault) => Err(classify(&fault, "logs:DeleteDeliverySource")),
    }
}

fn being_updated() -> Failure {
    Failure::new(
        ErrorCode::Unavailable,
        "the distribution's log delivery is being updated by another request; the command will be retried",
    )
}

/// As [`call`], and also through "resource is being updated" conflicts, for deletes, where a
/// conflict can mean nothing else.
async fn call_through_conflicts<T, E, F, Fut>(
    deadline: Instant,
    operation: F,
) -> Result<T, AwsFault>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    aws_call_retrying(
        deadline,
        |f| is_transient(f) || f.is("ConflictException"),
        operation,
    )
    .await
}
