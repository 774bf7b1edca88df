//! The pipeline: what `glaux run`, `glaux ingest` and `glaux job run` orchestrate over the
//! domain modules, with the side effects installed around their commits.
//!
//! Every unit of work — a CSV load, a log ingest, a job run — is recorded in the run history
//! ([`history::record`] wraps it), and every commit it makes calls the [`CommitHook`] installed
//! here: the automatic Glue push when `[glue] auto_push` is on, nothing otherwise. The domain
//! modules are handed the catalog, an engine, a run id and the hook; they know nothing of the
//! history, of Glue, or of the project.
//!
//! `glaux run` loads every new CSV under `data/<database>/<table>/` into that table (files
//! already loaded are skipped by content hash, recorded in the same commit as their rows), runs
//! every job in dependency order, then summarises every table.

use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::catalog::table::TableDef;
use crate::catalog::{CommitHook, NoHook};
use crate::error::{Context, Result};
use crate::history::{self, RunCounts, RunKind, RunStatus, Unit};
use crate::ingest::csv::{CsvOptions, CsvReport, ingest_csv};
use crate::ingest::source::Input;
use crate::jobs::Job;
use crate::jobs::execute::{JobCounts, JobOptions, JobReport, execute_job};
use crate::logs::ingest::{Report as LogReport, Tables};
use crate::logs::request::{Request, ingest_all, resolve};
use crate::project::Project;

/// The hook every commit of this project calls: the automatic Glue push, when configured.
pub fn commit_hook(project: &Project) -> Box<dyn CommitHook> {
    match project.settings.glue_auto_push {
        true => Box::new(crate::glue::sync::AutoPush::new(&project.catalog)),
        false => Box::new(NoHook),
    }
}

/// The statements a SQL session runs over the registry (CTAS, INSERT, DROP, SHOW, …), with the
/// project's commit hook after each commit.
pub fn statements(project: &Project) -> crate::statements::Statements {
    crate::statements::Statements::new(project.engine(), std::sync::Arc::from(commit_hook(project)))
}

/// The status of a unit of work that committed when `committed` and found nothing new otherwise.
fn status(committed: bool) -> RunStatus {
    match committed {
        true => RunStatus::Succeeded,
        false => RunStatus::UpToDate,
    }
}

