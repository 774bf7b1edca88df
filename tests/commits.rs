//! The commit protocol's contract, written once and run against every backend: the local
//! filesystem and S3 (moto's server on loopback, which enforces `If-None-Match`). Then real
//! processes racing to commit to one table on each backend.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::Once;

use chrono::Utc;
use glaux::catalog::manifest::{COMPACT_FANOUT, MAX_PER_MANIFEST};
use glaux::catalog::state::{Change, CommitError, DataFile, NewPartition, TableLog, Transaction};
use glaux::warehouse::Warehouse;
use object_store::ObjectStoreExt;

use crate::support::{Moto, TestProject, stderr};

fn partition(day: &str, rows: u64) -> NewPartition {
    NewPartition {
        values: vec![day.to_string()],
        location: format!("db/t/day={day}/c/"),
        files: vec![DataFile { path: format!("db/t/day={day}/c/part-00000.parquet"), size: 10, rows }],
    }
}

fn txn(changes: Vec<Change>) -> Transaction {
    let mut t = Transaction::new("test", Utc::now());
    t.changes = changes;
    t
}

fn log(warehouse: &Warehouse, table: &str) -> TableLog {
    TableLog::new(warehouse, "db", table, vec!["day".into()])
}

/// Every case of the contract, on one warehouse.
async fn conformance(warehouse: &Warehouse) {
    commits_are_versioned_and_old_versions_stay_readable(&log(warehouse, "versions")).await;
    add_and_remove_check_existence(&log(warehouse, "rules")).await;
    overlapping_writers_conflict_and_disjoint_writers_rebase(&log(warehouse, "conflicts")).await;
    concurrent_commits_each_land_exactly_once(&log(warehouse, "race")).await;
    a_stale_or_missing_hint_never_hides_a_commit(warehouse, &log(warehouse, "hint")).await;
    a_commit_rewrites_only_the_manifests_it_touches(&log(warehouse, "manifests")).await;
    a_format_1_snapshot_reads_and_moves_into_manifests(warehouse, &log(warehouse, "format1")).await;
    a_new_day_across_every_instance_writes_only_new_manifests(warehouse).await;
    days_of_every_instance_are_compacted_into_tiles(warehouse).await;
}

/// After [`COMPACT_FANOUT`] days, each in its own manifest across every instance, a commit
/// compacts them into tiles of a few instances over all those days: a filter on one instance
/// then reads one manifest of theirs instead of one a day, and changes to a tile keep it one.
async fn days_of_every_instance_are_compacted_into_tiles(warehouse: &Warehouse) {
    const INSTANCES: usize = 300;
    let log = TableLog::new(warehouse, "db", "tiles", vec!["instance".into(), "day".into()]);
    let add = |instance: usize, day: usize, rows: u64| {
        let values = vec![format!("db-{instance:04}"), format!("2026-{:02}-{:02}", 1 + day / 28, 1 + day % 28)];
        let location = format!("db/tiles/{}/c/", log.partition_key(&values));
        let files = vec![DataFile { path: format!("{location}part-00000.parquet"), size: 10, rows }];
        NewPartition { values, location, files }
    };
    let days = COMPACT_FANOUT + 8;
    for day in 0..days {
        log.commit(&txn((0..INSTANCES).map(|i| Change::Add(add(i, day, 1))).collect())).await.unwrap();
    }
    let head = log.head().await.unwrap().unwrap();
    let tiles = head.manifests.iter().filter(|m| m.clustered.is_some()).count();
    assert_eq!(tiles, (COMPACT_FANOUT * INSTANCES).div_ceil(MAX_PER_MANIFEST), "the first days are tiles");
    assert_eq!(head.manifests.len() - tiles, 8, "the newest days wait for the next compaction");
    let holding = |head: &glaux::catalog::state::Snapshot, instance: &str| {
        let within = |m: &&glaux::catalog::manifest::ManifestRef| {
            m.bounds[0].text_min.as_str() <= instance && instance <= m.bounds[0].text_max.as_str()
        };
        head.manifests.iter().filter(within).count()
    };
    assert!(holding(&head, "db-0150") <= 2 + 8, "one instance: {} manifests", holding(&head, "db-0150"));
    let state = log.latest().await.unwrap().unwrap();
    assert_eq!((state.partitions.len(), head.rows()), (days * INSTANCES, (days * INSTANCES) as u64));

    // Appending to an old partition rewrites its tile as a tile.
    log.commit(&txn(vec![Change::Replace(add(150, 3, 9))])).await.unwrap();
    let after = log.head().await.unwrap().unwrap();
    assert_eq!(after.manifests.iter().filter(|m| m.clustered.is_some()).count(), tiles);
    assert_eq!(log.partition(&after, &add(150, 3, 0).values).await.unwrap().unwrap().rows(), 9);
    // Dropping the oldest day from every instance (retention) keeps the tiles narrow.
    log.commit(&txn((0..INSTANCES).map(|i| Change::Remove(add(i, 0, 0).values)).collect())).await.unwrap();
    let dropped = log.head().await.unwrap().unwrap();
    assert!(holding(&dropped, "db-0150") <= 2 + 8, "after retention: {}", holding(&dropped, "db-0150"));
    assert_eq!(dropped.partition_count() as usize, (days - 1) * INSTANCES);
    assert_eq!(dropped.rows(), ((days - 1) * INSTANCES + 8) as u64);
}

