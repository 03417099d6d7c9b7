//! The mapping tables, as insta snapshots of the emitted changes, and the
//! per-record errors.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use connector_api::{ChangeKind, Value};
use connector_workday::config::ExternalIdAttribute;
use connector_workday::mapping::{map_org, map_worker, MappingError};
use connector_workday::record::RestPage;
use connector_workday::schema::schema;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

const ID: ExternalIdAttribute = ExternalIdAttribute::Id;

fn user(record: Json) -> connector_api::Change {
    let c = map_worker(&record, ID).unwrap();
    // Every emitted attribute is declared with a matching kind.
    let s = schema(ID);
    let ot = s.object_type("User").unwrap();
    for (name, value) in &c.attributes {
        let a = ot
            .attribute(name)
            .unwrap_or_else(|| panic!("{name} not in schema"));
        assert!(value.is_of_kind(&a.kind), "{name}");
    }
    c
}

fn active_employee() -> Json {
    json!({
        "id": "3aa5550b7fe348b98d7b5741afc65534",
        "employeeNumber": "21001",
        "companyEmployeeId": "C-21001",
        "firstName": "Logan",
        "lastName": "McNeil",
        "preferredName": "Logan",
        "email": "logan.mcneil@home.example",
        "workEmail": "lmcneil@workday.net",
        "workPhone": "+1 (415) 555-0100",
        "mobilePhone": "+1 (415) 555-0199",
        "workerType": {"id": "9a1f", "descriptor": "Employee"},
        "employmentStatus": "Active",
        "jobTitle": "Vice President, Human Resources",
        "jobProfile": {"id": "jp1", "descriptor": "Vice President, Human Resources"},
        "businessTitle": "VP, HR",
        "costCenter": {"id": "cc1", "descriptor": "41600 Human Resources"},
        "costCenterCode": "41600",
        "companyCode": "GMS",
        "legalEntity": {"id": "le1", "descriptor": "Global Modern Services, Inc. (USA)"},
        "supervisor": {"id": "0c1d5a6e0d3c4f7e9a5b7d2f4e6a8c0b", "descriptor": "Joy Banks"},
        "primarySupervisoryOrganization": {"id": "org-hr", "descriptor": "Human Resources"},
        "location": {"id": "loc1", "descriptor": "San Francisco"},
        "locationCode": "SF",
        "country": {"id": "us", "descriptor": "United States of America"},
        "region": "California",
        "hireDate": "2000-01-01",
        "lastUpdatedDateTime": "2026-04-26T08:30:00.000Z",
        "lastUpdatedBy": {"id": "u1", "descriptor": "Integration ISU"},
        "payRate": {"amount": 250000, "currency": "USD", "frequency": "Annual"},
        "compensationGrade": "G12",
        "href": "https://wd5-impl-services1.workday.com/ccx/api/common/v1/acme/workers/3aa5",
        "someFutureField": {"nested": [1, 2, 3]}
    })
}

#[test]
fn active_employee_maps_every_row() {
    let c = user(active_employee());
    assert_eq!(c.kind, ChangeKind::Upsert);
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("250000") && !json.contains("payRate") && !json.contains("G12"));
    insta::assert_json_snapshot!("active_employee", c);
}

#[test]
fn contingent_worker() {
    insta::assert_json_snapshot!(
        "contingent_worker",
        user(json!({
            "id": "c0ffee00000000000000000000000001",
            "firstName": "Casey",
            "lastName": "Contractor",
            "workerType": {"id": "wt2", "descriptor": "Contingent Worker"},
            "employmentStatus": "Active",
            "manager": "3aa5550b7fe348b98d7b5741afc65534",
            "primaryWorkerSupervisoryOrganization": "org-eng",
            "costCenter": "Engineering",
            "hireDate": "2025-11-03",
            "lastUpdatedDateTime": "2026-04-20T12:00:00.123Z"
        }))
    );
}

#[test]
fn on_leave() {
    let c = user(json!({
        "id": "1eave000000000000000000000000001",
        "firstName": "Lee",
        "employmentStatus": "On Leave",
        "lastUpdatedDateTime": "2026-04-21T09:15:30+02:00"
    }));
    assert_eq!(c.attributes["accountEnabled"], Value::Bool(false));
    assert_eq!(c.attributes["IsDeleted"], Value::Bool(false));
    insta::assert_json_snapshot!("on_leave", c);
}

