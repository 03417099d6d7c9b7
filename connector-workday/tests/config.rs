//! Validation: one clear message per problem, naming the key; refused hosts;
//! secrets. No request is ever made by validation.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use connector_api::secrecy::SecretString;
use connector_api::{
    ConfigProblem, ConnectorFactory, ErrorKind, SecretError, SecretRef, SecretResolver,
    StaticSecrets,
};
use connector_workday::config::{ExternalIdAttribute, GrantType, WorkdayConfig};
use connector_workday::WorkdayFactory;
use serde_json::{json, Value};

const REF: &str = "secret://workday/contoso_preview/clientsecret";

fn base() -> Value {
    json!({
        "TenantHost": "wd5-impl-services1.workday.com",
        "TenantName": "contoso_preview",
        "ClientId": "abc"
    })
}

fn with(mut v: Value, extra: Value) -> String {
    for (k, x) in extra.as_object().unwrap() {
        if x.is_null() {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v.to_string()
}

fn problems(json: &str) -> Vec<(String, String)> {
    WorkdayConfig::parse(json)
        .unwrap_err()
        .into_iter()
        .map(|ConfigProblem { key, message }| (key, message))
        .collect()
}

fn one(extra: Value) -> (String, String) {
    let p = problems(&with(base(), extra));
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap()
}

#[test]
fn defaults() {
    let c = WorkdayConfig::parse(&base().to_string()).unwrap();
    assert_eq!(c.realm, "contoso_preview");
    assert_eq!(c.page_size, 100);
    assert!(c.import_workers && c.import_organizations);
    assert_eq!(c.external_id_attribute, ExternalIdAttribute::Id);
    assert_eq!(c.grant_type, GrantType::ClientCredentials);
    assert_eq!(c.max_concurrent_requests, 4);
    assert_eq!(c.max_requests_per_hour, 1000);
    assert_eq!(c.request_timeout.as_secs(), 30);
    assert_eq!(c.delta_overlap.as_secs(), 300);
    assert_eq!(
        c.base_url.as_str(),
        "https://wd5-impl-services1.workday.com/"
    );
    assert_eq!(
        c.endpoints()
            .feed_url(connector_workday::endpoint::Feed::Workers),
        "https://wd5-impl-services1.workday.com/ccx/api/common/v1/contoso_preview/workers"
    );
}

#[test]
fn the_spec_sample_is_accepted() {
    let sample = with(
        base(),
        json!({"Realm": "contoso_preview", "PageSize": 100, "ImportWorkers": true,
               "ImportOrganizations": true, "ImportPositions": false, "ExternalIdAttribute": "id"}),
    );
    assert!(WorkdayConfig::parse(&sample).is_ok());
}

#[test]
fn missing_and_empty_keys() {
    assert_eq!(
        one(json!({"TenantName": null})),
        (
            "TenantName".into(),
            "is required: set it to your Workday tenant name, e.g. contoso_preview".into()
        )
    );
    assert_eq!(
        one(json!({"ClientId": null})),
        ("ClientId".into(), "is required: set it to the Client ID that Register API Client for Integrations returned".into())
    );
    assert_eq!(
        one(json!({"TenantHost": null})),
        (
            "TenantHost".into(),
            "is required: set it to your tenant's API host, e.g. wd5-impl-services1.workday.com"
                .into()
        )
    );
    assert_eq!(
        one(json!({"ClientId": "  "})),
        ("ClientId".into(), "must not be empty: set it to the Client ID that Register API Client for Integrations returned".into())
    );
    assert_eq!(
        one(json!({"Realm": ""})),
        (
            "Realm".into(),
            "must not be empty: remove the key to use its default".into()
        )
    );
    // null counts as absent: optional keys take their default.
    let c = WorkdayConfig::parse(&with(base(), json!({"Realm": null}))).unwrap();
    assert_eq!(c.realm, "contoso_preview");
}

#[test]
fn wrong_json_types() {
    assert_eq!(
        one(json!({"PageSize": "100"})),
        (
            "PageSize".into(),
            "must be a whole number, got a string (\"100\")".into()
        )
    );
    assert_eq!(
        one(json!({"PageSize": 10.5})),
        (
            "PageSize".into(),
            "must be a whole number, got a number (10.5)".into()
        )
    );
    assert_eq!(
        one(json!({"ImportWorkers": "yes"})),
        (
            "ImportWorkers".into(),
            "must be true or false, got a string (\"yes\")".into()
        )
    );
    assert_eq!(
        one(json!({"TenantName": 5})),
        (
            "TenantName".into(),
            "must be a string, got a number (5)".into()
        )
    );
}

#[test]
fn ranges() {
    for (key, bad, range) in [
        ("PageSize", json!(0), "1 and 100"),
        ("PageSize", json!(101), "1 and 100"),
        ("PageSize", json!(-5), "1 and 100"),
        ("MaxConcurrentRequests", json!(0), "1 and 16"),
        ("MaxRequestsPerHour", json!(0), "1 and 10000000"),
        ("RequestTimeoutSeconds", json!(601), "1 and 600"),
        ("DeltaOverlapSeconds", json!(86401), "0 and 86400"),
    ] {
        assert_eq!(
            one(json!({key: bad})),
            (
                key.to_string(),
                format!("must be between {range}, got {bad}")
            )
        );
    }
}

#[test]
fn unknown_keys_are_reported_with_a_suggestion() {
    let (k, m) = one(json!({"PageSise": 50}));
    assert_eq!(k, "PageSise");
    assert!(
        m.starts_with("is not a known key (did you mean PageSize?); remove it or fix its spelling (known keys: TenantHost, TenantName,"),
        "{m}"
    );
    let (_, m) = one(json!({"Colour": "blue"}));
    assert!(m.starts_with("is not a known key; remove it"), "{m}");
}

#[test]
fn positions_and_nothing_to_import() {
    assert_eq!(
        one(json!({"ImportPositions": true})),
        ("ImportPositions".into(), "Position import is not supported yet (planned for phase 2); set ImportPositions to false or remove it".into())
    );
    assert_eq!(
        one(json!({"ImportWorkers": false, "ImportOrganizations": false})),
        ("ImportWorkers".into(), "nothing to import: ImportWorkers and ImportOrganizations are both false; set at least one to true".into())
    );
}

#[test]
fn enumerations() {
    assert_eq!(
        one(json!({"GrantType": "password"})),
        (
            "GrantType".into(),
            "must be one of \"client_credentials\" or \"refresh_token\", got \"password\"".into()
        )
    );
    assert_eq!(
        one(json!({"ExternalIdAttribute": "email"})),
        (
            "ExternalIdAttribute".into(),
            "must be one of \"id\", \"employeeNumber\" or \"companyEmployeeId\", got \"email\""
                .into()
        )
    );
    assert_eq!(
        one(json!({"GrantType": "refresh_token"})),
        ("RefreshTokenRef".into(), "is required: with GrantType refresh_token, set it to the secret:// reference of the refresh token, e.g. secret://workday/contoso_preview/refreshtoken".into())
    );
    assert_eq!(
        one(json!({"GrantType": "client_credentials", "RefreshTokenRef": "secret://workday/contoso_preview/refreshtoken"})),
        ("RefreshTokenRef".into(), "is only used with GrantType \"refresh_token\"; remove it or set GrantType to \"refresh_token\"".into())
    );
}

#[test]
fn the_default_grant_follows_refresh_token_ref() {
    const RT_REF: &str = "secret://workday/contoso_preview/refreshtoken";
    // With a refresh token reference and no GrantType: the refresh-token grant.
    let c = WorkdayConfig::parse(&with(base(), json!({ "RefreshTokenRef": RT_REF }))).unwrap();
    assert_eq!(c.grant_type, GrantType::RefreshToken);
    assert_eq!(c.refresh_token_ref.as_deref(), Some(RT_REF));
    // `null` is absent: client credentials.
    let c = WorkdayConfig::parse(&base().to_string()).unwrap();
    assert_eq!(c.grant_type, GrantType::ClientCredentials);
    assert_eq!(c.refresh_token_ref, None);
    // An explicit GrantType still wins.
    let c = WorkdayConfig::parse(&with(
        base(),
        json!({"GrantType": "refresh_token", "RefreshTokenRef": RT_REF}),
    ))
    .unwrap();
    assert_eq!(c.grant_type, GrantType::RefreshToken);
    // A present but empty reference is reported as such (not as a grant mismatch).
    assert_eq!(
        one(json!({"RefreshTokenRef": " "})),
        ("RefreshTokenRef".into(), "must not be empty: with GrantType refresh_token, set it to the secret:// reference of the refresh token, e.g. secret://workday/contoso_preview/refreshtoken".into())
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(
        r#"{"TenantHost": "evil.example.com", "PageSize": 500, "ImportPositions": true, "PageSise": 1}"#,
    );
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "TenantName",
            "TenantHost",
            "ClientId",
            "PageSize",
            "ImportPositions",
            "PageSise"
        ]
    );
}

#[test]
fn not_json_or_not_an_object() {
    let p = problems("{nope");
    assert_eq!(p[0].0, "configJson");
    assert!(p[0].1.starts_with("is not valid JSON ("), "{}", p[0].1);
    assert_eq!(
        problems("[1]"),
        [(
            "configJson".to_string(),
            "must be a JSON object of keys, got an array".to_string()
        )]
    );
}

#[test]
fn hosts_the_secret_may_not_go_to_are_refused() {
    let host = |h: &str| one(json!({"TenantHost": h}));
    assert_eq!(
        host("evil.example.com"),
        ("TenantHost".into(), "evil.example.com is not a Workday host: the client secret is only sent to *.workday.com or *.myworkday.com (or to a loopback address for the simulator); use your tenant's API host, e.g. wd5-impl-services1.workday.com".into())
    );
    for bad in [
        "workday.com",
        "evilworkday.com",
        "workday.com.evil.example",
        "10.1.2.3",
    ] {
        assert!(host(bad).1.contains("is not a Workday host"), "{bad}");
    }
    assert_eq!(
        host("https://wd5.workday.com"),
        ("TenantHost".into(), "must be a host name such as wd5-impl-services1.workday.com, without a scheme, path or spaces; got \"https://wd5.workday.com\"".into())
    );
    for ok in [
        "wd5-impl-services1.workday.com",
        "acme.myworkday.com",
        "WD2.Workday.com",
    ] {
        assert!(
            WorkdayConfig::parse(&with(base(), json!({"TenantHost": ok}))).is_ok(),
            "{ok}"
        );
    }

    let url = |u: &str| one(json!({"TenantHost": null, "BaseUrl": u}));
    assert_eq!(
        url("http://wd5.workday.com"),
        ("BaseUrl".into(), "the client secret is only sent over https; plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost) for the simulator, got http://wd5.workday.com/".into())
    );
    assert_eq!(url("http://10.0.0.5:8080").1, "the client secret is only sent over https; plain http is allowed only to a loopback address (127.0.0.0/8, ::1, localhost) for the simulator, got http://10.0.0.5:8080/");
    assert!(url("https://relay.example.net")
        .1
        .starts_with("relay.example.net is not a Workday host"));
    assert!(url("ftp://wd5.workday.com").1.starts_with(
        "the client secret is only sent over https (plain http only to a loopback address"
    ));
    assert_eq!(
        url("https://u:p@wd5.workday.com").1,
        "must not carry a user name or password; the client secret comes from AuthMaterial"
    );
    assert_eq!(
        url("https://wd5.workday.com/?x=1").1,
        "must not have a query or fragment; got \"https://wd5.workday.com/?x=1\""
    );
    assert!(url("not a url").1.starts_with("must be an absolute URL"));
    for ok in [
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://[::1]:9000",
        "http://localhost:1",
        "https://wd5.workday.com/relay/",
    ] {
        let c = WorkdayConfig::parse(&with(base(), json!({"TenantHost": null, "BaseUrl": ok})));
        assert!(c.is_ok(), "{ok}: {c:?}");
    }
    // BaseUrl replaces TenantHost.
    let c = WorkdayConfig::parse(&with(base(), json!({"BaseUrl": "http://127.0.0.1:9"}))).unwrap();
    assert_eq!(
        c.endpoints().token_url(),
        "http://127.0.0.1:9/ccx/oauth2/contoso_preview/token"
    );
}

/// Counts resolutions, to prove a refused configuration never touches secrets.
#[derive(Default)]
struct Counting(AtomicUsize, StaticSecrets);

#[async_trait]
impl SecretResolver for Counting {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        self.1.resolve(reference).await
    }
}

