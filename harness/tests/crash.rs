//! Crash safety (issue 7): the real `harness` binary is killed with SIGKILL
//! at 20 seeded points spread over a 20,000-worker import, and the
//! state store is checked after every kill: SQLite's integrity check passes,
//! and the store is either empty (no watermark, no objects) or holds exactly
//! what a completed import commits (the same watermark, the same 20,000
//! workers and 500 orgs with the same attributes). After each group of kills
//! a rerun completes, converges to exactly the uninterrupted run's store, and
//! the run history shows every killed run that had started as `Abandoned`.
//!
//! The kill points are fractions of one uninterrupted run's duration, which
//! the test measures first (it is not asserted on). Every wait is bounded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, BIN};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rusqlite::{Connection, OptionalExtension};

const WORKERS: u64 = 20_000;
const ORGS: u64 = 500;
const INSTANCE: &str = "workday:acme";
/// Kill points, in groups; each group ends with a rerun to completion. Even
/// groups start from a fresh (missing) store, odd ones from the store the
/// previous rerun completed, so kills hit both a first import and a re-import.
const GROUPS: usize = 2;
const KILLS_PER_GROUP: usize = 10;
const SEED: u64 = 0x00c0_ffee_d00d;
/// Bound on one import (debug build); a run that takes longer fails the test.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// `harness import --simulated` of the 20,000-worker tenant into `state`,
/// its JSON summary written to `out`.
fn spawn_import(state: &Path, out: &Path) -> Child {
    let stdout = std::fs::File::create(out).unwrap();
    Command::new(BIN)
        .args([
            "import",
            "--simulated",
            "--workers",
            &WORKERS.to_string(),
            "--orgs",
            &ORGS.to_string(),
            "--json",
            "--state",
        ])
        .arg(state)
        .env_remove("RUST_LOG")
        .env_remove("CARGO")
        .env_remove("IDMESH_STATE")
        .env(harness::cli::NO_RETRY_DELAY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn harness")
}

/// Waits at most `limit` for `child` to exit (killing it past that).
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("harness did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs an import to completion: its JSON summary and how long it took.
fn import_to_completion(state: &Path, out: &Path) -> (serde_json::Value, Duration) {
    let t0 = Instant::now();
    let mut child = spawn_import(state, out);
    let status = wait_bounded(&mut child, RUN_LIMIT);
    let took = t0.elapsed();
    let text = std::fs::read_to_string(out).unwrap();
    assert_eq!(status.code(), Some(0), "the import failed: {text}");
    (serde_json::from_str(&text).unwrap(), took)
}

/// What the store holds, read with SQLite directly.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    watermark: Option<String>,
    users: u64,
    orgs: u64,
    /// How many object rows are missing from the reference store or differ
    /// from it (type, id, attributes, deleted flags); `None`: not compared.
    differing: Option<u64>,
    /// `(pid, status)` of every run, oldest first.
    runs: Vec<(i64, String)>,
}

/// Reads `state` (missing: empty), compared with the `reference` store.
fn snapshot(state: &Path, reference: Option<&Path>) -> Snapshot {
    let empty = Snapshot {
        watermark: None,
        users: 0,
        orgs: 0,
        differing: None,
        runs: Vec::new(),
    };
    if !state.exists() {
        return empty;
    }
    let conn = Connection::open(state).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "SQLite integrity check");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let has = |t: &str| tables.iter().any(|n| n == t);
    let mut snap = empty;
    if has("watermarks") {
        snap.watermark = conn
            .query_row(
                "SELECT watermark FROM watermarks WHERE instance = ?1",
                [INSTANCE],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        let others: u64 = conn
            .query_row(
                "SELECT COUNT(*) FROM watermarks WHERE instance <> ?1",
                [INSTANCE],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(others, 0, "only the one instance");
    }
    if has("objects") {
        let others: u64 = conn
            .query_row(
                "SELECT COUNT(*) FROM objects WHERE instance_id IS NOT \
                 (SELECT id FROM instances WHERE name = ?1) \
                 OR object_type NOT IN ('User', 'OrgUnit')",
                [INSTANCE],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(others, 0, "only Users and OrgUnits of the one instance");
        let count = |ty: &str| -> u64 {
            conn.query_row(
                "SELECT COUNT(*) FROM objects WHERE object_type = ?1",
                [ty],
                |r| r.get(0),
            )
            .unwrap()
        };
        (snap.users, snap.orgs) = (count("User"), count("OrgUnit"));
        // An empty store is not compared (its `differing` stays `None`).
        if let Some(reference) = reference.filter(|_| snap.users + snap.orgs > 0) {
            conn.execute(
                "ATTACH DATABASE ?1 AS reference",
                [reference.to_str().unwrap()],
            )
            .unwrap();
            // Rows of this store missing from the reference or different
            // there; with equal counts and the primary key, none means equal.
            snap.differing = Some(
                conn.query_row(
                    "SELECT COUNT(*) FROM main.objects m LEFT JOIN reference.objects r \
                     USING (instance_id, object_type, external_id) \
                     WHERE r.external_id IS NULL OR m.attributes IS NOT r.attributes \
                     OR m.deleted IS NOT r.deleted OR m.deleted_by IS NOT r.deleted_by",
                    [],
                    |r| r.get(0),
                )
                .unwrap(),
            );
        }
    }
    if has("runs") {
        snap.runs = conn
            .prepare("SELECT COALESCE(pid, -1), status FROM runs ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    }
    snap
}

/// Where a kill landed, judged from the store afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landed {
    /// Before the run was recorded (process start, tenant generation, ...).
    BeforeTheRun,
    /// During the run: its row is still `Running`.
    MidRun,
    /// After the commit: the run had finished.
    AfterTheCommit,
}

#[test]
fn sigkill_at_seeded_points_of_a_20000_worker_import_never_corrupts_and_converges() {
    let t_start = Instant::now();
    let dir = TempDir::new("crash");

    // An uninterrupted run: the reference store, watermark and duration.
    let reference = dir.path("reference.db");
    let (summary, took) = import_to_completion(&reference, &dir.path("reference.json"));
    assert_eq!(summary["outcome"]["status"], "Succeeded", "{summary}");
    let watermark = summary["newWatermark"].as_str().unwrap().to_string();
    let expected = snapshot(&reference, None);
    assert_eq!(expected.watermark.as_deref(), Some(watermark.as_str()));
    assert_eq!((expected.users, expected.orgs), (WORKERS, ORGS));
    eprintln!("crash test: an uninterrupted import took {took:?}");

    // Kill points: one per stratum of the measured duration, shuffled.
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let kills = GROUPS * KILLS_PER_GROUP;
    let mut fractions: Vec<f64> = (0..kills)
        .map(|i| (i as f64 + rng.random::<f64>()) / kills as f64)
        .collect();
    fractions.shuffle(&mut rng);

    let mut landed = Vec::new();
    let mut checking = Duration::ZERO;
    let mut state = dir.path("state-0.db");
    let mut before = snapshot(&state, Some(&reference));
    for (group, points) in fractions.chunks(KILLS_PER_GROUP).enumerate() {
        if group % 2 == 0 {
            state = dir.path(&format!("state-{group}.db"));
            assert!(!state.exists());
            before = snapshot(&state, Some(&reference));
        }
        let mut killed_pids = Vec::new();
        for (k, fraction) in points.iter().enumerate() {
            let out = dir.path(&format!("kill-{group}-{k}.json"));
            let mut child = spawn_import(&state, &out);
            let pid = i64::from(child.id());
            std::thread::sleep(took.mul_f64(*fraction));
            let _ = child.kill(); // SIGKILL; fails only if it already exited and was reaped
            wait_bounded(&mut child, Duration::from_secs(10));

            // Consistent: the previous committed state or a complete one.
            let t_check = Instant::now();
            let snap = snapshot(&state, Some(&reference));
            checking += t_check.elapsed();
            let what = format!("group {group}, kill {k} at {fraction:.3} of {took:?}");
            match &snap.watermark {
                None => {
                    assert_eq!(
                        (snap.users, snap.orgs),
                        (0, 0),
                        "{what}: no watermark, no objects"
                    );
                }
                Some(w) => {
                    assert_eq!(w, &watermark, "{what}: the watermark of a completed run");
                    assert_eq!((snap.users, snap.orgs), (WORKERS, ORGS), "{what}");
                    assert_eq!(
                        snap.differing,
                        Some(0),
                        "{what}: the objects of a completed run"
                    );
                }
            }
            let row = snap.runs.iter().find(|(p, _)| *p == pid);
            let where_ = match row.map(|(_, s)| s.as_str()) {
                None => Landed::BeforeTheRun,
                Some("Running") => Landed::MidRun,
                Some("Succeeded") => Landed::AfterTheCommit,
                Some(other) => panic!("{what}: the killed run is recorded {other}"),
            };
            match where_ {
                // Nothing committed by the killed run.
                Landed::BeforeTheRun | Landed::MidRun => assert_eq!(
                    (&snap.watermark, snap.users, snap.orgs, snap.differing),
                    (
                        &before.watermark,
                        before.users,
                        before.orgs,
                        before.differing
                    ),
                    "{what}: the previous state"
                ),
                Landed::AfterTheCommit => {
                    assert_eq!(snap.watermark.as_deref(), Some(watermark.as_str()))
                }
            }
            if where_ == Landed::MidRun {
                killed_pids.push(pid);
            }
            landed.push(where_);
            before = snap;
        }

        // A rerun completes and converges to the uninterrupted run's store.
        let (summary, _) = import_to_completion(&state, &dir.path(&format!("rerun-{group}.json")));
        assert_eq!(summary["outcome"]["status"], "Succeeded", "{summary}");
        let snap = snapshot(&state, Some(&reference));
        assert_eq!(
            snap.watermark.as_deref(),
            Some(watermark.as_str()),
            "group {group}: rerun watermark"
        );
        assert_eq!(
            (snap.users, snap.orgs),
            (WORKERS, ORGS),
            "group {group}: rerun counts"
        );
        assert_eq!(snap.differing, Some(0), "group {group}: rerun objects");
        for pid in &killed_pids {
            let status = snap
                .runs
                .iter()
                .find(|(p, _)| p == pid)
                .map(|(_, s)| s.as_str());
            assert_eq!(
                status,
                Some("Abandoned"),
                "group {group}: the run of killed pid {pid}"
            );
        }
        assert!(
            snap.runs.iter().all(|(_, s)| s != "Running"),
            "group {group}: no run left Running: {:?}",
            snap.runs
        );
        assert_eq!(snap.runs.last().map(|(_, s)| s.as_str()), Some("Succeeded"));
        before = snap;
    }

    let mid = landed.iter().filter(|l| **l == Landed::MidRun).count();
    eprintln!(
        "crash test: {kills} kills: {mid} mid-run, {} before the run was recorded, {} after the commit; \
         {checking:?} checking the store after the kills; {:?} in all",
        landed.iter().filter(|l| **l == Landed::BeforeTheRun).count(),
        landed.iter().filter(|l| **l == Landed::AfterTheCommit).count(),
        t_start.elapsed()
    );
    assert!(kills >= 20);
    // Not vacuous: kills did land inside the import's transaction (most do;
    // the bound leaves room for a machine that got faster since the measure).
    assert!(
        mid >= kills / 4,
        "too few kills landed inside the import's transaction: {landed:?}"
    );
}
