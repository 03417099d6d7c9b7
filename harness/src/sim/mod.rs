//! An embedded Workday tenant simulator with fault injection.
//!
//! [`Simulator::start`] serves, on `127.0.0.1`, the slice of Workday's REST
//! API the connector uses: the OAuth2 token endpoint (client credentials and
//! refresh-token grants), and paged `workers` and `supervisoryOrganizations`
//! collections with `limit`, `offset` and `updatedFrom`. The tenant is
//! generated deterministically from a seed, streamed record by record (a
//! million workers are servable without a rendered copy in memory), mutable
//! through a small API (hire, terminate, rehire, move, re-parent, purge,
//! churn), and every request is recorded. Faults (429s, 5xx, dropped
//! connections, truncated bodies, slow replies, expiring tokens, drifting
//! totals, badly typed records) are scripted per endpoint and per request
//! number, from tests or from `harness simulate --fault SPEC`.
//!
//! The same tenant is also served over Workday's SOAP Human_Resources web
//! service (`POST /ccx/service/{tenant}/Human_Resources/{version}`,
//! `Get_Workers` and `Get_Organizations`, module `soap`), validated against
//! Workday's element tree, with WS-Security UsernameToken or bearer auth.
//! Mutations are written to a transaction log (`txlog`) with entry and
//! effective times, which answers SOAP's transaction-log windows and
//! `As_Of_Entry_DateTime`.
//!
//! See `docs/simulator.md` for the API shapes and the fault syntax.

mod cli;
mod data;
mod error;
mod fault;
mod ids;
mod server;
mod soap;
mod tables;
mod txlog;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cli::{run_simulate, SimulateArgs};
pub use data::ChurnSummary;
pub use error::SimError;
pub use fault::{parse_fault, DriftKind, Endpoint, FaultKind, FaultRule, RetryAfter, SoapFault};
pub use soap::{
    soap_version_supported, validate_response as validate_soap_response, SOAP_VERSION_FIRST,
    SOAP_VERSION_LAST,
};

use data::{PageQuery, RenderOpts, Tenant};
use txlog::{Before, Subject, TxEntry, TxLog};

/// The host in every record's `href` (a reserved `.example` name that never
/// resolves: hrefs are informational and must not depend on the port).
pub const HREF_HOST: &str = "https://wd2-impl-services1.workday.example";

/// Which fields the simulated records carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Every field the connector maps (status, names, update times, the
    /// hierarchy, ...), as a custom report or a richer source would send.
    #[default]
    Rich,
    /// Only what Workday's published `common/v1` collections carry: a
    /// worker's `id`, `descriptor`, `href`, `workerID`, `primaryWorkEmail`,
    /// `primaryWorkPhone`, `businessTitle`, `isManager`,
    /// `primarySupervisoryOrganization` and `location`; an org's `id`,
    /// `descriptor` and `href`. `updatedFrom` is ignored (every page is a
    /// full read).
    Published,
}

