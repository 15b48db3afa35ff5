"""Print the edge routing set-up of one distribution in the demo customer's account, as the
customer sees it: origins, the default behavior's associations and cache settings, the routing
function's stages, and the Lambda@Edge function's versions.

Usage: .venv/bin/python scripts/local_stack/show_routing.py DISTRIBUTION_ID
Reads the stack's endpoint and the customer account's keys from the stack's exported environment.
"""

import os
import sys

import boto3
from botocore.exceptions import ClientError

import accounts


def client(service, keys, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=accounts.REGION,
        aws_access_key_id=keys["accessKeyId"],
        aws_secret_access_key=keys["secretAccessKey"],
    )


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: show_routing.py DISTRIBUTION_ID")
    distribution_id = sys.argv[1]
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    accounts_file = os.environ.get("CDN_ONBOARD_LOCAL_ACCOUNTS_FILE")
    if not endpoint or not accounts_file:
        sys.exit("show_routing: the stack's environment is not set; eval \"$(scripts/local-stack env)\" first")
    keys = accounts.load(os.path.dirname(accounts_file))[accounts.CUSTOMER_ACCOUNT]
    cloudfront = client("cloudfront", keys, endpoint)
    config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]

    print(f"distribution {distribution_id} in account {accounts.CUSTOMER_ACCOUNT}")
    print("  origins")
    for origin in config["Origins"]["Items"]:
        headers = [h["HeaderName"] for h in origin.get("CustomHeaders", {}).get("Items", [])]
        shown = f" (headers: {', '.join(headers)}; values not shown)" if headers else ""
        print(f"    {origin['Id']:<22} {origin['DomainName']}{shown}")
    behavior = config["DefaultCacheBehavior"]
    print("  default behavior")
    forwarded = behavior.get("ForwardedValues", {}).get("Headers", {}).get("Items", [])
    print(f"    cache key headers    {', '.join(forwarded) or '-'}")
    for association in behavior.get("FunctionAssociations", {}).get("Items", []):
        print(f"    {association['EventType']:<20} {association['FunctionARN']}")
    for association in behavior.get("LambdaFunctionAssociations", {}).get("Items", []):
        print(f"    {association['EventType']:<20} {association['LambdaFunctionARN']}")

    function_name = f"edgeoptimize-routing-adobe-{distribution_id}"
    stages = []
    for stage in ("DEVELOPMENT", "LIVE"):
        try:
            cloudfront.describe_function(Name=function_name, Stage=stage)
            stages.append(stage)
        except ClientError:
            pass
    print(f"  routing function {function_name}: {', '.join(stages) or 'absent'}")

    lambda_name = f"edgeoptimize-origin-adobe-{distribution_id}"
    try:
        versions = client("lambda", keys, endpoint).list_versions_by_function(FunctionName=lambda_name)
        numbered = [v["Version"] for v in versions["Versions"] if v["Version"] != "$LATEST"]
        print(f"  Lambda@Edge {lambda_name}: versions {', '.join(numbered) or 'none'}")
    except ClientError:
        print(f"  Lambda@Edge {lambda_name}: absent")


if __name__ == "__main__":
    main()
