//! `harness bench`: a full import from the embedded simulator (in this
//! process) into a fresh, temporary state store, timed, with the request
//! count and the process's peak memory. A benchmark, not a test: it prints
//! numbers; `docs/benchmarks.md` records them.
//!
//! What it measures is the connector, the protocol (with `--plugin`) and the
//! store — not the client-side rate limiter: the connector is configured
//! with `MaxRequestsPerHour` [`BENCH_REQUESTS_PER_HOUR`], far above what a
//! run can use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use connector_api::ImportMode;
use serde::Serialize;

use crate::cli::{connector_factory, CliError, PluginArgs};
use crate::engine::{instance_key, Engine, RunOptions, RunOutcome, RunReport};
use crate::output;
use crate::secrets::Redactor;
use crate::sim::{Endpoint, SimConfig, Simulator};
use crate::simulated::{self, SimApi};
use crate::store::Store;

/// The request budget the benchmark gives the connector: high enough never
/// to bind (the limiter is not what `bench` measures).
pub const BENCH_REQUESTS_PER_HOUR: u32 = 10_000_000;

/// The page size the benchmark uses (Workday's maximum).
pub const BENCH_PAGE_SIZE: u32 = 100;

/// Arguments of `harness bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Simulated tenant: number of workers.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub workers: usize,

    /// Simulated tenant: number of supervisory organizations.
    #[arg(long, value_name = "M", default_value_t = 5_000)]
    pub orgs: usize,

    /// Latency the simulator adds to every reply, in milliseconds.
    #[arg(long, value_name = "L", default_value_t = 0)]
    pub latency_ms: u64,

    /// Pages in flight at once (the connector's MaxConcurrentRequests, 1-16).
    #[arg(long, value_name = "C", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub concurrency: u32,

    /// Simulated tenant: generation seed.
    #[arg(long, value_name = "S", default_value_t = simulated::DEFAULT_SEED)]
    pub seed: u64,

    /// The Workday API read: rest, or soap (with the ISU's UsernameToken,
    /// or an OAuth bearer token: see --soap-auth).
    #[arg(long, value_enum, value_name = "API", default_value = "rest")]
    pub api: simulated::SimApi,

    /// How a SOAP read authenticates: isu (a WS-Security UsernameToken; the
    /// run first sends one Get_Workers with Count 1 for the server's time)
    /// or bearer (an OAuth token request, whose answer gives the time)
    /// [default: isu]. Only with --api soap.
    #[arg(long, value_enum, value_name = "AUTH")]
    pub soap_auth: Option<SoapAuth>,

    /// Print exactly one JSON object: workers, orgs, requests, retries,
    /// seconds, records_per_second, peak_rss_bytes.
    #[arg(long)]
    pub json: bool,

    /// Run the connector out of process (see `harness import --help`).
    #[command(flatten)]
    pub plugin: PluginArgs,
}

/// How `harness bench --api soap` authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SoapAuth {
    /// The ISU's WS-Security UsernameToken (no OAuth token).
    Isu,
    /// The OAuth client's bearer token, as REST uses it.
    Bearer,
}

/// The `--json` form: exactly these keys.
#[derive(Debug, Clone, Serialize)]
pub struct BenchJson {
    /// Workers in the simulated tenant.
    pub workers: usize,
    /// Organizations in the simulated tenant.
    pub orgs: usize,
    /// HTTP requests the simulator served (token + pages).
    pub requests: u64,
    /// Retries the connector made.
    pub retries: u64,
    /// Wall time of the import, in seconds.
    pub seconds: f64,
    /// Records imported per second of wall time.
    pub records_per_second: f64,
    /// The harness process's peak resident set (`VmHWM`), in bytes.
    pub peak_rss_bytes: u64,
}

/// Everything one benchmark run measured.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// The `--json` figures.
    pub summary: BenchJson,
    /// Records the connector read.
    pub records: u64,
    /// Changes applied to the store.
    pub changes: u64,
    /// Token requests the simulator served.
    pub token_requests: u64,
    /// Worker pages the simulator served.
    pub worker_pages: u64,
    /// Organization pages the simulator served.
    pub org_pages: u64,
    /// The requests a full read should make, and the arithmetic behind
    /// that number (see [`expected_requests`]).
    pub expected: (u64, String),
    /// The plugin process's peak resident set, when run with `--plugin` and
    /// it could be read.
    pub plugin_peak_rss_bytes: Option<u64>,
    /// The connector, as loaded (`workday`, or the plugin's path).
    pub connector: String,
}

