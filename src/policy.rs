//! Guardrail policies: rules over a change's fields and its risk, each `warn` or
//! `block`, read from a TOML file (the default set ships in `policies/default.toml`).

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::frame::{Column, Frame};
use crate::model::TIER_NAMES;
use crate::schema::{AiInvolvement, ChangeType, Permission, Review};

/// The default policy file, compiled in.
pub const DEFAULT_POLICIES: &str = include_str!("../policies/default.toml");

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Warn,
    Block,
}

/// Conditions of a rule; all present ones must hold.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub ai_involvement: Option<Vec<String>>,
    pub permission_level: Option<Vec<String>>,
    pub review_status: Option<Vec<String>>,
    pub change_type: Option<Vec<String>>,
    pub tier: Option<Vec<String>>,
    pub customer_facing: Option<bool>,
    pub rollback_plan: Option<bool>,
    pub min_services_affected: Option<f64>,
    pub min_regions_affected: Option<f64>,
    pub reviewer_count_below: Option<f64>,
    pub min_risk: Option<f64>,
}

impl When {
    /// The input columns the conditions read (the risk and its tier aside), in this
    /// order: levels, flags, then thresholds.
    pub fn columns(&self) -> Vec<&'static str> {
        [
            ("ai_involvement", self.ai_involvement.is_some()),
            ("permission_level", self.permission_level.is_some()),
            ("review_status", self.review_status.is_some()),
            ("change_type", self.change_type.is_some()),
            ("customer_facing", self.customer_facing.is_some()),
            ("rollback_plan", self.rollback_plan.is_some()),
            ("services_affected", self.min_services_affected.is_some()),
            ("regions_affected", self.min_regions_affected.is_some()),
            ("reviewer_count", self.reviewer_count_below.is_some()),
        ]
        .into_iter()
        .filter_map(|(column, read)| read.then_some(column))
        .collect()
    }
}

/// One guardrail.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub action: Action,
    pub when: When,
}

/// A checked set of rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    pub rules: Vec<Rule>,
    /// The file they were read from (`None`: the compiled-in defaults).
    pub file: Option<String>,
}

/// The inputs a rule can look at, for one change.
pub struct Facts<'a> {
    pub frame: &'a Frame,
    pub row: usize,
    pub risk: f64,
    pub tier: usize,
}

impl Facts<'_> {
    fn level(&self, column: &str) -> &str {
        self.frame
            .get(column)
            .and_then(|c| c.level(self.row))
            .unwrap_or_default()
    }
    fn num(&self, column: &str) -> f64 {
        match self.frame.get(column) {
            Some(Column::Num(v)) => v[self.row],
            _ => f64::NAN,
        }
    }
    fn flag(&self, column: &str) -> Option<bool> {
        match self.frame.get(column) {
            Some(Column::Flag(v)) => Some(v[self.row]),
            _ => None,
        }
    }
}

impl Policies {
    /// The compiled-in default rules.
    pub fn default_rules() -> Policies {
        Self::parse(DEFAULT_POLICIES, "policies/default.toml")
            .unwrap_or_else(|e| unreachable!("the shipped default policy file is valid: {e}"))
    }

