SELECT * FROM (VALUES 1, 2, 3) AS t(x)

SELECT region, count(*) AS n FROM customer_data.customer_base_raw WHERE ingest_date >= DATE '2026-11-01' GROUP BY region ORDER BY n DESC LIMIT 10

SELECT customer_id, if(email LIKE '%@%', lower(email), NULL) AS email FROM customer_data.customer_base_raw

SELECT try(CAST(birth_date AS date)) AS born, try(1 / 0) AS nothing FROM customer_data.customer_base_raw

SELECT SUBSTR(customer_id, 2, 3), SUBSTRING(email FROM 1 FOR 4) FROM customer_data.customer_base_raw

SELECT x, n FROM UNNEST(ARRAY['a', 'b', 'c']) WITH ORDINALITY AS u(x, n)

SELECT k, v FROM customer_data.regions CROSS JOIN UNNEST(MAP(ARRAY[region_code], ARRAY[vat_rate])) AS m(k, v)

SELECT transform(ARRAY[1, 2, 3], x -> x * 2), filter(ARRAY[1, 2, 3], x -> x > 1), reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s)

SELECT count(*) FROM customer_data.customer_base_raw FOR VERSION AS OF 1

SELECT count(*) FROM customer_data.customer_base_cleaned FOR TIMESTAMP AS OF TIMESTAMP '2026-11-20 00:00:00'

SELECT date_parse('2026-11-01 10:00:00', '%Y-%m-%d %H:%i:%s'), date_format(current_timestamp, '%Y-%m-%d'), from_iso8601_timestamp('2026-11-01T00:00:00Z')

SELECT json_extract_scalar('{"a": {"b": 1}}', '$.a.b'), json_parse('[1, 2]'), json_format(json_parse('{"x": null}'))

SELECT approx_percentile(query_time_s, 0.95), approx_distinct(user) FROM aurora_logs.mysql_slow_log WHERE log_date = '2026-11-22' AND instance = 'db-1'

SELECT regexp_extract(email, '@(.+)$', 1), regexp_like(phone, '^\+?[0-9 ]+$'), regexp_replace(first_name, '\s+', ' ') FROM customer_data.customer_base_raw

SELECT region, row_number() OVER (PARTITION BY region ORDER BY signup_date DESC) AS rn FROM customer_data.customer_base_raw

WITH latest AS (SELECT customer_id, max(ingest_date) AS d FROM customer_data.customer_base_raw GROUP BY 1) SELECT r.* FROM customer_data.customer_base_raw r JOIN latest l ON r.customer_id = l.customer_id AND r.ingest_date = l.d

SELECT c.region, g.region_name, g.vat_rate * 100 FROM customer_data.customer_features c LEFT JOIN customer_data.regions g ON c.region = g.region_code

SELECT engine, fingerprint, calls, total_s FROM aurora_logs.query_digest ORDER BY total_s DESC LIMIT 20

SELECT * FROM aurora_logs.rejects LIMIT 5

SELECT status, count(*) FROM system.job_runs GROUP BY status

SELECT CAST(ROW(1, 'a') AS ROW(x int, y varchar)), ARRAY[1, 2][1], element_at(MAP(ARRAY['k'], ARRAY[1]), 'k'), cardinality(ARRAY[1])

SELECT to_hex(md5(to_utf8(email))), from_base64(to_base64(to_utf8('x'))), xxhash64(to_utf8('y')) FROM customer_data.customer_base_raw

SELECT date_add('day', 7, DATE '2026-11-01'), date_diff('hour', TIMESTAMP '2026-11-01 00:00:00', TIMESTAMP '2026-11-02 00:00:00'), date_trunc('month', current_date)

SELECT split_part(email, '@', 2), strpos(email, '@'), lpad(customer_id, 10, '0'), concat_ws('-', first_name, last_name) FROM customer_data.customer_base_raw

SELECT array_join(array_agg(DISTINCT region), ','), map_agg(region, 1) FROM customer_data.customer_base_raw

SELECT * FROM customer_data.customer_base_raw WHERE customer_id IN (SELECT customer_id FROM customer_data.customer_base_cleaned) AND email IS NOT NULL UNION ALL SELECT * FROM customer_data.customer_base_raw WHERE false

SELECT fingerprint_mysql('SELECT * FROM t WHERE id = 5'), fingerprint_postgres('SELECT $1')

EXPLAIN SELECT count(*) FROM aurora_logs.postgres_log WHERE severity = 'ERROR'

SELECT typeof(1e10), 9223372036854775807 + 1, CAST('1e400' AS double), -0.0 / 0.0, 1 % 0

SELECT format_datetime(from_unixtime(0), 'yyyy-MM-dd HH:mm:ss'), to_unixtime(TIMESTAMP '2026-01-01 00:00:00'), at_timezone(current_timestamp, 'Europe/Berlin')
