//! Restore records: a range of a table's archived partitions made readable again for a while.
//!
//! A restore is a directory `_glaux/restores/<id>/` of create-only events, so two processes
//! checking restores never overwrite each other: `request.json` (what was asked, written once),
//! `ready.json` (when every object became readable) and `expired.json` (when the restored copies
//! lapsed). A notify command is not stored here: commands only ever come from the project that
//! asked (see `glaux restore`), never from the warehouse, so write access to the warehouse is no
//! way to run a command on a host that checks restores. A ready, unexpired
//! restore's partitions are read as the table `<db>.<table>__restored`; `system.restores` lists
//! every restore.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::archives::ArchivedPartition;
use crate::warehouse::Warehouse;

/// The suffix of the name a table's restored partitions are read under.
pub const RESTORED_SUFFIX: &str = "__restored";

/// What a restore asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// The restore's id (UUIDv7).
    pub restore_id: String,
    /// `database.table`.
    pub table: String,
    /// The first day of the range.
    pub from: NaiveDate,
    /// The last day of the range.
    pub to: NaiveDate,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
    /// When the restored copies lapse.
    pub expires_at: DateTime<Utc>,
    /// Whether the project that asked has a command to run once the range is readable.
    pub notify: bool,
    /// The archived partitions of the range.
    pub partitions: Vec<ArchivedPartition>,
    /// Whether S3 restores were requested (objects in GLACIER or DEEP_ARCHIVE).
    pub needs_s3_restore: bool,
}

impl RestoreRequest {
    /// Rows in the range.
    pub fn rows(&self) -> u64 {
        self.partitions.iter().flat_map(|p| &p.files).map(|f| f.rows).sum()
    }

    /// Bytes in the range.
    pub fn bytes(&self) -> u64 {
        self.partitions.iter().flat_map(|p| &p.files).map(|f| f.size).sum()
    }
}

/// A restore with what has happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    /// What was asked.
    pub request: RestoreRequest,
    /// When every object was readable.
    pub ready_at: Option<DateTime<Utc>>,
    /// When it was found expired.
    pub expired_at: Option<DateTime<Utc>>,
}

impl Restore {
    /// `requested`, `ready` or `expired`.
    pub fn state(&self) -> &'static str {
        match (self.ready_at, self.expired_at) {
            (_, Some(_)) => "expired",
            (Some(_), None) => "ready",
            (None, None) => "requested",
        }
    }

    /// Whether its partitions are readable at `now`.
    pub fn readable(&self, now: DateTime<Utc>) -> bool {
        self.ready_at.is_some() && self.expired_at.is_none() && now < self.request.expires_at
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Event {
    at: DateTime<Utc>,
}

/// Why restore records could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RestoreRecordError {
    /// The store failed.
    #[error("restore record {path}: {source}")]
    Store {
        /// the object
        path: String,
        /// what the store said
        source: object_store::Error,
    },
    /// A record is not what glaux wrote.
    #[error("restore record {path} is corrupt: {reason}")]
    Corrupt {
        /// the object
        path: String,
        /// what is wrong
        reason: String,
    },
}

impl crate::error::Categorize for RestoreRecordError {
    fn category(&self) -> crate::error::Category {
        match self {
            RestoreRecordError::Store { .. } => crate::error::Category::Io,
            RestoreRecordError::Corrupt { .. } => crate::error::Category::Data,
        }
    }
}

fn path(wh: &Warehouse, id: &str, event: &str) -> object_store::path::Path {
    wh.state_path(&format!("restores/{id}/{event}.json"))
}

/// Writes an event of restore `id` if it is not there yet; `false` when another process wrote
/// it first.
async fn create(wh: &Warehouse, id: &str, event: &str, body: Vec<u8>) -> Result<bool, RestoreRecordError> {
    let path = path(wh, id, event);
    crate::warehouse::put_if_absent(wh.store().as_ref(), &path, body)
        .await
        .map_err(|source| RestoreRecordError::Store { path: path.to_string(), source })
}

/// Records a new restore.
pub async fn write_request(wh: &Warehouse, request: &RestoreRequest) -> Result<(), RestoreRecordError> {
    let body = serde_json::to_vec_pretty(request).expect("restore requests serialise");
    create(wh, &request.restore_id, "request", body).await.map(|_| ())
}

