//! The one change's facts: every contract column with its value and where the value
//! came from, gathered from several sources in order of precedence, then expanded into
//! the contract rows that the model scores.
//!
//! Precedence, highest first: flags (and their environment variables), the `--change`
//! file, the evidence of CI metadata and git (for `ai_involvement` the stronger of the
//! two), and last the documented defaults. A source that does not know a fact leaves it
//! to the next.
//!
//! Unknown is a state of its own. `ai_involvement`, `permission_level` and
//! `review_status` that no source gives (or that a source gives as `unknown`) are not
//! defaulted to a safe level: the change is scored once for every level they could
//! take, and the worst case counts (the highest risk; a guardrail fires if it fires
//! for any of them). See [`completions`].

use polars::prelude::{Column as PlColumn, DataFrame};

use crate::error::{Error, Result};
use crate::load::CHANGE_COLUMNS;
use crate::schema::{AiInvolvement, Permission, Review};

/// The facts that may stay unknown, with every level each can take.
pub fn enumerated_levels(column: &str) -> Option<Vec<&'static str>> {
    match column {
        "ai_involvement" => Some(AiInvolvement::ALL.iter().map(|l| l.as_str()).collect()),
        "permission_level" => Some(Permission::ALL.iter().map(|l| l.as_str()).collect()),
        "review_status" => Some(Review::ALL.iter().map(|l| l.as_str()).collect()),
        _ => None,
    }
}

/// The spelling of the unknown state in flags and change files.
pub const UNKNOWN: &str = "unknown";

/// One fact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fact {
    /// The value as a contract cell; `None` while unknown.
    pub value: Option<String>,
    /// Where the value (or the verdict "unknown") came from; `None` while no source
    /// has spoken.
    pub source: Option<String>,
}

/// Every contract column's fact, in contract order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactSet {
    facts: Vec<(&'static str, Fact)>,
}

impl Default for FactSet {
    fn default() -> Self {
        FactSet {
            facts: CHANGE_COLUMNS
                .iter()
                .map(|&c| (c, Fact::default()))
                .collect(),
        }
    }
}

impl FactSet {
    fn slot(&mut self, column: &str) -> &mut Fact {
        let k = self
            .facts
            .iter()
            .position(|(c, _)| *c == column)
            .unwrap_or_else(|| unreachable!("{column} is a contract column"));
        &mut self.facts[k].1
    }

    /// Offers a value from `source`; kept only if no earlier (higher) source decided
    /// the fact. A value `unknown` of a fact that may stay unknown decides it as unknown.
    pub fn offer(&mut self, column: &str, value: &str, source: &str) {
        let slot = self.slot(column);
        if slot.source.is_some() {
            return;
        }
        let value = value.trim();
        let unknown = enumerated_levels(column).is_some() && value.eq_ignore_ascii_case(UNKNOWN);
        *slot = Fact {
            value: (!unknown).then(|| value.to_string()),
            source: Some(if unknown {
                format!("{source} (unknown)")
            } else {
                source.to_string()
            }),
        };
    }

    /// The fact of `column`.
    pub fn get(&self, column: &str) -> &Fact {
        self.facts
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, f)| f)
            .unwrap_or_else(|| unreachable!("{column} is a contract column"))
    }

    /// The known value of `column`.
    pub fn value(&self, column: &str) -> Option<&str> {
        self.get(column).value.as_deref()
    }

    /// Every fact, in contract order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Fact)> {
        self.facts.iter().map(|(c, f)| (*c, f))
    }
}

/// The contract columns that must have a value from some source (no default), and how
/// to give each.
const REQUIRED: [(&str, &str); 5] = [
    (
        "service",
        "--service, or --git with a --services map, or CI metadata",
    ),
    ("author", "--author, or --git, or CI metadata"),
    ("change_type", "--change-type, or --git"),
    ("lines_changed", "--lines-changed, or --git"),
    ("files_changed", "--files-changed, or --git"),
];

/// Fails, naming every missing fact and how to give it, when a required fact has no value.
pub fn check_required(facts: &FactSet) -> Result<()> {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|(c, _)| facts.value(c).is_none())
        .map(|(c, how)| format!("{c} (give {how})"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "annotate: no value for {}",
        missing.join("; ")
    )))
}

