"""Mutation fuzz of changerisk's command line: every run must exit 0 or 2, never panic,
and an exit 2 must say why on stderr.

    python3 scripts/fuzz_cli.py BINARY RUNS [SEED] [KEEP_DIR]
    /work/bench-venv-q/bin/python scripts/fuzz_cli.py BINARY RUNS   # with round 3

Three rounds of RUNS each, from the shipped data and the public OpenStack file
(../shared/datasets/jit):
(1) mangled changes, incidents or changes to score (odd cells, cut, doubled and blank
    lines, header typos, stray bytes, semicolons for commas) through `train` (a random
    learner) and `score`;
(2) mangled JSON Lines changes through `score`, and a mangled 600-row OpenStack slice
    through `train --config` or `evaluate --config`;
(3) `score` of Parquet and Arrow files whose columns have other types (numbers, booleans
    as numbers, timestamps in other units and zones or as dates, nulls, lists, structs).
The odd cells are `tests/fixtures/odd_cells.json`, which the in-process counterpart
`properties::mangled_files_load_or_are_refused_by_name` (tests/it) reads too. Inputs of
a bad run are copied to KEEP_DIR (default /tmp/changerisk-fuzz).
Rounds 1 and 2 need the standard library only; round 3 needs pyarrow, pandas and numpy
(without them it is reported NOT RUN and the exit code is 3). Exit 1: a bad run.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "model.json")
INT_COLUMNS = ("reviewer_count", "services_affected", "regions_affected", "lines_changed", "files_changed")
BOOL_COLUMNS = ("customer_facing", "rollback_plan")
JSON_VALUES = [
    None,
    "",
    "x",
    1.5,
    -1,
    1e300,
    True,
    [],
    {},
    [1],
    {"a": 1},
    "2024-01-01T00:00:00Z",
    2**70,
    "NaN",
]


def read_lines(path, rows=None):
    """The lines of `path`: the header and the first `rows` data lines (all by default)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return lines if rows is None else lines[: rows + 1]


def shipped_history(rows):
    """The shipped history's first `rows` changes and the incidents in their time span."""
    changes = read_lines(os.path.join(ROOT, "data", "changes.csv"), rows)
    last = max(line.split(",")[1] for line in changes[1:])  # RFC 3339 UTC: text order is time order
    incidents = read_lines(os.path.join(ROOT, "data", "incidents.csv"))
    return changes, incidents[:1] + [line for line in incidents[1:] if line.split(",")[1] <= last]


