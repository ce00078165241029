"""A tried and not adopted selection rule (issue 4): the one-standard-error rule and its
paired form, against changerisk's `auto` (highest mean fold ROC-AUC).

For each case: `train` on the chronological first 80% (`int(0.8 n)` rows, as `evaluate`),
read every candidate's per-fold validation ROC-AUC from the model file, and ask which
learner each rule would pick:

* one-SE: the best logistic candidate when its mean is within one standard error (of the
  best candidate's fold AUCs) of the best;
* paired: the best logistic candidate unless the best candidate's mean lead over it, fold
  by fold, exceeds that lead's standard error.

The test ROC-AUC of each pick is `evaluate --learner auto` or `--learner logistic`.
Cases: the two shipped public datasets, five 9,000-change windows of OpenStack, and any
extra `NAME.csv` + config pairs given as `--extra NAME=CSV:CONFIG` (the ApacheJIT
measurement in benches/README.md used five projects' files).

    VENV=/work/bench-venv-q; $VENV/bin/python benches/tried_selection.py [--extra ...]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import tomllib

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import public  # noqa: E402

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/changerisk-target"))
BINARY = os.path.join(TARGET, "release", "changerisk")


def evaluate(path, config, learner):
    out = subprocess.run(
        [BINARY, "evaluate", "--config", config, "--changes", path, "--json", "--learner", learner],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)["model"]["roc_auc"]


def best(trials):
    return max(trials, key=lambda t: (t["mean_roc_auc"], -t["mean_log_loss"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--extra", action="append", default=[], help="NAME=CSV:CONFIG")
    args = ap.parse_args()
    cases = []
    for name in ["openstack", "columba"]:
        config = os.path.join(public.REPO, "data", "examples", f"{name}.toml")
        frame = pd.read_csv(os.path.join(public.DATA, f"{name}.csv"))
        cases.append((name, frame, config))
        if name == "openstack":
            cfg = tomllib.load(open(config, "rb"))
            ordered = frame.iloc[public.time_order(frame, cfg["columns"])]
            for start in [0, 3439, 6878, 10317, 13757]:
                cases.append((f"openstack rows {start}", ordered.iloc[start : start + 9000], config))
    for extra in args.extra:
        name, rest = extra.split("=", 1)
        path, config = rest.split(":", 1)
        cases.append((name, pd.read_csv(path), config))

    tmp = tempfile.mkdtemp()
    rows = []
    print("| case | auto picks | lead over logistic (paired SE) | best's SE | auto | logistic | one-SE | paired | better baseline |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, frame, config in cases:
        cfg = tomllib.load(open(config, "rb"))
        stem = os.path.join(tmp, name.replace(" ", "_"))
        frame.to_csv(stem + ".csv", index=False)
        ordered = frame.iloc[public.time_order(frame, cfg["columns"])]
        ordered.iloc[: int(0.8 * len(ordered))].to_csv(stem + "_past.csv", index=False)
        subprocess.run(
            [BINARY, "train", "--config", config, "--changes", stem + "_past.csv", "--model", stem + ".json", "-q"],
            check=True, capture_output=True,
        )
        trials = json.load(open(stem + ".json"))["training"]["selection"]
        top = best(trials)
        logistic = best([t for t in trials if t["learner"] == "logistic"])
        folds_top, folds_log = np.array(top["fold_roc_auc"]), np.array(logistic["fold_roc_auc"])
        se_top = folds_top.std(ddof=1) / np.sqrt(len(folds_top))
        lead = folds_top - folds_log
        se_lead = lead.std(ddof=1) / np.sqrt(len(lead))
        auto, logi = evaluate(stem + ".csv", config, "auto"), evaluate(stem + ".csv", config, "logistic")
        one_se = logi if logistic["mean_roc_auc"] >= top["mean_roc_auc"] - se_top else auto
        paired = logi if lead.mean() <= se_lead else auto
        base = max(public.baselines(frame, cfg))
        rows.append([auto, logi, one_se, paired, base])
        print(f"| {name} | {top['learner']} | {lead.mean():+.4f} ({se_lead:.4f}) | {se_top:.4f} | {auto:.4f} | {logi:.4f} | {one_se:.4f} | {paired:.4f} | {base:.4f} |", flush=True)
    r = np.array(rows)
    mean = r.mean(axis=0)
    print(f"| **mean of {len(r)}** | | | | {mean[0]:.4f} | {mean[1]:.4f} | {mean[2]:.4f} | {mean[3]:.4f} | {mean[4]:.4f} |")


if __name__ == "__main__":
    main()
