//! What the engine benchmarks share (`#[path]`-included by `bench_planning.rs` and
//! `bench_registry.rs`): one-row Parquet files, a glaux session on a local warehouse, and
//! median planning and execution times of a query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::Schema;
use datafusion::prelude::SessionContext;
use glaux::catalog::Catalog;
use glaux::catalog::files::ParquetSink;
use glaux::catalog::state::DataFile;
use glaux::config::WarehouseSettings;
use glaux::engine::{Engine, EngineOptions};
use glaux::warehouse::Warehouse;

/// Writes one Parquet file of one row, `value`, at `path`.
pub async fn write_rows(warehouse: &Warehouse, path: &str, value: i64, schema: Arc<Schema>) -> DataFile {
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![value]))]).unwrap();
    let mut sink = ParquetSink::create(warehouse, path, schema).unwrap();
    sink.write(&batch).await.unwrap();
    sink.finish().await.unwrap()
}

/// A glaux session over `catalog`, whose warehouse is local.
pub fn session(catalog: &Catalog) -> SessionContext {
    let settings = WarehouseSettings {
        location: catalog.warehouse.url().to_string(),
        region: None,
        endpoint: None,
        allow_http: false,
        path_style: false,
        sse: None,
        sse_kms_key_id: None,
    };
    Engine::new(catalog, &settings).session(&EngineOptions::default()).unwrap()
}

/// Median planning and execution time over `runs` runs, and the printed answer.
pub async fn measure(ctx: &SessionContext, sql: &str, runs: usize) -> (Duration, Duration, String) {
    let (mut plans, mut executions, mut answer) = (Vec::new(), Vec::new(), String::new());
    for _ in 0..runs {
        let started = Instant::now();
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        plans.push(started.elapsed());
        let started = Instant::now();
        let batches = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap();
        executions.push(started.elapsed());
        answer = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
    }
    (median(plans), median(executions), answer)
}

/// The median of `values`.
pub fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort();
    values[values.len() / 2]
}

/// A duration in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
