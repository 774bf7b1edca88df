//! PostgreSQL stderr logs (Aurora PostgreSQL, RDS PostgreSQL, self-managed servers).
//!
//! Each line starts with the server's `log_line_prefix`, then a severity and the message:
//! `2018-08-22 16:00:04 UTC:10.0.0.1(48808):app@shop:[18762]:LOG:  duration: 3.668 ms  statement: SELECT 1`.
//! RDS and Aurora use `%t:%r:%u@%d:[%p]:` ([`RDS_PREFIX`]); any other prefix is compiled from
//! its `%` escapes, as pgBadger's `-p` does. A message's `DETAIL:`, `HINT:`, `CONTEXT:`,
//! `STATEMENT:` and `QUERY:` lines (same prefix, same process) and its tab-indented
//! continuation lines belong to the entry before them. `%t` and `%m` times carry a zone
//! abbreviation (`UTC`, `CET`, `MSK`, …) or a numeric zone; every time is stored in UTC.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, Int32Builder, StringBuilder};
use arrow::datatypes::SchemaRef;

use super::{Common, LogParser, Parsed, text, time};

/// The `log_line_prefix` of RDS and Aurora PostgreSQL.
pub const RDS_PREFIX: &str = "%t:%r:%u@%d:[%p]:";

/// A `log_line_prefix` that cannot be used to read a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log_line_prefix '{prefix}' cannot be read: {reason}")]
pub struct PrefixError {
    /// The prefix.
    pub prefix: String,
    /// What is wrong with it.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(Vec<u8>),
    /// `%t` (seconds) or `%m` (milliseconds): a time with a zone.
    Time,
    /// `%r`: `host(port)`, `[local]`, or empty.
    Remote,
    /// `%h`: host.
    Host,
    User,
    Database,
    Pid,
    Application,
    /// `%q`: what follows is only printed for session processes.
    SessionOnly,
    /// Any other escape (`%l`, `%c`, `%e`, `%s`, `%x`, `%v`, `%i`, `%b`, `%n`, `%Q`): read, not kept.
    Other,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    text: String,
    items: Vec<Item>,
    /// For each item, the first literal after it (where a free-text field ends).
    next_literals: Vec<Option<Vec<u8>>>,
}

/// Where a text field is in its line (start, end); `None` when the field is empty or absent.
type Span = Option<(usize, usize)>;

/// The prefix fields of one line; text fields are spans of the line, so reading a prefix
/// allocates nothing.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Fields {
    ts: Option<i64>,
    remote_host: Span,
    remote_port: Option<i32>,
    user: Span,
    db: Span,
    pid: Option<i32>,
    application: Span,
}

