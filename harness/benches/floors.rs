//! Benchmark: the floors under issue 14's CPU targets, and where an import's
//! CPU goes above them. Each part is timed alone, per worker record, on the
//! simulator's own bytes (its default, rich shape):
//!
//! - `utf8`: checking a page body is UTF-8 (once per body; any parser of a
//!   `&str` needs it);
//! - `parser floor`: for REST, serde_json parsing each page into
//!   `serde::de::IgnoredAny`, the least a serde_json reader can do (it still
//!   scans every string); for SOAP, quick-xml reading every event of the
//!   page and dropping it (the connector's reader settings);
//! - `sqlite floor`: the least any SQLite store that upserts objects by
//!   their id pays: a two-column rowid table with a unique text key (no run
//!   columns, no second index), one upsert a row of the record's real id and
//!   its ~0.5 KB of attribute values, all in one transaction with the
//!   harness's settings (WAL, `synchronous = NORMAL`, 32 KiB pages, an 8 MiB
//!   page cache), committed and closed (the checkpoints included); SOAP's is
//!   REST's, per row (the same attributes);
//! - `floor`: `utf8 + parser floor + sqlite floor`, the CPU any import of
//!   these bytes into such a store needs before HTTP, mapping, duplicate
//!   detection, the run's bookkeeping or the kernel's socket reads;
//! - `parse` and `map`: the connector's own parse of a page into records
//!   and its mapping of them to changes;
//! - REST only, `engine+store`: the harness's engine importing the REST
//!   pages into a fresh state store (its schema, its writer thread, its run
//!   bookkeeping), parsed and mapped by the connector's code as they are
//!   replayed, and the store closed: the whole import but HTTP. This one is
//!   the process's CPU (all threads, `/proc/self/stat`, ticks of 10 ms).
//!
//! Times are this thread's CPU time (user + system, from
//! `/proc/thread-self/schedstat` on Linux; wall time elsewhere); a part
//! shorter than 0.3 s is repeated until it has run that long, as that clock
//! advances at scheduler ticks. Run with
//! `cargo bench -p harness --bench floors`; `FLOORS_WORKERS` sets the REST
//! tenant (default 100,000), `FLOORS_SOAP_WORKERS` how many of its workers
//! are read over SOAP (default 10,000; ~8 KB each, held in memory),
//! `FLOORS_ROUNDS` the rounds (default 3; every round and the minimum of
//! each column are printed). Results in docs/benchmarks.md.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use async_trait::async_trait;
use connector_api::{
    ChangeSink, Connector, ConnectorError, Counts, ErrorKind, HealthCheck, ImportMode,
    ImportOutcome, ImportRequest, RunContext, Schema,
};
use connector_workday::config::ExternalIdAttribute;
use connector_workday::mapping::map_worker;
use connector_workday::record::RestPage;
use connector_workday::soap_bench::workers as soap_workers;
use harness::bench::{soap_full_read_request, thread_cpu};
use harness::engine::{Engine, RunOptions, RunOutcome};
use harness::sim::{Endpoint, SimConfig, Simulator};
use harness::store::Store;
use quick_xml::events::Event;
use quick_xml::Reader;
use rusqlite::{params, Connection};

/// The time `f` takes by `clock` (a CPU clock), else by the wall clock
/// when `clock` cannot be read or did not advance.
fn timed_by<O>(
    clock: fn() -> Option<Duration>,
    f: impl FnOnce() -> anyhow::Result<O>,
) -> anyhow::Result<(Duration, O)> {
    let (start, wall) = (clock(), Instant::now());
    let out = f()?;
    let took = match (start, clock()) {
        (Some(start), Some(end)) if end > start => end - start,
        _ => wall.elapsed(),
    };
    Ok((took, out))
}

/// The CPU time (else the wall time) `f` takes on this thread.
fn timed<O>(f: impl FnOnce() -> anyhow::Result<O>) -> anyhow::Result<(Duration, O)> {
    timed_by(thread_cpu, f)
}

