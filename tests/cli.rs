//! The binary from the outside: one-shot SQL in every form and format, the pipeline, catalog
//! commands, partition pruning, and bad input giving a one-line error and the documented exit code.

use std::io::Write;
use std::process::Stdio;

use crate::support::{TestProject, stderr, stdout};

const COUNT_RAW: &str = "SELECT count(*) AS n FROM customer_data.customer_base_raw";

/// Asserts a failure: the exit code, one `glaux:` line on stderr containing `needle`, no panic.
fn assert_fails(output: &std::process::Output, code: i32, needle: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("glaux: ") && lines[0].contains(needle), "{err}");
}

#[test]
fn pipeline_loads_sample_data_once_and_count_answers_from_the_registry() {
    let p = TestProject::new();
    let first = p.run(&["run"]);
    let err = stderr(&first);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("customer_data.customer_base_raw: 2 file(s) loaded: rows read 362, written 360, rejected 2"),
        "{err}"
    );
    assert!(err.contains("customer_data_cleansing: full (first run)"), "{err}");
    assert!(err.contains("customer_feature_engineering: full (first run)"), "{err}");
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", COUNT_RAW]), "n\n360\n");
    let summary = stdout(&first);
    for table in
        ["customer_base_raw", "customer_base_cleaned", "customer_base_quarantine", "customer_features", "regions"]
    {
        assert!(summary.contains(&format!("| {table} ")), "{summary}");
    }

    let second = p.run(&["run"]);
    let err = stderr(&second);
    assert!(err.contains("customer_data.customer_base_raw: nothing new (2 file(s) skipped as already loaded"), "{err}");
    assert!(err.contains("customer_data_cleansing: nothing new since its last run"), "{err}");
    assert!(err.contains("customer_feature_engineering: nothing new since its last run"), "{err}");
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", COUNT_RAW]), "n\n360\n");
}

#[test]
fn every_output_format() {
    let p = TestProject::new();
    p.ok(&["run"]);
    let sql = "SELECT region_code, vat_rate FROM customer_data.regions WHERE country IN ('DE', 'JP') ORDER BY 1";
    let table = p.ok(&["sql", "-c", sql]);
    assert!(table.contains("| region_code | vat_rate |") && table.contains("| EU-DE       | 0.1900   |"), "{table}");
    assert!(table.contains("(2 rows)"));
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", sql]), "region_code,vat_rate\nAPAC-JP,0.1000\nEU-DE,0.1900\n");
    assert_eq!(
        p.ok(&["sql", "--format", "json", "-c", sql]),
        "[{\"region_code\":\"APAC-JP\",\"vat_rate\":0.1000},{\"region_code\":\"EU-DE\",\"vat_rate\":0.1900}]\n"
    );
    assert_eq!(
        p.ok(&["sql", "--format", "ndjson", "-c", sql]),
        "{\"region_code\":\"APAC-JP\",\"vat_rate\":0.1000}\n{\"region_code\":\"EU-DE\",\"vat_rate\":0.1900}\n"
    );
}

