//! Log files of RDS and Aurora instances, through the RDS API (aws-sdk-rds).
//!
//! - A cluster identifier resolves to its member instances (DescribeDBClusters); logs exist per
//!   instance only.
//! - DescribeDBLogFiles with `FileLastWritten` lists the files written in the lookback window.
//! - DownloadDBLogFilePortion reads from marker `"0"` (or the ledger's marker) and follows the
//!   returned markers until `AdditionalDataPending` is false. A page that hits the 1 MB cap
//!   carries `" [Your log message was truncated]"`; the page is fetched again with half as many
//!   lines, down to one line — a single line over 1 MB is then taken as RDS cut it, and counted.
//! - Throttling (`ThrottlingException`) is retried by the SDK's standard retry mode
//!   (exponential backoff with jitter, up to [`MAX_ATTEMPTS`] attempts), and every request first
//!   waits for the source's requests-per-second budget, so a run stays under the account limit.
//! - A page that repeats bytes of the one before (seen in the wild) is trimmed, when the
//!   markers and the repeated bytes both say so.
//! - `DBLogFileNotFoundFault` while reading means the file rotated away: what was read is kept
//!   and the file is reported as vanished.
//!
//! Credentials come from the standard AWS chain; the endpoint can be set per source (VPC
//! endpoints, the test server) or with `AWS_ENDPOINT_URL_RDS`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::error::DisplayErrorContext;
use bytes::Bytes;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{LogFile, LogReader, LogSource, RESUME_TAIL_BYTES, Resume, SourceError, check_file_name, check_instance};

/// Attempts per request, throttling included.
pub const MAX_ATTEMPTS: u32 = 10;

/// What RDS appends to a line cut at the 1 MB page limit.
pub const TRUNCATION_NOTICE: &str = " [Your log message was truncated]";

/// Settings of an RDS source.
#[derive(Debug, Clone, Default)]
pub struct RdsSettings {
    /// AWS region; the chain's region when unset.
    pub region: Option<String>,
    /// Endpoint URL; the SDK's default (or `AWS_ENDPOINT_URL_RDS`) when unset.
    pub endpoint: Option<String>,
    /// Requests per second this source may send.
    pub requests_per_second: f64,
}

/// Spaces requests out to a budget, shared by every instance of one source.
#[derive(Debug)]
pub struct Budget {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Budget {
    /// At most `per_second` requests a second.
    pub fn new(per_second: f64) -> Budget {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.01));
        Budget { interval, next: Mutex::new(Instant::now()) }
    }

    /// Waits for the next request's turn.
    pub async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        let at = (*next).max(now);
        *next = at + self.interval;
        drop(next);
        tokio::time::sleep_until(at).await;
    }
}

/// An RDS API client with its request budget.
#[derive(Clone, Debug)]
pub struct Rds {
    client: Client,
    budget: Arc<Budget>,
}

fn api_error<E: std::error::Error + 'static>(operation: &'static str, target: &str, error: E) -> SourceError {
    SourceError::Rds {
        operation,
        target: target.to_string(),
        message: crate::error::one_line(&DisplayErrorContext(error).to_string()),
    }
}

impl Rds {
    /// A client from the standard AWS chain with `settings`.
    pub async fn connect(settings: &RdsSettings) -> Rds {
        let mut loader = crate::warehouse::aws_defaults()
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        Rds { client: Client::new(&config), budget: Arc::new(Budget::new(settings.requests_per_second)) }
    }

    /// The member instances of `cluster` (writer first).
    pub async fn cluster_members(&self, cluster: &str) -> Result<Vec<String>, SourceError> {
        self.budget.wait().await;
        let output = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBClusters", cluster, e))?;
        let mut members: Vec<(bool, String)> = output
            .db_clusters()
            .iter()
            .flat_map(|c| c.db_cluster_members())
            .filter_map(|m| Some((!m.is_cluster_writer().unwrap_or(false), m.db_instance_identifier()?.to_string())))
            .collect();
        members.sort();
        Ok(members.into_iter().map(|(_, name)| name).collect())
    }

    /// Checks that `instance` exists (DescribeDBInstances).
    pub async fn check_instance_exists(&self, instance: &str) -> Result<(), SourceError> {
        self.budget.wait().await;
        self.client
            .describe_db_instances()
            .db_instance_identifier(instance)
            .send()
            .await
            .map_err(|e| api_error("DescribeDBInstances", instance, e))?;
        Ok(())
    }

    /// The source of one instance's logs.
    pub fn instance(&self, instance: &str) -> Result<RdsInstance, SourceError> {
        check_instance(instance)?;
        Ok(RdsInstance { rds: self.clone(), instance: instance.to_string() })
    }
}

/// One RDS instance's log files.
#[derive(Debug, Clone)]
pub struct RdsInstance {
    rds: Rds,
    instance: String,
}

#[async_trait]
impl LogSource for RdsInstance {
    fn instance(&self) -> &str {
        &self.instance
    }

    async fn list(&self, since: i64) -> Result<Vec<LogFile>, SourceError> {
        let mut files = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.rds.budget.wait().await;
            let output = self
                .rds
                .client
                .describe_db_log_files()
                .db_instance_identifier(&self.instance)
                .file_last_written(since)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| api_error("DescribeDBLogFiles", &self.instance, e))?;
            for detail in output.describe_db_log_files() {
                let Some(name) = detail.log_file_name() else { continue };
                check_file_name(name)?;
                files.push(LogFile {
                    name: name.to_string(),
                    size: detail.size().unwrap_or(0).max(0) as u64,
                    last_written: detail.last_written().unwrap_or(0),
                });
            }
            marker = output.marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    async fn head(&self, _file: &LogFile, _len: usize) -> Result<Option<Bytes>, SourceError> {
        Ok(None)
    }

