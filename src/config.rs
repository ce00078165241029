//! The feature config (`--config FILE`): how a team's own export maps onto changerisk.
//! It names the id, time, label, service and author columns, the timestamp format, and
//! the columns to learn from. The contract's schema of SPEC.md is the default config,
//! with the built-in semantic features attached to the columns it knows.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::format::StrftimeItems;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a timestamp column is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampFormat {
    /// RFC 3339 / ISO 8601 (`2025-03-01T14:05:00Z`).
    Rfc3339,
    /// Seconds since 1970-01-01 UTC.
    Unix,
    /// Milliseconds since 1970-01-01 UTC.
    UnixMs,
    /// A strftime pattern (`%Y/%m/%d %H:%M`), taken as UTC.
    Pattern(String),
}

/// How the built-in features load a contract column, which is then the only kind it
/// may also be declared as (the declared feature shares the loaded column): text as
/// categorical, a required count as numeric. `None` for the columns whose loaded values a
/// declared feature would change: the flags (read as true/false, not 0/1) and
/// `reviewer_count` (an empty cell is 0, not missing).
fn builtin_reads_as(column: &str) -> Option<&'static str> {
    match column {
        "service" | "author" | "ai_involvement" | "ai_tool" | "permission_level"
        | "review_status" | "change_type" => Some("categorical"),
        "services_affected" | "regions_affected" | "lines_changed" | "files_changed" => {
            Some("numeric")
        }
        _ => None,
    }
}

/// Seconds from 1970-01-01 to 1971-01-01: `unix_ms` values below this many seconds are
/// refused (see [`TimestampFormat::parse_cell`]).
const SECONDS_IN_1970: f64 = 31_536_000.0;

impl TimestampFormat {
    /// The format a config's `timestamp_format` names.
    pub fn parse(text: &str) -> TimestampFormat {
        match text {
            "rfc3339" => TimestampFormat::Rfc3339,
            "unix" => TimestampFormat::Unix,
            "unix_ms" => TimestampFormat::UnixMs,
            pattern => TimestampFormat::Pattern(pattern.to_string()),
        }
    }

    fn name(&self) -> &str {
        match self {
            TimestampFormat::Rfc3339 => "rfc3339",
            TimestampFormat::Unix => "unix",
            TimestampFormat::UnixMs => "unix_ms",
            TimestampFormat::Pattern(p) => p,
        }
    }

    /// Parses one cell into Unix seconds.
    pub fn parse_cell(&self, s: &str) -> Option<i64> {
        match self {
            TimestampFormat::Rfc3339 => crate::schema::parse_timestamp(s),
            TimestampFormat::Unix | TimestampFormat::UnixMs => {
                let v: f64 = s.trim().parse().ok()?;
                let secs = if *self == TimestampFormat::UnixMs {
                    v / 1000.0
                } else {
                    v
                };
                // Milliseconds that land in 1970 are Unix seconds read in the wrong unit
                // (a history of 2015-2018 would fit in January 1970): refused, as the
                // range check would let them through.
                if *self == TimestampFormat::UnixMs && (0.0..SECONDS_IN_1970).contains(&secs) {
                    return None;
                }
                // Far times are read, to be refused by their range with their value.
                (secs.is_finite() && secs.abs() < 1e17).then(|| secs.floor() as i64)
            }
            TimestampFormat::Pattern(p) => {
                let mut parsed = chrono::format::Parsed::new();
                chrono::format::parse(&mut parsed, s.trim(), StrftimeItems::new(p)).ok()?;
                // An hour without minutes (`%Y-%m-%d %H`) is on the hour.
                if parsed.hour_mod_12().is_some() && parsed.minute().is_none() {
                    parsed.set_minute(0).ok()?;
                }
                let letters = specifiers(p);
                // A pattern with an offset (`%z`, or `%+`, ISO 8601 with one) is read with
                // it: a naive parse reads it and drops it, which would shift every time by
                // its zone.
                if letters.contains(&'z') || letters.contains(&'+') {
                    return parsed.to_datetime().ok().map(|t| t.timestamp());
                }
                match parsed.to_naive_datetime_with_offset(0) {
                    Ok(t) => Some(t.and_utc().timestamp()),
                    // A date alone is its midnight; a time that cannot be completed (a
                    // 12-hour hour without AM/PM) is no time, not its day's midnight.
                    Err(_) if precision(&letters) == crate::history::DAY => parsed
                        .to_naive_date()
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|t| t.and_utc().timestamp()),
                    Err(_) => None,
                }
            }
        }
    }

    /// What a cell should look like, for error messages.
    pub fn expected(&self) -> String {
        match self {
            TimestampFormat::Rfc3339 => "an RFC 3339 timestamp such as 2025-03-01T14:05:00Z".into(),
            TimestampFormat::Unix => "Unix seconds".into(),
            TimestampFormat::UnixMs => "Unix milliseconds of a time from 1971 on (a value below \
                31536000000 is more likely Unix seconds: timestamp_format = \"unix\")"
                .into(),
            TimestampFormat::Pattern(p) => format!("a timestamp in the format {p:?}"),
        }
    }
}

