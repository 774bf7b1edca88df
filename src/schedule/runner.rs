//! Running entries: one run of an entry under its lease ([`run_entry`]), and the scheduler loop
//! that fires entries on their cron patterns ([`Scheduler::run`]).
//!
//! Each attempt runs the entry's command line as a child process of the same glaux binary, in
//! its own process group and bound to die with the scheduler (so a killed scheduler leaves no
//! run behind that could overlap its successor's). The child records its own job and ingest
//! runs with the scheduled run as their trigger; the scheduled run's record (kind `schedule`)
//! adds up their rows and bytes and carries the child's CPU time and peak memory, which
//! `wait4` reports.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::entry::{CatchUp, Entry, Schedule};
use super::lease::{self, Acquired, Generation, Holder, Lease};
use super::metrics::{CloudWatch, Metrics, RunMetrics};
use super::state::{self, RunSummary};
use super::{ScheduleError, hooks};
use crate::heartbeats::{self, Heartbeat};
use crate::history::{self, RunCounts, RunKind, RunStatus, RunUsage};
use crate::project::Project;
use crate::warehouse::Warehouse;

/// How often a running child is looked at.
const POLL: Duration = Duration::from_millis(100);
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Wait before retrying a fire time whose lease another scheduler held.
const BUSY_RETRY: Duration = Duration::from_secs(1);
/// Wait before trying again a renewal the store refused.
const RENEW_RETRY: Duration = Duration::from_millis(500);
/// The lease of the lag check, which one scheduler at a time does.
const LAG_LEASE: &str = ".lag";

/// How the scheduler starts a run's command: this binary, with the scheduler's own project and
/// warehouse flags before the entry's arguments.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The glaux binary.
    pub exe: PathBuf,
    /// `--project DIR` and, when given, `--warehouse URL`.
    pub base_args: Vec<String>,
}

/// What the runs of one scheduler share.
#[derive(Debug, Clone)]
pub struct Runner {
    /// The warehouse holding leases, states and the run history.
    pub warehouse: Warehouse,
    /// This scheduler.
    pub holder: Holder,
    /// How commands start.
    pub launcher: Launcher,
    /// Lease duration.
    pub lease: chrono::Duration,
    /// In-memory figures.
    pub metrics: Metrics,
    /// CloudWatch, when configured.
    pub cloudwatch: Option<CloudWatch>,
}

/// How a scheduled run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The command exited 0.
    Succeeded,
    /// The command failed on every attempt.
    Failed,
    /// An attempt ran past the entry's timeout.
    TimedOut,
    /// The scheduler stopped and the run did not end within the grace period.
    Cancelled,
    /// The lease could not be kept, so the run was stopped before another could start.
    LeaseLost,
}

impl Ending {
    /// The name shown in status and passed to hooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Succeeded => "succeeded",
            Ending::Failed => "failed",
            Ending::TimedOut => "timed_out",
            Ending::Cancelled => "cancelled",
            Ending::LeaseLost => "lease_lost",
        }
    }
}

/// What became of a fire time.
#[derive(Debug)]
pub enum Outcome {
    /// Another scheduler holds the entry's lease.
    Busy(Generation),
    /// Another scheduler already took this fire time (or a later one).
    Taken,
    /// The run happened.
    Ran(RunSummary),
}

struct Attempt {
    ending: Ending,
    exit_code: Option<i32>,
    error: Option<String>,
    cpu_s: f64,
    peak_memory_bytes: u64,
}

/// Runs `entry` once for `fire` under its lease: takes the lease, claims the fire time in the
/// entry's state, runs the command (with retries and timeout), records the run, fires hooks,
/// and gives the lease back. `cancel` carries the time by which a stopping scheduler cancels.
pub async fn run_entry(
    runner: &Runner,
    entry: &Entry,
    fire: DateTime<Utc>,
    mut cancel: watch::Receiver<Option<Instant>>,
) -> Result<Outcome, ScheduleError> {
    let wh = &runner.warehouse;
    let mut lease = match lease::acquire(wh, &entry.name, &runner.holder, runner.lease).await? {
        Acquired::Held(lease) => lease,
        Acquired::Busy(generation) => return Ok(Outcome::Busy(generation)),
    };
    let result = run_holding(runner, entry, fire, &mut lease, &mut cancel).await;
    if let Err(error) = lease.release(wh).await {
        tracing::warn!(entry = %entry.name, %error, "could not release the lease; it expires by itself");
    }
    let (summary, hook) = match result? {
        Some(done) => done,
        None => return Ok(Outcome::Taken),
    };
    if let Some(hook) = hook {
        hooks::run(&hook, entry, &summary).await;
    }
    Ok(Outcome::Ran(summary))
}

