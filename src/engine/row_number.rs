//! `row_number()` over sorted input, one pass and no per-partition state.
//!
//! DataFusion evaluates `row_number() OVER (PARTITION BY k ORDER BY o)` with its general
//! streaming window operator, which keeps a state, a hash-map entry and a slice of every input
//! column per PARTITION BY group. Deduplication windows have about one row per group, so that
//! bookkeeping dominates: on a million customers it took three quarters of the cleansing job.
//! When the input already arrives sorted by the partition keys (the planner put a sort below the
//! window), row numbers need no state beyond the previous row: count up while the keys stay equal,
//! restart at 1 where they change. [`SortedRowNumber`] swaps such windows for
//! [`SortedRowNumberExec`], which does that column-wise per batch.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt64Array, make_comparator};
use arrow::compute::SortOptions;
use arrow::compute::kernels::partition::partition;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_expr_common::sort_expr::OrderingRequirements;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowUDFExpr};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, InputOrderMode,
    PlanProperties, ReplaceChildrenOptions, WindowExpr,
};
use futures::StreamExt;

/// Physical optimizer rule: sorted-input `row_number()` windows become [`SortedRowNumberExec`].
/// Runs last, so every other rule has seen the plan DataFusion built. With `runs`, the sort below
/// such a window reads its input in runs of that many rows ([`RunsExec`]).
#[derive(Debug, Default)]
pub struct SortedRowNumber {
    /// Rows per sorted run, when the session has no memory limit (under one, the sort spills
    /// and its runs are what fits).
    pub runs: Option<usize>,
}

/// Rows per sorted run below a deduplication window: four job batches, so the merge of the
/// runs holds a quarter of the sort keys a run per batch would.
pub const RUN_ROWS: usize = 128 * 1024;

