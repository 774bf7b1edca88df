#!/usr/bin/env python3
"""Benchmark (not a test): glaux's log parsers beside pt-query-digest and pgBadger.

Builds logs of at least --size-mb MB per kind by repeating logs written by real MariaDB and
PostgreSQL servers (tests/gen_real_logs.py), then, in one run on the same files:

- parse throughput per core of `glaux logs parse` (single-threaded) for every kind;
- pt-query-digest on the slow and general logs, pgBadger (-j 1) on the PostgreSQL log, with the
  same totals printed so the outputs can be compared;
- end-to-end `glaux ingest aurora --dir` (parse + Parquet + commit) of all the files.

Usage: python3 tests/bench_logs.py --glaux target/release/glaux [--size-mb 1024] [--work DIR]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen_real_logs.py")
PREFIX = "%t:%r:%u@%d:[%p]:"


def build_inputs(work, size_mb):
    real = os.path.join(work, "real")
    if not os.path.isdir(real):
        subprocess.run([sys.executable, GEN, real, "--scale", "2"], check=True, stdout=subprocess.DEVNULL)
    pg = os.listdir(os.path.join(real, "postgres"))[0]
    sources = {
        "slow": os.path.join(real, "mysql", "mysql-slowquery.log"),
        "general": os.path.join(real, "mysql", "mysql-general.log"),
        "audit": os.path.join(real, "mysql", "audit.log"),
        "error": os.path.join(real, "mysql", "mysql-error.log"),
        "postgres": os.path.join(real, "postgres", pg),
    }
    names = {
        "slow": "slowquery/mysql-slowquery.log",
        "general": "general/mysql-general.log",
        "audit": "audit/audit.log",
        "error": "error/mysql-error.log",
        "postgres": "error/postgresql.log.2026-11-22-0000",
    }
    logs = os.path.join(work, f"logs-{size_mb}")
    files = {}
    for kind, source in sources.items():
        target = os.path.join(logs, names[kind])
        files[kind] = target
        if os.path.exists(target) and os.path.getsize(target) >= size_mb << 20:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(source, "rb") as f:
            chunk = f.read()
        block = chunk * max(1, (8 << 20) // len(chunk))
        with open(target, "wb") as out:
            written = 0
            while written < size_mb << 20:
                out.write(block)
                written += len(block)
    return logs, files


def timed(cmd, **kw):
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {result.stderr[-2000:]}")
    return elapsed, result.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glaux", required=True)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "glaux-bench-logs"))
    args = ap.parse_args()
    glaux = os.path.abspath(args.glaux)
    os.makedirs(args.work, exist_ok=True)
    logs, files = build_inputs(args.work, args.size_mb)

    rows = []
    summaries = {}
    for kind, path in files.items():
        mb = os.path.getsize(path) / 1e6
        secs, out = timed([glaux, "logs", "parse", "--kind", kind, "--format", "json", path])
        summary = json.loads(out)[0]
        summaries[kind] = summary
        rows.append((kind, "glaux logs parse", mb, secs, summary["entries"]))

    slow_mb = os.path.getsize(files["slow"]) / 1e6
    secs, out = timed(["pt-query-digest", "--output", "json", files["slow"]])
    pt = json.loads(out)["global"]
    rows.append(("slow", "pt-query-digest", slow_mb, secs, pt["query_count"]))
    print(f"slow log totals: glaux {summaries['slow']['entries']} entries, {summaries['slow']['query_time_s']:.6f} s; "
          f"pt-query-digest {pt['query_count']} entries, {pt['metrics']['Query_time']['sum']} s")

    general_mb = os.path.getsize(files["general"]) / 1e6
    secs, out = timed(["pt-query-digest", "--type", "genlog", "--output", "json", files["general"]])
    rows.append(("general", "pt-query-digest", general_mb, secs, json.loads(out)["global"]["query_count"]))

    pg_mb = os.path.getsize(files["postgres"]) / 1e6
    report = os.path.join(args.work, "pgbadger.json")
    secs, _ = timed(["pgbadger", "-q", "-j", "1", "-f", "stderr", "-p", PREFIX, "-o", report, files["postgres"]])
    badger = json.load(open(report))
    rows.append(("postgres", "pgbadger -j 1", pg_mb, secs, badger["overall_stat"]["queries_number"]))
    print(f"postgres totals: glaux {summaries['postgres']['queries']} queries, {summaries['postgres']['severities']}; "
          f"pgbadger {badger['overall_stat']['queries_number']} queries, {badger['logs_type']}")

    project = os.path.join(args.work, "project")
    shutil.rmtree(project, ignore_errors=True)
    subprocess.run([glaux, "init", project], check=True, capture_output=True)
    total_mb = sum(os.path.getsize(p) for p in files.values()) / 1e6
    secs, out = timed([glaux, "--project", project, "ingest", "aurora", "--dir", logs, "--instance", "bench-1",
                       "--since", "3650d", "--format", "json"])
    ingested = json.loads(out)
    rows.append(("all five", "glaux ingest aurora (parse+land+Parquet+commit)", total_mb, secs,
                 sum(ingested["rows"].values())))

    print()
    print("| kind | tool | MB | seconds | MB/s | entries |")
    print("|---|---|---|---|---|---|")
    for kind, tool, mb, secs, entries in rows:
        print(f"| {kind} | {tool} | {mb:.0f} | {secs:.2f} | {mb / secs:.1f} | {entries} |")
    glaux_slow = next(r for r in rows if r[0] == "slow" and r[1] == "glaux logs parse")
    pt_slow = next(r for r in rows if r[0] == "slow" and r[1] == "pt-query-digest")
    glaux_pg = next(r for r in rows if r[0] == "postgres" and r[1] == "glaux logs parse")
    badger_pg = next(r for r in rows if r[0] == "postgres" and r[1].startswith("pgbadger"))
    print()
    print(f"slow log: glaux / pt-query-digest throughput = {pt_slow[3] / glaux_slow[3]:.1f}x")
    print(f"postgres log: glaux / pgbadger throughput = {badger_pg[3] / glaux_pg[3]:.1f}x")


if __name__ == "__main__":
    main()
