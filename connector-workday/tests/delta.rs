//! Watermarks and delta runs against a wiremock tenant, plus the watermark
//! codec's properties.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use common::*;
use connector_api::{ChangeKind, Connector, ErrorKind, ImportRequest, RunContext, VecSink};
use connector_workday::watermark::{decode, encode, Watermark};
use proptest::prelude::*;
use serde_json::json;

async fn full(c: &connector_workday::WorkdayConnector) -> String {
    let out = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    out.watermark.unwrap()
}

async fn delta(
    c: &connector_workday::WorkdayConnector,
    w: Option<String>,
) -> (connector_api::ImportOutcome, VecSink) {
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::delta(w), &mut sink, &RunContext::new())
        .await
        .unwrap();
    (out, sink)
}

#[tokio::test]
async fn the_watermark_is_the_newest_time_per_feed() {
    let t = Tenant::start(250, 12).await;
    let (c, _) = t.connector(json!({})).await;
    let w = full(&c).await;
    assert_eq!(
        w,
        format!(
            r#"{{"w":"{}","o":"{}"}}"#,
            iso(t0() + ChronoDuration::minutes(249)),
            iso(t0() + ChronoDuration::minutes(11))
        )
    );
}

#[tokio::test]
async fn delta_sends_updated_from_minus_the_overlap_and_emits_only_changes() {
    let t = Tenant::start(300, 5).await;
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 300})).await;
    let w = full(&c).await;
    let later = t0() + ChronoDuration::days(1);
    t.update_worker(7, later, |w| w["businessTitle"] = json!("Chief"));
    let (out, sink) = delta(&c, Some(w)).await;
    // The full run's newest worker is t0+299 min; minus 300 s is t0+294 min.
    let from = iso(t0() + ChronoDuration::minutes(294));
    let reqs: Vec<_> = t
        .requests_to(WORKERS_PATH)
        .await
        .into_iter()
        .filter(|r| r.url.query().unwrap_or("").contains("updatedFrom"))
        .collect();
    assert_eq!(reqs.len(), 1);
    let q: std::collections::HashMap<_, _> = reqs[0].url.query_pairs().collect();
    assert_eq!(q["updatedFrom"], from.as_str());
    // Boundary records within the overlap are re-emitted (idempotent); the change is there.
    let users: Vec<_> = sink
        .changes
        .iter()
        .filter(|c| c.object_type == "User")
        .collect();
    assert!(users.iter().any(|c| c.external_id == worker_id(7)));
    assert_eq!(
        users.len(),
        1 + 6,
        "worker 7 plus the 6 boundary workers 294..=299"
    );
    assert!(!out.complete);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let w2 = decode(out.watermark.as_deref()).unwrap();
    assert_eq!(w2.workers, Some(later));
    // Organizations saw only boundary records: their watermark is unchanged.
    assert_eq!(w2.organizations, Some(t0() + ChronoDuration::minutes(4)));
}

#[tokio::test]
async fn a_tenant_that_ignores_updated_from_still_yields_a_correct_delta() {
    let t = Tenant::start(300, 5).await;
    t.state.lock().unwrap().honour_updated_from = false;
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 0})).await;
    let w = full(&c).await;
    let later = t0() + ChronoDuration::days(2);
    t.update_worker(42, later, |w| w["lastName"] = json!("Changed"));
    let (out, sink) = delta(&c, Some(w)).await;
    // Every page was read (the tenant ignored the filter) ...
    assert_eq!(t.counts().await.1, 3 + 3);
    // ... but only the change and the boundary record (== watermark, inclusive) came out.
    let ids: Vec<_> = sink.changes.iter().map(|c| c.external_id.clone()).collect();
    assert_eq!(ids, [org_id(4), worker_id(42), worker_id(299)]);
    assert_eq!(
        decode(out.watermark.as_deref()).unwrap().workers,
        Some(later)
    );
}

