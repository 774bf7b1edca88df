//! The scheduler's metrics: kept in memory, served in Prometheus' text format on a configured
//! address, and published to CloudWatch (namespace and dimensions from `[scheduler.cloudwatch]`)
//! as the seeds' log export does: a heartbeat, run successes and failures, durations, rows and
//! bytes written, and each log source's lag.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::CloudWatchConfig;

/// What one finished run reports.
#[derive(Debug, Clone)]
pub struct RunMetrics {
    /// The entry.
    pub entry: String,
    /// Whether it succeeded.
    pub succeeded: bool,
    /// Its duration.
    pub duration_s: f64,
    /// Rows its command's runs wrote.
    pub rows: u64,
    /// Bytes its command's runs wrote.
    pub bytes: u64,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct EntryFigures {
    succeeded: u64,
    failed: u64,
    skipped: u64,
    rows: u64,
    bytes: u64,
    last_duration_s: f64,
    last_end: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    running: bool,
}

#[derive(Debug, Default)]
struct Figures {
    heartbeat: Option<DateTime<Utc>>,
    entries: BTreeMap<String, EntryFigures>,
    lag_s: BTreeMap<String, f64>,
}

/// The figures the scheduler keeps, shared by its tasks.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    figures: Arc<Mutex<Figures>>,
}

