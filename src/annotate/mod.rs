//! `annotate`: one change scored inside CI, at the pull request or deploy job, before it
//! ships. The change's facts are gathered from a change file, git, CI metadata and flags
//! ([`facts`], [`git`], [`markers`], [`paths`], [`ci`]); the one change is built as a
//! contract row and validated by [`crate::load::parse_changes`], then scored exactly as
//! `score` scores it ([`crate::pipeline`], [`crate::commands::score::score_frame`]);
//! guardrail policies give a decision; and
//! [`formats`] writes it where reviewers look.

pub mod ci;
pub mod facts;
pub mod formats;
pub mod git;
pub mod markers;
pub mod paths;

use std::collections::BTreeMap;

use std::path::Path;

use serde::Serialize;

use crate::commands::score::score_frame;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::features::unseen_levels;
use crate::load::{parse_changes, Changes, Incidents, LoadedChanges, Read};
use crate::model::{Model, Tiers, TIER_NAMES};
use crate::pipeline::{join_history, prepare};
use crate::policy::{Action, Policies, Rule};
use crate::reasons::HistoryGiven;
use crate::schema::AiInvolvement;

use ci::CiChange;
use facts::{check_required, completions, to_frame, Completion, FactSet};
use git::GitChange;
use markers::Marker;
use paths::ServiceMap;

/// One changed file as the outputs show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangedFile {
    pub path: String,
    pub added: u64,
    pub deleted: u64,
    pub binary: bool,
    pub change_type: &'static str,
    pub service: Option<String>,
}

/// Where the change's facts come from, before precedence is applied.
pub struct Sources<'a> {
    /// Flag values: `(column, value, source)`, e.g. `("permission_level", "admin",
    /// "--permission / CHANGERISK_PERMISSION")`.
    pub flags: Vec<(&'static str, String, String)>,
    /// The `--change` file: its label (`--change FILE`) and its `(column, cell)` pairs.
    pub change_file: Option<(String, Vec<(String, String)>)>,
    pub ci: Option<CiChange>,
    pub git: Option<GitChange>,
    pub services: Option<&'a ServiceMap>,
    /// The time to use when no source gives the change's timestamp (RFC 3339).
    pub now: String,
}

/// Everything known about the change before it is scored.
pub struct Gathered {
    pub facts: FactSet,
    pub ci: Option<CiChange>,
    pub files: Vec<ChangedFile>,
    pub markers: Vec<Marker>,
}

/// What a `--change` file holds, for its error messages.
const CHANGE_FILE: &str = "a change (one JSON object or a one-row CSV)";

/// Reads a `--change` file (or stdin for `-`): one JSON object, or a CSV header and one
/// row. Returns the `(column, cell)` pairs; JSON numbers and booleans become their text.
pub fn read_change_file(path: &Path) -> Result<Vec<(String, String)>> {
    let stdin = path.as_os_str() == "-";
    let label = if stdin {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let bytes = if stdin {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| Error::io("stdin", e))?;
        b
    } else {
        std::fs::read(path).map_err(|e| Error::io(path, e))?
    };
    match String::from_utf8(bytes) {
        Ok(text) => parse_change_text(&text, &label),
        Err(e) => {
            let json = e
                .as_bytes()
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| matches!(b, b'{' | b'['));
            let whole = Error::Unreadable {
                file: label.clone(),
                format: CHANGE_FILE.into(),
                message: format!(
                    "the text is not UTF-8 ({}); save it as UTF-8",
                    e.utf8_error()
                ),
            };
            // The CSV reader says where (row and column); JSON is refused as a whole.
            Err(if json {
                whole
            } else {
                crate::table::read_csv_bytes(e.as_bytes(), &label)
                    .err()
                    .unwrap_or(whole)
            })
        }
    }
}

