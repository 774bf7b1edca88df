//! The statements that describe the registry, answered as Athena answers them from Glue:
//! `SHOW DATABASES`, `SHOW TABLES [IN db] [LIKE 'pattern']`, `SHOW PARTITIONS db.t`, `SHOW CREATE
//! TABLE db.t` (Athena DDL) and `DESCRIBE db.t`.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ShowStatementFilter, ShowStatementFilterPosition, ShowStatementOptions,
};

use super::{external, table_name};
use crate::catalog::Catalog;
use crate::catalog::names::SYSTEM_DATABASE;
use crate::catalog::state::escape_partition_value;
use crate::catalog::table::{
    Layout, PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, SYMLINK_INPUT_FORMAT, SYMLINK_OUTPUT_FORMAT,
    TableDef,
};
use crate::engine::DEFAULT_DATABASE;

/// One text column named `name` holding `values`.
fn listing(name: &str, values: Vec<String>) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, false)]));
    Ok(RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values))])?)
}

/// `SHOW DATABASES`: the registry's databases and `system`.
pub(super) fn databases(catalog: &Catalog) -> Result<RecordBatch> {
    let mut names = catalog.registry.databases();
    names.push(SYSTEM_DATABASE.to_string());
    names.sort();
    listing("database_name", names)
}

/// `SHOW TABLES [IN db] [LIKE 'pattern']` (`*` and `|` as in Athena, `%` and `_` as in SQL).
pub(super) fn tables(catalog: &Catalog, options: &ShowStatementOptions) -> Result<RecordBatch> {
    let database = match options.show_in.as_ref().and_then(|i| i.parent_name.as_ref()) {
        Some(name) => name.to_string().to_ascii_lowercase(),
        None => DEFAULT_DATABASE.to_string(),
    };
    if database != SYSTEM_DATABASE && !catalog.registry.databases().contains(&database) {
        return plan_err!("database {database} does not exist; SHOW DATABASES lists them");
    }
    let pattern = match &options.filter_position {
        Some(ShowStatementFilterPosition::Suffix(ShowStatementFilter::Like(p)))
        | Some(ShowStatementFilterPosition::Infix(ShowStatementFilter::Like(p))) => Some(like_regex(p)?),
        None => None,
        Some(other) => return plan_err!("SHOW TABLES takes LIKE 'pattern', not `{other:?}`"),
    };
    let mut names: Vec<String> = if database == SYSTEM_DATABASE {
        vec!["ingest_rejects".into(), "job_runs".into()]
    } else {
        let tables = catalog.registry.tables_in(&database).into_iter().map(|t| t.name().to_string());
        let mut names: Vec<String> =
            tables.chain(catalog.registry.views_in(&database).into_iter().map(|v| v.name().to_string())).collect();
        names.sort();
        names
    };
    if let Some(pattern) = pattern {
        names.retain(|n| pattern.is_match(n));
    }
    listing("tab_name", names)
}

/// Athena's table pattern: `*` any text, `|` alternatives; SQL's `%` and `_` also work.
fn like_regex(pattern: &str) -> Result<regex::Regex> {
    let alternatives: Vec<String> = pattern
        .split('|')
        .map(|alt| {
            alt.chars()
                .map(|c| match c {
                    '*' | '%' => ".*".to_string(),
                    '_' => ".".to_string(),
                    other => regex::escape(&other.to_string()),
                })
                .collect()
        })
        .collect();
    regex::Regex::new(&format!("(?i)^(?:{})$", alternatives.join("|"))).map_err(external)
}

/// The table a statement names, which must be in the registry.
fn registered(catalog: &Catalog, name: &[Ident]) -> Result<Arc<TableDef>> {
    let name = ObjectName::from(name.to_vec());
    let (database, table) = table_name(&name)?;
    match catalog.registry.table(&database, &table) {
        Some(def) => Ok(def.clone()),
        None => plan_err!("table {database}.{table} does not exist; SHOW TABLES IN {database} lists them"),
    }
}

fn idents(name: &ObjectName) -> Vec<Ident> {
    name.0.iter().filter_map(|part| part.as_ident().cloned()).collect()
}

