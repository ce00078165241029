#!/usr/bin/env python3
"""Model quality of changerisk on synthetic histories, against scikit-learn, LightGBM and
the generating process's own probabilities (issue 2 "Acceptance", issue 4 third bullet).

    quality.py --bin changerisk [--seeds 11,12] [--changes 200000] [--days D] [--workdir DIR]
               [--json OUT]

Per seed:
  1. `changerisk generate --changes N --new-changes 0 --seed S --truth` into DIR/seed-S;
  2. changes.csv split by time (stable sort by timestamp): the first 80% -> past.csv, the
     last 20% -> future.csv;
  3. `changerisk train` on past.csv (with the full incidents file) and `changerisk score` of
     future.csv with past.csv as --history and the full incidents file;
  4. labels of every change by SPEC.md's rule ("Labels"), computed here independently:
     an incident naming `caused_by_change` labels each named (known) change, else it is
     attributed to the most recent change on its service with timestamp <= its start and
     start - timestamp <= 24h (ties: the greatest change_id); every severity. Checked
     against the "labels: N of M" line `changerisk train` prints for the whole file;
  5. baselines trained on past.csv with its labels and the same raw columns (the
     contract's columns but change_id and timestamp; no history features):
     scikit-learn LogisticRegression (one-hot categoricals, standardised numeric and
     boolean columns, default C, max_iter 2000) and LightGBM (default parameters, 200
     trees, categoricals as the pandas category dtype); the oracle is truth.csv's
     `true_risk`;
  6. ROC-AUC, Brier score and ECE (10 equal-width bins, count-weighted |mean p - observed
     rate|) on future.csv against its labels, and the gaps.

Also printed (not part of the acceptance figures): the baselines on two other readings of
"the same raw columns": without the service and author identities, and with the hour of
day and weekday added (both derived from the timestamp), so that the acceptance margin
can be judged against the strongest of them.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ATTRIBUTION_WINDOW = 24 * 3600
TEST_FRACTION = 0.2
BINS = 10

CATEGORICAL = [
    "service",
    "author",
    "ai_involvement",
    "ai_tool",
    "permission_level",
    "review_status",
    "change_type",
]
NUMERIC = [
    "reviewer_count",
    "services_affected",
    "regions_affected",
    "lines_changed",
    "files_changed",
]
BOOLEAN = ["customer_facing", "rollback_plan"]
IDENTITY = ["service", "author"]
CALENDAR = ["hour", "weekday"]

# name -> (categorical, numeric + boolean) columns of a baseline variant
VARIANTS = {
    "raw": (CATEGORICAL, NUMERIC + BOOLEAN),
    "raw - ids": ([c for c in CATEGORICAL if c not in IDENTITY], NUMERIC + BOOLEAN),
    "raw + hour/weekday": (CATEGORICAL + CALENDAR, NUMERIC + BOOLEAN),
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd):
    """Runs a command; returns its stderr (changerisk's summaries). Exits on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
        sys.exit(1)
    log(f"  {time.perf_counter() - t0:6.1f} s  {' '.join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))}")
    return proc.stderr


# --- data ----------------------------------------------------------------------------


def unix_seconds(cells):
    """RFC 3339 cells -> Unix seconds (int64), whatever resolution pandas infers."""
    return pd.to_datetime(cells, utc=True).dt.as_unit("s").astype("int64").to_numpy()


def read_changes(path):
    """The changes table with every cell as written (strings), plus parsed timestamps."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["_ts"] = unix_seconds(df["timestamp"])
    return df


def split_by_time(changes_csv, past_csv, future_csv):
    """Stable sort by timestamp, first 80% -> past, the rest -> future; lines copied verbatim."""
    with open(changes_csv, encoding="utf-8") as f:
        lines = f.read().splitlines()
    header, rows = lines[0], lines[1:]
    df = read_changes(changes_csv)
    if len(df) != len(rows):
        sys.exit(f"{changes_csv}: {len(rows)} lines but {len(df)} rows (quoted newlines?)")
    order = np.lexsort((df["change_id"].astype(str).to_numpy(), df["_ts"].to_numpy()))
    n_past = len(rows) - int(round(TEST_FRACTION * len(rows)))
    for path, part in ((past_csv, order[:n_past]), (future_csv, order[n_past:])):
        with open(path, "w", encoding="utf-8") as f:
            f.write(header + "\n")
            f.writelines(rows[i] + "\n" for i in part)
    return df.iloc[order].reset_index(drop=True), n_past


def spec_labels(changes, incidents):
    """SPEC.md "Labels" with the defaults (24h window, every severity): one bool per row of
    `changes` (in its row order), and a summary."""
    n = len(changes)
    labels = np.zeros(n, dtype=bool)
    ids = changes["change_id"].to_numpy()
    position = {cid: i for i, cid in enumerate(ids)}
    ts = changes["_ts"].to_numpy()
    # per service: file positions sorted by timestamp, equal timestamps by change_id, so
    # the last one before an incident is the greatest id (as changerisk orders them)
    by_service = {}
    ids = changes["change_id"].astype(str).to_numpy()
    for service, rows in changes.groupby("service", sort=False).indices.items():
        rows = rows[np.lexsort((ids[rows], ts[rows]))]
        by_service[service] = (ts[rows], rows)
    starts = unix_seconds(incidents["start_time"])
    named_col = incidents["caused_by_change"].fillna("").astype(str)
    explicit = attributed = unattributed = unknown_ids = unknown_only = 0
    for start, service, named in zip(starts, incidents["service"], named_col):
        causes = [c.strip() for c in named.split(";") if c.strip()]
        if causes:
            known = [position[c] for c in causes if c in position]
            unknown_ids += len(causes) - len(known)
            if known:
                labels[known] = True
                explicit += 1
            else:
                unknown_only += 1
            continue
        hit = None
        if service in by_service:
            times, rows = by_service[service]
            k = np.searchsorted(times, start, side="right") - 1
            if k >= 0 and start - times[k] <= ATTRIBUTION_WINDOW:
                hit = rows[k]
        if hit is None:
            unattributed += 1
        else:
            labels[hit] = True
            attributed += 1
    summary = dict(
        incidents=len(incidents),
        explicit=explicit,
        attributed=attributed,
        unattributed=unattributed,
        unknown_ids=unknown_ids,
        named_unknown_only=unknown_only,
        positives=int(labels.sum()),
        changes=n,
    )
    return labels, summary


def with_calendar(df):
    t = pd.to_datetime(df["_ts"], unit="s", utc=True)
    df = df.copy()
    df["hour"] = t.dt.hour.astype(str)
    df["weekday"] = t.dt.day_of_week.astype(str)
    return df


def raw_frame(df, categorical, numeric, categories=None):
    """The baseline's input columns: categoricals as strings (empty -> "none"),
    numeric and boolean columns as floats."""
    out = pd.DataFrame(index=df.index)
    for c in categorical:
        out[c] = df[c].replace("", "none")
    for c in numeric:
        if c in BOOLEAN:
            out[c] = df[c].str.lower().isin(["true", "1", "yes"]).astype(float)
        else:
            out[c] = pd.to_numeric(df[c].replace("", "0")).astype(float)
    return out


# --- models --------------------------------------------------------------------------


def fit_lr(train_x, y, test_x, categorical, numeric):
    pre = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("scale", StandardScaler(), numeric),
        ]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=2000))
    model.fit(train_x, y)
    return model.predict_proba(test_x)[:, 1]


def fit_lgbm(train_x, y, test_x, categorical):
    train_x, test_x = train_x.copy(), test_x.copy()
    for c in categorical:
        levels = sorted(train_x[c].unique())
        # levels unseen in training become missing
        train_x[c] = pd.Categorical(train_x[c], categories=levels)
        test_x[c] = pd.Categorical(test_x[c].where(test_x[c].isin(levels)), categories=levels)
    model = lgb.LGBMClassifier(n_estimators=200, verbose=-1)
    model.fit(train_x, y)
    return model.predict_proba(test_x)[:, 1]


# --- metrics -------------------------------------------------------------------------


def ece(p, y, bins=BINS):
    """Expected calibration error: 10 equal-width bins of p in [0, 1], count-weighted
    |mean predicted - observed rate|."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    b = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return total / len(p)


def metrics(p, y):
    return dict(
        auc=float(roc_auc_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        ece=float(ece(p, y)),
        mean=float(np.mean(p)),
    )


# --- one seed ------------------------------------------------------------------------


def one_seed(binary, seed, n, days, workdir, generator=None, gen_args=()):
    d = os.path.join(workdir, f"seed-{seed}")
    os.makedirs(d, exist_ok=True)
    log(f"seed {seed}: {d}")
    changes_csv = os.path.join(d, "changes.csv")
    incidents_csv = os.path.join(d, "incidents.csv")
    past_csv, future_csv = os.path.join(d, "past.csv"), os.path.join(d, "future.csv")
    model, scored = os.path.join(d, "m.json"), os.path.join(d, "scored.csv")
    days_flag = ["--days", str(days)] if days else []
    if generator:
        # Another generator (e.g. benches/independent_gen.py): same files, same flags.
        run([sys.executable, generator, "--changes", str(n), "--seed", str(seed),
             *days_flag, *gen_args, "--out", d])
    else:
        run([binary, "generate", "--quiet", "--changes", str(n), "--new-changes", "0",
             "--seed", str(seed), *days_flag, "--truth", "--output-dir", d])
    changes, n_past = split_by_time(changes_csv, past_csv, future_csv)
    run([binary, "train", "--quiet", "--changes", past_csv, "--incidents", incidents_csv,
         "--model", model])
    run([binary, "score", "--quiet", "--model", model, "--changes", future_csv,
         "--history", past_csv, "--incidents", incidents_csv, "--output", scored])

    # labels of the whole file, cross-checked with what changerisk train reports for it
    incidents = pd.read_csv(incidents_csv, dtype={"caused_by_change": str})
    labels, summary = spec_labels(changes, incidents)
    out = run([binary, "train", "--changes", changes_csv, "--incidents", incidents_csv,
               "--model", os.path.join(d, "full.json")])
    m = re.search(r"labels: (\d+) of (\d+) changes", out)
    if not m:
        sys.exit(f"no 'labels: N of M' line in changerisk train's output:\n{out}")
    cr_pos, cr_n = int(m.group(1)), int(m.group(2))
    if (cr_pos, cr_n) != (summary["positives"], summary["changes"]):
        sys.exit(f"label mismatch: here {summary['positives']} of {summary['changes']}, "
                 f"changerisk train {cr_pos} of {cr_n}")
    log(f"  labels: {cr_pos} of {cr_n} ({100 * cr_pos / cr_n:.2f}%), same as changerisk train; "
        f"incidents {summary['incidents']}: explicit {summary['explicit']}, "
        f"attributed {summary['attributed']}, unattributed {summary['unattributed']}")

    past, future = changes.iloc[:n_past], changes.iloc[n_past:]
    y_past, y_future = labels[:n_past], labels[n_past:]

    sc = pd.read_csv(scored, usecols=["change_id", "risk"], dtype={"change_id": str})
    if not (sc["change_id"].to_numpy() == future["change_id"].to_numpy()).all():
        sys.exit("scored.csv is not in future.csv's order")
    truth = pd.read_csv(os.path.join(d, "truth.csv"), dtype={"change_id": str})
    # Matched by change id (another generator's files need not be in time order).
    truth = truth.set_index("change_id").reindex(changes["change_id"].to_numpy())
    if truth["true_risk"].isna().any():
        sys.exit("truth.csv lacks some of changes.csv's change ids")
    oracle = truth["true_risk"].to_numpy()[n_past:]

    preds = {"changerisk": sc["risk"].to_numpy(), "oracle": oracle}
    variants = {}
    past_c, future_c = with_calendar(past), with_calendar(future)
    for name, (categorical, numeric) in VARIANTS.items():
        tx = raw_frame(past_c, categorical, numeric)
        vx = raw_frame(future_c, categorical, numeric)
        t0 = time.perf_counter()
        p_lr = fit_lr(tx, y_past, vx, categorical, numeric)
        t1 = time.perf_counter()
        p_gb = fit_lgbm(tx, y_past, vx, categorical)
        t2 = time.perf_counter()
        log(f"  baselines '{name}': LR {t1 - t0:.1f} s, LightGBM {t2 - t1:.1f} s")
        variants[name] = {"sklearn LR": metrics(p_lr, y_future), "LightGBM": metrics(p_gb, y_future)}
        if name == "raw":
            preds["sklearn LR"], preds["LightGBM"] = p_lr, p_gb

    result = {
        "seed": seed,
        "train_rows": int(n_past),
        "test_rows": int(len(future)),
        "test_positive_rate": float(y_future.mean()),
        "labels_full": summary,
        "models": {k: metrics(preds[k], y_future) for k in ["changerisk", "sklearn LR", "LightGBM", "oracle"]},
        "variants": variants,
    }
    return result


# --- report --------------------------------------------------------------------------

MODELS = ["changerisk", "sklearn LR", "LightGBM", "oracle"]


def gaps(models):
    cr = models["changerisk"]
    best = {k: max(models["sklearn LR"][k], models["LightGBM"][k]) for k in ("auc",)}
    return dict(
        auc_vs_best_baseline=cr["auc"] - best["auc"],
        auc_oracle_minus_cr=models["oracle"]["auc"] - cr["auc"],
        brier_vs_best_baseline=cr["brier"] - min(models["sklearn LR"]["brier"], models["LightGBM"]["brier"]),
    )


def table(title, models, g=None):
    lines = [title]
    lines.append(f"| {'model':<12} | {'ROC-AUC':>7} | {'Brier':>8} | {'ECE':>7} | {'mean p':>7} |")
    lines.append(f"|{'-' * 14}|{'-' * 9}:|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|")
    for k in MODELS:
        m = models[k]
        lines.append(f"| {k:<12} | {m['auc']:7.4f} | {m['brier']:8.5f} | {m['ece']:7.4f} | {m['mean']:7.4f} |")
    g = g or gaps(models)
    lines.append("")
    lines.append(f"changerisk - max(LR, LightGBM) ROC-AUC: {g['auc_vs_best_baseline']:+.4f}   "
                 f"oracle - changerisk ROC-AUC: {g['auc_oracle_minus_cr']:+.4f}   "
                 f"changerisk - min(LR, LightGBM) Brier: {g['brier_vs_best_baseline']:+.5f}")
    return "\n".join(lines)


def mean_models(results):
    return {
        k: {m: float(np.mean([r["models"][k][m] for r in results])) for m in ("auc", "brier", "ece", "mean")}
        for k in MODELS
    }


def variants_table(results):
    lines = ["Baselines on other readings of \"the same raw columns\" (ROC-AUC; mean over seeds, then per seed):",
             f"| {'columns':<20} | {'sklearn LR':>10} | {'LightGBM':>8} | {'changerisk - best':>17} | per seed (LR / LightGBM) |",
             f"|{'-' * 22}|{'-' * 11}:|{'-' * 9}:|{'-' * 18}:|{'-' * 26}|"]
    cr = np.mean([r["models"]["changerisk"]["auc"] for r in results])
    for name in VARIANTS:
        lr = np.mean([r["variants"][name]["sklearn LR"]["auc"] for r in results])
        gb = np.mean([r["variants"][name]["LightGBM"]["auc"] for r in results])
        per = ", ".join(f"{r['variants'][name]['sklearn LR']['auc']:.4f} / {r['variants'][name]['LightGBM']['auc']:.4f}"
                        for r in results)
        lines.append(f"| {name:<20} | {lr:10.4f} | {gb:8.4f} | {cr - max(lr, gb):+17.4f} | {per} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the changerisk binary")
    ap.add_argument("--seeds", default="11,12")
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--days", type=int, help="span of each history in days (default: generate's)")
    ap.add_argument("--workdir", default="/tmp/changerisk-quality")
    ap.add_argument("--json", help="also write the results as JSON here")
    ap.add_argument("--generator", help="a Python generator script to use instead of "
                    "`changerisk generate` (flags --changes --seed [--days] --out DIR; writes "
                    "changes.csv, incidents.csv, truth.csv), e.g. benches/independent_gen.py")
    ap.add_argument("--gen-args", default="", help="more flags for --generator, e.g. '--drift 2'")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s]
    results = [one_seed(args.bin, s, args.changes, args.days, args.workdir,
                        args.generator, args.gen_args.split()) for s in seeds]

    out = []
    for r in results:
        out.append(table(
            f"### seed {r['seed']}: train {r['train_rows']} / test {r['test_rows']} changes, "
            f"test positive rate {100 * r['test_positive_rate']:.2f}%",
            r["models"]))
        out.append("")
    mm = mean_models(results)
    mg = {k: float(np.mean([gaps(r["models"])[k] for r in results])) for k in gaps(mm)}
    out.append(table(f"### mean over seeds {', '.join(map(str, seeds))} (gaps: mean of the per-seed gaps)", mm, mg))
    out.append("")
    out.append(variants_table(results))
    print("\n".join(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seeds": results, "mean": mm, "mean_gaps": mg}, f, indent=2)


if __name__ == "__main__":
    main()
