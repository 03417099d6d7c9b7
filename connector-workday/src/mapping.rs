//! Workday records to changes: Worker → `User`, Supervisory Organization →
//! `OrgUnit`, by the tables in [`WORKER_FIELDS`] and [`ORG_FIELDS`] (which
//! also generate the schema, so the two cannot drift apart).
//!
//! Rules:
//! - Only the fields in the tables are read; everything else, `payRate` and
//!   all compensation included, is ignored and never copied, logged or stored.
//! - A field that is absent, `null` or an empty string is *absent*: the
//!   attribute is not emitted (Workday's REST collections omit empty pairs).
//! - Reference objects `{"id", "descriptor"}` become the `id` for
//!   relationship fields and the `descriptor` for label fields; a plain
//!   string is taken as is.
//! - Where a field has several spellings (`workEmail` / `primaryWorkEmail`),
//!   the first present one is used.
//! - `employmentStatus` (case-insensitive): `Active` → `accountEnabled=true`,
//!   `IsDeleted=false`, Upsert; `Terminated` → a Delete carrying
//!   `IsDeleted=true`, `accountEnabled=false`; any other status →
//!   `accountEnabled=false`, `IsDeleted=false`, Upsert; no status → Upsert
//!   without `accountEnabled` or `IsDeleted` (unknown, never a deletion).
//! - A wrong type, an unreadable date, or a missing id is a [`MappingError`]
//!   naming the field; its message never quotes the record's values.

use chrono::{DateTime, NaiveDate, Utc};
use connector_api::{Change, ChangeKind, RecordError, Value};
use serde_json::{Map, Value as Json};

use crate::config::ExternalIdAttribute;

/// How a source field becomes an attribute value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A string, taken as is.
    Text,
    /// A string, or a reference object's `descriptor`.
    Label,
    /// A worker id: a string, or a reference object's `id` (→ `User`).
    UserRef,
    /// An organization id: a string, or a reference object's `id` (→ `OrgUnit`).
    OrgRef,
    /// A date `YYYY-MM-DD` (a trailing zone or time is dropped).
    Date,
    /// An ISO 8601 date-time with a zone, emitted in UTC.
    DateTime,
}

/// One row of a mapping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The emitted attribute.
    pub attribute: &'static str,
    /// The Workday fields read, first present wins.
    pub sources: &'static [&'static str],
    /// How the value is read.
    pub kind: FieldKind,
    /// A one-line description for operators.
    pub description: &'static str,
}

const fn rule(
    attribute: &'static str,
    sources: &'static [&'static str],
    kind: FieldKind,
    description: &'static str,
) -> FieldRule {
    FieldRule {
        attribute,
        sources,
        kind,
        description,
    }
}

use FieldKind::{Date, DateTime as Dt, Label, OrgRef, Text, UserRef};

/// Worker → `User` (besides `ExternalId`, `accountEnabled` and `IsDeleted`).
pub const WORKER_FIELDS: &[FieldRule] = &[
    rule(
        "workerType",
        &["workerType"],
        Label,
        "\"Employee\" / \"Contingent Worker\"",
    ),
    rule(
        "employmentStatus",
        &["employmentStatus"],
        Label,
        "\"Active\", \"On Leave\", \"Terminated\"",
    ),
    rule("firstName", &["firstName"], Text, "legal first name"),
    rule("lastName", &["lastName"], Text, "legal last name"),
    rule("preferredName", &["preferredName"], Text, "preferred name"),
    rule("email", &["email"], Text, "email address"),
    rule(
        "workEmail",
        &["workEmail", "primaryWorkEmail"],
        Text,
        "primary work email",
    ),
    rule(
        "workPhone",
        &["workPhone", "primaryWorkPhone"],
        Text,
        "primary work phone",
    ),
    rule("mobilePhone", &["mobilePhone"], Text, "mobile phone"),
    rule(
        "employeeNumber",
        &["employeeNumber"],
        Text,
        "employee number; a typical join key",
    ),
    rule(
        "companyEmployeeId",
        &["companyEmployeeId"],
        Text,
        "company employee id; a typical join key",
    ),
    rule("jobTitle", &["jobTitle"], Text, "job title"),
    rule("jobProfile", &["jobProfile"], Label, "job profile name"),
    rule("businessTitle", &["businessTitle"], Text, "business title"),
    rule("costCenter", &["costCenter"], Label, "cost center name"),
    rule(
        "costCenterCode",
        &["costCenterCode"],
        Text,
        "cost center code",
    ),
    rule("companyCode", &["companyCode"], Text, "company code"),
    rule(
        "legalEntity",
        &["legalEntity"],
        Label,
        "legal entity (company) name",
    ),
    rule(
        "manager",
        &["supervisor", "manager"],
        UserRef,
        "the manager's worker id",
    ),
    rule(
        "primaryWorkerSupervisoryOrganization",
        &[
            "primaryWorkerSupervisoryOrganization",
            "primarySupervisoryOrganization",
        ],
        OrgRef,
        "the worker's primary supervisory organization",
    ),
    rule("location", &["location"], Label, "work location name"),
    rule(
        "locationCode",
        &["locationCode"],
        Text,
        "work location code",
    ),
    rule("country", &["country"], Label, "country"),
    rule("region", &["region"], Label, "region"),
    rule(
        "hireDate",
        &["hireDate"],
        Date,
        "hire date (the latest, for a rehire)",
    ),
    rule(
        "terminationDate",
        &["terminationDate"],
        Date,
        "termination date",
    ),
    rule(
        "lastUpdatedDateTime",
        &["lastUpdatedDateTime"],
        Dt,
        "last change in Workday (UTC); drives delta sync",
    ),
    rule(
        "lastUpdatedBy",
        &["lastUpdatedBy"],
        Label,
        "who changed the worker last",
    ),
];

