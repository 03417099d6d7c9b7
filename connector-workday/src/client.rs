//! The HTTP side: one request at a time through the rate limiter, with
//! cancellation, status classification, the bearer token, and the
//! refresh-once-on-401 rule.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use connector_api::RunContext;
use reqwest::header::{HeaderMap, DATE, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value as Json;

use crate::endpoint::{Endpoints, Feed};
use crate::error::{workday_detail, WorkdayError};
use crate::ratelimit::RequestLimiter;
use crate::record::{FieldValue, Fields, KnownField, RestPage, RestRecord};
use crate::retry::{parse_retry_after, retrying, RetryPolicy, Sleeper};
use crate::soap::SoapRecord;
use crate::token::TokenProvider;

/// The `User-Agent` the connector sends.
pub const USER_AGENT: &str = concat!(
    "identity-mesh-connector-workday/",
    env!("CARGO_PKG_VERSION")
);

/// The largest response body the connector reads: 64 MiB. A page of 100
/// workers is a few hundred KiB, so only a broken or hostile server (or a
/// wrong host) comes near it. An answer whose `Content-Length` exceeds it is
/// refused before its body is read; a body without one is read in chunks and
/// refused as soon as it grows past it. Either is a
/// [`BadResponse`](crate::error::WorkdayError::BadResponse), not retried.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Sends requests: budget, counting, cancellation, transport errors.
#[derive(Debug)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) limiter: RequestLimiter,
    pub(crate) retry: RetryPolicy,
    pub(crate) sleeper: Arc<dyn Sleeper>,
    pub(crate) timeout: Duration,
    /// The largest body read ([`MAX_RESPONSE_BYTES`] outside tests).
    pub(crate) max_body: usize,
}

impl Http {
    /// Builds the reqwest client: `timeout` per request, no redirects (they
    /// could carry credentials elsewhere), rustls.
    pub(crate) fn build_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
    }

    /// Sends one request: waits for the budget, counts it, and races it
    /// against cancellation. The body is read here too.
    pub(crate) async fn send(
        &self,
        ctx: &RunContext,
        what: &str,
        request: RequestBuilder,
    ) -> Result<Answer, WorkdayError> {
        self.limiter.acquire(ctx).await?;
        if ctx.is_cancelled() {
            return Err(WorkdayError::Cancelled);
        }
        ctx.metrics().add_request();
        let exchange = async {
            let response = request
                .send()
                .await
                .map_err(|e| self.transport_error(what, &e))?;
            self.read(response, what).await
        };
        ctx.cancellation_token()
            .run_until_cancelled(exchange)
            .await
            .ok_or(WorkdayError::Cancelled)?
    }

    /// Reads a whole answer: the body in chunks, at most `max_body` bytes,
    /// and (for a success) valid UTF-8, kept without a copy.
    async fn read(&self, mut response: Response, what: &str) -> Result<Answer, WorkdayError> {
        let status = response.status();
        let headers = response.headers().clone();
        let mut url = response.url().clone();
        url.set_query(None);
        let limit = self.max_body;
        let bad = |why: String| WorkdayError::BadResponse {
            what: what.to_string(),
            why,
        };
        let too_big = |size: &str, then: &str| {
            bad(format!("{size} the limit of {limit} bytes (MAX_RESPONSE_BYTES){then}; lower PageSize, or check that TenantHost (or BaseUrl) is the tenant's API host"))
        };
        let announced = response.content_length();
        if let Some(len) = announced.filter(|&len| len > limit as u64) {
            return Err(too_big(
                &format!("its Content-Length is {len} bytes, above"),
                "",
            ));
        }
        let mut body = Vec::with_capacity(announced.map_or(0, |len| len as usize));
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(what, &e))?
        {
            if chunk.len() > limit - body.len() {
                return Err(too_big("its body grew above", " and was not read further"));
            }
            body.extend_from_slice(&chunk);
        }
        let body = match String::from_utf8(body) {
            Ok(body) => body,
            Err(e) if status.is_success() => {
                return Err(bad(format!(
                    "the body is not valid UTF-8 (at byte {})",
                    e.utf8_error().valid_up_to()
                )))
            }
            // A failure's body is only quoted in its message.
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Answer {
            status,
            headers,
            body,
            url: url.to_string(),
        })
    }

    fn transport_error(&self, what: &str, e: &reqwest::Error) -> WorkdayError {
        let detail = if e.is_timeout() {
            format!(
                "no answer within {} s (RequestTimeoutSeconds); Workday may be slow or unreachable - raise RequestTimeoutSeconds if it persists",
                self.timeout.as_secs_f64()
            )
        } else if e.is_connect() {
            format!("could not connect ({}); check TenantHost (or BaseUrl) and that this machine can reach it through any proxy or firewall", root_cause(e))
        } else {
            format!("the connection failed ({})", root_cause(e))
        };
        WorkdayError::Transport {
            what: what.to_string(),
            detail,
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A whole HTTP answer: status, headers, body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) url: String,
}

