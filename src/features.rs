//! Feature definitions as data. A feature is a named expression over the columns of a
//! [`Frame`] (contract columns, calendar columns, history columns) plus the human factor
//! it belongs to; the model file stores these definitions verbatim, so a score can be
//! recomputed (or translated to SQL) from the model file alone.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::frame::{Column, Frame};

/// An expression evaluated per row to one number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expr {
    /// The numeric value itself; a missing value becomes `fill`.
    Value {
        column: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<f64>,
    },
    /// `ln(1 + max(x, 0))`: for heavy-tailed counts; a missing value becomes `fill` first.
    Log1p {
        column: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<f64>,
    },
    /// 1 when the numeric value is missing.
    Missing { column: String },
    /// 1 when the boolean column is true.
    Flag { column: String },
    /// 1 when the categorical column equals `level`.
    Is { column: String, level: String },
    /// 1 when the categorical column is one of `levels`.
    In { column: String, levels: Vec<String> },
    /// 1 when the categorical column is none of `kept`: the pooled rare levels seen in
    /// training (`pooled`, kept for the record) and levels never seen.
    Other {
        column: String,
        kept: Vec<String>,
        pooled: Vec<String>,
    },
    /// The product of the terms: an interaction.
    Product { of: Vec<Expr> },
    /// 1 when the numeric value is at least `value`.
    AtLeast { column: String, value: f64 },
    /// `sin(2 pi x / period)`: with [`Expr::Cos`], a cyclic value (the hour of day) as a
    /// point on a circle, so 23:00 sits next to 00:00.
    Sin { column: String, period: f64 },
    /// `cos(2 pi x / period)`; see [`Expr::Sin`].
    Cos { column: String, period: f64 },
    /// The log-odds of a rate shrunk towards `prior`: `logit((hits + prior w) / (trials + w))`,
    /// so a short track record says little and a long one a lot.
    SmoothedLogOdds {
        hits: String,
        trials: String,
        prior: f64,
        weight: f64,
    },
    /// The log of observed over expected counts, both given `w` pseudo-events at `prior`
    /// each: `ln((hits + prior w) / (expected + prior w))`. 0 for a record that matches
    /// what was expected, or is too short to say.
    SmoothedLogRatio {
        hits: String,
        expected: String,
        prior: f64,
        weight: f64,
    },
}

/// How a feature expression reads a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    /// A number (NaN when missing); a config's boolean is read as 0 or 1.
    Numeric,
    /// The contract's booleans and the calendar's flags.
    Boolean,
    /// Text levels.
    Categorical,
}

impl InputKind {
    /// The kind as a config names it.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Numeric => "numeric",
            InputKind::Boolean => "boolean",
            InputKind::Categorical => "categorical",
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest magnitude of a number a model file gives a feature (a fill, a cut, a
/// mean, a scale): twice [`crate::load::MAX_NUMBER`], the most any input value holds,
/// which leaves room for rounding in the means and standard deviations `train` computes.
pub const MODEL_NUMBER_LIMIT: f64 = 2.0 * crate::load::MAX_NUMBER;

impl Expr {
    /// Checks the numbers a model file gives the expression: a prior strictly inside
    /// (0, 1) and a positive weight (the log-odds stay finite), finite fills and cuts.
    pub fn check(&self) -> std::result::Result<(), String> {
        match self {
            Expr::SmoothedLogOdds { prior, weight, .. }
            | Expr::SmoothedLogRatio { prior, weight, .. } => {
                // The pseudo-counts must not vanish either: a rate of 0 / 0 or a log of 0.
                let pseudo = |share: f64| (share * weight).is_normal();
                let fine = *prior > 0.0 && *prior < 1.0 && weight.is_finite() && *weight > 0.0;
                if !(fine && pseudo(*prior) && pseudo(1.0 - prior)) {
                    return Err(format!(
                        "prior {prior} and weight {weight}: expected a prior strictly between \
                         0 and 1 and a positive weight, not so small that prior x weight \
                         vanishes"
                    ));
                }
            }
            Expr::Value { fill, .. } | Expr::Log1p { fill, .. } => {
                let within = |v: f64| (-MODEL_NUMBER_LIMIT..=MODEL_NUMBER_LIMIT).contains(&v);
                if fill.is_some_and(|f| !within(f)) {
                    return Err(format!(
                        "fill {fill:?}: expected a number within +-{MODEL_NUMBER_LIMIT:e}"
                    ));
                }
            }
            Expr::Sin { period, .. } | Expr::Cos { period, .. } => {
                if !(period.is_finite()
                    && *period > 0.0
                    && (std::f64::consts::TAU / period).is_finite())
                {
                    return Err(format!(
                        "period {period}: expected a positive number (and not vanishingly small)"
                    ));
                }
            }
            Expr::AtLeast { value, .. } => {
                if !(-MODEL_NUMBER_LIMIT..=MODEL_NUMBER_LIMIT).contains(value) {
                    return Err(format!(
                        "cut {value:?}: expected a number within +-{MODEL_NUMBER_LIMIT:e}"
                    ));
                }
            }
            Expr::Product { of } if of.is_empty() => {
                return Err("`product` of no term would be 1 for every change".into());
            }
            Expr::Product { of } => {
                for term in of {
                    term.check()?;
                }
            }
            Expr::In { levels, .. } if levels.is_empty() => {
                return Err("`in` lists no level, so it would be 0 for every change".into());
            }
            Expr::Missing { .. }
            | Expr::Flag { .. }
            | Expr::Is { .. }
            | Expr::In { .. }
            | Expr::Other { .. } => {}
        }
        Ok(())
    }

    /// The columns the expression reads, each with the kind it reads it as.
    pub fn inputs(&self) -> Vec<(&str, InputKind)> {
        match self {
            Expr::Value { column, .. }
            | Expr::Log1p { column, .. }
            | Expr::Missing { column }
            | Expr::AtLeast { column, .. }
            | Expr::Sin { column, .. }
            | Expr::Cos { column, .. } => vec![(column, InputKind::Numeric)],
            Expr::Flag { column } => vec![(column, InputKind::Boolean)],
            Expr::Is { column, .. } | Expr::In { column, .. } | Expr::Other { column, .. } => {
                vec![(column, InputKind::Categorical)]
            }
            Expr::SmoothedLogOdds { hits, trials, .. } => {
                vec![(hits, InputKind::Numeric), (trials, InputKind::Numeric)]
            }
            Expr::SmoothedLogRatio { hits, expected, .. } => {
                vec![(hits, InputKind::Numeric), (expected, InputKind::Numeric)]
            }
            Expr::Product { of } => of.iter().flat_map(Expr::inputs).collect(),
        }
    }

    fn column_of<'f>(column: &str, frame: &'f Frame) -> Result<&'f Column> {
        frame
            .get(column)
            .ok_or_else(|| Error::Data(format!("feature input column '{column}' is not available")))
    }

