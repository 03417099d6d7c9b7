//! The SOAP wire of the simulated tenant: Workday's Human_Resources web
//! service, `POST /ccx/service/{tenant}/Human_Resources/{version}`, with
//! `Get_Workers` and `Get_Organizations` over the same tenant the REST
//! collections serve.
//!
//! Every request is checked the way Workday checks it, in this order:
//! tenant, envelope, credentials (a WS-Security UsernameToken with a
//! PasswordText password, or the REST side's bearer token), version (URL
//! and `bsvc:version`), the element tree of `wsdl-tree.json` (unknown or
//! out-of-order elements, missing required ones, badly typed values), then
//! the operation's own rules (`Page` >= 1, `Count` 1..=999). Each failure is
//! the SOAP fault Workday sends (see `envelope.rs`). Responses are built
//! in the tree's element order and validate against the same tree.
//!
//! See `docs/simulator.md`, section "SOAP".

mod cache;
mod dates;
mod envelope;
mod orgs;
mod record;
mod request;
mod schema;
mod view;
mod workers;
mod xml;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::fault::DriftKind;
use super::server::{bearer, check_bearer, Ctx, Parts, Reply};
use super::txlog::{Before, Subject};
use super::{lock, AuthUsed, Endpoint, FaultKind, Inner, SoapFault};
pub(crate) use cache::SoapCache;
use request::Refusal;
use schema::{schema, Violation, BSVC};
use xml::Node;

/// The oldest web-service version served (the element tree's own).
pub const SOAP_VERSION_FIRST: &str = "v31.2";
/// The newest web-service version served. Newer versions add elements and
/// rarely remove any, so the v31.2 tree stands for all of them here.
pub const SOAP_VERSION_LAST: &str = "v45.2";

const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// `(major, minor)` of `v44`, `v44.0`, `v31.2`.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix('v')?;
    let (maj, min) = rest.split_once('.').unwrap_or((rest, "0"));
    let ok = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !ok(maj, 3) || !ok(min, 2) {
        return None;
    }
    Some((maj.parse().ok()?, min.parse().ok()?))
}

/// Whether the simulator serves web-service version `v` (`v31.2` to
/// `v45.2`, minor versions 0 to 2).
pub fn soap_version_supported(v: &str) -> bool {
    match parse_version(v) {
        Some((maj, min)) => min <= 2 && (31, 2) <= (maj, min) && (maj, min) <= (45, 2),
        None => false,
    }
}

/// A SOAP reply (always `text/xml`).
fn xml_reply(status: StatusCode, body: Vec<u8>) -> Reply {
    Reply::json(status, body)
}

fn fault_500(body: Vec<u8>) -> Reply {
    xml_reply(StatusCode::INTERNAL_SERVER_ERROR, body)
}

fn violation(v: &Violation) -> Reply {
    fault_500(envelope::validation(&v.message, &v.xpath))
}

/// The body's request element.
fn body_request(env: &Node) -> Option<&Node> {
    env.children
        .iter()
        .find(|c| c.name == "Body" && c.ns.as_deref() == Some(envelope::SOAP_ENV))?
        .children
        .first()
}

/// `(username, password, password type)` from `wsse:Security/UsernameToken`.
fn username_token(env: &Node) -> Option<(String, String, Option<String>)> {
    let header = env
        .children
        .iter()
        .find(|c| c.name == "Header" && c.ns.as_deref() == Some(envelope::SOAP_ENV))?;
    let sec = header
        .children
        .iter()
        .find(|c| c.name == "Security" && c.ns.as_deref() == Some(WSSE))?;
    let tok = sec.child("UsernameToken")?;
    let user = tok.child_text("Username").unwrap_or_default().to_string();
    let pw = tok.child("Password")?;
    Some((
        user,
        pw.text.clone(),
        pw.attr(None, "Type").map(str::to_string),
    ))
}

