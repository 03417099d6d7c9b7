//! The fault matrix (issue 7): every fault the simulator can inject, at the
//! first, a middle and the last page, of workers and of organizations, in
//! full and in delta mode, end to end through the harness engine into a
//! SQLite store in a temporary directory.
//!
//! Every case runs on a fresh simulator (45 workers, 25 orgs, `PageSize` 10)
//! and a fresh store:
//!
//! 1. a clean full run (the previous state and watermark);
//! 2. deterministic mutations (updates, a termination, a rehire, a move, a
//!    purge, hires, renamed orgs), so the faulted run has something to change
//!    and a delta reads several pages of each feed;
//! 3. the faulted run, with a fresh connector whose back-off sleeps are
//!    recorded instead of slept. It asserts the exact outcome class, request
//!    counts per endpoint (token + pages + retries), retries, the recorded
//!    back-off delays, pages, records, change counts, the record errors, the
//!    `complete` flag, the purges, the committed watermark string and the
//!    whole store: unchanged after a failure, the simulator's truth after a
//!    success (except what the fault explains: a record-error record, a
//!    record the drift skipped, source purges a delta cannot see);
//! 4. a clean full run, after which the store equals the simulator's truth
//!    exactly: every served worker and org under its id with the attributes
//!    `connector_workday::mapping` derives from the served JSON and the right
//!    deleted flag, every other object deleted (`purge`), nothing duplicated.
//!
//! Request numbering is deterministic with `MaxConcurrentRequests` 1; the
//! faults whose cost does not depend on which page they hit are also run
//! with 4 pages in flight. Cases run concurrently (bounded); timeouts use a
//! 1 s request timeout, every other wait is a recorded, not slept, back-off.
//!
//! The same promises hold for `Api: "Soap"` (section "Api Soap" below): the
//! SOAP faults, the UsernameToken's probe and the bearer token's request,
//! each case compared with the same history without the fault.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use connector_api::{ChangeKind, ErrorKind, ImportMode};
use connector_workday::config::ExternalIdAttribute;
use connector_workday::mapping::{last_updated, map_org, map_worker};
use connector_workday::retry::RecordingSleeper;
use connector_workday::watermark::{decode, encode, Watermark};
use harness::engine::{Engine, RunOptions, RunOutcome, RunReport};
use harness::secrets::Redactor;
use harness::sim::{DriftKind, Endpoint, FaultKind, FaultRule, RetryAfter, Simulator, SoapFault};
use harness::simulated;
use harness::store::{RunStatus, Store};
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const INSTANCE: &str = "workday:acme";
const WORKERS: usize = 45;
const ORGS: usize = 25;
const PAGE: usize = 10;
/// The first this many workers (API order) are updated before the faulted
/// run, so a delta's `drift=purge` (which purges a worker positioned before
/// the requested offset, counted without the `updatedFrom` filter) always
/// hits a worker the delta reads.
const STAMPED_WORKERS: usize = 32;
const STAMPED_ORGS: usize = 22;
/// `DeltaOverlapSeconds` (the default).
const OVERLAP: Duration = Duration::from_secs(300);
/// The request timeout of the timeout cases, and how late their slow reply is.
const TIMEOUT: Duration = Duration::from_secs(1);
const SLOW: Duration = Duration::from_secs(3);
/// `Retry-After` values the matrix uses (all within the 30 s cap but 120).
const RETRY_AFTER_SECONDS: u64 = 7;
const RETRY_AFTER_DATE_IN: Duration = Duration::from_secs(20);
const RETRY_AFTER_BEYOND_CAP: u64 = 120;
/// Cases in flight at once per test.
const PARALLEL: usize = 6;
/// Bounds on every wait.
/// When the changes between the setup run and the faulted run are stamped:
/// after every generated time (before 2026), before the real clock.
const MUTATED_AT: &str = "2026-01-15T12:00:00Z";
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

// ----- the matrix ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Full,
    Delta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    Workers,
    Orgs,
}

impl Feed {
    fn endpoint(self) -> Endpoint {
        match self {
            Feed::Workers => Endpoint::Workers,
            Feed::Orgs => Endpoint::Organizations,
        }
    }

    fn object_type(self) -> &'static str {
        match self {
            Feed::Workers => "User",
            Feed::Orgs => "OrgUnit",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    First,
    Middle,
    Last,
}

impl Pos {
    /// The 1-based page of a feed read in `pages` pages.
    fn page(self, pages: usize) -> usize {
        match self {
            Pos::First => 1,
            Pos::Middle => pages / 2 + 1,
            Pos::Last => pages,
        }
    }
}

/// A failure the connector retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transient {
    /// 429, `Retry-After: 7`.
    RetryAfterSeconds,
    /// 429, `Retry-After` an HTTP-date 20 s after the reply.
    RetryAfterDate,
    /// 429, `Retry-After` an HTTP-date in the past (no wait).
    RetryAfterPastDate,
    /// 429 without `Retry-After`.
    RetryAfterAbsent,
    /// 500, 502, 503, 504.
    Status(u16),
    /// The connection closed before any byte of the reply.
    Close,
    /// Headers and half the body, then the connection drops.
    CloseMidBody,
    /// The reply comes after the request timeout.
    Timeout,
}

impl Transient {
    const ALL: [Transient; 11] = [
        Transient::RetryAfterSeconds,
        Transient::RetryAfterDate,
        Transient::RetryAfterPastDate,
        Transient::RetryAfterAbsent,
        Transient::Status(500),
        Transient::Status(502),
        Transient::Status(503),
        Transient::Status(504),
        Transient::Close,
        Transient::CloseMidBody,
        Transient::Timeout,
    ];

    fn kind(self) -> FaultKind {
        match self {
            Transient::RetryAfterSeconds => {
                FaultKind::TooManyRequests(RetryAfter::Seconds(RETRY_AFTER_SECONDS))
            }
            Transient::RetryAfterDate => {
                FaultKind::TooManyRequests(RetryAfter::HttpDateIn(RETRY_AFTER_DATE_IN))
            }
            Transient::RetryAfterPastDate => FaultKind::TooManyRequests(RetryAfter::HttpDate(
                UNIX_EPOCH + Duration::from_secs(1_000_000_000),
            )),
            Transient::RetryAfterAbsent => FaultKind::TooManyRequests(RetryAfter::Absent),
            Transient::Status(code) => FaultKind::Status(code),
            Transient::Close => FaultKind::CloseConnection,
            Transient::CloseMidBody => FaultKind::CloseMidBody,
            Transient::Timeout => FaultKind::Slow(SLOW),
        }
    }

    /// The back-off before retry `i` (0-based): `Retry-After` when given,
    /// else the exponential base 1 s, 2 s, 4 s (`RetryPolicy::exact`).
    fn delay(self, i: u32) -> Delay {
        match self {
            Transient::RetryAfterSeconds => Delay::Exact(Duration::from_secs(RETRY_AFTER_SECONDS)),
            // The gap between the date (whole seconds, 20 s after the reply)
            // and when the connector read it.
            Transient::RetryAfterDate => Delay::Within(
                RETRY_AFTER_DATE_IN - Duration::from_secs(10),
                RETRY_AFTER_DATE_IN,
            ),
            Transient::RetryAfterPastDate => Delay::Exact(Duration::ZERO),
            _ => Delay::Exact(Duration::from_secs(1 << i)),
        }
    }

    /// How a run fails when the fault outlasts the retries.
    fn exhausted_kind(self) -> ErrorKind {
        match self {
            Transient::RetryAfterSeconds
            | Transient::RetryAfterDate
            | Transient::RetryAfterPastDate
            | Transient::RetryAfterAbsent => ErrorKind::RateLimit,
            Transient::Status(_) => ErrorKind::Server,
            Transient::Close | Transient::CloseMidBody | Transient::Timeout => ErrorKind::Transport,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// One faulted request: one retry, then success.
    Once(Transient),
    /// Four faulted requests in a row: three retries, then the run fails.
    Exhausted(Transient),
    /// 429 asking for 120 s, beyond the 30 s cap: the run stops at once.
    RetryAfterBeyondCap,
    /// A 200 whose JSON is cut in half.
    Truncated,
    /// The token dies right before this page: 401, a new token, the page again.
    TokenExpiry,
    /// As `TokenExpiry`, and the new token is refused too: authentication fails.
    TokenRefused,
    /// A worker is hired just before the page is served.
    DriftHire,
    /// A worker positioned before the page is purged just before it is served.
    DriftPurge,
    /// The page's first record carries wrongly typed fields.
    BadRecord,
}

impl Fault {
    fn all() -> Vec<Fault> {
        let mut v: Vec<Fault> = Transient::ALL.iter().map(|t| Fault::Once(*t)).collect();
        v.extend(Transient::ALL.iter().map(|t| Fault::Exhausted(*t)));
        v.extend([
            Fault::RetryAfterBeyondCap,
            Fault::Truncated,
            Fault::TokenExpiry,
            Fault::TokenRefused,
            Fault::DriftHire,
            Fault::DriftPurge,
            Fault::BadRecord,
        ]);
        v
    }

    /// The simulator drifts `total` on workers only.
    fn applies_to(self, feed: Feed) -> bool {
        !matches!(self, Fault::DriftHire | Fault::DriftPurge) || feed == Feed::Workers
    }

    /// Whether the fault's cost does not depend on which page it hits, so
    /// the case holds with several pages in flight too.
    fn position_free(self) -> bool {
        matches!(self, Fault::Once(_) | Fault::BadRecord)
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    mode: Mode,
    feed: Feed,
    pos: Pos,
    fault: Fault,
    concurrency: u32,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}/{:?}/c{}",
            self.mode, self.feed, self.pos, self.fault, self.concurrency
        )
    }
}

