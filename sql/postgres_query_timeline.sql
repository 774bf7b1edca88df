-- Job postgres_query_timeline (definition: postgres_query_timeline.toml).
--
-- aurora_logs.postgres_log -> aurora_logs.postgres_query_timeline: calls (as pgBadger counts
-- them), query time and a latency sketch per instance and hour.
SELECT
    'postgres' AS engine,
    date_trunc('hour', ts) AS hour,
    count(*) AS calls,
    coalesce(sum(duration_ms / 1000.0), 0) AS total_s,
    sketch_quantile(latency_sketch(duration_ms / 1000.0), 0.5) AS p50_s,
    sketch_quantile(latency_sketch(duration_ms / 1000.0), 0.95) AS p95_s,
    sketch_quantile(latency_sketch(duration_ms / 1000.0), 0.99) AS p99_s,
    latency_sketch(duration_ms / 1000.0) AS latency_sketch,
    instance,
    log_date
FROM aurora_logs.postgres_log
WHERE ts IS NOT NULL AND duration_ms IS NOT NULL AND statement IS NOT NULL AND protocol_step IN ('simple', 'execute')
GROUP BY instance, log_date, date_trunc('hour', ts)