/// Records that restore `id` is readable; `true` for the one process that recorded it.
pub async fn mark_ready(wh: &Warehouse, id: &str, at: DateTime<Utc>) -> Result<bool, RestoreRecordError> {
    create(wh, id, "ready", serde_json::to_vec(&Event { at }).expect("events serialise")).await
}

/// Records that restore `id` has lapsed; `true` for the one process that recorded it.
pub async fn mark_expired(wh: &Warehouse, id: &str, at: DateTime<Utc>) -> Result<bool, RestoreRecordError> {
    create(wh, id, "expired", serde_json::to_vec(&Event { at }).expect("events serialise")).await
}

async fn read<T: serde::de::DeserializeOwned>(
    wh: &Warehouse,
    id: &str,
    event: &str,
) -> Result<Option<T>, RestoreRecordError> {
    let path = path(wh, id, event);
    let bytes = crate::warehouse::get_optional(wh.store().as_ref(), &path)
        .await
        .map_err(|source| RestoreRecordError::Store { path: path.to_string(), source })?;
    bytes
        .map(|b| {
            serde_json::from_slice(&b)
                .map_err(|e| RestoreRecordError::Corrupt { path: path.to_string(), reason: e.to_string() })
        })
        .transpose()
}

/// When restore `id` was recorded readable, if it was.
pub async fn ready_at(wh: &Warehouse, id: &str) -> Result<Option<DateTime<Utc>>, RestoreRecordError> {
    Ok(read::<Event>(wh, id, "ready").await?.map(|e| e.at))
}

/// Every restore, oldest first.
pub async fn list(wh: &Warehouse) -> Result<Vec<Restore>, RestoreRecordError> {
    let prefix = wh.state_path("restores");
    let objects: Vec<_> = wh
        .store()
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|source| RestoreRecordError::Store { path: prefix.to_string(), source })?;
    let mut ids: Vec<String> = objects
        .iter()
        .filter(|o| o.location.filename() == Some("request.json"))
        .filter_map(|o| o.location.parts().nth_back(1).map(|p| p.as_ref().to_string()))
        .collect();
    ids.sort();
    let mut restores = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(request) = read::<RestoreRequest>(wh, &id, "request").await? else { continue };
        let ready_at = ready_at(wh, &id).await?;
        let expired_at = read::<Event>(wh, &id, "expired").await?.map(|e| e.at);
        restores.push(Restore { request, ready_at, expired_at });
    }
    Ok(restores)
}

/// The schema of `system.restores`.
pub fn schema() -> SchemaRef {
    let time = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("restore_id", DataType::Utf8, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("from_date", DataType::Utf8, false),
        Field::new("to_date", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("requested_at", time(), false),
        Field::new("ready_at", time(), true),
        Field::new("expires_at", time(), false),
        Field::new("done", DataType::Boolean, false),
        Field::new("duration_s", DataType::Float64, true),
        Field::new("partitions", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("notify", DataType::Boolean, false),
    ]))
}

/// `restores` as one batch of [`schema`].
pub fn to_batch(restores: &[Restore]) -> arrow::error::Result<RecordBatch> {
    let text = |f: &dyn Fn(&Restore) -> String| -> ArrayRef {
        Arc::new(StringArray::from(restores.iter().map(f).collect::<Vec<_>>()))
    };
    let time = |f: &dyn Fn(&Restore) -> Option<DateTime<Utc>>| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(
                restores.iter().map(|r| f(r).map(|t| t.timestamp_micros())).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        )
    };
    let number = |f: &dyn Fn(&Restore) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from(restores.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|r| r.request.restore_id.clone()),
        text(&|r| r.request.table.clone()),
        text(&|r| r.request.from.to_string()),
        text(&|r| r.request.to.to_string()),
        text(&|r| r.state().to_string()),
        time(&|r| Some(r.request.requested_at)),
        time(&|r| r.ready_at),
        time(&|r| Some(r.request.expires_at)),
        Arc::new(BooleanArray::from(restores.iter().map(|r| r.ready_at.is_some()).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(
            restores
                .iter()
                .map(|r| r.ready_at.map(|t| (t - r.request.requested_at).num_milliseconds() as f64 / 1000.0))
                .collect::<Vec<_>>(),
        )),
        number(&|r| r.request.partitions.len() as u64),
        number(&|r| r.request.rows()),
        number(&|r| r.request.bytes()),
        Arc::new(BooleanArray::from(restores.iter().map(|r| r.request.notify).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema(), columns)
}
