//! Scheduler heartbeats: the rows of `system.heartbeats`.
//!
//! Every `glaux schedule` process writes `_glaux/heartbeats/<scheduler id>.json` when it starts,
//! on every tick and when it stops: who it is (host, pid), when it last ticked, the entries it
//! runs and the outcome of its last run. A heartbeat older than three intervals without a stop
//! means the scheduler died (`lost`). Ids are UUIDv7, so the names sort by start time; a starting
//! scheduler removes heartbeats of schedulers gone for more than [`KEEP_DAYS`] days.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::history::HistoryError;
use crate::warehouse::Warehouse;

/// Days a stopped or lost scheduler's heartbeat is kept.
pub const KEEP_DAYS: i64 = 7;

/// One scheduler's latest heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// UUIDv7 of the scheduler process.
    pub scheduler_id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// When the scheduler started.
    pub started_at: DateTime<Utc>,
    /// When it last ticked.
    pub time: DateTime<Utc>,
    /// Seconds between ticks.
    pub interval_s: u32,
    /// The entries it runs.
    pub entries: Vec<String>,
    /// Its last run: entry, status and end time, on one line.
    pub last_outcome: Option<String>,
    /// Whether it stopped cleanly.
    pub stopped: bool,
}

impl Heartbeat {
    /// `running`, `stopped`, or `lost` (no tick for three intervals and no stop).
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.stopped {
            "stopped"
        } else if (now - self.time).num_seconds() > 3 * i64::from(self.interval_s.max(1)) {
            "lost"
        } else {
            "running"
        }
    }
}

fn path(warehouse: &Warehouse, scheduler_id: &str) -> object_store::path::Path {
    warehouse.state_path(&format!("heartbeats/{scheduler_id}.json"))
}

/// Writes (replaces) a scheduler's heartbeat.
pub async fn write(warehouse: &Warehouse, heartbeat: &Heartbeat) -> Result<(), HistoryError> {
    let path = path(warehouse, &heartbeat.scheduler_id);
    let body = serde_json::to_vec_pretty(heartbeat).expect("heartbeats serialise");
    warehouse
        .store()
        .put(&path, PutPayload::from(body))
        .await
        .map_err(|source| HistoryError::Store { path: path.to_string(), source })?;
    Ok(())
}

/// Every scheduler's latest heartbeat, oldest scheduler first.
pub async fn list(warehouse: &Warehouse) -> Result<Vec<Heartbeat>, HistoryError> {
    let prefix = warehouse.state_path("heartbeats");
    let objects: Vec<_> = warehouse
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| HistoryError::Store { path: prefix.to_string(), source })?;
    let mut paths: Vec<_> = objects.into_iter().map(|o| o.location).filter(|p| p.extension() == Some("json")).collect();
    paths.sort();
    let mut beats = Vec::with_capacity(paths.len());
    for path in paths {
        let read = crate::warehouse::get_optional(warehouse.store().as_ref(), &path).await;
        let Some(bytes) = read.map_err(|source| HistoryError::Store { path: path.to_string(), source })? else {
            continue;
        };
        let beat = serde_json::from_slice(&bytes)
            .map_err(|e| HistoryError::Corrupt { path: path.to_string(), reason: e.to_string() })?;
        beats.push(beat);
    }
    Ok(beats)
}

/// Removes the heartbeats of schedulers stopped or lost more than [`KEEP_DAYS`] days ago.
pub async fn prune(warehouse: &Warehouse, now: DateTime<Utc>) -> Result<usize, HistoryError> {
    let mut removed = 0;
    for beat in list(warehouse).await? {
        if beat.state(now) != "running" && (now - beat.time).num_days() > KEEP_DAYS {
            let path = path(warehouse, &beat.scheduler_id);
            warehouse
                .store()
                .delete(&path)
                .await
                .map_err(|source| HistoryError::Store { path: path.to_string(), source })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The schema of `system.heartbeats`.
pub fn schema() -> SchemaRef {
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("scheduler_id", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("pid", DataType::UInt32, false),
        Field::new("started_at", time(), false),
        Field::new("time", time(), false),
        Field::new("state", DataType::Utf8, false),
        Field::new("entries", DataType::Utf8, false),
        Field::new("last_outcome", DataType::Utf8, true),
    ]))
}

/// Heartbeats as one batch of [`schema`], their state judged at `now`.
pub fn to_batch(beats: &[Heartbeat], now: DateTime<Utc>) -> arrow::error::Result<RecordBatch> {
    let text = |f: &dyn Fn(&Heartbeat) -> String| -> ArrayRef {
        Arc::new(StringArray::from(beats.iter().map(f).collect::<Vec<_>>()))
    };
    let times = |f: &dyn Fn(&Heartbeat) -> DateTime<Utc>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(beats.iter().map(|b| f(b).timestamp_micros()).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|b| b.scheduler_id.clone()),
        text(&|b| b.host.clone()),
        Arc::new(UInt32Array::from(beats.iter().map(|b| b.pid).collect::<Vec<_>>())),
        times(&|b| b.started_at),
        times(&|b| b.time),
        text(&|b| b.state(now).to_string()),
        text(&|b| b.entries.join(", ")),
        Arc::new(StringArray::from(beats.iter().map(|b| b.last_outcome.clone()).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema(), columns)
}
