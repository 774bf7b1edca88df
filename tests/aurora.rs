//! Database logs: the parsers against pt-query-digest and pgBadger on public corpora and on logs
//! written by real MariaDB and PostgreSQL servers, `glaux ingest aurora` from a directory and
//! from the RDS-protocol test server (throttling, truncation, rotation), and exactly-once
//! ingestion across `kill -9`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{TestProject, glaux_bin, stderr};

pub(crate) fn fixtures() -> PathBuf {
    crate::support::repo_root().join("tests/fixtures")
}

/// `glaux logs parse --format json` of `files`.
fn parse(files: &[PathBuf], extra: &[&str]) -> Vec<Value> {
    let output = Command::new(glaux_bin())
        .args(["logs", "parse", "--format", "json"])
        .args(extra)
        .args(files)
        .output()
        .expect("run glaux logs parse");
    assert!(output.status.success(), "glaux logs parse failed: {}", stderr(&output));
    serde_json::from_slice::<Value>(&output.stdout).unwrap().as_array().unwrap().clone()
}

/// pt-query-digest's event count and total query time, `None` when it finds no event.
fn pt_query_digest(file: &Path, kind: &str) -> Option<(u64, f64)> {
    let output = Command::new("pt-query-digest")
        .args(["--type", kind, "--output", "json"])
        .arg(file)
        .output()
        .expect("pt-query-digest runs (Debian package percona-toolkit)");
    let json: Value = serde_json::from_slice(&output.stdout).ok()?;
    let global = &json["global"];
    let count = global["query_count"].as_u64()?;
    let time = global["metrics"]["Query_time"]["sum"].as_str().map_or(0.0, |s| s.parse().unwrap());
    Some((count, time))
}

/// pgBadger's query count and entries per level. One pgBadger at a time, each with its own
/// temporary directory: concurrent runs have been seen to fail without a message.
fn pgbadger(file: &Path, prefix: &str) -> (u64, BTreeMap<String, u64>) {
    let json = pgbadger_json(file, prefix);
    let queries = json["overall_stat"]["queries_number"].as_u64().unwrap();
    let levels = json["logs_type"].as_object().unwrap().values().flat_map(|db| db.as_object().unwrap().iter()).fold(
        BTreeMap::new(),
        |mut m, (level, n)| {
            *m.entry(level.clone()).or_default() += n.as_u64().unwrap();
            m
        },
    );
    (queries, levels)
}

/// pgBadger's JSON output for `file`.
pub(crate) fn pgbadger_json(file: &Path, prefix: &str) -> Value {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("pgbadger.json");
    let output = Command::new("pgbadger")
        .env("TMPDIR", scratch.path())
        .args(["-q", "-f", "stderr", "-p", prefix, "-o"])
        .arg(&out)
        .arg(file)
        .output()
        .expect("pgbadger runs (Debian package pgbadger)");
    assert!(
        output.status.success(),
        "pgbadger on {}: {} {} {:?}",
        file.display(),
        stderr(&output),
        crate::support::stdout(&output),
        output.status
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

#[test]
fn every_slow_and_general_log_fixture_agrees_with_pt_query_digest() {
    let mut compared = 0;
    for (dir, kind, pt_type) in [("percona/slowlogs", "slow", "slowlog"), ("percona/genlogs", "general", "genlog")] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_none_or(|e| e != "gz"))
            .collect();
        files.sort();
        let ours = parse(&files, &["--kind", kind]);
        for (file, summary) in files.iter().zip(&ours) {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            let entries = summary["entries"].as_u64().unwrap();
            let time = summary["query_time_s"].as_f64().unwrap();
            match (pt_query_digest(file, pt_type).filter(|(count, _)| *count > 0), name.as_str()) {
                (Some((count, total)), _) => {
                    assert_eq!(entries, count, "{name}: entries");
                    if kind == "slow" {
                        assert!((time - total).abs() < 1e-6, "{name}: total query time {time} vs {total}");
                    }
                    compared += 1;
                }
                // pt-query-digest drops an event whose Query_time is garbage; glaux keeps it with
                // a NULL time.
                (None, "slow017.txt") => assert_eq!((entries, time), (1, 0.0)),
                // Not slow logs (pt-query-digest's session format): every line is a reject.
                (None, n) if n.starts_with("slow006-session") => {
                    assert_eq!(entries, 0);
                    assert!(summary["rejects"].as_u64().unwrap() > 0);
                }
                (None, _) => assert_eq!(entries, 0, "{name}: pt-query-digest found no event"),
            }
        }
    }
    assert!(compared >= 70, "only {compared} files compared");

    // The compressed one, decompressed first (glaux reads logs as text).
    let plain = tempfile::NamedTempFile::with_suffix(".log").unwrap();
    let gz = Command::new("zcat").arg(fixtures().join("percona/slowlogs/slow039.txt.gz")).output().unwrap();
    std::fs::write(plain.path(), gz.stdout).unwrap();
    let ours = &parse(&[plain.path().to_path_buf()], &["--kind", "slow"])[0];
    let (count, total) = pt_query_digest(plain.path(), "slowlog").unwrap();
    assert_eq!((ours["entries"].as_u64().unwrap(), ours["query_time_s"].as_f64().unwrap()), (count, total));
}