impl Prefix {
    /// Compiles `prefix`. It must contain a time (`%t` or `%m`) and the process id (`%p`), as
    /// for pgBadger: without them lines cannot be ordered or joined.
    pub fn compile(prefix: &str) -> Result<Prefix, PrefixError> {
        let fail = |reason: &str| PrefixError { prefix: prefix.to_string(), reason: reason.to_string() };
        let mut items = Vec::new();
        let mut literal = Vec::new();
        let mut chars = prefix.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                let mut buf = [0u8; 4];
                literal.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            let escape = chars.next().ok_or_else(|| fail("it ends with a lone %"))?;
            if escape == '%' {
                literal.push(b'%');
                continue;
            }
            if !literal.is_empty() {
                items.push(Item::Literal(std::mem::take(&mut literal)));
            }
            items.push(match escape {
                't' | 'm' => Item::Time,
                'r' => Item::Remote,
                'h' => Item::Host,
                'u' => Item::User,
                'd' => Item::Database,
                'p' => Item::Pid,
                'a' => Item::Application,
                'q' => Item::SessionOnly,
                'l' | 'c' | 'e' | 's' | 'x' | 'v' | 'i' | 'b' | 'n' | 'Q' | 'P' | 'L' | 'B' => Item::Other,
                other => return Err(fail(&format!("%{other} is not a log_line_prefix escape"))),
            });
        }
        if !literal.is_empty() {
            items.push(Item::Literal(literal));
        }
        if !items.contains(&Item::Time) || !items.contains(&Item::Pid) {
            return Err(fail("it needs a time (%t or %m) and the process id (%p)"));
        }
        let next_literals = (0..items.len())
            .map(|index| {
                items[index + 1..].iter().find_map(|i| match i {
                    Item::Literal(l) => Some(l.clone()),
                    _ => None,
                })
            })
            .collect();
        Ok(Prefix { text: prefix.to_string(), items, next_literals })
    }

    /// The prefix as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `line` starts with this prefix.
    pub fn matches(&self, line: &[u8]) -> bool {
        self.parse(line).is_some()
    }

    /// Matches the prefix at the start of `line`: its fields and where the rest starts.
    fn parse(&self, line: &[u8]) -> Option<(Fields, usize)> {
        let mut fields = Fields::default();
        let mut at = 0;
        let mut session_only: Option<(usize, Fields)> = None;
        for (item, next_literal) in self.items.iter().zip(&self.next_literals) {
            let matched = match_item(item, line, at, next_literal.as_deref(), &mut fields);
            match (matched, item) {
                (Some(len), Item::SessionOnly) => {
                    session_only = Some((at, fields));
                    at += len;
                }
                (Some(len), _) => at += len,
                (None, _) => {
                    let (end, saved) = session_only?;
                    return Some((saved, end));
                }
            }
        }
        Some((fields, at))
    }
}

/// Length of `item` at `line[at..]`, storing what it holds in `fields`.
fn match_item(item: &Item, line: &[u8], at: usize, next_literal: Option<&[u8]>, fields: &mut Fields) -> Option<usize> {
    let rest = &line[at..];
    let until_literal = |rest: &[u8]| -> usize {
        match next_literal {
            Some(lit) => memchr::memmem::find(rest, lit).unwrap_or(rest.len()),
            None => rest.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(rest.len()),
        }
    };
    let span = |start: usize, end: usize| -> Span { (end > start).then_some((at + start, at + end)) };
    match item {
        Item::Literal(lit) => rest.starts_with(lit).then_some(lit.len()),
        Item::SessionOnly => Some(0),
        Item::Time => {
            let (local, used) = time::iso(rest)?;
            let zone_start = used + 1;
            if rest.get(used) != Some(&b' ') {
                return None;
            }
            let zone_len = rest[zone_start..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'+' || *b == b'-' || *b == b':'))
                .unwrap_or(rest.len() - zone_start);
            // A zone never contains the next literal (`:` after `%t` in the RDS prefix).
            let zone_len = match next_literal {
                Some(lit) => memchr::memmem::find(&rest[zone_start..zone_start + zone_len], lit).unwrap_or(zone_len),
                None => zone_len,
            };
            let zone = std::str::from_utf8(&rest[zone_start..zone_start + zone_len]).ok()?;
            let offset = time::zone_offset_minutes(zone)?;
            fields.ts = Some(local - offset * 60_000_000);
            Some(zone_start + zone_len)
        }
        Item::Remote => {
            if rest.starts_with(b"[local]") {
                fields.remote_host = span(0, 7);
                return Some(7);
            }
            // `host(port)`; IPv6 hosts hold colons, so look for `(port)` before the next literal.
            if let Some((host_len, port, len)) = host_and_port(rest, next_literal) {
                fields.remote_host = span(0, host_len);
                fields.remote_port = Some(port);
                return Some(len);
            }
            let len = until_literal(rest);
            fields.remote_host = span(0, len);
            Some(len)
        }
        Item::Pid => {
            let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            fields.pid = Some(text(&rest[..len]).parse().ok()?);
            Some(len)
        }
        Item::Host | Item::User | Item::Database | Item::Application | Item::Other => {
            let len = until_literal(rest);
            let value = span(0, len);
            match item {
                Item::Host => fields.remote_host = value,
                Item::User => fields.user = value,
                Item::Database => fields.db = value,
                Item::Application => fields.application = value,
                _ => {}
            }
            Some(len)
        }
    }
}