/// `SHOW PARTITIONS db.t`: `key=value/…` of every partition of the newest snapshot, sorted.
pub(super) async fn partitions(catalog: &Catalog, name: &[Ident]) -> Result<RecordBatch> {
    let def = registered(catalog, name)?;
    if def.partition_keys.is_empty() {
        return plan_err!("table {} is not partitioned", def.qualified_name());
    }
    let state = catalog.log(&def).latest().await.map_err(external)?;
    let mut lines: Vec<String> = state
        .iter()
        .flat_map(|s| s.partitions.values())
        .map(|p| {
            def.partition_keys
                .iter()
                .zip(&p.values)
                .map(|((key, _), value)| format!("{key}={}", escape_partition_value(value)))
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    lines.sort();
    listing("partition", lines)
}

/// `SHOW CREATE VIEW db.v`: the statement that creates the view.
pub(super) fn create_view(catalog: &Catalog, name: &ObjectName) -> Result<RecordBatch> {
    let (database, view) = table_name(name)?;
    let Some(def) = catalog.registry.view(&database, &view) else {
        return plan_err!("view {database}.{view} does not exist");
    };
    let statement = format!("CREATE VIEW {}.{} AS\n{}", def.database, def.name(), def.sql);
    listing("create view", statement.lines().map(str::to_string).collect())
}

/// `SHOW CREATE TABLE db.t`: the Athena DDL that creates the table as registered.
pub(super) fn create_table(catalog: &Catalog, name: &ObjectName) -> Result<RecordBatch> {
    let def = registered(catalog, &idents(name))?;
    // As Glue holds it: a symlink table's location is its manifests' root.
    let location = match def.layout() {
        Layout::Directory => def.location.clone(),
        Layout::Symlink => crate::catalog::symlink::root(&def),
    };
    listing(
        "createtab_stmt",
        ddl(&def, &catalog.warehouse.absolute_url(&location)).lines().map(str::to_string).collect(),
    )
}

/// Athena's DDL for `def`, with its data at `location`.
fn ddl(def: &TableDef, location: &str) -> String {
    let column = |c: &crate::catalog::table::Column| match &c.comment {
        Some(comment) => format!("  `{}` {} COMMENT '{}'", c.name, c.data_type, comment.replace('\'', "''")),
        None => format!("  `{}` {}", c.name, c.data_type),
    };
    let input = &def.input;
    let columns: Vec<String> = input.storage_descriptor.columns.iter().map(column).collect();
    let mut text = format!("CREATE EXTERNAL TABLE `{}`.`{}`(\n{})\n", def.database, def.name(), columns.join(",\n"));
    if let Some(comment) = &input.description {
        text.push_str(&format!("COMMENT '{}'\n", comment.replace('\'', "''")));
    }
    if !input.partition_keys.is_empty() {
        let keys: Vec<String> = input.partition_keys.iter().map(column).collect();
        text.push_str(&format!("PARTITIONED BY (\n{})\n", keys.join(",\n")));
    }
    let (input_format, output_format) = match def.layout() {
        Layout::Directory => (PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT),
        Layout::Symlink => (SYMLINK_INPUT_FORMAT, SYMLINK_OUTPUT_FORMAT),
    };
    text.push_str(&format!(
        "ROW FORMAT SERDE\n  '{PARQUET_SERDE}'\nSTORED AS INPUTFORMAT\n  '{input_format}'\nOUTPUTFORMAT\n  '{output_format}'\n"
    ));
    text.push_str(&format!("LOCATION\n  '{location}'\n"));
    let properties: Vec<String> = input.parameters.iter().map(|(k, v)| format!("  '{k}'='{v}'")).collect();
    if !properties.is_empty() {
        text.push_str(&format!("TBLPROPERTIES (\n{})", properties.join(",\n")));
    }
    text
}

/// `DESCRIBE db.t`: column, Glue type and comment, the partition keys after a header, as Athena
/// prints them.
pub(super) fn describe(catalog: &Catalog, name: &ObjectName) -> Result<RecordBatch> {
    let (database, table) = table_name(name)?;
    let input = match (catalog.registry.table(&database, &table), catalog.registry.view(&database, &table)) {
        (Some(def), _) => def.input.clone(),
        (None, Some(view)) => view.input.clone(),
        (None, None) => {
            return plan_err!("table {database}.{table} does not exist; SHOW TABLES IN {database} lists them");
        }
    };
    let input = &input;
    let mut rows: Vec<(String, String, String)> = input
        .storage_descriptor
        .columns
        .iter()
        .chain(&input.partition_keys)
        .map(|c| (c.name.clone(), c.data_type.clone(), c.comment.clone().unwrap_or_default()))
        .collect();
    if !input.partition_keys.is_empty() {
        rows.push((String::new(), String::new(), String::new()));
        rows.push(("# Partition Information".into(), String::new(), String::new()));
        rows.push(("# col_name".into(), "data_type".into(), "comment".into()));
        rows.extend(
            input
                .partition_keys
                .iter()
                .map(|c| (c.name.clone(), c.data_type.clone(), c.comment.clone().unwrap_or_default())),
        );
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("col_name", DataType::Utf8, false),
        Field::new("data_type", DataType::Utf8, false),
        Field::new("comment", DataType::Utf8, false),
    ]));
    let column = |pick: fn(&(String, String, String)) -> &String| {
        Arc::new(StringArray::from(rows.iter().map(|r| pick(r).clone()).collect::<Vec<_>>())) as arrow::array::ArrayRef
    };
    Ok(RecordBatch::try_new(schema, vec![column(|r| &r.0), column(|r| &r.1), column(|r| &r.2)])?)
}
