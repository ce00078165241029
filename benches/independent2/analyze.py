#!/usr/bin/env python3
"""Per-row diagnosis of the engine on one history: what structure it misses.

    analyze.py DIR

Re-creates evaluate's split with train + score (train on the oldest 80% with the incidents that
started before the test period; score the newest 20% with the past as --history and all
incidents), checks the scores reproduce evaluate's AUC, then on the test set:
  * observed vs mean predicted by ai_tool, by change_type, by hour band, by service;
  * how much ROC-AUC a logistic 'stacker' gains over the engine's logit when given one
    extra raw-column group (fit on the first half of the test set, measured on the second).
"""
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import spec_labels, to_sec, parse_bool  # noqa

HERE = os.path.dirname(os.path.abspath(__file__))
d = sys.argv[1]
ch = pd.read_csv(f"{d}/changes.csv", dtype=str, keep_default_na=False)
ch["ts"] = to_sec(ch.timestamp)
ch = ch.sort_values(["ts", "change_id"], kind="stable").reset_index(drop=True)
inc = pd.read_csv(f"{d}/incidents.csv", dtype=str, keep_default_na=False)
inc["ts"] = to_sec(inc.start_time)
y, first, _, _ = spec_labels(ch, inc)
n = len(ch); ntest = math.ceil(0.2 * n)
past, fut = ch.iloc[: n - ntest], ch.iloc[n - ntest:]
cols = [c for c in ch.columns if c != "ts"]
past[cols].to_csv(f"{d}/past.csv", index=False); fut[cols].to_csv(f"{d}/future.csv", index=False)
t0 = fut.ts.iloc[0]
inc[inc.ts < t0].drop(columns="ts").to_csv(f"{d}/inc_known.csv", index=False)
learner = os.environ.get("LEARNER", "auto")
cr = os.environ.get("CHANGERISK_BIN", "/root/.cache/changerisk-target/release/changerisk")
subprocess.run([cr, "train", "-q", "--learner", learner, "--changes", f"{d}/past.csv", "--incidents", f"{d}/inc_known.csv",
                "--model", f"{d}/model_past.json"], check=True)
subprocess.run([cr, "score", "-q", "--model", f"{d}/model_past.json", "--changes", f"{d}/future.csv", "--history",
                f"{d}/past.csv", "--incidents", f"{d}/incidents.csv", "--output", f"{d}/scored.csv"], check=True)
sc = pd.read_csv(f"{d}/scored.csv", dtype={"change_id": str}, keep_default_na=False).set_index("change_id").loc[fut.change_id]
p = sc.risk.to_numpy().astype(float)
yt = y[n - ntest:].astype(int)
print(f"engine ({learner}) re-run: AUC {roc_auc_score(yt, p):.4f}")
te = fut.copy().reset_index(drop=True)
te["p"] = p; te["y"] = yt
te["hour"] = pd.to_datetime(te.ts.to_numpy(), unit="s", utc=True).hour
te["wd"] = pd.to_datetime(te.ts.to_numpy(), unit="s", utc=True).weekday
te["hb"] = pd.cut(te.hour, [-1, 4, 8, 12, 16, 19, 23]).astype(str)
te["lines_b"] = pd.cut(te.lines_changed.astype(int), [-1, 2, 10, 100, 800, 1e9]).astype(str)
te["svc_type"] = te.service + "|" + te.change_type
te["tool_ai"] = te.ai_tool + "|" + te.ai_involvement
for g in ["ai_tool", "change_type", "hb", "lines_b", "wd"]:
    t = te.groupby(g).agg(n=("y", "size"), obs=("y", "mean"), pred=("p", "mean"))
    t["obs-pred"] = t.obs - t.pred
    print(t.round(4).to_string(), "\n")
# group-level miscalibration: count-weighted |obs - pred| over groups with >= 100 rows
for g in ["service", "author", "svc_type", "tool_ai"]:
    t = te.groupby(g).agg(n=("y", "size"), obs=("y", "mean"), pred=("p", "mean"))
    t = t[t.n >= 100]
    z = (t.obs - t.pred) / np.sqrt(t.pred * (1 - t.pred) / t.n)
    print(f"{g}: {len(t)} groups >=100 rows, weighted |obs-pred| {np.average((t.obs - t.pred).abs(), weights=t.n):.4f}, "
          f"chi2/df {np.mean(z ** 2):.2f}")
# stacker: engine logit + one raw group
lg = np.log(p / (1 - p))
h = len(te) // 2
base = roc_auc_score(yt[h:], lg[h:])
print(f"\nstacker gains over engine logit (test 2nd half AUC {base:.4f}):")
for g in [["ai_tool"], ["tool_ai"], ["service"], ["author"], ["svc_type"], ["hour"], ["wd", "hour"], ["lines_b"], ["change_type", "lines_b"]]:
    enc = OneHotEncoder(handle_unknown="ignore", min_frequency=20).fit(te[g].iloc[:h])
    import scipy.sparse as sp
    X = sp.hstack([sp.csr_matrix(lg[:, None]), enc.transform(te[g])]).tocsr()
    m = LogisticRegression(C=0.3, max_iter=2000).fit(X[:h], yt[:h])
    print(f"  + {'+'.join(g):20s} {roc_auc_score(yt[h:], m.predict_proba(X[h:])[:, 1]) - base:+.4f}")
