//! Paging, the token cache, ordering, drift, cancellation and sink errors
//! against a wiremock tenant.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use async_trait::async_trait;
use common::*;
use connector_api::{
    Change, ChangeKind, ChangeSink, Connector, ConnectorError, ErrorKind, ImportOutcome,
    ImportRequest, RunContext, VecSink,
};
use connector_workday::retry::RetryPolicy;
use connector_workday::WorkdayFactory;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn a_1050_worker_tenant_is_one_token_and_eleven_pages() {
    let t = Tenant::start(1050, 0).await;
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap();

    assert_eq!(t.counts().await, (1, 11, 0));
    let m = ctx.metrics().snapshot();
    assert_eq!(
        (m.requests, m.retries, m.pages, m.records),
        (12, 0, 11, 1050)
    );
    assert_eq!(sink.pages, 11);
    assert_eq!(ids(&sink), (0..1050).map(worker_id).collect::<Vec<_>>());
    assert_eq!(out.counts.of("User").upserts, 1050);
    assert!(out.complete);
    assert!(out.record_errors.is_empty());
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    // Every page asked for limit=100 at the next offset; no request past the total.
    let mut offsets: Vec<u64> = t
        .requests_to(WORKERS_PATH)
        .await
        .iter()
        .map(|r| {
            let q: std::collections::HashMap<_, _> = r.url.query_pairs().collect();
            assert_eq!(q["limit"], "100");
            assert!(!q.contains_key("updatedFrom"));
            q["offset"].parse().unwrap()
        })
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..11).map(|p| p * 100).collect::<Vec<u64>>());
}

#[tokio::test]
async fn organizations_come_first_then_workers() {
    let t = Tenant::start(150, 30).await;
    let (c, _) = t.connector(json!({})).await;
    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap();
    assert_eq!(t.counts().await, (1, 2, 1));
    assert_eq!(ctx.metrics().snapshot().requests, 4);
    assert!(sink.changes[..30]
        .iter()
        .all(|c| c.object_type == "OrgUnit"));
    assert!(sink.changes[30..].iter().all(|c| c.object_type == "User"));
    assert_eq!(out.counts.of("OrgUnit").upserts, 30);
    assert_eq!(out.counts.of("User").upserts, 150);
    assert_eq!(sink.pages, 3);
}