/// The part of [`run_entry`] done while holding the lease; `None` when the fire time was taken.
async fn run_holding(
    runner: &Runner,
    entry: &Entry,
    fire: DateTime<Utc>,
    lease: &mut Lease,
    cancel: &mut watch::Receiver<Option<Instant>>,
) -> Result<Option<(RunSummary, Option<hooks::Hook>)>, ScheduleError> {
    let wh = &runner.warehouse;
    let mut entry_state = state::read(wh, &entry.name).await?;
    if entry_state.last_fire.is_some_and(|last| last >= fire) {
        return Ok(None);
    }
    entry_state.last_fire = Some(fire);
    state::write(wh, &entry.name, &entry_state).await?;

    let trigger = format!("cron:{}", fire.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let run = history::Run::start(wh, RunKind::Schedule, &entry.name, Some(trigger)).await?;
    let run_id = run.id().to_string();
    let started_at = Utc::now();
    runner.metrics.running(&entry.name, true);
    tracing::info!(entry = %entry.name, run = %run_id, %fire, "run starts: glaux {}", entry.run);

    let mut attempts = 0;
    let mut usage = RunUsage::default();
    let last = loop {
        attempts += 1;
        let attempt = attempt(runner, entry, &run_id, lease, cancel).await;
        usage.cpu_s = history::round_ms(usage.cpu_s + attempt.cpu_s);
        usage.peak_memory_bytes = usage.peak_memory_bytes.max(attempt.peak_memory_bytes);
        if attempt.ending != Ending::Failed && attempt.ending != Ending::TimedOut || attempts > entry.retries {
            break attempt;
        }
        let delay = entry.retry_delay.saturating_mul(1 << (attempts - 1).min(20)).min(MAX_BACKOFF);
        tracing::warn!(entry = %entry.name, attempt = attempts, "attempt failed; retrying in {:?}", delay);
        if let Some(ending) = hold_for(runner, lease, delay, cancel).await {
            break Attempt { ending, ..attempt };
        }
    };
    runner.metrics.running(&entry.name, false);

    // The command's own runs name this run as their trigger.
    let children = history::list_after(wh, Some(&run_id)).await.unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read the runs of the scheduled command");
        Vec::new()
    });
    let marker = format!("schedule:{run_id}");
    let mut counts = RunCounts::default();
    for child in children.iter().filter(|r| r.trigger.as_deref() == Some(marker.as_str())) {
        counts.inputs.extend(child.counts.inputs.iter().cloned());
        counts.rows_in += child.counts.rows_in;
        counts.rows_out += child.counts.rows_out;
        counts.rows_rejected += child.counts.rows_rejected;
        counts.bytes_written += child.counts.bytes_written;
        counts.commits.extend(child.counts.commits.iter().cloned());
        usage.store_requests += child.usage.store_requests;
        usage.store_bytes_read += child.usage.store_bytes_read;
        usage.store_bytes_written += child.usage.store_bytes_written;
    }
    let (rows, bytes) = (counts.rows_out, counts.bytes_written);
    let status = if last.ending == Ending::Succeeded { RunStatus::Succeeded } else { RunStatus::Failed };
    let record = run.finish(status, counts, usage, last.error.clone()).await;
    let ended_at = record.ended_at.unwrap_or_else(Utc::now);

    let summary = RunSummary {
        run_id,
        fire,
        started_at,
        ended_at,
        status: last.ending.as_str().to_string(),
        attempts,
        exit_code: last.exit_code,
        error: last.error,
        host: runner.holder.host.clone(),
    };
    let hook = if last.ending == Ending::Succeeded {
        let recovered = entry_state.failure_alerted;
        entry_state.consecutive_failures = 0;
        entry_state.failure_alerted = false;
        recovered.then(|| entry.hooks.on_recovery.clone().map(hooks::Hook::recovery)).flatten()
    } else {
        entry_state.consecutive_failures += 1;
        let due = entry_state.consecutive_failures >= entry.hooks.failure_threshold && !entry_state.failure_alerted;
        if due {
            entry_state.failure_alerted = true;
        }
        due.then(|| entry.hooks.on_failure.clone().map(hooks::Hook::failure)).flatten()
    }
    .map(|hook| hook.with_failures(entry_state.consecutive_failures));
    entry_state.push(summary.clone());
    state::write(wh, &entry.name, &entry_state).await?;

    let metrics = RunMetrics {
        entry: entry.name.clone(),
        succeeded: last.ending == Ending::Succeeded,
        duration_s: (ended_at - started_at).num_milliseconds() as f64 / 1000.0,
        rows,
        bytes,
        ended_at,
    };
    runner.metrics.run(&metrics);
    if let Some(cloudwatch) = &runner.cloudwatch {
        cloudwatch.run(&metrics).await;
    }
    tracing::info!(entry = %entry.name, run = %summary.run_id, status = summary.status, attempts, "run ended");
    Ok(Some((summary, hook)))
}

