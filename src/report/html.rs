//! The report page: one HTML file with its stylesheet inline, no script and nothing to
//! fetch (a Content-Security-Policy forbids it), laid out for a wide screen, a phone and
//! print. Every string from the data passes through [`escape`].

use std::fmt::Write;

use super::svg::{self, percent_label, Bar, Cell, LineChart, Series};
use super::{Curves, Report, RiskyChange, RECENT_DAYS};
use crate::analysis::Segment;
use crate::metrics::Metrics;

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The ids of the charts, in page order (the acceptance test looks for each).
pub const CHART_IDS: [&str; 5] = [ROC, CALIBRATION, GATING, SEGMENTS, FACTORS];
const ROC: &str = "roc-chart";
const CALIBRATION: &str = "calibration-chart";
const GATING: &str = "gating-chart";
const SEGMENTS: &str = "segment-chart";
const FACTORS: &str = "factor-chart";

const STYLE: &str = r#"
:root { --ink: #1c2330; --muted: #5b6473; --line: #dde1e6; --model: #1f5fa8; --rule: #c2410c; --bg: #ffffff; --card: #f6f7f9; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header, main, footer { max-width: 1100px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 24px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 0 0 4px; }
p { margin: 6px 0 10px; }
.muted, figcaption, .note { color: var(--muted); font-size: 0.92rem; }
code { font-size: 0.9em; overflow-wrap: anywhere; }
.sources { margin: 4px 0 0; padding: 0; list-style: none; color: var(--muted); font-size: 0.92rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(165px, 1fr)); gap: 12px; margin: 12px 0; }
.card { background: var(--card); border-radius: 8px; padding: 12px 14px; }
.card .label { font-size: 0.85rem; color: var(--muted); }
.card .value { font-size: 1.6rem; font-weight: 650; color: var(--model); }
.card .versus { font-size: 0.85rem; color: var(--rule); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(400px, 1fr)); gap: 28px 32px; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figure svg { display: block; width: 100%; height: auto; max-width: 620px; }
.wide svg { max-width: 680px; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; }
tbody th { font-weight: 400; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); font-size: 0.92rem; }
.tier { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 0.85rem; font-weight: 600; }
.tier-low { background: #e8f1e9; } .tier-medium { background: #fff3c4; } .tier-high { background: #fcd9bd; } .tier-critical { background: #991b1e; color: #ffffff; }
.caused { font-weight: 600; color: #991b1e; }
table.cards-on-phone code { white-space: nowrap; }
td.reasons { min-width: 15em; }
td.policy { font-size: 0.85rem; white-space: nowrap; }
@media (max-width: 640px) {
  body { font-size: 15px; }
  header, main, footer { padding: 0 12px; }
  h1 { font-size: 1.4rem; }
  .charts { grid-template-columns: 1fr; }
  table.cards-on-phone thead { display: none; }
  table.cards-on-phone, table.cards-on-phone tbody, table.cards-on-phone tr, table.cards-on-phone td { display: block; width: 100%; }
  table.cards-on-phone tr { border: 1px solid var(--line); border-radius: 8px; margin: 0 0 10px; padding: 6px 10px; }
  table.cards-on-phone td { border: none; padding: 2px 0; text-align: left; min-width: 0; white-space: normal; }
  table.cards-on-phone td::before { content: attr(data-label) ": "; color: var(--muted); font-size: 0.85rem; }
}
@media print {
  @page { margin: 14mm; }
  body { font-size: 10.5pt; }
  header, main, footer { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .charts { grid-template-columns: 1fr 1fr; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  details > summary { display: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

fn fmt_metric(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

fn fmt_share(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v))
}

/// The date of an RFC 3339 timestamp (`2025-03-01T14:05:00Z` -> `2025-03-01`).
fn day(timestamp: &str) -> &str {
    timestamp.get(..10).unwrap_or(timestamp)
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders the whole page.
pub fn page(r: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
        "<title>Change risk report</title>\n<style>"
    ));
    out.push_str(STYLE);
    out.push_str("</style>\n</head>\n<body>\n");
    header(&mut out, r);
    out.push_str("<main>\n");
    headline(&mut out, r);
    curves(&mut out, r);
    segments(&mut out, &r.segments);
    factors(&mut out, r);
    riskiest(&mut out, r);
    out.push_str("</main>\n<footer>\n<p class=\"note\">Generated by changerisk ");
    out.push_str(env!("CARGO_PKG_VERSION"));
    out.push_str(". Risks are calibrated probabilities that a change causes an incident. This page loads nothing from the network and runs no script.</p>\n</footer>\n</body>\n</html>\n");
    out
}

fn header(out: &mut String, r: &Report) {
    let h = &r.history;
    let _ = write!(
        out,
        "<header>\n<h1>Change risk report</h1>\n<p>{} changes from {} to {}, {} of them caused an incident ({:.1}%).</p>\n<ul class=\"sources\">\n<li>Model: <code>{}</code></li>\n<li>Changes: <code>{}</code></li>\n",
        thousands(h.changes),
        escape(day(&h.time_from)),
        escape(day(&h.time_to)),
        thousands(h.positives),
        100.0 * h.positives as f64 / h.changes.max(1) as f64,
        escape(&r.model_file),
        escape(&r.changes_file),
    );
    if let Some(incidents) = &r.incidents_file {
        let _ = writeln!(
            out,
            "<li>Incidents: <code>{}</code></li>",
            escape(incidents)
        );
    }
    let _ = write!(out, "<li>{}</li>\n</ul>\n</header>\n", escape(&h.labels));
}

fn headline(out: &mut String, r: &Report) {
    let e = &r.evaluation;
    let rule = e.rule_baseline.as_ref().map(|b| &b.metrics);
    let _ = write!(
        out,
        "<section aria-labelledby=\"headline\">\n<h2 id=\"headline\">Headline metrics</h2>\n<p class=\"note\">Measured time-ordered, as <code>changerisk evaluate</code> does: a model with the given model's settings trained on the first {} changes ({} to {}) and tested on the {} most recent ({} to {}), which it never saw. {}</p>\n<div class=\"cards\">\n",
        thousands(e.train_rows),
        escape(day(&e.train_from)),
        escape(day(&e.test_from)),
        thousands(e.test_rows),
        escape(day(&e.test_from)),
        escape(day(&e.test_to)),
        if rule.is_some() {
            "The rule-only baseline flags every AI-made or AI-assisted change applied with elevated or admin permission without an independent approving review."
        } else {
            "No rule-only baseline: the history does not use the contract's columns."
        }
    );
    let m = &e.model;
    let cards: [(&str, String, Option<String>); 5] = [
        (
            "ROC-AUC",
            fmt_metric(m.roc_auc),
            rule.map(|b| fmt_metric(b.roc_auc)),
        ),
        (
            "PR-AUC",
            fmt_metric(m.pr_auc),
            rule.map(|b| fmt_metric(b.pr_auc)),
        ),
        (
            "Caught gating the riskiest 10%",
            fmt_share(m.capture_10),
            rule.map(|b| fmt_share(b.capture_10)),
        ),
        (
            "Brier score (lower is better)",
            fmt_metric(Some(m.brier)),
            rule.map(|b| fmt_metric(Some(b.brier))),
        ),
        (
            "Calibration error (lower is better)",
            fmt_metric(Some(m.ece)),
            rule.map(|b| fmt_metric(Some(b.ece))),
        ),
    ];
    for (label, value, versus) in cards {
        let _ = writeln!(
            out,
            "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{value}</div>{}</div>",
            versus.map_or(String::new(), |v| format!(
                "<div class=\"versus\">rule baseline {v}</div>"
            ))
        );
    }
    out.push_str("</div>\n");
    metrics_table(out, m, rule);
    out.push_str("</section>\n");
}

/// A metrics table row: its name and how to show it from a set of metrics.
type MetricRow = (&'static str, fn(&Metrics) -> String);

fn metrics_table(out: &mut String, m: &Metrics, rule: Option<&Metrics>) {
    let rows: [MetricRow; 10] = [
        ("incident-causing changes in the test period", |m| {
            thousands(m.positives)
        }),
        ("ROC-AUC", |m| fmt_metric(m.roc_auc)),
        ("PR-AUC (average precision)", |m| fmt_metric(m.pr_auc)),
        ("Brier score", |m| format!("{:.4}", m.brier)),
        ("log loss", |m| format!("{:.4}", m.log_loss)),
        ("expected calibration error", |m| format!("{:.4}", m.ece)),
        ("mean risk / observed rate", |m| {
            format!(
                "{} / {}",
                fmt_share(Some(m.mean_risk)),
                fmt_share(Some(m.observed_rate))
            )
        }),
        ("caught gating the riskiest 5%", |m| fmt_share(m.capture_5)),
        ("caught gating the riskiest 10%", |m| {
            fmt_share(m.capture_10)
        }),
        ("caught gating the riskiest 20%", |m| {
            fmt_share(m.capture_20)
        }),
    ];
    out.push_str("<div class=\"scroll\"><table>\n<caption class=\"muted\">Test period metrics</caption>\n<thead><tr><th scope=\"col\">metric</th><th scope=\"col\" class=\"num\">model</th>");
    if rule.is_some() {
        out.push_str("<th scope=\"col\" class=\"num\">rule baseline</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (name, value) in rows {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{name}</th><td class=\"num\">{}</td>",
            value(m)
        );
        if let Some(b) = rule {
            let _ = write!(out, "<td class=\"num\">{}</td>", value(b));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n");
}

fn gating_series(c: &Curves) -> Vec<(f64, f64)> {
    c.gating
        .iter()
        .map(|p| (p.gated_share, p.caught_share))
        .collect()
}

fn curves(out: &mut String, r: &Report) {
    out.push_str("<section aria-labelledby=\"quality\">\n<h2 id=\"quality\">How well the score ranks and how well it is calibrated</h2>\n<div class=\"charts\">\n");
    let rule = r.rule_curves.as_ref();
    let auc = |c: &Curves| fmt_metric(c.roc_auc);

    // ROC: the evaluation's test period (trained on the past, scored on the future).
    let mut series = vec![Series {
        name: "model",
        points: &r.model_curves.roc,
        colour: svg::MODEL_COLOUR,
        dashed: false,
        markers: false,
    }];
    if let Some(c) = rule {
        series.push(Series {
            name: "rule baseline",
            points: &c.roc,
            colour: svg::BASELINE_COLOUR,
            dashed: true,
            markers: false,
        });
    }
    let desc = format!(
        "ROC curve of the model's risk in the test period (out of sample): area under the curve {}{}.",
        auc(&r.model_curves),
        rule.map_or(String::new(), |c| format!(
            "; the rule-only baseline's area is {}",
            auc(c)
        ))
    );
    figure(
        out,
        &svg::line_chart(&LineChart {
            id: ROC,
            title: "ROC curve",
            desc: &desc,
            x_label: "false positive rate",
            y_label: "true positive rate",
            x_max: 1.0,
            y_max: 1.0,
            diagonal: Some("chance"),
            series,
        }),
        "ROC curve",
        &format!("{desc} Out of sample: a model trained like the given one on the older changes, scoring the test period."),
        None,
    );

    // Calibration: the evaluation's reliability bins (test period).
    let bins: Vec<(f64, f64)> = r
        .evaluation
        .reliability
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.mean_predicted, b.observed_rate))
        .collect();
    let top = bins
        .iter()
        .fold(0.1f64, |m, &(p, o)| m.max(p).max(o))
        .min(1.0);
    let top = ((top * 10.0).ceil() / 10.0).min(1.0);
    let desc = format!(
        "Calibration on the test period: predicted risk against the observed incident rate in {} bins of predicted risk; expected calibration error {:.3}.",
        bins.len(),
        r.evaluation.model.ece
    );
    let mut table = String::from("<table><thead><tr><th scope=\"col\">predicted</th><th scope=\"col\" class=\"num\">changes</th><th scope=\"col\" class=\"num\">mean risk</th><th scope=\"col\" class=\"num\">observed</th></tr></thead><tbody>");
    for b in r.evaluation.reliability.iter().filter(|b| b.count > 0) {
        let _ = write!(
            table,
            "<tr><td>{}-{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td><td class=\"num\">{:.2}%</td></tr>",
            percent_label(b.lower),
            percent_label(b.upper),
            thousands(b.count),
            100.0 * b.mean_predicted,
            100.0 * b.observed_rate
        );
    }
    table.push_str("</tbody></table>");
    figure(
        out,
        &svg::line_chart(&LineChart {
            id: CALIBRATION,
            title: "Calibration curve",
            desc: &desc,
            x_label: "predicted risk",
            y_label: "observed incident rate",
            x_max: top,
            y_max: top,
            diagonal: Some("perfect calibration"),
            series: vec![Series {
                name: "model (test period)",
                points: &bins,
                colour: svg::MODEL_COLOUR,
                dashed: false,
                markers: true,
            }],
        }),
        "Calibration curve",
        &format!("{desc} Points on the diagonal mean a predicted 10% comes true 10% of the time."),
        Some(&table),
    );

    // Gating: the model beside the rule-only baseline.
    let model_gating = gating_series(&r.model_curves);
    let rule_gating = rule.map(gating_series);
    let mut series = vec![Series {
        name: "model",
        points: &model_gating,
        colour: svg::MODEL_COLOUR,
        dashed: false,
        markers: false,
    }];
    if let Some(points) = &rule_gating {
        series.push(Series {
            name: "rule baseline",
            points,
            colour: svg::BASELINE_COLOUR,
            dashed: true,
            markers: false,
        });
    }
    let at = |c: &Curves, share: f64| {
        c.gating
            .iter()
            .find(|p| (p.gated_share - share).abs() < 1e-9)
            .map(|p| p.caught_share)
    };
    let desc = format!(
        "Gating curve in the test period (out of sample): gating the riskiest 10% of changes catches {} of incident-causing changes{}.",
        fmt_share(at(&r.model_curves, 0.1)),
        rule.map_or(String::new(), |c| format!(
            " (rule-only baseline: {})",
            fmt_share(at(c, 0.1))
        ))
    );
    let mut table = String::from("<table><thead><tr><th scope=\"col\">changes gated</th><th scope=\"col\" class=\"num\">caught by the model</th>");
    if rule.is_some() {
        table.push_str("<th scope=\"col\" class=\"num\">caught by the rule</th>");
    }
    table.push_str("</tr></thead><tbody>");
    for share in [0.05, 0.1, 0.2, 0.3, 0.5] {
        let _ = write!(
            table,
            "<tr><td>riskiest {}</td><td class=\"num\">{}</td>",
            percent_label(share),
            fmt_share(at(&r.model_curves, share))
        );
        if let Some(c) = rule {
            let _ = write!(table, "<td class=\"num\">{}</td>", fmt_share(at(c, share)));
        }
        table.push_str("</tr>");
    }
    table.push_str("</tbody></table>");
    figure(
        out,
        &svg::line_chart(&LineChart {
            id: GATING,
            title: "Gating curve",
            desc: &desc,
            x_label: "share of changes gated (riskiest first)",
            y_label: "incident-causing changes caught",
            x_max: 1.0,
            y_max: 1.0,
            diagonal: Some("random gating"),
            series,
        }),
        "Gating curve",
        &if rule.is_some() {
            format!("{desc} The rule can only gate the changes it flags; past them its curve is random.")
        } else {
            desc.clone()
        },
        Some(&table),
    );
    out.push_str("</div>\n</section>\n");
}

/// A figure: the chart, a caption and, optionally, its data as a table.
fn figure(out: &mut String, svg: &str, heading: &str, caption: &str, table: Option<&str>) {
    let _ = write!(
        out,
        "<figure>\n<h3>{}</h3>\n{svg}\n<figcaption>{}</figcaption>\n",
        escape(heading),
        escape(caption)
    );
    if let Some(table) = table {
        let _ = writeln!(
            out,
            "<details><summary>Data</summary><div class=\"scroll\">{table}</div></details>"
        );
    }
    out.push_str("</figure>\n");
}

/// Levels in the contract's order, then any others in order of appearance.
fn ordered_levels<'a>(values: impl Iterator<Item = &'a str>, contract: &[&str]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for v in values {
        if !seen.iter().any(|s| s == v) {
            seen.push(v.to_string());
        }
    }
    let mut out: Vec<String> = contract
        .iter()
        .filter(|c| seen.iter().any(|s| s == *c))
        .map(|c| c.to_string())
        .collect();
    out.extend(seen.into_iter().filter(|s| !contract.contains(&s.as_str())));
    out
}

fn segments(out: &mut String, segments: &[Segment]) {
    out.push_str("<section aria-labelledby=\"segments\">\n<h2 id=\"segments\">Risk by AI involvement, permission and review</h2>\n");
    if segments.is_empty() {
        out.push_str("<p class=\"note\">Not available: the history does not have the ai_involvement, permission_level and review_status columns.</p>\n</section>\n");
        return;
    }
    let ai = ordered_levels(
        segments.iter().map(|s| s.ai_involvement.as_str()),
        &["none", "assisted", "agent"],
    );
    let permission = ordered_levels(
        segments.iter().map(|s| s.permission_level.as_str()),
        &["standard", "elevated", "admin"],
    );
    let review = ordered_levels(
        segments.iter().map(|s| s.review_status.as_str()),
        &["approved", "self_approved", "bypassed", "none"],
    );
    let max_risk = segments.iter().map(|s| s.mean_risk).fold(0.0, f64::max);
    let mut rows = Vec::new();
    let mut cells = Vec::new();
    for a in &ai {
        for p in &permission {
            rows.push(format!("{a} · {p}"));
            for v in &review {
                let found = segments.iter().find(|s| {
                    &s.ai_involvement == a && &s.permission_level == p && &s.review_status == v
                });
                cells.push(match found {
                    Some(s) => Cell {
                        value: Some(s.mean_risk / max_risk.max(1e-12)),
                        line1: format!("{:.1}%", 100.0 * s.mean_risk),
                        line2: format!("{}/{} caused", s.positives, s.changes),
                    },
                    None => Cell {
                        value: None,
                        line1: "none".into(),
                        line2: String::new(),
                    },
                });
            }
        }
    }
    let riskiest = segments
        .iter()
        .max_by(|a, b| a.mean_risk.total_cmp(&b.mean_risk))
        .expect("segments is not empty");
    let desc = format!(
        "Mean predicted risk of the history's changes for each combination of AI involvement, permission level (rows) and review status (columns). The riskiest segment is AI {} with {} permission and review {}: mean risk {:.1}%, {} of {} changes caused an incident.",
        riskiest.ai_involvement,
        riskiest.permission_level,
        riskiest.review_status,
        100.0 * riskiest.mean_risk,
        riskiest.positives,
        riskiest.changes
    );
    let columns = review;
    let mut table = String::from("<table><thead><tr><th scope=\"col\">AI involvement</th><th scope=\"col\">permission</th><th scope=\"col\">review</th><th scope=\"col\" class=\"num\">changes</th><th scope=\"col\" class=\"num\">caused an incident</th><th scope=\"col\" class=\"num\">observed rate</th><th scope=\"col\" class=\"num\">mean risk</th></tr></thead><tbody>");
    for s in segments {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{:.1}%</td></tr>",
            escape(&s.ai_involvement),
            escape(&s.permission_level),
            escape(&s.review_status),
            thousands(s.changes),
            thousands(s.positives),
            100.0 * s.positives as f64 / s.changes.max(1) as f64,
            100.0 * s.mean_risk
        );
    }
    table.push_str("</tbody></table>");
    out.push_str("<div class=\"wide\">\n");
    figure(
        out,
        &svg::heat_map(
            SEGMENTS,
            "Risk by segment",
            &desc,
            ("AI involvement · permission", "review status"),
            &rows,
            &columns,
            &cells,
        ),
        "Mean risk per segment",
        &format!("{desc} Darker is riskier; each cell also shows how many of its changes caused an incident."),
        Some(&table),
    );
    out.push_str("</div>\n</section>\n");
}

/// How many features the factor chart shows.
const TOP_FACTORS: usize = 12;

fn factors(out: &mut String, r: &Report) {
    out.push_str("<section aria-labelledby=\"factors\">\n<h2 id=\"factors\">Top factors</h2>\n");
    let top: Vec<_> = r.importance.iter().take(TOP_FACTORS).collect();
    let bars: Vec<Bar> = top
        .iter()
        .map(|f| Bar {
            label: f.feature.clone(),
            value: f.mean_abs_contribution,
            text: format!("{:.3}", f.mean_abs_contribution),
            raises_risk: f.raises_risk,
        })
        .collect();
    let desc = format!(
        "The {} features that move the model's scores the most, by mean absolute contribution to the log-odds over the history; orange bars raise risk as the feature grows, blue bars lower it.{}",
        top.len(),
        top.first().map_or(String::new(), |f| format!(
            " The strongest is {} (factor {}).",
            f.feature, f.factor
        ))
    );
    let mut table = String::from("<table><thead><tr><th scope=\"col\">feature</th><th scope=\"col\">factor</th><th scope=\"col\" class=\"num\">coefficient (standardised)</th><th scope=\"col\" class=\"num\">mean |contribution|</th></tr></thead><tbody>");
    for f in &r.importance {
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.4}</td></tr>",
            escape(&f.feature),
            escape(&f.factor),
            f.coefficient
                .map_or("—".to_string(), |c| format!("{c:+.3}")),
            f.mean_abs_contribution
        );
    }
    table.push_str("</tbody></table>");
    out.push_str("<div class=\"wide\">\n");
    figure(
        out,
        &svg::bar_chart(FACTORS, "Top factors", &desc, &bars),
        "Feature importance",
        &desc,
        Some(&table),
    );
    out.push_str("</div>\n</section>\n");
}

fn riskiest(out: &mut String, r: &Report) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"riskiest\">\n<h2 id=\"riskiest\">Riskiest recent changes</h2>\n<p class=\"note\">The {} riskiest changes of the last {RECENT_DAYS} days of the history, scored by the given model, with the factors that raise each one's risk the most.</p>\n",
        r.riskiest.len()
    );
    // A history without service or the contract's AI, permission and review columns
    // leaves those cells empty: drop the columns.
    let has_service = r.riskiest.iter().any(|c| !c.service.is_empty());
    let facts_of = |c: &RiskyChange| {
        [&c.ai_involvement, &c.permission_level, &c.review_status]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| escape(s))
            .collect::<Vec<_>>()
            .join(" · ")
    };
    let has_facts = r.riskiest.iter().any(|c| !facts_of(c).is_empty());
    out.push_str("<div class=\"scroll\"><table class=\"cards-on-phone\">\n<thead><tr><th scope=\"col\">change</th><th scope=\"col\">when (UTC)</th>");
    if has_service {
        out.push_str("<th scope=\"col\">service</th>");
    }
    if has_facts {
        out.push_str("<th scope=\"col\">AI · permission · review</th>");
    }
    out.push_str("<th scope=\"col\" class=\"num\">risk</th><th scope=\"col\">tier</th><th scope=\"col\">reasons</th><th scope=\"col\">policy</th><th scope=\"col\">caused an incident</th></tr></thead>\n<tbody>\n");
    for c in &r.riskiest {
        let _ = write!(
            out,
            "<tr><td data-label=\"change\"><code>{}</code></td><td data-label=\"when\" class=\"when\">{} {}</td>",
            escape(&c.id),
            escape(day(&c.timestamp)),
            escape(c.timestamp.get(11..16).unwrap_or_default()),
        );
        if has_service {
            let _ = write!(
                out,
                "<td data-label=\"service\">{}</td>",
                escape(&c.service)
            );
        }
        if has_facts {
            let _ = write!(
                out,
                "<td data-label=\"AI · permission · review\">{}</td>",
                facts_of(c)
            );
        }
        let _ = writeln!(
            out,
            "<td data-label=\"risk\" class=\"num\">{:.1}%</td><td data-label=\"tier\"><span class=\"tier tier-{}\">{}</span></td><td data-label=\"reasons\" class=\"reasons\">{}</td><td data-label=\"policy\" class=\"policy\">{}</td><td data-label=\"caused an incident\">{}</td></tr>",
            100.0 * c.risk,
            c.tier,
            c.tier,
            escape(&c.reasons),
            c.policy
                .split(';')
                .map(escape)
                .collect::<Vec<_>>()
                .join("<br>"),
            if c.caused_incident {
                "<span class=\"caused\">yes</span>"
            } else {
                "no"
            }
        );
    }
    out.push_str("</tbody></table></div>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn levels_follow_the_contract_then_appearance() {
        let levels = ordered_levels(
            ["agent", "zeta", "none", "agent"].into_iter(),
            &["none", "assisted", "agent"],
        );
        assert_eq!(levels, ["none", "agent", "zeta"]);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(15_000), "15,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
