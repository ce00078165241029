//! The model as one SQL query (`changerisk sql`): every feature expression, the logistic
//! part, the trees, the sigmoid and the tiers written out from the model file, so that a
//! warehouse (DuckDB, Trino, Spark SQL) scores a table of changes as `changerisk score`
//! does, to the last few bits of a double.
//!
//! The query reads the model's inputs as changerisk holds them after loading: the
//! contract's columns in their canonical levels, the calendar columns, and the
//! point-in-time history columns (the `changes` table of `changerisk export` has every
//! one), or with `--raw` (the `history` submodule) the changes and incidents themselves, from which
//! the query links the incidents and computes the calendar and the history. The feature
//! definitions are data in the model file, so this module translates them and nothing is
//! hand-written per feature.
//!
//! Exactness: sums run in the model's order (the trees in steps of [`TREES_PER_STEP`], each
//! step adding to the running total), every number is written as the shortest decimal
//! that reads back as the same double, and a missing value is `NULL` where changerisk
//! has NaN, with the same outcome everywhere: a missing count is 0 under `ln(1 + x)`, a
//! tree sends it right, an indicator reads it as false. What can differ is the last bit
//! of `LN(1 + x)` (changerisk uses `ln_1p`) and of the engine's `EXP`, `SIN` and `COS`;
//! a tree's split on `ln(1 + x)` is written as a split of `x` itself ([`log1p_split`]),
//! so that a last bit never sends a change down another branch.

use std::fmt::Write;

use crate::error::{Error, Result};
use crate::features::{Expr, InputKind, TIME_COLUMN};
use crate::gbdt::{Node, Tree};
use crate::load::missing_level;
use crate::model::{Model, Tiers, TIER_NAMES};

mod history;

/// What the query reads.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The model's inputs as changerisk holds them after loading (the calendar and
    /// history columns computed): the `changes` table of `changerisk export`.
    Prepared { from: &'a str },
    /// The changes as the model's config describes them (its column names, the
    /// contract's spellings, a typed timestamp), and the incidents (none for a config
    /// with a label column): the query computes the labels, the calendar and the history.
    Raw {
        from: &'a str,
        incidents: Option<&'a str>,
    },
}

impl Source<'_> {
    /// The relation of changes (`--from`).
    fn relation(&self) -> &str {
        match self {
            Source::Prepared { from } | Source::Raw { from, .. } => from,
        }
    }
}

/// Trees added per step of the running total: keeps each expression's nesting far below
/// engines' limits (DuckDB's default is 1,000) while the trees still add in model order.
pub const TREES_PER_STEP: usize = 64;

/// The contract's optional columns of a change (SPEC): the query still needs them.
const OPTIONAL_COLUMNS: [&str; 3] = ["ai_tool", "reviewer_count", "rollback_plan"];

/// The column of the change's id in the input and the output.
pub const ID_COLUMN: &str = "change_id";
/// The column of the change's time in the input (a timestamp).
pub const TIME_INPUT: &str = "timestamp";

/// The SQL engine a query is written for: they differ in quoting and in how a timestamp
/// becomes seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    /// DuckDB (identifiers in double quotes, `epoch`).
    Duckdb,
    /// Trino and Presto (identifiers in double quotes, `to_unixtime`).
    Trino,
    /// Spark SQL (identifiers in backticks, `unix_timestamp`, backslash escapes).
    Spark,
}

impl Dialect {
    /// The dialect's name as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Duckdb => "duckdb",
            Dialect::Trino => "trino",
            Dialect::Spark => "spark",
        }
    }

    /// A quoted identifier.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Spark => format!("`{}`", name.replace('`', "``")),
            Dialect::Duckdb | Dialect::Trino => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A string literal.
    pub fn text(self, value: &str) -> String {
        match self {
            // Spark reads a backslash in a literal as the start of an escape, and has no
            // doubled quote ('a''b' is two literals, joined: "ab").
            Dialect::Spark => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'")),
            Dialect::Duckdb | Dialect::Trino => format!("'{}'", value.replace('\'', "''")),
        }
    }

    /// `expr` (a double) with NaN read as `NULL`, as changerisk reads a `NaN` cell: missing.
    fn nan_to_null(self, expr: &str) -> String {
        let test = match self {
            Dialect::Trino => "is_nan",
            Dialect::Duckdb | Dialect::Spark => "isnan",
        };
        format!("CASE WHEN {test}({expr}) THEN NULL ELSE {expr} END")
    }

    /// Whole seconds since 1970 of the timestamp `column` (changerisk reads a change's
    /// time to the second, rounding down), as a double.
    fn epoch_seconds(self, column: &str) -> String {
        let c = self.ident(column);
        match self {
            Dialect::Duckdb => format!("FLOOR(epoch({c}))"),
            Dialect::Trino => format!("FLOOR(to_unixtime({c}))"),
            Dialect::Spark => format!("CAST(unix_timestamp({c}) AS DOUBLE)"),
        }
    }
}

