#!/usr/bin/env python3
"""Writes real database logs: starts MariaDB and PostgreSQL servers on loopback, runs a workload
against them, stops them and copies the logs they wrote.

    python3 tests/gen_real_logs.py OUTDIR [--scale N] [--seed S]

OUTDIR/mysql/ gets MariaDB's error log (mysql-error.log), slow query log (mysql-slowquery.log,
every statement: long_query_time = 0), general log (mysql-general.log) and server_audit log
(audit.log); OUTDIR/postgres/ gets one PostgreSQL stderr log (postgresql.log.<date>-<time>)
with RDS's log_line_prefix `%t:%r:%u@%d:[%p]:`, every statement's duration, connections,
checkpoints, temporary files and errors.

The workload is the project's own: an inventory and support-desk schema, about 2,000 MySQL
statements and 3,000 PostgreSQL statements per unit of --scale, from a seeded generator (the same
statements for the same seed; durations and times are the servers' own). It includes
multi-line statements with comments, IN lists of varying length, statements that fail (one
`SELECT * FROM no_such_table` per server), a failed login, slow statements (SLEEP, pg_sleep),
a sort that spills to a temporary file, and MariaDB's `CREATE USER 'app'@'localhost' IDENTIFIED
BY ...` (its password masked in the audit log).

Needs root (the servers run as the `mysql` and `postgres` users) and the Debian packages
mariadb-server, mariadb-client and postgresql (tests/install-deps.sh installs them). The servers
listen on 127.0.0.1 only, on ports chosen free, and are stopped before the script exits.
"""

import argparse
import glob
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REGIONS = ["US", "DE", "CN", "JP", "BR", "IN", "FR"]
STATUSES = ["open", "pending", "solved", "closed"]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"gen_real_logs: {what} did not come up within {seconds} s")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)


# ---------------------------------------------------------------- workloads


