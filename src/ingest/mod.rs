//! Ingest: input files loaded into registry tables through the commit protocol.
//!
//! [`source`] resolves what the user named (paths, globs, directories, `s3://` URLs) into local
//! inputs; [`csv`] loads CSV files, with every row that does not fit the table's schema kept as
//! a reject beside the rows, in the same commit. Database logs have their own ingest in
//! [`crate::logs`].

pub mod csv;
pub mod source;
