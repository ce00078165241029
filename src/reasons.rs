//! Turning per-feature contributions into the `reasons` a reviewer reads: contributions
//! are summed per human factor (one-hot levels and interaction parts fold back into the
//! factor they describe), the factors that raise the risk most are kept, and each is
//! worded from the change's own values.

use crate::frame::{format_number, Column, Frame};
use crate::model::Model;

/// Factors whose summed contribution to the logit is below this are not reasons.
const MIN_CONTRIBUTION: f64 = 0.05;

/// How many reasons to give per change.
pub const TOP_REASONS: usize = 3;

fn num(frame: &Frame, column: &str, row: usize) -> f64 {
    match frame.get(column) {
        Some(Column::Num(v)) => v[row],
        _ => f64::NAN,
    }
}

/// The level of a categorical column ("" when absent).
fn level<'f>(frame: &'f Frame, column: &str, row: usize) -> &'f str {
    frame
        .get(column)
        .and_then(|c| c.level(row))
        .unwrap_or_default()
}

fn text(frame: &Frame, column: &str, row: usize) -> String {
    frame
        .get(column)
        .map(|c| c.display(row))
        .unwrap_or_default()
}

fn flag(frame: &Frame, column: &str, row: usize) -> bool {
    matches!(frame.get(column), Some(Column::Flag(v)) if v[row])
}

fn plural(n: f64, one: &str, many: &str) -> String {
    let word = if n == 1.0 { one } else { many };
    format!("{} {word}", format_number(n))
}

fn with_tool(frame: &Frame, row: usize) -> String {
    let tool = text(frame, "ai_tool", row);
    if tool.is_empty() {
        String::new()
    } else {
        format!(" ({tool})")
    }
}

/// Words for factor `factor` of change `row`, led by its largest feature `feature`.
fn describe(factor: &str, feature: &str, frame: &Frame, row: usize) -> String {
    // Looked up only by the factors that use them: this runs for every scored change.
    let ai = || level(frame, "ai_involvement", row);
    let permission = || level(frame, "permission_level", row);
    let review = || level(frame, "review_status", row);
    let services = || num(frame, "services_affected", row);
    match factor {
        "ai" => match ai() {
            "agent" => format!("made by an AI agent{}", with_tool(frame, row)),
            "assisted" => format!("written with AI assistance{}", with_tool(frame, row)),
            _ => "written without AI tools".into(),
        },
        "permission" => format!("applied with {} permission", permission()),
        "review" => match review() {
            "bypassed" => "review bypassed".into(),
            "none" => "no peer review".into(),
            "self_approved" => "self-approved, no independent review".into(),
            _ => format!(
                "approved by {}",
                plural(num(frame, "reviewer_count", row), "reviewer", "reviewers")
            ),
        },
        "blast_radius" => format!(
            "touches {} in {}",
            plural(services(), "service", "services"),
            plural(num(frame, "regions_affected", row), "region", "regions")
        ),
        "customer_facing" if flag(frame, "customer_facing", row) => {
            "touches a customer-facing path".into()
        }
        "customer_facing" => "not customer-facing".into(),
        "change_type" => match text(frame, "change_type", row).as_str() {
            "iam" => "an IAM change".into(),
            "infra" => "an infrastructure change".into(),
            "database" => "a database change".into(),
            "config" => "a config change".into(),
            "feature_flag" => "a feature-flag change".into(),
            other => format!("a {other} change"),
        },
        "size" => format!(
            "{} changed in {}",
            plural(num(frame, "lines_changed", row), "line", "lines"),
            plural(num(frame, "files_changed", row), "file", "files")
        ),
        "rollback" if flag(frame, "rollback_plan", row) => "has a tested rollback plan".into(),
        "rollback" => "no tested rollback plan".into(),
        "pattern" => {
            let mut s = match ai() {
                "agent" => "AI-agent change".to_string(),
                "assisted" => "AI-assisted change".to_string(),
                _ => "change".to_string(),
            };
            if permission() != "standard" {
                s.push_str(&format!(" with {} permission", permission()));
            }
            if review() != "approved" {
                s.push_str(" and no independent approving review");
            }
            if feature.ends_with("blast_radius") && services() > 1.0 {
                s.push_str(&format!(
                    " across {}",
                    plural(services(), "service", "services")
                ));
            }
            s
        }
        "timing" => {
            let hour = num(frame, "hour", row);
            match feature {
                "off_hours" => format!("applied off-hours ({:02}:00 UTC)", hour as u32),
                "weekend" => "applied on a weekend".into(),
                _ => {
                    let day = match text(frame, "weekday", row).as_str() {
                        "mon" => "Monday",
                        "tue" => "Tuesday",
                        "wed" => "Wednesday",
                        "thu" => "Thursday",
                        "fri" => "Friday",
                        "sat" => "Saturday",
                        _ => "Sunday",
                    };
                    format!("applied on a {day}")
                }
            }
        }
        "service_history" | "author_history" => {
            let column = feature.strip_suffix("_log").unwrap_or(feature);
            let n = num(frame, column, row);
            let record = |who: &str| {
                let hits = num(frame, &format!("{who}_incident_changes"), row);
                let trials = num(frame, &format!("{who}_prior_changes"), row);
                (hits, trials)
            };
            match column {
                "service_incident_7d_any" => {
                    let n = num(frame, "service_incidents_7d", row);
                    format!(
                        "service had {} in the last 7 days",
                        plural(n, "incident", "incidents")
                    )
                }
                "service_incident_rate" => {
                    let (hits, trials) = record("service");
                    format!(
                        "{} of the service's {} caused incidents",
                        format_number(hits),
                        plural(trials, "earlier change", "earlier changes")
                    )
                }
                "author_incident_rate" if record("author").1 == 0.0 => {
                    "the author's first change".into()
                }
                "author_incident_rate" => {
                    let (hits, trials) = record("author");
                    format!(
                        "{} of the author's {} caused incidents",
                        format_number(hits),
                        plural(trials, "earlier change", "earlier changes")
                    )
                }
                "service_incidents_7d" => {
                    format!(
                        "service had {} in the last 7 days",
                        plural(n, "incident", "incidents")
                    )
                }
                "service_incidents_30d" => {
                    format!(
                        "service had {} in the last 30 days",
                        plural(n, "incident", "incidents")
                    )
                }
                "days_since_service_incident" if n >= crate::history::RECENCY_CAP_DAYS => {
                    "service had no incident in the past year".into()
                }
                "days_since_service_incident" => format!(
                    "service's last incident was {} ago",
                    plural(n.floor(), "day", "days")
                ),
                "service_changes_7d" => format!(
                    "service changed {} in the last 7 days",
                    plural(n, "time", "times")
                ),
                "service_prior_changes" => {
                    format!(
                        "service has {} before this one",
                        plural(n, "change", "changes")
                    )
                }
                "service_incident_changes" => format!(
                    "{} to this service caused incidents",
                    plural(n, "earlier change", "earlier changes")
                ),
                "author_prior_changes" if n == 0.0 => "the author's first change".into(),
                "author_prior_changes" => {
                    format!("author has {}", plural(n, "prior change", "prior changes"))
                }
                "author_incident_changes" => format!(
                    "{} by this author caused incidents",
                    plural(n, "earlier change", "earlier changes")
                ),
                other => format!("{other} is {}", format_number(n)),
            }
        }
        // Features from a feature config: name the column and its value.
        _ => {
            let column = feature_column(feature);
            format!("{column} is {}", text(frame, column, row))
        }
    }
}

