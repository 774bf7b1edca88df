//! The progress line of a long query on a terminal: elapsed time, rows read by the plan's
//! leaves, bytes and files read by its scans. It appears after a second, redraws a few times a
//! second on standard error, and is erased when the query ends or is cancelled.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

/// How long a query runs before its progress shows.
const QUIET_FOR: Duration = Duration::from_secs(1);
const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// A running progress line; dropping it stops and erases it.
pub struct ProgressLine {
    ticker: tokio::task::JoinHandle<()>,
    /// Whether the line was ever drawn (a quick query leaves the terminal untouched).
    drawn: Arc<AtomicBool>,
}

impl ProgressLine {
    /// Starts watching `plan`, which is being executed.
    pub fn start(plan: Arc<dyn ExecutionPlan>) -> ProgressLine {
        let started = Instant::now();
        let drawn = Arc::new(AtomicBool::new(false));
        let shown = drawn.clone();
        let ticker = tokio::spawn(async move {
            tokio::time::sleep(QUIET_FOR).await;
            loop {
                shown.store(true, Ordering::Relaxed);
                draw(&describe(&read(&plan), started.elapsed()));
                tokio::time::sleep(REDRAW_EVERY).await;
            }
        });
        ProgressLine { ticker, drawn }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.ticker.abort();
        if self.drawn.load(Ordering::Relaxed) {
            draw("");
        }
    }
}

/// Replaces the terminal's current line with `line` (errors writing to stderr are ignored: the
/// line is a courtesy).
fn draw(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}

/// What a plan has read so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Read {
    /// Rows produced by the plan's leaves (scans, generators).
    pub rows: usize,
    /// Bytes fetched by file scans.
    pub bytes: usize,
    /// Files the scans have opened.
    pub files_opened: usize,
    /// Files the scans will read.
    pub files: usize,
}

/// Adds up the metrics of `plan`'s leaves.
pub fn read(plan: &Arc<dyn ExecutionPlan>) -> Read {
    let mut total = Read::default();
    collect(plan.as_ref(), &mut total);
    total
}

fn collect(plan: &dyn ExecutionPlan, total: &mut Read) {
    let children = plan.children();
    if children.is_empty() {
        if let Some(metrics) = plan.metrics() {
            total.rows += metrics.output_rows().unwrap_or(0);
            total.bytes += metrics.sum_by_name("bytes_scanned").map_or(0, |m| m.as_usize());
            // File scans label their per-file metrics with the file's name.
            let mut opened: Vec<String> = metrics
                .iter()
                .flat_map(|m| {
                    m.labels()
                        .iter()
                        .filter(|l| l.name() == "filename")
                        .map(|l| l.value().to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            opened.sort();
            opened.dedup();
            total.files_opened += opened.len();
        }
        if let Some(config) =
            plan.downcast_ref::<DataSourceExec>().and_then(|s| s.data_source().downcast_ref::<FileScanConfig>())
        {
            total.files += config.file_groups.iter().map(|g| g.len()).sum::<usize>();
        }
    }
    for child in children {
        collect(child.as_ref(), total);
    }
}

/// `12.3s | 4,500,000 rows | 210.4 MB | 12/40 files`
pub fn describe(read: &Read, elapsed: Duration) -> String {
    let mut line = format!("{:.1}s | {} rows", elapsed.as_secs_f64(), thousands(read.rows));
    if read.bytes > 0 {
        line.push_str(&format!(" | {:.1} MB", read.bytes as f64 / 1e6));
    }
    if read.files > 0 {
        line.push_str(&format!(" | {}/{} files", read.files_opened.min(read.files), read.files));
    }
    line
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_time_rows_bytes_and_files() {
        let read = Read { rows: 4_500_000, bytes: 210_400_000, files_opened: 12, files: 40 };
        assert_eq!(describe(&read, Duration::from_millis(12_345)), "12.3s | 4,500,000 rows | 210.4 MB | 12/40 files");
        assert_eq!(describe(&Read { rows: 999, ..Read::default() }, Duration::from_secs(2)), "2.0s | 999 rows");
    }

    #[tokio::test]
    async fn a_scan_reports_the_rows_it_read() {
        let ctx = datafusion::prelude::SessionContext::new();
        let frame = ctx.sql("SELECT count(*) FROM generate_series(1, 100000)").await.unwrap();
        let plan = frame.create_physical_plan().await.unwrap();
        datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx()).await.unwrap();
        assert_eq!(read(&plan).rows, 100_000);
    }

    #[tokio::test]
    async fn a_parquet_scan_reports_bytes_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = datafusion::prelude::SessionContext::new().enable_url_table();
        for file in ["a", "b"] {
            let path = dir.path().join(format!("{file}.parquet"));
            let copy = format!(
                "COPY (SELECT value AS v FROM generate_series(1, 5000)) TO '{}' STORED AS PARQUET",
                path.display()
            );
            ctx.sql(&copy).await.unwrap().collect().await.unwrap();
        }
        let scan = format!("SELECT sum(v) FROM '{}/'", dir.path().display());
        let plan = ctx.sql(&scan).await.unwrap().create_physical_plan().await.unwrap();
        datafusion::physical_plan::collect(plan.clone(), ctx.task_ctx()).await.unwrap();
        let read = read(&plan);
        assert_eq!((read.rows, read.files, read.files_opened), (10_000, 2, 2), "{read:?}");
        assert!(read.bytes > 0, "{read:?}");
    }
}