/// Aurora log tables grow by a day across every instance: such a commit adds manifests and
/// leaves every earlier one as it was; appending to one of the day's partitions rewrites only
/// that day's manifest.
async fn a_new_day_across_every_instance_writes_only_new_manifests(warehouse: &Warehouse) {
    let log = TableLog::new(warehouse, "db", "daily", vec!["instance".into(), "day".into()]);
    let day = |day: u32| {
        let changes = (0..1000).map(|i| {
            let values = vec![format!("db-{i:04}"), format!("2026-11-{day:02}")];
            let location = format!("db/daily/{}/c/", log.partition_key(&values));
            Change::Add(NewPartition { values, location, files: vec![] })
        });
        txn(changes.collect())
    };
    for d in 1..=3 {
        log.commit(&day(d)).await.unwrap();
    }
    let before = manifest_paths(&log).await;
    assert_eq!(before.len(), 3, "a manifest a day");
    log.commit(&day(4)).await.unwrap();
    let after = manifest_paths(&log).await;
    assert!(before.iter().all(|p| after.contains(p)), "earlier days' manifests untouched");
    assert_eq!(after.len(), 4);

    let values = vec!["db-0007".to_string(), "2026-11-04".to_string()];
    let location = format!("db/daily/{}/d/", log.partition_key(&values));
    let file = DataFile { path: format!("{location}part-00000.parquet"), size: 10, rows: 3 };
    let mut append = Transaction::new("append", Utc::now());
    let head = log.head().await.unwrap().unwrap();
    log.append_partition(&mut append, Some(&head), values.clone(), location, vec![file]).await.unwrap();
    log.commit(&append).await.unwrap();
    let appended = manifest_paths(&log).await;
    assert_eq!(&appended[..3], &before[..], "only the day's manifest is rewritten");
    assert_ne!(appended[3], after[3]);
    let head = log.head().await.unwrap().unwrap();
    assert_eq!((head.partition_count(), head.rows()), (4000, 3));
    assert_eq!(log.partition(&head, &values).await.unwrap().unwrap().rows(), 3);
}

/// The manifest paths of the newest head.
async fn manifest_paths(log: &TableLog) -> Vec<String> {
    log.head().await.unwrap().unwrap().manifests.iter().map(|m| m.path.clone()).collect()
}

