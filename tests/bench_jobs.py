#!/usr/bin/env python3
"""Benchmark (not a test): the two customer jobs in glaux beside DuckDB, same SQL, same Parquet.

For each size it makes a project with `glaux init`, generates the CRM exports with
`glaux demo generate`, loads them with `glaux ingest csv`, then times, in one run:

  cleansing  glaux job run customer_data_cleansing --full   vs  DuckDB running sql/customer_data_cleansing.sql
  features   glaux job run customer_feature_engineering --full  vs  DuckDB running sql/customer_feature_engineering.sql

DuckDB reads the very Parquet files glaux's tables hold (raw, regions, and glaux's cleaned
output for the feature job) through views named like the tables, and writes its result as zstd
Parquet, as glaux does. Each engine runs in its own process; wall time and peak RSS (of that
process) are measured. Finally the cleansing job runs again with --memory-limit below the data
size (half and an eighth of the CSV bytes), to show it finishes by spilling.

    python3 tests/bench_jobs.py [--glaux PATH] [--customers 1000000,10000000] [--work DIR]
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DUCKDB_RUNNER = r"""
import sys, duckdb
project, job, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET preserve_insertion_order = false")
con.execute("SET enable_progress_bar = false")
con.execute("CREATE SCHEMA customer_data")
# DuckDB has no initcap; this macro capitalises each space-separated word.
con.execute(
    "CREATE MACRO initcap(s) AS array_to_string(list_transform(string_split(lower(s), ' '), "
    "lambda w: upper(w[1]) || w[2:]), ' ')"
)
wh = f"{project}/warehouse/customer_data"
con.execute(f"CREATE VIEW customer_data.customer_base_raw AS SELECT * FROM read_parquet('{wh}/customer_base_raw/*/*/*.parquet', hive_partitioning = true, hive_types = {{'ingest_date': DATE}})")
con.execute(f"CREATE VIEW customer_data.regions AS SELECT * FROM read_parquet('{wh}/regions/*/*.parquet')")
con.execute(f"CREATE VIEW customer_data.customer_base_cleaned AS SELECT * FROM read_parquet('{wh}/customer_base_cleaned/*/*/*.parquet', hive_partitioning = true)")
sql = open(f"{project}/sql/{job}.sql").read()
# md5 gives varbinary in Athena (and glaux), hex text in DuckDB: the same bucket either way.
athena_bucket = "lower(substr(to_hex(md5(to_utf8(customer_id))), 1, 1))"
if job == "customer_data_cleansing":
    assert athena_bucket in sql, "the bucket expression of the cleansing job changed"
    sql = sql.replace(athena_bucket, "substr(md5(customer_id), 1, 1)")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
print(con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0])
"""

MEASURE = r"""
import resource, subprocess, sys, time
start = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
took = time.monotonic() - start
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stdout.write(f"{took:.3f} {peak_kib} {done.returncode}\n")
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
"""


def measure(args, cwd, may_fail=False):
    """Runs args in a fresh wrapper process: (seconds, peak MiB of the child, stdout)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=cwd, capture_output=True, text=True)
    first, _, rest = out.stdout.partition("\n")
    took, peak, code = first.split()
    if code != "0":
        if may_fail:
            return float(took), int(peak) / 1024, "FAILED: " + out.stderr.strip()[-300:]
        sys.exit(f"{' '.join(map(str, args))} failed:\n{rest}\n{out.stderr}")
    return float(took), int(peak) / 1024, rest


def run(args, cwd):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def dir_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*.parquet"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--glaux", default=str(target / "release" / "glaux"))
    parser.add_argument("--customers", default="1000000,10000000")
    parser.add_argument("--work", default=None, help="where projects are made (default: a temp dir)")
    parser.add_argument("--threads", default=str(os.cpu_count()))
    options = parser.parse_args()
    glaux = str(Path(options.glaux).resolve())
    work = Path(options.work or tempfile.mkdtemp(prefix="glaux-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for customers in [int(c) for c in options.customers.split(",")]:
        project = work / f"p{customers}"
        shutil.rmtree(project, ignore_errors=True)
        run([glaux, "init", str(project)], work)
        raw = project / "data/customer_data/customer_base_raw"
        for f in raw.glob("*.csv"):
            f.unlink()
        t0 = time.monotonic()
        run([glaux, "demo", "generate", "--customers", str(customers), "--seed", "1"], project)
        generated = time.monotonic() - t0
        csv_bytes = sum(f.stat().st_size for f in raw.glob("*.csv"))
        t0 = time.monotonic()
        load = run([glaux, "ingest", "csv", str(raw), "--table", "customer_data.customer_base_raw"], project)
        run([glaux, "ingest", "csv", "data/customer_data/regions", "--table", "customer_data.regions"], project)
        loaded = time.monotonic() - t0
        print(f"{customers:,} customers: generated {csv_bytes / 1e6:.0f} MB CSV in {generated:.1f} s; ingest {loaded:.1f} s: {load.strip()}", flush=True)
        raw_parquet = dir_bytes(project / "warehouse/customer_data/customer_base_raw")
        for job in ["customer_data_cleansing", "customer_feature_engineering"]:
            g_time, g_peak, g_out = measure([glaux, "job", "run", job, "--full"], project)
            out_file = work / f"duckdb-{job}-{customers}.parquet"
            d_time, d_peak, d_out = measure(
                [sys.executable, "-c", DUCKDB_RUNNER, str(project), job, str(out_file), options.threads], project
            )
            rows.append((customers, job, g_time, d_time, g_peak, d_peak, g_out.strip(), d_out.strip()))
            print(f"  {job}: glaux {g_time:.2f} s {g_peak:.0f} MiB | DuckDB {d_time:.2f} s {d_peak:.0f} MiB "
                  f"({d_out.strip()} rows) | time ratio {g_time / d_time:.2f}", flush=True)
        # Half and an eighth of the size of the exported data: the sort behind the dedup window
        # must spill.
        for limit_mib in sorted({max(64, csv_bytes // (1024 * 1024) // share) for share in (2, 8)}, reverse=True):
            s_time, s_peak, s_out = measure(
                [glaux, "job", "run", "customer_data_cleansing", "--full", "--memory-limit", f"{limit_mib}M"],
                project,
                may_fail=True,
            )
            rows.append((customers, f"cleansing --memory-limit {limit_mib}M (raw Parquet {raw_parquet / 2**20:.0f} MiB, CSV {csv_bytes / 2**20:.0f} MiB)", s_time, None, s_peak, None, s_out.strip(), ""))
            print(f"  spill run {limit_mib}M: {s_time:.2f} s, peak {s_peak:.0f} MiB: {s_out.strip()}", flush=True)

    print()
    print("| customers | job | glaux s | DuckDB s | glaux/DuckDB time | glaux peak MiB | DuckDB peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for customers, job, g, d, gp, dp, _, _ in rows:
        ratio = f"{g / d:.2f}" if d else "-"
        print(f"| {customers:,} | {job} | {g:.2f} | {d:.2f} | {ratio} | {gp:.0f} | {dp:.0f} |" if d else
              f"| {customers:,} | {job} | {g:.2f} | - | - | {gp:.0f} | - |")


if __name__ == "__main__":
    main()
