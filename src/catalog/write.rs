//! Writing query results into a table: rows grouped by partition values, one Parquet file per
//! partition and writer under a commit's prefix, ready to publish in one commit. Jobs and the
//! SQL statements that write (`CREATE TABLE AS`, `INSERT INTO`) share it.
//!
//! Rows that arrive partition by partition (a job reading a partitioned table) go straight into
//! their files. Rows that arrive in no order of partitions (a dedup window sorts by customer, not
//! by bucket) would keep every partition's file open with a row group in progress, and the
//! memory bound would end those row groups after a few thousand rows each; readers then pay per
//! row group. Such rows are set aside in a local temporary Arrow file instead and written
//! partition by partition at the end, in row groups of up to 131,072 rows (the file settings'
//! limit) within the memory bound.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, BufWriter, Seek};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{CastOptions, cast_with_options, take};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use super::Catalog;
use super::files::ParquetSink;
use super::state::{NewPartition, TableLog};
use super::table::TableDef;
use crate::error::{Context, Error, Result};

/// The memory one writer's open files may hold for their row groups in progress before the
/// largest are ended early (about 1 MiB per column and file at the defaults otherwise).
const WRITER_MEMORY: usize = 16 * 1024 * 1024;

/// Batches after its last rows that a partition's file stays open: input read partition by
/// partition (a job over a partitioned table) then holds one or two files open, not every
/// partition's, each with its row group in progress and its columns' compression contexts.
const IDLE_BATCHES: u64 = 2;

/// Partitions one batch may hold before the writer takes its input for unordered and sets rows
/// aside ([`SetAside`]): a batch of input read partition by partition holds one, or two where a
/// partition ends.
const ORDERED_PARTITIONS: usize = 2;

/// Writes result rows into one table's partitions, one file per partition named by `index` (the
/// result partition it writes), under the commit's prefix. A file whose partition got no rows in
/// the last [`IDLE_BATCHES`] batches is completed; should its partition get rows again, a second
/// file takes them, and that one stays open to the end (so input in no order of partitions makes
/// at most two files per partition). Rows for partitions in `hold` are
/// staged instead, in Parquet under the run's staging prefix, for a merge.
pub struct TableWriter {
    /// The table written.
    pub def: Arc<TableDef>,
    log: TableLog,
    warehouse: crate::warehouse::Warehouse,
    commit_id: String,
    index: usize,
    hold: BTreeSet<String>,
    /// Where held rows go, below the warehouse root.
    staging: String,
    /// Open files by partition values.
    sinks: HashMap<Vec<String>, OpenFile>,
    /// Batches written so far.
    batches: u64,
    /// Partitions whose first file was completed early: their next file stays open.
    reopened: BTreeSet<Vec<String>>,
    /// Partitions completed by [`TableWriter::finish`], ready to commit.
    pub finished: Vec<NewPartition>,
    /// Partitions completed into the staging prefix.
    pub staged: Vec<NewPartition>,
    /// What the open files may hold in row groups in progress ([`WRITER_MEMORY`]).
    memory: usize,
    /// Rows set aside since the input proved unordered, if it has.
    aside: Option<SetAside>,
}

/// Rows set aside in an unnamed local temporary file (Arrow IPC, uncompressed: the OS removes it
/// when it is closed), one IPC batch per partition and input batch, to be written partition by
/// partition by [`TableWriter::finish`].
struct SetAside {
    file: FileWriter<BufWriter<std::fs::File>>,
    batches: BatchesByPartition,
    /// IPC batches written so far.
    count: usize,
}

/// The IPC batches of each partition set aside, in order.
type BatchesByPartition = BTreeMap<Vec<String>, Vec<usize>>;

impl SetAside {
    fn create(schema: &SchemaRef) -> Result<SetAside> {
        let file = tempfile::tempfile().map_err(set_aside_error)?;
        let file = FileWriter::try_new(BufWriter::with_capacity(256 * 1024, file), schema).map_err(set_aside_error)?;
        Ok(SetAside { file, batches: BTreeMap::new(), count: 0 })
    }

