//! Scriptable faults and their command-line syntax (see `docs/simulator.md`).

use std::time::{Duration, SystemTime};

use super::SimError;

/// The endpoints the simulator serves (and counts requests for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /ccx/oauth2/{realm}/token`.
    Token,
    /// `GET /ccx/api/common/v1/{tenant}/workers[/{id}]`.
    Workers,
    /// `GET /ccx/api/common/v1/{tenant}/supervisoryOrganizations[/{id}]`.
    Organizations,
    /// Any other path (answered 404, never faulted).
    Other,
}

impl Endpoint {
    pub(crate) fn slot(self) -> usize {
        match self {
            Endpoint::Token => 0,
            Endpoint::Workers => 1,
            Endpoint::Organizations => 2,
            Endpoint::Other => 3,
        }
    }
}

/// How a 429 reply carries `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP-date>` with this absolute time.
    HttpDate(SystemTime),
    /// `Retry-After: <HTTP-date>` this long after the reply is made
    /// (what the CLI's `429=date[+S]` produces, so the date is never stale).
    HttpDateIn(Duration),
    /// No `Retry-After` header at all.
    Absent,
}

/// Whether a drift fault hires or purges a worker before serving the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// Hire a worker (appended at the end: `total` grows by one).
    Hire,
    /// Purge a live, non-manager worker from before the requested offset
    /// (or anywhere on the first page): `total` shrinks by one and every
    /// later record shifts back one position.
    Purge,
}

/// What happens to a faulted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 Too Many Requests with the given `Retry-After`.
    TooManyRequests(RetryAfter),
    /// Reply with this status and a Workday error body (e.g. 500, 502, 503, 504).
    Status(u16),
    /// Close the connection before any byte of the reply is written.
    CloseConnection,
    /// Send the headers and half of the body, then drop the connection
    /// (the body is shorter than its `Content-Length`).
    CloseMidBody,
    /// A 200 whose JSON body is cut in half (consistent `Content-Length`,
    /// invalid JSON).
    TruncatedBody,
    /// Delay the (otherwise normal) reply by this long, e.g. beyond the
    /// client's timeout.
    Slow(Duration),
    /// Token endpoint only: the access token issued expires after this many
    /// API uses (the next use gets 401 `invalid_token`).
    TokenExpiresAfterUses(u32),
    /// Paged endpoints: hire or purge just before serving the page, so
    /// `total` changes between pages.
    TotalDrift(DriftKind),
    /// Paged endpoints: the first record of the page carries wrongly typed
    /// fields: `"lastUpdatedDateTime": 12345` and, on workers,
    /// `"employmentStatus": {"x": 1}`. On the SOAP endpoint the first
    /// worker carries `Active` = `maybe` and `Hire_Date` = `soon`.
    BadRecord,
    /// SOAP endpoint only (REST requests ignore it): answer with this SOAP
    /// fault instead of the response.
    Soap(SoapFault),
}

/// The SOAP faults the simulator can inject (all HTTP 500, as Workday sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapFault {
    /// `SOAP-ENV:Server.processingFault` with a `Processing_Fault` detail
    /// (a transient server-side failure: retryable).
    Processing,
    /// `SOAP-ENV:Client.validationError` with a `Validation_Fault` detail.
    Validation,
    /// `SOAP-ENV:Client.validationError` "The task submitted is not
    /// authorized." naming the operation (a security-group problem).
    NotAuthorized,
}

impl FaultKind {
    /// Whether the fault replaces the normal reply (as opposed to altering it).
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(
            self,
            FaultKind::TooManyRequests(_) | FaultKind::Status(_) | FaultKind::CloseConnection
        )
    }
}

/// A fault applied to requests `at_request ..= at_request + times - 1`
/// (1-based, counted per endpoint since start, `clear_faults` or
/// `clear_requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultRule {
    /// Which endpoint's requests are counted.
    pub endpoint: Endpoint,
    /// The first faulted request number (1-based).
    pub at_request: usize,
    /// How many consecutive requests are faulted (`usize::MAX` = all from there).
    pub times: usize,
    /// What happens.
    pub kind: FaultKind,
}

impl FaultRule {
    /// A rule for exactly one request.
    pub fn once(endpoint: Endpoint, at_request: usize, kind: FaultKind) -> Self {
        FaultRule {
            endpoint,
            at_request,
            times: 1,
            kind,
        }
    }

    /// Whether this rule covers request number `n` of `endpoint`.
    pub(crate) fn applies(&self, endpoint: Endpoint, n: usize) -> bool {
        self.endpoint == endpoint && n >= self.at_request && (n - self.at_request) < self.times
    }
}