/// A double as the shortest decimal that reads back as the same double, in exponent form
/// (a double, not a decimal, in every dialect), negatives in parentheses (`x - -1` would
/// open a comment).
pub fn number(v: f64) -> Result<String> {
    if !v.is_finite() {
        return Err(Error::Data(format!(
            "the model holds {v}, which SQL cannot write as a number"
        )));
    }
    let text = format!("{v:e}");
    Ok(if v.is_sign_negative() {
        format!("({text})")
    } else {
        text
    })
}

/// Text for a `--` comment: control characters and line separators (a line break would
/// end the comment) escaped as `\u{..}`.
fn comment(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            let breaks = c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
            if breaks {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    // Spark continues a comment past a backslash at the end of its line.
    if out.ends_with('\\') {
        out.pop();
        out.push_str("\\u{5c}");
    }
    out
}

/// Writes the query of one model in one dialect.
struct Writer<'m> {
    model: &'m Model,
    dialect: Dialect,
    /// Per feature: whether it moves the score (the logistic part weighs it or a tree
    /// splits on it; a model's time feature, for one, is the trees' only).
    used: Vec<bool>,
    /// Per feature: whether a tree splits on it.
    split: Vec<bool>,
}

impl<'m> Writer<'m> {
    fn new(model: &'m Model, dialect: Dialect) -> Writer<'m> {
        let mut used: Vec<bool> = model
            .features
            .iter()
            .map(|f| f.coefficient != 0.0)
            .collect();
        let mut split = vec![false; model.features.len()];
        for tree in model.trees.iter().flat_map(|e| &e.trees) {
            for node in &tree.nodes {
                let Node::Split { feature, .. } = node else {
                    continue;
                };
                if let Some(u) = used.get_mut(*feature) {
                    *u = true;
                    split[*feature] = true;
                }
            }
        }
        Writer {
            model,
            dialect,
            used,
            split,
        }
    }
}

impl Writer<'_> {
    /// A numeric input as a double (`CAST` also reads a boolean as 0 or 1, as changerisk
    /// reads a config's boolean column).
    fn numeric(&self, column: &str) -> String {
        format!("CAST({} AS DOUBLE)", self.dialect.ident(column))
    }

    /// A categorical input, a missing value read as the level changerisk gives it.
    fn level(&self, column: &str) -> String {
        let missing = missing_level(&self.model.config.features, column);
        format!(
            "COALESCE({}, {})",
            self.dialect.ident(column),
            self.dialect.text(missing)
        )
    }

