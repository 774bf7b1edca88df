//! `glaux logs report`: what pt-query-digest and pgBadger users look for, from the digest
//! tables only (so a month of logs reports in seconds), as one self-contained HTML page or the
//! same numbers as JSON.
//!
//! Sections: overview (calls, query time, QPS and p50 / p95 / p99 over the range, merged from
//! the latency sketches, so they are the range's percentiles within 1 %); traffic and latency
//! per hour; the top query classes by total time, by calls and by p95 with pt-query-digest's
//! time distribution; calls by database, user and host; errors by day and by class; and
//! PostgreSQL activity (connections, temp files, checkpoints, lock waits, vacuums). Charts are
//! drawn by Chart.js, inlined in the page with the data, so it opens with no network.

use chrono::{Days, NaiveDate};
use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use super::DATABASE;
use crate::catalog::Registry;

/// Chart.js 4.6.1 (MIT licence, `assets/chart.js/LICENSE.md`), inlined in every report.
const CHART_JS: &str = include_str!("../../assets/chart.js/chart.umd.min.js");
/// The page: styles, layout and the script that draws the data.
const PAGE: &str = include_str!("report.html");

/// The days a report covers; None on a side means open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
}

impl Range {
    /// `--since 7d` (the last 7 days, today included; `24h` is today and yesterday) or
    /// `--from` / `--to`.
    pub fn resolve(since: Option<&str>, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Range, String> {
        let Some(since) = since else {
            return Ok(Range { from, to });
        };
        let today = chrono::Utc::now().date_naive();
        let bad = || format!("`{since}` is not an age such as 7d, 30d or 24h");
        let (number, unit) = since.split_at(since.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let days = match unit {
            "d" => number,
            "h" => number.div_ceil(24),
            "w" => number * 7,
            _ => return Err(bad()),
        };
        if days == 0 {
            return Err(bad());
        }
        let from = today.checked_sub_days(Days::new(days - 1)).ok_or_else(bad)?;
        Ok(Range { from: Some(from), to: Some(today) })
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No digest table exists.
    #[error(
        "the registry has no digest tables (aurora_logs.mysql_query_digest, …): run `glaux init` in a new directory for the definitions and jobs, then `glaux run`"
    )]
    NoDigests,
    /// A query failed.
    #[error("report query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// The JSON of a result could not be read.
    #[error("report data: {0}")]
    Json(String),
}

impl crate::error::Categorize for ReportError {
    fn category(&self) -> crate::error::Category {
        match self {
            ReportError::NoDigests => crate::error::Category::Usage,
            _ => crate::error::Category::Data,
        }
    }
}

/// The digest tables a report reads, each family the union of its MySQL and PostgreSQL tables,
/// and the columns it needs of them (the slowest statements are read apart, for the classes
/// shown only).
const FAMILIES: [(&str, &[&str], &str); 4] = [
    (
        "digest",
        &["mysql_query_digest", "postgres_query_digest"],
        "engine, db, user, host, query_id, fingerprint, calls, total_s, max_s, latency_sketch, lock_s, rows_sent,
         rows_examined, first_seen, last_seen, instance, log_date",
    ),
    ("timeline", &["mysql_query_timeline", "postgres_query_timeline"], "engine, hour, calls, total_s, latency_sketch"),
    ("errors", &["mysql_error_summary", "postgres_error_summary"], "*"),
    ("activity", &["postgres_activity"], "*"),
];

/// Top rows shown per ranking.
const TOP: usize = 20;

/// The report's numbers: one list of rows per section, and what it covers.
pub async fn build(
    ctx: &SessionContext,
    registry: &Registry,
    instances: &[String],
    range: Range,
) -> Result<Value, ReportError> {
    let mut filter = vec!["TRUE".to_string()];
    if !instances.is_empty() {
        let quoted: Vec<String> = instances.iter().map(|i| format!("'{}'", i.replace('\'', "''"))).collect();
        filter.push(format!("instance IN ({})", quoted.join(", ")));
    }
    if let Some(from) = range.from {
        filter.push(format!("log_date >= DATE '{from}'"));
    }
    if let Some(to) = range.to {
        filter.push(format!("log_date <= DATE '{to}'"));
    }
    let filter = filter.join(" AND ");
    let exists = |table: &&str| registry.table(DATABASE, table).is_some();
    if !FAMILIES[0].1.iter().any(exists) {
        return Err(ReportError::NoDigests);
    }
    let mut reads = Vec::new();
    for (family, tables, columns) in FAMILIES {
        let present: Vec<&str> = tables.iter().copied().filter(exists).collect();
        let union = match present.is_empty() {
            true => empty_family(family).to_string(),
            false => present
                .iter()
                .map(|t| format!("SELECT {columns} FROM {DATABASE}.{t} WHERE {filter}"))
                .collect::<Vec<_>>()
                .join(" UNION ALL "),
        };
        // Each family is read once (every file opened once) and kept in memory for the sections;
        // the families are read at the same time.
        reads.push(async move {
            let started = std::time::Instant::now();
            let rows = ctx.sql(&union).await?.cache().await?;
            ctx.register_table(format!("report_{family}"), rows.into_view())?;
            tracing::debug!(family, seconds = started.elapsed().as_secs_f64(), "report: digest tables read");
            Ok::<_, ReportError>(())
        });
    }
    futures::future::try_join_all(reads).await?;
    let started = std::time::Instant::now();
    let (classes, groups) =
        futures::future::try_join(ctx.sql(CLASSES).await?.cache(), ctx.sql(GROUPS).await?.cache()).await?;
    ctx.register_table("report_classes", classes.into_view())?;
    ctx.register_table("report_groups", groups.into_view())?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "report: query classes merged");