#[tokio::test]
async fn times_compare_as_instants() {
    let t = Tenant::start(2, 0).await;
    t.state.lock().unwrap().honour_updated_from = false;
    let (c, _) = t
        .connector(json!({"DeltaOverlapSeconds": 0, "ImportOrganizations": false}))
        .await;
    // Worker 1 at 10:30+02:00 == 08:30Z; worker 0 at 08:29:59.999Z.
    {
        let mut s = t.state.lock().unwrap();
        s.workers[0]["lastUpdatedDateTime"] = json!("2026-04-26T08:29:59.999Z");
        s.workers[1]["lastUpdatedDateTime"] = json!("2026-04-26T10:30:00+02:00");
    }
    let (out, sink) = delta(&c, Some(r#"{"w":"2026-04-26T08:30:00.000Z"}"#.into())).await;
    assert_eq!(ids(&sink), [worker_id(1)]);
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-04-26T08:30:00.000Z"}"#)
    );
}

#[tokio::test]
async fn a_legacy_bare_watermark_starts_both_feeds() {
    let t = Tenant::start(10, 10).await;
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 0})).await;
    let legacy = iso(t0() + ChronoDuration::minutes(8));
    let (out, sink) = delta(&c, Some(legacy.clone())).await;
    assert_eq!(
        ids(&sink),
        [org_id(8), org_id(9), worker_id(8), worker_id(9)]
    );
    for p in [WORKERS_PATH, ORGS_PATH] {
        let r = &t.requests_to(p).await[0];
        assert!(
            r.url
                .query()
                .unwrap()
                .contains("updatedFrom=2026-04-01T08%3A08%3A00.000Z"),
            "{}",
            r.url
        );
    }
    assert_eq!(
        out.watermark.unwrap(),
        format!(
            r#"{{"w":"{0}","o":"{0}"}}"#,
            iso(t0() + ChronoDuration::minutes(9))
        )
    );
}

#[tokio::test]
async fn an_absent_watermark_reads_everything_and_says_so() {
    for w in [None, Some(String::new()), Some("  ".to_string())] {
        let t = Tenant::start(150, 3).await;
        let (c, _) = t.connector(json!({})).await;
        let (out, sink) = delta(&c, w).await;
        assert_eq!(sink.changes.len(), 153);
        assert!(!out.complete);
        assert_eq!(
            out.warnings,
            [
                "this delta run had no watermark for supervisory organizations, so it read all of them (a full read, reported as a delta)",
                "this delta run had no watermark for workers, so it read all of them (a full read, reported as a delta)"
            ]
        );
        for r in t.requests_to(WORKERS_PATH).await {
            assert!(!r.url.query().unwrap().contains("updatedFrom"));
        }
    }
}

#[tokio::test]
async fn a_bad_watermark_fails_a_delta_before_any_request() {
    let t = Tenant::start(10, 10).await;
    let (c, _) = t.connector(json!({})).await;
    for bad in [
        "not a time",
        "{\"w\": \"2026-04-26T08:30:00Z\", \"x\": 1}",
        "{\"w\": 5}",
        "{",
    ] {
        let e = c
            .import(
                ImportRequest::delta(Some(bad.into())),
                &mut VecSink::default(),
                &RunContext::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Watermark, "{bad}");
        assert!(!e.is_retryable());
        assert!(
            e.message()
                .ends_with("run a full import to start a fresh watermark"),
            "{}",
            e.message()
        );
    }
    assert_eq!(t.counts().await, (0, 0, 0));
    // A full run is the remedy: it ignores the bad watermark, says so, and returns a fresh one.
    let out = c
        .import(
            ImportRequest {
                mode: connector_api::ImportMode::Full,
                watermark: Some("junk".into()),
            },
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    assert!(out.complete);
    assert!(
        out.warnings[0].starts_with("the incoming watermark \"junk\" cannot be read"),
        "{:?}",
        out.warnings
    );
    assert!(decode(out.watermark.as_deref()).is_ok());
}

#[tokio::test]
async fn a_feed_without_records_keeps_its_watermark() {
    let t = Tenant::start(5, 5).await;
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 0})).await;
    let w = full(&c).await;
    // Nothing changed: the filter leaves only the boundary records; times stay.
    let (out, _) = delta(&c, Some(w.clone())).await;
    assert_eq!(out.watermark.as_deref(), Some(w.as_str()));
    // A watermark far in the future (written by a bad clock or an older
    // version): the feeds see nothing, and the watermark comes back to the
    // server time the read started, which it never passes.
    t.set_dates(
        "Wed, 01 Apr 2026 12:00:00 GMT",
        "Wed, 01 Apr 2026 12:05:00 GMT",
    );
    let future = r#"{"w":"2030-01-01T00:00:00.000Z","o":"2030-01-01T00:00:00.000Z"}"#;
    let (out, sink) = delta(&c, Some(future.into())).await;
    assert!(sink.changes.is_empty());
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-04-01T12:00:00.000Z","o":"2026-04-01T12:00:00.000Z"}"#)
    );
    // A disabled feed is not read: it keeps its incoming value.
    let (c2, _) = t
        .connector(json!({"ImportOrganizations": false, "DeltaOverlapSeconds": 0}))
        .await;
    let (out, _) = delta(&c2, Some(future.into())).await;
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-04-01T12:00:00.000Z","o":"2030-01-01T00:00:00.000Z"}"#)
    );
}