    /// Evaluates the expression for every row of `frame`.
    pub fn eval(&self, frame: &Frame) -> Result<Vec<f64>> {
        Ok(match self {
            Expr::Value { column, fill } | Expr::Log1p { column, fill } => {
                let v = Self::numeric(column, frame)?;
                let fill = fill.unwrap_or(f64::NAN);
                let filled = v.iter().map(|&x| if x.is_nan() { fill } else { x });
                if matches!(self, Expr::Log1p { .. }) {
                    filled.map(|x| x.max(0.0).ln_1p()).collect()
                } else {
                    filled.collect()
                }
            }
            Expr::Missing { column } => {
                let v = Self::numeric(column, frame)?;
                v.iter().map(|x| f64::from(u8::from(x.is_nan()))).collect()
            }
            Expr::Other { column, kept, .. } => Self::levels_eval(frame, column, kept)?
                .into_iter()
                .map(|v| 1.0 - v)
                .collect(),
            Expr::Flag { column } => {
                let Column::Flag(v) = Self::column_of(column, frame)? else {
                    return Err(Error::Data(format!(
                        "feature input column '{column}' is not boolean"
                    )));
                };
                v.iter().map(|&b| f64::from(u8::from(b))).collect()
            }
            Expr::Is { column, level } => {
                Self::levels_eval(frame, column, std::slice::from_ref(level))?
            }
            Expr::In { column, levels } => Self::levels_eval(frame, column, levels)?,
            Expr::AtLeast { column, value } => {
                let v = Self::numeric(column, frame)?;
                v.iter()
                    .map(|x| f64::from(u8::from(*x >= *value)))
                    .collect()
            }
            Expr::Sin { column, period } | Expr::Cos { column, period } => {
                let v = Self::numeric(column, frame)?;
                let turn = std::f64::consts::TAU / period;
                if matches!(self, Expr::Sin { .. }) {
                    v.iter().map(|x| (x * turn).sin()).collect()
                } else {
                    v.iter().map(|x| (x * turn).cos()).collect()
                }
            }
            Expr::SmoothedLogOdds {
                hits,
                trials,
                prior,
                weight,
            } => {
                let (h, t) = (Self::numeric(hits, frame)?, Self::numeric(trials, frame)?);
                h.iter()
                    .zip(t)
                    .map(|(h, t)| {
                        let rate = (h + prior * weight) / (t + weight);
                        (rate / (1.0 - rate)).ln()
                    })
                    .collect()
            }
            Expr::SmoothedLogRatio {
                hits,
                expected,
                prior,
                weight,
            } => {
                let (h, e) = (Self::numeric(hits, frame)?, Self::numeric(expected, frame)?);
                let pseudo = prior * weight;
                h.iter()
                    .zip(e)
                    .map(|(h, e)| ((h + pseudo) / (e + pseudo)).ln())
                    .collect()
            }
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

    /// The values of a numeric input column.
    fn numeric<'f>(column: &str, frame: &'f Frame) -> Result<&'f [f64]> {
        match Self::column_of(column, frame)? {
            Column::Num(v) => Ok(v),
            _ => Err(Error::Data(format!(
                "feature input column '{column}' is not numeric"
            ))),
        }
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
    /// The direction the risk must follow as the value grows, other things equal: +1
    /// never lower, -1 never higher, 0 free. Tree learners enforce it.
    #[serde(default, skip_serializing_if = "is_free")]
    pub monotone: i8,
    /// Learned by the trees only: the logistic model gives it no weight (its coefficient
    /// is 0). For the change's time, which a line would extrapolate beyond the training
    /// years, while a tree's split on it only tells an earlier period from a later one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trees_only: bool,
}

fn is_free(m: &i8) -> bool {
    *m == 0
}

/// Evaluates `features` over `frame` into a rows x features matrix (features in parallel).
pub fn design_matrix(features: &[FeatureDef], frame: &Frame) -> Result<Array2<f64>> {
    let columns: Vec<Vec<f64>> = features
        .par_iter()
        .map(|f| f.expr.eval(frame))
        .collect::<Result<_>>()?;
    // Written row after row (each column read in order alongside the others), not
    // column after column with strided writes.
    let mut x = Vec::with_capacity(frame.len() * features.len());
    for r in 0..frame.len() {
        x.extend(columns.iter().map(|c| c[r]));
    }
    Ok(Array2::from_shape_vec((frame.len(), features.len()), x)
        .expect("one value per row and feature"))
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
        fill: None,
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
        monotone: 0,
        trees_only: false,
    }
}

/// The frame column holding each change's own time (Unix seconds), which every history
/// has. A config may not declare a column of that name (`Config::check`), so no input
/// column is taken for it.
pub const TIME_COLUMN: &str = "@time";

/// The change's time, for the trees only ([`FeatureDef::trees_only`]). Histories drift:
/// what a feature says about risk, and how often changes cause incidents at all, move
/// over the years (on OpenStack the share of changes later found to cause a defect falls
/// from 34% in the first tenth to 19% in the last). A split on the time lets the trees
/// learn the latest period's pattern apart from earlier ones, and a change being scored
/// (later than every training row) falls in the latest period, so it is scored by that
/// period's pattern rather than by the whole history's average. The time of a change is
/// known before it ships: no leakage.
pub fn time_feature() -> FeatureDef {
    FeatureDef {
        trees_only: true,
        ..def(
            "time",
            "period",
            Expr::Value {
                column: TIME_COLUMN.into(),
                fill: None,
            },
        )
    }
}

/// A feature the risk never falls with (other things equal).
fn rising(name: &str, factor: &str, expr: Expr) -> FeatureDef {
    FeatureDef {
        monotone: 1,
        ..def(name, factor, expr)
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

/// The built-in semantic features over the contract's columns: the four families (AI
/// involvement, permission, review, blast radius), the interactions behind the
/// motivating outages, size and timing. History features come from [`history_features`].
pub fn builtin_features() -> Vec<FeatureDef> {
    // Ordered levels are coded cumulatively ("at least assisted", "agent") so that a
    // monotone constraint on each indicator orders every level: agent over assisted over
    // none, admin over elevated over standard, no review over self-approval over approval.
    let mut f = vec![
        rising("ai_any", "ai", ai_any()),
        rising("ai_agent", "ai", is("ai_involvement", "agent")),
        rising("permission_raised", "permission", privileged()),
        rising(
            "permission_admin",
            "permission",
            is("permission_level", "admin"),
        ),
        rising("review_not_approved", "review", unreviewed()),
        rising(
            "review_none_or_bypassed",
            "review",
            one_of("review_status", &["bypassed", "none"]),
        ),
        def("review_bypassed", "review", is("review_status", "bypassed")),
        FeatureDef {
            monotone: -1,
            ..def("reviewers_log", "review", log1p("reviewer_count"))
        },
        rising(
            "services_affected_log",
            "blast_radius",
            log1p("services_affected"),
        ),
        rising(
            "regions_affected_log",
            "blast_radius",
            log1p("regions_affected"),
        ),
        rising(
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
        rising(
            "ai_x_privileged",
            "pattern",
            Expr::Product {
                of: vec![ai_any(), privileged()],
            },
        ),
        rising(
            "ai_x_unreviewed",
            "pattern",
            Expr::Product {
                of: vec![ai_any(), unreviewed()],
            },
        ),
        rising(
            "privileged_x_unreviewed",
            "pattern",
            Expr::Product {
                of: vec![privileged(), unreviewed()],
            },
        ),
        rising("ai_x_privileged_x_unreviewed", "pattern", risk_pattern()),
        rising(
            "agent_x_unreviewed",
            "pattern",
            Expr::Product {
                of: vec![is("ai_involvement", "agent"), unreviewed()],
            },
        ),
        rising(
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
        rising(
            "unreviewed_x_blast_radius",
            "pattern",
            Expr::Product {
                of: vec![unreviewed(), log1p("services_affected")],
            },
        ),
        def("off_hours", "timing", flag("off_hours")),
        def("weekend", "timing", flag("weekend")),
    ]);
    // The hour of day (UTC) as two harmonics of the daily cycle: where and when a team
    // works sets which hours are risky, so their shape is learned, next to the fixed
    // `off_hours` window that assumes a working day. Four smooth terms, not 24
    // indicators: on small histories the indicators overfit.
    for period in [24.0, 12.0] {
        let column = String::from("hour");
        f.extend([
            def(
                &format!("hour_sin_{period}h"),
                "timing",
                Expr::Sin {
                    column: column.clone(),
                    period,
                },
            ),
            def(
                &format!("hour_cos_{period}h"),
                "timing",
                Expr::Cos { column, period },
            ),
        ]);
    }
    for d in ["tue", "wed", "thu", "fri"] {
        f.push(def(&format!("weekday_{d}"), "timing", is("weekday", d)));
    }
    f
}

/// The point-in-time history features available for a config: per-service ones need a
/// service column, per-author ones an author column, and those that count incidents or
/// incident-causing changes need an incidents file (a label column says nothing about
/// *when* a change was found to be bad, so counting earlier labels would leak).
///
/// `base_rate` is the prior the per-author and per-service incident rates shrink
/// towards: the positive rate of the training rows before model selection's first
/// validation fold, by the labels known then ([`crate::train::prior_rate`]).
pub fn history_features(config: &Config, base_rate: f64) -> Vec<FeatureDef> {
    let incidents = !config.has_label();
    let service = config.columns.service.is_some();
    let author = config.columns.author.is_some();
    // Keep the prior strictly inside (0, 1) so the log-odds stay finite.
    let prior = base_rate.clamp(1e-4, 1.0 - 1e-4);
    let rate = |name: &str, factor: &str, who: &str, weight: f64| {
        def(
            name,
            factor,
            Expr::SmoothedLogOdds {
                hits: format!("{who}_incident_changes"),
                trials: format!("{who}_prior_changes"),
                prior,
                weight,
            },
        )
    };
    let mut extra = Vec::new();
    if service && incidents {
        extra.push(def(
            "service_incident_7d_any",
            "service_history",
            Expr::AtLeast {
                column: "service_incidents_7d".into(),
                value: 1.0,
            },
        ));
        extra.push(rate(
            "service_incident_rate",
            "service_history",
            "service",
            20.0,
        ));
    }
    if author && incidents {
        extra.push(rate(
            "author_incident_rate",
            "author_history",
            "author",
            10.0,
        ));
    }
    if author && service && incidents {
        // The author's record against what their services' rates lead to expect: the
        // author's own share of the risk, apart from where they work.
        extra.push(def(
            "author_incident_ratio",
            "author_history",
            Expr::SmoothedLogRatio {
                hits: "author_incident_changes".into(),
                expected: "author_expected_incidents".into(),
                prior,
                weight: 30.0,
            },
        ));
    }
    let mut counts: Vec<FeatureDef> = [
        (
            "service_incidents_7d",
            "service_history",
            service && incidents,
        ),
        (
            "service_incidents_30d",
            "service_history",
            service && incidents,
        ),
        (
            "days_since_service_incident",
            "service_history",
            service && incidents,
        ),
        ("service_changes_7d", "service_history", service),
        ("service_prior_changes", "service_history", service),
        (
            "service_incident_changes",
            "service_history",
            service && incidents,
        ),
        ("author_prior_changes", "author_history", author),
        (
            "author_incident_changes",
            "author_history",
            author && incidents,
        ),
    ]
    .into_iter()
    .filter(|(_, _, available)| *available)
    .map(|(name, factor, _)| def(&format!("{name}_log"), factor, log1p(name)))
    .collect();
    counts.extend(extra);
    counts
}

/// A categorical level is pooled into `other` when fewer training rows than this share
/// (and at least [`MIN_LEVEL_ROWS`]) hold it.
pub const MIN_LEVEL_SHARE: f64 = 0.005;
/// See [`MIN_LEVEL_SHARE`].
pub const MIN_LEVEL_ROWS: usize = 10;

/// Skewness above which a non-negative numeric column is log-transformed.
const LOG_SKEWNESS: f64 = 1.0;

/// Largest share of negative values a numeric column may have and still be
/// log-transformed (its negative values read as 0).
const MAX_NEGATIVE_SHARE: f64 = 0.01;

/// The skewness of `values` (0 when they are all equal).
fn skewness(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.clone().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    if var > 0.0 {
        values.map(|v| (v - mean).powi(3)).sum::<f64>() / n / var.powf(1.5)
    } else {
        0.0
    }
}

/// Every feature of a config, the declared columns' transforms decided from the training
/// frame and the history rates' prior from the training positive rate. Returns the
/// features and warnings (dropped columns).
///
/// No feature left (every declared column constant or a single level, and no built-in
/// or history features) is an error: such a model would give every change one risk.
pub fn feature_set(
    config: &Config,
    train: &Frame,
    base_rate: f64,
) -> Result<(Vec<FeatureDef>, Vec<String>)> {
    let mut features = if config.features.builtin {
        builtin_features()
    } else {
        Vec::new()
    };
    let mut warnings = Vec::new();
    let declared = config
        .features
        .numeric
        .iter()
        .chain(&config.features.boolean);
    for column in declared {
        let Some(Column::Num(values)) = train.get(column) else {
            continue;
        };
        let monotone = config.features.monotone.get(column).copied().unwrap_or(0);
        numeric_features(column, values, monotone, &mut features, &mut warnings);
    }
    for column in &config.features.categorical {
        let Some(Column::Cat { codes, levels }) = train.get(column) else {
            continue;
        };
        categorical_features(column, codes, levels, &mut features, &mut warnings);
    }
    if config.features.builtin {
        features.extend(tool_features(train));
    }
    features.extend(history_features(config, base_rate));
    if features.is_empty() {
        return Err(Error::Data(format!(
            "no feature left to learn from in the training rows: {}",
            warnings.join("; ")
        )));
    }
    features.push(time_feature());
    unique_names(&mut features);
    Ok((features, warnings))
}

/// The built-in schema's AI tool (`ai_tool`, optional): one indicator per tool held by
/// enough training changes and one for the rest, as a declared categorical column gets,
/// part of the `ai` factor (reasons name the tool). None, without a warning (the column
/// is optional), when the training changes name fewer than two values.
fn tool_features(train: &Frame) -> Vec<FeatureDef> {
    let Some(Column::Cat { codes, levels }) = train.get("ai_tool") else {
        return Vec::new();
    };
    let (mut out, mut unused_warnings) = (Vec::new(), Vec::new());
    categorical_features("ai_tool", codes, levels, &mut out, &mut unused_warnings);
    for f in &mut out {
        f.factor = "ai".into();
    }
    out
}

/// The columns, with their kinds, that the features `config` can give a model read:
/// the built-in and history features' inputs, and the declared columns (a declared
/// boolean is read as a 0/1 number).
pub fn readable_inputs(config: &Config) -> Vec<(String, InputKind)> {
    let mut defs = history_features(config, 0.5);
    if config.features.builtin {
        defs.extend(builtin_features());
    }
    let f = &config.features;
    let mut out: Vec<(String, InputKind)> = defs
        .iter()
        .flat_map(|d| d.expr.inputs())
        .map(|(c, k)| (c.to_string(), k))
        .collect();
    out.extend(
        f.numeric
            .iter()
            .chain(&f.boolean)
            .map(|c| (c.clone(), InputKind::Numeric)),
    );
    out.extend(
        f.categorical
            .iter()
            .map(|c| (c.clone(), InputKind::Categorical)),
    );
    if f.builtin {
        // Read for [`tool_features`], whose levels come from the training changes.
        out.push(("ai_tool".into(), InputKind::Categorical));
    }
    out.push((TIME_COLUMN.into(), InputKind::Numeric));
    out.sort();
    out.dedup();
    out
}

/// Makes every feature name unique (a file's own column `x_missing`, or a categorical
/// level called `other`, could repeat a derived name): a repeat gets ` (2)`, ` (3)`, ...
fn unique_names(features: &mut [FeatureDef]) {
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    for f in features.iter_mut() {
        let mut name = f.name.clone();
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{} ({k})", f.name);
            k += 1;
        }
        taken.insert(name.clone());
        f.name = name;
    }
}

fn numeric_features(
    column: &str,
    values: &[f64],
    monotone: i8,
    out: &mut Vec<FeatureDef>,
    warnings: &mut Vec<String>,
) {
    let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let missing = values.len() - present.len();
    present.sort_by(f64::total_cmp);
    let (Some(&lo), Some(&hi)) = (present.first(), present.last()) else {
        warnings.push(format!(
            "column '{column}' is missing in every training row: dropped"
        ));
        return;
    };
    if lo == hi && missing == 0 {
        warnings.push(format!(
            "column '{column}' is constant ({lo}) in training: dropped"
        ));
        return;
    }
    let median = present[present.len() / 2];
    // Always recorded: a cell missing only at scoring time is imputed too, never NaN.
    let fill = Some(median);
    // A few negative values in a count or a duration (a -1 sentinel, a clock's skew)
    // do not make it a signed quantity: the log transform reads them as 0, as it
    // reads any negative value at scoring time.
    let negatives = present.partition_point(|&v| v < 0.0);
    let few_negatives = negatives as f64 <= MAX_NEGATIVE_SHARE * present.len() as f64;
    let skew = if few_negatives {
        skewness(present.iter().map(|v| v.max(0.0)))
    } else {
        0.0
    };
    let column_name = column.to_string();
    let log = skew > LOG_SKEWNESS;
    if log && negatives > 0 {
        warnings.push(format!(
            "column '{column}' has {negatives} negative value(s) in training (the least {lo}): \
             read as 0 by its log transform"
        ));
    }
    let value = if log {
        def(
            &format!("{column}_log"),
            column,
            Expr::Log1p {
                column: column_name.clone(),
                fill,
            },
        )
    } else {
        def(
            column,
            column,
            Expr::Value {
                column: column_name.clone(),
                fill,
            },
        )
    };
    // Both transforms keep the order of the values, so the direction carries over.
    out.push(FeatureDef { monotone, ..value });
    if missing > 0 {
        out.push(def(
            &format!("{column}_missing"),
            column,
            Expr::Missing {
                column: column_name,
            },
        ));
    }
}

fn categorical_features(
    column: &str,
    codes: &[u32],
    levels: &[String],
    out: &mut Vec<FeatureDef>,
    warnings: &mut Vec<String>,
) {
    let mut counts = vec![0usize; levels.len()];
    for &c in codes {
        counts[c as usize] += 1;
    }
    let min_rows = MIN_LEVEL_ROWS.max((MIN_LEVEL_SHARE * codes.len() as f64).ceil() as usize);
    // Levels by frequency (ties by name) so the model file does not depend on row order.
    let mut order: Vec<usize> = (0..levels.len()).filter(|&l| counts[l] > 0).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(levels[a].cmp(&levels[b])));
    let (kept, pooled): (Vec<usize>, Vec<usize>) =
        order.iter().partition(|&&l| counts[l] >= min_rows);
    if kept.len() + usize::from(!pooled.is_empty()) < 2 {
        warnings.push(if kept.is_empty() && pooled.len() > 1 {
            format!(
                "column '{column}': each of its {} levels is held by fewer than {min_rows} training \
                 rows, so all would pool into 'other' (free text, an id?): dropped",
                pooled.len()
            )
        } else {
            format!("column '{column}' has a single level in training: dropped")
        });
        return;
    }
    let name = |l: usize| levels[l].clone();
    // The most frequent level is the baseline; the others get an indicator each.
    for &l in kept.iter().skip(1) {
        out.push(def(
            &format!("{column}={}", levels[l]),
            column,
            is(column, &levels[l]),
        ));
    }
    out.push(def(
        &format!("{column}=other"),
        column,
        Expr::Other {
            column: column.into(),
            kept: kept.iter().map(|&l| name(l)).collect(),
            pooled: pooled.iter().map(|&l| name(l)).collect(),
        },
    ));
}

/// For each `Other` feature, how many of `rows` hold a level never seen in training,
/// and the first few such levels.
pub fn unseen_levels(
    features: &[FeatureDef],
    frame: &Frame,
    rows: Range<usize>,
) -> Vec<(String, usize, Vec<String>)> {
    features
        .iter()
        .filter_map(|f| {
            let Expr::Other {
                column,
                kept,
                pooled,
            } = &f.expr
            else {
                return None;
            };
            let Some(Column::Cat { codes, levels }) = frame.get(column) else {
                return None;
            };
            let unseen: Vec<bool> = levels
                .iter()
                .map(|l| !kept.contains(l) && !pooled.contains(l))
                .collect();
            let mut counts = vec![0usize; levels.len()];
            for &c in &codes[rows.clone()] {
                if unseen[c as usize] {
                    counts[c as usize] += 1;
                }
            }
            let count: usize = counts.iter().sum();
            let examples: Vec<String> = (0..levels.len())
                .filter(|&l| counts[l] > 0)
                .take(3)
                .map(|l| levels[l].clone())
                .collect();
            (count > 0).then(|| (column.clone(), count, examples))
        })
        .collect()
}

/// Fewest positive and negative training rows for [`separating_features`] to judge.
const SEPARATION_ROWS: usize = 20;

/// Warnings for features that alone separate the training labels (every positive row's
/// value above every negative row's, or below): on real histories that is the outcome
/// in other words (a count of the bugs a change was later found to have), which would
/// leak it into the model and score the future by what is not known then.
pub fn separating_features(features: &[FeatureDef], x: ArrayView2<f64>, y: &[bool]) -> Vec<String> {
    let positives = y.iter().filter(|&&v| v).count();
    if positives < SEPARATION_ROWS || y.len() - positives < SEPARATION_ROWS {
        return Vec::new();
    }
    let p = x.ncols();
    // Per column: the least and greatest value of the positive rows, then the negative.
    let mut bounds = vec![[f64::INFINITY, f64::NEG_INFINITY]; 2 * p];
    for (row, &label) in x.rows().into_iter().zip(y) {
        let b = &mut bounds[if label { 0 } else { p }..][..p];
        for (b, &v) in b.iter_mut().zip(row) {
            b[0] = b[0].min(v);
            b[1] = b[1].max(v);
        }
    }
    let (pos, neg) = bounds.split_at(p);
    features
        .iter()
        .zip(pos.iter().zip(neg))
        .filter(|(_, (pos, neg))| pos[0] > neg[1] || pos[1] < neg[0])
        .map(|(f, _)| {
            let columns: Vec<String> = f
                .expr
                .inputs()
                .into_iter()
                .map(|(c, _)| format!("'{c}'"))
                .collect();
            format!(
                "feature '{}' (column {}) alone separates the training labels (every positive change \
                 on one side of a cut, every other on the other): if the column is recorded after \
                 the change (a count of the bugs it was found to have), it leaks the outcome; leave \
                 it out of the config",
                f.name,
                columns.join(", ")
            )
        })
        .collect()
}

/// Warnings on what `rows` of `frame` hold that training never did: levels of
/// a categorical column not seen in training ([`unseen_levels`]) and values missing from
/// a column that always had one ([`unseen_missing`]).
pub fn scoring_gaps(features: &[FeatureDef], frame: &Frame, rows: Range<usize>) -> Vec<String> {
    let mut gaps = Gaps::default();
    gaps.add(features, frame, rows);
    gaps.warnings()
}

/// [`scoring_gaps`] counted over the parts of a table scored a part at a time.
#[derive(Debug, Default)]
pub struct Gaps {
    scored: usize,
    levels: Vec<(String, usize, Vec<String>)>,
    missing: Vec<(String, usize, f64)>,
}

impl Gaps {
    /// Counts the gaps of `rows` of `frame`.
    pub fn add(&mut self, features: &[FeatureDef], frame: &Frame, rows: Range<usize>) {
        self.scored += rows.len();
        for (column, count, examples) in unseen_levels(features, frame, rows.clone()) {
            match self.levels.iter_mut().find(|l| l.0 == column) {
                Some((_, total, kept)) => {
                    *total += count;
                    for example in examples {
                        if kept.len() < 3 && !kept.contains(&example) {
                            kept.push(example);
                        }
                    }
                }
                None => self.levels.push((column, count, examples)),
            }
        }
        for (column, count, fill) in unseen_missing(features, frame, rows) {
            match self.missing.iter_mut().find(|m| m.0 == column) {
                Some((_, total, _)) => *total += count,
                None => self.missing.push((column, count, fill)),
            }
        }
    }

    /// One warning per column with a gap.
    pub fn warnings(&self) -> Vec<String> {
        let levels = self.levels.iter().map(|(column, count, examples)| {
            format!(
                "{count} change(s) have a '{column}' level not seen in training ('{}'); scored as 'other'",
                examples.join("', '")
            )
        });
        let missing = self.missing.iter().map(|(column, count, fill)| {
            format!(
                "{count} of {} change(s) have no '{column}', which every training change \
                 had; scored with its training median {}",
                self.scored,
                crate::frame::format_number(*fill)
            )
        });
        levels.chain(missing).collect()
    }
}

/// For each numeric column a feature reads with a fill and that had a value in every
/// training row (no `_missing` feature), how many of `rows` of `frame` have none, and the
/// fill they are scored with: a gap the model never saw, which a warning should name.
pub fn unseen_missing(
    features: &[FeatureDef],
    frame: &Frame,
    rows: Range<usize>,
) -> Vec<(String, usize, f64)> {
    let modelled: Vec<&str> = features
        .iter()
        .filter_map(|f| match &f.expr {
            Expr::Missing { column } => Some(column.as_str()),
            _ => None,
        })
        .collect();
    let mut out: Vec<(String, usize, f64)> = Vec::new();
    for f in features {
        let (Expr::Value {
            column,
            fill: Some(fill),
        }
        | Expr::Log1p {
            column,
            fill: Some(fill),
        }) = &f.expr
        else {
            continue;
        };
        if modelled.contains(&column.as_str()) || out.iter().any(|(c, ..)| c == column) {
            continue;
        }
        let Some(Column::Num(values)) = frame.get(column) else {
            continue;
        };
        let count = values[rows.clone()].iter().filter(|v| v.is_nan()).count();
        if count > 0 {
            out.push((column.clone(), count, *fill));
        }
    }
    out
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
            of: vec![
                is("c", "y"),
                Expr::Value {
                    column: "n".into(),
                    fill: None,
                },
            ],
        };
        assert_eq!(e.eval(&frame).unwrap(), [0.0, 1.0, -0.0]);
        assert_eq!(log1p("n").eval(&frame).unwrap()[1], 2f64.ln());
        assert!(matches!(flag("n").eval(&frame), Err(Error::Data(_))));
    }

