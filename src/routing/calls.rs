//! How routing's AWS calls fail: the one place where a CloudFront, IAM or Lambda error becomes a
//! contract code, on top of the shared classification.

use crate::error::{classify, AwsFault, ErrorCode, Failure};

/// CloudFront refused the change itself: the distribution's configuration (or a limit of the
/// feature) does not accept it. Retrying the same request cannot help; a person must look.
fn is_refused_change(fault: &AwsFault) -> bool {
    let code = fault.code();
    code.starts_with("Invalid") || code.starts_with("Illegal") || code == "InconsistentQuantities"
}

/// A failed CloudFront call, named by its IAM action.
pub fn cloudfront_failure(fault: &AwsFault, action: &str) -> Failure {
    if fault.is_quota() || fault.is_throttling() || fault.is_access_denied() {
        return classify(fault, action);
    }
    if fault.is("InvalidIfMatchVersion") || fault.is("PreconditionFailed") {
        return Failure::new(
            ErrorCode::Unavailable,
            format!("the resource kept changing during {action}; the command will be retried"),
        );
    }
    if is_refused_change(fault) {
        return Failure::new(
            ErrorCode::Conflict,
            format!(
                "CloudFront refused {action} with {}: the distribution's current configuration \
                 does not accept the Edge Optimize change; review the behavior's settings (cache \
                 policy, associations, origins) and send the command again",
                fault.code()
            ),
        );
    }
    classify(fault, action)
}

/// A failed IAM or Lambda call.
pub fn aws_failure(fault: &AwsFault, action: &str) -> Failure {
    classify(fault, action)
}

/// A stale ETag: re-read and re-apply.
pub fn is_stale_etag(fault: &AwsFault) -> bool {
    fault.is("PreconditionFailed") || fault.is("InvalidIfMatchVersion")
}

/// How many times a step re-reads and re-applies after a stale ETag before it gives up for this
/// attempt (the message is then retried).
pub const STALE_ETAG_ATTEMPTS: u32 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: &str) -> AwsFault {
        AwsFault {
            code: Some(code.to_owned()),
            status: Some(400),
            transport: false,
            role_not_assumable: false,
        }
    }

    #[test]
    fn refused_changes_are_conflicts_and_stale_etags_are_retried() {
        let refused = cloudfront_failure(
            &fault("InvalidLambdaFunctionAssociation"),
            "cloudfront:UpdateDistribution",
        );
        assert_eq!(refused.code, ErrorCode::Conflict);
        assert!(refused.message.contains("InvalidLambdaFunctionAssociation"));
        let stale = cloudfront_failure(
            &fault("PreconditionFailed"),
            "cloudfront:UpdateDistribution",
        );
        assert!(stale.retryable());
        assert_eq!(
            cloudfront_failure(
                &fault("TooManyHeadersInCachePolicy"),
                "cloudfront:CreateCachePolicy"
            )
            .code,
            ErrorCode::LimitExceeded
        );
        assert_eq!(
            cloudfront_failure(&fault("Throttling"), "cloudfront:GetDistribution").code,
            ErrorCode::Throttled
        );
    }
}