/// Issue 13's first scenario, one worker a page: worker A (0) is read on
/// page 1 and updated 30 s after the read started; worker B (2), updated 6
/// minutes into the read, is read on page 3.
#[tokio::test]
async fn the_watermark_never_passes_the_server_time_the_read_started() {
    let t = Tenant::start(3, 0).await;
    let started: DateTime<Utc> = "2026-04-01T09:00:00Z".parse().unwrap();
    t.set_dates(
        "Wed, 01 Apr 2026 09:00:00 GMT",
        "Wed, 01 Apr 2026 09:07:00 GMT",
    );
    t.update_worker(2, started + ChronoDuration::minutes(6), |_| {});
    let (c, _) = t
        .connector(json!({
            "ImportOrganizations": false,
            "PageSize": 1,
            "MaxConcurrentRequests": 1,
            "DeltaOverlapSeconds": 60
        }))
        .await;
    let w = full(&c).await;
    // Not B's 09:06: the first page's Date, 09:00 (not a later page's 09:07).
    assert_eq!(w, r#"{"w":"2026-04-01T09:00:00.000Z"}"#);
    // A's update, which this read never saw, lands in the next delta's window.
    t.update_worker(0, started + ChronoDuration::seconds(30), |w| {
        w["businessTitle"] = json!("Chief")
    });
    t.set_dates(
        "Wed, 01 Apr 2026 09:10:00 GMT",
        "Wed, 01 Apr 2026 09:10:01 GMT",
    );
    let (out, sink) = delta(&c, Some(w)).await;
    assert_eq!(ids(&sink), [worker_id(0), worker_id(2)]);
    assert_eq!(
        sink.changes[0].attributes.get("businessTitle"),
        Some(&connector_api::Value::String("Chief".into()))
    );
    let sent: Vec<String> = t
        .requests_to(WORKERS_PATH)
        .await
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "updatedFrom")
                .map(|(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(sent, ["2026-04-01T08:59:00.000Z"; 2]);
    // Below the cap, the newest time seen is the watermark, as before.
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-04-01T09:06:00.000Z"}"#)
    );
}

/// Issue 13's second scenario: a record stamped 2099 (a bad clock or bad
/// data) does not silence every later delta.
#[tokio::test]
async fn a_record_stamped_in_the_future_does_not_move_the_watermark_past_the_read() {
    let t = Tenant::start(3, 2).await;
    t.set_dates(
        "Wed, 01 Apr 2026 12:00:00 GMT",
        "Wed, 01 Apr 2026 12:00:01 GMT",
    );
    let far: DateTime<Utc> = "2099-01-01T00:00:00Z".parse().unwrap();
    t.update_worker(1, far, |_| {});
    t.state.lock().unwrap().orgs[1]["lastUpdatedDateTime"] = json!(iso(far));
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 0})).await;
    let w = full(&c).await;
    assert_eq!(
        w,
        r#"{"w":"2026-04-01T12:00:00.000Z","o":"2026-04-01T12:00:00.000Z"}"#
    );
    let at = "2026-04-01T12:30:00Z".parse().unwrap();
    t.update_worker(2, at, |w| w["businessTitle"] = json!("Chief"));
    t.set_dates(
        "Wed, 01 Apr 2026 13:00:00 GMT",
        "Wed, 01 Apr 2026 13:00:01 GMT",
    );
    let (out, sink) = delta(&c, Some(w)).await;
    // The 2099 records are re-emitted by every delta (they are in every
    // window) and the real change is seen.
    assert_eq!(ids(&sink), [org_id(1), worker_id(1), worker_id(2)]);
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-04-01T13:00:00.000Z","o":"2026-04-01T13:00:00.000Z"}"#)
    );
}

