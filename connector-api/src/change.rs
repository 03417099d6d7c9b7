//! Changes: what a connector streams to the engine.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::schema::{ObjectTypeSchema, Schema, ValueKind};
use crate::text::Text;

/// A typed attribute value.
///
/// In the change JSON a value is written as a plain JSON scalar: text and
/// references as strings, booleans as booleans, dates as `YYYY-MM-DD`,
/// date-times as `YYYY-MM-DDTHH:MM:SS.sssZ`, and [`Value::Null`] as `null`.
/// The schema's [`ValueKind`] says how to read it back.
///
/// ```
/// use connector_api::Value;
/// let v = Value::date(2024, 2, 29).unwrap();
/// assert_eq!(serde_json::to_string(&v).unwrap(), "\"2024-02-29\"");
/// assert_eq!(serde_json::to_string(&Value::Null).unwrap(), "null");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The source sent the field without a value.
    Null,
    /// Free text.
    String(Text),
    /// A boolean.
    Bool(bool),
    /// A calendar date.
    Date(NaiveDate),
    /// An instant, always in UTC.
    DateTime(DateTime<Utc>),
    /// The external id of another object.
    Reference(Text),
}

impl Value {
    /// A date value, or `None` when the date does not exist.
    pub fn date(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).map(Value::Date)
    }

    /// Whether this value is of `kind` (a [`Value::Null`] is of every kind).
    pub fn is_of_kind(&self, kind: &ValueKind) -> bool {
        matches!(
            (self, kind),
            (Value::Null, _)
                | (Value::String(_), ValueKind::String)
                | (Value::Bool(_), ValueKind::Bool)
                | (Value::Date(_), ValueKind::Date)
                | (Value::DateTime(_), ValueKind::DateTime)
                | (Value::Reference(_), ValueKind::Reference { .. })
        )
    }

    /// Reads the JSON form of a value of `kind`.
    ///
    /// # Errors
    /// A message saying what was expected when `json` is not a value of `kind`.
    ///
    /// ```
    /// use connector_api::{Value, ValueKind};
    /// let v = Value::from_json(&ValueKind::Bool, &serde_json::json!(true)).unwrap();
    /// assert_eq!(v, Value::Bool(true));
    /// assert!(Value::from_json(&ValueKind::Date, &serde_json::json!("31.12.2024")).is_err());
    /// ```
    pub fn from_json(kind: &ValueKind, json: &serde_json::Value) -> Result<Self, String> {
        use serde_json::Value as J;
        match (kind, json) {
            (_, J::Null) => Ok(Value::Null),
            (ValueKind::String, J::String(s)) => Ok(Value::String(Text::new(s))),
            (ValueKind::Reference { .. }, J::String(s)) => Ok(Value::Reference(Text::new(s))),
            (ValueKind::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
            (ValueKind::Date, J::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Value::Date)
                .map_err(|_| format!("expected a date YYYY-MM-DD, got {s:?}")),
            (ValueKind::DateTime, J::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Value::DateTime(t.with_timezone(&Utc)))
                .map_err(|_| format!("expected an ISO 8601 date-time, got {s:?}")),
            (kind, other) => Err(format!(
                "expected {}, got {}",
                kind_name(kind),
                json_type_name(other)
            )),
        }
    }

    /// [`Value::from_json`] for an owned `json`: strings are moved, not copied.
    pub(crate) fn from_json_owned(
        kind: &ValueKind,
        json: serde_json::Value,
    ) -> Result<Self, String> {
        use serde_json::Value as J;
        match (kind, json) {
            (ValueKind::String, J::String(s)) => Ok(Value::String(s.into())),
            (ValueKind::Reference { .. }, J::String(s)) => Ok(Value::Reference(s.into())),
            (kind, json) => Value::from_json(kind, &json),
        }
    }
}

fn kind_name(kind: &ValueKind) -> &'static str {
    match kind {
        ValueKind::String => "a string",
        ValueKind::Bool => "a boolean",
        ValueKind::Date => "a date string",
        ValueKind::DateTime => "a date-time string",
        ValueKind::Reference { .. } => "a reference id string",
    }
}

/// The JSON type of `v` in words, for error messages.
pub(crate) fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_none(),
            Value::String(s) | Value::Reference(s) => serializer.serialize_str(s),
            Value::Bool(b) => serializer.serialize_bool(*b),
            // `YYYY-MM-DD`, as `NaiveDate`'s `Display` writes it. Written
            // whole for the years 0 to 9999: `Display` goes through
            // serde_json's escaping a few characters at a time, about ten
            // times the instructions; it still writes the years beyond.
            Value::Date(d) => match ascii(iso_date(d).as_ref()) {
                Some(text) => serializer.serialize_str(text),
                None => serializer.collect_str(d),
            },
            // `YYYY-MM-DDTHH:MM:SS.sssZ`, as chrono's RFC 3339 writes it
            // with milliseconds; written whole for the years 0 to 9999
            // (chrono's formatting takes ~700 instructions and a `String`),
            // by chrono beyond them and for a leap second.
            Value::DateTime(t) => match ascii(iso_date_time(t).as_ref()) {
                Some(text) => serializer.serialize_str(text),
                None => serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            },
        }
    }
}

