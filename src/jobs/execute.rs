//! Running one job: decide what is new, run the SQL over exactly that, write, commit.
//!
//! 1. Read the newest snapshot of every input and of the output; the output's commit carries
//!    the job's bookmark (the input partition versions its last successful run read, and the
//!    fingerprint of the definition and SQL).
//! 2. Compare: nothing new means no data file is opened and the run ends at once; a changed
//!    definition, a changed non-incremental input, a removed input partition or a full run asked for means a
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

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::boolean::{is_not_null, not};
use chrono::Utc;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Ident;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{Job, WriteMode};
use crate::catalog::state::{Change, NewPartition, PartitionState, TableLog, TableState, Transaction};
use crate::catalog::table::TableDef;
use crate::catalog::write::{TableWriter, combine};
use crate::catalog::{Catalog, CommitHook};
use crate::engine::table::{Pin, RegistryTable};
use crate::engine::{Engine, EngineOptions, Overrides};
use crate::error::{Context, Error, Result};

/// Table property prefix of a job's bookmark on its output table.
pub const BOOKMARK_PREFIX: &str = "glaux.job.";

/// Rows per batch in a job without a memory limit. A job's result is split across its output
/// partitions before it is encoded, so larger batches mean fewer, larger Parquet writes (a
/// quarter less time on the customer jobs than 8192). Under a memory limit the default stays,
/// since a sort's merge holds one batch per spilled run.
const JOB_BATCH_SIZE: usize = 32 * 1024;

/// Rows per batch in a job whose plan neither sorts nor aggregates (a projection, filters,
/// lookup joins): as fast as [`JOB_BATCH_SIZE`] there, with half the rows in flight (on the
/// feature job at 10M customers, 9 % less peak memory). A sort makes one sorted run per input
/// batch, so the plans that sort keep the larger batches.
const STREAMING_BATCH_SIZE: usize = 16 * 1024;

/// Input rows that justify one more parallel task (and one more file per output partition).
const ROWS_PER_TASK: u64 = 256 * 1024;

/// How many partitions a job reading `rows_in` rows runs with: one per task slot (core, or the
/// cluster's partitions), but no more than its input fills, so a small or incremental run
/// writes one file per output partition rather than one per slot.
fn parallelism(rows_in: u64, slots: usize) -> usize {
    usize::try_from(rows_in.div_ceil(ROWS_PER_TASK)).unwrap_or(usize::MAX).clamp(1, slots.max(1))
}

/// How to run a job.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// Recompute everything, ignoring the bookmark, for the reason given (shown in the report).
    pub full: Option<String>,
    /// Engine settings (memory limit).
    pub engine: EngineOptions,
}

/// What a run read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Input partitions read (`db.table/key=value`).
    pub inputs: Vec<String>,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written to the output.
    pub rows_out: u64,
    /// Rows sent to the quarantine.
    pub rows_rejected: u64,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Table versions committed (`db.table@7`).
    pub commits: Vec<String>,
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
    pub counts: JobCounts,
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

/// What this run has to recompute.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Recompute {
    /// Nothing: no input changed since the bookmark.
    Nothing,
    /// Everything, for the reason given.
    Full(String),
    /// Only these partitions of the incremental input.
    Partitions(BTreeSet<String>),
}

/// Partition versions by input (`db.table` → partition key → version).
type InputVersions = BTreeMap<String, BTreeMap<String, u64>>;

/// The snapshots a run read: every input's definition and newest state, by `db.table`.
type Snapshots = BTreeMap<String, (Arc<TableDef>, Option<TableState>)>;

/// Runs `job` over the tables of `engine` as run `run_id`, calling `hook` after each commit.
/// In merge mode the run's staged rows are removed when it ends, whatever the outcome.
pub async fn execute_job(
    engine: &Engine,
    job: &Job,
    options: &JobOptions,
    run_id: &str,
    hook: &dyn CommitHook,
) -> Result<JobReport> {
    let result = execute(engine, job, options, run_id, hook).await;
    // Only a merge that did work can have staged rows.
    let up_to_date = matches!(&result, Ok(report) if report.mode.is_none());
    if job.write_mode == WriteMode::Merge && !up_to_date {
        remove_staging(&engine.catalog().warehouse, run_id).await;
    }
    result
}