#[tokio::test]
async fn the_token_is_reused_across_pages_and_runs() {
    let t = Tenant::start(250, 10).await;
    let (c, _) = t.connector(json!({"PageSize": 50})).await;
    for _ in 0..3 {
        c.import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    }
    assert_eq!(t.counts().await, (1, 15, 3));
    // Every page carried the one token.
    for r in t.requests_to(WORKERS_PATH).await {
        assert_eq!(r.headers.get("authorization").unwrap(), "Bearer tok-1");
    }
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let t = Tenant::start(300, 0).await;
    // expires_in 0: never reusable.
    t.state.lock().unwrap().expires_in = 0;
    let (c, _) = t
        .connector(json!({"ImportOrganizations": false, "MaxConcurrentRequests": 1}))
        .await;
    c.import(
        ImportRequest::full(),
        &mut VecSink::default(),
        &RunContext::new(),
    )
    .await
    .unwrap();
    assert_eq!(t.counts().await, (3, 3, 0));
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries_the_page() {
    let t = Tenant::start(500, 0).await;
    // Every token dies after the second collection request.
    t.state.lock().unwrap().revoke_after = Some(2);
    let (c, sleeper) = t
        .connector(json!({"ImportOrganizations": false, "MaxConcurrentRequests": 4}))
        .await;
    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap();
    assert_eq!(out.counts.of("User").upserts, 500);
    assert_eq!(ids(&sink), (0..500).map(worker_id).collect::<Vec<_>>());
    let (tokens, pages, _) = t.counts().await;
    // One new token however many concurrent pages saw the 401.
    assert_eq!(tokens, 2);
    assert!((6..=8).contains(&pages), "{pages} page requests");
    assert_eq!(ctx.metrics().snapshot().requests as usize, tokens + pages);
    // A 401 refresh is not a back-off retry.
    assert_eq!(ctx.metrics().snapshot().retries, 0);
    assert!(sleeper.delays().is_empty());
}

#[tokio::test]
async fn a_second_401_is_an_authentication_error_naming_the_isu() {
    let t = Tenant::start(10, 0).await;
    Mock::given(method("GET"))
        .and(path(WORKERS_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_token"})))
        .with_priority(1)
        .mount(&t.server)
        .await;
    let (c, sleeper) = t.connector(json!({"ImportOrganizations": false})).await;
    let e = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(!e.is_retryable());
    assert_eq!(
        e.message(),
        "Workday refused a freshly issued access token for the workers page at offset 0 (401 Unauthorized, twice): Workday says \"invalid_token\". Check that the integration system user (ISU) is active and not locked, that its password has not expired, that the API client is allowed the \"Staffing\" and \"Organizations and Roles\" scopes, and that the ISU's security group has Get access to the domains \"Worker Data: Public Worker Reports\", \"Worker Data: Active and Terminated Workers\" and \"Organization Data: View Organization\""
    );
    assert_eq!(t.counts().await, (2, 2, 0));
    assert!(sleeper.delays().is_empty());
}

#[tokio::test]
async fn pages_are_fetched_concurrently_but_delivered_in_order() {
    let t = Tenant::start(800, 0).await;
    // Each page takes 300 ms; 7 pages after the first.
    let slow = |offset: u64| {
        let t = t.clone();
        async move {
            let body = {
                let s = t.state.lock().unwrap();
                let data: Vec<_> = s
                    .workers
                    .iter()
                    .skip(offset as usize)
                    .take(100)
                    .cloned()
                    .collect();
                json!({"total": 800, "data": data})
            };
            Mock::given(method("GET"))
                .and(path(WORKERS_PATH))
                .and(query_param("offset", offset.to_string()))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_json(body)
                        .set_delay(Duration::from_millis(if offset == 100 { 600 } else { 300 })),
                )
                .with_priority(1)
                .mount(&t.server)
                .await;
        }
    };
    for p in 1..8 {
        slow(p * 100).await;
    }
    let (c, _) = t
        .connector(json!({"ImportOrganizations": false, "MaxConcurrentRequests": 4}))
        .await;
    let mut sink = VecSink::default();
    c.import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    // The slowest page (offset 100) is overtaken by later ones on the wire,
    // yet the sink sees every record in page order. (The speed-up itself is a
    // performance claim: `harness bench --latency-ms 50 --concurrency 1|4`
    // measures it, see docs/benchmarks.md.)
    assert_eq!(ids(&sink), (0..800).map(worker_id).collect::<Vec<_>>());
    assert_eq!(sink.pages, 8);
}

#[tokio::test]
async fn a_total_that_changes_while_paging_makes_the_run_incomplete() {
    let t = Tenant::start(300, 0).await;
    t.state.lock().unwrap().total_drift = 1;
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert!(!out.complete);
    assert_eq!(sink.changes.len(), 300);
    assert!(
        out.warnings[0].starts_with(
            "Workday's workers total changed from 300 to 301 while paging (at offset 100)"
        ),
        "{:?}",
        out.warnings
    );
    // Records may have shifted between pages, so the workers watermark does
    // not advance: the next delta re-reads the window (nothing is lost).
    assert_eq!(out.watermark.as_deref(), Some("{}"));
    assert!(
        out.warnings
            .iter()
            .any(|w| w == "the workers watermark was not advanced because the read drifted; the next delta re-reads them"),
        "{:?}",
        out.warnings
    );
    // The grown total was followed: one more (empty) page at 300.
    assert_eq!(t.counts().await.1, 4);
}

/// 150 workers, the one at `at` replaced by a copy of the one at `from`.
async fn tenant_repeating(from: usize, at: usize) -> Tenant {
    let t = Tenant::start(150, 0).await;
    {
        let mut s = t.state.lock().unwrap();
        let dup = s.workers[from].clone();
        s.workers[at] = dup;
    }
    t
}

#[tokio::test]
async fn a_repeated_record_id_makes_the_run_incomplete() {
    let t = tenant_repeating(10, 120).await;
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let out = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    assert!(!out.complete);
    assert_eq!(
        out.warnings[0],
        format!("Workday returned 1 workers more than once while paging (e.g. {}): records moved between pages during the read", worker_id(10))
    );
}

/// A full read of 150 workers keeping 100 ids in memory: the ids beyond
/// those are spilled to temporary files (`spill_dir`, or `TMPDIR`).
async fn read_150_workers_spilling_after_100(
    t: &Tenant,
    spill_dir: Option<std::path::PathBuf>,
) -> ImportOutcome {
    let factory = WorkdayFactory::new()
        .with_retry_policy(RetryPolicy::exact())
        .with_id_spill(100, spill_dir);
    let c = t
        .connector_from(factory, json!({"ImportOrganizations": false}))
        .await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 150, "a repeat is still emitted");
    out
}

#[tokio::test]
async fn a_repeat_among_the_ids_spilled_to_files_is_counted_when_the_read_ends() {
    let t = tenant_repeating(110, 140).await;
    let out = read_150_workers_spilling_after_100(&t, None).await;
    assert!(!out.complete);
    // Counted from the files at the end of the read, so without its id.
    assert_eq!(
        out.warnings[0],
        "Workday returned 1 workers more than once while paging: records moved between pages during the read"
    );
    assert_eq!(out.watermark.as_deref(), Some("{}"));
}

#[tokio::test]
async fn a_read_beyond_the_ids_in_memory_without_repeats_is_complete() {
    let t = Tenant::start(150, 0).await;
    let out = read_150_workers_spilling_after_100(&t, None).await;
    assert!(out.complete, "{:?}", out.warnings);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[tokio::test]
async fn a_spill_file_that_cannot_be_created_makes_the_read_incomplete() {
    let t = Tenant::start(150, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = read_150_workers_spilling_after_100(&t, Some(missing.clone())).await;
    assert!(!out.complete);
    let expected = format!(
        "the workers read cannot rule out records returned twice while paging: could not create a temporary file in {} for the ids beyond the first 100 (",
        missing.display()
    );
    assert!(out.warnings[0].starts_with(&expected), "{:?}", out.warnings);
    assert!(
        out.warnings[0].ends_with("); free space there or set TMPDIR to a writable directory"),
        "{:?}",
        out.warnings
    );
    // As after any drift: the watermark stays, the next delta re-reads.
    assert_eq!(out.watermark.as_deref(), Some("{}"));
    assert!(out.warnings.iter().any(|w| w
        == "the workers watermark was not advanced because the read drifted; the next delta re-reads them"));
}

/// 100 workers on the first page, then an empty page at offset 100, both
/// claiming `total`; read one page at a time. Asserts the read stopped there
/// (2 worker requests, 100 changes, incomplete) and returns the first warning.
async fn read_until_an_empty_second_page(total: u64) -> String {
    let t = Tenant::start(100, 0).await;
    for (offset, data) in [("0", (0..100).map(worker).collect()), ("100", vec![])] {
        Mock::given(method("GET"))
            .and(path(WORKERS_PATH))
            .and(query_param("offset", offset))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"total": total, "data": data})),
            )
            .with_priority(1)
            .mount(&t.server)
            .await;
    }
    let (c, _) = t
        .connector(json!({"ImportOrganizations": false, "MaxConcurrentRequests": 1}))
        .await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 100);
    assert_eq!(t.counts().await.1, 2);
    assert!(!out.complete);
    out.warnings[0].clone()
}