/// Parses the text of a change file; `file` names it in errors.
pub fn parse_change_text(text: &str, file: &str) -> Result<Vec<(String, String)>> {
    let bad = |message: String| Error::Unreadable {
        file: file.into(),
        format: CHANGE_FILE.into(),
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(bad(
            "the input is empty (expected one JSON object or a CSV header and one row)".into(),
        ));
    }
    if text.trim_start().starts_with(['{', '[']) {
        let pairs = if text.trim_start().starts_with('{') {
            serde_json::from_str::<Fields>(text).map_err(|e| bad(e.to_string()))?
        } else {
            let mut objects =
                serde_json::from_str::<Vec<Fields>>(text).map_err(|e| bad(e.to_string()))?;
            if objects.len() != 1 {
                return Err(bad(format!(
                    "expected exactly one change (one JSON object), found a list of {}",
                    objects.len()
                )));
            }
            objects.remove(0)
        };
        let mut seen = std::collections::HashSet::new();
        let mut cells = Vec::with_capacity(pairs.0.len());
        for (k, v) in pairs.0 {
            if !seen.insert(k.clone()) {
                return Err(bad(format!(
                    "the object has field '{k}' twice (which value is meant would be a guess)"
                )));
            }
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => cells.push((k, s)),
                serde_json::Value::Number(n) => cells.push((k, n.to_string())),
                serde_json::Value::Bool(b) => cells.push((k, b.to_string())),
                // Other fields are ignored, whatever they hold.
                _ if !crate::load::CHANGE_COLUMNS.contains(&k.as_str()) => {}
                other => return Err(bad(format!("field '{k}' is {other}, not a single value"))),
            }
        }
        return named_exactly(cells, file);
    }
    // Read as `score` reads a CSV file: the same checks, and messages by row and column.
    let table = crate::table::read_csv_bytes(text.as_bytes(), file)?;
    match table.height() {
        1 => named_exactly(
            table
                .columns()
                .iter()
                .map(|c| {
                    let cell = c.str().ok().and_then(|s| s.get(0)).unwrap_or_default();
                    (c.name().trim().to_string(), cell.to_string())
                })
                .collect(),
            file,
        ),
        0 if table.width() < 2 => Err(bad(format!(
            "neither a JSON object (it does not start with '{{') nor a CSV header and one row \
             (the first line {:?} has {} field(s))",
            text.lines().next().unwrap_or_default(),
            table.width()
        ))),
        rows => Err(bad(format!(
            "expected exactly one change (one row), found {rows}"
        ))),
    }
}

/// The change's `(column, cell)` pairs, refused when a name differs from a contract
/// column's only in case, spaces or invisible characters (it would be ignored and the
/// fact defaulted, silently), or when two names are one after trimming.
fn named_exactly(cells: Vec<(String, String)>, file: &str) -> Result<Vec<(String, String)>> {
    let columns = crate::load::CHANGE_COLUMNS;
    for (k, (name, _)) in cells.iter().enumerate() {
        if cells[..k].iter().any(|(other, _)| other == name) {
            return Err(Error::Unreadable {
                file: file.into(),
                format: CHANGE_FILE.into(),
                message: format!(
                    "the column '{name}' is named twice (spaces around a name do not count)"
                ),
            });
        }
        if columns.contains(&name.as_str()) {
            continue;
        }
        let key = crate::table::header_key(name);
        if let Some(column) = columns.iter().find(|c| crate::table::header_key(c) == key) {
            if !cells.iter().any(|(n, _)| n == column) {
                return Err(Error::NearMissColumn {
                    file: file.into(),
                    column: (*column).into(),
                    found: name.clone(),
                });
            }
        }
    }
    Ok(cells)
}

