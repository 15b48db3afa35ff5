//! The customer's side of onboarding on the local stack: each connector role template deployed
//! as a customer deploys it (a CloudFormation stack in the customer account), the role then
//! assumed by the service's connector with the tenant's external id, and the quick-create link
//! from `cdn-onboard bootstrap-url` opening the current template with the right parameters.
//!
//! The emulator's IAM does not evaluate a role's permission policy, so what each variant
//! grants is checked against the code in `tests/permissions.rs` and, for the log-only role,
//! with mocks in `tests/deploy_emulator.rs`.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cdn_onboard::aws_calls::AwsCalls;
use cdn_onboard::connector::{ClientTemplates, Connector};
use cdn_onboard::customer_template;
use cdn_onboard::error::ErrorCode;
use cdn_onboard::ids::{AccountId, ImsOrgId, SiteId};
use cdn_onboard::permissions::Variant;
use support::stack::{unique_suffix, Stack};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs scripts/local_stack/connector_stack.py against the stack with `args`; its STDOUT.
fn connector_stack(stack: &Stack, args: &[&str]) -> String {
    let accounts_file = PathBuf::from(stack.var("CDN_ONBOARD_LOCAL_ACCOUNTS_FILE"));
    let output = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("scripts/local_stack/connector_stack.py"))
        .args(["--endpoint", stack.var("AWS_ENDPOINT_URL")])
        .arg("--state-dir")
        .arg(accounts_file.parent().unwrap())
        .args(args)
        .output()
        .expect("run connector_stack.py (scripts/test installs .venv)");
    assert!(
        output.status.success(),
        "connector_stack.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Deploys `template` as stack `stack_name`; the role's ARN.
fn deploy(stack: &Stack, template: &Path, stack_name: &str, org: &str, role_name: &str) -> String {
    connector_stack(
        stack,
        &[
            "--template",
            template.to_str().unwrap(),
            "--stack-name",
            stack_name,
            "--trusted-principal-arn",
            stack.var("CDN_ONBOARD_TRUSTED_PRINCIPAL_ARN"),
            "--external-id",
            org,
            "--role-name",
            role_name,
        ],
    )
}

/// Assumes `role_name` in the demo customer account as the service does, for tenant `org`.
async fn assume(stack: &Stack, role_name: &str, org: &str) -> Result<(), ErrorCode> {
    let connector = Connector::new(
        aws_sdk_sts::Client::new(&stack.sdk),
        ClientTemplates::from_sdk(&stack.sdk),
        role_name,
    );
    connector
        .session(
            &AccountId::parse(stack.var("DEMO_ACCOUNT_ID")).unwrap(),
            &SiteId::parse("site-connector-test").unwrap(),
            &ImsOrgId::parse(org).unwrap(),
            &AwsCalls::new(),
        )
        .await
        .map(|_| ())
        .map_err(|failure| failure.code)
}

fn unique_org() -> String {
    format!("ORG{}@AdobeOrg", unique_suffix().to_uppercase())
}

#[tokio::test]
async fn each_templates_role_is_assumed_with_the_tenants_external_id_and_only_with_it() {
    let stack = Stack::connect().await;
    for variant in Variant::ALL {
        let (org, role_name) = (unique_org(), format!("connector-test-{}", unique_suffix()));
        let stack_name = format!("connector-test-{}", unique_suffix());
        let template = repo()
            .join("infra/customer")
            .join(customer_template::file_name(variant));
        let role_arn = deploy(&stack, &template, &stack_name, &org, &role_name);
        assert_eq!(
            role_arn,
            format!(
                "arn:aws:iam::{}:role/{role_name}",
                stack.var("DEMO_ACCOUNT_ID")
            )
        );

        assert_eq!(
            assume(&stack, &role_name, &org).await,
            Ok(()),
            "{variant:?}"
        );
        assert_eq!(
            assume(&stack, &role_name, &unique_org()).await,
            Err(ErrorCode::NotConnected),
            "another tenant's external id is refused ({variant:?})"
        );

        connector_stack(&stack, &["--stack-name", &stack_name, "--delete"]);
        assert_eq!(
            assume(&stack, &role_name, &org).await,
            Err(ErrorCode::NotConnected),
            "deleting the stack disconnects the account ({variant:?})"
        );
    }
}

#[tokio::test]
async fn the_demo_role_is_the_seeded_stack_of_the_current_template() {
    let stack = Stack::connect().await;
    // The seed deployed infra/customer/connector-role-log-and-routing.json; the service assumes
    // the resulting role with the demo tenant's org id.
    assert_eq!(
        assume(
            &stack,
            stack.var("EDGE_OPTIMIZE_ROLE_NAME"),
            stack.var("DEMO_IMS_ORG_ID")
        )
        .await,
        Ok(())
    );
}

/// `cdn-onboard bootstrap-url ARGS` with the stack's environment: (exit ok, stdout, stderr).
fn bootstrap_url(stack: &Stack, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cdn-onboard"))
        .arg("bootstrap-url")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(stack.vars())
        .output()
        .expect("run cdn-onboard");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The quick-create parameters after the console URL's `#/stacks/quickcreate?`.
fn link_parameters(url: &str) -> HashMap<String, String> {
    let (page, query) = url
        .split_once("#/stacks/quickcreate?")
        .expect("a quick-create link");
    assert_eq!(
        page,
        "https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1"
    );
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_quick_create_link_opens_the_current_template_and_its_parameters_connect() {
    let stack = Stack::connect().await;
    let account = stack.var("DEMO_ACCOUNT_ID");
    for variant in Variant::ALL {
        let org = unique_org();
        let (ok, stdout, stderr) = bootstrap_url(
            &stack,
            &[
                "--account-id",
                account,
                "--ims-org-id",
                &org,
                "--variant",
                variant.as_str(),
            ],
        );
        assert!(ok, "{stderr}");
        let parameters = link_parameters(stdout.trim());
        assert_eq!(parameters["stackName"], cdn_onboard::bootstrap::STACK_NAME);
        assert_eq!(
            parameters["param_ExternalId"], org,
            "the connector's external id"
        );
        assert_eq!(
            parameters["param_TrustedPrincipalArn"],
            stack.var("CDN_ONBOARD_TRUSTED_PRINCIPAL_ARN")
        );
        assert_eq!(
            parameters["param_RoleName"],
            stack.var("EDGE_OPTIMIZE_ROLE_NAME")
        );
        let template_url = &parameters["templateURL"];
        assert!(
            template_url.contains("X-Amz-Expires=900") && template_url.contains("X-Amz-Signature="),
            "presigned for 15 minutes: {template_url}"
        );

        // What the console would load: the current template of this variant.
        let template = reqwest::get(template_url)
            .await
            .expect("fetch the presigned template")
            .text()
            .await
            .unwrap();
        assert!(
            template == customer_template::text(variant),
            "the bucket serves another {variant:?} template than infra/customer/ holds \
             (`scripts/local-stack up` uploads the current ones)"
        );

        // Launching it with the link's parameters (under a role name of the test's own)
        // connects the account for this tenant.
        let path = std::env::temp_dir().join(format!("connector-{}.json", unique_suffix()));
        std::fs::write(&path, &template).unwrap();
        let role_name = format!("connector-link-{}", unique_suffix());
        let stack_name = format!("connector-link-{}", unique_suffix());
        connector_stack(
            &stack,
            &[
                "--template",
                path.to_str().unwrap(),
                "--stack-name",
                &stack_name,
                "--trusted-principal-arn",
                &parameters["param_TrustedPrincipalArn"],
                "--external-id",
                &parameters["param_ExternalId"],
                "--role-name",
                &role_name,
            ],
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(assume(&stack, &role_name, &org).await, Ok(()));
        connector_stack(&stack, &["--stack-name", &stack_name, "--delete"]);
    }
}

#[tokio::test]
async fn bootstrap_url_refuses_bad_input_with_the_rule() {
    let stack = Stack::connect().await;
    let org = "ABC123DEF456@AdobeOrg";
    for (args, expected) in [
        (
            vec!["--account-id", "1234", "--ims-org-id", org],
            "--account-id",
        ),
        (
            vec!["--account-id", "111122223333", "--ims-org-id", "not-an-org"],
            "--ims-org-id",
        ),
        (
            vec![
                "--account-id",
                "111122223333",
                "--ims-org-id",
                org,
                "--variant",
                "routing-only",
            ],
            "--variant",
        ),
        (
            vec![
                "--account-id",
                "111122223333",
                "--ims-org-id",
                org,
                "--trusted-principal-arn",
                "arn:aws:iam::123456789012:user/someone",
            ],
            "not an IAM role or account ARN",
        ),
        (
            vec![
                "--account-id",
                "111122223333",
                "--ims-org-id",
                org,
                "--template-bucket",
                "no-such-template-bucket",
            ],
            "holds no connector-role-log-and-routing.json: publish infra/customer",
        ),
    ] {
        let (ok, stdout, stderr) = bootstrap_url(&stack, &args);
        assert!(!ok && stdout.is_empty(), "{args:?} is refused");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn redrive_refuses_a_rate_sqs_does_not_take() {
    for rate in ["0", "501", "many"] {
        let output = Command::new(env!("CARGO_BIN_EXE_cdn-onboard"))
            .args([
                "redrive",
                "--queue-url",
                "http://127.0.0.1:9/q",
                "--per-second",
                rate,
            ])
            .output()
            .expect("run cdn-onboard");
        assert!(!output.status.success(), "--per-second {rate} is refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--per-second"), "{rate}: {stderr}");
    }
}
