//! The simulated tenant: deterministic generation from a seed, an overlay of
//! mutations, and streaming rendering of records in Workday's REST shape.
//!
//! Generated workers are never stored: every record, and the few facts the
//! paging and the mutations need (org, last update, status flags), are
//! derived on demand from `(seed, index)`. Only mutated and hired workers
//! take memory (two overlays), and each org keeps a few small numbers, so
//! the simulator's memory does not grow with the tenant's size, only with
//! its mutations and org count (see `docs/benchmarks.md`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::txlog::Subject;

use super::ids::{index_of, mix64, wid, wid_buf, IdKind, Wid};
use super::tables::{
    Location, BADGES, CJK_FIRST, CJK_LAST, COMPANIES, DEPTS, JOBS, LOCATIONS, MANAGER_JOBS,
    QUALIFIERS, UPDATERS, WESTERN_FIRST, WESTERN_LAST,
};
use super::{lock, Shape, SimError};

/// 2023-01-01T00:00:00Z in epoch milliseconds: earliest generated update.
const GEN_FROM_MS: i64 = 1_672_531_200_000;
/// 2026-01-01T00:00:00Z: generated updates lie strictly before this.
const GEN_TO_MS: i64 = 1_767_225_600_000;

const STATUS_MASK: u8 = 0b11;
const CONTINGENT: u8 = 0b100;
const PURGED: u8 = 0b1000;

/// A worker's employment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Active = 0,
    OnLeave = 1,
    Terminated = 2,
}

impl Status {
    fn from_bits(b: u8) -> Status {
        match b & STATUS_MASK {
            1 => Status::OnLeave,
            2 => Status::Terminated,
            _ => Status::Active,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::OnLeave => "On Leave",
            Status::Terminated => "Terminated",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s {
            "Active" => Some(Status::Active),
            "On Leave" => Some(Status::OnLeave),
            "Terminated" => Some(Status::Terminated),
            _ => None,
        }
    }
}

/// Everything about a worker except the dynamic links (org, supervisor),
/// status and update time, which live in the compact arrays.
#[derive(Debug, Clone)]
pub(crate) struct WorkerCore {
    wid: String,
    employee_number: String,
    company_employee_id: String,
    first: (Cow<'static, str>, &'static str),
    last: (Cow<'static, str>, &'static str),
    preferred_name: Option<&'static str>,
    email: bool,
    work_email: String,
    work_phone: Option<String>,
    mobile_phone: Option<String>,
    job: usize,
    business_title: bool,
    location: usize,
    show_location: bool,
    hire_date: NaiveDate,
    termination_date: Option<NaiveDate>,
    updater: &'static str,
    pay_rate: Option<u32>,
    badge: Option<(&'static str, bool)>,
    /// Fields set through `update_worker`; `null` means "omit".
    overrides: Map<String, Value>,
}

/// One supervisory organization: a few numbers each, 24 bytes (its WID,
/// code, name and manager's name are derived when rendered; the fields set
/// through `update` live in `Tenant::org_overrides`).
#[derive(Debug, Clone)]
pub(crate) struct OrgState {
    updated: i64,
    /// The parent org, or [`NO_PARENT`] (the top).
    parent: u32,
    manager: u32,
    /// `0` for the first org with its name; `k` appends `" {k + 1}"`.
    repeat: u16,
    /// Index into [`DEPTS`].
    dept: u8,
    /// Index into [`QUALIFIERS`].
    qualifier: u8,
    /// `staffingModel`: Position Management when set, Job Management otherwise.
    position_management: bool,
}

/// `OrgState::parent` of an org without one.
const NO_PARENT: u32 = u32::MAX;

impl OrgState {
    fn parent(&self) -> Option<u32> {
        (self.parent != NO_PARENT).then_some(self.parent)
    }

    fn staffing(&self) -> &'static str {
        if self.position_management {
            "Position Management"
        } else {
            "Job Management"
        }
    }
}

/// The per-worker facts paging and mutations need. Derived from the seed
/// for a generated worker that was never mutated; stored (in
/// `Tenant::changed`) once it is, and for every hire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Facts {
    org: u32,
    updated: i64,
    flags: u8,
}

/// The generated facts of worker `idx` (before any mutation), for a tenant
/// of `orgs` orgs. Managers' org and status are fixed up by the caller.
fn generated_facts(seed: u64, idx: u32, orgs: usize) -> Facts {
    let h1 = mix64(seed.rotate_left(29) ^ mix64(u64::from(idx) ^ 0x0066_6163_7473));
    let h2 = mix64(h1);
    let h3 = mix64(h2);
    let span = (GEN_TO_MS - GEN_FROM_MS).unsigned_abs();
    // Both remainders fit their targets: `< orgs <= u32::MAX` and `< span`.
    let org = (h1 % orgs as u64) as u32;
    let updated = GEN_FROM_MS + (h2 % span) as i64;
    let roll = h3 % 1000;
    let status = if roll < 50 {
        Status::Terminated
    } else if roll < 80 {
        Status::OnLeave
    } else {
        Status::Active
    };
    let contingent = (h3 >> 32) % 1000 < 100;
    Facts {
        org,
        updated,
        flags: status as u8 | if contingent { CONTINGENT } else { 0 },
    }
}

/// Static knobs that shape rendering.
#[derive(Debug, Clone)]
pub(crate) struct RenderOpts {
    pub(crate) seed: u64,
    pub(crate) flat: bool,
    pub(crate) shape: Shape,
    pub(crate) tenant: String,
    /// Prefix of every `href`: a fixed, never-resolving host (so that two
    /// simulators with the same seed serve the same bytes whatever their port).
    pub(crate) api_base: String,
}

/// A page request after validation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageQuery {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
    pub(crate) updated_from: Option<i64>,
}

/// What `churn` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChurnSummary {
    /// Workers whose fields were updated.
    pub updated: Vec<String>,
    /// Newly hired workers.
    pub hired: Vec<String>,
    /// Workers terminated.
    pub terminated: Vec<String>,
    /// Rehires as `(terminated id, new id)`.
    pub rehired: Vec<(String, String)>,
    /// Workers moved to another org.
    pub moved: Vec<String>,
    /// Workers purged (gone from the API).
    pub purged: Vec<String>,
    /// Orgs re-parented.
    pub reparented: Vec<String>,
}

