//! A glaux project: its settings, warehouse and registry opened together, its scaffolding
//! (`glaux init`) and its pipeline (`glaux run`).
//!
//! The pipeline loads every CSV under `data/<database>/<table>/` into that table, skipping
//! files already loaded (by content hash, recorded in the same commit as their rows), then
//! prints a summary of every table: partitions, files, rows and bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::Utc;
use datafusion::prelude::SessionContext;

use crate::catalog::Registry;
use crate::catalog::names::parse_qualified;
use crate::catalog::state::TableLog;
use crate::catalog::table::TableDef;
use crate::config::{CONFIG_FILE, Overrides, Settings};
use crate::engine::exec::OutputFormat;
use crate::engine::{self, EngineOptions};
use crate::ingest::csv::{CsvOptions, CsvReport, ingest_csv};
use crate::ingest::source::Input;
use crate::runs::{Run, RunCounts, RunKind, RunStatus};
use crate::warehouse::Warehouse;

/// A table name that is not in the registry.
#[derive(Debug, thiserror::Error)]
#[error("table {name} is not in the registry (catalog/); `glaux catalog list` shows the tables")]
pub struct UnknownTable {
    /// as given
    pub name: String,
}

/// An open project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Resolved settings.
    pub settings: Settings,
    /// The opened warehouse.
    pub warehouse: Warehouse,
    /// The loaded registry.
    pub registry: Registry,
}

impl Project {
    /// Resolves settings from the process environment and opens warehouse and registry.
    pub fn open(overrides: &Overrides) -> anyhow::Result<Project> {
        let mut project = Self::open_without_registry(overrides)?;
        project.registry = Registry::load(&project.settings.catalog_dir(), project.warehouse.url())?;
        Ok(project)
    }

    /// Opens settings and warehouse only, with an empty registry: for checking the registry.
    pub fn open_without_registry(overrides: &Overrides) -> anyhow::Result<Project> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let settings = Settings::resolve(overrides, &|name| std::env::var(name).ok(), &cwd)?;
        let warehouse = Warehouse::open(&settings.warehouse)?;
        Ok(Project { settings, warehouse, registry: Registry::default() })
    }

    /// A SQL session over this project's tables.
    pub fn session(&self, options: &EngineOptions) -> anyhow::Result<SessionContext> {
        Ok(engine::session(&self.registry, &self.warehouse, &self.settings.warehouse, options)?)
    }

    /// A table by `database.table`.
    pub fn table(&self, qualified: &str) -> anyhow::Result<&Arc<TableDef>> {
        let (database, table) = parse_qualified(qualified)?;
        Ok(self.registry.table(&database, &table).ok_or_else(|| UnknownTable { name: qualified.to_string() })?)
    }

    /// The commit log of a table.
    pub fn log(&self, def: &TableDef) -> TableLog {
        TableLog::of(&self.warehouse, def)
    }

    /// The jobs defined in `sql/`, checked against the registry.
    pub fn jobs(&self) -> anyhow::Result<Vec<crate::jobs::Job>> {
        Ok(crate::jobs::load_all(&self.settings.project.join("sql"), &self.registry)?)
    }

    /// `data/` in the project.
    pub fn data_dir(&self) -> PathBuf {
        self.settings.project.join("data")
    }
}

