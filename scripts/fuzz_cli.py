"""Mutation fuzz of every input path of changerisk's command line: every run must exit 0
or 2 (or 1 where a gate trips), never panic nor time out, and an exit 2 must say why on
stderr; and a differential round on valid inputs, where paths that must agree are compared.

    python3 scripts/fuzz_cli.py BINARY RUNS [SEED] [KEEP_DIR]
    $HOME/.cache/changerisk-venv/bin/python scripts/fuzz_cli.py BINARY RUNS   # the test venv: rounds 3, 4 and 8 too

Eight rounds of RUNS each, from the shipped data, models, configs, policies and annotate
fixtures and the public OpenStack file (../shared/datasets/jit):
(1) mangled changes, incidents or changes to score (odd cells, cut, doubled and blank
    lines, header typos, stray bytes, semicolons for commas) through `train` (a random
    learner) and `score`;
(2) mangled JSON Lines changes through `score`, and a mangled 600-row OpenStack slice
    through `train --config` or `evaluate --config`;
(3) `score` of Parquet and Arrow files whose columns have other types (numbers, booleans
    as numbers, timestamps in other units and zones or as dates, nulls, lists, structs);
(4) partitioned tables: the shipped history, incidents or changes to score dealt into one
    to five parts (CSV, JSON Lines, Parquet, Arrow IPC) below zero to two `key=value`
    levels (now and then a key named like a column the parts hold), with one or two
    directory-level faults (a mangled, empty, zero-byte, reordered, retyped or doubled
    part, pass-through columns of odd types, odd or uneven partition names, bookkeeping
    and stray files, links up the tree, out of it or to nothing, empty directories) or,
    in a fifth of the runs, none, through `score` (to a directory of parts or one file,
    new, over an earlier output, or inside an input), `drift`, `train` and now and then
    `evaluate`, `report` or `export`. Outputs are checked too: an exit 0 to a directory
    leaves `_SUCCESS` there; a failed run leaves the output's place as it was, with no
    `.NAME.tmp-*`, `.NAME.partial-*` or `.NAME.old-*` temporary behind; no run changes
    an input. Where no fault changed the rows, an exit 0 must give what the same rows in
    one file give (every change's risk, tier, reasons and policy; the drift report; the
    model file byte for byte), and a table with no fault at all must not be refused;
(5) mangled model files (a key deleted, a number made a string, NaN, huge or negative,
    arrays cut or swapped, odd names and levels, a tree's child pointing back at its node
    or past the end, the version changed, the file cut, stray bytes) of the shipped
    logistic model, the annotate fixture's blend model and a blend trained at the start,
    through `score --no-history`, `drift`, `sql` (each dialect) and `annotate --change`;
(6) mangled feature configs (data/examples/openstack.toml: keys dropped, values of other
    types, unknown columns and keys, duplicate features, `monotone` on unknown features,
    odd time formats) through `config --check` and `train`/`evaluate --config` of the
    OpenStack slice; mangled guardrail policies (policies/default.toml) through
    `score --policy` (and `annotate --policy`); `config --infer` of a mangled CSV;
(7) `annotate`'s own inputs: a mangled one-row CSV or JSON change (a file or standard
    input), a mangled GitHub event payload (pull_request, pull_request_review, push) over
    a throwaway git repository in the scratch directory, a mangled path-to-service map
    with `--git`, GitLab's CI variables, and odd values in its environment variables.
    `annotate --fail-level` may exit 1, with the rule that tripped on stderr;
(8) differential, on random valid inputs (awkward only where SPEC.md allows: names with
    quotes, commas, tabs and other scripts, levels in any case, boolean spellings, empty
    optional cells, counts of 0 and near the loader's 9e15, ids as numbers, `123.0` beside
    `123` and `9` beside `10`, times in other offsets, ISO 8601 variants, fractions and leap
    seconds, in one second or a window's edge from another (a day, 7 and 30 days, a second
    either side), near 1970 or 2200, incidents twice, naming several, unknown or integer-form
    causes, on no change's service, none at all; a config's numbers empty, NaN, negative,
    huge, and on a tree's split threshold; categorical levels training never saw), every
    command over them must exit 0 and: `score` and `sql --dialect duckdb` run in DuckDB
    (its Python package) agree on every change's logit (1e-12, against `export`'s), risk
    (1e-14) and tier (a tier may differ only where the risks lie within 1e-14 of a cut
    point: counted as a tie), over the CSV files as text (`--raw`), typed Parquet (`--raw`),
    a history and new changes as their UNION (`score --history`), and the export's table;
    `export` gives `score`'s risks and tiers; the same rows as another CSV spelling, JSON
    Lines, Parquet, Arrow IPC, a partitioned directory or in another order give `score`'s
    output exactly and `train` the same model file byte for byte. The models: the shipped
    one, logistic, gbdt and auto ones trained at the round's start from random histories
    (now and then with their own `--max-severity` and `--attribution-window`), the
    OpenStack config's on a 500-row slice of its data, and one of the config `config
    --infer` proposes for a random table with a label, a service, an author, a numeric
    with gaps, a flag and a categorical column (tree models capped at 20-60 trees, as the
    query of hundreds takes DuckDB a second to plan). A kept run holds its model
    (`model.json`), inputs, outputs and queries (`q-*.sql`, run in DuckDB in that directory).
The odd cells are `tests/fixtures/odd_cells.json`, which the in-process counterpart
`properties::mangled_files_load_or_are_refused_by_name` (tests/it) reads too. Inputs of
a bad run are copied to KEEP_DIR (default /tmp/changerisk-fuzz), with its command and
what was wrong in BAD.txt there.
Rounds 1, 2 and 5 to 7 need the standard library only (round 7's git inputs need git;
rounds 6 and 7 read TOML with Python 3.11's tomllib); rounds 3 and 4 need pyarrow, pandas
and numpy, round 8 pyarrow and duckdb (without them they are reported NOT RUN and the exit
code is 3). Rounds 4 to 8 each draw from their own seeded generator, so each is
deterministic per seed whichever rounds ran before it. Exit 1: a bad run.
"""

