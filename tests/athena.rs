//! Athena's SQL in glaux: queries written as an Athena user writes them, run unchanged over the
//! demo tables, and the statements that write through the registry (CTAS, INSERT, DROP) read
//! back by DuckDB and pyarrow and interrupted by `kill -9`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{TestProject, stderr, stdout};

/// A project with the sample data loaded and the jobs run.
fn loaded() -> TestProject {
    let p = TestProject::new();
    p.ok(&["run"]);
    p
}

fn csv(p: &TestProject, sql: &str) -> String {
    p.ok(&["sql", "--format", "csv", "-c", sql])
}

/// Athena queries over the demo tables, each beside the same question asked in plain SQL that
/// uses none of glaux's Athena functions or rewrites: both must give the same rows.
pub(crate) const WORKLOAD: &[(&str, &str)] = &[
    (
        "SELECT date_format(signup_date, '%Y-%m') AS month, count(*) AS n FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
        "SELECT to_char(signup_date, '%Y-%m') AS month, count(*) AS n FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT year(signup_date) AS y, quarter(signup_date) AS q, count_if(email_valid) AS valid, count(*) AS n \
         FROM customer_data.customer_base_cleaned GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT CAST(date_part('year', signup_date) AS BIGINT), CAST(date_part('quarter', signup_date) AS BIGINT), \
         count(*) FILTER (WHERE email_valid), count(*) FROM customer_data.customer_base_cleaned GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (
        "SELECT customer_id, date_diff('day', signup_date, last_order_date) AS days FROM customer_data.customer_base_cleaned \
         WHERE last_order_date IS NOT NULL ORDER BY customer_id LIMIT 20",
        "SELECT customer_id, CAST(last_order_date - signup_date AS BIGINT) FROM customer_data.customer_base_cleaned \
         WHERE last_order_date IS NOT NULL ORDER BY customer_id LIMIT 20",
    ),
    (
        "SELECT split_part(email, '@', 2) AS domain, count(*) FROM customer_data.customer_base_cleaned \
         WHERE email IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
        "SELECT email_domain, count(*) FROM customer_data.customer_base_cleaned WHERE email IS NOT NULL \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
    ),
    (
        "SELECT regexp_extract(customer_id, '^C(\\d{3})', 1) AS prefix, count(*) FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
        "SELECT substr(customer_id, 2, 3), count(*) FROM customer_data.customer_base_cleaned GROUP BY 1 ORDER BY 1",
    ),
    (
        // The key is unique (customer ids are), so the answer has no ties to break.
        "SELECT region, max_by(customer_id, total_spent * 1000 + CAST(substr(customer_id, 2) AS BIGINT)) AS top, \
         min_by(customer_id, total_spent * 1000 + CAST(substr(customer_id, 2) AS BIGINT)) AS bottom \
         FROM customer_data.customer_base_cleaned WHERE total_spent IS NOT NULL AND region IS NOT NULL GROUP BY 1 ORDER BY 1",
        "SELECT region, first_value(customer_id ORDER BY total_spent DESC, customer_id DESC), \
         first_value(customer_id ORDER BY total_spent, customer_id) FROM customer_data.customer_base_cleaned \
         WHERE total_spent IS NOT NULL AND region IS NOT NULL GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT if(total_spent > 1000, 'high', 'low') AS band, count(*) FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
        "SELECT CASE WHEN total_spent > 1000 THEN 'high' ELSE 'low' END, count(*) FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT customer_id, element_at(split(full_name, ' '), -1) AS last_word FROM customer_data.customer_base_cleaned \
         WHERE full_name IS NOT NULL ORDER BY 1 LIMIT 15",
        "SELECT customer_id, array_element(string_to_array(full_name, ' '), CAST(array_length(string_to_array(full_name, ' ')) AS BIGINT)) \
         FROM customer_data.customer_base_cleaned WHERE full_name IS NOT NULL ORDER BY 1 LIMIT 15",
    ),
    (
        "SELECT c.region, u.word, count(*) AS n FROM customer_data.customer_base_cleaned AS c \
         CROSS JOIN UNNEST(split(lower(c.full_name), ' ')) AS u(word) WHERE c.region = 'EU-DE' GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 5",
        "SELECT region, word, count(*) FROM (SELECT region, unnest(string_to_array(lower(full_name), ' ')) AS word \
         FROM customer_data.customer_base_cleaned WHERE region = 'EU-DE') GROUP BY 1, 2 ORDER BY 3 DESC, 2 LIMIT 5",
    ),
    (
        "SELECT json_extract_scalar(j, '$.region') AS region, round(sum(CAST(json_extract_scalar(j, '$.spent') AS DOUBLE)), 2) AS spent \
         FROM (SELECT '{\"region\": \"' || region || '\", \"spent\": ' || CAST(total_spent AS VARCHAR) || '}' AS j \
               FROM customer_data.customer_base_cleaned WHERE region IS NOT NULL AND total_spent IS NOT NULL) \
         GROUP BY 1 ORDER BY 1",
        "SELECT region, round(sum(CAST(total_spent AS DOUBLE)), 2) FROM customer_data.customer_base_cleaned \
         WHERE region IS NOT NULL AND total_spent IS NOT NULL GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT x, x * 2 FROM (VALUES 1, 2, 3) AS t(x) ORDER BY x",
        "SELECT column1, column1 * 2 FROM (VALUES (1), (2), (3)) ORDER BY 1",
    ),
    (
        "SELECT try(CAST(total_spent AS BIGINT) / (order_count - order_count)) IS NULL AS nothing, count(*) \
         FROM customer_data.customer_base_cleaned GROUP BY 1",
        "SELECT true, count(*) FROM customer_data.customer_base_cleaned",
    ),
    (
        "SELECT to_hex(md5(to_utf8(customer_id))) AS h FROM customer_data.customer_base_cleaned ORDER BY customer_id LIMIT 5",
        "SELECT upper(encode(digest(customer_id, 'md5'), 'hex')) FROM customer_data.customer_base_cleaned ORDER BY customer_id LIMIT 5",
    ),
    (
        "SELECT day_of_week(signup_date) AS dow, count(*) FROM customer_data.customer_base_cleaned GROUP BY 1 ORDER BY 1",
        "SELECT CAST(date_part('isodow', signup_date) AS BIGINT), count(*) FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT date_trunc('month', date_add('day', 45, signup_date)) AS m, count(*) FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
        "SELECT date_trunc('month', signup_date + INTERVAL '45' DAY), count(*) FROM customer_data.customer_base_cleaned \
         GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT region_code, contains(ARRAY['EU-DE', 'EU-FR'], region_code) FROM customer_data.regions ORDER BY 1",
        "SELECT region_code, array_has(make_array('EU-DE', 'EU-FR'), region_code) FROM customer_data.regions ORDER BY 1",
    ),
    ("SELECT cardinality(filter(transform(sequence(1, 10), x -> x * x), y -> y % 2 = 0))", "SELECT 5"),
    (
        "SELECT approx_percentile(order_count, 0.5) BETWEEN min(order_count) AND max(order_count) \
         FROM customer_data.customer_base_cleaned",
        "SELECT true",
    ),
];

