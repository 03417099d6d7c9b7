//! Shared by the plugin tests: the in-memory connector of
//! `contract_example.rs`, given a factory (with configuration and secrets)
//! so that it can be served over the plugin protocol.

#![allow(clippy::unwrap_used, dead_code)] // test helpers outside #[test] fns

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use connector_api::contract::ContractFixture;
use connector_api::plugin::{serve, PluginFactory, PluginOptions, PluginTransport};
use connector_api::secrecy::ExposeSecret;
use connector_api::*;

#[derive(Debug, Clone)]
pub struct Obj {
    pub id: String,
    pub name: String,
    pub updated: u64,
    pub deleted: bool,
}

/// The fake source: objects with a logical update clock.
#[derive(Debug, Default)]
pub struct MemorySource {
    pub objects: Mutex<Vec<Obj>>,
    pub clock: AtomicU64,
    pub broken: AtomicBool,
    /// Pages the connector has handed to its sink and had accepted.
    pub delivered: AtomicU64,
    /// Slows each page down (to cancel mid-run).
    pub page_delay_ms: AtomicU64,
}

impl MemorySource {
    pub fn with_objects(n: usize) -> Arc<Self> {
        let source = Arc::new(Self::default());
        for i in 0..n {
            let updated = source.tick();
            source.objects.lock().unwrap().push(Obj {
                id: format!("obj-{i:03}"),
                name: format!("Object {i}"),
                updated,
                deleted: false,
            });
        }
        source
    }

    pub fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn page(&self, since: u64, offset: usize, limit: usize) -> Result<Vec<Obj>, ConnectorError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(ConnectorError::new(
                ErrorKind::Server,
                "the memory source is down",
            ));
        }
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .iter()
            .filter(|o| o.updated >= since)
            .skip(offset)
            .take(limit)
            .cloned()
            .collect())
    }
}

#[derive(Debug)]
pub struct MemoryConnector {
    pub source: Arc<MemorySource>,
    pub page_size: usize,
}

pub fn schema() -> Schema {
    Schema {
        object_types: vec![ObjectTypeSchema {
            name: "Thing".into(),
            anchor: "id".into(),
            attributes: vec![
                AttributeSchema::new("name", ValueKind::String, "display name"),
                AttributeSchema::new("IsDeleted", ValueKind::Bool, "gone at the source"),
            ],
        }],
    }
}

fn parse_watermark(w: Option<&str>) -> Result<u64, ConnectorError> {
    match w {
        None | Some("") => Ok(0),
        Some(w) => w
            .strip_prefix("tick:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                ConnectorError::new(ErrorKind::Watermark, format!("unreadable watermark {w:?}"))
            }),
    }
}

#[async_trait]
impl Connector for MemoryConnector {
    fn schema(&self) -> Schema {
        schema()
    }

    async fn check(&self) -> Vec<HealthCheck> {
        vec![match self.source.page(0, 0, 1) {
            Ok(_) => HealthCheck::pass("list", "Successfully listed objects"),
            Err(e) => HealthCheck::fail("list", e.to_string()),
        }]
    }

    async fn import(
        &self,
        request: ImportRequest,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        let since = match request.mode {
            ImportMode::Full => 0,
            ImportMode::Delta => parse_watermark(request.watermark.as_deref())?,
        };
        let mut outcome = ImportOutcome::default();
        let mut newest = since;
        let mut offset = 0;
        loop {
            if ctx.is_cancelled() {
                return Err(ConnectorError::cancelled());
            }
            let delay = self.source.page_delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            ctx.metrics().add_request();
            let page = self.source.page(since, offset, self.page_size)?;
            if page.is_empty() {
                break;
            }
            offset += page.len();
            let records = page.len() as u64;
            let changes: Vec<Change> = page
                .into_iter()
                .map(|o| {
                    newest = newest.max(o.updated);
                    let kind = if o.deleted {
                        ChangeKind::Delete
                    } else {
                        ChangeKind::Upsert
                    };
                    let mut c = Change::new("Thing", o.id, kind);
                    c.attributes
                        .insert("name".into(), Value::String(o.name.into()));
                    c.attributes
                        .insert("IsDeleted".into(), Value::Bool(o.deleted));
                    outcome.counts.add("Thing", kind);
                    c
                })
                .collect();
            if ctx.is_cancelled() {
                return Err(ConnectorError::cancelled());
            }
            sink.apply(changes).await?;
            self.source.delivered.fetch_add(1, Ordering::SeqCst);
            ctx.metrics().add_page(records);
        }
        outcome.complete = request.mode == ImportMode::Full;
        outcome.watermark = Some(format!("tick:{newest}"));
        Ok(outcome)
    }
}

