#!/usr/bin/env python3
"""The job changerisk does, done the way a user would without it: pandas and scikit-learn.

    baseline.py train  --changes C --incidents I --model M.pkl
    baseline.py score  --model M.pkl --changes NEW --history C --incidents I --output OUT.csv
    baseline.py verify --changerisk-model model.json --changerisk-scores scored.csv \
                       --changes NEW --history C --incidents I

`train` labels the history (named causes, then the most recent change on the same service
within 24 h), builds the features of changerisk's `builtin_features` and `history_features`
(src/features.rs) for every change, point in time, standardises them and fits a scikit-learn
LogisticRegression, choosing the L2 penalty on the most recent 20% like `changerisk train`.
`score` rebuilds the history features of the changes to score from the past changes and
incidents, and writes `change_id,risk` with `predict_proba`. Each prints one JSON object
with the wall time of each phase and the total (seconds, after the imports) and the row
count.

`verify` is not timed: it computes a changerisk model file's risk from the features computed
here (intercept, coefficients on the standardised features, and each tree's leaf, reached by
sending `x <= threshold` left; the trees also read the change's time) and compares with the
risks `changerisk score` wrote, to show that this script computes the same features and
that the model file alone gives the score (the maximum absolute risk difference is printed).

History features follow SPEC.md: only changes and incidents strictly before a change's
timestamp count, and a past change counts as incident-causing from the start of its first
incident on. They are counted with sorted arrays and `np.searchsorted` (per service or
author, through one composite key), which is O(n log n) and what a competent pandas user
would write; labelling uses `pd.merge_asof`.
"""

import argparse
import json
import pickle
import sys
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

DAY = 86_400
ATTRIBUTION_WINDOW = 24 * 3600
MAX_SEVERITY = 5
RECENCY_CAP_DAYS = 365.0
WORKDAY_START_HOUR, WORKDAY_END_HOUR = 7, 19
PENALTIES = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
VALIDATION_FRACTION = 0.2
MAX_ITERATIONS = 200

CHANGE_TYPES = ["config", "infra", "iam", "database", "feature_flag"]
# The contract's levels as fixed categories: fast comparisons, and tables read from
# different files concatenate without falling back to strings.
LEVELS = {
    "ai_involvement": pd.CategoricalDtype(["none", "assisted", "agent"]),
    "permission_level": pd.CategoricalDtype(["standard", "elevated", "admin"]),
    "review_status": pd.CategoricalDtype(["approved", "self_approved", "bypassed", "none"]),
    "change_type": pd.CategoricalDtype(["code"] + CHANGE_TYPES),
}
WEEKDAYS = {"tue": 1, "wed": 2, "thu": 3, "fri": 4}
HISTORY_COLUMNS = [
    "service_incidents_7d",
    "service_incidents_30d",
    "days_since_service_incident",
    "service_changes_7d",
    "service_prior_changes",
    "service_incident_changes",
    "author_prior_changes",
    "author_incident_changes",
    "author_expected_incidents",
]
SERVICE_EXPECTATION_WEIGHT = 20.0
# A categorical level is pooled into `other` below this share of the training rows.
MIN_LEVEL_SHARE, MIN_LEVEL_ROWS = 0.005, 10


class Phases:
    """Wall-clock time of each phase, printed as JSON at the end."""

    def __init__(self):
        self.start = time.perf_counter()
        self.last = self.start
        self.seconds = {}

    def done(self, name):
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 3)
        self.last = now

    def report(self, command, rows):
        total = round(time.perf_counter() - self.start, 3)
        report = {"command": command, "rows": rows, "phases": self.seconds, "total": total}
        print(json.dumps(report))


def read_changes(path):
    df = pd.read_csv(path, dtype=LEVELS)
    df["ts"] = (
        pd.to_datetime(df["timestamp"], utc=True, format="ISO8601") - pd.Timestamp(0, tz="UTC")
    ) // pd.Timedelta(seconds=1)
    df["reviewer_count"] = df["reviewer_count"].fillna(0)
    df["rollback_plan"] = df["rollback_plan"].fillna(False).astype(bool)
    df["ai_tool"] = df["ai_tool"].fillna("").astype(str)
    return df


def read_incidents(path):
    df = pd.read_csv(path, dtype={"caused_by_change": "str", "severity": "str"})
    df["start"] = (
        pd.to_datetime(df["start_time"], utc=True, format="ISO8601") - pd.Timestamp(0, tz="UTC")
    ) // pd.Timedelta(seconds=1)
    df["severity"] = df["severity"].str.strip().str.lower().str.removeprefix("sev").astype(int)
    return df[df["severity"] <= MAX_SEVERITY].reset_index(drop=True)


