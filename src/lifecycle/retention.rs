//! Partition retention: a table that keeps its partitions for N days (the table parameter
//! `glaux.retention`, or `[retention]` in `glaux.toml`) has those whose date key is older dropped
//! by one commit, operation `retention`. Their files stay readable by time travel for as long as
//! the vacuum's window keeps the snapshots before that commit, and are then removed by it.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::state::{Change, CommitError, TableState, Transaction};
use crate::catalog::table::{Retention, TableDef};
use crate::catalog::{Catalog, CommitHook};

/// The partitions of `state` that `retention` no longer keeps at `now`, as (key, values).
pub fn expired(
    def: &TableDef,
    retention: &Retention,
    state: &TableState,
    now: DateTime<Utc>,
) -> Vec<(String, Vec<String>)> {
    let Some(position) = def.partition_keys.iter().position(|(name, _)| *name == retention.key) else {
        return Vec::new();
    };
    let oldest_kept = (now - retention.keep).date_naive();
    state
        .partitions
        .iter()
        .filter(|(_, partition)| {
            let day = partition.values.get(position).and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok());
            // A partition whose date cannot be read (NULL, empty) is never dropped by age.
            day.is_some_and(|day| day < oldest_kept)
        })
        .map(|(key, partition)| (key.clone(), partition.values.clone()))
        .collect()
}

/// Drops the partitions of `def` older than `retention` in one commit, which `hook` follows;
/// returns their keys. A dry run commits nothing.
pub async fn apply(
    catalog: &Catalog,
    def: &Arc<TableDef>,
    retention: &Retention,
    (now, dry_run): (DateTime<Utc>, bool),
    hook: &dyn CommitHook,
) -> Result<Vec<String>, CommitError> {
    let log = catalog.log(def);
    let Some(base) = log.latest().await? else { return Ok(Vec::new()) };
    let doomed = expired(def, retention, &base, now);
    if doomed.is_empty() || dry_run {
        return Ok(doomed.into_iter().map(|(key, _)| key).collect());
    }
    let mut txn = Transaction::on(Some(&base), "retention", now);
    let keys = doomed.iter().map(|(key, _)| key.clone()).collect();
    txn.changes = doomed.into_iter().map(|(_, values)| Change::Remove(values)).collect();
    log.commit(&txn).await?;
    hook.committed(def).await;
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::state::PartitionState;
    use chrono::TimeZone;

    #[test]
    fn partitions_older_than_the_window_expire_by_their_date_key() {
        let input = crate::catalog::table::parquet_table_input(
            "t",
            vec![crate::catalog::table::Column::new("n", "int")],
            ["instance", "day"]
                .iter()
                .zip(["string", "date"])
                .map(|(n, t)| crate::catalog::table::Column {
                    name: n.to_string(),
                    data_type: t.into(),
                    comment: None,
                    parameters: Default::default(),
                })
                .collect(),
            "db/t/",
        );
        let url = url::Url::parse("file:///w/").unwrap();
        let def = TableDef::from_input("db", input, &url).unwrap();
        let retention = Retention::parse("30d", &def.partition_keys).unwrap();
        assert_eq!(retention.key, "day");
        let partition = |day: &str| PartitionState {
            values: vec!["db-1".into(), day.into()],
            location: String::new(),
            files: Vec::new(),
            version: 1,
        };
        let mut state = TableState {
            format: 1,
            table: "db.t".into(),
            version: 1,
            commit_id: "c".into(),
            committed_at: Utc::now(),
            operation: "x".into(),
            partitions: Default::default(),
            properties: Default::default(),
            changed_partitions: Default::default(),
            changed_properties: Default::default(),
        };
        for day in ["2026-10-01", "2026-11-03", "2026-11-04", ""] {
            state.partitions.insert(format!("instance=db-1/day={day}"), partition(day));
        }
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap();
        let keys: Vec<String> = expired(&def, &retention, &state, now).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["instance=db-1/day=2026-10-01", "instance=db-1/day=2026-11-03"]);
        assert!(Retention::parse("12h", &def.partition_keys).is_err());
        assert!(Retention::parse("30d", &def.partition_keys[..1]).unwrap_err().contains("type date"));
    }
}
