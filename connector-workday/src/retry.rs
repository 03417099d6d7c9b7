//! Retrying transient failures: the policy, the injectable sleeper, and
//! `Retry-After` parsing.
//!
//! The loop itself is [`backon`]'s: exponential back-off from
//! [`RetryPolicy::base`], doubling, optional jitter, every delay capped at
//! [`RetryPolicy::cap`]. A `Retry-After` within the cap replaces the computed
//! delay; one beyond the cap stops the run at once
//! ([`WorkdayError::RetryAfterTooLong`]).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use connector_api::{CancellationToken, RunContext};
use futures::future::BoxFuture;

use crate::error::WorkdayError;

/// How often and how long to retry a transient failure.
///
/// ```
/// use std::time::Duration;
/// use connector_workday::retry::RetryPolicy;
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_retries, 3);
/// assert_eq!(p.cap, Duration::from_secs(30));
/// assert_eq!(RetryPolicy::exact().delays(), [1, 2, 4].map(Duration::from_secs));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (3).
    pub max_retries: u32,
    /// The first back-off delay (1 s); each next one doubles.
    pub base: Duration,
    /// No delay is longer (30 s); a `Retry-After` beyond it fails the run.
    pub cap: Duration,
    /// Whether to add random jitter (up to the delay again, still capped).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// The default policy without jitter, for exact delay assertions.
    pub fn exact() -> Self {
        Self {
            jitter: false,
            ..Self::default()
        }
    }

    /// A policy that never retries (health checks use it).
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::exact()
        }
    }

    fn builder(&self) -> ExponentialBuilder {
        let b = ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.cap)
            .with_factor(2.0)
            .with_max_times(self.max_retries as usize);
        if self.jitter {
            b.with_jitter()
        } else {
            b
        }
    }

    /// The back-off delays this policy waits, without `Retry-After` (with
    /// jitter, one random draw).
    pub fn delays(&self) -> Vec<Duration> {
        use backon::BackoffBuilder;
        self.builder().build().map(|d| d.min(self.cap)).collect()
    }
}

/// Waits between retries. The default sleeps on the tokio clock; tests inject
/// [`RecordingSleeper`] so that they never sleep and can assert the delays.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug + 'static {
    /// Waits `delay`.
    async fn sleep(&self, delay: Duration);
}

/// Sleeps with `tokio::time::sleep` (honours tokio's paused test clock).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, delay: Duration) {
        tokio::time::sleep(delay).await;
    }
}

/// Records each requested delay and returns at once.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use connector_workday::retry::{RecordingSleeper, Sleeper};
/// let s = RecordingSleeper::new();
/// s.sleep(Duration::from_secs(30)).await; // returns immediately
/// assert_eq!(s.delays(), [Duration::from_secs(30)]);
/// # });
/// ```
#[derive(Debug, Default, Clone)]
pub struct RecordingSleeper {
    delays: Arc<Mutex<Vec<Duration>>>,
}

impl RecordingSleeper {
    /// A sleeper with no delays recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every delay requested so far, in order (clones share the record).
    pub fn delays(&self) -> Vec<Duration> {
        self.delays.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Forgets the recorded delays.
    pub fn clear(&self) {
        if let Ok(mut d) = self.delays.lock() {
            d.clear();
        }
    }
}

#[async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, delay: Duration) {
        if let Ok(mut d) = self.delays.lock() {
            d.push(delay);
        }
        tokio::task::yield_now().await;
    }
}

/// Parses a `Retry-After` value: whole seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`), relative to `now`. A date in the past
/// means no wait. A number of seconds too large for a `u64` saturates (it is
/// then above any cap, so the run fails fast rather than ignoring it).
/// Anything else is `None` (the computed back-off applies).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use connector_workday::retry::parse_retry_after;
/// let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
/// assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
/// let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
/// assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(90)));
/// assert_eq!(parse_retry_after("99999999999999999999999", now),
///     Some(Duration::from_secs(u64::MAX)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: the only possible parse error is overflow.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// backon's sleeper: the injected [`Sleeper`], cut short by cancellation (the
/// next attempt then sees the cancellation and ends the loop).
struct CancellableSleep {
    sleeper: Arc<dyn Sleeper>,
    cancel: CancellationToken,
}

