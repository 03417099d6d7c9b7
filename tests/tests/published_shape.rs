//! The Workday connector against a simulated tenant that serves only what
//! Workday's published `common/v1` collections carry (`--shape published`):
//! the import succeeds without record errors, maps `descriptor`, `workerID`
//! and `isManager`, derives nothing from the fields that are missing, and
//! says plainly which mapped fields no record carried.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use connector_api::{
    Change, ChangeKind, Connector, ImportOutcome, ImportRequest, RunContext, Value, VecSink,
};
use connector_workday::retry::RecordingSleeper;
use connector_workday::WorkdayConnector;
use harness::sim::{Endpoint, FaultKind, FaultRule, Shape, SimConfig, Simulator};
use serde_json::json;

mod support;
use support::{config, counts, recording_factory, secrets, SECRET_REF};

/// The coverage warning of a published workers feed of `n` workers.
fn workers_warning(n: usize) -> String {
    format!(
        "none of the {n} workers carried employmentStatus, firstName, lastName, lastUpdatedDateTime: \
         terminations cannot be seen, users have no first or last name and every delta re-reads all workers \
         (Workday's published REST collection does not carry them; the SOAP source will); \
         no record carried these mapped fields either: workerType, preferredName, email, mobilePhone, \
         companyEmployeeId, jobTitle, jobProfile, costCenter, costCenterCode, companyCode, legalEntity, \
         manager, locationCode, country, region, hireDate, terminationDate, lastUpdatedBy"
    )
}

/// The coverage warning of a published organizations feed of `n` orgs.
fn orgs_warning(n: usize) -> String {
    format!(
        "none of the {n} supervisory organizations carried lastUpdatedDateTime: \
         every delta re-reads all supervisory organizations \
         (Workday's published REST collection does not carry them; the SOAP source will); \
         no record carried these mapped fields either: code, parentOrganizationId, manager"
    )
}

async fn published(workers: usize, orgs: usize) -> Simulator {
    Simulator::start(SimConfig {
        workers,
        orgs,
        shape: Shape::Published,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

async fn connector(sim: &Simulator, extra: serde_json::Value) -> WorkdayConnector {
    recording_factory(&RecordingSleeper::new())
        .connect(&config(sim, extra), SECRET_REF, &secrets(sim))
        .await
        .expect("valid configuration")
}

async fn run(c: &WorkdayConnector, request: ImportRequest) -> (ImportOutcome, VecSink) {
    let mut sink = VecSink::default();
    let out = c
        .import(request, &mut sink, &RunContext::new())
        .await
        .expect("import succeeds");
    (out, sink)
}

fn of_type<'a>(sink: &'a VecSink, object_type: &str) -> Vec<&'a Change> {
    sink.changes
        .iter()
        .filter(|c| c.object_type == object_type)
        .collect()
}

/// Attributes that only a field the published shape lacks could produce.
const NEVER: &[&str] = &[
    "accountEnabled",
    "IsDeleted",
    "lastUpdatedDateTime",
    "employmentStatus",
    "firstName",
    "lastName",
    "manager",
    "hireDate",
    "parentOrganizationId",
    "code",
];

#[tokio::test]
async fn a_published_tenant_imports_fully_and_derives_nothing_from_missing_fields() {
    let sim = published(100, 10).await;
    let c = connector(&sim, json!({})).await;
    let (out, sink) = run(&c, ImportRequest::full()).await;

    assert!(out.record_errors.is_empty(), "{:?}", out.record_errors);
    assert_eq!(counts(&sim), (1, 1, 1));
    assert_eq!(sink.changes.len(), 110);
    let (orgs, users) = (out.counts.of("OrgUnit"), out.counts.of("User"));
    assert_eq!((orgs.upserts, orgs.deletes), (10, 0));
    assert_eq!((users.upserts, users.deletes), (100, 0));
    assert!(out.complete, "{:?}", out.warnings);
    // No record carries lastUpdatedDateTime: nothing moves either feed past
    // the start of time, so every delta reads everything again.
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"1970-01-01T00:00:00.000Z","o":"1970-01-01T00:00:00.000Z"}"#)
    );
    assert_eq!(out.warnings, [orgs_warning(10), workers_warning(100)]);

    for ch in &sink.changes {
        assert_eq!(ch.kind, ChangeKind::Upsert, "{}", ch.external_id);
        for a in NEVER {
            assert!(!ch.attributes.contains_key(a), "{} has {a}", ch.external_id);
        }
    }
    // Organizations: the descriptor is the name; nothing else is known.
    let org_changes = of_type(&sink, "OrgUnit");
    assert_eq!(
        org_changes
            .iter()
            .map(|c| c.external_id.clone())
            .collect::<Vec<_>>(),
        sim.org_ids()
    );
    for o in org_changes {
        let served = sim.org(&o.external_id).unwrap();
        assert_eq!(
            o.attributes.keys().collect::<Vec<_>>(),
            ["name"],
            "{}",
            o.external_id
        );
        assert_eq!(
            o.attributes["name"],
            Value::String(served["descriptor"].as_str().unwrap().into())
        );
    }
    // Workers: every published field lands in its attribute.
    let user_changes = of_type(&sink, "User");
    assert_eq!(
        user_changes
            .iter()
            .map(|c| c.external_id.clone())
            .collect::<Vec<_>>(),
        sim.worker_ids()
    );
    let mut managers = 0;
    for u in user_changes {
        let w = sim.worker(&u.external_id).unwrap();
        let s = |f: &str| Value::String(w[f].as_str().unwrap().into());
        assert_eq!(u.attributes["displayName"], s("descriptor"));
        assert_eq!(u.attributes["employeeNumber"], s("workerID"));
        assert_eq!(u.attributes["workEmail"], s("primaryWorkEmail"));
        assert_eq!(
            u.attributes["isManager"],
            Value::Bool(w["isManager"].as_bool().unwrap())
        );
        assert_eq!(
            u.attributes["primaryWorkerSupervisoryOrganization"],
            Value::Reference(
                w["primarySupervisoryOrganization"]["id"]
                    .as_str()
                    .unwrap()
                    .into()
            )
        );
        managers += usize::from(u.attributes["isManager"] == Value::Bool(true));
        // Nothing but the published fields' attributes.
        for a in u.attributes.keys() {
            assert!(
                [
                    "displayName",
                    "employeeNumber",
                    "workEmail",
                    "workPhone",
                    "businessTitle",
                    "isManager",
                    "primaryWorkerSupervisoryOrganization",
                    "location",
                ]
                .contains(&a.as_ref()),
                "{} has {a}",
                u.external_id
            );
        }
    }
    // One manager a supervisory organization.
    assert_eq!(managers, 10);
}