/// A JSON object's fields in order, repeated ones kept (to be refused), which a map
/// would silently drop.
struct Fields(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    fields.push(pair);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Applies the sources in order of precedence (see [`facts`]).
pub fn gather(sources: Sources) -> Result<Gathered> {
    let Sources {
        flags,
        change_file,
        ci,
        git,
        services,
        now,
    } = sources;
    let mut facts = FactSet::default();
    for (column, value, source) in &flags {
        facts.offer(column, value, source);
    }
    if let Some((label, cells)) = &change_file {
        for (column, cell) in cells {
            let known = crate::load::CHANGE_COLUMNS.contains(&column.as_str());
            if known && !cell.trim().is_empty() {
                facts.offer(column, cell, label);
            }
        }
    }

    // Evidence of AI involvement: the stronger of CI metadata and the commits.
    let mut markers = Vec::new();
    let mut files = Vec::new();
    let commits = git.as_ref().map_or(0, |g| g.commits.len());
    if let Some(g) = &git {
        // Oldest first, so the first marker among equals is the earliest.
        for c in g.commits.iter().rev() {
            markers.extend(markers::commit_markers(
                &c.id,
                (&c.author_name, &c.author_email),
                (&c.committer_name, &c.committer_email),
                &c.trailers,
            ));
        }
    }
    let from_git = markers::strongest(&markers).map(|m| {
        (
            m.involvement,
            m.tool.clone(),
            format!("git: {} in {}", m.marker, m.commit),
        )
    });
    let from_ci = ci
        .as_ref()
        .and_then(|c| c.ai.clone())
        .map(|(level, source)| (level, String::new(), source));
    let evidence = match (from_git, from_ci) {
        (Some(g), Some(c)) if c.0 > g.0 => Some(c),
        (Some(g), _) => Some(g),
        (None, c) => c,
    };
    match evidence {
        Some((level, tool, source)) => {
            facts.offer("ai_involvement", level.as_str(), &source);
            if !tool.is_empty() {
                facts.offer("ai_tool", &tool, &source);
            }
        }
        // No marker in the commits is evidence of no AI involvement; CI metadata
        // without a label is not (the fact stays unknown).
        None if git.is_some() => facts.offer(
            "ai_involvement",
            AiInvolvement::None.as_str(),
            &format!("git: no AI marker in {commits} commit(s)"),
        ),
        None => {}
    }

    if let Some(ci) = &ci {
        let p = ci.provider.name();
        if let Some(id) = &ci.change_id {
            facts.offer("change_id", id, p);
        }
        if let Some(author) = &ci.author {
            facts.offer("author", author, p);
        }
        if let Some((review, reviewers, source)) = &ci.review {
            facts.offer("review_status", review.as_str(), source);
            facts.offer("reviewer_count", &reviewers.to_string(), source);
        }
    }

    if let Some(g) = &git {
        files = changed_files(g, services);
        let source = "git diff --numstat";
        facts.offer(
            "lines_changed",
            &g.files.iter().map(|f| f.lines()).sum::<u64>().to_string(),
            source,
        );
        facts.offer("files_changed", &g.files.len().to_string(), source);
        facts.offer(
            "change_type",
            paths::change_type(g.files.iter().map(|f| f.path.as_str())).as_str(),
            "git: changed paths",
        );
        if let Some(map) = services {
            let touched = map.touched(g.files.iter().map(|f| (f.path.as_str(), f.lines())));
            if let Some((primary, _)) = touched.first() {
                let source = "git paths + --services map";
                facts.offer("service", &primary.name, source);
                facts.offer("services_affected", &touched.len().to_string(), source);
                let regions = touched.iter().map(|(s, _)| s.regions).max().unwrap_or(1);
                facts.offer("regions_affected", &regions.to_string(), source);
                let facing = touched.iter().any(|(s, _)| s.customer_facing);
                facts.offer("customer_facing", &facing.to_string(), source);
            }
        }
        if let Some(oldest) = g.commits.last() {
            facts.offer(
                "author",
                &oldest.author_name,
                "git: author of the first commit",
            );
        }
        facts.offer(
            "change_id",
            &g.head.chars().take(12).collect::<String>(),
            "git: HEAD",
        );
    }
    if let Some(repo) = ci.as_ref().and_then(|c| c.repository.as_ref()) {
        facts.offer("service", repo, "CI: repository name");
    }

    for (column, value) in [
        ("change_id", "change"),
        ("timestamp", now.as_str()),
        ("ai_tool", ""),
        ("services_affected", "1"),
        ("regions_affected", "1"),
        ("customer_facing", "false"),
        ("rollback_plan", "false"),
    ] {
        facts.offer(column, value, "default");
    }
    Ok(Gathered {
        facts,
        ci,
        files,
        markers,
    })
}

/// The changed files with their type and service.
fn changed_files(g: &GitChange, services: Option<&ServiceMap>) -> Vec<ChangedFile> {
    g.files
        .iter()
        .map(|f| ChangedFile {
            path: f.path.clone(),
            added: f.added,
            deleted: f.deleted,
            binary: f.binary,
            change_type: paths::file_change_type(&f.path).as_str(),
            service: services
                .and_then(|m| m.service_of(&f.path))
                .map(|s| s.name.clone()),
        })
        .collect()
}

/// What the model and policies need beyond the change.
pub struct Scoring<'a> {
    pub model: &'a Model,
    /// Where the model was read from (shown in outputs).
    pub model_path: String,
    pub tiers: Tiers,
    pub policies: &'a Policies,
    /// Past changes and incidents for the history features.
    pub history: Option<Changes>,
    pub incidents: &'a Incidents,
}

