//! The statements that change the registry or a table's data: `CREATE DATABASE`, `CREATE
//! TABLE [AS SELECT]`, `INSERT INTO`, `DROP TABLE`.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use datafusion::common::Column as FieldColumn;
use datafusion::common::plan_err;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, cast, lit};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CreateTable, CreateTableOptions, CreateView, Expr as SqlExpr, HiveDistributionStyle, Insert, ObjectName, Query,
    SqlOption, Statement as Sql, TableObject, Value,
};
use futures::future::try_join_all;

use super::{Done, external, table_name};
use crate::catalog::state::{Change, Transaction, new_commit_id};
use crate::catalog::table::{Column, TableDef, parquet_table_input};
use crate::catalog::types::GlueType;
use crate::catalog::view::ViewDef;
use crate::catalog::write::{TableWriter, combine};
use crate::catalog::{Catalog, CommitHook, create_database as make_database, remove_definition, write_definition};
use crate::warehouse::relative_location;

/// `CREATE DATABASE db`: an empty directory in `catalog/`.
pub(super) fn create_database(catalog: &Catalog, name: &str, if_not_exists: bool) -> Result<Done> {
    if catalog.registry.databases().iter().any(|d| d == name) {
        if if_not_exists {
            return Ok(Done::nothing());
        }
        return plan_err!("database {name} already exists");
    }
    make_database(catalog.registry.dir(), name).map_err(external)?;
    Ok(Done::registry_changed())
}

/// Athena's table properties, from `WITH (…)` or the Hive clauses.
#[derive(Debug, Default)]
struct Properties {
    partitioned_by: Vec<String>,
    location: Option<String>,
}

impl Properties {
    fn read(create: &CreateTable) -> Result<Properties> {
        let mut properties = Properties { location: create.location.clone(), ..Properties::default() };
        if let HiveDistributionStyle::PARTITIONED { columns } = &create.hive_distribution {
            properties.partitioned_by = columns.iter().map(|c| c.name.value.to_ascii_lowercase()).collect();
        }
        let options = match &create.table_options {
            CreateTableOptions::With(options) | CreateTableOptions::TableProperties(options) => options.as_slice(),
            CreateTableOptions::None => &[],
            other => return plan_err!("table options `{other}` are not Athena's; use WITH (format = 'PARQUET', …)"),
        };
        for option in options {
            let SqlOption::KeyValue { key, value } = option else {
                return plan_err!("`{option}` is not a table property; write WITH (name = value, …)");
            };
            match key.value.to_ascii_lowercase().as_str() {
                "format" => {
                    let format = text(value)?;
                    if !format.eq_ignore_ascii_case("parquet") {
                        return plan_err!("glaux writes tables as Parquet; format = '{format}' is not supported");
                    }
                }
                "write_compression" | "parquet_compression" => {
                    let codec = text(value)?;
                    if !codec.eq_ignore_ascii_case("zstd") {
                        return plan_err!("glaux writes Parquet with ZSTD; {key} = '{codec}' is not supported");
                    }
                }
                "partitioned_by" => {
                    properties.partitioned_by = texts(value)?.iter().map(|c| c.to_ascii_lowercase()).collect()
                }
                "external_location" | "location" => properties.location = Some(text(value)?),
                "table_type" if text(value)?.eq_ignore_ascii_case("hive") => {}
                other => {
                    return plan_err!(
                        "the table property `{other}` is not supported; glaux takes format, partitioned_by, external_location and write_compression"
                    );
                }
            }
        }
        Ok(properties)
    }
}

/// A property's text value (`'PARQUET'`, or a bare word).
pub(super) fn text(value: &SqlExpr) -> Result<String> {
    match value {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
            other => plan_err!("expected a quoted string, got {other}"),
        },
        SqlExpr::Identifier(ident) => Ok(ident.value.clone()),
        other => plan_err!("expected a quoted string, got {other}"),
    }
}

/// A property's list of texts (`ARRAY['a', 'b']`).
pub(super) fn texts(value: &SqlExpr) -> Result<Vec<String>> {
    match value {
        SqlExpr::Array(array) => array.elem.iter().map(text).collect(),
        other => plan_err!("expected ARRAY['column', …], got {other}"),
    }
}