#[tokio::test]
async fn an_empty_page_ends_the_read() {
    assert_eq!(
        read_until_an_empty_second_page(400).await,
        "Workday returned an empty workers page at offset 100 although it reported 400 records"
    );
}

#[tokio::test]
async fn an_absurd_total_is_an_incomplete_read_not_an_allocation() {
    // The duplicate-id set is sized from the first page's `total`; a server
    // that reports u64::MAX must not make the connector reserve that much.
    assert_eq!(
        read_until_an_empty_second_page(u64::MAX).await,
        format!(
            "Workday returned an empty workers page at offset 100 although it reported {} records",
            u64::MAX
        )
    );
}

/// A page shorter than asked for, before `total` is reached, skipped
/// records (the offset moves on by a whole page): drift, never trusted.
#[tokio::test]
async fn a_short_page_before_the_total_makes_the_run_incomplete() {
    let t = Tenant::start(300, 0).await;
    Mock::given(method("GET"))
        .and(path(WORKERS_PATH))
        .and(query_param("offset", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"total": 300, "data": (100..150).map(worker).collect::<Vec<_>>()}),
        ))
        .with_priority(1)
        .mount(&t.server)
        .await;
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert!(!out.complete);
    // Every record that came is delivered; the next pages were still read.
    assert_eq!(
        ids(&sink),
        (0..150).chain(200..300).map(worker_id).collect::<Vec<_>>()
    );
    assert_eq!(t.counts().await.1, 3);
    assert_eq!(out.watermark.as_deref(), Some("{}"));
    assert_eq!(
        out.warnings,
        [
            "Workday returned a short workers page at offset 100: 50 records where 100 were asked for, although it reported 300 records, so records after the first 150 may have been skipped",
            "the workers watermark was not advanced because the read drifted; the next delta re-reads them",
            "this full run is not complete (see above): objects it did not see must not be treated as purged; run a full import again later",
        ]
    );
}

