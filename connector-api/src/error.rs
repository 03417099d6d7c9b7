//! Errors, classified on two axes: what failed, and whether a retry later can help.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What failed.
///
/// New kinds may be added without a new plugin protocol version, so the enum
/// is `#[non_exhaustive]`: a kind this build does not know (say, `SomethingNew`
/// from a newer plugin) reads as [`ErrorKind::Unknown`], and the
/// [`ConnectorError`] carrying it keeps the name it was sent with
/// ([`ConnectorError::kind_name`]), so nothing of the error is lost.
///
/// ```
/// use connector_api::ErrorKind;
/// assert_eq!(ErrorKind::from_name("RateLimit"), ErrorKind::RateLimit);
/// assert_eq!(ErrorKind::from_name("SomethingNew"), ErrorKind::Unknown);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is wrong (a key is missing, mistyped, out of range,
    /// or names a host the secret may not be sent to).
    Configuration,
    /// A secret reference is malformed or could not be resolved.
    Secret,
    /// The source refused the credentials.
    Authentication,
    /// The credentials are valid but lack a permission.
    Permission,
    /// The source throttled the connector beyond what its retry policy absorbs.
    RateLimit,
    /// The source failed (5xx).
    Server,
    /// The network failed: connect, reset, timeout.
    Transport,
    /// The source answered with something the connector could not read.
    BadResponse,
    /// One record could not be mapped. Reported per record in
    /// [`ImportOutcome::record_errors`](crate::ImportOutcome); the run goes on.
    BadRecord,
    /// The incoming watermark could not be read.
    Watermark,
    /// The run was cancelled.
    Cancelled,
    /// The engine's sink refused a change (e.g. its store failed).
    Sink,
    /// A kind this build does not know, sent by a newer peer; the error's
    /// [`ConnectorError::kind_name`] keeps the name it was sent with.
    /// Whether it is retryable is what the peer said.
    Unknown,
}

impl ErrorKind {
    /// Whether an error of this kind is, by default, worth retrying later
    /// without anyone changing anything (throttling, server and network faults).
    ///
    /// ```
    /// use connector_api::ErrorKind;
    /// assert!(ErrorKind::Server.retryable_by_default());
    /// assert!(!ErrorKind::Configuration.retryable_by_default());
    /// ```
    pub fn retryable_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimit | ErrorKind::Server | ErrorKind::Transport
        )
    }

    /// The kind's name as written in JSON, e.g. `RateLimit`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Configuration => "Configuration",
            ErrorKind::Secret => "Secret",
            ErrorKind::Authentication => "Authentication",
            ErrorKind::Permission => "Permission",
            ErrorKind::RateLimit => "RateLimit",
            ErrorKind::Server => "Server",
            ErrorKind::Transport => "Transport",
            ErrorKind::BadResponse => "BadResponse",
            ErrorKind::BadRecord => "BadRecord",
            ErrorKind::Watermark => "Watermark",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::Sink => "Sink",
            ErrorKind::Unknown => "Unknown",
        }
    }

    /// Every kind this build knows, except [`ErrorKind::Unknown`].
    pub const KNOWN: [ErrorKind; 12] = [
        ErrorKind::Configuration,
        ErrorKind::Secret,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::RateLimit,
        ErrorKind::Server,
        ErrorKind::Transport,
        ErrorKind::BadResponse,
        ErrorKind::BadRecord,
        ErrorKind::Watermark,
        ErrorKind::Cancelled,
        ErrorKind::Sink,
    ];

    /// The kind named `name` as written in JSON; [`ErrorKind::Unknown`] for
    /// a name this build does not know.
    pub fn from_name(name: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|k| k.as_str() == name)
            .unwrap_or(ErrorKind::Unknown)
    }
}

impl Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found while validating a configuration, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    /// The configuration key (e.g. `PageSize`), or `AuthMaterial`.
    pub key: String,
    /// What is wrong and what to do, e.g. `must be between 1 and 100, got 500`.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A connector error: its [`ErrorKind`], whether a retry later can help, and a
