//! Queries and jobs on an Apache Ballista cluster (feature `cluster`).
//!
//! A session on a cluster ([`client_state`]) parses, analyzes and optimizes SQL here, as a local
//! session does, with glaux's catalog, dialect and functions. Its planner then resolves every
//! glaux table scan to the files of the snapshot it reads ([`scan`]) and sends the plan to the
//! Ballista scheduler, which plans it physically with glaux's physical rules, cuts it into
//! stages and hands their tasks to the executors. Results stream back to the session; a job
//! writes and commits them here with its usual atomic commit, so a failed run commits nothing.
//!
//! [`scheduler`] and [`executor`] are Ballista's scheduler and executor with glaux's functions,
//! codecs ([`codec`]) and object stores built in, so no one builds their own binaries. The
//! scheduler fails the queries that ran tasks on an executor it lost instead of running them
//! again (`loss`), and the client explains a broken connection to the cluster ([`result`]).

pub mod codec;
mod loss;
pub mod result;
pub mod scan;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::planner::BallistaQueryPlanner;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use self::codec::{LogicalCodec, PhysicalCodec};
use crate::config::ClusterAddress;
use crate::engine::{athena, decimal_quotient, literal_case, row_number};

/// The client's session state for `address`: `state` (glaux's local session) whose queries are
/// planned by the cluster.
pub fn client_state(state: SessionState, address: &ClusterAddress) -> Result<SessionState> {
    let prefer_hash_join = state.config().options().optimizer.prefer_hash_join;
    let physical = Arc::new(PhysicalCodec::default());
    let logical = Arc::new(LogicalCodec::new(Arc::clone(&physical)));
    let config = state
        .config()
        .clone()
        .with_ballista_logical_extension_codec(logical.clone())
        .with_ballista_physical_extension_codec(physical)
        .upgrade_for_ballista()
        // Ballista's adaptive planner replans each stage with its own fixed list of physical
        // rules, without glaux's; its static planner applies the scheduler session's. (`SET
        // ballista.planner.adaptive.enabled = true` turns it back on, without glaux's rules.)
        .set_bool(BALLISTA_ADAPTIVE_PLANNER_ENABLED, false)
        // Ballista prefers sort-merge joins, which spill; that also plans a join to a six-row
        // table as a shuffle of both sides on its key, every customer into the few partitions a
        // handful of regions hash to. Hash joins, as in a local session, broadcast a small side
        // instead (below Ballista's broadcast thresholds) and leave the large one where it is.
        .set_bool("datafusion.optimizer.prefer_hash_join", prefer_hash_join);
    let ballista =
        BallistaQueryPlanner::<LogicalPlanNode>::with_extension(address.url(), config.ballista_config(), logical);
    let config = config.with_ballista_query_planner(Arc::new(scan::ClusterPlanner { inner: Arc::new(ballista) }));
    SessionStateBuilder::new_from_existing(state).with_config(config).build().upgrade_for_ballista(address.url())
}

/// A session state with glaux's SQL functions (Athena's, and `functions`) and physical rules,
/// as the scheduler plans and the executors run; with `optimize` false, without a logical
/// optimizer (the client optimized the plans the scheduler receives).
///
/// Ballista rebuilds the states it is given, registering every function again in hash order,
/// so a DataFusion function whose alias is one of glaux's names (`map_extract`, alias
/// `element_at`) could take that name back from glaux's: such functions are left out (glaux's
/// `element_at` reads maps too).
fn server_state(
    config: SessionConfig,
    optimize: bool,
    functions: &[ScalarUDF],
    stores: Arc<dyn ObjectStoreRegistry>,
) -> Result<SessionState> {
    let runtime = RuntimeEnvBuilder::new().with_object_store_registry(stores).build_arc()?;
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_expr_planners(athena::expr_planners())
        .with_default_features()
        // The rules whose nodes the codec carries; a small-table join is Ballista's broadcast
        // hash join here (glaux's lookup join reads its build side in the same process).
        .with_physical_optimizer_rule(Arc::new(row_number::SortedRowNumber { runs: Some(row_number::RUN_ROWS) }))
        .with_physical_optimizer_rule(Arc::new(literal_case::LiteralCases))
        .with_physical_optimizer_rule(Arc::new(decimal_quotient::DecimalQuotients));
    if !optimize {
        builder = builder.with_optimizer_rules(Vec::new());
    }
    let ctx = SessionContext::new_with_state(builder.build());
    athena::install(&ctx);
    for function in functions {
        ctx.register_udf(function.clone());
    }
    drop_shadowed(&ctx);
    Ok(ctx.state())
}

