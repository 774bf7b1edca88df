//! The fuzz targets: every parser of untrusted input, each through the code path users reach,
//! each with the property that says nothing was lost.
//!
//! | target | input | property |
//! |---|---|---|
//! | `error`, `slow`, `general`, `audit`, `postgres` | a log file | fed whole and in random pieces (taking rows between pieces, as ingest does) the rows and rejects are the same; every row starts at a line; every reject names a real line and a reason; no non-blank line before the first entry is dropped |
//! | `fingerprint` | a logged statement | pt-fingerprint's and pgBadger's query classes of it: one line, a query id of 32 hex digits |
//! | `csv` | a CSV export loaded into `customer_data.customer_base_raw` on a local warehouse | records read = rows committed + rows rejected, as counted from the committed snapshot and reject file; or one clear error naming the file |
//! | `registry` | a table definition file | loads, or one error naming the file |
//! | `glue-type` | a Glue type string | parses, and prints back to a string that parses to the same type; or an error |
//! | `config` | `glaux.toml` | resolves and its schedule checks, or one error naming the file |
//! | `job` | a job definition `sql/*.toml` | loads against the demo registry, or one error naming the file |
//! | `sql` | an Athena statement | glaux's rewrites, planning and physical planning on the demo registry give a plan or an error |
//!
//! Every target also fails on a panic (including one contained inside the engine) and on a
//! hang (the runner's watchdog).

use std::path::PathBuf;

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use glaux::catalog::{NoHook, Registry};
use glaux::logs::LogKind;
use glaux::logs::parse::postgres::{Prefix, RDS_PREFIX};
use glaux::logs::parse::{LineFeeder, LogParser, ParseReject, Parsed};

use super::mutate::Rng;
use super::runner::{Corpus, Tally, Target};

/// The repository root: the demo project and the fixtures.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every target, by name.
pub fn names() -> Vec<&'static str> {
    vec![
        "error",
        "slow",
        "general",
        "audit",
        "postgres",
        "fingerprint",
        "csv",
        "registry",
        "glue-type",
        "config",
        "job",
        "sql",
    ]
}

/// The target called `name`.
pub fn target(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "error" => Box::new(LogTarget::new(LogKind::Error)),
        "slow" => Box::new(LogTarget::new(LogKind::Slow)),
        "general" => Box::new(LogTarget::new(LogKind::General)),
        "audit" => Box::new(LogTarget::new(LogKind::Audit)),
        "postgres" => Box::new(LogTarget::new(LogKind::Postgres)),
        "fingerprint" => Box::new(FingerprintTarget::new()),
        "csv" => Box::new(CsvTarget::new()),
        "registry" => Box::new(RegistryTarget::new()),
        "glue-type" => Box::new(GlueTypeTarget::new()),
        "config" => Box::new(ConfigTarget::new()),
        "job" => Box::new(JobTarget::new()),
        "sql" => Box::new(SqlTarget::new()),
        _ => return None,
    })
}

/// Files of `dir` (relative to the repository) whose names pass `keep`, sorted, read.
fn files(dir: &str, keep: impl Fn(&str) -> bool) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep));
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).filter(|b| !b.is_empty()).collect()
}

/// The saved failing inputs of `target` (`tests/fixtures/fuzz/<target>/`), replayed first.
fn regressions(target: &str) -> Vec<Vec<u8>> {
    files(&format!("tests/fixtures/fuzz/{target}"), |_| true)
}

/// An error as users see it: on one line.
fn one_line(error: &dyn std::fmt::Display) -> String {
    glaux::error::one_line(&error.to_string())
}

