//! Retries, Retry-After, timeouts and how each HTTP failure is reported,
//! against wiremock. Delays are recorded, never slept.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use connector_api::{Connector, ErrorKind, ImportRequest, RunContext, VecSink};
use connector_workday::retry::{RecordingSleeper, RetryPolicy};
use connector_workday::WorkdayFactory;
use serde_json::json;
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Mounts `template` for the first `n` worker-page requests.
async fn fail_workers(t: &Tenant, template: ResponseTemplate, n: u64) {
    Mock::given(method("GET"))
        .and(path(WORKERS_PATH))
        .respond_with(template)
        .up_to_n_times(n)
        .with_priority(1)
        .mount(&t.server)
        .await;
}

async fn run(
    t: &Tenant,
) -> (
    Result<connector_api::ImportOutcome, connector_api::ConnectorError>,
    RecordingSleeper,
    RunContext,
) {
    let (c, sleeper) = t.connector(json!({"ImportOrganizations": false})).await;
    let ctx = RunContext::new();
    let r = c
        .import(ImportRequest::full(), &mut VecSink::default(), &ctx)
        .await;
    (r, sleeper, ctx)
}

#[tokio::test]
async fn transient_statuses_are_retried_with_doubling_delays() {
    for status in [429u16, 500, 502, 503, 504] {
        let t = Tenant::start(10, 0).await;
        fail_workers(&t, ResponseTemplate::new(status), 3).await;
        let (r, sleeper, ctx) = run(&t).await;
        let out = r.unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(out.counts.of("User").upserts, 10);
        assert_eq!(
            sleeper.delays(),
            [1, 2, 4].map(Duration::from_secs),
            "{status}"
        );
        let m = ctx.metrics().snapshot();
        assert_eq!((m.requests, m.retries, m.pages), (5, 3, 1), "{status}");
        assert_eq!(t.counts().await, (1, 4, 0));
    }
}

#[tokio::test]
async fn a_persistent_server_error_gives_up_after_three_retries() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(503).set_body_json(json!({"error": "maintenance"})),
        100,
    )
    .await;
    let (r, sleeper, ctx) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.is_retryable());
    assert_eq!(
        e.message(),
        "Workday returned a server error (503) for the workers page at offset 0: Workday says \"maintenance\". This is likely a temporary issue - run again later, and contact Workday Support if it persists (gave up after 3 retries)"
    );
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
    assert_eq!(ctx.metrics().snapshot().retries, 3);
    assert_eq!(t.counts().await, (1, 4, 0));
}

#[tokio::test]
async fn persistent_throttling_is_a_rate_limit_error() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(429).insert_header("Retry-After", "5"),
        100,
    )
    .await;
    let (r, sleeper, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimit);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(sleeper.delays(), [5, 5, 5].map(Duration::from_secs));
    assert!(
        e.message()
            .ends_with("(Workday asked to wait 5 s) (gave up after 3 retries)"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn retry_after_seconds_is_the_delay() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(429).insert_header("Retry-After", "7"),
        1,
    )
    .await;
    fail_workers(
        &t,
        ResponseTemplate::new(503).insert_header("Retry-After", "0"),
        1,
    )
    .await;
    let (r, sleeper, _) = run(&t).await;
    r.unwrap();
    let mut d = sleeper.delays();
    d.sort();
    assert_eq!(d, [Duration::ZERO, Duration::from_secs(7)]);
}