async fn a_commit_rewrites_only_the_manifests_it_touches(log: &TableLog) {
    let days = |range: std::ops::Range<u32>| range.map(|d| Change::Add(partition(&format!("{d:05}"), 1))).collect();
    log.commit(&txn(days(0..3000))).await.unwrap();
    let before = manifest_paths(log).await;
    assert_eq!(before.len(), 3, "3,000 partitions in manifests of at most {MAX_PER_MANIFEST}");

    log.commit(&txn(vec![Change::Replace(partition("01500", 9))])).await.unwrap();
    let after = manifest_paths(log).await;
    let new: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    assert_eq!((after.len(), new.len()), (3, 1), "one partition changed, one manifest rewritten: {after:?}");
    let head = log.head().await.unwrap().unwrap();
    assert_eq!((head.partition_count(), head.rows()), (3000, 3008));
    assert_eq!(log.partition(&head, &["01500".into()]).await.unwrap().unwrap().rows(), 9);
    assert!(log.partition(&head, &["99999".into()]).await.unwrap().is_none());

    // Emptying most of the middle manifest merges what is left into the newest one.
    let removed: Vec<Change> =
        (1000..1991).filter(|d| *d != 1500).map(|d| Change::Remove(vec![format!("{d:05}")])).collect();
    log.commit(&txn(removed)).await.unwrap();
    let merged = log.head().await.unwrap().unwrap();
    assert_eq!(merged.manifests.len(), 2, "a small run joins the next manifest");
    let state = log.latest().await.unwrap().unwrap();
    assert_eq!(state.partitions.len(), 2010);
    assert_eq!(state.partitions["day=01500"].rows(), 9);
    assert!(!state.partitions.contains_key("day=01000"));
    let keys: Vec<&String> = state.partitions.keys().collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));

    // Random changes over thousands of keys, checked against a plain map after every commit.
    let mut model: std::collections::BTreeMap<String, u64> =
        state.partitions.iter().map(|(k, p)| (k.clone(), p.rows())).collect();
    let mut seed = 0x5eed_u64;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    for round in 0..6 {
        let mut changes = Vec::new();
        let mut touched = BTreeSet::new();
        for _ in 0..400 {
            let day = format!("{:05}", next(6000));
            if !touched.insert(day.clone()) {
                continue;
            }
            let key = format!("day={day}");
            let rows = 100 + round;
            match (model.contains_key(&key), next(3)) {
                (true, 0) => {
                    changes.push(Change::Remove(vec![day]));
                    model.remove(&key);
                }
                (true, _) => {
                    changes.push(Change::Replace(partition(&day, rows)));
                    model.insert(key, rows);
                }
                (false, _) => {
                    changes.push(Change::Add(partition(&day, rows)));
                    model.insert(key, rows);
                }
            }
        }
        log.commit(&txn(changes)).await.unwrap();
        let state = log.latest().await.unwrap().unwrap();
        let got: std::collections::BTreeMap<String, u64> =
            state.partitions.iter().map(|(k, p)| (k.clone(), p.rows())).collect();
        assert_eq!(got, model, "round {round}");
        let head = log.head().await.unwrap().unwrap();
        assert!(head.manifests.iter().all(|m| m.partitions as usize <= MAX_PER_MANIFEST));
    }
}

/// A table committed before manifests (one JSON object with every partition) stays readable,
/// and its next commit moves the partitions into manifests.
async fn a_format_1_snapshot_reads_and_moves_into_manifests(warehouse: &Warehouse, log: &TableLog) {
    let old = serde_json::json!({
        "format": 1, "table": "db.format1", "version": 1, "commit_id": "c1",
        "committed_at": "2026-11-01T00:00:00Z", "operation": "ingest csv",
        "partitions": {"day=1": {"values": ["1"], "location": "db/t/day=1/c/",
            "files": [{"path": "db/t/day=1/c/part-00000.parquet", "size": 10, "rows": 4}], "version": 1}},
        "properties": {"bookmark": 7}, "changed_partitions": ["day=1"], "changed_properties": []
    });
    let path = warehouse.state_path("tables/db/format1/versions/00000000000000000001.json");
    warehouse.store().put(&path, serde_json::to_vec(&old).unwrap().into()).await.unwrap();
    let head = log.head().await.unwrap().unwrap();
    assert_eq!((head.format, head.partition_count(), head.rows()), (1, 1, 4));
    assert_eq!(log.partition(&head, &["1".into()]).await.unwrap().unwrap().rows(), 4);
    log.commit(&txn(vec![Change::Add(partition("2", 5))])).await.unwrap();
    let head = log.head().await.unwrap().unwrap();
    assert_eq!((head.format, head.manifests.len(), head.rows()), (2, 1, 9));
    assert_eq!(head.properties["bookmark"], 7);
    assert_eq!(log.read_version(1).await.unwrap().unwrap().partitions.len(), 1);
}