#[test]
fn sql_from_repeated_c_files_and_stdin() {
    let p = TestProject::new();
    p.ok(&["run"]);
    let out = p.ok(&["sql", "--format", "csv", "-c", "SELECT 1 AS a", "-c", "SELECT 2 AS b"]);
    assert_eq!(out, "a\n1\nb\n2\n");

    let file =
        p.write("q.sql", "-- two statements\nSELECT 3 AS c;\nSELECT count(*) AS n\n  FROM customer_data.regions;\n");
    assert_eq!(p.ok(&["sql", "--format", "csv", "-f", file.to_str().unwrap()]), "c\n3\nn\n6\n");

    let mut child = p
        .glaux()
        .args(["sql", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(COUNT_RAW.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n360\n");
}

#[test]
fn ad_hoc_paths_work_as_in_datafusion_cli() {
    let p = TestProject::new();
    let out = p.ok(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "COPY (SELECT 7 AS seven) TO 'adhoc.parquet' STORED AS PARQUET",
        "-c",
        "SELECT seven FROM 'adhoc.parquet'",
    ]);
    assert!(out.ends_with("seven\n7\n"), "{out}");
    let csv =
        p.ok(&["sql", "--format", "csv", "-c", "SELECT count(*) AS n FROM 'data/customer_data/regions/regions.csv'"]);
    assert_eq!(csv, "n\n6\n");
}

#[test]
fn ad_hoc_s3_paths_open_any_bucket_with_the_aws_chain() {
    let moto = crate::support::Moto::start();
    moto.create_bucket("adhoc");
    let p = TestProject::new();
    let out = p
        .glaux()
        .envs(moto.env())
        .args(["sql", "--format", "csv"])
        .args(["-c", "COPY (SELECT 'on s3' AS place) TO 's3://adhoc/one.parquet' STORED AS PARQUET"])
        .args(["-c", "SELECT place FROM 's3://adhoc/one.parquet'"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("place\non s3\n"), "{}", stdout(&out));
    let listed = moto.python(
        "import boto3; print([o['Key'] for o in boto3.client('s3').list_objects_v2(Bucket='adhoc')['Contents']])",
    );
    assert_eq!(listed.trim(), "['one.parquet']");
}

#[test]
fn partition_filters_prune_using_registry_metadata_only() {
    let p = TestProject::new();
    let raw = "data/customer_data/customer_base_raw";
    for (file, date) in [("crm_export_2026-11-01.csv", "2026-11-01"), ("crm_export_2026-11-15.csv", "2026-11-02")] {
        let path = format!("{raw}/{file}");
        p.ok(&["ingest", "csv", &path, "--table", "customer_data.customer_base_raw", "--date", date]);
    }
    let by_day = "SELECT ingest_date, count(*) AS n FROM customer_data.customer_base_raw GROUP BY 1 ORDER BY 1";
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", by_day]), "ingest_date,n\n2026-11-01,310\n2026-11-02,50\n");

    // A file nobody committed is invisible: readers resolve files through the registry, never by listing.
    let day2 = p.path().join("warehouse/customer_data/customer_base_raw/ingest_date=2026-11-02");
    let commit_dir = std::fs::read_dir(&day2).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(commit_dir.join("part-00000.parquet"), commit_dir.join("stray.parquet")).unwrap();
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", by_day]), "ingest_date,n\n2026-11-01,310\n2026-11-02,50\n");

    // With day 2's data gone, a query filtered to day 1 still runs: day 2's files are never opened.
    std::fs::remove_dir_all(&day2).unwrap();
    let day1 = "SELECT count(*) AS n, min(customer_id) AS first FROM customer_data.customer_base_raw \
                WHERE ingest_date = DATE '2026-11-01' AND customer_id <> ''";
    assert_eq!(p.ok(&["sql", "--format", "csv", "-c", day1]), "n,first\n310,C0000001\n");
    let all = p.run(&["sql", "-c", "SELECT max(email) FROM customer_data.customer_base_raw"]);
    assert_fails(&all, 1, "not found");
}

#[test]
fn catalog_list_show_and_validate() {
    let p = TestProject::new();
    p.ok(&["run"]);
    let list = p.ok(&["catalog", "list", "--format", "csv"]);
    assert!(list.starts_with("database,table,partition_keys,location,version,partitions,files,rows,bytes\n"), "{list}");
    assert!(
        list.contains("customer_data,customer_base_raw,ingest_date date,customer_data/customer_base_raw/,1,1,2,360,"),
        "{list}"
    );

    let show = p.run(&["catalog", "show", "customer_data.regions"]);
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("catalog/customer_data/regions.json")).unwrap())
            .unwrap();
    assert_eq!(shown, file);
    assert!(stderr(&show).contains("version 1"), "{}", stderr(&show));

    assert_eq!(p.ok(&["catalog", "validate"]), "17 table definition(s) valid, 0 invalid\n");
    p.write(
        "catalog/customer_data/broken.json",
        r#"{"Name":"broken","StorageDescriptor":{"Columns":[{"Name":"a","Type":"strng"}]}}"#,
    );
    let bad = p.run(&["catalog", "validate"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(stdout(&bad), "17 table definition(s) valid, 1 invalid\n");
    assert!(
        stderr(&bad).contains("broken.json: StorageDescriptor.Columns[0].Type: invalid type `strng`"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn query_errors_exit_1_with_one_line() {
    let p = TestProject::new();
    let unknown = p.run(&["sql", "-c", "SELECT nope()"]);
    assert_fails(&unknown, 1, "Invalid function 'nope'");
    assert_eq!(stderr(&unknown).matches("Invalid function").count(), 1, "each cause once: {}", stderr(&unknown));
    assert_fails(&p.run(&["sql", "-c", "SELEC 1"]), 1, "SELEC");
    assert_fails(&p.run(&["sql", "-c", "SELECT * FROM customer_data.nope"]), 1, "nope");
    assert_fails(&p.run(&["sql", "-c", "SELECT no_such_column FROM customer_data.regions"]), 1, "no_such_column");
    p.write("corrupt.parquet", "PAR1 this is not parquet at all PAR1");
    assert_fails(&p.run(&["sql", "-c", "SELECT * FROM 'corrupt.parquet'"]), 1, "corrupt.parquet");
    assert_fails(&p.run(&["catalog", "show", "customer_data.nope"]), 1, "customer_data.nope is not in the registry");
}

#[test]
fn configuration_and_usage_errors_exit_2_naming_the_problem() {
    let p = TestProject::new();
    p.write("glaux.toml", "[warehouse]\nlocation = \"warehouse\"\nbukket = \"x\"\n");
    assert_fails(&p.run(&["sql", "-c", "SELECT 1"]), 2, "glaux.toml:3: unknown field `bukket`");

    let p = TestProject::new();
    p.write(
        "catalog/customer_data/regions.json",
        "{\"Name\": \"regions\",\n  \"StorageDescriptor\": {\"Columns\": [}\n",
    );
    assert_fails(&p.run(&["sql", "-c", "SELECT 1"]), 2, "regions.json:2:");

    let p = TestProject::new();
    p.write("catalog/system/job_runs.json", "{}");
    assert_fails(&p.run(&["sql", "-c", "SELECT 1"]), 2, "the database name `system` is reserved");

    let p = TestProject::new();
    p.write("sql/broken_job.toml", "sql = \"customer_data_cleansing.sql\"\ninputs = [\"customer_data.nope\"]\n");
    assert_fails(&p.run(&["job", "list"]), 2, "broken_job.toml: line 1: missing field `output`");
    p.write(
        "sql/broken_job.toml",
        "sql = \"customer_data_cleansing.sql\"\ninputs = [\"customer_data.nope\"]\noutput = \"customer_data.regions\"\nwrite_mode = \"overwrite\"\n",
    );
    assert_fails(&p.run(&["job", "run", "--all"]), 2, "input customer_data.nope is not in the registry");
    std::fs::remove_file(p.path().join("sql/broken_job.toml")).unwrap();
    assert_fails(
        &p.run(&["job", "run", "no_such_job"]),
        2,
        "no job named no_such_job in sql/; the jobs are: customer_data_cleansing, customer_feature_engineering",
    );

    let p = TestProject::new();
    assert_fails(&p.run(&["sql", "-f", "missing.sql"]), 2, "cannot read SQL file missing.sql");
    assert_fails(&p.run(&["sql", "--warehouse", "ftp://x/y", "-c", "SELECT 1"]), 2, "unsupported warehouse location");
    let unknown = p.run(&["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    let init_again = p.run(&["init", p.path().to_str().unwrap()]);
    assert_fails(&init_again, 2, "already holds a glaux project");
    let plain_http =
        p.glaux().args(["sql", "-c", "SELECT 1"]).env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").output().unwrap();
    assert_fails(&plain_http, 2, "AWS_ALLOW_HTTP");
}

#[test]
fn bad_csv_rows_go_to_rejects_with_file_line_and_reason() {
    let p = TestProject::new();
    let missing = p.write("missing_col.csv", "region_code,region_name,country\nX,Y,ZZ\n");
    assert_fails(
        &p.run(&["ingest", "csv", missing.to_str().unwrap(), "--table", "customer_data.regions"]),
        1,
        "column `vat_rate` of customer_data.regions is missing from the header",
    );
    let mut mixed =
        b"region_code,region_name,country,vat_rate\nGOOD,Fine,DE,0.19\nX,Y,ZZ,lots\nA,\"B, with comma\",CC,0.1,extra\n"
            .to_vec();
    mixed.extend_from_slice(b"L1,M\xfcnchen,DE,0.19\nOK2,\"Two\nlines\",FR,0.2\n");
    std::fs::write(p.path().join("mixed.csv"), mixed).unwrap();
    let load = p.run(&["ingest", "csv", "mixed.csv", "--table", "customer_data.regions"]);
    assert!(load.status.success(), "{}", stderr(&load));
    assert!(stdout(&load).contains("rows read 5, written 2, rejected 3"), "{}", stdout(&load));
    assert!(stderr(&load).contains("3 row(s) rejected; see them with: glaux sql"), "{}", stderr(&load));
    let sql =
        "SELECT table_name, source_file, line, byte_offset, reason, record FROM system.ingest_rejects ORDER BY line";
    let rejects = p.ok(&["sql", "--format", "csv", "-c", sql]);
    let expected = "table_name,source_file,line,byte_offset,reason,record\n\
        customer_data.regions,mixed.csv,3,59,\"column `vat_rate`: `lots` is not a valid decimal(5,4)\",\"X,Y,ZZ,lots\"\n\
        customer_data.regions,mixed.csv,4,71,\"expected 4 fields as in the header, found 5\",\"A,\"\"B, with comma\"\",CC,0.1,extra\"\n\
        customer_data.regions,mixed.csv,5,102,field 2 (`region_name`) is not valid UTF-8 at byte 1 of the field; re-export the file as UTF-8,\"L1,M\u{fffd}nchen,DE,0.19\"\n";
    assert_eq!(rejects, expected);
    let loaded = "SELECT region_code, region_name FROM customer_data.regions ORDER BY 1";
    assert_eq!(
        p.ok(&["sql", "--format", "csv", "-c", loaded]),
        "region_code,region_name\nGOOD,Fine\nOK2,\"Two\nlines\"\n"
    );
    let runs =
        "SELECT kind, name, status, rows_in, rows_out, rows_rejected FROM system.job_runs WHERE status <> 'failed'";
    assert_eq!(
        p.ok(&["sql", "--format", "csv", "-c", runs]),
        "kind,name,status,rows_in,rows_out,rows_rejected\ningest,customer_data.regions,succeeded,5,2,3\n"
    );
}

#[test]
fn help_is_there_for_every_command() {
    let p = TestProject::new();
    for args in [
        vec!["--help"],
        vec!["sql", "--help"],
        vec!["catalog", "--help"],
        vec!["ingest", "csv", "--help"],
        vec!["run", "--help"],
        vec!["job", "--help"],
        vec!["job", "run", "--help"],
        vec!["job", "history", "--help"],
    ] {
        let out = p.ok(&args);
        assert!(out.contains("Usage: glaux"), "{args:?}: {out}");
    }
}

#[test]
fn generated_exports_load_whole_into_the_raw_table() {
    let p = TestProject::new();
    let out = p.ok(&["demo", "generate", "--customers", "2000", "--seed", "3", "--out", "gen"]);
    let rows: Vec<usize> =
        out.lines().map(|l| l.rsplit(": ").next().unwrap().trim_end_matches(" rows").parse().unwrap()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    let load = p.ok(&[
        "ingest",
        "csv",
        "gen/crm_export_2026-11-01.csv",
        "gen/crm_export_2026-11-15.csv",
        "--table",
        "customer_data.customer_base_raw",
    ]);
    let counts: Vec<u64> = load
        .split("rows read ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .split(", ")
        .map(|part| part.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    let (read, written, rejected) = (counts[0], counts[1], counts[2]);
    assert_eq!(read as usize, rows[0] + rows[1], "{load}");
    assert!(rejected > 0 && written + rejected == read, "{load}");
    let sql = "SELECT count(*) AS n, sum(CASE WHEN notes LIKE '%\n%' THEN 1 ELSE 0 END) > 0 AS multiline, \
               (SELECT count(*) FROM system.ingest_rejects) AS rejects FROM customer_data.customer_base_raw";
    assert_eq!(
        p.ok(&["sql", "--format", "csv", "-c", sql]),
        format!("n,multiline,rejects\n{written},true,{rejected}\n")
    );
    assert_eq!(
        p.ok(&["demo", "generate", "--customers", "2000", "--seed", "3", "--out", "gen2"]),
        out.replace("gen/", "gen2/")
    );
    assert_eq!(
        std::fs::read(p.path().join("gen/crm_export_2026-11-15.csv")).unwrap(),
        std::fs::read(p.path().join("gen2/crm_export_2026-11-15.csv")).unwrap()
    );
}
