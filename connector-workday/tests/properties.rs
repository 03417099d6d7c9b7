//! Property tests of every parser that sees outside input: the watermark
//! codec, the record mapping, configuration validation and Retry-After.
//! Any input gives a value or a clear error, never a panic.

#![allow(clippy::unwrap_used)] // strategies and helpers outside #[test] fns

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};
use connector_api::{ChangeKind, Value};
use connector_workday::config::{ExternalIdAttribute, WorkdayConfig};
use connector_workday::mapping::{map_org, map_worker};
use connector_workday::retry::parse_retry_after;
use connector_workday::watermark::{canonical, decode, encode, Watermark};
use proptest::prelude::*;
use serde_json::{json, Value as Json};

/// Any JSON value, nested a few levels.
fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Json::String),
        // Strings that look like the values the mapping parses.
        prop_oneof![
            Just("2026-04-26T08:30:00.000Z".to_string()),
            Just("2026-04-26".to_string()),
            Just("Terminated".to_string()),
            Just("Active".to_string()),
            "[0-9a-f]{32}",
        ]
        .prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names: mostly the ones the mapping reads, some unknown.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "id", "descriptor", "employeeNumber", "companyEmployeeId", "firstName", "lastName",
            "preferredName", "email", "workEmail", "primaryWorkEmail", "workPhone",
            "primaryWorkPhone", "mobilePhone", "workerType", "employmentStatus", "jobTitle",
            "jobProfile", "businessTitle", "costCenter", "costCenterCode", "companyCode",
            "legalEntity", "supervisor", "manager", "primarySupervisoryOrganization",
            "primaryWorkerSupervisoryOrganization", "location", "locationCode", "country",
            "region", "hireDate", "terminationDate", "lastUpdatedDateTime", "lastUpdatedBy",
            "payRate", "name", "code", "parentOrganization", "parentOrganizationId", "href",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z]{1,12}",
    ]
}