#[tokio::test]
async fn retry_after_http_date_is_the_delay() {
    let t = Tenant::start(10, 0).await;
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(20));
    fail_workers(
        &t,
        ResponseTemplate::new(429).insert_header("Retry-After", at.as_str()),
        1,
    )
    .await;
    let (r, sleeper, _) = run(&t).await;
    r.unwrap();
    let d = sleeper.delays();
    assert_eq!(d.len(), 1);
    assert!(
        d[0] > Duration::from_secs(17) && d[0] <= Duration::from_secs(20),
        "{d:?}"
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_fails_at_once() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(429).insert_header("Retry-After", "120"),
        100,
    )
    .await;
    let (r, sleeper, ctx) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimit);
    assert!(e.is_retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(
        e.message(),
        "Workday answered 429 for the workers page at offset 0 and asked to wait 120 s (Retry-After) before retrying, more than the connector's 30 s back-off cap; the run stopped. Run it again after that time; if this happens often, ask Workday Support to raise the tenant's API rate limit"
    );
    assert!(sleeper.delays().is_empty());
    assert_eq!(ctx.metrics().snapshot().retries, 0);
    assert_eq!(t.counts().await, (1, 1, 0));
}

#[tokio::test]
async fn an_overflowing_retry_after_saturates_and_fails_fast_as_above_the_cap() {
    for status in [429u16, 503] {
        let t = Tenant::start(10, 0).await;
        fail_workers(
            &t,
            ResponseTemplate::new(status).insert_header("Retry-After", "99999999999999999999999"),
            100,
        )
        .await;
        let (r, sleeper, ctx) = run(&t).await;
        let e = r.unwrap_err();
        assert_eq!(
            e.message(),
            format!("Workday answered {status} for the workers page at offset 0 and asked to wait {} s (Retry-After) before retrying, more than the connector's 30 s back-off cap; the run stopped. Run it again after that time; if this happens often, ask Workday Support to raise the tenant's API rate limit", u64::MAX)
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(u64::MAX)));
        assert!(sleeper.delays().is_empty(), "{status}");
        assert_eq!(ctx.metrics().snapshot().retries, 0, "{status}");
        assert_eq!(t.counts().await, (1, 1, 0), "{status}");
        // Over the plugin wire too: the host reads it back, saturated.
        let wire = serde_json::to_string(&e).unwrap();
        let back: connector_api::ConnectorError = serde_json::from_str(&wire).unwrap();
        assert_eq!(back.message(), e.message());
        assert!(back.retry_after().unwrap() >= Duration::from_secs(u64::MAX));
    }
}

#[tokio::test]
async fn other_client_errors_are_not_retried_and_surface_workdays_text() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid request",
            "errors": [{"error": "offset must be a number"}]
        })),
        100,
    )
    .await;
    let (r, sleeper, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert!(!e.is_retryable());
    assert_eq!(
        e.message(),
        "Workday rejected the workers page at offset 0 with 400: Workday says \"invalid request; offset must be a number\""
    );
    assert!(sleeper.delays().is_empty());
    assert_eq!(t.counts().await, (1, 1, 0));
}

#[tokio::test]
async fn forbidden_is_a_permission_error_naming_the_security_groups() {
    let t = Tenant::start(10, 0).await;
    fail_workers(&t, ResponseTemplate::new(403), 100).await;
    let (r, _, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Permission);
    assert_eq!(
        e.message(),
        "Workday refused the workers page at offset 0 with 403 Forbidden. The integration system user (ISU) lacks a permission: grant its security group Get access to the domains \"Worker Data: Public Worker Reports\", \"Worker Data: Active and Terminated Workers\" and \"Organization Data: View Organization\", then activate pending security policy changes"
    );
    assert_eq!(t.counts().await, (1, 1, 0));
}

