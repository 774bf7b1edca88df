//! Benchmark (not a test): glaux's Athena functions beside the DataFusion built-in each one
//! replaces or wraps, over the same 1,000,000 rows in one run.
//!
//! Each pair is timed as `SELECT count(<expression>) FROM t` (every row evaluated, one number
//! returned), the median of several runs; the ratio is glaux's time over DataFusion's.
//! Functions with no DataFusion counterpart are timed alone.
//!
//! Run: `cargo bench --bench functions` (add `-- 200000` for another row count, and names to
//! time only the functions whose name contains one of them: `-- year split`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, ListArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::Int64Type;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use glaux::engine::athena;

const RUNS: usize = 9;
const BATCH: usize = 8192;

/// (name, glaux expression, DataFusion expression or "" when there is none)
const PAIRS: &[(&str, &str, &str)] = &[
    ("year", "year(ts)", "date_part('year', ts)"),
    ("day_of_week", "day_of_week(ts)", "date_part('dow', ts)"),
    ("date_format", "date_format(ts, '%Y-%m-%d %H:%i:%s')", "to_char(ts, '%Y-%m-%d %H:%M:%S')"),
    ("date_parse", "date_parse(s, '%Y-%m-%d %H:%i:%s')", "to_timestamp(s, '%Y-%m-%d %H:%M:%S')"),
    ("from_iso8601_timestamp", "from_iso8601_timestamp(iso)", "to_timestamp(iso)"),
    ("date_add", "date_add('day', 1, ts)", "ts + INTERVAL '1' DAY"),
    ("date_diff", "date_diff('second', ts, ts2)", "date_part('epoch', ts2) - date_part('epoch', ts)"),
    ("from_unixtime", "from_unixtime(n)", "from_unixtime(n)"),
    ("to_unixtime", "to_unixtime(ts)", "to_unixtime(ts)"),
    ("regexp_extract", "regexp_extract(text, 'k(\\d+)', 1)", "regexp_match(text, 'k(\\d+)')"),
    ("regexp_replace", "regexp_replace(text, '\\d', 'X')", "regexp_replace(text, '\\d', 'X', 'g')"),
    ("split", "split(text, '=')", "string_to_array(text, '=')"),
    ("split_part", "split_part(text, '=', 2)", "split_part(text, '=', 2)"),
    ("strpos", "strpos(text, '=')", "strpos(text, '=')"),
    ("substr", "substr(text, 2, 3)", "substr(text, 2, 3)"),
    ("concat", "concat(text, s)", "concat(text, s)"),
    ("md5", "md5(text)", "md5(text)"),
    ("to_hex(sha256)", "to_hex(sha256(text))", "encode(sha256(text), 'hex')"),
    ("element_at", "element_at(arr, 2)", "array_element(arr, 2)"),
    ("contains", "contains(arr, 3)", "array_has(arr, 3)"),
    ("sequence", "sequence(1, n % 10 + 1)", "generate_series(1, n % 10 + 1)"),
    ("json_extract_scalar", "json_extract_scalar(json, '$.user.id')", ""),
    ("url_extract_host", "url_extract_host(url)", ""),
];