/// `CREATE TABLE db.t [WITH (…)] AS SELECT …` or `CREATE TABLE db.t (columns) [WITH (…)]`.
pub(super) async fn create_table(
    ctx: &SessionContext,
    catalog: &Catalog,
    hook: &dyn CommitHook,
    create: &CreateTable,
) -> Result<Done> {
    let (database, table) = table_name(&create.name)?;
    if !catalog.registry.databases().contains(&database) {
        return plan_err!("database {database} does not exist; run CREATE DATABASE {database} first");
    }
    if catalog.registry.view(&database, &table).is_some() {
        return plan_err!("{database}.{table} is a view; a table needs another name");
    }
    if catalog.registry.table(&database, &table).is_some() {
        if create.if_not_exists {
            return Ok(Done::nothing());
        }
        return plan_err!("table {database}.{table} already exists; DROP TABLE it first or pick another name");
    }
    if create.or_replace {
        return plan_err!("CREATE OR REPLACE TABLE is not Athena's; DROP TABLE, then CREATE TABLE");
    }
    let properties = Properties::read(create)?;
    let location = match &properties.location {
        Some(location) => relative_location(catalog.warehouse.url(), location).map_err(external)?,
        None => format!("{database}/{table}/"),
    };
    match &create.query {
        Some(query) => create_table_as(ctx, catalog, hook, (&database, &table), &properties, &location, query).await,
        None => {
            let columns: Vec<Column> = create
                .columns
                .iter()
                .map(|c| glue_column(&c.name.value, &c.data_type.to_string().to_ascii_lowercase()))
                .collect::<Result<_>>()?;
            let (columns, keys) = split_keys(columns, &properties.partitioned_by, &create.hive_distribution)?;
            let input = parquet_table_input(&table, columns, keys, &location);
            TableDef::from_input(&database, input.clone(), catalog.warehouse.url()).map_err(definition_error)?;
            write_definition(catalog.registry.dir(), &database, &input).map_err(external)?;
            Ok(Done::registry_changed())
        }
    }
}

/// A column with its Glue type, checked.
fn glue_column(name: &str, data_type: &str) -> Result<Column> {
    let glue = GlueType::parse(data_type).map_err(external)?;
    Ok(Column::new(name.to_ascii_lowercase(), glue.to_string()))
}

/// Splits the partition keys out of `columns`: those `partitioned_by` names (which must be
/// among them), or the Hive `PARTITIONED BY (name type)` columns, which are not.
fn split_keys(
    columns: Vec<Column>,
    partitioned_by: &[String],
    hive: &HiveDistributionStyle,
) -> Result<(Vec<Column>, Vec<Column>)> {
    if let HiveDistributionStyle::PARTITIONED { columns: keys } = hive {
        let keys = keys
            .iter()
            .map(|c| glue_column(&c.name.value, &c.data_type.to_string().to_ascii_lowercase()))
            .collect::<Result<_>>()?;
        return Ok((columns, keys));
    }
    for key in partitioned_by {
        if !columns.iter().any(|c| &c.name == key) {
            return plan_err!("partitioned_by names `{key}`, which is not a column");
        }
    }
    let (keys, rest): (Vec<Column>, Vec<Column>) = columns.into_iter().partition(|c| partitioned_by.contains(&c.name));
    let mut ordered = Vec::new();
    for key in partitioned_by {
        ordered.extend(keys.iter().find(|c| &c.name == key).cloned());
    }
    Ok((rest, ordered))
}

fn definition_error(problems: Vec<crate::catalog::table::DefinitionProblem>) -> DataFusionError {
    let text: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.field, p.problem)).collect();
    DataFusionError::Plan(format!("the table definition is not valid: {}", text.join("; ")))
}

/// CTAS: the query's rows into a new table, committed, then the definition written.
async fn create_table_as(
    ctx: &SessionContext,
    catalog: &Catalog,
    hook: &dyn CommitHook,
    (database, table): (&str, &str),
    properties: &Properties,
    location: &str,
    query: &Query,
) -> Result<Done> {
    let frame = plan_query(ctx, query).await?;
    let fields = frame.schema().fields().clone();
    let names: Vec<String> = fields.iter().map(|f| f.name().to_ascii_lowercase()).collect();
    let keys = &properties.partitioned_by;
    // Athena's rule: the partition columns come last in the SELECT, in partitioned_by's order.
    if names.len() < keys.len() || names[names.len() - keys.len()..] != keys[..] {
        return plan_err!(
            "partitioned_by ({}) must name the last columns of the SELECT, in order; the SELECT ends with ({})",
            keys.join(", "),
            names[names.len().saturating_sub(keys.len().max(1))..].join(", ")
        );
    }
    let mut seen = BTreeSet::new();
    let mut columns = Vec::new();
    for (field, name) in fields.iter().zip(&names) {
        if !seen.insert(name.clone()) {
            return plan_err!("the SELECT has two columns named `{name}`; give one another name with AS");
        }
        let glue = GlueType::from_arrow_field(field).map_err(external)?;
        columns.push(Column::new(name.clone(), glue.to_string()));
    }
    let key_columns = columns.split_off(columns.len() - keys.len());
    let input = parquet_table_input(table, columns, key_columns, location);
    let def =
        Arc::new(TableDef::from_input(database, input.clone(), catalog.warehouse.url()).map_err(definition_error)?);
    // Output columns named as the table's (the SELECT's may differ in case).
    let renamed: Vec<Expr> = output_columns(&frame).into_iter().zip(&names).map(|(c, n)| c.alias(n)).collect();
    let frame = frame.select(renamed)?;
    let rows = write(catalog, &def, frame, "CREATE TABLE AS SELECT", true).await?;
    write_definition(catalog.registry.dir(), database, &input).map_err(external)?;
    hook.committed(&def).await;
    Done::rows(rows, true)
}

