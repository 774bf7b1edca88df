//! What to ingest: the configured sources (or a one-off directory) a [`Request`] names, turned
//! into [`LogSource`]s with the options each runs with, then ingested one after another into
//! one [`Report`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Utc;

use super::LogKind;
use super::ingest::{LogIngestError, Options, Report, Tables, ingest};
use super::parse::postgres::{Prefix, RDS_PREFIX};
use super::source::local::LocalDir;
use super::source::rds::{Rds, RdsSettings};
use super::source::{LogSource, SourceError, check_instance};
use crate::catalog::{Catalog, CommitHook};
use crate::config::{ConfigError, LogSourceConfig, parse_lookback};
use crate::error::{Categorize, Category};

/// Default lookback: a week.
pub const DEFAULT_SINCE: chrono::Duration = chrono::Duration::days(7);

/// Default RDS request budget per source.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 5.0;

/// What to ingest, as the caller chose it (already checked: kinds are kinds, the lookback a
/// duration).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Only the configured source of this name.
    pub source: Option<String>,
    /// A lookback that overrides each source's.
    pub since: Option<chrono::Duration>,
    /// A one-off local directory instead of the configured sources, with the instance its logs
    /// are filed under.
    pub dir: Option<(PathBuf, String)>,
    /// Only these kinds (overrides each source's).
    pub kinds: Vec<LogKind>,
    /// The PostgreSQL `log_line_prefix` (overrides each source's).
    pub log_line_prefix: Option<String>,
}

/// Why a request names no source glaux can read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No configured source has the name asked for.
    #[error("no [[aurora.sources]] entry in glaux.toml is named `{0}`")]
    UnknownSource(String),
    /// Nothing is configured and no directory was given.
    #[error("no log sources: add [[aurora.sources]] to glaux.toml")]
    NoSources,
    /// A configured source is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A source could not be opened (an RDS call, a directory, a bad instance name).
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl Categorize for RequestError {
    fn category(&self) -> Category {
        match self {
            RequestError::UnknownSource(_) | RequestError::NoSources => Category::Usage,
            RequestError::Config(e) => e.category(),
            RequestError::Source(e) => e.category(),
        }
    }
}

fn bad(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue { name: name.into(), value: value.into(), reason: reason.into() }
}

/// The sources a request names among `configured` (a project's `[[aurora.sources]]`, whose
/// directories are relative to `project_dir`), each with the options it runs with.
pub async fn resolve(
    configured: &[LogSourceConfig],
    project_dir: &Path,
    request: &Request,
) -> Result<Vec<(Options, Vec<Box<dyn LogSource>>)>, RequestError> {
    let configs: Vec<LogSourceConfig> = match (&request.dir, &request.source) {
        (Some((dir, instance)), _) => {
            // A path given by the caller is relative to where glaux runs, not to the project.
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            vec![LogSourceConfig {
                name: "dir".into(),
                dir: Some(dir),
                instance: Some(instance.clone()),
                ..Default::default()
            }]
        }
        (None, Some(name)) => {
            let found = configured.iter().find(|s| &s.name == name).cloned();
            vec![found.ok_or_else(|| RequestError::UnknownSource(name.clone()))?]
        }
        (None, None) if configured.is_empty() => return Err(RequestError::NoSources),
        (None, None) => configured.to_vec(),
    };
    let mut resolved = Vec::new();
    for config in configs {
        let options = options(&config, request)?;
        let sources = sources(project_dir, &config).await?;
        resolved.push((options, sources));
    }
    Ok(resolved)
}

/// Ingests every source of `resolved` in turn (the run's rejects and ledger entries carry
/// `run_id`), calling `hook` after each commit; one report for all.
pub async fn ingest_all(
    catalog: &Catalog,
    tables: &Tables,
    resolved: Vec<(Options, Vec<Box<dyn LogSource>>)>,
    run_id: &str,
    hook: &dyn CommitHook,
) -> Result<Report, LogIngestError> {
    let mut total = Report::default();
    for (mut options, sources) in resolved {
        options.run_id = run_id.to_string();
        let report = ingest(&catalog.warehouse, tables, &sources, &options, hook).await?;
        merge(&mut total, report);
    }
    Ok(total)
}

