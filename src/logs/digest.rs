//! `glaux logs digest`: the profile pt-query-digest and pgBadger print, straight from log files.
//!
//! The files are parsed by the ingest parsers (one thread per file, and a large slow log cut at
//! entry boundaries into one piece per core) into a streaming table
//! `log` of an in-memory session with the Athena and log functions, and one query groups the
//! statements by fingerprint: calls, total / min / max / mean time, p50 / p95 / p99 from a latency
//! sketch (within 1 %), lock time and rows where the log has them, first and last seen, and the
//! slowest call's statement. Nothing is written.
//!
//! What counts as a call is what the peers count: every slow-log entry (pt-query-digest); every
//! PostgreSQL entry with a duration and a statement that is not the parse or bind step of the
//! extended protocol (pgBadger).

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::LogKind;
use super::inspect::{InspectError, file_schema, kind_of, parse_file};
use super::parse::postgres::Prefix;

/// Why a digest could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// A file could not be read or recognised.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// The files are not all slow logs or all PostgreSQL logs.
    #[error("{0}")]
    Kinds(String),
    /// The query failed.
    #[error("digest query failed: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    /// A result did not read back as expected.
    #[error("digest result: {0}")]
    Read(String),
}

impl crate::error::Categorize for DigestError {
    fn category(&self) -> crate::error::Category {
        match self {
            DigestError::Inspect(e) => e.category(),
            DigestError::Kinds(_) => crate::error::Category::Usage,
            DigestError::Query(_) | DigestError::Read(_) => crate::error::Category::Data,
        }
    }
}

/// One query class (the columns of the digest query, by name).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct QueryClass {
    /// Upper-case MD5 hex of the fingerprint (pt-query-digest's query ID; 3.2 prints the last
    /// 16 characters).
    pub query_id: String,
    /// The fingerprint (pt-fingerprint) or normalised query (pgBadger).
    pub fingerprint: String,
    /// Calls.
    pub calls: u64,
    /// Total time, seconds.
    pub total_s: f64,
    /// Shortest call, seconds.
    pub min_s: f64,
    /// Longest call, seconds.
    pub max_s: f64,
    /// Mean, seconds.
    pub mean_s: f64,
    /// Median (sketch, within 1 %), seconds.
    pub p50_s: f64,
    /// 95th percentile (sketch, within 1 %), seconds.
    pub p95_s: f64,
    /// 99th percentile (sketch, within 1 %), seconds.
    pub p99_s: f64,
    /// Total lock time, seconds (slow log).
    pub lock_s: Option<f64>,
    /// Rows sent (slow log).
    pub rows_sent: Option<i64>,
    /// Rows examined (slow log).
    pub rows_examined: Option<i64>,
    /// Calls per decade of time from 1 µs: pt-query-digest's "Query_time distribution".
    pub distribution: Vec<u64>,
    /// First call, `YYYY-MM-DD HH:MM:SS` UTC.
    pub first_seen: Option<String>,
    /// Last call.
    pub last_seen: Option<String>,
    /// The statement of the slowest call.
    pub sample: String,
}

/// The digest of some files.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    /// `slow` or `postgres`.
    pub kind: String,
    /// The files read.
    pub files: Vec<String>,
    /// Bytes read.
    pub bytes: u64,
    /// Calls in all classes.
    pub calls: u64,
    /// Query classes.
    pub classes: u64,
    /// Time of all calls, seconds.
    pub total_s: f64,
    /// Lines no parser could read (`glaux logs parse` shows them).
    pub rejects: u64,
    /// Seconds taken.
    pub seconds: f64,
    /// The classes with the most total time, most first.
    pub top: Vec<QueryClass>,
}

