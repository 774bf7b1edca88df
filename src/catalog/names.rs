//! Names of databases, tables and columns, checked once for every use.
//!
//! Athena and Glue store names in lower case and accept letters, digits and underscores; glaux
//! also uses database and table names as path segments in the warehouse, so a name that passes
//! here can never climb out of it (`..`, `/` and the like are refused).

use std::fmt;

use crate::error::{Categorize, Category};

/// Longest name Glue accepts.
pub const MAX_NAME_LEN: usize = 255;

/// The database glaux's own records are shown in (`system.job_runs`, `system.ingest_rejects`).
pub const SYSTEM_DATABASE: &str = "system";

/// The data catalog every registry database belongs to, as Athena names Glue's.
pub const DEFAULT_CATALOG: &str = "awsdatacatalog";

/// Database names the registry refuses, with what they are reserved for.
pub const RESERVED_DATABASES: &[(&str, &str)] =
    &[(SYSTEM_DATABASE, "for glaux's own tables (system.job_runs, system.ingest_rejects)")];

/// What a name is for, to word the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A Glue database.
    Database,
    /// A table.
    Table,
    /// A column or partition key.
    Column,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Database => "database",
            NameKind::Table => "table",
            NameKind::Column => "column",
        })
    }
}

/// A name that Athena or the warehouse would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name `{}`: {reason}", crate::error::excerpt(name))]
pub struct InvalidName {
    /// database, table or column
    pub kind: NameKind,
    /// the name as given
    pub name: String,
    /// what rule it breaks
    pub reason: &'static str,
}

impl Categorize for InvalidName {
    fn category(&self) -> Category {
        Category::Usage
    }
}

/// Checks a name: 1 to 255 characters, lower-case ASCII letters, digits and `_`, not starting
/// with a digit.
pub fn validate_name(name: &str, kind: NameKind) -> Result<(), InvalidName> {
    let fail = |reason| Err(InvalidName { kind, name: name.to_string(), reason });
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return fail("it is longer than 255 characters");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return fail("it starts with a digit");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return fail("use lower-case letters, digits and underscores only");
    }
    Ok(())
}

/// Splits `database.table`, validating both parts.
pub fn parse_qualified(text: &str) -> Result<(String, String), InvalidName> {
    match text.split_once('.') {
        Some((database, table)) => {
            validate_name(database, NameKind::Database)?;
            validate_name(table, NameKind::Table)?;
            Ok((database.to_string(), table.to_string()))
        }
        None => Err(InvalidName {
            kind: NameKind::Table,
            name: text.to_string(),
            reason: "qualify it with its database, as DATABASE.TABLE",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_athena_names_and_refuses_path_tricks() {
        assert!(validate_name("customer_base_raw", NameKind::Table).is_ok());
        assert!(validate_name("_tmp2", NameKind::Table).is_ok());
        for bad in ["", "..", "a/b", "Upper", "1st", "a-b", "a.b", "é"] {
            assert!(validate_name(bad, NameKind::Table).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(256), NameKind::Column).is_err());
    }

    #[test]
    fn qualified_names_need_both_parts() {
        assert_eq!(parse_qualified("db.t").unwrap(), ("db".into(), "t".into()));
        assert!(parse_qualified("t").unwrap_err().to_string().contains("DATABASE.TABLE"));
        assert!(parse_qualified("db.../x").is_err());
    }
}