/// The gate's outcome from the guardrails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Pass,
    Warn,
    Block,
}

impl Decision {
    /// The word used in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Warn => "warn",
            Decision::Block => "block",
        }
    }
}

/// One fact as the outputs show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactView {
    /// `None` (JSON null) when unknown.
    pub value: Option<String>,
    pub source: String,
    /// For an unknown fact: the level of the worst case, which the risk is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scored_as: Option<String>,
}

/// One guardrail's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub id: String,
    pub description: String,
    pub action: &'static str,
    pub violated: bool,
    /// Violated whatever the unknown facts are (false when it fires only for some).
    pub certain: bool,
    /// The conditions that hold, with the facts' values and sources.
    pub because: Vec<String>,
}

/// An unknown fact and the level it was scored at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnknownFact {
    pub field: &'static str,
    pub scored_as: String,
    pub hint: &'static str,
}

/// The model the risk comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub training_rows: usize,
    pub trained_from: String,
    pub trained_to: String,
    /// Risks where the medium, high and critical tiers start.
    pub tier_thresholds: [f64; 3],
    /// Whether each of those tiers can hold a change: a cut equal to the one below it
    /// (or, for medium, to the lowest training risk) opens none (`Tiers::tier`).
    #[serde(skip)]
    pub tier_open: [bool; 3],
    /// Past changes and incidents the history features saw (0 and 0 when none were
    /// given: `score` reads `data/` by default, `annotate` only with `--history`).
    pub history_changes: usize,
    pub history_incidents: usize,
}

/// The annotated change: everything every output format shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    pub change_id: String,
    pub title: Option<String>,
    pub url: Option<String>,
    /// The risk (of the worst case when facts are unknown).
    pub risk: f64,
    pub tier: &'static str,
    #[serde(skip)]
    pub tier_index: usize,
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub policies: Vec<Verdict>,
    pub unknown: Vec<UnknownFact>,
    pub facts: BTreeMap<&'static str, FactView>,
    pub files: Vec<ChangedFile>,
    pub ai_markers: Vec<Marker>,
    /// How many ways the unknown facts could be were scored.
    pub scored_cases: usize,
    pub model: ModelInfo,
    pub warnings: Vec<String>,
    /// A file to anchor reports on when no changed file is known (GitLab's
    /// `CI_CONFIG_PATH`).
    #[serde(skip)]
    pub fallback_anchor: Option<String>,
}

impl Annotation {
    /// The violated guardrails, block rules first.
    pub fn violations(&self) -> Vec<&Verdict> {
        let mut v: Vec<&Verdict> = self.policies.iter().filter(|p| p.violated).collect();
        v.sort_by_key(|p| std::cmp::Reverse(p.action == "block"));
        v
    }

    /// A file that exists in the repository, to anchor reports on: the first changed
    /// file with added lines (so it exists at HEAD), else the first changed file, else
    /// the CI's fallback (GitLab's pipeline config).
    pub fn anchor_file(&self) -> Option<&str> {
        self.files
            .iter()
            .find(|f| f.added > 0)
            .or(self.files.first())
            .map(|f| f.path.as_str())
            .or(self.fallback_anchor.as_deref())
    }
}

/// How to give each fact that may stay unknown.
fn unknown_hint(column: &str) -> &'static str {
    match column {
        "permission_level" => "pass --permission or set CHANGERISK_PERMISSION",
        "review_status" => "pass --review or set CHANGERISK_REVIEW",
        _ => "pass --ai or set CHANGERISK_AI, or label the pull request ai-agent / ai-assisted",
    }
}

/// Turns a validation error about one of the change's cells into a message that names
/// the fact's source (a flag, the change file, git).
fn name_source(err: Error, facts: &FactSet) -> Error {
    match err {
        Error::BadValue {
            column,
            value,
            expected,
            ..
        } => {
            let source = crate::load::CHANGE_COLUMNS
                .iter()
                .find(|c| **c == column)
                .and_then(|c| facts.get(c).source.clone())
                .unwrap_or_else(|| "the change".into());
            Error::Usage(format!(
                "the change's {column} {} (from {source}) is not {expected}",
                crate::error::excerpt(&value)
            ))
        }
        other => other,
    }
}