/// The CPU time one call of `f` takes, from as many calls as fill
/// [`AT_LEAST`] (the thread's clock advances at scheduler ticks, so a
/// short part is repeated); and what the last call returned.
fn timed_repeat<O>(mut f: impl FnMut() -> anyhow::Result<O>) -> anyhow::Result<(Duration, O)> {
    let (mut total, mut calls) = (Duration::ZERO, 0u32);
    loop {
        let (took, out) = timed(&mut f)?;
        total += took;
        calls += 1;
        if total >= AT_LEAST {
            return Ok((total / calls, out));
        }
    }
}

/// How long a repeated part runs in all.
const AT_LEAST: Duration = Duration::from_millis(300);

/// This process's CPU time so far, user + system, all threads
/// (`/proc/self/stat`, in ticks of 10 ms).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces) start at
    // the third; utime and stime are the 14th and 15th.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The bodies of a simulated tenant of `workers` workers, 100 a page: every
/// REST worker page (rendered as the API sends it), and the `Get_Workers`
/// pages of its first `soap_workers` workers (served over HTTP).
async fn pages(workers: usize, soap_workers: usize) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let sim = Simulator::start(SimConfig {
        workers,
        orgs: 500.min(workers),
        ..SimConfig::default()
    })
    .await?;
    let rest = (0..workers)
        .step_by(100)
        .map(|offset| {
            let body = sim.page_body(Endpoint::Workers, 100, offset, None)?;
            String::from_utf8(body).context("a REST page is not UTF-8")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let as_of = sim.now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut soap = Vec::new();
    for page in 1..=soap_workers.div_ceil(100) {
        let body = client
            .post(sim.soap_url("v44.0"))
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(soap_full_read_request(sim.config(), &as_of, page))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        soap.push(body);
    }
    sim.shutdown().await;
    Ok((rest, soap))
}

/// Every REST record's id and stored attribute values (the JSON array of
/// the mapped change's values, ~0.5 KB: what a store keeps of a worker).
fn rows(bodies: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut rows = Vec::new();
    for body in bodies {
        let page = RestPage::parse(body).map_err(|e| anyhow!("a page does not parse: {e}"))?;
        for record in page.records() {
            let change =
                map_worker(&record, ExternalIdAttribute::Id).map_err(|e| anyhow!("{e:?}"))?;
            let values: Vec<_> = change.attributes.values().collect();
            rows.push((change.external_id, serde_json::to_string(&values)?));
        }
    }
    Ok(rows)
}

/// Upserts every row into a fresh minimal store in `dir`, in one
/// transaction, commits it and closes the store (see the module's comment
/// for the schema and settings); returns how many rows it wrote.
fn sqlite_floor(dir: &Path, rows: &[(String, String)]) -> anyhow::Result<usize> {
    let mut conn = Connection::open(dir.join("floor.db"))?;
    conn.execute_batch(
        "PRAGMA page_size = 32768; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         PRAGMA cache_size = -8192; \
         CREATE TABLE objects (external_id TEXT NOT NULL UNIQUE, attributes TEXT NOT NULL);",
    )?;
    let tx = conn.transaction()?;
    let mut written = 0;
    {
        let mut upsert = tx.prepare(
            "INSERT INTO objects (external_id, attributes) VALUES (?1, ?2) \
             ON CONFLICT (external_id) DO UPDATE SET attributes = excluded.attributes",
        )?;
        for (id, attributes) in rows {
            written += upsert.execute(params![id, attributes])?;
        }
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(written)
}

/// A connector that replays REST pages, parsed and mapped as the Workday
/// connector does, without HTTP.
#[derive(Debug)]
struct Replay<'b> {
    bodies: &'b [String],
}

#[async_trait]
impl Connector for Replay<'_> {
    fn schema(&self) -> Schema {
        connector_workday::schema::schema(ExternalIdAttribute::Id)
    }

    async fn check(&self) -> Vec<HealthCheck> {
        Vec::new()
    }

    async fn import(
        &self,
        _request: ImportRequest,
        sink: &mut dyn ChangeSink,
        _ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        let mut counts = Counts::default();
        for body in self.bodies {
            let page = RestPage::parse(body)
                .map_err(|e| ConnectorError::new(ErrorKind::BadResponse, e))?;
            let changes: Vec<_> = page
                .records()
                .filter_map(|r| map_worker(&r, ExternalIdAttribute::Id).ok())
                .collect();
            for c in &changes {
                counts.add(&c.object_type, c.kind);
            }
            sink.apply(changes).await?;
        }
        Ok(ImportOutcome {
            complete: true,
            counts,
            ..ImportOutcome::default()
        })
    }
}

