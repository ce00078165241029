#!/usr/bin/env python3
"""Independent change/incident history generator (designed from SPEC.md only).

Written by a separate session that was told the contract (../shared/SPEC.md) and nothing of
changerisk's own generator or features (it never read src/generate.rs, src/features.rs or
benches/QUALITY.md), so that `benches/quality.py --generator benches/independent_gen.py`
checks that changerisk generalises to histories it was not designed around. Do not tune
changerisk to it: it is a held-out check, like the outside one.

    gen.py --seed S --changes N --out DIR [--days 730] [--base-rate 0.08] [--drift 1.0]

Writes DIR/changes.csv, DIR/incidents.csv (SPEC format) and DIR/truth.csv
(change_id,true_risk: the probability this process used for "the change causes an incident").

Structure (deliberately not a logistic model in the raw columns):
  * the probability of causing an incident is p = 1 - exp(-H), H a *sum of hazards*
    (noisy-OR of mechanisms):
      H = k * drift(t) * M_static * M_dynamic           (general mechanism, multiplicative)
        + typo hazard  (config / feature_flag, tiny, not approved)
        + migration hazard (database, large, no rollback plan)
        + agent-rampage hazard (agent x admin x not approved x blast radius)
  * M_static: AI, permission, review (with interactions), saturating blast radius,
    U-shaped / threshold size, change type, customer facing x rollback, timing
    (off-hours, Friday afternoon, weekend), latent service and author risk;
  * M_dynamic (history): author inexperience (decays with the author's prior changes),
    service instability (incidents on the service in the 7 days before the change);
  * drift: AI adoption rises across the span (per-author propensity + global trend),
    global base hazard rises slowly; --drift scales both and makes the AI effect grow.
Incidents: a causing change produces an incident starting minutes to hours later,
usually on its own service (sometimes a downstream one when blast radius > 1); most
name their cause, ~30% do not; background incidents caused by nothing; a few name an
unknown change id. Severity mixes `N` and `sevN`; booleans mix spellings.
"""

import argparse
import bisect
import math
import os
import sys

import numpy as np
import pandas as pd

