//! Partition manifests: how a snapshot names a million partitions without rewriting them all.
//!
//! A snapshot's head (`versions/N.json`) no longer holds its partitions. It lists manifests, each
//! an immutable object `manifests/<id>.json` holding at most [`MAX_PER_MANIFEST`] partitions, and
//! for each manifest its totals and, per partition key, the range of its values (as text, to find
//! which manifests can hold a partition) and their typed minimum and maximum (to prune). Manifests
//! are shared between versions: a commit reads the manifests that can hold the partitions it
//! changes, writes their new contents and the partitions it adds as new manifests (taking in the
//! newest manifest when what it writes is small), and a head naming those and the untouched
//! ones, as Iceberg's manifest lists do. So a table that grows by new days (Aurora logs by
//! instance and day) writes each day's partitions into the day's own manifests, and a commit's
//! cost follows what it changes, not the table's size. Planning prunes manifests on the key bounds
//! with DataFusion's [`PruningPredicate`](datafusion::physical_optimizer::pruning) statistics, so
//! a filtered query reads the head and the one or two manifests its filter can match.
//!
//! Arrival order alone serves filters on the keys data arrives by (a day) but not the others:
//! one instance across three years has a partition in every day's manifest. So manifests written
//! in arrival order are compacted, [`COMPACT_FANOUT`] at a time, into tiles: when the manifests'
//! ranges on some keys overlap (every day's manifest spans all instances) and on others do not
//! (each holds one day), the group is re-sorted by the overlapping keys first ([`tile_order`]).
//! Each tile then holds a narrow range of instances over the group's days, so a filter on one
//! instance reads about one manifest per group, and a filter on one day the group's
//! [`COMPACT_FANOUT`] tiles: at a million partitions, tens of manifests either way.

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray, UInt64Array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::DataType;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};
use serde::{Deserialize, Serialize};

use super::state::PartitionState;

/// The most partitions one manifest holds; a rewritten run is split into manifests of at most
/// this many. With about 250 bytes a partition, a manifest is about 250 KB and a head at a
/// million partitions lists about 1,000 manifests (about 250 KB): a one-partition commit writes
/// two objects of that size, where a single snapshot file would be 250 MB.
pub const MAX_PER_MANIFEST: usize = 1024;

/// A rewritten run smaller than this is merged with the next manifest, so removals (retention,
/// archive) do not leave the head listing ever more tiny manifests.
pub const MIN_PER_MANIFEST: usize = MAX_PER_MANIFEST / 4;

/// How many manifests written in arrival order one compaction merges into tiles: about the
/// square root of [`MAX_PER_MANIFEST`], so a tile spans as many values of the arrival key (days)
/// as of the other keys (instances) when a day holds about a manifest's worth of partitions.
pub const COMPACT_FANOUT: usize = 32;

/// A chunk of partitions in key order, as written to one manifest.
pub type Chunk = Vec<(String, PartitionState)>;

/// The objects one manifest holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `database.table`, checked on read.
    pub table: String,
    /// Partitions in key order.
    pub partitions: Vec<PartitionState>,
}

/// A manifest as the head lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRef {
    /// Object name, relative to the table's state directory (`manifests/<id>.json`).
    pub path: String,
    /// Key of its first partition (`k1=v1/k2=v2`), in the manifest's order.
    pub first: String,
    /// Key of its last partition.
    pub last: String,
    /// Partitions in it.
    pub partitions: u64,
    /// Data files in it.
    pub files: u64,
    /// Rows in it.
    pub rows: u64,
    /// Bytes of data files in it.
    pub bytes: u64,
    /// Per partition key, in key order: the bounds of its values.
    pub bounds: Vec<KeyBounds>,
    /// `None` for a manifest written in arrival order, which a later commit compacts; for a
    /// tile from compaction, the keys (indices) its group was sorted by, which a rewrite of the
    /// tile sorts by again. Tiles are not compacted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<Vec<usize>>,
}

