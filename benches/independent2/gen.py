#!/usr/bin/env python3
"""Independent change/incident history generator for testing changerisk (written from
SPEC.md only; its process is NOT the project's generator nor benches/independent_gen.py).

    gen.py --variant {additive,nonlinear,history,drift} --seed S --out DIR
           [--changes 200000] [--days 730] [--services 50] [--authors 400] [--rate 0.07]

Writes DIR/changes.csv, DIR/incidents.csv (SPEC columns) and DIR/truth.csv
(change_id, true_p: the probability this process used for "the change causes an incident").

Population (common to all variants)
  * services: Zipf-ish traffic, a tier (customer facing share), a latent risk, a change-type mix;
  * authors: 400, each with 1-3 home services, a join date (some join late), an AI propensity
    (rising over time), a carefulness latent; ~6% are "bot" authors that mostly act as agents;
  * change columns are drawn with realistic dependences (iam/infra -> elevated/admin,
    agent -> more self-approval/bypass, config/feature_flag -> few lines, infra -> wide blast).
True probability per variant (log-odds unless said):
  additive  : additive log-odds + AI x permission x review interactions + ai_tool effect;
  nonlinear : thresholds on lines/files, a risky (service, change_type) subset, hour/weekend
              effects, author inexperience decaying with prior changes + rustiness after a
              long gap, AI only risky for database/infra/iam; noisy-AND style terms;
  history   : self-exciting: services with incidents in the last 7 days (point-in-time) and
              latent bad-periods are riskier; authors with past incident-causing changes
              (incidents already started) are riskier; simulated sequentially;
  drift     : base rate rises, agent effect grows, elevated-permission effect fades,
              feature_flag becomes risky after 60% of the span, AI adoption rises.
Incidents: a causing change yields an incident starting lognormal(median ~70 min) later, on
its service (sometimes a downstream one when services_affected > 1); ~55% name their cause
(caused_by_change), the rest rely on the 24h attribution window; ~3% name two changes;
background incidents (unrelated) at a per-service rate; a few name an unknown id.
"""
import argparse
import bisect
import os

import numpy as np
import pandas as pd

TYPES = np.array(["code", "config", "infra", "iam", "database", "feature_flag"])
TOOLS = np.array(["copilot", "cursor", "claude-code", "kiro", "amazon-q", "windsurf"])
AI_LV = np.array(["none", "assisted", "agent"])
PERM_LV = np.array(["standard", "elevated", "admin"])
REV_LV = np.array(["approved", "self_approved", "bypassed", "none"])
DAY = 86400.0
TZ_SHIFT = 0.0       # hours added to the working-day centre (UTC 14:30 by default)
NAMED = 0.55         # share of change-caused incidents naming their cause
DELAY_MED = 70.0     # minutes, median delay change -> incident


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit(p):
    return np.log(p / (1 - p))


