//! Records as the mapping reads them: [`Fields`], one field at a time.
//!
//! Three sources implement it:
//! - a JSON object ([`serde_json::Value`] or its `Map`): the public
//!   [`map_worker`](crate::mapping::map_worker) /
//!   [`map_org`](crate::mapping::map_org) API;
//! - the SOAP source's `SoapRecord`: a `Worker` or `Organization`
//!   the SOAP source translated into the REST field names;
//! - [`RestRecord`], a record of a REST page read by [`RestPage::parse`]
//!   straight from the body: strings borrow from it, only the fields the
//!   mapping reads are kept, and everything else is skipped without being
//!   built (no `serde_json::Value` tree, no `String` a key).
//!
//! A known field keeps any JSON value, with its type, so that a value of the
//! wrong type is the record's [`MappingError`](crate::mapping::MappingError)
//! (naming the field), never the page's failure.

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value as Json};

/// Writes the `visit_*` methods of the scalars (and `null`) of a visitor
/// that answers `$value` for all of them.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// A record the mapping can read: a JSON object, or not one.
pub trait Fields {
    /// The record's JSON type in words (`"an array"`, ...) when it is not an
    /// object; `None` for an object.
    fn not_an_object(&self) -> Option<&'static str>;

    /// The field `name`: `None` when the record does not have it.
    fn field(&self, name: &str) -> Option<FieldValue<'_>>;

    /// The known field `field`, as [`Fields::field`] reads it by name. A
    /// [`RestRecord`] reads it from its slot, without comparing names.
    fn known_field(&self, field: KnownField) -> Option<FieldValue<'_>> {
        self.field(field.name())
    }
}

impl<T: Fields + ?Sized> Fields for &T {
    fn not_an_object(&self) -> Option<&'static str> {
        (**self).not_an_object()
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        (**self).field(name)
    }

    fn known_field(&self, field: KnownField) -> Option<FieldValue<'_>> {
        (**self).known_field(field)
    }
}

/// A Workday field the mapping reads, resolved once: its name and its slot
/// in a [`RestRecord`], so that reading it compares no strings.
///
/// ```
/// use connector_workday::record::{Fields, FieldValue, KnownField, RestPage};
/// let page = RestPage::parse(r#"{"total": 1, "data": [{"id": "a"}]}"#).unwrap();
/// let record = page.records().next().unwrap();
/// let id = KnownField::new("id");
/// assert_eq!(id.name(), "id");
/// assert_eq!(record.known_field(id), Some(FieldValue::String("a".into())));
/// // A field the mapping does not read is never kept.
/// assert_eq!(record.known_field(KnownField::new("payRate")), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownField {
    name: &'static str,
    /// Its slot; `usize::MAX` (no slot) for a field a REST record does not keep.
    slot: usize,
}

impl KnownField {
    /// The field `name`, resolved. A name the mapping does not read is
    /// absent from every [`RestRecord`].
    pub fn new(name: &'static str) -> KnownField {
        KnownField {
            name,
            slot: known(name).unwrap_or(usize::MAX),
        }
    }

    /// Its Workday name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// One field's value, as far as the mapping needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue<'a> {
    /// `null`.
    Null,
    /// A string.
    String(Cow<'a, str>),
    /// `true` or `false`.
    Bool(bool),
    /// An object: a reference object's `id` and `descriptor` (other keys are
    /// not read).
    Object {
        /// Its `"id"`.
        id: Part<'a>,
        /// Its `"descriptor"`.
        descriptor: Part<'a>,
    },
    /// Any other JSON value (a number, an array): its type in words.
    Other(&'static str),
}

/// The `id` or `descriptor` of an object value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<'a> {
    /// Absent, or `null`.
    Absent,
    /// A string.
    String(Cow<'a, str>),
    /// Another JSON value: its type in words.
    Other(&'static str),
}

impl FieldValue<'_> {
    /// The value's JSON type in words, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Null => "null",
            FieldValue::String(_) => "a string",
            FieldValue::Bool(_) => "a boolean",
            FieldValue::Object { .. } => "an object",
            FieldValue::Other(t) => t,
        }
    }

