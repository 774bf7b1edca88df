//! Input files named on the command line: local paths, globs, directories and `s3://` URLs.
//!
//! Every input becomes a local file to read once: local files as they are, S3 objects
//! downloaded (streamed, not held in memory) into a temporary file that is removed when the
//! input is dropped. The name the user gave is kept for lineage (`source_file`) and messages.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;

use crate::config::WarehouseSettings;
use crate::error::{Categorize, Category};
use crate::warehouse::s3::S3Connector;

/// Why an input could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A glob is malformed.
    #[error("`{pattern}` is not a valid glob: {reason}")]
    Pattern {
        /// as given
        pattern: String,
        /// what is wrong
        reason: String,
    },
    /// Nothing matched.
    #[error("no file matches `{0}`")]
    NoMatch(String),
    /// A local file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Local {
        /// the path
        path: PathBuf,
        /// the I/O error
        source: std::io::Error,
    },
    /// An S3 object could not be listed or fetched.
    #[error("cannot read {url}: {source}")]
    S3 {
        /// the URL
        url: String,
        /// the store error
        source: object_store::Error,
    },
    /// The temporary copy failed.
    #[error("cannot stage {url} in a temporary file: {source}")]
    Stage {
        /// the URL
        url: String,
        /// the I/O error
        source: std::io::Error,
    },
}

impl Categorize for SourceError {
    fn category(&self) -> Category {
        match self {
            SourceError::Pattern { .. } | SourceError::NoMatch(_) => Category::Data,
            _ => Category::Io,
        }
    }
}

/// One input, readable as a local file.
#[derive(Debug)]
pub struct Input {
    /// As the user named it: a path or an `s3://` URL.
    pub name: String,
    /// The file to read.
    pub path: PathBuf,
    _staged: Option<tempfile::TempPath>,
}

impl Input {
    /// A local file.
    pub fn local(path: PathBuf) -> Input {
        Input { name: path.display().to_string(), path, _staged: None }
    }
}

/// Expands `args` into inputs with the extension `extension`, in argument order; a glob or
/// directory expands to its matches sorted by name, and a match named twice is read once.
pub async fn resolve(args: &[String], extension: &str, s3: &WarehouseSettings) -> Result<Vec<Input>, SourceError> {
    let mut inputs: Vec<Input> = Vec::new();
    for arg in args {
        let found = match arg.strip_prefix("s3://") {
            Some(rest) => s3_inputs(arg, rest, extension, s3).await?,
            None => local_inputs(arg, extension)?,
        };
        for input in found {
            if !inputs.iter().any(|i| i.name == input.name) {
                inputs.push(input);
            }
        }
    }
    Ok(inputs)
}

fn local_inputs(arg: &str, extension: &str) -> Result<Vec<Input>, SourceError> {
    let has_ext = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension));
    if arg.contains(['*', '?', '[']) {
        let paths = glob::glob(arg).map_err(|e| SourceError::Pattern { pattern: arg.into(), reason: e.to_string() })?;
        let mut files = Vec::new();
        for path in paths {
            let path = path.map_err(|e| SourceError::Local { path: e.path().to_path_buf(), source: e.into() })?;
            if path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(SourceError::NoMatch(arg.to_string()));
        }
        files.sort();
        return Ok(files.into_iter().map(Input::local).collect());
    }
    let path = PathBuf::from(arg);
    let meta = std::fs::metadata(&path).map_err(|source| SourceError::Local { path: path.clone(), source })?;
    if !meta.is_dir() {
        return Ok(vec![Input::local(path)]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(|source| SourceError::Local { path: path.clone(), source })? {
        let file = entry.map_err(|source| SourceError::Local { path: path.clone(), source })?.path();
        if file.is_file() && has_ext(&file) {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(SourceError::NoMatch(format!("{arg}/*.{extension}")));
    }
    files.sort();
    Ok(files.into_iter().map(Input::local).collect())
}

/// `s3://bucket/key` is one object; `s3://bucket/prefix/` every object below with the extension.
async fn s3_inputs(
    url: &str,
    rest: &str,
    extension: &str,
    settings: &WarehouseSettings,
) -> Result<Vec<Input>, SourceError> {
    let s3_err = |source| SourceError::S3 { url: url.to_string(), source };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let store = S3Connector::new(settings).bucket(bucket).map_err(s3_err)?;
    let keys: Vec<StorePath> = if key.is_empty() || key.ends_with('/') {
        let prefix = StorePath::from(key.trim_end_matches('/'));
        let mut keys: Vec<StorePath> = store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_filter(|p| futures::future::ready(p.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension))))
            .try_collect()
            .await
            .map_err(s3_err)?;
        keys.sort();
        if keys.is_empty() {
            return Err(SourceError::NoMatch(format!("{url}*.{extension}")));
        }
        keys
    } else {
        vec![StorePath::from(key)]
    };
    let mut inputs = Vec::new();
    for key in keys {
        let name = format!("s3://{bucket}/{key}");
        let stage_err = |source| SourceError::Stage { url: name.clone(), source };
        let mut staged = tempfile::Builder::new().prefix("glaux-s3-").tempfile().map_err(stage_err)?;
        let mut body =
            store.get(&key).await.map_err(|source| SourceError::S3 { url: name.clone(), source })?.into_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| SourceError::S3 { url: name.clone(), source })?;
            staged.write_all(&chunk).map_err(stage_err)?;
        }
        staged.flush().map_err(stage_err)?;
        let path = staged.into_temp_path();
        inputs.push(Input { name, path: path.to_path_buf(), _staged: Some(path) });
    }
    Ok(inputs)
}
