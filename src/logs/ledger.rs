//! The ingest ledger: per instance and file, how far glaux has read and what it found there.
//!
//! The ledger of a log table is the table property [`LEDGER_PROPERTY`], so it is published by the
//! same commit as the rows it covers: a run that dies before its commit leaves the ledger where
//! the data is, and the next run reads the same bytes again — no gap, no duplicate. Each file
//! belongs to one table (its kind), so each file's entry lives in exactly one ledger.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Table property holding a log table's [`Ledger`].
pub const LEDGER_PROPERTY: &str = "glaux.aurora.ledger";

/// Bytes hashed to recognise a file again after it was renamed or replaced.
pub const HEAD_BYTES: usize = 1024;

/// What has been ingested from one file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileEntry {
    /// Bytes of the file read so far (parsed lines plus [`FileEntry::carry`]).
    pub offset: u64,
    /// RDS marker to resume DownloadDBLogFilePortion from (opaque; `None` for local files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// Bytes after the last complete line, read but not parsed yet, hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub carry: String,
    /// The last bytes read (RDS), hex: a page that repeats them is recognised on resume.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tail: String,
    /// Complete lines parsed so far (to number the lines of rejects).
    pub lines: u64,
    /// Size of the file when it was last read.
    pub size: u64,
    /// When the file was last written, epoch milliseconds, as the source listed it.
    pub last_written: i64,
    /// SHA-256 of the file's first [`HEAD_BYTES`] bytes (fewer if it was shorter), hex.
    pub head_hash: String,
    /// How many bytes `head_hash` covers.
    pub head_len: u64,
    /// SHA-256 of the bytes the last run ingested, hex.
    pub chunk_hash: String,
    /// Landed raw copies, relative to the warehouse root.
    #[serde(default)]
    pub landed: Vec<String>,
    /// The run that last advanced the entry.
    pub run_id: String,
}

impl FileEntry {
    /// The carried bytes.
    pub fn carry_bytes(&self) -> Vec<u8> {
        unhex(&self.carry)
    }

    /// The last bytes read.
    pub fn tail_bytes(&self) -> Vec<u8> {
        unhex(&self.tail)
    }
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Entries by `<instance>/<file>`.
pub type Ledger = BTreeMap<String, FileEntry>;

/// The ledger key of `file` of `instance`.
pub fn key(instance: &str, file: &str) -> String {
    format!("{instance}/{file}")
}

/// Why a ledger could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "table {table}: property {LEDGER_PROPERTY} is not a ledger ({reason}); it was written by another tool or by hand"
)]
pub struct LedgerError {
    /// The table.
    pub table: String,
    /// What serde said.
    pub reason: String,
}

/// The ledger in a table's properties (empty when there is none).
pub fn read(table: &str, properties: &BTreeMap<String, Value>) -> Result<Ledger, LedgerError> {
    match properties.get(LEDGER_PROPERTY) {
        None => Ok(Ledger::new()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| LedgerError { table: table.to_string(), reason: e.to_string() }),
    }
}

/// The ledger as a property value.
pub fn to_value(ledger: &Ledger) -> Value {
    serde_json::to_value(ledger).expect("ledgers serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carry_round_trips() {
        let entry = FileEntry { carry: hex(b"partial \xff line"), ..FileEntry::default() };
        assert_eq!(entry.carry_bytes(), b"partial \xff line");
        let mut ledger = Ledger::new();
        ledger.insert(key("db-1", "slowquery/mysql-slowquery.log"), entry);
        let properties = BTreeMap::from([(LEDGER_PROPERTY.to_string(), to_value(&ledger))]);
        assert_eq!(read("t", &properties).unwrap(), ledger);
        let bad = BTreeMap::from([(LEDGER_PROPERTY.to_string(), Value::from(3))]);
        assert!(read("t", &bad).unwrap_err().to_string().contains("is not a ledger"));
    }
}
