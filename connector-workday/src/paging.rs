//! Paging through a REST collection: the first page alone (it tells the
//! `total`), then up to `MaxConcurrentRequests` pages in flight at once,
//! handed out strictly in page order. At most that many pages are held in
//! memory, whatever the tenant's size.
//!
//! The read stops at `offset >= total` or at an empty page. A `total` that
//! changes between pages is drift: the read follows the newest `total` and
//! reports it. So is a page shorter than asked for that ends before `total`
//! (the next page starts a whole page on, so records were skipped): the read
//! goes on and reports it.
//!
//! The first page's `Date` header is kept: it is the server time the read
//! started, which the feed's new watermark never passes.
//!
//! Each page is prepared inside its fetch task: a REST body is parsed into
//! records borrowed from it ([`crate::record::RestPage`]), and each record
//! is filtered and mapped to its change by the run's [`Prepare`], so that
//! parsing and mapping the pages in flight run in parallel, off the path
//! that hands pages to the sink in order. Only the changes outlive the task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use connector_api::RunContext;
use futures::stream::{FuturesOrdered, StreamExt};
use tokio::task::JoinHandle;

use crate::client::{PageResponse, ServerDate, WorkdayClient};
use crate::endpoint::Feed;
use crate::error::WorkdayError;
use crate::record::Fields;
use crate::retry::RetryPolicy;

/// Where pages come from: a REST collection (offset paging), or a SOAP
/// operation (page numbers, `Total_Results` as the total), every page read
/// as of the same entry time.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The REST collection, filtered by `updatedFrom` on a delta.
    Rest {
        /// `updatedFrom`.
        updated_from: Option<DateTime<Utc>>,
    },
    /// A SOAP query.
    Soap {
        /// The request criteria.
        query: crate::soap::request::Query,
        /// `As_Of_Entry_DateTime` of every page.
        read_time: DateTime<Utc>,
    },
}

/// Fetches the page at `offset` (a multiple of `limit`) from `source`.
async fn fetch(
    client: &Arc<WorkdayClient>,
    feed: Feed,
    source: &Source,
    offset: u64,
    limit: u32,
    ctx: &RunContext,
    policy: RetryPolicy,
) -> Result<PageResponse, WorkdayError> {
    match source {
        Source::Rest { updated_from } => {
            client
                .list(feed, offset, limit, *updated_from, ctx, policy)
                .await
        }
        Source::Soap { query, read_time } => {
            let page = offset / u64::from(limit.max(1)) + 1;
            client
                .soap_page(query.clone(), Some(*read_time), page, limit, ctx, policy)
                .await
        }
    }
}

/// Turns one record into what the run needs: `None` to skip it, or its
/// mapped change (or mapping error). The pager pairs it with its position.
pub(crate) type Prepare<T> = Arc<dyn Fn(&dyn Fields) -> Option<T> + Send + Sync>;

/// One page, prepared.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page<T> {
    /// How many records the page held (prepared or skipped).
    pub records: u64,
    /// The prepared records, in order, each with its position.
    pub items: Vec<(u64, T)>,
}

/// A fetched page: its `total`, its record count, its prepared records.
struct Fetched<T> {
    total: u64,
    records: u64,
    items: Vec<(u64, T)>,
}

/// Reads `page` (a REST body is parsed here, its records borrowed from it)
/// and prepares its records.
fn prepare<T>(
    offset: u64,
    page: &PageResponse,
    prepare: &Prepare<T>,
) -> Result<Fetched<T>, WorkdayError> {
    let view = page.read()?;
    // Sized once: a filtered iterator would grow it by doubling.
    let mut items = Vec::with_capacity(view.len());
    items.extend(view.records().enumerate().filter_map(|(i, record)| {
        let position = offset + i as u64;
        prepare(&record).map(|item| (position, item))
    }));
    Ok(Fetched {
        total: view.total(),
        records: view.len() as u64,
        items,
    })
}

/// A spawned page fetch, aborted when dropped (a failed or cancelled run
/// leaves nothing running).
struct Fetch<T> {
    offset: u64,
    handle: JoinHandle<Result<Fetched<T>, WorkdayError>>,
}

impl<T> Future for Fetch<T> {
    type Output = (u64, Result<Fetched<T>, WorkdayError>);

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

impl<T> Drop for Fetch<T> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Reads one feed page by page.
pub(crate) struct Pager<T> {
    client: Arc<WorkdayClient>,
    prepare: Prepare<T>,
    feed: Feed,
    page_size: u32,
    source: Source,
    concurrency: usize,
    policy: RetryPolicy,
    ctx: RunContext,
    started: bool,
    done: bool,
    total: u64,
    started_at: Option<ServerDate>,
    next_offset: u64,
    in_flight: FuturesOrdered<Fetch<T>>,
    drift: Vec<String>,
}

impl<T: Send + 'static> Pager<T> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: Arc<WorkdayClient>,
        prepare: Prepare<T>,
        feed: Feed,
        page_size: u32,
        source: Source,
        concurrency: u32,
        policy: RetryPolicy,
        ctx: RunContext,
    ) -> Self {
        Self {
            client,
            prepare,
            feed,
            page_size: page_size.max(1),
            source,
            concurrency: concurrency.max(1) as usize,
            policy,
            ctx,
            started: false,
            done: false,
            total: 0,
            started_at: None,
            next_offset: 0,
            in_flight: FuturesOrdered::new(),
            drift: Vec::new(),
        }
    }

    /// Whether the pages come from the SOAP source.
    pub(crate) fn is_soap(&self) -> bool {
        matches!(self.source, Source::Soap { .. })
    }

    /// What drifted while paging (empty for a stable read).
    pub(crate) fn drift(&self) -> &[String] {
        &self.drift
    }

    /// The collection's `total` as the first page reported it (0 before it).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The first page's `Date`: the server time the read started (`None`
    /// before the first page).
    pub(crate) fn started_at(&self) -> Option<&ServerDate> {
        self.started_at.as_ref()
    }

    fn spawn(&mut self, offset: u64) {
        let client = Arc::clone(&self.client);
        let ctx = self.ctx.clone();
        let prep = Arc::clone(&self.prepare);
        let (feed, limit, source, policy) =
            (self.feed, self.page_size, self.source.clone(), self.policy);
        let handle = tokio::spawn(async move {
            let page = fetch(&client, feed, &source, offset, limit, &ctx, policy).await?;
            prepare(offset, &page, &prep)
        });
        self.in_flight.push_back(Fetch { offset, handle });
    }

    /// The next page in order, or `None` at the end.
    ///
    /// # Errors
    /// The first failed page's error (after its retries).
    pub(crate) async fn next_page(&mut self) -> Result<Option<Page<T>>, WorkdayError> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            let first = fetch(
                &self.client,
                self.feed,
                &self.source,
                0,
                self.page_size,
                &self.ctx,
                self.policy,
            )
            .await?;
            let prepared = prepare(0, &first, &self.prepare)?;
            self.started_at = Some(first.date);
            let first = prepared;
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

    fn accept(&mut self, offset: u64, page: Fetched<T>) -> Option<Page<T>> {
        if page.records == 0 {
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
        let end = offset.saturating_add(page.records);
        if page.records < u64::from(self.page_size) && end < self.total {
            self.drift.push(format!(
                "Workday returned a short {} page at offset {offset}: {} records where {} were asked for, although it reported {} records, so records after the first {end} may have been skipped",
                self.feed.noun(),
                page.records,
                self.page_size,
                self.total
            ));
        }
        Some(Page {
            records: page.records,
            items: page.items,
        })
    }
}
