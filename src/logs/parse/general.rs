//! The MySQL general query log: one entry per command a client sent.
//!
//! - MySQL 5.7+ / Aurora: `2016-06-07T19:07:02.558338Z    3 Query\tSELECT 1`
//! - MariaDB and MySQL ≤ 5.6: `261122  2:36:02\t     3 Connect\troot@localhost on`, and the
//!   next commands of the same second without the time: `\t\t     3 Query\tSELECT 1`
//!   (older servers separate the command from its argument with spaces, not a tab).
//!
//! Lines that start no command continue the argument before them (multi-line statements).
//! The start-up banner is skipped.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, StringBuilder};
use arrow::datatypes::SchemaRef;

use super::slow::is_banner;
use super::{Common, LogParser, Parsed, text, time};

/// Commands the server logs (`COM_*` names as the general log prints them).
const COMMANDS: [&str; 33] = [
    "Query",
    "Connect",
    "Quit",
    "Init DB",
    "Prepare",
    "Execute",
    "Close stmt",
    "Reset stmt",
    "Long Data",
    "Fetch",
    "Field List",
    "Create DB",
    "Drop DB",
    "Refresh",
    "Shutdown",
    "Statistics",
    "Processlist",
    "Kill",
    "Debug",
    "Ping",
    "Time",
    "Delayed insert",
    "Change user",
    "Binlog Dump",
    "Binlog Dump GTID",
    "Table Dump",
    "Connect Out",
    "Register Slave",
    "Set option",
    "Daemon",
    "Reset connection",
    "Error",
    "Sleep",
];

struct Entry {
    offset: u64,
    ts: Option<i64>,
    thread_id: i64,
    command: String,
    argument: String,
}

/// The general-log parser.
pub struct GeneralLogParser {
    schema: SchemaRef,
    common: Common,
    entry: Option<Entry>,
    /// The last time printed: MariaDB leaves it out while it is unchanged.
    last_ts: Option<i64>,
    thread_id: Int64Builder,
    command: StringBuilder,
    argument: StringBuilder,
}

impl GeneralLogParser {
    /// Rows of `source_file` in `schema` (the table's file schema).
    pub fn new(schema: SchemaRef, source_file: &str, default_day: i32) -> GeneralLogParser {
        GeneralLogParser {
            schema,
            common: Common::new(source_file, default_day),
            entry: None,
            last_ts: None,
            thread_id: Int64Builder::new(),
            command: StringBuilder::new(),
            argument: StringBuilder::new(),
        }
    }

    fn emit(&mut self) {
        let Some(entry) = self.entry.take() else { return };
        self.common.push(entry.ts, entry.offset);
        self.thread_id.append_value(entry.thread_id);
        self.command.append_value(&entry.command);
        self.argument.append_value(entry.argument.trim_end());
    }

    /// Reads a command line: `[time] id Command[\t| ]argument`.
    fn command_line(&mut self, line: &str, offset: u64) -> Option<Entry> {
        let bytes = line.as_bytes();
        let (ts, rest) = match time::iso(bytes).or_else(|| time::yymmdd(bytes)) {
            Some((ts, used)) => (Some(ts), &line[used..]),
            None if line.starts_with([' ', '\t']) => (None, line),
            None => return None,
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !rest[digits..].starts_with(' ') {
            return None;
        }
        let thread_id = rest[..digits].parse().ok()?;
        let rest = &rest[digits + 1..];
        let (command, argument) = match rest.split_once('\t') {
            Some((command, argument)) if COMMANDS.contains(&command.trim_end()) => (command.trim_end(), argument),
            _ => {
                let command = COMMANDS.iter().filter(|c| rest.starts_with(**c)).max_by_key(|c| c.len())?;
                let after = &rest[command.len()..];
                if !(after.is_empty() || after.starts_with([' ', '\t'])) {
                    return None;
                }
                (*command, after.trim_start_matches([' ', '\t']))
            }
        };
        if ts.is_some() {
            self.last_ts = ts;
        }
        Some(Entry {
            offset,
            ts: ts.or(self.last_ts),
            thread_id,
            command: command.to_string(),
            argument: argument.to_string(),
        })
    }
}

impl LogParser for GeneralLogParser {
    fn line(&mut self, raw: &[u8], offset: u64, number: u64) {
        let line = text(raw);
        if is_banner(&line) {
            self.emit();
            return;
        }
        if let Some(entry) = self.command_line(&line, offset) {
            self.emit();
            self.entry = Some(entry);
            return;
        }
        let reason = "line is not a command and no command before it to continue";
        let argument = self.entry.as_mut().map(|e| &mut e.argument);
        self.common.continue_entry(argument, &line, (offset, number), reason, raw);
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
            ("command", Arc::new(self.command.finish())),
            ("argument", Arc::new(self.argument.finish())),
        ];
        self.common.take(&self.schema, columns)
    }
}
