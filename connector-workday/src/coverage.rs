//! Which mapped fields a feed's records carried: a bitset over the feed's
//! mapping table, fed once per mapped record, so that a run can say plainly
//! which fields no record carried (Workday's published REST collections, for
//! one, carry no status, names or update times).

use connector_api::Change;

use crate::endpoint::Feed;
use crate::mapping::{FieldRule, ORG_FIELDS, WORKER_FIELDS};

// Every table fits the bitset.
const _: () = assert!(WORKER_FIELDS.len() <= 64 && ORG_FIELDS.len() <= 64);

/// Which of a feed's mapped fields at least one record carried.
#[derive(Debug, Clone)]
pub(crate) struct Coverage {
    rules: &'static [FieldRule],
    /// Bit `i`: some record carried `rules[i]`.
    carried: u64,
    records: u64,
}

impl Coverage {
    /// An empty tally for `feed`'s mapping table.
    pub(crate) fn new(feed: Feed) -> Coverage {
        let rules = match feed {
            Feed::Workers => WORKER_FIELDS,
            Feed::Organizations => ORG_FIELDS,
        };
        Coverage {
            rules,
            carried: 0,
            records: 0,
        }
    }

    /// One bit a rule.
    fn all(&self) -> u64 {
        match self.rules.len() {
            64.. => u64::MAX,
            n => (1 << n) - 1,
        }
    }

    /// Counts one mapped record. Only the fields no record has carried yet
    /// are looked up, so once every field was seen this is a comparison.
    pub(crate) fn record(&mut self, change: &Change) {
        self.records += 1;
        let mut missing = self.all() & !self.carried;
        while missing != 0 {
            let i = missing.trailing_zeros();
            if change
                .attributes
                .contains_key(self.rules[i as usize].attribute)
            {
                self.carried |= 1 << i;
            }
            missing &= missing - 1;
        }
    }

    /// The rules no record carried, in table order.
    pub(crate) fn missing(&self) -> impl Iterator<Item = &'static FieldRule> + '_ {
        let rules = self.rules;
        (0..rules.len())
            .filter(move |&i| self.carried & (1 << i) == 0)
            .map(move |i| &rules[i])
    }

    /// How many records were counted.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// The warning for a feed that read records from Workday's REST
    /// collections: see [`Coverage::report`].
    pub(crate) fn warning(&self, feed: Feed) -> Option<String> {
        self.report(
            feed,
            "Workday's published REST collection does not carry them; the SOAP source will",
        )
    }

    /// What a feed that read records but never saw a field whose absence
    /// costs something (a rule with `when_absent`) lost, and `why` (in
    /// parentheses); it also lists the other fields no record carried.
    /// `None` when nothing such is missing, or nothing was read.
    pub(crate) fn report(&self, feed: Feed, why: &str) -> Option<String> {
        if self.records == 0 {
            return None;
        }
        let (needed, optional): (Vec<&FieldRule>, Vec<&FieldRule>) =
            self.missing().partition(|r| r.when_absent.is_some());
        if needed.is_empty() {
            return None;
        }
        let noun = feed.noun();
        let mut losses: Vec<String> = Vec::new();
        for r in &needed {
            let loss = r.when_absent.unwrap_or_default().replace("{feed}", noun);
            if !losses.contains(&loss) {
                losses.push(loss);
            }
        }
        let names = |rules: &[&FieldRule]| {
            rules
                .iter()
                .map(|r| r.attribute)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut w = format!(
            "none of the {} {noun} carried {}: {} ({why})",
            self.records,
            names(&needed),
            join_and(&losses),
        );
        if !optional.is_empty() {
            w.push_str(&format!(
                "; no record carried these mapped fields either: {}",
                names(&optional)
            ));
        }
        Some(w)
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::{ChangeKind, Value};

    fn user(attributes: &[&'static str]) -> Change {
        let mut c = Change::new("User", "w1", ChangeKind::Upsert);
        for a in attributes {
            c.attributes.insert((*a).into(), Value::String("x".into()));
        }
        c
    }

    #[test]
    fn a_feed_with_every_needed_field_is_not_reported() {
        let mut c = Coverage::new(Feed::Workers);
        c.record(&user(&["employmentStatus", "firstName"]));
        c.record(&user(&["lastName", "lastUpdatedDateTime"]));
        assert_eq!(c.warning(Feed::Workers), None);
        assert!(c.missing().any(|r| r.attribute == "mobilePhone"));
        assert!(!c.missing().any(|r| r.attribute == "lastName"));
    }

    #[test]
    fn an_empty_feed_is_not_reported() {
        assert_eq!(Coverage::new(Feed::Workers).warning(Feed::Workers), None);
    }

    #[test]
    fn missing_needed_fields_are_named_with_what_they_cost() {
        let mut c = Coverage::new(Feed::Workers);
        let every_other: Vec<&str> = WORKER_FIELDS
            .iter()
            .map(|r| r.attribute)
            .filter(|a| !matches!(*a, "employmentStatus" | "lastName" | "mobilePhone"))
            .collect();
        c.record(&user(&every_other));
        c.record(&user(&["firstName"]));
        assert_eq!(
            c.warning(Feed::Workers).as_deref(),
            Some("none of the 2 workers carried employmentStatus, lastName: terminations cannot be seen and users have no first or last name (Workday's published REST collection does not carry them; the SOAP source will); no record carried these mapped fields either: mobilePhone")
        );
    }

    #[test]
    fn the_feed_noun_fills_the_delta_loss() {
        let mut c = Coverage::new(Feed::Organizations);
        let mut o = Change::new("OrgUnit", "o1", ChangeKind::Upsert);
        o.attributes
            .insert("name".into(), Value::String("Sales".into()));
        c.record(&o);
        let w = c.warning(Feed::Organizations).unwrap();
        assert!(
            w.starts_with("none of the 1 supervisory organizations carried lastUpdatedDateTime: every delta re-reads all supervisory organizations ("),
            "{w}"
        );
        assert!(
            w.ends_with("either: code, parentOrganizationId, manager"),
            "{w}"
        );
    }
}