/// One way the unknown facts could be: the contract row to score, and the levels it
/// assumes for the unknown facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Cells in contract order.
    pub cells: Vec<(&'static str, String)>,
    /// `(column, level)` for each unknown fact.
    pub assumed: Vec<(&'static str, &'static str)>,
}

impl Completion {
    /// The cell of `column`.
    pub fn cell(&self, column: &str) -> &str {
        self.cells
            .iter()
            .find(|(c, _)| *c == column)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Every completion of the unknown facts (one when nothing is unknown). An unknown
/// `reviewer_count` is 1 where the review is approved and 0 otherwise.
pub fn completions(facts: &FactSet) -> Vec<Completion> {
    let mut rows = vec![Completion {
        cells: Vec::new(),
        assumed: Vec::new(),
    }];
    for (column, fact) in facts.iter() {
        match (&fact.value, enumerated_levels(column)) {
            (None, Some(levels)) => {
                rows = rows
                    .into_iter()
                    .flat_map(|row| {
                        levels.iter().map(move |&level| {
                            let mut row = row.clone();
                            row.cells.push((column, level.to_string()));
                            row.assumed.push((column, level));
                            row
                        })
                    })
                    .collect();
            }
            (value, _) => {
                for row in &mut rows {
                    row.cells.push((column, value.clone().unwrap_or_default()));
                }
            }
        }
    }
    if facts.value("reviewer_count").is_none() {
        for row in &mut rows {
            let approved = row.cell("review_status").eq_ignore_ascii_case("approved");
            let count = if approved { "1" } else { "0" };
            if let Some(cell) = row.cells.iter_mut().find(|(c, _)| *c == "reviewer_count") {
                cell.1 = count.to_string();
            }
        }
    }
    rows
}

/// The completions as a table of text cells in the contract's columns, ready for
/// [`crate::load::parse_changes`]. Rows after the first get a distinct placeholder
/// change_id so the table passes the uniqueness check; callers put the real id back.
pub fn to_frame(rows: &[Completion]) -> Result<DataFrame> {
    let columns = CHANGE_COLUMNS
        .iter()
        .enumerate()
        .map(|(j, &name)| {
            let cells: Vec<String> = rows
                .iter()
                .enumerate()
                .map(|(i, r)| match (name, i) {
                    ("change_id", i) if i > 0 => format!("{}#{i}", r.cells[j].1),
                    _ => r.cells[j].1.clone(),
                })
                .collect();
            PlColumn::new(name.into(), cells)
        })
        .collect();
    DataFrame::new(rows.len(), columns)
        .map_err(|e| Error::Data(format!("cannot build the change's row: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_source_to_speak_decides() {
        let mut f = FactSet::default();
        f.offer("permission_level", "admin", "--permission");
        f.offer("permission_level", "standard", "default");
        assert_eq!(f.value("permission_level"), Some("admin"));
        f.offer("review_status", "UNKNOWN", "--review");
        f.offer("review_status", "approved", "GitHub");
        assert_eq!(f.value("review_status"), None);
        assert_eq!(
            f.get("review_status").source.as_deref(),
            Some("--review (unknown)")
        );
        // `unknown` is a level only of the facts that may stay unknown.
        f.offer("service", "unknown", "--service");
        assert_eq!(f.value("service"), Some("unknown"));
    }

    #[test]
    fn unknown_facts_expand_into_every_level() {
        let mut f = FactSet::default();
        f.offer("ai_involvement", "agent", "git");
        let rows = completions(&f);
        // permission (3 levels) x review (4 levels).
        assert_eq!(rows.len(), 12);
        assert!(rows.iter().all(|r| r.cell("ai_involvement") == "agent"));
        let approved = rows
            .iter()
            .find(|r| r.cell("review_status") == "approved")
            .unwrap();
        assert_eq!(approved.cell("reviewer_count"), "1");
        assert_eq!(
            approved.assumed,
            [
                ("permission_level", "standard"),
                ("review_status", "approved")
            ]
        );
        let frame = to_frame(&rows).unwrap();
        assert_eq!(frame.height(), 12);
        assert_eq!(frame.width(), CHANGE_COLUMNS.len());
    }

    #[test]
    fn missing_required_facts_are_named_with_their_flags() {
        let mut f = FactSet::default();
        f.offer("service", "checkout", "--service");
        let e = check_required(&f).unwrap_err().to_string();
        assert!(
            e.contains("author (give --author") && !e.contains("service ("),
            "{e}"
        );
    }
}