/// `POST /ccx/service/{tenant}/Human_Resources/{version}`.
pub(crate) async fn handler(
    State(inner): State<Arc<Inner>>,
    Path((tenant, version)): Path<(String, String)>,
    p: Parts,
    body: Bytes,
) -> Response {
    let parsed = xml::parse(&body);
    let op = parsed
        .as_ref()
        .ok()
        .and_then(body_request)
        .map(|n| n.name.clone());
    let endpoint = match op.as_deref() {
        Some("Get_Workers_Request") => Endpoint::Workers,
        Some("Get_Organizations_Request") => Endpoint::Organizations,
        _ => Endpoint::Other,
    };
    let mut ctx = p.begin(&inner, endpoint);
    let headers = p.headers;
    let token = parsed.as_ref().ok().and_then(username_token);
    ctx.auth = if token.is_some() {
        AuthUsed::UsernameToken
    } else if bearer(&headers).is_some() {
        AuthUsed::Bearer
    } else {
        AuthUsed::None
    };
    let reply = match ctx.terminal() {
        Some((_, r)) => soapify(r),
        None => serve(&inner, &ctx, &tenant, &version, &headers, parsed, token),
    };
    // `finish` dates the answer by the simulator clock, which also stamps
    // the transaction log: a client that takes its read time
    // (As_Of_Entry_DateTime) from `Date` reads a snapshot consistent with it.
    let mut resp = ctx.finish(&inner, reply).await;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

/// A REST-shaped fault reply (429, 5xx) re-bodied as a SOAP fault; status
/// and headers (`Retry-After`) are kept.
fn soapify(r: Reply) -> Reply {
    let msg = r.status.canonical_reason().unwrap_or("Error");
    let body = if r.status == StatusCode::TOO_MANY_REQUESTS {
        envelope::plain("SOAP-ENV:Server", "Too many requests: rate limit exceeded")
    } else if r.status.is_server_error() {
        envelope::processing(&format!("Simulated fault: {msg}"))
    } else {
        envelope::plain("SOAP-ENV:Client", msg)
    };
    Reply { body, ..r }
}

fn serve(
    inner: &Inner,
    ctx: &Ctx,
    tenant: &str,
    version: &str,
    headers: &HeaderMap,
    parsed: Result<Node, String>,
    token: Option<(String, String, Option<String>)>,
) -> Reply {
    let cfg = &inner.config;
    if tenant != cfg.tenant {
        return xml_reply(
            StatusCode::NOT_FOUND,
            envelope::plain("SOAP-ENV:Client", &format!("tenant {tenant:?} not found")),
        );
    }
    let env = match parsed {
        Ok(env) => env,
        Err(e) => return fault_500(envelope::plain("SOAP-ENV:Client", &e)),
    };
    if env.name != "Envelope" || env.ns.as_deref() != Some(envelope::SOAP_ENV) {
        return fault_500(envelope::plain(
            "SOAP-ENV:VersionMismatch",
            "the root element must be a SOAP 1.1 Envelope (http://schemas.xmlsoap.org/soap/envelope/)",
        ));
    }
    // Credentials first, as Workday checks them before anything else.
    match token {
        Some((user, pw, ty)) => {
            let text = ty.as_deref().is_none_or(|t| t == PASSWORD_TEXT);
            if !(text && user.trim() == cfg.isu_username && pw == cfg.isu_password) {
                return fault_500(envelope::authentication());
            }
        }
        None if bearer(headers).is_some() => {
            if let Err(r) = check_bearer(inner, headers) {
                // Keep the 401 and its WWW-Authenticate header (clients
                // refresh their token on 401, as on REST).
                return Reply {
                    body: envelope::authentication(),
                    ..r
                };
            }
        }
        None => return fault_500(envelope::authentication()),
    }
    let Some(req) = body_request(&env) else {
        return fault_500(envelope::plain(
            "SOAP-ENV:Client",
            "the SOAP Body holds no request element",
        ));
    };
    let op_xpath = format!("/bsvc:{}[1]", req.name);
    if !matches!(
        req.name.as_str(),
        "Get_Workers_Request" | "Get_Organizations_Request"
    ) || req.ns.as_deref() != Some(BSVC)
    {
        return violation(&Violation {
            message: format!(
                "'{}' is not an operation this service supports here \
                 (Get_Workers_Request, Get_Organizations_Request in {BSVC})",
                req.name
            ),
            xpath: op_xpath,
        });
    }
    if !soap_version_supported(version) {
        return violation(&Violation {
            message: format!(
                "Invalid request service version '{version}' in the URL: this tenant \
                 serves {SOAP_VERSION_FIRST} to {SOAP_VERSION_LAST}"
            ),
            xpath: op_xpath,
        });
    }
    // `bsvc:version`, or an unqualified `version` some clients send.
    if let Some(v) = req
        .attr(Some(BSVC), "version")
        .or_else(|| req.attr(None, "version"))
    {
        if !soap_version_supported(v) {
            return violation(&Violation {
                message: format!(
                    "Invalid request service version '{v}' in bsvc:version: this tenant \
                     serves {SOAP_VERSION_FIRST} to {SOAP_VERSION_LAST}"
                ),
                xpath: format!("{op_xpath}/@bsvc:version"),
            });
        }
    }
    if let Err(v) = schema().validate_root(req) {
        return violation(&v);
    }
    let operation = req.name.trim_end_matches("_Request").to_string();
    for f in &ctx.faults {
        if let FaultKind::Soap(k) = f {
            return fault_500(match k {
                SoapFault::Processing => envelope::processing(
                    "An unexpected error occurred while processing the request (simulated). Please try again.",
                ),
                SoapFault::Validation => envelope::validation(
                    "Simulated validation fault.",
                    &op_xpath,
                ),
                SoapFault::NotAuthorized => envelope::not_authorized(&operation),
            });
        }
    }
    let now = inner.now();
    let (now_ms, today) = (now.timestamp_millis(), now.date_naive());
    let refused = |r: Refusal| match r {
        Refusal::Invalid(v) => violation(&v),
        Refusal::NotSimulated(what) => fault_500(envelope::processing(&format!(
            "The simulator does not implement {what}; leave it out of the request."
        ))),
    };
    let body = match req.name.as_str() {
        "Get_Workers_Request" => {
            let q = match request::workers(req, now_ms, today) {
                Ok(q) => q,
                Err(r) => return refused(r),
            };
            let f = q.filter;
            let before = if f.page <= 1 {
                f.count
            } else {
                (f.page - 1) * f.count
            };
            apply_drift(inner, ctx, now_ms, before);
            let bad = ctx.has(|f| matches!(f, FaultKind::BadRecord));
            let t = inner.read();
            let log = inner.txlog();
            let snapshot = format!("{:?}", (f.as_of_entry, t.shape_version(), log.len()));
            let key = format!(
                "{snapshot} {:?}",
                (
                    f.as_of_effective,
                    q.exclude_inactive,
                    q.exclude_employees,
                    q.exclude_contingent,
                    &q.windows,
                )
            );
            let (cached, orgs, capacity) = {
                let mut c = lock(&inner.soap_cache);
                (
                    c.selection(&key),
                    c.orgs(&snapshot, t.org_count()),
                    c.worker_page_capacity(f.count),
                )
            };
            let v = view::AsOf::new(&t, &log, &f, inner.config.workers, orgs);
            let selected = match cached {
                Some(s) => s,
                None => {
                    let s = Arc::new(workers::select(&v, &q));
                    lock(&inner.soap_cache).put_selection(key, Arc::clone(&s));
                    s
                }
            };
            let (body, on_page) = workers::response(&v, &q, &selected, version, bad, capacity);
            lock(&inner.soap_cache).record_worker_page(on_page, body.len());
            body
        }
        "Get_Organizations_Request" => {
            let q = match request::orgs(req, now_ms, today) {
                Ok(q) => q,
                Err(r) => return refused(r),
            };
            let t = inner.read();
            let log = inner.txlog();
            let f = q.filter;
            let snapshot = format!("{:?}", (f.as_of_entry, t.shape_version(), log.len()));
            let orgs = lock(&inner.soap_cache).orgs(&snapshot, t.org_count());
            let v = view::AsOf::new(&t, &log, &f, inner.config.workers, orgs);
            let selected = orgs::select(&v, &q);
            orgs::response(&v, &q, &selected, version)
        }
        // validate_root accepts only the two request roots.
        other => {
            return fault_500(envelope::plain(
                "SOAP-ENV:Client",
                &format!("{other} is not served"),
            ))
        }
    };
    xml_reply(StatusCode::OK, body)
}

/// How many workers a full `Get_Workers` read as of now returns
/// (`Exclude_Inactive_Workers`: no terminated workers, no hires that are
/// not effective yet), by the same selection the wire uses.
pub(crate) fn active_worker_count(inner: &Inner) -> usize {
    let now = inner.now();
    let f = request::Filter {
        as_of_effective: now.date_naive(),
        as_of_entry: now.timestamp_millis(),
        page: 1,
        count: 1,
    };
    let t = inner.read();
    let log = inner.txlog();
    let snapshot = format!("{:?}", (f.as_of_entry, t.shape_version(), log.len()));
    let orgs = lock(&inner.soap_cache).orgs(&snapshot, t.org_count());
    let v = view::AsOf::new(&t, &log, &f, inner.config.workers, orgs);
    t.live_workers()
        .filter(|&i| v.selects(i, true, false, false, &[]))
        .count()
}

/// The `drift` faults on `Get_Workers`: a hire (logged, so a read as of an
/// earlier entry time does not see it) or a purge just before serving.
fn apply_drift(inner: &Inner, ctx: &Ctx, now_ms: i64, before: usize) {
    for f in &ctx.faults {
        if let FaultKind::TotalDrift(kind) = f {
            let mut t = inner.write();
            match kind {
                DriftKind::Hire => {
                    let i = t.hire(None, None, now_ms);
                    inner.log(Subject::Worker(i), "Hire", now_ms, now_ms, Before::Absent);
                }
                DriftKind::Purge => {
                    // Before the requested page, so later records shift;
                    // on the first page, somewhere within it.
                    t.purge_before(before);
                }
            }
        }
    }
}

/// Validates a whole response envelope (or a fault) the simulator sent:
/// the body element must fit the element tree. For tests of the wire.
pub fn validate_response(xml_bytes: &[u8]) -> Result<(), String> {
    let env = xml::parse(xml_bytes)?;
    let body = body_request(&env).ok_or("no element in the SOAP Body")?;
    if body.name == "Fault" {
        return Ok(());
    }
    schema().validate_root(body).map_err(|v| v.to_string())
}
