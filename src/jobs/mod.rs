//! Jobs: SQL that fills a table from other tables, declared in `sql/<name>.toml` beside its SQL.
//!
//! A definition names its SQL file, its input tables, the output table, the output's partition
//! keys and a write mode:
//!
//! - `overwrite`: every run that has new input recomputes the whole output;
//! - `replace_partitions`: each output partition a run produces replaces that partition;
//! - `merge`: rows replace the output's rows with the same `unique_key`, the highest `order_by`
//!   winning, partition by partition.
//!
//! With `incremental_input`, a run shows the SQL only the partitions of that input that are new
//! or changed since the last successful run (its bookmark, stored in the output's commit), and
//! the other inputs whole; a change to another input, to the SQL or to the definition makes the
//! run recompute everything, as `--full` does. An optional `[quarantine]` sends the rows whose
//! reason column is not NULL to a second table. [`run`] executes a job; [`order`] sorts jobs so
//! that each runs after the jobs that write its inputs.

pub mod execute;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::Registry;
use crate::catalog::names::{parse_qualified, validate_name};
use crate::error::{Categorize, Category};

/// How a job writes its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Replace the whole output.
    Overwrite,
    /// Replace each output partition produced.
    ReplacePartitions,
    /// Upsert by unique key into the output partitions produced.
    Merge,
}

impl WriteMode {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Overwrite => "overwrite",
            WriteMode::ReplacePartitions => "replace_partitions",
            WriteMode::Merge => "merge",
        }
    }
}

/// Where rejected rows of a job go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    /// `database.table`
    pub table: String,
    /// The SQL result column holding the reason; NULL for good rows.
    pub reason_column: String,
}

/// A job definition file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct JobFile {
    description: Option<String>,
    sql: String,
    inputs: Vec<String>,
    incremental_input: Option<String>,
    output: String,
    #[serde(default)]
    partition_by: Vec<String>,
    write_mode: WriteMode,
    #[serde(default)]
    unique_key: Vec<String>,
    #[serde(default)]
    order_by: Vec<String>,
    quarantine: Option<Quarantine>,
}

/// A validated job.
#[derive(Debug, Clone)]
pub struct Job {
    /// The file name without `.toml`.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The definition file.
    pub path: PathBuf,
    /// The SQL file.
    pub sql_path: PathBuf,
    /// The SQL text.
    pub sql: String,
    /// Input tables, `database.table`.
    pub inputs: Vec<String>,
    /// The input read incrementally.
    pub incremental_input: Option<String>,
    /// Output table.
    pub output: String,
    /// Output partition keys.
    pub partition_by: Vec<String>,
    /// How the output is written.
    pub write_mode: WriteMode,
    /// Merge key.
    pub unique_key: Vec<String>,
    /// Merge order: the highest wins.
    pub order_by: Vec<String>,
    /// Where rejected rows go.
    pub quarantine: Option<Quarantine>,
    /// SHA-256 of the definition and the SQL: a change means a full recompute.
    pub fingerprint: String,
}

/// A job definition that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {}", crate::error::shorten_quoted(problem))]
pub struct JobError {
    /// The definition file.
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub problem: String,
}

impl Categorize for JobError {
    fn category(&self) -> Category {
        Category::Usage
    }
}

