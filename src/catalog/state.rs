//! Table state and the commit protocol: which partitions a table has, where their files are,
//! and how a writer changes that atomically.
//!
//! Each table has a log of numbered snapshots in the warehouse,
//! `_glaux/tables/<db>/<table>/versions/00000000000000000042.json`, each naming every current
//! partition, its location and its files. A commit writes its data files under a fresh prefix,
//! then publishes snapshot N+1 with a create-only put (`PutMode::Create`: an exclusive create on
//! the local filesystem, `If-None-Match: *` on S3). Exactly one writer can create N+1, so readers
//! see a commit whole or not at all and two writers can never both commit the same change. A
//! writer that loses the race re-reads what the winner changed: if it touched none of the
//! loser's partitions or properties the loser re-applies its change on top (optimistic
//! concurrency); otherwise the loser gets [`CommitError::Conflict`] naming the winning commit.
//!
//! `_latest` beside the versions is a hint only (written after a commit, never trusted alone):
//! readers start there and probe forward, so a stale hint costs one extra GET, never a wrong
//! answer, and no reader lists partitions or data files.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// Version of the snapshot file format.
pub const STATE_FORMAT: u32 = 1;

/// How many times a commit re-applies itself after losing a race to a non-conflicting writer.
const MAX_REBASES: usize = 32;

/// One snapshot of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableState {
    /// Snapshot format, [`STATE_FORMAT`].
    pub format: u32,
    /// Table, `database.table`.
    pub table: String,
    /// 1 for the first commit, then consecutive.
    pub version: u64,
    /// Unique id of the commit; also the name of the prefix its files were written under.
    pub commit_id: String,
    /// When the commit was published.
    pub committed_at: DateTime<Utc>,
    /// What made the commit (`ingest csv`, `job customer_data_cleansing`, …).
    pub operation: String,
    /// Current partitions by key (`k1=v1/k2=v2`; empty for an unpartitioned table).
    pub partitions: BTreeMap<String, PartitionState>,
    /// Writer state that must advance with the data: bookmarks, ingested-file ledgers.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    /// Partition keys this commit added, replaced or removed (for conflict detection).
    #[serde(default)]
    pub changed_partitions: BTreeSet<String>,
    /// Property names this commit set.
    #[serde(default)]
    pub changed_properties: BTreeSet<String>,
}

/// One partition as of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Partition values in key order, as they appear in the Hive path (unescaped).
    pub values: Vec<String>,
    /// Directory relative to the warehouse root, trailing slash; holds exactly `files`.
    pub location: String,
    /// The data files.
    pub files: Vec<DataFile>,
    /// Snapshot version that last wrote this partition.
    pub version: u64,
}

impl PartitionState {
    /// Rows in the partition.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Bytes in the partition.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// One Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Path relative to the warehouse root.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Row count.
    pub rows: u64,
}

/// One change to a table's partitions.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A partition that must not exist yet.
    Add(NewPartition),
    /// A partition that replaces whatever is there (or adds it).
    Replace(NewPartition),
    /// A partition that must exist, removed.
    Remove(Vec<String>),
}

/// A partition a commit writes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPartition {
    /// Values in key order.
    pub values: Vec<String>,
    /// Directory relative to the warehouse root, trailing slash.
    pub location: String,
    /// Files in it.
    pub files: Vec<DataFile>,
}

/// A set of changes to publish as one commit.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// Unique id; name of the prefix the files were written under.
    pub commit_id: String,
    /// Shown in history.
    pub operation: String,
    /// The snapshot the writer read when it decided what to write (0 for an empty table); a
    /// commit after it that touched the same partitions or properties makes this one fail
    /// instead of rebasing. `None` is a blind write that rebases over anything.
    pub read_version: Option<u64>,
    /// Remove every partition not replaced by this commit (a full refresh).
    pub replace_all: bool,
    /// Partition changes.
    pub changes: Vec<Change>,
    /// Properties to set.
    pub properties: BTreeMap<String, Value>,
    /// Commit time, passed in so tests can fix the clock.
    pub at: DateTime<Utc>,
}

impl Transaction {
    /// An empty transaction based on `base`, the snapshot the writer read before deciding what
    /// to write: a commit published after `base` that touched the same partitions or properties
    /// makes this one fail rather than rebase. No snapshot reads as version 0, the empty table,
    /// so two first commits of the same partitions conflict instead of one overwriting the other.
    pub fn on(base: Option<&TableState>, operation: impl Into<String>, at: DateTime<Utc>) -> Transaction {
        Transaction { read_version: Some(base.map_or(0, |s| s.version)), ..Transaction::new(operation, at) }
    }

