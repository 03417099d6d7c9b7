//! The sync engine stand-in: runs one import into the [`Store`], applying
//! changes as they stream in, then the purge check, then the watermark, and
//! commits all of it in one transaction.
//!
//! A run that fails, is cancelled, is killed or would purge too much commits
//! nothing: the previous watermark and objects stay, and the next run
//! converges. The run history row is written in its own transaction, so a
//! failed run is still recorded; a killed run leaves a `Running` row that the
//! next run marks `Abandoned`.
//!
//! ```no_run
//! # async fn demo(connector: Box<dyn connector_api::Connector>) -> Result<(), Box<dyn std::error::Error>> {
//! use connector_api::ImportMode;
//! use harness::engine::{Engine, RunOptions};
//! use harness::store::Store;
//! let mut engine = Engine::new(Store::open("idmesh-state.db".as_ref())?);
//! let report = engine
//!     .run(connector.as_ref(), RunOptions::new("workday", "workday:acme", ImportMode::Full))
//!     .await?;
//! println!("{:?} {:?}", report.outcome, report.new_watermark);
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use connector_api::{
    Change, ChangeSink, Connector, ConnectorError, Counts, ErrorKind, ImportMode, ImportOutcome,
    ImportRequest, MetricsSnapshot, RecordError, RunContext,
};
use serde::Serialize;

use crate::secrets::Redactor;
use crate::store::{RunFinish, RunStatus, Store, StoreError};

/// The default `--max-purge-percent`.
pub const DEFAULT_MAX_PURGE_PERCENT: f64 = 10.0;

/// How long the engine waits for a cancelled connector to stop by itself
/// before it abandons the import.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(10);

/// The default instance key: the connector's name and the configuration's
/// `TenantName`, joined by `:` (just the name when there is no `TenantName`).
///
/// ```
/// assert_eq!(harness::engine::instance_key("workday", r#"{"TenantName":"acme"}"#), "workday:acme");
/// assert_eq!(harness::engine::instance_key("workday", "not json"), "workday");
/// ```
pub fn instance_key(connector_name: &str, config_json: &str) -> String {
    match tenant_name(config_json) {
        Some(t) => format!("{connector_name}:{t}"),
        None => connector_name.to_string(),
    }
}

/// The configuration's `TenantName`, when it is JSON with a non-empty one.
///
/// ```
/// assert_eq!(harness::engine::tenant_name(r#"{"TenantName":"acme"}"#).as_deref(), Some("acme"));
/// assert_eq!(harness::engine::tenant_name(r#"{"TenantName":""}"#), None);
/// ```
pub fn tenant_name(config_json: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(config_json)
        .ok()
        .and_then(|v| v.get("TenantName")?.as_str().map(str::to_string))
        .filter(|t| !t.is_empty())
}

/// The run-history row for `report` as it ends.
fn finish_of<'a>(
    report: &'a RunReport,
    error_kind: Option<&'a str>,
    error: Option<&'a str>,
) -> RunFinish<'a> {
    RunFinish {
        status: report.outcome.status(),
        ended_at: &report.ended_at,
        duration_ms: report.duration_ms,
        counts: &report.counts,
        metrics: &report.metrics,
        record_errors: report.record_errors.len() as u64,
        error_kind,
        error,
        new_watermark: report.new_watermark.as_deref(),
        watermark_advanced: report.watermark_advanced,
        purged: &report.purged,
    }
}

/// Watches a run's progress (the CLI's progress bar implements it).
pub trait RunObserver: Send + Sync + fmt::Debug {
    /// A page of `changes` changes of `object_type` was applied.
    fn page_applied(&self, object_type: &str, changes: u64, metrics: MetricsSnapshot);

    /// The import ended (before the commit).
    fn finished(&self) {}
}

/// How to run one import.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The connector's name, recorded in the run history (e.g. `workday`).
    pub connector_name: String,
    /// The connector instance the watermark and objects belong to (e.g. `workday:acme`).
    pub instance: String,
    /// Full or delta.
    pub mode: ImportMode,
    /// A complete full run refuses to purge more than this percentage of the
    /// live objects of any type (and then commits nothing).
    pub max_purge_percent: f64,
    /// Also write every emitted change to this file, one JSON object per line.
    pub changes_out: Option<PathBuf>,
    /// Cancellation and live metrics; cancel it to stop the run.
    pub context: RunContext,
    /// Receives progress.
    pub observer: Option<Arc<dyn RunObserver>>,
    /// Scrubs secret values out of error texts before they are stored or reported.
    pub redactor: Redactor,
    /// How long a cancelled connector may take to stop.
    pub cancel_grace: Duration,
}