/// The finest time a strftime pattern with conversion letters `letters` writes, in
/// seconds: 1 with seconds (or a whole timestamp), 60 with minutes, 3,600 with hours, a
/// day with none of them.
fn precision(letters: &[char]) -> i64 {
    let has = |any: &str| letters.iter().any(|c| any.contains(*c));
    if has("STXrsc+") {
        1
    } else if has("MR") {
        60
    } else if has("HkIl") {
        3_600
    } else {
        crate::history::DAY
    }
}

/// Whether a strftime pattern reads an hour but no minutes (`%Y-%m-%d %H`), which
/// builds before model format 9 read as the day's midnight.
pub fn reads_hours_only(pattern: &str) -> bool {
    precision(&specifiers(pattern)) == 3_600
}

/// The conversion letters of a strftime pattern (`z` of `%z`, `%:z` and `%#z`; none
/// of a literal `%%`).
fn specifiers(pattern: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        // Flags and modifiers (`-`, `_`, `0`, `#`, `:`, `.`, digits) come before the letter.
        for c in chars.by_ref() {
            if !matches!(c, '-' | '_' | '0'..='9' | '#' | ':' | '.') {
                if c != '%' {
                    out.push(c);
                }
                break;
            }
        }
    }
    out
}

/// `[columns]`: where the roles live in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsConfig {
    /// Becomes `change_id` in every output.
    pub id: String,
    pub timestamp: String,
    /// `rfc3339` (default), `unix`, `unix_ms` or a strftime pattern.
    #[serde(default = "default_timestamp_format")]
    pub timestamp_format: String,
    /// The change's own label (read as a boolean: 0/1, true/false, yes/no); then no
    /// incidents file is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Enables the per-service history features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Enables the per-author history features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

fn default_timestamp_format() -> String {
    "rfc3339".into()
}

/// `[features]`: the columns to learn from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// The contract's semantic features (AI involvement, permission, review, blast
    /// radius, their interactions, timing, history) over the SPEC.md columns.
    #[serde(default)]
    pub builtin: bool,
    #[serde(default)]
    pub numeric: Vec<String>,
    #[serde(default)]
    pub boolean: Vec<String>,
    #[serde(default)]
    pub categorical: Vec<String>,
    /// Known directions, by numeric or boolean column: `1` the risk never falls as the
    /// value grows (other things equal), `-1` never rises. Tree learners enforce them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub monotone: BTreeMap<String, i8>,
}

/// A whole feature config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub columns: ColumnsConfig,
    #[serde(default)]
    pub features: FeaturesConfig,
}

