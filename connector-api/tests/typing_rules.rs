//! docs/plugin-protocol.md, "Typing rules a host must enforce": each rule
//! the document states, against the contract's typing
//! (`Schema::parse_change`, which the plugin client's fast path matches).

#![allow(clippy::unwrap_used)]

use connector_api::{AttributeSchema, ObjectTypeSchema, Schema, Value, ValueKind};

fn schema() -> Schema {
    Schema {
        object_types: vec![ObjectTypeSchema {
            name: "User".into(),
            anchor: "id".into(),
            attributes: vec![
                AttributeSchema::new("name", ValueKind::String, ""),
                AttributeSchema::new("active", ValueKind::Bool, ""),
                AttributeSchema::new("hired", ValueKind::Date, ""),
                AttributeSchema::new("seen", ValueKind::DateTime, ""),
                AttributeSchema::new(
                    "manager",
                    ValueKind::Reference {
                        object_type: "User".into(),
                    },
                    "",
                ),
            ],
        }],
    }
}

/// The change `{"objectType":"User",...,"attributes":{name: value}}`.
fn change(name: &str, value: &str) -> String {
    format!(
        r#"{{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{{"{name}":{value}}}}}"#
    )
}

fn accepted(name: &str, value: &str) -> Value {
    let c = schema()
        .parse_change(&change(name, value))
        .unwrap_or_else(|e| panic!("{name}={value}: {e}"));
    c.attributes[name].clone()
}

fn rejected(name: &str, value: &str) -> String {
    match schema().parse_change(&change(name, value)) {
        Ok(c) => panic!("{name}={value} was accepted as {:?}", c.attributes[name]),
        Err(e) => e.to_string(),
    }
}

#[test]
fn null_is_a_value_of_every_kind_and_differs_from_absent() {
    for name in ["name", "active", "hired", "seen", "manager"] {
        assert_eq!(accepted(name, "null"), Value::Null, "{name}");
    }
    let absent = schema()
        .parse_change(r#"{"objectType":"User","changeType":"Upsert","externalId":"a"}"#)
        .unwrap();
    assert!(absent.attributes.is_empty());
}

#[test]
fn strings_booleans_and_references_take_their_json_type_only() {
    assert_eq!(accepted("name", r#""Ada""#), Value::String("Ada".into()));
    assert_eq!(accepted("active", "true"), Value::Bool(true));
    assert_eq!(
        accepted("manager", r#""w-1""#),
        Value::Reference("w-1".into())
    );
    assert!(rejected("active", r#""true""#).contains("expected a boolean, got a string"));
    assert!(rejected("active", "1").contains("expected a boolean, got a number"));
    assert!(rejected("name", "1").contains("expected a string, got a number"));
    assert!(rejected("name", "[]").contains("got an array"));
    assert!(rejected("manager", "7").contains("expected a reference id string, got a number"));
    assert!(rejected("manager", r#"{"id":"w-1"}"#).contains("got an object"));
}

#[test]
fn dates_are_real_calendar_days_without_a_time() {
    assert_eq!(
        accepted("hired", r#""2024-02-29""#),
        Value::date(2024, 2, 29).unwrap()
    );
    for bad in [
        r#""2023-02-29""#,
        r#""2024-02-29T00:00:00Z""#,
        r#""29.02.2024""#,
    ] {
        assert!(
            rejected("hired", bad).contains("expected a date YYYY-MM-DD"),
            "{bad}"
        );
    }
}

#[test]
fn date_times_need_an_offset_and_become_utc() {
    let utc = accepted("seen", r#""2024-01-01T10:00:00Z""#);
    assert_eq!(accepted("seen", r#""2024-01-01T12:00:00+02:00""#), utc);
    assert_eq!(accepted("seen", r#""2024-01-01T10:00:00.000000Z""#), utc);
    // Written back as YYYY-MM-DDTHH:MM:SS.sssZ.
    assert_eq!(
        serde_json::to_string(&accepted("seen", r#""2024-01-01T12:00:00.5+02:00""#)).unwrap(),
        r#""2024-01-01T10:00:00.500Z""#
    );
    for bad in [r#""2024-01-01T10:00:00""#, r#""2024-01-01""#] {
        assert!(
            rejected("seen", bad).contains("expected an ISO 8601 date-time"),
            "{bad}"
        );
    }
}

#[test]
fn unknown_attributes_are_errors_but_unknown_change_fields_are_ignored() {
    assert!(
        rejected("salary", r#""1""#).contains("attribute \"salary\" is not in the schema of User")
    );
    let c = schema()
        .parse_change(
            r#"{"objectType":"User","changeType":"Delete","externalId":"a","addedLater":{"x":1}}"#,
        )
        .unwrap();
    assert_eq!(c.external_id, "a");
}
