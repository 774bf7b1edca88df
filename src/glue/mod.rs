//! Sync with the AWS Glue Data Catalog, so Athena, Glue and Spark see the registry's tables.
//!
//! `push` makes Glue match the registry: it reads what Glue has, computes a [`PushPlan`] of
//! per-object actions (create or update databases and tables, create, update and delete
//! partitions, delete tables only with `--prune`) and applies it in batches within Glue's limits
//! (BatchCreatePartition 100, BatchUpdatePartition 100, BatchDeletePartition 25). UpdateTable is
//! sent only when the definition differs, so Glue's table versions stay meaningful; a second
//! push of an unchanged registry plans nothing. Throttling is retried by the SDK's standard
//! retry policy; per-partition errors Glue reports are collected and fail the push by name.
//! A table in the symlink layout gets each changed partition's manifest written first
//! ([`crate::catalog::symlink`]), then Glue pointed at it. `pull` imports Glue's Parquet tables
//! (and their partitions) that live in the warehouse.
//! [`sync`] has the automatic push that follows a commit when configured.

pub mod convert;
pub mod pull;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use aws_sdk_glue::Client;
use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_glue::types::{
    BatchUpdatePartitionRequestEntry, DatabaseInput, ErrorDetail, PartitionInput, PartitionValueList,
};

use crate::catalog::state::DataFile;
use crate::catalog::table::{Layout, TableDef, TableInput};
use crate::catalog::view::ViewDef;
use crate::catalog::{Catalog, symlink};
use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// Glue's BatchCreatePartition limit.
pub const CREATE_BATCH: usize = 100;
/// Glue's BatchUpdatePartition limit.
pub const UPDATE_BATCH: usize = 100;
/// Glue's BatchDeletePartition limit.
pub const DELETE_BATCH: usize = 25;

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum GlueError {
    /// The warehouse is local: Glue would point Athena at paths only this machine has.
    #[error(
        "cannot push {table}: its data is on the local warehouse {warehouse}; put the warehouse on S3 (s3://bucket/prefix) first"
    )]
    LocalWarehouse {
        /// the table
        table: String,
        /// the warehouse URL
        warehouse: String,
    },
    /// A Glue call failed after the SDK's retries.
    #[error("Glue {operation} on {target} failed: {message}")]
    Api {
        /// the API
        operation: &'static str,
        /// database, table or partition
        target: String,
        /// what Glue said
        message: String,
    },
    /// Glue refused some partitions of a batch; the others were applied.
    #[error(
        "Glue refused {count} partition change(s) of {table}: {first}; re-run `glaux catalog push` after fixing it"
    )]
    Partitions {
        /// the table
        table: String,
        /// how many failed
        count: usize,
        /// the first failure, with its values and Glue's message
        first: String,
    },
    /// Reading the table's state failed.
    #[error(transparent)]
    State(#[from] crate::catalog::state::CommitError),
    /// A directory-layout partition whose files lie outside its location (appended in the
    /// symlink layout): Athena would read only some of them.
    #[error(
        "cannot push {table}: partition {partition} has files outside its location {location} (appended while the table was in the symlink layout), which Athena would not read; keep the table's InputFormat {input} or rewrite the partition"
    )]
    Scattered {
        /// the table
        table: String,
        /// the partition's Hive path
        partition: String,
        /// where Glue would point
        location: String,
        /// the symlink input format
        input: &'static str,
    },
    /// A symlink manifest could not be written; Glue was not changed.
    #[error("cannot write the symlink manifest {path}: {source}")]
    Manifest {
        /// the manifest's warehouse path
        path: String,
        /// the store's error
        source: object_store::Error,
    },
    /// An SDK object could not be built (a required field missing).
    #[error("invalid Glue input for {target}: {message}")]
    Build {
        /// the object
        target: String,
        /// what is missing
        message: String,
    },
}

impl Categorize for GlueError {
    fn category(&self) -> Category {
        match self {
            GlueError::Api { .. } | GlueError::Manifest { .. } => Category::Io,
            // The tables' data cannot be pointed at from AWS: a data problem, as the README's
            // exit codes have it, not a mistake in the call.
            GlueError::LocalWarehouse { .. }
            | GlueError::Partitions { .. }
            | GlueError::Build { .. }
            | GlueError::Scattered { .. } => Category::Data,
            GlueError::State(e) => e.category(),
        }
    }
}

