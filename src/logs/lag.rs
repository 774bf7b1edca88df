//! How far each log source is behind: the time of the newest ingested log line per instance.
//!
//! Read from the log tables in two steps so that only the newest day's partition of each
//! instance is scanned: the newest `log_date` per instance (partition values only), then the
//! newest `ts` within those partitions.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::prelude::SessionContext;

use super::{DATABASE, LogKind};
use crate::catalog::Registry;

/// Why the newest lines could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the newest log lines: {0}")]
pub struct LagError(String);

/// The newest ingested log line's time per instance, over every log table.
pub async fn newest_lines(
    ctx: &SessionContext,
    registry: &Registry,
) -> Result<BTreeMap<String, DateTime<Utc>>, LagError> {
    let mut newest: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    for kind in LogKind::ALL {
        let table = kind.table();
        if registry.table(DATABASE, table).is_none() {
            continue;
        }
        let days = rows(
            ctx,
            &format!(
                "SELECT instance, CAST(max(log_date) AS VARCHAR) AS day FROM {DATABASE}.{table} GROUP BY instance"
            ),
        )
        .await?;
        let partitions: Vec<String> = days
            .iter()
            .filter_map(|row| {
                let instance = row.get("instance")?.as_str()?;
                let day = row.get("day")?.as_str()?;
                Some(format!(
                    "(instance = '{}' AND log_date = DATE '{}')",
                    instance.replace('\'', "''"),
                    day.replace('\'', "")
                ))
            })
            .collect();
        if partitions.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT instance, CAST(max(ts) AS VARCHAR) AS newest FROM {DATABASE}.{table} WHERE {} GROUP BY instance",
            partitions.join(" OR ")
        );
        for row in rows(ctx, &sql).await? {
            let (Some(instance), Some(text)) =
                (row.get("instance").and_then(|v| v.as_str()), row.get("newest").and_then(|v| v.as_str()))
            else {
                continue;
            };
            let Some(time) = parse_time(text) else { continue };
            let slot = newest.entry(instance.to_string()).or_insert(time);
            *slot = (*slot).max(time);
        }
    }
    Ok(newest)
}

async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<serde_json::Value>, LagError> {
    let frame = ctx.sql(sql).await.map_err(|e| LagError(e.to_string()))?;
    let batches = frame.collect().await.map_err(|e| LagError(e.to_string()))?;
    crate::engine::exec::json_rows(&batches).map_err(|e| LagError(e.to_string()))
}

/// `2026-12-01T10:00:00.123` or `2026-12-01 10:00:00`, read as UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim_end_matches('Z');
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|t| t.and_utc())
}