#[test]
fn terminated_is_a_delete_carrying_its_attributes() {
    let c = user(json!({
        "id": "7e4a00000000000000000000000000aa",
        "employeeNumber": "20417",
        "firstName": "Terry",
        "lastName": "Nated",
        "employmentStatus": "Terminated",
        "hireDate": "2015-06-01",
        "terminationDate": "2026-03-31",
        "lastUpdatedDateTime": "2026-04-01T00:00:00.000Z",
        "payRate": {"amount": 1}
    }));
    assert_eq!(c.kind, ChangeKind::Delete);
    insta::assert_json_snapshot!("terminated", c);
}

#[test]
fn rehire_is_an_active_upsert() {
    let c = user(json!({
        "id": "7e4a00000000000000000000000000aa",
        "employmentStatus": "Active",
        "hireDate": "2026-05-01",
        "lastUpdatedDateTime": "2026-05-01T07:00:00.000Z"
    }));
    assert_eq!(c.kind, ChangeKind::Upsert);
    insta::assert_json_snapshot!("rehire", c);
}

#[test]
fn minimal_record_has_no_status_attributes() {
    // No employmentStatus: an upsert, and accountEnabled / IsDeleted unknown.
    let c = user(json!({"id": "m1"}));
    assert_eq!(c.kind, ChangeKind::Upsert);
    assert!(c.attributes.is_empty());
    insta::assert_json_snapshot!("minimal", c);
}

#[test]
fn null_and_empty_values_are_absent() {
    let c = user(json!({
        "id": "n1",
        "firstName": null,
        "lastName": "",
        "supervisor": null,
        "hireDate": "",
        "jobProfile": {"id": "jp", "descriptor": ""},
        "employmentStatus": null
    }));
    insta::assert_json_snapshot!("nulls", c);
}

#[test]
fn unicode_heavy() {
    insta::assert_json_snapshot!(
        "unicode",
        user(json!({
            "id": "u1c0de00000000000000000000000001",
            "firstName": "Zoë-Åsa",
            "lastName": "Ñúñez Ölçer",
            "preferredName": "李小龍",
            "businessTitle": "Директор по персоналу",
            "location": {"id": "l", "descriptor": "東京 / Tōkyō"},
            "legalEntity": "Société Générale d'Études 🚀",
            "workEmail": "zoë@例え.jp",
            "employmentStatus": "ACTIVE",
            "lastUpdatedDateTime": "2026-04-26T08:30:00Z"
        }))
    );
}

#[test]
fn reference_and_flat_spellings_agree() {
    let refs = user(json!({
        "id": "a",
        "supervisor": {"id": "boss", "descriptor": "The Boss"},
        "primarySupervisoryOrganization": {"id": "org1", "descriptor": "Org One"},
        "workerType": {"id": "x", "descriptor": "Employee"},
        "primaryWorkEmail": "a@x.example",
        "primaryWorkPhone": "+1 555"
    }));
    let flat = user(json!({
        "id": "a",
        "manager": "boss",
        "primaryWorkerSupervisoryOrganization": "org1",
        "workerType": "Employee",
        "workEmail": "a@x.example",
        "workPhone": "+1 555"
    }));
    assert_eq!(refs, flat);
    insta::assert_json_snapshot!("reference_and_flat", refs);
}

