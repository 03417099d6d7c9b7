//! The SOAP source: Workday's Human_Resources web service (`Get_Workers`,
//! `Get_Organizations`), sent through the same transport as the REST source
//! ([`crate::client::Http`]: rate limit, retries, timeouts, body limit, host
//! allowlist) with the OAuth bearer token (refreshed once on 401) or a
//! WS-Security UsernameToken.
//!
//! - [`request`] builds the envelopes, in the WSDL's element order;
//! - [`response`] reads the answers page by page into REST-shaped records,
//!   so the one mapping ([`crate::mapping`]) applies unchanged.

pub(crate) mod request;
pub(crate) mod response;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use connector_api::RunContext;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::client::{Answer, PageResponse, Records, ServerDate, WorkdayClient};
use crate::error::{workday_detail, WorkdayError};
use crate::retry::{retrying, RetryPolicy};
use request::Query;
use response::Parsed;
pub use response::SoapRecord;

/// The page parser, exposed for `benches/soap.rs` only (not an API).
#[doc(hidden)]
pub mod bench {
    /// The records of a `Get_Workers` page, or why it is not one.
    ///
    /// # Errors
    /// The body is not a readable page (or is a fault).
    pub fn workers(body: &str) -> Result<Vec<super::SoapRecord>, String> {
        match super::response::workers(body)? {
            super::Parsed::Page { records, .. } => Ok(records),
            super::Parsed::Fault { code, .. } => Err(format!("a SOAP fault: {code}")),
        }
    }
}

/// How the SOAP source reaches the tenant.
#[derive(Debug)]
pub(crate) struct SoapSettings {
    /// `{base}/ccx/service/{TenantName}/Human_Resources/{WebServiceVersion}`.
    pub(crate) url: String,
    /// `WebServiceVersion`.
    pub(crate) version: String,
    /// The ISU's UsernameToken, when `IsuUsername` is set (else bearer).
    pub(crate) isu: Option<(String, SecretString)>,
}

/// The text Workday's "not authorized" fault carries.
const NOT_AUTHORIZED: &str = "not authorized";

/// Classifies an answer to a SOAP request: a page, or the failure. A SOAP
/// fault (HTTP 500) is a `Client` fault (not retried; "not authorized" is a
/// permission error naming the operation) or a server fault (retried like a
/// 5xx); any other status follows the transport's rules.
fn classify(answer: Answer, query: &Query, what: &str) -> Result<PageResponse, WorkdayError> {
    let status = answer.status;
    if !status.is_success() && status != StatusCode::INTERNAL_SERVER_ERROR {
        return answer.classify(what).and_then(|_| {
            Err(WorkdayError::BadResponse {
                what: what.to_string(),
                why: format!("unexpected status {status}"),
            })
        });
    }
    let parsed = match query {
        Query::Workers { .. } => response::workers(&answer.body),
        Query::Organizations { .. } => response::organizations(&answer.body),
    };
    let what = what.to_string();
    match (parsed, status.is_success()) {
        (Ok(Parsed::Fault { code, string }), _) => {
            Err(if string.to_ascii_lowercase().contains(NOT_AUTHORIZED) {
                WorkdayError::SoapNotAuthorized {
                    what,
                    operation: query.operation().to_string(),
                    string,
                }
            } else if code.contains("Client") {
                WorkdayError::SoapClientFault { what, code, string }
            } else {
                WorkdayError::Server {
                    what,
                    status: status.as_u16(),
                    detail: format!(": SOAP fault {code}: {string}"),
                    retry_after: None,
                }
            })
        }
        (Ok(Parsed::Page { results, records }), true) => Ok(PageResponse {
            records: Records::Parsed {
                total: results.total_results,
                data: records,
            },
            date: ServerDate::of(&answer.headers),
        }),
        (_, false) => Err(WorkdayError::Server {
            what,
            status: status.as_u16(),
            detail: workday_detail(&answer.body),
            retry_after: None,
        }),
        (Err(why), true) => Err(WorkdayError::BadResponse {
            what,
            why: format!("it is not a readable SOAP answer: {why}"),
        }),
    }
}

impl WorkdayClient {
    /// Reads one page (1-based) of `query` as of `read_time`, retrying
    /// transient failures under `policy`. `total` is `Total_Results`.
    ///
    /// # Errors
    /// The classified failure, after retries.
    pub(crate) async fn soap_page(
        self: &Arc<Self>,
        query: Query,
        read_time: Option<DateTime<Utc>>,
        page: u64,
        count: u32,
        ctx: &RunContext,
        policy: RetryPolicy,
    ) -> Result<PageResponse, WorkdayError> {
        let what = format!("{} page {page}", query.operation());
        let (this, run) = (Arc::clone(self), ctx.clone());
        retrying(
            policy,
            Arc::clone(&self.http.sleeper),
            ctx.clone(),
            Box::new(move || {
                let (this, run, what, query) =
                    (Arc::clone(&this), run.clone(), what.clone(), query.clone());
                Box::pin(async move {
                    this.soap_once(&query, read_time, page, count, &run, &what)
                        .await
                })
            }),
        )
        .await
    }

    async fn soap_once(
        &self,
        query: &Query,
        read_time: Option<DateTime<Utc>>,
        page: u64,
        count: u32,
        ctx: &RunContext,
        what: &str,
    ) -> Result<PageResponse, WorkdayError> {
        if ctx.is_cancelled() {
            return Err(WorkdayError::Cancelled);
        }
        let Some(soap) = &self.soap else {
            return Err(WorkdayError::BadResponse {
                what: what.to_string(),
                why: "the SOAP source is not configured (Api is not Soap)".into(),
            });
        };
        let body = request::body(query, &soap.version, read_time, page, count);
        let post = |envelope: String, token: Option<&SecretString>| {
            let mut r = self
                .http
                .client
                .post(&soap.url)
                .header(CONTENT_TYPE, "text/xml; charset=utf-8")
                .body(envelope);
            if let Some(t) = token {
                r = r.bearer_auth(t.expose_secret());
            }
            r
        };
        let answer = match &soap.isu {
            Some((user, password)) => {
                let envelope = request::envelope(Some((user, password)), &body);
                self.http.send(ctx, what, post(envelope, None)).await?
            }
            None => {
                let token = self.token.get(&self.http, ctx).await?;
                let envelope = request::envelope(None, &body);
                let mut answer = self
                    .http
                    .send(ctx, what, post(envelope.clone(), Some(&token)))
                    .await?;
                if answer.status == StatusCode::UNAUTHORIZED {
                    tracing::info!(%what, "Workday answered 401; fetching a new access token and retrying once");
                    self.token.invalidate(&token).await;
                    let token = self.token.get(&self.http, ctx).await?;
                    answer = self
                        .http
                        .send(ctx, what, post(envelope, Some(&token)))
                        .await?;
                    if answer.status == StatusCode::UNAUTHORIZED {
                        return Err(WorkdayError::Unauthorized {
                            what: what.to_string(),
                            detail: workday_detail(&answer.body),
                        });
                    }
                }
                answer
            }
        };
        classify(answer, query, what)
    }
}