pub const AUTH: &str = "secret://memory/test/password";
pub const AUTH_VALUE: &str = "hunter2";
pub const TOKEN: &str = "secret://memory/test/token";
pub const TOKEN_VALUE: &str = "t0ken-value";

/// The configuration the memory factory accepts.
pub fn config(page_size: usize) -> String {
    serde_json::json!({ "PageSize": page_size, "Nested": { "TokenRef": TOKEN } }).to_string()
}

pub fn engine_secrets() -> StaticSecrets {
    StaticSecrets::new()
        .with(AUTH, AUTH_VALUE)
        .with(TOKEN, TOKEN_VALUE)
}

/// Validates `{"PageSize": n, "Nested": {"TokenRef": "secret://..."}}` and
/// insists on both secrets having their expected values.
#[derive(Debug, Clone)]
pub struct MemoryFactory {
    pub source: Arc<MemorySource>,
}

#[async_trait]
impl ConnectorFactory for MemoryFactory {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            name: "memory".into(),
            version: "1.2.3".into(),
            object_types: vec!["Thing".into()],
            modes: vec![ImportMode::Full, ImportMode::Delta],
        }
    }

    fn schema(&self) -> Schema {
        schema()
    }

    async fn validate(
        &self,
        config_json: &str,
        auth_material: &str,
        secrets: &dyn SecretResolver,
    ) -> Result<Box<dyn Connector>, ConnectorError> {
        let config: serde_json::Value = serde_json::from_str(config_json).map_err(|e| {
            ConnectorError::configuration(vec![ConfigProblem {
                key: "configJson".into(),
                message: e.to_string(),
            }])
        })?;
        let mut problems = Vec::new();
        let page_size = config["PageSize"].as_u64().unwrap_or(0) as usize;
        if !(1..=100).contains(&page_size) {
            problems.push(ConfigProblem {
                key: "PageSize".into(),
                message: format!("must be between 1 and 100, got {}", config["PageSize"]),
            });
        }
        if !problems.is_empty() {
            return Err(ConnectorError::configuration(problems));
        }
        let resolve = |r: &str| {
            let r = r.to_string();
            async move {
                let reference: SecretRef = r.parse().map_err(|e: SecretError| {
                    ConnectorError::new(ErrorKind::Secret, e.to_string())
                })?;
                secrets
                    .resolve(&reference)
                    .await
                    .map_err(|e| ConnectorError::new(ErrorKind::Secret, e.to_string()))
            }
        };
        let auth = resolve(auth_material).await?;
        let token = resolve(config["Nested"]["TokenRef"].as_str().unwrap_or("")).await?;
        if auth.expose_secret() != AUTH_VALUE || token.expose_secret() != TOKEN_VALUE {
            return Err(ConnectorError::new(
                ErrorKind::Secret,
                "the secrets arrived with the wrong values",
            ));
        }
        Ok(Box::new(MemoryConnector {
            source: self.source.clone(),
            page_size,
        }))
    }
}

/// A plugin factory whose sessions are `serve` tasks over in-memory pipes.
pub async fn duplex_plugin(source: Arc<MemorySource>, options: PluginOptions) -> PluginFactory {
    PluginFactory::connect(
        "memory-over-duplex",
        move || {
            let (engine_end, plugin_end) = tokio::io::duplex(64 * 1024);
            let (plugin_read, plugin_write) = tokio::io::split(plugin_end);
            let (engine_read, engine_write) = tokio::io::split(engine_end);
            let factory = MemoryFactory {
                source: source.clone(),
            };
            tokio::spawn(async move {
                if let Err(e) = serve(factory, plugin_read, plugin_write).await {
                    eprintln!("memory plugin stopped: {e}");
                }
            });
            Ok(PluginTransport::new(engine_read, engine_write))
        },
        options,
    )
    .await
    .unwrap()
}

/// The contract fixture whose connector goes through the protocol.
pub struct PluginFixture {
    pub source: Arc<MemorySource>,
    pub factory: PluginFactory,
    pub page_size: usize,
}

#[async_trait]
impl ContractFixture for PluginFixture {
    async fn connector(&self) -> Box<dyn Connector> {
        self.factory
            .validate(&config(self.page_size), AUTH, &engine_secrets())
            .await
            .unwrap()
    }

    async fn delete_one(&self) -> (String, String) {
        let updated = self.source.tick();
        let mut objects = self.source.objects.lock().unwrap();
        let victim = objects.iter_mut().find(|o| !o.deleted).unwrap();
        victim.deleted = true;
        victim.updated = updated;
        ("Thing".into(), victim.id.clone())
    }

    async fn break_source(&self) {
        self.source.broken.store(true, Ordering::SeqCst);
    }

    async fn heal(&self) {
        self.source.broken.store(false, Ordering::SeqCst);
    }
}