    #[test]
    fn a_record_is_read_against_what_was_expected() {
        let mut frame = Frame::new(3);
        frame.insert("hits", Column::Num(vec![0.0, 4.0, 1.0]));
        frame.insert("expected", Column::Num(vec![0.0, 2.0, 3.0]));
        let e = Expr::SmoothedLogRatio {
            hits: "hits".into(),
            expected: "expected".into(),
            prior: 0.1,
            weight: 20.0,
        };
        // 2 pseudo-incidents on both sides: no record says 0, 4 against 2 ln(6/4),
        // 1 against 3 ln(3/5).
        let got = e.eval(&frame).unwrap();
        let want = [0.0, (6.0f64 / 4.0).ln(), (3.0f64 / 5.0).ln()];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-15, "{got:?}");
        }
        assert!(e.check().is_ok());
        let bad = Expr::SmoothedLogRatio {
            hits: "hits".into(),
            expected: "expected".into(),
            prior: 0.0,
            weight: 20.0,
        };
        assert!(bad.check().unwrap_err().contains("prior 0"));
        let vanishing = Expr::SmoothedLogRatio {
            hits: "hits".into(),
            expected: "expected".into(),
            prior: 1e-200,
            weight: 1e-200,
        };
        assert!(vanishing.check().is_err());
        assert_eq!(
            e.inputs(),
            [
                ("hits", InputKind::Numeric),
                ("expected", InputKind::Numeric)
            ]
        );
    }

    #[test]
    fn the_hour_of_day_is_a_point_on_the_daily_circle() {
        let mut frame = Frame::new(4);
        frame.insert("hour", Column::Num(vec![0.0, 6.0, 23.0, 12.0]));
        let sin = |period| Expr::Sin {
            column: "hour".into(),
            period,
        };
        let cos = |period| Expr::Cos {
            column: "hour".into(),
            period,
        };
        let (s24, c24) = (
            sin(24.0).eval(&frame).unwrap(),
            cos(24.0).eval(&frame).unwrap(),
        );
        // Midnight and 06:00 a quarter turn apart; 23:00 next to midnight.
        assert_eq!((s24[0], c24[0]), (0.0, 1.0));
        assert!((s24[1] - 1.0).abs() < 1e-15 && c24[1].abs() < 1e-15);
        let gap =
            |i: usize, j: usize| ((s24[i] - s24[j]).powi(2) + (c24[i] - c24[j]).powi(2)).sqrt();
        assert!(gap(0, 2) < gap(0, 1) && gap(0, 2) < 0.27, "{s24:?} {c24:?}");
        // The second harmonic puts noon on midnight.
        let c12 = cos(12.0).eval(&frame).unwrap();
        assert!((c12[3] - 1.0).abs() < 1e-15);
        assert!(sin(0.0).check().unwrap_err().contains("period 0"));
        assert!(sin(1e-310).check().is_err());
        assert_eq!(sin(24.0).inputs(), [("hour", InputKind::Numeric)]);
    }

    #[test]
    fn derived_names_that_repeat_a_real_one_are_made_unique() {
        // A real level "other" (kept: frequent enough) next to the pooled rare levels, and
        // a column of the file really called "x_missing" beside x's missing indicator.
        let mut levels: Vec<String> = ["core", "other", "web"].map(String::from).to_vec();
        levels.extend((0..30).map(|k| format!("rare{k}")));
        let mut codes: Vec<u32> = (0..3000).map(|i| (i % 3) as u32).collect();
        codes.extend(3..33);
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        categorical_features("team", &codes, &levels, &mut out, &mut warnings);
        let values: Vec<f64> = (0..100)
            .map(|i| if i % 9 == 0 { f64::NAN } else { i as f64 })
            .collect();
        numeric_features("x", &values, 0, &mut out, &mut warnings);
        numeric_features("x_missing", &values[1..], 0, &mut out, &mut warnings);
        let before: Vec<String> = out.iter().map(|f| f.name.clone()).collect();
        assert!(
            before.iter().filter(|n| *n == "team=other").count() == 2,
            "{before:?}"
        );
        unique_names(&mut out);
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        assert!(
            names.contains(&"team=other (2)") && names.contains(&"x_missing (2)"),
            "{names:?}"
        );
    }

    #[test]
    fn a_few_negative_values_keep_a_skewed_column_log_transformed() {
        // A skewed count (as lines added are) with one -1 sentinel in 200 rows.
        let mut skewed: Vec<f64> = (0..200)
            .map(|i| (f64::from(i * i % 97) / 10.0).exp().floor())
            .collect();
        skewed[7] = -1.0;
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        numeric_features("la", &skewed, 0, &mut out, &mut warnings);
        assert!(matches!(out[0].expr, Expr::Log1p { .. }), "{out:?}");
        assert!(
            warnings[0].contains("1 negative value(s)") && warnings[0].contains("read as 0"),
            "{warnings:?}"
        );
        // Many negative values: a signed quantity, kept as it is, without a warning.
        let signed: Vec<f64> = skewed
            .iter()
            .enumerate()
            .map(|(i, v)| if i % 10 == 0 { -v - 1.0 } else { *v })
            .collect();
        let (mut out, mut warnings) = (Vec::new(), Vec::new());
        numeric_features("delta", &signed, 0, &mut out, &mut warnings);
        assert!(matches!(out[0].expr, Expr::Value { .. }), "{out:?}");
        assert!(warnings.is_empty(), "{warnings:?}");
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
