//! What the onboarding link says when the template cannot be read, as S3 answers HeadObject:
//! a 404 to a caller that may list the bucket, a 403 to one that may not.

mod support;

use aws_sdk_s3 as s3;
use aws_smithy_mocks::{mock, MockResponse};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use cdn_onboard::bootstrap::{BootstrapError, Templates};
use cdn_onboard::ids::{AccountId, ImsOrgId};
use cdn_onboard::permissions::Variant;

/// Templates whose bucket answers every HeadObject with `status` and no body, as S3 does.
fn templates_answering(status: u16) -> Templates {
    let head = mock!(s3::Client::head_object).then_compute_response(move |_| {
        MockResponse::Http(HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::empty(),
        ))
    });
    Templates {
        s3: support::mocks::s3_client(&[&head]),
        bucket: "cdn-onboard-templates".to_owned(),
        trusted_principal_arn: "arn:aws:iam::123456789012:role/cdn-onboard-function".to_owned(),
        role_name: cdn_onboard::config::DEFAULT_ROLE_NAME.to_owned(),
    }
}

async fn link_error(status: u16) -> BootstrapError {
    templates_answering(status)
        .link(
            &AccountId::parse("111122223333").unwrap(),
            &ImsOrgId::parse("ABC123DEF456@AdobeOrg").unwrap(),
            Variant::LogOnly,
        )
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_missing_template_points_at_publishing_it() {
    let error = link_error(404).await;
    assert!(matches!(error, BootstrapError::Missing { .. }), "{error:?}");
    assert!(error.to_string().contains("step 4"), "{error}");
}

#[tokio::test]
async fn a_refused_read_names_both_causes_and_both_permissions() {
    let error = link_error(403).await;
    assert!(
        matches!(error, BootstrapError::Forbidden { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    for needed in [
        "connector-role-log-only.json",
        "step 4",
        "s3:GetObject",
        "s3:ListBucket",
    ] {
        assert!(text.contains(needed), "{needed}: {text}");
    }
}