/// An error message must be non-empty, name `what` and stay a readable line.
fn clear_error(message: &str, what: &str) -> Result<(), String> {
    if message.trim().is_empty() {
        return Err("an error with an empty message".into());
    }
    if !message.contains(what) {
        return Err(format!("the error does not name {what}: {message}"));
    }
    if message.len() > 4096 {
        return Err(format!("an error of {} bytes: {}…", message.len(), &message[..message.floor_char_boundary(200)]));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Logs

/// One log kind's parser fed through the line feeder as ingest feeds it.
pub struct LogTarget {
    kind: LogKind,
    schema: SchemaRef,
    prefixes: Vec<Prefix>,
    corpus: Corpus,
}

impl LogTarget {
    pub fn new(kind: LogKind) -> LogTarget {
        let registry = demo_registry(&url::Url::parse("file:///fuzz/").expect("url"));
        let schema =
            registry.table("aurora_logs", kind.table()).expect("log table in the demo registry").file_schema.clone();
        let mut seeds = regressions(kind.name());
        let mut prefixes = vec![Prefix::compile(RDS_PREFIX).expect("RDS prefix")];
        match kind {
            LogKind::Error => {
                seeds.extend(files("tests/fixtures/percona/errlogs", |_| true));
                seeds.extend(files("data/aurora_logs/demo-mysql/error", |_| true));
            }
            LogKind::Slow => {
                seeds.extend(files("tests/fixtures/percona/slowlogs", |n| !n.ends_with(".gz")));
                seeds.extend(files("data/aurora_logs/demo-mysql/slowquery", |_| true));
            }
            LogKind::General => seeds.extend(files("tests/fixtures/percona/genlogs", |_| true)),
            LogKind::Audit => seeds.push(AUDIT_SEED.to_vec()),
            LogKind::Postgres => {
                seeds.extend(files("tests/fixtures/pgbadger", |n| n.ends_with(".log")));
                seeds.extend(files("data/aurora_logs/demo-postgres/error", |_| true));
                if let Ok(light) = std::process::Command::new("bzcat")
                    .arg(repo().join("tests/fixtures/pgbadger/light.postgres.log.bz2"))
                    .output()
                {
                    seeds.push(light.stdout);
                }
                for prefix in [
                    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
                    "%m [%p] user=%u,db=%d ",
                    "%t [%p]: db=%d,user=%u,app=%a,client=%h ",
                    "%m [%p] ",
                ] {
                    prefixes.push(Prefix::compile(prefix).expect("pgBadger's prefixes compile"));
                }
            }
        }
        seeds.retain(|s| !s.is_empty());
        LogTarget { kind, schema, prefixes, corpus: Corpus::new(kind.name(), seeds, LOG_WORDS) }
    }

    fn parser(&self, prefix: &Prefix) -> Box<dyn LogParser> {
        self.kind.parser(self.schema.clone(), prefix, "fuzz/input.log", 20_000)
    }
}

/// Aurora MySQL's advanced audit and MariaDB's server_audit, as the servers write them.
const AUDIT_SEED: &[u8] = b"1583427613282913,ip-10-0-0-1,rdsadmin,localhost,26,0,CONNECT,,,0
1583427613283013,ip-10-0-0-1,app,10.0.0.7,27,1031,QUERY,shop,'SELECT * FROM orders WHERE id = 5',0
1583427613283113,ip-10-0-0-1,app,10.0.0.7,27,1032,QUERY,shop,'INSERT INTO t VALUES (\\'a,b\\', 2)',0
1583427613283213,ip-10-0-0-1,app,10.0.0.7,27,0,DISCONNECT,,,0
20261122 02:36:02,vm,root,localhost,3,2,QUERY,mysql,'CREATE USER \\'app\\'@\\'localhost\\' IDENTIFIED BY *****',0
20261122 02:36:02,vm,root,localhost,3,2,WRITE,mysql,db,
20261122 02:36:03,vm,root,localhost,3,3,QUERY,shop,'SELECT 1
FROM dual',0
20261122 02:36:04,vm,root,localhost,3,0,FAILED_CONNECT,,,1045
";

const LOG_WORDS: &[&[u8]] = &[
    b"# Time: ",
    b"# User@Host: ",
    b"# Query_time: ",
    b" Lock_time: ",
    b" Rows_sent: ",
    b" Rows_examined: ",
    b"# Thread_id: ",
    b"# Schema: ",
    b"SET timestamp=",
    b"use ",
    b";\n",
    b"/usr/sbin/mysqld, Version: 8.0.36 (MySQL). started with:\n",
    b"Tcp port: 3306  Unix socket: /tmp/mysql.sock\n",
    b"Time                 Id Command    Argument\n",
    b"\tQuery\t",
    b"\tConnect\t",
    b"\tQuit\t",
    b" [Note] ",
    b" [ERROR] ",
    b" [Warning] ",
    b" [MY-010116] [Server] ",
    b"2026-11-22T10:00:00.123456Z ",
    b"2026-11-22 10:00:00 UTC:",
    b"10.0.0.1(5432):app@shop:[1234]:",
    b"LOG:  duration: 12.345 ms  statement: ",
    b"LOG:  duration: 1.5 ms  execute <unnamed>: ",
    b"DETAIL:  parameters: $1 = 'x'",
    b"ERROR:  ",
    b"STATEMENT:  ",
    b"FATAL:  ",
    b"\t",
    b"QUERY,",
    b",'",
    b"\\'",
    b"CONNECT,",
];

impl Target for LogTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        let mut tally = Tally::default();
        let mut rng =
            Rng::new(input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)));
        for prefix in &self.prefixes {
            let whole = parse_whole(&mut *self.parser(prefix), input);
            let pieces = parse_in_pieces(&mut *self.parser(prefix), input, &mut rng);
            if whole.rows != pieces.rows || whole.rejects != pieces.rejects {
                return Err(format!(
                    "{}: fed in pieces the parser gives {} rows and {} rejects, fed whole {} and {}",
                    prefix.text(),
                    pieces.rows.len(),
                    pieces.rejects.len(),
                    whole.rows.len(),
                    whole.rejects.len()
                ));
            }
            check_accounting(&whole, input).map_err(|e| format!("log_line_prefix '{}': {e}", prefix.text()))?;
            tally.rows += whole.rows.len() as u64;
            tally.rejects += whole.rejects.len() as u64;
        }
        Ok(tally)
    }
}

