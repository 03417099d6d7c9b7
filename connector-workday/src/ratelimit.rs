//! The client-side request budget: a [`governor`] token bucket of
//! `MaxRequestsPerHour`, with a burst so a normal run is not slowed.
//!
//! Every request (token and pages, retries included) takes one cell. The
//! bucket runs on tokio's clock, so waits honour a paused test clock and are
//! raced against cancellation.

use std::num::NonZeroU32;
use std::ops::Add;
use std::time::Duration;

use connector_api::RunContext;
use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::error::WorkdayError;

/// The largest burst: up to this many requests go out at once before the
/// bucket paces them at `MaxRequestsPerHour`.
pub const MAX_BURST: u32 = 100;

/// A point on tokio's clock, for governor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(tokio::time::Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, other: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: Self) -> Nanos {
        Nanos::from(self.0.saturating_duration_since(earlier.0))
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        TokioInstant(
            self.0
                .checked_sub(Duration::from(duration))
                .unwrap_or(self.0),
        )
    }
}

/// tokio's clock, for governor.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(tokio::time::Instant::now())
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// The connector's request budget, shared by every run of one connector.
pub struct RequestLimiter {
    bucket: Bucket,
    quota: Quota,
}

impl std::fmt::Debug for RequestLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestLimiter")
            .field("quota", &self.quota)
            .finish()
    }
}

impl RequestLimiter {
    /// `per_hour` requests an hour, with a burst of `min(per_hour, 100)`.
    ///
    /// ```
    /// use connector_workday::ratelimit::RequestLimiter;
    /// let l = RequestLimiter::per_hour(1000);
    /// assert_eq!(l.burst(), 100);
    /// assert_eq!(RequestLimiter::per_hour(10).burst(), 10);
    /// ```
    pub fn per_hour(per_hour: u32) -> Self {
        let rate = NonZeroU32::new(per_hour.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(per_hour.clamp(1, MAX_BURST)).unwrap_or(NonZeroU32::MIN);
        Self::with_quota(Quota::per_hour(rate).allow_burst(burst))
    }

    /// A bucket with any governor quota (tests use short periods).
    pub fn with_quota(quota: Quota) -> Self {
        Self {
            bucket: RateLimiter::direct_with_clock(quota, TokioClock),
            quota,
        }
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.quota.burst_size().get()
    }

    /// Waits for one request's cell, or until the run is cancelled.
    ///
    /// # Errors
    /// [`WorkdayError::Cancelled`] when `ctx` is cancelled first.
    pub async fn acquire(&self, ctx: &RunContext) -> Result<(), WorkdayError> {
        loop {
            if ctx.is_cancelled() {
                return Err(WorkdayError::Cancelled);
            }
            match self.bucket.check() {
                Ok(()) => return Ok(()),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(TokioClock.now());
                    tracing::debug!(
                        wait_ms = wait.as_millis() as u64,
                        "request budget spent; waiting (MaxRequestsPerHour)"
                    );
                    ctx.cancellation_token()
                        .run_until_cancelled(tokio::time::sleep(wait))
                        .await
                        .ok_or(WorkdayError::Cancelled)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_paced() {
        // 3600 an hour = one a second, burst 100.
        let l = RequestLimiter::per_hour(3600);
        let ctx = RunContext::new();
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            l.acquire(&ctx).await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        for _ in 0..5 {
            l.acquire(&ctx).await.unwrap();
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(5) && took < Duration::from_secs(6),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn small_quota_paces_every_request() {
        // 2 an hour: burst 2, then one every 30 minutes.
        let l = RequestLimiter::per_hour(2);
        let ctx = RunContext::new();
        let start = tokio::time::Instant::now();
        l.acquire(&ctx).await.unwrap();
        l.acquire(&ctx).await.unwrap();
        l.acquire(&ctx).await.unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_secs(1800), "{took:?}");
        assert!(took < Duration::from_secs(1801), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_wait_returns() {
        let l = RequestLimiter::per_hour(1);
        let ctx = RunContext::new();
        l.acquire(&ctx).await.unwrap();
        let c = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            c.cancel();
        });
        assert!(matches!(
            l.acquire(&ctx).await,
            Err(WorkdayError::Cancelled)
        ));
    }
}
