//! The Workday connector against the embedded simulator: request counts,
//! the token cache, retries through simulator faults, delta after every kind
//! of mutation, and the connector-api contract kit.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::time::Duration;

use connector_api::contract::run_all;
use connector_api::{
    ChangeKind, Connector, ErrorKind, ImportOutcome, ImportRequest, RunContext, Value, VecSink,
};
use connector_workday::retry::RecordingSleeper;
use connector_workday::WorkdayConnector;
use harness::sim::{DriftKind, Endpoint, FaultKind, FaultRule, RetryAfter, Simulator};
use serde_json::json;

mod support;
use support::{
    an_active_non_manager, config, counts, recording_factory, secrets, sim, SimFixture, SECRET_REF,
};

/// A connector that records back-off delays instead of sleeping.
async fn connector(
    sim: &Simulator,
    extra: serde_json::Value,
) -> (WorkdayConnector, RecordingSleeper) {
    let sleeper = RecordingSleeper::new();
    let c = recording_factory(&sleeper)
        .connect(&config(sim, extra), SECRET_REF, &secrets(sim))
        .await
        .expect("valid configuration");
    (c, sleeper)
}

async fn run(c: &WorkdayConnector, request: ImportRequest) -> (ImportOutcome, VecSink, RunContext) {
    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let out = c
        .import(request, &mut sink, &ctx)
        .await
        .expect("import succeeds");
    (out, sink, ctx)
}

#[tokio::test]
async fn a_1050_worker_tenant_is_one_token_and_eleven_pages() {
    let sim = sim(1050, 30).await;
    let (c, _) = connector(&sim, json!({"ImportOrganizations": false})).await;
    let (out, sink, ctx) = run(&c, ImportRequest::full()).await;
    assert_eq!(counts(&sim), (1, 11, 0));
    let m = ctx.metrics().snapshot();
    assert_eq!(
        (m.requests, m.retries, m.pages, m.records),
        (12, 0, 11, 1050)
    );
    assert_eq!(sink.changes.len(), 1050);
    assert_eq!(
        sink.changes
            .iter()
            .map(|c| c.external_id.clone())
            .collect::<Vec<_>>(),
        sim.worker_ids()
    );
    assert!(out.complete, "{:?}", out.warnings);
    assert!(out.record_errors.is_empty(), "{:?}", out.record_errors);

    // With organizations: one more page, organizations first.
    sim.clear_requests();
    let (c, _) = connector(&sim, json!({})).await;
    let (out, sink, ctx) = run(&c, ImportRequest::full()).await;
    assert_eq!(counts(&sim), (1, 11, 1));
    assert_eq!(ctx.metrics().snapshot().requests, 13);
    assert!(sink.changes[..30]
        .iter()
        .all(|c| c.object_type == "OrgUnit"));
    assert_eq!(out.counts.of("OrgUnit").upserts, 30);
    let users = out.counts.of("User");
    assert_eq!(users.upserts + users.deletes, 1050);
}

#[tokio::test]
async fn the_token_is_reused_and_refreshed_when_it_expires() {
    let sim = sim(1050, 30).await;
    // The first token dies after 4 API uses; the 5th gets 401 invalid_token.
    sim.add_fault(FaultRule::once(
        Endpoint::Token,
        1,
        FaultKind::TokenExpiresAfterUses(4),
    ));
    let (c, sleeper) = connector(&sim, json!({"MaxConcurrentRequests": 1})).await;
    let (out, sink, ctx) = run(&c, ImportRequest::full()).await;
    assert!(out.complete);
    assert_eq!(sink.changes.len(), 1080);
    // One refresh; the refused page was sent again.
    assert_eq!(counts(&sim), (2, 12, 1));
    assert_eq!(ctx.metrics().snapshot().requests, 15);
    assert_eq!(ctx.metrics().snapshot().retries, 0);
    assert!(sleeper.delays().is_empty());
    let refused: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .collect();
    assert_eq!(refused.len(), 1);

    // A second run reuses the fresh token.
    sim.clear_requests();
    run(&c, ImportRequest::full()).await;
    assert_eq!(counts(&sim).0, 0);
}

#[tokio::test]
async fn server_errors_are_retried_with_exact_delays() {
    let sim = sim(300, 10).await;
    sim.add_fault(FaultRule {
        endpoint: Endpoint::Workers,
        at_request: 2,
        times: 3,
        kind: FaultKind::Status(503),
    });
    // One page at a time, so the three faults hit the same page.
    let (c, sleeper) = connector(&sim, json!({"MaxConcurrentRequests": 1})).await;
    let (out, _, ctx) = run(&c, ImportRequest::full()).await;
    assert!(out.complete);
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
    assert_eq!(ctx.metrics().snapshot().retries, 3);
    assert_eq!(counts(&sim), (1, 3 + 3, 1));
}