def mysql_workload(rng, n):
    """Statements of the MariaDB workload, one string each (some span lines)."""
    out = []
    for i in range(n):
        r = rng.random()
        pid = rng.randint(1, 400)
        if r < 0.20:
            out.append(
                f"INSERT INTO products (sku, title, region, price, added) VALUES "
                f"('SKU-{i:06d}', 'Product {i}', '{rng.choice(REGIONS)}', {rng.randint(100, 99999) / 100}, "
                f"'2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}');"
            )
        elif r < 0.40:
            out.append(
                f"INSERT INTO stock_moves (product_id, qty, reason, moved_at) VALUES "
                f"({pid}, {rng.randint(-20, 50)}, '{rng.choice(['sale', 'restock', 'return', 'audit'])}', NOW());"
            )
        elif r < 0.55:
            out.append(f"SELECT sku, title, price FROM products WHERE id = {pid};")
        elif r < 0.63:
            ids = ", ".join(str(rng.randint(1, 400)) for _ in range(rng.randint(1, 8)))
            out.append(
                "SELECT p.region, COUNT(*) AS moves, SUM(m.qty) AS net FROM products p "
                f"JOIN stock_moves m ON m.product_id = p.id WHERE p.id IN ({ids}) GROUP BY p.region;"
            )
        elif r < 0.71:
            out.append(f"UPDATE tickets SET status = '{rng.choice(STATUSES)}' WHERE product_id = {pid} AND status <> 'closed';")
        elif r < 0.79:
            out.append(
                f"INSERT INTO tickets (product_id, subject, status, opened) VALUES "
                f"({pid}, 'Ticket about \\'item\\' {i}', 'open', NOW());"
            )
        elif r < 0.86:
            out.append(
                "SELECT /* weekly stock report */ region,\n"
                "       COUNT(*) AS products,\n"
                "       AVG(price) AS avg_price\n"
                "  FROM products\n"
                f" WHERE title LIKE '%{rng.randint(0, 9)}'\n"
                " GROUP BY region\n"
                " ORDER BY products DESC;"
            )
        elif r < 0.91:
            out.append(
                "SELECT t.status, COUNT(*) FROM tickets t LEFT JOIN products p ON p.id = t.product_id "
                f"WHERE p.price > {rng.randint(1, 500)} GROUP BY t.status;"
            )
        elif r < 0.94:
            out.append(f"SELECT SLEEP({rng.choice([0.01, 0.02, 0.03])});")
        elif r < 0.97:
            out.append(f"DELETE FROM stock_moves WHERE id = {rng.randint(1, n)};")
        else:
            out.append(f"SELECT * FROM archive_{rng.randint(1, 3)} WHERE product_id = {pid};")
    out.insert(n // 2, f"SELECT * FROM no_such_table WHERE id = {n};")
    return out


def postgres_workload(rng, n):
    """Statements of the PostgreSQL workload."""
    out = []
    for i in range(n):
        r = rng.random()
        pid = rng.randint(1, 400)
        if r < 0.22:
            out.append(
                f"INSERT INTO products (sku, title, region, price) VALUES "
                f"('SKU-{i:06d}', 'Product {i}', '{rng.choice(REGIONS)}', {rng.randint(100, 99999) / 100});"
            )
        elif r < 0.42:
            out.append(f"INSERT INTO stock_moves (product_id, qty, reason) VALUES ({pid}, {rng.randint(-20, 50)}, 'sale');")
        elif r < 0.60:
            out.append(f"SELECT sku, title, price FROM products WHERE id = {pid};")
        elif r < 0.70:
            ids = ", ".join(str(rng.randint(1, 400)) for _ in range(rng.randint(1, 8)))
            out.append(
                "SELECT p.region, count(*) AS moves, sum(m.qty) AS net FROM products p "
                f"JOIN stock_moves m ON m.product_id = p.id WHERE p.id IN ({ids}) GROUP BY p.region;"
            )
        elif r < 0.78:
            out.append(f"UPDATE tickets SET status = '{rng.choice(STATUSES)}' WHERE product_id = {pid} AND status <> 'closed';")
        elif r < 0.85:
            out.append(f"INSERT INTO tickets (product_id, subject) VALUES ({pid}, 'Ticket about ''item'' {i}');")
        elif r < 0.92:
            out.append(
                "SELECT /* weekly stock report */ region,\n"
                "       count(*) AS products,\n"
                "       avg(price) AS avg_price\n"
                "  FROM products\n"
                f" WHERE title LIKE '%{rng.randint(0, 9)}'\n"
                " GROUP BY region\n"
                " ORDER BY products DESC;"
            )
        elif r < 0.96:
            out.append("BEGIN;")
            out.append(f"UPDATE products SET price = price * 1.01 WHERE id = {pid};")
            out.append(f"INSERT INTO stock_moves (product_id, qty, reason) VALUES ({pid}, 0, 'reprice');")
            out.append("COMMIT;")
        elif r < 0.98:
            out.append(f"SELECT pg_sleep({rng.choice([0.01, 0.02])});")
        else:
            out.append(f"DELETE FROM stock_moves WHERE id = {rng.randint(1, n)};")
    middle = n // 2
    out[middle:middle] = [
        "SELECT * FROM no_such_table;",
        "SELECT 1 / 0;",
        "INSERT INTO products (id, sku, title, region, price) VALUES (1, 'dup', 'dup', 'US', 1);",
        "SET work_mem = '64kB';",
        "SELECT md5(g::text) AS h FROM generate_series(1, 100000) g ORDER BY h LIMIT 3;",
        "RESET work_mem;",
    ]
    return out


MYSQL_SCHEMA = """
CREATE TABLE products (id INT PRIMARY KEY AUTO_INCREMENT, sku VARCHAR(20), title VARCHAR(100),
  region CHAR(2), price DECIMAL(10,2), added DATE, INDEX(region));
CREATE TABLE stock_moves (id INT PRIMARY KEY AUTO_INCREMENT, product_id INT, qty INT,
  reason VARCHAR(20), moved_at DATETIME, INDEX(product_id));
CREATE TABLE tickets (id INT PRIMARY KEY AUTO_INCREMENT, product_id INT, subject VARCHAR(200),
  status VARCHAR(20), opened DATETIME, INDEX(product_id));
"""

POSTGRES_SCHEMA = """
CREATE TABLE products (id serial PRIMARY KEY, sku text, title text, region char(2), price numeric(10,2),
  added date DEFAULT current_date);
CREATE TABLE stock_moves (id serial PRIMARY KEY, product_id int, qty int, reason text,
  moved_at timestamptz DEFAULT now());
CREATE INDEX ON stock_moves (product_id);
CREATE TABLE tickets (id serial PRIMARY KEY, product_id int, subject text, status text DEFAULT 'open',
  opened timestamptz DEFAULT now());
"""


# ---------------------------------------------------------------- MariaDB


def mariadb(work, out, rng, scale):
    base = os.path.join(work, "mariadb")
    data, logs = os.path.join(base, "data"), os.path.join(base, "logs")
    os.makedirs(data)
    os.makedirs(logs)
    shutil.chown(base, "mysql", "mysql")
    for d in (data, logs):
        shutil.chown(d, "mysql", "mysql")
    run(["mariadb-install-db", "--user=mysql", f"--datadir={data}", "--auth-root-authentication-method=socket"],
        stderr=subprocess.DEVNULL)
    sock, port = os.path.join(base, "sock"), free_port()
    server = subprocess.Popen(
        [
            "mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={sock}",
            "--bind-address=127.0.0.1", f"--port={port}", f"--pid-file={base}/pid",
            f"--log-error={logs}/mysql-error.log",
            "--slow-query-log=1", f"--slow-query-log-file={logs}/mysql-slowquery.log",
            "--long-query-time=0", "--log-slow-verbosity=query_plan",
            "--general-log=1", f"--general-log-file={logs}/mysql-general.log",
            "--plugin-load-add=server_audit", "--server-audit-logging=ON",
            f"--server-audit-file-path={logs}/audit.log", "--server-audit-events=CONNECT,QUERY,TABLE",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: os.path.exists(sock), "MariaDB")
        root = ["mariadb", "--no-defaults", "-uroot", f"--socket={sock}"]
        run(root, input=(
            "CREATE DATABASE inventory;\n"
            "CREATE USER 'app'@'localhost' IDENTIFIED BY 'app-pw';\n"
            "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pw';\n"
            "GRANT ALL ON inventory.* TO 'app'@'localhost';\n"
            "GRANT ALL ON inventory.* TO 'app'@'127.0.0.1';\n"
        ).encode())
        app = ["mariadb", "--no-defaults", "--protocol=TCP", "-h127.0.0.1", f"-P{port}", "-uapp", "-papp-pw"]
        run(app + ["inventory"], input=MYSQL_SCHEMA.encode())
        statements = mysql_workload(rng, 2000 * scale)
        # Two sessions, as an application's pool would have; failures do not stop a session.
        half = len(statements) // 2
        for part in (statements[:half], statements[half:]):
            subprocess.run(app + ["--force", "inventory"], input="\n".join(part).encode(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["mariadb", "--no-defaults", "--protocol=TCP", "-h127.0.0.1", f"-P{port}", "-uapp",
                        "-pwrong", "-e", "SELECT 1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run(app + ["-e", "USE inventory; SELECT COUNT(*) FROM products;"])
        run(["mariadb-admin", "--no-defaults", "-uroot", f"--socket={sock}", "shutdown"])
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    target = os.path.join(out, "mysql")
    os.makedirs(target, exist_ok=True)
    for name in ("mysql-error.log", "mysql-slowquery.log", "mysql-general.log", "audit.log"):
        shutil.copy(os.path.join(logs, name), target)


# ---------------------------------------------------------------- PostgreSQL


def postgres_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        sys.exit("gen_real_logs: no PostgreSQL server (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def as_postgres(cmd, **kw):
    return run(["runuser", "-u", "postgres", "--"] + cmd, **kw)


def postgres(work, out, rng, scale):
    bindir = postgres_bin()
    base = os.path.join(work, "postgres")
    data, logs = os.path.join(base, "data"), os.path.join(base, "log")
    os.makedirs(base)
    shutil.chown(base, "postgres", "postgres")
    as_postgres([f"{bindir}/initdb", "-D", data, "-A", "trust", "--no-sync"], stderr=subprocess.DEVNULL)
    port = free_port()
    with open(os.path.join(data, "postgresql.conf"), "a") as conf:
        conf.write(
            f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{base}'\n"
            f"logging_collector = on\nlog_directory = '{logs}'\n"
            "log_filename = 'postgresql.log.%Y-%m-%d-%H%M'\n"
            "log_line_prefix = '%t:%r:%u@%d:[%p]:'\n"
            "log_min_duration_statement = 0\nlog_connections = on\nlog_disconnections = on\n"
            "log_lock_waits = on\nlog_temp_files = 0\nlog_checkpoints = on\nlog_rotation_size = 0\nlc_messages = 'C'\n"
            "fsync = off\n"
        )
    as_postgres([f"{bindir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(base, "startup.log"), "start"])
    try:
        psql = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        run(psql + ["-c", "CREATE DATABASE inventory"])
        run(psql + ["inventory"], input=POSTGRES_SCHEMA.encode())
        statements = postgres_workload(rng, 3000 * scale)
        third = len(statements) // 3
        sessions = [
            subprocess.Popen(psql + ["inventory"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            for _ in range(3)
        ]
        for k, session in enumerate(sessions):
            part = statements[k * third:] if k == 2 else statements[k * third:(k + 1) * third]
            session.stdin.write("\n".join(part).encode())
            session.stdin.close()
        for session in sessions:
            session.wait()
        run(psql + ["inventory", "-c", "CHECKPOINT"])
        subprocess.run(["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "nobody", "inventory", "-c", "SELECT 1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        as_postgres([f"{bindir}/pg_ctl", "-D", data, "-w", "-m", "fast", "stop"])
    target = os.path.join(out, "postgres")
    os.makedirs(target, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(logs, "postgresql.log.*"))):
        shutil.copy(path, target)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="directory to write mysql/ and postgres/ into")
    ap.add_argument("--scale", type=int, default=1, help="workload size (statements per server x N)")
    ap.add_argument("--seed", type=int, default=11, help="workload seed")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("gen_real_logs: run as root (the servers run as the mysql and postgres users)")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="glaux-real-logs-")
    os.chmod(work, 0o755)
    try:
        mariadb(work, out, random.Random(args.seed), args.scale)
        postgres(work, out, random.Random(args.seed + 1), args.scale)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
