#!/usr/bin/env python3
"""Benchmark (not a test): the cleansing job locally and on a Ballista cluster of 1, 2 and 4 executors.

For each size it makes a project with `glaux init`, generates the CRM exports with
`glaux demo generate` and loads them, then, in one run:

  local      glaux job run customer_data_cleansing --full
  k execs    glaux --cluster df://127.0.0.1:PORT job run customer_data_cleansing --full
             on `glaux cluster scheduler` and k `glaux cluster executor` processes on loopback

and checks that every run wrote the same rows. On the cluster it also runs the job's query under
EXPLAIN ANALYZE to read the stages, their tasks and the rows each shuffles, measures the bytes
the executors' shuffle files take, and times a two-stage query over a six-row table, which is
the fixed cost of a query on the cluster. Every process runs on this machine, so the executors
share its cores: the figures show the overheads, not a speed-up.

    python3 tests/bench_cluster.py [--glaux PATH] [--customers 3000000,10000000] [--executors 1,2,4] [--runs 2] [--work DIR]

The binary must be built with the cluster feature: cargo build --release --features cluster.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JOB = "customer_data_cleansing"


def run(args, cwd, env=None):
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def timed(args, cwd):
    started = time.monotonic()
    out = run(args, cwd)
    return time.monotonic() - started, out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port):
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"nothing listens on port {port} after 60 s")
            time.sleep(0.05)


def dir_bytes(path, pattern="*"):
    return sum(f.stat().st_size for f in Path(path).rglob(pattern) if f.is_file())


class Cluster:
    """A scheduler and `executors` executors, each with its own shuffle directory."""

    def __init__(self, glaux, project, work, executors, tasks, scheduler_args=(), executor_args=()):
        self.port = free_port()
        self.logs = []
        self.work_dirs = []
        self.processes = [self.spawn(glaux, project, work, "scheduler",
                                     ["cluster", "scheduler", "--bind", f"127.0.0.1:{self.port}", *scheduler_args])]
        wait_for(self.port)
        for i in range(executors):
            flight, grpc = free_port(), free_port()
            work_dir = work / f"shuffle-{i}"
            shutil.rmtree(work_dir, ignore_errors=True)
            work_dir.mkdir(parents=True)
            self.work_dirs.append(work_dir)
            self.processes.append(self.spawn(glaux, project, work, f"executor{i}", [
                "cluster", "executor", "--scheduler", f"df://127.0.0.1:{self.port}",
                "--bind", f"127.0.0.1:{flight}", "--grpc-port", str(grpc),
                "--concurrent-tasks", str(tasks), "--work-dir", str(work_dir), *executor_args]))
            wait_for(flight)

    def spawn(self, glaux, project, work, name, args):
        log = open(work / f"{name}.log", "w")
        self.logs.append(log)
        return subprocess.Popen([glaux, *args], cwd=project, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def url(self):
        return f"df://127.0.0.1:{self.port}"

    def shuffle_bytes(self):
        return sum(dir_bytes(d) for d in self.work_dirs)

    def clear_shuffle(self):
        for d in self.work_dirs:
            for child in d.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()

    def stop(self):
        for p in self.processes:
            p.kill()
            p.wait()
        for log in self.logs:
            log.close()


def make_project(glaux, work, customers):
    """A new project in `work` with `customers` generated customers loaded into its raw table."""
    project = work / f"p{customers}"
    shutil.rmtree(project, ignore_errors=True)
    run([glaux, "init", str(project)], work)
    raw = project / "data/customer_data/customer_base_raw"
    for f in raw.glob("*.csv"):
        f.unlink()
    run([glaux, "demo", "generate", "--customers", str(customers), "--seed", "1"], project)
    run([glaux, "ingest", "csv", str(raw), "--table", "customer_data.customer_base_raw"], project)
    run([glaux, "ingest", "csv", "data/customer_data/regions", "--table", "customer_data.regions"], project)
    return project


def stages(explain):
    """(stage id, tasks, rows its shuffle writer wrote) of each stage of an EXPLAIN ANALYZE."""
    found = []
    for block in re.split(r"=+(?:Successful|Resolved|Running)?Stage\[", explain)[1:]:
        head = re.match(r"stage_id=(\d+)(?:\.\d+)?, partitions=(\d+)", block)
        rows = re.search(r"ShuffleWriterExec.*?metrics=\[output_rows=([\d.]+) ?([KM]?)", block)
        if head:
            scale = {"": 1, "K": 1e3, "M": 1e6}[rows.group(2)] if rows else 0
            found.append((int(head.group(1)), int(head.group(2)), float(rows.group(1)) * scale if rows else 0))
    return found


def table_digest(glaux, project):
    sql = ("SELECT count(*), to_hex(md5(string_agg(h, ',' ORDER BY h))) FROM (SELECT to_hex(md5(customer_id || '|' || "
           "coalesce(email, '') || '|' || coalesce(CAST(total_spent AS VARCHAR), '') || '|' || customer_bucket)) AS h "
           "FROM customer_data.customer_base_cleaned)")
    return run([glaux, "sql", "--format", "csv", "-c", sql], project).splitlines()[1]


def cluster_parser(description):
    """A parser with the options every cluster script takes: --glaux and --work."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    parser.add_argument("--glaux", default=str(target / "release" / "glaux"))
    parser.add_argument("--work", default=None, help="where projects are made (default: a temp dir)")
    return parser


