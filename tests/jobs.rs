//! Jobs and loads as a user runs them: incremental runs that match a full recompute, runs with
//! nothing new that open no data file, and atomic commits under `kill -9` and racing processes.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{TestProject, stderr, stdout};

/// A fingerprint of a table's content that does not depend on row order or file layout.
fn digest(p: &TestProject, table: &str) -> String {
    let row = crate::support::row_text(p, table, "");
    // Every row hashed, the hashes sorted and hashed again: equal multisets of rows, equal digests.
    p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        &format!(
            "SELECT count(*) AS n, count(DISTINCT customer_id) AS ids, to_hex(md5(string_agg(h, ',' ORDER BY h))) AS digest \
             FROM (SELECT customer_id, to_hex(md5({row})) AS h FROM {table}) AS hashed"
        ),
    ])
}

fn load(p: &TestProject, file: &Path, date: &str) -> String {
    p.ok(&["ingest", "csv", file.to_str().unwrap(), "--table", "customer_data.customer_base_raw", "--date", date])
}

#[test]
fn incremental_runs_match_a_full_recompute_and_read_only_what_is_new() {
    let p = TestProject::new();
    p.ok(&["run"]);
    p.ok(&["demo", "generate", "--customers", "400", "--seed", "77", "--out", "later"]);
    load(&p, &p.path().join("later/crm_export_2026-11-15.csv"), "2030-01-01");

    let run = p.ok(&["job", "run", "--all"]);
    let lines: Vec<&str> = run.lines().collect();
    assert!(lines[0].starts_with("customer_data_cleansing: incremental: 2 input partition(s)"), "{run}");
    assert!(lines[1].starts_with("customer_feature_engineering: incremental:"), "{run}");
    let history = p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT inputs FROM system.job_runs WHERE name = 'customer_data_cleansing' AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1",
    ]);
    assert_eq!(
        history, "inputs\n\"customer_data.customer_base_raw/ingest_date=2030-01-01, customer_data.regions\"\n",
        "only the new raw partition is read"
    );
    let staging = p.path().join("warehouse/_glaux/staging");
    assert!(
        !staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none(),
        "staged rows are removed after the run"
    );
    let incremental =
        [digest(&p, "customer_data.customer_base_cleaned"), digest(&p, "customer_data.customer_features")];
    let ids = incremental[0].lines().nth(1).unwrap().split(',').collect::<Vec<_>>();
    assert_eq!(ids[0], ids[1], "one row per customer: {}", incremental[0]);

    let full = p.ok(&["job", "run", "--all", "--full"]);
    assert!(full.contains("customer_data_cleansing: full (--full)"), "{full}");
    let recomputed = [digest(&p, "customer_data.customer_base_cleaned"), digest(&p, "customer_data.customer_features")];
    assert_eq!(incremental, recomputed, "an incremental run gives what a full recompute gives");

    // A small run is one task: one file per output partition, not one per core.
    let list = p.ok(&["catalog", "list", "--format", "csv"]);
    for table in ["customer_base_cleaned", "customer_features"] {
        let row: Vec<&str> =
            list.lines().find(|l| l.starts_with(&format!("customer_data,{table},"))).unwrap().split(',').collect();
        let (partitions, files) = (row[row.len() - 4], row[row.len() - 3]);
        assert_eq!(partitions, files, "{table}: {list}");
    }
}

#[test]
fn a_run_with_nothing_new_opens_no_data_file() {
    let p = TestProject::new();
    p.ok(&["run"]);
    // Move every data file away: only glaux's state under _glaux/ stays.
    let warehouse = p.path().join("warehouse");
    let moved = p.path().join("moved-away");
    std::fs::create_dir(&moved).unwrap();
    for database in ["customer_data", "aurora_logs"] {
        std::fs::rename(warehouse.join(database), moved.join(database)).unwrap();
    }
    let started = Instant::now();
    let out = p.ok(&["job", "run", "--all"]);
    let took = started.elapsed();
    let jobs = [
        "customer_data_cleansing",
        "customer_feature_engineering",
        "mysql_error_summary",
        "mysql_query_digest",
        "mysql_query_timeline",
        "postgres_activity",
        "postgres_error_summary",
        "postgres_query_digest",
        "postgres_query_timeline",
    ];
    let expected: String =
        jobs.iter().map(|job| format!("{job}: nothing new since its last run; nothing read or written\n")).collect();
    assert_eq!(out, expected);
    eprintln!("up-to-date run of every job took {took:?}");
    for database in ["customer_data", "aurora_logs"] {
        std::fs::rename(moved.join(database), warehouse.join(database)).unwrap();
    }
    let statuses = p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT status, count(*) AS n FROM system.job_runs WHERE kind = 'job' GROUP BY 1 ORDER BY 1",
    ]);
    assert_eq!(statuses, "status,n\nsucceeded,9\nup_to_date,9\n");
}

