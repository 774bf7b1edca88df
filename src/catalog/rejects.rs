//! Rejected input rows: what could not be read against a table's schema, and why.
//!
//! A load writes its rejects as one Parquet file under `_glaux/rejects/<db>/<table>/` and lists
//! it in the table property [`REJECTS_PROPERTY`] of the same commit that publishes its rows, so
//! rows and rejects become visible together, and a load that fails or is killed leaves neither.
//! `system.ingest_rejects` reads the files every table's newest snapshot lists. CSV and log
//! ingest both write their rejects here.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::files::{ParquetSink, WriteError};
use super::state::{Base, DataFile, Transaction};
use crate::warehouse::{STATE_PREFIX, Warehouse};

/// Table property listing a table's reject files ([`RejectFile`]s).
pub const REJECTS_PROPERTY: &str = "glaux.rejects";

/// Rejects buffered before they are written out.
const BUFFER_ROWS: usize = 8 * 1024;

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The input as the user named it.
    pub source_file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Byte offset where the record starts.
    pub byte_offset: u64,
    /// Why, naming the column and value.
    pub reason: String,
    /// The record's fields as CSV text (invalid UTF-8 replaced by U+FFFD).
    pub record: String,
}

/// A reject file listed in [`REJECTS_PROPERTY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectFile {
    /// The Parquet file.
    #[serde(flatten)]
    pub file: DataFile,
    /// The run that wrote it.
    pub run_id: String,
}

/// The schema of `system.ingest_rejects`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("source_file", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, false),
        Field::new("byte_offset", DataType::UInt64, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("record", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new("rejected_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
    ]))
}

/// Collects one load's rejects and writes them to one Parquet file, created on the first reject.
pub struct RejectSink {
    warehouse: Warehouse,
    path: String,
    table: String,
    run_id: String,
    at: DateTime<Utc>,
    buffer: Vec<Reject>,
    sink: Option<ParquetSink>,
    rows: u64,
}

impl RejectSink {
    /// Rejects of `table` (`db.table`) for commit `commit_id` of run `run_id`.
    pub fn new(warehouse: &Warehouse, table: &str, commit_id: &str, run_id: &str, at: DateTime<Utc>) -> RejectSink {
        let dir = table.replace('.', "/");
        RejectSink {
            warehouse: warehouse.clone(),
            path: format!("{STATE_PREFIX}/rejects/{dir}/{commit_id}.parquet"),
            table: table.to_string(),
            run_id: run_id.to_string(),
            at,
            buffer: Vec::new(),
            sink: None,
            rows: 0,
        }
    }

    /// Records a reject.
    pub async fn push(&mut self, reject: Reject) -> Result<(), WriteError> {
        self.rows += 1;
        self.buffer.push(reject);
        if self.buffer.len() >= BUFFER_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    /// Rejects so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    async fn flush(&mut self) -> Result<(), WriteError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let rejects = std::mem::take(&mut self.buffer);
        let batch = self.batch(rejects);
        if self.sink.is_none() {
            self.sink = Some(ParquetSink::create(&self.warehouse, &self.path, schema())?);
        }
        self.sink.as_mut().expect("created above").write(&batch).await
    }

    fn batch(&self, rejects: Vec<Reject>) -> RecordBatch {
        let n = rejects.len();
        let repeat = |value: &str| Arc::new(StringArray::from(vec![value; n])) as ArrayRef;
        let text = |f: fn(&Reject) -> &str| Arc::new(StringArray::from_iter_values(rejects.iter().map(f))) as ArrayRef;
        let number = |f: fn(&Reject) -> u64| Arc::new(UInt64Array::from_iter_values(rejects.iter().map(f))) as ArrayRef;
        let at = TimestampMicrosecondArray::from(vec![self.at.timestamp_micros(); n]).with_timezone("UTC");
        let columns = vec![
            repeat(&self.table),
            text(|r| &r.source_file),
            number(|r| r.line),
            number(|r| r.byte_offset),
            text(|r| &r.reason),
            text(|r| &r.record),
            repeat(&self.run_id),
            Arc::new(at) as ArrayRef,
        ];
        RecordBatch::try_new(schema(), columns).expect("columns match the rejects schema")
    }

    /// Finishes the file; `None` when nothing was rejected.
    pub async fn finish(mut self) -> Result<Option<RejectFile>, WriteError> {
        self.flush().await?;
        match self.sink.take() {
            Some(sink) => Ok(Some(RejectFile { file: sink.finish().await?, run_id: self.run_id })),
            None => Ok(None),
        }
    }
}

/// The reject files a table's snapshot properties list.
pub fn reject_files(properties: &std::collections::BTreeMap<String, serde_json::Value>) -> Vec<RejectFile> {
    super::state::listed(properties, REJECTS_PROPERTY)
}

/// Lists `file` in `txn`'s [`REJECTS_PROPERTY`]: the list of `base`, the snapshot the writer
/// read, plus `file`. The rejects become visible with the commit's rows, or not at all.
pub fn list_in<B: Base>(txn: &mut Transaction, base: Option<&B>, file: &RejectFile) {
    super::state::list_in(txn, base, REJECTS_PROPERTY, std::slice::from_ref(file));
}
