//! One ingest run over log sources: read new bytes, land them, parse, write, commit with the
//! ledger.
//!
//! Per file: the ledger entry says where the last run stopped (offset, RDS marker, the bytes of
//! an unfinished last line). A file that shrank, or whose first bytes changed, was rotated or
//! replaced and is read from the start; a new file whose first bytes are those of a file that
//! just rotated away (MySQL's `mysql-error-running.log` → `….2026-11-21.10`) continues where
//! that file's entry stopped. The bytes read are landed as fetched, zstd-compressed, under
//! `aurora-logs/<instance>/<fetch day>/<file>.<offset>.zst`, and parsed line by line; rows go to
//! one Parquet file per (table, instance, day) in the table's next commit, unparseable lines to
//! the table's rejects. Each table is then committed once, with its ledger: the ledger can never
//! run ahead of the data, and a run that dies before a commit is simply done again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Int32Array, RecordBatch};
use chrono::{DateTime, Utc};
use object_store::buffered::BufWriter;
use tokio::io::AsyncWriteExt;

use super::ledger::{self, FileEntry, HEAD_BYTES, Ledger};
use super::parse::postgres::Prefix;
use super::parse::{LineFeeder, Parsed, time};
use super::source::{LogFile, LogSource, Resume, SourceError};
use super::{DATABASE, LogKind};
use crate::catalog::CommitHook;
use crate::catalog::files::{ParquetSink, WriteError};
use crate::catalog::rejects::{Reject, RejectSink};
use crate::catalog::state::{CommitError, NewPartition, Snapshot, TableLog, Transaction};
use crate::catalog::table::TableDef;
use crate::error::{Categorize, Category};
use crate::warehouse::Warehouse;

/// Prefix of landed raw copies in the warehouse (seed 000's layout).
pub const LANDING_PREFIX: &str = "aurora-logs";

/// Rows parsed before they are written out.
const BATCH_ROWS: usize = 64 * 1024;

/// A line longer than this without a newline is cut here and rejected.
const MAX_LINE_BYTES: usize = 64 << 20;

/// Why a log ingest failed.
#[derive(Debug, thiserror::Error)]
pub enum LogIngestError {
    /// A source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A log table is missing from the registry.
    #[error(
        "table {DATABASE}.{table} is not in the registry; copy catalog/{DATABASE}/{table}.json from a new project (glaux init)"
    )]
    MissingTable {
        /// the table
        table: String,
    },
    /// Reading or publishing table state failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// Writing a data or reject file failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    /// Landing the raw bytes failed.
    #[error("landing {path}: {source}")]
    Land {
        /// the landed object
        path: String,
        /// what failed
        source: std::io::Error,
    },
}

impl Categorize for LogIngestError {
    fn category(&self) -> Category {
        match self {
            LogIngestError::Source(e) => e.category(),
            LogIngestError::MissingTable { .. } => Category::Data,
            LogIngestError::Commit(e) => e.category(),
            LogIngestError::Write(e) => e.category(),
            LogIngestError::Ledger(_) => Category::Data,
            LogIngestError::Land { .. } => Category::Io,
        }
    }
}

/// What a run should do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Read files written at or after this time, epoch milliseconds.
    pub since: i64,
    /// Only these kinds (all when `None`).
    pub kinds: Option<BTreeSet<LogKind>>,
    /// The PostgreSQL `log_line_prefix`.
    pub prefix: Prefix,
    /// The run's id (in the ledger and the rejects).
    pub run_id: String,
    /// Now: the landing day, the day of rows without a time, the commit time.
    pub at: DateTime<Utc>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Files with new bytes.
    pub files: u64,
    /// Files listed with nothing new.
    pub unchanged: u64,
    /// New bytes read.
    pub bytes: u64,
    /// Rows written per table (`aurora_logs.<table>`).
    pub rows: BTreeMap<String, u64>,
    /// Lines rejected.
    pub rejects: u64,
    /// Files read again from the start because they were rotated or replaced.
    pub restarted: Vec<String>,
    /// Files that disappeared while being read (rotated away); what was read is kept.
    pub vanished: Vec<String>,
    /// Files last written before the lookback, not read.
    pub too_old: u64,
    /// Files not read, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Lines the source cut short (RDS's 1 MB limit).
    pub truncated_lines: u64,
    /// Pages that repeated bytes already read, trimmed (RDS).
    pub overlapping_pages: u64,
    /// Parquet bytes written.
    pub bytes_written: u64,
    /// Commits made, `table@version`.
    pub commits: Vec<String>,
    /// Files read (`instance/file`), for the run history.
    pub inputs: Vec<String>,
}

