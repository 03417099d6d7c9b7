//! Benchmark: serve every page of a 100,000-worker simulated tenant at
//! `limit=100` over HTTP on 127.0.0.1 (REST, then SOAP `Get_Workers` with
//! `Count` 100 as a full read sends it), and report the CPU time spent.
//!
//! The simulator runs on its own single-threaded tokio runtime (one OS
//! thread), the client on another; CPU time per thread comes from
//! `/proc/thread-self/schedstat` (Linux), so the server's figure excludes the
//! client's work. Run with `cargo bench -p harness --bench sim_serve`;
//! `SIM_BENCH_WORKERS` overrides the tenant size, `SIM_BENCH_MILLION=0`
//! skips the 1,000,000-worker streaming check.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use harness::bench::{soap_full_read_request, thread_cpu};
use harness::sim::{Endpoint, SimConfig, Simulator};
use tokio::sync::{mpsc, oneshot};

/// Resident set size of the process, in MiB.
fn rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn fmt(d: Option<Duration>) -> String {
    d.map_or_else(
        || "n/a".to_string(),
        |d| format!("{:.3} s", d.as_secs_f64()),
    )
}

type CpuProbe = oneshot::Sender<Option<Duration>>;

/// Starts the simulator on a dedicated single-threaded runtime.
fn spawn_server(
    config: SimConfig,
) -> anyhow::Result<(
    Simulator,
    mpsc::Sender<CpuProbe>,
    std::thread::JoinHandle<()>,
)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (probe_tx, mut probe_rx) = mpsc::channel::<CpuProbe>(4);
    let handle = std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(anyhow!(e)));
                return;
            }
        };
        rt.block_on(async move {
            match Simulator::start(config).await {
                Ok(sim) => {
                    let _ = ready_tx.send(Ok(sim.clone()));
                    while let Some(reply) = probe_rx.recv().await {
                        let _ = reply.send(thread_cpu());
                    }
                    sim.shutdown().await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!(e)));
                }
            }
        });
    });
    let sim = ready_rx.recv().context("server thread died")??;
    Ok((sim, probe_tx, handle))
}

async fn server_cpu(probe: &mpsc::Sender<CpuProbe>) -> Option<Duration> {
    let (tx, rx) = oneshot::channel();
    probe.send(tx).await.ok()?;
    rx.await.ok().flatten()
}

async fn serve_all_pages(workers: usize) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let (sim, probe, server) = spawn_server(SimConfig {
        workers,
        orgs: 500.min(workers),
        ..SimConfig::default()
    })?;
    println!(
        "tenant of {workers} workers generated and listening in {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    let client = reqwest::Client::builder().no_proxy().build()?;
    let cfg = sim.config().clone();
    let tok: serde_json::Value = client
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?
        .json()
        .await?;
    let tok = tok["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no access token"))?
        .to_string();
    let url = format!("{}/workers", sim.api_base_url());

    for round in 1..=3 {
        let srv0 = server_cpu(&probe).await;
        let cli0 = thread_cpu();
        let wall = Instant::now();
        let (mut pages, mut bytes, mut records) = (0usize, 0usize, 0usize);
        let mut offset = 0;
        while offset < workers {
            let body = client
                .get(&url)
                .query(&[("limit", "100"), ("offset", &offset.to_string())])
                .bearer_auth(&tok)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            pages += 1;
            bytes += body.len();
            // Cheap record count (no JSON parse on the client side).
            records += body.windows(7).filter(|w| w == b"\"href\":").count();
            offset += 100;
        }
        let wall = wall.elapsed();
        let srv = server_cpu(&probe).await.zip(srv0).map(|(b, a)| b - a);
        let cli = thread_cpu().zip(cli0).map(|(b, a)| b - a);
        println!(
            "round {round}: {pages} pages, {records} records, {:.1} MiB; wall {:.3} s; server CPU {}; client CPU {}",
            bytes as f64 / 1048576.0,
            wall.as_secs_f64(),
            fmt(srv),
            fmt(cli)
        );
    }

    soap_rounds(&sim, &probe, &client).await?;

    // Rendering alone, in-process (no HTTP): the cost of generation + JSON.
    let cpu0 = thread_cpu();
    let t = Instant::now();
    let mut bytes = 0;
    let mut offset = 0;
    while offset < workers {
        bytes += sim.page_body(Endpoint::Workers, 100, offset, None)?.len();
        offset += 100;
    }
    println!(
        "render only (no HTTP): {:.1} MiB in {:.3} s wall, {} CPU",
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64(),
        fmt(thread_cpu().zip(cpu0).map(|(b, a)| b - a))
    );
    drop(probe);
    drop(sim);
    server
        .join()
        .map_err(|_| anyhow!("server thread panicked"))?;
    Ok(())
}

/// Every `Get_Workers` page of a full SOAP read, three times (one
/// snapshot each), with the server's CPU per page.
async fn soap_rounds(
    sim: &Simulator,
    probe: &mpsc::Sender<CpuProbe>,
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    let cfg = sim.config().clone();
    let url = sim.soap_url("v44.0");
    for round in 1..=3 {
        let as_of = sim.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let srv0 = server_cpu(probe).await;
        let wall = Instant::now();
        let (mut pages, mut bytes, mut total_pages) = (0usize, 0usize, 1usize);
        while pages < total_pages {
            let body = client
                .post(&url)
                .header("Content-Type", "text/xml; charset=utf-8")
                .body(soap_full_read_request(&cfg, &as_of, pages + 1))
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            if pages == 0 {
                let text = std::str::from_utf8(&body)?;
                total_pages = text
                    .split("<wd:Total_Pages>")
                    .nth(1)
                    .and_then(|t| t.split('<').next())
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| anyhow!("no Total_Pages in the first SOAP page"))?;
            }
            pages += 1;
            bytes += body.len();
        }
        let srv = server_cpu(probe).await.zip(srv0).map(|(b, a)| b - a);
        println!(
            "soap round {round}: {pages} Get_Workers pages, {:.1} MiB; wall {:.3} s; server CPU {} ({} per page)",
            bytes as f64 / 1048576.0,
            wall.elapsed().as_secs_f64(),
            fmt(srv),
            srv.map_or_else(
                || "n/a".to_string(),
                |d| format!("{:.2} ms", d.as_secs_f64() * 1000.0 / pages.max(1) as f64)
            ),
        );
    }
    Ok(())
}

async fn million() -> anyhow::Result<()> {
    let before = rss_mib();
    let t = Instant::now();
    let sim = Simulator::start(SimConfig {
        workers: 1_000_000,
        orgs: 5_000,
        ..SimConfig::default()
    })
    .await?;
    let gen = t.elapsed();
    let t = Instant::now();
    let last = sim.page_body(Endpoint::Workers, 100, 999_900, None)?;
    let first = sim.page_body(Endpoint::Workers, 100, 0, None)?;
    println!(
        "1,000,000 workers: generated in {:.3} s; RSS {:.0} MiB -> {:.0} MiB; first+last page rendered in {:.1} ms ({} + {} bytes)",
        gen.as_secs_f64(),
        before.unwrap_or(f64::NAN),
        rss_mib().unwrap_or(f64::NAN),
        t.elapsed().as_secs_f64() * 1000.0,
        first.len(),
        last.len()
    );
    sim.shutdown().await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let workers: usize = std::env::var("SIM_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve_all_pages(workers))?;
    if std::env::var("SIM_BENCH_MILLION").as_deref() != Ok("0") {
        rt.block_on(million())?;
    }
    Ok(())
}
