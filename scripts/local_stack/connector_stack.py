"""Create a customer's connector role the way a customer does: a CloudFormation stack from one of
the generated templates in infra/customer/, with the quick-create link's three parameters.

The seed deploys the demo customer's role this way; the connector role emulator test deploys
stacks of its own through the command line:

  connector_stack.py --endpoint URL --state-dir DIR --template FILE --stack-name NAME \
      --trusted-principal-arn ARN --external-id ID --role-name NAME      # prints the role ARN
  connector_stack.py --endpoint URL --state-dir DIR --stack-name NAME --delete
"""

import argparse
import sys

import boto3
from botocore.exceptions import ClientError

import accounts

# What the console's quick-create page asks the customer to acknowledge for these templates.
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]


def _status(cloudformation, stack_name):
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def deploy(cloudformation, template_path, stack_name, trusted_principal_arn, external_id, role_name):
    """Create the stack, or update it to this template and these parameters. Returns the role
    ARN from the stack's outputs."""
    with open(template_path) as handle:
        body = handle.read()
    parameters = [
        {"ParameterKey": "TrustedPrincipalArn", "ParameterValue": trusted_principal_arn},
        {"ParameterKey": "ExternalId", "ParameterValue": external_id},
        {"ParameterKey": "RoleName", "ParameterValue": role_name},
    ]
    if _status(cloudformation, stack_name) is None:
        cloudformation.create_stack(
            StackName=stack_name, TemplateBody=body, Parameters=parameters,
            Capabilities=CAPABILITIES,
        )
    else:
        try:
            cloudformation.update_stack(
                StackName=stack_name, TemplateBody=body, Parameters=parameters,
                Capabilities=CAPABILITIES,
            )
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if not stack["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in stack["StackStatus"]:
        sys.exit(f"connector stack {stack_name} ended {stack['StackStatus']}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return outputs["RoleArn"]


def delete(cloudformation, stack_name):
    if _status(cloudformation, stack_name) is not None:
        cloudformation.delete_stack(StackName=stack_name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--account", default=accounts.CUSTOMER_ACCOUNT)
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--template")
    parser.add_argument("--trusted-principal-arn")
    parser.add_argument("--external-id")
    parser.add_argument("--role-name")
    parser.add_argument("--delete", action="store_true")
    args = parser.parse_args()

    credentials = accounts.load(args.state_dir)[args.account]
    cloudformation = boto3.session.Session(
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials["secretAccessKey"],
        region_name=accounts.REGION,
    ).client("cloudformation", endpoint_url=args.endpoint)
    if args.delete:
        delete(cloudformation, args.stack_name)
        return
    missing = [
        flag for flag in ("template", "trusted_principal_arn", "external_id", "role_name")
        if getattr(args, flag) is None
    ]
    if missing:
        sys.exit("connector_stack.py: missing " + ", ".join("--" + m.replace("_", "-") for m in missing))
    print(deploy(
        cloudformation, args.template, args.stack_name, args.trusted_principal_arn,
        args.external_id, args.role_name,
    ))


if __name__ == "__main__":
    main()
