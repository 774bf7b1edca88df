//! `glaux catalog pull`: import Glue's Parquet tables that live in the warehouse, and Athena's
//! views (kept in Athena's form, so they plan here and push back unchanged).
//!
//! Each table becomes a definition file (location made relative to the warehouse) and a
//! commit naming its partitions and files, with row counts read from the Parquet footers, so
//! the table queries like any other. A table in the symlink layout (`SymlinkTextInputFormat`
//! with the Parquet SerDe, as glaux pushes its Aurora log tables and Delta Lake shows its tables)
//! gets each partition's files from the manifest at the partition's location. Tables that are
//! not Parquet, or whose data lies outside the warehouse, are reported and skipped; nothing
//! outside the warehouse is ever referenced.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use aws_sdk_glue::Client;

use super::{GlueError, list_partitions, list_tables};
use crate::catalog::files::parquet_row_count;
use crate::catalog::names::{NameKind, validate_name};
use crate::catalog::state::{Change, DataFile, NewPartition, Transaction};
use crate::catalog::symlink;
use crate::catalog::table::{PARQUET_INPUT_FORMAT, PARQUET_SERDE, SYMLINK_INPUT_FORMAT, TableDef, TableInput};
use crate::catalog::view::{ViewDef, is_view};
use crate::catalog::{Catalog, write_definition};
use crate::warehouse::relative_location;

/// What a pull did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PullReport {
    /// `database.table (N partitions)` for each imported table.
    pub imported: Vec<String>,
    /// `(object, reason)` for each table or partition left out.
    pub skipped: Vec<(String, String)>,
}

/// Imports every table of `databases` (all of Glue's when empty).
pub async fn pull(client: &Client, catalog: &Catalog, databases: &[String]) -> Result<PullReport, GlueError> {
    let databases = match databases.is_empty() {
        false => databases.to_vec(),
        true => all_databases(client).await?,
    };
    let mut report = PullReport::default();
    for db in &databases {
        // The name becomes a directory under catalog/: it must be one Athena accepts.
        if let Err(e) = validate_name(db, NameKind::Database) {
            report.skipped.push((db.clone(), e.to_string()));
            continue;
        }
        for (name, input) in list_tables(client, db).await? {
            let qualified = format!("{db}.{name}");
            if is_view(&input) {
                match import_view(catalog, db, input) {
                    Ok(()) => report.imported.push(format!("{qualified} (view)")),
                    Err(reason) => report.skipped.push((qualified, reason)),
                }
                continue;
            }
            match import_table(client, catalog, db, input, &mut report).await {
                Ok(partitions) => report.imported.push(format!("{qualified} ({partitions} partitions)")),
                Err(reason) => report.skipped.push((qualified, reason)),
            }
        }
    }
    Ok(report)
}

async fn all_databases(client: &Client) -> Result<Vec<String>, GlueError> {
    let mut names = Vec::new();
    let mut pages = client.get_databases().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| super::api("GetDatabases", "the catalog", e))?;
        names.extend(page.database_list().iter().map(|d| d.name().to_string()));
    }
    Ok(names)
}

fn is_parquet(input: &TableInput) -> bool {
    let sd = &input.storage_descriptor;
    let serde = sd.serde_info.as_ref().and_then(|s| s.serialization_library.as_deref());
    match sd.input_format.as_deref() {
        // A manifest of files the SerDe reads: Parquet only with Parquet's SerDe.
        Some(SYMLINK_INPUT_FORMAT) => serde == Some(PARQUET_SERDE),
        input_format => {
            input_format == Some(PARQUET_INPUT_FORMAT)
                || serde == Some(PARQUET_SERDE)
                || input.parameters.get("classification").is_some_and(|c| c.eq_ignore_ascii_case("parquet"))
        }
    }
}

/// Imports one of Athena's views as it is; `Err` is the reason it was skipped.
fn import_view(catalog: &Catalog, db: &str, input: TableInput) -> Result<(), String> {
    validate_name(&input.name, NameKind::Table).map_err(|e| e.to_string())?;
    let view = ViewDef::from_input(db, input)?;
    write_definition(catalog.registry.dir(), db, &view.input).map(|_| ()).map_err(|e| e.to_string())
}

