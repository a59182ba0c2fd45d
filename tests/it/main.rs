//! One integration-test binary: the runtime migrator on real SQLite files, and
//! end-to-end builds of small crates whose `build.rs` runs the checker.

// The runtime and checker errors are large and rare (see the crates).
#![allow(clippy::result_large_err)]

mod build_script;
#[path = "../support/pg.rs"]
mod pg;
mod postgres;
mod runtime;
mod ui;
mod util;