    /// An empty blind transaction (it rebases over anything) with a fresh time-ordered commit id.
    pub fn new(operation: impl Into<String>, at: DateTime<Utc>) -> Transaction {
        Transaction {
            commit_id: new_commit_id(),
            operation: operation.into(),
            read_version: None,
            replace_all: false,
            changes: Vec::new(),
            properties: BTreeMap::new(),
            at,
        }
    }
}

/// The entries of the list property `name` of a snapshot (`glaux.rejects`, `glaux.archives`);
/// an entry glaux cannot read is skipped.
pub fn listed<T: serde::de::DeserializeOwned>(properties: &BTreeMap<String, Value>, name: &str) -> Vec<T> {
    match properties.get(name) {
        Some(Value::Array(list)) => list.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect(),
        _ => Vec::new(),
    }
}

/// Sets `txn`'s list property `name` to the entries of `base` (the snapshot the writer read)
/// followed by `added`, so they are published with the commit's data or not at all.
pub fn list_in<T: Serialize>(txn: &mut Transaction, base: Option<&TableState>, name: &str, added: &[T]) {
    let mut listed = match base.and_then(|s| s.properties.get(name)) {
        Some(Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    listed.extend(added.iter().map(|entry| serde_json::to_value(entry).expect("list properties serialise")));
    txn.properties.insert(name.to_string(), Value::Array(listed));
}

/// A fresh, time-ordered, unique commit id (UUIDv7, hyphen-free).
pub fn new_commit_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Why a commit or a read of table state failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The store failed.
    #[error("warehouse I/O on {path}: {source}")]
    Store {
        /// the object
        path: String,
        /// what the store said
        source: object_store::Error,
    },
    /// A snapshot file is not what glaux wrote.
    #[error("table state {path} is corrupt: {reason}; restore it from a backup or remove the newest version file")]
    Corrupt {
        /// the object
        path: String,
        /// what is wrong
        reason: String,
    },
    /// Another writer changed what this commit changes.
    #[error(
        "commit to {table} conflicts with commit {winner_version} ({operation}) which changed {what} after version {read_version}; \
         re-run to build on the new state"
    )]
    Conflict {
        /// the table
        table: String,
        /// what this writer had read
        read_version: u64,
        /// the commit that won
        winner_version: u64,
        /// the winner's operation
        operation: String,
        /// the partition or property both touched
        what: String,
    },
    /// An `Add` named a partition that exists.
    #[error("partition {partition} of {table} already exists; replace it instead")]
    PartitionExists {
        /// the table
        table: String,
        /// the partition key
        partition: String,
    },
    /// A `Remove` named a partition that does not exist.
    #[error("partition {partition} of {table} does not exist")]
    PartitionMissing {
        /// the table
        table: String,
        /// the partition key
        partition: String,
    },
    /// A partition's values do not match the table's keys.
    #[error("partition values {values:?} do not match the partition keys {keys:?} of {table}")]
    BadPartition {
        /// the table
        table: String,
        /// the keys
        keys: Vec<String>,
        /// the values given
        values: Vec<String>,
    },
    /// A partition's earlier files could not be copied into the new commit's prefix.
    #[error("copying {path} into the new commit: {source}")]
    Copy {
        /// the file
        path: String,
        /// the store error
        source: object_store::Error,
    },
    /// Time travel to before the oldest version kept.
    #[error(
        "{table} has no version as old as {at}: its oldest kept version is {oldest}{}; older ones were never committed or were removed by vacuum",
        oldest_at.map(|t| format!(", committed {t}")).unwrap_or_default()
    )]
    TooOld {
        /// `database.table`
        table: String,
        /// the time asked for
        at: DateTime<Utc>,
        /// the oldest version kept
        oldest: u64,
        /// when it was committed
        oldest_at: Option<DateTime<Utc>>,
    },
    /// The race was lost too many times in a row.
    #[error("commit to {table} lost the race to other writers {attempts} times; try again later")]
    Contended {
        /// the table
        table: String,
        /// attempts made
        attempts: usize,
    },
}

