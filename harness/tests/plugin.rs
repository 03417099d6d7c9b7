//! `harness ... --plugin PATH`: the real `harness` binary loading real plugin
//! executables over the plugin protocol — the `connector-workday` binary
//! against the embedded simulator (the same store as in process), and the
//! Python example plugin `docs/examples/memory_plugin.py` (exact counts).
//! Every wait is bounded.
//!
//! The `connector-workday` binary is looked up next to the `harness` binary:
//! `cargo test --workspace` builds it; `cargo test -p harness` alone may not,
//! and then those tests are skipped with a message.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};

use common::{harness, p, show, TempDir, BIN};

use harness::store::{Store, StoredObject};

const INSTANCE: &str = "workday:acme";

/// The `connector-workday` plugin binary, built next to `harness`.
fn workday_plugin() -> Option<PathBuf> {
    let path =
        Path::new(BIN).with_file_name(format!("connector-workday{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is not built (run `cargo test --workspace`, or `cargo build -p \
             connector-workday` first); the connector-workday plugin was not run",
            path.display()
        );
        None
    }
}

fn python_example() -> Option<PathBuf> {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: python3 is not installed; the Python example plugin was not run");
        return None;
    }
    Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/examples/memory_plugin.py"))
}

/// Runs and expects exit 0 and one JSON object on stdout.
async fn json_ok(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let o = harness(dir, args, env).await;
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{}", show(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", show(&o)))
}

