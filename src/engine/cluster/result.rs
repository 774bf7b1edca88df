//! The client's end of a query on the cluster: the stream of its result, whose errors say what
//! broke.
//!
//! A query fails on the cluster in two ways. The scheduler fails the job (a task's error, a lost
//! executor) and the client reads its reason, `Job ID failed: ...`, which already says what
//! happened. Or the connection the result comes over breaks — an executor or the scheduler
//! killed while the client reads — and the client sees only the transport's error (`h2
//! protocol error: error reading a body from connection`). [`ClusterResult`] says that much in
//! the second case, and what to do.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::TryStreamExt;

/// The plan Ballista's client runs for a query (it submits the job and reads the result), with
/// a broken result stream explained.
#[derive(Debug)]
pub struct ClusterResult {
    inner: Arc<dyn ExecutionPlan>,
}

impl ClusterResult {
    /// `inner`, Ballista's plan of the query.
    pub fn new(inner: Arc<dyn ExecutionPlan>) -> ClusterResult {
        ClusterResult { inner }
    }
}

/// `error`, explained when it is not the job's own failure.
fn explain(error: DataFusionError) -> DataFusionError {
    match &error {
        DataFusionError::Execution(message) if message.starts_with("Job ") && message.contains(" failed: ") => error,
        _ => DataFusionError::Execution(format!(
            "the query's connection to the cluster failed (is the scheduler up? did an executor go away?); \
             nothing was committed: run it again ({error})"
        )),
    }
}

impl DisplayAs for ClusterResult {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ClusterResult")
    }
}

impl ExecutionPlan for ClusterResult {
    fn name(&self) -> &str {
        "ClusterResult"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.inner]
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
        match (children.pop(), children.is_empty()) {
            (Some(inner), true) => Ok(Arc::new(ClusterResult::new(inner))),
            _ => Err(DataFusionError::Internal("ClusterResult has one child".into())),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let stream = self.inner.execute(partition, context).map_err(explain)?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(stream.schema(), stream.map_err(explain))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_stream_is_explained_and_a_failed_job_keeps_its_reason() {
        let failed = DataFusionError::Execution("Job 038J failed: executor e1 at 127.0.0.1:1 was lost".into());
        assert_eq!(
            explain(failed).to_string(),
            "Execution error: Job 038J failed: executor e1 at 127.0.0.1:1 was lost"
        );
        let broken = DataFusionError::External("h2 protocol error: error reading a body from connection".into());
        let text = explain(broken).to_string();
        assert!(text.contains("connection to the cluster failed"), "{text}");
        assert!(text.contains("run it again (External error: h2 protocol error"), "{text}");
    }
}
