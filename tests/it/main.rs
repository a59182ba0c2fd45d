//! One integration-test binary: the runtime migrator on real SQLite files, and
//! end-to-end builds of small crates whose `build.rs` runs the checker.
//!
//! A libtest-mimic harness (`harness = false`): the end-to-end check cases are
//! one test each, generated from their table.

// The runtime and checker errors are large and rare (see the crates).
#![allow(clippy::result_large_err)]

mod build_script;
mod fleet;
use migcheck_test_support::pg;
mod mysql;
mod postgres;
mod runtime;
mod sqlx_macros;
mod util;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    // The sqlx fixtures compile the longest: they start first.
    let mut trials = sqlx_macros::trials();
    trials.extend(build_script::trials());
    trials.extend(fleet::trials());
    trials.extend(postgres::trials());
    trials.extend(mysql::trials());
    trials.extend(runtime::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    build_script::cleanup();
    conclusion.exit();
}