/// A failed call as one short line: Glue's error code and message when Glue answered, the
/// whole cause (a timeout, a reset connection) when it did not.
fn api<E: std::error::Error + ProvideErrorMetadata>(operation: &'static str, target: &str, error: E) -> GlueError {
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => crate::error::one_line(&DisplayErrorContext(&error).to_string()),
    };
    GlueError::Api { operation, target: target.to_string(), message }
}

/// Whether a call failed with Glue's error `code`. A call retried after its answer was lost
/// (a reset connection) meets what its first attempt did: the database or table it created
/// already exists, what it deleted is gone. Push makes Glue match the registry, so those
/// answers mean the work is done (or, for a table, that it is to be updated instead).
fn is_code<E: ProvideErrorMetadata>(error: &E, code: &str) -> bool {
    error.code() == Some(code)
}

/// A Glue client from the standard AWS chain (endpoint from `AWS_ENDPOINT_URL_GLUE` or
/// `AWS_ENDPOINT_URL`), retrying throttling with backoff up to eight attempts.
pub async fn connect() -> Client {
    let config = crate::warehouse::aws_defaults()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(8))
        .load()
        .await;
    Client::new(&config)
}

/// One partition as Glue should have it.
#[derive(Debug, Clone, PartialEq)]
pub struct GluePartition {
    /// Values in key order.
    pub values: Vec<String>,
    /// Absolute location.
    pub location: String,
}

/// One change to Glue.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// CreateDatabase.
    CreateDatabase(String),
    /// CreateTable.
    CreateTable(String, TableInput),
    /// UpdateTable, with the fields that differ.
    UpdateTable(String, TableInput, Vec<&'static str>),
    /// DeleteTable (only with `--prune`).
    DeleteTable(String, String),
    /// BatchCreatePartition.
    CreatePartitions(String, TableInput, Vec<GluePartition>),
    /// BatchUpdatePartition.
    UpdatePartitions(String, TableInput, Vec<GluePartition>),
    /// BatchDeletePartition.
    DeletePartitions(String, String, Vec<Vec<String>>),
}

/// A symlink manifest a push writes before it points Glue at its directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest file, relative to the warehouse.
    pub path: String,
    /// How many data files it lists.
    pub files: usize,
    /// Its text: the files' absolute URLs, one per line.
    pub text: String,
}

/// Everything a push would change.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PushPlan {
    /// Symlink manifests to write before any action, since the actions point Glue at them.
    pub manifests: Vec<Manifest>,
    /// The changes, in the order they are applied.
    pub actions: Vec<Action>,
    /// Tables in Glue's databases that the registry lacks, kept because pruning was not asked for.
    pub kept: Vec<String>,
}

impl PushPlan {
    /// Whether Glue already matches.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

impl fmt::Display for PushPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let partition = |keys: &TableInput, values: &[String]| {
            keys.partition_keys.iter().zip(values).map(|(k, v)| format!("{}={v}", k.name)).collect::<Vec<_>>().join("/")
        };
        for manifest in &self.manifests {
            writeln!(f, "write manifest {} ({} files)", manifest.path, manifest.files)?;
        }
        for action in &self.actions {
            match action {
                Action::CreateDatabase(db) => writeln!(f, "create database {db}")?,
                Action::CreateTable(db, t) => writeln!(f, "create table {db}.{}", t.name)?,
                Action::UpdateTable(db, t, fields) => {
                    writeln!(f, "update table {db}.{} ({})", t.name, fields.join(", "))?
                }
                Action::DeleteTable(db, t) => writeln!(f, "delete table {db}.{t}")?,
                Action::CreatePartitions(db, t, ps) => {
                    for p in ps {
                        writeln!(f, "create partition {db}.{} {} at {}", t.name, partition(t, &p.values), p.location)?;
                    }
                }
                Action::UpdatePartitions(db, t, ps) => {
                    for p in ps {
                        writeln!(f, "update partition {db}.{} {} to {}", t.name, partition(t, &p.values), p.location)?;
                    }
                }
                Action::DeletePartitions(db, t, vs) => {
                    for v in vs {
                        writeln!(f, "delete partition {db}.{t} values {v:?}")?;
                    }
                }
            }
        }
        for table in &self.kept {
            writeln!(f, "keep table {table} (in Glue, not in the registry)")?;
        }
        Ok(())
    }
}

