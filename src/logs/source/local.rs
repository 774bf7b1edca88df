//! Log files in a local directory: a self-managed MySQL, MariaDB or PostgreSQL server's log
//! directory, or files downloaded earlier. Files are named by their path below the directory;
//! reading resumes at a byte offset. Compressed files (`.gz`, `.bz2`, `.xz`, `.zst`) are listed
//! by [`LocalDir::compressed`] so the run can report them instead of reading them as text.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{LogFile, LogReader, LogSource, Resume, SourceError, check_file_name};

/// Bytes read per piece.
const PIECE_BYTES: usize = 8 << 20;

const COMPRESSED: [&str; 5] = [".gz", ".bz2", ".xz", ".zst", ".zip"];

/// A directory of one instance's logs.
#[derive(Debug, Clone)]
pub struct LocalDir {
    dir: PathBuf,
    instance: String,
}

impl LocalDir {
    /// The logs of `instance` in `dir`.
    pub fn new(dir: &Path, instance: &str) -> Result<LocalDir, SourceError> {
        super::check_instance(instance)?;
        Ok(LocalDir { dir: dir.to_path_buf(), instance: instance.to_string() })
    }

    /// Every regular file below the directory, with its name relative to it.
    fn walk(&self) -> Result<Vec<(String, std::fs::Metadata)>, SourceError> {
        let io = |path: &Path, source| SourceError::Io { path: path.display().to_string(), source };
        let mut found = Vec::new();
        let mut pending = vec![self.dir.clone()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
                let entry = entry.map_err(|e| io(&dir, e))?;
                let path = entry.path();
                let meta = std::fs::metadata(&path).map_err(|e| io(&path, e))?;
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with('.') {
                    continue;
                }
                if meta.is_dir() {
                    pending.push(path);
                } else if meta.is_file() {
                    let relative = path.strip_prefix(&self.dir).expect("below the directory");
                    let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>();
                    found.push((name.join("/"), meta));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    /// Compressed files in the directory, which are not read.
    pub fn compressed(&self) -> Result<Vec<String>, SourceError> {
        Ok(self.walk()?.into_iter().map(|(name, _)| name).filter(|n| is_compressed(n)).collect())
    }
}

fn is_compressed(name: &str) -> bool {
    COMPRESSED.iter().any(|ext| name.ends_with(ext))
}

#[async_trait]
impl LogSource for LocalDir {
    fn instance(&self) -> &str {
        &self.instance
    }

    /// Every file, whatever `since` says: the ingest counts the ones outside the lookback, so
    /// nothing in the directory is passed over without a word.
    async fn list(&self, _since: i64) -> Result<Vec<LogFile>, SourceError> {
        let mut files = Vec::new();
        for (name, meta) in self.walk()? {
            if is_compressed(&name) {
                continue;
            }
            check_file_name(&name)?;
            let last_written = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            files.push(LogFile { name, size: meta.len(), last_written });
        }
        Ok(files)
    }

    async fn head(&self, file: &LogFile, len: usize) -> Result<Option<Bytes>, SourceError> {
        let path = self.dir.join(&file.name);
        let io = |source| SourceError::Io { path: path.display().to_string(), source };
        let handle = tokio::fs::File::open(&path).await.map_err(io)?;
        let mut head = Vec::with_capacity(len);
        handle.take(len as u64).read_to_end(&mut head).await.map_err(io)?;
        Ok(Some(Bytes::from(head)))
    }

    async fn open(&self, file: &LogFile, from: &Resume) -> Result<Box<dyn LogReader>, SourceError> {
        let path = self.dir.join(&file.name);
        let io = |source| SourceError::Io { path: path.display().to_string(), source };
        let mut handle = tokio::fs::File::open(&path).await.map_err(io)?;
        handle.seek(std::io::SeekFrom::Start(from.offset)).await.map_err(io)?;
        Ok(Box::new(LocalReader { path: path.clone(), file: handle, offset: from.offset }))
    }
}

struct LocalReader {
    path: PathBuf,
    file: tokio::fs::File,
    offset: u64,
}

#[async_trait]
impl LogReader for LocalReader {
    async fn next(&mut self) -> Result<Option<Bytes>, SourceError> {
        let mut buffer = vec![0u8; PIECE_BYTES];
        let mut filled = 0;
        while filled < buffer.len() {
            let read = self
                .file
                .read(&mut buffer[filled..])
                .await
                .map_err(|source| SourceError::Io { path: self.path.display().to_string(), source })?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        if filled == 0 {
            return Ok(None);
        }
        buffer.truncate(filled);
        self.offset += filled as u64;
        Ok(Some(Bytes::from(buffer)))
    }

    fn resume(&self) -> Resume {
        Resume { offset: self.offset, marker: None, tail: Vec::new() }
    }

    fn vanished(&self) -> bool {
        false
    }
}
