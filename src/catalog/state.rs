//! Table state and the commit protocol: which partitions a table has, where their files are,
//! and how a writer changes that atomically.
//!
//! Each table has a log of numbered snapshots in the warehouse,
//! `_glaux/tables/<db>/<table>/versions/00000000000000000042.json`. A snapshot's head names the
//! manifests that hold its partitions, their locations and files ([`super::manifest`]): a commit
//! rewrites only the manifests holding what it changes, so its cost follows the change, not the
//! table. A commit writes its data files under a fresh prefix and its new manifests under fresh
//! names, then publishes snapshot N+1's head with a create-only put (`PutMode::Create`: an exclusive create on
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

use arrow::datatypes::DataType;
use futures::{StreamExt, TryStreamExt};

use super::manifest::{self, Manifest, ManifestRef};
use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// Version of the snapshot head format glaux writes: 2, partitions in manifests.
pub const STATE_FORMAT: u32 = 2;

/// The first format, which held every partition in the head; still read, never written. The
/// first commit on such a table moves its partitions into manifests.
const INLINE_FORMAT: u32 = 1;

/// A commit that changes more partitions than this records `*` as what it changed: its head
/// stays small, and a concurrent writer that read before it conflicts instead of rebasing.
const MAX_CHANGED_LISTED: usize = 10_000;

/// Manifests read or written at once.
const MANIFEST_CONCURRENCY: usize = 16;

/// The most manifests one commit reads to compact them ([`manifest::COMPACT_FANOUT`] at a time).
const COMPACT_READS: usize = 2 * manifest::COMPACT_FANOUT;

/// How many times a commit re-applies itself after losing a race to a non-conflicting writer.
const MAX_REBASES: usize = 32;

/// One snapshot of a table with all its partitions: what readers that need every partition (jobs,
/// Glue push, vacuum) work on.
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

/// The head of one snapshot: what it is, and the manifests that hold its partitions. Reading a
/// head is one small GET whatever the table's size; [`TableLog::load_all`] or
/// [`TableLog::load`] read the partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Head format, [`STATE_FORMAT`] (or 1 for a head written before manifests).
    pub format: u32,
    /// Table, `database.table`.
    pub table: String,
    /// 1 for the first commit, then consecutive.
    pub version: u64,
    /// Unique id of the commit; also the name of the prefix its files were written under.
    pub commit_id: String,
    /// When the commit was published.
    pub committed_at: DateTime<Utc>,
    /// What made the commit.
    pub operation: String,
    /// Writer state that must advance with the data: bookmarks, ingested-file ledgers.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    /// Partition keys this commit added, replaced or removed (`*` alone: too many to list, or
    /// all of them).
    #[serde(default)]
    pub changed_partitions: BTreeSet<String>,
    /// Property names this commit set.
    #[serde(default)]
    pub changed_properties: BTreeSet<String>,
    /// How many partitions this commit changed, when `changed_partitions` could not list them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changed_count: Option<u64>,
    /// The manifests, in partition key order.
    #[serde(default)]
    pub manifests: Vec<ManifestRef>,
    /// Format 1 only: the partitions, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partitions: Option<BTreeMap<String, PartitionState>>,
}

impl Snapshot {
    /// How many partitions this commit added, replaced or removed.
    pub fn partitions_changed(&self) -> u64 {
        self.changed_count.unwrap_or(self.changed_partitions.len() as u64)
    }

    /// Partitions in the snapshot.
    pub fn partition_count(&self) -> u64 {
        self.total(|m| m.partitions, |_| 1)
    }

    /// Data files in the snapshot.
    pub fn file_count(&self) -> u64 {
        self.total(|m| m.files, |p| p.files.len() as u64)
    }

    /// Rows in the snapshot.
    pub fn rows(&self) -> u64 {
        self.total(|m| m.rows, PartitionState::rows)
    }

    /// Bytes of data files in the snapshot.
    pub fn bytes(&self) -> u64 {
        self.total(|m| m.bytes, PartitionState::bytes)
    }

    fn total(&self, of_manifest: fn(&ManifestRef) -> u64, of_partition: fn(&PartitionState) -> u64) -> u64 {
        match &self.partitions {
            Some(inline) => inline.values().map(of_partition).sum(),
            None => self.manifests.iter().map(of_manifest).sum(),
        }
    }

