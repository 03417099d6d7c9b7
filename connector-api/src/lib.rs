//! The stable contract between an identity-mesh sync engine and its connectors.
//!
//! A connector imports objects and changes from one source (Workday, AD, ...).
//! The engine:
//!
//! 1. holds a [`ConnectorFactory`] and calls [`ConnectorFactory::validate`] with the
//!    connector's `configJson` and auth material (a secret reference), passing a
//!    [`SecretResolver`]; it gets a ready [`Connector`] or a readable
//!    [`ConnectorError`];
//! 2. may call [`Connector::check`] (health checks) and [`Connector::schema`];
//! 3. calls [`Connector::import`] with an [`ImportRequest`] (mode and the last
//!    committed watermark), a [`ChangeSink`] the connector streams [`Change`]s
//!    into page by page, and a [`RunContext`] (cancellation and live metrics);
//! 4. commits [`ImportOutcome::committable_watermark`] only after applying every
//!    change of a successful run. A failed or cancelled run returns an error and
//!    no watermark; a run with per-record errors returns no watermark either.
//!
//! Watermarks are opaque strings to the engine; only the connector reads them.
//!
//! With the `contract` feature, [`contract`] holds the shared test kit every
//! connector and fake-source pair must pass.
//!
//! ```
//! use connector_api::{Change, ChangeKind, Value};
//! let mut c = Change::new("User", "3aa5550b7fe348b98d7b5741afc65534", ChangeKind::Delete);
//! c.attributes.insert("IsDeleted".into(), Value::Bool(true));
//! let json = serde_json::to_string(&c).unwrap();
//! assert_eq!(json, r#"{"objectType":"User","changeType":"Delete","externalId":"3aa5550b7fe348b98d7b5741afc65534","attributes":{"IsDeleted":true}}"#);
//! ```

mod attributes;
mod change;
mod connector;
mod error;
mod health;
mod import;
mod schema;
mod secret;
mod text;

#[cfg(feature = "contract")]
pub mod contract;
pub mod plugin;

pub use attributes::Iter as AttributesIter;
pub use change::{Attributes, Change, ChangeKind, ChangeParseError, Value};
pub use connector::{Connector, ConnectorFactory, ConnectorInfo};
pub use error::{ConfigProblem, ConnectorError, ErrorKind};
pub use health::HealthCheck;
pub use import::{
    ChangeSink, Counts, ImportMode, ImportOutcome, ImportRequest, KindCounts, MetricsSnapshot,
    RecordError, RunContext, RunMetrics, VecSink,
};
pub use schema::{AttributeSchema, ObjectTypeSchema, Schema, ValueKind};
pub use secret::{
    secret_references_in, SecretError, SecretRef, SecretResolver, StaticSecrets, SECRET_SCHEME,
};

/// Re-exported so connectors and engines use the same secret type.
pub use secrecy;
pub use text::Text;
/// Re-exported so engines can build a [`RunContext`] from their own token.
pub use tokio_util::sync::CancellationToken;
