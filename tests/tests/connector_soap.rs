//! The Workday connector with `Api: "Soap"` against the embedded simulator's
//! Human_Resources service: full and delta runs with the ISU's UsernameToken
//! and with the OAuth bearer token, the same records as the REST source, and
//! the connector-api contract kit.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use connector_api::contract::run_all;
use connector_api::{
    ChangeKind, Connector, ImportOutcome, ImportRequest, RunContext, StaticSecrets, Value, VecSink,
};
use connector_workday::retry::RecordingSleeper;
use connector_workday::watermark::{encode, Watermark};
use connector_workday::WorkdayConnector;
use harness::sim::{Endpoint, FaultKind, FaultRule, Simulator, SoapFault};
use serde_json::json;

mod support;
use support::{
    an_active_non_manager, config, recording_factory, secrets, sim, SimFixture, SECRET_REF,
};

const ISU_REF: &str = "secret://workday/acme/isupassword";

/// How a SOAP connector authenticates.
#[derive(Clone, Copy, Debug)]
enum Auth {
    UsernameToken,
    Bearer,
}

async fn connector(sim: &Simulator, auth: Auth, extra: serde_json::Value) -> WorkdayConnector {
    connector_with_password(sim, auth, extra, &sim.config().isu_password).await
}

async fn connector_with_password(
    sim: &Simulator,
    auth: Auth,
    extra: serde_json::Value,
    password: &str,
) -> WorkdayConnector {
    let mut keys = json!({"Api": "Soap"});
    if let Auth::UsernameToken = auth {
        keys["IsuUsername"] = json!(sim.config().isu_username);
        keys["ClientId"] = serde_json::Value::Null;
    }
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        keys[k] = v;
    }
    let mut cfg: serde_json::Value = serde_json::from_str(&config(sim, keys)).unwrap();
    cfg.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    let secrets: StaticSecrets = secrets(sim).with(ISU_REF, password);
    recording_factory(&RecordingSleeper::new())
        .connect(&cfg.to_string(), SECRET_REF, &secrets)
        .await
        .expect("valid configuration")
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

fn soap_requests(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/ccx/service/acme/Human_Resources/v44.0")
        .count()
}

fn by_id(sink: &VecSink, ty: &str) -> BTreeMap<String, connector_api::Change> {
    sink.changes
        .iter()
        .filter(|c| c.object_type == ty)
        .map(|c| (c.external_id.clone(), c.clone()))
        .collect()
}

#[tokio::test]
async fn a_full_soap_run_reads_the_rest_records_of_every_active_worker_with_both_auths() {
    let sim = sim(230, 9).await;
    let rest = support::recording_factory(&RecordingSleeper::new())
        .connect(&config(&sim, json!({})), SECRET_REF, &secrets(&sim))
        .await
        .unwrap();
    let (_, rest_sink, _) = run(&rest, ImportRequest::full()).await;
    let rest_users = by_id(&rest_sink, "User");
    let rest_orgs = by_id(&rest_sink, "OrgUnit");
    for auth in [Auth::UsernameToken, Auth::Bearer] {
        sim.clear_requests();
        let c = connector(&sim, auth, json!({"PageSize": 50})).await;
        let (out, sink, ctx) = run(&c, ImportRequest::full()).await;
        assert!(out.complete, "{auth:?}: {:?}", out.warnings);
        // No field-coverage warning: the SOAP records carry the needed fields
        // (lastUpdatedDateTime is not needed: deltas use the transaction log).
        assert!(out.warnings.is_empty(), "{auth:?}: {:?}", out.warnings);
        assert!(out.record_errors.is_empty(), "{:?}", out.record_errors);
        let users = by_id(&sink, "User");
        // Exclude_Inactive_Workers: the terminated workers are not read.
        let expected: HashSet<&String> = rest_users
            .iter()
            .filter(|(_, c)| c.kind != ChangeKind::Delete)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(users.keys().collect::<HashSet<_>>(), expected, "{auth:?}");
        for (id, soap) in &users {
            let rest = &rest_users[id];
            for field in [
                "firstName",
                "lastName",
                "workEmail",
                "employeeNumber",
                "workerType",
                "jobTitle",
                "businessTitle",
                "primaryWorkerSupervisoryOrganization",
                "hireDate",
                "costCenter",
                "companyCode",
            ] {
                assert_eq!(
                    soap.attributes.get(field),
                    rest.attributes.get(field),
                    "{auth:?} {id} {field}"
                );
            }
        }
        let orgs = by_id(&sink, "OrgUnit");
        assert_eq!(orgs.len(), rest_orgs.len());
        for (id, soap) in &orgs {
            for field in ["name", "parentOrganizationId", "manager"] {
                assert_eq!(
                    soap.attributes.get(field),
                    rest_orgs[id].attributes.get(field),
                    "{id} {field}"
                );
            }
        }
        // The read time: a fresh token's answer, or a Count 1 probe; then
        // 5 worker pages of 50 and 1 organization page.
        let (tokens, probes) = match auth {
            Auth::UsernameToken => (0, 1),
            Auth::Bearer => (1, 0),
        };
        assert_eq!(sim.request_count(Endpoint::Token), tokens, "{auth:?}");
        assert_eq!(soap_requests(&sim), probes + 5 + 1, "{auth:?}");
        assert_eq!(ctx.metrics().snapshot().requests, 7, "{auth:?}");
        assert_eq!(ctx.metrics().snapshot().pages, 6);
        let w = out.watermark.unwrap();
        assert!(w.starts_with("{\"w\":"), "{w}");
    }
}