/// The digest of `files` (all slow logs or all PostgreSQL logs), its `limit` costliest classes.
pub async fn digest_files(
    files: &[PathBuf],
    kind: Option<LogKind>,
    prefix: &Prefix,
    limit: usize,
) -> Result<Digest, DigestError> {
    let started = Instant::now();
    let mut kinds = Vec::new();
    for file in files {
        kinds.push(match kind {
            Some(kind) => kind,
            None => kind_of(file, prefix)?,
        });
    }
    let kind = match kinds.first() {
        Some(first) if kinds.iter().all(|k| k == first) => *first,
        _ => return Err(DigestError::Kinds("digest takes slow logs or PostgreSQL logs, one kind per run".into())),
    };
    if !matches!(kind, LogKind::Slow | LogKind::Postgres) {
        return Err(DigestError::Kinds(format!(
            "digest reads slow query logs and PostgreSQL logs; {} is a {} log (try glaux logs parse)",
            files[0].display(),
            kind.name()
        )));
    }
    let bytes = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    let ctx = session();
    let schema = file_schema(kind);
    let rejects = Arc::new(AtomicU64::new(0));
    let mut partitions: Vec<Arc<dyn PartitionStream>> = Vec::new();
    for file in files {
        let ranges = pieces(file, kind)?;
        tracing::debug!(file = %file.display(), pieces = ranges.len(), "digest: parsing");
        for range in ranges {
            let (file, prefix, schema, rejects) = (file.clone(), prefix.clone(), schema.clone(), rejects.clone());
            partitions.push(Arc::new(FileStream { file, range, kind, prefix, schema, rejects }));
        }
    }
    ctx.register_table("log", Arc::new(StreamingTable::try_new(schema, partitions)?))?;
    ctx.sql(&format!("CREATE VIEW calls AS {}", calls_sql(kind))).await?.collect().await?;
    let classes = ctx.sql(CLASSES_SQL).await?.cache().await?;
    ctx.register_table("classes", classes.into_view())?;
    let totals = "SELECT coalesce(sum(calls), 0) AS calls, count(*) AS classes, coalesce(sum(total_s), 0) AS total_s
                  FROM classes";
    #[derive(serde::Deserialize)]
    struct Totals {
        calls: u64,
        classes: u64,
        total_s: f64,
    }
    let totals: Vec<Totals> = read(&ctx, totals).await?;
    let Totals { calls, classes, total_s } =
        totals.into_iter().next().unwrap_or(Totals { calls: 0, classes: 0, total_s: 0.0 });
    let top = read(&ctx, &format!("SELECT * FROM classes ORDER BY total_s DESC, query_id LIMIT {limit}")).await?;
    Ok(Digest {
        kind: kind.name().into(),
        files: files.iter().map(|f| f.display().to_string()).collect(),
        bytes,
        calls,
        classes,
        total_s,
        rejects: rejects.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        top,
    })
}

/// A session with the Athena functions, the sketches and the fingerprints.
fn session() -> SessionContext {
    let ctx = SessionContext::new();
    crate::engine::athena::install(&ctx);
    for function in super::functions::all() {
        ctx.register_udf(function);
    }
    ctx
}

/// The calls of a log as (fingerprint, seconds, lock, rows sent, rows examined, ts, statement).
fn calls_sql(kind: LogKind) -> &'static str {
    match kind {
        LogKind::Postgres => {
            "SELECT fingerprint_postgres(statement) AS fingerprint, duration_ms / 1000.0 AS seconds,
                CAST(NULL AS DOUBLE) AS lock_s, CAST(NULL AS BIGINT) AS rows_sent,
                CAST(NULL AS BIGINT) AS rows_examined, ts, statement
             FROM log
             WHERE duration_ms IS NOT NULL AND statement IS NOT NULL AND protocol_step IN ('simple', 'execute')"
        }
        _ => {
            "SELECT fingerprint_mysql(sql_text) AS fingerprint, query_time_s AS seconds, lock_time_s AS lock_s,
                rows_sent, rows_examined, ts, sql_text AS statement
             FROM log"
        }
    }
}

