//! Data lifecycle: what happens to data after it is written.
//!
//! - [`retention`]: drops the partitions older than a table's retention, in one commit.
//! - [`vacuum`]: applies retention, then removes snapshots older than the retention window and the files no kept
//!   snapshot names (killed and losing writers, superseded partitions, staging leftovers).
//!
//! Domain code: handed the catalog and options, it reports through return values.

pub mod retention;
pub mod vacuum;

pub use vacuum::{TableVacuum, VacuumError, VacuumOptions, vacuum};
