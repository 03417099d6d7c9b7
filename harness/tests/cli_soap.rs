//! `harness import --simulated --api soap` and `harness bench --api soap`:
//! the embedded demo read through the SOAP Human_Resources service with the
//! simulator's ISU UsernameToken.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{code, harness, p, show, text, TempDir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_soap_full_then_churn_delta() {
    let dir = TempDir::new("cli-soap");
    let state = dir.path("demo.db");
    let base = [
        "import",
        "--simulated",
        "--api",
        "soap",
        "--workers",
        "300",
        "--orgs",
        "20",
        "--state",
        p(&state),
    ];
    let mut args = base.to_vec();
    args.push("--json");
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["mode"], "Full");
    assert_eq!(report["outcome"]["status"], "Succeeded");
    assert_eq!(report["counts"]["OrgUnit"]["Upsert"], 20);
    // Every active worker (REST reads the same 283, plus 17 terminated as
    // deletes; a full SOAP run excludes inactive workers).
    assert_eq!(report["counts"]["User"]["Upsert"], 283);
    assert_eq!(report["counts"]["User"]["Delete"], 0);
    // No password or its reference's value anywhere.
    assert!(!text(&o.stdout).contains("demo-isu-password-not-real"));
    assert!(!text(&o.stderr).contains("demo-isu-password-not-real"));

    args.extend(["--churn", "30"]);
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let delta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(delta["mode"], "Delta");
    assert_eq!(delta["outcome"]["status"], "Succeeded");
    assert_eq!(delta["oldWatermark"], report["newWatermark"]);
    assert!(delta["counts"]["User"]["Upsert"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_needs_simulated_and_bench_reads_soap() {
    let dir = TempDir::new("cli-soap");
    let o = harness(
        &dir,
        &[
            "import", "--api", "soap", "--config", "c.json", "--mode", "full",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        text(&o.stderr).contains("--api applies only with --simulated"),
        "{}",
        show(&o)
    );

    let o = harness(
        &dir,
        &[
            "bench",
            "--api",
            "soap",
            "--workers",
            "250",
            "--orgs",
            "10",
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let b: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The Count 1 probe, 3 worker pages of 100 at most, 1 organization page.
    let requests = b["requests"].as_u64().unwrap();
    assert!((4..=5).contains(&requests), "{b}");
    assert_eq!(b["retries"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_command_keeps_api_soap() {
    let dir = TempDir::new("cli-soap-next");
    let state = dir.path("demo.db");
    let args = [
        "import",
        "--simulated",
        "--api",
        "soap",
        "--workers",
        "50",
        "--orgs",
        "5",
        "--state",
        p(&state),
    ];
    let o = harness(&dir, &args, &[]).await;
    assert_eq!(code(&o), 0, "{}", show(&o));
    let next = format!(
        "next: harness import --simulated --api soap --churn 100 --state {}",
        p(&state)
    );
    assert!(text(&o.stdout).contains(&next), "{}", show(&o));
}
