//! The inputs of the query from the changes as a config describes them (`sql --raw`):
//! the labels linked from the incidents (SPEC "Labels"), the calendar columns and the
//! point-in-time history columns, each as [`crate::label`], [`crate::load::add_calendar`]
//! and [`crate::history`] compute them, in window functions over one table of events per
//! service and per author (a change, a change becoming incident-causing, an incident),
//! each counted over `RANGE BETWEEN ... AND 1 PRECEDING` on whole seconds: strictly
//! before the change.

use std::fmt::Write;

use super::{Dialect, Writer};
use crate::error::Result;
use crate::features::InputKind;
use crate::history::{DAY, RECENCY_CAP_DAYS, SERVICE_EXPECTATION_WEIGHT};
use crate::load::{CALENDAR_COLUMNS, WEEKDAYS, WORKDAY_END_HOUR, WORKDAY_START_HOUR};

/// The contract's boolean columns.
const FLAG_COLUMNS: [&str; 2] = ["customer_facing", "rollback_plan"];

/// The contract's required columns (SPEC) that a feature reads as a number or a boolean,
/// which an empty cell would otherwise turn into 0 or false.
const REQUIRED_COLUMNS: [&str; 5] = [
    "services_affected",
    "regions_affected",
    "customer_facing",
    "lines_changed",
    "files_changed",
];

impl Dialect {
    /// `FROM` rows of `table` (aliased `i`), one per `;`-separated part of its column
    /// `column`, the part named `p` (none for a `NULL`).
    fn split_rows(self, table: &str, column: &str) -> String {
        let c = format!("i.{}", self.ident(column));
        match self {
            Dialect::Duckdb => {
                format!("{table} i CROSS JOIN UNNEST(string_split({c}, ';')) AS u(p)")
            }
            Dialect::Trino => format!("{table} i CROSS JOIN UNNEST(split({c}, ';')) AS u(p)"),
            Dialect::Spark => format!("{table} i LATERAL VIEW explode(split({c}, ';')) u AS p"),
        }
    }

    /// Whether the text `x` is digits, a point and zeros only (`123.0`, how pandas writes
    /// an integer id in a column with gaps).
    fn integer_form(self, x: &str) -> String {
        let pattern = "'^[0-9]+[.]0+$'";
        match self {
            Dialect::Duckdb => format!("regexp_matches({x}, {pattern})"),
            Dialect::Trino => format!("regexp_like({x}, {pattern})"),
            Dialect::Spark => format!("{x} RLIKE {pattern}"),
        }
    }