/// Every object of the instance, of both types, without the run ids.
fn objects(state: &Path) -> Vec<StoredObject> {
    let store = Store::open_existing(state)
        .unwrap()
        .expect("the store exists");
    let mut all = Vec::new();
    for ty in ["OrgUnit", "User"] {
        all.extend(
            store
                .all_objects(INSTANCE, ty)
                .unwrap()
                .into_iter()
                .map(|mut o| {
                    o.first_seen_run = 0;
                    o.last_seen_run = 0;
                    o
                }),
        );
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_import_through_the_workday_plugin_matches_in_process() {
    let Some(plugin) = workday_plugin() else {
        return;
    };
    let dir = TempDir::new("plugin");
    let (direct, remote) = (dir.path("direct.db"), dir.path("plugin.db"));
    let sim = ["--simulated", "--workers", "1050", "--orgs", "30", "--json"];

    let run = |state: &Path, plugin: Option<&Path>, churn: bool| {
        let mut args = vec!["import".to_string()];
        args.extend(sim.iter().map(ToString::to_string));
        args.extend(["--state".to_string(), p(state).to_string()]);
        if churn {
            args.extend(["--churn".to_string(), "40".to_string()]);
        }
        if let Some(plugin) = plugin {
            args.extend(["--plugin".to_string(), p(plugin).to_string()]);
        }
        args
    };
    let args = run(&direct, None, false);
    let a = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
    .await;
    let args = run(&remote, Some(&plugin), false);
    let b = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
    .await;

    for r in [&a, &b] {
        assert_eq!(r["outcome"]["status"], "Succeeded", "{r}");
        assert_eq!(r["connector"], "workday");
        assert_eq!(r["instance"], INSTANCE);
        assert_eq!(r["complete"], true);
        assert_eq!(r["purged"], serde_json::json!({}));
    }
    for key in [
        "counts",
        "metrics",
        "newWatermark",
        "recordErrors",
        "warnings",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(
        b["metrics"],
        serde_json::json!({"requests": 13, "retries": 0, "pages": 12, "records": 1080})
    );
    let users = &b["counts"]["User"];
    assert_eq!(
        users["Upsert"].as_u64().unwrap() + users["Delete"].as_u64().unwrap_or(0),
        1050
    );
    assert_eq!(b["counts"]["OrgUnit"]["Upsert"], 30);

    let wm = |state: &Path| {
        Store::open_existing(state)
            .unwrap()
            .unwrap()
            .watermark(INSTANCE)
            .unwrap()
    };
    assert_eq!(wm(&remote), wm(&direct));
    assert_eq!(wm(&remote).as_deref(), b["newWatermark"].as_str());
    let (oa, ob) = (objects(&direct), objects(&remote));
    assert_eq!(ob.len(), 1080);
    assert_eq!(oa, ob, "the same objects, attributes and deleted flags");

    // A churned delta through the plugin: again the same as in process —
    // but for the times the mutations were stamped with (each process's
    // simulator stamps its own clock), so those are compared as present.
    let args = run(&direct, None, true);
    let a = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
    .await;
    let args = run(&remote, Some(&plugin), true);
    let b = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
    .await;
    assert_eq!(b["mode"], "Delta");
    assert_eq!(b["outcome"]["status"], "Succeeded", "{b}");
    for key in ["counts", "metrics", "oldWatermark", "watermarkAdvanced"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert!(b["counts"]["User"]["Upsert"].as_u64().unwrap() > 0);
    let unstamped = |state: &Path| {
        let mut all = objects(state);
        for o in &mut all {
            let stamped = o.attributes.remove("lastUpdatedDateTime");
            assert!(stamped.is_some(), "{}", o.external_id);
        }
        all
    };
    assert_eq!(unstamped(&direct), unstamped(&remote));
    assert_eq!(wm(&remote).as_deref(), b["newWatermark"].as_str());
    assert_ne!(wm(&remote), b["oldWatermark"].as_str().map(str::to_string));
}

/// `--api soap` leaves `IsuPasswordRef` to its default: the plugin lists it
/// in its `validated` answer and the harness sends it (and no client secret).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_soap_import_through_the_workday_plugin_gets_the_default_isu_password() {
    let Some(plugin) = workday_plugin() else {
        return;
    };
    let dir = TempDir::new("plugin-soap");
    let mut results = Vec::new();
    for (state, via) in [("direct.db", None), ("plugin.db", Some(p(&plugin)))] {
        let state = dir.path(state);
        let mut args = vec![
            "import",
            "--simulated",
            "--api",
            "soap",
            "--workers",
            "120",
            "--orgs",
            "6",
            "--json",
            "--state",
            p(&state),
        ];
        if let Some(plugin) = via {
            args.extend(["--plugin", plugin]);
        }
        results.push(json_ok(&dir, &args, &[]).await);
    }
    let (a, b) = (&results[0], &results[1]);
    assert_eq!(b["outcome"]["status"], "Succeeded", "{b}");
    for key in ["outcome", "counts", "metrics", "complete", "recordErrors"] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(b["counts"]["OrgUnit"]["Upsert"], 6, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_schema_and_bench_through_the_workday_plugin() {
    let Some(plugin) = workday_plugin() else {
        return;
    };
    let dir = TempDir::new("plugin");
    let plugin = p(&plugin);

    let o = harness(&dir, &["check", "--simulated", "--plugin", plugin], &[]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // token, workers, fieldCoverage, supervisoryOrganizations.
    assert_eq!(
        out.lines().filter(|l| l.starts_with("PASS ")).count(),
        4,
        "{out}"
    );
    assert!(out.contains("PASS fieldCoverage: "), "{out}");

    let direct = json_ok(&dir, &["schema", "--json"], &[]).await;
    let remote = json_ok(&dir, &["schema", "--json", "--plugin", plugin], &[]).await;
    assert_eq!(direct, remote);

    let bench = [
        "bench",
        "--workers",
        "2000",
        "--orgs",
        "50",
        "--json",
        "--plugin",
        plugin,
    ];
    let b = json_ok(&dir, &bench, &[]).await;
    assert_eq!(b["requests"], 1 + 20 + 1, "{b}");
    assert_eq!(b["retries"], 0);
    assert_eq!(
        (b["workers"].as_u64(), b["orgs"].as_u64()),
        (Some(2000), Some(50))
    );
}

#[tokio::test]
async fn a_plugin_that_cannot_start_is_a_clear_error() {
    let dir = TempDir::new("plugin");
    let missing = dir.path("no-such-plugin");
    let o = harness(
        &dir,
        &[
            "import",
            "--simulated",
            "--plugin",
            p(&missing),
            "--state",
            p(&dir.path("s.db")),
        ],
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: cannot load the plugin") && last.contains("no-such-plugin"),
        "{err}"
    );
    assert!(!dir.path("s.db").exists(), "nothing was run");

    // --plugin-arg needs --plugin.
    let o = harness(&dir, &["schema", "--plugin-arg", "x"], &[]).await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
}

/// The Python example's data file.
fn things(objects: &[(&str, u64, bool)], broken: bool) -> String {
    let objects: Vec<serde_json::Value> = objects
        .iter()
        .map(|(id, updated, deleted)| {
            serde_json::json!({"id": id, "name": format!("Thing {id}"), "updated": updated, "deleted": deleted})
        })
        .collect();
    serde_json::json!({"broken": broken, "objects": objects}).to_string()
}

#[tokio::test]
async fn the_python_example_plugin_runs_through_the_harness() {
    let Some(example) = python_example() else {
        return;
    };
    let dir = TempDir::new("plugin");
    let data = dir.path("things.json");
    let config = dir.path("config.json");
    let state = dir.path("state.db");
    std::fs::write(
        &config,
        serde_json::json!({"DataFile": p(&data), "PageSize": 2}).to_string(),
    )
    .unwrap();
    let secret = [("IDMESH_SECRET_MEMORY_PYTHON_PASSWORD", "hunter2")];
    let import = |mode: &'static str, more: &'static [&'static str]| {
        let mut args = vec![
            "import".to_string(),
            "--plugin".to_string(),
            p(&example).to_string(),
            "--config".to_string(),
            p(&config).to_string(),
            "--auth-material".to_string(),
            "secret://memory/python/password".to_string(),
            "--mode".to_string(),
            mode.to_string(),
            "--state".to_string(),
            p(&state).to_string(),
            "--json".to_string(),
        ];
        args.extend(more.iter().map(ToString::to_string));
        args
    };
    let strs = |v: &[String]| v.iter().map(String::clone).collect::<Vec<_>>();

    // Full: 5 things, 3 pages of at most 2.
    let five: Vec<(&str, u64, bool)> = vec![
        ("a", 1, false),
        ("b", 2, false),
        ("c", 3, false),
        ("d", 4, false),
        ("e", 5, false),
    ];
    std::fs::write(&data, things(&five, false)).unwrap();
    let args = strs(&import("full", &[]));
    let r = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &secret,
    )
    .await;
    assert_eq!(r["outcome"]["status"], "Succeeded", "{r}");
    assert_eq!(r["connector"], "memory-python");
    assert_eq!(r["instance"], "memory-python");
    assert_eq!(
        r["counts"],
        serde_json::json!({"Thing": {"Upsert": 5, "Delete": 0}})
    );
    assert_eq!(
        r["metrics"],
        serde_json::json!({"requests": 4, "retries": 0, "pages": 3, "records": 5})
    );
    assert_eq!(r["newWatermark"], "tick:5");
    assert_eq!(r["complete"], true);

    // Delta: "b" deleted at tick 6 (the delta reads updated >= 5: "e" and "b");
    // 1 of 5 is 20 %, over the default delete threshold.
    let mut changed = five.clone();
    changed[1] = ("b", 6, true);
    std::fs::write(&data, things(&changed, false)).unwrap();
    let args = strs(&import("delta", &["--max-delete-percent", "20"]));
    let r = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &secret,
    )
    .await;
    assert_eq!(r["outcome"]["status"], "Succeeded", "{r}");
    assert_eq!(r["oldWatermark"], "tick:5");
    assert_eq!(r["newWatermark"], "tick:6");
    assert_eq!(
        r["counts"],
        serde_json::json!({"Thing": {"Upsert": 1, "Delete": 1}})
    );

    // Full with "e" gone from the source: purged (1 of 4 live: 25 %).
    changed.remove(4);
    std::fs::write(&data, things(&changed, false)).unwrap();
    let args = strs(&import("full", &["--max-purge-percent", "30"]));
    let r = json_ok(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &secret,
    )
    .await;
    assert_eq!(r["outcome"]["status"], "Succeeded", "{r}");
    assert_eq!(
        r["counts"],
        serde_json::json!({"Thing": {"Upsert": 3, "Delete": 1}})
    );
    assert_eq!(r["purged"], serde_json::json!({"Thing": 1}));

    let store = Store::open_existing(&state).unwrap().unwrap();
    let all = store.all_objects("memory-python", "Thing").unwrap();
    let flags: Vec<(&str, bool, Option<&str>)> = all
        .iter()
        .map(|o| (o.external_id.as_str(), o.deleted, o.deleted_by.as_deref()))
        .collect();
    assert_eq!(
        flags,
        [
            ("a", false, None),
            ("b", true, Some("change")),
            ("c", false, None),
            ("d", false, None),
            ("e", true, Some("purge")),
        ]
    );

    // A broken source: a failure of the right kind, the watermark kept.
    std::fs::write(&data, things(&changed, true)).unwrap();
    let args = strs(&import("delta", &[]));
    let o = harness(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &secret,
    )
    .await;
    // A Server error is retryable: exit 75 (EX_TEMPFAIL).
    assert_eq!(o.status.code(), Some(75), "{}", show(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"]["status"], "Failed");
    assert_eq!(r["outcome"]["kind"], "Server");
    assert_eq!(r["retryable"], true);
    assert_eq!(
        store.watermark("memory-python").unwrap().as_deref(),
        Some("tick:6")
    );

    // No secret: exit 2 naming the reference, before any run.
    let args = strs(&import("full", &[]));
    let o = harness(
        &dir,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("secret://memory/python/password"),
        "{}",
        show(&o)
    );
}

/// The `connector-workday` binary, loaded over the protocol (no harness in
/// between), reports the schema of the connector as configured: with
/// `ExternalIdAttribute=employeeNumber`, `User` is anchored on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workday_plugin_reports_the_configured_anchor() {
    use connector_api::plugin::{PluginFactory, PluginOptions};
    use connector_api::{ConnectorFactory, StaticSecrets};
    use harness::sim::{SimConfig, Simulator};

    let Some(plugin) = workday_plugin() else {
        return;
    };
    let sim = Simulator::start(SimConfig {
        workers: 20,
        orgs: 3,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let reference = "secret://workday/acme/clientsecret";
    let secrets = StaticSecrets::new().with(reference, &sim.config().client_secret);
    let config = serde_json::json!({
        "BaseUrl": sim.base_url(),
        "TenantName": sim.config().tenant,
        "Realm": sim.config().realm,
        "ClientId": sim.config().client_id,
        "ExternalIdAttribute": "employeeNumber",
    })
    .to_string();
    let factory = PluginFactory::spawn(&plugin, Vec::<String>::new(), PluginOptions::default())
        .await
        .unwrap();
    let anchor = |s: &connector_api::Schema| s.object_type("User").unwrap().anchor.clone();
    assert_eq!(anchor(&factory.schema()), "id");
    let connector = factory
        .validate(&config, reference, &secrets)
        .await
        .unwrap();
    assert_eq!(anchor(&connector.schema()), "employeeNumber");
    let configured = connector_workday::schema::schema(
        connector_workday::config::ExternalIdAttribute::EmployeeNumber,
    );
    assert_eq!(connector.schema(), configured);
}

/// A plugin that writes one stderr line at each level, as Python's logging
/// does, then exits without answering `validate`.
const CHATTY_PLUGIN: &str = r#"#!/usr/bin/env python3
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("type") == "hello":
        sys.stdout.write(json.dumps({"type": "hello", "protocolVersion": 1, "connector": {
            "name": "chatty", "version": "0.1.0", "objectTypes": ["Thing"], "modes": ["Full"]}}) + "\n")
        sys.stdout.flush()
    else:
        sys.stderr.write("INFO:root:chatty-info-line\n")
        sys.stderr.write("WARNING:root:chatty-warning-line\n")
        sys.stderr.write("ERROR:root:chatty-error-line\n")
        sys.stderr.write("chatty-plain-line\n")
        sys.stderr.flush()
        sys.exit(1)
"#;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_warnings_and_errors_surface_at_the_default_log_level() {
    use std::os::unix::fs::PermissionsExt;
    if python_example().is_none() {
        return;
    }
    let dir = TempDir::new("chatty");
    let plugin = dir.path("chatty.py");
    std::fs::write(&plugin, CHATTY_PLUGIN).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path("config.json");
    std::fs::write(&config, "{}").unwrap();
    let o = harness(
        &dir,
        &[
            "check",
            "--plugin",
            p(&plugin),
            "--config",
            p(&config),
            "--auth-material",
            "secret://chatty/t/password",
        ],
        &[("IDMESH_SECRET_CHATTY_T_PASSWORD", "pw")],
    )
    .await;
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    // The last line is the error, which quotes the plugin's last stderr
    // lines whatever their level; the log lines are the ones before it.
    let lines: Vec<&str> = stderr.lines().collect();
    let (error, logged) = lines.split_last().unwrap();
    assert!(error.starts_with("error: "), "{}", show(&o));
    let at = |needle: &str| -> Vec<&str> {
        logged
            .iter()
            .filter(|l| l.contains(needle))
            .copied()
            .collect()
    };
    let warning = at("chatty-warning-line");
    assert_eq!(warning.len(), 1, "{}", show(&o));
    assert!(warning[0].contains(" WARN "), "{}", warning[0]);
    let err = at("chatty-error-line");
    assert_eq!(err.len(), 1, "{}", show(&o));
    assert!(err[0].contains(" ERROR "), "{}", err[0]);
    // Info and unlabelled lines stay below the default `warn` filter.
    assert!(at("chatty-info-line").is_empty(), "{}", show(&o));
    assert!(at("chatty-plain-line").is_empty(), "{}", show(&o));
}
