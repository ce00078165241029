"""LightGBM and scikit-learn's LogisticRegression on changerisk's own design matrix,
doing the model selection `changerisk train` does (see benches/train_speed.sh).

Reads the `feature_<name>` columns (model order) and `label` of an exported `changes`
table, and the selection settings from the model file. Prints JSON: per learner the
median wall time of the selection (every candidate on every rolling-origin fold, early
stopping for trees, refit on all rows) and of one plain fit on all rows.
"""

import argparse
import json
import os
import statistics
import time

import lightgbm as lgb
import numpy as np
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression


def folds(n, p):
    """changerisk's rolling-origin folds (src/train.rs, `rolling_origin`)."""
    start = max(n - p["selection_rows"], 0)
    horizon = int((n - start) * p["validation_fraction"])
    step = horizon // p["folds"]
    first = n - horizon - step * (p["folds"] - 1)
    out = []
    for k in range(p["folds"]):
        v = first + k * step
        out.append((start, v, n if k + 1 == p["folds"] else v + horizon))
    return out


def logistic_selection(z, y, p):
    n = len(y)
    best = None
    for penalty in p["penalties"]:
        losses = []
        for a, v, e in folds(n, p):
            # changerisk minimises mean log loss + penalty / 2 |w|^2; scikit-learn
            # minimises C x summed log loss + 1/2 |w|^2.
            m = LogisticRegression(C=1.0 / (penalty * (v - a)), max_iter=200)
            m.fit(z[a:v], y[a:v])
            prob = np.clip(m.predict_proba(z[v:e])[:, 1], 1e-15, 1 - 1e-15)
            losses.append(-np.mean(y[v:e] * np.log(prob) + (1 - y[v:e]) * np.log(1 - prob)))
        if best is None or np.mean(losses) < best[0]:
            best = (np.mean(losses), penalty)
    LogisticRegression(C=1.0 / (best[1] * n), max_iter=200).fit(z, y)


def candidates(t):
    """Every leaf count x rows per leaf x learning rate x L2, as changerisk tries them.
    (Model files before the last two were lists hold one number each.)"""
    as_list = lambda v: v if isinstance(v, list) else [v]
    for leaves in t["leaves"]:
        for min_rows in t["min_leaf_rows"]:
            for rate in as_list(t["learning_rate"]):
                for l2 in as_list(t["l2"]):
                    yield leaves, min_rows, rate, l2


def tree_params(t, leaves, min_rows, rate, l2, monotone, threads, rows):
    # changerisk grows each tree from `subsample` of the rows, at most
    # `max_rows_per_tree` of them: LightGBM bags the same share (model files before
    # format 4 have no `subsample`: every row).
    share = min(t.get("subsample", 1.0), t["max_rows_per_tree"] / rows if t["max_rows_per_tree"] else 1.0)
    bagging = {"bagging_fraction": share, "bagging_freq": 1, "bagging_seed": 7} if share < 1.0 else {}
    return {**bagging,
        "objective": "binary",
        "learning_rate": rate,
        "num_leaves": leaves,
        "max_depth": t["max_depth"],
        "min_data_in_leaf": min_rows,
        "lambda_l2": l2,
        "max_bin": t["max_bins"],
        "monotone_constraints": monotone,
        "num_threads": threads,
        "deterministic": True,
        "verbose": -1,
    }


def gbdt_selection(x, y, p, monotone, threads):
    n = len(y)
    t = p["trees"]
    best = None
    for leaves, min_rows, rate, l2 in candidates(t):
        losses, rounds = [], []
        for a, v, e in folds(n, p):
            params = tree_params(t, leaves, min_rows, rate, l2, monotone, threads, v - a)
            train = lgb.Dataset(x[a:v], y[a:v], params={"max_bin": t["max_bins"]})
            valid = lgb.Dataset(x[v:e], y[v:e], reference=train)
            b = lgb.train(
                params,
                train,
                num_boost_round=t["max_trees"],
                valid_sets=[valid],
                callbacks=[lgb.early_stopping(t["early_stopping"], verbose=False)],
            )
            losses.append(b.best_score["valid_0"]["binary_logloss"])
            rounds.append(b.best_iteration)
        if best is None or np.mean(losses) < best[0]:
            best = (np.mean(losses), (leaves, min_rows, rate, l2), max(1, round(np.mean(rounds))))
    params = tree_params(t, *best[1], monotone, threads, n)
    lgb.train(params, lgb.Dataset(x, y, params={"max_bin": t["max_bins"]}), num_boost_round=best[2])


def timed(f, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    model = json.load(open(args.model))
    p = model["params"]
    names = [f["name"] for f in model["features"]]
    monotone = [f.get("monotone", 0) for f in model["features"]]
    table = pq.read_table(args.table, columns=[f"feature_{n}" for n in names] + ["label"])
    x = np.column_stack([table.column(f"feature_{n}").to_numpy() for n in names]).astype(np.float64)
    y = table.column("label").to_numpy().astype(np.int64)
    scale = x.std(axis=0)
    scale[scale <= 1e-12] = 1.0
    z = (x - x.mean(axis=0)) / scale
    threads = os.cpu_count()
    out = {}
    for name, selection, single in [
        (
            "logistic",
            lambda: logistic_selection(z, y, p),
            lambda: LogisticRegression(max_iter=200).fit(z, y),
        ),
        (
            "gbdt",
            lambda: gbdt_selection(x, y, p, monotone, threads),
            lambda: lgb.train(
                # A plain fit: every row for every tree.
                tree_params(
                    {**p["trees"], "subsample": 1.0, "max_rows_per_tree": 0},
                    31, 20, *next(candidates(p["trees"]))[2:], [0] * len(names), threads, len(y),
                ),
                lgb.Dataset(x, y),
                num_boost_round=100,
            ),
        ),
    ]:
        sel, sel_all = timed(selection, args.runs)
        one, one_all = timed(single, args.runs)
        out[name] = {
            "selection_median": sel,
            "selection_runs": sel_all,
            "single_median": one,
            "single_runs": one_all,
        }
    out["rows"], out["features"] = int(len(y)), len(names)
    out["versions"] = {"lightgbm": lgb.__version__, "scikit-learn": __import__("sklearn").__version__}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
