//! Black-box tests of glaux, compiled as one test binary: the real binary on real files, a
//! pseudo-terminal for the REPL, and moto's server on loopback for S3 and Glue.

mod aurora;
mod support;

mod cli;
mod commits;
mod glue;
mod interop;
mod jobs;
mod repl;
mod s3;
