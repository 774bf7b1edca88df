//! Running one job: decide what is new, run the SQL over exactly that, write, commit.
//!
//! 1. Read the newest snapshot of every input and of the output; the output's commit carries
//!    the job's bookmark (the input partition versions its last successful run read, and the
//!    fingerprint of the definition and SQL).
//! 2. Compare: nothing new means no data file is opened and the run ends at once; a changed
//!    definition, a changed non-incremental input, a removed input partition or `--full` means a
//!    full recompute; otherwise the incremental input's new and changed partitions.
//! 3. Run the SQL with every input pinned to the snapshot read in step 1 (the incremental input
//!    showing only the chosen partitions), so the bookmark records exactly what was read.
//! 4. Split the result, each of its partitions in its own task: rows with a quarantine reason to
//!    the quarantine table, the rest to the output, each row to its table partition, as zstd
//!    Parquet under the commit's fresh prefix (one file per result partition). In
//!    `merge` mode, rows for partitions the output already has are merged with them by
//!    unique key first (newest `order_by` wins, new rows win ties).
//! 5. Commit the quarantine, then the output together with the new bookmark. Until that last
//!    commit nothing of the output is visible; a failed or killed run leaves the previous state
//!    and its bookmark, so the next run redoes the same work (replacing, never appending).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::kernels::boolean::{is_not_null, not};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch, take};
use arrow::datatypes::{DataType, SchemaRef};
use chrono::Utc;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Ident;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{Job, WriteMode};
use crate::catalog::state::{Change, NewPartition, PartitionState, TableLog, TableState, Transaction};
use crate::catalog::table::TableDef;
use crate::engine::table::{Pin, RegistryTable};
use crate::engine::{EngineOptions, Overrides};
use crate::ingest::ParquetSink;
use crate::project::Project;
use crate::runs::{Run, RunCounts, RunKind, RunStatus};

/// Table property prefix of a job's bookmark on its output table.
pub const BOOKMARK_PREFIX: &str = "glaux.job.";

/// Rows per batch in a job without a memory limit. A job's result is split across its output
/// partitions before it is encoded, so larger batches mean fewer, larger Parquet writes (a
/// quarter less time on the customer jobs than 8192). Under a memory limit the default stays,
/// since a sort's merge holds one batch per spilled run.
const JOB_BATCH_SIZE: usize = 32 * 1024;

/// Input rows that justify one more parallel task (and one more file per output partition).
const ROWS_PER_TASK: u64 = 256 * 1024;

/// How many partitions a job reading `rows_in` rows runs with: one per core, but no more than
/// its input fills, so a small or incremental run writes one file per output partition rather
/// than one per core.
fn parallelism(rows_in: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    usize::try_from(rows_in.div_ceil(ROWS_PER_TASK)).unwrap_or(usize::MAX).clamp(1, cores)
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Recompute everything, ignoring the bookmark.
    pub full: bool,
    /// Engine settings (memory limit).
    pub engine: EngineOptions,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The job.
    pub job: String,
    /// The run's id.
    pub run_id: String,
    /// `None` when nothing was new; otherwise why it ran full, or `incremental`.
    pub mode: Option<String>,
    /// Counts.
    pub counts: RunCounts,
}

impl JobReport {
    /// One line for the terminal.
    pub fn describe(&self) -> String {
        let c = &self.counts;
        match &self.mode {
            None => format!("{}: nothing new since its last run; nothing read or written", self.job),
            Some(mode) => format!(
                "{}: {mode}: {} input partition(s), rows in {}, out {}, quarantined {}; {} bytes; {}",
                self.job,
                c.inputs.len(),
                c.rows_in,
                c.rows_out,
                c.rows_rejected,
                c.bytes_written,
                c.commits.join(", ")
            ),
        }
    }
}

/// What a job's last successful run read, kept in the output's commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Bookmark {
    /// Fingerprint of definition and SQL.
    fingerprint: String,
    /// The run that wrote it.
    run_id: String,
    /// Per input, the version of each partition read.
    inputs: BTreeMap<String, BTreeMap<String, u64>>,
}

/// What this run has to do.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    UpToDate,
    Full(String),
    Incremental(BTreeSet<String>),
}

