//! Streaming log parsers: complete lines in, Arrow rows out, memory bounded by one entry.
//!
//! Every kind of log has one parser implementing [`LogParser`]. The reader feeds complete lines
//! (without the newline) with their byte offset and line number; a parser joins the lines of a
//! multi-line entry (a slow-log statement, a PostgreSQL `STATEMENT:` line, an error-log stack)
//! and appends one row per entry to its column builders. A line that belongs to no entry or
//! cannot be read becomes a [`ParseReject`] with the reason. The caller takes the buffered rows
//! as a [`Parsed`] batch whenever it likes, so memory holds one batch, whatever the file size.

pub mod audit;
pub mod general;
pub mod mysql_error;
pub mod postgres;
pub mod slow;
pub mod time;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Builder, RecordBatch, StringArray, TimestampMicrosecondBuilder};
use arrow::datatypes::SchemaRef;

/// A line that could not be turned into (part of) an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseReject {
    /// Byte offset of the line in its file.
    pub offset: u64,
    /// 1-based line number.
    pub line: u64,
    /// Why, naming what was expected.
    pub reason: String,
    /// The line as text (invalid UTF-8 replaced).
    pub text: String,
}

/// Rows taken from a parser.
#[derive(Debug)]
pub struct Parsed {
    /// The rows in the table's file-schema order.
    pub batch: RecordBatch,
    /// Each row's UTC day (days since the epoch): its partition.
    pub days: Vec<i32>,
    /// Lines rejected since the last take.
    pub rejects: Vec<ParseReject>,
}

/// A streaming parser for one log kind.
pub trait LogParser: Send {
    /// Feeds one complete line without its line terminator.
    fn line(&mut self, line: &[u8], offset: u64, number: u64);
    /// Ends the input: the pending entry, if any, is complete.
    fn finish(&mut self);
    /// Rows buffered and not yet taken.
    fn buffered(&self) -> usize;
    /// Takes the buffered rows and rejects.
    fn take(&mut self) -> Parsed;
}

/// Text of a log line: UTF-8 as is, anything else with invalid bytes replaced. The strict check
/// first: it is much faster than the lossy conversion on the valid lines that are the rule.
pub fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Cuts the pieces of a file, as they are read, into complete lines for a parser. Lines are
/// fed straight from each piece; only an unfinished last line is copied, and kept (the carry)
/// until its newline arrives.
#[derive(Debug, Default)]
pub struct LineFeeder {
    carry: Vec<u8>,
    /// File offset of `carry[0]` (of the next byte when the carry is empty).
    base: u64,
    lines: u64,
}

impl LineFeeder {
    /// Continues a file: `carry` read earlier starts at file offset `base`, after `lines` lines.
    pub fn new(carry: Vec<u8>, base: u64, lines: u64) -> LineFeeder {
        LineFeeder { carry, base, lines }
    }

    /// Feeds the complete lines `piece` finishes or holds to `parser`.
    pub fn push(&mut self, piece: &[u8], parser: &mut dyn LogParser) {
        let mut rest = piece;
        let mut at = self.base + self.carry.len() as u64;
        if !self.carry.is_empty() {
            let Some(newline) = memchr::memchr(b'\n', rest) else {
                self.carry.extend_from_slice(rest);
                return;
            };
            self.carry.extend_from_slice(&rest[..newline]);
            self.lines += 1;
            let line = self.carry.strip_suffix(b"\r").unwrap_or(&self.carry);
            parser.line(line, self.base, self.lines);
            self.carry.clear();
            rest = &rest[newline + 1..];
            at += newline as u64 + 1;
        }
        let complete = memchr::memrchr(b'\n', rest).map_or(0, |last| last + 1);
        for (start, line) in complete_lines(&rest[..complete]) {
            self.lines += 1;
            parser.line(line, at + start as u64, self.lines);
        }
        self.carry.extend_from_slice(&rest[complete..]);
        self.base = at + complete as u64;
    }

    /// The unfinished last line so far.
    pub fn carry(&self) -> &[u8] {
        &self.carry
    }

    /// File offset of the unfinished last line.
    pub fn carry_offset(&self) -> u64 {
        self.base
    }

    /// Lines fed so far (with those before [`LineFeeder::new`]).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Gives up on the unfinished line (too long to keep), counting it as a line; returns it.
    pub fn drop_carry(&mut self) -> Vec<u8> {
        let dropped = std::mem::take(&mut self.carry);
        self.base += dropped.len() as u64;
        self.lines += 1;
        dropped
    }

    /// Feeds the unfinished last line as a line: the file has ended without a newline.
    pub fn finish(&mut self, parser: &mut dyn LogParser) {
        if !self.carry.is_empty() {
            let offset = self.base;
            let line = self.drop_carry();
            parser.line(&line, offset, self.lines);
        }
    }
}

/// Columns every log table has: `ts`, `source_file`, `byte_offset`, and each row's partition day.
pub(crate) struct Common {
    source_file: String,
    default_day: i32,
    ts: TimestampMicrosecondBuilder,
    offsets: Int64Builder,
    days: Vec<i32>,
    rejects: Vec<ParseReject>,
}

impl Common {
    /// For rows of `source_file`; a row without a time is filed under `default_day`.
    pub(crate) fn new(source_file: &str, default_day: i32) -> Common {
        Common {
            source_file: source_file.to_string(),
            default_day,
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            offsets: Int64Builder::new(),
            days: Vec::new(),
            rejects: Vec::new(),
        }
    }

