//! The warehouse: one object-store root holding every table's data and glaux's own state.
//!
//! A warehouse is a local directory (the default, `./warehouse`) or an `s3://bucket/prefix`.
//! Everything else in glaux addresses it through [`Warehouse`] with paths relative to the root,
//! so the same code runs on both; [`relative_location`] is the one gate through which a
//! user-supplied location enters, and it refuses anything that would land outside the root.

pub mod counted;
pub mod s3;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use self::counted::{Counted, Counters, IoCount};
use crate::config::WarehouseSettings;
use crate::error::{Categorize, Category};

/// Prefix under the root that holds glaux's state (table commits, run records).
pub const STATE_PREFIX: &str = "_glaux";

/// The AWS SDK's configuration loader every client of glaux starts from: the standard
/// credential chain and endpoint variables, over an HTTPS client whose TLS uses ring (the
/// crypto object_store already uses; the SDK's default, aws-lc, would add a large C library to
/// the build for nothing).
pub fn aws_defaults() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https)
}

/// Reads an object, `None` if it does not exist.
pub async fn get_optional(store: &dyn ObjectStore, path: &Path) -> Result<Option<bytes::Bytes>, object_store::Error> {
    match store.get(path).await {
        Ok(result) => result.bytes().await.map(Some),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(source) => Err(source),
    }
}

/// Writes `body` to `path` only if no object is there (an exclusive create on the local
/// filesystem, `If-None-Match: *` on S3): `Ok(false)` when another writer created it first. The
/// one primitive every piece of shared state in `_glaux/` is published with.
///
/// A create whose answer was lost (a reset connection) is retried by the store and then meets
/// the object it wrote itself: an object holding exactly `body` is this writer's (every body
/// names its writer: a commit id, a lease holder), so that is `Ok(true)`, not a lost race.
pub async fn put_if_absent(store: &dyn ObjectStore, path: &Path, body: Vec<u8>) -> Result<bool, object_store::Error> {
    let body = bytes::Bytes::from(body);
    let options = object_store::PutOptions { mode: object_store::PutMode::Create, ..Default::default() };
    match store.put_opts(path, object_store::PutPayload::from(body.clone()), options).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            Ok(get_optional(store, path).await?.is_some_and(|there| there == body))
        }
        Err(source) => Err(source),
    }
}

/// Why a warehouse could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The location is neither a directory path nor an `s3://` URL.
    #[error("unsupported warehouse location `{location}`: use a directory path or s3://bucket/prefix")]
    UnsupportedScheme {
        /// as configured
        location: String,
    },
    /// The local directory could not be created or resolved.
    #[error("cannot use warehouse directory {path}: {source}")]
    LocalDir {
        /// the directory
        path: PathBuf,
        /// the I/O failure
        source: std::io::Error,
    },
    /// object_store refused the configuration.
    #[error("cannot open warehouse {location}: {source}")]
    Store {
        /// the warehouse URL
        location: String,
        /// the object_store error
        source: object_store::Error,
    },
}

impl Categorize for WarehouseError {
    fn category(&self) -> Category {
        Category::Usage
    }
}

/// A location that would leave the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// A `..`, `.` or empty segment, or an absolute path where a relative one was expected.
    #[error("location `{location}` is not a plain path inside the warehouse (no `..`, `.`, `//` or leading `/`)")]
    Escapes {
        /// as given
        location: String,
    },
    /// An absolute URL that does not start with the warehouse's own.
    #[error("location `{location}` is outside the warehouse {warehouse}; use a path relative to it")]
    Outside {
        /// as given
        location: String,
        /// the warehouse URL
        warehouse: String,
    },
}

/// An open warehouse: the store, and where inside it the root lies. Every call on the store
/// is counted ([`Warehouse::io`]).
#[derive(Debug, Clone)]
pub struct Warehouse {
    url: Url,
    store: Arc<dyn ObjectStore>,
    root: Path,
    counters: Arc<Counters>,
}

