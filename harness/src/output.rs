//! Everything the CLI writes to stdout: run summaries, run history, schema,
//! health checks, JSON; and its own stderr lines (`error:`, `harness:`), as
//! text or, with `--log-format json`, JSON like the log lines.
//!
//! Every function returns the write error so the caller can treat a closed
//! pipe (`harness runs | head -1`) as a normal end.

use std::io::{self, Write};
use std::sync::OnceLock;

use connector_api::{HealthCheck, Schema, ValueKind};
use serde::Serialize;

use crate::dry_run::{DryRunKind, DryRunReport};
use crate::engine::{RunOutcome, RunReport};
use crate::logging::LogFormat;
use crate::store::RunRecord;

/// How many record errors the human summary lists before summarising.
const RECORD_ERRORS_SHOWN: usize = 10;

/// The format of the harness's own stderr lines (`error:` and `harness:`),
/// set once from `--log-format`.
static STDERR_FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Sets the format of [`notice`] and [`error_line`] (`--log-format`); the
/// first call wins.
pub fn set_stderr_format(format: LogFormat) {
    let _ = STDERR_FORMAT.set(format);
}

/// Whether the harness's stderr lines are JSON (`--log-format json`).
pub fn stderr_is_json() -> bool {
    STDERR_FORMAT.get() == Some(&LogFormat::Json)
}

/// The level of a line on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One stderr line in `format`: `text` itself, or with `json` one object
/// shaped like the `tracing` JSON log lines:
/// `{"timestamp":"...","level":"ERROR","fields":{"message":"error: ..."},"target":"harness"}`.
pub fn render_stderr_line(format: LogFormat, level: Level, text: &str) -> String {
    match format {
        LogFormat::Text => text.to_string(),
        LogFormat::Json => serde_json::json!({
            "timestamp": chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": level.as_str(),
            "fields": { "message": text },
            "target": "harness",
        })
        .to_string(),
    }
}

fn write_stderr(level: Level, text: &str) {
    let format = STDERR_FORMAT.get().copied().unwrap_or_default();
    let line = render_stderr_line(format, level, text);
    let mut err = io::stderr().lock();
    // Nothing sensible is left to do when stderr itself fails.
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// A `harness: TEXT` notice on stderr (a JSON line with `--log-format json`).
pub fn notice(level: Level, text: &str) {
    write_stderr(level, &format!("harness: {text}"));
}

/// The final `error: TEXT` line on stderr (a JSON line with
/// `--log-format json`).
pub fn error_line(text: &str) {
    write_stderr(Level::Error, &format!("error: {text}"));
}

fn out() -> io::StdoutLock<'static> {
    io::stdout().lock()
}

/// Writes `value` as one line of JSON.
///
/// # Errors
/// The write error.
pub fn json<T: Serialize + ?Sized>(value: &T) -> io::Result<()> {
    let mut o = out();
    serde_json::to_writer(&mut o, value).map_err(io::Error::from)?;
    writeln!(o)?;
    o.flush()
}

/// Writes `bytes` as they are.
///
/// # Errors
/// The write error.
pub fn bytes(bytes: &[u8]) -> io::Result<()> {
    let mut o = out();
    o.write_all(bytes)?;
    o.flush()
}

/// Writes `text` and a newline.
///
/// # Errors
/// The write error.
pub fn line(text: &str) -> io::Result<()> {
    let mut o = out();
    writeln!(o, "{text}")?;
    o.flush()
}

