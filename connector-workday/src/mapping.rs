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
//! - Where a field has several spellings (`workEmail` / `primaryWorkEmail`,
//!   `employeeNumber` / `workerID` / `workerId`, an organization's `name` /
//!   `descriptor`), the first present one is used; so is it for the
//!   `ExternalIdAttribute` a worker is anchored on.
//! - A worker's `descriptor` (its full name, the only name Workday's
//!   published REST collection carries) becomes `displayName`; `isManager`
//!   must be a JSON boolean.
//! - `employmentStatus` (case-insensitive): `Active` → `accountEnabled=true`,
//!   `IsDeleted=false`, Upsert; `Terminated` → a Delete carrying
//!   `IsDeleted=true`, `accountEnabled=false`; any other status →
//!   `accountEnabled=false`, `IsDeleted=false`, Upsert; no status → Upsert
//!   without `accountEnabled` or `IsDeleted` (unknown, never a deletion).
//! - A wrong type, an unreadable date, or a missing id is a [`MappingError`]
//!   naming the field; its message never quotes the record's values.

use std::borrow::Cow;
use std::sync::LazyLock;

use chrono::format::{Item, Numeric, Pad, Parsed};
use chrono::{DateTime, NaiveDate, Utc};
use connector_api::{Attributes, Change, ChangeKind, RecordError, Text, Value};

use crate::config::ExternalIdAttribute;
use crate::record::{FieldValue, Fields, KnownField, Part};

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
    /// A JSON boolean.
    Bool,
}

/// One row of a mapping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldRule {
    /// The emitted attribute.
    pub attribute: &'static str,
    /// The Workday fields read, first present wins; empty means the field
    /// named like the attribute (see [`FieldRule::sources`]).
    aliases: &'static [&'static str],
    /// How the value is read.
    pub kind: FieldKind,
    /// A one-line description for operators.
    pub description: &'static str,
    /// What an import loses when no record of a feed carries the field
    /// (`{feed}` stands for the feed's noun); `None` for a field a tenant
    /// may well leave empty. A feed that lacks such a field entirely is
    /// reported in the run's warnings (see `coverage`).
    pub when_absent: Option<&'static str>,
}

impl FieldRule {
    /// The Workday fields read, in order (the first present one wins).
    pub fn sources(&self) -> &[&'static str] {
        if self.aliases.is_empty() {
            std::slice::from_ref(&self.attribute)
        } else {
            self.aliases
        }
    }

    /// The same rule, read from the first present of `sources` instead of
    /// the field named like the attribute.
    const fn from(self, sources: &'static [&'static str]) -> FieldRule {
        FieldRule {
            aliases: sources,
            ..self
        }
    }

    /// The same rule, marked as one whose absence from a whole feed costs
    /// `loss`.
    const fn needed(self, loss: &'static str) -> FieldRule {
        FieldRule {
            when_absent: Some(loss),
            ..self
        }
    }
}

/// Defines one constructor a kind (`text("firstName", "...")`), so that each
/// table row names its kind first; the rule reads the Workday field named
/// like the attribute until [`FieldRule::from`] says otherwise.
macro_rules! kind_constructors {
    ($($name:ident: $kind:ident),* $(,)?) => {$(
        const fn $name(attribute: &'static str, description: &'static str) -> FieldRule {
            FieldRule {
                attribute,
                aliases: &[],
                kind: FieldKind::$kind,
                description,
                when_absent: None,
            }
        }
    )*};
}

kind_constructors!(
    text: Text,
    label: Label,
    user_ref: UserRef,
    org_ref: OrgRef,
    date: Date,
    date_time: DateTime,
    boolean: Bool,
);

const NO_NAMES: &str = "users have no first or last name";
const NO_DELTAS: &str = "every delta re-reads all {feed}";

