//! Run history: one record per job run and per ingest, kept in the warehouse.
//!
//! [`record`] wraps a unit of work: it records the start, runs the work with the run's id, and
//! records how it ended, so the work itself knows nothing of the history. A run writes
//! `_glaux/runs/<run-id>.json` when it starts (status `running`) and rewrites it when it ends
//! (`succeeded`, `up_to_date`, `failed`). A run that was killed has no end: it is
//! shown as `abandoned` when its process, recorded at the start (host, pid and the process's
//! start time, on Linux), is gone from this host, and as `running` when that cannot be known
//! (another host). Run ids are UUIDv7, so the names sort by start time. The records are the rows
//! of the system table `system.job_runs` and of `glaux job history`.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::catalog::state::new_commit_id;
use crate::error::{Categorize, Category, Error};
use crate::warehouse::Warehouse;

/// Why the run history could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store failed.
    #[error("run history {path}: {source}")]
    Store {
        /// the record
        path: String,
        /// what the store said
        source: object_store::Error,
    },
    /// A record is not what glaux wrote.
    #[error("run record {path} is corrupt: {reason}; remove it (it only describes a past run)")]
    Corrupt {
        /// the record
        path: String,
        /// what is wrong
        reason: String,
    },
}

impl Categorize for HistoryError {
    fn category(&self) -> Category {
        match self {
            HistoryError::Store { .. } => Category::Io,
            HistoryError::Corrupt { .. } => Category::Data,
        }
    }
}

/// A unit of work to record: what it is, and the inputs to name if it fails.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Job or ingest.
    pub kind: RunKind,
    /// The job's name, or what an ingest loads.
    pub name: String,
    /// Inputs known before the work starts (files to load), recorded if it fails.
    pub inputs: Vec<String>,
    /// What started the work, when not a person: the scheduled run (`schedule:<run id>`).
    pub trigger: Option<String>,
}

/// Runs `work` as a recorded run: the start is recorded before `work` is given the run's id,
/// and the end after it returns, with the status and counts `outcome` reads from its result,
/// or the error on one line. Returns the run id with the result.
pub async fn record<T, Fut>(
    warehouse: &Warehouse,
    unit: Unit,
    work: impl FnOnce(String) -> Fut,
    outcome: impl FnOnce(&T) -> (RunStatus, RunCounts),
) -> Result<(String, T), Error>
where
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let run = Run::start(warehouse, unit.kind, &unit.name, unit.trigger.clone()).await?;
    let run_id = run.id().to_string();
    let meter = Meter::start(warehouse);
    let result = work(run_id.clone()).await;
    let usage = meter.finish(warehouse);
    match result {
        Ok(result) => {
            let (status, counts) = outcome(&result);
            run.finish(status, counts, usage, None).await;
            Ok((run_id, result))
        }
        Err(error) => {
            let counts = RunCounts { inputs: unit.inputs, ..RunCounts::default() };
            run.finish(RunStatus::Failed, counts, usage, Some(error.line())).await;
            Err(error)
        }
    }
}

/// Measures what a run in this process uses, from its start.
struct Meter {
    cpu: f64,
    io: crate::warehouse::counted::IoCount,
}

impl Meter {
    fn start(warehouse: &Warehouse) -> Meter {
        crate::usage::reset_peak_memory();
        Meter { cpu: crate::usage::cpu_seconds(), io: warehouse.io() }
    }

    fn finish(self, warehouse: &Warehouse) -> RunUsage {
        let io = warehouse.io().since(self.io);
        RunUsage {
            cpu_s: round_ms((crate::usage::cpu_seconds() - self.cpu).max(0.0)),
            peak_memory_bytes: crate::usage::peak_memory(),
            store_requests: io.requests,
            store_bytes_read: io.bytes_read,
            store_bytes_written: io.bytes_written,
        }
    }
}

/// Seconds to the millisecond, as the records keep them.
pub fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// What a run used: the process's CPU time and peak memory while it ran, and its calls on the
/// warehouse's object store. Runs in one process one after another are measured apart; runs
/// that overlap in one process share the process's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunUsage {
    /// CPU seconds, user plus system.
    pub cpu_s: f64,
    /// Highest resident memory, bytes.
    pub peak_memory_bytes: u64,
    /// Calls on the object store (a listing counts once).
    pub store_requests: u64,
    /// Bytes fetched from the object store.
    pub store_bytes_read: u64,
    /// Bytes put to the object store (data, rejects, commits, records).
    pub store_bytes_written: u64,
}

impl RunUsage {
    /// The figures of runs that ran one after another: times and bytes add up, the peak is the
    /// highest.
    pub fn add(&mut self, other: &RunUsage) {
        self.cpu_s += other.cpu_s;
        self.peak_memory_bytes = self.peak_memory_bytes.max(other.peak_memory_bytes);
        self.store_requests += other.store_requests;
        self.store_bytes_read += other.store_bytes_read;
        self.store_bytes_written += other.store_bytes_written;
    }
}

