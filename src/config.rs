//! Settings: `glaux.toml`, `GLAUX_*` environment variables and command-line flags, merged once.
//!
//! Precedence is flag > environment > `glaux.toml` > default. The standard AWS variables
//! (`AWS_REGION`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`) count as
//! environment, after their `GLAUX_*` counterparts. The result is a typed [`Settings`] that the
//! rest of glaux receives; nothing below this module reads the environment or the raw flags.
//! Credentials are never settings: they come from the AWS chain at the moment of use.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Categorize, Category};

/// Name of the project configuration file.
pub const CONFIG_FILE: &str = "glaux.toml";

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// the file
        path: PathBuf,
        /// the I/O failure
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// the file
        path: PathBuf,
        /// 1-based line of the problem
        line: usize,
        /// what the parser said, naming the key
        message: String,
    },
    /// A setting has a value glaux cannot use.
    #[error("setting {name} = `{value}`: {reason}")]
    BadValue {
        /// where it came from, e.g. `GLAUX_S3_ALLOW_HTTP` or `warehouse.location`
        name: String,
        /// the value given
        value: String,
        /// what is accepted
        reason: String,
    },
    /// The project directory does not exist.
    #[error("project directory {path} does not exist; create one with `glaux init {path}`")]
    NoProject {
        /// the directory
        path: PathBuf,
    },
}

impl Categorize for ConfigError {
    fn category(&self) -> Category {
        // An unreadable glaux.toml is a configuration problem too: the user fixes the file.
        Category::Usage
    }
}

/// The contents of `glaux.toml`. Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `[warehouse]`
    #[serde(default)]
    pub warehouse: FileWarehouse,
    /// `[glue]`
    #[serde(default)]
    pub glue: FileGlue,
    /// `[engine]`
    #[serde(default)]
    pub engine: FileEngine,
    /// `[aurora]`
    #[serde(default)]
    pub aurora: FileAurora,
    /// `[scheduler]`
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// `[[schedule]]`, in order.
    #[serde(default)]
    pub schedule: Vec<ScheduleEntryConfig>,
    /// `[retention]`: how long each table's partitions are kept (`"db.table" = "90d"`), over the
    /// table's own `glaux.retention` parameter.
    #[serde(default)]
    pub retention: std::collections::BTreeMap<String, String>,
}

/// `[scheduler]` in `glaux.toml`: how `glaux schedule` runs, as written; checked by
/// [`crate::schedule`] when the scheduler starts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// How often the scheduler writes its heartbeat and publishes metrics [default: 60s].
    pub heartbeat: Option<String>,
    /// How long a run's lease lasts without renewal [default: 60s]; renewed every third of it.
    pub lease: Option<String>,
    /// How long a run may go on after SIGTERM or SIGINT before it is cancelled [default: 5m].
    pub shutdown_grace: Option<String>,
    /// Default `on_failure` hook of the entries.
    pub on_failure: Option<String>,
    /// Default `on_recovery` hook of the entries.
    pub on_recovery: Option<String>,
    /// Default `failure_threshold` of the entries [default: 1].
    pub failure_threshold: Option<u32>,
    /// `[scheduler.cloudwatch]`: publish metrics to CloudWatch.
    pub cloudwatch: Option<CloudWatchConfig>,
    /// `[scheduler.prometheus]`: serve metrics in Prometheus' text format.
    pub prometheus: Option<PrometheusConfig>,
    /// `[scheduler.lag]`: alert when a log source falls behind.
    pub lag: Option<LagConfig>,
}

/// `[scheduler.cloudwatch]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchConfig {
    /// Metric namespace [default: glaux].
    pub namespace: Option<String>,
    /// Dimensions added to every metric, such as `{ Project = "crm" }`.
    #[serde(default)]
    pub dimensions: std::collections::BTreeMap<String, String>,
    /// AWS region [default: the AWS chain's].
    pub region: Option<String>,
}

/// `[scheduler.prometheus]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Address to serve `/metrics` on, such as `127.0.0.1:9464`.
    pub listen: String,
}

/// `[scheduler.lag]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LagConfig {
    /// Alert when an instance's newest ingested log line is older than this, such as `2h`.
    pub threshold: String,
    /// Command run (by `sh -c`) when an instance starts lagging, and again once it caught up.
    pub on_lag: Option<String>,
}

