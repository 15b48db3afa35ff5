"""Delete the demo customer's deliveries from one delivery source, as a customer might in the
console: the drift a scheduled rescan finds and heals.

Usage: .venv/bin/python scripts/local_stack/delete_delivery.py DELIVERY_SOURCE_NAME
Reads the stack's endpoint and the customer account's keys from the stack's exported environment.
"""

import os
import sys

import boto3

import accounts


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: delete_delivery.py DELIVERY_SOURCE_NAME")
    source = sys.argv[1]
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    accounts_file = os.environ.get("CDN_ONBOARD_LOCAL_ACCOUNTS_FILE")
    if not endpoint or not accounts_file:
        sys.exit("delete_delivery: the stack's environment is not set; eval \"$(scripts/local-stack env)\" first")
    keys = accounts.load(os.path.dirname(accounts_file))[accounts.CUSTOMER_ACCOUNT]
    logs = boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name=accounts.REGION,
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
    )
    deleted = 0
    for delivery in logs.describe_deliveries().get("deliveries", []):
        if delivery["deliverySourceName"] == source:
            logs.delete_delivery(id=delivery["id"])
            print(f"deleted delivery {delivery['id']} from {source} in account {accounts.CUSTOMER_ACCOUNT}")
            deleted += 1
    if not deleted:
        print(f"no delivery from {source} to delete")


if __name__ == "__main__":
    main()