/// Without the server time the read started, a feed's watermark cannot be
/// capped, so it is not advanced (never a fallback to the local clock).
#[tokio::test]
async fn a_first_page_without_a_usable_date_does_not_advance_the_watermark() {
    let t = Tenant::start(3, 2).await;
    t.set_dates("yesterday", "Wed, 01 Apr 2026 12:00:01 GMT");
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 0})).await;
    let out = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    // The read itself is whole: the run is complete, only the watermark waits.
    assert!(out.complete);
    assert_eq!(out.watermark.as_deref(), Some("{}"));
    let warning = |noun: &str| {
        format!(
            "Workday's first {noun} page had an unreadable Date header (\"yesterday\"), so the {noun} watermark was not advanced: it never passes the server time the read started, and that time is unknown. The next delta reads them again; check that no proxy between this host and Workday strips or rewrites the Date header"
        )
    };
    assert_eq!(
        out.warnings,
        [warning("supervisory organizations"), warning("workers")]
    );
    // A delta keeps its incoming watermark, whatever it read.
    let incoming = r#"{"w":"2026-04-01T08:01:00.000Z","o":"2026-04-01T08:00:00.000Z"}"#;
    let (out, sink) = delta(&c, Some(incoming.into())).await;
    assert_eq!(sink.changes.len(), 4);
    assert_eq!(out.watermark.as_deref(), Some(incoming));
}

#[tokio::test]
async fn records_without_a_time_are_always_emitted_and_never_move_the_watermark() {
    let t = Tenant::start(3, 0).await;
    {
        let mut s = t.state.lock().unwrap();
        s.workers[1]
            .as_object_mut()
            .unwrap()
            .remove("lastUpdatedDateTime");
        s.workers[2]
            .as_object_mut()
            .unwrap()
            .remove("employmentStatus");
    }
    let (c, _) = t
        .connector(json!({"ImportOrganizations": false, "DeltaOverlapSeconds": 0}))
        .await;
    let w = full(&c).await;
    assert_eq!(
        w,
        format!(r#"{{"w":"{}"}}"#, iso(t0() + ChronoDuration::minutes(2)))
    );
    let (out, sink) = delta(&c, Some(w.clone())).await;
    assert_eq!(ids(&sink), [worker_id(1), worker_id(2)]);
    assert_eq!(out.watermark.as_deref(), Some(w.as_str()));
    assert_eq!(out.warnings, ["1 workers had no lastUpdatedDateTime: they cannot be filtered by time, so every delta re-emits them, and they do not move the watermark"]);
    // No status: an upsert without accountEnabled / IsDeleted.
    let no_status = &sink.changes[1];
    assert_eq!(no_status.kind, ChangeKind::Upsert);
    assert!(!no_status.attributes.contains_key("accountEnabled"));
    assert!(!no_status.attributes.contains_key("IsDeleted"));
}

#[tokio::test]
async fn record_errors_withhold_the_watermark_and_completeness() {
    let t = Tenant::start(150, 0).await;
    {
        let mut s = t.state.lock().unwrap();
        s.workers[120]["hireDate"] = json!("31.12.2020");
        s.workers[3].as_object_mut().unwrap().remove("id");
    }
    let (c, _) = t.connector(json!({"ImportOrganizations": false})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 148);
    assert_eq!(out.watermark, None);
    assert!(!out.complete);
    let e: Vec<_> = out
        .record_errors
        .iter()
        .map(|e| (e.position, e.external_id.clone(), e.field.clone()))
        .collect();
    assert_eq!(
        e,
        [
            (3, None, Some("id".into())),
            (120, Some(worker_id(120)), Some("hireDate".into()))
        ]
    );
}

#[tokio::test]
async fn delta_after_each_kind_of_change() {
    let t = Tenant::start(20, 4).await;
    let (c, _) = t.connector(json!({"DeltaOverlapSeconds": 0})).await;
    let mut w = full(&c).await;
    let mut at = t0() + ChronoDuration::days(1);
    let step = |w: &mut String, out: connector_api::ImportOutcome| {
        *w = out.watermark.unwrap();
    };

    // Update.
    t.update_worker(5, at, |r| r["businessTitle"] = json!("Lead"));
    let (out, sink) = delta(&c, Some(w.clone())).await;
    let ch = sink
        .changes
        .iter()
        .find(|c| c.external_id == worker_id(5))
        .unwrap();
    assert_eq!(ch.kind, ChangeKind::Upsert);
    assert_eq!(
        ch.attributes["businessTitle"],
        connector_api::Value::String("Lead".into())
    );
    step(&mut w, out);

    // Hire.
    at += ChronoDuration::hours(1);
    {
        let mut s = t.state.lock().unwrap();
        let mut n = worker(20);
        n["lastUpdatedDateTime"] = json!(iso(at));
        s.workers.push(n);
    }
    let (out, sink) = delta(&c, Some(w.clone())).await;
    assert!(sink
        .changes
        .iter()
        .any(|c| c.external_id == worker_id(20) && c.kind == ChangeKind::Upsert));
    step(&mut w, out);

    // Terminate.
    at += ChronoDuration::hours(1);
    t.update_worker(6, at, |r| {
        r["employmentStatus"] = json!("Terminated");
        r["terminationDate"] = json!("2026-04-02");
    });
    let (out, sink) = delta(&c, Some(w.clone())).await;
    let ch = sink
        .changes
        .iter()
        .find(|c| c.external_id == worker_id(6))
        .unwrap();
    assert_eq!(ch.kind, ChangeKind::Delete);
    assert_eq!(ch.attributes["IsDeleted"], connector_api::Value::Bool(true));
    step(&mut w, out);

    // Rehire.
    at += ChronoDuration::hours(1);
    t.update_worker(6, at, |r| {
        r["employmentStatus"] = json!("Active");
        r["hireDate"] = json!("2026-05-01");
        r.as_object_mut().unwrap().remove("terminationDate");
    });
    let (out, sink) = delta(&c, Some(w.clone())).await;
    let ch = sink
        .changes
        .iter()
        .find(|c| c.external_id == worker_id(6))
        .unwrap();
    assert_eq!(ch.kind, ChangeKind::Upsert);
    assert_eq!(
        ch.attributes["accountEnabled"],
        connector_api::Value::Bool(true)
    );
    step(&mut w, out);

    // Move to another organization.
    at += ChronoDuration::hours(1);
    t.update_worker(7, at, |r| {
        r["primarySupervisoryOrganization"] = json!({"id": org_id(3)})
    });
    let (out, sink) = delta(&c, Some(w.clone())).await;
    let ch = sink
        .changes
        .iter()
        .find(|c| c.external_id == worker_id(7))
        .unwrap();
    assert_eq!(
        ch.attributes["primaryWorkerSupervisoryOrganization"],
        connector_api::Value::Reference(org_id(3).into())
    );
    step(&mut w, out);

    // Reparent an organization.
    at += ChronoDuration::hours(1);
    {
        let mut s = t.state.lock().unwrap();
        s.orgs[2]["parentOrganization"] = json!({"id": org_id(1)});
        s.orgs[2]["lastUpdatedDateTime"] = json!(iso(at));
    }
    let (out, sink) = delta(&c, Some(w.clone())).await;
    let ch = sink
        .changes
        .iter()
        .find(|c| c.external_id == org_id(2))
        .unwrap();
    assert_eq!(
        ch.attributes["parentOrganizationId"],
        connector_api::Value::Reference(org_id(1).into())
    );
    step(&mut w, out);

    // Purge: invisible to a delta by design (only a full run's completeness shows it).
    {
        let mut s = t.state.lock().unwrap();
        s.workers.remove(9);
    }
    let (_, sink) = delta(&c, Some(w.clone())).await;
    assert!(sink.changes.iter().all(|c| c.external_id != worker_id(9)));
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800_000).prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap())
}

