//! Dates and date-times on the SOAP wire.
//!
//! Workday writes `xsd:date` values with the tenant's offset
//! (`2024-03-01-08:00`) and `xsd:dateTime` values with milliseconds and an
//! offset (`2024-03-01T10:00:00.000-08:00`). The simulated tenant's zone is
//! UTC, written `+00:00`; requests may send any offset, `Z`, or none (UTC).

use std::fmt;

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Timelike as _, Utc};

/// An `xsd:date` as written on the wire: `2024-03-01+00:00`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireDate(pub(crate) NaiveDate);

impl fmt::Display for WireDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if (0..=9999).contains(&d.year()) {
            write!(f, "{:04}-{:02}-{:02}+00:00", d.year(), d.month(), d.day())
        } else {
            write!(f, "{}+00:00", d.format("%Y-%m-%d"))
        }
    }
}

/// An `xsd:dateTime` (epoch ms) as written on the wire:
/// `2024-03-01T10:00:00.000+00:00`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireDateTime(pub(crate) i64);

impl fmt::Display for WireDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default();
        if (0..=9999).contains(&dt.year()) {
            write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                dt.timestamp_subsec_millis()
            )
        } else {
            write!(f, "{}+00:00", dt.format("%Y-%m-%dT%H:%M:%S%.3f"))
        }
    }
}

/// A date-time (offset, `Z` or none = UTC) as epoch milliseconds.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc().timestamp_millis())
}

/// A date, with or without an offset (`2024-03-01`, `2024-03-01Z`,
/// `2024-03-01-08:00`): the calendar date as written.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head = s.get(..10)?;
    let tail = &s[10..];
    let tail_ok = tail.is_empty()
        || tail == "Z"
        || (tail.len() == 6
            && matches!(tail.as_bytes()[0], b'+' | b'-')
            && tail.as_bytes()[3] == b':'
            && tail[1..3]
                .bytes()
                .chain(tail[4..6].bytes())
                .all(|b| b.is_ascii_digit()));
    if !tail_ok {
        return None;
    }
    NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// A `time.Time` leaf: a date or a date-time; as epoch ms (a date is its
/// UTC midnight).
pub(crate) fn parse_date_or_datetime(s: &str) -> Option<i64> {
    parse_datetime(s).or_else(|| {
        parse_date(s)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| n.and_utc().timestamp_millis())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_with_and_without_offsets() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        for s in [
            "2024-03-01",
            "2024-03-01Z",
            "2024-03-01-08:00",
            "2024-03-01+00:00",
        ] {
            assert_eq!(parse_date(s), Some(d), "{s}");
        }
        for s in ["2024-03-01-8:00", "2024-03-01X", "2024-3-1", "01.03.2024"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert_eq!(WireDate(d).to_string(), "2024-03-01+00:00");
        let far = NaiveDate::from_ymd_opt(12345, 1, 2).unwrap();
        assert_eq!(
            WireDate(far).to_string(),
            format!("{}+00:00", far.format("%Y-%m-%d"))
        );
    }

    #[test]
    fn datetimes_round_trip_as_utc() {
        let ms = 1_709_287_200_123; // 2024-03-01T10:00:00.123Z
        assert_eq!(
            WireDateTime(ms).to_string(),
            "2024-03-01T10:00:00.123+00:00"
        );
        assert_eq!(WireDateTime(0).to_string(), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(parse_datetime("2024-03-01T10:00:00.123+00:00"), Some(ms));
        assert_eq!(parse_datetime("2024-03-01T02:00:00.123-08:00"), Some(ms));
        assert_eq!(parse_datetime("2024-03-01T10:00:00.123"), Some(ms));
        assert_eq!(
            parse_date_or_datetime("2024-03-01"),
            Some(1_709_251_200_000)
        );
        assert_eq!(parse_date_or_datetime("soon"), None);
    }
}