/// Loads and checks every `*.toml` in `sql_dir` against the registry, sorted by name.
pub fn load_all(sql_dir: &Path, registry: &Registry) -> Result<Vec<Job>, JobError> {
    let entries = match std::fs::read_dir(sql_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JobError { path: sql_dir.to_path_buf(), problem: e.to_string() }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let jobs = paths.iter().map(|p| load(p, registry)).collect::<Result<Vec<_>, _>>()?;
    let mut writers: BTreeMap<&str, &str> = BTreeMap::new();
    for job in &jobs {
        for table in job.outputs() {
            if let Some(other) = writers.insert(table, &job.name) {
                return Err(JobError {
                    path: job.path.clone(),
                    problem: format!("{table} is also written by job {other}; a table has one writer"),
                });
            }
        }
    }
    Ok(jobs)
}

fn load(path: &Path, registry: &Registry) -> Result<Job, JobError> {
    let fail = |problem: String| JobError { path: path.to_path_buf(), problem };
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    validate_name(&name, crate::catalog::names::NameKind::Table)
        .map_err(|e| fail(format!("the file name is not a valid job name: {e}")))?;
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let file: JobFile = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |span| text[..span.start].matches('\n').count() + 1);
        fail(format!("line {line}: {}", crate::error::one_line(e.message())))
    })?;
    if file.sql.contains('/') || file.sql.contains('\\') || !file.sql.ends_with(".sql") {
        return Err(fail(format!("sql = \"{}\" must name a .sql file beside the definition", file.sql)));
    }
    let sql_path = path.with_file_name(&file.sql);
    let sql =
        std::fs::read_to_string(&sql_path).map_err(|e| fail(format!("cannot read {}: {e}", sql_path.display())))?;
    let known = |table: &str, what: &str| -> Result<(), JobError> {
        let (db, t) = parse_qualified(table).map_err(|e| fail(format!("{what} `{table}`: {e}")))?;
        match registry.table(&db, &t) {
            Some(_) => Ok(()),
            None => Err(fail(format!("{what} {table} is not in the registry (catalog/)"))),
        }
    };
    if file.inputs.is_empty() {
        return Err(fail("inputs is empty; list the tables the SQL reads".into()));
    }
    for input in &file.inputs {
        known(input, "input")?;
    }
    known(&file.output, "output")?;
    if file.inputs.contains(&file.output) {
        return Err(fail(format!("{} is both an input and the output", file.output)));
    }
    if let Some(incremental) = &file.incremental_input
        && !file.inputs.contains(incremental)
    {
        return Err(fail(format!("incremental_input {incremental} is not one of the inputs")));
    }
    let (db, t) = parse_qualified(&file.output).map_err(|e| fail(e.to_string()))?;
    let output = registry.table(&db, &t).expect("checked above");
    let keys: Vec<String> = output.partition_keys.iter().map(|(n, _)| n.clone()).collect();
    if file.partition_by != keys {
        return Err(fail(format!(
            "partition_by {:?} differs from the partition keys {:?} of {}; make them agree",
            file.partition_by, keys, file.output
        )));
    }
    if file.write_mode == WriteMode::Merge && (file.unique_key.is_empty() || file.order_by.is_empty()) {
        return Err(fail("write_mode = \"merge\" needs unique_key and order_by".into()));
    }
    if let Some(q) = &file.quarantine {
        known(&q.table, "quarantine table")?;
        if q.table == file.output || file.inputs.contains(&q.table) {
            return Err(fail(format!("quarantine table {} must not be the output or an input", q.table)));
        }
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::new().chain_update(text.as_bytes()).chain_update(sql.as_bytes()).finalize();
    Ok(Job {
        name,
        description: file.description.unwrap_or_default(),
        path: path.to_path_buf(),
        sql_path,
        sql,
        inputs: file.inputs,
        incremental_input: file.incremental_input,
        output: file.output,
        partition_by: file.partition_by,
        write_mode: file.write_mode,
        unique_key: file.unique_key,
        order_by: file.order_by,
        quarantine: file.quarantine,
        fingerprint: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

impl Job {
    /// The tables the job writes.
    pub fn outputs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.output.as_str()).chain(self.quarantine.as_ref().map(|q| q.table.as_str()))
    }
}

/// One row per job, for `glaux job list`.
pub fn listing(jobs: &[Job]) -> arrow::error::Result<arrow::array::RecordBatch> {
    use arrow::array::{ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    let column = |f: &dyn Fn(&Job) -> String| -> ArrayRef {
        std::sync::Arc::new(StringArray::from(jobs.iter().map(f).collect::<Vec<_>>()))
    };
    let names =
        ["job", "inputs", "incremental_input", "output", "partition_by", "write_mode", "quarantine", "description"];
    let columns = vec![
        column(&|j| j.name.clone()),
        column(&|j| j.inputs.join(", ")),
        column(&|j| j.incremental_input.clone().unwrap_or_default()),
        column(&|j| j.output.clone()),
        column(&|j| j.partition_by.join(", ")),
        column(&|j| j.write_mode.as_str().to_string()),
        column(&|j| j.quarantine.as_ref().map(|q| q.table.clone()).unwrap_or_default()),
        column(&|j| j.description.clone()),
    ];
    let schema = Schema::new(names.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect::<Vec<_>>());
    arrow::array::RecordBatch::try_new(std::sync::Arc::new(schema), columns)
}

/// The jobs in an order where every job comes after the jobs that write its inputs (ties by
/// name); a cycle is an error naming the jobs in it.
pub fn order(jobs: &[Job]) -> Result<Vec<&Job>, JobError> {
    let mut done: Vec<&Job> = Vec::new();
    let mut left: Vec<&Job> = jobs.iter().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|job| {
            job.inputs
                .iter()
                .all(|input| left.iter().all(|other| other.name == job.name || !other.outputs().any(|o| o == input)))
        });
        match ready {
            Some(i) => done.push(left.remove(i)),
            None => {
                let names: Vec<&str> = left.iter().map(|j| j.name.as_str()).collect();
                return Err(JobError {
                    path: left[0].path.clone(),
                    problem: format!("jobs {} read each other's outputs in a cycle", names.join(", ")),
                });
            }
        }
    }
    Ok(done)
}