async fn execute(
    engine: &Engine,
    job: &Job,
    options: &JobOptions,
    run_id: &str,
    hook: &dyn CommitHook,
) -> Result<JobReport> {
    let catalog = engine.catalog();
    let output = Output::read(catalog, job).await?;
    let snapshots = read_inputs(catalog, job).await?;
    let current: InputVersions =
        snapshots.iter().map(|(name, (_, state))| (name.clone(), partition_versions(state.as_ref()))).collect();
    let recompute = decide(job, output.bookmark.as_ref(), &current, options.full.as_deref());
    tracing::debug!(job = %job.name, ?recompute, "planned run");
    let mut report =
        JobReport { job: job.name.clone(), run_id: run_id.to_string(), mode: None, counts: JobCounts::default() };
    let changed = match recompute {
        Recompute::Nothing => return Ok(report),
        Recompute::Full(reason) => {
            report.mode = Some(format!("full ({reason})"));
            None
        }
        Recompute::Partitions(changed) => {
            report.mode = Some("incremental".into());
            Some(changed)
        }
    };
    let overrides = pin_inputs(catalog, job, &snapshots, changed.as_ref(), &mut report.counts);
    let ctx =
        engine.session_with(&job_engine_options(options, report.counts.rows_in, engine.task_slots()), overrides)?;
    let streams = run_sql(&ctx, job).await?;

    let targets = Targets::read(catalog, job, output, changed.is_none()).await?;
    let written = write_result(&ctx, catalog, job, &targets, run_id, streams).await?;
    let bookmark = Bookmark { fingerprint: job.fingerprint.clone(), run_id: run_id.to_string(), inputs: current };
    commit(catalog, job, targets, written, bookmark, hook, &mut report.counts).await?;
    Ok(report)
}

/// The output table property that holds `job`'s bookmark.
fn bookmark_key(job: &Job) -> String {
    format!("{BOOKMARK_PREFIX}{}", job.name)
}

/// The job's output table as the run found it, with the bookmark of its last run.
struct Output {
    def: Arc<TableDef>,
    log: TableLog,
    state: Option<TableState>,
    bookmark: Option<Bookmark>,
}

impl Output {
    async fn read(catalog: &Catalog, job: &Job) -> Result<Output> {
        let def = catalog.table(&job.output)?.clone();
        let log = catalog.log(&def);
        let state = log.latest().await?;
        let bookmark = state
            .as_ref()
            .and_then(|s| s.properties.get(&bookmark_key(job)))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        Ok(Output { def, log, state, bookmark })
    }
}

/// Where a run writes: the output, the quarantine, and the transaction both are published with.
struct Targets {
    output: Output,
    quarantine: Option<QuarantineTarget>,
    txn: Transaction,
    /// A full run replaces every partition; an incremental one only those it writes.
    full: bool,
}

/// The quarantine table as the run found it, and the result column that sends a row there.
struct QuarantineTarget {
    def: Arc<TableDef>,
    state: Option<TableState>,
    reason_column: String,
}

impl Targets {
    async fn read(catalog: &Catalog, job: &Job, output: Output, full: bool) -> Result<Targets> {
        let txn = Transaction::on(output.state.as_ref(), format!("job {}", job.name), Utc::now());
        let quarantine = match &job.quarantine {
            Some(q) => {
                let def = catalog.table(&q.table)?.clone();
                let state = catalog.log(&def).latest().await?;
                Some(QuarantineTarget { def, state, reason_column: q.reason_column.clone() })
            }
            None => None,
        };
        Ok(Targets { output, quarantine, txn, full })
    }
}

