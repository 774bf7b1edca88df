//! `UNLOAD (SELECT …) TO 's3://bucket/prefix/' WITH (format = 'PARQUET', partitioned_by =
//! ARRAY['c'], compression = 'ZSTD')`, as Athena runs it: the query's rows written as files
//! under an empty prefix (or a local directory), partition columns as `key=value/` directories.
//! DataFusion's `COPY … TO` does the writing.

use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Ident, Query, SqlOption};
use futures::StreamExt;

use super::ddl::{text, texts};
use super::{Done, external};
use crate::catalog::names::{NameKind, validate_name};

/// The output format and its options.
struct Target {
    stored_as: &'static str,
    options: Vec<(String, String)>,
    partitioned_by: Vec<String>,
}

impl Target {
    fn read(with: &[SqlOption]) -> Result<Target> {
        let mut target = Target { stored_as: "PARQUET", options: Vec::new(), partitioned_by: Vec::new() };
        let mut compression = None;
        let mut delimiter = None;
        for option in with {
            let SqlOption::KeyValue { key, value } = option else {
                return plan_err!("`{option}` is not an UNLOAD property; write WITH (name = value, …)");
            };
            match key.value.to_ascii_lowercase().as_str() {
                "format" => {
                    target.stored_as = match text(value)?.to_ascii_uppercase().as_str() {
                        "PARQUET" => "PARQUET",
                        "JSON" => "JSON",
                        "TEXTFILE" | "CSV" => "CSV",
                        other => {
                            return plan_err!(
                                "UNLOAD writes PARQUET, JSON or TEXTFILE; format = '{other}' is not supported"
                            );
                        }
                    }
                }
                "partitioned_by" => target.partitioned_by = texts(value)?,
                "compression" => compression = Some(text(value)?.to_ascii_lowercase()),
                "field_delimiter" => delimiter = Some(text(value)?),
                other => {
                    return plan_err!(
                        "the UNLOAD property `{other}` is not supported; glaux takes format, partitioned_by, compression and field_delimiter"
                    );
                }
            }
        }
        match (target.stored_as, compression) {
            ("PARQUET", None) => target.options.push(("format.compression".into(), "zstd(1)".into())),
            ("PARQUET", Some(codec)) => target.options.push(("format.compression".into(), codec)),
            (_, Some(codec)) => target.options.push(("format.compression".into(), codec)),
            _ => {}
        }
        if target.stored_as == "CSV" {
            // Athena's text output has no header row.
            target.options.push(("format.has_header".into(), "false".into()));
        }
        if let Some(delimiter) = delimiter {
            if target.stored_as != "CSV" {
                return plan_err!("field_delimiter applies to format = 'TEXTFILE' only");
            }
            target.options.push(("format.delimiter".into(), delimiter));
        }
        Ok(target)
    }
}

/// Runs the UNLOAD; its result is the number of rows written.
pub(super) async fn unload(
    ctx: &SessionContext,
    query: Option<&Query>,
    to: &Ident,
    with: &[SqlOption],
) -> Result<Done> {
    let Some(query) = query else {
        return plan_err!("UNLOAD takes a query in parentheses: UNLOAD (SELECT …) TO 's3://bucket/prefix/'");
    };
    let target = Target::read(with)?;
    let destination = format!("{}/", to.value.trim_end_matches('/'));
    ensure_empty(ctx, &destination).await?;
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let mut copy = format!("COPY ({query}) TO {} STORED AS {}", quote(&destination), target.stored_as);
    if !target.partitioned_by.is_empty() {
        for column in &target.partitioned_by {
            validate_name(column, NameKind::Column).map_err(external)?;
        }
        copy.push_str(&format!(" PARTITIONED BY ({})", target.partitioned_by.join(", ")));
    }
    if !target.options.is_empty() {
        let options: Vec<String> = target.options.iter().map(|(k, v)| format!("{} {}", quote(k), quote(v))).collect();
        copy.push_str(&format!(" OPTIONS ({})", options.join(", ")));
    }
    let frame = crate::engine::athena::sql(ctx, &copy, datafusion::execution::context::SQLOptions::new()).await?;
    let batches = frame.collect().await?;
    let rows = batches
        .iter()
        .filter_map(|b| {
            b.column(0).as_any().downcast_ref::<arrow::array::UInt64Array>().map(|c| c.iter().flatten().sum::<u64>())
        })
        .sum();
    Done::rows(rows, false)
}

/// Athena writes UNLOAD output only under an empty prefix, so that what is there afterwards is
/// exactly what the statement wrote.
async fn ensure_empty(ctx: &SessionContext, destination: &str) -> Result<()> {
    if !destination.contains("://") {
        let dir = std::path::Path::new(destination);
        if dir.read_dir().map(|mut entries| entries.next().is_some()).unwrap_or(false) {
            return plan_err!("UNLOAD writes into an empty directory; {destination} already holds files");
        }
        return Ok(());
    }
    let url = url::Url::parse(destination).map_err(external)?;
    let store_url = ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()))?;
    let store = ctx.runtime_env().object_store(&store_url)?;
    let prefix = object_store::path::Path::from(url.path().trim_start_matches('/'));
    if let Some(first) = store.list(Some(&prefix)).next().await {
        let first = first.map_err(|e| datafusion::error::DataFusionError::ObjectStore(Box::new(e)))?;
        return plan_err!("UNLOAD writes under an empty prefix; {destination} already holds {}", first.location);
    }
    Ok(())
}
