//! The test knob `IDMESH_TEST_NO_RETRY_DELAY` (skip retry waits) is honoured
//! only by builds with the `test-knobs` feature: the `harness` binary these
//! tests spawn has it, while a normal or release build never turns it on.
//! Every wait is bounded.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::process::Command;
use std::time::Duration;

use common::{code, command, p, show, TempDir};

use harness::cli::NO_RETRY_DELAY_ENV;
use harness::sim::{Endpoint, FaultKind, FaultRule, RetryAfter, SimConfig, Simulator};

/// `Retry-After` of each throttled answer: three of them make 87 s of
/// waiting for a build that ignores the knob.
const WAIT_S: u64 = 29;

/// Far below the waits a build without the knob would sleep.
const BOUND: Duration = Duration::from_secs(45);

#[tokio::test]
async fn the_tested_harness_binary_honours_the_no_retry_delay_knob() {
    let sim = Simulator::start(SimConfig {
        workers: 50,
        orgs: 5,
        client_secret: "knob-secret-not-real".to_string(),
        port: 0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 1,
        times: 3,
        kind: FaultKind::TooManyRequests(RetryAfter::Seconds(WAIT_S)),
    });
    let dir = TempDir::new("knobs");
    let c = sim.config();
    let config = dir.path("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "BaseUrl": sim.base_url(),
            "TenantName": c.tenant,
            "Realm": c.realm,
            "ClientId": c.client_id,
            "MaxRequestsPerHour": 1_000_000,
        })
        .to_string(),
    )
    .unwrap();
    let state = dir.path("state.db");
    let secret = c.client_secret.clone();
    let mut cmd = command(
        &dir,
        &[
            "import",
            "--config",
            p(&config),
            "--mode",
            "full",
            "--state",
            p(&state),
            "--json",
        ],
        &[("IDMESH_SECRET_WORKDAY_ACME_CLIENTSECRET", &secret)],
    );
    let child = cmd.spawn().expect("spawn harness");
    let o = tokio::time::timeout(BOUND, child.wait_with_output())
        .await
        .expect("the run skipped its 3 x 29 s Retry-After waits")
        .expect("harness output");
    assert_eq!(code(&o), 0, "{}", show(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["metrics"]["retries"], 3, "{r}");
    assert_eq!(r["metrics"]["records"], 55, "{r}");
    assert_eq!(r["outcome"]["status"], "Succeeded", "{r}");
}

/// `cargo tree` of the workspace with each package's enabled features, one
/// `name version features` line per package.
fn tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--manifest-path", manifest])
        .args(["--prefix", "none", "--format", "{p} {f}"])
        .args(args)
        .env_remove(NO_RETRY_DELAY_ENV)
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The lines of `tree` output naming `test-knobs`, by package name.
fn with_knobs(tree: &str) -> Vec<String> {
    let mut names: Vec<String> = tree
        .lines()
        .filter(|l| l.split([' ', ',']).any(|f| f == "test-knobs"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn release_builds_never_turn_the_test_knobs_on() {
    // What `cargo build --release -p harness` (or the whole workspace, or
    // the plugin) resolves: no dev-dependencies, so no test-knobs anywhere.
    let scopes: [&[&str]; 3] = [
        &["-p", "harness"],
        &["-p", "connector-workday"],
        &["--workspace"],
    ];
    for scope in scopes {
        let mut args = vec!["-e", "no-dev"];
        args.extend_from_slice(scope);
        let t = tree(&args);
        assert!(t.contains("connector-workday v"), "{t}");
        assert_eq!(with_knobs(&t), Vec::<String>::new(), "{scope:?}:\n{t}");
    }
    // And what `cargo test` resolves: the check above can see the feature.
    let t = tree(&["-p", "harness"]);
    assert_eq!(with_knobs(&t), ["connector-workday", "harness"], "{t}");
}