/// The log tables, by kind.
pub struct Tables(BTreeMap<LogKind, Arc<TableDef>>);

impl Tables {
    /// The log tables of the registry; every kind must have its table.
    pub fn from_registry(registry: &crate::catalog::Registry) -> Result<Tables, LogIngestError> {
        let mut tables = BTreeMap::new();
        for kind in LogKind::ALL {
            let def = registry
                .table(DATABASE, kind.table())
                .ok_or_else(|| LogIngestError::MissingTable { table: kind.table().to_string() })?;
            tables.insert(kind, def.clone());
        }
        Ok(Tables(tables))
    }
}

/// One table's share of the run: its base state, its new ledger and what the run wrote.
struct Pending {
    def: Arc<TableDef>,
    log: TableLog,
    base: Option<Snapshot>,
    ledger: Ledger,
    /// The ledger as the run found it, to recognise files that rotated away.
    base_ledger: Ledger,
    txn: Transaction,
    sinks: HashMap<(String, i32), ParquetSink>,
    rejects: RejectSink,
    changed: bool,
}

impl Pending {
    async fn open(warehouse: &Warehouse, def: &Arc<TableDef>, options: &Options) -> Result<Pending, LogIngestError> {
        let log = TableLog::of(warehouse, def);
        let base = log.head().await?;
        let ledger = match &base {
            Some(state) => ledger::read(&def.qualified_name(), &state.properties)?,
            None => Ledger::new(),
        };
        let txn = Transaction::on(base.as_ref(), "ingest aurora", options.at);
        let rejects = RejectSink::new(warehouse, &def.qualified_name(), &txn.commit_id, &options.run_id, options.at);
        Ok(Pending {
            def: def.clone(),
            log,
            base,
            base_ledger: ledger.clone(),
            ledger,
            txn,
            sinks: HashMap::new(),
            rejects,
            changed: false,
        })
    }

    fn location(&self, instance: &str, day: i32) -> String {
        let key = self.log.partition_key(&partition_values(instance, day));
        format!("{}{}/{}/", self.def.location, key, self.txn.commit_id)
    }

    /// Writes parsed rows into their (instance, day) files, and the rejects.
    async fn write(
        &mut self,
        warehouse: &Warehouse,
        instance: &str,
        source_file: &str,
        parsed: Parsed,
    ) -> Result<(), LogIngestError> {
        for reject in parsed.rejects {
            let reject = Reject {
                source_file: source_file.to_string(),
                line: reject.line,
                byte_offset: reject.offset,
                reason: reject.reason,
                record: reject.text,
            };
            self.rejects.push(reject).await?;
        }
        for (day, rows) in split_by_day(&parsed.batch, &parsed.days) {
            let key = (instance.to_string(), day);
            if !self.sinks.contains_key(&key) {
                let path = format!("{}part-00000.parquet", self.location(instance, day));
                self.sinks.insert(key.clone(), ParquetSink::create(warehouse, &path, self.def.file_schema.clone())?);
            }
            self.sinks.get_mut(&key).expect("inserted above").write(&rows).await?;
        }
        Ok(())
    }

    /// Finishes the files and publishes them with the ledger; returns (rows, bytes, version).
    async fn commit(mut self) -> Result<(u64, u64, u64), LogIngestError> {
        let (mut rows, mut bytes) = (0, 0);
        let sinks: Vec<_> = self.sinks.drain().collect();
        let mut written = Vec::with_capacity(sinks.len());
        for ((instance, day), sink) in sinks {
            let file = sink.finish().await?;
            rows += file.rows;
            bytes += file.size;
            let location = self.location(&instance, day);
            written.push(NewPartition { values: partition_values(&instance, day), location, files: vec![file] });
        }
        self.log.append_partitions(&mut self.txn, self.base.as_ref(), written).await?;
        if let Some(file) = self.rejects.finish().await? {
            crate::catalog::rejects::list_in(&mut self.txn, self.base.as_ref(), &file);
        }
        // The ledger advances in the same commit as the rows it accounts for.
        self.txn.properties.insert(ledger::LEDGER_PROPERTY.to_string(), ledger::to_value(&self.ledger));
        let state = self.log.commit(&self.txn).await?;
        Ok((rows, bytes, state.version))
    }
}

