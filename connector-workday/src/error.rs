//! Failures of talking to Workday, and how each becomes a
//! [`ConnectorError`] an administrator can act on.

use std::time::Duration;

use connector_api::{ConnectorError, ErrorKind};

/// The domains whose Get/View access the integration system user's (ISU's)
/// security group needs, quoted in permission messages.
pub(crate) const ISU_DOMAINS: &str = "\"Worker Data: Public Worker Reports\", \
\"Worker Data: Active and Terminated Workers\" and \"Organization Data: View Organization\"";

/// One failure of a request to Workday (token endpoint or REST API).
///
/// `what` fields name the request in words, e.g. `the workers page at offset 200`.
/// `detail` fields hold Workday's own error text (already prefixed, or empty).
/// No variant ever carries a secret or a record value.
#[derive(Debug, thiserror::Error)]
pub enum WorkdayError {
    /// The run was cancelled while the request waited or was in flight.
    #[error("the run was cancelled")]
    Cancelled,

    /// The network failed: connect, reset, or no answer in time.
    #[error("could not reach Workday for {what}: {detail}")]
    Transport {
        /// The request.
        what: String,
        /// What failed, e.g. `no answer within 30 s (RequestTimeoutSeconds)`.
        detail: String,
    },

    /// Workday answered `429 Too Many Requests`.
    #[error("Workday answered 429 Too Many Requests for {what}: the tenant's API rate limit was reached{after}", after = fmt_retry_after(*.retry_after))]
    Throttled {
        /// The request.
        what: String,
        /// How long Workday asked to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
    },

    /// Workday asked to wait longer than the connector's back-off cap.
    #[error("Workday answered {status} for {what} and asked to wait {wait} s (Retry-After) before retrying, more than the connector's {cap} s back-off cap; the run stopped. Run it again after that time; if this happens often, ask Workday Support to raise the tenant's API rate limit", wait = .wait.as_secs(), cap = .cap.as_secs())]
    RetryAfterTooLong {
        /// The request.
        what: String,
        /// The HTTP status (429 or 503).
        status: u16,
        /// How long Workday asked to wait.
        wait: Duration,
        /// The back-off cap.
        cap: Duration,
    },

    /// Workday answered a 5xx status.
    #[error("Workday returned a server error ({status}) for {what}{detail}. This is likely a temporary issue - run again later, and contact Workday Support if it persists")]
    Server {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// Workday's error text, prefixed, or empty.
        detail: String,
        /// How long Workday asked to wait, when it said.
        retry_after: Option<Duration>,
    },

    /// Workday refused the request with `403 Forbidden`.
    #[error("Workday refused {what} with 403 Forbidden{detail}. The integration system user (ISU) lacks a permission: grant its security group Get access to the domains {ISU_DOMAINS}, then activate pending security policy changes")]
    Forbidden {
        /// The request.
        what: String,
        /// Workday's error text, prefixed, or empty.
        detail: String,
    },

    /// The API answered `401` again right after a fresh token was fetched.
    #[error("Workday refused a freshly issued access token for {what} (401 Unauthorized, twice){detail}. Check that the integration system user (ISU) is active and not locked, that its password has not expired, that the API client is allowed the \"Staffing\" and \"Organizations and Roles\" scopes, and that the ISU's security group has Get access to the domains {ISU_DOMAINS}")]
    Unauthorized {
        /// The request.
        what: String,
        /// Workday's error text, prefixed, or empty.
        detail: String,
    },

