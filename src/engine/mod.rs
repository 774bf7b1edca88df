//! The SQL engine: a DataFusion session whose catalog is the registry.
//!
//! Every registry database is a schema of the default catalog `awsdatacatalog` (Athena's name
//! for it), so `SELECT … FROM customer_data.customer_base_raw` works as it does in Athena, and
//! `awsdatacatalog.customer_data.customer_base_raw` too. Ad-hoc paths work as in datafusion-cli
//! (`SELECT * FROM 'data/x.parquet'`, `'s3://bucket/key.parquet'`): S3 buckets other than the
//! warehouse's are opened on first use with the same endpoint settings and credential chain.

pub mod exec;
pub mod row_number;
pub mod system;
pub mod table;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use url::Url;

use crate::catalog::Registry;
use crate::catalog::table::TableDef;
use crate::config::WarehouseSettings;
use crate::warehouse::Warehouse;
use crate::warehouse::s3::S3Connector;

/// The default catalog's name, as in Athena.
pub const DEFAULT_CATALOG: &str = "awsdatacatalog";
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

/// Builds the session for a registry over a warehouse.
pub fn session(
    registry: &Registry,
    warehouse: &Warehouse,
    settings: &WarehouseSettings,
    options: &EngineOptions,
) -> Result<SessionContext> {
    session_with(registry, warehouse, settings, options, HashMap::new())
}

/// Tables that a session shows in place of the registry's, by `database.table`.
pub type Overrides = HashMap<String, Arc<dyn TableProvider>>;

/// Builds the session, with some registry tables replaced (a job pins its inputs).
pub fn session_with(
    registry: &Registry,
    warehouse: &Warehouse,
    settings: &WarehouseSettings,
    options: &EngineOptions,
    overrides: Overrides,
) -> Result<SessionContext> {
    let stores = Arc::new(StoreRegistry::new(S3Connector::new(settings)));
    let warehouse_url = Url::parse(&warehouse.store_url()).map_err(|e| DataFusionError::External(Box::new(e)))?;
    stores.register_store(&warehouse_url, warehouse.store().clone());
    let mut runtime = RuntimeEnvBuilder::new().with_object_store_registry(stores);
    if let Some(limit) = options.memory_limit {
        // The top consumers are named when the pool runs out.
        let top = std::num::NonZeroUsize::new(5).expect("non-zero");
        let pool = TrackConsumersPool::new(GreedyMemoryPool::new(limit), top);
        runtime = runtime.with_memory_pool(Arc::new(pool));
    }
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
    if options.memory_limit.is_some() {
        // One partition under a limit: no hash repartitioning, whose spill path in DataFusion
        // 55.2 can stop forever when two input tasks spill at once (apache/datafusion#24883,
        // fixed after 55.2), and the one sort gets the whole budget instead of a share.
        config = config.with_target_partitions(1);
    }
    if let Some(limit) = options.memory_limit {
        // Each sorting partition reserves this much up front for merging its spills (10 MB by
        // default); keep the reservations to a quarter of the limit so small limits still work.
        let partitions = config.target_partitions().max(1);
        let execution = &mut config.options_mut().execution;
        execution.sort_spill_reservation_bytes = execution.sort_spill_reservation_bytes.min(limit / (4 * partitions));
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime.build_arc()?)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(row_number::SortedRowNumber))
        .build();
    let ctx = SessionContext::new_with_state(state).enable_url_table();
    let catalog =
        ctx.catalog(DEFAULT_CATALOG).ok_or_else(|| DataFusionError::Internal("default catalog missing".into()))?;
    for database in registry.databases() {
        let mut schema = DatabaseSchema::new(registry.tables_in(&database), warehouse);
        if database == crate::aurora::DATABASE && registry.table(&database, crate::aurora::REJECTS_TABLE).is_none() {
            let tables = registry.tables_in(&database).into_iter().cloned().collect();
            let view = system::RejectsTable::new(tables, warehouse);
            schema.overrides.insert(crate::aurora::REJECTS_TABLE.to_string(), Arc::new(view));
        }
        for (name, provider) in &overrides {
            if let Some(table) = name.strip_prefix(&format!("{database}.")) {
                schema.overrides.insert(table.to_string(), provider.clone());
            }
        }
        catalog.register_schema(&database, Arc::new(schema))?;
    }
    let system = system::SystemSchema::new(registry.tables().cloned().collect(), warehouse);
    catalog.register_schema(system::SYSTEM_DATABASE, Arc::new(system))?;
    Ok(ctx)
}

/// One registry database as a DataFusion schema.
#[derive(Debug)]
struct DatabaseSchema {
    tables: Vec<Arc<TableDef>>,
    warehouse: Warehouse,
    overrides: HashMap<String, Arc<dyn TableProvider>>,
}

impl DatabaseSchema {
    fn new(tables: Vec<&Arc<TableDef>>, warehouse: &Warehouse) -> DatabaseSchema {
        DatabaseSchema {
            tables: tables.into_iter().cloned().collect(),
            warehouse: warehouse.clone(),
            overrides: HashMap::new(),
        }
    }
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tables.iter().map(|t| t.name().to_string()).collect();
        names.extend(self.overrides.keys().filter(|name| !names.contains(name)).cloned().collect::<Vec<_>>());
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(provider) = self.overrides.get(name) {
            return Ok(Some(provider.clone()));
        }
        Ok(self
            .tables
            .iter()
            .find(|t| t.name() == name)
            .map(|def| Arc::new(table::RegistryTable::new(def.clone(), &self.warehouse)) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.iter().any(|t| t.name() == name) || self.overrides.contains_key(name)
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
