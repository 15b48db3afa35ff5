//! Target records: the current state of one distribution's log delivery and routing,
//! and the indexes rescans use to enumerate them without scanning the table.
//!
//! Access patterns:
//! - one target: `pk = TARGET#<accountId>#<distributionId>`, `sk = LOG_DELIVERY | ROUTING`;
//! - every enabled target, for the scheduled rescan: index `targets-by-shard`, partition
//!   `gsi1pk = TARGETS#<shard>` with [`TARGET_SHARDS`] shards (by account), sorted by `gsi1sk =
//!   <accountId>#<distributionId>#<kind>`; a rescan queries each shard page by page. Disabled
//!   targets leave this index (the attributes are removed), so it holds only what needs checking;
//! - one site's targets: index `targets-by-site`, `gsi2pk = SITE#<siteId>`,
//!   `gsi2sk = TARGET#<accountId>#<distributionId>#<kind>`.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::attributes::{get_s, n, s};
use crate::clock::rfc3339;
use crate::command::Command;
use crate::delivery_names::DeliveryPlan;
use crate::edge::names::RoutingNames;
use crate::ids::{AccountId, DistributionId};
use crate::log_delivery::DeliveryReport;
use crate::records::{StoreError, Table};
use crate::routing_params::{RoutingParams, StepSet};

/// Shards of the `targets-by-shard` index; 100,000 targets of many accounts make about 6,250 per
/// shard.
pub const TARGET_SHARDS: u32 = 16;
pub const SHARD_INDEX: &str = "targets-by-shard";
pub const SITE_INDEX: &str = "targets-by-site";
pub const LOG_DELIVERY_KIND: &str = "LOG_DELIVERY";
pub const ROUTING_KIND: &str = "ROUTING";

pub fn target_pk(account_id: &AccountId, distribution_id: &DistributionId) -> String {
    format!("TARGET#{account_id}#{distribution_id}")
}

/// The shard of an account's targets: stable, spread evenly over accounts by hashing the account
/// id, and one shard for all of an account's targets, so that an enumeration of the index meets
/// one account's targets one after another (the fan-out's spreading relies on it).
pub fn shard_of(account_id: &AccountId) -> u32 {
    let digest = Sha256::digest(account_id.as_str().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % TARGET_SHARDS
}

pub fn shard_partition(shard: u32) -> String {
    format!("TARGETS#{shard:02}")
}

/// Who a distribution's log delivery belongs to, as its target record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetOwner {
    pub site_id: String,
    pub enabled: bool,
}

