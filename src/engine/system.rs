//! The `system` database: glaux's own records as read-only tables.
//!
//! - `system.job_runs`: every job run, ingest and scheduled run (see [`crate::history`]).
//! - `system.heartbeats`: every scheduler's latest heartbeat (see [`crate::heartbeats`]).
//! - `system.archives`: every archived partition of every table, from the tables' newest
//!   snapshots (see [`crate::catalog::archives`]).
//! - `system.restores`: every restore of archived partitions (see [`crate::catalog::restores`]).
//! - `system.ingest_rejects`: every rejected input row of every table, read from the reject
//!   files that the tables' newest snapshots list (see [`crate::catalog::rejects`]).
//!
//! [`RejectsTable`] over some tables is also how a domain shows its own rejects view (the log
//! ingest's `aurora_logs.rejects`), installed with [`super::Engine::with_table`].

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::stats::Precision;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use crate::catalog::rejects::reject_files;
use crate::catalog::state::TableLog;
use crate::catalog::table::TableDef;
use crate::warehouse::Warehouse;

const JOB_RUNS: &str = "job_runs";
const HEARTBEATS: &str = "heartbeats";
const INGEST_REJECTS: &str = "ingest_rejects";
const ARCHIVES: &str = "archives";
const RESTORES: &str = "restores";

/// The `system` schema.
#[derive(Debug)]
pub struct SystemSchema {
    tables: Vec<Arc<TableDef>>,
    warehouse: Warehouse,
}

impl SystemSchema {
    /// Over the registry's `tables` in `warehouse`.
    pub fn new(tables: Vec<Arc<TableDef>>, warehouse: &Warehouse) -> SystemSchema {
        SystemSchema { tables, warehouse: warehouse.clone() }
    }
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        [ARCHIVES, HEARTBEATS, INGEST_REJECTS, JOB_RUNS, RESTORES].iter().map(|n| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match name {
            JOB_RUNS => {
                let records = crate::history::list(&self.warehouse).await.map_err(external)?;
                let batch = crate::history::to_batch(&records)?;
                Ok(Some(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?)))
            }
            HEARTBEATS => {
                let beats = crate::heartbeats::list(&self.warehouse).await.map_err(external)?;
                let batch = crate::heartbeats::to_batch(&beats, chrono::Utc::now())?;
                Ok(Some(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?)))
            }
            ARCHIVES => {
                let mut archived = Vec::new();
                for def in &self.tables {
                    let log = crate::catalog::state::TableLog::of(&self.warehouse, def);
                    if let Some(state) = log.head().await.map_err(external)? {
                        let name = def.qualified_name();
                        archived
                            .extend(crate::catalog::archives::archived(&state).into_iter().map(|a| (name.clone(), a)));
                    }
                }
                let batch = crate::catalog::archives::to_batch(&archived, self.warehouse.url())?;
                Ok(Some(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?)))
            }
            RESTORES => {
                let restores = crate::catalog::restores::list(&self.warehouse).await.map_err(external)?;
                let batch = crate::catalog::restores::to_batch(&restores)?;
                Ok(Some(Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?)))
            }
            INGEST_REJECTS => {
                Ok(Some(Arc::new(RejectsTable { tables: self.tables.clone(), warehouse: self.warehouse.clone() })))
            }
            _ => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        [JOB_RUNS, INGEST_REJECTS, HEARTBEATS, ARCHIVES, RESTORES].contains(&name)
    }
}

/// `system.ingest_rejects` (and `aurora_logs.rejects`): the reject files of the newest
/// snapshot of each of `tables`.
#[derive(Debug)]
pub struct RejectsTable {
    tables: Vec<Arc<TableDef>>,
    warehouse: Warehouse,
}

impl RejectsTable {
    /// The rejects of `tables`.
    pub fn new(tables: Vec<Arc<TableDef>>, warehouse: &Warehouse) -> RejectsTable {
        RejectsTable { tables, warehouse: warehouse.clone() }
    }
}

#[async_trait]
impl TableProvider for RejectsTable {
    fn schema(&self) -> SchemaRef {
        crate::catalog::rejects::schema()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let mut files = Vec::new();
        for def in &self.tables {
            let Some(state) = TableLog::of(&self.warehouse, def).head().await.map_err(external)? else { continue };
            for reject in reject_files(&state.properties) {
                let mut stats = Statistics::new_unknown(&schema);
                stats.num_rows = Precision::Exact(reject.file.rows as usize);
                let path = self.warehouse.path(&reject.file.path);
                files.push(PartitionedFile::new(path.to_string(), reject.file.size).with_statistics(Arc::new(stats)));
            }
        }
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(schema.project(p)?),
                None => schema,
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let table_schema = TableSchema::builder(schema.clone()).build();
        super::table::scan_files(session, &self.warehouse, table_schema, schema, files, projection, limit).await
    }
}