/// A table as Glue should hold it, from its definition and newest snapshot.
struct Desired {
    /// The definition, its location made absolute (in the symlink layout, the manifests' root,
    /// or for an unpartitioned table its manifest's directory).
    input: TableInput,
    /// The partitions (none for an unpartitioned table).
    partitions: Vec<GluePartition>,
    /// In the symlink layout, each partition's manifest directory and files by its values; the
    /// unpartitioned table's under the empty values.
    files: BTreeMap<Vec<String>, (String, Vec<DataFile>)>,
}

impl Desired {
    async fn of(catalog: &Catalog, def: &TableDef) -> Result<Desired, GlueError> {
        let warehouse = &catalog.warehouse;
        let state = catalog.log(def).latest().await?;
        let layout = def.layout();
        let mut desired = Desired { input: def.input.clone(), partitions: Vec::new(), files: BTreeMap::new() };
        let mut table_location = match layout {
            Layout::Directory => def.location.clone(),
            Layout::Symlink => symlink::root(def),
        };
        let partitions = state.map(|s| s.partitions).unwrap_or_default();
        for (key, partition) in partitions {
            let location = match layout {
                Layout::Symlink => symlink::location(def, &key, &partition.files),
                Layout::Directory => {
                    if let Some(outside) = partition.files.iter().find(|f| !f.path.starts_with(&partition.location)) {
                        tracing::debug!(file = %outside.path, "outside its partition's location");
                        return Err(GlueError::Scattered {
                            table: def.qualified_name(),
                            partition: key,
                            location: partition.location,
                            input: crate::catalog::table::SYMLINK_INPUT_FORMAT,
                        });
                    }
                    partition.location
                }
            };
            if def.partition_keys.is_empty() {
                // Glue has no partitions for it: the table's location is the partition's.
                if layout == Layout::Symlink {
                    desired.files.insert(Vec::new(), (location.clone(), partition.files));
                    table_location = location;
                }
                continue;
            }
            if layout == Layout::Symlink {
                desired.files.insert(partition.values.clone(), (location.clone(), partition.files));
            }
            desired
                .partitions
                .push(GluePartition { values: partition.values, location: warehouse.absolute_url(&location) });
        }
        if layout == Layout::Symlink && def.partition_keys.is_empty() && desired.files.is_empty() {
            table_location = symlink::empty_table_location(def);
            desired.files.insert(Vec::new(), (table_location.clone(), Vec::new()));
        }
        desired.input.storage_descriptor.location = Some(warehouse.absolute_url(&table_location));
        Ok(desired)
    }

    /// The manifests of the given partitions (by values), in the symlink layout.
    fn manifests<'a>(&self, warehouse: &Warehouse, values: impl Iterator<Item = &'a Vec<String>>) -> Vec<Manifest> {
        let mut manifests = Vec::new();
        for values in values {
            let Some((location, files)) = self.files.get(values) else { continue };
            manifests.push(Manifest {
                path: symlink::manifest_path(location),
                files: files.len(),
                text: symlink::text(warehouse, files),
            });
        }
        manifests
    }
}

/// Fields of the definition that differ from what Glue holds.
fn differences(desired: &TableInput, current: &TableInput) -> Vec<&'static str> {
    let (d, c) = (&desired.storage_descriptor, &current.storage_descriptor);
    let serde = |sd: &crate::catalog::table::StorageDescriptor| {
        sd.serde_info.as_ref().and_then(|s| s.serialization_library.clone())
    };
    let mut changed = Vec::new();
    if desired.description != current.description {
        changed.push("Description");
    }
    if desired.table_type != current.table_type {
        changed.push("TableType");
    }
    if desired.parameters.iter().any(|(k, v)| current.parameters.get(k) != Some(v)) {
        changed.push("Parameters");
    }
    if d.columns != c.columns {
        changed.push("Columns");
    }
    if d.location.as_deref().map(|l| l.trim_end_matches('/')) != c.location.as_deref().map(|l| l.trim_end_matches('/'))
    {
        changed.push("Location");
    }
    if d.input_format != c.input_format || d.output_format != c.output_format || serde(d) != serde(c) {
        changed.push("Formats");
    }
    if desired.partition_keys != current.partition_keys {
        changed.push("PartitionKeys");
    }
    if desired.view_original_text != current.view_original_text {
        changed.push("ViewOriginalText");
    }
    changed
}