impl RunOptions {
    /// Options with the defaults: 10 % purge limit, no changes file, a fresh
    /// context, no observer.
    pub fn new(
        connector_name: impl Into<String>,
        instance: impl Into<String>,
        mode: ImportMode,
    ) -> Self {
        Self {
            connector_name: connector_name.into(),
            instance: instance.into(),
            mode,
            max_purge_percent: DEFAULT_MAX_PURGE_PERCENT,
            changes_out: None,
            context: RunContext::new(),
            observer: None,
            redactor: Redactor::default(),
            cancel_grace: DEFAULT_CANCEL_GRACE,
        }
    }
}

/// A full run that would have purged too much of one object type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeRefusal {
    /// The object type.
    pub object_type: String,
    /// How many live objects the run did not see.
    pub would_delete: u64,
    /// How many live objects of the type the store held.
    pub live: u64,
    /// `would_delete` as a percentage of `live`.
    pub percent: f64,
    /// The limit.
    pub max_percent: f64,
}

impl fmt::Display for PurgeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} {} objects ({:.1}%, limit {}%)",
            self.would_delete, self.live, self.object_type, self.percent, self.max_percent
        )
    }
}

/// How a run ended. Serialized with a `status` tag, e.g.
/// `{"status":"Failed","kind":"Server","message":"...","retryable":true}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status")]
pub enum RunOutcome {
    /// Everything applied; the watermark committed (when the connector gave one).
    Succeeded,
    /// Good records applied; the watermark not advanced.
    SucceededWithRecordErrors,
    /// The run failed; nothing committed.
    Failed {
        /// What failed.
        kind: ErrorKind,
        /// The error message (secrets redacted).
        message: String,
        /// Whether running again later, unchanged, can succeed.
        retryable: bool,
    },
    /// The run was cancelled; nothing committed.
    Cancelled,
    /// A complete full run would have purged more than allowed; nothing committed.
    PurgeRefused {
        /// Each object type over the limit.
        refusals: Vec<PurgeRefusal>,
    },
}

impl RunOutcome {
    /// The status recorded in the run history.
    pub fn status(&self) -> RunStatus {
        match self {
            RunOutcome::Succeeded => RunStatus::Succeeded,
            RunOutcome::SucceededWithRecordErrors => RunStatus::SucceededWithRecordErrors,
            RunOutcome::Failed { .. } => RunStatus::Failed,
            RunOutcome::Cancelled => RunStatus::Cancelled,
            RunOutcome::PurgeRefused { .. } => RunStatus::PurgeRefused,
        }
    }

    /// Whether the run's changes were committed.
    pub fn committed(&self) -> bool {
        matches!(
            self,
            RunOutcome::Succeeded | RunOutcome::SucceededWithRecordErrors
        )
    }
}

/// Everything about one finished run; `--json` prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The run's id in the run history.
    pub run_id: i64,
    /// The connector instance key.
    pub instance: String,
    /// The connector's name.
    pub connector: String,
    /// Full or delta.
    pub mode: ImportMode,
    /// How it ended.
    pub outcome: RunOutcome,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time.
    pub ended_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Changes applied per object type and kind (rolled back unless committed).
    pub counts: Counts,
    /// Requests, retries, pages and records, from the connector.
    pub metrics: MetricsSnapshot,
    /// Records that could not be imported.
    pub record_errors: Vec<RecordError>,
    /// Warnings from the connector.
    pub warnings: Vec<String>,
    /// Whether the connector said the run saw the complete set of objects.
    pub complete: bool,
    /// The committed watermark before the run.
    pub old_watermark: Option<String>,
    /// The watermark this run committed (`None` when it did not advance).
    pub new_watermark: Option<String>,
    /// Whether this run committed a new watermark.
    pub watermark_advanced: bool,
    /// Why the watermark did not advance, when it did not.
    pub watermark_note: Option<String>,
    /// Objects purged per object type (complete full runs only).
    pub purged: BTreeMap<String, u64>,
    /// Why a full run did not purge (some types), when it did not.
    pub purge_note: Option<String>,
    /// The state store's file.
    pub state: String,
}