/// Removes the functions one of whose aliases names another function, and registers the
/// functions that own those names again.
fn drop_shadowed(ctx: &SessionContext) {
    let state = ctx.state();
    for (name, owners) in shadowing(state.scalar_functions(), ScalarUDF::name, ScalarUDF::aliases) {
        ctx.deregister_udf(&name);
        owners.into_iter().for_each(|owner| ctx.register_udf(owner.as_ref().clone()));
    }
    for (name, owners) in shadowing(state.aggregate_functions(), AggregateUDF::name, AggregateUDF::aliases) {
        ctx.deregister_udaf(&name);
        owners.into_iter().for_each(|owner| ctx.register_udaf(owner.as_ref().clone()));
    }
}

/// Each function of `functions` (by name and alias) with an alias that another function owns,
/// and those owners.
fn shadowing<F>(
    functions: &HashMap<String, Arc<F>>,
    name: impl Fn(&F) -> &str,
    aliases: impl Fn(&F) -> &[String],
) -> Vec<(String, Vec<Arc<F>>)> {
    functions
        .values()
        .filter_map(|function| {
            let owners: Vec<Arc<F>> = aliases(function)
                .iter()
                .filter_map(|alias| functions.get(alias).filter(|owner| name(owner) != name(function)))
                .cloned()
                .collect();
            (!owners.is_empty()).then(|| (name(function).to_string(), owners))
        })
        .collect()
}

fn ballista_error(e: ballista_core::error::BallistaError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Runs a Ballista scheduler on `bind` until the process ends. It plans each query the
/// clients optimized without optimizing it again (so every scan is the one the client resolved)
/// and knows glaux's `functions`; `stores` are the object stores its planning may read. An
/// executor silent for `executor_timeout` seconds is dead, and the queries that ran tasks on it
/// fail naming it ([`loss`]).
pub async fn scheduler(
    bind: SocketAddr,
    executor_timeout: u64,
    functions: Vec<ScalarUDF>,
    stores: Arc<dyn ObjectStoreRegistry>,
) -> Result<()> {
    let physical = Arc::new(PhysicalCodec::default());
    let logical = Arc::new(LogicalCodec::new(Arc::clone(&physical)));
    let session_builder = move |config: SessionConfig| -> Result<SessionState> {
        server_state(config, false, &functions, Arc::clone(&stores))
    };
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: bind.ip().to_string(),
        override_session_builder: Some(Arc::new(session_builder)),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        executor_timeout_seconds: executor_timeout,
        expire_dead_executor_interval_seconds: (executor_timeout / 4).max(1),
        no_executors_grace_period_seconds: executor_timeout,
        // A task or stage that fails is not run again, so a shuffle read that fails fails the
        // query. After a killed executor, Ballista 55's resubmission of stages returned some
        // shuffle partitions twice; this closes the fetch-failure path to that, and `loss` the
        // lost-executor one.
        task_max_failures: 1,
        stage_max_failures: 1,
        ..SchedulerConfig::default()
    };
    config.validate().map_err(ballista_error)?;
    let (cluster, handle) =
        loss::fail_jobs_on_loss(&BallistaCluster::new_from_config(&config).await.map_err(ballista_error)?);
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
        .await
        .map_err(ballista_error)?;
    // The handle was made empty just above, so setting it cannot fail.
    let _ = handle.set(scheduler.clone());
    tracing::info!("glaux's Ballista scheduler listening on {bind}");
    start_grpc_service(bind, scheduler).await.map_err(ballista_error)
}

/// Where and how an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler it registers with.
    pub scheduler: ClusterAddress,
    /// Address its Arrow Flight service (shuffle and result reads) listens on.
    pub bind: SocketAddr,
    /// Port of its gRPC service.
    pub grpc_port: u16,
    /// Tasks it runs at once.
    pub concurrent_tasks: usize,
    /// Directory for shuffle files.
    pub work_dir: PathBuf,
    /// Seconds between its heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
}

/// Runs a Ballista executor until the process ends: it decodes glaux's plan nodes, runs glaux's
/// `functions`, and reads the object stores `stores` opens (S3 with the AWS credential chain).
pub async fn executor(
    options: ExecutorOptions,
    functions: Vec<ScalarUDF>,
    stores: Arc<dyn ObjectStoreRegistry>,
) -> Result<()> {
    let physical = Arc::new(PhysicalCodec::default());
    let logical = Arc::new(LogicalCodec::new(Arc::clone(&physical)));
    let registry =
        BallistaFunctionRegistry::from(&server_state(SessionConfig::new(), true, &functions, Arc::clone(&stores))?);
    let runtime =
        move |_: &SessionConfig| RuntimeEnvBuilder::new().with_object_store_registry(Arc::clone(&stores)).build_arc();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.host.clone(),
        scheduler_port: options.scheduler.port,
        vcores: options.concurrent_tasks,
        work_dir: Some(options.work_dir.display().to_string()),
        executor_heartbeat_interval_seconds: options.heartbeat_seconds,
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(Arc::new(runtime)),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(ballista_error)
}
