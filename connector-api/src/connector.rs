//! The connector lifecycle: validate a configuration into a ready connector,
//! then check its health, describe its schema and run imports.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;
use crate::health::HealthCheck;
use crate::import::{ChangeSink, ImportMode, ImportOutcome, ImportRequest, RunContext};
use crate::schema::Schema;
use crate::secret::{secret_references_in, SecretRef, SecretResolver};

/// Who a connector is and what it can do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorInfo {
    /// A stable name, e.g. `workday`.
    pub name: String,
    /// The connector's version.
    pub version: String,
    /// The object types it emits.
    pub object_types: Vec<String>,
    /// The import modes it supports.
    pub modes: Vec<ImportMode>,
}

/// Builds ready connectors from configuration. An engine holds one factory per
/// connector kind.
#[async_trait]
pub trait ConnectorFactory: Send + Sync {
    /// Who the connector is.
    fn info(&self) -> ConnectorInfo;

    /// The object types and attributes the connector emits. Needs no configuration.
    fn schema(&self) -> Schema;

    /// Validates `config_json` and `auth_material` (a secret reference string),
    /// resolves the secrets through `secrets`, and returns a connector ready to run.
    ///
    /// Makes no request to the source: [`Connector::check`] does that.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`](crate::ErrorKind::Configuration) listing
    /// every problem by key, or [`ErrorKind::Secret`](crate::ErrorKind::Secret)
    /// when a secret reference is malformed or cannot be resolved.
    async fn validate(
        &self,
        config_json: &str,
        auth_material: &str,
        secrets: &dyn SecretResolver,
    ) -> Result<Box<dyn Connector>, ConnectorError>;

    /// The secret references [`validate`](Self::validate) resolves for this
    /// configuration, defaults included, without resolving any: what a host
    /// must hand a connector that runs out of process (the plugin protocol's
    /// `validated` answer lists them). Malformed references are left out, for
    /// `validate` to report.
    ///
    /// The default is the auth material and every `secret://` string value
    /// in the configuration JSON ([`secret_references_in`]); a connector
    /// with a defaulted reference, or one that does not read the auth
    /// material in some configurations, overrides it.
    ///
    /// # Errors
    /// The configuration errors `validate` would report, so that a host sends
    /// no secret for a configuration that cannot be used.
    fn secret_references(
        &self,
        config_json: &str,
        auth_material: &str,
    ) -> Result<Vec<SecretRef>, ConnectorError> {
        Ok(secret_references_in(config_json, auth_material))
    }
}

/// A configured connector, ready to run.
#[async_trait]
pub trait Connector: Send + Sync + std::fmt::Debug {
    /// The object types and attributes this connector emits.
    fn schema(&self) -> Schema;

    /// Runs the connector's health checks against the source. Never fails as a
    /// whole: each check says whether it passed.
    async fn check(&self) -> Vec<HealthCheck>;

    /// Runs one import, streaming changes into `sink` page by page.
    ///
    /// The connector counts requests, retries and pages in `ctx.metrics()` and
    /// stops at its next check once `ctx` is cancelled.
    ///
    /// # Errors
    /// Any failure that ends the run; the run then yields no watermark, and the
    /// engine must keep the previous one. Per-record failures are not errors:
    /// they are listed in [`ImportOutcome::record_errors`].
    async fn import(
        &self,
        request: ImportRequest,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError>;
}
