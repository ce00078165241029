//! The starter notebook written next to an export (nbformat 4.5, python3 kernel): it
//! loads the tables with polars and plots, with matplotlib, risk by segment, the
//! calibration and gating curves, the riskiest changes with their reasons and feature
//! importance.

use serde_json::{json, Value};

use super::{ExportFormat, TABLES};

/// One cell: `kind` is `markdown` or `code`; ids are stable so that regenerating the
/// notebook gives the same file.
fn cell(index: usize, kind: &str, source: &str) -> Value {
    let lines: Vec<String> = source
        .trim_matches('\n')
        .split_inclusive('\n')
        .map(String::from)
        .collect();
    let mut cell = json!({
        "cell_type": kind,
        "id": format!("changerisk-{index:02}"),
        "metadata": {},
        "source": lines,
    });
    if kind == "code" {
        cell["execution_count"] = Value::Null;
        cell["outputs"] = json!([]);
    }
    cell
}

/// The Python expression that reads table `name` in `format`.
fn reader(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Parquet => "pl.read_parquet(DATA / f\"{name}.parquet\")",
        ExportFormat::Arrow => "pl.read_ipc(DATA / f\"{name}.arrow\", memory_map=False)",
        ExportFormat::Csv => "pl.read_csv(DATA / f\"{name}.csv\", try_parse_dates=True)",
    }
}

const INTRO: &str = r##"
# changerisk export: starter analysis

Every change of the history, scored by the model, with its label (`label`, and
`label_source`: explicit / attributed / none), `risk`, `tier`, violated `policy` ids,
`reasons`, the model's feature values (`feature_*`) and each feature's contribution to
the logit (`contrib_*`: the logistic part's coefficient x standardised value plus the
trees' TreeSHAP values; with `intercept`, the model's base value, they add up to `logit`).

Side tables: `coefficients` (the logistic part's coefficients, null for a trees-only
model, and importances), `calibration` (reliability
bins over this history), `metrics` (scope `history`: measured on this history, in-sample
if the model was trained on it; scope `validation`: the training run's out-of-time
validation), `gating` (share of incident-causing changes caught vs share gated) and
`segments` (risk by AI involvement x permission x review).
"##;

const SEGMENTS: &str = r##"
by_segment = (
    changes.group_by(["ai_involvement", "permission_level", "review_status"])
    .agg(
        pl.len().alias("changes"),
        pl.col("label").sum().alias("positives"),
        pl.col("risk").mean().alias("mean_risk"),
        pl.col("risk").quantile(0.5).alias("median_risk"),
        pl.col("risk").quantile(0.9).alias("p90_risk"),
        pl.col("label").mean().alias("observed_rate"),
    )
    .with_columns(
        (pl.col("ai_involvement") + " / " + pl.col("permission_level") + " / " + pl.col("review_status")).alias("segment")
    )
    .sort("mean_risk")
)
fig, ax = plt.subplots(figsize=(9, max(3.0, 0.28 * by_segment.height)))
ax.barh(by_segment["segment"].to_list(), by_segment["mean_risk"].to_numpy(), color="#4c72b0", label="mean predicted risk")
ax.scatter(by_segment["p90_risk"].to_numpy(), by_segment["segment"].to_list(), color="#dd8452", marker="|", s=120, label="90th percentile risk")
ax.scatter(by_segment["observed_rate"].to_numpy(), by_segment["segment"].to_list(), color="black", marker="x", label="observed incident rate")
ax.set_xlabel("risk (probability of causing an incident)")
ax.set_title("Risk by AI involvement / permission / review")
ax.legend(loc="lower right")
plt.tight_layout()
plt.show()
by_segment.sort("mean_risk", descending=True).drop("segment")
"##;

const NO_SEGMENTS: &str = r##"
print("This history has no ai_involvement / permission_level / review_status columns (a feature config without the built-in features), so there are no segments.")
"##;

const CALIBRATION: &str = r##"
cal = calibration.filter(pl.col("count") > 0)
top = max(cal["mean_predicted"].max(), cal["observed_rate"].max()) * 1.1
fig, ax = plt.subplots(figsize=(5, 5))
ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfectly calibrated")
ax.plot(cal["mean_predicted"].to_numpy(), cal["observed_rate"].to_numpy(), marker="o", label="model")
ax.set_xlim(0, top)
ax.set_ylim(0, top)
ax.set_xlabel("mean predicted risk (bin)")
ax.set_ylabel("observed incident rate")
ax.set_title("Calibration")
ax.legend()
plt.show()
calibration
"##;

