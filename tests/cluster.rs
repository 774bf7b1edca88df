//! glaux on an Apache Ballista cluster (feature `cluster`): `glaux cluster scheduler` and two
//! `glaux cluster executor` processes on loopback, and the same queries and jobs run locally and
//! with `--cluster`, on a local and a moto S3 warehouse: the results must be identical. An
//! executor killed mid-query and a scheduler killed mid-job must end in a result or one clear
//! line, and a failed job must commit nothing.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Moto, TestProject, isolate, stderr, stdout};

/// A scheduler and executors, killed when dropped. Their logs go to files in the project's
/// temporary directory.
struct Cluster {
    port: u16,
    scheduler: Child,
    executors: Vec<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on port {port} within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Cluster {
    /// Starts a scheduler and `executors` executors in `p`'s directory with `env`.
    fn start(p: &TestProject, env: &[(&str, String)], executors: usize) -> Cluster {
        let spawn = |args: Vec<String>, log: &str| -> Child {
            let log = std::fs::File::create(p.dir.path().join(log)).unwrap();
            let mut command = Command::new(crate::support::glaux_bin());
            command.current_dir(p.path());
            isolate(&mut command, &p.home());
            command
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("RUST_LOG", "info")
                .args(args)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("start glaux cluster")
        };
        let port = free_port();
        let scheduler = spawn(
            vec![
                "cluster".into(),
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{port}"),
                "--executor-timeout".into(),
                "6s".into(),
            ],
            "scheduler.log",
        );
        wait_for_port(port, "the scheduler");
        let mut children = Vec::new();
        for i in 0..executors {
            let (flight, grpc) = (free_port(), free_port());
            children.push(spawn(
                vec![
                    "cluster".into(),
                    "executor".into(),
                    "--scheduler".into(),
                    format!("df://127.0.0.1:{port}"),
                    "--bind".into(),
                    format!("127.0.0.1:{flight}"),
                    "--grpc-port".into(),
                    grpc.to_string(),
                    "--concurrent-tasks".into(),
                    "2".into(),
                    "--heartbeat".into(),
                    "1s".into(),
                ],
                &format!("executor{i}.log"),
            ));
            wait_for_port(flight, "an executor");
        }
        Cluster { port, scheduler, executors: children }
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain(std::iter::once(&mut self.scheduler)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `glaux ARGS` in `p` with `env`, on `cluster` when given.
fn glaux(p: &TestProject, env: &[(&str, String)], cluster: Option<&Cluster>, args: &[&str]) -> Command {
    let mut command = p.glaux();
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(cluster) = cluster {
        command.args(["--cluster", &cluster.url()]);
    }
    command.args(args).stdin(Stdio::null());
    command
}

fn ok(p: &TestProject, env: &[(&str, String)], cluster: Option<&Cluster>, args: &[&str]) -> String {
    let output = glaux(p, env, cluster, args).output().unwrap();
    assert!(output.status.success(), "glaux {args:?} (cluster: {}) failed: {}", cluster.is_some(), stderr(&output));
    stdout(&output)
}

/// Queries beyond the Athena workload: joins, aggregations, windows, partition filters, glaux's
/// own functions, time travel and the `system` tables.
const QUERIES: &[&str] = &[
    "SELECT f.region_name, f.value_tier, count(*) AS n, sum(f.monetary) AS m, avg(f.avg_order_value) AS a \
     FROM customer_data.customer_features AS f JOIN customer_data.regions AS r ON f.region = r.region_code \
     GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT c.customer_id, c.region, f.lifecycle_stage FROM customer_data.customer_base_cleaned AS c \
     LEFT JOIN customer_data.customer_features AS f ON c.customer_id = f.customer_id \
     WHERE c.customer_bucket IN ('3', '7') ORDER BY 1",
    "SELECT customer_id, region, total_spent, \
       rank() OVER (PARTITION BY region ORDER BY total_spent DESC NULLS LAST, customer_id) AS r, \
       sum(total_spent) OVER (PARTITION BY region ORDER BY customer_id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s \
     FROM customer_data.customer_base_cleaned ORDER BY region, r LIMIT 200",
    "SELECT customer_id, row_number() OVER (PARTITION BY customer_id ORDER BY ingest_date DESC) AS rn, \
       CASE WHEN region = 'EU-DE' THEN 'de' WHEN region IS NULL THEN 'none' ELSE 'other' END AS r \
     FROM customer_data.customer_base_raw \
     WHERE ingest_date = (SELECT min(ingest_date) FROM customer_data.customer_base_raw) ORDER BY 1, 2",
    "SELECT customer_bucket, count(*) AS n, approx_distinct(email_domain) AS domains, \
       CAST(sum(monetary) / count(*) AS DECIMAL(12, 2)) AS mean \
     FROM customer_data.customer_features WHERE customer_bucket >= '12' GROUP BY 1 ORDER BY 1",
    "SELECT fingerprint_mysql(sql_text) AS class, count(*) AS calls, round(sum(query_time_s), 6) AS total \
     FROM aurora_logs.mysql_slow_log GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 10",
    "SELECT query_id(fingerprint_postgres(message)) AS id, count(*) FROM aurora_logs.postgres_log \
     WHERE message IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "SELECT count(*) FROM customer_data.customer_base_cleaned FOR VERSION AS OF 1",
    "SELECT table_name, count(*) AS n, count(DISTINCT reason) AS reasons FROM system.ingest_rejects GROUP BY 1 ORDER BY 1",
    "SELECT count(*) FROM customer_data.customer_features WHERE customer_bucket = 'no such bucket'",
];

/// Every query gives the same rows locally and on `cluster`.
fn same_answers(p: &TestProject, env: &[(&str, String)], cluster: &Cluster) {
    let athena = crate::athena::WORKLOAD.iter().map(|(athena, _)| *athena);
    for sql in athena.chain(QUERIES.iter().copied()) {
        let local = ok(p, env, None, &["sql", "--format", "csv", "-c", sql]);
        let remote = ok(p, env, Some(cluster), &["sql", "--format", "csv", "-c", sql]);
        assert!(local.lines().count() > 1, "{sql}: no rows");
        assert_eq!(remote, local, "{sql}");
    }
}

/// Each output table's rows, in a fixed order.
fn tables(p: &TestProject, env: &[(&str, String)]) -> Vec<String> {
    ["customer_base_cleaned", "customer_base_quarantine", "customer_features", "mysql_query_digest"]
        .iter()
        .map(|table| {
            let database = if table.starts_with("mysql") { "aurora_logs" } else { "customer_data" };
            let count = format!(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{database}' AND table_name = '{table}'"
            );
            let columns: usize = ok(p, env, None, &["sql", "--format", "csv", "-c", &count]).lines().nth(1).unwrap().parse().unwrap();
            let order = (1..=columns).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT * FROM {database}.{table} ORDER BY {order}");
            ok(p, env, None, &["sql", "--format", "csv", "-c", &sql])
        })
        .collect()
}

/// Every table's version, partitions, files, rows and bytes.
fn listing(p: &TestProject, env: &[(&str, String)]) -> String {
    ok(p, env, None, &["catalog", "list", "--format", "csv"])
}

/// Loads, runs the jobs locally, asks everything locally and on the cluster, runs the jobs again
/// on the cluster, and runs a second project's whole pipeline on the cluster: equal everywhere.
fn queries_and_jobs_match(p: &TestProject, q: &TestProject, env: &[(&str, String)]) {
    ok(p, env, None, &["run"]);
    let cluster = Cluster::start(p, env, 2);
    same_answers(p, env, &cluster);

    let local = tables(p, env);
    let run = ok(p, env, Some(&cluster), &["job", "run", "--all", "--full"]);
    assert!(run.contains("customer_feature_engineering: full (--full)"), "{run}");
    same_tables(&tables(p, env), &local, "the jobs on the cluster write what they wrote locally");

    ok(q, env, Some(&cluster), &["run"]);
    // The rows name the files they were loaded from, which are in each project's own data/.
    let (from, to) = (p.path().display().to_string(), q.path().display().to_string());
    let expected: Vec<String> = local.iter().map(|t| t.replace(&from, &to)).collect();
    same_tables(&tables(q, env), &expected, "a pipeline run on the cluster equals a local one");
}

/// Asserts equal tables, naming the first row that differs.
fn same_tables(got: &[String], expected: &[String], what: &str) {
    for (got, expected) in got.iter().zip(expected) {
        let header = expected.lines().next().unwrap_or_default();
        for (row, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
            assert_eq!(g, e, "{what}: {header}, row {row}");
        }
        assert_eq!(got.lines().count(), expected.lines().count(), "{what}: {header}: row count");
    }
}

#[test]
fn queries_and_jobs_on_a_cluster_equal_local_runs() {
    let (p, q) = (TestProject::new(), TestProject::new());
    queries_and_jobs_match(&p, &q, &[]);
}

#[test]
fn queries_and_jobs_on_a_cluster_equal_local_runs_on_s3() {
    let moto = Moto::start();
    moto.create_bucket("cluster");
    let (p, q) = (TestProject::new(), TestProject::new());
    for (project, location) in [(&p, "s3://cluster/p"), (&q, "s3://cluster/q")] {
        let config = std::fs::read_to_string(project.path().join("glaux.toml")).unwrap();
        let config = config.replace("location = \"warehouse\"", &format!("location = \"{location}\""));
        assert!(config.contains(location), "the scaffold's glaux.toml names its warehouse");
        project.write("glaux.toml", &config);
    }
    queries_and_jobs_match(&p, &q, &moto.env());
}

/// Waits for `child` up to `limit`; kills it and fails the test when it takes longer.
fn finish(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} neither finished nor failed within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_killed_executor_fails_its_queries_in_one_line_and_a_failed_job_commits_nothing() {
    let p = TestProject::new();
    ok(&p, &[], None, &["run"]);
    let mut cluster = Cluster::start(&p, &[], 2);

    // A query whose first stage runs a task on each executor (four partitions, two slots each),
    // long enough to be running when one executor is killed.
    let series = "SELECT value AS v FROM generate_series(1, 8000000)";
    let sql = format!(
        "SELECT count(*) AS n, sum(v % 7) AS s FROM ({series} UNION ALL {series} UNION ALL {series} UNION ALL \
         {series}) GROUP BY v % 4 ORDER BY 1, 2"
    );
    let expected = ok(&p, &[], None, &["sql", "--format", "csv", "-c", &sql]);
    let mut query = glaux(&p, &[], Some(&cluster), &["sql", "--format", "csv", "-c", &sql])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let running = query.try_wait().unwrap().is_none();
    cluster.executors[0].kill().unwrap();
    cluster.executors[0].wait().unwrap();
    let output = finish(query, Duration::from_secs(240), "the query after an executor was killed");
    let log = std::fs::read_to_string(p.dir.path().join("scheduler.log")).unwrap();
    if running {
        // Failed in one line naming the executor, not re-run: Ballista's re-run of the lost
        // executor's stages (which logs the tasks it resets) once returned shuffle partitions twice.
        let text = stderr(&output);
        assert!(!output.status.success(), "the query went on after its executor was lost: {}", stdout(&output));
        assert_eq!(text.lines().count(), 1, "one line: {text}");
        assert!(text.starts_with("glaux: ") && text.contains("was lost while the query ran"), "{text}");
        assert!(!log.contains("on lost Executor"), "a stage was re-run after the executor was lost:\n{log}");
    } else {
        assert!(output.status.success(), "the query failed before the kill: {}", stderr(&output));
        assert_eq!(stdout(&output), expected, "the query ended before the kill with the local answer");
    }

    // A job whose cluster goes away mid-run fails in one line and commits nothing.
    ok(&p, &[], None, &["demo", "generate", "--customers", "60000", "--seed", "5", "--out", "more"]);
    let more = p.path().join("more/crm_export_2026-11-01.csv");
    ok(
        &p,
        &[],
        None,
        &[
            "ingest",
            "csv",
            more.to_str().unwrap(),
            "--table",
            "customer_data.customer_base_raw",
            "--date",
            "2031-01-01",
        ],
    );
    let (before, tables_before) = (listing(&p, &[]), tables(&p, &[]));
    let job = glaux(&p, &[], Some(&cluster), &["job", "run", "customer_data_cleansing", "--full"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.scheduler.kill().unwrap();
    cluster.scheduler.wait().unwrap();
    let output = finish(job, Duration::from_secs(240), "the job after the scheduler was killed");
    let text = stderr(&output);
    assert!(!output.status.success(), "the job cannot have finished: {}", stdout(&output));
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    assert!(text.starts_with("glaux: ") && text.contains("connection to the cluster failed"), "{text}");
    assert_eq!(listing(&p, &[]), before, "no table has a new version");
    assert_eq!(tables(&p, &[]), tables_before, "nothing committed");
    drop(cluster);

    // The same job runs locally afterwards as if nothing had happened.
    let run = ok(&p, &[], None, &["job", "run", "customer_data_cleansing", "--full"]);
    assert!(run.contains("customer_data_cleansing: full (--full)"), "{run}");
    assert!(
        !p.path().join("warehouse/_glaux/staging").read_dir().is_ok_and(|mut d| d.next().is_some()),
        "no staged files left"
    );
}
