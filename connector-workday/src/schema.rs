//! The schema the connector declares, generated from the mapping tables.

use connector_api::{AttributeSchema, ObjectTypeSchema, Schema, ValueKind};

use crate::config::ExternalIdAttribute;
use crate::mapping::{
    FieldKind, FieldRule, ACCOUNT_ENABLED, IS_DELETED, ORG_FIELDS, WORKER_FIELDS,
};

fn kind(k: FieldKind) -> ValueKind {
    match k {
        FieldKind::Text | FieldKind::Label => ValueKind::String,
        FieldKind::UserRef => ValueKind::Reference {
            object_type: "User".into(),
        },
        FieldKind::OrgRef => ValueKind::Reference {
            object_type: "OrgUnit".into(),
        },
        FieldKind::Date => ValueKind::Date,
        FieldKind::DateTime => ValueKind::DateTime,
        FieldKind::Bool => ValueKind::Bool,
    }
}

fn attributes(rules: &[FieldRule]) -> Vec<AttributeSchema> {
    rules
        .iter()
        .map(|r| AttributeSchema::new(r.attribute, kind(r.kind), r.description))
        .collect()
}

/// The connector's schema: `OrgUnit` then `User` (the import order), with
/// `User` anchored on `external_id`.
///
/// ```
/// use connector_api::ValueKind;
/// use connector_workday::config::ExternalIdAttribute;
/// let s = connector_workday::schema::schema(ExternalIdAttribute::Id);
/// let user = s.object_type("User").unwrap();
/// assert_eq!(user.attribute("accountEnabled").unwrap().kind, ValueKind::Bool);
/// assert_eq!(s.object_types[0].name, "OrgUnit");
/// ```
pub fn schema(external_id: ExternalIdAttribute) -> Schema {
    let mut user = attributes(WORKER_FIELDS);
    user.push(AttributeSchema::new(
        ACCOUNT_ENABLED,
        ValueKind::Bool,
        "true only when employmentStatus is Active; absent when Workday sends no status",
    ));
    user.push(AttributeSchema::new(
        IS_DELETED,
        ValueKind::Bool,
        "true when employmentStatus is Terminated (the change is then a Delete); absent when Workday sends no status",
    ));
    Schema {
        object_types: vec![
            ObjectTypeSchema {
                name: "OrgUnit".into(),
                anchor: "id".into(),
                attributes: attributes(ORG_FIELDS),
            },
            ObjectTypeSchema {
                name: "User".into(),
                anchor: external_id.field().into(),
                attributes: user,
            },
        ],
    }
}