#[tokio::test]
async fn not_found_points_at_the_tenant_name() {
    let t = Tenant::start(10, 0).await;
    fail_workers(&t, ResponseTemplate::new(404), 100).await;
    let (r, _, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(
        e.message(),
        format!("Workday answered 404 Not Found for the workers page at offset 0 ({}{WORKERS_PATH}): check TenantName (and TenantHost or BaseUrl); the tenant name is the part after the host in your Workday login URL", t.uri())
    );
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(302).insert_header("Location", "https://evil.example/steal"),
        100,
    )
    .await;
    let (r, _, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert!(
        e.message().contains("\"https://evil.example/steal\""),
        "{}",
        e.message()
    );
    assert_eq!(t.counts().await, (1, 1, 0));
}

#[tokio::test]
async fn a_body_that_is_not_a_page_is_a_bad_response() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(200).set_body_json(json!({"data": []})),
        100,
    )
    .await;
    let (r, _, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert_eq!(
        e.message(),
        "Workday's answer to the workers page at offset 0 could not be read: it has no \"total\""
    );
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let t = Tenant::start(10, 0).await;
    fail_workers(
        &t,
        ResponseTemplate::new(200).set_delay(Duration::from_secs(2)),
        100,
    )
    .await;
    let sleeper = RecordingSleeper::new();
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(sleeper.clone()))
        .with_retry_policy(RetryPolicy::exact())
        .with_request_timeout(Duration::from_millis(150))
        .connect(
            &t.config(json!({"ImportOrganizations": false})),
            SECRET_REF,
            &Tenant::secrets(),
        )
        .await
        .unwrap();
    let e = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(e.is_retryable());
    assert_eq!(
        e.message(),
        "could not reach Workday for the workers page at offset 0: no answer within 0.15 s (RequestTimeoutSeconds); Workday may be slow or unreachable - raise RequestTimeoutSeconds if it persists (gave up after 3 retries)"
    );
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sleeper = RecordingSleeper::new();
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(sleeper.clone()))
        .with_retry_policy(RetryPolicy::exact())
        .connect(
            &json!({"BaseUrl": format!("http://127.0.0.1:{port}"), "TenantName": TENANT, "ClientId": CLIENT_ID}).to_string(),
            SECRET_REF,
            &Tenant::secrets(),
        )
        .await
        .unwrap();
    let ctx = RunContext::new();
    let e = c
        .import(ImportRequest::full(), &mut VecSink::default(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport);
    assert!(
        e.message()
            .starts_with("could not reach Workday for the access token request: could not connect"),
        "{}",
        e.message()
    );
    assert_eq!(sleeper.delays(), [1, 2, 4].map(Duration::from_secs));
    assert_eq!(ctx.metrics().snapshot().requests, 4);
}

#[tokio::test]
async fn the_token_request_is_retried_too() {
    let t = Tenant::start(10, 0).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&t.server)
        .await;
    let (r, sleeper, ctx) = run(&t).await;
    r.unwrap();
    assert_eq!(sleeper.delays(), [1, 2].map(Duration::from_secs));
    assert_eq!(t.counts().await, (3, 1, 0));
    assert_eq!(ctx.metrics().snapshot().requests, 4);
}

#[tokio::test]
async fn invalid_client_says_to_check_the_client_id_and_secret() {
    let t = Tenant::start(10, 0).await;
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(RecordingSleeper::new()))
        .connect(
            &t.config(json!({"ClientId": "wrong-client"})),
            SECRET_REF,
            &Tenant::secrets(),
        )
        .await
        .unwrap();
    let e = c
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert!(!e.is_retryable());
    assert_eq!(
        e.message(),
        format!("Workday's token endpoint {}{TOKEN_PATH} refused the credentials with 401 (invalid_client): Workday says \"Invalid client credentials\": check ClientId (wrong-client) and the client secret stored at {SECRET_REF}: they must be the Client ID and Client Secret of the API client registered with Register API Client for Integrations; after rotating the secret in Workday, store the new one with: secretscli set {SECRET_REF} \"<the secret>\"", t.uri())
    );
    // Not retried, and no page was asked for.
    assert_eq!(t.counts().await, (1, 0, 0));
    assert!(!e.message().contains(SECRET));
}