/// Runs `job`, recording the run in the run history.
pub async fn run(project: &Project, job: &Job, options: &RunOptions) -> anyhow::Result<JobReport> {
    let run = Run::start(&project.warehouse, RunKind::Job, &job.name).await?;
    let run_id = run.id().to_string();
    let result = execute(project, job, options, &run_id).await;
    // Only a merge that did work can have staged rows.
    let up_to_date = matches!(&result, Ok(report) if report.mode.is_none());
    if job.write_mode == WriteMode::Merge && !up_to_date {
        remove_staging(&project.warehouse, &run_id).await;
    }
    match result {
        Ok(report) => {
            let status = match report.mode {
                Some(_) => RunStatus::Succeeded,
                None => RunStatus::UpToDate,
            };
            run.finish(status, report.counts.clone(), None).await;
            Ok(report)
        }
        Err(error) => {
            let error = error.context(format!("job {}", job.name));
            run.finish(RunStatus::Failed, RunCounts::default(), Some(crate::error_line(&error))).await;
            Err(error)
        }
    }
}

async fn execute(project: &Project, job: &Job, options: &RunOptions, run_id: &str) -> anyhow::Result<JobReport> {
    let output_def = project.table(&job.output)?.clone();
    let output_log = project.log(&output_def);
    let output_state = output_log.latest().await?;
    let bookmark_key = format!("{BOOKMARK_PREFIX}{}", job.name);
    let bookmark: Option<Bookmark> = output_state
        .as_ref()
        .and_then(|s| s.properties.get(&bookmark_key))
        .and_then(|v| serde_json::from_value(v.clone()).ok());

    let mut snapshots = BTreeMap::new();
    for input in &job.inputs {
        let def = project.table(input)?.clone();
        let state = project.log(&def).latest().await?;
        snapshots.insert(input.clone(), (def, state));
    }
    let current: BTreeMap<String, BTreeMap<String, u64>> =
        snapshots.iter().map(|(name, (_, state))| (name.clone(), partition_versions(state.as_ref()))).collect();
    let plan = decide(job, bookmark.as_ref(), &current, options.full);
    tracing::debug!(job = %job.name, ?plan, "planned run");
    let mut report =
        JobReport { job: job.name.clone(), run_id: run_id.to_string(), mode: None, counts: RunCounts::default() };
    let changed = match &plan {
        Plan::UpToDate => return Ok(report),
        Plan::Full(reason) => {
            report.mode = Some(format!("full ({reason})"));
            None
        }
        Plan::Incremental(changed) => {
            report.mode = Some("incremental".into());
            Some(changed.clone())
        }
    };

    // Pin every input to the snapshot just read.
    let mut overrides: Overrides = HashMap::new();
    for (name, (def, state)) in &snapshots {
        let only = match Some(name) == job.incremental_input.as_ref() {
            true => changed.clone(),
            false => None,
        };
        for (key, partition) in state.iter().flat_map(|s| s.partitions.iter()) {
            if only.as_ref().is_none_or(|only| only.contains(key)) {
                report.counts.rows_in += partition.rows();
                report.counts.inputs.push(match key.is_empty() {
                    true => name.clone(),
                    false => format!("{name}/{key}"),
                });
            }
        }
        let pin = Pin { state: state.clone(), only };
        overrides.insert(name.clone(), Arc::new(RegistryTable::pinned(def.clone(), &project.warehouse, pin)));
    }
    let mut engine = options.engine.clone();
    if engine.memory_limit.is_none() {
        engine.batch_size.get_or_insert(JOB_BATCH_SIZE);
        engine.target_partitions.get_or_insert(parallelism(report.counts.rows_in));
    }
    let ctx = crate::engine::session_with(
        &project.registry,
        &project.warehouse,
        &project.settings.warehouse,
        &engine,
        overrides,
    )?;
    let options_sql = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = ctx
        .sql_with_options(&job.sql, options_sql)
        .await
        .with_context(|| format!("planning {}", job.sql_path.display()))?;
    let streams =
        frame.execute_stream_partitioned().await.with_context(|| format!("running {}", job.sql_path.display()))?;

    let full = changed.is_none();
    let commit_at = Utc::now();
    let txn = Transaction::new(format!("job {}", job.name), commit_at);
    let hold: BTreeSet<String> = match (job.write_mode, &output_state, full) {
        (WriteMode::Merge, Some(state), false) => state.partitions.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let quarantine = match &job.quarantine {
        Some(q) => {
            let def = project.table(&q.table)?.clone();
            let state = project.log(&def).latest().await?;
            Some((def, state, q.reason_column.clone()))
        }
        None => None,
    };
    // Writers for the job's result (staging held partitions, quarantine) or for a merged result.
    let writers = |hold: &BTreeSet<String>, with_quarantine: bool| {
        let output_def = output_def.clone();
        let quarantine =
            quarantine.as_ref().filter(|_| with_quarantine).map(|(def, _, reason)| (def.clone(), reason.clone()));
        let hold = hold.clone();
        let commit_id = txn.commit_id.clone();
        let staging = staging_prefix(run_id);
        move |index: usize| Writers {
            output: TableWriter::new(project, output_def.clone(), &commit_id, &staging, hold.clone(), index),
            quarantine: quarantine.as_ref().map(|(def, reason)| {
                (TableWriter::new(project, def.clone(), &commit_id, &staging, BTreeSet::new(), index), reason.clone())
            }),
        }
    };

    let started = std::time::Instant::now();
    let bar = crate::progress::rows(format!("job {}", job.name));
    let mut written = write_partitioned(streams, writers(&hold, true), &bar).await?;
    let staged: Vec<NewPartition> = written.iter_mut().flat_map(|w| std::mem::take(&mut w.output.staged)).collect();
    if !staged.is_empty() {
        let staged = staged_state(&output_def, &output_log, &txn.commit_id, staged);
        let merged = merge(&ctx, job, &output_def, output_state.as_ref(), staged, &project.warehouse).await?;
        // The merged partitions were held back above, so their files are new names here; the
        // merge reads rows already checked, so it has no quarantine.
        written.extend(write_partitioned(merged, writers(&BTreeSet::new(), false), &bar).await?);
    }
    bar.finish_and_clear();
    tracing::debug!(job = %job.name, elapsed = ?started.elapsed(), "result written");

    let (outputs, quarantines): (Vec<TableWriter>, Vec<Option<TableWriter>>) =
        written.into_iter().map(|w| (w.output, w.quarantine.map(|(q, _)| q))).unzip();
    if let Some((q_def, state, _)) = &quarantine {
        let mut q_txn = Transaction::new(format!("job {} (quarantine)", job.name), commit_at);
        q_txn.commit_id = txn.commit_id.clone();
        let writers = quarantines.into_iter().flatten().collect();
        report.counts.rows_rejected =
            commit_output(project, q_def, writers, state.as_ref(), full, q_txn, &mut report.counts).await?;
    }
    let mut txn = txn;
    let bookmark = Bookmark { fingerprint: job.fingerprint.clone(), run_id: run_id.to_string(), inputs: current };
    txn.properties.insert(bookmark_key, serde_json::to_value(&bookmark).expect("bookmarks serialise"));
    report.counts.rows_out =
        commit_output(project, &output_def, outputs, output_state.as_ref(), full, txn, &mut report.counts).await?;
    tracing::debug!(job = %job.name, elapsed = ?started.elapsed(), "committed");
    Ok(report)
}

/// Commits the files the writers of one table finished, on top of `base`, the snapshot the run read
/// (replacing everything in a full run), with `txn`'s operation, commit id and properties.
/// An incremental run that wrote nothing and sets no property commits nothing. Returns the
/// rows written.
async fn commit_output(
    project: &Project,
    def: &Arc<TableDef>,
    writers: Vec<TableWriter>,
    base: Option<&TableState>,
    full: bool,
    mut txn: Transaction,
    counts: &mut RunCounts,
) -> anyhow::Result<u64> {
    let partitions = combine(writers.into_iter().flat_map(|w| w.finished));
    let files = || partitions.iter().flat_map(|p| &p.files);
    let rows = files().map(|f| f.rows).sum();
    counts.bytes_written += files().map(|f| f.size).sum::<u64>();
    if !full && partitions.is_empty() && txn.properties.is_empty() {
        return Ok(rows);
    }
    txn.read_version = Some(base.map_or(0, |s| s.version));
    txn.replace_all = full;
    txn.changes = partitions.into_iter().map(Change::Replace).collect();
    let published = project.log(def).commit(&txn).await?;
    counts.commits.push(format!("{}@{}", def.qualified_name(), published.version));
    crate::glue::sync::after_load(project, def).await;
    Ok(rows)
}

/// Partition key to version, for a snapshot.
fn partition_versions(state: Option<&TableState>) -> BTreeMap<String, u64> {
    state.map(|s| s.partitions.iter().map(|(k, p)| (k.clone(), p.version)).collect()).unwrap_or_default()
}

/// Compares what the inputs hold now with what the last run read.
fn decide(
    job: &Job,
    bookmark: Option<&Bookmark>,
    current: &BTreeMap<String, BTreeMap<String, u64>>,
    full: bool,
) -> Plan {
    let Some(bookmark) = bookmark else { return Plan::Full("first run".into()) };
    if full {
        return Plan::Full("--full".into());
    }
    if bookmark.fingerprint != job.fingerprint {
        return Plan::Full("definition or SQL changed since the last run".into());
    }
    let empty = BTreeMap::new();
    let mut changed = BTreeSet::new();
    for (input, now) in current {
        let before = bookmark.inputs.get(input).unwrap_or(&empty);
        if Some(input) == job.incremental_input.as_ref() {
            if let Some(gone) = before.keys().find(|k| !now.contains_key(*k)) {
                return Plan::Full(format!("partition {gone} of {input} was removed"));
            }
            changed.extend(now.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k.clone()));
        } else if before != now {
            return Plan::Full(format!("{input} changed"));
        }
    }
    match (changed.is_empty(), job.write_mode) {
        (true, _) => Plan::UpToDate,
        (false, WriteMode::Overwrite) => Plan::Full("new input; write_mode is overwrite".into()),
        (false, _) => Plan::Incremental(changed),
    }
}