/// Plans the push of `tables` and `views`; with `prune`, tables of their databases that the
/// registry lacks are deleted.
pub async fn plan_push(
    client: &Client,
    catalog: &Catalog,
    tables: &[&TableDef],
    views: &[&ViewDef],
    prune: bool,
) -> Result<PushPlan, GlueError> {
    let mut plan = PushPlan::default();
    let databases: BTreeSet<&str> =
        tables.iter().map(|t| t.database.as_str()).chain(views.iter().map(|v| v.database.as_str())).collect();
    let mut existing_tables: BTreeMap<String, BTreeMap<String, TableInput>> = BTreeMap::new();
    for db in &databases {
        match client.get_database().name(*db).send().await {
            Ok(_) => {
                existing_tables.insert(db.to_string(), list_tables(client, db).await?);
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_entity_not_found_exception()) => {
                plan.actions.push(Action::CreateDatabase(db.to_string()));
                existing_tables.insert(db.to_string(), BTreeMap::new());
            }
            Err(e) => return Err(api("GetDatabase", db, e)),
        }
    }
    for def in tables {
        if catalog.warehouse.is_local() {
            return Err(GlueError::LocalWarehouse {
                table: def.qualified_name(),
                warehouse: catalog.warehouse.url().to_string(),
            });
        }
        let desired = Desired::of(catalog, def).await?;
        let warehouse = &catalog.warehouse;
        // An unpartitioned symlink table's manifest goes with the table's own location.
        let table_manifest = |desired: &Desired| desired.manifests(warehouse, [Vec::new()].iter());
        match existing_tables[&def.database].get(def.name()) {
            None => {
                plan.manifests.extend(table_manifest(&desired));
                plan.actions.push(Action::CreateTable(def.database.clone(), desired.input.clone()));
                if !desired.partitions.is_empty() {
                    let values = desired.partitions.iter().map(|p| &p.values);
                    plan.manifests.extend(desired.manifests(warehouse, values));
                    let (input, partitions) = (desired.input, desired.partitions);
                    plan.actions.push(Action::CreatePartitions(def.database.clone(), input, partitions));
                }
            }
            Some(current) => {
                let changed = differences(&desired.input, current);
                if !changed.is_empty() {
                    plan.manifests.extend(table_manifest(&desired));
                    plan.actions.push(Action::UpdateTable(def.database.clone(), desired.input.clone(), changed));
                }
                plan_partitions(client, &mut plan, def, warehouse, desired).await?;
            }
        }
    }
    // A view is its definition: created, or updated when it differs.
    for view in views {
        match existing_tables[&view.database].get(view.name()) {
            None => plan.actions.push(Action::CreateTable(view.database.clone(), view.input.clone())),
            Some(current) => {
                let changed = differences(&view.input, current);
                if !changed.is_empty() {
                    plan.actions.push(Action::UpdateTable(view.database.clone(), view.input.clone(), changed));
                }
            }
        }
    }
    for (db, existing) in &existing_tables {
        let registered =
            |name: &String| catalog.registry.table(db, name).is_some() || catalog.registry.view(db, name).is_some();
        for name in existing.keys().filter(|name| !registered(name)) {
            match prune {
                true => plan.actions.push(Action::DeleteTable(db.clone(), name.clone())),
                false => plan.kept.push(format!("{db}.{name}")),
            }
        }
    }
    Ok(plan)
}

async fn plan_partitions(
    client: &Client,
    plan: &mut PushPlan,
    def: &TableDef,
    warehouse: &Warehouse,
    desired: Desired,
) -> Result<(), GlueError> {
    let current = list_partitions(client, &def.database, def.name()).await?;
    let PartitionDiff { create, update, delete } = diff_partitions(&current, &desired.partitions);
    let db = def.database.clone();
    let moved = create.iter().chain(&update).map(|p| &p.values);
    plan.manifests.extend(desired.manifests(warehouse, moved));
    if !create.is_empty() {
        plan.actions.push(Action::CreatePartitions(db.clone(), desired.input.clone(), create));
    }
    if !update.is_empty() {
        plan.actions.push(Action::UpdatePartitions(db.clone(), desired.input.clone(), update));
    }
    if !delete.is_empty() {
        plan.actions.push(Action::DeletePartitions(db, def.name().to_string(), delete));
    }
    Ok(())
}

