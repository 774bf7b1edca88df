//! The registry: table definitions in git, table state in the warehouse.
//!
//! Definitions live in the project as `catalog/<database>/<table>.json`, one Glue `TableInput`
//! per file ([`table`]), versioned like infrastructure code. What changes with every write —
//! which partitions exist and where their files are — lives in the warehouse as a commit log per
//! table ([`state`]) whose snapshots keep their partitions in manifests ([`manifest`]), whose
//! commits list the data files ([`files`]) and the rejected input rows
//! ([`rejects`]), the partitions archived out of it ([`archives`]) and the restores that make
//! archived ranges readable again ([`restores`]). Tables in the symlink layout show Athena their
//! partitions through text manifests ([`symlink`]). Type strings are Glue's ([`types`]); names
//! are checked once ([`names`]).
//! [`Catalog`] is the registry opened over its warehouse, what the layers above are handed;
//! [`CommitHook`] is how they are told a commit was published.

pub mod archives;
pub mod files;
pub mod manifest;
pub mod names;
pub mod rejects;
pub mod restores;
pub mod state;
pub mod symlink;
pub mod table;
pub mod types;
pub mod view;
pub mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;

use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;
use names::{NameKind, RESERVED_DATABASES, parse_qualified, validate_name};
use state::{CommitError, TableLog};
use table::{DefinitionProblem, TableDef, TableInput};

/// Why the registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A directory or file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// the file or directory
        path: PathBuf,
        /// the I/O failure
        source: std::io::Error,
    },
    /// A file is not valid JSON or not a Glue TableInput.
    #[error("{path}:{line}:{column}: {}", crate::error::shorten_quoted(message))]
    Json {
        /// the file
        path: PathBuf,
        /// 1-based line
        line: usize,
        /// 1-based column
        column: usize,
        /// what the parser said
        message: String,
    },
    /// A definition parsed but is inconsistent.
    #[error("{path}: {first}{more}", first = problems[0], more = more_problems(problems.len()))]
    Definition {
        /// the file
        path: PathBuf,
        /// every problem found, at least one
        problems: Vec<DefinitionProblem>,
    },
    /// A file is where no definition can be.
    #[error("{path}: {reason}")]
    Layout {
        /// the file or directory
        path: PathBuf,
        /// what is wrong and what to do
        reason: String,
    },
}

impl Categorize for CatalogError {
    fn category(&self) -> Category {
        Category::Usage
    }
}

fn more_problems(count: usize) -> String {
    match count {
        1 => String::new(),
        n => format!(" (and {} more; run `glaux catalog validate`)", n - 1),
    }
}

/// Every table definition of a project.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    tables: BTreeMap<(String, String), Arc<TableDef>>,
    views: BTreeMap<(String, String), Arc<view::ViewDef>>,
    /// Every database directory, also those without tables yet (`CREATE DATABASE`).
    databases: std::collections::BTreeSet<String>,
    dir: PathBuf,
}

impl Registry {
    /// Loads and validates every definition under `dir`, failing on the first bad file.
    /// A missing directory is an empty registry.
    pub fn load(dir: &Path, warehouse_url: &url::Url) -> Result<Registry, CatalogError> {
        let (registry, mut errors) = Self::load_all(dir, warehouse_url);
        match errors.is_empty() {
            true => Ok(registry),
            false => Err(errors.remove(0)),
        }
    }

    /// Loads every good definition and reports every bad one.
    pub fn load_all(dir: &Path, warehouse_url: &url::Url) -> (Registry, Vec<CatalogError>) {
        let mut registry = Registry {
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            databases: Default::default(),
            dir: dir.to_path_buf(),
        };
        let mut errors = Vec::new();
        let files = match definition_files(dir) {
            Ok(files) => files,
            Err(e) => return (registry, vec![e]),
        };
        registry.databases =
            sorted_entries(dir).unwrap_or_default().iter().filter(|p| p.is_dir()).map(|p| file_name(p)).collect();
        for (database, path) in files {
            match load_definition(&database, &path, warehouse_url) {
                Ok(Definition::Table(def)) => {
                    registry.tables.insert((database, def.name().to_string()), Arc::new(def));
                }
                Ok(Definition::View(view)) => {
                    registry.views.insert((database, view.name().to_string()), Arc::new(view));
                }
                Err(e) => errors.push(e),
            }
        }
        (registry, errors)
    }

