//! The watermark: per feed, the newest `lastUpdatedDateTime` seen, but never
//! later than the server time the feed's read started (the `Date` header of
//! its first page), encoded as
//! `{"w": "2026-04-26T08:30:00.000Z", "o": "2026-04-26T08:25:00.000Z"}`
//! (`w` workers, `o` organizations), times always `YYYY-MM-DDTHH:MM:SS.sssZ`.
//!
//! Decoding also accepts the legacy bare ISO 8601 time (both feeds start
//! there), and treats an absent or empty watermark as none. Anything else is
//! an error, never a silent full import.

use chrono::{DateTime, SecondsFormat, Utc};
use connector_api::{ConnectorError, ErrorKind};
use serde_json::Value as Json;

use crate::mapping::parse_date_time;

/// The per-feed starting points of a delta. `None` for a feed means "no
/// watermark": that feed is read in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermark {
    /// Workers (`w`).
    pub workers: Option<DateTime<Utc>>,
    /// Supervisory organizations (`o`).
    pub organizations: Option<DateTime<Utc>>,
}

/// Why an incoming watermark cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the incoming watermark {shown} cannot be read: {why}. This connector writes {{\"w\": \"<time>\", \"o\": \"<time>\"}} with times like 2026-04-26T08:30:00.000Z (or reads a bare ISO 8601 time); run a full import to start a fresh watermark")]
pub struct WatermarkError {
    /// The watermark as received, clipped to 120 characters.
    pub shown: String,
    /// What is wrong with it.
    pub why: String,
}

impl From<WatermarkError> for ConnectorError {
    fn from(e: WatermarkError) -> Self {
        ConnectorError::new(ErrorKind::Watermark, e.to_string()).with_retryable(false)
    }
}

/// Formats a time canonically: `YYYY-MM-DDTHH:MM:SS.sssZ` (truncated to the
/// millisecond, never rounded up, so a delta can only re-read, never skip).
///
/// ```
/// use connector_workday::watermark::canonical;
/// let t = "2026-04-26T10:30:00.123987+02:00".parse().unwrap();
/// assert_eq!(canonical(t), "2026-04-26T08:30:00.123Z");
/// ```
pub fn canonical(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Encodes `w` as the opaque watermark string. A feed without a time is left out.
///
/// ```
/// use connector_workday::watermark::{encode, Watermark};
/// let w = Watermark {
///     workers: Some("2026-04-26T08:30:00Z".parse().unwrap()),
///     organizations: Some("2026-04-26T08:25:00Z".parse().unwrap()),
/// };
/// assert_eq!(encode(&w), r#"{"w":"2026-04-26T08:30:00.000Z","o":"2026-04-26T08:25:00.000Z"}"#);
/// ```
pub fn encode(w: &Watermark) -> String {
    #[derive(serde::Serialize)]
    struct Wire {
        #[serde(skip_serializing_if = "Option::is_none")]
        w: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        o: Option<String>,
    }
    let wire = Wire {
        w: w.workers.map(canonical),
        o: w.organizations.map(canonical),
    };
    // Two optional strings always serialize.
    serde_json::to_string(&wire).unwrap_or_else(|_| "{}".to_string())
}

/// Decodes an incoming watermark.
///
/// ```
/// use connector_workday::watermark::{decode, encode, Watermark};
/// assert_eq!(decode(None).unwrap(), Watermark::default());
/// assert_eq!(decode(Some("  ")).unwrap(), Watermark::default());
/// let legacy = decode(Some("2026-04-26T08:30:00Z")).unwrap();
/// assert_eq!(legacy.workers, legacy.organizations);
/// assert!(decode(Some(r#"{"w":"2026-04-26T08:30:00.000Z","x":"1"}"#)).is_err());
/// assert_eq!(decode(Some(&encode(&legacy))).unwrap(), legacy);
/// ```
///
/// # Errors
/// [`WatermarkError`] for bad JSON, a bad time, a non-string value or an unknown key.
pub fn decode(raw: Option<&str>) -> Result<Watermark, WatermarkError> {
    let Some(raw) = raw else {
        return Ok(Watermark::default());
    };
    let s = raw.trim();
    if s.is_empty() {
        return Ok(Watermark::default());
    }
    let err = |why: String| WatermarkError {
        shown: {
            let mut c: String = raw.chars().take(120).collect();
            if c.len() < raw.len() {
                c.push_str("...");
            }
            format!("{c:?}")
        },
        why,
    };
    let time = |v: &str, what: &str| {
        parse_date_time(v).ok_or_else(|| {
            err(format!(
                "{what} {v:?} is not an ISO 8601 date-time with a time zone"
            ))
        })
    };
    if s.starts_with('{') || s.starts_with('"') || s.starts_with('[') {
        let json: Json =
            serde_json::from_str(s).map_err(|e| err(format!("it is not valid JSON ({e})")))?;
        return match json {
            Json::String(t) => {
                let t = time(&t, "the legacy time")?;
                Ok(Watermark {
                    workers: Some(t),
                    organizations: Some(t),
                })
            }
            Json::Object(obj) => {
                let mut w = Watermark::default();
                for (key, value) in &obj {
                    let slot = match key.as_str() {
                        "w" => &mut w.workers,
                        "o" => &mut w.organizations,
                        other => {
                            return Err(err(format!(
                            "it has the unknown key {other:?} (only \"w\" and \"o\" are written)"
                        )))
                        }
                    };
                    let Json::String(v) = value else {
                        return Err(err(format!("the value of {key:?} is not a string")));
                    };
                    *slot = Some(time(v, &format!("the value of {key:?}"))?);
                }
                Ok(w)
            }
            _ => Err(err("it is JSON but neither an object nor a string".into())),
        };
    }
    let t = time(s, "the legacy time")?;
    Ok(Watermark {
        workers: Some(t),
        organizations: Some(t),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors() {
        for bad in [
            "{",
            "{\"w\": 5}",
            "{\"w\": null}",
            "{\"w\": \"yesterday\"}",
            "{\"W\": \"2026-04-26T08:30:00.000Z\"}",
            "[1]",
            "2026-04-26",
            "2026-04-26T08:30:00",
            "\"nope\"",
        ] {
            assert!(decode(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_forms() {
        let t: DateTime<Utc> = "2026-04-26T08:30:00Z".parse().unwrap();
        for ok in [
            "2026-04-26T08:30:00Z",
            "2026-04-26T10:30:00+02:00",
            "\"2026-04-26T08:30:00.000Z\"",
            " 2026-04-26T08:30:00.000Z\n",
        ] {
            let w = decode(Some(ok)).unwrap();
            assert_eq!(w.workers, Some(t), "{ok}");
            assert_eq!(w.organizations, Some(t), "{ok}");
        }
        assert_eq!(decode(Some("{}")).unwrap(), Watermark::default());
    }
}
