//! The MySQL slow query log: MySQL 5.0–8.0, Aurora MySQL, Percona Server and MariaDB.
//!
//! An entry is a block of `#` header lines (`# Time:`, `# User@Host:`, `# Query_time: …`, and
//! the extra fields of Percona and MariaDB), then optionally `use db;` and `SET timestamp=N;`,
//! then the statement, which may span lines. `# Time:` is left out when it has not changed,
//! so a new entry starts at `# Time:` or `# User@Host:`, or at any header line after a statement
//! that ended with `;` (as pt-query-digest reads it). The server's start-up banner
//! (`…, Version: … started with:`, `Tcp port:`, `Time Id Command Argument`) is skipped.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, MapBuilder, MapFieldNames, StringBuilder};
use arrow::datatypes::SchemaRef;

use super::{Common, LogParser, Parsed, key_values, text, time};

/// The slow-log parser.
pub struct SlowLogParser {
    schema: SchemaRef,
    common: Common,
    entry: Entry,
    columns: Columns,
}

#[derive(Default)]
struct Entry {
    started: bool,
    offset: u64,
    /// Line number of the entry's first line.
    number: u64,
    /// The entry's lines before its statement, kept to reject an entry that has neither a
    /// `Query_time` nor a statement (a header cut off at the end of a file): lines are never
    /// dropped silently.
    head: String,
    head_lines: u64,
    header_time: Option<i64>,
    set_timestamp: Option<i64>,
    user: Option<String>,
    host: Option<String>,
    ip: Option<String>,
    thread_id: Option<i64>,
    db: Option<String>,
    query_time: Option<f64>,
    lock_time: Option<f64>,
    rows_sent: Option<i64>,
    rows_examined: Option<i64>,
    rows_affected: Option<i64>,
    bytes_sent: Option<i64>,
    /// Other header fields: keys and values back to back in `attribute_text`, with spans
    /// (key start, value start, value end), so an entry allocates nothing once warmed up.
    attribute_text: String,
    attribute_spans: Vec<(usize, usize, usize)>,
    sql: String,
    in_statement: bool,
}

impl Entry {
    /// Empties the entry for the next one, keeping its buffers.
    fn reset(&mut self) {
        let mut sql = std::mem::take(&mut self.sql);
        let mut attribute_text = std::mem::take(&mut self.attribute_text);
        let mut attribute_spans = std::mem::take(&mut self.attribute_spans);
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        sql.clear();
        attribute_text.clear();
        attribute_spans.clear();
        *self = Entry { sql, attribute_text, attribute_spans, head, ..Entry::default() };
    }

    fn add_attribute(&mut self, key: &str, value: &str) {
        let start = self.attribute_text.len();
        self.attribute_text.push_str(key);
        let middle = self.attribute_text.len();
        self.attribute_text.push_str(value);
        self.attribute_spans.push((start, middle, self.attribute_text.len()));
    }
}

struct Columns {
    user: StringBuilder,
    host: StringBuilder,
    ip: StringBuilder,
    thread_id: Int64Builder,
    db: StringBuilder,
    query_time: Float64Builder,
    lock_time: Float64Builder,
    rows_sent: Int64Builder,
    rows_examined: Int64Builder,
    rows_affected: Int64Builder,
    bytes_sent: Int64Builder,
    attributes: MapBuilder<StringBuilder, StringBuilder>,
    sql: StringBuilder,
}

impl Columns {
    fn new() -> Columns {
        let names = MapFieldNames { entry: "entries".into(), key: "key".into(), value: "value".into() };
        Columns {
            user: StringBuilder::new(),
            host: StringBuilder::new(),
            ip: StringBuilder::new(),
            thread_id: Int64Builder::new(),
            db: StringBuilder::new(),
            query_time: Float64Builder::new(),
            lock_time: Float64Builder::new(),
            rows_sent: Int64Builder::new(),
            rows_examined: Int64Builder::new(),
            rows_affected: Int64Builder::new(),
            bytes_sent: Int64Builder::new(),
            attributes: MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new()),
            sql: StringBuilder::new(),
        }
    }
}

impl SlowLogParser {
    /// Rows of `source_file` in `schema` (the table's file schema); rows without a time go
    /// under `default_day`.
    pub fn new(schema: SchemaRef, source_file: &str, default_day: i32) -> SlowLogParser {
        SlowLogParser {
            schema,
            common: Common::new(source_file, default_day),
            entry: Entry::default(),
            columns: Columns::new(),
        }
    }