impl Answer {
    fn retry_after(&self) -> Option<Duration> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
    }

    /// `Ok(self)` for 2xx; otherwise the classified failure. 401 is left to
    /// the caller (token endpoint and API treat it differently).
    pub(crate) fn classify(self, what: &str) -> Result<Self, WorkdayError> {
        let status = self.status;
        let what = what.to_string();
        if status.is_success() {
            return Ok(self);
        }
        let detail = workday_detail(&self.body);
        Err(match status.as_u16() {
            300..=399 => WorkdayError::Redirect {
                what,
                status: status.as_u16(),
                location: self
                    .headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            },
            403 => WorkdayError::Forbidden { what, detail },
            404 => WorkdayError::NotFound {
                what,
                url: self.url.clone(),
                detail,
            },
            429 => WorkdayError::Throttled {
                what,
                retry_after: self.retry_after(),
            },
            500..=599 => WorkdayError::Server {
                what,
                status: status.as_u16(),
                detail,
                retry_after: self.retry_after(),
            },
            s => WorkdayError::Rejected {
                what,
                status: s,
                detail,
            },
        })
    }

    /// The body as JSON.
    pub(crate) fn json(&self, what: &str) -> Result<Json, WorkdayError> {
        serde_json::from_str(&self.body).map_err(|e| WorkdayError::BadResponse {
            what: what.to_string(),
            why: format!("the body is not JSON ({e})"),
        })
    }
}

/// The server's clock as one answer's `Date` header gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerDate {
    /// The time the server answered (to the second).
    At(DateTime<Utc>),
    /// The answer had no `Date` header.
    Missing,
    /// The `Date` header is not an HTTP date; its value, clipped to 40 characters.
    Unreadable(String),
}

impl ServerDate {
    /// Reads the `Date` header of `headers`.
    ///
    /// ```
    /// use connector_workday::ServerDate;
    /// use reqwest::header::{HeaderMap, HeaderValue, DATE};
    /// let mut h = HeaderMap::new();
    /// assert_eq!(ServerDate::of(&h), ServerDate::Missing);
    /// h.insert(DATE, HeaderValue::from_static("Wed, 01 Apr 2026 09:00:00 GMT"));
    /// assert_eq!(ServerDate::of(&h), ServerDate::At("2026-04-01T09:00:00Z".parse().unwrap()));
    /// h.insert(DATE, HeaderValue::from_static("yesterday"));
    /// assert_eq!(ServerDate::of(&h), ServerDate::Unreadable("yesterday".into()));
    /// ```
    pub fn of(headers: &HeaderMap) -> Self {
        let Some(raw) = headers.get(DATE) else {
            return ServerDate::Missing;
        };
        let text = String::from_utf8_lossy(raw.as_bytes());
        match httpdate::parse_http_date(&text) {
            Ok(t) => ServerDate::At(DateTime::<Utc>::from(t)),
            Err(_) => ServerDate::Unreadable(text.chars().take(40).collect()),
        }
    }
}

