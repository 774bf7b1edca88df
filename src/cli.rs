//! Command-line arguments: the clap definitions, whose doc comments are the `--help` text.
//!
//! Arguments are parsed and checked here, once, into typed values (sizes, durations, log kinds,
//! formats), so a bad value is reported as the flag it came from; [`crate::commands`] turns
//! them into the typed options of the layers below, which never see raw arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::exec::OutputFormat;
use crate::logs::LogKind;

/// glaux: the AWS Glue + Athena workflow on one machine.
///
/// A Glue-compatible table registry over a Parquet warehouse (a local directory or S3), an
/// embedded DataFusion SQL engine with a REPL, and the jobs that fill the tables. With no
/// command, opens the SQL REPL.
#[derive(Debug, Parser)]
#[command(name = "glaux", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Project directory holding glaux.toml, catalog/ and sql/ [env: GLAUX_PROJECT] [default: .]
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Warehouse root: a directory or s3://bucket/prefix [env: GLAUX_WAREHOUSE] [default: <project>/warehouse]
    #[arg(long, global = true, value_name = "URL")]
    pub warehouse: Option<String>,

    /// Run queries and jobs on this Ballista scheduler, df://HOST:PORT (a build with the
    /// `cluster` feature) [env: GLAUX_CLUSTER] [default: in this process]
    #[arg(long, global = true, value_name = "URL")]
    pub cluster: Option<String>,

    /// What to do [default: sql]
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL: the interactive REPL, or statements from -c, -f or standard input
    Sql(SqlArgs),
    /// Inspect and check the table registry
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Load files into a registered table
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// Read database log files without ingesting them
    #[command(subcommand)]
    Logs(LogsCommand),
    /// Run and inspect the SQL jobs defined in sql/*.toml
    #[command(subcommand)]
    Job(JobCommand),
    /// Run the project's pipeline: load new files in data/, run every job, summarise every table
    Run(RunArgs),
    /// Run the [[schedule]] entries of glaux.toml on their cron patterns, in the foreground
    ///
    /// With no subcommand, runs until SIGTERM or SIGINT: each entry's command starts at its fire
    /// times under a lease in the warehouse, so it never overlaps itself, also across schedulers
    /// on several hosts sharing one warehouse.
    Schedule(ScheduleArgs),
    /// Remove snapshots older than the retention window and files no kept snapshot names
    ///
    /// Kept: every snapshot committed within --retain, the one current when that window began,
    /// the newest always, every file those name, and any object younger than --grace (an
    /// in-flight commit may be writing it). Safe while writers and readers run.
    Vacuum(VacuumArgs),
    /// Move a table's partitions older than an age to cheaper storage, out of the live table
    ///
    /// On S3 each file is copied server-side into the storage class under
    /// _glaux/archive/<db>/<table>/; on a local warehouse it is copied there. One commit then
    /// removes the partitions from the table and lists them in system.archives.
    Archive(ArchiveArgs),
    /// Make a date range of a table's archived partitions readable again, as DB.TABLE__restored
    ///
    /// Copies in GLACIER or DEEP_ARCHIVE are restored by S3 first (RestoreObject, for --expires);
    /// `glaux restore status` records when they are readable and runs --notify then.
    Restore(RestoreArgs),
    /// Least-privilege IAM policies for this project's AWS calls
    #[command(subcommand)]
    Iam(IamCommand),
    /// S3 lifecycle rules the registry implies for the warehouse bucket (glaux owns `glaux:` rules)
    #[command(subcommand)]
    Lifecycle(LifecycleCommand),
    /// Run a Ballista scheduler or executor with glaux's functions and codecs built in
    ///
    /// Needs a build with the `cluster` feature. Start a scheduler and executors, then run
    /// `glaux --cluster df://HOST:PORT sql|job run|run` from any project: the project plans each
    /// query and commits each job's output, the cluster executes. Executors read S3 with the
    /// standard AWS credential chain and the endpoint settings of the project they start in.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Create a new project directory with glaux.toml, catalog/, sql/ and data/
    Init(InitArgs),
    /// Demo data for trying glaux and for benchmarks
    #[command(subcommand)]
    Demo(DemoCommand),
}

