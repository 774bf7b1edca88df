//! Benchmark (not a test): the registry at 10,000, 100,000 and 1,000,000 partitions, the size
//! of Aurora log tables partitioned by instance and day (1,000 instances for three years).
//!
//! For each size it builds a table of `(instance string, log_date date)` partitions by commits
//! of 10,000 partitions (as a daily ingest grows it), then measures:
//! - a one-partition commit: its time and the bytes it writes (snapshot head and manifests),
//!   beside the bytes the single-file snapshot format (format 1) wrote for the same commit;
//! - reading the newest snapshot whole (what vacuum and Glue push read);
//! - planning (and running) partition-filtered queries and a full count through glaux's
//!   engine, and, up to `--listing-max` partitions, the same queries on DataFusion's
//!   ListingTable over the same partitions in a Hive directory layout (what datafusion-cli's
//!   `CREATE EXTERNAL TABLE ... PARTITIONED BY` gives), which lists the store at every plan.
//!
//! With `--glue-max N` (and moto's server from PyPI, which `tests/install-deps.sh` installs),
//! it also builds the table on an S3 warehouse served by moto on loopback, for sizes up to N,
//! and times `catalog push` of its partitions to moto's Glue: the first push, which writes every
//! partition's symlink manifest and creates them all (Glue takes 100 partitions per
//! BatchCreatePartition call), and a push after an append to one partition (one manifest, one
//! BatchUpdatePartition). The table is in the symlink layout, as glaux's Aurora log tables are.
//!
//! Run: `cargo bench --bench registry` (or `-- 10000 100000` for other sizes, `--listing-max N`,
//! `--glue-max N`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use glaux::catalog::state::{Change, DataFile, NewPartition, TableLog, Transaction};
use glaux::catalog::table::{Column, Layout, parquet_table_input};
use glaux::catalog::{Catalog, Registry, write_definition};
use glaux::config::WarehouseSettings;
use glaux::warehouse::Warehouse;

#[path = "bench_common.rs"]
mod common;
use common::{measure, median, ms, session, write_rows};

const RUNS: usize = 5;
const INSTANCES: usize = 1000;
const PER_BUILD_COMMIT: usize = 10_000;

