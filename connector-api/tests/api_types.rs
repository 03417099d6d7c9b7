//! Unit tests of the API types: exact JSON forms, error classification, and
//! secrets that never leak.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::time::Duration;

use chrono::{TimeZone, Utc};
use connector_api::*;
use secrecy::ExposeSecret;

fn user_schema() -> Schema {
    Schema {
        object_types: vec![ObjectTypeSchema {
            name: "User".into(),
            anchor: "id".into(),
            attributes: vec![
                AttributeSchema::new("firstName", ValueKind::String, "given name"),
                AttributeSchema::new("accountEnabled", ValueKind::Bool, "active"),
                AttributeSchema::new("hireDate", ValueKind::Date, "hired"),
                AttributeSchema::new("lastUpdatedDateTime", ValueKind::DateTime, "updated"),
                AttributeSchema::new(
                    "manager",
                    ValueKind::Reference {
                        object_type: "User".into(),
                    },
                    "manager id",
                ),
                AttributeSchema::new("mobilePhone", ValueKind::String, "mobile"),
            ],
        }],
    }
}

fn sample_change() -> Change {
    let mut c = Change::new(
        "User",
        "0123456789abcdef0123456789abcdef",
        ChangeKind::Upsert,
    );
    c.attributes
        .insert("firstName".into(), Value::String("José".into()));
    c.attributes
        .insert("accountEnabled".into(), Value::Bool(true));
    c.attributes
        .insert("hireDate".into(), Value::date(2019, 3, 4).unwrap());
    c.attributes.insert(
        "lastUpdatedDateTime".into(),
        Value::DateTime(Utc.with_ymd_and_hms(2026, 4, 26, 8, 30, 0).unwrap()),
    );
    c.attributes
        .insert("manager".into(), Value::Reference("ffff".into()));
    c.attributes.insert("mobilePhone".into(), Value::Null);
    c
}

#[test]
fn change_json_is_exact_and_ordered() {
    let json = serde_json::to_string(&sample_change()).unwrap();
    assert_eq!(
        json,
        r#"{"objectType":"User","changeType":"Upsert","externalId":"0123456789abcdef0123456789abcdef","attributes":{"accountEnabled":true,"firstName":"José","hireDate":"2019-03-04","lastUpdatedDateTime":"2026-04-26T08:30:00.000Z","manager":"ffff","mobilePhone":null}}"#
    );
}

#[test]
fn change_json_round_trips_through_the_schema() {
    let change = sample_change();
    let json = serde_json::to_string(&change).unwrap();
    assert_eq!(user_schema().parse_change(&json).unwrap(), change);

    let mut delete = Change::new("User", "x", ChangeKind::Delete);
    delete
        .attributes
        .insert("accountEnabled".into(), Value::Bool(false));
    let json = serde_json::to_string(&delete).unwrap();
    assert_eq!(
        json,
        r#"{"objectType":"User","changeType":"Delete","externalId":"x","attributes":{"accountEnabled":false}}"#
    );
    assert_eq!(user_schema().parse_change(&json).unwrap(), delete);
}

#[test]
fn parse_change_rejects_what_the_schema_does_not_allow() {
    let schema = user_schema();
    let err = |json: &str| schema.parse_change(json).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"objectType":"Group","changeType":"Upsert","externalId":"a","attributes":{}}"#),
        "invalid change: unknown object type \"Group\""
    );
    assert_eq!(
        err(
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"payRate":"1"}}"#
        ),
        "invalid change: attribute \"payRate\" is not in the schema of User"
    );
    assert_eq!(
        err(
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"hireDate":"04/03/2019"}}"#
        ),
        "invalid change: attribute \"hireDate\": expected a date YYYY-MM-DD, got \"04/03/2019\""
    );
    assert_eq!(
        err(
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"accountEnabled":"yes"}}"#
        ),
        "invalid change: attribute \"accountEnabled\": expected a boolean, got a string"
    );
    assert!(
        err(r#"{"objectType":"User","changeType":"Merge","externalId":"a"}"#)
            .contains("unknown variant `Merge`")
    );
}