/// The query's output columns, each as an expression (qualified, so names never need quoting).
fn output_columns(frame: &DataFrame) -> Vec<Expr> {
    frame.schema().iter().map(|(qualifier, field)| Expr::Column(FieldColumn::from((qualifier, field)))).collect()
}

/// Plans a query of a statement (the SELECT of a CTAS, the source of an INSERT).
async fn plan_query(ctx: &SessionContext, query: &Query) -> Result<DataFrame> {
    let statement = datafusion::sql::parser::Statement::Statement(Box::new(Sql::Query(Box::new(query.clone()))));
    let plan = ctx.state().statement_to_plan(statement).await?;
    ctx.execute_logical_plan(plan).await
}

/// Writes `frame`'s rows into `def` and publishes them in one commit: replacing every partition
/// (`replace`), or adding to the partitions they fall in. Returns the rows written.
async fn write(
    catalog: &Catalog,
    def: &Arc<TableDef>,
    frame: DataFrame,
    operation: &str,
    replace: bool,
) -> Result<u64> {
    let log = catalog.log(def);
    let base = log.head().await.map_err(external)?;
    let mut txn = Transaction::on(base.as_ref(), operation, Utc::now());
    txn.commit_id = new_commit_id();
    txn.replace_all = replace;
    let streams = frame.execute_stream_partitioned().await?;
    let writers = streams.into_iter().enumerate().map(|(index, mut stream)| {
        let mut writer = TableWriter::new(catalog, def.clone(), &txn.commit_id, "", BTreeSet::new(), index);
        async move {
            use futures::StreamExt;
            while let Some(batch) = stream.next().await {
                writer.write(&batch?).await.map_err(|e| DataFusionError::Execution(e.line()))?;
            }
            writer.finish().await.map_err(|e| DataFusionError::Execution(e.line()))?;
            Ok::<_, DataFusionError>(writer.finished)
        }
    });
    let partitions = combine(try_join_all(writers).await?.into_iter().flatten());
    let rows = partitions.iter().flat_map(|p| &p.files).map(|f| f.rows).sum();
    if replace {
        txn.changes.extend(partitions.into_iter().map(Change::Replace));
    } else {
        log.append_partitions(&mut txn, base.as_ref(), partitions).await.map_err(external)?;
    }
    log.commit(&txn).await.map_err(external)?;
    Ok(rows)
}

/// `CREATE [OR REPLACE] VIEW db.v [(columns)] AS SELECT …`, stored as Athena stores views in
/// Glue, after its query plans in the view's database.
pub(super) async fn create_view(ctx: &SessionContext, catalog: &Catalog, view: &CreateView) -> Result<Done> {
    if view.materialized {
        return plan_err!("materialized views are not Athena's; CREATE TABLE … AS SELECT keeps a result");
    }
    let (database, name) = table_name(&view.name)?;
    if !catalog.registry.databases().contains(&database) {
        return plan_err!("database {database} does not exist; run CREATE DATABASE {database} first");
    }
    if catalog.registry.table(&database, &name).is_some() {
        return plan_err!("{database}.{name} is a table; a view needs another name");
    }
    if catalog.registry.view(&database, &name).is_some() && !view.or_replace {
        if view.if_not_exists {
            return Ok(Done::nothing());
        }
        return plan_err!("view {database}.{name} already exists; CREATE OR REPLACE VIEW changes it");
    }
    let mut query = (*view.query).clone();
    crate::engine::athena::rewrite_query(&mut query);
    let mut state = ctx.state();
    state.config_mut().options_mut().catalog.default_schema = database.clone();
    let statement = datafusion::sql::parser::Statement::Statement(Box::new(Sql::Query(Box::new(query))));
    let plan = state.statement_to_plan(statement).await?;
    let fields = plan.schema().fields().clone();
    if !view.columns.is_empty() && view.columns.len() != fields.len() {
        return plan_err!("the view names {} columns but its query gives {}", view.columns.len(), fields.len());
    }
    let mut seen = BTreeSet::new();
    let mut columns = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let name = view
            .columns
            .get(i)
            .map_or_else(|| field.name().to_ascii_lowercase(), |c| c.name.value.to_ascii_lowercase());
        if !seen.insert(name.clone()) {
            return plan_err!("the view has two columns named `{name}`; give one another name with AS");
        }
        columns.push((name, GlueType::from_arrow_field(field).map_err(external)?));
    }
    let sql = match view.columns.is_empty() {
        true => view.query.to_string(),
        // Column names given after the view's name become the query's own.
        false => {
            let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            format!("SELECT * FROM ({}) AS v({})", view.query, names.join(", "))
        }
    };
    let def = ViewDef::new(&database, &name, &sql, &columns);
    write_definition(catalog.registry.dir(), &database, &def.input).map_err(external)?;
    Ok(Done::registry_changed())
}