/// Imports one table; `Err` is the reason it was skipped.
async fn import_table(
    client: &Client,
    catalog: &Catalog,
    db: &str,
    mut input: TableInput,
    report: &mut PullReport,
) -> Result<usize, String> {
    if !is_parquet(&input) {
        let format = input.storage_descriptor.input_format.clone().unwrap_or_else(|| "no input format".into());
        return Err(format!("not a Parquet table ({format})"));
    }
    let location = input.storage_descriptor.location.clone().ok_or("it has no location")?;
    let relative = relative_location(catalog.warehouse.url(), &location).map_err(|e| e.to_string())?;
    let symlinked = input.storage_descriptor.input_format.as_deref() == Some(SYMLINK_INPUT_FORMAT);
    // A symlink table's Glue location is its manifests' root (or its one manifest's directory):
    // the registry keeps the data's location, under which the manifests live.
    input.storage_descriptor.location = Some(match symlinked {
        true => symlink::data_location(&relative).to_string(),
        false => relative.clone(),
    });
    let def = TableDef::from_input(db, input.clone(), catalog.warehouse.url())
        .map_err(|problems| format!("its definition is not usable: {}", problems[0]))?;
    let read = |values: Vec<String>, at: String| async move {
        match symlinked {
            true => read_manifest(catalog, values, &at).await,
            false => scan_partition(catalog, values, &at).await,
        }
    };

    let mut changes = Vec::new();
    if def.partition_keys.is_empty() {
        changes.push(Change::Replace(read(Vec::new(), relative).await?));
    } else {
        let partitions = list_partitions(client, db, def.name()).await.map_err(|e| e.to_string())?;
        for (values, location) in partitions {
            let object = format!("{}.{} partition {values:?}", db, def.name());
            match relative_location(catalog.warehouse.url(), &location) {
                Ok(relative) => changes.push(Change::Replace(read(values, relative).await?)),
                Err(e) => report.skipped.push((object, e.to_string())),
            }
        }
    }
    let log = catalog.log(&def);
    let base = log.latest().await.map_err(|e| e.to_string())?;
    let mut txn = Transaction::on(base.as_ref(), "catalog pull", chrono::Utc::now());
    txn.replace_all = true;
    let count = changes.len();
    txn.changes = changes;
    write_definition(catalog.registry.dir(), db, &input).map_err(|e| e.to_string())?;
    log.commit(&txn).await.map_err(|e| e.to_string())?;
    Ok(count)
}

/// A partition made of the Parquet files found at `location` (hidden and `_` files skipped).
async fn scan_partition(catalog: &Catalog, values: Vec<String>, location: &str) -> Result<NewPartition, String> {
    let warehouse = &catalog.warehouse;
    let prefix = warehouse.path(location);
    let objects: Vec<_> = warehouse.store().list(Some(&prefix)).try_collect().await.map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for object in objects {
        let Some(name) = object.location.filename() else { continue };
        let below = object.location.as_ref().strip_prefix(prefix.as_ref()).unwrap_or(name).trim_start_matches('/');
        // Hidden and `_` files and directories (`_SUCCESS`, `_symlink_format_manifest/`) are not data.
        if below.split('/').any(|part| part.starts_with('_') || part.starts_with('.')) {
            continue;
        }
        let relative = format!("{location}{below}");
        let rows = parquet_row_count(warehouse, &relative, object.size).await.map_err(|e| e.to_string())?;
        files.push(DataFile { path: relative, size: object.size, rows });
    }
    Ok(NewPartition { values, location: location.to_string(), files })
}

/// A partition made of the files the symlink manifest at `location` lists; the partition's
/// directory is that of its newest (last listed) file.
async fn read_manifest(catalog: &Catalog, values: Vec<String>, location: &str) -> Result<NewPartition, String> {
    let warehouse = &catalog.warehouse;
    let manifest = symlink::manifest_path(&format!("{}/", location.trim_end_matches('/')));
    let path = warehouse.path(&manifest);
    let got = warehouse.store().get(&path).await.map_err(|e| format!("reading the manifest {manifest}: {e}"))?;
    let bytes = got.bytes().await.map_err(|e| format!("reading the manifest {manifest}: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("the manifest {manifest} is not UTF-8 text"))?;
    let mut files = Vec::new();
    for relative in symlink::parse(warehouse, &manifest, text)? {
        let head = warehouse.store().head(&warehouse.path(&relative)).await;
        let meta = head.map_err(|e| format!("{manifest} lists {relative}, which cannot be read: {e}"))?;
        let rows = parquet_row_count(warehouse, &relative, meta.size).await.map_err(|e| e.to_string())?;
        files.push(DataFile { path: relative, size: meta.size, rows });
    }
    let location = match files.last() {
        Some(last) => last.path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default(),
        None => location.to_string(),
    };
    Ok(NewPartition { values, location, files })
}
