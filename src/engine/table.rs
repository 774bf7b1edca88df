//! A registry table as a DataFusion table: schema from the definition, files from the commit log.
//!
//! Planning never lists the object store. `scan` reads the table's newest snapshot (one or two
//! small GETs), evaluates the query's partition-key filters against the partition values the
//! snapshot names, and hands the surviving partitions' files, with their row counts, to
//! DataFusion's Parquet scan. Row counts make `count(*)` answerable from metadata alone.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
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
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion_datasource::compute_all_files_statistics;

use crate::catalog::state::{PartitionState, TableLog, TableState};
use crate::catalog::table::TableDef;
use crate::warehouse::Warehouse;

/// One registry table, resolved through its commit log at scan time.
#[derive(Debug)]
pub struct RegistryTable {
    def: Arc<TableDef>,
    schema: SchemaRef,
    log: TableLog,
    warehouse: Warehouse,
}

impl RegistryTable {
    /// A provider for `def` in `warehouse`.
    pub fn new(def: Arc<TableDef>, warehouse: &Warehouse) -> RegistryTable {
        let keys = def.partition_keys.iter().map(|(name, _)| name.clone()).collect();
        let log = TableLog::new(warehouse, &def.database, def.name(), keys);
        RegistryTable { schema: def.table_schema(), def, log, warehouse: warehouse.clone() }
    }

    fn partition_names(&self) -> Vec<&str> {
        self.def.partition_keys.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// The partitions of `state` that pass every partition-key filter.
    fn prune<'a>(
        &self,
        session: &dyn Session,
        state: &'a TableState,
        filters: &[Expr],
    ) -> Result<Vec<&'a PartitionState>> {
        let partitions: Vec<&PartitionState> = state.partitions.values().collect();
        let names = self.partition_names();
        let partition_filters: Vec<&Expr> =
            filters.iter().filter(|f| !names.is_empty() && expr_applicable_for_cols(&names, f)).collect();
        if partition_filters.is_empty() || partitions.is_empty() {
            return Ok(partitions);
        }
        let batch = self.partition_batch(&partitions)?;
        let df_schema = DFSchema::try_from(batch.schema())?;
        let mut keep = vec![true; partitions.len()];
        for filter in partition_filters {
            let predicate = session.create_physical_expr(filter.clone(), &df_schema)?;
            let result = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
            let mask = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .ok_or_else(|| DataFusionError::Plan(format!("partition filter {filter} is not boolean")))?;
            for (i, k) in keep.iter_mut().enumerate() {
                *k &= mask.is_valid(i) && mask.value(i);
            }
        }
        Ok(partitions.into_iter().zip(keep).filter_map(|(p, k)| k.then_some(p)).collect())
    }

    /// One row per partition, one column per partition key, typed.
    fn partition_batch(&self, partitions: &[&PartitionState]) -> Result<RecordBatch> {
        let fields = self.def.partition_fields();
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let values = partitions
                    .iter()
                    .map(|p| partition_scalar(&p.values[i], field.data_type()))
                    .collect::<Result<Vec<_>>>()?;
                ScalarValue::iter_to_array(values)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
    }

    /// Data files of the kept partitions, with partition values and exact row counts.
    fn files(&self, partitions: &[&PartitionState]) -> Result<Vec<PartitionedFile>> {
        let fields = self.def.partition_fields();
        let mut files = Vec::new();
        for partition in partitions {
            let values = fields
                .iter()
                .zip(&partition.values)
                .map(|(field, value)| partition_scalar(value, field.data_type()))
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

/// A partition value from its path form; the empty string is NULL.
fn partition_scalar(value: &str, data_type: &arrow::datatypes::DataType) -> Result<ScalarValue> {
    if value.is_empty() {
        return ScalarValue::try_from(data_type);
    }
    ScalarValue::try_from_string(value.to_string(), data_type)
}

/// Spreads files over at most `groups` groups, balancing bytes.
fn group_files(mut files: Vec<PartitionedFile>, groups: usize) -> Vec<FileGroup> {
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut buckets: Vec<(u64, Vec<PartitionedFile>)> = (0..groups.max(1)).map(|_| (0, Vec::new())).collect();
    for file in files {
        let lightest = buckets.iter_mut().min_by_key(|(bytes, _)| *bytes).expect("at least one group");
        lightest.0 += file.object_meta.size;
        lightest.1.push(file);
    }
    buckets.into_iter().filter(|(_, f)| !f.is_empty()).map(|(_, f)| FileGroup::new(f)).collect()
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
        let state = self.log.latest().await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let empty = || -> Result<Arc<dyn ExecutionPlan>> {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            Ok(Arc::new(EmptyExec::new(projected)))
        };
        let Some(state) = state else { return empty() };
        let partitions = self.prune(session, &state, filters)?;
        tracing::debug!(table = %self.def.qualified_name(), version = state.version, kept = partitions.len(),
            of = state.partitions.len(), "pruned partitions");
        let files = self.files(&partitions)?;
        if files.is_empty() {
            return empty();
        }
        let target = session.config().target_partitions();
        let partition_fields: Vec<_> = self.def.partition_fields().into_iter().map(Arc::new).collect();
        let table_schema =
            TableSchema::builder(self.def.file_schema.clone()).with_table_partition_cols(partition_fields).build();
        let (groups, statistics) =
            compute_all_files_statistics(group_files(files, target), self.schema.clone(), true, false)?;

        let format = ParquetFormat::default().with_options(session.table_options().parquet.clone());
        let source = format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(self.warehouse.store_url())?, source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(session, config).await
    }
}