/// Asserts that each Athena query gives rows, the same rows as its plain-SQL formulation.
fn same_rows(p: &TestProject, workload: &[(&str, &str)]) {
    let rows = |text: &str| text.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
    for (athena, plain) in workload {
        let (ours, theirs) = (rows(&csv(p, athena)), rows(&csv(p, plain)));
        assert!(!ours.is_empty(), "{athena}: no rows");
        assert_eq!(ours, theirs, "{athena}\nbeside\n{plain}");
    }
}

#[test]
fn an_athena_workload_runs_unchanged() {
    let p = loaded();
    same_rows(&p, WORKLOAD);
}

#[test]
fn ctas_insert_show_describe_and_drop_go_through_the_registry() {
    let p = loaded();
    let out = csv(
        &p,
        "CREATE DATABASE analytics; \
         CREATE TABLE analytics.by_region WITH (format = 'PARQUET', partitioned_by = ARRAY['region']) AS \
           SELECT count(*) AS customers, sum(total_spent) AS spent, region \
           FROM customer_data.customer_base_cleaned WHERE region IS NOT NULL GROUP BY region",
    );
    assert_eq!(out, "count\n6\n");
    assert!(p.path().join("catalog/analytics/by_region.json").is_file());
    // What the CTAS wrote (one commit), read by DuckDB and pyarrow from the warehouse.
    let root = p.path().join("warehouse/analytics/by_region");
    let readers = r#"
import sys, duckdb, pyarrow.dataset as ds
root = sys.argv[1]
d = duckdb.sql(f"SELECT sum(customers) FROM read_parquet('{root}/**/*.parquet', hive_partitioning = true)").fetchall()[0][0]
a = ds.dataset(root, format="parquet", partitioning="hive").to_table().column("customers").to_pylist()
print(d, sum(a))
"#;
    let output = Command::new("python3").args(["-c", readers, root.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let total = csv(&p, "SELECT sum(customers) FROM analytics.by_region");
    let total = total.lines().nth(1).unwrap();
    assert_eq!(stdout(&output).trim(), format!("{total} {total}"));

    assert_eq!(csv(&p, "INSERT INTO analytics.by_region VALUES (1, 2.5, 'ZZ-TOP'), (2, 1.0, 'EU-DE')"), "count\n2\n");
    assert_eq!(
        csv(
            &p,
            "SELECT region, sum(customers) FROM analytics.by_region WHERE region IN ('EU-DE', 'ZZ-TOP') GROUP BY 1 ORDER BY 1"
        ),
        format!(
            "region,sum(analytics.by_region.customers)\nEU-DE,{}\nZZ-TOP,1\n",
            csv(&p, "SELECT count(*) + 2 FROM customer_data.customer_base_cleaned WHERE region = 'EU-DE'")
                .lines()
                .nth(1)
                .unwrap()
        )
    );
    // A table without partitions keeps every row too, from a CTAS and from INSERT.
    let regions = csv(&p, "SELECT count(*) FROM customer_data.regions");
    assert_eq!(
        csv(&p, "CREATE TABLE analytics.regions_copy AS SELECT region_code, region_name FROM customer_data.regions"),
        regions.replacen("count(*)", "count", 1)
    );
    assert_eq!(csv(&p, "SELECT count(*) FROM analytics.regions_copy"), regions);
    assert_eq!(csv(&p, "INSERT INTO analytics.regions_copy VALUES ('ZZ', 'Nowhere')"), "count\n1\n");
    assert_eq!(
        csv(&p, "SELECT region_name FROM analytics.regions_copy WHERE region_code = 'ZZ'"),
        "region_name\nNowhere\n"
    );
    let partitions = csv(&p, "SHOW PARTITIONS analytics.by_region");
    assert_eq!(partitions.lines().count(), 1 + 7, "{partitions}");
    assert!(partitions.contains("region=ZZ-TOP"), "{partitions}");
    let described = csv(&p, "DESCRIBE analytics.by_region");
    assert!(described.contains("customers,bigint,") && described.contains("# Partition Information"), "{described}");
    let ddl = csv(&p, "SHOW CREATE TABLE analytics.by_region");
    assert!(ddl.contains("PARTITIONED BY") && ddl.contains("`region` string"), "{ddl}");
    assert!(csv(&p, "SHOW TABLES IN analytics").contains("by_region"));

    // Names are validated and what Athena refuses is refused.
    for (sql, expected) in [
        ("CREATE TABLE analytics.by_region AS SELECT 1 AS a", "already exists"),
        ("CREATE TABLE missing.t AS SELECT 1 AS a", "CREATE DATABASE missing"),
        ("CREATE TABLE analytics.t WITH (format = 'ORC') AS SELECT 1 AS a", "Parquet"),
        ("CREATE TABLE analytics.t WITH (partitioned_by = ARRAY['a']) AS SELECT 1 AS a, 2 AS b", "last columns"),
        ("CREATE TABLE analytics.t WITH (external_location = '../../etc/') AS SELECT 1 AS a", "inside the warehouse"),
        ("INSERT INTO analytics.by_region VALUES (1, 2)", "3 columns"),
        ("CREATE DATABASE system", "reserved"),
        ("MSCK REPAIR TABLE analytics.by_region", "not needed"),
        ("ALTER TABLE analytics.by_region ADD PARTITION (region = 'x')", "through commits"),
        ("DELETE FROM analytics.by_region WHERE customers = 1", "CREATE TABLE … AS SELECT"),
        ("CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '/tmp/x/'", "catalog pull"),
    ] {
        let output = p.run(&["sql", "-c", sql]);
        assert!(!output.status.success(), "{sql} succeeded");
        assert!(stderr(&output).contains(expected), "{sql}: {}", stderr(&output));
        assert_eq!(stderr(&output).lines().count(), 1, "{sql}: {}", stderr(&output));
    }

    p.ok(&["sql", "-c", "DROP TABLE analytics.by_region"]);
    assert!(!p.path().join("catalog/analytics/by_region.json").exists());
    p.ok(&["sql", "-c", "DROP TABLE IF EXISTS analytics.by_region"]);
}

/// A CTAS killed at any moment leaves either no table or the whole table, never a part.
#[test]
fn ctas_killed_midway_leaves_no_table_half_created() {
    let p = loaded();
    p.ok(&["sql", "-c", "CREATE DATABASE big"]);
    let ctas = "CREATE TABLE big.numbers WITH (partitioned_by = ARRAY['bucket']) AS \
                SELECT value AS n, value % 8 AS bucket FROM generate_series(1, 3000000)";
    let mut killed = 0;
    for delay_ms in [150u64, 400, 700, 1000, 1500] {
        let mut child =
            p.glaux().args(["sql", "-c", ctas]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        if p.path().join("catalog/big/numbers.json").exists() {
            // The CTAS finished before the kill: the table is whole.
            assert_eq!(csv(&p, "SELECT count(*) FROM big.numbers"), "count(*)\n3000000\n");
            p.ok(&["sql", "-c", "DROP TABLE big.numbers"]);
        } else {
            assert!(!csv(&p, "SHOW TABLES IN big").contains("numbers"));
        }
    }
    assert!(killed > 0, "every CTAS finished before it could be killed");
    p.ok(&["sql", "-c", ctas]);
    assert_eq!(
        csv(&p, "SELECT count(*), count(DISTINCT bucket) FROM big.numbers"),
        "count(*),count(DISTINCT big.numbers.bucket)\n3000000,8\n"
    );
}

/// UNLOAD to a local directory and to S3 (moto): partitioned Parquet DuckDB reads, text with the
/// chosen delimiter, and a destination that already holds files refused.
#[test]
fn unload_writes_files_under_an_empty_prefix() {
    let p = loaded();
    let local = p.dir.path().join("unloaded");
    let query =
        "SELECT customer_id, total_spent, region FROM customer_data.customer_base_cleaned WHERE region IS NOT NULL";
    let unload = format!(
        "UNLOAD ({query}) TO '{}' WITH (format = 'PARQUET', partitioned_by = ARRAY['region'])",
        local.display()
    );
    let count = csv(&p, &format!("SELECT count(*) FROM ({query})"));
    let count = count.lines().nth(1).unwrap();
    assert_eq!(csv(&p, &unload), format!("count\n{count}\n"));
    let reader = format!(
        "import duckdb; print(duckdb.sql(\"SELECT count(*), count(DISTINCT region) FROM read_parquet('{}/**/*.parquet', hive_partitioning = true)\").fetchall()[0])",
        local.display()
    );
    let output = Command::new("python3").args(["-c", &reader]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), format!("({count}, 6)"));
    let again = p.run(&["sql", "-c", &unload]);
    assert!(stderr(&again).contains("empty"), "{}", stderr(&again));

    let text = p.dir.path().join("text");
    csv(
        &p,
        &format!(
            "UNLOAD (SELECT 1 AS a, 'x' AS b) TO '{}' WITH (format = 'TEXTFILE', field_delimiter = '|')",
            text.display()
        ),
    );
    let files: Vec<_> = std::fs::read_dir(&text).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "1|x\n");

    let moto = crate::support::Moto::start();
    moto.create_bucket("exports");
    let mut command = p.glaux();
    command.envs(moto.env()).args([
        "sql",
        "--format",
        "csv",
        "-c",
        &format!(
            "UNLOAD ({query}) TO 's3://exports/customers/' WITH (format = 'PARQUET', partitioned_by = ARRAY['region'])"
        ),
    ]);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let keys = moto.python("import boto3; print(sorted({k['Key'].split('/')[1] for k in boto3.client('s3').list_objects_v2(Bucket='exports')['Contents']}))");
    assert_eq!(
        keys.trim(),
        "['region=APAC-CN', 'region=APAC-JP', 'region=EU-DE', 'region=EU-ES', 'region=EU-FR', 'region=NA-US']"
    );
}

/// Views: planned in their own database when a query names them, over other views too, replaced,
/// described and dropped; a view that reads itself fails with a message.
#[test]
fn views_are_stored_in_the_registry_and_planned_when_read() {
    let p = loaded();
    csv(
        &p,
        "CREATE DATABASE analytics; \
         CREATE VIEW analytics.sizes AS SELECT region, count(*) AS n, if(count(*) > 45, 'big', 'small') AS size \
           FROM customer_data.customer_base_cleaned WHERE region IS NOT NULL GROUP BY region; \
         CREATE VIEW analytics.big AS SELECT region FROM sizes WHERE size = 'big'",
    );
    let big = csv(&p, "SELECT region FROM analytics.big ORDER BY 1");
    let expected = csv(
        &p,
        "SELECT region FROM customer_data.customer_base_cleaned WHERE region IS NOT NULL GROUP BY region HAVING count(*) > 45 ORDER BY 1",
    );
    assert_eq!(big, expected);
    assert_eq!(csv(&p, "SHOW TABLES IN analytics"), "tab_name\nbig\nsizes\n");
    assert!(csv(&p, "DESCRIBE analytics.sizes").contains("n,bigint,"));
    assert!(csv(&p, "SHOW CREATE VIEW analytics.big").contains("SELECT region FROM sizes WHERE size = 'big'"));

    csv(&p, "CREATE OR REPLACE VIEW analytics.big (r) AS SELECT region FROM sizes WHERE size = 'small'");
    assert!(csv(&p, "SELECT * FROM analytics.big").starts_with("r\n"));
    let again = p.run(&["sql", "-c", "CREATE VIEW analytics.big AS SELECT 1 AS x"]);
    assert!(stderr(&again).contains("CREATE OR REPLACE VIEW"), "{}", stderr(&again));
    let as_table = p.run(&["sql", "-c", "DROP TABLE analytics.big"]);
    assert!(stderr(&as_table).contains("use DROP VIEW"), "{}", stderr(&as_table));

    csv(&p, "CREATE OR REPLACE VIEW analytics.sizes AS SELECT * FROM big");
    let looped = p.run(&["sql", "-c", "SELECT * FROM analytics.big"]);
    assert!(stderr(&looped).contains("refers to itself"), "{}", stderr(&looped));

    csv(&p, "DROP VIEW analytics.big; DROP VIEW analytics.sizes; DROP VIEW IF EXISTS analytics.sizes");
    assert_eq!(csv(&p, "SHOW TABLES IN analytics"), "tab_name\n");
}

/// Athena queries over the log tables, as an analyst writes them: sessions per user by gaps in
/// time, percentiles, statement shapes by regular expression, attributes from the map column,
/// nested arrays. Each beside a plain-SQL formulation.
const LOG_WORKLOAD: &[(&str, &str)] = &[
    (
        "SELECT user, count(*) AS sessions FROM (\
           SELECT user, ts, if(date_diff('second', lag(ts) OVER (PARTITION BY user ORDER BY ts), ts) > 1800 \
             OR lag(ts) OVER (PARTITION BY user ORDER BY ts) IS NULL, 1, 0) AS starts \
           FROM aurora_logs.mysql_slow_log WHERE ts IS NOT NULL AND user IS NOT NULL) \
         WHERE starts = 1 GROUP BY 1 ORDER BY 1",
        "SELECT user, count(*) FROM (\
           SELECT user, ts, CASE WHEN ts - lag(ts) OVER (PARTITION BY user ORDER BY ts) > INTERVAL '1800' SECOND \
             OR lag(ts) OVER (PARTITION BY user ORDER BY ts) IS NULL THEN 1 ELSE 0 END AS starts \
           FROM aurora_logs.mysql_slow_log WHERE ts IS NOT NULL AND user IS NOT NULL) \
         WHERE starts = 1 GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT upper(regexp_extract(sql_text, '^\\s*(\\w+)', 1)) AS verb, count(*) AS n, \
           round(sum(query_time_s), 6) AS total FROM aurora_logs.mysql_slow_log GROUP BY 1 ORDER BY 2 DESC, 1",
        "SELECT upper(regexp_match(sql_text, '^\\s*(\\w+)')[1]), count(*), round(sum(query_time_s), 6) \
         FROM aurora_logs.mysql_slow_log GROUP BY 1 ORDER BY 2 DESC, 1",
    ),
    (
        "SELECT date_format(ts, '%Y-%m-%d %H:00') AS hour, count(*) FROM aurora_logs.mysql_slow_log \
         WHERE ts IS NOT NULL GROUP BY 1 ORDER BY 1",
        "SELECT to_char(date_trunc('hour', ts), '%Y-%m-%d %H:00'), count(*) FROM aurora_logs.mysql_slow_log \
         WHERE ts IS NOT NULL GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT k, count(*) FROM aurora_logs.mysql_slow_log CROSS JOIN UNNEST(attributes) AS a(k, v) GROUP BY 1 ORDER BY 1",
        "SELECT k, count(*) FROM (SELECT unnest(map_keys(attributes)) AS k FROM aurora_logs.mysql_slow_log) GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT count_if(element_at(attributes, 'Full_scan') = 'Yes'), count(*) FROM aurora_logs.mysql_slow_log",
        "SELECT count(*) FILTER (WHERE attributes['Full_scan'] = 'Yes'), count(*) FROM aurora_logs.mysql_slow_log",
    ),
    (
        "SELECT db, cardinality(array_agg(DISTINCT user)) AS users, max_by(sql_text, query_time_s) IS NOT NULL \
         FROM aurora_logs.mysql_slow_log WHERE db IS NOT NULL GROUP BY 1 ORDER BY 1",
        "SELECT db, count(DISTINCT user), true FROM aurora_logs.mysql_slow_log WHERE db IS NOT NULL GROUP BY 1 ORDER BY 1",
    ),
    (
        "SELECT approx_percentile(query_time_s, ARRAY[0.0, 1.0]) FROM aurora_logs.mysql_slow_log",
        "SELECT make_array(min(query_time_s), max(query_time_s)) FROM aurora_logs.mysql_slow_log",
    ),
    (
        "SELECT instance, log_date, count(*) FROM aurora_logs.mysql_slow_log \
         WHERE log_date >= date_add('day', -36500, current_date) GROUP BY 1, 2 ORDER BY 2 LIMIT 5",
        "SELECT instance, log_date, count(*) FROM aurora_logs.mysql_slow_log GROUP BY 1, 2 ORDER BY 2 LIMIT 5",
    ),
    (
        "SELECT json_extract_scalar(j, '$.user'), json_array_length(json_extract(j, '$.rows')) FROM (\
           SELECT '{\"user\": \"' || coalesce(user, '') || '\", \"rows\": [' || CAST(coalesce(rows_sent, 0) AS VARCHAR) || ', ' \
             || CAST(coalesce(rows_examined, 0) AS VARCHAR) || ']}' AS j FROM aurora_logs.mysql_slow_log) GROUP BY 1, 2 ORDER BY 1",
        "SELECT coalesce(user, ''), 2 FROM aurora_logs.mysql_slow_log GROUP BY 1, 2 ORDER BY 1",
    ),
];

#[test]
fn an_athena_workload_over_the_log_tables_runs_unchanged() {
    let p = TestProject::new();
    let logs = tempfile::tempdir().unwrap();
    let source = crate::support::repo_root().join("tests/fixtures/percona/slowlogs");
    for name in ["slow002.txt", "slow006.txt", "slow018.txt", "slow025.txt", "slow032.txt", "slow053.txt"] {
        std::fs::create_dir_all(logs.path().join("slowquery")).unwrap();
        std::fs::copy(source.join(name), logs.path().join("slowquery").join(name)).unwrap();
    }
    p.ok(&["ingest", "aurora", "--dir", logs.path().to_str().unwrap(), "--instance", "db-1"]);
    assert!(csv(&p, "SELECT count(*) > 20 FROM aurora_logs.mysql_slow_log").contains("true"));
    same_rows(&p, LOG_WORKLOAD);
}