#[test]
fn every_error_log_fixture_parses_without_rejects() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("percona/errlogs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("errlog"))
        .collect();
    files.sort();
    let ours = parse(&files, &["--kind", "error"]);
    assert_eq!(ours.len(), 10);
    for summary in &ours {
        assert_eq!(summary["rejects"], 0, "{summary}");
        assert!(summary["entries"].as_u64().unwrap() > 0, "{summary}");
    }
    // errlog001: 33 messages, of which 5 [ERROR], 3 [Warning], 9 [Note], 16 without a label
    // (`mysqld started`, InnoDB start-up lines).
    assert_eq!(ours[0]["entries"], 33);
    assert_eq!(ours[0]["severities"], serde_json::json!({"(none)": 16, "ERROR": 5, "Note": 9, "Warning": 3}));
}

/// pgBadger's five fixtures, each with the `log_line_prefix` its test in pgBadger's suite uses
/// (the light log decompressed into the temporary file returned first: glaux reads logs as
/// text).
pub(crate) fn pgbadger_fixtures() -> (tempfile::NamedTempFile, Vec<(PathBuf, &'static str)>) {
    let dir = fixtures().join("pgbadger");
    let light = tempfile::NamedTempFile::with_suffix(".log").unwrap();
    let bz = Command::new("bzcat").arg(dir.join("light.postgres.log.bz2")).output().unwrap();
    std::fs::write(light.path(), bz.stdout).unwrap();
    let cases = vec![
        (light.path().to_path_buf(), "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h "),
        (dir.join("pg-timezones.log"), "%t:%r:%u@%d:[%p]:"),
        (dir.join("multiline_param.log"), "%m [%p] user=%u,db=%d "),
        (dir.join("begin_end.log"), "%t [%p]: db=%d,user=%u,app=%a,client=%h "),
        (dir.join("stmt_type.log"), "%m [%p] "),
    ];
    (light, cases)
}

#[test]
fn postgres_fixtures_agree_with_pgbadger() {
    let (_light, cases) = pgbadger_fixtures();
    for (file, prefix) in cases {
        let ours = &parse(std::slice::from_ref(&file), &["--log-line-prefix", prefix])[0];
        let (queries, levels) = pgbadger(&file, prefix);
        assert_eq!(ours["queries"].as_u64().unwrap(), queries, "{}: queries", file.display());
        assert_eq!(ours["rejects"].as_u64().unwrap(), 0, "{}: rejects", file.display());
        let severities = ours["severities"].as_object().unwrap();
        for (level, n) in
            levels.iter().filter(|(l, _)| ["LOG", "ERROR", "FATAL", "PANIC", "WARNING"].contains(&l.as_str()))
        {
            assert_eq!(severities.get(level).map_or(0, |v| v.as_u64().unwrap()), *n, "{}: {level}", file.display());
        }
    }
}

/// Logs written by real MariaDB and PostgreSQL servers (`tests/gen_real_logs.py`), generated
/// once per test run.
pub(crate) fn real_logs() -> &'static Path {
    static LOGS: OnceLock<PathBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let output = Command::new("python3")
            .arg(crate::support::repo_root().join("tests/gen_real_logs.py"))
            .arg(&dir)
            .output()
            .expect("run tests/gen_real_logs.py");
        assert!(
            output.status.success(),
            "tests/gen_real_logs.py failed (needs root and the Debian packages mariadb-server and postgresql): {}",
            stderr(&output)
        );
        dir
    })
}