#[tokio::test]
async fn throttling_honours_retry_after_and_fails_beyond_the_cap() {
    let sim = sim(300, 10).await;
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        1,
        FaultKind::TooManyRequests(RetryAfter::Seconds(7)),
    ));
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        2,
        FaultKind::TooManyRequests(RetryAfter::Absent),
    ));
    let (c, sleeper) = connector(&sim, json!({"MaxConcurrentRequests": 1})).await;
    let (_, _, ctx) = run(&c, ImportRequest::full()).await;
    // The same page's second retry: Retry-After first, then the back-off's second step.
    assert_eq!(
        sleeper.delays(),
        [Duration::from_secs(7), Duration::from_secs(2)]
    );
    assert_eq!(ctx.metrics().snapshot().retries, 2);

    sim.clear_faults();
    sim.clear_requests();
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        1,
        FaultKind::TooManyRequests(RetryAfter::HttpDateIn(Duration::from_secs(600))),
    ));
    let (c, sleeper) = connector(&sim, json!({})).await;
    let e = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimit);
    assert!(e.retry_after().unwrap() > Duration::from_secs(590));
    assert!(
        e.message()
            .contains("more than the connector's 30 s back-off cap"),
        "{}",
        e.message()
    );
    assert!(sleeper.delays().is_empty());
    assert_eq!(counts(&sim).1, 1);
}

#[tokio::test]
async fn dropped_connections_and_slow_replies_are_retried() {
    let sim = sim(300, 10).await;
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        1,
        FaultKind::CloseConnection,
    ));
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        2,
        FaultKind::CloseMidBody,
    ));
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        3,
        FaultKind::Slow(Duration::from_secs(3)),
    ));
    let sleeper = RecordingSleeper::new();
    let c = recording_factory(&sleeper)
        .with_request_timeout(Duration::from_millis(500))
        .connect(
            &config(&sim, json!({"MaxConcurrentRequests": 1})),
            SECRET_REF,
            &secrets(&sim),
        )
        .await
        .unwrap();
    let (out, sink, ctx) = run(&c, ImportRequest::full()).await;
    assert!(out.complete);
    assert_eq!(sink.changes.len(), 310);
    assert_eq!(ctx.metrics().snapshot().retries, 3);
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let sim = sim(100, 5).await;
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        1,
        FaultKind::Status(400),
    ));
    let (c, sleeper) = connector(&sim, json!({})).await;
    let e = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert!(
        e.message()
            .starts_with("Workday rejected the workers page at offset 0 with 400"),
        "{}",
        e.message()
    );
    assert!(sleeper.delays().is_empty());
    assert_eq!(counts(&sim).1, 1);
}

#[tokio::test]
async fn drifting_totals_make_a_full_run_incomplete() {
    let sim = sim(300, 10).await;
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        2,
        FaultKind::TotalDrift(DriftKind::Purge),
    ));
    let (c, _) = connector(&sim, json!({"MaxConcurrentRequests": 1})).await;
    let (out, _, _) = run(&c, ImportRequest::full()).await;
    assert!(!out.complete);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("total changed from 300 to 299")),
        "{:?}",
        out.warnings
    );
    assert!(out.watermark.is_some());
}

#[tokio::test]
async fn a_badly_typed_record_is_a_record_error_and_withholds_the_watermark() {
    let sim = sim(300, 10).await;
    sim.add_fault(FaultRule::once(Endpoint::Workers, 2, FaultKind::BadRecord));
    let (c, _) = connector(&sim, json!({"MaxConcurrentRequests": 1})).await;
    let (out, sink, _) = run(&c, ImportRequest::full()).await;
    assert_eq!(out.record_errors.len(), 1);
    let e = &out.record_errors[0];
    assert_eq!((e.object_type.as_str(), e.position), ("User", 100));
    assert!(e.field.is_some());
    assert_eq!(out.watermark, None);
    assert!(!out.complete);
    assert_eq!(sink.changes.len(), 309);
}

fn find<'a>(sink: &'a VecSink, id: &str) -> &'a connector_api::Change {
    sink.changes
        .iter()
        .find(|c| c.external_id == id)
        .unwrap_or_else(|| panic!("the delta did not report {id}"))
}

