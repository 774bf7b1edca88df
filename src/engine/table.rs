//! A registry table as a DataFusion table: schema from the definition, files from the commit log.
//!
//! Planning never lists the object store. `scan` reads the head of the table's newest snapshot
//! (one or two small GETs), prunes its manifests on their partition-key bounds, reads only the
//! manifests the filters can match, evaluates the filters against the partition values they
//! name, and hands the surviving partitions' files, with their row counts, to
//! DataFusion's Parquet scan. Row counts make `count(*)` answerable from metadata alone.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::catalog::TableProvider;
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion_datasource::compute_all_files_statistics;

use crate::catalog::files::ROW_GROUP_ROWS;
use crate::catalog::manifest::ManifestStats;
use crate::catalog::state::{PartitionState, Snapshot, TableLog, TableState};
use crate::catalog::table::TableDef;
use crate::warehouse::Warehouse;

/// One registry table, resolved through its commit log at scan time, or pinned to a snapshot.
#[derive(Debug)]
pub struct RegistryTable {
    def: Arc<TableDef>,
    schema: SchemaRef,
    log: TableLog,
    warehouse: Warehouse,
    pin: Option<Pin>,
}

/// A fixed view of a table: one snapshot, optionally only some of its partitions.
#[derive(Debug, Clone)]
pub struct Pin {
    /// The snapshot (`None`: the table was empty).
    pub state: Option<TableState>,
    /// Partition keys to show; `None` shows all.
    pub only: Option<BTreeSet<String>>,
}

impl RegistryTable {
    /// A provider for `def` in `warehouse` that reads the newest snapshot at each scan.
    pub fn new(def: Arc<TableDef>, warehouse: &Warehouse) -> RegistryTable {
        let log = TableLog::of(warehouse, &def);
        RegistryTable { schema: def.table_schema(), def, log, warehouse: warehouse.clone(), pin: None }
    }

    /// A provider that always reads `pin`: what a job read is exactly what its bookmark records.
    pub fn pinned(def: Arc<TableDef>, warehouse: &Warehouse, pin: Pin) -> RegistryTable {
        RegistryTable { pin: Some(pin), ..RegistryTable::new(def, warehouse) }
    }

    fn partition_names(&self) -> Vec<&str> {
        self.def.partition_keys.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// Which of `head`'s manifests can hold a partition that passes the partition-key filters,
    /// judged on each manifest's key bounds. A filter the bounds cannot judge keeps them all.
    fn manifests_to_read(&self, session: &dyn Session, head: &Snapshot, filters: &[Expr]) -> Vec<bool> {
        let all = vec![true; head.manifests.len()];
        let names = self.partition_names();
        let applicable = filters.iter().filter(|f| !names.is_empty() && expr_applicable_for_cols(&names, f));
        let Some(predicate) = conjunction(applicable.cloned()) else { return all };
        let schema = Arc::new(Schema::new(self.def.partition_fields()));
        let (keys, types) = self.log.key_types();
        let stats = ManifestStats::new(&head.manifests, keys.to_vec(), types.to_vec());
        let pruned = DFSchema::try_from(schema.clone())
            .and_then(|df_schema| session.create_physical_expr(predicate, &df_schema))
            .and_then(|physical| PruningPredicateBuilder::new().with_file_schema(schema).try_build(physical))
            .and_then(|pruning| pruning.prune(&stats));
        pruned.unwrap_or_else(|error| {
            tracing::debug!(table = %self.def.qualified_name(), %error, "manifests not pruned");
            all
        })
    }

    /// For each partition of `batch` (one row each), whether it passes every partition filter.
    fn prune(&self, session: &dyn Session, batch: &RecordBatch, filters: &[Expr]) -> Result<Vec<bool>> {
        let names = self.partition_names();
        let mut keep = vec![true; batch.num_rows()];
        if names.is_empty() || batch.num_rows() == 0 {
            return Ok(keep);
        }
        let df_schema = DFSchema::try_from(batch.schema())?;
        for filter in filters.iter().filter(|f| expr_applicable_for_cols(&names, f)) {
            let predicate = session.create_physical_expr(filter.clone(), &df_schema)?;
            let result = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
            let mask = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| DataFusionError::Plan(format!("partition filter {filter} is not boolean")))?;
            for (i, k) in keep.iter_mut().enumerate() {
                *k &= mask.is_valid(i) && mask.value(i);
            }
        }
        Ok(keep)
    }