    /// The policies of a `--policy` flag: that file, or the compiled-in defaults.
    pub fn from_flag(path: Option<&Path>) -> Result<Policies> {
        path.map_or_else(|| Ok(Self::default_rules()), Self::load)
    }

    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Policies> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let mut policies = Self::parse(&text, &file)?;
        policies.file = Some(file);
        Ok(policies)
    }

    /// Refuses a policy file with a condition on a column the changes do not have (a
    /// model whose config reads no such column): the rule could never fire, silently.
    /// The compiled-in defaults are for the contract's columns and simply do not fire
    /// on other data.
    pub fn check_readable(&self, frame: &Frame) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        for rule in &self.rules {
            if let Some(column) = rule
                .when
                .columns()
                .into_iter()
                .find(|c| frame.get(c).is_none())
            {
                return Err(Error::BadConfig {
                    file: file.clone(),
                    message: format!(
                        "rule '{}' reads '{column}', which the changes do not have (the model's config reads no such column), so it could never fire",
                        rule.id
                    ),
                });
            }
        }
        Ok(())
    }

    /// Parses and checks policy TOML; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Policies> {
        let bad = |message: String| Error::BadConfig {
            file: file.into(),
            message,
        };
        // Rule by rule, so that an error names the rule it is in.
        let table: toml::Table = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if let Some(key) = table.keys().find(|k| *k != "rule") {
            return Err(bad(format!(
                "unknown top-level key '{key}' (expected [[rule]] tables)"
            )));
        }
        let entries = match table.get("rule") {
            // (`rule = []` is no rule either: a policy file that guards nothing.)
            Some(toml::Value::Array(entries)) if !entries.is_empty() => entries.clone(),
            _ => return Err(bad("no [[rule]] tables".into())),
        };
        let mut rules = Vec::with_capacity(entries.len());
        for (k, entry) in entries.into_iter().enumerate() {
            let id = entry
                .get("id")
                .and_then(|v| v.as_str())
                .map_or(format!("number {}", k + 1), |id| format!("'{id}'"));
            let rule: Rule = entry
                .try_into()
                .map_err(|e: toml::de::Error| bad(format!("rule {id}: {}", e.message())))?;
            rules.push(rule);
        }
        let mut seen = std::collections::HashSet::new();
        for rule in &mut rules {
            // Ids and levels without surrounding spaces, levels in any case (as the
            // inputs' levels are read): `r1 ` is `r1`, `Admin` is `admin`.
            rule.id = rule.id.trim().to_string();
            let w = &mut rule.when;
            for levels in [
                &mut w.ai_involvement,
                &mut w.permission_level,
                &mut w.review_status,
                &mut w.change_type,
                &mut w.tier,
            ] {
                for level in levels.iter_mut().flatten() {
                    *level = level.trim().to_ascii_lowercase();
                }
            }
        }
        for rule in &rules {
            let in_rule = |m: String| bad(format!("rule '{}': {m}", rule.id));
            if rule.id.is_empty() {
                return Err(bad("a rule has an empty id".into()));
            }
            if rule.id.contains(';') {
                return Err(in_rule(
                    "the id holds ';', which separates rule ids in the policy column".into(),
                ));
            }
            if !seen.insert(rule.id.clone()) {
                return Err(in_rule("the id is used by more than one rule".into()));
            }
            let w = &rule.when;
            check_levels(
                &w.ai_involvement,
                "ai_involvement",
                AiInvolvement::parse,
                &AiInvolvement::expected(),
            )
            .map_err(in_rule)?;
            check_levels(
                &w.permission_level,
                "permission_level",
                Permission::parse,
                &Permission::expected(),
            )
            .map_err(in_rule)?;
            check_levels(
                &w.review_status,
                "review_status",
                Review::parse,
                &Review::expected(),
            )
            .map_err(in_rule)?;
            check_levels(
                &w.change_type,
                "change_type",
                ChangeType::parse,
                &ChangeType::expected(),
            )
            .map_err(in_rule)?;
            check_levels(
                &w.tier,
                "tier",
                |s| TIER_NAMES.contains(&s).then_some(()),
                &format!("one of {}", TIER_NAMES.join(", ")),
            )
            .map_err(in_rule)?;
            if let Some(r) = w.min_risk {
                if !(0.0..=1.0).contains(&r) {
                    return Err(in_rule(format!("min_risk {r} is not between 0 and 1")));
                }
            }
            for (field, value) in [
                ("min_services_affected", w.min_services_affected),
                ("min_regions_affected", w.min_regions_affected),
                ("reviewer_count_below", w.reviewer_count_below),
            ] {
                if value.is_some_and(|v| !v.is_finite()) {
                    return Err(in_rule(format!(
                        "{field} {} is not a finite number (a rule on it would fire on no change or on every one)",
                        value.unwrap_or_default()
                    )));
                }
            }
            for (field, value) in [
                ("min_services_affected", w.min_services_affected),
                ("min_regions_affected", w.min_regions_affected),
            ] {
                if let Some(n) = value.filter(|&n| n >= crate::table::COUNT_LIMIT as f64) {
                    return Err(in_rule(format!(
                        "{field} {n:e}: counts are below 9e15, so the rule could never fire"
                    )));
                }
            }
            // Every change affects at least one service and region and has a risk of at
            // least 0: such a condition holds for every change (a mistyped threshold).
            for (field, value, floor) in [
                ("min_services_affected", w.min_services_affected, 1.0),
                ("min_regions_affected", w.min_regions_affected, 1.0),
                ("min_risk", w.min_risk, 0.0),
            ] {
                if let Some(n) = value.filter(|&n| n <= floor) {
                    return Err(in_rule(format!(
                        "{field} {n}: every change has at least {floor}, so the condition holds \
                         for every change (raise it, or leave it out)"
                    )));
                }
            }
            if let Some(n) = w.reviewer_count_below.filter(|&n| n <= 0.0) {
                return Err(in_rule(format!(
                    "reviewer_count_below {n}: no change has fewer than {n} reviewers, so the rule could never fire"
                )));
            }
            if *w == When::default() {
                return Err(in_rule(
                    "`when` has no condition, so it would fire on every change".into(),
                ));
            }
        }
        Ok(Policies { rules, file: None })
    }

    /// The rules that fire for one change.
    pub fn violated(&self, facts: &Facts) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| fires(&r.when, facts))
            .collect()
    }
}

