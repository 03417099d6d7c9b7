//! The SOAP source against wiremock, with answers recorded from the
//! simulator (tests/fixtures/soap): the envelope it sends, faults (not
//! retried, permission, retried), drift between pages, and that the ISU's
//! password appears in no error.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::Arc;

use connector_api::{Connector, ErrorKind, ImportRequest, RunContext, StaticSecrets, VecSink};
use connector_workday::retry::{RecordingSleeper, RetryPolicy};
use connector_workday::{WorkdayConnector, WorkdayFactory};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SOAP_PATH: &str = "/ccx/service/acme/Human_Resources/v44.0";
const PASSWORD: &str = "isu-pass-<&>-word";
const DATE: &str = "Mon, 01 Jun 2026 12:00:00 GMT";
const WORKERS_PAGE: &str = include_str!("fixtures/soap/workers_page.xml");

fn fault(code: &str, string: &str) -> ResponseTemplate {
    ResponseTemplate::new(500)
        .insert_header("Date", DATE)
        .insert_header("Content-Type", "text/xml; charset=utf-8")
        .set_body_string(format!(
            "<?xml version='1.0' encoding='UTF-8'?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>{code}</faultcode><faultstring>{string}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        ))
}

fn page(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("Date", DATE)
        .insert_header("Content-Type", "text/xml; charset=utf-8")
        .set_body_string(body)
}

/// The recorded 3-worker page, claiming `total` results.
fn workers_page(total: u64, pages: u64) -> String {
    WORKERS_PAGE.replace(
        "<wd:Total_Results>3</wd:Total_Results><wd:Total_Pages>1</wd:Total_Pages>",
        &format!(
            "<wd:Total_Results>{total}</wd:Total_Results><wd:Total_Pages>{pages}</wd:Total_Pages>"
        ),
    )
}

async fn connector(
    server: &MockServer,
    sleeper: &RecordingSleeper,
    page_size: u32,
) -> WorkdayConnector {
    let cfg = json!({
        "BaseUrl": server.uri(),
        "TenantName": "acme",
        "Api": "Soap",
        "IsuUsername": "isu_idmesh@acme",
        "PageSize": page_size,
        "ImportOrganizations": false,
    });
    WorkdayFactory::new()
        .with_sleeper(Arc::new(sleeper.clone()))
        .with_retry_policy(RetryPolicy::exact())
        .connect(
            &cfg.to_string(),
            "",
            &StaticSecrets::new().with("secret://workday/acme/isupassword", PASSWORD),
        )
        .await
        .unwrap()
}

async fn import(
    c: &WorkdayConnector,
) -> (
    Result<connector_api::ImportOutcome, connector_api::ConnectorError>,
    VecSink,
) {
    let mut sink = VecSink::default();
    let out = c
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await;
    (out, sink)
}

#[tokio::test]
async fn a_full_run_sends_a_username_token_and_reads_every_page_as_of_one_time() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(SOAP_PATH))
        .respond_with(page(workers_page(3, 1)))
        .mount(&server)
        .await;
    let sleeper = RecordingSleeper::new();
    let c = connector(&server, &sleeper, 3).await;
    let (out, sink) = import(&c).await;
    let out = out.unwrap();
    assert_eq!(sink.changes.len(), 3);
    assert!(out.complete, "{:?}", out.warnings);
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-06-01T12:00:00.000Z"}"#)
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "the Count 1 probe, then page 1");
    let bodies: Vec<String> = requests
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    for (r, b) in requests.iter().zip(&bodies) {
        assert_eq!(r.headers["content-type"], "text/xml; charset=utf-8");
        assert!(
            b.contains("<wsse:Username>isu_idmesh@acme</wsse:Username>"),
            "{b}"
        );
        assert!(
            b.contains("isu-pass-&lt;&amp;&gt;-word</wsse:Password>"),
            "{b}"
        );
        assert!(!r.headers.contains_key("authorization"));
    }
    assert!(bodies[0].contains("<bsvc:Response_Filter><bsvc:Page>1</bsvc:Page><bsvc:Count>1</bsvc:Count></bsvc:Response_Filter>"), "{}", bodies[0]);
    assert!(bodies[1].contains("<bsvc:Request_Criteria><bsvc:Exclude_Inactive_Workers>true</bsvc:Exclude_Inactive_Workers></bsvc:Request_Criteria><bsvc:Response_Filter><bsvc:As_Of_Effective_Date>2026-06-01</bsvc:As_Of_Effective_Date><bsvc:As_Of_Entry_DateTime>2026-06-01T12:00:00.999Z</bsvc:As_Of_Entry_DateTime><bsvc:Page>1</bsvc:Page><bsvc:Count>3</bsvc:Count></bsvc:Response_Filter>"), "{}", bodies[1]);
}