    /// One row per partition, one column per partition key, typed: the path strings cast in one
    /// vectorised step per key (an empty value is NULL).
    fn partition_batch(&self, partitions: &[&PartitionState]) -> Result<RecordBatch> {
        let fields = self.def.partition_fields();
        let options = CastOptions { safe: false, ..CastOptions::default() };
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let text: StringArray =
                    partitions.iter().map(|p| Some(p.values[i].as_str()).filter(|v| !v.is_empty())).collect();
                Ok(cast_with_options(&text, field.data_type(), &options)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let rows = RecordBatchOptions::new().with_row_count(Some(partitions.len()));
        Ok(RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &rows)?)
    }

    /// Data files of the kept partitions, with typed partition values and exact row counts.
    fn files(
        &self,
        partitions: &[&PartitionState],
        batch: &RecordBatch,
        keep: &[bool],
    ) -> Result<Vec<PartitionedFile>> {
        let mut files = Vec::new();
        for (row, partition) in partitions.iter().enumerate().filter(|(row, _)| keep[*row]) {
            let values = batch
                .columns()
                .iter()
                .map(|column| ScalarValue::try_from_array(column, row))
                .collect::<Result<Vec<_>>>()?;
            for file in &partition.files {
                let mut stats = Statistics::new_unknown(&self.def.file_schema);
                stats.num_rows = Precision::Exact(file.rows as usize);
                stats.total_byte_size = Precision::Inexact(file.size as usize);
                let path = self.warehouse.path(&file.path);
                files.push(
                    PartitionedFile::new(path.to_string(), file.size)
                        .with_partition_values(values.clone())
                        .with_statistics(Arc::new(stats)),
                );
            }
        }
        Ok(files)
    }
}

/// A file of more rows than a row group glaux writes, as byte ranges of about a row group each
/// (DataFusion reads a row group in the range its middle falls in). Partitions that run out of
/// work take the next unread piece from their siblings ("work stealing"), so with pieces rather
/// than whole files they finish within a row group of each other, not a file. Each piece carries
/// its share of the file's row count, and the shares add up to it, so `count(*)` is still
/// answered from metadata.
fn row_group_pieces(file: PartitionedFile) -> Vec<PartitionedFile> {
    let (Some(statistics), None) = (file.statistics.clone(), &file.range) else { return vec![file] };
    let Some(&rows) = statistics.num_rows.get_value() else { return vec![file] };
    let pieces = rows.div_ceil(ROW_GROUP_ROWS).max(1);
    if pieces == 1 {
        return vec![file];
    }
    let size = file.object_meta.size;
    (0..pieces)
        .map(|piece| {
            let bound = |piece: usize| (size as u128 * piece as u128 / pieces as u128) as i64;
            let share = |piece: usize| rows * piece / pieces;
            let mut piece_statistics = statistics.as_ref().clone();
            piece_statistics.num_rows = Precision::Exact(share(piece + 1) - share(piece));
            piece_statistics.total_byte_size = Precision::Inexact((bound(piece + 1) - bound(piece)) as usize);
            // A column's bounds and null count hold for the file, not exactly for a piece.
            piece_statistics.column_statistics =
                piece_statistics.column_statistics.into_iter().map(|c| c.to_inexact()).collect();
            file.clone().with_range(bound(piece), bound(piece + 1)).with_statistics(Arc::new(piece_statistics))
        })
        .collect()
}

