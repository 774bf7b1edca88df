#!/usr/bin/env python3
"""Benchmark (not a test): the two customer jobs in glaux beside DuckDB, same SQL, same Parquet.

For each size it makes a project with `glaux init`, generates the CRM exports with
`glaux demo generate`, loads them with `glaux ingest csv`, then times, in one run:

  cleansing  glaux job run customer_data_cleansing --full   vs  DuckDB running sql/customer_data_cleansing.sql
  features   glaux job run customer_feature_engineering --full  vs  DuckDB running sql/customer_feature_engineering.sql

DuckDB and PySpark (local[threads], as Glue runs Spark) read the very Parquet files glaux's
tables hold (raw, regions, and glaux's cleaned output for the feature job) through views named
like the tables, and write their result as zstd Parquet, as glaux does. The SQL is the jobs'
own text with the substitutions each dialect needs (printed in SPARK_SUBSTITUTIONS and the
DuckDB runner): Athena's md5 gives varbinary, DuckDB's and Spark's hex text; Spark spells the
regex match `RLIKE` and `strpos` `instr`, has no `regexp_replace` flags argument and subtracts dates with `datediff`. Each engine runs in its own process; wall time and peak RSS (of that
process) are measured. Finally the cleansing job runs again with --memory-limit below the data
size (half and an eighth of the CSV bytes), to show it finishes by spilling.

    python3 tests/bench_jobs.py [--glaux PATH] [--customers 1000000,10000000] [--runs 3] [--work DIR]
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DUCKDB_RUNNER = r"""
import sys, time
import duckdb
started = time.monotonic()
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
print(f"QUERY_SECONDS {time.monotonic() - started:.3f}")
print(con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0])
"""

SPARK_RUNNER = r"""
import os, re, sys
from pyspark.sql import SparkSession
project, job, out, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
spark = (SparkSession.builder.master(f"local[{threads}]").appName("glaux-bench")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.memory", "8g")
         # Athena's string literals: a backslash is a character, not an escape.
         .config("spark.sql.parser.escapedStringLiterals", "true")
         .config("spark.sql.parquet.compression.codec", "zstd").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
wh = f"{project}/warehouse/customer_data"
spark.sql("CREATE DATABASE IF NOT EXISTS customer_data")
for table in ["customer_base_raw", "regions", "customer_base_cleaned"]:
    if not os.path.isdir(f"{wh}/{table}"):
        continue
    partitioned = any("=" in d for d in os.listdir(f"{wh}/{table}"))
    # An unpartitioned table's files sit in its commit's directory, which is not a partition.
    reader = spark.read.option("basePath", f"{wh}/{table}") if partitioned else spark.read.option("recursiveFileLookup", "true")
    df = reader.parquet(f"{wh}/{table}")
    df.createOrReplaceTempView(table)
sql = open(f"{project}/sql/{job}.sql").read()
for pattern, replacement in SUBSTITUTIONS:
    sql = re.sub(pattern, replacement, sql)
sql = sql.replace("customer_data.", "")
spark.sql(sql).write.mode("overwrite").parquet(out)
print(spark.read.parquet(out).count())
# The JVM runs the query; its peak memory is not the Python driver's (nor counted as its child).
jvm = spark._jvm.java.lang.ProcessHandle.current().pid()
hwm = [l for l in open(f"/proc/{jvm}/status") if l.startswith("VmHWM:")][0].split()[1]
print(f"JVM_PEAK_KIB {hwm}")
spark.stop()
"""

# (pattern, replacement) applied to a job's SQL for Spark.
SPARK_SUBSTITUTIONS = [
    (r"lower\(substr\(to_hex\(md5\(to_utf8\(customer_id\)\)\), 1, 1\)\)", "substr(md5(customer_id), 1, 1)"),
    (r" ~ '", " RLIKE '"),
    (r"\bstrpos\(", "instr("),
    (r"regexp_replace\(([^,]+), ('[^']*'), ('[^']*'), 'g'\)", r"regexp_replace(\1, \2, \3)"),
    (r"CAST\((c\.ingest_date) - (c\.[a-z_]+) AS INT\)", r"datediff(\1, \2)"),
]

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
    parser.add_argument("--no-spark", action="store_true", help="leave PySpark out")
    parser.add_argument("--runs", type=int, default=3, help="runs of each engine per job and size (the table gives medians)")
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
            # The engines take turns, run after run, so a slower spell of a shared machine falls
            # on each of them; the table gives the median of the runs.
            runs = []
            for attempt in range(options.runs):
                g_time, g_peak, g_out = measure([glaux, "job", "run", job, "--full"], project)
                # The other engines read the table directories: only the newest snapshot's files
                # may be there.
                run([glaux, "vacuum", "--retain", "0s", "--grace", "0s"], project)
                out_file = work / f"duckdb-{job}-{customers}.parquet"
                d_time, d_peak, d_out = measure(
                    [sys.executable, "-c", DUCKDB_RUNNER, str(project), job, str(out_file), options.threads], project
                )
                d_lines = d_out.strip().splitlines()
                d_query = float(next(l.split()[1] for l in d_lines if l.startswith("QUERY_SECONDS")))
                d_out = next(l for l in d_lines if not l.startswith("QUERY_SECONDS"))
                spark = None
                if not options.no_spark:
                    spark_out = work / f"spark-{job}-{customers}"
                    runner = f"SUBSTITUTIONS = {SPARK_SUBSTITUTIONS!r}\n" + SPARK_RUNNER
                    took, peak, out = measure([sys.executable, "-c", runner, str(project), job, str(spark_out), options.threads], project)
                    jvm_kib = [int(l.split()[1]) for l in out.splitlines() if l.startswith("JVM_PEAK_KIB")]
                    rows_out = [l for l in out.splitlines() if not l.startswith("JVM_PEAK_KIB")]
                    spark = (took, max(peak, jvm_kib[0] / 1024 if jvm_kib else 0), "\n".join(rows_out))
                spark_text = (f" | PySpark {spark[0]:.2f} s {spark[1]:.0f} MiB ({spark[2].strip().splitlines()[-1]} rows)"
                              f" | glaux/Spark time {g_time / spark[0]:.2f}" if spark else "")
                print(f"  {job} run {attempt + 1}: glaux {g_time:.2f} s {g_peak:.0f} MiB | DuckDB {d_time:.2f} s "
                      f"(query {d_query:.2f} s) {d_peak:.0f} MiB ({d_out.strip()} rows) | glaux/DuckDB time "
                      f"{g_time / d_time:.2f} memory {g_peak / d_peak:.2f}{spark_text}", flush=True)
                runs.append((g_time, d_time, d_query, g_peak, d_peak, spark))
            median = lambda values: statistics.median(values)
            spark = None
            if not options.no_spark:
                spark = (median([r[5][0] for r in runs]), median([r[5][1] for r in runs]), "")
            rows.append((customers, job, median([r[0] for r in runs]), median([r[1] for r in runs]),
                         median([r[3] for r in runs]), median([r[4] for r in runs]), spark,
                         median([r[2] for r in runs])))
        # Half and an eighth of the size of the exported data: the sort behind the dedup window
        # must spill.
        for limit_mib in sorted({max(64, csv_bytes // (1024 * 1024) // share) for share in (2, 8)}, reverse=True):
            s_time, s_peak, s_out = measure(
                [glaux, "job", "run", "customer_data_cleansing", "--full", "--memory-limit", f"{limit_mib}M"],
                project,
                may_fail=True,
            )
            rows.append((customers, f"cleansing --memory-limit {limit_mib}M (raw Parquet {raw_parquet / 2**20:.0f} MiB, CSV {csv_bytes / 2**20:.0f} MiB)", s_time, None, s_peak, None, None, None))
            print(f"  spill run {limit_mib}M: {s_time:.2f} s, peak {s_peak:.0f} MiB: {s_out.strip()}", flush=True)

    print()
    print(f"Medians of {options.runs} run(s). DuckDB's time is its process, as glaux's is; 'DuckDB query s' leaves out")
    print("starting Python and importing DuckDB.")
    print()
    print("| customers | job | glaux s | DuckDB s | DuckDB query s | PySpark s | glaux/DuckDB time | glaux/PySpark time | glaux peak MiB | DuckDB peak MiB | PySpark peak MiB | glaux/DuckDB memory |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for customers, job, g, d, gp, dp, spark, dq in rows:
        if not d:
            print(f"| {customers:,} | {job} | {g:.2f} | - | - | - | - | - | {gp:.0f} | - | - | - |")
            continue
        st, sp = (f"{spark[0]:.2f}", f"{spark[1]:.0f}") if spark else ("-", "-")
        sr = f"{g / spark[0]:.2f}" if spark else "-"
        print(f"| {customers:,} | {job} | {g:.2f} | {d:.2f} | {dq:.2f} | {st} | {g / d:.2f} | {sr} | {gp:.0f} | {dp:.0f} | {sp} | {gp / dp:.2f} |")


if __name__ == "__main__":
    main()