impl std::fmt::Display for ServerDate {
    /// What the header was, for messages: `no Date header` or
    /// `an unreadable Date header ("...")`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerDate::At(t) => write!(f, "the Date {}", iso_millis(*t)),
            ServerDate::Missing => f.write_str("no Date header"),
            ServerDate::Unreadable(v) => write!(f, "an unreadable Date header ({v:?})"),
        }
    }
}

/// One page as the server answered it: its records (a REST body not yet
/// read, or records the SOAP source read) and its `Date`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageResponse {
    /// The page's records.
    pub records: Records,
    /// The answer's `Date`: when the server answered.
    pub date: ServerDate,
}

/// A page's records.
#[derive(Debug, Clone, PartialEq)]
pub enum Records {
    /// A REST page's body (valid UTF-8), read where it is mapped, so that
    /// its records borrow from it ([`RestPage`]).
    RestBody {
        /// The body.
        body: String,
        /// What the page is, for messages (`the workers page at offset 0`).
        what: String,
    },
    /// Records already read (the SOAP source), with the `total` the answer
    /// reported.
    Parsed {
        /// The collection's `total` as reported with this page.
        total: u64,
        /// The page's records.
        data: Vec<SoapRecord>,
    },
}

/// A page's records, read: borrowed from a REST body, or the SOAP source's.
#[derive(Debug)]
pub(crate) enum PageView<'a> {
    Rest(RestPage<'a>),
    Parsed { total: u64, data: &'a [SoapRecord] },
}

impl PageResponse {
    /// Reads the page's records (a REST body is parsed here, once).
    ///
    /// # Errors
    /// [`WorkdayError::BadResponse`] when a REST body is not a page.
    pub(crate) fn read(&self) -> Result<PageView<'_>, WorkdayError> {
        match &self.records {
            Records::RestBody { body, what } => {
                RestPage::parse(body)
                    .map(PageView::Rest)
                    .map_err(|why| WorkdayError::BadResponse {
                        what: what.clone(),
                        why,
                    })
            }
            Records::Parsed { total, data } => Ok(PageView::Parsed {
                total: *total,
                data,
            }),
        }
    }
}

impl PageView<'_> {
    /// The collection's `total` as reported with this page.
    pub(crate) fn total(&self) -> u64 {
        match self {
            PageView::Rest(page) => page.total,
            PageView::Parsed { total, .. } => *total,
        }
    }

    /// How many records the page holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            PageView::Rest(page) => page.len(),
            PageView::Parsed { data, .. } => data.len(),
        }
    }

    /// The page's records, in order.
    pub(crate) fn records(&self) -> impl Iterator<Item = PageRecord<'_>> {
        let (rest, parsed): (Option<&RestPage<'_>>, &[SoapRecord]) = match self {
            PageView::Rest(page) => (Some(page), &[]),
            PageView::Parsed { data, .. } => (None, data),
        };
        rest.into_iter()
            .flat_map(RestPage::records)
            .map(PageRecord::Rest)
            .chain(parsed.iter().map(PageRecord::Parsed))
    }
}

/// One record of a [`PageView`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum PageRecord<'p> {
    Rest(RestRecord<'p>),
    Parsed(&'p SoapRecord),
}

impl Fields for PageRecord<'_> {
    fn not_an_object(&self) -> Option<&'static str> {
        match self {
            PageRecord::Rest(r) => r.not_an_object(),
            PageRecord::Parsed(r) => r.not_an_object(),
        }
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match self {
            PageRecord::Rest(r) => r.field(name),
            PageRecord::Parsed(r) => r.field(name),
        }
    }

    fn known_field(&self, field: KnownField) -> Option<FieldValue<'_>> {
        match self {
            PageRecord::Rest(r) => r.known_field(field),
            PageRecord::Parsed(r) => r.known_field(field),
        }
    }
}

