//! CSV loading: header-matched columns, row-level rejects, one Parquet file per input.
//!
//! Columns are matched to the table by header name (case and surrounding spaces ignored); a
//! table column missing from the header, or a header column the table does not have, is an
//! error naming both. The lineage columns `source_file` (string) and `source_line` (bigint), when
//! the table has them and the header does not, are filled with where each row came from.
//!
//! A row that cannot be read against the schema — the wrong number of fields, bytes that are
//! not UTF-8, a value that does not fit its column's type — is not loaded and not dropped: it
//! goes to the load's rejects (see [`super::rejects`]) with file, line, byte offset and reason.
//! Every input of one call lands in the table's `ingest_date` partition for the given day (or
//! the one partition of an unpartitioned table) and becomes visible, with its rejects and the
//! ledger of loaded files, in a single commit.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, StringBuilder};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};
use indicatif::ProgressBar;
use serde_json::{Map, Value, json};

use super::source::Input;
use crate::catalog::CommitHook;
use crate::catalog::files::{ParquetSink, WriteError};
use crate::catalog::rejects::{Reject, RejectSink};
use crate::catalog::state::{CommitError, DataFile, TableLog, Transaction};
use crate::catalog::table::TableDef;
use crate::catalog::types::GlueType;
use crate::error::{Categorize, Category};
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
    /// The CSV could not be read on (an I/O error mid-file).
    #[error("{path}: {message}")]
    Data {
        /// the file
        path: PathBuf,
        /// what failed
        message: String,
    },
    /// Writing Parquet failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Committing failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Categorize for CsvError {
    fn category(&self) -> Category {
        match self {
            CsvError::Read { .. } => Category::Io,
            CsvError::Partitioning { .. } | CsvError::Header { .. } | CsvError::Data { .. } => Category::Data,
            CsvError::Write(e) => e.category(),
            CsvError::Commit(e) => e.category(),
        }
    }
}

/// Table property recording every loaded file by content hash, advanced in the same commit
/// as the file's rows, so a re-run skips exactly what is already in the table.
pub const INGESTED_FILES_PROPERTY: &str = "glaux.ingested_files";

/// The lineage column filled with the input's name.
pub const SOURCE_FILE_COLUMN: &str = "source_file";
/// The lineage column filled with the 1-based line where the row starts.
pub const SOURCE_LINE_COLUMN: &str = "source_line";

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CsvReport {
    /// Inputs loaded, as named.
    pub loaded: Vec<String>,
    /// Inputs skipped because their content was loaded before.
    pub skipped: Vec<String>,
    /// Data rows read (loaded and rejected).
    pub rows_read: u64,
    /// Rows written to the table.
    pub rows_written: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Bytes of Parquet written (data files only).
    pub bytes_written: u64,
    /// Version of the table after the load.
    pub version: u64,
}

/// How to load.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Day to file the load under.
    pub day: NaiveDate,
    /// Commit time.
    pub at: DateTime<Utc>,
    /// Load inputs even when the same content was loaded before.
    pub force: bool,
    /// The run recording this load.
    pub run_id: String,
}

/// Where each table column comes from.
#[derive(Debug, Clone, Copy)]
enum ColumnSource {
    /// This header position.
    Header(usize),
    /// The input's name.
    SourceFile,
    /// The record's line.
    SourceLine,
}

