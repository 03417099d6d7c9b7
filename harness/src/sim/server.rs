//! The HTTP side: axum routes, auth, paging, fault application, and a
//! listener whose connections a handler can kill (for "connection closed
//! before the reply").

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts as RequestParts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use axum::Router;
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::data::{parse_instant, PageQuery};
use super::fault::DriftKind;
use super::{lock, AuthUsed, Endpoint, FaultKind, Inner, RetryAfter, TokenState};

/// A listener whose streams can be killed by the handler serving them.
pub(crate) struct KillListener(TcpListener);

/// Per-connection info handed to handlers.
#[derive(Debug, Clone)]
pub(crate) struct ConnMeta {
    kill: Arc<AtomicBool>,
}

/// A TCP stream that fails all I/O once its kill switch is set.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "connection killed by fault injection",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for KillListener {
    type Io = KillableStream;
    type Addr = ConnMeta;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    let meta = ConnMeta {
                        kill: Arc::clone(&kill),
                    };
                    return (
                        KillableStream {
                            inner: stream,
                            kill,
                        },
                        meta,
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr().map(|_: SocketAddr| ConnMeta {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, KillListener>> for ConnMeta {
    fn connect_info(stream: IncomingStream<'_, KillListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Starts serving `inner` on `listener` until `cancel` fires.
pub(crate) fn spawn(
    listener: TcpListener,
    inner: Arc<Inner>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let tenant_api = "/ccx/api/common/v1/{tenant}";
    let router = Router::new()
        .route("/ccx/oauth2/{realm}/token", post(token))
        .route(&format!("{tenant_api}/{{collection}}"), get(paged))
        .route(&format!("{tenant_api}/{{collection}}/{{id}}"), get(single))
        .route(
            "/ccx/service/{tenant}/Human_Resources/{version}",
            post(super::soap::handler),
        )
        .fallback(fallback)
        .with_state(inner);
    let app = router.into_make_service_with_connect_info::<ConnMeta>();
    tokio::spawn(async move {
        let serve = axum::serve(KillListener(listener), app)
            .with_graceful_shutdown(cancel.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "simulator server stopped with an error");
        }
    })
}

/// A reply before faults are applied to it.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn value(status: StatusCode, v: &serde_json::Value) -> Reply {
        Reply::json(status, serde_json::to_vec(v).unwrap_or_default())
    }

    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

/// Workday's REST error body.
fn workday_error(status: StatusCode, msg: &str, field: Option<&str>) -> Reply {
    let mut detail = json!({"error": msg});
    if let (Some(f), Some(obj)) = (field, detail.as_object_mut()) {
        obj.insert("field".into(), json!(f));
        obj.insert("location".into(), json!("query"));
    }
    Reply::value(status, &json!({"error": msg, "errors": [detail]}))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    Reply::value(
        status,
        &json!({"error": error, "error_description": description}),
    )
    .header(header::CACHE_CONTROL, "no-store")
}

fn invalid_token(description: &str) -> Reply {
    Reply::value(StatusCode::UNAUTHORIZED, &json!({"error": "invalid_token"})).header(
        header::WWW_AUTHENTICATE,
        &format!("Bearer error=\"invalid_token\", error_description=\"{description}\""),
    )
}

/// The per-request bookkeeping.
pub(crate) struct Ctx {
    endpoint: Endpoint,
    method: Method,
    uri: Uri,
    pub(crate) auth: AuthUsed,
    pub(crate) faults: Vec<FaultKind>,
    kill: Arc<AtomicBool>,
}

impl Ctx {
    pub(crate) fn begin(
        inner: &Inner,
        endpoint: Endpoint,
        method: &Method,
        uri: &Uri,
        conn: &ConnMeta,
    ) -> Ctx {
        let n = {
            let mut c = lock(&inner.counters);
            c[endpoint.slot()] += 1;
            c[endpoint.slot()]
        };
        let faults = if endpoint == Endpoint::Other {
            Vec::new()
        } else {
            lock(&inner.faults)
                .iter()
                .filter(|r| r.applies(endpoint, n))
                .map(|r| r.kind)
                .collect()
        };
        Ctx {
            endpoint,
            method: method.clone(),
            uri: uri.clone(),
            auth: AuthUsed::None,
            faults,
            kill: Arc::clone(&conn.kill),
        }
    }

    /// The reply of a replacing fault (429, status, close), if any.
    pub(crate) fn terminal(&self) -> Option<(FaultKind, Reply)> {
        let f = *self.faults.iter().find(|f| f.is_terminal())?;
        let reply = match f {
            FaultKind::TooManyRequests(ra) => {
                let r = workday_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests: rate limit exceeded",
                    None,
                );
                match ra {
                    RetryAfter::Seconds(s) => r.header(header::RETRY_AFTER, &s.to_string()),
                    RetryAfter::HttpDate(t) => {
                        r.header(header::RETRY_AFTER, &httpdate::fmt_http_date(t))
                    }
                    RetryAfter::HttpDateIn(d) => r.header(
                        header::RETRY_AFTER,
                        &httpdate::fmt_http_date(SystemTime::now() + d),
                    ),
                    RetryAfter::Absent => r,
                }
            }
            FaultKind::Status(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let msg = status.canonical_reason().unwrap_or("Error");
                workday_error(status, &format!("Simulated fault: {msg}"), None)
            }
            _ => Reply::json(StatusCode::OK, Vec::new()),
        };
        Some((f, reply))
    }

    pub(crate) fn has(&self, pred: impl Fn(&FaultKind) -> bool) -> bool {
        self.faults.iter().any(pred)
    }

    /// Records the request, applies delays and body faults, and builds the response.
    pub(crate) async fn finish(self, inner: &Inner, reply: Reply) -> Response {
        let close = self.has(|f| matches!(f, FaultKind::CloseConnection));
        let primary = self
            .faults
            .iter()
            .find(|f| f.is_terminal())
            .or_else(|| self.faults.first())
            .copied();
        lock(&inner.requests).push(
            self.method.as_str(),
            self.uri.path(),
            self.uri.query(),
            if close { 0 } else { reply.status.as_u16() },
            self.auth,
            self.endpoint,
            primary,
        );
        let mut delay = lock(&inner.latency).unwrap_or_default();
        for f in &self.faults {
            if let FaultKind::Slow(d) = f {
                delay += *d;
            }
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if close {
            self.kill.store(true, Ordering::SeqCst);
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let Reply {
            status,
            headers,
            mut body,
        } = reply;
        let mid_body = self.faults.contains(&FaultKind::CloseMidBody);
        if self.faults.contains(&FaultKind::TruncatedBody) {
            body.truncate(body.len() / 2);
        }
        let full_len = body.len();
        let body = if mid_body {
            let mut first = body;
            first.truncate(full_len / 2);
            let chunks: Vec<Result<Bytes, io::Error>> = vec![
                Ok(Bytes::from(first)),
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fault: body cut",
                )),
            ];
            let stream = futures::stream::iter(chunks).then(|c| async move {
                if c.is_err() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                c
            });
            Body::from_stream(stream)
        } else {
            Body::from(body)
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
        for (k, v) in headers {
            h.append(k, v);
        }
        // Every answer (REST, token, SOAP) is dated by the simulator clock,
        // which also stamps mutations and the transaction log: a client
        // that takes its read time from `Date` (the REST watermark's cap,
        // SOAP's As_Of_Entry_DateTime) sees the tenant's own time, also
        // when a test sets the clock. A `Date` the reply set is kept.
        if !h.contains_key(header::DATE) {
            let date = httpdate::fmt_http_date(SystemTime::from(inner.now()));
            if let Ok(v) = HeaderValue::from_str(&date) {
                h.insert(header::DATE, v);
            }
        }
        resp
    }
}

/// Form-urlencoded pairs (`+` is a space, `%XX` decoded, bad escapes kept).
fn parse_pairs(raw: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &[u8]) -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    let hex = std::str::from_utf8(&s[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    raw.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(eq) => (decode(&p[..eq]), decode(&p[eq + 1..])),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Issues an access token; `uses` limits how many API calls it serves.
pub(crate) fn issue_token(inner: &Inner, uses: Option<u32>) -> String {
    let n = inner.token_seq.fetch_add(1, Ordering::SeqCst);
    let a = super::ids::mix64(inner.config.seed ^ n.rotate_left(32) ^ 0x0074_6f6b_656e);
    let b = super::ids::mix64(a ^ n);
    let token = format!("simtok-{n}-{a:016x}{b:016x}");
    let lifetime =
        chrono::TimeDelta::from_std(inner.config.token_lifetime).unwrap_or(chrono::TimeDelta::MAX);
    let now = inner.now();
    let expires_at = now.checked_add_signed(lifetime).unwrap_or(now);
    lock(&inner.tokens).insert(
        token.clone(),
        TokenState {
            expires_at,
            uses_left: uses,
        },
    );
    token
}

fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Some(decoded.and_then(|s| {
        s.split_once(':')
            .map(|(id, secret)| (id.to_string(), secret.to_string()))
    }))
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

async fn token(
    State(inner): State<Arc<Inner>>,
    Path(realm): Path<String>,
    p: Parts,
    body: Bytes,
) -> Response {
    let mut ctx = p.begin(&inner, Endpoint::Token);
    let headers = p.headers;
    let form = parse_pairs(&body);
    let grant = param(&form, "grant_type");
    let basic = basic_credentials(&headers);
    ctx.auth = if grant == Some("refresh_token") {
        AuthUsed::Refresh
    } else if basic.is_some() {
        AuthUsed::Basic
    } else if param(&form, "client_id").is_some() {
        AuthUsed::Form
    } else {
        AuthUsed::None
    };
    if let Some((_, reply)) = ctx.terminal() {
        return ctx.finish(&inner, reply).await;
    }
    let uses = ctx.faults.iter().find_map(|f| match f {
        FaultKind::TokenExpiresAfterUses(k) => Some(*k),
        _ => None,
    });
    let reply = token_reply(&inner, &realm, grant, basic, &form, uses);
    ctx.finish(&inner, reply).await
}

fn token_reply(
    inner: &Inner,
    realm: &str,
    grant: Option<&str>,
    basic: Option<Option<(String, String)>>,
    form: &[(String, String)],
    uses: Option<u32>,
) -> Reply {
    let cfg = &inner.config;
    if realm != cfg.realm {
        return oauth_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            &format!("unknown realm {realm:?}"),
        );
    }
    let grant = match grant {
        None | Some("") => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            )
        }
        Some(g @ ("client_credentials" | "refresh_token")) => g,
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant type {other:?} is not supported"),
            )
        }
    };
    let creds = match basic {
        Some(Some(c)) => Some(c),
        Some(None) => None,
        None => match (param(form, "client_id"), param(form, "client_secret")) {
            (Some(id), Some(secret)) => Some((id.to_string(), secret.to_string())),
            _ => None,
        },
    };
    let unauthorized = |desc: &str| {
        oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", desc).header(
            header::WWW_AUTHENTICATE,
            &format!("Basic realm=\"{}\"", cfg.realm),
        )
    };
    let Some((id, secret)) = creds else {
        return unauthorized(
            "client authentication is required (HTTP Basic or client_id/client_secret)",
        );
    };
    if id != cfg.client_id || secret != cfg.client_secret {
        return unauthorized("invalid client id or secret");
    }
    if grant == "refresh_token" {
        match param(form, "refresh_token") {
            Some(rt) if rt == cfg.refresh_token => {}
            Some(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "invalid refresh token",
                )
            }
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                )
            }
        }
    }
    let token = issue_token(inner, uses);
    let expires_in = cfg.token_lifetime.as_secs();
    let mut body = json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in});
    if grant == "refresh_token" {
        if let Some(o) = body.as_object_mut() {
            o.insert("refresh_token".into(), json!(cfg.refresh_token));
        }
    }
    Reply::value(StatusCode::OK, &body)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
}