    /// The same value, borrowing from this one.
    fn reborrow(&self) -> FieldValue<'_> {
        match self {
            FieldValue::Null => FieldValue::Null,
            FieldValue::String(s) => FieldValue::String(Cow::Borrowed(s)),
            FieldValue::Bool(b) => FieldValue::Bool(*b),
            FieldValue::Object { id, descriptor } => FieldValue::Object {
                id: id.reborrow(),
                descriptor: descriptor.reborrow(),
            },
            FieldValue::Other(t) => FieldValue::Other(t),
        }
    }
}

impl Part<'_> {
    fn reborrow(&self) -> Part<'_> {
        match self {
            Part::Absent => Part::Absent,
            Part::String(s) => Part::String(Cow::Borrowed(s)),
            Part::Other(t) => Part::Other(t),
        }
    }
}

/// The JSON type of `v` in words, for error messages.
pub(crate) fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn json_part(v: Option<&Json>) -> Part<'_> {
    match v {
        None | Some(Json::Null) => Part::Absent,
        Some(Json::String(s)) => Part::String(Cow::Borrowed(s)),
        Some(other) => Part::Other(json_type(other)),
    }
}

impl Fields for Map<String, Json> {
    fn not_an_object(&self) -> Option<&'static str> {
        None
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        Some(match self.get(name)? {
            Json::Null => FieldValue::Null,
            Json::String(s) => FieldValue::String(Cow::Borrowed(s)),
            Json::Bool(b) => FieldValue::Bool(*b),
            Json::Object(o) => FieldValue::Object {
                id: json_part(o.get("id")),
                descriptor: json_part(o.get("descriptor")),
            },
            other => FieldValue::Other(json_type(other)),
        })
    }
}

impl Fields for Json {
    fn not_an_object(&self) -> Option<&'static str> {
        match self {
            Json::Object(_) => None,
            other => Some(json_type(other)),
        }
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        match self {
            Json::Object(o) => o.field(name),
            _ => None,
        }
    }
}

/// The fields a REST record keeps: every Workday field the mapping reads
/// (from its tables), each with its slot, grouped by length, and within a
/// length told apart by their first and last bytes first, so that a key is
/// compared with about one name (the ends of today's names of a length all
/// differ), and most unknown keys with none.
struct Known {
    names: Vec<&'static str>,
    /// `by_len[n]`: the names of length `n`, with their ends and slots.
    by_len: Vec<Vec<(Ends, &'static str, usize)>>,
}

/// A name's first and last bytes.
type Ends = (u8, u8);

fn ends(name: &str) -> Ends {
    let b = name.as_bytes();
    (
        b.first().copied().unwrap_or(0),
        b.last().copied().unwrap_or(0),
    )
}

static KNOWN: LazyLock<Known> = LazyLock::new(|| {
    let mut names: Vec<&'static str> = crate::mapping::source_fields().collect();
    names.sort_unstable();
    names.dedup();
    let mut by_len: Vec<Vec<(Ends, &'static str, usize)>> = Vec::new();
    for (slot, name) in names.iter().enumerate() {
        if by_len.len() <= name.len() {
            by_len.resize_with(name.len() + 1, Vec::new);
        }
        by_len[name.len()].push((ends(name), name, slot));
    }
    Known { names, by_len }
});

/// The slot of the known field `name`.
fn known(name: &str) -> Option<usize> {
    let ends = ends(name);
    KNOWN
        .by_len
        .get(name.len())?
        .iter()
        .find(|(e, n, _)| *e == ends && *n == name)
        .map(|(_, _, slot)| *slot)
}

/// One record of a REST page, borrowed from the page ([`RestPage::records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestRecord<'p> {
    /// An object: the value of each known field it has, by its index in the
    /// sorted list of known fields.
    Object(&'p [Option<FieldValue<'p>>]),
    /// Not an object: its JSON type in words.
    NotAnObject(&'static str),
}

impl Fields for RestRecord<'_> {
    fn not_an_object(&self) -> Option<&'static str> {
        match self {
            RestRecord::Object(_) => None,
            RestRecord::NotAnObject(t) => Some(t),
        }
    }

    fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        self.slot(known(name)?)
    }

    fn known_field(&self, field: KnownField) -> Option<FieldValue<'_>> {
        self.slot(field.slot)
    }
}