fn partition_values(instance: &str, day: i32) -> Vec<String> {
    let date = chrono::NaiveDate::from_num_days_from_ce_opt(day + 719_163).expect("log days are in range");
    vec![instance.to_string(), date.format("%Y-%m-%d").to_string()]
}

/// The rows of `batch` grouped by day, in first-seen order (logs are mostly in time order, so
/// this is usually one group).
fn split_by_day(batch: &RecordBatch, days: &[i32]) -> Vec<(i32, RecordBatch)> {
    let distinct: BTreeSet<i32> = days.iter().copied().collect();
    if distinct.len() == 1 {
        return vec![(days[0], batch.clone())];
    }
    let all = Int32Array::from(days.to_vec());
    distinct
        .into_iter()
        .map(|day| {
            let mask = arrow::compute::kernels::cmp::eq(&all, &Int32Array::new_scalar(day)).expect("same types");
            (day, arrow::compute::filter_record_batch(batch, &mask).expect("mask matches the batch"))
        })
        .collect()
}

/// Where to read a file from, decided from the ledger.
struct ReadPlan {
    resume: Resume,
    /// Bytes from a previous read that did not end in a newline yet.
    carry: Vec<u8>,
    /// Bytes at the start of what the reader returns that were already ingested under another
    /// name (a rotated file).
    skip: u64,
    lines: u64,
    head: Option<(String, u64)>,
    restarted: bool,
    /// Entries of files that rotated away, to match against this file's first bytes once they
    /// are read (sources that cannot read a head cheaply).
    predecessors: Vec<FileEntry>,
}

async fn read_plan(
    source: &dyn LogSource,
    file: &LogFile,
    entry: Option<&FileEntry>,
    rotated: &[&FileEntry],
) -> Result<ReadPlan, LogIngestError> {
    let head = source.head(file, HEAD_BYTES).await?;
    let head_hash = |len: u64| head.as_ref().map(|h| ledger::sha256(&h[..(len as usize).min(h.len())]));
    let fresh = ReadPlan {
        resume: Resume::default(),
        carry: Vec::new(),
        skip: 0,
        lines: 0,
        head: None,
        restarted: false,
        predecessors: Vec::new(),
    };
    if let Some(entry) = entry {
        let replaced = head.as_ref().is_some_and(|h| h.len() as u64 >= entry.head_len)
            && head_hash(entry.head_len).as_deref() != Some(entry.head_hash.as_str());
        if file.size < entry.offset || replaced {
            return Ok(ReadPlan { restarted: true, ..fresh });
        }
        return Ok(ReadPlan {
            resume: Resume { offset: entry.offset, marker: entry.marker.clone(), tail: entry.tail_bytes() },
            carry: entry.carry_bytes(),
            skip: 0,
            lines: entry.lines,
            head: Some((entry.head_hash.clone(), entry.head_len)),
            restarted: false,
            predecessors: Vec::new(),
        });
    }
    if head.is_none() {
        return Ok(ReadPlan { predecessors: rotated.iter().map(|e| (*e).clone()).collect(), ..fresh });
    }
    // A new name: is it a file that rotated away under another name?
    let predecessor = rotated.iter().find(|e| {
        e.head_len > 0 && e.offset <= file.size && head_hash(e.head_len).as_deref() == Some(e.head_hash.as_str())
    });
    match predecessor {
        Some(pred) => Ok(ReadPlan {
            resume: Resume { offset: pred.offset, marker: None, tail: Vec::new() },
            carry: pred.carry_bytes(),
            skip: 0,
            lines: pred.lines,
            head: Some((pred.head_hash.clone(), pred.head_len)),
            restarted: false,
            predecessors: Vec::new(),
        }),
        None => Ok(fresh),
    }
}

