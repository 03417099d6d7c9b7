//! [`Text`]: the text of a [`Value::String`](crate::Value::String) or a
//! [`Value::Reference`](crate::Value::Reference).

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of a value: a string that keeps up to 24 bytes inline, without
/// a heap allocation of its own.
///
/// Most HR values are short (names, codes, statuses, countries, dates'
/// neighbours), and a connector streams tens of them a record: keeping
/// them inline spares an allocation and a free for each. Longer text (an
/// email address, a 32-character Workday ID) is on the heap as a `String`
/// would be. It reads as a `&str` ([`Deref`]), compares with `str` and
/// `String`, and is written in JSON as a plain string.
///
/// ```
/// use connector_api::{Text, Value};
/// let status = Text::from("Active");
/// assert_eq!(status, "Active");
/// assert_eq!(status.len(), 6); // a `&str` method, through `Deref`
/// let v = Value::String("Ada".into());
/// assert_eq!(serde_json::to_string(&v).unwrap(), "\"Ada\"");
/// assert_eq!(String::from(Text::from("x")), "x");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(CompactString);

impl Text {
    /// The text `s`, copied.
    pub fn new(s: &str) -> Self {
        Text(CompactString::new(s))
    }

    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The text as an owned `String` (re-using the heap buffer when it has
    /// one).
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::new(s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(CompactString::from(s))
    }
}

impl From<Cow<'_, str>> for Text {
    fn from(s: Cow<'_, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text::new(s),
            Cow::Owned(s) => Text::from(s),
        }
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.into_string()
    }
}

impl fmt::Debug for Text {
    /// As a `str` is: `"Ada"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CompactString::deserialize(deserializer).map(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever its length, text reads back, compares, orders, prints
        /// and round-trips through JSON as the `String` it was made from.
        #[test]
        fn text_behaves_as_the_string_it_holds(a in ".{0,40}", b in ".{0,40}") {
            let (ta, tb) = (Text::from(a.clone()), Text::new(&b));
            prop_assert_eq!(ta.as_str(), a.as_str());
            prop_assert_eq!(&*ta, a.as_str());
            prop_assert_eq!(ta == tb, a == b);
            prop_assert_eq!(ta.cmp(&tb), a.cmp(&b));
            prop_assert_eq!(format!("{ta}"), a.clone());
            prop_assert_eq!(format!("{ta:?}"), format!("{a:?}"));
            let json = serde_json::to_string(&ta).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&a).unwrap());
            prop_assert_eq!(serde_json::from_str::<Text>(&json).unwrap(), ta.clone());
            prop_assert_eq!(ta.into_string(), a);
        }
    }

    #[test]
    fn text_compares_with_str_and_string_both_ways() {
        let t = Text::from("Active");
        let (s, owned): (&str, String) = ("Active", "Active".into());
        assert_eq!(t, s);
        assert_eq!(s, t);
        assert_eq!(t, *s);
        assert_eq!(*s, t);
        assert_eq!(t, owned);
        assert_eq!(owned, t);
        assert_ne!(t, "Terminated");
        assert_eq!(
            Text::from(Cow::Borrowed("a")),
            Text::from(Cow::Owned("a".into()))
        );
    }
}