    /// The snapshot with its partitions.
    fn with_partitions(&self, partitions: BTreeMap<String, PartitionState>) -> TableState {
        TableState {
            format: self.format,
            table: self.table.clone(),
            version: self.version,
            commit_id: self.commit_id.clone(),
            committed_at: self.committed_at,
            operation: self.operation.clone(),
            partitions,
            properties: self.properties.clone(),
            changed_partitions: self.changed_partitions.clone(),
            changed_properties: self.changed_properties.clone(),
        }
    }
}

/// What a writer read before deciding what to write: a head or a whole snapshot.
pub trait Base {
    /// Its version.
    fn version(&self) -> u64;
    /// Its properties.
    fn properties(&self) -> &BTreeMap<String, Value>;
}

impl Base for Snapshot {
    fn version(&self) -> u64 {
        self.version
    }
    fn properties(&self) -> &BTreeMap<String, Value> {
        &self.properties
    }
}

impl Base for TableState {
    fn version(&self) -> u64 {
        self.version
    }
    fn properties(&self) -> &BTreeMap<String, Value> {
        &self.properties
    }
}

/// One partition as of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// Partition values in key order, as they appear in the Hive path (unescaped).
    pub values: Vec<String>,
    /// Directory relative to the warehouse root, trailing slash, that the newest commit of the
    /// partition wrote to. In the directory layout it holds exactly `files`; in the symlink
    /// layout earlier files may lie in earlier commits' directories.
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
    pub fn on<B: Base>(base: Option<&B>, operation: impl Into<String>, at: DateTime<Utc>) -> Transaction {
        Transaction { read_version: Some(base.map_or(0, |s| s.version())), ..Transaction::new(operation, at) }
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
pub fn list_in<T: Serialize, B: Base>(txn: &mut Transaction, base: Option<&B>, name: &str, added: &[T]) {
    let mut listed = match base.and_then(|s| s.properties().get(name)) {
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
    /// The partition keys' types, which order the manifests' key bounds.
    types: Vec<DataType>,
    dir: String,
    /// Whether appending to a partition copies its earlier files into the new directory (the
    /// directory layout), or names them where they are (the symlink layout).
    copy_on_append: bool,
}

impl TableLog {
    /// The log of `database.table`, whose partition keys are `keys` in path order, all strings.
    pub fn new(warehouse: &Warehouse, database: &str, table: &str, keys: Vec<String>) -> TableLog {
        let types = vec![DataType::Utf8; keys.len()];
        TableLog::typed(warehouse, database, table, keys, types)
    }

    /// The log of `database.table` whose partition keys `keys` have the types `types`.
    pub fn typed(
        warehouse: &Warehouse,
        database: &str,
        table: &str,
        keys: Vec<String>,
        types: Vec<DataType>,
    ) -> TableLog {
        TableLog {
            warehouse: warehouse.clone(),
            table: format!("{database}.{table}"),
            keys,
            types,
            dir: format!("tables/{database}/{table}"),
            copy_on_append: true,
        }
    }

    /// The log of a registered table.
    pub fn of(warehouse: &Warehouse, def: &super::table::TableDef) -> TableLog {
        let fields = def.partition_fields();
        let keys = fields.iter().map(|f| f.name().clone()).collect();
        let types = fields.iter().map(|f| f.data_type().clone()).collect();
        let log = TableLog::typed(warehouse, &def.database, def.name(), keys, types);
        TableLog { copy_on_append: def.layout() == super::table::Layout::Directory, ..log }
    }

    /// The partition keys and their types, in path order.
    pub fn key_types(&self) -> (&[String], &[DataType]) {
        (&self.keys, &self.types)
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

    /// Adds `files`, written under `location` for `txn`, to partition `values` as of `base`:
    /// the partition is replaced by the union of its files in `base` and `files`. In the
    /// directory layout the earlier files are first copied under `location` (numbered after
    /// `files`), so that the location holds exactly the partition's files (Athena reads a
    /// partition as its directory); in the symlink layout they stay where they are, and the
    /// append costs only what it adds.
    pub async fn append_partition(
        &self,
        txn: &mut Transaction,
        base: Option<&Snapshot>,
        values: Vec<String>,
        location: String,
        files: Vec<DataFile>,
    ) -> Result<(), CommitError> {
        self.append_partitions(txn, base, vec![NewPartition { values, location, files }]).await
    }

    /// [`TableLog::append_partition`] for several partitions, reading each manifest of `base`
    /// that holds one of them once.
    pub async fn append_partitions(
        &self,
        txn: &mut Transaction,
        base: Option<&Snapshot>,
        partitions: Vec<NewPartition>,
    ) -> Result<(), CommitError> {
        let values: Vec<Vec<String>> = partitions.iter().map(|p| p.values.clone()).collect();
        let mut existing = match base {
            Some(base) => self.partitions(base, &values).await?,
            None => BTreeMap::new(),
        };
        for partition in partitions {
            let earlier = existing.remove(&self.partition_key(&partition.values));
            self.append_one(txn, earlier, partition).await?;
        }
        Ok(())
    }

    async fn append_one(
        &self,
        txn: &mut Transaction,
        earlier: Option<PartitionState>,
        partition: NewPartition,
    ) -> Result<(), CommitError> {
        let NewPartition { values, location, mut files } = partition;
        match earlier {
            Some(existing) if !self.copy_on_append => {
                files.splice(0..0, existing.files);
            }
            Some(existing) => {
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
            None => {}
        }
        txn.changes.push(Change::Replace(NewPartition { values, location, files }));
        Ok(())
    }

    /// The head of the newest snapshot, or `None` before the first commit: one or two small
    /// GETs whatever the table's size.
    pub async fn head(&self) -> Result<Option<Snapshot>, CommitError> {
        let mut version = match self.read_hint().await? {
            Some(v) => v,
            None => match self.list_newest().await? {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        let mut head = self.read_head(version).await?;
        while let Some(next) = self.read_head(version + 1).await? {
            version += 1;
            head = Some(next);
        }
        match head {
            Some(head) => Ok(Some(head)),
            // The hint names a version that is gone (a restored or vacuumed log): list instead.
            None => match self.list_newest().await? {
                Some(v) => self.read_head(v).await,
                None => Ok(None),
            },
        }
    }

    /// The newest snapshot with all its partitions, or `None` before the first commit.
    pub async fn latest(&self) -> Result<Option<TableState>, CommitError> {
        match self.head().await? {
            Some(head) => Ok(Some(self.load_all(&head).await?)),
            None => Ok(None),
        }
    }

    /// A snapshot with all its partitions (every manifest read, concurrently).
    pub async fn load_all(&self, head: &Snapshot) -> Result<TableState, CommitError> {
        let partitions = self.load(head, &vec![true; head.manifests.len()]).await?;
        let keyed = partitions.into_iter().map(|p| (self.partition_key(&p.values), p)).collect();
        Ok(head.with_partitions(keyed))
    }

    /// The partitions of the manifests `wanted` picks (`wanted[i]` for `head.manifests[i]`), in
    /// key order; a format-1 head has no manifests and gives all its partitions.
    pub async fn load(&self, head: &Snapshot, wanted: &[bool]) -> Result<Vec<PartitionState>, CommitError> {
        if let Some(inline) = &head.partitions {
            return Ok(inline.values().cloned().collect());
        }
        let picked = head.manifests.iter().zip(wanted).filter(|(_, w)| **w).map(|(m, _)| m.clone());
        let read = self.read_manifests(picked.collect()).await?;
        Ok(read.into_iter().flat_map(|m| m.partitions).collect())
    }

    /// The manifests `manifests` names, in their order (read concurrently).
    pub async fn read_manifests(&self, manifests: Vec<ManifestRef>) -> Result<Vec<Manifest>, CommitError> {
        futures::stream::iter(manifests)
            .map(|m| async move { self.read_manifest(&m).await })
            .buffered(MANIFEST_CONCURRENCY)
            .try_collect()
            .await
    }

    /// The partitions with `values` that a snapshot has, by key, reading only the manifests
    /// that can hold them.
    pub async fn partitions(
        &self,
        head: &Snapshot,
        values: &[Vec<String>],
    ) -> Result<BTreeMap<String, PartitionState>, CommitError> {
        let keys: BTreeSet<String> = values.iter().map(|v| self.partition_key(v)).collect();
        if let Some(inline) = &head.partitions {
            return Ok(inline.iter().filter(|(k, _)| keys.contains(*k)).map(|(k, p)| (k.clone(), p.clone())).collect());
        }
        let homes = candidates(&head.manifests, values.iter());
        let read = self.read_manifests(homes.into_iter().map(|i| head.manifests[i].clone()).collect()).await?;
        let found = read.into_iter().flat_map(|m| m.partitions).map(|p| (self.partition_key(&p.values), p));
        Ok(found.filter(|(key, _)| keys.contains(key)).collect())
    }

    /// The partition with `values`, if the snapshot has it, reading only the manifests that can
    /// hold it.
    pub async fn partition(&self, head: &Snapshot, values: &[String]) -> Result<Option<PartitionState>, CommitError> {
        let key = self.partition_key(values);
        Ok(self.partitions(head, &[values.to_vec()]).await?.remove(&key))
    }

    /// Publishes a transaction as the next snapshot, re-applying it on top of concurrent
    /// non-conflicting commits. Returns the published head.
    pub async fn commit(&self, txn: &Transaction) -> Result<Snapshot, CommitError> {
        for _ in 0..MAX_REBASES {
            let base = self.head().await?;
            if let (Some(read), Some(base)) = (txn.read_version, &base) {
                self.check_conflicts(txn, read, base.version).await?;
            }
            let next = self.apply(base.as_ref(), txn).await?;
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
            let Some(other) = self.read_head(version).await? else { continue };
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
        txn.changes.iter().map(|change| self.partition_key(change_values(change))).collect()
    }

    /// The head that `txn` makes of `base`, its new manifests written: only the manifests
    /// holding a changed partition are read and rewritten; the others carry over.
    async fn apply(&self, base: Option<&Snapshot>, txn: &Transaction) -> Result<Snapshot, CommitError> {
        let version = base.map_or(1, |b| b.version + 1);
        let mut keyed = Vec::with_capacity(txn.changes.len());
        for change in &txn.changes {
            let values = change_values(change);
            if values.len() != self.keys.len() {
                return Err(CommitError::BadPartition {
                    table: self.table.clone(),
                    keys: self.keys.clone(),
                    values: values.clone(),
                });
            }
            keyed.push((self.partition_key(values), change));
        }
        let all: &[ManifestRef] = match base {
            Some(b) if !txn.replace_all && b.partitions.is_none() => &b.manifests,
            _ => &[],
        };
        // Read every manifest that can hold a changed partition: together they hold all the
        // changed partitions that exist, so existence checks are exact.
        let touched = candidates(all, keyed.iter().map(|(_, change)| change_values(change)));
        let mut run: BTreeMap<String, PartitionState> = match base {
            Some(b) if !txn.replace_all => b.partitions.clone().unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        let read = self.read_manifests(touched.iter().map(|&i| all[i].clone()).collect()).await?;
        run.extend(read.into_iter().flat_map(|m| m.partitions).map(|p| (self.partition_key(&p.values), p)));
        let mut changed = if txn.replace_all { BTreeSet::from(["*".to_string()]) } else { BTreeSet::new() };
        for (key, change) in keyed {
            match change {
                Change::Add(_) if run.contains_key(&key) => {
                    return Err(CommitError::PartitionExists { table: self.table.clone(), partition: key });
                }
                Change::Add(p) | Change::Replace(p) => {
                    let state = PartitionState {
                        values: p.values.clone(),
                        location: p.location.clone(),
                        files: p.files.clone(),
                        version,
                    };
                    run.insert(key.clone(), state);
                }
                Change::Remove(_) => {
                    if run.remove(&key).is_none() {
                        return Err(CommitError::PartitionMissing { table: self.table.clone(), partition: key });
                    }
                }
            }
            changed.insert(key);
        }
        let changed_count = (changed.len() > MAX_CHANGED_LISTED).then_some(changed.len() as u64);
        if changed_count.is_some() {
            changed = BTreeSet::from(["*".to_string()]);
        }
        let manifests = self.rewrite(all, &touched, run).await?;
        let mut properties = base.map(|b| b.properties.clone()).unwrap_or_default();
        for (name, value) in &txn.properties {
            properties.insert(name.clone(), value.clone());
        }
        Ok(Snapshot {
            format: STATE_FORMAT,
            table: self.table.clone(),
            version,
            commit_id: txn.commit_id.clone(),
            committed_at: txn.at,
            operation: txn.operation.clone(),
            properties,
            changed_partitions: changed,
            changed_properties: txn.properties.keys().cloned().collect(),
            changed_count,
            manifests,
            partitions: None,
        })
    }

    /// The manifest list after the manifests `touched` (indices into `all`) are replaced by
    /// `run`, their new contents with the added partitions: the untouched manifests carry over
    /// in order, and `run` is written as new manifests at the end. What `run` holds within the
    /// ranges of touched tiles is written as tiles again, sorted as they were; the rest in
    /// arrival order, then compacted ([`Self::write_compacting`]). A run smaller than
    /// [`manifest::MIN_PER_MANIFEST`] takes in the newest manifest in arrival order when both
    /// fit in one, so small commits do not leave the head listing ever more small manifests.
    async fn rewrite(
        &self,
        all: &[ManifestRef],
        touched: &BTreeSet<usize>,
        run: BTreeMap<String, PartitionState>,
    ) -> Result<Vec<ManifestRef>, CommitError> {
        let mut out: Vec<ManifestRef> =
            all.iter().enumerate().filter(|(i, _)| !touched.contains(i)).map(|(_, m)| m.clone()).collect();
        let tiles: Vec<&ManifestRef> = touched.iter().map(|&i| &all[i]).filter(|m| m.clustered.is_some()).collect();
        let (in_tiles, mut run): (BTreeMap<_, _>, BTreeMap<_, _>) =
            run.into_iter().partition(|(_, p)| tiles.iter().any(|m| manifest::may_hold(m, &p.values)));
        let mut writes = Vec::new();
        if let Some(order) = tiles.first().and_then(|m| m.clustered.clone()) {
            let chunks = manifest::chunks_by(in_tiles.into_iter().collect(), &order);
            writes.extend(chunks.into_iter().map(|chunk| self.described(chunk, Some(order.clone()))));
        }
        let small = !run.is_empty() && run.len() < manifest::MIN_PER_MANIFEST;
        let newest_fits = out.last().is_some_and(|m| {
            m.clustered.is_none() && small && m.partitions as usize + run.len() <= manifest::MAX_PER_MANIFEST
        });
        if newest_fits && let Some(newest) = out.pop() {
            let read = self.read_manifest(&newest).await?;
            run.extend(read.partitions.into_iter().map(|p| (self.partition_key(&p.values), p)));
        }
        self.write_compacting(out, manifest::chunks(run.into_iter().collect()), writes).await
    }

    /// Writes `fresh` (chunks in arrival order) and `tiles` after the manifests `out`, compacting
    /// the manifests in arrival order, oldest first and [`manifest::COMPACT_FANOUT`] at a time,
    /// into tiles ([`manifest::tile_order`]); a group that tiling would not help is marked so
    /// without being rewritten. A commit reads at most [`COMPACT_READS`] manifests to compact, so
    /// its cost stays bounded; what is left is compacted by later commits.
    async fn write_compacting(
        &self,
        mut out: Vec<ManifestRef>,
        fresh: Vec<manifest::Chunk>,
        mut writes: Vec<(manifest::Chunk, ManifestRef)>,
    ) -> Result<Vec<ManifestRef>, CommitError> {
        enum Pending {
            Stored(usize),
            Fresh(manifest::Chunk, ManifestRef),
        }
        let mut pending: std::collections::VecDeque<Pending> = out
            .iter()
            .enumerate()
            .filter(|(_, m)| m.clustered.is_none())
            .map(|(i, _)| Pending::Stored(i))
            .chain(fresh.into_iter().map(|chunk| {
                let (chunk, entry) = self.described(chunk, None);
                Pending::Fresh(chunk, entry)
            }))
            .collect();
        let mut compacted = BTreeSet::new();
        let mut reads = 0;
        while pending.len() >= manifest::COMPACT_FANOUT {
            let stored: Vec<usize> = pending
                .iter()
                .take(manifest::COMPACT_FANOUT)
                .filter_map(|p| match p {
                    Pending::Stored(i) => Some(*i),
                    Pending::Fresh(..) => None,
                })
                .collect();
            let entries: Vec<ManifestRef> = pending
                .iter()
                .take(manifest::COMPACT_FANOUT)
                .map(|p| match p {
                    Pending::Stored(i) => out[*i].clone(),
                    Pending::Fresh(_, entry) => entry.clone(),
                })
                .collect();
            let wide = manifest::tile_order(&entries);
            if wide.is_some() && reads + stored.len() > COMPACT_READS {
                break;
            }
            let group: Vec<Pending> = pending.drain(..manifest::COMPACT_FANOUT).collect();
            let Some(wide) = wide else {
                // Apart on every key, or overlapping on every key: kept as they are.
                for part in group {
                    match part {
                        Pending::Stored(i) => out[i].clustered = Some(Vec::new()),
                        Pending::Fresh(chunk, mut entry) => {
                            entry.clustered = Some(Vec::new());
                            writes.push((chunk, entry));
                        }
                    }
                }
                continue;
            };
            reads += stored.len();
            let read = self.read_manifests(stored.iter().map(|&i| out[i].clone()).collect()).await?;
            compacted.extend(stored);
            let mut merged: manifest::Chunk =
                read.into_iter().flat_map(|m| m.partitions).map(|p| (self.partition_key(&p.values), p)).collect();
            for part in group {
                if let Pending::Fresh(chunk, _) = part {
                    merged.extend(chunk);
                }
            }
            let values: Vec<&PartitionState> = merged.iter().map(|(_, p)| p).collect();
            let order = manifest::tile_keys(&values, &wide);
            let tiles = manifest::chunks_by(merged, &order);
            writes.extend(tiles.into_iter().map(|tile| self.described(tile, Some(order.clone()))));
        }
        writes.extend(pending.into_iter().filter_map(|p| match p {
            Pending::Fresh(chunk, entry) => Some((chunk, entry)),
            Pending::Stored(_) => None,
        }));
        let mut out: Vec<ManifestRef> =
            out.into_iter().enumerate().filter(|(i, _)| !compacted.contains(i)).map(|(_, m)| m).collect();
        out.extend(self.write_manifests(writes).await?);
        Ok(out)
    }

    /// `chunk` with its entry for the head, marked with how it is clustered; the entry's path is
    /// given when it is written.
    fn described(&self, chunk: manifest::Chunk, clustered: Option<Vec<usize>>) -> (manifest::Chunk, ManifestRef) {
        let mut entry = ManifestRef::describe(String::new(), &self.keys, &self.types, &chunk);
        entry.clustered = clustered;
        (chunk, entry)
    }

    /// Writes described chunks as new manifests under fresh names.
    async fn write_manifests(
        &self,
        chunks: Vec<(manifest::Chunk, ManifestRef)>,
    ) -> Result<Vec<ManifestRef>, CommitError> {
        let writes = chunks.into_iter().map(|(chunk, mut entry)| async move {
            entry.path = format!("manifests/{}.json", new_commit_id());
            let body = Manifest { table: self.table.clone(), partitions: chunk.into_iter().map(|(_, p)| p).collect() };
            let path = self.state_object(&entry.path);
            let bytes = serde_json::to_vec(&body).expect("manifests serialise");
            self.warehouse
                .store()
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|source| CommitError::Store { path: path.to_string(), source })?;
            Ok::<_, CommitError>(entry)
        });
        futures::stream::iter(writes).buffered(MANIFEST_CONCURRENCY).try_collect().await
    }

    async fn read_manifest(&self, entry: &ManifestRef) -> Result<Manifest, CommitError> {
        let path = self.state_object(&entry.path);
        let Some(bytes) = get_optional(self.warehouse.store().as_ref(), &path).await? else {
            return Err(CommitError::Corrupt {
                path: path.to_string(),
                reason: "a manifest a snapshot names is missing".into(),
            });
        };
        // Parsed on a blocking thread, so a plan reading many manifests parses them on every core.
        let parsed = tokio::task::spawn_blocking(move || serde_json::from_slice::<Manifest>(&bytes)).await;
        let corrupt = |reason: String| CommitError::Corrupt { path: path.to_string(), reason };
        let manifest = parsed.map_err(|e| corrupt(e.to_string()))?.map_err(|e| corrupt(e.to_string()))?;
        if manifest.table != self.table || manifest.partitions.len() as u64 != entry.partitions {
            return Err(CommitError::Corrupt {
                path: path.to_string(),
                reason: format!(
                    "holds {} partitions of {}, the snapshot expects {} of {}",
                    manifest.partitions.len(),
                    manifest.table,
                    entry.partitions,
                    self.table
                ),
            });
        }
        Ok(manifest)
    }

    /// Creates the snapshot's head; `false` if that version already exists.
    async fn publish(&self, head: &Snapshot) -> Result<bool, CommitError> {
        let path = self.version_path(head.version);
        let body = serde_json::to_vec(head).expect("snapshot heads serialise");
        crate::warehouse::put_if_absent(self.warehouse.store().as_ref(), &path, body)
            .await
            .map_err(|source| CommitError::Store { path: path.to_string(), source })
    }

    /// The object holding snapshot `version`'s head.
    pub fn version_path(&self, version: u64) -> Path {
        self.state_object(&format!("versions/{version:020}.json"))
    }

    /// An object of the table's state directory, by its name relative to it (a manifest's
    /// [`ManifestRef::path`]).
    pub fn state_object(&self, relative: &str) -> Path {
        self.warehouse.state_path(&format!("{}/{relative}", self.dir))
    }

    /// The table's manifest directory.
    pub fn manifest_dir(&self) -> Path {
        self.state_object("manifests")
    }

    fn hint_path(&self) -> Path {
        self.state_object("_latest")
    }

    /// A given snapshot's head, if it exists.
    pub async fn read_head(&self, version: u64) -> Result<Option<Snapshot>, CommitError> {
        let path = self.version_path(version);
        let Some(bytes) = get_optional(self.warehouse.store().as_ref(), &path).await? else {
            return Ok(None);
        };
        let head: Snapshot = serde_json::from_slice(&bytes)
            .map_err(|e| CommitError::Corrupt { path: path.to_string(), reason: e.to_string() })?;
        let format_ok = match head.format {
            INLINE_FORMAT => head.partitions.is_some(),
            STATE_FORMAT => head.partitions.is_none(),
            _ => false,
        };
        if head.version != version || !format_ok {
            return Err(CommitError::Corrupt {
                path: path.to_string(),
                reason: format!("holds version {} in format {}", head.version, head.format),
            });
        }
        Ok(Some(head))
    }

    /// A given snapshot with all its partitions, if it exists.
    pub async fn read_version(&self, version: u64) -> Result<Option<TableState>, CommitError> {
        match self.read_head(version).await? {
            Some(head) => Ok(Some(self.load_all(&head).await?)),
            None => Ok(None),
        }
    }

    /// The versions the log keeps, oldest first (every one from the first commit on, until a
    /// vacuum removes those older than its retention window).
    pub async fn versions(&self) -> Result<Vec<u64>, CommitError> {
        let prefix = self.state_object("versions");
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

    /// The head of the snapshot that was current at `at`: the newest kept version committed at
    /// or before it. `Err(TooOld)` when the oldest kept version is younger than `at`,
    /// `Ok(None)` when the table has no commits at all.
    pub async fn version_at(&self, at: DateTime<Utc>) -> Result<Option<Snapshot>, CommitError> {
        let versions = self.versions().await?;
        let Some(&oldest) = versions.first() else { return Ok(None) };
        // Commit times grow with versions: binary search over the kept ones.
        let (mut low, mut high) = (0usize, versions.len());
        let mut found: Option<Snapshot> = None;
        while low < high {
            let middle = (low + high) / 2;
            match self.read_head(versions[middle]).await? {
                Some(head) if head.committed_at <= at => {
                    low = middle + 1;
                    found = Some(head);
                }
                Some(_) => high = middle,
                // Removed by a vacuum between the listing and the read: what is left is newer.
                None => low = middle + 1,
            }
        }
        match found {
            Some(head) => Ok(Some(head)),
            None => {
                let first = self.read_head(oldest).await?.map(|s| s.committed_at);
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

/// The indices of the manifests that can hold a partition with any of `values`.
fn candidates<'a>(manifests: &[ManifestRef], values: impl Iterator<Item = &'a Vec<String>>) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    for values in values {
        found.extend((0..manifests.len()).filter(|&i| manifest::may_hold(&manifests[i], values)));
    }
    found
}

/// The partition values a change names.
fn change_values(change: &Change) -> &Vec<String> {
    match change {
        Change::Add(p) | Change::Replace(p) => &p.values,
        Change::Remove(values) => values,
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
