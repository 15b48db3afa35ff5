"""The local accounts and the credentials that act in them.

The service runs as moto's default account with the static `testing` keys. Because AssumeRole
now refuses roles that do not exist (patch_sts_assume_role.py), the seed cannot switch accounts
by assuming an arbitrary role any more; instead each other account gets an IAM user with an
access key, created in-process before the server listens, and moto maps a request to the
account that owns its access key.
"""

import json
import os

REGION = "us-east-1"
SERVICE_ACCOUNT = "123456789012"  # moto's default account
CUSTOMER_ACCOUNT = "111122223333"
DESTINATION_ACCOUNT = "444455556666"
ADMIN_USER = "local-stack-admin"

ACCOUNTS_FILE = "accounts.json"


def provision(state_dir):
    """Create one admin user and key per non-default account; write them to accounts.json."""
    from moto.iam.models import iam_backends

    accounts = {
        SERVICE_ACCOUNT: {"name": "service", "accessKeyId": "testing", "secretAccessKey": "testing"}
    }
    for name, account_id in (("customer", CUSTOMER_ACCOUNT), ("destination", DESTINATION_ACCOUNT)):
        iam = iam_backends[account_id]["aws"]
        iam.create_user(region_name=REGION, user_name=ADMIN_USER)
        key = iam.create_access_key(user_name=ADMIN_USER)
        accounts[account_id] = {
            "name": name,
            "accessKeyId": key.access_key_id,
            "secretAccessKey": key.secret_access_key,
        }

    path = os.path.join(state_dir, ACCOUNTS_FILE)
    temporary = path + ".tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"region": REGION, "accounts": accounts}, handle, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def load(state_dir):
    with open(os.path.join(state_dir, ACCOUNTS_FILE)) as handle:
        return json.load(handle)["accounts"]