/// Worker → `User` (besides `ExternalId`, `accountEnabled` and `IsDeleted`).
///
/// Workday's published `common/v1` workers collection carries `id`,
/// `descriptor`, `href`, `workerID` (or `workerId`), `primaryWorkEmail`,
/// `primaryWorkPhone`, `businessTitle`, `isManager`,
/// `primarySupervisoryOrganization` and `location`, all mapped here; the
/// other rows are read from richer sources (custom reports, the SOAP API).
// One row a line: the tables read as tables.
#[rustfmt::skip]
pub const WORKER_FIELDS: &[FieldRule] = &[
    label("workerType", "\"Employee\" / \"Contingent Worker\""),
    label("employmentStatus", "\"Active\", \"On Leave\", \"Terminated\"").needed("terminations cannot be seen"),
    text("firstName", "legal first name").needed(NO_NAMES),
    text("lastName", "legal last name").needed(NO_NAMES),
    text("preferredName", "preferred name"),
    text("displayName", "full name as Workday shows it (its `descriptor`)").from(&["descriptor"]),
    text("email", "email address"),
    text("workEmail", "primary work email").from(&["workEmail", "primaryWorkEmail"]),
    text("workPhone", "primary work phone").from(&["workPhone", "primaryWorkPhone"]),
    text("mobilePhone", "mobile phone"),
    text("employeeNumber", "employee number (or `workerID`); a typical join key").from(&["employeeNumber", "workerID", "workerId"]),
    text("companyEmployeeId", "company employee id; a typical join key"),
    text("jobTitle", "job title"),
    label("jobProfile", "job profile name"),
    text("businessTitle", "business title"),
    boolean("isManager", "true when the worker manages a supervisory organization"),
    label("costCenter", "cost center name"),
    text("costCenterCode", "cost center code"),
    text("companyCode", "company code"),
    label("legalEntity", "legal entity (company) name"),
    user_ref("manager", "the manager's worker id").from(&["supervisor", "manager"]),
    org_ref("primaryWorkerSupervisoryOrganization", "the worker's primary supervisory organization").from(&["primaryWorkerSupervisoryOrganization", "primarySupervisoryOrganization"]),
    label("location", "work location name"),
    text("locationCode", "work location code"),
    label("country", "country"),
    label("region", "region"),
    date("hireDate", "hire date (the latest, for a rehire)"),
    date("terminationDate", "termination date"),
    date_time("lastUpdatedDateTime", "last change in Workday (UTC); drives delta sync").needed(NO_DELTAS),
    label("lastUpdatedBy", "who changed the worker last"),
];

/// Supervisory Organization → `OrgUnit` (besides `ExternalId`). A published
/// `supervisoryOrganizations` record carries only `id`, `descriptor` and
/// `href`, so `descriptor` stands in for a missing `name`.
#[rustfmt::skip]
pub const ORG_FIELDS: &[FieldRule] = &[
    text("name", "organization name (or its `descriptor`)").from(&["name", "descriptor"]).needed("organizations have no name"),
    text("code", "organization code"),
    org_ref("parentOrganizationId", "the parent organization; absent for a top-level organization").from(&["parentOrganizationId", "parentOrganization"]),
    user_ref("manager", "worker id of the organization's manager"),
    date_time("lastUpdatedDateTime", "last change in Workday (UTC); drives delta sync").needed(NO_DELTAS),
];

/// `User`'s derived `accountEnabled` attribute.
pub const ACCOUNT_ENABLED: &str = "accountEnabled";
/// `User`'s derived `IsDeleted` attribute.
pub const IS_DELETED: &str = "IsDeleted";
/// The attribute (and source field) that drives delta sync.
pub const LAST_UPDATED: &str = "lastUpdatedDateTime";
/// The organization field that, when `true`, makes an organization a
/// Delete (only the SOAP source sends it).
pub const INACTIVE: &str = "inactive";

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