    fn levels(&self, levels: &[String]) -> String {
        levels
            .iter()
            .map(|l| self.dialect.text(l))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `1` when `condition` holds, else `0` (a `NULL` condition is false).
    fn indicator(condition: &str) -> String {
        format!("CASE WHEN {condition} THEN 1e0 ELSE 0e0 END")
    }

    /// The expression as SQL, evaluated as [`Expr::eval`] does.
    fn expr(&self, e: &Expr) -> Result<String> {
        let filled = |column: &str, fill: &Option<f64>| -> Result<String> {
            let v = self.numeric(column);
            Ok(match fill {
                Some(f) => format!("COALESCE({v}, {})", number(*f)?),
                None => v,
            })
        };
        Ok(match e {
            Expr::Value { column, fill } => filled(column, fill)?,
            // ln(1 + max(x, 0)): a missing value without a fill is 0, as NaN.max(0) is.
            Expr::Log1p { column, fill } => {
                let v = filled(column, fill)?;
                format!("CASE WHEN {v} > 0e0 THEN LN(1e0 + {v}) ELSE 0e0 END")
            }
            Expr::Missing { column } => {
                Self::indicator(&format!("{} IS NULL", self.dialect.ident(column)))
            }
            Expr::Flag { column } => Self::indicator(&self.dialect.ident(column)),
            Expr::Is { column, level } => Self::indicator(&format!(
                "{} = {}",
                self.level(column),
                self.dialect.text(level)
            )),
            Expr::In { column, levels } => Self::indicator(&format!(
                "{} IN ({})",
                self.level(column),
                self.levels(levels)
            )),
            Expr::Other { kept, .. } if kept.is_empty() => "1e0".to_string(),
            Expr::Other { column, kept, .. } => format!(
                "CASE WHEN {} IN ({}) THEN 0e0 ELSE 1e0 END",
                self.level(column),
                self.levels(kept)
            ),
            Expr::Product { of } => of
                .iter()
                .map(|t| Ok(format!("({})", self.expr(t)?)))
                .collect::<Result<Vec<_>>>()?
                .join(" * "),
            Expr::AtLeast { column, value } => {
                Self::indicator(&format!("{} >= {}", self.numeric(column), number(*value)?))
            }
            Expr::Sin { column, period } | Expr::Cos { column, period } => {
                let f = if matches!(e, Expr::Sin { .. }) {
                    "SIN"
                } else {
                    "COS"
                };
                let turn = number(std::f64::consts::TAU / period)?;
                format!("{f}({} * {turn})", self.numeric(column))
            }
            Expr::SmoothedLogOdds {
                hits,
                trials,
                prior,
                weight,
            } => {
                let rate = format!(
                    "({} + {}) / ({} + {})",
                    self.numeric(hits),
                    number(prior * weight)?,
                    self.numeric(trials),
                    number(*weight)?
                );
                format!("LN(({rate}) / (1e0 - {rate}))")
            }
            Expr::SmoothedLogRatio {
                hits,
                expected,
                prior,
                weight,
            } => {
                let pseudo = number(prior * weight)?;
                format!(
                    "LN(({} + {pseudo}) / ({} + {pseudo}))",
                    self.numeric(hits),
                    self.numeric(expected)
                )
            }
        })
    }

    /// The tree as nested `CASE`s over the feature columns `f0`, `f1`, ...: a missing
    /// value fails `<=` and goes right, as NaN does.
    fn tree(&self, tree: &Tree, node: usize, depth: usize, out: &mut String) -> Result<()> {
        match &tree.nodes[node] {
            Node::Leaf { value, .. } => out.push_str(&number(*value)?),
            Node::Split {
                feature,
                threshold,
                left,
                right,
                ..
            } => {
                let pad = "  ".repeat(depth + 3);
                let condition = match self.split_raw(*feature)? {
                    // (No x has ln(1 + max(x, 0)) below 0.)
                    Some(_) if *threshold < 0.0 => "1 = 0".to_string(),
                    Some(_) => format!("r{feature} <= {}", number(log1p_split(*threshold))?),
                    None => format!("f{feature} <= {}", number(*threshold)?),
                };
                write!(out, "CASE WHEN {condition} THEN ").expect("writing to a string");
                self.tree(tree, *left, depth + 1, out)?;
                write!(out, "\n{pad}ELSE ").expect("writing to a string");
                self.tree(tree, *right, depth + 1, out)?;
                out.push_str(" END");
            }
        }
        Ok(())
    }

    /// The header: what the query computes, from which model, over which input columns.
    fn header(&self, source: Source) -> String {
        let from = comment(source.relation());
        let m = self.model;
        let t = &m.training;
        let mut h = String::new();
        let mut line = |s: String| {
            h.push_str("-- ");
            h.push_str(&s);
            h.push('\n');
        };
        line(format!(
            "changerisk {} model as SQL ({}): one row per change of {from} with {ID_COLUMN}, logit, risk, tier.",
            m.learner.as_str(),
            self.dialect.as_str()
        ));
        let positives = if m.config.has_label() {
            "labelled positive"
        } else {
            "caused incidents"
        };
        line(format!(
            "Written by changerisk {} from a model file of format version {}, trained on {} changes ({} to {}, {} {positives}).",
            env!("CARGO_PKG_VERSION"),
            m.format_version,
            t.rows,
            t.time_from,
            t.time_to,
            t.positives
        ));
        line(match self.dialect {
            Dialect::Duckdb => "Scores equal `changerisk score`'s to the last bits of a double (LN(1 + x) stands in for ln_1p).".into(),
            Dialect::Spark => "Run by Spark SQL 3.5 in changerisk's tests, as by DuckDB, its scores equal `changerisk score`'s to the last bits of a double (LN(1 + x) stands in for ln_1p).".into(),
            Dialect::Trino => "Its duckdb and spark forms, run by changerisk's tests, give `changerisk score`'s scores to the last bits of a double; this trino form is written to the engine's documentation but not run by them.".into(),
        });
        let cols = &m.config.columns;
        let timestamp = match self.dialect {
            Dialect::Duckdb => "a TIMESTAMP or TIMESTAMPTZ; one without a zone is read as UTC",
            Dialect::Trino => "a TIMESTAMP WITH TIME ZONE",
            Dialect::Spark => "a TIMESTAMP",
        };
        let raw = matches!(source, Source::Raw { .. });
        if raw {
            line(format!("Input columns of {from}, the changes as the model's config names them (each change_id once; every change is scored with the history of all of them):"));
            line(format!(
                "  {}: the change's id (passed through as change_id)",
                comment(&cols.id)
            ));
            let time = match m.config.timestamp_format() {
                crate::config::TimestampFormat::Unix => "seconds since 1970",
                crate::config::TimestampFormat::UnixMs => "milliseconds since 1970",
                _ => timestamp,
            };
            line(format!(
                "  {}: the change's time ({time})",
                comment(&cols.timestamp)
            ));
            for c in [&cols.service, &cols.author].into_iter().flatten() {
                line(format!("  {}: text", comment(c)));
            }
        } else {
            line(format!("Input columns of {from}, as changerisk holds them after loading (`changerisk export` writes them all to its changes table):"));
            line(format!("  {ID_COLUMN}: the change's id (passed through)"));
        }
        let builtin = m.config.features.builtin;
        for (column, kind) in self.inputs() {
            let mut what = match (column.as_str(), kind) {
                (TIME_COLUMN, _) if raw => continue,
                (TIME_COLUMN, _) => {
                    line(format!("  {TIME_INPUT}: the change's time ({timestamp})"));
                    continue;
                }
                (c, _) if raw && self.computed(c) => continue,
                (_, InputKind::Numeric) if m.config.features.boolean.contains(&column) => if raw {
                    "a boolean (or 0/1, true/false, yes/no), NULL when missing"
                } else {
                    "a boolean or 0/1, NULL when missing"
                }
                .to_string(),
                (_, InputKind::Numeric) => "a number, NULL (or NaN) when missing".to_string(),
                (_, InputKind::Boolean) if raw => {
                    "a boolean (or true/false, 1/0, yes/no)".to_string()
                }
                (_, InputKind::Boolean) => "a boolean".to_string(),
                (c, _) if builtin && crate::schema::levels_of(c).is_some() => format!(
                    "text in the contract's spelling ({}); the model tests {}",
                    if raw {
                        "any case"
                    } else {
                        "lower case, as `export` writes it"
                    },
                    self.tested_levels(&column).join(", ")
                ),
                _ => format!(
                    "text; the model tests the levels {} (NULL reads as {})",
                    self.tested_levels(&column).join(", "),
                    self.dialect
                        .text(missing_level(&m.config.features, &column))
                ),
            };
            if raw && builtin && OPTIONAL_COLUMNS.contains(&column.as_str()) {
                what.push_str(
                    "; optional in SPEC, but the column must be there: NULL when unknown",
                );
            }
            line(format!("  {}: {what}", comment(&column)));
        }
        if let Source::Raw {
            incidents: Some(incidents),
            ..
        } = source
        {
            line(format!("Incidents from {}: incident_id (each once), start_time ({timestamp}), service, severity (1..5 or sev1..sev5), caused_by_change (change ids separated by ';'; the column must be there: NULL when none is named).", comment(incidents)));
        }
        let unused: Vec<String> = m
            .features
            .iter()
            .zip(&self.used)
            .filter(|&(_, &used)| !used)
            .map(|(f, _)| comment(&f.def.name))
            .collect();
        if !unused.is_empty() {
            line(format!(
                "Features the model gives no weight, left out (their numbers f<j> skipped): {}.",
                unused.join(", ")
            ));
        }
        h
    }

    /// Whether changerisk computes column `column` rather than reading it: the calendar
    /// columns (for the contract's built-in features only; a config's own `hour` is its
    /// own) and the history columns.
    fn computed(&self, column: &str) -> bool {
        let builtin = self.model.config.features.builtin;
        builtin && crate::load::CALENDAR_COLUMNS.contains(&column)
            || crate::history::HISTORY_COLUMNS.contains(&column)
    }

    /// The features that move the score, with their numbers `j` (`f<j>` in the query).
    fn used_features(&self) -> impl Iterator<Item = (usize, &crate::model::ModelFeature)> {
        self.model
            .features
            .iter()
            .enumerate()
            .filter(|&(j, _)| self.used[j])
    }

    /// The columns the features that move the score read, each once, in the order the
    /// features first read them.
    fn inputs(&self) -> Vec<(String, InputKind)> {
        let mut seen: Vec<(String, InputKind)> = Vec::new();
        for (_, f) in self.used_features() {
            for (column, kind) in f.def.expr.inputs() {
                if !seen.iter().any(|(c, _)| c == column) {
                    seen.push((column.to_string(), kind));
                }
            }
        }
        seen
    }

    /// The levels of categorical column `column` the used features test, quoted, each once.
    fn tested_levels(&self, column: &str) -> Vec<String> {
        fn walk<'e>(e: &'e Expr, column: &str, out: &mut Vec<&'e str>) {
            match e {
                Expr::Is { column: c, level } if c == column => out.push(level),
                Expr::In { column: c, levels }
                | Expr::Other {
                    column: c,
                    kept: levels,
                    ..
                } if c == column => out.extend(levels.iter().map(String::as_str)),
                Expr::Product { of } => of.iter().for_each(|t| walk(t, column, out)),
                _ => {}
            }
        }
        let mut levels = Vec::new();
        for (_, f) in self.used_features() {
            walk(&f.def.expr, column, &mut levels);
        }
        let mut seen = Vec::new();
        for l in levels {
            if !seen.contains(&l) {
                seen.push(l);
            }
        }
        seen.iter()
            .map(|l| comment(&self.dialect.text(l)))
            .collect()
    }