/// Checks and consumes one use of the request's bearer token.
pub(crate) fn check_bearer(inner: &Inner, headers: &HeaderMap) -> Result<(), Reply> {
    let Some(tok) = bearer(headers) else {
        return Err(invalid_token("a bearer token is required"));
    };
    let now = inner.now();
    let mut tokens = lock(&inner.tokens);
    let Some(st) = tokens.get_mut(tok) else {
        return Err(invalid_token("unknown token"));
    };
    if now >= st.expires_at {
        return Err(invalid_token("token expired"));
    }
    match &mut st.uses_left {
        Some(0) => Err(invalid_token("token expired")),
        Some(n) => {
            *n -= 1;
            Ok(())
        }
        None => Ok(()),
    }
}

fn api_auth(headers: &HeaderMap) -> AuthUsed {
    if bearer(headers).is_some() {
        AuthUsed::Bearer
    } else if basic_credentials(headers).is_some() {
        AuthUsed::Basic
    } else {
        AuthUsed::None
    }
}

fn parse_page_query(query: Option<&str>) -> Result<PageQuery, Reply> {
    let pairs = parse_pairs(query.unwrap_or("").as_bytes());
    let bad = |field: &str, msg: String| workday_error(StatusCode::BAD_REQUEST, &msg, Some(field));
    let limit = match param(&pairs, "limit") {
        None => 20,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            Ok(n) => {
                return Err(bad(
                    "limit",
                    format!("invalid request: limit must be between 1 and 100, got {n}"),
                ))
            }
            Err(_) => {
                return Err(bad(
                    "limit",
                    format!("invalid request: limit {v:?} is not a number"),
                ))
            }
        },
    };
    let offset = match param(&pairs, "offset") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            bad(
                "offset",
                format!("invalid request: offset {v:?} is not a non-negative number"),
            )
        })?,
    };
    let updated_from = match param(&pairs, "updatedFrom") {
        None => None,
        Some(v) => Some(parse_instant(v).ok_or_else(|| {
            bad(
                "updatedFrom",
                format!("invalid request: updatedFrom {v:?} is not an ISO 8601 date-time"),
            )
        })?),
    };
    Ok(PageQuery {
        limit,
        offset,
        updated_from,
    })
}