/// A present value: not absent, not null, not an empty string.
fn present(value: Option<FieldValue<'_>>) -> Option<FieldValue<'_>> {
    match value? {
        FieldValue::Null => None,
        FieldValue::String(s) if blank(&s) => None,
        v => Some(v),
    }
}

/// Whether `s` is empty or only whitespace (`s.trim().is_empty()`, deciding
/// at the first non-blank character).
fn blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// A string, or a reference object's `key` (`"id"` or `"descriptor"`);
/// `Ok(None)` for an empty one. `Err` holds what was expected.
fn reference_part(v: FieldValue<'_>, key: &str) -> Result<Option<Text>, String> {
    match v {
        FieldValue::String(s) => Ok(Some(s.into())),
        FieldValue::Object { id, descriptor } => match if key == "id" { id } else { descriptor } {
            Part::String(s) if !blank(&s) => Ok(Some(s.into())),
            Part::Absent => Err(format!(
                "expected a string or a reference object holding \"{key}\", got an object without it"
            )),
            Part::String(_) => Ok(None),
            Part::Other(other) => Err(format!(
                "expected the reference object's \"{key}\" to be a string, got {other}"
            )),
        },
        other => Err(format!(
            "expected a string or a reference object {{\"id\", \"descriptor\"}}, got {}",
            other.type_name()
        )),
    }
}

/// Reads a value by `kind`; `Err` holds what was expected.
fn read(kind: FieldKind, v: FieldValue<'_>) -> Result<Option<Value>, String> {
    let type_name = v.type_name();
    match kind {
        FieldKind::Text => match v {
            FieldValue::String(s) => Ok(Some(Value::String(s.into()))),
            _ => Err(format!("expected a string, got {type_name}")),
        },
        FieldKind::Label => Ok(reference_part(v, "descriptor")?.map(Value::String)),
        FieldKind::UserRef | FieldKind::OrgRef => Ok(reference_part(v, "id")?.map(Value::Reference)),
        FieldKind::Date => match v {
            FieldValue::String(s) => parse_date(&s)
                .map(|d| Some(Value::Date(d)))
                .ok_or_else(|| "expected an ISO 8601 date YYYY-MM-DD, got a string that is not one".to_string()),
            _ => Err(format!("expected a date string YYYY-MM-DD, got {type_name}")),
        },
        FieldKind::Bool => match v {
            FieldValue::Bool(b) => Ok(Some(Value::Bool(b))),
            _ => Err(format!("expected true or false, got {type_name}")),
        },
        FieldKind::DateTime => match v {
            FieldValue::String(s) => parse_date_time(&s)
                .map(|t| Some(Value::DateTime(t)))
                .ok_or_else(|| "expected an ISO 8601 date-time with a time zone (e.g. 2026-04-26T08:30:00.000Z), got a string that is not one".to_string()),
            _ => Err(format!("expected a date-time string, got {type_name}")),
        },
    }
}

/// Parses `YYYY-MM-DD`, also with a trailing zone (`Z`, `-07:00`) or a time.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10)?;
    // `NaiveDate::parse_from_str(head, "%Y-%m-%d")`, without parsing the
    // format string for every date.
    const YMD: &[Item<'static>] = &[
        Item::Numeric(Numeric::Year, Pad::Zero),
        Item::Literal("-"),
        Item::Numeric(Numeric::Month, Pad::Zero),
        Item::Literal("-"),
        Item::Numeric(Numeric::Day, Pad::Zero),
    ];
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, head, YMD.iter()).ok()?;
    let date = parsed.to_naive_date().ok()?;
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
pub fn last_updated<R: Fields + ?Sized>(record: &R) -> Option<DateTime<Utc>> {
    static FIELD: LazyLock<KnownField> = LazyLock::new(|| KnownField::new(LAST_UPDATED));
    match record.known_field(*FIELD)? {
        FieldValue::String(s) => parse_date_time(&s),
        _ => None,
    }
}

/// Every Workday field the mapping reads: the tables' sources, the ids and
/// the [`INACTIVE`] flag. A REST record keeps only these.
pub(crate) fn source_fields() -> impl Iterator<Item = &'static str> {
    WORKER_FIELDS
        .iter()
        .chain(ORG_FIELDS)
        .flat_map(FieldRule::sources)
        .copied()
        .chain(["id", INACTIVE])
}

/// A mapping table, resolved once for reading records: each rule's sources
/// as [`KnownField`]s, read without comparing names.
struct Table {
    rules: &'static [FieldRule],
    /// `sources[i]`: `rules[i].sources()`, resolved.
    sources: Vec<Vec<KnownField>>,
    /// The indexes of `rules` in the order of their attribute names: read
    /// in this order, each attribute is appended to the change's
    /// [`Attributes`] without a search.
    by_name: Vec<usize>,
}

