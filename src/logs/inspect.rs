//! `glaux logs parse`: parse log files and report what they hold, writing nothing.
//!
//! The same parsers as `glaux ingest aurora`, with the totals other tools report, so a file can
//! be checked against pt-query-digest (entries, total query time) or pgBadger (queries, errors)
//! before it is ingested, and the parse throughput measured on its own.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use serde::Serialize;

use super::LogKind;
use super::parse::postgres::Prefix;
use super::parse::{LineFeeder, time};
use crate::catalog::table::TableDef;
use crate::error::{Categorize, Category};

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// the I/O failure
        source: std::io::Error,
    },
    /// Neither the name nor the first lines say what kind of log the file is.
    #[error("{path}: log kind not recognised from its name or first lines")]
    UnknownKind {
        /// the file
        path: PathBuf,
    },
}

impl Categorize for InspectError {
    fn category(&self) -> Category {
        match self {
            InspectError::Read { .. } => Category::Io,
            InspectError::UnknownKind { .. } => Category::Usage,
        }
    }
}

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
    let (_, json) = crate::scaffold::FILES
        .iter()
        .find(|(path, _)| *path == format!("catalog/{}/{}.json", super::DATABASE, kind.table()))
        .expect("the scaffold carries every log table");
    let input: crate::catalog::table::TableInput = serde_json::from_slice(json).expect("scaffold tables parse");
    let anywhere = url::Url::parse("file:///").expect("a valid URL");
    let def = TableDef::from_input(super::DATABASE, input, &anywhere).expect("scaffold tables are valid");
    def.file_schema
}

/// The kind of the log at `path`: from its name, else from its first lines.
pub(crate) fn kind_of(path: &Path, prefix: &Prefix) -> Result<LogKind, InspectError> {
    if let Some(kind) = LogKind::from_file_name(&path.to_string_lossy()) {
        return Ok(kind);
    }
    let read = |source| InspectError::Read { path: path.to_path_buf(), source };
    let mut head = vec![0u8; 16 * 1024];
    let mut file = std::fs::File::open(path).map_err(read)?;
    let len = file.read(&mut head).map_err(read)?;
    LogKind::from_content(&head[..len], prefix).ok_or_else(|| InspectError::UnknownKind { path: path.to_path_buf() })
}

/// Summaries of `files`, each parsed as `kind` or as the kind its name or first lines say.
pub fn summarise_files(
    files: &[PathBuf],
    kind: Option<LogKind>,
    prefix: &Prefix,
) -> Result<Vec<FileSummary>, InspectError> {
    files
        .iter()
        .map(|path| {
            let kind = match kind {
                Some(kind) => kind,
                None => kind_of(path, prefix)?,
            };
            summarise(path, kind, prefix)
        })
        .collect()
}

/// Parses one file with a fresh parser and totals what it gave.
pub fn summarise(path: &Path, kind: LogKind, prefix: &Prefix) -> Result<FileSummary, InspectError> {
    let started = Instant::now();
    let name = path.display().to_string();
    let mut summary = FileSummary { file: name, kind: kind.name().into(), ..FileSummary::default() };
    summary.bytes = parse_file(path, None, kind, prefix, file_schema(kind), &mut |parsed| {
        note_rejects(&mut summary, &parsed.rejects);
        add(&mut summary, parsed.batch);
        true
    })?;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.mb_per_s = summary.bytes as f64 / 1e6 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// Parses `path` (or the byte range `range` of it, which starts at a line) as `kind` with a
/// fresh parser into rows of `schema`, handing each batch with its rejects to `each` as it
/// fills; `each` returns false to stop. Returns the bytes read.
pub(crate) fn parse_file(
    path: &Path,
    range: Option<(u64, u64)>,
    kind: LogKind,
    prefix: &Prefix,
    schema: arrow::datatypes::SchemaRef,
    each: &mut dyn FnMut(super::parse::Parsed) -> bool,
) -> Result<u64, InspectError> {
    let read = |source| InspectError::Read { path: path.to_path_buf(), source };
    let mut parser = kind.parser(schema, prefix, &path.display().to_string(), time::day_of(0));
    let mut file = std::fs::File::open(path).map_err(read)?;
    let (start, end) = range.unwrap_or((0, u64::MAX));
    file.seek(std::io::SeekFrom::Start(start)).map_err(read)?;
    let mut input = file.take(end - start);
    let mut feeder = LineFeeder::default();
    let mut piece = vec![0u8; 8 << 20];
    let mut bytes = 0;
    loop {
        let len = input.read(&mut piece).map_err(read)?;
        if len == 0 {
            break;
        }
        bytes += len as u64;
        feeder.push(&piece[..len], parser.as_mut());
        if parser.buffered() >= 64 * 1024 && !each(parser.take()) {
            return Ok(bytes);
        }
    }
    feeder.finish(parser.as_mut());
    parser.finish();
    each(parser.take());
    Ok(bytes)
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
                let step = crate::logs::parse::postgres::protocol_step(message.value(i));
                summary.queries += u64::from(statement.is_valid(i) && !matches!(step, Some("parse" | "bind")));
            }
        }
    }
    if let Some(severity) = column("severity") {
        for value in severity.as_string::<i32>().iter() {
            *summary.severities.entry(value.unwrap_or("(none)").to_string()).or_default() += 1;
        }
    }
}

impl FileSummary {
    /// The summary as lines for people: totals first, then the first rejected lines.
    pub fn describe(&self) -> Vec<String> {
        let mut line = format!(
            "{}: {} {} bytes, {} entries, {} rejected, {:.3} s ({:.1} MB/s)",
            self.file, self.kind, self.bytes, self.entries, self.rejects, self.seconds, self.mb_per_s
        );
        if self.kind == "slow" {
            line.push_str(&format!("; total query time {:.6} s", self.query_time_s));
        }
        if self.kind == "postgres" {
            line.push_str(&format!("; {} queries, {:.3} ms", self.queries, self.duration_ms));
        }
        if !self.severities.is_empty() {
            let counts: Vec<String> = self.severities.iter().map(|(k, v)| format!("{k} {v}")).collect();
            line.push_str(&format!("; {}", counts.join(", ")));
        }
        let mut lines = vec![line];
        lines.extend(self.first_rejects.iter().map(|reject| format!("  rejected {reject}")));
        lines
    }
}
