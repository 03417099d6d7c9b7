//! The Python example plugin (`docs/examples/memory_plugin.py`) driven
//! through the Rust plugin client: it passes the contract kit, so a plugin
//! written in another language from the protocol document alone works.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use connector_api::contract::{self, ContractFixture};
use connector_api::plugin::{PluginFactory, PluginOptions};
use connector_api::*;

const AUTH: &str = "secret://memory/python/password";

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/memory_plugin.py")
}

fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some("python3")
    } else {
        eprintln!("SKIPPED: python3 is not installed; the Python example plugin was not run");
        None
    }
}

/// The example's source: a JSON file the test rewrites between runs.
struct PythonFixture {
    factory: PluginFactory,
    file: PathBuf,
    data: Mutex<serde_json::Value>,
}

impl PythonFixture {
    async fn start(python: &str, objects: usize) -> Self {
        let file = std::env::temp_dir().join(format!(
            "memory_plugin_{}_{objects}.json",
            std::process::id()
        ));
        let things: Vec<serde_json::Value> = (0..objects)
            .map(|i| {
                serde_json::json!({
                    "id": format!("obj-{i:03}"), "name": format!("Object {i}"),
                    "updated": i + 1, "deleted": false,
                })
            })
            .collect();
        let data = serde_json::json!({ "broken": false, "clock": objects, "objects": things });
        std::fs::write(&file, data.to_string()).unwrap();
        let options = PluginOptions {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            ..PluginOptions::default()
        };
        let factory = PluginFactory::spawn(python, [example()], options)
            .await
            .unwrap();
        Self {
            factory,
            file,
            data: Mutex::new(data),
        }
    }

    fn config(&self) -> String {
        serde_json::json!({ "DataFile": self.file, "PageSize": 2 }).to_string()
    }

    fn update(&self, change: impl FnOnce(&mut serde_json::Value)) {
        let mut data = self.data.lock().unwrap();
        change(&mut data);
        std::fs::write(&self.file, data.to_string()).unwrap();
    }
}

impl Drop for PythonFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

#[async_trait]
impl ContractFixture for PythonFixture {
    async fn connector(&self) -> Box<dyn Connector> {
        let secrets = StaticSecrets::new().with(AUTH, "hunter2");
        self.factory
            .validate(&self.config(), AUTH, &secrets)
            .await
            .unwrap()
    }

    async fn delete_one(&self) -> (String, String) {
        let mut id = String::new();
        self.update(|data| {
            let clock = data["clock"].as_u64().unwrap() + 1;
            data["clock"] = clock.into();
            let objects = data["objects"].as_array_mut().unwrap();
            let victim = objects.iter_mut().find(|o| o["deleted"] == false).unwrap();
            victim["deleted"] = true.into();
            victim["updated"] = clock.into();
            id = victim["id"].as_str().unwrap().to_string();
        });
        ("Thing".into(), id)
    }

    async fn break_source(&self) {
        self.update(|data| data["broken"] = true.into());
    }

    async fn heal(&self) {
        self.update(|data| data["broken"] = false.into());
    }
}

#[tokio::test]
async fn the_python_example_plugin_passes_the_contract_kit() {
    let Some(python) = python() else { return };
    let fixture = PythonFixture::start(python, 7).await;
    let info = fixture.factory.info();
    assert_eq!(info.name, "memory-python");
    assert_eq!(info.modes, vec![ImportMode::Full, ImportMode::Delta]);
    contract::run_all(&fixture).await;
}

#[tokio::test]
async fn the_python_example_reports_checks_errors_and_metrics() {
    let Some(python) = python() else { return };
    let fixture = PythonFixture::start(python, 5).await;
    let connector = fixture.connector().await;
    assert!(connector.check().await[0].passed);

    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let outcome = connector
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 5);
    assert_eq!(outcome.watermark.as_deref(), Some("tick:5"));
    let metrics = ctx.metrics().snapshot();
    assert_eq!((metrics.pages, metrics.records), (3, 5));

    let err = fixture
        .factory
        .validate(r#"{"PageSize": 500}"#, AUTH, &StaticSecrets::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["DataFile", "PageSize"]);

    let err = fixture
        .factory
        .validate(&fixture.config(), AUTH, &StaticSecrets::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Secret);
    assert_eq!(
        err.message(),
        "secret secret://memory/python/password could not be resolved: the in-memory secret set \
         has no such reference"
    );
}
