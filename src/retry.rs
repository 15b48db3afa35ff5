//! The in-call retry layer: bounded exponential backoff with jitter for failures that clear up
//! within seconds (throttling, "resource is being updated" conflicts).
//!
//! SDK retries are off on customer-account clients so that this is the only retry layer there;
//! anything still failing when the attempts or the invocation's time run out goes back to the
//! queue, which is the second and last layer.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tokio::time::Instant;

use crate::error::AwsFault;

#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub max_attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Backoff {
    /// What customer-account calls use: 5 attempts, 200 ms doubling to at most 3.2 s.
    pub const STANDARD: Backoff = Backoff {
        max_attempts: 5,
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_millis(3200),
    };

    /// The delay before attempt `attempt + 1` (attempts count from 1): full jitter over an
    /// exponentially growing cap.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let cap = self
            .first_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let half = cap / 2;
        half + Duration::from_millis(fastrand::u64(0..=half.as_millis() as u64))
    }
}

/// Runs `operation` until it succeeds, fails with an error `should_retry` refuses, runs out of
/// attempts, or the next delay would end after `deadline`. Returns the last error then.
pub async fn retry<T, E, F, Fut>(
    backoff: Backoff,
    deadline: Instant,
    should_retry: impl Fn(&E) -> bool,
    mut operation: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        let error = match operation().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if attempt >= backoff.max_attempts || !should_retry(&error) {
            return Err(error);
        }
        let delay = backoff.delay_after(attempt);
        if Instant::now() + delay >= deadline {
            return Err(error);
        }
        tracing::warn!(
            attempt,
            delay_ms = delay.as_millis() as u64,
            "retrying after a transient AWS error"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// One AWS call, retried in place while AWS throttles or fails on its side. The error comes
/// back as an [`AwsFault`], its raw text already set aside.
pub async fn aws_call<T, E, F, Fut>(deadline: Instant, operation: F) -> Result<T, AwsFault>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    aws_call_retrying(deadline, is_transient, operation).await
}

/// As [`aws_call`], retrying whatever `should_retry` accepts.
pub async fn aws_call_retrying<T, E, F, Fut>(
    deadline: Instant,
    should_retry: impl Fn(&AwsFault) -> bool,
    mut operation: F,
) -> Result<T, AwsFault>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    retry(Backoff::STANDARD, deadline, should_retry, || {
        let attempt = operation();
        async move {
            attempt.await.map_err(|error| {
                let fault = AwsFault::from_sdk(&error);
                tracing::debug!(
                    aws_error = fault.code(),
                    status = fault.status,
                    "AWS call failed"
                );
                fault
            })
        }
    })
    .await
}

/// Failures that clear up by themselves: throttling, and AWS failing or unreachable.
pub fn is_transient(fault: &AwsFault) -> bool {
    fault.is_throttling() || fault.transport || fault.status.is_some_and(|s| s >= 500)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const FAST: Backoff = Backoff {
        max_attempts: 4,
        first_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
    };

    #[test]
    fn delays_grow_and_stay_capped() {
        for attempt in 1..10 {
            let delay = Backoff::STANDARD.delay_after(attempt);
            assert!(delay <= Backoff::STANDARD.max_delay, "{attempt}: {delay:?}");
        }
        assert!(Backoff::STANDARD.delay_after(1) <= Duration::from_millis(200));
        assert!(Backoff::STANDARD.delay_after(4) >= Duration::from_millis(800));
    }

    #[tokio::test]
    async fn retries_until_success() {
        let calls = Cell::new(0);
        let far = Instant::now() + Duration::from_secs(10);
        let result: Result<u32, &str> = retry(
            FAST,
            far,
            |_| true,
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Err("busy")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
    }

    #[tokio::test]
    async fn stops_at_the_attempt_limit_and_on_refused_errors() {
        let calls = Cell::new(0);
        let far = Instant::now() + Duration::from_secs(10);
        let result: Result<(), &str> = retry(
            FAST,
            far,
            |_| true,
            || {
                calls.set(calls.get() + 1);
                async { Err("busy") }
            },
        )
        .await;
        assert_eq!((result, calls.get()), (Err("busy"), 4));

        calls.set(0);
        let _ = retry(
            FAST,
            far,
            |e: &&str| *e == "busy",
            || {
                calls.set(calls.get() + 1);
                async { Err::<(), _>("fatal") }
            },
        )
        .await;
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn never_sleeps_past_the_deadline() {
        let calls = Cell::new(0);
        let result: Result<(), &str> = retry(
            FAST,
            Instant::now(),
            |_| true,
            || {
                calls.set(calls.get() + 1);
                async { Err("busy") }
            },
        )
        .await;
        assert_eq!((result, calls.get()), (Err("busy"), 1));
    }
}