def fit_shift(z, target, extra=None):
    """intercept shift so that mean(sigmoid(z + s)) == target."""
    lo, hi = -15.0, 15.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if sigmoid(z + mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def population(rng, n, days, n_svc, n_auth):
    # services
    svc_w = 1.0 / np.arange(1, n_svc + 1) ** 0.9
    svc_w = rng.permutation(svc_w / svc_w.sum())
    svc_names = np.array([f"svc-{w}" for w in rng.choice(
        ["pay", "auth", "cart", "search", "feed", "notif", "edge", "db", "img", "geo", "ml", "api"],
        n_svc)])
    svc_names = np.array([f"{s}-{i:02d}" for i, s in enumerate(svc_names)])
    svc_cf = rng.beta(2, 2, n_svc)  # share of customer-facing changes
    svc_risk = rng.normal(0, 0.45, n_svc)
    svc_typemix = rng.dirichlet(np.array([5, 2, 1.2, .5, .8, 1.5]) * 2, n_svc)
    svc_regions = rng.choice([1, 2, 3, 4, 6], n_svc, p=[.3, .25, .2, .15, .1])
    # authors
    bot = rng.random(n_auth) < 0.06
    auth_names = np.array([(f"bot-{i:03d}" if b else f"dev{i:03d}") for i, b in enumerate(bot)])
    join = np.where(rng.random(n_auth) < 0.6, 0.0, rng.uniform(0, days * 0.95, n_auth)) * DAY
    leave = np.where(rng.random(n_auth) < 0.15, join + rng.uniform(60, 500, n_auth) * DAY, np.inf)
    auth_act = rng.lognormal(0, 1.0, n_auth)
    auth_ai = rng.beta(2, 4, n_auth)
    auth_care = rng.normal(0, 0.35, n_auth)
    homes = [rng.choice(n_svc, size=rng.integers(1, 4), replace=False, p=svc_w) for _ in range(n_auth)]
    # timestamps: weekday-heavy, business-hours-heavy, growing volume
    u = rng.random(n * 3)
    a = 0.5  # density a + (1-a) x on [0, 1]: volume doubles over the span
    t_day = days * (-a + np.sqrt(a * a + (1 - a) * u * (1 + a))) / (1 - a)
    dayi = np.floor(t_day)
    # weekday of day index (epoch day 2025-01-06 is Monday)
    start = pd.Timestamp("2025-01-06T00:00:00Z").value // 10 ** 9
    wd = ((dayi).astype(int)) % 7
    keep = (wd < 5) | (rng.random(n * 3) < 0.18)
    dayi = dayi[keep][:n]
    hr = (np.where(rng.random(n) < 0.88, rng.normal(14.5, 3.2, n), rng.uniform(0, 24, n)) + TZ_SHIFT) % 24
    ts = start + dayi * DAY + hr * 3600
    ts = np.sort(np.floor(ts)).astype(np.int64) - start
    return dict(svc_w=svc_w, svc_names=svc_names, svc_cf=svc_cf, svc_risk=svc_risk,
                svc_typemix=svc_typemix, svc_regions=svc_regions, bot=bot,
                auth_names=auth_names, join=join, leave=leave, auth_act=auth_act,
                auth_ai=auth_ai, auth_care=auth_care, homes=homes, ts=ts, start=start)


def draw_changes(rng, P, days):
    ts = P["ts"]
    n = len(ts)
    n_auth = len(P["auth_names"])
    frac = ts / (days * DAY)
    # authors active at t, weighted by activity
    auth = np.empty(n, dtype=np.int64)
    blocks = np.array_split(np.arange(n), 200)
    for b in blocks:
        t = ts[b[0]]
        ok = (P["join"] <= t) & (P["leave"] > t)
        w = P["auth_act"] * ok
        auth[b] = rng.choice(n_auth, size=len(b), p=w / w.sum())
    svc = np.array([rng.choice(P["homes"][a]) if rng.random() < 0.85 else -1 for a in auth])
    other = svc < 0
    svc[other] = rng.choice(len(P["svc_w"]), other.sum(), p=P["svc_w"])
    ctype_i = np.array([rng.choice(6, p=P["svc_typemix"][s]) for s in svc])
    bot = P["bot"][auth]
    # AI involvement: propensity rising with time
    pa = np.clip(P["auth_ai"][auth] * (0.5 + 1.2 * frac), 0, 0.95)
    r = rng.random(n)
    ai_i = np.where(bot, np.where(rng.random(n) < 0.85, 2, 1),
                    np.where(r < pa * 0.25, 2, np.where(r < pa, 1, 0)))
    tool_pref = rng.integers(0, len(TOOLS), n_auth)
    tool_i = np.where(rng.random(n) < 0.75, tool_pref[auth], rng.integers(0, len(TOOLS), n))
    ai_tool = np.where(ai_i > 0, TOOLS[tool_i], "")
    # permission by type and AI/bot
    base_perm = np.array([0.10, 0.20, 0.55, 0.75, 0.45, 0.08])[ctype_i] + 0.15 * (ai_i == 2)
    r = rng.random(n)
    perm_i = np.where(r < base_perm * 0.35, 2, np.where(r < base_perm, 1, 0))
    # review: worse for agents, admin, small configs, hotfix hours
    p_app = 0.82 - 0.15 * (ai_i == 2) - 0.10 * (perm_i == 2) - 0.08 * (ctype_i == 5)
    r = rng.random(n)
    rem = (1 - p_app)
    rev_i = np.where(r < p_app, 0, np.where(r < p_app + rem * 0.45, 1,
                                           np.where(r < p_app + rem * 0.75, 2, 3)))
    revc = np.where(rev_i == 0, 1 + rng.binomial(3, 0.25, n), np.where(rev_i == 1, rng.binomial(1, 0.3, n), 0))
    # blast radius
    sa = 1 + rng.geometric(np.array([0.75, 0.6, 0.35, 0.45, 0.6, 0.55])[ctype_i]) - 1
    sa = np.minimum(sa, 40)
    reg = np.minimum(P["svc_regions"][svc], 1 + rng.geometric(np.where(ctype_i == 2, 0.35, 0.7)) - 1)
    reg = np.maximum(reg, 1)
    cf = rng.random(n) < P["svc_cf"][svc]
    # size
    mu = np.array([4.2, 1.6, 3.3, 1.3, 3.0, 0.9])[ctype_i]
    lines = np.floor(rng.lognormal(mu, 1.25)).astype(np.int64)
    lines[rng.random(n) < 0.02] = 0
    files = np.maximum(np.where(lines > 0, 1, 0), np.floor(lines ** 0.55 * rng.lognormal(-0.3, 0.5, n))).astype(np.int64)
    rb = rng.random(n) < (0.35 + 0.25 * (ctype_i == 4) + 0.15 * (rev_i == 0))
    return dict(auth=auth, svc=svc, ctype=ctype_i, ai=ai_i, tool=tool_i, ai_tool=ai_tool,
                perm=perm_i, rev=rev_i, revc=revc, sa=sa, reg=reg, cf=cf, lines=lines,
                files=files, rb=rb, frac=frac, bot=bot)


def author_history(ts, auth):
    """prior change count per author and seconds since the author's previous change."""
    df = pd.DataFrame({"t": ts, "a": auth})
    prior = df.groupby("a").cumcount().to_numpy()
    prev = df.groupby("a")["t"].shift(1).to_numpy()
    gap = np.where(np.isnan(prev), np.inf, ts - prev)
    return prior, gap


def hour_wd(P):
    abs_t = P["ts"] + P["start"]
    hour = (abs_t % 86400) // 3600
    wd = ((abs_t // 86400) + 3) % 7  # 1970-01-01 was a Thursday -> 0=Mon
    return hour, wd


def static_logit(variant, rng, P, C, days):
    ai, perm, rev, ct = C["ai"], C["perm"], C["rev"], C["ctype"]
    unrev = rev > 0
    priv = perm > 0
    n = len(ai)
    svc_r = P["svc_risk"][C["svc"]]
    care = P["auth_care"][C["auth"]]
    lsa, lreg = np.log(C["sa"]), np.log(C["reg"])
    ll = np.log1p(C["lines"])
    if variant == "additive":
        z = (np.array([0, 0.25, 0.6])[ai] + np.array([0, 0.35, 0.7])[perm]
             + np.array([0, 0.45, 0.9, 0.7])[rev] - 0.12 * np.minimum(C["revc"], 4)
             + 0.5 * (ai > 0) * priv * unrev + 0.6 * (ai == 2) * (perm == 2) * (rev >= 2)
             + 0.3 * (ai == 2) * unrev
             + np.array([0, 0.3, 0.5, 0.55, 0.7, -0.3])[ct]
             + 0.35 * lsa + 0.25 * lreg + 0.3 * C["cf"] - 0.35 * C["rb"]
             + 0.18 * (ll - 3) + np.array([0, 0.1, -0.1, 0.45, 0, 0.2])[C["tool"]] * (ai > 0)
             + svc_r + care)
        return z
    if variant == "raw":
        # only the change's own columns matter (no time, no history): per-tool AI effects,
        # a risky (service, change_type) subset, strong service / author identities,
        # U-shaped size, customer facing x regions
        risky_pair = rng.random((len(P["svc_w"]), 6)) < 0.08
        tool_eff = np.array([-0.3, 0.1, 0.2, 0.5, 0.0, 1.1])  # copilot .. windsurf
        z = (np.where(ai > 0, tool_eff[C["tool"]] * np.array([0, 0.6, 1.0])[ai], 0)
             + np.array([0, 0.3, 0.6])[ai] + np.array([0, 0.3, 0.6])[perm]
             + np.array([0, 0.4, 0.8, 0.6])[rev] + 0.5 * (ai == 2) * (perm == 2) * unrev
             + 1.5 * risky_pair[C["svc"], ct]
             + np.array([0, 0.3, 0.5, 0.5, 0.6, -0.3])[ct]
             + 0.35 * lsa + 0.5 * C["cf"] * (C["reg"] >= 3) - 0.3 * C["rb"]
             + np.where(C["lines"] <= 2, 0.6, 0) + np.where(C["lines"] > 800, 0.8, 0)
             + 1.4 * svc_r + 2.0 * care)
        return z
    if variant in ("nonlinear",):
        hour, wd = hour_wd(P)
        prior, gap = author_history(P["ts"], C["auth"])
        risky_pair = rng.random((len(P["svc_w"]), 6)) < 0.08
        z = (np.where(C["lines"] > 400, 0.8, 0) + np.where(C["lines"] > 2500, 0.7, 0)
             + np.where((ct == 1) & (C["lines"] <= 3), 0.9, 0)  # one-line config typos
             + np.where(C["files"] > 25, 0.5, 0)
             + 1.3 * risky_pair[C["svc"], ct]
             + np.where((hour >= 22) | (hour < 5), 0.8, 0) + np.where((wd == 4) & (hour >= 15), 0.6, 0)
             + np.where(wd >= 5, 0.5, 0)
             + 1.2 * np.exp(-prior / 25.0) + np.where(gap > 45 * DAY, 0.6, 0)
             + np.where(np.isin(ct, [2, 3, 4]), np.array([0, 0.5, 1.3])[ai], 0.1 * (ai > 0))
             + np.where(unrev & (C["sa"] >= 4), 1.0, 0) + 0.3 * unrev
             + np.where(priv & (C["reg"] >= 3) & C["cf"], 0.8, 0)
             + np.where(C["rb"] & (ct == 4), -0.9, 0)
             + 0.6 * svc_r + care)
        return z
    if variant == "drift":
        f = C["frac"]
        z = (0.9 * f  # base rate rises
             + np.array([0, 0.2, 0.0])[ai] + (ai == 2) * (0.1 + 1.5 * f ** 1.5)
             + (perm == 1) * (0.7 - 0.6 * f) + (perm == 2) * 0.6
             + np.array([0, 0.4, 0.8, 0.6])[rev]
             + 0.4 * (ai > 0) * priv * unrev
             + np.array([0, 0.3, 0.5, 0.5, 0.6, -0.4])[ct] + np.where((ct == 5) & (f > 0.6), 1.1, 0)
             + 0.35 * lsa + 0.2 * lreg + 0.25 * C["cf"] - 0.3 * C["rb"] + 0.15 * (ll - 3)
             + svc_r + care)
        # one service gets much riskier after a re-architecture at 70%
        hot = np.argmax(P["svc_w"] * (P["svc_risk"] < 0))
        z = z + np.where((C["svc"] == hot) & (f > 0.7), 1.2, 0)
        return z
    if variant == "history":  # static part; dynamic part added in the simulation
        z = (np.array([0, 0.2, 0.5])[ai] + np.array([0, 0.3, 0.6])[perm]
             + np.array([0, 0.4, 0.8, 0.6])[rev] + 0.4 * (ai > 0) * priv * unrev
             + np.array([0, 0.25, 0.45, 0.5, 0.6, -0.3])[ct]
             + 0.3 * lsa + 0.2 * lreg + 0.25 * C["cf"] - 0.3 * C["rb"] + 0.15 * (ll - 3)
             + 0.5 * svc_r + 0.5 * care)
        return z
    raise ValueError(variant)


def incident_delay(rng, k):
    return np.clip(rng.lognormal(np.log(DELAY_MED * 60), 1.2, k), 30, 4 * DAY)


def simulate(variant, rng, P, C, days, rate, scale=1.0):
    n = len(P["ts"])
    ts = P["ts"]
    n_svc = len(P["svc_w"])
    z = static_logit(variant, rng, P, C, days) * scale
    # background incidents: per-service Poisson, rate ~ traffic^0.5
    bg_rate = np.sqrt(P["svc_w"]) / np.sqrt(P["svc_w"]).sum() * 0.25 * rate * n / days  # per service per day
    if variant != "history":
        s = fit_shift(z, rate)
        p = sigmoid(z + s)
        caused = rng.random(n) < p
        bg = []
        for j in range(n_svc):
            k = rng.poisson(bg_rate[j] * days)
            bg.append((rng.uniform(0, days * DAY, k), np.full(k, j)))
        bg_t = np.concatenate([b[0] for b in bg]); bg_s = np.concatenate([b[1] for b in bg])
        return p, caused, bg_t, bg_s
    # history variant: sequential self-exciting process with latent service bad periods
    # bad periods: each service flips into a "bad" regime (Markov, ~3% of time) raising risk
    bad_on = []
    for j in range(n_svc):
        segs = []
        t = rng.exponential(60) * DAY
        while t < days * DAY:
            L = rng.exponential(4) * DAY
            segs.append((t, t + L))
            t += L + rng.exponential(90) * DAY
        bad_on.append(segs)

    def in_bad(j, t):
        for a, b in bad_on[j]:
            if a <= t < b:
                return True
        return False

    bg_t_list, bg_s_list = [], []
    for j in range(n_svc):
        k = rng.poisson(bg_rate[j] * days)
        tt = rng.uniform(0, days * DAY, k)
        # extra background incidents in bad periods
        for a, b in bad_on[j]:
            kk = rng.poisson((b - a) / DAY * 0.8)
            tt = np.concatenate([tt, rng.uniform(a, b, kk)])
        bg_t_list.append(tt); bg_s_list.append(np.full(len(tt), j))
    bg_t = np.concatenate(bg_t_list); bg_s = np.concatenate(bg_s_list)
    svc_inc = [sorted(bg_t[bg_s == j].tolist()) for j in range(n_svc)]
    auth_bad = [[] for _ in range(len(P["auth_names"]))]
    u = rng.random(n)
    delays = incident_delay(rng, n)
    s = fit_shift(z, rate * 0.5)
    for attempt in range(4):  # re-simulate with a corrected intercept until the rate is near target
        svc_inc = [sorted(bg_t[bg_s == j].tolist()) for j in range(n_svc)]
        auth_bad = [[] for _ in range(len(P["auth_names"]))]
        p = np.empty(n)
        caused = np.zeros(n, dtype=bool)
        for i in range(n):
            t = ts[i]; j = C["svc"][i]; a = C["auth"][i]
            L = svc_inc[j]
            hi = bisect.bisect_left(L, t)
            k7 = hi - bisect.bisect_left(L, t - 7 * DAY)
            k1 = hi - bisect.bisect_left(L, t - 1 * DAY)
            A = auth_bad[a]
            ab = bisect.bisect_left(A, t) - bisect.bisect_left(A, t - 90 * DAY)  # author's recent bad changes
            zz = (z[i] + s + 0.45 * np.log1p(k7) + 0.5 * (k1 > 0) + 0.9 * in_bad(j, t)
                  + 0.4 * min(ab, 3))
            p[i] = 1 / (1 + np.exp(-zz))
            if u[i] < p[i]:
                caused[i] = True
                st = t + delays[i]
                bisect.insort(L, st)
                bisect.insort(A, st)
        m = p.mean()
        print(f"history: attempt {attempt}: shift {s:.3f} mean p {m:.4f}")
        if abs(m - rate) < 0.004:
            break
        s += np.log(rate / m) * 0.9
    C["_delays"] = delays
    return p, caused, bg_t, bg_s


def write(args, P, C, p, caused, bg_t, bg_s, rng):
    n = len(P["ts"])
    start = P["start"]
    iso = lambda sec: pd.to_datetime(np.asarray(sec, dtype=np.int64) + start, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = np.array([f"CHG-{i:07d}" for i in rng.permutation(n)])  # ids not in time order
    svc_names = P["svc_names"]

    def boolstr(b):
        alt = rng.random(len(b)) < 0.08
        return np.where(alt, np.where(b, rng.choice(["1", "yes", "TRUE"], len(b)), rng.choice(["0", "no", "False"], len(b))),
                        np.where(b, "true", "false"))
    ch = pd.DataFrame({
        "change_id": ids, "timestamp": iso(P["ts"]), "service": svc_names[C["svc"]],
        "author": P["auth_names"][C["auth"]], "ai_involvement": AI_LV[C["ai"]], "ai_tool": C["ai_tool"],
        "permission_level": PERM_LV[C["perm"]], "review_status": REV_LV[C["rev"]],
        "reviewer_count": C["revc"], "change_type": TYPES[C["ctype"]],
        "services_affected": C["sa"], "regions_affected": C["reg"], "customer_facing": boolstr(C["cf"]),
        "lines_changed": C["lines"], "files_changed": C["files"], "rollback_plan": boolstr(C["rb"]),
    })
    # shuffle row order a bit (files are not always time sorted)
    order = rng.permutation(n)
    ch.iloc[order].to_csv(os.path.join(args.out, "changes.csv"), index=False)
    pd.DataFrame({"change_id": ids, "true_p": p, "caused": caused.astype(int)}).to_csv(
        os.path.join(args.out, "truth.csv"), index=False)
    # incidents
    rows = []
    ci = np.flatnonzero(caused)
    delays = C.get("_delays")
    n_svc = len(svc_names)
    # per-service sorted change index for decoys
    for i in ci:
        d = delays[i] if delays is not None else incident_delay(rng, 1)[0]
        st = P["ts"][i] + d
        j = C["svc"][i]
        if C["sa"][i] > 1 and rng.random() < 0.2:
            j = rng.integers(0, n_svc)  # downstream service
            named = rng.random() < 0.8
        else:
            named = rng.random() < NAMED
        cause = ids[i] if named else ""
        if named and rng.random() < 0.03:
            cause = cause + ";" + ids[max(0, i - int(rng.integers(1, 50)))]  # an earlier change too
        rows.append((st, j, cause))
        if rng.random() < 0.06:  # a follow-up incident, never named
            rows.append((st + rng.uniform(600, 6 * 3600), C["svc"][i], ""))
    for t, j in zip(bg_t, bg_s):
        cause = ""
        if rng.random() < 0.004:
            cause = f"CHG-X{rng.integers(1e6)}"  # unknown id
        rows.append((t, j, cause))
    inc = pd.DataFrame(rows, columns=["t", "s", "cause"]).sort_values("t", kind="stable")
    k = len(inc)
    sev = rng.choice([1, 2, 3, 4, 5], k, p=[.03, .1, .27, .35, .25])
    sevs = np.where(rng.random(k) < 0.3, np.char.add("sev", sev.astype(str)), sev.astype(str))
    out = pd.DataFrame({
        "incident_id": [f"INC-{i:06d}" for i in range(k)], "start_time": iso(np.floor(inc["t"].to_numpy())),
        "service": svc_names[inc["s"].to_numpy().astype(int)], "severity": sevs,
        "caused_by_change": inc["cause"].to_numpy(),
        "duration_minutes": np.round(rng.lognormal(3.5, 1.0, k), 1)})
    out.to_csv(os.path.join(args.out, "incidents.csv"), index=False)
    return ch, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True, choices=["additive", "nonlinear", "history", "drift", "raw"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--authors", type=int, default=400)
    ap.add_argument("--rate", type=float, default=0.07)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the static log-odds (signal strength)")
    ap.add_argument("--tz-shift", type=float, default=0.0)
    ap.add_argument("--named", type=float, default=0.55)
    ap.add_argument("--delay-median", type=float, default=70.0)
    args = ap.parse_args()
    global TZ_SHIFT, NAMED, DELAY_MED
    TZ_SHIFT, NAMED, DELAY_MED = args.tz_shift, args.named, args.delay_median
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    P = population(rng, args.changes, args.days, args.services, args.authors)
    C = draw_changes(rng, P, args.days)
    p, caused, bg_t, bg_s = simulate(args.variant, rng, P, C, args.days, args.rate, args.scale)
    ch, inc = write(args, P, C, p, caused, bg_t, bg_s, rng)
    print(f"{args.variant}: {len(ch)} changes, mean p {p.mean():.4f}, caused {caused.mean():.4f}, "
          f"incidents {len(inc)} (background {len(bg_t)}), named {np.mean(inc.caused_by_change != ''):.2f}")


if __name__ == "__main__":
    main()
