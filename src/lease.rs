//! The per-distribution lease: at most one mutating command runs against a distribution at a
//! time, across batches and invocations. A lease ends at its holder's deadline, so a crashed
//! holder never blocks the distribution for longer than one invocation.

use std::time::SystemTime;

use crate::attributes::{n, s, Item};
use crate::clock::{epoch_millis, epoch_secs};
use crate::ids::{AccountId, DistributionId};
use crate::records::{written, StoreError, Table};

/// The lease item of one distribution.
pub fn lease_key(account_id: &AccountId, distribution_id: &DistributionId) -> Item {
    Item::from([
        (
            "pk".to_owned(),
            s(format!("LEASE#{account_id}#{distribution_id}")),
        ),
        ("sk".to_owned(), s("LEASE")),
    ])
}

impl Table {
    /// Takes the distribution's lease for `holder` until `deadline`, if it is free, expired, or
    /// already held by `holder`. Returns whether the lease is now held.
    pub async fn acquire_lease(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        holder: &str,
        deadline: SystemTime,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut item = lease_key(account_id, distribution_id);
        item.insert("holder".into(), s(holder));
        item.insert("leaseExpiresAt".into(), n(epoch_millis(deadline)));
        // The TTL only sweeps leases whose holder died; correctness rests on leaseExpiresAt.
        item.insert("expiresAt".into(), n(epoch_secs(deadline) + 86_400));
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR leaseExpiresAt <= :now OR holder = :holder",
            )
            .expression_attribute_values(":now", n(epoch_millis(now)))
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        written(result, "PutItem")
    }

    /// Lets the lease go, if `holder` still has it.
    pub async fn release_lease(
        &self,
        account_id: &AccountId,
        distribution_id: &DistributionId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(lease_key(account_id, distribution_id)))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        // Not held by `holder` any more (expired and taken over): nothing to let go.
        written(result, "DeleteItem").map(|_| ())
    }
}