/// The values of one partition key across a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyBounds {
    /// Least value in the key's type order, as path text; `None` when every value is NULL or
    /// one of them is not a value of the key's type (then nothing is pruned on it).
    pub min: Option<String>,
    /// Greatest value, likewise.
    pub max: Option<String>,
    /// Partitions whose value is NULL (the empty value, Hive's default partition).
    pub nulls: u64,
    /// Least value as text, in byte order (the empty value included): with `text_max`, which
    /// partitions the manifest can hold.
    pub text_min: String,
    /// Greatest value as text, in byte order.
    pub text_max: String,
}

impl ManifestRef {
    /// The entry for `partitions` (in key order, at least one) written to `path`; `types` are
    /// the partition keys' types, which order the bounds.
    pub fn describe(
        path: String,
        keys: &[String],
        types: &[DataType],
        partitions: &[(String, PartitionState)],
    ) -> ManifestRef {
        let bounds = (0..types.len()).map(|i| key_bounds(partitions, i, &types[i])).collect();
        ManifestRef {
            path,
            first: partitions.first().map(|(k, _)| k.clone()).unwrap_or_default(),
            last: partitions.last().map(|(k, _)| k.clone()).unwrap_or_default(),
            partitions: partitions.len() as u64,
            files: partitions.iter().map(|(_, p)| p.files.len() as u64).sum(),
            rows: partitions.iter().map(|(_, p)| p.rows()).sum(),
            bytes: partitions.iter().map(|(_, p)| p.bytes()).sum(),
            bounds: if keys.is_empty() { Vec::new() } else { bounds },
            clustered: None,
        }
    }
}

/// The bounds of key `i` over `partitions`, ordered as `ty` orders them.
fn key_bounds(partitions: &[(String, PartitionState)], i: usize, ty: &DataType) -> KeyBounds {
    let text: StringArray =
        partitions.iter().map(|(_, p)| p.values.get(i).map(String::as_str).filter(|v| !v.is_empty())).collect();
    let nulls = text.null_count() as u64;
    let raw = || partitions.iter().map(|(_, p)| p.values.get(i).map_or("", String::as_str));
    let text_min = raw().min().unwrap_or_default().to_string();
    let text_max = raw().max().unwrap_or_default().to_string();
    let unknown = KeyBounds { min: None, max: None, nulls, text_min: text_min.clone(), text_max: text_max.clone() };
    let options = CastOptions { safe: false, ..CastOptions::default() };
    // A value that is not of the key's type fails the whole cast: then no bounds, no pruning.
    let Ok(typed) = cast_with_options(&text, ty, &options) else { return unknown };
    let Ok(order) = arrow::compute::sort_to_indices(&typed, None, None) else { return unknown };
    let valid: Vec<u32> = order.values().iter().copied().filter(|&row| typed.is_valid(row as usize)).collect();
    let (Some(&low), Some(&high)) = (valid.first(), valid.last()) else { return unknown };
    // The path text of the extreme rows, so bounds read back exactly as the values were written.
    let value = |row: u32| Some(text.value(row as usize).to_string());
    KeyBounds { min: value(low), max: value(high), nulls, text_min, text_max }
}

/// Whether a manifest's ranges admit a partition with `values`: only such manifests can hold it.
pub fn may_hold(manifest: &ManifestRef, values: &[String]) -> bool {
    manifest
        .bounds
        .iter()
        .zip(values)
        .all(|(b, v)| b.text_min.as_str() <= v.as_str() && v.as_str() <= b.text_max.as_str())
}

/// Splits partitions into manifests of at most [`MAX_PER_MANIFEST`], of even size, ordered so
/// that each manifest covers a narrow range of the keys with few distinct values: sorted by the
/// key with the fewest distinct values first (the day of a day's ingest across 1,000 instances,
/// the year then month then day of a date hierarchy), so bounds on those keys prune well.
pub fn chunks(run: Chunk) -> Vec<Chunk> {
    chunks_by(run, &[])
}