impl RunReport {
    /// The watermark committed after the run: the new one, or the old one.
    pub fn committed_watermark(&self) -> Option<&str> {
        self.new_watermark
            .as_deref()
            .or(self.old_watermark.as_deref())
    }
}

/// Why a run could not start (a run that starts always yields a [`RunReport`]).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connector's configuration or secrets were refused.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

/// Runs imports into one store.
#[derive(Debug)]
pub struct Engine {
    store: Store,
}

impl Engine {
    /// An engine writing `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store, for queries.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> Store {
        self.store
    }

    /// Runs one import with a ready connector.
    ///
    /// # Errors
    /// [`EngineError::Store`] only when the run could not even be recorded
    /// (the store is locked by another process or unusable). Every run that
    /// starts returns a report, whatever its outcome.
    pub async fn run(
        &mut self,
        connector: &dyn Connector,
        options: RunOptions,
    ) -> Result<RunReport, EngineError> {
        let t0 = Instant::now();
        let started_at = now();
        let instance = options.instance.as_str();
        let mode = options.mode;
        let old_watermark = self.store.watermark(instance)?;
        let run_id = self.store.begin_run(
            instance,
            &options.connector_name,
            mode,
            &started_at,
            old_watermark.as_deref(),
        )?;
        tracing::info!(run_id, instance, %mode, "import started");

        let ctx = options.context.clone();
        let request = match mode {
            ImportMode::Full => ImportRequest::full(),
            ImportMode::Delta => ImportRequest::delta(old_watermark.clone()),
        };

        let mut counts = Counts::default();
        let result: Result<ImportOutcome, ConnectorError> = match self.store.begin() {
            Err(e) => Err(sink_error(e)),
            Ok(()) => match open_changes_out(options.changes_out.as_ref()) {
                Err(e) => Err(e),
                Ok(out) => {
                    let mut sink = StoreSink {
                        store: &mut self.store,
                        instance,
                        run_id,
                        ctx: &ctx,
                        counts: Counts::default(),
                        out,
                        observer: options.observer.as_deref(),
                        failed: None,
                    };
                    let result = import_with_grace(
                        connector.import(request, &mut sink, &ctx),
                        &ctx,
                        options.cancel_grace,
                    )
                    .await;
                    let finished = sink.finish();
                    counts = finished.0;
                    // A sink failure is the root cause even when the
                    // connector swallowed it or failed differently after it.
                    match finished.1 {
                        Some(e) => Err(e),
                        None => result,
                    }
                }
            },
        };
        if let Some(obs) = &options.observer {
            obs.finished();
        }
        let metrics = ctx.metrics().snapshot();

        let mut report = RunReport {
            run_id,
            instance: instance.to_string(),
            connector: options.connector_name.clone(),
            mode,
            outcome: RunOutcome::Succeeded,
            started_at,
            ended_at: String::new(),
            duration_ms: 0,
            counts,
            metrics,
            record_errors: Vec::new(),
            warnings: Vec::new(),
            complete: false,
            old_watermark,
            new_watermark: None,
            watermark_advanced: false,
            watermark_note: None,
            purged: BTreeMap::new(),
            purge_note: None,
            state: self.store.path().display().to_string(),
        };

        match result {
            Err(e) => {
                report.outcome = if e.kind() == ErrorKind::Cancelled || ctx.is_cancelled() {
                    RunOutcome::Cancelled
                } else {
                    RunOutcome::Failed {
                        kind: e.kind(),
                        message: options.redactor.redact(e.message()),
                        retryable: e.is_retryable(),
                    }
                };
            }
            Ok(outcome) => {
                report.complete = outcome.complete;
                report.warnings = outcome
                    .warnings
                    .iter()
                    .map(|w| options.redactor.redact(w))
                    .collect();
                report.record_errors.clone_from(&outcome.record_errors);
                self.settle(&mut report, &outcome, &options, t0)?;
            }
        }

        if !report.outcome.committed() {
            if let Err(e) = self.store.rollback() {
                tracing::error!(error = %e, "rollback failed");
            }
            report.watermark_note = Some(match &report.outcome {
                RunOutcome::Cancelled => {
                    "the run was cancelled; nothing was committed and the watermark is unchanged"
                        .into()
                }
                RunOutcome::PurgeRefused { .. } => {
                    "the purge was refused; nothing was committed and the watermark is unchanged"
                        .into()
                }
                _ => "the run failed; nothing was committed and the watermark is unchanged".into(),
            });
            report.purged.clear();
            report.ended_at = now();
            report.duration_ms = elapsed_ms(t0);
            let (kind, error) = match &report.outcome {
                RunOutcome::Failed { kind, message, .. } => {
                    (Some(kind.as_str()), Some(message.clone()))
                }
                RunOutcome::PurgeRefused { refusals } => (
                    None,
                    Some(format!(
                        "a full run would have purged {}",
                        refusals
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
                RunOutcome::Cancelled => (None, Some("the run was cancelled".to_string())),
                _ => (None, None),
            };
            // Nothing committed: no watermark (never set, or reset when the
            // commit failed) and no purge (cleared above).
            debug_assert!(report.new_watermark.is_none() && !report.watermark_advanced);
            self.store
                .finish_run(run_id, &finish_of(&report, kind, error.as_deref()))?;
            tracing::warn!(run_id, status = %report.outcome.status(), "import did not commit");
        } else {
            tracing::info!(run_id, status = %report.outcome.status(), "import committed");
        }
        Ok(report)
    }

    /// After a connector returned an outcome: purge check, watermark, commit.
    /// Sets `report.outcome` to what happened.
    fn settle(
        &mut self,
        report: &mut RunReport,
        outcome: &ImportOutcome,
        options: &RunOptions,
        t0: Instant,
    ) -> Result<(), StoreError> {
        let instance = options.instance.as_str();
        let run_id = report.run_id;
        let record_errors = outcome.record_errors.len();

        if report.mode == ImportMode::Full {
            match self.purge(report, outcome, options) {
                Ok(Ok(())) => {}
                Ok(Err(refusals)) => {
                    report.outcome = RunOutcome::PurgeRefused { refusals };
                    return Ok(());
                }
                Err(e) => {
                    report.outcome = failed_sink(&e);
                    return Ok(());
                }
            }
        }

        let ended_at = now();
        match outcome.committable_watermark() {
            Some(w) => {
                report.new_watermark = Some(w.to_string());
                report.watermark_advanced = true;
            }
            None if record_errors > 0 => {
                report.watermark_note = Some(format!(
                    "{record_errors} record(s) could not be imported; the watermark stays where it \
                     was so the next run reads them again"
                ));
            }
            None => {
                report.watermark_note = Some("the connector returned no watermark".into());
            }
        }
        report.outcome = if record_errors == 0 {
            RunOutcome::Succeeded
        } else {
            RunOutcome::SucceededWithRecordErrors
        };
        report.ended_at = ended_at;
        report.duration_ms = elapsed_ms(t0);

        let commit = (|| -> Result<(), StoreError> {
            if let Some(w) = &report.new_watermark {
                self.store
                    .set_watermark(instance, w, run_id, &report.ended_at)?;
            }
            self.store
                .finish_run(run_id, &finish_of(report, None, None))?;
            self.store.commit()
        })();
        if let Err(e) = commit {
            report.new_watermark = None;
            report.watermark_advanced = false;
            report.outcome = failed_sink(&e);
        }
        Ok(())
    }

    /// The purge of a full run: `Ok(Err(refusals))` when over the limit.
    fn purge(
        &mut self,
        report: &mut RunReport,
        outcome: &ImportOutcome,
        options: &RunOptions,
    ) -> Result<Result<(), Vec<PurgeRefusal>>, StoreError> {
        if !outcome.complete {
            report.purge_note = Some(
                "nothing was purged: the connector marked the run incomplete (objects it did not \
                 see may still exist)"
                    .into(),
            );
            return Ok(Ok(()));
        }
        if !outcome.record_errors.is_empty() {
            report.purge_note = Some(
                "nothing was purged: some records could not be imported, so unseen objects may \
                 still exist"
                    .into(),
            );
            return Ok(Ok(()));
        }
        let instance = options.instance.as_str();
        let emitted: BTreeSet<&String> = report.counts.0.keys().collect();
        let mut skipped = Vec::new();
        let mut plan = Vec::new();
        let mut refusals = Vec::new();
        for ty in self.store.live_object_types(instance)? {
            if !emitted.contains(&ty) {
                skipped.push(ty);
                continue;
            }
            let (unseen, live) = self.store.purge_candidates(instance, &ty, report.run_id)?;
            if unseen == 0 {
                continue;
            }
            #[allow(clippy::cast_precision_loss)]
            let percent = unseen as f64 * 100.0 / live.max(1) as f64;
            if percent > options.max_purge_percent {
                refusals.push(PurgeRefusal {
                    object_type: ty,
                    would_delete: unseen,
                    live,
                    percent,
                    max_percent: options.max_purge_percent,
                });
            } else {
                plan.push(ty);
            }
        }
        if !refusals.is_empty() {
            return Ok(Err(refusals));
        }
        for ty in plan {
            let n = self.store.purge(instance, &ty, report.run_id)?;
            report.purged.insert(ty, n);
        }
        if !skipped.is_empty() {
            report.purge_note = Some(format!(
                "{} not purged: the run emitted no objects of {} (treated as partial data)",
                skipped.join(", "),
                if skipped.len() == 1 {
                    "that type"
                } else {
                    "those types"
                }
            ));
        }
        Ok(Ok(()))
    }
}

fn failed_sink(e: &StoreError) -> RunOutcome {
    RunOutcome::Failed {
        kind: ErrorKind::Sink,
        message: e.to_string(),
        retryable: false,
    }
}

fn sink_error(e: StoreError) -> ConnectorError {
    let retryable = matches!(e, StoreError::Busy { .. });
    ConnectorError::new(ErrorKind::Sink, e.to_string()).with_retryable(retryable)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn elapsed_ms(t0: Instant) -> u64 {
    u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn open_changes_out(
    path: Option<&PathBuf>,
) -> Result<Option<(PathBuf, BufWriter<File>)>, ConnectorError> {
    let Some(path) = path else { return Ok(None) };
    let file = File::create(path).map_err(|e| {
        ConnectorError::new(
            ErrorKind::Sink,
            format!("cannot create the changes file {}: {e}", path.display()),
        )
    })?;
    Ok(Some((path.clone(), BufWriter::new(file))))
}

/// Runs the import; once `ctx` is cancelled, gives the connector `grace` to
/// stop by itself before abandoning it.
async fn import_with_grace(
    import: impl std::future::Future<Output = Result<ImportOutcome, ConnectorError>>,
    ctx: &RunContext,
    grace: Duration,
) -> Result<ImportOutcome, ConnectorError> {
    tokio::pin!(import);
    tokio::select! {
        biased;
        result = &mut import => result,
        () = async {
            ctx.cancelled().await;
            tokio::time::sleep(grace).await;
        } => Err(ConnectorError::new(
            ErrorKind::Cancelled,
            format!("the connector did not stop within {grace:?} of being cancelled"),
        )),
    }
}

/// Applies changes to the store inside the run's open transaction.
struct StoreSink<'a> {
    store: &'a mut Store,
    instance: &'a str,
    run_id: i64,
    ctx: &'a RunContext,
    counts: Counts,
    out: Option<(PathBuf, BufWriter<File>)>,
    observer: Option<&'a dyn RunObserver>,
    failed: Option<ConnectorError>,
}

impl StoreSink<'_> {
    fn apply_one(&mut self, change: &Change) -> Result<(), ConnectorError> {
        let attributes = serde_json::to_string(&change.attributes).map_err(|e| {
            ConnectorError::new(
                ErrorKind::Sink,
                format!(
                    "cannot encode the attributes of {} {}: {e}",
                    change.object_type, change.external_id
                ),
            )
        })?;
        self.store
            .apply(self.instance, self.run_id, change, &attributes)
            .map_err(sink_error)?;
        if let Some((path, out)) = &mut self.out {
            serde_json::to_writer(&mut *out, change)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| {
                    ConnectorError::new(
                        ErrorKind::Sink,
                        format!("cannot write the changes file {}: {e}", path.display()),
                    )
                })?;
        }
        self.counts.add(&change.object_type, change.kind);
        Ok(())
    }

    /// The counts applied, and the sink's error if it failed (flushing the
    /// changes file may fail too).
    fn finish(mut self) -> (Counts, Option<ConnectorError>) {
        if let Some((path, out)) = &mut self.out {
            if let Err(e) = out.flush() {
                self.failed.get_or_insert(ConnectorError::new(
                    ErrorKind::Sink,
                    format!("cannot write the changes file {}: {e}", path.display()),
                ));
            }
        }
        (self.counts, self.failed)
    }
}

#[async_trait]
impl ChangeSink for StoreSink<'_> {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), ConnectorError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.ctx.is_cancelled() {
            return Err(ConnectorError::cancelled());
        }
        let mut run_start = 0;
        for (i, change) in changes.iter().enumerate() {
            if let Err(e) = self.apply_one(change) {
                self.failed = Some(e.clone());
                return Err(e);
            }
            let last_of_type = changes
                .get(i + 1)
                .is_none_or(|next| next.object_type != change.object_type);
            if last_of_type {
                if let Some(obs) = self.observer {
                    obs.page_applied(
                        &change.object_type,
                        (i + 1 - run_start) as u64,
                        self.ctx.metrics().snapshot(),
                    );
                }
                run_start = i + 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::{ChangeKind, HealthCheck, Schema, Value};
    use std::sync::Mutex;

    /// A scripted connector: emits `pages`, then returns `end`.
    #[derive(Debug, Clone)]
    struct Fake {
        pages: Vec<Vec<Change>>,
        end: Result<ImportOutcome, ConnectorError>,
        seen_requests: Arc<Mutex<Vec<ImportRequest>>>,
        /// Wait for cancellation after this many pages.
        hang_after: Option<usize>,
    }

    impl Fake {
        fn new(pages: Vec<Vec<Change>>, watermark: &str) -> Self {
            let mut counts = Counts::default();
            for c in pages.iter().flatten() {
                counts.add(&c.object_type, c.kind);
            }
            Self {
                pages,
                end: Ok(ImportOutcome {
                    watermark: Some(watermark.into()),
                    complete: true,
                    counts,
                    ..ImportOutcome::default()
                }),
                seen_requests: Arc::default(),
                hang_after: None,
            }
        }
    }

    #[async_trait]
    impl Connector for Fake {
        fn schema(&self) -> Schema {
            Schema::default()
        }
        async fn check(&self) -> Vec<HealthCheck> {
            Vec::new()
        }
        async fn import(
            &self,
            request: ImportRequest,
            sink: &mut dyn ChangeSink,
            ctx: &RunContext,
        ) -> Result<ImportOutcome, ConnectorError> {
            self.seen_requests.lock().unwrap().push(request);
            for (i, page) in self.pages.iter().enumerate() {
                if self.hang_after == Some(i) {
                    ctx.cancelled().await;
                    return Err(ConnectorError::cancelled());
                }
                ctx.metrics().add_request();
                ctx.metrics().add_page(page.len() as u64);
                sink.apply(page.clone()).await?;
            }
            self.end.clone()
        }
    }

    fn user(id: &str, name: &str) -> Change {
        let mut c = Change::new("User", id, ChangeKind::Upsert);
        c.attributes
            .insert("firstName".into(), Value::String(name.into()));
        c
    }

    fn users(range: std::ops::Range<u32>) -> Vec<Change> {
        range.map(|i| user(&format!("u{i:03}"), "x")).collect()
    }

    fn opts(mode: ImportMode) -> RunOptions {
        RunOptions::new("fake", "fake:t", mode)
    }

    fn engine() -> Engine {
        Engine::new(Store::open_in_memory().unwrap())
    }

    #[tokio::test]
    async fn full_run_commits_objects_and_watermark_then_delta_gets_it() {
        let mut e = engine();
        let fake = Fake::new(vec![users(0..3), users(3..5)], "w1");
        let r = e.run(&fake, opts(ImportMode::Full)).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert_eq!(r.counts.of("User").upserts, 5);
        assert_eq!(r.metrics.pages, 2);
        assert!(r.watermark_advanced);
        assert_eq!(
            e.store().watermark("fake:t").unwrap().as_deref(),
            Some("w1")
        );
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 5);

        let mut delta = Fake::new(
            vec![vec![Change::new("User", "u001", ChangeKind::Delete)]],
            "w2",
        );
        delta.end.as_mut().unwrap().complete = false;
        let r = e.run(&delta, opts(ImportMode::Delta)).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert_eq!(
            delta.seen_requests.lock().unwrap()[0],
            ImportRequest::delta(Some("w1".into()))
        );
        let o = e.store().object("fake:t", "User", "u001").unwrap().unwrap();
        assert!(o.deleted);
        assert_eq!(o.attributes["firstName"], "x");
        assert_eq!(
            e.store().watermark("fake:t").unwrap().as_deref(),
            Some("w2")
        );
        let runs = e.store().runs(None).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].mode, "Delta");
        assert_eq!(runs[0].old_watermark.as_deref(), Some("w1"));
    }

    #[tokio::test]
    async fn failure_mid_run_commits_nothing_but_is_recorded() {
        let mut e = engine();
        e.run(&Fake::new(vec![users(0..2)], "w1"), opts(ImportMode::Full))
            .await
            .unwrap();
        let mut fake = Fake::new(vec![vec![user("u000", "changed")], users(10..12)], "w2");
        fake.end = Err(ConnectorError::new(ErrorKind::Server, "503 at offset 200"));
        let r = e.run(&fake, opts(ImportMode::Delta)).await.unwrap();
        assert!(matches!(
            r.outcome,
            RunOutcome::Failed {
                kind: ErrorKind::Server,
                ..
            }
        ));
        assert!(!r.watermark_advanced);
        assert!(r.watermark_note.is_some());
        assert_eq!(
            e.store().watermark("fake:t").unwrap().as_deref(),
            Some("w1")
        );
        let o = e.store().object("fake:t", "User", "u000").unwrap().unwrap();
        assert_eq!(o.attributes["firstName"], "x", "rolled back");
        assert!(e
            .store()
            .object("fake:t", "User", "u010")
            .unwrap()
            .is_none());
        let run = e.store().run(r.run_id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("Server"));
        assert_eq!(run.error.as_deref(), Some("503 at offset 200"));
    }

    #[tokio::test]
    async fn record_errors_apply_good_records_but_keep_the_watermark() {
        let mut e = engine();
        e.run(&Fake::new(vec![users(0..2)], "w1"), opts(ImportMode::Full))
            .await
            .unwrap();
        let mut fake = Fake::new(vec![users(2..4)], "w2");
        fake.end.as_mut().unwrap().record_errors.push(RecordError {
            object_type: "User".into(),
            position: 2,
            external_id: None,
            field: Some("id".into()),
            message: "missing".into(),
        });
        let r = e.run(&fake, opts(ImportMode::Full)).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::SucceededWithRecordErrors);
        assert_eq!(
            e.store().watermark("fake:t").unwrap().as_deref(),
            Some("w1")
        );
        assert!(e
            .store()
            .object("fake:t", "User", "u003")
            .unwrap()
            .is_some());
        // No purge with record errors, even though u000/u001 were not seen.
        assert!(r.purged.is_empty());
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 4);
    }

    #[tokio::test]
    async fn purge_within_limit_and_refusal_over_it() {
        let mut e = engine();
        e.run(&Fake::new(vec![users(0..20)], "w1"), opts(ImportMode::Full))
            .await
            .unwrap();
        // 2 of 20 unseen = 10 %: allowed (the limit is inclusive).
        let r = e
            .run(&Fake::new(vec![users(0..18)], "w2"), opts(ImportMode::Full))
            .await
            .unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert_eq!(r.purged.get("User"), Some(&2));
        let o = e.store().object("fake:t", "User", "u019").unwrap().unwrap();
        assert_eq!((o.deleted, o.deleted_by.as_deref()), (true, Some("purge")));
        // 3 of 18 unseen: refused, nothing committed.
        let r = e
            .run(&Fake::new(vec![users(0..15)], "w3"), opts(ImportMode::Full))
            .await
            .unwrap();
        let RunOutcome::PurgeRefused { refusals } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(refusals[0].would_delete, 3);
        assert_eq!(refusals[0].live, 18);
        assert_eq!(
            e.store().watermark("fake:t").unwrap().as_deref(),
            Some("w2")
        );
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 18);
        // With a higher limit it goes through.
        let mut o = opts(ImportMode::Full);
        o.max_purge_percent = 50.0;
        let r = e
            .run(&Fake::new(vec![users(0..15)], "w3"), o)
            .await
            .unwrap();
        assert_eq!(r.purged.get("User"), Some(&3));
        // An incomplete run never purges; a delta never purges.
        let mut fake = Fake::new(vec![users(0..1)], "w4");
        fake.end.as_mut().unwrap().complete = false;
        let r = e.run(&fake, opts(ImportMode::Full)).await.unwrap();
        assert!(r.purged.is_empty());
        assert!(r.purge_note.is_some());
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 15);
    }

    #[tokio::test]
    async fn a_type_the_run_did_not_emit_is_not_purged() {
        let mut e = engine();
        let mut org = Change::new("OrgUnit", "o1", ChangeKind::Upsert);
        org.attributes
            .insert("name".into(), Value::String("R&D".into()));
        e.run(
            &Fake::new(vec![users(0..2), vec![org]], "w1"),
            opts(ImportMode::Full),
        )
        .await
        .unwrap();
        let r = e
            .run(&Fake::new(vec![users(0..2)], "w2"), opts(ImportMode::Full))
            .await
            .unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert!(r.purge_note.as_deref().unwrap_or("").contains("OrgUnit"));
        assert_eq!(
            e.store().live_objects("fake:t", "OrgUnit").unwrap().len(),
            1
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_commits_nothing_and_is_recorded() {
        let mut e = engine();
        e.run(&Fake::new(vec![users(0..2)], "w1"), opts(ImportMode::Full))
            .await
            .unwrap();
        let mut fake = Fake::new(vec![users(5..7), users(7..9)], "w2");
        fake.hang_after = Some(1);
        let o = opts(ImportMode::Delta);
        let ctx = o.context.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ctx.cancel();
        });
        let r = e.run(&fake, o).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Cancelled);
        assert!(e
            .store()
            .object("fake:t", "User", "u005")
            .unwrap()
            .is_none());
        assert_eq!(
            e.store().watermark("fake:t").unwrap().as_deref(),
            Some("w1")
        );
        assert_eq!(
            e.store().run(r.run_id).unwrap().unwrap().status,
            RunStatus::Cancelled
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connector_ignoring_cancellation_is_abandoned_after_the_grace() {
        #[derive(Debug)]
        struct Stuck;
        #[async_trait]
        impl Connector for Stuck {
            fn schema(&self) -> Schema {
                Schema::default()
            }
            async fn check(&self) -> Vec<HealthCheck> {
                Vec::new()
            }
            async fn import(
                &self,
                _: ImportRequest,
                _: &mut dyn ChangeSink,
                _: &RunContext,
            ) -> Result<ImportOutcome, ConnectorError> {
                std::future::pending().await
            }
        }
        let mut e = engine();
        let o = opts(ImportMode::Full);
        o.context.cancel();
        let r = e.run(&Stuck, o).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Cancelled);
    }

    #[tokio::test]
    async fn changes_out_has_every_change_in_order_and_redaction_applies() {
        let dir = std::env::temp_dir().join(format!("harness-engine-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("changes.jsonl");
        let mut e = engine();
        let mut o = opts(ImportMode::Full);
        o.changes_out = Some(path.clone());
        let mut fake = Fake::new(
            vec![
                users(0..2),
                vec![Change::new("User", "u009", ChangeKind::Delete)],
            ],
            "w1",
        );
        fake.end = Err(ConnectorError::new(
            ErrorKind::Authentication,
            "secret hunter2x leaked",
        ));
        o.redactor
            .add(&secrecy::SecretString::from("hunter2x".to_string()));
        let r = e.run(&fake, o).await.unwrap();
        let RunOutcome::Failed { message, .. } = &r.outcome else {
            panic!()
        };
        assert_eq!(message, "secret [REDACTED] leaked");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["externalId"], "u000");
        assert_eq!(lines[2]["changeType"], "Delete");
        assert_eq!(
            lines[0],
            serde_json::json!({"objectType":"User","changeType":"Upsert","externalId":"u000","attributes":{"firstName":"x"}})
        );
    }
}