proptest! {
    #[test]
    fn the_codec_round_trips(w in proptest::option::of(instant()), o in proptest::option::of(instant())) {
        let wm = Watermark { workers: w, organizations: o };
        let s = encode(&wm);
        prop_assert_eq!(decode(Some(&s)).unwrap(), wm);
        // Canonical times only.
        let json: serde_json::Value = serde_json::from_str(&s).unwrap();
        for v in json.as_object().unwrap().values() {
            let v = v.as_str().unwrap();
            prop_assert_eq!(v.len(), 24);
            prop_assert!(v.ends_with('Z') && v.as_bytes()[19] == b'.');
        }
    }

    #[test]
    fn sub_millisecond_times_round_down(ms in 0i64..4_102_444_800_000, ns in 0u32..1_000_000) {
        let t = Utc.timestamp_millis_opt(ms).unwrap() + ChronoDuration::nanoseconds(i64::from(ns));
        let wm = Watermark { workers: Some(t), organizations: None };
        let back = decode(Some(&encode(&wm))).unwrap().workers.unwrap();
        prop_assert!(back <= t);
        prop_assert!(t - back < ChronoDuration::milliseconds(1));
    }

    #[test]
    fn decode_never_panics(s in ".{0,40}") {
        let _ = decode(Some(&s));
    }
}
