//! The mapping hot path: one Workday worker record (reference-object
//! spelling, as the simulator and Workday's REST API serve it) to a `User`
//! change, and one supervisory organization to an `OrgUnit` change. Also a
//! whole 100-record page, parsed from its JSON body and mapped, the work the
//! connector does per page: `parse_and_map_100_workers` as the connector
//! does it (records borrowed from the body, [`RestPage`]), and
//! `value_tree_parse_and_map_100_workers` through a `serde_json::Value` tree
//! (the connector's path before issue 14, and still the SOAP records' form),
//! for comparison.
//!
//! `cargo bench -p connector-workday --bench mapping`; results in
//! docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use connector_workday::config::ExternalIdAttribute;
use connector_workday::mapping::{map_org, map_worker};
use connector_workday::record::RestPage;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

/// A worker as the simulator serves it (docs/simulator.md), with the fields
/// the connector must ignore (`href`, `payRate`, `customFields`); its
/// `descriptor` and `isManager` are mapped.
fn worker(i: usize) -> Value {
    json!({
        "id": format!("e2af5667aa4b0a3aaf4758b3198{i:05x}"),
        "descriptor": "Siobhán Fernández",
        "href": "https://wd2-impl-services1.workday.example/ccx/api/common/v1/acme/workers/e2af5667aa4b0a3aaf4758b319880dfc",
        "employeeNumber": format!("E{i:07}"),
        "companyEmployeeId": format!("ACME-JP-{i:07}"),
        "firstName": "Siobhán",
        "lastName": "Fernández",
        "email": "siobhan.fernandez2@acme.example",
        "workEmail": "siobhan.fernandez2@acme.example",
        "workPhone": "+61 2 743 2121",
        "mobilePhone": "+61 2 581 2831",
        "workerType": {"id": "65d28206a11f3df234821b8be439708d", "descriptor": "Employee"},
        "employmentStatus": "Active",
        "jobTitle": "Customer Success Manager",
        "jobProfile": {"id": "7246bbe0ff987979bd81e48d911e66f9", "descriptor": "Customer Success Manager"},
        "businessTitle": "Customer Success Manager, Research & Development",
        "costCenter": {"id": "04990fe799587e40fd4585ffc296b1cc", "descriptor": "Research & Development"},
        "costCenterCode": "CC1200",
        "companyCode": "ACME-JP",
        "legalEntity": "アクメ株式会社",
        "supervisor": {"id": "4849976e76f7bbb895e182aab8d2916c", "descriptor": "翔太 渡辺"},
        "primarySupervisoryOrganization": {"id": "9df9acf41e517e2fc00bc643acebfe29", "descriptor": "Acme Corporation"},
        "location": {"id": "90a3219e8276ea723fc71bce3184673f", "descriptor": "Sydney"},
        "locationCode": "AU-SYD",
        "country": "AU",
        "region": "New South Wales",
        "hireDate": "2024-03-23",
        "lastUpdatedDateTime": "2024-10-23T09:46:48.174Z",
        "lastUpdatedBy": "ISU_HR_Integration",
        "payRate": {"amount": 123456, "currency": "AUD"},
        "customFields": {"badge": "A-17", "shirtSize": "M"},
        "isManager": false
    })
}

fn org() -> Value {
    json!({
        "id": "ec9120064d82c13f0785ee7be59665fc",
        "descriptor": "Customer Success – EMEA",
        "href": "https://wd2-impl-services1.workday.example/ccx/api/common/v1/acme/supervisoryOrganizations/ec9120064d82c13f0785ee7be59665fc",
        "name": "Customer Success – EMEA",
        "code": "SO-00002",
        "parentOrganization": {"id": "9df9acf41e517e2fc00bc643acebfe29", "descriptor": "Acme Corporation"},
        "manager": {"id": "622e5c1fc396b90022f933f7918aaf3c", "descriptor": "Hana Dubois"},
        "organizationType": {"id": "e55e0660e98442ff429a0b74cc2e71d6", "descriptor": "Supervisory"},
        "staffingModel": "Job Management",
        "inactive": false,
        "lastUpdatedDateTime": "2024-08-18T19:07:39.746Z"
    })
}

fn mapping(c: &mut Criterion) {
    let w = worker(2);
    let o = org();
    assert!(map_worker(&w, ExternalIdAttribute::Id).is_ok());
    assert!(map_org(&o).is_ok());

    let mut g = c.benchmark_group("mapping");
    g.throughput(Throughput::Elements(1));
    g.bench_function("worker", |b| {
        b.iter(|| map_worker(black_box(&w), ExternalIdAttribute::Id))
    });
    g.bench_function("org", |b| b.iter(|| map_org(black_box(&o))));
    g.finish();

    let body = json!({
        "total": 100_000,
        "data": (0..100).map(worker).collect::<Vec<_>>(),
    })
    .to_string();
    let mut g = c.benchmark_group("page");
    g.throughput(Throughput::Elements(100));
    let page = RestPage::parse(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.len(), 100);
    assert!(page
        .records()
        .all(|r| map_worker(&r, ExternalIdAttribute::Id).is_ok()));
    g.bench_function("parse_100_workers", |b| {
        b.iter(|| RestPage::parse(black_box(&body)).map(|p| p.len()))
    });
    g.bench_function("parse_and_map_100_workers", |b| {
        b.iter(|| {
            RestPage::parse(black_box(&body)).map(|page| {
                page.records()
                    .filter_map(|r| map_worker(&r, ExternalIdAttribute::Id).ok())
                    .count()
            })
        })
    });
    g.bench_function("value_tree_parse_and_map_100_workers", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_str(black_box(&body)).unwrap_or_default();
            v["data"]
                .as_array()
                .map(|records| {
                    records
                        .iter()
                        .filter_map(|r| map_worker(r, ExternalIdAttribute::Id).ok())
                        .count()
                })
                .unwrap_or(0)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = mapping
}
criterion_main!(benches);