    let mut report = Map::new();
    report.insert("generated".into(), Value::String(chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string()));
    report.insert("instances".into(), Value::from(instances.to_vec()));
    report.insert("from".into(), range.from.map_or(Value::Null, |d| Value::String(d.to_string())));
    report.insert("to".into(), range.to.map_or(Value::Null, |d| Value::String(d.to_string())));
    let sections = sections();
    let computed = futures::future::try_join_all(sections.iter().map(|(name, sql)| async move {
        let started = std::time::Instant::now();
        let rows = rows(ctx, sql).await?;
        tracing::debug!(section = name, seconds = started.elapsed().as_secs_f64(), "report: section computed");
        Ok::<_, ReportError>(rows)
    }))
    .await?;
    for ((name, _), rows) in sections.iter().zip(computed) {
        report.insert(name.to_string(), Value::Array(rows));
    }
    let started = std::time::Instant::now();
    add_samples(ctx, &mut report).await?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "report: slowest statements read");
    Ok(Value::Object(report))
}

/// Puts the slowest call's statement into each class the top lists show. Statements can be
/// long, so only the day and instance that hold each class's slowest call are read for it.
async fn add_samples(ctx: &SessionContext, report: &mut Map<String, Value>) -> Result<(), ReportError> {
    let tops = ["top_by_total", "top_by_calls", "top_by_p95"];
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut classes: Vec<(String, String)> = tops
        .iter()
        .flat_map(|t| report[*t].as_array().into_iter().flatten())
        .filter_map(|c| Some((c["engine"].as_str()?.to_string(), c["query_id"].as_str()?.to_string())))
        .collect();
    classes.sort();
    classes.dedup();
    if classes.is_empty() {
        return Ok(());
    }
    let wanted: Vec<String> =
        classes.iter().map(|(engine, id)| format!("({}, {})", quote(engine), quote(id))).collect();
    let places = rows(
        ctx,
        &format!(
            "SELECT engine, query_id, max_by(instance, max_s) AS instance, CAST(max_by(log_date, max_s) AS VARCHAR) AS day
             FROM report_digest WHERE (engine, query_id) IN ({}) GROUP BY engine, query_id",
            wanted.join(", ")
        ),
    )
    .await?;
    let reads: Vec<String> = places
        .iter()
        .filter_map(|p| {
            let (engine, id, instance, day) =
                (p["engine"].as_str()?, p["query_id"].as_str()?, p["instance"].as_str()?, p["day"].as_str()?);
            let table = if engine == "postgres" { "postgres_query_digest" } else { "mysql_query_digest" };
            Some(format!(
                "SELECT engine, query_id, max_s, sample FROM {DATABASE}.{table}
                 WHERE instance = {} AND log_date = DATE {} AND query_id = {}",
                quote(instance),
                quote(day),
                quote(id)
            ))
        })
        .collect();
    if reads.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT engine, query_id, max_by(sample, max_s) AS sample FROM ({}) AS slowest GROUP BY engine, query_id",
        reads.join(" UNION ALL ")
    );
    let found: std::collections::HashMap<(String, String), Value> = rows(ctx, &sql)
        .await?
        .into_iter()
        .map(|r| ((r["engine"].to_string(), r["query_id"].to_string()), r["sample"].clone()))
        .collect();
    for top in tops {
        for class in report[top].as_array_mut().into_iter().flatten() {
            let key = (class["engine"].to_string(), class["query_id"].to_string());
            let sample = found.get(&key).cloned().unwrap_or(Value::Null);
            class.as_object_mut().map(|c| c.insert("sample".into(), sample));
        }
    }
    Ok(())
}