impl Categorize for CommitError {
    fn category(&self) -> Category {
        match self {
            CommitError::Store { .. } | CommitError::Copy { .. } => Category::Io,
            CommitError::Corrupt { .. }
            | CommitError::BadPartition { .. }
            | CommitError::PartitionMissing { .. }
            | CommitError::TooOld { .. } => Category::Data,
            CommitError::Conflict { .. } | CommitError::PartitionExists { .. } | CommitError::Contended { .. } => {
                Category::Conflict
            }
        }
    }
}

/// The commit log of one table.
#[derive(Debug, Clone)]
pub struct TableLog {
    warehouse: Warehouse,
    table: String,
    keys: Vec<String>,
    dir: String,
}

impl TableLog {
    /// The log of `database.table`, whose partition keys are `keys` in path order.
    pub fn new(warehouse: &Warehouse, database: &str, table: &str, keys: Vec<String>) -> TableLog {
        TableLog {
            warehouse: warehouse.clone(),
            table: format!("{database}.{table}"),
            keys,
            dir: format!("tables/{database}/{table}"),
        }
    }

    /// The log of a registered table.
    pub fn of(warehouse: &Warehouse, def: &super::table::TableDef) -> TableLog {
        let keys = def.partition_keys.iter().map(|(name, _)| name.clone()).collect();
        TableLog::new(warehouse, &def.database, def.name(), keys)
    }

