#!/usr/bin/env python3
"""Engine vs baselines on one generated history.

    bench.py DIR [--no-engine] [--learners auto,logistic,gbdt]

DIR holds changes.csv, incidents.csv, truth.csv (gen.py). Runs `./cr evaluate --json` per learner
(saved as DIR/eval_<learner>.json), labels every change by SPEC.md's rule independently, splits
time-ordered 80/20 (sorted by timestamp then change_id; test = last ceil(20%)), fits
LogisticRegression (one-hot categoricals, raw + log1p numerics, C by a time-ordered validation
slice) and LightGBM (default; and early stopping on a time-ordered validation slice, then refit)
on the raw columns, and prints ROC-AUC / Brier / ECE for all plus the oracle. Writes DIR/results.json.
"""
import json
import math
import os
import subprocess
import sys
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
CAT = ["service", "author", "ai_involvement", "ai_tool", "permission_level", "review_status", "change_type"]
NUM = ["reviewer_count", "services_affected", "regions_affected", "lines_changed", "files_changed"]
BOOL = ["customer_facing", "rollback_plan"]
WINDOW = 24 * 3600


def to_sec(s):
    return pd.to_datetime(s, utc=True).dt.tz_convert(None).astype("datetime64[s]").astype("int64")


def parse_bool(s):
    return s.astype(str).str.strip().str.lower().isin(["true", "1", "yes"])


def spec_labels(ch, inc):
    """ch sorted by (ts, change_id). Returns (label, first_incident_start) arrays aligned to ch."""
    n = len(ch)
    idx = {c: i for i, c in enumerate(ch.change_id)}
    lab = np.zeros(n, bool)
    first = np.full(n, np.inf)
    unknown = 0
    unattr = 0
    by_svc = {}
    for s, g in ch.groupby("service", sort=False):
        by_svc[s] = (g.ts.to_numpy(), g.index.to_numpy())  # sorted by ts then id (ch order)
    for st, svc, cause in zip(inc.ts, inc.service, inc.caused_by_change):
        if isinstance(cause, str) and cause.strip():
            for c in cause.split(";"):
                c = c.strip()
                if not c:
                    continue
                i = idx.get(c)
                if i is None:
                    unknown += 1
                else:
                    lab[i] = True
                    first[i] = min(first[i], st)
            continue
        if svc not in by_svc:
            unattr += 1
            continue
        t, ii = by_svc[svc]
        k = np.searchsorted(t, st, side="right") - 1  # last change with ts <= st (greatest id on ties)
        if k >= 0 and st - t[k] <= WINDOW:
            i = ii[k]
            lab[i] = True
            first[i] = min(first[i], st)
        else:
            unattr += 1
    return lab, first, unknown, unattr


def ece(p, y, bins=10):
    b = np.minimum((p * bins).astype(int), bins - 1)
    tot = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            tot += m.sum() * abs(p[m].mean() - y[m].mean())
    return tot / len(p)


def metrics(p, y):
    return {"auc": roc_auc_score(y, p), "brier": brier_score_loss(y, p), "ece": ece(p, y)}


def lr_design(tr, te, enc=None, sc=None):
    def num(df):
        x = df[NUM].astype(float).to_numpy()
        return np.hstack([x, np.log1p(x), df[BOOL].astype(float).to_numpy()])
    if enc is None:
        enc = OneHotEncoder(handle_unknown="ignore", min_frequency=5).fit(tr[CAT])
        sc = StandardScaler().fit(num(tr))
    f = lambda d: sp.hstack([enc.transform(d[CAT]), sp.csr_matrix(sc.transform(num(d)))]).tocsr()
    return f(tr), f(te), enc, sc


def fit_lr(tr, ytr, te):
    cut = int(len(tr) * 0.8)
    a, b = tr.iloc[:cut], tr.iloc[cut:]
    xa, xb, _, _ = lr_design(a, b)
    best = None
    for C in [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]:
        m = LogisticRegression(C=C, max_iter=3000).fit(xa, ytr[:cut])
        auc = roc_auc_score(ytr[cut:], m.predict_proba(xb)[:, 1])
        if best is None or auc > best[0]:
            best = (auc, C)
    xtr, xte, _, _ = lr_design(tr, te)
    m = LogisticRegression(C=best[1], max_iter=3000).fit(xtr, ytr)
    return m.predict_proba(xte)[:, 1], best[1]


def lgb_frame(df, cats):
    x = df[CAT + NUM + BOOL].copy()
    for c in CAT:
        x[c] = pd.Categorical(x[c], categories=cats[c])
    for c in BOOL:
        x[c] = x[c].astype(int)
    return x


def fit_lgb(tr, ytr, te, extra=None):
    cats = {c: sorted(tr[c].unique()) for c in CAT}
    xtr, xte = lgb_frame(tr, cats), lgb_frame(te, cats)
    if extra:
        for c in extra:
            xtr[c] = tr[c].to_numpy(); xte[c] = te[c].to_numpy()
    out = {}
    m = lgb.LGBMClassifier(verbose=-1).fit(xtr, ytr)
    out["lgbm_default"] = m.predict_proba(xte)[:, 1]
    cut = int(len(tr) * 0.8)
    m = lgb.LGBMClassifier(n_estimators=3000, verbose=-1).fit(
        xtr.iloc[:cut], ytr[:cut], eval_set=[(xtr.iloc[cut:], ytr[cut:])],
        callbacks=[lgb.early_stopping(50, verbose=False)])
    bi = max(m.best_iteration_, 1)
    m2 = lgb.LGBMClassifier(n_estimators=bi, verbose=-1).fit(xtr, ytr)
    out[f"lgbm_es({bi})"] = m2.predict_proba(xte)[:, 1]
    return out