impl backon::Sleeper for CancellableSleep {
    type Sleep = BoxFuture<'static, ()>;

    fn sleep(&self, delay: Duration) -> Self::Sleep {
        let sleeper = Arc::clone(&self.sleeper);
        let cancel = self.cancel.clone();
        Box::pin(async move {
            let _ = cancel.run_until_cancelled(sleeper.sleep(delay)).await;
        })
    }
}

/// One attempt of a request, producing a future that owns what it uses.
///
/// A boxed `'static` closure rather than a generic: closures borrowing from
/// the caller trip rustc's higher-ranked `Send` inference once held across
/// the retry loop's awaits.
pub(crate) type Attempt<T> = Box<dyn FnMut() -> BoxFuture<'static, Result<T, WorkdayError>> + Send>;

/// Runs `op` under `policy`: transient failures are retried after a back-off
/// (or `Retry-After`) delay slept through `sleeper`, racing cancellation;
/// every retry is counted in `ctx`. A `Retry-After` beyond the cap stops at
/// once; retries running out wrap the last failure in
/// [`WorkdayError::Exhausted`]. `op`'s futures own what they use.
pub(crate) async fn retrying<T: Send + 'static>(
    policy: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    ctx: RunContext,
    mut op: Attempt<T>,
) -> Result<T, WorkdayError> {
    let cap = policy.cap;
    // Owned values only (here and in `op`): borrows held across the await
    // trip rustc's higher-ranked `Send` inference in callers.
    let counter = ctx.clone();
    let retries = Arc::new(AtomicU32::new(0));
    let retries_seen = Arc::clone(&retries);
    let result = (move || op())
        .retry(policy.builder())
        .sleep(CancellableSleep {
            sleeper,
            cancel: ctx.cancellation_token().clone(),
        })
        .when(move |e: &WorkdayError| e.is_transient() && e.retry_after().is_none_or(|d| d <= cap))
        .adjust(move |e: &WorkdayError, delay: Option<Duration>| {
            delay.map(|d| e.retry_after().unwrap_or(d).min(cap))
        })
        .notify(move |e: &WorkdayError, delay: Duration| {
            let n = retries_seen.fetch_add(1, Ordering::Relaxed) + 1;
            counter.metrics().add_retry();
            tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, retry = n, "retrying a Workday request");
        })
        .await;
    let retries = retries.load(Ordering::Relaxed);
    result.map_err(|e| {
        if ctx.is_cancelled() {
            return WorkdayError::Cancelled;
        }
        match e {
            WorkdayError::Throttled {
                what,
                retry_after: Some(wait),
            } if wait > cap => WorkdayError::RetryAfterTooLong {
                what,
                status: 429,
                wait,
                cap,
            },
            WorkdayError::Server {
                what,
                status,
                retry_after: Some(wait),
                ..
            } if wait > cap && e_is_retry_status(status) => WorkdayError::RetryAfterTooLong {
                what,
                status,
                wait,
                cap,
            },
            e if e.is_transient() && retries > 0 => WorkdayError::Exhausted {
                retries,
                last: Box::new(e),
            },
            e => e,
        }
    })
}

