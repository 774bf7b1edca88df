//! What the scheduler does when an executor is lost while queries run: it fails the queries
//! that ran tasks there, naming the executor, instead of running the lost tasks again.
//!
//! Ballista 55 answers a lost executor by resetting the stages whose shuffle output lived there
//! and running them again. After an executor was killed mid-query, that path returned some
//! shuffle partitions twice (an aggregation over the cleansing query at 3M customers counted a
//! quarter of its groups' rows twice, exit 0). A wrong answer is worse than none: a glaux
//! scheduler fails such a query in one line, and the job it belonged to commits nothing.
//!
//! The scheduler removes an executor through its cluster state before it resets anything, so
//! [`LossFailsJobs`], wrapped around Ballista's in-memory cluster state, sees the loss first and
//! posts a cancellation of each affected job ahead of the reset; the scheduler's event loop
//! handles events in order, so the cancelled job has left the active jobs when the reset runs.
//! [`LossReasons`], wrapped around the job state, records the cancelled job as failed with the
//! lost executor's name instead of Ballista's "Cancelled", which is what the client prints.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use ballista_core::error::Result;
use ballista_core::serde::protobuf::{ExecutorHeartbeat, JobStatus, job_status, task_status};
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_core::{JobId, JobStatusSubscriber};
use ballista_scheduler::cluster::{
    BallistaCluster, BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot, JobState, JobStateEventStream,
};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::scheduler_server::SchedulerServer;
use ballista_scheduler::state::execution_graph::ExecutionGraphBox;
use ballista_scheduler::state::task_manager::JobInfoCache;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

/// The scheduler whose jobs [`LossFailsJobs`] cancels, set once it exists (it is built from the
/// cluster state that needs it).
pub type SchedulerHandle = Arc<OnceLock<SchedulerServer<LogicalPlanNode, PhysicalPlanNode>>>;

/// Why each job cancelled for a lost executor failed, by job.
type Reasons = Arc<Mutex<HashMap<JobId, String>>>;

/// `cluster` with its states wrapped so that a lost executor fails the jobs that ran tasks on
/// it; the handle must be given the scheduler built from the returned cluster.
pub fn fail_jobs_on_loss(cluster: &BallistaCluster) -> (BallistaCluster, SchedulerHandle) {
    let scheduler = SchedulerHandle::default();
    let reasons = Reasons::default();
    let state = LossFailsJobs {
        inner: cluster.cluster_state(),
        scheduler: Arc::clone(&scheduler),
        reasons: Arc::clone(&reasons),
    };
    let jobs = LossReasons { inner: cluster.job_state(), reasons };
    (BallistaCluster::new(Arc::new(state), Arc::new(jobs)), scheduler)
}

/// The message a job cancelled for the loss of `executor` fails with.
fn loss_reason(executor: &str, address: Option<String>) -> String {
    let at = address.map(|a| format!(" at {a}")).unwrap_or_default();
    format!(
        "executor {executor}{at} was lost while the query ran; the query was stopped rather than \
         re-running that executor's tasks, and nothing was committed: run it again"
    )
}

/// Whether `graph` ran, or runs, a task on `executor`, so that its loss would reset a stage.
fn ran_on(graph: &ExecutionGraphBox, executor: &str) -> bool {
    graph.stages().values().filter_map(|stage| stage.task_infos()).flatten().any(|task| match &task.task_status {
        task_status::Status::Running(t) => t.executor_id == executor,
        task_status::Status::Successful(t) => t.executor_id == executor,
        task_status::Status::Failed(_) => false,
    })
}

/// Ballista's cluster state, cancelling the jobs an executor ran tasks for when it is removed.
struct LossFailsJobs {
    inner: Arc<dyn ClusterState>,
    scheduler: SchedulerHandle,
    reasons: Reasons,
}

impl LossFailsJobs {
    /// Cancels the running jobs that ran tasks on `executor`, recording why.
    async fn cancel_jobs_of(&self, executor: &str, address: Option<String>) {
        let Some(scheduler) = self.scheduler.get() else { return };
        let reason = loss_reason(executor, address);
        for (job, info) in scheduler.state.task_manager.get_running_job_cache().iter() {
            if !ran_on(&*info.execution_graph.read().await, executor) {
                continue;
            }
            tracing::warn!(job = %job, executor, "executor lost mid-query: failing the job instead of re-running its tasks");
            self.reasons.lock().unwrap_or_else(|e| e.into_inner()).insert(job.clone(), reason.clone());
            if let Err(e) = scheduler.cancel_job(job.clone()).await {
                tracing::error!(job = %job, "could not fail the job after its executor was lost: {e}");
            }
        }
    }
}