/// A parser's output, row by row, comparable across runs.
struct Output {
    /// Each row as text, with its start offset.
    rows: Vec<(i64, String)>,
    rejects: Vec<ParseReject>,
}

impl Output {
    fn add(&mut self, parsed: Parsed) -> Result<(), String> {
        let batch: &RecordBatch = &parsed.batch;
        if parsed.days.len() != batch.num_rows() {
            return Err(format!("{} rows with {} partition days", batch.num_rows(), parsed.days.len()));
        }
        let offsets = batch
            .column_by_name("byte_offset")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or("no byte_offset column")?;
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &Default::default()))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            let text: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            self.rows.push((offsets.value(row), format!("{} {}", parsed.days[row], text.join("|"))));
        }
        self.rejects.extend(parsed.rejects);
        Ok(())
    }
}

fn parse_whole(parser: &mut dyn LogParser, input: &[u8]) -> Output {
    let mut feeder = LineFeeder::default();
    feeder.push(input, parser);
    feeder.finish(parser);
    parser.finish();
    let mut out = Output { rows: Vec::new(), rejects: Vec::new() };
    out.add(parser.take()).map(|_| out).unwrap_or_else(|e| Output { rows: vec![(-1, e)], rejects: Vec::new() })
}

/// Feeds `input` in random pieces, taking the rows after some of them.
fn parse_in_pieces(parser: &mut dyn LogParser, input: &[u8], rng: &mut Rng) -> Output {
    let mut out = Output { rows: Vec::new(), rejects: Vec::new() };
    let mut feeder = LineFeeder::default();
    let mut rest = input;
    while !rest.is_empty() {
        let most = if rng.chance(50) { 16 } else { 4096 };
        let n = 1 + rng.below(rest.len().min(most));
        feeder.push(&rest[..n], parser);
        rest = &rest[n..];
        if rng.chance(30) && out.add(parser.take()).is_err() {
            return Output { rows: vec![(-1, "bad batch".into())], rejects: Vec::new() };
        }
    }
    feeder.finish(parser);
    parser.finish();
    match out.add(parser.take()) {
        Ok(()) => out,
        Err(e) => Output { rows: vec![(-1, e)], rejects: Vec::new() },
    }
}