def join_history(history, scored):
    """One timeline: past changes not being scored, then the changes to score."""
    past = history[~history["change_id"].isin(scored["change_id"])]
    timeline = pd.concat([past, scored], ignore_index=True)
    return timeline, np.arange(len(past), len(timeline))


def first_incident(timeline, incidents):
    """Per timeline row: the start of the earliest incident linked to it (NaN: none)."""
    names = incidents["caused_by_change"].fillna("").str.split(";").explode().str.strip()
    names = names[names != ""]
    named = pd.DataFrame({"start": incidents["start"].loc[names.index].to_numpy()})
    named["row"] = pd.Index(timeline["change_id"]).get_indexer(names.to_numpy())
    explicit = named[named["row"] >= 0]

    unnamed = incidents.loc[~incidents.index.isin(names.index), ["start", "service"]]
    unnamed = unnamed.sort_values("start", kind="stable")
    # Changes in the same second go by change_id, as changerisk orders them: the last one
    # before an incident is then the greatest id.
    changes = pd.DataFrame(
        {
            "ts": timeline["ts"],
            "id": timeline["change_id"].astype(str),
            "service": timeline["service"],
            "row": np.arange(len(timeline)),
        }
    ).sort_values(["ts", "id"], kind="stable")
    attributed = pd.merge_asof(
        unnamed,
        changes,
        left_on="start",
        right_on="ts",
        by="service",
        direction="backward",
        tolerance=ATTRIBUTION_WINDOW,
    ).dropna(subset=["row"])

    links = pd.concat([explicit[["row", "start"]], attributed[["row", "start"]]])
    first = links.groupby(links["row"].astype(np.int64))["start"].min()
    out = np.full(len(timeline), np.nan)
    out[first.index.to_numpy()] = first.to_numpy()
    return out


SPAN = 1 << 36  # seconds per key slot in a composite key: ~2000 years


class Events:
    """Event times per key (service or author) in one sorted array of composite keys
    `code * SPAN + (time - origin)`, so one `np.searchsorted` counts within a key."""

    def __init__(self, codes, times, origin):
        self.origin = origin
        self.sorted = np.sort(codes.astype(np.int64) * SPAN + (times - origin))

    def position(self, queries, offset=0):
        """For each query, how many events sort before its key's time + `offset`."""
        return np.searchsorted(self.sorted, queries.keys + offset, side="left")[queries.back]


class Queries:
    """The (key, time) of the changes to compute features for, as sorted composite keys
    (sorted queries make `np.searchsorted` walk the events once) and the way back."""

    def __init__(self, codes, times, origin):
        keys = codes.astype(np.int64) * SPAN + (times - origin)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.back = np.empty_like(order)
        self.back[order] = np.arange(len(order))
        self.codes = codes

    def key_start(self, events):
        """For each query, how many events belong to lower keys."""
        slots = np.arange(self.codes.max() + 1, dtype=np.int64) * SPAN
        starts = np.searchsorted(events.sorted, slots)
        return starts[self.codes]

    def count_before(self, events):
        """Events of each query's key strictly before its time."""
        return events.position(self) - self.key_start(events)

    def count_within(self, events, seconds):
        """Events of each query's key within [time - seconds, time)."""
        return events.position(self) - events.position(self, -seconds)

    def last_before(self, events):
        """The time of each query's key's last event strictly before its time (NaN: none)."""
        i = events.position(self) - 1
        event = events.sorted[np.maximum(i, 0)] - self.codes.astype(np.int64) * SPAN
        found = i >= self.key_start(events)
        return np.where(found, event + events.origin, np.nan)


