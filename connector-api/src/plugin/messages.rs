//! The protocol's messages: one JSON object per line, tagged by `"type"`.
//!
//! [`EngineMessage`] flows from the engine to the plugin (on the plugin's
//! stdin), [`PluginMessage`] from the plugin to the engine (on its stdout).
//! Field names are camelCase; unknown fields are ignored (in every message,
//! and in the changes, outcomes, errors and schemas they carry), so a peer may
//! add optional fields without a new protocol version. An error kind this
//! build does not know reads as [`ErrorKind::Unknown`](crate::ErrorKind),
//! keeping its name.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{
    ConnectorError, ConnectorInfo, HealthCheck, ImportMode, ImportOutcome, MetricsSnapshot, Schema,
    SecretError,
};

/// The version of the plugin protocol this crate speaks. Engine and plugin
/// must speak the same version; see `docs/plugin-protocol.md` for the rule.
pub const PROTOCOL_VERSION: u32 = 1;

/// How many pages a plugin may have sent and not yet had acknowledged, unless
/// the engine asks otherwise in [`EngineMessage::Import`].
pub const DEFAULT_WINDOW: u32 = 8;

/// A message from the engine to the plugin.
///
/// ```
/// use connector_api::plugin::EngineMessage;
/// let hello = EngineMessage::Hello { protocol_version: 1 };
/// assert_eq!(serde_json::to_string(&hello).unwrap(), r#"{"type":"hello","protocolVersion":1}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EngineMessage {
    /// The first message: the protocol version the engine speaks. The plugin
    /// answers [`PluginMessage::Hello`], or [`PluginMessage::Error`] and exits
    /// when it does not speak that version.
    Hello {
        /// The engine's [`PROTOCOL_VERSION`].
        protocol_version: u32,
    },
    /// Asks for the connector's schema; answered by [`PluginMessage::Schema`].
    Schema,
    /// Validates a configuration into a ready connector; answered by
    /// [`PluginMessage::Validated`] or [`PluginMessage::Error`].
    Validate {
        /// The connector's `configJson`, as a string.
        config: String,
        /// The auth material (usually a `secret://` reference).
        auth_material: String,
        /// Every secret the connector may resolve, already resolved by the
        /// engine: the auth material and each `secret://` string in the config.
        #[serde(default)]
        secrets: SecretValues,
        /// References the engine could not resolve, and why.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        secret_errors: BTreeMap<String, WireSecretError>,
        /// Set by an engine that understands a `validated` listing `secrets`
        /// (sent only to a plugin whose `hello` said `listsSecrets`): when
        /// the configuration needs a secret this message carries neither in
        /// `secrets` nor in `secretErrors`, the plugin builds no connector and
        /// answers `validated` listing every secret it needs, and the engine
        /// sends `validate` again with exactly those.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        list_secrets: bool,
    },
    /// Runs the health checks; answered by [`PluginMessage::Checks`].
    Check,
    /// Runs one import: [`PluginMessage::Page`]s (and maybe
    /// [`PluginMessage::Metrics`]), then [`PluginMessage::Result`] or
    /// [`PluginMessage::Error`].
    Import {
        /// Full or delta.
        mode: ImportMode,
        /// The last committed watermark.
        #[serde(default)]
        watermark: Option<String>,
        /// The most pages the plugin may have sent and not had acknowledged.
        #[serde(default = "default_window")]
        window: u32,
    },
    /// Acknowledges the oldest unacknowledged page: the engine applied it (or,
    /// after a cancel or a failure, discarded it). Every page gets exactly one.
    Ack {
        /// Set when the engine's sink refused the page: the plugin's sink
        /// returns this error to the connector, which ends the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ConnectorError>,
    },
    /// Cancels the running import. The plugin stops at the connector's next
    /// check and ends the run with an `error` of kind `Cancelled`.
    Cancel,
}

fn default_window() -> u32 {
    DEFAULT_WINDOW
}