/// Every row starts at a line, every reject is a real line with a reason, and no line that
/// carries anything is dropped before the first entry.
fn check_accounting(out: &Output, input: &[u8]) -> Result<(), String> {
    if let Some((-1, e)) = out.rows.first() {
        return Err(e.clone());
    }
    // (offset, number, text) of each line, as the feeder cuts them.
    let mut lines = Vec::new();
    let mut offset = 0usize;
    for (i, piece) in input.split_inclusive(|b| *b == b'\n').enumerate() {
        let body = piece.strip_suffix(b"\n").unwrap_or(piece);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        lines.push((offset as u64, i as u64 + 1, String::from_utf8_lossy(body).into_owned()));
        offset += piece.len();
    }
    let starts: std::collections::HashSet<u64> = lines.iter().map(|l| l.0).collect();
    let mut previous = -1;
    for (start, _) in &out.rows {
        if !starts.contains(&(*start as u64)) {
            return Err(format!("a row starts at byte {start}, which is not the start of a line"));
        }
        if *start < previous {
            return Err(format!("rows out of order: one at byte {start} after one at byte {previous}"));
        }
        previous = *start;
    }
    let mut rejected = std::collections::HashSet::new();
    for reject in &out.rejects {
        let Some(line) = lines.iter().find(|l| l.1 == reject.line) else {
            return Err(format!("a reject names line {}, past the last line {}", reject.line, lines.len()));
        };
        if line.0 != reject.offset {
            return Err(format!(
                "the reject of line {} says byte {}, the line starts at {}",
                reject.line, reject.offset, line.0
            ));
        }
        if reject.reason.trim().is_empty() {
            return Err(format!("the reject of line {} has no reason", reject.line));
        }
        // A reject of an entry that spans lines (an unclosed quote) holds all of them.
        rejected.extend(reject.line..=reject.line + reject.text.matches('\n').count() as u64);
    }
    let first_row = out.rows.first().map_or(u64::MAX, |(start, _)| *start as u64);
    for (offset, number, text) in &lines {
        if *offset >= first_row {
            break;
        }
        let silent = text.trim().is_empty() || glaux::logs::parse::slow::is_banner(text);
        if !silent && !rejected.contains(number) {
            return Err(format!("line {number} ({}) is neither in a row nor rejected", shorten(text)));
        }
    }
    Ok(())
}

fn shorten(text: &str) -> String {
    match text.len() > 80 {
        true => format!("{}…", &text[..text.floor_char_boundary(80)]),
        false => text.to_string(),
    }
}

/// The query classes of `logs digest`: logged statements are untrusted text.
pub struct FingerprintTarget {
    corpus: Corpus,
}

impl FingerprintTarget {
    pub fn new() -> FingerprintTarget {
        let mut seeds = regressions("fingerprint");
        seeds.extend(String::from_utf8_lossy(SQL_SEEDS).split("\n\n").map(|s| s.as_bytes().to_vec()));
        for log in files("tests/fixtures/percona/slowlogs", |n| !n.ends_with(".gz")) {
            // The statements of a slow log: its lines that are not headers.
            let text = String::from_utf8_lossy(&log).into_owned();
            seeds.extend(
                text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.as_bytes().to_vec()),
            );
        }
        seeds.sort();
        seeds.dedup();
        FingerprintTarget { corpus: Corpus::new("fingerprint", seeds, SQL_WORDS).max_len(8192) }
    }
}

impl Target for FingerprintTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        use glaux::logs::fingerprint;
        let text = String::from_utf8_lossy(input);
        for (engine, class) in [("mysql", fingerprint::mysql(&text)), ("postgres", fingerprint::postgres(&text))] {
            // pt-fingerprint keeps the newline after `use db` (Perl's `\Z`), and glaux agrees.
            if class.trim_end_matches('\n').contains('\n') {
                return Err(format!("{engine}: the class `{class}` spans lines"));
            }
            let id = fingerprint::query_id(&class);
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{engine}: query id `{id}` of `{class}` is not 32 hex digits"));
            }
        }
        Ok(Tally { rows: 2, ..Tally::default() })
    }
}

// ---------------------------------------------------------------------------------------------
// CSV ingest

/// The demo registry with table locations in `warehouse`.
fn demo_registry(warehouse: &url::Url) -> Registry {
    Registry::load(&repo().join("catalog"), warehouse).expect("the demo registry loads")
}

/// `ingest csv` into the demo's raw customer table on a local warehouse.
pub struct CsvTarget {
    runtime: tokio::runtime::Runtime,
    /// A local warehouse and the raw customer table in it, made anew every 200 loads.
    place: (tempfile::TempDir, glaux::warehouse::Warehouse, std::sync::Arc<glaux::catalog::table::TableDef>),
    loads: u64,
    corpus: Corpus,
}

/// A new local warehouse and the demo's raw customer table located in it.
fn csv_place() -> (tempfile::TempDir, glaux::warehouse::Warehouse, std::sync::Arc<glaux::catalog::table::TableDef>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse = glaux::warehouse::Warehouse::open_local(&dir.path().join("warehouse")).expect("local warehouse");
    let def = demo_registry(warehouse.url()).table("customer_data", "customer_base_raw").expect("demo table").clone();
    (dir, warehouse, def)
}

impl CsvTarget {
    pub fn new() -> CsvTarget {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut seeds = regressions("csv");
        seeds.extend(files("data/customer_data/customer_base_raw", |n| n.ends_with(".csv")));
        let corpus = Corpus::new("csv", seeds, CSV_WORDS).max_len(1 << 14);
        CsvTarget { runtime, place: csv_place(), loads: 0, corpus }
    }
}