/// Starts glaux, waits until a file appears below `watch`, and kills it with SIGKILL.
/// Returns whether the kill happened while the process was still running.
fn kill_when_a_file_appears(p: &TestProject, args: &[&str], watch: &Path) -> bool {
    let mut child = p.glaux().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut running = false;
    let mut appeared = false;
    while Instant::now() < deadline {
        if has_files(watch) {
            appeared = true;
            running = child.try_wait().unwrap().is_none();
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
    assert!(appeared || !running, "no file appeared below {}", watch.display());
    running
}

fn has_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| e.path().is_file() || has_files(&e.path()))
}

fn count(p: &TestProject, table: &str) -> String {
    p.ok(&["sql", "--format", "csv", "-c", &format!("SELECT count(*) AS n FROM {table}")])
}

#[test]
fn kill_9_mid_write_leaves_the_previous_state_and_the_next_run_completes() {
    let p = TestProject::new();
    p.ok(&["demo", "generate", "--customers", "120000", "--seed", "5", "--out", "big"]);
    let export = p.path().join("big/crm_export_2026-11-01.csv");

    // An ingest killed while writing Parquet: nothing visible, and the file is not marked loaded.
    let raw_dir = p.path().join("warehouse/customer_data/customer_base_raw");
    let args = [
        "ingest",
        "csv",
        export.to_str().unwrap(),
        "--table",
        "customer_data.customer_base_raw",
        "--date",
        "2026-11-01",
    ];
    assert!(kill_when_a_file_appears(&p, &args, &raw_dir), "the ingest finished before it could be killed");
    assert_eq!(count(&p, "customer_data.customer_base_raw"), "n\n0\n");
    let loaded = load(&p, &export, "2026-11-01");
    assert!(loaded.contains("1 file(s) loaded"), "{loaded}");
    let raw_rows = loaded.split("written ").nth(1).unwrap().split(',').next().unwrap().to_string();
    assert_eq!(count(&p, "customer_data.customer_base_raw"), format!("n\n{raw_rows}\n"), "no duplicate rows");
    p.ok(&["ingest", "csv", "data/customer_data/regions/regions.csv", "--table", "customer_data.regions"]);

    // A job killed while writing its output: the output stays as it was (empty), no bookmark.
    let cleaned_dir = p.path().join("warehouse/customer_data/customer_base_cleaned");
    let job = ["job", "run", "customer_data_cleansing"];
    assert!(kill_when_a_file_appears(&p, &job, &cleaned_dir), "the job finished before it could be killed");
    assert_eq!(count(&p, "customer_data.customer_base_cleaned"), "n\n0\n");
    let killed = p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT status, ended_at IS NULL AS open FROM system.job_runs WHERE kind = 'job'",
    ]);
    assert_eq!(killed, "status,open\nabandoned,true\n", "the killed run shows as abandoned, with no end");

    let rerun = p.ok(&["job", "run", "customer_data_cleansing"]);
    assert!(rerun.contains("full (first run)"), "{rerun}");
    let digest = p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT count(*) = count(DISTINCT customer_id) AS unique_ids, count(*) > 100000 AS complete \
         FROM customer_data.customer_base_cleaned",
    ]);
    assert_eq!(digest, "unique_ids,complete\ntrue,true\n");
}