/// The watermark a clean SOAP run read at `date` (the Date header, to the
/// second) writes for both feeds: that time.
fn watermark_at(date: DateTime<Utc>) -> String {
    encode(&Watermark {
        workers: Some(date),
        organizations: Some(date),
    })
}

#[tokio::test]
async fn a_soap_delta_reads_terminations_hires_and_changes_once_each() {
    for auth in [Auth::UsernameToken, Auth::Bearer] {
        let sim = sim(120, 6).await;
        let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        sim.set_clock(t0);
        let c = connector(&sim, auth, json!({})).await;
        let (full, _, _) = run(&c, ImportRequest::full()).await;
        let w = full.watermark.unwrap();
        assert_eq!(w, watermark_at(t0), "{auth:?}");

        let t1 = t0 + chrono::Duration::seconds(60);
        sim.set_clock(t1);
        let leaver = an_active_non_manager(&sim, 0);
        sim.terminate(&leaver).unwrap();
        let changed = an_active_non_manager(&sim, 1);
        sim.update_worker(&changed, "businessTitle", json!("Chief Tester"))
            .unwrap();
        let hire = sim.hire();
        let future = sim.hire_effective_in(5);

        let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
        let users = by_id(&sink, "User");
        assert_eq!(users[&leaver].kind, ChangeKind::Delete, "{auth:?}");
        assert_eq!(users[&leaver].attributes["IsDeleted"], Value::Bool(true));
        assert_eq!(
            users[&changed].attributes["businessTitle"],
            Value::String("Chief Tester".into())
        );
        assert_eq!(
            users[&hire].attributes["employmentStatus"],
            Value::String("Active".into())
        );
        // Entered now, effective in 5 days: seen, not yet active.
        assert_eq!(
            users[&future].attributes["employmentStatus"],
            Value::String("Inactive".into()),
            "{auth:?}"
        );
        assert_eq!(
            users[&future].attributes["accountEnabled"],
            Value::Bool(false)
        );
        // A worker in both windows is emitted once.
        let ids: Vec<&String> = sink.changes.iter().map(|c| &c.external_id).collect();
        assert_eq!(
            ids.len(),
            ids.iter().collect::<HashSet<_>>().len(),
            "{ids:?}"
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let w1 = out.watermark.unwrap();
        assert_eq!(w1, watermark_at(t1));

        // Six days on, nothing was entered, but the future hire took effect:
        // only the Effective window finds it.
        let t2 = t1 + chrono::Duration::days(6);
        sim.set_clock(t2);
        let (out, sink, _) = run(&c, ImportRequest::delta(Some(w1))).await;
        let users = by_id(&sink, "User");
        assert_eq!(
            users[&future].attributes["employmentStatus"],
            Value::String("Active".into()),
            "{auth:?}: {:?}",
            users.keys().collect::<Vec<_>>()
        );
        assert_eq!(out.watermark.unwrap(), watermark_at(t2));
    }
}

/// The contract kit over a 200-worker tenant, read in pages of 40 with `auth`.
async fn contract_kit(auth: Auth) {
    let fixture = SimFixture {
        sim: sim(200, 12).await,
        make: Box::new(move |sim| {
            Box::pin(async move {
                let c = connector(&sim, auth, json!({"PageSize": 40})).await;
                Box::new(c) as Box<dyn Connector>
            })
        }),
    };
    run_all(&fixture).await;
}

#[tokio::test]
async fn the_soap_connector_passes_the_contract_kit_with_a_username_token() {
    contract_kit(Auth::UsernameToken).await;
}

#[tokio::test]
async fn the_soap_connector_passes_the_contract_kit_with_a_bearer_token() {
    contract_kit(Auth::Bearer).await;
}

#[tokio::test]
async fn soap_health_checks_name_the_auth_and_each_operation() {
    let sim = sim(40, 6).await;
    for (auth, first) in [
        (Auth::UsernameToken, "usernameToken"),
        (Auth::Bearer, "token"),
    ] {
        let c = connector(&sim, auth, json!({})).await;
        let checks = c.check().await;
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [first, "Get_Workers", "fieldCoverage", "Get_Organizations"],
            "{auth:?}"
        );
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        assert!(
            checks[1].message.starts_with("Get_Workers answered: "),
            "{}",
            checks[1].message
        );
        assert!(
            checks[2]
                .message
                .starts_with("The workers read (1) carry every field the import needs"),
            "{}",
            checks[2].message
        );
        assert_eq!(
            checks[3].message,
            "Get_Organizations answered: 6 supervisory organizations in all"
        );
    }

    // A refused operation is named, with the permission hint.
    let c = connector(&sim, Auth::UsernameToken, json!({})).await;
    sim.clear_requests();
    sim.add_fault(FaultRule::once(
        Endpoint::Organizations,
        1,
        FaultKind::Soap(SoapFault::NotAuthorized),
    ));
    let checks = c.check().await;
    assert!(
        checks[0].passed && checks[1].passed && checks[2].passed,
        "{checks:?}"
    );
    assert!(!checks[3].passed);
    assert!(
        checks[3].message.starts_with(
            "Unable to call Get_Organizations. The API credentials may be invalid or the integration user may not have the required permissions. Details: Workday refused Get_Organizations"
        ),
        "{}",
        checks[3].message
    );

    // A wrong ISU password fails the usernameToken check, and is never shown.
    let c =
        connector_with_password(&sim, Auth::UsernameToken, json!({}), "wrong-password-xyz").await;
    let checks = c.check().await;
    assert!(!checks[0].passed, "{checks:?}");
    assert_eq!(checks[0].name, "usernameToken");
    assert!(
        checks[0]
            .message
            .contains("Check IsuUsername and the password stored at IsuPasswordRef"),
        "{}",
        checks[0].message
    );
    assert!(checks
        .iter()
        .all(|c| !c.message.contains("wrong-password-xyz")));
}