/// `glaux cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Run a Ballista scheduler in the foreground; clients connect with --cluster df://HOST:PORT
    Scheduler {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: std::net::SocketAddr,
        /// An executor silent this long is dead: its tasks run again elsewhere, and jobs fail
        /// when no executor is left after it
        #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_seconds)]
        executor_timeout: u64,
    },
    /// Run a Ballista executor in the foreground, registered with a scheduler
    Executor {
        /// The scheduler, df://HOST:PORT
        #[arg(long, value_name = "URL", default_value = "df://127.0.0.1:50050")]
        scheduler: String,
        /// Address its Arrow Flight service (shuffle and result reads) listens on; also the
        /// address it gives the scheduler, so other hosts must reach it there
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
        bind: std::net::SocketAddr,
        /// Port of its gRPC service
        #[arg(long, default_value_t = 50052, value_name = "PORT")]
        grpc_port: u16,
        /// Tasks run at once [default: one per core]
        #[arg(long, value_name = "N")]
        concurrent_tasks: Option<usize>,
        /// Directory for shuffle files [default: a temporary directory, removed at exit]
        #[arg(long, value_name = "DIR")]
        work_dir: Option<PathBuf>,
        /// How often it tells the scheduler it is alive (below the scheduler's --executor-timeout)
        #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_seconds)]
        heartbeat: u64,
    },
}

/// A whole number of seconds from a duration such as `30s` or `2m`.
fn parse_seconds(text: &str) -> Result<u64, String> {
    let duration = crate::config::parse_duration(text).map_err(str::to_string)?;
    match duration.num_seconds() {
        seconds @ 1.. => Ok(seconds as u64),
        _ => Err("must be at least 1s".into()),
    }
}

/// `glaux demo ...`.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write two dirty CRM exports (a full one and a later update) as customer_base CSV files
    Generate {
        /// Customers in the full export
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        /// Seed; the same seed writes the same bytes
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output directory [default: <project>/data/customer_data/customer_base_raw]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// `glaux sql`.
#[derive(Debug, Args, Default)]
pub struct SqlArgs {
    /// Run this SQL and exit; repeat to run several in order
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,

    /// Run the SQL in this file and exit; repeat to run several in order
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Result format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Print how long each statement took
    #[arg(long)]
    pub timing: bool,

    /// Memory the engine may use before spilling to disk, e.g. 512M or 4G
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

/// `glaux catalog ...`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List every table with its partition keys, location and current size
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Print one table's definition (Glue TableInput JSON) and its current state
    Show {
        /// The table, as DATABASE.TABLE
        table: String,
    },
    /// List a table's kept versions, newest first: time, operation, partitions changed, rows
    ///
    /// Each version can be read with `SELECT … FROM db.t FOR VERSION AS OF n` (or `FOR TIMESTAMP
    /// AS OF ts`) until a vacuum removes it.
    History {
        /// The table, as DATABASE.TABLE
        table: String,
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Check every definition file and report each problem
    Validate,
    /// Make the Glue Data Catalog match the registry: databases, tables and partitions
    Push {
        /// Tables to push, as DATABASE.TABLE [default: every table]
        #[arg(value_name = "DATABASE.TABLE")]
        tables: Vec<String>,
        /// Print the plan (create / update / delete, per object) and change nothing
        #[arg(long)]
        dry_run: bool,
        /// Also delete Glue tables of the pushed databases that the registry does not have
        #[arg(long)]
        prune: bool,
    },
    /// Import Glue's Parquet tables whose data is in the warehouse into the registry
    Pull {
        /// Glue databases to import [default: all]
        #[arg(long = "database", value_name = "NAME")]
        databases: Vec<String>,
    },
}

/// `glaux ingest ...`.
#[derive(Debug, Subcommand)]
pub enum IngestCommand {
    /// Load CSV files (with a header row) into a table as zstd Parquet, in one atomic commit
    Csv {
        /// Files to load: paths, globs (quoted: 'exports/*.csv'), directories, s3://bucket/key or s3://bucket/prefix/
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
        /// Target table, as DATABASE.TABLE
        #[arg(long, value_name = "DATABASE.TABLE")]
        table: String,
        /// Day to file the load under, for an `ingest_date` partition key [default: today, UTC]
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<chrono::NaiveDate>,
        /// Load files even if the same content was loaded before
        #[arg(long)]
        force: bool,
    },
    /// Ingest database logs (RDS/Aurora MySQL and PostgreSQL, or a log directory) into aurora_logs
    ///
    /// Reads the sources in glaux.toml's [[aurora.sources]] (or one --dir), lands the new bytes of
    /// every file compressed under aurora-logs/<instance>/<day>/, parses them into the typed
    /// tables of database aurora_logs and commits each table with its ledger, so every byte is
    /// ingested exactly once, even after a crash.
    Aurora {
        /// Only the configured source with this name
        #[arg(long, value_name = "NAME", conflicts_with = "dir")]
        source: Option<String>,
        /// Files last written within this lookback: 30m, 12h, 7d, 2w [default: the source's, or 7d]
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        since: Option<chrono::Duration>,
        /// A log directory to read instead of the configured sources (needs --instance)
        #[arg(long, value_name = "PATH", requires = "instance")]
        dir: Option<PathBuf>,
        /// Instance name the --dir logs are filed under
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// Only these log kinds (repeatable)
        #[arg(long = "kind", value_name = "KIND", value_enum)]
        kinds: Vec<LogKindArg>,
        /// PostgreSQL log_line_prefix of the logs [default: %t:%r:%u@%d:[%p]: as on RDS]
        #[arg(long, value_name = "PREFIX")]
        log_line_prefix: Option<String>,
        /// Summary format
        #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
        format: SummaryFormat,
    },
}

/// How a command's summary is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// Lines for people
    Text,
    /// One JSON object
    Json,
}

/// A kind of database log, as `--kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogKindArg {
    /// MySQL / MariaDB error log
    Error,
    /// Slow query log
    Slow,
    /// General query log
    General,
    /// Aurora advanced audit or MariaDB server_audit log
    Audit,
    /// PostgreSQL stderr log
    Postgres,
}