def history_features(timeline, incidents, first, rows):
    """The point-in-time history columns of timeline rows `rows`."""
    service_codes, _ = pd.factorize(pd.concat([timeline["service"], incidents["service"]]))
    change_service = service_codes[: len(timeline)]
    incident_service = service_codes[len(timeline) :]
    author, _ = pd.factorize(timeline["author"])
    ts = timeline["ts"].to_numpy()
    caused = ~np.isnan(first)
    caused_at = np.maximum(ts[caused], first[caused]).astype(np.int64)
    origin = min(ts.min(), incidents["start"].min() if len(incidents) else ts.min()) - 31 * DAY

    services = Events(change_service, ts, origin)
    service_caused = Events(change_service[caused], caused_at, origin)
    service_incidents = Events(incident_service, incidents["start"].to_numpy(), origin)
    authors = Events(author, ts, origin)
    author_caused = Events(author[caused], caused_at, origin)

    # Each change's expected incidents: its service's rate just before it, shrunk towards
    # the whole timeline's rate then; an author's are summed over their earlier changes.
    everyone = np.searchsorted(np.sort(ts), ts, side="left")
    caused_before = np.searchsorted(np.sort(caused_at), ts, side="left")
    overall = np.where(everyone > 0, caused_before / np.maximum(everyone, 1), 0.0)
    each = Queries(change_service, ts, origin)
    w = SERVICE_EXPECTATION_WEIGHT
    expected = (each.count_before(service_caused) + w * overall) / (
        each.count_before(services) + w
    )
    author_keys = author.astype(np.int64) * SPAN + (ts - origin)
    order = np.lexsort((expected, author_keys))
    sorted_keys = author_keys[order]
    running = np.concatenate([[0.0], np.cumsum(expected[order])])

    t = ts[rows]
    by_service = Queries(change_service[rows], t, origin)
    by_author = Queries(author[rows], t, origin)
    last = by_service.last_before(service_incidents)
    days_since = np.where(
        np.isnan(last), RECENCY_CAP_DAYS, np.minimum((t - last) / DAY, RECENCY_CAP_DAYS)
    )
    return {
        "service_incidents_7d": by_service.count_within(service_incidents, 7 * DAY),
        "service_incidents_30d": by_service.count_within(service_incidents, 30 * DAY),
        "days_since_service_incident": days_since,
        "service_changes_7d": by_service.count_within(services, 7 * DAY),
        "service_prior_changes": by_service.count_before(services),
        "service_incident_changes": by_service.count_before(service_caused),
        "author_prior_changes": by_author.count_before(authors),
        "author_incident_changes": by_author.count_before(author_caused),
        "author_expected_incidents": running[
            np.searchsorted(sorted_keys, author_keys[rows], side="left")
        ]
        - running[np.searchsorted(sorted_keys, author[rows].astype(np.int64) * SPAN)],
    }


def log1p(x):
    return np.log1p(np.clip(np.asarray(x, dtype=float), 0, None))


def smoothed_log_odds(hits, trials, prior, weight):
    """The log-odds of hits / trials shrunk towards `prior` with `weight` pseudo-trials."""
    rate = (hits + prior * weight) / (trials + weight)
    return np.log(rate / (1.0 - rate))


def learned_levels(values):
    """The levels of a categorical column that get an indicator, as src/features.rs
    `categorical_features` keeps them: by training frequency (ties by name), those held by
    enough rows; the first is the baseline. None when fewer than two would be told apart."""
    counts = values.value_counts()
    order = sorted(counts.index, key=lambda level: (-counts[level], level))
    least = max(MIN_LEVEL_ROWS, int(np.ceil(MIN_LEVEL_SHARE * len(values))))
    kept = [level for level in order if counts[level] >= least]
    return kept if len(kept) + (len(kept) < len(order)) >= 2 else None


def model_levels(model, column):
    """The levels a changerisk model file keeps for `column` (None: no feature)."""
    for f in model["features"]:
        if f["expr"]["op"] == "other" and f["expr"]["column"] == column:
            return f["expr"]["kept"]
    return None