/// Loads CSV inputs into a table as one commit, recorded as an ingest run. Returns the run id
/// and what the load did.
pub async fn load_csv(
    project: &Project,
    def: &TableDef,
    inputs: &[Input],
    day: Option<chrono::NaiveDate>,
    force: bool,
) -> Result<(String, CsvReport)> {
    let table = def.qualified_name();
    let hook = commit_hook(project);
    let unit = Unit {
        kind: RunKind::Ingest,
        name: table.clone(),
        inputs: inputs.iter().map(|i| i.name.clone()).collect(),
        trigger: project.settings.trigger.clone(),
    };
    let work = |run_id: String| async move {
        let now = Utc::now();
        let options = CsvOptions { day: day.unwrap_or(now.date_naive()), at: now, force, run_id };
        let report = ingest_csv(&project.catalog.warehouse, def, inputs, &options, hook.as_ref()).await;
        report.with_context(|| format!("loading {table}"))
    };
    let outcome = |report: &CsvReport| {
        let status = status(!report.loaded.is_empty());
        let counts = RunCounts {
            inputs: report.loaded.clone(),
            rows_in: report.rows_read,
            rows_out: report.rows_written,
            rows_rejected: report.rows_rejected,
            bytes_written: report.bytes_written,
            commits: match status {
                RunStatus::Succeeded => vec![format!("{}@{}", def.qualified_name(), report.version)],
                _ => Vec::new(),
            },
        };
        (status, counts)
    };
    history::record(&project.catalog.warehouse, unit, work, outcome).await
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

/// The summary `glaux ingest aurora` prints.
pub fn describe_logs(report: &LogReport) -> String {
    let mut lines = Vec::new();
    if report.files == 0 {
        lines.push(format!("aurora logs: nothing new ({} file(s) unchanged)", report.unchanged));
    } else {
        lines.push(format!(
            "aurora logs: {} file(s) read, {} bytes; {} unchanged; {} line(s) rejected",
            report.files, report.bytes, report.unchanged, report.rejects
        ));
        for (table, rows) in &report.rows {
            lines.push(format!("  {table}: {rows} row(s)"));
        }
    }
    for name in &report.restarted {
        lines.push(format!("  {name}: rotated or replaced; read from the start"));
    }
    for name in &report.vanished {
        lines.push(format!("  {name}: disappeared while being read (rotated); what was read is kept"));
    }
    for (name, reason) in &report.skipped {
        lines.push(format!("  {name}: skipped: {reason}"));
    }
    if report.too_old > 0 {
        lines.push(format!("  {} file(s) last written before the lookback not read (see --since)", report.too_old));
    }
    if report.overlapping_pages > 0 {
        lines.push(format!(
            "  {} RDS page(s) repeated bytes already read; the repeats were dropped",
            report.overlapping_pages
        ));
    }
    if report.truncated_lines > 0 {
        lines.push(format!("  {} line(s) over 1 MB were cut by RDS", report.truncated_lines));
    }
    lines.join("\n")
}

/// Ingests the database logs `request` names, recorded as one ingest run. Returns the run id
/// and what the ingest did.
pub async fn ingest_logs(project: &Project, request: &Request) -> Result<(String, LogReport)> {
    let tables = Tables::from_registry(&project.catalog.registry)?;
    let resolved = resolve(&project.settings.log_sources, &project.settings.project, request).await?;
    let hook = commit_hook(project);
    let name = format!("{} (aurora logs)", crate::logs::DATABASE);
    let unit = Unit { kind: RunKind::Ingest, name, inputs: Vec::new(), trigger: project.settings.trigger.clone() };
    let work = |run_id: String| async move {
        let report = ingest_all(&project.catalog, &tables, resolved, &run_id, hook.as_ref()).await;
        report.context("ingesting database logs")
    };
    let outcome = |report: &LogReport| {
        let rows: u64 = report.rows.values().sum();
        let counts = RunCounts {
            inputs: report.inputs.clone(),
            rows_in: rows + report.rejects,
            rows_out: rows,
            rows_rejected: report.rejects,
            bytes_written: report.bytes_written,
            commits: report.commits.clone(),
        };
        (status(!report.commits.is_empty()), counts)
    };
    history::record(&project.catalog.warehouse, unit, work, outcome).await
}

/// Runs one job, recorded as a job run.
pub async fn run_job(project: &Project, job: &Job, options: &JobOptions) -> Result<JobReport> {
    let engine = project.engine();
    let hook = commit_hook(project);
    let unit = Unit {
        kind: RunKind::Job,
        name: job.name.clone(),
        inputs: Vec::new(),
        trigger: project.settings.trigger.clone(),
    };
    let work = |run_id: String| async move {
        let report = execute_job(&engine, job, options, &run_id, hook.as_ref()).await;
        report.with_context(|| format!("job {}", job.name))
    };
    let outcome = |report: &JobReport| (status(report.mode.is_some()), report.counts.clone().into());
    let (_, report) = history::record(&project.catalog.warehouse, unit, work, outcome).await?;
    Ok(report)
}

impl From<JobCounts> for RunCounts {
    fn from(c: JobCounts) -> RunCounts {
        let JobCounts { inputs, rows_in, rows_out, rows_rejected, bytes_written, commits } = c;
        RunCounts { inputs, rows_in, rows_out, rows_rejected, bytes_written, commits }
    }
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
pub async fn load_data_dir(project: &Project) -> Result<Vec<LoadOutcome>> {
    let mut outcomes = Vec::new();
    for def in project.catalog.registry.tables() {
        let dir = project.data_dir().join(&def.database).join(def.name());
        let files = csv_files(&dir)?;
        if files.is_empty() {
            continue;
        }
        let inputs: Vec<Input> = files.into_iter().map(Input::local).collect();
        let (_, report) = load_csv(project, def, &inputs, None, false).await?;
        outcomes.push(LoadOutcome { table: def.qualified_name(), report });
    }
    Ok(outcomes)
}

fn csv_files(dir: &Path) -> Result<Vec<PathBuf>> {
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

/// Writes the demo exports when the project has the demo's raw table and no export yet, so
/// `glaux run` on a fresh project has something to load. Says what it wrote through `notify`.
fn generate_demo_exports(project: &Project, notify: &dyn Fn(&str)) -> Result<()> {
    let raw_dir = crate::demo::default_out(&project.settings.project);
    let registry = &project.catalog.registry;
    if registry.table("customer_data", "customer_base_raw").is_none() || !csv_files(&raw_dir)?.is_empty() {
        return Ok(());
    }
    let options = crate::demo::GenerateOptions {
        customers: crate::demo::SAMPLE_CUSTOMERS,
        seed: crate::demo::SAMPLE_SEED,
        out: raw_dir.clone(),
    };
    let report = crate::demo::generate(&options).context("cannot write the demo exports")?;
    notify(&format!("generated {} demo export(s) in {}", report.files.len(), raw_dir.display()));
    Ok(())
}

/// `glaux run`: generate the demo exports if the raw table has none, load new files, ingest the
/// configured database logs (`[[aurora.sources]]`), run every job in dependency order (in full when `full` gives a reason); each step's line goes to
/// `notify` as it finishes. Returns the summary of every table.
pub async fn run_project(
    project: &Project,
    full: Option<String>,
    notify: &dyn Fn(&str),
) -> Result<arrow::array::RecordBatch> {
    generate_demo_exports(project, notify)?;
    for outcome in load_data_dir(project).await? {
        notify(&describe_load(&outcome.table, &outcome.report));
    }
    if !project.settings.log_sources.is_empty() {
        let (_, report) = ingest_logs(project, &Request::default()).await?;
        notify(&describe_logs(&report));
    }
    let jobs = project.jobs()?;
    let options = JobOptions { full, ..JobOptions::default() };
    for job in crate::jobs::order(&jobs)? {
        let report = run_job(project, job, &options).await?;
        notify(&report.describe());
    }
    let digests = ["mysql_query_digest", "postgres_query_digest"];
    if digests.iter().any(|t| project.catalog.registry.table(crate::logs::DATABASE, t).is_some()) {
        notify("log digests are up to date: `glaux logs report` writes glaux-report.html to open in a browser");
    }
    Ok(project.catalog.summary().await?)
}