    /// Starts a row: its time and the offset of its first line.
    pub(crate) fn push(&mut self, ts: Option<i64>, offset: u64) {
        self.ts.append_option(ts);
        self.offsets.append_value(offset as i64);
        self.days.push(ts.map_or(self.default_day, time::day_of));
    }

    pub(crate) fn rows(&self) -> usize {
        self.days.len()
    }

    /// Appends a line without an entry start to the open entry's `text`; with no entry open,
    /// a blank line is skipped and anything else rejected for `reason`.
    pub(crate) fn continue_entry(
        &mut self,
        text: Option<&mut String>,
        line: &str,
        (offset, number): (u64, u64),
        reason: &str,
        raw: &[u8],
    ) {
        match text {
            Some(text) => {
                text.push('\n');
                text.push_str(line);
            }
            None if line.trim().is_empty() => {}
            None => self.reject(offset, number, reason, raw),
        }
    }

    pub(crate) fn reject(&mut self, offset: u64, line: u64, reason: impl Into<String>, bytes: &[u8]) {
        self.rejects.push(ParseReject { offset, line, reason: reason.into(), text: text(bytes).into_owned() });
    }

    /// Assembles a batch in `schema`'s order from `ts`, the parser's `columns` and the lineage
    /// columns. The parsers and the catalog describe the same columns; a mismatch is a bug.
    pub(crate) fn take(&mut self, schema: &SchemaRef, columns: Vec<(&'static str, ArrayRef)>) -> Parsed {
        let rows = self.days.len();
        let mut named = columns;
        named.push(("ts", Arc::new(self.ts.finish())));
        named.push(("byte_offset", Arc::new(self.offsets.finish())));
        named.push(("source_file", Arc::new(StringArray::from(vec![self.source_file.as_str(); rows]))));
        let arrays = schema
            .fields()
            .iter()
            .map(|field| {
                let (_, array) = named
                    .iter()
                    .find(|(name, _)| *name == field.name())
                    .unwrap_or_else(|| panic!("log parser has no column {}", field.name()));
                match array.data_type() == field.data_type() {
                    true => array.clone(),
                    false => {
                        arrow::compute::cast(array, field.data_type()).expect("log column casts to its table type")
                    }
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays).expect("log columns match the table schema");
        Parsed { batch, days: std::mem::take(&mut self.days), rejects: std::mem::take(&mut self.rejects) }
    }
}

/// Splits `data` into lines: (start index, line without `\n` or `\r\n`). A last line without a
/// newline is not returned; the caller keeps it for when the rest arrives.
pub fn complete_lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', data).map(move |end| {
        let line_start = start;
        start = end + 1;
        let line = &data[line_start..end];
        (line_start, line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// Parses `Key: value` pairs separated by whitespace, as in slow-log header lines
/// (`Query_time: 0.1  Lock_time: 0.0 Rows_sent: 1`). A key followed by another key has an
/// empty value (`Schema:   QC_hit: No`). Calls `found(key, value)` for each pair.
pub(crate) fn key_values<'a>(line: &'a str, mut found: impl FnMut(&'a str, &'a str)) {
    let mut tokens = line.split_ascii_whitespace().peekable();
    while let Some(token) = tokens.next() {
        let Some(key) = token.strip_suffix(':') else { continue };
        match tokens.peek() {
            Some(next) if !next.ends_with(':') => {
                found(key, next);
                tokens.next();
            }
            _ => found(key, ""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is fed.
    #[derive(Default)]
    struct Recorder(Vec<(String, u64, u64)>);

    impl LogParser for Recorder {
        fn line(&mut self, line: &[u8], offset: u64, number: u64) {
            self.0.push((String::from_utf8(line.to_vec()).unwrap(), offset, number));
        }
        fn finish(&mut self) {}
        fn buffered(&self) -> usize {
            0
        }
        fn take(&mut self) -> Parsed {
            unreachable!()
        }
    }

    #[test]
    fn feeder_joins_lines_across_pieces() {
        let mut feeder = LineFeeder::new(b"ab".to_vec(), 10, 4);
        let mut parser = Recorder::default();
        for piece in [&b"c\nd"[..], b"e", b"\r\nf\ng", b"h"] {
            feeder.push(piece, &mut parser);
        }
        assert_eq!(parser.0, vec![("abc".into(), 10, 5), ("de".into(), 14, 6), ("f".into(), 18, 7)]);
        assert_eq!((feeder.carry(), feeder.carry_offset(), feeder.lines()), (&b"gh"[..], 20, 7));
        feeder.finish(&mut parser);
        assert_eq!(parser.0.last().unwrap(), &("gh".into(), 20, 8));
    }

    #[test]
    fn lines_keep_an_incomplete_tail() {
        let lines: Vec<_> = complete_lines(b"a\r\nbc\n\nd").collect();
        assert_eq!(lines, vec![(0, &b"a"[..]), (3, &b"bc"[..]), (6, &b""[..])]);
    }

    #[test]
    fn header_pairs() {
        let mut pairs = Vec::new();
        key_values("Thread_id: 3  Schema:   QC_hit: No", |k, v| pairs.push((k, v)));
        assert_eq!(pairs, vec![("Thread_id", "3"), ("Schema", ""), ("QC_hit", "No")]);
    }
}