/// One `[[schedule]]` entry, as written; checked by [`crate::schedule`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntryConfig {
    /// The entry's name (`glaux schedule run NAME`).
    pub name: String,
    /// Cron pattern: five fields, or six with seconds first.
    pub cron: String,
    /// The glaux command line to run, without `glaux`, such as `ingest aurora`.
    pub run: String,
    /// IANA time zone the pattern is read in [default: UTC].
    pub timezone: Option<String>,
    /// Longest a run may take before it is cancelled, such as `50m` [default: none].
    pub timeout: Option<String>,
    /// Attempts after a failed one, with exponential backoff [default: 0].
    pub retries: Option<u32>,
    /// Wait before the first retry; doubled for each further one [default: 30s].
    pub retry_delay: Option<String>,
    /// A fire time missed while a run went on or the scheduler was down: `skip` or `once`
    /// [default: skip].
    pub catch_up: Option<String>,
    /// Command run (by `sh -c`) after `failure_threshold` consecutive failures.
    pub on_failure: Option<String>,
    /// Command run once when a run succeeds after the failure hook fired.
    pub on_recovery: Option<String>,
    /// Consecutive failures that fire `on_failure` [default: 1].
    pub failure_threshold: Option<u32>,
}

/// `[aurora]` in `glaux.toml`: where database logs come from.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAurora {
    /// `[[aurora.sources]]`, in order.
    #[serde(default)]
    pub sources: Vec<LogSourceConfig>,
    /// How long the landed raw copies (`aurora-logs/<instance>/<day>/`) are kept, by their day;
    /// a vacuum removes older ones [default: kept].
    pub landed_retention: Option<String>,
}

/// One `[[aurora.sources]]` entry: an RDS cluster, RDS instances, or a local directory.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSourceConfig {
    /// Name used with `glaux ingest aurora --source NAME`.
    pub name: String,
    /// Aurora cluster identifier; its member instances are read.
    pub cluster: Option<String>,
    /// RDS instance identifiers.
    #[serde(default)]
    pub instances: Vec<String>,
    /// A local log directory (relative to the project) instead of RDS.
    pub dir: Option<PathBuf>,
    /// The instance name the directory's logs are filed under.
    pub instance: Option<String>,
    /// Log kinds to read: error, slow, general, audit, postgres [default: all].
    pub kinds: Option<Vec<String>>,
    /// Lookback for files by last write, such as `7d` or `12h` [default: 7d].
    pub since: Option<String>,
    /// AWS region of the instances [default: the AWS chain's].
    pub region: Option<String>,
    /// RDS endpoint URL [default: the SDK's, or AWS_ENDPOINT_URL_RDS].
    pub endpoint: Option<String>,
    /// RDS requests per second this source may send [default: 5].
    pub requests_per_second: Option<f64>,
    /// PostgreSQL `log_line_prefix` [default: the RDS prefix `%t:%r:%u@%d:[%p]:`].
    pub log_line_prefix: Option<String>,
}

/// `[engine]` in `glaux.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEngine {
    /// A Ballista scheduler (`df://host:port`) that runs this project's queries and jobs.
    pub cluster: Option<String>,
    /// Tasks per query stage on the cluster [default: 16].
    pub cluster_partitions: Option<usize>,
}

/// `[glue]` in `glaux.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGlue {
    /// Push a table to Glue after every commit to it.
    pub auto_push: Option<bool>,
}

/// `[warehouse]` in `glaux.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWarehouse {
    /// Directory (relative to the project) or `s3://bucket/prefix`.
    pub location: Option<String>,
    /// AWS region of the bucket.
    pub region: Option<String>,
    /// S3-compatible endpoint URL.
    pub endpoint: Option<String>,
    /// Permit a plain-http endpoint.
    pub allow_http: Option<bool>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted.
    pub path_style: Option<bool>,
    /// Server-side encryption: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS); unset means the
    /// bucket's default.
    pub sse: Option<String>,
    /// SSE-KMS key id or ARN (implies `aws:kms`).
    pub sse_kms_key_id: Option<String>,
}

/// Flags that override every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--project`
    pub project: Option<PathBuf>,
    /// `--warehouse`
    pub warehouse: Option<String>,
    /// `--cluster`
    pub cluster: Option<String>,
}

/// Where the warehouse is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseSettings {
    /// An absolute directory path or `s3://bucket/prefix`.
    pub location: String,
    /// AWS region of the bucket.
    pub region: Option<String>,
    /// S3-compatible endpoint URL.
    pub endpoint: Option<String>,
    /// Permit a plain-http endpoint.
    pub allow_http: bool,
    /// Path-style addressing.
    pub path_style: bool,
    /// `AES256` or `aws:kms`, when set.
    pub sse: Option<String>,
    /// SSE-KMS key id.
    pub sse_kms_key_id: Option<String>,
}