/// What makes Glue's partitions of a table the wanted ones.
#[derive(Debug, Default, PartialEq)]
struct PartitionDiff {
    /// Wanted, not in Glue.
    create: Vec<GluePartition>,
    /// In Glue at another location.
    update: Vec<GluePartition>,
    /// In Glue, not wanted (their values).
    delete: Vec<Vec<String>>,
}

/// Compares Glue's partitions (values to location) with the wanted ones. Locations are compared
/// without a trailing slash, which Glue and the registry write differently.
fn diff_partitions(current: &BTreeMap<Vec<String>, String>, wanted: &[GluePartition]) -> PartitionDiff {
    let mut diff = PartitionDiff::default();
    for partition in wanted {
        match current.get(&partition.values) {
            None => diff.create.push(partition.clone()),
            Some(location) if location.trim_end_matches('/') != partition.location.trim_end_matches('/') => {
                diff.update.push(partition.clone())
            }
            Some(_) => {}
        }
    }
    let wanted_values: BTreeSet<&Vec<String>> = wanted.iter().map(|p| &p.values).collect();
    diff.delete = current.keys().filter(|v| !wanted_values.contains(v)).cloned().collect();
    diff
}

/// Every table of a Glue database, as registry inputs.
pub async fn list_tables(client: &Client, database: &str) -> Result<BTreeMap<String, TableInput>, GlueError> {
    let mut tables = BTreeMap::new();
    let mut pages = client.get_tables().database_name(database).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| api("GetTables", database, e))?;
        for table in page.table_list() {
            tables.insert(table.name().to_string(), convert::from_glue_table(table));
        }
    }
    Ok(tables)
}

/// Every partition of a Glue table: values → location.
pub async fn list_partitions(
    client: &Client,
    database: &str,
    table: &str,
) -> Result<BTreeMap<Vec<String>, String>, GlueError> {
    let mut partitions = BTreeMap::new();
    let target = format!("{database}.{table}");
    let mut pages = client.get_partitions().database_name(database).table_name(table).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| api("GetPartitions", &target, e))?;
        for p in page.partitions() {
            let location = p.storage_descriptor().and_then(|sd| sd.location()).unwrap_or_default();
            partitions.insert(p.values().to_vec(), location.to_string());
        }
    }
    Ok(partitions)
}

/// What a push changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// Symlink manifests written.
    pub manifests: usize,
    /// Databases created.
    pub databases_created: usize,
    /// Tables created, updated, deleted.
    pub tables: [usize; 3],
    /// Partitions created, updated, deleted.
    pub partitions: [usize; 3],
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [tc, tu, td] = self.tables;
        let [pc, pu, pd] = self.partitions;
        write!(
            f,
            "{} database(s) created; tables: {tc} created, {tu} updated, {td} deleted; partitions: {pc} created, {pu} updated, {pd} deleted",
            self.databases_created
        )?;
        match self.manifests {
            0 => Ok(()),
            n => write!(f, "; {n} symlink manifest(s) written"),
        }
    }
}