/// Supervisory Organization → `OrgUnit` (besides `ExternalId`).
pub const ORG_FIELDS: &[FieldRule] = &[
    rule("name", &["name"], Text, "organization name"),
    rule("code", &["code"], Text, "organization code"),
    rule(
        "parentOrganizationId",
        &["parentOrganizationId", "parentOrganization"],
        OrgRef,
        "the parent organization; absent for a top-level organization",
    ),
    rule(
        "manager",
        &["manager"],
        UserRef,
        "worker id of the organization's manager",
    ),
    rule(
        "lastUpdatedDateTime",
        &["lastUpdatedDateTime"],
        Dt,
        "last change in Workday (UTC); drives delta sync",
    ),
];

/// `User`'s derived `accountEnabled` attribute.
pub const ACCOUNT_ENABLED: &str = "accountEnabled";
/// `User`'s derived `IsDeleted` attribute.
pub const IS_DELETED: &str = "IsDeleted";
/// The attribute (and source field) that drives delta sync.
pub const LAST_UPDATED: &str = "lastUpdatedDateTime";

/// Why one record could not be mapped. Its message names the field and what
/// was expected, never the record's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MappingError {
    /// The record's external id, when it had a usable one.
    pub external_id: Option<String>,
    /// The Workday field to blame, when one is.
    pub field: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl MappingError {
    /// The per-record error of `object_type` at `position` in its feed.
    pub fn into_record_error(self, object_type: &str, position: u64) -> RecordError {
        RecordError {
            object_type: object_type.to_string(),
            position,
            external_id: self.external_id,
            field: self.field,
            message: self.message,
        }
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A present value: not absent, not null, not an empty string.
fn present<'a>(record: &'a Map<String, Json>, field: &str) -> Option<&'a Json> {
    match record.get(field) {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if s.trim().is_empty() => None,
        Some(v) => Some(v),
    }
}