#[test]
fn outcome_json_is_exact_and_round_trips() {
    let mut counts = Counts::default();
    counts.add("User", ChangeKind::Upsert);
    counts.add("User", ChangeKind::Upsert);
    counts.add("User", ChangeKind::Delete);
    counts.add("OrgUnit", ChangeKind::Upsert);
    let outcome = ImportOutcome {
        watermark: Some(
            r#"{"w":"2026-04-26T08:30:00.000Z","o":"2026-04-26T08:25:00.000Z"}"#.into(),
        ),
        complete: true,
        counts,
        record_errors: vec![],
        warnings: vec![],
    };
    let json = serde_json::to_string(&outcome).unwrap();
    assert_eq!(
        json,
        r#"{"watermark":"{\"w\":\"2026-04-26T08:30:00.000Z\",\"o\":\"2026-04-26T08:25:00.000Z\"}","complete":true,"counts":{"OrgUnit":{"Upsert":1,"Delete":0},"User":{"Upsert":2,"Delete":1}},"recordErrors":[]}"#
    );
    let back: ImportOutcome = serde_json::from_str(&json).unwrap();
    assert_eq!(back, outcome);
    assert_eq!(back.counts.of("User").deletes, 1);
    assert_eq!(back.counts.of("Position"), KindCounts::default());
}

#[test]
fn record_errors_block_the_watermark() {
    let mut outcome = ImportOutcome {
        watermark: Some("w".into()),
        ..ImportOutcome::default()
    };
    assert_eq!(outcome.committable_watermark(), Some("w"));
    outcome.record_errors.push(RecordError {
        object_type: "User".into(),
        position: 17,
        external_id: Some("abc".into()),
        field: Some("hireDate".into()),
        message: "expected a date YYYY-MM-DD, got 42".into(),
    });
    assert_eq!(outcome.committable_watermark(), None);
    assert_eq!(
        outcome.record_errors[0].to_string(),
        "User record at position 17 (id abc), field hireDate: expected a date YYYY-MM-DD, got 42"
    );
    assert_eq!(
        serde_json::to_string(&outcome.record_errors[0]).unwrap(),
        r#"{"objectType":"User","position":17,"externalId":"abc","field":"hireDate","message":"expected a date YYYY-MM-DD, got 42"}"#
    );
}

#[test]
fn error_kinds_classify_retryability() {
    let retryable = [
        ErrorKind::RateLimit,
        ErrorKind::Server,
        ErrorKind::Transport,
    ];
    let final_ = [
        ErrorKind::Configuration,
        ErrorKind::Secret,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::BadResponse,
        ErrorKind::BadRecord,
        ErrorKind::Watermark,
        ErrorKind::Cancelled,
        ErrorKind::Sink,
    ];
    for k in retryable {
        assert!(ConnectorError::new(k, "x").is_retryable(), "{k}");
    }
    for k in final_ {
        assert!(!ConnectorError::new(k, "x").is_retryable(), "{k}");
    }
    let e = ConnectorError::new(ErrorKind::Server, "bad gateway").with_retryable(false);
    assert!(!e.is_retryable());
    assert_eq!(ConnectorError::cancelled().kind(), ErrorKind::Cancelled);
}

#[test]
fn error_json_round_trips_without_the_source() {
    let e = ConnectorError::new(
        ErrorKind::RateLimit,
        "Workday asked to wait 120 s, more than the 30 s cap",
    )
    .with_retry_after(Duration::from_secs(120))
    .with_source(std::io::Error::other("inner"));
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"RateLimit","retryable":true,"message":"Workday asked to wait 120 s, more than the 30 s cap","retryAfterSeconds":120.0}"#
    );
    let back: ConnectorError = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.retry_after(), Some(Duration::from_secs(120)));
    assert!(std::error::Error::source(&e).is_some());

    let cfg = ConnectorError::configuration(vec![
        ConfigProblem {
            key: "PageSize".into(),
            message: "must be between 1 and 100, got 500".into(),
        },
        ConfigProblem {
            key: "PageSise".into(),
            message: "unknown key".into(),
        },
    ]);
    assert_eq!(
        cfg.to_string(),
        "Configuration: invalid configuration: PageSize: must be between 1 and 100, got 500; PageSise: unknown key"
    );
    let back: ConnectorError = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back.problems().len(), 2);
    assert_eq!(back.problems()[1].key, "PageSise");
}

#[test]
fn an_unknown_error_kind_keeps_its_name_through_a_round_trip() {
    let json = r#"{"kind":"SomethingNew","retryable":false,"message":"the tenant is frozen","addedLater":{"x":1}}"#;
    let e: ConnectorError = serde_json::from_str(json).unwrap();
    assert_eq!(e.kind(), ErrorKind::Unknown);
    assert_eq!(e.kind_name(), "SomethingNew");
    assert!(!e.is_retryable());
    assert_eq!(e.to_string(), "SomethingNew: the tenant is frozen");
    // Passed on (say, by an engine relaying it), it is the same error.
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"kind":"SomethingNew","retryable":false,"message":"the tenant is frozen"}"#
    );
    assert_ne!(
        e,
        ConnectorError::new(ErrorKind::Unknown, "the tenant is frozen")
    );
    // Every known kind reads back as itself.
    for kind in ErrorKind::KNOWN {
        assert_eq!(ErrorKind::from_name(kind.as_str()), kind);
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
    }
}

