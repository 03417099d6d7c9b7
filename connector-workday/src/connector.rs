//! The `connector-api` implementations: [`WorkdayFactory`] validates a
//! configuration into a [`WorkdayConnector`], which checks health and runs
//! imports.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use connector_api::{
    ChangeSink, ConfigProblem, Connector, ConnectorError, ConnectorFactory, ConnectorInfo,
    ErrorKind, HealthCheck, ImportMode, ImportOutcome, ImportRequest, RunContext, Schema,
    SecretRef, SecretResolver,
};
use secrecy::{ExposeSecret, SecretString};

use crate::client::{Http, WorkdayClient};
use crate::config::{Api, ExternalIdAttribute, GrantType, WorkdayConfig};
use crate::ratelimit::RequestLimiter;
use crate::retry::{RetryPolicy, Sleeper, TokioSleeper};
use crate::run::{run_import, RunSettings};
use crate::soap::SoapSettings;
use crate::token::{Credentials, TokenProvider};

/// The connector's stable name.
pub const NAME: &str = "workday";

/// Builds Workday connectors. Holds no tenant state: every
/// [`ConnectorFactory::validate`] yields an independent connector.
///
/// ```
/// use std::sync::Arc;
/// use connector_workday::retry::{RecordingSleeper, RetryPolicy};
/// use connector_workday::WorkdayFactory;
/// let sleeper = RecordingSleeper::new();
/// let factory = WorkdayFactory::new()
///     .with_sleeper(Arc::new(sleeper.clone()))
///     .with_retry_policy(RetryPolicy::exact());
/// # let _ = factory;
/// ```
#[derive(Debug, Clone)]
pub struct WorkdayFactory {
    sleeper: Arc<dyn Sleeper>,
    retry: RetryPolicy,
    request_timeout: Option<Duration>,
    max_response_bytes: usize,
    spill: (usize, Option<PathBuf>),
}

impl Default for WorkdayFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkdayFactory {
    /// A factory with the production behaviour: tokio sleeps, the default
    /// [`RetryPolicy`] (3 retries, 1 s doubling, jitter, 30 s cap), and
    /// `RequestTimeoutSeconds` from the configuration.
    pub fn new() -> Self {
        Self {
            sleeper: Arc::new(TokioSleeper),
            retry: RetryPolicy::default(),
            request_timeout: None,
            max_response_bytes: crate::client::MAX_RESPONSE_BYTES,
            spill: (crate::seen::SPILL_AT, None),
        }
    }

    /// Replaces how back-off delays are slept (tests pass a
    /// [`RecordingSleeper`](crate::retry::RecordingSleeper)).
    #[must_use]
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Replaces the retry policy (e.g. [`RetryPolicy::exact`] for exact delays).
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Overrides `RequestTimeoutSeconds` with a finer duration (tests).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Overrides the response size limit, [`MAX_RESPONSE_BYTES`](crate::MAX_RESPONSE_BYTES)
    /// (tests, so that they need not send 64 MiB).
    #[must_use]
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Overrides how many ids a read keeps in memory (131,072) before it
    /// writes the rest to temporary files, and where those go (`None`:
    /// `TMPDIR` or the system's temporary directory). Tests, so that they
    /// need not read 131,072 records.
    #[must_use]
    pub fn with_id_spill(mut self, in_memory: usize, dir: Option<PathBuf>) -> Self {
        self.spill = (in_memory, dir);
        self
    }