    /// The catalog directory this registry was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One table.
    pub fn table(&self, database: &str, table: &str) -> Option<&Arc<TableDef>> {
        self.tables.get(&(database.to_string(), table.to_string()))
    }

    /// Database names, sorted: every database directory, with tables or not.
    pub fn databases(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.tables.keys().map(|(db, _)| db.clone()).chain(self.databases.iter().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// Tables of one database, sorted by name.
    pub fn tables_in(&self, database: &str) -> Vec<&Arc<TableDef>> {
        self.tables.iter().filter(|((db, _), _)| db == database).map(|(_, def)| def).collect()
    }

    /// One view.
    pub fn view(&self, database: &str, view: &str) -> Option<&Arc<view::ViewDef>> {
        self.views.get(&(database.to_string(), view.to_string()))
    }

    /// Views of one database, sorted by name.
    pub fn views_in(&self, database: &str) -> Vec<&Arc<view::ViewDef>> {
        self.views.iter().filter(|((db, _), _)| db == database).map(|(_, view)| view).collect()
    }

    /// Every view, sorted by database then name.
    pub fn views(&self) -> impl Iterator<Item = &Arc<view::ViewDef>> {
        self.views.values()
    }

    /// Every table, sorted by database then name.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values()
    }
}

/// A table name that is not in the registry.
#[derive(Debug, thiserror::Error)]
#[error("table {name} is not in the registry (catalog/); `glaux catalog list` shows the tables")]
pub struct UnknownTable {
    /// as given
    pub name: String,
}

impl Categorize for UnknownTable {
    fn category(&self) -> Category {
        Category::Data
    }
}

/// Why a table could not be looked up by its qualified name.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The name is not `database.table` with valid parts.
    #[error(transparent)]
    Name(#[from] names::InvalidName),
    /// No such table.
    #[error(transparent)]
    Unknown(#[from] UnknownTable),
}

impl Categorize for LookupError {
    fn category(&self) -> Category {
        match self {
            LookupError::Name(e) => e.category(),
            LookupError::Unknown(e) => e.category(),
        }
    }
}

/// The registry opened over its warehouse: definitions and where their commits are.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The table definitions.
    pub registry: Registry,
    /// Where the tables' data and commit logs are.
    pub warehouse: Warehouse,
}

impl Catalog {
    /// A table by `database.table`.
    pub fn table(&self, qualified: &str) -> Result<&Arc<TableDef>, LookupError> {
        let (database, table) = parse_qualified(qualified)?;
        Ok(self.registry.table(&database, &table).ok_or_else(|| UnknownTable { name: qualified.to_string() })?)
    }

    /// The commit log of a table.
    pub fn log(&self, def: &TableDef) -> TableLog {
        TableLog::of(&self.warehouse, def)
    }

    /// One row per table: what the definition says and what the newest snapshot holds (version,
    /// partitions, files, rows, bytes). `glaux catalog list` and `glaux run` print it.
    pub async fn summary(&self) -> Result<RecordBatch, CommitError> {
        let mut text: [Vec<String>; 4] = Default::default();
        let mut numbers: [Vec<Option<u64>>; 5] = Default::default();
        for def in self.registry.tables() {
            let head = self.log(def).head().await?;
            text[0].push(def.database.clone());
            text[1].push(def.name().to_string());
            text[2].push(def.partition_keys.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", "));
            text[3].push(def.location.clone());
            let total = |of: fn(&state::Snapshot) -> u64| head.as_ref().map(of);
            numbers[0].push(total(|s| s.version));
            numbers[1].push(total(state::Snapshot::partition_count));
            numbers[2].push(total(state::Snapshot::file_count));
            numbers[3].push(total(state::Snapshot::rows));
            numbers[4].push(total(state::Snapshot::bytes));
        }
        let text_fields = ["database", "table", "partition_keys", "location"];
        let number_fields = ["version", "partitions", "files", "rows", "bytes"];
        let mut fields: Vec<Field> = text_fields.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect();
        fields.extend(number_fields.iter().map(|n| Field::new(*n, DataType::UInt64, true)));
        let mut columns: Vec<ArrayRef> = text.into_iter().map(|c| Arc::new(StringArray::from(c)) as ArrayRef).collect();
        columns.extend(numbers.into_iter().map(|c| Arc::new(UInt64Array::from(c)) as ArrayRef));
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the summary schema"))
    }
}

