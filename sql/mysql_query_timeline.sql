-- Job mysql_query_timeline (definition: mysql_query_timeline.toml).
--
-- aurora_logs.mysql_slow_log -> aurora_logs.mysql_query_timeline: calls, query time and a
-- latency sketch per instance and hour, for traffic (QPS) and latency percentiles over time.
SELECT
    'mysql' AS engine,
    date_trunc('hour', ts) AS hour,
    count(*) AS calls,
    coalesce(sum(query_time_s), 0) AS total_s,
    sketch_quantile(latency_sketch(query_time_s), 0.5) AS p50_s,
    sketch_quantile(latency_sketch(query_time_s), 0.95) AS p95_s,
    sketch_quantile(latency_sketch(query_time_s), 0.99) AS p99_s,
    latency_sketch(query_time_s) AS latency_sketch,
    instance,
    log_date
FROM aurora_logs.mysql_slow_log
WHERE ts IS NOT NULL
GROUP BY instance, log_date, date_trunc('hour', ts)
