//! Field validation shared by the resources: body filtering, bounded strings, optional fields,
//! JSON objects, e-mail addresses, DNS names and ids. Failures are collected in `Violations`.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    error::{Result, Violations},
    time::Timestamp,
};

/// Read-only fields every resource ignores when a client sends them back.
pub const COMMON_READ_ONLY: &[&str] = &["id", "tenant_id", "inserted_at", "updated_at"];

pub const METADATA_MAX_KEYS: usize = 50;
pub const METADATA_MAX_BYTES: usize = 8 * 1024;

/// Rejects fields that are neither writable nor known read-only (422), and drops the read-only
/// ones, so a client can send back what it read.
pub fn known_fields(
    mut body: Map<String, Value>,
    writable: &[&str],
    read_only: &[&str],
) -> Result<Map<String, Value>> {
    let mut violations = Violations::default();
    body.retain(|name, _| {
        if writable.contains(&name.as_str()) {
            true
        } else {
            if !read_only.contains(&name.as_str()) && !COMMON_READ_ONLY.contains(&name.as_str()) {
                violations.add(name, "unknown field");
            }
            false
        }
    });
    violations.into_result()?;
    Ok(body)
}

/// A required string trimmed to `min..=max` characters, without control characters.
pub fn trimmed_string(
    violations: &mut Violations,
    field: &str,
    value: &Value,
    min: usize,
    max: usize,
) -> Option<String> {
    let Value::String(raw) = value else {
        violations.add(field, "must be a string");
        return None;
    };
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        violations.add(field, format!("should be at least {min} characters"));
        return None;
    }
    if len > max {
        violations.add(field, format!("should be at most {max} characters"));
        return None;
    }
    if trimmed.chars().any(char::is_control) {
        violations.add(field, "must not contain control characters");
        return None;
    }
    Some(trimmed.to_owned())
}

/// An optional string field: `None` when absent, `Some(None)` for `null` (clear), else what
/// `parse` makes of the string (which reports its own violations).
pub fn optional<T>(
    v: &mut Violations,
    body: &Map<String, Value>,
    field: &str,
    parse: impl FnOnce(&mut Violations, &str) -> Option<T>,
) -> Option<Option<T>> {
    match body.get(field) {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => parse(v, s).map(Some),
        Some(_) => {
            v.add(field, "must be a string or null");
            None
        }
    }
}

/// A bounded JSON object: at most 50 keys and 8 KiB serialized.
pub fn metadata(v: &mut Violations, field: &str, value: &Value) -> Option<Value> {
    bounded_object(v, field, value, METADATA_MAX_KEYS, METADATA_MAX_BYTES)
}

/// A JSON object of at most `max_keys` keys and `max_bytes` serialized.
pub fn bounded_object(
    v: &mut Violations,
    field: &str,
    value: &Value,
    max_keys: usize,
    max_bytes: usize,
) -> Option<Value> {
    let Value::Object(map) = value else {
        v.add(field, "must be a JSON object");
        return None;
    };
    if map.len() > max_keys {
        v.add(field, format!("must have at most {max_keys} keys"));
        return None;
    }
    if value.to_string().len() > max_bytes {
        v.add(
            field,
            format!("must be at most {} KiB serialized", max_bytes / 1024),
        );
        return None;
    }
    Some(value.clone())
}

/// A lower-case DNS name with at least two labels: `acme.com`, `eu.acme.co.uk`.
pub fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A pragmatic e-mail check: one `@`, a plausible local part and a DNS domain.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.contains('@')
        && local.chars().all(|c| !c.is_whitespace() && !c.is_control())
        && is_dns_name(&domain.to_lowercase())
}

/// User ids come from tokens (`sub`): any non-empty text without control characters.
pub fn is_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.chars().any(char::is_control)
}

/// A time-ordered id (UUIDv7) for a record created at `now`, so ordering by id is ordering by
/// creation time.
pub fn new_id(now: &Timestamp) -> String {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        ((millis % 1000) * 1_000_000) as u32,
    );
    Uuid::new_v7(ts).to_string()
}

/// Ids in paths and bodies are canonical UUIDs; anything else cannot name a record.
pub fn parse_id(raw: &str) -> Option<String> {
    Uuid::parse_str(raw)
        .ok()
        .filter(|u| u.hyphenated().to_string() == raw)
        .map(|u| u.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_rejected_and_read_only_dropped() {
        let body = json!({"name": "x", "id": "1", "bogus": 1})
            .as_object()
            .unwrap()
            .clone();
        assert!(
            matches!(known_fields(body, &["name"], &[]), Err(Error::Invalid(e)) if e.contains_key("bogus"))
        );
        let body = json!({"name": "x", "id": "1", "updated_at": "t"})
            .as_object()
            .unwrap()
            .clone();
        let kept = known_fields(body, &["name"], &[]).unwrap();
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn trimmed_string_bounds_count_characters() {
        let mut v = Violations::default();
        assert_eq!(
            trimmed_string(&mut v, "n", &json!("  ab  "), 1, 2),
            Some("ab".into())
        );
        assert_eq!(
            trimmed_string(&mut v, "n", &json!("ééé"), 1, 3),
            Some("ééé".into())
        );
        assert!(v.is_empty());
        assert_eq!(trimmed_string(&mut v, "n", &json!("   "), 1, 2), None);
        assert_eq!(trimmed_string(&mut v, "n", &json!(5), 1, 2), None);
        assert_eq!(trimmed_string(&mut v, "n", &json!("abc"), 1, 2), None);
        assert!(!v.is_empty());
    }

    #[test]
    fn dns_names() {
        for ok in ["acme.com", "eu.acme.co.uk", "a-b.io", "x1.example"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in [
            "acme", "Acme.com", "-a.com", "a-.com", "a..com", ".com", "a.c0m1", "a b.com", "a_b.com", "",
        ] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(is_email("billing@acme.com"));
        assert!(is_email("a.b+c@eu.acme.co.uk"));
        for bad in [
            "",
            "acme.com",
            "@acme.com",
            "a@",
            "a@acme",
            "a b@acme.com",
            "a@@acme.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_canonical_uuids_ordered_by_time() {
        let a = new_id(&crate::time::parse("2026-01-01T00:00:00.001Z").unwrap());
        let b = new_id(&crate::time::parse("2026-01-01T00:00:00.002Z").unwrap());
        assert!(a < b);
        assert_eq!(parse_id(&a), Some(a.clone()));
        assert_eq!(parse_id(&a.to_uppercase()), None);
        assert_eq!(parse_id("not-a-uuid"), None);
    }
}
