//! Import runs: the request, the sink changes stream into, run control, and the outcome.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::change::{Change, ChangeKind};
use crate::error::ConnectorError;

/// Full or delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImportMode {
    /// Read every object. A clean full run sees the complete set, so the
    /// engine may treat objects it did not see as purged.
    Full,
    /// Read only what changed since the incoming watermark.
    Delta,
}

impl fmt::Display for ImportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImportMode::Full => "Full",
            ImportMode::Delta => "Delta",
        })
    }
}

/// What the engine asks of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    /// Full or delta.
    pub mode: ImportMode,
    /// The watermark the last successful run returned, opaque to the engine.
    /// `None` when there is none yet.
    pub watermark: Option<String>,
}

impl ImportRequest {
    /// A full run (a full run ignores any watermark for reading, but still
    /// returns a new one).
    pub fn full() -> Self {
        Self {
            mode: ImportMode::Full,
            watermark: None,
        }
    }

    /// A delta run from `watermark`.
    pub fn delta(watermark: Option<String>) -> Self {
        Self {
            mode: ImportMode::Delta,
            watermark,
        }
    }
}

/// Where a connector streams its changes, page by page.
///
/// `apply` is async so that a slow engine applies back-pressure: the connector
/// does not read further ahead than it can buffer while a page is applied.
///
/// # Errors
/// An error (usually [`ErrorKind::Sink`](crate::ErrorKind::Sink)) aborts the
/// run; the connector returns it and no watermark.
#[async_trait]
pub trait ChangeSink: Send {
    /// Applies one page of changes, in order.
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), ConnectorError>;
}

/// A sink that keeps every change in memory, for tests and small tools.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use connector_api::{Change, ChangeKind, ChangeSink, VecSink};
/// let mut sink = VecSink::default();
/// sink.apply(vec![Change::new("User", "a", ChangeKind::Upsert)]).await.unwrap();
/// assert_eq!(sink.changes.len(), 1);
/// assert_eq!(sink.pages, 1);
/// # });
/// ```
#[derive(Debug, Default, Clone)]
pub struct VecSink {
    /// Every change applied, in order.
    pub changes: Vec<Change>,
    /// How many pages were applied.
    pub pages: usize,
}

#[async_trait]
impl ChangeSink for VecSink {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.pages += 1;
        self.changes.extend(changes);
        Ok(())
    }
}

/// Live counters of one run. The connector updates them as it goes, so the
/// engine can show progress and record them even when the run fails.
#[derive(Debug, Default)]
pub struct RunMetrics {
    requests: AtomicU64,
    retries: AtomicU64,
    pages: AtomicU64,
    records: AtomicU64,
}

impl RunMetrics {
    /// Counts one request sent to the source (token requests included).
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one retry of a failed request.
    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one page delivered to the sink holding `records` source records.
    pub fn add_page(&self, records: u64) {
        self.pages.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    /// Counts `n` requests at once (e.g. what a plugin reports it sent).
    /// Saturates rather than wrapping.
    ///
    /// ```
    /// use connector_api::RunMetrics;
    /// let m = RunMetrics::default();
    /// m.add_requests(1_000_000);
    /// m.add_request();
    /// assert_eq!(m.snapshot().requests, 1_000_001);
    /// ```
    pub fn add_requests(&self, n: u64) {
        saturating_add(&self.requests, n);
    }

    /// Counts `n` retries at once. Saturates rather than wrapping.
    pub fn add_retries(&self, n: u64) {
        saturating_add(&self.retries, n);
    }

    /// Counts `pages` pages at once, holding `records` source records in all.
    /// Saturates rather than wrapping.
    ///
    /// ```
    /// use connector_api::RunMetrics;
    /// let m = RunMetrics::default();
    /// m.add_pages(3, 250);
    /// let s = m.snapshot();
    /// assert_eq!((s.pages, s.records), (3, 250));
    /// ```
    pub fn add_pages(&self, pages: u64, records: u64) {
        saturating_add(&self.pages, pages);
        saturating_add(&self.records, records);
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
        }
    }
}

fn saturating_add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        // The closure always returns Some, so this never fails.
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_add(n))
        });
    }
}

/// A copy of [`RunMetrics`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSnapshot {
    /// Requests sent to the source, retries and token requests included.
    pub requests: u64,
    /// Retries of failed requests.
    pub retries: u64,
    /// Pages delivered to the sink.
    pub pages: u64,
    /// Source records read in those pages.
    pub records: u64,
}

