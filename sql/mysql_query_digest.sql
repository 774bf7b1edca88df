-- Job mysql_query_digest (definition: mysql_query_digest.toml).
--
-- aurora_logs.mysql_slow_log -> aurora_logs.mysql_query_digest: one row per instance, day,
-- database, user, client host and query class, what pt-query-digest reports per class. The class is
-- pt-fingerprint's fingerprint (fingerprint_mysql) and its query ID (query_id, pt-query-digest's
-- checksum). latency_sketch keeps the day's query times so that percentiles over any range of
-- days are right: sketch_quantile(merge_sketches(latency_sketch), 0.95) over the rows of a week
-- is the week's p95 within 1 %. An incremental run recomputes only the days whose log changed.
SELECT
    'mysql' AS engine,
    db,
    user,
    host,
    query_id(fingerprint) AS query_id,
    fingerprint,
    count(*) AS calls,
    coalesce(sum(query_time_s), 0) AS total_s,
    min(query_time_s) AS min_s,
    max(query_time_s) AS max_s,
    avg(query_time_s) AS mean_s,
    sketch_quantile(latency_sketch(query_time_s), 0.5) AS p50_s,
    sketch_quantile(latency_sketch(query_time_s), 0.95) AS p95_s,
    sketch_quantile(latency_sketch(query_time_s), 0.99) AS p99_s,
    latency_sketch(query_time_s) AS latency_sketch,
    sum(lock_time_s) AS lock_s,
    sum(rows_sent) AS rows_sent,
    sum(rows_examined) AS rows_examined,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    max_by(sql_text, query_time_s) AS sample,
    instance,
    log_date
FROM (SELECT *, fingerprint_mysql(sql_text) AS fingerprint FROM aurora_logs.mysql_slow_log)
GROUP BY instance, log_date, db, user, host, fingerprint
