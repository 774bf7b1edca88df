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
}

/// The prefix fields of one line.
#[derive(Debug, Default, Clone, PartialEq)]
struct Fields {
    ts: Option<i64>,
    remote_host: Option<String>,
    remote_port: Option<i32>,
    user: Option<String>,
    db: Option<String>,
    pid: Option<i32>,
    application: Option<String>,
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
        Ok(Prefix { text: prefix.to_string(), items })
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
        for (index, item) in self.items.iter().enumerate() {
            let next_literal = self.items[index + 1..].iter().find_map(|i| match i {
                Item::Literal(l) => Some(l.as_slice()),
                _ => None,
            });
            let matched = match_item(item, &line[at..], next_literal, &mut fields);
            match (matched, item) {
                (Some(len), Item::SessionOnly) => {
                    session_only = Some((at, fields.clone()));
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

/// Length of `item` at the start of `rest`, storing what it holds in `fields`.
fn match_item(item: &Item, rest: &[u8], next_literal: Option<&[u8]>, fields: &mut Fields) -> Option<usize> {
    let until_literal = |rest: &[u8]| -> usize {
        match next_literal {
            Some(lit) => memchr::memmem::find(rest, lit).unwrap_or(rest.len()),
            None => rest.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(rest.len()),
        }
    };
    let owned = |bytes: &[u8]| -> Option<String> { (!bytes.is_empty()).then(|| text(bytes).into_owned()) };
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
                fields.remote_host = Some("[local]".into());
                return Some(7);
            }
            // `host(port)`; IPv6 hosts hold colons, so look for `(port)` before the next literal.
            if let Some((host, port, len)) = host_and_port(rest, next_literal) {
                fields.remote_host = owned(host);
                fields.remote_port = Some(port);
                return Some(len);
            }
            let len = until_literal(rest);
            fields.remote_host = owned(&rest[..len]);
            Some(len)
        }
        Item::Pid => {
            let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            fields.pid = Some(text(&rest[..len]).parse().ok()?);
            Some(len)
        }
        Item::Host | Item::User | Item::Database | Item::Application | Item::Other => {
            let len = until_literal(rest);
            let value = owned(&rest[..len]);
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

/// `host(port)` at the start of `rest`, followed by `next_literal`: (host, port, length).
fn host_and_port<'a>(rest: &'a [u8], next_literal: Option<&[u8]>) -> Option<(&'a [u8], i32, usize)> {
    let open = rest.iter().take(64).position(|&b| b == b'(')?;
    let host = &rest[..open];
    if !host.iter().all(|b| b.is_ascii_alphanumeric() || b".:-_%".contains(b)) {
        return None;
    }
    let close = open + 1 + rest[open + 1..].iter().take(6).position(|&b| b == b')')?;
    let port = time::digits(&rest[open + 1..close])? as i32;
    let end = close + 1;
    next_literal.is_none_or(|lit| rest[end..].starts_with(lit)).then_some((host, port, end))
}

/// Severities that start an entry.
const PRIMARY: [&str; 13] = [
    "LOG", "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "INFO", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4",
    "DEBUG5",
];

/// Lines that belong to the entry before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
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

#[derive(Default)]
struct Entry {
    offset: u64,
    fields: Fields,
    severity: String,
    message: String,
    detail: Option<String>,
    hint: Option<String>,
    context: Option<String>,
    statement: Option<String>,
    last: Option<Part>,
}

impl Entry {
    fn part(&mut self, part: Part) -> &mut String {
        match part {
            Part::Message => &mut self.message,
            Part::Detail => self.detail.get_or_insert_with(String::new),
            Part::Hint => self.hint.get_or_insert_with(String::new),
            Part::Context => self.context.get_or_insert_with(String::new),
            Part::Statement => self.statement.get_or_insert_with(String::new),
        }
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
    entry: Option<Entry>,
    columns: Columns,
}

impl PostgresLogParser {
    /// Rows of `source_file` written with `prefix`, in `schema` (the table's file schema).
    pub fn new(schema: SchemaRef, prefix: Prefix, source_file: &str, default_day: i32) -> PostgresLogParser {
        PostgresLogParser {
            schema,
            prefix,
            common: Common::new(source_file, default_day),
            entry: None,
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
                statement: StringBuilder::new(),
                detail: StringBuilder::new(),
                hint: StringBuilder::new(),
                context: StringBuilder::new(),
            },
        }
    }

    fn emit(&mut self) {
        let Some(entry) = self.entry.take() else { return };
        let (duration, statement_in_message) = split_message(&entry.message);
        self.common.push(entry.fields.ts, entry.offset);
        let c = &mut self.columns;
        c.remote_host.append_option(entry.fields.remote_host);
        c.remote_port.append_option(entry.fields.remote_port);
        c.user.append_option(entry.fields.user);
        c.db.append_option(entry.fields.db);
        c.pid.append_option(entry.fields.pid);
        c.application.append_option(entry.fields.application);
        c.severity.append_value(&entry.severity);
        c.message.append_value(&entry.message);
        c.duration.append_option(duration);
        c.statement.append_option(statement_in_message.or(entry.statement.as_deref()));
        c.detail.append_option(entry.detail);
        c.hint.append_option(entry.hint);
        c.context.append_option(entry.context);
    }
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
            match self.entry.as_mut() {
                Some(entry) => {
                    let part = entry.part(entry.last.unwrap_or(Part::Message));
                    part.push('\n');
                    part.push_str(&text(continued));
                }
                None => self.common.reject(offset, number, "continuation line without a log entry before it", raw),
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
            self.entry = Some(Entry {
                offset,
                fields,
                severity: severity.to_string(),
                message: text(body).into_owned(),
                last: Some(Part::Message),
                ..Entry::default()
            });
            return;
        }
        let Some(part) = secondary(severity) else {
            self.common.reject(offset, number, format!("unknown severity '{severity}'"), raw);
            return;
        };
        match self.entry.as_mut() {
            Some(entry) if entry.fields.pid == fields.pid => {
                let value = entry.part(part);
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(&text(body));
                entry.last = Some(part);
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

    fn fields(prefix: &str, line: &str) -> Option<(Fields, String)> {
        let prefix = Prefix::compile(prefix).unwrap();
        prefix.parse(line.as_bytes()).map(|(f, used)| (f, line[used..].to_string()))
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