    /// The tier of `risk`: how many cut points it reaches, mapped as [`Tiers::tier`] maps
    /// them.
    fn tier(&self, tiers: &Tiers) -> Result<String> {
        let reached = tiers
            .thresholds
            .iter()
            .map(|&c| {
                Ok(format!(
                    "CASE WHEN risk >= {} THEN 1 ELSE 0 END",
                    number(c)?
                ))
            })
            .collect::<Result<Vec<_>>>()?
            .join(" + ");
        let mut sql = format!("CASE ({reached})");
        for count in (1..=tiers.thresholds.len()).rev() {
            let name = TIER_NAMES[tiers.tier_of_count(count)];
            write!(sql, " WHEN {count} THEN {}", self.dialect.text(name))
                .expect("writing to a string");
        }
        write!(sql, " ELSE {} END", self.dialect.text(TIER_NAMES[0])).expect("writing to a string");
        Ok(sql)
    }

    /// The `inputs` CTE of prepared inputs: the id, the change's time when a feature
    /// reads it, and every column the features read.
    fn prepared_inputs(&self, from: &str) -> String {
        let d = self.dialect;
        let mut sql = format!(
            "inputs AS (\n  SELECT {} AS {}",
            d.ident(ID_COLUMN),
            d.ident("@id")
        );
        for (column, kind) in self.inputs() {
            let c = d.ident(&column);
            // The export renames an input that one of its own columns names (`risk`).
            let exported = crate::export::input_column_name(self.model, &column);
            if column == TIME_COLUMN {
                write!(sql, ", {} AS {c}", d.epoch_seconds(TIME_INPUT))
            } else if kind == InputKind::Numeric {
                let value = d.nan_to_null(&self.numeric(&exported));
                write!(sql, ", {value} AS {c}")
            } else {
                write!(sql, ", {} AS {c}", d.ident(&exported))
            }
            .expect("writing to a string");
        }
        write!(sql, "\n  FROM {from}\n)").expect("writing to a string");
        sql
    }

