//! `glaux vacuum`: removes what no kept snapshot needs.
//!
//! A table keeps every snapshot committed within the retention window, plus the one that was
//! current when the window began (so time travel to any moment of the window finds its
//! snapshot), and always its newest. Older snapshots are removed, oldest first, so the kept
//! versions are always a run from the oldest kept to the newest. Then every object under the
//! table's location, every reject file under `_glaux/rejects/<db>/<table>/` and every archived
//! copy under `_glaux/archive/<db>/<table>/` that no kept snapshot names is removed: files of killed, failed and losing writers, and partitions
//! superseded before the window. Objects younger than the grace period are never removed, since
//! an in-flight commit may still be writing them; with no table named, leftovers of job staging
//! (`_glaux/staging/`) older than the grace period go too, and so do landed raw log copies older
//! than `[aurora] landed_retention`.
//!
//! A vacuum is safe beside writers and readers: it removes no file a kept snapshot names, and a
//! commit racing with it names only files it carried over from a kept snapshot or wrote within
//! the grace period. A vacuum that is killed leaves every kept version whole (snapshots go before
//! their files); running it again finishes the work. A table's partition manifests
//! (`_glaux/tables/<db>/<table>/manifests/`) that no kept snapshot names go the same way, after
//! the snapshots and with the same grace period. In the symlink layout, the manifest Athena
//! reads for each partition of a kept snapshot (`<table>/_symlink_format_manifest/…`) is kept
//! with its files; older manifests go like any unnamed file. Tables whose locations overlap (one
//! inside another's, or the same) protect each other's files.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path;

use crate::catalog::manifest::ManifestRef;
use crate::catalog::state::{CommitError, Snapshot, TableLog};
use crate::catalog::table::{Layout, Retention, TableDef};
use crate::catalog::{Catalog, CommitHook, symlink};
use crate::error::{Categorize, Category};
use crate::warehouse::{STATE_PREFIX, Warehouse};

/// How a vacuum runs.
#[derive(Debug, Clone)]
pub struct VacuumOptions {
    /// Snapshots committed within this window are kept.
    pub retain: chrono::Duration,
    /// Objects younger than this are kept whatever references them.
    pub grace: chrono::Duration,
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
    /// The time the windows are measured from.
    pub now: DateTime<Utc>,
    /// Partition retention by table (`database.table`), over the tables' own declarations.
    pub retention: BTreeMap<String, Retention>,
    /// How long landed raw log copies are kept, by their landing day (`None`: kept).
    pub landed_retention: Option<chrono::Duration>,
}

/// What a vacuum did (or, dry, would do) to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableVacuum {
    /// `database.table`, or `_glaux/staging` for job staging leftovers.
    pub table: String,
    /// Partitions dropped (or, dry, to drop) because they are older than the table's retention.
    pub partitions_dropped: Vec<String>,
    /// Snapshots removed.
    pub versions_removed: u64,
    /// Snapshots kept.
    pub versions_kept: u64,
    /// The oldest snapshot kept.
    pub oldest_kept: Option<u64>,
    /// Partition manifests no kept snapshot names (superseded, or written by losing writers).
    pub manifests_removed: u64,
    /// Data and reject files removed.
    pub files_removed: u64,
    /// Their bytes.
    pub bytes_removed: u64,
    /// Files the kept snapshots name.
    pub files_kept: u64,
    /// Unnamed objects kept because they are younger than the grace period.
    pub young_kept: u64,
}

impl TableVacuum {
    /// Counts an object no kept snapshot names: kept when younger than `young_after`, otherwise
    /// added to `doomed`.
    fn count(&mut self, meta: ObjectMeta, young_after: DateTime<Utc>, doomed: &mut Vec<Path>) {
        if meta.last_modified >= young_after {
            self.young_kept += 1;
        } else {
            self.files_removed += 1;
            self.bytes_removed += meta.size;
            doomed.push(meta.location);
        }
    }
}

