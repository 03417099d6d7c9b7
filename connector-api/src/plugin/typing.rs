//! Reading pages fast: changes are deserialized straight from the line and
//! typed by a schema index, moving strings instead of copying them. The
//! typing itself is the contract's one ([`RawChange::typed`], which
//! [`Schema::parse_change`] uses too); only the lookup is indexed.

use std::collections::HashMap;

use serde::Deserialize;

use crate::change::{AttributeKinds, RawChange};
use crate::{Change, ChangeParseError, MetricsSnapshot, Schema, ValueKind};

/// A change as written on the wire, before typing.
pub(crate) type WireChange = RawChange;

/// A page as this crate's server writes it: `{"type":"page","changes":[...],...}`.
#[derive(Deserialize)]
pub(crate) struct WirePage {
    pub(crate) changes: Vec<WireChange>,
    #[serde(default)]
    pub(crate) metrics: Option<MetricsSnapshot>,
}

/// Reads a page line when it starts the way pages usually do; `None` sends
/// the line down the general path.
pub(crate) fn fast_page(line: &[u8]) -> Option<WirePage> {
    if !line.starts_with(br#"{"type":"page","#) {
        return None;
    }
    serde_json::from_slice(line).ok()
}

/// One object type's attribute kinds, by name.
struct KindIndex(HashMap<String, ValueKind>);

impl AttributeKinds for KindIndex {
    fn kind_of(&self, name: &str) -> Option<&ValueKind> {
        self.0.get(name)
    }
}

/// A schema, indexed for typing changes.
pub(crate) struct SchemaIndex {
    types: HashMap<String, KindIndex>,
}

impl SchemaIndex {
    pub(crate) fn new(schema: &Schema) -> Self {
        let types = schema
            .object_types
            .iter()
            .map(|t| {
                let attributes = t
                    .attributes
                    .iter()
                    .map(|a| (a.name.clone(), a.kind.clone()))
                    .collect();
                (t.name.clone(), KindIndex(attributes))
            })
            .collect();
        Self { types }
    }

    /// Types one change, as [`Schema::parse_change_value`] does.
    pub(crate) fn type_change(&self, raw: WireChange) -> Result<Change, ChangeParseError> {
        let kinds = self.types.get(raw.object_type());
        raw.typed(kinds)
    }

    /// Types a change in its JSON value form (the general path).
    pub(crate) fn type_value(&self, json: serde_json::Value) -> Result<Change, ChangeParseError> {
        let raw: WireChange =
            serde_json::from_value(json).map_err(|e| ChangeParseError(e.to_string()))?;
        self.type_change(raw)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{AttributeSchema, ObjectTypeSchema};

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

    #[test]
    fn the_fast_path_types_exactly_like_the_schema() {
        let schema = schema();
        let index = SchemaIndex::new(&schema);
        let cases = [
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"name":"A","active":true,"hired":"2024-02-29","seen":"2024-01-01T10:00:00.000Z","manager":"b"}}"#,
            r#"{"objectType":"User","changeType":"Delete","externalId":"a","attributes":{"name":null}}"#,
            r#"{"objectType":"User","changeType":"Delete","externalId":"a"}"#,
            r#"{"objectType":"User","changeType":"Delete","externalId":"a","addedLater":1}"#,
            r#"{"objectType":"Group","changeType":"Upsert","externalId":"a","attributes":{}}"#,
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"salary":"1"}}"#,
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"active":"yes"}}"#,
            r#"{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"hired":"31.12.2024"}}"#,
        ];
        for case in cases {
            let value: serde_json::Value = serde_json::from_str(case).unwrap();
            assert_eq!(
                index.type_value(value.clone()),
                schema.parse_change_value(value),
                "{case}"
            );
        }
    }

    #[test]
    fn pages_in_the_usual_form_take_the_fast_path() {
        let line = br#"{"type":"page","changes":[{"objectType":"User","changeType":"Upsert","externalId":"a","attributes":{"name":"A"}}],"metrics":{"requests":1,"retries":0,"pages":0,"records":0}}"#;
        let page = fast_page(line).unwrap();
        assert_eq!(page.changes.len(), 1);
        assert_eq!(page.metrics.unwrap().requests, 1);
        assert!(fast_page(br#"{"changes":[],"type":"page"}"#).is_none());
    }
}
