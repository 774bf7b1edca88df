#!/usr/bin/env python3
"""Benchmark (not a test): log analytics beside the peers, in one run on the same files.

- `glaux logs digest` on a slow log of --size-mb MB beside `pt-query-digest` (both to JSON), and
  on a PostgreSQL log of the same size beside `pgbadger -j 1`, with the number of query classes
  and calls each found printed beside the times;
- `glaux logs report` over 30 days of digests of 20 instances (written into a fresh project's
  digest tables with INSERT, 200 query classes per instance and day), HTML and JSON.

The logs are those tests/bench_logs.py builds (real MariaDB and PostgreSQL logs repeated), made
here if missing.

Usage: python3 tests/bench_analytics.py --glaux target/release/glaux [--size-mb 1024] [--work DIR]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_logs import PREFIX, build_inputs, timed  # noqa: E402


def digest_rows(glaux, files):
    rows = []
    slow, pg = files["slow"], files["postgres"]
    mb = os.path.getsize(slow) / 1e6
    ours_s, out = timed([glaux, "logs", "digest", "--kind", "slow", "--format", "json", "--limit", "100000", slow])
    ours = json.loads(out)
    theirs_s, out = timed(["pt-query-digest", "--output", "json", "--limit", "100%", slow])
    theirs = json.loads(out)
    pt_calls = sum(c["query_count"] for c in theirs["classes"])
    rows.append(("slow log", mb, "pt-query-digest", theirs_s, ours_s,
                 f"{ours['classes']} / {len(theirs['classes'])} classes, {ours['calls']} / {pt_calls} calls"))

    mb = os.path.getsize(pg) / 1e6
    ours_s, out = timed([glaux, "logs", "digest", "--kind", "postgres", "--log-line-prefix", PREFIX,
                         "--format", "json", "--limit", "100000", pg])
    ours = json.loads(out)
    report = os.path.join(os.path.dirname(pg), "pgbadger.json")
    theirs_s, _ = timed(["pgbadger", "-q", "-j", "1", "-f", "stderr", "-p", PREFIX, "-o", report, pg])
    badger = json.load(open(report))
    normalised = sum(len(q) for q in badger.get("normalyzed_info", {}).values())
    rows.append(("PostgreSQL log", mb, "pgbadger -j 1", theirs_s, ours_s,
                 f"{ours['classes']} / {normalised} classes, {ours['calls']} / "
                 f"{badger['overall_stat']['queries_number']} calls"))
    return rows


DIGESTS = """
INSERT INTO aurora_logs.{engine}_query_digest
SELECT '{engine}', 'db' || CAST(q % 5 AS VARCHAR), 'app' || CAST(q % 3 AS VARCHAR), '10.0.0.' || CAST(q % 9 AS VARCHAR),
    query_id(f), f, count(*), sum(t), min(t), max(t), avg(t),
    sketch_quantile(latency_sketch(t), 0.5), sketch_quantile(latency_sketch(t), 0.95), sketch_quantile(latency_sketch(t), 0.99),
    latency_sketch(t), sum(t) / 10, sum(q), sum(q * 10), min(ts), max(ts), max_by(f, t), instance, log_date
FROM (
    SELECT q, 'select * from t' || CAST(q AS VARCHAR) || ' where id = ?' AS f,
        (q % 17 + 1) * 0.0003 * (1 + (c * 7919 % 100) / 10.0) AS t,
        date_add('second', c, CAST(date_add('day', d, DATE '2026-11-01') AS TIMESTAMP)) AS ts,
        'db-' || CAST(i AS VARCHAR) AS instance, date_add('day', d, DATE '2026-11-01') AS log_date
    FROM UNNEST(sequence(0, 19)) AS a(i) CROSS JOIN UNNEST(sequence(0, 29)) AS b(d)
        CROSS JOIN UNNEST(sequence(0, 199)) AS e(q) CROSS JOIN UNNEST(sequence(0, {calls})) AS g(c)
)
GROUP BY instance, log_date, q, f
"""

TIMELINE = """
INSERT INTO aurora_logs.{engine}_query_timeline
SELECT '{engine}', hour, count(*), sum(t), sketch_quantile(latency_sketch(t), 0.5), sketch_quantile(latency_sketch(t), 0.95),
    sketch_quantile(latency_sketch(t), 0.99), latency_sketch(t), instance, log_date
FROM (
    SELECT date_add('hour', h, CAST(date_add('day', d, DATE '2026-11-01') AS TIMESTAMP)) AS hour,
        (c % 17 + 1) * 0.0003 AS t, 'db-' || CAST(i AS VARCHAR) AS instance, date_add('day', d, DATE '2026-11-01') AS log_date
    FROM UNNEST(sequence(0, 19)) AS a(i) CROSS JOIN UNNEST(sequence(0, 29)) AS b(d)
        CROSS JOIN UNNEST(sequence(0, 23)) AS e(h) CROSS JOIN UNNEST(sequence(0, 40)) AS g(c)
)
GROUP BY instance, log_date, hour
"""


def report_rows(glaux, work):
    project = os.path.join(work, "report-project")
    shutil.rmtree(project, ignore_errors=True)
    subprocess.run([glaux, "init", project], check=True, capture_output=True)
    base = [glaux, "--project", project]
    # One file per partition, as the digest jobs write them.
    one_writer = "SET datafusion.execution.target_partitions = 1"
    for engine in ("mysql", "postgres"):
        timed(base + ["sql", "-c", one_writer, "-c", DIGESTS.format(engine=engine, calls=20)])
        timed(base + ["sql", "-c", one_writer, "-c", TIMELINE.format(engine=engine)])
    _, out = timed(base + ["sql", "--format", "csv", "-c",
                           "SELECT (SELECT count(*) FROM aurora_logs.mysql_query_digest) + "
                           "(SELECT count(*) FROM aurora_logs.postgres_query_digest)"])
    digest_rows_n = int(out.splitlines()[1])
    files = sum(len(f) for _, _, f in os.walk(os.path.join(project, "warehouse", "aurora_logs")) if f)
    html = os.path.join(work, "report.html")
    timed(base + ["logs", "report", "--out", html])  # warm the page cache once
    html_s, _ = timed(base + ["logs", "report", "--out", html])
    json_s, out = timed(base + ["logs", "report", "--format", "json"])
    calls = sum(o["calls"] for o in json.loads(out)["overview"])
    print(f"digest and timeline tables: {digest_rows_n} digest rows in {files} files")
    return [("logs report, HTML", html_s, digest_rows_n, calls), ("logs report, JSON", json_s, digest_rows_n, calls)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--glaux", required=True)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "glaux-bench-logs"))
    ap.add_argument("--skip-peers", action="store_true", help="only the report part")
    args = ap.parse_args()
    glaux = os.path.abspath(args.glaux)
    os.makedirs(args.work, exist_ok=True)

    if not args.skip_peers:
        _, files = build_inputs(args.work, args.size_mb)
        print("| input | MB | peer | peer s | glaux logs digest s | speed-up | classes and calls (glaux / peer) |")
        print("|---|---|---|---|---|---|---|")
        for name, mb, peer, theirs, ours, found in digest_rows(glaux, files):
            print(f"| {name} | {mb:.0f} | {peer} | {theirs:.1f} | {ours:.2f} | {theirs / ours:.0f}x | {found} |")
        print()
    print("| report (30 days x 20 instances) | seconds | digest rows | calls |")
    print("|---|---|---|---|")
    for name, secs, n, calls in report_rows(glaux, args.work):
        print(f"| {name} | {secs:.2f} | {n} | {calls} |")


if __name__ == "__main__":
    main()
