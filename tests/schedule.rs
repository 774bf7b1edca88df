//! `glaux schedule` as users leave it running: real scheduler processes with second-level cron
//! entries, their run history, leases shared through a warehouse (a local directory, and moto's
//! S3), `kill -9` and SIGTERM, the Prometheus endpoint, CloudWatch metrics read back from moto,
//! and the failure, recovery and lag hooks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Moto, TestProject, stderr, stdout};

/// A statement that keeps one core busy for a few seconds in a debug build: runs that last
/// longer than their entry's one-second interval.
const SLOW_SQL: &str = "SELECT count(DISTINCT (value * 7919) % 1000003) AS n FROM range(0, 10000000)";

/// A `glaux schedule` process, its output in files; killed when dropped.
struct Scheduler {
    child: Child,
    log: PathBuf,
}

impl Scheduler {
    fn start(project: &TestProject, env: &[(&'static str, String)], name: &str) -> Scheduler {
        let log = project.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = project
            .glaux()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("schedule")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start glaux schedule");
        Scheduler { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: a signal to a child this test started and has not reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Waits up to `limit` for the process to end.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then an exit 0 within `limit`.
    fn stop(mut self, limit: Duration) -> String {
        self.signal(libc::SIGTERM);
        let status = self.wait(limit);
        let output = self.output();
        assert!(status.is_some_and(|s| s.success()), "scheduler did not stop cleanly ({status:?}):\n{output}");
        output
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One scheduled run, from `system.job_runs`.
#[derive(Debug, Clone)]
struct ScheduledRun {
    name: String,
    fire: String,
    status: String,
    start: f64,
    end: Option<f64>,
    pid: Option<u64>,
    error: Option<String>,
}

fn sql_json(project: &TestProject, env: &[(&'static str, String)], sql: &str) -> Vec<Value> {
    let out = project
        .glaux()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["sql", "--format", "json", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{sql}: {}", stderr(&out));
    let text = stdout(&out);
    if text.trim().is_empty() { Vec::new() } else { serde_json::from_str(&text).unwrap() }
}

fn scheduled_runs(project: &TestProject, env: &[(&'static str, String)]) -> Vec<ScheduledRun> {
    let rows = sql_json(
        project,
        env,
        "SELECT name, trigger, status, to_unixtime(started_at) AS s, to_unixtime(ended_at) AS e, pid, error \
         FROM system.job_runs WHERE kind = 'schedule' ORDER BY started_at",
    );
    rows.iter()
        .map(|r| ScheduledRun {
            name: r["name"].as_str().unwrap().to_string(),
            fire: r["trigger"].as_str().unwrap().strip_prefix("cron:").unwrap().to_string(),
            status: r["status"].as_str().unwrap().to_string(),
            start: r["s"].as_f64().unwrap(),
            end: r["e"].as_f64(),
            pid: r["pid"].as_u64(),
            error: r["error"].as_str().map(str::to_string),
        })
        .collect()
}

/// No two runs of one entry overlap in time, and no fire time ran twice; a run without an end
/// (one still going, or abandoned by a killed scheduler) is taken to last until `open_until`.
fn assert_no_overlap(runs: &[ScheduledRun], open_until: f64) {
    let mut by_entry: BTreeMap<&str, Vec<&ScheduledRun>> = BTreeMap::new();
    for run in runs {
        by_entry.entry(&run.name).or_default().push(run);
    }
    for (entry, runs) in by_entry {
        let fires: BTreeSet<&str> = runs.iter().map(|r| r.fire.as_str()).collect();
        assert_eq!(fires.len(), runs.len(), "{entry}: a fire time ran twice: {runs:#?}");
        for pair in runs.windows(2) {
            let end = pair[0].end.unwrap_or(open_until);
            assert!(end <= pair[1].start, "{entry}: runs overlap: {:#?} and {:#?}", pair[0], pair[1]);
        }
    }
}

/// Polls `done` every 200 ms for up to `limit`.
fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET /metrics` on the scheduler's Prometheus endpoint.
fn scrape(port: u16) -> String {
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    socket.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("Content-Type: text/plain; version=0.0.4"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of one sample in a Prometheus text page.
fn sample(page: &str, series: &str) -> f64 {
    let line = page.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '));
    let line = line.unwrap_or_else(|| panic!("no {series} in\n{page}"));
    line[series.len()..].trim().parse().unwrap()
}

fn seconds_of(fire: &str) -> u32 {
    let time = fire.split('T').nth(1).unwrap();
    time[6..8].parse().unwrap()
}

#[test]
fn entries_run_at_their_fire_times_and_report_heartbeats() {
    let p = TestProject::new();
    p.write(
        "glaux.toml",
        "[scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\n\n\
         [[schedule]]\nname = \"tick\"\ncron = \"*/2 * * * * *\"\nrun = \"sql -c 'SELECT 1'\"\n",
    );
    let listed = p.ok(&["schedule", "list", "--count", "2", "--format", "json"]);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["entry"], "tick");
    let next = listed[0]["next_fires_utc"].as_str().unwrap();
    assert_eq!(next.split(", ").count(), 2, "{next}");

    let scheduler = Scheduler::start(&p, &[], "tick");
    wait_until(Duration::from_secs(60), "four runs", || scheduled_runs(&p, &[]).len() >= 4);
    let status = p.ok(&["schedule", "status"]);
    assert!(status.contains("tick") && status.contains("succeeded"), "{status}");
    assert!(status.contains("schedulers:") && status.contains("running"), "{status}");
    let output = scheduler.stop(Duration::from_secs(30));
    assert!(output.contains("glaux schedule: stopped"), "{output}");
    assert!(output.contains("[tick] "), "the command's output is forwarded with the entry's name: {output}");

    let runs = scheduled_runs(&p, &[]);
    assert!(runs.len() >= 4, "{runs:#?}");
    assert_no_overlap(&runs, f64::INFINITY);
    for run in &runs {
        assert_eq!(run.status, "succeeded", "{run:#?}");
        assert_eq!(seconds_of(&run.fire) % 2, 0, "fires on even seconds only: {run:#?}");
        let fire = chrono::DateTime::parse_from_rfc3339(&run.fire).unwrap().timestamp() as f64;
        assert!(run.start >= fire && run.start < fire + 2.0, "starts at its fire time: {run:#?}");
    }
    // Each run records what it used.
    let usage = sql_json(
        &p,
        &[],
        "SELECT min(cpu_s) AS cpu, min(peak_memory_bytes) AS mem FROM system.job_runs WHERE kind = 'schedule'",
    );
    assert!(usage[0]["cpu"].as_f64().unwrap() > 0.0, "{usage:?}");
    assert!(usage[0]["mem"].as_u64().unwrap() > 1_000_000, "{usage:?}");
    let beats = sql_json(&p, &[], "SELECT host, pid, state, entries, last_outcome FROM system.heartbeats");
    assert_eq!(beats.len(), 1, "{beats:?}");
    assert_eq!(beats[0]["state"], "stopped", "{beats:?}");
    assert_eq!(beats[0]["entries"], "tick", "{beats:?}");
    assert!(beats[0]["last_outcome"].as_str().unwrap().starts_with("tick: succeeded at "), "{beats:?}");
}

#[test]
fn a_run_longer_than_its_interval_never_overlaps_and_prometheus_counts_the_skips() {
    let p = TestProject::new();
    let port = free_port();
    p.write(
        "glaux.toml",
        &format!(
            "[scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\n\n[scheduler.prometheus]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[schedule]]\nname = \"slow\"\ncron = \"* * * * * *\"\nrun = \"sql -c '{SLOW_SQL}'\"\n"
        ),
    );
    let scheduler = Scheduler::start(&p, &[], "slow");
    wait_until(Duration::from_secs(120), "three runs", || {
        scheduled_runs(&p, &[]).iter().filter(|r| r.end.is_some()).count() >= 3
    });
    let page = scrape(port);
    let output = scheduler.stop(Duration::from_secs(120));

    let runs = scheduled_runs(&p, &[]);
    assert_no_overlap(&runs, f64::INFINITY);
    for run in &runs {
        assert_eq!(run.status, "succeeded", "{run:#?}\n{output}");
        assert!(run.end.unwrap() - run.start > 1.0, "the run outlasts the interval: {run:#?}");
    }
    let skipped = sample(&page, "glaux_schedule_skipped_total{entry=\"slow\"}");
    assert!(skipped >= 2.0, "fire times during a run are skipped, not queued:\n{page}");
    let ran = sample(&page, "glaux_schedule_runs_total{entry=\"slow\",status=\"succeeded\"}");
    let finished_by_then = runs.len() as f64;
    assert!(ran >= 3.0 && ran <= finished_by_then, "{ran} runs counted, {finished_by_then} recorded:\n{page}");
    assert_eq!(sample(&page, "glaux_schedule_runs_total{entry=\"slow\",status=\"failed\"}"), 0.0);
    assert!(sample(&page, "glaux_schedule_last_duration_seconds{entry=\"slow\"}") > 1.0, "{page}");
    assert!(sample(&page, "glaux_scheduler_heartbeat_timestamp_seconds") > 1.7e9, "{page}");
    assert!(page.contains("# TYPE glaux_schedule_runs_total counter"), "{page}");
}

#[test]
fn two_schedulers_on_one_s3_warehouse_share_the_work_and_survive_kill_9() {
    let moto = Moto::start();
    moto.create_bucket("sched");
    let env = moto.env();
    let p = TestProject::new();
    p.without_jobs();
    p.write(
        "glaux.toml",
        &format!(
            "[warehouse]\nlocation = \"s3://sched/wh\"\n\n\
             [scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\n\n\
             [scheduler.cloudwatch]\nnamespace = \"glaux-test\"\ndimensions = {{ Project = \"crm\" }}\n\n\
             [[schedule]]\nname = \"beat\"\ncron = \"* * * * * *\"\nrun = \"sql -c 'SELECT 1'\"\n\n\
             [[schedule]]\nname = \"slow\"\ncron = \"*/2 * * * * *\"\nrun = \"sql -c '{SLOW_SQL}'\"\n"
        ),
    );
    let mut schedulers = vec![Scheduler::start(&p, &env, "a"), Scheduler::start(&p, &env, "b")];
    wait_until(Duration::from_secs(120), "both schedulers to run entries", || {
        let runs = scheduled_runs(&p, &env);
        let pids: BTreeSet<u64> = runs.iter().filter_map(|r| r.pid).collect();
        runs.iter().filter(|r| r.name == "slow").count() >= 3 && runs.len() >= 10 && pids.len() == 2
    });

    // Kill -9 whichever scheduler is running `slow` now: its lease is left to expire.
    let mut victim = None;
    wait_until(Duration::from_secs(60), "a running slow run", || {
        victim =
            scheduled_runs(&p, &env).iter().rev().find(|r| r.name == "slow" && r.end.is_none()).and_then(|r| r.pid);
        victim.is_some()
    });
    let victim = victim.unwrap();
    let index = schedulers.iter().position(|s| u64::from(s.pid()) == victim).expect("a scheduler's run");
    let mut killed = schedulers.remove(index);
    let survivor = schedulers.pop().unwrap();
    killed.signal(libc::SIGKILL);
    assert!(killed.wait(Duration::from_secs(10)).is_some());
    let killed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let survivor_pid = u64::from(survivor.pid());
    wait_until(Duration::from_secs(120), "the survivor to take over the slow entry", || {
        scheduled_runs(&p, &env)
            .iter()
            .any(|r| r.name == "slow" && r.pid == Some(survivor_pid) && r.start > killed_at && r.end.is_some())
    });
    survivor.stop(Duration::from_secs(120));

    let runs = scheduled_runs(&p, &env);
    assert_no_overlap(&runs, killed_at);
    let abandoned: Vec<_> = runs.iter().filter(|r| r.status == "abandoned").collect();
    // The killed scheduler's runs (its slow one, and a beat if one was going) show as abandoned.
    assert!(abandoned.iter().any(|r| r.name == "slow"), "the killed run shows as abandoned: {runs:#?}");
    assert!(abandoned.iter().all(|r| r.pid == Some(victim)), "only the killed scheduler's runs: {runs:#?}");
    let takeover = runs.iter().find(|r| r.name == "slow" && r.start > killed_at).unwrap();
    // Within the lease (6 s), the clock margin (2 s) and the next fire time (2 s), and a little.
    assert!(takeover.start - killed_at < 6.0 + 2.0 + 2.0 + 2.0, "taken over once the lease expired: {takeover:#?}");
    for run in runs.iter().filter(|r| r.status != "abandoned") {
        assert_eq!(run.status, "succeeded", "{run:#?}");
    }

    // CloudWatch, read back from moto: the heartbeat and the runs of each entry.
    let succeeded = runs.iter().filter(|r| r.name == "beat" && r.status == "succeeded").count() as f64;
    let figures = moto.python(
        r#"
import boto3, datetime, json
cw = boto3.client("cloudwatch")
now = datetime.datetime.now(datetime.timezone.utc)
def total(name, dims):
    points = cw.get_metric_statistics(Namespace="glaux-test", MetricName=name, Dimensions=dims,
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=5),
        Period=3600, Statistics=["Sum", "SampleCount"])["Datapoints"]
    return sum(p["Sum"] for p in points)
crm = [{"Name": "Project", "Value": "crm"}]
beat = crm + [{"Name": "Entry", "Value": "beat"}]
names = sorted({m["MetricName"] for m in cw.list_metrics(Namespace="glaux-test")["Metrics"]})
print(json.dumps({"names": names, "heartbeat": total("Heartbeat", crm), "succeeded": total("RunSucceeded", beat),
    "failed": total("RunFailed", beat)}))
"#,
    );
    let figures: Value = serde_json::from_str(&figures).unwrap();
    let names: Vec<&str> = figures["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for name in ["BytesWritten", "Heartbeat", "RowsWritten", "RunDuration", "RunFailed", "RunSucceeded"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(figures["heartbeat"].as_f64().unwrap() >= 4.0, "{figures}");
    assert_eq!(figures["failed"].as_f64().unwrap(), 0.0, "{figures}");
    // The killed scheduler may have recorded a run it did not live to publish.
    let published = figures["succeeded"].as_f64().unwrap();
    assert!(published <= succeeded && published >= succeeded - 1.0, "{published} published, {succeeded} recorded");
}

#[test]
fn sigterm_lets_a_run_finish_within_the_grace_and_cancels_it_after() {
    for (grace, table) in [("120s", "finished"), ("1s", "cancelled")] {
        let p = TestProject::new();
        p.without_jobs();
        p.ok(&["sql", "-c", "CREATE DATABASE scratch"]);
        let ctas = format!("CREATE TABLE scratch.{table} AS SELECT n, n * 2 AS twice FROM ({SLOW_SQL}) AS slow");
        p.write(
            "glaux.toml",
            &format!(
                "[scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\nshutdown_grace = \"{grace}\"\n\n\
                 [[schedule]]\nname = \"ctas\"\ncron = \"* * * * * *\"\nrun = \"sql -c \\\"{}\\\"\"\n",
                ctas
            ),
        );
        let mut scheduler = Scheduler::start(&p, &[], table);
        wait_until(Duration::from_secs(60), "a run to start", || !scheduled_runs(&p, &[]).is_empty());
        let stopped_at = Instant::now();
        scheduler.signal(libc::SIGTERM);
        let status = scheduler.wait(Duration::from_secs(180));
        let output = scheduler.output();
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{output}");
        let runs = scheduled_runs(&p, &[]);
        assert_eq!(runs.len(), 1, "no run starts after the stop: {runs:#?}");
        let tables = p.ok(&["sql", "--format", "csv", "-c", "SHOW TABLES IN scratch"]);
        if table == "finished" {
            assert_eq!(runs[0].status, "succeeded", "{runs:#?}\n{output}");
            assert!(output.contains("may finish within 120s"), "{output}");
            let table = p.ok(&["sql", "--format", "csv", "-c", "SELECT * FROM scratch.finished"]);
            assert_eq!(table, "n,twice\n1000003,2000006\n", "the finished run's table is whole");
        } else {
            assert!(stopped_at.elapsed() < Duration::from_secs(15), "cancelled soon after the grace: {output}");
            assert_eq!(runs[0].status, "failed", "{runs:#?}");
            assert!(runs[0].error.as_deref().unwrap().contains("cancelled"), "{runs:#?}");
            assert!(!tables.contains("cancelled"), "a cancelled CTAS leaves no table: {tables}");
        }
    }
}

#[test]
fn failure_recovery_and_lag_hooks_fire_once_each() {
    let p = TestProject::new();
    p.without_jobs();
    p.ok(&["ingest", "aurora"]);
    let port = free_port();
    let flag = p.dir.path().join("flag.csv");
    let alerts = p.dir.path().join("alerts.log");
    let hook = |kind: &str| {
        format!(
            "echo {kind} $GLAUX_ENTRY $GLAUX_STATUS $GLAUX_CONSECUTIVE_FAILURES $GLAUX_ATTEMPTS $GLAUX_LAG_STATE $GLAUX_INSTANCE >> '{}'",
            alerts.display()
        )
    };
    p.write(
        "glaux.toml",
        &format!(
            "[scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\n\n\
             [scheduler.prometheus]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [scheduler.lag]\nthreshold = \"1h\"\non_lag = \"{}\"\n\n\
             [[schedule]]\nname = \"flaky\"\ncron = \"* * * * * *\"\nrun = \"sql -c \\\"SELECT count(*) FROM '{}'\\\"\"\n\
             retries = 1\nretry_delay = \"1s\"\nfailure_threshold = 2\non_failure = \"{}\"\non_recovery = \"{}\"\n",
            hook("lag"),
            flag.display(),
            hook("failure"),
            hook("recovery"),
        ),
    );
    let scheduler = Scheduler::start(&p, &[], "hooks");
    wait_until(Duration::from_secs(120), "three failed runs", || {
        scheduled_runs(&p, &[]).iter().filter(|r| r.status == "failed").count() >= 3
    });
    let page = scrape(port);
    for instance in ["demo-mysql", "demo-postgres"] {
        let lag = sample(&page, &format!("glaux_source_lag_seconds{{instance=\"{instance}\"}}"));
        assert!(lag > 3600.0, "{instance} lags: {page}");
    }
    std::fs::write(&flag, "x\n1\n").unwrap();
    wait_until(Duration::from_secs(60), "two succeeded runs", || {
        scheduled_runs(&p, &[]).iter().filter(|r| r.status == "succeeded").count() >= 2
    });
    scheduler.stop(Duration::from_secs(60));

    let text = std::fs::read_to_string(&alerts).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let failures: Vec<&&str> = lines.iter().filter(|l| l.starts_with("failure ")).collect();
    let recoveries: Vec<&&str> = lines.iter().filter(|l| l.starts_with("recovery ")).collect();
    assert_eq!(failures, [&"failure flaky failed 2 2"], "after 2 failures (2 attempts each), once: {text}");
    assert_eq!(recoveries, [&"recovery flaky succeeded 0 1"], "{text}");
    // The demo's logs are months old: every instance lags, and is reported once.
    let lagging: Vec<&&str> = lines.iter().filter(|l| l.starts_with("lag ")).collect();
    let instances = sql_json(
        &p,
        &[],
        "SELECT DISTINCT instance FROM (SELECT instance FROM aurora_logs.mysql_slow_log UNION ALL \
         SELECT instance FROM aurora_logs.mysql_error_log UNION ALL SELECT instance FROM aurora_logs.postgres_log)",
    );
    assert!(!instances.is_empty());
    assert_eq!(lagging.len(), instances.len(), "{text}");
    for line in lagging {
        assert!(line.contains(" lagging "), "{line}");
    }
    let status = p.ok(&["schedule", "status", "--runs", "20", "--format", "json"]);
    let status: Vec<Value> = serde_json::from_str(&status).unwrap();
    assert!(status.iter().any(|r| r["status"] == "failed" && r["attempts"] == "2"), "{status:?}");
}

#[test]
fn missed_fire_times_run_once_on_restart_and_bad_entries_are_refused() {
    let p = TestProject::new();
    p.write(
        "glaux.toml",
        "[scheduler]\nheartbeat = \"1s\"\nlease = \"6s\"\n\n\
         [[schedule]]\nname = \"every5\"\ncron = \"*/5 * * * * *\"\nrun = \"sql -c 'SELECT 1'\"\ncatch_up = \"once\"\n",
    );
    let scheduler = Scheduler::start(&p, &[], "first");
    wait_until(Duration::from_secs(60), "a run", || !scheduled_runs(&p, &[]).is_empty());
    scheduler.stop(Duration::from_secs(30));
    let before = scheduled_runs(&p, &[]);
    // Down for more than one fire time.
    std::thread::sleep(Duration::from_secs(11));
    let restarted = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let scheduler = Scheduler::start(&p, &[], "second");
    wait_until(Duration::from_secs(60), "the catch-up run", || scheduled_runs(&p, &[]).len() > before.len());
    let output = scheduler.stop(Duration::from_secs(30));
    let runs = scheduled_runs(&p, &[]);
    let caught_up = &runs[before.len()];
    let fire = chrono::DateTime::parse_from_rfc3339(&caught_up.fire).unwrap().timestamp() as f64;
    assert!(fire < restarted && fire > restarted - 6.0, "the latest missed fire time, once: {caught_up:#?}");
    assert!(caught_up.start - restarted < 5.0, "at once: {caught_up:#?}\n{output}");
    let missed = runs
        .iter()
        .filter(|r| r.start > restarted - 0.5)
        .filter(|r| chrono::DateTime::parse_from_rfc3339(&r.fire).unwrap().timestamp() as f64 <= restarted);
    assert_eq!(missed.count(), 1, "one run for all missed fire times: {runs:#?}");
    assert_no_overlap(&runs, f64::INFINITY);

    // `schedule run NAME` runs now under the same rules; a timeout is a failure.
    p.write(
        "glaux.toml",
        &format!(
            "[[schedule]]\nname = \"quick\"\ncron = \"0 0 5 * * *\"\ntimezone = \"Europe/Berlin\"\nrun = \"sql -c 'SELECT 1'\"\n\n\
             [[schedule]]\nname = \"too-slow\"\ncron = \"0 0 5 * * *\"\nrun = \"sql -c '{SLOW_SQL}'\"\ntimeout = \"1s\"\n\n\
             [[schedule]]\nname = \"load\"\ncron = \"0 0 5 * * *\"\n\
             run = \"ingest csv data/customer_data/regions/regions.csv --table customer_data.regions\"\n"
        ),
    );
    let out = p.ok(&["schedule", "run", "quick"]);
    assert!(out.starts_with("[quick] "), "the command's output, with the entry's name: {out}");
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("quick: succeeded in ") && last.contains("(1 attempt)"), "{out}");
    let out = p.run(&["schedule", "run", "too-slow"]);
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(error.contains("too-slow") && error.contains("timed out after 1s"), "{error}");
    // What a run used, for a scheduled run and the ingest its command ran alike.
    p.ok(&["schedule", "run", "load"]);
    let used = sql_json(
        &p,
        &[],
        "SELECT s.run_id, s.rows_out AS s_rows, s.store_requests AS s_requests, s.store_bytes_written AS s_written, \
                s.cpu_s AS s_cpu, s.peak_memory_bytes AS s_mem, i.rows_out AS i_rows, i.store_requests AS i_requests, \
                i.store_bytes_read AS i_read, i.store_bytes_written AS i_written, i.cpu_s AS i_cpu, \
                i.peak_memory_bytes AS i_mem \
         FROM system.job_runs s JOIN system.job_runs i ON i.trigger = 'schedule:' || s.run_id \
         WHERE s.kind = 'schedule' AND s.name = 'load' AND i.kind = 'ingest'",
    );
    assert_eq!(used.len(), 1, "{used:?}");
    let u = &used[0];
    assert_eq!(u["i_rows"], 6, "the regions: {u}");
    assert_eq!(u["s_rows"], u["i_rows"], "{u}");
    assert!(u["i_requests"].as_u64().unwrap() > 2 && u["i_written"].as_u64().unwrap() > 1000, "{u}");
    assert_eq!((&u["s_requests"], &u["s_written"]), (&u["i_requests"], &u["i_written"]), "{u}");
    assert!(u["i_cpu"].as_f64().unwrap() > 0.0 && u["s_cpu"].as_f64().unwrap() >= u["i_cpu"].as_f64().unwrap(), "{u}");
    assert!(u["i_mem"].as_u64().unwrap() > 1_000_000 && u["s_mem"].as_u64().unwrap() > 1_000_000, "{u}");

    let listed = p.ok(&["schedule", "list", "--format", "csv"]);
    assert!(listed.contains("quick,0 0 5 * * *,Europe/Berlin,"), "{listed}");
    let unknown = p.run(&["schedule", "run", "nope"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("the entries are: quick, too-slow, load"), "{}", stderr(&unknown));

    // A bad entry is refused at start, naming the file, the entry and the field.
    for (entry, field) in [
        ("name = \"x\"\ncron = \"61 * * * *\"\nrun = \"run\"", "cron = \"61 * * * *\""),
        (
            "name = \"x\"\ncron = \"* * * * *\"\nrun = \"run\"\ntimezone = \"Mars/Olympus\"",
            "timezone = \"Mars/Olympus\"",
        ),
        ("name = \"x\"\ncron = \"* * * * *\"\nrun = \"schedule\"", "run = \"schedule\""),
        ("name = \"x\"\ncron = \"* * * * *\"\nrun = \"run\"\ntimeout = \"10\"", "timeout = \"10\""),
    ] {
        p.write("glaux.toml", &format!("[[schedule]]\n{entry}\n"));
        let out = p.run(&["schedule"]);
        let error = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{error}");
        assert_eq!(error.lines().count(), 1, "{error}");
        assert!(error.contains("glaux.toml: [[schedule]] #1 \"x\": ") && error.contains(field), "{error}");
    }
}
