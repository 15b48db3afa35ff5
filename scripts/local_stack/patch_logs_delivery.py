"""CloudWatch Logs CreateDelivery to a delivery destination in another account.

AWS: a delivery source in account A may deliver to a delivery destination in account B when B's
delivery destination policy (PutDeliveryDestinationPolicy) allows A `logs:CreateDelivery`;
otherwise the call fails with AccessDeniedException. The delivery itself belongs to account A.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/vended-logs-crossaccount-example.html

moto 5.2 only looks for the destination among the caller's own destinations, so every
cross-account delivery is a ResourceNotFoundException. This patch resolves a foreign destination
ARN in its owner's backend, checks that owner's policy, then lets moto's own create_delivery run
(its conflict rules and defaults unchanged) with the destination visible for that one call.
Same-account calls and a destination that does not exist behave exactly as before.
"""

import threading

from moto.logs.exceptions import LogsClientError
from moto.logs.models import LogsBackend, logs_backends

import policy

_original_create_delivery = LogsBackend.create_delivery
_lock = threading.Lock()


class AccessDeniedException(LogsClientError):
    def __init__(self, msg):
        self.code = 400
        super().__init__("AccessDeniedException", msg)


def _foreign_destination(backend, destination_arn):
    """The destination an ARN names in another account of this region, or None."""
    parts = destination_arn.split(":")
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "delivery-destination":
        return None
    region, owner = parts[3], parts[4]
    if owner == backend.account_id:
        return None
    if owner not in logs_backends or region not in logs_backends[owner]:
        return None
    return logs_backends[owner][region].delivery_destinations.get(parts[6])


def create_delivery(self, delivery_source_name, delivery_destination_arn, *args, **kwargs):
    with _lock:
        destination = _foreign_destination(self, delivery_destination_arn)
        if destination is None:
            return _original_create_delivery(
                self, delivery_source_name, delivery_destination_arn, *args, **kwargs
            )

        # A missing source stays moto's ResourceNotFoundException, checked first as before.
        if delivery_source_name in self.delivery_sources and not policy.allows(
            destination.policy,
            "logs:CreateDelivery",
            caller_account=self.account_id,
            caller_arn=None,
        ):
            raise AccessDeniedException(
                f"Account {self.account_id} is not authorized to perform logs:CreateDelivery "
                f"on {delivery_destination_arn}."
            )

        # Show the foreign destination to moto's own checks for this one call. The lock serialises
        # CreateDelivery; a DescribeDeliveryDestinations racing this instant could list it.
        key = f"\0foreign:{delivery_destination_arn}"
        self.delivery_destinations[key] = destination
        try:
            return _original_create_delivery(
                self, delivery_source_name, delivery_destination_arn, *args, **kwargs
            )
        finally:
            self.delivery_destinations.pop(key, None)


def apply():
    LogsBackend.create_delivery = create_delivery