/// A temporary state store file, removed (with its WAL files) when dropped.
struct TempStore(PathBuf);

impl TempStore {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self(std::env::temp_dir().join(format!(
            "harness-bench-{}-{nanos:09}.db",
            std::process::id()
        )))
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

/// `VmHWM` of a `/proc/<pid>/status` file, in bytes.
fn vm_hwm(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// This process's peak resident set (`VmHWM`), in bytes (0 when unreadable,
/// e.g. not on Linux).
pub fn peak_rss_bytes() -> u64 {
    vm_hwm(Path::new("/proc/self/status")).unwrap_or(0)
}

/// A `Get_Workers` request for page `page` of a full SOAP read of the
/// simulated tenant `cfg` as of `as_of` (the ISU's UsernameToken, active
/// workers, 100 a page, the five response groups the connector asks for):
/// what the benchmark programs post to the simulator.
pub fn soap_full_read_request(cfg: &SimConfig, as_of: &str, page: usize) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bsvc="urn:com.workday/bsvc"><soapenv:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>{}</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">{}</wsse:Password></wsse:UsernameToken></wsse:Security></soapenv:Header><soapenv:Body><bsvc:Get_Workers_Request bsvc:version="v44.0"><bsvc:Request_Criteria><bsvc:Exclude_Inactive_Workers>true</bsvc:Exclude_Inactive_Workers></bsvc:Request_Criteria><bsvc:Response_Filter><bsvc:As_Of_Entry_DateTime>{as_of}</bsvc:As_Of_Entry_DateTime><bsvc:Page>{page}</bsvc:Page><bsvc:Count>100</bsvc:Count></bsvc:Response_Filter><bsvc:Response_Group><bsvc:Include_Reference>true</bsvc:Include_Reference><bsvc:Include_Personal_Information>true</bsvc:Include_Personal_Information><bsvc:Include_Employment_Information>true</bsvc:Include_Employment_Information><bsvc:Include_Organizations>true</bsvc:Include_Organizations><bsvc:Include_Management_Chain_Data>true</bsvc:Include_Management_Chain_Data></bsvc:Response_Group></bsvc:Get_Workers_Request></soapenv:Body></soapenv:Envelope>"#,
        cfg.isu_username, cfg.isu_password
    )
}

/// The calling thread's CPU time so far, user and system together
/// (`/proc/thread-self/schedstat`, Linux; `None` elsewhere). The benchmark
/// programs time single-threaded work with it, so a busy machine does not
/// inflate their figures as it would a wall clock.
pub fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The largest `VmHWM` among this process's live child processes (the
/// plugin), read from `/proc`.
fn children_peak_rss_bytes() -> Option<u64> {
    let me = std::process::id().to_string();
    let mut peak = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid == Some(me.as_str()) && pid != me {
            if let Some(hwm) = vm_hwm(&entry.path().join("status")) {
                peak = Some(peak.map_or(hwm, |p: u64| p.max(hwm)));
            }
        }
    }
    peak
}

/// The Workday configuration the benchmark uses against `sim`.
pub fn bench_config(sim: &Simulator, concurrency: u32) -> String {
    simulated::config_with(
        sim,
        BENCH_PAGE_SIZE,
        BENCH_REQUESTS_PER_HOUR,
        Some(concurrency),
    )
}

fn failed(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::new(
        crate::cli::exit::FAILURE,
        format!("the benchmark {what}: {e}"),
    )
}