/// A full import of the REST pages by the engine into a fresh store, which
/// it then closes: the process's CPU time, and how many changes it applied.
fn engine_and_store(
    rt: &tokio::runtime::Runtime,
    bodies: &[String],
) -> anyhow::Result<(Duration, u64)> {
    let dir = tempfile::tempdir()?;
    let mut engine = Engine::new(Store::open(&dir.path().join("state.db"))?);
    let connector = Replay { bodies };
    let (took, report) = timed_by(process_cpu, || {
        let report = rt.block_on(engine.run(
            &connector,
            RunOptions::new("replay", "replay:floors", ImportMode::Full),
        ))?;
        drop(engine);
        Ok(report)
    })?;
    anyhow::ensure!(
        report.outcome == RunOutcome::Succeeded,
        "the replayed import did not succeed: {:?}",
        report.outcome
    );
    Ok((took, report.counts.total()))
}

/// Every event of a SOAP body, read and dropped: quick-xml's own cost.
fn tokenize(body: &str) -> anyhow::Result<usize> {
    let mut reader = Reader::from_str(body);
    let mut events = 0;
    loop {
        match reader.read_event()? {
            Event::Eof => return Ok(events),
            _ => events += 1,
        }
    }
}

/// One round's figures, µs a record, in the printed columns' order.
type Figures = Vec<f64>;

/// The columns printed: SOAP's are the first six (no engine run).
const COLUMNS: [&str; 7] = [
    "utf8",
    "parser_floor",
    "sqlite_floor",
    "floor",
    "parse",
    "map",
    "engine+store",
];

/// `utf8`: every body checked; a check that fails is an error.
fn utf8(bodies: &[String]) -> anyhow::Result<Duration> {
    let (took, ok) = timed_repeat(|| {
        Ok(bodies
            .iter()
            .all(|b| std::str::from_utf8(black_box(b.as_bytes())).is_ok()))
    })?;
    anyhow::ensure!(ok, "a page is not UTF-8");
    Ok(took)
}

/// Checks that a part handled every record.
fn all(part: &str, done: usize, expected: usize) -> anyhow::Result<()> {
    anyhow::ensure!(done == expected, "{part}: {done} of {expected} records");
    Ok(())
}

fn rest_round(
    rt: &tokio::runtime::Runtime,
    bodies: &[String],
    rows: &[(String, String)],
) -> anyhow::Result<Figures> {
    let n = rows.len();
    let utf8 = utf8(bodies)?;
    let (parser_floor, ()) = timed_repeat(|| {
        for body in bodies {
            let _: serde::de::IgnoredAny = serde_json::from_str(black_box(body))?;
        }
        Ok(())
    })?;
    // The directory is made and removed outside the timed part.
    let dir = tempfile::tempdir()?;
    let (sqlite, stored) = timed(|| sqlite_floor(dir.path(), rows))?;
    drop(dir);
    all("sqlite floor", stored, n)?;
    let (parse, parsed) = timed_repeat(|| {
        Ok(bodies
            .iter()
            .filter_map(|b| RestPage::parse(black_box(b)).ok())
            .map(|p| p.len())
            .sum::<usize>())
    })?;
    all("parse", parsed, n)?;
    let pages: Vec<RestPage<'_>> = bodies
        .iter()
        .map(|b| RestPage::parse(b).map_err(|e| anyhow!("{e}")))
        .collect::<anyhow::Result<_>>()?;
    let (map, mapped) = timed_repeat(|| {
        Ok(pages
            .iter()
            .flat_map(|p| p.records())
            .filter_map(|r| map_worker(&r, ExternalIdAttribute::Id).ok())
            .map(black_box)
            .count())
    })?;
    all("map", mapped, n)?;
    let (engine, applied) = engine_and_store(rt, bodies)?;
    all("engine+store", usize::try_from(applied)?, n)?;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let floor = utf8 + parser_floor + sqlite;
    Ok([utf8, parser_floor, sqlite, floor, parse, map, engine]
        .into_iter()
        .map(us)
        .collect())
}