/// `"3 updated, 1 hired, 0 terminated, 0 rehired, 2 moved, 0 purged, 1 orgs
/// re-parented"`.
impl std::fmt::Display for ChurnSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} updated, {} hired, {} terminated, {} rehired, {} moved, {} purged, {} orgs re-parented",
            self.updated.len(),
            self.hired.len(),
            self.terminated.len(),
            self.rehired.len(),
            self.moved.len(),
            self.purged.len(),
            self.reparented.len()
        )
    }
}

impl ChurnSummary {
    /// The number of mutations performed.
    pub fn total(&self) -> usize {
        self.updated.len()
            + self.hired.len()
            + self.terminated.len()
            + self.rehired.len()
            + self.moved.len()
            + self.purged.len()
            + self.reparented.len()
    }
}

/// The overrides of a record nobody updated.
static NO_OVERRIDES: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

/// Live worker indices matching an `updatedFrom`, in API order.
type Matching = Arc<Vec<u32>>;

/// The whole tenant state.
#[derive(Debug)]
pub(crate) struct Tenant {
    pub(crate) opts: RenderOpts,
    /// Workers ever created (generated + hired); indices are `0..count`.
    count: u32,
    /// Facts of workers mutated or hired since generation.
    changed: HashMap<u32, Facts>,
    purged: usize,
    overlay: HashMap<u32, WorkerCore>,
    manages: HashMap<u32, u32>,
    orgs: Vec<OrgState>,
    /// Fields of orgs set through `update` (`null` means "omit").
    org_overrides: HashMap<usize, Map<String, Value>>,
    top_name: String,
    job_ids: Vec<String>,
    loc_ids: Vec<String>,
    cc_ids: Vec<String>,
    type_ids: [String; 2],
    org_type_id: String,
    /// Recent `matching_workers` results by `updatedFrom`; every mutation
    /// clears it.
    cache: Mutex<Vec<(Option<i64>, Matching)>>,
    rng: ChaCha8Rng,
}

fn ms_to_dt(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// The date part of an epoch-millis instant.
fn ms_to_date(ms: i64) -> NaiveDate {
    ms_to_dt(ms).date_naive()
}

struct MsTime(i64);

impl Serialize for MsTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `%Y-%m-%dT%H:%M:%S%.3fZ`, by chrono's RFC 3339 writer rather than
        // its format-string parser (a record has a few dates; the parser
        // was a tenth of serving).
        s.serialize_str(&ms_to_dt(self.0).to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

struct Date(NaiveDate);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A `NaiveDate` displays as `%Y-%m-%d`, without a format string.
        s.collect_str(&self.0)
    }
}

/// Pieces of one JSON string, written in turn (no intermediate `String`,
/// no format string to interpret).
struct Concat<'a, const N: usize>([&'a str; N]);

impl<const N: usize> std::fmt::Display for Concat<'_, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|p| f.write_str(p))
    }
}

impl<const N: usize> Serialize for Concat<'_, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `"{title}, {department}"` without an intermediate String.
fn title<'a>(job_title: &'a str, dept: &'a str) -> Concat<'a, 3> {
    Concat([job_title, ", ", dept])
}

/// `"{first} {last}"`: the label Workday puts in a worker's `descriptor`.
fn full_name<'a>(first: &'a str, last: &'a str) -> Concat<'a, 3> {
    Concat([first, " ", last])
}

#[derive(Serialize)]
struct Ref<'a, D: Serialize = &'a str> {
    id: &'a str,
    descriptor: D,
}

/// A reference object with its `href`, as the published API writes them.
#[derive(Serialize)]
struct LinkedRef<'a, D: Serialize, H: Serialize> {
    id: &'a str,
    descriptor: D,
    href: H,
}

/// An org's name, rendered from its few numbers without storing a string.
struct OrgName<'a> {
    t: &'a Tenant,
    org: usize,
}

impl std::fmt::Display for OrgName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.org == 0 {
            return f.write_str(&self.t.top_name);
        }
        let o = &self.t.orgs[self.org];
        f.write_str(DEPTS[usize::from(o.dept)].0)?;
        f.write_str(" – ")?;
        f.write_str(QUALIFIERS[usize::from(o.qualifier)])?;
        if o.repeat > 0 {
            write!(f, " {}", u32::from(o.repeat) + 1)?;
        }
        Ok(())
    }
}

impl Serialize for OrgName<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PayRate {
    amount: String,
    currency: &'static str,
    frequency: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Custom {
    badge_color: &'static str,
    remote_eligible: bool,
}

fn pick<T: Copy>(r: &mut ChaCha8Rng, table: &[T]) -> T {
    table[r.random_range(0..table.len())]
}

fn phone(r: &mut ChaCha8Rng, dial: &str) -> String {
    format!(
        "{dial} {:03} {:04}",
        r.random_range(200..1000),
        r.random_range(0..10_000)
    )
}

fn record_rng(seed: u64, idx: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix64(
        seed.rotate_left(13) ^ mix64(u64::from(idx) ^ 0x00c0_ffee),
    ))
}

/// What `gen_core` needs. `updated` is the worker's *generated* update
/// time (their dates derive from it, so a later move or re-stamp does not
/// change them); `status` is the current one (a termination has a date).
struct GenFacts {
    status: Status,
    contingent: bool,
    updated: i64,
    /// The org this worker manages (org 0: the top).
    manager_of: Option<u32>,
    hired_on: Option<NaiveDate>,
}

/// A generated worker's names: the first draws of its record stream.
struct GenName {
    first: (&'static str, &'static str),
    last: (&'static str, &'static str),
    preferred: Option<&'static str>,
}

fn gen_name(r: &mut ChaCha8Rng) -> GenName {
    let cjk = r.random_range(0..100) < 18;
    let (first, last) = if cjk {
        (pick(r, CJK_FIRST), pick(r, CJK_LAST))
    } else {
        (pick(r, WESTERN_FIRST), pick(r, WESTERN_LAST))
    };
    let preferred = if r.random_bool(0.15) {
        Some(pick(r, WESTERN_FIRST).0)
    } else {
        None
    };
    GenName {
        first,
        last,
        preferred,
    }
}

