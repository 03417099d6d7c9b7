//! A small stateful Workday tenant on wiremock, for the connector's own
//! tests: token endpoint (Basic auth, issued tokens, revocation), the two
//! collections with limit/offset/updatedFrom, and switches for the
//! behaviours under test. Single behaviours are added per test as
//! higher-priority wiremock mocks.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use connector_api::{StaticSecrets, VecSink};
use connector_workday::retry::{RecordingSleeper, RetryPolicy};
use connector_workday::{WorkdayConnector, WorkdayFactory};
use serde_json::{json, Value as Json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TENANT: &str = "acme";
pub const CLIENT_ID: &str = "client-1";
pub const SECRET: &str = "s3cret-value";
pub const SECRET_REF: &str = "secret://workday/acme/clientsecret";
pub const TOKEN_PATH: &str = "/ccx/oauth2/acme/token";
pub const WORKERS_PATH: &str = "/ccx/api/common/v1/acme/workers";
pub const ORGS_PATH: &str = "/ccx/api/common/v1/acme/supervisoryOrganizations";

/// The base time of generated records.
pub fn t0() -> DateTime<Utc> {
    "2026-04-01T08:00:00.000Z".parse().unwrap()
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn worker_id(i: usize) -> String {
    format!("{i:032x}")
}

pub fn org_id(i: usize) -> String {
    format!("org{i:05}")
}

/// A worker updated at `t0 + i` minutes.
pub fn worker(i: usize) -> Json {
    json!({
        "id": worker_id(i),
        "employeeNumber": format!("E{i:05}"),
        "firstName": format!("First{i}"),
        "lastName": "Last",
        "workEmail": format!("w{i}@acme.example"),
        "workerType": {"id": "wt1", "descriptor": "Employee"},
        "employmentStatus": "Active",
        "supervisor": {"id": worker_id(0), "descriptor": "Boss"},
        "primarySupervisoryOrganization": {"id": org_id(0), "descriptor": "Top"},
        "hireDate": "2020-01-15",
        "lastUpdatedDateTime": iso(t0() + ChronoDuration::minutes(i as i64)),
        "payRate": {"amount": 123456, "currency": "USD"},
        "href": format!("https://x/workers/{i}")
    })
}

/// An organization updated at `t0 + i` minutes.
pub fn org(i: usize) -> Json {
    let mut o = json!({
        "id": org_id(i),
        "name": format!("Org {i}"),
        "code": format!("O{i}"),
        "manager": {"id": worker_id(0), "descriptor": "Boss"},
        "lastUpdatedDateTime": iso(t0() + ChronoDuration::minutes(i as i64)),
    });
    if i > 0 {
        o["parentOrganization"] = json!({"id": org_id(0), "descriptor": "Top"});
    }
    o
}

#[derive(Debug)]
pub struct State {
    pub workers: Vec<Json>,
    pub orgs: Vec<Json>,
    pub issued: u64,
    pub valid: HashSet<String>,
    pub expires_in: u64,
    /// Whether the collections filter on `updatedFrom`.
    pub honour_updated_from: bool,
    /// Answer every collection request with this status (contract's break_source).
    pub broken: Option<u16>,
    /// Revoke every token once this many collection requests were answered.
    pub revoke_after: Option<usize>,
    pub collection_requests: usize,
    /// Change `total` by this much on every page after the first.
    pub total_drift: i64,
    /// The `Date` header of each feed's first page (offset 0); `None` leaves
    /// it to the server (the real clock).
    pub date_first: Option<String>,
    /// The `Date` header of every later page.
    pub date_later: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            workers: Vec::new(),
            orgs: Vec::new(),
            issued: 0,
            valid: HashSet::new(),
            expires_in: 1800,
            honour_updated_from: true,
            broken: None,
            revoke_after: None,
            collection_requests: 0,
            total_drift: 0,
            date_first: None,
            date_later: None,
        }
    }
}

#[derive(Clone)]
pub struct Tenant {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

struct TokenResponder(Arc<Mutex<State>>);

impl Respond for TokenResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        use base64_like::encode;
        let expected = format!("Basic {}", encode(&format!("{CLIENT_ID}:{SECRET}")));
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != expected {
            return ResponseTemplate::new(401).set_body_json(json!({
                "error": "invalid_client",
                "error_description": "Invalid client credentials"
            }));
        }
        let body = String::from_utf8_lossy(&req.body).to_string();
        if !body.contains("grant_type=client_credentials")
            && !body.contains("grant_type=refresh_token")
        {
            return ResponseTemplate::new(400)
                .set_body_json(json!({"error": "unsupported_grant_type"}));
        }
        let mut s = self.0.lock().unwrap();
        s.issued += 1;
        let token = format!("tok-{}", s.issued);
        s.valid.insert(token.clone());
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": s.expires_in
        }))
    }
}

struct CollectionResponder {
    state: Arc<Mutex<State>>,
    workers: bool,
}

