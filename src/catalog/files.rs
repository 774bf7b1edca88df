//! Data files: the one way glaux writes Parquet into the warehouse, and the footer read that
//! counts a file's rows without reading it.
//!
//! [`ParquetSink`] writes one Parquet file the way every reader accepts it (zstd, INT64
//! timestamps with UTC semantics, no INT96) into a commit's fresh prefix. Nothing written here is
//! visible until [`super::state::TableLog::commit`] publishes it, so a failed or killed writer
//! leaves only unreferenced files behind.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::state::DataFile;
use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// Why writing a data file failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Parquet encoding or the upload failed.
    #[error("writing {path}: {source}")]
    Parquet {
        /// the file, relative to the warehouse
        path: String,
        /// what failed
        source: parquet::errors::ParquetError,
    },
}

impl Categorize for WriteError {
    fn category(&self) -> Category {
        Category::Io
    }
}

/// Writer settings every glaux Parquet file uses.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        // zstd level 1, pyarrow's default: on the customer jobs' output 0.2–2.5 % larger than
        // level 3, encoded faster, and each open column's compression context holds a quarter
        // of level 3's (a job writing 16 partitions keeps 300 of them).
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1 is valid")))
        // A column whose dictionary outgrows 256 KiB in a row group (ids, emails, names) is
        // written plain from there on; 1 MiB, the default, spends more time interning values
        // that do not repeat.
        .set_dictionary_page_size_limit(256 * 1024)
        .set_created_by(format!("glaux {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The bytes a file being written holds before it goes to the store in parts, on a local
/// warehouse: a job writing many partitions at once keeps this much per open file, not the file.
const LOCAL_UPLOAD_BUFFER: usize = 1024 * 1024;

/// The same on S3, where a multipart upload's parts are at least 5 MiB and each part is a
/// request: a file under this size is one PUT.
const S3_UPLOAD_BUFFER: usize = 10 * 1024 * 1024;

/// One Parquet file being written to the warehouse.
pub struct ParquetSink {
    writer: AsyncArrowWriter<BufWriter>,
    path: String,
    rows: u64,
}

impl ParquetSink {
    /// Starts `relative_path` (below the warehouse root) with `schema`.
    pub fn create(warehouse: &Warehouse, relative_path: &str, schema: SchemaRef) -> Result<ParquetSink, WriteError> {
        let capacity = match warehouse.is_local() {
            true => LOCAL_UPLOAD_BUFFER,
            false => S3_UPLOAD_BUFFER,
        };
        let upload = BufWriter::with_capacity(Arc::clone(warehouse.store()), warehouse.path(relative_path), capacity);
        let writer = AsyncArrowWriter::try_new(upload, schema, Some(writer_properties()))
            .map_err(|source| WriteError::Parquet { path: relative_path.to_string(), source })?;
        Ok(ParquetSink { writer, path: relative_path.to_string(), rows: 0 })
    }

    /// Appends a batch.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).await.map_err(|source| WriteError::Parquet { path: self.path.clone(), source })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes the writer holds for the row group in progress (encoders, dictionaries, pages).
    pub fn memory_size(&self) -> usize {
        self.writer.memory_size()
    }

    /// Ends the row group in progress, releasing the memory it holds.
    pub async fn flush(&mut self) -> Result<(), WriteError> {
        self.writer.flush().await.map_err(|source| WriteError::Parquet { path: self.path.clone(), source })
    }

    /// Finishes the file and completes the upload.
    pub async fn finish(mut self) -> Result<DataFile, WriteError> {
        self.writer.finish().await.map_err(|source| WriteError::Parquet { path: self.path.clone(), source })?;
        let size = self.writer.bytes_written() as u64;
        Ok(DataFile { path: self.path, size, rows: self.rows })
    }
}

/// Why a Parquet file's footer could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{path} is not a readable Parquet file: {reason}")]
pub struct FooterError {
    /// the file
    pub path: String,
    /// what is wrong
    pub reason: String,
}

impl Categorize for FooterError {
    fn category(&self) -> Category {
        Category::Data
    }
}

/// The row count in a Parquet file's footer, read with two ranged GETs. The footer length is
/// checked against the file size before use, so a corrupt file is an error, not a bad range.
pub async fn parquet_row_count(warehouse: &Warehouse, relative_path: &str, size: u64) -> Result<u64, FooterError> {
    let fail = |reason: String| FooterError { path: relative_path.to_string(), reason };
    if size < 12 {
        return Err(fail(format!("{size} bytes is too short")));
    }
    let path = warehouse.path(relative_path);
    let tail = warehouse.store().get_range(&path, size - 8..size).await.map_err(|e| fail(e.to_string()))?;
    if &tail[4..] != b"PAR1" {
        return Err(fail("no PAR1 magic at the end".into()));
    }
    let length = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("four bytes")));
    if length + 8 > size - 4 {
        return Err(fail(format!("footer length {length} exceeds the file size {size}")));
    }
    let footer =
        warehouse.store().get_range(&path, size - 8 - length..size - 8).await.map_err(|e| fail(e.to_string()))?;
    let metadata =
        parquet::file::metadata::ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| fail(e.to_string()))?;
    Ok(metadata.file_metadata().num_rows() as u64)
}
