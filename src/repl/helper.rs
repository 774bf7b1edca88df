//! The line editor's helper: when input is complete, and what Tab offers.
//!
//! A statement continues over lines until it ends with `;`; a line starting with `\` is a meta
//! command and complete at once. Tab completes meta commands, SQL keywords, database names,
//! `database.table` names and the columns of the tables named on the line (or of every table
//! when none is named yet).

use std::collections::BTreeSet;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::command::COMMANDS;
use crate::catalog::Registry;

/// Keywords offered by completion.
const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "EXCEPT",
    "INTERSECT",
    "WITH",
    "OVER",
    "PARTITION",
    "ROWS",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "CAST",
    "TRY_CAST",
    "EXPLAIN",
    "ANALYZE",
    "DESCRIBE",
    "SHOW",
    "TABLES",
    "COLUMNS",
    "CREATE",
    "VIEW",
    "DROP",
    "EXTERNAL",
    "TABLE",
    "STORED",
    "LOCATION",
    "COPY",
    "TO",
    "VALUES",
    "TRUE",
    "FALSE",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "COALESCE",
    "DATE",
    "TIMESTAMP",
    "INTERVAL",
    "EXTRACT",
    "APPROX_DISTINCT",
];

/// Completion and multi-line validation for the REPL.
pub struct ReplHelper {
    databases: Vec<String>,
    tables: Vec<(String, String, Vec<String>)>,
}

impl ReplHelper {
    /// A helper that knows the registry's names.
    pub fn new(registry: &Registry) -> ReplHelper {
        let tables = registry
            .tables()
            .map(|def| {
                let columns = def.all_columns().map(|(c, _)| c.name.clone()).collect();
                (def.database.clone(), def.name().to_string(), columns)
            })
            .collect();
        ReplHelper { databases: registry.databases(), tables }
    }

    /// Candidates for the word `prefix` in `line`.
    fn candidates(&self, line: &str, prefix: &str) -> Vec<String> {
        let lower = prefix.to_ascii_lowercase();
        let matches = |name: &str| name.to_ascii_lowercase().starts_with(&lower);
        if line.trim_start().starts_with('\\') && !line.trim_start().contains(char::is_whitespace) {
            return COMMANDS.iter().map(|(name, _, _)| name.to_string()).filter(|n| n.starts_with(prefix)).collect();
        }
        let mut found = BTreeSet::new();
        if prefix.contains('.') {
            for (db, table, _) in &self.tables {
                let qualified = format!("{db}.{table}");
                if matches(&qualified) {
                    found.insert(qualified);
                }
            }
            return found.into_iter().collect();
        }
        let upper = prefix.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        for keyword in KEYWORDS.iter().filter(|k| matches(k)) {
            found.insert(if upper { keyword.to_string() } else { keyword.to_ascii_lowercase() });
        }
        found.extend(self.databases.iter().filter(|d| matches(d)).cloned());
        found.extend(self.tables.iter().map(|(_, t, _)| t).filter(|t| matches(t)).cloned());
        for columns in self.columns_in_scope(line) {
            found.extend(columns.iter().filter(|c| matches(c)).cloned());
        }
        found.into_iter().collect()
    }

    /// Columns of the tables named in `line`, or of all tables if none is named.
    fn columns_in_scope<'a>(&'a self, line: &str) -> Vec<&'a Vec<String>> {
        let lower = line.to_ascii_lowercase();
        let named: Vec<_> =
            self.tables.iter().filter(|(db, t, _)| lower.contains(&format!("{db}.{t}"))).map(|(_, _, c)| c).collect();
        if named.is_empty() { self.tables.iter().map(|(_, _, c)| c).collect() } else { named }
    }
}

/// Start of the word that ends at `pos`.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '\\' | '?'))
        .last()
        .map_or(pos, |(i, _)| i)
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = word_start(line, pos);
        let prefix = &line[start..pos];
        if prefix.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let pairs =
            self.candidates(line, prefix).into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect();
        Ok((start, pairs))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) { ValidationResult::Valid(None) } else { ValidationResult::Incomplete })
    }
}

/// Whether the input so far is a whole statement or meta command.
pub fn is_complete(input: &str) -> bool {
    let trimmed = input.trim();
    trimmed.is_empty() || trimmed.starts_with('\\') || trimmed.ends_with(';')
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ReplHelper {
        ReplHelper {
            databases: vec!["customer_data".into()],
            tables: vec![
                ("customer_data".into(), "customer_base_raw".into(), vec!["customer_id".into(), "email".into()]),
                ("customer_data".into(), "regions".into(), vec!["region_code".into()]),
            ],
        }
    }

    #[test]
    fn completes_tables_columns_keywords_and_commands() {
        let h = helper();
        assert_eq!(
            h.candidates("select * from customer_data.cu", "customer_data.cu"),
            ["customer_data.customer_base_raw"]
        );
        assert_eq!(h.candidates("select em", "em"), ["email"]);
        // Only the named table's columns are offered once a table is named.
        assert_eq!(h.candidates("select reg from customer_data.customer_base_raw", "reg"), ["regions"]);
        assert_eq!(h.candidates("select reg from customer_data.regions", "reg"), ["region_code", "regions"]);
        assert_eq!(h.candidates("SEL", "SEL"), ["SELECT"]);
        assert_eq!(h.candidates("\\ti", "\\ti"), ["\\timing"]);
    }

    #[test]
    fn statements_end_with_a_semicolon() {
        assert!(!is_complete("select 1"));
        assert!(is_complete("select 1\n ;  "));
        assert!(is_complete("\\dt"));
        assert!(is_complete("  "));
    }

    #[test]
    fn words_end_at_the_cursor() {
        assert_eq!(word_start("select cust", 11), 7);
        assert_eq!(word_start("from db.ta", 10), 5);
        assert_eq!(word_start("x ", 2), 2);
    }
}
