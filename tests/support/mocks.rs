//! Clients answered by `aws-smithy-mocks` rules instead of the network, and AWS error responses
//! shaped as the services send them.

use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_sts as sts;
use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// Raw AWS error text that must never reach a record or a log line.
pub const RAW_AWS_TEXT: &str =
    "SENTINEL-RAW-AWS-TEXT User: arn:aws:sts::111122223333:assumed-role/x is not authorized";

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// A Logs config builder whose calls are answered by `rules` (credentials and region are set
/// by the code under test, as for real customer sessions).
pub fn logs_template(rules: &[&Rule]) -> logs::config::Builder {
    logs::Config::builder()
        .behavior_version(logs::config::BehaviorVersion::latest())
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
}

/// Client templates for a connector whose customer-account Logs calls are answered by mocks.
pub fn with_logs(logs: logs::config::Builder) -> cdn_onboard::connector::ClientTemplates {
    cdn_onboard::connector::ClientTemplates {
        logs,
        ..Default::default()
    }
}

pub fn logs_client(rules: &[&Rule]) -> logs::Client {
    let config = logs_template(rules)
        .region(logs::config::Region::from_static("us-east-1"))
        .credentials_provider(logs::config::Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "mock",
        ))
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    logs::Client::from_conf(config)
}

/// The service's own S3 (site configurations, customer templates) answered by `rules`.
pub fn s3_client(rules: &[&Rule]) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKIDSERVICE",
            "service-secret",
            None,
            None,
            "mock",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

pub fn sts_client(rules: &[&Rule]) -> sts::Client {
    let config = sts::Config::builder()
        .behavior_version(sts::config::BehaviorVersion::latest())
        .region(sts::config::Region::from_static("us-east-1"))
        .credentials_provider(sts::config::Credentials::new(
            "AKIDSERVICE",
            "service-secret",
            None,
            None,
            "mock",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .build();
    sts::Client::from_conf(config)
}

/// A CloudWatch Logs (JSON protocol) error response.
pub fn json_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{RAW_AWS_TEXT}"}}"#);
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// An STS (query protocol) error response.
pub fn sts_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{RAW_AWS_TEXT}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    );
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// A granted AssumeRole whose credentials are sentinels, so tests can prove they never leak.
pub fn granted() -> sts::operation::assume_role::AssumeRoleOutput {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    sts::operation::assume_role::AssumeRoleOutput::builder()
        .credentials(
            sts::types::Credentials::builder()
                .access_key_id("ASIASENTINELKEY")
                .secret_access_key("SENTINEL-SECRET")
                .session_token("SENTINEL-TOKEN")
                .expiration(sts::primitives::DateTime::from_secs(now + 900))
                .build()
                .unwrap(),
        )
        .build()
}

/// An SQS client whose calls are answered by `rules`.
pub fn sqs_client(rules: &[&Rule]) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::from_static("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "AKIDSERVICE",
            "service-secret",
            None,
            None,
            "mock",
        ))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}