/// message an administrator can act on.
///
/// ```
/// use connector_api::{ConnectorError, ErrorKind};
/// let e = ConnectorError::new(ErrorKind::Server, "Workday answered 503 for the workers page at offset 200");
/// assert!(e.is_retryable());
/// assert_eq!(e.to_string(), "Server: Workday answered 503 for the workers page at offset 200");
/// ```
///
/// An error of a kind this build does not know keeps the name it was sent
/// with:
///
/// ```
/// use connector_api::{ConnectorError, ErrorKind};
/// let e: ConnectorError = serde_json::from_str(
///     r#"{"kind":"SomethingNew","retryable":true,"message":"the quota resets at noon"}"#,
/// ).unwrap();
/// assert_eq!(e.kind(), ErrorKind::Unknown);
/// assert_eq!(e.kind_name(), "SomethingNew");
/// assert!(e.is_retryable());
/// assert_eq!(e.to_string(), "SomethingNew: the quota resets at noon");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {}", kind_label(.kind, .unknown_kind), .message)]
pub struct ConnectorError {
    kind: ErrorKind,
    /// For [`ErrorKind::Unknown`]: the kind's name as it was sent.
    unknown_kind: Option<String>,
    retryable: bool,
    message: String,
    problems: Vec<ConfigProblem>,
    retry_after: Option<Duration>,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ConnectorError {
    /// An error of `kind`, retryable as [`ErrorKind::retryable_by_default`] says.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            unknown_kind: None,
            retryable: kind.retryable_by_default(),
            message: message.into(),
            problems: Vec::new(),
            retry_after: None,
            source: None,
        }
    }

    /// A configuration error listing every problem found, one per key.
    ///
    /// ```
    /// use connector_api::{ConfigProblem, ConnectorError};
    /// let e = ConnectorError::configuration(vec![
    ///     ConfigProblem { key: "PageSize".into(), message: "must be between 1 and 100, got 500".into() },
    /// ]);
    /// assert_eq!(e.to_string(), "Configuration: invalid configuration: PageSize: must be between 1 and 100, got 500");
    /// ```
    pub fn configuration(problems: Vec<ConfigProblem>) -> Self {
        let listed = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(
            ErrorKind::Configuration,
            format!("invalid configuration: {listed}"),
        );
        e.problems = problems;
        e
    }

    /// A cancelled-run error.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "the run was cancelled")
    }

    /// Overrides whether a retry later can help.
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Records how long the source asked the caller to wait.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The kind's name as written in JSON: for [`ErrorKind::Unknown`], the
    /// name the peer sent (e.g. `SomethingNew`).
    pub fn kind_name(&self) -> &str {
        kind_label(&self.kind, &self.unknown_kind)
    }

    /// Whether running again later, unchanged, can succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For configuration errors: each problem, naming its key.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    /// How long the source asked to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// The name shown for a kind: the sent name of an unknown one.
fn kind_label<'a>(kind: &ErrorKind, unknown: &'a Option<String>) -> &'a str {
    match (kind, unknown) {
        (ErrorKind::Unknown, Some(name)) => name,
        (kind, _) => kind.as_str(),
    }
}

/// The JSON form of a [`ConnectorError`] (its source is not carried).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireError {
    kind: String,
    retryable: bool,
    message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    problems: Vec<ConfigProblem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<f64>,
}

impl Serialize for ConnectorError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireError {
            kind: self.kind_name().to_string(),
            retryable: self.retryable,
            message: self.message.clone(),
            problems: self.problems.clone(),
            retry_after_seconds: self.retry_after.map(|d| d.as_secs_f64()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ConnectorError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let w = WireError::deserialize(deserializer)?;
        let kind = ErrorKind::from_name(&w.kind);
        Ok(Self {
            kind,
            unknown_kind: (kind == ErrorKind::Unknown).then_some(w.kind),
            retryable: w.retryable,
            message: w.message,
            problems: w.problems,
            // Saturating: a value too large for a Duration (e.g. a huge
            // Retry-After a server sent) must not panic the host.
            retry_after: w
                .retry_after_seconds
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)),
            source: None,
        })
    }
}

impl PartialEq for ConnectorError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.kind_name() == other.kind_name()
            && self.retryable == other.retryable
            && self.message == other.message
            && self.problems == other.problems
            && self.retry_after == other.retry_after
    }
}