import copy
import csv
import io
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

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

    def run_all(self, cmds, directory, tag, allowed=(0, 2), stdin=None, env=None, cwd=None, check=None):
        """Runs `cmds` (each reading what the one before wrote) in turn until one fails;
        returns how many behaved badly (a panic, an exit code not in `allowed`, an exit 1 or
        2 without a message, a timeout, or what `check` finds), keeping their inputs in
        KEEP_DIR/tag. `stdin` is a file fed to each command, `env` and `cwd` theirs;
        `check(cmd)`, called before a command runs, returns a function of its result that
        names what is wrong with its outputs (None: nothing)."""
        bad = 0
        for cmd in cmds:
            after = check(cmd) if check else None
            feed = open(stdin, "rb") if stdin else None
            try:
                out = subprocess.run(
                    cmd, stdin=feed, capture_output=True, text=True, errors="replace", timeout=120, env=env, cwd=cwd
                )
            except subprocess.TimeoutExpired:
                out = None
            finally:
                if feed:
                    feed.close()
            silent = out is not None and out.returncode in (1, 2) and not out.stderr.strip()
            problem = after(out) if after and out is not None else None
            if out is None or out.returncode not in allowed or "panicked" in out.stderr or silent or problem:
                bad += 1
                keep = os.path.join(self.keep, tag)
                shutil.copytree(directory, keep, symlinks=True, dirs_exist_ok=True)
                what = "timeout" if out is None else f"exit {out.returncode}: {out.stderr[-600:]}"
                if problem:
                    what += f" [{problem}]"
                with open(os.path.join(keep, "BAD.txt"), "a", encoding="utf-8") as f:
                    f.write(f"{shlex.join(cmd)}\n{'stdin: ' + stdin if stdin else ''}\n{what}\n\n")
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

    def clean_env(self):
        """This process's environment without CI's and changerisk's own variables (so that
        `annotate` reads only what a run gives it) and without the user's git config."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CHANGERISK_", "GITHUB_", "GITLAB", "CI_", "RUNNER_")) and k != "CI"
        }
        env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
        return env

    def output_check(self, out, target=None, is_dir=False, whole=True, inputs=(), same=None, accept=False):
        """A `check` for `run_all`: the place `out` of a command's outputs must hold no new
        `.NAME.tmp-*`, `.NAME.partial-*` or `.NAME.old-*` afterwards; after a failure it must
        be as it was (`whole`: nothing written, an earlier output kept); after an exit 0
        the output `target` must be there, a directory output with its `_SUCCESS`; an exit
        1 must name the gate that tripped; the directories `inputs` must stay as they were;
        `same(result)`, after an exit 0, names how the outputs differ from what they must be;
        `accept`: the inputs are sound, and anything but an exit 0 is wrong."""

        def check(cmd):
            before = listing(out)
            temps_before = {n for n in os.listdir(out) if TEMP_NAME.match(n)}
            inputs_before = [listing(path) for path in inputs]

            def after(result):
                problems = []
                temps = sorted(n for n in os.listdir(out) if TEMP_NAME.match(n) and n not in temps_before)
                if temps:
                    problems.append(f"temporary files left in {out}: {temps}")
                gone = sorted(temps_before - set(os.listdir(out)))
                if gone:
                    problems.append(f"a fresh temporary of another run was removed: {gone}")
                if accept and result.returncode != 0:
                    problems.append("sound inputs refused")
                for path, was in zip(inputs, inputs_before):
                    if listing(path) != was:
                        problems.append(f"the input {path} changed: {sorted(set(listing(path)) ^ set(was))[:6]}")
                if result.returncode == 1 and "tripped" not in result.stderr:
                    problems.append("exit 1 without the gate that tripped")
                if result.returncode != 0:
                    now = listing(out)
                    if whole and now != before:
                        changed = sorted(set(now) ^ set(before))[:6]
                        problems.append(f"a failed run changed its output place {out}: {changed}")
                elif target and is_dir and not os.path.isfile(os.path.join(target, "_SUCCESS")):
                    problems.append(f"exit 0 but no _SUCCESS in the output directory {target}")
                elif target and not is_dir and not os.path.isfile(target):
                    problems.append(f"exit 0 but no output {target}")
                elif same:
                    problems.append(same(result))
                return "; ".join(p for p in problems if p) or None

            return after

        return check

    # Round 4: partitioned tables.

    def partitioned_round(self, runs):
        """Round 4: the shipped history, incidents or changes to score as partitioned tables
        (directories) with one or two directory-level faults, through `score` (to a directory
        of parts or one file), `drift` and `train` (or `evaluate`, `report`, `export`)."""
        import pyarrow.csv as pacsv

        self.rng.seed(f"round 4, seed {self.seed}")
        changes, incidents = shipped_history(400)
        sources = {"history": changes, "incidents": incidents, "new": read_lines(NEW, 60)}
        typed = {k: pacsv.read_csv(io.BytesIO(("\n".join(v) + "\n").encode())) for k, v in sources.items()}
        base = tempfile.mkdtemp()
        self.reference = Reference(self.binary, base, {k: plain_write(base, f"{k}.csv", v) for k, v in sources.items()})
        try:
            return self.partitioned_runs(runs, sources, typed)
        finally:
            shutil.rmtree(base)

    def partitioned_runs(self, runs, sources, typed):
        """Round 4's runs. A table whose rows no fault changed must give what the same rows
        in one file give: the same scores (risk, tier, reasons, policy of every change),
        drift report (shifts, advice, outcomes) and model file (byte for byte)."""
        bad = 0
        for it in range(runs):
            r = self.rng
            parted = r.choice([["new"], ["new"], ["history"], ["incidents"], ["history", "new"], ["incidents", "new"]])
            parted = parted if r.random() < 0.9 else ["history", "incidents"]
            tag = f"parts{self.seed}_{it}"
            clean = r.random() < 0.2  # no fault: every command must succeed, as with one file
            with tempfile.TemporaryDirectory() as d:
                paths, tables = {}, {}
                for name in sorted(sources):
                    if name in parted:
                        tables[name] = self.deal(name, sources[name], typed[name])
                    else:
                        paths[name] = self.write(d, f"{name}.csv", sources[name])
                for _ in range(0 if clean else r.randint(1, 2)):
                    self.fault(tables[r.choice(parted)])
                for name, table in tables.items():
                    paths[name] = self.materialise(d, table)
                h, i, n = paths["history"], paths["incidents"], paths["new"]
                roots = [paths[name] for name in sorted(parted)]
                out = os.path.join(d, "out")
                os.mkdir(out)
                target, arg, is_dir = self.score_target(out, "new" in parted, clean)
                if not clean and r.random() < 0.1:  # an output inside a partitioned input: refused, the input kept
                    arg, target = self.inside(r.choice(roots)), None
                changes = n
                intact = all(table["intact"] for table in tables.values())
                if "new" in parted and r.random() < 0.15:  # the daily run: one partition, the table its history
                    levels = sorted(e for e in os.listdir(n) if "=" in e and os.path.isdir(os.path.join(n, e)))
                    changes, h, intact = (os.path.join(n, levels[0]) if levels else n), n, False
                score = [self.binary, "score", "--model", MODEL, "--changes", changes, "--history", h, "--incidents", i]
                score += ["--output", arg, "-q"]
                same = (lambda result: self.reference.same_scores(target, is_dir)) if intact and target else None
                # (The tables this run reads: the daily run reads no partitioned history.)
                read = [p for p in dict.fromkeys([changes, h, i]) if os.path.isdir(p)]
                check = self.output_check(out, target, is_dir, inputs=read, same=same, accept=clean)
                bad += self.run_all([score], d, tag, cwd=d, check=check)
                h = paths["history"]
                if r.random() < 0.5:
                    drift = [self.binary, "drift", "--model", MODEL, "--changes", n, "--history", h, "--incidents", i]
                    drift += ["--outcomes"] if r.random() < 0.3 else []
                else:  # the history as the batch, its outcomes known
                    drift = [self.binary, "drift", "--model", MODEL, "--changes", h, "--incidents", i, "--outcomes"]
                drift += (["--json"] if r.random() < 0.5 else []) + ["-q"]
                check = self.output_check(out, accept=True) if clean else None
                if intact and "--json" in drift:
                    batch = "history" if drift[5] == h else "new"
                    same = lambda result, key=(batch, "--outcomes" in drift): self.reference.same_drift(key, result.stdout)  # noqa: E731
                    check = self.output_check(out, same=same, accept=clean)
                bad += self.run_all([drift], d, tag, cwd=d, check=check)
                if "history" in parted or "incidents" in parted:
                    kind = r.choices(["train", "evaluate", "report", "export"], [6, 2, 1, 1])[0]
                    learn, target = [self.binary, kind, "--changes", h, "--incidents", i, "-q"], None
                    read = [paths[name] for name in ("history", "incidents") if name in parted]  # what it reads
                    if kind == "train":
                        target = os.path.join(out, "m.json")
                        if not clean and r.random() < 0.1:  # inside a partitioned input: refused, the input kept
                            target = None
                        model = target or self.inside(r.choice(read)).rstrip("/")
                        learn += ["--model", model, "--learner", r.choice(["logistic", "gbdt", "auto"])]
                    elif kind == "report":
                        target = os.path.join(out, "report.html")
                        learn += ["--model", MODEL, "--output", target]
                    elif kind == "export":
                        learn += ["--model", MODEL, "--output", os.path.join(out, "export")]
                        learn += ["--format", r.choice(["csv", "parquet", "arrow"])]
                    same = None
                    if kind == "train" and intact and target:
                        same = lambda result, learner=learn[-1]: self.reference.same_model(learner, target)  # noqa: E731
                    check = self.output_check(out, target, whole=kind != "export", inputs=read, same=same, accept=clean)
                    bad += self.run_all([learn], d, tag, cwd=d, check=check)
        return bad

    def score_target(self, out, partitioned, sound=False):
        """Where `score` writes: (the path, the argument naming it, whether a directory);
        a directory only for a partitioned batch. Now and then an empty directory or an
        earlier complete output is there already, or (unless `sound`) a place it must
        refuse."""
        r = self.rng
        names = ["scored.csv", "scored.parquet", "scored.jsonl"]
        if partitioned:
            names += ["scored/", "scored", "scored.parquet/", "scored/"] + ["scored.arrow"] * (not sound)
        arg = os.path.join(out, r.choice(names))
        target = arg.rstrip("/")
        is_dir = arg.endswith("/") or "." not in os.path.basename(target)
        k = r.choice([0, 1, 2, 4, 7]) if sound else r.randrange(12)
        if is_dir and k < 5:
            if k == 4:  # a link to an empty directory elsewhere: the output goes there
                os.mkdir(os.path.join(out, "..", "elsewhere"))
                os.symlink(os.path.join("..", "elsewhere"), target)
            else:
                os.mkdir(target)
            if k in (1, 2):  # an earlier complete output, which a run replaces
                with open(os.path.join(target, "part-00000.csv"), "w") as f:
                    f.write("change_id,risk\nearlier,0.5\n")
                open(os.path.join(target, "_SUCCESS"), "w").close()
            if k == 3:  # a directory holding something else: refused
                with open(os.path.join(target, "notes.txt"), "w") as f:
                    f.write("mine\n")
        elif k == 5:  # a file where the output goes (replaced, or for a directory refused)
            with open(target, "w") as f:
                f.write("change_id,risk\nearlier,0.5\n")
        elif k == 6:  # a fresh temporary of a run of another machine: kept
            name = "." + os.path.basename(target) + r.choice([".tmp-", ".partial-", ".old-"]) + "999999999"
            with open(os.path.join(out, name), "w") as f:
                f.write("x")
        return target, arg, is_dir

    def inside(self, root):
        """An output path inside the partitioned table `root` (or naming it)."""
        r = self.rng
        levels = sorted(e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e)))
        return r.choice(
            [
                os.path.join(root, "scored.csv"),
                os.path.join(root, "scored") + "/",
                os.path.join(root, *levels[:1], "scored.parquet"),
                os.path.join(root, "new", "..", "scored.jsonl"),
                os.path.join(os.path.dirname(root), "out", "..", os.path.basename(root)) + "/",
                root,
            ]
        )

    def deal(self, name, lines, typed):
        """The table `lines` dealt in time order into one to five parts of random formats
        below zero to two `key=value` levels: a table to `fault` and `materialise`."""
        r = self.rng
        header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
        count = r.randint(1, 5)
        cuts = sorted(r.sample(range(1, len(rows)), count - 1))
        keys = r.sample(["day", "region", "batch", "_source"], r.randint(0, 2))
        if r.random() < 0.15:  # a key named like a column the parts hold (theirs wins)
            keys.insert(r.randint(0, len(keys)), r.choice([c for c in header if c in COLUMN_KEYS]))
        table = {"name": r.choice([name, name + ".parquet", name + "_by_day"]), "header": header, "rows": rows}
        table.update(typed=typed, keys=keys, entries=[], outside=None, intact=True)
        for k, (a, b) in enumerate(zip([0] + cuts, cuts + [len(rows)])):
            levels = [f"{key}={level_value(key, k)}" for key in keys]
            fmt = r.choice(PART_FORMATS)
            part = {"rel": levels + [f"part-{k:05d}.{fmt}"], "rows": (a, b), "fmt": fmt}
            part["data"] = self.encode(table, fmt, a, b, header)
            table["entries"].append(part)
        return table

    def encode(self, table, fmt, a, b, columns, extra=None, retyped=None):
        """The bytes of a part holding rows a..b of `table`, its `columns` in that order, with
        an `extra` (name, kind) pass-through column, and for Parquet and Arrow the `retyped`
        columns (name: Arrow array)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        header, rows = table["header"], table["rows"][a:b]
        idx = [header.index(c) for c in columns]
        values, array = extra_column(extra[1], len(rows)) if extra else (None, None)
        if fmt == "csv":
            lines = [[row[j] for j in idx] for row in rows]
            if extra:
                columns = columns + [extra[0]]
                lines = [line + [csv_text(v)] for line, v in zip(lines, values)]
            return ("\n".join([",".join(columns)] + [",".join(line) for line in lines]) + "\n").encode()
        if fmt in ("jsonl", "ndjson"):
            omit = self.rng.random() < 0.5  # a gap omitted, else null
            objs = [{c: json_cell(row[j]) for c, j in zip(columns, idx) if not (omit and row[j] == "")} for row in rows]
            for o, v in zip(objs, values or []):
                o[extra[0]] = json_value(v)
            return "".join(json.dumps(o) + "\n" for o in objs).encode()
        t = table["typed"].slice(a, b - a).select(columns)
        for name, column in (retyped or {}).items():
            if name in t.column_names:
                t = t.set_column(t.column_names.index(name), name, column)
        if extra:
            t = t.append_column(extra[0], array)
        sink = pa.BufferOutputStream()
        if fmt == "parquet":
            pq.write_table(t, sink)
        else:
            compression = self.rng.choice([None, None, None, "lz4", "zstd"])
            with pa.ipc.new_file(sink, t.schema, options=pa.ipc.IpcWriteOptions(compression=compression)) as w:
                w.write_table(t)
        return sink.getvalue().to_pybytes()

    def fault(self, table):
        """One directory-level fault in `table`."""
        r = self.rng
        entries, header = table["entries"], table["header"]
        part = r.choice([e for e in entries if "rows" in e])
        where, stem = part["rel"][:-1], part["rel"][-1].rsplit(".", 1)[0]
        op = r.randrange(15)
        # Faults that change the rows (the others only add none, or pass-through columns).
        table["intact"] = table["intact"] and op not in (0, 12, 14)
        if op == 0:  # a mangled part, as CSV
            a, b = part["rows"]
            lines = self.mangle([",".join(header)] + [",".join(row) for row in table["rows"][a:b]])
            part.update(fmt="csv", rel=where + [stem + ".csv"], data="\n".join(lines).encode())
        elif op == 1:  # an empty part, in a format of its own
            fmt = r.choice(PART_FORMATS)
            entries.append({"rel": where + [f"part-empty.{fmt}"], "rows": (0, 0), "fmt": fmt})
            entries[-1]["data"] = self.encode(table, fmt, 0, 0, header)
        elif op == 2:  # a file of no bytes
            entries.append({"rel": where + [f"part-zero.{r.choice(PART_FORMATS)}"], "data": b""})
        elif op == 3:  # a part with its columns in another order, or one column missing
            columns = list(header)
            if r.random() < 0.5:
                r.shuffle(columns)
            else:
                del columns[r.randrange(len(columns))]
                table["intact"] = False
            part["data"] = self.encode(table, part["fmt"], *part["rows"], columns)
        elif op == 4:
            self.odd_levels(table)
        elif op == 5:  # a part at another depth or below another key
            k = r.randrange(4)
            if k == 0 and where:
                part["rel"] = where[:-1] + part["rel"][-1:]
            elif k == 1:
                part["rel"] = where + ["extra=1"] + part["rel"][-1:]
            elif k == 2:
                part["rel"] = where + ["sub"] + part["rel"][-1:]
            else:
                j = r.randrange(len(where)) if where else None
                if j is None:
                    part["rel"] = ["other=1"] + part["rel"]
                else:
                    part["rel"] = where[:j] + ["other=" + where[j].split("=", 1)[-1]] + part["rel"][j + 1 :]
        elif op == 6:  # bookkeeping files Spark and Hadoop leave (skipped by name)
            name, data = r.choice(
                [
                    ("_SUCCESS", b""),
                    (f".{stem}.csv.crc", bytes(r.randrange(256) for _ in range(12))),
                    ("_temporary/0/_temporary/attempt_0/part-00000.csv", b"garbage,\n\x00\xff"),
                    ("_temporary/0/part-00009.parquet", b"PAR1"),
                    (".hidden", b"\xff\xfe"),
                    ("_common_metadata", b"PAR1"),
                    (".DS_Store", b"\x00\x00\x00\x01Bud1"),
                ]
            )
            entries.append({"rel": r.choice([[], where]) + name.split("/"), "data": data})
        elif op == 7:  # a stray file that names no table format
            name = r.choice(
                ["notes.txt", "README", "part-00009.csv.gz", "part-00009.orc", "part-00009.json", "part-00009.CSV"]
                + ["part-00009.parquet.bak", "part-00009.avro", "part-00009.csv~", "part-00009."]
            )
            entries.append({"rel": where + [name], "data": part["data"]})
        elif op == 8:  # a link back up the tree: a loop
            name = r.choice(["loop", "day=loop", "part-00009.csv"])
            entries.append({"rel": where + [name], "link": r.choice(["..", ".", "../..", "<root>"])})
        elif op == 9:  # a link to nothing
            name = r.choice(["part-00009.csv", "part-00009.parquet", "gone"])
            entries.append({"rel": where + [name], "link": "missing.csv"})
        elif op == 10:  # an empty directory
            name = r.choice(["empty", "day=2099-01-01", "_temporary", "k=v", "part-00009.parquet"])
            entries.append({"rel": r.choice([[], where]) + [name], "dir": True})
        elif op == 11:  # a link to a part outside the table (its header alone: no rows twice)
            table["outside"] = ",".join(header) + "\n"
            entries.append({"rel": where + ["part-linked.csv"], "link": "<outside>"})
        elif op == 12:  # a Parquet or Arrow part whose columns have other types (as round 3's)
            a, b = part["rows"]
            if b > a:
                fmt = r.choice(["parquet", "arrow"])
                retyped = {}
                for _ in range(r.randint(1, 2)):
                    name = r.choice(header)
                    retyped[name] = r.choice(typed_columns(name, [row[header.index(name)] for row in table["rows"][a:b]]))
                part.update(fmt=fmt, rel=where + [f"{stem}.{fmt}"], data=self.encode(table, fmt, a, b, header, None, retyped))
        elif op == 13:  # a pass-through column in some parts, of a type of their own
            name = r.choice(["note", "note", "risk", "Tier", "day", "region", "input_risk", "service ", ""])
            for e in [e for e in entries if "rows" in e and "fmt" in e]:
                if r.random() < 0.6:
                    e["data"] = self.encode(table, e["fmt"], *e["rows"], header, (name, r.choice(EXTRA_KINDS)))
        else:  # a part twice (its change ids in two parts)
            fmt = r.choice(PART_FORMATS)
            entries.append({"rel": r.choice([where, []]) + [f"copy.{fmt}"], "rows": part["rows"], "fmt": fmt})
            entries[-1]["data"] = self.encode(table, fmt, *part["rows"], header)

    def odd_levels(self, table):
        """Odd partition names: one part's value, a key in every part, or a new level."""
        r = self.rng
        parts = [e for e in table["entries"] if "rows" in e]
        depth = len(table["keys"])
        if depth and r.random() < 0.5:
            e = r.choice(parts)
            j = r.randrange(depth)
            value = r.choice(["", "%ZZ", "%2F", "%", "a%2Fb", "%00", "é", "日本", "__HIVE_DEFAULT_PARTITION__"])
            value = value if r.random() < 0.9 else r.choice(["v=w", " ", "%C3%A9", "a b", "%C3", "%FF"])
            e["rel"][j] = f"{table['keys'][j]}={value}"
        elif depth:
            j = r.randrange(depth)
            key = r.choice(["", "service", "change_id", "timestamp", "author", "severity", "risk", "tier", "région"])
            for e in parts:
                e["rel"][j] = key + "=" + e["rel"][j].split("=", 1)[-1]
        else:
            level = r.choice(["k=", "=v", "k=v=w", "k=%ZZ", "k=%2F", "k=é", "k=__HIVE_DEFAULT_PARTITION__"])
            level = level if r.random() < 0.6 else r.choice(["service=x", "change_id=x", "timestamp=x", "severity=x"])
            for e in parts:
                e["rel"].insert(0, level)

    def materialise(self, directory, table):
        """Writes `table`'s parts, files, links and directories; returns its directory."""
        root = os.path.join(directory, table["name"])
        os.makedirs(root, exist_ok=True)
        outside = os.path.join(directory, "outside.csv")
        if table["outside"]:
            with open(outside, "w") as f:
                f.write(table["outside"])
        for e in table["entries"]:
            path = os.path.join(root, *e["rel"])
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if "link" in e:
                    os.symlink({"<root>": root, "<outside>": outside}.get(e["link"], e["link"]), path)
                elif e.get("dir"):
                    os.makedirs(path, exist_ok=True)
                else:
                    with open(path, "wb") as f:
                        f.write(e["data"])
            except OSError:  # the name is an earlier entry's
                pass
        return root

    # Round 5: model files.

    def model_round(self, runs):
        """Round 5: mangled model files through `score --no-history`, `drift`, `sql` (each
        dialect) and `annotate --change`."""
        self.rng.seed(f"round 5, seed {self.seed}")
        r = self.rng
        changes, incidents = shipped_history(400)
        new = read_lines(NEW, 30)
        models = [MODEL, os.path.join(ANNOTATE, "model.json")]
        with tempfile.TemporaryDirectory() as base:
            c, i = (plain_write(base, name, lines) for name, lines in [("c.csv", changes), ("i.csv", incidents)])
            blend = os.path.join(base, "blend.json")
            cmd = [self.binary, "train", "--changes", c, "--incidents", i, "--model", blend, "--learner", "blend", "-q"]
            if subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0:
                models.append(blend)
            else:
                print("round 5: the blend model did not train; mangling the shipped models only")
            texts = []
            for m in models:
                with open(m, encoding="utf-8") as f:
                    texts.append(f.read())
        bad = 0
        for it in range(runs):
            tag = f"model{self.seed}_{it}"
            data = self.mangle_model(r.choice(texts))
            with tempfile.TemporaryDirectory() as d:
                m = os.path.join(d, "m.json")
                with open(m, "wb") as f:
                    f.write(data)
                n = self.write(d, "n.csv", new)
                c, i = self.write(d, "c.csv", changes), self.write(d, "i.csv", incidents)
                one = self.one_change(d, new)
                out = os.path.join(d, "out")
                os.mkdir(out)
                target = os.path.join(out, "o.csv")
                score = [self.binary, "score", "--model", m, "--changes", n, "--no-history", "--output", target, "-q"]
                bad += self.run_all([score], d, tag, cwd=d, check=self.output_check(out, target))
                if r.random() < 0.5:
                    drift = [self.binary, "drift", "--model", m, "--changes", n, "--history", c, "--incidents", i]
                else:
                    drift = [self.binary, "drift", "--model", m, "--changes", c, "--incidents", i, "--outcomes"]
                bad += self.run_all([drift + ["--json"] * r.randrange(2) + ["-q"]], d, tag, cwd=d)
                for dialect in ["duckdb", "trino", "spark"]:
                    target = os.path.join(out, f"q-{dialect}.sql")
                    sql = [self.binary, "sql", "--model", m, "--dialect", dialect, "--output", target, "-q"]
                    if r.random() < 0.5:
                        sql += ["--raw", "--from", "changes", "--incidents", "incidents"]
                    if r.random() < 0.2:
                        sql += ["--tiers", r.choice(["80,95,99.5", "50,90,99"])]
                    bad += self.run_all([sql], d, tag, cwd=d, check=self.output_check(out, target))
                annotate = [self.binary, "annotate", "--model", m, "--change", one, "--format", "json", "-q"]
                bad += self.run_all([annotate], d, tag, env=self.clean_env(), cwd=d)
        return bad

    def mangle_model(self, text):
        """The model file `text` with one or two JSON-aware edits, or cut short, or with stray
        bytes: the bytes to write."""
        r = self.rng
        op = r.randrange(10)
        if op == 8:  # the file cut short
            return text.encode()[: r.randrange(len(text))]
        if op == 9:  # stray bytes
            data = text.encode()
            for _ in range(r.randint(1, 3)):
                p = r.randrange(len(data) + 1)
                data = data[:p] + bytes([r.randrange(256)]) + data[p:]
            return data
        doc = json.loads(text)
        trees = doc.get("trees", {}).get("trees") if isinstance(doc.get("trees"), dict) else None
        for _ in range(r.randint(1, 2)):
            if trees and r.random() < 0.3:
                self.edit_tree(r.choice(trees), len(doc.get("features", [])))
            elif op == 4:  # the version, format or learner changed
                key = r.choice(["format_version", "format_version", "format", "learner"])
                doc[key] = r.choice(
                    [0, 1, 3, 4, 7, 8, 9, 10, 99, -1, "9", 9.5, None, 2**64]
                    if key == "format_version"
                    else ["", "changerisk-model", "x", "logistic", "gbdt", "blend", "auto", None, 1]
                )
            else:
                self.edit_json(doc, op)
            op = r.randrange(8)
        return json.dumps(doc, indent=r.choice([None, 2])).encode()

    def edit_tree(self, tree, features):
        """One edit of a tree of the model: a child pointing at its own node, an earlier one or
        past the end, a feature index out of range, an odd threshold, a leaf made a split or
        a split a leaf, no nodes."""
        r = self.rng
        nodes = tree.get("nodes") if isinstance(tree, dict) else None
        if not nodes:
            return
        k = r.randrange(len(nodes))
        node = nodes[k]
        op = r.randrange(6)
        if op < 2 and "left" in node:
            node[r.choice(["left", "right"])] = r.choice([k, 0, max(k - 1, 0), len(nodes), -1, 2**32])
        elif op == 2 and "feature" in node:
            node["feature"] = r.choice([-1, features, features + 1, 2**31, 0])
        elif op == 3 and "threshold" in node:
            node["threshold"] = r.choice([1e308, -1e308, 0, "NaN", None, 2**64])
        elif op == 4:
            if "value" in node:
                node.update(feature=0, threshold=0.5, left=r.choice([k, len(nodes)]), right=k + 1)
            else:
                for key in ("feature", "threshold", "left", "right"):
                    node.pop(key, None)
                node["value"] = r.choice([0.1, 1e308, -1e308])
        else:
            tree["nodes"] = r.choice([[], nodes[:1], nodes[1:]])

    def json_spots(self, doc):
        """A random descent from the root of `doc` to a leaf: (container, key, value) at
        each step."""
        spots, node = [], doc
        while isinstance(node, (dict, list)) and node:
            key = self.rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
            spots.append((node, key, node[key]))
            node = node[key]
        return spots

    def edit_json(self, doc, op, values=None):
        """One JSON-aware edit of `doc` (op 0-7) at a random place along a random descent;
        `values` are extra replacement values."""
        r = self.rng
        spots = self.json_spots(doc) or [(doc, None, None)]
        if isinstance(doc, dict) and r.random() < 0.15:  # a key of the root itself
            spots = spots[:1]

        def pick(test):
            found = [s for s in spots if test(s)] or [s for s in self.json_spots(doc) if test(s)]
            return r.choice(found) if found else None

        numeric = lambda s: isinstance(s[2], (int, float)) and not isinstance(s[2], bool)  # noqa: E731
        if op == 0:  # a key deleted
            s = pick(lambda s: isinstance(s[0], dict))
            if s:
                del s[0][s[1]]
        elif op == 1:  # a number made a string, NaN-ish, huge or negative
            s = pick(numeric) or spots[-1]
            if s[1] is not None:
                v = s[2]
                s[0][s[1]] = r.choice(
                    [str(v), "NaN", float("nan"), float("inf"), -float("inf"), 1e308, -1e308, -1, 2**64, 2**31]
                    + [0, 0.5, None, True, "", [], {}, -v if numeric(s) and v else -1]
                    + (values or [])
                )
        elif op == 2:  # an array cut short
            s = pick(lambda s: isinstance(s[2], list) and s[2])
            if s:
                s[0][s[1]] = s[2][: r.randrange(len(s[2]))]
        elif op == 3:  # two arrays swapped, or one reversed
            a = pick(lambda s: isinstance(s[2], list))
            found = [s for s in self.json_spots(doc) if isinstance(s[2], list) and s[2] is not (a and a[2])]
            if a and found and r.random() < 0.7:
                b = r.choice(found)
                a[0][a[1]], b[0][b[1]] = b[2], a[2]
            elif a:
                a[2].reverse()
        elif op == 5:  # a string changed
            s = pick(lambda s: isinstance(s[2], str))
            if s:
                odd = ["", "x", "NaN", "agent", "@time", "service", s[2].upper(), s[2] + " ", "a'b", 'a"b', "a`b", "a\\b"]
                s[0][s[1]] = r.choice(odd + ["é", "a\nb", "--", "/*", "${x}"] + (values or []))
        elif op == 6:  # an element doubled
            s = pick(lambda s: isinstance(s[2], list) and s[2])
            if s:
                s[2].insert(r.randrange(len(s[2]) + 1), copy.deepcopy(r.choice(s[2])))
        else:  # an index or count made small, self-referring or out of range
            s = pick(lambda s: isinstance(s[2], int) and not isinstance(s[2], bool)) or spots[-1]
            if s[1] is not None:
                own = [k for _, k, _ in spots if isinstance(k, int)]
                s[0][s[1]] = r.choice([0, 1, -1, 2**32, 10**6, 255] + own[-1:] + [k - 1 for k in own[-1:]])

    def one_change(self, directory, new, mangled=False):
        """A one-row change file from `new` (the shipped changes to score), CSV or JSON, now and
        then mangled: its path."""
        r = self.rng
        header, row = new[0], new[r.randrange(1, len(new))]
        if r.random() < 0.5:
            lines = [header, row]
            return self.write(directory, "one.csv", self.mangle(lines) if mangled else lines)
        obj = {k: json_cell(v) for k, v in zip(header.split(","), row.split(",")) if v != "" or r.random() < 0.5}
        if not mangled:
            text = json.dumps(obj, indent=2)
        else:
            text = self.mangle_object(obj, JSON_VALUES + self.odd)
        path = os.path.join(directory, "one.json")
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        return path

    def mangle_object(self, obj, values):
        """A JSON object with one to three edits (keys deleted or added, values changed,
        arrays cut), or the whole text made something else: cut short, stray bytes, a
        doubled key, an array or two objects, a byte-order mark. Returns the bytes."""
        r = self.rng
        obj = copy.deepcopy(obj)
        for _ in range(r.randint(1, 3)):
            op = r.randrange(10)
            if op < 4:
                s = r.choice(self.json_spots(obj) or [(obj, None, None)])
                if s[1] is not None:
                    s[0][s[1]] = r.choice(values)
            elif op == 4:
                s = r.choice(self.json_spots(obj) or [(obj, None, None)])
                if isinstance(s[0], dict) and s[1] is not None:
                    del s[0][s[1]]
            elif op == 5:
                obj[r.choice(["extra", "CHANGE_ID", "Service", " service", r.choice(list(obj) or ["x"])])] = r.choice(values)
            else:
                self.edit_json(obj, r.randrange(8), values)
        text = json.dumps(obj, ensure_ascii=r.random() < 0.5).encode("utf-8", "surrogatepass")
        op = r.randrange(10)
        if op == 0:
            return text[: r.randrange(len(text) + 1)]
        if op == 1:
            p = r.randrange(len(text) + 1)
            return text[:p] + bytes([r.randrange(256)]) + text[p:]
        if op == 2 and text.startswith(b"{") and len(obj):
            key = r.choice(list(obj))
            return b"{" + json.dumps(key).encode() + b": " + json.dumps(r.choice(values)).encode() + b", " + text[1:]
        if op == 3:
            return r.choice([b"[" + text + b"]", text + b"\n" + text, b"\xef\xbb\xbf" + text, b"[]", b"null", b"42"])
        return text

    # Round 6: configs and policies.

    def settings_round(self, runs):
        """Round 6: mangled feature configs through `config --check` and `train`/`evaluate
        --config`, mangled policies through `score --policy` (and `annotate --policy`),
        and `config --infer` of a mangled CSV."""
        import tomllib

        self.rng.seed(f"round 6, seed {self.seed}")
        r = self.rng
        new = read_lines(NEW, 30)
        openstack = read_lines(OPENSTACK, 599)
        changes, _ = shipped_history(200)
        with open(CONFIG, "rb") as f:
            config = tomllib.load(f)
        with open(POLICY, "rb") as f:
            policy = tomllib.load(f)
        columns = openstack[0].split(",")
        bad = 0
        for it in range(runs):
            tag = f"settings{self.seed}_{it}"
            with tempfile.TemporaryDirectory() as d:
                os_csv = self.write(d, "os.csv", openstack)
                cfg = self.write_bytes(d, "c.toml", self.toml_bytes(self.mangle_config(config, columns)))
                pol = self.write_bytes(d, "p.toml", self.toml_bytes(self.mangle_policy(policy)))
                n = self.write(d, "n.csv", new)
                if r.random() < 0.2:
                    infer = self.write(d, "infer.jsonl", self.jsonl(new))
                else:
                    infer = self.write(d, "infer.csv", self.mangle(r.choice([openstack, changes, new])))
                out = os.path.join(d, "out")
                os.mkdir(out)
                bad += self.run_all([[self.binary, "config", "--check", cfg]], d, tag, cwd=d)
                command = r.choice(["train", "evaluate"])
                learn = [self.binary, command, "--config", cfg, "--changes", os_csv, "-q"]
                target = os.path.join(out, "m.json") if command == "train" else None
                learn += ["--model", target] if target else ["--json"] * r.randrange(2)
                check = self.output_check(out, target) if target else None
                bad += self.run_all([learn], d, tag, cwd=d, check=check)
                target = os.path.join(out, "o.csv")
                score = [self.binary, "score", "--model", MODEL, "--changes", n, "--no-history", "--policy", pol]
                score += ["--output", target, "-q"]
                bad += self.run_all([score], d, tag, cwd=d, check=self.output_check(out, target))
                if r.random() < 0.3:
                    one = self.one_change(d, new)
                    annotate = [self.binary, "annotate", "--change", one, "--policy", pol, "--format", "json", "-q"]
                    allowed = (0, 2)
                    if r.random() < 0.5:
                        annotate += ["--fail-level", r.choice(["warn", "block", "tier:high"])]
                        allowed = (0, 1, 2)
                    bad += self.run_all(
                        [annotate + ["--model", MODEL]], d, tag, allowed=allowed, env=self.clean_env(), cwd=d,
                        check=self.output_check(out),
                    )
                bad += self.run_all([[self.binary, "config", "--infer", infer]], d, tag, cwd=d)
        return bad

    def write_bytes(self, directory, name, data):
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def toml_bytes(self, doc):
        """`doc` as TOML text; in a quarter of the cases then cut short, with a stray byte, a
        line doubled (a duplicate key) or a line dropped."""
        r = self.rng
        lines = toml_text(doc).split("\n")
        op = r.randrange(16)
        if op == 0:
            lines = lines[: r.randrange(len(lines) + 1)]
        elif op == 1:
            i = r.randrange(len(lines))
            p = r.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:p] + chr(r.randrange(256)) + lines[i][p:]
        elif op == 2:
            i = r.randrange(len(lines))
            lines.insert(i, lines[i])
        elif op == 3:
            del lines[r.randrange(len(lines))]
        return "\n".join(lines).encode("utf-8", "surrogatepass")

    def mangle_config(self, config, columns):
        """A feature config with one to three edits: a key dropped, a value of another type,
        an unknown column or key, a feature twice, `monotone` on an unknown feature or with
        an odd direction, an odd time format, a derived column's name, a role moved."""
        r = self.rng
        doc = copy.deepcopy(config)
        for _ in range(r.randint(1, 3)):
            cols = doc.get("columns") if isinstance(doc.get("columns"), dict) else {}
            feats = doc.get("features") if isinstance(doc.get("features"), dict) else {}
            lists = [k for k in ("numeric", "boolean", "categorical") if isinstance(feats.get(k), list)]
            op = r.randrange(11)
            if op == 0:  # a key dropped
                table = r.choice([doc, cols, feats])
                if table:
                    del table[r.choice(sorted(table))]
            elif op == 1:  # a value of another type
                table = r.choice([cols, feats])
                if table:
                    table[r.choice(sorted(table))] = r.choice(TOML_VALUES)
            elif op == 2:  # an unknown column
                if r.random() < 0.5 or not lists:
                    cols[r.choice(["id", "timestamp", "label", "service", "author"])] = r.choice(UNKNOWN_COLUMNS)
                else:
                    feats[r.choice(lists)].append(r.choice(UNKNOWN_COLUMNS))
            elif op == 3 and lists:  # a feature twice, in one list or two
                name = r.choice(feats[r.choice(lists)] or columns[5:])
                feats[r.choice(lists)].append(name)
            elif op == 4:  # monotone on an unknown feature, or an odd direction
                name = r.choice(["la", "fix", "ns", "zzz", "_id", "bug", "date", "", "__"])
                direction = r.choice([1, -1, 0, 2, -2, 1.5, "up", True, 127, 128, -129, float("nan")])
                monotone = feats.setdefault("monotone", {}) if isinstance(feats.get("monotone", {}), dict) else {}
                monotone[name] = direction
                doc["features"] = feats
            elif op == 5:  # an unknown key
                r.choice([doc, cols, feats])[r.choice(["colour", "Label", "numerics", "features", "id "])] = r.choice(
                    TOML_VALUES
                )
            elif op == 6:  # an odd time format
                cols["timestamp_format"] = r.choice(TIME_FORMATS)
                doc["columns"] = cols
            elif op == 7:  # a derived column's name, or a role on an odd column
                k = r.randrange(4)
                if k == 0 and lists:
                    feats[r.choice(lists)].append(r.choice(["hour", "weekday", "weekend", "off_hours", "@time"]))
                    feats[r.choice(lists)].append(r.choice(["service_prior_changes", "change_id", "risk"]))
                elif k == 1:
                    cols[r.choice(["service", "author"])] = r.choice(columns)
                elif k == 2:
                    cols["label"] = r.choice(["la", "ns", "fix", "entrophy", "date", "_id", "__", ""])
                else:
                    feats["builtin"] = True
            elif op == 8:  # every role on one column, or no features at all
                if r.random() < 0.5:
                    name = r.choice(columns)
                    for role in ("id", "timestamp", "label"):
                        cols[role] = name
                else:
                    for k in lists:
                        feats[k] = []
            elif op == 9:  # a whole table gone or replaced
                doc[r.choice(["columns", "features"])] = r.choice([{}, [], "x", 1])
            else:  # a high-cardinality or time column as a category
                if lists:
                    feats["categorical"] = feats.get("categorical", []) + [r.choice(["_id", "date", "la", "age", ""])]
        return doc

    def mangle_policy(self, policy):
        """A policy file with one or two edits: a key dropped, an odd action, a condition
        with an odd value, an unknown condition, a rule doubled (its id twice), no rules, a
        rule with no conditions, a value of another type, an unknown key."""
        r = self.rng
        doc = copy.deepcopy(policy)
        for _ in range(r.randint(1, 2)):
            rules = doc.get("rule") if isinstance(doc.get("rule"), list) else []
            rule = r.choice(rules) if rules and isinstance(rules[0], dict) else {}
            when = rule.get("when") if isinstance(rule.get("when"), dict) else {}
            op = r.randrange(13)
            if op == 0:  # a key dropped
                table = r.choice([rule, when, when])
                if table:
                    del table[r.choice(sorted(table))]
            elif op == 1:  # an odd action
                rule["action"] = r.choice(["stop", "", "Block", "WARN", " warn", 1, True, ["block"]])
            elif op in (2, 3, 10, 11, 12):  # a condition with an odd value
                name = r.choice(sorted(CONDITIONS))
                when[name] = r.choice(CONDITIONS[name] + TOML_VALUES[:6])
                rule["when"] = when
            elif op == 4:  # an unknown condition
                when[r.choice(["colour", "min_lines_changed", "Tier", "tiers", ""])] = r.choice(TOML_VALUES)
                rule["when"] = when
            elif op == 5:  # a rule doubled (its id twice), or an id, description emptied
                if rule and r.random() < 0.5:
                    rules.append(copy.deepcopy(rule))
                else:
                    rule[r.choice(["id", "description"])] = r.choice(["", " ", "x" * 3000, "ai-privileged-unreviewed"])
            elif op == 6 and r.random() < 0.3:  # no rules
                doc = r.choice([{"rule": []}, {}, {"rule": {}}, {"rules": rules}])
            elif op == 7:  # a rule with no conditions
                rule["when"] = {}
            elif op == 8:  # a value of another type
                table = doc if r.random() < 0.1 else rule
                if table:
                    table[r.choice(sorted(table))] = r.choice(TOML_VALUES)
            elif op == 9:  # an unknown key
                r.choice([doc, rule])[r.choice(["severity", "enabled", "when_not", "version"])] = r.choice(TOML_VALUES)
        return doc

    # Round 7: annotate's own inputs.

    def annotate_round(self, runs):
        """Round 7: annotate's change files (or standard input), GitHub event payloads over a
        throwaway git repository, path-to-service maps, GitLab's variables and odd values of
        its environment variables."""
        import tomllib

        self.rng.seed(f"round 7, seed {self.seed}")
        r = self.rng
        new = read_lines(NEW, 30)
        with open(os.path.join(ANNOTATE, "services.toml"), "rb") as f:
            services = tomllib.load(f)
        bad = 0
        with tempfile.TemporaryDirectory() as base:
            repo, shas = git_repo(base, self.clean_env())
            if not repo:
                print("round 7: git is not installed: change files only (no events, service maps or GitLab)")
            for it in range(runs):
                tag = f"annotate{self.seed}_{it}"
                with tempfile.TemporaryDirectory() as d:
                    out = os.path.join(d, "out")
                    os.mkdir(out)
                    env, stdin = self.clean_env(), None
                    cmd = [self.binary, "annotate", "--model", r.choice([MODEL, os.path.join(ANNOTATE, "model.json")])]
                    mode = r.randrange(4) if repo else 0
                    if mode == 0:  # a change file, or the same on standard input
                        one = self.one_change(d, new, mangled=True)
                        if r.random() < 0.25:
                            cmd, stdin = cmd + ["--change", "-"], one
                        else:
                            cmd += ["--change", one]
                    elif mode == 1:  # a GitHub event payload over the repository
                        event = self.mangle_object(github_event(r, shas), JSON_VALUES + self.odd + sha_values(shas))
                        cmd += ["--event", self.write_bytes(d, "event.json", event), "--repo", repo]
                        if r.random() < 0.3:
                            cmd += ["--change", self.one_change(d, new)]
                        if r.random() < 0.5:
                            cmd += ["--services", os.path.join(ANNOTATE, "services.toml")]
                    elif mode == 2:  # a path-to-service map over a git range
                        smap = self.write_bytes(d, "services.toml", self.toml_bytes(self.mangle_services(services)))
                        a, b = sorted(r.sample(range(len(shas)), 2))
                        span = f"{shas[a]}..{shas[b]}"
                        if r.random() < 0.25:  # an odd range: open, reversed, empty, three dots, an option
                            span = r.choice(
                                [f"{shas[a]}..", f"..{shas[b]}", f"{shas[b]}..{shas[a]}", f"{shas[a]}..{shas[a]}"]
                                + [f"{shas[a]}...{shas[b]}", "HEAD~1..HEAD", "HEAD~10..HEAD", "--upload-pack=x..HEAD"]
                                + ["main..HEAD", "x..y..z", "", "..", f"{shas[a]}", f"{shas[a][:4]}..HEAD"]
                            )
                        cmd += ["--git", span, "--repo", repo, "--services", smap]
                        if r.random() < 0.3:
                            event = json.dumps(github_event(r, shas)).encode()
                            cmd += ["--event", self.write_bytes(d, "event.json", event)]
                    else:  # GitLab's merge request variables
                        env.update(gitlab_env(shas))
                        for _ in range(r.randint(1, 2)):
                            key = r.choice(sorted(gitlab_env(shas)))
                            if r.random() < 0.2:
                                env.pop(key, None)
                            else:
                                env[key] = env_text(r.choice(self.odd + sha_values(shas)))
                        cmd += ["--repo", repo]
                        if r.random() < 0.5:
                            cmd += ["--services", os.path.join(ANNOTATE, "services.toml")]
                    allowed = (0, 2)
                    if r.random() < 0.25:  # an odd value of one of its variables
                        name = r.choice(ANNOTATE_VARIABLES)
                        env[name] = env_text(r.choice(self.odd))
                        allowed = (0, 1, 2) if name == "CHANGERISK_FAIL_LEVEL" else allowed
                    fmt = r.choice(["json", "markdown", "github", "gitlab", "sarif", "markdown=out/c.md,json=out/r.json"])
                    cmd += ["--format", fmt, "--github-step-summary", "out/summary.md", "--github-output", "out/o.txt"]
                    if r.random() < 0.3:
                        cmd += ["--fail-level", r.choice(["warn", "block", "tier:medium", "tier:high", "tier:critical"])]
                        allowed = (0, 1, 2)
                    cmd += ["-q"] * r.randrange(2)
                    bad += self.run_all([cmd], d, tag, allowed, stdin, env, d, check=self.output_check(out, whole=False))
        return bad

    def mangle_services(self, services):
        """A path-to-service map with one or two edits: a key dropped, a value of another
        type, odd path patterns, odd regions, a service doubled, an unknown key."""
        r = self.rng
        doc = copy.deepcopy(services)
        for _ in range(r.randint(1, 2)):
            entries = doc.get("service") if isinstance(doc.get("service"), list) else []
            entry = r.choice(entries) if entries and isinstance(entries[0], dict) else {}
            op = r.randrange(8)
            if op == 0:
                table = r.choice([doc, entry])
                if table:
                    del table[r.choice(sorted(table))]
            elif op == 1:
                table = r.choice([doc, entry, entry])
                key = r.choice(sorted(table) or ["default"])
                table[key] = r.choice(TOML_VALUES + self.odd)
            elif op in (2, 3):
                patterns = list(entry.get("paths", [])) if isinstance(entry.get("paths"), list) else []
                patterns.insert(r.randrange(len(patterns) + 1), r.choice(ODD_PATTERNS))
                entry["paths"] = patterns
            elif op == 4:
                entry[r.choice(["regions", "customer_facing"])] = r.choice(
                    [0, -1, 2**40, 2**63 - 1, 1.5, "3", "yes", 1, float("nan")]
                )
            elif op == 5 and entry:
                entries.append(copy.deepcopy(entry))
            elif op == 6:
                doc[r.choice(["service", "default"])] = r.choice([[], {}, "", "x", 1, [{}]])
            else:
                r.choice([doc, entry])[r.choice(["owner", "region", "Paths", "name "])] = r.choice(TOML_VALUES)
            if entry and entry not in entries:
                entries.append(entry)
                doc["service"] = entries
        return doc

    # Round 8: paths that must agree.

    def differential_round(self, runs):
        """Round 8: random valid, awkward histories through paths that must agree: `score`
        against `sql --dialect duckdb` run in DuckDB (`--raw` over the rows as text CSV or
        typed Parquet, a history and new changes as their UNION, and the export's table),
        `export` against `score`, and the same rows as CSV, JSON Lines, Parquet, Arrow IPC
        and a partitioned directory through `score` and `train`. The models: the shipped one,
        logistic, gbdt and auto models trained at the start from random histories, and two
        config models (the OpenStack config on a slice of its data, and the config `config
        --infer` proposes for a random table with a label, a service and an author)."""
        self.rng.seed(f"round 8, seed {self.seed}")
        base = tempfile.mkdtemp(prefix="changerisk-round8-")
        self.ties = 0
        try:
            models, bad = self.differential_models(base)
            for it in range(runs):
                bad += self.differential_run(it, self.rng.choice(models))
        finally:
            shutil.rmtree(base)
        if self.ties:
            print(f"round 8: {self.ties} tier(s) differed at a cut point with the risks within 1e-14 (ties, not counted)")
        return bad

    def sound(self, cmd, d, tag, same=None):
        """Runs `cmd` in `d` over valid inputs: anything but an exit 0 is bad (an exit 2 as a
        possible mismatch with SPEC.md), and so is what `same(result)` names after an exit
        0. True if it ran clean."""
        clean = [True]

        def check(_cmd):
            def after(result):
                if result.returncode != 0:
                    clean[0] = False
                    return "valid inputs refused" + (" (a possible contract mismatch)" if result.returncode == 2 else "")
                problem = same(result) if same else None
                clean[0] = not problem
                return problem

            return after

        bad = self.run_all([cmd], d, tag, cwd=d, check=check)
        return bad, clean[0] and not bad

    def differential_models(self, base):
        """Round 8's models, each a dict: its name, path, config (or None), how to make
        tables it reads ("make"), their time column and format ("time") and which columns
        a typed file may type ("kinds"); and how many bad runs training them took."""
        r, bad = self.rng, 0
        contract = {"make": contract_tables, "config": None, "time": ("timestamp", "rfc3339"), "kinds": CONTRACT_KINDS}
        models = [dict(contract, name="shipped", path=MODEL)]
        for learner in ("logistic", "gbdt", "auto"):
            d = os.path.join(base, learner)
            os.mkdir(d)
            tables = contract_tables(r, r.randint(220, 320))
            write_table_csv(r, d, "c.csv", *tables["changes"])
            write_table_csv(r, d, "i.csv", *tables["incidents"])
            cmd = [self.binary, "train", "--changes", "c.csv", "--incidents", "i.csv", "--model", "m.json"]
            cmd += ["--learner", learner, "-q"] + trees8(r, learner)
            if r.random() < 0.4:  # its own labelling, which the query must link by too
                cmd += ["--max-severity", r.choice(["3", "sev2", "4"])]
                cmd += ["--attribution-window", r.choice(["2h", "90m", "1d", "3600", "48h"])]
            b, ok = self.sound(cmd, d, f"diff{self.seed}_train_{learner}")
            bad += b
            if ok:
                models.append(dict(contract, name=learner, path=os.path.join(d, "m.json")))
        # The OpenStack config on a 500-row slice of its data.
        d = os.path.join(base, "openstack")
        os.mkdir(d)
        header, rows = openstack_rows()
        start = r.randrange(len(rows) - 500)
        openstack = {"make": openstack_tables, "config": CONFIG, "time": ("date", "unix"), "kinds": OPENSTACK_KINDS}
        write_table_csv(r, d, "os.csv", header, rows[start : start + 500])
        learner = r.choice(["logistic", "gbdt", "auto"])
        cmd = [self.binary, "train", "--config", CONFIG, "--changes", "os.csv", "--model", "m.json"]
        cmd += ["--learner", learner, "-q"] + trees8(r, learner)
        b, ok = self.sound(cmd, d, f"diff{self.seed}_train_openstack")
        bad += b
        if ok:
            models.append(dict(openstack, name=f"openstack-{learner}", path=os.path.join(d, "m.json")))
        # A table of its own, its config as `config --infer` proposes it.
        d = os.path.join(base, "own")
        os.mkdir(d)
        fmt = r.choice(["unix", "unix_ms", "rfc3339"])
        make = lambda rng, n=None, fmt=fmt: own_tables(rng, n, fmt)  # noqa: E731
        write_table_csv(r, d, "own.csv", *make(r, 400)["changes"])
        infer = [self.binary, "config", "--infer", "own.csv"]
        out = subprocess.run(infer, capture_output=True, text=True, timeout=120, cwd=d)
        if out.returncode != 0:
            bad += self.sound(infer, d, f"diff{self.seed}_infer")[0]
        else:
            cfg = os.path.join(d, "own.toml")
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(out.stdout)
            time_format = re.search(r'^timestamp_format = "(\w+)"', out.stdout, re.M)
            label = re.search(r'^label = "(\w+)"', out.stdout, re.M)
            own = {"make": make, "config": cfg, "label": label and label.group(1)}
            own["time"] = ("when", time_format.group(1) if time_format else "rfc3339")
            own["kinds"] = dict(OWN_KINDS, when="time" if own["time"][1] == "rfc3339" else "int")
            learner = r.choice(["logistic", "gbdt", "auto"])
            cmd = [self.binary, "train", "--config", cfg, "--changes", "own.csv", "--model", "m.json"]
            cmd += ["--learner", learner, "-q"] + trees8(r, learner)
            if not own["label"]:
                print("round 8: config --infer found no label in the table of its own; training it with incidents")
            b, ok = self.sound(cmd, d, f"diff{self.seed}_train_own")
            bad += b
            if ok and own["label"]:
                models.append(dict(own, name=f"own-{fmt}-{learner}", path=os.path.join(d, "m.json")))
        for model in models:
            model["splits"] = split_values(model["path"]) if model["config"] else {}
        print(f"round 8: models {', '.join(m['name'] for m in models)}", flush=True)
        return models, bad

    def differential_run(self, it, model):
        """One run of round 8: a random valid table (and its incidents) for `model`, through
        score, export, sql in DuckDB, other formats and train."""
        r = self.rng
        tag = f"diff{self.seed}_{it}"
        bad = 0
        tables = model["make"](r)
        header, rows = tables["changes"]
        split = sorted(c for c in model["splits"] if model["kinds"].get(c) == "float")  # (its own numbers)
        if split and r.random() < 0.3:  # a config's number on a tree's split
            for _ in range(r.randint(1, max(1, len(rows) // 3))):
                column = r.choice(split)
                r.choice(rows)[header.index(column)] = repr(r.choice(model["splits"][column]))
        with tempfile.TemporaryDirectory() as d:
            header, rows = tables["changes"]
            write_table_csv(r, d, "c.csv", header, rows)
            inputs = ["--changes", "c.csv"]
            if tables.get("incidents"):
                write_table_csv(r, d, "i.csv", *tables["incidents"])
                inputs += ["--incidents", "i.csv"]
            # The model (and its config) beside the inputs, so that a kept run is whole.
            shutil.copy(model["path"], os.path.join(d, "model.json"))
            if model["config"]:
                shutil.copy(model["config"], os.path.join(d, "config.toml"))
            with open(os.path.join(d, "MODEL.txt"), "w") as f:
                f.write(f"{model['name']}\n")
            m = ["--model", "model.json"]
            tiers = ["--tiers", r.choice(["80,95,99.5", "20,80,95", "50,90,99", "10,11,12"])] if r.random() < 0.2 else []
            score = [self.binary, "score", *m, *inputs, "--output", "s.csv", *tiers, "-q"]
            b, ok = self.sound(score, d, tag)
            bad += b
            if not ok:
                return bad
            want = read_scored(os.path.join(d, "s.csv"))
            # export: the same scores, and the logits the query's must equal.
            export = [self.binary, "export", *m, *inputs, "--output", "exp", "-q"]
            exported = {}

            def same_export(_result):
                exported.update(read_exported(os.path.join(d, "exp", "changes.parquet")))
                return score_differences(want, exported, "export", "score", tiers=not tiers)

            bad += self.sound(export, d, tag, same_export)[0]
            logits = {k: v[4] for k, v in exported.items()} if exported else None
            # sql --raw over the text of the CSV files, and now and then over typed Parquet.
            sources = ["csv"] + (["parquet"] if r.random() < 0.3 else [])
            for source in sources:
                frm, inc = self.duckdb_sources(r, d, model, tables, source)
                sql = [self.binary, "sql", *m, "--raw", "--from", frm] + (["--incidents", inc] if inc else [])
                sql += [*tiers, "--output", f"q-{source}.sql", "-q"]
                same = lambda _res, q=f"q-{source}.sql": self.query_check(d, q, want, logits)  # noqa: E731
                bad += self.sound(sql, d, tag, same)[0]
            # Over the export's table (the computed inputs).
            if exported and r.random() < 0.25:
                fmt = r.choice(["parquet", "csv"])
                if fmt == "csv":
                    again = [self.binary, "export", *m, *inputs, "--output", "expcsv", "--format", "csv", "-q"]
                    bad += self.sound(again, d, tag)[0]
                    frm = "read_csv('expcsv/changes.csv', types = {'change_id': 'VARCHAR'})"  # (ids as written)
                else:
                    frm = "read_parquet('exp/changes.parquet')"
                sql = [self.binary, "sql", *m, "--from", frm, *tiers, "--output", "q-export.sql", "-q"]
                same = lambda _res: self.query_check(d, "q-export.sql", want, logits)  # noqa: E731
                bad += self.sound(sql, d, tag, same)[0]
            # New changes scored against a history (some changes in both): the query over their UNION.
            if tables.get("incidents") and r.random() < 0.3:
                bad += self.split_check(r, d, tag, model, tables, tiers)
            # The same rows in other formats: the same scores, and the same model file.
            formats = r.sample(["jsonl", "parquet", "arrow", "dir", "shuffled", "csv"], r.randint(1, 2))
            bad += self.formats_check(r, d, tag, model, tables, formats, m, tiers, want)
        return bad

    def duckdb_sources(self, r, d, model, tables, source):
        """The --from and --incidents relations DuckDB reads the run's tables by: the CSV
        files as text (the time cast to TIMESTAMPTZ), or typed Parquet files written here."""
        column, fmt = model["time"]
        incidents = tables.get("incidents")
        if source == "csv":  # the CSV files, their times as RFC 3339 UTC text DuckDB casts
            rfc3339 = fmt == "rfc3339"
            write_table_csv(r, d, "c-duck.csv", *canonical_table(tables["changes"], column if rfc3339 else None))
            frm = duckdb_csv("c-duck.csv", column if rfc3339 else None)
            if incidents:
                write_table_csv(r, d, "i-duck.csv", *canonical_table(incidents, "start_time"))
            return frm, incidents and duckdb_csv("i-duck.csv", "start_time")
        header, rows = tables["changes"]
        write_typed(r, os.path.join(d, "c.parquet"), header, rows, model["kinds"], 1.0)
        if incidents:
            write_typed(r, os.path.join(d, "i.parquet"), *incidents, INCIDENT_KINDS, 1.0)
        return "read_parquet('c.parquet')", incidents and "read_parquet('i.parquet')"

    def query_check(self, d, query, want, logits, only=None):
        """What differs between the query `query` (a file in `d`) run in DuckDB and
        changerisk's scores `want` ({id: (risk, tier, reasons, policy)}) and `logits`."""
        with open(os.path.join(d, query), encoding="utf-8") as f:
            text = f.read()
        rows, error = duckdb_run(d, text)
        if error:
            return f"{query} in DuckDB stopped on inputs changerisk scored: {error}"
        cuts = [float(x) for x in re.findall(r"risk >= ([-+0-9.eE]+)", text.rsplit("CASE (CASE", 1)[-1])]
        got, twice = {}, []
        for cid, logit, risk, tier in rows:
            key = clean_id(str(cid))
            twice += [key] if key in got else []
            got[key] = (logit, risk, tier)
        if only is not None:
            got = {k: v for k, v in got.items() if k in only}
        problems = [f"the query gives {len(twice)} change(s) twice, e.g. {twice[0]!r}"] if twice else []
        if set(got) != set(want):
            problems.append(
                f"the query scores {len(got)} changes, changerisk {len(want)}: only in the query "
                f"{sorted(set(got) - set(want))[:3]}, only in changerisk's {sorted(set(want) - set(got))[:3]}"
            )
        differ = []
        for k in sorted(set(got) & set(want)):
            logit, risk, tier = got[k]
            w_risk, w_tier = float(want[k][0]), want[k][1]
            w_logit = logits.get(k) if logits else None
            if logit is None or risk is None or tier is None:
                differ.append(f"{k!r}: NULL in the query (logit {logit}, risk {risk}, tier {tier})")
                continue
            far = abs(risk - w_risk) > 1e-14 or (w_logit is not None and abs(logit - w_logit) > 1e-12)
            if not far and tier != w_tier:
                if any(min(risk, w_risk) - 1e-14 <= c <= max(risk, w_risk) + 1e-14 for c in cuts):
                    self.ties += 1
                    continue
                far = True
            if far:
                differ.append(
                    f"{k!r}: query logit {logit!r} risk {risk!r} tier {tier}; changerisk logit {w_logit!r} "
                    f"risk {w_risk!r} tier {w_tier}"
                )
        if differ:
            problems.append(f"{len(differ)} of {len(want)} changes differ from changerisk's, e.g. " + "; ".join(differ[:2]))
        return f"{query} in DuckDB: " + "; ".join(problems) if problems else None

    def split_check(self, r, d, tag, model, tables, tiers):
        """New changes (the latest rows, and now and then a few earlier ones) scored with the
        rest as `--history` (a few new changes in it too, counted once): the query over the
        UNION of the two, its new rows, must score them alike."""
        header, rows = tables["changes"]
        if len(rows) < 4:
            return 0
        order = sorted(range(len(rows)), key=lambda k: rows[k][header.index("timestamp")][:19])
        cut = r.randrange(len(rows) // 2, len(rows) - 1)
        new = set(order[cut:]) | set(r.sample(range(len(rows)), r.randint(0, 2)))
        history = [k for k in range(len(rows)) if k not in new or r.random() < 0.3]
        write_table_csv(r, d, "h.csv", header, [rows[k] for k in history])
        write_table_csv(r, d, "n.csv", header, [rows[k] for k in sorted(new)])
        write_table_csv(r, d, "h-duck.csv", *canonical_table((header, [rows[k] for k in history]), "timestamp"))
        write_table_csv(r, d, "n-duck.csv", *canonical_table((header, [rows[k] for k in sorted(new)]), "timestamp"))
        score = [self.binary, "score", "--model", "model.json", "--changes", "n.csv", "--history", "h.csv"]
        score += ["--incidents", "i.csv", "--output", "s-new.csv", *tiers, "-q"]
        bad, ok = self.sound(score, d, tag)
        if not ok:
            return bad
        want = read_scored(os.path.join(d, "s-new.csv"))
        union = f"(SELECT * FROM {duckdb_csv('h-duck.csv', None)} UNION SELECT * FROM {duckdb_csv('n-duck.csv', None)})"
        frm = f'(SELECT * REPLACE (CAST("timestamp" AS TIMESTAMPTZ) AS "timestamp") FROM {union})'
        sql = [self.binary, "sql", "--model", "model.json", "--raw", "--from", frm]
        write_table_csv(r, d, "i-duck.csv", *canonical_table(tables["incidents"], "start_time"))
        sql += ["--incidents", duckdb_csv("i-duck.csv", "start_time"), *tiers, "--output", "q-union.sql", "-q"]
        same = lambda _res: self.query_check(d, "q-union.sql", want, None, only=set(want))  # noqa: E731
        return bad + self.sound(sql, d, tag, same)[0]

    def formats_check(self, r, d, tag, model, tables, formats, m, tiers, want):
        """The run's changes, incidents or both in each of `formats` (JSON Lines, Parquet,
        Arrow IPC or a partitioned directory): `score` must give what the CSV files give,
        and now and then `train` the same model file byte for byte."""
        bad = 0
        header, rows = tables["changes"]
        incidents = tables.get("incidents")
        train = r.random() < 0.5
        for fmt in formats:
            which = r.choice(["changes", "incidents", "both"]) if incidents else "changes"
            if which != "changes" and not incidents[1] and fmt in ("jsonl", "dir"):
                which = "changes"  # (no rows: a JSON Lines file or a directory of parts would be empty)
            paths = {"changes": "c.csv", "incidents": "i.csv"}
            for name in ("changes", "incidents"):
                if which in (name, "both"):
                    h, rs = tables[name]
                    kinds = model["kinds"] if name == "changes" else INCIDENT_KINDS
                    paths[name] = write_format(r, d, f"{name[0]}-{fmt}", fmt, h, rs, kinds)
            inputs = ["--changes", paths["changes"]] + (["--incidents", paths["incidents"]] if incidents else [])
            out = f"s-{fmt}.csv"
            score = [self.binary, "score", *m, *inputs, "--output", out, *tiers, "-q"]
            same = lambda _res, out=out, fmt=fmt: score_differences(  # noqa: E731
                read_scored(os.path.join(d, out)), want, f"{fmt} ({which})", "CSV", exact=True
            )
            bad += self.sound(score, d, tag, same)[0]
            if train:
                csv_inputs = ["--changes", "c.csv"] + (["--incidents", "i.csv"] if incidents else [])
                bad += self.train_check(r, d, tag, model, csv_inputs, inputs, fmt)
                train = False
        return bad

    def train_check(self, r, d, tag, model, csv_inputs, inputs, fmt):
        """`train` of the CSV files and of the same rows in `fmt`: the same model file."""
        learner = r.choice(["logistic"] * 4 + ["gbdt", "auto"])
        cfg = ["--config", "config.toml"] if model["config"] else []
        cmd = [self.binary, "train", *cfg, "--learner", learner, "-q"] + trees8(r, learner)
        first = subprocess.run(
            cmd + csv_inputs + ["--model", "t-csv.json"], capture_output=True, text=True, cwd=d, timeout=120
        )
        if first.returncode != 0:  # a small random table need not train (one class only, too few rows)
            return 0

        def same(_result):
            with open(os.path.join(d, "t-csv.json"), "rb") as a, open(os.path.join(d, f"t-{fmt}.json"), "rb") as b:
                x, y = a.read(), b.read()
            if x == y:
                return None
            xs, ys = x.decode(errors="replace").splitlines(), y.decode(errors="replace").splitlines()
            k = next((k for k, (p, q) in enumerate(zip(xs, ys)) if p != q), min(len(xs), len(ys)))
            ours, theirs = ((v[k] if k < len(v) else "(end)").strip()[:100] for v in (ys, xs))
            return f"train --learner {learner}: the model of the {fmt} rows differs from the CSV rows' from line {k + 1}: {ours} against {theirs}"

        return self.sound(cmd + inputs + ["--model", f"t-{fmt}.json"], d, tag, same)[0]


class Reference:
    """What the shipped rows give in one CSV file each (`files`: history, incidents and new
    changes), each computed once in the scratch directory `base`: the scores of the new
    changes, drift reports and models, for round 4 to hold a partitioned table's to."""

    def __init__(self, binary, base, files):
        self.binary, self.base, self.files, self.cache = binary, base, files, {}

    def run(self, cmd):
        out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"the reference run failed: {shlex.join(cmd)}: {out.stderr}")
        return out.stdout

    def same_scores(self, target, is_dir):
        if "scores" not in self.cache:
            path, f = os.path.join(self.base, "scored.csv"), self.files
            self.run([self.binary, "score", "--model", MODEL, "--changes", f["new"], "--history", f["history"]]
                     + ["--incidents", f["incidents"], "--output", path, "-q"])
            self.cache["scores"] = read_scores(path, False)
        want, _ = self.cache["scores"]
        try:
            got, rows = read_scores(target, is_dir)
        except Exception as e:  # noqa: BLE001 - any failure to read it back is the finding
            return f"the output cannot be read back: {e!r}"
        if rows != len(got) or set(got) != set(want):
            return f"the output holds {rows} rows of {len(got)} changes, one file's {len(want)}: {sorted(set(got) ^ set(want))[:3]}"
        differ = [k for k in sorted(want) if not same_score(got[k], want[k])]
        if differ:
            k = differ[0]
            return f"{len(differ)} of {len(want)} changes score otherwise than in one file, e.g. {k}: {got[k]} against {want[k]}"
        return None

    def same_drift(self, key, stdout):
        if key not in self.cache:
            (batch, outcomes), f = key, self.files
            cmd = [self.binary, "drift", "--model", MODEL, "--changes", f[batch]]
            cmd += ["--history", f["history"]] if batch == "new" else []
            cmd += ["--incidents", f["incidents"]] + ["--outcomes"] * outcomes + ["--json", "-q"]
            self.cache[key] = json.loads(self.run(cmd))
        try:
            got = json.loads(stdout)
        except ValueError as e:
            return f"drift --json printed no JSON: {e}"
        differ = json_differences(got, self.cache[key])
        return f"the drift report differs from one file's: {differ[:3]}" if differ else None

    def same_model(self, learner, path):
        key = ("model", learner)
        if key not in self.cache:
            model, f = os.path.join(self.base, f"model-{learner}.json"), self.files
            self.run([self.binary, "train", "--changes", f["history"], "--incidents", f["incidents"], "--model", model]
                     + ["--learner", learner, "-q"])
            with open(model, "rb") as m:
                self.cache[key] = m.read()
        with open(path, "rb") as m:
            got = m.read()
        if got == self.cache[key]:
            return None
        ours, theirs = got.decode(errors="replace").splitlines(), self.cache[key].decode(errors="replace").splitlines()
        k = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        line = ours[k].strip() if k < len(ours) else "(end)"
        return f"the model differs from one file's (--learner {learner}) from line {k + 1}: {line[:120]}"


def read_scores(target, is_dir):
    """The scores `score` wrote to the file or directory of parts `target`: ({change_id:
    (risk, tier, reasons, policy)}, how many rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = [target]
    if is_dir:
        files = sorted(
            os.path.join(base, name)
            for base, _, names in os.walk(target)
            for name in names
            if not name.startswith((".", "_"))
        )
    rows = []
    for path in files:
        ext = path.rsplit(".", 1)[-1].lower()
        if ext == "csv":
            with open(path, newline="", encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
        elif ext in ("jsonl", "ndjson"):
            with open(path, encoding="utf-8") as f:
                rows += [json.loads(line) for line in f if line.strip()]
        elif ext in ("parquet", "pq"):
            rows += pq.read_table(path).to_pylist()
        elif ext in ("arrow", "ipc", "feather"):
            rows += pa.ipc.open_file(path).read_all().to_pylist()
        else:
            raise ValueError(f"an output part of no table format: {path}")
    scores = {
        str(row["change_id"]): (float(row["risk"]), row["tier"], row.get("reasons") or "", row.get("policy") or "")
        for row in rows
    }
    return scores, len(rows)


def same_score(a, b):
    return abs(a[0] - b[0]) <= 1e-12 and a[1:] == b[1:]


def json_differences(got, want, path=""):
    """Where the JSON value `got` differs from `want`: numbers beyond 1e-9 (relative), other
    values at all; keys naming means (summed in another order) and the notes in words left out."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = []
        for key in sorted(set(got) | set(want)):
            if "mean" in key or key in ("notes", "because"):
                continue
            if key not in got or key not in want:
                out.append(f"{path}/{key}: only in {'ours' if key in got else 'one file'}")
            else:
                out += json_differences(got[key], want[key], f"{path}/{key}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if want and all(isinstance(x, dict) and "feature" in x for x in want + got):
            return json_differences({x["feature"]: x for x in got}, {x["feature"]: x for x in want}, path)
        if len(got) != len(want):
            return [f"{path}: {len(got)} items against {len(want)}"]
        return [d for k, (a, b) in enumerate(zip(got, want)) for d in json_differences(a, b, f"{path}/{k}")]
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool):
        return [] if abs(got - want) <= 1e-9 * max(1.0, abs(want)) else [f"{path}: {got} against {want}"]
    return [] if got == want else [f"{path}: {got!r} against {want!r}"]


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


NEW = os.path.join(ROOT, "data", "new_changes.csv")
ANNOTATE = os.path.join(ROOT, "tests", "fixtures", "annotate")
OPENSTACK = os.path.join(ROOT, "..", "shared", "datasets", "jit", "openstack.csv")
CONFIG = os.path.join(ROOT, "data", "examples", "openstack.toml")
POLICY = os.path.join(ROOT, "policies", "default.toml")
TEMP_NAME = re.compile(r"^\..+\.(tmp|partial|old)-")
PART_FORMATS = ["csv", "csv", "jsonl", "ndjson", "parquet", "parquet", "arrow", "ipc", "feather"]
TOML_VALUES = ["x", "", 42, -1, 0, 1.5, float("nan"), float("inf"), True, [], ["x"], [1, 2], {}, {"a": 1}, 2**63]
UNKNOWN_COLUMNS = ["nope", "", " ", "NS", "date ", "DATE", "__", "é", "ns,nd"]
TIME_FORMATS = ["rfc3339", "unix", "unix_ms", "UNIX", "", "%", "%s", "%Y-%m-%d", "%I:%M", "%Z", "%H", "%Q"]
TIME_FORMATS += ["%Y-%m-%d %H", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S%z", "%-d", "%Y-%m-%d %H:%M:%S %p", "%j"]
LEVELS = [[], ["Admin"], [" admin "], ["root"], ["critical", "ultra"], "admin", [1], ["agent"] * 3]
NUMBERS = [float("nan"), float("inf"), -float("inf"), 0, -1, 1, 0.5, 2, 1e308, "2", True, 2**63 - 1, 0.0]
CONDITIONS = {
    **{k: LEVELS for k in ("ai_involvement", "permission_level", "review_status", "change_type", "tier")},
    **{k: [True, False, "yes", 1] for k in ("customer_facing", "rollback_plan")},
    **{k: NUMBERS for k in ("min_services_affected", "min_regions_affected", "reviewer_count_below", "min_risk")},
}
ODD_PATTERNS = ["", "/", "**", "*", "[", "[a-", "services/**/x", "\\", "***", "a/**/**/b", "!x", "/services/checkout/"]
ODD_PATTERNS += ["services/checkout", "services//checkout/", "é/**", "{a,b}", "**/", "../", "?", "/**/*.py"]
ANNOTATE_VARIABLES = [
    f"CHANGERISK_{name}"
    for name in (
        "TIMESTAMP REVIEWERS REGIONS SERVICES_AFFECTED LINES_CHANGED FILES_CHANGED CUSTOMER_FACING ROLLBACK_PLAN "
        "CHANGE_ID SERVICE AUTHOR AI_TOOL AI PERMISSION REVIEW CHANGE_TYPE FORMAT FAIL_LEVEL"
    ).split()
]


COLUMN_KEYS = ["service", "author", "timestamp", "change_id", "ai_involvement", "lines_changed", "severity"]
COLUMN_KEYS += ["start_time", "incident_id"]
EXTRA_KINDS = ["int", "float", "text", "bool", "time", "null", "list", "struct", "binary", "duration", "dict"]


def extra_column(kind, n):
    """A pass-through column of `n` values of `kind`: the Python values and the Arrow array."""
    import datetime

    import pyarrow as pa

    values = {
        "int": [k for k in range(n)],
        "float": [float("nan") if k % 3 == 0 else k + 0.5 for k in range(n)],
        "text": [f"n{k}" if k % 4 else None for k in range(n)],
        "bool": [k % 2 == 0 for k in range(n)],
        "time": [datetime.datetime(2025, 1, 1, k % 24, tzinfo=datetime.timezone.utc) for k in range(n)],
        "null": [None] * n,
        "list": [[k, k + 1] for k in range(n)],
        "struct": [{"a": k} for k in range(n)],
        "binary": [bytes([k % 256, 0]) for k in range(n)],
        "duration": [datetime.timedelta(seconds=k) for k in range(n)],
        "dict": [f"level{k % 3}" for k in range(n)],
    }[kind]
    array = pa.array(values, pa.null()) if kind == "null" else pa.array(values)
    return values, array.dictionary_encode() if kind == "dict" else array


def json_value(v):
    """A pass-through value as JSON Lines can hold it."""
    if isinstance(v, bytes):
        return v.hex()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if hasattr(v, "total_seconds"):
        return v.total_seconds()
    return v


def csv_text(v):
    """A pass-through value as a CSV cell (nested values as quoted JSON)."""
    v = json_value(v)
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return '"' + json.dumps(v).replace('"', '""') + '"'
    return str(v).lower() if isinstance(v, bool) else str(v)


def listing(directory):
    """Every name below `directory` (links not followed) with its size: what a failed run
    must leave as it was."""
    out = []
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(base, name)
            out.append((os.path.relpath(path, directory), os.lstat(path).st_size if name in files else -1))
    return sorted(out)


def level_value(key, k):
    """The value of partition key `key` for the `k`th part (some parts share one)."""
    return {"day": f"2025-01-{k // 2 + 1:02d}", "region": ["eu-west-1", "us-east-1"][k % 2], "batch": str(k)}.get(
        key, f"s{k % 3}"
    )


def json_cell(cell):
    """A CSV cell as a typed JSON value: empty is null, true/false booleans, numbers numbers."""
    if cell == "":
        return None
    if cell in ("true", "false"):
        return cell == "true"
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def plain_write(directory, name, lines):
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def toml_key(key):
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and (v != v or v in (float("inf"), -float("inf"))):
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    return json.dumps(str(v))


def toml_text(doc):
    """`doc` (what tomllib reads, edited) as TOML: its plain keys, then its tables, then its
    arrays of tables; deeper tables inline."""
    head, tables, arrays = [], [], []
    for key, v in doc.items():
        if isinstance(v, dict):
            tables += [f"\n[{toml_key(key)}]"] + [f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                arrays += [f"\n[[{toml_key(key)}]]"] + [f"{toml_key(k)} = {toml_value(y)}" for k, y in x.items()]
        else:
            head.append(f"{toml_key(key)} = {toml_value(v)}")
    return "\n".join(head + tables + arrays) + "\n"


def env_text(value):
    """`value` as an environment variable can hold it (no NUL, no lone surrogate)."""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def git_repo(base, env):
    """A throwaway git repository of three commits in `base` (fixed authors and dates, so
    fixed ids): code, a service's YAML, an IAM policy, a migration, a binary file, a
    rename and a name with a space and an accent; the later commits carry AI trailers.
    Returns its path and the commit ids, oldest first; (None, None) without git."""
    if not shutil.which("git"):
        return None, None
    repo = os.path.join(base, "repo")
    os.makedirs(repo)
    env = dict(env, GIT_AUTHOR_NAME="Ana Dev", GIT_AUTHOR_EMAIL="ana@example.com", GIT_COMMITTER_NAME="Ana Dev")
    env.update(GIT_COMMITTER_EMAIL="ana@example.com")

    def git(*args, when=None):
        if when:
            env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
        return subprocess.run(["git", "-C", repo, *args], env=env, check=True, capture_output=True, text=True).stdout

    def put(path, text):
        path = os.path.join(repo, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())

    git("init", "-q", "-b", "main")
    put("services/checkout/app.py", "".join(f"line {k}\n" for k in range(40)))
    put("services/payments/api.payments.yaml", "limits: 1\n")
    put("README.md", "shop\n")
    git("add", "-A")
    git("commit", "-q", "-m", "Initial", when="2025-06-01T10:00:00Z")
    put("services/checkout/app.py", "".join(f"line {k * 2}\n" for k in range(60)))
    put("iam/policy.json", '{"Statement": []}\n')
    put("db/migrations/001.sql", "ALTER TABLE t ADD c int;\n")
    put("services/checkout/naïve file.py", "x = 1\n")
    put("assets/logo.bin", bytes(range(256)))
    git("add", "-A")
    git("commit", "-q", "-m", "Rotate keys\n\nCo-authored-by: Claude <noreply@anthropic.com>", when="2025-06-02T10:00:00Z")
    os.makedirs(os.path.join(repo, "docs"), exist_ok=True)
    git("mv", "README.md", "docs/READ ME.md")
    put("services/payments/api.payments.yaml", "limits: 2\nburst: 5\n")
    git("add", "-A")
    git("commit", "-q", "-m", "Tune limits\n\nGenerated-by: kiro", when="2025-06-03T10:00:00Z")
    # Names git quotes in its output (a tab, a quote, a line break, bytes that are no UTF-8),
    # by an agent, with a message in Latin-1.
    for name in [b"services/checkout/tab\tname.py", b'quote"name.yaml', b"new\nline.tf", b"latin1-\xe9.sql"]:
        with open(os.path.join(os.fsencode(repo), name), "wb") as f:
            f.write(b"x\n")
    with open(os.path.join(base, "message"), "wb") as f:
        f.write(b"Caf\xe9 limits\n\nCo-authored-by: Cursor Agent <cursoragent@cursor.com>\n")
    git("add", "-A")
    env.update(GIT_AUTHOR_NAME="J\u00f6rg (aider)")
    git("-c", "i18n.commitEncoding=latin1", "commit", "-q", "-F", os.path.join(base, "message"), when="2025-06-04T10:00:00Z")
    shas = git("rev-list", "--reverse", "HEAD").split()
    return repo, shas


def github_event(r, shas):
    """A GitHub event payload over the commits `shas`: pull_request, pull_request_review or
    push."""
    base, head = shas[0], shas[-1]
    kind = r.choice(["pull_request", "pull_request_review", "push"])
    if kind == "push":
        return {
            "ref": "refs/heads/main",
            "before": base,
            "after": head,
            "head_commit": {"id": head, "message": "Tune limits\n\nGenerated-by: kiro"},
            "pusher": {"name": "ana"},
            "repository": {"full_name": "acme/shop"},
        }
    pr = {
        "number": 42,
        "title": "Rotate checkout keys",
        "html_url": "https://github.example/acme/shop/pull/42",
        "user": {"login": r.choice(["ana", "copilot-swe-agent[bot]"]), "type": "User"},
        "labels": [{"name": r.choice(["backend", "ai-assisted", "ai-agent"])}],
        "base": {"ref": "main", "sha": base},
        "head": {"ref": "rotate-keys", "sha": head},
    }
    event = {"action": "opened", "number": 42, "pull_request": pr, "repository": {"full_name": "acme/shop"}}
    if kind == "pull_request_review":
        event["review"] = {"state": "approved", "user": {"login": r.choice(["bo", "ana"])}}
    return event


def sha_values(shas):
    """Odd values where a commit id goes."""
    base, head = shas[0], shas[-1]
    return ["", "0" * 40, "HEAD", "--output=x", "-x", base[:7], "deadbeef" * 5, head + "^", "main", "../.."]


def gitlab_env(shas):
    """GitLab's merge request variables over the commits `shas`."""
    return {
        "GITLAB_CI": "true",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_MERGE_REQUEST_TITLE": "Rotate keys",
        "CI_MERGE_REQUEST_PROJECT_URL": "https://gitlab.example/acme/shop",
        "GITLAB_USER_LOGIN": "ana",
        "CI_MERGE_REQUEST_LABELS": "ai-assisted,backend",
        "CI_MERGE_REQUEST_APPROVED": "true",
        "CI_PROJECT_NAME": "shop",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": shas[0],
        "CI_COMMIT_SHA": shas[-1],
    }


# Round 8's tables: valid under SPEC.md, awkward where it allows (names with quotes, commas,
# tabs and other scripts; levels in any case; counts of 0 and near the loader's 9e15; times
# in other offsets, with fractions of a second, in one second or at a window's very edge;
# incidents twice, naming several, unknown or integer-form causes, on no change's service).
CONTRACT_HEADER = ["change_id", "timestamp", "service", "author", "ai_involvement", "ai_tool", "permission_level"]
CONTRACT_HEADER += ["review_status", "reviewer_count", "change_type", "services_affected", "regions_affected"]
CONTRACT_HEADER += ["customer_facing", "lines_changed", "files_changed", "rollback_plan", "note"]
INCIDENT_HEADER = ["incident_id", "start_time", "service", "severity", "caused_by_change", "duration_minutes"]
CONTRACT_KINDS = {c: "int" for c in INT_COLUMNS}
CONTRACT_KINDS.update({c: "bool" for c in BOOL_COLUMNS}, timestamp="time", change_id="maybe-int")
INCIDENT_KINDS = {"start_time": "time", "duration_minutes": "float", "severity": "maybe-int", "incident_id": "maybe-int"}
OPENSTACK_NUMERIC = ["ns", "nd", "nf", "entrophy", "la", "ld", "lt", "ndev", "age", "nuc", "exp", "rexp", "sexp"]
OPENSTACK_KINDS = {c: "float" for c in OPENSTACK_NUMERIC}
OPENSTACK_KINDS.update({"date": "int", "bug": "int", "fix": "bool", "": "int", "__": "int"})
OWN_HEADER = ["id", "when", "bug", "team's", 'size "kb"', "hot fix", "repo", "author", "note"]
OWN_KINDS = {"bug": "int", 'size "kb"': "float", "hot fix": "bool", "id": "maybe-int"}
SERVICES8 = ["checkout", "Checkout", "pay,ments", 'the "core"', "serviço", "日本-api", "o'brien", "a  b", "123"]
SERVICES8 += ["search\tidx", "nb\u00a0sp"]
AUTHORS8 = ["ana", "Ana", "O'Brien, Jr.", 'bo "b"', "josé", "李雷", "🤖 agent[bot]", "x", "checkout", "cy"]
TOOLS8 = ["", "copilot", "kiro", "claude-code", "cursor", "amazon-q", "Copilot", "windsurf", "ツール", 'a,"b"', "other"]
TOOLS8 += ["it's", "back\\slash", "50%_off"]
TEAMS8 = ["core", "wéb", "o'brien,ops", 'q"t', "data", "back\\slash"]
NEW_TEAMS8 = ["brand-new", "Core", "日本", "other", "50%_off", "wéb "]
NOTES8 = ["", "", "plain", "a,b", 'say "hi"', "line\nbreak", "ünï", "NaN", "  ", "x;y"]
EDGES8 = [1, -1, 59, 3600, 86_399, 86_400, 86_401, 7 * 86_400 - 1, 7 * 86_400, 7 * 86_400 + 1]
EDGES8 += [30 * 86_400 - 1, 30 * 86_400, 30 * 86_400 + 1]
SEVERITIES8 = ["1", "2", "3", "4", "5", "1", "2", "sev1", "sev3", "sev5", "Sev2", "SEV4", " 3 "]


def split_values(path):
    """{column: raw values}: for each split of the model's trees on a config's numeric
    column (its value or `log1p`), the raw value that lands on the threshold (expm1 of a
    log1p's) and the doubles next to it."""
    import math

    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    features = doc.get("features", [])
    trees = doc.get("trees") or {}
    out = {}
    for tree in trees.get("trees", []) if isinstance(trees, dict) else []:
        for node in tree.get("nodes", []):
            expr = features[node["feature"]].get("expr", {}) if "threshold" in node else {}
            column = expr.get("column")
            if expr.get("op") not in ("value", "log1p") or not column or column.startswith("@"):
                continue
            x = math.expm1(node["threshold"]) if expr["op"] == "log1p" else node["threshold"]
            near = [math.nextafter(x, -math.inf), x, math.nextafter(x, math.inf)]
            out.setdefault(column, []).extend(v for v in near if abs(v) <= 1e15)
    return out


def trees8(r, learner):
    """A cap on the trees (the query of hundreds of trees takes DuckDB a second to plan)."""
    return [] if learner == "logistic" else ["--max-trees", str(r.choice([20, 40, 60]))]


def pad(r, s):
    """`s`, now and then with spaces or a tab around it (which both paths trim)."""
    k = r.random()
    return f" {s}" if k < 0.05 else f"{s}\t" if k < 0.08 else f" {s} " if k < 0.1 else s


def spell(r, level):
    """A contract level in another case, now and then padded."""
    return r.choice([level, level, level, level.upper(), level.title(), f" {level} "])


def flag(r, value):
    """A boolean as SPEC spells one: true/false, 1/0 or yes/no, in any case (now and then
    1.0/0.0, as the README allows)."""
    s = r.choice([("true", "false"), ("1", "0"), ("yes", "no")] * 8 + [("1.0", "0.0")])[0 if value else 1]
    return r.choice([s, s, s.upper(), s.title()])


def count(r, low):
    """A count of at least `low`: often the least, now and then near the loader's limit."""
    k = r.random()
    if k < 0.04:
        return str(r.choice([10**15, 8_999_999_999_999_999, 999_999_999]))
    if k < 0.25:
        return str(low)
    if k < 0.28:  # an integer written with leading zeros or a point
        return r.choice([f"00{r.randint(max(low, 1), 9)}", f"{r.randint(low, 9)}.0"])
    return str(r.randint(max(low, 1), 12) if k < 0.75 else r.randint(13, 5000))


def time_text(r, t):
    """Unix seconds `t` as ISO 8601 text: RFC 3339 in UTC or another offset, now and then
    with a fraction of a second (dropped), and the variants SPEC's ISO 8601 and the README
    allow (a space for the `T`, no seconds, `+hh` and `+hhmm` offsets, no offset, a date
    alone, a leap second); each text's instant is kept in INSTANTS."""
    import datetime

    t = within8(t)

    def wall(off, fmt="%Y-%m-%dT%H:%M:%S"):
        return datetime.datetime.fromtimestamp(t + off, datetime.timezone.utc).strftime(fmt)

    frac = r.choice(["", "", "", "", ".5", ".999", ".000001", ".123456", ".123456789"])
    off = 0 if r.random() < 0.6 else r.choice([3600, -8 * 3600, 5 * 3600 + 1800, 14 * 3600, -12 * 3600, 0])
    sign = "+" if off >= 0 else "-"
    k = r.random()
    if k < 0.05 and t % 60 == 0:  # no seconds
        text = wall(off, "%Y-%m-%dT%H:%M") + (f"{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}" if off else "Z")
    elif k < 0.1:  # a space for the T
        text = wall(0, "%Y-%m-%d %H:%M:%S") + frac + "Z"
    elif k < 0.14 and off % 3600 == 0:  # +hh or +hhmm
        text = wall(off) + frac + f"{sign}{abs(off) // 3600:02d}" + r.choice(["", "00"])
    elif k < 0.18:  # no offset: UTC
        text = wall(0) + frac
    elif k < 0.2 and t % 86_400 == 0:  # a date alone: its midnight
        text = wall(0, "%Y-%m-%d")
    elif k < 0.22 and t % 60 == 59:  # a leap second, read as :59
        text = wall(off)[:-2] + "60" + (f"{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}" if off else "Z")
    elif k < 0.25:  # RFC 3339's lower-case t and z, or its -00:00 (UTC, the local offset unknown)
        text = r.choice([wall(0).replace("T", "t") + frac + "z", wall(0) + frac + "-00:00"])
    elif off == 0 and r.random() < 0.8:
        text = wall(0) + frac + "Z"
    else:
        text = wall(off) + frac + f"{sign}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    INSTANTS[text] = t
    return text


def canonical_time(text):
    """The RFC 3339 UTC text DuckDB casts for a time `time_text` wrote (the same instant)."""
    import datetime

    t = INSTANTS.get(text.strip())
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else text


INSTANTS = {}


def canonical_table(table, column):
    """`table` (header, rows) with the times of `column` (if any) as `canonical_time`."""
    header, rows = table
    if not column:
        return header, rows
    j = header.index(column)
    return header, [row[:j] + [canonical_time(row[j])] + row[j + 1 :] for row in rows]


def start8(r, usual, fmt="rfc3339"):
    """The first time of a table: `usual`, now and then just after 1970-01-02 (1971 for Unix
    milliseconds, whose values below take the place of seconds) or just before 2200 (the
    loader's span)."""
    k = r.random()
    first = (366 if fmt == "unix_ms" else 2) * 86_400
    return first + r.randrange(86_400) if k < 0.05 else 7_258_118_400 - 70 * 86_400 if k < 0.1 else usual


def times8(r, n, t0):
    """`n` Unix times from `t0`: a quarter in the second of an earlier one, a fifth at a
    window's edge from one (a day, a week, 30 days, a second either side)."""
    times = []
    for _ in range(n):
        u = r.random()
        if times and u < 0.25:
            t = r.choice(times)
        elif times and u < 0.45:
            t = r.choice(times) + r.choice(EDGES8)
        else:
            t = t0 + r.randrange(30 * 24) * 3600 + r.choice([0, 0, r.randrange(3600)])
        times.append(within8(t))
    return times


def within8(t):
    """`t` within the loader's span of times (README; SPEC names none)."""
    return min(max(t, 86_400), 7_258_118_399)


def change_ids(r, n):
    """`n` distinct change ids (no `;`): text, numbers, numbers with a `.0` (one less than
    another's number: `104.0` beside `104`), other cases and scripts, commas, quotes."""
    forms = [
        lambda k: f"c{k}",
        lambda k: f"c{k}",
        lambda k: f"{100 + k}",
        lambda k: f"{100 + k}",
        lambda k: f"{99 + k}.0",
        lambda k: f"C{k}",
        lambda k: f"chg-é{k}",
        lambda k: f"c,{k}",
        lambda k: f'q"{k}',
        lambda k: f"変更{k}",
        lambda k: f"0{k}",
    ]
    return [pad(r, r.choice(forms)(k)) if r.random() < 0.3 else r.choice(forms)(k) for k in range(n)]


def unique_ids(r, prefix, n):
    forms = [lambda k: f"{prefix}{k}", lambda k: f"{prefix.upper()}-{k}", lambda k: f"{prefix},{k}"]
    forms += [lambda k: f'{prefix}"{k}', lambda k: f"事件{k}", lambda k: f"{k}"]
    return [r.choice(forms)(k) for k in range(n)]


def name_cause(r, cid, ids):
    """`caused_by_change` naming the change `cid`: alone, padded, with another or an unknown
    id, twice, with a trailing `;`, or as its integer form (`123.0`, `123.00`)."""
    c = cid.strip()
    forms = [c, c, f" {c} ", f"{c};{r.choice(ids).strip()}", f"{c} ; unknown-{r.randrange(9)}", f"{c};{c}", f"{c};"]
    forms += [f"unknown-x;{c}"]
    if re.fullmatch(r"[0-9]+", c):
        forms += [f"{c}.0", f"{c}.00"]
    return r.choice(forms)


def contract_tables(r, n=None):
    """A random history of the contract: changes (risky ones more often followed by an
    incident) and incidents, as {"changes": (header, rows), "incidents": (header, rows)};
    `n` given: a training history (never without incidents)."""
    training = n is not None
    n = n or r.choice([r.randint(20, 120)] * 9 + [r.randint(1, 3)])
    t0 = start8(r, 1_736_121_600 + r.randrange(400) * 86_400)
    services = r.sample(SERVICES8, r.randint(1, 4))
    authors = r.sample(AUTHORS8, r.randint(2, 5))
    ids = change_ids(r, n) if r.random() < 0.85 else [str(k) for k in range(n)]  # 9 after 10 as text
    times = times8(r, n, t0)
    rows, incidents = [], []
    for k in range(n):
        risky = r.random() < 0.35
        ai = r.choice(["agent", "assisted", "agent"] if risky else ["none", "none", "assisted"])
        review = ["bypassed", "none", "self_approved"] if risky else ["approved", "approved", "self_approved", "none"]
        row = [ids[k], time_text(r, times[k]), pad(r, r.choice(services)), pad(r, r.choice(authors)), spell(r, ai)]
        row += [r.choice(TOOLS8) if ai != "none" or r.random() < 0.1 else ""]
        row += [spell(r, r.choice(["admin", "elevated"] if risky else ["standard", "standard", "elevated"]))]
        row += [spell(r, r.choice(review)), r.choice(["", "0", "1", "2", "5"]) if r.random() < 0.96 else count(r, 0)]
        row += [spell(r, r.choice(["code", "config", "infra", "iam", "database", "feature_flag"]))]
        row += [count(r, 1), count(r, 1), flag(r, r.random() < (0.7 if risky else 0.4)), count(r, 0), count(r, 0)]
        row += ["" if r.random() < 0.2 else flag(r, r.random() < (0.3 if risky else 0.7)), r.choice(NOTES8)]
        rows.append(row)
        if r.random() < (0.3 if risky else 0.05):
            t = times[k] + r.choice([0, 0, 1, 60, 3600, 86_399, 86_400, 86_401, r.randrange(86_400)])
            cause = "" if r.random() < 0.5 else name_cause(r, ids[k], ids)
            service = row[2] if r.random() < 0.9 else pad(r, row[2].strip())
            incidents.append([time_text(r, t), service, r.choice(SEVERITIES8), cause, r.choice(["", "", "0", "12.5", "1e3"])])
    for _ in range(r.randint(0, max(1, n // 10))):  # incidents of no change here, or naming one
        t = r.choice(times) + r.choice([0, 1, -1] + EDGES8) if r.random() < 0.6 else t0 + r.randrange(30 * 86_400)
        service = pad(r, r.choice(services + ["elsewhere", "日本-api"]))
        cause = r.choice(["", "", "unknown-1", " ; ", name_cause(r, r.choice(ids), ids)])
        incidents.append([time_text(r, t), service, r.choice(SEVERITIES8), cause, ""])
    for _ in range(r.randint(0, len(incidents) // 4)):  # an incident twice, under another id
        incidents.append(list(r.choice(incidents)))
    if r.random() < 0.05 and not training:  # no incidents at all
        incidents = []
    if r.random() < 0.5:
        r.shuffle(incidents)
    incidents = [[i] + row for i, row in zip(unique_ids(r, "i", len(incidents)), incidents)]
    return {"changes": (CONTRACT_HEADER, rows), "incidents": (INCIDENT_HEADER, incidents)}


def own_tables(r, n=None, fmt="unix"):
    """A table of its own (a label, a service, an author, a numeric with gaps, a yes/no flag
    and a categorical column whose levels have quotes and commas), its time as `fmt` says;
    `n` given: a training table (its times earlier, its levels all seen), else one to score
    (later, with levels training never saw, NaN, zero and huge numbers, other spellings)."""
    training = n is not None
    n = n or r.randint(20, 120)
    t0 = 1_600_000_000 + (0 if training else r.randrange(30, 400) * 86_400)
    t0 = t0 if training else start8(r, t0, fmt)
    times = times8(r, n, t0)
    ids = change_ids(r, n)
    rows = []
    for k in range(n):
        team = r.choice(TEAMS8 + ([] if training else NEW_TEAMS8))
        size = 2000 * r.random() * r.random()
        hot = r.random() < 0.2
        logit = -2.2 + size / 500 + (1.0 if hot else 0.0) + (0.8 if team == "wéb" else 0.0)
        bug = r.random() < 1 / (1 + 2.718281828459045 ** -logit)
        size_text = f"{size:.1f}" if r.random() < 0.9 else ""
        if not training and r.random() < 0.15:
            size_text = r.choice(["NaN", "0", "1000000000000000", "-0.5", "1e3", "0.0001", ".5", "5.", "1E3", "+3", " 12.5 "])
        hot_text = "" if r.random() < 0.05 else ("yes" if hot else "no")
        if not training and hot_text and r.random() < 0.3:
            hot_text = flag(r, hot)
        when = {"unix": str(times[k]), "unix_ms": str(times[k] * 1000 + r.randrange(1000))}.get(fmt) or time_text(r, times[k])
        team = "" if r.random() < 0.05 else pad(r, team)
        repo = pad(r, r.choice(SERVICES8[:6]))
        author = pad(r, r.choice(AUTHORS8))
        rows.append([ids[k], when, "1" if bug else "0", team, size_text, hot_text, repo, author, r.choice(NOTES8)])
    return {"changes": (OWN_HEADER, rows)}


_OPENSTACK = []


def openstack_rows():
    """The OpenStack file's header and rows (read once)."""
    if not _OPENSTACK:
        with open(OPENSTACK, newline="", encoding="utf-8") as f:
            header, *rows = list(csv.reader(f))
        _OPENSTACK.extend([header, rows])
    return _OPENSTACK[0], _OPENSTACK[1]


def openstack_tables(r, n=None):
    """A slice of the OpenStack file to score: some numbers empty, 0, negative, fractional
    or huge, `fix` in other spellings or missing, a time another change's."""
    header, rows = openstack_rows()
    n = n or r.randint(20, 120)
    start = r.randrange(len(rows) - n)
    out = [list(row) for row in rows[start : start + n]]
    for row in out:
        for _ in range(r.choice([0, 0, 1, 2])):
            c = r.choice(OPENSTACK_NUMERIC + ["fix", "date"])
            j = header.index(c)
            if c == "fix":
                row[j] = flag(r, row[j] == "1") if r.random() < 0.9 else ""
            elif c == "date":
                row[j] = r.choice(out)[j]
            else:
                row[j] = r.choice(["", "0", "1000000000000000", "0.5", "123456789.25", str(r.randint(0, 10**6)), "-3"])
    return {"changes": (header, out)}


def csv_cell(cell, quote_all):
    if cell == "":
        return ""
    if quote_all or any(ch in cell for ch in ',"\n\r') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_bytes(r, header, rows):
    quote_all, end = r.random() < 0.2, r.choice(["\n", "\n", "\r\n"])
    lines = [",".join(csv_cell(c, quote_all) for c in row) for row in [header] + rows]
    return (end.join(lines) + end).encode()


def write_table_csv(r, d, name, header, rows):
    """`rows` under `header` as a CSV file `name` in `d` (cells quoted where they must be or
    all of them, LF or CRLF line ends); returns its path."""
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(csv_bytes(r, header, rows))
    return path


def cell_value(kind, cell):
    """A text cell as the Python value of a typed column of `kind` (None: missing)."""
    import datetime

    s = cell.strip()
    if s == "":
        return None
    if kind == "int":
        return int(s.split(".")[0]) if re.fullmatch(r"-?[0-9]+(\.0+)?", s) else None
    if kind == "float":
        return float(s)
    if kind == "bool":
        return s.lower() in ("true", "1", "yes", "1.0")
    if kind == "time":  # the instant, with the text's fraction of a second
        frac = re.search(r":[0-9]{2}[.]([0-9]{1,6})", s)
        micro = int(frac.group(1).ljust(6, "0")) if frac else 0
        return datetime.datetime.fromtimestamp(INSTANTS[s], datetime.timezone.utc).replace(microsecond=micro)
    return cell


def typed_arrays(r, header, rows, kinds, p_typed):
    """{column: Arrow array}: the columns of `kinds` typed (each with chance `p_typed`):
    integers of several widths or as doubles, booleans, doubles, times in UTC, another zone
    or none and in seconds to nanoseconds; the others text (now and then large or
    dictionary-encoded). A "maybe-int" column is typed only if each of its cells is an
    integer without leading zeros."""
    import pyarrow as pa

    out = {}
    for j, c in enumerate(header):
        kind = kinds.get(c)
        cells = [row[j] for row in rows]
        ids = kind == "maybe-int"  # (never as doubles: a double's text is another id)
        if ids:
            plain = all(re.fullmatch(r"0|[1-9][0-9]{0,14}", x) for x in cells)
            kind = "int" if plain and cells else None
        if kind and r.random() < p_typed:
            values = [cell_value(kind, x) for x in cells]
            if kind == "time":
                zone = r.choice(["UTC", "UTC", "America/New_York", None])
                if zone is None:
                    values = [v and v.replace(tzinfo=None) for v in values]
                array = pa.array(values, pa.timestamp("us", tz="UTC" if zone else None))
                unit = r.choice(["s", "ms", "us", "us", "ns"])
                array = array.cast(pa.timestamp(unit, tz=zone if zone else None), safe=False)
            elif kind == "int":
                top = max((abs(v) for v in values if v is not None), default=0)
                types = [pa.int64(), pa.int64()] + [pa.int32()] * (top < 2**31) + [pa.uint16()] * (top < 2**16)
                types += [pa.float64()] * (top < 2**53 and not ids)
                if any(v is not None and v < 0 for v in values):
                    types = [t for t in types if t != pa.uint16()]
                array = pa.array(values, r.choice(types))
            elif kind == "float" and r.random() < 0.2 and all(
                re.fullmatch(r"-?[0-9]{0,15}([.][0-9]{0,6})?", x.strip()) for x in cells if x.strip() not in ("", "NaN")
            ):  # a decimal column (of the cells that are plain decimals)
                import decimal

                values = [None if v is None or v != v else decimal.Decimal(x.strip()) for x, v in zip(cells, values)]
                array = pa.array(values, pa.decimal128(22, 6))
            else:
                array = pa.array(values, {"float": pa.float64(), "bool": pa.bool_()}[kind])
        else:
            array = pa.array([x if x != "" or r.random() < 0.3 else None for x in cells], pa.string())
            k = r.random()
            if k < 0.15:
                array = array.cast(pa.large_string())
            elif k < 0.3:
                array = array.dictionary_encode()
        out[c] = array
    return out


def write_typed(r, path, header, rows, kinds, p_typed):
    """`rows` as a Parquet or Arrow IPC file (by `path`'s extension), typed as `kinds` says."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(typed_arrays(r, header, rows, kinds, p_typed))
    if path.endswith(".parquet"):  # one or several row groups, dictionary pages or none
        size = r.choice([None, None, 1, 7, 50])
        compression = r.choice(["snappy", "zstd", "none"])
        pq.write_table(table, path, row_group_size=size, use_dictionary=r.random() < 0.7, compression=compression)
    else:  # one or several record batches, compressed or not
        options = pa.ipc.IpcWriteOptions(compression=r.choice([None, None, "lz4", "zstd"]))
        with pa.ipc.new_file(path, table.schema, options=options) as w:
            w.write_table(table, max_chunksize=r.choice([None, None, 1, 5, 64]))


def jsonl_bytes(r, header, rows, kinds):
    """`rows` as JSON Lines: typed values (numbers, booleans) where `kinds` says and a coin
    falls so, text otherwise; a missing value null or left out."""
    typed = {c: r.random() < 0.7 for c in header}
    out = []
    for row in rows:
        obj = {}
        for c, cell in zip(header, row):
            kind = kinds.get(c)
            if cell.strip() == "" and kind and kind != "time":
                if r.random() < 0.5:
                    obj[c] = None
                continue
            if kind == "maybe-int" and typed[c] and re.fullmatch(r"0|[1-9][0-9]{0,14}", cell):
                obj[c] = int(cell)
            elif kind in ("int", "float", "bool") and typed[c]:
                v = cell_value(kind, cell)
                obj[c] = v if not (isinstance(v, float) and v != v) else cell
            else:
                obj[c] = cell
        out.append(json.dumps(obj, ensure_ascii=r.random() < 0.5) + "\n")
    return "".join(out).encode()


def write_format(r, d, stem, fmt, header, rows, kinds):
    """`rows` as `fmt` (jsonl, parquet, arrow, csv, shuffled: a CSV file of the rows in
    another order, or dir: one to four parts of those, now and then below a `batch=`
    level) in `d`; returns the path."""
    if fmt == "dir":
        root = os.path.join(d, stem)
        cuts = sorted(r.sample(range(1, len(rows)), min(len(rows) - 1, r.randint(0, 3)))) if len(rows) > 1 else []
        level = r.random() < 0.5
        for k, (a, b) in enumerate(zip([0] + cuts, cuts + [len(rows)])):
            part = r.choice(["csv", "jsonl", "parquet", "arrow"])
            where = os.path.join(root, f"batch={k:02d}") if level else root
            os.makedirs(where, exist_ok=True)
            write_format(r, where, f"part-{k:05d}", part, header, rows[a:b], kinds)
        return root
    ext = {"jsonl": r.choice(["jsonl", "ndjson"]), "arrow": r.choice(["arrow", "ipc", "feather"])}.get(fmt, fmt)
    ext = "csv" if fmt == "shuffled" else ext
    path = os.path.join(d, f"{stem}.{ext}")
    if fmt == "shuffled":  # the rows in another order, which changes nothing (README)
        rows = list(rows)
        r.shuffle(rows)
        write_table_csv(r, d, f"{stem}.csv", header, rows)
    elif fmt == "csv":  # another spelling of the CSV file: quotes, line ends, a byte order mark
        with open(path, "wb") as f:
            f.write((b"\xef\xbb\xbf" if r.random() < 0.2 else b"") + csv_bytes(r, header, rows))
    elif fmt == "jsonl":
        with open(path, "wb") as f:
            f.write(jsonl_bytes(r, header, rows, kinds))
    else:
        write_typed(r, path, header, rows, kinds, 0.7)
    return path


def clean_id(s):
    return s.strip(" \t\r\n")


def read_scored(path):
    """`score`'s CSV output: {change_id: (risk, tier, reasons, policy)}, the risk as written."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {clean_id(x["change_id"]): (x["risk"], x["tier"], x["reasons"], x["policy"]) for x in rows}


def read_exported(path):
    """The export's changes: {change_id: (risk, tier, reasons, policy, logit)}."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["change_id", "risk", "tier", "reasons", "policy", "logit"]).to_pylist()
    return {
        clean_id(str(x["change_id"])): (x["risk"], x["tier"], x["reasons"] or "", x["policy"] or "", x["logit"]) for x in t
    }


def score_differences(got, want, a, b, tiers=True, exact=False):
    """How the scores `got` (of `a`) differ from `want` (of `b`): the changes, each risk
    (equal as doubles), tier (if `tiers`), and with `exact` the risk's text, reasons and
    policy too."""
    if set(got) != set(want):
        return f"{a} scores {len(got)} changes, {b} {len(want)}: {sorted(set(got) ^ set(want))[:3]}"
    differ = []
    for k in sorted(want):
        g, w = got[k], want[k]
        if float(g[0]) != float(w[0]) or (tiers and g[1] != w[1]) or (exact and tuple(g[:4]) != tuple(w[:4])):
            differ.append(f"{k!r}: {tuple(g[:4])} against {tuple(w[:4])}")
    if differ:
        return f"{len(differ)} of {len(want)} changes score otherwise in {a} than in {b}, e.g. {differ[0]}"
    return None


def duckdb_csv(path, time_column):
    """The relation DuckDB reads the CSV file `path` by: every column as text, the column
    `time_column` (if any) cast to TIMESTAMPTZ."""
    rel = f"read_csv('{path}', header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"')"
    if time_column:
        rel = f'(SELECT * REPLACE (CAST("{time_column}" AS TIMESTAMPTZ) AS "{time_column}") FROM {rel})'
    return rel


def duckdb_run(d, query):
    """Runs `query` in DuckDB (one thread, UTC) with `d` as the current directory: (rows,
    None), or (None, the engine's error)."""
    import duckdb

    here = os.getcwd()
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        con.execute("SET TimeZone = 'UTC'")
        os.chdir(d)
        return con.execute(query).fetchall(), None
    except duckdb.Error as e:
        return None, str(e).strip().splitlines()[0][:300]
    finally:
        os.chdir(here)
        con.close()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, runs = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    fuzz = Fuzz(binary, seed, sys.argv[4] if len(sys.argv) > 4 else "/tmp/changerisk-fuzz")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pyarrow = None
    try:
        import tomllib  # noqa: F401
    except ImportError:
        tomllib = None
    try:
        import duckdb  # noqa: F401
    except ImportError:
        duckdb = None
    rounds = [
        (fuzz.text_round, None),
        (fuzz.config_round, None),
        (fuzz.typed_round, pyarrow is None and "pyarrow is not installed (the typed Parquet and Arrow inputs were not fuzzed)"),
        (fuzz.partitioned_round, pyarrow is None and "pyarrow is not installed (the partitioned tables were not fuzzed)"),
        (fuzz.model_round, None),
        (fuzz.settings_round, tomllib is None and "Python has no tomllib (3.11 or later: configs and policies were not fuzzed)"),
        (fuzz.annotate_round, tomllib is None and "Python has no tomllib (3.11 or later: annotate was not fuzzed)"),
        (
            fuzz.differential_round,
            (pyarrow is None or duckdb is None)
            and f"{'pyarrow' if pyarrow is None else 'duckdb'} is not installed"
            " (score against sql in DuckDB, and the formats, were not compared)",
        ),
    ]
    bad, not_run = 0, False
    for k, (run, missing) in enumerate(rounds, 1):
        if missing:
            print(f"round {k} NOT RUN: {missing}", flush=True)
            not_run = True
            continue
        start = time.monotonic()
        found = run(runs)
        print(f"round {k}: {runs} runs, {found} bad ({time.monotonic() - start:.0f} s)", flush=True)
        bad += found
    sys.exit(1 if bad else 3 if not_run else 0)


if __name__ == "__main__":
    main()