const GATING: &str = r##"
fig, ax = plt.subplots(figsize=(6, 4.5))
if gating.height > 0:
    ax.plot(gating["gated_share"].to_numpy(), gating["caught_share"].to_numpy(), label="gate the riskiest changes")
ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="gate at random")
ax.set_xlabel("share of changes gated")
ax.set_ylabel("share of incident-causing changes caught")
ax.set_title("Gating curve")
ax.legend()
plt.show()
gating.filter(pl.col("gated_share").is_in([0.05, 0.1, 0.2, 0.5]))
"##;

const RISKIEST: &str = r##"
riskiest = (
    changes.sort("risk", descending=True)
    .head(20)
    .select("change_id", "timestamp", "risk", "tier", "label", "policy", "reasons")
)
with pl.Config(fmt_str_lengths=200, tbl_width_chars=250, tbl_rows=20):
    print(riskiest)
"##;

const IMPORTANCE: &str = r##"
top = coefficients.sort("mean_abs_contribution", descending=True).head(20).reverse()
fig, ax = plt.subplots(figsize=(8, max(3.0, 0.3 * top.height)))
colors = ["#c44e52" if up else "#55a868" for up in top["raises_risk"].to_list()]
ax.barh(top["feature"].to_list(), top["mean_abs_contribution"].to_numpy(), color=colors)
ax.set_xlabel("mean |contribution to the logit| over the history")
ax.set_title("Feature importance (red: higher values raise risk, green: lower it)")
plt.tight_layout()
plt.show()
coefficients
"##;

const CHECKS: &str = r##"
contrib = [c for c in changes.columns if c.startswith("contrib_")]
gap = changes.select((pl.sum_horizontal(contrib) + pl.col("intercept") - pl.col("logit")).abs().max()).item()
assert gap < 1e-9, f"contributions do not add up to the logit (largest gap {gap})"
print(f"contributions + intercept = logit for every change (largest gap {gap:.2e})")
with pl.Config(tbl_rows=30):
    print(metrics)
"##;

/// The notebook for an export in `format`; `segments` says whether the history has
/// the AI involvement, permission and review columns.
pub fn render(format: ExportFormat, segments: bool) -> String {
    let load = format!(
        "from pathlib import Path\n\
         \n\
         import matplotlib.pyplot as plt\n\
         import polars as pl\n\
         \n\
         # The export's directory (Jupyter runs a notebook in its own directory).\n\
         DATA = Path(\".\")\n\
         \n\
         \n\
         def load(name):\n    return {}\n\
         \n\
         \n\
         {}\n\
         print(f\"{{changes.height}} changes, {{changes['label'].sum()}} labelled incident-causing\")\n\
         changes.head()\n",
        reader(format),
        TABLES
            .iter()
            .map(|t| format!("{t} = load(\"{t}\")"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let sections: Vec<(&str, &str)> = vec![
        ("markdown", INTRO),
        ("code", &load),
        (
            "markdown",
            "## Risk by AI involvement x permission x review\n\nMean and 90th percentile predicted risk per segment, with the observed incident rate.",
        ),
        ("code", if segments { SEGMENTS } else { NO_SEGMENTS }),
        ("markdown", "## Calibration\n\nPredicted risk against the observed incident rate, per risk bin."),
        ("code", CALIBRATION),
        ("markdown", "## Gating curve\n\nGating the riskiest changes first: how many incident-causing changes it catches."),
        ("code", GATING),
        ("markdown", "## The riskiest changes and why"),
        ("code", RISKIEST),
        ("markdown", "## Feature importance"),
        ("code", IMPORTANCE),
        ("markdown", "## Checks and metrics"),
        ("code", CHECKS),
    ];
    let cells: Vec<Value> = sections
        .iter()
        .enumerate()
        .map(|(i, (kind, source))| cell(i + 1, kind, source))
        .collect();
    let notebook = json!({
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3"
            },
            "language_info": {"name": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5
    });
    let mut text = serde_json::to_string_pretty(&notebook).expect("a JSON value serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_is_nbformat_4_5_with_valid_ids() {
        let nb: Value = serde_json::from_str(&render(ExportFormat::Parquet, true)).unwrap();
        assert_eq!(nb["nbformat"], 4);
        assert_eq!(nb["nbformat_minor"], 5);
        assert_eq!(nb["metadata"]["kernelspec"]["name"], "python3");
        let cells = nb["cells"].as_array().unwrap();
        let mut ids: Vec<&str> = cells.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(ids.iter().all(|id| (1..=64).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')));
        ids.dedup();
        assert_eq!(ids.len(), cells.len());
    }
}
