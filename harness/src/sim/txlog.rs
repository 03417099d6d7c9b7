//! The tenant's transaction log: one entry per mutation, with the time it
//! was *entered* and the time it takes *effect* (the same for everything
//! except future-dated hires), and the record as it was before (a
//! "before image"), so a read `As_Of_Entry_DateTime` an earlier instant sees
//! the tenant as it was then.
//!
//! Generated history is not logged: a worker or org that no mutation touched
//! has one implicit entry at its generated `lastUpdatedDateTime` (entered and
//! effective then). Purges are not logged (a purged worker is gone from
//! every read, as on REST).

use std::collections::HashMap;

use serde_json::Value;

/// What a log entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// A worker, by index.
    Worker(u32),
    /// An org, by index.
    Org(usize),
}

/// The record before the mutation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Before {
    /// The subject did not exist (a hire or rehire).
    Absent,
    /// The record as the REST API served it just before.
    Image(Value),
    /// Not captured (random churn): reads as of an earlier instant see the
    /// current record.
    Unknown,
}

/// One mutation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TxEntry {
    /// What changed.
    pub(crate) subject: Subject,
    /// `Hire`, `Terminate`, `Rehire`, `Update`, `Move`, `Reparent`, `Churn`.
    pub(crate) kind: &'static str,
    /// When it was entered (epoch ms, simulator clock).
    pub(crate) entered: i64,
    /// When it takes effect (epoch ms).
    pub(crate) effective: i64,
    /// The record before it.
    pub(crate) before: Before,
}

/// The log, indexed by subject.
#[derive(Debug, Default)]
pub(crate) struct TxLog {
    entries: Vec<TxEntry>,
    by_subject: HashMap<Subject, Vec<usize>>,
}

impl TxLog {
    /// Appends an entry.
    pub(crate) fn push(&mut self, e: TxEntry) {
        self.by_subject
            .entry(e.subject)
            .or_default()
            .push(self.entries.len());
        self.entries.push(e);
    }

    /// The subject's entries, oldest first.
    pub(crate) fn of(&self, s: Subject) -> impl Iterator<Item = &TxEntry> {
        self.by_subject
            .get(&s)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.entries.get(i))
    }

    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether any mutation touched the subject.
    pub(crate) fn touched(&self, s: Subject) -> bool {
        self.by_subject.contains_key(&s)
    }

    /// How the subject looked to a read as of entry time `as_of`:
    /// `None` = as it is now; `Some(Before::Absent)` = it did not exist yet.
    pub(crate) fn as_of(&self, s: Subject, as_of: i64) -> Option<&Before> {
        self.of(s)
            .find(|e| e.entered > as_of)
            .map(|e| &e.before)
            .filter(|b| !matches!(b, Before::Unknown))
    }
}