const CSV_WORDS: &[&[u8]] = &[
    b"customer_id",
    b"email",
    b"signup_date",
    b"region_code",
    b",",
    b"\"",
    b"\"\"",
    b"\r\n",
    b",,,,",
    b"\xff\xfe",
    b"2026-11-01",
    b"n/a",
];

impl Target for CsvTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        use glaux::ingest::csv::{CsvOptions, ingest_csv};
        use glaux::ingest::source::Input;
        // A fresh warehouse now and then: the ledger of loaded files grows with every load.
        if self.loads > 0 && self.loads.is_multiple_of(200) {
            self.place = csv_place();
        }
        self.loads += 1;
        let (dir, warehouse, def) = &self.place;
        let file = dir.path().join("export.csv");
        std::fs::write(&file, input).map_err(|e| e.to_string())?;
        let options = CsvOptions {
            day: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
            at: chrono::Utc::now(),
            force: true,
            run_id: "fuzz".into(),
        };
        let log = glaux::catalog::state::TableLog::of(warehouse, def);
        self.runtime.block_on(async {
            let before = log.latest().await.map_err(|e| e.to_string())?;
            let rows_before = before.as_ref().map_or(0, |s| s.partitions.values().map(|p| p.rows()).sum::<u64>());
            let result = ingest_csv(warehouse, def, &[Input::local(file.clone())], &options, &NoHook).await;
            let report = match result {
                Ok(report) => report,
                Err(e) => {
                    clear_error(&one_line(&e), "export.csv")?;
                    let after = log.latest().await.map_err(|e| e.to_string())?;
                    if after.map(|s| s.version) != before.map(|s| s.version) {
                        return Err(format!("a failed load committed: {}", one_line(&e)));
                    }
                    return Ok(Tally { errors: 1, ..Tally::default() });
                }
            };
            let records =
                csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(input).byte_records().count()
                    as u64;
            if report.rows_read != records {
                return Err(format!("{} records in the file, the load read {}", records, report.rows_read));
            }
            if report.rows_read != report.rows_written + report.rows_rejected {
                return Err(format!(
                    "read {} records but wrote {} and rejected {}",
                    report.rows_read, report.rows_written, report.rows_rejected
                ));
            }
            let after = log.latest().await.map_err(|e| e.to_string())?.ok_or("the load committed nothing")?;
            let rows_after: u64 = after.partitions.values().map(|p| p.rows()).sum();
            if rows_after - rows_before != report.rows_written {
                return Err(format!(
                    "the report says {} rows written, the snapshot gained {}",
                    report.rows_written,
                    rows_after - rows_before
                ));
            }
            let rejected: u64 = glaux::catalog::rejects::reject_files(&after.properties)
                .iter()
                .filter(|f| f.file.path.contains(&after.commit_id))
                .map(|f| f.file.rows)
                .sum();
            if rejected != report.rows_rejected {
                return Err(format!(
                    "the report says {} rows rejected, the reject file holds {rejected}",
                    report.rows_rejected
                ));
            }
            Ok(Tally { rows: report.rows_written, rejects: report.rows_rejected, errors: 0 })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The registry, Glue types, configuration and job definitions

/// A table definition file in a registry of its own.
pub struct RegistryTarget {
    dir: tempfile::TempDir,
    corpus: Corpus,
}

impl RegistryTarget {
    pub fn new() -> RegistryTarget {
        let mut seeds = regressions("registry");
        seeds.extend(files("catalog/customer_data", |n| n.ends_with(".json")));
        seeds.extend(files("catalog/aurora_logs", |n| n.ends_with(".json")));
        RegistryTarget {
            dir: tempfile::tempdir().expect("temp dir"),
            corpus: Corpus::new("registry", seeds, REGISTRY_WORDS),
        }
    }
}

const REGISTRY_WORDS: &[&[u8]] = &[
    b"\"Name\": ",
    b"\"Type\": ",
    b"\"Columns\": [",
    b"\"PartitionKeys\": [",
    b"\"Location\": ",
    b"\"Parameters\": {",
    b"\"TableType\": \"VIRTUAL_VIEW\"",
    b"\"ViewOriginalText\": ",
    b"array<struct<a:int,b:map<string,decimal(38,10)>>>",
    b"decimal(39,2)",
    b"varchar(0)",
    b"../../",
    b"s3://other-bucket/",
    b"{}",
    b"[]",
    b"null",
    b"\"glaux.retention\": \"7d\"",
];

impl Target for RegistryTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        let catalog = self.dir.path().join("catalog");
        let _ = std::fs::remove_dir_all(&catalog);
        let db = catalog.join("customer_data");
        std::fs::create_dir_all(&db).map_err(|e| e.to_string())?;
        // The file is named after the table it defines, so mutations reach past the name check.
        let text = String::from_utf8_lossy(input);
        let name = text
            .split("\"Name\"")
            .nth(1)
            .and_then(|rest| rest.split('"').nth(1))
            .filter(|n| !n.is_empty() && n.len() <= 100 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or("t")
            .to_string();
        std::fs::write(db.join(format!("{name}.json")), input).map_err(|e| e.to_string())?;
        let warehouse = url::Url::parse("file:///fuzz/warehouse/").expect("url");
        match Registry::load(&catalog, &warehouse) {
            Ok(registry) => {
                for table in registry.tables() {
                    let _ = (table.table_schema(), table.partition_fields(), table.qualified_name());
                    let escapes = table.location.starts_with('/') || table.location.split('/').any(|s| s == "..");
                    if escapes {
                        return Err(format!(
                            "table {} is located outside the warehouse: {}",
                            table.qualified_name(),
                            table.location
                        ));
                    }
                }
                Ok(Tally { rows: (registry.tables().count() + registry.views().count()) as u64, ..Tally::default() })
            }
            Err(e) => {
                clear_error(&one_line(&e), &format!("{name}.json"))?;
                Ok(Tally { errors: 1, ..Tally::default() })
            }
        }
    }
}

/// Glue type strings, as Glue, the registry and `CREATE TABLE` give them.
pub struct GlueTypeTarget {
    corpus: Corpus,
}

impl GlueTypeTarget {
    pub fn new() -> GlueTypeTarget {
        let mut seeds = regressions("glue-type");
        for file in files("catalog/customer_data", |n| n.ends_with(".json"))
            .iter()
            .chain(&files("catalog/aurora_logs", |n| n.ends_with(".json")))
        {
            let text = String::from_utf8_lossy(file);
            for piece in text.split("\"Type\": \"").skip(1) {
                if let Some(t) = piece.split('"').next() {
                    seeds.push(t.as_bytes().to_vec());
                }
            }
        }
        for t in [
            "array<struct<a:int,b:map<string,array<decimal(38,10)>>>>",
            "struct<`weird name`:string,x:array<tinyint>>",
            "map<varchar(10),char(2)>",
            "timestamp",
            "date",
            "binary",
            "double",
            "float",
            "bigint",
            "smallint",
            "boolean",
            "decimal(10)",
            "uniontype<int,string>",
        ] {
            seeds.push(t.as_bytes().to_vec());
        }
        seeds.sort();
        seeds.dedup();
        GlueTypeTarget { corpus: Corpus::new("glue-type", seeds, TYPE_WORDS).max_len(4096) }
    }
}

const TYPE_WORDS: &[&[u8]] = &[
    b"array<",
    b"map<",
    b"struct<",
    b">",
    b",",
    b":",
    b"decimal(",
    b"varchar(",
    b"char(",
    b")",
    b"`",
    b" ",
    b"int",
    b"string",
];

impl Target for GlueTypeTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        use glaux::catalog::types::GlueType;
        let text = String::from_utf8_lossy(input);
        match GlueType::parse(&text) {
            Ok(t) => {
                let printed = t.to_string();
                let again = GlueType::parse(&printed)
                    .map_err(|e| format!("`{text}` parses, prints as `{printed}`, which does not parse: {e}"))?;
                if again != t {
                    return Err(format!("`{text}` prints as `{printed}`, which parses to another type"));
                }
                let arrow = t.to_arrow();
                // Whatever Arrow type a Glue type maps to maps back (maybe to a wider type).
                GlueType::from_arrow(&arrow)
                    .map_err(|e| format!("`{printed}` maps to {arrow}, which does not map back: {e}"))?;
                Ok(Tally { rows: 1, ..Tally::default() })
            }
            Err(e) => {
                if one_line(&e).trim().is_empty() {
                    return Err(format!("`{text}`: an error with an empty message"));
                }
                Ok(Tally { errors: 1, ..Tally::default() })
            }
        }
    }
}