#[tokio::test]
async fn a_client_fault_is_not_retried_and_quotes_its_faultstring_never_the_password() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fault(
            "SOAP-ENV:Client.validationError",
            "Validation error occurred. Element Count is invalid",
        ))
        .mount(&server)
        .await;
    let sleeper = RecordingSleeper::new();
    let c = connector(&server, &sleeper, 3).await;
    let (out, _) = import(&c).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert!(
        e.message().contains(
            "SOAP-ENV:Client.validationError: Validation error occurred. Element Count is invalid"
        ),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("isu-pass"), "{}", e.message());
    assert!(!format!("{e:?}").contains("isu-pass"));
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(sleeper.delays().is_empty());
}

#[tokio::test]
async fn a_not_authorized_fault_is_a_permission_error_naming_the_operation() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fault(
            "SOAP-ENV:Server.processingError",
            "Processing error occurred. The task submitted is not authorized.",
        ))
        .mount(&server)
        .await;
    let sleeper = RecordingSleeper::new();
    let c = connector(&server, &sleeper, 3).await;
    let (out, _) = import(&c).await;
    let e = out.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission);
    assert!(e.message().starts_with("Workday refused Get_Workers for Get_Workers page 1: Processing error occurred. The task submitted is not authorized."), "{}", e.message());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_fault_is_retried_like_a_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(fault(
            "SOAP-ENV:Server.processingError",
            "Processing error occurred. Try again",
        ))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(page(workers_page(3, 1)))
        .mount(&server)
        .await;
    let sleeper = RecordingSleeper::new();
    let c = connector(&server, &sleeper, 3).await;
    let (out, sink) = import(&c).await;
    assert!(out.unwrap().complete);
    assert_eq!(sink.changes.len(), 3);
    assert_eq!(server.received_requests().await.unwrap().len(), 4);
    assert_eq!(sleeper.delays().len(), 2);
}

#[tokio::test]
async fn a_total_that_changes_between_pages_is_drift_and_the_watermark_stays() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("<bsvc:Page>2</bsvc:Page>"))
        .respond_with(page(workers_page(7, 3)))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(page(workers_page(6, 2)))
        .mount(&server)
        .await;
    let sleeper = RecordingSleeper::new();
    let c = connector(&server, &sleeper, 3).await;
    let (out, _) = import(&c).await;
    let out = out.unwrap();
    assert!(!out.complete);
    assert_eq!(out.watermark.as_deref(), Some("{}"));
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("total changed from 6 to 7")),
        "{:?}",
        out.warnings
    );
}

#[tokio::test]
async fn with_a_bearer_token_the_read_time_is_the_token_answers_date_and_a_401_refreshes_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ccx/oauth2/acme/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Date", "Mon, 01 Jun 2026 11:59:58 GMT")
                .set_body_json(
                    json!({"access_token": "tok-abc", "token_type": "Bearer", "expires_in": 3600}),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SOAP_PATH))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SOAP_PATH))
        .respond_with(page(workers_page(3, 1)))
        .mount(&server)
        .await;
    let cfg = json!({
        "BaseUrl": server.uri(),
        "TenantName": "acme",
        "ClientId": "client-1",
        "Api": "Soap",
        "ImportOrganizations": false,
    });
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(RecordingSleeper::new()))
        .with_retry_policy(RetryPolicy::exact())
        .connect(
            &cfg.to_string(),
            "secret://workday/acme/clientsecret",
            &StaticSecrets::new().with("secret://workday/acme/clientsecret", "s3cret"),
        )
        .await
        .unwrap();
    let (out, sink) = import(&c).await;
    let out = out.unwrap();
    assert_eq!(sink.changes.len(), 3);
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-06-01T11:59:58.000Z"}"#)
    );
    let requests = server.received_requests().await.unwrap();
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        paths,
        [
            "/ccx/oauth2/acme/token",
            SOAP_PATH,
            "/ccx/oauth2/acme/token",
            SOAP_PATH
        ]
    );
    let last = &requests[3];
    assert_eq!(last.headers["authorization"], "Bearer tok-abc");
    let body = String::from_utf8(last.body.clone()).unwrap();
    assert!(!body.contains("wsse:"), "{body}");
    assert!(body.contains(
        "<bsvc:As_Of_Entry_DateTime>2026-06-01T11:59:58.999Z</bsvc:As_Of_Entry_DateTime>"
    ));
}