#[tokio::test]
async fn a_refused_host_fails_validation_before_any_secret_or_request() {
    let secrets = Counting(AtomicUsize::new(0), StaticSecrets::new().with(REF, "x"));
    let e = WorkdayFactory::new()
        .validate(
            &with(base(), json!({"TenantHost": "attacker.example"})),
            REF,
            &secrets,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(e.problems()[0].key, "TenantHost");
    assert_eq!(secrets.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn secret_problems() {
    let f = WorkdayFactory::new();
    let ok = StaticSecrets::new().with(REF, "value");
    let cfg = base().to_string();

    let e = f
        .validate(&cfg, "workday/contoso_preview/clientsecret", &ok)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert_eq!(
        e.message(),
        "AuthMaterial: malformed secret reference: it must start with secret:// (the value given is not shown, as it may be the secret itself); set it to secret://workday/contoso_preview/clientsecret"
    );

    let e = f.validate(&cfg, "", &ok).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert_eq!(e.message(), "AuthMaterial: is empty; set it to the client secret's reference secret://workday/contoso_preview/clientsecret");

    let e = f
        .validate(&cfg, REF, &StaticSecrets::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert_eq!(
        e.message(),
        "AuthMaterial: secret secret://workday/contoso_preview/clientsecret could not be resolved: the in-memory secret set has no such reference; store it with: secretscli set secret://workday/contoso_preview/clientsecret \"<the value>\""
    );

    let e = f
        .validate(&cfg, REF, &StaticSecrets::new().with(REF, " "))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert!(e.message().starts_with(
        "AuthMaterial: the secret secret://workday/contoso_preview/clientsecret is empty"
    ));

    let other = "secret://workday/fabrikam/clientsecret";
    let e = f
        .validate(&cfg, other, &StaticSecrets::new().with(other, "v"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Configuration);
    assert_eq!(
        e.problems(),
        [ConfigProblem {
            key: "AuthMaterial".into(),
            message: "secret://workday/fabrikam/clientsecret is the client secret of tenant \"fabrikam\", but TenantName is \"contoso_preview\"; set it to secret://workday/contoso_preview/clientsecret".into()
        }]
    );

    let rt = with(
        base(),
        json!({"GrantType": "refresh_token", "RefreshTokenRef": "secret://workday/contoso_preview/refreshtoken"}),
    );
    let e = f.validate(&rt, REF, &ok).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert!(e.message().starts_with("RefreshTokenRef: secret secret://workday/contoso_preview/refreshtoken could not be resolved"), "{}", e.message());
    let bad_rt = with(
        base(),
        json!({"GrantType": "refresh_token", "RefreshTokenRef": "vault:rt"}),
    );
    let e = f.validate(&bad_rt, REF, &ok).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Secret);
    assert!(
        e.message().starts_with(
            "RefreshTokenRef: malformed secret reference: it must start with secret://"
        ),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("vault:rt"), "{}", e.message());

    let c = f.validate(&cfg, REF, &ok).await.unwrap();
    // The connector's Debug never shows the secret.
    assert!(!format!("{c:?}").contains("value"));
}

#[test]
fn info_and_schema() {
    let f = WorkdayFactory::new();
    let info = f.info();
    assert_eq!(info.name, "workday");
    assert_eq!(info.object_types, ["OrgUnit", "User"]);
    insta::assert_json_snapshot!("schema", f.schema());
}

#[test]
fn api_defaults_to_rest_and_soap_has_its_own_defaults() {
    use connector_workday::config::Api;
    let c = WorkdayConfig::parse(&base().to_string()).unwrap();
    assert_eq!(c.api, Api::Rest);
    assert_eq!(c.web_service_version, "v44.0");
    assert_eq!(c.isu_username, None);
    assert_eq!(c.isu_password_ref, None);
    assert!(!c.uses_username_token());

    let c = WorkdayConfig::parse(&with(base(), json!({"Api": "Soap", "PageSize": 999}))).unwrap();
    assert_eq!(c.api, Api::Soap);
    assert_eq!(c.page_size, 999);
    assert_eq!(c.client_id.as_deref(), Some("abc"));
    assert!(!c.uses_username_token());
}

#[test]
fn isu_username_replaces_client_id_and_defaults_the_password_ref() {
    let c = WorkdayConfig::parse(&with(
        base(),
        json!({"Api": "Soap", "ClientId": null, "IsuUsername": "isu_idmesh@acme"}),
    ))
    .unwrap();
    assert!(c.uses_username_token());
    assert_eq!(c.client_id, None);
    assert_eq!(c.isu_username.as_deref(), Some("isu_idmesh@acme"));
    assert_eq!(
        c.isu_password_ref.as_deref(),
        Some("secret://workday/contoso_preview/isupassword")
    );
    let c = WorkdayConfig::parse(&with(
        base(),
        json!({"Api": "Soap", "IsuUsername": "u", "IsuPasswordRef": "secret://vault/isu"}),
    ))
    .unwrap();
    assert_eq!(c.isu_password_ref.as_deref(), Some("secret://vault/isu"));
    // Without IsuUsername, ClientId stays required.
    let (key, message) = one(json!({"Api": "Soap", "ClientId": null}));
    assert_eq!(key, "ClientId");
    assert!(message.starts_with("is required"), "{message}");
    let (key, message) = one(json!({"Api": "Soap", "IsuPasswordRef": "secret://a/b"}));
    assert_eq!(key, "IsuPasswordRef");
    assert!(message.contains("only used with IsuUsername"), "{message}");
}

#[test]
fn soap_keys_under_rest_are_one_problem_each_naming_the_key() {
    let p = problems(&with(
        base(),
        json!({"WebServiceVersion": "v44.0", "IsuUsername": "u", "IsuPasswordRef": "secret://a/b"}),
    ));
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["WebServiceVersion", "IsuUsername", "IsuPasswordRef"]);
    for (_, m) in &p {
        assert_eq!(
            m,
            "only applies when Api is \"Soap\" (Api is \"Rest\"); remove it or set Api to \"Soap\""
        );
    }
}

#[test]
fn soap_api_version_and_page_size_are_validated() {
    let (key, message) = one(json!({"Api": "Graphql"}));
    assert_eq!(key, "Api");
    assert_eq!(
        message,
        "must be one of \"Rest\" or \"Soap\", got \"Graphql\""
    );
    for bad in ["44.0", "v44.", "v1234", "v44.123", "V44.0", "v44_0"] {
        let (key, message) = one(json!({"Api": "Soap", "WebServiceVersion": bad}));
        assert_eq!(key, "WebServiceVersion");
        assert!(message.contains(&format!("got {bad:?}")), "{message}");
    }
    for good in ["v44.0", "v31.2", "v9", "v100.10"] {
        let c = WorkdayConfig::parse(&with(
            base(),
            json!({"Api": "Soap", "WebServiceVersion": good}),
        ))
        .unwrap();
        assert_eq!(c.web_service_version, good);
    }
    let (key, message) = one(json!({"Api": "Soap", "PageSize": 1000}));
    assert_eq!(key, "PageSize");
    assert_eq!(message, "must be between 1 and 999, got 1000");
    let (key, message) = one(json!({"PageSize": 101}));
    assert_eq!(key, "PageSize");
    assert_eq!(message, "must be between 1 and 100, got 101");
}
