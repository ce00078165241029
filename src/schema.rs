//! The data contract of SPEC.md as types: the categorical levels of the changes table,
//! their spellings, and the parsing rules for booleans, timestamps and severities.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Declares a closed set of levels with their canonical spellings, parsed case-insensitively.
macro_rules! levels {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every level, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical spelling used in files.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the canonical spelling, ignoring case and surrounding spaces.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($text) { return Some($name::$variant); })+
                None
            }

            /// "a, b or c": the accepted spellings, for error messages.
            pub fn expected() -> String {
                let all: Vec<&str> = Self::ALL.iter().map(|l| l.as_str()).collect();
                format!("one of {}", all.join(", "))
            }
        }
    };
}

levels!(
    /// How an AI tool took part in a change.
    AiInvolvement { None => "none", Assisted => "assisted", Agent => "agent" }
);
levels!(
    /// Permission of the principal that applied the change.
    Permission { Standard => "standard", Elevated => "elevated", Admin => "admin" }
);
levels!(
    /// Peer-review outcome.
    Review { Approved => "approved", SelfApproved => "self_approved", Bypassed => "bypassed", None => "none" }
);
levels!(
    /// What kind of thing the change modifies.
    ChangeType {
        Code => "code", Config => "config", Infra => "infra", Iam => "iam",
        Database => "database", FeatureFlag => "feature_flag"
    }
);

/// Parses a lenient boolean: true/false/1/0/yes/no in any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    for t in ["true", "1", "yes"] {
        if s.eq_ignore_ascii_case(t) {
            return Some(true);
        }
    }
    for f in ["false", "0", "no"] {
        if s.eq_ignore_ascii_case(f) {
            return Some(false);
        }
    }
    None
}

/// Parses an RFC 3339 / ISO 8601 timestamp into Unix seconds (UTC). An offset is
/// converted to UTC; a timestamp without an offset is taken as UTC. Fractional seconds
/// are truncated.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    // ISO 8601 variants seen in exports: space separator, no offset, no seconds.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    None
}

/// Formats Unix seconds as RFC 3339 UTC (`2025-03-01T14:05:00Z`).
pub fn format_timestamp(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

/// Parses a severity: an integer 1..5 or `sev1`..`sev5` (any case).
pub fn parse_severity(s: &str) -> Option<u8> {
    let s = s.trim();
    // `get` rather than indexing: the first bytes may split a multi-byte character.
    let digits = match (s.get(..3), s.get(3..)) {
        (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case("sev") => rest,
        _ => s,
    };
    let v: f64 = digits.trim().parse().ok()?;
    (v.fract() == 0.0 && (1.0..=5.0).contains(&v)).then_some(v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively_and_reject_typos() {
        assert_eq!(Review::parse(" Self_Approved "), Some(Review::SelfApproved));
        assert_eq!(Review::parse("aproved"), None);
        assert_eq!(
            Review::expected(),
            "one of approved, self_approved, bypassed, none"
        );
    }

    #[test]
    fn booleans_are_lenient() {
        for t in ["true", "TRUE", "1", "Yes"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "0", "NO"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("2"), None);
    }

    #[test]
    fn timestamps_convert_offsets_to_utc() {
        // 2025-03-01T14:05:00Z = 1740837900 (date -d '2025-03-01T14:05:00Z' +%s)
        assert_eq!(parse_timestamp("2025-03-01T14:05:00Z"), Some(1_740_837_900));
        assert_eq!(
            parse_timestamp("2025-03-01T16:05:00+02:00"),
            Some(1_740_837_900)
        );
        assert_eq!(parse_timestamp("2025-03-01 14:05:00"), Some(1_740_837_900));
        assert_eq!(parse_timestamp("2025-13-01T00:00:00Z"), None);
        assert_eq!(format_timestamp(1_740_837_900), "2025-03-01T14:05:00Z");
    }

    #[test]
    fn severities_accept_numbers_and_sev_prefix() {
        assert_eq!(parse_severity("1"), Some(1));
        assert_eq!(parse_severity("SEV3"), Some(3));
        assert_eq!(parse_severity("2.0"), Some(2));
        assert_eq!(parse_severity("6"), None);
        assert_eq!(parse_severity("sev0"), None);
    }
}
