"""Print the log delivery set-up in the demo customer's account, as the customer sees it.

Usage: .venv/bin/python scripts/local_stack/show_deliveries.py
Reads the stack's endpoint and the customer account's keys from the stack's exported environment.
"""

import os
import sys

import boto3

import accounts


def main():
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        sys.exit("show_deliveries: AWS_ENDPOINT_URL is not set; eval \"$(scripts/local-stack env)\" first")
    accounts_file = os.environ.get("CDN_ONBOARD_LOCAL_ACCOUNTS_FILE")
    if not accounts_file:
        sys.exit("show_deliveries: CDN_ONBOARD_LOCAL_ACCOUNTS_FILE is not set; eval \"$(scripts/local-stack env)\" first")
    keys = accounts.load(os.path.dirname(accounts_file))[accounts.CUSTOMER_ACCOUNT]
    logs = boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name=accounts.REGION,
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
    )
    print(f"account {accounts.CUSTOMER_ACCOUNT}: delivery sources")
    for source in logs.describe_delivery_sources().get("deliverySources", []):
        print(f"  {source['name']:<48} {source.get('logType', ''):<12} {', '.join(source.get('resourceArns', []))}")
    print(f"account {accounts.CUSTOMER_ACCOUNT}: deliveries")
    for delivery in logs.describe_deliveries().get("deliveries", []):
        suffix = delivery.get("s3DeliveryConfiguration", {}).get("suffixPath", "")
        fields = len(delivery.get("recordFields", []))
        print(f"  {delivery['id']:<20} {delivery['deliverySourceName']:<48} -> {delivery['deliveryDestinationArn']}")
        print(f"  {'':<20} {fields} record fields, suffix path {suffix}")


if __name__ == "__main__":
    main()
