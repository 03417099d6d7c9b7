//! End-to-end tests of the embedded Workday tenant simulator, over HTTP on
//! 127.0.0.1 only.

// Test helpers outside #[test] functions unwrap too; clippy.toml only
// exempts the test functions themselves.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use harness::sim::{
    parse_fault, AuthUsed, DriftKind, Endpoint, FaultKind, FaultRule, RetryAfter, Shape, SimConfig,
    SimError, Simulator,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn start(workers: usize, orgs: usize) -> Simulator {
    Simulator::start(SimConfig {
        workers,
        orgs,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

async fn token(sim: &Simulator, c: &reqwest::Client) -> String {
    let cfg = sim.config();
    let r = c
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

async fn get(c: &reqwest::Client, url: &str, tok: &str) -> (StatusCode, Value) {
    let r = c.get(url).bearer_auth(tok).send().await.unwrap();
    let s = r.status();
    let v = r.json().await.unwrap_or(Value::Null);
    (s, v)
}

fn workers_url(sim: &Simulator, q: &str) -> String {
    format!("{}/workers{q}", sim.api_base_url())
}

fn orgs_url(sim: &Simulator, q: &str) -> String {
    format!("{}/supervisoryOrganizations{q}", sim.api_base_url())
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

// ---- token endpoint -------------------------------------------------------

#[tokio::test]
async fn token_client_credentials_basic_form_and_refresh() {
    let sim = start(50, 5).await;
    let c = client();
    let cfg = sim.config().clone();

    let basic = c
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let v: Value = basic.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 1800);
    assert!(!v["access_token"].as_str().unwrap().is_empty());

    let form = c
        .post(sim.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);

    let refresh = c
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", cfg.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200);
    let rv: Value = refresh.json().await.unwrap();
    let tok = rv["access_token"].as_str().unwrap().to_string();
    assert_eq!(rv["refresh_token"], cfg.refresh_token.as_str());

    // Each grant's token works on the API.
    for t in [v["access_token"].as_str().unwrap(), &tok] {
        let (s, _) = get(&c, &workers_url(&sim, ""), t).await;
        assert_eq!(s, 200);
    }

    let bad_refresh = c
        .post(sim.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_refresh.status(), 400);
    let b: Value = bad_refresh.json().await.unwrap();
    assert_eq!(b["error"], "invalid_grant");

    let auths: Vec<AuthUsed> = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Token)
        .map(|r| r.auth)
        .collect();
    assert_eq!(
        auths,
        [
            AuthUsed::Basic,
            AuthUsed::Form,
            AuthUsed::Refresh,
            AuthUsed::Refresh
        ]
    );
}

#[tokio::test]
async fn token_errors() {
    let sim = start(50, 5).await;
    let c = client();
    let cfg = sim.config().clone();

    let wrong = c
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let v: Value = wrong.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client");
    assert!(v["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));

    let missing = c
        .post(sim.token_url())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);

    let grant = c
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 400);
    let g: Value = grant.json().await.unwrap();
    assert_eq!(g["error"], "unsupported_grant_type");

    let realm = c
        .post(format!("{}/ccx/oauth2/other/token", sim.base_url()))
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(realm.status(), 404);
}

// ---- bearer ---------------------------------------------------------------

#[tokio::test]
async fn bearer_required_and_expiry() {
    let sim = Simulator::start(SimConfig {
        workers: 30,
        orgs: 3,
        token_lifetime: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client();

    let none = c.get(workers_url(&sim, "")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let v: Value = none.json().await.unwrap();
    assert_eq!(v, json!({"error": "invalid_token"}));

    let (s, v) = get(&c, &workers_url(&sim, ""), "bogus").await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "invalid_token");

    sim.set_clock(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    let tok = token(&sim, &c).await;
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    sim.advance_clock(Duration::from_secs(59));
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    sim.advance_clock(Duration::from_secs(1));
    let (s, v) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 401);
    assert_eq!(v, json!({"error": "invalid_token"}));

    let auths: Vec<AuthUsed> = sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Workers)
        .map(|r| r.auth)
        .collect();
    assert_eq!(auths[0], AuthUsed::None);
    assert!(auths[1..].iter().all(|a| *a == AuthUsed::Bearer));
}

#[tokio::test]
async fn short_token_lifetime_expires_on_the_real_clock() {
    let sim = Simulator::start(SimConfig {
        workers: 30,
        orgs: 3,
        token_lifetime: Duration::from_millis(100),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client();
    let tok = token(&sim, &c).await;
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 401);
}

// ---- paging ---------------------------------------------------------------

#[tokio::test]
async fn limits_and_bad_queries() {
    let sim = start(250, 10).await;
    let c = client();
    let tok = token(&sim, &c).await;

    let (s, v) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 250);
    assert_eq!(v["data"].as_array().unwrap().len(), 20);

    let (s, v) = get(&c, &workers_url(&sim, "?limit=100"), &tok).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 100);

    let (s, v) = get(&c, &workers_url(&sim, "?limit=101"), &tok).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().is_some_and(|e| e.contains("limit")));
    assert!(v["errors"][0]["error"].is_string());

    for q in [
        "?limit=0",
        "?limit=abc",
        "?offset=-1",
        "?updatedFrom=yesterday",
        "?limit=-5",
    ] {
        let (s, v) = get(&c, &workers_url(&sim, q), &tok).await;
        assert_eq!(s, 400, "{q}");
        assert!(v["error"].is_string() && v["errors"].is_array(), "{q}: {v}");
    }
    let (s, v) = get(&c, &orgs_url(&sim, "?limit=101"), &tok).await;
    assert_eq!(s, 400);
    assert!(v["errors"].is_array());
}

#[tokio::test]
async fn exact_paging_of_1050_workers() {
    let sim = start(1050, 40).await;
    let c = client();
    let tok = token(&sim, &c).await;
    let mut all = Vec::new();
    let mut pages = 0;
    let mut offset = 0;
    loop {
        let (s, v) = get(
            &c,
            &workers_url(&sim, &format!("?limit=100&offset={offset}")),
            &tok,
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v["total"], 1050);
        let page = ids(&v);
        if page.is_empty() {
            break;
        }
        pages += 1;
        if pages == 11 {
            assert_eq!(page.len(), 50);
        } else {
            assert_eq!(page.len(), 100);
        }
        offset += page.len();
        all.extend(page);
    }
    assert_eq!(pages, 11);
    assert_eq!(all, sim.worker_ids());
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 1050);

    let (_, v) = get(&c, &workers_url(&sim, "?limit=100&offset=5000"), &tok).await;
    assert_eq!(v["total"], 1050);
    assert_eq!(v["data"], json!([]));

    // Orgs page the same way and match the truth API.
    let (_, v) = get(&c, &orgs_url(&sim, "?limit=30&offset=30"), &tok).await;
    assert_eq!(v["total"], 40);
    assert_eq!(ids(&v), sim.org_ids()[30..].to_vec());
    // Served records equal the truth API.
    let (_, v) = get(&c, &workers_url(&sim, "?limit=3&offset=7"), &tok).await;
    for r in v["data"].as_array().unwrap() {
        assert_eq!(Some(r.clone()), sim.worker(r["id"].as_str().unwrap()));
    }
    assert_eq!(sim.request_count(Endpoint::Workers), 14);
}

#[tokio::test]
async fn updated_from_filter_is_inclusive_and_sees_mutations() {
    let sim = start(400, 12).await;
    let c = client();
    let tok = token(&sim, &c).await;

    // A boundary taken from the data: matches are exactly the records >= it.
    let mut stamps = Vec::new();
    sim.for_each_worker(|w| stamps.push(w["lastUpdatedDateTime"].as_str().unwrap().to_string()));
    stamps.sort();
    let boundary = stamps[300].clone();
    let expected = stamps.iter().filter(|s| **s >= boundary).count();
    assert_eq!(expected, 100);
    let (s, v) = get(
        &c,
        &workers_url(&sim, &format!("?limit=100&updatedFrom={boundary}")),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 100);
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|w| w["lastUpdatedDateTime"].as_str().unwrap() >= boundary.as_str()));

    // All generated data lies before 2026; mutations stamp the sim clock.
    let t = Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 0).unwrap();
    sim.set_clock(t);
    let (_, v) = get(
        &c,
        &workers_url(&sim, "?updatedFrom=2026-01-01T00:00:00.000Z"),
        &tok,
    )
    .await;
    assert_eq!(v["total"], 0);
    let id = sim.worker_ids()[17].clone();
    sim.update_worker(&id, "businessTitle", json!("Chief Tester"))
        .unwrap();
    let (_, v) = get(
        &c,
        &workers_url(&sim, "?updatedFrom=2026-03-01T08:30:00.000Z"),
        &tok,
    )
    .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["data"][0]["id"], id.as_str());
    assert_eq!(
        v["data"][0]["lastUpdatedDateTime"],
        "2026-03-01T08:30:00.000Z"
    );
    assert_eq!(v["data"][0]["businessTitle"], "Chief Tester");
    let (_, v) = get(
        &c,
        &workers_url(&sim, "?updatedFrom=2026-03-01T08:30:00.001Z"),
        &tok,
    )
    .await;
    assert_eq!(v["total"], 0);
    // Offsets are accepted too (URL-encoded '+').
    let (_, v) = get(
        &c,
        &workers_url(&sim, "?updatedFrom=2026-03-01T09:30:00%2B01:00"),
        &tok,
    )
    .await;
    assert_eq!(v["total"], 1);

    // Orgs: re-parenting stamps the org.
    let orgs = sim.org_ids();
    sim.set_clock(t + chrono::TimeDelta::hours(1));
    sim.reparent_org(&orgs[11], &orgs[0]).unwrap();
    let (_, v) = get(
        &c,
        &orgs_url(&sim, "?updatedFrom=2026-03-01T09:30:00Z"),
        &tok,
    )
    .await;
    assert_eq!(ids(&v), vec![orgs[11].clone()]);
}