fn gen_core(opts: &RenderOpts, idx: u32, f: &GenFacts) -> WorkerCore {
    let mut r = record_rng(opts.seed, idx);
    let GenName {
        first,
        last,
        preferred: preferred_name,
    } = gen_name(&mut r);
    let location = r.random_range(0..LOCATIONS.len());
    let show_location = r.random_bool(0.92);
    let Location { dial, company, .. } = LOCATIONS[location];
    let work_phone = r.random_bool(0.85).then(|| phone(&mut r, dial));
    let mobile_phone = r.random_bool(0.6).then(|| phone(&mut r, dial));
    let normal_jobs = JOBS.len() - MANAGER_JOBS;
    let job = match f.manager_of {
        Some(0) => JOBS.len() - 1,
        Some(org) => normal_jobs + (org as usize % (MANAGER_JOBS - 1)),
        None if f.contingent => normal_jobs - 1,
        None => r.random_range(0..normal_jobs - 1),
    };
    let business_title = r.random_bool(0.7);
    let today = ms_to_date(f.updated);
    let hire_date = match f.hired_on {
        Some(d) => d,
        None => {
            let back = r.random_range(30..7_000);
            let d = today - TimeDelta::days(back);
            d.max(NaiveDate::from_ymd_opt(1995, 1, 2).unwrap_or_default())
        }
    };
    // Drawn for everyone, so that terminating or reinstating a worker
    // changes only their termination date, not the fields drawn after it.
    let span = (today - hire_date).num_days().max(1);
    let termination = hire_date + TimeDelta::days(r.random_range(1..=span));
    let termination_date = (f.status == Status::Terminated).then_some(termination);
    let updater = pick(&mut r, UPDATERS);
    let pay_rate = r.random_bool(0.3).then(|| r.random_range(40_000..250_000));
    let badge = r
        .random_bool(0.4)
        .then(|| (pick(&mut r, BADGES), r.random_bool(0.5)));
    let email = r.random_bool(0.9);
    let n = u64::from(idx) + 1;
    let employee_number = if f.contingent {
        format!("C{n:07}")
    } else {
        format!("E{n:07}")
    };
    WorkerCore {
        wid: wid(opts.seed, IdKind::Worker, u64::from(idx)),
        company_employee_id: format!("{}-{n:07}", COMPANIES[company].0),
        employee_number,
        work_email: format!("{}.{}{n}@{}.example", first.1, last.1, opts.tenant),
        first: (Cow::Borrowed(first.0), first.1),
        last: (Cow::Borrowed(last.0), last.1),
        preferred_name,
        email,
        work_phone,
        mobile_phone,
        job,
        business_title,
        location,
        show_location,
        hire_date,
        termination_date,
        updater,
        pay_rate,
        badge,
        overrides: Map::new(),
    }
}

impl WorkerCore {
    fn str_field<'a>(&'a self, key: &str, dflt: &'a str) -> &'a str {
        match self.overrides.get(key) {
            Some(Value::String(s)) => s,
            _ => dflt,
        }
    }

    /// The label Workday puts in `descriptor`: preferred (or first) + last name.
    fn display_name(&self) -> Concat<'_, 3> {
        let first = self.str_field("firstName", &self.first.0);
        let first = match self.overrides.get("preferredName") {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Null) => first,
            _ => self.preferred_name.unwrap_or(first),
        };
        let last = self.str_field("lastName", &self.last.0);
        full_name(first, last)
    }
}

/// Serialises record fields, honouring `update_worker` overrides in place
/// and appending overrides for fields the record does not normally carry.
struct Emitter<'o, M> {
    map: M,
    ov: &'o Map<String, Value>,
    seen: Vec<&'static str>,
}

impl<'o, M: SerializeMap> Emitter<'o, M> {
    fn new(map: M, ov: &'o Map<String, Value>) -> Self {
        Emitter {
            map,
            ov,
            seen: Vec::new(),
        }
    }

    fn overridden(&mut self, k: &'static str) -> Result<bool, M::Error> {
        if self.ov.is_empty() {
            return Ok(false);
        }
        self.seen.push(k);
        match self.ov.get(k) {
            Some(Value::Null) => Ok(true),
            Some(v) => self.map.serialize_entry(k, v).map(|()| true),
            None => Ok(false),
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, k: &'static str, v: &T) -> Result<(), M::Error> {
        if self.overridden(k)? {
            return Ok(());
        }
        self.map.serialize_entry(k, v)
    }

    fn opt<T: Serialize>(&mut self, k: &'static str, v: Option<T>) -> Result<(), M::Error> {
        if self.overridden(k)? {
            return Ok(());
        }
        match v {
            Some(v) => self.map.serialize_entry(k, &v),
            None => Ok(()),
        }
    }

    fn end(mut self) -> Result<M::Ok, M::Error> {
        for (k, v) in self.ov {
            if !v.is_null() && !self.seen.contains(&k.as_str()) {
                self.map.serialize_entry(k, v)?;
            }
        }
        self.map.end()
    }
}

/// A worker ready to serialise.
pub(crate) struct WorkerView<'a> {
    t: &'a Tenant,
    idx: u32,
    /// The worker's current facts.
    facts: Facts,
    /// The org the worker manages, if any.
    manages: Option<u32>,
    core: Cow<'a, WorkerCore>,
    bad: bool,
}