def features(timeline, incidents, first, rows, base_rate, tools):
    """The feature names and the matrix of timeline rows `rows`: builtin_features(), the
    AI tool's levels (`tools`, from the training rows) and history_features() of
    src/features.rs, in that order. `base_rate`, the training
    positive rate, is the prior of the smoothed incident rates."""
    c = timeline.iloc[rows]
    is_ = lambda column, level: (c[column] == level).to_numpy(dtype=float)  # noqa: E731
    one_of = lambda column, levels: c[column].isin(levels).to_numpy(dtype=float)  # noqa: E731
    ai = one_of("ai_involvement", ["assisted", "agent"])
    privileged = one_of("permission_level", ["elevated", "admin"])
    unreviewed = one_of("review_status", ["self_approved", "bypassed", "none"])
    services_log = log1p(c["services_affected"])
    when = pd.to_datetime(c["ts"], unit="s", utc=True)
    hour, weekday = when.dt.hour.to_numpy(), when.dt.day_of_week.to_numpy()

    f = {
        "ai_any": ai,
        "ai_agent": is_("ai_involvement", "agent"),
        "permission_raised": privileged,
        "permission_admin": is_("permission_level", "admin"),
        "review_not_approved": unreviewed,
        "review_none_or_bypassed": one_of("review_status", ["bypassed", "none"]),
        "review_bypassed": is_("review_status", "bypassed"),
        "reviewers_log": log1p(c["reviewer_count"]),
        "services_affected_log": services_log,
        "regions_affected_log": log1p(c["regions_affected"]),
        "customer_facing": c["customer_facing"].to_numpy(dtype=float),
    }
    for t in CHANGE_TYPES:
        f[f"type_{t}"] = is_("change_type", t)
    f.update(
        {
            "lines_changed_log": log1p(c["lines_changed"]),
            "files_changed_log": log1p(c["files_changed"]),
            "rollback_plan": c["rollback_plan"].to_numpy(dtype=float),
            "ai_x_privileged": ai * privileged,
            "ai_x_unreviewed": ai * unreviewed,
            "privileged_x_unreviewed": privileged * unreviewed,
            "ai_x_privileged_x_unreviewed": ai * privileged * unreviewed,
            "agent_x_unreviewed": is_("ai_involvement", "agent") * unreviewed,
            "pattern_x_blast_radius": ai * privileged * unreviewed * services_log,
            "unreviewed_x_blast_radius": unreviewed * services_log,
            "off_hours": ((hour < WORKDAY_START_HOUR) | (hour >= WORKDAY_END_HOUR)).astype(float),
            "weekend": (weekday >= 5).astype(float),
        }
    )
    for period in [24, 12]:
        f[f"hour_sin_{period}h"] = np.sin(hour * (2 * np.pi / period))
        f[f"hour_cos_{period}h"] = np.cos(hour * (2 * np.pi / period))
    for name, day in WEEKDAYS.items():
        f[f"weekday_{name}"] = (weekday == day).astype(float)
    if tools is not None:
        for level in tools[1:]:
            f[f"ai_tool={level}"] = is_("ai_tool", level)
        f["ai_tool=other"] = 1.0 - one_of("ai_tool", tools)
    history = history_features(timeline, incidents, first, rows)
    for name, values in history.items():
        if name != "author_expected_incidents":  # read by the ratio only
            f[f"{name}_log"] = log1p(values)
    prior = min(max(base_rate, 1e-4), 1 - 1e-4)
    f["service_incident_7d_any"] = (history["service_incidents_7d"] >= 1).astype(float)
    f["service_incident_rate"] = smoothed_log_odds(
        history["service_incident_changes"], history["service_prior_changes"], prior, 20.0
    )
    f["author_incident_rate"] = smoothed_log_odds(
        history["author_incident_changes"], history["author_prior_changes"], prior, 10.0
    )
    pseudo = prior * 30.0
    f["author_incident_ratio"] = np.log(
        (history["author_incident_changes"] + pseudo)
        / (history["author_expected_incidents"] + pseudo)
    )
    x = np.empty((len(rows), len(f)), order="F")
    for j, column in enumerate(f.values()):
        x[:, j] = column
    return list(f), x


def fit(x, y, penalty, warm=None):
    # changerisk's penalty is per row: C = 1 / (penalty x rows).
    model = LogisticRegression(
        C=1.0 / (penalty * len(y)), max_iter=MAX_ITERATIONS, warm_start=warm is not None
    )
    if warm is not None:
        model.coef_, model.intercept_ = warm.coef_.copy(), warm.intercept_.copy()
    return model.fit(x, y)


def train(args):
    phases = Phases()
    changes, incidents = read_changes(args.changes), read_incidents(args.incidents)
    phases.done("read")
    first = first_incident(changes, incidents)
    phases.done("label")
    order = np.lexsort((changes["change_id"].astype(str).to_numpy(), changes["ts"].to_numpy()))
    y = ~np.isnan(first[order])
    base_rate = y.mean()
    tools = learned_levels(changes["ai_tool"].iloc[order])
    names, x = features(changes, incidents, first, order, base_rate, tools)
    phases.done("features")
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    cut = round(len(y) * (1 - VALIDATION_FRACTION))
    best, warm = None, None
    for penalty in PENALTIES:
        model = fit(z[:cut], y[:cut], penalty, warm)
        loss = log_loss(y[cut:], model.predict_proba(z[cut:])[:, 1], labels=[False, True])
        if best is None or loss < best[1]:
            best = (penalty, loss, model)
        warm = model
    model = fit(z, y, best[0], best[2])
    phases.done("fit")
    with open(args.model, "wb") as out:
        saved = {
            "scaler": scaler,
            "model": model,
            "features": names,
            "base_rate": base_rate,
            "tools": tools,
        }
        pickle.dump(saved, out)
    phases.done("write")
    phases.report("train", len(y))