    fn push(&mut self, values: Vec<String>, rows: &RecordBatch) -> Result<()> {
        self.file.write(rows).map_err(set_aside_error)?;
        self.batches.entry(values).or_default().push(self.count);
        self.count += 1;
        Ok(())
    }

    /// The file, finished and ready to read, and the batches of each partition.
    fn into_reader(self) -> Result<(FileReader<BufReader<std::fs::File>>, BatchesByPartition)> {
        let writer = self.file.into_inner().map_err(set_aside_error)?;
        let mut file = writer.into_inner().map_err(|e| set_aside_error(e.into_error()))?;
        file.rewind().map_err(set_aside_error)?;
        Ok((FileReader::try_new_buffered(file, None).map_err(set_aside_error)?, self.batches))
    }
}

/// A failure of the temporary file rows are set aside in.
fn set_aside_error(error: impl std::fmt::Display) -> Error {
    Error::msg(format!(
        "setting rows aside in a temporary file failed ({error}); the temporary directory (TMPDIR) \
         needs room for the uncompressed rows of a write whose input is in no order of partitions"
    ))
}

/// A file a [`TableWriter`] has open for one partition.
struct OpenFile {
    sink: ParquetSink,
    /// Whether it is in the staging prefix (a partition held for a merge).
    staged: bool,
    /// The batch it last got rows in.
    last_rows: u64,
}

impl TableWriter {
    /// A writer for `def` under commit `commit_id`, as writer number `index`; partitions in
    /// `hold` (partition keys) go to `staging` instead.
    pub fn new(
        catalog: &Catalog,
        def: Arc<TableDef>,
        commit_id: &str,
        staging: &str,
        hold: BTreeSet<String>,
        index: usize,
    ) -> TableWriter {
        TableWriter {
            log: catalog.log(&def),
            staging: format!("{staging}/{}/", def.qualified_name()),
            def,
            warehouse: catalog.warehouse.clone(),
            commit_id: commit_id.to_string(),
            index,
            hold,
            sinks: HashMap::new(),
            batches: 0,
            reopened: BTreeSet::new(),
            finished: Vec::new(),
            staged: Vec::new(),
            memory: WRITER_MEMORY,
            aside: None,
        }
    }

    /// Picks the table's columns from `batch` by name, cast to the table's types.
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let schema: SchemaRef = self.def.table_schema();
        let options = CastOptions { safe: false, ..CastOptions::default() };
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let index = batch.schema().index_of(field.name()).map_err(|_| {
                Error::msg(format!(
                    "the SQL result has no column `{}`, which {} needs; select it (with AS `{}` if renamed)",
                    field.name(),
                    self.def.qualified_name(),
                    field.name()
                ))
            })?;
            let column = batch.column(index);
            let column = match column.data_type() == field.data_type() {
                true => column.clone(),
                false => cast_with_options(column, field.data_type(), &options).with_context(|| {
                    format!(
                        "column `{}` does not fit {} {}",
                        field.name(),
                        self.def.qualified_name(),
                        field.data_type()
                    )
                })?,
            };
            columns.push(column);
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Writes `batch` (columns picked by the table's names and cast to its types) into the
    /// files of its partitions, or sets its rows aside once the input proved unordered.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.conform(batch)?;
        let file_columns = self.def.file_schema.fields().len();
        let groups = group_rows(&table.columns()[file_columns..], table.num_rows())?;
        // From here on, rows are set aside. The files already open keep their row groups in
        // progress (within the memory bound) and take their partitions' rows at the end.
        if groups.len() > ORDERED_PARTITIONS && self.aside.is_none() {
            self.aside = Some(SetAside::create(&self.def.file_schema)?);
        }
        let whole = groups.len() == 1;
        for (values, rows) in groups {
            // A batch of one partition (input read partition by partition) is written as it is.
            let part = match whole {
                true => table.clone(),
                false => {
                    let indices = UInt32Array::from(rows);
                    let columns: Vec<ArrayRef> =
                        table.columns().iter().map(|c| take(c, &indices, None)).collect::<Result<_, _>>()?;
                    RecordBatch::try_new(table.schema(), columns)?
                }
            };
            let file_part = part.project(&(0..file_columns).collect::<Vec<_>>())?;
            match self.aside.as_mut() {
                Some(aside) => aside.push(values, &file_part)?,
                None => self.write_partition(values, &file_part).await?,
            }
        }
        self.batches += 1;
        if self.aside.is_none() {
            self.complete_idle().await?;
            self.bound_memory().await?;
        }
        Ok(())
    }