#[test]
fn fields_a_newer_peer_adds_to_a_change_are_ignored() {
    let json = r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"firstName":"Ada"},"sourceVersion":7}"#;
    let change = user_schema().parse_change(json).unwrap();
    assert_eq!(change.external_id, "a");
    assert_eq!(change.attributes["firstName"], Value::String("Ada".into()));
    assert_eq!(change.attributes.len(), 1);
}

#[test]
fn secret_refs_parse_strictly() {
    let r: SecretRef = "secret://workday/contoso_preview/clientsecret"
        .parse()
        .unwrap();
    assert_eq!(r.path(), "workday/contoso_preview/clientsecret");
    for bad in [
        "",
        "workday/x",
        "secret://",
        "secret://workday//x",
        "secret://workday/x/",
        "secret://work day/x",
        "https://workday/x",
    ] {
        let e = bad.parse::<SecretRef>().unwrap_err();
        assert!(
            matches!(e, SecretError::Malformed { .. }),
            "{bad:?} gave {e:?}"
        );
        assert!(e.to_string().starts_with("malformed secret reference"));
    }
}

#[tokio::test]
async fn secrets_do_not_leak_through_debug_or_display() {
    let value = "hunter2-very-secret";
    let secrets = StaticSecrets::new().with("secret://workday/t/clientsecret", value);
    let reference: SecretRef = "secret://workday/t/clientsecret".parse().unwrap();
    let resolved = secrets.resolve(&reference).await.unwrap();
    assert_eq!(resolved.expose_secret(), value);
    assert!(!format!("{resolved:?}").contains(value));
    assert!(!format!("{secrets:?}").contains(value));
    assert!(format!("{secrets:?}").contains("secret://workday/t/clientsecret"));

    let missing: SecretRef = "secret://workday/other/clientsecret".parse().unwrap();
    let e = secrets.resolve(&missing).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "secret secret://workday/other/clientsecret could not be resolved: the in-memory secret set has no such reference"
    );
}

#[test]
fn schema_json_is_stable() {
    let schema = Schema {
        object_types: vec![ObjectTypeSchema {
            name: "OrgUnit".into(),
            anchor: "id".into(),
            attributes: vec![
                AttributeSchema::new("name", ValueKind::String, "org name"),
                AttributeSchema::new(
                    "parentOrganizationId",
                    ValueKind::Reference {
                        object_type: "OrgUnit".into(),
                    },
                    "parent",
                ),
            ],
        }],
    };
    let json = serde_json::to_string(&schema).unwrap();
    assert_eq!(
        json,
        r#"{"objectTypes":[{"name":"OrgUnit","anchor":"id","attributes":[{"name":"name","kind":"string","description":"org name"},{"name":"parentOrganizationId","kind":"reference","objectType":"OrgUnit","description":"parent"}]}]}"#
    );
    assert_eq!(serde_json::from_str::<Schema>(&json).unwrap(), schema);
}

#[test]
fn run_context_shares_cancellation_and_metrics() {
    let ctx = RunContext::new();
    let other = ctx.clone();
    other.metrics().add_request();
    other.metrics().add_request();
    other.metrics().add_retry();
    other.metrics().add_page(100);
    assert_eq!(
        ctx.metrics().snapshot(),
        MetricsSnapshot {
            requests: 2,
            retries: 1,
            pages: 1,
            records: 100
        }
    );
    assert!(!ctx.is_cancelled());
    other.cancel();
    assert!(ctx.is_cancelled());
}

/// A date serializes as `%Y-%m-%d` for every year chrono supports (four
/// digits, zero-padded; a sign outside 0..=9999), as the contract says.
#[test]
fn a_date_serializes_as_year_month_day_for_every_year() {
    for (y, m, d, want) in [
        (2019, 3, 4, "2019-03-04"),
        (999, 12, 31, "0999-12-31"),
        (9999, 1, 1, "9999-01-01"),
        (0, 1, 1, "0000-01-01"),
        (10000, 1, 1, "+10000-01-01"),
        (-1, 6, 30, "-0001-06-30"),
    ] {
        let v = Value::date(y, m, d).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{want}\""));
        let Value::Date(date) = v else { unreachable!() };
        assert_eq!(date.format("%Y-%m-%d").to_string(), want, "as strftime");
    }
}
