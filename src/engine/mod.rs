//! The SQL engine: a DataFusion session whose catalog is the registry.
//!
//! Every registry database is a schema of the default catalog `awsdatacatalog` (Athena's name
//! for it), so `SELECT … FROM customer_data.customer_base_raw` works as it does in Athena, and
//! `awsdatacatalog.customer_data.customer_base_raw` too. Ad-hoc paths work as in datafusion-cli
//! (`SELECT * FROM 'data/x.parquet'`, `'s3://bucket/key.parquet'`): S3 buckets other than the
//! warehouse's are opened on first use with the same endpoint settings and credential chain.
//! Every session — REPL, `-c`, `-f`, jobs — is built by [`Engine`].

pub mod athena;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod decimal_quotient;
pub mod exec;
pub mod literal_case;
pub mod lookup_join;
pub mod progress;
pub mod row_number;
pub mod system;
pub mod table;
pub mod travel;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use url::Url;

use crate::catalog::Catalog;
use crate::catalog::names::SYSTEM_DATABASE;
use crate::catalog::table::TableDef;
use crate::catalog::view::ViewDef;
use crate::config::{ClusterAddress, WarehouseSettings};
use crate::warehouse::Warehouse;
use crate::warehouse::s3::S3Connector;

/// The default catalog's name, as in Athena.
pub const DEFAULT_CATALOG: &str = crate::catalog::names::DEFAULT_CATALOG;
/// The default database, as in Athena.
pub const DEFAULT_DATABASE: &str = "default";

/// Engine options chosen on the command line or in configuration.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Cap on the memory the engine's operators may hold before they spill, in bytes.
    pub memory_limit: Option<usize>,
    /// Rows per batch, when not DataFusion's default (8192).
    pub batch_size: Option<usize>,
    /// Partitions (parallel tasks) per query stage, when not one per core.
    pub target_partitions: Option<usize>,
}

/// Tables that a session shows in place of the registry's, or beside them, by
/// `database.table` (the database must be one the registry has).
pub type Overrides = HashMap<String, Arc<dyn TableProvider>>;

/// What sessions are built from: the registry's tables in their warehouse, how to reach other
/// S3 buckets, and tables installed over or beside the registry's (views such as
/// `aurora_logs.rejects`, which the layers above provide: the engine knows no database by name
/// but `system`).
#[derive(Debug, Clone)]
pub struct Engine {
    catalog: Catalog,
    settings: WarehouseSettings,
    tables: Overrides,
    functions: Vec<ScalarUDF>,
    /// The cluster sessions run on, and the tasks per stage there.
    cluster: Option<(ClusterAddress, usize)>,
}

impl Engine {
    /// An engine over `catalog`, reaching S3 with `settings`.
    pub fn new(catalog: &Catalog, settings: &WarehouseSettings) -> Engine {
        Engine {
            catalog: catalog.clone(),
            settings: settings.clone(),
            tables: HashMap::new(),
            functions: Vec::new(),
            cluster: None,
        }
    }

    /// Runs every session's queries on the Ballista scheduler at `cluster` (when set), in
    /// `partitions` tasks per stage unless a session asks for fewer: the session plans here,
    /// resolving its tables' files, and the cluster executes.
    pub fn on_cluster(mut self, cluster: Option<ClusterAddress>, partitions: usize) -> Engine {
        self.cluster = cluster.map(|address| (address, partitions.max(1)));
        self
    }