    /// Like [`ConnectorFactory::validate`], returning the concrete connector.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`] listing every configuration problem by key
    /// (hosts the secret may not go to included), or [`ErrorKind::Secret`]
    /// when a secret reference is malformed, cannot be resolved, or is empty.
    /// No request is made to Workday.
    pub async fn connect(
        &self,
        config_json: &str,
        auth_material: &str,
        secrets: &dyn SecretResolver,
    ) -> Result<WorkdayConnector, ConnectorError> {
        let config = WorkdayConfig::parse(config_json).map_err(ConnectorError::configuration)?;
        // With a UsernameToken no OAuth token is ever requested: the ISU's
        // password is the only secret, and AuthMaterial is not read.
        let isu = match (&config.isu_username, &config.isu_password_ref) {
            (Some(user), Some(r)) if config.uses_username_token() => {
                let reference = parse_ref("IsuPasswordRef", r)?;
                let password = resolve(secrets, "IsuPasswordRef", &reference).await?;
                Some((user.clone(), password))
            }
            _ => None,
        };
        let (secret_ref, client_secret, refresh_ref, refresh_token) = if isu.is_some() {
            (None, SecretString::from(String::new()), None, None)
        } else {
            let secret_ref = parse_auth_material(&config, auth_material)?;
            let refresh_ref = match (&config.grant_type, &config.refresh_token_ref) {
                (GrantType::RefreshToken, Some(r)) => Some(parse_ref("RefreshTokenRef", r)?),
                _ => None,
            };
            let client_secret = resolve(secrets, "AuthMaterial", &secret_ref).await?;
            let refresh_token = match &refresh_ref {
                Some(r) => Some(resolve(secrets, "RefreshTokenRef", r).await?),
                None => None,
            };
            (Some(secret_ref), client_secret, refresh_ref, refresh_token)
        };
        let timeout = self.request_timeout.unwrap_or(config.request_timeout);
        let http_client = Http::build_client(timeout).map_err(|e| {
            ConnectorError::new(
                ErrorKind::Configuration,
                format!("the HTTP client could not be built ({e}); check the machine's TLS setup"),
            )
        })?;
        let endpoints = config.endpoints();
        let credentials = Credentials {
            client_id: config.client_id.clone().unwrap_or_default(),
            client_secret,
            grant: config.grant_type,
            refresh_token,
            secret_ref: secret_ref.map(|r| r.to_string()).unwrap_or_default(),
            refresh_token_ref: refresh_ref.map(|r| r.to_string()),
        };
        let token = TokenProvider::new(endpoints.token_url(), config.realm.clone(), credentials);
        let client = WorkdayClient {
            http: Arc::new(Http {
                client: http_client,
                limiter: RequestLimiter::per_hour(config.max_requests_per_hour),
                retry: self.retry,
                sleeper: Arc::clone(&self.sleeper),
                timeout,
                max_body: self.max_response_bytes,
            }),
            soap: (config.api == Api::Soap).then(|| {
                Arc::new(SoapSettings {
                    url: endpoints.soap_url(&config.web_service_version),
                    version: config.web_service_version.clone(),
                    isu,
                })
            }),
            endpoints,
            token: Arc::new(token),
        };
        let settings = RunSettings {
            page_size: config.page_size,
            concurrency: config.max_concurrent_requests,
            overlap: config.delta_overlap,
            external_id: config.external_id_attribute,
            import_workers: config.import_workers,
            import_organizations: config.import_organizations,
            policy: self.retry,
            api: config.api,
            spill: self.spill.clone(),
        };
        Ok(WorkdayConnector {
            schema: crate::schema::schema(config.external_id_attribute),
            client: Arc::new(client),
            settings,
            config,
        })
    }
}

fn parse_ref(key: &str, raw: &str) -> Result<SecretRef, ConnectorError> {
    let example = match key {
        "RefreshTokenRef" => "refreshtoken",
        "IsuPasswordRef" => "isupassword",
        _ => "clientsecret",
    };
    raw.trim().parse::<SecretRef>().map_err(|e| {
        ConnectorError::new(
            ErrorKind::Secret,
            format!(
                "{key}: {e}; expected a reference such as secret://workday/<TenantName>/{example}"
            ),
        )
    })
}

fn parse_auth_material(config: &WorkdayConfig, raw: &str) -> Result<SecretRef, ConnectorError> {
    let expected = config.expected_secret_ref();
    if raw.trim().is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Secret,
            format!("AuthMaterial: is empty; set it to the client secret's reference {expected}"),
        ));
    }
    let reference = raw.trim().parse::<SecretRef>().map_err(|e| {
        ConnectorError::new(
            ErrorKind::Secret,
            format!("AuthMaterial: {e}; set it to {expected}"),
        )
    })?;
    if let [first, tenant, last] = reference.segments() {
        if first == "workday" && last == "clientsecret" && tenant != &config.tenant_name {
            return Err(ConnectorError::configuration(vec![ConfigProblem {
                key: "AuthMaterial".into(),
                message: format!(
                    "{reference} is the client secret of tenant {tenant:?}, but TenantName is {:?}; set it to {expected}",
                    config.tenant_name
                ),
            }]));
        }
    }
    Ok(reference)
}