/// Runs one benchmark: simulator, connector (in process or `--plugin`),
/// a fresh temporary store, one full import.
///
/// # Errors
/// [`CliError`] when the simulator, the connector or the store cannot be
/// set up, or the import does not succeed.
pub async fn measure(args: &BenchArgs, redactor: &Redactor) -> Result<BenchResult, CliError> {
    let factory = connector_factory(&args.plugin).await?;
    let sim = Simulator::start(SimConfig {
        workers: args.workers,
        orgs: args.orgs,
        seed: args.seed,
        port: 0,
        latency: (args.latency_ms > 0).then(|| Duration::from_millis(args.latency_ms)),
        // The requests are counted, not kept: the peak memory is the
        // import's and the tenant's, not a log's.
        log_requests: false,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| failed("cannot start the simulated tenant", e))?;

    let config = match (args.api, args.soap_auth) {
        (SimApi::Rest, Some(_)) => {
            return Err(CliError::new(
                crate::cli::exit::USAGE,
                "--soap-auth applies to --api soap only; leave it out for --api rest",
            ))
        }
        (SimApi::Soap, Some(SoapAuth::Bearer)) => {
            soap_with_bearer(&bench_config(&sim, args.concurrency))
        }
        _ => simulated::with_api(&bench_config(&sim, args.concurrency), &sim, args.api),
    };
    let secrets = simulated::secrets(&sim, redactor);
    let name = factory.info().name;
    let connector = factory
        .validate(&config, &simulated::auth_material(&sim), &secrets)
        .await
        .map_err(|e| failed("could not load the connector", e))?;

    let state = TempStore::new();
    let store = Store::open(&state.0).map_err(|e| failed("cannot open its state store", e))?;
    let mut engine = Engine::new(store);
    let mut options = RunOptions::new(name.clone(), instance_key(&name, &config), ImportMode::Full);
    options.redactor = redactor.clone();

    let t0 = Instant::now();
    let report: RunReport = engine
        .run(connector.as_ref(), options)
        .await
        .map_err(|e| failed("could not run", e))?;
    let elapsed = t0.elapsed();
    // Before anything else allocates.
    let peak = peak_rss_bytes();
    // Read before the connector (and with it the plugin process) goes away.
    let plugin_peak_rss_bytes = if args.plugin.plugin.is_some() {
        children_peak_rss_bytes()
    } else {
        None
    };
    drop(connector);
    drop(engine);
    if report.outcome != RunOutcome::Succeeded {
        return Err(failed(
            "import did not succeed",
            serde_json::to_string(&report.outcome).unwrap_or_default(),
        ));
    }

    let count = |e: Endpoint| sim.request_count(e) as u64;
    let (token_requests, worker_pages, org_pages) = (
        count(Endpoint::Token),
        count(Endpoint::Workers),
        count(Endpoint::Organizations),
    );
    let expected = expected_requests(
        args,
        if args.api == SimApi::Soap {
            sim.soap_active_workers()
        } else {
            sim.live_workers()
        },
        args.orgs,
    );
    let records = report.metrics.records;
    let changes = report.counts.total();
    let seconds = elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let records_per_second = if seconds > 0.0 {
        records as f64 / seconds
    } else {
        0.0
    };
    Ok(BenchResult {
        summary: BenchJson {
            workers: args.workers,
            orgs: args.orgs,
            requests: token_requests + worker_pages + org_pages,
            retries: report.metrics.retries,
            seconds,
            records_per_second,
            peak_rss_bytes: peak,
        },
        records,
        changes,
        token_requests,
        worker_pages,
        org_pages,
        expected,
        plugin_peak_rss_bytes,
        connector: args.plugin.plugin.as_ref().map_or_else(
            || format!("{name} (in process)"),
            |p| format!("{name} via plugin {}", p.display()),
        ),
    })
}

/// A REST configuration (OAuth client) switched to `Api` `Soap`: SOAP
/// requests then carry the bearer token (no `IsuUsername`).
fn soap_with_bearer(config: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(config) {
        Ok(serde_json::Value::Object(mut obj)) => {
            obj.insert("Api".into(), serde_json::json!("Soap"));
            serde_json::Value::Object(obj).to_string()
        }
        _ => config.to_string(),
    }
}

/// The requests a full read of `workers` workers (those the read returns)
/// and `orgs` orgs makes at [`BENCH_PAGE_SIZE`], and the arithmetic:
/// REST and SOAP with a bearer token make 1 token request, SOAP with the
/// ISU's UsernameToken 1 `Get_Workers` with Count 1 for the server's
/// time; then one request per page of each feed. A full SOAP read returns
/// active workers only (`Exclude_Inactive_Workers`), so its worker pages
/// are counted from the active workers, not from the tenant's size.
pub fn expected_requests(args: &BenchArgs, workers: usize, orgs: usize) -> (u64, String) {
    let page = BENCH_PAGE_SIZE as usize;
    let (wp, op) = (workers.div_ceil(page), orgs.div_ceil(page));
    let (first, who) = match (args.api, args.soap_auth) {
        (SimApi::Soap, None | Some(SoapAuth::Isu)) => ("1 read-time probe", "active workers"),
        (SimApi::Soap, Some(SoapAuth::Bearer)) => ("1 token", "active workers"),
        (SimApi::Rest, _) => ("1 token", "workers"),
    };
    let total = 1 + wp + op;
    (
        total as u64,
        format!(
            "{first} + ceil({workers} {who} / {page}) + ceil({orgs} orgs / {page}) = 1 + {wp} + {op} = {total}"
        ),
    )
}

fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB ({bytes} bytes)")
}