def main():
    d = sys.argv[1]
    learners = ["auto", "logistic", "gbdt"]
    for a in sys.argv[2:]:
        if a.startswith("--learners="):
            learners = a.split("=", 1)[1].split(",")
    run_engine = "--no-engine" not in sys.argv
    res = {}
    if run_engine:
        for L in learners:
            t0 = time.time()
            r = subprocess.run([os.environ.get("CHANGERISK_BIN", "/root/.cache/changerisk-target/release/changerisk"), "evaluate", "--changes", f"{d}/changes.csv",
                                "--incidents", f"{d}/incidents.csv", "--json", "--learner", L],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr); sys.exit(1)
            open(f"{d}/eval_{L}.json", "w").write(r.stdout)
            open(f"{d}/eval_{L}.stderr", "w").write(r.stderr)
            print(f"engine {L}: {time.time() - t0:.1f}s", file=sys.stderr)
    for L in learners:
        fn = f"{d}/eval_{L}.json"
        if os.path.exists(fn):
            j = json.load(open(fn))
            res[f"engine_{L}"] = j
    ch = pd.read_csv(f"{d}/changes.csv", dtype=str, keep_default_na=False)
    ch["ts"] = to_sec(ch.timestamp)
    for c in NUM:
        ch[c] = ch[c].replace("", "0").astype(float)
    for c in BOOL:
        ch[c] = parse_bool(ch[c])
    ch["ai_tool"] = ch["ai_tool"].replace("", "none")
    ch = ch.sort_values(["ts", "change_id"], kind="stable").reset_index(drop=True)
    hours = pd.to_datetime(ch.ts.to_numpy(), unit="s", utc=True)
    ch["hour"] = hours.hour; ch["weekday"] = hours.weekday
    inc = pd.read_csv(f"{d}/incidents.csv", dtype=str, keep_default_na=False)
    inc["ts"] = to_sec(inc.start_time)
    y, first, unknown, unattr = spec_labels(ch, inc)
    truth = pd.read_csv(f"{d}/truth.csv").set_index("change_id").loc[ch.change_id]
    n = len(ch)
    ntest = math.ceil(0.2 * n)
    tr, te = ch.iloc[: n - ntest], ch.iloc[n - ntest:]
    ytr, yte = y[: n - ntest], y[n - ntest:]
    t_test = te.ts.iloc[0]
    ytr_known = ytr & (first[: n - ntest] < t_test)
    print(f"labels: {y.sum()} of {n} ({y.mean():.4f}); unknown ids {unknown}, unattributed {unattr}; "
          f"train pos {ytr.sum()} (known at test start {ytr_known.sum()}), test pos {yte.sum()}; "
          f"true-cause agreement: {np.mean(truth.caused.to_numpy() == y):.4f}")
    rows = {}
    for L in learners:
        j = res.get(f"engine_{L}")
        if j:
            m = j.get("model", j)
            rows[f"engine {L}"] = {"auc": m["roc_auc"], "brier": m["brier"], "ece": m["ece"]}
    if "engine_auto" in res:
        j = res["engine_auto"]
        print("engine: train_positives", j["train_positives"], "test positives", j["model"]["positives"], "learner", j["learner"])
    t0 = time.time()
    p, C = fit_lr(tr, ytr.astype(int), te)
    rows[f"LR (C={C})"] = metrics(p, yte)
    print(f"LR {time.time() - t0:.0f}s", file=sys.stderr)
    for k, p in fit_lgb(tr, ytr.astype(int), te).items():
        rows[k] = metrics(p, yte)
    for k, p in fit_lgb(tr, ytr.astype(int), te, extra=["hour", "weekday"]).items():
        rows[k + "+hour/wd"] = metrics(p, yte)
    rows["oracle"] = metrics(truth.true_p.to_numpy()[n - ntest:], yte)
    base = max(v["auc"] for k, v in rows.items() if (k.startswith("LR") or k.startswith("lgbm")) and "hour" not in k)
    base_brier = min(v["brier"] for k, v in rows.items() if (k.startswith("LR") or k.startswith("lgbm")) and "hour" not in k)
    print(f"\n{d}: test {ntest} changes, {yte.sum()} positives")
    print(f"{'model':28s} {'ROC-AUC':>8s} {'Brier':>8s} {'ECE':>7s}")
    for k, v in rows.items():
        print(f"{k:28s} {v['auc']:8.4f} {v['brier']:8.5f} {v['ece']:7.4f}")
    if "engine auto" in rows:
        e = rows["engine auto"]
        print(f"acceptance (auto): AUC margin {e['auc'] - base:+.4f} (need >= +0.003): {'OK' if e['auc'] - base >= 0.003 else 'FAIL'}; "
              f"Brier {e['brier']:.5f} vs best baseline {base_brier:.5f}: {'OK' if e['brier'] <= base_brier else 'FAIL'}; "
              f"ECE {e['ece']:.4f} < 0.01: {'OK' if e['ece'] < 0.01 else 'FAIL'}")
    json.dump(rows, open(f"{d}/results.json", "w"), indent=1)


if __name__ == "__main__":
    main()