    fn query(&self, source: Source, tiers: &Tiers) -> Result<String> {
        let m = self.model;
        let d = self.dialect;
        let mut sql = self.header(source);
        sql.push_str("WITH ");
        match source {
            Source::Prepared { from } => sql.push_str(&self.prepared_inputs(from)),
            Source::Raw { from, incidents } => sql.push_str(&self.raw_inputs(from, incidents)?),
        }
        sql.push_str(",\nfeatures AS (\n  SELECT\n");
        write!(sql, "    {} AS change_id", d.ident("@id")).expect("writing to a string");
        for (j, f) in self.used_features() {
            write!(
                sql,
                ",\n    -- {}\n    {} AS f{j}",
                comment(&f.def.name),
                self.expr(&f.def.expr)?
            )
            .expect("writing to a string");
            if let Some(raw) = self.split_raw(j)? {
                write!(sql, ",\n    {raw} AS r{j}").expect("writing to a string");
            }
        }
        sql.push_str("\n  FROM inputs\n)");
        // The logistic part: intercept + the contributions in feature order (a feature
        // the logistic model gives no weight adds exactly 0, so it is left out).
        let mut linear = Vec::new();
        for (j, f) in m.features.iter().enumerate() {
            if f.coefficient != 0.0 {
                linear.push(format!(
                    "{} * (f{j} - {}) / {}",
                    number(f.coefficient)?,
                    number(f.mean)?,
                    number(f.scale)?
                ));
            }
        }
        let linear = if linear.is_empty() {
            "0e0".to_string()
        } else {
            linear.join("\n      + ")
        };
        write!(
            sql,
            ",\nstep0 AS (\n  SELECT *,\n    {} + (\n      {linear}\n    ) AS logit\n  FROM features\n)",
            number(m.intercept)?
        )
        .expect("writing to a string");
        // The trees, added to a running sum of their outputs in model order, a step at a
        // time; the sum joins the logit at the end, as changerisk adds them.
        let trees: &[Tree] = m.trees.as_ref().map_or(&[], |e| &e.trees);
        let mut last = "step0".to_string();
        for (k, chunk) in trees.chunks(TREES_PER_STEP).enumerate() {
            let step = format!("step{}", k + 1);
            let mut sum = if k == 0 {
                String::new()
            } else {
                "trees".to_string()
            };
            for (i, tree) in chunk.iter().enumerate() {
                if !sum.is_empty() {
                    sum.push_str("\n      + ");
                }
                write!(sum, "-- tree {}\n      ", k * TREES_PER_STEP + i)
                    .expect("writing to a string");
                self.tree(tree, 0, 0, &mut sum)?;
            }
            write!(
                sql,
                ",\n{step} AS (\n  SELECT {}, (\n      {sum}\n    ) AS trees\n  FROM {last}\n)",
                self.carried()
            )
            .expect("writing to a string");
            last = step;
        }
        let logit = if trees.is_empty() {
            "logit".to_string()
        } else {
            "logit + trees AS logit".to_string()
        };
        write!(
            sql,
            ",\nlogits AS (\n  SELECT change_id, {logit}\n  FROM {last}\n),\n\
             risks AS (\n  SELECT change_id, logit,\n    \
             CASE WHEN logit >= 0e0 THEN 1e0 / (1e0 + EXP(-logit)) \
             ELSE EXP(logit) / (1e0 + EXP(logit)) END AS risk\n  FROM logits\n)\n\
             SELECT change_id, logit, risk,\n  \
             -- medium, high and critical from the training risks' {}th, {}th and {}th percentiles\n  \
             {} AS tier\nFROM risks\n",
            tiers.percentiles[0],
            tiers.percentiles[1],
            tiers.percentiles[2],
            self.tier(tiers)?
        )
        .expect("writing to a string");
        Ok(sql)
    }