/// The input column a generic feature is named after (`la_log` reads `la`).
fn feature_column(feature: &str) -> &str {
    feature.strip_suffix("_log").unwrap_or(feature)
}

/// Words the largest risk-raising factors of a score; built once per model.
pub struct Explainer<'m> {
    model: &'m Model,
    factors: Vec<&'m str>,
    /// For each model feature, the index of its factor in `factors`.
    factor_of: Vec<usize>,
}

impl<'m> Explainer<'m> {
    /// Groups the model's features by factor.
    pub fn new(model: &'m Model) -> Explainer<'m> {
        let mut factors: Vec<&str> = Vec::new();
        let factor_of = model
            .features
            .iter()
            .map(|f| match factors.iter().position(|&x| x == f.def.factor) {
                Some(i) => i,
                None => {
                    factors.push(&f.def.factor);
                    factors.len() - 1
                }
            })
            .collect();
        Explainer {
            model,
            factors,
            factor_of,
        }
    }

    /// Summed contribution of each factor (in the order of [`Explainer::factor_names`]).
    pub fn factor_contributions(&self, contributions: &[f64]) -> Vec<f64> {
        let mut sum = vec![0.0; self.factors.len()];
        for (j, &c) in contributions.iter().enumerate() {
            sum[self.factor_of[j]] += c;
        }
        sum
    }

    /// The factor names.
    pub fn factor_names(&self) -> &[&'m str] {
        &self.factors
    }

    /// Up to [`TOP_REASONS`] factors that raise the risk of `row` the most, worded,
    /// most important first and `; `-separated.
    pub fn reasons(&self, frame: &Frame, row: usize, contributions: &[f64]) -> String {
        let sum = self.factor_contributions(contributions);
        let mut order: Vec<usize> = (0..sum.len())
            .filter(|&k| sum[k] >= MIN_CONTRIBUTION)
            .collect();
        order.sort_by(|&a, &b| sum[b].total_cmp(&sum[a]));
        order
            .iter()
            .take(TOP_REASONS)
            .map(|&k| {
                // The factor's largest single feature picks the wording.
                let lead = (0..contributions.len())
                    .filter(|&j| self.factor_of[j] == k)
                    .max_by(|&a, &b| contributions[a].total_cmp(&contributions[b]))
                    .unwrap_or(0);
                describe(
                    self.factors[k],
                    &self.model.features[lead].def.name,
                    frame,
                    row,
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