/// The human report of a benchmark run.
pub fn render(args: &BenchArgs, r: &BenchResult) -> String {
    let s = &r.summary;
    let mut lines = vec![
        format!(
            "bench: full import of {} workers + {} orgs from the embedded simulator into a fresh store",
            s.workers, s.orgs
        ),
        format!(
            "  connector          {}{}",
            r.connector,
            match (args.api, args.soap_auth) {
                (SimApi::Soap, Some(SoapAuth::Bearer)) => ", Api Soap with an OAuth bearer token",
                (SimApi::Soap, _) => ", Api Soap with the ISU's UsernameToken",
                (SimApi::Rest, _) => ", Api Rest",
            }
        ),
        format!(
            "  settings           PageSize {BENCH_PAGE_SIZE}, MaxConcurrentRequests {}, latency {} ms, \
             MaxRequestsPerHour {BENCH_REQUESTS_PER_HOUR} (set so the rate limiter never binds: it is \
             not what this measures)",
            args.concurrency, args.latency_ms
        ),
        format!("  records            {} ({} changes applied)", r.records, r.changes),
        format!(
            "  requests           {} ({} token + {} Get_Workers/worker pages + {} org pages)",
            s.requests, r.token_requests, r.worker_pages, r.org_pages
        ),
        format!(
            "  expected           {} ({}{})",
            r.expected.0,
            r.expected.1,
            if args.api == SimApi::Soap {
                "; a full SOAP read returns active workers only: Exclude_Inactive_Workers"
            } else {
                ""
            }
        ),
        format!("  retries            {}", s.retries),
        format!("  wall time          {:.3} s", s.seconds),
        format!("  records/second     {:.0}", s.records_per_second),
        format!("  peak RSS           {} (harness process, VmHWM)", mib(s.peak_rss_bytes)),
    ];
    if args.plugin.plugin.is_some() {
        lines.push(match r.plugin_peak_rss_bytes {
            Some(b) => format!("  plugin peak RSS    {}", mib(b)),
            None => "  plugin peak RSS    (could not be read)".to_string(),
        });
    }
    lines.join("\n")
}

