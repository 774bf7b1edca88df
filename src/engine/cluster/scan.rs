//! Scans resolved by the client: what the executors read is what the client's snapshot lists.
//!
//! A Ballista client sends its optimized logical plan to the scheduler, which plans it
//! physically. glaux's tables ([`crate::engine::table::RegistryTable`], the `system` tables,
//! the rejects views) find their files in the registry's snapshots, which only the client has
//! opened (and a job pins its inputs to the snapshots it read). So before the plan leaves,
//! [`ClusterPlanner`] asks each such table for its scan, with the projection, filters and limit
//! the optimizer gave it, exactly as a local query would, and puts the resulting physical plan
//! in its place as a [`ScannedTable`]. The plan travels inside the logical plan (see
//! [`super::codec`]): a Parquet scan of the committed files with their sizes and row counts, or
//! the rows of a small in-memory table. The scheduler plans without a logical optimizer, so
//! each scan is asked for with the arguments the client resolved it with.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::catalog::{ScanArgs, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{TableType, provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::expr_rewriter::unnormalize_cols;
use datafusion::logical_expr::{Expr, LogicalPlan, TableScan};
use datafusion::physical_plan::ExecutionPlan;

/// The client's query planner on a cluster: resolves glaux's scans, then hands the plan to
/// Ballista's planner, which submits it to the scheduler; its errors are explained
/// ([`super::result`]).
pub struct ClusterPlanner {
    /// Ballista's planner.
    pub inner: Arc<dyn QueryPlanner + Send + Sync>,
}

impl fmt::Debug for ClusterPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPlanner").finish_non_exhaustive()
    }
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let resolved = resolve_scans(logical_plan, session_state).await?;
        let plan = self.inner.create_physical_plan(&resolved, session_state).await?;
        Ok(Arc::new(super::result::ClusterResult::new(plan)))
    }
}

/// Whether the cluster can read `provider` as it is: tables of files it lists itself
/// (`'s3://bucket/x.parquet'`, datafusion-cli style) and `information_schema`, which Ballista
/// answers in the client.
fn travels_as_is(scan: &TableScan, provider: &Arc<dyn TableProvider>) -> bool {
    provider.downcast_ref::<ListingTable>().is_some() || scan.table_name.schema() == Some("information_schema")
}

/// `plan` with every glaux table scan (subqueries' too) replaced by its resolved physical scan.
pub async fn resolve_scans(plan: &LogicalPlan, state: &dyn Session) -> Result<LogicalPlan> {
    // Resolving is async, tree rewrites are not: resolve every scan first, then swap them in.
    let mut scans: Vec<TableScan> = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && !scans.contains(scan)
        {
            scans.push(scan.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let mut resolved: Vec<(TableScan, Arc<dyn TableProvider>)> = Vec::with_capacity(scans.len());
    for scan in scans {
        let provider = source_as_provider(&scan.source)?;
        if travels_as_is(&scan, &provider) {
            continue;
        }
        // As DataFusion's physical planner asks a table for its scan: columns unqualified.
        let filters: Vec<Expr> = unnormalize_cols(scan.filters.iter().cloned());
        let statistics: Vec<_> = scan.statistics_requests.iter().cloned().collect();
        let args = ScanArgs::default()
            .with_projection(scan.projection.as_deref())
            .with_filters(Some(&filters))
            .with_limit(scan.fetch)
            .with_statistics_requests(&statistics);
        let physical = Arc::clone(provider.scan_with_args(state, args).await?.plan());
        let table = ScannedTable {
            name: scan.table_name.to_string(),
            schema: provider.schema(),
            plan: physical,
            projection: scan.projection.clone(),
            fetch: scan.fetch,
        };
        resolved.push((scan, Arc::new(table)));
    }
    if resolved.is_empty() {
        return Ok(plan.clone());
    }
    let rewritten = plan.clone().transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else { return Ok(Transformed::no(node)) };
        let Some((_, table)) = resolved.iter().find(|(original, _)| original == scan) else {
            return Ok(Transformed::no(node));
        };
        let scan = TableScan { source: provider_as_source(Arc::clone(table)), ..scan.clone() };
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    })?;
    Ok(rewritten.data)
}

/// A table scan the client resolved: the physical plan that reads it, and the arguments it was
/// resolved with.
#[derive(Debug)]
pub struct ScannedTable {
    /// The table's name, for messages.
    pub name: String,
    /// The table's schema (the projection's indices are into it).
    pub schema: SchemaRef,
    /// The scan.
    pub plan: Arc<dyn ExecutionPlan>,
    /// The columns the scan was resolved for.
    pub projection: Option<Vec<usize>>,
    /// The row limit it was resolved for.
    pub fetch: Option<usize>,
}

#[async_trait]
impl TableProvider for ScannedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The filters were applied when the scan was resolved (those it could apply exactly are
        // gone from the plan; the others stay above the scan, as DataFusion left them).
        if projection != self.projection.as_ref() || limit != self.fetch {
            return Err(DataFusionError::Plan(format!(
                "the cluster planned the scan of {} with columns {projection:?} and limit {limit:?}, but the \
                 client resolved it for {:?} and {:?}; run the query without --cluster and report this",
                self.name, self.projection, self.fetch
            )));
        }
        Ok(Arc::clone(&self.plan))
    }
}