/// Shared front half of API handlers: faults, tenant, bearer.
fn api_front(inner: &Inner, tenant: &str, headers: &HeaderMap) -> Result<(), Reply> {
    if tenant != inner.config.tenant {
        return Err(workday_error(
            StatusCode::NOT_FOUND,
            &format!("tenant {tenant:?} not found"),
            None,
        ));
    }
    check_bearer(inner, headers)
}

/// The parts of a request every handler needs (REST, token and SOAP).
pub(crate) struct Parts {
    pub(crate) conn: ConnMeta,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
}

impl Parts {
    /// Records the request and starts its context.
    pub(crate) fn begin(&self, inner: &Inner, endpoint: Endpoint) -> Ctx {
        Ctx::begin(inner, endpoint, &self.method, &self.uri, &self.conn)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Parts {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut RequestParts, state: &S) -> Result<Self, Response> {
        let ConnectInfo(conn) = ConnectInfo::<ConnMeta>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Parts {
            conn,
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

/// The endpoint a collection name in the API path addresses.
fn collection_endpoint(collection: &str) -> Option<Endpoint> {
    match collection {
        "workers" => Some(Endpoint::Workers),
        "supervisoryOrganizations" => Some(Endpoint::Organizations),
        _ => None,
    }
}

/// Starts an API request on `collection`: records it, applies a terminal
/// fault, checks the tenant and the token. `Err` is the finished reply.
async fn open_api(
    inner: &Arc<Inner>,
    tenant: &str,
    collection: &str,
    p: Parts,
) -> Result<(Ctx, Endpoint, Uri), Response> {
    let Some(endpoint) = collection_endpoint(collection) else {
        return Err(not_found(inner, p).await);
    };
    let mut ctx = p.begin(inner, endpoint);
    let (uri, headers) = (p.uri, p.headers);
    ctx.auth = api_auth(&headers);
    let early = match ctx.terminal() {
        Some((_, reply)) => Some(reply),
        None => api_front(inner, tenant, &headers).err(),
    };
    match early {
        Some(reply) => Err(ctx.finish(inner, reply).await),
        None => Ok((ctx, endpoint, uri)),
    }
}

async fn paged(
    State(inner): State<Arc<Inner>>,
    Path((tenant, collection)): Path<(String, String)>,
    p: Parts,
) -> Response {
    let (ctx, endpoint, uri) = match open_api(&inner, &tenant, &collection, p).await {
        Ok(opened) => opened,
        Err(reply) => return reply,
    };
    let q = match parse_page_query(uri.query()) {
        Ok(q) => q,
        Err(reply) => return ctx.finish(&inner, reply).await,
    };
    for f in ctx.faults.iter().filter(|_| endpoint == Endpoint::Workers) {
        if let FaultKind::TotalDrift(kind) = f {
            let now = inner.now_ms();
            let mut t = inner.write();
            match kind {
                DriftKind::Hire => {
                    t.hire(None, None, now);
                }
                DriftKind::Purge => {
                    // Before the requested offset, so later records shift;
                    // on the first page, somewhere within it.
                    let before = if q.offset == 0 { q.limit } else { q.offset };
                    t.purge_before(before);
                }
            }
        }
    }
    let bad = ctx.has(|f| matches!(f, FaultKind::BadRecord));
    let mut body = Vec::with_capacity(q.limit * 1500 + 64);
    {
        let t = inner.read();
        match endpoint {
            Endpoint::Organizations => t.write_org_page(q, bad, &mut body),
            _ => t.write_worker_page(q, bad, &mut body),
        }
    }
    ctx.finish(&inner, Reply::json(StatusCode::OK, body)).await
}

async fn single(
    State(inner): State<Arc<Inner>>,
    Path((tenant, collection, id)): Path<(String, String, String)>,
    p: Parts,
) -> Response {
    let (ctx, endpoint, _) = match open_api(&inner, &tenant, &collection, p).await {
        Ok(opened) => opened,
        Err(reply) => return reply,
    };
    let body = {
        let t = inner.read();
        match endpoint {
            Endpoint::Organizations => t.org_index(&id).map(|i| t.org_json(i)),
            _ => t.worker_index(&id).map(|i| t.worker_json(i)),
        }
    };
    let reply = match body {
        Some(b) => Reply::json(StatusCode::OK, b),
        None => workday_error(
            StatusCode::NOT_FOUND,
            &format!("resource {id:?} not found"),
            None,
        ),
    };
    ctx.finish(&inner, reply).await
}

async fn fallback(State(inner): State<Arc<Inner>>, p: Parts) -> Response {
    not_found(&inner, p).await
}

/// A 404 for a path the simulated API does not serve.
async fn not_found(inner: &Inner, p: Parts) -> Response {
    let mut ctx = Ctx::begin(inner, Endpoint::Other, &p.method, &p.uri, &p.conn);
    ctx.auth = api_auth(&p.headers);
    let reply = workday_error(
        StatusCode::NOT_FOUND,
        &format!("no resource at {}", p.uri.path()),
        None,
    );
    ctx.finish(inner, reply).await
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::{SimConfig, Simulator};

    /// Every answer is dated by the simulator clock: REST pages, single
    /// records, 404s and the token answer alike.
    #[tokio::test]
    async fn rest_and_token_answers_are_dated_by_the_simulator_clock() {
        let sim = Simulator::start(SimConfig {
            workers: 20,
            orgs: 2,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        sim.set_clock(Utc.with_ymd_and_hms(2031, 3, 1, 12, 0, 5).unwrap());
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let cfg = sim.config().clone();
        let token = c
            .post(sim.token_url())
            .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(token.status(), 200);
        assert_eq!(token.headers()["date"], "Sat, 01 Mar 2031 12:00:05 GMT");
        let tok = sim.issue_token();
        let id = sim.worker_ids()[3].clone();
        let base = sim.api_base_url();
        sim.advance_clock(std::time::Duration::from_secs(60));
        for (url, status) in [
            (format!("{base}/workers?limit=5"), 200),
            (format!("{base}/workers/{id}"), 200),
            (format!("{base}/nothing-here"), 404),
        ] {
            let r = c.get(&url).bearer_auth(&tok).send().await.unwrap();
            assert_eq!(r.status(), status, "{url}");
            assert_eq!(
                r.headers()["date"],
                "Sat, 01 Mar 2031 12:01:05 GMT",
                "{url}"
            );
        }
        sim.shutdown().await;
    }
}
