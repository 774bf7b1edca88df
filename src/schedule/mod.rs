//! `glaux schedule`: the project's `[[schedule]]` entries run on their cron patterns, in the
//! foreground (systemd and container friendly).
//!
//! - [`entry`]: the entries and `[scheduler]` settings, checked at start (file, entry, field).
//! - [`lease`]: no overlap — an entry runs under a lease in the warehouse, so two schedulers
//!   on one warehouse (one host or many) never run it at once; a crashed holder's lease expires.
//! - [`state`]: per entry, the last fire time taken, recent runs and the failure streak.
//! - [`runner`]: a run (a child glaux process with timeout, retries and backoff) and the loop
//!   that fires entries, catches up missed fire times (`catch_up`), and stops cleanly.
//! - [`metrics`]: heartbeats, Prometheus text endpoint, CloudWatch metrics.
//! - [`hooks`]: failure, recovery and lag alerts.
//!
//! The scheduler is a front end: it runs glaux command lines, each in its own process, and
//! records them in the run history (`system.job_runs`, kind `schedule`) and its heartbeats in
//! `system.heartbeats`.

pub mod entry;
pub mod hooks;
pub mod lease;
pub mod metrics;
pub mod runner;
pub mod state;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};

use self::entry::{EntryError, Schedule};
use self::lease::{Holder, LeaseError};
use self::runner::{Launcher, Outcome, Runner, Scheduler};
use crate::error::{Categorize, Category};
use crate::history::HistoryError;
use crate::project::Project;

/// Why the scheduler could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A bad entry or setting.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The lease or entry state could not be read or written.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The run history could not be written.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// No entry of that name.
    #[error("no [[schedule]] entry named `{name}` in glaux.toml; the entries are: {known}")]
    Unknown {
        /// as asked
        name: String,
        /// the names there are
        known: String,
    },
    /// Another scheduler is running the entry.
    #[error("entry `{entry}` is running on {holder} (lease until {until}); try again when that run ends")]
    Busy {
        /// the entry
        entry: String,
        /// who runs it
        holder: String,
        /// when the lease lapses unless renewed
        until: DateTime<Utc>,
    },
    /// The run ended without success.
    #[error("scheduled run of `{entry}` {status}: {error}")]
    RunFailed {
        /// the entry
        entry: String,
        /// how it ended
        status: String,
        /// the last error line
        error: String,
    },
    /// The Prometheus address could not be bound.
    #[error("cannot serve metrics on {address}: {source}; change [scheduler.prometheus] listen")]
    Listen {
        /// the address
        address: String,
        /// what the system said
        source: std::io::Error,
    },
    /// Signals could not be installed.
    #[error("cannot install the stop signal handlers: {0}")]
    Signals(std::io::Error),
}

impl Categorize for ScheduleError {
    fn category(&self) -> Category {
        match self {
            ScheduleError::Entry(_) | ScheduleError::Unknown { .. } | ScheduleError::Listen { .. } => Category::Usage,
            ScheduleError::Lease(LeaseError::Corrupt { .. }) => Category::Data,
            ScheduleError::Lease(_) | ScheduleError::History(_) | ScheduleError::Signals(_) => Category::Io,
            ScheduleError::Busy { .. } => Category::Conflict,
            ScheduleError::RunFailed { .. } => Category::Data,
        }
    }
}

/// The project's schedule, checked.
pub fn load(project: &Project) -> Result<Schedule, ScheduleError> {
    let file = project.settings.project.join(crate::config::CONFIG_FILE);
    Ok(Schedule::check(&file, &project.settings.scheduler, &project.settings.schedule)?)
}

/// This process as a lease holder.
fn holder() -> Holder {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".to_string());
    Holder { scheduler_id: crate::catalog::state::new_commit_id(), host, pid: std::process::id() }
}

async fn runner(project: &Project, schedule: &Schedule, launcher: Launcher) -> Runner {
    let cloudwatch = match &schedule.settings.cloudwatch {
        Some(config) => Some(metrics::CloudWatch::connect(config).await),
        None => None,
    };
    let names: Vec<String> = schedule.entries.iter().map(|e| e.name.clone()).collect();
    Runner {
        warehouse: project.catalog.warehouse.clone(),
        holder: holder(),
        launcher,
        lease: chrono::Duration::from_std(schedule.lease).unwrap_or(chrono::Duration::seconds(60)),
        metrics: metrics::Metrics::new(&names),
        cloudwatch,
    }
}

/// A channel that receives one message per SIGTERM or SIGINT.
fn stop_signals() -> Result<tokio::sync::mpsc::Receiver<()>, ScheduleError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ScheduleError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ScheduleError::Signals)?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if tx.send(()).await.is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// `glaux schedule`: runs the entries until SIGTERM or SIGINT.
pub async fn serve(project: Project, launcher: Launcher) -> Result<(), ScheduleError> {
    let schedule = load(&project)?;
    let stop = stop_signals()?;
    let runner = runner(&project, &schedule, launcher).await;
    if let Some(prometheus) = &schedule.settings.prometheus {
        let listener = tokio::net::TcpListener::bind(&prometheus.listen)
            .await
            .map_err(|source| ScheduleError::Listen { address: prometheus.listen.clone(), source })?;
        eprintln!("glaux schedule: metrics at http://{}/metrics", prometheus.listen);
        tokio::spawn(metrics::serve(listener, runner.metrics.clone()));
    }
    Scheduler { project, schedule, runner }.run(stop).await
}