/// Scores the gathered change and checks the guardrails.
pub fn evaluate(gathered: Gathered, scoring: Scoring) -> Result<Annotation> {
    let Gathered {
        facts,
        ci,
        files,
        markers,
    } = gathered;
    let Scoring {
        model,
        model_path,
        tiers,
        policies,
        history,
        incidents,
    } = scoring;
    if model.config != Config::default() {
        return Err(Error::Usage(format!(
            "{model_path}: annotate needs a model of the built-in schema (SPEC.md columns); this model's config reads other columns"
        )));
    }
    check_required(&facts)?;
    let cases = completions(&facts);
    let frame = to_frame(&cases)?;
    let LoadedChanges { mut changes, .. } =
        parse_changes(&frame, "the change", &model.config, Read::Unlabelled)
            .map_err(|e| name_source(e, &facts))?;
    let id = changes.ids[0].clone();
    changes.ids = vec![id.clone(); changes.len()];
    let own = std::mem::take(&mut changes.frame);
    let history_changes = history.as_ref().map_or(0, Changes::len);
    // `--history` needs `--incidents`, so a history comes with its incidents.
    let given = HistoryGiven {
        changes: history.is_some(),
        incidents: history.is_some() || !incidents.is_empty(),
    };
    let history_incidents = incidents.len();
    let (timeline, rows) = join_history(history, changes)?;
    let prepared = prepare(&timeline, incidents, model.labelling, &rows, own);
    let warnings = unseen_levels(
        &model.feature_defs(),
        &prepared.frame,
        0..prepared.frame.len(),
    )
    .into_iter()
    .map(|(column, _, _)| {
        format!("the change's '{column}' level was not seen in training; scored as 'other'")
    })
    .collect();
    let scored = score_frame(model, &tiers, policies, &prepared.frame, given)?;
    // The worst case: the highest risk (the first among equals).
    let worst = (0..scored.len())
        .rev()
        .max_by(|&a, &b| scored[a].risk.total_cmp(&scored[b].risk))
        .unwrap_or(0);
    let verdicts: Vec<Verdict> = policies
        .rules
        .iter()
        .map(|rule| {
            let fired: Vec<usize> = (0..scored.len())
                .filter(|&k| scored[k].policy.iter().any(|(id, _)| id == &rule.id))
                .collect();
            // Explain with the riskiest case in which the rule fires.
            let case = fired
                .iter()
                .copied()
                .rev()
                .max_by(|&a, &b| scored[a].risk.total_cmp(&scored[b].risk));
            Verdict {
                id: rule.id.clone(),
                description: rule.description.clone(),
                action: action_str(rule.action),
                violated: case.is_some(),
                certain: !fired.is_empty() && fired.len() == scored.len(),
                because: case
                    .map(|k| because(rule, &cases[k], &facts, scored[k].risk, scored[k].tier))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let decision = verdicts
        .iter()
        .filter(|v| v.violated)
        .map(|v| {
            if v.action == "block" {
                Decision::Block
            } else {
                Decision::Warn
            }
        })
        .max()
        .unwrap_or(Decision::Pass);
    let unknown: Vec<UnknownFact> = cases[worst]
        .assumed
        .iter()
        .map(|&(field, level)| UnknownFact {
            field,
            scored_as: level.to_string(),
            hint: unknown_hint(field),
        })
        .collect();
    let fact_views = facts
        .iter()
        .map(|(column, fact)| {
            let scored_as = fact
                .value
                .is_none()
                .then(|| cases[worst].cell(column).to_string());
            (
                column,
                FactView {
                    value: fact.value.clone(),
                    source: fact_source(&facts, column),
                    scored_as,
                },
            )
        })
        .collect();
    let s = &scored[worst];
    Ok(Annotation {
        change_id: id,
        title: ci.as_ref().and_then(|c| c.title.clone()),
        url: ci.as_ref().and_then(|c| c.url.clone()),
        risk: s.risk,
        tier: TIER_NAMES[s.tier],
        tier_index: s.tier,
        decision,
        reasons: s
            .reasons
            .split("; ")
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        policies: verdicts,
        unknown,
        facts: fact_views,
        files,
        ai_markers: markers,
        scored_cases: cases.len(),
        model: ModelInfo {
            path: model_path,
            training_rows: model.training.rows,
            trained_from: model.training.time_from.clone(),
            trained_to: model.training.time_to.clone(),
            tier_thresholds: tiers.thresholds,
            tier_open: [1, 2, 3].map(|k| tiers.opens(k)),
            history_changes,
            history_incidents,
        },
        warnings,
        fallback_anchor: ci.and_then(|c| c.anchor),
    })
}

/// Where a fact came from, in words.
fn fact_source(facts: &FactSet, column: &str) -> String {
    match (&facts.get(column).source, column) {
        (Some(source), _) => source.clone(),
        (None, "reviewer_count") => "not given: 1 when the review is approved, else 0".into(),
        (None, _) => "not given".into(),
    }
}

fn action_str(action: Action) -> &'static str {
    match action {
        Action::Warn => "warn",
        Action::Block => "block",
    }
}

/// The conditions of `rule` that hold for one case, worded with the facts' sources.
fn because(rule: &Rule, case: &Completion, facts: &FactSet, risk: f64, tier: usize) -> Vec<String> {
    let fact = |column: &str| {
        let value = case.cell(column);
        let source = if case.assumed.iter().any(|(c, _)| *c == column) {
            "unknown: scored as the worst case".to_string()
        } else {
            fact_source(facts, column)
        };
        format!("{column} is {value} ({source})")
    };
    let w = &rule.when;
    let mut out: Vec<String> = w
        .columns()
        .into_iter()
        .map(|column| {
            let threshold = match column {
                "services_affected" => w.min_services_affected.map(|m| format!("at least {m}")),
                "regions_affected" => w.min_regions_affected.map(|m| format!("at least {m}")),
                "reviewer_count" => w.reviewer_count_below.map(|b| format!("fewer than {b}")),
                _ => None,
            };
            match threshold {
                Some(t) => format!("{} ({t})", fact(column)),
                None => fact(column),
            }
        })
        .collect();
    if w.tier.is_some() {
        out.push(format!("the risk tier is {}", TIER_NAMES[tier]));
    }
    if let Some(min) = w.min_risk {
        out.push(format!(
            "the risk {:.1}% is at least {:.1}%",
            100.0 * risk,
            100.0 * min
        ));
    }
    out
}

/// When the gate fails the job (`--fail-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailLevel {
    /// Any violated warn or block guardrail.
    Warn,
    /// Any violated block guardrail.
    Block,
    /// A risk tier at or above this one (index into [`TIER_NAMES`]).
    Tier(usize),
}

impl FailLevel {
    /// Parses `warn`, `block` or `tier:<medium|high|critical>` (`tier:low` would fail
    /// every change, which no gate means).
    pub fn parse(text: &str) -> Option<FailLevel> {
        match text.trim().to_ascii_lowercase().as_str() {
            "warn" => Some(FailLevel::Warn),
            "block" => Some(FailLevel::Block),
            other => other
                .strip_prefix("tier:")
                .and_then(|t| TIER_NAMES.iter().position(|n| *n == t))
                .filter(|&t| t > 0)
                .map(FailLevel::Tier),
        }
    }

    /// The spelling `parse` reads.
    pub fn name(self) -> String {
        match self {
            FailLevel::Warn => "warn".into(),
            FailLevel::Block => "block".into(),
            FailLevel::Tier(t) => format!("tier:{}", TIER_NAMES[t]),
        }
    }

    /// Why the gate trips for `a`, or `None` when it passes.
    pub fn tripped(self, a: &Annotation) -> Option<String> {
        let rules: Vec<String> = a
            .violations()
            .into_iter()
            .filter(|v| match self {
                FailLevel::Block => v.action == "block",
                _ => true,
            })
            .map(|v| {
                format!(
                    "rule '{}' ({}): {} Because {}.",
                    v.id,
                    v.action,
                    v.description,
                    v.because.join("; ")
                )
            })
            .collect();
        let tier_trips = matches!(self, FailLevel::Tier(t) if a.tier_index >= t);
        let trips = match self {
            FailLevel::Warn | FailLevel::Block => !rules.is_empty(),
            FailLevel::Tier(_) => tier_trips,
        };
        if !trips {
            return None;
        }
        let mut why = format!("--fail-level {} tripped for {}:", self.name(), a.change_id);
        if let FailLevel::Tier(_) = self {
            why.push_str(&format!(
                "\n  risk {:.1}% is in the {} tier",
                100.0 * a.risk,
                a.tier
            ));
        } else {
            for r in &rules {
                why.push_str(&format!("\n  {r}"));
            }
        }
        Some(why)
    }
}