    /// The columns a tree step carries forward: the id, the logistic logit and the
    /// features (not the previous running sum of the trees, which it replaces).
    fn carried(&self) -> String {
        let mut cols = vec!["change_id".to_string(), "logit".to_string()];
        for (j, _) in self.used_features() {
            cols.push(format!("f{j}"));
            if self.log1p_split_column(j).is_some() {
                cols.push(format!("r{j}"));
            }
        }
        cols.join(", ")
    }

    /// The column and fill of a feature `ln(1 + max(x, 0))` a tree splits on.
    fn log1p_split_column(&self, feature: usize) -> Option<(&str, &Option<f64>)> {
        if !self.split.get(feature).copied().unwrap_or(false) {
            return None;
        }
        match &self.model.features[feature].def.expr {
            Expr::Log1p { column, fill } => Some((column, fill)),
            _ => None,
        }
    }

    /// For a feature `ln(1 + max(x, 0))` a tree splits on: `x` as the feature reads it
    /// (filled, a missing value 0), which the split compares instead ([`log1p_split`]).
    fn split_raw(&self, feature: usize) -> Result<Option<String>> {
        let Some((column, fill)) = self.log1p_split_column(feature) else {
            return Ok(None);
        };
        let v = self.numeric(column);
        Ok(Some(match fill {
            Some(f) => format!("COALESCE({v}, {}, 0e0)", number(*f)?),
            None => format!("COALESCE({v}, 0e0)"),
        }))
    }
}

/// The largest `x` whose `ln(1 + max(x, 0))` (the feature [`Expr::Log1p`] computes, with
/// `ln_1p`) is at most `threshold` (not below 0): a tree's split `ln(1 + x) <= threshold`
/// as the split `x <= log1p_split(threshold)`, which an engine decides exactly whatever
/// the last bit of its own logarithm.
pub fn log1p_split(threshold: f64) -> f64 {
    let feature = |x: f64| x.max(0.0).ln_1p();
    // (Neighbouring doubles above 0, by their bits.)
    let next = |x: f64| f64::from_bits(x.to_bits() + 1);
    let before = |x: f64| f64::from_bits(x.to_bits() - 1);
    let mut x = threshold.exp_m1().max(0.0);
    while x > 0.0 && feature(x) > threshold {
        x = before(x);
    }
    while x < f64::MAX && feature(next(x)) <= threshold {
        x = next(x);
    }
    x
}