    /// The token endpoint refused the credentials (an OAuth2 error).
    #[error("Workday's token endpoint {url} refused the credentials with {status}{code}{detail}: {hint}", code = .code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Token {
        /// The token URL (no secret in it).
        url: String,
        /// The HTTP status.
        status: u16,
        /// The OAuth2 `error` code, e.g. `invalid_client`.
        code: Option<String>,
        /// Workday's `error_description`, prefixed, or empty.
        detail: String,
        /// What to do about it.
        hint: String,
    },

    /// The API answered `404 Not Found`.
    #[error("Workday answered 404 Not Found for {what} ({url}){detail}: check TenantName (and TenantHost or BaseUrl); the tenant name is the part after the host in your Workday login URL")]
    NotFound {
        /// The request.
        what: String,
        /// The URL without its query.
        url: String,
        /// Workday's error text, prefixed, or empty.
        detail: String,
    },

    /// A SOAP `Client` fault (e.g. `SOAP-ENV:Client.validationError`): the
    /// request was wrong; not retried.
    #[error("Workday refused {what} with the SOAP fault {code}: {string}. {hint}", hint = soap_client_hint(.code))]
    SoapClientFault {
        /// The request.
        what: String,
        /// `faultcode`.
        code: String,
        /// `faultstring`.
        string: String,
    },

    /// A SOAP fault saying the ISU may not run the operation; not retried.
    #[error("Workday refused {operation} for {what}: {string} The integration system user (ISU) lacks a permission: grant its security group the domains {operation} needs (see \"Choosing Api: Rest or Soap\" in the runbook), then activate pending security policy changes")]
    SoapNotAuthorized {
        /// The request.
        what: String,
        /// `Get_Workers` or `Get_Organizations`.
        operation: String,
        /// `faultstring`.
        string: String,
    },

    /// Any other 4xx answer: not retried, Workday's error text surfaced.
    #[error("Workday rejected {what} with {status}{detail}")]
    Rejected {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// Workday's error text, prefixed, or empty.
        detail: String,
    },

    /// Workday answered with a redirect, which the connector never follows
    /// (it could carry the credentials to another host).
    #[error("Workday answered {status} redirecting {what} to {location:?}; the connector does not follow redirects: check TenantHost (or BaseUrl) - it must be the tenant's API host, e.g. wd5-impl-services1.workday.com")]
    Redirect {
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The `Location` header, when present.
        location: String,
    },

    /// The answer was not what the API documents.
    #[error("Workday's answer to {what} could not be read: {why}")]
    BadResponse {
        /// The request.
        what: String,
        /// What is wrong with it.
        why: String,
    },

    /// A retryable failure persisted through every retry.
    #[error("{last} (gave up after {retries} retries)")]
    Exhausted {
        /// How many retries were made.
        retries: u32,
        /// The last failure.
        #[source]
        last: Box<WorkdayError>,
    },
}

/// What to do about a SOAP `Client` fault, by its code.
fn soap_client_hint(code: &str) -> &'static str {
    if code.contains("authentication") {
        "Check IsuUsername and the password stored at IsuPasswordRef (or, without IsuUsername, the API client's token): the integration system user must be active and not locked, and its password must not have expired"
    } else {
        "Check Api, WebServiceVersion and TenantName; if it persists, report it to the connector's maintainers with this message"
    }
}

fn fmt_retry_after(after: Option<Duration>) -> String {
    match after {
        Some(d) => format!(" (Workday asked to wait {} s)", d.as_secs()),
        None => String::new(),
    }
}