/// The writers one result partition's rows go to: the output's, and the quarantine's with its
/// reason column.
struct Writers {
    output: TableWriter,
    quarantine: Option<(TableWriter, String)>,
}

/// Writes each partition of a result in its own task, into writers made by `writers(index)`,
/// and completes their files (so Parquet encoding and uploads run in parallel, as the query
/// does). The first failure stops the rest.
async fn write_partitioned(
    streams: Vec<SendableRecordBatchStream>,
    writers: impl Fn(usize) -> Writers,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Writers>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, stream) in streams.into_iter().enumerate() {
        let mut writers = writers(index);
        let bar = bar.clone();
        tasks.spawn(async move {
            write_stream(stream, &mut writers, &bar).await?;
            writers.output.finish().await?;
            if let Some((quarantine, _)) = writers.quarantine.as_mut() {
                quarantine.finish().await?;
            }
            anyhow::Ok((index, writers))
        });
    }
    let mut done = Vec::new();
    while let Some(result) = tasks.join_next().await {
        done.push(result.context("a writing task failed")??);
    }
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, writers)| writers).collect())
}

/// Sends a result stream to the output (and quarantine) writers.
async fn write_stream(
    mut stream: SendableRecordBatchStream,
    writers: &mut Writers,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let good = match writers.quarantine.as_mut() {
            Some((writer, reason)) => {
                let index = batch.schema().index_of(reason).map_err(|_| {
                    anyhow::anyhow!("the SQL result has no column `{reason}` (the quarantine reason column)")
                })?;
                let bad: BooleanArray = is_not_null(batch.column(index))?;
                writer.write(&filter_record_batch(&batch, &bad)?).await?;
                filter_record_batch(&batch, &not(&bad)?)?
            }
            None => batch,
        };
        writers.output.write(&good).await?;
        bar.inc(good.num_rows() as u64);
    }
    Ok(())
}