/// Compressed landing of a file's new bytes.
struct Landing {
    path: String,
    writer: BufWriter,
}

impl Landing {
    fn create(warehouse: &Warehouse, instance: &str, file: &str, offset: u64, at: DateTime<Utc>) -> Landing {
        let path = format!("{LANDING_PREFIX}/{instance}/{}/{file}.{offset}.zst", at.format("%Y-%m-%d"));
        Landing { writer: BufWriter::new(warehouse.store().clone(), warehouse.path(&path)), path }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), LogIngestError> {
        let frame = zstd::bulk::compress(bytes, 3).map_err(|source| self.error(source))?;
        self.writer.write_all(&frame).await.map_err(|source| self.error(source))
    }

    async fn finish(mut self) -> Result<String, LogIngestError> {
        self.writer.shutdown().await.map_err(|source| self.error(source))?;
        Ok(self.path)
    }

    fn error(&self, source: std::io::Error) -> LogIngestError {
        LogIngestError::Land { path: self.path.clone(), source }
    }
}

/// What the files of one ingest run share while they are read.
struct Reading<'a> {
    warehouse: &'a Warehouse,
    options: &'a Options,
    report: Report,
    bar: indicatif::ProgressBar,
}

/// One file to read: where from, what kind, and where the ledger says to start.
struct FileWork<'a> {
    source: &'a dyn LogSource,
    file: &'a LogFile,
    kind: LogKind,
    plan: ReadPlan,
}

/// Reads, lands and parses one file into `pending`, its table's share of the run; returns its
/// new ledger entry, `None` when nothing was new.
async fn ingest_file(
    reading: &mut Reading<'_>,
    work: FileWork<'_>,
    pending: &mut Pending,
) -> Result<Option<FileEntry>, LogIngestError> {
    let FileWork { source, file, kind, plan } = work;
    let (warehouse, options, bar) = (reading.warehouse, reading.options, &reading.bar);
    let instance = source.instance();
    let source_file = ledger::key(instance, &file.name);
    let mut reader = source.open(file, &plan.resume).await?;
    let default_day = time::day_of(options.at.timestamp_micros());
    let mut parser = kind.parser(pending.def.file_schema.clone(), &options.prefix, &source_file, default_day);
    let carry_offset = plan.resume.offset - plan.carry.len() as u64;
    let mut state = ReadState {
        feeder: LineFeeder::new(plan.carry, carry_offset, plan.lines),
        head: plan.head,
        head_bytes: Vec::new(),
        landing: None,
        read: 0,
        digest: <sha2::Sha256 as sha2::Digest>::new(),
    };
    let mut skip = plan.skip;
    let mut predecessors = plan.predecessors;
    while let Some(mut piece) = reader.next().await? {
        if !predecessors.is_empty() {
            // The first bytes of a new file read from the start: a rotated file continues
            // where its entry under the old name stopped.
            if let Some((offset, feeder, head)) = continued_from(&predecessors, &piece) {
                (skip, state.feeder, state.head) = (offset, feeder, Some(head));
            }
            predecessors.clear();
        }
        if skip > 0 {
            let dropped = skip.min(piece.len() as u64);
            skip -= dropped;
            piece = piece.slice(dropped as usize..);
        }
        if piece.is_empty() {
            continue;
        }
        state.land(warehouse, instance, &file.name, options.at, &piece).await?;
        bar.inc(piece.len() as u64);
        state.feeder.push(&piece, parser.as_mut());
        if state.feeder.carry().len() > MAX_LINE_BYTES {
            let reason = format!("line longer than {MAX_LINE_BYTES} bytes without a newline; cut here");
            let (offset, number) = (state.feeder.carry_offset(), state.feeder.lines() + 1);
            let line = state.feeder.drop_carry();
            pending.rejects.push(long_line(&source_file, offset, number, reason, &line)).await?;
        }
        if parser.buffered() >= BATCH_ROWS {
            pending.write(warehouse, instance, &source_file, parser.take()).await?;
        }
    }
    let report = &mut reading.report;
    if reader.vanished() {
        report.vanished.push(source_file.clone());
    }
    report.truncated_lines += reader.truncated_lines();
    report.overlapping_pages += reader.overlapping_pages();
    let resume = reader.resume();
    if state.read == 0 && resume == plan.resume {
        return Ok(None);
    }
    parser.finish();
    pending.write(warehouse, instance, &source_file, parser.take()).await?;
    report.bytes += state.read;
    let landed = pending.ledger.get(&source_file).map(|e| e.landed.clone()).unwrap_or_default();
    Ok(Some(state.entry(file, resume, landed, &options.run_id).await?))
}