/// The newest snapshot of every input.
async fn read_inputs(catalog: &Catalog, job: &Job) -> Result<Snapshots> {
    let mut snapshots = BTreeMap::new();
    for input in &job.inputs {
        let def = catalog.table(input)?.clone();
        let state = catalog.log(&def).latest().await?;
        snapshots.insert(input.clone(), (def, state));
    }
    Ok(snapshots)
}

/// Every input pinned to the snapshot the run read — the incremental input showing only the
/// `changed` partitions when given — so the bookmark records exactly what the SQL saw. Counts
/// the partitions and rows shown into `counts`.
fn pin_inputs(
    catalog: &Catalog,
    job: &Job,
    snapshots: &Snapshots,
    changed: Option<&BTreeSet<String>>,
    counts: &mut JobCounts,
) -> Overrides {
    let mut overrides: Overrides = HashMap::new();
    for (name, (def, state)) in snapshots {
        let only = changed.filter(|_| Some(name) == job.incremental_input.as_ref()).cloned();
        for (key, partition) in state.iter().flat_map(|s| s.partitions.iter()) {
            if only.as_ref().is_none_or(|only| only.contains(key)) {
                counts.rows_in += partition.rows();
                counts.inputs.push(match key.is_empty() {
                    true => name.clone(),
                    false => format!("{name}/{key}"),
                });
            }
        }
        let pin = Pin { state: state.clone(), only };
        overrides.insert(name.clone(), Arc::new(RegistryTable::pinned(def.clone(), &catalog.warehouse, pin)));
    }
    overrides
}

/// The engine options of a run reading `rows_in` rows: large batches and as many partitions as
/// the input fills, unless a memory limit asks for DataFusion's defaults.
fn job_engine_options(options: &JobOptions, rows_in: u64, slots: usize) -> EngineOptions {
    let mut engine = options.engine.clone();
    if engine.memory_limit.is_none() {
        engine.batch_size.get_or_insert(JOB_BATCH_SIZE);
        engine.target_partitions.get_or_insert(parallelism(rows_in, slots));
    }
    engine
}

/// Plans and starts the job's SQL (a plain query: no DDL, DML or other statements).
async fn run_sql(ctx: &SessionContext, job: &Job) -> Result<Vec<SendableRecordBatchStream>> {
    let only_queries = datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = crate::engine::athena::sql(ctx, &job.sql, only_queries)
        .await
        .with_context(|| format!("planning {}", job.sql_path.display()))?;
    let frame = match frame.task_ctx().session_config().batch_size() == JOB_BATCH_SIZE && streams(frame.logical_plan())
    {
        true => {
            let (mut state, plan) = frame.into_parts();
            let config = std::mem::take(state.config_mut());
            *state.config_mut() = config.with_batch_size(STREAMING_BATCH_SIZE);
            datafusion::dataframe::DataFrame::new(state, plan)
        }
        false => frame,
    };
    frame.execute_stream_partitioned().await.with_context(|| format!("running {}", job.sql_path.display()))
}