/// Parse the CLI fault syntax `ENDPOINT@N[xT|+]:KIND[=ARG]`, e.g.
/// `workers@3:429=5`, `workers@2x4:503`, `orgs@1:close`,
/// `token@1:expire-after=3`, `workers@2:drift=purge`,
/// `workers@1:bad-record`, `workers@1:slow=2000`, `workers@1:429=date`,
/// `workers@1:429`, `workers@1+:500`, `workers@1:soap=server`,
/// `orgs@1:soap=denied`. See `docs/simulator.md`.
pub fn parse_fault(spec: &str) -> Result<FaultRule, SimError> {
    let err = |reason: &str| SimError::InvalidFault {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let (target, kind) = spec
        .split_once(':')
        .ok_or_else(|| err("expected ENDPOINT@N:KIND"))?;
    let (ep, when) = target
        .split_once('@')
        .ok_or_else(|| err("expected ENDPOINT@N before ':'"))?;
    let endpoint = match ep.trim().to_ascii_lowercase().as_str() {
        "token" | "oauth" => Endpoint::Token,
        "workers" | "worker" => Endpoint::Workers,
        "orgs" | "org" | "organizations" | "supervisoryorganizations" => Endpoint::Organizations,
        _ => return Err(err("endpoint must be token, workers or orgs")),
    };
    let when = when.trim();
    let (at, times) = if let Some(at) = when.strip_suffix('+') {
        (at, usize::MAX)
    } else if let Some((at, t)) = when.split_once(['x', 'X']) {
        let t: usize = t
            .parse()
            .map_err(|_| err("times after 'x' must be a number"))?;
        if t == 0 {
            return Err(err("times must be at least 1"));
        }
        (at, t)
    } else {
        (when, 1)
    };
    let at_request: usize = at
        .parse()
        .map_err(|_| err("request number must be a number"))?;
    if at_request == 0 {
        return Err(err("request numbers start at 1"));
    }
    let (name, arg) = match kind.split_once('=') {
        Some((n, a)) => (n.trim(), Some(a.trim())),
        None => (kind.trim(), None),
    };
    let num = |a: Option<&str>, what: &str| -> Result<u64, SimError> {
        a.ok_or_else(|| err(&format!("{what} needs =NUMBER")))?
            .parse::<u64>()
            .map_err(|_| err(&format!("{what} needs =NUMBER")))
    };
    let kind = match name.to_ascii_lowercase().as_str() {
        "429" => FaultKind::TooManyRequests(match arg {
            None => RetryAfter::Absent,
            Some("none") | Some("absent") => RetryAfter::Absent,
            Some(a) if a.starts_with("date") => {
                let rest = &a["date".len()..];
                let secs = if rest.is_empty() {
                    1
                } else {
                    rest.strip_prefix('+')
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| err("429=date takes an optional +SECONDS"))?
                };
                RetryAfter::HttpDateIn(Duration::from_secs(secs))
            }
            Some(a) => RetryAfter::Seconds(
                a.parse()
                    .map_err(|_| err("429 takes =SECONDS, =date[+S] or nothing"))?,
            ),
        }),
        "close" => FaultKind::CloseConnection,
        "close-mid-body" => FaultKind::CloseMidBody,
        "truncate" | "truncated" => FaultKind::TruncatedBody,
        "slow" => FaultKind::Slow(Duration::from_millis(num(arg, "slow")?)),
        "expire-after" => {
            if endpoint != Endpoint::Token {
                return Err(err("expire-after applies to the token endpoint"));
            }
            let k = u32::try_from(num(arg, "expire-after")?)
                .map_err(|_| err("expire-after is too large"))?;
            FaultKind::TokenExpiresAfterUses(k)
        }
        "drift" => {
            if endpoint != Endpoint::Workers {
                return Err(err("drift applies to the workers endpoint"));
            }
            match arg {
                Some("hire") => FaultKind::TotalDrift(DriftKind::Hire),
                Some("purge") => FaultKind::TotalDrift(DriftKind::Purge),
                _ => return Err(err("drift needs =hire or =purge")),
            }
        }
        "bad-record" => FaultKind::BadRecord,
        "soap" => {
            if endpoint == Endpoint::Token {
                return Err(err("soap faults apply to the workers and orgs endpoints"));
            }
            FaultKind::Soap(match arg {
                Some("server" | "processing") => SoapFault::Processing,
                Some("validation") => SoapFault::Validation,
                Some("denied" | "not-authorized") => SoapFault::NotAuthorized,
                _ => return Err(err("soap needs =server, =validation or =denied")),
            })
        }
        other => match other.parse::<u16>() {
            Ok(code) if (100..=599).contains(&code) => {
                if arg.is_some() {
                    return Err(err("a status fault takes no argument"));
                }
                FaultKind::Status(code)
            }
            _ => return Err(err("unknown fault kind")),
        },
    };
    // (drift was checked above: workers only)
    if endpoint == Endpoint::Token && kind == FaultKind::BadRecord {
        return Err(err("that fault applies to paged endpoints"));
    }
    Ok(FaultRule {
        endpoint,
        at_request,
        times,
        kind,
    })
}