impl Default for Config {
    /// The contract of SPEC.md.
    fn default() -> Self {
        Config {
            columns: ColumnsConfig {
                id: "change_id".into(),
                timestamp: "timestamp".into(),
                timestamp_format: default_timestamp_format(),
                label: None,
                service: Some("service".into()),
                author: Some("author".into()),
            },
            features: FeaturesConfig {
                builtin: true,
                ..FeaturesConfig::default()
            },
        }
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks config TOML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config> {
        let bad = |message: String| Error::BadConfig {
            file: file.into(),
            message,
        };
        let config: Config =
            toml::from_str(text).map_err(|e| bad(e.to_string().trim().to_string()))?;
        config.check().map_err(bad)?;
        Ok(config)
    }

    /// The checks of [`Config::parse`], also made on the config a model file carries.
    pub fn check(&self) -> std::result::Result<(), String> {
        let f = &self.features;
        if !f.builtin && f.numeric.is_empty() && f.boolean.is_empty() && f.categorical.is_empty() {
            return Err("[features] declares no feature (set builtin = true or list numeric, boolean or categorical columns)".into());
        }
        let c = &self.columns;
        if let Some(label) = c
            .label
            .as_deref()
            .filter(|l| f.builtin && crate::load::CHANGE_COLUMNS.contains(l))
        {
            return Err(format!(
                "column {label:?} is the label column and cannot also be read by the built-in features (builtin = true reads the contract's columns)"
            ));
        }
        let mut roles: Vec<(&str, &str)> = vec![("id", &c.id), ("timestamp", &c.timestamp)];
        roles.extend(c.label.as_deref().map(|l| ("label", l)));
        // The id, the time and the label each their own column, and the label no grouping
        // column: read as the service or the author, it would group the history features
        // by the outcome itself. (A service column that is also the author column, or the
        // id, is odd but not wrong.)
        let mut grouping: Vec<(&str, &str)> = Vec::new();
        grouping.extend(c.service.as_deref().map(|s| ("service", s)));
        grouping.extend(c.author.as_deref().map(|a| ("author", a)));
        let listed = f
            .numeric
            .iter()
            .map(|n| ("[features] numeric", n.as_str()))
            .chain(f.boolean.iter().map(|n| ("[features] boolean", n.as_str())))
            .chain(
                f.categorical
                    .iter()
                    .map(|n| ("[features] categorical", n.as_str())),
            );
        if let Some((key, _)) = roles
            .iter()
            .chain(&grouping)
            .copied()
            .chain(listed)
            .find(|(_, name)| name.is_empty())
        {
            let key = if key.starts_with('[') {
                key.to_string()
            } else {
                format!("[columns] {key}")
            };
            return Err(format!(
                "{key} names the column \"\": expected a column name (a header cell that is empty can't be named: give the column a name)"
            ));
        }
        for (k, &(role, name)) in roles.iter().enumerate() {
            let earlier = roles[..k].iter().find(|(_, n)| *n == name);
            let grouped = (role == "label")
                .then(|| grouping.iter().find(|(_, n)| *n == name))
                .flatten();
            if let Some((other, _)) = earlier.or(grouped) {
                return Err(format!(
                    "column {name:?} is the {role} column and cannot also be the {other} column"
                ));
            }
        }
        let declared = f
            .numeric
            .iter()
            .map(|n| ("numeric", n.as_str()))
            .chain(f.boolean.iter().map(|n| ("boolean", n.as_str())))
            .chain(f.categorical.iter().map(|n| ("categorical", n.as_str())));
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (kind, name) in declared {
            if f.builtin && crate::load::CHANGE_COLUMNS.contains(&name) {
                let allowed = builtin_reads_as(name);
                if allowed != Some(kind) {
                    let may = allowed.map_or("it cannot also be declared".to_string(), |k| {
                        format!("it may also be declared only as a {k} feature")
                    });
                    return Err(format!(
                        "column {name:?} is read by the built-in features (builtin = true \
                         reads the contract's columns), so {may}, not as {kind}"
                    ));
                }
            }
            if let Some((role, _)) = roles.iter().find(|(_, r)| *r == name) {
                return Err(format!(
                    "column {name:?} is the {role} column and cannot also be a {kind} feature"
                ));
            }
            if let Some((other, _)) = seen.iter().find(|(_, n)| *n == name) {
                return Err(format!(
                    "column {name:?} is declared twice (as {other} and {kind})"
                ));
            }
            // The frame's derived columns would replace the file's own under the same
            // name, and the feature would silently read changerisk's value instead.
            let derived = if name == crate::features::TIME_COLUMN {
                Some("the change's own time")
            } else if crate::history::HISTORY_COLUMNS.contains(&name) {
                Some("from the history before each change")
            } else if f.builtin && crate::load::CALENDAR_COLUMNS.contains(&name) {
                Some("from the change's time for the built-in features")
            } else {
                None
            };
            if let Some(derived) = derived {
                return Err(format!(
                    "column {name:?} is named like a column changerisk derives ({derived}), so it cannot be a {kind} feature: rename it in the file"
                ));
            }
            // Alike but for case: SQL engines and the export's readers compare names
            // ignoring it, and would take the two for one.
            let derived_names = crate::history::HISTORY_COLUMNS.iter().chain(
                f.builtin
                    .then_some(
                        crate::load::CALENDAR_COLUMNS
                            .iter()
                            .chain(crate::load::CHANGE_COLUMNS.iter()),
                    )
                    .into_iter()
                    .flatten(),
            );
            if let Some(like) = derived_names
                .into_iter()
                .find(|d| d.eq_ignore_ascii_case(name) && **d != name)
            {
                return Err(format!(
                    "column {name:?} differs only in case from {like:?}, a column changerisk reads or derives; SQL engines and the export's readers compare names ignoring case and would take them for one: rename it in the file"
                ));
            }
            seen.push((kind, name));
        }
        for (column, &direction) in &f.monotone {
            if !f.numeric.contains(column) && !f.boolean.contains(column) {
                return Err(format!(
                    "monotone names column {column:?}, which is not declared numeric or boolean"
                ));
            }
            if !(-1..=1).contains(&direction) {
                return Err(format!(
                    "monotone {column:?} = {direction}: expected 1 (risk never falls as it grows), -1 (never rises) or 0"
                ));
            }
        }
        if let TimestampFormat::Pattern(p) = self.timestamp_format() {
            if !p.contains('%') {
                return Err(format!(
                    "timestamp_format {p:?} is not rfc3339, unix, unix_ms or a strftime pattern such as \"%Y-%m-%d %H:%M\""
                ));
            }
            // A zone name is skipped when read (`PST` would be taken for UTC).
            if specifiers(&p).contains(&'Z') {
                return Err(format!(
                    "timestamp_format {p:?} reads a time zone name (%Z), which cannot be converted to UTC (PST, IST and CST each name several zones): export the times with a numeric offset and read it with %z, or in UTC"
                ));
            }
            // A pattern must write a time and read it back to what it writes of it: `%Q`
            // is no pattern, `%H:%M` has no date, and `%I` without `%p` reads 18:00 as
            // 06:00. A morning and an evening time, each back to its second, minute, hour
            // or day as the pattern's finest field.
            let letters = specifiers(&p);
            if letters.iter().any(|c| "Il".contains(*c))
                && !letters.iter().any(|c| "pP".contains(*c))
            {
                return Err(format!(
                    "timestamp_format {p:?} reads a 12-hour hour (%I or %l) without AM/PM (%p): 6 in the morning and 6 in the evening would read alike; read a 24-hour hour (%H) or add %p"
                ));
            }
            let step = precision(&letters);
            const MORNING: i64 = 1_709_618_828; // 2024-03-05T06:07:08Z
            for probe in [MORNING, MORNING + 12 * 3_600] {
                let time = chrono::DateTime::from_timestamp(probe, 0).expect("a probe time");
                let mut written = String::new();
                let back =
                    std::fmt::Write::write_fmt(&mut written, format_args!("{}", time.format(&p)))
                        .ok()
                        .and_then(|()| TimestampFormat::Pattern(p.clone()).parse_cell(&written));
                let expected = probe - probe.rem_euclid(step);
                if back != Some(expected) {
                    return Err(format!(
                        "timestamp_format {p:?} does not read back the time it writes ({written:?} reads as {}): a strftime pattern needs the year, month and day, minutes with an hour, and specifiers that read what they write (such as \"%Y-%m-%d %H:%M\")",
                        back.map_or("nothing".into(), crate::schema::format_timestamp)
                    ));
                }
            }
        }
        Ok(())
    }

    /// The timestamp format.
    pub fn timestamp_format(&self) -> TimestampFormat {
        TimestampFormat::parse(&self.columns.timestamp_format)
    }

    /// The config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// True when labels come from a label column rather than incidents.
    pub fn has_label(&self) -> bool {
        self.columns.label.is_some()
    }

    /// A human description of the timestamp format (for messages).
    pub fn timestamp_format_name(&self) -> String {
        self.timestamp_format().name().to_string()
    }
}

/// The default config with comments, as `changerisk config --default` prints it.
pub fn default_config_text() -> String {
    format!(
        "# changerisk feature config: the contract of SPEC.md.\n\
         # Copy and edit it to describe another export (see the README):\n\
         #   [columns] maps roles to your column names; label = \"...\" uses the change's own\n\
         #   0/1 label instead of an incidents file; service/author enable history features.\n\
         #   [features] builtin = true turns on the semantic features over the SPEC columns;\n\
         #   numeric / boolean / categorical list other columns to learn from.\n\n{}",
        Config::default().to_toml()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_alike_but_for_case_to_a_derived_one_is_refused() {
        let toml = |numeric: &str, builtin: bool| {
            format!(
                "[columns]\nid = \"id\"\ntimestamp = \"t\"\nservice = \"svc\"\n\n[features]\nbuiltin = {builtin}\nnumeric = [\"{numeric}\"]\n"
            )
        };
        for (numeric, builtin) in [
            ("Service_Prior_Changes", false),
            ("HOUR", true),
            ("Lines_Changed", true),
        ] {
            let err = Config::parse(&toml(numeric, builtin), "c.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("differs only in case"), "{numeric}: {err}");
        }
        // Without the built-in features the calendar is not derived: `HOUR` is the file's.
        assert!(Config::parse(&toml("HOUR", false), "c.toml").is_ok());
    }

    #[test]
    fn strftime_patterns_accept_unpadded_fields() {
        let f = TimestampFormat::Pattern("%Y/%m/%d %H:%M".into());
        // 2006-07-08T09:06:00Z = 1152349560 (date -ud '2006-07-08 09:06' +%s)
        assert_eq!(f.parse_cell("2006/7/8 9:06"), Some(1_152_349_560));
        assert_eq!(f.parse_cell("2006/07/08 09:06"), Some(1_152_349_560));
        assert_eq!(f.parse_cell("2006-07-08"), None);
        // An offset in the pattern is applied, not dropped (git's default date format).
        let git = TimestampFormat::Pattern("%a %b %e %H:%M:%S %Y %z".into());
        assert_eq!(
            git.parse_cell("Fri Jan 1 10:00:00 2016 -0800"),
            TimestampFormat::Rfc3339.parse_cell("2016-01-01T18:00:00Z")
        );
        assert_eq!(
            specifiers("%Y-%m-%d %H:%M:%S%.3f %:z %%Z"),
            "YmdHMSfz".chars().collect::<Vec<_>>()
        );
        // An hour without minutes is on the hour, not the day's midnight; a pattern
        // with a time that cannot be completed reads no time.
        let hour = TimestampFormat::Pattern("%Y-%m-%d %H".into());
        assert_eq!(
            hour.parse_cell("2015-12-31 16"),
            TimestampFormat::Rfc3339.parse_cell("2015-12-31T16:00:00Z")
        );
        let t_hour = TimestampFormat::Pattern("%d/%m/%YT%H".into());
        assert_eq!(
            t_hour.parse_cell("31/12/2015T16"),
            TimestampFormat::Rfc3339.parse_cell("2015-12-31T16:00:00Z")
        );
        let twelve = TimestampFormat::Pattern("%Y-%m-%d %I:%M".into());
        assert_eq!(twelve.parse_cell("2015-12-31 04:12"), None);
        let with_pm = TimestampFormat::Pattern("%Y-%m-%d %I:%M %p".into());
        assert_eq!(
            with_pm.parse_cell("2015-12-31 04:12 PM"),
            TimestampFormat::Rfc3339.parse_cell("2015-12-31T16:12:00Z")
        );
        // ISO 8601 with its offset (`%+`) is converted to UTC, as `%z` is.
        let iso = TimestampFormat::Pattern("%+".into());
        assert_eq!(
            iso.parse_cell("2024-03-05T06:07:08-08:00"),
            TimestampFormat::Rfc3339.parse_cell("2024-03-05T14:07:08Z")
        );
        assert!(reads_hours_only("%d.%m.%Y %H") && !reads_hours_only("%Y-%m-%d %H:%M"));
        let minutes = TimestampFormat::Pattern("%Y-%m-%d %M".into());
        assert_eq!(minutes.parse_cell("2015-12-31 12"), None);
        // A date alone is its midnight.
        let day = TimestampFormat::Pattern("%d.%m.%Y".into());
        assert_eq!(
            day.parse_cell("31.12.2015"),
            TimestampFormat::Rfc3339.parse_cell("2015-12-31T00:00:00Z")
        );
        // A date with an offset and no time is not read as midnight UTC.
        let date = TimestampFormat::Pattern("%Y-%m-%d %z".into());
        assert_eq!(date.parse_cell("2024-01-01 -0700"), None);
        let iso = TimestampFormat::Pattern("%Y-%m-%dT%H:%M:%S%z".into());
        assert_eq!(
            iso.parse_cell("2016-01-01T10:00:00-08:00"),
            TimestampFormat::Rfc3339.parse_cell("2016-01-01T18:00:00Z")
        );
        assert_eq!(
            TimestampFormat::Unix.parse_cell("1451578374"),
            Some(1_451_578_374)
        );
        assert_eq!(
            TimestampFormat::UnixMs.parse_cell("1451578374500"),
            Some(1_451_578_374)
        );
        // Seconds read as milliseconds would land in January 1970: refused.
        assert_eq!(TimestampFormat::UnixMs.parse_cell("1451578374"), None);
        assert_eq!(
            TimestampFormat::UnixMs.parse_cell("31536000000"),
            Some(31_536_000)
        );
    }

    #[test]
    fn default_config_round_trips() {
        let text = default_config_text();
        assert_eq!(Config::parse(&text, "default").unwrap(), Config::default());
    }

    #[test]
    fn a_declared_column_may_not_take_the_name_of_a_derived_one() {
        for (name, builtin, said) in [
            (
                "service_prior_changes",
                false,
                "from the history before each change",
            ),
            ("@time", false, "the change's own time"),
            (
                "hour",
                true,
                "from the change's time for the built-in features",
            ),
        ] {
            let text = format!(
                "[columns]\nid='a'\ntimestamp='t'\nlabel='bug'\n[features]\nbuiltin={builtin}\nnumeric=['{name}']"
            );
            let e = Config::parse(&text, "c.toml").unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "column \"{name}\" is named like a column changerisk derives"
                )),
                "{e}"
            );
            assert!(e.contains(said), "{e}");
        }
        // Without the built-in features no calendar column is derived: `hour` is the file's.
        let own = "[columns]\nid='a'\ntimestamp='t'\nlabel='bug'\n[features]\nnumeric=['hour']";
        assert!(Config::parse(own, "c.toml").is_ok());
    }

