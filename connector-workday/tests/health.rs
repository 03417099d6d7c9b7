//! Health checks against a wiremock tenant.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use connector_api::{Connector, HealthCheck};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn a_healthy_tenant_passes_every_check() {
    let t = Tenant::start(42, 3).await;
    let (c, _) = t.connector(json!({})).await;
    let checks = c.check().await;
    assert_eq!(
        checks,
        [
            HealthCheck::pass(
                "token",
                format!(
                    "Successfully obtained an access token from {}{TOKEN_PATH}",
                    t.uri()
                )
            ),
            HealthCheck::pass("workers", "Successfully listed 10 workers"),
            HealthCheck::pass(
                "fieldCoverage",
                "The workers read (10) carry every field the import needs (none carried \
                 preferredName, displayName, email, workPhone, mobilePhone, companyEmployeeId, \
                 jobTitle, jobProfile, businessTitle, isManager, costCenter, costCenterCode, \
                 companyCode, legalEntity, location, locationCode, country, region, \
                 terminationDate, lastUpdatedBy)"
            ),
            HealthCheck::pass(
                "supervisoryOrganizations",
                "Successfully listed 3 supervisory organizations"
            ),
        ]
    );
    let w = &t.requests_to(WORKERS_PATH).await[0];
    assert_eq!(w.url.query(), Some("limit=10&offset=0"));
    let o = &t.requests_to(ORGS_PATH).await[0];
    assert_eq!(o.url.query(), Some("limit=5&offset=0"));
}

/// Workers as Workday's published `common/v1` collection sends them (no
/// status, names or update times: see harness/src/sim/data.rs for the
/// sources): the field-coverage check fails and says what to do.
#[tokio::test]
async fn a_thin_rest_collection_fails_the_field_coverage_check() {
    let t = Tenant::start(12, 3).await;
    {
        let mut s = t.state.lock().unwrap();
        for (i, w) in s.workers.iter_mut().enumerate() {
            *w = json!({
                "id": worker_id(i),
                "descriptor": format!("Worker {i}"),
                "href": format!("https://x/workers/{i}"),
                "primaryWorkEmail": format!("w{i}@acme.example"),
                "businessTitle": "Engineer",
                "isManager": false,
                "primarySupervisoryOrganization": {"id": org_id(0), "descriptor": "Top"}
            });
        }
    }
    let (c, _) = t.connector(json!({})).await;
    let checks = c.check().await;
    let coverage = checks.iter().find(|c| c.name == "fieldCoverage").unwrap();
    assert!(!coverage.passed);
    assert_eq!(
        coverage.message,
        "none of the 10 workers carried employmentStatus, firstName, lastName, \
         lastUpdatedDateTime: terminations cannot be seen, users have no first or last name \
         and every delta re-reads all workers (Workday's published REST collection does not \
         carry them; the SOAP source will); no record carried these mapped fields either: \
         workerType, preferredName, email, workPhone, mobilePhone, employeeNumber, \
         companyEmployeeId, jobTitle, jobProfile, costCenter, costCenterCode, companyCode, \
         legalEntity, manager, location, locationCode, country, region, hireDate, \
         terminationDate, lastUpdatedBy. To import them, set Api to \"Soap\", or grant the \
         integration system user's security group the domains that carry them."
    );
}

#[tokio::test]
async fn only_enabled_feeds_are_checked() {
    let t = Tenant::start(2, 3).await;
    let (c, _) = t.connector(json!({"ImportWorkers": false})).await;
    let names: Vec<_> = c.check().await.into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["token", "supervisoryOrganizations"]);
}

#[tokio::test]
async fn permission_and_server_errors_get_their_hints() {
    let t = Tenant::start(2, 3).await;
    Mock::given(method("GET"))
        .and(path(WORKERS_PATH))
        .respond_with(ResponseTemplate::new(403))
        .with_priority(1)
        .mount(&t.server)
        .await;
    Mock::given(method("GET"))
        .and(path(ORGS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&t.server)
        .await;
    let (c, sleeper) = t.connector(json!({})).await;
    let checks = c.check().await;
    assert!(checks[0].passed);
    assert!(!checks[1].passed);
    assert!(checks[1].message.starts_with(
        "Unable to list workers. The API credentials may be invalid or the integration user may not have the required permissions. Details: Workday refused the workers page at offset 0 with 403 Forbidden."
    ), "{}", checks[1].message);
    assert!(!checks[2].passed);
    assert!(checks[2].message.starts_with(
        "Unable to list supervisory organizations. Workday returned a server error. This is likely a temporary issue - please try again later. Details: Workday returned a server error (503)"
    ), "{}", checks[2].message);
    // Checks answer at once: no retries.
    assert!(sleeper.delays().is_empty());
    assert_eq!(t.counts().await, (1, 1, 1));
}

#[tokio::test]
async fn a_failed_token_skips_the_listing_checks() {
    let t = Tenant::start(2, 3).await;
    let (c, _) = t.connector(json!({"ClientId": "nope"})).await;
    let checks = c.check().await;
    assert!(!checks[0].passed);
    assert!(checks[0].message.starts_with(
        "Unable to obtain an access token. The API credentials may be invalid or the integration user may not have the required permissions. Details: Workday's token endpoint"
    ), "{}", checks[0].message);
    assert_eq!(
        checks[1],
        HealthCheck::fail(
            "workers",
            "Unable to list workers. Skipped: no access token (see the token check)."
        )
    );
    assert_eq!(checks[2], HealthCheck::fail("supervisoryOrganizations", "Unable to list supervisory organizations. Skipped: no access token (see the token check)."));
    assert_eq!(t.counts().await, (1, 0, 0));
}