/// `host(port)` at the start of `rest`, followed by `next_literal`: (host length, port, length).
fn host_and_port(rest: &[u8], next_literal: Option<&[u8]>) -> Option<(usize, i32, usize)> {
    let open = rest.iter().take(64).position(|&b| b == b'(')?;
    let host = &rest[..open];
    if !host.iter().all(|b| b.is_ascii_alphanumeric() || b".:-_%".contains(b)) {
        return None;
    }
    let close = open + 1 + rest[open + 1..].iter().take(6).position(|&b| b == b')')?;
    let port = time::digits(&rest[open + 1..close])? as i32;
    let end = close + 1;
    next_literal.is_none_or(|lit| rest[end..].starts_with(lit)).then_some((open, port, end))
}

/// Severities that start an entry.
const PRIMARY: [&str; 13] = [
    "LOG", "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "INFO", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4",
    "DEBUG5",
];

/// Lines that belong to the entry before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Part {
    #[default]
    Message,
    Detail,
    Hint,
    Context,
    Statement,
}

fn secondary(severity: &str) -> Option<Part> {
    match severity {
        "DETAIL" => Some(Part::Detail),
        "HINT" => Some(Part::Hint),
        "CONTEXT" => Some(Part::Context),
        "STATEMENT" | "QUERY" => Some(Part::Statement),
        "LOCATION" => Some(Part::Message),
        _ => None,
    }
}

/// A text column of an entry, kept between entries so its buffer is reused.
#[derive(Default)]
struct Slot {
    value: String,
    present: bool,
}

impl Slot {
    fn set(&mut self, line: &[u8], span: Span) {
        self.value.clear();
        self.present = span.is_some();
        if let Some((start, end)) = span {
            self.value.push_str(&text(&line[start..end]));
        }
    }

    /// The text to append to, now present.
    fn edit(&mut self) -> &mut String {
        self.present = true;
        &mut self.value
    }

    fn get(&self) -> Option<&str> {
        self.present.then_some(self.value.as_str())
    }

    fn clear(&mut self) {
        self.value.clear();
        self.present = false;
    }
}

/// The entry being read; `active` when it holds one.
#[derive(Default)]
struct Entry {
    active: bool,
    offset: u64,
    ts: Option<i64>,
    pid: Option<i32>,
    remote_port: Option<i32>,
    remote_host: Slot,
    user: Slot,
    db: Slot,
    application: Slot,
    severity: String,
    message: String,
    detail: Slot,
    hint: Slot,
    context: Slot,
    statement: Slot,
    last: Part,
}

impl Entry {
    fn part(&mut self, part: Part) -> &mut String {
        match part {
            Part::Message => &mut self.message,
            Part::Detail => self.detail.edit(),
            Part::Hint => self.hint.edit(),
            Part::Context => self.context.edit(),
            Part::Statement => self.statement.edit(),
        }
    }

    /// Starts an entry from its first line.
    fn start(&mut self, line: &[u8], offset: u64, fields: &Fields, severity: &str, body: &[u8]) {
        self.active = true;
        self.offset = offset;
        self.ts = fields.ts;
        self.pid = fields.pid;
        self.remote_port = fields.remote_port;
        self.remote_host.set(line, fields.remote_host);
        self.user.set(line, fields.user);
        self.db.set(line, fields.db);
        self.application.set(line, fields.application);
        self.severity.clear();
        self.severity.push_str(severity);
        self.message.clear();
        self.message.push_str(&text(body));
        for slot in [&mut self.detail, &mut self.hint, &mut self.context, &mut self.statement] {
            slot.clear();
        }
        self.last = Part::Message;
    }
}