impl PhysicalOptimizerRule for SortedRowNumber {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(exec) = SortedRowNumberExec::replacing(&node)? else { return Ok(Transformed::no(node)) };
            let exec: Arc<dyn ExecutionPlan> = Arc::new(exec);
            let sort = exec.children()[0];
            let Some(rows) = self.runs else { return Ok(Transformed::yes(exec)) };
            let Some(sorting) = sort.downcast_ref::<SortExec>() else { return Ok(Transformed::yes(exec)) };
            if sorting.input().is::<RunsExec>() {
                return Ok(Transformed::yes(exec));
            }
            let runs: Arc<dyn ExecutionPlan> = Arc::new(RunsExec::new(Arc::clone(sorting.input()), rows));
            let keep = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
            let sort = Arc::clone(sort).replace_children(vec![runs], keep)?;
            Ok(Transformed::yes(exec.replace_children(vec![sort], keep)?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "glaux_sorted_row_number"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Numbers the rows of each run of equal partition keys in sorted input: 1, 2, 3, … restarting
/// where the keys change. Stands in for the window operator it replaced, whose schema,
/// ordering, distribution and display it keeps.
#[derive(Debug)]
pub struct SortedRowNumberExec {
    /// The `BoundedWindowAggExec` replaced: its properties and requirements are this node's.
    window: Arc<dyn ExecutionPlan>,
    /// The PARTITION BY expressions, evaluated against the input.
    keys: Vec<Arc<dyn PhysicalExpr>>,
    /// How many `row_number()` columns the window computed (all equal).
    columns: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl SortedRowNumberExec {
    /// The replacement for `plan` when it is a window computing only `row_number()`s over one
    /// PARTITION BY and ORDER BY, on input sorted by them.
    pub(crate) fn replacing(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<SortedRowNumberExec>> {
        let Some(window) = plan.downcast_ref::<BoundedWindowAggExec>() else { return Ok(None) };
        if window.input_order_mode != InputOrderMode::Sorted || window.state_observer().is_some() {
            return Ok(None);
        }
        let exprs = window.window_expr();
        let Some(first) = exprs.first() else { return Ok(None) };
        let same_window =
            |e: &Arc<dyn WindowExpr>| e.partition_by() == first.partition_by() && e.order_by() == first.order_by();
        if !exprs.iter().all(|e| is_row_number(e) && same_window(e)) {
            return Ok(None);
        }
        let keys = window.partition_by_sort_keys()?.into_iter().map(|k: PhysicalSortExpr| k.expr).collect();
        Ok(Some(SortedRowNumberExec {
            window: Arc::clone(plan),
            keys,
            columns: exprs.len(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn input(&self) -> &Arc<dyn ExecutionPlan> {
        self.window.children()[0]
    }

    /// The window this node stands in for.
    pub fn replaced(&self) -> &Arc<dyn ExecutionPlan> {
        &self.window
    }
}

/// Whether a window expression is the built-in `row_number()`.
fn is_row_number(expr: &Arc<dyn WindowExpr>) -> bool {
    expr.as_any()
        .downcast_ref::<StandardWindowExpr>()
        .and_then(|e| e.get_standard_func_expr().as_any().downcast_ref::<WindowUDFExpr>())
        .is_some_and(|udf| udf.fun().name() == "row_number")
}

impl DisplayAs for SortedRowNumberExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SortedRowNumberExec (replaces ")?;
        self.window.fmt_as(t, f)?;
        write!(f, ")")
    }
}

impl ExecutionPlan for SortedRowNumberExec {
    fn name(&self) -> &str {
        "SortedRowNumberExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.window.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.window.apply_expressions(f)
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.window.required_input_ordering()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.window.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let window = Arc::clone(&self.window).replace_children(children, options)?;
        Ok(match SortedRowNumberExec::replacing(&window)? {
            Some(exec) => Arc::new(exec),
            None => window,
        })
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input().execute(partition, context)?;
        let schema = self.schema();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let mut numbering = Numbering { keys: self.keys.clone(), columns: self.columns, last: None, count: 0 };
        let out_schema = Arc::clone(&schema);
        let stream = input.map(move |batch| {
            let batch = batch?;
            let _timer = metrics.elapsed_compute().timer();
            let out = numbering.number(&batch, &out_schema)?;
            metrics.record_output(out.num_rows());
            Ok(out)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The running state of one output partition: the keys of the last row seen and its number.
struct Numbering {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    columns: usize,
    /// The previous batch's last row of key values (one-row arrays).
    last: Option<Vec<ArrayRef>>,
    count: u64,
}

impl Numbering {
    /// Appends the row-number column(s) to `batch`.
    fn number(&mut self, batch: &RecordBatch, schema: &arrow::datatypes::SchemaRef) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let keys = self
            .keys
            .iter()
            .map(|k| k.evaluate(batch).and_then(|v| v.into_array(rows)))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let mut numbers = Vec::with_capacity(rows);
        if rows > 0 {
            let continues = match &self.last {
                Some(last) => same_key(last, &keys)?,
                None => false,
            };
            if !continues {
                self.count = 0;
            }
            let ranges = match keys.is_empty() {
                true => std::iter::once(0..rows).collect(),
                false => partition(&keys)?.ranges(),
            };
            for (i, range) in ranges.into_iter().enumerate() {
                if i > 0 {
                    self.count = 0;
                }
                numbers.extend((self.count + 1)..=(self.count + range.len() as u64));
                self.count += range.len() as u64;
            }
            self.last = Some(keys.iter().map(|k| k.slice(rows - 1, 1)).collect());
        }
        let numbers: ArrayRef = Arc::new(UInt64Array::from(numbers));
        let mut columns = batch.columns().to_vec();
        columns.extend(std::iter::repeat_n(numbers, self.columns));
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// Whether the first row of `next` has the same keys as the one-row arrays in `last`.
fn same_key(last: &[ArrayRef], next: &[ArrayRef]) -> Result<bool> {
    for (a, b) in last.iter().zip(next) {
        if make_comparator(a.as_ref(), b.as_ref(), SortOptions::default())?(0, 0) != std::cmp::Ordering::Equal {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Coalesces a sort's input into batches of `rows` rows. DataFusion's in-memory sort sorts each
/// input batch as a run and merges the runs, holding each run's current output batch as
/// row-encoded sort keys; when runs are no longer than an output batch, that is every row's key
/// at once (150 MiB for a million customers, a fifth of the cleansing job's peak). Runs longer
/// than an output batch let the merge hold one batch of keys per run.
#[derive(Debug)]
pub struct RunsExec {
    input: Arc<dyn ExecutionPlan>,
    /// Rows per output batch (the last may be shorter).
    rows: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl RunsExec {
    /// Runs of `rows` rows of `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>, rows: usize) -> RunsExec {
        RunsExec { input, rows, metrics: ExecutionPlanMetricsSet::new() }
    }

    /// Rows per run.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

impl DisplayAs for RunsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "RunsExec: rows={}", self.rows)
    }
}

impl ExecutionPlan for RunsExec {
    fn name(&self) -> &str {
        "RunsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RunsExec::new(children.swap_remove(0), self.rows)))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = self.schema();
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let coalescer = arrow::compute::BatchCoalescer::new(Arc::clone(&schema), self.rows);
        let state = (input, coalescer, false);
        let stream = futures::stream::unfold(state, move |(mut input, mut coalescer, mut done)| {
            let metrics = metrics.clone();
            async move {
                loop {
                    if let Some(batch) = coalescer.next_completed_batch() {
                        metrics.record_output(batch.num_rows());
                        return Some((Ok(batch), (input, coalescer, done)));
                    }
                    if done {
                        return None;
                    }
                    match input.next().await {
                        Some(Ok(batch)) => {
                            if let Err(e) = coalescer.push_batch(batch) {
                                return Some((Err(e.into()), (input, coalescer, true)));
                            }
                        }
                        Some(Err(e)) => return Some((Err(e), (input, coalescer, true))),
                        None => {
                            done = true;
                            if let Err(e) = coalescer.finish_buffered_batch() {
                                return Some((Err(e.into()), (input, coalescer, true)));
                            }
                        }
                    }
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// The same query with the window replaced and with DataFusion's own operator agree, and the
    /// replacement is really in the plan.
    #[tokio::test]
    async fn row_numbers_match_datafusion_across_batches_nulls_and_ties() {
        // Groups of one row, groups spanning batches of 100 rows, NULL keys.
        let sql = "SELECT k, j IS NULL AS jn, i, row_number() OVER (PARTITION BY k, j IS NULL ORDER BY v DESC, i) AS rn \
                   FROM (SELECT CASE WHEN i % 97 = 0 THEN NULL WHEN i > 19000 THEN i ELSE i / 37 END AS k, \
                                CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS j, i % 5 AS v, i \
                         FROM generate_series(1, 20000) AS t(i)) \
                   ORDER BY i";
        let plain = SessionContext::new();
        plain.sql("SET datafusion.execution.batch_size = 100").await.unwrap();
        let expected = plain.sql(sql).await.unwrap().collect().await.unwrap();

        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(SortedRowNumber { runs: Some(1000) }))
            .build();
        let fast = SessionContext::new_with_state(state);
        fast.sql("SET datafusion.execution.batch_size = 100").await.unwrap();
        let plan = fast.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        let shown = datafusion::physical_plan::displayable(plan.as_ref()).indent(false).to_string();
        assert!(shown.contains("SortedRowNumberExec"), "{shown}");
        assert!(shown.contains("RunsExec: rows=1000"), "the sort reads runs longer than a batch: {shown}");
        let got = fast.sql(sql).await.unwrap().collect().await.unwrap();
        let format = |b: &[RecordBatch]| arrow::util::pretty::pretty_format_batches(b).unwrap().to_string();
        assert_eq!(format(&got), format(&expected));
    }
}