/// Reads a value by `kind`; `Err` holds what was expected.
fn read(kind: FieldKind, v: &Json) -> Result<Option<Value>, String> {
    let reference_part = |key: &str| -> Result<Option<String>, String> {
        match v {
            Json::String(s) => Ok(Some(s.clone())),
            Json::Object(o) => match o.get(key) {
                Some(Json::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
                None | Some(Json::Null) => Err(format!(
                    "expected a string or a reference object holding \"{key}\", got an object without it"
                )),
                Some(Json::String(_)) => Ok(None),
                Some(other) => Err(format!(
                    "expected the reference object's \"{key}\" to be a string, got {}",
                    json_type(other)
                )),
            },
            other => Err(format!(
                "expected a string or a reference object {{\"id\", \"descriptor\"}}, got {}",
                json_type(other)
            )),
        }
    };
    match kind {
        Text => match v {
            Json::String(s) => Ok(Some(Value::String(s.clone()))),
            other => Err(format!("expected a string, got {}", json_type(other))),
        },
        Label => Ok(reference_part("descriptor")?.map(Value::String)),
        UserRef | OrgRef => Ok(reference_part("id")?.map(Value::Reference)),
        Date => match v {
            Json::String(s) => parse_date(s)
                .map(|d| Some(Value::Date(d)))
                .ok_or_else(|| "expected an ISO 8601 date YYYY-MM-DD, got a string that is not one".to_string()),
            other => Err(format!("expected a date string YYYY-MM-DD, got {}", json_type(other))),
        },
        Dt => match v {
            Json::String(s) => parse_date_time(s)
                .map(|t| Some(Value::DateTime(t)))
                .ok_or_else(|| "expected an ISO 8601 date-time with a time zone (e.g. 2026-04-26T08:30:00.000Z), got a string that is not one".to_string()),
            other => Err(format!("expected a date-time string, got {}", json_type(other))),
        },
    }
}

/// Parses `YYYY-MM-DD`, also with a trailing zone (`Z`, `-07:00`) or a time.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10)?;
    let date = NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()?;
    let rest = &s[10..];
    let ok = rest.is_empty()
        || rest == "Z"
        || ((rest.starts_with('+') || rest.starts_with('-'))
            && chrono::NaiveTime::parse_from_str(&format!("{}:00", &rest[1..]), "%H:%M:%S")
                .is_ok())
        || (rest.starts_with('T') && parse_date_time(s).is_some());
    ok.then_some(date)
}

/// Parses an RFC 3339 / ISO 8601 date-time with a zone (any offset, any
/// fraction) into UTC.
pub fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The record's `lastUpdatedDateTime`, when present and readable.
pub fn last_updated(record: &Json) -> Option<DateTime<Utc>> {
    record
        .get(LAST_UPDATED)
        .and_then(Json::as_str)
        .and_then(parse_date_time)
}

fn apply_rules(
    record: &Map<String, Json>,
    rules: &[FieldRule],
    external_id: &str,
    change: &mut Change,
) -> Result<(), MappingError> {
    for r in rules {
        let Some((field, v)) = r
            .sources
            .iter()
            .find_map(|f| present(record, f).map(|v| (*f, v)))
        else {
            continue;
        };
        match read(r.kind, v) {
            Ok(Some(value)) => {
                change.attributes.insert(r.attribute.to_string(), value);
            }
            Ok(None) => {}
            Err(expected) => {
                return Err(MappingError {
                    external_id: Some(external_id.to_string()),
                    field: Some(field.to_string()),
                    message: format!(
                        "field {field:?} ({}): {expected}; the record was skipped - correct it in Workday, the next run picks it up",
                        r.attribute
                    ),
                })
            }
        }
    }
    Ok(())
}

fn object_and_id<'a>(
    record: &'a Json,
    id_field: &str,
    what: &str,
) -> Result<(&'a Map<String, Json>, String), MappingError> {
    let Json::Object(obj) = record else {
        return Err(MappingError {
            external_id: None,
            field: None,
            message: format!(
                "the {what} record is {}, not a JSON object; the record was skipped",
                json_type(record)
            ),
        });
    };
    let id = match obj.get(id_field) {
        Some(Json::String(s)) if !s.trim().is_empty() => s.clone(),
        None | Some(Json::Null) | Some(Json::String(_)) => {
            return Err(MappingError {
                external_id: None,
                field: Some(id_field.to_string()),
                message: format!(
                    "the {what} record has no usable {id_field:?} (the external id); the record was skipped"
                ),
            })
        }
        Some(other) => {
            return Err(MappingError {
                external_id: None,
                field: Some(id_field.to_string()),
                message: format!(
                    "the {what} record's {id_field:?} (the external id) must be a non-empty string, got {}; the record was skipped",
                    json_type(other)
                ),
            })
        }
    };
    Ok((obj, id))
}

