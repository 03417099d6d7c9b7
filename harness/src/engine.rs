//! The sync engine stand-in: runs one import into the [`Store`], applying
//! changes as they stream in, then the deletion check and the purge, then
//! the watermark, and commits all of it in one transaction.
//!
//! A run that fails, is cancelled (up to the moment of its COMMIT), is
//! killed or would delete too much commits nothing: the previous watermark
//! and objects stay, and the next run converges. The transaction is a value
//! ([`crate::store`]'s run transaction, held by [`crate::run_writer`]) that
//! rolls back whenever it is dropped uncommitted. The run history row is written in its own transaction, so a
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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use connector_api::{
    Change, ChangeKind, ChangeSink, Connector, ConnectorError, Counts, ErrorKind, ImportMode,
    ImportOutcome, ImportRequest, MetricsSnapshot, RecordError, RunContext,
};
use serde::Serialize;

use crate::dry_run::{DryRunReport, Effect};
use crate::run_writer::{Committed, Queued, Writer};
use crate::secrets::Redactor;
use crate::store::{RunFinish, RunStatus, Store, StoreError};

/// The default `--max-delete-percent`: a run may delete at most this
/// percentage of the live objects of any type that existed before it.
pub const DEFAULT_MAX_DELETE_PERCENT: f64 = 10.0;

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
        warnings: &report.warnings,
        record_error_list: &report.record_errors,
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
    /// A run refuses to delete (by Delete changes or by the purge of a
    /// complete full run) more than this percentage of the live objects of
    /// any type that existed before it, and then commits nothing.
    pub max_delete_percent: f64,
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
    /// `--dry-run`: compare each change with the store and report what the
    /// run would do ([`RunReport::dry_run`]); commit nothing, advance no
    /// watermark, record the run as `DryRun`.
    pub dry_run: bool,
}

impl RunOptions {
    /// Options with the defaults: 10 % delete limit, no changes file, a fresh
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
            max_delete_percent: DEFAULT_MAX_DELETE_PERCENT,
            changes_out: None,
            context: RunContext::new(),
            observer: None,
            redactor: Redactor::default(),
            cancel_grace: DEFAULT_CANCEL_GRACE,
            dry_run: false,
        }
    }
}

