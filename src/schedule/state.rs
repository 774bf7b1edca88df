//! What the schedulers of a warehouse know of each entry: the last fire time taken, the recent
//! runs, and the failure streak the hooks count. Kept in `_glaux/schedule/<entry>/state.json`
//! and written only by the holder of the entry's lease, so it has one writer at a time.

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::lease::LeaseError;
use crate::warehouse::Warehouse;

/// Recent runs kept in the state (the run history keeps them all).
const RECENT: usize = 20;

/// One run of an entry, as `glaux schedule status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id in the run history.
    pub run_id: String,
    /// The fire time it ran for (the request time for `glaux schedule run`).
    pub fire: DateTime<Utc>,
    /// When it started and ended.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// `succeeded`, `failed`, `timed_out`, `cancelled`, `lease_lost`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's exit code.
    pub exit_code: Option<i32>,
    /// The last error line.
    pub error: Option<String>,
    /// Host that ran it.
    pub host: String,
}

/// The shared state of one entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntryState {
    /// The latest fire time a scheduler took (ran or is running).
    pub last_fire: Option<DateTime<Utc>>,
    /// Failed runs since the last success.
    pub consecutive_failures: u32,
    /// Whether the failure hook fired for the current streak.
    pub failure_alerted: bool,
    /// The latest runs, oldest first.
    pub recent: Vec<RunSummary>,
}

impl EntryState {
    /// Adds a finished run, keeping the latest [`RECENT`].
    pub fn push(&mut self, run: RunSummary) {
        self.recent.push(run);
        let excess = self.recent.len().saturating_sub(RECENT);
        self.recent.drain(..excess);
    }
}

fn path(warehouse: &Warehouse, entry: &str) -> object_store::path::Path {
    warehouse.state_path(&format!("schedule/{entry}/state.json"))
}

/// Reads an entry's state; a new entry has the default.
pub async fn read(warehouse: &Warehouse, entry: &str) -> Result<EntryState, LeaseError> {
    let path = path(warehouse, entry);
    let bytes = crate::warehouse::get_optional(warehouse.store().as_ref(), &path)
        .await
        .map_err(|source| LeaseError::Store { path: path.to_string(), source })?;
    match bytes {
        None => Ok(EntryState::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| LeaseError::Corrupt { path: path.to_string(), reason: e.to_string() }),
    }
}

/// Writes an entry's state (its lease holder only).
pub async fn write(warehouse: &Warehouse, entry: &str, state: &EntryState) -> Result<(), LeaseError> {
    let path = path(warehouse, entry);
    let body = serde_json::to_vec_pretty(state).expect("entry states serialise");
    warehouse
        .store()
        .put(&path, PutPayload::from(body))
        .await
        .map_err(|source| LeaseError::Store { path: path.to_string(), source })?;
    Ok(())
}
