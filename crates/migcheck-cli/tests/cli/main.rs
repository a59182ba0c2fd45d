//! The CLI's tests: the real `migcheck` binary against real SQLite files and
//! a real PostgreSQL server, in one test binary (one link of the world, and
//! the long scenarios run beside the short ones instead of after them).
//!
//! Each module is one subject and hands its trials to `main`, named
//! `module::test`: `cargo test -p migcheck-cli --test cli -- squash::` runs one
//! subject. The PostgreSQL trials are ignored, with the reason printed once,
//! when there is no server (`migcheck_test_support::pg`); in CI that fails.

mod bad_input;
mod commands;
mod faults;
mod fleet;
mod io_errors;
mod layouts;
mod mysql_faults;
mod pg_faults;
mod run;
mod squash;
mod walkthrough;

use std::sync::OnceLock;

use libtest_mimic::{Arguments, Trial};
use migcheck_test_support::pg;

/// `#[test]`-style functions (they fail by panicking) as trials named
/// `module::function`.
#[macro_export]
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        vec![$($crate::test(module_path!(), stringify!($test), $test, false)),*]
    };
}

/// As `tests!`, for trials that need the PostgreSQL server: ignored without.
#[macro_export]
macro_rules! postgres_tests {
    ($($test:ident),* $(,)?) => {
        vec![$($crate::test(module_path!(), stringify!($test), $test, true)),*]
    };
}

/// One trial: `test` under `module::name`, ignored when it needs PostgreSQL
/// and there is none.
pub fn test(module: &str, name: &str, test: fn(), needs_server: bool) -> Trial {
    test_needing(module, name, test, needs_server, &[])
}

/// As [`test`], for a trial that also runs a tool `.ci/run` provides (the
/// other migrators' runners, the report validators), named by `variables`:
/// ignored outside CI while one is not set; in CI it runs, and fails
/// saying what is missing.
pub fn test_needing(module: &str, name: &str, test: fn(), needs_server: bool, variables: &[&str]) -> Trial {
    let module = module.split_once("::").map_or(module, |(_, inner)| inner);
    let missing = std::env::var_os("CI").is_none() && variables.iter().any(|v| std::env::var_os(v).is_none());
    Trial::test(format!("{module}::{name}"), move || {
        test();
        Ok(())
    })
    .with_ignored_flag(missing || (needs_server && no_server().is_some()))
}

/// Why there is no PostgreSQL server for the tests, or `None` when there is
/// one (or when the trials are only listed).
pub fn no_server() -> Option<&'static str> {
    NO_SERVER.get().and_then(|why| why.as_deref())
}

static NO_SERVER: OnceLock<Option<String>> = OnceLock::new();

/// The test server's URL, for a trial that `postgres_tests!` let run.
pub fn server() -> String {
    pg::server().expect("a PostgreSQL trial runs only with a server")
}

fn main() {
    let mut args = Arguments::from_args();
    // Most trials wait on what they run (the binary, a server, a restart)
    // rather than compute: three per core, unless told otherwise.
    if args.test_threads.is_none() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        args.test_threads = Some(3 * cores);
    }
    let why = if args.list { None } else { pg::server().err() };
    if let Some(why) = &why {
        eprintln!("PostgreSQL tests ignored: {why}");
    }
    NO_SERVER.set(why).expect("set once");
    // A directory outside every bad-input case's, for the cases that link to
    // a file there.
    let outside = tempfile::tempdir().unwrap();
    // The longest first (trials start in this order), so that the short
    // ones fill the other threads while they run.
    let mut trials = pg_faults::trials();
    trials.extend(mysql_faults::trials());
    trials.extend(io_errors::trials());
    trials.extend(faults::trials());
    trials.extend(fleet::trials());
    trials.extend(squash::trials());
    trials.extend(layouts::trials());
    trials.extend(walkthrough::trials());
    trials.extend(commands::trials());
    trials.extend(bad_input::trials(outside.path()));
    let conclusion = libtest_mimic::run(&args, trials);
    drop(outside);
    conclusion.exit();
}