impl Serialize for WorkerView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.t;
        let c = &*self.core;
        let facts = self.facts;
        let status = Status::from_bits(facts.flags);
        let contingent = facts.flags & CONTINGENT != 0;
        let org_idx = facts.org as usize;
        let org = &t.orgs[org_idx];
        // The org whose manager supervises this worker: the parent org's
        // for a manager, their own org's otherwise (never themselves).
        let supervisor = match self.manages {
            Some(o) => t.orgs[o as usize].parent(),
            None => Some(facts.org),
        }
        .map(|o| t.orgs[o as usize].manager)
        .filter(|&m| m != self.idx);
        let org_wid = t.org_wid_buf(org_idx);
        let org_wid = org_wid.as_str();
        let Location {
            name: loc_name,
            code: loc_code,
            country,
            region,
            company,
            ..
        } = LOCATIONS[c.location];
        let (job_title, job_profile) = JOBS[c.job];
        let dept_idx = usize::from(org.dept);
        let (dept, cc_code) = DEPTS[dept_idx];
        let mut e = Emitter::new(s.serialize_map(None)?, &c.overrides);
        e.field("id", &c.wid)?;
        e.field("descriptor", &c.display_name())?;
        e.field("href", &Concat([&t.opts.api_base, "/workers/", &c.wid]))?;
        if t.opts.shape == Shape::Published {
            // Only what Workday's published `common/v1` workers collection
            // carries: id, descriptor, href, workerID, primaryWorkEmail,
            // primaryWorkPhone, businessTitle, isManager,
            // primarySupervisoryOrganization {id, descriptor, href} and
            // location {id, descriptor}. Sources: the Workday REST worker as
            // documented at https://docs.workato.com/connectors/workday-rest/new-worker-trigger.html
            // ("Descriptor: Worker full name", "Is manager: Boolean", ...)
            // and https://schemas.apis.io/schemas/workday/workday-worker/
            // ("workerID: The employee or contingent worker ID").
            e.field("workerID", &c.employee_number)?;
            e.field("primaryWorkEmail", &c.work_email)?;
            e.opt("primaryWorkPhone", c.work_phone.as_ref())?;
            e.opt(
                "businessTitle",
                c.business_title.then(|| title(job_title, dept)),
            )?;
            if self.bad {
                e.field("isManager", "yes")?;
            } else {
                e.field("isManager", &self.manages.is_some())?;
            }
            e.field(
                "primarySupervisoryOrganization",
                &LinkedRef {
                    id: org_wid,
                    descriptor: OrgName { t, org: org_idx },
                    href: Concat([&t.opts.api_base, "/supervisoryOrganizations/", org_wid]),
                },
            )?;
            e.opt(
                "location",
                c.show_location.then(|| Ref {
                    id: &t.loc_ids[c.location],
                    descriptor: loc_name,
                }),
            )?;
            return e.end();
        }
        e.field("employeeNumber", &c.employee_number)?;
        e.field("companyEmployeeId", &c.company_employee_id)?;
        e.field("firstName", &*c.first.0)?;
        e.field("lastName", &*c.last.0)?;
        e.opt("preferredName", c.preferred_name)?;
        e.opt("email", c.email.then_some(&c.work_email))?;
        e.field("workEmail", &c.work_email)?;
        e.opt("workPhone", c.work_phone.as_ref())?;
        e.opt("mobilePhone", c.mobile_phone.as_ref())?;
        e.field(
            "workerType",
            &Ref {
                id: &t.type_ids[usize::from(contingent)],
                descriptor: if contingent {
                    "Contingent Worker"
                } else {
                    "Employee"
                },
            },
        )?;
        if self.bad {
            e.field("employmentStatus", &serde_json::json!({"x": 1}))?;
        } else {
            e.field("employmentStatus", status.as_str())?;
        }
        e.field("jobTitle", job_title)?;
        e.field(
            "jobProfile",
            &Ref {
                id: &t.job_ids[c.job],
                descriptor: job_profile,
            },
        )?;
        e.opt(
            "businessTitle",
            c.business_title.then(|| title(job_title, dept)),
        )?;
        e.field(
            "costCenter",
            &Ref {
                id: &t.cc_ids[dept_idx],
                descriptor: dept,
            },
        )?;
        e.field("costCenterCode", cc_code)?;
        e.field("companyCode", COMPANIES[company].0)?;
        e.field("legalEntity", COMPANIES[company].1)?;
        if t.opts.flat {
            e.opt("manager", supervisor.map(|m| t.worker_wid_buf(m)))?;
            e.field("primaryWorkerSupervisoryOrganization", org_wid)?;
        } else {
            let supervisor = supervisor.map(|m| (t.worker_wid_buf(m), t.display_name(m)));
            e.opt(
                "supervisor",
                supervisor.as_ref().map(|(id, name)| Ref {
                    id: id.as_str(),
                    descriptor: name,
                }),
            )?;
            e.field(
                "primarySupervisoryOrganization",
                &Ref {
                    id: org_wid,
                    descriptor: OrgName { t, org: org_idx },
                },
            )?;
        }
        let shown = c.show_location;
        e.opt(
            "location",
            shown.then(|| Ref {
                id: &t.loc_ids[c.location],
                descriptor: loc_name,
            }),
        )?;
        e.opt("locationCode", shown.then_some(loc_code))?;
        e.field("country", country)?;
        e.opt("region", shown.then_some(region))?;
        e.field("hireDate", &Date(c.hire_date))?;
        e.opt("terminationDate", c.termination_date.map(Date))?;
        if self.bad {
            e.field("lastUpdatedDateTime", &12345)?;
        } else {
            e.field("lastUpdatedDateTime", &MsTime(facts.updated))?;
        }
        e.field("lastUpdatedBy", c.updater)?;
        e.opt(
            "payRate",
            c.pay_rate.map(|a| PayRate {
                amount: format!("{a}.00"),
                currency: "USD",
                frequency: "Annual",
            }),
        )?;
        e.field("isManager", &self.manages.is_some())?;
        e.opt(
            "customFields",
            c.badge.map(|(badge_color, remote_eligible)| Custom {
                badge_color,
                remote_eligible,
            }),
        )?;
        e.end()
    }
}

/// An org ready to serialise.
pub(crate) struct OrgView<'a> {
    t: &'a Tenant,
    org: usize,
    bad: bool,
}

impl Serialize for OrgView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.t;
        let o = &t.orgs[self.org];
        let wid = t.org_wid_buf(self.org);
        let wid = wid.as_str();
        let name = OrgName { t, org: self.org };
        let overrides = t.org_overrides.get(&self.org).unwrap_or(&NO_OVERRIDES);
        let mut e = Emitter::new(s.serialize_map(None)?, overrides);
        e.field("id", wid)?;
        if self.bad && t.opts.shape == Shape::Published {
            e.field("descriptor", &12345)?;
        } else {
            e.field("descriptor", &name)?;
        }
        e.field(
            "href",
            &Concat([&t.opts.api_base, "/supervisoryOrganizations/", wid]),
        )?;
        if t.opts.shape == Shape::Published {
            // A published `supervisoryOrganizations` record: id, descriptor
            // and href, no name and no parent (see the worker's sources).
            return e.end();
        }
        e.field("name", &name)?;
        e.field("code", &format_args!("SO-{:05}", self.org + 1))?;
        let parent = o.parent().map(|p| p as usize);
        if t.opts.flat {
            e.opt("parentOrganizationId", parent.map(|p| t.org_wid_buf(p)))?;
        } else {
            let parent_wid = parent.map(|p| t.org_wid_buf(p));
            e.opt(
                "parentOrganization",
                parent.zip(parent_wid.as_ref()).map(|(p, id)| Ref {
                    id: id.as_str(),
                    descriptor: OrgName { t, org: p },
                }),
            )?;
        }
        e.field(
            "manager",
            &Ref {
                id: t.worker_wid_buf(o.manager).as_str(),
                descriptor: t.display_name(o.manager),
            },
        )?;
        e.field(
            "organizationType",
            &Ref {
                id: &t.org_type_id,
                descriptor: "Supervisory",
            },
        )?;
        e.field("staffingModel", o.staffing())?;
        e.field("inactive", &false)?;
        if self.bad {
            e.field("lastUpdatedDateTime", &12345)?;
        } else {
            e.field("lastUpdatedDateTime", &MsTime(o.updated))?;
        }
        e.end()
    }
}

