//! Polling helpers: wait for a condition until a deadline, never a bare sleep.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::Error;
use crate::client::Response;

/// Polls `check` until it returns `Ok(value)` or `timeout` passes. `check` returns `Err(reason)`
/// while the condition does not hold yet; the last reason is reported on timeout. Polls start
/// 20 ms apart and back off to 250 ms.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    wait_until_or_fail(timeout, what, || {
        let attempt = check();
        async move { attempt.await.map_err(Attempt::NotYet) }
    })
    .await
}

/// Why a check of [`wait_until_or_fail`] did not succeed.
#[derive(Debug)]
pub enum Attempt {
    /// Not yet: poll again; the reason is reported on timeout.
    NotYet(String),
    /// It never will (a child process exited): stop waiting with this error.
    Failed(Error),
}

/// [`wait_until`] for a condition that can fail for good: `check` returns
/// `Err(Attempt::Failed(e))` to end the wait at once with `e`.
pub async fn wait_until_or_fail<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut check: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    let start = Instant::now();
    let mut interval = Duration::from_millis(20);
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(Attempt::Failed(error)) => return Err(error),
            Err(Attempt::NotYet(reason)) => reason,
        };
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Err(Error::Timeout {
                what: what.to_owned(),
                seconds: elapsed.as_secs_f64(),
                last,
            });
        }
        tokio::time::sleep(interval.min(timeout - elapsed)).await;
        interval = (interval * 2).min(Duration::from_millis(250));
    }
}

/// Sends `request` until its answer has `status` or `timeout` passes: [`wait_until`] for an
/// answer. The answer with `status`; on timeout, the last answer's description.
pub async fn wait_for_status<F, Fut>(
    timeout: Duration,
    what: &str,
    status: u16,
    mut request: F,
) -> Result<Response, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Response>,
{
    wait_until(timeout, what, || {
        let answer = request();
        async move {
            let response = answer.await;
            if response.status == status {
                Ok(response)
            } else {
                Err(response.describe())
            }
        }
    })
    .await
}

/// The wall clock in Unix seconds (what token lifetimes are counted in).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Waits until the wall clock is past `at` (Unix seconds): for a short lifetime to run out.
pub async fn clock_past(at: u64) {
    wait_until(
        Duration::from_secs(at.saturating_sub(unix_now()) + 10),
        &format!("the clock to pass {at}"),
        || async move {
            if unix_now() > at {
                Ok(())
            } else {
                Err("not yet".to_owned())
            }
        },
    )
    .await
    .expect("the clock moves");
}

/// The default deadline for a gateway or upstream to come up.
pub const STARTUP: Duration = Duration::from_secs(30);
/// The default deadline for a manifest change to take effect (the contract is "a second or two";
/// the margin absorbs a loaded CI machine).
pub const RELOAD: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_condition_that_becomes_true_returns_its_value() {
        let mut calls = 0;
        let value = wait_until(Duration::from_secs(5), "third call", || {
            calls += 1;
            let now = calls;
            async move {
                if now >= 3 {
                    Ok(now)
                } else {
                    Err(format!("call {now}"))
                }
            }
        })
        .await
        .expect("condition met");
        assert_eq!(value, 3);
    }

    fn answer(status: u16) -> Response {
        Response {
            status: http::StatusCode::from_u16(status).expect("status"),
            version: http::Version::HTTP_11,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(format!("answer {status}")),
        }
    }

    #[tokio::test]
    async fn waiting_for_a_status_returns_the_first_answer_with_it() {
        let mut calls = 0;
        let response = wait_for_status(Duration::from_secs(5), "a 200", 200, || {
            calls += 1;
            let status = if calls >= 3 { 200 } else { 503 };
            async move { answer(status) }
        })
        .await
        .expect("a 200");
        assert_eq!(response.status, 200);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn waiting_for_a_status_that_never_comes_times_out_with_the_last_answer() {
        let err = wait_for_status(Duration::from_millis(60), "a 200", 200, || async {
            answer(503)
        })
        .await
        .expect_err("times out");
        let text = err.to_string();
        assert!(
            text.contains("a 200") && text.contains("answer 503"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_condition_that_never_holds_times_out_with_the_last_reason() {
        let err = wait_until(Duration::from_millis(60), "never", || async {
            Err::<(), _>("still false".to_owned())
        })
        .await
        .expect_err("times out");
        let text = err.to_string();
        assert!(
            text.contains("never") && text.contains("still false"),
            "{text}"
        );
    }
}