impl Warehouse {
    /// Opens the warehouse the settings name. S3 credentials come from the standard AWS chain.
    pub fn open(settings: &WarehouseSettings) -> Result<Warehouse, WarehouseError> {
        let location = settings.location.as_str();
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let store = s3::open_bucket(bucket, settings)
                .map_err(|source| WarehouseError::Store { location: location.to_string(), source })?;
            let prefix = prefix.trim_matches('/');
            let url = Url::parse(&format!("s3://{bucket}/{}", with_slash(prefix)))
                .map_err(|_| WarehouseError::UnsupportedScheme { location: location.to_string() })?;
            return Ok(Warehouse::counted(url, store, Path::from(prefix)));
        }
        if location.contains("://") && !location.starts_with("file://") {
            return Err(WarehouseError::UnsupportedScheme { location: location.to_string() });
        }
        Self::open_local(FsPath::new(location.trim_start_matches("file://")))
    }

    /// Opens (creating if needed) a warehouse in a local directory.
    pub fn open_local(dir: &FsPath) -> Result<Warehouse, WarehouseError> {
        let local_err = |source| WarehouseError::LocalDir { path: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(local_err)?;
        let absolute = dir.canonicalize().map_err(local_err)?;
        let url = Url::from_directory_path(&absolute)
            .map_err(|_| WarehouseError::UnsupportedScheme { location: absolute.display().to_string() })?;
        let root = Path::from_absolute_path(&absolute)
            .map_err(|e| WarehouseError::Store { location: url.to_string(), source: e.into() })?;
        Ok(Warehouse::counted(url, Arc::new(LocalFileSystem::new()), root))
    }

    fn counted(url: Url, store: Arc<dyn ObjectStore>, root: Path) -> Warehouse {
        let counters = Arc::new(Counters::default());
        let store = Arc::new(Counted::new(store, counters.clone()));
        Warehouse { url, store, root, counters }
    }

    /// Requests and bytes of this process's calls on the store so far.
    pub fn io(&self) -> IoCount {
        self.counters.read()
    }

    /// The root as a URL with a trailing slash (`file:///…/warehouse/`, `s3://bucket/prefix/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `file://` or `s3://bucket`: the key DataFusion registers the store under.
    pub fn store_url(&self) -> String {
        match self.url.scheme() {
            "file" => "file://".to_string(),
            scheme => format!("{scheme}://{}", self.url.host_str().unwrap_or_default()),
        }
    }

    /// Whether data lives on the local filesystem.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store path of `relative`, a slash-separated path below the root.
    pub fn path(&self, relative: &str) -> Path {
        relative
            .split('/')
            .filter(|segment| !segment.is_empty())
            .fold(self.root.clone(), |path, segment| path.join(segment))
    }

    /// The path of `relative` below the state prefix.
    pub fn state_path(&self, relative: &str) -> Path {
        self.path(&format!("{STATE_PREFIX}/{relative}"))
    }

    /// The absolute URL of `relative`, as Glue and Athena would be given it.
    pub fn absolute_url(&self, relative: &str) -> String {
        format!("{}{}", self.url, relative.trim_start_matches('/'))
    }
}

/// Resolves a table or partition location to a path relative to the warehouse root, with a
/// trailing slash. Accepts a relative path, or an absolute URL that starts with the warehouse's.
pub fn relative_location(warehouse: &Url, location: &str) -> Result<String, LocationError> {
    let relative = if location.contains("://") {
        let base = warehouse.as_str();
        let trimmed = location.trim_end_matches('/');
        match format!("{trimmed}/").strip_prefix(base) {
            Some(rest) => rest.to_string(),
            None => {
                return Err(LocationError::Outside { location: location.to_string(), warehouse: base.to_string() });
            }
        }
    } else {
        location.to_string()
    };
    let trimmed = relative.strip_suffix('/').unwrap_or(&relative);
    let bad_segment = |s: &str| s.is_empty() || s == "." || s == ".." || s.contains('\\');
    if trimmed.is_empty() || trimmed.split('/').any(bad_segment) {
        return Err(LocationError::Escapes { location: location.to_string() });
    }
    Ok(with_slash(trimmed))
}

fn with_slash(path: &str) -> String {
    if path.is_empty() || path.ends_with('/') { path.to_string() } else { format!("{path}/") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_inside_the_warehouse_only() {
        let wh = Url::parse("s3://bucket/prefix/").unwrap();
        assert_eq!(relative_location(&wh, "db/t").unwrap(), "db/t/");
        assert_eq!(relative_location(&wh, "s3://bucket/prefix/db/t/").unwrap(), "db/t/");
        for bad in ["../x", "db/../../x", "/etc/passwd", "db//t", "./db", ""] {
            assert!(matches!(relative_location(&wh, bad), Err(LocationError::Escapes { .. })), "{bad}");
        }
        for outside in ["s3://other/db/t", "s3://bucket/prefix-two/t", "file:///etc/"] {
            assert!(matches!(relative_location(&wh, outside), Err(LocationError::Outside { .. })), "{outside}");
        }
    }

    #[test]
    fn local_warehouse_paths_sit_below_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open_local(&dir.path().join("wh")).unwrap();
        assert!(wh.url().as_str().ends_with("/wh/"));
        assert_eq!(wh.store_url(), "file://");
        let p = wh.path("db/t/part-0.parquet");
        assert!(p.as_ref().ends_with("wh/db/t/part-0.parquet"), "{p}");
        assert!(wh.absolute_url("db/t/").ends_with("/wh/db/t/"));
    }
}