/// A record that is an object with a valid id and arbitrary other fields.
fn arb_record() -> impl Strategy<Value = Json> {
    (
        "[0-9a-f]{32}",
        prop::collection::btree_map(field_name(), arb_json(), 0..12),
    )
        .prop_map(|(id, fields)| {
            let mut m: serde_json::Map<String, Json> = fields.into_iter().collect();
            m.insert("id".into(), Json::String(id));
            Json::Object(m)
        })
}

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    // 1970 .. 2200, millisecond precision.
    (0i64..7_258_118_400_000).prop_map(|ms| Utc.timestamp_millis_opt(ms).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn watermark_decode_never_panics(s in ".{0,80}") {
        let _ = decode(Some(&s));
    }

    #[test]
    fn watermark_decode_of_json_shapes_never_panics(v in arb_json()) {
        let _ = decode(Some(&v.to_string()));
    }

    #[test]
    fn watermark_round_trips(w in proptest::option::of(arb_time()), o in proptest::option::of(arb_time())) {
        let mark = Watermark { workers: w, organizations: o };
        let encoded = encode(&mark);
        prop_assert_eq!(decode(Some(&encoded)).unwrap(), mark);
        // Canonical form: re-encoding the decoded value gives the same bytes.
        prop_assert_eq!(encode(&decode(Some(&encoded)).unwrap()), encoded);
    }

    #[test]
    fn legacy_bare_time_starts_both_feeds(t in arb_time()) {
        let decoded = decode(Some(&canonical(t))).unwrap();
        prop_assert_eq!(decoded.workers, Some(t));
        prop_assert_eq!(decoded.organizations, Some(t));
    }

    #[test]
    fn mapping_any_json_gives_a_change_or_a_record_error(v in arb_json()) {
        let _ = map_worker(&v, ExternalIdAttribute::Id);
        let _ = map_worker(&v, ExternalIdAttribute::EmployeeNumber);
        let _ = map_org(&v);
    }

    #[test]
    fn mapping_a_record_with_an_id_never_emits_pay_or_unknown_fields(record in arb_record()) {
        if let Ok(change) = map_worker(&record, ExternalIdAttribute::Id) {
            prop_assert_eq!(change.object_type.as_str(), "User");
            prop_assert_eq!(change.external_id.as_str(), record["id"].as_str().unwrap());
            prop_assert!(!change.attributes.contains_key("payRate"));
            prop_assert!(!change.attributes.contains_key("href"));
            // Delete exactly when the status is Terminated; never from a missing value.
            let terminated = record
                .get("employmentStatus")
                .and_then(|s| s.as_str().or_else(|| s.get("descriptor").and_then(Json::as_str)))
                .is_some_and(|s| s.eq_ignore_ascii_case("terminated"));
            prop_assert_eq!(change.kind == ChangeKind::Delete, terminated);
            if change.kind == ChangeKind::Delete {
                prop_assert_eq!(change.attributes.get("IsDeleted"), Some(&Value::Bool(true)));
            }
        }
        if let Ok(change) = map_org(&record) {
            prop_assert_eq!(change.object_type.as_str(), "OrgUnit");
            prop_assert!(!change.attributes.contains_key("href"));
        }
    }

    #[test]
    fn config_validation_never_panics(fields in prop::collection::btree_map(
        prop_oneof![
            3 => prop::sample::select(vec![
                "TenantHost", "TenantName", "Realm", "PageSize", "ImportWorkers",
                "ImportOrganizations", "ImportPositions", "ExternalIdAttribute", "ClientId",
                "GrantType", "RefreshTokenRef", "MaxConcurrentRequests", "MaxRequestsPerHour",
                "RequestTimeoutSeconds", "DeltaOverlapSeconds", "BaseUrl",
            ]).prop_map(str::to_string),
            1 => "[A-Za-z]{1,12}",
        ],
        arb_json(),
        0..10,
    )) {
        let config = Json::Object(fields.into_iter().collect()).to_string();
        if let Err(problems) = WorkdayConfig::parse(&config) {
            prop_assert!(!problems.is_empty());
            for p in problems {
                prop_assert!(!p.key.is_empty());
                prop_assert!(!p.message.is_empty());
            }
        }
    }

    #[test]
    fn config_validation_of_any_text_never_panics(s in ".{0,60}") {
        let _ = WorkdayConfig::parse(&s);
    }

    #[test]
    fn retry_after_never_panics(s in ".{0,40}") {
        let _ = parse_retry_after(&s, SystemTime::now());
    }

    #[test]
    fn retry_after_seconds_parse_exactly(n in 0u64..1_000_000) {
        prop_assert_eq!(
            parse_retry_after(&n.to_string(), SystemTime::now()),
            Some(Duration::from_secs(n))
        );
    }

    #[test]
    fn retry_after_digits_of_any_length_saturate(s in "[0-9]{1,38}") {
        // Never absent: a value too large for u64 is the largest wait, so
        // the retry loop refuses it as above the cap.
        let exact: u128 = s.parse().unwrap();
        let expected = u64::try_from(exact).unwrap_or(u64::MAX);
        prop_assert_eq!(
            parse_retry_after(&s, SystemTime::now()),
            Some(Duration::from_secs(expected))
        );
    }

    #[test]
    fn retry_after_http_dates_parse_to_the_gap(gap in 0u64..100_000) {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let date = httpdate_fmt(now + Duration::from_secs(gap));
        prop_assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(gap)));
    }
}

fn httpdate_fmt(t: SystemTime) -> String {
    let dt: DateTime<Utc> = t.into();
    dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[test]
fn a_valid_minimal_config_parses() {
    let config = json!({
        "TenantHost": "wd5-impl-services1.workday.com",
        "TenantName": "contoso_preview",
        "ClientId": "abc",
    });
    let parsed = WorkdayConfig::parse(&config.to_string()).unwrap();
    assert_eq!(parsed.realm, "contoso_preview");
    assert_eq!(parsed.page_size, 100);
}
