//! The build script as users run it, beside the raw cost of the same work in
//! the same run: `cargo bench -p migcheck --bench build_script [-- N ...]`
//!
//! For each N (default 5,000) it writes a small crate whose `build.rs` runs
//! `migcheck_build::Build::new().run()` over N realistic, sealed migrations
//! (the history of `crates/migcheck-core/benches/support/history.rs`), builds
//! it once with the real `cargo` (the cold check, which fills the cache in
//! `OUT_DIR`), appends one migration, and then times builds in turn:
//!
//! - migcheck: the build script's `Build::run()`;
//! - raw: the same build script doing the same work plainly: read
//!   and SHA-256 every file in the directory, restore the cached scratch
//!   database with `sqlite3_deserialize`, run the new migration.
//!
//! Both are measured inside the build script, compiled the way Cargo compiles
//! build scripts (the `dev` profile's `build-override`: no optimisation), once
//! with the one profile line the README asks every user to add (`libsqlite3-sys`
//! at `opt-level = 3`), once with the lines it suggests for long histories
//! (`migcheck-core` and `sha2` optimised too). Each build is triggered by
//! touching the new migration.
//! `BENCH_KEEP=1` keeps the crate (to profile its build script).
//! The goal (issue 7): at most 100 ms after appending one migration to 5,000
//! sealed ones.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use migcheck_core::config::Config;
use migcheck_core::seal::seal;

#[path = "../crates/migcheck-core/benches/support/history.rs"]
mod history;

const BUILD_RS: &str = r#"use std::io::Write as _;
use std::time::Instant;

fn main() {
    if std::env::var_os("BENCH_COLD").is_some() {
        let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
        let _ = std::fs::remove_dir_all(out.join("migcheck"));
    }
    let started = Instant::now();
    let raw = std::env::var_os("BENCH_RAW").is_some();
    if raw {
        raw_work();
        println!("cargo::rerun-if-changed=migrations");
    } else {
        migcheck_build::Build::new().run();
    }
    let elapsed = started.elapsed();
    if let Some(path) = std::env::var_os("BENCH_TIMES") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(f, "{} {}", if raw { "raw" } else { "migcheck" }, elapsed.as_nanos()).unwrap();
    }
}

/// Read and hash every file, restore the cached database, run the newest migration.
fn raw_work() {
    use sha2::Digest as _;
    let mut newest = (0_i64, std::path::PathBuf::new());
    for entry in std::fs::read_dir("migrations").unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        std::hint::black_box(sha2::Sha256::digest(&bytes));
        let version = path.file_name().unwrap().to_str().unwrap().split('_').next().unwrap().parse().unwrap_or(0);
        if version > newest.0 {
            newest = (version, path);
        }
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let bytes = std::fs::read(out.join("migcheck/scratch-cache.sqlite")).unwrap();
    // The cache file is a one-line header, then the database image.
    let start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let image = &bytes[start..];
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, image, image.len(), false).unwrap();
    let sql = std::fs::read_to_string(&newest.1).unwrap();
    conn.execute_batch(&format!("BEGIN;\n{sql}\nCOMMIT;")).unwrap();
}
"#;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate: `build.rs` above, a `main.rs` that embeds the migrations.
fn write_crate(dir: &Path, name: &str, n: usize, profile: &str) {
    let root = workspace();
    let root = root.display();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
migcheck = {{ path = "{root}" }}

[build-dependencies]
migcheck-build = {{ path = "{root}/crates/migcheck-build" }}
rusqlite = {{ version = "0.43", default-features = false, features = ["bundled", "serialize"] }}
sha2 = {{ version = "0.11", default-features = false }}

{profile}
[workspace]
"#
        ),
    )
    .unwrap();
    fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    fs::write(dir.join("build.rs"), BUILD_RS).unwrap();
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(
        dir.join("src/main.rs"),
        "static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();\n\nfn main() {\n    println!(\"{}\", MIGRATIONS.len());\n}\n",
    )
    .unwrap();
    let migrations = dir.join("migrations");
    fs::create_dir_all(&migrations).unwrap();
    history::generate(&migrations, n);
    seal(&Config::new(&migrations), false).unwrap_or_else(|d| panic!("{}", d[0].render()));
}