/// A new file read from the start whose first bytes are those of a file that rotated away
/// continues where that file's entry stopped: the bytes to skip, the line state, the head.
fn continued_from(predecessors: &[FileEntry], first: &[u8]) -> Option<(u64, LineFeeder, (String, u64))> {
    let pred = predecessors
        .iter()
        .find(|e| e.head_len as usize <= first.len() && ledger::sha256(&first[..e.head_len as usize]) == e.head_hash)?;
    let carry = pred.carry_bytes();
    let carry_offset = pred.offset - carry.len() as u64;
    let feeder = LineFeeder::new(carry, carry_offset, pred.lines);
    Some((pred.offset, feeder, (pred.head_hash.clone(), pred.head_len)))
}

/// What reading one file's new bytes builds up for its ledger entry.
struct ReadState {
    /// Lines so far, and the unfinished last one.
    feeder: LineFeeder,
    /// Hash and length of the file's first bytes, when known from the ledger.
    head: Option<(String, u64)>,
    /// The first bytes read, when the head is not known yet.
    head_bytes: Vec<u8>,
    /// The compressed copy of the bytes read, opened with the first piece.
    landing: Option<Landing>,
    /// New bytes read.
    read: u64,
    /// Hash of the new bytes read.
    digest: sha2::Sha256,
}

impl ReadState {
    /// Lands `piece` (read from `file` of `instance`) and counts it.
    async fn land(
        &mut self,
        warehouse: &Warehouse,
        instance: &str,
        file: &str,
        at: DateTime<Utc>,
        piece: &[u8],
    ) -> Result<(), LogIngestError> {
        if self.head.is_none() && self.head_bytes.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - self.head_bytes.len()).min(piece.len());
            self.head_bytes.extend_from_slice(&piece[..take]);
        }
        let start = self.feeder.carry_offset() + self.feeder.carry().len() as u64;
        let landing = match &mut self.landing {
            Some(landing) => landing,
            None => self.landing.insert(Landing::create(warehouse, instance, file, start, at)),
        };
        landing.write(piece).await?;
        sha2::Digest::update(&mut self.digest, piece);
        self.read += piece.len() as u64;
        Ok(())
    }

    /// The file's ledger entry after this read: where to resume, the line state, the head, the
    /// landed copies (`landed` before this read, plus this one).
    async fn entry(
        self,
        file: &LogFile,
        resume: Resume,
        mut landed: Vec<String>,
        run_id: &str,
    ) -> Result<FileEntry, LogIngestError> {
        let head = match self.head {
            Some(head) => head,
            None => (ledger::sha256(&self.head_bytes), self.head_bytes.len() as u64),
        };
        if let Some(landing) = self.landing {
            landed.push(landing.finish().await?);
        }
        Ok(FileEntry {
            offset: resume.offset,
            tail: ledger::hex(&resume.tail),
            marker: resume.marker,
            carry: ledger::hex(self.feeder.carry()),
            lines: self.feeder.lines(),
            size: file.size.max(resume.offset),
            last_written: file.last_written,
            head_hash: head.0,
            head_len: head.1,
            chunk_hash: ledger::hex(&sha2::Digest::finalize(self.digest)),
            landed,
            run_id: run_id.to_string(),
        })
    }
}

fn long_line(source_file: &str, offset: u64, line: u64, reason: String, bytes: &[u8]) -> Reject {
    let shown = &bytes[..bytes.len().min(4096)];
    Reject {
        source_file: source_file.to_string(),
        line,
        byte_offset: offset,
        reason,
        record: String::from_utf8_lossy(shown).into_owned(),
    }
}