fn main() {
    // SAFETY: set before any thread starts; the AWS chain of the Glue client reads them.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listing_max =
        args.iter().position(|a| a == "--listing-max").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(100_000);
    let glue_max: usize =
        args.iter().position(|a| a == "--glue-max").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(0);
    let mut sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || !["--listing-max", "--glue-max"].contains(&args[i - 1].as_str()))
        .filter_map(|(_, a)| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000, 1_000_000];
    }
    let moto = (glue_max > 0).then(Moto::start);
    if let Some(moto) = &moto {
        // SAFETY: no other thread runs yet.
        unsafe { std::env::set_var("AWS_ENDPOINT_URL", &moto.endpoint) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut commits = Vec::new();
    let mut queries = Vec::new();
    let mut pushes = Vec::new();
    for n in sizes {
        let (commit, query) = runtime.block_on(bench(n, n <= listing_max));
        commits.push(commit);
        queries.extend(query);
        if let Some(moto) = moto.as_ref().filter(|_| n <= glue_max) {
            pushes.push(runtime.block_on(push(n, moto)));
        }
    }
    if !pushes.is_empty() {
        println!(
            "\n| partitions | build on moto S3 | first push (all manifests, creates all) | push after a one-partition append |"
        );
        println!("|---|---|---|---|");
        for (n, build, first, again) in pushes {
            println!(
                "| {n} | {:.1} s | {:.1} s | {:.1} s |",
                build.as_secs_f64(),
                first.as_secs_f64(),
                again.as_secs_f64()
            );
        }
    }
    println!(
        "\n| partitions | build ({PER_BUILD_COMMIT} per commit) | manifests | one-partition commit | bytes it wrote | format 1 would write | ratio | read whole snapshot |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for c in commits {
        println!(
            "| {} | {:.1} s | {} | {} | {} | {} | {:.1}× smaller | {} |",
            c.partitions,
            c.build.as_secs_f64(),
            c.manifests,
            ms(c.commit),
            c.bytes,
            c.format1_bytes,
            c.format1_bytes as f64 / c.bytes as f64,
            ms(c.read_all)
        );
    }
    println!(
        "\n| partitions | query | glaux plan | glaux run | ListingTable plan | ListingTable run | plan ratio (ListingTable / glaux) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for q in queries {
        let (listing_plan, listing_run, ratio) = match q.listing {
            Some((plan, run)) => (ms(plan), ms(run), format!("{:.1}×", plan.as_secs_f64() / q.plan.as_secs_f64())),
            None => ("–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {} | {} | {listing_plan} | {listing_run} | {ratio} |",
            q.partitions,
            q.name,
            ms(q.plan),
            ms(q.run)
        );
    }
}

struct CommitRow {
    partitions: usize,
    build: Duration,
    manifests: usize,
    commit: Duration,
    bytes: u64,
    format1_bytes: u64,
    read_all: Duration,
}

struct QueryRow {
    partitions: usize,
    name: &'static str,
    plan: Duration,
    run: Duration,
    listing: Option<(Duration, Duration)>,
}

fn instance(i: usize) -> String {
    format!("db-{i:04}")
}

fn day(d: usize) -> String {
    (NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Days::new(d as u64)).format("%Y-%m-%d").to_string()
}

/// Partition `k` in ingest order: day-major, every instance of a day before the next day.
fn values(k: usize) -> Vec<String> {
    vec![instance(k % INSTANCES), day(k / INSTANCES)]
}

/// Builds the table of `n` partitions by commits of [`PER_BUILD_COMMIT`]; returns the shared
/// one-row file and the time taken.
async fn build(catalog: &Catalog, log: &TableLog, n: usize) -> (DataFile, Duration) {
    let schema = catalog.registry.tables().next().expect("the one table").file_schema.clone();
    let shared = write_rows(&catalog.warehouse, "aurora/t/shared/part-00000.parquet", 1, schema).await;
    let started = Instant::now();
    for first in (0..n).step_by(PER_BUILD_COMMIT) {
        let mut txn = Transaction::new("bench build", Utc::now());
        for k in first..(first + PER_BUILD_COMMIT).min(n) {
            txn.changes.push(Change::Add(partition(log, values(k), &shared)));
        }
        log.commit(&txn).await.unwrap();
    }
    (shared, started.elapsed())
}

/// The table of `n` partitions on moto's S3, pushed to moto's Glue: (build, first push, push
/// after a one-partition commit).
async fn push(n: usize, moto: &Moto) -> (usize, Duration, Duration, Duration) {
    eprintln!("{n} partitions: building on moto S3 and pushing to its Glue");
    let dir = tempfile::tempdir().unwrap();
    let settings = WarehouseSettings {
        location: format!("s3://bench/wh{n}"),
        region: Some("us-east-1".into()),
        endpoint: Some(moto.endpoint.clone()),
        allow_http: true,
        path_style: true,
        sse: None,
        sse_kms_key_id: None,
    };
    let warehouse = Warehouse::open(&settings).unwrap();
    let (catalog, log) = registry_in(dir.path(), warehouse, &format!("aurora{n}"));
    let (shared, built) = build(&catalog, &log, n).await;
    let def = catalog.registry.tables().next().unwrap().clone();
    let client = glaux::glue::connect().await;
    let started = Instant::now();
    let plan = glaux::glue::plan_push(&client, &catalog, &[&def], &[], false).await.unwrap();
    glaux::glue::apply(&client, &catalog.warehouse, &plan).await.unwrap();
    let first = started.elapsed();
    // An append to one partition: its manifest names the shared file and a new one.
    let schema = def.file_schema.clone();
    let appended = write_rows(&catalog.warehouse, "aurora/t/shared/part-00001.parquet", 1, schema).await;
    let mut txn = Transaction::new("bench commit", Utc::now());
    let mut changed = partition(&log, values(n / 2), &shared);
    changed.location = changed.location.replace("/c/", "/d/");
    changed.files.push(appended);
    txn.changes.push(Change::Replace(changed));
    log.commit(&txn).await.unwrap();
    let started = Instant::now();
    let plan = glaux::glue::plan_push(&client, &catalog, &[&def], &[], false).await.unwrap();
    let report = glaux::glue::apply(&client, &catalog.warehouse, &plan).await.unwrap();
    let again = started.elapsed();
    assert_eq!(report.partitions, [0, 1, 0], "the second push updates the one partition");
    assert_eq!(report.manifests, 1, "the second push writes the one partition's manifest");
    (n, built, first, again)
}

/// moto's server on a free loopback port, with a bucket `bench`; stopped when dropped.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto's server (pip install 'moto[server]')");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let create =
            format!("import boto3; boto3.client('s3', endpoint_url='{endpoint}').create_bucket(Bucket='bench')");
        let status = std::process::Command::new("python3").args(["-c", &create]).status().unwrap();
        assert!(status.success(), "bucket creation failed");
        Moto { child, endpoint }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn bench(n: usize, with_listing: bool) -> (CommitRow, Vec<QueryRow>) {
    eprintln!("{n} partitions: building");
    let dir = tempfile::tempdir().unwrap();
    let (catalog, log) = registry(dir.path());
    let (shared, build) = build(&catalog, &log, n).await;

    let state_dir = dir.path().join("warehouse/_glaux/tables/aurora/t");
    let mut commits = Vec::new();
    let mut bytes = Vec::new();
    for run in 0..RUNS {
        let before = sizes(&state_dir);
        let mut txn = Transaction::new("bench commit", Utc::now());
        txn.changes.push(Change::Replace(partition(&log, values(n / 2 + run * 7919 % (n / 2)), &shared)));
        let started = Instant::now();
        log.commit(&txn).await.unwrap();
        commits.push(started.elapsed());
        let after = sizes(&state_dir);
        bytes.push(after.iter().filter(|(path, _)| !before.contains_key(*path)).map(|(_, size)| size).sum::<u64>());
    }
    let mut reads = Vec::new();
    let mut format1_bytes = 0;
    for _ in 0..RUNS.min(3) {
        let started = Instant::now();
        let state = log.latest().await.unwrap().unwrap();
        reads.push(started.elapsed());
        assert_eq!(state.partitions.len(), n);
        // The whole snapshot as one JSON object is what format 1 wrote at every commit.
        format1_bytes = serde_json::to_vec(&state).unwrap().len() as u64;
    }
    let head = log.head().await.unwrap().unwrap();
    let commit = CommitRow {
        partitions: n,
        build,
        manifests: head.manifests.len(),
        commit: median(commits),
        bytes: median(bytes),
        format1_bytes,
        read_all: median(reads),
    };

    let glaux_ctx = session(&catalog);
    let listing_ctx = match with_listing {
        true => {
            eprintln!("{n} partitions: writing the Hive layout");
            Some(
                listing_table(
                    &dir.path().join("hive"),
                    n,
                    &dir.path().join("warehouse/aurora/t/shared/part-00000.parquet"),
                )
                .await,
            )
        }
        false => None,
    };
    let middle = instance(INSTANCES / 2);
    let last_day = day((n - 1) / INSTANCES);
    let queries: [(&'static str, String); 5] = [
        (
            "instance and day",
            format!(
                "SELECT count(*) AS n, sum(x) AS s FROM aurora.t WHERE instance = '{middle}' AND log_date = DATE '{last_day}'"
            ),
        ),
        (
            "one instance, all days",
            format!("SELECT count(*) AS n, sum(x) AS s FROM aurora.t WHERE instance = '{middle}'"),
        ),
        (
            "newest day, all instances",
            format!("SELECT count(*) AS n, sum(x) AS s FROM aurora.t WHERE log_date = DATE '{last_day}'"),
        ),
        (
            "first day, all instances",
            format!("SELECT count(*) AS n, sum(x) AS s FROM aurora.t WHERE log_date = DATE '{}'", day(0)),
        ),
        ("all partitions", "SELECT count(*) AS n FROM aurora.t".to_string()),
    ];
    let mut rows = Vec::new();
    for (name, sql) in queries {
        eprintln!("{n} partitions: {name}");
        let (plan, run, answer) = measure(&glaux_ctx, &sql, RUNS).await;
        let listing = match &listing_ctx {
            Some(ctx) => {
                let (plan, run, other) = measure(ctx, &sql, RUNS).await;
                assert_eq!(answer, other, "glaux and ListingTable must agree on {name}");
                Some((plan, run))
            }
            None => None,
        };
        rows.push(QueryRow { partitions: n, name, plan, run, listing });
    }
    (commit, rows)
}

/// A registry of one table `aurora.t (x bigint)` partitioned by `instance string, log_date date`.
fn registry(root: &Path) -> (Catalog, TableLog) {
    registry_in(root, Warehouse::open_local(&root.join("warehouse")).unwrap(), "aurora")
}

/// [`registry`] on `warehouse`, the table in database `database`.
fn registry_in(root: &Path, warehouse: Warehouse, database: &str) -> (Catalog, TableLog) {
    let catalog_dir = root.join("catalog");
    let column = Column::new;
    let keys = vec![column("instance", "string"), column("log_date", "date")];
    let mut input = parquet_table_input("t", vec![column("x", "bigint")], keys, "aurora/t/");
    // As glaux's Aurora log tables: Athena reads each partition through a symlink manifest.
    input.set_layout(Layout::Symlink);
    write_definition(&catalog_dir, database, &input).unwrap();
    let registry = Registry::load(&catalog_dir, warehouse.url()).unwrap();
    let log = TableLog::of(&warehouse, registry.table(database, "t").unwrap());
    (Catalog { registry, warehouse }, log)
}

/// A partition whose one file is `shared` (one row): the registry's cost does not depend on
/// what the files hold.
fn partition(log: &TableLog, values: Vec<String>, shared: &DataFile) -> NewPartition {
    let location = format!("aurora/t/{}/c/", log.partition_key(&values));
    NewPartition { values, location, files: vec![shared.clone()] }
}

/// The same partitions in a plain Hive layout (one copy of the one-row file each), registered
/// as DataFusion registers it.
async fn listing_table(hive_dir: &Path, n: usize, file: &Path) -> SessionContext {
    let bytes = std::fs::read(file).unwrap();
    for k in 0..n {
        let [instance, day] = <[String; 2]>::try_from(values(k)).unwrap();
        let dir = hive_dir.join(format!("instance={instance}/log_date={day}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-00000.parquet"), &bytes).unwrap();
    }
    let ctx = SessionContext::new();
    ctx.sql("CREATE SCHEMA aurora").await.unwrap();
    let ddl = format!(
        "CREATE EXTERNAL TABLE aurora.t (x BIGINT, instance VARCHAR, log_date DATE) STORED AS PARQUET \
         PARTITIONED BY (instance, log_date) LOCATION '{}/'",
        hive_dir.display()
    );
    ctx.sql(&ddl).await.unwrap();
    ctx
}

/// Every file below `dir`, with its size.
fn sizes(dir: &Path) -> BTreeMap<std::path::PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            match meta.is_dir() {
                true => todo.push(entry.path()),
                false => {
                    out.insert(entry.path(), meta.len());
                }
            }
        }
    }
    out
}
