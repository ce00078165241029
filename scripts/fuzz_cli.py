"""Mutation fuzz of changerisk's command line: every run must exit 0 or 2, never panic,
and an exit 2 must say why on stderr.

    python3 scripts/fuzz_cli.py BINARY RUNS [SEED] [KEEP_DIR]
    /work/bench-venv-q/bin/python scripts/fuzz_cli.py BINARY RUNS   # with round 3

Three rounds of RUNS each, from the shipped data and the public OpenStack file
(../shared/datasets/jit):
(1) mangled changes, incidents or changes to score (odd cells, cut, doubled and blank
    lines, header typos, stray bytes, other delimiters) through `train` (a random learner)
    and `score`;
(2) mangled JSON Lines changes through `score`, and a mangled 600-row OpenStack slice
    through `train --config` or `evaluate --config`;
(3) `score` of Parquet and Arrow files whose columns have other types (numbers, booleans
    as numbers, timestamps in other units and zones or as dates, nulls, lists, structs).
Inputs of a bad run are copied to KEEP_DIR (default /tmp/changerisk-fuzz). The in-process
counterpart is `properties::mangled_files_load_or_are_refused_by_name` (tests/it).
Rounds 1 and 2 need the standard library only; round 3 needs pyarrow, pandas and numpy
(without them it is reported NOT RUN and the exit code is 3). Exit 1: a bad run.
"""

import os
import random
import subprocess
import sys
import tempfile

BIN = sys.argv[1]
N = int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
KEEP = sys.argv[4] if len(sys.argv) > 4 else "/tmp/changerisk-fuzz"
R = random.Random(seed)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def lines(p, n):
    return open(p).read().splitlines()[: n + 1]


CH = lines(f"{root}/data/changes.csv", 400)
INC = [l for l in open(f"{root}/data/incidents.csv").read().splitlines()]
INC = [INC[0]] + [l for l in INC[1:] if l.split(",")[4] == "" or int(l.split(",")[4][4:10] or 0) <= 400][:40]
NEW = lines(f"{root}/data/new_changes.csv", 30)
WEIRD = [
    "",
    " ",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1",
    "0",
    "1.5",
    "true",
    "TRUE",
    "yes",
    '"',
    '""',
    '"a,b"',
    "2024-13-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-01-01",
    "2024-01-01 00:00:00",
    "1700000000",
    "\u00e9\u00e8",
    "\ufeff",
    "null",
    "None",
    "18446744073709551616",
    "-9223372036854775808",
    "0x10",
    "1,5",
    "é",
    "\t",
    "😀",
    "a" * 300,
    "agent",
    "admin",
    "none",
    "unknown",
]


def mutate_rows(rows):
    rows = list(rows)
    k = R.randint(1, 4)
    for _ in range(k):
        op = R.randrange(12)
        i = R.randrange(len(rows))
        if op == 0:  # replace a cell
            cells = rows[i].split(",")
            j = R.randrange(len(cells))
            cells[j] = R.choice(WEIRD)
            rows[i] = ",".join(cells)
        elif op == 1:
            rows[i] = rows[i][: R.randrange(len(rows[i]) + 1)]  # truncate line
        elif op == 2:
            rows.insert(i, "")
        elif op == 3:
            rows[i] = rows[i] + "," + R.choice(WEIRD)
        elif op == 4 and len(rows) > 1:
            del rows[R.randrange(1, len(rows))]
        elif op == 5:
            rows.append(rows[R.randrange(len(rows))])  # duplicate row
        elif op == 6:  # header mutation
            cells = rows[0].split(",")
            j = R.randrange(len(cells))
            cells[j] = R.choice(["", cells[j].upper(), cells[j] + " ", cells[(j + 1) % len(cells)], "x"])
            rows[0] = ",".join(cells)
        elif op == 7:
            rows = rows[: R.randrange(1, len(rows) + 1)]
        elif op == 8:  # random byte
            s = rows[i]
            p = R.randrange(len(s) + 1)
            rows[i] = s[:p] + chr(R.randrange(0, 256)) + s[p:]
        elif op == 9:
            rows[i] = rows[i].replace(",", ";")
        elif op == 10:  # swap a column between two rows
            a, b = R.randrange(1, len(rows)), R.randrange(1, len(rows))
            rows[a], rows[b] = rows[b], rows[a]
        else:
            rows[i] = rows[i] + "\r"
    return rows


