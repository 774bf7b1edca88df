//! `glaux ingest aurora`: configured or one-off sources turned into [`LogSource`]s, one ingest
//! run over them, recorded in the run history.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::Utc;

use super::ingest::{Options, Report, Tables, ingest};
use super::parse::postgres::{Prefix, RDS_PREFIX};
use super::source::local::LocalDir;
use super::source::rds::{Rds, RdsSettings};
use super::source::{LogSource, check_instance};
use super::{DATABASE, LogKind};
use crate::config::{ConfigError, LogSourceConfig, parse_lookback};
use crate::project::Project;
use crate::runs::{Run, RunCounts, RunKind, RunStatus};

/// Default lookback.
pub const DEFAULT_SINCE: &str = "7d";

/// Default RDS request budget per source.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 5.0;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--source NAME`: only this configured source.
    pub source: Option<String>,
    /// `--since`: overrides each source's lookback.
    pub since: Option<String>,
    /// `--dir`: a one-off local directory instead of the configured sources.
    pub dir: Option<PathBuf>,
    /// `--instance`: the name `--dir`'s logs are filed under.
    pub instance: Option<String>,
    /// `--kind`: only these kinds.
    pub kinds: Vec<String>,
    /// `--log-line-prefix`.
    pub log_line_prefix: Option<String>,
}

fn bad(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue { name: name.into(), value: value.into(), reason: reason.into() }
}

/// The sources a request names, each with the options it runs with.
async fn resolve(
    project: &Project,
    request: &Request,
) -> Result<Vec<(Options, Vec<Box<dyn LogSource>>)>, anyhow::Error> {
    let configs: Vec<LogSourceConfig> = match (&request.dir, &request.source) {
        (Some(dir), _) => {
            let instance = request.instance.clone().ok_or_else(|| {
                crate::commands::UsageError("--dir needs --instance NAME: the instance its logs are filed under".into())
            })?;
            // A path on the command line is relative to where glaux runs, not to the project.
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            vec![LogSourceConfig { name: "dir".into(), dir: Some(dir), instance: Some(instance), ..Default::default() }]
        }
        (None, Some(name)) => {
            let found = project.settings.log_sources.iter().find(|s| &s.name == name).cloned();
            vec![
                found
                    .ok_or_else(|| bad("--source", name, "no [[aurora.sources]] entry in glaux.toml has this name"))?,
            ]
        }
        (None, None) if project.settings.log_sources.is_empty() => {
            return Err(crate::commands::UsageError(
                "no log sources: add [[aurora.sources]] to glaux.toml, or pass --dir PATH --instance NAME".into(),
            )
            .into());
        }
        (None, None) => project.settings.log_sources.clone(),
    };
    let mut resolved = Vec::new();
    for config in configs {
        let options = options(&config, request)?;
        let sources = sources(project, &config).await?;
        resolved.push((options, sources));
    }
    Ok(resolved)
}

fn options(config: &LogSourceConfig, request: &Request) -> Result<Options, ConfigError> {
    let field = |key: &str| format!("aurora.sources[{}].{key}", config.name);
    let since_text = request.since.clone().or(config.since.clone()).unwrap_or_else(|| DEFAULT_SINCE.into());
    let since = parse_lookback(&field("since"), &since_text)?;
    let kind_names: Vec<String> = match request.kinds.is_empty() {
        true => config.kinds.clone().unwrap_or_default(),
        false => request.kinds.clone(),
    };
    let mut kinds = BTreeSet::new();
    for name in &kind_names {
        let kind = LogKind::from_name(name)
            .ok_or_else(|| bad(&field("kinds"), name, "use error, slow, general, audit or postgres"))?;
        kinds.insert(kind);
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

async fn sources(project: &Project, config: &LogSourceConfig) -> Result<Vec<Box<dyn LogSource>>, anyhow::Error> {
    let field = |key: &str| format!("aurora.sources[{}].{key}", config.name);
    let rds_given = config.cluster.is_some() || !config.instances.is_empty();
    match (&config.dir, rds_given) {
        (Some(dir), false) => {
            let instance = config.instance.as_deref().ok_or_else(|| {
                bad(&field("instance"), "", "a dir source needs the instance its logs are filed under")
            })?;
            let dir = project.settings.project.join(dir);
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

/// Runs `glaux ingest aurora`: every source the request names, recorded as one ingest run.
pub async fn run(project: &Project, request: &Request) -> anyhow::Result<(String, Report)> {
    let tables = Tables::from_registry(&project.registry)?;
    let resolved = resolve(project, request).await?;
    let run = Run::start(&project.warehouse, RunKind::Ingest, &format!("{DATABASE} (aurora logs)")).await?;
    let run_id = run.id().to_string();
    let mut total = Report::default();
    for (mut options, sources) in resolved {
        options.run_id = run_id.clone();
        match ingest(&project.warehouse, &tables, &sources, &options).await {
            Ok(report) => merge(&mut total, report),
            Err(e) => {
                let error = anyhow::Error::from(e).context("ingesting database logs");
                let counts = RunCounts { inputs: total.inputs.clone(), ..RunCounts::default() };
                run.finish(RunStatus::Failed, counts, Some(crate::error_line(&error))).await;
                return Err(error);
            }
        }
    }
    let status = match total.commits.is_empty() {
        true => RunStatus::UpToDate,
        false => RunStatus::Succeeded,
    };
    let counts = RunCounts {
        inputs: total.inputs.clone(),
        rows_in: total.rows.values().sum::<u64>() + total.rejects,
        rows_out: total.rows.values().sum(),
        rows_rejected: total.rejects,
        bytes_written: total.bytes_written,
        commits: total.commits.clone(),
    };
    run.finish(status, counts, None).await;
    for kind in LogKind::ALL {
        if total.rows.contains_key(&format!("{DATABASE}.{}", kind.table()))
            && let Some(def) = project.registry.table(DATABASE, kind.table())
        {
            crate::glue::sync::after_load(project, def).await;
        }
    }
    Ok((run_id, total))
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

/// The summary `glaux ingest aurora` prints.
pub fn describe(report: &Report) -> String {
    let mut lines = Vec::new();
    if report.files == 0 {
        lines.push(format!("aurora logs: nothing new ({} file(s) unchanged)", report.unchanged));
    } else {
        lines.push(format!(
            "aurora logs: {} file(s) read, {} bytes; {} unchanged; {} line(s) rejected",
            report.files, report.bytes, report.unchanged, report.rejects
        ));
        for (table, rows) in &report.rows {
            lines.push(format!("  {table}: {rows} row(s)"));
        }
    }
    for name in &report.restarted {
        lines.push(format!("  {name}: rotated or replaced; read from the start"));
    }
    for name in &report.vanished {
        lines.push(format!("  {name}: disappeared while being read (rotated); what was read is kept"));
    }
    for (name, reason) in &report.skipped {
        lines.push(format!("  {name}: skipped: {reason}"));
    }
    if report.too_old > 0 {
        lines.push(format!("  {} file(s) last written before the lookback not read (see --since)", report.too_old));
    }
    if report.overlapping_pages > 0 {
        lines.push(format!(
            "  {} RDS page(s) repeated bytes already read; the repeats were dropped",
            report.overlapping_pages
        ));
    }
    if report.truncated_lines > 0 {
        lines.push(format!("  {} line(s) over 1 MB were cut by RDS", report.truncated_lines));
    }
    lines.join("\n")
}
