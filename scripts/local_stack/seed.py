"""Create the local stack's resources, idempotently, and print its environment.

Run by `scripts/local-stack up` against a running launcher.py. Every step reads what exists and
creates only what is missing, so a second `up` reuses everything. STDOUT carries only the
`export NAME=value` lines; progress goes to STDERR.

  service account      the command queue, its dead-letter queue and the table, built from
                       infra/cdn-onboard.yaml (parameter defaults) rather than restated here
  service account      also the bucket of the customer connector role templates
                       (infra/customer/), which `cdn-onboard bootstrap-url` presigns
  customer account     the connector role, created as a customer creates it: a CloudFormation
                       stack from infra/customer/connector-role-log-and-routing.json trusting the
                       service account with the demo external id; two CloudFront distributions
  destination account  an S3 bucket, the tenant's delivery destination and its policy
"""

import argparse
import json
import os
import shlex
import sys

import boto3
from botocore.exceptions import ClientError

import accounts
import connector_stack
from template import Template

IMS_ORG_ID = "ABC123DEF456@AdobeOrg"
SITE_ID = "site-demo"
DESTINATION_NAME = "cdn-logs-" + IMS_ORG_ID.split("@")[0].lower()
LOG_BUCKET = f"cdn-onboard-local-logs-{accounts.DESTINATION_ACCOUNT}"
DEMO_ALIASES = ["www.example.com", "shop.example.com"]
DEMO_COMMENT = "cdn-onboard local demo"
# The demo site served by the first demo distribution, and its Edge Optimize configuration
# (a made-up key: the local stack talks to no Edge Optimize service).
DEMO_SITE_BASE_URL = "https://www.example.com"
SITE_CONFIG_BUCKET = f"cdn-onboard-local-site-config-{accounts.SERVICE_ACCOUNT}"
DEMO_SITE_CONFIG_KEY = "opportunities/example.com/config"
DEMO_API_KEY = "local-demo-edge-optimize-key"
TEMPLATE_BUCKET = f"cdn-onboard-local-templates-{accounts.SERVICE_ACCOUNT}"
# Whom the connector role trusts: in AWS the service's execution role; here the service
# account, whose static keys the local service runs with.
TRUSTED_PRINCIPAL_ARN = f"arn:aws:iam::{accounts.SERVICE_ACCOUNT}:root"
CONNECTOR_STACK = "adobe-edgeoptimize-connector-role"
CONNECTOR_TEMPLATE = "connector-role-log-and-routing.json"


def say(message):
    print(f"seed: {message}", file=sys.stderr)


def error_code(error):
    return error.response.get("Error", {}).get("Code", "")


class Account:
    """boto3 clients acting in one local account, checked to really land there."""

    def __init__(self, endpoint, account_id, credentials):
        self.session = boto3.session.Session(
            aws_access_key_id=credentials["accessKeyId"],
            aws_secret_access_key=credentials["secretAccessKey"],
            region_name=accounts.REGION,
        )
        self.endpoint = endpoint
        actual = self.client("sts").get_caller_identity()["Account"]
        if actual != account_id:
            sys.exit(
                f"seed: credentials for account {account_id} act as {actual}: the emulator "
                "was reset or restarted behind the script's back; run `scripts/local-stack down` "
                "then `up`"
            )

    def client(self, service):
        return self.session.client(service, endpoint_url=self.endpoint)


# --- service account: built from the template ------------------------------------------------


def ensure_queue(sqs, template, logical_id):
    properties = template.properties(logical_id)
    name = properties.pop("QueueName")
    attributes = {
        key: json.dumps(value) if isinstance(value, dict) else str(value)
        for key, value in properties.items()
        if key != "Tags"
    }
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        say(f"queue {name} exists (attributes re-applied)")
    except ClientError as error:
        if "NonExistentQueue" not in error_code(error):
            raise
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        say(f"queue {name} created")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    template.created[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name}
    return properties


