//! MySQL error logs: MySQL 8.0 / Aurora MySQL 3, MySQL 5.7 / Aurora MySQL 2, MariaDB, and the
//! older `YYMMDD HH:MM:SS` format.
//!
//! - 8.0: `2020-08-06T14:25:02.936146Z 0 [Warning] [MY-010068] [Server] message`
//! - 5.7: `2020-10-23T07:13:26.298081Z 34 [Note] message`
//! - MariaDB: `2026-11-22  2:36:02 0 [Note] message`
//! - 5.1–5.6: `080721  3:04:00 [Warning] message`, `080721 03:03:57  mysqld started`
//!
//! A line without a leading time continues the message before it (stack traces, status dumps).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use arrow::datatypes::SchemaRef;

use super::{Common, LogParser, Parsed, text, time};

struct Entry {
    offset: u64,
    ts: i64,
    thread_id: Option<i64>,
    severity: Option<String>,
    error_code: Option<String>,
    subsystem: Option<String>,
    message: String,
}

/// The error-log parser.
pub struct ErrorLogParser {
    schema: SchemaRef,
    common: Common,
    entry: Option<Entry>,
    thread_id: Int64Builder,
    severity: StringBuilder,
    error_code: StringBuilder,
    subsystem: StringBuilder,
    message: StringBuilder,
}

impl ErrorLogParser {
    /// Rows of `source_file` in `schema` (the table's file schema).
    pub fn new(schema: SchemaRef, source_file: &str, default_day: i32) -> ErrorLogParser {
        ErrorLogParser {
            schema,
            common: Common::new(source_file, default_day),
            entry: None,
            thread_id: Int64Builder::new(),
            severity: StringBuilder::new(),
            error_code: StringBuilder::new(),
            subsystem: StringBuilder::new(),
            message: StringBuilder::new(),
        }
    }

    fn emit(&mut self) {
        let Some(entry) = self.entry.take() else { return };
        self.common.push(Some(entry.ts), entry.offset);
        self.thread_id.append_option(entry.thread_id);
        self.severity.append_option(entry.severity);
        self.error_code.append_option(entry.error_code);
        self.subsystem.append_option(entry.subsystem);
        self.message.append_value(entry.message.trim_end());
    }
}

/// A bracketed word at the start of `rest` (`[Note] …`): (word, what follows it).
fn bracketed(rest: &str) -> Option<(&str, &str)> {
    let inner = rest.strip_prefix('[')?;
    let close = inner.find(']')?;
    let word = &inner[..close];
    (!word.is_empty() && !word.contains(' ')).then(|| (word, inner[close + 1..].trim_start_matches(' ')))
}

/// Reads an entry's first line; `None` when the line does not start with a time.
fn first_line(line: &str, offset: u64) -> Option<Entry> {
    let bytes = line.as_bytes();
    let (ts, used) = time::iso(bytes).or_else(|| time::yymmdd(bytes))?;
    let mut rest = line[used..].trim_start_matches(' ');
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let mut thread_id = None;
    if digits > 0 && rest[digits..].starts_with(' ') {
        thread_id = rest[..digits].parse().ok();
        rest = rest[digits..].trim_start_matches(' ');
    }
    let mut entry =
        Entry { offset, ts, thread_id, severity: None, error_code: None, subsystem: None, message: String::new() };
    if let Some((label, after)) = bracketed(rest) {
        entry.severity = Some(label.to_string());
        rest = after;
        if let Some((code, after)) = bracketed(rest).filter(|(code, _)| code.starts_with("MY-")) {
            entry.error_code = Some(code.to_string());
            rest = after;
            if let Some((subsystem, after)) = bracketed(rest) {
                entry.subsystem = Some(subsystem.to_string());
                rest = after;
            }
        }
    }
    entry.message = rest.to_string();
    Some(entry)
}

impl LogParser for ErrorLogParser {
    fn line(&mut self, raw: &[u8], offset: u64, number: u64) {
        let line = text(raw);
        if let Some(entry) = first_line(&line, offset) {
            self.emit();
            self.entry = Some(entry);
            return;
        }
        let reason = "line without a time and no entry before it to continue";
        let message = self.entry.as_mut().map(|e| &mut e.message);
        self.common.continue_entry(message, &line, (offset, number), reason, raw);
    }

    fn finish(&mut self) {
        self.emit();
    }

    fn buffered(&self) -> usize {
        self.common.rows()
    }

    fn take(&mut self) -> Parsed {
        let columns: Vec<(&'static str, ArrayRef)> = vec![
            ("thread_id", Arc::new(self.thread_id.finish())),
            ("severity", Arc::new(self.severity.finish())),
            ("error_code", Arc::new(self.error_code.finish())),
            ("subsystem", Arc::new(self.subsystem.finish())),
            ("message", Arc::new(self.message.finish())),
        ];
        self.common.take(&self.schema, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let e = first_line("2020-08-06T14:25:02.936146Z 0 [Warning] [MY-010068] [Server] CA certificate", 0).unwrap();
        assert_eq!((e.thread_id, e.severity.as_deref()), (Some(0), Some("Warning")));
        assert_eq!((e.error_code.as_deref(), e.subsystem.as_deref()), (Some("MY-010068"), Some("Server")));
        assert_eq!(e.message, "CA certificate");
        let e = first_line("2026-11-22  2:36:02 0 [Note] InnoDB: Using io_uring", 0).unwrap();
        assert_eq!(
            (e.severity.as_deref(), e.error_code, e.message.as_str()),
            (Some("Note"), None, "InnoDB: Using io_uring")
        );
        let e = first_line("080721 03:03:57  mysqld started", 0).unwrap();
        assert_eq!((e.thread_id, e.severity, e.message.as_str()), (None, None, "mysqld started"));
        assert!(first_line("Version: '5.0.58'  socket: ''", 0).is_none());
    }
}