/// `glaux.toml` resolved into settings, with its schedule checked.
pub struct ConfigTarget {
    dir: tempfile::TempDir,
    corpus: Corpus,
}

impl ConfigTarget {
    pub fn new() -> ConfigTarget {
        let mut seeds = regressions("config");
        seeds.extend(files(".", |n| n == "glaux.toml"));
        seeds.push(CONFIG_SEED.to_vec());
        ConfigTarget { dir: tempfile::tempdir().expect("temp dir"), corpus: Corpus::new("config", seeds, CONFIG_WORDS) }
    }
}

/// Every section `glaux.toml` has, set.
const CONFIG_SEED: &[u8] = br#"[warehouse]
location = "s3://bucket/prefix"
region = "eu-west-1"
endpoint = "http://127.0.0.1:5000"
allow_http = true
path_style = true
sse_kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/abc"

[glue]
auto_push = true

[aurora]
landed_retention = "30d"

[[aurora.sources]]
name = "orders-db"
cluster = "orders-aurora-cluster"
kinds = ["error", "slow", "general", "audit", "postgres"]
since = "7d"

[[aurora.sources]]
name = "local"
dir = "logs"
instance = "db-1"
log_line_prefix = "%m [%p] "

[retention]
"customer_data.customer_base_raw" = "90d"

