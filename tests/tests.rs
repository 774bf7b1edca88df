//! Black-box tests of glaux, compiled as one test binary: the real binary on real files, a
//! pseudo-terminal for the REPL, moto's server on loopback for S3 and Glue, an RDS-protocol test
//! server, and real MariaDB and PostgreSQL servers writing logs. Unit tests of pure logic live
//! at the bottom of each source file instead.
//!
//! Where a test belongs:
//!
//! - [`cli`]: the binary from the outside — one-shot SQL in every form and format, `glaux run`,
//!   the catalog commands, and bad input giving one line on stderr and the documented exit code.
//! - [`repl`]: the interactive shell under a pseudo-terminal.
//! - [`commits`]: the commit protocol's contract, run against every backend (local, S3), and
//!   processes racing to commit.
//! - [`jobs`]: jobs and loads as users run them — incremental equals full, up-to-date runs that
//!   read no data, `kill -9` and races.
//! - [`aurora`]: database logs — the parsers against pt-query-digest and pgBadger on the corpora
//!   in `tests/fixtures/` and on logs of real servers (`tests/gen_real_logs.py`), ingest from a
//!   directory and from the RDS test server (`tests/rds_server.py`), exactly once across
//!   `kill -9`.
//! - [`analytics`]: log analytics — fingerprints against pt-fingerprint and pgBadger, digests
//!   against pt-query-digest and pgBadger per query class, the digest jobs' percentiles against
//!   exact ones, and the HTML report rendered by headless Chromium.
//! - [`lifecycle`]: `glaux vacuum` after killed and superseded writers, beside a writer and
//!   killed itself; time travel to every kept version; `glaux catalog history`.
//! - [`faults`]: every committing command killed with SIGKILL at random moments: each table holds
//!   its state before or after the command, and a re-run gives the clean run's.
//! - [`fuzz`] and [`fuzzing`]: every parser of untrusted input (the five log kinds, CSV ingest, registry files,
//!   Glue types, `glaux.toml`, job definitions, Athena SQL) on mutated fixtures and arbitrary
//!   bytes: no panic, no hang, nothing lost; `cargo bench --bench fuzz` runs them for hours.
//! - [`glue`]: the registry against the Glue API (moto): definitions accepted as they are,
//!   push and pull, throttling and refused partitions.
//! - [`s3`]: the warehouse on S3: encryption settings and endpoints.
//! - [`iam`]: the IAM policies against the AWS calls moto records glaux making, and IAM's grammar.
//! - [`interop`]: glaux's Parquet read back by DuckDB, pyarrow and PySpark.
//! - [`athena`]: Athena's SQL run unchanged over the demo tables, and the statements that write
//!   through the registry (CTAS, INSERT, DROP) read back and interrupted.
//! - [`schedule`]: `glaux schedule` processes on second-level cron entries: fire times, no
//!   overlap on one host and across two schedulers on one S3 warehouse, `kill -9` and SIGTERM,
//!   catch-up, Prometheus and CloudWatch metrics, and the alert hooks.
//! - [`cluster`] (feature `cluster`): a Ballista scheduler and two executors as `glaux cluster`
//!   processes; queries and jobs with `--cluster` equal local runs on a local and an S3
//!   warehouse, and killed executors and schedulers end in a result or one line, committing
//!   nothing.
//! - [`support`]: what the tests share — temporary projects, the binary, loopback servers.

mod analytics;
mod athena;
mod aurora;
mod cli;
#[cfg(feature = "cluster")]
mod cluster;
mod commits;
mod faults;
mod fuzz;
mod fuzzing;
mod glue;
mod iam;
mod interop;
mod jobs;
mod lifecycle;
mod repl;
mod s3;
mod schedule;
mod support;
