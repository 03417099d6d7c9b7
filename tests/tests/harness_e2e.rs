//! The harness as a library against the embedded simulator: full then delta
//! converges to the simulator's truth after churn; the watermark never moves
//! after a failed, cancelled or record-error run; purge detection and its
//! threshold; a connector injected with a no-sleep sleeper retries without
//! waiting. Every wait is bounded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use connector_api::{
    Connector, ConnectorFactory, ErrorKind, ImportMode, MetricsSnapshot, RunContext, StaticSecrets,
};
use connector_workday::retry::RecordingSleeper;
use connector_workday::WorkdayFactory;
use harness::engine::{Engine, RunObserver, RunOptions, RunOutcome, RunReport};
use harness::sim::{Endpoint, FaultKind, FaultRule, SimConfig, Simulator};
use harness::simulated;
use harness::store::{RunStatus, Store};

const INSTANCE: &str = "workday:acme";
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

struct TempState(PathBuf);

impl TempState {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "harness-e2e-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn db(&self) -> PathBuf {
        self.0.join("state.db")
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Fixture {
    sim: Simulator,
    connector: Box<dyn Connector>,
    sleeper: RecordingSleeper,
    engine: Engine,
    _state: TempState,
}

async fn fixture(workers: usize, orgs: usize) -> Fixture {
    let sim = Simulator::start(SimConfig {
        workers,
        orgs,
        port: 0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let sleeper = RecordingSleeper::new();
    let factory = WorkdayFactory::new().with_sleeper(Arc::new(sleeper.clone()));
    let redactor = harness::secrets::Redactor::new();
    let secrets: StaticSecrets = simulated::secrets(&sim, &redactor);
    let connector = factory
        .validate(
            &simulated::workday_config(&sim),
            &simulated::auth_material(&sim),
            &secrets,
        )
        .await
        .unwrap();
    let state = TempState::new();
    let engine = Engine::new(Store::open(&state.db()).unwrap());
    Fixture {
        sim,
        connector,
        sleeper,
        engine,
        _state: state,
    }
}

impl Fixture {
    async fn run_with(&mut self, options: RunOptions) -> RunReport {
        tokio::time::timeout(
            RUN_TIMEOUT,
            self.engine.run(self.connector.as_ref(), options),
        )
        .await
        .expect("the run finished in time")
        .expect("the run started")
    }

    async fn run(&mut self, mode: ImportMode) -> RunReport {
        self.run_with(RunOptions::new("workday", INSTANCE, mode))
            .await
    }

    fn watermark(&self) -> Option<String> {
        self.engine.store().watermark(INSTANCE).unwrap()
    }
}

fn instant(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Asserts the store holds the simulator's truth: every served worker with
/// its latest version (live unless terminated), every org, and no other
/// live object except those in `stale` (purged at the source, which only a
/// full run can notice).
fn assert_converged(f: &Fixture, stale: &HashSet<String>) {
    let store = f.engine.store();
    let mut truth: HashMap<String, serde_json::Value> = HashMap::new();
    f.sim.for_each_worker(|w| {
        truth.insert(w["id"].as_str().unwrap().to_string(), w.clone());
    });
    let stored: HashMap<String, _> = store
        .all_objects(INSTANCE, "User")
        .unwrap()
        .into_iter()
        .map(|o| (o.external_id.clone(), o))
        .collect();
    for (id, w) in &truth {
        let o = stored
            .get(id)
            .unwrap_or_else(|| panic!("worker {id} is not in the store"));
        let terminated = w["employmentStatus"].as_str() == Some("Terminated");
        assert_eq!(o.deleted, terminated, "worker {id}: deleted flag");
        assert_eq!(
            instant(&o.attributes["lastUpdatedDateTime"]),
            instant(&w["lastUpdatedDateTime"]),
            "worker {id}: the stored version is not the latest"
        );
        if let Some(first) = w["firstName"].as_str() {
            assert_eq!(o.attributes["firstName"], first, "worker {id}: firstName");
        }
    }
    for (id, o) in &stored {
        if !truth.contains_key(id) && !o.deleted {
            assert!(
                stale.contains(id),
                "worker {id} is live in the store but not served"
            );
        }
    }
    let mut orgs = 0;
    f.sim.for_each_org(|org| {
        orgs += 1;
        let id = org["id"].as_str().unwrap();
        let o = store
            .object(INSTANCE, "OrgUnit", id)
            .unwrap()
            .unwrap_or_else(|| panic!("org {id} is not in the store"));
        assert!(!o.deleted);
        assert_eq!(
            instant(&o.attributes["lastUpdatedDateTime"]),
            instant(&org["lastUpdatedDateTime"]),
            "org {id}"
        );
    });
    assert_eq!(
        store.live_objects(INSTANCE, "OrgUnit").unwrap().len(),
        orgs,
        "no extra orgs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_delta_converges_to_truth_after_churn() {
    let mut f = fixture(2_000, 100).await;
    let r = f.run(ImportMode::Full).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
    assert!(r.complete && r.watermark_advanced);
    assert_eq!(r.metrics.records, 2_100);
    assert_converged(&f, &HashSet::new());

    let churn = f.sim.churn(300, 11);
    assert!(churn.total() > 0);
    let r = f.run(ImportMode::Delta).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
    assert!(r.watermark_advanced);
    assert!(r.purged.is_empty(), "a delta never purges");
    assert!(
        r.metrics.records < 2_100,
        "a delta reads only what changed: {:?}",
        r.metrics
    );
    let purged: HashSet<String> = churn.purged.iter().cloned().collect();
    assert_converged(&f, &purged);

    // A quiet delta changes nothing.
    let before = f.engine.store().object_counts(INSTANCE).unwrap();
    let r = f.run(ImportMode::Delta).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded);
    assert_eq!(f.engine.store().object_counts(INSTANCE).unwrap(), before);

    // The weekly full run catches the hard deletes.
    let r = f.run(ImportMode::Full).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
    let live_purged = purged
        .iter()
        .filter(|id| {
            f.engine
                .store()
                .object(INSTANCE, "User", id)
                .unwrap()
                .is_some_and(|o| o.deleted_by.as_deref() == Some("purge"))
        })
        .count();
    assert_eq!(
        r.purged.get("User").copied().unwrap_or(0) as usize,
        live_purged
    );
    assert_converged(&f, &HashSet::new());
    assert_eq!(f.engine.store().runs(None).unwrap().len(), 4);
}

/// Cancels the run's context when the first page is applied.
#[derive(Debug)]
struct CancelOnFirstPage(RunContext);

impl RunObserver for CancelOnFirstPage {
    fn page_applied(&self, _: &str, _: u64, _: MetricsSnapshot) {
        self.0.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermark_is_unchanged_after_failed_cancelled_and_record_error_runs() {
    let mut f = fixture(500, 30).await;
    assert_eq!(f.run(ImportMode::Full).await.outcome, RunOutcome::Succeeded);
    let committed = f.watermark();
    assert!(committed.is_some());
    let churn = f.sim.churn(50, 4);
    let hired = churn
        .hired
        .first()
        .cloned()
        .expect("the churn hired someone");

    // Failed: every workers request answers 503; retries exhaust without sleeping.
    f.sim.clear_requests();
    f.sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: usize::MAX,
        kind: FaultKind::Status(503),
    });
    let r = f.run(ImportMode::Delta).await;
    let RunOutcome::Failed { kind, .. } = r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(kind, ErrorKind::Server);
    assert!(r.metrics.retries >= 1);
    assert!(
        !f.sleeper.delays().is_empty(),
        "back-off went through the injected sleeper"
    );
    assert_eq!(f.watermark(), committed);
    assert!(f
        .engine
        .store()
        .object(INSTANCE, "User", &hired)
        .unwrap()
        .is_none());
    f.sim.clear_faults();

    // Cancelled after the first page: nothing of it is committed.
    let mut options = RunOptions::new("workday", INSTANCE, ImportMode::Delta);
    options.observer = Some(Arc::new(CancelOnFirstPage(options.context.clone())));
    let r = f.run_with(options).await;
    assert_eq!(r.outcome, RunOutcome::Cancelled, "{r:?}");
    assert_eq!(f.watermark(), committed);
    assert!(f
        .engine
        .store()
        .object(INSTANCE, "User", &hired)
        .unwrap()
        .is_none());
    assert_eq!(
        f.engine.store().run(r.run_id).unwrap().unwrap().status,
        RunStatus::Cancelled
    );

    // Record errors: good records applied, watermark kept.
    f.sim.clear_requests();
    f.sim
        .add_fault(FaultRule::once(Endpoint::Workers, 1, FaultKind::BadRecord));
    let r = f.run(ImportMode::Delta).await;
    assert_eq!(r.outcome, RunOutcome::SucceededWithRecordErrors, "{r:?}");
    assert!(!r.record_errors.is_empty());
    assert!(!r.watermark_advanced && r.watermark_note.is_some());
    assert_eq!(f.watermark(), committed);
    f.sim.clear_faults();

    // Healthy again: the next delta converges and advances.
    let r = f.run(ImportMode::Delta).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
    assert_ne!(f.watermark(), committed);
    assert!(f
        .engine
        .store()
        .object(INSTANCE, "User", &hired)
        .unwrap()
        .is_some());
    assert_converged(&f, &churn.purged.iter().cloned().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_threshold_protects_against_partial_data() {
    let mut f = fixture(400, 20).await;
    assert_eq!(f.run(ImportMode::Full).await.outcome, RunOutcome::Succeeded);
    let committed = f.watermark();
    let live: HashSet<String> = f
        .engine
        .store()
        .live_objects(INSTANCE, "User")
        .unwrap()
        .into_iter()
        .map(|o| o.external_id)
        .collect();
    let mut purged = Vec::new();
    for id in f.sim.worker_ids() {
        if purged.len() == 20 {
            break;
        }
        if live.contains(&id) && f.sim.purge_worker(&id).is_ok() {
            purged.push(id);
        }
    }
    let live_count = live.len() as u64;

    // 20 of ~380 live (about 5 %): refused at 2 %.
    let mut options = RunOptions::new("workday", INSTANCE, ImportMode::Full);
    options.max_delete_percent = 2.0;
    let r = f.run_with(options).await;
    let RunOutcome::PurgeRefused { refusals } = &r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(refusals[0].object_type, "User");
    assert_eq!(refusals[0].would_delete, 20);
    assert_eq!(refusals[0].live, live_count);
    assert_eq!(f.watermark(), committed);
    assert_eq!(
        f.engine
            .store()
            .live_objects(INSTANCE, "User")
            .unwrap()
            .len() as u64,
        live_count
    );

    // Within the default 10 %: purged.
    let r = f.run(ImportMode::Full).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
    assert_eq!(r.purged.get("User"), Some(&20));
    for id in &purged {
        let o = f
            .engine
            .store()
            .object(INSTANCE, "User", id)
            .unwrap()
            .unwrap();
        assert!(o.deleted);
        assert_eq!(o.deleted_by.as_deref(), Some("purge"));
    }
    assert_converged(&f, &HashSet::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_through_the_injected_sleeper() {
    let mut f = fixture(300, 10).await;
    f.sim.clear_requests();
    f.sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 2,
        times: 2,
        kind: FaultKind::TooManyRequests(harness::sim::RetryAfter::Seconds(20)),
    });
    let r = f.run(ImportMode::Full).await;
    assert_eq!(r.outcome, RunOutcome::Succeeded, "{r:?}");
    assert!(r.metrics.retries >= 2, "{:?}", r.metrics);
    assert!(
        f.sleeper.delays().contains(&Duration::from_secs(20)),
        "Retry-After honoured: {:?}",
        f.sleeper.delays()
    );
    assert_converged(&f, &HashSet::new());
}
