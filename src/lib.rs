//! glaux: the AWS Glue + Athena workflow on one machine.
//!
//! Data lands as Parquet in a warehouse (a local directory or S3); a registry compatible with
//! the Glue Data Catalog names the tables; an embedded DataFusion engine queries them from a REPL
//! or one-shot SQL; loaders write through an atomic commit protocol so readers see whole commits.
//!
//! # Layout
//!
//! - [`cli`]: the command-line arguments and their help text.
//! - [`config`]: `glaux.toml`, environment and flags merged into typed settings.
//! - [`warehouse`]: the object-store root (local or S3) and location safety.
//! - [`catalog`]: table definitions (Glue `TableInput` files), types, names, and the commit log
//!   that holds each table's partitions.
//! - [`demo`]: deterministic dirty CRM exports for demos, tests and benchmarks.
//! - [`engine`]: the DataFusion session over the registry (and the `system` database), the one
//!   execution path, and a streaming `row_number()` for sorted input.
//! - [`glue`]: sync with the AWS Glue Data Catalog (push, pull, automatic push after commits).
//! - [`repl`]: the interactive SQL shell.
//! - [`ingest`]: writing files into tables through the commit protocol, with row-level rejects.
//! - [`aurora`]: database logs (RDS/Aurora API or a directory) parsed into `aurora_logs` tables,
//!   exactly once through a ledger committed with the data.
//! - [`jobs`]: declarative SQL jobs (`sql/*.toml`), incremental by bookmark, committed atomically.
//! - [`runs`]: the history of job runs and ingests (`system.job_runs`).
//! - [`progress`]: progress bars on a terminal, silence when piped.
//! - [`panics`]: containment of panics in dependencies, reported as one-line errors.
//! - [`project`]: project scaffolding (`glaux init`) and the pipeline run (`glaux run`).
//! - [`commands`]: what each subcommand does, from typed options to printed output.

#![warn(missing_docs)]

pub mod aurora;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod engine;
pub mod glue;
pub mod ingest;
pub mod jobs;
pub mod panics;
pub mod progress;
pub mod project;
pub mod repl;
pub mod runs;
pub mod warehouse;

use std::process::ExitCode;

pub use cli::Cli;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for a query, data or I/O error.
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;

/// Runs glaux with parsed arguments. `main` only parses, sets up logging and maps the result.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    commands::dispatch(cli).await
}

/// The exit code for an error: 2 for configuration and usage problems, 1 for everything else.
pub fn exit_code(error: &anyhow::Error) -> ExitCode {
    let usage = error.chain().any(|cause| {
        cause.is::<config::ConfigError>()
            || cause.is::<catalog::CatalogError>()
            || cause.is::<jobs::JobError>()
            || cause.is::<catalog::names::InvalidName>()
            || cause.is::<warehouse::WarehouseError>()
            || cause.is::<commands::UsageError>()
            || cause.downcast_ref::<aurora::source::SourceError>().is_some_and(aurora::source::SourceError::is_usage)
    });
    ExitCode::from(if usage { EXIT_USAGE } else { EXIT_FAILURE })
}

/// The error and its causes on one line, each cause once: many errors already quote their
/// source in their own message, so a cause whose text is already present is not repeated.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = one_line(&cause.to_string());
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

/// An error message on one line: DataFusion and others sometimes add lines of detail.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the error is only a closed output pipe (`glaux sql ... | head`), which is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}