/// Loads `inputs` into `def`'s table as one commit, filed under `options.day` when the table
/// has an `ingest_date` partition key; `hook` follows the commit.
pub async fn ingest_csv(
    warehouse: &Warehouse,
    def: &TableDef,
    inputs: &[Input],
    options: &CsvOptions,
    hook: &dyn CommitHook,
) -> Result<CsvReport, CsvError> {
    let values = partition_values(def, options.day)?;
    let log = TableLog::of(warehouse, def);
    let base = log.head().await?;
    let property = |name: &str| base.as_ref().and_then(|s| s.properties.get(name)).cloned();
    let mut ledger = match property(INGESTED_FILES_PROPERTY) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let next_version = base.as_ref().map_or(1, |s| s.version + 1);

    let mut txn = Transaction::on(base.as_ref(), "ingest csv", options.at);
    let partition_path = log.partition_key(&values);
    let location = format!("{}{}{}/", def.location, with_slash(&partition_path), txn.commit_id);
    let mut rejects = RejectSink::new(warehouse, &def.qualified_name(), &txn.commit_id, &options.run_id, options.at);

    let mut report = CsvReport::default();
    let mut files = Vec::new();
    let mut todo = Vec::new();
    for input in inputs {
        let hash = content_hash(input)?;
        match ledger.contains_key(&hash) && !options.force {
            true => report.skipped.push(input.name.clone()),
            false => todo.push((input, hash)),
        }
    }
    let total: u64 = todo.iter().map(|(i, _)| std::fs::metadata(&i.path).map_or(0, |m| m.len())).sum();
    let bar = crate::progress::bytes(total, format!("loading {}", def.qualified_name()));
    for (input, hash) in todo {
        let target = format!("{location}part-{:05}.parquet", files.len());
        let loaded = load_one(warehouse, def, input, &target, &mut rejects, &bar).await?;
        report.rows_read += loaded.rows_read;
        files.extend(loaded.file);
        report.loaded.push(input.name.clone());
        ledger.insert(
            hash,
            json!({"source": input.name, "version": next_version, "loaded_at": options.at, "run_id": options.run_id}),
        );
    }
    bar.finish_and_clear();
    report.rows_rejected = rejects.rows();
    report.rows_written = files.iter().map(|f| f.rows).sum();
    report.bytes_written = files.iter().map(|f| f.size).sum();
    if report.loaded.is_empty() {
        report.version = base.map_or(0, |s| s.version);
        return Ok(report);
    }
    if !files.is_empty() {
        log.append_partition(&mut txn, base.as_ref(), values, location, files).await?;
    }
    if let Some(file) = rejects.finish().await? {
        crate::catalog::rejects::list_in(&mut txn, base.as_ref(), &file);
    }
    txn.properties.insert(INGESTED_FILES_PROPERTY.to_string(), Value::Object(ledger));
    let state = log.commit(&txn).await?;
    hook.committed(def).await;
    report.version = state.version;
    Ok(report)
}

/// SHA-256 of an input's bytes, hex.
fn content_hash(input: &Input) -> Result<String, CsvError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let read_err = |source| CsvError::Read { path: input.name.clone().into(), source };
    let mut file = File::open(&input.path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
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

/// What one input gave.
struct Loaded {
    /// The data file, `None` when every row was rejected.
    file: Option<DataFile>,
    /// Records read.
    rows_read: u64,
}

/// Reads one CSV input and writes its good rows as one Parquet file, its bad rows to `rejects`.
async fn load_one(
    warehouse: &Warehouse,
    def: &TableDef,
    input: &Input,
    target: &str,
    rejects: &mut RejectSink,
    bar: &ProgressBar,
) -> Result<Loaded, CsvError> {
    let file = File::open(&input.path).map_err(|source| CsvError::Read { path: input.name.clone().into(), source })?;
    let mut reader = ::csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(BufReader::new(file));
    let header = read_header(&mut reader, input)?;
    let sources = match_columns(def, &header, input)?;
    let mut batch = PendingBatch::new(def.file_schema.clone(), &sources, &header, &input.name);
    let mut sink: Option<ParquetSink> = None;
    let mut record = ::csv::ByteRecord::new();
    let mut rows_read = 0;
    let mut last_offset = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(CsvError::Data { path: input.name.clone().into(), message: e.to_string() }),
        }
        rows_read += 1;
        let (line, offset) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        bar.inc(offset.saturating_sub(last_offset));
        last_offset = offset;
        if let Some(reason) = batch.push(&record, header.len(), line, offset) {
            let text = csv_text(record.iter().map(String::from_utf8_lossy));
            rejects
                .push(Reject { source_file: input.name.clone(), line, byte_offset: offset, reason, record: text })
                .await?;
            continue;
        }
        if batch.len() >= BATCH_ROWS {
            write_batch(warehouse, target, def, &mut sink, &mut batch, rejects).await?;
        }
    }
    write_batch(warehouse, target, def, &mut sink, &mut batch, rejects).await?;
    let file = match sink {
        Some(sink) => Some(sink.finish().await?),
        None => None,
    };
    Ok(Loaded { file, rows_read })
}

