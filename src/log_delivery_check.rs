//! A rescan's check of one registered log delivery: is the delivery still there, from our
//! source, to the tenant's destination, with our record fields and path? And, when asked, the
//! healing of what drifted, through the same converging enable.
//!
//! The delivery is read by its recorded id (`GetDelivery`): the listing call omits the record
//! fields and the S3 configuration.

use aws_sdk_cloudwatchlogs::types::{Delivery, S3DeliveryConfiguration};
use aws_sdk_cloudwatchlogs::Client;
use serde::Serialize;
use tokio::time::Instant;

use crate::delivery_names::{DeliveryPlan, LOG_TYPE, RECORD_FIELDS, SUFFIX_PATH};
use crate::error::{classify, ErrorCode, Failure};
use crate::log_delivery::{self, DeliveryReport};
use crate::retry::aws_call;

/// One thing found different from what the target should be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// A fixed word: `source-missing`, `source-foreign`, `delivery-missing`,
    /// `destination-changed`, `record-fields-changed`, `suffix-path-changed`.
    pub what: &'static str,
    /// For people.
    pub detail: String,
    /// Whether healing may repair it (a source someone else owns is theirs to remove).
    pub healable: bool,
}

impl Drift {
    fn new(what: &'static str, detail: impl Into<String>, healable: bool) -> Self {
        Self {
            what,
            detail: detail.into(),
            healable,
        }
    }
}

/// Reads the target and lists what drifted; empty when it is as it should be.
pub async fn check(
    logs: &Client,
    plan: &DeliveryPlan,
    recorded_delivery_id: Option<&str>,
    deadline: Instant,
) -> Result<Vec<Drift>, Failure> {
    let mut drift = Vec::new();
    match log_delivery::get_source(logs, &plan.source_name, deadline).await? {
        Some(source)
            if source.resource_arns().contains(&plan.resource_arn)
                && source.log_type() == Some(LOG_TYPE) => {}
        Some(_) => drift.push(Drift::new(
            "source-foreign",
            format!(
                "the delivery source {} no longer serves this distribution's access logs; the \
                 customer must delete it so it can be created again",
                plan.source_name
            ),
            false,
        )),
        None => match log_delivery::find_foreign_source(logs, plan, deadline).await? {
            Some(foreign) => drift.push(Drift::new(
                "source-foreign",
                format!(
                    "the distribution is now registered to the delivery source {foreign}, which \
                     this service did not create; the customer must delete it before its logs \
                     can be delivered again"
                ),
                false,
            )),
            None => drift.push(Drift::new(
                "source-missing",
                format!("the delivery source {} was deleted", plan.source_name),
                true,
            )),
        },
    }

    let delivery = current_delivery(logs, plan, recorded_delivery_id, deadline).await?;
    match delivery {
        None => drift.push(Drift::new(
            "delivery-missing",
            "the delivery to the tenant's destination was deleted",
            true,
        )),
        Some(delivery) => drift.extend(configuration_drift(plan, &delivery)),
    }
    Ok(drift)
}

/// The delivery in place: the recorded one if it still exists and comes from our source, else
/// one from our source (to any destination) found by listing, read in full. A recorded id that
/// now names another source's delivery is not ours to judge.
async fn current_delivery(
    logs: &Client,
    plan: &DeliveryPlan,
    recorded_id: Option<&str>,
    deadline: Instant,
) -> Result<Option<Delivery>, Failure> {
    if let Some(id) = recorded_id {
        if let Some(delivery) = get_delivery(logs, id, deadline).await? {
            if delivery.delivery_source_name() == Some(plan.source_name.as_str()) {
                return Ok(Some(delivery));
            }
        }
    }
    let listed = log_delivery::list_deliveries_from(logs, &plan.source_name, deadline).await?;
    let found = listed
        .iter()
        .find(|d| d.delivery_destination_arn() == Some(plan.destination_arn.as_str()))
        .or_else(|| listed.first())
        .and_then(|d| d.id().map(str::to_owned));
    match found {
        Some(id) => Ok(get_delivery(logs, &id, deadline)
            .await?
            .filter(|d| d.delivery_source_name() == Some(plan.source_name.as_str()))),
        None => Ok(None),
    }
}