/// Aggregates: (name, glaux query, DataFusion query).
const AGGREGATES: &[(&str, &str, &str)] = &[
    ("approx_percentile", "SELECT approx_percentile(d, 0.5) FROM t", "SELECT approx_percentile_cont(d, 0.5) FROM t"),
    ("count_if", "SELECT count_if(n > 5) FROM t", "SELECT count(*) FILTER (WHERE n > 5) FROM t"),
    ("max_by", "SELECT max_by(n, d) FROM t", "SELECT first_value(n ORDER BY d DESC) FROM t"),
    (
        "count_if by group",
        "SELECT n % 1000, count_if(d > 0.5) FROM t GROUP BY 1",
        "SELECT n % 1000, count(*) FILTER (WHERE d > 0.5) FROM t GROUP BY 1",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let rows: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let names: Vec<String> = args.into_iter().filter(|a| a.parse::<usize>().is_err()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(bench(rows, &names));
}

async fn bench(rows: usize, names: &[String]) {
    let chosen = |name: &str| names.is_empty() || names.iter().any(|n| name.contains(n.as_str()));
    let input = batches(rows);
    let table = Arc::new(MemTable::try_new(input[0].schema(), vec![input]).unwrap());
    let glaux = SessionContext::new();
    athena::install(&glaux);
    glaux.register_table("t", table.clone()).unwrap();
    let plain = SessionContext::new();
    plain.register_table("t", table).unwrap();

    println!("{rows} rows, median of {RUNS} runs, ratio = glaux / DataFusion");
    println!("{:<24} {:>10} {:>12} {:>7}", "function", "glaux ms", "DataFusion ms", "ratio");
    for (name, ours, theirs) in PAIRS.iter().filter(|(name, ..)| chosen(name)) {
        let ours_time = time(&glaux, &format!("SELECT count({ours}) FROM t"), true).await;
        let theirs_time = if theirs.is_empty() {
            None
        } else {
            Some(time(&plain, &format!("SELECT count({theirs}) FROM t"), false).await)
        };
        report(name, ours_time, theirs_time);
    }
    for (name, ours, theirs) in AGGREGATES.iter().filter(|(name, ..)| chosen(name)) {
        let ours_time = time(&glaux, ours, true).await;
        let theirs_time = time(&plain, theirs, false).await;
        report(name, ours_time, Some(theirs_time));
    }
}

fn report(name: &str, ours: Duration, theirs: Option<Duration>) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    match theirs {
        Some(theirs) => println!("{name:<24} {:>10.1} {:>12.1} {:>7.2}", ms(ours), ms(theirs), ms(ours) / ms(theirs)),
        None => println!("{name:<24} {:>10.1} {:>12} {:>7}", ms(ours), "-", "-"),
    }
}

/// The median time of running `sql` (through glaux's parser when `athena`).
async fn time(ctx: &SessionContext, sql: &str, athena: bool) -> Duration {
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let frame = if athena { athena::sql(ctx, sql, SQLOptions::new()).await } else { ctx.sql(sql).await };
        let frame = frame.unwrap_or_else(|e| panic!("{sql}: {e}"));
        frame.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        times.push(started.elapsed());
    }
    times.sort();
    times[RUNS / 2]
}

/// The input: timestamps, their text and ISO text, key=value text, JSON, URLs, numbers and
/// small arrays, in batches of 8192 rows.
fn batches(rows: usize) -> Vec<RecordBatch> {
    (0..rows)
        .step_by(BATCH)
        .map(|start| {
            let ids: Vec<i64> = (start as i64..(start + BATCH).min(rows) as i64).collect();
            let millis: Vec<i64> = ids.iter().map(|i| 1_589_195_705_000 + i * 7_919).collect();
            let text = |f: &dyn Fn(i64) -> String| -> ArrayRef {
                Arc::new(StringArray::from(ids.iter().map(|i| f(*i)).collect::<Vec<_>>()))
            };
            let ts = TimestampMillisecondArray::from(millis.clone());
            let stamp = |m: i64| chrono::DateTime::from_timestamp_millis(m).unwrap().naive_utc();
            let columns: Vec<(&str, ArrayRef)> = vec![
                ("ts", Arc::new(ts)),
                (
                    "ts2",
                    Arc::new(TimestampMillisecondArray::from(
                        millis.iter().map(|m| m + 86_400_123).collect::<Vec<_>>(),
                    )),
                ),
                ("s", text(&|i| stamp(1_589_195_705_000 + i * 7_919).format("%Y-%m-%d %H:%M:%S").to_string())),
                ("iso", text(&|i| stamp(1_589_195_705_000 + i * 7_919).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())),
                ("text", text(&|i| format!("k{}=value {}", i % 97, i))),
                ("json", text(&|i| format!(r#"{{"user": {{"id": {i}, "name": "u{}"}}, "tags": ["a", "b"]}}"#, i % 13))),
                ("url", text(&|i| format!("https://shop{}.example.com/p/{i}?q={}", i % 7, i % 3))),
                ("n", Arc::new(Int64Array::from(ids.clone()))),
                ("d", Arc::new(Float64Array::from(ids.iter().map(|i| (i % 1000) as f64 / 1000.0).collect::<Vec<_>>()))),
                (
                    "arr",
                    Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                        ids.iter().map(|i| Some((0..(i % 5)).map(|j| Some(i % 7 + j)).collect::<Vec<_>>())),
                    )),
                ),
            ];
            RecordBatch::try_from_iter(columns).unwrap()
        })
        .collect()
}