/// A project whose logs directory holds `files` (name → content source).
pub(crate) fn log_dir(files: &[(&str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in files {
        let target = dir.path().join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source, &target).unwrap();
    }
    dir
}

pub(crate) fn real_files() -> Vec<(&'static str, PathBuf)> {
    let logs = real_logs();
    let postgres = std::fs::read_dir(logs.join("postgres")).unwrap().next().unwrap().unwrap().path();
    vec![
        ("slowquery/mysql-slowquery.log", logs.join("mysql/mysql-slowquery.log")),
        ("error/mysql-error.log", logs.join("mysql/mysql-error.log")),
        ("general/mysql-general.log", logs.join("mysql/mysql-general.log")),
        ("audit/audit.log", logs.join("mysql/audit.log")),
        ("error/postgresql.log.2026-11-22-0236", postgres),
    ]
}

pub(crate) fn count(project: &TestProject, sql: &str) -> u64 {
    let out = project.ok(&["sql", "--format", "csv", "-c", sql]);
    out.lines().nth(1).unwrap_or_else(|| panic!("no result for {sql}: {out}")).trim().parse().unwrap()
}

/// Rows per log table, and whether any row repeats (same file and byte offset).
fn table_counts(project: &TestProject) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for table in ["mysql_slow_log", "mysql_error_log", "mysql_general_log", "mysql_audit_log", "postgres_log"] {
        let rows = count(project, &format!("SELECT count(*) FROM aurora_logs.{table}"));
        let distinct = count(
            project,
            &format!(
                "SELECT count(*) FROM (SELECT DISTINCT instance, source_file, byte_offset FROM aurora_logs.{table})"
            ),
        );
        assert_eq!(rows, distinct, "{table}: a line was ingested twice");
        counts.insert(table.to_string(), rows);
    }
    counts
}

#[test]
fn logs_of_real_servers_ingest_once_and_agree_with_the_peers() {
    let files = real_files();
    let pairs: Vec<(&str, &Path)> = files.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let dir = log_dir(&pairs);
    let project = TestProject::new();
    let dir_arg = dir.path().to_str().unwrap();
    let first = project.ok(&["ingest", "aurora", "--dir", dir_arg, "--instance", "db-1", "--format", "json"]);
    let report: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(report["files"], 5);
    assert_eq!(report["rejects"], 0, "{first}");

    let counts = table_counts(&project);
    let (slow_count, slow_time) = pt_query_digest(&files[0].1, "slowlog").unwrap();
    assert_eq!(counts["mysql_slow_log"], slow_count);
    let sum = project.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT round(sum(query_time_s), 6) FROM aurora_logs.mysql_slow_log",
    ]);
    assert!((sum.lines().nth(1).unwrap().parse::<f64>().unwrap() - slow_time).abs() < 1e-5);
    let (general_count, _) = pt_query_digest(&files[2].1, "genlog").unwrap();
    assert_eq!(counts["mysql_general_log"], general_count);
    let (queries, levels) = pgbadger(&files[4].1, "%t:%r:%u@%d:[%p]:");
    assert_eq!(
        count(
            &project,
            "SELECT count(*) FROM aurora_logs.postgres_log WHERE duration_ms IS NOT NULL AND statement IS NOT NULL"
        ),
        queries
    );
    assert_eq!(
        count(&project, "SELECT count(*) FROM aurora_logs.postgres_log WHERE severity = 'ERROR'"),
        levels["ERROR"]
    );
    assert_eq!(count(&project, "SELECT count(*) FROM aurora_logs.postgres_log WHERE severity = 'LOG'"), levels["LOG"]);
    // The failed statements of the workload carry their STATEMENT line.
    assert_eq!(
        count(
            &project,
            "SELECT count(*) FROM aurora_logs.postgres_log WHERE severity = 'ERROR' AND statement LIKE '%no_such_table%'"
        ),
        1
    );
    // The audit log's quoted objects are unescaped.
    assert!(
        count(
            &project,
            "SELECT count(*) FROM aurora_logs.mysql_audit_log WHERE object = 'CREATE USER ''app''@''localhost'' IDENTIFIED BY *****'"
        ) >= 1
    );
    // The raw bytes are landed as fetched.
    let landed = project.path().join("warehouse/aurora-logs/db-1");
    assert!(landed.is_dir());

    // A second run finds nothing new; appended lines are read once.
    let second = project.ok(&["ingest", "aurora", "--dir", dir_arg, "--instance", "db-1"]);
    assert!(second.contains("nothing new"), "{second}");
    let pg = dir.path().join("error/postgresql.log.2026-11-22-0236");
    let mut text = std::fs::read(&pg).unwrap();
    text.extend_from_slice(b"2026-11-22 03:00:00 UTC:[local]:app@shop:[77]:LOG:  duration: 2.000 ms  statement: SELECT 1;\n2026-11-22 03:00:01 UTC:[local]:app@shop:[77]:LOG:  half a li");
    std::fs::write(&pg, &text).unwrap();
    project.ok(&["ingest", "aurora", "--dir", dir_arg, "--instance", "db-1"]);
    assert_eq!(
        count(&project, "SELECT count(*) FROM aurora_logs.postgres_log WHERE pid = 77"),
        1,
        "the unfinished line waits"
    );
    text.extend_from_slice(b"ne\n");
    std::fs::write(&pg, &text).unwrap();
    project.ok(&["ingest", "aurora", "--dir", dir_arg, "--instance", "db-1"]);
    assert_eq!(
        count(&project, "SELECT count(*) FROM aurora_logs.postgres_log WHERE pid = 77 AND message = 'half a line'"),
        1
    );
    assert_eq!(table_counts(&project)["postgres_log"], counts["postgres_log"] + 2);
}

