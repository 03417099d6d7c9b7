//! Object types, their attributes and value kinds: what a connector emits.

use serde::{Deserialize, Serialize};

/// The kind of value an attribute holds.
///
/// The kind decides how a [`Value`](crate::Value) is written in the change
/// JSON and how it is parsed back (see [`Schema::parse_change`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ValueKind {
    /// Free text.
    String,
    /// `true` / `false`.
    Bool,
    /// A calendar date, written `YYYY-MM-DD`.
    Date,
    /// An instant in UTC, written `YYYY-MM-DDTHH:MM:SS.sssZ`.
    DateTime,
    /// The external id of another object, of the named object type.
    Reference {
        /// The object type the reference points at (e.g. `User`).
        #[serde(rename = "objectType")]
        object_type: String,
    },
}

/// One attribute of an object type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeSchema {
    /// The attribute's name as it appears in [`Change::attributes`](crate::Change).
    pub name: String,
    /// The kind of its values.
    #[serde(flatten)]
    pub kind: ValueKind,
    /// A one-line description for operators.
    pub description: String,
}

impl AttributeSchema {
    /// Builds an attribute description.
    ///
    /// ```
    /// use connector_api::{AttributeSchema, ValueKind};
    /// let a = AttributeSchema::new("hireDate", ValueKind::Date, "first day of employment");
    /// assert_eq!(a.name, "hireDate");
    /// ```
    pub fn new(name: impl Into<String>, kind: ValueKind, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            description: description.into(),
        }
    }
}

/// One object type a connector emits, e.g. `User` or `OrgUnit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectTypeSchema {
    /// The object type's name, e.g. `User`.
    pub name: String,
    /// Which source field becomes [`Change::external_id`](crate::Change), the
    /// anchor the engine joins on (e.g. `id`).
    pub anchor: String,
    /// The attributes a change of this type may carry, in a stable order.
    pub attributes: Vec<AttributeSchema>,
}

impl ObjectTypeSchema {
    /// Looks an attribute up by name.
    pub fn attribute(&self, name: &str) -> Option<&AttributeSchema> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// Everything a connector emits: its object types.
///
/// ```
/// use connector_api::{AttributeSchema, ObjectTypeSchema, Schema, ValueKind};
/// let schema = Schema {
///     object_types: vec![ObjectTypeSchema {
///         name: "User".into(),
///         anchor: "id".into(),
///         attributes: vec![AttributeSchema::new("firstName", ValueKind::String, "given name")],
///     }],
/// };
/// assert!(schema.object_type("User").is_some());
/// assert!(schema.object_type("Group").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    /// The object types, in the order the connector imports them.
    pub object_types: Vec<ObjectTypeSchema>,
}

impl Schema {
    /// Looks an object type up by name.
    pub fn object_type(&self, name: &str) -> Option<&ObjectTypeSchema> {
        self.object_types.iter().find(|t| t.name == name)
    }
}