#[test]
fn organizations() {
    let top = map_org(&json!({
        "id": "org-top",
        "name": "Global Modern Services",
        "code": "GMS",
        "manager": {"id": "3aa5550b7fe348b98d7b5741afc65534", "descriptor": "Logan McNeil"},
        "lastUpdatedDateTime": "2026-04-26T08:25:00.000Z",
        "href": "https://x",
        "subtype": "Company"
    }))
    .unwrap();
    let child_ref = map_org(&json!({
        "id": "org-hr",
        "name": "Human Resources",
        "parentOrganization": {"id": "org-top", "descriptor": "Global Modern Services"},
        "manager": "3aa5550b7fe348b98d7b5741afc65534",
        "lastUpdatedDateTime": "2026-04-26T10:25:00.000+02:00"
    }))
    .unwrap();
    let child_flat = map_org(&json!({
        "id": "org-hr",
        "name": "Human Resources",
        "parentOrganizationId": "org-top",
        "manager": {"id": "3aa5550b7fe348b98d7b5741afc65534"},
        "lastUpdatedDateTime": "2026-04-26T08:25:00Z"
    }))
    .unwrap();
    assert_eq!(child_ref, child_flat);
    insta::assert_json_snapshot!("org_top", top);
    insta::assert_json_snapshot!("org_child", child_ref);
}

fn err(record: Json) -> MappingError {
    map_worker(&record, ID).unwrap_err()
}

#[test]
fn errors() {
    let cases: Vec<(&str, MappingError)> = vec![
        ("no_id", err(json!({"firstName": "x"}))),
        ("empty_id", err(json!({"id": "  "}))),
        ("numeric_id", err(json!({"id": 42}))),
        ("not_an_object", err(json!(["id", "x"]))),
        ("text_as_number", err(json!({"id": "a", "firstName": 5}))),
        (
            "reference_without_id",
            err(json!({"id": "a", "supervisor": {"descriptor": "Boss"}})),
        ),
        (
            "label_without_descriptor",
            err(json!({"id": "a", "jobProfile": {"id": "jp"}})),
        ),
        (
            "bad_date",
            err(json!({"id": "a", "hireDate": "01/02/2020"})),
        ),
        (
            "date_as_number",
            err(json!({"id": "a", "hireDate": 20200102})),
        ),
        (
            "bad_date_time",
            err(json!({"id": "a", "lastUpdatedDateTime": "2026-04-26 08:30"})),
        ),
        (
            "status_as_array",
            err(json!({"id": "a", "employmentStatus": ["Active"]})),
        ),
        (
            "org_parent_as_bool",
            map_org(&json!({"id": "o", "parentOrganizationId": true})).unwrap_err(),
        ),
        (
            "org_without_id",
            map_org(&json!({"name": "Orphan"})).unwrap_err(),
        ),
    ];
    let shown: Vec<Json> = cases
        .into_iter()
        .map(|(name, e)| {
            json!({"case": name, "externalId": e.external_id, "field": e.field, "message": e.message})
        })
        .collect();
    insta::assert_json_snapshot!("errors", shown);
    let re = err(json!({"id": "a", "hireDate": "bad"})).into_record_error("User", 17);
    assert_eq!(re.position, 17);
    assert_eq!(re.to_string(), "User record at position 17 (id a), field hireDate: field \"hireDate\" (hireDate): expected an ISO 8601 date YYYY-MM-DD, got a string that is not one; the record was skipped - correct it in Workday, the next run picks it up");
}

#[test]
fn external_id_attribute_picks_the_anchor() {
    let c = map_worker(&active_employee(), ExternalIdAttribute::EmployeeNumber).unwrap();
    assert_eq!(c.external_id, "21001");
    let e = map_worker(&json!({"id": "a"}), ExternalIdAttribute::CompanyEmployeeId).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("companyEmployeeId"));
}

/// A worker as Workday's published `common/v1` collection serves it.
fn published_worker() -> Json {
    json!({
        "id": "3aa5550b7fe348b98d7b5741afc65534",
        "descriptor": "Logan McNeil",
        "href": "https://wd2-impl-services1.workday.com/ccx/api/common/v1/acme/workers/3aa5550b7fe348b98d7b5741afc65534",
        "workerID": "21001",
        "primaryWorkEmail": "lmcneil@workday.net",
        "primaryWorkPhone": "+1 (415) 555-0100",
        "businessTitle": "Chief Human Resources Officer",
        "isManager": true,
        "primarySupervisoryOrganization": {
            "id": "org-hr",
            "descriptor": "Human Resources (Logan McNeil)",
            "href": "https://wd2-impl-services1.workday.com/ccx/api/common/v1/acme/supervisoryOrganizations/org-hr"
        },
        "location": {"id": "loc-sf", "descriptor": "San Francisco"}
    })
}

