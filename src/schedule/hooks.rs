//! Alert hooks: commands the scheduler runs, by `sh -c`, when an entry keeps failing, when it
//! recovers, and when a log source falls behind. The details go in environment variables
//! (`GLAUX_*`), never in the command text, so a hook cannot be injected through a value.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::lease::{self, Acquired};
use super::runner::Runner;
use super::state::RunSummary;

/// Longest a hook may run before it is killed.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// A hook to run after a run.
#[derive(Debug, Clone)]
pub struct Hook {
    kind: &'static str,
    command: String,
    failures: u32,
}

impl Hook {
    /// The failure hook.
    pub fn failure(command: String) -> Hook {
        Hook { kind: "failure", command, failures: 0 }
    }

    /// The recovery hook.
    pub fn recovery(command: String) -> Hook {
        Hook { kind: "recovery", command, failures: 0 }
    }

    /// With the entry's failure streak.
    pub fn with_failures(self, failures: u32) -> Hook {
        Hook { failures, ..self }
    }
}

/// Runs `hook` for `entry`'s run `summary`.
pub async fn run(hook: &Hook, entry: &Entry, summary: &RunSummary) {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let duration = (summary.ended_at - summary.started_at).num_milliseconds() as f64 / 1000.0;
    let env = vec![
        ("GLAUX_ALERT", hook.kind.to_string()),
        ("GLAUX_ENTRY", entry.name.clone()),
        ("GLAUX_COMMAND", entry.run.clone()),
        ("GLAUX_RUN_ID", summary.run_id.clone()),
        ("GLAUX_STATUS", summary.status.clone()),
        ("GLAUX_FIRE_TIME", time(&summary.fire)),
        ("GLAUX_STARTED_AT", time(&summary.started_at)),
        ("GLAUX_ENDED_AT", time(&summary.ended_at)),
        ("GLAUX_DURATION_S", format!("{duration:.3}")),
        ("GLAUX_ATTEMPTS", summary.attempts.to_string()),
        ("GLAUX_EXIT_CODE", summary.exit_code.map(|c| c.to_string()).unwrap_or_default()),
        ("GLAUX_ERROR", summary.error.clone().unwrap_or_default()),
        ("GLAUX_CONSECUTIVE_FAILURES", hook.failures.to_string()),
        ("GLAUX_HOST", summary.host.clone()),
    ];
    shell(&format!("{} hook of {}", hook.kind, entry.name), &hook.command, env).await;
}

/// Runs `command` by `sh -c` with `env`, within [`HOOK_TIMEOUT`]; failures are reported, not
/// returned.
async fn shell(what: &str, command: &str, env: Vec<(&str, String)>) {
    let mut child = tokio::process::Command::new("sh");
    child.arg("-c").arg(command).envs(env).stdin(std::process::Stdio::null()).kill_on_drop(true);
    let status = match child.spawn() {
        Ok(mut child) => match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
            Ok(status) => status.map_err(|e| e.to_string()),
            Err(_) => Err(format!("did not end within {}s and was killed", HOOK_TIMEOUT.as_secs())),
        },
        Err(error) => Err(error.to_string()),
    };
    match status {
        Ok(status) if status.success() => tracing::info!("{what} ran"),
        Ok(status) => eprintln!("glaux schedule: the {what} failed: {status}"),
        Err(error) => eprintln!("glaux schedule: the {what} failed: {error}"),
    }
}

/// Which instances were lagging at the last check, shared by the schedulers of a warehouse.
#[derive(Debug, Default, Serialize, Deserialize)]
struct LagState {
    lagging: BTreeMap<String, DateTime<Utc>>,
}

/// Fires the lag hook for each instance whose newest line crossed `threshold` since the last
/// check (lagging: `GLAUX_LAG_STATE=lagging`; caught up: `caught_up`). One scheduler at a time
/// checks, under the lease `lease_name`; the others skip the tick.
pub async fn lag_alerts(
    runner: &Runner,
    lease_name: &str,
    newest: &BTreeMap<String, DateTime<Utc>>,
    threshold: chrono::Duration,
    hook: Option<&str>,
) {
    let wh = &runner.warehouse;
    let lease = match lease::acquire(wh, lease_name, &runner.holder, runner.lease).await {
        Ok(Acquired::Held(lease)) => lease,
        Ok(Acquired::Busy(_)) => return,
        Err(error) => {
            tracing::warn!(%error, "could not take the lag check's lease");
            return;
        }
    };
    let path = wh.state_path(&format!("schedule/{lease_name}/state.json"));
    let mut state: LagState = match crate::warehouse::get_optional(wh.store().as_ref(), &path).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Ok(None) => LagState::default(),
        Err(error) => {
            tracing::warn!(%error, "could not read the lag state");
            let _ = lease.release(wh).await;
            return;
        }
    };
    let now = Utc::now();
    let mut alerts = Vec::new();
    for (instance, newest) in newest {
        let lag = now - *newest;
        let was = state.lagging.contains_key(instance);
        if lag > threshold && !was {
            state.lagging.insert(instance.clone(), now);
            alerts.push((instance.clone(), "lagging", lag, *newest));
        } else if lag <= threshold && was {
            state.lagging.remove(instance);
            alerts.push((instance.clone(), "caught_up", lag, *newest));
        }
    }
    if !alerts.is_empty() {
        let body = serde_json::to_vec_pretty(&state).expect("lag state serialises");
        if let Err(error) = object_store::ObjectStoreExt::put(wh.store().as_ref(), &path, body.into()).await {
            tracing::warn!(%error, "could not write the lag state");
        }
    }
    let _ = lease.release(wh).await;
    for (instance, what, lag, newest) in alerts {
        eprintln!(
            "glaux schedule: log source {instance} {}: newest line {}s old (threshold {}s)",
            what.replace('_', " "),
            lag.num_seconds(),
            threshold.num_seconds()
        );
        if let Some(command) = hook {
            let env = vec![
                ("GLAUX_ALERT", "lag".to_string()),
                ("GLAUX_LAG_STATE", what.to_string()),
                ("GLAUX_INSTANCE", instance.clone()),
                ("GLAUX_LAG_S", lag.num_seconds().to_string()),
                ("GLAUX_THRESHOLD_S", threshold.num_seconds().to_string()),
                ("GLAUX_NEWEST_LINE", newest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            ];
            shell(&format!("lag hook of {instance}"), command, env).await;
        }
    }
}