/// Casts the pending rows, rejects those that do not fit, and appends the rest to the file
/// (created on the first good row).
async fn write_batch(
    warehouse: &Warehouse,
    target: &str,
    def: &TableDef,
    sink: &mut Option<ParquetSink>,
    pending: &mut PendingBatch,
    rejects: &mut RejectSink,
) -> Result<(), CsvError> {
    if pending.len() == 0 {
        return Ok(());
    }
    let (batch, bad) = pending.take();
    for reject in bad {
        rejects.push(reject).await?;
    }
    if batch.num_rows() == 0 {
        return Ok(());
    }
    if sink.is_none() {
        *sink = Some(ParquetSink::create(warehouse, target, def.file_schema.clone())?);
    }
    sink.as_mut().expect("created above").write(&batch).await?;
    Ok(())
}

/// Rows read but not yet cast: one text builder per table column.
struct PendingBatch {
    schema: SchemaRef,
    sources: Vec<ColumnSource>,
    source_file: String,
    header: Vec<String>,
    text: Vec<StringBuilder>,
    lines: Vec<u64>,
    offsets: Vec<u64>,
}

impl PendingBatch {
    fn new(schema: SchemaRef, sources: &[ColumnSource], header: &[String], source_file: &str) -> PendingBatch {
        let text = sources.iter().map(|_| StringBuilder::new()).collect();
        PendingBatch {
            schema,
            sources: sources.to_vec(),
            source_file: source_file.to_string(),
            header: header.to_vec(),
            text,
            lines: Vec::new(),
            offsets: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    /// Adds a record, or says why it cannot be read.
    fn push(&mut self, record: &::csv::ByteRecord, fields: usize, line: u64, offset: u64) -> Option<String> {
        if record.len() != fields {
            return Some(format!("expected {fields} fields as in the header, found {}", record.len()));
        }
        let mut values = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            if let ColumnSource::Header(i) = source {
                match std::str::from_utf8(&record[*i]) {
                    Ok(text) => values.push(Some(text)),
                    Err(e) => {
                        return Some(format!(
                            "field {} (`{}`) is not valid UTF-8 at byte {} of the field; re-export the file as UTF-8",
                            i + 1,
                            self.header[*i],
                            e.valid_up_to()
                        ));
                    }
                }
            } else {
                values.push(None);
            }
        }
        for (builder, value) in self.text.iter_mut().zip(values) {
            builder.append_option(value);
        }
        self.lines.push(line);
        self.offsets.push(offset);
        None
    }

    /// The rows that fit the schema as a typed batch, and a reject for each row that does not.
    fn take(&mut self) -> (RecordBatch, Vec<Reject>) {
        let lines = std::mem::take(&mut self.lines);
        let offsets = std::mem::take(&mut self.offsets);
        let text: Vec<StringArray> = self.text.iter_mut().map(|b| b.finish()).collect();
        let rows = lines.len();
        let mut reasons: Vec<Option<String>> = vec![None; rows];
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.sources.len());
        for ((field, source), raw) in self.schema.fields().iter().zip(&self.sources).zip(&text) {
            let column: ArrayRef = match source {
                ColumnSource::SourceFile => Arc::new(StringArray::from(vec![self.source_file.as_str(); rows])),
                ColumnSource::SourceLine => Arc::new(Int64Array::from_iter_values(lines.iter().map(|l| *l as i64))),
                ColumnSource::Header(_) => typed(raw, field, &mut reasons),
            };
            columns.push(column);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns).expect("columns follow the table schema");
        let keep: BooleanArray = reasons.iter().map(|r| Some(r.is_none())).collect();
        let mut bad = Vec::new();
        for (row, reason) in reasons.into_iter().enumerate() {
            if let Some(reason) = reason {
                let fields: Vec<&str> = text.iter().filter(|c| c.is_valid(row)).map(|c| c.value(row)).collect();
                bad.push(Reject {
                    source_file: self.source_file.clone(),
                    line: lines[row],
                    byte_offset: offsets[row],
                    reason,
                    record: csv_text(fields),
                });
            }
        }
        let good = match bad.is_empty() {
            true => batch,
            false => filter_record_batch(&batch, &keep).expect("mask has one entry per row"),
        };
        (good, bad)
    }
}