/// A run that would have deleted too much of one object type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurgeRefusal {
    /// The object type.
    pub object_type: String,
    /// How many live objects that existed before the run it would delete
    /// (`deletes + purges`).
    pub would_delete: u64,
    /// Of those, how many by Delete changes.
    pub deletes: u64,
    /// Of those, how many by the purge (live objects a complete full run did
    /// not see).
    pub purges: u64,
    /// How many live objects of the type the store held before the run.
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
            "{} of the {} existing {} objects ({:.1}%, limit {}%; {} by Delete changes, {} not \
             seen by the full run)",
            self.would_delete,
            self.live,
            self.object_type,
            self.percent,
            self.max_percent,
            self.deletes,
            self.purges
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
    /// The run would have deleted (by Delete changes or a purge) more than
    /// allowed; nothing committed.
    PurgeRefused {
        /// Each object type over the limit.
        refusals: Vec<PurgeRefusal>,
    },
    /// A dry run: compared with the store ([`RunReport::dry_run`]); nothing
    /// committed.
    DryRun,
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
            RunOutcome::DryRun => RunStatus::DryRun,
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
    /// With `--dry-run`: what the run would have done (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunReport>,
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

        let mut report = RunReport {
            run_id,
            instance: instance.to_string(),
            connector: options.connector_name.clone(),
            mode,
            outcome: RunOutcome::Succeeded,
            started_at,
            ended_at: String::new(),
            duration_ms: 0,
            counts: Counts::default(),
            metrics: MetricsSnapshot::default(),
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
            dry_run: options.dry_run.then(DryRunReport::default),
        };

        // The run's transaction: dropping `writer` without committing rolls
        // back everything below.
        let started = match Writer::begin(&self.store).await {
            Err(e) => Err(e),
            Ok(writer) => {
                let owned = Arc::<str>::from(instance);
                match writer.call(move |tx| tx.live_counts(&owned)).await {
                    Ok(Ok(live)) => Ok((writer, live)),
                    Ok(Err(e)) => Err(sink_error(e)),
                    Err(e) => Err(e),
                }
            }
        };
        let result = match started {
            Err(e) => {
                report.metrics = ctx.metrics().snapshot();
                Err(e)
            }
            Ok((writer, live_before)) => {
                let imported = self
                    .import(connector, request, writer, &options, &mut report)
                    .await;
                match imported {
                    Err(e) => Err(e),
                    Ok((writer, outcome, deletes)) => {
                        let deletions = Deletions {
                            live_before,
                            by_delete: deletes,
                        };
                        self.settle(writer, &mut report, &outcome, &deletions, &options, t0)
                            .await;
                        Ok(())
                    }
                }
            }
        };
        if let Err(e) = result {
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

        if report.outcome.committed() {
            tracing::info!(run_id, status = %report.outcome.status(), "import committed");
            return Ok(report);
        }
        report.watermark_note = Some(match &report.outcome {
            RunOutcome::Cancelled => {
                "the run was cancelled; nothing was committed and the watermark is unchanged".into()
            }
            RunOutcome::PurgeRefused { .. } => {
                "the deletions were refused; nothing was committed and the watermark is unchanged"
                    .into()
            }
            RunOutcome::DryRun => {
                "a dry run: nothing was committed and the watermark is unchanged".into()
            }
            _ => "the run failed; nothing was committed and the watermark is unchanged".into(),
        });
        report.purged.clear();
        report.new_watermark = None;
        report.watermark_advanced = false;
        report.ended_at = now();
        report.duration_ms = elapsed_ms(t0);
        let (kind, error) = match &report.outcome {
            RunOutcome::Failed { kind, message, .. } => {
                (Some(kind.as_str()), Some(message.clone()))
            }
            RunOutcome::PurgeRefused { refusals } => (
                None,
                Some(format!(
                    "the run would have deleted {}",
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
        self.store
            .finish_run(run_id, &finish_of(&report, kind, error.as_deref()))?;
        tracing::warn!(run_id, status = %report.outcome.status(), "import did not commit");
        Ok(report)
    }

    /// Streams the connector's changes into the run's transaction. Returns
    /// the writer (still uncommitted), the connector's outcome (its warnings
    /// and record errors redacted) and the live objects of each type this
    /// run's Delete changes deleted.
    async fn import(
        &self,
        connector: &dyn Connector,
        request: ImportRequest,
        writer: Writer,
        options: &RunOptions,
        report: &mut RunReport,
    ) -> Result<(Writer, ImportOutcome, BTreeMap<String, u64>), ConnectorError> {
        let ctx = &options.context;
        let out = match open_changes_out(options.changes_out.as_ref()) {
            Ok(out) => out,
            Err(e) => {
                writer.roll_back().await;
                return Err(e);
            }
        };
        let mut sink = StoreSink {
            writer,
            instance: Arc::from(report.instance.as_str()),
            run_id: report.run_id,
            mode: report.mode,
            ctx,
            counts: Counts::default(),
            deleted: BTreeSet::new(),
            out,
            observer: options.observer.as_deref(),
            failed: None,
            dry: report.dry_run.take(),
            queued: VecDeque::new(),
            halted: Arc::new(AtomicBool::new(false)),
        };
        let result = import_with_grace(
            connector.import(request, &mut sink, ctx),
            ctx,
            options.cancel_grace,
        )
        .await;
        sink.drain().await;
        if let Some(obs) = &options.observer {
            obs.finished();
        }
        report.metrics = ctx.metrics().snapshot();
        report.dry_run = sink.dry.take();
        let (writer, counts, deletes, failed) = sink.finish();
        report.counts = counts;
        // A sink failure is the root cause even when the connector
        // swallowed it or failed differently after it.
        let result = match failed {
            Some(e) => Err(e),
            None => result,
        };
        match result {
            Err(e) => {
                writer.roll_back().await;
                Err(e)
            }
            Ok(mut outcome) => {
                let redactor = &options.redactor;
                for w in &mut outcome.warnings {
                    *w = redactor.redact(w);
                }
                for e in &mut outcome.record_errors {
                    redact_record_error(redactor, e);
                }
                report.complete = outcome.complete;
                report.warnings.clone_from(&outcome.warnings);
                report.record_errors.clone_from(&outcome.record_errors);
                Ok((writer, outcome, deletes))
            }
        }
    }

    /// After a connector returned an outcome: the deletion check, the purge,
    /// the watermark and the commit. Sets `report.outcome` to what happened;
    /// anything but a commit rolls back (the writer is dropped).
    async fn settle(
        &self,
        writer: Writer,
        report: &mut RunReport,
        outcome: &ImportOutcome,
        deletions: &Deletions,
        options: &RunOptions,
        t0: Instant,
    ) {
        let ctx = &options.context;
        let record_errors = outcome.record_errors.len();
        if ctx.is_cancelled() {
            report.outcome = RunOutcome::Cancelled;
            writer.roll_back().await;
            return;
        }
        match self
            .delete_check(&writer, report, outcome, deletions, options)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(refusals)) => {
                report.outcome = RunOutcome::PurgeRefused { refusals };
                writer.roll_back().await;
                return;
            }
            Err(e) => {
                report.outcome = failed(&e);
                writer.roll_back().await;
                return;
            }
        }

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
        if let Some(dry) = &mut report.dry_run {
            dry.would_commit_watermark = report.new_watermark.take();
            report.watermark_advanced = false;
            report.outcome = RunOutcome::DryRun;
            writer.roll_back().await;
            return;
        }
        report.ended_at = now();
        report.duration_ms = elapsed_ms(t0);

        let instance = Arc::<str>::from(options.instance.as_str());
        let run_id = report.run_id;
        let watermark = report.new_watermark.clone();
        let ended_at = report.ended_at.clone();
        let finished = FinishRow::of(report);
        let written = writer
            .call(move |tx| -> Result<(), StoreError> {
                if let Some(w) = &watermark {
                    tx.set_watermark(&instance, w, run_id, &ended_at)?;
                }
                tx.finish_run(run_id, &finished.row())
            })
            .await
            .and_then(|r| r.map_err(sink_error));
        let committed = match written {
            Ok(()) => writer.commit(ctx).await,
            Err(e) => {
                writer.roll_back().await;
                Err(e)
            }
        };
        match committed {
            Ok(Committed::Yes) => {}
            Ok(Committed::Cancelled) => report.outcome = RunOutcome::Cancelled,
            Err(e) => report.outcome = failed(&e),
        }
    }

    /// The deletion check of every run, then the purge of a complete full
    /// run: `Ok(Err(refusals))` when a type would lose more than the limit.
    ///
    /// What counts, per object type, is the live objects that existed before
    /// the run and that it would delete: by Delete changes, and (complete
    /// full runs only) by the purge of the ones it did not see. The base is
    /// the live objects of that type before the run, so objects the run
    /// creates never dilute it; a type with no live objects before the run
    /// (the first import into an empty store) has nothing to delete.
    async fn delete_check(
        &self,
        writer: &Writer,
        report: &mut RunReport,
        outcome: &ImportOutcome,
        deletions: &Deletions,
        options: &RunOptions,
    ) -> Result<Result<(), Vec<PurgeRefusal>>, ConnectorError> {
        let purging = report.mode == ImportMode::Full;
        if purging && !outcome.complete {
            report.purge_note = Some(
                "nothing was purged: the connector marked the run incomplete (objects it did not \
                 see may still exist)"
                    .into(),
            );
        } else if purging && !outcome.record_errors.is_empty() {
            report.purge_note = Some(
                "nothing was purged: some records could not be imported, so unseen objects may \
                 still exist"
                    .into(),
            );
        }
        let purging = purging && outcome.complete && outcome.record_errors.is_empty();
        let instance = Arc::<str>::from(options.instance.as_str());
        let run_id = report.run_id;
        // Live types now, and for each type the run emitted, the unseen ones.
        let emitted: BTreeSet<String> = report.counts.0.keys().cloned().collect();
        let (unseen, skipped) = if purging {
            let owned = Arc::clone(&instance);
            writer
                .call(move |tx| -> Result<_, StoreError> {
                    let mut unseen = BTreeMap::new();
                    let mut skipped = Vec::new();
                    for ty in tx.live_counts(&owned)?.into_keys() {
                        if emitted.contains(&ty) {
                            let n = tx.unseen(&owned, &ty, run_id)?;
                            unseen.insert(ty, n);
                        } else {
                            skipped.push(ty);
                        }
                    }
                    Ok((unseen, skipped))
                })
                .await?
                .map_err(sink_error)?
        } else {
            (BTreeMap::new(), Vec::new())
        };

        let mut refusals = Vec::new();
        let types: BTreeSet<&String> = unseen.keys().chain(deletions.by_delete.keys()).collect();
        for ty in types {
            let purges = unseen.get(ty).copied().unwrap_or(0);
            let deletes = deletions.by_delete.get(ty).copied().unwrap_or(0);
            let would_delete = purges + deletes;
            if would_delete == 0 {
                continue;
            }
            let live = deletions.live_before.get(ty).copied().unwrap_or(0);
            #[allow(clippy::cast_precision_loss)]
            let percent = would_delete as f64 * 100.0 / live.max(1) as f64;
            if percent > options.max_delete_percent {
                refusals.push(PurgeRefusal {
                    object_type: ty.clone(),
                    would_delete,
                    deletes,
                    purges,
                    live,
                    percent,
                    max_percent: options.max_delete_percent,
                });
            }
        }
        if !refusals.is_empty() {
            match &mut report.dry_run {
                Some(dry) => dry.would_refuse = refusals,
                None => return Ok(Err(refusals)),
            }
        }
        let plan: Vec<String> = unseen
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(ty, _)| ty)
            .collect();
        if !plan.is_empty() {
            let dry = report.dry_run.is_some();
            let (purged, examples) = writer
                .call(move |tx| -> Result<_, StoreError> {
                    let mut purged = BTreeMap::new();
                    let mut examples = BTreeMap::new();
                    for ty in plan {
                        let n = tx.purge(&instance, &ty, run_id)?;
                        if dry {
                            let ids =
                                tx.purged_ids(&instance, &ty, run_id, crate::dry_run::EXAMPLES)?;
                            examples.insert(ty.clone(), ids);
                        }
                        purged.insert(ty, n);
                    }
                    Ok((purged, examples))
                })
                .await?
                .map_err(sink_error)?;
            if let Some(dry) = &mut report.dry_run {
                for (ty, ids) in examples {
                    dry.add_purge(&ty, purged.get(&ty).copied().unwrap_or(0), ids);
                }
            }
            report.purged = purged;
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

/// What the deletion threshold compares.
#[derive(Debug)]
struct Deletions {
    /// Live objects per type when the run's transaction began.
    live_before: BTreeMap<String, u64>,
    /// Of those, how many per type this run's Delete changes deleted.
    by_delete: BTreeMap<String, u64>,
}

/// An owned copy of a committed run's final row, for the writer thread.
struct FinishRow {
    status: RunStatus,
    ended_at: String,
    duration_ms: u64,
    counts: Counts,
    metrics: MetricsSnapshot,
    record_errors: u64,
    new_watermark: Option<String>,
    watermark_advanced: bool,
    purged: BTreeMap<String, u64>,
    warnings: Vec<String>,
    record_error_list: Vec<RecordError>,
}

impl FinishRow {
    fn of(report: &RunReport) -> Self {
        Self {
            status: report.outcome.status(),
            ended_at: report.ended_at.clone(),
            duration_ms: report.duration_ms,
            counts: report.counts.clone(),
            metrics: report.metrics,
            record_errors: report.record_errors.len() as u64,
            new_watermark: report.new_watermark.clone(),
            watermark_advanced: report.watermark_advanced,
            purged: report.purged.clone(),
            warnings: report.warnings.clone(),
            record_error_list: report.record_errors.clone(),
        }
    }

    fn row(&self) -> RunFinish<'_> {
        RunFinish {
            status: self.status,
            ended_at: &self.ended_at,
            duration_ms: self.duration_ms,
            counts: &self.counts,
            metrics: &self.metrics,
            record_errors: self.record_errors,
            error_kind: None,
            error: None,
            new_watermark: self.new_watermark.as_deref(),
            watermark_advanced: self.watermark_advanced,
            purged: &self.purged,
            warnings: &self.warnings,
            record_error_list: &self.record_error_list,
        }
    }
}

/// Scrubs secret values from every text of a record error (a connector or
/// plugin may quote what it was given).
fn redact_record_error(redactor: &Redactor, e: &mut RecordError) {
    e.message = redactor.redact(&e.message);
    e.object_type = redactor.redact(&e.object_type);
    for text in [&mut e.external_id, &mut e.field].into_iter().flatten() {
        *text = redactor.redact(text);
    }
}

fn failed(e: &ConnectorError) -> RunOutcome {
    RunOutcome::Failed {
        kind: e.kind(),
        message: e.message().to_string(),
        retryable: e.is_retryable(),
    }
}

/// A store failure as the connector-facing error of the sink.
pub(crate) fn sink_error(e: StoreError) -> ConnectorError {
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
    let file = crate::private_file::create_private(path, true).map_err(|e| {
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

/// What [`StoreSink::store`] returns: the page, which changes deleted a live
/// object older than the run, the dry-run effects, and the first error.
type Stored = (Vec<Change>, Vec<bool>, Vec<Effect>, Option<ConnectorError>);

/// Applies changes to the store inside the run's open transaction.
struct StoreSink<'a> {
    writer: Writer,
    instance: Arc<str>,
    run_id: i64,
    mode: ImportMode,
    ctx: &'a RunContext,
    counts: Counts,
    /// `(type, id)` of the live objects older than this run that its Delete
    /// changes deleted (and no later Upsert revived).
    deleted: BTreeSet<(String, String)>,
    out: Option<(PathBuf, BufWriter<File>)>,
    observer: Option<&'a dyn RunObserver>,
    failed: Option<ConnectorError>,
    /// With `--dry-run`: what the changes so far would do.
    dry: Option<DryRunReport>,
    /// Pages handed to the writer thread and not yet recorded, oldest
    /// first: at most [`PAGES_QUEUED`] once `apply` returns.
    queued: VecDeque<Queued<Stored>>,
    /// Set by the writer thread when a page failed: the pages queued
    /// after it are then not applied (the run fails and rolls back).
    halted: Arc<AtomicBool>,
}

/// How many pages the writer thread may still be storing when
/// [`StoreSink::apply`] returns, so the connector fetches and maps the
/// next page meanwhile (on another core).
const PAGES_QUEUED: usize = 2;

impl StoreSink<'_> {
    /// Queues a page to be applied in the transaction, after the pages
    /// queued before it. Its result is the page, which of its changes
    /// deleted a live object older than the run, in a dry run what each
    /// would do, and the error of the first change that failed (the ones
    /// before it were applied). Once a page failed, the pages queued after
    /// it apply nothing.
    fn store(&self, changes: Vec<Change>) -> Result<Queued<Stored>, ConnectorError> {
        let instance = Arc::clone(&self.instance);
        let run_id = self.run_id;
        let mode = self.mode;
        let dry = self.dry.is_some();
        let halted = Arc::clone(&self.halted);
        self.writer.queue(move |tx| {
            if halted.load(Ordering::Acquire) {
                return (changes, Vec::new(), Vec::new(), None);
            }
            let mut deletes = Vec::with_capacity(changes.len());
            let mut effects = Vec::new();
            let mut objects = match tx.objects(&instance, run_id, mode) {
                Ok(objects) => objects,
                Err(e) => {
                    halted.store(true, Ordering::Release);
                    return (changes, deletes, effects, Some(sink_error(e)));
                }
            };
            // Each change's attributes are encoded into this one buffer.
            let mut json = Vec::with_capacity(2048);
            for change in &changes {
                if dry {
                    match crate::dry_run::classify(tx, &instance, run_id, change) {
                        Ok(effect) => effects.push(effect),
                        Err(e) => {
                            halted.store(true, Ordering::Release);
                            return (changes, deletes, effects, Some(sink_error(e)));
                        }
                    }
                }
                json.clear();
                // Looking the name list up is a store step: its error is the
                // store's (a busy store stays retryable), not an encoding one.
                let applied = match tx.stored(&change.attributes) {
                    Err(e) => Err(sink_error(e)),
                    Ok(stored) => stored
                        .write_json(&mut json)
                        .map_err(|e| {
                            ConnectorError::new(
                                ErrorKind::Sink,
                                format!(
                                    "cannot encode the attributes of {} {}: {e}",
                                    change.object_type, change.external_id
                                ),
                            )
                        })
                        .and_then(|()| objects.apply(change, &json).map_err(sink_error)),
                };
                match applied {
                    Ok(deleted) => deletes.push(deleted),
                    Err(e) => {
                        halted.store(true, Ordering::Release);
                        return (changes, deletes, effects, Some(e));
                    }
                }
            }
            (changes, deletes, effects, None)
        })
    }

    fn record(&mut self, change: &Change, deleted_existing: bool) -> Result<(), ConnectorError> {
        if deleted_existing {
            self.deleted
                .insert((change.object_type.clone(), change.external_id.clone()));
        } else if change.kind == ChangeKind::Upsert && !self.deleted.is_empty() {
            self.deleted
                .remove(&(change.object_type.clone(), change.external_id.clone()));
        }
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

    /// The writer, the counts applied, the deletions per type, and the
    /// sink's error if it failed (flushing the changes file may fail too).
    fn finish(
        mut self,
    ) -> (
        Writer,
        Counts,
        BTreeMap<String, u64>,
        Option<ConnectorError>,
    ) {
        if let Some((path, out)) = &mut self.out {
            if let Err(e) = out.flush() {
                self.failed.get_or_insert(ConnectorError::new(
                    ErrorKind::Sink,
                    format!("cannot write the changes file {}: {e}", path.display()),
                ));
            }
        }
        let mut deletes: BTreeMap<String, u64> = BTreeMap::new();
        for (ty, _) in &self.deleted {
            *deletes.entry(ty.clone()).or_default() += 1;
        }
        (self.writer, self.counts, deletes, self.failed)
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
        match self.store(changes) {
            Ok(queued) => self.queued.push_back(queued),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        while self.queued.len() > PAGES_QUEUED {
            self.settle_oldest().await?;
        }
        Ok(())
    }
}

impl StoreSink<'_> {
    /// Waits for the oldest queued page and records it: its counts, its
    /// changes file lines, its dry-run effects and the observer's progress,
    /// in page order. Its error (or the writer's) becomes the run's.
    async fn settle_oldest(&mut self) -> Result<(), ConnectorError> {
        let Some(queued) = self.queued.pop_front() else {
            return Ok(());
        };
        let (changes, deletes, effects, error) = match queued.wait().await {
            Ok(stored) => stored,
            Err(e) => (Vec::new(), Vec::new(), Vec::new(), Some(e)),
        };
        if let Some(dry) = &mut self.dry {
            for (change, effect) in changes.iter().zip(effects) {
                dry.add(change, effect);
            }
        }
        let mut run_start = 0;
        for (i, (change, deleted)) in changes.iter().zip(deletes).enumerate() {
            if let Err(e) = self.record(change, deleted) {
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
        if let Some(e) = error {
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Records every page still queued, once the connector returned. After
    /// a failure the rest are dropped unrecorded (they applied nothing).
    async fn drain(&mut self) {
        while !self.queued.is_empty() && self.failed.is_none() {
            // An error is kept in `failed`, which the run reports.
            let _ = self.settle_oldest().await;
        }
        self.queued.clear();
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
        /// Never return, not even when cancelled.
        stuck: bool,
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
                stuck: false,
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
            if self.stuck {
                std::future::pending::<()>().await;
            }
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

    /// Runs `pages` (then watermark `w`) with default options.
    async fn run(e: &mut Engine, pages: Vec<Vec<Change>>, w: &str, mode: ImportMode) -> RunReport {
        e.run(&Fake::new(pages, w), opts(mode)).await.unwrap()
    }

    fn watermark(e: &Engine) -> Option<String> {
        e.store().watermark("fake:t").unwrap()
    }

    fn object(e: &Engine, id: &str) -> Option<crate::store::StoredObject> {
        e.store().object("fake:t", "User", id).unwrap()
    }

    fn engine() -> Engine {
        Engine::new(Store::open_in_memory().unwrap())
    }

    #[tokio::test]
    async fn full_run_commits_objects_and_watermark_then_delta_gets_it() {
        let mut e = engine();
        let fake = Fake::new(vec![users(0..12), users(12..20)], "w1");
        let r = e.run(&fake, opts(ImportMode::Full)).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert_eq!(r.counts.of("User").upserts, 20);
        assert_eq!(r.metrics.pages, 2);
        assert!(r.watermark_advanced);
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 20);

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
        let o = object(&e, "u001").unwrap();
        assert!(o.deleted);
        assert_eq!(o.attributes["firstName"], "x");
        assert_eq!(watermark(&e).as_deref(), Some("w2"));
        let runs = e.store().runs(None).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].mode, "Delta");
        assert_eq!(runs[0].old_watermark.as_deref(), Some("w1"));
    }

    #[tokio::test]
    async fn failure_mid_run_commits_nothing_but_is_recorded() {
        let mut e = engine();
        run(&mut e, vec![users(0..2)], "w1", ImportMode::Full).await;
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
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        let o = object(&e, "u000").unwrap();
        assert_eq!(o.attributes["firstName"], "x", "rolled back");
        assert!(object(&e, "u010").is_none());
        let run = e.store().run(r.run_id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("Server"));
        assert_eq!(run.error.as_deref(), Some("503 at offset 200"));
    }

    #[tokio::test]
    async fn a_store_failure_recording_a_name_list_is_the_stores_error() {
        let mut e = engine();
        crate::store::lock(&e.store().shared_connection().0)
            .execute_batch(
                "CREATE TRIGGER refuse_names BEFORE INSERT ON attribute_names \
                 BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
            )
            .unwrap();
        let r = e
            .run(&Fake::new(vec![users(0..2)], "w1"), opts(ImportMode::Full))
            .await
            .unwrap();
        let RunOutcome::Failed { kind, message, .. } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(*kind, ErrorKind::Sink);
        assert!(message.starts_with("the state store "), "{message}");
        assert!(message.contains("disk says no"), "{message}");
        assert!(!message.contains("cannot encode"), "{message}");
        assert!(object(&e, "u000").is_none());
    }

    #[tokio::test]
    async fn a_store_failure_on_a_queued_page_fails_the_run_and_commits_nothing() {
        let mut e = engine();
        run(&mut e, vec![users(0..2)], "w1", ImportMode::Full).await;
        // The store refuses u004, the second change of the second page,
        // while later pages are already queued behind it.
        crate::store::lock(&e.store().shared_connection().0)
            .execute_batch(
                "CREATE TRIGGER refuse_u004 BEFORE INSERT ON objects \
                 WHEN NEW.external_id = 'u004' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
            )
            .unwrap();
        let pages = vec![
            vec![user("u000", "changed"), user("u002", "x")],
            users(3..6),
            users(6..9),
            users(9..12),
            users(12..15),
        ];
        let r = e
            .run(&Fake::new(pages, "w2"), opts(ImportMode::Delta))
            .await
            .unwrap();
        let RunOutcome::Failed { kind, message, .. } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(*kind, ErrorKind::Sink);
        assert!(message.contains("disk says no"), "{message}");
        // The connector heard of it at most PAGES_QUEUED pages later (the
        // fourth apply), and sent no fifth page.
        assert_eq!(r.metrics.pages, 4);
        // Counted: the changes applied before the failure, nothing after it.
        let mut counts = Counts::default();
        for _ in 0..3 {
            counts.add("User", ChangeKind::Upsert);
        }
        assert_eq!(r.counts, counts);
        assert!(!r.watermark_advanced);
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert_eq!(object(&e, "u000").unwrap().attributes["firstName"], "x");
        for id in ["u002", "u003", "u006", "u009", "u012"] {
            assert!(object(&e, id).is_none(), "{id} rolled back");
        }
        let history = e.store().run(r.run_id).unwrap().unwrap();
        assert_eq!(history.status, RunStatus::Failed);
        assert_eq!(history.error_kind.as_deref(), Some("Sink"));

        // The store stays usable: without the trigger the same run commits.
        crate::store::lock(&e.store().shared_connection().0)
            .execute_batch("DROP TRIGGER refuse_u004")
            .unwrap();
        let r = run(
            &mut e,
            vec![users(3..6), users(6..9)],
            "w3",
            ImportMode::Delta,
        )
        .await;
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert!(object(&e, "u008").is_some());
    }

    #[tokio::test]
    async fn record_errors_apply_good_records_but_keep_the_watermark() {
        let mut e = engine();
        run(&mut e, vec![users(0..2)], "w1", ImportMode::Full).await;
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
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert!(object(&e, "u003").is_some());
        // No purge with record errors, even though u000/u001 were not seen.
        assert!(r.purged.is_empty());
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 4);
    }

    #[tokio::test]
    async fn purge_within_limit_and_refusal_over_it() {
        let mut e = engine();
        run(&mut e, vec![users(0..20)], "w1", ImportMode::Full).await;
        // 2 of 20 unseen = 10 %: allowed (the limit is inclusive).
        let r = run(&mut e, vec![users(0..18)], "w2", ImportMode::Full).await;
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        assert_eq!(r.purged.get("User"), Some(&2));
        let o = object(&e, "u019").unwrap();
        assert_eq!((o.deleted, o.deleted_by.as_deref()), (true, Some("purge")));
        // 3 of 18 unseen: refused, nothing committed.
        let r = run(&mut e, vec![users(0..15)], "w3", ImportMode::Full).await;
        let RunOutcome::PurgeRefused { refusals } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(refusals[0].would_delete, 3);
        assert_eq!(refusals[0].live, 18);
        assert_eq!(watermark(&e).as_deref(), Some("w2"));
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 18);
        // With a higher limit it goes through.
        let mut o = opts(ImportMode::Full);
        o.max_delete_percent = 50.0;
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
        run(&mut e, vec![users(0..2), vec![org]], "w1", ImportMode::Full).await;
        let r = run(&mut e, vec![users(0..2)], "w2", ImportMode::Full).await;
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
        run(&mut e, vec![users(0..2)], "w1", ImportMode::Full).await;
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
        assert!(object(&e, "u005").is_none());
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert_eq!(
            e.store().run(r.run_id).unwrap().unwrap().status,
            RunStatus::Cancelled
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connector_ignoring_cancellation_is_abandoned_after_the_grace() {
        let mut e = engine();
        let mut stuck = Fake::new(vec![], "w1");
        stuck.stuck = true;
        let o = opts(ImportMode::Full);
        o.context.cancel();
        let r = e.run(&stuck, o).await.unwrap();
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
    fn delete(id: &str) -> Change {
        Change::new("User", id, ChangeKind::Delete)
    }

    /// `(would_delete, deletes, purges, live)`.
    fn counts(r: &PurgeRefusal) -> (u64, u64, u64, u64) {
        (r.would_delete, r.deletes, r.purges, r.live)
    }

    fn refusal_of(r: &RunReport) -> &PurgeRefusal {
        let RunOutcome::PurgeRefused { refusals } = &r.outcome else {
            panic!("{:?}", r.outcome)
        };
        assert_eq!(refusals.len(), 1, "{refusals:?}");
        &refusals[0]
    }

    /// The issue's example: 1,000 users, 120 not seen, 300 new hires. The
    /// base is the 1,000 that existed (12 %), not the 1,180 after the run's
    /// inserts (10.2 %), nor 1,300.
    #[tokio::test]
    async fn the_delete_threshold_base_is_the_live_objects_before_the_run() {
        let mut e = engine();
        let r = run(&mut e, vec![users(0..1000)], "w1", ImportMode::Full).await;
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        let fake = Fake::new(vec![users(120..1000), users(1000..1300)], "w2");
        let r = e.run(&fake, opts(ImportMode::Full)).await.unwrap();
        let refusal = refusal_of(&r);
        assert_eq!(counts(refusal), (120, 0, 120, 1000));
        assert!((refusal.percent - 12.0).abs() < 1e-9, "{}", refusal.percent);
        assert_eq!(refusal.max_percent, DEFAULT_MAX_DELETE_PERCENT);
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert_eq!(
            e.store().live_objects("fake:t", "User").unwrap().len(),
            1000
        );
        assert!(object(&e, "u1000").is_none());
        assert_eq!(
            e.store().run(r.run_id).unwrap().unwrap().status,
            RunStatus::PurgeRefused
        );
    }

    #[tokio::test]
    async fn delete_changes_count_toward_the_threshold() {
        let mut e = engine();
        run(&mut e, vec![users(0..20)], "w1", ImportMode::Full).await;
        // A delta deleting 3 of the 20 (15 %) is refused.
        let fake = Fake::new(
            vec![vec![delete("u000"), delete("u001"), delete("u002")]],
            "w2",
        );
        let r = e.run(&fake, opts(ImportMode::Delta)).await.unwrap();
        let refusal = refusal_of(&r);
        assert_eq!(counts(refusal), (3, 3, 0, 20));
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 20);
        assert_eq!(watermark(&e).as_deref(), Some("w1"));

        // Not deletions of existing objects: Deletes of objects the store
        // never had, of one this run created, a repeated Delete, and a
        // Delete the same run undid with an Upsert. Two real ones (10 %) pass.
        let page = vec![
            delete("u000"),
            delete("u000"),
            delete("u001"),
            delete("x001"),
            delete("x002"),
            delete("x003"),
            user("n001", "new"),
            delete("n001"),
            delete("u005"),
            user("u005", "rehired"),
        ];
        let r = run(&mut e, vec![page], "w3", ImportMode::Delta).await;
        assert_eq!(r.outcome, RunOutcome::Succeeded, "{:?}", r.outcome);
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 18);
        assert_eq!(watermark(&e).as_deref(), Some("w3"));

        // Deletes and purges add up: 1 Delete + 2 unseen of 18 (16.7 %).
        let mut page = users(2..17);
        page.push(delete("u017"));
        let r = run(&mut e, vec![page], "w4", ImportMode::Full).await;
        let refusal = refusal_of(&r);
        assert_eq!(
            counts(refusal),
            (3, 1, 2, 18),
            "u017 deleted, u018 and u019 unseen"
        );
    }

    /// The first import into an empty store has nothing to delete: its base
    /// is 0, and a Delete of an object the store never had deletes nothing.
    #[tokio::test]
    async fn the_first_import_into_an_empty_store_is_never_refused() {
        let mut e = engine();
        let mut page = users(0..5);
        page.extend([delete("x1"), delete("x2"), delete("x3")]);
        let mut o = opts(ImportMode::Full);
        o.max_delete_percent = 0.0;
        let r = e.run(&Fake::new(vec![page], "w1"), o).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded, "{:?}", r.outcome);
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 5);
        assert_eq!(e.store().all_objects("fake:t", "User").unwrap().len(), 8);
    }

    /// Watches for the end of the import and cancels then: a Ctrl-C or
    /// SIGTERM during the purge/commit phase.
    #[derive(Debug)]
    struct CancelAtFinish(RunContext);

    impl RunObserver for CancelAtFinish {
        fn page_applied(&self, _: &str, _: u64, _: MetricsSnapshot) {}
        fn finished(&self) {
            self.0.cancel();
        }
    }

    #[tokio::test]
    async fn a_cancel_after_the_import_and_before_the_commit_commits_nothing() {
        let mut e = engine();
        run(&mut e, vec![users(0..20)], "w1", ImportMode::Full).await;
        let mut o = opts(ImportMode::Full);
        o.observer = Some(Arc::new(CancelAtFinish(o.context.clone())));
        let r = e
            .run(&Fake::new(vec![users(1..21)], "w2"), o)
            .await
            .unwrap();
        assert_eq!(r.outcome, RunOutcome::Cancelled);
        assert!(r.purged.is_empty() && r.new_watermark.is_none());
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert!(!object(&e, "u000").unwrap().deleted);
        assert!(object(&e, "u020").is_none());
        let run = e.store().run(r.run_id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Cancelled);
        assert!(run.purged.is_empty() && run.new_watermark.is_none());
    }

    /// Dropping a run mid-way (a timeout around it, a panic) rolls it back:
    /// nothing has to remember to.
    #[tokio::test]
    async fn a_run_dropped_mid_way_rolls_back_and_the_store_stays_usable() {
        let mut e = engine();
        run(&mut e, vec![users(0..2)], "w1", ImportMode::Full).await;
        let mut page = vec![user("u000", "changed")];
        page.extend(users(5..7));
        let mut fake = Fake::new(vec![page, users(7..8)], "w2");
        fake.hang_after = Some(1);
        let dropped = tokio::time::timeout(
            Duration::from_millis(200),
            e.run(&fake, opts(ImportMode::Delta)),
        )
        .await;
        assert!(dropped.is_err(), "the run hangs until dropped");
        let r = run(&mut e, vec![users(2..3)], "w3", ImportMode::Delta).await;
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        let o = object(&e, "u000").unwrap();
        assert_eq!(o.attributes["firstName"], "x", "rolled back");
        assert!(object(&e, "u005").is_none());
        assert_eq!(watermark(&e).as_deref(), Some("w3"));
    }

    #[tokio::test]
    async fn a_dry_run_reports_refusals_and_purges_and_commits_nothing() {
        let mut e = engine();
        run(&mut e, vec![users(0..20)], "w1", ImportMode::Full).await;
        let mut o = opts(ImportMode::Full);
        o.dry_run = true;
        let mut page = users(2..15);
        page.push(user("u003", "changed"));
        page.extend(users(20..22));
        let r = e.run(&Fake::new(vec![page], "w2"), o).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::DryRun);
        let dry = r.dry_run.as_ref().unwrap();
        assert_eq!(dry.would_commit_watermark.as_deref(), Some("w2"));
        assert_eq!(dry.would_refuse.len(), 1);
        assert_eq!(counts(&dry.would_refuse[0]), (7, 0, 7, 20));
        let t = &dry.types["User"];
        assert_eq!(
            (
                t.create.count,
                t.update.count,
                t.delete.count,
                t.purge.count,
                t.unchanged
            ),
            (2, 1, 0, 7, 13)
        );
        assert_eq!(t.update.examples[0].external_id, "u003");
        assert_eq!(t.update.examples[0].changed_attributes, ["firstName"]);
        assert_eq!(t.purge.examples.len(), 7);
        assert_eq!(watermark(&e).as_deref(), Some("w1"));
        assert_eq!(e.store().live_objects("fake:t", "User").unwrap().len(), 20);
        assert!(object(&e, "u020").is_none());
        let run = e.store().run(r.run_id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::DryRun);
        assert!(run.new_watermark.is_none() && !run.watermark_advanced);
    }

    #[tokio::test]
    async fn record_errors_are_redacted() {
        let mut e = engine();
        let mut fake = Fake::new(vec![users(0..1)], "w1");
        fake.end.as_mut().unwrap().record_errors.push(RecordError {
            object_type: "User".into(),
            position: 1,
            external_id: Some("id-hunter2x".into()),
            field: Some("field-hunter2x".into()),
            message: "the token hunter2x was refused".into(),
        });
        let o = opts(ImportMode::Full);
        o.redactor
            .add(&secrecy::SecretString::from("hunter2x".to_string()));
        let r = e.run(&fake, o).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::SucceededWithRecordErrors);
        assert_eq!(
            r.record_errors,
            vec![RecordError {
                object_type: "User".into(),
                position: 1,
                external_id: Some("id-[REDACTED]".into()),
                field: Some("field-[REDACTED]".into()),
                message: "the token [REDACTED] was refused".into(),
            }]
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_changes_file_is_created_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("harness-engine-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("changes.jsonl");
        let mut o = opts(ImportMode::Full);
        o.changes_out = Some(path.clone());
        let r = engine()
            .run(&Fake::new(vec![users(0..2)], "w1"), o)
            .await
            .unwrap();
        assert_eq!(r.outcome, RunOutcome::Succeeded);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