async fn commits_are_versioned_and_old_versions_stay_readable(log: &TableLog) {
    assert!(log.latest().await.unwrap().is_none());
    let first = log.commit(&txn(vec![Change::Add(partition("1", 5)), Change::Add(partition("2", 7))])).await.unwrap();
    assert_eq!(first.version, 1);
    let mut second = txn(vec![Change::Replace(partition("2", 70)), Change::Remove(vec!["1".into()])]);
    second.properties.insert("bookmark".into(), serde_json::json!({"offset": 42}));
    log.commit(&second).await.unwrap();

    let latest = log.latest().await.unwrap().unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(latest.partitions.keys().collect::<Vec<_>>(), ["day=2"]);
    assert_eq!(latest.partitions["day=2"].rows(), 70);
    assert_eq!(latest.properties["bookmark"]["offset"], 42);
    let v1 = log.read_version(1).await.unwrap().unwrap();
    assert_eq!(v1.partitions.len(), 2, "time travel: version 1 is unchanged");
}

async fn add_and_remove_check_existence(log: &TableLog) {
    log.commit(&txn(vec![Change::Add(partition("1", 1))])).await.unwrap();
    let err = log.commit(&txn(vec![Change::Add(partition("1", 1))])).await.unwrap_err();
    assert!(matches!(err, CommitError::PartitionExists { .. }), "{err}");
    let err = log.commit(&txn(vec![Change::Remove(vec!["9".into()])])).await.unwrap_err();
    assert!(matches!(err, CommitError::PartitionMissing { .. }), "{err}");
    let err = log.commit(&txn(vec![Change::Remove(vec![])])).await.unwrap_err();
    assert!(matches!(err, CommitError::BadPartition { .. }), "{err}");
    // A failed commit publishes nothing.
    assert_eq!(log.latest().await.unwrap().unwrap().version, 1);
}

async fn overlapping_writers_conflict_and_disjoint_writers_rebase(log: &TableLog) {
    log.commit(&txn(vec![Change::Add(partition("1", 1))])).await.unwrap();
    // Two writers both read version 1.
    let mut a = txn(vec![Change::Replace(partition("1", 2))]);
    a.read_version = Some(1);
    let mut b = txn(vec![Change::Replace(partition("1", 3))]);
    b.read_version = Some(1);
    let mut c = txn(vec![Change::Add(partition("2", 4))]);
    c.read_version = Some(1);
    assert_eq!(log.commit(&a).await.unwrap().version, 2);
    let err = log.commit(&b).await.unwrap_err();
    match &err {
        CommitError::Conflict { winner_version, what, .. } => {
            assert_eq!(*winner_version, 2);
            assert_eq!(what, "partition day=1");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("re-run"), "{err}");
    // Disjoint: rebased on top of a.
    assert_eq!(log.commit(&c).await.unwrap().version, 3);
    let state = log.latest().await.unwrap().unwrap();
    assert_eq!(state.partitions["day=1"].rows(), 2);
    assert_eq!(state.partitions["day=2"].rows(), 4);
}

async fn concurrent_commits_each_land_exactly_once(log: &TableLog) {
    let writers = 8;
    let handles: Vec<_> = (0..writers)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.commit(&txn(vec![Change::Add(partition(&i.to_string(), i))])).await })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for handle in handles {
        versions.insert(handle.await.unwrap().unwrap().version);
    }
    assert_eq!(versions, (1..=writers).collect::<BTreeSet<_>>(), "each commit got its own version");
    let latest = log.latest().await.unwrap().unwrap();
    assert_eq!(latest.version, writers);
    assert_eq!(latest.partitions.len(), writers as usize);
}

async fn a_stale_or_missing_hint_never_hides_a_commit(warehouse: &Warehouse, log: &TableLog) {
    for day in ["1", "2", "3"] {
        log.commit(&txn(vec![Change::Add(partition(day, 1))])).await.unwrap();
    }
    let hint = warehouse.state_path("tables/db/hint/_latest");
    warehouse.store().put(&hint, "1".into()).await.unwrap();
    assert_eq!(log.latest().await.unwrap().unwrap().version, 3, "stale hint");
    warehouse.store().delete(&hint).await.unwrap();
    assert_eq!(log.latest().await.unwrap().unwrap().version, 3, "missing hint");
    warehouse.store().put(&hint, "garbage".into()).await.unwrap();
    assert_eq!(log.latest().await.unwrap().unwrap().version, 3, "garbled hint");
}