/// `glaux schedule run NAME`: runs one entry now, under the same lease, retries, timeout, hooks
/// and records as a scheduled run.
pub async fn run_now(project: &Project, name: &str, launcher: Launcher) -> Result<state::RunSummary, ScheduleError> {
    let schedule = load(project)?;
    let entry = schedule
        .entry(name)
        .ok_or_else(|| ScheduleError::Unknown { name: name.to_string(), known: known(&schedule) })?;
    let mut stop = stop_signals()?;
    let runner = runner(project, &schedule, launcher).await;
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(None);
    let grace = schedule.shutdown_grace;
    tokio::spawn(async move {
        let mut first = true;
        while stop.recv().await.is_some() {
            let wait = if first { grace } else { std::time::Duration::ZERO };
            first = false;
            let _ = cancel_tx.send(Some(std::time::Instant::now() + wait));
        }
    });
    match runner::run_entry(&runner, entry, Utc::now(), cancel_rx).await? {
        Outcome::Busy(generation) => Err(ScheduleError::Busy {
            entry: name.to_string(),
            holder: generation.holder.to_string(),
            until: generation.expires_at,
        }),
        Outcome::Taken => Err(ScheduleError::Busy {
            entry: name.to_string(),
            holder: "another scheduler".to_string(),
            until: Utc::now(),
        }),
        Outcome::Ran(summary) if summary.status == "succeeded" => Ok(summary),
        Outcome::Ran(summary) => Err(ScheduleError::RunFailed {
            entry: name.to_string(),
            status: summary.status.replace('_', " "),
            error: summary.error.unwrap_or_default(),
        }),
    }
}

fn known(schedule: &Schedule) -> String {
    let names: Vec<&str> = schedule.entries.iter().map(|e| e.name.as_str()).collect();
    if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
}

/// A duration in the largest unit that divides it, as `glaux.toml` takes it (`50m`, `2h`, `90s`).
fn span(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn text(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `glaux schedule list`: each entry with its next `count` fire times.
pub fn listing(schedule: &Schedule, now: DateTime<Utc>, count: usize) -> arrow::error::Result<RecordBatch> {
    let e = &schedule.entries;
    let columns = vec![
        text(e.iter().map(|e| e.name.clone()).collect()),
        text(e.iter().map(|e| e.pattern.clone()).collect()),
        text(e.iter().map(|e| e.timezone.name().to_string()).collect()),
        text(e.iter().map(|e| e.run.clone()).collect()),
        text(e.iter().map(|e| e.next_n(now, count).iter().map(time).collect::<Vec<_>>().join(", ")).collect()),
        text(e.iter().map(|e| e.timeout.map(span).unwrap_or_default()).collect()),
        Arc::new(UInt32Array::from(e.iter().map(|e| e.retries).collect::<Vec<_>>())),
        text(e.iter().map(|e| if e.catch_up == entry::CatchUp::Once { "once" } else { "skip" }.to_string()).collect()),
    ];
    let fields = [
        ("entry", DataType::Utf8),
        ("cron", DataType::Utf8),
        ("timezone", DataType::Utf8),
        ("run", DataType::Utf8),
        ("next_fires_utc", DataType::Utf8),
        ("timeout", DataType::Utf8),
        ("retries", DataType::UInt32),
        ("catch_up", DataType::Utf8),
    ];
    let schema = Schema::new(fields.into_iter().map(|(n, t)| Field::new(n, t, false)).collect::<Vec<_>>());
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// `glaux schedule status`: each entry's last runs, failure streak, lease and next fire time.
pub async fn status(project: &Project, schedule: &Schedule, runs: usize) -> Result<RecordBatch, crate::Error> {
    let wh = &project.catalog.warehouse;
    let now = Utc::now();
    let mut rows: Vec<[String; 10]> = Vec::new();
    for entry in &schedule.entries {
        let state = state::read(wh, &entry.name).await?;
        let lease = match lease::current(wh, &entry.name).await? {
            Some(g) if !g.is_free(now) => format!("held by {} until {}", g.holder, time(&g.expires_at)),
            _ => "free".to_string(),
        };
        let next = entry.next_after(now).map(|t| time(&t)).unwrap_or_default();
        let recent: Vec<_> = state.recent.iter().rev().take(runs.max(1)).collect();
        if recent.is_empty() {
            rows.push([
                entry.name.clone(),
                String::new(),
                String::new(),
                String::new(),
                "never ran".into(),
                String::new(),
                String::new(),
                state.consecutive_failures.to_string(),
                lease.clone(),
                next.clone(),
            ]);
        }
        for run in recent {
            rows.push([
                entry.name.clone(),
                run.run_id.clone(),
                time(&run.fire),
                time(&run.started_at),
                run.status.clone(),
                format!("{:.1}", (run.ended_at - run.started_at).num_milliseconds() as f64 / 1000.0),
                run.attempts.to_string(),
                state.consecutive_failures.to_string(),
                lease.clone(),
                next.clone(),
            ]);
        }
    }
    let names = [
        "entry",
        "run_id",
        "fire_time",
        "started_at",
        "status",
        "duration_s",
        "attempts",
        "consecutive_failures",
        "lease",
        "next_fire",
    ];
    let columns: Vec<ArrayRef> = (0..names.len()).map(|i| text(rows.iter().map(|r| r[i].clone()).collect())).collect();
    let schema = Schema::new(names.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect::<Vec<_>>());
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn spans_are_shown_as_glaux_toml_takes_them() {
        assert_eq!(span(Duration::from_secs(3000)), "50m");
        assert_eq!(span(Duration::from_secs(7200)), "2h");
        assert_eq!(span(Duration::from_secs(86_400 * 2)), "2d");
        assert_eq!(span(Duration::from_secs(90)), "90s");
        assert_eq!(span(Duration::ZERO), "0s");
    }
}
