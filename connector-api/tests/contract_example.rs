//! A tiny in-memory connector and fake source that prove the contract kit
//! before any real connector relies on it, and show connector authors the
//! shape of an implementation.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_api::contract::{self, ContractFixture};
use connector_api::*;

#[derive(Debug, Clone)]
struct Obj {
    id: String,
    name: String,
    updated: u64,
    deleted: bool,
}

/// The fake source: objects with a logical update clock.
#[derive(Debug, Default)]
struct MemorySource {
    objects: Mutex<Vec<Obj>>,
    clock: AtomicU64,
    broken: AtomicBool,
}

impl MemorySource {
    fn with_objects(n: usize) -> Arc<Self> {
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

    fn tick(&self) -> u64 {
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

const PAGE: usize = 2;

#[derive(Debug)]
struct MemoryConnector {
    source: Arc<MemorySource>,
}

fn schema() -> Schema {
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

/// Watermark: `tick:N`, the newest update seen.
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
            ctx.metrics().add_request();
            let page = self.source.page(since, offset, PAGE)?;
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
            ctx.metrics().add_page(records);
        }
        outcome.complete = request.mode == ImportMode::Full;
        outcome.watermark = Some(format!("tick:{newest}"));
        Ok(outcome)
    }
}

struct MemoryFixture {
    source: Arc<MemorySource>,
}

#[async_trait]
impl ContractFixture for MemoryFixture {
    async fn connector(&self) -> Box<dyn Connector> {
        Box::new(MemoryConnector {
            source: self.source.clone(),
        })
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

#[tokio::test]
async fn the_memory_connector_passes_the_contract_kit() {
    let fixture = MemoryFixture {
        source: MemorySource::with_objects(7),
    };
    contract::run_all(&fixture).await;
}

// The kit must be able to fail: each broken connector below violates one rule.

#[derive(Debug)]
struct Broken {
    inner: MemoryConnector,
    flaw: Flaw,
}

#[derive(Debug, Clone, Copy)]
enum Flaw {
    UndeclaredAttribute,
    IgnoresCancellation,
    WatermarkOnFailure,
    DeletesAsUpserts,
}

struct UpsertAll<'a>(&'a mut dyn ChangeSink);

#[async_trait]
impl ChangeSink for UpsertAll<'_> {
    async fn apply(&mut self, mut changes: Vec<Change>) -> Result<(), ConnectorError> {
        for c in &mut changes {
            c.kind = ChangeKind::Upsert;
        }
        self.0.apply(changes).await
    }
}

struct AddAttribute<'a>(&'a mut dyn ChangeSink);

#[async_trait]
impl ChangeSink for AddAttribute<'_> {
    async fn apply(&mut self, mut changes: Vec<Change>) -> Result<(), ConnectorError> {
        for c in &mut changes {
            c.attributes
                .insert("payRate".into(), Value::String("1".into()));
        }
        self.0.apply(changes).await
    }
}

#[async_trait]
impl Connector for Broken {
    fn schema(&self) -> Schema {
        schema()
    }

    async fn check(&self) -> Vec<HealthCheck> {
        self.inner.check().await
    }

    async fn import(
        &self,
        request: ImportRequest,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        match self.flaw {
            Flaw::UndeclaredAttribute => {
                self.inner
                    .import(request, &mut AddAttribute(sink), ctx)
                    .await
            }
            Flaw::IgnoresCancellation => self.inner.import(request, sink, &RunContext::new()).await,
            Flaw::WatermarkOnFailure => match self.inner.import(request, sink, ctx).await {
                Err(e) if e.kind() == ErrorKind::Server => Ok(ImportOutcome {
                    watermark: Some("tick:999".into()),
                    ..ImportOutcome::default()
                }),
                other => other,
            },
            Flaw::DeletesAsUpserts => self.inner.import(request, &mut UpsertAll(sink), ctx).await,
        }
    }
}

struct BrokenFixture {
    inner: MemoryFixture,
    flaw: Flaw,
}

#[async_trait]
impl ContractFixture for BrokenFixture {
    async fn connector(&self) -> Box<dyn Connector> {
        Box::new(Broken {
            inner: MemoryConnector {
                source: self.inner.source.clone(),
            },
            flaw: self.flaw,
        })
    }
    async fn delete_one(&self) -> (String, String) {
        self.inner.delete_one().await
    }
    async fn break_source(&self) {
        self.inner.break_source().await
    }
    async fn heal(&self) {
        self.inner.heal().await
    }
}

async fn kit_rejects(flaw: Flaw) -> String {
    let fixture = BrokenFixture {
        inner: MemoryFixture {
            source: MemorySource::with_objects(7),
        },
        flaw,
    };
    let handle = tokio::spawn(async move { contract::run_all(&fixture).await });
    let err = handle
        .await
        .expect_err("the kit accepted a broken connector");
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_kit_rejects_an_undeclared_attribute() {
    let msg = kit_rejects(Flaw::UndeclaredAttribute).await;
    assert_eq!(
        msg,
        "contract: Thing attribute \"payRate\" is emitted but not in the schema"
    );
}

#[tokio::test]
async fn the_kit_rejects_ignored_cancellation() {
    let msg = kit_rejects(Flaw::IgnoresCancellation).await;
    assert_eq!(msg, "contract: a run cancelled before it started succeeded");
}

#[tokio::test]
async fn the_kit_rejects_a_watermark_from_a_failed_run() {
    let msg = kit_rejects(Flaw::WatermarkOnFailure).await;
    assert_eq!(
        msg,
        "contract: a run against a broken source succeeded with watermark Some(\"tick:999\")"
    );
}

#[tokio::test]
async fn the_kit_rejects_deletes_reported_as_upserts() {
    let msg = kit_rejects(Flaw::DeletesAsUpserts).await;
    assert!(
        msg.contains("contract: Thing obj-000 was deleted but reported as Upsert"),
        "{msg}"
    );
}