def write(d, name, rows):
    p = os.path.join(d, name)
    open(p, "w", encoding="utf-8", errors="surrogateescape").write(
        "\n".join(rows) + ("\n" if R.random() < 0.8 else "")
    )
    return p


def run_all(cmds, d, tag):
    """Runs `cmds` in turn until one fails; returns how many behaved badly (a panic, an exit
    code other than 0 and 2, an exit 2 without a message, a timeout), keeping their inputs."""
    bad = 0
    for c in cmds:
        try:
            out = subprocess.run(c, capture_output=True, text=True, errors="replace", timeout=120)
        except subprocess.TimeoutExpired:
            print("TIMEOUT", " ".join(c), flush=True)
            return bad + 1
        if (
            out.returncode not in (0, 2)
            or "panicked" in out.stderr
            or (out.returncode == 2 and not out.stderr.strip())
        ):
            bad += 1
            keep = os.path.join(KEEP, tag)
            os.makedirs(keep, exist_ok=True)
            for f in os.listdir(d):
                with open(os.path.join(d, f), "rb") as src, open(os.path.join(keep, f), "wb") as dst:
                    dst.write(src.read())
            print("BAD", tag, out.returncode, c[1], out.stderr[-600:], flush=True)
        if out.returncode != 0:
            break
    return bad


bad = 0
for it in range(N):
    with tempfile.TemporaryDirectory() as d:
        which = R.randrange(3)
        ch = mutate_rows(CH) if which == 0 else CH
        inc = mutate_rows(INC) if which == 1 else INC
        new = mutate_rows(NEW) if which == 2 else NEW
        pc, pi, pn = write(d, "c.csv", ch), write(d, "i.csv", inc), write(d, "n.csv", new)
        model = os.path.join(d, "m.json")
        cmds = [
            [
                BIN,
                "train",
                "--changes",
                pc,
                "--incidents",
                pi,
                "--model",
                model,
                "--learner",
                R.choice(["logistic", "gbdt", "auto"]),
                "-q",
            ]
        ]
        cmds.append(
            [
                BIN,
                "score",
                "--model",
                model if which != 0 else f"{root}/models/model.json",
                "--changes",
                pn,
                "--history",
                pc,
                "--incidents",
                pi,
                "--output",
                os.path.join(d, "o.csv"),
                "-q",
            ]
        )
        bad += run_all(cmds, d, f"cli{seed}_{it}")
print(f"round 1: {N} runs, {bad} bad")

# --- JSONL changes to score, and a BYOD config history ---
import json

JW = [None, "", "x", 1.5, -1, 1e300, True, [], {}, [1], {"a": 1}, "2024-01-01T00:00:00Z", 2**70, "NaN"]


def jsonl_rows():
    hdr = NEW[0].split(",")
    out = []
    for l in NEW[1:]:
        d = dict(zip(hdr, l.split(",")))
        for k in (
            "reviewer_count",
            "services_affected",
            "regions_affected",
            "lines_changed",
            "files_changed",
        ):
            d[k] = int(d[k])
        for k in ("customer_facing", "rollback_plan"):
            d[k] = d[k] == "true"
        out.append(d)
    for _ in range(R.randint(1, 3)):
        d = R.choice(out)
        op = R.randrange(4)
        k = R.choice(list(d))
        if op == 0:
            d[k] = R.choice(JW)
        elif op == 1:
            del d[k]
        elif op == 2:
            d[R.choice(["extra", k.upper()])] = R.choice(JW)
        else:
            d[k] = R.choice(WEIRD)
    text = [json.dumps(d) for d in out]
    if R.random() < 0.2:
        i = R.randrange(len(text))
        text[i] = text[i][: R.randrange(len(text[i]))]
    return text


