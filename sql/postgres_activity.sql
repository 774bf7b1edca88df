-- Job postgres_activity (definition: postgres_activity.toml).
--
-- aurora_logs.postgres_log -> aurora_logs.postgres_activity: what pgBadger's Connections,
-- Checkpoints, Temp files, Vacuums and Locks pages count, per instance and hour:
--   connection      'connection authorized' (log_connections)
--   disconnection   'disconnection: session time …' (log_disconnections)
--   temp_file       'temporary file: path …, size N' (log_temp_files); amount = bytes
--   checkpoint      'checkpoint complete …' / 'restartpoint complete …' (log_checkpoints);
--                   amount = total seconds
--   lock_wait       '… still waiting for … after N ms' (log_lock_waits); amount = ms waited
--   deadlock        'deadlock detected'
--   autovacuum      'automatic vacuum of table …' (log_autovacuum_min_duration)
--   autoanalyze     'automatic analyze of table …'
SELECT
    'postgres' AS engine,
    date_trunc('hour', ts) AS hour,
    event,
    CASE event WHEN 'temp_file' THEN 'bytes' WHEN 'checkpoint' THEN 's' WHEN 'lock_wait' THEN 'ms' END AS unit,
    count(*) AS entries,
    sum(amount) AS amount,
    max(amount) AS max_amount,
    instance,
    log_date
FROM (
    SELECT *,
        CASE
            WHEN message LIKE 'connection authorized%' THEN 'connection'
            WHEN message LIKE 'disconnection:%' THEN 'disconnection'
            WHEN message LIKE 'temporary file:%' THEN 'temp_file'
            WHEN message LIKE 'checkpoint complete%' OR message LIKE 'restartpoint complete%' THEN 'checkpoint'
            WHEN message LIKE '%still waiting for%' THEN 'lock_wait'
            WHEN message LIKE 'deadlock detected%' THEN 'deadlock'
            WHEN message LIKE 'automatic vacuum%' THEN 'autovacuum'
            WHEN message LIKE 'automatic analyze%' THEN 'autoanalyze'
        END AS event,
        CASE
            WHEN message LIKE 'temporary file:%' THEN TRY_CAST(regexp_extract(message, 'size (\d+)', 1) AS DOUBLE)
            WHEN message LIKE '%still waiting for%' THEN TRY_CAST(regexp_extract(message, 'after ([0-9.]+) ms', 1) AS DOUBLE)
            WHEN message LIKE 'checkpoint complete%' OR message LIKE 'restartpoint complete%'
                THEN TRY_CAST(regexp_extract(message, 'total=([0-9.]+) s', 1) AS DOUBLE)
        END AS amount
    FROM aurora_logs.postgres_log
    WHERE ts IS NOT NULL
)
WHERE event IS NOT NULL
GROUP BY instance, log_date, date_trunc('hour', ts), event