/// Keeps the lease for `wait`; `Some(ending)` if the wait was cut short by a stop or a lost lease.
async fn hold_for(
    runner: &Runner,
    lease: &mut Lease,
    wait: Duration,
    cancel: &mut watch::Receiver<Option<Instant>>,
) -> Option<Ending> {
    let until = Instant::now() + wait;
    let mut retry_at = Instant::now();
    while Instant::now() < until {
        if cancel.borrow().is_some() {
            return Some(Ending::Cancelled);
        }
        if let Some(ending) = keep_lease(runner, lease, &mut retry_at).await {
            return Some(ending);
        }
        tokio::time::sleep(POLL).await;
    }
    None
}

/// Renews the lease when a third of it has passed since it was last written; `Some(LeaseLost)`
/// when it is lost or about to lapse unrenewed. The due time follows the lease itself, not the
/// caller's clock, so the steps between taking the lease and starting the command (reading the
/// entry's state, recording the run) do not eat into the margin before [`Lease::must_stop_by`].
async fn keep_lease(runner: &Runner, lease: &mut Lease, retry_at: &mut Instant) -> Option<Ending> {
    let due = lease.generation().written_at + runner.lease / 3;
    if Utc::now() >= due && Instant::now() >= *retry_at {
        match lease.renew(&runner.warehouse).await {
            Ok(true) => {}
            Ok(false) => return Some(Ending::LeaseLost),
            Err(error) => {
                tracing::warn!(%error, "could not renew the lease; trying again");
                *retry_at = Instant::now() + RENEW_RETRY;
            }
        }
    }
    (Utc::now() >= lease.must_stop_by()).then_some(Ending::LeaseLost)
}

/// One attempt: the child process from start to exit, kept within its timeout, its lease and
/// the scheduler's stop.
async fn attempt(
    runner: &Runner,
    entry: &Entry,
    run_id: &str,
    lease: &mut Lease,
    cancel: &mut watch::Receiver<Option<Instant>>,
) -> Attempt {
    let failed = |error: String| Attempt {
        ending: Ending::Failed,
        exit_code: None,
        error: Some(error),
        cpu_s: 0.0,
        peak_memory_bytes: 0,
    };
    let child = match spawn(&runner.launcher, entry, run_id) {
        Ok(child) => child,
        Err(error) => return failed(format!("cannot start glaux {}: {error}", entry.run)),
    };
    let started = Instant::now();
    let mut retry_at = Instant::now();
    let mut stopped: Option<(Ending, String)> = None;
    let (status, usage) = loop {
        if let Some(done) = child.try_wait() {
            break done;
        }
        if stopped.is_none() {
            let cancel_at = *cancel.borrow();
            if entry.timeout.is_some_and(|t| started.elapsed() >= t) {
                let timeout = entry.timeout.unwrap_or_default();
                stopped = Some((Ending::TimedOut, format!("timed out after {}s and was cancelled", timeout.as_secs())));
            } else if cancel_at.is_some_and(|at| Instant::now() >= at) {
                stopped = Some((
                    Ending::Cancelled,
                    "cancelled: the scheduler was stopped and the run did not end within the shutdown grace".into(),
                ));
            } else if let Some(ending) = keep_lease(runner, lease, &mut retry_at).await {
                stopped = Some((ending, "cancelled: the entry's lease could not be renewed".into()));
            }
            if stopped.is_some() {
                child.kill();
            }
        }
        tokio::time::sleep(POLL).await;
    };
    let last_line = child.finish();
    let (cpu_s, peak_memory_bytes) = crate::usage::of_child(&usage);
    let exit_code = decode_status(status);
    let (ending, error) = match stopped {
        Some((ending, message)) => (ending, Some(message)),
        None if exit_code == Some(0) => (Ending::Succeeded, None),
        None => {
            let line = last_line.unwrap_or_else(|| format!("exited with {}", describe_status(status)));
            (Ending::Failed, Some(line))
        }
    };
    Attempt { ending, exit_code, error, cpu_s, peak_memory_bytes }
}