    /// The engine's text type.
    fn text_type(self) -> &'static str {
        match self {
            Dialect::Spark => "STRING",
            Dialect::Duckdb | Dialect::Trino => "VARCHAR",
        }
    }

    /// The value of column `column` as text (an id or a name the engine typed as a
    /// number is compared as the text changerisk reads).
    fn text_of(self, column: &str) -> String {
        let c = self.ident(column);
        match self {
            // Trino writes a double cast to text in exponent form (1.0E0); `format`
            // writes it as Java does (1.0), text and booleans as they are, and NULL as
            // 'null', hence the guard.
            Dialect::Trino => format!("CASE WHEN {c} IS NULL THEN NULL ELSE format('%s', {c}) END"),
            Dialect::Duckdb | Dialect::Spark => format!("CAST({c} AS {})", self.text_type()),
        }
    }

    /// `x` without the spaces, tabs and line breaks around it (changerisk trims every
    /// cell it reads).
    fn trim(self, x: &str) -> String {
        format!("TRIM(BOTH chr(32) || chr(9) || chr(10) || chr(13) FROM {x})")
    }

    /// The value of column `column` as text, trimmed.
    fn trimmed_text(self, column: &str) -> String {
        self.trim(&self.text_of(column))
    }

    /// The value of column `column` as lower-case text, trimmed.
    fn lower_text(self, column: &str) -> String {
        format!("LOWER({})", self.trimmed_text(column))
    }

    /// An expression that stops the query with `message`.
    fn fail(self, message: &str) -> String {
        let f = match self {
            Dialect::Duckdb => "error",
            Dialect::Trino => "fail",
            Dialect::Spark => "raise_error",
        };
        format!("{f}({})", self.text(message))
    }

    /// The severity in column `column`: a number, or text such as `sev2` (any case).
    fn severity(self, column: &str) -> String {
        let text = self.lower_text(column);
        // A leading `sev` only (`2sev` is no severity).
        let number = self.trim(&format!(
            "CASE WHEN SUBSTR({text}, 1, 3) = 'sev' THEN SUBSTR({text}, 4) ELSE {text} END"
        ));
        // Anything else is NULL, which the checks refuse with their message (Spark's
        // CAST gives NULL outside ANSI mode, and errs inside it).
        match self {
            Dialect::Duckdb | Dialect::Trino => format!("TRY_CAST({number} AS DOUBLE)"),
            Dialect::Spark => format!("CAST({number} AS DOUBLE)"),
        }
    }

    /// A boolean column as the loader reads one: a boolean, or `true`/`false`,
    /// `1`/`0`, `yes`/`no` in any case (and `1.0`/`0.0`); anything else `NULL`.
    fn flag(self, column: &str, yes: &str, no: &str) -> String {
        format!(
            "CASE WHEN {c} IN ('true', '1', 'yes', '1.0') THEN {yes} WHEN {c} IN ('false', '0', 'no', '0.0') THEN {no} END",
            c = self.lower_text(column)
        )
    }

    /// The CTEs of `sql` (each opened by a line `name AS (`) computed once: DuckDB 1.1
    /// inlines a CTE at every reference, and the history's are each read several times
    /// (4x faster on 100,000 changes). Trino and Spark SQL plan shared subqueries
    /// themselves (and Trino has no such hint).
    fn materialized(self, sql: &str) -> String {
        if self != Dialect::Duckdb {
            return sql.to_string();
        }
        let cte = |line: &str| {
            line.strip_suffix(" AS (")
                .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .map(|name| format!("{name} AS MATERIALIZED ("))
        };
        let lines: Vec<String> = sql
            .split('\n')
            .map(|line| cte(line).unwrap_or_else(|| line.to_string()))
            .collect();
        lines.join("\n")
    }

    /// The text of `x` before its first point.
    fn before_point(self, x: &str) -> String {
        match self {
            Dialect::Duckdb | Dialect::Trino => format!("split_part({x}, '.', 1)"),
            Dialect::Spark => format!("substring_index({x}, '.', 1)"),
        }
    }
}

/// A window over the events of one group (`g`) strictly before each row's second, from
/// `seconds` before it (or from the start).
fn before(partition: &str, seconds: Option<i64>) -> String {
    let from = seconds.map_or("UNBOUNDED".to_string(), |s| s.to_string());
    format!("(PARTITION BY {partition} ORDER BY t RANGE BETWEEN {from} PRECEDING AND 1 PRECEDING)")
}

