//! Parquet every reader accepts: a table holding every Glue type, written by glaux's own writer
//! and committed through the registry, reads back with the same rows and types in glaux,
//! DuckDB, pyarrow and PySpark (local mode), partition values included.

use std::process::Command;

use arrow::compute::cast;
use chrono::Utc;
use datafusion::prelude::SessionContext;
use glaux::catalog::files::ParquetSink;
use glaux::catalog::state::{Change, NewPartition, TableLog, Transaction};
use glaux::catalog::table::{Column, parquet_table_input};
use glaux::catalog::{Registry, write_definition};
use glaux::warehouse::Warehouse;

use crate::support::{TestProject, stderr, stdout};

const COLUMNS: &[(&str, &str)] = &[
    ("b", "boolean"),
    ("ti", "tinyint"),
    ("si", "smallint"),
    ("i", "int"),
    ("bi", "bigint"),
    ("f", "float"),
    ("d", "double"),
    ("dec", "decimal(12,2)"),
    ("c", "char(3)"),
    ("vc", "varchar(10)"),
    ("s", "string"),
    ("bin", "binary"),
    ("dt", "date"),
    ("ts", "timestamp"),
    ("arr", "array<int>"),
    ("m", "map<string,double>"),
    ("st", "struct<a:int,b:string>"),
];

/// Two rows: every column set, then every column NULL.
const ROWS: &str = "SELECT true AS b, 1 AS ti, 2 AS si, 3 AS i, 4000000000 AS bi, 1.5 AS f, 2.25 AS d, \
     CAST(1234567.89 AS DECIMAL(12,2)) AS dec, 'abc' AS c, 'varying' AS vc, '北京 café' AS s, \
     X'DEADBEEF' AS bin, DATE '2026-11-21' AS dt, TIMESTAMP '2026-11-21T12:34:56.789012Z' AS ts, \
     make_array(1, 2, 3) AS arr, MAP(['k1', 'k2'], [0.5, 1.5]) AS m, named_struct('a', 7, 'b', 'x') AS st \
     UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL";

/// Writes the table `interop.all_types` (partitioned by `day date`) into the project's warehouse.
async fn write_table(project: &TestProject) -> String {
    let column = |(name, ty): &(&str, &str)| Column::new(*name, *ty);
    let day = Column::new("day", "date");
    let input = parquet_table_input("all_types", COLUMNS.iter().map(column).collect(), vec![day], "interop/all_types/");
    let catalog = project.path().join("catalog");
    write_definition(&catalog, "interop", &input).unwrap();
    let warehouse = Warehouse::open_local(&project.path().join("warehouse")).unwrap();
    let registry = Registry::load(&catalog, warehouse.url()).unwrap();
    let def = registry.table("interop", "all_types").unwrap();

    let ctx = SessionContext::new();
    let source = ctx.sql(ROWS).await.unwrap().collect().await.unwrap();
    let schema = def.file_schema.clone();
    let mut txn = Transaction::new("interop test", Utc::now());
    let location = format!("interop/all_types/day=2026-11-21/{}/", txn.commit_id);
    let mut sink = ParquetSink::create(&warehouse, &format!("{location}part-00000.parquet"), schema.clone()).unwrap();
    for batch in source {
        let columns = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| cast(column, field.data_type()).unwrap_or_else(|e| panic!("{}: {e}", field.name())))
            .collect();
        sink.write(&arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap()).await.unwrap();
    }
    let file = sink.finish().await.unwrap();
    txn.changes.push(Change::Add(NewPartition {
        values: vec!["2026-11-21".into()],
        location: location.clone(),
        files: vec![file],
    }));
    TableLog::new(&warehouse, "interop", "all_types", vec!["day".into()]).commit(&txn).await.unwrap();
    warehouse.absolute_url("interop/all_types/").trim_start_matches("file://").to_string()
}

const READERS: &str = r#"
import json, sys, glob, datetime, decimal
root = sys.argv[1]
files = glob.glob(root + "**/*.parquet", recursive=True)
assert len(files) == 1, files
out = {}

import duckdb
rel = duckdb.sql(f"SELECT * FROM read_parquet('{root}**/*.parquet', hive_partitioning=true, hive_types={{'day': DATE}}) ORDER BY b NULLS LAST")
out["duckdb"] = {"types": [str(t) for t in rel.types], "rows": [[str(v) for v in row] for row in rel.fetchall()]}

import pyarrow.parquet as pq
t = pq.read_table(files[0])
rows = [[str(v) for v in row.values()] for row in t.to_pylist()]
out["pyarrow"] = {"types": [str(f.type) for f in t.schema], "rows": sorted(rows, key=lambda r: r[0] == "None")}