/// One row per kept version of `def`, newest first: when it was committed and by what, how
/// many partitions it changed, and what the table held then (partitions, files, rows, bytes).
/// `glaux catalog history` prints it; time travel reads these versions.
pub async fn history(warehouse: &Warehouse, def: &TableDef) -> Result<RecordBatch, CommitError> {
    use futures::{StreamExt, TryStreamExt};
    let log = TableLog::of(warehouse, def);
    let versions = log.versions().await?;
    let states: Vec<Option<state::Snapshot>> = futures::stream::iter(versions.into_iter().rev())
        .map(|version| {
            let log = &log;
            async move { log.read_head(version).await }
        })
        .buffered(16)
        .try_collect()
        .await?;
    // A version removed by a vacuum between the listing and the read is not shown.
    let states: Vec<state::Snapshot> = states.into_iter().flatten().collect();
    let number = |f: &dyn Fn(&state::Snapshot) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from(states.iter().map(f).collect::<Vec<_>>()))
    };
    let text = |f: &dyn Fn(&state::Snapshot) -> String| -> ArrayRef {
        Arc::new(StringArray::from(states.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        number(&|s| s.version),
        Arc::new(
            arrow::array::TimestampMicrosecondArray::from(
                states.iter().map(|s| s.committed_at.timestamp_micros()).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        text(&|s| s.operation.clone()),
        text(&|s| s.commit_id.clone()),
        number(&|s| s.partitions_changed()),
        number(&|s| s.partition_count()),
        number(&|s| s.file_count()),
        number(&|s| s.rows()),
        number(&|s| s.bytes()),
    ];
    let time = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
    let fields = vec![
        Field::new("version", DataType::UInt64, false),
        Field::new("committed_at", time, false),
        Field::new("operation", DataType::Utf8, false),
        Field::new("commit_id", DataType::Utf8, false),
        Field::new("partitions_changed", DataType::UInt64, false),
        Field::new("partitions", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ];
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match the history schema"))
}

/// Told when a commit to a table has been published: side effects that follow a commit (the
/// automatic Glue push) are installed by whoever starts the work and passed down to the
/// writers, which call it after each commit and know nothing of what it does.
#[async_trait]
pub trait CommitHook: Send + Sync {
    /// `def`'s new snapshot is published. The hook reports its own failures: the commit
    /// stands either way.
    async fn committed(&self, def: &TableDef);
}

/// The hook that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

#[async_trait]
impl CommitHook for NoHook {
    async fn committed(&self, _def: &TableDef) {}
}

/// Writes a definition file as Glue would take it, creating the database directory. The file
/// appears whole or not at all (written aside, then renamed), so a reader or a killed writer
/// never leaves half a definition.
pub fn write_definition(dir: &Path, database: &str, input: &TableInput) -> Result<PathBuf, CatalogError> {
    let db_dir = dir.join(database);
    let path = db_dir.join(format!("{}.json", input.name));
    let io = |source| CatalogError::Read { path: path.clone(), source };
    std::fs::create_dir_all(&db_dir).map_err(io)?;
    let mut text = serde_json::to_string_pretty(input).expect("TableInput serialises");
    text.push('\n');
    let mut aside = tempfile::Builder::new().prefix(".").suffix(".json.tmp").tempfile_in(&db_dir).map_err(io)?;
    std::io::Write::write_all(&mut aside, text.as_bytes()).map_err(io)?;
    aside.persist(&path).map_err(|e| io(e.error))?;
    Ok(path)
}

/// Removes a table's definition file (its data stays in the warehouse, as Athena's DROP TABLE
/// leaves S3 alone).
pub fn remove_definition(dir: &Path, database: &str, table: &str) -> Result<(), CatalogError> {
    let path = dir.join(database).join(format!("{table}.json"));
    std::fs::remove_file(&path).map_err(|source| CatalogError::Read { path, source })
}

/// Creates an empty database directory.
pub fn create_database(dir: &Path, database: &str) -> Result<(), CatalogError> {
    let path = dir.join(database);
    std::fs::create_dir_all(&path).map_err(|source| CatalogError::Read { path, source })
}

/// `(database, file)` for every definition file, checking the directory layout.
fn definition_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, CatalogError> {
    let mut files = Vec::new();
    for db_dir in sorted_entries(dir)? {
        let name = file_name(&db_dir);
        if !db_dir.is_dir() {
            return Err(CatalogError::Layout {
                path: db_dir,
                reason: "the catalog holds one directory per database; move this file into one".into(),
            });
        }
        if let Err(e) = validate_name(&name, NameKind::Database) {
            return Err(CatalogError::Layout { path: db_dir, reason: e.to_string() });
        }
        if let Some((_, why)) = RESERVED_DATABASES.iter().find(|(reserved, _)| *reserved == name) {
            return Err(CatalogError::Layout {
                path: db_dir,
                reason: format!("the database name `{name}` is reserved {why}; rename the directory"),
            });
        }
        for file in sorted_entries(&db_dir)? {
            if file.extension().is_some_and(|ext| ext == "json") && file.is_file() {
                files.push((name.clone(), file));
            } else {
                return Err(CatalogError::Layout {
                    path: file,
                    reason: "only <table>.json definition files belong in a database directory".into(),
                });
            }
        }
    }
    Ok(files)
}

/// Directory entries, sorted, without hidden files; a missing directory has none.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CatalogError::Read { path: dir.to_path_buf(), source }),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|source| CatalogError::Read { path: dir.to_path_buf(), source })?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            entries.push(entry.path());
        }
    }
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// What a definition file holds.
enum Definition {
    Table(TableDef),
    View(view::ViewDef),
}

fn load_definition(database: &str, path: &Path, warehouse_url: &url::Url) -> Result<Definition, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read { path: path.into(), source })?;
    let input: TableInput = serde_json::from_str(&text).map_err(|e| CatalogError::Json {
        path: path.into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
    })?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if input.name != stem {
        return Err(CatalogError::Definition {
            path: path.into(),
            problems: vec![DefinitionProblem {
                field: "Name".into(),
                problem: format!("`{}` differs from the file name; name the file {}.json", input.name, input.name),
            }],
        });
    }
    if view::is_view(&input) {
        return view::ViewDef::from_input(database, input).map(Definition::View).map_err(|problem| {
            CatalogError::Definition {
                path: path.into(),
                problems: vec![DefinitionProblem { field: "ViewOriginalText".into(), problem }],
            }
        });
    }
    TableDef::from_input(database, input, warehouse_url)
        .map(Definition::Table)
        .map_err(|problems| CatalogError::Definition { path: path.into(), problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> url::Url {
        url::Url::parse("file:///wh/").unwrap()
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const GOOD: &str = r#"{"Name":"t","StorageDescriptor":{"Columns":[{"Name":"a","Type":"int"}]}}"#;

    #[test]
    fn loads_tables_by_database() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "db1/t.json", GOOD);
        write(dir.path(), "db2/t.json", GOOD);
        let registry = Registry::load(dir.path(), &url()).unwrap();
        assert_eq!(registry.databases(), ["db1", "db2"]);
        assert_eq!(registry.table("db2", "t").unwrap().location, "db2/t/");
    }

    #[test]
    fn errors_name_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "db/t.json", "{\"Name\": \"t\",\n \"StorageDescriptor\": [}");
        let err = Registry::load(dir.path(), &url()).unwrap_err().to_string();
        assert!(err.contains("db/t.json:2:"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "db/u.json", GOOD);
        let err = Registry::load(dir.path(), &url()).unwrap_err().to_string();
        assert!(err.contains("u.json: Name: `t` differs from the file name"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Bad-DB/t.json", GOOD);
        let err = Registry::load(dir.path(), &url()).unwrap_err().to_string();
        assert!(err.contains("invalid database name `Bad-DB`"), "{err}");
    }

    #[test]
    fn load_all_reports_every_bad_file_and_keeps_good_ones() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "db/t.json", GOOD);
        write(dir.path(), "db/x.json", "not json");
        write(dir.path(), "db/y.json", r#"{"Name":"y","StorageDescriptor":{"Columns":[{"Name":"a","Type":"intt"}]}}"#);
        let (registry, errors) = Registry::load_all(dir.path(), &url());
        assert_eq!(registry.tables().count(), 1);
        assert_eq!(errors.len(), 2);
    }
}