/// `sqlite_floor` is the REST round's, per row: a SOAP worker maps to the
/// same attributes, and the SOAP sample is too small to time a store by.
fn soap_round(bodies: &[String], sqlite_floor: f64) -> anyhow::Result<Figures> {
    let utf8 = utf8(bodies)?;
    let (parser_floor, events) = timed_repeat(|| {
        bodies
            .iter()
            .map(|b| tokenize(black_box(b)))
            .sum::<anyhow::Result<usize>>()
    })?;
    anyhow::ensure!(events > 0, "the SOAP pages have no events");
    let (parse, records) = timed_repeat(|| {
        bodies
            .iter()
            .map(|b| soap_workers(black_box(b)).map_err(|e| anyhow!("a SOAP page: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let records: Vec<_> = records.into_iter().flatten().collect();
    let n = records.len();
    let (map, mapped) = timed_repeat(|| {
        Ok(records
            .iter()
            .filter_map(|r| map_worker(r, ExternalIdAttribute::Id).ok())
            .map(black_box)
            .count())
    })?;
    all("map", mapped, n)?;
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let (utf8, parser_floor, parse, map) = (us(utf8), us(parser_floor), us(parse), us(map));
    let floor = utf8 + parser_floor + sqlite_floor;
    Ok(vec![utf8, parser_floor, sqlite_floor, floor, parse, map])
}

/// Prints the rounds and each column's minimum; returns the minima (one a
/// column).
fn report(
    title: &str,
    columns: &[&str],
    rounds: usize,
    mut round: impl FnMut() -> anyhow::Result<Figures>,
) -> anyhow::Result<Figures> {
    println!("{title}, µs a record:");
    let header: String = columns.iter().map(|c| format!(" {c:>13}")).collect();
    println!("{:<9}{header}", "round");
    let mut best: Option<Figures> = None;
    for i in 1..=rounds.max(1) {
        let r = round()?;
        let line: String = r.iter().map(|v| format!(" {v:>13.2}")).collect();
        println!("{i:<9}{line}");
        best = Some(match best {
            None => r,
            Some(b) => b.iter().zip(&r).map(|(b, r)| b.min(*r)).collect(),
        });
    }
    let best = best.ok_or_else(|| anyhow!("no round ran"))?;
    let line: String = best.iter().map(|v| format!(" {v:>13.2}")).collect();
    println!("{:<9}{line}", "minimum");
    Ok(best)
}

fn main() -> anyhow::Result<()> {
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let workers = env("FLOORS_WORKERS", 100_000);
    let soap = env("FLOORS_SOAP_WORKERS", 10_000).min(workers);
    let rounds = env("FLOORS_ROUNDS", 3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (rest_bodies, soap_bodies) = rt
        .block_on(pages(workers, soap))
        .context("the simulated pages")?;
    let rows = rows(&rest_bodies)?;
    let size = |bodies: &[String]| bodies.iter().map(String::len).sum::<usize>();
    let stored: usize = rows.iter().map(|(id, a)| id.len() + a.len()).sum();
    // The SOAP read leaves out terminated workers: count what it holds.
    let soap_records = soap_bodies
        .iter()
        .map(|b| {
            soap_workers(b)
                .map(|r| r.len())
                .map_err(|e| anyhow!("a SOAP page: {e}"))
        })
        .sum::<anyhow::Result<usize>>()?;
    println!(
        "{} REST workers ({} body bytes a record), {soap_records} over SOAP ({} bytes a record); \
         {} stored bytes a row",
        rows.len(),
        size(&rest_bodies) / rows.len().max(1),
        size(&soap_bodies) / soap_records.max(1),
        stored / rows.len().max(1)
    );
    let rest = report("REST", &COLUMNS, rounds, || {
        rest_round(&rt, &rest_bodies, &rows)
    })?;
    let soap = report("SOAP Get_Workers", &COLUMNS[..6], rounds, || {
        soap_round(&soap_bodies, rest[2])
    })?;
    println!(
        "targets: REST 6 µs a record, {:.2} of it the floor; SOAP 10 µs, {:.2} of it the floor",
        rest[3], soap[3]
    );
    Ok(())
}