impl Table {
    fn new(rules: &'static [FieldRule]) -> Table {
        let mut by_name: Vec<usize> = (0..rules.len()).collect();
        by_name.sort_by_key(|&i| rules[i].attribute);
        Table {
            rules,
            sources: rules
                .iter()
                .map(|r| r.sources().iter().map(|f| KnownField::new(f)).collect())
                .collect(),
            by_name,
        }
    }
}

static WORKER_TABLE: LazyLock<Table> = LazyLock::new(|| Table::new(WORKER_FIELDS));
static ORG_TABLE: LazyLock<Table> = LazyLock::new(|| Table::new(ORG_FIELDS));

/// Reads `table`'s rules from `record` (for the change with `external_id`)
/// in the order of their attribute names, so that each attribute is
/// appended to the map; the first rule (in table order) whose field is
/// unreadable is the error. `extra` is room for attributes the caller adds.
fn apply_rules<R: Fields + ?Sized>(
    record: &R,
    table: &Table,
    external_id: &str,
    extra: usize,
) -> Result<Attributes, MappingError> {
    let mut read_so_far = Attributes::with_capacity(table.rules.len() + extra);
    // The error of the first unreadable rule in table order, and its index.
    let mut unreadable: Option<(usize, MappingError)> = None;
    for &i in &table.by_name {
        let (r, sources) = (&table.rules[i], &table.sources[i]);
        let Some((field, v)) = sources
            .iter()
            .find_map(|f| present(record.known_field(*f)).map(|v| (f.name(), v)))
        else {
            continue;
        };
        match read(r.kind, v) {
            Ok(Some(value)) => {
                read_so_far.insert(Cow::Borrowed(r.attribute), value);
            }
            Ok(None) => {}
            Err(_) if unreadable.as_ref().is_some_and(|(first, _)| *first < i) => {}
            Err(expected) => {
                let error = MappingError {
                    external_id: Some(external_id.to_string()),
                    field: Some(field.to_string()),
                    message: format!(
                        "field {field:?} ({}): {expected}; the record was skipped - correct it in Workday, the next run picks it up",
                        r.attribute
                    ),
                };
                unreadable = Some((i, error));
            }
        }
    }
    match unreadable {
        Some((_, error)) => Err(error),
        None => Ok(read_so_far),
    }
}

/// The record's external id: the first present of `id_fields` (the
/// anchor's spellings), when the record is an object.
fn external_id<R: Fields + ?Sized>(
    record: &R,
    id_fields: &[&str],
    what: &str,
) -> Result<String, MappingError> {
    if let Some(json_type) = record.not_an_object() {
        return Err(MappingError {
            external_id: None,
            field: None,
            message: format!(
                "the {what} record is {json_type}, not a JSON object; the record was skipped"
            ),
        });
    }
    let found = id_fields
        .iter()
        .find_map(|f| present(record.field(f)).map(|v| (*f, v)));
    match found {
        Some((_, FieldValue::String(s))) => Ok(s.into_owned()),
        Some((field, other)) => Err(MappingError {
            external_id: None,
            field: Some(field.to_string()),
            message: format!(
                "the {what} record's {field:?} (the external id) must be a non-empty string, got {}; the record was skipped",
                other.type_name()
            ),
        }),
        None => {
            let names = id_fields
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(" or ");
            Err(MappingError {
                external_id: None,
                field: id_fields.first().map(|f| f.to_string()),
                message: format!(
                    "the {what} record has no usable {names} (the external id); the record was skipped"
                ),
            })
        }
    }
}

/// The Workday fields a worker's external id is read from: `id`, or the
/// spellings of the anchor's row in [`WORKER_FIELDS`].
fn anchor_fields(external_id: ExternalIdAttribute) -> &'static [&'static str] {
    let field = external_id.field();
    WORKER_FIELDS
        .iter()
        .find(|r| r.attribute == field)
        .map_or(&["id"], |r| r.sources())
}

