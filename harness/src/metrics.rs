//! `harness import --metrics-out FILE`: the run's figures in the Prometheus
//! text exposition format, for node_exporter's textfile collector, written
//! atomically (a temporary file in the same directory, fsync, rename).
//!
//! The file holds no secret and no HR data: only the instance key, object
//! type names, counts, times and codes. It is created with mode 0644 so the
//! collector can read it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::engine::{RunOutcome, RunReport};

/// What the metrics file needs beyond the run's report.
#[derive(Debug, Clone, Copy)]
pub struct MetricsContext<'a> {
    /// The process exit code of the run.
    pub exit_code: u8,
    /// When the instance's last `Succeeded` run ended (RFC 3339), this one
    /// included; `None` when it never succeeded.
    pub last_success: Option<&'a str>,
}

/// The metric families, in the order written: name, type, help.
const FAMILIES: [(&str, &str, &str); 12] = [
    ("idmesh_last_run_success", "gauge", "Whether the last import run succeeded (1) or not (0; record errors, failures, refusals and cancellations count as not)."),
    ("idmesh_last_run_exit_code", "gauge", "The harness exit code of the last import run (0 ok, 1 failure to fix, 2 usage, 3 record errors, 75 retry later, 130/143 cancelled)."),
    ("idmesh_last_run_duration_seconds", "gauge", "Wall time of the last import run."),
    ("idmesh_last_run_end_timestamp_seconds", "gauge", "When the last import run ended, Unix time."),
    ("idmesh_last_run_changes", "gauge", "Changes of the last import run per object type and kind (upsert, delete, purge); rolled back unless the run committed."),
    ("idmesh_last_run_requests", "gauge", "HTTP requests of the last import run."),
    ("idmesh_last_run_retries", "gauge", "Retried requests of the last import run."),
    ("idmesh_last_run_pages", "gauge", "Pages read by the last import run."),
    ("idmesh_last_run_records", "gauge", "Records read by the last import run."),
    ("idmesh_last_run_record_errors", "gauge", "Records the last import run could not import."),
    ("idmesh_watermark_age_seconds", "gauge", "How far the committed watermark lags the end of the last import run (its oldest time); absent when the watermark holds no time."),
    ("idmesh_last_success_timestamp_seconds", "gauge", "When the last successful import run ended, Unix time; absent when none succeeded."),
];

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn unix_seconds(rfc3339: &str) -> Option<f64> {
    let t = DateTime::parse_from_rfc3339(rfc3339).ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some(t.timestamp_millis() as f64 / 1000.0)
}

/// The oldest time in a watermark: the watermark itself when it is an RFC
/// 3339 time, or the oldest RFC 3339 string value of a JSON object (as the
/// Workday connector writes, `{"w": "...", "o": "..."}`); `None` otherwise.
pub fn watermark_time(watermark: &str) -> Option<DateTime<Utc>> {
    let parse = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    if let Some(t) = parse(watermark) {
        return Some(t);
    }
    let value: serde_json::Value = serde_json::from_str(watermark).ok()?;
    value
        .as_object()?
        .values()
        .filter_map(|v| v.as_str().and_then(parse))
        .min()
}

/// The metrics text of a finished run.
pub fn render(report: &RunReport, ctx: MetricsContext<'_>) -> String {
    let instance = format!("instance=\"{}\"", escape(&report.instance));
    let mut samples: Vec<Vec<String>> = vec![Vec::new(); FAMILIES.len()];
    let mut push = |family: usize, labels: &str, value: String| {
        samples[family].push(format!("{}{{{labels}}} {value}", FAMILIES[family].0));
    };
    let success = u8::from(report.outcome == RunOutcome::Succeeded);
    push(0, &instance, success.to_string());
    push(1, &instance, ctx.exit_code.to_string());
    #[allow(clippy::cast_precision_loss)]
    let duration = report.duration_ms as f64 / 1000.0;
    push(2, &instance, duration.to_string());
    if let Some(end) = unix_seconds(&report.ended_at) {
        push(3, &instance, end.to_string());
    }
    let types: BTreeSet<&String> = report.counts.0.keys().chain(report.purged.keys()).collect();
    for ty in types {
        let c = report.counts.0.get(ty).cloned().unwrap_or_default();
        let purged = report.purged.get(ty).copied().unwrap_or(0);
        for (kind, n) in [
            ("upsert", c.upserts),
            ("delete", c.deletes),
            ("purge", purged),
        ] {
            let labels = format!("{instance},object_type=\"{}\",kind=\"{kind}\"", escape(ty));
            push(4, &labels, n.to_string());
        }
    }
    let m = &report.metrics;
    push(5, &instance, m.requests.to_string());
    push(6, &instance, m.retries.to_string());
    push(7, &instance, m.pages.to_string());
    push(8, &instance, m.records.to_string());
    push(9, &instance, report.record_errors.len().to_string());
    let ended = DateTime::parse_from_rfc3339(&report.ended_at).ok();
    if let (Some(w), Some(end)) = (report.committed_watermark().and_then(watermark_time), ended) {
        #[allow(clippy::cast_precision_loss)]
        let age = (end.with_timezone(&Utc) - w).num_milliseconds() as f64 / 1000.0;
        push(10, &instance, age.to_string());
    }
    if let Some(t) = ctx.last_success.and_then(unix_seconds) {
        push(11, &instance, t.to_string());
    }
    let mut out = String::new();
    for ((name, kind, help), lines) in FAMILIES.iter().zip(samples) {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file in the same
/// directory (mode 0644), fsync, rename over `path`, fsync of the directory.
/// A reader sees the old file or the new one, never a part.
///
/// # Errors
/// The file system error; the temporary file is removed.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    // node_exporter reads only `*.prom`: the hidden temporary is never read.
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o644);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Whatever the umask: the collector (another user) reads it.
            file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename durable; not every file system can sync a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_times() {
        let t = |s: &str| watermark_time(s).map(|t| t.to_rfc3339());
        assert_eq!(
            t(r#"{"w":"2026-04-26T08:30:00.000Z","o":"2026-04-26T08:25:00.000Z"}"#).as_deref(),
            Some("2026-04-26T08:25:00+00:00")
        );
        assert_eq!(
            t("2026-04-26T08:30:00Z").as_deref(),
            Some("2026-04-26T08:30:00+00:00")
        );
        assert_eq!(t("opaque-token-17"), None);
        assert_eq!(t(r#"{"cursor":"abc"}"#), None);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[cfg(unix)]
    #[test]
    fn written_atomically_0644_and_replacing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("harness-metrics-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("idmesh.prom");
        write_atomically(&path, "a 1\n").unwrap();
        write_atomically(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("idmesh.prom")],
            "no temporary left"
        );
        assert!(write_atomically(&dir.join("missing/x.prom"), "a 1\n").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