/// A running command, its output forwarded line by line with the entry's name in front.
struct Child {
    pid: libc::pid_t,
    forwarders: Vec<std::thread::JoinHandle<()>>,
    last_error_line: Arc<Mutex<Option<String>>>,
}

fn spawn(launcher: &Launcher, entry: &Entry, run_id: &str) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(&launcher.exe);
    command
        .args(&launcher.base_args)
        .args(&entry.args)
        .env("GLAUX_TRIGGER", format!("schedule:{run_id}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a Ctrl-C at the scheduler's terminal reaches the scheduler,
        // which decides when the run stops.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // Die with the scheduler, so a killed scheduler leaves no run behind.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let last_error_line = Arc::new(Mutex::new(None));
    let prefix = format!("[{}] ", entry.name);
    let mut forwarders = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let prefix = prefix.clone();
        forwarders.push(std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{prefix}{line}");
                let _ = out.flush();
            }
        }));
    }
    if let Some(stderr) = child.stderr.take() {
        let last = last_error_line.clone();
        forwarders.push(std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{prefix}{line}");
                if !line.trim().is_empty() {
                    *last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(line.trim().to_string());
                }
            }
        }));
    }
    // The child is reaped with wait4 (for its resource usage), not through `child`.
    std::mem::forget(child);
    Ok(Child { pid, forwarders, last_error_line })
}