/// Maps one worker record to a `User` change.
///
/// ```
/// use connector_api::{ChangeKind, Value};
/// use connector_workday::config::ExternalIdAttribute;
/// use connector_workday::mapping::map_worker;
/// let w = serde_json::json!({
///     "id": "3aa5550b7fe348b98d7b5741afc65534",
///     "employmentStatus": "Terminated",
///     "supervisor": {"id": "0c1d", "descriptor": "Ada Lovelace"},
///     "payRate": {"amount": 1}
/// });
/// let c = map_worker(&w, ExternalIdAttribute::Id).unwrap();
/// assert_eq!(c.kind, ChangeKind::Delete);
/// assert_eq!(c.attributes["IsDeleted"], Value::Bool(true));
/// assert_eq!(c.attributes["manager"], Value::Reference("0c1d".into()));
/// assert!(!c.attributes.contains_key("payRate"));
/// ```
///
/// # Errors
/// [`MappingError`] when the record is not an object, has no usable external
/// id, or a mapped field has the wrong type or an unreadable date.
pub fn map_worker(record: &Json, external_id: ExternalIdAttribute) -> Result<Change, MappingError> {
    let (obj, id) = object_and_id(record, external_id.field(), "worker")?;
    let mut change = Change::new("User", id.clone(), ChangeKind::Upsert);
    apply_rules(obj, WORKER_FIELDS, &id, &mut change)?;
    let status = match change.attributes.get("employmentStatus") {
        Some(Value::String(s)) => Some(s.trim().to_ascii_lowercase()),
        _ => None,
    };
    match status.as_deref() {
        None => {}
        Some("terminated") => {
            change.kind = ChangeKind::Delete;
            change
                .attributes
                .insert(IS_DELETED.into(), Value::Bool(true));
            change
                .attributes
                .insert(ACCOUNT_ENABLED.into(), Value::Bool(false));
        }
        Some(s) => {
            change
                .attributes
                .insert(ACCOUNT_ENABLED.into(), Value::Bool(s == "active"));
            change
                .attributes
                .insert(IS_DELETED.into(), Value::Bool(false));
        }
    }
    Ok(change)
}

/// Maps one supervisory organization record to an `OrgUnit` change (always
/// an Upsert; its external id is always `id`).
///
/// ```
/// use connector_api::Value;
/// use connector_workday::mapping::map_org;
/// let o = serde_json::json!({"id": "org1", "name": "Sales", "parentOrganization": {"id": "org0"}});
/// let c = map_org(&o).unwrap();
/// assert_eq!(c.attributes["parentOrganizationId"], Value::Reference("org0".into()));
/// ```
///
/// # Errors
/// As [`map_worker`].
pub fn map_org(record: &Json) -> Result<Change, MappingError> {
    let (obj, id) = object_and_id(record, "id", "supervisory organization")?;
    let mut change = Change::new("OrgUnit", id.clone(), ChangeKind::Upsert);
    apply_rules(obj, ORG_FIELDS, &id, &mut change)?;
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates() {
        let d = |s| parse_date(s).map(|d| d.to_string());
        assert_eq!(d("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(d("2024-02-29Z").as_deref(), Some("2024-02-29"));
        assert_eq!(d("2024-02-29-07:00").as_deref(), Some("2024-02-29"));
        assert_eq!(
            d("2024-02-29T23:00:00-07:00").as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(d("2023-02-29"), None);
        assert_eq!(d("29.02.2024"), None);
        assert_eq!(d("2024-02-29junk"), None);
        assert_eq!(d("2024-02-2"), None);
    }

    #[test]
    fn date_times_are_instants() {
        let a = parse_date_time("2026-04-26T10:30:00.5+02:00").unwrap();
        let b = parse_date_time("2026-04-26T08:30:00.500Z").unwrap();
        assert_eq!(a, b);
        assert!(parse_date_time("2026-04-26T08:30:00").is_none());
    }

    #[test]
    fn first_spelling_wins_and_invalid_first_is_an_error() {
        let c = map_worker(
            &json!({"id": "a", "workEmail": "w@x", "primaryWorkEmail": "p@x"}),
            ExternalIdAttribute::Id,
        )
        .unwrap();
        assert_eq!(c.attributes["workEmail"], Value::String("w@x".into()));
        let e = map_worker(
            &json!({"id": "a", "supervisor": 5, "manager": "m"}),
            ExternalIdAttribute::Id,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("supervisor"));
    }

    #[test]
    fn errors_never_quote_values() {
        let e = map_worker(
            &json!({"id": "a", "hireDate": "SECRET-VALUE"}),
            ExternalIdAttribute::Id,
        )
        .unwrap_err();
        assert!(!e.message.contains("SECRET-VALUE"), "{}", e.message);
    }
}