#[tokio::test]
async fn soap_faults_never_advance_the_watermark_and_lose_nothing() {
    use connector_api::ErrorKind;
    let cases = [
        (FaultKind::Status(503), None),
        (FaultKind::Status(429), None),
        (FaultKind::Soap(SoapFault::Processing), None),
        (
            FaultKind::Soap(SoapFault::Validation),
            Some(ErrorKind::BadResponse),
        ),
        (
            FaultKind::Soap(SoapFault::NotAuthorized),
            Some(ErrorKind::Permission),
        ),
    ];
    for (kind, fails) in cases {
        let sim = sim(120, 6).await;
        let t0 = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        sim.set_clock(t0);
        let c = connector(&sim, Auth::UsernameToken, json!({"PageSize": 20})).await;
        let (full, _, _) = run(&c, ImportRequest::full()).await;
        let w = full.watermark.unwrap();

        let t1 = t0 + chrono::Duration::seconds(60);
        sim.set_clock(t1);
        let leaver = an_active_non_manager(&sim, 0);
        sim.terminate(&leaver).unwrap();
        let changed = an_active_non_manager(&sim, 1);
        sim.update_worker(&changed, "businessTitle", json!("Chief Tester"))
            .unwrap();
        // The delta's second Get_Workers: the first page of the Updated window.
        let at = sim.request_count(Endpoint::Workers) + 2;
        sim.add_fault(FaultRule::once(Endpoint::Workers, at, kind));

        let ctx = RunContext::new();
        let mut sink = VecSink::default();
        let result = c
            .import(ImportRequest::delta(Some(w.clone())), &mut sink, &ctx)
            .await;
        let sink = match (result, fails) {
            (Ok(out), None) => {
                assert_eq!(out.watermark.unwrap(), watermark_at(t1), "{kind:?}");
                assert_eq!(ctx.metrics().snapshot().retries, 1, "{kind:?}");
                sink
            }
            (Err(e), Some(expected)) => {
                assert_eq!(e.kind(), expected, "{kind:?}: {e}");
                // No watermark came back: the next delta starts from `w`
                // again and finds everything.
                let (out, sink, _) = run(&c, ImportRequest::delta(Some(w.clone()))).await;
                assert_eq!(out.watermark.unwrap(), watermark_at(t1), "{kind:?}");
                sink
            }
            (other, _) => panic!("{kind:?}: {:?}", other.map(|o| o.watermark)),
        };
        let users = by_id(&sink, "User");
        assert_eq!(users[&leaver].kind, ChangeKind::Delete, "{kind:?}");
        assert_eq!(
            users[&changed].attributes["businessTitle"],
            Value::String("Chief Tester".into()),
            "{kind:?}"
        );
    }
}