impl RestRecord<'_> {
    /// The value in slot `slot`, if the record has it.
    fn slot(&self, slot: usize) -> Option<FieldValue<'_>> {
        match self {
            RestRecord::Object(slots) => slots.get(slot)?.as_ref().map(|v| v.reborrow()),
            RestRecord::NotAnObject(_) => None,
        }
    }
}

/// One page of a REST collection, read from its body: `{"total": n,
/// "data": [record, ...]}` (other keys are skipped).
///
/// The known fields of all its records are kept in one allocation (a run of
/// slots a record), not one a record: a record's slots are about 2 KB, an
/// allocation large enough to make the allocator sort its free lists each
/// time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPage<'a> {
    /// The collection's `total` as this page reported it.
    pub total: u64,
    /// The object records' slots, [`Known::names`]' length a record.
    slots: Vec<Option<FieldValue<'a>>>,
    /// The records, in order.
    shapes: Vec<Shape>,
}

/// Where a record of a [`RestPage`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An object: the index of its first slot.
    Object(usize),
    /// Not an object: its JSON type in words.
    NotAnObject(&'static str),
}

impl<'a> RestPage<'a> {
    /// Reads a page from its body. `Err` says why it is not a page, in the
    /// words of a `BadResponse`'s reason.
    ///
    /// ```
    /// use connector_workday::record::{Fields, FieldValue, RestPage};
    /// let page = RestPage::parse(r#"{"total": 7, "data": [{"id": "a", "payRate": {"amount": 1}}, 5]}"#).unwrap();
    /// assert_eq!(page.total, 7);
    /// assert_eq!(page.len(), 2);
    /// let records: Vec<_> = page.records().collect();
    /// assert_eq!(records[0].field("id"), Some(FieldValue::String("a".into())));
    /// assert_eq!(records[0].field("payRate"), None);
    /// assert_eq!(records[1].not_an_object(), Some("a number"));
    /// assert!(RestPage::parse(r#"{"data": []}"#).unwrap_err().contains("no \"total\""));
    /// ```
    ///
    /// # Errors
    /// The body is not JSON, not an object, or lacks a whole `total` or a
    /// `data` array.
    pub fn parse(body: &'a str) -> Result<Self, String> {
        let envelope: Envelope<'a> =
            serde_json::from_str(body).map_err(|e| format!("the body is not JSON ({e})"))?;
        let Envelope::Object { total, data } = envelope else {
            return Err("expected a JSON object with \"total\" and \"data\"".into());
        };
        let total = match total {
            Some(Some(t)) => t,
            Some(None) => return Err("\"total\" is not a non-negative whole number".into()),
            None => return Err("it has no \"total\"".into()),
        };
        let Data { slots, shapes } = match data {
            Some(Some(d)) => d,
            Some(None) => return Err("\"data\" is not an array".into()),
            None => return Err("it has no \"data\"".into()),
        };
        Ok(RestPage {
            total,
            slots,
            shapes,
        })
    }

    /// How many records the page holds.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether the page holds no record.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    /// The page's records, in order.
    pub fn records(&self) -> impl ExactSizeIterator<Item = RestRecord<'_>> + '_ {
        let width = KNOWN.names.len();
        self.shapes.iter().map(move |shape| match *shape {
            Shape::Object(start) => {
                RestRecord::Object(self.slots.get(start..start + width).unwrap_or_default())
            }
            Shape::NotAnObject(t) => RestRecord::NotAnObject(t),
        })
    }
}

