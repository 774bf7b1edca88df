//! Data files: the one way glaux writes Parquet into the warehouse, and the footer read that
//! counts a file's rows without reading it.
//!
//! [`ParquetSink`] writes one Parquet file the way every reader accepts it (zstd, INT64
//! timestamps with UTC semantics, no INT96) into a commit's fresh prefix. Nothing written here is
//! visible until [`super::state::TableLog::commit`] publishes it, so a failed or killed writer
//! leaves only unreferenced files behind.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::HashMap;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;

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
    properties_builder().build()
}

fn properties_builder() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        // zstd level 1, pyarrow's default: on the customer jobs' output 0.2–2.5 % larger than
        // level 3, encoded faster, and each open column's compression context holds a quarter
        // of level 3's (a job writing 16 partitions keeps 300 of them).
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1 is valid")))
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_LIMIT)
        // Values handed to the column encoders at a time (page limits are checked between them):
        // 8,192 rather than 1,024; the feature job spent 7 % less CPU at 3M customers.
        .set_write_batch_size(8192)
        // Row groups of at most 131,072 rows, about DuckDB's 122,880: large enough that a reader's
        // cost per row group (a decompression context per column chunk, its metadata) is small,
        // small enough that neither the writer's row group in progress nor a reader's column
        // chunks of one row group grow with the file.
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("glaux {}", env!("CARGO_PKG_VERSION")))
}