/// How the simulated tenant is shaped and which credentials it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Generated workers (default 10,000).
    pub workers: usize,
    /// Generated supervisory organizations (default 500; at most `workers`).
    pub orgs: usize,
    /// Generation seed (default 42): same seed, same bytes.
    pub seed: u64,
    /// The tenant in `/ccx/api/common/v1/{tenant}/...` (default `acme`).
    pub tenant: String,
    /// The realm in `/ccx/oauth2/{realm}/token` (default `acme`).
    pub realm: String,
    /// The accepted client id (a demo value, not a secret).
    pub client_id: String,
    /// The accepted client secret (a demo value, not a secret).
    pub client_secret: String,
    /// The accepted refresh token (a demo value, not a secret).
    pub refresh_token: String,
    /// Access-token lifetime, measured on the simulator clock (default 1800 s).
    pub token_lifetime: Duration,
    /// Latency added to every reply (default none).
    pub latency: Option<Duration>,
    /// Flat spellings: `manager`, `primaryWorkerSupervisoryOrganization`,
    /// `parentOrganizationId` instead of reference objects.
    pub flat_spellings: bool,
    /// Which fields the records carry (default [`Shape::Rich`]).
    pub shape: Shape,
    /// Port on 127.0.0.1 (0 = ephemeral; after start, the bound port).
    pub port: u16,
    /// The Integration System User the SOAP endpoint accepts in a WS-Security
    /// UsernameToken, as Workday spells it: `user@tenant` (default
    /// `isu_idmesh@acme`).
    pub isu_username: String,
    /// That user's password (a demo value, not a secret).
    pub isu_password: String,
    /// Keep every request for [`Simulator::requests`] (default `true`).
    /// With `false` only the per-endpoint counts
    /// ([`Simulator::request_count`]) are kept, as `harness bench` does: a
    /// million-worker benchmark then measures the import, not a log of its
    /// 10,501 requests (about 1.5 MiB).
    pub log_requests: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            workers: 10_000,
            orgs: 500,
            seed: 42,
            tenant: "acme".to_string(),
            realm: "acme".to_string(),
            client_id: "idmesh-demo-client".to_string(),
            client_secret: "demo-secret-not-real".to_string(),
            refresh_token: "demo-refresh-token-not-real".to_string(),
            token_lifetime: Duration::from_secs(1800),
            latency: None,
            flat_spellings: false,
            shape: Shape::Rich,
            port: 0,
            isu_username: "isu_idmesh@acme".to_string(),
            isu_password: "demo-isu-password-not-real".to_string(),
            log_requests: true,
        }
    }
}

/// Which credentials a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthUsed {
    /// No credentials.
    None,
    /// Client id and secret in HTTP Basic auth.
    Basic,
    /// Client id and secret as form fields.
    Form,
    /// The refresh-token grant.
    Refresh,
    /// An `Authorization: Bearer` access token.
    Bearer,
    /// A WS-Security UsernameToken in the SOAP header.
    UsernameToken,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Status sent; 0 when the connection was closed before a reply.
    pub status: u16,
    /// Credentials presented.
    pub auth: AuthUsed,
    /// Which endpoint the path addressed.
    pub endpoint: Endpoint,
    /// The fault applied, if any (the replacing one if several matched).
    pub fault: Option<FaultKind>,
}

/// The request log, kept compact (a 1,000,000-worker run makes 10,501
/// requests): methods and paths are interned (a handful of distinct ones),
/// the query is one boxed string, a fault (rare) is boxed. 64 bytes an
/// entry plus its query, against about 250 as `RecordedRequest`s.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    names: HashSet<Arc<str>>,
    entries: Vec<Logged>,
    /// Requests by [`Endpoint::slot`], logged or not.
    counts: [usize; 4],
    /// Whether `entries` are kept ([`SimConfig::log_requests`]).
    counting_only: bool,
}

#[derive(Debug)]
struct Logged {
    method: Arc<str>,
    path: Arc<str>,
    query: Option<Box<str>>,
    fault: Option<Box<FaultKind>>,
    status: u16,
    auth: AuthUsed,
    endpoint: Endpoint,
}