const CLASSES_SQL: &str = "
    SELECT coalesce(query_id(fingerprint), '') AS query_id, coalesce(fingerprint, '') AS fingerprint,
        count(*) AS calls, coalesce(sum(seconds), 0) AS total_s, coalesce(min(seconds), 0) AS min_s,
        coalesce(max(seconds), 0) AS max_s, coalesce(avg(seconds), 0) AS mean_s,
        coalesce(sketch_quantile(latency_sketch(seconds), 0.5), 0) AS p50_s,
        coalesce(sketch_quantile(latency_sketch(seconds), 0.95), 0) AS p95_s,
        coalesce(sketch_quantile(latency_sketch(seconds), 0.99), 0) AS p99_s,
        sum(lock_s) AS lock_s, sum(rows_sent) AS rows_sent, sum(rows_examined) AS rows_examined,
        sketch_histogram(latency_sketch(seconds)) AS distribution,
        date_format(min(ts), '%Y-%m-%d %H:%i:%s') AS first_seen,
        date_format(max(ts), '%Y-%m-%d %H:%i:%s') AS last_seen,
        coalesce(max_by(statement, seconds), '') AS sample
    FROM calls
    GROUP BY fingerprint";

/// The rows of `sql`, read by column name into `T`.
async fn read<T: serde::de::DeserializeOwned>(ctx: &SessionContext, sql: &str) -> Result<Vec<T>, DigestError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let rows = crate::engine::exec::json_rows(&batches).map_err(|e| DigestError::Read(e.to_string()))?;
    rows.into_iter().map(|row| serde_json::from_value(row).map_err(|e| DigestError::Read(e.to_string()))).collect()
}

/// Files under this size are parsed whole.
const PIECE_MIN: u64 = 64 << 20;

/// The byte ranges of `file` to parse apart, one per core for a large slow log: each starts at
/// a `# Time:` line, where an entry begins with its time (an entry's other header lines follow
/// it). Other logs, small files and slow logs without such a line near a cut are one range.
fn pieces(file: &Path, kind: LogKind) -> Result<Vec<(u64, u64)>, InspectError> {
    let read = |source| InspectError::Read { path: file.to_path_buf(), source };
    let len = std::fs::metadata(file).map_err(read)?.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    if kind != LogKind::Slow || len < PIECE_MIN || cores < 2 {
        return Ok(vec![(0, len)]);
    }
    let mut input = std::fs::File::open(file).map_err(read)?;
    let mut starts = vec![0];
    let mut window = vec![0u8; 4 << 20];
    for k in 1..cores {
        let at = len * k / cores;
        input.seek(std::io::SeekFrom::Start(at)).map_err(read)?;
        let got = input.read(&mut window).map_err(read)?;
        if let Some(found) = memchr::memmem::find(&window[..got], b"\n# Time: ") {
            let start = at + found as u64 + 1;
            if start > *starts.last().expect("starts with 0") {
                starts.push(start);
            }
        }
    }
    let ends = starts.iter().skip(1).copied().chain([len]);
    Ok(starts.iter().copied().zip(ends).collect())
}

/// A byte range of a file parsed on its own thread into the stream of a partition.
#[derive(Debug)]
struct FileStream {
    file: PathBuf,
    range: (u64, u64),
    kind: LogKind,
    prefix: Prefix,
    schema: SchemaRef,
    rejects: Arc<AtomicU64>,
}

impl PartitionStream for FileStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let (file, kind, prefix, schema) = (self.file.clone(), self.kind, self.prefix.clone(), self.schema.clone());
        let (rejects, range) = (self.rejects.clone(), self.range);
        std::thread::spawn(move || {
            let send = |batch: datafusion::error::Result<RecordBatch>| sender.blocking_send(batch).is_ok();
            if let Err(e) = parse_into(&file, range, kind, &prefix, schema, &rejects, &send) {
                send(Err(datafusion::error::DataFusionError::External(Box::new(e))));
            }
        });
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|batch| (batch, receiver))
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

