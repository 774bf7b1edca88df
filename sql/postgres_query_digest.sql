-- Job postgres_query_digest (definition: postgres_query_digest.toml).
--
-- aurora_logs.postgres_log -> aurora_logs.postgres_query_digest: one row per instance, day,
-- database, user, client host and query class, what pgBadger reports per normalised query. A call is what
-- pgBadger counts: an entry with a duration and a statement that is a simple-protocol statement
-- or the execute step of the extended protocol (parse and bind are not calls). The class is
-- pgBadger's normalised query (fingerprint_postgres); times are in seconds, as in
-- mysql_query_digest, so the two read alike. The columns the PostgreSQL log does not carry
-- (lock time, rows) are NULL.
SELECT
    'postgres' AS engine,
    db,
    user,
    remote_host AS host,
    query_id(fingerprint) AS query_id,
    fingerprint,
    count(*) AS calls,
    coalesce(sum(seconds), 0) AS total_s,
    min(seconds) AS min_s,
    max(seconds) AS max_s,
    avg(seconds) AS mean_s,
    sketch_quantile(latency_sketch(seconds), 0.5) AS p50_s,
    sketch_quantile(latency_sketch(seconds), 0.95) AS p95_s,
    sketch_quantile(latency_sketch(seconds), 0.99) AS p99_s,
    latency_sketch(seconds) AS latency_sketch,
    CAST(NULL AS DOUBLE) AS lock_s,
    CAST(NULL AS BIGINT) AS rows_sent,
    CAST(NULL AS BIGINT) AS rows_examined,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    max_by(statement, seconds) AS sample,
    instance,
    log_date
FROM (
    SELECT *, fingerprint_postgres(statement) AS fingerprint, duration_ms / 1000.0 AS seconds
    FROM aurora_logs.postgres_log
    WHERE duration_ms IS NOT NULL AND statement IS NOT NULL AND protocol_step IN ('simple', 'execute')
)
GROUP BY instance, log_date, db, user, remote_host, fingerprint