#[tokio::test]
async fn commit_protocol_on_the_local_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&Warehouse::open_local(dir.path()).unwrap()).await;
}

/// The AWS chain reads credentials from this process's environment.
pub(crate) fn dummy_aws_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        // SAFETY: set once, before any S3 client in this process reads them; every test that
        // talks to moto uses the same dummy values.
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    });
}

#[tokio::test]
async fn commit_protocol_on_s3() {
    dummy_aws_credentials();
    let moto = Moto::start();
    moto.create_bucket("conformance");
    let warehouse = Warehouse::open(&moto.warehouse_settings("s3://conformance/wh")).unwrap();
    conformance(&warehouse).await;
}

/// Four real glaux processes load four different files into one table at the same moment.
/// Each either commits or fails with a conflict naming the winner; the table ends with exactly
/// the rows of the winners, once each.
/// `writers` processes racing to load one CSV file each into `customer_data.regions`: every
/// winner's rows land once, every loser fails naming the conflict and lands nothing. Returns
/// the rows the winners added and how many won (`trial` keeps each trial's region codes apart).
fn processes_race(
    project: &TestProject,
    env: &[(&str, String)],
    warehouse: Option<&str>,
    trial: usize,
    writers: usize,
) -> (usize, usize) {
    let files: Vec<_> = (0..writers)
        .map(|i| {
            let rows: String = (0..=i).map(|r| format!("T{trial}W{i}R{r},name {r},XX,0.{r}\n")).collect();
            project.write(&format!("race{trial}-{i}.csv"), &format!("region_code,region_name,country,vat_rate\n{rows}"))
        })
        .collect();
    let glaux = || {
        let mut command = project.glaux();
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        if let Some(warehouse) = warehouse {
            command.args(["--warehouse", warehouse]);
        }
        command
    };
    let children: Vec<_> = files
        .iter()
        .map(|file| {
            let mut command = glaux();
            command.args(["ingest", "csv", file.to_str().unwrap(), "--table", "customer_data.regions"]);
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut added = 0;
    let mut winners = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        if output.status.success() {
            winners.push(i);
            added += i + 1;
        } else {
            let err = stderr(&output);
            assert!(err.contains("conflicts with commit"), "a loser must name the conflict: {err}");
            assert_eq!(output.status.code(), Some(1));
        }
    }
    assert!(!winners.is_empty(), "trial {trial}: no writer won");
    let sql = format!(
        "SELECT count(*) AS n, count(DISTINCT region_code) AS d FROM customer_data.regions \
         WHERE region_code LIKE 'T{trial}W%'"
    );
    let out = glaux().args(["sql", "--format", "csv", "-c", &sql]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("n,d\n{added},{added}\n"),
        "trial {trial}: winners {winners:?} of {writers}: {}",
        stderr(&out)
    );
    (added, winners.len())
}

/// Races of two and four writers, `GLAUX_FAULT_TRIALS` of them (8 by default); the table then
/// holds exactly the winners' rows.
fn races(project: &TestProject, env: &[(&str, String)], warehouse: Option<&str>) {
    let trials = std::env::var("GLAUX_FAULT_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let (mut total, mut won, mut raced) = (0, 0, 0);
    for trial in 0..trials {
        let writers = if trial % 2 == 0 { 2 } else { 4 };
        let (added, winners) = processes_race(project, env, warehouse, trial, writers);
        total += added;
        won += winners;
        raced += writers;
    }
    eprintln!("{trials} races on {}: {won} of {raced} writers committed", warehouse.unwrap_or("the local filesystem"));
    let mut count = project.glaux();
    count.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(warehouse) = warehouse {
        count.args(["--warehouse", warehouse]);
    }
    let out = count
        .args(["sql", "--format", "csv", "-c", "SELECT count(*) AS n FROM customer_data.regions"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("n\n{total}\n"), "{}", stderr(&out));
}

#[test]
fn racing_processes_on_the_local_filesystem() {
    let project = TestProject::new();
    races(&project, &[], None);
}

#[test]
fn racing_processes_on_s3() {
    let moto = Moto::start();
    moto.create_bucket("race");
    let project = TestProject::new();
    races(&project, &moto.env(), Some("s3://race/wh"));
}

/// Planning reads the snapshot head and only the manifests whose key bounds the query's
/// partition filter can match: with every other manifest deleted, the filtered query still
/// answers, and a query needing them fails naming the missing manifest.
#[tokio::test]
async fn planning_reads_only_the_manifests_a_filter_can_match() {
    use glaux::catalog::table::{Column, parquet_table_input};
    use glaux::catalog::{Catalog, Registry, write_definition};
    use glaux::engine::{Engine, EngineOptions};

    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open_local(&dir.path().join("warehouse")).unwrap();
    let column = Column::new;
    let keys = vec![column("instance", "string"), column("log_date", "date")];
    let input = parquet_table_input("t", vec![column("x", "bigint")], keys, "aurora/t/");
    write_definition(&dir.path().join("catalog"), "aurora", &input).unwrap();
    let registry = Registry::load(&dir.path().join("catalog"), warehouse.url()).unwrap();
    let def = registry.table("aurora", "t").unwrap().clone();
    let schema = def.file_schema.clone();
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![std::sync::Arc::new(arrow::array::Int64Array::from(vec![1]))],
    )
    .unwrap();
    let mut sink =
        glaux::catalog::files::ParquetSink::create(&warehouse, "aurora/t/one/part-00000.parquet", schema).unwrap();
    sink.write(&batch).await.unwrap();
    let file = sink.finish().await.unwrap();

    let log = TableLog::of(&warehouse, &def);
    let mut all = Transaction::new("test", Utc::now());
    for instance in ["db-0", "db-1", "db-2"] {
        for day in 0..1000u64 {
            let date = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(day);
            let values = vec![instance.to_string(), date.to_string()];
            let location = format!("aurora/t/{}/c/", log.partition_key(&values));
            all.changes.push(Change::Add(NewPartition { values, location, files: vec![file.clone()] }));
        }
    }
    log.commit(&all).await.unwrap();
    let head = log.head().await.unwrap().unwrap();
    assert_eq!(head.manifests.len(), 3);
    for manifest in head.manifests.iter().filter(|m| !m.first.starts_with("instance=db-1/")) {
        warehouse.store().delete(&log.state_object(&manifest.path)).await.unwrap();
    }

    let settings = glaux::config::WarehouseSettings {
        location: warehouse.url().to_string(),
        region: None,
        endpoint: None,
        allow_http: false,
        path_style: false,
        sse: None,
        sse_kms_key_id: None,
    };
    let catalog = Catalog { registry, warehouse: warehouse.clone() };
    let ctx = Engine::new(&catalog, &settings).session(&EngineOptions::default()).unwrap();
    let count = |sql: &'static str| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.sql(sql).await?.collect().await?;
            Ok::<_, datafusion::error::DataFusionError>(
                arrow::util::pretty::pretty_format_batches(&batches)?.to_string(),
            )
        }
    };
    let one = count("SELECT count(*) AS n FROM aurora.t WHERE instance = 'db-1' AND log_date = DATE '2024-02-01'");
    assert!(one.await.unwrap().contains("| 1 |"));
    let range = count(
        "SELECT sum(x) AS n FROM aurora.t WHERE instance IN ('db-1') AND log_date BETWEEN DATE '2024-01-01' AND DATE '2024-01-10'",
    );
    assert!(range.await.unwrap().contains("| 10 |"));
    let everything = count("SELECT count(*) AS n FROM aurora.t").await.unwrap_err().to_string();
    assert!(everything.contains("a manifest a snapshot names is missing"), "{everything}");
    let other = count("SELECT count(*) AS n FROM aurora.t WHERE instance = 'db-2'").await.unwrap_err().to_string();
    assert!(other.contains("is missing"), "{other}");
}
