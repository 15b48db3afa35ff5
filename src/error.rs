//! The contract's error codes, and the one place where an AWS error becomes one of them.
//!
//! Every failure a command can end with is a [`Failure`]: a code from the contract and a message
//! for people. Messages never carry raw AWS error text (it can hold ARNs, role paths or request
//! ids); [`classify`] looks only at the error's code and HTTP status.

use std::fmt;

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use serde::Serialize;

/// The contract's error codes (section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidCommand,
    PayloadMismatch,
    NotConnected,
    PermissionMissing,
    NotProvisioned,
    NotFound,
    Conflict,
    LimitExceeded,
    Throttled,
    Unavailable,
    RetriesExhausted,
    TimedOut,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCommand => "INVALID_COMMAND",
            Self::PayloadMismatch => "PAYLOAD_MISMATCH",
            Self::NotConnected => "NOT_CONNECTED",
            Self::PermissionMissing => "PERMISSION_MISSING",
            Self::NotProvisioned => "NOT_PROVISIONED",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::Throttled => "THROTTLED",
            Self::Unavailable => "UNAVAILABLE",
            Self::RetriesExhausted => "RETRIES_EXHAUSTED",
            Self::TimedOut => "TIMED_OUT",
            Self::Internal => "INTERNAL",
        }
    }

    /// Whether the message is handed back to the queue for another attempt.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable | Self::Internal)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest message a record may carry (contract, section 2).
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// Why a command did not succeed: a contract code and a message that says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: sanitize_message(&message.into()),
        }
    }

    pub fn retryable(&self) -> bool {
        self.code.retryable()
    }
}

/// Keeps printable characters and tabs, and cuts to [`MAX_MESSAGE_CHARS`].
pub fn sanitize_message(message: &str) -> String {
    message
        .chars()
        .filter(|c| *c == '\t' || !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// What is known about a failed AWS call once its raw text is set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsFault {
    /// The service's error code (`ThrottlingException`, `AccessDenied`, ...), when it sent one.
    pub code: Option<String>,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// No response at all: a connection failure or a timeout.
    pub transport: bool,
    /// Lambda refused the function's execution role (`InvalidParameterValueException` about the
    /// role): right after the role was created this is IAM still propagating it. The one fact
    /// taken from an error's text, which is otherwise dropped.
    pub role_not_assumable: bool,
}

impl AwsFault {
    pub fn from_sdk<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Self {
        let transport = matches!(
            error,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        );
        let code = error.code().map(str::to_owned);
        let role_not_assumable = code.as_deref() == Some("InvalidParameterValueException")
            && error
                .message()
                .is_some_and(|m| m.to_ascii_lowercase().contains("role"));
        Self {
            code,
            status: error.raw_response().map(|r| r.status().as_u16()),
            transport,
            role_not_assumable,
        }
    }

    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    /// The error code, or what happened when AWS gave none: for a person reading a CLI message
    /// or a log line (never the raw AWS text).
    pub fn describe(&self) -> String {
        match (&self.code, self.status) {
            (Some(code), _) => code.clone(),
            (None, _) if self.transport => {
                "no answer from the endpoint: check the network, the region and AWS_ENDPOINT_URL"
                    .to_owned()
            }
            (None, Some(status)) => format!(
                "HTTP {status} without an error code (an emulator without this operation answers so)"
            ),
            (None, None) => "no request was sent: check the credentials and the region".to_owned(),
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code() == code
    }

    /// AWS asked us to slow down.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code(),
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "RequestThrottled"
                | "RequestThrottledException"
                | "SlowDown"
        ) || self.status == Some(429)
    }

    /// The credentials of an assumed session ran out; a fresh AssumeRole fixes it.
    pub fn is_expired_credentials(&self) -> bool {
        matches!(
            self.code(),
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired"
        )
    }

    /// An AWS quota or size limit would be passed (CloudFront names each quota `TooMany...`).
    pub fn is_quota(&self) -> bool {
        let code = self.code();
        (code.starts_with("TooMany") && !self.is_throttling())
            || matches!(
                code,
                "ServiceQuotaExceededException"
                    | "LimitExceededException"
                    | "LimitExceeded"
                    | "FunctionSizeLimitExceeded"
                    | "CodeStorageExceededException"
            )
    }

    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code(),
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation"
        )
    }
}