struct Columns {
    remote_host: StringBuilder,
    remote_port: Int32Builder,
    user: StringBuilder,
    db: StringBuilder,
    pid: Int32Builder,
    application: StringBuilder,
    severity: StringBuilder,
    message: StringBuilder,
    duration: Float64Builder,
    protocol_step: StringBuilder,
    statement: StringBuilder,
    detail: StringBuilder,
    hint: StringBuilder,
    context: StringBuilder,
}

/// The PostgreSQL log parser.
pub struct PostgresLogParser {
    schema: SchemaRef,
    prefix: Prefix,
    common: Common,
    entry: Entry,
    columns: Columns,
}

impl PostgresLogParser {
    /// Rows of `source_file` written with `prefix`, in `schema` (the table's file schema).
    pub fn new(schema: SchemaRef, prefix: Prefix, source_file: &str, default_day: i32) -> PostgresLogParser {
        PostgresLogParser {
            schema,
            prefix,
            common: Common::new(source_file, default_day),
            entry: Entry::default(),
            columns: Columns {
                remote_host: StringBuilder::new(),
                remote_port: Int32Builder::new(),
                user: StringBuilder::new(),
                db: StringBuilder::new(),
                pid: Int32Builder::new(),
                application: StringBuilder::new(),
                severity: StringBuilder::new(),
                message: StringBuilder::new(),
                duration: Float64Builder::new(),
                protocol_step: StringBuilder::new(),
                statement: StringBuilder::new(),
                detail: StringBuilder::new(),
                hint: StringBuilder::new(),
                context: StringBuilder::new(),
            },
        }
    }

    fn emit(&mut self) {
        let entry = &mut self.entry;
        if !entry.active {
            return;
        }
        entry.active = false;
        let (duration, statement_in_message) = split_message(&entry.message);
        self.common.push(entry.ts, entry.offset);
        let c = &mut self.columns;
        c.remote_host.append_option(entry.remote_host.get());
        c.remote_port.append_option(entry.remote_port);
        c.user.append_option(entry.user.get());
        c.db.append_option(entry.db.get());
        c.pid.append_option(entry.pid);
        c.application.append_option(entry.application.get());
        c.severity.append_value(&entry.severity);
        c.message.append_value(&entry.message);
        c.duration.append_option(duration);
        c.protocol_step.append_option(protocol_step(&entry.message));
        c.statement.append_option(statement_in_message.or(entry.statement.get()));
        c.detail.append_option(entry.detail.get());
        c.hint.append_option(entry.hint.get());
        c.context.append_option(entry.context.get());
    }
}

/// The step of the protocol a message logs: `simple` for a simple-protocol `statement:`, and
/// `parse`, `bind` or `execute` for the extended protocol's; None for other messages. Counting
/// queries as pgBadger does is counting `simple` and `execute` entries with a duration.
pub fn protocol_step(message: &str) -> Option<&'static str> {
    let rest = match message.strip_prefix("duration: ") {
        Some(rest) => rest.split_once(" ms").map_or(message, |(_, rest)| rest.trim_start()),
        None => message,
    };
    [("statement: ", "simple"), ("execute ", "execute"), ("parse ", "parse"), ("bind ", "bind")]
        .into_iter()
        .find(|(start, _)| rest.starts_with(start) && (*start == "statement: " || rest.contains(": ")))
        .map(|(_, step)| step)
}

/// `duration: 3.668 ms  statement: SELECT 1` → (3.668, `SELECT 1`); `execute S_1: …`,
/// `parse …:`, `bind …:` and `statement:` messages without a duration give the statement only.
fn split_message(message: &str) -> (Option<f64>, Option<&str>) {
    let (duration, rest) = match message.strip_prefix("duration: ") {
        Some(rest) => match rest.split_once(" ms") {
            Some((number, rest)) => (number.trim().parse().ok(), rest.trim_start()),
            None => (None, message),
        },
        None => (None, message),
    };
    let statement = ["statement: ", "execute ", "parse ", "bind "]
        .iter()
        .find(|p| rest.starts_with(**p))
        .and_then(|p| if *p == "statement: " { Some(&rest[p.len()..]) } else { rest.split_once(": ").map(|(_, s)| s) });
    (duration, statement)
}

