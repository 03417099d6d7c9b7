//! The progress display on stderr: one line per object type (records and
//! pages) and one for requests and retries. Shown only when stderr is a
//! terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_api::MetricsSnapshot;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::RunObserver;

/// A live progress display driven by the engine's sink and the run metrics.
#[derive(Debug)]
pub struct Progress {
    multi: MultiProgress,
    status: ProgressBar,
    types: Mutex<BTreeMap<String, TypeLine>>,
}

#[derive(Debug)]
struct TypeLine {
    bar: ProgressBar,
    pages: u64,
    records: u64,
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner:.green} {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Progress {
    /// A display on stderr when stderr is a terminal, else `None`.
    pub fn if_terminal(title: &str) -> Option<Arc<Self>> {
        std::io::stderr()
            .is_terminal()
            .then(|| Arc::new(Self::new(ProgressDrawTarget::stderr(), title)))
    }

    /// A display drawing to `target` (hidden targets are useful in tests).
    pub fn new(target: ProgressDrawTarget, title: &str) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let status = multi.add(ProgressBar::new_spinner());
        status.set_style(style());
        status.set_message(format!("{title}: connecting"));
        status.enable_steady_tick(Duration::from_millis(120));
        Self {
            multi,
            status,
            types: Mutex::new(BTreeMap::new()),
        }
    }

    /// Pages and records seen so far for `object_type`.
    pub fn seen(&self, object_type: &str) -> (u64, u64) {
        let types = self.types.lock().unwrap_or_else(|e| e.into_inner());
        types
            .get(object_type)
            .map_or((0, 0), |t| (t.pages, t.records))
    }
}

impl RunObserver for Progress {
    fn page_applied(&self, object_type: &str, changes: u64, metrics: MetricsSnapshot) {
        let mut types = self.types.lock().unwrap_or_else(|e| e.into_inner());
        let line = types.entry(object_type.to_string()).or_insert_with(|| {
            let bar = self
                .multi
                .insert_before(&self.status, ProgressBar::new_spinner());
            bar.set_style(style());
            bar.enable_steady_tick(Duration::from_millis(120));
            TypeLine {
                bar,
                pages: 0,
                records: 0,
            }
        });
        line.pages += 1;
        line.records += changes;
        line.bar.set_message(format!(
            "{object_type}: {} records, {} pages",
            line.records, line.pages
        ));
        self.status.set_message(format!(
            "{} requests, {} retries",
            metrics.requests, metrics.retries
        ));
    }

    fn finished(&self) {
        let types = self.types.lock().unwrap_or_else(|e| e.into_inner());
        for line in types.values() {
            line.bar.finish_and_clear();
        }
        self.status.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pages_and_records_per_type() {
        let p = Progress::new(ProgressDrawTarget::hidden(), "test");
        p.page_applied("User", 100, MetricsSnapshot::default());
        p.page_applied("User", 50, MetricsSnapshot::default());
        p.page_applied("OrgUnit", 7, MetricsSnapshot::default());
        assert_eq!(p.seen("User"), (2, 150));
        assert_eq!(p.seen("OrgUnit"), (1, 7));
        p.finished();
    }
}