impl Table {
    /// The site a distribution's target of `kind` is registered to, if it has a target record.
    pub async fn target_owner(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        kind: &str,
    ) -> Result<Option<TargetOwner>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(target_pk(account_id, distribution_id)))
            .key("sk", s(kind))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", &e))?;
        Ok(output.item.map(|item| TargetOwner {
            site_id: get_s(&item, "siteId").unwrap_or_default().to_owned(),
            enabled: matches!(
                get_s(&item, "desiredState"),
                Some("enabled") | Some("deployed")
            ),
        }))
    }

    /// Records what routing now has on the distribution: the resources the run saw or made, and
    /// the steps it completed, added to those completed before (`deployedSteps`: what a rescan
    /// checks and heals, and nothing more). Routing targets join the rescan index like log
    /// delivery targets.
    pub async fn routing_deployed(
        &self,
        command: &Command,
        routing: &RoutingParams,
        names: &RoutingNames,
        facts: &serde_json::Value,
        completed: StepSet,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let distribution_id = &routing.distribution_id;
        let pk = target_pk(&command.tenant().account_id, distribution_id);
        let sort = format!(
            "{}#{distribution_id}#{ROUTING_KIND}",
            command.tenant().account_id
        );
        let mut set = vec![
            "siteId = :site",
            "imsOrgId = :org",
            "accountId = :account",
            "distributionId = :distribution",
            "desiredState = :desired",
            "behavior = :behavior",
            "siteBaseUrl = :siteUrl",
            "originId = :origin",
            "routingFunctionName = :function",
            "lambdaFunctionName = :lambda",
            "edgeRoleName = :role",
            "allowDomainMismatch = :mismatch",
            "lastCommandId = :command",
            "lastCheckedAt = :now",
            "updatedAt = :now",
            "createdAt = if_not_exists(createdAt, :now)",
            "gsi1pk = :gsi1pk",
            "gsi1sk = :gsi1sk",
            "gsi2pk = :gsi2pk",
            "gsi2sk = :gsi2sk",
            "version = if_not_exists(version, :zero) + :one",
        ];
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(&pk))
            .key("sk", s(ROUTING_KIND))
            .expression_attribute_values(":site", s(command.tenant().site_id.as_str()))
            .expression_attribute_values(":org", s(command.tenant().ims_org_id.as_str()))
            .expression_attribute_values(":account", s(command.tenant().account_id.as_str()))
            .expression_attribute_values(":distribution", s(distribution_id.as_str()))
            .expression_attribute_values(":desired", s("deployed"))
            .expression_attribute_values(":behavior", s(routing.behavior.as_param()))
            .expression_attribute_values(":siteUrl", s(routing.site_base_url.to_string()))
            .expression_attribute_values(":origin", s(crate::edge::names::ORIGIN_ID))
            .expression_attribute_values(":function", s(&names.function))
            .expression_attribute_values(":lambda", s(&names.lambda))
            .expression_attribute_values(":role", s(&names.role))
            .expression_attribute_values(
                ":mismatch",
                aws_sdk_dynamodb::types::AttributeValue::Bool(routing.allow_domain_mismatch),
            )
            .expression_attribute_values(":command", s(command.command_id.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(
                ":gsi1pk",
                s(shard_partition(shard_of(&command.tenant().account_id))),
            )
            .expression_attribute_values(":gsi1sk", s(&sort))
            .expression_attribute_values(":gsi2pk", s(format!("SITE#{}", command.tenant().site_id)))
            .expression_attribute_values(":gsi2sk", s(format!("TARGET#{sort}")))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0));
        let known = [
            (
                "lambdaVersionArn = :versionArn",
                ":versionArn",
                "lambda",
                "lambdaVersionArn",
            ),
            (
                "routingFunctionArn = :functionArn",
                ":functionArn",
                "function",
                "functionArn",
            ),
            (
                "cachePolicyId = :cachePolicy",
                ":cachePolicy",
                "cache",
                "cachePolicyId",
            ),
        ];
        if let Some(paths) = &routing.targeted_paths {
            set.push("targetedPaths = :paths");
            request = request.expression_attribute_values(
                ":paths",
                crate::attributes::to_attribute(&serde_json::json!(paths)),
            );
        }
        for (assignment, placeholder, step, fact) in known {
            if let Some(value) = facts[step][fact].as_str().filter(|v| !v.is_empty()) {
                set.push(assignment);
                request = request.expression_attribute_values(placeholder, s(value));
            }
        }
        let mut expression = format!("SET {} REMOVE drift", set.join(", "));
        if !completed.is_empty() {
            expression.push_str(" ADD deployedSteps :completed");
            request = request.expression_attribute_values(
                ":completed",
                aws_sdk_dynamodb::types::AttributeValue::Ss(
                    completed.names().into_iter().map(str::to_owned).collect(),
                ),
            );
        }
        request
            .update_expression(expression)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", &e))?;
        Ok(())
    }

    /// Records that the distribution's logs now flow to the tenant's destination.
    pub async fn log_delivery_enabled(
        &self,
        command: &Command,
        plan: &DeliveryPlan,
        report: &DeliveryReport,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let distribution_id = command
            .action
            .distribution_id()
            .expect("log delivery commands name their distribution");
        let pk = target_pk(&command.tenant().account_id, distribution_id);
        let sort = format!(
            "{}#{distribution_id}#{LOG_DELIVERY_KIND}",
            command.tenant().account_id
        );
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(&pk))
            .key("sk", s(LOG_DELIVERY_KIND))
            .expression_attribute_values(":site", s(command.tenant().site_id.as_str()))
            .expression_attribute_values(":org", s(command.tenant().ims_org_id.as_str()))
            .expression_attribute_values(":account", s(command.tenant().account_id.as_str()))
            .expression_attribute_values(":distribution", s(distribution_id.as_str()))
            .expression_attribute_values(":desired", s("enabled"))
            .expression_attribute_values(":source", s(&plan.source_name))
            .expression_attribute_values(":destination", s(&plan.destination_arn))
            .expression_attribute_values(":command", s(command.command_id.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(
                ":gsi1pk",
                s(shard_partition(shard_of(&command.tenant().account_id))),
            )
            .expression_attribute_values(":gsi1sk", s(&sort))
            .expression_attribute_values(":gsi2pk", s(format!("SITE#{}", command.tenant().site_id)))
            .expression_attribute_values(":gsi2sk", s(format!("TARGET#{sort}")))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0));
        let mut set = String::from(
            "siteId = :site, imsOrgId = :org, accountId = :account, distributionId = :distribution, \
             desiredState = :desired, deliverySourceName = :source, destinationArn = :destination, \
             lastCommandId = :command, lastCheckedAt = :now, updatedAt = :now, \
             createdAt = if_not_exists(createdAt, :now), gsi1pk = :gsi1pk, gsi1sk = :gsi1sk, \
             gsi2pk = :gsi2pk, gsi2sk = :gsi2sk, version = if_not_exists(version, :zero) + :one",
        );
        let mut remove = vec!["drift"];
        match &report.delivery_id {
            Some(id) => {
                set.push_str(", deliveryId = :delivery");
                request = request.expression_attribute_values(":delivery", s(id));
            }
            None => remove.push("deliveryId"),
        }
        request
            .update_expression(format!("SET {set} REMOVE {}", remove.join(", ")))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", &e))?;
        Ok(())
    }

    /// Records the delivery a rescan's heal left in place.
    pub async fn log_delivery_healed(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        report: &DeliveryReport,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(target_pk(account_id, distribution_id)))
            .key("sk", s(LOG_DELIVERY_KIND))
            .condition_expression("attribute_exists(pk)");
        request = match &report.delivery_id {
            Some(id) => request
                .update_expression("SET deliveryId = :delivery")
                .expression_attribute_values(":delivery", s(id)),
            None => request.update_expression("REMOVE deliveryId"),
        };
        crate::records::written(request.send().await, "UpdateItem").map(|_| ())
    }

    /// Records that the distribution's log delivery is off; it leaves the rescan index.
    pub async fn log_delivery_disabled(
        &self,
        command: &Command,
        plan: &DeliveryPlan,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let distribution_id = command
            .action
            .distribution_id()
            .expect("log delivery commands name their distribution");
        let pk = target_pk(&command.tenant().account_id, distribution_id);
        let sort = format!(
            "{}#{distribution_id}#{LOG_DELIVERY_KIND}",
            command.tenant().account_id
        );
        self.client
            .update_item()
            .table_name(&self.name)
            .key("pk", s(&pk))
            .key("sk", s(LOG_DELIVERY_KIND))
            .update_expression(
                "SET siteId = :site, imsOrgId = :org, accountId = :account, distributionId = :distribution, \
                 desiredState = :desired, deliverySourceName = :source, destinationArn = :destination, \
                 lastCommandId = :command, lastCheckedAt = :now, updatedAt = :now, \
                 createdAt = if_not_exists(createdAt, :now), gsi2pk = :gsi2pk, gsi2sk = :gsi2sk, \
                 version = if_not_exists(version, :zero) + :one \
                 REMOVE deliveryId, drift, gsi1pk, gsi1sk",
            )
            .expression_attribute_values(":site", s(command.tenant().site_id.as_str()))
            .expression_attribute_values(":org", s(command.tenant().ims_org_id.as_str()))
            .expression_attribute_values(":account", s(command.tenant().account_id.as_str()))
            .expression_attribute_values(":distribution", s(distribution_id.as_str()))
            .expression_attribute_values(":desired", s("disabled"))
            .expression_attribute_values(":source", s(&plan.source_name))
            .expression_attribute_values(":destination", s(&plan.destination_arn))
            .expression_attribute_values(":command", s(command.command_id.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":gsi2pk", s(format!("SITE#{}", command.tenant().site_id)))
            .expression_attribute_values(":gsi2sk", s(format!("TARGET#{sort}")))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread_over_accounts() {
        let account = AccountId::parse("111122223333").unwrap();
        assert_eq!(shard_of(&account), shard_of(&account));
        let mut counts = [0u32; TARGET_SHARDS as usize];
        for i in 100_000_000_000u64..100_000_016_000 {
            counts[shard_of(&AccountId::parse(&i.to_string()).unwrap()) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        assert_eq!(shard_partition(3), "TARGETS#03");
    }
}