/// The demo project's files, embedded so `glaux init` needs nothing but the binary.
pub const SCAFFOLD: &[(&str, &[u8])] = &[
    ("catalog/aurora_logs/mysql_audit_log.json", include_bytes!("../catalog/aurora_logs/mysql_audit_log.json")),
    ("catalog/aurora_logs/mysql_error_log.json", include_bytes!("../catalog/aurora_logs/mysql_error_log.json")),
    ("catalog/aurora_logs/mysql_general_log.json", include_bytes!("../catalog/aurora_logs/mysql_general_log.json")),
    ("catalog/aurora_logs/mysql_slow_log.json", include_bytes!("../catalog/aurora_logs/mysql_slow_log.json")),
    ("catalog/aurora_logs/postgres_log.json", include_bytes!("../catalog/aurora_logs/postgres_log.json")),
    ("catalog/customer_data/customer_base_raw.json", include_bytes!("../catalog/customer_data/customer_base_raw.json")),
    (
        "catalog/customer_data/customer_base_cleaned.json",
        include_bytes!("../catalog/customer_data/customer_base_cleaned.json"),
    ),
    (
        "catalog/customer_data/customer_base_quarantine.json",
        include_bytes!("../catalog/customer_data/customer_base_quarantine.json"),
    ),
    ("catalog/customer_data/customer_features.json", include_bytes!("../catalog/customer_data/customer_features.json")),
    ("catalog/customer_data/regions.json", include_bytes!("../catalog/customer_data/regions.json")),
    (
        "data/customer_data/customer_base_raw/crm_export_2026-11-01.csv",
        include_bytes!("../data/customer_data/customer_base_raw/crm_export_2026-11-01.csv"),
    ),
    (
        "data/customer_data/customer_base_raw/crm_export_2026-11-15.csv",
        include_bytes!("../data/customer_data/customer_base_raw/crm_export_2026-11-15.csv"),
    ),
    ("data/customer_data/regions/regions.csv", include_bytes!("../data/customer_data/regions/regions.csv")),
    ("glaux.toml", include_bytes!("../glaux.toml")),
    ("sql/README.md", include_bytes!("../sql/README.md")),
    ("sql/customer_data_cleansing.sql", include_bytes!("../sql/customer_data_cleansing.sql")),
    ("sql/customer_data_cleansing.toml", include_bytes!("../sql/customer_data_cleansing.toml")),
    ("sql/customer_feature_engineering.sql", include_bytes!("../sql/customer_feature_engineering.sql")),
    ("sql/customer_feature_engineering.toml", include_bytes!("../sql/customer_feature_engineering.toml")),
];