/// A family's columns when none of its tables exists, so the queries still run (the digest
/// family always has one: `build` stops before without it).
fn empty_family(family: &str) -> &'static str {
    match family {
        "timeline" => {
            "SELECT '' AS engine, CAST(NULL AS TIMESTAMP) AS hour, 0 AS calls, 0.0 AS total_s,
             CAST(NULL AS BYTEA) AS latency_sketch, '' AS instance, DATE '1970-01-01' AS log_date WHERE FALSE"
        }
        "errors" => {
            "SELECT '' AS engine, '' AS severity, '' AS error_code, '' AS message_class, '' AS class_id, 0 AS entries,
             CAST(NULL AS TIMESTAMP) AS first_seen, CAST(NULL AS TIMESTAMP) AS last_seen, '' AS sample,
             '' AS sample_statement, '' AS instance, DATE '1970-01-01' AS log_date WHERE FALSE"
        }
        _ => {
            "SELECT '' AS engine, CAST(NULL AS TIMESTAMP) AS hour, '' AS event, '' AS unit, 0 AS entries,
             0.0 AS amount, 0.0 AS max_amount, '' AS instance, DATE '1970-01-01' AS log_date WHERE FALSE"
        }
    }
}

/// Every query class of the range, merged across days, instances, databases, users and hosts.
const CLASSES: &str = "
    SELECT engine, query_id, min(fingerprint) AS fingerprint, sum(calls) AS calls, sum(total_s) AS total_s,
        sum(total_s) / sum(calls) AS mean_s, max(max_s) AS max_s,
        sketch_quantile(merge_sketches(latency_sketch), 0.95) AS p95_s,
        sum(lock_s) AS lock_s, sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined,
        sketch_histogram(merge_sketches(latency_sketch)) AS distribution,
        date_format(min(first_seen), '%Y-%m-%d %H:%i:%s') AS first_seen,
        date_format(max(last_seen), '%Y-%m-%d %H:%i:%s') AS last_seen,
        count(DISTINCT instance) AS instances
    FROM report_digest
    GROUP BY engine, query_id";

/// Error classes are shown most severe first (PANIC, FATAL, ERROR, warnings, then the rest),
/// the most frequent first within a severity.
const SEVERITY_RANK: &str = "CASE upper(severity) WHEN 'PANIC' THEN 0 WHEN 'FATAL' THEN 1 WHEN 'ERROR' THEN 2
    WHEN 'WARNING' THEN 3 ELSE 4 END";

/// The digest merged per engine, database, user and host: the breakdowns merge these few rows.
const GROUPS: &str = "
    SELECT engine, db, user, host, sum(calls) AS calls, sum(total_s) AS total_s,
        merge_sketches(latency_sketch) AS latency_sketch
    FROM report_digest
    GROUP BY engine, db, user, host";

