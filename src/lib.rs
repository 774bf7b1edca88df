//! glaux: the AWS Glue + Athena workflow on one machine.
//!
//! Data lands as Parquet in a warehouse (a local directory or S3); a registry compatible with
//! the Glue Data Catalog names the tables; an embedded DataFusion engine queries them from a REPL
//! or one-shot SQL; loaders write through an atomic commit protocol so readers see whole commits.
//!
//! # Layout
//!
//! The modules form layers, and a module only imports from its own layer or the ones below:
//!
//! - **Front ends** — [`cli`] (arguments, checked once into typed values), [`commands`] (one
//!   function per subcommand: typed options in, printed output out), [`repl`] (the interactive
//!   shell), [`schedule`] (the `glaux schedule` daemon: cron entries run as child glaux
//!   processes under warehouse leases, metrics and alert hooks). They open a [`project`] and hand
//!   the work to the pipeline or a domain module.
//! - **Project and pipeline** — [`project`] (settings, catalog and engine opened together: the
//!   context the front ends start from), [`pipeline`] (what `glaux run`, `glaux ingest` and
//!   `glaux job run` orchestrate; it installs the side effects around commits: the run history
//!   and the automatic Glue push).
//! - **Domain** — [`ingest`] (CSV files into tables, with row-level rejects), [`logs`] (database
//!   logs from RDS/Aurora or a directory, parsed into `aurora_logs`, exactly once; query
//!   fingerprints, `logs digest` and the HTML report over the digest tables), [`jobs`]
//!   (declarative SQL jobs, incremental by bookmark), [`glue`] (push to and pull from the Glue
//!   Data Catalog), [`statements`] (Athena's DDL and DML over the registry: CTAS, INSERT, DROP,
//!   SHOW, DESCRIBE), [`lifecycle`] (vacuum, retention, archive, restore, S3 lifecycle rules),
//!   [`iam`] (the least-privilege IAM policy of the project), [`demo`] (dirty CRM exports). Each is handed the catalog, an engine, a run id
//!   and a commit hook; none imports the project, the pipeline, the history or another front end.
//! - **Engine** — [`engine`]: the DataFusion session over the registry and the `system`
//!   database, the one execution path for SQL, a streaming `row_number()`, and Athena's SQL
//!   ([`engine::athena`]: the dialect, the rewrites of Trino syntax, Trino's functions); with the
//!   `cluster` feature, `engine::cluster` runs sessions on an Apache Ballista cluster.
//! - **State** — [`catalog`] (table definitions, Glue types, names, the commit log of each
//!   table with its partition manifests, data and reject files), [`history`] (the run records
//!   behind `system.job_runs`) and [`heartbeats`] (the schedulers' heartbeats behind
//!   `system.heartbeats`).
//! - **Storage** — [`warehouse`]: the object-store root (local or S3), location safety, S3
//!   credentials, and the count of each process's object-store calls.
//! - **Bottom** — [`config`] (`glaux.toml`, environment and flags merged into settings),
//!   [`error`] (error categories, exit codes, the one-line report), [`scaffold`] (the embedded
//!   demo project), [`progress`] (progress bars on a terminal only), [`logging`] (`RUST_LOG`
//!   to stderr, credentials redacted), [`usage`] (this process's and a child's CPU time and
//!   peak memory) and [`panics`] (panics in dependencies contained as one-line errors).

#![warn(missing_docs)]

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod glue;
pub mod heartbeats;
pub mod history;
pub mod iam;
pub mod ingest;
pub mod jobs;
pub mod lifecycle;
pub mod logging;
pub mod logs;
pub mod panics;
pub mod pipeline;
pub mod progress;
pub mod project;
pub mod repl;
pub mod scaffold;
pub mod schedule;
pub mod statements;
pub mod usage;
pub mod warehouse;

pub use cli::Cli;
pub use error::{Error, Result};

/// Runs glaux with parsed arguments on a new async runtime; `main` only parses, sets up
/// logging and maps the result to an exit code. (The runtime is started here rather than in
/// `main` so that glaux's async code is compiled once, in the library, not again in the binary.)
pub fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build();
    let runtime = error::Context::context(runtime, "cannot start the async runtime")?;
    runtime.block_on(commands::dispatch(cli))
}
