//! The demo project, embedded in the binary: the files `glaux init` writes (the registry's demo
//! tables, the sample data, the jobs, `glaux.toml`). The log tables' definitions here are also
//! what `glaux logs parse` reads their schemas from, so it needs no project.

use std::path::Path;

use crate::config::CONFIG_FILE;
use crate::error::{Context, Result, UsageError};

/// The demo project's files, embedded so `glaux init` needs nothing but the binary.
pub const FILES: &[(&str, &[u8])] = &[
    ("catalog/aurora_logs/mysql_audit_log.json", include_bytes!("../catalog/aurora_logs/mysql_audit_log.json")),
    ("catalog/aurora_logs/mysql_error_log.json", include_bytes!("../catalog/aurora_logs/mysql_error_log.json")),
    ("catalog/aurora_logs/mysql_general_log.json", include_bytes!("../catalog/aurora_logs/mysql_general_log.json")),
    ("catalog/aurora_logs/mysql_slow_log.json", include_bytes!("../catalog/aurora_logs/mysql_slow_log.json")),
    ("catalog/aurora_logs/postgres_log.json", include_bytes!("../catalog/aurora_logs/postgres_log.json")),
    ("catalog/aurora_logs/mysql_query_digest.json", include_bytes!("../catalog/aurora_logs/mysql_query_digest.json")),
    (
        "catalog/aurora_logs/postgres_query_digest.json",
        include_bytes!("../catalog/aurora_logs/postgres_query_digest.json"),
    ),
    (
        "catalog/aurora_logs/mysql_query_timeline.json",
        include_bytes!("../catalog/aurora_logs/mysql_query_timeline.json"),
    ),
    (
        "catalog/aurora_logs/postgres_query_timeline.json",
        include_bytes!("../catalog/aurora_logs/postgres_query_timeline.json"),
    ),
    ("catalog/aurora_logs/mysql_error_summary.json", include_bytes!("../catalog/aurora_logs/mysql_error_summary.json")),
    (
        "catalog/aurora_logs/postgres_error_summary.json",
        include_bytes!("../catalog/aurora_logs/postgres_error_summary.json"),
    ),
    ("catalog/aurora_logs/postgres_activity.json", include_bytes!("../catalog/aurora_logs/postgres_activity.json")),
    ("catalog/aurora_logs/query_digest.json", include_bytes!("../catalog/aurora_logs/query_digest.json")),
    ("catalog/aurora_logs/query_timeline.json", include_bytes!("../catalog/aurora_logs/query_timeline.json")),
    ("catalog/aurora_logs/error_summary.json", include_bytes!("../catalog/aurora_logs/error_summary.json")),
    ("catalog/customer_data/customer_base_raw.json", include_bytes!("../catalog/customer_data/customer_base_raw.json")),
    (
        "catalog/customer_data/customer_base_cleaned.json",
        include_bytes!("../catalog/customer_data/customer_base_cleaned.json"),
    ),
    (
        "catalog/customer_data/customer_base_quarantine.json",
        include_bytes!("../catalog/customer_data/customer_base_quarantine.json"),
    ),
    ("catalog/customer_data/customer_features.json", include_bytes!("../catalog/customer_data/customer_features.json")),
    ("catalog/customer_data/regions.json", include_bytes!("../catalog/customer_data/regions.json")),
    (
        "data/customer_data/customer_base_raw/crm_export_2026-11-01.csv",
        include_bytes!("../data/customer_data/customer_base_raw/crm_export_2026-11-01.csv"),
    ),
    (
        "data/customer_data/customer_base_raw/crm_export_2026-11-15.csv",
        include_bytes!("../data/customer_data/customer_base_raw/crm_export_2026-11-15.csv"),
    ),
    ("data/customer_data/regions/regions.csv", include_bytes!("../data/customer_data/regions/regions.csv")),
    (
        "data/aurora_logs/demo-mysql/slowquery/mysql-slowquery.log",
        include_bytes!("../data/aurora_logs/demo-mysql/slowquery/mysql-slowquery.log"),
    ),
    (
        "data/aurora_logs/demo-mysql/error/mysql-error.log",
        include_bytes!("../data/aurora_logs/demo-mysql/error/mysql-error.log"),
    ),
    (
        "data/aurora_logs/demo-postgres/error/postgresql.log.2026-12-01-0550",
        include_bytes!("../data/aurora_logs/demo-postgres/error/postgresql.log.2026-12-01-0550"),
    ),
    ("glaux.toml", include_bytes!("../glaux.toml")),
    ("sql/README.md", include_bytes!("../sql/README.md")),
    ("sql/customer_data_cleansing.sql", include_bytes!("../sql/customer_data_cleansing.sql")),
    ("sql/customer_data_cleansing.toml", include_bytes!("../sql/customer_data_cleansing.toml")),
    ("sql/customer_feature_engineering.sql", include_bytes!("../sql/customer_feature_engineering.sql")),
    ("sql/customer_feature_engineering.toml", include_bytes!("../sql/customer_feature_engineering.toml")),
    ("sql/mysql_query_digest.sql", include_bytes!("../sql/mysql_query_digest.sql")),
    ("sql/mysql_query_digest.toml", include_bytes!("../sql/mysql_query_digest.toml")),
    ("sql/postgres_query_digest.sql", include_bytes!("../sql/postgres_query_digest.sql")),
    ("sql/postgres_query_digest.toml", include_bytes!("../sql/postgres_query_digest.toml")),
    ("sql/mysql_query_timeline.sql", include_bytes!("../sql/mysql_query_timeline.sql")),
    ("sql/mysql_query_timeline.toml", include_bytes!("../sql/mysql_query_timeline.toml")),
    ("sql/postgres_query_timeline.sql", include_bytes!("../sql/postgres_query_timeline.sql")),
    ("sql/postgres_query_timeline.toml", include_bytes!("../sql/postgres_query_timeline.toml")),
    ("sql/mysql_error_summary.sql", include_bytes!("../sql/mysql_error_summary.sql")),
    ("sql/mysql_error_summary.toml", include_bytes!("../sql/mysql_error_summary.toml")),
    ("sql/postgres_error_summary.sql", include_bytes!("../sql/postgres_error_summary.sql")),
    ("sql/postgres_error_summary.toml", include_bytes!("../sql/postgres_error_summary.toml")),
    ("sql/postgres_activity.sql", include_bytes!("../sql/postgres_activity.sql")),
    ("sql/postgres_activity.toml", include_bytes!("../sql/postgres_activity.toml")),
];

/// Creates a project in `dir` with the demo tables and sample data.
pub fn init(dir: &Path) -> Result<()> {
    if dir.join(CONFIG_FILE).exists() {
        return Err(
            UsageError(format!("{} already holds a glaux project ({CONFIG_FILE} exists)", dir.display())).into()
        );
    }
    for (relative, contents) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