/// Everything glaux needs to know before it touches data.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project directory, holding `glaux.toml`, `catalog/` and `sql/`.
    pub project: PathBuf,
    /// The warehouse.
    pub warehouse: WarehouseSettings,
    /// The Ballista scheduler queries and jobs run on (`host:port`), when not in this process.
    pub cluster: Option<ClusterAddress>,
    /// Tasks per query stage on the cluster (the most a job splits its work into there).
    pub cluster_partitions: usize,
    /// Push each table to Glue after a commit to it.
    pub glue_auto_push: bool,
    /// `[[aurora.sources]]` as written; checked when they are used.
    pub log_sources: Vec<LogSourceConfig>,
    /// `[aurora] landed_retention`, checked.
    pub landed_retention: Option<chrono::Duration>,
    /// `[scheduler]` as written; checked when the scheduler starts.
    pub scheduler: SchedulerConfig,
    /// `[[schedule]]` as written; checked when the scheduler starts.
    pub schedule: Vec<ScheduleEntryConfig>,
    /// `[retention]` as written; checked when a vacuum applies it.
    pub retention: std::collections::BTreeMap<String, String>,
    /// What started this process, when the scheduler did (`GLAUX_TRIGGER`): recorded with its
    /// runs.
    pub trigger: Option<String>,
}

impl Settings {
    /// `catalog/` in the project.
    pub fn catalog_dir(&self) -> PathBuf {
        self.project.join("catalog")
    }

    /// Resolves settings from flags, an environment lookup and the project's `glaux.toml`.
    /// `cwd` anchors relative paths given by flag or environment.
    pub fn resolve(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
        cwd: &Path,
    ) -> Result<Settings, ConfigError> {
        let project = match overrides.project.clone().or_else(|| env("GLAUX_PROJECT").map(PathBuf::from)) {
            Some(dir) => cwd.join(dir),
            None => cwd.to_path_buf(),
        };
        if !project.is_dir() {
            return Err(ConfigError::NoProject { path: project });
        }
        let file = load_file(&project.join(CONFIG_FILE))?;
        let w = file.warehouse;

        let location = match overrides.warehouse.clone().or_else(|| env("GLAUX_WAREHOUSE")) {
            Some(location) => anchor(&location, cwd),
            None => anchor(w.location.as_deref().unwrap_or("warehouse"), &project),
        };
        let first = |names: &[&str]| names.iter().find_map(|name| env(name).map(|v| (name.to_string(), v)));
        let region = first(&["GLAUX_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]).map(|(_, v)| v).or(w.region);
        let endpoint =
            first(&["GLAUX_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]).map(|(_, v)| v).or(w.endpoint);
        let allow_http = match first(&["GLAUX_S3_ALLOW_HTTP", "AWS_ALLOW_HTTP"]) {
            Some((name, value)) => parse_bool(&name, &value)?,
            None => w.allow_http.unwrap_or(false),
        };
        let path_style = match first(&["GLAUX_S3_PATH_STYLE"]) {
            Some((name, value)) => parse_bool(&name, &value)?,
            // A custom endpoint is almost always an S3-compatible server that wants path style.
            None => w.path_style.unwrap_or(endpoint.is_some()),
        };
        if let Some(endpoint) = &endpoint
            && endpoint.starts_with("http://")
            && !allow_http
        {
            return Err(ConfigError::BadValue {
                name: "S3 endpoint".into(),
                value: endpoint.clone(),
                reason: "plain http is refused; set AWS_ALLOW_HTTP=true or warehouse.allow_http = true".into(),
            });
        }
        let sse_kms_key_id = env("GLAUX_S3_SSE_KMS_KEY_ID").or(w.sse_kms_key_id);
        let sse = match first(&["GLAUX_S3_SSE"]).or(w.sse.map(|v| ("warehouse.sse".to_string(), v))) {
            Some((name, value)) if value != "AES256" && value != "aws:kms" => {
                return Err(ConfigError::BadValue {
                    name,
                    value,
                    reason: "use AES256 (SSE-S3) or aws:kms (SSE-KMS)".into(),
                });
            }
            other => other.map(|(_, v)| v),
        };
        let cluster = match overrides.cluster.clone().map(|v| ("--cluster".to_string(), v)).or_else(|| {
            first(&["GLAUX_CLUSTER"]).or(file.engine.cluster.map(|v| (format!("{CONFIG_FILE} engine.cluster"), v)))
        }) {
            Some((name, value)) if !cfg!(feature = "cluster") => {
                return Err(ConfigError::BadValue {
                    name,
                    value,
                    reason: "this glaux was built without the `cluster` feature; build it with \
                             `cargo build --release --features cluster`"
                        .into(),
                });
            }
            Some((name, value)) => Some(ClusterAddress::parse(&value).map_err(|reason| ConfigError::BadValue {
                name,
                value,
                reason: reason.into(),
            })?),
            None => None,
        };
        let cluster_partitions = match first(&["GLAUX_CLUSTER_PARTITIONS"]).or(file
            .engine
            .cluster_partitions
            .map(|v| (format!("{CONFIG_FILE} engine.cluster_partitions"), v.to_string())))
        {
            Some((name, value)) => match value.parse::<usize>() {
                Ok(n @ 1..) => n,
                _ => {
                    return Err(ConfigError::BadValue {
                        name,
                        value,
                        reason: "give a whole number of tasks, at least 1".into(),
                    });
                }
            },
            None => DEFAULT_CLUSTER_PARTITIONS,
        };
        let glue_auto_push = match first(&["GLAUX_GLUE_AUTO_PUSH"]) {
            Some((name, value)) => parse_bool(&name, &value)?,
            None => file.glue.auto_push.unwrap_or(false),
        };
        Ok(Settings {
            project,
            warehouse: WarehouseSettings { location, region, endpoint, allow_http, path_style, sse, sse_kms_key_id },
            cluster,
            cluster_partitions,
            glue_auto_push,
            landed_retention: match &file.aurora.landed_retention {
                None => None,
                Some(text) => Some(parse_duration(text).map_err(|reason| ConfigError::BadValue {
                    name: format!("{CONFIG_FILE} aurora.landed_retention"),
                    value: text.clone(),
                    reason: reason.into(),
                })?),
            },
            log_sources: file.aurora.sources,
            scheduler: file.scheduler,
            schedule: file.schedule,
            retention: file.retention,
            trigger: env("GLAUX_TRIGGER"),
        })
    }
}

/// Tasks per query stage on a cluster unless set: Ballista's default.
pub const DEFAULT_CLUSTER_PARTITIONS: usize = 16;

/// A Ballista scheduler's address, from `df://host:port` (the port defaults to Ballista's
/// 50050).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    /// Host name or IP address.
    pub host: String,
    /// gRPC port.
    pub port: u16,
}

impl ClusterAddress {
    /// Ballista's default scheduler port.
    pub const DEFAULT_PORT: u16 = 50050;

    /// Parses `df://host[:port]`; the error says what to write instead.
    pub fn parse(text: &str) -> Result<ClusterAddress, &'static str> {
        let rest = text.trim().strip_prefix("df://").ok_or("write the scheduler as df://host:port")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| "the port must be a number up to 65535")?),
            None => (rest, Self::DEFAULT_PORT),
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err("write the scheduler as df://host:port");
        }
        Ok(ClusterAddress { host: host.to_string(), port })
    }

    /// The scheduler's gRPC URL.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for ClusterAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