#[tokio::test]
async fn jittered_delays_stay_within_their_bounds() {
    let t = Tenant::start(10, 0).await;
    fail_workers(&t, ResponseTemplate::new(503), 3).await;
    let sleeper = RecordingSleeper::new();
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(sleeper.clone()))
        .connect(
            &t.config(json!({"ImportOrganizations": false})),
            SECRET_REF,
            &Tenant::secrets(),
        )
        .await
        .unwrap();
    c.import(
        ImportRequest::full(),
        &mut VecSink::default(),
        &RunContext::new(),
    )
    .await
    .unwrap();
    let d = sleeper.delays();
    assert_eq!(d.len(), 3);
    for (i, d) in d.iter().enumerate() {
        let base = Duration::from_secs(1 << i);
        assert!(*d >= base && *d <= base * 2, "retry {i}: {d:?}");
    }
}

/// A workers-only connector whose responses may be at most `limit` bytes.
async fn limited(t: &Tenant, limit: usize) -> connector_workday::WorkdayConnector {
    WorkdayFactory::new()
        .with_sleeper(Arc::new(RecordingSleeper::new()))
        .with_retry_policy(RetryPolicy::exact())
        .with_max_response_bytes(limit)
        .connect(
            &t.config(json!({"ImportOrganizations": false})),
            SECRET_REF,
            &Tenant::secrets(),
        )
        .await
        .unwrap()
}

async fn full_import_error(
    c: &connector_workday::WorkdayConnector,
) -> connector_api::ConnectorError {
    c.import(
        ImportRequest::full(),
        &mut VecSink::default(),
        &RunContext::new(),
    )
    .await
    .unwrap_err()
}

#[test]
fn the_response_size_limit_is_64_mib() {
    assert_eq!(connector_workday::MAX_RESPONSE_BYTES, 64 * 1024 * 1024);
}

#[tokio::test]
async fn a_body_announced_above_the_size_limit_is_refused_before_it_is_read() {
    let t = Tenant::start(10, 0).await;
    let page = json!({"total": 10, "data": (0..10).map(worker).collect::<Vec<_>>()});
    let size = serde_json::to_vec(&page).unwrap().len();
    assert!(size > 2048, "{size}");
    let e = full_import_error(&limited(&t, 2048).await).await;
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert!(!e.is_retryable());
    assert_eq!(
        e.message(),
        format!("Workday's answer to the workers page at offset 0 could not be read: its Content-Length is {size} bytes, above the limit of 2048 bytes (MAX_RESPONSE_BYTES); lower PageSize, or check that TenantHost (or BaseUrl) is the tenant's API host")
    );
    // Not retried: the same answer would come again.
    assert_eq!(t.counts().await, (1, 1, 0));
}

#[tokio::test]
async fn an_unsized_body_that_grows_above_the_size_limit_is_refused() {
    let t = Tenant::start(10, 0).await;
    let page = json!({"total": 10, "data": (0..10).map(worker).collect::<Vec<_>>()});
    // Chunked: no Content-Length announces the size.
    fail_workers(
        &t,
        ResponseTemplate::new(200)
            .set_body_json(page)
            .insert_header("transfer-encoding", "chunked"),
        1,
    )
    .await;
    let e = full_import_error(&limited(&t, 2048).await).await;
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert_eq!(
        e.message(),
        "Workday's answer to the workers page at offset 0 could not be read: its body grew above the limit of 2048 bytes (MAX_RESPONSE_BYTES) and was not read further; lower PageSize, or check that TenantHost (or BaseUrl) is the tenant's API host"
    );
    let reqs = t.requests_to(WORKERS_PATH).await;
    assert_eq!(reqs.len(), 1);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_bad_response_not_a_replacement_character() {
    let t = Tenant::start(1, 0).await;
    let mut body = serde_json::to_vec(&json!({"total": 1, "data": [worker(0)]})).unwrap();
    let at = body.windows(6).position(|w| w == b"First0").unwrap() + 5;
    body[at] = 0xff;
    fail_workers(
        &t,
        ResponseTemplate::new(200).set_body_raw(body, "application/json"),
        1,
    )
    .await;
    let (r, _, _) = run(&t).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadResponse);
    assert_eq!(
        e.message(),
        format!("Workday's answer to the workers page at offset 0 could not be read: the body is not valid UTF-8 (at byte {at})")
    );
}