    /// Writes rows of one partition (file columns only) into its open file, opening one if need
    /// be.
    async fn write_partition(&mut self, values: Vec<String>, rows: &RecordBatch) -> Result<()> {
        if !self.sinks.contains_key(&values) {
            let key = self.log.partition_key(&values);
            let staged = self.hold.contains(&key);
            let name = match self.reopened.contains(&values) {
                true => format!("part-{:05}-2.parquet", self.index),
                false => format!("part-{:05}.parquet", self.index),
            };
            let path = match staged {
                true => format!("{}{}/{name}", self.staging, key),
                false => format!("{}{}/{}/{name}", self.def.location, key, self.commit_id),
            };
            let path = path.replace("//", "/");
            let sink = ParquetSink::create(&self.warehouse, &path, self.def.file_schema.clone())?;
            self.sinks.insert(values.clone(), OpenFile { sink, staged, last_rows: self.batches });
        }
        let open = self.sinks.get_mut(&values).expect("inserted above");
        open.sink.write(rows).await?;
        open.last_rows = self.batches;
        Ok(())
    }

    /// Completes the files of partitions that got no rows in the last [`IDLE_BATCHES`] batches
    /// (unless they were completed early once already).
    async fn complete_idle(&mut self) -> Result<()> {
        let idle: Vec<Vec<String>> = self
            .sinks
            .iter()
            .filter(|(values, open)| open.last_rows + IDLE_BATCHES < self.batches && !self.reopened.contains(*values))
            .map(|(values, _)| values.clone())
            .collect();
        for values in idle {
            let open = self.sinks.remove(&values).expect("listed above");
            self.complete(values.clone(), open.sink, open.staged).await?;
            self.reopened.insert(values);
        }
        Ok(())
    }

    /// Completes one file into `finished` or `staged`.
    async fn complete(&mut self, values: Vec<String>, sink: ParquetSink, staged: bool) -> Result<()> {
        let partition = completed(values, sink).await?;
        self.keep(partition, staged);
        Ok(())
    }

    /// Files a completed partition under `staged` or `finished`.
    fn keep(&mut self, partition: NewPartition, staged: bool) {
        match staged {
            true => self.staged.push(partition),
            false => self.finished.push(partition),
        }
    }

    /// Ends the row groups of the files holding the most memory while the open files together
    /// hold more than [`WRITER_MEMORY`]: a result spread over many partitions would otherwise
    /// keep every partition's row group in memory until the end.
    async fn bound_memory(&mut self) -> Result<()> {
        let mut held: Vec<(usize, Vec<String>)> =
            self.sinks.iter().map(|(values, open)| (open.sink.memory_size(), values.clone())).collect();
        let mut total: usize = held.iter().map(|(size, _)| size).sum();
        if total <= self.memory {
            return Ok(());
        }
        held.sort_unstable_by_key(|(size, _)| std::cmp::Reverse(*size));
        for (size, values) in held {
            if total <= self.memory / 2 {
                break;
            }
            self.sinks.get_mut(&values).expect("listed above").sink.flush().await?;
            total -= size;
        }
        Ok(())
    }

