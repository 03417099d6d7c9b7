//! The tenant as a SOAP read sees it: as of an entry time (mutations
//! entered later are undone with their before images) and an effective
//! date (hires effective later are not yet active).
//!
//! SOAP records are rendered from the same REST records the JSON API
//! serves, so both wires describe the same people: same WIDs, names,
//! status, orgs and managers.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::Value;

use super::super::data::{Status, Tenant};
use super::super::txlog::{Before, Subject, TxLog};
use super::cache::OrgCache;
use super::dates::{parse_date, parse_date_or_datetime};
use super::request::{Filter, Window};

/// A worker reference: WID, descriptor and the Employee_ID or
/// Contingent_Worker_ID.
#[derive(Debug, Clone)]
pub(crate) struct WorkerRef {
    pub(crate) wid: String,
    pub(crate) name: String,
    pub(crate) id_type: &'static str,
    pub(crate) number: Option<String>,
}

/// One supervisory org as of the read.
#[derive(Debug, Clone)]
pub(crate) struct OrgInfo {
    pub(crate) wid: String,
    pub(crate) name: String,
    pub(crate) code: Option<String>,
    pub(crate) parent: Option<usize>,
    pub(crate) manager: Option<WorkerRef>,
    pub(crate) updated: Option<i64>,
    pub(crate) inactive: bool,
}

/// A string field of a record.
pub(crate) fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// A reference field (`{"id","descriptor"}`, or a bare id in flat spellings).
pub(crate) fn r<'a>(v: &'a Value, k: &str) -> Option<(&'a str, Option<&'a str>)> {
    match v.get(k)? {
        Value::String(id) => Some((id.as_str(), None)),
        Value::Object(o) => Some((
            o.get("id")?.as_str()?,
            o.get("descriptor").and_then(Value::as_str),
        )),
        _ => None,
    }
}

/// Whether a record is a contingent worker's.
pub(crate) fn is_contingent(v: &Value) -> bool {
    r(v, "workerType").and_then(|(_, d)| d) == Some("Contingent Worker")
}

/// The reading context of one request.
pub(crate) struct AsOf<'a> {
    pub(crate) t: &'a Tenant,
    pub(crate) log: &'a TxLog,
    pub(crate) entry: i64,
    pub(crate) effective: NaiveDate,
    /// Workers `0..generated` were generated; later ones were hired.
    generated: usize,
    cache: RefCell<OrgCache>,
}

impl<'a> AsOf<'a> {
    /// A context seeded with what earlier pages of the same snapshot
    /// computed (`cache` must come from a read with the same entry time and
    /// no mutation since).
    pub(crate) fn new(
        t: &'a Tenant,
        log: &'a TxLog,
        filter: &Filter,
        generated: usize,
        cache: OrgCache,
    ) -> Self {
        AsOf {
            t,
            log,
            entry: filter.as_of_entry,
            effective: filter.as_of_effective,
            generated,
            cache: RefCell::new(cache),
        }
    }

    /// What this read computed, for the next page.
    pub(crate) fn into_cache(self) -> OrgCache {
        self.cache.into_inner()
    }

    /// The rendered chain of org `j`, made by `render` once per snapshot.
    pub(crate) fn chain_xml(&self, j: usize, render: impl FnOnce() -> String) -> Arc<str> {
        if let Some(c) = self.cache.borrow().chains.get(&j) {
            return Arc::clone(c);
        }
        let c: Arc<str> = Arc::from(render());
        self.cache.borrow_mut().chains.insert(j, Arc::clone(&c));
        c
    }

    /// Worker `idx` as the read sees it (`None`: not hired yet at the entry time).
    pub(crate) fn worker(&self, idx: u32) -> Option<Value> {
        match self.log.as_of(Subject::Worker(idx), self.entry) {
            Some(Before::Absent) => None,
            Some(Before::Image(v)) => Some(v.clone()),
            _ => Some(self.t.worker_value(idx)),
        }
    }

    /// Whether worker `idx` was hired with an effective date after the
    /// read's `As_Of_Effective_Date` (a hire entered by the read's entry time).
    pub(crate) fn pending_hire(&self, idx: u32) -> bool {
        self.log.of(Subject::Worker(idx)).any(|e| {
            matches!(e.kind, "Hire" | "Rehire")
                && e.entered <= self.entry
                && chrono::DateTime::<chrono::Utc>::from_timestamp_millis(e.effective)
                    .is_some_and(|d| d.date_naive() > self.effective)
        })
    }