/// Splits partitions into even manifests of at most [`MAX_PER_MANIFEST`], sorted by the keys
/// `order` (indices; when empty, as [`chunks`] sorts), then by their key.
pub fn chunks_by(mut run: Chunk, order: &[usize]) -> Vec<Chunk> {
    if run.is_empty() {
        return Vec::new();
    }
    let fewest;
    let order = match order.is_empty() {
        true => {
            let values: Vec<&PartitionState> = run.iter().map(|(_, p)| p).collect();
            fewest = fewest_values_first(&values, values[0].values.len(), &[]);
            &fewest
        }
        false => order,
    };
    run.sort_by(|(ka, a), (kb, b)| {
        let by_keys = order.iter().map(|&i| a.values.get(i).cmp(&b.values.get(i)));
        by_keys.fold(std::cmp::Ordering::Equal, std::cmp::Ordering::then).then_with(|| ka.cmp(kb))
    });
    let count = run.len().div_ceil(MAX_PER_MANIFEST);
    let size = run.len().div_ceil(count);
    let mut out = Vec::with_capacity(count);
    let mut rest = run.into_iter().peekable();
    while rest.peek().is_some() {
        out.push(rest.by_ref().take(size).collect());
    }
    out
}

/// How to tile a group of manifests written in arrival order, from their bounds alone: the
/// keys on which most pairs of them overlap (each day's manifest spans every instance) come
/// first, then the keys on which they are apart (each holds its own day). `None` when no key
/// separates them or none overlaps: re-sorting would not narrow what a filter reads.
pub fn tile_order(group: &[ManifestRef]) -> Option<Vec<bool>> {
    let width = group.first()?.bounds.len();
    let pairs = group.len() * (group.len() - 1) / 2;
    if pairs == 0 {
        return None;
    }
    let overlapping = |i: usize| {
        let ranges: Vec<(&str, &str)> =
            group.iter().filter_map(|m| m.bounds.get(i)).map(|b| (b.text_min.as_str(), b.text_max.as_str())).collect();
        let mut count = 0;
        for (a, x) in ranges.iter().enumerate() {
            count += ranges[a + 1..].iter().filter(|y| x.0 <= y.1 && y.0 <= x.1).count();
        }
        2 * count > pairs
    };
    let wide: Vec<bool> = (0..width).map(overlapping).collect();
    (wide.iter().any(|w| *w) && wide.iter().any(|w| !*w)).then_some(wide)
}

/// The key order of a tile of `partitions`: the keys marked `wide` first, each part with the
/// keys of fewest distinct values first.
pub fn tile_keys(partitions: &[&PartitionState], wide: &[bool]) -> Vec<usize> {
    fewest_values_first(partitions, wide.len(), wide)
}

/// Key indices `0..width` ordered by `first` (those marked come first), then by how many
/// distinct values they take in `partitions`, fewest first.
fn fewest_values_first(partitions: &[&PartitionState], width: usize, first: &[bool]) -> Vec<usize> {
    let distinct =
        |i: usize| partitions.iter().map(|p| p.values.get(i)).collect::<std::collections::BTreeSet<_>>().len();
    let counts: Vec<usize> = (0..width).map(distinct).collect();
    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by_key(|&i| (!first.get(i).copied().unwrap_or(false), counts[i]));
    order
}

/// The manifests of a head as DataFusion pruning statistics: one container per manifest, one
/// column per partition key.
pub struct ManifestStats<'a> {
    manifests: &'a [ManifestRef],
    names: Vec<String>,
    types: Vec<DataType>,
}