/// Spreads files (or their pieces), in their order, over at most `groups` groups of about
/// equal bytes, each a run of consecutive files. Partitions then read the table's partitions
/// one after another, and a file's pieces in order, also when they take work from each other
/// (all take it from the front of one queue of the groups' files): a job writing the same
/// partitioning keeps one or two files open, not every partition's.
fn group_files(files: Vec<PartitionedFile>, groups: usize) -> Vec<FileGroup> {
    let total: u64 = files.iter().map(|f| f.effective_size()).sum();
    let groups = groups.max(1) as u64;
    let mut runs: Vec<Vec<PartitionedFile>> = Vec::new();
    let mut before = 0u64;
    for file in files {
        // The group the middle of this file's bytes falls in.
        let middle = before + file.effective_size() / 2;
        let group = match total {
            0 => 0,
            _ => (u128::from(middle) * u128::from(groups) / u128::from(total)) as usize,
        };
        before += file.effective_size();
        match runs.len() > group {
            true => runs.last_mut().expect("a run").push(file),
            false => runs.push(vec![file]),
        }
    }
    runs.into_iter().map(FileGroup::new).collect()
}

#[async_trait]
impl TableProvider for RegistryTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let names = self.partition_names();
        Ok(filters
            .iter()
            .map(|f| match !names.is_empty() && expr_applicable_for_cols(&names, f) {
                true => TableProviderFilterPushDown::Exact,
                false => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let empty = || -> Result<Arc<dyn ExecutionPlan>> {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            Ok(Arc::new(EmptyExec::new(projected)))
        };
        let external = |e| DataFusionError::External(Box::new(e));
        let (version, read) = match &self.pin {
            Some(Pin { state: None, .. }) => return empty(),
            Some(Pin { state: Some(state), only }) => {
                let partitions =
                    state.partitions.iter().filter(|(key, _)| only.as_ref().is_none_or(|o| o.contains(*key)));
                (state.version, partitions.map(|(_, p)| p.clone()).collect())
            }
            None => {
                let Some(head) = self.log.head().await.map_err(external)? else { return empty() };
                let wanted = self.manifests_to_read(session, &head, filters);
                tracing::debug!(table = %self.def.qualified_name(), version = head.version,
                    read = wanted.iter().filter(|w| **w).count(), of = wanted.len(), "pruned manifests");
                (head.version, self.log.load(&head, &wanted).await.map_err(external)?)
            }
        };
        let partitions: Vec<&PartitionState> = read.iter().collect();
        let batch = self.partition_batch(&partitions)?;
        let keep = self.prune(session, &batch, filters)?;
        tracing::debug!(table = %self.def.qualified_name(), version,
            kept = keep.iter().filter(|k| **k).count(), of = partitions.len(), "pruned partitions");
        let files = self.files(&partitions, &batch, &keep)?;
        if files.is_empty() {
            return empty();
        }
        let partition_fields: Vec<_> = self.def.partition_fields().into_iter().map(Arc::new).collect();
        let table_schema =
            TableSchema::builder(self.def.file_schema.clone()).with_table_partition_cols(partition_fields).build();
        scan_files(session, &self.warehouse, table_schema, self.schema.clone(), files, projection, limit).await
    }
}

/// A Parquet scan of `files` in the warehouse, spread over the session's target partitions.
pub async fn scan_files(
    session: &dyn Session,
    warehouse: &Warehouse,
    table_schema: TableSchema,
    schema: SchemaRef,
    files: Vec<PartitionedFile>,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let target = session.config().target_partitions();
    let pieces = match target {
        1 => files,
        _ => files.into_iter().flat_map(row_group_pieces).collect(),
    };
    let (groups, statistics) = compute_all_files_statistics(group_files(pieces, target), schema, true, false)?;
    let format = ParquetFormat::default().with_options(session.table_options().parquet.clone());
    let source = format.file_source(table_schema);
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(warehouse.store_url())?, source)
        .with_file_groups(groups)
        .with_statistics(statistics)
        .with_projection_indices(projection.cloned())?
        .with_limit(limit)
        .build();
    format.create_physical_plan(session, config).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::common::stats::Precision;
    use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
    use datafusion::datasource::listing::PartitionedFile;

    use super::{ROW_GROUP_ROWS, group_files, row_group_pieces};

    fn file(size: u64, rows: usize) -> PartitionedFile {
        let mut stats = Statistics::new_unknown(&arrow::datatypes::Schema::empty());
        stats.num_rows = Precision::Exact(rows);
        stats.column_statistics = vec![ColumnStatistics {
            min_value: Precision::Exact(ScalarValue::Int32(Some(1))),
            ..ColumnStatistics::new_unknown()
        }];
        PartitionedFile::new(format!("f{size}.parquet"), size).with_statistics(Arc::new(stats))
    }

    #[test]
    fn a_file_of_several_row_groups_is_read_in_pieces_whose_rows_add_up() {
        let rows = 4 * ROW_GROUP_ROWS + 1_000;
        let pieces = row_group_pieces(file(10_000_003, rows));
        assert_eq!(pieces.len(), 5);
        let ranges: Vec<_> = pieces.iter().map(|p| p.range.clone().expect("a piece has a range")).collect();
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[4].end, 10_000_003);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "the pieces cover the file once: {ranges:?}");
        let counts: Vec<usize> =
            pieces.iter().map(|p| *p.statistics.as_ref().unwrap().num_rows.get_value().unwrap()).collect();
        assert_eq!(counts.iter().sum::<usize>(), rows, "count(*) from metadata stays exact");
        assert!(pieces.iter().all(|p| p.statistics.as_ref().unwrap().num_rows.is_exact() == Some(true)));
        // A column's bounds hold for the file, not exactly for a piece.
        let min = &pieces[2].statistics.as_ref().unwrap().column_statistics[0].min_value;
        assert_eq!(min, &Precision::Inexact(ScalarValue::Int32(Some(1))));

        // One row group's worth, a file without a row count, a range already set: left whole.
        assert_eq!(row_group_pieces(file(1_000, ROW_GROUP_ROWS)).len(), 1);
        assert_eq!(row_group_pieces(PartitionedFile::new("x.parquet", 1 << 30)).len(), 1);
        assert_eq!(row_group_pieces(file(1_000, rows).with_range(0, 500)).len(), 1);
    }

    #[test]
    fn groups_are_runs_of_consecutive_files_of_about_equal_bytes() {
        let files: Vec<_> = [5, 1, 1, 1, 1, 1].iter().map(|mb| file(mb * 1_000_000, 10)).collect();
        let names = |groups: &[datafusion::datasource::physical_plan::FileGroup]| -> Vec<Vec<String>> {
            groups.iter().map(|g| g.iter().map(|f| f.object_meta.location.to_string()).collect()).collect()
        };
        let two = group_files(files.clone(), 2);
        assert_eq!(names(&two), [vec!["f5000000.parquet"], vec!["f1000000.parquet"; 5]]);
        // More groups than files: one file each, in order; no empty groups.
        assert_eq!(group_files(files[1..3].to_vec(), 8).len(), 2);
        assert_eq!(group_files(files.clone(), 1).len(), 1);
        assert!(group_files(Vec::new(), 2).is_empty());

        // A file's pieces stay in order, split between the groups in the middle.
        let pieces = row_group_pieces(file(10_000_000, 4 * ROW_GROUP_ROWS));
        let groups = group_files(pieces, 2);
        let starts: Vec<Vec<i64>> =
            groups.iter().map(|g| g.iter().map(|f| f.range.as_ref().unwrap().start).collect()).collect();
        assert_eq!(starts, [vec![0, 2_500_000], vec![5_000_000, 7_500_000]]);
    }
}