/// Applies a plan: writes its manifests to `warehouse`, then changes Glue. Partition batches
/// that Glue partly refuses are finished, then reported.
pub async fn apply(client: &Client, warehouse: &Warehouse, plan: &PushPlan) -> Result<PushReport, GlueError> {
    let mut report = PushReport::default();
    for manifest in &plan.manifests {
        let path = warehouse.path(&manifest.path);
        let payload = object_store::PutPayload::from(manifest.text.clone().into_bytes());
        let written = object_store::ObjectStoreExt::put(warehouse.store().as_ref(), &path, payload).await;
        written.map_err(|source| GlueError::Manifest { path: manifest.path.clone(), source })?;
        report.manifests += 1;
    }
    let mut refused: Vec<(String, String)> = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateDatabase(db) => {
                let input = DatabaseInput::builder().name(db).build().map_err(|e| build(db, e))?;
                match client.create_database().database_input(input).send().await {
                    Err(e) if is_code(&e, "AlreadyExistsException") => {}
                    sent => {
                        sent.map_err(|e| api("CreateDatabase", db, e))?;
                    }
                }
                report.databases_created += 1;
            }
            Action::CreateTable(db, input) | Action::UpdateTable(db, input, _) => {
                let created = matches!(action, Action::CreateTable(..));
                put_table(client, db, input, created).await?;
                report.tables[usize::from(!created)] += 1;
            }
            Action::DeleteTable(db, name) => {
                let target = format!("{db}.{name}");
                match client.delete_table().database_name(db).name(name).send().await {
                    Err(e) if is_code(&e, "EntityNotFoundException") => {}
                    sent => {
                        sent.map_err(|e| api("DeleteTable", &target, e))?;
                    }
                }
                report.tables[2] += 1;
            }
            Action::CreatePartitions(db, input, partitions) => {
                report.partitions[0] += create_partitions(client, db, input, partitions, &mut refused).await?;
            }
            Action::UpdatePartitions(db, input, partitions) => {
                report.partitions[1] += update_partitions(client, db, input, partitions, &mut refused).await?;
            }
            Action::DeletePartitions(db, table, values) => {
                report.partitions[2] += delete_partitions(client, db, table, values, &mut refused).await?;
            }
        }
    }
    if let Some((table, first)) = refused.first() {
        return Err(GlueError::Partitions { table: table.clone(), count: refused.len(), first: first.clone() });
    }
    Ok(report)
}

/// CreateTable (`created`) or UpdateTable.
async fn put_table(client: &Client, db: &str, input: &TableInput, created: bool) -> Result<(), GlueError> {
    let target = format!("{db}.{}", input.name);
    let table = convert::to_glue_table(input).map_err(|e| build(&target, e))?;
    match created {
        true => match client.create_table().database_name(db).table_input(table.clone()).send().await {
            Err(e) if is_code(&e, "AlreadyExistsException") => {
                let sent = client.update_table().database_name(db).table_input(table).send().await;
                sent.map(|_| ()).map_err(|e| api("UpdateTable", &target, e))
            }
            sent => sent.map(|_| ()).map_err(|e| api("CreateTable", &target, e)),
        },
        false => {
            let sent = client.update_table().database_name(db).table_input(table).send().await;
            sent.map(|_| ()).map_err(|e| api("UpdateTable", &target, e))
        }
    }
}

/// A batch's partitions Glue refused: their values and Glue's reason.
type Refused = Vec<(Vec<String>, Option<ErrorDetail>)>;

/// Sends `items` in batches of `size` with `send`; returns how many partitions Glue took, and
/// adds `(target, why)` for each it refused to `refused` (Glue applies the rest of a batch).
async fn in_batches<T: Clone, Fut>(
    items: &[T],
    size: usize,
    target: &str,
    refused: &mut Vec<(String, String)>,
    send: impl Fn(Vec<T>) -> Fut,
) -> Result<usize, GlueError>
where
    Fut: std::future::Future<Output = Result<Refused, GlueError>>,
{
    let mut taken = 0;
    for batch in items.chunks(size) {
        let errors = send(batch.to_vec()).await?;
        taken += batch.len() - errors.len();
        refused.extend(errors.iter().map(|(values, detail)| refusal(target, values, detail.as_ref())));
    }
    Ok(taken)
}

/// BatchCreatePartition in batches of [`CREATE_BATCH`].
async fn create_partitions(
    client: &Client,
    db: &str,
    input: &TableInput,
    partitions: &[GluePartition],
    refused: &mut Vec<(String, String)>,
) -> Result<usize, GlueError> {
    let target = format!("{db}.{}", input.name);
    let target = &target;
    // Partitions that exist already (a batch retried after its answer was lost, or another
    // push) are updated instead.
    let existing = std::sync::Mutex::new(Vec::new());
    let existing_ref = &existing;
    let taken = in_batches(partitions, CREATE_BATCH, target, refused, |batch| async move {
        let inputs = batch.iter().map(|p| partition_input(input, p)).collect::<Result<Vec<_>, _>>()?;
        let request = client.batch_create_partition().database_name(db).table_name(&input.name);
        let out = request.set_partition_input_list(Some(inputs)).send().await;
        let out = out.map_err(|e| api("BatchCreatePartition", target, e))?;
        let mut errors = Vec::new();
        for error in out.errors() {
            let values = error.partition_values().to_vec();
            match error.error_detail().and_then(|d| d.error_code()) == Some("AlreadyExistsException") {
                true => {
                    let partition = batch.iter().find(|p| p.values == values).cloned();
                    existing_ref.lock().unwrap_or_else(|e| e.into_inner()).extend(partition);
                }
                false => errors.push((values, error.error_detail().cloned())),
            }
        }
        Ok(errors)
    })
    .await?;
    let existing = existing.into_inner().unwrap_or_else(|e| e.into_inner());
    if !existing.is_empty() {
        update_partitions(client, db, input, &existing, refused).await?;
    }
    Ok(taken)
}