/// The text a fast path wrote, as a `&str` (`None` when it wrote none).
fn ascii<const N: usize>(text: Option<&[u8; N]>) -> Option<&str> {
    std::str::from_utf8(text?).ok()
}

/// Writes each `(at, number, digits)`: `number`'s last `digits` decimal
/// digits into `text` from `at`.
fn put_digits(text: &mut [u8], fields: &[(usize, u32, usize)]) {
    for &(at, number, digits) in fields {
        let mut n = number;
        for i in (at..at + digits).rev() {
            // A digit: `n % 10` is below 10.
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
}

/// `date` as the ASCII bytes of `YYYY-MM-DD`, for the years 0 to 9999.
fn iso_date(date: &NaiveDate) -> Option<[u8; 10]> {
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let mut text = *b"0000-00-00";
    put_digits(
        &mut text,
        &[(0, year, 4), (5, date.month(), 2), (8, date.day(), 2)],
    );
    Some(text)
}

/// `t` as the ASCII bytes of `YYYY-MM-DDTHH:MM:SS.sssZ`, for the years 0
/// to 9999 and outside a leap second.
fn iso_date_time(t: &DateTime<Utc>) -> Option<[u8; 24]> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    put_digits(
        &mut text,
        &[
            (0, year, 4),
            (5, t.month(), 2),
            (8, t.day(), 2),
            (11, t.hour(), 2),
            (14, t.minute(), 2),
            (17, t.second(), 2),
            (20, nanos / 1_000_000, 3),
        ],
    );
    Some(text)
}

pub use crate::attributes::Attributes;

/// Whether a change creates/updates an object or deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    /// Create the object or replace its attributes (idempotent).
    Upsert,
    /// The object is gone or must be treated as gone (e.g. a terminated worker).
    Delete,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Upsert => "Upsert",
            ChangeKind::Delete => "Delete",
        })
    }
}

/// One change to one object.
///
/// Its JSON form is part of the contract: one object with the keys
/// `objectType`, `changeType`, `externalId` and `attributes`, in that order.
///
/// ```
/// use connector_api::{Change, ChangeKind, Value};
/// let mut change = Change::new("User", "abc", ChangeKind::Upsert);
/// change.attributes.insert("firstName".into(), Value::String("Ada".into()));
/// assert_eq!(
///     serde_json::to_string(&change).unwrap(),
///     r#"{"objectType":"User","changeType":"Upsert","externalId":"abc","attributes":{"firstName":"Ada"}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The object type, one of the schema's.
    pub object_type: String,
    /// Upsert or delete.
    #[serde(rename = "changeType")]
    pub kind: ChangeKind,
    /// The object's anchor in the source.
    pub external_id: String,
    /// The object's attributes. A delete may carry them too.
    pub attributes: Attributes,
}

impl Change {
    /// A change with no attributes yet.
    pub fn new(
        object_type: impl Into<String>,
        external_id: impl Into<String>,
        kind: ChangeKind,
    ) -> Self {
        Self {
            object_type: object_type.into(),
            kind,
            external_id: external_id.into(),
            attributes: Attributes::new(),
        }
    }
}

/// Why a change's JSON could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid change: {0}")]
pub struct ChangeParseError(pub String);

/// A change as written in JSON, before typing. Fields this build does not
/// know are ignored (a newer peer may add optional ones).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawChange {
    object_type: String,
    change_type: ChangeKind,
    external_id: String,
    #[serde(default)]
    attributes: RawAttributes,
}