/// Parses `updatedFrom` (ISO 8601; a `+` decoded to a space is tolerated).
pub(crate) fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    let candidates = [s.to_string(), s.replace(' ', "+")];
    for c in &candidates {
        if let Ok(dt) = DateTime::parse_from_rfc3339(c) {
            return Some(dt.timestamp_millis());
        }
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(naive.and_utc().timestamp_millis());
        }
        if let Ok(d) = NaiveDate::parse_from_str(c, "%Y-%m-%d") {
            return d
                .and_hms_opt(0, 0, 0)
                .map(|n| n.and_utc().timestamp_millis());
        }
    }
    None
}

fn write_page<T: Serialize>(
    out: &mut Vec<u8>,
    total: usize,
    items: impl Iterator<Item = T>,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(b"{\"total\":");
    out.extend_from_slice(total.to_string().as_bytes());
    out.extend_from_slice(b",\"data\":[");
    for (n, item) in items.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, &item)?;
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

impl Tenant {
    /// Generates the tenant for `workers` workers and `orgs` orgs.
    pub(crate) fn generate(
        workers: usize,
        orgs: usize,
        opts: RenderOpts,
    ) -> Result<Tenant, SimError> {
        if orgs == 0 {
            return Err(SimError::Config(
                "at least one supervisory organization is needed".into(),
            ));
        }
        if workers < orgs {
            return Err(SimError::Config(format!(
                "{workers} workers cannot manage {orgs} organizations: need workers >= orgs"
            )));
        }
        if workers > u32::MAX as usize / 2 {
            return Err(SimError::Config("too many workers".into()));
        }
        let seed = opts.seed;
        let mut rng = ChaCha8Rng::seed_from_u64(mix64(seed ^ 0x7465_6e61_6e74));
        // The org tree: org 0 is the top; parents come from a band of earlier
        // orgs, giving a bushy tree about log4.5(M) levels deep.
        let mut parents = vec![None; orgs];
        for (j, p) in parents.iter_mut().enumerate().skip(1) {
            *p = Some(rng.random_range((j - 1) / 6..=(j - 1) / 3) as u32);
        }
        let managers: Vec<u32> = sample(&mut rng, workers, orgs)
            .into_iter()
            .map(|i| i as u32)
            .collect();
        let mut manages = HashMap::with_capacity(orgs);
        for (j, &m) in managers.iter().enumerate() {
            manages.insert(m, j as u32);
        }
        // Names repeat when a (department, qualifier) pair comes up again:
        // the k-th repeat gets the suffix " {k + 1}".
        let mut repeats: HashMap<(u8, u8), u16> = HashMap::new();
        let mut org_states = Vec::with_capacity(orgs);
        for (j, &parent) in parents.iter().enumerate() {
            // The tables are far smaller than 256 entries.
            let dept = rng.random_range(0..DEPTS.len()) as u8;
            let qualifier = rng.random_range(0..QUALIFIERS.len()) as u8;
            let repeat = if j == 0 {
                0
            } else {
                let n = repeats.entry((dept, qualifier)).or_insert(0);
                *n = n.saturating_add(1);
                *n - 1
            };
            org_states.push(OrgState {
                dept,
                qualifier,
                repeat,
                parent: parent.unwrap_or(NO_PARENT),
                manager: managers[j],
                updated: rng.random_range(GEN_FROM_MS..GEN_TO_MS),
                position_management: !rng.random_bool(0.7),
            });
        }
        let top_name = {
            let mut c = opts.tenant.chars();
            match c.next() {
                Some(f) => format!("{}{} Corporation", f.to_uppercase(), c.as_str()),
                None => "Corporation".to_string(),
            }
        };
        let ref_ids = |kind: IdKind, n: usize| -> Vec<String> {
            (0..n).map(|k| wid(seed, kind, k as u64)).collect()
        };
        Ok(Tenant {
            count: workers as u32,
            changed: HashMap::new(),
            purged: 0,
            overlay: HashMap::new(),
            manages,
            orgs: org_states,
            org_overrides: HashMap::new(),
            top_name,
            job_ids: ref_ids(IdKind::JobProfile, JOBS.len()),
            loc_ids: ref_ids(IdKind::Location, LOCATIONS.len()),
            cc_ids: ref_ids(IdKind::CostCenter, DEPTS.len()),
            type_ids: [
                wid(seed, IdKind::WorkerType, 0),
                wid(seed, IdKind::WorkerType, 1),
            ],
            org_type_id: wid(seed, IdKind::OrgType, 0),
            cache: Mutex::new(Vec::new()),
            rng: ChaCha8Rng::seed_from_u64(mix64(seed ^ 0x6869_7265)),
            opts,
        })
    }

    /// Worker `idx`'s current facts: stored if it was mutated or hired,
    /// derived otherwise (a manager is always Active, in the org it manages).
    fn facts_of(&self, idx: u32) -> Facts {
        match self.changed.get(&idx) {
            Some(f) => *f,
            None => self.generated(idx),
        }
    }

    /// Worker `idx`'s facts as generated (before any mutation).
    fn generated(&self, idx: u32) -> Facts {
        let f = generated_facts(self.opts.seed, idx, self.orgs.len());
        match self.manages.get(&idx) {
            Some(&org) => Facts {
                org,
                updated: f.updated,
                flags: Status::Active as u8,
            },
            None => f,
        }
    }

    /// Worker `idx`'s facts, to change (stored from now on).
    fn facts_mut(&mut self, idx: u32) -> &mut Facts {
        let f = self.facts_of(idx);
        self.changed.entry(idx).or_insert(f)
    }

