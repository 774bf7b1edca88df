//! CSV loading: header-matched columns, cast to the table's types, one Parquet file per input.
//!
//! Columns are matched to the table by header name (case and surrounding spaces ignored); a
//! table column missing from the header, or a header column the table does not have, is an
//! error naming both, so nothing is dropped unnoticed. Every input of one call lands in the
//! table's `ingest_date` partition for the given day (or the one partition of an unpartitioned
//! table) and becomes visible in a single commit.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};
use object_store::ObjectStoreExt;
use serde_json::{Map, Value, json};

use super::{ParquetSink, WriteError};
use crate::catalog::state::{Change, CommitError, DataFile, NewPartition, TableLog, Transaction};
use crate::catalog::table::TableDef;
use crate::catalog::types::GlueType;
use crate::warehouse::Warehouse;

/// The partition key that a CSV load fills with the load's date.
pub const INGEST_DATE_KEY: &str = "ingest_date";

/// Rows per batch read from a CSV file.
const BATCH_ROWS: usize = 64 * 1024;

/// Why a CSV load failed; nothing it wrote became visible.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The table's partitioning is not one a CSV load can fill.
    #[error("{table} is partitioned by {keys}; `ingest csv` fills only a single `ingest_date` key (date or string)")]
    Partitioning {
        /// the table
        table: String,
        /// its keys
        keys: String,
    },
    /// An input could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// the I/O failure
        source: std::io::Error,
    },
    /// Header and table disagree.
    #[error("{path}: {problem}")]
    Header {
        /// the file
        path: PathBuf,
        /// which column and what to do
        problem: String,
    },
    /// A value does not fit its column's type, or the CSV is malformed.
    #[error("{path}: {message}")]
    Data {
        /// the file
        path: PathBuf,
        /// what arrow said, with the column
        message: String,
    },
    /// Writing Parquet failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Committing failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Copying the partition's earlier files into the new commit failed.
    #[error("copying {path} into the new commit: {source}")]
    Copy {
        /// the file
        path: String,
        /// the store error
        source: object_store::Error,
    },
}

/// Table property recording every loaded file by content hash, advanced in the same commit
/// as the file's rows, so a re-run skips exactly what is already in the table.
pub const INGESTED_FILES_PROPERTY: &str = "glaux.ingested_files";

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvReport {
    /// Files loaded.
    pub files: usize,
    /// Files skipped because their content was loaded before.
    pub skipped: usize,
    /// Rows read.
    pub rows_read: u64,
    /// Rows written.
    pub rows_written: u64,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Version of the commit that published them.
    pub version: u64,
}

/// Loads `paths` into `def`'s table as one commit at `at`, filed under `day` when the table has
/// an `ingest_date` partition key.
pub async fn ingest_csv(
    warehouse: &Warehouse,
    def: &TableDef,
    paths: &[PathBuf],
    day: NaiveDate,
    at: DateTime<Utc>,
) -> Result<CsvReport, CsvError> {
    let values = partition_values(def, day)?;
    let keys = def.partition_keys.iter().map(|(name, _)| name.clone()).collect();
    let log = TableLog::new(warehouse, &def.database, def.name(), keys);
    let base = log.latest().await?;
    let mut ledger = match base.as_ref().and_then(|s| s.properties.get(INGESTED_FILES_PROPERTY)) {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    };

    let mut txn = Transaction::new("ingest csv", at);
    let partition_path = log.partition_key(&values);
    let location = format!("{}{}{}/", def.location, with_slash(&partition_path), txn.commit_id);

    let mut files = Vec::new();
    let mut rows_read = 0;
    let mut skipped = 0;
    for path in paths {
        let hash = content_hash(path)?;
        if ledger.contains_key(&hash) {
            skipped += 1;
            continue;
        }
        let target = format!("{location}part-{:05}.parquet", files.len());
        let file = write_one(warehouse, def, path, &target).await?;
        rows_read += file.rows;
        files.push(file);
        let next_version = base.as_ref().map_or(1, |s| s.version + 1);
        ledger.insert(hash, json!({"source": path.display().to_string(), "version": next_version, "loaded_at": at}));
    }
    let loaded = files.len();
    if loaded == 0 {
        let version = base.map_or(0, |s| s.version);
        return Ok(CsvReport { files: 0, skipped, rows_read: 0, rows_written: 0, bytes_written: 0, version });
    }
    let key = log.partition_key(&values);
    if let Some(existing) = base.as_ref().and_then(|s| s.partitions.get(&key)) {
        files.extend(carry_over(warehouse, &existing.files, &location, files.len()).await?);
    }
    let rows_written = files.iter().map(|f| f.rows).sum();
    let bytes_written = files.iter().map(|f| f.size).sum();
    // Version 0 is the empty table: a concurrent first commit must conflict, not be overwritten.
    txn.read_version = Some(base.as_ref().map_or(0, |s| s.version));
    txn.changes.push(Change::Replace(NewPartition { values, location, files }));
    txn.properties.insert(INGESTED_FILES_PROPERTY.to_string(), Value::Object(ledger));
    let state = log.commit(&txn).await?;
    Ok(CsvReport { files: loaded, skipped, rows_read, rows_written, bytes_written, version: state.version })
}