fn options(config: &LogSourceConfig, request: &Request) -> Result<Options, ConfigError> {
    let field = |key: &str| format!("aurora.sources[{}].{key}", config.name);
    let since = match (request.since, &config.since) {
        (Some(since), _) => since,
        (None, Some(text)) => parse_lookback(&field("since"), text)?,
        (None, None) => DEFAULT_SINCE,
    };
    let mut kinds: BTreeSet<LogKind> = request.kinds.iter().copied().collect();
    if kinds.is_empty() {
        for name in config.kinds.iter().flatten() {
            let kind = LogKind::from_name(name)
                .ok_or_else(|| bad(&field("kinds"), name, "use error, slow, general, audit or postgres"))?;
            kinds.insert(kind);
        }
    }
    let prefix_text = request.log_line_prefix.clone().or(config.log_line_prefix.clone());
    let prefix_text = prefix_text.unwrap_or_else(|| RDS_PREFIX.into());
    let prefix = Prefix::compile(&prefix_text).map_err(|e| bad(&field("log_line_prefix"), &prefix_text, &e.reason))?;
    let at = Utc::now();
    Ok(Options {
        since: (at - since).timestamp_millis(),
        kinds: (!kinds.is_empty()).then_some(kinds),
        prefix,
        run_id: String::new(),
        at,
    })
}

async fn sources(project_dir: &Path, config: &LogSourceConfig) -> Result<Vec<Box<dyn LogSource>>, RequestError> {
    let field = |key: &str| format!("aurora.sources[{}].{key}", config.name);
    let rds_given = config.cluster.is_some() || !config.instances.is_empty();
    match (&config.dir, rds_given) {
        (Some(dir), false) => {
            let instance = config.instance.as_deref().ok_or_else(|| {
                bad(&field("instance"), "", "a dir source needs the instance its logs are filed under")
            })?;
            let dir = project_dir.join(dir);
            if !dir.is_dir() {
                return Err(bad(&field("dir"), &dir.display().to_string(), "not a directory").into());
            }
            Ok(vec![Box::new(LocalDir::new(&dir, instance)?)])
        }
        (None, true) => {
            let settings = RdsSettings {
                region: config.region.clone(),
                endpoint: config.endpoint.clone(),
                requests_per_second: config.requests_per_second.unwrap_or(DEFAULT_REQUESTS_PER_SECOND),
            };
            let rds = Rds::connect(&settings).await;
            let mut instances = config.instances.clone();
            if let Some(cluster) = &config.cluster {
                instances.extend(rds.cluster_members(cluster).await?);
            }
            let mut sources: Vec<Box<dyn LogSource>> = Vec::new();
            for instance in instances {
                check_instance(&instance)?;
                rds.check_instance_exists(&instance).await?;
                sources.push(Box::new(rds.instance(&instance)?));
            }
            Ok(sources)
        }
        _ => {
            Err(bad(&field("dir"), "", "set either dir (with instance) or cluster/instances, not both or neither")
                .into())
        }
    }
}

fn merge(total: &mut Report, report: Report) {
    total.files += report.files;
    total.unchanged += report.unchanged;
    total.bytes += report.bytes;
    for (table, rows) in report.rows {
        *total.rows.entry(table).or_default() += rows;
    }
    total.rejects += report.rejects;
    total.restarted.extend(report.restarted);
    total.vanished.extend(report.vanished);
    total.skipped.extend(report.skipped);
    total.too_old += report.too_old;
    total.truncated_lines += report.truncated_lines;
    total.overlapping_pages += report.overlapping_pages;
    total.bytes_written += report.bytes_written;
    total.commits.extend(report.commits);
    total.inputs.extend(report.inputs);
}