def prepared_for_scoring(args, phases, base_rate, tools):
    scored, history = read_changes(args.changes), read_changes(args.history)
    incidents = read_incidents(args.incidents)
    phases.done("read")
    timeline, rows = join_history(history, scored)
    first = first_incident(timeline, incidents)
    phases.done("label")
    names, x = features(timeline, incidents, first, rows, base_rate, tools)
    phases.done("features")
    return scored, names, x


def score(args):
    phases = Phases()
    with open(args.model, "rb") as f:
        saved = pickle.load(f)
    scored, names, x = prepared_for_scoring(args, phases, saved["base_rate"], saved["tools"])
    if names != saved["features"]:
        sys.exit(f"{args.model} was trained on other features: retrain it")
    risk = saved["model"].predict_proba(saved["scaler"].transform(x))[:, 1]
    phases.done("predict")
    pd.DataFrame({"change_id": scored["change_id"], "risk": risk}).to_csv(args.output, index=False)
    phases.done("write")
    phases.report("score", len(risk))


def tree_values(nodes, x):
    """Each row's leaf value in one tree of a changerisk model file: from the root, `x <=
    threshold` goes left and anything else (a missing value too) right."""
    leaf = np.array(["value" in n for n in nodes])
    get = lambda key, fill: np.array([n.get(key, fill) for n in nodes])  # noqa: E731
    feature, threshold = get("feature", 0), get("threshold", 0.0)
    left, right, value = get("left", 0), get("right", 0), get("value", 0.0)
    at = np.zeros(len(x), dtype=np.int64)
    rows = np.arange(len(x))
    while not leaf[at].all():
        goes_left = x[rows, feature[at]] <= threshold[at]
        at = np.where(leaf[at], at, np.where(goes_left, left[at], right[at]))
    return value[at]


def verify(args):
    with open(args.changerisk_model) as f:
        model = json.load(f)
    phases = Phases()
    # The history rates' prior, as the model file gives it.
    prior = next(
        f["expr"]["prior"] for f in model["features"] if f["expr"]["op"] == "smoothed_log_odds"
    )
    tools = model_levels(model, "ai_tool")
    scored, names, x = prepared_for_scoring(args, phases, prior, tools)
    # The change's own time (Unix seconds), which only the trees read.
    names, x = names + ["time"], np.column_stack([x, scored["ts"].to_numpy(dtype=float)])
    if names != [f["name"] for f in model["features"]]:
        sys.exit(f"feature names differ from the changerisk model's: {names}")
    mean = np.array([f["mean"] for f in model["features"]])
    scale = np.array([f["scale"] for f in model["features"]])
    coef = np.array([f["coefficient"] for f in model["features"]])
    logit = model["intercept"] + ((x - mean) / scale) @ coef
    for tree in model.get("trees", {}).get("trees", []):
        logit += tree_values(tree["nodes"], x)
    risk = 1 / (1 + np.exp(-logit))
    theirs = pd.read_csv(args.changerisk_scores, usecols=["change_id", "risk"])
    if not (theirs["change_id"].to_numpy() == scored["change_id"].to_numpy()).all():
        sys.exit("the changerisk scores are not in the input order of --changes")
    diff = np.abs(theirs["risk"].to_numpy() - risk)
    result = {
        "rows": len(risk),
        "max_abs_risk_diff": float(diff.max()),
        "rows_over_1e-9": int((diff > 1e-9).sum()),
    }
    print(json.dumps(result))
    if diff.max() > 1e-9:
        sys.exit("the baseline's features do not reproduce changerisk's scores")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="label, build features, fit LogisticRegression, pickle")
    t.add_argument("--changes", required=True)
    t.add_argument("--incidents", required=True)
    t.add_argument("--model", required=True)
    for name in ["score", "verify"]:
        s = sub.add_parser(name)
        s.add_argument("--changes", required=True, help="changes to score")
        s.add_argument("--history", required=True, help="past changes")
        s.add_argument("--incidents", required=True)
        if name == "score":
            s.add_argument("--model", required=True, help="written by `baseline.py train`")
            s.add_argument("--output", required=True)
        else:
            s.add_argument("--changerisk-model", required=True)
            s.add_argument(
                "--changerisk-scores", required=True, help="CSV written by `changerisk score`"
            )
    args = parser.parse_args()
    {"train": train, "score": score, "verify": verify}[args.command](args)


if __name__ == "__main__":
    main()