/// A duration in milliseconds as `850ms`, `3.42s` or `2m05s`.
pub fn human_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{:02}s", ms / 1000, (ms % 1000) / 10)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// The human summary of a run, as printed by `harness import`.
pub fn render_report(r: &RunReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let status = match &r.outcome {
        RunOutcome::Succeeded => "succeeded".to_string(),
        RunOutcome::SucceededWithRecordErrors => "finished with record errors".to_string(),
        RunOutcome::Failed { kind, .. } => format!("FAILED ({kind})"),
        RunOutcome::Cancelled => "CANCELLED".to_string(),
        RunOutcome::PurgeRefused { .. } => "REFUSED (purge limit)".to_string(),
        RunOutcome::DryRun => "DRY RUN (nothing committed)".to_string(),
    };
    let _ = writeln!(
        s,
        "{} import of {} {} in {} (run {})",
        r.mode,
        r.instance,
        status,
        human_duration(r.duration_ms),
        r.run_id
    );
    let applied = if r.outcome.committed() {
        ""
    } else {
        " (rolled back)"
    };
    if r.counts.0.is_empty() {
        let _ = writeln!(s, "  changes:       none{applied}");
    } else {
        let width = r.counts.0.keys().map(String::len).max().unwrap_or(0);
        for (ty, c) in &r.counts.0 {
            let _ = writeln!(
                s,
                "  {ty:<width$}  {:>8} upserts  {:>8} deletes{applied}",
                c.upserts, c.deletes
            );
        }
    }
    let m = &r.metrics;
    let _ = writeln!(
        s,
        "  requests {}, retries {}, pages {}, records {}, record errors {}",
        m.requests,
        m.retries,
        m.pages,
        m.records,
        r.record_errors.len()
    );
    for e in r.record_errors.iter().take(RECORD_ERRORS_SHOWN) {
        let _ = writeln!(s, "    record error: {e}");
    }
    if r.record_errors.len() > RECORD_ERRORS_SHOWN {
        let _ = writeln!(
            s,
            "    ... and {} more (see --json)",
            r.record_errors.len() - RECORD_ERRORS_SHOWN
        );
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    if !r.purged.is_empty() {
        let list: Vec<String> = r.purged.iter().map(|(t, n)| format!("{n} {t}")).collect();
        let _ = writeln!(s, "  purged:        {}", list.join(", "));
    }
    if let Some(note) = &r.purge_note {
        let _ = writeln!(s, "  purge:         {note}");
    }
    if let RunOutcome::PurgeRefused { refusals } = &r.outcome {
        for p in refusals {
            let _ = writeln!(s, "  purge refused: would delete {p}");
        }
    }
    if let RunOutcome::Failed { message, .. } = &r.outcome {
        let _ = writeln!(s, "  error:         {message}");
    }
    match (&r.new_watermark, &r.watermark_note) {
        (Some(w), _) => {
            let _ = writeln!(s, "  watermark:     advanced to {w}");
        }
        (None, Some(note)) => {
            let _ = writeln!(s, "  watermark:     not advanced: {note}");
        }
        (None, None) => {
            let _ = writeln!(s, "  watermark:     not advanced");
        }
    }
    let _ = writeln!(s, "  state:         {}", r.state);
    if let Some(dry) = &r.dry_run {
        s.push_str(&render_dry_run(dry));
    }
    s
}

/// The `--dry-run` section of the summary.
pub fn render_dry_run(d: &DryRunReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("dry run: what a real run would change (nothing was committed)\n");
    if d.types.is_empty() {
        s.push_str("  no changes\n");
    }
    let ids = |k: &DryRunKind| -> String {
        let mut list: Vec<String> = k
            .examples
            .iter()
            .map(|e| {
                if e.changed_attributes.is_empty() {
                    e.external_id.clone()
                } else {
                    format!("{} ({})", e.external_id, e.changed_attributes.join(", "))
                }
            })
            .collect();
        if k.count > k.examples.len() as u64 {
            list.push("...".into());
        }
        list.join(", ")
    };
    for (ty, t) in &d.types {
        let _ = writeln!(
            s,
            "  {ty}: {} create, {} update, {} delete, {} purge, {} unchanged",
            t.create.count, t.update.count, t.delete.count, t.purge.count, t.unchanged
        );
        for (name, k) in [
            ("create", &t.create),
            ("update", &t.update),
            ("delete", &t.delete),
            ("purge", &t.purge),
        ] {
            if k.count > 0 {
                let _ = writeln!(s, "    {name}: {}", ids(k));
            }
        }
        if !t.changed_attributes.is_empty() {
            let list: Vec<String> = t
                .changed_attributes
                .iter()
                .map(|(a, n)| format!("{a} {n}"))
                .collect();
            let _ = writeln!(s, "    changed attributes: {}", list.join(", "));
        }
    }
    for p in &d.would_refuse {
        let _ = writeln!(s, "  would be refused: it would delete {p}");
    }
    match &d.would_commit_watermark {
        Some(w) => {
            let _ = writeln!(s, "  watermark:     would advance to {w}");
        }
        None => {
            let _ = writeln!(s, "  watermark:     would not advance");
        }
    }
    s
}

/// What `harness import` prints: the run's report and what the CLI adds
/// (why this mode, whether to retry). `--json` prints it as one object: the
/// report's fields plus `modeReason` and `retryable`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary<'a> {
    /// The run.
    #[serde(flatten)]
    pub report: &'a RunReport,
    /// Why the run used its mode, e.g. `given with --mode` or `auto: the
    /// instance workday:acme has a committed watermark`.
    pub mode_reason: &'a str,
    /// Whether the run failed on a cause worth retrying later unchanged
    /// (the process exits 75).
    pub retryable: bool,
}

/// The human summary of `harness import`: [`render_report`] with the
/// mode's reason after the first line.
pub fn render_summary(s: &ImportSummary<'_>) -> String {
    let text = render_report(s.report);
    let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let mut out = format!(
        "{first}\n  mode:          {} ({})\n{rest}",
        s.report.mode.to_string().to_lowercase(),
        s.mode_reason
    );
    if s.retryable {
        out.push_str("  retry:         a temporary failure; run again later unchanged (exit 75)\n");
    }
    out
}

/// Writes the human summary of `harness import`.
///
/// # Errors
/// The write error.
pub fn summary(s: &ImportSummary<'_>) -> io::Result<()> {
    let mut o = out();
    o.write_all(render_summary(s).as_bytes())?;
    o.flush()
}

/// Writes the human summary of a run.
///
/// # Errors
/// The write error.
pub fn report(r: &RunReport) -> io::Result<()> {
    let mut o = out();
    o.write_all(render_report(r).as_bytes())?;
    o.flush()
}

