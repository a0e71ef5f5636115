//! Body validation helpers shared by the resources.

use serde_json::{Map, Value};

use crate::error::{ApiError, Violations};

/// Read-only fields every resource ignores when a client sends them back.
pub const COMMON_READ_ONLY: &[&str] = &["id", "tenant_id", "inserted_at", "updated_at"];

/// Rejects fields that are neither writable nor known read-only (422), and drops the read-only
/// ones, so a client can send back what it read.
pub fn known_fields(
    mut body: Map<String, Value>,
    writable: &[&str],
    read_only: &[&str],
) -> Result<Map<String, Value>, ApiError> {
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

/// A required string trimmed to `min..=max` characters.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_rejected_and_read_only_dropped() {
        let body = json!({"name": "x", "id": "1", "bogus": 1})
            .as_object()
            .unwrap()
            .clone();
        assert!(
            matches!(known_fields(body, &["name"], &[]), Err(ApiError::Validation(e)) if e.contains_key("bogus"))
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
}