/// BatchUpdatePartition in batches of [`UPDATE_BATCH`].
async fn update_partitions(
    client: &Client,
    db: &str,
    input: &TableInput,
    partitions: &[GluePartition],
    refused: &mut Vec<(String, String)>,
) -> Result<usize, GlueError> {
    let target = format!("{db}.{}", input.name);
    let target = &target;
    in_batches(partitions, UPDATE_BATCH, target, refused, |batch| async move {
        let entry = |p: &GluePartition| {
            BatchUpdatePartitionRequestEntry::builder()
                .set_partition_value_list(Some(p.values.clone()))
                .partition_input(partition_input(input, p)?)
                .build()
                .map_err(|e| build(target, e))
        };
        let entries = batch.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        let request = client.batch_update_partition().database_name(db).table_name(&input.name);
        let out = request.set_entries(Some(entries)).send().await;
        let out = out.map_err(|e| api("BatchUpdatePartition", target, e))?;
        Ok(out.errors().iter().map(|e| (e.partition_value_list().to_vec(), e.error_detail().cloned())).collect())
    })
    .await
}

/// BatchDeletePartition in batches of [`DELETE_BATCH`].
async fn delete_partitions(
    client: &Client,
    db: &str,
    table: &str,
    values: &[Vec<String>],
    refused: &mut Vec<(String, String)>,
) -> Result<usize, GlueError> {
    let target = format!("{db}.{table}");
    let target = &target;
    in_batches(values, DELETE_BATCH, target, refused, |batch| async move {
        let list = |v: &Vec<String>| PartitionValueList::builder().set_values(Some(v.clone())).build();
        let lists = batch.iter().map(list).collect::<Result<Vec<_>, _>>().map_err(|e| build(target, e))?;
        let request = client.batch_delete_partition().database_name(db).table_name(table);
        let out = request.set_partitions_to_delete(Some(lists)).send().await;
        let out = out.map_err(|e| api("BatchDeletePartition", target, e))?;
        // A partition already gone (a retried batch's first attempt deleted it) is deleted.
        let gone = |e: &&aws_sdk_glue::types::PartitionError| {
            e.error_detail().and_then(|d| d.error_code()) == Some("EntityNotFoundException")
        };
        Ok(out
            .errors()
            .iter()
            .filter(|e| !gone(e))
            .map(|e| (e.partition_values().to_vec(), e.error_detail().cloned()))
            .collect())
    })
    .await
}

/// `(table, "[values]: Code message")` for a partition Glue refused.
fn refusal(table: &str, values: &[String], detail: Option<&ErrorDetail>) -> (String, String) {
    let code = detail.and_then(|d| d.error_code()).unwrap_or("error");
    let message = detail.and_then(|d| d.error_message()).unwrap_or_default();
    (table.to_string(), format!("{values:?}: {code} {message}"))
}

fn build(target: &str, error: aws_sdk_glue::error::BuildError) -> GlueError {
    GlueError::Build { target: target.to_string(), message: error.to_string() }
}

/// A partition's input: the table's storage descriptor at the partition's location.
fn partition_input(table: &TableInput, partition: &GluePartition) -> Result<PartitionInput, GlueError> {
    let mut sd = table.storage_descriptor.clone();
    sd.location = Some(partition.location.clone());
    let storage = convert::to_glue_storage(&sd).map_err(|e| build(&table.name, e))?;
    Ok(PartitionInput::builder().set_values(Some(partition.values.clone())).storage_descriptor(storage).build())
}