#[test]
fn two_processes_racing_on_one_job_never_both_commit() {
    let p = TestProject::new();
    p.ok(&["run"]);
    p.ok(&["demo", "generate", "--customers", "40000", "--seed", "9", "--out", "race"]);
    load(&p, &p.path().join("race/crm_export_2026-11-01.csv"), "2031-01-01");
    let before = p.ok(&["catalog", "list", "--format", "csv"]);

    let spawn = || {
        p.glaux()
            .args(["job", "run", "customer_data_cleansing"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs: Vec<Output> = [a, b].into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let committed = outputs.iter().filter(|o| o.status.success() && stdout(o).contains("incremental")).count();
    assert_eq!(
        committed,
        1,
        "exactly one run commits: {:?}",
        outputs.iter().map(|o| (stdout(o), stderr(o))).collect::<Vec<_>>()
    );
    for o in &outputs {
        if !o.status.success() {
            assert_eq!(o.status.code(), Some(1));
            assert!(stderr(o).contains("conflicts with commit"), "{}", stderr(o));
            assert!(stderr(o).contains("re-run to build on the new state"), "{}", stderr(o));
        } else if !stdout(o).contains("incremental") {
            assert!(stdout(o).contains("nothing new"), "{}", stdout(o));
        }
    }
    let version = |listing: &str| {
        listing.lines().find(|l| l.contains(",customer_base_cleaned,")).unwrap().split(',').nth(4).unwrap().to_string()
    };
    let after = p.ok(&["catalog", "list", "--format", "csv"]);
    assert_eq!(version(&after).parse::<u64>().unwrap(), version(&before).parse::<u64>().unwrap() + 1);
    let unique = "SELECT count(*) = count(DISTINCT customer_id) AS unique_ids FROM customer_data.customer_base_cleaned";
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", unique]), "unique_ids\ntrue\n");
}

#[test]
fn a_failing_job_leaves_the_previous_output_and_records_the_error() {
    let p = TestProject::new();
    p.ok(&["run"]);
    let before = digest(&p, "customer_data.customer_base_cleaned");
    let sql = std::fs::read_to_string(p.path().join("sql/customer_data_cleansing.sql")).unwrap();
    p.write("sql/customer_data_cleansing.sql", &sql.replace("source_line DESC", "no_such_column DESC"));
    let failed = p.run(&["job", "run", "customer_data_cleansing"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("job customer_data_cleansing"), "{}", stderr(&failed));
    assert!(stderr(&failed).contains("no_such_column"), "{}", stderr(&failed));
    assert_eq!(digest(&p, "customer_data.customer_base_cleaned"), before);
    let history = p.ok(&["job", "history", "customer_data_cleansing", "--format", "csv", "--limit", "1"]);
    assert!(history.contains(",failed,") && history.contains("no_such_column"), "{history}");

    // Restored, the SQL matches what the output was built with: the bookmark still holds.
    p.write("sql/customer_data_cleansing.sql", &sql);
    let fixed = p.ok(&["job", "run", "customer_data_cleansing"]);
    assert_eq!(fixed, "customer_data_cleansing: nothing new since its last run; nothing read or written\n");
    p.write("sql/customer_data_cleansing.sql", &format!("{sql}\n-- a comment changes the fingerprint\n"));
    let changed = p.ok(&["job", "run", "customer_data_cleansing"]);
    assert!(
        changed.contains("customer_data_cleansing: full (definition or SQL changed since the last run)"),
        "{changed}"
    );
    assert_eq!(digest(&p, "customer_data.customer_base_cleaned"), before);
}

#[test]
fn a_job_under_a_small_memory_limit_spills_and_gives_the_same_rows() {
    let p = TestProject::new();
    p.ok(&["demo", "generate", "--customers", "30000", "--seed", "4", "--out", "mid"]);
    load(&p, &p.path().join("mid/crm_export_2026-11-01.csv"), "2026-11-01");
    p.ok(&["ingest", "csv", "data/customer_data/regions/regions.csv", "--table", "customer_data.regions"]);
    p.ok(&["job", "run", "customer_data_cleansing"]);
    let unlimited = digest(&p, "customer_data.customer_base_cleaned");
    let limited = p.ok(&["job", "run", "customer_data_cleansing", "--full", "--memory-limit", "16M"]);
    assert!(limited.contains("full (--full)"), "{limited}");
    assert_eq!(digest(&p, "customer_data.customer_base_cleaned"), unlimited);
}