[scheduler]
lease = "10m"
grace = "30s"
catch_up = "latest"
on_failure = "notify-send failed"

[scheduler.prometheus]
listen = "127.0.0.1:9464"

[scheduler.cloudwatch]
namespace = "glaux"

[scheduler.lag]
threshold = "2h"

[[schedule]]
name = "nightly"
cron = "0 0 3 * * *"
timezone = "Europe/Berlin"
command = "run"
"#;

const CONFIG_WORDS: &[&[u8]] = &[
    b"[warehouse]\n",
    b"[[schedule]]\n",
    b"[[aurora.sources]]\n",
    b"[scheduler]\n",
    b"[retention]\n",
    b" = ",
    b"\"\"\"",
    b"'''",
    b"cron = \"",
    b"timezone = \"",
    b"since = \"",
    b"= 1979-05-27T07:32:00Z",
    b"= [1, \"a\"]",
    b"= { a = 1 }",
    b"* * * * * *",
    b"L W #",
];

impl Target for ConfigTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        use glaux::config::{Overrides, Settings};
        let file = self.dir.path().join("glaux.toml");
        std::fs::write(&file, input).map_err(|e| e.to_string())?;
        let overrides = Overrides { project: Some(self.dir.path().to_path_buf()), ..Overrides::default() };
        let settings = match Settings::resolve(&overrides, &|_| None, self.dir.path()) {
            Ok(settings) => settings,
            Err(e) => {
                // A setting that may come from the file or the environment is named by its
                // setting and value (`setting S3 endpoint = `…`: …`).
                let message = one_line(&e);
                let named = if message.starts_with("setting ") { "setting " } else { "glaux.toml" };
                clear_error(&message, named)?;
                return Ok(Tally { errors: 1, ..Tally::default() });
            }
        };
        match glaux::schedule::entry::Schedule::check(&file, &settings.scheduler, &settings.schedule) {
            Ok(schedule) => {
                let now = chrono::Utc::now();
                for entry in &schedule.entries {
                    let _ = entry.next_n(now, 3);
                }
                Ok(Tally { rows: 1 + schedule.entries.len() as u64, ..Tally::default() })
            }
            Err(e) => {
                clear_error(&one_line(&e), "glaux.toml")?;
                Ok(Tally { errors: 1, ..Tally::default() })
            }
        }
    }
}

/// A job definition in `sql/` beside the demo's SQL files, checked against the demo registry.
pub struct JobTarget {
    dir: tempfile::TempDir,
    registry: Registry,
    corpus: Corpus,
}

impl JobTarget {
    pub fn new() -> JobTarget {
        let dir = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(repo().join("sql")).expect("sql/") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "sql") {
                std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
            }
        }
        let mut seeds = regressions("job");
        seeds.extend(files("sql", |n| n.ends_with(".toml")));
        let registry = demo_registry(&url::Url::parse("file:///fuzz/warehouse/").expect("url"));
        JobTarget { dir, registry, corpus: Corpus::new("job", seeds, JOB_WORDS) }
    }
}

const JOB_WORDS: &[&[u8]] = &[
    b"sql = \"",
    b"inputs = [",
    b"outputs = [",
    b"mode = \"",
    b"incremental",
    b"overwrite_partitions",
    b"append",
    b"bookmark = ",
    b"[quarantine]\n",
    b"customer_data.customer_base_raw",
    b"aurora_logs.mysql_slow_log",
    b"../",
    b".sql",
];