/// The page's top level: `total` (`Some(None)`: not a `u64`) and `data`
/// (`Some(None)`: not an array), as read, before the checks.
enum Envelope<'a> {
    Object {
        total: Option<Option<u64>>,
        data: Option<Option<Data<'a>>>,
    },
    NotAnObject,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a page")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut total, mut data) = (None, None);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match &*key.0 {
                        "total" => {
                            total = Some(match map.next_value::<Scalar<'de>>()? {
                                Scalar::U64(n) => Some(n),
                                _ => None,
                            })
                        }
                        "data" => data = Some(map.next_value::<DataOrNot<'de>>()?.0),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Envelope::Object { total, data })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Envelope::NotAnObject)
            }
            scalars_are!(Envelope::NotAnObject);
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor).map(Key)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

/// Any JSON value, classified: a whole number, a string, `null`, or another
/// type (read through and dropped).
enum Scalar<'a> {
    Null,
    U64(u64),
    String(Cow<'a, str>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Other("a boolean"))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U64(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(u64::try_from(n).map_or(Scalar::Other("a number"), Scalar::U64))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other("a number"))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::String(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Scalar::String(Cow::Owned(s.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| Scalar::Other("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny
                    .visit_map(map)
                    .map(|_| Scalar::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> From<Scalar<'a>> for Part<'a> {
    fn from(s: Scalar<'a>) -> Self {
        match s {
            Scalar::Null => Part::Absent,
            Scalar::String(s) => Part::String(s),
            Scalar::U64(_) => Part::Other("a number"),
            Scalar::Other(t) => Part::Other(t),
        }
    }
}

/// `data`'s records: the object records' slots and every record's shape.
struct Data<'a> {
    slots: Vec<Option<FieldValue<'a>>>,
    shapes: Vec<Shape>,
}

/// `data`: the records, or `None` when it is not an array.
struct DataOrNot<'a>(Option<Data<'a>>);

impl<'de> Deserialize<'de> for DataOrNot<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DataOrNot<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of records")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Sized for a page of 100 records (the default PageSize).
                let expected = seq.size_hint().unwrap_or(100).min(1000);
                let mut slots = Vec::with_capacity(expected * KNOWN.names.len());
                let mut shapes = Vec::with_capacity(expected);
                while let Some(shape) = seq.next_element_seed(RecordSeed(&mut slots))? {
                    shapes.push(shape);
                }
                Ok(DataOrNot(Some(Data { slots, shapes })))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                IgnoredAny.visit_map(map).map(|_| DataOrNot(None))
            }
            scalars_are!(DataOrNot(None));
        }
        d.deserialize_any(V)
    }
}