// ---- faults ---------------------------------------------------------------

#[tokio::test]
async fn too_many_requests_variants() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@1:429=5").unwrap());
    sim.add_fault(parse_fault("workers@2:429=date").unwrap());
    sim.add_fault(parse_fault("workers@3:429").unwrap());
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        4,
        FaultKind::TooManyRequests(RetryAfter::HttpDate(
            std::time::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
        )),
    ));

    let r = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "5");
    let v: Value = r.json().await.unwrap();
    assert!(v["errors"].is_array());

    let r = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let date = r.headers()["retry-after"].to_str().unwrap().to_string();
    let when = httpdate::parse_http_date(&date).unwrap();
    assert!(when > std::time::SystemTime::now() - Duration::from_secs(2));

    let r = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());

    let r = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "Thu, 28 May 2026 20:26:40 GMT");

    let r = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let statuses: Vec<u16> = sim.requests().iter().skip(1).map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 429, 429, 200]);
}

#[tokio::test]
async fn server_errors_and_times() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@1:500").unwrap());
    sim.add_fault(parse_fault("workers@2:502").unwrap());
    sim.add_fault(parse_fault("workers@3x2:503").unwrap());
    sim.add_fault(parse_fault("workers@5:504").unwrap());
    sim.add_fault(parse_fault("orgs@2:500").unwrap());
    let mut got = Vec::new();
    for _ in 0..6 {
        let (s, v) = get(&c, &workers_url(&sim, ""), &tok).await;
        if s != 200 {
            assert!(v["error"].is_string());
        }
        got.push(s.as_u16());
    }
    assert_eq!(got, [500, 502, 503, 503, 504, 200]);
    let (s1, _) = get(&c, &orgs_url(&sim, ""), &tok).await;
    let (s2, _) = get(&c, &orgs_url(&sim, ""), &tok).await;
    assert_eq!((s1.as_u16(), s2.as_u16()), (200, 500));

    // Counters restart on clear_faults.
    sim.clear_faults();
    sim.add_fault(parse_fault("workers@1:503").unwrap());
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 503);
    let rec = sim.requests().last().unwrap().clone();
    assert_eq!(rec.fault, Some(FaultKind::Status(503)));
}

