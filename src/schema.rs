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

/// The canonical levels of a contract column that holds a closed set of them
/// (`ai_involvement`, `permission_level`, `review_status`, `change_type`); `None` for any
/// other column.
pub fn levels_of(column: &str) -> Option<Vec<&'static str>> {
    fn names<L: Copy>(all: &[L], name: fn(L) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|&l| name(l)).collect()
    }
    Some(match column {
        "ai_involvement" => names(AiInvolvement::ALL, AiInvolvement::as_str),
        "permission_level" => names(Permission::ALL, Permission::as_str),
        "review_status" => names(Review::ALL, Review::as_str),
        "change_type" => names(ChangeType::ALL, ChangeType::as_str),
        _ => return None,
    })
}

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
    if let Some(t) = parse_plain_utc(s.as_bytes()) {
        return Some(t);
    }
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
    // With an offset: `Z`, `+HH`, `+HHMM` or `+HH:MM` (PostgreSQL writes `+01`), after
    // seconds or minutes.
    let zoned = match s.strip_suffix(['Z', 'z']) {
        Some(rest) => std::borrow::Cow::Owned(format!("{rest}+00:00")),
        None => std::borrow::Cow::Borrowed(s),
    };
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%d %H:%M%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&zoned, fmt) {
            return Some(t.timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    None
}

/// `YYYY-MM-DDTHH:MM:SSZ` exactly, the form most exports write, read without chrono
/// (which reads every other form); `None` for anything else, an invalid date included.
fn parse_plain_utc(b: &[u8]) -> Option<i64> {
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0i64, |v, &d| {
            d.is_ascii_digit().then(|| v * 10 + i64::from(d - b'0'))
        })
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d < 1 || d > month_days[mo as usize - 1] {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (years counted from March).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + h * 3_600 + mi * 60 + sec)
}

/// The earliest time a change or an incident may have: 1970-01-02T00:00:00Z. Earlier
/// times (0001-01-01, Go's zero time; the Unix epoch itself, in any offset) are what
/// exports write for a missing time, and taken as one would make a change the first of
/// the history, silently.
pub const EARLIEST_TIME: i64 = 86_400;
/// The first time past the latest a change or an incident may have: 2200-01-01T00:00:00Z
/// (9999-12-31 is the other placeholder).
pub const LATEST_TIME: i64 = 7_258_118_400;

/// True for a time changerisk takes as one: from [`EARLIEST_TIME`] to before
/// [`LATEST_TIME`] (anything else is taken for a placeholder of a missing time).
pub fn is_real_time(t: i64) -> bool {
    (EARLIEST_TIME..LATEST_TIME).contains(&t)
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
        // ISO 8601 forms beside RFC 3339: no seconds with a zone, hour-only and
        // colon-less offsets (PostgreSQL's text form), a space before the zone's time.
        for s in [
            "2025-03-01T14:05Z",
            "2025-03-01T16:05+02:00",
            "2025-03-01 15:05:00+01",
            "2025-03-01 16:05:00.25+0200",
            "2025-03-01 14:05Z",
            "2025-03-01T12:05:00-02",
            "2025-03-01t14:05:00z",
        ] {
            assert_eq!(parse_timestamp(s), Some(1_740_837_900), "{s}");
        }
        for s in [
            "2025-03-01T14:05+2",
            "2025-03-01T14Z",
            "2025-03-01T14:05:00+02:00Z",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
        assert_eq!(parse_timestamp("2025-13-01T00:00:00Z"), None);
        assert_eq!(format_timestamp(1_740_837_900), "2025-03-01T14:05:00Z");
    }

    #[test]
    fn plain_utc_timestamps_read_as_chrono_reads_them() {
        let mut t: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
        while t < 253_402_300_799 {
            let text = format_timestamp(t);
            assert_eq!(parse_plain_utc(text.as_bytes()), Some(t), "{text}");
            t += 7_777_777;
        }
        for bad in [
            "2025-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-00-01T00:00:00Z",
            "2025-01-00T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:60:00Z",
            "2025-01-01T00:00:60Z",
            "2025-01-01 00:00:00Z",
            "2025-01-01T00:00:00+",
            "+025-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_plain_utc(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(
            parse_plain_utc(b"2024-02-29T23:59:59Z"),
            DateTime::parse_from_rfc3339("2024-02-29T23:59:59Z")
                .ok()
                .map(|t| t.timestamp())
        );
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