/// Pushes a table after a commit when automatic sync is on. A failure never touches the local
/// commit: it is logged and the table is marked pending, and every later automatic push retries
/// the pending tables first.
pub mod sync {
    use async_trait::async_trait;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;
    use crate::catalog::CommitHook;

    const PENDING: &str = "glue/pending";

    /// The commit hook that pushes each committed table to Glue (`[glue] auto_push`); a
    /// failure is a warning, since the local commit stands either way.
    pub struct AutoPush {
        catalog: Catalog,
    }

    impl AutoPush {
        /// Pushes tables of `catalog`.
        pub fn new(catalog: &Catalog) -> AutoPush {
            AutoPush { catalog: catalog.clone() }
        }
    }

    #[async_trait]
    impl CommitHook for AutoPush {
        async fn committed(&self, def: &TableDef) {
            if let Some(failure) = after_commit(&self.catalog, def).await {
                eprintln!("glaux: warning: the commit stands, but the Glue push failed and will be retried: {failure}");
            }
        }
    }

    /// Pushes `def` (and any table still pending from an earlier failure); returns what failed.
    pub async fn after_commit(catalog: &Catalog, def: &TableDef) -> Option<String> {
        let mut targets: Vec<&TableDef> = pending(catalog).await;
        if !targets.iter().any(|t| t.qualified_name() == def.qualified_name()) {
            targets.push(def);
        }
        let client = connect().await;
        let mut failure = None;
        for table in targets {
            let marker = catalog.warehouse.state_path(&format!("{PENDING}/{}", table.qualified_name()));
            let result = match plan_push(&client, catalog, &[table], &[], false).await {
                Ok(plan) => apply(&client, &catalog.warehouse, &plan).await.map(|_| ()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    let _ = catalog.warehouse.store().delete(&marker).await;
                }
                Err(e) => {
                    tracing::warn!(table = %table.qualified_name(), error = %e, "Glue push failed; it will be retried");
                    let _ = catalog.warehouse.store().put(&marker, PutPayload::from(e.to_string())).await;
                    failure.get_or_insert(format!("{}: {e}", table.qualified_name()));
                }
            }
        }
        failure
    }

    /// Tables whose last automatic push failed.
    async fn pending(catalog: &Catalog) -> Vec<&TableDef> {
        use futures::TryStreamExt;
        let prefix = catalog.warehouse.state_path(PENDING);
        let markers: Vec<_> = catalog.warehouse.store().list(Some(&prefix)).try_collect().await.unwrap_or_default();
        markers
            .iter()
            .filter_map(|m| {
                let name = m.location.filename()?;
                let (db, table) = name.split_once('.')?;
                catalog.registry.table(db, table).map(|t| t.as_ref())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(day: &str, location: &str) -> GluePartition {
        GluePartition { values: vec![day.to_string()], location: location.to_string() }
    }

    #[test]
    fn partitions_are_created_moved_and_deleted_by_values() {
        let current: BTreeMap<Vec<String>, String> = [
            (vec!["2026-11-01".to_string()], "s3://b/t/d=2026-11-01/c1/".to_string()),
            (vec!["2026-11-02".to_string()], "s3://b/t/d=2026-11-02/c1".to_string()),
            (vec!["2026-10-31".to_string()], "s3://b/t/d=2026-10-31/c0/".to_string()),
        ]
        .into();
        let wanted = [
            // Same place, written without the trailing slash: unchanged.
            partition("2026-11-01", "s3://b/t/d=2026-11-01/c1"),
            // A newer commit's prefix: moved.
            partition("2026-11-02", "s3://b/t/d=2026-11-02/c2/"),
            partition("2026-11-03", "s3://b/t/d=2026-11-03/c2/"),
        ];
        let diff = diff_partitions(&current, &wanted);
        assert_eq!(diff.create, vec![wanted[2].clone()]);
        assert_eq!(diff.update, vec![wanted[1].clone()]);
        assert_eq!(diff.delete, vec![vec!["2026-10-31".to_string()]]);
        assert_eq!(diff_partitions(&current, &[]).delete.len(), 3);
        assert_eq!(diff_partitions(&BTreeMap::new(), &wanted).create.len(), 3);
    }
}