#[tokio::test]
async fn connection_closed_before_reply() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@1:close").unwrap());
    sim.add_fault(parse_fault("token@2:close").unwrap());
    let err = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    let cfg = sim.config().clone();
    let err = c
        .post(sim.token_url())
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout());
    let recs = sim.requests();
    assert_eq!(recs[1].status, 0);
    assert_eq!(recs[1].fault, Some(FaultKind::CloseConnection));
    assert_eq!(recs[3].status, 0);
}

#[tokio::test]
async fn truncated_and_cut_bodies() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@1:truncate").unwrap());
    sim.add_fault(parse_fault("workers@2:close-mid-body").unwrap());

    let r = c
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    assert!(!body.is_empty());
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    let r = c.get(workers_url(&sim, "")).bearer_auth(&tok).send().await;
    match r {
        Ok(r) => assert!(r.bytes().await.is_err()),
        Err(e) => assert!(!e.is_timeout()),
    }
    let (s, v) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 30);
}

#[tokio::test]
async fn slow_reply_beats_client_timeout_and_latency_applies() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@1:slow=1000").unwrap());
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .no_proxy()
        .build()
        .unwrap();
    let t0 = Instant::now();
    let err = impatient
        .get(workers_url(&sim, ""))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(t0.elapsed() < Duration::from_millis(900));
    let (s, _) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);

    sim.set_latency(Some(Duration::from_millis(120)));
    let t0 = Instant::now();
    let (s, _) = get(&c, &orgs_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    assert!(t0.elapsed() >= Duration::from_millis(120));
    sim.set_latency(None);
}

#[tokio::test]
async fn token_expires_after_k_uses() {
    let sim = start(30, 3).await;
    let c = client();
    sim.add_fault(parse_fault("token@1:expire-after=2").unwrap());
    let short = token(&sim, &c).await;
    let normal = token(&sim, &c).await;
    for _ in 0..2 {
        assert_eq!(get(&c, &workers_url(&sim, ""), &short).await.0, 200);
    }
    let (s, v) = get(&c, &orgs_url(&sim, ""), &short).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"], "invalid_token");
    for _ in 0..4 {
        assert_eq!(get(&c, &workers_url(&sim, ""), &normal).await.0, 200);
    }
}

#[tokio::test]
async fn total_drift_between_pages() {
    let sim = start(300, 10).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@2:drift=purge").unwrap());
    sim.add_fault(FaultRule::once(
        Endpoint::Workers,
        3,
        FaultKind::TotalDrift(DriftKind::Hire),
    ));
    let before = sim.worker_ids();
    let (_, p1) = get(&c, &workers_url(&sim, "?limit=100"), &tok).await;
    assert_eq!(p1["total"], 300);
    let (_, p2) = get(&c, &workers_url(&sim, "?limit=100&offset=100"), &tok).await;
    assert_eq!(p2["total"], 299);
    // The purge hit the first page, so the second page shifted by one.
    let after = sim.worker_ids();
    let purged: Vec<_> = before.iter().filter(|i| !after.contains(i)).collect();
    assert_eq!(purged.len(), 1);
    assert!(ids(&p1).contains(purged[0]));
    assert_eq!(ids(&p2)[0], before[101]);
    let (_, p3) = get(&c, &workers_url(&sim, "?limit=100&offset=200"), &tok).await;
    assert_eq!(p3["total"], 300);
    assert_eq!(ids(&p3).len(), 100);
    assert_eq!(ids(&p3).last(), sim.worker_ids().last());
}

#[tokio::test]
async fn bad_record_has_wrong_field_types() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(parse_fault("workers@1:bad-record").unwrap());
    sim.add_fault(parse_fault("orgs@1:bad-record").unwrap());
    let (_, v) = get(&c, &workers_url(&sim, "?limit=5"), &tok).await;
    let data = v["data"].as_array().unwrap();
    assert_eq!(data[0]["lastUpdatedDateTime"], 12345);
    assert_eq!(data[0]["employmentStatus"], json!({"x": 1}));
    assert!(data[1]["lastUpdatedDateTime"].is_string());
    let (_, v) = get(&c, &orgs_url(&sim, ""), &tok).await;
    assert_eq!(v["data"][0]["lastUpdatedDateTime"], 12345);
    // Only the faulted request is affected.
    let (_, v) = get(&c, &workers_url(&sim, "?limit=5"), &tok).await;
    assert!(v["data"][0]["lastUpdatedDateTime"].is_string());
}