/// Attributes in JSON order, values untyped.
#[derive(Default)]
struct RawAttributes(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for RawAttributes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAttributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(RawAttributes(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Where typing looks up an attribute's kind: an object type of a
/// [`Schema`], or an index of one.
pub(crate) trait AttributeKinds {
    /// The kind of the attribute `name`, if the object type declares it.
    fn kind_of(&self, name: &str) -> Option<&ValueKind>;
}

impl AttributeKinds for ObjectTypeSchema {
    fn kind_of(&self, name: &str) -> Option<&ValueKind> {
        self.attribute(name).map(|a| &a.kind)
    }
}

impl RawChange {
    /// The object type named by the change, for looking its kinds up.
    pub(crate) fn object_type(&self) -> &str {
        &self.object_type
    }

    /// Types the change with `kinds`, its object type's attribute kinds
    /// (`None`: the object type is unknown). The one typing of a change:
    /// [`Schema::parse_change`] and the plugin client's fast path both use it.
    pub(crate) fn typed<K: AttributeKinds + ?Sized>(
        self,
        kinds: Option<&K>,
    ) -> Result<Change, ChangeParseError> {
        let kinds = kinds.ok_or_else(|| {
            ChangeParseError(format!("unknown object type {:?}", self.object_type))
        })?;
        let mut attributes = Attributes::new();
        for (name, json) in self.attributes.0 {
            let kind = kinds.kind_of(&name).ok_or_else(|| {
                ChangeParseError(format!(
                    "attribute {name:?} is not in the schema of {}",
                    self.object_type
                ))
            })?;
            let value = Value::from_json_owned(kind, json)
                .map_err(|e| ChangeParseError(format!("attribute {name:?}: {e}")))?;
            attributes.insert(Cow::Owned(name), value);
        }
        Ok(Change {
            object_type: self.object_type,
            kind: self.change_type,
            external_id: self.external_id,
            attributes,
        })
    }
}

impl Schema {
    /// Reads a change from its JSON form, typing each attribute by this schema.
    /// Fields of the change this build does not know are ignored.
    ///
    /// # Errors
    /// [`ChangeParseError`] when the JSON is not a change, the object type or an
    /// attribute is not in the schema, or a value is not of its attribute's kind.
    pub fn parse_change(&self, json: &str) -> Result<Change, ChangeParseError> {
        let raw: RawChange =
            serde_json::from_str(json).map_err(|e| ChangeParseError(e.to_string()))?;
        self.type_raw(raw)
    }

    /// Like [`Schema::parse_change`], from an already parsed JSON value.
    ///
    /// # Errors
    /// As [`Schema::parse_change`].
    pub fn parse_change_value(&self, json: serde_json::Value) -> Result<Change, ChangeParseError> {
        let raw: RawChange =
            serde_json::from_value(json).map_err(|e| ChangeParseError(e.to_string()))?;
        self.type_raw(raw)
    }

    fn type_raw(&self, raw: RawChange) -> Result<Change, ChangeParseError> {
        let kinds = self.object_type(raw.object_type());
        raw.typed(kinds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A date is written as `NaiveDate`'s `Display` writes it, inside
        /// the fast path's years and beyond them (chrono's own text).
        #[test]
        fn a_date_is_written_as_chrono_displays_it(days in -4_000_000i32..4_000_000) {
            let date = NaiveDate::from_num_days_from_ce_opt(days).unwrap();
            let json = serde_json::to_string(&Value::Date(date)).unwrap();
            prop_assert_eq!(json, format!("\"{date}\""));
        }
    }

    proptest! {
        /// A date-time is written as chrono's RFC 3339 with milliseconds
        /// writes it, inside the fast path's years and beyond them, leap
        /// seconds included.
        #[test]
        fn a_date_time_is_written_as_chrono_writes_it(
            secs in -200_000_000_000i64..300_000_000_000,
            nanos in 0u32..2_000_000_000,
        ) {
            let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) else {
                return Ok(());
            };
            let json = serde_json::to_string(&Value::DateTime(t)).unwrap();
            prop_assert_eq!(json, format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Millis, true)));
        }
    }

    #[test]
    fn date_times_at_the_edges() {
        for (secs, nanos, text) in [
            (0, 0, "\"1970-01-01T00:00:00.000Z\""),
            (1_764_700_000, 999_999_999, "\"2025-12-02T18:26:40.999Z\""),
            (253_402_300_799, 1_000_000, "\"9999-12-31T23:59:59.001Z\""),
            (-62_167_219_200, 0, "\"0000-01-01T00:00:00.000Z\""),
            (253_402_300_800, 0, "\"+10000-01-01T00:00:00.000Z\""),
        ] {
            let t = DateTime::<Utc>::from_timestamp(secs, nanos).unwrap();
            assert_eq!(
                serde_json::to_string(&Value::DateTime(t)).unwrap(),
                text,
                "{secs}"
            );
        }
    }

    #[test]
    fn dates_at_the_edges_of_four_digit_years() {
        for (y, m, d, text) in [
            (0, 1, 1, "\"0000-01-01\""),
            (9999, 12, 31, "\"9999-12-31\""),
            (2026, 2, 9, "\"2026-02-09\""),
            (10000, 1, 1, "\"+10000-01-01\""),
            (-1, 12, 31, "\"-0001-12-31\""),
        ] {
            let value = Value::date(y, m, d).unwrap();
            assert_eq!(serde_json::to_string(&value).unwrap(), text, "{y}-{m}-{d}");
        }
    }
}
