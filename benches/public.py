"""changerisk against the better of scikit-learn's logistic regression and LightGBM on
the public just-in-time defect datasets, the way the outside check compares them.

Each case is a CSV with a shipped config: the two datasets whole, and (as stand-ins for
"other datasets of the same kind", which this machine does not have) windows of
OpenStack's history, each an independent 80/20 chronological split. Per case:

* changerisk: `evaluate --config ... --learner L --json` (train on the first 80% by time,
  ROC-AUC on the rest), for L in auto, logistic, gbdt;
* scikit-learn `LogisticRegression` (default settings) on log1p of the config's declared
  columns, standardised on the training rows;
* LightGBM `LGBMClassifier` (default settings) on the raw declared columns;

all on the same split (sorted by time, equal times by id, first 80% for training). Prints a markdown
table and the means.

    VENV=/work/bench-venv-q; $VENV/bin/python benches/public.py [--windows 5 --window-rows 9000]
    # small histories: 12 OpenStack and 2 Columba windows of 1,000 changes
    $VENV/bin/python benches/public.py --windows 12 --columba-windows 2 --window-rows 1000
    # the same with other selection settings for every changerisk run
    $VENV/bin/python benches/public.py --flags "--folds 5 --validation-fraction 0.3"
    # whole-history-like cases: the first and the last N changes of each dataset (the
    # project younger, or its early years forgotten), each split 80/20 like the whole
    $VENV/bin/python benches/public.py --windows 0 --ends 6000,10000,14000,18000 --columba-ends 2500,3500

Needs numpy, pandas, scikit-learn and lightgbm; reads ../shared/datasets/jit.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "..", "shared", "datasets", "jit")
LEARNERS = ["auto", "logistic", "gbdt"]


def times(frame, columns):
    """Sort keys: the config's timestamp column, parsed as `evaluate` does."""
    raw = frame[columns["timestamp"]]
    fmt = columns.get("timestamp_format", "rfc3339")
    if fmt == "unix":
        return pd.to_numeric(raw)
    if fmt == "unix_ms":
        return pd.to_numeric(raw) / 1000
    if fmt == "rfc3339":
        return pd.to_datetime(raw, utc=True)
    return pd.to_datetime(raw, format=fmt)


def time_order(frame, columns):
    """Row positions in time order, equal times by id (as `evaluate` orders them)."""
    ids = frame[columns["id"]].astype(str).to_numpy()
    return np.lexsort((ids, times(frame, columns).to_numpy()))


def baselines(frame, config):
    columns, features = config["columns"], config["features"]
    declared = features.get("numeric", []) + features.get("boolean", [])
    order = time_order(frame, columns)
    data = frame.iloc[order]
    cut = int(0.8 * len(data))
    x = data[declared].astype(float).fillna(0.0).to_numpy()
    y = data[columns["label"]].astype(int).to_numpy()
    logs = np.log1p(np.maximum(x, 0.0))
    scaler = StandardScaler().fit(logs[:cut])
    lr = LogisticRegression(max_iter=5000).fit(scaler.transform(logs[:cut]), y[:cut])
    p_lr = lr.predict_proba(scaler.transform(logs[cut:]))[:, 1]
    gbm = lgb.LGBMClassifier(verbose=-1).fit(x[:cut], y[:cut])
    p_gbm = gbm.predict_proba(x[cut:])[:, 1]
    return roc_auc_score(y[cut:], p_lr), roc_auc_score(y[cut:], p_gbm)


def changerisk(binary, path, config_path, learner, flags=()):
    out = subprocess.run(
        [binary, "evaluate", "--config", config_path, "--changes", path, "--json", "--learner", learner, *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if out.returncode != 0:
        sys.exit(f"changerisk evaluate failed on {path}:\n{out.stderr}")
    return json.loads(out.stdout)["model"]["roc_auc"]


def sizes(value):
    """A comma-separated list of change counts."""
    return [int(n) for n in value.split(",") if n]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=5, help="OpenStack windows (0: none)")
    ap.add_argument("--columba-windows", type=int, default=0, help="Columba windows (default none)")
    ap.add_argument("--window-rows", type=int, default=9000)
    ap.add_argument("--ends", type=sizes, default=[], help="OpenStack: also its first and last N changes, for each N (comma-separated)")
    ap.add_argument("--columba-ends", type=sizes, default=[], help="Columba: the same")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    ap.add_argument("--changerisk", default=os.path.join(target, "release", "changerisk"))
    ap.add_argument("--flags", default="", help="more `evaluate` flags for every changerisk run, e.g. '--folds 5'")
    args = ap.parse_args()

    cases = []
    for name in ["openstack", "columba"]:
        config_path = os.path.join(REPO, "data", "examples", f"{name}.toml")
        with open(config_path, "rb") as f:
            config = tomllib.load(f)
        path = os.path.join(DATA, f"{name}.csv")
        cases.append((name, path, config_path, config, pd.read_csv(path)))

    tmp = tempfile.TemporaryDirectory()
    for (name, _, config_path, config, frame), count in zip(cases[:2], [args.windows, args.columba_windows]):
        if count <= 0:
            continue
        ordered = frame.iloc[time_order(frame, config["columns"])]
        last = len(ordered) - args.window_rows
        for k in range(count):
            start = last * k // max(count - 1, 1)
            window = ordered.iloc[start : start + args.window_rows]
            path = os.path.join(tmp.name, f"{name}_{start}.csv")
            window.to_csv(path, index=False)
            label = f"{name} rows {start}-{start + args.window_rows}"
            cases.append((label, path, config_path, config, window))
    for (name, _, config_path, config, frame), ends in zip(cases[:2], [args.ends, args.columba_ends]):
        ordered = frame.iloc[time_order(frame, config["columns"])]
        for n in (n for n in ends if n < len(ordered)):
            for side, part in [("first", ordered.iloc[:n]), ("last", ordered.iloc[-n:])]:
                path = os.path.join(tmp.name, f"{name}_{side}_{n}.csv")
                part.to_csv(path, index=False)
                cases.append((f"{name} {side} {n}", path, config_path, config, part))

    rows = []
    print("| case | " + " | ".join(f"changerisk {l}" for l in LEARNERS) + " | sklearn LR | LightGBM | better of the two | auto - better |")
    print("|---|" + "---:|" * (len(LEARNERS) + 4))
    for name, path, config_path, config, frame in cases:
        lr, gbm = baselines(frame, config)
        ours = {l: changerisk(args.changerisk, path, config_path, l, args.flags.split()) for l in LEARNERS}
        best = max(lr, gbm)
        rows.append([ours[l] for l in LEARNERS] + [lr, gbm, best, ours["auto"] - best])
        cells = [f"{v:.4f}" for v in rows[-1][:-1]] + [f"{rows[-1][-1]:+.4f}"]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    mean = np.mean(rows, axis=0)
    cells = [f"{v:.4f}" for v in mean[:-1]] + [f"{mean[-1]:+.4f}"]
    print(f"| **mean of {len(rows)}** | " + " | ".join(cells) + " |")
    whole = np.mean(rows[:2], axis=0)
    cells = [f"{v:.4f}" for v in whole[:-1]] + [f"{whole[-1]:+.4f}"]
    print(f"| mean of the 2 whole datasets | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
