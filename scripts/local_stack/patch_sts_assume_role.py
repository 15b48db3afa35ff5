"""STS AssumeRole that checks the role and its trust policy.

AWS refuses AssumeRole with `AccessDenied` (HTTP 403) when the role does not exist, when its
trust policy does not name the caller, or when a trust condition such as
`StringEquals sts:ExternalId` is not met (absent or different external id).
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html

moto 5.2 issues credentials for any role ARN, existing or not, which hides exactly the failures
the service must classify as NOT_CONNECTED. This patch evaluates the target role's trust policy
(see policy.py for the subset understood) before moto's own AssumeRole runs.
"""

import uuid
from xml.sax.saxutils import escape

from moto.iam.models import iam_backends
from moto.iam.exceptions import NotFoundException
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse
from werkzeug.exceptions import HTTPException

import policy

_original_assume_role = TokenResponse.assume_role


class AccessDenied(HTTPException):
    """The query-protocol error body STS returns, so every SDK parses the code."""

    code = 403

    def __init__(self, message):
        super().__init__()
        self.description = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>AccessDenied</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )

    def get_headers(self, *args, **kwargs):
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", "AccessDenied")]


def _target_role(role_arn):
    parts = (role_arn or "").split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    account = parts[4]
    if account not in iam_backends:
        return None
    try:
        return iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except NotFoundException:
        return None


def assume_role(self):
    role_arn = self._get_param("RoleArn")
    external_id = self._get_param("ExternalId")
    _, caller_arn, caller_account = sts_backends[self.current_account][
        self.partition
    ].get_caller_identity(self.access_key, self.region)
    denied = AccessDenied(
        f"User: {caller_arn} is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn}"
    )

    role = _target_role(role_arn)
    if role is None:
        raise denied
    context = {"sts:ExternalId": external_id} if external_id is not None else {}
    if not policy.allows(
        role.assume_role_policy_document, "sts:AssumeRole", caller_account, caller_arn, context
    ):
        raise denied

    return _original_assume_role(self)


def apply():
    TokenResponse.assume_role = assume_role
