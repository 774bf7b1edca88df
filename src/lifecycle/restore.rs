//! `glaux restore`: a date range of a table's archived partitions made readable again, for a
//! while, as the table `<db>.<table>__restored`.
//!
//! The range is read from the archived copies where they are, under a table name of its own,
//! rather than put back into the live table: the live table stays what retention and archive
//! made it (its incremental jobs do not see old days reappear, and a Glue push does not publish
//! them), and an expired restore leaves nothing behind to undo. Copies in `GLACIER` or
//! `DEEP_ARCHIVE` are readable only after an S3 restore, which this requests (RestoreObject,
//! Standard tier, for the expiry's days); copies in other classes, and a local warehouse's, are
//! readable at once. [`check`] (`glaux restore status`, also run by `glaux vacuum`) records each
//! restore that became readable or lapsed; the records are in [`crate::catalog::restores`].

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::catalog::Catalog;
use crate::catalog::archives::{ArchivedPartition, archived};
use crate::catalog::restores::{self, Restore, RestoreRecordError, RestoreRequest};
use crate::catalog::state::{CommitError, new_commit_id};
use crate::catalog::table::TableDef;
use crate::catalog::types::GlueType;
use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// Storage classes whose objects need an S3 restore before they can be read.
const NEEDS_RESTORE: [&str; 2] = ["GLACIER", "DEEP_ARCHIVE"];

/// What a restore asks for.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The first day of the range.
    pub from: NaiveDate,
    /// The last day of the range.
    pub to: NaiveDate,
    /// How long the range stays readable.
    pub expires: chrono::Duration,
    /// Whether the asking project will run a command once the range is readable.
    pub notify: bool,
    /// The time of the request.
    pub now: DateTime<Utc>,
}

/// Why a restore could not be requested or checked.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Nothing archived in the range.
    #[error(
        "no archived partition of {table} falls between {from} and {to}; `SELECT * FROM system.archives` lists them"
    )]
    NothingArchived {
        /// `database.table`
        table: String,
        /// first day
        from: NaiveDate,
        /// last day
        to: NaiveDate,
    },
    /// The range is backwards, or the expiry is not whole days.
    #[error("{0}")]
    Range(String),
    /// The table's state could not be read.
    #[error("restore of {table}: {source}")]
    State {
        /// `database.table`
        table: String,
        /// what went wrong
        source: CommitError,
    },
    /// A record could not be read or written.
    #[error(transparent)]
    Record(#[from] RestoreRecordError),
    /// S3 refused a restore or a look at an object.
    #[error("restore: {key}: {reason}")]
    S3 {
        /// the object
        key: String,
        /// what S3 said
        reason: String,
    },
}

impl Categorize for RestoreError {
    fn category(&self) -> Category {
        match self {
            RestoreError::NothingArchived { .. } | RestoreError::Range(_) => Category::Usage,
            RestoreError::State { source, .. } => source.category(),
            RestoreError::Record(e) => e.category(),
            RestoreError::S3 { .. } => Category::Io,
        }
    }
}

