//! The connector against mocked STS: the AssumeRole request, session reuse, and denial.

mod support;

use aws_sdk_sts::Client;
use aws_smithy_mocks::mock;
use cdn_onboard::aws_calls::AwsCalls;
use cdn_onboard::connector::Connector;
use cdn_onboard::error::ErrorCode;
use cdn_onboard::ids::{AccountId, ImsOrgId, SiteId};
use support::mocks::{granted, logs_template, sts_client, sts_error, with_logs, RAW_AWS_TEXT};

const ROLE: &str = "arn:aws:iam::111122223333:role/AdobeLLMOptimizerCloudFrontConnectorRole";

fn ids(org: &str) -> (AccountId, SiteId, ImsOrgId) {
    (
        AccountId::parse("111122223333").unwrap(),
        SiteId::parse("site-42").unwrap(),
        ImsOrgId::parse(org).unwrap(),
    )
}

#[tokio::test]
async fn assumes_with_the_org_as_external_id_and_a_site_session_name() {
    let assume = mock!(Client::assume_role)
        .match_requests(|r| {
            r.role_arn() == Some(ROLE)
                && r.external_id() == Some("ABC123DEF456@AdobeOrg")
                && r.role_session_name() == Some("cdn-onboard-site-42")
                && r.duration_seconds() == Some(900)
        })
        .then_output(granted);
    let connector = Connector::new(
        sts_client(&[&assume]),
        with_logs(logs_template(&[])),
        "AdobeLLMOptimizerCloudFrontConnectorRole",
    );
    let (account, site, org) = ids("ABC123DEF456@AdobeOrg");
    let calls = AwsCalls::new();

    let session = connector
        .session(&account, &site, &org, &calls)
        .await
        .unwrap();
    connector
        .session(&account, &site, &org, &calls)
        .await
        .unwrap();

    assert_eq!(
        assume.num_calls(),
        1,
        "the second call reuses the valid session"
    );
    assert_eq!(calls.count(), 1);
    let printed = format!("{session:?}");
    assert!(
        !printed.contains("SENTINEL-SECRET") && !printed.contains("SENTINEL-TOKEN"),
        "{printed}"
    );
}

#[tokio::test]
async fn a_session_is_never_shared_between_tenants() {
    let assume = mock!(Client::assume_role).then_output(granted);
    let connector = Connector::new(
        sts_client(&[&assume]),
        with_logs(logs_template(&[])),
        "AdobeLLMOptimizerCloudFrontConnectorRole",
    );
    let calls = AwsCalls::new();

    let (account, site, org) = ids("ABC123DEF456@AdobeOrg");
    connector
        .session(&account, &site, &org, &calls)
        .await
        .unwrap();
    let (account, site, other_org) = ids("OTHER000000@AdobeOrg");
    connector
        .session(&account, &site, &other_org, &calls)
        .await
        .unwrap();

    assert_eq!(assume.num_calls(), 2);
}

#[tokio::test]
async fn a_wrong_external_id_is_not_connected() {
    let assume = mock!(Client::assume_role).then_http_response(|| sts_error(403, "AccessDenied"));
    let connector = Connector::new(
        sts_client(&[&assume]),
        with_logs(logs_template(&[])),
        "AdobeLLMOptimizerCloudFrontConnectorRole",
    );
    let (account, site, org) = ids("WRONG000000@AdobeOrg");

    let failure = connector
        .session(&account, &site, &org, &AwsCalls::new())
        .await
        .unwrap_err();

    assert_eq!(failure.code, ErrorCode::NotConnected);
    assert!(!failure.retryable());
    assert!(failure.message.contains(ROLE));
    assert!(!failure.message.contains(RAW_AWS_TEXT));
}

#[tokio::test]
async fn throttled_assume_is_retryable() {
    let assume = mock!(Client::assume_role)
        .sequence()
        .http_response(|| sts_error(400, "Throttling"))
        .repeatedly()
        .build();
    let connector = Connector::new(
        sts_client(&[&assume]),
        with_logs(logs_template(&[])),
        "AdobeLLMOptimizerCloudFrontConnectorRole",
    );
    let (account, site, org) = ids("ABC123DEF456@AdobeOrg");

    let failure = connector
        .session(&account, &site, &org, &AwsCalls::new())
        .await
        .unwrap_err();

    assert_eq!(failure.code, ErrorCode::Throttled);
}