def glaux_and_work(options, prefix):
    """The glaux binary (checked to have the cluster feature) and the work directory of `options`."""
    glaux = str(Path(options.glaux).resolve())
    if "cluster" not in run([glaux, "--help"], REPO):
        sys.exit(f"{glaux} was built without the cluster feature: cargo build --release --features cluster")
    work = Path(options.work or tempfile.mkdtemp(prefix=prefix)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    return glaux, work


def main():
    parser = cluster_parser(__doc__)
    parser.add_argument("--customers", default="3000000,10000000")
    parser.add_argument("--executors", default="1,2,4")
    parser.add_argument("--tasks", type=int, default=2, help="tasks each executor runs at once")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per setting (the table gives medians)")
    options = parser.parse_args()
    glaux, work = glaux_and_work(options, "glaux-cluster-bench-")
    rows = []
    overheads = []
    for customers in [int(c) for c in options.customers.split(",")]:
        project = make_project(glaux, work, customers)
        raw_mib = dir_bytes(project / "warehouse/customer_data/customer_base_raw", "*.parquet") / 2**20
        print(f"{customers:,} customers: raw table {raw_mib:.0f} MiB of Parquet", flush=True)
        local = [timed([glaux, "job", "run", JOB, "--full"], project)[0] for _ in range(options.runs)]
        expected = table_digest(glaux, project)
        print(f"  local: {', '.join(f'{t:.2f} s' for t in local)}", flush=True)
        rows.append((customers, "local (one process)", statistics.median(local), None, None, None))
        sql = (project / "sql" / f"{JOB}.sql").read_text()
        for executors in [int(e) for e in options.executors.split(",")]:
            cluster = Cluster(glaux, project, work, executors, options.tasks)
            try:
                on = [glaux, "--cluster", cluster.url()]
                times = []
                shuffled = 0
                for _ in range(options.runs):
                    cluster.clear_shuffle()
                    took, _ = timed([*on, "job", "run", JOB, "--full"], project)
                    times.append(took)
                    shuffled = cluster.shuffle_bytes()
                    digest = table_digest(glaux, project)
                    if digest != expected:
                        sys.exit(f"{executors} executor(s) wrote other rows than the local run: {digest} vs {expected}")
                explain = run([*on, "sql", "--format", "csv", "-c", f"EXPLAIN ANALYZE {sql}"], project)
                found = stages(explain)
                tiny = "SELECT region_code, count(*) FROM customer_data.regions GROUP BY 1"
                fixed = [timed([*on, "sql", "--format", "csv", "-c", tiny], project)[0] for _ in range(5)]
                fixed_local = [timed([glaux, "sql", "--format", "csv", "-c", tiny], project)[0] for _ in range(5)]
                overheads.append((executors, statistics.median(fixed), statistics.median(fixed_local)))
                shape = ", ".join(f"stage {s}: {t} tasks, {r / 1e6:.2f}M rows" for s, t, r in found)
                print(f"  {executors} executor(s): {', '.join(f'{t:.2f} s' for t in times)}; {shape}; "
                      f"shuffle files {shuffled / 2**20:.0f} MiB; tiny query {statistics.median(fixed):.3f} s "
                      f"(local {statistics.median(fixed_local):.3f} s)", flush=True)
                rows.append((customers, f"{executors} executor(s) x {options.tasks} tasks", statistics.median(times),
                             len(found), "/".join(str(t) for _, t, _ in found), shuffled))
            finally:
                cluster.stop()

    print()
    print(f"Medians of {options.runs} run(s); every process on this {os.cpu_count()}-core machine.")
    print()
    print("| customers | where | job s | vs local | stages | tasks per stage | shuffle MiB |")
    print("|---|---|---|---|---|---|---|")
    local_of = {c: t for c, w, t, *_ in rows if w.startswith("local")}
    for customers, where, took, n_stages, tasks, shuffled in rows:
        ratio = took / local_of[customers]
        extra = (f"{n_stages} | {tasks} | {shuffled / 2**20:.0f}" if n_stages is not None else "| |")
        print(f"| {customers:,} | {where} | {took:.2f} | {ratio:.2f} | {extra} |")
    print()
    print("| executors | two-stage query on a 6-row table, cluster s | same query locally s |")
    print("|---|---|---|")
    for executors, fixed, fixed_local in overheads:
        print(f"| {executors} | {fixed:.3f} | {fixed_local:.3f} |")


if __name__ == "__main__":
    main()
