//! Time travel: `FROM db.t FOR VERSION AS OF 12` and `FOR TIMESTAMP AS OF <timestamp>`, as
//! Athena writes them, read the table as one of its kept snapshots.
//!
//! DataFusion's planner has no place for a table version, so the Athena layer moves the clause
//! into the table's name (`t@v12`, `t@t<timestamp expression>`), a name no registry table can
//! have (names are letters, digits and `_`), and the database schema resolves such a name to a
//! provider pinned to the snapshot. A snapshot is kept until a vacuum removes it, so time travel
//! reaches back as far as the vacuum's retention window.

use arrow::array::Array;
use chrono::{DateTime, Utc};
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

use crate::catalog::state::{CommitError, TableLog, TableState};

/// Which snapshot a query asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    /// `FOR VERSION AS OF n`
    Version(u64),
    /// `FOR TIMESTAMP AS OF expr`, the expression as SQL text
    Timestamp(String),
}

const MARK: char = '@';

/// The name that carries `as_of` for `table`.
pub fn encode(table: &str, as_of: &AsOf) -> String {
    match as_of {
        AsOf::Version(version) => format!("{table}{MARK}v{version}"),
        AsOf::Timestamp(expr) => format!("{table}{MARK}t{expr}"),
    }
}

/// The table and the snapshot asked for, when `name` carries one.
pub fn decode(name: &str) -> Option<(&str, AsOf)> {
    let (table, rest) = name.split_once(MARK)?;
    let as_of = match rest.split_at_checked(1)? {
        ("v", version) => AsOf::Version(version.parse().ok()?),
        ("t", expr) => AsOf::Timestamp(expr.to_string()),
        _ => return None,
    };
    Some((table, as_of))
}

/// The snapshot of `log` that `as_of` names; a clear error when it is not kept.
pub async fn resolve(log: &TableLog, table: &str, as_of: &AsOf) -> Result<TableState> {
    let external = |e: CommitError| DataFusionError::External(Box::new(e));
    match as_of {
        AsOf::Version(version) => match log.read_version(*version).await.map_err(external)? {
            Some(state) => Ok(state),
            None => {
                let kept = log.versions().await.map_err(external)?;
                let range = match (kept.first(), kept.last()) {
                    (Some(first), Some(last)) => format!("it keeps versions {first} to {last}"),
                    _ => "it has no commits yet".to_string(),
                };
                Err(DataFusionError::Plan(format!(
                    "{table} has no version {version}: {range} (older ones are removed by vacuum); \
                     `glaux catalog history {table}` lists them"
                )))
            }
        },
        AsOf::Timestamp(expr) => {
            let at = evaluate(expr).await?;
            match log.version_at(at).await {
                Err(too_old @ CommitError::TooOld { .. }) => Err(DataFusionError::Plan(too_old.to_string())),
                Err(other) => Err(external(other)),
                Ok(Some(head)) => log.load_all(&head).await.map_err(external),
                Ok(None) => {
                    Err(DataFusionError::Plan(format!("{table} has no commits yet, so nothing to read as of {at}")))
                }
            }
        }
    }
}

/// The time a `FOR TIMESTAMP AS OF` expression stands for (a literal such as `TIMESTAMP
/// '2026-11-21 10:00:00 UTC'`, or `current_timestamp - INTERVAL '1' DAY`).
async fn evaluate(expr: &str) -> Result<DateTime<Utc>> {
    let ctx = SessionContext::new();
    super::athena::install(&ctx);
    let sql = format!("SELECT CAST(to_unixtime({expr}) * 1000000 AS BIGINT) AS micros");
    let options = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let batches = super::athena::sql(&ctx, &sql, options)
        .await
        .map_err(|e| {
            DataFusionError::Plan(format!(
                "FOR TIMESTAMP AS OF {expr}: {e}; give a timestamp, such as TIMESTAMP '2026-11-21 10:00:00 UTC'"
            ))
        })?
        .collect()
        .await?;
    let micros = batches
        .first()
        .filter(|b| b.num_rows() == 1)
        .and_then(|b| b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().cloned())
        .filter(|a| !a.is_null(0))
        .map(|a| a.value(0));
    micros
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(|| DataFusionError::Plan(format!("FOR TIMESTAMP AS OF {expr} is not a time; give a timestamp")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_snapshot_asked_for() {
        for as_of in [AsOf::Version(12), AsOf::Timestamp("TIMESTAMP '2026-11-21 10:00:00 UTC'".into())] {
            let name = encode("orders", &as_of);
            assert_eq!(decode(&name), Some(("orders", as_of)));
        }
        assert_eq!(decode("orders"), None);
        assert_eq!(decode("orders@vx"), None);
        assert_eq!(decode("orders@"), None);
    }
}