impl Child {
    /// The exit status and resource usage once the process has ended.
    fn try_wait(&self) -> Option<(libc::c_int, libc::rusage)> {
        let mut status = 0;
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: wait4 writes the status and a complete rusage when it returns the pid.
        let reaped = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, usage.as_mut_ptr()) };
        // SAFETY: zeroed is a valid rusage, and wait4 filled it when it reaped the child.
        (reaped == self.pid).then(|| (status, unsafe { usage.assume_init() }))
    }

    /// Kills the command's whole process group.
    fn kill(&self) {
        // SAFETY: signals to a process group this scheduler created.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
        }
    }

    /// Waits for the output to be forwarded; the last line of standard error.
    fn finish(self) -> Option<String> {
        for forwarder in self.forwarders {
            let _ = forwarder.join();
        }
        self.last_error_line.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

fn decode_status(status: libc::c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

fn describe_status(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("status {}", libc::WEXITSTATUS(status))
    }
}

/// A `glaux schedule` process.
pub struct Scheduler {
    /// The project (for the lag check).
    pub project: Project,
    /// The checked schedule.
    pub schedule: Schedule,
    /// What runs share.
    pub runner: Runner,
}

struct Running {
    fires: HashMap<String, DateTime<Utc>>,
    pending: HashMap<String, (DateTime<Utc>, Instant)>,
    last_outcome: Option<String>,
}

impl Scheduler {
    /// Runs until `stop` resolves (SIGTERM or SIGINT), then lets running runs end within the
    /// shutdown grace and cancels the rest; a second stop cancels at once.
    pub async fn run(self, mut stop: tokio::sync::mpsc::Receiver<()>) -> Result<(), ScheduleError> {
        let wh = self.runner.warehouse.clone();
        let started_at = Utc::now();
        if let Err(error) = heartbeats::prune(&wh, started_at).await {
            tracing::warn!(%error, "could not remove old heartbeats");
        }
        let mut heartbeat = Heartbeat {
            scheduler_id: self.runner.holder.scheduler_id.clone(),
            host: self.runner.holder.host.clone(),
            pid: self.runner.holder.pid,
            started_at,
            time: started_at,
            interval_s: self.schedule.heartbeat.as_secs().try_into().unwrap_or(u32::MAX),
            entries: self.schedule.entries.iter().map(|e| e.name.clone()).collect(),
            last_outcome: None,
            stopped: false,
        };
        heartbeats::write(&wh, &heartbeat).await?;

        let now = Utc::now();
        let mut next: HashMap<String, Option<DateTime<Utc>>> =
            self.schedule.entries.iter().map(|e| (e.name.clone(), e.next_after(now))).collect();
        let mut running = Running { fires: HashMap::new(), pending: HashMap::new(), last_outcome: None };
        for entry in self.schedule.entries.iter().filter(|e| e.catch_up == CatchUp::Once) {
            let last = state::read(&wh, &entry.name).await?.last_fire;
            if let Some(missed) = last.and_then(|last| entry.latest_in(last, now)) {
                tracing::info!(entry = %entry.name, %missed, "catching up a fire time missed while no scheduler ran");
                running.pending.insert(entry.name.clone(), (missed, Instant::now()));
            }
        }
        let (cancel_tx, cancel_rx) = watch::channel(None::<Instant>);
        let mut tasks: JoinSet<(String, DateTime<Utc>, Result<Outcome, ScheduleError>)> = JoinSet::new();
        let mut tick: Option<tokio::task::JoinHandle<()>> = None;
        let mut next_beat = Instant::now();
        let mut stopping = false;
        let entries: BTreeMap<String, Entry> =
            self.schedule.entries.iter().map(|e| (e.name.clone(), e.clone())).collect();
        eprintln!(
            "glaux schedule: {} entries, scheduler {} on {} pid {}; stop with SIGTERM or Ctrl-C",
            entries.len(),
            self.runner.holder.scheduler_id,
            self.runner.holder.host,
            self.runner.holder.pid
        );
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Ok((name, fire, result)) = joined {
                        self.finished(&mut running, &entries, name, fire, result);
                    }
                }
                signal = stop.recv() => {
                    let grace = if stopping || signal.is_none() { Duration::ZERO } else { self.schedule.shutdown_grace };
                    let runs = tasks.len();
                    if !stopping && runs > 0 {
                        eprintln!("glaux schedule: stopping; {runs} run(s) may finish within {}s, then they are cancelled", grace.as_secs());
                    } else if stopping {
                        eprintln!("glaux schedule: stopping now; cancelling the runs");
                    }
                    stopping = true;
                    let _ = cancel_tx.send(Some(Instant::now() + grace));
                }
            }
            if stopping {
                if tasks.is_empty() {
                    break;
                }
                continue;
            }
            let now = Utc::now();
            for entry in entries.values() {
                let Some(Some(due)) = next.get(&entry.name).copied() else { continue };
                if now < due {
                    continue;
                }
                let fire = entry.latest_in(due - chrono::Duration::milliseconds(1), now).unwrap_or(due);
                next.insert(entry.name.clone(), entry.next_after(now));
                if running.fires.contains_key(&entry.name) {
                    match entry.catch_up {
                        CatchUp::Once => {
                            running.pending.insert(entry.name.clone(), (fire, Instant::now()));
                        }
                        CatchUp::Skip => {
                            self.runner.metrics.skipped(&entry.name);
                            tracing::info!(entry = %entry.name, %fire, "fire time skipped: the previous run is still going");
                        }
                    }
                    continue;
                }
                running.pending.remove(&entry.name);
                self.start(&mut tasks, &mut running, entry, fire, &cancel_rx);
            }
            let ready: Vec<(String, DateTime<Utc>)> = running
                .pending
                .iter()
                .filter(|(name, (_, at))| !running.fires.contains_key(*name) && Instant::now() >= *at)
                .map(|(name, (fire, _))| (name.clone(), *fire))
                .collect();
            for (name, fire) in ready {
                running.pending.remove(&name);
                if let Some(entry) = entries.get(&name) {
                    self.start(&mut tasks, &mut running, entry, fire, &cancel_rx);
                }
            }
            if Instant::now() >= next_beat && tick.as_ref().is_none_or(|t| t.is_finished()) {
                next_beat = Instant::now() + self.schedule.heartbeat;
                heartbeat.time = Utc::now();
                heartbeat.last_outcome = running.last_outcome.clone();
                tick = Some(tokio::spawn(self.tick(heartbeat.clone())));
            }
        }
        if let Some(tick) = tick {
            let _ = tick.await;
        }
        heartbeat.time = Utc::now();
        heartbeat.last_outcome = running.last_outcome.clone();
        heartbeat.stopped = true;
        heartbeats::write(&wh, &heartbeat).await?;
        eprintln!("glaux schedule: stopped");
        Ok(())
    }

    fn start(
        &self,
        tasks: &mut JoinSet<(String, DateTime<Utc>, Result<Outcome, ScheduleError>)>,
        running: &mut Running,
        entry: &Entry,
        fire: DateTime<Utc>,
        cancel: &watch::Receiver<Option<Instant>>,
    ) {
        running.fires.insert(entry.name.clone(), fire);
        let (runner, entry, cancel) = (self.runner.clone(), entry.clone(), cancel.clone());
        tasks.spawn(async move {
            let result = run_entry(&runner, &entry, fire, cancel).await;
            (entry.name.clone(), fire, result)
        });
    }

    fn finished(
        &self,
        running: &mut Running,
        entries: &BTreeMap<String, Entry>,
        name: String,
        fire: DateTime<Utc>,
        result: Result<Outcome, ScheduleError>,
    ) {
        running.fires.remove(&name);
        match result {
            Ok(Outcome::Ran(summary)) => {
                running.last_outcome = Some(format!(
                    "{name}: {} at {}",
                    summary.status,
                    summary.ended_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
            }
            Ok(Outcome::Taken) => tracing::debug!(entry = %name, %fire, "fire time already taken by another scheduler"),
            Ok(Outcome::Busy(generation)) => {
                tracing::info!(entry = %name, %fire, holder = %generation.holder, "the entry is running elsewhere");
                // With catch_up = once the fire time is tried again: the other scheduler's run
                // either took it (and it is dropped) or it runs after that run.
                if entries.get(&name).is_some_and(|e| e.catch_up == CatchUp::Once) {
                    let later = running.pending.get(&name).is_some_and(|(pending, _)| *pending >= fire);
                    if !later {
                        running.pending.insert(name, (fire, Instant::now() + BUSY_RETRY));
                    }
                }
            }
            Err(error) => {
                eprintln!("glaux schedule: {name}: {error}");
                running.last_outcome = Some(format!("{name}: error: {error}"));
            }
        }
    }

    /// One tick: the heartbeat, the lag check and the CloudWatch heartbeat.
    fn tick(&self, heartbeat: Heartbeat) -> impl std::future::Future<Output = ()> + Send + 'static {
        let wh = self.runner.warehouse.clone();
        let runner = self.runner.clone();
        let lag = LagCheck::new(&self.project, &self.schedule);
        async move {
            if let Err(error) = heartbeats::write(&wh, &heartbeat).await {
                tracing::warn!(%error, "could not write the heartbeat");
            }
            runner.metrics.heartbeat(heartbeat.time);
            let lag_s = match lag {
                Some(check) => check.run(&runner).await,
                None => BTreeMap::new(),
            };
            if let Some(cloudwatch) = &runner.cloudwatch {
                cloudwatch.tick(heartbeat.time, &lag_s).await;
            }
        }
    }
}