#[tokio::test]
async fn delta_after_each_kind_of_mutation() {
    let sim = sim(500, 20).await;
    let (c, _) = connector(&sim, json!({})).await;
    let (full, _, _) = run(&c, ImportRequest::full()).await;
    let mut w = full.watermark.unwrap();

    // Quiet: only boundary records within the overlap, never anything new.
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    assert!(
        sink.changes.len() < 50,
        "{} changes in a quiet delta",
        sink.changes.len()
    );
    w = out.watermark.unwrap();

    // Update.
    let id = an_active_non_manager(&sim, 0);
    sim.update_worker(&id, "businessTitle", json!("Chief Delta Officer"))
        .unwrap();
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    assert_eq!(
        find(&sink, &id).attributes["businessTitle"],
        Value::String("Chief Delta Officer".into())
    );
    w = out.watermark.unwrap();

    // Hire.
    let hired = sim.hire();
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    assert_eq!(find(&sink, &hired).kind, ChangeKind::Upsert);
    w = out.watermark.unwrap();

    // Terminate.
    let leaver = an_active_non_manager(&sim, 1);
    sim.terminate(&leaver).unwrap();
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    let ch = find(&sink, &leaver);
    assert_eq!(ch.kind, ChangeKind::Delete);
    assert_eq!(ch.attributes["IsDeleted"], Value::Bool(true));
    assert_eq!(ch.attributes["accountEnabled"], Value::Bool(false));
    w = out.watermark.unwrap();

    // Rehire: Workday issues a new WID with the same employeeNumber.
    let rehired = sim.rehire(&leaver).unwrap();
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    let ch = find(&sink, &rehired);
    assert_eq!(ch.kind, ChangeKind::Upsert);
    assert_eq!(ch.attributes["accountEnabled"], Value::Bool(true));
    w = out.watermark.unwrap();

    // Move to another organization.
    let mover = an_active_non_manager(&sim, 2);
    let current = sim.worker(&mover).unwrap()["primarySupervisoryOrganization"]["id"].clone();
    let target = sim
        .org_ids()
        .into_iter()
        .find(|o| json!(o) != current)
        .unwrap();
    sim.move_worker(&mover, &target).unwrap();
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    assert_eq!(
        find(&sink, &mover).attributes["primaryWorkerSupervisoryOrganization"],
        Value::Reference(target.into())
    );
    w = out.watermark.unwrap();

    // Re-parent an organization (to the top one; the simulator refuses cycles).
    let orgs = sim.org_ids();
    let (top, child) = (orgs[0].clone(), orgs[orgs.len() - 1].clone());
    sim.reparent_org(&child, &top).unwrap();
    let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    assert_eq!(
        find(&sink, &child).attributes["parentOrganizationId"],
        Value::Reference(top.into())
    );
    w = out.watermark.unwrap();

    // Purge: invisible to a delta by design (nothing is left to report);
    // only a complete full run lets the engine detect it.
    let purged = an_active_non_manager(&sim, 3);
    sim.purge_worker(&purged).unwrap();
    let (_, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
    assert!(sink.changes.iter().all(|c| c.external_id != purged));
    let (full, sink, _) = run(&c, ImportRequest::full()).await;
    assert!(full.complete);
    assert!(sink.changes.iter().all(|c| c.external_id != purged));
}

#[tokio::test]
async fn the_connector_passes_the_contract_kit_against_the_simulator() {
    let fixture = SimFixture {
        sim: sim(200, 12).await,
        make: Box::new(|sim| {
            Box::pin(async move {
                let (c, _) = connector(&sim, json!({"PageSize": 40})).await;
                Box::new(c) as Box<dyn Connector>
            })
        }),
    };
    run_all(&fixture).await;
}

#[tokio::test]
async fn health_checks_against_the_simulator() {
    let sim = sim(50, 8).await;
    let (c, _) = connector(&sim, json!({})).await;
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");
    assert_eq!(checks[1].message, "Successfully listed 10 workers");
    // The simulator's rich records carry every field the import needs.
    assert_eq!(
        (checks[2].name.as_str(), checks[2].message.as_str()),
        (
            "fieldCoverage",
            "The workers read (10) carry every field the import needs (none carried terminationDate)"
        )
    );
    assert_eq!(
        checks[3].message,
        "Successfully listed 5 supervisory organizations"
    );
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        2,
        FaultKind::Status(503),
    ));
    let checks = c.check().await;
    assert!(
        checks[1]
            .message
            .starts_with("Unable to list workers. Workday returned a server error."),
        "{}",
        checks[1].message
    );
}
