//! `glaux logs parse`: parse log files and report what they hold, writing nothing.
//!
//! The same parsers as `glaux ingest aurora`, with the totals other tools report, so a file can
//! be checked against pt-query-digest (entries, total query time) or pgBadger (queries, errors)
//! before it is ingested, and the parse throughput measured on its own.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde::Serialize;

use super::LogKind;
use super::parse::postgres::{Prefix, RDS_PREFIX};
use super::parse::{LineFeeder, time};
use crate::catalog::table::TableDef;
use crate::cli::SummaryFormat;
use crate::commands::UsageError;

/// What one file holds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FileSummary {
    /// The file.
    pub file: String,
    /// Its kind.
    pub kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Entries (rows).
    pub entries: u64,
    /// Lines rejected.
    pub rejects: u64,
    /// Slow log: total `Query_time`, seconds.
    pub query_time_s: f64,
    /// PostgreSQL: entries with a duration and a statement, not counting the parse and bind
    /// steps of the extended protocol (pgBadger's queries).
    pub queries: u64,
    /// PostgreSQL: total duration, milliseconds.
    pub duration_ms: f64,
    /// Entries per severity (error and PostgreSQL logs).
    pub severities: BTreeMap<String, u64>,
    /// The first rejected lines: `line N (byte B): reason: text`.
    pub first_rejects: Vec<String>,
    /// Parse time, seconds.
    pub seconds: f64,
    /// Parse throughput, MB/s (10^6 bytes).
    pub mb_per_s: f64,
}

/// The file schema of a kind's table, from the catalog file the binary carries, read the way
/// the registry reads it.
pub fn file_schema(kind: LogKind) -> arrow::datatypes::SchemaRef {
    let (_, json) = crate::project::SCAFFOLD
        .iter()
        .find(|(path, _)| *path == format!("catalog/{}/{}.json", super::DATABASE, kind.table()))
        .expect("the scaffold carries every log table");
    let input: crate::catalog::table::TableInput = serde_json::from_slice(json).expect("scaffold tables parse");
    let anywhere = url::Url::parse("file:///").expect("a valid URL");
    let def = TableDef::from_input(super::DATABASE, input, &anywhere).expect("scaffold tables are valid");
    def.file_schema
}

fn kind_of(path: &Path, given: Option<&str>, prefix: &Prefix) -> anyhow::Result<LogKind> {
    if let Some(name) = given {
        return LogKind::from_name(name)
            .ok_or_else(|| UsageError(format!("--kind {name}: use error, slow, general, audit or postgres")).into());
    }
    if let Some(kind) = LogKind::from_file_name(&path.to_string_lossy()) {
        return Ok(kind);
    }
    let mut head = vec![0u8; 16 * 1024];
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = file.read(&mut head)?;
    LogKind::from_content(&head[..len], prefix).ok_or_else(|| {
        UsageError(format!("{}: log kind not recognised from its name or first lines; pass --kind", path.display()))
            .into()
    })
}

/// Parses one file with a fresh parser and totals what it gave.
pub fn summarise(path: &Path, kind: LogKind, prefix: &Prefix) -> anyhow::Result<FileSummary> {
    let started = Instant::now();
    let name = path.display().to_string();
    let mut parser = kind.parser(file_schema(kind), prefix, &name, time::day_of(0));
    let mut summary = FileSummary { file: name.clone(), kind: kind.name().into(), ..FileSummary::default() };
    let mut file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    let mut feeder = LineFeeder::default();
    let mut piece = vec![0u8; 8 << 20];
    loop {
        let read = file.read(&mut piece).with_context(|| format!("cannot read {name}"))?;
        if read == 0 {
            break;
        }
        summary.bytes += read as u64;
        feeder.push(&piece[..read], parser.as_mut());
        if parser.buffered() >= 64 * 1024 {
            let parsed = parser.take();
            note_rejects(&mut summary, &parsed.rejects);
            add(&mut summary, parsed.batch);
        }
    }
    feeder.finish(parser.as_mut());
    parser.finish();
    let parsed = parser.take();
    note_rejects(&mut summary, &parsed.rejects);
    add(&mut summary, parsed.batch);
    summary.seconds = started.elapsed().as_secs_f64();
    summary.mb_per_s = summary.bytes as f64 / 1e6 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// Rejected lines shown per file.
const SHOWN_REJECTS: usize = 5;

fn note_rejects(summary: &mut FileSummary, rejects: &[super::parse::ParseReject]) {
    summary.rejects += rejects.len() as u64;
    for r in rejects.iter().take(SHOWN_REJECTS.saturating_sub(summary.first_rejects.len())) {
        let shown: String = r.text.chars().take(200).collect();
        summary.first_rejects.push(format!("line {} (byte {}): {}: {shown}", r.line, r.offset, r.reason));
    }
}

fn add(summary: &mut FileSummary, batch: RecordBatch) {
    summary.entries += batch.num_rows() as u64;
    let column = |name: &str| batch.column_by_name(name).cloned();
    if let Some(q) = column("query_time_s") {
        summary.query_time_s += q.as_primitive::<Float64Type>().iter().flatten().sum::<f64>();
    }
    if let (Some(duration), Some(statement), Some(message)) =
        (column("duration_ms"), column("statement"), column("message"))
    {
        let duration = duration.as_primitive::<Float64Type>();
        let message = message.as_string::<i32>();
        for i in 0..batch.num_rows() {
            if duration.is_valid(i) {
                summary.duration_ms += duration.value(i);
                let step = message.value(i).split_once(" ms  ").map(|(_, rest)| rest);
                let protocol_step = step.is_some_and(|s| s.starts_with("parse ") || s.starts_with("bind "));
                summary.queries += u64::from(statement.is_valid(i) && !protocol_step);
            }
        }
    }
    if let Some(severity) = column("severity") {
        for value in severity.as_string::<i32>().iter() {
            *summary.severities.entry(value.unwrap_or("(none)").to_string()).or_default() += 1;
        }
    }
}

/// Runs `glaux logs parse`.
pub fn parse_files(
    files: &[PathBuf],
    kind: Option<&str>,
    prefix: Option<&str>,
    format: SummaryFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let prefix_text = prefix.unwrap_or(RDS_PREFIX);
    let prefix = Prefix::compile(prefix_text).map_err(|e| UsageError(e.to_string()))?;
    let mut summaries = Vec::new();
    for path in files {
        let kind = kind_of(path, kind, &prefix)?;
        summaries.push(summarise(path, kind, &prefix)?);
    }
    match format {
        SummaryFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&summaries)?)?,
        SummaryFormat::Text => {
            for s in &summaries {
                let mut line = format!(
                    "{}: {} {} bytes, {} entries, {} rejected, {:.3} s ({:.1} MB/s)",
                    s.file, s.kind, s.bytes, s.entries, s.rejects, s.seconds, s.mb_per_s
                );
                if s.kind == "slow" {
                    line.push_str(&format!("; total query time {:.6} s", s.query_time_s));
                }
                if s.kind == "postgres" {
                    line.push_str(&format!("; {} queries, {:.3} ms", s.queries, s.duration_ms));
                }
                if !s.severities.is_empty() {
                    let counts: Vec<String> = s.severities.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    line.push_str(&format!("; {}", counts.join(", ")));
                }
                writeln!(out, "{line}")?;
                for reject in &s.first_rejects {
                    writeln!(out, "  rejected {reject}")?;
                }
            }
        }
    }
    Ok(())
}