#[test]
fn bad_lines_go_to_aurora_logs_rejects_with_file_offset_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("postgresql.log.2026-11-22-10"),
        "2026-11-22 10:00:00 UTC::@:[5]:LOG:  checkpoint starting: time\nnot a log line\n2026-11-22 10:00:01 UTC::@:[5]:LOG:  checkpoint complete\n",
    )
    .unwrap();
    // A file outside the lookback is named in the summary, not passed over in silence.
    let old = dir.path().join("postgresql.log.2020-01-01-00");
    std::fs::write(&old, "2020-01-01 00:00:00 UTC::@:[5]:LOG:  old\n").unwrap();
    assert!(Command::new("touch").args(["-d", "2020-01-01"]).arg(&old).status().unwrap().success());
    let project = TestProject::new();
    let output = project.run(&["ingest", "aurora", "--dir", dir.path().to_str().unwrap(), "--instance", "db-2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("1 line(s) rejected"));
    assert!(crate::support::stdout(&output).contains("1 file(s) last written before the lookback not read"));
    let rejects = project.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT table_name, source_file, line, byte_offset, reason, record FROM aurora_logs.rejects",
    ]);
    assert!(
        rejects.contains("aurora_logs.postgres_log,db-2/postgresql.log.2026-11-22-10,2,63,line does not start with the log_line_prefix '%t:%r:%u@%d:[%p]:',not a log line"),
        "{rejects}"
    );
    assert_eq!(count(&project, "SELECT count(*) FROM aurora_logs.postgres_log"), 2);
    // Instance names cannot leave the warehouse.
    let bad = project.run(&["ingest", "aurora", "--dir", dir.path().to_str().unwrap(), "--instance", "../x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("instance '../x' cannot be used"));
}

/// The RDS-protocol test server over `root` (`root/<instance>/<file>`).
struct RdsServer {
    child: std::process::Child,
    url: String,
}

impl RdsServer {
    fn start(root: &Path, extra: &[&str]) -> RdsServer {
        let script = crate::support::repo_root().join("tests/rds_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--dir")
            .arg(root)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the RDS test server");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        RdsServer { child, url: format!("http://127.0.0.1:{}", line.trim()) }
    }
}

impl Drop for RdsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project whose `glaux.toml` reads cluster `prod` from `server`.
fn rds_project(server: &RdsServer) -> TestProject {
    let project = TestProject::new();
    point_at(&project, server);
    project
}

/// Sets the project's one log source to cluster `prod` on `server` (replacing an earlier one).
fn point_at(project: &TestProject, server: &RdsServer) {
    let config = std::fs::read_to_string(project.path().join("glaux.toml")).unwrap();
    let base = config.split("\n[[aurora.sources]]").next().unwrap();
    project.write(
        "glaux.toml",
        &format!(
            "{base}\n[[aurora.sources]]\nname = \"prod\"\ncluster = \"prod\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\nrequests_per_second = 500\nsince = \"3650d\"\n",
            server.url
        ),
    );
}

fn rds(project: &TestProject, args: &[&str]) -> std::process::Output {
    project
        .glaux()
        .args(["ingest", "aurora", "--source", "prod"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap()
}

#[test]
fn rds_download_survives_throttling_truncation_and_rotation() {
    let files = real_files();
    let root = tempfile::tempdir().unwrap();
    for (name, source) in &files {
        let target = root.path().join("db-writer").join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source, &target).unwrap();
    }
    // A statement longer than a page: RDS cuts it, glaux must not loop on it.
    let long = root.path().join("db-reader/slowquery/mysql-slowquery.log");
    std::fs::create_dir_all(long.parent().unwrap()).unwrap();
    let big = format!(
        "# Time: 2026-11-22T10:00:00.000000Z\n# User@Host: app[app] @ localhost []  Id:     9\n# Query_time: 1.000000  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0\nSET timestamp=1795341600;\nSELECT '{}';\n# Time: 2026-11-22T10:00:01.000000Z\n# User@Host: app[app] @ localhost []  Id:     9\n# Query_time: 2.000000  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0\nSET timestamp=1795341601;\nSELECT 2;\n",
        "x".repeat(100_000)
    );
    std::fs::write(&long, big).unwrap();

    let server = RdsServer::start(
        root.path(),
        &["--cluster", "prod", "--page-bytes", "65536", "--throttle-every", "3", "--overlap-every", "4"],
    );
    let project = rds_project(&server);
    let output = rds(&project, &["--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["files"], 6, "{report}");
    assert_eq!(report["truncated_lines"], 1, "{report}");
    assert!(report["overlapping_pages"].as_u64().unwrap() > 0, "{report}");

    // Same rows as reading the same files from a directory.
    let local = TestProject::new();
    let pairs: Vec<(&str, &Path)> = files.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let dir = log_dir(&pairs);
    local.ok(&["ingest", "aurora", "--dir", dir.path().to_str().unwrap(), "--instance", "db-writer"]);
    let expected = table_counts(&local);
    let mut got = table_counts(&project);
    assert_eq!(count(&project, "SELECT count(*) FROM aurora_logs.mysql_slow_log WHERE instance = 'db-reader'"), 2);
    *got.get_mut("mysql_slow_log").unwrap() -= 2;
    assert_eq!(got, expected);
    let digest = |p: &TestProject| {
        p.ok(&["sql", "--format", "csv", "-c", "SELECT md5(string_agg(sql_text, '|' ORDER BY byte_offset)) FROM aurora_logs.mysql_slow_log WHERE instance = 'db-writer'"])
    };
    assert_eq!(digest(&project), digest(&local));

    // Nothing new: no download at all beyond the listing.
    let again = rds(&project, &[]);
    assert!(stdout_of(&again).contains("nothing new"), "{}", stdout_of(&again));

    // Appended lines resume from the stored marker.
    let pg = root.path().join("db-writer/error/postgresql.log.2026-11-22-0236");
    let mut text = std::fs::read(&pg).unwrap();
    let line = b"2026-11-22 03:00:00 UTC:[local]:app@shop:[77]:LOG:  duration: 2.000 ms  statement: SELECT 1;\n";
    text.extend_from_slice(line);
    std::fs::write(&pg, &text).unwrap();
    let appended = rds(&project, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&appended.stdout).unwrap();
    assert_eq!(report["rows"]["aurora_logs.postgres_log"], 1, "{report}");
    assert_eq!(report["bytes"].as_u64().unwrap(), line.len() as u64, "only the new line is downloaded");
    drop(server);

    // The error log rotates while it is read: what was read stays, the rotated copy continues
    // from there, the new file starts from zero. No line twice, none lost.
    let error_log = root.path().join("db-writer/error/mysql-error.log");
    let mut lines: String = std::fs::read_to_string(&error_log).unwrap();
    for i in 0..3000 {
        lines.push_str(&format!("2026-11-22 10:00:00 0 [Note] padding line {i} to need several pages\n"));
    }
    std::fs::write(&error_log, &lines).unwrap();
    let rows_before = count(&project, "SELECT count(*) FROM aurora_logs.mysql_error_log");
    // The second page request for it finds the file rotated (requests: list, then pages).
    let server = RdsServer::start(
        root.path(),
        &["--cluster", "prod", "--page-bytes", "65536", "--rotate", "error/mysql-error.log@3"],
    );
    point_at(&project, &server);
    let rotated = rds(&project, &["--format", "json", "--kind", "error"]);
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let report: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_eq!(report["vanished"], serde_json::json!(["db-writer/error/mysql-error.log"]), "{report}");
    let after = rds(&project, &["--format", "json", "--kind", "error"]);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(count(&project, "SELECT count(*) FROM aurora_logs.mysql_error_log") - rows_before, 3000);
    table_counts(&project);
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes a PostgreSQL log of about `megabytes` MB from the real server's lines.
fn big_postgres_log(path: &Path, megabytes: usize) -> u64 {
    let source = real_files().pop().unwrap().1;
    let text = std::fs::read_to_string(source).unwrap();
    let mut out = String::with_capacity(megabytes << 20);
    while out.len() < megabytes << 20 {
        out.push_str(&text);
    }
    std::fs::write(path, &out).unwrap();
    let parsed = parse(&[path.to_path_buf()], &[]);
    parsed[0]["entries"].as_u64().unwrap()
}

/// Starts `command` (an ingest in `project`), kills it with SIGKILL `after` its run record
/// appears, and returns whether it was still running then.
fn kill_after_start(project: &TestProject, mut command: Command, after: Duration) -> bool {
    let runs = project.path().join("warehouse/_glaux/runs");
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_dir(&runs).is_ok_and(|mut e| e.next().is_some()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(after);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

#[test]
fn kill_9_mid_write_then_rerun_gives_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("postgresql.log.2026-11-22-0236");
    let entries = big_postgres_log(&log, 60);
    let project = TestProject::new();
    let mut command = project.glaux();
    command.args(["ingest", "aurora", "--dir", dir.path().to_str().unwrap(), "--instance", "db-1"]);
    assert!(kill_after_start(&project, command, Duration::from_millis(700)), "ingest finished before the kill");
    assert_eq!(count(&project, "SELECT count(*) FROM aurora_logs.postgres_log"), 0, "a killed run published rows");
    project.ok(&["ingest", "aurora", "--dir", dir.path().to_str().unwrap(), "--instance", "db-1"]);
    assert_eq!(table_counts(&project)["postgres_log"], entries);
}

#[test]
fn kill_9_mid_download_from_rds_then_rerun_gives_every_line_once() {
    let root = tempfile::tempdir().unwrap();
    let log = root.path().join("db-1/error/postgresql.log.2026-11-22-0236");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let entries = big_postgres_log(&log, 8);
    // Pages of 64 KiB served 10 ms apart: the download takes over a second.
    let server = RdsServer::start(root.path(), &["--cluster", "prod", "--page-bytes", "65536", "--delay-ms", "10"]);
    // The first kill lands mid-download; the others at moments spread over the first 1.5 s
    // after the run starts (GLAUX_FAULT_TRIALS of them, 3 by default).
    let trials = std::env::var("GLAUX_FAULT_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut outcomes = BTreeMap::new();
    for trial in 0..trials.max(1) {
        let project = rds_project(&server);
        let mut command = project.glaux();
        command
            .args(["ingest", "aurora", "--source", "prod"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        let after = Duration::from_millis(if trial == 0 { 500 } else { (trial as u64 * 7919) % 1500 });
        let running = kill_after_start(&project, command, after);
        assert!(running || trial > 0, "download finished before the kill");
        let rows = count(&project, "SELECT count(*) FROM aurora_logs.postgres_log");
        assert!(rows == 0 || rows == entries, "trial {trial}: a killed run published {rows} of {entries} rows");
        *outcomes.entry((running, rows == 0)).or_insert(0) += 1;
        let output = rds(&project, &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(table_counts(&project)["postgres_log"], entries, "trial {trial}");
    }
    eprintln!("RDS kill trials (killed while running, nothing published): {outcomes:?}");
}