impl Respond for CollectionResponder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.state.lock().unwrap();
        s.collection_requests += 1;
        if let Some(status) = s.broken {
            return ResponseTemplate::new(status)
                .set_body_json(json!({"error": "broken on purpose", "errors": [{"error": "the source is broken"}]}));
        }
        let bearer = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("")
            .to_string();
        if !s.valid.contains(&bearer) {
            return ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token"}));
        }
        if let Some(n) = s.revoke_after {
            if s.collection_requests >= n {
                s.valid.clear();
                s.revoke_after = None;
            }
        }
        let q: std::collections::HashMap<String, String> = req
            .url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(20);
        let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
        if limit > 100 {
            return ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid request",
                "errors": [{"error": "limit must be at most 100"}]
            }));
        }
        let from: Option<DateTime<Utc>> = if s.honour_updated_from {
            q.get("updatedFrom").map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .expect("updatedFrom is ISO 8601")
                    .with_timezone(&Utc)
            })
        } else {
            None
        };
        let all = if self.workers { &s.workers } else { &s.orgs };
        let selected: Vec<&Json> = all
            .iter()
            .filter(
                |r| match (from, r.get("lastUpdatedDateTime").and_then(Json::as_str)) {
                    (Some(from), Some(t)) => DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&Utc) >= from)
                        .unwrap_or(true),
                    _ => true,
                },
            )
            .collect();
        let mut total = selected.len() as i64;
        if offset > 0 {
            total += s.total_drift;
        }
        let data: Vec<&Json> = selected.into_iter().skip(offset).take(limit).collect();
        let template =
            ResponseTemplate::new(200).set_body_json(json!({"total": total.max(0), "data": data}));
        match if offset == 0 {
            &s.date_first
        } else {
            &s.date_later
        } {
            Some(date) => template.insert_header("Date", date.as_str()),
            None => template,
        }
    }
}

/// Minimal base64 for the Basic header check (no extra dependency).
pub mod base64_like {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub fn encode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = String::new();
        for chunk in b.chunks(3) {
            let n = (u32::from(chunk[0]) << 16)
                | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
                | u32::from(*chunk.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

impl Tenant {
    pub async fn start(workers: usize, orgs: usize) -> Self {
        // A bare server, not a pooled one: a pooled server can receive a
        // late request from an earlier test.
        let server = MockServer::builder().start().await;
        let state = Arc::new(Mutex::new(State {
            workers: (0..workers).map(worker).collect(),
            orgs: (0..orgs).map(org).collect(),
            ..State::default()
        }));
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(TokenResponder(state.clone()))
            .named("token")
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(WORKERS_PATH))
            .respond_with(CollectionResponder {
                state: state.clone(),
                workers: true,
            })
            .named("workers")
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(ORGS_PATH))
            .respond_with(CollectionResponder {
                state: state.clone(),
                workers: false,
            })
            .named("orgs")
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A config JSON for this tenant, with `extra` keys merged in.
    pub fn config(&self, extra: Json) -> String {
        let mut c = json!({
            "BaseUrl": self.uri(),
            "TenantName": TENANT,
            "ClientId": CLIENT_ID,
        });
        if let (Some(c), Json::Object(extra)) = (c.as_object_mut(), extra) {
            for (k, v) in extra {
                c.insert(k, v);
            }
        }
        c.to_string()
    }

    pub fn secrets() -> StaticSecrets {
        StaticSecrets::new().with(SECRET_REF, SECRET)
    }

    /// A connector that never sleeps, with exact (jitter-free) delays.
    pub async fn connector(&self, extra: Json) -> (WorkdayConnector, RecordingSleeper) {
        let sleeper = RecordingSleeper::new();
        let factory = WorkdayFactory::new()
            .with_sleeper(Arc::new(sleeper.clone()))
            .with_retry_policy(RetryPolicy::exact());
        (self.connector_from(factory, extra).await, sleeper)
    }

    /// A connector from `factory` (its sleeper and retry policy are the
    /// caller's), configured like [`Tenant::connector`]'s.
    pub async fn connector_from(&self, factory: WorkdayFactory, extra: Json) -> WorkdayConnector {
        factory
            .connect(&self.config(extra), SECRET_REF, &Self::secrets())
            .await
            .expect("valid config")
    }

    /// Requests received, by path: (token, workers, orgs).
    pub async fn counts(&self) -> (usize, usize, usize) {
        let reqs = self.server.received_requests().await.unwrap_or_default();
        let n = |p: &str| reqs.iter().filter(|r| r.url.path() == p).count();
        (n(TOKEN_PATH), n(WORKERS_PATH), n(ORGS_PATH))
    }

    pub async fn requests_to(&self, p: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == p)
            .collect()
    }

    /// Sends `first` as the `Date` of each feed's first page and `later` as
    /// that of every other page (HTTP dates, e.g. `Wed, 01 Apr 2026 09:00:00 GMT`).
    pub fn set_dates(&self, first: &str, later: &str) {
        let mut s = self.state.lock().unwrap();
        s.date_first = Some(first.to_string());
        s.date_later = Some(later.to_string());
    }

    /// Applies `f` to worker `i` and bumps its lastUpdatedDateTime to `at`.
    pub fn update_worker(&self, i: usize, at: DateTime<Utc>, f: impl FnOnce(&mut Json)) {
        let mut s = self.state.lock().unwrap();
        let w = &mut s.workers[i];
        f(w);
        w["lastUpdatedDateTime"] = json!(iso(at));
    }
}

/// Ids of the changes in a sink, in order.
pub fn ids(sink: &VecSink) -> Vec<String> {
    sink.changes.iter().map(|c| c.external_id.clone()).collect()
}