/// Reads one record of `data`: an object's known fields are appended to the
/// page's slots.
struct RecordSeed<'s, 'de>(&'s mut Vec<Option<FieldValue<'de>>>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        struct V<'s, 'de>(&'s mut Vec<Option<FieldValue<'de>>>);
        impl<'de> Visitor<'de> for V<'_, 'de> {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                let slots = self.0;
                let start = slots.len();
                slots.resize_with(start + KNOWN.names.len(), || None);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match known(&key.0) {
                        Some(i) => slots[start + i] = Some(map.next_value::<Value<'de>>()?.0),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Shape::Object(start))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape, A::Error> {
                IgnoredAny
                    .visit_seq(seq)
                    .map(|_| Shape::NotAnObject("an array"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::NotAnObject("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::NotAnObject("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::NotAnObject("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::NotAnObject("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::NotAnObject("a string"))
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::NotAnObject("null"))
            }
        }
        d.deserialize_any(V(self.0))
    }
}

/// A known field's value, read as a [`FieldValue`].
struct Value<'a>(FieldValue<'a>);

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::Null))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::Bool(b)))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::Other("a number")))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::Other("a number")))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::Other("a number")))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::String(Cow::Borrowed(s))))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Value(FieldValue::String(Cow::Owned(s.to_owned()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                IgnoredAny
                    .visit_seq(seq)
                    .map(|_| Value(FieldValue::Other("an array")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut id, mut descriptor) = (Part::Absent, Part::Absent);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match &*key.0 {
                        "id" => id = map.next_value::<Scalar<'de>>()?.into(),
                        "descriptor" => descriptor = map.next_value::<Scalar<'de>>()?.into(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Value(FieldValue::Object { id, descriptor }))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A REST record and the same JSON as a `serde_json::Value` read every
    /// field the same.
    #[test]
    fn a_rest_record_reads_like_its_json() {
        let record = json!({
            "id": "a\"b",
            "descriptor": "Zoë",
            "employmentStatus": null,
            "isManager": true,
            "hireDate": 20240101,
            "supervisor": {"id": "m", "descriptor": null, "href": "x"},
            "manager": {"id": 5, "other": [1, {"x": 2}]},
            "location": [],
            "payRate": {"amount": 1},
            "workEmail": ""
        });
        let body = json!({"total": 1, "extra": {"a": [1]}, "data": [record]}).to_string();
        let page = RestPage::parse(&body).unwrap();
        assert_eq!(page.total, 1);
        assert_eq!(page.len(), 1);
        let records: Vec<_> = page.records().collect();
        for name in &KNOWN.names {
            assert_eq!(records[0].field(name), record.field(name), "{name}");
            let known = KnownField::new(name);
            assert_eq!(records[0].known_field(known), record.field(name), "{name}");
            assert_eq!(record.known_field(known), record.field(name), "{name}");
        }
        // Fields the mapping does not read are not kept.
        for name in ["payRate", "href", "nope"] {
            assert_eq!(records[0].field(name), None, "{name}");
        }
        assert_eq!(
            records[0].field("manager"),
            Some(FieldValue::Object {
                id: Part::Other("a number"),
                descriptor: Part::Absent
            })
        );
        assert_eq!(records[0].not_an_object(), None);
    }

    #[test]
    fn records_that_are_not_objects_keep_their_type() {
        let page =
            RestPage::parse(r#"{"data": [1, "s", null, true, [1], -2.5], "total": 6}"#).unwrap();
        let records: Vec<_> = page.records().collect();
        let types: Vec<_> = records.iter().map(|r| r.not_an_object()).collect();
        assert_eq!(
            types,
            [
                Some("a number"),
                Some("a string"),
                Some("null"),
                Some("a boolean"),
                Some("an array"),
                Some("a number")
            ]
        );
        assert_eq!(records[0].field("id"), None);
    }

    #[test]
    fn a_bad_envelope_says_what_is_wrong() {
        let why = |body: &str| RestPage::parse(body).unwrap_err();
        assert_eq!(
            why("[]"),
            "expected a JSON object with \"total\" and \"data\""
        );
        assert_eq!(why(r#"{"data": []}"#), "it has no \"total\"");
        assert_eq!(
            why(r#"{"total": -1, "data": []}"#),
            "\"total\" is not a non-negative whole number"
        );
        assert_eq!(
            why(r#"{"total": 1.5, "data": []}"#),
            "\"total\" is not a non-negative whole number"
        );
        assert_eq!(
            why(r#"{"total": 1, "data": {}}"#),
            "\"data\" is not an array"
        );
        assert_eq!(why(r#"{"total": 1}"#), "it has no \"data\"");
        let broken = r#"{"total": 1, "data": [{"id": "a"}"#;
        let expected = serde_json::from_str::<Json>(broken).unwrap_err();
        assert_eq!(why(broken), format!("the body is not JSON ({expected})"));
    }
}