/// A lookback such as `7d`, `12h`, `30m` or `2w`.
pub fn parse_lookback(name: &str, text: &str) -> Result<chrono::Duration, ConfigError> {
    parse_duration(text).map_err(|reason| ConfigError::BadValue {
        name: name.into(),
        value: text.into(),
        reason: reason.into(),
    })
}

/// Parses a duration such as `30s`, `30m`, `12h`, `7d` or `2w`; the error says what to write
/// instead.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, &'static str> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or("add a unit: s, m, h, d or w (7d)")?;
    let number: i64 = text[..split].parse().map_err(|_| "start with a whole number (7d)")?;
    let duration = match &text[split..] {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        "w" => chrono::Duration::try_weeks(number),
        _ => return Err("use a unit of s, m, h, d or w (7d)"),
    };
    duration.ok_or("is too long")
}

/// Reads `glaux.toml`; a missing file means all defaults.
pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(source) => return Err(ConfigError::Read { path: path.to_path_buf(), source }),
    };
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |span| text[..span.start].matches('\n').count() + 1);
        ConfigError::Invalid { path: path.to_path_buf(), line, message: e.message().to_string() }
    })
}

/// A URL stays as it is; a relative directory is taken relative to `base`.
fn anchor(location: &str, base: &Path) -> String {
    if location.contains("://") { location.to_string() } else { base.join(location).display().to_string() }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            reason: "expected true or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(toml: &str, env: &[(&str, &str)], overrides: Overrides) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), toml).unwrap();
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let overrides = Overrides { project: Some(dir.path().to_path_buf()), ..overrides };
        Settings::resolve(&overrides, &|k| env.get(k).cloned(), Path::new("/work"))
    }

    #[test]
    fn the_cluster_comes_from_flag_environment_or_engine_section() {
        if !cfg!(feature = "cluster") {
            let error = resolve("", &[("GLAUX_CLUSTER", "df://x:1")], Overrides::default()).unwrap_err().to_string();
            assert!(error.contains("GLAUX_CLUSTER") && error.contains("--features cluster"), "{error}");
            return;
        }
        let toml = "[engine]\ncluster = \"df://sched.internal:50050\"\n";
        let s = resolve(toml, &[], Overrides::default()).unwrap();
        assert_eq!(s.cluster, Some(ClusterAddress { host: "sched.internal".into(), port: 50050 }));
        let s = resolve(toml, &[("GLAUX_CLUSTER", "df://127.0.0.1:6000")], Overrides::default()).unwrap();
        assert_eq!(s.cluster.unwrap().url(), "http://127.0.0.1:6000");
        let flags = Overrides { cluster: Some("df://flag-host".into()), ..Overrides::default() };
        let s = resolve(toml, &[("GLAUX_CLUSTER", "df://127.0.0.1:6000")], flags).unwrap();
        assert_eq!(s.cluster.unwrap().to_string(), "df://flag-host:50050");
        assert_eq!(resolve("", &[], Overrides::default()).unwrap().cluster, None);
        assert_eq!(resolve(toml, &[], Overrides::default()).unwrap().cluster_partitions, 16);
        let s = resolve("[engine]\ncluster_partitions = 64\n", &[], Overrides::default()).unwrap();
        assert_eq!(s.cluster_partitions, 64);
        let bad = resolve("", &[("GLAUX_CLUSTER_PARTITIONS", "0")], Overrides::default()).unwrap_err();
        assert!(bad.to_string().contains("at least 1"), "{bad}");
        let bad = resolve("[engine]\ncluster = \"http://x:1\"\n", &[], Overrides::default()).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "setting glaux.toml engine.cluster = `http://x:1`: write the scheduler as df://host:port"
        );
        let bad = resolve("", &[("GLAUX_CLUSTER", "df://x:99999")], Overrides::default()).unwrap_err();
        assert!(bad.to_string().contains("GLAUX_CLUSTER"), "{bad}");
    }

    #[test]
    fn defaults_put_the_warehouse_in_the_project() {
        let s = resolve("", &[], Overrides::default()).unwrap();
        assert!(s.warehouse.location.ends_with("/warehouse"));
        assert!(!s.warehouse.allow_http);
    }

    #[test]
    fn flag_beats_environment_beats_file() {
        let toml = "[warehouse]\nlocation = \"s3://from-file/p\"\n";
        let s = resolve(toml, &[], Overrides::default()).unwrap();
        assert_eq!(s.warehouse.location, "s3://from-file/p");
        let s = resolve(toml, &[("GLAUX_WAREHOUSE", "s3://from-env/p")], Overrides::default()).unwrap();
        assert_eq!(s.warehouse.location, "s3://from-env/p");
        let flags = Overrides { warehouse: Some("s3://from-flag/p".into()), ..Overrides::default() };
        let s = resolve(toml, &[("GLAUX_WAREHOUSE", "s3://from-env/p")], flags).unwrap();
        assert_eq!(s.warehouse.location, "s3://from-flag/p");
    }

    #[test]
    fn aws_variables_fill_in_endpoint_and_http() {
        let env =
            [("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("AWS_ALLOW_HTTP", "true"), ("AWS_REGION", "eu-west-1")];
        let s = resolve("", &env, Overrides::default()).unwrap();
        assert_eq!(s.warehouse.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(s.warehouse.allow_http && s.warehouse.path_style);
        assert_eq!(s.warehouse.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn encryption_and_glue_sync_settings() {
        let s =
            resolve("[warehouse]\nsse = \"AES256\"\n[glue]\nauto_push = true\n", &[], Overrides::default()).unwrap();
        assert_eq!(s.warehouse.sse.as_deref(), Some("AES256"));
        assert!(s.glue_auto_push);
        let err = resolve("", &[("GLAUX_S3_SSE", "rot13")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("GLAUX_S3_SSE = `rot13`"), "{err}");
    }

    #[test]
    fn plain_http_needs_permission() {
        let err = resolve("[warehouse]\nendpoint = \"http://x:1\"\n", &[], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("AWS_ALLOW_HTTP"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = resolve("[warehouse]\nlocaton = \"x\"\n", &[], Overrides::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("glaux.toml:2") && text.contains("unknown field `locaton`"), "{text}");
        let err = resolve("", &[("GLAUX_S3_ALLOW_HTTP", "maybe")], Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("GLAUX_S3_ALLOW_HTTP"), "{err}");
    }
}
