"""How fast DuckDB runs the query `changerisk sql` writes, and that it still agrees.

    python benches/sql_duckdb.py BINARY MODEL --export EXPORT_DIR [--rows N] [--runs R]
    python benches/sql_duckdb.py BINARY MODEL --raw CHANGES.csv INCIDENTS.csv [--runs R]

`--export`: takes the `changes.parquet` that `changerisk export --model MODEL --output
EXPORT_DIR` wrote, repeats its rows into a table of N changes (default 1,000,000; ids
made unique), and times `CREATE TABLE ... AS` the query over it (the history columns
already computed) R times (default 3), then checks every risk and tier against the
export's.

`--raw`: loads the changes and incidents files into DuckDB tables (timed once), times the
`--raw` query over them (the labels, calendar and history computed in SQL) R times, and,
alternating with it, `changerisk score --changes CHANGES --incidents INCIDENTS` of the
same file (every change scored with the history of all of them, as the query does; CSV
to CSV); then checks every risk and tier against changerisk's.

Medians and fastest runs, wall clock, DuckDB's default threads. Fails unless every risk
agrees within 1e-12 and every tier is the same. Needs the duckdb package
(scripts/requirements.txt).
"""

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb


def write_query(binary: str, model: str, args: list[str], tmp: str) -> str:
    path = Path(tmp) / "score.sql"
    subprocess.run([binary, "sql", "--model", model, *args, "--output", str(path)], check=True)
    return path.read_text()


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def summary(name: str, times: list[float], rows: int) -> str:
    median = statistics.median(times)
    return (
        f"{name}: median {median:.3f} s, fastest {min(times):.3f} s over {len(times)} runs "
        f"({rows / median:,.0f} changes/s)"
    )


def check(con, expected: str) -> None:
    worst, mismatched, missing = con.execute(
        f"""SELECT max(abs(s.risk - e.risk)),
                  sum(CASE WHEN s.tier = e.tier THEN 0 ELSE 1 END),
                  count(*) - count(s.risk)
           FROM {expected} e LEFT JOIN scored s USING (change_id)"""
    ).fetchone()
    print(f"largest risk difference {worst:.1e}, tiers differing {mismatched}, missing {missing}")
    if not (worst is not None and worst <= 1e-12 and mismatched == 0 and missing == 0):
        raise SystemExit("the query's scores differ from changerisk's")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("model")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--export", metavar="EXPORT_DIR")
    mode.add_argument("--raw", nargs=2, metavar=("CHANGES", "INCIDENTS"))
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()

    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"DuckDB {duckdb.__version__} on {threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        if a.export:
            changes = Path(a.export) / "changes.parquet"
            query = write_query(a.binary, a.model, ["--from", "changes"], tmp)
            (base,) = con.execute(f"SELECT count(*) FROM read_parquet('{changes}')").fetchone()
            con.execute(
                f"""CREATE TABLE changes AS
                    SELECT * REPLACE (change_id || '#' || CAST(k AS VARCHAR) AS change_id)
                    FROM read_parquet('{changes}'), range({-(-a.rows // base)}) AS r(k)
                    LIMIT {a.rows}"""
            )
            (rows,) = con.execute("SELECT count(*) FROM changes").fetchone()
            times = []
            for _ in range(a.runs):
                con.execute("DROP TABLE IF EXISTS scored")
                times.append(timed(lambda: con.execute(f"CREATE TABLE scored AS {query}")))
            print(f"{rows} changes, {len(query):,} bytes of SQL")
            print(summary("query over the exported inputs", times, rows))
            check(con, "changes")
            return

        changes_file, incidents_file = a.raw
        query = write_query(
            a.binary, a.model, ["--raw", "--from", "changes", "--incidents", "incidents"], tmp
        )
        load = timed(
            lambda: con.execute(
                f"""CREATE TABLE changes AS SELECT * FROM read_csv('{changes_file}');
                    CREATE TABLE incidents AS SELECT * FROM read_csv('{incidents_file}')"""
            )
        )
        (rows,) = con.execute("SELECT count(*) FROM changes").fetchone()
        scored = Path(tmp) / "scored.csv"
        score = [
            a.binary, "score", "--quiet", "--model", a.model, "--changes", changes_file,
            "--incidents", incidents_file, "--output", str(scored),
        ]
        sql_times, cli_times = [], []
        for _ in range(a.runs):
            con.execute("DROP TABLE IF EXISTS scored")
            sql_times.append(timed(lambda: con.execute(f"CREATE TABLE scored AS {query}")))
            cli_times.append(timed(lambda: subprocess.run(score, check=True)))
        print(f"{rows} changes, {len(query):,} bytes of SQL; loading the two CSVs into DuckDB {load:.3f} s")
        print(summary("DuckDB, the --raw query (labels, calendar, history, score)", sql_times, rows))
        print(summary("changerisk score of the same file (CSV to CSV)", cli_times, rows))
        con.execute(f"CREATE TABLE expected AS SELECT * FROM read_csv('{scored}', all_varchar = true)")
        con.execute(
            "CREATE TABLE expected_typed AS SELECT change_id, CAST(risk AS DOUBLE) AS risk, tier FROM expected"
        )
        check(con, "expected_typed")


if __name__ == "__main__":
    main()
