"""Ideas tried for OpenStack's 0.78 (issue 4): recency weights, Kamei's normalised churn,
additive non-linear models, boosting from the logistic model, label-rate weights, a forest
of extremely randomised trees, time-of-day and activity columns, leaving out the most
recent training rows, trees kept off drifting columns, period steps for the logistic
model, a three-way blend and linear trees, none adopted; and the time as a trees' column frozen at the training end, which
was (changerisk's `time` feature; see benches/README.md, "The change's time for the
trees"). Each is scored the way `benches/README.md`
("Tried for OpenStack's 0.78") reports it: mean ROC-AUC over three rolling-origin
validation folds inside the training 80% (55-70%, 70-85%, 85-100%), then ROC-AUC on the
chronological test 20%, on OpenStack, Columba and five 9,000-change windows of OpenStack.

    VENV=/work/bench-venv-q; $VENV/bin/python benches/tried.py recency|kamei|additive|boosting|rate|forest|clock|latency|drift|frozen|periods|three|linear

Prints `validation/test` per model. Needs numpy, pandas, scikit-learn and lightgbm.
"""

import os
import sys
import tomllib

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "..", "shared", "datasets", "jit")
FOLDS = [(0.55, 0.7), (0.7, 0.85), (0.85, 1.0)]
WINDOWS = [0, 3439, 6878, 10317, 13757]


def load(name):
    """Declared columns, labels and times, sorted by time, as `evaluate` splits them."""
    with open(os.path.join(REPO, "data", "examples", f"{name}.toml"), "rb") as f:
        config = tomllib.load(f)
    frame = pd.read_csv(os.path.join(DATA, f"{name}.csv"))
    columns, features = config["columns"], config["features"]
    names = features.get("numeric", []) + features.get("boolean", [])
    raw = frame[columns["timestamp"]]
    if columns.get("timestamp_format") == "unix":
        t = pd.to_numeric(raw).to_numpy(dtype=float)
    else:
        t = pd.to_datetime(raw, utc=True).astype("int64").to_numpy() / 1e9
    order = np.argsort(t, kind="stable")
    x = frame[names].astype(float).fillna(0.0).to_numpy()[order]
    y = frame[columns["label"]].astype(int).to_numpy()[order]
    return names, x, y, t[order]


def cases():
    for name in ["openstack", "columba"]:
        names, x, y, t = load(name)
        yield name, names, x, y, t
        if name == "openstack":
            for s in WINDOWS:
                w = slice(s, s + 9000)
                yield f"openstack rows {s}", names, x[w], y[w], t[w]


def log1p(x):
    return np.log1p(np.maximum(x, 0.0))


