//! The SOAP source's hot path: one `Get_Workers` page of 100 workers, as
//! bytes on the wire, tokenized by quick-xml alone (the floor any XML parse
//! pays), parsed into REST-shaped records, and parsed and mapped to changes
//! (the work the connector does per page).
//!
//! The page repeats the recorded workers of `tests/fixtures/soap/workers_page.xml`
//! (about 6.3 KB per worker). `SOAP_BENCH_PAGE=/path/page.xml` benches a
//! captured page instead (e.g. one the simulator served: about 8.1 KB per
//! worker, its management chains are deeper).
//!
//! Times are this thread's CPU time (Linux: `/proc/thread-self/schedstat`,
//! wall time elsewhere), so a busy machine does not inflate them; each sample
//! runs about a second, as that clock advances at scheduler ticks.
//!
//! `cargo bench -p connector-workday --bench soap`; results in
//! docs/benchmarks.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use connector_workday::config::ExternalIdAttribute;
use connector_workday::mapping::map_worker;
use connector_workday::soap_bench::workers;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use quick_xml::events::Event;
use quick_xml::Reader;

const FIXTURE: &str = include_str!("../tests/fixtures/soap/workers_page.xml");

/// A page of `n` workers: the fixture's envelope around its workers,
/// repeated in turn.
fn page(n: usize) -> String {
    let (head, rest) = FIXTURE
        .split_once("<wd:Response_Data>")
        .expect("the fixture has Response_Data");
    let (data, tail) = rest
        .split_once("</wd:Response_Data>")
        .expect("the fixture closes Response_Data");
    let one: Vec<String> = data
        .split("<wd:Worker>")
        .filter(|w| !w.is_empty())
        .map(|w| format!("<wd:Worker>{w}"))
        .collect();
    let workers: String = (0..n).map(|i| one[i % one.len()].as_str()).collect();
    format!("{head}<wd:Response_Data>{workers}</wd:Response_Data>{tail}")
}

/// Every event of the body, read and dropped: quick-xml's own cost.
fn tokenize(body: &str) -> usize {
    let mut reader = Reader::from_str(body);
    reader.config_mut().trim_text(true);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => return events,
            Ok(_) => events += 1,
        }
    }
}

/// This thread's CPU time so far, where the system says (Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The CPU time (else the wall time) of `iters` calls of `f`.
fn timed<O>(iters: u64, mut f: impl FnMut() -> O) -> Duration {
    let (cpu, wall) = (cpu_time(), Instant::now());
    for _ in 0..iters {
        black_box(f());
    }
    match (cpu, cpu_time()) {
        (Some(start), Some(end)) if end > start => end - start,
        _ => wall.elapsed(),
    }
}

fn soap(c: &mut Criterion) {
    let body = match std::env::var("SOAP_BENCH_PAGE") {
        Ok(path) => std::fs::read_to_string(path).expect("SOAP_BENCH_PAGE is readable"),
        Err(_) => page(100),
    };
    let records = workers(&body).expect("the page parses");
    let n = records.len() as u64;
    assert!(n > 0);
    assert!(records
        .iter()
        .all(|r| map_worker(r, ExternalIdAttribute::Id).is_ok()));
    eprintln!(
        "page: {} bytes, {n} workers, {} bytes per worker",
        body.len(),
        body.len() as u64 / n
    );

    let mut g = c.benchmark_group("soap_page");
    g.throughput(Throughput::Elements(n));
    g.bench_function("utf8_check", |b| {
        b.iter_custom(|n| {
            timed(n, || {
                std::str::from_utf8(black_box(body.as_bytes())).is_ok()
            })
        })
    });
    g.bench_function("tokenize", |b| {
        b.iter_custom(|n| timed(n, || tokenize(black_box(&body))))
    });
    g.bench_function("parse", |b| {
        b.iter_custom(|n| timed(n, || workers(black_box(&body))))
    });
    g.bench_function("parse_and_map", |b| {
        b.iter_custom(|n| {
            timed(n, || {
                workers(black_box(&body)).map(|records| {
                    records
                        .iter()
                        .filter_map(|r| map_worker(r, ExternalIdAttribute::Id).ok())
                        .count()
                })
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    targets = soap
}
criterion_main!(benches);
