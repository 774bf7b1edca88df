//! Data lifecycle as users run it: `glaux vacuum` after killed and superseded writers, beside
//! running writers, and killed itself; time travel (`FOR VERSION AS OF`, `FOR TIMESTAMP AS OF`)
//! to every kept version, before and after a vacuum; `glaux catalog history`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{TestProject, stderr};

fn csv(p: &TestProject, sql: &str) -> String {
    p.ok(&["sql", "--format", "csv", "-c", sql])
}

/// Every Parquet file in the warehouse (data and rejects; not job staging), relative to it.
fn parquet_on_disk(warehouse: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.insert(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut files = BTreeSet::new();
    walk(warehouse, warehouse, &mut files);
    files.retain(|f| !f.starts_with("_glaux/staging/"));
    files
}

/// Files half-written by killed writers (`part-00000.parquet#3`, the local store's upload names).
fn upload_leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(upload_leftovers(&path));
        } else if entry
            .file_name()
            .to_string_lossy()
            .rsplit_once('#')
            .is_some_and(|(_, n)| n.bytes().all(|b| b.is_ascii_digit()))
        {
            out.push(path.display().to_string());
        }
    }
    out
}

/// The snapshot heads of every table, read straight from the warehouse, each with its
/// partitions read from the manifests it names.
fn snapshots(warehouse: &Path) -> Vec<(Value, Vec<Value>)> {
    let read = |path: &Path| -> Value { serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap() };
    let mut out = Vec::new();
    let tables = warehouse.join("_glaux/tables");
    for db in std::fs::read_dir(&tables).unwrap().flatten() {
        for table in std::fs::read_dir(db.path()).unwrap().flatten() {
            for version in std::fs::read_dir(table.path().join("versions")).into_iter().flatten().flatten() {
                let head = read(&version.path());
                let mut partitions = Vec::new();
                for manifest in head["manifests"].as_array().unwrap() {
                    let manifest = read(&table.path().join(manifest["path"].as_str().unwrap()));
                    partitions.extend(manifest["partitions"].as_array().unwrap().iter().cloned());
                }
                out.push((head, partitions));
            }
        }
    }
    out
}

/// The files the snapshots left in the warehouse name: data files and reject files.
fn named_by_snapshots(warehouse: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for (snapshot, partitions) in snapshots(warehouse) {
        for partition in &partitions {
            for file in partition["files"].as_array().unwrap() {
                files.insert(file["path"].as_str().unwrap().trim_start_matches('/').to_string());
            }
        }
        if let Some(rejects) = snapshot["properties"]["glaux.rejects"].as_array() {
            for file in rejects {
                files.insert(file["path"].as_str().unwrap().trim_start_matches('/').to_string());
            }
        }
    }
    files
}

/// A digest of `table`'s rows as of `version` (time travel), independent of row order and
/// file layout.
fn rows_at(p: &TestProject, table: &str, version: u64) -> String {
    let row = crate::support::row_text(p, table, "t.");
    csv(
        p,
        &format!(
            "SELECT count(*) AS n, to_hex(md5(string_agg(h, ',' ORDER BY h))) AS digest FROM \
             (SELECT to_hex(md5({row})) AS h FROM {table} FOR VERSION AS OF {version} AS t) AS hashed"
        ),
    )
}

/// The versions `glaux catalog history` lists.
fn versions(p: &TestProject, table: &str) -> Vec<u64> {
    let history: Vec<Value> = serde_json::from_str(&p.ok(&["catalog", "history", table, "--format", "json"])).unwrap();
    history.iter().map(|v| v["version"].as_u64().unwrap()).collect()
}