/// `INSERT INTO db.t [(columns)] SELECT … | VALUES …`: the rows, matched to the table's columns
/// by position (or to the listed columns, the rest NULL), added in one commit.
pub(super) async fn insert(
    ctx: &SessionContext,
    catalog: &Catalog,
    hook: &dyn CommitHook,
    insert: &Insert,
) -> Result<Done> {
    let TableObject::TableName(name) = &insert.table else {
        return plan_err!("INSERT INTO takes a table name");
    };
    if insert.overwrite {
        return plan_err!("INSERT OVERWRITE is not Athena's; use INSERT INTO, or DROP TABLE and CREATE TABLE AS");
    }
    let (database, table) = table_name(name)?;
    let Some(def) = catalog.registry.table(&database, &table).cloned() else {
        return plan_err!("table {database}.{table} does not exist; SHOW TABLES IN {database} lists them");
    };
    let Some(source) = &insert.source else {
        return plan_err!("INSERT INTO {database}.{table} needs SELECT … or VALUES …");
    };
    let frame = plan_query(ctx, source).await?;
    let table_columns: Vec<(String, arrow::datatypes::DataType)> =
        def.table_schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let listed: Vec<String> = insert.columns.iter().map(|c| c.to_string().to_ascii_lowercase()).collect();
    let targets: Vec<String> =
        if listed.is_empty() { table_columns.iter().map(|(n, _)| n.clone()).collect() } else { listed };
    let given = output_columns(&frame);
    if given.len() != targets.len() {
        return plan_err!(
            "INSERT INTO {database}.{table} has {} columns to fill but the query gives {}",
            targets.len(),
            given.len()
        );
    }
    let mut exprs = Vec::new();
    for (name, data_type) in &table_columns {
        let expr = match targets.iter().position(|t| t == name) {
            Some(i) => cast(given[i].clone(), data_type.clone()),
            None => cast(lit(datafusion::common::ScalarValue::Null), data_type.clone()),
        };
        exprs.push(expr.alias(name));
    }
    if let Some(unknown) = targets.iter().find(|t| !table_columns.iter().any(|(n, _)| n == *t)) {
        return plan_err!("{database}.{table} has no column `{unknown}`");
    }
    let frame = frame.select(exprs)?;
    let rows = write(catalog, &def, frame, "INSERT INTO", false).await?;
    hook.committed(&def).await;
    Done::rows(rows, false)
}

/// What a `DROP` statement removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    Table,
    View,
}

/// `DROP TABLE|VIEW [IF EXISTS] db.x`: the definition goes. A table's data stays in the
/// warehouse, as Athena leaves S3 alone.
pub(super) fn drop(catalog: &Catalog, names: &[ObjectName], if_exists: bool, kind: Dropped) -> Result<Done> {
    let (noun, other) = match kind {
        Dropped::Table => ("table", "VIEW"),
        Dropped::View => ("view", "TABLE"),
    };
    let mut dropped = false;
    for name in names {
        let (database, object) = table_name(name)?;
        let (is_table, is_view) =
            (catalog.registry.table(&database, &object).is_some(), catalog.registry.view(&database, &object).is_some());
        let (found, other_kind) = match kind {
            Dropped::Table => (is_table, is_view),
            Dropped::View => (is_view, is_table),
        };
        if !found {
            if other_kind {
                return plan_err!("{database}.{object} is not a {noun}; use DROP {other}");
            }
            if if_exists {
                continue;
            }
            return plan_err!("{noun} {database}.{object} does not exist");
        }
        remove_definition(catalog.registry.dir(), &database, &object).map_err(external)?;
        dropped = true;
    }
    Ok(if dropped { Done::registry_changed() } else { Done::nothing() })
}