/// Merges the staged rows with the output's existing rows of the same partitions.
async fn merge(
    ctx: &SessionContext,
    job: &Job,
    def: &Arc<TableDef>,
    state: Option<&TableState>,
    staged: TableState,
    warehouse: &crate::warehouse::Warehouse,
) -> anyhow::Result<Vec<SendableRecordBatchStream>> {
    let keys: BTreeSet<String> = staged.partitions.keys().cloned().collect();
    let schema = def.table_schema();
    let new = Pin { state: Some(staged), only: None };
    ctx.register_table("__glaux_new", Arc::new(RegistryTable::pinned(def.clone(), warehouse, new)))?;
    let pin = Pin { state: state.cloned(), only: Some(keys) };
    ctx.register_table("__glaux_existing", Arc::new(RegistryTable::pinned(def.clone(), warehouse, pin)))?;
    let quote = |name: &str| Ident::with_quote('"', name).to_string();
    let columns = schema.fields().iter().map(|f| quote(f.name())).collect::<Vec<_>>().join(", ");
    let partition_by = job.unique_key.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let order_by = job.order_by.iter().map(|c| format!("{} DESC NULLS LAST", quote(c))).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {columns} FROM (\
           SELECT *, row_number() OVER (PARTITION BY {partition_by} ORDER BY {order_by}, __glaux_side) AS __glaux_rank \
           FROM (SELECT {columns}, 0 AS __glaux_side FROM __glaux_new \
                 UNION ALL SELECT {columns}, 1 AS __glaux_side FROM __glaux_existing) AS candidates\
         ) AS ranked WHERE __glaux_rank = 1"
    );
    let frame = ctx.sql(&sql).await.context("planning the merge into the existing output")?;
    Ok(frame.execute_stream_partitioned().await?)
}