impl RequestLog {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&n));
        n
    }

    /// Records one request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        method: &str,
        path: &str,
        query: Option<&str>,
        status: u16,
        auth: AuthUsed,
        endpoint: Endpoint,
        fault: Option<FaultKind>,
    ) {
        if let Some(count) = self.counts.get_mut(endpoint.slot()) {
            *count += 1;
        }
        if self.counting_only {
            return;
        }
        let (method, path) = (self.intern(method), self.intern(path));
        self.entries.push(Logged {
            method,
            path,
            query: query.map(Box::from),
            fault: fault.map(Box::new),
            status,
            auth,
            endpoint,
        });
    }

    fn to_vec(&self) -> Vec<RecordedRequest> {
        self.entries
            .iter()
            .map(|e| RecordedRequest {
                method: e.method.to_string(),
                path: e.path.to_string(),
                query: e.query.as_deref().map(str::to_string),
                status: e.status,
                auth: e.auth,
                endpoint: e.endpoint,
                fault: e.fault.as_deref().copied(),
            })
            .collect()
    }

    fn count(&self, endpoint: Endpoint) -> usize {
        self.counts.get(endpoint.slot()).copied().unwrap_or(0)
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.counts = [0; 4];
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TokenState {
    expires_at: DateTime<Utc>,
    uses_left: Option<u32>,
}

/// Shared state behind every handle and the server.
#[derive(Debug)]
pub(crate) struct Inner {
    config: SimConfig,
    base_url: String,
    tenant: RwLock<Tenant>,
    clock: Mutex<Option<DateTime<Utc>>>,
    latency: Mutex<Option<Duration>>,
    faults: Mutex<Vec<FaultRule>>,
    counters: Mutex<[usize; 4]>,
    requests: Mutex<RequestLog>,
    tokens: Mutex<HashMap<String, TokenState>>,
    token_seq: AtomicU64,
    /// Every mutation with its entry and effective time (SOAP reads use it).
    txlog: RwLock<TxLog>,
    /// What consecutive SOAP pages of one snapshot share.
    soap_cache: Mutex<soap::SoapCache>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn read(&self) -> RwLockReadGuard<'_, Tenant> {
        self.tenant.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tenant> {
        self.tenant.write().unwrap_or_else(|e| e.into_inner())
    }

    fn txlog(&self) -> RwLockReadGuard<'_, TxLog> {
        self.txlog.read().unwrap_or_else(|e| e.into_inner())
    }

    fn txlog_mut(&self) -> RwLockWriteGuard<'_, TxLog> {
        self.txlog.write().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> DateTime<Utc> {
        lock(&self.clock).unwrap_or_else(Utc::now)
    }

    fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Records a mutation entered `now` that takes effect at `effective`.
    fn log(&self, subject: Subject, kind: &'static str, now: i64, effective: i64, before: Before) {
        self.txlog_mut().push(TxEntry {
            subject,
            kind,
            entered: now,
            effective,
            before,
        });
    }
}

#[derive(Debug)]
struct Guard {
    cancel: CancellationToken,
    task: AsyncMutex<Option<JoinHandle<()>>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A running simulated tenant on 127.0.0.1. Cheap to clone; the server
/// stops on [`Simulator::shutdown`] or when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
    guard: Arc<Guard>,
}

impl Simulator {
    /// Generates the tenant and starts serving it on 127.0.0.1.
    pub async fn start(mut config: SimConfig) -> Result<Simulator, SimError> {
        for (what, v) in [("tenant", &config.tenant), ("realm", &config.realm)] {
            if v.is_empty() || v.contains(['/', '?', '#', ' ']) {
                return Err(SimError::Config(format!(
                    "{what} {v:?} is not a path segment"
                )));
            }
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| SimError::Bind {
                port: config.port,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| SimError::Bind {
                port: config.port,
                source,
            })?
            .port();
        config.port = port;
        let base_url = format!("http://127.0.0.1:{port}");
        let opts = RenderOpts {
            seed: config.seed,
            flat: config.flat_spellings,
            shape: config.shape,
            tenant: config.tenant.clone(),
            api_base: format!("{HREF_HOST}/ccx/api/common/v1/{}", config.tenant),
        };
        let (workers, orgs) = (config.workers, config.orgs);
        let tenant = tokio::task::spawn_blocking(move || Tenant::generate(workers, orgs, opts))
            .await
            .map_err(|e| SimError::Config(format!("generation panicked: {e}")))??;
        let counting_only = !config.log_requests;
        let inner = Arc::new(Inner {
            latency: Mutex::new(config.latency),
            config,
            base_url,
            tenant: RwLock::new(tenant),
            clock: Mutex::new(None),
            faults: Mutex::new(Vec::new()),
            counters: Mutex::new([0; 4]),
            requests: Mutex::new(RequestLog {
                counting_only,
                ..RequestLog::default()
            }),
            tokens: Mutex::new(HashMap::new()),
            token_seq: AtomicU64::new(0),
            txlog: RwLock::new(TxLog::default()),
            soap_cache: Mutex::new(soap::SoapCache::default()),
        });
        let cancel = CancellationToken::new();
        let task = server::spawn(listener, Arc::clone(&inner), cancel.clone());
        Ok(Simulator {
            inner,
            guard: Arc::new(Guard {
                cancel,
                task: AsyncMutex::new(Some(task)),
            }),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// `{base_url}/ccx/oauth2/{realm}/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/ccx/oauth2/{}/token",
            self.inner.base_url, self.inner.config.realm
        )
    }

    /// `{base_url}/ccx/service/{tenant}/Human_Resources/{version}`: the SOAP
    /// endpoint (`Get_Workers`, `Get_Organizations`) for `version`, e.g.
    /// `v44.0` (served: [`SOAP_VERSION_FIRST`] to [`SOAP_VERSION_LAST`]).
    pub fn soap_url(&self, version: &str) -> String {
        format!(
            "{}/ccx/service/{}/Human_Resources/{version}",
            self.inner.base_url, self.inner.config.tenant
        )
    }

    /// `{base_url}/ccx/api/common/v1/{tenant}` (append `/workers` or
    /// `/supervisoryOrganizations`).
    pub fn api_base_url(&self) -> String {
        format!(
            "{}/ccx/api/common/v1/{}",
            self.inner.base_url, self.inner.config.tenant
        )
    }

    /// The configuration, with `port` set to the bound port.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// Every request since start or the last [`Simulator::clear_requests`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).to_vec()
    }

    /// Recorded requests to `endpoint`.
    pub fn request_count(&self, endpoint: Endpoint) -> usize {
        lock(&self.inner.requests).count(endpoint)
    }

    /// Forgets recorded requests and restarts the per-endpoint fault counters.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
        *lock(&self.inner.counters) = [0; 4];
    }

