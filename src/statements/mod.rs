//! Athena's statements over the registry and the commit log: `CREATE DATABASE`, `CREATE TABLE
//! … AS SELECT` and `CREATE TABLE (columns)` with Athena's `WITH (format, partitioned_by,
//! external_location)`, `INSERT INTO … SELECT | VALUES`, `DROP TABLE`, `CREATE [OR REPLACE] VIEW`
//! and `DROP VIEW` (views stored as Athena stores them in Glue), and `SHOW DATABASES`,
//! `SHOW TABLES [IN db]`, `SHOW PARTITIONS`, `SHOW CREATE TABLE`, `DESCRIBE` answered from the
//! registry as Athena answers them from Glue; and `UNLOAD (SELECT …) TO '…'`.
//!
//! Writes are atomic as jobs are: the rows go to Parquet files under a fresh commit prefix, one
//! commit publishes them, and only then does a new table's definition appear in `catalog/` (a
//! CTAS killed half-way leaves no table). Every session statement goes through
//! [`Statements::run`] first; what it does not own, DataFusion plans.

mod ddl;
mod show;
mod unload;

use std::sync::{Arc, Mutex};

use arrow::array::{RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    DescribeAlias, ObjectName, ObjectNamePart, ObjectType, ShowCreateObject, Statement as Sql,
};

use crate::catalog::names::{NameKind, RESERVED_DATABASES, SYSTEM_DATABASE, validate_name};
use crate::catalog::{Catalog, CommitHook, Registry};
use crate::engine::exec::StatementHandler;
use crate::engine::{DEFAULT_CATALOG, DEFAULT_DATABASE, Engine};

/// The statements glaux runs itself, over one project's registry.
pub struct Statements {
    engine: Engine,
    /// The registry as of the last statement that changed it.
    catalog: Mutex<Arc<Catalog>>,
    hook: Arc<dyn CommitHook>,
}

impl Statements {
    /// Statements over `engine`'s catalog; `hook` follows every commit (the Glue auto-push).
    pub fn new(engine: Engine, hook: Arc<dyn CommitHook>) -> Statements {
        let catalog = Mutex::new(Arc::new(engine.catalog().clone()));
        Statements { engine, catalog, hook }
    }

    /// The registry as of the last change (shared, not copied: every statement asks for it).
    fn catalog(&self) -> Arc<Catalog> {
        self.catalog.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Reloads the registry from `catalog/` and shows the change in `ctx`.
    fn reload(&self, ctx: &SessionContext) -> Result<()> {
        let mut catalog = Catalog::clone(&self.catalog());
        catalog.registry = Registry::load(catalog.registry.dir(), catalog.warehouse.url()).map_err(external)?;
        self.engine.show_registry(ctx, &catalog)?;
        *self.catalog.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(catalog);
        Ok(())
    }
}

#[async_trait]
impl StatementHandler for Statements {
    async fn run(&self, ctx: &SessionContext, statement: &Statement) -> Result<Option<RecordBatch>> {
        if let Statement::CreateExternalTable(create) = statement {
            return Err(DataFusionError::Plan(format!(
                "CREATE EXTERNAL TABLE {}: glaux keeps tables in its registry (catalog/), not in the session; \
                 query Parquet files in place with SELECT * FROM 'path/', bring a Glue table with `glaux catalog pull`, \
                 or create one with CREATE TABLE … WITH (partitioned_by = …) AS SELECT",
                create.name
            )));
        }
        let Statement::Statement(sql) = statement else { return Ok(None) };
        if let Some(advice) = unsupported(sql) {
            return Err(DataFusionError::Plan(advice));
        }
        let catalog = self.catalog();
        let done = match sql.as_ref() {
            Sql::CreateDatabase { db_name, if_not_exists, .. } => {
                ddl::create_database(&catalog, &database_name(db_name)?, *if_not_exists)?
            }
            Sql::CreateSchema { schema_name, if_not_exists, .. } => {
                ddl::create_database(&catalog, &schema_name.to_string(), *if_not_exists)?
            }
            Sql::CreateTable(create) => ddl::create_table(ctx, &catalog, self.hook.as_ref(), create).await?,
            Sql::Insert(insert) => ddl::insert(ctx, &catalog, self.hook.as_ref(), insert).await?,
            Sql::Drop { object_type: ObjectType::Table, if_exists, names, .. } => {
                ddl::drop(&catalog, names, *if_exists, ddl::Dropped::Table)?
            }
            Sql::CreateView(view) => ddl::create_view(ctx, &catalog, view).await?,
            Sql::Drop { object_type: ObjectType::View, if_exists, names, .. } => {
                ddl::drop(&catalog, names, *if_exists, ddl::Dropped::View)?
            }
            Sql::ShowCreate { obj_type: ShowCreateObject::View, obj_name } => {
                return Ok(Some(show::create_view(&catalog, obj_name)?));
            }
            Sql::Unload { query, to, with, .. } => unload::unload(ctx, query.as_deref(), to, with).await?,
            Sql::ShowDatabases { .. } | Sql::ShowSchemas { .. } => return Ok(Some(show::databases(&catalog)?)),
            Sql::ShowTables { show_options, .. } => return Ok(Some(show::tables(&catalog, show_options)?)),
            Sql::ShowCreate { obj_type: ShowCreateObject::Table, obj_name } => {
                return Ok(Some(show::create_table(&catalog, obj_name)?));
            }
            Sql::ShowVariable { variable }
                if variable.first().is_some_and(|v| v.value.eq_ignore_ascii_case("partitions")) =>
            {
                return Ok(Some(show::partitions(&catalog, &variable[1..]).await?));
            }
            Sql::ExplainTable { describe_alias: DescribeAlias::Describe | DescribeAlias::Desc, table_name, .. } => {
                return Ok(Some(show::describe(&catalog, table_name)?));
            }
            _ => return Ok(None),
        };
        if done.changed_registry {
            self.reload(ctx)?;
        }
        Ok(Some(done.result))
    }
}

/// Athena statements glaux does not run, with what to do instead.
fn unsupported(sql: &Sql) -> Option<String> {
    Some(match sql {
        Sql::Msck(msck) => format!(
            "MSCK REPAIR TABLE {}: not needed in glaux; every load and job commits its partitions to the table's log, \
             and `glaux catalog pull` imports the partitions Glue knows",
            msck.table_name
        ),
        Sql::AlterTable(alter) => format!(
            "ALTER TABLE {}: glaux changes a table's partitions only through commits (INSERT INTO, loads, jobs) \
             and its columns through its definition in catalog/; edit the definition, or DROP TABLE and CREATE TABLE … AS SELECT",
            alter.name
        ),
        Sql::Delete(_) | Sql::Update { .. } | Sql::Merge { .. } => {
            "DELETE, UPDATE and MERGE need Iceberg tables in Athena, which glaux does not have; \
             rewrite the table with CREATE TABLE … AS SELECT of the rows to keep"
                .to_string()
        }
        _ => return None,
    })
}

/// What a statement did: its result, and whether `catalog/` changed.
pub(crate) struct Done {
    result: RecordBatch,
    changed_registry: bool,
}

impl Done {
    /// A statement that printed nothing and changed the registry.
    fn registry_changed() -> Done {
        Done { result: RecordBatch::new_empty(Arc::new(Schema::empty())), changed_registry: true }
    }