    /// Writes the rows set aside, partition by partition, completing each partition's file as
    /// its rows end; then completes the other files (all at once: each is an upload) into
    /// `finished` and `staged`.
    pub async fn finish(&mut self) -> Result<()> {
        if let Some(aside) = self.aside.take() {
            let (mut reader, batches) = aside.into_reader()?;
            for (values, indices) in batches {
                for index in indices {
                    reader.set_index(index).map_err(set_aside_error)?;
                    let rows = match reader.next() {
                        Some(rows) => rows.map_err(set_aside_error)?,
                        None => return Err(set_aside_error(format!("batch {index} is missing"))),
                    };
                    self.write_partition(values.clone(), &rows).await?;
                    self.bound_memory().await?;
                }
                if let Some(OpenFile { sink, staged, .. }) = self.sinks.remove(&values) {
                    self.complete(values, sink, staged).await?;
                }
            }
        }
        let sinks = std::mem::take(&mut self.sinks);
        let files = futures::future::try_join_all(sinks.into_iter().map(
            |(values, OpenFile { sink, staged, .. })| async move {
                Ok::<_, Error>((completed(values, sink).await?, staged))
            },
        ))
        .await?;
        for (partition, staged) in files {
            self.keep(partition, staged);
        }
        Ok(())
    }
}

/// The partition of `values` holding the file `sink` completes, in the file's directory.
async fn completed(values: Vec<String>, sink: ParquetSink) -> Result<NewPartition> {
    let file = sink.finish().await?;
    let location = file.path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default();
    Ok(NewPartition { values, location, files: vec![file] })
}

/// The `rows` rows of a batch grouped by the values of its partition columns (as partition path
/// values: text, NULL as empty), in order of first appearance; all in one group when the table
/// has no partition columns.
fn group_rows(columns: &[ArrayRef], rows: usize) -> Result<Vec<(Vec<String>, Vec<u32>)>> {
    if columns.is_empty() {
        return Ok(vec![(Vec::new(), (0..rows as u32).collect())]);
    }
    let texts: Vec<StringArray> = columns
        .iter()
        .map(|c| {
            let text = cast_with_options(c, &DataType::Utf8, &CastOptions::default())?;
            Ok(text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8").clone())
        })
        .collect::<Result<_>>()?;
    let mut groups: Vec<(Vec<String>, Vec<u32>)> = Vec::new();
    let mut index: HashMap<Vec<&str>, usize> = HashMap::new();
    let mut key: Vec<&str> = Vec::with_capacity(texts.len());
    let mut last: Option<(Vec<&str>, usize)> = None;
    for row in 0..rows {
        key.clear();
        key.extend(texts.iter().map(|t| if t.is_null(row) { "" } else { t.value(row) }));
        // Rows of one partition usually come in runs: the previous row's group, without hashing.
        let known = last.as_ref().filter(|(values, _)| *values == key).map(|(_, group)| *group);
        let group = match known.or_else(|| index.get(&key).copied()) {
            Some(group) => group,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key.iter().map(|v| v.to_string()).collect(), Vec::new()));
                groups.len() - 1
            }
        };
        if known.is_none() {
            last = Some((key.clone(), group));
        }
        groups[group].1.push(row as u32);
    }
    Ok(groups)
}