#[test]
fn a_published_worker_maps_its_descriptor_worker_id_and_is_manager() {
    let c = user(published_worker());
    assert_eq!(c.kind, ChangeKind::Upsert);
    assert!(!c.attributes.contains_key("accountEnabled"));
    assert!(!c.attributes.contains_key("IsDeleted"));
    insta::assert_json_snapshot!("published_worker", c);

    // Some versions spell it `workerId`; `employeeNumber` wins over both.
    let mut w = published_worker();
    let number = w.as_object_mut().unwrap().remove("workerID").unwrap();
    w["workerId"] = number;
    w["isManager"] = json!(false);
    let c = user(w.clone());
    assert_eq!(
        c.attributes["employeeNumber"],
        Value::String("21001".into())
    );
    assert_eq!(c.attributes["isManager"], Value::Bool(false));
    w["employeeNumber"] = json!("E-1");
    assert_eq!(
        user(w).attributes["employeeNumber"],
        Value::String("E-1".into())
    );
}

#[test]
fn a_published_worker_can_be_anchored_on_its_worker_id() {
    let c = map_worker(&published_worker(), ExternalIdAttribute::EmployeeNumber).unwrap();
    assert_eq!(c.external_id, "21001");
    let mut w = published_worker();
    w.as_object_mut().unwrap().remove("workerID");
    w["workerId"] = json!("21002");
    let c = map_worker(&w, ExternalIdAttribute::EmployeeNumber).unwrap();
    assert_eq!(c.external_id, "21002");
    let e = map_worker(&json!({"id": "a"}), ExternalIdAttribute::EmployeeNumber).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("employeeNumber"));
    assert_eq!(
        e.message,
        "the worker record has no usable \"employeeNumber\" or \"workerID\" or \"workerId\" (the external id); the record was skipped"
    );
    let e = map_worker(
        &json!({"id": "a", "workerID": 7}),
        ExternalIdAttribute::EmployeeNumber,
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("workerID"));
}

#[test]
fn a_mistyped_is_manager_is_a_record_error() {
    let mut w = published_worker();
    w["isManager"] = json!("yes");
    let e = map_worker(&w, ID).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("isManager"));
    assert_eq!(
        e.message,
        "field \"isManager\" (isManager): expected true or false, got a string; the record was skipped - correct it in Workday, the next run picks it up"
    );
}

#[test]
fn a_published_organization_is_named_by_its_descriptor() {
    let c = map_org(&json!({
        "id": "org-hr",
        "descriptor": "Human Resources (Logan McNeil)",
        "href": "https://wd2-impl-services1.workday.com/ccx/api/common/v1/acme/supervisoryOrganizations/org-hr"
    }))
    .unwrap();
    insta::assert_json_snapshot!("published_org", c);
    // A name, when there is one, wins.
    let c = map_org(&json!({"id": "o", "name": "HR", "descriptor": "HR (Logan McNeil)"})).unwrap();
    assert_eq!(c.attributes["name"], Value::String("HR".into()));
}

