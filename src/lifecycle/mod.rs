//! Data lifecycle: what happens to data after it is written.
//!
//! - [`archive`]: moves partitions older than an age to cheaper storage (an S3 storage class,
//!   or an archive directory), out of the live table in one commit.
//! - [`restore`]: makes a date range of archived partitions readable again for a while, as
//!   `<db>.<table>__restored`.
//! - [`retention`]: drops the partitions older than a table's retention, in one commit.
//! - [`rules`]: the S3 lifecycle rules the registry implies, set beside the bucket's others.
//! - [`vacuum`]: applies retention, then removes snapshots older than the retention window and the files no kept
//!   snapshot names (killed and losing writers, superseded partitions, staging leftovers).
//!
//! Domain code: handed the catalog and options, it reports through return values.

pub mod archive;
pub mod restore;
pub mod retention;
pub mod rules;
pub mod vacuum;

pub use vacuum::{TableVacuum, VacuumError, VacuumOptions, vacuum};