/// A worker's `employmentStatus`, as far as the derived attributes go.
enum Status {
    Active,
    Terminated,
    Other,
}

/// Maps one worker record (a JSON object, or any [`Fields`]) to a `User`
/// change.
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
pub fn map_worker<R: Fields + ?Sized>(
    record: &R,
    external_id: ExternalIdAttribute,
) -> Result<Change, MappingError> {
    let id = self::external_id(record, anchor_fields(external_id), "worker")?;
    let mut read = apply_rules(record, &WORKER_TABLE, &id, 2)?;
    let mut change = Change::new("User", id, ChangeKind::Upsert);
    let status = match read.get("employmentStatus") {
        Some(Value::String(s)) => Some(match s.trim() {
            s if s.eq_ignore_ascii_case("active") => Status::Active,
            s if s.eq_ignore_ascii_case("terminated") => Status::Terminated,
            _ => Status::Other,
        }),
        _ => None,
    };
    let derived = match status {
        None => None,
        Some(Status::Terminated) => {
            change.kind = ChangeKind::Delete;
            Some((false, true))
        }
        Some(status) => Some((matches!(status, Status::Active), false)),
    };
    if let Some((enabled, deleted)) = derived {
        read.insert(ACCOUNT_ENABLED.into(), Value::Bool(enabled));
        read.insert(IS_DELETED.into(), Value::Bool(deleted));
    }
    change.attributes = read;
    Ok(change)
}

/// Maps one supervisory organization record (a JSON object, or any
/// [`Fields`]) to an `OrgUnit` change (always an Upsert; its external id is
/// always `id`).
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
pub fn map_org<R: Fields + ?Sized>(record: &R) -> Result<Change, MappingError> {
    let id = external_id(record, &["id"], "supervisory organization")?;
    let attributes = apply_rules(record, &ORG_TABLE, &id, 0)?;
    let mut change = Change::new("OrgUnit", id, ChangeKind::Upsert);
    change.attributes = attributes;
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

    /// Rules are read in attribute-name order, but of several unreadable
    /// fields the error names the first in table order: `firstName` (3rd
    /// rule) before `email` (7th), though `email` sorts first.
    #[test]
    fn of_several_unreadable_fields_the_first_in_table_order_is_the_error() {
        let e = map_worker(
            &json!({"id": "a", "email": 1, "firstName": true, "hireDate": "x"}),
            ExternalIdAttribute::Id,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("firstName"));
        assert_eq!(e.external_id.as_deref(), Some("a"));
        assert!(
            e.message
                .starts_with("field \"firstName\" (firstName): expected a string, got a boolean"),
            "{}",
            e.message
        );
        let e = map_worker(
            &json!({"id": "a", "email": 1, "hireDate": "x"}),
            ExternalIdAttribute::Id,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("email"));
    }

    /// The map built from the rules read in name order, plus the derived
    /// attributes, is the one a map filled rule by rule would be.
    #[test]
    fn attributes_come_out_whole_and_sorted() {
        let c = map_worker(
            &json!({"id": "a", "workerType": {"descriptor": "Employee"}, "employmentStatus": "Terminated",
                    "firstName": "Zoë", "supervisor": {"id": "m1"}, "hireDate": "2020-01-31"}),
            ExternalIdAttribute::Id,
        )
        .unwrap();
        assert_eq!(c.kind, ChangeKind::Delete);
        let names: Vec<&str> = c.attributes.keys().map(|k| k.as_ref()).collect();
        assert_eq!(
            names,
            [
                "IsDeleted",
                "accountEnabled",
                "employmentStatus",
                "firstName",
                "hireDate",
                "manager",
                "workerType"
            ]
        );
        assert_eq!(c.attributes["IsDeleted"], Value::Bool(true));
        assert_eq!(c.attributes["accountEnabled"], Value::Bool(false));
        assert_eq!(c.attributes["manager"], Value::Reference("m1".into()));
        assert_eq!(c.attributes["hireDate"], Value::date(2020, 1, 31).unwrap());
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