    #[test]
    fn malformed_configs_say_what_is_wrong() {
        let unknown = "[columns]\nid='a'\ntimestamp='t'\nlabell='bug'\n[features]\nnumeric=['x']";
        let e = Config::parse(unknown, "c.toml").unwrap_err().to_string();
        assert!(e.contains("labell"), "{e}");
        let label_as_feature =
            "[columns]\nid='a'\ntimestamp='t'\nlabel='bug'\n[features]\nnumeric=['bug']";
        let e = Config::parse(label_as_feature, "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("label column"), "{e}");
        for (columns, said) in [
            (
                "id='a'\ntimestamp='t'\nlabel='bug'\nservice='bug'",
                "\"bug\" is the label column and cannot also be the service column",
            ),
            (
                "id='a'\ntimestamp='t'\nlabel='bug'\nauthor='bug'",
                "\"bug\" is the label column and cannot also be the author column",
            ),
            (
                "id='a'\ntimestamp='a'",
                "\"a\" is the timestamp column and cannot also be the id column",
            ),
            (
                "id='a'\ntimestamp='t'\nlabel='customer_facing'",
                "\"customer_facing\" is the label column and cannot also be read by the built-in features",
            ),
        ] {
            let features = if columns.contains("customer_facing") {
                "builtin=true"
            } else {
                "numeric=['x']"
            };
            let text = format!("[columns]\n{columns}\n[features]\n{features}");
            let e = Config::parse(&text, "c.toml").unwrap_err().to_string();
            assert!(e.contains(said), "{columns}: {e}");
        }
        // A contract column the built-in features read, declared again: only as the kind
        // they load it as (a flag declared as one clashed at train time).
        let with = |features: &str| {
            let text = format!(
                "[columns]\nid='change_id'\ntimestamp='timestamp'\n[features]\nbuiltin=true\n{features}"
            );
            Config::parse(&text, "c.toml").map_err(|e| e.to_string())
        };
        for (features, said) in [
            ("boolean=['rollback_plan']", "so it cannot also be declared"),
            (
                "categorical=['customer_facing']",
                "so it cannot also be declared",
            ),
            (
                "numeric=['reviewer_count']",
                "so it cannot also be declared",
            ),
            ("categorical=['lines_changed']", "only as a numeric feature"),
            ("boolean=['service']", "only as a categorical feature"),
        ] {
            let e = with(features).unwrap_err();
            assert!(
                e.contains("is read by the built-in features") && e.contains(said),
                "{features}: {e}"
            );
        }
        for features in [
            "numeric=['cost']",
            "categorical=['ai_tool', 'service']",
            "numeric=['lines_changed']",
        ] {
            assert!(with(features).is_ok(), "{features}");
        }
        let nothing = "[columns]\nid='a'\ntimestamp='t'\n";
        assert!(Config::parse(nothing, "c.toml")
            .unwrap_err()
            .to_string()
            .contains("no feature"));
        let format =
            "[columns]\nid='a'\ntimestamp='t'\ntimestamp_format='epoch'\n[features]\nnumeric=['x']";
        assert!(Config::parse(format, "c.toml")
            .unwrap_err()
            .to_string()
            .contains("epoch"));
    }
}