/// Creates a project in `dir` with the demo tables and sample data.
pub fn init(dir: &Path) -> anyhow::Result<()> {
    if dir.join(CONFIG_FILE).exists() {
        return Err(crate::commands::UsageError(format!(
            "{} already holds a glaux project ({CONFIG_FILE} exists)",
            dir.display()
        ))
        .into());
    }
    for (relative, contents) in SCAFFOLD {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Loads CSV inputs into a table as one commit, recorded as an ingest run; pushes to Glue
/// afterwards when `[glue] auto_push` is on. Returns the run id and what the load did.
pub async fn ingest(
    project: &Project,
    def: &TableDef,
    inputs: &[Input],
    day: Option<chrono::NaiveDate>,
    force: bool,
) -> anyhow::Result<(String, CsvReport)> {
    let table = def.qualified_name();
    let run = Run::start(&project.warehouse, RunKind::Ingest, &table).await?;
    let run_id = run.id().to_string();
    let now = Utc::now();
    let options = CsvOptions { day: day.unwrap_or(now.date_naive()), at: now, force, run_id: run_id.clone() };
    match ingest_csv(&project.warehouse, def, inputs, &options).await {
        Ok(report) => {
            let status = match report.loaded.is_empty() {
                true => RunStatus::UpToDate,
                false => RunStatus::Succeeded,
            };
            let counts = RunCounts {
                inputs: report.loaded.clone(),
                rows_in: report.rows_read,
                rows_out: report.rows_written,
                rows_rejected: report.rows_rejected,
                bytes_written: report.bytes_written,
                commits: match status {
                    RunStatus::Succeeded => vec![format!("{table}@{}", report.version)],
                    _ => Vec::new(),
                },
            };
            run.finish(status, counts, None).await;
            if !report.loaded.is_empty() {
                crate::glue::sync::after_load(project, def).await;
            }
            Ok((run_id, report))
        }
        Err(e) => {
            let error = anyhow::Error::from(e).context(format!("loading {table}"));
            let counts = RunCounts { inputs: inputs.iter().map(|i| i.name.clone()).collect(), ..RunCounts::default() };
            run.finish(RunStatus::Failed, counts, Some(crate::error_line(&error))).await;
            Err(error)
        }
    }
}

/// One line saying what a load did.
pub fn describe_load(table: &str, report: &CsvReport) -> String {
    let mut line = match report.loaded.len() {
        0 => format!("{table}: nothing new"),
        n => format!(
            "{table}: {n} file(s) loaded: rows read {}, written {}, rejected {}; {} bytes; version {}",
            report.rows_read, report.rows_written, report.rows_rejected, report.bytes_written, report.version
        ),
    };
    if !report.skipped.is_empty() {
        line.push_str(&format!(
            "{}{} file(s) skipped as already loaded (--force loads them again)",
            if report.loaded.is_empty() { " (" } else { "; " },
            report.skipped.len()
        ));
        if report.loaded.is_empty() {
            line.push(')');
        }
    }
    line
}

/// One table's load in a pipeline run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOutcome {
    /// `database.table`
    pub table: String,
    /// What the load did.
    pub report: CsvReport,
}

/// Loads every new file under `data/<database>/<table>/` into its table.
pub async fn load_data_dir(project: &Project) -> anyhow::Result<Vec<LoadOutcome>> {
    let mut outcomes = Vec::new();
    for def in project.registry.tables() {
        let dir = project.data_dir().join(&def.database).join(def.name());
        let files = csv_files(&dir)?;
        if files.is_empty() {
            continue;
        }
        let inputs: Vec<Input> = files.into_iter().map(Input::local).collect();
        let (_, report) = ingest(project, def, &inputs, None, false).await?;
        outcomes.push(LoadOutcome { table: def.qualified_name(), report });
    }
    Ok(outcomes)
}

fn csv_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot read {}", dir.display()))?.path();
        if path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("csv")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One row per table: what the definition says and what the newest snapshot holds (version,
/// partitions, files, rows, bytes). `glaux catalog list` and `glaux run` print it.
pub async fn table_listing(project: &Project) -> anyhow::Result<RecordBatch> {
    let mut text: [Vec<String>; 4] = Default::default();
    let mut numbers: [Vec<Option<u64>>; 5] = Default::default();
    for def in project.registry.tables() {
        let state = project.log(def).latest().await?;
        text[0].push(def.database.clone());
        text[1].push(def.name().to_string());
        text[2].push(def.partition_keys.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", "));
        text[3].push(def.location.clone());
        let parts: Vec<_> = state.iter().flat_map(|s| s.partitions.values()).collect();
        let committed = |value: u64| state.as_ref().map(|_| value);
        numbers[0].push(state.as_ref().map(|s| s.version));
        numbers[1].push(committed(parts.len() as u64));
        numbers[2].push(committed(parts.iter().map(|p| p.files.len() as u64).sum()));
        numbers[3].push(committed(parts.iter().map(|p| p.rows()).sum()));
        numbers[4].push(committed(parts.iter().map(|p| p.bytes()).sum()));
    }
    let text_fields = ["database", "table", "partition_keys", "location"];
    let number_fields = ["version", "partitions", "files", "rows", "bytes"];
    let mut fields: Vec<Field> = text_fields.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect();
    fields.extend(number_fields.iter().map(|n| Field::new(*n, DataType::UInt64, true)));
    let mut columns: Vec<ArrayRef> = text.into_iter().map(|c| Arc::new(StringArray::from(c)) as ArrayRef).collect();
    columns.extend(numbers.into_iter().map(|c| Arc::new(UInt64Array::from(c)) as ArrayRef));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// `glaux run`: generate the demo exports if the raw table has none, load new files, run every
/// job in dependency order, then summarise every table.
pub async fn run_pipeline(
    project: &Project,
    format: OutputFormat,
    full: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let raw_dir = crate::demo::default_out(&project.settings.project);
    if project.registry.table("customer_data", "customer_base_raw").is_some() && csv_files(&raw_dir)?.is_empty() {
        let options = crate::demo::GenerateOptions {
            customers: crate::demo::SAMPLE_CUSTOMERS,
            seed: crate::demo::SAMPLE_SEED,
            out: raw_dir.clone(),
        };
        let report = crate::demo::generate(&options).context("cannot write the demo exports")?;
        eprintln!("generated {} demo export(s) in {}", report.files.len(), raw_dir.display());
    }
    let outcomes = load_data_dir(project).await?;
    for o in &outcomes {
        eprintln!("{}", describe_load(&o.table, &o.report));
    }
    let jobs = project.jobs()?;
    let options = crate::jobs::run::RunOptions { full, ..Default::default() };
    for job in crate::jobs::order(&jobs)? {
        let report = crate::jobs::run::run(project, job, &options).await?;
        eprintln!("{}", report.describe());
    }
    let summary = table_listing(project).await?;
    crate::engine::exec::print_batch(summary, format, out).await?;
    Ok(())
}
