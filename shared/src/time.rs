//! Timestamps: RFC 3339, UTC, millisecond precision, `Z` suffix, everywhere.

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(3)
}

pub fn format(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time with an explicit offset and normalises it to UTC milliseconds.
/// Only years 0001–9999 in UTC are times: whatever is stored must format back as RFC 3339
/// (`+10000-…` and `-0001-…` do not), so anything outside is refused at the door.
pub fn parse(input: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(input)
        .ok()
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(3))
        .filter(|t| (1..=9999).contains(&t.year()))
}

/// `#[serde(with = "crate::store::time::rfc3339")]` for `Timestamp` fields.
pub mod rfc3339 {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse(&raw).ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time"))
    }
}

/// The same for `Option<Timestamp>` fields; `None` is `null`.
pub mod rfc3339_option {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.serialize_str(&super::format(ts)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(raw) => super::parse(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("invalid RFC 3339 time")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z() {
        let t = parse("2026-11-22T09:15:30+01:00").unwrap();
        assert_eq!(format(&t), "2026-11-22T08:15:30.000Z");
        let t = parse("2026-11-22T08:15:30.123456Z").unwrap();
        assert_eq!(format(&t), "2026-11-22T08:15:30.123Z");
        assert!(parse("2026-11-22T08:15:30").is_none());
        assert!(parse("yesterday").is_none());
    }

    #[test]
    fn only_years_1_to_9999_in_utc() {
        assert!(parse("9999-12-31T23:59:59.999Z").is_some());
        assert!(parse("0001-01-01T00:00:00Z").is_some());
        assert!(parse("9999-12-31T23:59:59-23:59").is_none(), "year 10000 in UTC");
        assert!(parse("0000-01-01T00:00:00+00:01").is_none(), "year -1 in UTC");
        assert!(parse("0001-01-01T00:00:00+00:01").is_none(), "year 0 in UTC");
        for t in ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"] {
            assert_eq!(format(&parse(t).unwrap()), t);
        }
    }
}
