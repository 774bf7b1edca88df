-- Job customer_feature_engineering (definition: customer_feature_engineering.toml).
--
-- customer_data.customer_base_cleaned -> customer_data.customer_features, one row per customer.
-- Every feature is computed from the customer's own row as of `as_of_date`, the load day of the
-- customer's latest record, so a feature never depends on when the job ran or on other
-- customers: an incremental run that recomputes only changed buckets gives the same answer as
-- a full one. (Population-relative scores such as RFM quintiles belong in a query over this
-- table, not in it.) Runs unchanged in DuckDB over the same Parquet.
WITH base AS (
    SELECT
        c.*,
        c.ingest_date AS as_of_date,
        CAST(
            extract(year FROM c.ingest_date) - extract(year FROM c.birth_date)
            - CASE
                WHEN extract(month FROM c.ingest_date) * 100 + extract(day FROM c.ingest_date)
                    < extract(month FROM c.birth_date) * 100 + extract(day FROM c.birth_date)
                THEN 1 ELSE 0
            END AS INT
        ) AS age_years,
        CAST(c.ingest_date - c.signup_date AS INT) AS tenure_days,
        CAST(c.ingest_date - c.last_order_date AS INT) AS recency_days
    FROM customer_data.customer_base_cleaned AS c
)
SELECT
    b.customer_id,
    b.as_of_date,
    b.region,
    r.region_name,
    r.country,
    b.email_domain,
    (b.email IS NOT NULL OR b.phone IS NOT NULL) AS is_contactable,
    b.tenure_days,
    CAST(floor(b.tenure_days / 30.4375) AS INT) AS tenure_months,
    b.age_years,
    CASE
        WHEN b.age_years IS NULL OR b.age_years < 0 THEN 'unknown'
        WHEN b.age_years < 18 THEN 'under 18'
        WHEN b.age_years < 25 THEN '18-24'
        WHEN b.age_years < 35 THEN '25-34'
        WHEN b.age_years < 45 THEN '35-44'
        WHEN b.age_years < 55 THEN '45-54'
        WHEN b.age_years < 65 THEN '55-64'
        ELSE '65+'
    END AS age_band,
    b.recency_days,
    b.order_count AS frequency,
    b.total_spent AS monetary,
    CASE WHEN b.order_count > 0 THEN CAST(b.total_spent / b.order_count AS DECIMAL(12, 2)) END AS avg_order_value,
    CAST(b.order_count AS DOUBLE) * 365.25 / CAST(greatest(b.tenure_days, 1) AS DOUBLE) AS orders_per_year,
    coalesce(b.recency_days <= 90, false) AS is_active,
    coalesce(b.recency_days > 365, true) AS is_lapsed,
    CASE
        WHEN b.total_spent IS NULL OR b.total_spent = 0 THEN 'none'
        WHEN b.total_spent >= 5000 THEN 'high'
        WHEN b.total_spent >= 1000 THEN 'medium'
        ELSE 'low'
    END AS value_tier,
    CASE
        WHEN coalesce(b.order_count, 0) = 0 THEN 'prospect'
        WHEN b.tenure_days <= 90 THEN 'new'
        WHEN b.recency_days <= 90 THEN 'active'
        WHEN b.recency_days <= 365 THEN 'at_risk'
        ELSE 'lapsed'
    END AS lifecycle_stage,
    b.customer_bucket
FROM base AS b
LEFT JOIN customer_data.regions AS r ON r.region_code = b.region