/// `glaux ARGS` killed with SIGKILL after `after`.
fn killed_after(p: &TestProject, args: &[&str], after: Duration) {
    let mut child =
        p.glaux().args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn time_travel_reads_every_kept_version_and_history_lists_them() {
    let p = TestProject::new();
    p.without_jobs();
    csv(&p, "CREATE DATABASE s");
    csv(&p, "CREATE TABLE s.t (n int, label string)");
    for n in 1..=3 {
        csv(&p, &format!("INSERT INTO s.t VALUES ({n}, 'first')"));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let between = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    std::thread::sleep(Duration::from_millis(1500));
    csv(&p, "INSERT INTO s.t VALUES (4, 'second'), (5, 'second')");

    assert_eq!(versions(&p, "s.t"), [4, 3, 2, 1]);
    let history: Vec<Value> = serde_json::from_str(&p.ok(&["catalog", "history", "s.t", "--format", "json"])).unwrap();
    assert_eq!(history[0]["operation"], "INSERT INTO");
    assert_eq!((history[0]["rows"].as_u64(), history[3]["rows"].as_u64()), (Some(5), Some(1)), "{history:?}");
    assert_eq!(history[0]["partitions_changed"], 1);
    for version in 1..=3 {
        assert_eq!(
            csv(&p, &format!("SELECT count(*) AS n FROM s.t FOR VERSION AS OF {version}")),
            format!("n\n{version}\n")
        );
    }
    assert_eq!(
        csv(&p, &format!("SELECT max(n) AS n FROM s.t FOR TIMESTAMP AS OF TIMESTAMP '{between} UTC'")),
        "n\n3\n",
        "the version current at that time"
    );
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.t FOR TIMESTAMP AS OF current_timestamp"), "n\n5\n");
    // Versions side by side, and in a join with the current table.
    assert_eq!(
        csv(
            &p,
            "SELECT count(*) AS n FROM s.t AS now LEFT JOIN s.t FOR VERSION AS OF 2 AS old ON now.n = old.n \
             WHERE old.n IS NULL"
        ),
        "n\n3\n"
    );
    for (sql, message) in [
        ("SELECT * FROM s.t FOR VERSION AS OF 9", "s.t has no version 9: it keeps versions 1 to 4"),
        (
            "SELECT * FROM s.t FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01 00:00:00 UTC'",
            "s.t has no version as old as 2001-01-01 00:00:00 UTC: its oldest kept version is 1",
        ),
        ("SELECT * FROM s.t FOR TIMESTAMP AS OF 'yesterday'", "FOR TIMESTAMP AS OF 'yesterday'"),
        ("SELECT * FROM s.nope FOR VERSION AS OF 1", "s.nope"),
    ] {
        let out = p.run(&["sql", "-c", sql]);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let error = stderr(&out);
        assert!(error.contains(message) && error.lines().count() == 1, "{sql}: {error}");
    }
}

#[test]
fn vacuum_leaves_exactly_the_files_kept_versions_name_after_killed_and_superseded_writers() {
    let p = TestProject::new();
    p.ok(&["run"]);
    // A campaign of killed and completed full refreshes: orphaned and superseded files.
    for delay in [300, 900, 1500, 2500, 4000] {
        killed_after(&p, &["job", "run", "--all", "--full"], Duration::from_millis(delay));
        p.ok(&["job", "run", "--all", "--full"]);
    }
    let warehouse = p.path().join("warehouse");
    // Whatever the kills hit, also what a writer killed before its commit, or mid-upload, leaves.
    let orphan = warehouse.join("customer_data/customer_features/customer_bucket=0/01a2000000000000000000000000dead");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("part-00000.parquet"), b"PAR1").unwrap();
    std::fs::write(orphan.join("part-00001.parquet#7"), b"PAR1").unwrap();
    let before = parquet_on_disk(&warehouse);
    assert!(before.len() > named_by_snapshots(&warehouse).len(), "the orphan is named by no snapshot");
    let uploads = upload_leftovers(&warehouse).into_iter().filter(|f| !f.contains("/_glaux/")).count();
    let tables =
        ["customer_data.customer_base_cleaned", "customer_data.customer_features", "customer_data.customer_base_raw"];
    let newest: Vec<(u64, String)> = tables
        .iter()
        .map(|t| {
            let v = versions(&p, t)[0];
            (v, rows_at(&p, t, v))
        })
        .collect();

    // Dry: nothing removed, and the same figures as the real run after it.
    let dry = p.ok(&["vacuum", "--retain", "0s", "--grace", "0s", "--dry-run", "--format", "json"]);
    assert_eq!(parquet_on_disk(&warehouse), before);
    let real = p.ok(&["vacuum", "--retain", "0s", "--grace", "0s", "--format", "json"]);
    assert_eq!(dry.replace("_to_remove", "_removed").replace("partitions_to_drop", "partitions_dropped"), real);
    let report: Vec<Value> = serde_json::from_str(&real).unwrap();
    let removed: u64 = report.iter().map(|r| r["files_removed"].as_u64().unwrap()).sum();
    // Half-written uploads count among the files removed, though they are no Parquet files.
    assert_eq!(removed as usize, before.len() - parquet_on_disk(&warehouse).len() + uploads, "{real}");

    let after = parquet_on_disk(&warehouse);
    assert_eq!(after, named_by_snapshots(&warehouse), "files on disk are the files kept snapshots name");
    let manifests_named: BTreeSet<String> = snapshots(&warehouse)
        .iter()
        .flat_map(|(head, _)| {
            head["manifests"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap().to_string())
        })
        .collect();
    let manifests_on_disk: BTreeSet<String> =
        glob::glob(&format!("{}/_glaux/tables/*/*/manifests/*", warehouse.display()))
            .unwrap()
            .map(|p| format!("manifests/{}", p.unwrap().file_name().unwrap().to_string_lossy()))
            .collect();
    assert_eq!(manifests_on_disk, manifests_named, "manifests on disk are the ones kept snapshots name");
    let leftovers: Vec<String> = upload_leftovers(&warehouse).into_iter().filter(|f| !f.contains("/_glaux/")).collect();
    assert!(leftovers.is_empty(), "half-written files of killed writers are removed: {leftovers:?}");
    assert!(!orphan.exists(), "the orphan's directory goes with its files");
    for (table, (version, digest)) in tables.iter().zip(&newest) {
        assert_eq!(versions(&p, table), [*version], "only the newest version of {table} is kept at 0s");
        assert_eq!(&rows_at(&p, table, *version), digest, "{table} reads as before");
    }
    // Idempotent: a second vacuum finds nothing.
    let again: Vec<Value> =
        serde_json::from_str(&p.ok(&["vacuum", "--retain", "0s", "--grace", "0s", "--format", "json"])).unwrap();
    assert!(again.iter().all(|r| r["files_removed"] == 0 && r["versions_removed"] == 0), "{again:?}");
    // The pipeline goes on after a vacuum.
    let rerun = p.ok(&["job", "run", "--all", "--full"]);
    assert!(rerun.contains("customer_feature_engineering: full (--full)"), "{rerun}");
}

#[test]
fn vacuum_keeps_the_retention_window_and_the_version_current_when_it_began() {
    let p = TestProject::new();
    p.without_jobs();
    csv(&p, "CREATE DATABASE s");
    csv(&p, "CREATE TABLE s.t (n int)");
    for n in 1..=3 {
        csv(&p, &format!("INSERT INTO s.t VALUES ({n})"));
    }
    std::thread::sleep(Duration::from_secs(4));
    let started = Instant::now();
    csv(&p, "INSERT INTO s.t VALUES (4)");
    csv(&p, "INSERT INTO s.t VALUES (5)");
    let digests: Vec<String> = (3..=5).map(|v| rows_at(&p, "s.t", v)).collect();
    assert!(started.elapsed() < Duration::from_secs(3), "the later commits fit the window");
    let out = p.ok(&["vacuum", "s.t", "--retain", "3s", "--grace", "0s", "--format", "csv"]);
    assert!(out.starts_with("table,partitions_dropped,versions_removed,versions_kept,oldest_version_kept,"), "{out}");
    assert!(out.contains("\ns.t,0,2,3,3,"), "versions 1 and 2 removed, 3 to 5 kept: {out}");
    assert_eq!(versions(&p, "s.t"), [5, 4, 3]);
    for (v, digest) in (3..=5).zip(&digests) {
        assert_eq!(&rows_at(&p, "s.t", v), digest, "version {v} reads as before the vacuum");
    }
    let gone = p.run(&["sql", "-c", "SELECT * FROM s.t FOR VERSION AS OF 1"]);
    assert!(stderr(&gone).contains("it keeps versions 3 to 5 (older ones are removed by vacuum)"), "{}", stderr(&gone));
    // The files only versions 1 and 2 named are gone; every kept version's files are there.
    let warehouse = p.path().join("warehouse");
    assert_eq!(parquet_on_disk(&warehouse), named_by_snapshots(&warehouse));
    let unknown = p.run(&["vacuum", "s.nope"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("s.nope is not in the registry"), "{}", stderr(&unknown));
}

#[test]
fn vacuum_beside_writers_and_killed_midway_loses_nothing() {
    let p = TestProject::new();
    p.without_jobs();
    csv(&p, "CREATE DATABASE s");
    csv(&p, "CREATE TABLE s.t (n int)");
    // A writer inserting while vacuums with a short grace run beside it.
    let mut writer = p.glaux();
    writer.arg("sql");
    for n in 1..=25 {
        writer.args(["-c".to_string(), format!("INSERT INTO s.t VALUES ({n})")]);
    }
    let mut running = [writer.stdout(Stdio::null()).spawn().unwrap()];
    let mut vacuums = 0;
    while running.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        p.ok(&["vacuum", "s.t", "--retain", "0s", "--grace", "5s"]);
        vacuums += 1;
    }
    for child in &mut running {
        assert!(child.wait().unwrap().success());
    }
    assert!(vacuums >= 2, "vacuums ran beside the writers");
    assert_eq!(csv(&p, "SELECT count(*) AS n, sum(n) AS s FROM s.t"), "n,s\n25,325\n", "every insert is there");

    // Many superseded versions, then vacuums killed midway: every kept version stays readable.
    for n in 26..=45 {
        csv(&p, &format!("INSERT INTO s.t VALUES ({n})"));
    }
    for delay in [20, 60, 150, 300] {
        killed_after(&p, &["vacuum", "--retain", "0s", "--grace", "0s"], Duration::from_millis(delay));
        let kept = versions(&p, "s.t");
        for pair in kept.windows(2) {
            assert_eq!(pair[0], pair[1] + 1, "the kept versions are a run: {kept:?}");
        }
        for version in kept {
            let rows = csv(&p, &format!("SELECT count(*) AS n FROM s.t FOR VERSION AS OF {version}"));
            assert!(rows.starts_with("n\n"), "version {version}: {rows}");
        }
    }
    p.ok(&["vacuum", "--retain", "0s", "--grace", "0s"]);
    assert_eq!(csv(&p, "SELECT count(*) AS n, sum(n) AS s FROM s.t"), "n,s\n45,1035\n");
    let warehouse = p.path().join("warehouse");
    assert_eq!(parquet_on_disk(&warehouse), named_by_snapshots(&warehouse));
}

#[test]
fn vacuum_on_s3_removes_old_versions_and_orphans_and_keeps_every_row() {
    let moto = crate::support::Moto::start();
    moto.create_bucket("vac");
    let env = moto.env();
    let p = TestProject::new();
    p.without_jobs();
    p.write("glaux.toml", "[warehouse]\nlocation = \"s3://vac/wh\"\n");
    let sql = |statement: &str| {
        let out = p
            .glaux()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["sql", "--format", "csv", "-c", statement])
            .output()
            .unwrap();
        assert!(out.status.success(), "{statement}: {}", stderr(&out));
        crate::support::stdout(&out)
    };
    sql("CREATE DATABASE s");
    sql("CREATE TABLE s.t (n int)");
    for n in 1..=4 {
        sql(&format!("INSERT INTO s.t VALUES ({n})"));
    }
    // What a writer killed before its commit leaves: a file no snapshot names.
    moto.python(
        "import boto3; boto3.client('s3').put_object(Bucket='vac', Key='wh/s/t/01a2000000000000000000000000dead/part-00000.parquet', Body=b'PAR1')",
    );
    let keys = || -> BTreeSet<String> {
        let listed = moto.python(
            "import boto3, json; print(json.dumps([o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='vac', Prefix='wh/')['Contents']]))",
        );
        serde_json::from_str::<Vec<String>>(&listed).unwrap().into_iter().collect()
    };
    let before = keys();
    let out = p
        .glaux()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["vacuum", "--retain", "0s", "--grace", "0s", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let t = report.iter().find(|r| r["table"] == "s.t").unwrap();
    assert_eq!(
        (t["versions_removed"].as_u64(), t["versions_kept"].as_u64(), t["files_removed"].as_u64()),
        (Some(3), Some(1), Some(7)),
        "an INSERT copies the partition's files into its commit's prefix: versions 1 to 3 left 1 + 2 + 3 \
         superseded files, and the orphan: {t}"
    );
    let after = keys();
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(t["manifests_removed"].as_u64(), Some(3), "each old version's one manifest: {t}");
    assert_eq!(
        gone.len(),
        3 + 3 + 7,
        "three old versions, their manifests, six superseded files and the orphan: {gone:?}"
    );
    assert!(gone.iter().filter(|k| k.contains("/manifests/")).count() == 3, "{gone:?}");
    assert!(gone.iter().any(|k| k.ends_with("dead/part-00000.parquet")), "{gone:?}");
    assert!(gone.iter().filter(|k| k.contains("/versions/")).count() == 3, "{gone:?}");
    assert_eq!(sql("SELECT count(*) AS n, sum(n) AS s FROM s.t"), "n,s\n4,10\n");
    assert_eq!(sql("SELECT count(*) AS n FROM s.t FOR VERSION AS OF 4"), "n\n4\n");
}

#[test]
fn retention_drops_old_partitions_in_one_commit_and_vacuum_removes_them_later() {
    let p = TestProject::new();
    p.without_jobs();
    csv(&p, "CREATE DATABASE s");
    csv(&p, "CREATE TABLE s.events (n int, day date) WITH (partitioned_by = ARRAY['day'])");
    let today = chrono::Utc::now().date_naive();
    let day = |ago: i64| (today - chrono::Duration::days(ago)).format("%Y-%m-%d").to_string();
    csv(
        &p,
        &format!(
            "INSERT INTO s.events VALUES (1, DATE '{}'), (2, DATE '{}'), (3, DATE '{}'), (4, DATE '{}')",
            day(0),
            day(10),
            day(40),
            day(400)
        ),
    );
    // Declared in the registry, as a Glue table parameter.
    let file = p.path().join("catalog/s/events.json");
    let mut definition: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    definition["Parameters"]["glaux.retention"] = Value::from("30d");
    std::fs::write(&file, serde_json::to_vec_pretty(&definition).unwrap()).unwrap();

    let dry = p.ok(&["vacuum", "s.events", "--dry-run", "--format", "json"]);
    let dry: Vec<Value> = serde_json::from_str(&dry).unwrap();
    assert_eq!(dry[0]["partitions_to_drop"], 2, "{dry:?}");
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.events"), "n\n4\n", "a dry run drops nothing");
    let out: Vec<Value> = serde_json::from_str(&p.ok(&["vacuum", "s.events", "--format", "json"])).unwrap();
    assert_eq!(out[0]["partitions_dropped"], 2, "{out:?}");
    assert_eq!(csv(&p, "SELECT n FROM s.events ORDER BY n"), "n\n1\n2\n");
    let history: Vec<Value> =
        serde_json::from_str(&p.ok(&["catalog", "history", "s.events", "--format", "json"])).unwrap();
    assert_eq!(
        (history[0]["operation"].as_str(), history[0]["partitions_changed"].as_u64()),
        (Some("retention"), Some(2))
    );
    // Within the vacuum's window the dropped partitions are still there for time travel.
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.events FOR VERSION AS OF 1"), "n\n4\n");
    let old_dir = p.path().join(format!("warehouse/s/events/day={}", day(400)));
    assert!(old_dir.exists());
    p.ok(&["vacuum", "s.events", "--retain", "0s", "--grace", "0s"]);
    let left = std::fs::read_dir(&old_dir).map(|d| d.flatten().count()).unwrap_or(0);
    assert_eq!(left, 0, "the dropped partition's files are removed once no kept version names them");
    let warehouse = p.path().join("warehouse");
    assert_eq!(parquet_on_disk(&warehouse), named_by_snapshots(&warehouse));

    // glaux.toml overrides the table's own setting; a bad entry names the file and the key.
    p.write("glaux.toml", "[retention]\n\"s.events\" = \"5d\"\n");
    let out: Vec<Value> = serde_json::from_str(&p.ok(&["vacuum", "s.events", "--format", "json"])).unwrap();
    assert_eq!(out[0]["partitions_dropped"], 1, "{out:?}");
    assert_eq!(csv(&p, "SELECT n FROM s.events"), "n\n1\n");
    for (entry, message) in [("\"s.events\" = \"soon\"", "\"soon\""), ("\"s.nope\" = \"5d\"", "s.nope")] {
        p.write("glaux.toml", &format!("[retention]\n{entry}\n"));
        let out = p.run(&["vacuum"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("glaux.toml: [retention]") && stderr(&out).contains(message), "{}", stderr(&out));
    }
    definition["Parameters"]["glaux.retention"] = Value::from("12h");
    std::fs::write(&file, serde_json::to_vec_pretty(&definition).unwrap()).unwrap();
    p.write("glaux.toml", "");
    let out = p.run(&["catalog", "validate"]);
    assert!(!out.status.success() && stderr(&out).contains("Parameters.glaux.retention"), "{}", stderr(&out));
}

/// A table `s.ev` partitioned by `day`, with one row today, 40 days ago and 400 days ago.
fn dated_table(sql: &dyn Fn(&str) -> String) {
    let today = chrono::Utc::now().date_naive();
    let day = |ago: i64| (today - chrono::Duration::days(ago)).format("%Y-%m-%d").to_string();
    sql("CREATE DATABASE s");
    sql("CREATE TABLE s.ev (n int, day date) WITH (partitioned_by = ARRAY['day'])");
    sql(&format!("INSERT INTO s.ev VALUES (1, DATE '{}'), (2, DATE '{}'), (3, DATE '{}')", day(0), day(40), day(400)));
}

#[test]
fn archive_moves_old_partitions_out_of_the_live_table_and_vacuum_keeps_the_copies() {
    let p = TestProject::new();
    p.without_jobs();
    dated_table(&|s| csv(&p, s));
    let dry: Vec<Value> =
        serde_json::from_str(&p.ok(&["archive", "s.ev", "--older-than", "30d", "--dry-run", "--format", "json"]))
            .unwrap();
    assert_eq!((dry[0]["partitions"].as_u64(), dry[0]["archive_id"].as_str()), (Some(2), None), "{dry:?}");
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.ev"), "n\n3\n");
    let done: Vec<Value> =
        serde_json::from_str(&p.ok(&["archive", "s.ev", "--older-than", "30d", "--format", "json"])).unwrap();
    assert_eq!((done[0]["partitions"].as_u64(), done[0]["rows"].as_u64()), (Some(2), Some(2)), "{done:?}");
    assert_eq!(done[0]["storage_class"], "LOCAL");
    assert_eq!(csv(&p, "SELECT n FROM s.ev"), "n\n1\n", "archived partitions left the live table");
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.ev FOR VERSION AS OF 1"), "n\n3\n", "time travel still sees them");
    let history: Vec<Value> = serde_json::from_str(&p.ok(&["catalog", "history", "s.ev", "--format", "json"])).unwrap();
    assert!(history[0]["operation"].as_str().unwrap().starts_with("archive "), "{history:?}");

    // An archive killed before its commit leaves copies no snapshot names: a vacuum removes them.
    let orphan = p.path().join("warehouse/_glaux/archive/s/ev/01a2000000000000000000000000dead/day=2001-01-01");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("part-00000.parquet"), b"PAR1").unwrap();
    p.ok(&["vacuum", "--retain", "0s", "--grace", "0s"]);
    assert!(!orphan.join("part-00000.parquet").exists(), "the orphaned copy is removed");
    let archives: Vec<Value> = serde_json::from_str(&p.ok(&[
        "sql",
        "--format",
        "json",
        "-c",
        "SELECT \"table\", \"partition\", location, files, \"rows\", storage_class FROM system.archives ORDER BY 2",
    ]))
    .unwrap();
    assert_eq!(archives.len(), 2, "{archives:?}");
    let mut archived_rows = Vec::new();
    for archive in &archives {
        assert_eq!((archive["table"].as_str(), archive["rows"].as_u64()), (Some("s.ev"), Some(1)), "{archive}");
        let dir = archive["location"].as_str().unwrap().strip_prefix("file://").unwrap().to_string();
        assert!(dir.contains("/warehouse/_glaux/archive/s/ev/"), "{dir}");
        let file = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap().path();
        archived_rows.push(csv(&p, &format!("SELECT n FROM '{}'", file.display())));
    }
    assert_eq!(archived_rows, ["n\n3\n", "n\n2\n"], "the copies outlive the vacuum, with their rows");
    let warehouse = p.path().join("warehouse");
    assert_eq!(
        parquet_on_disk(&warehouse),
        named_by_snapshots(&warehouse).into_iter().chain(archived_files(&warehouse)).collect()
    );
    // Archiving needs a date partition key.
    let out = p.run(&["archive", "customer_data.regions", "--older-than", "30d"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no partition key of type date"), "{}", stderr(&out));
}

/// The archived copies the newest snapshots list.
fn archived_files(warehouse: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for (snapshot, _) in snapshots(warehouse) {
        for archived in snapshot["properties"]["glaux.archives"].as_array().into_iter().flatten() {
            for file in archived["files"].as_array().unwrap() {
                files.insert(file["path"].as_str().unwrap().to_string());
            }
        }
    }
    files
}

#[test]
fn archive_on_s3_copies_into_the_storage_class_with_the_warehouse_encryption() {
    let moto = crate::support::Moto::start();
    moto.create_bucket("arch");
    let mut env = moto.env();
    env.push(("GLAUX_S3_SSE", "AES256".to_string()));
    let p = TestProject::new();
    p.without_jobs();
    p.write("glaux.toml", "[warehouse]\nlocation = \"s3://arch/wh\"\n");
    let run = |args: &[&str]| {
        let out = p.glaux().envs(env.iter().map(|(k, v)| (*k, v.as_str()))).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        crate::support::stdout(&out)
    };
    dated_table(&|s| run(&["sql", "--format", "csv", "-c", s]));
    let done: Vec<Value> = serde_json::from_str(&run(&[
        "archive",
        "s.ev",
        "--older-than",
        "30d",
        "--storage-class",
        "GLACIER",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(
        (done[0]["partitions"].as_u64(), done[0]["storage_class"].as_str()),
        (Some(2), Some("GLACIER")),
        "{done:?}"
    );
    run(&["vacuum", "--retain", "0s", "--grace", "0s"]);
    let heads = moto.python(
        r#"
import boto3, json
s3 = boto3.client("s3")
out = []
for o in s3.list_objects_v2(Bucket="arch", Prefix="wh/")["Contents"]:
    if o["Key"].endswith(".parquet"):
        h = s3.head_object(Bucket="arch", Key=o["Key"])
        out.append([o["Key"], h.get("StorageClass", "STANDARD"), h.get("ServerSideEncryption")])
print(json.dumps(out))
"#,
    );
    let heads: Vec<(String, String, Option<String>)> = serde_json::from_str(&heads).unwrap();
    let archived: Vec<_> = heads.iter().filter(|(k, _, _)| k.starts_with("wh/_glaux/archive/s/ev/")).collect();
    assert_eq!(archived.len(), 2, "{heads:?}");
    for (key, class, sse) in &archived {
        assert_eq!((class.as_str(), sse.as_deref()), ("GLACIER", Some("AES256")), "{key}");
    }
    let live: Vec<_> = heads.iter().filter(|(k, _, _)| k.starts_with("wh/s/ev/")).collect();
    assert_eq!(live.len(), 1, "the vacuum removed the archived originals, kept today's: {heads:?}");
    assert_eq!(live[0].1, "STANDARD");
    let listed =
        run(&["sql", "--format", "csv", "-c", "SELECT storage_class, count(*) AS n FROM system.archives GROUP BY 1"]);
    assert_eq!(listed, "storage_class,n\nGLACIER,2\n");
    assert_eq!(run(&["sql", "--format", "csv", "-c", "SELECT n FROM s.ev"]), "n\n1\n");
}

#[test]
fn restore_makes_an_archived_range_readable_notifies_once_and_expires() {
    let p = TestProject::new();
    p.without_jobs();
    dated_table(&|s| csv(&p, s));
    let before = csv(&p, "SELECT n, day FROM s.ev WHERE n > 1 ORDER BY n");
    p.ok(&["archive", "s.ev", "--older-than", "30d"]);
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Duration::days(100), today - chrono::Duration::days(30));
    let notified = p.dir.path().join("notified.txt");
    let notify = format!("echo $GLAUX_RESTORED_TABLE $GLAUX_ROWS $GLAUX_FROM >> '{}'", notified.display());
    let out = p.run(&[
        "restore",
        "s.ev",
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--notify",
        &notify,
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("readable now as s.ev__restored"), "{}", stderr(&out));
    let shown: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((shown[0]["state"].as_str(), shown[0]["rows"].as_u64()), (Some("ready"), Some(1)), "{shown:?}");
    // Only the range: the 40-day-old partition, not the 400-day-old one.
    assert_eq!(
        csv(&p, "SELECT n, day FROM s.ev__restored ORDER BY n"),
        before.lines().take(2).collect::<Vec<_>>().join("\n") + "\n"
    );
    p.ok(&["restore", "status"]);
    p.ok(&["vacuum", "--retain", "0s", "--grace", "0s"]);
    assert_eq!(std::fs::read_to_string(&notified).unwrap(), format!("s.ev__restored 1 {from}\n"), "notified once");
    // The command stays in the project that asked; the warehouse only says there is one.
    let records = p.path().join("warehouse/_glaux/restores");
    let request = std::fs::read_dir(&records).unwrap().flatten().next().unwrap().path().join("request.json");
    let request: Value = serde_json::from_slice(&std::fs::read(request).unwrap()).unwrap();
    assert_eq!(request["notify"], true);
    assert!(!request.to_string().contains("echo"), "{request}");
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.ev__restored"), "n\n1\n", "a vacuum keeps what a restore reads");

    // A week later the restore has lapsed: the checker records it, and the range is gone again.
    let wh = glaux::warehouse::Warehouse::open_local(&p.path().join("warehouse")).unwrap();
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (restores, ready) = runtime.block_on(glaux::lifecycle::restore::check(&wh, None, later)).unwrap();
    assert!(ready.is_empty());
    assert_eq!(restores[0].state(), "expired");
    assert_eq!(csv(&p, "SELECT state, done FROM system.restores"), "state,done\nexpired,true\n");
    assert_eq!(csv(&p, "SELECT count(*) AS n FROM s.ev__restored"), "n\n0\n");

    for (args, message) in [
        (
            vec!["--from", "2030-01-01", "--to", "2030-01-31"],
            "no archived partition of s.ev falls between 2030-01-01 and 2030-01-31",
        ),
        (vec!["--from", "2030-01-31", "--to", "2030-01-01"], "--to 2030-01-01 is before --from 2030-01-31"),
        (vec!["--from", "2020-01-01", "--to", "2030-01-01", "--expires", "12h"], "whole days"),
    ] {
        let out = p.run(&[&["restore", "s.ev"][..], &args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn restore_on_s3_asks_glacier_for_the_copies_before_reading_them() {
    let moto = crate::support::Moto::start();
    moto.create_bucket("rest");
    let env = moto.env();
    let p = TestProject::new();
    p.without_jobs();
    p.write("glaux.toml", "[warehouse]\nlocation = \"s3://rest/wh\"\n");
    let run = |args: &[&str]| {
        let out = p.glaux().envs(env.iter().map(|(k, v)| (*k, v.as_str()))).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        crate::support::stdout(&out)
    };
    dated_table(&|s| run(&["sql", "--format", "csv", "-c", s]));
    run(&["archive", "s.ev", "--older-than", "30d", "--storage-class", "DEEP_ARCHIVE"]);
    let restore_state = || {
        moto.python(
            r#"
import boto3, json
s3 = boto3.client("s3")
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="rest", Prefix="wh/_glaux/archive/")["Contents"]]
print(json.dumps(sorted([s3.head_object(Bucket="rest", Key=k).get("Restore") for k in keys], key=str)))
"#,
        )
    };
    assert_eq!(restore_state().trim(), "[null, null]", "nothing restored before asking");
    let out =
        run(&["restore", "s.ev", "--from", "2000-01-01", "--to", "2100-01-01", "--expires", "3d", "--format", "csv"]);
    assert!(out.lines().nth(1).unwrap().contains(",s.ev,2000-01-01,2100-01-01,"), "{out}");
    let state: Vec<Option<String>> = serde_json::from_str(&restore_state()).unwrap();
    assert!(
        state.iter().all(|s| s.as_deref().is_some_and(|s| s.contains("ongoing-request"))),
        "RestoreObject was asked for every copy: {state:?}"
    );
    run(&["restore", "status"]);
    assert_eq!(run(&["sql", "--format", "csv", "-c", "SELECT state FROM system.restores"]), "state\nready\n");
    assert_eq!(run(&["sql", "--format", "csv", "-c", "SELECT n FROM s.ev__restored ORDER BY n"]), "n\n2\n3\n");
    assert_eq!(run(&["sql", "--format", "csv", "-c", "SELECT n FROM s.ev"]), "n\n1\n");
}

#[test]
fn lifecycle_rules_from_the_registry_are_set_beside_the_buckets_own() {
    let moto = crate::support::Moto::start();
    moto.create_bucket("life");
    // A rule someone else owns, which glaux must keep.
    moto.python(
        r#"
import boto3
boto3.client("s3").put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [
    {"ID": "team:logs-to-ia", "Status": "Enabled", "Filter": {"Prefix": "exports/"},
     "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]}]})
"#,
    );
    let env = moto.env();
    let p = TestProject::new();
    p.without_jobs();
    p.write(
        "glaux.toml",
        "[warehouse]\nlocation = \"s3://life/wh\"\n\n[retention]\n\"aurora_logs.mysql_slow_log\" = \"90d\"\n",
    );
    let run = |args: &[&str]| {
        let out = p.glaux().envs(env.iter().map(|(k, v)| (*k, v.as_str()))).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        (crate::support::stdout(&out), stderr(&out))
    };
    let (plan, note) = run(&["lifecycle", "plan", "--format", "csv"]);
    assert!(plan.starts_with("rule,prefix,action,owner,change\n"), "{plan}");
    assert!(plan.contains("team:logs-to-ia,exports/,to STANDARD_IA after 30 days,other,kept (not glaux's)"), "{plan}");
    assert!(
        plan.contains("glaux:abort-incomplete-uploads,wh/,abort incomplete multipart uploads after 2 days,glaux,added"),
        "{plan}"
    );
    assert!(
        plan.contains("glaux:expire-archive:aurora_logs.mysql_slow_log,wh/_glaux/archive/aurora_logs/mysql_slow_log/,expire 90 days after creation,glaux,added"),
        "{plan}"
    );
    assert!(note.contains("`glaux lifecycle apply` makes these changes"), "{note}");
    let (applied, _) = run(&["lifecycle", "apply"]);
    assert_eq!(applied, "bucket life: 2 glaux rule(s) set, 1 other rule(s) kept\n");
    let rules = moto.python(
        "import boto3, json; print(json.dumps(sorted(r['ID'] for r in boto3.client('s3').get_bucket_lifecycle_configuration(Bucket='life')['Rules'])))",
    );
    assert_eq!(
        rules.trim(),
        r#"["glaux:abort-incomplete-uploads", "glaux:expire-archive:aurora_logs.mysql_slow_log", "team:logs-to-ia"]"#
    );
    let (again, _) = run(&["lifecycle", "apply"]);
    assert_eq!(again, "bucket life: glaux's rules are in place; nothing to change\n");
    // A retention removed from the registry removes its rule, and only glaux's.
    p.write("glaux.toml", "[warehouse]\nlocation = \"s3://life/wh\"\n");
    let (plan, _) = run(&["lifecycle", "plan", "--format", "csv"]);
    assert!(
        plan.contains("glaux:expire-archive:aurora_logs.mysql_slow_log,") && plan.contains(",replaced or removed\n"),
        "{plan}"
    );
    run(&["lifecycle", "apply"]);
    let rules = moto.python(
        "import boto3, json; print(json.dumps(sorted(r['ID'] for r in boto3.client('s3').get_bucket_lifecycle_configuration(Bucket='life')['Rules'])))",
    );
    assert_eq!(rules.trim(), r#"["glaux:abort-incomplete-uploads", "team:logs-to-ia"]"#);
    // On a local warehouse there are no lifecycle rules to set.
    let local = TestProject::new();
    let out = local.run(&["lifecycle", "plan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("S3 lifecycle rules apply to an s3:// warehouse"), "{}", stderr(&out));
}

#[test]
fn landed_log_copies_older_than_their_retention_are_removed_by_day() {
    let p = TestProject::new();
    p.without_jobs();
    p.ok(&["ingest", "aurora"]);
    let landed = p.path().join("warehouse/aurora-logs");
    let today: Vec<String> = files_below(&landed);
    assert!(!today.is_empty(), "the ingest landed raw copies");
    let old = landed.join("demo-mysql/2020-01-01/slow");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::copy(&today[0], old.join("mysql-slow.log.0.zst")).unwrap();
    // Kept unless a retention is set.
    p.ok(&["vacuum", "--grace", "0s"]);
    assert!(old.join("mysql-slow.log.0.zst").exists());
    let config = std::fs::read_to_string(p.path().join("glaux.toml")).unwrap();
    p.write("glaux.toml", &format!("{config}\n[aurora]\nlanded_retention = \"30d\"\n"));
    let out: Vec<Value> = serde_json::from_str(&p.ok(&["vacuum", "--grace", "0s", "--format", "json"])).unwrap();
    let row = out.iter().find(|r| r["table"] == "aurora-logs").unwrap();
    assert_eq!(
        (row["files_removed"].as_u64(), row["files_kept"].as_u64()),
        (Some(1), Some(today.len() as u64)),
        "{row}"
    );
    assert!(!landed.join("demo-mysql/2020-01-01").exists(), "the old day's copies and directories are gone");
    assert_eq!(files_below(&landed), today, "today's copies are kept");
    p.write("glaux.toml", &format!("{config}\n[aurora]\nlanded_retention = \"soon\"\n"));
    let bad = p.run(&["vacuum"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("aurora.landed_retention"), "{}", stderr(&bad));
}

/// The files below `dir`, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out.sort();
    out
}
