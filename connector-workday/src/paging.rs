//! Paging through a REST collection: the first page alone (it tells the
//! `total`), then up to `MaxConcurrentRequests` pages in flight at once,
//! handed out strictly in page order. At most that many pages are held in
//! memory, whatever the tenant's size.
//!
//! The read stops at `offset >= total` or at an empty page. A `total` that
//! changes between pages is drift: the read follows the newest `total` and
//! reports it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use connector_api::RunContext;
use futures::stream::{FuturesOrdered, StreamExt};
use serde_json::Value as Json;
use tokio::task::JoinHandle;

use crate::client::{PageResponse, WorkdayClient};
use crate::endpoint::Feed;
use crate::error::WorkdayError;
use crate::retry::RetryPolicy;

/// One page of records.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    /// The page's offset in the collection.
    pub offset: u64,
    /// The records.
    pub records: Vec<Json>,
}

/// A spawned page fetch, aborted when dropped (a failed or cancelled run
/// leaves nothing running).
struct Fetch {
    offset: u64,
    handle: JoinHandle<Result<PageResponse, WorkdayError>>,
}

impl Future for Fetch {
    type Output = (u64, Result<PageResponse, WorkdayError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let offset = self.offset;
        Pin::new(&mut self.handle).poll(cx).map(|joined| {
            let result = joined.unwrap_or_else(|e| {
                Err(WorkdayError::BadResponse {
                    what: format!("the page at offset {offset}"),
                    why: format!("the fetch task ended abnormally ({e})"),
                })
            });
            (offset, result)
        })
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Reads one feed page by page.
pub(crate) struct Pager {
    client: Arc<WorkdayClient>,
    feed: Feed,
    page_size: u32,
    updated_from: Option<DateTime<Utc>>,
    concurrency: usize,
    policy: RetryPolicy,
    ctx: RunContext,
    started: bool,
    done: bool,
    total: u64,
    next_offset: u64,
    in_flight: FuturesOrdered<Fetch>,
    drift: Vec<String>,
}

impl Pager {
    pub(crate) fn new(
        client: Arc<WorkdayClient>,
        feed: Feed,
        page_size: u32,
        updated_from: Option<DateTime<Utc>>,
        concurrency: u32,
        policy: RetryPolicy,
        ctx: RunContext,
    ) -> Self {
        Self {
            client,
            feed,
            page_size: page_size.max(1),
            updated_from,
            concurrency: concurrency.max(1) as usize,
            policy,
            ctx,
            started: false,
            done: false,
            total: 0,
            next_offset: 0,
            in_flight: FuturesOrdered::new(),
            drift: Vec::new(),
        }
    }

    /// What drifted while paging (empty for a stable read).
    pub(crate) fn drift(&self) -> &[String] {
        &self.drift
    }

    fn spawn(&mut self, offset: u64) {
        let client = Arc::clone(&self.client);
        let ctx = self.ctx.clone();
        let (feed, limit, from, policy) =
            (self.feed, self.page_size, self.updated_from, self.policy);
        let handle =
            tokio::spawn(async move { client.list(feed, offset, limit, from, &ctx, policy).await });
        self.in_flight.push_back(Fetch { offset, handle });
    }

    /// The next page in order, or `None` at the end.
    ///
    /// # Errors
    /// The first failed page's error (after its retries).
    pub(crate) async fn next_page(&mut self) -> Result<Option<Page>, WorkdayError> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            let first = self
                .client
                .list(
                    self.feed,
                    0,
                    self.page_size,
                    self.updated_from,
                    &self.ctx,
                    self.policy,
                )
                .await?;
            self.total = first.total;
            self.next_offset = u64::from(self.page_size);
            return Ok(self.accept(0, first));
        }
        while self.in_flight.len() < self.concurrency && self.next_offset < self.total {
            let offset = self.next_offset;
            self.spawn(offset);
            self.next_offset += u64::from(self.page_size);
        }
        let Some((offset, result)) = self.in_flight.next().await else {
            self.done = true;
            return Ok(None);
        };
        let page = result?;
        if page.total != self.total {
            self.drift.push(format!(
                "Workday's {} total changed from {} to {} while paging (at offset {offset}): records were added or removed during the read",
                self.feed.noun(),
                self.total,
                page.total
            ));
            self.total = page.total;
        }
        Ok(self.accept(offset, page))
    }

    fn accept(&mut self, offset: u64, page: PageResponse) -> Option<Page> {
        if page.data.is_empty() {
            self.done = true;
            self.in_flight = FuturesOrdered::new();
            if offset < self.total {
                self.drift.push(format!(
                    "Workday returned an empty {} page at offset {offset} although it reported {} records",
                    self.feed.noun(),
                    self.total
                ));
            }
            return None;
        }
        Some(Page {
            offset,
            records: page.data,
        })
    }
}