#[tokio::test]
async fn a_delta_reads_both_worker_windows_and_the_org_log_and_an_inactive_org_is_a_delete() {
    let server = MockServer::start().await;
    let orgs = include_str!("fixtures/soap/organizations_page.xml").replacen(
        "<wd:Inactive>0</wd:Inactive>",
        "<wd:Inactive>1</wd:Inactive>",
        1,
    );
    Mock::given(method("POST"))
        .and(body_string_contains("Get_Organizations_Request"))
        .respond_with(page(orgs))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Get_Workers_Request"))
        .respond_with(page(workers_page(3, 1)))
        .mount(&server)
        .await;
    let cfg = json!({
        "BaseUrl": server.uri(),
        "TenantName": "acme",
        "Api": "Soap",
        "IsuUsername": "isu_idmesh@acme",
        "DeltaOverlapSeconds": 60,
    });
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(RecordingSleeper::new()))
        .with_retry_policy(RetryPolicy::exact())
        .connect(
            &cfg.to_string(),
            "",
            &StaticSecrets::new().with("secret://workday/acme/isupassword", PASSWORD),
        )
        .await
        .unwrap();
    let mut sink = VecSink::default();
    let out = c
        .import(
            ImportRequest::delta(Some(
                r#"{"w":"2026-06-01T10:00:00.000Z","o":"2026-06-01T09:00:00.000Z"}"#.into(),
            )),
            &mut sink,
            &RunContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        out.watermark.as_deref(),
        Some(r#"{"w":"2026-06-01T12:00:00.000Z","o":"2026-06-01T12:00:00.000Z"}"#)
    );
    // Organizations first; the inactive one is a delete.
    let orgs: Vec<_> = sink
        .changes
        .iter()
        .filter(|c| c.object_type == "OrgUnit")
        .collect();
    assert_eq!(orgs.len(), 8);
    assert_eq!(orgs[0].external_id, "9df9acf41e517e2fc00bc643acebfe29");
    assert_eq!(orgs[0].kind, connector_api::ChangeKind::Delete);
    assert_eq!(
        orgs[0].attributes["IsDeleted"],
        connector_api::Value::Bool(true)
    );
    assert!(orgs[1..]
        .iter()
        .all(|c| c.kind == connector_api::ChangeKind::Upsert));
    // The 3 workers both windows returned are emitted once.
    let users: Vec<_> = sink
        .changes
        .iter()
        .filter(|c| c.object_type == "User")
        .collect();
    assert_eq!(users.len(), 3);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    let bodies: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    assert_eq!(
        bodies.len(),
        4,
        "probe, organizations, workers updated, workers effective"
    );
    assert!(bodies[1].contains("<bsvc:Request_Criteria><bsvc:Organization_Type_Reference><bsvc:ID bsvc:type=\"Organization_Type_ID\">SUPERVISORY</bsvc:ID></bsvc:Organization_Type_Reference><bsvc:Include_Inactive>true</bsvc:Include_Inactive><bsvc:Transaction_Log_Criteria><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>2026-06-01T08:59:00.000Z</bsvc:Updated_From><bsvc:Updated_Through>2026-06-01T12:00:00.999Z</bsvc:Updated_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria></bsvc:Request_Criteria>"), "{}", bodies[1]);
    assert!(bodies[2].contains("<bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>2026-06-01T09:59:00.000Z</bsvc:Updated_From><bsvc:Updated_Through>2026-06-01T12:00:00.999Z</bsvc:Updated_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data><bsvc:Exclude_Inactive_Workers>false</bsvc:Exclude_Inactive_Workers>"), "{}", bodies[2]);
    assert!(bodies[3].contains("<bsvc:Effective_From>2026-06-01T09:59:00.000Z</bsvc:Effective_From><bsvc:Effective_Through>2026-06-01T12:00:00.999Z</bsvc:Effective_Through>"), "{}", bodies[3]);
}