/// Why a vacuum stopped.
#[derive(Debug, thiserror::Error)]
pub enum VacuumError {
    /// A snapshot could not be read; nothing of that table was removed.
    #[error("vacuum of {table}: {source}")]
    State {
        /// `database.table`
        table: String,
        /// what went wrong
        source: CommitError,
    },
    /// The store refused a listing or a removal.
    #[error("vacuum of {table}: {path}: {source}; run it again to finish")]
    Store {
        /// `database.table`
        table: String,
        /// the object or prefix
        path: String,
        /// what the store said
        source: object_store::Error,
    },
    /// The retention commit failed; nothing of that table was removed.
    #[error("retention of {table}: {source}")]
    Retention {
        /// `database.table`
        table: String,
        /// what went wrong
        source: CommitError,
    },
    /// A version in the middle of the kept run is missing.
    #[error("vacuum of {table}: version {version} is missing between kept versions; nothing was removed")]
    Gap {
        /// `database.table`
        table: String,
        /// the missing version
        version: u64,
    },
}

impl Categorize for VacuumError {
    fn category(&self) -> Category {
        match self {
            VacuumError::State { source, .. } | VacuumError::Retention { source, .. } => source.category(),
            VacuumError::Store { .. } => Category::Io,
            VacuumError::Gap { .. } => Category::Data,
        }
    }
}

/// The kept snapshots of one table and what they name.
struct Kept {
    /// Versions to remove, oldest first.
    expired: Vec<u64>,
    /// Versions kept.
    kept: Vec<u64>,
    /// Paths (relative to the warehouse root) the kept snapshots name.
    files: BTreeSet<String>,
    /// Manifests the kept snapshots name, relative to the table's state directory.
    manifests: BTreeSet<String>,
}

/// Applies each table's partition retention (its commits followed by `hook`), then vacuums
/// `tables` (every table when empty, then job staging leftovers too).
pub async fn vacuum(
    catalog: &Catalog,
    tables: &[Arc<TableDef>],
    options: &VacuumOptions,
    hook: &dyn CommitHook,
) -> Result<Vec<TableVacuum>, VacuumError> {
    let everything = tables.is_empty();
    let all: Vec<Arc<TableDef>> = catalog.registry.tables().cloned().collect();
    let chosen: Vec<Arc<TableDef>> = if everything { all.clone() } else { tables.to_vec() };
    let wh = &catalog.warehouse;
    let mut kept: BTreeMap<String, Kept> = BTreeMap::new();
    let mut dropped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for def in &chosen {
        let name = def.qualified_name();
        let Some(retention) = options.retention.get(&name).or(def.retention.as_ref()) else { continue };
        let keys = super::retention::apply(catalog, def, retention, (options.now, options.dry_run), hook)
            .await
            .map_err(|source| VacuumError::Retention { table: name.clone(), source })?;
        dropped.insert(name, keys);
    }
    let mut reports = Vec::new();
    for def in &chosen {
        // What every table overlapping this one keeps protects this one's files.
        let mut protected = BTreeSet::new();
        for other in all.iter().filter(|o| overlaps(&o.location, &def.location)) {
            let name = other.qualified_name();
            if !kept.contains_key(&name) {
                kept.insert(name.clone(), kept_snapshots(wh, other, options).await?);
            }
            protected.extend(kept[&name].files.iter().cloned());
        }
        let mine = &kept[&def.qualified_name()];
        let mut report = vacuum_table(wh, def, mine, &protected, &all, options).await?;
        report.partitions_dropped = dropped.remove(&def.qualified_name()).unwrap_or_default();
        reports.push(report);
    }
    if everything {
        reports.push(vacuum_staging(wh, options).await?);
        if let Some(keep) = options.landed_retention {
            reports.push(vacuum_landed(wh, keep, options).await?);
        }
    }
    Ok(reports)
}