    /// Nothing to do (`IF NOT EXISTS` over an existing table, `IF EXISTS` over a missing one).
    fn nothing() -> Done {
        Done { result: RecordBatch::new_empty(Arc::new(Schema::empty())), changed_registry: false }
    }

    /// Rows written, as DataFusion reports an INSERT: one `count` column.
    fn rows(count: u64, changed_registry: bool) -> Result<Done> {
        let schema = Arc::new(Schema::new(vec![Field::new("count", DataType::UInt64, false)]));
        let result = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![count]))])?;
        Ok(Done { result, changed_registry })
    }
}

/// A table's `(database, table)` from a one-, two- or three-part name (`awsdatacatalog.db.t`),
/// checked as every name in glaux is.
pub(crate) fn table_name(name: &ObjectName) -> Result<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(ident.value.to_ascii_lowercase()),
            other => Err(DataFusionError::Plan(format!("`{other}` is not a table name"))),
        })
        .collect::<Result<_>>()?;
    let (database, table) = match parts.as_slice() {
        [table] => (DEFAULT_DATABASE.to_string(), table.clone()),
        [database, table] => (database.clone(), table.clone()),
        [catalog, database, table] if catalog == DEFAULT_CATALOG => (database.clone(), table.clone()),
        [catalog, ..] if parts.len() == 3 => {
            return Err(DataFusionError::Plan(format!(
                "the catalog `{catalog}` is not known; glaux has `{DEFAULT_CATALOG}`"
            )));
        }
        _ => return Err(DataFusionError::Plan(format!("`{name}` is not a table name; write database.table"))),
    };
    validate_name(&database, NameKind::Database).map_err(external)?;
    validate_name(&table, NameKind::Table).map_err(external)?;
    Ok((database, table))
}

/// A database name to create, refusing the reserved ones.
fn database_name(name: &ObjectName) -> Result<String> {
    let text = name.to_string().to_ascii_lowercase();
    validate_name(&text, NameKind::Database).map_err(external)?;
    if text == SYSTEM_DATABASE || RESERVED_DATABASES.iter().any(|(reserved, _)| *reserved == text) {
        return Err(DataFusionError::Plan(format!("the database name `{text}` is reserved")));
    }
    Ok(text)
}

pub(crate) fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