def ensure_table(dynamodb, template, logical_id):
    properties = template.properties(logical_id)
    name = properties["TableName"]
    request = {
        key: properties[key]
        for key in (
            "TableName", "BillingMode", "AttributeDefinitions", "KeySchema",
            "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification",
        )
        if key in properties
    }
    if "SSESpecification" in properties:
        request["SSESpecification"] = {"Enabled": properties["SSESpecification"]["SSEEnabled"]}

    try:
        existing = dynamodb.describe_table(TableName=name)["Table"]
        wanted = sorted(index["IndexName"] for index in request.get("GlobalSecondaryIndexes", []))
        found = sorted(index["IndexName"] for index in existing.get("GlobalSecondaryIndexes", []))
        if existing["KeySchema"] != request["KeySchema"] or wanted != found:
            sys.exit(f"seed: table {name} differs from the template; run `down` then `up`")
        say(f"table {name} exists")
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        dynamodb.create_table(**request)
        say(f"table {name} created")

    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        status = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") != "ENABLED":
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    recovery = properties.get("PointInTimeRecoverySpecification")
    if recovery:
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification=recovery
        )
    template.created[logical_id] = {"Ref": name}


def ensure_bucket(s3, bucket):
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchBucket"):
            raise
        s3.create_bucket(Bucket=bucket)
        say(f"bucket {bucket} created")


def ensure_site_config(s3):
    """The bucket of site configurations, holding the demo site's Edge Optimize API key."""
    ensure_bucket(s3, SITE_CONFIG_BUCKET)
    s3.put_object(
        Bucket=SITE_CONFIG_BUCKET,
        Key=DEMO_SITE_CONFIG_KEY,
        Body=json.dumps({"apiKeys": [DEMO_API_KEY]}).encode(),
        ContentType="application/json",
    )
    say(f"site configuration s3://{SITE_CONFIG_BUCKET}/{DEMO_SITE_CONFIG_KEY} written")


def ensure_templates(s3, customer_dir):
    """The template bucket, holding the current customer connector role templates."""
    ensure_bucket(s3, TEMPLATE_BUCKET)
    for name in sorted(os.listdir(customer_dir)):
        if name.endswith(".json"):
            with open(os.path.join(customer_dir, name), "rb") as handle:
                s3.put_object(
                    Bucket=TEMPLATE_BUCKET, Key=name, Body=handle.read(),
                    ContentType="application/json",
                )
            say(f"template s3://{TEMPLATE_BUCKET}/{name} uploaded")


def seed_service(service, template, customer_dir):
    sqs = service.client("sqs")
    ensure_queue(sqs, template, "DeadLetterQueue")
    command_queue = ensure_queue(sqs, template, "CommandQueue")
    ensure_table(service.client("dynamodb"), template, "StateTable")
    ensure_site_config(service.client("s3"))
    ensure_templates(service.client("s3"), customer_dir)
    return int(command_queue["RedrivePolicy"]["maxReceiveCount"])


# --- customer account -------------------------------------------------------------------------


def ensure_connector_role(customer, role_name, customer_dir):
    """The demo connector role, from the customer template, as a customer's stack."""
    role_arn = connector_stack.deploy(
        customer.client("cloudformation"),
        os.path.join(customer_dir, CONNECTOR_TEMPLATE),
        CONNECTOR_STACK,
        TRUSTED_PRINCIPAL_ARN,
        IMS_ORG_ID,
        role_name,
    )
    say(f"connector role {role_arn} deployed by stack {CONNECTOR_STACK}")


def distribution_config(alias):
    origin_id = f"origin-{alias}"
    return {
        "CallerReference": f"cdn-onboard-local-{alias}",
        "Comment": f"{DEMO_COMMENT}: {alias}",
        "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": [alias]},
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": origin_id,
                    "DomainName": f"origin.{alias}",
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": origin_id,
            "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": 0,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
    }


def ensure_distributions(cloudfront):
    listed = cloudfront.list_distributions()["DistributionList"].get("Items", [])
    by_alias = {
        alias: summary["Id"]
        for summary in listed
        for alias in summary.get("Aliases", {}).get("Items", [])
    }
    ids = []
    for alias in DEMO_ALIASES:
        if alias in by_alias:
            say(f"distribution for {alias} exists: {by_alias[alias]}")
            ids.append(by_alias[alias])
            continue
        created = cloudfront.create_distribution(DistributionConfig=distribution_config(alias))
        ids.append(created["Distribution"]["Id"])
        say(f"distribution for {alias} created: {ids[-1]}")
    return ids