/// Whether one location lies inside the other (or they are the same).
fn overlaps(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Which snapshots of `def` the window keeps, and the files they name.
async fn kept_snapshots(wh: &Warehouse, def: &TableDef, options: &VacuumOptions) -> Result<Kept, VacuumError> {
    let table = def.qualified_name();
    let state_error = |source| VacuumError::State { table: table.clone(), source };
    let log = TableLog::of(wh, def);
    let versions = log.versions().await.map_err(state_error)?;
    let cutoff = options.now - options.retain;
    let mut kept_states: Vec<Snapshot> = Vec::new();
    // Newest first, down to the first snapshot committed before the window: the one current
    // when the window began.
    for &version in versions.iter().rev() {
        let Some(state) = log.read_head(version).await.map_err(state_error)? else {
            return Err(VacuumError::Gap { table, version });
        };
        let before_window = state.committed_at < cutoff;
        kept_states.push(state);
        if before_window {
            break;
        }
    }
    let oldest = kept_states.last().map_or(u64::MAX, |s| s.version);
    let expired: Vec<u64> = versions.iter().copied().filter(|v| *v < oldest).collect();
    let kept: Vec<u64> = versions.iter().copied().filter(|v| *v >= oldest).collect();
    // Versions share manifests: each distinct one is read once.
    let mut manifests: BTreeMap<&str, &ManifestRef> = BTreeMap::new();
    for state in &kept_states {
        manifests.extend(state.manifests.iter().map(|m| (m.path.as_str(), m)));
    }
    let read = log.read_manifests(manifests.values().map(|m| (*m).clone()).collect()).await.map_err(state_error)?;
    let mut partitions: Vec<_> = read.into_iter().flat_map(|m| m.partitions).collect();
    for state in kept_states.iter().filter(|s| s.manifests.is_empty()) {
        partitions.extend(log.load(state, &[]).await.map_err(state_error)?);
    }
    let mut files: BTreeSet<String> = partitions.iter().flat_map(|p| &p.files).map(|f| normalise(&f.path)).collect();
    if def.layout() == Layout::Symlink {
        // The symlink manifest `catalog push` wrote (or would write) for each kept partition.
        for partition in &partitions {
            let location = symlink::location(def, &log.partition_key(&partition.values), &partition.files);
            files.insert(normalise(&symlink::manifest_path(&location)));
        }
        if def.partition_keys.is_empty() && partitions.is_empty() {
            files.insert(normalise(&symlink::manifest_path(&symlink::empty_table_location(def))));
        }
    }
    let manifests = manifests.into_keys().map(str::to_string).collect();
    for state in &kept_states {
        files.extend(
            crate::catalog::rejects::reject_files(&state.properties).into_iter().map(|r| normalise(&r.file.path)),
        );
        for archived in crate::catalog::archives::archived(state) {
            files.extend(archived.files.iter().map(|f| normalise(&f.path)));
        }
    }
    Ok(Kept { expired, kept, files, manifests })
}

fn normalise(path: &str) -> String {
    path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/")
}

/// The objects below `prefix` (relative to the warehouse root), each with its path relative
/// to the root.
async fn list(wh: &Warehouse, table: &str, prefix: &str) -> Result<Vec<(String, ObjectMeta)>, VacuumError> {
    let path = wh.path(prefix);
    let root = wh.path("");
    let objects: Vec<ObjectMeta> = wh
        .store()
        .list(Some(&path))
        .try_collect()
        .await
        .map_err(|source| VacuumError::Store { table: table.to_string(), path: path.to_string(), source })?;
    Ok(objects
        .into_iter()
        .filter_map(|o| {
            let relative: Vec<String> = o.location.prefix_match(&root)?.map(|p| p.as_ref().to_string()).collect();
            Some((relative.join("/"), o))
        })
        .collect())
}

async fn vacuum_table(
    wh: &Warehouse,
    def: &TableDef,
    kept: &Kept,
    protected: &BTreeSet<String>,
    all: &[Arc<TableDef>],
    options: &VacuumOptions,
) -> Result<TableVacuum, VacuumError> {
    let table = def.qualified_name();
    let young_after = options.now - options.grace;
    let mut report = TableVacuum {
        table: table.clone(),
        versions_kept: kept.kept.len() as u64,
        oldest_kept: kept.kept.first().copied(),
        files_kept: kept.files.len() as u64,
        ..TableVacuum::default()
    };
    // Snapshots first, oldest first: a killed vacuum leaves the kept versions a whole run, each
    // with all its files.
    let log = TableLog::of(wh, def);
    let versions: Vec<Path> = kept.expired.iter().map(|v| log.version_path(*v)).collect();
    report.versions_removed = versions.len() as u64;
    if !options.dry_run {
        for path in versions {
            remove(wh, &table, vec![path]).await?;
        }
    }
    // Then the manifests no kept snapshot names: a killed vacuum leaves each kept version whole.
    let manifest_dir = log.manifest_dir();
    let listed: Vec<ObjectMeta> = wh
        .store()
        .list(Some(&manifest_dir))
        .try_collect()
        .await
        .map_err(|source| VacuumError::Store { table: table.clone(), path: manifest_dir.to_string(), source })?;
    let mut superseded = Vec::new();
    for meta in listed {
        let name = meta.location.filename().map(|f| format!("manifests/{f}")).unwrap_or_default();
        if !kept.manifests.contains(&name) && meta.last_modified < young_after {
            superseded.push(meta.location);
        }
    }
    report.manifests_removed = superseded.len() as u64;
    if !options.dry_run {
        remove(wh, &table, superseded).await?;
    }
    // A table inside this one's location vacuums its own files.
    let nested: Vec<String> = all
        .iter()
        .filter(|o| o.location != def.location && o.location.starts_with(&def.location))
        .map(|o| normalise(&o.location) + "/")
        .collect();
    let location = normalise(&def.location);
    let rejects = format!("{STATE_PREFIX}/rejects/{}/{}", def.database, def.name());
    let archives = normalise(&super::archive::archive_prefix(def));
    let mut objects = if location.is_empty() { Vec::new() } else { list(wh, &table, &location).await? };
    objects.extend(list(wh, &table, &rejects).await?);
    objects.extend(list(wh, &table, &archives).await?);
    let mut doomed = Vec::new();
    for (relative, meta) in objects {
        let own = relative.starts_with(&format!("{rejects}/"))
            || relative.starts_with(&format!("{archives}/"))
            || (!relative.starts_with(&format!("{STATE_PREFIX}/")) && !nested.iter().any(|n| relative.starts_with(n)));
        if !own || protected.contains(&relative) {
            continue;
        }
        report.count(meta, young_after, &mut doomed);
    }
    let leftovers =
        if location.is_empty() { Vec::new() } else { upload_leftovers(wh, &wh.path(&location), young_after) };
    for (_, size) in &leftovers {
        report.files_removed += 1;
        report.bytes_removed += size;
    }
    if !options.dry_run {
        let directories: BTreeSet<Path> = doomed.iter().map(parent).collect();
        remove(wh, &table, doomed).await?;
        for (file, _) in leftovers {
            if let Err(error) = std::fs::remove_file(&file)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                let source = object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(error) };
                return Err(VacuumError::Store { table, path: file.display().to_string(), source });
            }
        }
        remove_empty_directories(wh, directories, &wh.path(&location));
    }
    Ok(report)
}

