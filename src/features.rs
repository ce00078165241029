//! Feature definitions as data. A feature is a named expression over the columns of a
//! [`Frame`] (contract columns, calendar columns, history columns) plus the human factor
//! it belongs to; the model file stores these definitions verbatim, so a score can be
//! recomputed (or translated to SQL) from the model file alone.

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{Column, Frame};

/// An expression evaluated per row to one number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expr {
    /// The numeric value itself.
    Value { column: String },
    /// `ln(1 + max(x, 0))`: for heavy-tailed counts.
    Log1p { column: String },
    /// 1 when the boolean column is true.
    Flag { column: String },
    /// 1 when the categorical column equals `level`.
    Is { column: String, level: String },
    /// 1 when the categorical column is one of `levels`.
    In { column: String, levels: Vec<String> },
    /// The product of the terms: an interaction.
    Product { of: Vec<Expr> },
}

impl Expr {
    fn column_of<'f>(column: &str, frame: &'f Frame) -> Result<&'f Column> {
        frame
            .get(column)
            .ok_or_else(|| Error::Data(format!("feature input column '{column}' is not available")))
    }

    /// Evaluates the expression for every row of `frame`.
    pub fn eval(&self, frame: &Frame) -> Result<Vec<f64>> {
        let kind_error = |column: &str, want: &str| {
            Error::Data(format!("feature input column '{column}' is not {want}"))
        };
        Ok(match self {
            Expr::Value { column } | Expr::Log1p { column } => {
                let Column::Num(v) = Self::column_of(column, frame)? else {
                    return Err(kind_error(column, "numeric"));
                };
                if matches!(self, Expr::Log1p { .. }) {
                    v.iter().map(|x| x.max(0.0).ln_1p()).collect()
                } else {
                    v.clone()
                }
            }
            Expr::Flag { column } => {
                let Column::Flag(v) = Self::column_of(column, frame)? else {
                    return Err(kind_error(column, "boolean"));
                };
                v.iter().map(|&b| f64::from(u8::from(b))).collect()
            }
            Expr::Is { column, level } => {
                Self::levels_eval(frame, column, std::slice::from_ref(level))?
            }
            Expr::In { column, levels } => Self::levels_eval(frame, column, levels)?,
            Expr::Product { of } => {
                let mut acc = vec![1.0; frame.len()];
                for term in of {
                    for (a, b) in acc.iter_mut().zip(term.eval(frame)?) {
                        *a *= b;
                    }
                }
                acc
            }
        })
    }

    fn levels_eval(frame: &Frame, column: &str, wanted: &[String]) -> Result<Vec<f64>> {
        let Column::Cat { codes, levels } = Self::column_of(column, frame)? else {
            return Err(Error::Data(format!(
                "feature input column '{column}' is not categorical"
            )));
        };
        let hit: Vec<bool> = levels.iter().map(|l| wanted.contains(l)).collect();
        Ok(codes
            .iter()
            .map(|&c| f64::from(u8::from(hit[c as usize])))
            .collect())
    }
}

/// One model feature: its name, the human factor its contribution is reported under,
/// and how it is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureDef {
    pub name: String,
    pub factor: String,
    pub expr: Expr,
}

