//! `glaux archive`: partitions older than a given age leave the live table for cheaper storage.
//!
//! Each file of those partitions is copied to `_glaux/archive/<db>/<table>/<archive id>/<partition
//! key>/`: on S3 by a server-side CopyObject into the storage class asked for (and the
//! warehouse's encryption settings), on a local warehouse as a plain copy. Then one commit
//! removes the partitions from the table and lists them, with their copies, in the table
//! property [`ARCHIVES_PROPERTY`], so a partition is either live or archived, never both and
//! never neither: an archive killed before its commit leaves the table as it was (its copies
//! are removed by a later vacuum). `system.archives` reads the property of every table. The
//! original files stay readable by time travel until a vacuum's window lets them go.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;

pub use crate::catalog::archives::{ARCHIVES_PROPERTY, ArchivedPartition, archive_prefix, archived};
use crate::catalog::state::{Change, CommitError, DataFile, Transaction, new_commit_id};
use crate::catalog::table::{Retention, TableDef};
use crate::catalog::{Catalog, CommitHook};
use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// An S3 storage class for archived objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageClass {
    /// Infrequent access: readable at once, cheaper storage, a retrieval fee.
    #[value(name = "STANDARD_IA")]
    StandardIa,
    /// Glacier Instant Retrieval: readable at once (the default).
    #[value(name = "GLACIER_IR")]
    GlacierIr,
    /// Glacier Flexible Retrieval: read after a restore (minutes to hours).
    #[value(name = "GLACIER")]
    Glacier,
    /// Glacier Deep Archive: read after a restore (up to 48 hours).
    #[value(name = "DEEP_ARCHIVE")]
    DeepArchive,
}

impl StorageClass {
    /// The name S3 uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }
}

/// How an archive runs.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Partitions whose date key is older than this are archived.
    pub older_than: chrono::Duration,
    /// The S3 storage class of the copies.
    pub storage_class: StorageClass,
    /// Report what would be archived, copy and commit nothing.
    pub dry_run: bool,
    /// The time ages are measured from.
    pub now: DateTime<Utc>,
    /// The encryption the copies get on S3: the warehouse's.
    pub encryption: Encryption,
}

/// S3 server-side encryption of archived copies, as the warehouse settings ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Encryption {
    /// The bucket's default.
    #[default]
    BucketDefault,
    /// `AES256` (SSE-S3) or `aws:kms` with the account's key.
    Mode(String),
    /// SSE-KMS with this key.
    Kms(String),
}

impl Encryption {
    /// The encryption `[warehouse]` settings ask for.
    pub fn of(settings: &crate::config::WarehouseSettings) -> Encryption {
        match (&settings.sse_kms_key_id, &settings.sse) {
            (Some(key), _) => Encryption::Kms(key.clone()),
            (None, Some(mode)) => Encryption::Mode(mode.clone()),
            (None, None) => Encryption::BucketDefault,
        }
    }
}

/// What an archive did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// `database.table`.
    pub table: String,
    /// The partitions archived, by key.
    pub partitions: Vec<String>,
    /// Files copied.
    pub files: u64,
    /// Their rows.
    pub rows: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The storage class (`LOCAL` on a local warehouse).
    pub storage_class: String,
    /// The archive id, when something was archived.
    pub archive_id: Option<String>,
}

/// Why an archive failed; the table is as it was unless the commit is named.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The table has no date partition key to measure age by.
    #[error("{table} has no partition key of type date, so its partitions have no age to archive by")]
    NoDateKey {
        /// `database.table`
        table: String,
    },
    /// Reading the table or committing the archive failed.
    #[error("archive of {table}: {source}")]
    Commit {
        /// `database.table`
        table: String,
        /// what went wrong
        source: CommitError,
    },
    /// A copy failed; nothing was committed.
    #[error("archive of {table}: copying {from} to {to}: {reason}; nothing was committed, run it again")]
    Copy {
        /// `database.table`
        table: String,
        /// the source object
        from: String,
        /// the copy
        to: String,
        /// what the store said
        reason: String,
    },
}

impl Categorize for ArchiveError {
    fn category(&self) -> Category {
        match self {
            ArchiveError::NoDateKey { .. } => Category::Usage,
            ArchiveError::Commit { source, .. } => source.category(),
            ArchiveError::Copy { .. } => Category::Io,
        }
    }
}

