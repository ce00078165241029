//! Property tests: the cell parsers and config readers never panic on arbitrary text,
//! and what changerisk writes reads back as the same value.

use changerisk::config::{Config, TimestampFormat};
use changerisk::label::parse_duration;
use changerisk::policy::Policies;
use changerisk::schema::{format_timestamp, parse_bool, parse_severity, parse_timestamp};
use changerisk::table::parse_count;
use proptest::prelude::*;

proptest! {
    #[test]
    fn cell_parsers_never_panic(s in ".{0,40}") {
        let _ = parse_timestamp(&s);
        let _ = parse_severity(&s);
        let _ = parse_bool(&s);
        let _ = parse_count(&s);
        let _ = parse_duration(&s);
        for format in [TimestampFormat::Unix, TimestampFormat::UnixMs, TimestampFormat::Pattern("%Y/%m/%d %H:%M".into())] {
            let _ = format.parse_cell(&s);
        }
    }

    #[test]
    fn config_and_policy_readers_never_panic(s in "[\\[\\]a-z_=\"' \n0-9.,{}]{0,120}") {
        let _ = Config::parse(&s, "c.toml");
        let _ = Policies::parse(&s, "p.toml");
    }

    #[test]
    fn timestamps_round_trip(secs in -62_000_000_000i64..250_000_000_000i64) {
        prop_assert_eq!(parse_timestamp(&format_timestamp(secs)), Some(secs));
    }

    #[test]
    fn counts_round_trip(n in 0u64..9_000_000_000_000_000) {
        prop_assert_eq!(parse_count(&n.to_string()), Some(n));
    }

    #[test]
    fn severities_accept_exactly_one_to_five(n in -10i64..20) {
        let parsed = parse_severity(&n.to_string());
        prop_assert_eq!(parsed.is_some(), (1..=5).contains(&n));
        prop_assert_eq!(parse_severity(&format!("SEV{n}")), parsed);
    }
}