/// (section, SQL) for every section of the report.
fn sections() -> Vec<(&'static str, String)> {
    let top = |order: &str| {
        format!(
            "SELECT engine, query_id, fingerprint, calls, total_s, mean_s, max_s, p95_s, lock_s, rows_sent,
                rows_examined, distribution, first_seen, last_seen, instances
             FROM report_classes ORDER BY {order} DESC, query_id LIMIT {TOP}"
        )
    };
    let breakdown = |column: &str| {
        format!(
            "SELECT engine, coalesce({column}, '(none)') AS name, sum(calls) AS calls, sum(total_s) AS total_s,
                sketch_quantile(merge_sketches(latency_sketch), 0.95) AS p95_s
             FROM report_groups GROUP BY engine, coalesce({column}, '(none)') ORDER BY total_s DESC LIMIT {TOP}"
        )
    };
    vec![
        (
            "overview",
            "SELECT engine, sum(calls) AS calls, sum(total_s) AS total_s, count(DISTINCT query_id) AS classes,
                count(DISTINCT instance) AS instances,
                sketch_quantile(merge_sketches(latency_sketch), 0.5) AS p50_s,
                sketch_quantile(merge_sketches(latency_sketch), 0.95) AS p95_s,
                sketch_quantile(merge_sketches(latency_sketch), 0.99) AS p99_s,
                date_format(min(first_seen), '%Y-%m-%d %H:%i:%s') AS first_seen,
                date_format(max(last_seen), '%Y-%m-%d %H:%i:%s') AS last_seen,
                CAST(sum(calls) AS DOUBLE)
                    / greatest(date_diff('second', min(first_seen), max(last_seen)), 1) AS mean_qps
             FROM report_digest GROUP BY engine ORDER BY engine"
                .to_string(),
        ),
        (
            "timeline",
            "SELECT engine, date_format(hour, '%Y-%m-%d %H:00') AS hour, sum(calls) AS calls,
                sum(calls) / 3600.0 AS qps, sum(total_s) AS total_s,
                sketch_quantile(merge_sketches(latency_sketch), 0.5) AS p50_s,
                sketch_quantile(merge_sketches(latency_sketch), 0.95) AS p95_s,
                sketch_quantile(merge_sketches(latency_sketch), 0.99) AS p99_s
             FROM report_timeline GROUP BY engine, hour ORDER BY hour, engine"
                .to_string(),
        ),
        ("top_by_total", top("total_s")),
        ("top_by_calls", top("calls")),
        ("top_by_p95", top("p95_s")),
        ("by_database", breakdown("db")),
        ("by_user", breakdown("user")),
        ("by_host", breakdown("host")),
        (
            "errors_by_day",
            "SELECT CAST(log_date AS VARCHAR) AS day, engine, severity, sum(entries) AS entries
             FROM report_errors GROUP BY log_date, engine, severity ORDER BY day, engine, severity"
                .to_string(),
        ),
        (
            "error_classes",
            format!(
                "SELECT engine, severity, error_code, class_id, min(message_class) AS message_class,
                    sum(entries) AS entries, date_format(min(first_seen), '%Y-%m-%d %H:%i:%s') AS first_seen,
                    date_format(max(last_seen), '%Y-%m-%d %H:%i:%s') AS last_seen,
                    max_by(sample, last_seen) AS sample, max_by(sample_statement, last_seen) AS sample_statement
                 FROM report_errors GROUP BY engine, severity, error_code, class_id
                 ORDER BY {SEVERITY_RANK}, entries DESC, class_id LIMIT {}",
                TOP * 2
            ),
        ),
        (
            "error_classes_by_day",
            format!(
                "SELECT CAST(log_date AS VARCHAR) AS day, class_id, sum(entries) AS entries FROM report_errors
                 WHERE class_id IN (SELECT class_id FROM report_errors GROUP BY class_id, severity
                                    ORDER BY {SEVERITY_RANK}, sum(entries) DESC, class_id LIMIT {})
                 GROUP BY log_date, class_id ORDER BY day, class_id",
                8
            ),
        ),
        (
            "activity",
            "SELECT event, unit, sum(entries) AS entries, sum(amount) AS amount, max(max_amount) AS max_amount
             FROM report_activity GROUP BY event, unit ORDER BY event"
                .to_string(),
        ),
        (
            "activity_by_hour",
            "SELECT date_format(hour, '%Y-%m-%d %H:00') AS hour, event, sum(entries) AS entries, sum(amount) AS amount
             FROM report_activity GROUP BY hour, event ORDER BY hour, event"
                .to_string(),
        ),
    ]
}

/// The rows of `sql` as JSON objects.
async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Value>, ReportError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    crate::engine::exec::json_rows(&batches).map_err(|e| ReportError::Json(e.to_string()))
}

/// The report as one HTML page: the data and Chart.js inlined, nothing fetched when viewed.
pub fn html(report: &Value) -> String {
    // Inside <script>, `</` would end the element; JSON allows `<\/` for it.
    let data = report.to_string().replace("</", "<\\/");
    let chart = CHART_JS.replace("</script", "<\\/script");
    PAGE.replacen("/*CHART_JS*/", &chart, 1).replacen("/*REPORT_DATA*/", &data, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let today = chrono::Utc::now().date_naive();
        let week = Range::resolve(Some("7d"), None, None).unwrap();
        assert_eq!((week.from, week.to), (today.checked_sub_days(Days::new(6)), Some(today)));
        assert_eq!(Range::resolve(Some("24h"), None, None).unwrap().from, Some(today));
        assert!(Range::resolve(Some("7"), None, None).is_err());
        assert!(Range::resolve(Some("0d"), None, None).is_err());
        assert!(Range::resolve(Some("xd"), None, None).is_err());
        let d = NaiveDate::from_ymd_opt(2026, 11, 1);
        assert_eq!(Range::resolve(None, d, None).unwrap(), Range { from: d, to: None });
    }

    #[test]
    fn html_keeps_script_safe() {
        let page = html(&serde_json::json!({"sample": "</script><script>alert(1)</script>"}));
        assert!(!page.contains("</script><script>alert"));
        assert!(page.contains("Chart.js"));
    }
}
