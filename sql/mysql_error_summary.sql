-- Job mysql_error_summary (definition: mysql_error_summary.toml).
--
-- aurora_logs.mysql_error_log -> aurora_logs.mysql_error_summary: one row per instance, day,
-- severity, error code and message class, with the count, first and last time seen and the
-- latest message. The class is the message's first line with quoted values, hex and numbers
-- replaced by ?, so "Table 'shop.t1' doesn't exist" and "Table 'shop.t2' doesn't exist" count
-- together; class_id is its MD5 in hex, to join on.
SELECT
    'mysql' AS engine,
    coalesce(severity, '(none)') AS severity,
    error_code,
    message_class,
    query_id(message_class) AS class_id,
    count(*) AS entries,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    max_by(message, coalesce(ts, TIMESTAMP '1970-01-01 00:00:00')) AS sample,
    CAST(NULL AS VARCHAR) AS sample_statement,
    instance,
    log_date
FROM (
    SELECT *,
        regexp_replace(split_part(message, chr(10), 1), '''[^'']*''|"[^"]*"|0x[0-9a-fA-F]+|[0-9]+', '?') AS message_class
    FROM aurora_logs.mysql_error_log
)
GROUP BY instance, log_date, severity, error_code, message_class