def lr(xtr, ytr, xte, w=None, C=1.0, splines=False):
    steps = [SplineTransformer(n_knots=5, degree=3, knots="quantile", extrapolation="constant")] if splines else []
    model = make_pipeline(*steps, StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    model.fit(log1p(xtr), ytr, logisticregression__sample_weight=w)
    return model.predict_proba(log1p(xte))[:, 1]


def gbm(xtr, ytr, xte, w=None, **params):
    return lgb.LGBMClassifier(verbose=-1, **params).fit(xtr, ytr, sample_weight=w).predict_proba(xte)[:, 1]


def score(fit, x, y, t):
    """(mean validation ROC-AUC over the folds, test ROC-AUC); `fit(xtr, ytr, ttr, xte)`."""
    cut = int(0.8 * len(y))
    folds = [(int(cut * a), int(cut * b)) for a, b in FOLDS]
    val = np.mean([roc_auc_score(y[a:b], fit(x[:a], y[:a], t[:a], x[a:b])) for a, b in folds])
    test = roc_auc_score(y[cut:], fit(x[:cut], y[:cut], t[:cut], x[cut:]))
    return val, test


def recency(names, x, y, t):
    """Rows weighted 0.5 ** (age / half-life), half-life a fraction of the training span."""
    out = {}
    for frac in [None, 1.0, 0.5, 0.25]:
        def weights(ttr):
            if frac is None:
                return None
            w = 0.5 ** ((ttr.max() - ttr) / (frac * (ttr.max() - ttr.min())))
            return w * len(w) / w.sum()
        label = "none" if frac is None else f"half-life {frac}"
        out[f"LR {label}"] = score(lambda a, b, c, d: lr(a, b, d, weights(c)), x, y, t)
        out[f"LightGBM {label}"] = score(lambda a, b, c, d: gbm(a, b, d, weights(c)), x, y, t)
    return out


def kamei(names, x, y, t):
    """la/lt, ld/lt, lt/nf and nuc/nf (Kamei et al. 2013) added to or replacing the raw ones."""
    ix = {n: i for i, n in enumerate(names)}
    if "nuc" not in ix:
        return {}
    nf, lt = np.maximum(x[:, ix["nf"]], 1), x[:, ix["lt"]]
    extra = {"la": x[:, ix["la"]] / np.maximum(lt, 1), "ld": x[:, ix["ld"]] / np.maximum(lt, 1), "lt": lt / nf, "nuc": x[:, ix["nuc"]] / nf}
    added = np.column_stack([x] + list(extra.values()))
    replaced = x.copy()
    for n, v in extra.items():
        replaced[:, ix[n]] = v
    out = {}
    for label, m in [("raw", x), ("added", added), ("replacing", replaced)]:
        out[f"LR {label}"] = score(lambda a, b, c, d: lr(a, b, d), m, y, t)
        out[f"LightGBM {label}"] = score(lambda a, b, c, d: gbm(a, b, d), m, y, t)
    return out


def additive(names, x, y, t):
    """Per-feature non-linear, interaction-free models against plain LR."""
    return {
        "LR": score(lambda a, b, c, d: lr(a, b, d), x, y, t),
        "splines C=1": score(lambda a, b, c, d: lr(a, b, d, splines=True), x, y, t),
        "splines C=0.1": score(lambda a, b, c, d: lr(a, b, d, C=0.1, splines=True), x, y, t),
        "stumps 200": score(lambda a, b, c, d: gbm(a, b, d, max_depth=1, num_leaves=2, n_estimators=200, learning_rate=0.1), x, y, t),
        "stumps 500": score(lambda a, b, c, d: gbm(a, b, d, max_depth=1, num_leaves=2, n_estimators=500, learning_rate=0.1), x, y, t),
        "depth 2": score(lambda a, b, c, d: gbm(a, b, d, max_depth=2, num_leaves=4, n_estimators=300, learning_rate=0.05), x, y, t),
    }


def lr_logits(xtr, ytr, xte, C=0.1):
    """LR log-odds on the training rows and on `xte`."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    model.fit(log1p(xtr), ytr)
    return model.decision_function(log1p(xtr)), model.decision_function(log1p(xte))


def boosted(xtr, ytr, xte, trees, start=None, **params):
    """LightGBM log-odds (31 leaves, half the rows per tree, as changerisk's candidates),
    optionally boosted from `start = (train log-odds, test log-odds)`."""
    settings = dict(num_leaves=31, min_child_samples=20, learning_rate=0.08, subsample=0.5, subsample_freq=1)
    settings.update(params)
    model = lgb.LGBMClassifier(n_estimators=trees, verbose=-1, **settings)
    model.fit(xtr, ytr, init_score=None if start is None else start[0])
    return model.predict(xte, raw_score=True) + (0.0 if start is None else start[1])


def boosting(names, x, y, t):
    """Trees boosted from the logistic model's log-odds (LR as the starting score, trees
    fitting what it leaves), and DART (trees dropped at random while boosting), against
    the 40% logistic blend changerisk chooses on OpenStack."""
    out = {
        "LR": score(lambda a, b, c, d: lr_logits(a, b, d)[1], x, y, t),
        "trees 60": score(lambda a, b, c, d: boosted(a, b, d, 60), x, y, t),
        "blend 40%": score(lambda a, b, c, d: 0.4 * lr_logits(a, b, d)[1] + 0.6 * boosted(a, b, d, 60), x, y, t),
    }
    for n in [20, 50, 100]:
        out[f"from LR {n}"] = score(lambda a, b, c, d: boosted(a, b, d, n, lr_logits(a, b, d), learning_rate=0.04), x, y, t)
    dart = dict(boosting_type="dart", learning_rate=0.1)
    out["DART 100"] = score(lambda a, b, c, d: boosted(a, b, d, 100, **dart), x, y, t)
    out["DART 100 blend 40%"] = score(lambda a, b, c, d: 0.4 * lr_logits(a, b, d)[1] + 0.6 * boosted(a, b, d, 100, **dart), x, y, t)
    return out


def rate_weights(y, buckets=10):
    """Weights that give each tenth of the training rows (by time) the overall positive
    rate, so a feature that only tracks the label rate's drift carries no signal."""
    n, overall = len(y), y.mean()
    w = np.ones(n)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    for a, b in zip(edges[:-1], edges[1:]):
        r = y[a:b].mean()
        if 0 < r < 1:
            w[a:b] = np.where(y[a:b] == 1, overall / r, (1 - overall) / (1 - r))
    return w * n / w.sum()


def rate(names, x, y, t):
    """Training rows reweighted to a constant label rate over time (SZZ labels thin out
    towards the end of a history), for LR, trees and the 40% blend."""
    def lr_w(a, b, d, w=None):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
        model.fit(log1p(a), b, logisticregression__sample_weight=w)
        return model.decision_function(log1p(d))

    def trees_w(a, b, d, w=None):
        settings = dict(num_leaves=31, min_child_samples=20, learning_rate=0.08, subsample=0.5, subsample_freq=1)
        model = lgb.LGBMClassifier(n_estimators=60, verbose=-1, **settings).fit(a, b, sample_weight=w)
        return model.predict(d, raw_score=True)

    out = {}
    for label, weigh in [("", lambda b: None), (" reweighted", rate_weights)]:
        out[f"LR{label}"] = score(lambda a, b, c, d: lr_w(a, b, d, weigh(b)), x, y, t)
        out[f"trees{label}"] = score(lambda a, b, c, d: trees_w(a, b, d, weigh(b)), x, y, t)
        out[f"blend{label}"] = score(
            lambda a, b, c, d: 0.4 * lr_w(a, b, d, weigh(b)) + 0.6 * trees_w(a, b, d, weigh(b)), x, y, t
        )
    return out


def quantile_bins(a, d, k=64):
    """Training columns `a` and test columns `d` as bin numbers of `k` quantile bins of `a`
    (changerisk's trees split on such bins)."""
    A, D = np.empty_like(a), np.empty_like(d)
    for j in range(a.shape[1]):
        edges = np.unique(np.quantile(a[:, j], np.linspace(0, 1, k + 1)[1:-1]))
        A[:, j] = np.searchsorted(edges, a[:, j], side="right")
        D[:, j] = np.searchsorted(edges, d[:, j], side="right")
    return A, D


def extra_trees(a, b, d, max_leaves=None, max_depth=None, trees=100, prior=2.0):
    """Extremely randomised trees (scikit-learn's `ExtraTreesClassifier`, 5 rows per leaf,
    half the features per split) on quantile bins; each leaf's log-odds smoothed by
    `prior` pseudo-rows at the training rate, averaged over the trees (so the trees add
    up to the score, as TreeSHAP needs)."""
    from sklearn.ensemble import ExtraTreesClassifier

    A, D = quantile_bins(a, d)
    model = ExtraTreesClassifier(
        n_estimators=trees, min_samples_leaf=5, max_features=0.5, max_leaf_nodes=max_leaves,
        max_depth=max_depth, n_jobs=2, random_state=0,
    ).fit(A, b)
    rate, out = b.mean(), np.zeros(len(d))
    la, ld = model.apply(A), model.apply(D)
    for t in range(la.shape[1]):
        size = max(la[:, t].max(), ld[:, t].max()) + 1
        n = np.bincount(la[:, t], minlength=size).astype(float)
        pos = np.bincount(la[:, t], weights=b.astype(float), minlength=size)
        out += np.log((pos + prior * rate) / (n - pos + prior * (1 - rate)))[ld[:, t]]
    return out / la.shape[1]


def forest(names, x, y, t):
    """A forest of extremely randomised trees, alone and in a 50% logistic blend, with
    unbounded trees (depth 10) and with at most 256 or 64 leaves, against the 40% blend
    of logistic regression and boosted trees."""
    out = {
        "LR": score(lambda a, b, c, d: lr_logits(a, b, d)[1], x, y, t),
        "blend 40%": score(lambda a, b, c, d: 0.4 * lr_logits(a, b, d)[1] + 0.6 * boosted(a, b, d, 60), x, y, t),
    }
    for label, leaves, depth in [("depth 10", None, 10), ("256 leaves", 256, None), ("64 leaves", 64, None)]:
        out[f"forest {label}"] = score(lambda a, b, c, d: extra_trees(a, b, d, leaves, depth), x, y, t)
        out[f"forest {label} + LR"] = score(
            lambda a, b, c, d: 0.5 * lr_logits(a, b, d)[1] + 0.5 * extra_trees(a, b, d, leaves, depth), x, y, t
        )
    return out


def clock_features(t, kinds):
    """Columns derived from the change times alone: `h` hour of day (UTC, as sine and
    cosine), `w` weekend and Friday flags, `a` log1p of the changes in the day and the
    week strictly before (project activity; equal times do not count each other)."""
    cols = []
    if "h" in kinds:
        hours = (t % 86400) / 3600.0
        cols += [np.sin(2 * np.pi * hours / 24), np.cos(2 * np.pi * hours / 24)]
    if "w" in kinds:
        weekday = ((t // 86400) + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        cols += [(weekday >= 5).astype(float), (weekday == 4).astype(float)]
    if "a" in kinds:
        before = np.searchsorted(t, t, side="left")
        for span in [86400, 7 * 86400]:
            cols.append(np.log1p(before - np.searchsorted(t, t - span, side="left")))
    return np.column_stack(cols) if cols else np.zeros((len(t), 0))


def clock(names, x, y, t):
    """Time-of-day, weekday and recent-activity columns added for LR and the 40% blend."""
    out = {}
    for kinds in ["", "h", "w", "a", "hwa"]:
        extra = clock_features(t, kinds)

        def fit(a, b, c, d, extra=extra, trees=True):
            n, m = len(a), len(d)
            xa, xd = np.hstack([a, extra[:n]]), np.hstack([d, extra[n : n + m]])
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=5000))
            model.fit(np.hstack([log1p(a), extra[:n]]), b)
            logit = model.decision_function(np.hstack([log1p(d), extra[n : n + m]]))
            return 0.4 * logit + 0.6 * boosted(xa, b, xd, 60) if trees else logit

        label = kinds or "none"
        out[f"LR {label}"] = score(lambda a, b, c, d: fit(a, b, c, d, trees=False), x, y, t)
        out[f"blend {label}"] = score(fit, x, y, t)
    return out


def latency(names, x, y, t):
    """The most recent 5%, 10% or 20% of the training rows left out (their SZZ labels had
    the least time to be found), for LR and the 40% blend."""
    out = {}
    for drop in [0.0, 0.05, 0.1, 0.2]:
        def keep(a, b, drop=drop):
            k = int(len(a) * (1 - drop))
            return a[:k], b[:k]

        out[f"LR -{drop:.0%}"] = score(lambda a, b, c, d: lr_logits(*keep(a, b), d)[1], x, y, t)
        out[f"blend -{drop:.0%}"] = score(
            lambda a, b, c, d: 0.4 * lr_logits(*keep(a, b), d)[1] + 0.6 * boosted(*keep(a, b), d, 60), x, y, t
        )
    return out


def drift(names, x, y, t):
    """Trees kept off the columns that drift with time (|Spearman correlation with the row
    order of the training rows| above a threshold; those stay with LR), in the 40% blend."""
    from scipy.stats import spearmanr

    def fit(a, b, c, d, threshold):
        order = np.arange(len(a))
        steady = np.array([a[:, j].std() == 0 or abs(spearmanr(a[:, j], order).statistic) <= threshold
                           for j in range(a.shape[1])])
        logits = lr_logits(a, b, d)[1]
        if not steady.any():
            return logits
        return 0.4 * logits + 0.6 * boosted(a[:, steady], b, d[:, steady], 60)

    return {f"blend, trees off |rho| > {r}": score(lambda a, b, c, d, r=r: fit(a, b, c, d, r), x, y, t)
            for r in [1.0, 0.2, 0.1]}


def frozen(names, x, y, t):
    """The change's time as one more column for the trees (its share of the training span,
    or its row's share of the training rows), set to the training end when predicting,
    so a split on it can separate an earlier regime from the latest one; in the 40%
    blend (LR does not take it: a column that is constant at prediction only moves the
    intercept)."""
    def fit(a, b, c, d, kind):
        if kind == "time":
            clock = (c - c.min()) / max(c.max() - c.min(), 1.0)
        else:
            clock = np.arange(len(a)) / max(len(a) - 1, 1)
        trees = boosted(np.column_stack([a, clock]), b, np.column_stack([d, np.ones(len(d))]), 60)
        return 0.4 * lr_logits(a, b, d)[1] + 0.6 * trees

    out = {"blend": score(lambda a, b, c, d: 0.4 * lr_logits(a, b, d)[1] + 0.6 * boosted(a, b, d, 60), x, y, t)}
    for kind in ["time", "row"]:
        out[f"blend, trees + {kind}"] = score(lambda a, b, c, d, k=kind: fit(a, b, c, d, k), x, y, t)
    return out


def periods(names, x, y, t):
    """Period steps for LR: one `time >= edge` column per decile of the training times
    (all 1 when predicting, so the level is the latest period's, as the trees' time gives
    it), alone and in the 40% blend with the trees given the time."""
    def steps(c, at, k=10):
        edges = np.quantile(c, np.arange(1, k) / k)
        return (at[:, None] >= edges[None, :]).astype(float)

    def lr_steps(a, b, c, d, C=0.1):
        za, zd = log1p(a), log1p(d)
        scaler = StandardScaler().fit(za)
        fa = np.column_stack([scaler.transform(za), steps(c, c)])
        fd = np.column_stack([scaler.transform(zd), np.ones((len(d), 9))])
        return LogisticRegression(C=C, max_iter=5000).fit(fa, b).decision_function(fd)

    def trees(a, b, c, d):
        clock = (c - c.min()) / max(c.max() - c.min(), 1.0)
        return boosted(np.column_stack([a, clock]), b, np.column_stack([d, np.ones(len(d))]), 60)

    return {
        "LR": score(lambda a, b, c, d: lr_logits(a, b, d)[1], x, y, t),
        "LR + steps": score(lr_steps, x, y, t),
        "blend": score(lambda a, b, c, d: 0.4 * lr_logits(a, b, d)[1] + 0.6 * trees(a, b, c, d), x, y, t),
        "blend, LR + steps": score(lambda a, b, c, d: 0.4 * lr_steps(a, b, c, d) + 0.6 * trees(a, b, c, d), x, y, t),
    }


def three(names, x, y, t):
    """A three-way blend: LR, 7-leaf and 31-leaf trees (given the time), weights in tenths
    chosen by mean fold ROC-AUC, against the two-way blends changerisk chooses among (LR
    with either tree setting). Printed as validation/test of the chosen weights."""
    cut = int(0.8 * len(y))
    spans = [(int(cut * a), int(cut * b)) for a, b in FOLDS] + [(cut, len(y))]
    parts = []
    for a, b in spans:
        clock = (t[:a] - t[:a].min()) / max(t[:a].max() - t[:a].min(), 1.0)
        xa, xd = np.column_stack([x[:a], clock]), np.column_stack([x[a:b], np.ones(b - a)])
        parts.append((y[a:b], {
            "lr": lr_logits(x[:a], y[:a], x[a:b])[1],
            "t7": boosted(xa, y[:a], xd, 120, num_leaves=7),
            "t31": boosted(xa, y[:a], xd, 60),
        }))
    *folds, (yt, lt) = parts
    ws = [round(0.1 * i, 1) for i in range(1, 10)]
    two = [{"lr": w, k: round(1 - w, 1)} for k in ["t7", "t31"] for w in ws]
    three = two + [{"lr": a, "t7": b, "t31": round(1 - a - b, 1)} for a in ws for b in ws if 1 - a - b > 0.05]

    def auc(yv, logits, w):
        return roc_auc_score(yv, sum(v * logits[k] for k, v in w.items()))

    out = {}
    for label, combos in [("two-way", two), ("three-way", three)]:
        val, w = max(((np.mean([auc(yv, l, w) for yv, l in folds]), w) for w in combos),
                     key=lambda pair: pair[0])
        out[label] = (val, auc(yt, lt, w))
    return out


def linear(names, x, y, t):
    """LightGBM's linear trees (`linear_tree`: each leaf a ridge regression on the leaf's
    rows, penalty 1, over log1p of the columns, so a tree extrapolates the way the logistic
    model does) given the time, 31 leaves / 60 trees and 7 leaves / 100 trees, alone and
    in the 40% blend, against the same trees with constant leaves."""
    def trees(a, b, c, d, n=60, **params):
        clock = (c - c.min()) / max(c.max() - c.min(), 1.0)
        return boosted(np.column_stack([log1p(a), clock]), b, np.column_stack([log1p(d), np.ones(len(d))]), n, **params)

    def blend(a, b, c, d, **params):
        return 0.4 * lr_logits(a, b, d)[1] + 0.6 * trees(a, b, c, d, **params)

    lin = dict(linear_tree=True, linear_lambda=1.0)
    return {
        "LR": score(lambda a, b, c, d: lr_logits(a, b, d)[1], x, y, t),
        "trees": score(trees, x, y, t),
        "linear trees": score(lambda a, b, c, d: trees(a, b, c, d, **lin), x, y, t),
        "linear, 7 leaves": score(lambda a, b, c, d: trees(a, b, c, d, 100, num_leaves=7, **lin), x, y, t),
        "blend": score(blend, x, y, t),
        "blend, linear trees": score(lambda a, b, c, d: blend(a, b, c, d, **lin), x, y, t),
    }


def main():
    ideas = {
        "recency": recency, "kamei": kamei, "additive": additive, "boosting": boosting, "rate": rate,
        "forest": forest, "clock": clock, "latency": latency, "drift": drift, "frozen": frozen,
        "periods": periods, "three": three, "linear": linear,
    }
    idea = ideas.get(sys.argv[1] if len(sys.argv) > 1 else "")
    if idea is None:
        sys.exit("usage: tried.py " + "|".join(ideas))
    for case, names, x, y, t in cases():
        results = idea(names, x, y, t)
        cells = "  ".join(f"{k} {v:.4f}/{te:.4f}" for k, (v, te) in results.items())
        print(f"{case:20s} {cells}", flush=True)


if __name__ == "__main__":
    main()