    /// The label Workday puts in a worker reference's `descriptor`.
    fn display_name(&self, idx: u32) -> Concat<'_, 3> {
        match self.overlay.get(&idx) {
            Some(c) => c.display_name(),
            None => {
                let n = gen_name(&mut record_rng(self.opts.seed, idx));
                full_name(n.preferred.unwrap_or(n.first.0), n.last.0)
            }
        }
    }

    /// What `gen_core` needs for generated worker `idx`, whose current
    /// facts are `now` and who manages `manages`.
    fn gen_facts(&self, idx: u32, now: Facts, manages: Option<u32>) -> GenFacts {
        let updated = if self.changed.contains_key(&idx) {
            self.generated(idx).updated
        } else {
            now.updated
        };
        GenFacts {
            status: Status::from_bits(now.flags),
            contingent: now.flags & CONTINGENT != 0,
            updated,
            manager_of: manages,
            hired_on: None,
        }
    }

    /// The worker's core, from the overlay or regenerated.
    fn core_with(&self, idx: u32, now: Facts, manages: Option<u32>) -> Cow<'_, WorkerCore> {
        match self.overlay.get(&idx) {
            Some(c) => Cow::Borrowed(c),
            None => Cow::Owned(gen_core(
                &self.opts,
                idx,
                &self.gen_facts(idx, now, manages),
            )),
        }
    }

    fn core(&self, idx: u32) -> Cow<'_, WorkerCore> {
        self.core_with(idx, self.facts_of(idx), self.manager_org(idx))
    }

    fn core_mut(&mut self, idx: u32) -> &mut WorkerCore {
        let facts = self.gen_facts(idx, self.facts_of(idx), self.manager_org(idx));
        let opts = &self.opts;
        self.overlay
            .entry(idx)
            .or_insert_with(|| gen_core(opts, idx, &facts))
    }

    fn view(&self, idx: u32, bad: bool) -> WorkerView<'_> {
        let facts = self.facts_of(idx);
        let manages = self.manager_org(idx);
        WorkerView {
            t: self,
            idx,
            facts,
            manages,
            core: self.core_with(idx, facts, manages),
            bad,
        }
    }

    fn live(&self, idx: u32) -> bool {
        idx < self.count && self.facts_of(idx).flags & PURGED == 0
    }

    /// The index of a live worker id.
    pub(crate) fn worker_index(&self, id: &str) -> Option<u32> {
        let idx = u32::try_from(index_of(self.opts.seed, IdKind::Worker, id)?).ok()?;
        self.live(idx).then_some(idx)
    }

    /// The index of an org id.
    pub(crate) fn org_index(&self, id: &str) -> Option<usize> {
        let idx = usize::try_from(index_of(self.opts.seed, IdKind::Org, id)?).ok()?;
        (idx < self.orgs.len()).then_some(idx)
    }

    fn bump(&mut self) {
        lock(&self.cache).clear();
    }

    /// Live worker indices matching the filter, in API order (cached).
    fn matching_workers(&self, from: Option<i64>) -> Option<Matching> {
        if from.is_none() && self.purged == 0 {
            return None; // identity mapping: index i is position i
        }
        let mut cache = lock(&self.cache);
        if let Some((_, v)) = cache.iter().find(|(k, _)| *k == from) {
            return Some(Arc::clone(v));
        }
        let v: Vec<u32> = (0..self.count)
            .filter(|&i| {
                let f = self.facts_of(i);
                f.flags & PURGED == 0 && from.is_none_or(|from| f.updated >= from)
            })
            .collect();
        let v = Arc::new(v);
        if cache.len() >= 4 {
            cache.remove(0);
        }
        cache.push((from, Arc::clone(&v)));
        Some(v)
    }

    /// The `updatedFrom` filter a page honours: none in the published
    /// shape (Workday's published collections have no such parameter, so a
    /// delta reads everything).
    fn updated_from(&self, q: PageQuery) -> Option<i64> {
        q.updated_from
            .filter(|_| self.opts.shape != Shape::Published)
    }

    /// Writes a `{"total","data"}` page of workers into `out`.
    pub(crate) fn write_worker_page(&self, q: PageQuery, bad: bool, out: &mut Vec<u8>) {
        let (total, idxs): (usize, Vec<u32>) = match self.matching_workers(self.updated_from(q)) {
            None => {
                let n = self.count as usize;
                let start = q.offset.min(n);
                let end = q.offset.saturating_add(q.limit).min(n);
                (n, (start as u32..end as u32).collect())
            }
            Some(v) => {
                let start = q.offset.min(v.len());
                let end = q.offset.saturating_add(q.limit).min(v.len());
                (v.len(), v[start..end].to_vec())
            }
        };
        let items = idxs
            .iter()
            .enumerate()
            .map(|(n, &i)| self.view(i, bad && n == 0));
        // Serialising into a Vec<u8> cannot fail for these types.
        let _ = write_page(out, total, items);
    }

    /// Writes a `{"total","data"}` page of orgs into `out`.
    pub(crate) fn write_org_page(&self, q: PageQuery, bad: bool, out: &mut Vec<u8>) {
        let from = self.updated_from(q);
        let matching: Vec<usize> = (0..self.orgs.len())
            .filter(|&j| from.is_none_or(|f| self.orgs[j].updated >= f))
            .collect();
        let start = q.offset.min(matching.len());
        let end = q.offset.saturating_add(q.limit).min(matching.len());
        let items = matching[start..end]
            .iter()
            .enumerate()
            .map(|(n, &org)| OrgView {
                t: self,
                org,
                bad: bad && n == 0,
            });
        let _ = write_page(out, matching.len(), items);
    }

    /// One worker as JSON bytes (single-record GET).
    pub(crate) fn worker_json(&self, idx: u32) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_worker_json(idx, &mut out);
        out
    }

    /// Appends one worker as JSON bytes to `out`.
    pub(crate) fn write_worker_json(&self, idx: u32, out: &mut Vec<u8>) {
        // Serialising into a Vec<u8> cannot fail for these types.
        let _ = serde_json::to_writer(out, &self.view(idx, false));
    }

    /// One org as JSON bytes.
    pub(crate) fn org_json(&self, idx: usize) -> Vec<u8> {
        serde_json::to_vec(&OrgView {
            t: self,
            org: idx,
            bad: false,
        })
        .unwrap_or_default()
    }

    pub(crate) fn worker_value(&self, idx: u32) -> Value {
        serde_json::to_value(self.view(idx, false)).unwrap_or(Value::Null)
    }

    pub(crate) fn org_value(&self, idx: usize) -> Value {
        serde_json::to_value(OrgView {
            t: self,
            org: idx,
            bad: false,
        })
        .unwrap_or(Value::Null)
    }

    /// The record of a worker or an org, as served.
    pub(crate) fn value_of(&self, subject: Subject) -> Value {
        match subject {
            Subject::Worker(idx) => self.worker_value(idx),
            Subject::Org(idx) => self.org_value(idx),
        }
    }

    pub(crate) fn live_workers(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.count).filter(|&i| self.live(i))
    }

    pub(crate) fn org_count(&self) -> usize {
        self.orgs.len()
    }

    pub(crate) fn worker_wid(&self, idx: u32) -> String {
        wid(self.opts.seed, IdKind::Worker, u64::from(idx))
    }

    pub(crate) fn org_wid(&self, idx: usize) -> String {
        wid(self.opts.seed, IdKind::Org, idx as u64)
    }

    /// [`Tenant::worker_wid`] without the `String`.
    fn worker_wid_buf(&self, idx: u32) -> Wid {
        wid_buf(self.opts.seed, IdKind::Worker, u64::from(idx))
    }

    /// [`Tenant::org_wid`] without the `String`.
    fn org_wid_buf(&self, idx: usize) -> Wid {
        wid_buf(self.opts.seed, IdKind::Org, idx as u64)
    }

    // ---- mutations -------------------------------------------------------

    fn stamp(&mut self, idx: u32, now: i64) {
        self.facts_mut(idx).updated = now;
    }

    fn manager_org(&self, idx: u32) -> Option<u32> {
        self.manages.get(&idx).copied()
    }

    /// Sets (or, with `null`, removes) one field of a worker or an org, and
    /// stamps it. A worker's `employmentStatus` with a known status changes
    /// the status itself.
    pub(crate) fn update(
        &mut self,
        target: Subject,
        field: &str,
        value: Value,
        now: i64,
    ) -> Result<(), SimError> {
        if matches!(field, "id" | "href" | "descriptor") {
            return Err(SimError::InvalidField(field.to_string()));
        }
        match target {
            Subject::Org(org) => {
                self.org_overrides
                    .entry(org)
                    .or_default()
                    .insert(field.to_string(), value);
                self.orgs[org].updated = now;
            }
            Subject::Worker(idx) => {
                let status = (field == "employmentStatus")
                    .then(|| value.as_str().and_then(Status::parse))
                    .flatten();
                if let Some(st) = status {
                    let f = &mut self.facts_mut(idx).flags;
                    *f = (*f & !STATUS_MASK) | st as u8;
                    self.core_mut(idx).overrides.remove(field);
                } else {
                    self.core_mut(idx)
                        .overrides
                        .insert(field.to_string(), value);
                }
                self.stamp(idx, now);
            }
        }
        self.bump();
        Ok(())
    }

    fn push_worker(&mut self, org: u32, flags: u8, now: i64) -> u32 {
        let idx = self.count;
        self.count += 1;
        self.changed.insert(
            idx,
            Facts {
                org,
                updated: now,
                flags,
            },
        );
        idx
    }

    /// Hires a new Active worker into `org` (random when `None`).
    pub(crate) fn hire(&mut self, org: Option<u32>, rng: Option<&mut ChaCha8Rng>, now: i64) -> u32 {
        let n_orgs = self.orgs.len();
        let (org, contingent) = {
            let rng = match rng {
                Some(r) => r,
                None => &mut self.rng,
            };
            let org = org.unwrap_or_else(|| rng.random_range(0..n_orgs) as u32);
            (org, rng.random_range(0..1000) < 100)
        };
        let flags = Status::Active as u8 | if contingent { CONTINGENT } else { 0 };
        let idx = self.push_worker(org, flags, now);
        let facts = GenFacts {
            status: Status::Active,
            contingent,
            updated: now,
            manager_of: None,
            hired_on: Some(ms_to_date(now)),
        };
        let core = gen_core(&self.opts, idx, &facts);
        self.overlay.insert(idx, core);
        self.bump();
        idx
    }

    /// Terminates an Active or On Leave worker.
    pub(crate) fn terminate(&mut self, idx: u32, now: i64) -> Result<(), SimError> {
        if Status::from_bits(self.facts_of(idx).flags) == Status::Terminated {
            return Err(SimError::Conflict(format!(
                "worker {} is already terminated",
                self.worker_wid(idx)
            )));
        }
        let f = &mut self.facts_mut(idx).flags;
        *f = (*f & !STATUS_MASK) | Status::Terminated as u8;
        let c = self.core_mut(idx);
        c.termination_date = Some(ms_to_date(now));
        c.overrides.remove("terminationDate");
        c.overrides.remove("employmentStatus");
        self.stamp(idx, now);
        self.bump();
        Ok(())
    }

    /// Rehires a terminated worker: a new WID, same employeeNumber, Active.
    pub(crate) fn rehire(&mut self, idx: u32, now: i64) -> Result<u32, SimError> {
        if Status::from_bits(self.facts_of(idx).flags) != Status::Terminated {
            return Err(SimError::Conflict(format!(
                "worker {} is not terminated",
                self.worker_wid(idx)
            )));
        }
        let mut core = self.core(idx).into_owned();
        let Facts { org, flags, .. } = self.facts_of(idx);
        let contingent = flags & CONTINGENT;
        let new = self.push_worker(org, Status::Active as u8 | contingent, now);
        core.wid = self.worker_wid(new);
        core.hire_date = ms_to_date(now);
        core.termination_date = None;
        for k in ["employmentStatus", "terminationDate", "hireDate"] {
            core.overrides.remove(k);
        }
        if self.manager_org(idx).is_some() {
            // The old record was a manager; the rehire is an ordinary worker.
            core.job = 0;
        }
        self.overlay.insert(new, core);
        self.bump();
        Ok(new)
    }

    /// Moves a (non-manager) worker to another org.
    pub(crate) fn move_worker(&mut self, idx: u32, org: u32, now: i64) -> Result<(), SimError> {
        if let Some(o) = self.manager_org(idx) {
            return Err(SimError::Conflict(format!(
                "worker {} manages organization {}; move the org instead",
                self.worker_wid(idx),
                self.org_wid(o as usize)
            )));
        }
        self.facts_mut(idx).org = org;
        self.stamp(idx, now);
        self.bump();
        Ok(())
    }

    /// Re-parents an org, refusing cycles; the org's manager is re-stamped
    /// too, since their supervisor changes.
    pub(crate) fn reparent_org(
        &mut self,
        org: usize,
        parent: usize,
        now: i64,
    ) -> Result<(), SimError> {
        let mut cur = Some(parent as u32);
        while let Some(c) = cur {
            if c as usize == org {
                return Err(SimError::Conflict(format!(
                    "making {} the parent of {} would create a cycle",
                    self.org_wid(parent),
                    self.org_wid(org)
                )));
            }
            cur = self.orgs[c as usize].parent();
        }
        self.orgs[org].parent = parent as u32;
        self.orgs[org].updated = now;
        let m = self.orgs[org].manager;
        self.stamp(m, now);
        self.bump();
        Ok(())
    }

    /// Removes a (non-manager) worker entirely.
    pub(crate) fn purge(&mut self, idx: u32) -> Result<(), SimError> {
        if let Some(o) = self.manager_org(idx) {
            return Err(SimError::Conflict(format!(
                "worker {} manages organization {}",
                self.worker_wid(idx),
                self.org_wid(o as usize)
            )));
        }
        self.facts_mut(idx).flags |= PURGED;
        self.overlay.remove(&idx);
        self.purged += 1;
        self.bump();
        Ok(())
    }

    /// A random live non-manager worker (bounded attempts).
    fn random_worker(&self, rng: &mut ChaCha8Rng, want: impl Fn(Status) -> bool) -> Option<u32> {
        let n = self.count;
        (0..256).find_map(|_| {
            let i = rng.random_range(0..n);
            let flags = self.facts_of(i).flags;
            (flags & PURGED == 0
                && !self.manages.contains_key(&i)
                && want(Status::from_bits(flags)))
            .then_some(i)
        })
    }

    /// Purges a random live non-manager worker among the first `before`
    /// (at least one) live workers in unfiltered API order.
    pub(crate) fn purge_before(&mut self, before: usize) -> Option<u32> {
        let positions: Vec<u32> = self
            .live_workers()
            .take(before.max(1))
            .filter(|i| !self.manages.contains_key(i))
            .collect();
        if positions.is_empty() {
            return None;
        }
        let i = positions[self.rng.random_range(0..positions.len())];
        self.purge(i).ok().map(|()| i)
    }

    /// K random mutations of all kinds.
    pub(crate) fn churn(&mut self, k: usize, seed: u64, now: i64) -> ChurnSummary {
        let mut rng = ChaCha8Rng::seed_from_u64(mix64(seed ^ 0x0063_6875_726e));
        let mut s = ChurnSummary::default();
        let orgs = self.orgs.len();
        for _ in 0..k {
            let roll = rng.random_range(0..100);
            let done = match roll {
                0..40 => None,
                40..55 => {
                    let i = self.hire(None, Some(&mut rng), now);
                    s.hired.push(self.worker_wid(i));
                    Some(())
                }
                55..67 => self
                    .random_worker(&mut rng, |st| st != Status::Terminated)
                    .and_then(|i| {
                        self.terminate(i, now).ok()?;
                        s.terminated.push(self.worker_wid(i));
                        Some(())
                    }),
                67..75 => self
                    .random_worker(&mut rng, |st| st == Status::Terminated)
                    .and_then(|i| {
                        let new = self.rehire(i, now).ok()?;
                        s.rehired.push((self.worker_wid(i), self.worker_wid(new)));
                        Some(())
                    }),
                75..87 => {
                    let org = rng.random_range(0..orgs) as u32;
                    self.random_worker(&mut rng, |_| true).and_then(|i| {
                        self.move_worker(i, org, now).ok()?;
                        s.moved.push(self.worker_wid(i));
                        Some(())
                    })
                }
                87..92 => self.random_worker(&mut rng, |_| true).and_then(|i| {
                    self.purge(i).ok()?;
                    s.purged.push(self.worker_wid(i));
                    Some(())
                }),
                _ if orgs > 2 => {
                    let o = rng.random_range(1..orgs);
                    let p = rng.random_range(0..orgs);
                    self.reparent_org(o, p, now).ok().map(|()| {
                        s.reparented.push(self.org_wid(o));
                    })
                }
                _ => None,
            };
            if done.is_none() {
                // Field update: the default and the fallback.
                if let Some(i) = self.random_worker(&mut rng, |_| true) {
                    let (field, value) = match rng.random_range(0..4) {
                        0 => (
                            "businessTitle",
                            format!("Churned Title {}", rng.random_range(0..1000)),
                        ),
                        1 => (
                            "workPhone",
                            format!(
                                "+1 555 {:03} {:04}",
                                rng.random_range(200..1000),
                                rng.random_range(0..10_000)
                            ),
                        ),
                        2 => (
                            "mobilePhone",
                            format!(
                                "+1 555 {:03} {:04}",
                                rng.random_range(200..1000),
                                rng.random_range(0..10_000)
                            ),
                        ),
                        _ => ("preferredName", pick(&mut rng, WESTERN_FIRST).0.to_string()),
                    };
                    if self
                        .update(Subject::Worker(i), field, Value::String(value), now)
                        .is_ok()
                    {
                        s.updated.push(self.worker_wid(i));
                    }
                }
            }
        }
        s
    }
}

