//! Aurora and RDS database logs: from the RDS API or a log directory into typed tables.
//!
//! The seed's hourly script, done the way a production tool must be:
//! - [`source`] lists log files and reads their new bytes: an RDS instance through the RDS API
//!   (DescribeDBLogFiles, DownloadDBLogFilePortion with markers, throttling, truncation and
//!   rotation handled), or a local directory (byte offsets, rotation detected);
//! - [`parse`] turns lines into Arrow rows, one streaming parser per [`LogKind`];
//! - [`ingest`] lands the raw bytes compressed under `aurora-logs/<instance>/<day>/`, writes the
//!   rows as Parquet partitioned by instance and day into database [`DATABASE`], and commits each
//!   table together with its [`ledger`] entries, so every source byte is ingested exactly once;
//! - [`request`] turns configured sources (or one directory) into sources and options;
//! - [`inspect`] parses files without ingesting them (`glaux logs parse`);
//! - [`fingerprint`] gives each statement its query class as pt-fingerprint and pgBadger do, and
//!   [`functions`] makes that SQL (`fingerprint_mysql`, `fingerprint_postgres`, `query_id`);
//! - [`digest`] profiles files by query class without ingesting them (`glaux logs digest`);
//! - [`report`] turns the digest tables the jobs in `sql/` keep into the HTML or JSON report
//!   (`glaux logs report`).

pub mod digest;
pub mod fingerprint;
pub mod functions;
pub mod ingest;
pub mod inspect;
pub mod lag;
pub mod ledger;
pub mod parse;
pub mod report;
pub mod request;
pub mod source;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;

use crate::catalog::Catalog;
use crate::engine::system::RejectsTable;

use parse::LogParser;
use parse::postgres::Prefix;

/// The database holding the log tables.
pub const DATABASE: &str = "aurora_logs";

/// The table of lines that could not be parsed, a view over every log table's rejects.
pub const REJECTS_TABLE: &str = "rejects";

/// The view `aurora_logs.rejects` over every log table's rejects, for a session, unless the
/// registry has no log database or defines a table of that name itself.
pub fn rejects_view(catalog: &Catalog) -> Option<(String, Arc<dyn TableProvider>)> {
    let registry = &catalog.registry;
    let tables: Vec<_> = registry.tables_in(DATABASE).into_iter().cloned().collect();
    if tables.is_empty() || registry.table(DATABASE, REJECTS_TABLE).is_some() {
        return None;
    }
    let view = RejectsTable::new(tables, &catalog.warehouse);
    Some((format!("{DATABASE}.{REJECTS_TABLE}"), Arc::new(view)))
}

/// What a log file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// MySQL / MariaDB error log.
    Error,
    /// Slow query log.
    Slow,
    /// General query log.
    General,
    /// Aurora advanced audit or MariaDB server_audit log.
    Audit,
    /// PostgreSQL stderr log.
    Postgres,
}

impl LogKind {
    /// Every kind.
    pub const ALL: [LogKind; 5] = [LogKind::Error, LogKind::Slow, LogKind::General, LogKind::Audit, LogKind::Postgres];

    /// The table the kind lands in, in [`DATABASE`].
    pub fn table(self) -> &'static str {
        match self {
            LogKind::Error => "mysql_error_log",
            LogKind::Slow => "mysql_slow_log",
            LogKind::General => "mysql_general_log",
            LogKind::Audit => "mysql_audit_log",
            LogKind::Postgres => "postgres_log",
        }
    }

    /// The name used in configuration (`kinds = ["slow", "error"]`).
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Error => "error",
            LogKind::Slow => "slow",
            LogKind::General => "general",
            LogKind::Audit => "audit",
            LogKind::Postgres => "postgres",
        }
    }

    /// The kind named `name` in configuration.
    pub fn from_name(name: &str) -> Option<LogKind> {
        LogKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a file name says (RDS and Aurora names, and the usual self-managed ones).
    pub fn from_file_name(name: &str) -> Option<LogKind> {
        let lower = name.to_ascii_lowercase();
        let base = lower.rsplit('/').next().unwrap_or(&lower);
        let checks: [(&[&str], LogKind); 5] = [
            (&["slowquery", "slow"], LogKind::Slow),
            (&["general", "genlog"], LogKind::General),
            (&["audit"], LogKind::Audit),
            (&["postgresql", "postgres"], LogKind::Postgres),
            (&["error", "errlog", ".err"], LogKind::Error),
        ];
        checks.iter().find(|(words, _)| words.iter().any(|w| base.contains(w))).map(|(_, kind)| *kind)
    }

    /// The kind the first lines of a file look like, for names that say nothing.
    pub fn from_content(head: &[u8], prefix: &Prefix) -> Option<LogKind> {
        let text = String::from_utf8_lossy(head);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(20).collect();
        let any = |f: &dyn Fn(&str) -> bool| lines.iter().any(|l| f(l));
        if any(&|l| l.starts_with("# Time:") || l.starts_with("# User@Host:") || l.starts_with("# Query_time:")) {
            return Some(LogKind::Slow);
        }
        if any(&|l| prefix.matches(l.as_bytes())) {
            return Some(LogKind::Postgres);
        }
        if any(&|l| parse::audit::looks_like_event(l)) {
            return Some(LogKind::Audit);
        }
        if any(&|l| {
            l.contains(" [Note] ") || l.contains(" [Warning] ") || l.contains(" [ERROR] ") || l.contains(" [System] ")
        }) {
            return Some(LogKind::Error);
        }
        if any(&|l| [" Query\t", " Connect\t", " Quit", " Init DB\t"].iter().any(|c| l.contains(c))) {
            return Some(LogKind::General);
        }
        None
    }

    /// A parser for this kind writing rows of `schema`.
    pub fn parser(self, schema: SchemaRef, prefix: &Prefix, source_file: &str, default_day: i32) -> Box<dyn LogParser> {
        match self {
            LogKind::Error => Box::new(parse::mysql_error::ErrorLogParser::new(schema, source_file, default_day)),
            LogKind::Slow => Box::new(parse::slow::SlowLogParser::new(schema, source_file, default_day)),
            LogKind::General => Box::new(parse::general::GeneralLogParser::new(schema, source_file, default_day)),
            LogKind::Audit => Box::new(parse::audit::AuditLogParser::new(schema, source_file, default_day)),
            LogKind::Postgres => {
                Box::new(parse::postgres::PostgresLogParser::new(schema, prefix.clone(), source_file, default_day))
            }
        }
    }
}

impl std::fmt::Display for LogKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_names() {
        let kind = LogKind::from_file_name;
        assert_eq!(kind("slowquery/mysql-slowquery.log.2026-11-21.10"), Some(LogKind::Slow));
        assert_eq!(kind("error/mysql-error-running.log"), Some(LogKind::Error));
        assert_eq!(kind("audit/audit.log.0.2026-11-21-10-00.0"), Some(LogKind::Audit));
        assert_eq!(kind("error/postgresql.log.2026-11-21-1000"), Some(LogKind::Postgres));
        assert_eq!(kind("general/mysql-general.log"), Some(LogKind::General));
        assert_eq!(kind("genlog001.txt"), Some(LogKind::General));
        assert_eq!(kind("errlog001.txt"), Some(LogKind::Error));
        assert_eq!(kind("notes.txt"), None);
    }
}
