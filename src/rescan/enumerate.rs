//! Reading registered targets through their indexes, one page at a time, so a rescan never
//! scans the table: `targets-by-shard` (every enabled target, in [`TARGET_SHARDS`] partitions)
//! and `targets-by-site` (one site's targets).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::attributes::{get_n, get_s, s, Item};
use crate::ids::{AccountId, DistributionId, ImsOrgId, SiteId};
use crate::records::{StoreError, Table};
use crate::rescan_params::TargetKind;
use crate::targets::{
    shard_of, shard_partition, target_pk, SHARD_INDEX, SITE_INDEX, TARGET_SHARDS,
};

/// Items one query page returns at most.
pub const PAGE_SIZE: i32 = 500;

/// A registered target, as its index entry shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRef {
    pub account_id: AccountId,
    pub distribution_id: DistributionId,
    pub kind: TargetKind,
    pub site_id: SiteId,
    pub ims_org_id: ImsOrgId,
    /// When a rescan last checked it, in epoch milliseconds.
    pub last_checked_ms: Option<u64>,
    /// Whether the target still wants its state (enabled log delivery, deployed routing).
    pub registered: bool,
}

impl TargetRef {
    /// Reads an index item; `None` for an item that is not a well-formed target.
    pub fn from_item(item: &Item) -> Option<Self> {
        Some(Self {
            account_id: AccountId::parse(get_s(item, "accountId")?).ok()?,
            distribution_id: DistributionId::parse(get_s(item, "distributionId")?).ok()?,
            kind: TargetKind::from_sort_key(get_s(item, "sk")?)?,
            site_id: SiteId::parse(get_s(item, "siteId")?).ok()?,
            ims_org_id: ImsOrgId::parse(get_s(item, "imsOrgId")?).ok()?,
            last_checked_ms: get_n(item, "lastCheckedAtMs"),
            registered: matches!(
                get_s(item, "desiredState"),
                Some("enabled") | Some("deployed")
            ),
        })
    }
}

impl TargetRef {
    /// Where the target sits in `targets-by-shard`: its shard and its sort key there.
    pub fn position(&self) -> (u32, String) {
        (
            shard_of(&self.account_id),
            format!(
                "{}#{}#{}",
                self.account_id,
                self.distribution_id,
                self.kind.sort_key()
            ),
        )
    }

    /// The cursor of `source`'s index that reads on from just after this target.
    pub fn cursor_after(&self, source: &Source) -> Cursor {
        let (shard, sort) = self.position();
        let (shard, index_keys) = match source {
            Source::AllTargets => (
                shard,
                [
                    ("gsi1pk".to_owned(), shard_partition(shard)),
                    ("gsi1sk".to_owned(), sort),
                ],
            ),
            Source::Site(site) => (
                0,
                [
                    ("gsi2pk".to_owned(), format!("SITE#{site}")),
                    ("gsi2sk".to_owned(), format!("TARGET#{sort}")),
                ],
            ),
        };
        let mut after = HashMap::from(index_keys);
        after.insert(
            "pk".to_owned(),
            target_pk(&self.account_id, &self.distribution_id),
        );
        after.insert("sk".to_owned(), self.kind.sort_key().to_owned());
        Cursor {
            shard,
            after: Some(after),
            done: false,
        }
    }
}

impl Cursor {
    /// Whether a target at `position` lies at or beyond where this cursor reads on from: the
    /// point where an enumeration that began here, and wrapped around, has come full circle.
    pub fn reached_by(&self, position: &(u32, String)) -> bool {
        let after = self.after.as_ref().and_then(|key| key.get("gsi1sk"));
        position.0 > self.shard
            || position.0 == self.shard
                && after.is_none_or(|after| position.1.as_str() > after.as_str())
    }
}

/// One page of an enumeration.
pub struct Page {
    pub targets: Vec<TargetRef>,
    /// Index items that are not well-formed targets (logged, counted, not checked).
    pub malformed: u64,
    pub next: Cursor,
}

/// Where an enumeration stands: the partition it reads and where its next page starts. It is
/// kept in the rescan's record between continuations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cursor {
    /// The shard being read (always 0 for one site's targets).
    pub shard: u32,
    /// The last key of the page read before, as strings (every key attribute is a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<HashMap<String, String>>,
    /// Every partition has been read.
    #[serde(default)]
    pub done: bool,
}

/// Which index an enumeration reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    AllTargets,
    Site(SiteId),
}

impl Table {
    /// One page of targets from `cursor`, and the cursor after it.
    pub async fn targets_page(&self, source: &Source, cursor: &Cursor) -> Result<Page, StoreError> {
        if cursor.done {
            return Ok(Page {
                targets: Vec::new(),
                malformed: 0,
                next: cursor.clone(),
            });
        }
        let (index, key_name, partition) = match source {
            Source::AllTargets => (SHARD_INDEX, "gsi1pk", shard_partition(cursor.shard)),
            Source::Site(site) => (SITE_INDEX, "gsi2pk", format!("SITE#{site}")),
        };
        let start = cursor.after.as_ref().map(|key| {
            key.iter()
                .map(|(k, v)| (k.clone(), s(v)))
                .collect::<HashMap<String, AttributeValue>>()
        });
        let page = self
            .client
            .query()
            .table_name(&self.name)
            .index_name(index)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", key_name)
            .expression_attribute_values(":p", s(&partition))
            .limit(PAGE_SIZE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", &e))?;
        let mut targets = Vec::new();
        let mut malformed = 0;
        for item in page.items() {
            match TargetRef::from_item(item) {
                Some(target) => targets.push(target),
                None => {
                    malformed += 1;
                    tracing::warn!(
                        pk = get_s(item, "pk").unwrap_or("(none)"),
                        sk = get_s(item, "sk").unwrap_or("(none)"),
                        "an index item is not a well-formed target (an id is missing or \
                         malformed); it is not checked"
                    );
                }
            }
        }
        let next = match page.last_evaluated_key {
            Some(key) => Cursor {
                shard: cursor.shard,
                after: Some(
                    key.into_iter()
                        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone())))
                        .collect(),
                ),
                done: false,
            },
            None => match source {
                Source::AllTargets if cursor.shard + 1 < TARGET_SHARDS => Cursor {
                    shard: cursor.shard + 1,
                    after: None,
                    done: false,
                },
                _ => Cursor {
                    shard: cursor.shard,
                    after: None,
                    done: true,
                },
            },
        };
        Ok(Page {
            targets,
            malformed,
            next,
        })
    }

    /// One target record, as the check needs it.
    pub async fn target(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        kind: TargetKind,
    ) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.name)
            .key(
                "pk",
                s(crate::targets::target_pk(account_id, distribution_id)),
            )
            .key("sk", s(kind.sort_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", &e))?;
        Ok(output.item)
    }
}