/// Whether a plan neither sorts, aggregates nor computes windows anywhere.
fn streams(plan: &datafusion::logical_expr::LogicalPlan) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let mut streams = true;
    let _ = plan.apply_with_subqueries(|node| {
        if matches!(
            node,
            LogicalPlan::Sort(_) | LogicalPlan::Aggregate(_) | LogicalPlan::Window(_) | LogicalPlan::Distinct(_)
        ) {
            streams = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    streams
}

/// Writes the result streams into the output (and quarantine) under the commit's prefix. In an
/// incremental merge, rows of partitions the output already has are staged first, then merged
/// with the existing rows and written like the rest.
async fn write_result(
    ctx: &SessionContext,
    catalog: &Catalog,
    job: &Job,
    targets: &Targets,
    run_id: &str,
    streams: Vec<SendableRecordBatchStream>,
) -> Result<Vec<Writers>> {
    let (output, txn) = (&targets.output, &targets.txn);
    let hold: BTreeSet<String> = match (job.write_mode, &output.state, targets.full) {
        (WriteMode::Merge, Some(state), false) => state.partitions.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    // Writers for the job's result (staging held partitions, quarantine) or for a merged result.
    let writers = |hold: &BTreeSet<String>, with_quarantine: bool| {
        let output_def = output.def.clone();
        let quarantine =
            targets.quarantine.as_ref().filter(|_| with_quarantine).map(|q| (q.def.clone(), q.reason_column.clone()));
        let hold = hold.clone();
        let commit_id = txn.commit_id.clone();
        let staging = staging_prefix(run_id);
        move |index: usize| Writers {
            output: TableWriter::new(catalog, output_def.clone(), &commit_id, &staging, hold.clone(), index),
            quarantine: quarantine.as_ref().map(|(def, reason)| {
                (TableWriter::new(catalog, def.clone(), &commit_id, &staging, BTreeSet::new(), index), reason.clone())
            }),
        }
    };
    let started = std::time::Instant::now();
    let bar = crate::progress::rows(format!("job {}", job.name));
    let mut written = write_partitioned(streams, writers(&hold, true), &bar).await?;
    let staged: Vec<NewPartition> = written.iter_mut().flat_map(|w| std::mem::take(&mut w.output.staged)).collect();
    if !staged.is_empty() {
        let staged = staged_state(&output.def, &output.log, &txn.commit_id, staged);
        let merged = merge(ctx, job, &output.def, output.state.as_ref(), staged, &catalog.warehouse).await?;
        // The merged partitions were held back above, so their files are new names here; the
        // merge reads rows already checked, so it has no quarantine.
        written.extend(write_partitioned(merged, writers(&BTreeSet::new(), false), &bar).await?);
    }
    bar.finish_and_clear();
    tracing::debug!(job = %job.name, elapsed = ?started.elapsed(), "result written");
    Ok(written)
}

/// Publishes what the writers finished: the quarantine first, then the output with the new
/// bookmark.
async fn commit(
    catalog: &Catalog,
    job: &Job,
    targets: Targets,
    written: Vec<Writers>,
    bookmark: Bookmark,
    hook: &dyn CommitHook,
    counts: &mut JobCounts,
) -> Result<()> {
    let Targets { output, quarantine, mut txn, full } = targets;
    let (outputs, quarantines): (Vec<TableWriter>, Vec<Option<TableWriter>>) =
        written.into_iter().map(|w| (w.output, w.quarantine.map(|(q, _)| q))).unzip();
    // The quarantine is committed first: a run killed between the two commits leaves the
    // output and its bookmark as they were, so the next run redoes the work and replaces the
    // quarantine's partitions rather than adding to them.
    if let Some(q) = &quarantine {
        let mut q_txn = Transaction::on(q.state.as_ref(), format!("job {} (quarantine)", job.name), txn.at);
        q_txn.commit_id = txn.commit_id.clone();
        let writers = quarantines.into_iter().flatten().collect();
        counts.rows_rejected = commit_output(catalog, &q.def, writers, full, q_txn, hook, counts).await?;
    }
    txn.properties.insert(bookmark_key(job), serde_json::to_value(&bookmark).expect("bookmarks serialise"));
    counts.rows_out = commit_output(catalog, &output.def, outputs, full, txn, hook, counts).await?;
    Ok(())
}

/// Commits the files the writers of one table finished, on top of the snapshot `txn` is based
/// on (replacing everything in a full run), with `txn`'s operation, commit id and properties.
/// An incremental run that wrote nothing and sets no property commits nothing; a commit is
/// followed by `hook`. Returns the rows written.
async fn commit_output(
    catalog: &Catalog,
    def: &Arc<TableDef>,
    writers: Vec<TableWriter>,
    full: bool,
    mut txn: Transaction,
    hook: &dyn CommitHook,
    counts: &mut JobCounts,
) -> Result<u64> {
    let partitions = combine(writers.into_iter().flat_map(|w| w.finished));
    let files = || partitions.iter().flat_map(|p| &p.files);
    let rows = files().map(|f| f.rows).sum();
    counts.bytes_written += files().map(|f| f.size).sum::<u64>();
    if !full && partitions.is_empty() && txn.properties.is_empty() {
        return Ok(rows);
    }
    txn.replace_all = full;
    txn.changes = partitions.into_iter().map(Change::Replace).collect();
    let published = catalog.log(def).commit(&txn).await?;
    counts.commits.push(format!("{}@{}", def.qualified_name(), published.version));
    hook.committed(def).await;
    Ok(rows)
}

/// Partition key to version, for a snapshot.
fn partition_versions(state: Option<&TableState>) -> BTreeMap<String, u64> {
    state.map(|s| s.partitions.iter().map(|(k, p)| (k.clone(), p.version)).collect()).unwrap_or_default()
}

/// Compares what the inputs hold now with what the last run read.
fn decide(job: &Job, bookmark: Option<&Bookmark>, current: &InputVersions, full: Option<&str>) -> Recompute {
    let Some(bookmark) = bookmark else { return Recompute::Full("first run".into()) };
    if let Some(reason) = full {
        return Recompute::Full(reason.into());
    }
    if bookmark.fingerprint != job.fingerprint {
        return Recompute::Full("definition or SQL changed since the last run".into());
    }
    let empty = BTreeMap::new();
    let mut changed = BTreeSet::new();
    for (input, now) in current {
        let before = bookmark.inputs.get(input).unwrap_or(&empty);
        if Some(input) == job.incremental_input.as_ref() {
            if let Some(gone) = before.keys().find(|k| !now.contains_key(*k)) {
                return Recompute::Full(format!("partition {gone} of {input} was removed"));
            }
            changed.extend(now.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k.clone()));
        } else if before != now {
            return Recompute::Full(format!("{input} changed"));
        }
    }
    match (changed.is_empty(), job.write_mode) {
        (true, _) => Recompute::Nothing,
        (false, WriteMode::Overwrite) => Recompute::Full("new input; write_mode is overwrite".into()),
        (false, _) => Recompute::Partitions(changed),
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
) -> Result<Vec<Writers>> {
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
            Ok::<_, Error>((index, writers))
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
) -> Result<()> {
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let good = match writers.quarantine.as_mut() {
            Some((writer, reason)) => {
                let index = batch.schema().index_of(reason).map_err(|_| {
                    Error::msg(format!("the SQL result has no column `{reason}` (the quarantine reason column)"))
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
) -> Result<Vec<SendableRecordBatchStream>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(write_mode: WriteMode) -> Job {
        Job {
            name: "clean".into(),
            description: String::new(),
            path: "sql/clean.toml".into(),
            sql_path: "sql/clean.sql".into(),
            sql: "SELECT 1".into(),
            inputs: vec!["db.raw".into(), "db.regions".into()],
            incremental_input: Some("db.raw".into()),
            output: "db.cleaned".into(),
            partition_by: Vec::new(),
            write_mode,
            unique_key: Vec::new(),
            order_by: Vec::new(),
            quarantine: None,
            fingerprint: "f1".into(),
        }
    }

    fn versions(raw: &[(&str, u64)], regions: &[(&str, u64)]) -> InputVersions {
        let map = |parts: &[(&str, u64)]| parts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        [("db.raw".to_string(), map(raw)), ("db.regions".to_string(), map(regions))].into()
    }

    fn bookmark(inputs: InputVersions) -> Bookmark {
        Bookmark { fingerprint: "f1".into(), run_id: "r1".into(), inputs }
    }

    #[test]
    fn only_new_and_changed_partitions_of_the_incremental_input_are_recomputed() {
        let job = job(WriteMode::Merge);
        let before = bookmark(versions(&[("d=1", 1), ("d=2", 2)], &[("", 1)]));
        let same = versions(&[("d=1", 1), ("d=2", 2)], &[("", 1)]);
        assert_eq!(decide(&job, Some(&before), &same, None), Recompute::Nothing);

        let grown = versions(&[("d=1", 1), ("d=2", 3), ("d=3", 3)], &[("", 1)]);
        let expected = BTreeSet::from(["d=2".to_string(), "d=3".to_string()]);
        assert_eq!(decide(&job, Some(&before), &grown, None), Recompute::Partitions(expected));
    }

    #[test]
    fn anything_else_recomputes_everything_and_says_why() {
        let job = job(WriteMode::Merge);
        let before = bookmark(versions(&[("d=1", 1), ("d=2", 2)], &[("", 1)]));
        let full = |job: &Job, bookmark: Option<&Bookmark>, now: &InputVersions, asked: Option<&str>| match decide(
            job, bookmark, now, asked,
        ) {
            Recompute::Full(reason) => reason,
            other => panic!("expected a full run, got {other:?}"),
        };
        let now = versions(&[("d=1", 1), ("d=2", 2)], &[("", 1)]);
        assert_eq!(full(&job, None, &now, None), "first run");
        assert_eq!(full(&job, Some(&before), &now, Some("--full")), "--full");
        let changed_sql = Bookmark { fingerprint: "f0".into(), ..before.clone() };
        assert_eq!(full(&job, Some(&changed_sql), &now, None), "definition or SQL changed since the last run");
        let regions = versions(&[("d=1", 1), ("d=2", 2)], &[("", 2)]);
        assert_eq!(full(&job, Some(&before), &regions, None), "db.regions changed");
        let removed = versions(&[("d=2", 2)], &[("", 1)]);
        assert_eq!(full(&job, Some(&before), &removed, None), "partition d=1 of db.raw was removed");
        let grown = versions(&[("d=1", 1), ("d=2", 2), ("d=3", 3)], &[("", 1)]);
        assert_eq!(
            full(&self::job(WriteMode::Overwrite), Some(&before), &grown, None),
            "new input; write_mode is overwrite"
        );
    }

    #[test]
    fn small_inputs_run_in_fewer_partitions_than_slots() {
        assert_eq!(parallelism(0, 2), 1);
        assert_eq!(parallelism(ROWS_PER_TASK, 2), 1);
        assert_eq!(parallelism(ROWS_PER_TASK + 1, 2), 2);
        assert_eq!(parallelism(u64::MAX, 2), 2);
        // A cluster's 16 partitions: as many as the input fills.
        assert_eq!(parallelism(5 * ROWS_PER_TASK, 16), 5);
        assert_eq!(parallelism(u64::MAX, 16), 16);
        assert_eq!(parallelism(u64::MAX, 0), 1);
        let limited =
            JobOptions { engine: EngineOptions { memory_limit: Some(1 << 30), ..Default::default() }, full: None };
        let options = job_engine_options(&limited, 10 * ROWS_PER_TASK, 2);
        assert_eq!((options.batch_size, options.target_partitions), (None, None), "a limit keeps the defaults");
    }

    #[tokio::test]
    async fn plans_that_sort_aggregate_or_rank_keep_the_larger_batches() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (id INT, region VARCHAR, spent DOUBLE) AS VALUES (1, 'EU', 2.0)").await.unwrap();
        ctx.sql("CREATE TABLE r (code VARCHAR, name VARCHAR) AS VALUES ('EU', 'Europe')").await.unwrap();
        let streams = |sql: &'static str| {
            let ctx = ctx.clone();
            async move { super::streams(ctx.sql(sql).await.unwrap().logical_plan()) }
        };
        assert!(streams("SELECT id, spent * 2 AS s FROM t LEFT JOIN r ON r.code = t.region WHERE id > 0").await);
        assert!(!streams("SELECT id FROM t ORDER BY spent").await);
        assert!(!streams("SELECT region, sum(spent) FROM t GROUP BY region").await);
        assert!(!streams("SELECT id, row_number() OVER (PARTITION BY region ORDER BY spent) FROM t").await);
        assert!(!streams("SELECT DISTINCT region FROM t").await);
        assert!(
            !streams("SELECT id FROM t WHERE spent > (SELECT avg(spent) FROM t)").await,
            "a subquery's aggregate counts"
        );
    }
}