OS = open(os.path.join(root, "..", "shared", "datasets", "jit", "openstack.csv")).read().splitlines()[:600]
bad2 = 0
for it in range(N):
    with tempfile.TemporaryDirectory() as d:
        pj = os.path.join(d, "n.jsonl")
        open(pj, "w").write("\n".join(jsonl_rows()) + "\n")
        po = write(d, "os.csv", mutate_rows(OS))
        cmds = [
            [
                BIN,
                "score",
                "--model",
                f"{root}/models/model.json",
                "--changes",
                pj,
                "--no-history",
                "--output",
                os.path.join(d, "o.jsonl"),
                "-q",
            ],
            [
                BIN,
                R.choice(["train", "evaluate"]),
                "--config",
                f"{root}/data/examples/openstack.toml",
                "--changes",
                po,
                "-q",
            ],
        ]
        if cmds[1][1] == "train":
            cmds[1] += ["--model", os.path.join(d, "m.json")]
        bad2 += run_all(cmds, d, f"config{seed}_{it}")
print(f"round 2: {N} runs, {bad2} bad")


def typed_columns(name, cells):
    """Arrow columns a Parquet or Arrow export might hold for the text column `cells`:
    other string types, numbers (with gaps, negated, narrow), booleans as numbers,
    timestamps in several units and zones or as dates, nulls, lists and structs."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    cells = pd.Series(cells)
    out = [
        pa.array(cells.tolist(), pa.large_string()),
        pa.array(cells.tolist(), pa.string()).dictionary_encode(),
    ]
    numbers = pd.to_numeric(cells, errors="coerce")
    if numbers.notna().all():
        gaps = numbers.astype("float64").where(np.arange(len(numbers)) % 7 != 0)
        out += [pa.array(numbers.astype("int64")), pa.array(numbers.astype("float64")), pa.array(gaps)]
        out += [pa.array((-numbers).astype("int64")), pa.array(numbers.astype("int32"))]
    if cells.isin(["true", "false"]).all():
        flags = cells == "true"
        out += [pa.array(flags.tolist()), pa.array(flags.astype(int)), pa.array(flags.astype(float))]
        out += [pa.array([None if i % 5 == 0 else f for i, f in enumerate(flags)], pa.bool_())]
    if name == "timestamp":
        t = pd.to_datetime(cells, utc=True)
        out += [pa.array(t), pa.array(t.dt.tz_localize(None)), pa.array(t.dt.tz_convert("America/New_York"))]
        out += [pa.array(t.astype("int64") // 10**9), pa.array(t.dt.date), pa.array(t.astype("int64") / 1e9)]
    n = len(cells)
    out += [pa.array([None] * n, pa.string()), pa.array([None] * n, pa.null()), pa.array([1.5] * n)]
    out += [pa.array([[1]] * n), pa.array([{"a": 1}] * n)]
    return out


# --- round 3: typed columns in Parquet and Arrow files (needs pyarrow, pandas, numpy) ---
try:
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq
except ImportError:
    print("round 3 NOT RUN: pyarrow is not installed (the typed Parquet and Arrow inputs were not fuzzed)")
    sys.exit(1 if bad or bad2 else 3)
header, *rows = [line.split(",") for line in NEW]
text = {c: [r[j] for r in rows] for j, c in enumerate(header)}
bad3 = 0
for it in range(N):
    columns = {c: pa.array(v, pa.string()) for c, v in text.items()}
    for _ in range(R.randint(1, 3)):
        c = R.choice(header)
        columns[c] = R.choice(typed_columns(c, text[c]))
    with tempfile.TemporaryDirectory() as d:
        ext = R.choice(["parquet", "arrow"])
        path = os.path.join(d, f"n.{ext}")
        (pq.write_table if ext == "parquet" else feather.write_feather)(pa.table(columns), path)
        cmd = [BIN, "score", "--model", f"{root}/models/model.json", "--changes", path, "--no-history"]
        bad3 += run_all([cmd + ["--output", os.path.join(d, "o.parquet"), "-q"]], d, f"typed{seed}_{it}")
print(f"round 3: {N} runs, {bad3} bad")
sys.exit(1 if bad or bad2 or bad3 else 0)