async fn resolve(
    secrets: &dyn SecretResolver,
    key: &str,
    reference: &SecretRef,
) -> Result<SecretString, ConnectorError> {
    let value = secrets.resolve(reference).await.map_err(|e| {
        ConnectorError::new(
            ErrorKind::Secret,
            format!("{key}: {e}; store it with: secretscli set {reference} \"<the value>\""),
        )
        .with_source(e)
    })?;
    if value.expose_secret().trim().is_empty() {
        return Err(ConnectorError::new(
            ErrorKind::Secret,
            format!("{key}: the secret {reference} is empty; store the value with: secretscli set {reference} \"<the value>\""),
        ));
    }
    Ok(value)
}

#[async_trait]
impl ConnectorFactory for WorkdayFactory {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            object_types: vec!["OrgUnit".into(), "User".into()],
            modes: vec![ImportMode::Full, ImportMode::Delta],
        }
    }

    fn schema(&self) -> Schema {
        crate::schema::schema(ExternalIdAttribute::Id)
    }

    async fn validate(
        &self,
        config_json: &str,
        auth_material: &str,
        secrets: &dyn SecretResolver,
    ) -> Result<Box<dyn Connector>, ConnectorError> {
        let connector = self.connect(config_json, auth_material, secrets).await?;
        Ok(Box::new(connector))
    }

    /// Exactly what [`WorkdayFactory::connect`] resolves: with a
    /// UsernameToken (`Api` Soap and `IsuUsername`) the ISU password at
    /// `IsuPasswordRef`, defaulted to `secret://workday/{TenantName}/isupassword`,
    /// and nothing else; otherwise the client secret at the auth material
    /// and, for `GrantType` `refresh_token`, `RefreshTokenRef`.
    fn secret_references(
        &self,
        config_json: &str,
        auth_material: &str,
    ) -> Result<Vec<SecretRef>, ConnectorError> {
        let config = WorkdayConfig::parse(config_json).map_err(ConnectorError::configuration)?;
        let raw: Vec<&str> = match (&config.isu_password_ref, &config.refresh_token_ref) {
            (Some(isu), _) if config.uses_username_token() => vec![isu.as_str()],
            (_, Some(r)) if config.grant_type == GrantType::RefreshToken => {
                vec![auth_material, r.as_str()]
            }
            _ => vec![auth_material],
        };
        // A malformed reference is left to `connect` to report.
        Ok(raw
            .iter()
            .filter_map(|r| r.trim().parse::<SecretRef>().ok())
            .collect())
    }
}

/// A configured Workday connector. Its access token and request budget are
/// shared by all its runs (and health checks).
pub struct WorkdayConnector {
    client: Arc<WorkdayClient>,
    settings: RunSettings,
    schema: Schema,
    config: WorkdayConfig,
}

impl fmt::Debug for WorkdayConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkdayConnector")
            .field("tenant", &self.config.tenant_name)
            .field("base_url", &self.config.base_url.as_str())
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl WorkdayConnector {
    /// The validated configuration.
    pub fn config(&self) -> &WorkdayConfig {
        &self.config
    }
}

#[async_trait]
impl Connector for WorkdayConnector {
    fn schema(&self) -> Schema {
        self.schema.clone()
    }

    async fn check(&self) -> Vec<HealthCheck> {
        crate::health::run_checks(
            &self.client,
            self.settings.import_workers,
            self.settings.import_organizations,
        )
        .await
    }

    async fn import(
        &self,
        request: ImportRequest,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        let mode = request.mode;
        let mut result = run_import(&self.client, &self.settings, request, sink, ctx).await;
        if let Some(warning) = self.client.token.rotation_warning() {
            match &mut result {
                Ok(outcome) => outcome.warnings.push(warning),
                Err(_) => tracing::warn!(tenant = %self.config.tenant_name, "{warning}"),
            }
        }
        match &result {
            Ok(o) => tracing::info!(
                tenant = %self.config.tenant_name,
                %mode,
                changes = o.counts.total(),
                record_errors = o.record_errors.len(),
                complete = o.complete,
                "Workday import finished"
            ),
            Err(e) => {
                tracing::warn!(tenant = %self.config.tenant_name, %mode, error = %e, "Workday import failed")
            }
        }
        result
    }
}
