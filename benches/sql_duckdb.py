"""How fast DuckDB runs the query `changerisk sql` writes, and that it still agrees.

    python benches/sql_duckdb.py BINARY MODEL EXPORT_DIR [--rows N] [--runs R]

Takes the `changes.parquet` that `changerisk export --model MODEL --output EXPORT_DIR`
wrote, repeats its rows into a table of N changes (default 1,000,000; ids made unique),
writes the model's query with BINARY, and times `CREATE TABLE ... AS <query>` R times
(default 3; median and fastest, wall clock, DuckDB's default threads). Then checks every
row's risk and tier against the export's (repeated alike): it fails unless all agree
within 1e-12. Needs the duckdb package (scripts/requirements.txt).
"""

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("model")
    p.add_argument("export_dir")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()

    changes = Path(a.export_dir) / "changes.parquet"
    with tempfile.TemporaryDirectory() as tmp:
        query_file = Path(tmp) / "score.sql"
        subprocess.run(
            [a.binary, "sql", "--model", a.model, "--from", "changes", "--output", str(query_file)],
            check=True,
        )
        query = query_file.read_text()

    con = duckdb.connect()
    (base,) = con.execute(f"SELECT count(*) FROM read_parquet('{changes}')").fetchone()
    copies = -(-a.rows // base)
    con.execute(
        f"""CREATE TABLE changes AS
            SELECT * REPLACE (change_id || '#' || CAST(k AS VARCHAR) AS change_id)
            FROM read_parquet('{changes}'), range({copies}) AS r(k)
            LIMIT {a.rows}"""
    )
    (rows,) = con.execute("SELECT count(*) FROM changes").fetchone()
    times = []
    for _ in range(a.runs):
        con.execute("DROP TABLE IF EXISTS scored")
        start = time.perf_counter()
        con.execute(f"CREATE TABLE scored AS {query}")
        times.append(time.perf_counter() - start)
    worst, mismatched = con.execute(
        """SELECT max(abs(s.risk - c.risk)), sum(CASE WHEN s.tier = c.tier THEN 0 ELSE 1 END)
           FROM scored s JOIN changes c USING (change_id)"""
    ).fetchone()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(
        f"{rows} changes, {len(query):,} bytes of SQL, DuckDB {duckdb.__version__} on {threads} threads: "
        f"median {statistics.median(times):.3f} s, fastest {min(times):.3f} s over {a.runs} runs "
        f"({rows / statistics.median(times):,.0f} changes/s); largest risk difference {worst:.1e}, "
        f"tiers differing {mismatched}"
    )
    if not (worst <= 1e-12 and mismatched == 0):
        raise SystemExit("the query's scores differ from changerisk's")


if __name__ == "__main__":
    main()