impl WorkdayError {
    /// The [`ErrorKind`] this failure is reported as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            WorkdayError::Cancelled => ErrorKind::Cancelled,
            WorkdayError::Transport { .. } => ErrorKind::Transport,
            WorkdayError::Throttled { .. } => ErrorKind::RateLimit,
            WorkdayError::RetryAfterTooLong { status, .. } => {
                if *status == 429 {
                    ErrorKind::RateLimit
                } else {
                    ErrorKind::Server
                }
            }
            WorkdayError::Server { .. } => ErrorKind::Server,
            WorkdayError::Forbidden { .. } | WorkdayError::SoapNotAuthorized { .. } => {
                ErrorKind::Permission
            }
            WorkdayError::SoapClientFault { code, .. } => {
                if code.contains("authentication") {
                    ErrorKind::Authentication
                } else {
                    ErrorKind::BadResponse
                }
            }
            WorkdayError::Unauthorized { .. } | WorkdayError::Token { .. } => {
                ErrorKind::Authentication
            }
            WorkdayError::NotFound { .. } | WorkdayError::Redirect { .. } => {
                ErrorKind::Configuration
            }
            WorkdayError::Rejected { .. } | WorkdayError::BadResponse { .. } => {
                ErrorKind::BadResponse
            }
            WorkdayError::Exhausted { last, .. } => last.kind(),
        }
    }

    /// How long Workday asked to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            WorkdayError::Throttled { retry_after, .. }
            | WorkdayError::Server { retry_after, .. } => *retry_after,
            WorkdayError::RetryAfterTooLong { wait, .. } => Some(*wait),
            WorkdayError::Exhausted { last, .. } => last.retry_after(),
            _ => None,
        }
    }

    /// Whether the retry loop may try this request again: 429, 500, 502,
    /// 503, 504 and network failures. (Whether a `Retry-After` fits the cap
    /// is decided by the retry loop.)
    pub fn is_transient(&self) -> bool {
        match self {
            WorkdayError::Transport { .. } | WorkdayError::Throttled { .. } => true,
            WorkdayError::Server { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The HTTP status behind this failure, when there is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            WorkdayError::Throttled { .. } => Some(429),
            WorkdayError::RetryAfterTooLong { status, .. }
            | WorkdayError::Server { status, .. }
            | WorkdayError::Token { status, .. }
            | WorkdayError::Rejected { status, .. }
            | WorkdayError::Redirect { status, .. } => Some(*status),
            WorkdayError::Forbidden { .. } => Some(403),
            WorkdayError::SoapClientFault { .. } | WorkdayError::SoapNotAuthorized { .. } => {
                Some(500)
            }
            WorkdayError::Unauthorized { .. } => Some(401),
            WorkdayError::NotFound { .. } => Some(404),
            WorkdayError::Exhausted { last, .. } => last.status(),
            WorkdayError::Cancelled
            | WorkdayError::Transport { .. }
            | WorkdayError::BadResponse { .. } => None,
        }
    }
}

impl From<WorkdayError> for ConnectorError {
    fn from(e: WorkdayError) -> Self {
        if matches!(e, WorkdayError::Cancelled) {
            return ConnectorError::cancelled();
        }
        let kind = e.kind();
        let mut out = ConnectorError::new(kind, e.to_string());
        if let Some(after) = e.retry_after() {
            out = out.with_retry_after(after);
        }
        out.with_source(e)
    }
}

impl WorkdayError {
    /// This failure with `detail` (prefixed, or empty) as Workday's error
    /// text, for the variants that quote one; others are returned unchanged.
    pub(crate) fn with_detail(mut self, text: String) -> Self {
        match &mut self {
            WorkdayError::Server { detail, .. }
            | WorkdayError::Forbidden { detail, .. }
            | WorkdayError::Unauthorized { detail, .. }
            | WorkdayError::Token { detail, .. }
            | WorkdayError::NotFound { detail, .. }
            | WorkdayError::Rejected { detail, .. } => *detail = text,
            _ => {}
        }
        self
    }
}

/// The most characters of an OAuth2 `error` code quoted.
const MAX_CODE_CHARS: usize = 100;
/// The most characters of an OAuth2 `error_description` quoted.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// The two fields of an OAuth2 error answer (RFC 6749 §5.2) the connector
/// quotes: nothing else of a token endpoint's body is ever shown, since it
/// could echo the request and so the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthFields {
    /// `error`, e.g. `invalid_client`, clipped.
    pub(crate) code: Option<String>,
    /// `error_description`, clipped.
    pub(crate) description: Option<String>,
}

fn clip(text: &str, max: usize) -> String {
    let mut clipped: String = text.chars().take(max).collect();
    if clipped.len() < text.len() {
        clipped.push_str("...");
    }
    clipped
}

impl OAuthFields {
    /// The fields of `body` when it is an OAuth2 error: a JSON object with a
    /// string `error` or `error_description`. `None` otherwise.
    pub(crate) fn parse(body: &str) -> Option<Self> {
        let json: serde_json::Value = serde_json::from_str(body).ok()?;
        let field = |name: &str, max: usize| {
            json.get(name)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| clip(s, max))
        };
        let fields = Self {
            code: field("error", MAX_CODE_CHARS),
            description: field("error_description", MAX_DESCRIPTION_CHARS),
        };
        (fields.code.is_some() || fields.description.is_some()).then_some(fields)
    }
}

