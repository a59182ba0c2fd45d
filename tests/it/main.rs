//! One integration-test binary: the runtime migrator on real SQLite files, and
//! end-to-end builds of small crates whose `build.rs` runs the checker.

mod build_script;
mod postgres;
mod runtime;
mod ui;
mod util;