/// Casts one text column to its field's type. A value that does not convert gets a reason in
/// `reasons`; an empty field is NULL for every type but text, and numbers may carry spaces.
fn typed(raw: &StringArray, field: &arrow::datatypes::Field, reasons: &mut [Option<String>]) -> ArrayRef {
    if matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        return cast_with_options(raw, field.data_type(), &CastOptions::default()).expect("text casts to text");
    }
    let trimmed: StringArray = raw.iter().map(|v| v.map(str::trim).filter(|v| !v.is_empty())).collect();
    let options = CastOptions { safe: true, ..CastOptions::default() };
    let cast = match cast_with_options(&trimmed, field.data_type(), &options) {
        Ok(cast) => cast,
        Err(e) => {
            for (row, reason) in reasons.iter_mut().enumerate() {
                if trimmed.is_valid(row) && reason.is_none() {
                    *reason = Some(format!("column `{}`: {e}", field.name()));
                }
            }
            return arrow::array::new_null_array(field.data_type(), raw.len());
        }
    };
    for (row, reason) in reasons.iter_mut().enumerate() {
        if trimmed.is_valid(row) && cast.is_null(row) && reason.is_none() {
            *reason = Some(format!(
                "column `{}`: `{}` is not a valid {}",
                field.name(),
                trimmed.value(row),
                GlueType::from_arrow_field(field).map_or_else(|_| field.data_type().to_string(), |t| t.to_string())
            ));
        }
    }
    if !field.is_nullable() {
        for (row, reason) in reasons.iter_mut().enumerate() {
            if cast.is_null(row) && reason.is_none() {
                *reason = Some(format!("column `{}` must not be empty", field.name()));
            }
        }
    }
    cast
}

/// The header row's names (a UTF-8 byte-order mark is ignored).
fn read_header<R: std::io::Read>(reader: &mut ::csv::Reader<R>, input: &Input) -> Result<Vec<String>, CsvError> {
    let header = reader
        .byte_headers()
        .map_err(|e| CsvError::Data { path: input.name.clone().into(), message: e.to_string() })?;
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(CsvError::Header { path: input.name.clone().into(), problem: "the file has no header row".into() });
    }
    header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = name.strip_prefix("\u{feff}".as_bytes()).unwrap_or(name);
            String::from_utf8(name.to_vec()).map_err(|_| CsvError::Header {
                path: input.name.clone().into(),
                problem: format!("header field {} is not valid UTF-8", i + 1),
            })
        })
        .collect()
}

/// For each table column, where its values come from.
fn match_columns(def: &TableDef, header: &[String], input: &Input) -> Result<Vec<ColumnSource>, CsvError> {
    let normalise = |s: &str| s.trim().to_ascii_lowercase();
    let header_names: Vec<String> = header.iter().map(|h| normalise(h)).collect();
    let path = || PathBuf::from(&input.name);
    let mut sources = Vec::new();
    for field in def.file_schema.fields() {
        let name = field.name().as_str();
        let source = match header_names.iter().position(|h| h == name) {
            Some(i) => ColumnSource::Header(i),
            None if name == SOURCE_FILE_COLUMN && field.data_type() == &DataType::Utf8 => ColumnSource::SourceFile,
            None if name == SOURCE_LINE_COLUMN && field.data_type() == &DataType::Int64 => ColumnSource::SourceLine,
            None => {
                return Err(CsvError::Header {
                    path: path(),
                    problem: format!("column `{name}` of {} is missing from the header", def.qualified_name()),
                });
            }
        };
        sources.push(source);
    }
    if let Some(extra) = header_names.iter().find(|h| def.file_schema.field_with_name(h).is_err()) {
        return Err(CsvError::Header {
            path: path(),
            problem: format!(
                "header column `{extra}` is not a column of {}; add it to the definition or remove it",
                def.qualified_name()
            ),
        });
    }
    Ok(sources)
}

fn with_slash(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!("{path}/") }
}

/// Fields as one CSV line, quoted where needed.
pub fn csv_text(fields: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    fields
        .into_iter()
        .map(|f| {
            let f = f.as_ref();
            match f.contains([',', '"', '\n', '\r']) {
                true => format!("\"{}\"", f.replace('"', "\"\"")),
                false => f.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}