fn cases(mode: Mode, feed: Feed, concurrency: u32) -> Vec<Case> {
    let mut out = Vec::new();
    for fault in Fault::all() {
        if !fault.applies_to(feed) || (concurrency > 1 && !fault.position_free()) {
            continue;
        }
        for pos in [Pos::First, Pos::Middle, Pos::Last] {
            // With several pages in flight the first page is still fetched
            // alone: the first position is the concurrency-1 case again.
            if concurrency > 1 && pos == Pos::First {
                continue;
            }
            out.push(Case {
                mode,
                feed,
                pos,
                fault,
                concurrency,
            });
        }
    }
    out
}

// ----- store and truth ---------------------------------------------------------

struct TempDir(PathBuf);

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "idmesh-fault-matrix-{}-{nanos}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("state.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Key = (&'static str, String);

/// One mesh object as the store holds it (or should).
#[derive(Debug, Clone, PartialEq)]
struct Obj {
    attributes: Json,
    deleted: bool,
    deleted_by: Option<String>,
}

type State = BTreeMap<Key, Obj>;

/// Every object of the instance in the store; panics on a duplicate id.
fn store_state(store: &Store) -> State {
    let mut state = State::new();
    for ty in ["OrgUnit", "User"] {
        for o in store.all_objects(INSTANCE, ty).unwrap() {
            let obj = Obj {
                attributes: Json::Object(o.attributes),
                deleted: o.deleted,
                deleted_by: o.deleted_by,
            };
            let key = (ty, o.external_id);
            assert!(!state.contains_key(&key), "{key:?} is in the store twice");
            state.insert(key, obj);
        }
    }
    let counts = store.object_counts(INSTANCE).unwrap();
    let counted: u64 = counts.values().map(|c| c.live + c.deleted).sum();
    assert_eq!(counted as usize, state.len(), "no objects of other types");
    state
}

fn obj_of(change: &connector_api::Change) -> Obj {
    let deleted = change.kind == ChangeKind::Delete;
    Obj {
        attributes: serde_json::to_value(&change.attributes).unwrap(),
        deleted,
        deleted_by: deleted.then(|| "change".to_string()),
    }
}

/// What the simulator serves now: its records in API order, and its truth
/// mapped as the connector maps it.
struct Source {
    orgs: Vec<Json>,
    workers: Vec<Json>,
    truth: State,
}

fn source(sim: &Simulator) -> Source {
    let (orgs, workers) = (orgs_of(sim), workers_of(sim));
    let mut truth = State::new();
    for o in &orgs {
        let c = map_org(o).unwrap();
        assert!(truth
            .insert(("OrgUnit", c.external_id.clone()), obj_of(&c))
            .is_none());
    }
    for w in &workers {
        let c = map_worker(w, ExternalIdAttribute::Id).unwrap();
        assert!(truth
            .insert(("User", c.external_id.clone()), obj_of(&c))
            .is_none());
    }
    Source {
        orgs,
        workers,
        truth,
    }
}

impl Source {
    /// The watermark a clean full run commits: the newest times served.
    fn watermark(&self) -> String {
        encode(&Watermark {
            workers: newest(&self.workers),
            organizations: newest(&self.orgs),
        })
    }
}

/// What a complete full run leaves: the truth, and every other object of
/// `prior` deleted (purged when it was live).
fn after_complete_full(truth: &State, prior: &State) -> State {
    let mut out = truth.clone();
    for (k, o) in prior {
        if !truth.contains_key(k) {
            let mut o = o.clone();
            if !o.deleted {
                o.deleted = true;
                o.deleted_by = Some("purge".into());
            }
            out.insert(k.clone(), o);
        }
    }
    out
}

/// Live objects of `prior` per type that `truth` no longer has: what a
/// complete full run purges.
fn purgeable(truth: &State, prior: &State) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, o) in prior {
        if !o.deleted && !truth.contains_key(k) {
            *out.entry(k.0.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// Compares two states, naming the first few differing keys.
fn assert_state(actual: &State, expected: &State, what: &str) {
    if actual == expected {
        return;
    }
    let keys: BTreeSet<&Key> = actual.keys().chain(expected.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| actual.get(*k) != expected.get(*k))
        .take(5)
        .map(|k| match (actual.get(k), expected.get(k)) {
            (Some(a), Some(e)) => {
                // Only what differs, so a long record stays readable.
                let (am, em) = (a.attributes.as_object(), e.attributes.as_object());
                let fields: Vec<String> = match (am, em) {
                    (Some(am), Some(em)) => am
                        .keys()
                        .chain(em.keys())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .filter(|f| am.get(*f) != em.get(*f))
                        .map(|f| format!("{f}: {:?} vs {:?}", am.get(f), em.get(f)))
                        .collect(),
                    _ => vec![format!("{:?} vs {:?}", a.attributes, e.attributes)],
                };
                format!(
                    "{k:?}: store vs expected: deleted {:?} vs {:?}, deleted_by {:?} vs {:?}; {}",
                    a.deleted,
                    e.deleted,
                    a.deleted_by,
                    e.deleted_by,
                    fields.join("; ")
                )
            }
            (a, e) => format!("{k:?}:\n  store:    {a:?}\n  expected: {e:?}"),
        })
        .collect();
    panic!(
        "{what}: the store ({} objects) differs from the expected state ({} objects):\n{}",
        actual.len(),
        expected.len(),
        diffs.join("\n")
    );
}

fn newest(records: &[Json]) -> Option<DateTime<Utc>> {
    records.iter().filter_map(last_updated).max()
}

fn workers_of(sim: &Simulator) -> Vec<Json> {
    let mut v = Vec::new();
    sim.for_each_worker(|w| v.push(w.clone()));
    v
}

fn orgs_of(sim: &Simulator) -> Vec<Json> {
    let mut v = Vec::new();
    sim.for_each_org(|o| v.push(o.clone()));
    v
}

fn id_of(record: &Json) -> String {
    record["id"].as_str().unwrap().to_string()
}

// ----- running -------------------------------------------------------------------

fn config(sim: &Simulator, concurrency: u32) -> String {
    support::config(
        sim,
        json!({
            "PageSize": PAGE,
            "MaxConcurrentRequests": concurrency,
            "MaxRequestsPerHour": 1_000_000,
        }),
    )
}

/// One import with a fresh connector (as every `harness import` process
/// has): back-off delays recorded by `sleeper`, never slept.
async fn import(
    engine: &mut Engine,
    sim: &Simulator,
    mode: ImportMode,
    sleeper: &RecordingSleeper,
    concurrency: u32,
    timeout: Option<Duration>,
) -> RunReport {
    let mut factory = support::recording_factory(sleeper);
    if let Some(t) = timeout {
        factory = factory.with_request_timeout(t);
    }
    run_with(engine, sim, &factory, &config(sim, concurrency), mode).await
}

/// One run of a connector `factory` builds from `config` (and the
/// simulator's secrets), bounded by `RUN_TIMEOUT`.
async fn run_with(
    engine: &mut Engine,
    sim: &Simulator,
    factory: &connector_workday::WorkdayFactory,
    config: &str,
    mode: ImportMode,
) -> RunReport {
    let secrets = simulated::secrets(sim, &Redactor::new());
    let connector = factory
        .connect(config, &simulated::auth_material(sim), &secrets)
        .await
        .unwrap();
    tokio::time::timeout(
        RUN_TIMEOUT,
        engine.run(&connector, RunOptions::new("workday", INSTANCE, mode)),
    )
    .await
    .expect("the run finished in time")
    .expect("the run started")
}

/// Deterministic changes between the first full run and the faulted run.
fn mutate(sim: &Simulator) {
    let managers: BTreeSet<String> = orgs_of(sim)
        .iter()
        .filter_map(|o| o["manager"]["id"].as_str().map(str::to_string))
        .collect();
    let workers = workers_of(sim);
    for (i, w) in workers.iter().take(STAMPED_WORKERS).enumerate() {
        sim.update_worker(
            &id_of(w),
            "businessTitle",
            json!(format!("Fault matrix title {i}")),
        )
        .unwrap();
    }
    let later: Vec<&Json> = workers[STAMPED_WORKERS..]
        .iter()
        .filter(|w| w["employmentStatus"] == "Active" && !managers.contains(&id_of(w)))
        .collect();
    assert!(
        later.len() >= 3,
        "the tenant has 3 plain active workers late in order"
    );
    sim.terminate(&id_of(later[0])).unwrap();
    let current = later[1]["primarySupervisoryOrganization"]["id"].clone();
    let target = orgs_of(sim)
        .iter()
        .map(id_of)
        .find(|o| json!(o) != current)
        .unwrap();
    sim.move_worker(&id_of(later[1]), &target).unwrap();
    sim.purge_worker(&id_of(later[2])).unwrap();
    sim.rehire(&id_of(later[0])).unwrap();
    sim.hire();
    sim.hire();
    for (i, o) in orgs_of(sim).iter().take(STAMPED_ORGS).enumerate() {
        sim.update_org(&id_of(o), "name", json!(format!("Renamed org {i}")))
            .unwrap();
    }
}

/// Pages and records of one feed read one page at a time, when `total`
/// changes by `drift.1` just before page `drift.0` is served; and whether
/// the connector sees the drift.
fn read_model(n: usize, drift: Option<(usize, isize)>) -> (usize, usize, bool) {
    let mut n = n as isize;
    let (mut total, mut offset, mut pages, mut records, mut drifted) =
        (0isize, 0isize, 0, 0, false);
    loop {
        pages += 1;
        if let Some((k, d)) = drift {
            if k == pages {
                n += d;
            }
        }
        if pages == 1 {
            total = n;
        } else if n != total {
            drifted = true;
            total = n;
        }
        let served = (n - offset).clamp(0, PAGE as isize);
        if served == 0 {
            drifted |= offset < total;
            break;
        }
        records += served as usize;
        offset += PAGE as isize;
        if offset >= total {
            break;
        }
    }
    (pages, records, drifted)
}

fn pages_of(n: usize) -> usize {
    n.div_ceil(PAGE).max(1)
}

#[derive(Debug, Clone, Copy)]
enum Delay {
    Exact(Duration),
    Within(Duration, Duration),
}

impl Delay {
    fn matches(self, d: Duration) -> bool {
        match self {
            Delay::Exact(e) => d == e,
            Delay::Within(lo, hi) => lo <= d && d <= hi,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Succeeded,
    RecordErrors,
    Failed(ErrorKind, bool),
}

fn class_of(outcome: &RunOutcome) -> Class {
    match outcome {
        RunOutcome::Succeeded => Class::Succeeded,
        RunOutcome::SucceededWithRecordErrors => Class::RecordErrors,
        RunOutcome::Failed {
            kind, retryable, ..
        } => Class::Failed(*kind, *retryable),
        other => panic!("unexpected outcome {other:?}"),
    }
}

/// What the faulted run must do, worked out from the records it will read.
#[derive(Debug)]
struct Expect {
    class: Class,
    token_requests: usize,
    org_requests: usize,
    worker_requests: usize,
    /// Requests the simulator applied a fault to.
    faulted: usize,
    retries: u64,
    delays: Vec<Delay>,
    pages: u64,
    records: u64,
    /// Whether the worker read drifts (its watermark is not advanced).
    worker_drift: bool,
}

fn expect(case: &Case, orgs: &[Json], workers: &[Json]) -> Expect {
    let (n_o, n_w) = (orgs.len(), workers.len());
    let (pages_o, pages_w) = (pages_of(n_o), pages_of(n_w));
    let pages_f = match case.feed {
        Feed::Orgs => pages_o,
        Feed::Workers => pages_w,
    };
    let p = case.pos.page(pages_f);
    let mut e = Expect {
        class: Class::Succeeded,
        token_requests: 1,
        org_requests: pages_o,
        worker_requests: pages_w,
        faulted: 1,
        retries: 0,
        delays: Vec::new(),
        pages: (pages_o + pages_w) as u64,
        records: (n_o + n_w) as u64,
        worker_drift: false,
    };
    let add = |e: &mut Expect, extra: usize| match case.feed {
        Feed::Orgs => e.org_requests += extra,
        Feed::Workers => e.worker_requests += extra,
    };
    // A failure at page p: p - 1 pages delivered, later pages and feeds never asked for.
    let fail_at = |e: &mut Expect, requests_at_p: usize, class: Class| {
        e.class = class;
        let delivered = p - 1;
        match case.feed {
            Feed::Orgs => {
                e.org_requests = delivered + requests_at_p;
                e.worker_requests = 0;
                e.pages = delivered as u64;
                e.records = (delivered * PAGE) as u64;
            }
            Feed::Workers => {
                e.worker_requests = delivered + requests_at_p;
                e.pages = (pages_o + delivered) as u64;
                e.records = (n_o + delivered * PAGE) as u64;
            }
        }
    };
    match case.fault {
        Fault::Once(t) => {
            add(&mut e, 1);
            e.retries = 1;
            e.delays = vec![t.delay(0)];
        }
        Fault::Exhausted(t) => {
            fail_at(&mut e, 4, Class::Failed(t.exhausted_kind(), true));
            e.faulted = 4;
            e.retries = 3;
            e.delays = (0..3).map(|i| t.delay(i)).collect();
        }
        Fault::RetryAfterBeyondCap => fail_at(&mut e, 1, Class::Failed(ErrorKind::RateLimit, true)),
        Fault::Truncated => fail_at(&mut e, 1, Class::Failed(ErrorKind::BadResponse, false)),
        Fault::TokenExpiry => {
            e.token_requests = 2;
            add(&mut e, 1);
        }
        Fault::TokenRefused => {
            e.token_requests = 2;
            e.faulted = 2;
            fail_at(&mut e, 2, Class::Failed(ErrorKind::Authentication, false));
        }
        Fault::DriftHire | Fault::DriftPurge => {
            let d = if case.fault == Fault::DriftHire {
                1
            } else {
                -1
            };
            let (pages, records, drifted) = read_model(n_w, Some((p, d)));
            e.worker_requests = pages;
            e.pages = (pages_o + pages) as u64;
            e.records = (n_o + records) as u64;
            e.worker_drift = drifted;
        }
        Fault::BadRecord => e.class = Class::RecordErrors,
    }
    e
}

/// The fault rules of a case (request numbers count from the faulted run's start).
fn rules(case: &Case, e_pages: (usize, usize)) -> Vec<FaultRule> {
    let (pages_o, pages_w) = e_pages;
    let endpoint = case.feed.endpoint();
    let p = case.pos.page(match case.feed {
        Feed::Orgs => pages_o,
        Feed::Workers => pages_w,
    });
    let page = |kind: FaultKind, times: usize| FaultRule {
        endpoint,
        at_request: p,
        times,
        kind,
    };
    // API calls before page p: the orgs come first.
    let uses_before = u32::try_from(match case.feed {
        Feed::Orgs => p - 1,
        Feed::Workers => pages_o + p - 1,
    })
    .unwrap();
    match case.fault {
        Fault::Once(t) => vec![page(t.kind(), 1)],
        Fault::Exhausted(t) => vec![page(t.kind(), 4)],
        Fault::RetryAfterBeyondCap => vec![page(
            FaultKind::TooManyRequests(RetryAfter::Seconds(RETRY_AFTER_BEYOND_CAP)),
            1,
        )],
        Fault::Truncated => vec![page(FaultKind::TruncatedBody, 1)],
        Fault::TokenExpiry => token_rules(uses_before, false),
        Fault::TokenRefused => token_rules(uses_before, true),
        Fault::DriftHire => vec![page(FaultKind::TotalDrift(DriftKind::Hire), 1)],
        Fault::DriftPurge => vec![page(FaultKind::TotalDrift(DriftKind::Purge), 1)],
        Fault::BadRecord => vec![page(FaultKind::BadRecord, 1)],
    }
}

/// The token issued first dies after `uses_before` API calls; when
/// `refused`, the next one is refused at once too.
fn token_rules(uses_before: u32, refused: bool) -> Vec<FaultRule> {
    let mut rules = vec![FaultRule::once(
        Endpoint::Token,
        1,
        FaultKind::TokenExpiresAfterUses(uses_before),
    )];
    if refused {
        rules.push(FaultRule::once(
            Endpoint::Token,
            2,
            FaultKind::TokenExpiresAfterUses(0),
        ));
    }
    rules
}

fn kinds(records: &[Json], map: impl Fn(&Json) -> connector_api::Change) -> (u64, u64) {
    let (mut up, mut del) = (0, 0);
    for r in records {
        match map(r).kind {
            ChangeKind::Upsert => up += 1,
            ChangeKind::Delete => del += 1,
        }
    }
    (up, del)
}

async fn run_case(case: Case) {
    let name = case.name();
    let sim = support::sim(WORKERS, ORGS).await;
    let dir = TempDir::new();
    let mut engine = Engine::new(Store::open(&dir.db()).unwrap());
    let quiet = RecordingSleeper::new();

    // 1. The previous state: a clean full run.
    let r = import(&mut engine, &sim, ImportMode::Full, &quiet, 1, None).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{name}: setup run: {r:?}");
    assert_eq!(
        r.metrics.requests,
        1 + 3 + 5,
        "{name}: 25 orgs and 45 workers at 10 a page"
    );
    let src = source(&sim);
    let before = store_state(engine.store());
    assert_state(&before, &src.truth, &format!("{name}: setup run"));
    let w0 = engine.store().watermark(INSTANCE).unwrap().unwrap();
    assert_eq!(w0, src.watermark(), "{name}: setup watermark");

    // 2. Something for the faulted run to change. The simulator's clock,
    // which stamps the changes, is pinned after the generated data and
    // before the real clock that hyper's `Date` header follows: a feed's
    // watermark never passes its first page's `Date` (whole seconds), so a
    // change stamped by the real clock in the same second as the read would
    // be cut to that second, and this suite's "newest time served" would
    // depend on timing. (The cap itself: connector-workday/tests/delta.rs.)
    sim.set_clock(MUTATED_AT.parse().unwrap());
    mutate(&sim);
    let pre = source(&sim);

    // 3. The faulted run.
    let incoming = decode(Some(&w0)).unwrap();
    let mode = match case.mode {
        Mode::Full => ImportMode::Full,
        Mode::Delta => ImportMode::Delta,
    };
    // What a run reads of a feed now: everything, or (delta) the records
    // updated since the watermark minus the overlap, in API order.
    let readable = |feed: Feed, src: &Source| -> Vec<Json> {
        let (all, since) = match feed {
            Feed::Orgs => (&src.orgs, incoming.organizations),
            Feed::Workers => (&src.workers, incoming.workers),
        };
        match case.mode {
            Mode::Full => all.clone(),
            Mode::Delta => {
                let from: DateTime<Utc> = since.unwrap() - OVERLAP;
                all.iter()
                    .filter(|r| last_updated(r).unwrap() >= from)
                    .cloned()
                    .collect()
            }
        }
    };
    let (read_orgs, read_workers) = (readable(Feed::Orgs, &pre), readable(Feed::Workers, &pre));
    let (pages_o, pages_w) = (pages_of(read_orgs.len()), pages_of(read_workers.len()));
    assert!(
        pages_o >= 3 && pages_w >= 3,
        "{name}: several pages per feed ({pages_o}, {pages_w})"
    );
    if case.fault == Fault::DriftPurge && case.mode == Mode::Delta {
        // drift=purge picks a worker before the page's offset, counted without
        // the filter: it must be one the delta reads.
        assert!(
            (pages_w - 1) * PAGE <= STAMPED_WORKERS,
            "{name}: {pages_w} delta pages"
        );
    }
    let e = expect(&case, &read_orgs, &read_workers);
    let feed_records: &[Json] = match case.feed {
        Feed::Orgs => &read_orgs,
        Feed::Workers => &read_workers,
    };
    let p = case.pos.page(pages_of(feed_records.len()));
    sim.clear_requests();
    for rule in rules(&case, (pages_o, pages_w)) {
        sim.add_fault(rule);
    }
    let timeout = matches!(
        case.fault,
        Fault::Once(Transient::Timeout) | Fault::Exhausted(Transient::Timeout)
    )
    .then_some(TIMEOUT);
    let sleeper = RecordingSleeper::new();
    let r = import(&mut engine, &sim, mode, &sleeper, case.concurrency, timeout).await;
    let after_fault = store_state(engine.store());
    let post = source(&sim);
    let truth_now = &post.truth;

    // The outcome, the requests and the back-off.
    assert_eq!(
        class_of(&r.outcome),
        e.class,
        "{name}: outcome {:?}",
        r.outcome
    );
    assert_eq!(
        (
            sim.request_count(Endpoint::Token),
            sim.request_count(Endpoint::Organizations),
            sim.request_count(Endpoint::Workers),
        ),
        (e.token_requests, e.org_requests, e.worker_requests),
        "{name}: requests (token, orgs, workers)"
    );
    assert_eq!(sim.request_count(Endpoint::Other), 0, "{name}");
    let faulted = sim.requests().iter().filter(|q| q.fault.is_some()).count();
    assert_eq!(faulted, e.faulted, "{name}: faulted requests");
    let m = r.metrics;
    assert_eq!(
        m.requests as usize,
        e.token_requests + e.org_requests + e.worker_requests,
        "{name}: the connector counts every request"
    );
    assert_eq!(m.retries, e.retries, "{name}: retries");
    assert_eq!(
        (m.pages, m.records),
        (e.pages, e.records),
        "{name}: pages, records"
    );
    let delays = sleeper.delays();
    assert!(
        delays.len() == e.delays.len() && delays.iter().zip(&e.delays).all(|(d, x)| x.matches(*d)),
        "{name}: back-off delays {delays:?}, expected {:?}",
        e.delays
    );
    let run = engine.store().run(r.run_id).unwrap().unwrap();
    assert_eq!(run.status, r.outcome.status(), "{name}: the run history");

    match e.class {
        Class::Failed(kind, _) => {
            // It says what went wrong.
            let RunOutcome::Failed { message, .. } = &r.outcome else {
                unreachable!()
            };
            let says = match case.fault {
                Fault::Exhausted(_) => "(gave up after 3 retries)",
                Fault::RetryAfterBeyondCap => "asked to wait 120 s (Retry-After)",
                Fault::Truncated => "the body is not JSON",
                Fault::TokenRefused => "(401 Unauthorized, twice)",
                _ => unreachable!("{name}"),
            };
            assert!(message.contains(says), "{name}: {message}");
            // Nothing committed: the previous watermark and objects.
            assert!(!r.watermark_advanced && r.new_watermark.is_none(), "{name}");
            assert_eq!(
                engine.store().watermark(INSTANCE).unwrap().as_deref(),
                Some(w0.as_str()),
                "{name}: watermark kept"
            );
            assert_state(
                &after_fault,
                &before,
                &format!("{name}: a failed run changes nothing"),
            );
            assert_eq!(run.error_kind.as_deref(), Some(kind.as_str()), "{name}");
            assert!(r.purged.is_empty(), "{name}");
        }
        Class::Succeeded | Class::RecordErrors => {
            let records_now = readable(case.feed, &post);
            // The one record this run could not apply: the bad one, or the one
            // a purge shifted from the page's offset to before it.
            let mut skipped: Option<Key> = None;
            let mut bad_positions = Vec::new();
            if case.fault == Fault::BadRecord {
                assert_eq!(r.record_errors.len(), 1, "{name}: {:?}", r.record_errors);
                let re = &r.record_errors[0];
                let position = usize::try_from(re.position).unwrap();
                let id = id_of(&feed_records[position]);
                if case.concurrency == 1 {
                    assert_eq!(
                        position,
                        (p - 1) * PAGE,
                        "{name}: the first record of page {p}"
                    );
                } else {
                    assert_eq!(position % PAGE, 0, "{name}: the first record of a page");
                }
                assert_eq!(re.object_type, case.feed.object_type(), "{name}");
                assert_eq!(re.external_id.as_deref(), Some(id.as_str()), "{name}");
                assert_eq!(
                    re.field.as_deref(),
                    Some(match case.feed {
                        Feed::Orgs => "lastUpdatedDateTime",
                        Feed::Workers => "employmentStatus",
                    }),
                    "{name}: {re:?}"
                );
                bad_positions.push(position);
                skipped = Some((case.feed.object_type(), id));
            } else {
                assert!(r.record_errors.is_empty(), "{name}: {:?}", r.record_errors);
            }
            if case.fault == Fault::DriftPurge && e.worker_drift {
                let shifted = &records_now[(p - 1) * PAGE - 1];
                skipped = Some(("User", id_of(shifted)));
            }
            let complete =
                case.mode == Mode::Full && !e.worker_drift && case.fault != Fault::BadRecord;
            assert_eq!(r.complete, complete, "{name}: complete ({:?})", r.warnings);
            assert_eq!(
                r.warnings.iter().any(|w| w.contains("total changed")),
                e.worker_drift,
                "{name}: drift warning {:?}",
                r.warnings
            );

            // Changes emitted: one per record read (none for the bad one).
            let drift = matches!(case.fault, Fault::DriftHire | Fault::DriftPurge);
            if drift {
                assert_eq!(r.counts.total(), m.records, "{name}: one change per record");
            } else {
                let skip = |records: &[Json], feed: Feed| -> Vec<Json> {
                    records
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !(feed == case.feed && bad_positions.contains(i)))
                        .map(|(_, r)| r.clone())
                        .collect()
                };
                let o = r.counts.of("OrgUnit");
                assert_eq!(
                    (o.upserts, o.deletes),
                    kinds(&skip(&read_orgs, Feed::Orgs), |r| map_org(r).unwrap()),
                    "{name}: OrgUnit changes"
                );
                let u = r.counts.of("User");
                assert_eq!(
                    (u.upserts, u.deletes),
                    kinds(&skip(&read_workers, Feed::Workers), |r| map_worker(
                        r,
                        ExternalIdAttribute::Id
                    )
                    .unwrap()),
                    "{name}: User changes"
                );
            }

            // The watermark: advanced per feed, except a drifted feed; none
            // with record errors.
            let stored = engine.store().watermark(INSTANCE).unwrap();
            if e.class == Class::RecordErrors {
                assert!(!r.watermark_advanced && r.new_watermark.is_none(), "{name}");
                assert_eq!(
                    stored.as_deref(),
                    Some(w0.as_str()),
                    "{name}: watermark kept"
                );
            } else {
                let (in_w, in_o) = match case.mode {
                    Mode::Full => (None, None),
                    Mode::Delta => (incoming.workers, incoming.organizations),
                };
                let expected = encode(&Watermark {
                    workers: if e.worker_drift {
                        in_w
                    } else {
                        in_w.max(newest(&post.workers))
                    },
                    organizations: in_o.max(newest(&post.orgs)),
                });
                assert!(r.watermark_advanced, "{name}");
                assert_eq!(
                    stored.as_deref(),
                    Some(expected.as_str()),
                    "{name}: watermark"
                );
                assert_eq!(
                    r.new_watermark.as_deref(),
                    Some(expected.as_str()),
                    "{name}"
                );
            }

            // The store: the truth, but for the skipped record (as before)
            // and objects gone at the source (purged only by a complete full run).
            let mut expected = if complete {
                after_complete_full(truth_now, &before)
            } else {
                let mut s = truth_now.clone();
                for (k, o) in &before {
                    if !truth_now.contains_key(k) {
                        s.insert(k.clone(), o.clone());
                    }
                }
                s
            };
            if case.fault == Fault::DriftPurge && p > 1 {
                // The worker purged mid-read sat before the page: it was read
                // (as served then) before it was purged.
                for (k, o) in &pre.truth {
                    if !truth_now.contains_key(k) {
                        expected.insert(k.clone(), o.clone());
                    }
                }
            }
            if let Some(k) = &skipped {
                match before.get(k) {
                    Some(o) => expected.insert(k.clone(), o.clone()),
                    None => expected.remove(k),
                };
            }
            assert_state(
                &after_fault,
                &expected,
                &format!("{name}: after the faulted run"),
            );
            let purged = if complete {
                purgeable(truth_now, &before)
            } else {
                BTreeMap::new()
            };
            assert_eq!(r.purged, purged, "{name}: purges");
        }
    }

    // 4. A clean full run converges to the truth: every served object with
    // the served attributes, every other one deleted, nothing twice.
    sim.clear_faults();
    let prior = after_fault;
    let r = import(&mut engine, &sim, ImportMode::Full, &quiet, 1, None).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{name}: clean run: {r:?}");
    assert!(r.complete && r.watermark_advanced, "{name}: clean run");
    assert_eq!(
        r.purged,
        purgeable(truth_now, &prior),
        "{name}: clean run purges"
    );
    let last = store_state(engine.store());
    assert_state(
        &last,
        &after_complete_full(truth_now, &prior),
        &format!("{name}: after the clean run"),
    );
    for (k, o) in &last {
        if !truth_now.contains_key(k) {
            assert!(
                o.deleted,
                "{name}: {k:?} is gone at the source but live in the store"
            );
        }
    }
    assert_eq!(
        engine.store().watermark(INSTANCE).unwrap(),
        Some(post.watermark()),
        "{name}: clean run watermark"
    );
    let statuses: Vec<RunStatus> = engine
        .store()
        .runs(None)
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect();
    let faulted_status = match e.class {
        Class::Succeeded => RunStatus::Succeeded,
        Class::RecordErrors => RunStatus::SucceededWithRecordErrors,
        Class::Failed(..) => RunStatus::Failed,
    };
    assert_eq!(
        statuses,
        [RunStatus::Succeeded, faulted_status, RunStatus::Succeeded],
        "{name}: run history, newest first"
    );
    drop(engine);
    drop(dir);
}

fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let p = e.into_panic();
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// Runs named cases at most `PARALLEL` at a time, each within
/// `CASE_TIMEOUT`; fails listing every failed case.
async fn run_named<F>(what: &str, cases: Vec<(String, F)>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let total = cases.len();
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let mut set = JoinSet::new();
    for (name, case) in cases {
        let permits = Arc::clone(&permits);
        set.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let result = tokio::time::timeout(CASE_TIMEOUT, tokio::spawn(case)).await;
            let failure = match result {
                Err(_) => Some(format!("did not finish within {CASE_TIMEOUT:?}")),
                Ok(Err(e)) => Some(panic_text(e)),
                Ok(Ok(())) => None,
            };
            (name, failure)
        });
    }
    let mut failed = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (name, failure) = joined.unwrap();
        if let Some(f) = failure {
            failed.push(format!("{name}: {f}"));
        }
    }
    failed.sort();
    assert!(
        failed.is_empty(),
        "{} of {total} {what} failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

/// Runs `cases` at most `PARALLEL` at a time; fails listing every failed case.
async fn run_matrix(cases: Vec<Case>) {
    let named = cases.into_iter().map(|c| (c.name(), run_case(c))).collect();
    run_named("cases", named).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_runs_with_faults_on_the_worker_pages() {
    run_matrix(cases(Mode::Full, Feed::Workers, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_runs_with_faults_on_the_org_pages() {
    run_matrix(cases(Mode::Full, Feed::Orgs, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_runs_with_faults_on_the_worker_pages() {
    run_matrix(cases(Mode::Delta, Feed::Workers, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_runs_with_faults_on_the_org_pages() {
    run_matrix(cases(Mode::Delta, Feed::Orgs, 1)).await;
}

/// The faults whose cost does not depend on the page they hit, with four
/// pages in flight: the same exact counts, delays and truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_with_four_pages_in_flight() {
    let mut all = Vec::new();
    for mode in [Mode::Full, Mode::Delta] {
        for feed in [Feed::Workers, Feed::Orgs] {
            all.extend(cases(mode, feed, 4));
        }
    }
    run_matrix(all).await;
}

// ----- Api Soap ----------------------------------------------------------------
//
// The same promises for `Api: "Soap"` (issue 12): a failed run changes
// nothing and keeps the watermark, a retried fault costs exactly one more
// request and one recorded back-off, nothing is lost, and a later clean full
// run converges. The SOAP read is a snapshot as of the server's clock (the
// `Date` header), so each case pins the simulator's clock and compares the
// faulted run with a reference: the same run, unfaulted, on a twin store
// with the same history (exact requests, counts, watermark, purges and
// store). Request numbering is deterministic with one page in flight; the
// faults are put on the first and the last page of a feed (the workers' last
// page on a delta is the last page of its Effective pass).

/// The setup run reads as of this time; the mutations and the faulted run
/// happen at [`MUTATED_AT`].
const SOAP_SETUP_AT: &str = "2026-01-15T11:00:00Z";

/// How the SOAP requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Auth {
    /// A WS-Security UsernameToken: the run starts with a `Get_Workers`
    /// probe (Count 1) for the server's time.
    UsernameToken,
    /// The OAuth bearer token: the run starts with a token request.
    Bearer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SoapCaseFault {
    /// One faulted request: one retry, then the reference outcome.
    Once(Transient),
    /// Four faulted requests: three retries, then the run fails.
    Exhausted(Transient),
    /// HTTP 500 `SOAP-ENV:Server.processingError`: retried like a 5xx, once.
    ProcessingOnce,
    /// The same fault four times: the run fails after 3 retries.
    ProcessingExhausted,
    /// HTTP 500 `SOAP-ENV:Client.validationError`: not retried, the run fails.
    Validation,
    /// The task is not authorized: a permission error naming the operation.
    NotAuthorized,
    /// 429 asking for 120 s, beyond the 30 s cap: the run stops at once.
    RetryAfterBeyondCap,
    /// A 200 whose XML is cut in half.
    Truncated,
    /// Bearer only: the token dies right before this page.
    TokenExpiry,
    /// Bearer only: and the new token is refused too.
    TokenRefused,
    /// Full runs of workers only: a worker before the page is purged.
    DriftPurge,
    /// Workers only: the page's first worker carries badly typed values.
    BadRecord,
}

impl SoapCaseFault {
    fn all() -> Vec<SoapCaseFault> {
        let mut v: Vec<SoapCaseFault> = [
            Transient::RetryAfterSeconds,
            Transient::RetryAfterDate,
            Transient::Status(500),
            Transient::Status(503),
            Transient::Close,
            Transient::CloseMidBody,
        ]
        .map(SoapCaseFault::Once)
        .to_vec();
        v.extend([Transient::Status(503), Transient::Close].map(SoapCaseFault::Exhausted));
        v.extend([
            SoapCaseFault::ProcessingOnce,
            SoapCaseFault::ProcessingExhausted,
            SoapCaseFault::Validation,
            SoapCaseFault::NotAuthorized,
            SoapCaseFault::RetryAfterBeyondCap,
            SoapCaseFault::Truncated,
            SoapCaseFault::TokenExpiry,
            SoapCaseFault::TokenRefused,
            SoapCaseFault::DriftPurge,
            SoapCaseFault::BadRecord,
        ]);
        v
    }

    fn applies(self, mode: Mode, feed: Feed, auth: Auth) -> bool {
        match self {
            SoapCaseFault::TokenExpiry | SoapCaseFault::TokenRefused => auth == Auth::Bearer,
            SoapCaseFault::DriftPurge => feed == Feed::Workers && mode == Mode::Full,
            // The simulator's bad record is a worker.
            SoapCaseFault::BadRecord => feed == Feed::Workers,
            _ => true,
        }
    }

    /// The faults also run with a bearer token (the transport and the fault
    /// rules are the same as with a UsernameToken, the requests are not).
    fn with_bearer(self) -> bool {
        matches!(
            self,
            SoapCaseFault::TokenExpiry
                | SoapCaseFault::TokenRefused
                | SoapCaseFault::Once(Transient::Status(503))
                | SoapCaseFault::Validation
        )
    }

    /// The requests of the faulted page (and the token's, for token faults)
    /// the simulator faults, and how many times the page is sent.
    fn attempts(self) -> usize {
        match self {
            SoapCaseFault::Exhausted(_) | SoapCaseFault::ProcessingExhausted => 4,
            SoapCaseFault::Once(_) | SoapCaseFault::ProcessingOnce | SoapCaseFault::TokenExpiry => {
                2
            }
            SoapCaseFault::TokenRefused => 2,
            _ => 1,
        }
    }

    /// How the run fails, and what its message says; `None` when it succeeds.
    fn failure(self) -> Option<(ErrorKind, bool, &'static str)> {
        Some(match self {
            SoapCaseFault::Exhausted(t) => (t.exhausted_kind(), true, "(gave up after 3 retries)"),
            SoapCaseFault::ProcessingExhausted => {
                (ErrorKind::Server, true, "(gave up after 3 retries)")
            }
            SoapCaseFault::Validation => {
                (ErrorKind::BadResponse, false, "Simulated validation fault.")
            }
            SoapCaseFault::NotAuthorized => (ErrorKind::Permission, false, "not authorized"),
            SoapCaseFault::RetryAfterBeyondCap => (
                ErrorKind::RateLimit,
                true,
                "asked to wait 120 s (Retry-After)",
            ),
            SoapCaseFault::Truncated => (
                ErrorKind::BadResponse,
                false,
                "it is not a readable SOAP answer",
            ),
            SoapCaseFault::TokenRefused => (
                ErrorKind::Authentication,
                false,
                "(401 Unauthorized, twice)",
            ),
            _ => return None,
        })
    }

    /// The back-off delays recorded.
    fn delays(self) -> Vec<Delay> {
        match self {
            SoapCaseFault::Once(t) => vec![t.delay(0)],
            SoapCaseFault::Exhausted(t) => (0..3).map(|i| t.delay(i)).collect(),
            SoapCaseFault::ProcessingOnce => vec![Delay::Exact(Duration::from_secs(1))],
            SoapCaseFault::ProcessingExhausted => (0..3)
                .map(|i| Delay::Exact(Duration::from_secs(1 << i)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SoapCase {
    mode: Mode,
    feed: Feed,
    /// First or Last.
    pos: Pos,
    auth: Auth,
    fault: SoapCaseFault,
}

impl SoapCase {
    fn name(&self) -> String {
        format!(
            "Soap/{:?}/{:?}/{:?}/{:?}/{:?}",
            self.auth, self.mode, self.feed, self.pos, self.fault
        )
    }
}

/// The SOAP cases of `mode`: each fault once per feed and auth, on the
/// workers' last page and the organizations' first (a purge before the
/// workers' first page too, which does not drift).
fn soap_cases(mode: Mode) -> Vec<SoapCase> {
    let mut out = Vec::new();
    for fault in SoapCaseFault::all() {
        for auth in [Auth::UsernameToken, Auth::Bearer] {
            let token_fault = matches!(
                fault,
                SoapCaseFault::TokenExpiry | SoapCaseFault::TokenRefused
            );
            if auth == Auth::Bearer && !fault.with_bearer()
                || auth == Auth::UsernameToken && token_fault
            {
                continue;
            }
            for feed in [Feed::Workers, Feed::Orgs] {
                if !fault.applies(mode, feed, auth) {
                    continue;
                }
                let positions: &[Pos] = match (feed, fault) {
                    (Feed::Workers, SoapCaseFault::DriftPurge) => &[Pos::First, Pos::Last],
                    (Feed::Workers, _) => &[Pos::Last],
                    (Feed::Orgs, _) => &[Pos::First],
                };
                for &pos in positions {
                    out.push(SoapCase {
                        mode,
                        feed,
                        pos,
                        auth,
                        fault,
                    });
                }
            }
        }
    }
    out
}

fn soap_config(sim: &Simulator, auth: Auth) -> String {
    let mut c = json!({
        "Api": "Soap",
        "PageSize": PAGE,
        "MaxConcurrentRequests": 1,
        "MaxRequestsPerHour": 1_000_000,
    });
    if auth == Auth::UsernameToken {
        c["IsuUsername"] = json!(sim.config().isu_username);
        c["IsuPasswordRef"] = json!("secret://workday/acme/isupassword");
    }
    let mut c: Json = serde_json::from_str(&support::config(sim, c)).unwrap();
    if auth == Auth::UsernameToken {
        c.as_object_mut().unwrap().remove("ClientId");
    }
    c.to_string()
}

/// One SOAP import with a fresh connector, back-off recorded by `sleeper`.
async fn soap_import(
    engine: &mut Engine,
    sim: &Simulator,
    auth: Auth,
    mode: ImportMode,
    sleeper: &RecordingSleeper,
) -> RunReport {
    let factory = support::recording_factory(sleeper);
    run_with(engine, sim, &factory, &soap_config(sim, auth), mode).await
}

/// Requests served since the last `clear_requests`: (token, orgs, workers).
fn soap_requests(sim: &Simulator) -> (usize, usize, usize) {
    (
        sim.request_count(Endpoint::Token),
        sim.request_count(Endpoint::Organizations),
        sim.request_count(Endpoint::Workers),
    )
}

/// The fault rules of a SOAP case whose faulted page is request `at` of its
/// feed's endpoint, `api_before` SOAP requests into the run.
fn soap_rules(case: &SoapCase, at: usize, api_before: usize) -> Vec<FaultRule> {
    let endpoint = case.feed.endpoint();
    let page = |kind: FaultKind, times: usize| FaultRule {
        endpoint,
        at_request: at,
        times,
        kind,
    };
    let uses_before = u32::try_from(api_before).unwrap();
    match case.fault {
        SoapCaseFault::Once(t) => vec![page(t.kind(), 1)],
        SoapCaseFault::Exhausted(t) => vec![page(t.kind(), 4)],
        SoapCaseFault::ProcessingOnce => vec![page(FaultKind::Soap(SoapFault::Processing), 1)],
        SoapCaseFault::ProcessingExhausted => {
            vec![page(FaultKind::Soap(SoapFault::Processing), 4)]
        }
        SoapCaseFault::Validation => vec![page(FaultKind::Soap(SoapFault::Validation), 1)],
        SoapCaseFault::NotAuthorized => vec![page(FaultKind::Soap(SoapFault::NotAuthorized), 1)],
        SoapCaseFault::RetryAfterBeyondCap => vec![page(
            FaultKind::TooManyRequests(RetryAfter::Seconds(RETRY_AFTER_BEYOND_CAP)),
            1,
        )],
        SoapCaseFault::Truncated => vec![page(FaultKind::TruncatedBody, 1)],
        SoapCaseFault::TokenExpiry => token_rules(uses_before, false),
        SoapCaseFault::TokenRefused => token_rules(uses_before, true),
        SoapCaseFault::DriftPurge => vec![page(FaultKind::TotalDrift(DriftKind::Purge), 1)],
        SoapCaseFault::BadRecord => vec![page(FaultKind::BadRecord, 1)],
    }
}

/// What an unfaulted history gives for one auth and mode; the same for every
/// case (the tenant, its WIDs and the pinned clocks are deterministic), so it
/// is worked out once: a twin store's setup run, the mutations, the run the
/// cases fault, and a clean full run.
#[derive(Debug)]
struct SoapReference {
    /// After the setup run.
    before: State,
    w0: String,
    /// Requests of the run: (token, orgs, workers).
    requests: (usize, usize, usize),
    report: RunReport,
    /// After the run.
    after: State,
    /// After the clean full run that follows it.
    converged: State,
    converged_watermark: Option<String>,
}

fn soap_mode(mode: Mode) -> ImportMode {
    match mode {
        Mode::Full => ImportMode::Full,
        Mode::Delta => ImportMode::Delta,
    }
}

/// A simulator and a store after the setup run (read as of
/// [`SOAP_SETUP_AT`]), the mutations entered at [`MUTATED_AT`].
async fn soap_setup(auth: Auth, name: &str) -> (Simulator, TempDir, Engine, State, String) {
    let sim = support::sim(WORKERS, ORGS).await;
    let dir = TempDir::new();
    let mut engine = Engine::new(Store::open(&dir.db()).unwrap());
    sim.set_clock(SOAP_SETUP_AT.parse().unwrap());
    let quiet = RecordingSleeper::new();
    let r = soap_import(&mut engine, &sim, auth, ImportMode::Full, &quiet).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{name}: setup run: {r:?}");
    assert!(r.complete, "{name}: setup run");
    let before = store_state(engine.store());
    let w0 = engine.store().watermark(INSTANCE).unwrap().unwrap();
    let setup_at: DateTime<Utc> = SOAP_SETUP_AT.parse().unwrap();
    assert_eq!(
        w0,
        encode(&Watermark {
            workers: Some(setup_at),
            organizations: Some(setup_at),
        }),
        "{name}: a SOAP watermark is the read time"
    );
    sim.set_clock(MUTATED_AT.parse().unwrap());
    mutate(&sim);
    (sim, dir, engine, before, w0)
}

async fn soap_reference(auth: Auth, mode: Mode) -> SoapReference {
    let name = format!("reference {auth:?} {mode:?}");
    let (sim, _dir, mut twin, before, w0) = soap_setup(auth, &name).await;
    sim.clear_requests();
    let quiet = RecordingSleeper::new();
    let report = soap_import(&mut twin, &sim, auth, soap_mode(mode), &quiet).await;
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{name}: {report:?}");
    assert!(report.warnings.is_empty(), "{name}: {:?}", report.warnings);
    let requests = soap_requests(&sim);
    assert_eq!(sim.request_count(Endpoint::Other), 0, "{name}");
    let after = store_state(twin.store());
    let r = soap_import(&mut twin, &sim, auth, ImportMode::Full, &quiet).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{name}: clean run: {r:?}");
    SoapReference {
        before,
        w0,
        requests,
        report,
        after,
        converged: store_state(twin.store()),
        converged_watermark: twin.store().watermark(INSTANCE).unwrap(),
    }
}

async fn run_soap_case(case: SoapCase, reference: Arc<SoapReference>) {
    let name = case.name();
    let (auth, mode) = (case.auth, soap_mode(case.mode));
    let at: DateTime<Utc> = MUTATED_AT.parse().unwrap();

    // 1. and 2. The previous state, as the reference's; the mutations.
    let (sim, dir, mut engine, before, w0) = soap_setup(auth, &name).await;
    assert_state(&before, &reference.before, &format!("{name}: setup"));
    assert_eq!(w0, reference.w0, "{name}");
    let pre_ids: BTreeSet<String> = sim.worker_ids().into_iter().collect();

    // 3. The faulted run. The faulted page is request `at_request` of the
    // feed's endpoint, as numbered in the reference run (the
    // UsernameToken's probe is the workers' first request).
    let ref_requests = reference.requests;
    let probe = usize::from(auth == Auth::UsernameToken);
    let (feed_first, feed_last) = match case.feed {
        Feed::Orgs => (1, ref_requests.1),
        Feed::Workers => (probe + 1, ref_requests.2),
    };
    assert!(
        feed_last >= feed_first + 2,
        "{name}: several pages ({ref_requests:?})"
    );
    let at_request = match case.pos {
        Pos::First => feed_first,
        _ => feed_last,
    };
    // SOAP requests before the faulted one: the orgs come first.
    let api_before = match case.feed {
        Feed::Orgs => at_request - 1,
        Feed::Workers => ref_requests.1 + at_request - 1,
    };
    sim.clear_requests();
    for rule in soap_rules(&case, at_request, api_before) {
        sim.add_fault(rule);
    }
    let sleeper = RecordingSleeper::new();
    let r = soap_import(&mut engine, &sim, auth, mode, &sleeper).await;
    let after_fault = store_state(engine.store());
    let requests = soap_requests(&sim);
    let used = match auth {
        Auth::UsernameToken => harness::sim::AuthUsed::UsernameToken,
        Auth::Bearer => harness::sim::AuthUsed::Bearer,
    };
    assert!(
        sim.requests()
            .iter()
            .filter(|q| q.endpoint != Endpoint::Token)
            .all(|q| q.auth == used),
        "{name}: every SOAP request used {auth:?}"
    );
    let delays = sleeper.delays();
    let want = case.fault.delays();
    assert!(
        delays.len() == want.len() && delays.iter().zip(&want).all(|(d, x)| x.matches(*d)),
        "{name}: back-off delays {delays:?}, expected {want:?}"
    );
    assert_eq!(
        r.metrics.requests as usize,
        requests.0 + requests.1 + requests.2,
        "{name}: the connector counts every request"
    );
    let retries = u64::try_from(want.len()).unwrap();
    let attempts = case.fault.attempts();
    let faulted = sim.requests().iter().filter(|q| q.fault.is_some()).count();
    let expected_faulted = match case.fault {
        SoapCaseFault::Once(_) | SoapCaseFault::ProcessingOnce | SoapCaseFault::TokenExpiry => 1,
        _ => attempts,
    };
    assert_eq!(faulted, expected_faulted, "{name}: faulted requests");
    let stored = engine.store().watermark(INSTANCE).unwrap();
    // The requests of a run that stops at the faulted page: earlier pages,
    // the page's attempts, nothing after it.
    let stopped_at = |attempts: usize| {
        let sent = at_request - 1 + attempts;
        let tokens = if case.fault == SoapCaseFault::TokenRefused {
            2
        } else {
            ref_requests.0
        };
        match case.feed {
            Feed::Orgs => (tokens, sent, probe),
            Feed::Workers => (tokens, ref_requests.1, sent),
        }
    };
    let assert_nothing_committed = |what: &str| {
        assert!(
            !r.watermark_advanced && r.new_watermark.is_none(),
            "{name}: {what}"
        );
        assert_eq!(
            stored.as_deref(),
            Some(w0.as_str()),
            "{name}: {what}: watermark kept"
        );
        assert_state(
            &after_fault,
            &before,
            &format!("{name}: {what} changes nothing"),
        );
        assert!(r.purged.is_empty(), "{name}: {what}");
    };

    match (case.fault.failure(), &r.outcome) {
        (
            Some((kind, retryable, says)),
            RunOutcome::Failed {
                kind: k,
                retryable: rt,
                message,
            },
        ) => {
            // A failed run: nothing committed, the later pages and feeds
            // never asked for, and it says why (never with a secret).
            assert_eq!((*k, *rt), (kind, retryable), "{name}: {message}");
            assert!(message.contains(says), "{name}: {message}");
            assert!(
                !message.contains(&sim.config().isu_password)
                    && !message.contains(&sim.config().client_secret),
                "{name}: {message}"
            );
            if case.fault == SoapCaseFault::NotAuthorized {
                let operation = match case.feed {
                    Feed::Orgs => "Get_Organizations",
                    Feed::Workers => "Get_Workers",
                };
                assert!(message.contains(operation), "{name}: {message}");
            }
            assert_eq!(
                requests,
                stopped_at(attempts),
                "{name}: requests (token, orgs, workers)"
            );
            assert_eq!(r.metrics.retries, retries, "{name}: retries");
            assert_nothing_committed("a failed run");
        }
        (Some(_), other) => panic!("{name}: outcome {other:?}"),
        (None, _) => {
            // One more request for a retried page (and a token for an expired one).
            let mut expected = ref_requests;
            match case.feed {
                Feed::Orgs => expected.1 += attempts - 1,
                Feed::Workers => expected.2 += attempts - 1,
            }
            if case.fault == SoapCaseFault::TokenExpiry {
                expected.0 += 1;
            }
            match case.fault {
                SoapCaseFault::DriftPurge => {
                    // The worker purged before the page was served: from the
                    // second page on Total_Results shrank between pages, so
                    // the workers' watermark is not advanced (a full run has
                    // none to keep) and the full run is not complete.
                    let gone: Vec<String> = pre_ids
                        .difference(&sim.worker_ids().into_iter().collect())
                        .cloned()
                        .collect();
                    assert_eq!(gone.len(), 1, "{name}: one worker purged");
                    let drift = case.pos != Pos::First;
                    assert_eq!(
                        requests, expected,
                        "{name}: requests (token, orgs, workers)"
                    );
                    assert_eq!(r.outcome, RunOutcome::Succeeded, "{name}");
                    assert_eq!(
                        r.warnings.iter().any(|w| w.contains("total changed")),
                        drift,
                        "{name}: drift warning {:?}",
                        r.warnings
                    );
                    assert_eq!(r.complete, !drift, "{name}: complete");
                    let expected_w = encode(&Watermark {
                        workers: (!drift).then_some(at),
                        organizations: Some(at),
                    });
                    assert_eq!(stored, Some(expected_w), "{name}: watermark");
                }
                SoapCaseFault::BadRecord => {
                    assert_eq!(
                        requests, expected,
                        "{name}: requests (token, orgs, workers)"
                    );
                    assert_eq!(r.outcome, RunOutcome::SucceededWithRecordErrors, "{name}");
                    assert_eq!(r.record_errors.len(), 1, "{name}: {:?}", r.record_errors);
                    let re = &r.record_errors[0];
                    assert_eq!(re.object_type, "User", "{name}");
                    // The simulator's bad worker: `Active` maybe, `Hire_Date` soon.
                    assert_eq!(re.field.as_deref(), Some("hireDate"), "{name}: {re:?}");
                    let key: Key = ("User", re.external_id.clone().unwrap());
                    // The reference's store, but for the bad record (as
                    // before) and the purges only a complete run makes.
                    let mut expected = reference.after.clone();
                    for (k, o) in &reference.after {
                        if o.deleted_by.as_deref() == Some("purge") {
                            expected.insert(k.clone(), before[k].clone());
                        }
                    }
                    // A full run skips the bad worker (it stays as it was);
                    // a delta read it already, good, in its Updated pass
                    // (the mutations took effect when entered, so the
                    // Effective pass re-reads the same workers).
                    if case.mode == Mode::Full {
                        match before.get(&key) {
                            Some(o) => expected.insert(key.clone(), o.clone()),
                            None => expected.remove(&key),
                        };
                    }
                    assert_state(&after_fault, &expected, &format!("{name}: after the run"));
                    assert!(!r.watermark_advanced && r.new_watermark.is_none(), "{name}");
                    assert_eq!(
                        stored.as_deref(),
                        Some(w0.as_str()),
                        "{name}: watermark kept"
                    );
                    assert!(!r.complete && r.purged.is_empty(), "{name}");
                }
                _ => {
                    // Exactly the reference run: the same requests but the
                    // retried one, changes, watermark, purges and store.
                    let want = &reference.report;
                    assert_eq!(
                        requests, expected,
                        "{name}: requests (token, orgs, workers)"
                    );
                    assert_eq!(r.metrics.retries, retries, "{name}: retries");
                    assert_eq!(r.outcome, RunOutcome::Succeeded, "{name}");
                    assert_eq!(r.counts, want.counts, "{name}: changes");
                    assert_eq!(
                        (r.metrics.pages, r.metrics.records),
                        (want.metrics.pages, want.metrics.records),
                        "{name}: pages, records"
                    );
                    assert_eq!(r.complete, want.complete, "{name}: complete");
                    assert_eq!(r.purged, want.purged, "{name}: purges");
                    assert!(r.warnings.is_empty(), "{name}: {:?}", r.warnings);
                    assert_eq!(
                        stored,
                        Some(encode(&Watermark {
                            workers: Some(at),
                            organizations: Some(at),
                        })),
                        "{name}: the watermark is the read time"
                    );
                    assert_state(
                        &after_fault,
                        &reference.after,
                        &format!("{name}: after the run"),
                    );
                }
            }
        }
    }

    // 4. A clean full run converges: the reference's store after its own
    // clean run, every live object one the source serves.
    sim.clear_faults();
    let quiet = RecordingSleeper::new();
    let clean = soap_import(&mut engine, &sim, auth, ImportMode::Full, &quiet).await;
    assert_eq!(
        clean.outcome,
        RunOutcome::Succeeded,
        "{name}: clean run: {clean:?}"
    );
    assert!(
        clean.complete && clean.watermark_advanced,
        "{name}: clean run"
    );
    // Live objects exactly; deleted ones by key (what a deleted object last
    // held, and whether a change or a purge deleted it, depends on which
    // runs saw it go: a delta reads a termination, a full run purges it).
    let last = store_state(engine.store());
    let settled = |state: &State| -> State {
        state
            .iter()
            .map(|(k, o)| {
                let o = if o.deleted {
                    Obj {
                        attributes: Json::Null,
                        deleted: true,
                        deleted_by: None,
                    }
                } else {
                    o.clone()
                };
                (k.clone(), o)
            })
            .collect()
    };
    let mut expected = settled(&reference.converged);
    for id in pre_ids.difference(&sim.worker_ids().into_iter().collect()) {
        // A worker purged mid-read (drift=purge) is deleted too.
        let key: Key = ("User", id.clone());
        if let Some(o) = expected.get_mut(&key) {
            *o = Obj {
                attributes: Json::Null,
                deleted: true,
                deleted_by: None,
            };
        }
    }
    assert_state(
        &settled(&last),
        &expected,
        &format!("{name}: after the clean run"),
    );
    assert_eq!(
        engine.store().watermark(INSTANCE).unwrap(),
        reference.converged_watermark,
        "{name}: clean run watermark"
    );
    // The simulator's truth: the REST records mapped, live unless
    // terminated (a SOAP full run reads the active workers; every other
    // object in the store is deleted).
    let live = |state: &State| -> BTreeSet<Key> {
        state
            .iter()
            .filter(|(_, o)| !o.deleted)
            .map(|(k, _)| k.clone())
            .collect()
    };
    assert_eq!(
        live(&last),
        live(&source(&sim).truth),
        "{name}: the store's live objects are the source's"
    );
    drop((engine, dir));
}

/// Runs the SOAP cases of `mode` at most `PARALLEL` at a time (each auth's
/// reference first); fails listing every failed case.
async fn run_soap_matrix(mode: Mode) {
    let cases = soap_cases(mode);
    let mut references = BTreeMap::new();
    for auth in [Auth::UsernameToken, Auth::Bearer] {
        let reference = tokio::time::timeout(CASE_TIMEOUT, soap_reference(auth, mode))
            .await
            .expect("the reference runs finish in time");
        references.insert(auth == Auth::Bearer, Arc::new(reference));
    }
    let named = cases
        .into_iter()
        .map(|case| {
            let reference = Arc::clone(&references[&(case.auth == Auth::Bearer)]);
            (case.name(), run_soap_case(case, reference))
        })
        .collect();
    run_named("SOAP cases", named).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_full_runs_with_faults() {
    run_soap_matrix(Mode::Full).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_delta_runs_with_faults() {
    run_soap_matrix(Mode::Delta).await;
}

#[test]
fn the_read_model_matches_the_pager() {
    // 47 records, 10 a page: 5 pages.
    assert_eq!(read_model(47, None), (5, 47, false));
    // A hire before the first page: a consistent total.
    assert_eq!(read_model(47, Some((1, 1))), (5, 48, false));
    // A hire at page 3: drift; the last page holds the extra record.
    assert_eq!(read_model(47, Some((3, 1))), (5, 48, true));
    // 40 records, a hire at the last page: drift and one more page.
    assert_eq!(read_model(40, Some((4, 1))), (5, 41, true));
    // A purge at page 3: drift; one record shifted out of sight.
    assert_eq!(read_model(47, Some((3, -1))), (5, 46, true));
    // 41 records, a purge on the first page: consistent, one page fewer.
    assert_eq!(read_model(41, Some((1, -1))), (4, 40, false));
}