impl<'a> ManifestStats<'a> {
    /// Statistics of `manifests` for partition keys `names` of types `types`.
    pub fn new(manifests: &'a [ManifestRef], names: Vec<String>, types: Vec<DataType>) -> ManifestStats<'a> {
        ManifestStats { manifests, names, types }
    }

    fn key(&self, column: &Column) -> Option<usize> {
        self.names.iter().position(|n| n == column.name())
    }

    fn bound(&self, column: &Column, pick: fn(&KeyBounds) -> Option<&String>) -> Option<ArrayRef> {
        let i = self.key(column)?;
        let text: StringArray =
            self.manifests.iter().map(|m| m.bounds.get(i).and_then(pick).map(String::as_str)).collect();
        cast_with_options(&text, &self.types[i], &CastOptions { safe: false, ..CastOptions::default() }).ok()
    }
}

impl PruningStatistics for ManifestStats<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, |b| b.min.as_ref())
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, |b| b.max.as_ref())
    }

    fn num_containers(&self) -> usize {
        self.manifests.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let i = self.key(column)?;
        let counts: UInt64Array = self.manifests.iter().map(|m| m.bounds.get(i).map(|b| b.nulls)).collect();
        Some(std::sync::Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        // Containers are manifests and "rows" their partitions: what null counts are counted in.
        let counts: UInt64Array = self.manifests.iter().map(|m| Some(m.partitions)).collect();
        Some(std::sync::Arc::new(counts))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(value: &str) -> (String, PartitionState) {
        let state = PartitionState {
            values: vec![value.to_string()],
            location: format!("t/p={value}/"),
            files: vec![],
            version: 1,
        };
        (format!("p={value}"), state)
    }

    #[test]
    fn bounds_follow_the_key_type_not_the_text() {
        let run: Vec<_> = ["10", "9", "", "100"].iter().map(|v| partition(v)).collect();
        let described = ManifestRef::describe("m".into(), &["p".into()], &[DataType::Int64], &run);
        let bounds = &described.bounds[0];
        assert_eq!((bounds.min.as_deref(), bounds.max.as_deref(), bounds.nulls), (Some("9"), Some("100"), 1));
        let text = ManifestRef::describe("m".into(), &["p".into()], &[DataType::Utf8], &run);
        assert_eq!((text.bounds[0].min.as_deref(), text.bounds[0].max.as_deref()), (Some("10"), Some("9")));
    }

    #[test]
    fn a_value_not_of_the_type_gives_no_bounds() {
        let run: Vec<_> = ["1", "x"].iter().map(|v| partition(v)).collect();
        let described = ManifestRef::describe("m".into(), &["p".into()], &[DataType::Int64], &run);
        assert_eq!(described.bounds[0].min, None);
    }

    #[test]
    fn chunks_are_even_and_bounded() {
        let run: Vec<_> = (0..2049).map(|i| partition(&format!("{i:05}"))).collect();
        let sizes: Vec<usize> = chunks(run).iter().map(Vec::len).collect();
        assert_eq!(sizes, [683, 683, 683]);
        assert!(chunks(Vec::new()).is_empty());
    }

    #[test]
    fn chunks_group_the_keys_with_fewest_values_first() {
        let two = |instance: usize, day: usize| {
            let values = vec![format!("db-{instance:04}"), format!("2026-01-{day:02}")];
            let state = PartitionState { values, location: String::new(), files: vec![], version: 1 };
            (format!("instance=db-{instance:04}/day=2026-01-{day:02}"), state)
        };
        // Three days of 1,000 instances: one manifest per day, not per range of instances.
        let run: Vec<_> = (0..1000).flat_map(|i| (1..=3).map(move |d| two(i, d))).collect();
        let chunked = chunks(run);
        let days: Vec<Vec<&str>> = chunked
            .iter()
            .map(|chunk| {
                let mut days: Vec<&str> = chunk.iter().map(|(_, p)| p.values[1].as_str()).collect();
                days.dedup();
                days
            })
            .collect();
        assert_eq!(days, [["2026-01-01"], ["2026-01-02"], ["2026-01-03"]]);
    }

    #[test]
    fn days_across_instances_tile_by_instance_first() {
        let day = |d: usize| {
            let run: Vec<_> = (0..300)
                .map(|i| {
                    let values = vec![format!("db-{i:04}"), format!("2026-01-{d:02}")];
                    (
                        format!("{values:?}"),
                        PartitionState { values, location: String::new(), files: vec![], version: 1 },
                    )
                })
                .collect();
            ManifestRef::describe(
                "m".into(),
                &["instance".into(), "day".into()],
                &[DataType::Utf8, DataType::Date32],
                &run,
            )
        };
        let days: Vec<ManifestRef> = (1..=COMPACT_FANOUT).map(day).collect();
        assert_eq!(tile_order(&days), Some(vec![true, false]), "instances overlap, days are apart");
        let same: Vec<ManifestRef> = (0..COMPACT_FANOUT).map(|_| day(1)).collect();
        assert_eq!(tile_order(&same), None, "overlapping on every key: nothing to narrow");
        assert_eq!(tile_order(&days[..1]), None);
    }
}
