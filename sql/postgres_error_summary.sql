-- Job postgres_error_summary (definition: postgres_error_summary.toml).
--
-- aurora_logs.postgres_log -> aurora_logs.postgres_error_summary: the WARNING, ERROR, FATAL and
-- PANIC entries per instance, day, severity and message class (as mysql_error_summary), with
-- the count, first and last time seen, the latest message and the statement that raised it.
-- PostgreSQL's log carries no error code unless log_line_prefix has %e, so error_code is NULL.
SELECT
    'postgres' AS engine,
    severity,
    CAST(NULL AS VARCHAR) AS error_code,
    message_class,
    query_id(message_class) AS class_id,
    count(*) AS entries,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    max_by(message, coalesce(ts, TIMESTAMP '1970-01-01 00:00:00')) AS sample,
    max_by(statement, coalesce(ts, TIMESTAMP '1970-01-01 00:00:00')) AS sample_statement,
    instance,
    log_date
FROM (
    SELECT *,
        regexp_replace(split_part(message, chr(10), 1), '''[^'']*''|"[^"]*"|0x[0-9a-fA-F]+|[0-9]+', '?') AS message_class
    FROM aurora_logs.postgres_log
    WHERE severity IN ('WARNING', 'ERROR', 'FATAL', 'PANIC')
)
GROUP BY instance, log_date, severity, message_class