impl Metrics {
    /// Figures for `entries`, all zero.
    pub fn new(entries: &[String]) -> Metrics {
        let metrics = Metrics::default();
        {
            let mut figures = metrics.lock();
            for entry in entries {
                figures.entries.entry(entry.clone()).or_default();
            }
        }
        metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Figures> {
        self.figures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A tick.
    pub fn heartbeat(&self, at: DateTime<Utc>) {
        self.lock().heartbeat = Some(at);
    }

    /// A run started or ended.
    pub fn running(&self, entry: &str, running: bool) {
        self.lock().entries.entry(entry.to_string()).or_default().running = running;
    }

    /// A fire time skipped because the previous run was still going.
    pub fn skipped(&self, entry: &str) {
        self.lock().entries.entry(entry.to_string()).or_default().skipped += 1;
    }

    /// A run ended.
    pub fn run(&self, run: &RunMetrics) {
        let mut figures = self.lock();
        let e = figures.entries.entry(run.entry.clone()).or_default();
        if run.succeeded {
            e.succeeded += 1;
            e.last_success = Some(run.ended_at);
        } else {
            e.failed += 1;
        }
        e.rows += run.rows;
        e.bytes += run.bytes;
        e.last_duration_s = run.duration_s;
        e.last_end = Some(run.ended_at);
    }

    /// The age of each instance's newest ingested log line.
    pub fn lag(&self, lag_s: BTreeMap<String, f64>) {
        self.lock().lag_s = lag_s;
    }

    /// The figures in Prometheus' text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let figures = self.lock();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        let seconds = |t: &Option<DateTime<Utc>>| t.map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0);
        family(
            "glaux_scheduler_heartbeat_timestamp_seconds",
            "gauge",
            "When the scheduler last ticked, Unix seconds.",
            vec![(String::new(), seconds(&figures.heartbeat))],
        );
        let per_entry = |f: &dyn Fn(&EntryFigures) -> f64| -> Vec<(String, f64)> {
            figures.entries.iter().map(|(name, e)| (format!("{{entry=\"{}\"}}", escape(name)), f(e))).collect()
        };
        let runs: Vec<(String, f64)> = figures
            .entries
            .iter()
            .flat_map(|(name, e)| {
                let name = escape(name);
                [
                    (format!("{{entry=\"{name}\",status=\"succeeded\"}}"), e.succeeded as f64),
                    (format!("{{entry=\"{name}\",status=\"failed\"}}"), e.failed as f64),
                ]
            })
            .collect();
        family("glaux_schedule_runs_total", "counter", "Finished runs of each entry by outcome.", runs);
        family(
            "glaux_schedule_skipped_total",
            "counter",
            "Fire times skipped because the previous run was still going.",
            per_entry(&|e| e.skipped as f64),
        );
        family(
            "glaux_schedule_running",
            "gauge",
            "Whether a run of the entry is going on here.",
            per_entry(&|e| f64::from(u8::from(e.running))),
        );
        family(
            "glaux_schedule_last_duration_seconds",
            "gauge",
            "Duration of the entry's last run.",
            per_entry(&|e| e.last_duration_s),
        );
        family(
            "glaux_schedule_last_run_timestamp_seconds",
            "gauge",
            "When the entry's last run ended, Unix seconds.",
            per_entry(&|e| seconds(&e.last_end)),
        );
        family(
            "glaux_schedule_last_success_timestamp_seconds",
            "gauge",
            "When the entry last succeeded, Unix seconds.",
            per_entry(&|e| seconds(&e.last_success)),
        );
        family(
            "glaux_schedule_rows_written_total",
            "counter",
            "Rows the entry's runs wrote.",
            per_entry(&|e| e.rows as f64),
        );
        family(
            "glaux_schedule_bytes_written_total",
            "counter",
            "Bytes of Parquet the entry's runs wrote.",
            per_entry(&|e| e.bytes as f64),
        );
        let lag = figures.lag_s.iter().map(|(i, s)| (format!("{{instance=\"{}\"}}", escape(i)), *s)).collect();
        family("glaux_source_lag_seconds", "gauge", "Age of the newest ingested log line of each instance.", lag);
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serves [`Metrics::render`] at `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Metrics) {
    loop {
        let mut socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(error) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(%error, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = request.split(|b| *b == b'\n').next().unwrap_or_default();
            let response = if line.starts_with(b"GET /metrics ") || line.starts_with(b"GET /metrics?") {
                let body = metrics.render();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let body = "glaux serves its metrics at /metrics\n";
                format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

/// Publishes metrics to CloudWatch; failures are logged, never fatal.
#[derive(Debug, Clone)]
pub struct CloudWatch {
    client: aws_sdk_cloudwatch::Client,
    namespace: String,
    dimensions: Vec<(String, String)>,
}

impl CloudWatch {
    /// A publisher with the settings of `[scheduler.cloudwatch]`; credentials and endpoint
    /// come from the standard AWS chain.
    pub async fn connect(config: &CloudWatchConfig) -> CloudWatch {
        let mut loader = crate::warehouse::aws_defaults();
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let client = aws_sdk_cloudwatch::Client::new(&loader.load().await);
        CloudWatch {
            client,
            namespace: config.namespace.clone().unwrap_or_else(|| "glaux".to_string()),
            dimensions: config.dimensions.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    fn datum(
        &self,
        name: &str,
        value: f64,
        unit: StandardUnit,
        extra: &[(&str, &str)],
        at: DateTime<Utc>,
    ) -> MetricDatum {
        let dimensions = self
            .dimensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .map(|(name, value)| Dimension::builder().name(name).value(value).build())
            .collect();
        MetricDatum::builder()
            .metric_name(name)
            .value(value)
            .unit(unit)
            .set_dimensions(Some(dimensions))
            .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(at.timestamp_millis()))
            .build()
    }

    async fn put(&self, data: Vec<MetricDatum>) {
        // PutMetricData takes up to 1,000 values per call.
        for chunk in data.chunks(500) {
            let sent = self
                .client
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await;
            if let Err(error) = sent {
                let error = aws_sdk_cloudwatch::error::DisplayErrorContext(&error);
                tracing::warn!(namespace = %self.namespace, "could not publish metrics to CloudWatch: {error}");
            }
        }
    }

    /// A heartbeat, and each instance's lag.
    pub async fn tick(&self, at: DateTime<Utc>, lag_s: &BTreeMap<String, f64>) {
        let mut data = vec![self.datum("Heartbeat", 1.0, StandardUnit::Count, &[], at)];
        for (instance, seconds) in lag_s {
            data.push(self.datum("SourceLag", *seconds, StandardUnit::Seconds, &[("Instance", instance)], at));
        }
        self.put(data).await;
    }

    /// A finished run.
    pub async fn run(&self, run: &RunMetrics) {
        let entry = [("Entry", run.entry.as_str())];
        let at = run.ended_at;
        let (succeeded, failed) = if run.succeeded { (1.0, 0.0) } else { (0.0, 1.0) };
        self.put(vec![
            self.datum("RunSucceeded", succeeded, StandardUnit::Count, &entry, at),
            self.datum("RunFailed", failed, StandardUnit::Count, &entry, at),
            self.datum("RunDuration", run.duration_s, StandardUnit::Seconds, &entry, at),
            self.datum("RowsWritten", run.rows as f64, StandardUnit::Count, &entry, at),
            self.datum("BytesWritten", run.bytes as f64, StandardUnit::Bytes, &entry, at),
        ])
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_entries_and_outcomes() {
        let metrics = Metrics::new(&["logs".into()]);
        metrics.run(&RunMetrics {
            entry: "logs".into(),
            succeeded: false,
            duration_s: 1.5,
            rows: 10,
            bytes: 100,
            ended_at: Utc::now(),
        });
        metrics.lag(BTreeMap::from([("db-1".to_string(), 42.0)]));
        let text = metrics.render();
        assert!(text.contains("glaux_schedule_runs_total{entry=\"logs\",status=\"failed\"} 1"), "{text}");
        assert!(text.contains("glaux_schedule_rows_written_total{entry=\"logs\"} 10"), "{text}");
        assert!(text.contains("glaux_source_lag_seconds{instance=\"db-1\"} 42"), "{text}");
        assert!(text.contains("# TYPE glaux_schedule_runs_total counter"), "{text}");
    }
}