impl From<LogKindArg> for LogKind {
    fn from(kind: LogKindArg) -> LogKind {
        match kind {
            LogKindArg::Error => LogKind::Error,
            LogKindArg::Slow => LogKind::Slow,
            LogKindArg::General => LogKind::General,
            LogKindArg::Audit => LogKind::Audit,
            LogKindArg::Postgres => LogKind::Postgres,
        }
    }
}

/// `glaux logs ...`.
#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Parse log files and print what they hold, writing nothing (entries, rejects, totals, MB/s)
    Parse {
        /// The files and how to read them
        #[command(flatten)]
        logs: LogFiles,
        /// Output format
        #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
        format: SummaryFormat,
    },
    /// Digest slow query logs or PostgreSQL logs without ingesting them: the query classes
    /// pt-query-digest and pgBadger report (calls, total, mean, p95, rows), costliest first
    Digest {
        /// The files (all slow logs or all PostgreSQL logs) and how to read them
        #[command(flatten)]
        logs: LogFiles,
        /// Query classes shown, costliest first
        #[arg(long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// Output format
        #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
        format: SummaryFormat,
    },
    /// Write the log report from the digest tables: one self-contained HTML file (or JSON) with
    /// traffic, latency percentiles, top query classes, errors and PostgreSQL activity
    Report {
        /// Only this instance (repeatable) [default: all]
        #[arg(long = "instance", value_name = "NAME")]
        instances: Vec<String>,
        /// The days up to today: 7d, 30d, 24h [default: every day the digests hold]
        #[arg(long, value_name = "AGE", conflicts_with_all = ["from", "to"])]
        since: Option<String>,
        /// First day, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        from: Option<chrono::NaiveDate>,
        /// Last day, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        to: Option<chrono::NaiveDate>,
        /// Where to write it [default: glaux-report.html, or standard output for JSON]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
    },
}

/// Log files named on the command line, and how to read them.
#[derive(Debug, Args)]
pub struct LogFiles {
    /// Log files
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Log kind [default: from the name, else the content]
    #[arg(long, value_name = "KIND", value_enum)]
    pub kind: Option<LogKindArg>,
    /// PostgreSQL log_line_prefix of the logs [default: %t:%r:%u@%d:[%p]: as on RDS]
    #[arg(long, value_name = "PREFIX")]
    pub log_line_prefix: Option<String>,
}

/// How `glaux logs report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML page
    Html,
    /// The same numbers as JSON
    Json,
}

/// `glaux job ...`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// List the jobs: inputs, output, partitioning, write mode
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Run jobs: only what is new since each job's last successful run, unless --full
    Run {
        /// Jobs to run, in the order given
        #[arg(value_name = "NAME", required_unless_present = "all", conflicts_with = "all")]
        names: Vec<String>,
        /// Run every job, each after the jobs that write its inputs
        #[arg(long)]
        all: bool,
        /// Recompute everything, ignoring the bookmarks
        #[arg(long)]
        full: bool,
        /// Memory the engine may use before spilling to disk, e.g. 512M or 4G
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        memory_limit: Option<usize>,
    },
    /// Show the run history of jobs and ingests (system.job_runs), newest first
    History {
        /// Only this job (or table, for ingests)
        name: Option<String>,
        /// How many runs to show
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

/// `glaux archive`.
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// The table, as DATABASE.TABLE (it needs a partition key of type date)
    #[arg(value_name = "DATABASE.TABLE")]
    pub table: String,
    /// Archive partitions whose date is older than this
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: chrono::Duration,
    /// S3 storage class of the archived copies
    #[arg(long, value_enum, default_value = "GLACIER_IR")]
    pub storage_class: crate::lifecycle::archive::StorageClass,
    /// Report what would be archived, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `glaux restore`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RestoreArgs {
    /// `status`: check the restores, record those now readable or expired
    #[command(subcommand)]
    pub command: Option<RestoreCommand>,
    /// The table, as DATABASE.TABLE
    #[arg(value_name = "DATABASE.TABLE", required = true)]
    pub table: Option<String>,
    /// First day of the range (YYYY-MM-DD)
    #[arg(long, value_name = "DATE", required = true)]
    pub from: Option<chrono::NaiveDate>,
    /// Last day of the range (YYYY-MM-DD), included
    #[arg(long, value_name = "DATE", required = true)]
    pub to: Option<chrono::NaiveDate>,
    /// How long the range stays readable, in whole days
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "7d")]
    pub expires: chrono::Duration,
    /// Command run by `sh -c` once the range is readable (details in GLAUX_* variables)
    #[arg(long, value_name = "COMMAND")]
    pub notify: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `glaux iam ...`.
