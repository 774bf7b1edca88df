//! Where log files come from: an RDS or Aurora instance through the RDS API ([`rds`]), or a
//! local directory ([`local`]). Both list files with their size and last-write time and read a
//! file from where the ledger says the last run stopped; the ingest loop does the rest the
//! same way for both.

pub mod local;
pub mod rds;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Categorize, Category};

/// One log file as a source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Name relative to the instance (`slowquery/mysql-slowquery.log`, `postgresql.log.1`).
    pub name: String,
    /// Size in bytes when listed.
    pub size: u64,
    /// Last write, epoch milliseconds.
    pub last_written: i64,
}

/// Where to start reading a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resume {
    /// Bytes already read.
    pub offset: u64,
    /// RDS marker after those bytes, if the source uses markers.
    pub marker: Option<String>,
    /// The last bytes read before (up to [`RESUME_TAIL_BYTES`]), to recognise a page that
    /// repeats them (RDS).
    pub tail: Vec<u8>,
}

/// How many of the last bytes read are kept to resume with.
pub const RESUME_TAIL_BYTES: usize = 1024;

/// Why a source failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A local file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// the file or directory
        path: String,
        /// the I/O failure
        source: std::io::Error,
    },
    /// The RDS API failed after retries.
    #[error("RDS {operation} for {target}: {message}")]
    Rds {
        /// the API operation
        operation: &'static str,
        /// instance, cluster or file
        target: String,
        /// what the service said
        message: String,
    },
    /// A name from the source cannot be used as a path in the warehouse.
    #[error("{what} '{name}' cannot be used: {reason}")]
    BadName {
        /// instance or file
        what: &'static str,
        /// the name
        name: String,
        /// why
        reason: String,
    },
}

impl Categorize for SourceError {
    fn category(&self) -> Category {
        match self {
            SourceError::Io { .. } | SourceError::Rds { .. } => Category::Io,
            // A name the user gave (an instance) or one the warehouse cannot hold.
            SourceError::BadName { .. } => Category::Usage,
        }
    }
}

/// Reads one file from a [`Resume`] point, piece by piece.
#[async_trait]
pub trait LogReader: Send {
    /// The next bytes of the file; `None` at its end.
    async fn next(&mut self) -> Result<Option<Bytes>, SourceError>;
    /// Where a later run resumes after everything returned so far.
    fn resume(&self) -> Resume;
    /// Whether the file disappeared while it was being read (rotated away).
    fn vanished(&self) -> bool;
    /// Lines the source cut short (RDS truncates lines over 1 MB).
    fn truncated_lines(&self) -> u64 {
        0
    }
    /// Pages that repeated bytes already read, trimmed (RDS).
    fn overlapping_pages(&self) -> u64 {
        0
    }
}

/// A source of one instance's log files.
#[async_trait]
pub trait LogSource: Send + Sync {
    /// The instance the files belong to.
    fn instance(&self) -> &str;
    /// Files written at or after `since` (epoch milliseconds); a source may list older ones too.
    async fn list(&self, since: i64) -> Result<Vec<LogFile>, SourceError>;
    /// The first `len` bytes of `file`, when the source can read them cheaply (a local file);
    /// `None` when it cannot (RDS, where every read is a rate-limited request).
    async fn head(&self, file: &LogFile, len: usize) -> Result<Option<Bytes>, SourceError>;
    /// Opens `file` at `from`.
    async fn open(&self, file: &LogFile, from: &Resume) -> Result<Box<dyn LogReader>, SourceError>;
}

/// Checks an instance identifier: RDS's rule (letters, digits and hyphens, up to 63), which
/// also keeps it from naming a path outside the warehouse.
pub fn check_instance(name: &str) -> Result<(), SourceError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(SourceError::BadName {
            what: "instance",
            name: name.to_string(),
            reason: "use 1-63 letters, digits and hyphens, starting with a letter or digit".into(),
        }),
    }
}

/// Checks a log file name: relative, `/`-separated, no `.` or `..` component, and only
/// characters log files are named with.
pub fn check_file_name(name: &str) -> Result<(), SourceError> {
    let bad = |reason: &str| SourceError::BadName { what: "log file", name: name.to_string(), reason: reason.into() };
    if name.is_empty() || name.starts_with('/') {
        return Err(bad("it must be a relative name"));
    }
    if name.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(bad("it has an empty, '.' or '..' component"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-/+:@".contains(c)) {
        return Err(bad("it has characters other than letters, digits and ._-/+:@"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside() {
        assert!(check_instance("db-1").is_ok());
        assert!(check_instance("../x").is_err());
        assert!(check_instance("").is_err());
        assert!(check_file_name("error/postgresql.log.2026-11-21-10").is_ok());
        assert!(check_file_name("../etc/passwd").is_err());
        assert!(check_file_name("/etc/passwd").is_err());
        assert!(check_file_name("a//b").is_err());
        assert!(check_file_name("a b").is_err());
    }
}