/// Workday's error text from a token endpoint's answer with `status`: its
/// OAuth2 `error` and `error_description` as `: Workday says "..."`; for a
/// body that is not an OAuth2 error, a note saying so (its content is never
/// quoted); empty for an empty body.
pub(crate) fn oauth_detail(status: u16, body: &str) -> String {
    match OAuthFields::parse(body) {
        Some(OAuthFields { code, description }) => {
            let parts: Vec<String> = code.into_iter().chain(description).collect();
            format!(": Workday says {:?}", parts.join("; "))
        }
        None if body.trim().is_empty() => String::new(),
        None => format!(
            " (the body of this {status} answer is not an OAuth error with \"error\" and \"error_description\", so it is not shown)"
        ),
    }
}

/// Formats Workday's error text from an error body, as `: Workday says "..."`,
/// or empty when the body holds nothing readable. Reads the REST shape
/// `{"error": "...", "errors": [{"error": "..."}]}` and the OAuth2 shape
/// `{"error": "...", "error_description": "..."}`; other bodies are quoted,
/// trimmed to 300 characters.
pub(crate) fn workday_detail(body: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(json) => {
            let mut parts: Vec<String> = Vec::new();
            if let Some(e) = json.get("error").and_then(|v| v.as_str()) {
                parts.push(e.to_string());
            }
            if let Some(d) = json.get("error_description").and_then(|v| v.as_str()) {
                parts.push(d.to_string());
            }
            if let Some(list) = json.get("errors").and_then(|v| v.as_array()) {
                for item in list {
                    let msg = item
                        .get("error")
                        .or_else(|| item.get("message"))
                        .and_then(|v| v.as_str());
                    if let Some(m) = msg {
                        if !parts.iter().any(|p| p == m) {
                            parts.push(m.to_string());
                        }
                    }
                }
            }
            parts.join("; ")
        }
        Err(_) => body.trim().to_string(),
    };
    if text.is_empty() {
        return String::new();
    }
    format!(": Workday says {:?}", clip(&text, MAX_DESCRIPTION_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_reads_rest_and_oauth_bodies() {
        assert_eq!(
            workday_detail(
                r#"{"error":"invalid request","errors":[{"error":"limit must be at most 100"}]}"#
            ),
            ": Workday says \"invalid request; limit must be at most 100\""
        );
        assert_eq!(
            workday_detail(r#"{"error":"invalid_client","error_description":"bad secret"}"#),
            ": Workday says \"invalid_client; bad secret\""
        );
        assert_eq!(workday_detail(""), "");
        assert_eq!(workday_detail("  oops "), ": Workday says \"oops\"");
        assert!(workday_detail(&"x".repeat(1000)).ends_with("...\""));
    }

    #[test]
    fn oauth_detail_quotes_only_the_oauth_fields() {
        assert_eq!(
            oauth_detail(
                500,
                r#"{"error":"server_error","error_description":"try later","echo":"CANARY","errors":[{"error":"CANARY"}]}"#
            ),
            ": Workday says \"server_error; try later\""
        );
        assert_eq!(
            oauth_detail(503, r#"{"error_description":"down"}"#),
            ": Workday says \"down\""
        );
        for body in [
            "CANARY",
            r#"{"message":"CANARY"}"#,
            r#"{"error":{"x":"CANARY"}}"#,
            "[1]",
        ] {
            let d = oauth_detail(502, body);
            assert_eq!(d, " (the body of this 502 answer is not an OAuth error with \"error\" and \"error_description\", so it is not shown)", "{body}");
        }
        assert_eq!(oauth_detail(500, "  "), "");
        let long = OAuthFields::parse(&format!(r#"{{"error":"{}"}}"#, "e".repeat(500))).unwrap();
        assert_eq!(long.code.unwrap().len(), MAX_CODE_CHARS + 3);
    }

    #[test]
    fn kinds_and_conversion() {
        let e = WorkdayError::Throttled {
            what: "the workers page at offset 0".into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        assert!(e.is_transient());
        let c: ConnectorError = e.into();
        assert_eq!(c.kind(), ErrorKind::RateLimit);
        assert_eq!(c.retry_after(), Some(Duration::from_secs(5)));
        let c: ConnectorError = WorkdayError::Cancelled.into();
        assert_eq!(c.kind(), ErrorKind::Cancelled);
        let s = WorkdayError::Server {
            what: "w".into(),
            status: 501,
            detail: String::new(),
            retry_after: None,
        };
        assert!(!s.is_transient());
    }
}