    /// Adds a fault rule (request numbers count from the last clear).
    pub fn add_fault(&self, fault: FaultRule) {
        lock(&self.inner.faults).push(fault);
    }

    /// Removes every fault rule and restarts the per-endpoint fault counters.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
        *lock(&self.inner.counters) = [0; 4];
    }

    /// Sets (or removes) the latency added to every reply.
    pub fn set_latency(&self, latency: Option<Duration>) {
        *lock(&self.inner.latency) = latency;
    }

    /// Parses a CLI fault spec (see [`parse_fault`]).
    pub fn parse_fault(spec: &str) -> Result<FaultRule, SimError> {
        parse_fault(spec)
    }

    /// Fixes the simulator clock (used for mutation stamps and token expiry).
    pub fn set_clock(&self, now: DateTime<Utc>) {
        *lock(&self.inner.clock) = Some(now);
    }

    /// Moves the clock forward (fixing it first if it followed the system clock).
    pub fn advance_clock(&self, by: Duration) {
        let mut c = lock(&self.inner.clock);
        let now = c.unwrap_or_else(Utc::now);
        let by = chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        *c = Some(now.checked_add_signed(by).unwrap_or(now));
    }

    /// Lets the clock follow the system clock again.
    pub fn release_clock(&self) {
        *lock(&self.inner.clock) = None;
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    /// Issues an access token directly (as a successful token request would,
    /// but without a request being recorded).
    pub fn issue_token(&self) -> String {
        server::issue_token(&self.inner, None)
    }

    fn worker_idx(&self, t: &Tenant, id: &str) -> Result<u32, SimError> {
        t.worker_index(id)
            .ok_or_else(|| SimError::UnknownWorker(id.to_string()))
    }

    fn org_idx(&self, t: &Tenant, id: &str) -> Result<usize, SimError> {
        t.org_index(id)
            .ok_or_else(|| SimError::UnknownOrg(id.to_string()))
    }

    /// Sets one field of a worker (`null` removes it from the record);
    /// `employmentStatus` with a known status changes the status itself.
    pub fn update_worker(&self, id: &str, field: &str, value: Value) -> Result<(), SimError> {
        self.update(field, value, |t| {
            Ok(Subject::Worker(self.worker_idx(t, id)?))
        })
    }

    /// Sets one field of an org (`null` removes it from the record).
    pub fn update_org(&self, id: &str, field: &str, value: Value) -> Result<(), SimError> {
        self.update(field, value, |t| Ok(Subject::Org(self.org_idx(t, id)?)))
    }

    /// Sets one field of the worker or org `find` names (under the same
    /// lock), stamps it, and logs the change (entered and effective now)
    /// with the record as it was.
    fn update(
        &self,
        field: &str,
        value: Value,
        find: impl FnOnce(&Tenant) -> Result<Subject, SimError>,
    ) -> Result<(), SimError> {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let subject = find(&t)?;
        let before = Before::Image(t.value_of(subject));
        t.update(subject, field, value, now)?;
        self.inner.log(subject, "Update", now, now, before);
        Ok(())
    }

    /// Hires an Active worker into a random org; returns the new WID.
    pub fn hire(&self) -> String {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let idx = t.hire(None, None, now);
        self.inner
            .log(Subject::Worker(idx), "Hire", now, now, Before::Absent);
        t.worker_wid(idx)
    }

    /// Hires an Active worker into a random org, entered now but effective
    /// `days` days from today (UTC midnight): `hireDate` is that day, and
    /// SOAP reads with an earlier `As_Of_Effective_Date` see the worker as
    /// not yet active. Returns the new WID.
    pub fn hire_effective_in(&self, days: u32) -> String {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let idx = t.hire(None, None, now);
        let day = self.inner.now().date_naive() + chrono::TimeDelta::days(i64::from(days));
        let effective = day
            .and_hms_opt(0, 0, 0)
            .map_or(now, |d| d.and_utc().timestamp_millis());
        // Cannot fail: the field is neither id, href nor descriptor.
        let _ = t.update(
            Subject::Worker(idx),
            "hireDate",
            Value::String(day.format("%Y-%m-%d").to_string()),
            now,
        );
        self.inner
            .log(Subject::Worker(idx), "Hire", now, effective, Before::Absent);
        t.worker_wid(idx)
    }

    /// Hires an Active worker into the given org; returns the new WID.
    pub fn hire_into(&self, org_id: &str) -> Result<String, SimError> {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let org = self.org_idx(&t, org_id)?;
        let idx = t.hire(Some(org as u32), None, now);
        self.inner
            .log(Subject::Worker(idx), "Hire", now, now, Before::Absent);
        Ok(t.worker_wid(idx))
    }

    /// Sets `employmentStatus` to Terminated with `terminationDate` = today.
    pub fn terminate(&self, id: &str) -> Result<(), SimError> {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let idx = self.worker_idx(&t, id)?;
        let before = Before::Image(t.worker_value(idx));
        t.terminate(idx, now)?;
        self.inner
            .log(Subject::Worker(idx), "Terminate", now, now, before);
        Ok(())
    }

    /// Rehires a terminated worker as Workday does: a new WID with the same
    /// `employeeNumber`, Active; the terminated record stays. Returns the new WID.
    pub fn rehire(&self, terminated_id: &str) -> Result<String, SimError> {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let idx = self.worker_idx(&t, terminated_id)?;
        let new = t.rehire(idx, now)?;
        self.inner
            .log(Subject::Worker(new), "Rehire", now, now, Before::Absent);
        Ok(t.worker_wid(new))
    }

    /// Moves a worker (not an org manager) to another org; the supervisor
    /// follows.
    pub fn move_worker(&self, id: &str, org_id: &str) -> Result<(), SimError> {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let idx = self.worker_idx(&t, id)?;
        let org = self.org_idx(&t, org_id)?;
        let before = Before::Image(t.worker_value(idx));
        t.move_worker(idx, org as u32, now)?;
        self.inner
            .log(Subject::Worker(idx), "Move", now, now, before);
        Ok(())
    }

    /// Re-parents an org (cycles are refused). Also stamps the org's manager,
    /// whose supervisor changes.
    pub fn reparent_org(&self, org_id: &str, new_parent_id: &str) -> Result<(), SimError> {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let org = self.org_idx(&t, org_id)?;
        let parent = self.org_idx(&t, new_parent_id)?;
        let before = Before::Image(t.org_value(org));
        let manager = t.org_value(org)["manager"]["id"]
            .as_str()
            .and_then(|m| t.worker_index(m));
        let manager_before = manager.map(|m| (m, t.worker_value(m)));
        t.reparent_org(org, parent, now)?;
        self.inner
            .log(Subject::Org(org), "Reparent", now, now, before);
        if let Some((m, img)) = manager_before {
            self.inner
                .log(Subject::Worker(m), "Reparent", now, now, Before::Image(img));
        }
        Ok(())
    }

    /// Removes a worker (not an org manager) entirely: no trace in the API.
    pub fn purge_worker(&self, id: &str) -> Result<(), SimError> {
        let mut t = self.inner.write();
        let idx = self.worker_idx(&t, id)?;
        t.purge(idx)
    }

    /// Applies `k` random mutations of all kinds, deterministically from `seed`.
    pub fn churn(&self, k: usize, seed: u64) -> ChurnSummary {
        let now = self.inner.now_ms();
        let mut t = self.inner.write();
        let s = t.churn(k, seed, now);
        // Churn picks its workers itself, so only hires have a known before
        // image (absent); the rest are logged without one.
        let hired = s.hired.iter().chain(s.rehired.iter().map(|(_, new)| new));
        for wid in hired {
            if let Some(i) = t.worker_index(wid) {
                self.inner
                    .log(Subject::Worker(i), "Hire", now, now, Before::Absent);
            }
        }
        for wid in s.updated.iter().chain(&s.terminated).chain(&s.moved) {
            if let Some(i) = t.worker_index(wid) {
                self.inner
                    .log(Subject::Worker(i), "Churn", now, now, Before::Unknown);
            }
        }
        for wid in &s.reparented {
            if let Some(o) = t.org_index(wid) {
                self.inner
                    .log(Subject::Org(o), "Churn", now, now, Before::Unknown);
            }
        }
        s
    }

    /// How many live workers there are (what a full REST read returns).
    pub fn live_workers(&self) -> usize {
        self.inner.read().live_workers().count()
    }

    /// How many workers a full SOAP read as of now returns: the live
    /// workers that are neither terminated nor hired with a later effective
    /// date (`Get_Workers` with `Exclude_Inactive_Workers`).
    pub fn soap_active_workers(&self) -> usize {
        soap::active_worker_count(&self.inner)
    }

    /// Live worker ids in API order.
    pub fn worker_ids(&self) -> Vec<String> {
        let t = self.inner.read();
        t.live_workers().map(|i| t.worker_wid(i)).collect()
    }

    /// Org ids in API order.
    pub fn org_ids(&self) -> Vec<String> {
        let t = self.inner.read();
        (0..t.org_count()).map(|i| t.org_wid(i)).collect()
    }

    /// A worker exactly as the API serves it.
    pub fn worker(&self, id: &str) -> Option<Value> {
        let t = self.inner.read();
        t.worker_index(id).map(|i| t.worker_value(i))
    }

    /// An org exactly as the API serves it.
    pub fn org(&self, id: &str) -> Option<Value> {
        let t = self.inner.read();
        t.org_index(id).map(|i| t.org_value(i))
    }

    /// Every live worker as the API serves it, in API order.
    pub fn for_each_worker(&self, mut f: impl FnMut(&Value)) {
        let t = self.inner.read();
        for i in t.live_workers() {
            f(&t.worker_value(i));
        }
    }

    /// Every org as the API serves it, in API order.
    pub fn for_each_org(&self, mut f: impl FnMut(&Value)) {
        let t = self.inner.read();
        for i in 0..t.org_count() {
            f(&t.org_value(i));
        }
    }

    /// The body the API would send for a page (no auth, faults or recording):
    /// what the benchmark and determinism checks use. `limit` must be 1..=100.
    pub fn page_body(
        &self,
        endpoint: Endpoint,
        limit: usize,
        offset: usize,
        updated_from: Option<DateTime<Utc>>,
    ) -> Result<Vec<u8>, SimError> {
        if !(1..=100).contains(&limit) {
            return Err(SimError::BadRequest(format!(
                "limit {limit} is outside 1..=100"
            )));
        }
        let q = PageQuery {
            limit,
            offset,
            updated_from: updated_from.map(|d| d.timestamp_millis()),
        };
        let mut out = Vec::with_capacity(limit * 1500);
        let t = self.inner.read();
        match endpoint {
            Endpoint::Workers => t.write_worker_page(q, false, &mut out),
            Endpoint::Organizations => t.write_org_page(q, false, &mut out),
            Endpoint::Token | Endpoint::Other => {
                return Err(SimError::BadRequest("not a paged endpoint".into()))
            }
        }
        Ok(out)
    }

    /// Stops the server (waits up to 2 s for in-flight replies).
    pub async fn shutdown(self) {
        self.guard.cancel.cancel();
        let task = self.guard.task.lock().await.take();
        if let Some(mut task) = task {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}