fn cargo_build(dir: &Path, env: &[(&str, &Path)], raw: bool) {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e"))
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env_remove("RUSTFLAGS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if raw {
        cmd.env("BENCH_RAW", "1");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The times the build script recorded for `mode`, in order.
fn times(path: &Path, mode: &str) -> Vec<Duration> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(m, _)| *m == mode)
        .map(|(_, ns)| Duration::from_nanos(ns.parse().unwrap()))
        .collect()
}

/// The profiles compared: what the README asks every user to add, and what it
/// suggests for long histories.
const VARIANTS: [(&str, &str, &str); 2] = [
    ("readme", "dev, libsqlite3-sys at opt-level 3 (README)", "[profile.dev.package.libsqlite3-sys]\nopt-level = 3\n"),
    (
        "optimised",
        "dev, migcheck-core and sha2 also at opt-level 3",
        "[profile.dev.package.libsqlite3-sys]\nopt-level = 3\n[profile.dev.package.migcheck-core]\nopt-level = 3\n[profile.dev.package.sha2]\nopt-level = 3\n",
    ),
];

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![5000] } else { sizes };
    println!("build script after appending one migration (best of 5; goal <= 100 ms at 5,000)");
    println!("{:>6} {:>12} {:>12} {:>7}   profile", "N", "migcheck", "raw", "ratio");
    for n in sizes {
        for (key, label, profile) in VARIANTS {
            measure(n, key, label, profile);
        }
    }
}

fn measure(n: usize, key: &str, label: &str, profile: &str) {
    let tmp = tempfile::Builder::new().prefix("migcheck-bench-").tempdir().unwrap();
    let name = format!("bench_build_script_{key}_{n}");
    write_crate(tmp.path(), &name, n, profile);
    let times_file = tmp.path().join("times");
    let env = [("BENCH_TIMES", times_file.as_path())];
    // The cold check: runs every migration and fills the cache.
    cargo_build(tmp.path(), &[("BENCH_TIMES", times_file.as_path()), ("BENCH_COLD", Path::new("1"))], false);
    let dir = if std::env::var_os("BENCH_KEEP").is_some() {
        let kept = tmp.keep();
        println!("kept {} (BENCH_KEEP)", kept.display());
        Box::leak(Box::new(kept)).as_path()
    } else {
        tmp.path()
    };
    let new = dir.join(format!("migrations/{}_appended.sql", 20260000000000_i64 + n as i64 + 1));
    fs::write(&new, "CREATE TABLE appended (id INTEGER PRIMARY KEY, v TEXT);\n").unwrap();
    for _ in 0..5 {
        for raw in [false, true] {
            // A new modification time re-runs the build script.
            fs::File::options().append(true).open(&new).unwrap().set_modified(SystemTime::now()).unwrap();
            cargo_build(dir, &env, raw);
        }
    }
    let (checker, raw) = (times(&times_file, "migcheck"), times(&times_file, "raw"));
    // The first migcheck time is the cold check.
    assert_eq!((checker.len(), raw.len()), (6, 5), "the build script did not run on every build");
    let best = |t: &[Duration]| t.iter().copied().min().unwrap();
    let (checker_best, raw_best) = (best(&checker[1..]), best(&raw));
    println!(
        "{n:>6} {:>12} {:>12} {:>7.2}   {label} (cold check {:.1?})",
        format!("{checker_best:.1?}"),
        format!("{raw_best:.1?}"),
        checker_best.as_secs_f64() / raw_best.as_secs_f64(),
        checker[0]
    );
}