    async fn open(&self, file: &LogFile, from: &Resume) -> Result<Box<dyn LogReader>, SourceError> {
        Ok(Box::new(PortionReader {
            rds: self.rds.clone(),
            instance: self.instance.clone(),
            file: file.name.clone(),
            marker: from.marker.clone().unwrap_or_else(|| "0".to_string()),
            offset: from.offset,
            done: false,
            vanished: false,
            truncated: 0,
            overlaps: 0,
            tail: from.tail.clone(),
        }))
    }
}

/// Reads a file page by page with DownloadDBLogFilePortion.
struct PortionReader {
    rds: Rds,
    instance: String,
    file: String,
    marker: String,
    offset: u64,
    done: bool,
    vanished: bool,
    truncated: u64,
    overlaps: u64,
    /// The end of the data returned so far.
    tail: Vec<u8>,
}

/// How much of the end of the data returned so far is kept to recognise a repeated page.
const TAIL_BYTES: usize = 1 << 20;

/// The segment and byte offset of a marker of the observed shape `"<segment>:<offset>"`.
fn marker_position(marker: &str) -> Option<(&str, u64)> {
    let (segment, offset) = marker.rsplit_once(':')?;
    Some((segment, offset.parse().ok()?))
}

impl PortionReader {
    /// Bytes at the start of `data` that repeat what was already returned. Pages have been
    /// seen to overlap (aws-sdk-php#1422). Markers are opaque, so both signs must agree: the
    /// markers (when they have the observed `segment:offset` shape) span fewer bytes than the
    /// page holds, and the page's extra bytes are exactly the end of what was returned before.
    fn overlap(&self, next_marker: &str, data: &[u8], notices: usize) -> usize {
        let (Some((from_segment, from)), Some((to_segment, to))) =
            (marker_position(&self.marker), marker_position(next_marker))
        else {
            return 0;
        };
        if from_segment != to_segment || to < from {
            return 0;
        }
        // A truncation notice is at the end of a page; the repeated bytes are at its start.
        let extra = (data.len() - notices).saturating_sub((to - from) as usize);
        match extra > 0 && extra <= self.tail.len() && self.tail.ends_with(&data[..extra]) {
            true => extra,
            false => 0,
        }
    }

    fn keep_tail(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        if self.tail.len() > TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
    }

    /// One page from the current marker: (data, next marker, more pending).
    async fn page(&mut self, lines: Option<i32>) -> Result<Option<(String, String, bool)>, SourceError> {
        self.rds.budget.wait().await;
        let result = self
            .rds
            .client
            .download_db_log_file_portion()
            .db_instance_identifier(&self.instance)
            .log_file_name(&self.file)
            .marker(&self.marker)
            .set_number_of_lines(lines)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some((
                output.log_file_data().unwrap_or("").to_string(),
                output.marker().unwrap_or(&self.marker).to_string(),
                output.additional_data_pending().unwrap_or(false),
            ))),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_db_log_file_not_found_fault()) => Ok(None),
            Err(error) => {
                Err(api_error("DownloadDBLogFilePortion", &format!("{}/{}", self.instance, self.file), error))
            }
        }
    }
}

#[async_trait]
impl LogReader for PortionReader {
    async fn next(&mut self) -> Result<Option<Bytes>, SourceError> {
        while !self.done {
            let mut lines = None;
            let (data, marker, pending) = loop {
                let Some((data, marker, pending)) = self.page(lines).await? else {
                    tracing::warn!(instance = %self.instance, file = %self.file, "log file vanished while being read");
                    self.vanished = true;
                    self.done = true;
                    return Ok(None);
                };
                if !data.contains(TRUNCATION_NOTICE) || lines == Some(1) {
                    if data.contains(TRUNCATION_NOTICE) {
                        self.truncated += data.matches(TRUNCATION_NOTICE).count() as u64;
                    }
                    break (data, marker, pending);
                }
                // Fetch the page again with fewer lines so no line is cut.
                let in_page = data.matches('\n').count().max(2) as i32;
                lines = Some((lines.unwrap_or(in_page).min(in_page) / 2).max(1));
            };
            // A service that returns the same marker with nothing new has nothing more to give.
            let stuck = marker == self.marker && data.is_empty();
            let notices = data.matches(TRUNCATION_NOTICE).count() * TRUNCATION_NOTICE.len();
            let mut data = Bytes::from(data.into_bytes());
            let overlap = self.overlap(&marker, &data, notices);
            if overlap > 0 {
                tracing::warn!(instance = %self.instance, file = %self.file, bytes = overlap, "page repeated bytes already read; dropped");
                self.overlaps += 1;
                data = data.slice(overlap..);
            }
            self.marker = marker;
            self.done = !pending || stuck;
            if !data.is_empty() {
                // Offsets count the file's bytes, not the notices RDS added.
                self.offset += (data.len() - notices) as u64;
                self.keep_tail(&data);
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    fn resume(&self) -> Resume {
        let tail = &self.tail[self.tail.len().saturating_sub(RESUME_TAIL_BYTES)..];
        Resume { offset: self.offset, marker: Some(self.marker.clone()), tail: tail.to_vec() }
    }

    fn overlapping_pages(&self) -> u64 {
        self.overlaps
    }

    fn vanished(&self) -> bool {
        self.vanished
    }

    fn truncated_lines(&self) -> u64 {
        self.truncated
    }
}
