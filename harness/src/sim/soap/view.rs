//! The tenant as a SOAP read sees it: as of an entry time (mutations
//! entered later are undone with their before images) and an effective
//! date (hires effective later are not yet active).
//!
//! SOAP records are rendered from the same REST records the JSON API
//! serves, so both wires describe the same people: same WIDs, names,
//! status, orgs and managers.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;
use serde::Deserialize as _;
use serde_json::Value;

use super::super::data::{Status, Tenant};
use super::super::txlog::{Before, Subject, TxLog};
use super::cache::OrgSnapshot;
use super::dates::parse_date_or_datetime;
use super::record::WorkerRec;
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
    /// Its `Management_Chain_Data` level (org and manager), rendered the
    /// first time a worker's chain passes through it (within the snapshot's
    /// limit): every worker below it shares it.
    pub(crate) chain_level: OnceLock<Box<[u8]>>,
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

/// The reading context of one request.
pub(crate) struct AsOf<'a> {
    pub(crate) t: &'a Tenant,
    pub(crate) log: &'a TxLog,
    pub(crate) entry: i64,
    pub(crate) effective: NaiveDate,
    /// Workers `0..generated` were generated; later ones were hired.
    generated: usize,
    /// The orgs as of this read, shared with the other pages of the snapshot.
    orgs: Arc<OrgSnapshot>,
}

impl<'a> AsOf<'a> {
    /// A context sharing `orgs` with the other pages of the same snapshot
    /// (`orgs` must be for this read's entry time, with no mutation since).
    pub(crate) fn new(
        t: &'a Tenant,
        log: &'a TxLog,
        filter: &Filter,
        generated: usize,
        orgs: Arc<OrgSnapshot>,
    ) -> Self {
        AsOf {
            t,
            log,
            entry: filter.as_of_entry,
            effective: filter.as_of_effective,
            generated,
            orgs,
        }
    }

    /// Worker `idx` as the read sees it (`None`: not hired yet at the entry
    /// time), read from its before image or from its current record, which
    /// is serialised into `buf`.
    pub(crate) fn worker<'b>(&'b self, idx: u32, buf: &'b mut Vec<u8>) -> Option<WorkerRec<'b>> {
        // Reading back a JSON object fails only on a duplicate key, which
        // neither a Value nor the REST serialiser holds; a record that is
        // not an object reads as one with no fields, as Value lookups do.
        match self.log.as_of(Subject::Worker(idx), self.entry) {
            Some(Before::Absent) => None,
            Some(Before::Image(v)) => Some(WorkerRec::deserialize(v).unwrap_or_default()),
            _ => {
                buf.clear();
                self.t.write_worker_json(idx, buf);
                Some(serde_json::from_slice(buf).unwrap_or_default())
            }
        }
    }

    /// Whether worker `idx` exists for the read (`false`: not hired yet at
    /// the entry time); [`AsOf::worker`] is `Some` exactly then.
    pub(crate) fn visible(&self, idx: u32) -> bool {
        !matches!(
            self.log.as_of(Subject::Worker(idx), self.entry),
            Some(Before::Absent)
        )
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
            let mut buf = Vec::new();
            match self.worker(idx, &mut buf) {
                None => return false,
                Some(v) => (
                    v.employment_status.get() == Some("Terminated"),
                    v.contingent(),
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

    /// `o`'s rendered management-chain level, rendered by `render` the
    /// first time while the snapshot may keep more (`None`: write it out).
    pub(crate) fn chain_level<'o>(
        &self,
        o: &'o OrgInfo,
        render: impl FnOnce() -> Box<[u8]>,
    ) -> Option<&'o [u8]> {
        if let Some(l) = o.chain_level.get() {
            return Some(l);
        }
        if !self.orgs.may_keep_level() {
            return None;
        }
        Some(o.chain_level.get_or_init(render))
    }

    /// Org `j` as the read sees it (computed once per snapshot).
    pub(crate) fn org(&self, j: usize) -> Cow<'_, OrgInfo> {
        match self.orgs.get_or_init(j, || self.make_org(j)) {
            Some(o) => Cow::Borrowed(o),
            None => Cow::Owned(self.make_org(j)),
        }
    }

    fn make_org(&self, j: usize) -> OrgInfo {
        let v = match self.log.as_of(Subject::Org(j), self.entry) {
            Some(Before::Image(v)) => v.clone(),
            _ => self.t.org_value(j),
        };
        let parent = r(&v, "parentOrganization")
            .or_else(|| r(&v, "parentOrganizationId"))
            .and_then(|(id, _)| self.t.org_index(id));
        let manager = r(&v, "manager").map(|(wid, name)| self.worker_ref(wid, name));
        OrgInfo {
            chain_level: OnceLock::new(),
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
        }
    }

    /// A worker reference with the worker's ID number.
    pub(crate) fn worker_ref(&self, wid: &str, name: Option<&str>) -> WorkerRef {
        let mut buf = Vec::new();
        let v = self
            .t
            .worker_index(wid)
            .and_then(|i| self.worker(i, &mut buf));
        let v = v.as_ref();
        WorkerRef {
            wid: wid.to_string(),
            name: name
                .or_else(|| v.and_then(|v| v.descriptor.get()))
                .unwrap_or_default()
                .to_string(),
            id_type: if v.is_some_and(WorkerRec::contingent) {
                "Contingent_Worker_ID"
            } else {
                "Employee_ID"
            },
            number: v.and_then(|v| v.employee_number.get()).map(str::to_string),
        }
    }

    /// The org chain from the top down to `j`, as indices, into `out`.
    pub(crate) fn chain(&self, j: usize, out: &mut Vec<usize>) {
        out.clear();
        let mut cur = Some(j);
        // Bounded: the tree has no cycles, and a chain is never longer than
        // the number of orgs.
        while let Some(c) = cur {
            if out.len() > self.t.org_count() {
                break;
            }
            cur = self.org(c).parent;
            out.push(c);
        }
        out.reverse();
    }

    /// The top of org `j`'s chain.
    pub(crate) fn top(&self, j: usize) -> usize {
        let mut cur = j;
        for _ in 0..self.t.org_count() {
            match self.org(cur).parent {
                Some(p) => cur = p,
                None => break,
            }
        }
        cur
    }
}
