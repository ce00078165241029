#!/usr/bin/env python3
"""The job changerisk does, done the way a user would without it: pandas and scikit-learn.

    baseline.py train  --changes C --incidents I --model M.pkl
    baseline.py score  --model M.pkl --changes NEW --history C --incidents I --output OUT.csv
    baseline.py verify --changerisk-model model.json --changerisk-scores scored.csv \
                       --changes NEW --history C --incidents I

`train` labels the history (named causes, then the most recent change on the same service
within 24 h), builds the features of changerisk's `builtin_features` (src/features.rs) for
every change, point in time, standardises them and fits a scikit-learn LogisticRegression,
choosing the L2 penalty on the most recent 20% like `changerisk train`. `score` rebuilds the
history features of the changes to score from the past changes and incidents, and writes
`change_id,risk` with `predict_proba`. Each prints one JSON object with the wall time of
each phase and the total (seconds, after the imports) and the row count.

`verify` is not timed: it applies a changerisk model file's scaling and coefficients to the
features computed here and compares with the risks `changerisk score` wrote, to show that
this script computes the same features (the maximum absolute risk difference is printed).

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
]


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
        print(json.dumps({"command": command, "rows": rows, "phases": self.seconds, "total": total}))


def read_changes(path):
    df = pd.read_csv(path)
    df["ts"] = (
        pd.to_datetime(df["timestamp"], utc=True, format="ISO8601") - pd.Timestamp(0, tz="UTC")
    ) // pd.Timedelta(seconds=1)
    df["reviewer_count"] = df["reviewer_count"].fillna(0)
    df["rollback_plan"] = df["rollback_plan"].fillna(False).astype(bool)
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
    changes = pd.DataFrame(
        {"ts": timeline["ts"], "service": timeline["service"], "row": np.arange(len(timeline))}
    ).sort_values("ts", kind="stable")
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


class Events:
    """Event times per key (service or author) in one sorted array of composite keys."""

    SPAN = 1 << 36  # seconds per key slot: ~2000 years

    def __init__(self, codes, times, origin):
        self.origin = origin
        self.sorted = np.sort(self._key(codes, times))

    def _key(self, codes, times):
        return codes.astype(np.int64) * self.SPAN + (np.asarray(times, dtype=np.int64) - self.origin)

    def count_before(self, codes, times):
        """Events of each query's key strictly before its time."""
        first = np.searchsorted(self.sorted, codes.astype(np.int64) * self.SPAN, side="left")
        return np.searchsorted(self.sorted, self._key(codes, times), side="left") - first

    def count_between(self, codes, start, end):
        """Events of each query's key within [start, end)."""
        return np.searchsorted(self.sorted, self._key(codes, end), side="left") - np.searchsorted(
            self.sorted, self._key(codes, start), side="left"
        )

    def last_before(self, codes, times):
        """The time of each query's key's last event strictly before its time (NaN: none)."""
        i = np.searchsorted(self.sorted, self._key(codes, times), side="left") - 1
        found = (i >= 0) & (self.sorted[np.maximum(i, 0)] // self.SPAN == codes)
        return np.where(found, self.sorted[np.maximum(i, 0)] % self.SPAN + self.origin, np.nan)


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

    t, s, a = ts[rows], change_service[rows], author[rows]
    last = service_incidents.last_before(s, t)
    days_since = np.where(np.isnan(last), RECENCY_CAP_DAYS, np.minimum((t - last) / DAY, RECENCY_CAP_DAYS))
    return {
        "service_incidents_7d": service_incidents.count_between(s, t - 7 * DAY, t),
        "service_incidents_30d": service_incidents.count_between(s, t - 30 * DAY, t),
        "days_since_service_incident": days_since,
        "service_changes_7d": services.count_between(s, t - 7 * DAY, t),
        "service_prior_changes": services.count_before(s, t),
        "service_incident_changes": service_caused.count_before(s, t),
        "author_prior_changes": authors.count_before(a, t),
        "author_incident_changes": author_caused.count_before(a, t),
    }


def log1p(x):
    return np.log1p(np.clip(np.asarray(x, dtype=float), 0, None))


def features(timeline, incidents, first, rows):
    """The feature matrix of timeline rows `rows`, columns as in builtin_features()."""
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
        "ai_assisted": is_("ai_involvement", "assisted"),
        "ai_agent": is_("ai_involvement", "agent"),
        "permission_elevated": is_("permission_level", "elevated"),
        "permission_admin": is_("permission_level", "admin"),
        "review_self_approved": is_("review_status", "self_approved"),
        "review_bypassed": is_("review_status", "bypassed"),
        "review_none": is_("review_status", "none"),
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
    for name, day in WEEKDAYS.items():
        f[f"weekday_{name}"] = (weekday == day).astype(float)
    for name, values in history_features(timeline, incidents, first, rows).items():
        f[f"{name}_log"] = log1p(values)
    return pd.DataFrame(f)


def fit(x, y, penalty, warm=None):
    model = LogisticRegression(C=1.0 / (penalty * len(y)), max_iter=MAX_ITERATIONS, warm_start=warm is not None)
    if warm is not None:
        model.coef_, model.intercept_ = warm.coef_.copy(), warm.intercept_.copy()
    return model.fit(x, y)


def train(args):
    phases = Phases()
    changes, incidents = read_changes(args.changes), read_incidents(args.incidents)
    phases.done("read")
    first = first_incident(changes, incidents)
    phases.done("label")
    order = np.argsort(changes["ts"].to_numpy(), kind="stable")
    x = features(changes, incidents, first, order)
    y = ~np.isnan(first[order])
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
        pickle.dump({"scaler": scaler, "model": model, "features": list(x.columns)}, out)
    phases.done("write")
    phases.report("train", len(y))


def prepared_for_scoring(args, phases):
    scored, history = read_changes(args.changes), read_changes(args.history)
    incidents = read_incidents(args.incidents)
    phases.done("read")
    timeline, rows = join_history(history, scored)
    first = first_incident(timeline, incidents)
    phases.done("label")
    x = features(timeline, incidents, first, rows)
    phases.done("features")
    return scored, x


def score(args):
    phases = Phases()
    with open(args.model, "rb") as f:
        saved = pickle.load(f)
    scored, x = prepared_for_scoring(args, phases)
    risk = saved["model"].predict_proba(saved["scaler"].transform(x[saved["features"]]))[:, 1]
    phases.done("predict")
    pd.DataFrame({"change_id": scored["change_id"], "risk": risk}).to_csv(args.output, index=False)
    phases.done("write")
    phases.report("score", len(risk))


def verify(args):
    with open(args.changerisk_model) as f:
        model = json.load(f)
    phases = Phases()
    scored, x = prepared_for_scoring(args, phases)
    names = [f["name"] for f in model["features"]]
    missing = sorted(set(names) ^ set(x.columns))
    if missing:
        sys.exit(f"feature names differ from the changerisk model: {missing}")
    mean = np.array([f["mean"] for f in model["features"]])
    scale = np.array([f["scale"] for f in model["features"]])
    coef = np.array([f["coefficient"] for f in model["features"]])
    logit = model["intercept"] + ((x[names].to_numpy() - mean) / scale) @ coef
    risk = 1 / (1 + np.exp(-logit))
    theirs = pd.read_csv(args.changerisk_scores, usecols=["change_id", "risk"])
    if not (theirs["change_id"].to_numpy() == scored["change_id"].to_numpy()).all():
        sys.exit("the changerisk scores are not in the input order of --changes")
    diff = np.abs(theirs["risk"].to_numpy() - risk)
    print(json.dumps({"rows": len(risk), "max_abs_risk_diff": float(diff.max()), "rows_over_1e-9": int((diff > 1e-9).sum())}))
    if diff.max() > 1e-9:
        sys.exit("the baseline's features do not reproduce changerisk's scores")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
            s.add_argument("--changerisk-scores", required=True, help="CSV written by `changerisk score`")
    args = parser.parse_args()
    {"train": train, "score": score, "verify": verify}[args.command](args)


if __name__ == "__main__":
    main()
