//! The `harness` binary under test: exit codes, output shapes, watermark
//! safety after failures, cancellation and `kill -9`, and that no secret
//! ever leaks. Each test starts its own simulator on 127.0.0.1 and spawns the
//! real binary against it. Every wait is bounded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{code, command, harness, p, show, text, TempDir, RUN_TIMEOUT};

use harness::sim::{Endpoint, FaultKind, FaultRule, SimConfig, Simulator};
use harness::store::{RunStatus, Store};

/// Asserts the exit code and that stderr's last line is one clear error line.
fn assert_fails(o: &Output, expected: i32) -> String {
    assert_eq!(code(o), expected, "{}", show(o));
    let err = text(&o.stderr);
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{}", show(o));
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{}",
        show(o)
    );
    last
}

async fn sim_with(workers: usize, orgs: usize, secret: &str) -> Simulator {
    Simulator::start(SimConfig {
        workers,
        orgs,
        client_secret: secret.to_string(),
        port: 0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

async fn small_sim() -> Simulator {
    sim_with(300, 20, "demo-secret-not-real").await
}

const SECRET_ENV: &str = "IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET";

fn write_config(dir: &TempDir, sim: &Simulator, extra: serde_json::Value) -> PathBuf {
    let c = sim.config();
    let mut config = serde_json::json!({
        "BaseUrl": sim.base_url(),
        "TenantName": c.tenant,
        "Realm": c.realm,
        "ClientId": c.client_id,
        "PageSize": 100,
        "MaxRequestsPerHour": 1_000_000,
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
        obj.extend(extra);
    }
    let path = dir.path("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn open_store(path: &Path) -> Store {
    Store::open_existing(path)
        .unwrap()
        .expect("the store exists")
}

/// Runs a config-based import with the secret in the environment.
async fn import(
    dir: &TempDir,
    sim: &Simulator,
    config: &Path,
    state: &Path,
    mode: &str,
    more: &[&str],
) -> Output {
    let mut args = vec![
        "import",
        "--config",
        p(config),
        "--mode",
        mode,
        "--state",
        p(state),
    ];
    args.extend_from_slice(more);
    let secret = sim.config().client_secret.clone();
    harness(dir, &args, &[(SECRET_ENV, &secret)]).await
}

#[tokio::test]
async fn help_version_and_usage_errors() {
    let dir = TempDir::new("cli");
    let o = harness(&dir, &["--help"], &[]).await;
    assert_eq!(code(&o), 0);
    let help = text(&o.stdout);
    for cmd in ["import", "check", "schema", "watermark", "runs", "simulate"] {
        assert!(help.contains(cmd), "{help}");
    }
    let o = harness(&dir, &["import", "--help"], &[]).await;
    assert_eq!(code(&o), 0);
    assert!(text(&o.stdout).contains("--max-delete-percent"));
    let o = harness(&dir, &["--version"], &[]).await;
    assert_eq!(code(&o), 0);

    for bad in [
        vec!["import"],
        vec!["import", "--config", "x.json"],
        vec!["import", "--simulated", "--mode", "sideways"],
        vec![
            "import", "--config", "x.json", "--mode", "full", "--churn", "3",
        ],
        vec!["import", "--simulated", "--max-purge-percent", "150"],
        vec!["frobnicate"],
    ] {
        let o = harness(&dir, &bad, &[]).await;
        assert_eq!(code(&o), 2, "{bad:?}: {}", show(&o));
        assert!(o.stdout.is_empty(), "{bad:?}");
    }
    let o = harness(
        &dir,
        &[
            "import", "--config", "x.json", "--mode", "full", "--churn", "3",
        ],
        &[],
    )
    .await;
    let line = assert_fails(&o, 2);
    assert!(line.contains("only with --simulated"), "{line}");
}

#[tokio::test]
async fn read_commands_on_a_missing_store_print_nothing_and_create_nothing() {
    let dir = TempDir::new("cli");
    let state = dir.path("none.db");
    let o = harness(&dir, &["watermark", "--state", p(&state)], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(o.stdout.is_empty());
    let o = harness(&dir, &["runs", "--state", p(&state), "--json"], &[]).await;
    assert_eq!(code(&o), 0);
    assert_eq!(text(&o.stdout).trim(), "[]");
    let o = harness(&dir, &["schema"], &[("IDMESH_STATE", p(&state))]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let o = harness(&dir, &["runs"], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let left: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert!(left.is_empty(), "nothing created: {left:?}");
}

/// A file of the store as a read must leave it.
#[derive(Debug, PartialEq)]
struct FileState {
    name: String,
    len: u64,
    modified: std::time::SystemTime,
    /// A hash of the whole content.
    content: u64,
    /// The header's file-format bytes: `[1, 1]` rollback journal, `[2, 2]` WAL.
    format: Vec<u8>,
}

/// Every file in `dir`, by name.
fn store_files(dir: &TempDir) -> Vec<FileState> {
    use std::hash::{Hash, Hasher};
    let mut files: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            FileState {
                name: e.file_name().to_string_lossy().into_owned(),
                len: meta.len(),
                modified: meta.modified().unwrap(),
                content: h.finish(),
                format: bytes.get(18..20).unwrap_or_default().to_vec(),
            }
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// `runs`, `watermark` and `schema` open an existing store read-only: not
/// a byte, a modification time or the journal mode changes, and no `-wal`
/// or `-shm` appears. The store here is in rollback-journal mode, which a
/// writable open would convert to WAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_commands_never_write_an_existing_store() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state_dir = TempDir::new("cli-state");
    let state = state_dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let mode: String = rusqlite::Connection::open(&state)
        .unwrap()
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    let before = store_files(&state_dir);
    assert_eq!(before.len(), 1, "only the database file");
    let watermark = open_store(&state)
        .watermark("workday:acme")
        .unwrap()
        .unwrap();
    assert_eq!(store_files(&state_dir), before);

    std::thread::sleep(std::time::Duration::from_millis(20)); // mtime granularity
    let o = harness(&dir, &["watermark", "--state", p(&state)], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(text(&o.stdout).trim(), watermark);
    let o = harness(&dir, &["runs", "--state", p(&state), "--json"], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let o = harness(&dir, &["runs", "--state", p(&state)], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let o = harness(&dir, &["schema"], &[("IDMESH_STATE", p(&state))]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(store_files(&state_dir), before, "nothing written");
    assert_eq!(
        before[0].format,
        [1, 1],
        "still a rollback-journal database"
    );
}

#[tokio::test]
async fn schema_lists_both_object_types() {
    let dir = TempDir::new("cli");
    let o = harness(&dir, &["schema"], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let s = text(&o.stdout);
    assert!(
        s.contains("User (anchor:") && s.contains("OrgUnit (anchor:"),
        "{s}"
    );
    let o = harness(&dir, &["schema", "--json"], &[]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["objectTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"User") && names.contains(&"OrgUnit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_full_then_churn_delta() {
    let dir = TempDir::new("cli");
    let state = dir.path("demo.db");
    let base = [
        "import",
        "--simulated",
        "--workers",
        "300",
        "--orgs",
        "20",
        "--state",
        p(&state),
    ];
    let o = harness(&dir, &base, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("Full import of workday:acme succeeded"),
        "{out}"
    );
    assert!(
        out.contains("next: harness import --simulated --churn 100"),
        "{out}"
    );
    let full_wm = open_store(&state)
        .watermark("workday:acme")
        .unwrap()
        .unwrap();

    let mut args = base.to_vec();
    args.extend(["--churn", "30", "--json"]);
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["mode"], "Delta");
    assert_eq!(report["outcome"]["status"], "Succeeded");
    assert_eq!(report["oldWatermark"], full_wm.as_str());
    assert!(report["counts"]["User"]["Upsert"].as_u64().unwrap() > 0);

    let o = harness(&dir, &["watermark", "--state", p(&state)], &[]).await;
    assert_eq!(code(&o), 0);
    let printed = text(&o.stdout);
    assert_eq!(printed.lines().count(), 1);
    assert_eq!(printed.trim_end(), report["newWatermark"].as_str().unwrap());

    let o = harness(&dir, &["runs", "--state", p(&state), "--json"], &[]).await;
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["mode"], "Delta", "newest first");
    assert_eq!(runs[1]["status"], "Succeeded");
    let o = harness(&dir, &["runs", "--state", p(&state)], &[]).await;
    assert_eq!(text(&o.stdout).lines().count(), 3, "{}", show(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_summary_and_changes_out_shapes() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state = dir.path("s.db");
    let changes = dir.path("changes.jsonl");
    let o = import(
        &dir,
        &sim,
        &config,
        &state,
        "full",
        &["--json", "--changes-out", p(&changes)],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let stdout = text(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "runId",
        "instance",
        "connector",
        "mode",
        "outcome",
        "startedAt",
        "endedAt",
        "durationMs",
        "counts",
        "metrics",
        "recordErrors",
        "warnings",
        "complete",
        "oldWatermark",
        "newWatermark",
        "watermarkAdvanced",
        "watermarkNote",
        "purged",
        "purgeNote",
        "state",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(r["instance"], "workday:acme");
    assert_eq!(r["outcome"], serde_json::json!({"status": "Succeeded"}));
    assert_eq!(r["watermarkAdvanced"], true);
    for k in ["requests", "retries", "pages", "records"] {
        assert!(r["metrics"][k].is_u64(), "{k}");
    }
    let total: u64 = r["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Upsert"].as_u64().unwrap() + c["Delete"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 320);

    let lines: Vec<String> = std::fs::read_to_string(&changes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len() as u64, total);
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["attributes", "changeType", "externalId", "objectType"],
            "{line}"
        );
        let order: Vec<usize> = [
            "\"objectType\":",
            "\"changeType\":",
            "\"externalId\":",
            "\"attributes\":",
        ]
        .iter()
        .map(|k| line.find(k).unwrap())
        .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "contract key order: {line}"
        );
        assert!(
            line.starts_with("{\"objectType\":"),
            "contract key order: {line}"
        );
        assert!(matches!(
            v["changeType"].as_str(),
            Some("Upsert" | "Delete")
        ));
        assert!(v["attributes"].is_object());
    }
    // Emission order: the store agrees with the last change per object.
    let store = open_store(&state);
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let obj = store
        .object(
            "workday:acme",
            last["objectType"].as_str().unwrap(),
            last["externalId"].as_str().unwrap(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(obj.attributes),
        last["attributes"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_and_secret_failures_exit_2() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let state = dir.path("s.db");

    // Missing configuration file.
    let o = harness(
        &dir,
        &[
            "import",
            "--config",
            "nope.json",
            "--mode",
            "full",
            "--state",
            p(&state),
        ],
        &[],
    )
    .await;
    let line = assert_fails(&o, 2);
    assert!(line.contains("nope.json"), "{line}");

    // An invalid key.
    let config = write_config(&dir, &sim, serde_json::json!({"PageSize": 500}));
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    let line = assert_fails(&o, 2);
    assert!(line.contains("PageSize"), "{line}");

    // An unresolvable secret names the reference and both places.
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let o = harness(
        &dir,
        &[
            "import",
            "--config",
            p(&config),
            "--mode",
            "full",
            "--state",
            p(&state),
        ],
        &[],
    )
    .await;
    let line = assert_fails(&o, 2);
    assert!(
        line.contains("secret://workday/acme/clientsecret"),
        "{line}"
    );
    assert!(line.contains(SECRET_ENV), "{line}");
    assert!(line.contains("--secrets-file"), "{line}");

    // A secrets file readable by others is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secrets = dir.path("secrets.json");
        std::fs::write(
            &secrets,
            serde_json::json!({"secret://workday/acme/clientsecret": sim.config().client_secret})
                .to_string(),
        )
        .unwrap();
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
        let args = [
            "import",
            "--config",
            p(&config),
            "--mode",
            "full",
            "--state",
            p(&state),
            "--secrets-file",
            p(&secrets),
        ];
        let o = harness(&dir, &args, &[]).await;
        let line = assert_fails(&o, 2);
        assert!(
            line.contains("chmod 600") && line.contains("secrets.json"),
            "{line}"
        );
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
        let o = harness(&dir, &args, &[]).await;
        assert_eq!(code(&o), 0, "{}", show(&o));
    }

    // An unreadable committed watermark.
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let conn = rusqlite::Connection::open(&state).unwrap();
    conn.execute("UPDATE watermarks SET watermark = 'not a watermark'", [])
        .unwrap();
    drop(conn);
    let o = import(&dir, &sim, &config, &state, "delta", &[]).await;
    let line = assert_fails(&o, 2);
    assert!(line.contains("--mode full"), "{line}");
    assert_eq!(
        open_store(&state)
            .watermark("workday:acme")
            .unwrap()
            .as_deref(),
        Some("not a watermark"),
        "a failed run leaves the watermark alone"
    );
    // A full run starts over.
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_failures_exit_1_or_75_and_keep_the_watermark() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let before = open_store(&state).watermark("workday:acme").unwrap();
    sim.churn(20, 9);

    // A permission failure on the first workers page (not retried).
    sim.clear_requests();
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        1,
        FaultKind::Status(403),
    ));
    let o = import(&dir, &sim, &config, &state, "delta", &["--json"]).await;
    assert_fails(&o, 1);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"]["status"], "Failed");
    assert_eq!(r["outcome"]["kind"], "Permission");
    assert_eq!(r["watermarkAdvanced"], false);
    assert!(r["watermarkNote"].is_string());
    assert_eq!(
        open_store(&state).watermark("workday:acme").unwrap(),
        before
    );

    // Server errors on every request: retried (no delays), then failed.
    sim.clear_faults();
    sim.clear_requests();
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: usize::MAX,
        kind: FaultKind::Status(503),
    });
    let o = import(&dir, &sim, &config, &state, "delta", &["--json"]).await;
    assert_fails(&o, 75);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"]["kind"], "Server");
    assert_eq!(r["retryable"], true);
    assert!(r["metrics"]["retries"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(
        open_store(&state).watermark("workday:acme").unwrap(),
        before
    );
    let runs = open_store(&state).runs(None).unwrap();
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].error_kind.as_deref(), Some("Server"));

    // Healed: the next delta converges.
    sim.clear_faults();
    let o = import(&dir, &sim, &config, &state, "delta", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_ne!(
        open_store(&state).watermark("workday:acme").unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_errors_exit_3_apply_good_records_and_keep_the_watermark() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let before = open_store(&state).watermark("workday:acme").unwrap();
    let summary = sim.churn(30, 5);
    sim.clear_requests();
    sim.add_fault(FaultRule::once(Endpoint::Workers, 1, FaultKind::BadRecord));
    let o = import(&dir, &sim, &config, &state, "delta", &["--json"]).await;
    let line = assert_fails(&o, 3);
    assert!(line.contains("record"), "{line}");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["outcome"]["status"], "SucceededWithRecordErrors");
    assert!(!r["recordErrors"].as_array().unwrap().is_empty());
    assert_eq!(r["watermarkAdvanced"], false);
    let store = open_store(&state);
    assert_eq!(store.watermark("workday:acme").unwrap(), before);
    // Good records were applied: a hire is in the store.
    if let Some(hired) = summary.hired.first() {
        assert!(store
            .object("workday:acme", "User", hired)
            .unwrap()
            .is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_detection_and_threshold() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let before = open_store(&state).watermark("workday:acme").unwrap();
    let live_before = open_store(&state)
        .live_objects("workday:acme", "User")
        .unwrap()
        .len();

    // Purge ~15 % of the workers: over the default 10 %.
    let live: std::collections::HashSet<String> = open_store(&state)
        .live_objects("workday:acme", "User")
        .unwrap()
        .into_iter()
        .map(|o| o.external_id)
        .collect();
    let mut purged = Vec::new();
    for id in sim.worker_ids() {
        if purged.len() * 100 >= live_before * 15 {
            break;
        }
        if live.contains(&id) && sim.purge_worker(&id).is_ok() {
            purged.push(id);
        }
    }
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    let line = assert_fails(&o, 1);
    assert!(
        line.contains("refusing to delete") && line.contains(&purged.len().to_string()),
        "{line}"
    );
    let store = open_store(&state);
    assert_eq!(store.watermark("workday:acme").unwrap(), before);
    assert_eq!(
        store.live_objects("workday:acme", "User").unwrap().len(),
        live_before
    );
    assert_eq!(
        store.runs(Some(1)).unwrap()[0].status,
        RunStatus::PurgeRefused
    );

    // A delta never purges.
    let o = import(&dir, &sim, &config, &state, "delta", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(
        !open_store(&state)
            .object("workday:acme", "User", &purged[0])
            .unwrap()
            .unwrap()
            .deleted
    );

    // With a higher limit the full run purges exactly those (given with the
    // old name of --max-delete-percent, still accepted).
    let o = import(
        &dir,
        &sim,
        &config,
        &state,
        "full",
        &["--max-purge-percent", "20", "--json"],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["purged"]["User"], purged.len());
    let store = open_store(&state);
    for id in &purged {
        let o = store.object("workday:acme", "User", id).unwrap().unwrap();
        assert!(
            o.deleted && o.deleted_by.as_deref() == Some("purge"),
            "{id}"
        );
    }
}

/// Waits (bounded) until the simulator has served `n` workers requests.
async fn wait_for_workers_requests(sim: &Simulator, n: usize) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while sim.request_count(Endpoint::Workers) < n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run reached the workers feed");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_exit_130_and_keeps_the_watermark() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({"PageSize": 10}));
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let before = open_store(&state).watermark("workday:acme").unwrap();

    sim.clear_requests();
    sim.set_latency(Some(Duration::from_millis(300)));
    let secret = sim.config().client_secret.clone();
    let o = full_import_interrupted(&dir, &sim, &config, &state, &secret, "-INT").await;
    let line = assert_fails(&o, 130);
    assert!(line.contains("cancelled"), "{line}");
    let store = open_store(&state);
    assert_eq!(store.watermark("workday:acme").unwrap(), before);
    assert_eq!(store.runs(Some(1)).unwrap()[0].status, RunStatus::Cancelled);
}

/// Starts a full import, sends `signal` (e.g. `-INT`) once it has read two
/// worker pages, and waits (bounded) for it to end.
#[cfg(unix)]
async fn full_import_interrupted(
    dir: &TempDir,
    sim: &Simulator,
    config: &Path,
    state: &Path,
    secret: &str,
    signal: &str,
) -> Output {
    let args = [
        "import",
        "--config",
        p(config),
        "--mode",
        "full",
        "--state",
        p(state),
    ];
    let child = command(dir, &args, &[(SECRET_ENV, secret)])
        .spawn()
        .unwrap();
    wait_for_workers_requests(sim, 2).await;
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// systemd and Kubernetes stop a process with SIGTERM: the run rolls back,
/// is recorded `Cancelled`, and the process exits 143.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_rolls_back_records_cancelled_and_exits_143() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({"PageSize": 10}));
    let state = dir.path("s.db");
    sim.set_latency(Some(Duration::from_millis(300)));
    let secret = sim.config().client_secret.clone();
    let o = full_import_interrupted(&dir, &sim, &config, &state, &secret, "-TERM").await;
    let line = assert_fails(&o, 143);
    assert!(line.contains("cancelled (SIGTERM)"), "{line}");
    let store = open_store(&state);
    assert_eq!(store.watermark("workday:acme").unwrap(), None);
    assert!(store.watermarks().unwrap().is_empty());
    assert!(store
        .live_objects("workday:acme", "User")
        .unwrap()
        .is_empty());
    let runs = store.runs(None).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Cancelled);
    assert!(!runs[0].watermark_advanced && runs[0].new_watermark.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_the_previous_watermark_and_the_next_run_converges() {
    let dir = TempDir::new("cli");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim, serde_json::json!({"PageSize": 10}));
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, "full", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let before = open_store(&state).watermark("workday:acme").unwrap();
    let churn = sim.churn(40, 3);

    sim.clear_requests();
    sim.set_latency(Some(Duration::from_millis(300)));
    let secret = sim.config().client_secret.clone();
    let mut child = command(
        &dir,
        &[
            "import",
            "--config",
            p(&config),
            "--mode",
            "full",
            "--state",
            p(&state),
        ],
        &[(SECRET_ENV, &secret)],
    )
    .spawn()
    .unwrap();
    wait_for_workers_requests(&sim, 3).await;
    child.kill().await.unwrap(); // SIGKILL
    let store = open_store(&state);
    assert_eq!(store.watermark("workday:acme").unwrap(), before);
    let last = store.runs(Some(1)).unwrap().remove(0);
    assert_eq!(
        last.status,
        RunStatus::Running,
        "a killed run leaves its row"
    );
    drop(store);

    sim.set_latency(None);
    let o = import(&dir, &sim, &config, &state, "delta", &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let store = open_store(&state);
    assert_eq!(
        store.run(last.id).unwrap().unwrap().status,
        RunStatus::Abandoned
    );
    assert_ne!(store.watermark("workday:acme").unwrap(), before);
    for id in &churn.terminated {
        assert!(
            store
                .object("workday:acme", "User", id)
                .unwrap()
                .unwrap()
                .deleted,
            "{id}"
        );
    }
    for id in &churn.hired {
        assert!(
            !store
                .object("workday:acme", "User", id)
                .unwrap()
                .unwrap()
                .deleted,
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak() {
    use base64::Engine as _;
    let dir = TempDir::new("cli");
    let secret = format!("Zq9-leak-canary-{:016x}", rand::random::<u64>());
    let sim = sim_with(300, 20, &secret).await;
    let config = write_config(&dir, &sim, serde_json::json!({}));
    let state = dir.path("s.db");
    let changes = dir.path("changes.jsonl");
    let secrets = dir.path("secrets.json");
    std::fs::write(
        &secrets,
        serde_json::json!({"secret://workday/acme/clientsecret": secret}).to_string(),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let trace = [("RUST_LOG", "trace")];
    let mut outputs = Vec::new();
    let run = |extra: &'static [&'static str]| {
        let mut a = vec![
            "import",
            "--config",
            p(&config),
            "--state",
            p(&state),
            "--changes-out",
            p(&changes),
            "--secrets-file",
            p(&secrets),
        ];
        a.extend_from_slice(extra);
        a
    };
    // A good full run (text logs) and delta (JSON logs and summary).
    outputs.push(harness(&dir, &run(&["--mode", "full"]), &trace).await);
    sim.churn(10, 1);
    outputs.push(
        harness(
            &dir,
            &run(&["--mode", "delta", "--json", "--log-format", "json"]),
            &trace,
        )
        .await,
    );
    assert_eq!(code(&outputs[0]), 0, "{}", show(&outputs[0]));
    assert_eq!(code(&outputs[1]), 0, "{}", show(&outputs[1]));
    // Failures: a refused token, a failing source, and the check command.
    sim.clear_requests();
    sim.add_fault(FaultRule::once(Endpoint::Token, 1, FaultKind::Status(401)));
    outputs.push(harness(&dir, &run(&["--mode", "delta"]), &trace).await);
    sim.clear_faults();
    sim.clear_requests();
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: usize::MAX,
        kind: FaultKind::Status(500),
    });
    outputs.push(harness(&dir, &run(&["--mode", "delta"]), &trace).await);
    sim.clear_faults();
    outputs.push(
        harness(
            &dir,
            &[
                "check",
                "--config",
                p(&config),
                "--secrets-file",
                p(&secrets),
            ],
            &trace,
        )
        .await,
    );
    // The secret via the environment, and a wrong secret.
    outputs.push(
        harness(
            &dir,
            &[
                "import",
                "--config",
                p(&config),
                "--state",
                p(&state),
                "--mode",
                "delta",
            ],
            &[(SECRET_ENV, &secret), ("RUST_LOG", "trace")],
        )
        .await,
    );
    assert_eq!(
        code(outputs.last().unwrap()),
        0,
        "{}",
        show(outputs.last().unwrap())
    );

    let client_id = sim.config().client_id.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let needles = [
        secret.clone(),
        b64.encode(format!("{client_id}:{secret}")),
        b64.encode(&secret),
        secret.replace('-', "%2D"),
    ];
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        haystacks.push((format!("stdout of run {i}"), o.stdout.clone()));
        haystacks.push((format!("stderr of run {i}"), o.stderr.clone()));
    }
    haystacks.push(("changes-out".into(), std::fs::read(&changes).unwrap()));
    for suffix in ["", "-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", state.display()));
        if let Ok(bytes) = std::fs::read(&f) {
            haystacks.push((f.display().to_string(), bytes));
        }
    }
    for (name, hay) in &haystacks {
        let hay = String::from_utf8_lossy(hay);
        for needle in &needles {
            assert!(
                !hay.contains(needle.as_str()),
                "the secret leaked into {name}"
            );
        }
    }
    // Sanity: the logs were really at trace level.
    assert!(
        text(&outputs[0].stderr).contains("TRACE") || text(&outputs[0].stderr).contains("DEBUG")
    );
}