#[test]
fn fault_specs_parse() {
    let r = parse_fault("workers@3:429=5").unwrap();
    assert_eq!(
        r,
        FaultRule {
            endpoint: Endpoint::Workers,
            at_request: 3,
            times: 1,
            kind: FaultKind::TooManyRequests(RetryAfter::Seconds(5))
        }
    );
    assert_eq!(parse_fault("workers@2x4:503").unwrap().times, 4);
    assert_eq!(
        parse_fault("workers@2x4:503").unwrap().kind,
        FaultKind::Status(503)
    );
    assert_eq!(
        parse_fault("orgs@1:close").unwrap().endpoint,
        Endpoint::Organizations
    );
    assert_eq!(
        parse_fault("token@1:expire-after=3").unwrap().kind,
        FaultKind::TokenExpiresAfterUses(3)
    );
    assert_eq!(
        parse_fault("workers@2:drift=purge").unwrap().kind,
        FaultKind::TotalDrift(DriftKind::Purge)
    );
    assert_eq!(
        parse_fault("workers@1:bad-record").unwrap().kind,
        FaultKind::BadRecord
    );
    assert_eq!(
        parse_fault("workers@1:slow=2000").unwrap().kind,
        FaultKind::Slow(Duration::from_secs(2))
    );
    assert_eq!(
        parse_fault("workers@1:429=date").unwrap().kind,
        FaultKind::TooManyRequests(RetryAfter::HttpDateIn(Duration::from_secs(1)))
    );
    assert_eq!(
        parse_fault("workers@1:429").unwrap().kind,
        FaultKind::TooManyRequests(RetryAfter::Absent)
    );
    assert_eq!(parse_fault("workers@1+:500").unwrap().times, usize::MAX);
    assert_eq!(
        parse_fault("orgs@1:truncate").unwrap().kind,
        FaultKind::TruncatedBody
    );
    for bad in [
        "workers:500",
        "workers@0:500",
        "nope@1:500",
        "workers@1:teapot",
        "workers@1:expire-after=3",
        "token@1:drift=hire",
        "workers@1:drift=sideways",
        "workers@1x0:500",
        "workers@1:slow",
    ] {
        assert!(
            matches!(parse_fault(bad), Err(SimError::InvalidFault { .. })),
            "{bad}"
        );
    }
}

// ---- data -----------------------------------------------------------------