/// Parses `range` of `file` and hands each batch of rows to `send` (which says whether to go
/// on), counting the rejected lines.
fn parse_into(
    file: &Path,
    range: (u64, u64),
    kind: LogKind,
    prefix: &Prefix,
    schema: SchemaRef,
    rejects: &AtomicU64,
    send: &dyn Fn(datafusion::error::Result<RecordBatch>) -> bool,
) -> Result<(), InspectError> {
    parse_file(file, Some(range), kind, prefix, schema, &mut |parsed| {
        rejects.fetch_add(parsed.rejects.len() as u64, Ordering::Relaxed);
        send(Ok(parsed.batch))
    })?;
    Ok(())
}

impl Digest {
    /// The report for people: totals, the profile pt-query-digest prints (rank, query ID,
    /// response time and share, calls, time per call, p95, fingerprint), then each class with
    /// its time distribution and slowest statement.
    pub fn profile(&self) -> String {
        let mut out = format!(
            "# {} {} file(s), {} bytes: {} calls in {} query classes, {:.6} s of query time ({:.2} s to digest)\n",
            self.files.len(),
            self.kind,
            self.bytes,
            self.calls,
            self.classes,
            self.total_s,
            self.seconds
        );
        if self.rejects > 0 {
            out.push_str(&format!("# {} lines could not be read: glaux logs parse lists them\n", self.rejects));
        }
        out.push_str("\n# Profile\n");
        out.push_str(&format!(
            "# {:>4} {:<34} {:>19} {:>8} {:>9} {:>9}  {}\n",
            "Rank", "Query ID", "Response time", "Calls", "R/Call", "p95", "Item"
        ));
        for (rank, class) in self.top.iter().enumerate() {
            let share = if self.total_s > 0.0 { class.total_s / self.total_s * 100.0 } else { 0.0 };
            let item: String = class.fingerprint.chars().take(60).collect();
            out.push_str(&format!(
                "# {:>4} 0x{:<32} {:>12.4} {:>5.1}% {:>8} {:>9.4} {:>9.4}  {}\n",
                rank + 1,
                class.query_id,
                class.total_s,
                share,
                class.calls,
                class.mean_s,
                class.p95_s,
                item
            ));
        }
        for (rank, class) in self.top.iter().enumerate() {
            out.push_str(&format!("\n# Query {}: 0x{}\n", rank + 1, class.query_id));
            out.push_str(&format!(
                "# Calls {}  total {:.6} s  min {:.6}  max {:.6}  mean {:.6}  p50 {:.6}  p95 {:.6}  p99 {:.6}\n",
                class.calls,
                class.total_s,
                class.min_s,
                class.max_s,
                class.mean_s,
                class.p50_s,
                class.p95_s,
                class.p99_s
            ));
            if let (Some(lock), Some(sent), Some(examined)) = (class.lock_s, class.rows_sent, class.rows_examined) {
                out.push_str(&format!("# Lock {lock:.6} s  rows sent {sent}  rows examined {examined}\n"));
            }
            if let (Some(first), Some(last)) = (&class.first_seen, &class.last_seen) {
                out.push_str(&format!("# Seen {first} to {last}\n"));
            }
            out.push_str("# Query time distribution\n");
            let most = class.distribution.iter().copied().max().unwrap_or(0).max(1);
            for (label, count) in DECADES.iter().zip(&class.distribution) {
                let bar = "#".repeat(((*count as f64 / most as f64) * 60.0).ceil() as usize);
                out.push_str(&format!("#  {label:>5}  {bar}\n"));
            }
            out.push_str(&format!("{}\n", class.fingerprint));
            out.push_str(&format!("# slowest: {}\n", class.sample.replace('\n', " ")));
        }
        out
    }
}

/// The labels of pt-query-digest's time distribution, one per decade from 1 µs.
pub const DECADES: [&str; 8] = ["1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s+"];
