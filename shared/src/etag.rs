//! Entity tags and `If-Match` (RFC 9110 section 13.1.1), compared strongly: a weak tag never
//! matches, and a header that cannot be read as entity tags matches nothing (412), so a
//! precondition the client meant to set is never silently dropped.

/// The ETag of a record at `version`.
pub fn of_version(version: u64) -> String {
    format!("\"{version}\"")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current representation.
    Any,
    /// The listed tags, quotes included; weak ones are kept out because they cannot match.
    Strong(Vec<String>),
    /// Not ASCII, or not a list of entity tags.
    Unreadable,
}

impl IfMatch {
    pub fn parse(value: &str) -> Self {
        if value.trim() == "*" {
            return IfMatch::Any;
        }
        let mut strong = Vec::new();
        let mut rest = value;
        let mut seen_any = false;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let (weak, tagged) = match rest.strip_prefix("W/") {
                Some(after) => (true, after),
                None => (false, rest),
            };
            let Some(body) = tagged.strip_prefix('"') else {
                return IfMatch::Unreadable;
            };
            let Some(end) = body.find('"') else {
                return IfMatch::Unreadable;
            };
            let opaque = &body[..end];
            // etagc = %x21 / %x23-7E (obs-text never gets here: the header was ASCII).
            if !opaque.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)) {
                return IfMatch::Unreadable;
            }
            if !weak {
                strong.push(format!("\"{opaque}\""));
            }
            seen_any = true;
            rest = &body[end + 1..];
            let after = rest.trim_start_matches([' ', '\t']);
            if !(after.is_empty() || after.starts_with(',')) {
                return IfMatch::Unreadable;
            }
        }
        if seen_any {
            IfMatch::Strong(strong)
        } else {
            IfMatch::Unreadable
        }
    }

    /// Strong comparison with the current ETag.
    pub fn matches(&self, current: &str) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Strong(tags) => tags.iter().any(|t| t == current),
            IfMatch::Unreadable => false,
        }
    }
}

/// Whether a write guarded by `if_match` may go ahead on a record whose ETag is `current`.
pub fn allows(if_match: Option<&IfMatch>, current: &str) -> bool {
    if_match.is_none_or(|m| m.matches(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_comparison() {
        assert!(IfMatch::parse("\"3\"").matches("\"3\""));
        assert!(IfMatch::parse("*").matches("\"3\""));
        assert!(IfMatch::parse("\"1\", \"3\"").matches("\"3\""));
        assert!(
            !IfMatch::parse("W/\"3\"").matches("\"3\""),
            "weak tags never match"
        );
        assert!(!IfMatch::parse("W/\"3\", \"4\"").matches("\"3\""));
        assert!(!IfMatch::parse("\"2\"").matches("\"3\""));
    }

    #[test]
    fn unreadable_headers_match_nothing() {
        for bad in [
            "3",
            "\"3",
            "\"3\" x",
            "",
            ",",
            "W/3",
            "\"a b\"",
            "**",
            "\"3\"\"4\"",
        ] {
            assert_eq!(IfMatch::parse(bad), IfMatch::Unreadable, "{bad:?}");
            assert!(!IfMatch::parse(bad).matches("\"3\""));
        }
    }
}