impl Target for JobTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        let file = self.dir.path().join("fuzzed_job.toml");
        std::fs::write(&file, input).map_err(|e| e.to_string())?;
        let result = glaux::jobs::load_all(self.dir.path(), &self.registry);
        let _ = std::fs::remove_file(&file);
        match result {
            Ok(jobs) => {
                let _ = glaux::jobs::order(&jobs);
                Ok(Tally { rows: jobs.len() as u64, ..Tally::default() })
            }
            Err(e) => {
                clear_error(&one_line(&e), "fuzzed_job.toml")?;
                Ok(Tally { errors: 1, ..Tally::default() })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQL

/// Athena SQL through glaux's parser, rewrites and planner on the demo project (nothing runs).
pub struct SqlTarget {
    runtime: tokio::runtime::Runtime,
    ctx: datafusion::prelude::SessionContext,
    _warehouse: tempfile::TempDir,
    corpus: Corpus,
}

impl SqlTarget {
    pub fn new() -> SqlTarget {
        let warehouse = tempfile::tempdir().expect("temp dir");
        let overrides = glaux::config::Overrides {
            project: Some(repo()),
            warehouse: Some(warehouse.path().display().to_string()),
            ..Default::default()
        };
        let project = glaux::project::Project::open(&overrides).expect("the demo project opens");
        let options = glaux::engine::EngineOptions { memory_limit: Some(256 << 20), ..Default::default() };
        let ctx = project.session(&options).expect("session");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut seeds = regressions("sql");
        seeds.extend(files("sql", |n| n.ends_with(".sql")));
        seeds.extend(String::from_utf8_lossy(SQL_SEEDS).split("\n\n").map(|s| s.as_bytes().to_vec()));
        SqlTarget { runtime, ctx, _warehouse: warehouse, corpus: Corpus::new("sql", seeds, SQL_WORDS).max_len(8192) }
    }
}

/// Athena queries over the demo tables using what glaux rewrites or adds.
const SQL_SEEDS: &[u8] = include_bytes!("athena_seeds.sql");

const SQL_WORDS: &[&[u8]] = &[
    b" VALUES 1, 2, 3",
    b" FOR VERSION AS OF 1",
    b" FOR TIMESTAMP AS OF TIMESTAMP '2026-11-01 00:00:00'",
    b" CROSS JOIN UNNEST(ARRAY[1, 2]) WITH ORDINALITY AS u(x, n)",
    b" CROSS JOIN UNNEST(MAP(ARRAY['a'], ARRAY[1])) AS m(k, v)",
    b"try(",
    b"if(",
    b"x -> x + 1",
    b"(a, b) -> a",
    b"SUBSTR(",
    b"SUBSTRING(",
    b"date_parse(",
    b"json_extract_scalar(",
    b"approx_percentile(",
    b"regexp_extract(",
    b"CAST(",
    b" AS varchar",
    b"ARRAY[",
    b"ROW(",
    b"WITH t AS (",
    b" UNION ALL ",
    b" ORDER BY 1",
    b" OVER (PARTITION BY 1)",
    b"crm.customers",
    b"customer_data.customer_base_raw",
    b"aurora_logs.mysql_slow_log",
    b"system.job_runs",
    b"'",
    b"\"",
    b"(",
    b")",
];

impl Target for SqlTarget {
    fn corpus(&self) -> &Corpus {
        &self.corpus
    }

    fn run(&mut self, input: &[u8]) -> Result<Tally, String> {
        use datafusion::execution::context::SQLOptions;
        let text = String::from_utf8_lossy(input);
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let statements = match glaux::engine::athena::parse(&text, 50) {
            Ok(statements) => statements,
            Err(_) => return Ok(Tally { errors: 1, ..Tally::default() }),
        };
        let ctx = self.ctx.clone();
        let mut tally = Tally::default();
        self.runtime.block_on(async {
            for statement in statements.into_iter().take(4) {
                let state = ctx.state();
                let planned = async {
                    let plan = state.statement_to_plan(statement).await?;
                    options.verify_plan(&plan)?;
                    let frame = ctx.execute_logical_plan(plan).await?;
                    frame.create_physical_plan().await
                };
                match planned.await {
                    Ok(_) => tally.rows += 1,
                    Err(_) => tally.errors += 1,
                }
            }
        });
        Ok(tally)
    }
}