/// Run control shared between engine and connector: cooperative cancellation
/// and live metrics. Cloning shares both.
///
/// ```
/// use connector_api::RunContext;
/// let ctx = RunContext::new();
/// let engine_side = ctx.clone();
/// engine_side.cancel();
/// assert!(ctx.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    cancel: CancellationToken,
    metrics: Arc<RunMetrics>,
}

impl RunContext {
    /// A fresh, uncancelled context with zeroed metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context cancelled through `token`.
    pub fn with_cancellation(token: CancellationToken) -> Self {
        Self {
            cancel: token,
            metrics: Arc::default(),
        }
    }

    /// Asks the run to stop. The connector stops at its next check, delivers
    /// nothing more, and returns [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the run is asked to stop (for `tokio::select!`).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// The token behind [`RunContext::cancel`].
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The run's live counters.
    pub fn metrics(&self) -> &RunMetrics {
        &self.metrics
    }
}

/// Upserts and deletes of one object type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    /// Upsert changes emitted.
    #[serde(rename = "Upsert")]
    pub upserts: u64,
    /// Delete changes emitted.
    #[serde(rename = "Delete")]
    pub deletes: u64,
}

/// Changes emitted per object type and change kind.
///
/// ```
/// use connector_api::{ChangeKind, Counts};
/// let mut counts = Counts::default();
/// counts.add("User", ChangeKind::Upsert);
/// counts.add("User", ChangeKind::Delete);
/// assert_eq!(serde_json::to_string(&counts).unwrap(), r#"{"User":{"Upsert":1,"Delete":1}}"#);
/// assert_eq!(counts.total(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<String, KindCounts>);

impl Counts {
    /// Counts one change.
    pub fn add(&mut self, object_type: &str, kind: ChangeKind) {
        // Called once per change: allocate the key only for a new type.
        let entry = match self.0.get_mut(object_type) {
            Some(entry) => entry,
            None => self.0.entry(object_type.to_string()).or_default(),
        };
        match kind {
            ChangeKind::Upsert => entry.upserts += 1,
            ChangeKind::Delete => entry.deletes += 1,
        }
    }

    /// The counts of one object type (zero when it emitted nothing).
    pub fn of(&self, object_type: &str) -> KindCounts {
        self.0.get(object_type).copied().unwrap_or_default()
    }

    /// All changes counted.
    pub fn total(&self) -> u64 {
        self.0.values().map(|c| c.upserts + c.deletes).sum()
    }
}

/// A record that could not be mapped. The run goes on without it, but the
/// run's watermark does not advance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    /// The object type the record would have become.
    pub object_type: String,
    /// The record's 0-based position in its feed (page offset plus index).
    pub position: u64,
    /// The record's id, when it had a usable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The offending source field, when one is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} record at position {}",
            self.object_type, self.position
        )?;
        if let Some(id) = &self.external_id {
            write!(f, " (id {id})")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How a run that did not fail ended.
///
/// The engine commits [`ImportOutcome::committable_watermark`] only after it
/// has applied every change of the run.
///
/// ```
/// use connector_api::{ImportOutcome, RecordError};
/// let mut outcome = ImportOutcome::default();
/// outcome.watermark = Some("w1".into());
/// assert_eq!(outcome.committable_watermark(), Some("w1"));
/// outcome.record_errors.push(RecordError {
///     object_type: "User".into(), position: 3, external_id: None,
///     field: Some("id".into()), message: "missing".into(),
/// });
/// assert_eq!(outcome.committable_watermark(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportOutcome {
    /// The watermark to start the next delta from. `None` when the run may not
    /// advance it (record errors).
    pub watermark: Option<String>,
    /// Whether the run saw the complete set of objects: a full run that
    /// finished cleanly with a stable source. Only then may the engine treat
    /// objects it did not see as purged.
    pub complete: bool,
    /// Changes emitted per object type and kind.
    pub counts: Counts,
    /// Records that could not be mapped.
    pub record_errors: Vec<RecordError>,
    /// Things the operator should know that did not fail the run (e.g. the
    /// source's totals drifted while paging, or a delta ran without a watermark).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ImportOutcome {
    /// The watermark the engine may commit: `None` when there is none or when
    /// any record failed.
    pub fn committable_watermark(&self) -> Option<&str> {
        if self.record_errors.is_empty() {
            self.watermark.as_deref()
        } else {
            None
        }
    }
}