class Fuzz:
    def __init__(self, binary, seed, keep):
        self.binary, self.seed, self.keep = binary, seed, keep
        self.rng = random.Random(seed)
        with open(os.path.join(ROOT, "tests", "fixtures", "odd_cells.json"), encoding="utf-8") as f:
            self.odd = json.load(f)

    def mangle(self, lines):
        """One to four edits of a CSV file's lines (header first)."""
        r, lines = self.rng, list(lines)
        for _ in range(r.randint(1, 4)):
            i = r.randrange(len(lines))
            op = r.randrange(12)
            if op == 0:  # an odd cell
                cells = lines[i].split(",")
                cells[r.randrange(len(cells))] = r.choice(self.odd)
                lines[i] = ",".join(cells)
            elif op == 1:  # a line cut short
                lines[i] = lines[i][: r.randrange(len(lines[i]) + 1)]
            elif op == 2:
                lines.insert(i, "")
            elif op == 3:  # one cell too many
                lines[i] += "," + r.choice(self.odd)
            elif op == 4 and len(lines) > 1:
                del lines[r.randrange(1, len(lines))]
            elif op == 5:  # a doubled line
                lines.append(lines[i])
            elif op == 6:  # a header typo
                cells = lines[0].split(",")
                j = r.randrange(len(cells))
                cells[j] = r.choice(["", cells[j].upper(), cells[j] + " ", cells[(j + 1) % len(cells)], "x"])
                lines[0] = ",".join(cells)
            elif op == 7:  # the file cut short
                lines = lines[: r.randrange(1, len(lines) + 1)]
            elif op == 8:  # a stray byte
                p = r.randrange(len(lines[i]) + 1)
                lines[i] = lines[i][:p] + chr(r.randrange(256)) + lines[i][p:]
            elif op == 9:
                lines[i] = lines[i].replace(",", ";")
            elif op == 10 and len(lines) > 1:  # two data lines swapped (out of time order)
                a, b = r.randrange(1, len(lines)), r.randrange(1, len(lines))
                lines[a], lines[b] = lines[b], lines[a]
            else:
                lines[i] += "\r"
        return lines

    def write(self, directory, name, lines):
        """Writes `lines` (a final newline in most cases) and returns the path."""
        path = os.path.join(directory, name)
        end = "\n" if self.rng.random() < 0.8 else ""
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write("\n".join(lines) + end)
        return path

    def run_all(self, cmds, directory, tag):
        """Runs `cmds` (each reading what the one before wrote) in turn until one fails;
        returns how many behaved badly (a panic, an exit code other than 0 and 2, an exit 2
        without a message, a timeout), keeping their inputs in KEEP_DIR/tag."""
        bad = 0
        for cmd in cmds:
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
            except subprocess.TimeoutExpired:
                out = None
            silent = out is not None and out.returncode == 2 and not out.stderr.strip()
            if out is None or out.returncode not in (0, 2) or "panicked" in out.stderr or silent:
                bad += 1
                shutil.copytree(directory, os.path.join(self.keep, tag), dirs_exist_ok=True)
                what = "timeout" if out is None else f"exit {out.returncode}: {out.stderr[-600:]}"
                print("BAD", tag, cmd[1], what, flush=True)
            if out is None or out.returncode != 0:
                break
        return bad

    def text_round(self, runs):
        """Round 1: the shipped history, incidents or changes to score, one of them mangled."""
        changes, incidents = shipped_history(400)
        new = read_lines(os.path.join(ROOT, "data", "new_changes.csv"), 30)
        bad = 0
        for it in range(runs):
            which = self.rng.randrange(3)
            with tempfile.TemporaryDirectory() as d:
                files = [
                    self.write(d, name, self.mangle(lines) if k == which else lines)
                    for k, (name, lines) in enumerate(
                        [("c.csv", changes), ("i.csv", incidents), ("n.csv", new)]
                    )
                ]
                c, i, n = files
                model = os.path.join(d, "m.json")
                learner = self.rng.choice(["logistic", "gbdt", "auto"])
                train = [self.binary, "train", "--changes", c, "--incidents", i, "--model", model]
                # Mangled training changes seldom train: score them as history with the shipped model.
                scoring_model = MODEL if which == 0 else model
                score = [self.binary, "score", "--model", scoring_model, "--changes", n, "--history", c]
                score += ["--incidents", i, "--output", os.path.join(d, "o.csv"), "-q"]
                train += ["--learner", learner, "-q"]
                # `score` reads the model `train` writes, unless it takes the shipped one.
                groups = [[train], [score]] if which == 0 else [[train, score]]
                bad += sum(self.run_all(cmds, d, f"text{self.seed}_{it}") for cmds in groups)
        return bad

    def jsonl(self, lines):
        """The changes `lines` as JSON Lines with typed values, one to three of them odd, and
        in a fifth of the cases one object cut short."""
        header = lines[0].split(",")
        rows = []
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            row.update({k: int(row[k]) for k in INT_COLUMNS})
            row.update({k: row[k] == "true" for k in BOOL_COLUMNS})
            rows.append(row)
        r = self.rng
        for _ in range(r.randint(1, 3)):
            row = r.choice(rows)
            key = r.choice(list(row))
            op = r.randrange(4)
            if op == 0:
                row[key] = r.choice(JSON_VALUES)
            elif op == 1:
                del row[key]
            elif op == 2:
                row[r.choice(["extra", key.upper()])] = r.choice(JSON_VALUES)
            else:
                row[key] = r.choice(self.odd)
        text = [json.dumps(row) for row in rows]
        if r.random() < 0.2:
            i = r.randrange(len(text))
            text[i] = text[i][: r.randrange(len(text[i]))]
        return text

    def config_round(self, runs):
        """Round 2: JSON Lines changes to score, and an OpenStack slice read through its config."""
        new = read_lines(os.path.join(ROOT, "data", "new_changes.csv"), 30)
        openstack = read_lines(os.path.join(ROOT, "..", "shared", "datasets", "jit", "openstack.csv"), 599)
        config = os.path.join(ROOT, "data", "examples", "openstack.toml")
        bad = 0
        for it in range(runs):
            with tempfile.TemporaryDirectory() as d:
                jsonl = self.write(d, "n.jsonl", self.jsonl(new))
                score = [self.binary, "score", "--model", MODEL, "--changes", jsonl, "--no-history"]
                score += ["--output", os.path.join(d, "o.jsonl"), "-q"]
                history = self.write(d, "os.csv", self.mangle(openstack))
                command = self.rng.choice(["train", "evaluate"])
                learn = [self.binary, command, "--config", config, "--changes", history, "-q"]
                if command == "train":
                    learn += ["--model", os.path.join(d, "m.json")]
                bad += self.run_all([score], d, f"config{self.seed}_{it}") + self.run_all(
                    [learn], d, f"config{self.seed}_{it}"
                )
        return bad

    def typed_round(self, runs):
        """Round 3: Parquet and Arrow changes to score with one to three columns of other types."""
        import pyarrow as pa
        import pyarrow.feather as feather
        import pyarrow.parquet as pq

        header, *rows = [
            line.split(",") for line in read_lines(os.path.join(ROOT, "data", "new_changes.csv"), 30)
        ]
        text = {c: [row[j] for row in rows] for j, c in enumerate(header)}
        choices = {c: typed_columns(c, cells) for c, cells in text.items()}
        bad = 0
        for it in range(runs):
            columns = {c: pa.array(cells, pa.string()) for c, cells in text.items()}
            for _ in range(self.rng.randint(1, 3)):
                c = self.rng.choice(header)
                columns[c] = self.rng.choice(choices[c])
            with tempfile.TemporaryDirectory() as d:
                ext = self.rng.choice(["parquet", "arrow"])
                path = os.path.join(d, f"n.{ext}")
                (pq.write_table if ext == "parquet" else feather.write_feather)(pa.table(columns), path)
                score = [self.binary, "score", "--model", MODEL, "--changes", path, "--no-history"]
                score += ["--output", os.path.join(d, "o.parquet"), "-q"]
                bad += self.run_all([score], d, f"typed{self.seed}_{it}")
        return bad


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


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, runs = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    fuzz = Fuzz(binary, seed, sys.argv[4] if len(sys.argv) > 4 else "/tmp/changerisk-fuzz")
    bad = fuzz.text_round(runs)
    print(f"round 1: {runs} runs, {bad} bad")
    bad2 = fuzz.config_round(runs)
    print(f"round 2: {runs} runs, {bad2} bad")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        print(
            "round 3 NOT RUN: pyarrow is not installed (the typed Parquet and Arrow inputs were not fuzzed)"
        )
        sys.exit(1 if bad or bad2 else 3)
    bad3 = fuzz.typed_round(runs)
    print(f"round 3: {runs} runs, {bad3} bad")
    sys.exit(1 if bad or bad2 or bad3 else 0)


if __name__ == "__main__":
    main()