// ---- facts the SOAP wire filters on (without rendering records) ---------

impl Tenant {
    /// Worker `idx`'s last update (epoch ms), status and whether they are a
    /// contingent worker.
    pub(crate) fn worker_brief(&self, idx: u32) -> (i64, Status, bool) {
        let f = self.facts_of(idx);
        (
            f.updated,
            Status::from_bits(f.flags),
            f.flags & CONTINGENT != 0,
        )
    }

    /// Changes whenever a worker is created or purged: `(created, purged)`.
    pub(crate) fn shape_version(&self) -> (u32, usize) {
        (self.count, self.purged)
    }

    /// Org `org`'s last update (epoch ms).
    pub(crate) fn org_updated(&self, org: usize) -> i64 {
        self.orgs[org].updated
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;

    /// The served date forms (chrono's RFC 3339 writer and `NaiveDate`'s
    /// `Display`) are the `%Y-%m-%dT%H:%M:%S%.3fZ` and `%Y-%m-%d` forms the
    /// simulator served before, over every year it can generate.
    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        let json = |v: &dyn erased::Ser| v.json();
        for ms in [
            0,
            GEN_FROM_MS + 1,
            GEN_TO_MS - 1,
            1_767_225_599_999,
            -62_135_596_800_001, // 0000-12-31T23:59:59.999Z
            253_402_300_799_999, // 9999-12-31T23:59:59.999Z
        ] {
            let dt = ms_to_dt(ms);
            assert_eq!(
                json(&MsTime(ms)),
                format!("\"{}\"", dt.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
                "{ms}"
            );
            let d = dt.date_naive();
            assert_eq!(json(&Date(d)), format!("\"{}\"", d.format("%Y-%m-%d")));
        }
    }

    mod erased {
        pub(super) trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