/// Writes result rows into one table's partitions, one file per partition named by `index` (the
/// result partition it writes), under the commit's prefix. Rows for partitions in `hold` are
/// staged instead, in Parquet under the run's staging prefix, for a merge.
struct TableWriter {
    def: Arc<TableDef>,
    log: TableLog,
    warehouse: crate::warehouse::Warehouse,
    commit_id: String,
    index: usize,
    hold: BTreeSet<String>,
    /// Where held rows go, below the warehouse root.
    staging: String,
    /// Open files by partition values, and whether each is staged.
    sinks: HashMap<Vec<String>, (ParquetSink, bool)>,
    finished: Vec<NewPartition>,
    staged: Vec<NewPartition>,
}

impl TableWriter {
    fn new(
        project: &Project,
        def: Arc<TableDef>,
        commit_id: &str,
        staging: &str,
        hold: BTreeSet<String>,
        index: usize,
    ) -> TableWriter {
        TableWriter {
            log: project.log(&def),
            staging: format!("{staging}/{}/", def.qualified_name()),
            def,
            warehouse: project.warehouse.clone(),
            commit_id: commit_id.to_string(),
            index,
            hold,
            sinks: HashMap::new(),
            finished: Vec::new(),
            staged: Vec::new(),
        }
    }

    /// Picks the table's columns from `batch` by name, cast to the table's types.
    fn conform(&self, batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
        let schema: SchemaRef = self.def.table_schema();
        let options = CastOptions { safe: false, ..CastOptions::default() };
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let index = batch.schema().index_of(field.name()).map_err(|_| {
                anyhow::anyhow!(
                    "the SQL result has no column `{}`, which {} needs; select it (with AS `{}` if renamed)",
                    field.name(),
                    self.def.qualified_name(),
                    field.name()
                )
            })?;
            let column = batch.column(index);
            let column = match column.data_type() == field.data_type() {
                true => column.clone(),
                false => cast_with_options(column, field.data_type(), &options).with_context(|| {
                    format!(
                        "column `{}` does not fit {} {}",
                        field.name(),
                        self.def.qualified_name(),
                        field.data_type()
                    )
                })?,
            };
            columns.push(column);
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    async fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let table = self.conform(batch)?;
        let file_columns = self.def.file_schema.fields().len();
        for (values, rows) in group_rows(&table.columns()[file_columns..])? {
            let indices = UInt32Array::from(rows);
            let columns: Vec<ArrayRef> =
                table.columns().iter().map(|c| take(c, &indices, None)).collect::<Result<_, _>>()?;
            let part = RecordBatch::try_new(table.schema(), columns)?;
            let file_part = part.project(&(0..file_columns).collect::<Vec<_>>())?;
            if !self.sinks.contains_key(&values) {
                let key = self.log.partition_key(&values);
                let staged = self.hold.contains(&key);
                let path = match staged {
                    true => format!("{}{}/part-{:05}.parquet", self.staging, key, self.index),
                    false => format!("{}{}/{}/part-{:05}.parquet", self.def.location, key, self.commit_id, self.index),
                };
                let path = path.replace("//", "/");
                let sink = ParquetSink::create(&self.warehouse, &path, self.def.file_schema.clone())?;
                self.sinks.insert(values.clone(), (sink, staged));
            }
            self.sinks.get_mut(&values).expect("inserted above").0.write(&file_part).await?;
        }
        Ok(())
    }