/// `harness bench`.
///
/// # Errors
/// As [`measure`], or when stdout cannot be written.
pub async fn run(args: BenchArgs, redactor: &Redactor) -> Result<(), CliError> {
    let result = measure(&args, redactor).await?;
    let written = if args.json {
        output::json(&result.summary)
    } else {
        output::line(&render(&args, &result))
    };
    written.map_err(|e| failed("cannot write to stdout", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SimConfig, Simulator};

    #[test]
    fn json_has_exactly_the_documented_keys() {
        let j = serde_json::to_value(BenchJson {
            workers: 1,
            orgs: 2,
            requests: 3,
            retries: 0,
            seconds: 0.5,
            records_per_second: 6.0,
            peak_rss_bytes: 7,
        })
        .unwrap();
        let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
        let mut expected = [
            "workers",
            "orgs",
            "requests",
            "retries",
            "seconds",
            "records_per_second",
            "peak_rss_bytes",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    fn small(api: SimApi, soap_auth: Option<SoapAuth>) -> BenchArgs {
        BenchArgs {
            workers: 1_250,
            orgs: 130,
            latency_ms: 0,
            concurrency: 4,
            seed: 7,
            api,
            soap_auth,
            json: true,
            plugin: PluginArgs {
                plugin: None,
                plugin_args: Vec::new(),
            },
        }
    }

    /// The request count of a full read, exactly, for each Api and auth:
    /// 1 (token or read-time probe) + one request per page of each feed,
    /// a SOAP read's worker pages counted from the active workers only.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_read_makes_exactly_the_expected_requests_with_either_auth() {
        // The active workers, counted independently from the REST records.
        let sim = Simulator::start(SimConfig {
            workers: 1_250,
            orgs: 130,
            seed: 7,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let (mut live, mut active) = (0, 0);
        sim.for_each_worker(|w| {
            live += 1;
            if w["employmentStatus"] != "Terminated" {
                active += 1;
            }
        });
        assert_eq!(sim.soap_active_workers(), active);
        sim.shutdown().await;
        assert!(active < live && live == 1_250, "{active} of {live}");
        let (wp, op) = (active.div_ceil(100) as u64, 2);

        // (args, token requests, Get_Workers requests)
        let cases = [
            (small(SimApi::Rest, None), 1, 13),
            (small(SimApi::Soap, None), 0, 1 + wp),
            (small(SimApi::Soap, Some(SoapAuth::Isu)), 0, 1 + wp),
            (small(SimApi::Soap, Some(SoapAuth::Bearer)), 1, wp),
        ];
        for (args, token, workers) in cases {
            let r = measure(&args, &Redactor::new()).await.unwrap();
            let what = format!("{:?} {:?}", args.api, args.soap_auth);
            assert_eq!(
                (r.token_requests, r.worker_pages, r.org_pages),
                (token, workers, op),
                "{what}"
            );
            assert_eq!(r.summary.requests, token + workers + op, "{what}");
            assert_eq!(r.expected.0, r.summary.requests, "{what}: {}", r.expected.1);
            assert_eq!(r.summary.retries, 0, "{what}");
            let read = if args.api == SimApi::Soap {
                active
            } else {
                live
            };
            assert_eq!(r.records, (read + 130) as u64, "{what}");
        }
    }

    #[tokio::test]
    async fn soap_auth_is_refused_with_the_rest_api() {
        let e = measure(
            &small(SimApi::Rest, Some(SoapAuth::Bearer)),
            &Redactor::new(),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("--soap-auth applies to --api soap only"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_simulator_answers_the_benchmarks_soap_request_with_a_page_of_workers() {
        let sim = Simulator::start(SimConfig {
            workers: 150,
            orgs: 10,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let as_of = sim.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut workers = Vec::new();
        for page in 1..=2 {
            let response = client
                .post(sim.soap_url("v44.0"))
                .header("Content-Type", "text/xml; charset=utf-8")
                .body(soap_full_read_request(sim.config(), &as_of, page))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "page {page}");
            let body = response.text().await.unwrap();
            workers.extend(connector_workday::soap_bench::workers(&body).unwrap());
        }
        // Every worker of the tenant but the terminated ones (the request
        // excludes inactive workers), over two pages of 100.
        let active = {
            let mut n = 0;
            sim.for_each_worker(|w| n += usize::from(w["employmentStatus"] != "Terminated"));
            n
        };
        assert_eq!(workers.len(), active);
        assert!(active > 100, "two pages are read: {active}");
        sim.shutdown().await;
    }

    #[test]
    fn thread_cpu_advances_with_work_on_this_thread() {
        let Some(before) = thread_cpu() else {
            assert!(!Path::new("/proc/thread-self/schedstat").exists());
            return;
        };
        // Spin until the clock moves (it advances at scheduler ticks), at
        // most a few seconds of work.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut x = 0u64;
        while thread_cpu() == Some(before) && Instant::now() < deadline {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
        }
        assert!(thread_cpu().is_some_and(|after| after > before));
    }

    #[test]
    fn peak_rss_is_read_from_proc() {
        if Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes() > 1024 * 1024);
        }
    }
}