    /// The most tasks a query stage can usefully run in: the cluster's partitions, or this
    /// machine's cores.
    pub fn task_slots(&self) -> usize {
        match &self.cluster {
            Some((_, partitions)) => *partitions,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Registers `function` in every session (the log fingerprints, which the layers above
    /// provide).
    pub fn with_function(mut self, function: ScalarUDF) -> Engine {
        self.functions.push(function);
        self
    }

    /// Shows `provider` as `name` (`database.table`) in every session.
    pub fn with_table(mut self, name: String, provider: Arc<dyn TableProvider>) -> Engine {
        self.tables.insert(name, provider);
        self
    }

    /// The catalog the sessions read.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A session.
    pub fn session(&self, options: &EngineOptions) -> Result<SessionContext> {
        self.session_with(options, HashMap::new())
    }

    /// A session with some tables replaced (a job pins its inputs to the snapshots it read).
    pub fn session_with(&self, options: &EngineOptions, overrides: Overrides) -> Result<SessionContext> {
        let spread;
        let options = match &self.cluster {
            Some((_, partitions)) if options.target_partitions.is_none() => {
                spread = EngineOptions { target_partitions: Some(*partitions), ..options.clone() };
                &spread
            }
            _ => options,
        };
        let mut runtime =
            RuntimeEnvBuilder::new().with_object_store_registry(stores(&self.settings, &self.catalog.warehouse)?);
        if let Some(limit) = options.memory_limit {
            // The top consumers are named when the pool runs out.
            let top = std::num::NonZeroUsize::new(5).expect("non-zero");
            let pool = TrackConsumersPool::new(GreedyMemoryPool::new(limit), top);
            runtime = runtime.with_memory_pool(Arc::new(pool));
        }
        let state = SessionStateBuilder::new()
            .with_config(session_config(options))
            .with_runtime_env(runtime.build_arc()?)
            // Before DataFusion's planners, so EXTRACT is planned as Athena plans it.
            .with_expr_planners(athena::expr_planners())
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(row_number::SortedRowNumber {
                runs: options.memory_limit.is_none().then_some(row_number::RUN_ROWS),
            }))
            .with_physical_optimizer_rule(Arc::new(literal_case::LiteralCases))
            .with_physical_optimizer_rule(Arc::new(lookup_join::LookupJoins))
            .with_physical_optimizer_rule(Arc::new(decimal_quotient::DecimalQuotients))
            .build();
        let state = match &self.cluster {
            Some((address, _)) => on_cluster(state, address)?,
            None => state,
        };
        let ctx = SessionContext::new_with_state(state).enable_url_table();
        athena::install(&ctx);
        for function in &self.functions {
            ctx.register_udf(function.clone());
        }
        self.register_databases(&ctx, &self.catalog, &overrides)?;
        Ok(ctx)
    }

    /// Shows `catalog`'s registry in `ctx` in place of the one it was built with (after a
    /// statement created or dropped a table); databases no longer there are removed.
    pub fn show_registry(&self, ctx: &SessionContext, catalog: &Catalog) -> Result<()> {
        if let Some(sessions) = ctx.catalog(DEFAULT_CATALOG) {
            let current = catalog.registry.databases();
            for name in sessions.schema_names() {
                if name != SYSTEM_DATABASE && name != DEFAULT_DATABASE && !current.contains(&name) {
                    sessions.deregister_schema(&name, true)?;
                }
            }
        }
        self.register_databases(ctx, catalog, &HashMap::new())
    }

    /// Every registry database as a schema of the default catalog, with the engine's tables and
    /// `overrides` in place, and the `system` database.
    fn register_databases(&self, ctx: &SessionContext, catalog: &Catalog, overrides: &Overrides) -> Result<()> {
        let (registry, warehouse) = (&catalog.registry, &catalog.warehouse);
        let catalog =
            ctx.catalog(DEFAULT_CATALOG).ok_or_else(|| DataFusionError::Internal("default catalog missing".into()))?;
        let session = ViewPlanner::new(ctx);
        for database in registry.databases() {
            let mut schema = DatabaseSchema::new(registry.tables_in(&database), warehouse);
            schema.views =
                registry.views_in(&database).into_iter().map(|v| (v.name().to_string(), v.clone())).collect();
            schema.planner = Some(session.clone());
            // The session's own overrides win over the engine's tables.
            for (name, provider) in self.tables.iter().chain(overrides) {
                if let Some(table) = name.strip_prefix(&format!("{database}.")) {
                    schema.overrides.insert(table.to_string(), provider.clone());
                }
            }
            catalog.register_schema(&database, Arc::new(schema))?;
        }
        let system = system::SystemSchema::new(registry.tables().cloned().collect(), warehouse);
        catalog.register_schema(SYSTEM_DATABASE, Arc::new(system))?;
        Ok(())
    }
}

/// The client's side of a session on `address` (see [`cluster`]).
#[cfg(feature = "cluster")]
fn on_cluster(
    state: datafusion::execution::SessionState,
    address: &ClusterAddress,
) -> Result<datafusion::execution::SessionState> {
    cluster::client_state(state, address)
}

/// Without the `cluster` feature, a cluster setting is an error that says how to get one.
#[cfg(not(feature = "cluster"))]
fn on_cluster(
    _state: datafusion::execution::SessionState,
    address: &ClusterAddress,
) -> Result<datafusion::execution::SessionState> {
    Err(DataFusionError::Configuration(format!(
        "cannot run on the cluster {address}: this glaux was built without the `cluster` feature; build it with \
         `cargo build --release --features cluster`, or drop --cluster, GLAUX_CLUSTER and [engine] cluster"
    )))
}

/// The object stores a session reaches: `warehouse`'s, the local file system, and S3 buckets
/// opened on first use with `settings`' endpoint and the AWS credential chain.
pub fn stores(settings: &WarehouseSettings, warehouse: &Warehouse) -> Result<Arc<dyn ObjectStoreRegistry>> {
    let stores = object_stores(settings);
    let warehouse_url = Url::parse(&warehouse.store_url()).map_err(|e| DataFusionError::External(Box::new(e)))?;
    stores.register_store(&warehouse_url, warehouse.store().clone());
    Ok(stores)
}

/// The local file system, and S3 buckets opened on first use with `settings`' endpoint and the
/// AWS credential chain (what a cluster's scheduler and executors read).
pub fn object_stores(settings: &WarehouseSettings) -> Arc<dyn ObjectStoreRegistry> {
    Arc::new(StoreRegistry::new(S3Connector::new(settings)))
}

/// The session configuration for `options`.
fn session_config(options: &EngineOptions) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(DEFAULT_CATALOG, DEFAULT_DATABASE)
        .with_create_default_catalog_and_schema(true);
    if let Some(rows) = options.batch_size {
        config = config.with_batch_size(rows);
    }
    if let Some(partitions) = options.target_partitions {
        config = config.with_target_partitions(partitions.max(1));
    }
    if let Some(limit) = options.memory_limit {
        // One partition under a limit: no hash repartitioning, whose spill path in DataFusion
        // 55.2 can stop forever when two input tasks spill at once (apache/datafusion#24883,
        // fixed after 55.2), and the one sort gets the whole budget instead of a share.
        config = config.with_target_partitions(1);
        // Each sorting partition reserves this much up front for merging its spills (10 MB by
        // default); keep the reservations to a quarter of the limit so small limits still work.
        let execution = &mut config.options_mut().execution;
        execution.sort_spill_reservation_bytes = execution.sort_spill_reservation_bytes.min(limit / 4);
    }
    config
}

/// One registry database as a DataFusion schema.
#[derive(Debug)]
struct DatabaseSchema {
    tables: Vec<Arc<TableDef>>,
    warehouse: Warehouse,
    overrides: HashMap<String, Arc<dyn TableProvider>>,
    /// Views, planned when a query names them.
    views: HashMap<String, Arc<ViewDef>>,
    planner: Option<ViewPlanner>,
}

impl DatabaseSchema {
    fn new(tables: Vec<&Arc<TableDef>>, warehouse: &Warehouse) -> DatabaseSchema {
        DatabaseSchema {
            tables: tables.into_iter().cloned().collect(),
            warehouse: warehouse.clone(),
            overrides: HashMap::new(),
            views: HashMap::new(),
            planner: None,
        }
    }
}

/// Plans views in the session that reads them, when a query names one. It holds the session
/// weakly (the session holds the schemas that hold it) and the views being planned, so that a
/// view that reads itself fails with a message instead of recursing.
#[derive(Debug, Clone)]
struct ViewPlanner {
    session: std::sync::Weak<parking_lot::RwLock<datafusion::execution::session_state::SessionState>>,
    planning: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl ViewPlanner {
    fn new(ctx: &SessionContext) -> ViewPlanner {
        ViewPlanner { session: ctx.state_weak_ref(), planning: Arc::default() }
    }

    /// `view` planned in its own database, as Athena resolves a view's unqualified names.
    async fn plan(&self, view: &ViewDef) -> Result<Arc<dyn TableProvider>> {
        let name = view.qualified_name();
        let Some(session) = self.session.upgrade() else {
            return Err(DataFusionError::Internal(format!("the session reading view {name} has ended")));
        };
        if !self.planning.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone()) {
            return Err(DataFusionError::Plan(format!("view {name} refers to itself")));
        }
        let planned = async {
            let mut state = session.read().clone();
            state.config_mut().options_mut().catalog.default_schema = view.database.clone();
            let limit = state.config().options().sql_parser.recursion_limit.get();
            let mut statements = athena::parse(&view.sql, limit)?;
            let Some(statement) = statements.pop_front() else {
                return Err(DataFusionError::Plan("the view's SQL is empty".into()));
            };
            let plan = state.statement_to_plan(statement).await?;
            Ok(Arc::new(datafusion::datasource::ViewTable::new(plan, Some(view.sql.clone()))) as Arc<dyn TableProvider>)
        }
        .await;
        self.planning.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
        planned.map_err(|e| {
            DataFusionError::Plan(format!("view {name} cannot be planned: {}", crate::error::one_line(&e.to_string())))
        })
    }
}

impl DatabaseSchema {
    /// `def`'s restored partitions (`<table>__restored`): those of its readable restores, read
    /// from the archived copies.
    async fn restored(&self, def: &Arc<TableDef>) -> Result<Arc<dyn TableProvider>> {
        let restores = crate::catalog::restores::list(&self.warehouse)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let now = chrono::Utc::now();
        let name = def.qualified_name();
        let mut partitions = std::collections::BTreeMap::new();
        for restore in restores.iter().filter(|r| r.request.table == name && r.readable(now)) {
            for archived in &restore.request.partitions {
                let partition = crate::catalog::state::PartitionState {
                    values: archived.values.clone(),
                    location: archived.location.clone(),
                    files: archived.files.clone(),
                    version: 0,
                };
                partitions.insert(archived.partition.clone(), partition);
            }
        }
        let state = crate::catalog::state::TableState {
            format: crate::catalog::state::STATE_FORMAT,
            table: name,
            version: 0,
            commit_id: String::new(),
            committed_at: now,
            operation: "restore".into(),
            partitions,
            properties: Default::default(),
            changed_partitions: Default::default(),
            changed_properties: Default::default(),
        };
        let pin = table::Pin { state: Some(state), only: None };
        Ok(Arc::new(table::RegistryTable::pinned(def.clone(), &self.warehouse, pin)))
    }