/// Evaluates `features` over `frame` into a rows x features matrix (features in parallel).
pub fn design_matrix(features: &[FeatureDef], frame: &Frame) -> Result<Array2<f64>> {
    let columns: Vec<Vec<f64>> = features
        .par_iter()
        .map(|f| f.expr.eval(frame))
        .collect::<Result<_>>()?;
    let mut x = Array2::<f64>::zeros((frame.len(), features.len()));
    for (j, col) in columns.iter().enumerate() {
        x.column_mut(j).assign(&ndarray::ArrayView1::from(col));
    }
    Ok(x)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn is(column: &str, level: &str) -> Expr {
    Expr::Is {
        column: column.into(),
        level: level.into(),
    }
}

fn one_of(column: &str, levels: &[&str]) -> Expr {
    Expr::In {
        column: column.into(),
        levels: strs(levels),
    }
}

fn log1p(column: &str) -> Expr {
    Expr::Log1p {
        column: column.into(),
    }
}

fn flag(column: &str) -> Expr {
    Expr::Flag {
        column: column.into(),
    }
}

fn def(name: &str, factor: &str, expr: Expr) -> FeatureDef {
    FeatureDef {
        name: name.into(),
        factor: factor.into(),
        expr,
    }
}

/// The pattern behind the motivating outages: an AI-made or AI-assisted change applied
/// with elevated or admin permission without an approving review by someone else.
pub fn risk_pattern() -> Expr {
    Expr::Product {
        of: vec![ai_any(), privileged(), unreviewed()],
    }
}

/// AI took part (assisted or agent).
fn ai_any() -> Expr {
    one_of("ai_involvement", &["assisted", "agent"])
}
/// Elevated or admin permission.
fn privileged() -> Expr {
    one_of("permission_level", &["elevated", "admin"])
}
/// No approving review by someone other than the author.
fn unreviewed() -> Expr {
    one_of("review_status", &["self_approved", "bypassed", "none"])
}

/// The built-in features for the contract schema: the four families (AI involvement,
/// permission, review, blast radius), the interactions behind the motivating outages,
/// size, timing and point-in-time history.
pub fn builtin_features() -> Vec<FeatureDef> {
    let mut f = vec![
        def("ai_assisted", "ai", is("ai_involvement", "assisted")),
        def("ai_agent", "ai", is("ai_involvement", "agent")),
        def(
            "permission_elevated",
            "permission",
            is("permission_level", "elevated"),
        ),
        def(
            "permission_admin",
            "permission",
            is("permission_level", "admin"),
        ),
        def(
            "review_self_approved",
            "review",
            is("review_status", "self_approved"),
        ),
        def("review_bypassed", "review", is("review_status", "bypassed")),
        def("review_none", "review", is("review_status", "none")),
        def("reviewers_log", "review", log1p("reviewer_count")),
        def(
            "services_affected_log",
            "blast_radius",
            log1p("services_affected"),
        ),
        def(
            "regions_affected_log",
            "blast_radius",
            log1p("regions_affected"),
        ),
        def(
            "customer_facing",
            "customer_facing",
            flag("customer_facing"),
        ),
    ];
    for t in ["config", "infra", "iam", "database", "feature_flag"] {
        f.push(def(
            &format!("type_{t}"),
            "change_type",
            is("change_type", t),
        ));
    }
    f.extend([
        def("lines_changed_log", "size", log1p("lines_changed")),
        def("files_changed_log", "size", log1p("files_changed")),
        def("rollback_plan", "rollback", flag("rollback_plan")),
        def(
            "ai_x_privileged",
            "pattern",
            Expr::Product {
                of: vec![ai_any(), privileged()],
            },
        ),
        def(
            "ai_x_unreviewed",
            "pattern",
            Expr::Product {
                of: vec![ai_any(), unreviewed()],
            },
        ),
        def(
            "privileged_x_unreviewed",
            "pattern",
            Expr::Product {
                of: vec![privileged(), unreviewed()],
            },
        ),
        def("ai_x_privileged_x_unreviewed", "pattern", risk_pattern()),
        def(
            "agent_x_unreviewed",
            "pattern",
            Expr::Product {
                of: vec![is("ai_involvement", "agent"), unreviewed()],
            },
        ),
        def(
            "pattern_x_blast_radius",
            "pattern",
            Expr::Product {
                of: vec![
                    ai_any(),
                    privileged(),
                    unreviewed(),
                    log1p("services_affected"),
                ],
            },
        ),
        def(
            "unreviewed_x_blast_radius",
            "pattern",
            Expr::Product {
                of: vec![unreviewed(), log1p("services_affected")],
            },
        ),
        def("off_hours", "timing", flag("off_hours")),
        def("weekend", "timing", flag("weekend")),
    ]);
    for d in ["tue", "wed", "thu", "fri"] {
        f.push(def(&format!("weekday_{d}"), "timing", is("weekday", d)));
    }
    for (name, factor) in [
        ("service_incidents_7d", "service_history"),
        ("service_incidents_30d", "service_history"),
        ("days_since_service_incident", "service_history"),
        ("service_changes_7d", "service_history"),
        ("service_prior_changes", "service_history"),
        ("service_incident_changes", "service_history"),
        ("author_prior_changes", "author_history"),
        ("author_incident_changes", "author_history"),
    ] {
        f.push(def(&format!("{name}_log"), factor, log1p(name)));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_compute_by_hand() {
        let mut frame = Frame::new(3);
        frame.insert("n", Column::Num(vec![0.0, 1.0, -2.0]));
        frame.insert("b", Column::Flag(vec![true, false, true]));
        frame.insert("c", Column::cat_from_text(["x", "y", "z"]));
        let e = Expr::Product {
            of: vec![flag("b"), one_of("c", &["x", "z"]), log1p("n")],
        };
        // row 0: 1*1*ln(1)=0; row 1: 0; row 2: 1*1*ln(1+max(-2,0))=0
        assert_eq!(e.eval(&frame).unwrap(), [0.0, 0.0, 0.0]);
        let e = Expr::Product {
            of: vec![is("c", "y"), Expr::Value { column: "n".into() }],
        };
        assert_eq!(e.eval(&frame).unwrap(), [0.0, 1.0, -0.0]);
        assert_eq!(log1p("n").eval(&frame).unwrap()[1], 2f64.ln());
        assert!(matches!(flag("n").eval(&frame), Err(Error::Data(_))));
    }

    #[test]
    fn builtin_features_have_unique_names_and_round_trip_as_json() {
        let f = builtin_features();
        let mut names: Vec<&str> = f.iter().map(|d| d.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), f.len());
        let json = serde_json::to_string(&f).unwrap();
        let back: Vec<FeatureDef> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }
}