from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").appName("glaux-interop")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.read.option("basePath", root).parquet(root)
out["spark"] = {"types": [f.dataType.simpleString() for f in df.schema.fields],
                "rows": [[str(v) for v in row] for row in df.orderBy(df.b.desc_nulls_last()).collect()]}
spark.stop()
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn duckdb_pyarrow_and_spark_read_what_glaux_writes() {
    let project = TestProject::new();
    let root = write_table(&project).await;

    // glaux itself.
    let sql = "SELECT b, ti, bi, dec, s, encode(bin, 'hex') AS bin, dt, ts, arr, m, st, day FROM interop.all_types ORDER BY b NULLS LAST";
    let ours = project.ok(&["sql", "--format", "csv", "-c", sql]);
    let first = ours.lines().nth(1).unwrap();
    assert!(
        first.starts_with("true,1,4000000000,1234567.89,北京 café,deadbeef,2026-11-21,2026-11-21T12:34:56.789012Z"),
        "{ours}"
    );
    assert!(first.ends_with(",2026-11-21"), "{ours}");

    let output = Command::new("python3").args(["-c", READERS, &root]).output().expect("python3");
    assert!(output.status.success(), "python readers failed: {}", stderr(&output));
    let json = stdout(&output);
    let got: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();

    let duck = &got["duckdb"];
    assert_eq!(
        duck["types"],
        serde_json::json!([
            "BOOLEAN",
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "FLOAT",
            "DOUBLE",
            "DECIMAL(12,2)",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "BLOB",
            "DATE",
            "TIMESTAMP WITH TIME ZONE",
            "INTEGER[]",
            "MAP(VARCHAR, DOUBLE)",
            "STRUCT(a INTEGER, b VARCHAR)",
            "DATE"
        ])
    );
    let row = duck["rows"][0].as_array().unwrap();
    assert_eq!(row[7], "1234567.89");
    assert_eq!(row[10], "北京 café");
    assert!(row[13].as_str().unwrap().starts_with("2026-11-21 12:34:56.789012"), "{row:?}");
    assert_eq!(row[14], "[1, 2, 3]");
    assert_eq!(row[17], "2026-11-21");
    assert!(duck["rows"][1].as_array().unwrap()[..17].iter().all(|v| v == "None"), "{duck}");

    let arrow = &got["pyarrow"];
    // pyarrow names a map's entries field when it is not "entries" (`map<string, double ('m')>`);
    // the logical type is the same, so compare without that annotation.
    let arrow_types: Vec<String> = arrow["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().split(" ('").next().unwrap().trim_end_matches('>').to_string())
        .map(|t| {
            if t.starts_with("map<") || t.starts_with("list<") || t.starts_with("struct<") {
                format!("{t}>")
            } else {
                t
            }
        })
        .collect();
    assert_eq!(
        serde_json::json!(arrow_types),
        serde_json::json!([
            "bool",
            "int8",
            "int16",
            "int32",
            "int64",
            "float",
            "double",
            "decimal128(12, 2)",
            "string",
            "string",
            "string",
            "binary",
            "date32[day]",
            "timestamp[us, tz=UTC]",
            "list<item: int32>",
            "map<string, double>",
            "struct<a: int32, b: string>"
        ])
    );
    assert_eq!(arrow["rows"][0][13], "2026-11-21 12:34:56.789012+00:00");

    let spark = &got["spark"];
    assert_eq!(
        spark["types"],
        serde_json::json!([
            "boolean",
            "tinyint",
            "smallint",
            "int",
            "bigint",
            "float",
            "double",
            "decimal(12,2)",
            "string",
            "string",
            "string",
            "binary",
            "date",
            "timestamp",
            "array<int>",
            "map<string,double>",
            "struct<a:int,b:string>",
            "date"
        ])
    );
    let row = spark["rows"][0].as_array().unwrap();
    assert_eq!(row[13], "2026-11-21 12:34:56.789012");
    assert_eq!(row[17], "2026-11-21");
    // Spark's types are Glue's types: what glaux registers is what Athena and Spark read.
    let glue_types: Vec<&str> = COLUMNS.iter().map(|(_, t)| *t).collect();
    let spark_types: Vec<&str> = spark["types"].as_array().unwrap()[..17].iter().map(|v| v.as_str().unwrap()).collect();
    let comparable =
        |t: &str| if t.starts_with("char") || t.starts_with("varchar") { "string".to_string() } else { t.to_string() };
    assert_eq!(glue_types.iter().map(|t| comparable(t)).collect::<Vec<_>>(), spark_types);
}