/// SHA-256 of a file's bytes, hex.
fn content_hash(path: &Path) -> Result<String, CsvError> {
    use sha2::{Digest, Sha256};
    let mut file = File::open(path).map_err(|source| CsvError::Read { path: path.to_path_buf(), source })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| CsvError::Read { path: path.to_path_buf(), source })?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The partition values a load on `day` writes.
fn partition_values(def: &TableDef, day: NaiveDate) -> Result<Vec<String>, CsvError> {
    match def.partition_keys.as_slice() {
        [] => Ok(Vec::new()),
        [(name, GlueType::Date | GlueType::String)] if name == INGEST_DATE_KEY => {
            Ok(vec![day.format("%Y-%m-%d").to_string()])
        }
        keys => Err(CsvError::Partitioning {
            table: def.qualified_name(),
            keys: keys.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Copies a partition's current files into the new commit's prefix, so the partition's
/// location keeps holding exactly its files (Athena reads a partition as its directory).
async fn carry_over(
    warehouse: &Warehouse,
    files: &[DataFile],
    location: &str,
    first_index: usize,
) -> Result<Vec<DataFile>, CsvError> {
    let mut copied = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let target = format!("{location}part-{:05}.parquet", first_index + i);
        warehouse
            .store()
            .copy(&warehouse.path(&file.path), &warehouse.path(&target))
            .await
            .map_err(|source| CsvError::Copy { path: file.path.clone(), source })?;
        copied.push(DataFile { path: target, ..file.clone() });
    }
    Ok(copied)
}

/// Reads one CSV file and writes it as one Parquet file.
async fn write_one(warehouse: &Warehouse, def: &TableDef, path: &Path, target: &str) -> Result<DataFile, CsvError> {
    let read_err = |source| CsvError::Read { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(read_err)?;
    let header = read_header(&mut file, path)?;
    file.rewind().map_err(read_err)?;
    let positions = match_columns(def, &header, path)?;

    let raw_schema =
        Arc::new(Schema::new(header.iter().map(|h| Field::new(h, DataType::Utf8, true)).collect::<Vec<_>>()));
    let reader = arrow::csv::ReaderBuilder::new(raw_schema)
        .with_header(true)
        .with_batch_size(BATCH_ROWS)
        .build(BufReader::new(file))
        .map_err(|e| CsvError::Data { path: path.to_path_buf(), message: e.to_string() })?;

    let schema = def.file_schema.clone();
    let mut sink = ParquetSink::create(warehouse, target, schema.clone())?;
    for batch in reader {
        let batch = batch.map_err(|e| CsvError::Data { path: path.to_path_buf(), message: e.to_string() })?;
        let typed = conform(&batch, &schema, &positions, path)?;
        sink.write(&typed).await?;
    }
    Ok(sink.finish().await?)
}

/// The header row's names.
fn read_header(file: &mut File, path: &Path) -> Result<Vec<String>, CsvError> {
    let format = arrow::csv::reader::Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(BufReader::new(&mut *file), Some(0))
        .map_err(|e| CsvError::Data { path: path.to_path_buf(), message: e.to_string() })?;
    if schema.fields().is_empty() {
        return Err(CsvError::Header { path: path.to_path_buf(), problem: "the file has no header row".into() });
    }
    Ok(schema.fields().iter().map(|f| f.name().clone()).collect())
}

/// For each table column, the index of its header column.
fn match_columns(def: &TableDef, header: &[String], path: &Path) -> Result<Vec<usize>, CsvError> {
    let normalise = |s: &str| s.trim().to_ascii_lowercase();
    let header_names: Vec<String> = header.iter().map(|h| normalise(h)).collect();
    let mut positions = Vec::new();
    for field in def.file_schema.fields() {
        match header_names.iter().position(|h| h == field.name()) {
            Some(i) => positions.push(i),
            None => {
                return Err(CsvError::Header {
                    path: path.to_path_buf(),
                    problem: format!(
                        "column `{}` of {} is missing from the header",
                        field.name(),
                        def.qualified_name()
                    ),
                });
            }
        }
    }
    if let Some(extra) = header_names.iter().find(|h| def.file_schema.field_with_name(h).is_err()) {
        return Err(CsvError::Header {
            path: path.to_path_buf(),
            problem: format!(
                "header column `{extra}` is not a column of {}; add it to the definition or remove it",
                def.qualified_name()
            ),
        });
    }
    Ok(positions)
}

/// Picks and casts the raw string columns into the table's schema.
fn conform(batch: &RecordBatch, schema: &SchemaRef, positions: &[usize], path: &Path) -> Result<RecordBatch, CsvError> {
    let options = CastOptions { safe: false, ..CastOptions::default() };
    let columns = schema
        .fields()
        .iter()
        .zip(positions)
        .map(|(field, &i)| {
            cast_with_options(batch.column(i), field.data_type(), &options).map_err(|e| CsvError::Data {
                path: path.to_path_buf(),
                message: format!("column `{}`: {e}", field.name()),
            })
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| CsvError::Data { path: path.to_path_buf(), message: e.to_string() })
}

fn with_slash(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!("{path}/") }
}