/// On a local warehouse, the half-written files of writers killed mid-upload (`part-00000.parquet#3`:
/// the local store writes aside and renames, and does not list such files), older than
/// `young_after`, with their sizes.
fn upload_leftovers(wh: &Warehouse, root: &Path, young_after: DateTime<Utc>) -> Vec<(std::path::PathBuf, u64)> {
    fn walk(dir: &std::path::Path, young_after: DateTime<Utc>, out: &mut Vec<(std::path::PathBuf, u64)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                walk(&path, young_after, out);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let staged =
                name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            let old = meta.modified().ok().map(DateTime::<Utc>::from).is_some_and(|t| t < young_after);
            if staged && old {
                out.push((path, meta.len()));
            }
        }
    }
    let mut out = Vec::new();
    if wh.is_local() {
        walk(std::path::Path::new(&format!("/{root}")), young_after, &mut out);
    }
    out
}

fn parent(path: &Path) -> Path {
    let parts: Vec<_> = path.parts().collect();
    Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned())
}

/// On a local warehouse, the directories left empty below `root` go too (S3 has none): a
/// partition directory with no files is no partition to a Hive-style reader either.
fn remove_empty_directories(wh: &Warehouse, directories: BTreeSet<Path>, root: &Path) {
    if !wh.is_local() {
        return;
    }
    for directory in directories.into_iter().rev() {
        let mut at = directory;
        while at.as_ref().len() > root.as_ref().len() && at.as_ref().starts_with(root.as_ref()) {
            // Fails, harmlessly, when the directory still holds something.
            if std::fs::remove_dir(format!("/{at}")).is_err() {
                break;
            }
            at = parent(&at);
        }
    }
}