/// Requests a restore of `def`'s archived partitions between `options.from` and `options.to`
/// (inclusive). `s3` is the SDK client of an S3 warehouse.
pub async fn request(
    catalog: &Catalog,
    def: &Arc<TableDef>,
    s3: Option<&aws_sdk_s3::Client>,
    options: &RestoreOptions,
) -> Result<RestoreRequest, RestoreError> {
    let table = def.qualified_name();
    if options.to < options.from {
        return Err(RestoreError::Range(format!("--to {} is before --from {}", options.to, options.from)));
    }
    let days = options.expires.num_days();
    if days < 1 || options.expires != chrono::Duration::days(days) {
        return Err(RestoreError::Range("--expires is counted in whole days, as S3 restores are (7d)".into()));
    }
    let position = def.partition_keys.iter().position(|(_, ty)| *ty == GlueType::Date);
    let state =
        catalog.log(def).latest().await.map_err(|source| RestoreError::State { table: table.clone(), source })?;
    let in_range = |p: &ArchivedPartition| {
        position
            .and_then(|i| p.values.get(i))
            .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
            .is_some_and(|day| options.from <= day && day <= options.to)
    };
    let partitions: Vec<ArchivedPartition> = state.iter().flat_map(archived).filter(in_range).collect();
    if partitions.is_empty() {
        return Err(RestoreError::NothingArchived { table, from: options.from, to: options.to });
    }
    let needs_s3_restore = partitions.iter().any(|p| NEEDS_RESTORE.contains(&p.storage_class.as_str()));
    if needs_s3_restore && let Some(client) = s3 {
        for partition in partitions.iter().filter(|p| NEEDS_RESTORE.contains(&p.storage_class.as_str())) {
            for file in &partition.files {
                restore_object(&catalog.warehouse, client, &file.path, days).await?;
            }
        }
    }
    let request = RestoreRequest {
        restore_id: new_commit_id(),
        table,
        from: options.from,
        to: options.to,
        requested_at: options.now,
        expires_at: options.now + options.expires,
        notify: options.notify,
        partitions,
        needs_s3_restore,
    };
    restores::write_request(&catalog.warehouse, &request).await?;
    Ok(request)
}

fn key(wh: &Warehouse, relative: &str) -> (String, String) {
    (wh.url().host_str().unwrap_or_default().to_string(), wh.path(relative).to_string())
}

async fn restore_object(
    wh: &Warehouse,
    client: &aws_sdk_s3::Client,
    relative: &str,
    days: i64,
) -> Result<(), RestoreError> {
    use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
    let (bucket, key) = key(wh, relative);
    let tier = GlacierJobParameters::builder().tier(Tier::Standard).build().expect("the tier is set");
    let body = RestoreRequest::builder().days(days.try_into().unwrap_or(i32::MAX)).glacier_job_parameters(tier).build();
    match client.restore_object().bucket(&bucket).key(&key).restore_request(body).send().await {
        Ok(_) => Ok(()),
        // Asked for before (another restore of an overlapping range): it completes all the same.
        Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("RestoreAlreadyInProgress") => Ok(()),
        Err(e) => Err(RestoreError::S3 { key, reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string() }),
    }
}

/// Whether every copy of `request` can be read now.
async fn readable(
    wh: &Warehouse,
    s3: Option<&aws_sdk_s3::Client>,
    request: &RestoreRequest,
) -> Result<bool, RestoreError> {
    let Some(client) = s3.filter(|_| request.needs_s3_restore) else { return Ok(true) };
    for partition in request.partitions.iter().filter(|p| NEEDS_RESTORE.contains(&p.storage_class.as_str())) {
        for file in &partition.files {
            let (bucket, key) = key(wh, &file.path);
            let head = client.head_object().bucket(&bucket).key(&key).send().await.map_err(|e| RestoreError::S3 {
                key: key.clone(),
                reason: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
            // `ongoing-request="false", expiry-date="…"` once the restored copy is there.
            if !head.restore().is_some_and(|r| r.contains("ongoing-request=\"false\"")) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Records every restore that became readable or lapsed by `now`; returns all restores and,
/// apart, those this call found ready.
pub async fn check(
    wh: &Warehouse,
    s3: Option<&aws_sdk_s3::Client>,
    now: DateTime<Utc>,
) -> Result<(Vec<Restore>, Vec<Restore>), RestoreError> {
    let mut all = restores::list(wh).await?;
    let mut newly_ready = Vec::new();
    for restore in all.iter_mut().filter(|r| r.expired_at.is_none()) {
        let id = restore.request.restore_id.clone();
        if now >= restore.request.expires_at {
            restores::mark_expired(wh, &id, now).await?;
            restore.expired_at = Some(now);
        } else if restore.ready_at.is_none() && readable(wh, s3, &restore.request).await? {
            if restores::mark_ready(wh, &id, now).await? {
                restore.ready_at = Some(now);
                newly_ready.push(restore.clone());
            } else {
                // Another checker recorded it a moment ago: show its time.
                restore.ready_at = restores::ready_at(wh, &id).await?;
            }
        }
    }
    Ok((all, newly_ready))
}