# --- destination account ----------------------------------------------------------------------


def ensure_delivery_destination(logs):
    try:
        destination = logs.get_delivery_destination(name=DESTINATION_NAME)["deliveryDestination"]
        say(f"delivery destination {DESTINATION_NAME} exists")
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        destination = logs.put_delivery_destination(
            name=DESTINATION_NAME,
            deliveryDestinationConfiguration={"destinationResourceArn": f"arn:aws:s3:::{LOG_BUCKET}"},
        )["deliveryDestination"]
        say(f"delivery destination {DESTINATION_NAME} created")

    logs.put_delivery_destination_policy(
        deliveryDestinationName=DESTINATION_NAME,
        deliveryDestinationPolicy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AllowCustomerDeliveries",
                        "Effect": "Allow",
                        "Principal": {"AWS": accounts.CUSTOMER_ACCOUNT},
                        "Action": "logs:CreateDelivery",
                        "Resource": destination["arn"],
                    }
                ],
            }
        ),
    )
    return destination["arn"]


# --- output -----------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--template", required=True)
    args = parser.parse_args()

    credentials = accounts.load(args.state_dir)
    service, customer, destination = (
        Account(args.endpoint, account_id, credentials[account_id])
        for account_id in (
            accounts.SERVICE_ACCOUNT, accounts.CUSTOMER_ACCOUNT, accounts.DESTINATION_ACCOUNT
        )
    )
    template = Template(args.template)
    customer_dir = os.path.join(os.path.dirname(args.template), "customer")

    max_receive_count = seed_service(service, template, customer_dir)
    role_name = template.parameters["ConnectorRoleName"]
    ensure_connector_role(customer, role_name, customer_dir)
    distribution_ids = ensure_distributions(customer.client("cloudfront"))
    ensure_bucket(destination.client("s3"), LOG_BUCKET)
    destination_arn = ensure_delivery_destination(destination.client("logs"))

    exports = {
        "AWS_ENDPOINT_URL": args.endpoint,
        "AWS_REGION": accounts.REGION,
        "AWS_DEFAULT_REGION": accounts.REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "CDN_ONBOARD_TABLE": template.created["StateTable"]["Ref"],
        "CDN_ONBOARD_QUEUE_URL": template.created["CommandQueue"]["Ref"],
        "CDN_ONBOARD_DLQ_URL": template.created["DeadLetterQueue"]["Ref"],
        "CDN_LOG_DELIVERY_DEST_ACCOUNT_ID": accounts.DESTINATION_ACCOUNT,
        "EDGE_OPTIMIZE_ROLE_NAME": role_name,
        "EDGE_OPTIMIZE_EDGE_DOMAIN": template.parameters.get("EdgeOptimizeDomain", "live.edgeoptimize.net"),
        "TOKOWAKA_SITE_CONFIG_BUCKET": SITE_CONFIG_BUCKET,
        "CDN_ONBOARD_TEMPLATE_BUCKET": TEMPLATE_BUCKET,
        "CDN_ONBOARD_TRUSTED_PRINCIPAL_ARN": TRUSTED_PRINCIPAL_ARN,
        "CDN_ONBOARD_MAX_RECEIVE_COUNT": max_receive_count,
        "CDN_ONBOARD_LOCAL_ACCOUNTS_FILE": f"{args.state_dir}/{accounts.ACCOUNTS_FILE}",
        "DEMO_ACCOUNT_ID": accounts.CUSTOMER_ACCOUNT,
        "DEMO_SITE_ID": SITE_ID,
        "DEMO_IMS_ORG_ID": IMS_ORG_ID,
        "DEMO_DISTRIBUTION_IDS": " ".join(distribution_ids),
        "DEMO_SITE_BASE_URL": DEMO_SITE_BASE_URL,
        "DEMO_DESTINATION_ARN": destination_arn,
    }
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(str(value))}")


if __name__ == "__main__":
    main()
