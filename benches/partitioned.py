"""`changerisk score` of a partitioned table against the same rows as one file.

    python benches/partitioned.py BINARY MODEL CHANGES.csv HISTORY.csv INCIDENTS.csv \
        [--parts 20] [--runs 3] [--own-history] [--baseline OTHER_BINARY]

Writes CHANGES as one Parquet file and as a table partitioned by day into PARTS
partitions (`day=YYYY-MM-DD/part-0.parquet`, Hive style, the day column in the path
only; days grouped so there are PARTS directories), then times, alternating,
`score --changes new.parquet --output scored.parquet` and
`score --changes new_parts --output scored_parts` and `... --output scored_one.parquet`
(the parts appended to one file) (with `--history HISTORY --incidents
INCIDENTS`; with `--own-history`, no `--history`: the changes are scored as their own
history), RUNS times each under GNU time. Prints the median wall time and peak RSS of
each and their ratios to the file's, and fails unless every change's risk, tier, reasons
and policy are the same in the three outputs. With `--baseline`, another build's two
partitioned runs alternate with them, and the ratios to its medians are printed too.
Needs pyarrow (scripts/requirements.txt) and /usr/bin/time.
"""

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run."""
    out = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *command],
        check=True,
        capture_output=True,
        text=True,
    )
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("changes")
    ap.add_argument("history")
    ap.add_argument("incidents")
    ap.add_argument("--parts", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--own-history", action="store_true")
    ap.add_argument("--baseline", help="another build: its partitioned runs alternate with BINARY's")
    a = ap.parse_args()

    # (Left behind when a check fails, for a look.)
    tmp = Path(tempfile.mkdtemp(prefix="changerisk-partitioned-"))
    text = pa.string()
    table = pcsv.read_csv(
        a.changes,
        convert_options=pcsv.ConvertOptions(column_types={"timestamp": text, "change_id": text}),
    )
    whole = tmp / "new.parquet"
    pq.write_table(table, whole)
    days = pc.utf8_slice_codeunits(table["timestamp"], 0, 10)
    distinct = sorted(set(days.to_pylist()))
    # Consecutive days grouped into `parts` partitions named by their first day.
    per = -(-len(distinct) // a.parts)
    first_of = {d: distinct[(i // per) * per] for i, d in enumerate(distinct)}
    partition = pa.array([first_of[d] for d in days.to_pylist()])
    parts = tmp / "new_parts"
    ds.write_dataset(
        table.append_column("day", partition),
        parts,
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("day", text)]), flavor="hive"),
        basename_template="part-{i}.parquet",
    )
    count = sum(1 for p in parts.rglob("*.parquet"))
    print(f"{table.num_rows} changes; {count} parts in {parts}")

    history = [] if a.own_history else ["--history", a.history]
    flags = ["score", "-q", "--model", a.model, *history, "--incidents", a.incidents]
    base = [a.binary, *flags]
    runs = {"file": [], "parts": [], "parts1": []}
    if a.baseline:
        runs.update({"parts@baseline": [], "parts1@baseline": []})
    for _ in range(a.runs):
        runs["file"].append(timed([*base, "--changes", str(whole), "--output", str(tmp / "scored.parquet")]))
        runs["parts"].append(timed([*base, "--changes", str(parts), "--output", str(tmp / "scored_parts")]))
        runs["parts1"].append(timed([*base, "--changes", str(parts), "--output", str(tmp / "scored_one.parquet")]))
        if a.baseline:
            old = [a.baseline, *flags, "--changes", str(parts)]
            runs["parts@baseline"].append(timed([*old, "--output", str(tmp / "baseline_parts")]))
            runs["parts1@baseline"].append(timed([*old, "--output", str(tmp / "baseline_one.parquet")]))

    med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in runs.items()}
    for k, (wall, rss) in med.items():
        print(f"{k:15} wall {wall:6.2f} s (runs {[w for w, _ in runs[k]]})  peak {rss / 1024:7.0f} MiB (runs {[round(m / 1024) for _, m in runs[k]]})")
    for k in ["parts", "parts1"]:
        print(f"{k} / file: wall {med[k][0] / med['file'][0]:.2f}x, peak memory {med[k][1] / med['file'][1]:.2f}x")
        if a.baseline:
            old = med[f"{k}@baseline"]
            print(f"{k} / baseline's: wall {med[k][0] / old[0]:.2f}x, peak memory {med[k][1] / old[1]:.2f}x")

    columns = ["change_id", "risk", "tier", "reasons", "policy"]
    one = pq.read_table(tmp / "scored.parquet", columns=columns).sort_by("change_id")
    split = ds.dataset(tmp / "scored_parts", format="parquet").to_table(columns=columns).sort_by("change_id")
    appended = pq.read_table(tmp / "scored_one.parquet", columns=columns).sort_by("change_id")
    assert one.num_rows == split.num_rows == appended.num_rows == table.num_rows
    for c in columns:
        assert one[c].equals(split[c]), f"{c} differs (directory of parts)"
        assert one[c].equals(appended[c]), f"{c} differs (one file from the parts)"
    outputs = "three"
    if a.baseline:
        old = ds.dataset(tmp / "baseline_parts", format="parquet").to_table(columns=columns).sort_by("change_id")
        old1 = pq.read_table(tmp / "baseline_one.parquet", columns=columns).sort_by("change_id")
        for c in columns:
            assert one[c].equals(old[c]) and one[c].equals(old1[c]), f"{c} differs (the baseline's)"
        outputs = "five (the baseline's too)"
    print(f"every change's {', '.join(columns[1:])} equal in the {outputs} outputs")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