/// One partition per set of values, holding the files every writer wrote for it (the writers of
/// different result partitions write the same table partitions into one directory).
pub fn combine(partitions: impl IntoIterator<Item = NewPartition>) -> Vec<NewPartition> {
    let mut by_values: BTreeMap<Vec<String>, NewPartition> = BTreeMap::new();
    for partition in partitions {
        match by_values.get_mut(&partition.values) {
            Some(known) => known.files.extend(partition.files),
            None => {
                by_values.insert(partition.values.clone(), partition);
            }
        }
    }
    by_values.into_values().collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;
    use crate::catalog::table::{Column, parquet_table_input};
    use crate::catalog::{Registry, write_definition};
    use crate::warehouse::Warehouse;

    /// Table `db.t` with `columns` (name, Glue type), partitioned by a string `bucket`, registered
    /// under `dir/catalog` over a warehouse in `dir/wh`.
    fn bucketed_table(dir: &std::path::Path, columns: &[(&str, &str)]) -> (Catalog, Arc<TableDef>) {
        let columns = columns.iter().map(|(name, kind)| Column::new(*name, *kind)).collect();
        let input = parquet_table_input("t", columns, vec![Column::new("bucket", "string")], "db/t/");
        write_definition(&dir.join("catalog"), "db", &input).unwrap();
        let warehouse = Warehouse::open_local(&dir.join("wh")).unwrap();
        let registry = Registry::load(&dir.join("catalog"), warehouse.url()).unwrap();
        let def = registry.table("db", "t").unwrap().clone();
        (Catalog { registry, warehouse }, def)
    }

    #[test]
    fn rows_group_by_partition_in_order_of_first_appearance() {
        let day: ArrayRef =
            Arc::new(StringArray::from(vec![Some("a"), Some("a"), Some("b"), Some("a"), None, Some("b")]));
        let groups = group_rows(&[day], 6).unwrap();
        let expected = vec![
            (vec!["a".to_string()], vec![0, 1, 3]),
            (vec!["b".to_string()], vec![2, 5]),
            (vec![String::new()], vec![4]),
        ];
        assert_eq!(groups, expected);
    }

    #[tokio::test]
    async fn files_of_partitions_the_input_has_left_are_completed_early() {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, def) = bucketed_table(dir.path(), &[("id", "bigint")]);
        let mut writer = TableWriter::new(&catalog, def.clone(), "c1", "", BTreeSet::new(), 3);
        // Partition by partition, as a job reading a partitioned table sees its input; then `a`
        // again, then `a` and `b` alternating.
        let order = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "c", "a", "b", "a", "b", "a", "b", "a", "b"];
        let mut next_id = 0;
        for (n, bucket) in order.iter().enumerate() {
            let ids = Int64Array::from_iter_values(next_id..next_id + 10);
            next_id += 10;
            let buckets = StringArray::from_iter_values(std::iter::repeat_n(*bucket, 10));
            let batch = RecordBatch::try_new(def.table_schema(), vec![Arc::new(ids), Arc::new(buckets)]).unwrap();
            writer.write(&batch).await.unwrap();
            if n < 10 {
                assert!(writer.sinks.len() <= 2, "after batch {n}: {} files open", writer.sinks.len());
            }
        }
        writer.finish().await.unwrap();
        let partitions = combine(std::mem::take(&mut writer.finished));
        let files = |bucket: &str| -> Vec<String> {
            let partition = partitions.iter().find(|p| p.values == vec![bucket.to_string()]).unwrap();
            let mut names: Vec<String> =
                partition.files.iter().map(|f| f.path.rsplit('/').next().unwrap().to_string()).collect();
            names.sort();
            names
        };
        // `a` and `b` were left and came back: a second file each, open to the end however often
        // they alternate; `c` was left once.
        assert_eq!(files("a"), ["part-00003-2.parquet", "part-00003.parquet"]);
        assert_eq!(files("b"), ["part-00003-2.parquet", "part-00003.parquet"]);
        assert_eq!(files("c"), ["part-00003.parquet"]);
        let mut ids = Vec::new();
        for partition in &partitions {
            for file in &partition.files {
                let file = std::fs::File::open(dir.path().join("wh").join(&file.path)).unwrap();
                for batch in ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap() {
                    let batch = batch.unwrap();
                    ids.extend(batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().iter().copied());
                }
            }
        }
        ids.sort();
        assert_eq!(ids, (0..next_id).collect::<Vec<_>>(), "every row once");
    }

    /// Reads every row of `partition`'s files: (id, file name, row groups of its file).
    fn read_ids(dir: &std::path::Path, partition: &NewPartition) -> Vec<(i64, String, usize)> {
        let mut rows = Vec::new();
        for file in &partition.files {
            let name = file.path.rsplit('/').next().unwrap().to_string();
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(dir.join("wh").join(&file.path)).unwrap())
                    .unwrap();
            let groups = reader.metadata().num_row_groups();
            for batch in reader.build().unwrap() {
                let batch = batch.unwrap();
                let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                rows.extend(ids.values().iter().map(|id| (*id, name.clone(), groups)));
            }
        }
        rows
    }

    /// Batches of `rows` rows whose ids count up from 0 and whose buckets cycle through a, b, c
    /// row by row (input in no order of partitions, as a dedup window's output is).
    fn interleaved(def: &TableDef, batches: usize, rows: usize) -> Vec<RecordBatch> {
        (0..batches)
            .map(|batch| {
                let ids = Int64Array::from_iter_values((0..rows).map(|i| (batch * rows + i) as i64));
                let text = StringArray::from_iter_values((0..rows).map(|i| format!("{i:040}-{batch}")));
                let buckets = StringArray::from_iter_values((0..rows).map(|i| ["a", "b", "c"][i % 3]));
                RecordBatch::try_new(def.table_schema(), vec![Arc::new(ids), Arc::new(text), Arc::new(buckets)])
                    .unwrap()
            })
            .collect()
    }

    #[tokio::test]
    async fn rows_in_no_order_of_partitions_are_set_aside_and_written_one_partition_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, def) = bucketed_table(dir.path(), &[("id", "bigint"), ("text", "string")]);
        let mut writer = TableWriter::new(&catalog, def.clone(), "c1", "", BTreeSet::new(), 0);
        // The first batch is one partition's: its file opens; the second mixes three.
        let first = interleaved(&def, 1, 30).remove(0).slice(0, 1);
        writer.write(&first).await.unwrap();
        assert_eq!(writer.sinks.len(), 1);
        for batch in interleaved(&def, 5, 4_000).into_iter().skip(1) {
            writer.write(&batch).await.unwrap();
            assert!(writer.aside.is_some(), "rows are set aside");
            assert_eq!(writer.sinks.len(), 1, "no file opens while rows are set aside");
        }
        writer.finish().await.unwrap();
        let partitions = combine(std::mem::take(&mut writer.finished));
        assert_eq!(partitions.len(), 3);
        let mut all = Vec::new();
        for partition in &partitions {
            let rows = read_ids(dir.path(), partition);
            assert!(
                rows.iter().all(|(_, name, groups)| name == "part-00000.parquet" && *groups == 1),
                "one file, one row group"
            );
            let ids: Vec<i64> = rows.iter().map(|(id, ..)| *id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "a partition's rows keep their order");
            all.extend(ids);
        }
        all.sort();
        let expected: Vec<i64> = std::iter::once(0).chain(4_000..20_000).collect();
        assert_eq!(all, expected, "every row once");
    }

    #[tokio::test]
    async fn rows_set_aside_are_written_within_the_memory_bound() {
        let dir = tempfile::tempdir().unwrap();
        let (catalog, def) = bucketed_table(dir.path(), &[("id", "bigint"), ("text", "string")]);
        let mut writer = TableWriter::new(&catalog, def.clone(), "c1", "", BTreeSet::new(), 0);
        writer.memory = 256 * 1024;
        for batch in interleaved(&def, 5, 4_000) {
            writer.write(&batch).await.unwrap();
            let held: usize = writer.sinks.values().map(|open| open.sink.memory_size()).sum();
            assert!(held <= writer.memory, "{held} bytes held after a write");
        }
        writer.finish().await.unwrap();
        assert_eq!(writer.finished.len(), 3);
        let mut total = 0;
        for partition in &writer.finished {
            let rows = read_ids(dir.path(), partition);
            assert!(rows[0].2 > 1, "row groups were ended at the memory bound");
            total += rows.len();
        }
        assert_eq!(total, 5 * 4_000);
    }
}