fn e_is_retry_status(status: u16) -> bool {
    matches!(status, 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(after: Option<u64>) -> WorkdayError {
        WorkdayError::Throttled {
            what: "the workers page at offset 0".into(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    /// Runs `attempt` (given the attempt number, from 0) under the exact
    /// policy with a recording sleeper: the result, the delays slept, the
    /// retries counted and the attempts made.
    async fn run_counted<T: Send + 'static>(
        attempt: impl Fn(u32) -> Result<T, WorkdayError> + Send + Sync + 'static,
    ) -> (Result<T, WorkdayError>, Vec<Duration>, u64, u32) {
        let rec = RecordingSleeper::new();
        let ctx = RunContext::new();
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        let attempt = Arc::new(attempt);
        let r = retrying(
            RetryPolicy::exact(),
            Arc::new(rec.clone()),
            ctx.clone(),
            Box::new(move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                let result = attempt(n);
                Box::pin(async move { result })
            }),
        )
        .await;
        let retries = ctx.metrics().snapshot().retries;
        (r, rec.delays(), retries, calls.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn retries_three_times_with_doubling_delays() {
        let (r, delays, retries, calls) = run_counted(|_| Err::<(), _>(throttled(None))).await;
        assert_eq!(calls, 4);
        assert_eq!(delays, [1, 2, 4].map(Duration::from_secs));
        assert_eq!(retries, 3);
        assert!(matches!(r, Err(WorkdayError::Exhausted { retries: 3, .. })));
    }

    #[tokio::test]
    async fn retry_after_within_cap_is_the_delay_and_beyond_cap_stops() {
        let (r, delays, _, _) = run_counted(|n| {
            if n == 0 {
                Err(throttled(Some(7)))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(delays, [Duration::from_secs(7)]);

        let (r, delays, retries, calls) = run_counted(|_| Err::<(), _>(throttled(Some(31)))).await;
        assert!(delays.is_empty());
        assert_eq!((retries, calls), (0, 1));
        match r {
            Err(WorkdayError::RetryAfterTooLong { wait, .. }) => {
                assert_eq!(wait, Duration::from_secs(31));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_overflowing_retry_after_is_above_the_cap() {
        let now = SystemTime::now();
        let wait = parse_retry_after("184467440737095516160000", now);
        assert_eq!(wait, Some(Duration::from_secs(u64::MAX)));
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        let (r, delays, retries, calls) = run_counted(move |_| {
            Err::<(), _>(WorkdayError::Throttled {
                what: "w".into(),
                retry_after: wait,
            })
        })
        .await;
        assert!(delays.is_empty());
        assert_eq!((retries, calls), (0, 1));
        assert!(
            matches!(r, Err(WorkdayError::RetryAfterTooLong { wait, .. }) if wait == Duration::from_secs(u64::MAX))
        );
    }

    #[tokio::test]
    async fn jitter_stays_under_the_cap() {
        let p = RetryPolicy {
            max_retries: 10,
            ..RetryPolicy::default()
        };
        for d in p.delays() {
            assert!(d <= p.cap);
        }
    }

    #[tokio::test]
    async fn non_transient_is_not_retried() {
        let (r, delays, _, calls) = run_counted(|_| {
            Err::<(), _>(WorkdayError::Rejected {
                what: "x".into(),
                status: 400,
                detail: String::new(),
            })
        })
        .await;
        assert!(matches!(r, Err(WorkdayError::Rejected { .. })));
        assert_eq!(calls, 1);
        assert!(delays.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_the_back_off() {
        let sleeper: Arc<dyn Sleeper> = Arc::new(TokioSleeper);
        let ctx = RunContext::new();
        let c2 = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            c2.cancel();
        });
        let policy = RetryPolicy {
            base: Duration::from_secs(3600),
            cap: Duration::from_secs(3600),
            ..RetryPolicy::exact()
        };
        let start = tokio::time::Instant::now();
        let r: Result<(), _> = retrying(
            policy,
            sleeper.clone(),
            ctx.clone(),
            Box::new({
                let ctx = ctx.clone();
                move || {
                    let ctx = ctx.clone();
                    Box::pin(async move {
                        if ctx.is_cancelled() {
                            Err(WorkdayError::Cancelled)
                        } else {
                            Err(throttled(None))
                        }
                    })
                }
            }),
        )
        .await;
        assert!(matches!(r, Err(WorkdayError::Cancelled)));
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