/// The lag check of one tick.
struct LagCheck {
    engine: crate::engine::Engine,
    registry: crate::catalog::Registry,
    threshold: Option<chrono::Duration>,
    hook: Option<String>,
}

impl LagCheck {
    /// A check when something uses its result (metrics or an alert) and there are log tables.
    fn new(project: &Project, schedule: &Schedule) -> Option<LagCheck> {
        let used = schedule.settings.prometheus.is_some()
            || schedule.settings.cloudwatch.is_some()
            || schedule.lag_threshold.is_some();
        let logs = crate::logs::LogKind::ALL
            .iter()
            .any(|k| project.catalog.registry.table(crate::logs::DATABASE, k.table()).is_some());
        (used && logs).then(|| LagCheck {
            engine: project.engine(),
            registry: project.catalog.registry.clone(),
            threshold: schedule.lag_threshold,
            hook: schedule.settings.lag.as_ref().and_then(|l| l.on_lag.clone()),
        })
    }

    /// Each instance's lag in seconds; fires the lag hook for instances that crossed the
    /// threshold (either way) since the last check of any scheduler.
    async fn run(self, runner: &Runner) -> BTreeMap<String, f64> {
        let newest = async {
            let ctx = self.engine.session(&crate::engine::EngineOptions::default()).map_err(|e| e.to_string())?;
            crate::logs::lag::newest_lines(&ctx, &self.registry).await.map_err(|e| e.to_string())
        };
        let newest = match newest.await {
            Ok(newest) => newest,
            Err(error) => {
                tracing::warn!(%error, "could not measure the log sources' lag");
                return BTreeMap::new();
            }
        };
        let now = Utc::now();
        let lag_s: BTreeMap<String, f64> =
            newest.iter().map(|(i, t)| (i.clone(), (now - *t).num_milliseconds() as f64 / 1000.0)).collect();
        runner.metrics.lag(lag_s.clone());
        if let Some(threshold) = self.threshold {
            hooks::lag_alerts(runner, LAG_LEASE, &newest, threshold, self.hook.as_deref()).await;
        }
        lag_s
    }
}