/// Formats a time as `updatedFrom` expects: `YYYY-MM-DDTHH:MM:SS.sssZ`.
pub(crate) fn iso_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A tenant's API: list pages of a feed, get tokens.
#[derive(Debug)]
pub(crate) struct WorkdayClient {
    pub(crate) http: Arc<Http>,
    pub(crate) endpoints: Endpoints,
    pub(crate) token: Arc<TokenProvider>,
    /// The SOAP service, when `Api` is `Soap`.
    pub(crate) soap: Option<Arc<crate::soap::SoapSettings>>,
}

impl WorkdayClient {
    /// Reads one page of `feed` at `offset`, retrying transient failures
    /// under `policy`.
    ///
    /// # Errors
    /// The classified failure, after retries.
    pub(crate) async fn list(
        self: &Arc<Self>,
        feed: Feed,
        offset: u64,
        limit: u32,
        updated_from: Option<DateTime<Utc>>,
        ctx: &RunContext,
        policy: RetryPolicy,
    ) -> Result<PageResponse, WorkdayError> {
        let what = format!("the {} page at offset {offset}", feed.path());
        let (this, run) = (Arc::clone(self), ctx.clone());
        retrying(
            policy,
            Arc::clone(&self.http.sleeper),
            ctx.clone(),
            Box::new(move || {
                let (this, run, what) = (Arc::clone(&this), run.clone(), what.clone());
                Box::pin(async move {
                    this.list_once(feed, offset, limit, updated_from, &run, &what)
                        .await
                })
            }),
        )
        .await
    }

    fn page_request(
        &self,
        url: &str,
        query: &[(&str, String)],
        token: &SecretString,
    ) -> RequestBuilder {
        self.http
            .client
            .get(url)
            .query(query)
            .bearer_auth(token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn list_once(
        &self,
        feed: Feed,
        offset: u64,
        limit: u32,
        updated_from: Option<DateTime<Utc>>,
        ctx: &RunContext,
        what: &str,
    ) -> Result<PageResponse, WorkdayError> {
        if ctx.is_cancelled() {
            return Err(WorkdayError::Cancelled);
        }
        let url = self.endpoints.feed_url(feed);
        let mut query: Vec<(&str, String)> =
            vec![("limit", limit.to_string()), ("offset", offset.to_string())];
        if let Some(from) = updated_from {
            query.push(("updatedFrom", iso_millis(from)));
        }
        let token = self.token.get(&self.http, ctx).await?;
        let mut answer = self
            .http
            .send(ctx, what, self.page_request(&url, &query, &token))
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            tracing::info!(%what, "Workday answered 401; fetching a new access token and retrying once");
            self.token.invalidate(&token).await;
            let token = self.token.get(&self.http, ctx).await?;
            answer = self
                .http
                .send(ctx, what, self.page_request(&url, &query, &token))
                .await?;
            if answer.status == StatusCode::UNAUTHORIZED {
                return Err(WorkdayError::Unauthorized {
                    what: what.to_string(),
                    detail: workday_detail(&answer.body),
                });
            }
        }
        let answer = answer.classify(what)?;
        Ok(PageResponse {
            date: ServerDate::of(&answer.headers),
            records: Records::RestBody {
                body: answer.body,
                what: what.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_parsing() {
        let rest = |body: &str| PageResponse {
            records: Records::RestBody {
                body: body.into(),
                what: "w".into(),
            },
            date: ServerDate::Missing,
        };
        let p = rest(r#"{"total": 3, "data": [{}]}"#);
        let view = p.read().unwrap();
        assert_eq!(view.total(), 3);
        assert_eq!(view.len(), 1);
        for bad in [
            "[]",
            r#"{"data": []}"#,
            r#"{"total": -1, "data": []}"#,
            r#"{"total": 1, "data": {}}"#,
            r#"{"total": 1}"#,
            r#"{"total": 1, "data": ["#,
        ] {
            assert!(matches!(
                rest(bad).read(),
                Err(WorkdayError::BadResponse { .. })
            ));
        }
    }
}
