//! The token endpoint against wiremock: `expires_in` values a broken server
//! may send, the refresh-token grant (the default with `RefreshTokenRef`)
//! and refresh-token rotation, and what of an error answer is quoted.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use connector_api::{
    Connector, ConnectorError, ErrorKind, ImportOutcome, ImportRequest, RunContext, VecSink,
};
use connector_workday::retry::{RecordingSleeper, RetryPolicy};
use connector_workday::WorkdayFactory;
use serde_json::{json, Value as Json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const RT_REF: &str = "secret://workday/acme/refreshtoken";
const RT: &str = "rt-original-value";
/// A rotated refresh token: never to appear in any output.
const ROTATED: &str = "rt-rotated-CANARY-0b7f";
/// A value in a token error body outside its OAuth fields.
const CANARY: &str = "echoed-CANARY-91c2";

/// Issues a valid access token for the shared tenant state on every request,
/// its JSON carrying `extra[n]` (the last one for later requests).
struct Issuing {
    state: Arc<Mutex<State>>,
    extra: Vec<Json>,
    served: Mutex<usize>,
}

impl Respond for Issuing {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = {
            let mut served = self.served.lock().unwrap();
            *served += 1;
            *served - 1
        };
        let mut s = self.state.lock().unwrap();
        s.issued += 1;
        let token = format!("tok-{}", s.issued);
        s.valid.insert(token.clone());
        let mut body = json!({"access_token": token, "token_type": "Bearer"});
        let extra = &self.extra[n.min(self.extra.len() - 1)];
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// Answers token requests with `extra[n]` merged into the n-th token JSON.
async fn issue(t: &Tenant, extra: Vec<Json>) {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(Issuing {
            state: t.state.clone(),
            extra,
            served: Mutex::new(0),
        })
        .with_priority(1)
        .mount(&t.server)
        .await;
}

/// A full import of the workers only, with `extra` config keys; the refresh
/// token is stored at [`RT_REF`].
async fn import(t: &Tenant, extra: Json) -> Result<ImportOutcome, ConnectorError> {
    let mut config = json!({"ImportOrganizations": false});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let c = WorkdayFactory::new()
        .with_sleeper(Arc::new(RecordingSleeper::new()))
        .with_retry_policy(RetryPolicy::exact())
        .connect(
            &t.config(config),
            SECRET_REF,
            &Tenant::secrets().with(RT_REF, RT),
        )
        .await
        .expect("valid config");
    c.import(
        ImportRequest::full(),
        &mut VecSink::default(),
        &RunContext::new(),
    )
    .await
}

/// The form bodies of the token requests, in order.
async fn token_forms(t: &Tenant) -> Vec<String> {
    t.requests_to(TOKEN_PATH)
        .await
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

/// Imports 10 workers in 2 pages, every token answer carrying `expires_in`:
/// the (token, workers, orgs) requests made.
async fn requests_with_expires_in(expires_in: &Json) -> (usize, usize, usize) {
    let t = Tenant::start(10, 0).await;
    issue(&t, vec![json!({ "expires_in": expires_in })]).await;
    let out = import(&t, json!({"PageSize": 5}))
        .await
        .unwrap_or_else(|e| panic!("{expires_in}: {e}"));
    assert_eq!(out.counts.of("User").upserts, 10, "{expires_in}");
    t.counts().await
}

#[tokio::test]
async fn a_huge_expires_in_is_clamped_instead_of_overflowing() {
    for expires_in in [
        json!(u64::MAX),
        json!(1e300),
        json!("99999999999999999999999999"),
    ] {
        // One token, reused for both pages.
        let counts = requests_with_expires_in(&expires_in).await;
        assert_eq!(counts, (1, 2, 0), "{expires_in}");
    }
}

#[tokio::test]
async fn a_zero_or_negative_expires_in_renews_the_token_for_every_request() {
    for expires_in in [json!(0), json!(-5), json!("-5"), json!(-1.5)] {
        // Each of the two pages asked for a fresh token.
        let counts = requests_with_expires_in(&expires_in).await;
        assert_eq!(counts, (2, 2, 0), "{expires_in}");
    }
}

#[tokio::test]
async fn the_default_grant_follows_refresh_token_ref() {
    // RefreshTokenRef and no GrantType: the refresh-token grant, with the
    // stored refresh token. Workday returning the same one is no rotation.
    let t = Tenant::start(10, 0).await;
    issue(&t, vec![json!({ "refresh_token": RT })]).await;
    let out = import(&t, json!({ "RefreshTokenRef": RT_REF }))
        .await
        .unwrap();
    assert_eq!(out.counts.of("User").upserts, 10);
    assert_eq!(
        token_forms(&t).await,
        [format!("grant_type=refresh_token&refresh_token={RT}")]
    );
    assert_eq!(out.warnings, Vec::<String>::new());

    // Neither: client credentials, and no refresh token is sent.
    let t = Tenant::start(10, 0).await;
    let out = import(&t, json!({})).await.unwrap();
    assert_eq!(out.counts.of("User").upserts, 10);
    assert_eq!(token_forms(&t).await, ["grant_type=client_credentials"]);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_used_and_the_operator_is_told_without_the_value() {
    let t = Tenant::start(10, 0).await;
    // The first answer rotates the refresh token and expires at once, so
    // the second page needs a second token request.
    issue(
        &t,
        vec![
            json!({"refresh_token": ROTATED, "expires_in": 0}),
            json!({"refresh_token": ROTATED, "expires_in": 1800}),
        ],
    )
    .await;
    let out = import(
        &t,
        json!({"GrantType": "refresh_token", "RefreshTokenRef": RT_REF, "PageSize": 5}),
    )
    .await
    .unwrap();
    assert_eq!(out.counts.of("User").upserts, 10);
    assert_eq!(
        token_forms(&t).await,
        [
            format!("grant_type=refresh_token&refresh_token={RT}"),
            format!("grant_type=refresh_token&refresh_token={ROTATED}"),
        ]
    );
    assert_eq!(
        out.warnings,
        [format!(
            "Workday's token endpoint issued a new refresh token (rotation) and the connector used it for the rest of the run; the refresh token stored at {RT_REF} may no longer be accepted: store the current one there before the next run (get it in Workday with Manage Refresh Tokens for Integrations, for this API client and its integration system user). The new value is not shown here or in any log"
        )]
    );
    let shown = format!("{out:?} {}", serde_json::to_string(&out).unwrap());
    assert!(!shown.contains(ROTATED), "{shown}");
    assert!(!shown.contains(RT), "{shown}");
}

#[tokio::test]
async fn a_rotation_is_reported_by_the_token_check() {
    let t = Tenant::start(2, 0).await;
    issue(&t, vec![json!({ "refresh_token": ROTATED })]).await;
    let c = WorkdayFactory::new()
        .connect(
            &t.config(json!({
                "GrantType": "refresh_token",
                "RefreshTokenRef": RT_REF,
                "ImportOrganizations": false
            })),
            SECRET_REF,
            &Tenant::secrets().with(RT_REF, RT),
        )
        .await
        .unwrap();
    let checks = c.check().await;
    assert!(checks.iter().all(|c| c.passed), "{checks:?}");
    assert!(
        checks[0].message.contains(&format!(
            "issued a new refresh token (rotation) and the connector used it for the rest of the run; the refresh token stored at {RT_REF} may no longer be accepted"
        )),
        "{}",
        checks[0].message
    );
    assert!(!format!("{checks:?}").contains(ROTATED));
}

/// Answers every token request with `template`, and runs an import.
async fn token_refused(template: ResponseTemplate) -> (ConnectorError, Tenant) {
    let t = Tenant::start(10, 0).await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(template)
        .with_priority(1)
        .mount(&t.server)
        .await;
    let e = import(&t, json!({})).await.unwrap_err();
    assert!(!e.message().contains(CANARY), "{}", e.message());
    (e, t)
}

#[tokio::test]
async fn token_error_bodies_are_quoted_only_by_their_oauth_fields() {
    let not_oauth = |status: u16| {
        format!(" (the body of this {status} answer is not an OAuth error with \"error\" and \"error_description\", so it is not shown)")
    };

    // A server error: only error and error_description, never other fields.
    let (e, _) = token_refused(ResponseTemplate::new(500).set_body_json(json!({
        "error": "server_error",
        "error_description": "try again later",
        "request": {"refresh_token": CANARY},
        "errors": [{"error": CANARY}],
    })))
    .await;
    assert_eq!(e.kind(), ErrorKind::Server);
    assert_eq!(
        e.message(),
        "Workday returned a server error (500) for the access token request: Workday says \"server_error; try again later\". This is likely a temporary issue - run again later, and contact Workday Support if it persists (gave up after 3 retries)"
    );

    // Not OAuth JSON: not quoted at all, and the message says so.
    let (e, _) = token_refused(
        ResponseTemplate::new(403)
            .set_body_string(format!("<html>denied for client_secret={CANARY}</html>")),
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::Permission);
    assert!(
        e.message().starts_with(&format!(
            "Workday refused the access token request with 403 Forbidden{}.",
            not_oauth(403)
        )),
        "{}",
        e.message()
    );

    // 401 with a body that is JSON but not an OAuth error.
    let (e, t) =
        token_refused(ResponseTemplate::new(401).set_body_json(json!({"message": CANARY}))).await;
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(
        e.message(),
        format!(
            "Workday's token endpoint {}{TOKEN_PATH} refused the credentials with 401{}: check ClientId ({CLIENT_ID}) and the client secret stored at {SECRET_REF}",
            t.uri(),
            not_oauth(401)
        )
    );

    // 400 OAuth error with an extra field.
    let (e, _) = token_refused(ResponseTemplate::new(400).set_body_json(json!({
        "error": "invalid_request",
        "error_description": "malformed",
        "echo": CANARY,
    })))
    .await;
    assert!(
        e.message().contains(
            "refused the credentials with 400 (invalid_request): Workday says \"malformed\":"
        ),
        "{}",
        e.message()
    );
}