/// A wiremock tenant serving published records: the import maps them, and
/// its warnings name the mapped fields no record carried, once per feed.
#[tokio::test]
async fn a_published_tenant_is_imported_and_its_missing_fields_are_named() {
    use connector_api::{Connector, ImportRequest, RunContext, VecSink};
    let t = common::Tenant::start(0, 0).await;
    {
        let mut s = t.state.lock().unwrap();
        for i in 0..3 {
            let mut w = published_worker();
            w["id"] = json!(common::worker_id(i));
            w["workerID"] = json!(format!("2100{i}"));
            s.workers.push(w);
        }
        s.orgs
            .push(json!({"id": "org-hr", "descriptor": "Human Resources", "href": "https://x"}));
    }
    let (c, _) = t.connector(json!({})).await;
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert!(out.record_errors.is_empty(), "{:?}", out.record_errors);
    assert_eq!(sink.changes.len(), 4);
    assert_eq!(out.counts.of("User").upserts, 3);
    assert_eq!(
        sink.changes[0].attributes["name"],
        Value::String("Human Resources".into())
    );
    assert_eq!(
        out.warnings,
        [
            "none of the 1 supervisory organizations carried lastUpdatedDateTime: every delta re-reads all supervisory organizations (Workday's published REST collection does not carry them; the SOAP source will); no record carried these mapped fields either: code, parentOrganizationId, manager",
            "none of the 3 workers carried employmentStatus, firstName, lastName, lastUpdatedDateTime: terminations cannot be seen, users have no first or last name and every delta re-reads all workers (Workday's published REST collection does not carry them; the SOAP source will); no record carried these mapped fields either: workerType, preferredName, email, mobilePhone, companyEmployeeId, jobTitle, jobProfile, costCenter, costCenterCode, companyCode, legalEntity, manager, locationCode, country, region, hireDate, terminationDate, lastUpdatedBy",
        ]
    );
    // One record carrying the needed fields silences a feed's warning.
    {
        let mut s = t.state.lock().unwrap();
        s.workers[1]["employmentStatus"] = json!("Active");
        s.workers[2]["firstName"] = json!("Logan");
        s.workers[2]["lastName"] = json!("McNeil");
        s.workers[0]["lastUpdatedDateTime"] = json!("2026-04-26T08:25:00.000Z");
        s.orgs[0]["lastUpdatedDateTime"] = json!("2026-04-26T08:25:00.000Z");
    }
    let out = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

fn arbitrary_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Json::String),
        Just(json!("2026-04-26T08:30:00Z")),
        Just(json!("2026-04-26")),
        Just(json!("Terminated")),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Json::Array),
            prop::collection::btree_map("id|descriptor|x", inner, 0..3)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Any record maps or errors, never panics; a mapped record only carries
    /// schema attributes of the right kind and never a payRate.
    #[test]
    fn mapping_is_total(
        fields in prop::collection::btree_map(
            prop::sample::select(vec![
                "id", "firstName", "workEmail", "primaryWorkEmail", "supervisor", "manager",
                "employmentStatus", "hireDate", "lastUpdatedDateTime", "workerType", "payRate",
                "primarySupervisoryOrganization", "costCenter", "unknown",
            ]),
            arbitrary_json(),
            0..10,
        )
    ) {
        let record = Json::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        let s = schema(ID);
        let ot = s.object_type("User").unwrap();
        match map_worker(&record, ID) {
            Ok(c) => {
                prop_assert!(!c.external_id.trim().is_empty());
                for (name, value) in &c.attributes {
                    let a = ot.attribute(name).unwrap();
                    prop_assert!(value.is_of_kind(&a.kind));
                    prop_assert!(*value != Value::Null);
                }
                prop_assert!(!c.attributes.contains_key("payRate"));
                let deleted = c.attributes.get("IsDeleted") == Some(&Value::Bool(true));
                prop_assert_eq!(deleted, c.kind == ChangeKind::Delete);
            }
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
        let _ = map_org(&record);
    }

    /// A REST record read from a page body (fields by slot) maps exactly as
    /// the same record as a JSON value (fields by name): the same change,
    /// or the same error for the same field, with every anchor.
    #[test]
    fn a_rest_record_maps_like_its_json(
        fields in prop::collection::btree_map(
            prop::sample::select(vec![
                "id", "descriptor", "firstName", "lastName", "workEmail", "primaryWorkEmail",
                "supervisor", "manager", "employmentStatus", "hireDate", "terminationDate",
                "lastUpdatedDateTime", "workerType", "payRate", "isManager", "workerID",
                "workerId", "employeeNumber", "primarySupervisoryOrganization", "costCenter",
                "name", "code", "parentOrganization", "parentOrganizationId", "inactive", "unknown",
            ]),
            arbitrary_json(),
            0..14,
        )
    ) {
        let record = Json::Object(fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        let body = json!({"total": 1, "data": [record]}).to_string();
        let page = RestPage::parse(&body).unwrap();
        let rest = page.records().next().unwrap();
        for anchor in ExternalIdAttribute::ALL {
            prop_assert_eq!(map_worker(&rest, anchor), map_worker(&record, anchor));
        }
        prop_assert_eq!(map_org(&rest), map_org(&record));
    }
}
