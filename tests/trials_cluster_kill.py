#!/usr/bin/env python3
"""Fault campaign (not a test): executors killed at random moments of queries and jobs on a cluster.

Each trial starts `glaux cluster scheduler` and two `glaux cluster executor` processes on
loopback, starts a query or a job on them, kills one executor with SIGKILL at a random moment
within the run's length, and judges the outcome:

  correct    exit 0 and the same answer as the local run (a query: the same CSV; a job: the same
             rows in customer_data.customer_base_cleaned and one new version)
  one line   exit 1 with one line on stderr, and (a job) no new version of any table
  WRONG      anything else: another answer, a commit after a failure, or a messy failure

Queries and jobs alternate. The query aggregates the cleansing job's query, the shape on which
Ballista 55's re-run of a lost executor's stages once counted shuffle partitions twice.

    python3 tests/trials_cluster_kill.py [--glaux PATH] [--customers 3000000] [--trials 20] [--seed 1] [--work DIR]

The binary must be built with the cluster feature: cargo build --release --features cluster.
"""

import collections
import random
import subprocess
import sys
import time

from bench_cluster import JOB, Cluster, cluster_parser, glaux_and_work, make_project, run, table_digest

SCHEDULER_ARGS = ["--executor-timeout", "6s"]
EXECUTOR_ARGS = ["--heartbeat", "1s"]


def aggregate_query(project):
    cleansing = (project / "sql" / f"{JOB}.sql").read_text().strip().rstrip(";")
    return (f"SELECT customer_bucket, count(*) AS n, count(DISTINCT customer_id) AS ids, sum(total_spent) AS spent "
            f"FROM ({cleansing}) GROUP BY customer_bucket ORDER BY customer_bucket")


def versions(glaux, project):
    """The listing of every table and its version, as `catalog list` prints it."""
    return run([glaux, "catalog", "list", "--format", "csv"], project)


def trial(glaux, project, work, kind, query, kill_at, expected):
    """Runs one trial; returns (outcome, detail)."""
    cluster = Cluster(glaux, project, work, 2, 2, SCHEDULER_ARGS, EXECUTOR_ARGS)
    try:
        before = versions(glaux, project)
        args = ["sql", "--format", "csv", "-c", query] if kind == "query" else ["job", "run", JOB, "--full"]
        started = time.monotonic()
        child = subprocess.Popen([glaux, "--cluster", cluster.url(), *args], cwd=project, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        while time.monotonic() - started < kill_at and child.poll() is None:
            time.sleep(0.02)
        killed = child.poll() is None
        victim = cluster.processes[1]
        victim.kill()
        victim.wait()
        try:
            out, err = child.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            child.kill()
            return "WRONG", "neither finished nor failed within 300 s"
        took = time.monotonic() - started
        after = versions(glaux, project)
        when = f"kill at {kill_at:.1f} s{'' if killed else ' (after it ended)'}, ended at {took:.1f} s"
        if child.returncode == 0:
            answer = out if kind == "query" else table_digest(glaux, project)
            committed = kind == "query" or after != before
            if answer == expected[kind] and committed:
                return "correct", when
            return "WRONG", f"{when}: exit 0 with another answer: {answer[:200]!r}"
        lines = err.strip().splitlines()
        if len(lines) == 1 and lines[0].startswith("glaux: ") and after == before:
            return "one line", f"{when}: {lines[0][:160]}"
        return "WRONG", f"{when}: exit {child.returncode}, committed {after != before}: {err[:400]!r}"
    finally:
        cluster.stop()


def main():
    parser = cluster_parser(__doc__)
    parser.add_argument("--customers", type=int, default=3000000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="seeds the kill moments")
    options = parser.parse_args()
    glaux, work = glaux_and_work(options, "glaux-cluster-kill-")
    project = make_project(glaux, work, options.customers)
    query = aggregate_query(project)
    run([glaux, "job", "run", JOB, "--full"], project)
    expected = {"query": run([glaux, "sql", "--format", "csv", "-c", query], project),
                "job": table_digest(glaux, project)}
    # How long each kind runs on the cluster undisturbed: the kills fall within that.
    lengths = {}
    for kind in expected:
        cluster = Cluster(glaux, project, work, 2, 2, SCHEDULER_ARGS, EXECUTOR_ARGS)
        try:
            args = ["sql", "--format", "csv", "-c", query] if kind == "query" else ["job", "run", JOB, "--full"]
            started = time.monotonic()
            out = run([glaux, "--cluster", cluster.url(), *args], project)
            lengths[kind] = time.monotonic() - started
            answer = out if kind == "query" else table_digest(glaux, project)
            if answer != expected[kind]:
                sys.exit(f"the undisturbed {kind} on the cluster gave another answer than the local run")
        finally:
            cluster.stop()
        print(f"undisturbed {kind} on 2 executors: {lengths[kind]:.1f} s", flush=True)
    rng = random.Random(options.seed)
    tally = collections.Counter()
    for i in range(options.trials):
        kind = "query" if i % 2 == 0 else "job"
        kill_at = rng.uniform(0.5, lengths[kind])
        outcome, detail = trial(glaux, project, work, kind, query, kill_at, expected)
        tally[(kind, outcome)] += 1
        print(f"trial {i + 1:3} {kind:5}: {outcome:8} {detail}", flush=True)
    print()
    print(f"{options.trials} trials, {options.customers:,} customers, one executor of two killed:")
    print()
    print("| run | correct | failed in one line | WRONG |")
    print("|---|---|---|---|")
    for kind in expected:
        print(f"| {kind} | {tally[(kind, 'correct')]} | {tally[(kind, 'one line')]} | {tally[(kind, 'WRONG')]} |")
    if any(outcome == "WRONG" for _, outcome in tally):
        sys.exit(1)


if __name__ == "__main__":
    main()