/// Violated rule ids as written in outputs: `;`-separated, empty when none.
pub fn joined_ids(violated: &[(String, Action)]) -> String {
    violated
        .iter()
        .map(|(id, _)| id.as_str())
        .collect::<Vec<_>>()
        .join(";")
}

fn check_levels<T>(
    levels: &Option<Vec<String>>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> std::result::Result<(), String> {
    for level in levels.iter().flatten() {
        if parse(level).is_none() {
            return Err(format!("{field} level '{level}' is not {expected}"));
        }
    }
    if levels.as_ref().is_some_and(Vec::is_empty) {
        return Err(format!(
            "{field} is an empty list, so the rule could never fire"
        ));
    }
    Ok(())
}

fn fires<'f>(w: &When, f: &'f Facts) -> bool {
    // Values are looked up only for the conditions the rule has (this runs for every
    // rule and scored change).
    let listed = |levels: &Option<Vec<String>>, value: &dyn Fn() -> &'f str| {
        levels.as_ref().is_none_or(|l| {
            let value = value();
            l.iter().any(|x| x == value)
        })
    };
    let at_least = |min: Option<f64>, v: &dyn Fn() -> f64| min.is_none_or(|m| v() >= m);
    listed(&w.ai_involvement, &|| f.level("ai_involvement"))
        && listed(&w.permission_level, &|| f.level("permission_level"))
        && listed(&w.review_status, &|| f.level("review_status"))
        && listed(&w.change_type, &|| f.level("change_type"))
        && listed(&w.tier, &|| TIER_NAMES[f.tier])
        && w.customer_facing
            .is_none_or(|b| f.flag("customer_facing") == Some(b))
        && w.rollback_plan
            .is_none_or(|b| f.flag("rollback_plan") == Some(b))
        && at_least(w.min_services_affected, &|| f.num("services_affected"))
        && at_least(w.min_regions_affected, &|| f.num("regions_affected"))
        && w.reviewer_count_below
            .is_none_or(|m| f.num("reviewer_count") < m)
        && at_least(w.min_risk, &|| f.risk)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ai: &str, perm: &str, review: &str, reviewers: f64) -> Frame {
        let mut f = Frame::new(1);
        f.insert("ai_involvement", Column::cat_from_text([ai]));
        f.insert("permission_level", Column::cat_from_text([perm]));
        f.insert("review_status", Column::cat_from_text([review]));
        f.insert("reviewer_count", Column::Num(vec![reviewers]));
        f
    }

    fn fired(p: &Policies, f: &Frame, tier: usize) -> Vec<String> {
        p.violated(&Facts {
            frame: f,
            row: 0,
            risk: 0.5,
            tier,
        })
        .iter()
        .map(|r| r.id.clone())
        .collect()
    }

    #[test]
    fn default_rules_encode_the_outage_pattern() {
        let p = Policies::default_rules();
        assert_eq!(
            fired(&p, &frame("agent", "admin", "self_approved", 0.0), 0),
            ["ai-privileged-unreviewed"]
        );
        assert!(fired(&p, &frame("agent", "admin", "approved", 1.0), 0).is_empty());
        assert!(fired(&p, &frame("none", "elevated", "none", 0.0), 0).is_empty());
        assert_eq!(
            fired(&p, &frame("none", "admin", "bypassed", 0.0), 0),
            ["admin-review-bypassed"]
        );
        assert_eq!(
            fired(&p, &frame("none", "standard", "approved", 1.0), 3),
            ["critical-second-reviewer"]
        );
        assert!(fired(&p, &frame("none", "standard", "approved", 2.0), 3).is_empty());
    }

    #[test]
    fn malformed_rules_name_the_rule_and_problem() {
        let bad_level =
            "[[rule]]\nid='x'\ndescription='d'\naction='block'\nwhen={review_status=['aproved']}";
        let e = Policies::parse(bad_level, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rule 'x'") && e.contains("'aproved'"), "{e}");
        let bad_key = "[[rule]]\nid='y'\ndescription='d'\naction='block'\nwhen={colour=['red']}";
        let e = Policies::parse(bad_key, "p.toml").unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let bad_action =
            "[[rule]]\nid='z'\ndescription='d'\naction='explode'\nwhen={tier=['high']}";
        assert!(matches!(
            Policies::parse(bad_action, "p.toml"),
            Err(Error::BadConfig { .. })
        ));
        let empty = "[[rule]]\nid='w'\ndescription='d'\naction='warn'\nwhen={}";
        assert!(Policies::parse(empty, "p.toml")
            .unwrap_err()
            .to_string()
            .contains("rule 'w'"));
        // Thresholds no change can meet.
        for when in [
            "min_services_affected=nan",
            "min_regions_affected=inf",
            "reviewer_count_below=nan",
            "reviewer_count_below=0",
            "reviewer_count_below=-5",
            "min_services_affected=1e300",
            "min_regions_affected=9e15",
        ] {
            let text = format!("[[rule]]\nid='v'\ndescription='d'\naction='warn'\nwhen={{{when}}}");
            let e = Policies::parse(&text, "p.toml").unwrap_err().to_string();
            assert!(
                e.contains("rule 'v'") && (e.contains("never fire") || e.contains("no change")),
                "{when}: {e}"
            );
        }
        // Thresholds every change meets (alone or beside another condition).
        for when in [
            "min_services_affected=1",
            "min_services_affected=-3",
            "min_regions_affected=0",
            "min_risk=0, tier=['high']",
        ] {
            let text =
                format!("[[rule]]\nid='u'\ndescription='d'\naction='block'\nwhen={{{when}}}");
            let e = Policies::parse(&text, "p.toml").unwrap_err().to_string();
            assert!(
                e.contains("rule 'u'") && e.contains("holds for every change"),
                "{when}: {e}"
            );
        }
        let ok = "[[rule]]\nid='t'\ndescription='d'\naction='warn'\nwhen={min_services_affected=2, min_risk=0.5}";
        assert!(Policies::parse(ok, "p.toml").is_ok());
        assert!(Policies::parse("rule = []", "p.toml")
            .unwrap_err()
            .to_string()
            .contains("no [[rule]] tables"));
        let joined = "[[rule]]\nid='a;b'\ndescription='d'\naction='warn'\nwhen={tier=['high']}";
        let e = Policies::parse(joined, "p.toml").unwrap_err().to_string();
        assert!(
            e.contains("rule 'a;b'") && e.contains("separates rule ids"),
            "{e}"
        );
        // `r1 ` is `r1`.
        let twice = "[[rule]]\nid='r1'\ndescription='d'\naction='warn'\nwhen={tier=['high']}\n\
                     [[rule]]\nid='r1 '\ndescription='d'\naction='warn'\nwhen={tier=['low']}";
        let e = Policies::parse(twice, "p.toml").unwrap_err().to_string();
        assert!(e.contains("more than one rule"), "{e}");
    }

    #[test]
    fn levels_written_with_spaces_or_capitals_match_as_the_inputs_are_read() {
        let text = "[[rule]]\nid='p'\ndescription='d'\naction='block'\nwhen={ai_involvement=[' Agent\t'], permission_level=['ADMIN ']}";
        let p = Policies::parse(text, "p.toml").expect("valid");
        assert_eq!(
            fired(&p, &frame("agent", "admin", "approved", 1.0), 0),
            ["p"]
        );
        assert!(fired(&p, &frame("assisted", "admin", "approved", 1.0), 0).is_empty());
    }
}