/// Ingests every new byte of `sources` into the log tables, calling `hook` after each table's
/// commit.
pub async fn ingest(
    warehouse: &Warehouse,
    tables: &Tables,
    sources: &[Box<dyn LogSource>],
    options: &Options,
    hook: &dyn CommitHook,
) -> Result<Report, LogIngestError> {
    let mut report = Report::default();
    let mut pending: BTreeMap<LogKind, Pending> = BTreeMap::new();
    let mut work = Vec::new();
    for source in sources {
        for file in source.list(options.since).await? {
            if file.last_written < options.since {
                report.too_old += 1;
                continue;
            }
            let kind = match LogKind::from_file_name(&file.name) {
                Some(kind) => Some(kind),
                None => source.head(&file, 16 * 1024).await?.and_then(|h| LogKind::from_content(&h, &options.prefix)),
            };
            let Some(kind) = kind else {
                let name = ledger::key(source.instance(), &file.name);
                report.skipped.push((name, "log kind not recognised from its name or first lines".into()));
                continue;
            };
            if options.kinds.as_ref().is_some_and(|k| !k.contains(&kind)) {
                continue;
            }
            work.push((source.as_ref(), file, kind));
        }
    }
    for kind in work.iter().map(|(_, _, k)| *k).collect::<BTreeSet<_>>() {
        pending.insert(kind, Pending::open(warehouse, &tables.0[&kind], options).await?);
    }
    let total: u64 = work
        .iter()
        .map(|(source, file, kind)| {
            let entry = pending[kind].ledger.get(&ledger::key(source.instance(), &file.name));
            file.size.saturating_sub(entry.map_or(0, |e| e.offset))
        })
        .sum();
    let bar = crate::progress::bytes(total, "ingesting logs".to_string());
    let mut reading = Reading { warehouse, options, report, bar };
    let listed: BTreeSet<String> = work.iter().map(|(s, f, _)| ledger::key(s.instance(), &f.name)).collect();
    for (source, file, kind) in &work {
        let table = pending.get_mut(kind).expect("opened above");
        let key = ledger::key(source.instance(), &file.name);
        let rotated = rotated_entries(&table.base_ledger, source.instance(), &listed, &work);
        let plan = read_plan(*source, file, table.ledger.get(&key), &rotated).await?;
        if plan.restarted {
            reading.report.restarted.push(key.clone());
        }
        match ingest_file(&mut reading, FileWork { source: *source, file, kind: *kind, plan }, table).await? {
            Some(entry) => {
                reading.report.files += 1;
                reading.report.inputs.push(key.clone());
                table.ledger.insert(key, entry);
                table.changed = true;
            }
            None => reading.report.unchanged += 1,
        }
    }
    reading.bar.finish_and_clear();
    let mut report = reading.report;
    for (kind, table) in pending {
        if !table.changed {
            continue;
        }
        report.rejects += table.rejects.rows();
        let name = format!("{DATABASE}.{}", kind.table());
        let def = table.def.clone();
        let (rows, bytes, version) = table.commit().await?;
        hook.committed(&def).await;
        *report.rows.entry(name.clone()).or_default() += rows;
        report.bytes_written += bytes;
        report.commits.push(format!("{name}@{version}"));
    }
    Ok(report)
}

/// Ledger entries of `instance` whose file rotated away: no longer listed, or listed smaller
/// than what was read from it.
fn rotated_entries<'a>(
    ledger: &'a Ledger,
    instance: &str,
    listed: &BTreeSet<String>,
    work: &[(&dyn LogSource, LogFile, LogKind)],
) -> Vec<&'a FileEntry> {
    let prefix = format!("{instance}/");
    ledger
        .iter()
        .filter(|(key, _)| key.starts_with(&prefix))
        .filter(|(key, entry)| {
            !listed.contains(*key)
                || work.iter().any(|(s, f, _)| ledger::key(s.instance(), &f.name) == **key && f.size < entry.offset)
        })
        .map(|(_, entry)| entry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_name_partitions() {
        assert_eq!(partition_values("db-1", 20_414), vec!["db-1".to_string(), "2025-11-22".to_string()]);
    }
}