#[tokio::test]
async fn a_terminated_worker_is_never_a_delete_and_a_delta_rereads_everything() {
    let sim = published(60, 4).await;
    let c = connector(&sim, json!({})).await;
    let (full, _) = run(&c, ImportRequest::full()).await;
    let gone = sim.worker_ids()[7].clone();
    sim.terminate(&gone).unwrap();
    sim.clear_requests();

    let (out, sink) = run(&c, ImportRequest::delta(full.watermark.clone())).await;
    assert!(out.record_errors.is_empty(), "{:?}", out.record_errors);
    // No updatedFrom in the published API: every record, every time (the
    // token is still cached from the full run).
    assert_eq!(counts(&sim), (0, 1, 1));
    assert_eq!(sink.changes.len(), 64);
    assert_eq!(out.counts.of("User").deletes, 0);
    let terminated = sink.changes.iter().find(|c| c.external_id == gone).unwrap();
    assert_eq!(terminated.kind, ChangeKind::Upsert);
    assert!(!terminated.attributes.contains_key("accountEnabled"));
    assert!(!terminated.attributes.contains_key("IsDeleted"));
    assert!(!out.complete);
    for w in [orgs_warning(4), workers_warning(60)] {
        assert!(out.warnings.contains(&w), "{w:?} not in {:?}", out.warnings);
    }
    assert!(
        out.warnings.iter().any(|w| w
            .starts_with("60 workers had no lastUpdatedDateTime: they cannot be filtered by time")),
        "{:?}",
        out.warnings
    );
}

#[tokio::test]
async fn workers_anchored_on_employee_number_use_the_published_worker_id() {
    let sim = published(30, 3).await;
    let c = connector(
        &sim,
        json!({"ExternalIdAttribute": "employeeNumber", "ImportOrganizations": false}),
    )
    .await;
    let (out, sink) = run(&c, ImportRequest::full()).await;
    assert!(out.record_errors.is_empty(), "{:?}", out.record_errors);
    let mut expected = Vec::new();
    sim.for_each_worker(|w| expected.push(w["workerID"].as_str().unwrap().to_string()));
    assert_eq!(
        sink.changes
            .iter()
            .map(|c| c.external_id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert_eq!(out.warnings, [workers_warning(30)]);
}

#[tokio::test]
async fn a_mistyped_published_field_is_a_record_error_naming_it() {
    let sim = published(40, 2).await;
    sim.add_fault(FaultRule::once(Endpoint::Workers, 1, FaultKind::BadRecord));
    sim.add_fault(FaultRule::once(
        Endpoint::Organizations,
        1,
        FaultKind::BadRecord,
    ));
    let c = connector(&sim, json!({})).await;
    let (out, sink) = run(&c, ImportRequest::full()).await;
    assert_eq!(sink.changes.len(), 40);
    let errors: Vec<_> = out
        .record_errors
        .iter()
        .map(|e| {
            (
                e.object_type.as_str(),
                e.position,
                e.field.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [("OrgUnit", 0, "descriptor"), ("User", 0, "isManager")]
    );
    assert!(!out.complete);
    assert_eq!(out.watermark, None);
    // The coverage counts the records that mapped.
    assert!(
        out.warnings.contains(&workers_warning(39)),
        "{:?}",
        out.warnings
    );
    assert!(
        out.warnings.contains(&orgs_warning(1)),
        "{:?}",
        out.warnings
    );
}

/// Against a published-shape tenant, `check` tells the operator before the
/// first import that the REST collection is too thin, and what to do.
#[tokio::test]
async fn the_field_coverage_check_fails_on_a_published_tenant() {
    let sim = published(30, 3).await;
    let c = connector(&sim, json!({})).await;
    let checks = c.check().await;
    let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "token",
            "workers",
            "fieldCoverage",
            "supervisoryOrganizations"
        ]
    );
    let coverage = &checks[2];
    assert!(!coverage.passed);
    assert!(
        coverage.message.starts_with(
            "none of the 10 workers carried employmentStatus, firstName, lastName, \
             lastUpdatedDateTime: terminations cannot be seen"
        ),
        "{}",
        coverage.message
    );
    assert!(
        coverage
            .message
            .ends_with("To import them, set Api to \"Soap\", or grant the integration system user's security group the domains that carry them."),
        "{}",
        coverage.message
    );
    assert!(checks
        .iter()
        .filter(|c| c.name != "fieldCoverage")
        .all(|c| c.passed));
}