    /// Table `name` as of a kept snapshot (time travel).
    async fn as_of(&self, name: &str, as_of: &travel::AsOf) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(def) = self.tables.iter().find(|t| t.name() == name) else {
            if self.views.contains_key(name) {
                return Err(DataFusionError::Plan(format!(
                    "{name} is a view; FOR VERSION/TIMESTAMP AS OF reads a table's snapshots, so name its tables instead"
                )));
            }
            return Ok(None);
        };
        let log = crate::catalog::state::TableLog::of(&self.warehouse, def);
        let state = travel::resolve(&log, &def.qualified_name(), as_of).await?;
        let pin = table::Pin { state: Some(state), only: None };
        Ok(Some(Arc::new(table::RegistryTable::pinned(def.clone(), &self.warehouse, pin))))
    }
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.tables.iter().map(|t| t.name().to_string()).chain(self.views.keys().cloned()).collect();
        names.extend(self.overrides.keys().filter(|name| !names.contains(name)).cloned().collect::<Vec<_>>());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(provider) = self.overrides.get(name) {
            return Ok(Some(provider.clone()));
        }
        if let Some((base, as_of)) = travel::decode(name) {
            return self.as_of(base, &as_of).await;
        }
        if let Some(base) = name.strip_suffix(crate::catalog::restores::RESTORED_SUFFIX)
            && let Some(def) = self.tables.iter().find(|t| t.name() == base)
        {
            return self.restored(def).await.map(Some);
        }
        if let (Some(view), Some(planner)) = (self.views.get(name), &self.planner) {
            return planner.plan(view).await.map(Some);
        }
        Ok(self
            .tables
            .iter()
            .find(|t| t.name() == name)
            .map(|def| Arc::new(table::RegistryTable::new(def.clone(), &self.warehouse)) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        let name = travel::decode(name).map_or(name, |(base, _)| base);
        let name = name.strip_suffix(crate::catalog::restores::RESTORED_SUFFIX).unwrap_or(name);
        self.tables.iter().any(|t| t.name() == name)
            || self.overrides.contains_key(name)
            || self.views.contains_key(name)
    }
}

/// DataFusion's store registry, plus S3 buckets opened on first use.
#[derive(Debug)]
struct StoreRegistry {
    inner: DefaultObjectStoreRegistry,
    s3: S3Connector,
}

impl StoreRegistry {
    fn new(s3: S3Connector) -> StoreRegistry {
        StoreRegistry { inner: DefaultObjectStoreRegistry::new(), s3 }
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        match (url.scheme(), url.host_str()) {
            ("s3" | "s3a", Some(bucket)) => {
                let store = self.s3.bucket(bucket).map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
                self.inner.register_store(url, store.clone());
                tracing::debug!(bucket, "opened S3 bucket for an ad-hoc path");
                Ok(store)
            }
            _ => self.inner.get_store(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_limit_runs_one_partition_and_caps_the_sort_reservation() {
        let unlimited = session_config(&EngineOptions { target_partitions: Some(8), ..EngineOptions::default() });
        assert_eq!(unlimited.target_partitions(), 8);
        let default_reservation = unlimited.options().execution.sort_spill_reservation_bytes;

        let limited = EngineOptions { memory_limit: Some(16 << 20), target_partitions: Some(8), batch_size: None };
        let config = session_config(&limited);
        assert_eq!(config.target_partitions(), 1, "a limit overrides the parallelism");
        assert_eq!(config.options().execution.sort_spill_reservation_bytes, 4 << 20, "a quarter of the limit");

        let roomy = session_config(&EngineOptions { memory_limit: Some(1 << 34), ..EngineOptions::default() });
        assert_eq!(roomy.options().execution.sort_spill_reservation_bytes, default_reservation, "never raised");
    }
}