/// What kind of work a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `glaux job run`
    Job,
    /// `glaux ingest` or the load step of `glaux run`
    Ingest,
    /// A `[[schedule]]` entry run by `glaux schedule`: its command's own runs name it as their
    /// trigger.
    Schedule,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            RunKind::Job => "job",
            RunKind::Ingest => "ingest",
            RunKind::Schedule => "schedule",
        }
    }
}

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished: still running, or killed.
    Running,
    /// Committed its output.
    Succeeded,
    /// Found nothing new to do.
    UpToDate,
    /// Stopped with an error; nothing it wrote became visible.
    Failed,
    /// Never finished, and the process that ran it is gone (killed); nothing it wrote became
    /// visible. Never stored: derived when the record is read.
    Abandoned,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::UpToDate => "up_to_date",
            RunStatus::Failed => "failed",
            RunStatus::Abandoned => "abandoned",
        }
    }
}

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// UUIDv7, hyphen-free.
    pub run_id: String,
    /// Job or ingest.
    pub kind: RunKind,
    /// The job's name, or the table an ingest loaded.
    pub name: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub status: RunStatus,
    /// What it read and wrote (stored as top-level fields of the record).
    #[serde(flatten)]
    pub counts: RunCounts,
    /// The error, one line, when it failed.
    pub error: Option<String>,
    /// What started it, when not a person (`schedule:<run id>`; a scheduled run's own record
    /// holds its fire time, `cron:<time>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// What it used (zero in records written before glaux measured it).
    #[serde(default)]
    pub usage: RunUsage,
    /// The process running it, where that can be told (Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

/// The process a run ran in: enough to tell later whether it is still alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// The host's name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), so a
    /// reused pid is not taken for the run's process.
    pub start_ticks: u64,
}

impl Process {
    /// This process, on Linux.
    fn current() -> Option<Process> {
        let pid = std::process::id();
        Some(Process { host: host_name()?, pid, start_ticks: start_ticks(pid)? })
    }

    /// Whether the run's process is known to be gone: same host, and no process with its pid
    /// and start time.
    fn is_gone(&self) -> bool {
        host_name().is_some_and(|host| host == self.host) && start_ticks(self.pid) != Some(self.start_ticks)
    }
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_string())
}

/// Field 22 of `/proc/<pid>/stat`, counted after the command name (which may hold spaces).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Counts a run reports when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Input partitions read (`db.table/key=value`) or files loaded.
    pub inputs: Vec<String>,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written to the output.
    pub rows_out: u64,
    /// Rows sent to a rejects or quarantine table.
    pub rows_rejected: u64,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Output table versions committed (`db.table@7`).
    pub commits: Vec<String>,
}

/// A run in progress; [`Run::finish`] records its end.
#[derive(Debug)]
pub struct Run {
    warehouse: Warehouse,
    record: RunRecord,
}

impl Run {
    /// Records the start of a run.
    pub async fn start(
        warehouse: &Warehouse,
        kind: RunKind,
        name: &str,
        trigger: Option<String>,
    ) -> Result<Run, HistoryError> {
        let record = RunRecord {
            run_id: new_commit_id(),
            kind,
            name: name.to_string(),
            started_at: Utc::now(),
            ended_at: None,
            status: RunStatus::Running,
            counts: RunCounts::default(),
            error: None,
            trigger,
            usage: RunUsage::default(),
            process: Process::current(),
        };
        let run = Run { warehouse: warehouse.clone(), record };
        run.write().await?;
        Ok(run)
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.record.run_id
    }

    /// Records the end of the run. A failure to write the record is logged, not returned: the
    /// run's own outcome is what the caller reports.
    pub async fn finish(
        mut self,
        status: RunStatus,
        counts: RunCounts,
        usage: RunUsage,
        error: Option<String>,
    ) -> RunRecord {
        let r = &mut self.record;
        r.ended_at = Some(Utc::now());
        r.status = status;
        r.counts = counts;
        r.usage = usage;
        r.error = error;
        if let Err(e) = self.write().await {
            tracing::warn!(run = %self.record.run_id, error = %e, "could not record the end of the run");
        }
        self.record
    }

    async fn write(&self) -> Result<(), HistoryError> {
        let path = record_path(&self.warehouse, &self.record.run_id);
        let body = serde_json::to_vec_pretty(&self.record).expect("run records serialise");
        self.warehouse
            .store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|source| HistoryError::Store { path: path.to_string(), source })?;
        Ok(())
    }
}

fn record_path(warehouse: &Warehouse, run_id: &str) -> object_store::path::Path {
    warehouse.state_path(&format!("runs/{run_id}.json"))
}

/// Every recorded run, oldest first. A record that cannot be read is an error naming it.
pub async fn list(warehouse: &Warehouse) -> Result<Vec<RunRecord>, HistoryError> {
    list_after(warehouse, None).await
}

