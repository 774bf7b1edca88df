//! Audit logs: the Aurora MySQL advanced audit log and MariaDB's server_audit plugin.
//!
//! `timestamp,serverhost,username,host,connectionid,queryid,operation,database,object,retcode`
//! with the time as epoch microseconds (Aurora) or `YYYYMMDD HH:MM:SS` (MariaDB). The object is
//! single-quoted with backslash escapes (`'CREATE USER \'app\'@\'localhost\''`), which plain CSV
//! readers get wrong; table events leave it unquoted and the return code empty. A quoted object
//! may span lines.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::SchemaRef;

use super::{Common, LogParser, Parsed, text, time};

/// An event's text may span lines, up to this size; beyond it the event is rejected.
const MAX_EVENT_BYTES: usize = 64 << 20;

/// The audit-log parser.
pub struct AuditLogParser {
    schema: SchemaRef,
    common: Common,
    /// An event whose quoted object is still open: (offset, line number, text so far).
    pending: Option<(u64, u64, String)>,
    server_host: StringBuilder,
    user: StringBuilder,
    host: StringBuilder,
    connection_id: Int64Builder,
    query_id: Int64Builder,
    operation: StringBuilder,
    db: StringBuilder,
    object: StringBuilder,
    retcode: Int32Builder,
}

/// One event's fields.
#[derive(Debug, PartialEq)]
struct Event<'a> {
    ts: i64,
    fields: [&'a str; 6],
    db: &'a str,
    object: String,
    retcode: Option<i32>,
}

enum Read<'a> {
    Event(Event<'a>),
    /// The quoted object is not closed yet.
    Open,
    Bad(String),
}

fn timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.iter().all(u8::is_ascii_digit) && bytes.len() >= 13 {
        return text.parse().ok();
    }
    time::yyyymmdd(bytes).filter(|(_, used)| *used == bytes.len()).map(|(ts, _)| ts)
}

/// Reads `object,retcode` where the object may be quoted; returns (object, retcode text).
fn object_and_retcode(rest: &str) -> Result<Option<(String, &str)>, String> {
    let Some(quoted) = rest.strip_prefix('\'') else {
        let (object, retcode) = rest.rsplit_once(',').ok_or("no return code field")?;
        return Ok(Some((object.to_string(), retcode)));
    };
    let mut object = String::with_capacity(quoted.len());
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => object.push('\n'),
                Some((_, 'r')) => object.push('\r'),
                Some((_, 't')) => object.push('\t'),
                Some((_, '0')) => object.push('\0'),
                Some((_, other)) => object.push(other),
                None => return Ok(None),
            },
            '\'' => {
                let after = &quoted[i + 1..];
                let retcode = after.strip_prefix(',').ok_or("text after the quoted object is not ,retcode")?;
                return Ok(Some((object, retcode)));
            }
            other => object.push(other),
        }
    }
    Ok(None)
}

fn read(line: &str) -> Read<'_> {
    let mut parts = line.splitn(9, ',');
    let mut next = || parts.next();
    let (Some(ts), Some(server), Some(user), Some(host), Some(conn), Some(query), Some(op), Some(db), Some(rest)) =
        (next(), next(), next(), next(), next(), next(), next(), next(), next())
    else {
        return Read::Bad("fewer than 10 comma-separated fields".into());
    };
    let Some(ts) = timestamp(ts) else {
        return Read::Bad(format!("'{ts}' is not an audit timestamp (epoch microseconds or YYYYMMDD HH:MM:SS)"));
    };
    match object_and_retcode(rest) {
        Ok(Some((object, retcode))) => {
            let retcode = match retcode.trim() {
                "" => None,
                number => match number.parse() {
                    Ok(n) => Some(n),
                    Err(_) => return Read::Bad(format!("return code '{number}' is not a number")),
                },
            };
            Read::Event(Event { ts, fields: [server, user, host, conn, query, op], db, object, retcode })
        }
        Ok(None) => Read::Open,
        Err(reason) => Read::Bad(reason.to_string()),
    }
}

/// Whether `line` reads as an audit event.
pub fn looks_like_event(line: &str) -> bool {
    matches!(read(line), Read::Event(_) | Read::Open)
}

