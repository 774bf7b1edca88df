//! Fuzzing on stable Rust: every parser of untrusted input run on mutations of the real
//! fixtures and on arbitrary bytes, checking that nothing panics, hangs or is lost.
//!
//! - [`mutate`]: the seeded input generator (mutations of the seeds, arbitrary bytes).
//! - [`runner`]: runs a target within a budget, catching panics, broken properties and hangs.
//! - [`targets`]: the targets and the property each checks.
//!
//! The suite ([`crate::fuzzing`]) runs every target for a fixed number of inputs from a fixed seed, after replaying
//! the saved failing inputs in `tests/fixtures/fuzz/<target>/`. Longer runs use the bench
//! command (`cargo bench --bench fuzz -- --help`), which runs each target for a chosen time
//! and saves new failures to a crash directory.

#![allow(dead_code)]

pub mod mutate;
pub mod runner;
pub mod targets;