/// The runs that started after run `after` (ids sort by start time), or every run; oldest
/// first.
pub async fn list_after(warehouse: &Warehouse, after: Option<&str>) -> Result<Vec<RunRecord>, HistoryError> {
    let prefix = warehouse.state_path("runs");
    let listing = match after {
        Some(run_id) => warehouse.store().list_with_offset(Some(&prefix), &record_path(warehouse, run_id)),
        None => warehouse.store().list(Some(&prefix)),
    };
    let objects: Vec<_> =
        listing.try_collect().await.map_err(|source| HistoryError::Store { path: prefix.to_string(), source })?;
    let mut paths: Vec<_> = objects.into_iter().map(|o| o.location).filter(|p| p.extension() == Some("json")).collect();
    paths.sort();
    let mut records = Vec::with_capacity(paths.len());
    for path in paths {
        let read = crate::warehouse::get_optional(warehouse.store().as_ref(), &path).await;
        let read = read.map_err(|source| HistoryError::Store { path: path.to_string(), source })?;
        let Some(bytes) = read else { continue };
        let mut record: RunRecord = serde_json::from_slice(&bytes)
            .map_err(|e| HistoryError::Corrupt { path: path.to_string(), reason: e.to_string() })?;
        if record.status == RunStatus::Running && record.process.as_ref().is_some_and(Process::is_gone) {
            record.status = RunStatus::Abandoned;
        }
        records.push(record);
    }
    Ok(records)
}

/// The schema of `system.job_runs`.
pub fn schema() -> SchemaRef {
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("started_at", time(), false),
        Field::new("ended_at", time(), true),
        Field::new("duration_s", DataType::Float64, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("inputs", DataType::Utf8, false),
        Field::new("rows_in", DataType::UInt64, false),
        Field::new("rows_out", DataType::UInt64, false),
        Field::new("rows_rejected", DataType::UInt64, false),
        Field::new("bytes_written", DataType::UInt64, false),
        Field::new("commits", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("trigger", DataType::Utf8, true),
        Field::new("cpu_s", DataType::Float64, false),
        Field::new("peak_memory_bytes", DataType::UInt64, false),
        Field::new("store_requests", DataType::UInt64, false),
        Field::new("store_bytes_read", DataType::UInt64, false),
        Field::new("store_bytes_written", DataType::UInt64, false),
        Field::new("host", DataType::Utf8, true),
        Field::new("pid", DataType::UInt32, true),
    ]))
}

/// Runs as one batch of [`schema`]; list columns are joined with ", " so every client can
/// print them.
pub fn to_batch(records: &[RunRecord]) -> arrow::error::Result<RecordBatch> {
    let text = |f: &dyn Fn(&RunRecord) -> String| -> ArrayRef {
        Arc::new(StringArray::from(records.iter().map(f).collect::<Vec<_>>()))
    };
    let number = |f: &dyn Fn(&RunRecord) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from(records.iter().map(f).collect::<Vec<_>>()))
    };
    let micros = |t: &DateTime<Utc>| t.timestamp_micros();
    let columns: Vec<ArrayRef> = vec![
        text(&|r| r.run_id.clone()),
        text(&|r| r.kind.as_str().into()),
        text(&|r| r.name.clone()),
        Arc::new(
            TimestampMicrosecondArray::from(records.iter().map(|r| micros(&r.started_at)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from(
                records.iter().map(|r| r.ended_at.as_ref().map(micros)).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(arrow::array::Float64Array::from(
            records
                .iter()
                .map(|r| r.ended_at.map(|end| (end - r.started_at).num_milliseconds() as f64 / 1000.0))
                .collect::<Vec<_>>(),
        )),
        text(&|r| r.status.as_str().into()),
        text(&|r| r.counts.inputs.join(", ")),
        number(&|r| r.counts.rows_in),
        number(&|r| r.counts.rows_out),
        number(&|r| r.counts.rows_rejected),
        number(&|r| r.counts.bytes_written),
        text(&|r| r.counts.commits.join(", ")),
        Arc::new(StringArray::from(records.iter().map(|r| r.error.clone()).collect::<Vec<_>>())),
        Arc::new(StringArray::from(records.iter().map(|r| r.trigger.clone()).collect::<Vec<_>>())),
        Arc::new(arrow::array::Float64Array::from(records.iter().map(|r| r.usage.cpu_s).collect::<Vec<_>>())),
        number(&|r| r.usage.peak_memory_bytes),
        number(&|r| r.usage.store_requests),
        number(&|r| r.usage.store_bytes_read),
        number(&|r| r.usage.store_bytes_written),
        Arc::new(StringArray::from(
            records.iter().map(|r| r.process.as_ref().map(|p| p.host.clone())).collect::<Vec<_>>(),
        )),
        Arc::new(arrow::array::UInt32Array::from(
            records.iter().map(|r| r.process.as_ref().map(|p| p.pid)).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_alive_and_a_reused_pid_is_not_taken_for_it() {
        let me = Process::current().expect("Linux has /proc");
        assert!(!me.is_gone());
        let reused = Process { start_ticks: me.start_ticks + 1, ..me.clone() };
        assert!(reused.is_gone());
        let elsewhere = Process { host: format!("{}-elsewhere", me.host), start_ticks: 0, ..me };
        assert!(!elsewhere.is_gone(), "another host's process cannot be judged from here");
    }
}
