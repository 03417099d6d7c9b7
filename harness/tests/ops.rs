//! The `harness` binary as a scheduled service sees it (issue 15): the
//! default `--mode auto`, exit codes a scheduler can act on, the run history
//! with its warnings and record errors, `--metrics-out`, `--dry-run`, shell
//! completions and JSON on every stderr line. Each test starts its own
//! simulator on 127.0.0.1; every wait is bounded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, harness, p, show, text, TempDir};

use harness::sim::{Endpoint, FaultKind, FaultRule, RetryAfter, SimConfig, Simulator};
use harness::store::Store;

const SECRET_ENV: &str = "IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET";

async fn small_sim() -> Simulator {
    Simulator::start(SimConfig {
        workers: 300,
        orgs: 20,
        client_secret: "demo-secret-not-real".to_string(),
        port: 0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn write_config(dir: &TempDir, sim: &Simulator) -> PathBuf {
    let c = sim.config();
    let config = serde_json::json!({
        "BaseUrl": sim.base_url(),
        "TenantName": c.tenant,
        "Realm": c.realm,
        "ClientId": c.client_id,
        "PageSize": 100,
        "MaxRequestsPerHour": 1_000_000,
    });
    let path = dir.path("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

fn open_store(path: &Path) -> Store {
    Store::open_existing(path)
        .unwrap()
        .expect("the store exists")
}

/// `harness import --config CONFIG --state STATE MORE...` with the secret in
/// the environment (no `--mode` unless `more` gives one).
async fn import(
    dir: &TempDir,
    sim: &Simulator,
    config: &Path,
    state: &Path,
    more: &[&str],
) -> Output {
    let mut args = vec!["import", "--config", p(config), "--state", p(state)];
    args.extend_from_slice(more);
    let secret = sim.config().client_secret.clone();
    harness(dir, &args, &[(SECRET_ENV, &secret)]).await
}

fn json_of(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_defaults_to_auto_full_first_then_delta() {
    let dir = TempDir::new("ops");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim);
    let state = dir.path("s.db");

    let o = import(&dir, &sim, &config, &state, &["--json"]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let r = json_of(&o);
    assert_eq!(r["mode"], "Full");
    assert_eq!(
        r["modeReason"],
        "auto: the instance workday:acme has no committed watermark yet"
    );

    sim.churn(10, 3);
    let o = import(&dir, &sim, &config, &state, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("Delta import of workday:acme succeeded"),
        "{out}"
    );
    assert_eq!(
        lines[1],
        "  mode:          delta (auto: the instance workday:acme has a committed watermark)"
    );

    // An explicit --mode still wins.
    let o = import(&dir, &sim, &config, &state, &["--mode", "full", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let r = json_of(&o);
    assert_eq!(r["mode"], "Full");
    assert_eq!(r["modeReason"], "given with --mode");
    let o = import(&dir, &sim, &config, &state, &["--mode", "auto", "--json"]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(json_of(&o)["mode"], "Delta");

    let modes: Vec<String> = open_store(&state)
        .runs(None)
        .unwrap()
        .into_iter()
        .map(|r| r.mode)
        .collect();
    assert_eq!(modes, ["Delta", "Full", "Delta", "Full"]);
}

/// The last stderr line is one `error:` line (text logs).
fn last_error_line(o: &Output) -> String {
    let err = text(&o.stderr);
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{}", show(o));
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failures_exit_75_permanent_ones_exit_1() {
    let dir = TempDir::new("ops");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim);
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let before = open_store(&state).watermark("workday:acme").unwrap();
    assert!(before.is_some());

    let every = |endpoint, kind| FaultRule {
        endpoint,
        at_request: 1,
        times: usize::MAX,
        kind,
    };
    // (fault, exit code, kind, retryable)
    let cases = [
        (
            every(Endpoint::Workers, FaultKind::Status(503)),
            75,
            "Server",
            true,
        ),
        (
            every(
                Endpoint::Workers,
                FaultKind::TooManyRequests(RetryAfter::Absent),
            ),
            75,
            "RateLimit",
            true,
        ),
        (
            every(Endpoint::Workers, FaultKind::CloseConnection),
            75,
            "Transport",
            true,
        ),
        (
            every(Endpoint::Token, FaultKind::Status(401)),
            1,
            "Authentication",
            false,
        ),
        (
            FaultRule::once(Endpoint::Workers, 1, FaultKind::Status(403)),
            1,
            "Permission",
            false,
        ),
    ];
    for (fault, exit, kind, retryable) in cases {
        sim.clear_faults();
        sim.clear_requests();
        sim.add_fault(fault);
        let o = import(&dir, &sim, &config, &state, &["--json"]).await;
        assert_eq!(code(&o), exit, "{fault:?}: {}", show(&o));
        last_error_line(&o);
        let r = json_of(&o);
        assert_eq!(r["outcome"]["status"], "Failed", "{fault:?}");
        assert_eq!(r["outcome"]["kind"], kind, "{fault:?}");
        assert_eq!(r["retryable"], retryable, "{fault:?}");
        assert_eq!(r["outcome"]["retryable"], retryable, "{fault:?}");
        assert_eq!(
            open_store(&state).watermark("workday:acme").unwrap(),
            before
        );
    }

    // The text summary says to retry.
    sim.clear_faults();
    sim.add_fault(every(Endpoint::Workers, FaultKind::Status(503)));
    let o = import(&dir, &sim, &config, &state, &[]).await;
    assert_eq!(code(&o), 75, "{}", show(&o));
    assert!(
        text(&o.stdout).contains(
            "\n  retry:         a temporary failure; run again later unchanged (exit 75)\n"
        ),
        "{}",
        show(&o)
    );

    // The deletion threshold refused: permanent, exit 1.
    sim.clear_faults();
    let o = import(
        &dir,
        &sim,
        &config,
        &state,
        &["--mode", "full", "--max-delete-percent", "0"],
    )
    .await;
    assert_eq!(code(&o), 0, "nothing to delete yet: {}", show(&o));
    sim.churn(200, 5);
    let o = import(
        &dir,
        &sim,
        &config,
        &state,
        &["--mode", "full", "--max-delete-percent", "0", "--json"],
    )
    .await;
    assert_eq!(code(&o), 1, "{}", show(&o));
    let r = json_of(&o);
    assert_eq!(r["outcome"]["status"], "PurgeRefused");
    assert_eq!(r["retryable"], false);

    // --help documents the table.
    let o = harness(&dir, &["--help"], &[]).await;
    let help = text(&o.stdout);
    assert!(
        help.contains("   75    temporary failure (EX_TEMPFAIL)"),
        "{help}"
    );
    assert!(help.contains("  143    cancelled with SIGTERM"), "{help}");
    let o = harness(&dir, &["import", "--help"], &[]).await;
    let help = text(&o.stdout);
    assert!(
        help.contains("   75    temporary failure (EX_TEMPFAIL)"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_history_keeps_record_errors_and_runs_show_prints_one_run() {
    let dir = TempDir::new("ops");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim);
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    sim.clear_requests();
    sim.add_fault(FaultRule::once(Endpoint::Workers, 1, FaultKind::BadRecord));
    let o = import(&dir, &sim, &config, &state, &["--mode", "full", "--json"]).await;
    assert_eq!(code(&o), 3, "{}", show(&o));
    let report = json_of(&o);
    let errors = report["recordErrors"].clone();
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["objectType"], "User");
    assert_eq!(errors[0]["position"], 0);
    let run_id = report["runId"].as_i64().unwrap();
    assert_eq!(run_id, 2);

    let s = |id: &str, json: bool| {
        let mut a = vec!["runs", "--state", p(&state), "--show", id];
        if json {
            a.push("--json");
        }
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let args = s("2", true);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let run = json_of(&o);
    assert_eq!(run["id"], 2);
    assert_eq!(run["status"], "SucceededWithRecordErrors");
    assert_eq!(run["recordErrors"], 1);
    assert_eq!(
        run["recordErrorList"], errors,
        "the same errors as the report"
    );
    assert_eq!(run["warnings"], report["warnings"]);

    let args = s("2", false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "run 2: Full import of workday:acme (workday)");
    assert_eq!(lines[1], "  status:        SucceededWithRecordErrors");
    let first: connector_api::RecordError = serde_json::from_value(errors[0].clone()).unwrap();
    assert!(
        lines.contains(&format!("  record error:  {first}").as_str()),
        "{out}"
    );

    let args = s("99", false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        last_error_line(&o).contains("has no run 99"),
        "{}",
        show(&o)
    );
}

/// Whether a metrics line is a time-valued sample (its value is compared
/// only as a number).
fn time_valued(line: &str) -> bool {
    [
        "idmesh_last_run_duration_seconds{",
        "idmesh_last_run_end_timestamp_seconds{",
        "idmesh_watermark_age_seconds{",
        "idmesh_last_success_timestamp_seconds{",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

/// The text with the values of time-valued samples replaced by `T` (after
/// checking they are numbers).
fn without_times(text: &str) -> String {
    text.lines()
        .map(|l| {
            if time_valued(l) {
                let (name, value) = l.rsplit_once(' ').unwrap();
                let v: f64 = value.parse().unwrap_or_else(|_| panic!("{l}"));
                assert!(v >= 0.0, "{l}");
                format!("{name} T\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

const METRICS_HELP: &str = "\
# HELP idmesh_last_run_success Whether the last import run succeeded (1) or not (0; record errors, failures, refusals and cancellations count as not).
# TYPE idmesh_last_run_success gauge
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_out_writes_the_prometheus_text_atomically() {
    let dir = TempDir::new("ops");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim);
    let state = dir.path("s.db");
    let prom = dir.path("idmesh.prom");
    let o = import(&dir, &sim, &config, &state, &["--metrics-out", p(&prom)]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let got = std::fs::read_to_string(&prom).unwrap();
    let expected = format!(
        "{METRICS_HELP}\
idmesh_last_run_success{{instance=\"workday:acme\"}} 1
# HELP idmesh_last_run_exit_code The harness exit code of the last import run (0 ok, 1 failure to fix, 2 usage, 3 record errors, 75 retry later, 130/143 cancelled).
# TYPE idmesh_last_run_exit_code gauge
idmesh_last_run_exit_code{{instance=\"workday:acme\"}} 0
# HELP idmesh_last_run_duration_seconds Wall time of the last import run.
# TYPE idmesh_last_run_duration_seconds gauge
idmesh_last_run_duration_seconds{{instance=\"workday:acme\"}} T
# HELP idmesh_last_run_end_timestamp_seconds When the last import run ended, Unix time.
# TYPE idmesh_last_run_end_timestamp_seconds gauge
idmesh_last_run_end_timestamp_seconds{{instance=\"workday:acme\"}} T
# HELP idmesh_last_run_changes Changes of the last import run per object type and kind (upsert, delete, purge); rolled back unless the run committed.
# TYPE idmesh_last_run_changes gauge
idmesh_last_run_changes{{instance=\"workday:acme\",object_type=\"OrgUnit\",kind=\"upsert\"}} 20
idmesh_last_run_changes{{instance=\"workday:acme\",object_type=\"OrgUnit\",kind=\"delete\"}} 0
idmesh_last_run_changes{{instance=\"workday:acme\",object_type=\"OrgUnit\",kind=\"purge\"}} 0
idmesh_last_run_changes{{instance=\"workday:acme\",object_type=\"User\",kind=\"upsert\"}} 283
idmesh_last_run_changes{{instance=\"workday:acme\",object_type=\"User\",kind=\"delete\"}} 17
idmesh_last_run_changes{{instance=\"workday:acme\",object_type=\"User\",kind=\"purge\"}} 0
# HELP idmesh_last_run_requests HTTP requests of the last import run.
# TYPE idmesh_last_run_requests gauge
idmesh_last_run_requests{{instance=\"workday:acme\"}} REQ
# HELP idmesh_last_run_retries Retried requests of the last import run.
# TYPE idmesh_last_run_retries gauge
idmesh_last_run_retries{{instance=\"workday:acme\"}} 0
# HELP idmesh_last_run_pages Pages read by the last import run.
# TYPE idmesh_last_run_pages gauge
idmesh_last_run_pages{{instance=\"workday:acme\"}} 4
# HELP idmesh_last_run_records Records read by the last import run.
# TYPE idmesh_last_run_records gauge
idmesh_last_run_records{{instance=\"workday:acme\"}} 320
# HELP idmesh_last_run_record_errors Records the last import run could not import.
# TYPE idmesh_last_run_record_errors gauge
idmesh_last_run_record_errors{{instance=\"workday:acme\"}} 0
# HELP idmesh_watermark_age_seconds How far the committed watermark lags the end of the last import run (its oldest time); absent when the watermark holds no time.
# TYPE idmesh_watermark_age_seconds gauge
idmesh_watermark_age_seconds{{instance=\"workday:acme\"}} T
# HELP idmesh_last_success_timestamp_seconds When the last successful import run ended, Unix time; absent when none succeeded.
# TYPE idmesh_last_success_timestamp_seconds gauge
idmesh_last_success_timestamp_seconds{{instance=\"workday:acme\"}} T
"
    );
    let requests = sim.request_count(Endpoint::Token)
        + sim.request_count(Endpoint::Workers)
        + sim.request_count(Endpoint::Organizations);
    let expected = expected.replace("REQ", &requests.to_string());
    assert_eq!(without_times(&got), expected, "{got}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
    assert!(!got.contains(&sim.config().client_secret));
    let files: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("prom"))
        .collect();
    assert_eq!(files, ["idmesh.prom"], "no temporary file left");

    // A failed run replaces it: not successful, exit 75, the last success kept.
    let last_success = got
        .lines()
        .find(|l| l.starts_with("idmesh_last_success_timestamp_seconds{"))
        .unwrap()
        .to_string();
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: usize::MAX,
        kind: FaultKind::Status(503),
    });
    let o = import(&dir, &sim, &config, &state, &["--metrics-out", p(&prom)]).await;
    assert_eq!(code(&o), 75, "{}", show(&o));
    let got = std::fs::read_to_string(&prom).unwrap();
    assert!(
        got.contains("\nidmesh_last_run_success{instance=\"workday:acme\"} 0\n"),
        "{got}"
    );
    assert!(
        got.contains("\nidmesh_last_run_exit_code{instance=\"workday:acme\"} 75\n"),
        "{got}"
    );
    assert!(got.contains(&format!("\n{last_success}\n")), "{got}");
}

/// Every row of `objects` and `watermarks`, as text, in key order.
fn store_rows(state: &Path) -> (Vec<String>, Vec<String>) {
    let conn =
        rusqlite::Connection::open_with_flags(state, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let rows = |sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            let mut cols = Vec::new();
            for i in 0..n {
                cols.push(format!("{:?}", r.get_ref(i)?));
            }
            Ok(cols.join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    (
        rows("SELECT * FROM objects ORDER BY instance_id, object_type, external_id"),
        rows("SELECT * FROM watermarks ORDER BY instance"),
    )
}

type Obj = (serde_json::Value, bool, Option<String>);

fn objects(state: &Path) -> std::collections::BTreeMap<(String, String), Obj> {
    let store = open_store(state);
    let mut out = std::collections::BTreeMap::new();
    for ty in ["User", "OrgUnit"] {
        for o in store.all_objects("workday:acme", ty).unwrap() {
            out.insert(
                (o.object_type.clone(), o.external_id.clone()),
                (
                    serde_json::Value::Object(o.attributes),
                    o.deleted,
                    o.deleted_by,
                ),
            );
        }
    }
    out
}

/// Per type: (create, update, delete, purge) counts and the changed
/// attributes with how many updates changed each, from two stores.
fn diff(
    before: &std::collections::BTreeMap<(String, String), Obj>,
    after: &std::collections::BTreeMap<(String, String), Obj>,
) -> serde_json::Value {
    use std::collections::BTreeMap;
    /// (create, update, delete, purge, changed attributes)
    type TypeDiff = (u64, u64, u64, u64, BTreeMap<String, u64>);
    let mut out: BTreeMap<String, TypeDiff> = BTreeMap::new();
    for ((ty, id), (attrs, deleted, by)) in after {
        let e = out.entry(ty.clone()).or_default();
        let old = before.get(&(ty.clone(), id.clone()));
        let was_live = old.is_some_and(|o| !o.1);
        match (was_live, deleted) {
            (false, false) => e.0 += 1,
            (true, false) => {
                let old = old.unwrap().0.as_object().unwrap();
                let new = attrs.as_object().unwrap();
                let mut changed: Vec<&String> = old
                    .keys()
                    .chain(new.keys())
                    .filter(|k| old.get(*k) != new.get(*k))
                    .collect();
                changed.sort();
                changed.dedup();
                if !changed.is_empty() {
                    e.1 += 1;
                    for k in changed {
                        *e.4.entry(k.clone()).or_default() += 1;
                    }
                }
            }
            (true, true) if by.as_deref() == Some("change") => e.2 += 1,
            (true, true) => e.3 += 1,
            (false, true) => {}
        }
    }
    serde_json::Value::Object(
        out.into_iter()
            .map(|(ty, (c, u, d, p, attrs))| {
                (
                    ty,
                    serde_json::json!({"create": c, "update": u, "delete": d, "purge": p, "changedAttributes": attrs}),
                )
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_reports_what_a_run_would_change_and_commits_nothing() {
    let dir = TempDir::new("ops");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim);
    let state = dir.path("s.db");
    let o = import(&dir, &sim, &config, &state, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let churn = sim.churn(100, 11);
    assert!(
        !churn.updated.is_empty() && !churn.hired.is_empty() && !churn.purged.is_empty(),
        "{churn:?}"
    );
    let rows_before = store_rows(&state);
    let objects_before = objects(&state);
    let watermark = open_store(&state).watermark("workday:acme").unwrap();

    let o = import(
        &dir,
        &sim,
        &config,
        &state,
        &[
            "--dry-run",
            "--mode",
            "full",
            "--max-delete-percent",
            "100",
            "--json",
        ],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let r = json_of(&o);
    assert_eq!(r["outcome"]["status"], "DryRun");
    assert_eq!(r["watermarkAdvanced"], false);
    assert_eq!(r["newWatermark"], serde_json::Value::Null);
    let dry = &r["dryRun"];
    assert!(dry["wouldCommitWatermark"].is_string(), "{dry}");
    assert_eq!(dry["wouldRefuse"], serde_json::json!([]));

    // Byte for byte: not an object row nor the watermark changed.
    assert_eq!(store_rows(&state), rows_before);
    assert_eq!(
        open_store(&state).watermark("workday:acme").unwrap(),
        watermark
    );
    let runs = open_store(&state).runs(None).unwrap();
    assert_eq!(runs[0].status.as_str(), "DryRun");
    assert!(runs[0].new_watermark.is_none() && !runs[0].watermark_advanced);

    // The real run into a scratch copy does exactly what the dry run said.
    let scratch = dir.path("scratch.db");
    std::fs::copy(&state, &scratch).unwrap();
    let o = import(
        &dir,
        &sim,
        &config,
        &scratch,
        &["--mode", "full", "--max-delete-percent", "100"],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let real_run = show(&o);
    let expected = diff(&objects_before, &objects(&scratch));
    let got: serde_json::Map<String, serde_json::Value> = dry["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(ty, t)| {
            (
                ty.clone(),
                serde_json::json!({
                    "create": t["create"]["count"],
                    "update": t["update"]["count"],
                    "delete": t["delete"]["count"],
                    "purge": t["purge"]["count"],
                    "changedAttributes": t["changedAttributes"],
                }),
            )
        })
        .collect();
    assert_eq!(
        serde_json::Value::Object(got),
        expected,
        "{dry}\nREAL RUN: {real_run}"
    );
    let users = &dry["types"]["User"];
    assert!(users["purge"]["count"].as_u64().unwrap() > 0, "{dry}");
    assert!(users["create"]["count"].as_u64().unwrap() > 0, "{dry}");
    // Examples: at most 10, each update naming its changed attributes.
    for kind in ["create", "update", "delete", "purge"] {
        let ex = users[kind]["examples"].as_array().unwrap();
        let count = users[kind]["count"].as_u64().unwrap();
        assert_eq!(ex.len() as u64, count.min(10), "{kind}: {dry}");
    }
    for ex in users["update"]["examples"].as_array().unwrap() {
        assert!(
            !ex["changedAttributes"].as_array().unwrap().is_empty(),
            "{ex}"
        );
    }
    // Each purge example is live before and purged by the real run.
    let after = objects(&scratch);
    for ex in users["purge"]["examples"].as_array().unwrap() {
        let key = (
            "User".to_string(),
            ex["externalId"].as_str().unwrap().to_string(),
        );
        assert!(!objects_before[&key].1, "{ex}");
        assert_eq!(after[&key].2.as_deref(), Some("purge"), "{ex}");
    }

    // The text form.
    let o = import(
        &dir,
        &sim,
        &config,
        &state,
        &["--dry-run", "--mode", "full", "--max-delete-percent", "100"],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let out = text(&o.stdout);
    assert!(
        out.contains("dry run: what a real run would change (nothing was committed)\n"),
        "{out}"
    );
    let line = format!(
        "  User: {} create, {} update, {} delete, {} purge, ",
        users["create"]["count"],
        users["update"]["count"],
        users["delete"]["count"],
        users["purge"]["count"]
    );
    assert!(out.contains(&line), "{line}\n{out}");
    assert_eq!(store_rows(&state), rows_before);
}

#[tokio::test]
async fn completions_for_bash_and_others() {
    let dir = TempDir::new("ops");
    let o = harness(&dir, &["completions", "bash"], &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let script = text(&o.stdout);
    assert!(script.contains("_harness()"), "{script}");
    for word in [
        "import",
        "runs",
        "--dry-run",
        "--metrics-out",
        "completions",
    ] {
        assert!(script.contains(word), "{word} missing");
    }
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let o = harness(&dir, &["completions", shell], &[]).await;
        assert_eq!(code(&o), 0, "{shell}: {}", show(&o));
        assert!(text(&o.stdout).contains("import"), "{shell}");
    }
    let o = harness(&dir, &["completions", "tcsh"], &[]).await;
    assert_eq!(code(&o), 2, "{}", show(&o));
}

/// Every stderr line is a JSON object with a level and a message; returns them.
fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    let err = text(&o.stderr);
    assert!(!err.is_empty(), "{}", show(o));
    err.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{}", show(o)));
            assert!(
                v["level"].is_string() && v["fields"]["message"].is_string(),
                "{l}"
            );
            v
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_makes_every_stderr_line_json() {
    let dir = TempDir::new("ops");
    let sim = small_sim().await;
    let config = write_config(&dir, &sim);
    let state = dir.path("s.db");

    // Notices of --simulated, and info logs.
    let sim_state = dir.path("sim.db");
    let o = harness(
        &dir,
        &[
            "import",
            "--simulated",
            "--workers",
            "60",
            "--orgs",
            "6",
            "--churn",
            "3",
            "--state",
            p(&sim_state),
            "--log-format",
            "json",
        ],
        &[("RUST_LOG", "info")],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let lines = json_lines(&o);
    let messages: Vec<&str> = lines
        .iter()
        .map(|l| l["fields"]["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("harness: simulated Workday tenant with 60 workers")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("harness: applied 3 mutations")),
        "{messages:?}"
    );
    assert!(messages.contains(&"import started"), "{messages:?}");

    // A failed run: the final error line too.
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: usize::MAX,
        kind: FaultKind::Status(503),
    });
    let o = import(&dir, &sim, &config, &state, &["--log-format", "json"]).await;
    assert_eq!(code(&o), 75, "{}", show(&o));
    let lines = json_lines(&o);
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["target"], "harness");
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("error: the full import failed (Server)"),
        "{last}"
    );

    // A usage error, by flag and by environment; and a bad RUST_LOG.
    let o = harness(
        &dir,
        &[
            "import",
            "--simulated",
            "--mode",
            "sideways",
            "--log-format",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1);
    let m = lines[0]["fields"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("error: invalid value 'sideways' for '--mode"),
        "{m}"
    );
    let o = harness(&dir, &["frobnicate"], &[("IDMESH_LOG_FORMAT", "json")]).await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert_eq!(json_lines(&o).len(), 1);
    let o = harness(
        &dir,
        &["runs", "--state", p(&state), "--log-format=json"],
        &[("RUST_LOG", "=][")],
    )
    .await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    let lines = json_lines(&o);
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("error: RUST_LOG"),
        "{lines:?}"
    );

    // Text stays text.
    let o = harness(&dir, &["frobnicate"], &[]).await;
    assert!(
        text(&o.stderr).starts_with("error: unrecognized subcommand"),
        "{}",
        show(&o)
    );
}