TOOLS = ["kiro", "amazon-q", "copilot", "claude-code", "cursor", "codewhisperer", "aider"]
TYPES = ["code", "config", "infra", "iam", "database", "feature_flag"]
TYPE_P = np.array([0.50, 0.18, 0.10, 0.04, 0.06, 0.12])
TYPE_MULT = {"code": 1.0, "config": 1.35, "infra": 1.6, "iam": 1.4, "database": 1.9, "feature_flag": 0.55}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--base-rate", type=float, default=0.08, help="target mean true risk (approx.)")
    ap.add_argument("--drift", type=float, default=1.0, help="strength of the time drift")
    ap.add_argument("--history-strength", type=float, default=1.0,
                    help="scales the latent service/author risk, inexperience and instability effects "
                         "(0: none of them; 1: default)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    n, days = a.changes, a.days
    os.makedirs(a.out, exist_ok=True)

    # ---------------- organisation ---------------------------------------------------------
    n_teams = 45
    n_services = 160
    svc_names = np.array([f"svc-{w}-{i:03d}" for i, w in
                          zip(range(n_services), rng.choice(["api", "web", "db", "auth", "pay", "search",
                                                              "queue", "cdn", "ml", "notify", "edge"],
                                                             n_services))])
    svc_team = rng.integers(0, n_teams, n_services)
    svc_latent = np.exp(rng.normal(0, 0.7, n_services))           # latent service fragility
    svc_latent /= svc_latent.mean()
    svc_cf = rng.random(n_services) < 0.45                          # customer-facing service
    svc_weight = np.exp(rng.normal(0, 1.0, n_services))            # volume share within team

    n_humans = 1400
    n_bots = 30
    hum_team = rng.integers(0, n_teams, n_humans)
    # join/leave: 65% present from the start, others join during the span; 15% leave
    join = np.where(rng.random(n_humans) < 0.65, 0.0, rng.uniform(0, days, n_humans))
    leave = np.where(rng.random(n_humans) < 0.15, join + rng.uniform(60, days, n_humans), days + 1)
    hum_activity = np.exp(rng.normal(0, 0.9, n_humans))
    hum_latent = np.exp(rng.normal(0, 0.5, n_humans))
    hum_latent /= hum_latent.mean()
    # a few reckless authors
    reckless = rng.random(n_humans) < 0.03
    hum_latent[reckless] *= 3.0
    hum_ai_prop = rng.normal(0, 1.2, n_humans)                      # personal AI adoption propensity
    hum_priv = rng.normal(0, 1.0, n_humans)                         # tends to use elevated rights
    hum_skip = rng.normal(0, 1.0, n_humans)                         # tends to skip review
    first = np.array(["alex", "sam", "kim", "lee", "jo", "max", "ria", "noor", "li", "ana", "ben", "eva",
                      "omar", "yui", "raj", "tom", "ida", "zoe", "ken", "mia"])
    hum_names = np.array([f"{first[i % len(first)]}.{i:04d}@corp.example" for i in range(n_humans)])
    bot_names = np.array([f"{rng.choice(['agent', 'autofix', 'deploybot', 'ops-agent'])}-{i:02d}" for i in range(n_bots)])
    bot_latent = np.exp(rng.normal(0, 0.6, n_bots))
    bot_start = rng.uniform(0, days * 0.6, n_bots)                  # bots appear over time

    # ---------------- timestamps -----------------------------------------------------------
    t0 = pd.Timestamp("2024-01-01T00:00:00Z")
    day_idx = np.arange(days)
    dow = (t0.day_of_week + day_idx) % 7
    day_w = (1.0 + 0.5 * day_idx / days) * np.where(dow >= 5, 0.18, 1.0) * np.where(dow == 4, 0.85, 1.0)
    # holidays-ish freezes: two low-volume weeks per year
    for y in range(0, days, 365):
        day_w[y + 355:y + 365] *= 0.3
    day_w /= day_w.sum()
    d = rng.choice(days, n, p=day_w)
    hour_w = np.array([1, 0.6, 0.5, 0.5, 0.6, 1, 2, 4, 7, 9, 10, 10, 9, 10, 10, 9, 8, 7, 5, 3.5, 2.5, 2, 1.5, 1.2])
    h = rng.choice(24, n, p=hour_w / hour_w.sum())
    secs = d * 86400 + h * 3600 + rng.integers(0, 3600, n)
    secs.sort()
    tday = secs / 86400.0
    tfrac = tday / days                                              # 0..1 across the span
    hour = (secs % 86400) // 3600
    wday = ((secs // 86400) + t0.day_of_week) % 7

    # ---------------- who --------------------------------------------------------------------
    # choose a human active at that time, weighted by activity (vectorised by day buckets)
    author = np.empty(n, dtype=np.int64)
    for b0 in range(0, days, 15):
        m = (tday >= b0) & (tday < b0 + 15)
        if not m.any():
            continue
        act = (join <= b0 + 7) & (leave > b0 + 7)
        w = hum_activity * act
        author[m] = rng.choice(n_humans, m.sum(), p=w / w.sum())

    # AI involvement: drift of adoption + personal propensity; off-hours more agents
    drift_ai = a.drift
    ai_logit_assist = -2.0 + 2.4 * drift_ai * tfrac + 0.8 * hum_ai_prop[author]
    ai_logit_agent = -4.2 + 3.0 * drift_ai * tfrac + 0.6 * hum_ai_prop[author] + 0.7 * ((hour < 7) | (hour >= 20))
    pa, pg = np.exp(ai_logit_assist), np.exp(ai_logit_agent)
    denom = 1 + pa + pg
    u = rng.random(n)
    ai = np.where(u < pg / denom, 2, np.where(u < (pg + pa) / denom, 1, 0))  # 0 none, 1 assisted, 2 agent

    # some agent changes are made by bot accounts (when bots exist)
    is_bot = np.zeros(n, dtype=bool)
    bot = np.full(n, -1)
    cand = (ai == 2) & (rng.random(n) < 0.45)
    for i in np.nonzero(cand)[0]:
        alive = np.nonzero(bot_start <= tday[i])[0]
        if len(alive):
            bot[i] = rng.choice(alive)
            is_bot[i] = True

    # tool: each author has a favourite, sometimes another
    fav = rng.integers(0, len(TOOLS), n_humans)
    tool_idx = np.where(rng.random(n) < 0.75, fav[author], rng.integers(0, len(TOOLS), n))
    tool_idx = np.where(is_bot, bot % len(TOOLS), tool_idx)

    # service: a service of the author's team (weighted), sometimes another team's
    team_svcs = [np.nonzero(svc_team == t)[0] for t in range(n_teams)]
    for t in range(n_teams):
        if len(team_svcs[t]) == 0:
            team_svcs[t] = rng.choice(n_services, 2, replace=False)
    service = np.empty(n, dtype=np.int64)
    own = rng.random(n) < 0.85
    for t in range(n_teams):
        m = own & (hum_team[author] == t)
        s = team_svcs[t]
        w = svc_weight[s] / svc_weight[s].sum()
        service[m] = rng.choice(s, m.sum(), p=w)
    gw = svc_weight / svc_weight.sum()
    service[~own] = rng.choice(n_services, (~own).sum(), p=gw)

    # change type, depends a bit on AI (agents do more config/infra/flags)
    ctype = rng.choice(len(TYPES), n, p=TYPE_P)
    re_draw = (ai == 2) & (rng.random(n) < 0.3)
    ctype[re_draw] = rng.choice(len(TYPES), re_draw.sum(), p=[0.2, 0.35, 0.25, 0.1, 0.05, 0.05])
    ctype_s = np.array(TYPES)[ctype]

    # permission: by type, person, AI
    priv_logit = (-1.6 + 0.7 * hum_priv[author] + np.isin(ctype_s, ["infra", "iam", "database"]) * 1.6
                  + 0.6 * (ai == 2) + 0.5 * is_bot)
    pe = sigmoid(priv_logit)
    u = rng.random(n)
    perm = np.where(u < pe * 0.35, 2, np.where(u < pe, 1, 0))      # 0 standard, 1 elevated, 2 admin

    # review: approved most of the time; skipping more common for config/flags, agents, admins
    skip_logit = (-2.0 + 0.8 * hum_skip[author] + 0.7 * (ai == 2) + 0.4 * (perm == 2)
                  + np.isin(ctype_s, ["config", "feature_flag"]) * 0.8 + 0.6 * ((hour < 7) | (hour >= 20))
                  + 0.4 * drift_ai * tfrac)
    ps = sigmoid(skip_logit)
    u = rng.random(n)
    v = rng.random(n)
    review = np.where(u >= ps, 0, np.where(v < 0.45, 1, np.where(v < 0.7, 2, 3)))  # approved, self, bypassed, none
    rc = np.where(review == 0, 1 + rng.binomial(3, 0.25, n), 0)
    rc = np.where((review == 1) & (rng.random(n) < 0.1), 1, rc)     # self-approved + one rubber stamp

    # blast radius
    svc_aff = 1 + rng.geometric(0.55 if True else 0.5, n) - 1
    svc_aff = np.where(np.isin(ctype_s, ["infra", "iam"]), svc_aff + rng.geometric(0.3, n) - 1, svc_aff)
    svc_aff = np.minimum(svc_aff, 60)
    reg_aff = np.minimum(rng.geometric(0.6, n), 8)
    reg_aff = np.where((ctype_s == "infra") & (rng.random(n) < 0.25), rng.integers(3, 9, n), reg_aff)
    cf = np.where(rng.random(n) < 0.85, svc_cf[service], ~svc_cf[service])

    # size
    base_lines = np.exp(rng.normal(3.6, 1.6, n))
    base_lines = np.where(np.isin(ctype_s, ["config", "feature_flag"]), np.exp(rng.normal(1.2, 1.2, n)), base_lines)
    base_lines = np.where(ai >= 1, base_lines * np.exp(rng.normal(0.4, 0.5, n)), base_lines)
    lines = np.floor(base_lines).astype(np.int64)
    files = np.maximum(1, np.round(np.sqrt(lines + 1) * np.exp(rng.normal(-0.6, 0.6, n)))).astype(np.int64)
    files = np.where(lines == 0, rng.integers(0, 2, n), files)

    rollback = rng.random(n) < sigmoid(0.3 - 0.8 * np.isin(ctype_s, ["config", "feature_flag"])
                                       + 0.6 * (ctype_s == "database") - 0.4 * (ai == 2))

    # ---------------- risk: static part ------------------------------------------------------
    drift_t = 1.0 + 0.25 * a.drift * tfrac                           # base hazard creeps up
    unrev = review != 0
    m = np.ones(n)
    ai_eff = 1.0 + 0.6 * (a.drift - 1.0) * tfrac                     # AI effect grows when drift > 1
    m *= np.array([1.0, 1.35, 1.9])[ai] ** ai_eff
    m *= np.array([1.0, 1.25, 1.6])[perm]
    m *= np.array([1.0, 1.7, 2.4, 2.0])[review]
    m *= np.where(review == 0, 0.85 ** np.maximum(rc - 1, 0), 1.0)
    # interactions
    m *= np.where((ai >= 1) & (perm >= 1) & unrev, 1.7, 1.0)
    m *= np.where((ai == 2) & (perm == 2) & unrev, 2.6, 1.0)
    m *= np.where((ai == 0) & (perm == 2) & (review == 0), 0.8, 1.0)   # careful human admins
    # blast radius, saturating
    m *= 1.0 + 1.6 * (1 - np.exp(-(svc_aff - 1) / 3.0)) + 0.9 * (1 - np.exp(-(reg_aff - 1) / 1.5))
    # size: U-shape in lines (tiny "one-liner" risk, large threshold), files threshold
    ll = np.log1p(lines)
    m *= 1.0 + 0.5 * (lines <= 2) + 1.3 * sigmoid(3.0 * (ll - math.log(600)))
    m *= np.where(files > 40, 1.4, 1.0)
    m *= np.array([TYPE_MULT[t] for t in TYPES])[ctype]
    # customer facing x rollback
    m *= np.where(cf, np.where(rollback, 1.05, 1.5), np.where(rollback, 0.8, 1.0))
    # timing
    off = (hour < 6) | (hour >= 21)
    m *= np.where(off, 1.45, 1.0)
    m *= np.where((wday == 4) & (hour >= 14), 1.5, 1.0)
    m *= np.where(wday >= 5, 1.3, 1.0)
    # latent
    hs = a.history_strength
    m *= svc_latent[service] ** hs
    m *= np.where(is_bot, bot_latent[np.maximum(bot, 0)], hum_latent[author]) ** hs

    # extra hazards (noisy-OR mechanisms)
    h_typo = np.where(np.isin(ctype_s, ["config", "feature_flag"]) & (lines <= 3) & unrev, 0.035, 0.0)
    h_migr = np.where((ctype_s == "database") & (lines >= 150) & ~rollback, 0.09, 0.0)
    h_rampage = np.where((ai == 2) & (perm == 2) & unrev, 0.03 * np.minimum(svc_aff, 6), 0.0)
    h_extra = h_typo + h_migr + h_rampage

    # author experience: prior changes of the same author (human or bot account)
    acct = np.where(is_bot, n_humans + np.maximum(bot, 0), author)
    prior = pd.Series(acct).groupby(acct).cumcount().to_numpy()
    m_exp = 1.0 + 1.0 * hs * np.exp(-prior / 25.0)

    # choose k so the mean risk is about the target (instability multiplier ~1.15 on average)
    static = drift_t * m * m_exp * 1.15
    lo, hi = 1e-6, 10.0
    for _ in range(60):
        k = math.sqrt(lo * hi)
        if np.mean(1 - np.exp(-(k * static + h_extra))) > a.base_rate:
            hi = k
        else:
            lo = k
    k = math.sqrt(lo * hi)

    # ---------------- sequential part: instability + incidents -------------------------------
    span = days * 86400
    # background incidents per service: Poisson, rate ~ sqrt(volume), about 15% of incidents
    svc_counts = np.bincount(service, minlength=n_services)
    bg_total = int(0.2 * a.base_rate * n)
    bg_w = np.sqrt(svc_counts + 1.0) * svc_latent
    bg_svc = rng.choice(n_services, bg_total, p=bg_w / bg_w.sum())
    bg_t = rng.uniform(0, span, bg_total)
    inc_times = [[] for _ in range(n_services)]                      # sorted start times per service
    for s_, t_ in zip(bg_svc, bg_t):
        bisect.insort(inc_times[s_], t_)

    week = 7 * 86400
    true_risk = np.empty(n)
    incidents = []                                                   # (start, service, named causes or None, sev)
    u_cause = rng.random(n)
    delay = np.exp(rng.normal(math.log(50 * 60), 1.1, n))            # median 50 min
    delay = np.clip(delay, 120, 20 * 3600)
    for i in range(n):
        s = service[i]
        t = secs[i]
        lst = inc_times[s]
        n7 = bisect.bisect_left(lst, t) - bisect.bisect_left(lst, t - week)
        m_inst = 1.0 + 0.3 * hs * min(n7, 4)
        hz = k * drift_t[i] * m[i] * m_exp[i] * m_inst + h_extra[i]
        p = min(1.0 - math.exp(-hz), 0.95)
        true_risk[i] = p
        if u_cause[i] < p:
            st = t + delay[i]
            inc_svc = s
            if svc_aff[i] > 1 and rng.random() < 0.15:
                inc_svc = int(rng.integers(0, n_services))
            bisect.insort(inc_times[inc_svc], st)
            incidents.append((st, inc_svc, i))
    for s_, t_ in zip(bg_svc, bg_t):
        incidents.append((t_, s_, -1))

    # ---------------- write ------------------------------------------------------------------
    def iso(sec_arr):
        return (t0 + pd.to_timedelta(np.asarray(sec_arr, dtype=np.int64), unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ")

    ids = np.array([f"CHG-{a.seed}-{i:07d}" for i in range(n)])
    # file order: mostly time order, but shuffle within small blocks (file order != time order)
    order = np.arange(n)
    blk = 50
    for b0 in range(0, n, blk):
        rng.shuffle(order[b0:b0 + blk])
    ai_s = np.array(["none", "assisted", "agent"])[ai]
    perm_s = np.array(["standard", "elevated", "admin"])[perm]
    rev_s = np.array(["approved", "self_approved", "bypassed", "none"])[review]
    tool_s = np.where(ai == 0, np.where(rng.random(n) < 0.02, np.array(TOOLS)[tool_idx], ""), np.array(TOOLS)[tool_idx])
    tool_s = np.where((ai > 0) & (rng.random(n) < 0.05), "", tool_s)   # tool sometimes unrecorded
    auth_s = np.where(is_bot, bot_names[np.maximum(bot, 0)], hum_names[author])

    def boolean(x, style):
        out = np.where(x, "true", "false")
        out = np.where(style == 1, np.where(x, "yes", "no"), out)
        out = np.where(style == 2, np.where(x, "1", "0"), out)
        out = np.where(style == 3, np.where(x, "True", "FALSE"), out)
        return out
    style = rng.choice(4, n, p=[0.85, 0.05, 0.05, 0.05])
    rb_s = boolean(rollback, style)
    rb_s = np.where(~rollback & (rng.random(n) < 0.1), "", rb_s)      # missing -> false
    rc_s = np.where((rc == 0) & (rng.random(n) < 0.05), "", rc.astype(str))
    ch = pd.DataFrame({
        "change_id": ids,
        "timestamp": iso(secs),
        "service": svc_names[service],
        "author": auth_s,
        "ai_involvement": ai_s,
        "ai_tool": tool_s,
        "permission_level": perm_s,
        "review_status": rev_s,
        "reviewer_count": rc_s,
        "change_type": ctype_s,
        "services_affected": svc_aff,
        "regions_affected": reg_aff,
        "customer_facing": boolean(cf, style),
        "lines_changed": lines,
        "files_changed": files,
        "rollback_plan": rb_s,
        "team": np.array([f"team-{x:02d}" for x in range(n_teams)])[hum_team[author]],
    }).iloc[order]
    ch.to_csv(os.path.join(a.out, "changes.csv"), index=False)
    pd.DataFrame({"change_id": ids, "true_risk": true_risk}).iloc[order].to_csv(
        os.path.join(a.out, "truth.csv"), index=False, float_format="%.8f")

    incidents.sort(key=lambda x: x[0])
    rows = []
    for j, (st, s_, i) in enumerate(incidents):
        sev = int(rng.choice([1, 2, 3, 4, 5], p=[0.03, 0.12, 0.35, 0.35, 0.15]))
        sev_s = f"sev{sev}" if rng.random() < 0.3 else str(sev)
        if i >= 0:
            named = ids[i] if rng.random() < 0.7 else ""
        else:
            named = f"CHG-OLD-{rng.integers(0, 10**6):06d}" if rng.random() < 0.01 else ""
        start = t0 + pd.Timedelta(seconds=int(st))
        if rng.random() < 0.05:                                      # some with a UTC offset
            start_s = (start.tz_convert("Europe/Berlin")).isoformat()
        else:
            start_s = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        dur = "" if rng.random() < 0.1 else f"{float(np.exp(rng.normal(3.5, 1.0))):.1f}"
        rows.append((f"INC-{a.seed}-{j:06d}", start_s, svc_names[s_], sev_s, named, dur))
    pd.DataFrame(rows, columns=["incident_id", "start_time", "service", "severity", "caused_by_change",
                                "duration_minutes"]).to_csv(os.path.join(a.out, "incidents.csv"), index=False)
    caused = sum(1 for x in incidents if x[2] >= 0)
    print(f"gen: {n} changes, mean true risk {true_risk.mean():.4f}, causing {caused} "
          f"({caused / n:.4f}), background incidents {bg_total}, k={k:.4g}, "
          f"AI share first/last 10%: {np.mean(ai[: n // 10] > 0):.2f}/{np.mean(ai[-n // 10:] > 0):.2f}, "
          f"true risk range {true_risk.min():.4f}..{true_risk.max():.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