/// A message from the plugin to the engine.
///
/// Fields this build does not know are ignored, so a newer plugin may add
/// optional ones:
///
/// ```
/// use connector_api::plugin::PluginMessage;
/// let m: PluginMessage =
///     serde_json::from_str(r#"{"type":"validated","addedLater":1}"#).unwrap();
/// assert_eq!(m, PluginMessage::Validated { schema: None, secrets: None });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum PluginMessage {
    /// The answer to [`EngineMessage::Hello`].
    Hello {
        /// The plugin's [`PROTOCOL_VERSION`].
        protocol_version: u32,
        /// Who the connector is and what it can do.
        connector: ConnectorInfo,
        /// The plugin answers a `validate` with `listSecrets` set as that
        /// field says. Optional: an older plugin does not, and gets every
        /// secret the configuration names in one `validate`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lists_secrets: bool,
    },
    /// The answer to [`EngineMessage::Schema`].
    Schema {
        /// The connector's schema.
        schema: Schema,
    },
    /// The answer to a successful [`EngineMessage::Validate`].
    Validated {
        /// The schema of the connector as configured (e.g. `User` anchored on
        /// `employeeNumber` rather than `id`), when it differs from the
        /// plugin's `schema` answer or the plugin says it anyway. Optional:
        /// when absent, the engine uses the `schema` answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<Schema>,
        /// The answer to a `validate` with `listSecrets`: every secret
        /// reference the configured connector needs, defaults included. When
        /// one of them was in neither `secrets` nor `secretErrors` of the
        /// `validate`, no connector was built: the engine sends `validate`
        /// again with them. Optional: absent from an older plugin's answer
        /// (whose connector is then ready).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secrets: Option<Vec<String>>,
    },
    /// The answer to [`EngineMessage::Check`].
    Checks {
        /// Every check, passed or failed.
        checks: Vec<HealthCheck>,
    },
    /// One page of changes of the running import, in their JSON form (typed
    /// by the engine with the schema). The engine answers each with an
    /// [`EngineMessage::Ack`].
    Page {
        /// The changes, each `{objectType, changeType, externalId, attributes}`.
        changes: Vec<serde_json::Value>,
        /// The run's counters so far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<MetricsSnapshot>,
    },
    /// The run's counters so far (sent when they change; also a sign of life).
    Metrics {
        /// The counters.
        metrics: MetricsSnapshot,
    },
    /// The import ended without failing.
    Result {
        /// How it ended.
        outcome: ImportOutcome,
        /// The run's final counters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<MetricsSnapshot>,
    },
    /// The request failed (any request; for an import, the run yields no watermark).
    Error {
        /// The error, on both axes.
        error: ConnectorError,
        /// For an import: the run's final counters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metrics: Option<MetricsSnapshot>,
    },
}

impl PluginMessage {
    /// The message's `"type"`, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            PluginMessage::Hello { .. } => "hello",
            PluginMessage::Schema { .. } => "schema",
            PluginMessage::Validated { .. } => "validated",
            PluginMessage::Checks { .. } => "checks",
            PluginMessage::Page { .. } => "page",
            PluginMessage::Metrics { .. } => "metrics",
            PluginMessage::Result { .. } => "result",
            PluginMessage::Error { .. } => "error",
        }
    }
}

/// Resolved secret values keyed by their `secret://` reference, as carried by
/// [`EngineMessage::Validate`]. Debug output shows the references only.
///
/// ```
/// use connector_api::plugin::SecretValues;
/// let mut s = SecretValues::default();
/// s.insert("secret://a/b", "hunter2".to_string().into());
/// assert!(!format!("{s:?}").contains("hunter2"));
/// assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"secret://a/b":"hunter2"}"#);
/// ```
#[derive(Clone, Default)]
pub struct SecretValues(BTreeMap<String, SecretString>);

impl SecretValues {
    /// Adds or replaces a value.
    pub fn insert(&mut self, reference: impl Into<String>, value: SecretString) {
        self.0.insert(reference.into(), value);
    }

    /// The value of `reference`, if present.
    pub fn get(&self, reference: &str) -> Option<&SecretString> {
        self.0.get(reference)
    }

    /// The references held, in order.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// How many values are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretValues")
            .field("references", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PartialEq for SecretValues {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|((ka, va), (kb, vb))| ka == kb && va.expose_secret() == vb.expose_secret())
    }
}

impl Serialize for SecretValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v.expose_secret())))
    }
}

impl<'de> Deserialize<'de> for SecretValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let plain = BTreeMap::<String, String>::deserialize(deserializer)?;
        Ok(Self(
            plain
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        ))
    }
}

/// The JSON form of a [`SecretError`]: why the engine could not resolve a
/// reference (never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireSecretError {
    /// `Malformed`, `NotFound` or `Store`.
    pub kind: String,
    /// What is wrong, where the resolver looked, or what failed.
    pub detail: String,
}

impl WireSecretError {
    /// The wire form of `e`.
    pub fn from_error(e: &SecretError) -> Self {
        let (kind, detail) = match e {
            SecretError::Malformed { why, .. } => ("Malformed", why),
            SecretError::NotFound { looked_in, .. } => ("NotFound", looked_in),
            SecretError::Store { why, .. } => ("Store", why),
        };
        Self {
            kind: kind.to_string(),
            detail: detail.clone(),
        }
    }

    /// The [`SecretError`] for `reference` this describes (an unknown kind
    /// reads as `Store`).
    pub fn to_error(&self, reference: &str) -> SecretError {
        let reference = reference.to_string();
        match self.kind.as_str() {
            "Malformed" => SecretError::malformed(&reference, &self.detail),
            "NotFound" => SecretError::NotFound {
                reference,
                looked_in: self.detail.clone(),
            },
            _ => SecretError::Store {
                reference,
                why: self.detail.clone(),
            },
        }
    }
}

/// The borrowed form of a page message, written without copying the changes.
#[derive(Serialize)]
pub(crate) struct PageOut<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) changes: &'a [crate::Change],
    pub(crate) metrics: MetricsSnapshot,
}