impl Writer<'_> {
    /// Whole seconds since 1970 of the changes' own time column, read as its config's
    /// `timestamp_format` says (a timestamp type for RFC 3339 and patterns).
    fn change_seconds(&self) -> String {
        use crate::config::TimestampFormat;
        let cols = &self.model.config.columns;
        let c = self.dialect.ident(&cols.timestamp);
        let seconds = match self.model.config.timestamp_format() {
            TimestampFormat::Unix => format!("FLOOR(CAST({c} AS DOUBLE))"),
            TimestampFormat::UnixMs => format!("FLOOR(CAST({c} AS DOUBLE) / 1e3)"),
            TimestampFormat::Rfc3339 | TimestampFormat::Pattern(_) => {
                self.dialect.epoch_seconds(&cols.timestamp)
            }
        };
        format!("CAST({seconds} AS BIGINT)")
    }

    /// Whether the loader reads column `column` as a boolean (the contract's, or a
    /// config's declared one).
    fn is_flag(&self, column: &str) -> bool {
        let features = &self.model.config.features;
        features.builtin && FLAG_COLUMNS.contains(&column)
            || features.boolean.iter().any(|b| b == column)
    }

    /// A raw input column as the loader reads it.
    fn raw_input(&self, column: &str, kind: InputKind) -> String {
        let d = self.dialect;
        let features = &self.model.config.features;
        if features.builtin && crate::schema::levels_of(column).is_some() {
            // The contract's closed sets of levels, read as the loader reads them.
            d.lower_text(column)
        } else if self.is_flag(column) {
            // The contract's booleans stay booleans; a config's are read as 0 or 1.
            match kind {
                InputKind::Boolean => d.flag(column, "TRUE", "FALSE"),
                InputKind::Numeric | InputKind::Categorical => d.flag(column, "1e0", "0e0"),
            }
        } else if kind == InputKind::Categorical {
            // An empty cell is a missing one.
            format!("NULLIF({}, '')", d.trimmed_text(column))
        } else if kind == InputKind::Numeric {
            d.nan_to_null(&self.numeric(column))
        } else {
            d.ident(column)
        }
    }

    /// The CTEs up to `inputs` for `--raw`: the changes of `from`, the incidents of
    /// `incidents` (none for a config with a label column).
    pub(super) fn raw_inputs(&self, from: &str, incidents: Option<&str>) -> Result<String> {
        let d = self.dialect;
        let cols = &self.model.config.columns;
        let group = |column: &Option<String>| {
            column
                .as_ref()
                .map_or("''".to_string(), |c| d.trimmed_text(c))
        };
        let inputs = self.inputs();
        let own: Vec<(&str, InputKind)> = inputs
            .iter()
            .map(|(c, kind)| (c.as_str(), *kind))
            .filter(|(c, _)| *c != crate::features::TIME_COLUMN && !self.computed(c))
            .collect();
        let mut sql = String::new();
        write!(
            sql,
            "changes_in AS (\n  SELECT {} AS id, {} AS t, {} AS service, {} AS author",
            d.trimmed_text(&cols.id),
            self.change_seconds(),
            group(&cols.service),
            group(&cols.author)
        )
        .expect("writing to a string");
        // The change's own columns under positional names (`v0`, ...), which no name of
        // the query's own (`id`, `t`, ...) can clash with; `inputs` names them back.
        for (k, (c, kind)) in own.iter().enumerate() {
            write!(sql, ", {} AS v{k}", self.raw_input(c, *kind)).expect("writing to a string");
            if self.is_flag(c) {
                // The cell as written too, for the check of its spelling.
                write!(sql, ", {} AS r{k}", d.trimmed_text(c)).expect("writing to a string");
            }
        }
        write!(sql, "\n  FROM {from}\n)").expect("writing to a string");
        // The labels and history only when a feature reads a history column (a config
        // without a service or author column has none).
        let history = inputs
            .iter()
            .any(|(c, _)| crate::history::HISTORY_COLUMNS.contains(&c.as_str()));
        if history {
            self.history(&mut sql, incidents)?;
        }
        // The incidents are read (and checked) for the history only.
        let read_incidents = history && incidents.is_some();
        self.checks(&mut sql, read_incidents, &own);
        self.calendar_and_history(&mut sql, &own, history, read_incidents)?;
        Ok(self.dialect.materialized(&sql))
    }

    /// The labels (from the incidents, when given) and the CTEs of the history columns:
    /// `service_counts` and `author_counts`, one row per change.
    fn history(&self, sql: &mut String, incidents: Option<&str>) -> Result<()> {
        let caused_at = match incidents {
            None => {
                sql.push_str(
                    ",\nlabelled AS (\n  SELECT id, t, service, author, CAST(NULL AS BIGINT) AS caused_at\n  FROM changes_in\n)",
                );
                false
            }
            Some(incidents) => {
                self.labels(sql, incidents);
                true
            }
        };
        // One row per event of a service: a change (with its id), a change becoming
        // incident-causing (once its first incident has started), an incident.
        sql.push_str(
            ",\nservice_events AS (\n  SELECT service AS g, t, id, 1 AS is_change, 0 AS is_caused, 0 AS is_incident, CAST(NULL AS BIGINT) AS incident_t\n  FROM labelled",
        );
        if caused_at {
            sql.push_str(
                "\n  UNION ALL SELECT service, caused_at, NULL, 0, 1, 0, NULL FROM labelled WHERE caused_at IS NOT NULL\n  UNION ALL SELECT service, t, NULL, 0, 0, 1, t FROM incidents_in",
            );
        }
        sql.push_str("\n)");
        let all = before("g", None);
        write!(
            sql,
            ",\nservice_counts AS (\n  SELECT * FROM (\n    SELECT id, t,\n      \
             COALESCE(SUM(is_incident) OVER {}, 0) AS incidents_7d,\n      \
             COALESCE(SUM(is_incident) OVER {}, 0) AS incidents_30d,\n      \
             MAX(incident_t) OVER {all} AS last_incident,\n      \
             COALESCE(SUM(is_change) OVER {}, 0) AS changes_7d,\n      \
             COALESCE(SUM(is_change) OVER {all}, 0) AS prior_changes,\n      \
             COALESCE(SUM(is_caused) OVER {all}, 0) AS incident_changes\n    \
             FROM service_events\n  ) AS s\n  WHERE id IS NOT NULL\n)",
            before("g", Some(7 * DAY)),
            before("g", Some(30 * DAY)),
            before("g", Some(7 * DAY)),
        )
        .expect("writing to a string");
        // The whole timeline's rate of incident-causing changes just before each change,
        // which each service's rate is shrunk towards for the expected incidents: the
        // events of the days before the change's (a running sum over one row a day), and
        // those of its own day before it (a window partitioned by day), so that no window
        // runs over every event in one partition (one task in Spark).
        let same_day = before("d", None);
        write!(
            sql,
            ",\noverall_events AS (\n  SELECT id, t, CAST(FLOOR(t / {DAY}) AS BIGINT) AS d, is_change, is_caused\n  \
             FROM service_events WHERE is_incident = 0\n),\n\
             overall_days AS (\n  SELECT d,\n    \
             COALESCE(SUM(changes) OVER (ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS changes_before,\n    \
             COALESCE(SUM(caused) OVER (ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS caused_before\n  \
             FROM (SELECT d, SUM(is_change) AS changes, SUM(is_caused) AS caused FROM overall_events GROUP BY d) AS per_day\n),\n\
             overall AS (\n  SELECT o.id, y.changes_before + o.changes AS changes, y.caused_before + o.caused AS caused\n  \
             FROM (\n    SELECT id, d,\n      \
             COALESCE(SUM(is_change) OVER {same_day}, 0) AS changes,\n      \
             COALESCE(SUM(is_caused) OVER {same_day}, 0) AS caused\n    \
             FROM overall_events\n  ) AS o JOIN overall_days y ON y.d = o.d\n  \
             WHERE o.id IS NOT NULL\n)",
        )
        .expect("writing to a string");
        let w = super::number(SERVICE_EXPECTATION_WEIGHT)?;
        write!(
            sql,
            ",\nexpected AS (\n  SELECT s.id,\n    \
             (CAST(s.incident_changes AS DOUBLE) + {w} * CASE WHEN o.changes > 0 THEN CAST(o.caused AS DOUBLE) / CAST(o.changes AS DOUBLE) ELSE 0e0 END)\n      \
             / (CAST(s.prior_changes AS DOUBLE) + {w}) AS expected\n  \
             FROM service_counts s JOIN overall o ON o.id = s.id\n)"
        )
        .expect("writing to a string");
        sql.push_str(
            ",\nauthor_events AS (\n  SELECT l.author AS g, l.t, l.id, 1 AS is_change, 0 AS is_caused, e.expected\n  FROM labelled l JOIN expected e ON e.id = l.id",
        );
        if caused_at {
            sql.push_str(
                "\n  UNION ALL SELECT author, caused_at, NULL, 0, 1, 0e0 FROM labelled WHERE caused_at IS NOT NULL",
            );
        }
        write!(
            sql,
            "\n),\nauthor_counts AS (\n  SELECT * FROM (\n    SELECT id,\n      \
             COALESCE(SUM(is_change) OVER {all}, 0) AS prior_changes,\n      \
             COALESCE(SUM(is_caused) OVER {all}, 0) AS incident_changes,\n      \
             COALESCE(SUM(expected) OVER {all}, 0e0) AS expected_incidents\n    \
             FROM author_events\n  ) AS a\n  WHERE id IS NOT NULL\n)"
        )
        .expect("writing to a string");
        Ok(())
    }

    /// The `incidents_in` and `labelled` CTEs: each change's first linked incident's
    /// start, and when the change became incident-causing (`caused_at`: that start, or
    /// the change's own time when later).
    fn labels(&self, sql: &mut String, incidents: &str) {
        let d = self.dialect;
        let p = &self.model.labelling;
        write!(
            sql,
            ",\nall_incidents AS (\n  SELECT {} AS incident, {} AS t, {} AS service, {} AS causes, {} AS severity\n  FROM {incidents}\n),\n\
             incidents_in AS (\n  -- the model's severity cut (--max-severity)\n  SELECT incident, t, service, causes FROM all_incidents WHERE severity <= {}\n)",
            d.trimmed_text("incident_id"),
            format_args!("CAST({} AS BIGINT)", d.epoch_seconds("start_time")),
            d.trimmed_text("service"),
            d.text_of("caused_by_change"),
            d.severity("severity"),
            p.max_severity
        )
        .expect("writing to a string");
        // Named causes, each id trimmed, with its integer form (123 for 123.0); an
        // incident naming none is attributed instead.
        let part = d.trim("p");
        write!(
            sql,
            ",\nnamed AS (\n  SELECT i.incident, i.t, {part} AS named,\n    \
             CASE WHEN {} THEN {} END AS integer_form\n  FROM {}\n  WHERE {part} <> ''\n)",
            d.integer_form(&part),
            d.before_point(&part),
            d.split_rows("incidents_in", "causes")
        )
        .expect("writing to a string");
        // A named id is a change's id, or else its integer form's.
        sql.push_str(
            ",\nnamed_links AS (\n  SELECT n.t, COALESCE(c.id, c2.id) AS id\n  FROM named n\n  \
             LEFT JOIN changes_in c ON c.id = n.named\n  \
             LEFT JOIN changes_in c2 ON c2.id = n.integer_form\n)",
        );
        // The most recent change on the incident's service at or before its start (a
        // running maximum over the service's changes and incidents in time order; a change
        // of the incident's second counts), at most the attribution window before it;
        // equal times: the greatest id.
        write!(
            sql,
            ",\nunnamed AS (\n  SELECT service, t, MAX(change_t) OVER (PARTITION BY service ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS change_t, incident\n  \
             FROM (\n    SELECT service, t, t AS change_t, CAST(NULL AS {text}) AS incident FROM changes_in\n    \
             UNION ALL SELECT i.service, i.t, NULL, i.incident FROM incidents_in i\n      \
             WHERE NOT EXISTS (SELECT 1 FROM named n WHERE n.incident = i.incident)\n  ) AS e\n),\n\
             latest AS (\n  SELECT service, t, MAX(id) AS id FROM changes_in GROUP BY service, t\n),\n\
             attributed AS (\n  SELECT u.t, l.id\n  FROM unnamed u JOIN latest l ON l.service = u.service AND l.t = u.change_t\n  \
             WHERE u.incident IS NOT NULL\n    -- the model's attribution window (--attribution-window), in seconds\n    AND u.t - u.change_t <= {}\n)",
            p.attribution_window_secs,
            text = d.text_type()
        )
        .expect("writing to a string");
        sql.push_str(
            ",\nfirst_incident AS (\n  SELECT id, MIN(t) AS first_t FROM (\n    \
             SELECT id, t FROM named_links WHERE id IS NOT NULL\n    \
             UNION ALL SELECT id, t FROM attributed\n  ) AS links\n  GROUP BY id\n),\n\
             labelled AS (\n  SELECT c.id, c.t, c.service, c.author,\n    \
             CASE WHEN f.first_t IS NULL THEN NULL WHEN f.first_t > c.t THEN f.first_t ELSE c.t END AS caused_at\n  \
             FROM changes_in c LEFT JOIN first_incident f ON f.id = c.id\n)",
        );
    }

    /// The `change_checks` and `incident_checks` CTEs: one row each whose `failed` stops
    /// the query (the engine's error function, with a message) on input changerisk would
    /// refuse and the query would otherwise score silently: ids repeated or empty, changes
    /// without a time (or a service or author the config names), the contract's levels
    /// misspelt, its required counts and `customer_facing` empty, a boolean spelt other
    /// than changerisk reads one, incidents without an id, a start or a service,
    /// severities outside 1..5. Not checked: numbers and times out of changerisk's ranges.
    fn checks(&self, sql: &mut String, incidents: bool, own: &[(&str, InputKind)]) {
        let d = self.dialect;
        let cols = &self.model.config.columns;
        let from = "the changes (--from)";
        // Empty ids first: COUNT(DISTINCT) leaves NULLs out, which would read as repeats.
        let mut changes: Vec<(String, String)> = vec![
            (
                "SUM(CASE WHEN id IS NULL OR id = '' THEN 1 ELSE 0 END) > 0".into(),
                format!("{from}: a change has no id ({})", super::comment(&cols.id)),
            ),
            (
                "COUNT(*) > COUNT(DISTINCT id)".into(),
                format!("{from}: a change_id appears twice; give each change once (a history and new changes: their UNION, or the new rows only where both have one)"),
            ),
            (
                "SUM(CASE WHEN t IS NULL THEN 1 ELSE 0 END) > 0".into(),
                format!("{from}: a change has no time ({})", super::comment(&cols.timestamp)),
            ),
        ];
        for (role, column) in [("service", &cols.service), ("author", &cols.author)] {
            if let Some(column) = column {
                changes.push((
                    format!("SUM(CASE WHEN {role} IS NULL OR {role} = '' THEN 1 ELSE 0 END) > 0"),
                    format!(
                        "{from}: a change has no {role} ({})",
                        super::comment(column)
                    ),
                ));
            }
        }
        let features = &self.model.config.features;
        for (k, (column, _)) in own.iter().enumerate() {
            let name = super::comment(column);
            let levels = crate::schema::levels_of(column).filter(|_| features.builtin);
            if let Some(levels) = levels {
                let listed: Vec<String> = levels.iter().map(|l| d.text(l)).collect();
                changes.push((
                    format!(
                        "SUM(CASE WHEN v{k} IS NULL OR v{k} NOT IN ({}) THEN 1 ELSE 0 END) > 0",
                        listed.join(", ")
                    ),
                    format!(
                        "{from}: {name} holds a value other than {} (in any case)",
                        levels.join(", ")
                    ),
                ));
            }
            if self.is_flag(column) {
                // The reading is NULL for an empty cell and for a misspelt one.
                changes.push((
                    format!("SUM(CASE WHEN v{k} IS NULL AND r{k} <> '' THEN 1 ELSE 0 END) > 0"),
                    format!("{from}: {name} holds a value other than true/false, 1/0 or yes/no"),
                ));
            }
            if features.builtin && REQUIRED_COLUMNS.contains(column) {
                changes.push((
                    format!("SUM(CASE WHEN v{k} IS NULL THEN 1 ELSE 0 END) > 0"),
                    format!("{from}: a change has no {name} (required)"),
                ));
            }
        }
        let case = |tests: &[(String, String)]| {
            let arms: Vec<String> = tests
                .iter()
                .map(|(test, message)| format!("WHEN {test} THEN {}", d.fail(message)))
                .collect();
            format!("CASE {} END", arms.join("\n      "))
        };
        write!(
            sql,
            ",\nchange_checks AS (\n  SELECT {} AS failed\n  FROM changes_in\n)",
            case(&changes)
        )
        .expect("writing to a string");
        if incidents {
            let inc = "the incidents (--incidents)";
            let tests = [
                (
                    "SUM(CASE WHEN incident IS NULL OR incident = '' THEN 1 ELSE 0 END) > 0".to_string(),
                    format!("{inc}: an incident has no incident_id"),
                ),
                (
                    "COUNT(*) > COUNT(DISTINCT incident)".into(),
                    format!("{inc}: an incident_id appears twice"),
                ),
                (
                    "SUM(CASE WHEN t IS NULL THEN 1 ELSE 0 END) > 0".into(),
                    format!("{inc}: an incident has no start_time"),
                ),
                (
                    "SUM(CASE WHEN service IS NULL OR service = '' THEN 1 ELSE 0 END) > 0".into(),
                    format!("{inc}: an incident has no service"),
                ),
                (
                    "SUM(CASE WHEN severity IS NULL OR severity < 1 OR severity > 5 OR severity <> FLOOR(severity) THEN 1 ELSE 0 END) > 0".into(),
                    format!("{inc}: a severity is not 1..5 or sev1..sev5"),
                ),
            ];
            write!(
                sql,
                ",\nincident_checks AS (\n  SELECT {} AS failed\n  FROM all_incidents\n)",
                case(&tests)
            )
            .expect("writing to a string");
        }
    }

    /// The `inputs` CTE: the change's id and time, its own columns, the calendar columns
    /// (UTC; for the built-in features) and the history columns (when read).
    fn calendar_and_history(
        &self,
        sql: &mut String,
        own: &[(&str, InputKind)],
        history: bool,
        incidents: bool,
    ) -> Result<()> {
        let q = |s: &str| self.dialect.ident(s);
        let hour = "FLOOR(CAST(c.t % 86400 AS DOUBLE) / 3600e0)";
        // Day 0 (1970-01-01) was a Thursday: Monday-first index 3.
        let weekday = "(CAST(FLOOR(CAST(c.t AS DOUBLE) / 86400e0) AS BIGINT) + 3) % 7";
        let names = WEEKDAYS
            .iter()
            .enumerate()
            .map(|(k, day)| format!("WHEN {k} THEN {}", self.dialect.text(day)))
            .collect::<Vec<_>>()
            .join(" ");
        let cap = super::number(RECENCY_CAP_DAYS)?;
        write!(
            sql,
            ",\ninputs AS (\n  SELECT c.id AS {}, CAST(c.t AS DOUBLE) AS {}",
            q("@id"),
            q(crate::features::TIME_COLUMN)
        )
        .expect("writing to a string");
        for (k, (c, _)) in own.iter().enumerate() {
            write!(sql, ", c.v{k} AS {}", q(c)).expect("writing to a string");
        }
        let columns = [
            ("hour", hour.to_string()),
            ("weekday", format!("CASE {weekday} {names} END")),
            ("weekend", format!("{weekday} >= 5")),
            (
                "off_hours",
                format!("{hour} < {WORKDAY_START_HOUR} OR {hour} >= {WORKDAY_END_HOUR}"),
            ),
            ("service_incidents_7d", "s.incidents_7d".into()),
            ("service_incidents_30d", "s.incidents_30d".into()),
            (
                "days_since_service_incident",
                format!(
                    "CASE WHEN s.last_incident IS NULL THEN {cap} \
                     WHEN CAST(c.t - s.last_incident AS DOUBLE) / 86400e0 < {cap} \
                     THEN CAST(c.t - s.last_incident AS DOUBLE) / 86400e0 ELSE {cap} END"
                ),
            ),
            ("service_changes_7d", "s.changes_7d".into()),
            ("service_prior_changes", "s.prior_changes".into()),
            ("service_incident_changes", "s.incident_changes".into()),
            ("author_prior_changes", "a.prior_changes".into()),
            ("author_incident_changes", "a.incident_changes".into()),
            ("author_expected_incidents", "a.expected_incidents".into()),
        ];
        let builtin = self.model.config.features.builtin;
        for (name, expr) in columns {
            let calendar = CALENDAR_COLUMNS.contains(&name);
            let history_column = crate::history::HISTORY_COLUMNS.contains(&name);
            if (calendar && builtin) || (history_column && history) {
                write!(sql, ",\n    {expr} AS {}", q(name)).expect("writing to a string");
            }
        }
        sql.push_str("\n  FROM changes_in c");
        if history {
            sql.push_str(
                "\n  JOIN service_counts s ON s.id = c.id\n  JOIN author_counts a ON a.id = c.id",
            );
        }
        sql.push_str("\n  CROSS JOIN change_checks k");
        // The checks are read (`failed IS NULL`), so the engine cannot leave them out.
        sql.push_str(if incidents {
            "\n  CROSS JOIN incident_checks ki\n  WHERE k.failed IS NULL AND ki.failed IS NULL\n)"
        } else {
            "\n  WHERE k.failed IS NULL\n)"
        });
        Ok(())
    }
}