/// A short last page that reaches `total` is the normal end of a read.
#[tokio::test]
async fn a_short_last_page_that_reaches_the_total_is_complete() {
    let t = Tenant::start(250, 0).await;
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert!(out.complete);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(sink.changes.len(), 250);
    assert_eq!(t.counts().await.1, 3);
}

#[tokio::test]
async fn an_empty_tenant_is_one_page_and_complete() {
    let t = Tenant::start(0, 0).await;
    let (c, _) = t.connector(json!({})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert!(out.complete);
    assert_eq!(t.counts().await, (1, 1, 1));
    assert_eq!(sink.pages, 0);
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"1970-01-01T00:00:00.000Z","o":"1970-01-01T00:00:00.000Z"}"#)
    );
}

#[tokio::test]
async fn a_run_cancelled_before_it_starts_sends_nothing() {
    let t = Tenant::start(10, 10).await;
    let (c, _) = t.connector(json!({})).await;
    let ctx = RunContext::new();
    ctx.cancel();
    let e = c
        .import(ImportRequest::full(), &mut VecSink::default(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(t.counts().await, (0, 0, 0));
}

struct CancelAfter {
    ctx: RunContext,
    pages: usize,
}

#[async_trait]
impl ChangeSink for CancelAfter {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.pages += 1;
        self.ctx.cancel();
        Ok(())
    }
}

#[tokio::test]
async fn cancellation_after_a_page_stops_delivery_and_requests() {
    let t = Tenant::start(2000, 0).await;
    let (c, _) = t
        .connector(json!({"ImportOrganizations": false, "MaxConcurrentRequests": 2}))
        .await;
    let ctx = RunContext::new();
    let mut sink = CancelAfter {
        ctx: ctx.clone(),
        pages: 0,
    };
    let e = c
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(sink.pages, 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The first page, and at most the two in flight when it was delivered.
    assert!(t.counts().await.1 <= 3, "{:?}", t.counts().await);
}

struct FailingSink {
    pages: usize,
}

#[async_trait]
impl ChangeSink for FailingSink {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.pages += 1;
        if self.pages == 2 {
            return Err(ConnectorError::new(ErrorKind::Sink, "the store is full"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_error_ends_the_run_with_that_error() {
    let t = Tenant::start(1000, 0).await;
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let mut sink = FailingSink { pages: 0 };
    let e = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Sink);
    assert_eq!(e.message(), "the store is full");
    assert_eq!(sink.pages, 2);
}

#[tokio::test]
async fn terminated_workers_are_deletes() {
    let t = Tenant::start(5, 0).await;
    t.update_worker(3, t0(), |w| w["employmentStatus"] = json!("Terminated"));
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.changes[3].kind, ChangeKind::Delete);
    assert_eq!(out.counts.of("User").deletes, 1);
    assert_eq!(out.counts.of("User").upserts, 4);
}
