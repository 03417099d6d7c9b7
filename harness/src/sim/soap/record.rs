//! A worker's REST record as the SOAP side reads it: the fields it renders,
//! borrowed from the record's JSON bytes (or from a before image), with no
//! `serde_json::Value` tree and no `String` per field.
//!
//! The REST serialisation (`data.rs`) stays the one source of a worker's
//! fields; this only reads them back. Reading is as lenient as a lookup in
//! a `Value` would be: a field that is missing, `null` or not of the
//! expected JSON type (an override, the bad-record fault) is absent.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::dates::parse_date;

/// A string field: `Some` only when the record holds a string there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub(crate) Option<Cow<'a, str>>);

impl Str<'_> {
    /// The string, if the field held one.
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// Skips whatever a map or sequence holds.
fn drain_map<'de, A: MapAccess<'de>>(mut m: A) -> Result<(), A::Error> {
    while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut s: A) -> Result<(), A::Error> {
    while s.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Implements the visits that make a lenient field absent.
macro_rules! absent_otherwise {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Self::Value, A::Error> {
            drain_seq(s)?;
            Ok(Self::Value::default())
        }
    };
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Str<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
        Ok(Str(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
        Ok(Str(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
        Ok(Str(Some(Cow::Owned(v))))
    }

    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Str<'de>, A::Error> {
        drain_map(m)?;
        Ok(Str(None))
    }

    absent_otherwise!();
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor)
    }
}

/// A reference field: `{"id","descriptor"}`, or a bare id (flat spellings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ref<'a> {
    pub(crate) id: Str<'a>,
    pub(crate) descriptor: Str<'a>,
}

impl Ref<'_> {
    /// `(id, descriptor)` when there is an id.
    pub(crate) fn get(&self) -> Option<(&str, Option<&str>)> {
        Some((self.id.get()?, self.descriptor.get()))
    }
}

struct RefVisitor;