async fn get_delivery(
    logs: &Client,
    id: &str,
    deadline: Instant,
) -> Result<Option<Delivery>, Failure> {
    match aws_call(deadline, || logs.get_delivery().id(id).send()).await {
        Ok(output) => Ok(output.delivery),
        Err(fault) if fault.is("ResourceNotFoundException") => Ok(None),
        Err(fault) => Err(classify(&fault, "logs:GetDelivery")),
    }
}

fn configuration_drift(plan: &DeliveryPlan, delivery: &Delivery) -> Vec<Drift> {
    let mut drift = Vec::new();
    let destination = delivery.delivery_destination_arn().unwrap_or_default();
    if destination != plan.destination_arn {
        drift.push(Drift::new(
            "destination-changed",
            format!(
                "the delivery goes to {destination} instead of the tenant's destination {}",
                plan.destination_arn
            ),
            true,
        ));
        // Fields and path of a delivery to the wrong place do not matter: it is replaced.
        return drift;
    }
    let fields: Vec<&str> = delivery
        .record_fields()
        .iter()
        .map(String::as_str)
        .collect();
    if fields != RECORD_FIELDS {
        drift.push(Drift::new(
            "record-fields-changed",
            format!(
                "the delivery carries {} record fields instead of the {} this service sets",
                fields.len(),
                RECORD_FIELDS.len()
            ),
            true,
        ));
    }
    let suffix = delivery
        .s3_delivery_configuration()
        .and_then(|c| c.suffix_path())
        .unwrap_or_default();
    if suffix != SUFFIX_PATH {
        drift.push(Drift::new(
            "suffix-path-changed",
            format!(
                "the delivery writes under '{}' instead of '{SUFFIX_PATH}'",
                crate::command::printable(suffix)
            ),
            true,
        ));
    }
    drift
}

/// What healing did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Healed {
    pub report: DeliveryReport,
    /// The delivery's record fields or path were set back.
    pub reconfigured: bool,
}

/// Repairs what drifted: the converging enable re-creates a missing source or delivery and
/// repoints one to an old destination; a changed configuration is set back in place.
pub async fn heal(
    logs: &Client,
    plan: &DeliveryPlan,
    drift: &[Drift],
    deadline: Instant,
) -> Result<Healed, Failure> {
    let mut report = log_delivery::enable(logs, plan, deadline).await?;
    let misconfigured = drift
        .iter()
        .any(|d| matches!(d.what, "record-fields-changed" | "suffix-path-changed"));
    let mut reconfigured = false;
    if misconfigured {
        if let Some(id) = report.delivery_id.clone() {
            match reconfigure(logs, &id, deadline).await {
                Ok(()) => {}
                // Where the set-back in place is refused (the destination's policy may not admit
                // it), the delivery is made anew, with the fixed configuration.
                Err(failure) if failure.code == ErrorCode::PermissionMissing => {
                    tracing::warn!(
                        "the delivery's configuration could not be set back in place; it is \
                         re-created instead"
                    );
                    log_delivery::delete_delivery(logs, &id, deadline).await?;
                    report = log_delivery::enable(logs, plan, deadline).await?;
                }
                Err(failure) => return Err(failure),
            }
            reconfigured = true;
        }
    }
    Ok(Healed {
        report,
        reconfigured,
    })
}

async fn reconfigure(logs: &Client, id: &str, deadline: Instant) -> Result<(), Failure> {
    aws_call(deadline, || {
        logs.update_delivery_configuration()
            .id(id)
            .set_record_fields(Some(RECORD_FIELDS.iter().map(|f| f.to_string()).collect()))
            .s3_delivery_configuration(
                S3DeliveryConfiguration::builder()
                    .suffix_path(SUFFIX_PATH)
                    .enable_hive_compatible_path(false)
                    .build(),
            )
            .send()
    })
    .await
    .map(|_| ())
    .map_err(|fault| classify(&fault, "logs:UpdateDeliveryConfiguration"))
}
