//! The simulator's SOAP wire (Human_Resources Get_Workers and
//! Get_Organizations), driven over HTTP with hand-written envelopes.

// Helpers outside #[test] fns unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use harness::sim::{
    validate_soap_response, AuthUsed, Endpoint, FaultKind, FaultRule, SimConfig, Simulator,
    SoapFault,
};
use quick_xml::escape::{escape, unescape};

const WORKERS: usize = 300;
const ORGS: usize = 20;
const USER: &str = "isu_idmesh@acme";
const PASSWORD: &str = "demo-isu-password-not-real";

async fn sim() -> Simulator {
    Simulator::start(SimConfig {
        workers: WORKERS,
        orgs: ORGS,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// 2026-06-01T12:00:00Z: after every generated update (those end 2026-01-01).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn envelope(user: Option<(&str, &str)>, body: &str) -> String {
    let header = match user {
        Some((u, p)) => format!(
            r#"<soapenv:Header><wsse:Security soapenv:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>{u}</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">{p}</wsse:Password></wsse:UsernameToken></wsse:Security><bsvc:Workday_Common_Header><bsvc:Include_Reference_Descriptors_In_Response>1</bsvc:Include_Reference_Descriptors_In_Response></bsvc:Workday_Common_Header></soapenv:Header>"#
        ),
        None => String::new(),
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:bsvc="urn:com.workday/bsvc">{header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
    )
}

/// A Get_Workers request: criteria XML, filter XML, all five response groups.
fn get_workers(criteria: &str, filter: &str) -> String {
    format!(
        r#"<bsvc:Get_Workers_Request bsvc:version="v44.0"><bsvc:Request_Criteria>{criteria}</bsvc:Request_Criteria><bsvc:Response_Filter>{filter}</bsvc:Response_Filter><bsvc:Response_Group><bsvc:Include_Reference>true</bsvc:Include_Reference><bsvc:Include_Personal_Information>true</bsvc:Include_Personal_Information><bsvc:Include_Employment_Information>true</bsvc:Include_Employment_Information><bsvc:Include_Organizations>true</bsvc:Include_Organizations><bsvc:Include_Management_Chain_Data>true</bsvc:Include_Management_Chain_Data></bsvc:Response_Group></bsvc:Get_Workers_Request>"#
    )
}

fn get_orgs(criteria: &str, filter: &str) -> String {
    format!(
        r#"<bsvc:Get_Organizations_Request bsvc:version="v44.0"><bsvc:Request_Criteria>{criteria}</bsvc:Request_Criteria><bsvc:Response_Filter>{filter}</bsvc:Response_Filter><bsvc:Response_Group><bsvc:Include_Roles_Data>true</bsvc:Include_Roles_Data><bsvc:Include_Hierarchy_Data>true</bsvc:Include_Hierarchy_Data></bsvc:Response_Group></bsvc:Get_Organizations_Request>"#
    )
}

fn page(p: usize, count: usize) -> String {
    format!("<bsvc:Page>{p}</bsvc:Page><bsvc:Count>{count}</bsvc:Count>")
}

struct Answer {
    status: u16,
    content_type: String,
    date: String,
    body: String,
}

async fn post_raw(sim: &Simulator, version: &str, body: String, bearer: Option<&str>) -> Answer {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut req = client
        .post(sim.soap_url(version))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let date = resp
        .headers()
        .get("date")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.text().await.unwrap();
    Answer {
        status,
        content_type,
        date,
        body,
    }
}

/// Posts with the ISU's UsernameToken; every answer must validate.
async fn post(sim: &Simulator, body: &str) -> Answer {
    let a = post_raw(sim, "v44.0", envelope(Some((USER, PASSWORD)), body), None).await;
    validate_soap_response(a.body.as_bytes())
        .unwrap_or_else(|e| panic!("response does not validate: {e}\n{}", a.body));
    a
}

/// Texts of every `<wd:{tag}>...</wd:{tag}>` (no attributes).
fn texts(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<wd:{tag}>");
    let close = format!("</wd:{tag}>");
    xml.split(&open)
        .skip(1)
        .map(|s| {
            unescape(s.split(&close).next().unwrap())
                .unwrap()
                .into_owned()
        })
        .collect()
}

/// `Response_Results/Page`.
fn results_page(xml: &str) -> String {
    one(xml.split("<wd:Response_Results>").nth(1).unwrap(), "Page")
}

fn one(xml: &str, tag: &str) -> String {
    let v = texts(xml, tag);
    assert_eq!(v.len(), 1, "{tag} in {xml}");
    v[0].clone()
}

/// The WIDs of the `Worker_Reference`s, in order.
fn worker_wids(xml: &str) -> Vec<String> {
    xml.split("<wd:Worker_Reference ")
        .skip(1)
        .map(|s| {
            let s = s.split(r#"<wd:ID wd:type="WID">"#).nth(1).unwrap();
            s.split('<').next().unwrap().to_string()
        })
        .collect()
}

/// The `<wd:Worker>` elements.
fn worker_elements(xml: &str) -> Vec<String> {
    xml.split("<wd:Worker>")
        .skip(1)
        .map(|s| s.split("</wd:Worker>").next().unwrap().to_string())
        .collect()
}

fn fault_code(xml: &str) -> String {
    xml.split("<faultcode>")
        .nth(1)
        .and_then(|s| s.split("</faultcode>").next())
        .unwrap_or_default()
        .to_string()
}

fn xpath(xml: &str) -> String {
    one(xml, "Xpath")
}

async fn all_worker_wids(sim: &Simulator, criteria: &str, filter_extra: &str) -> Vec<String> {
    let first = post(
        sim,
        &get_workers(criteria, &format!("{filter_extra}{}", page(1, 100))),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let pages: usize = one(&first.body, "Total_Pages").parse().unwrap();
    let total: usize = one(&first.body, "Total_Results").parse().unwrap();
    let mut out = worker_wids(&first.body);
    for p in 2..=pages {
        let a = post(
            sim,
            &get_workers(criteria, &format!("{filter_extra}{}", page(p, 100))),
        )
        .await;
        assert_eq!(
            one(&a.body, "Total_Results").parse::<usize>().unwrap(),
            total
        );
        out.extend(worker_wids(&a.body));
    }
    assert_eq!(out.len(), total);
    out
}

#[tokio::test]
async fn schema_violations_are_validation_faults_with_the_xpath() {
    let sim = sim().await;
    let cases = [
        (
            get_workers("<bsvc:Bogus>1</bsvc:Bogus>", ""),
            "Element 'Bogus' is not a valid child of 'Request_Criteria'",
            "/bsvc:Get_Workers_Request[1]/bsvc:Request_Criteria[1]/bsvc:Bogus[1]",
        ),
        (
            // Count before Page.
            get_workers("", "<bsvc:Count>5</bsvc:Count><bsvc:Page>1</bsvc:Page>"),
            "Element 'Page' is out of order: it must come before 'Count' in 'Response_Filter'",
            "/bsvc:Get_Workers_Request[1]/bsvc:Response_Filter[1]/bsvc:Page[1]",
        ),
        (
            // Request_References needs a Worker_Reference.
            r#"<bsvc:Get_Workers_Request bsvc:version="v44.0"><bsvc:Request_References/></bsvc:Get_Workers_Request>"#.to_string(),
            "Element Content 'Worker_Reference' is required, on internal element 'Request_References'",
            "/bsvc:Get_Workers_Request[1]/bsvc:Request_References[1]",
        ),
        (
            get_workers("<bsvc:Exclude_Inactive_Workers>maybe</bsvc:Exclude_Inactive_Workers>", ""),
            "Invalid value 'maybe' for element 'Exclude_Inactive_Workers'",
            "/bsvc:Get_Workers_Request[1]/bsvc:Request_Criteria[1]/bsvc:Exclude_Inactive_Workers[1]",
        ),
        (
            get_workers("", &page(1, 1000)),
            "Count must be between 1 and 999, got 1000.",
            "/bsvc:Get_Workers_Request[1]/bsvc:Response_Filter[1]/bsvc:Count[1]",
        ),
        (
            get_workers("", &page(0, 10)),
            "Page number cannot be zero.",
            "/bsvc:Get_Workers_Request[1]/bsvc:Response_Filter[1]/bsvc:Page[1]",
        ),
        (
            get_workers("", "").replace(r#"bsvc:version="v44.0""#, r#"bsvc:version="v20.0""#),
            "Invalid request service version 'v20.0' in bsvc:version",
            "/bsvc:Get_Workers_Request[1]/@bsvc:version",
        ),
        (
            // Get_Organizations' log criteria has no _Data suffix.
            get_orgs(
                "<bsvc:Transaction_Log_Criteria_Data/>",
                "",
            ),
            "Element 'Transaction_Log_Criteria_Data' is not a valid child of 'Request_Criteria'",
            "/bsvc:Get_Organizations_Request[1]/bsvc:Request_Criteria[1]/bsvc:Transaction_Log_Criteria_Data[1]",
        ),
    ];
    for (body, message, path) in cases {
        let a = post(&sim, &body).await;
        assert_eq!(a.status, 500, "{body}\n{}", a.body);
        assert_eq!(fault_code(&a.body), "SOAP-ENV:Client.validationError");
        assert!(
            one(&a.body, "Message").starts_with(message),
            "{message} vs {}",
            a.body
        );
        assert!(a.body.contains("<wd:Validation_Fault>"));
        assert_eq!(xpath(&a.body), path);
        assert!(a.content_type.starts_with("text/xml"));
    }
    // The URL's version too; and Count 999 is fine.
    let a = post_raw(
        &sim,
        "v99.0",
        envelope(Some((USER, PASSWORD)), &get_workers("", "")),
        None,
    )
    .await;
    assert_eq!(a.status, 500);
    assert!(
        one(&a.body, "Message").contains("'v99.0' in the URL"),
        "{}",
        a.body
    );
    let a = post(&sim, &get_workers("", &page(1, 999))).await;
    assert_eq!(a.status, 200);
    assert_eq!(one(&a.body, "Page_Results"), WORKERS.to_string());
}

#[tokio::test]
async fn username_token_and_bearer_authenticate_and_nothing_else_does() {
    let sim = sim().await;
    let body = get_workers("", &page(1, 1));
    let ok = post_raw(&sim, "v44.0", envelope(Some((USER, PASSWORD)), &body), None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    for (user, pw) in [
        (USER, "wrong"),
        ("isu_idmesh", PASSWORD),
        ("someone@acme", PASSWORD),
    ] {
        let a = post_raw(&sim, "v44.0", envelope(Some((user, pw)), &body), None).await;
        assert_eq!(a.status, 500);
        assert_eq!(fault_code(&a.body), "SOAP-ENV:Client.authenticationError");
        assert!(a
            .body
            .contains("<faultstring>invalid username or password</faultstring>"));
        assert!(!a.body.contains(pw), "the fault echoes no password");
    }
    let digest =
        envelope(Some((USER, PASSWORD)), &body).replace("#PasswordText", "#PasswordDigest");
    let a = post_raw(&sim, "v44.0", digest, None).await;
    assert_eq!(fault_code(&a.body), "SOAP-ENV:Client.authenticationError");
    let none = post_raw(&sim, "v44.0", envelope(None, &body), None).await;
    assert_eq!(none.status, 500);
    assert_eq!(
        fault_code(&none.body),
        "SOAP-ENV:Client.authenticationError"
    );
    let token = sim.issue_token();
    let bearer = post_raw(&sim, "v44.0", envelope(None, &body), Some(&token)).await;
    assert_eq!(bearer.status, 200, "{}", bearer.body);
    let bad = post_raw(&sim, "v44.0", envelope(None, &body), Some("not-a-token")).await;
    assert_eq!(bad.status, 401);
    assert_eq!(fault_code(&bad.body), "SOAP-ENV:Client.authenticationError");
    let auths: Vec<AuthUsed> = sim.requests().iter().map(|r| r.auth).collect();
    assert_eq!(
        auths,
        [
            AuthUsed::UsernameToken,
            AuthUsed::UsernameToken,
            AuthUsed::UsernameToken,
            AuthUsed::UsernameToken,
            AuthUsed::UsernameToken,
            AuthUsed::None,
            AuthUsed::Bearer,
            AuthUsed::Bearer
        ]
    );
    assert_eq!(sim.request_count(Endpoint::Workers), 8);
}

#[tokio::test]
async fn paging_returns_every_worker_once_in_rest_order() {
    let sim = sim().await;
    let a = post(&sim, &get_workers("", &page(1, 7))).await;
    assert_eq!(one(&a.body, "Total_Results"), "300");
    assert_eq!(one(&a.body, "Total_Pages"), "43");
    assert_eq!(one(&a.body, "Page_Results"), "7");
    let last = post(&sim, &get_workers("", &page(43, 7))).await;
    assert_eq!(one(&last.body, "Page_Results"), "6");
    assert_eq!(results_page(&last.body), "43");
    let beyond = post(&sim, &get_workers("", &page(44, 7))).await;
    assert_eq!(one(&beyond.body, "Page_Results"), "0");
    assert!(!beyond.body.contains("<wd:Response_Data>"));
    let all = all_worker_wids(&sim, "", "").await;
    assert_eq!(all, sim.worker_ids());
}

#[tokio::test]
async fn soap_workers_are_the_rest_workers() {
    let sim = sim().await;
    let a = post(&sim, &get_workers("", &page(1, 999))).await;
    let elements = worker_elements(&a.body);
    assert_eq!(elements.len(), WORKERS);
    let (mut contingent, mut terminated, mut on_leave, mut self_managed, mut two_jobs) =
        (0, 0, 0, 0, 0);
    for el in &elements {
        let wid = worker_wids(el)[0].clone();
        let rec = sim.worker(&wid).unwrap();
        let number = rec["employeeNumber"].as_str().unwrap();
        assert_eq!(one(el, "Worker_ID"), number);
        assert_eq!(
            one(el, "Worker_Descriptor"),
            rec["descriptor"].as_str().unwrap()
        );
        let legal = el.split("<wd:Legal_Name_Data>").nth(1).unwrap();
        assert_eq!(
            texts(legal, "First_Name")[0],
            rec["firstName"].as_str().unwrap()
        );
        assert_eq!(
            texts(legal, "Last_Name")[0],
            rec["lastName"].as_str().unwrap()
        );
        let status = rec["employmentStatus"].as_str().unwrap();
        assert_eq!(
            one(el, "Terminated"),
            if status == "Terminated" { "1" } else { "0" }
        );
        assert_eq!(
            one(el, "Active"),
            if status == "Terminated" { "0" } else { "1" }
        );
        if rec["workerType"]["descriptor"] == "Contingent Worker" {
            contingent += 1;
            assert!(el.contains(&format!(
                r#"<wd:ID wd:type="Contingent_Worker_ID">{number}</wd:ID>"#
            )));
        } else {
            assert!(el.contains(&format!(r#"<wd:ID wd:type="Employee_ID">{number}</wd:ID>"#)));
        }
        if status == "Terminated" {
            terminated += 1;
            assert_eq!(
                one(el, "Termination_Date"),
                format!("{}+00:00", rec["terminationDate"].as_str().unwrap())
            );
        }
        if status == "On Leave" {
            on_leave += 1;
            assert_eq!(one(el, "On_Leave"), "1");
        }
        if el.contains(r#"wd:Primary_Job="0""#) {
            two_jobs += 1;
        }
        // The management chain ends with the worker's own org; its manager
        // is the REST supervisor unless the worker manages that org.
        let chain = el
            .split("<wd:Management_Chain_Data>")
            .skip(2)
            .collect::<Vec<_>>();
        let last_manager = chain
            .last()
            .unwrap()
            .split(r#"<wd:Manager_Reference "#)
            .nth(1)
            .and_then(|s| s.split(r#"<wd:ID wd:type="WID">"#).nth(1))
            .map(|s| s.split('<').next().unwrap().to_string())
            .unwrap();
        if rec["isManager"] == true {
            assert_eq!(
                last_manager, wid,
                "a manager is a member of the org they manage"
            );
            self_managed += 1;
        } else {
            assert_eq!(last_manager, rec["supervisor"]["id"].as_str().unwrap());
        }
        let sup_org = rec["primarySupervisoryOrganization"]["id"]
            .as_str()
            .unwrap();
        assert!(el.contains(&format!(r#"<wd:ID wd:type="WID">{sup_org}</wd:ID>"#)));
        for ty in ["SUPERVISORY", "COST_CENTER", "COMPANY"] {
            assert!(el.contains(&format!(
                r#"<wd:ID wd:type="Organization_Type_ID">{ty}</wd:ID>"#
            )));
        }
        if let Some(email) = rec["workEmail"].as_str() {
            assert_eq!(one(el, "Email_Address"), email);
        }
    }
    assert!(
        contingent > 0 && terminated > 0 && on_leave > 0,
        "{contingent} {terminated} {on_leave}"
    );
    assert_eq!(self_managed, ORGS);
    assert!(two_jobs > 0);
}

#[tokio::test]
async fn exclude_inactive_workers_leaves_out_terminations() {
    let sim = sim().await;
    let mut active = Vec::new();
    sim.for_each_worker(|w| {
        if w["employmentStatus"] != "Terminated" {
            active.push(w["id"].as_str().unwrap().to_string());
        }
    });
    assert!(active.len() < WORKERS);
    let got = all_worker_wids(
        &sim,
        "<bsvc:Exclude_Inactive_Workers>true</bsvc:Exclude_Inactive_Workers>",
        "",
    )
    .await;
    assert_eq!(got, active);
}

fn updated_window(from: DateTime<Utc>, through: DateTime<Utc>) -> String {
    format!(
        "<bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>{}</bsvc:Updated_From><bsvc:Updated_Through>{}</bsvc:Updated_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data>",
        iso(from),
        iso(through)
    )
}

fn effective_window(from: DateTime<Utc>, through: DateTime<Utc>) -> String {
    format!(
        "<bsvc:Transaction_Log_Criteria_Data><bsvc:Transaction_Date_Range_Data><bsvc:Effective_From>{}</bsvc:Effective_From><bsvc:Effective_Through>{}</bsvc:Effective_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria_Data>",
        iso(from),
        iso(through)
    )
}

#[tokio::test]
async fn updated_and_effective_windows_answer_from_the_transaction_log() {
    let sim = sim().await;
    sim.set_clock(t0());
    let min = chrono::TimeDelta::minutes(1);
    let day = chrono::TimeDelta::days(1);
    let future = sim.hire_effective_in(5);
    let mut moved = None;
    sim.for_each_worker(|w| {
        if moved.is_none() && w["employmentStatus"] == "Active" {
            moved = Some(w["id"].as_str().unwrap().to_string());
        }
    });
    let moved = moved.unwrap();
    sim.update_worker(&moved, "businessTitle", "Chief Tester".into())
        .unwrap();
    sim.advance_clock(Duration::from_secs(60));
    let now = sim.now();
    // Entered in the window: both mutations.
    let got = all_worker_wids(&sim, &updated_window(t0() - min, now), "").await;
    assert_eq!(got, vec![moved.clone(), future.clone()]);
    // Effective in the window: the update only (the hire takes effect in 5 days).
    let got = all_worker_wids(&sim, &effective_window(t0() - min, now), "").await;
    assert_eq!(got, vec![moved.clone()]);
    // Before it takes effect the hire is not active, and a full run leaves it out.
    let full = all_worker_wids(
        &sim,
        "<bsvc:Exclude_Inactive_Workers>1</bsvc:Exclude_Inactive_Workers>",
        "",
    )
    .await;
    assert!(!full.contains(&future));
    assert!(full.contains(&moved));
    let all = post(&sim, &get_workers("", &page(1, 999))).await;
    let el = worker_elements(&all.body)
        .into_iter()
        .find(|e| worker_wids(e)[0] == future)
        .unwrap();
    assert_eq!(one(&el, "Active"), "0");
    let hire_day = (t0() + day * 5).format("%Y-%m-%d").to_string();
    assert_eq!(one(&el, "Hire_Date"), format!("{hire_day}+00:00"));
    // Five days later: effective in a window that no entry was made in.
    sim.advance_clock(Duration::from_secs(5 * 86_400));
    let later = sim.now();
    let got = all_worker_wids(&sim, &effective_window(later - day * 2, later), "").await;
    assert_eq!(got, vec![future.clone()]);
    let got = all_worker_wids(&sim, &updated_window(later - day * 2, later), "").await;
    assert!(got.is_empty());
    let full = all_worker_wids(
        &sim,
        "<bsvc:Exclude_Inactive_Workers>1</bsvc:Exclude_Inactive_Workers>",
        "",
    )
    .await;
    assert!(full.contains(&future));
    // Both windows at once (two Transaction_Log_Criteria_Data): either matches.
    let both = format!(
        "{}{}",
        updated_window(t0() - min, t0() + min),
        effective_window(later - day * 2, later)
    );
    let got = all_worker_wids(&sim, &both, "").await;
    assert_eq!(got, vec![moved, future]);
}

#[tokio::test]
async fn as_of_entry_datetime_hides_later_mutations() {
    let sim = sim().await;
    sim.set_clock(t0());
    let read_time = format!(
        "<bsvc:As_Of_Entry_DateTime>{}</bsvc:As_Of_Entry_DateTime>",
        iso(t0())
    );
    let ids = sim.worker_ids();
    let mut victim = None;
    sim.for_each_worker(|w| {
        if victim.is_none() && w["employmentStatus"] == "Active" && w["isManager"] == false {
            victim = Some(w["id"].as_str().unwrap().to_string());
        }
    });
    let victim = victim.unwrap();
    let before = post(
        &sim,
        &get_workers("", &format!("{read_time}{}", page(1, 999))),
    )
    .await;
    assert_eq!(one(&before.body, "Total_Results"), "300");
    // The Date header is the simulator clock, the clock of the log.
    assert_eq!(before.date, "Mon, 01 Jun 2026 12:00:00 GMT");
    // Generated workers have no earlier history: an early read sees them as they are.
    let early = post(
        &sim,
        &get_workers(
            "",
            &format!(
                "<bsvc:As_Of_Entry_DateTime>2024-01-01T00:00:00Z</bsvc:As_Of_Entry_DateTime>{}",
                page(1, 999)
            ),
        ),
    )
    .await;
    assert_eq!(one(&early.body, "Total_Results"), "300");
    sim.advance_clock(Duration::from_secs(60));
    let hired = sim.hire();
    sim.terminate(&victim).unwrap();
    // Same As_Of_Entry_DateTime: the same 300 workers, the victim still active.
    let again = post(
        &sim,
        &get_workers("", &format!("{read_time}{}", page(1, 999))),
    )
    .await;
    assert_eq!(one(&again.body, "Total_Results"), "300");
    assert_eq!(worker_wids(&again.body), ids);
    assert_eq!(again.body, before.body, "the snapshot is stable");
    // Now: the hire and the termination are visible.
    let now = post(&sim, &get_workers("", &page(1, 999))).await;
    assert_eq!(one(&now.body, "Total_Results"), "301");
    assert!(worker_wids(&now.body).contains(&hired));
    let el = worker_elements(&now.body)
        .into_iter()
        .find(|e| worker_wids(e)[0] == victim)
        .unwrap();
    assert_eq!(one(&el, "Terminated"), "1");
    assert_eq!(one(&el, "Termination_Date"), "2026-06-01+00:00");
}

#[tokio::test]
async fn organizations_carry_parent_manager_and_honour_the_log() {
    let sim = sim().await;
    sim.set_clock(t0());
    let sup = r#"<bsvc:Organization_Type_Reference><bsvc:ID bsvc:type="Organization_Type_ID">SUPERVISORY</bsvc:ID></bsvc:Organization_Type_Reference><bsvc:Include_Inactive>false</bsvc:Include_Inactive>"#;
    let a = post(&sim, &get_orgs(sup, &page(1, 999))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(one(&a.body, "Total_Results"), ORGS.to_string());
    let orgs = sim.org_ids();
    let got: Vec<String> = a
        .body
        .split("<wd:Organization>")
        .skip(1)
        .map(|o| {
            let s = o.split(r#"<wd:ID wd:type="WID">"#).nth(1).unwrap();
            s.split('<').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(got, orgs);
    for (o, id) in a.body.split("<wd:Organization>").skip(1).zip(&orgs) {
        let rec = sim.org(id).unwrap();
        assert_eq!(one(o, "Name"), rec["name"].as_str().unwrap());
        assert_eq!(one(o, "Organization_Code"), rec["code"].as_str().unwrap());
        assert_eq!(one(o, "Inactive"), "0");
        let manager = rec["manager"]["id"].as_str().unwrap();
        assert!(o.contains(&format!(
            r#"<wd:Manager_Reference wd:Descriptor="{}"><wd:ID wd:type="WID">{manager}</wd:ID>"#,
            escape(rec["manager"]["descriptor"].as_str().unwrap())
        )));
        match rec["parentOrganization"]["id"].as_str() {
            Some(p) => assert!(o.contains(&format!(
                r#"<wd:Superior_Organization_Reference wd:Descriptor="{}"><wd:ID wd:type="WID">{p}</wd:ID>"#,
                escape(rec["parentOrganization"]["descriptor"].as_str().unwrap())
            ))),
            None => assert!(!o.contains("Superior_Organization_Reference")),
        }
    }
    // Another type: this tenant has none.
    let cc = sup.replace("SUPERVISORY", "COST_CENTER");
    let a = post(&sim, &get_orgs(&cc, &page(1, 10))).await;
    assert_eq!(one(&a.body, "Total_Results"), "0");
    // A re-parent is in the Updated window; an inactivated org needs Include_Inactive.
    sim.advance_clock(Duration::from_secs(60));
    sim.reparent_org(&orgs[5], &orgs[0]).unwrap();
    sim.update_org(&orgs[7], "inactive", true.into()).unwrap();
    let window = format!(
        "<bsvc:Transaction_Log_Criteria><bsvc:Transaction_Date_Range_Data><bsvc:Updated_From>{}</bsvc:Updated_From><bsvc:Updated_Through>{}</bsvc:Updated_Through></bsvc:Transaction_Date_Range_Data></bsvc:Transaction_Log_Criteria>",
        iso(t0()),
        iso(sim.now())
    );
    let crit = format!("{}{window}", sup.replace("false", "true"));
    let a = post(&sim, &get_orgs(&crit, &page(1, 100))).await;
    assert_eq!(one(&a.body, "Total_Results"), "2", "{}", a.body);
    assert_eq!(texts(&a.body, "Inactive"), ["0", "1"]);
    let crit = format!("{sup}{window}");
    let a = post(&sim, &get_orgs(&crit, &page(1, 100))).await;
    assert_eq!(one(&a.body, "Total_Results"), "1");
    // As of before the mutations: the old parent, active.
    let old = post(
        &sim,
        &get_orgs(
            &sup.replace("false", "true"),
            &format!(
                "<bsvc:As_Of_Entry_DateTime>{}</bsvc:As_Of_Entry_DateTime>{}",
                iso(t0()),
                page(1, 999)
            ),
        ),
    )
    .await;
    assert_eq!(old.body.matches("<wd:Inactive>1</wd:Inactive>").count(), 0);
    let now = post(
        &sim,
        &get_orgs(&sup.replace("false", "true"), &page(1, 999)),
    )
    .await;
    assert_eq!(now.body.matches("<wd:Inactive>1</wd:Inactive>").count(), 1);
}

#[tokio::test]
async fn injected_faults_apply_to_the_soap_path() {
    let sim = sim().await;
    let body = get_workers("", &page(1, 5));
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        1,
        FaultKind::Status(503),
    ));
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        2,
        FaultKind::Soap(SoapFault::NotAuthorized),
    ));
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        3,
        FaultKind::Soap(SoapFault::Processing),
    ));
    sim.add_fault(Simulator::parse_fault("orgs@1:soap=validation").unwrap());
    let a = post(&sim, &body).await;
    assert_eq!(a.status, 503);
    assert!(a.content_type.starts_with("text/xml"));
    let a = post(&sim, &body).await;
    assert_eq!(a.status, 500);
    assert_eq!(fault_code(&a.body), "SOAP-ENV:Server.processingError");
    assert!(a.body.contains("The task submitted is not authorized."));
    assert!(one(&a.body, "Detail_Message").contains("Get_Workers"));
    let a = post(&sim, &body).await;
    assert_eq!(fault_code(&a.body), "SOAP-ENV:Server.processingError");
    let a = post(&sim, &get_orgs("", &page(1, 5))).await;
    assert_eq!(fault_code(&a.body), "SOAP-ENV:Client.validationError");
    let a = post(&sim, &body).await;
    assert_eq!(a.status, 200);
    let faults: Vec<Option<FaultKind>> = sim.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some(FaultKind::Status(503)),
            Some(FaultKind::Soap(SoapFault::NotAuthorized)),
            Some(FaultKind::Soap(SoapFault::Processing)),
            Some(FaultKind::Soap(SoapFault::Validation)),
            None
        ]
    );
}

#[test]
fn versions_served() {
    for v in ["v31.2", "v44", "v44.0", "v45.2", "v40.1"] {
        assert!(harness::sim::soap_version_supported(v), "{v}");
    }
    for v in ["v31.1", "v30.0", "v45.3", "v46.0", "44.0", "v44.0.1", "vx"] {
        assert!(!harness::sim::soap_version_supported(v), "{v}");
    }
}

#[tokio::test]
async fn the_validator_rejects_malformed_responses() {
    let sim = sim().await;
    sim.add_fault(Simulator::parse_fault("workers@1:bad-record").unwrap());
    let body = envelope(Some((USER, PASSWORD)), &get_workers("", &page(1, 3)));
    let a = post_raw(&sim, "v44.0", body, None).await;
    assert_eq!(a.status, 200);
    let err = validate_soap_response(a.body.as_bytes()).unwrap_err();
    assert!(
        err.contains("Invalid value 'maybe' for element 'Active'"),
        "{err}"
    );
    let good = post(&sim, &get_workers("", &page(1, 3))).await;
    let results = "<wd:Total_Results>300</wd:Total_Results><wd:Total_Pages>100</wd:Total_Pages>";
    assert!(good.body.contains(results));
    let swapped = good.body.replace(
        results,
        "<wd:Total_Pages>100</wd:Total_Pages><wd:Total_Results>300</wd:Total_Results>",
    );
    let err = validate_soap_response(swapped.as_bytes()).unwrap_err();
    assert!(
        err.contains("Element 'Total_Results' is out of order: it must come before 'Total_Pages'"),
        "{err}"
    );
    let unknown = good
        .body
        .replacen("<wd:Worker_Data>", "<wd:Worker_Data><wd:Bogus/>", 1);
    let err = validate_soap_response(unknown.as_bytes()).unwrap_err();
    assert!(
        err.contains("Element 'Bogus' is not a valid child of 'Worker_Data'"),
        "{err}"
    );
}

#[tokio::test]
async fn a_hire_during_a_run_does_not_move_its_snapshot() {
    let sim = sim().await;
    sim.set_clock(t0());
    sim.add_fault(Simulator::parse_fault("workers@2:drift=hire").unwrap());
    let as_of = format!(
        "<bsvc:As_Of_Entry_DateTime>{}</bsvc:As_Of_Entry_DateTime>",
        iso(t0())
    );
    sim.advance_clock(Duration::from_secs(1));
    let p1 = post(&sim, &get_workers("", &format!("{as_of}{}", page(1, 100)))).await;
    let p2 = post(&sim, &get_workers("", &format!("{as_of}{}", page(2, 100)))).await;
    assert_eq!(one(&p1.body, "Total_Results"), "300");
    assert_eq!(one(&p2.body, "Total_Results"), "300");
    assert_eq!(sim.worker_ids().len(), 301, "the drift hire happened");
    let now = post(&sim, &get_workers("", &page(4, 100))).await;
    assert_eq!(one(&now.body, "Total_Results"), "301");
    assert_eq!(one(&now.body, "Page_Results"), "1");
}

#[tokio::test]
async fn the_simulate_banner_prints_a_working_soap_endpoint_and_isu() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["simulate", "--port", "0", "--workers", "10", "--orgs", "2"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let read = async {
        while let Some(l) = lines.next_line().await.unwrap() {
            let done = l.starts_with("Press Ctrl-C");
            banner.push(l);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the banner within 60 s");
    let field = |name: &str| {
        banner
            .iter()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.split_whitespace().next().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} in {banner:?}"))
    };
    let url = field("SOAP endpoint:");
    let user = field("ISU username:");
    let password = field("ISU password:");
    assert!(
        url.ends_with("/ccx/service/acme/Human_Resources/v44.0"),
        "{url}"
    );
    assert_eq!(user, USER);
    assert_eq!(password, PASSWORD);
    let resp = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(envelope(
            Some((&user, &password)),
            &get_workers("", &page(1, 50)),
        ))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert_eq!(one(&body, "Total_Results"), "10");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn employees_and_contingent_workers_can_be_excluded() {
    let sim = sim().await;
    let (mut employees, mut contingent) = (Vec::new(), Vec::new());
    sim.for_each_worker(|w| {
        let id = w["id"].as_str().unwrap().to_string();
        if w["workerType"]["descriptor"] == "Contingent Worker" {
            contingent.push(id);
        } else {
            employees.push(id);
        }
    });
    assert!(!contingent.is_empty());
    let got = all_worker_wids(
        &sim,
        "<bsvc:Exclude_Contingent_Workers>1</bsvc:Exclude_Contingent_Workers>",
        "",
    )
    .await;
    assert_eq!(got, employees);
    let got = all_worker_wids(
        &sim,
        "<bsvc:Exclude_Employees>1</bsvc:Exclude_Employees>",
        "",
    )
    .await;
    assert_eq!(got, contingent);
}