/// Writes the run history as a table, newest first.
///
/// # Errors
/// The write error.
pub fn runs(runs: &[RunRecord]) -> io::Result<()> {
    let mut o = out();
    if runs.is_empty() {
        writeln!(o, "no runs yet")?;
        return o.flush();
    }
    writeln!(
        o,
        "{:>5}  {:<24}  {:<5}  {:<25}  {:>9}  {:>8}  {:>7}  instance / error",
        "run", "started", "mode", "status", "duration", "changes", "errors"
    )?;
    for r in runs {
        let duration = r.duration_ms.map_or_else(|| "-".into(), human_duration);
        let mut tail = r.instance.clone();
        if let Some(e) = &r.error {
            tail.push_str(" - ");
            tail.push_str(e);
        }
        writeln!(
            o,
            "{:>5}  {:<24}  {:<5}  {:<25}  {:>9}  {:>8}  {:>7}  {}",
            r.id,
            r.started_at,
            r.mode,
            r.status.as_str(),
            duration,
            r.counts.total(),
            r.record_errors,
            tail
        )?;
    }
    o.flush()
}

/// One run of the history, whole, as `harness runs --show ID` prints it.
pub fn render_run(r: &RunRecord) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "run {}: {} import of {} ({})",
        r.id, r.mode, r.instance, r.connector
    );
    let _ = writeln!(s, "  status:        {}", r.status);
    let _ = writeln!(s, "  started:       {}", r.started_at);
    let _ = writeln!(
        s,
        "  ended:         {}",
        r.ended_at.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        s,
        "  duration:      {}",
        r.duration_ms.map_or_else(|| "-".into(), human_duration)
    );
    if r.counts.0.is_empty() {
        let _ = writeln!(s, "  changes:       none");
    } else {
        let width = r.counts.0.keys().map(String::len).max().unwrap_or(0);
        for (ty, c) in &r.counts.0 {
            let _ = writeln!(
                s,
                "  {ty:<width$}  {:>8} upserts  {:>8} deletes",
                c.upserts, c.deletes
            );
        }
    }
    let m = &r.metrics;
    let _ = writeln!(
        s,
        "  requests {}, retries {}, pages {}, records {}, record errors {}",
        m.requests, m.retries, m.pages, m.records, r.record_errors
    );
    if !r.purged.is_empty() {
        let list: Vec<String> = r.purged.iter().map(|(t, n)| format!("{n} {t}")).collect();
        let _ = writeln!(s, "  purged:        {}", list.join(", "));
    }
    let _ = writeln!(
        s,
        "  watermark:     {} -> {}{}",
        r.old_watermark.as_deref().unwrap_or("(none)"),
        r.new_watermark.as_deref().unwrap_or("(unchanged)"),
        if r.watermark_advanced {
            ""
        } else {
            " (not advanced)"
        }
    );
    if let Some(e) = &r.error {
        let kind = r
            .error_kind
            .as_deref()
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        let _ = writeln!(s, "  error:         {kind}{e}");
    }
    for e in &r.record_error_list {
        let _ = writeln!(s, "  record error:  {e}");
    }
    if r.record_error_list.len() < usize::try_from(r.record_errors).unwrap_or(usize::MAX) {
        let _ = writeln!(
            s,
            "  record errors: {} not kept (recorded before schema version 2)",
            r.record_errors - r.record_error_list.len() as u64
        );
    }
    for w in &r.warnings {
        let _ = writeln!(s, "  warning:       {w}");
    }
    s
}

/// Writes one run whole (`harness runs --show ID`).
///
/// # Errors
/// The write error.
pub fn run_whole(r: &RunRecord) -> io::Result<()> {
    let mut o = out();
    o.write_all(render_run(r).as_bytes())?;
    o.flush()
}

/// Writes the schema: each object type, its anchor and attributes.
///
/// # Errors
/// The write error.
pub fn schema(schema: &Schema) -> io::Result<()> {
    let mut o = out();
    for (i, t) in schema.object_types.iter().enumerate() {
        if i > 0 {
            writeln!(o)?;
        }
        writeln!(o, "{} (anchor: {})", t.name, t.anchor)?;
        let width = t.attributes.iter().map(|a| a.name.len()).max().unwrap_or(0);
        for a in &t.attributes {
            let kind = match &a.kind {
                ValueKind::String => "string".to_string(),
                ValueKind::Bool => "bool".to_string(),
                ValueKind::Date => "date".to_string(),
                ValueKind::DateTime => "datetime".to_string(),
                ValueKind::Reference { object_type } => format!("ref({object_type})"),
            };
            writeln!(o, "  {:<width$}  {:<14}  {}", a.name, kind, a.description)?;
        }
    }
    o.flush()
}

/// Writes one line per health check.
///
/// # Errors
/// The write error.
pub fn checks(checks: &[HealthCheck]) -> io::Result<()> {
    let mut o = out();
    for c in checks {
        writeln!(o, "{c}")?;
    }
    o.flush()
}
