"""changerisk's trees against LightGBM at the same settings, on the same matrix (issue 4).

Is changerisk's own GBDT (src/gbdt) as good a learner as LightGBM, or does part of a
gap on a dataset come from the implementation? Per case (the cases of
benches/tried_selection.py, plus any `--extra NAME=CSV:CONFIG`) and per tree setting
(leaves / least rows per leaf):

* `changerisk train --learner gbdt --leaves L --min-leaf-rows M --subsample 1
  --no-calibration` (every tree from every row, as LightGBM's defaults) on the
  chronological first 80% (`int(0.8 n)` rows, as `evaluate`), which picks its number of
  trees N by early stopping on its folds;
* `changerisk export` of both periods gives the model's own feature matrix
  (`feature_*` columns) and the trees' log-odds (`logit`);
* LightGBM with the same settings (N trees, learning rate 0.08, L leaves, at least M rows
  per leaf, 63 bins, L2 1, depth 8) fitted on exactly that matrix.

Prints the ROC-AUC of both on the test period (the last 20%) and the mean differences.

    VENV=/work/bench-venv-q; $VENV/bin/python benches/same_settings.py [--extra ...]
"""

import argparse
import json
import os
import subprocess
import tempfile
import tomllib

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from tried_selection import BINARY, public

SETTINGS = [(31, 200), (7, 20)]


def cases(extra):
    for name in ["openstack", "columba"]:
        config = os.path.join(public.REPO, "data", "examples", f"{name}.toml")
        frame = pd.read_csv(os.path.join(public.DATA, f"{name}.csv"))
        yield name, frame, config
        if name == "openstack":
            cfg = tomllib.load(open(config, "rb"))
            ordered = frame.iloc[public.time_order(frame, cfg["columns"])]
            for start in [0, 3439, 6878, 10317, 13757]:
                yield f"openstack rows {start}", ordered.iloc[start : start + 9000], config
    for item in extra:
        name, rest = item.split("=", 1)
        path, config = rest.split(":", 1)
        yield name, pd.read_csv(path), config


def run(*args):
    subprocess.run([BINARY, *args, "-q"], check=True, capture_output=True)


def compare(stem, config, leaves, min_rows):
    """(trees, changerisk's test ROC-AUC, LightGBM's) for one setting."""
    model = f"{stem}_{leaves}_{min_rows}.json"
    run("train", "--config", config, "--changes", stem + "_past.csv", "--learner", "gbdt",
        "--leaves", str(leaves), "--min-leaf-rows", str(min_rows), "--subsample", "1",
        "--no-calibration", "--model", model)
    tables = {}
    for part in ["past", "future"]:
        out = f"{stem}_{part}_export"
        run("export", "--config", config, "--model", model, "--changes", f"{stem}_{part}.csv",
            "--output", out, "--format", "csv")
        tables[part] = pd.read_csv(os.path.join(out, "changes.csv"))
    past, future = tables["past"], tables["future"]
    columns = [c for c in past.columns if c.startswith("feature_")]
    trees = len(json.load(open(model))["trees"]["trees"])
    gbm = lgb.LGBMClassifier(
        verbose=-1, n_estimators=trees, learning_rate=0.08, num_leaves=leaves,
        min_child_samples=min_rows, max_bin=63, reg_lambda=1.0, max_depth=8,
    ).fit(past[columns], past["label"])
    ours = roc_auc_score(future["label"], future["logit"])
    theirs = roc_auc_score(future["label"], gbm.predict_proba(future[columns])[:, 1])
    return trees, ours, theirs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", action="append", default=[], help="NAME=CSV:CONFIG")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    heads = " | ".join(f"{l}/{m}: trees, changerisk, LightGBM" for l, m in SETTINGS)
    print(f"| case | {heads} |")
    print("|---|" + "---|" * len(SETTINGS))
    diffs = []
    for name, frame, config in cases(args.extra):
        cfg = tomllib.load(open(config, "rb"))
        stem = os.path.join(tmp, name.replace(" ", "_"))
        ordered = frame.iloc[public.time_order(frame, cfg["columns"])]
        cut = int(0.8 * len(ordered))
        ordered.iloc[:cut].to_csv(stem + "_past.csv", index=False)
        ordered.iloc[cut:].to_csv(stem + "_future.csv", index=False)
        cells, row = [], []
        for leaves, min_rows in SETTINGS:
            trees, ours, theirs = compare(stem, config, leaves, min_rows)
            cells.append(f"{trees}, {ours:.4f}, {theirs:.4f}")
            row.append(ours - theirs)
        diffs.append(row)
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    d = np.array(diffs)
    means = ", ".join(f"{l}/{m} {v:+.4f}" for (l, m), v in zip(SETTINGS, d.mean(axis=0)))
    print(f"\nmean changerisk - LightGBM over {len(d)} cases: {means}")


if __name__ == "__main__":
    main()
