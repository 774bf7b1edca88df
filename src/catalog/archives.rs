//! Archived partitions: partitions that left a table's live data for cheaper storage.
//!
//! An archive copies a partition's files under `_glaux/archive/<db>/<table>/` and, in the same
//! commit that removes the partition from the table, lists it in the table property
//! [`ARCHIVES_PROPERTY`], so a partition is live or archived, never both and never neither.
//! `system.archives` reads the property of every table's newest snapshot.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{Base, DataFile};
use super::table::TableDef;
use crate::warehouse::STATE_PREFIX;

/// Table property listing the table's archived partitions ([`ArchivedPartition`]s).
pub const ARCHIVES_PROPERTY: &str = "glaux.archives";

/// Where a table's archived copies go, below the warehouse root.
pub fn archive_prefix(def: &TableDef) -> String {
    format!("{STATE_PREFIX}/archive/{}/{}/", def.database, def.name())
}

/// One archived partition, as the table property lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedPartition {
    /// The archive run (a commit id).
    pub archive_id: String,
    /// The partition's key (`log_date=2026-09-01`).
    pub partition: String,
    /// Its values in key order.
    pub values: Vec<String>,
    /// The directory of the copies, relative to the warehouse root, trailing slash.
    pub location: String,
    /// The copies.
    pub files: Vec<DataFile>,
    /// `GLACIER_IR`, …, or `LOCAL` on a local warehouse.
    pub storage_class: String,
    /// When the commit that archived it was made.
    pub archived_at: DateTime<Utc>,
}

/// The archived partitions a table's snapshot properties list.
pub fn archived(state: &impl Base) -> Vec<ArchivedPartition> {
    super::state::listed(state.properties(), ARCHIVES_PROPERTY)
}

/// The schema of `system.archives`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("partition", DataType::Utf8, false),
        Field::new("location", DataType::Utf8, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("storage_class", DataType::Utf8, false),
        Field::new("archived_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("archive_id", DataType::Utf8, false),
    ]))
}

/// The archived partitions of `tables` (each with its table's `database.table`), as one batch of
/// [`schema`]; locations are absolute URLs under `warehouse_url`.
pub fn to_batch(tables: &[(String, ArchivedPartition)], warehouse_url: &url::Url) -> arrow::error::Result<RecordBatch> {
    let text = |f: &dyn Fn(&(String, ArchivedPartition)) -> String| -> ArrayRef {
        Arc::new(StringArray::from(tables.iter().map(f).collect::<Vec<_>>()))
    };
    let number = |f: &dyn Fn(&ArchivedPartition) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from(tables.iter().map(|(_, a)| f(a)).collect::<Vec<_>>()))
    };
    let columns: Vec<ArrayRef> = vec![
        text(&|(t, _)| t.clone()),
        text(&|(_, a)| a.partition.clone()),
        text(&|(_, a)| format!("{warehouse_url}{}", a.location)),
        number(&|a| a.files.len() as u64),
        number(&|a| a.files.iter().map(|f| f.rows).sum()),
        number(&|a| a.files.iter().map(|f| f.size).sum()),
        text(&|(_, a)| a.storage_class.clone()),
        Arc::new(
            TimestampMicrosecondArray::from(
                tables.iter().map(|(_, a)| a.archived_at.timestamp_micros()).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        text(&|(_, a)| a.archive_id.clone()),
    ];
    RecordBatch::try_new(schema(), columns)
}