/// Why a SOAP delta can count fewer upserts than a REST delta after the same
/// changes (docs/connector-workday.md): REST re-reads what was stamped within
/// `DeltaOverlapSeconds` of its watermark (the newest record it had read,
/// unchanged); SOAP's window holds only transaction-log entries.
#[tokio::test]
async fn a_rest_delta_re_reads_its_overlap_and_a_soap_delta_does_not() {
    let sim = sim(80, 8).await;
    let rest = support::recording_factory(&RecordingSleeper::new())
        .connect(&config(&sim, json!({})), SECRET_REF, &secrets(&sim))
        .await
        .unwrap();
    let soap = connector(&sim, Auth::UsernameToken, json!({})).await;
    let (rest_full, _, _) = run(&rest, ImportRequest::full()).await;
    let (soap_full, _, _) = run(&soap, ImportRequest::full()).await;
    // The org stamped longest ago changes (not the newest, which REST's
    // overlap re-reads anyway).
    let mut oldest: Option<(DateTime<Utc>, String)> = None;
    sim.for_each_org(|o| {
        let t = connector_workday::mapping::last_updated(o).unwrap();
        let id = o["id"].as_str().unwrap().to_string();
        if oldest.as_ref().is_none_or(|(ot, _)| t < *ot) {
            oldest = Some((t, id));
        }
    });
    let changed = oldest.unwrap().1;
    sim.update_org(&changed, "name", json!("Renamed for the delta"))
        .unwrap();

    let (_, rest_sink, _) = run(&rest, ImportRequest::delta(rest_full.watermark.clone())).await;
    let (_, soap_sink, _) = run(&soap, ImportRequest::delta(soap_full.watermark)).await;
    let rest_orgs: Vec<String> = by_id(&rest_sink, "OrgUnit").into_keys().collect();
    let soap_orgs: Vec<String> = by_id(&soap_sink, "OrgUnit").into_keys().collect();
    assert_eq!(
        soap_orgs,
        std::slice::from_ref(&changed),
        "SOAP: the logged change only"
    );

    // REST: every org stamped at or after its watermark less the overlap:
    // the changed one and the newest generated one (its watermark).
    let w = connector_workday::watermark::decode(rest_full.watermark.as_deref())
        .unwrap()
        .organizations
        .unwrap();
    let mut stamped = Vec::new();
    sim.for_each_org(|o| {
        let t = connector_workday::mapping::last_updated(o).unwrap();
        if t >= w - chrono::Duration::seconds(300) {
            stamped.push((o["id"].as_str().unwrap().to_string(), t));
        }
    });
    stamped.sort();
    let mut expected: Vec<String> = stamped.iter().map(|(id, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(rest_orgs, expected, "REST: the overlap");
    let unchanged: Vec<&(String, DateTime<Utc>)> =
        stamped.iter().filter(|(id, _)| *id != changed).collect();
    assert!(
        unchanged.iter().any(|(_, t)| *t == w),
        "the newest org read, unchanged, is re-read: {unchanged:?}"
    );
    assert_eq!(rest_orgs.len(), soap_orgs.len() + unchanged.len());
}