#[tokio::test]
async fn generation_is_deterministic() {
    let a = start(500, 20).await;
    let b = start(500, 20).await;
    let other = Simulator::start(SimConfig {
        workers: 500,
        orgs: 20,
        seed: 7,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client();
    let (ta, tb, tc) = (
        token(&a, &c).await,
        token(&b, &c).await,
        token(&other, &c).await,
    );
    let fetch = |sim: &Simulator, tok: &str, q: &str| {
        let c = c.clone();
        let url = workers_url(sim, q);
        let tok = tok.to_string();
        async move {
            c.get(url)
                .bearer_auth(tok)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    let pa = fetch(&a, &ta, "?limit=100&offset=200").await;
    let pb = fetch(&b, &tb, "?limit=100&offset=200").await;
    let pc = fetch(&other, &tc, "?limit=100&offset=200").await;
    assert_eq!(pa, pb);
    assert_ne!(pa, pc);
    assert_eq!(
        a.page_body(Endpoint::Organizations, 100, 0, None).unwrap(),
        b.page_body(Endpoint::Organizations, 100, 0, None).unwrap()
    );
    assert_eq!(
        pa.to_vec(),
        a.page_body(Endpoint::Workers, 100, 200, None).unwrap()
    );

    // Churn is deterministic too.
    a.set_clock(Utc.with_ymd_and_hms(2026, 2, 2, 0, 0, 0).unwrap());
    b.set_clock(Utc.with_ymd_and_hms(2026, 2, 2, 0, 0, 0).unwrap());
    let sa = a.churn(60, 9);
    let sb = b.churn(60, 9);
    assert_eq!(sa, sb);
    assert_eq!(sa.total(), 60);
    assert_eq!(
        a.page_body(Endpoint::Workers, 100, 400, None).unwrap(),
        b.page_body(Endpoint::Workers, 100, 400, None).unwrap()
    );
}

/// `v` (an object) without the `keys`.
fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    for k in keys {
        v.as_object_mut().unwrap().remove(*k);
    }
    v
}

fn is_wid(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn data_invariants() {
    let sim = start(10_000, 500).await;
    let mut orgs: HashMap<String, Value> = HashMap::new();
    sim.for_each_org(|o| {
        orgs.insert(o["id"].as_str().unwrap().to_string(), o.clone());
    });
    let mut workers: HashMap<String, Value> = HashMap::new();
    sim.for_each_worker(|w| {
        workers.insert(w["id"].as_str().unwrap().to_string(), w.clone());
    });
    assert_eq!(orgs.len(), 500);
    assert_eq!(workers.len(), 10_000);

    // One tree rooted at a single top org, of realistic depth.
    let tops: Vec<_> = orgs
        .values()
        .filter(|o| o.get("parentOrganization").is_none())
        .collect();
    assert_eq!(tops.len(), 1);
    let mut max_depth = 0;
    for o in orgs.values() {
        assert!(is_wid(o["id"].as_str().unwrap()));
        let mut depth = 0;
        let mut cur = o.clone();
        while let Some(p) = cur.get("parentOrganization") {
            assert!(p["descriptor"].is_string());
            cur = orgs[p["id"].as_str().unwrap()].clone();
            depth += 1;
            assert!(depth < 100, "cycle");
        }
        max_depth = max_depth.max(depth);
        // The manager is a worker whose primary org is this org.
        let m = &workers[o["manager"]["id"].as_str().unwrap()];
        assert_eq!(m["primarySupervisoryOrganization"]["id"], o["id"]);
        assert_eq!(m["employmentStatus"], "Active");
        assert_eq!(o["manager"]["descriptor"], m["descriptor"]);
        assert!(o["lastUpdatedDateTime"].as_str().unwrap() < "2026");
    }
    assert!((3..=12).contains(&max_depth), "depth {max_depth}");
    // Names are unique (a repeated department/qualifier pair gets " 2", " 3"
    // ...), codes are SO-00001..SO-00500 with no gaps.
    let names: HashSet<&str> = orgs.values().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 500);
    assert!(names.iter().any(|n| n.ends_with(" 2")), "no repeated name");
    let mut codes: Vec<&str> = orgs.values().map(|o| o["code"].as_str().unwrap()).collect();
    codes.sort_unstable();
    assert_eq!(codes.first(), Some(&"SO-00001"));
    assert_eq!(codes.last(), Some(&"SO-00500"));
    codes.dedup();
    assert_eq!(codes.len(), 500);

    let mut status: HashMap<String, usize> = HashMap::new();
    let (mut contingent, mut emp_nums, mut emails) = (0, HashSet::new(), HashSet::new());
    let (mut no_mobile, mut no_pref, mut no_loc, mut pay, mut unicode, mut apostrophe) =
        (0, 0, 0, 0, 0, 0);
    for w in workers.values() {
        let id = w["id"].as_str().unwrap();
        assert!(is_wid(id));
        let st = w["employmentStatus"].as_str().unwrap().to_string();
        assert_eq!(
            st == "Terminated",
            w.get("terminationDate").is_some(),
            "{w}"
        );
        *status.entry(st).or_default() += 1;
        if w["workerType"]["descriptor"] == "Contingent Worker" {
            contingent += 1;
        }
        assert!(emp_nums.insert(w["employeeNumber"].as_str().unwrap().to_string()));
        assert!(emails.insert(w["workEmail"].as_str().unwrap().to_string()));
        let ts = w["lastUpdatedDateTime"].as_str().unwrap();
        assert_eq!(ts.len(), 24, "{ts}");
        assert!(ts.ends_with('Z') && ts < "2026" && ts.as_bytes()[19] == b'.');
        assert!(w["hireDate"].as_str().unwrap().len() == 10);
        no_mobile += usize::from(w.get("mobilePhone").is_none());
        no_pref += usize::from(w.get("preferredName").is_none());
        no_loc += usize::from(w.get("location").is_none());
        pay += usize::from(w.get("payRate").is_some());
        let name = format!(
            "{} {}",
            w["firstName"].as_str().unwrap(),
            w["lastName"].as_str().unwrap()
        );
        unicode += usize::from(!name.is_ascii());
        apostrophe += usize::from(name.contains('\''));
        // Supervisor rule.
        let org = &orgs[w["primarySupervisoryOrganization"]["id"].as_str().unwrap()];
        assert_eq!(
            w["primarySupervisoryOrganization"]["descriptor"],
            org["name"]
        );
        let expected = if org["manager"]["id"] == w["id"] {
            org.get("parentOrganization")
                .map(|p| orgs[p["id"].as_str().unwrap()]["manager"]["id"].clone())
        } else {
            Some(org["manager"]["id"].clone())
        };
        assert_eq!(w.get("supervisor").map(|s| s["id"].clone()), expected);
        if let Some(s) = w.get("supervisor") {
            assert_eq!(
                s["descriptor"],
                workers[s["id"].as_str().unwrap()]["descriptor"]
            );
        }
        assert!(w["href"].as_str().unwrap().ends_with(id));
    }
    let pct = |n: usize| n as f64 / 100.0;
    assert!(
        (4.0..6.0).contains(&pct(status["Terminated"])),
        "{status:?}"
    );
    assert!((2.0..4.0).contains(&pct(status["On Leave"])), "{status:?}");
    assert!((8.5..11.5).contains(&pct(contingent)), "{contingent}");
    assert!(no_mobile > 1000 && no_pref > 1000 && no_loc > 100 && pay > 1000);
    assert!(unicode > 1000 && apostrophe > 100);
}

#[tokio::test]
async fn flat_spellings_switch() {
    let sim = Simulator::start(SimConfig {
        workers: 200,
        orgs: 10,
        flat_spellings: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut with_manager = 0;
    sim.for_each_worker(|w| {
        assert!(w.get("supervisor").is_none());
        assert!(w.get("primarySupervisoryOrganization").is_none());
        assert!(is_wid(
            w["primaryWorkerSupervisoryOrganization"].as_str().unwrap()
        ));
        if let Some(m) = w.get("manager") {
            assert!(is_wid(m.as_str().unwrap()));
            with_manager += 1;
        }
    });
    assert_eq!(with_manager, 199); // everyone but the top org's manager
    let mut with_parent = 0;
    sim.for_each_org(|o| {
        assert!(o.get("parentOrganization").is_none());
        if let Some(p) = o.get("parentOrganizationId") {
            assert!(is_wid(p.as_str().unwrap()));
            with_parent += 1;
        }
        assert!(o["manager"]["id"].is_string());
    });
    assert_eq!(with_parent, 9);
}

#[tokio::test]
async fn unknown_tenant_and_paths_are_404() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    let (s, v) = get(
        &c,
        &format!("{}/ccx/api/common/v1/globex/workers", sim.base_url()),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    assert!(v["errors"].is_array());
    let (s, _) = get(
        &c,
        &format!(
            "{}/ccx/api/common/v1/globex/supervisoryOrganizations",
            sim.base_url()
        ),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = get(&c, &format!("{}/nothing/here", sim.base_url()), &tok).await;
    assert_eq!(s, 404);
    assert_eq!(sim.request_count(Endpoint::Other), 1);
}

#[tokio::test]
async fn requests_are_recorded() {
    let sim = start(30, 3).await;
    let c = client();
    let tok = token(&sim, &c).await;
    get(&c, &workers_url(&sim, "?limit=5&offset=10"), &tok).await;
    get(&c, &orgs_url(&sim, ""), &tok).await;
    let recs = sim.requests();
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].method, "POST");
    assert_eq!(recs[0].path, "/ccx/oauth2/acme/token");
    assert_eq!(recs[0].endpoint, Endpoint::Token);
    assert_eq!(recs[0].status, 200);
    assert_eq!(recs[1].method, "GET");
    assert_eq!(recs[1].path, "/ccx/api/common/v1/acme/workers");
    assert_eq!(recs[1].query.as_deref(), Some("limit=5&offset=10"));
    assert_eq!(recs[1].auth, AuthUsed::Bearer);
    assert_eq!(recs[1].fault, None);
    assert_eq!(recs[2].query, None);
    assert_eq!(sim.request_count(Endpoint::Token), 1);
    assert_eq!(sim.request_count(Endpoint::Workers), 1);
    assert_eq!(sim.request_count(Endpoint::Organizations), 1);
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    assert_eq!(sim.request_count(Endpoint::Workers), 0);
    // Fault numbering restarts after clear_requests.
    sim.add_fault(parse_fault("workers@1:502").unwrap());
    assert_eq!(get(&c, &workers_url(&sim, ""), &tok).await.0, 502);
}

/// `log_requests: false` (what `harness bench` runs) keeps the counts by
/// endpoint and no log.
#[tokio::test]
async fn a_simulator_that_does_not_log_requests_still_counts_them() {
    let sim = Simulator::start(SimConfig {
        workers: 20,
        orgs: 2,
        log_requests: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client();
    let tok = token(&sim, &c).await;
    for offset in [0, 5] {
        get(
            &c,
            &workers_url(&sim, &format!("?limit=5&offset={offset}")),
            &tok,
        )
        .await;
    }
    get(&c, &orgs_url(&sim, ""), &tok).await;
    assert!(sim.requests().is_empty());
    assert_eq!(sim.request_count(Endpoint::Token), 1);
    assert_eq!(sim.request_count(Endpoint::Workers), 2);
    assert_eq!(sim.request_count(Endpoint::Organizations), 1);
    assert_eq!(sim.request_count(Endpoint::Other), 0);
    sim.clear_requests();
    assert_eq!(sim.request_count(Endpoint::Workers), 0);
}

// ---- mutations ------------------------------------------------------------

#[tokio::test]
async fn mutations() {
    let sim = start(300, 12).await;
    let c = client();
    let tok = token(&sim, &c).await;
    let now = Utc.with_ymd_and_hms(2026, 4, 1, 9, 0, 0).unwrap();
    sim.set_clock(now);
    let stamp = "2026-04-01T09:00:00.000Z";
    let orgs = sim.org_ids();
    let manager_ids: HashSet<String> = orgs
        .iter()
        .map(|o| {
            sim.org(o).unwrap()["manager"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let plain: Vec<String> = sim
        .worker_ids()
        .into_iter()
        .filter(|w| {
            !manager_ids.contains(w) && sim.worker(w).unwrap()["employmentStatus"] == "Active"
        })
        .collect();

    // Update, and remove an optional field with null.
    sim.update_worker(&plain[0], "mobilePhone", Value::Null)
        .unwrap();
    sim.update_worker(&plain[0], "x_custom", json!({"a": 1}))
        .unwrap();
    let w = sim.worker(&plain[0]).unwrap();
    assert!(w.get("mobilePhone").is_none());
    assert_eq!(w["x_custom"], json!({"a": 1}));
    assert_eq!(w["lastUpdatedDateTime"], stamp);
    assert!(matches!(
        sim.update_worker(&plain[0], "id", json!("x")),
        Err(SimError::InvalidField(_))
    ));

    // Terminate, rehire. Terminating changes the status, the termination
    // date and the stamp, nothing else.
    let before = sim.worker(&plain[1]).unwrap();
    sim.terminate(&plain[1]).unwrap();
    let w = sim.worker(&plain[1]).unwrap();
    assert_eq!(w["employmentStatus"], "Terminated");
    assert_eq!(w["terminationDate"], "2026-04-01");
    assert_eq!(
        without(
            &w,
            &["employmentStatus", "terminationDate", "lastUpdatedDateTime"]
        ),
        without(&before, &["employmentStatus", "lastUpdatedDateTime"])
    );
    assert!(matches!(
        sim.terminate(&plain[1]),
        Err(SimError::Conflict(_))
    ));
    let new = sim.rehire(&plain[1]).unwrap();
    assert_ne!(new, plain[1]);
    let r = sim.worker(&new).unwrap();
    assert_eq!(r["employeeNumber"], w["employeeNumber"]);
    assert_eq!(r["employmentStatus"], "Active");
    assert_eq!(r["hireDate"], "2026-04-01");
    assert!(r.get("terminationDate").is_none());
    assert!(sim.worker(&plain[1]).is_some());
    assert_eq!(sim.worker_ids().last(), Some(&new));
    assert!(matches!(sim.rehire(&plain[2]), Err(SimError::Conflict(_))));

    // Hire appends.
    let hired = sim.hire();
    assert_eq!(sim.worker_ids().last(), Some(&hired));
    let h = sim.worker(&hired).unwrap();
    assert_eq!(h["employmentStatus"], "Active");
    assert_eq!(h["lastUpdatedDateTime"], stamp);

    // Move: primary org and supervisor follow.
    let target = orgs
        .iter()
        .find(|o| **o != sim.worker(&plain[3]).unwrap()["primarySupervisoryOrganization"]["id"])
        .unwrap()
        .clone();
    let before = sim.worker(&plain[3]).unwrap();
    sim.move_worker(&plain[3], &target).unwrap();
    let m = sim.worker(&plain[3]).unwrap();
    // A move changes the org, the supervisor, the cost center (it follows
    // the org's department), the business title and the stamp; not the
    // person's dates or other fields.
    let moved = [
        "primarySupervisoryOrganization",
        "supervisor",
        "costCenter",
        "costCenterCode",
        "businessTitle",
        "lastUpdatedDateTime",
    ];
    assert_eq!(without(&m, &moved), without(&before, &moved));
    assert_eq!(m["hireDate"], before["hireDate"]);
    assert_eq!(m["primarySupervisoryOrganization"]["id"], target.as_str());
    assert_eq!(
        m["supervisor"]["id"],
        sim.org(&target).unwrap()["manager"]["id"]
    );
    let a_manager = manager_ids.iter().next().unwrap();
    assert!(matches!(
        sim.move_worker(a_manager, &target),
        Err(SimError::Conflict(_))
    ));

    // Re-parent: cycles refused; the org's manager gets the new supervisor.
    let leaf = orgs
        .iter()
        .find(|o| {
            !orgs
                .iter()
                .any(|p| sim.org(p).unwrap()["parentOrganization"]["id"] == o.as_str())
        })
        .unwrap()
        .clone();
    assert!(matches!(
        sim.reparent_org(&orgs[0], &leaf),
        Err(SimError::Conflict(_))
    ));
    assert!(matches!(
        sim.reparent_org(&leaf, &leaf),
        Err(SimError::Conflict(_))
    ));
    sim.reparent_org(&leaf, &orgs[0]).unwrap();
    let lo = sim.org(&leaf).unwrap();
    assert_eq!(lo["parentOrganization"]["id"], orgs[0].as_str());
    let boss = sim.worker(lo["manager"]["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        boss["supervisor"]["id"],
        sim.org(&orgs[0]).unwrap()["manager"]["id"]
    );
    assert_eq!(boss["lastUpdatedDateTime"], stamp);

    // Renaming a manager shows in their org's `manager` and their reports'
    // `supervisor` descriptors.
    let boss_id = lo["manager"]["id"].as_str().unwrap().to_string();
    sim.update_worker(&boss_id, "preferredName", json!("Zed"))
        .unwrap();
    let renamed = format!("Zed {}", boss["lastName"].as_str().unwrap());
    assert_eq!(
        sim.worker(&boss_id).unwrap()["descriptor"],
        renamed.as_str()
    );
    assert_eq!(
        sim.org(&leaf).unwrap()["manager"]["descriptor"],
        renamed.as_str()
    );
    let report = sim
        .worker_ids()
        .into_iter()
        .find(|w| {
            *w != boss_id
                && sim.worker(w).unwrap()["primarySupervisoryOrganization"]["id"] == leaf.as_str()
        })
        .expect("the leaf org has a worker besides its manager");
    assert_eq!(
        sim.worker(&report).unwrap()["supervisor"]["descriptor"],
        renamed.as_str()
    );

    // Purge: gone entirely.
    let (_, before) = get(&c, &workers_url(&sim, "?limit=1"), &tok).await;
    sim.purge_worker(&plain[4]).unwrap();
    assert!(sim.worker(&plain[4]).is_none());
    assert!(!sim.worker_ids().contains(&plain[4]));
    let (_, after) = get(&c, &workers_url(&sim, "?limit=100&offset=0"), &tok).await;
    assert_eq!(
        after["total"].as_u64().unwrap() + 1,
        before["total"].as_u64().unwrap()
    );
    let (s, _) = get(
        &c,
        &format!("{}/workers/{}", sim.api_base_url(), plain[4]),
        &tok,
    )
    .await;
    assert_eq!(s, 404);
    let mut seen = false;
    for off in (0..400).step_by(100) {
        let (_, p) = get(
            &c,
            &workers_url(&sim, &format!("?limit=100&offset={off}")),
            &tok,
        )
        .await;
        seen |= ids(&p).contains(&plain[4]);
    }
    assert!(!seen);
    assert!(matches!(
        sim.purge_worker(&plain[4]),
        Err(SimError::UnknownWorker(_))
    ));
    assert!(matches!(
        sim.purge_worker(a_manager),
        Err(SimError::Conflict(_))
    ));

    // Single-record GETs match the truth API.
    let (s, v) = get(
        &c,
        &format!("{}/workers/{}", sim.api_base_url(), plain[0]),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(Some(v), sim.worker(&plain[0]));
    let (s, v) = get(
        &c,
        &format!("{}/supervisoryOrganizations/{}", sim.api_base_url(), leaf),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(Some(v), sim.org(&leaf));
}

#[tokio::test]
async fn churn_does_all_kinds() {
    let sim = start(2_000, 50).await;
    sim.set_clock(Utc.with_ymd_and_hms(2026, 5, 5, 5, 5, 5).unwrap());
    let s = sim.churn(400, 1);
    assert_eq!(s.total(), 400);
    assert!(!s.updated.is_empty() && !s.hired.is_empty() && !s.terminated.is_empty());
    assert!(!s.rehired.is_empty() && !s.moved.is_empty() && !s.purged.is_empty());
    assert!(!s.reparented.is_empty());
    for p in &s.purged {
        assert!(sim.worker(p).is_none());
    }
    for (old, new) in &s.rehired {
        let (o, n) = (sim.worker(old), sim.worker(new));
        // Either may have been churned again later (terminated, purged).
        if let (Some(o), Some(n)) = (o, n) {
            assert_eq!(o["employeeNumber"], n["employeeNumber"]);
        }
    }
    // The tree is still a tree.
    let mut n_top = 0;
    sim.for_each_org(|o| n_top += usize::from(o.get("parentOrganization").is_none()));
    assert_eq!(n_top, 1);
}

#[tokio::test]
async fn config_is_validated() {
    let r = Simulator::start(SimConfig {
        workers: 5,
        orgs: 10,
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(r, Err(SimError::Config(_))));
    let r = Simulator::start(SimConfig {
        tenant: "a/b".into(),
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(r, Err(SimError::Config(_))));
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = start(30, 3).await;
    let url = sim.token_url();
    sim.clone().shutdown().await;
    let err = client().post(url).send().await;
    assert!(err.is_err());
}

#[test]
fn cli_args_parse() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: harness::sim::SimulateArgs,
    }
    let cli = Cli::try_parse_from([
        "simulate",
        "--port",
        "0",
        "--workers",
        "100",
        "--orgs",
        "5",
        "--seed",
        "3",
        "--latency-ms",
        "10",
        "--fault",
        "workers@1:500",
        "--fault",
        "orgs@2:close",
        "--flat-spellings",
        "--token-lifetime-secs",
        "60",
    ])
    .unwrap();
    assert_eq!(cli.args.faults.len(), 2);
    assert_eq!(cli.args.workers, 100);
    assert!(cli.args.flat_spellings);
}

// ---- the published shape ---------------------------------------------------

#[tokio::test]
async fn the_published_shape_serves_only_the_published_fields() {
    let sim = Simulator::start(SimConfig {
        workers: 120,
        orgs: 8,
        shape: Shape::Published,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let rich = start(120, 8).await;
    let c = client();
    let tok = token(&sim, &c).await;
    let worker_keys: HashSet<&str> = [
        "id",
        "descriptor",
        "href",
        "workerID",
        "primaryWorkEmail",
        "primaryWorkPhone",
        "businessTitle",
        "isManager",
        "primarySupervisoryOrganization",
        "location",
    ]
    .into();
    let (s, page) = get(&c, &workers_url(&sim, "?limit=100"), &tok).await;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 120);
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 100);
    let mut seen: HashSet<&str> = HashSet::new();
    let mut managers = 0;
    for w in data {
        let o = w.as_object().unwrap();
        for k in o.keys() {
            assert!(worker_keys.contains(k.as_str()), "unpublished field {k}");
            seen.insert(worker_keys.get(k.as_str()).unwrap());
        }
        // The same worker, richly: the published fields agree with it.
        let r = rich.worker(o["id"].as_str().unwrap()).unwrap();
        assert_eq!(w["descriptor"], r["descriptor"]);
        assert_eq!(w["workerID"], r["employeeNumber"]);
        assert_eq!(w["primaryWorkEmail"], r["workEmail"]);
        assert_eq!(w["isManager"], r["isManager"]);
        assert_eq!(
            w["primarySupervisoryOrganization"]["id"],
            r["primarySupervisoryOrganization"]["id"]
        );
        let org = w["primarySupervisoryOrganization"]["id"].as_str().unwrap();
        assert_eq!(
            w["primarySupervisoryOrganization"]["href"],
            format!(
                "{}/supervisoryOrganizations/{org}",
                w["href"]
                    .as_str()
                    .unwrap()
                    .split("/workers/")
                    .next()
                    .unwrap()
            )
        );
        managers += usize::from(w["isManager"] == true);
    }
    // Every published field occurs (the optional ones on some workers).
    assert_eq!(seen, worker_keys);
    assert!(managers > 0);

    let (s, page) = get(&c, &orgs_url(&sim, ""), &tok).await;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 8);
    for o in page["data"].as_array().unwrap() {
        let keys: HashSet<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, HashSet::from(["id", "descriptor", "href"]));
        let r = rich.org(o["id"].as_str().unwrap()).unwrap();
        assert_eq!(o["descriptor"], r["name"]);
    }

    // No updatedFrom in the published API: the filter is ignored.
    let (s, page) = get(
        &c,
        &workers_url(&sim, "?limit=100&updatedFrom=2099-01-01T00:00:00Z"),
        &tok,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 120);
    let (_, page) = get(
        &c,
        &orgs_url(&sim, "?updatedFrom=2099-01-01T00:00:00Z"),
        &tok,
    )
    .await;
    assert_eq!(page["total"], 8);
    // The single-record GET has the same shape.
    let id = sim.worker_ids()[3].clone();
    let (s, one) = get(&c, &format!("{}/workers/{id}", sim.api_base_url()), &tok).await;
    assert_eq!(s, 200);
    assert!(one
        .as_object()
        .unwrap()
        .keys()
        .all(|k| worker_keys.contains(k.as_str())));
    assert!(one.get("employmentStatus").is_none());
}

#[tokio::test]
async fn a_bad_published_record_has_a_mistyped_published_field() {
    let sim = Simulator::start(SimConfig {
        workers: 10,
        orgs: 2,
        shape: Shape::Published,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let c = client();
    let tok = token(&sim, &c).await;
    sim.add_fault(FaultRule::once(Endpoint::Workers, 1, FaultKind::BadRecord));
    sim.add_fault(FaultRule::once(
        Endpoint::Organizations,
        1,
        FaultKind::BadRecord,
    ));
    let (_, page) = get(&c, &workers_url(&sim, ""), &tok).await;
    assert_eq!(page["data"][0]["isManager"], "yes");
    assert!(page["data"][1]["isManager"].is_boolean());
    let (_, page) = get(&c, &orgs_url(&sim, ""), &tok).await;
    assert_eq!(page["data"][0]["descriptor"], 12345);
    assert!(page["data"][1]["descriptor"].is_string());
}

#[tokio::test]
async fn an_unknown_collection_is_a_404_recorded_as_other() {
    let sim = start(5, 1).await;
    let c = client();
    let tok = token(&sim, &c).await;
    for path in ["/jobProfiles", "/jobProfiles/abc"] {
        let (s, v) = get(&c, &format!("{}{path}", sim.api_base_url()), &tok).await;
        assert_eq!(s, 404, "{path}");
        assert!(
            v["error"].as_str().unwrap().contains("no resource at"),
            "{v}"
        );
    }
    assert_eq!(sim.request_count(Endpoint::Other), 2);
    assert_eq!(sim.request_count(Endpoint::Workers), 0);
}