/// Job staging leftovers older than the grace period (a finished run removes its own).
async fn vacuum_staging(wh: &Warehouse, options: &VacuumOptions) -> Result<TableVacuum, VacuumError> {
    let name = format!("{STATE_PREFIX}/staging");
    let young_after = options.now - options.grace;
    let mut report = TableVacuum { table: name.clone(), ..TableVacuum::default() };
    let mut doomed = Vec::new();
    for (_, meta) in list(wh, &name, &name).await? {
        report.count(meta, young_after, &mut doomed);
    }
    if !options.dry_run {
        let directories: BTreeSet<Path> = doomed.iter().map(parent).collect();
        remove(wh, &name, doomed).await?;
        remove_empty_directories(wh, directories, &wh.state_path(""));
    }
    Ok(report)
}

/// Landed raw log copies (`aurora-logs/<instance>/<landing day>/…`) from before `keep`, by
/// their landing day. The log tables hold what was parsed from them; the ingest ledger keeps
/// their names as a record.
async fn vacuum_landed(
    wh: &Warehouse,
    keep: chrono::Duration,
    options: &VacuumOptions,
) -> Result<TableVacuum, VacuumError> {
    let name = crate::logs::ingest::LANDING_PREFIX.to_string();
    let oldest_kept = (options.now - keep).date_naive();
    let young_after = options.now - options.grace;
    let mut report = TableVacuum { table: name.clone(), ..TableVacuum::default() };
    let mut doomed = Vec::new();
    for (relative, meta) in list(wh, &name, &name).await? {
        let day = relative.split('/').nth(2).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        if day.is_some_and(|day| day < oldest_kept) {
            report.count(meta, young_after, &mut doomed);
        } else {
            report.files_kept += 1;
        }
    }
    if !options.dry_run {
        let directories: BTreeSet<Path> = doomed.iter().map(parent).collect();
        remove(wh, &name, doomed).await?;
        remove_empty_directories(wh, directories, &wh.path(&name));
    }
    Ok(report)
}

/// Removes `paths` (in batches, as S3's DeleteObjects takes them); one already gone is fine.
async fn remove(wh: &Warehouse, table: &str, paths: Vec<Path>) -> Result<(), VacuumError> {
    if paths.is_empty() {
        return Ok(());
    }
    let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
    let mut results = wh.store().delete_stream(stream);
    while let Some(result) = results.next().await {
        match result {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => {
                return Err(VacuumError::Store { table: table.to_string(), path: "(removal)".into(), source });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_overlap_when_one_holds_the_other() {
        assert!(overlaps("db/t/", "db/t/"));
        assert!(overlaps("db/t/", "db/t/inner/"));
        assert!(overlaps("db/t/inner/", "db/t/"));
        assert!(!overlaps("db/t/", "db/t2/"));
        assert_eq!(normalise("/db//t/x.parquet"), "db/t/x.parquet");
    }
}