    fn emit(&mut self) {
        let entry = &mut self.entry;
        if !entry.started {
            entry.reset();
            return;
        }
        if entry.query_time.is_none() && entry.sql.is_empty() {
            let reason = "slow-log entry with neither a Query_time nor a statement (cut off?)";
            self.common.reject(entry.offset, entry.number, reason, entry.head.as_bytes());
            entry.reset();
            return;
        }
        let ts = entry.set_timestamp.or(entry.header_time);
        self.common.push(ts, entry.offset);
        let c = &mut self.columns;
        c.user.append_option(entry.user.as_deref());
        c.host.append_option(entry.host.as_deref());
        c.ip.append_option(entry.ip.as_deref());
        c.thread_id.append_option(entry.thread_id);
        c.db.append_option(entry.db.as_deref());
        c.query_time.append_option(entry.query_time);
        c.lock_time.append_option(entry.lock_time);
        c.rows_sent.append_option(entry.rows_sent);
        c.rows_examined.append_option(entry.rows_examined);
        c.rows_affected.append_option(entry.rows_affected);
        c.bytes_sent.append_option(entry.bytes_sent);
        for &(start, middle, end) in &entry.attribute_spans {
            c.attributes.keys().append_value(&entry.attribute_text[start..middle]);
            c.attributes.values().append_value(&entry.attribute_text[middle..end]);
        }
        c.attributes.append(true).expect("keys and values have equal lengths");
        let sql = entry.sql.trim_end();
        c.sql.append_value(sql.strip_suffix(';').unwrap_or(sql));
        entry.reset();
    }

    /// Whether the entry has more than a `# Time:` line.
    fn has_fields(&self) -> bool {
        self.entry.user.is_some() || self.entry.query_time.is_some() || self.entry.in_statement
    }

    fn start(&mut self, offset: u64, number: u64) {
        self.emit();
        self.entry.started = true;
        self.entry.offset = offset;
        self.entry.number = number;
    }

    /// Keeps a line of the entry's head (see [`Entry::head`]).
    fn keep_head(&mut self, line: &str) {
        let entry = &mut self.entry;
        if entry.started && !entry.in_statement {
            if entry.head_lines > 0 {
                entry.head.push('\n');
            }
            entry.head.push_str(line);
            entry.head_lines += 1;
        }
    }

    fn header(&mut self, line: &str, offset: u64, number: u64) {
        if let Some(rest) = line.strip_prefix("# Time:") {
            if !self.entry.started || self.has_fields() {
                self.start(offset, number);
            }
            // `# Time: 071218 11:48:27 # User@Host: …` (MySQL 5.0) carries both on one line.
            let (time_text, user_host) = match rest.find("# User@Host:") {
                Some(at) => (&rest[..at], Some(&rest[at + 2..])),
                None => (rest, None),
            };
            self.entry.header_time = header_time(time_text.trim());
            if let Some(user_host) = user_host {
                self.user_host(user_host);
            }
            return;
        }
        if line.starts_with("# User@Host:") || line.starts_with("# User:") {
            // Only a bare `# Time:` line belongs to the same entry.
            if !self.entry.started || self.has_fields() {
                self.start(offset, number);
            }
            self.user_host(&line[2..]);
            return;
        }
        if self.entry.in_statement {
            // A `#` line after a complete statement starts the next entry; inside an
            // unterminated statement it is part of it (a comment).
            if self.entry.sql.trim_end().ends_with(';') {
                self.start(offset, number);
            } else {
                self.append_sql(line);
                return;
            }
        }
        if let Some(command) = line.strip_prefix("# administrator command: ") {
            if !self.entry.started {
                let reason = "administrator command outside a slow-log entry (no # header before it)";
                self.common.reject(offset, number, reason, line.as_bytes());
                return;
            }
            self.entry.sql = format!("administrator command: {}", command.trim_end());
            self.entry.in_statement = true;
            return;
        }
        if !self.entry.started {
            self.start(offset, number);
        }
        let entry = &mut self.entry;
        key_values(&line[1..], |key, value| match key {
            "Query_time" => entry.query_time = value.parse().ok(),
            "Lock_time" => entry.lock_time = value.parse().ok(),
            "Rows_sent" => entry.rows_sent = value.parse().ok(),
            "Rows_examined" => entry.rows_examined = value.parse().ok(),
            "Rows_affected" => entry.rows_affected = value.parse().ok(),
            "Bytes_sent" => entry.bytes_sent = value.parse().ok(),
            "Thread_id" | "Id" => entry.thread_id = value.parse().ok(),
            "Schema" if !value.is_empty() => entry.db = Some(value.to_string()),
            "Schema" => {}
            _ => entry.add_attribute(key, value),
        });
    }