/// Archives the partitions of `def` older than `options.older_than`. `s3` is the SDK client
/// of an S3 warehouse (`None` for a local one); `hook` follows the commit (the Glue auto-push,
/// which removes the partitions from Glue too).
pub async fn archive(
    catalog: &Catalog,
    def: &Arc<TableDef>,
    s3: Option<&aws_sdk_s3::Client>,
    options: &ArchiveOptions,
    hook: &dyn CommitHook,
) -> Result<ArchiveReport, ArchiveError> {
    let table = def.qualified_name();
    let commit_error = |source| ArchiveError::Commit { table: table.clone(), source };
    let key = def
        .partition_keys
        .iter()
        .find(|(_, ty)| *ty == crate::catalog::types::GlueType::Date)
        .map(|(name, _)| name.clone())
        .ok_or_else(|| ArchiveError::NoDateKey { table: table.clone() })?;
    let wh = &catalog.warehouse;
    let class = if wh.is_local() { "LOCAL" } else { options.storage_class.as_str() };
    let mut report =
        ArchiveReport { table: table.clone(), storage_class: class.to_string(), ..ArchiveReport::default() };
    let log = catalog.log(def);
    let Some(base) = log.latest().await.map_err(commit_error)? else { return Ok(report) };
    let retention = Retention { key, keep: options.older_than };
    let doomed = super::retention::expired(def, &retention, &base, options.now);
    for (key, _) in &doomed {
        let partition = &base.partitions[key];
        report.partitions.push(key.clone());
        report.files += partition.files.len() as u64;
        report.rows += partition.rows();
        report.bytes += partition.bytes();
    }
    if doomed.is_empty() || options.dry_run {
        return Ok(report);
    }

    let archive_id = new_commit_id();
    let mut txn = Transaction::on(Some(&base), format!("archive {archive_id}"), options.now);
    let mut archived = Vec::with_capacity(doomed.len());
    for (key, values) in doomed {
        let partition = &base.partitions[&key];
        let location = format!("{}{archive_id}/{key}/", archive_prefix(def));
        let mut files = Vec::with_capacity(partition.files.len());
        for file in &partition.files {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            let to = format!("{location}{name}");
            copy(wh, s3, &file.path, &to, options).await.map_err(|reason| ArchiveError::Copy {
                table: table.clone(),
                from: file.path.clone(),
                to: to.clone(),
                reason,
            })?;
            files.push(DataFile { path: to, ..file.clone() });
        }
        archived.push(ArchivedPartition {
            archive_id: archive_id.clone(),
            partition: key,
            values: values.clone(),
            location,
            files,
            storage_class: class.to_string(),
            archived_at: options.now,
        });
        txn.changes.push(Change::Remove(values));
    }
    crate::catalog::state::list_in(&mut txn, Some(&base), ARCHIVES_PROPERTY, &archived);
    log.commit(&txn).await.map_err(commit_error)?;
    hook.committed(def).await;
    report.archive_id = Some(archive_id);
    Ok(report)
}

/// Copies `from` to `to` (both relative to the warehouse root): server-side into `class` on
/// S3, with the warehouse's encryption; a plain copy on a local warehouse.
async fn copy(
    wh: &Warehouse,
    s3: Option<&aws_sdk_s3::Client>,
    from: &str,
    to: &str,
    options: &ArchiveOptions,
) -> Result<(), String> {
    let (source, target) = (wh.path(from), wh.path(to));
    let Some(client) = s3.filter(|_| !wh.is_local()) else {
        return wh.store().copy(&source, &target).await.map_err(|e| e.to_string());
    };
    let bucket = wh.url().host_str().unwrap_or_default().to_string();
    let copy_source = format!(
        "{bucket}/{}",
        url::form_urlencoded::byte_serialize(source.as_ref().as_bytes()).collect::<String>().replace("%2F", "/")
    );
    let mut request = client
        .copy_object()
        .bucket(&bucket)
        .key(target.as_ref())
        .copy_source(copy_source)
        .storage_class(aws_sdk_s3::types::StorageClass::from(options.storage_class.as_str()));
    request = match &options.encryption {
        Encryption::BucketDefault => request,
        Encryption::Kms(key) => {
            request.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms).ssekms_key_id(key)
        }
        Encryption::Mode(mode) => {
            request.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::from(mode.as_str()))
        }
    };
    request.send().await.map(|_| ()).map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}
