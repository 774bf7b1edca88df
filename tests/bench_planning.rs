//! Benchmark (not a test): planning and running partition-filtered queries on a table with
//! 10,000 partitions, glaux beside plain DataFusion on the same Parquet files in one run.
//!
//! glaux resolves partitions from the table's registry snapshot; DataFusion's ListingTable (what
//! datafusion-cli's `CREATE EXTERNAL TABLE ... PARTITIONED BY` gives you) lists the store.
//!
//! Run: `cargo bench --bench planning` (add `-- 20000` for another partition count).

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema};
use chrono::Utc;
use datafusion::prelude::SessionContext;
use glaux::catalog::Catalog;
use glaux::catalog::state::{Change, NewPartition, TableLog, Transaction};
use glaux::catalog::table::{Column, parquet_table_input};
use glaux::catalog::{Registry, write_definition};
use glaux::warehouse::Warehouse;

#[path = "bench_common.rs"]
mod common;
use common::{measure, ms, session, write_rows};

const RUNS: usize = 7;

fn main() {
    let partitions: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(bench(partitions));
}

async fn bench(partitions: usize) {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open_local(&dir.path().join("warehouse")).unwrap();
    let started = Instant::now();
    let glaux_ctx = glaux_table(&warehouse, dir.path(), partitions).await;
    let log = TableLog::new(&warehouse, "db", "t", vec!["day".into()]);
    let mut reads = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let state = log.latest().await.unwrap().unwrap();
        reads.push(started.elapsed());
        assert_eq!(state.partitions.len(), partitions);
    }
    reads.sort();
    let hive_dir = dir.path().join("hive");
    let datafusion_ctx = listing_table(&hive_dir, partitions).await;
    eprintln!("set-up: {partitions} partitions written twice in {:.1}s", started.elapsed().as_secs_f64());

    let queries = [
        ("equality", "SELECT count(*) AS n, sum(x) AS s FROM db.t WHERE day = 4242"),
        ("range of 10", "SELECT count(*) AS n, sum(x) AS s FROM db.t WHERE day BETWEEN 4000 AND 4009"),
        ("all partitions", "SELECT count(*) AS n FROM db.t"),
    ];
    println!("reading the {partitions}-partition snapshot (GETs + JSON parse): median {}", ms(reads[RUNS / 2]));
    println!("| query | engine | plan median | run median | plan ratio (DataFusion / glaux) |");
    println!("|---|---|---|---|---|");
    for (name, sql) in queries {
        let (glaux_plan, glaux_run, glaux_rows) = measure(&glaux_ctx, sql, RUNS).await;
        let (df_plan, df_run, df_rows) = measure(&datafusion_ctx, sql, RUNS).await;
        assert_eq!(glaux_rows, df_rows, "both engines must return the same answer for {name}");
        let ratio = df_plan.as_secs_f64() / glaux_plan.as_secs_f64();
        println!("| {name} | glaux | {} | {} | |", ms(glaux_plan), ms(glaux_run));
        println!("| {name} | DataFusion ListingTable | {} | {} | {ratio:.1}× |", ms(df_plan), ms(df_run));
    }
}

/// A registry table of `partitions` one-row partitions, committed in one snapshot.
async fn glaux_table(warehouse: &Warehouse, root: &std::path::Path, partitions: usize) -> SessionContext {
    let catalog = root.join("catalog");
    let column = Column::new;
    let input = parquet_table_input("t", vec![column("x", "bigint")], vec![column("day", "int")], "db/t/");
    write_definition(&catalog, "db", &input).unwrap();
    let registry = Registry::load(&catalog, warehouse.url()).unwrap();
    let def = registry.table("db", "t").unwrap().clone();

    let mut txn = Transaction::new("bench", Utc::now());
    for day in 0..partitions {
        let location = format!("db/t/day={day}/{}/", txn.commit_id);
        let file =
            write_rows(warehouse, &format!("{location}part-00000.parquet"), day as i64, def.file_schema.clone()).await;
        txn.changes.push(Change::Add(NewPartition { values: vec![day.to_string()], location, files: vec![file] }));
    }
    TableLog::new(warehouse, "db", "t", vec!["day".into()]).commit(&txn).await.unwrap();
    session(&Catalog { registry, warehouse: warehouse.clone() })
}

/// The same rows in a plain Hive layout, registered as DataFusion registers it.
async fn listing_table(hive_dir: &std::path::Path, partitions: usize) -> SessionContext {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
    let hive = Warehouse::open_local(hive_dir).unwrap();
    for day in 0..partitions {
        write_rows(&hive, &format!("day={day}/part-00000.parquet"), day as i64, schema.clone()).await;
    }
    let ctx = SessionContext::new();
    ctx.sql("CREATE SCHEMA db").await.unwrap();
    let ddl = format!(
        "CREATE EXTERNAL TABLE db.t (x BIGINT, day INT) STORED AS PARQUET PARTITIONED BY (day) LOCATION '{}/'",
        hive_dir.display()
    );
    ctx.sql(&ddl).await.unwrap();
    ctx
}
