//! How much the protocol costs per change: 100,000 worker-sized changes
//! through `serve` and `PluginFactory` over an in-memory pipe, against the
//! same connector in-process. A benchmark that prints numbers:
//! `cargo bench -p connector-api --features contract --bench plugin_throughput`.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark: prints its numbers, fails loudly

use std::time::{Duration, Instant};

use async_trait::async_trait;
use connector_api::plugin::{serve, PluginFactory, PluginOptions, PluginTransport};
use connector_api::*;

const WORKERS: usize = 100_000;
const PAGE: usize = 100;
const ATTRIBUTES: [&str; 12] = [
    "firstName",
    "lastName",
    "displayName",
    "email",
    "jobTitle",
    "department",
    "location",
    "costCenter",
    "company",
    "employeeType",
    "phone",
    "country",
];

fn schema() -> Schema {
    let mut attributes: Vec<AttributeSchema> = ATTRIBUTES
        .iter()
        .map(|a| AttributeSchema::new(*a, ValueKind::String, "text"))
        .collect();
    attributes.push(AttributeSchema::new("hireDate", ValueKind::Date, "date"));
    attributes.push(AttributeSchema::new("IsDeleted", ValueKind::Bool, "flag"));
    attributes.push(AttributeSchema::new(
        "manager",
        ValueKind::Reference {
            object_type: "User".into(),
        },
        "ref",
    ));
    Schema {
        object_types: vec![ObjectTypeSchema {
            name: "User".into(),
            anchor: "id".into(),
            attributes,
        }],
    }
}

#[derive(Debug)]
struct Synthetic;

#[async_trait]
impl Connector for Synthetic {
    fn schema(&self) -> Schema {
        schema()
    }
    async fn check(&self) -> Vec<HealthCheck> {
        Vec::new()
    }
    async fn import(
        &self,
        _request: ImportRequest,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        let mut outcome = ImportOutcome::default();
        for start in (0..WORKERS).step_by(PAGE) {
            let changes: Vec<Change> = (start..start + PAGE)
                .map(|i| {
                    let mut c = Change::new("User", format!("{i:032x}"), ChangeKind::Upsert);
                    for a in ATTRIBUTES {
                        c.attributes
                            .insert(a.into(), Value::String(format!("{a} of worker {i}").into()));
                    }
                    c.attributes
                        .insert("hireDate".into(), Value::date(2020, 1, 1).unwrap());
                    c.attributes.insert("IsDeleted".into(), Value::Bool(false));
                    c.attributes.insert(
                        "manager".into(),
                        Value::Reference(format!("{:032x}", i / 10).into()),
                    );
                    outcome.counts.add("User", ChangeKind::Upsert);
                    c
                })
                .collect();
            ctx.metrics().add_request();
            sink.apply(changes).await?;
            ctx.metrics().add_page(PAGE as u64);
        }
        outcome.complete = true;
        outcome.watermark = Some("w".into());
        Ok(outcome)
    }
}

#[derive(Debug)]
struct SyntheticFactory;

#[async_trait]
impl ConnectorFactory for SyntheticFactory {
    fn info(&self) -> ConnectorInfo {
        ConnectorInfo {
            name: "synthetic".into(),
            version: "0".into(),
            object_types: vec!["User".into()],
            modes: vec![ImportMode::Full],
        }
    }
    fn schema(&self) -> Schema {
        schema()
    }
    async fn validate(
        &self,
        _config_json: &str,
        _auth_material: &str,
        _secrets: &dyn SecretResolver,
    ) -> Result<Box<dyn Connector>, ConnectorError> {
        Ok(Box::new(Synthetic))
    }
}

#[derive(Default)]
struct CountingSink(usize);

#[async_trait]
impl ChangeSink for CountingSink {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.0 += changes.len();
        Ok(())
    }
}

async fn run(connector: &dyn Connector) -> Duration {
    let started = Instant::now();
    let mut sink = CountingSink::default();
    connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.0, WORKERS);
    started.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let in_process = run(&Synthetic).await;
    let factory = PluginFactory::connect(
        "synthetic",
        || {
            let (engine_end, plugin_end) = tokio::io::duplex(256 * 1024);
            let (pr, pw) = tokio::io::split(plugin_end);
            let (er, ew) = tokio::io::split(engine_end);
            tokio::spawn(serve(SyntheticFactory, pr, pw));
            Ok(PluginTransport::new(er, ew))
        },
        PluginOptions::default(),
    )
    .await
    .unwrap();
    let connector = factory
        .validate("{}", "", &StaticSecrets::new())
        .await
        .unwrap();
    let through = run(connector.as_ref()).await;
    let overhead = through.saturating_sub(in_process);
    println!(
        "{WORKERS} changes: in-process {in_process:?}, through the protocol {through:?}; \
         overhead {:.2} µs per change",
        overhead.as_secs_f64() * 1e6 / WORKERS as f64
    );
}