    /// Whether the worker is visible and passes the filters; the record is
    /// only rendered for logged workers (the rest use compact facts).
    pub(crate) fn selects(
        &self,
        idx: u32,
        exclude_inactive: bool,
        exclude_employees: bool,
        exclude_contingent: bool,
        windows: &[Window],
    ) -> bool {
        let subject = Subject::Worker(idx);
        let (updated, status, contingent) = self.t.worker_brief(idx);
        let logged = self.log.touched(subject);
        let (terminated, contingent) = if logged {
            match self.worker(idx) {
                None => return false,
                Some(v) => (
                    s(&v, "employmentStatus") == Some("Terminated"),
                    is_contingent(&v),
                ),
            }
        } else {
            if idx as usize >= self.generated && updated > self.entry {
                // Hired after the read without a log entry (the REST
                // `drift=hire` fault): not there yet. A generated worker
                // has no history before its last update: it is shown as is.
                return false;
            }
            (status == Status::Terminated, contingent)
        };
        if (exclude_employees && !contingent) || (exclude_contingent && contingent) {
            return false;
        }
        if exclude_inactive && (terminated || self.pending_hire(idx)) {
            return false;
        }
        if windows.is_empty() {
            return true;
        }
        if logged {
            self.log
                .of(subject)
                .filter(|e| e.entered <= self.entry)
                .any(|e| windows.iter().any(|w| w.contains(e.entered, e.effective)))
        } else {
            windows.iter().any(|w| w.contains(updated, updated))
        }
    }

    /// Org `j` as the read sees it (cached per request).
    pub(crate) fn org(&self, j: usize) -> Arc<OrgInfo> {
        if let Some(o) = self.cache.borrow().orgs.get(&j) {
            return Arc::clone(o);
        }
        let v = match self.log.as_of(Subject::Org(j), self.entry) {
            Some(Before::Image(v)) => v.clone(),
            _ => self.t.org_value(j),
        };
        let parent = r(&v, "parentOrganization")
            .or_else(|| r(&v, "parentOrganizationId"))
            .and_then(|(id, _)| self.t.org_index(id));
        let manager = r(&v, "manager").map(|(wid, name)| self.worker_ref(wid, name));
        let info = Arc::new(OrgInfo {
            wid: s(&v, "id").map_or_else(|| self.t.org_wid(j), str::to_string),
            name: s(&v, "name")
                .or_else(|| s(&v, "descriptor"))
                .unwrap_or_default()
                .to_string(),
            code: s(&v, "code").map(str::to_string),
            parent,
            manager,
            updated: s(&v, "lastUpdatedDateTime").and_then(parse_date_or_datetime),
            inactive: v.get("inactive").and_then(Value::as_bool).unwrap_or(false),
        });
        self.cache.borrow_mut().orgs.insert(j, Arc::clone(&info));
        info
    }

    /// A worker reference with the worker's ID number.
    pub(crate) fn worker_ref(&self, wid: &str, name: Option<&str>) -> WorkerRef {
        let v = self.t.worker_index(wid).and_then(|i| self.worker(i));
        let contingent = v.as_ref().is_some_and(is_contingent);
        WorkerRef {
            wid: wid.to_string(),
            name: name
                .map(str::to_string)
                .or_else(|| {
                    v.as_ref()
                        .and_then(|v| s(v, "descriptor"))
                        .map(str::to_string)
                })
                .unwrap_or_default(),
            id_type: if contingent {
                "Contingent_Worker_ID"
            } else {
                "Employee_ID"
            },
            number: v
                .as_ref()
                .and_then(|v| s(v, "employeeNumber"))
                .map(str::to_string),
        }
    }

    /// The org chain from the top down to `j`.
    pub(crate) fn chain(&self, j: usize) -> Vec<Arc<OrgInfo>> {
        let mut out = Vec::new();
        let mut cur = Some(j);
        // Bounded: the tree has no cycles, and a chain is never longer than
        // the number of orgs.
        while let Some(c) = cur {
            if out.len() > self.t.org_count() {
                break;
            }
            let o = self.org(c);
            cur = o.parent;
            out.push(o);
        }
        out.reverse();
        out
    }

    /// The calendar date of a record's date field.
    pub(crate) fn date(v: &Value, k: &str) -> Option<NaiveDate> {
        s(v, k).and_then(parse_date)
    }
}