    /// Completes the files written so far (all at once: each is an upload) into `finished` and
    /// `staged`.
    async fn finish(&mut self) -> anyhow::Result<()> {
        let sinks = std::mem::take(&mut self.sinks);
        let files = futures::future::try_join_all(sinks.into_iter().map(|(values, (sink, staged))| async move {
            let file = sink.finish().await?;
            let location = file.path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default();
            anyhow::Ok((NewPartition { values, location, files: vec![file] }, staged))
        }))
        .await?;
        for (partition, staged) in files {
            match staged {
                true => self.staged.push(partition),
                false => self.finished.push(partition),
            }
        }
        Ok(())
    }
}

/// The rows of a batch grouped by the values of its partition columns (as partition path
/// values: text, NULL as empty), in order of first appearance.
fn group_rows(columns: &[ArrayRef]) -> anyhow::Result<Vec<(Vec<String>, Vec<u32>)>> {
    let rows = columns.first().map_or(0, |c| c.len());
    if columns.is_empty() {
        return Ok(vec![(Vec::new(), (0..rows as u32).collect())]);
    }
    let texts: Vec<StringArray> = columns
        .iter()
        .map(|c| {
            let text = cast_with_options(c, &DataType::Utf8, &CastOptions::default())?;
            Ok(text.as_any().downcast_ref::<StringArray>().expect("cast to Utf8").clone())
        })
        .collect::<anyhow::Result<_>>()?;
    let mut groups: Vec<(Vec<String>, Vec<u32>)> = Vec::new();
    let mut index: HashMap<Vec<&str>, usize> = HashMap::new();
    let mut key: Vec<&str> = Vec::with_capacity(texts.len());
    for row in 0..rows {
        key.clear();
        key.extend(texts.iter().map(|t| if t.is_null(row) { "" } else { t.value(row) }));
        let group = match index.get(&key) {
            Some(&group) => group,
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key.iter().map(|v| v.to_string()).collect(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[group].1.push(row as u32);
    }
    Ok(groups)
}

/// Where a run stages rows for a merge, below the warehouse root (outside every table, so no
/// reader sees them).
fn staging_prefix(run_id: &str) -> String {
    format!("{}/staging/{run_id}", crate::warehouse::STATE_PREFIX)
}

/// Deletes what a run staged. A failure is only logged: staged files are never read again.
async fn remove_staging(warehouse: &crate::warehouse::Warehouse, run_id: &str) {
    let prefix = warehouse.path(&staging_prefix(run_id));
    let store = warehouse.store();
    let paths = store.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
    let removed: Result<Vec<_>, _> = store.delete_stream(paths).try_collect().await;
    if let Err(error) = removed {
        tracing::warn!(run = run_id, %error, "could not remove the run's staged files");
    }
    // A local store leaves the emptied directories behind.
    if let Ok(root) = warehouse.url().to_file_path().map(|root| root.join(staging_prefix(run_id))) {
        match std::fs::remove_dir_all(&root) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(run = run_id, %error, "could not remove {}", root.display());
            }
            _ => {}
        }
    }
}

/// The staged partitions of the output as a snapshot the engine can scan.
fn staged_state(def: &TableDef, log: &TableLog, commit_id: &str, staged: Vec<NewPartition>) -> TableState {
    let partitions = combine(staged)
        .into_iter()
        .map(|p| {
            let key = log.partition_key(&p.values);
            (key, PartitionState { values: p.values, location: p.location, files: p.files, version: 0 })
        })
        .collect();
    TableState {
        format: crate::catalog::state::STATE_FORMAT,
        table: def.qualified_name(),
        version: 0,
        commit_id: commit_id.to_string(),
        committed_at: Utc::now(),
        operation: "staged for a merge".into(),
        partitions,
        properties: BTreeMap::new(),
        changed_partitions: BTreeSet::new(),
        changed_properties: BTreeSet::new(),
    }
}

/// One partition per set of values, holding the files every writer wrote for it (the writers of
/// different result partitions write the same table partitions into one directory).
fn combine(partitions: impl IntoIterator<Item = NewPartition>) -> Vec<NewPartition> {
    let mut by_values: BTreeMap<Vec<String>, NewPartition> = BTreeMap::new();
    for partition in partitions {
        match by_values.get_mut(&partition.values) {
            Some(known) => known.files.extend(partition.files),
            None => {
                by_values.insert(partition.values.clone(), partition);
            }
        }
    }
    by_values.into_values().collect()
}