#[derive(Debug, Subcommand)]
pub enum IamCommand {
    /// Print the IAM policy (JSON) granting what glaux calls, on this project's resources only
    Policy {
        /// What the policy is for
        #[arg(long = "for", value_enum, default_value = "run")]
        profile: crate::iam::Profile,
        /// AWS account id in the ARNs [default: *]
        #[arg(long, value_name = "ID")]
        account: Option<String>,
        /// Region of Glue, RDS and KMS in the ARNs [default: the warehouse's]
        #[arg(long)]
        region: Option<String>,
    },
}

/// `glaux lifecycle ...`.
#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Show the rules glaux would set beside the bucket's current rules, and what would change
    Plan {
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Set glaux's rules on the bucket; rules glaux does not own are kept as they are
    Apply,
}

/// `glaux restore ...`.
#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Check every restore: record those now readable (and run their --notify) or expired
    Status {
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

/// `glaux vacuum`.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Tables to vacuum, as DATABASE.TABLE [default: every table, and job staging leftovers]
    #[arg(value_name = "DATABASE.TABLE")]
    pub tables: Vec<String>,
    /// Keep snapshots committed within this window (time travel reaches this far back)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "7d")]
    pub retain: chrono::Duration,
    /// Never remove objects younger than this; 0s only when no writer runs
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub grace: chrono::Duration,
    /// Report what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `glaux run`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Summary format
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Recompute every job in full, ignoring the bookmarks
    #[arg(long)]
    pub full: bool,
}

/// `glaux schedule`.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// What to do [default: run the scheduler]
    #[command(subcommand)]
    pub command: Option<ScheduleCommand>,
}

/// `glaux schedule ...`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// List the entries with their next fire times
    List {
        /// Fire times to show per entry
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Show each entry's last runs, failure streak, lease and next fire time, and the schedulers'
    /// heartbeats
    Status {
        /// Runs to show per entry
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Output format
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Run one entry now, under the same lease, timeout, retries and hooks as a scheduled run
    Run {
        /// The entry's name
        name: String,
    },
}

/// `glaux init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create (it may exist but must not hold a glaux.toml)
    pub dir: PathBuf,
}

/// Parses a lookback such as `30m`, `12h`, `7d` or `2w`.
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    crate::config::parse_duration(text).map_err(|reason| format!("`{text}`: {reason}"))
}

/// Parses `512M`, `4G`, `1.5GiB`, `1000000` into bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.trim().parse().map_err(|_| format!("`{text}` is not a size; use e.g. 512M or 4G"))?;
    let multiplier: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TB" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown size unit in `{text}`; use K, M, G or T")),
    };
    if number <= 0.0 {
        return Err(format!("`{text}` must be positive"));
    }
    Ok((number * multiplier) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4X").is_err());
    }

    #[test]
    fn a_bad_value_is_reported_as_its_flag() {
        let error = Cli::try_parse_from(["glaux", "ingest", "aurora", "--since", "7x"]).unwrap_err().to_string();
        assert!(error.contains("--since"), "{error}");
        assert!(error.contains("use a unit of s, m, h, d or w"), "{error}");
        let error = Cli::try_parse_from(["glaux", "logs", "parse", "--kind", "slo", "f"]).unwrap_err().to_string();
        assert!(error.contains("--kind") && error.contains("slow"), "{error}");
        let parsed = Cli::try_parse_from(["glaux", "ingest", "aurora", "--since", "12h", "--kind", "slow"]).unwrap();
        let Some(Command::Ingest(IngestCommand::Aurora { since, kinds, .. })) = parsed.command else { panic!() };
        assert_eq!((since, kinds), (Some(chrono::Duration::hours(12)), vec![LogKindArg::Slow]));
    }
}