    /// `User@Host: user[priv] @ host [ip]  Id: 3` (the leading `# ` removed).
    fn user_host(&mut self, text: &str) {
        let rest = text.split_once(':').map_or("", |(_, rest)| rest);
        let (account, place) = rest.split_once(" @ ").unwrap_or((rest, ""));
        let account = account.trim();
        let user = match account.split_once('[') {
            Some(("", bracketed)) => bracketed.trim_end_matches(']'),
            Some((user, _)) => user,
            None => account,
        };
        self.entry.user = Some(user.to_string());
        let (place, id) = match place.find("Id:") {
            Some(at) => (&place[..at], place[at + 3..].trim().parse().ok()),
            None => (place, None),
        };
        let place = place.trim();
        let (host, ip) = match place.rfind('[') {
            Some(at) => (place[..at].trim(), place[at + 1..].trim_end_matches(']').trim()),
            None => (place, ""),
        };
        self.entry.host = (!host.is_empty()).then(|| host.to_string());
        self.entry.ip = (!ip.is_empty()).then(|| ip.to_string());
        if id.is_some() {
            self.entry.thread_id = id;
        }
    }

    fn append_sql(&mut self, line: &str) {
        if !self.entry.sql.is_empty() {
            self.entry.sql.push('\n');
        }
        self.entry.sql.push_str(line);
        self.entry.in_statement = true;
    }

    fn body(&mut self, line: &str, offset: u64, number: u64, raw: &[u8]) {
        if !self.entry.started {
            if !line.trim().is_empty() {
                self.common.reject(
                    offset,
                    number,
                    "statement line outside a slow-log entry (no # header before it)",
                    raw,
                );
            }
            return;
        }
        if !self.entry.in_statement {
            if let Some(db) = line.strip_prefix("use ").and_then(|r| r.trim_end().strip_suffix(';')) {
                self.entry.db = Some(db.trim().trim_matches('`').to_string());
                return;
            }
            // The server's own `SET timestamp=…;` and `SET insert_id=…,timestamp=…;` lines (as
            // pt-query-digest reads them, not part of the statement).
            if ["SET timestamp", "SET insert_id", "SET last_insert_id"].iter().any(|p| line.starts_with(p)) {
                let settings = line["SET ".len()..].trim_end().trim_end_matches(';');
                for setting in settings.split(',') {
                    if let Some(seconds) = setting.trim().strip_prefix("timestamp=") {
                        self.entry.set_timestamp = seconds.trim().parse::<i64>().ok().map(|s| s * 1_000_000);
                    }
                }
                return;
            }
        }
        if line.is_empty() && !self.entry.in_statement {
            return;
        }
        self.append_sql(line);
    }
}

/// `# Time:` values: ISO (`2016-07-20T18:13:25.698433Z`) or `YYMMDD HH:MM:SS`.
fn header_time(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    time::iso(bytes).or_else(|| time::yymmdd(bytes)).map(|(at, _)| at)
}

/// The server's start-up banner, repeated in the log at every restart.
pub fn is_banner(line: &str) -> bool {
    (line.contains(", Version: ") && line.ends_with("started with:"))
        || line.starts_with("Tcp port: ")
        || line.starts_with("TCP Port: ")
        || (line.starts_with("Time") && line.split_whitespace().eq(["Time", "Id", "Command", "Argument"]))
}

impl LogParser for SlowLogParser {
    fn line(&mut self, raw: &[u8], offset: u64, number: u64) {
        let line = text(raw);
        if line.starts_with('#') {
            self.header(&line, offset, number);
        } else if is_banner(&line) {
            if self.entry.in_statement {
                self.emit();
            }
        } else {
            self.body(&line, offset, number, raw);
        }
        self.keep_head(&line);
    }

    fn finish(&mut self) {
        self.emit();
    }

    fn buffered(&self) -> usize {
        self.common.rows()
    }

    fn take(&mut self) -> Parsed {
        let c = &mut self.columns;
        let columns: Vec<(&'static str, ArrayRef)> = vec![
            ("user", Arc::new(c.user.finish())),
            ("host", Arc::new(c.host.finish())),
            ("ip", Arc::new(c.ip.finish())),
            ("thread_id", Arc::new(c.thread_id.finish())),
            ("db", Arc::new(c.db.finish())),
            ("query_time_s", Arc::new(c.query_time.finish())),
            ("lock_time_s", Arc::new(c.lock_time.finish())),
            ("rows_sent", Arc::new(c.rows_sent.finish())),
            ("rows_examined", Arc::new(c.rows_examined.finish())),
            ("rows_affected", Arc::new(c.rows_affected.finish())),
            ("bytes_sent", Arc::new(c.bytes_sent.finish())),
            ("attributes", Arc::new(c.attributes.finish())),
            ("sql_text", Arc::new(c.sql.finish())),
        ];
        self.common.take(&self.schema, columns)
    }
}