/// `SEVERITY:  rest` → (severity, rest).
fn severity(rest: &[u8]) -> Option<(&str, &[u8])> {
    let colon = rest.iter().take(12).position(|&b| b == b':')?;
    let severity = std::str::from_utf8(&rest[..colon]).ok()?;
    let mut body = &rest[colon + 1..];
    while let [b' ', tail @ ..] = body {
        body = tail;
    }
    Some((severity, body))
}

impl LogParser for PostgresLogParser {
    fn line(&mut self, raw: &[u8], offset: u64, number: u64) {
        if let Some(continued) = raw.strip_prefix(b"\t") {
            match self.entry.active {
                true => {
                    let last = self.entry.last;
                    let part = self.entry.part(last);
                    part.push('\n');
                    part.push_str(&text(continued));
                }
                false => self.common.reject(offset, number, "continuation line without a log entry before it", raw),
            }
            return;
        }
        let Some((fields, used)) = self.prefix.parse(raw) else {
            let reason = format!("line does not start with the log_line_prefix '{}'", self.prefix.text);
            self.common.reject(offset, number, reason, raw);
            return;
        };
        let Some((severity, body)) = severity(&raw[used..]) else {
            self.common.reject(offset, number, "no severity (LOG:, ERROR:, …) after the prefix", raw);
            return;
        };
        if PRIMARY.contains(&severity) {
            self.emit();
            self.entry.start(raw, offset, &fields, severity, body);
            return;
        }
        let Some(part) = secondary(severity) else {
            self.common.reject(offset, number, format!("unknown severity '{severity}'"), raw);
            return;
        };
        match &mut self.entry {
            entry if entry.active && entry.pid == fields.pid => {
                let value = entry.part(part);
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(&text(body));
                entry.last = part;
            }
            _ => self.common.reject(offset, number, format!("{severity} line without its message before it"), raw),
        }
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
            ("remote_host", Arc::new(c.remote_host.finish())),
            ("remote_port", Arc::new(c.remote_port.finish())),
            ("user", Arc::new(c.user.finish())),
            ("db", Arc::new(c.db.finish())),
            ("pid", Arc::new(c.pid.finish())),
            ("application_name", Arc::new(c.application.finish())),
            ("severity", Arc::new(c.severity.finish())),
            ("message", Arc::new(c.message.finish())),
            ("duration_ms", Arc::new(c.duration.finish())),
            ("protocol_step", Arc::new(c.protocol_step.finish())),
            ("statement", Arc::new(c.statement.finish())),
            ("detail", Arc::new(c.detail.finish())),
            ("hint", Arc::new(c.hint.finish())),
            ("context", Arc::new(c.context.finish())),
        ];
        self.common.take(&self.schema, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_steps() {
        let cases = [
            ("duration: 3.668 ms  statement: SELECT 1", Some("simple")),
            ("statement: SELECT 1", Some("simple")),
            ("duration: 0.021 ms  parse <unnamed>: SELECT $1", Some("parse")),
            ("duration: 0.031 ms  bind S_1: SELECT $1", Some("bind")),
            ("duration: 0.101 ms  execute S_1: SELECT $1", Some("execute")),
            ("execute <unnamed>: SELECT 2", Some("execute")),
            ("duration: 1.000 ms", None),
            ("connection authorized: user=app database=shop", None),
            ("parse error somewhere", None),
        ];
        for (message, step) in cases {
            assert_eq!(protocol_step(message), step, "{message}");
        }
    }

    /// The prefix fields of `line` with their text, and the rest of the line.
    struct Shown {
        ts: Option<i64>,
        remote_host: Option<String>,
        remote_port: Option<i32>,
        user: Option<String>,
        db: Option<String>,
        pid: Option<i32>,
        application: Option<String>,
    }

    fn fields(prefix: &str, line: &str) -> Option<(Shown, String)> {
        let prefix = Prefix::compile(prefix).unwrap();
        let (f, used) = prefix.parse(line.as_bytes())?;
        let text = |span: Span| span.map(|(start, end)| line[start..end].to_string());
        let shown = Shown {
            ts: f.ts,
            remote_host: text(f.remote_host),
            remote_port: f.remote_port,
            user: text(f.user),
            db: text(f.db),
            pid: f.pid,
            application: text(f.application),
        };
        Some((shown, line[used..].to_string()))
    }

    #[test]
    fn rds_prefix() {
        let (f, rest) = fields(RDS_PREFIX, "2018-08-22 16:00:04 UTC:10.0.0.1(48808):app@shop:[18762]:LOG:  x").unwrap();
        assert_eq!(f.remote_host.as_deref(), Some("10.0.0.1"));
        assert_eq!(f.remote_port, Some(48808));
        assert_eq!((f.user.as_deref(), f.db.as_deref(), f.pid), (Some("app"), Some("shop"), Some(18762)));
        assert_eq!(rest, "LOG:  x");
        let (f, _) = fields(RDS_PREFIX, "2026-11-22 02:36:06 UTC::@:[18373]:LOG:  starting").unwrap();
        assert_eq!((f.remote_host, f.user, f.db, f.pid), (None, None, None, Some(18373)));
        let (f, _) = fields(RDS_PREFIX, "2026-11-22 02:36:06 UTC:::1(5432):u@d:[7]:LOG:  x").unwrap();
        assert_eq!((f.remote_host.as_deref(), f.remote_port), (Some("::1"), Some(5432)));
        let (f, _) = fields(RDS_PREFIX, "2021-05-27 17:00:00 UTC:10.1.91.65:user@my_db:[24743]:LOG: d").unwrap();
        assert_eq!((f.remote_host.as_deref(), f.remote_port), (Some("10.1.91.65"), None));
    }

    #[test]
    fn other_prefixes_and_zones() {
        let (f, rest) = fields("%m [%p] ", "2019-10-21 12:03:31.311 MSK [5133] LOG:  duration: 0.007 ms").unwrap();
        let expected = chrono::DateTime::parse_from_rfc3339("2019-10-21T09:03:31.311Z").unwrap().timestamp_micros();
        assert_eq!((f.ts, f.pid, rest.as_str()), (Some(expected), Some(5133), "LOG:  duration: 0.007 ms"));
        let prefix = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";
        let line =
            "2017-09-06 08:41:41 UTC [36]: [121-1] user=postgres,db=postgres,app=pgbench,client=172.23.0.1 LOG:  x";
        let (f, rest) = fields(prefix, line).unwrap();
        assert_eq!(f.application.as_deref(), Some("pgbench"));
        assert_eq!(f.remote_host.as_deref(), Some("172.23.0.1"));
        assert_eq!(rest, "LOG:  x");
        assert!(fields(RDS_PREFIX, "2019-10-21 12:03:31.311 XYZ [5133] LOG:  x").is_none());
        assert!(Prefix::compile("%u@%d").is_err());
    }

    #[test]
    fn messages() {
        assert_eq!(split_message("duration: 3.5 ms  statement: SELECT 1"), (Some(3.5), Some("SELECT 1")));
        assert_eq!(split_message("duration: 0.2 ms  execute S_1: SELECT $1"), (Some(0.2), Some("SELECT $1")));
        assert_eq!(split_message("duration: 0.2 ms"), (Some(0.2), None));
        assert_eq!(split_message("connection received: host=[local]"), (None, None));
    }
}