    /// The Hive path of a partition (`k1=v1/k2=v2`), escaping values as Hive does.
    pub fn partition_key(&self, values: &[String]) -> String {
        self.keys
            .iter()
            .zip(values)
            .map(|(k, v)| format!("{k}={}", escape_partition_value(v)))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Adds `files`, written under `location` for `txn`, to partition `values` as of `base`.
    /// The partition's files in `base` are copied under `location` too (numbered after
    /// `files`), so that a partition's location holds exactly its files (Athena reads a
    /// partition as its directory); the partition is then replaced by the union.
    pub async fn append_partition(
        &self,
        txn: &mut Transaction,
        base: Option<&TableState>,
        values: Vec<String>,
        location: String,
        mut files: Vec<DataFile>,
    ) -> Result<(), CommitError> {
        let key = self.partition_key(&values);
        if let Some(existing) = base.and_then(|s| s.partitions.get(&key)) {
            let first_index = files.len();
            for (i, file) in existing.files.iter().enumerate() {
                let target = format!("{location}part-{:05}.parquet", first_index + i);
                let store = self.warehouse.store();
                store
                    .copy(&self.warehouse.path(&file.path), &self.warehouse.path(&target))
                    .await
                    .map_err(|source| CommitError::Copy { path: file.path.clone(), source })?;
                files.push(DataFile { path: target, ..file.clone() });
            }
        }
        txn.changes.push(Change::Replace(NewPartition { values, location, files }));
        Ok(())
    }

    /// The newest snapshot, or `None` before the first commit.
    pub async fn latest(&self) -> Result<Option<TableState>, CommitError> {
        let mut version = match self.read_hint().await? {
            Some(v) => v,
            None => match self.list_newest().await? {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        let mut state = self.read_version(version).await?;
        while let Some(next) = self.read_version(version + 1).await? {
            version += 1;
            state = Some(next);
        }
        match state {
            Some(state) => Ok(Some(state)),
            // The hint names a version that is gone (a restored or vacuumed log): list instead.
            None => match self.list_newest().await? {
                Some(v) => self.read_version(v).await,
                None => Ok(None),
            },
        }
    }

    /// Publishes a transaction as the next snapshot, re-applying it on top of concurrent
    /// non-conflicting commits. Returns the published snapshot.
    pub async fn commit(&self, txn: &Transaction) -> Result<TableState, CommitError> {
        for _ in 0..MAX_REBASES {
            let base = self.latest().await?;
            if let (Some(read), Some(base)) = (txn.read_version, &base) {
                self.check_conflicts(txn, read, base.version).await?;
            }
            let next = self.apply(base.as_ref(), txn)?;
            match self.publish(&next).await? {
                true => {
                    self.write_hint(next.version).await;
                    return Ok(next);
                }
                false => {
                    tracing::debug!(table = %self.table, version = next.version, "lost commit race; rebasing");
                    // Someone else published this version: make the check above cover it.
                    let read = txn.read_version.unwrap_or(next.version - 1);
                    self.check_conflicts(txn, read, next.version).await?;
                }
            }
        }
        Err(CommitError::Contended { table: self.table.clone(), attempts: MAX_REBASES })
    }

    /// Fails if a snapshot in (read, upto] changed what `txn` changes.
    async fn check_conflicts(&self, txn: &Transaction, read: u64, upto: u64) -> Result<(), CommitError> {
        let touched = self.touched_by(txn);
        for version in read + 1..=upto {
            let Some(other) = self.read_version(version).await? else { continue };
            let clash = if txn.replace_all || other.changed_partitions.iter().any(|p| p == "*") {
                other.changed_partitions.iter().next().cloned()
            } else {
                other.changed_partitions.iter().find(|p| touched.contains(*p)).cloned()
            };
            let clash = clash.map(|p| format!("partition {p}")).or_else(|| {
                other
                    .changed_properties
                    .iter()
                    .find(|name| txn.properties.contains_key(*name))
                    .map(|name| format!("property {name}"))
            });
            if let Some(what) = clash {
                return Err(CommitError::Conflict {
                    table: self.table.clone(),
                    read_version: read,
                    winner_version: other.version,
                    operation: other.operation,
                    what,
                });
            }
        }
        Ok(())
    }

    fn touched_by(&self, txn: &Transaction) -> BTreeSet<String> {
        txn.changes
            .iter()
            .map(|change| match change {
                Change::Add(p) | Change::Replace(p) => self.partition_key(&p.values),
                Change::Remove(values) => self.partition_key(values),
            })
            .collect()
    }

    /// The snapshot that `txn` makes of `base`.
    fn apply(&self, base: Option<&TableState>, txn: &Transaction) -> Result<TableState, CommitError> {
        let version = base.map_or(1, |b| b.version + 1);
        let mut partitions = match base {
            Some(b) if !txn.replace_all => b.partitions.clone(),
            _ => BTreeMap::new(),
        };
        let mut properties = base.map(|b| b.properties.clone()).unwrap_or_default();
        let mut changed = if txn.replace_all { BTreeSet::from(["*".to_string()]) } else { BTreeSet::new() };
        for change in &txn.changes {
            let values = match change {
                Change::Add(p) | Change::Replace(p) => &p.values,
                Change::Remove(values) => values,
            };
            if values.len() != self.keys.len() {
                return Err(CommitError::BadPartition {
                    table: self.table.clone(),
                    keys: self.keys.clone(),
                    values: values.clone(),
                });
            }
            let key = self.partition_key(values);
            match change {
                Change::Add(p) if partitions.contains_key(&key) => {
                    return Err(CommitError::PartitionExists { table: self.table.clone(), partition: key });
                }
                Change::Add(p) | Change::Replace(p) => {
                    let state = PartitionState {
                        values: p.values.clone(),
                        location: p.location.clone(),
                        files: p.files.clone(),
                        version,
                    };
                    partitions.insert(key.clone(), state);
                }
                Change::Remove(_) => {
                    if partitions.remove(&key).is_none() {
                        return Err(CommitError::PartitionMissing { table: self.table.clone(), partition: key });
                    }
                }
            }
            changed.insert(key);
        }
        for (name, value) in &txn.properties {
            properties.insert(name.clone(), value.clone());
        }
        Ok(TableState {
            format: STATE_FORMAT,
            table: self.table.clone(),
            version,
            commit_id: txn.commit_id.clone(),
            committed_at: txn.at,
            operation: txn.operation.clone(),
            partitions,
            properties,
            changed_partitions: changed,
            changed_properties: txn.properties.keys().cloned().collect(),
        })
    }

    /// Creates the snapshot's file; `false` if that version already exists.
    async fn publish(&self, state: &TableState) -> Result<bool, CommitError> {
        let path = self.version_path(state.version);
        let body = serde_json::to_vec(state).expect("table state serialises");
        crate::warehouse::put_if_absent(self.warehouse.store().as_ref(), &path, body)
            .await
            .map_err(|source| CommitError::Store { path: path.to_string(), source })
    }

    /// The object holding snapshot `version`.
    pub fn version_path(&self, version: u64) -> Path {
        self.warehouse.state_path(&format!("{}/versions/{version:020}.json", self.dir))
    }

    fn hint_path(&self) -> Path {
        self.warehouse.state_path(&format!("{}/_latest", self.dir))
    }

    /// A given snapshot, if it exists.
    pub async fn read_version(&self, version: u64) -> Result<Option<TableState>, CommitError> {
        let path = self.version_path(version);
        let Some(bytes) = get_optional(self.warehouse.store().as_ref(), &path).await? else {
            return Ok(None);
        };
        let state: TableState = serde_json::from_slice(&bytes)
            .map_err(|e| CommitError::Corrupt { path: path.to_string(), reason: e.to_string() })?;
        if state.version != version || state.format != STATE_FORMAT {
            return Err(CommitError::Corrupt {
                path: path.to_string(),
                reason: format!("holds version {} in format {}", state.version, state.format),
            });
        }
        Ok(Some(state))
    }

    /// The versions the log keeps, oldest first (every one from the first commit on, until a
    /// vacuum removes those older than its retention window).
    pub async fn versions(&self) -> Result<Vec<u64>, CommitError> {
        use futures::TryStreamExt;
        let prefix = self.warehouse.state_path(&format!("{}/versions", self.dir));
        let objects: Vec<_> = self
            .warehouse
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| CommitError::Store { path: prefix.to_string(), source })?;
        let mut versions: Vec<u64> =
            objects.iter().filter_map(|o| o.location.filename()?.strip_suffix(".json")?.parse().ok()).collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// The snapshot that was current at `at`: the newest kept version committed at or before
    /// it. `Err(TooOld)` when the oldest kept version is younger than `at`, `Ok(None)` when the
    /// table has no commits at all.
    pub async fn version_at(&self, at: DateTime<Utc>) -> Result<Option<TableState>, CommitError> {
        let versions = self.versions().await?;
        let Some(&oldest) = versions.first() else { return Ok(None) };
        // Commit times grow with versions: binary search over the kept ones.
        let (mut low, mut high) = (0usize, versions.len());
        let mut found: Option<TableState> = None;
        while low < high {
            let middle = (low + high) / 2;
            match self.read_version(versions[middle]).await? {
                Some(state) if state.committed_at <= at => {
                    low = middle + 1;
                    found = Some(state);
                }
                Some(_) => high = middle,
                // Removed by a vacuum between the listing and the read: what is left is newer.
                None => low = middle + 1,
            }
        }
        match found {
            Some(state) => Ok(Some(state)),
            None => {
                let first = self.read_version(oldest).await?.map(|s| s.committed_at);
                Err(CommitError::TooOld { table: self.table.clone(), at, oldest, oldest_at: first })
            }
        }
    }

    async fn read_hint(&self) -> Result<Option<u64>, CommitError> {
        let bytes = get_optional(self.warehouse.store().as_ref(), &self.hint_path()).await?;
        Ok(bytes.and_then(|b| std::str::from_utf8(&b).ok()?.trim().parse().ok()))
    }

    /// Best effort: a missing or stale hint only costs readers a probe or a listing.
    async fn write_hint(&self, version: u64) {
        let result = self.warehouse.store().put(&self.hint_path(), PutPayload::from(version.to_string())).await;
        if let Err(e) = result {
            tracing::warn!(table = %self.table, error = %e, "could not update the latest-version hint");
        }
    }

    async fn list_newest(&self) -> Result<Option<u64>, CommitError> {
        Ok(self.versions().await?.last().copied())
    }
}

/// Reads an object, `None` if it does not exist.
async fn get_optional(store: &dyn ObjectStore, path: &Path) -> Result<Option<bytes::Bytes>, CommitError> {
    let read = crate::warehouse::get_optional(store, path).await;
    read.map_err(|source| CommitError::Store { path: path.to_string(), source })
}

/// Escapes a partition value for a Hive path the way Hive does (`%XX` for reserved characters).
pub fn escape_partition_value(value: &str) -> String {
    if value.is_empty() {
        return "__HIVE_DEFAULT_PARTITION__".to_string();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\u{0}'..='\u{1f}'
            | '"'
            | '#'
            | '%'
            | '\''
            | '*'
            | '/'
            | ':'
            | '='
            | '?'
            | '\\'
            | '\u{7f}'
            | '{'
            | '['
            | ']'
            | '^' => out.push_str(&format!("%{:02X}", c as u32)),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_escaping_matches_hive() {
        assert_eq!(escape_partition_value("2026-11-21"), "2026-11-21");
        assert_eq!(escape_partition_value("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape_partition_value(""), "__HIVE_DEFAULT_PARTITION__");
        assert_eq!(escape_partition_value("10:30"), "10%3A30");
    }
}