impl AuditLogParser {
    /// Rows of `source_file` in `schema` (the table's file schema).
    pub fn new(schema: SchemaRef, source_file: &str, default_day: i32) -> AuditLogParser {
        AuditLogParser {
            schema,
            common: Common::new(source_file, default_day),
            pending: None,
            server_host: StringBuilder::new(),
            user: StringBuilder::new(),
            host: StringBuilder::new(),
            connection_id: Int64Builder::new(),
            query_id: Int64Builder::new(),
            operation: StringBuilder::new(),
            db: StringBuilder::new(),
            object: StringBuilder::new(),
            retcode: Int32Builder::new(),
        }
    }

    fn event(&mut self, text: &str, offset: u64, number: u64) {
        match read(text) {
            Read::Event(event) => {
                let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
                let [server, user, host, conn, query, op] = event.fields;
                self.common.push(Some(event.ts), offset);
                self.server_host.append_option(non_empty(server));
                self.user.append_option(non_empty(user));
                self.host.append_option(non_empty(host));
                self.connection_id.append_option(conn.parse().ok());
                self.query_id.append_option(query.parse().ok());
                self.operation.append_value(op);
                self.db.append_option(non_empty(event.db));
                self.object.append_option(non_empty(&event.object));
                self.retcode.append_option(event.retcode);
            }
            Read::Open if text.len() < MAX_EVENT_BYTES => self.pending = Some((offset, number, text.to_string())),
            Read::Open => self.common.reject(offset, number, "quoted object never closed", text.as_bytes()),
            Read::Bad(reason) => self.common.reject(offset, number, reason, text.as_bytes()),
        }
    }
}

impl LogParser for AuditLogParser {
    fn line(&mut self, raw: &[u8], offset: u64, number: u64) {
        let line = text(raw);
        match self.pending.take() {
            // A line that is a whole event by itself starts one: the quote left open before it
            // was a cut line, not a query spanning lines, and must not swallow the events after it.
            Some((start, first, so_far)) if matches!(read(&line), Read::Event(_)) => {
                self.common.reject(start, first, "quoted object not closed before the next event", so_far.as_bytes());
                self.event(&line, offset, number);
            }
            Some((start, first, mut so_far)) => {
                so_far.push('\n');
                so_far.push_str(&line);
                self.event(&so_far, start, first);
            }
            None if line.is_empty() => {}
            None => self.event(&line, offset, number),
        }
    }

    fn finish(&mut self) {
        if let Some((offset, number, text)) = self.pending.take() {
            self.common.reject(offset, number, "quoted object not closed at the end of the file", text.as_bytes());
        }
    }

    fn buffered(&self) -> usize {
        self.common.rows()
    }

    fn take(&mut self) -> Parsed {
        let columns: Vec<(&'static str, ArrayRef)> = vec![
            ("server_host", Arc::new(self.server_host.finish())),
            ("user", Arc::new(self.user.finish())),
            ("host", Arc::new(self.host.finish())),
            ("connection_id", Arc::new(self.connection_id.finish())),
            ("query_id", Arc::new(self.query_id.finish())),
            ("operation", Arc::new(self.operation.finish())),
            ("db", Arc::new(self.db.finish())),
            ("object", Arc::new(self.object.finish())),
            ("retcode", Arc::new(self.retcode.finish())),
        ];
        self.common.take(&self.schema, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_objects_and_table_events() {
        let Read::Event(e) =
            read(r"20261122 02:36:02,vm,root,localhost,3,2,QUERY,mysql,'CREATE USER \'app\'@\'localhost\', x',0")
        else {
            panic!()
        };
        assert_eq!(e.object, "CREATE USER 'app'@'localhost', x");
        assert_eq!((e.db, e.retcode), ("mysql", Some(0)));
        let Read::Event(e) = read("20261122 02:36:02,vm,root,localhost,3,2,WRITE,mysql,db,") else { panic!() };
        assert_eq!((e.object.as_str(), e.retcode), ("db", None));
        let Read::Event(e) = read("1583427613282913,ip-10-0-0-1,rdsadmin,localhost,26,0,CONNECT,,,0") else { panic!() };
        assert_eq!(e.ts, 1583427613282913);
        assert!(matches!(read("20261122 02:36:02,vm,root,localhost,3,2,QUERY,shop,'SELECT 1"), Read::Open));
        assert!(matches!(read("garbage"), Read::Bad(_)));
    }
}