/// The query scoring every change of `source` (its relations are table names, or any
/// relation the engine reads there, inserted as given) with `model`, tiers cut as `tiers`
/// says.
pub fn model_sql(model: &Model, dialect: Dialect, source: Source, tiers: &Tiers) -> Result<String> {
    case_apart(&model.config)?;
    Writer::new(model, dialect).query(source, tiers)
}

/// Refuses a config naming two columns that differ only in case (`size` and `Size`):
/// SQL engines compare names ignoring case, so a query cannot tell them apart (DuckDB
/// renames one, Spark refuses the table).
fn case_apart(config: &crate::config::Config) -> Result<()> {
    let c = &config.columns;
    let f = &config.features;
    let names: Vec<&String> = [&c.id, &c.timestamp]
        .into_iter()
        .chain(c.label.iter())
        .chain(c.service.iter())
        .chain(c.author.iter())
        .chain(f.numeric.iter())
        .chain(f.boolean.iter())
        .chain(f.categorical.iter())
        .collect();
    for (i, a) in names.iter().enumerate() {
        if let Some(b) = names[i + 1..]
            .iter()
            .find(|b| a.eq_ignore_ascii_case(b) && a != *b)
        {
            return Err(Error::Usage(format!(
                "the model's config names the columns {a:?} and {b:?}, which differ only in case: SQL engines compare names ignoring case and cannot tell them apart; rename one (in the data and the config) and retrain"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Model {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/model.json");
        Model::load(&path).expect("the shipped model loads")
    }

    #[test]
    fn numbers_read_back_as_the_same_double_and_never_open_a_comment() {
        for v in [
            0.1,
            1.0,
            2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            123456.789,
            -0.0,
            -3.25,
        ] {
            let text = number(v).unwrap();
            let bare = text.trim_start_matches('(').trim_end_matches(')');
            assert_eq!(
                bare.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{text}"
            );
            assert!(
                bare.contains('e'),
                "{text}: a double literal in every dialect"
            );
            assert_eq!(text.starts_with('('), v.is_sign_negative(), "{text}");
        }
        assert_eq!(number(0.1).unwrap(), "1e-1");
        assert_eq!(number(-2.5).unwrap(), "(-2.5e0)");
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(number(v).is_err());
        }
    }

    #[test]
    fn names_and_levels_are_quoted_for_each_dialect() {
        assert_eq!(Dialect::Duckdb.ident("size \"kb\""), "\"size \"\"kb\"\"\"");
        assert_eq!(Dialect::Trino.ident("a`b"), "\"a`b\"");
        assert_eq!(Dialect::Spark.ident("a`b \"c\""), "`a``b \"c\"`");
        assert_eq!(Dialect::Duckdb.text("o'brien\\ops"), "'o''brien\\ops'");
        // Spark has no doubled quote: 'a''b' would be two literals joined, "ab".
        assert_eq!(Dialect::Spark.text("o'brien\\ops"), "'o\\'brien\\\\ops'");
        assert_eq!(
            comment("ends in \\"),
            "ends in \\u{5c}",
            "Spark would join the next line"
        );
        assert_eq!(
            Dialect::Trino.nan_to_null("x"),
            "CASE WHEN is_nan(x) THEN NULL ELSE x END"
        );
        assert_eq!(
            comment("a\nb\r\u{2028}c 'd'"),
            "a\\u{a}b\\u{d}\\u{2028}c 'd'"
        );
    }

    #[test]
    fn a_tree_is_nested_cases_that_send_a_missing_value_right() {
        let tree = Tree {
            nodes: vec![
                Node::Split {
                    feature: 2,
                    threshold: 1.5,
                    left: 1,
                    right: 2,
                    rows: 10.0,
                },
                Node::Leaf {
                    value: -0.1,
                    rows: 4.0,
                },
                Node::Leaf {
                    value: 0.2,
                    rows: 6.0,
                },
            ],
        };
        let model = shipped();
        let writer = Writer::new(&model, Dialect::Duckdb);
        let mut sql = String::new();
        writer.tree(&tree, 0, 0, &mut sql).unwrap();
        let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(flat, "CASE WHEN f2 <= 1.5e0 THEN (-1e-1) ELSE 2e-1 END");
    }

    #[test]
    fn a_split_on_log1p_becomes_the_last_x_it_sends_left() {
        let feature = |x: f64| x.max(0.0).ln_1p();
        let next = |x: f64| f64::from_bits(x.to_bits() + 1);
        // The repro's threshold: expm1 of it has ln_1p exactly at it, LN(1 + x) one bit above.
        for t in [
            0.0,
            1e-300,
            1e-9,
            0.5,
            0.7722942222293627,
            1.0,
            std::f64::consts::LN_10,
            40.0,
        ] {
            let x = log1p_split(t);
            assert!(feature(x) <= t && feature(next(x)) > t, "{t}: {x}");
        }
        assert_eq!(log1p_split(0.0), 0.0);
    }

    #[test]
    fn tiers_that_do_not_open_map_as_changerisk_maps_them() {
        let model = shipped();
        let writer = Writer::new(&model, Dialect::Duckdb);
        // Every training risk the same: no tier above low opens.
        let flat = Tiers::from_risks(&[0.1; 100], [50.0, 90.0, 99.0]);
        let sql = writer.tier(&flat).unwrap();
        assert!(
            sql.contains("WHEN 3 THEN 'low' WHEN 2 THEN 'low' WHEN 1 THEN 'low' ELSE 'low'"),
            "{sql}"
        );
        // Cut points apart: each count its own tier.
        let risks: Vec<f64> = (0..1000).map(|i| f64::from(i) / 1000.0).collect();
        let apart = Tiers::from_risks(&risks, [50.0, 90.0, 99.0]);
        let sql = writer.tier(&apart).unwrap();
        assert!(
            sql.contains("WHEN 3 THEN 'critical' WHEN 2 THEN 'high' WHEN 1 THEN 'medium'"),
            "{sql}"
        );
    }

    #[test]
    fn raw_queries_use_each_dialects_own_functions() {
        let model = shipped();
        let tiers = model.tiers.clone();
        let raw = Source::Raw {
            from: "changes",
            incidents: Some("incidents"),
        };
        let spark = model_sql(&model, Dialect::Spark, raw, &tiers).unwrap();
        for needle in [
            "LATERAL VIEW explode(split(i.`causes`, ';')) u AS p",
            "TRIM(BOTH chr(32) || chr(9) || chr(10) || chr(13) FROM p) RLIKE '^[0-9]+[.]0+$'",
            "substring_index(TRIM(BOTH chr(32) || chr(9) || chr(10) || chr(13) FROM p), '.', 1)",
            "CAST(`change_id` AS STRING)",
            "unix_timestamp(`timestamp`)",
        ] {
            assert!(spark.contains(needle), "Spark: {needle}");
        }
        let code = spark.lines().filter(|l| !l.trim_start().starts_with("--"));
        assert!(
            code.clone().all(|l| !l.contains('"')),
            "no double-quoted name in Spark"
        );
        let trino = model_sql(&model, Dialect::Trino, raw, &tiers).unwrap();
        for needle in [
            "CROSS JOIN UNNEST(split(i.\"causes\", ';')) AS u(p)",
            "regexp_like(TRIM(BOTH chr(32) || chr(9) || chr(10) || chr(13) FROM p), '^[0-9]+[.]0+$')",
            // `format` writes NULL as 'null': kept off it.
            "CASE WHEN \"change_id\" IS NULL THEN NULL ELSE format('%s', \"change_id\") END",
            "to_unixtime(\"timestamp\")",
        ] {
            assert!(trino.contains(needle), "Trino: {needle}");
        }
        // Every count is of what came strictly before the change's second.
        let frames = trino.matches("PRECEDING AND 1 PRECEDING").count();
        assert_eq!(
            frames,
            trino.matches(" OVER (").count() - 1,
            "all but the attribution's running maximum"
        );
    }

    #[test]
    fn a_logistic_model_needs_no_timestamp_and_spark_gets_backticks() {
        let model = shipped();
        assert!(model.trees.is_none(), "the shipped model is logistic");
        let tiers = model.tiers.clone();
        let duckdb = model_sql(
            &model,
            Dialect::Duckdb,
            Source::Prepared { from: "changes" },
            &tiers,
        )
        .unwrap();
        assert!(!duckdb.contains("epoch("), "the time is the trees' only");
        assert!(!duckdb.contains("-- tree"));
        let spark = model_sql(
            &model,
            Dialect::Spark,
            Source::Prepared { from: "db.changes" },
            &tiers,
        )
        .unwrap();
        assert!(spark.contains("`change_id` AS `@id`"));
        assert!(spark.contains("FROM db.changes\n"));
        let code = spark.lines().filter(|l| !l.trim_start().starts_with("--"));
        assert!(
            code.clone().all(|l| !l.contains('"')),
            "no double-quoted name in Spark"
        );
        assert_eq!(
            code.filter(|l| l.contains(" AS f")).count(),
            model
                .features
                .iter()
                .filter(|f| f.coefficient != 0.0)
                .count(),
            "one column per feature the logistic model weighs"
        );
    }
}