/// The settings for a file whose first batch is `first`: [`writer_properties`], with the
/// dictionary turned off for the columns whose dictionary would outgrow its page
/// ([`DICTIONARY_PAGE_LIMIT`]) within a row group, as far as their first values tell: ids, phone
/// numbers, line numbers, amounts and ratios. Such a column is written plain from the overflow
/// on anyway, so interning its values until then only costs time (for the feature job's amounts
/// and ratios, 1 % of its instructions, and its files came out 4 % smaller written plain), and
/// until it overflows the dictionary holds up to 256 KiB per open
/// column, which ends the row groups of a job writing many partitions early. Columns from a
/// bounded domain keep it even when a sample's values mostly differ (dates, ages, day counts):
/// their dictionary fits, and its indices are narrower than the values.
pub fn properties_for(first: &RecordBatch) -> WriterProperties {
    let mut builder = properties_builder();
    for (field, column) in first.schema().fields().iter().zip(first.columns()) {
        if dictionary_overflows(column.as_ref()) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// A column's dictionary page limit in a row group (`set_dictionary_page_size_limit`). A
/// column whose dictionary outgrows it is written plain from there on; 1 MiB, the default,
/// spends more time interning values that do not repeat.
const DICTIONARY_PAGE_LIMIT: usize = 256 * 1024;

/// Rows in a row group at most (`set_max_row_group_row_count`).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Non-null values a column's sample must have before it is judged; the sample is at most
/// [`SAMPLE_MAX`] rows, and a column that after [`SAMPLE_MIN`] values clearly fits is not
/// sampled further.
const SAMPLE_MIN: usize = 1024;
const SAMPLE_MAX: usize = 8192;

/// Whether the dictionary of a flat column would outgrow [`DICTIONARY_PAGE_LIMIT`] in a row
/// group of [`ROW_GROUP_ROWS`], judged from its first (up to [`SAMPLE_MAX`]) rows. Nested,
/// boolean and short columns are not judged (false).
fn dictionary_overflows(column: &dyn Array) -> bool {
    let sample = column.slice(0, column.len().min(SAMPLE_MAX));
    if sample.len() - sample.null_count() < SAMPLE_MIN {
        return false;
    }
    let rows = sample.len();
    match sample.data_type() {
        DataType::Utf8 => overflows(sample.as_string::<i32>().iter().flatten().map(str::as_bytes), None, rows),
        DataType::LargeUtf8 => overflows(sample.as_string::<i64>().iter().flatten().map(str::as_bytes), None, rows),
        DataType::Utf8View => overflows(sample.as_string_view().iter().flatten().map(str::as_bytes), None, rows),
        DataType::Binary => overflows(sample.as_binary::<i32>().iter().flatten(), None, rows),
        DataType::LargeBinary => overflows(sample.as_binary::<i64>().iter().flatten(), None, rows),
        DataType::BinaryView => overflows(sample.as_binary_view().iter().flatten(), None, rows),
        DataType::FixedSizeBinary(width) => {
            overflows(sample.as_fixed_size_binary().iter().flatten(), usize::try_from(*width).ok(), rows)
        }
        kind if kind.is_primitive() => {
            let Some(width) = kind.primitive_width() else { return false };
            let data = sample.to_data();
            let bytes = &data.buffers()[0].as_slice()[data.offset() * width..(data.offset() + data.len()) * width];
            let values = bytes.chunks_exact(width).enumerate().filter(|(row, _)| sample.is_valid(*row));
            overflows(values.map(|(_, v)| v), Some(parquet_width(kind, width)), rows)
        }
        _ => false,
    }
}

/// The bytes of one value of a primitive Arrow type in a Parquet dictionary: 8- and 16-bit
/// integers are INT32, decimals of up to 9 and 18 digits INT32 and INT64.
fn parquet_width(kind: &DataType, arrow_width: usize) -> usize {
    match kind {
        DataType::Decimal128(precision, _) | DataType::Decimal256(precision, _) if *precision <= 9 => 4,
        DataType::Decimal128(precision, _) | DataType::Decimal256(precision, _) if *precision <= 18 => 8,
        _ => arrow_width.max(4),
    }
}

/// Whether the distinct values of a row group, estimated from `values` (the non-null values of
/// the first `rows` rows), would take more than [`DICTIONARY_PAGE_LIMIT`] bytes in a dictionary
/// page. `width` is a value's size there, or None for a byte array (its length and 4).
///
/// The number of distinct values is Chao1's estimate from the values seen once and twice (Chao,
/// 1984): a domain much larger than the sample leaves mostly values seen once, a bounded one
/// values seen again. A row group cannot hold more distinct values than the sample's share of
/// distinct values in [`ROW_GROUP_ROWS`] rows.
fn overflows<'a>(values: impl Iterator<Item = &'a [u8]>, width: Option<usize>, rows: usize) -> bool {
    let mut counts: HashMap<&[u8], u32> = HashMap::with_capacity(SAMPLE_MIN);
    let mut seen = 0;
    // The estimated bytes of a row group's dictionary, `rows` being the rows the values came from.
    let dictionary_bytes = |counts: &HashMap<&[u8], u32>, rows: usize| {
        let (mut once, mut twice, mut bytes) = (0usize, 0usize, 0usize);
        for (value, count) in counts {
            match count {
                1 => once += 1,
                2 => twice += 1,
                _ => {}
            }
            bytes += width.unwrap_or(value.len() + 4);
        }
        let distinct = counts.len() as f64;
        let (once, twice) = (once as f64, twice as f64);
        let chao1 =
            if twice > 0.0 { distinct + once * once / (2.0 * twice) } else { distinct + once * (once - 1.0) / 2.0 };
        let in_row_group = chao1.min(ROW_GROUP_ROWS as f64 * distinct / rows as f64);
        in_row_group * (bytes as f64 / distinct)
    };
    for value in values {
        *counts.entry(value).or_insert(0) += 1;
        seen += 1;
        // A small domain is told after the first values: its dictionary clearly fits.
        if seen == SAMPLE_MIN && dictionary_bytes(&counts, seen) < DICTIONARY_PAGE_LIMIT as f64 / 4.0 {
            return false;
        }
    }
    dictionary_bytes(&counts, rows) > DICTIONARY_PAGE_LIMIT as f64
}

/// The bytes a file being written holds before it goes to the store in parts, on a local
/// warehouse: a job writing many partitions at once keeps this much per open file, not the file.
const LOCAL_UPLOAD_BUFFER: usize = 1024 * 1024;

/// The same on S3, where a multipart upload's parts are at least 5 MiB and each part is a
/// request: a file under this size is one PUT.
const S3_UPLOAD_BUFFER: usize = 10 * 1024 * 1024;

/// One Parquet file being written to the warehouse. The Parquet writer starts with the first
/// batch, whose values decide which columns skip the dictionary ([`properties_for`]).
pub struct ParquetSink {
    writer: Writer,
    path: String,
    rows: u64,
}

/// A sink's Parquet writer, or what it will be made of once the first batch arrives.
enum Writer {
    Waiting {
        upload: Box<BufWriter>,
        schema: SchemaRef,
    },
    Open(Box<AsyncArrowWriter<BufWriter>>),
    /// Only while a waiting writer is being opened.
    Taken,
}

impl ParquetSink {
    /// Starts `relative_path` (below the warehouse root) with `schema`.
    pub fn create(warehouse: &Warehouse, relative_path: &str, schema: SchemaRef) -> Result<ParquetSink, WriteError> {
        let capacity = match warehouse.is_local() {
            true => LOCAL_UPLOAD_BUFFER,
            false => S3_UPLOAD_BUFFER,
        };
        let upload = BufWriter::with_capacity(Arc::clone(warehouse.store()), warehouse.path(relative_path), capacity);
        Ok(ParquetSink {
            writer: Writer::Waiting { upload: Box::new(upload), schema },
            path: relative_path.to_string(),
            rows: 0,
        })
    }

    /// The Parquet writer, opened with the properties `first` (the first batch) calls for, and
    /// the file's path.
    fn open(&mut self, first: Option<&RecordBatch>) -> Result<(&mut AsyncArrowWriter<BufWriter>, &str), WriteError> {
        if let Writer::Waiting { .. } = self.writer {
            let Writer::Waiting { upload, schema } = std::mem::replace(&mut self.writer, Writer::Taken) else {
                unreachable!("matched above")
            };
            let properties = match first {
                Some(batch) => properties_for(batch),
                None => writer_properties(),
            };
            let writer = AsyncArrowWriter::try_new(*upload, schema, Some(properties))
                .map_err(|source| WriteError::Parquet { path: self.path.clone(), source })?;
            self.writer = Writer::Open(Box::new(writer));
        }
        match &mut self.writer {
            Writer::Open(writer) => Ok((writer, &self.path)),
            _ => unreachable!("opened above"),
        }
    }

    /// Appends a batch.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        self.rows += batch.num_rows() as u64;
        let (writer, path) = self.open(Some(batch))?;
        writer.write(batch).await.map_err(|source| WriteError::Parquet { path: path.to_string(), source })
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes the writer holds for the row group in progress (encoders, dictionaries, pages).
    pub fn memory_size(&self) -> usize {
        match &self.writer {
            Writer::Open(writer) => writer.memory_size(),
            _ => 0,
        }
    }

    /// Ends the row group in progress, releasing the memory it holds.
    pub async fn flush(&mut self) -> Result<(), WriteError> {
        match &mut self.writer {
            Writer::Open(writer) => {
                writer.flush().await.map_err(|source| WriteError::Parquet { path: self.path.clone(), source })
            }
            _ => Ok(()),
        }
    }

    /// Finishes the file and completes the upload.
    pub async fn finish(mut self) -> Result<DataFile, WriteError> {
        let (writer, path) = self.open(None)?;
        writer.finish().await.map_err(|source| WriteError::Parquet { path: path.to_string(), source })?;
        let size = writer.bytes_written() as u64;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
    };
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Encoding;
    use parquet::schema::types::ColumnPath;

    use super::{ParquetSink, properties_for};
    use crate::warehouse::Warehouse;

    /// 4,000 rows: unique ids, dates from a 100-day domain, unique integers with a null in
    /// every tenth row, a mostly-null column, a boolean.
    fn batch() -> RecordBatch {
        let rows = 4000;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("C{i:07}"))))),
            ("day", Arc::new(Date32Array::from_iter_values((0..rows).map(|i| 20_000 + i % 100)))),
            ("line", Arc::new(Int64Array::from_iter((0..rows as i64).map(|i| (i % 10 != 0).then_some(i))))),
            ("sparse", Arc::new(Int64Array::from_iter((0..rows as i64).map(|i| (i % 8 == 0).then_some(i))))),
            ("flag", Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(i % 2 == 0))))),
        ];
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn columns_whose_dictionary_would_overflow_are_written_without_one() {
        let properties = properties_for(&batch());
        let dictionary = |column: &str| properties.dictionary_enabled(&ColumnPath::from(column));
        assert!(!dictionary("id"), "unique text");
        assert!(!dictionary("line"), "unique integers, nulls aside");
        assert!(dictionary("day"), "a bounded domain keeps its dictionary");
        assert!(dictionary("sparse"), "500 values are too few to judge");
        assert!(dictionary("flag"));
        // Too few rows to judge: everything keeps the default.
        let short = properties_for(&batch().slice(0, 500));
        assert!(short.dictionary_enabled(&ColumnPath::from("id")));
    }

    #[test]
    fn a_domain_s_size_is_told_from_the_values_seen_once_and_twice() {
        // 8,192 draws from a domain of `size` values, the same draws on every run.
        let draws = |size: u64| (0..8192u64).map(move |i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) % size);
        let int32 = |size: u64| -> ArrayRef { Arc::new(Int32Array::from_iter_values(draws(size).map(|v| v as i32))) };
        let int64 = |size: u64| -> ArrayRef { Arc::new(Int64Array::from_iter_values(draws(size).map(|v| v as i64))) };
        // Amounts: a third of the customers spent nothing, the rest mostly differ.
        let amounts: ArrayRef = Arc::new(
            Decimal128Array::from_iter_values((0..8192i128).map(|i| if i % 3 == 0 { 0 } else { i * 7919 % 1_000_003 }))
                .with_precision_and_scale(12, 2)
                .unwrap(),
        );
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(draws(400).map(|v| format!("name {v}"))));
        let batch = RecordBatch::try_from_iter([
            ("day_counts", int32(3_650)),
            ("birth_dates", int32(29_000)),
            ("large_domain", int64(100_000)),
            ("amounts", amounts),
            ("names", names),
        ])
        .unwrap();
        let properties = properties_for(&batch);
        let dictionary = |column: &str| properties.dictionary_enabled(&ColumnPath::from(column));
        // Most of a sample of 29,000 dates differ, yet their dictionary fits: 116 KB.
        assert!(dictionary("day_counts"));
        assert!(dictionary("birth_dates"));
        assert!(!dictionary("large_domain"), "100,000 values of 8 bytes outgrow 256 KiB");
        assert!(!dictionary("amounts"), "a repeated zero does not make a dictionary fit");
        assert!(dictionary("names"));
    }

    #[tokio::test]
    async fn a_sink_writes_what_it_was_given_with_the_first_batch_s_encodings() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open_local(dir.path()).unwrap();
        let batch = batch();
        let mut sink = ParquetSink::create(&warehouse, "t/a.parquet", batch.schema()).unwrap();
        assert_eq!(sink.memory_size(), 0);
        sink.flush().await.unwrap();
        sink.write(&batch).await.unwrap();
        sink.write(&batch.slice(0, 10)).await.unwrap();
        let file = sink.finish().await.unwrap();
        assert_eq!(file.rows, 4010);
        let bytes = std::fs::read(dir.path().join("t/a.parquet")).unwrap();
        assert_eq!(file.size, bytes.len() as u64);
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let group = reader.metadata().row_group(0).clone();
        let encodings = |i: usize| group.column(i).encodings().collect::<Vec<_>>();
        assert!(!encodings(0).contains(&Encoding::RLE_DICTIONARY), "{:?}", encodings(0));
        assert!(encodings(1).contains(&Encoding::RLE_DICTIONARY), "{:?}", encodings(1));
        let read: Vec<RecordBatch> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        let read = arrow::compute::concat_batches(&batch.schema(), &read).unwrap();
        assert_eq!(read.slice(0, 4000), batch);
        assert_eq!(read.slice(4000, 10), batch.slice(0, 10));

        // A sink finished before any batch is an empty, readable file.
        let empty = ParquetSink::create(&warehouse, "t/empty.parquet", batch.schema()).unwrap();
        let file = empty.finish().await.unwrap();
        assert_eq!(file.rows, 0);
        let bytes = std::fs::read(dir.path().join("t/empty.parquet")).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
        assert_eq!(reader.schema().fields().len(), 5);
    }
}