impl<'de> Visitor<'de> for RefVisitor {
    type Value = Ref<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Ref<'de>, E> {
        Ok(Ref {
            id: Str(Some(Cow::Borrowed(v))),
            descriptor: Str(None),
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Ref<'de>, E> {
        Ok(Ref {
            id: Str(Some(Cow::Owned(v.to_string()))),
            descriptor: Str(None),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ref<'de>, A::Error> {
        let mut r = Ref::default();
        while let Some(k) = m.next_key::<Str<'de>>()? {
            match k.get() {
                Some("id") => r.id = m.next_value()?,
                Some("descriptor") => r.descriptor = m.next_value()?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }

    absent_otherwise!();
}

impl<'de: 'a, 'a> Deserialize<'de> for Ref<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefVisitor)
    }
}

/// A boolean field: `Some` only when the record holds a boolean there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flag(pub(crate) Option<bool>);

struct FlagVisitor;

impl<'de> Visitor<'de> for FlagVisitor {
    type Value = Flag;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
        Ok(Flag(Some(v)))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Flag, E> {
        Ok(Flag(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Flag, A::Error> {
        drain_map(m)?;
        Ok(Flag(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Flag, E> {
        Ok(Flag(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Flag, E> {
        Ok(Flag(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Flag, E> {
        Ok(Flag(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
        Ok(Flag(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Flag, E> {
        Ok(Flag(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Flag, A::Error> {
        drain_seq(s)?;
        Ok(Flag(None))
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FlagVisitor)
    }
}

/// The worker fields the SOAP side reads, by their REST names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WorkerRec<'a> {
    #[serde(borrow)]
    pub(crate) id: Str<'a>,
    #[serde(borrow)]
    pub(crate) descriptor: Str<'a>,
    #[serde(borrow)]
    pub(crate) employee_number: Str<'a>,
    #[serde(borrow)]
    pub(crate) worker_type: Ref<'a>,
    #[serde(borrow)]
    pub(crate) first_name: Str<'a>,
    #[serde(borrow)]
    pub(crate) last_name: Str<'a>,
    #[serde(borrow)]
    pub(crate) preferred_name: Str<'a>,
    #[serde(borrow)]
    pub(crate) country: Str<'a>,
    #[serde(borrow)]
    pub(crate) work_phone: Str<'a>,
    #[serde(borrow)]
    pub(crate) mobile_phone: Str<'a>,
    #[serde(borrow)]
    pub(crate) work_email: Str<'a>,
    #[serde(borrow)]
    pub(crate) hire_date: Str<'a>,
    #[serde(borrow)]
    pub(crate) termination_date: Str<'a>,
    #[serde(borrow)]
    pub(crate) job_title: Str<'a>,
    #[serde(borrow)]
    pub(crate) business_title: Str<'a>,
    #[serde(borrow)]
    pub(crate) job_profile: Ref<'a>,
    #[serde(borrow)]
    pub(crate) location: Ref<'a>,
    #[serde(borrow)]
    pub(crate) location_code: Str<'a>,
    #[serde(borrow)]
    pub(crate) employment_status: Str<'a>,
    #[serde(borrow)]
    pub(crate) last_updated_date_time: Str<'a>,
    #[serde(borrow)]
    pub(crate) primary_supervisory_organization: Ref<'a>,
    #[serde(borrow)]
    pub(crate) primary_worker_supervisory_organization: Ref<'a>,
    #[serde(borrow)]
    pub(crate) cost_center: Ref<'a>,
    #[serde(borrow)]
    pub(crate) cost_center_code: Str<'a>,
    #[serde(borrow)]
    pub(crate) company_code: Str<'a>,
    #[serde(borrow)]
    pub(crate) legal_entity: Str<'a>,
    pub(crate) is_manager: Flag,
}

impl WorkerRec<'_> {
    /// Whether the record is a contingent worker's.
    pub(crate) fn contingent(&self) -> bool {
        self.worker_type.get().and_then(|(_, d)| d) == Some("Contingent Worker")
    }

    /// The calendar date of a date field.
    pub(crate) fn date(field: &Str<'_>) -> Option<NaiveDate> {
        field.get().and_then(parse_date)
    }

    /// The primary supervisory org's id, under either spelling.
    pub(crate) fn supervisory_org(&self) -> Option<&str> {
        self.primary_supervisory_organization
            .get()
            .or_else(|| self.primary_worker_supervisory_organization.get())
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_another_type_are_absent_as_in_a_value_lookup() {
        let v = json!({
            "id": "w1",
            "descriptor": "Ann \"A\" Lee",
            "employeeNumber": 17,
            "workerType": {"id": "t", "descriptor": "Contingent Worker", "href": "x"},
            "employmentStatus": {"x": 1},
            "jobProfile": "jp-flat",
            "location": {"descriptor": "no id"},
            "lastUpdatedDateTime": 12345,
            "isManager": "yes",
            "hireDate": null,
            "customFields": {"badge": [1, 2, {"a": []}]},
            "unknown": [true, null]
        });
        let bytes = serde_json::to_vec(&v).unwrap();
        for rec in [
            WorkerRec::deserialize(&v).unwrap(),
            serde_json::from_slice::<WorkerRec<'_>>(&bytes).unwrap(),
        ] {
            assert_eq!(rec.id.get(), Some("w1"));
            assert_eq!(rec.descriptor.get(), Some("Ann \"A\" Lee"));
            assert_eq!(rec.employee_number.get(), None);
            assert!(rec.contingent());
            assert!(!WorkerRec::deserialize(
                &json!({"workerType": {"descriptor": "Contingent Worker"}})
            )
            .unwrap()
            .contingent());
            assert_eq!(rec.employment_status.get(), None);
            assert_eq!(rec.job_profile.get(), Some(("jp-flat", None)));
            assert_eq!(rec.location.get(), None);
            assert_eq!(rec.last_updated_date_time.get(), None);
            assert_eq!(rec.is_manager, Flag(None));
            assert_eq!(rec.hire_date.get(), None);
        }
    }

    #[test]
    fn plain_strings_are_borrowed_from_the_bytes() {
        let bytes = br#"{"id":"w1","firstName":"Zo\u00eb","isManager":true}"#;
        let rec: WorkerRec<'_> = serde_json::from_slice(bytes).unwrap();
        assert!(matches!(rec.id.0, Some(Cow::Borrowed("w1"))));
        assert_eq!(rec.first_name.get(), Some("Zoë"));
        assert_eq!(rec.is_manager, Flag(Some(true)));
    }
}
