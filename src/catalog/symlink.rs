//! Symlink manifests: how Athena reads exactly a partition's committed files when they lie in
//! several directories.
//!
//! Athena reads every file under a partition's location. A table in the [`Layout::Symlink`]
//! layout (`SymlinkTextInputFormat` with the Parquet SerDe, as Delta Lake and Iceberg show their
//! tables to Athena and Redshift Spectrum) gives each partition a location holding one text file,
//! `manifest`, that lists the absolute URLs of its data files, one per line. Appending to such a
//! partition writes only the new files; the next `catalog push` writes a manifest naming the old
//! and the new files and moves the partition's Glue location to it.
//!
//! A manifest's directory is named by a digest of the files it lists,
//! `<table>/_symlink_format_manifest/<partition key>/<digest>/manifest`, so writing it twice
//! writes the same bytes, a location never changes meaning, and vacuum can tell which manifests
//! a kept snapshot still needs without any other record.
//!
//! [`Layout::Symlink`]: super::table::Layout::Symlink

use sha2::{Digest, Sha256};

use super::state::DataFile;
use super::table::TableDef;
use crate::warehouse::Warehouse;

/// The directory under a table's location that holds its manifests (Delta Lake's name).
pub const DIR: &str = "_symlink_format_manifest";

/// The name of the manifest file in its directory.
pub const FILE: &str = "manifest";

/// Where a table's manifests live, relative to the warehouse: what Glue holds as the location
/// of a partitioned symlink table.
pub fn root(def: &TableDef) -> String {
    format!("{}{DIR}/", def.location)
}

/// The directory, relative to the warehouse, whose manifest lists `files`, the files of the
/// partition whose Hive path is `key` (empty for an unpartitioned table).
pub fn location(def: &TableDef, key: &str, files: &[DataFile]) -> String {
    let mut digest = Sha256::new();
    for file in files {
        digest.update(file.path.as_bytes());
        digest.update(b"\n");
    }
    let digest = digest.finalize();
    let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    match key.is_empty() {
        true => format!("{}{name}/", root(def)),
        false => format!("{}{key}/{name}/", root(def)),
    }
}

/// The directory of an unpartitioned symlink table that holds no data: it still has a manifest,
/// an empty one, so Athena reads no rows rather than a directory. `catalog push` writes it and
/// vacuum keeps it.
pub fn empty_table_location(def: &TableDef) -> String {
    location(def, "", &[])
}

/// The manifest text for `files`: their absolute URLs, one per line.
pub fn text(warehouse: &Warehouse, files: &[DataFile]) -> String {
    files.iter().map(|f| warehouse.absolute_url(&f.path) + "\n").collect()
}

/// The warehouse path of the manifest in `location`.
pub fn manifest_path(location: &str) -> String {
    format!("{location}{FILE}")
}

/// Strips the manifest directory from a symlink table's location as Glue holds it (the
/// manifests' root, or for an unpartitioned table one manifest's directory), giving the table's
/// data location.
pub fn data_location(location: &str) -> &str {
    match location.find(&format!("{DIR}/")) {
        Some(at) => &location[..at],
        None => location,
    }
}

/// The data files a manifest lists, as warehouse-relative paths; a line that is blank is
/// skipped, one outside the warehouse is an error naming it.
pub fn parse(warehouse: &Warehouse, manifest: &str, text: &str) -> Result<Vec<String>, String> {
    let base = warehouse.url().as_str();
    let mut paths = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.strip_prefix(base) {
            Some(relative) if !relative.is_empty() && !relative.split('/').any(|p| p == ".." || p == ".") => {
                paths.push(relative.to_string())
            }
            _ => {
                return Err(format!(
                    "{manifest} line {}: `{}` is not a file inside the warehouse {base}",
                    number + 1,
                    crate::error::excerpt(line)
                ));
            }
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::table::{TableInput, parquet_table_input};

    fn def() -> TableDef {
        let column = crate::catalog::table::Column::new;
        let input: TableInput =
            parquet_table_input("t", vec![column("a", "int")], vec![column("day", "date")], "db/t/");
        TableDef::from_input("db", input, &url::Url::parse("s3://b/wh/").unwrap()).unwrap()
    }

    fn file(path: &str) -> DataFile {
        DataFile { path: path.into(), size: 1, rows: 1 }
    }

    #[test]
    fn the_location_follows_the_files_and_nothing_else() {
        let def = def();
        let one = [file("db/t/day=2026-01-01/c1/part-00000.parquet")];
        let two = [one[0].clone(), file("db/t/day=2026-01-01/c2/part-00000.parquet")];
        let at = location(&def, "day=2026-01-01", &one);
        assert!(at.starts_with("db/t/_symlink_format_manifest/day=2026-01-01/"), "{at}");
        assert!(at.ends_with('/'));
        assert_eq!(at, location(&def, "day=2026-01-01", &one));
        assert_ne!(at, location(&def, "day=2026-01-01", &two));
        assert!(location(&def, "", &one).starts_with("db/t/_symlink_format_manifest/"));
        assert_eq!(data_location("s3://b/wh/db/t/_symlink_format_manifest/"), "s3://b/wh/db/t/");
        assert_eq!(data_location("s3://b/wh/db/t/_symlink_format_manifest/ab12/"), "s3://b/wh/db/t/");
        assert_eq!(data_location("s3://b/wh/db/t/"), "s3://b/wh/db/t/");
    }

    #[test]
    fn a_manifest_reads_back_and_refuses_files_outside_the_warehouse() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open_local(dir.path()).unwrap();
        let files = [file("db/t/day=1/c1/part-00000.parquet"), file("db/t/day=1/c2/part-00000.parquet")];
        let written = text(&warehouse, &files);
        assert_eq!(written.lines().count(), 2);
        let read = parse(&warehouse, "m", &format!("{written}\n")).unwrap();
        assert_eq!(read, ["db/t/day=1/c1/part-00000.parquet", "db/t/day=1/c2/part-00000.parquet"]);
        let err = parse(&warehouse, "m", "s3://elsewhere/x.parquet\n").unwrap_err();
        assert!(err.starts_with("m line 1: `s3://elsewhere/x.parquet` is not a file inside"), "{err}");
        let escape = format!("{}db/../../x.parquet", warehouse.url());
        assert!(parse(&warehouse, "m", &escape).is_err());
    }
}