/// Turns a failed AWS call into the contract's code. `action` is the IAM action of the call
/// (`logs:CreateDelivery`), named in the message when the connector role lacks it.
///
/// Codes whose meaning depends on the call (`ResourceNotFoundException`, `ConflictException`)
/// are decided by the caller before it falls back to this function.
pub fn classify(fault: &AwsFault, action: &str) -> Failure {
    use ErrorCode::*;

    if fault.is_throttling() {
        return Failure::new(
            Throttled,
            format!("AWS throttled {action}; the command will be retried"),
        );
    }
    if fault.is_access_denied() {
        return Failure::new(
            PermissionMissing,
            format!(
                "the connector role is not allowed to call {action}; update the customer's \
                 connector role from the current template so that it grants {action}"
            ),
        );
    }
    if fault.is_expired_credentials() {
        return Failure::new(
            Unavailable,
            format!("the connector role session expired during {action}; it will be renewed"),
        );
    }
    if fault.is_quota() {
        return Failure::new(
            LimitExceeded,
            format!(
                "an AWS quota or size limit in the customer account blocks {action} ({}); raise \
                 the quota or remove unused resources",
                fault.code()
            ),
        );
    }
    match fault.code() {
        "ServiceUnavailableException"
        | "ServiceUnavailable"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalServiceErrorException"
        | "InternalError" => {
            return Failure::new(
                Unavailable,
                format!("AWS failed on its side during {action}; the command will be retried"),
            );
        }
        _ => {}
    }
    if fault.transport || fault.status.is_some_and(|s| s >= 500) {
        return Failure::new(
            Unavailable,
            format!(
                "AWS could not be reached or failed during {action}; the command will be retried"
            ),
        );
    }
    let code = if fault.code().is_empty() {
        "an unnamed error"
    } else {
        fault.code()
    };
    Failure::new(
        Internal,
        format!("{action} failed unexpectedly with {code}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: &str, status: u16) -> AwsFault {
        AwsFault {
            code: Some(code.to_owned()),
            status: Some(status),
            transport: false,
            role_not_assumable: false,
        }
    }

    #[test]
    fn throttling_in_every_spelling_is_retryable() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyRequestsException",
        ] {
            let failure = classify(&fault(code, 400), "logs:CreateDelivery");
            assert_eq!(failure.code, ErrorCode::Throttled, "{code}");
            assert!(failure.retryable());
        }
        let http_429 = AwsFault {
            code: None,
            status: Some(429),
            transport: false,
            role_not_assumable: false,
        };
        assert_eq!(classify(&http_429, "x:Y").code, ErrorCode::Throttled);
    }

    #[test]
    fn access_denied_names_the_action() {
        let failure = classify(
            &fault("AccessDeniedException", 400),
            "logs:PutDeliverySource",
        );
        assert_eq!(failure.code, ErrorCode::PermissionMissing);
        assert!(failure.message.contains("logs:PutDeliverySource"));
        assert!(!failure.retryable());
    }

    #[test]
    fn server_side_and_transport_failures_are_unavailable() {
        assert_eq!(
            classify(&fault("InternalFailure", 500), "a:B").code,
            ErrorCode::Unavailable
        );
        assert_eq!(
            classify(&fault("Whatever", 503), "a:B").code,
            ErrorCode::Unavailable
        );
        let transport = AwsFault {
            code: None,
            status: None,
            transport: true,
            role_not_assumable: false,
        };
        assert_eq!(classify(&transport, "a:B").code, ErrorCode::Unavailable);
    }

    #[test]
    fn cloudfront_quotas_are_limits_not_throttling() {
        for code in [
            "TooManyHeadersInCachePolicy",
            "TooManyCachePolicies",
            "FunctionSizeLimitExceeded",
        ] {
            let failure = classify(&fault(code, 400), "cloudfront:UpdateCachePolicy");
            assert_eq!(failure.code, ErrorCode::LimitExceeded, "{code}");
            assert!(failure.message.contains(code));
        }
        assert_eq!(
            classify(&fault("TooManyRequestsException", 429), "x:Y").code,
            ErrorCode::Throttled
        );
    }

    #[test]
    fn quotas_are_terminal() {
        let failure = classify(
            &fault("ServiceQuotaExceededException", 400),
            "logs:CreateDelivery",
        );
        assert_eq!(failure.code, ErrorCode::LimitExceeded);
        assert!(!failure.retryable());
    }

    #[test]
    fn unknown_errors_are_internal_and_name_only_the_code() {
        let failure = classify(&fault("ValidationException", 400), "logs:CreateDelivery");
        assert_eq!(failure.code, ErrorCode::Internal);
        assert_eq!(
            failure.message,
            "logs:CreateDelivery failed unexpectedly with ValidationException"
        );
    }

    #[test]
    fn messages_are_cut_and_cleaned() {
        let long = format!("a\u{0}b\n{}", "x".repeat(2000));
        let failure = Failure::new(ErrorCode::Internal, long);
        assert_eq!(failure.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(failure.message.starts_with("abx"));
    }
}