#[async_trait::async_trait]
impl ClusterState for LossFailsJobs {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        self.inner.bind_schedulable_tasks(distribution, active_jobs, executors).await
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots).await
    }

    async fn register_executor(&self, metadata: ExecutorMetadata, spec: ExecutorData) -> Result<()> {
        self.inner.register_executor(metadata, spec).await
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        let address =
            self.inner.get_executor_metadata(executor_id).await.ok().map(|m| format!("{}:{}", m.host, m.port));
        let removed = self.inner.remove_executor(executor_id).await;
        self.cancel_jobs_of(executor_id, address).await;
        removed
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}

/// Ballista's job state, recording a job cancelled for a lost executor as failed for that
/// reason.
struct LossReasons {
    inner: Arc<dyn JobState>,
    reasons: Reasons,
}

impl LossReasons {
    /// `graph`, failed with its job's loss reason when it failed after a lost executor. A job
    /// that ended forgets its reason.
    fn with_reason(&self, job_id: &JobId, graph: &ExecutionGraphBox) -> Option<ExecutionGraphBox> {
        let failed = match graph.status().status {
            Some(job_status::Status::Failed(_)) => true,
            Some(job_status::Status::Successful(_)) => false,
            _ => return None,
        };
        let reason = self.reasons.lock().unwrap_or_else(|e| e.into_inner()).remove(job_id)?;
        failed.then(|| {
            let mut graph = graph.cloned();
            graph.fail_job(reason);
            graph
        })
    }
}

#[async_trait::async_trait]
impl JobState for LossReasons {
    fn accept_job(&self, job_id: &JobId, job_name: &str, queued_at: u64) -> Result<()> {
        self.inner.accept_job(job_id, job_name, queued_at)
    }

    fn pending_job_number(&self) -> usize {
        self.inner.pending_job_number()
    }

    async fn submit_job(
        &self,
        job_id: JobId,
        graph: &ExecutionGraphBox,
        subscriber: Option<JobStatusSubscriber>,
    ) -> Result<()> {
        self.inner.submit_job(job_id, graph, subscriber).await
    }

    async fn get_jobs(&self) -> Result<HashSet<JobId>> {
        self.inner.get_jobs().await
    }

    async fn get_all_jobs(&self) -> Result<HashSet<JobId>> {
        self.inner.get_all_jobs().await
    }

    async fn get_job_status(&self, job_id: &JobId) -> Result<Option<JobStatus>> {
        self.inner.get_job_status(job_id).await
    }

    async fn get_execution_graph(&self, job_id: &JobId) -> Result<Option<ExecutionGraphBox>> {
        self.inner.get_execution_graph(job_id).await
    }

    async fn save_job(&self, job_id: &JobId, graph: &ExecutionGraphBox) -> Result<()> {
        match self.with_reason(job_id, graph) {
            Some(failed) => self.inner.save_job(job_id, &failed).await,
            None => self.inner.save_job(job_id, graph).await,
        }
    }

    async fn fail_unscheduled_job(&self, job_id: &JobId, reason: String) -> Result<()> {
        self.inner.fail_unscheduled_job(job_id, reason).await
    }

    async fn remove_job(&self, job_id: &JobId) -> Result<()> {
        self.inner.remove_job(job_id).await
    }

    async fn try_acquire_job(&self, job_id: &JobId) -> Result<Option<ExecutionGraphBox>> {
        self.inner.try_acquire_job(job_id).await
    }

    async fn job_state_events(&self) -> Result<JobStateEventStream> {
        self.inner.job_state_events().await
    }

    async fn create_or_update_session(&self, session_id: &str, config: &SessionConfig) -> Result<Arc<SessionContext>> {
        self.inner.create_or_update_session(session_id, config).await
    }

    async fn remove_session(&self, session_id: &str) -> Result<()> {
        self.inner.remove_session(session_id).await
    }

    fn produce_config(&self) -> SessionConfig {
        self.inner.produce_config()
    }
}
