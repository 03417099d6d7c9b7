//! [`Attributes`]: the attributes of a change, a map from name to value.

use std::borrow::Cow;
use std::fmt;
use std::ops::Index;

use serde::{Serialize, Serializer};

use crate::change::Value;

/// The attributes of a change: a map from name to typed value, in the
/// order of their names, each name once.
///
/// A name is a `Cow<'static, str>`: a connector whose attribute names are
/// fixed (its schema's) inserts them as `&'static str`, without allocating a
/// `String` per attribute per record; a name read at run time is owned.
/// Look-ups take a `&str` (`attributes["firstName"]`, `get("firstName")`),
/// and `"firstName".into()` makes a name. The JSON form is an object keyed
/// by name, names in order.
///
/// The entries are one vector, sorted by name: a connector that inserts its
/// attributes in name order builds the map with one comparison an
/// attribute and one allocation, and dropping it frees that allocation and
/// the values'. Inserting out of order also works (a binary search and a
/// shift); look-ups are binary searches.
///
/// ```
/// use connector_api::{Attributes, Value};
/// let mut a = Attributes::new();
/// a.insert("lastName".into(), Value::String("Lovelace".into()));
/// a.insert("firstName".into(), Value::String("Ada".into()));
/// assert_eq!(a["firstName"], Value::String("Ada".into()));
/// assert_eq!(a.keys().collect::<Vec<_>>(), ["firstName", "lastName"]);
/// assert_eq!(
///     serde_json::to_string(&a).unwrap(),
///     r#"{"firstName":"Ada","lastName":"Lovelace"}"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// Sorted by name, no name twice.
    entries: Vec<(Cow<'static, str>, Value)>,
}

/// An attribute: its name and value.
type Entry = (Cow<'static, str>, Value);

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// No attributes, with room for `capacity` without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// How many attributes there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `name` is (`Ok`), or would go (`Err`).
    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(n, _)| (**n).cmp(name))
    }

    /// The value of the attribute `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.entries[i].1)
    }

    /// The value of the attribute `name`, to change it in place.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.position(name).ok().map(|i| &mut self.entries[i].1)
    }

    /// Whether there is an attribute `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets the attribute `name` to `value`; returns its previous value.
    /// A name after every present one is appended without a search.
    pub fn insert(&mut self, name: Cow<'static, str>, value: Value) -> Option<Value> {
        match self.entries.last() {
            Some((last, _)) if **last >= *name => {}
            _ => {
                self.entries.push((name, value));
                return None;
            }
        }
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// Removes the attribute `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.position(name).ok().map(|i| self.entries.remove(i).1)
    }

    /// The attributes, in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The names, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Cow<'static, str>> + ExactSizeIterator {
        self.entries.iter().map(|(name, _)| name)
    }

    /// The values, in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }
}

/// The attributes of an [`Attributes`], in name order ([`Attributes::iter`]).
#[derive(Debug, Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, Entry>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Cow<'static, str>, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, value)| (name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(name, value)| (name, value))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a Cow<'static, str>, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Attributes {
    type Item = Entry;
    type IntoIter = std::vec::IntoIter<Entry>;

    /// The attributes, owned, in name order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// Collects attributes in any order; of a name given twice, the later
/// value wins (as with [`Attributes::insert`]). Entries already in name
/// order are taken as they are, without sorting.
impl FromIterator<Entry> for Attributes {
    fn from_iter<I: IntoIterator<Item = Entry>>(iter: I) -> Self {
        let mut attributes = Self {
            entries: iter.into_iter().collect(),
        };
        attributes.restore_order();
        attributes
    }
}

/// Adds attributes in any order (one sort at the end, not a shift per
/// entry); a name already present, or given twice, takes the last value.
impl Extend<Entry> for Attributes {
    fn extend<I: IntoIterator<Item = Entry>>(&mut self, iter: I) {
        self.entries.extend(iter);
        self.restore_order();
    }
}

impl Attributes {
    /// Sorts the entries by name and keeps the last value of a name given
    /// more than once; entries already in order are left as they are.
    fn restore_order(&mut self) {
        let entries = &mut self.entries;
        if entries.windows(2).all(|w| w[0].0 < w[1].0) {
            return;
        }
        // Stable: of equal names, the later entry stays later...
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // ...and its value is kept (`dedup_by` keeps the earlier entry).
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
    }
}

impl<const N: usize> From<[Entry; N]> for Attributes {
    fn from(entries: [Entry; N]) -> Self {
        entries.into_iter().collect()
    }
}

/// `attributes["name"]`.
///
/// # Panics
/// When there is no attribute `name`, as a `BTreeMap` does; use
/// [`Attributes::get`] when it may be absent.
impl Index<&str> for Attributes {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no attribute {name:?}"),
        }
    }
}

/// As a map: `{"firstName": String("Ada")}`.
impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A JSON object keyed by name, names in order.
impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn text(s: &str) -> Value {
        Value::String(s.into())
    }

    #[test]
    fn inserts_in_any_order_keep_names_sorted_and_the_last_value() {
        let mut a = Attributes::new();
        assert_eq!(a.insert("m".into(), text("1")), None);
        assert_eq!(a.insert("z".into(), text("2")), None);
        assert_eq!(a.insert("a".into(), text("3")), None);
        assert_eq!(a.insert("m".into(), text("4")), Some(text("1")));
        assert_eq!(a.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        assert_eq!(a["m"], text("4"));
        assert_eq!(a.remove("a"), Some(text("3")));
        assert_eq!(a.remove("a"), None);
        assert_eq!(a.len(), 2);
        assert!(a.contains_key("z") && !a.contains_key("a"));
        assert_eq!(format!("{a:?}"), r#"{"m": String("4"), "z": String("2")}"#);
    }

    #[test]
    #[should_panic(expected = "no attribute \"nope\"")]
    fn indexing_an_absent_name_panics_as_a_map_does() {
        let _ = &Attributes::new()["nope"];
    }

    proptest! {
        /// Whatever the order and repeats, inserting or collecting gives the
        /// map a `BTreeMap` would hold, and the same JSON.
        #[test]
        fn behaves_as_a_btree_map(entries in prop::collection::vec(("[a-d]{0,2}", "[x-z]{0,2}"), 0..24)) {
            let entries: Vec<Entry> = entries
                .into_iter()
                .map(|(n, v)| (Cow::Owned(n), Value::String(v.into())))
                .collect();
            let expected: BTreeMap<Cow<'static, str>, Value> = entries.iter().cloned().collect();
            let mut inserted = Attributes::new();
            for (name, value) in entries.iter().cloned() {
                inserted.insert(name, value);
            }
            // Half inserted one by one, the rest extended onto them.
            let (first, rest) = entries.split_at(entries.len() / 2);
            let mut extended: Attributes = first.iter().cloned().collect();
            extended.extend(rest.iter().cloned());
            let collected: Attributes = entries.into_iter().collect();
            prop_assert_eq!(&inserted, &collected);
            prop_assert_eq!(&extended, &collected);
            let pairs = |a: &Attributes| a.iter().map(|(n, v)| (n.clone(), v.clone())).collect::<Vec<_>>();
            prop_assert_eq!(pairs(&collected), expected.clone().into_iter().collect::<Vec<_>>());
            prop_assert_eq!(
                serde_json::to_string(&collected).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }
}
