//! What `migcheck::sql!` costs a crate's compilation, beside the same crate
//! with plain string literals: `cargo bench -p migcheck --bench queries [-- CALLS]`
//!
//! It writes a small crate whose `build.rs` runs
//! `migcheck_build::Build::new().expose_database().run()` over a realistic
//! history of 100 migrations (20 tables at head), and whose `src/main.rs`
//! holds CALLS (default 200) statements: selects, inserts with named
//! parameters, updates, aggregates. Then, in turn, it rebuilds the crate after
//! touching `src/main.rs` (the build script does not run again: a no-change
//! build of the code) with the statements written as
//!
//! - `sql`: `migcheck::sql!("…", params)`, each prepared on the kept database;
//! - `plain`: the same literals, unchecked (the raw cost of compiling the crate).
//!
//! Both variants have the same manifest, build script and embedded
//! migrations; only `src/main.rs` differs. The goal (issue 27): at most 1 ms
//! per call, and at most 10% more than `plain`, with 200 calls.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

#[path = "../crates/migcheck-core/benches/support/history.rs"]
mod history;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `i`th statement and what its call binds.
fn statement(i: usize) -> (String, &'static str) {
    // history::generate(_, 100) creates t1, t6, …, t96: id, name, created_at, note.
    let t = format!("t{}", 1 + 5 * (i % 20));
    match i % 4 {
        0 => (format!("SELECT id, name, note FROM {t} WHERE id = ?1"), "1"),
        1 => (format!("INSERT INTO {t} (name, note) VALUES (:name, :note)"), "name, note"),
        2 => (format!("UPDATE {t} SET note = ?1 WHERE id = ?2"), "2"),
        _ => (format!("SELECT count(*) AS n FROM {t} WHERE created_at > ?1 AND name LIKE ?2"), "2"),
    }
}

fn main_rs(calls: usize, checked: bool) -> String {
    let mut out = String::from("static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();\n\n");
    for i in 0..calls {
        let (sql, binds) = statement(i);
        if checked {
            let _ = writeln!(out, "const Q{i}: &str = migcheck::sql!({sql:?}, {binds});");
        } else {
            let _ = writeln!(out, "const Q{i}: &str = {sql:?};");
        }
    }
    out.push_str("\nconst ALL: &[&str] = &[");
    for i in 0..calls {
        let _ = write!(out, "Q{i}, ");
    }
    out.push_str(
        "];\n\nfn main() {\n    println!(\"{} migrations, {} bytes of SQL\", MIGRATIONS.len(), ALL.iter().map(|q| q.len()).sum::<usize>());\n}\n",
    );
    out
}

fn write_crate(dir: &Path) {
    let root = workspace();
    let root = root.display();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "bench_queries"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
migcheck = {{ path = "{root}", features = ["macros"] }}

[build-dependencies]
migcheck-build = {{ path = "{root}/crates/migcheck-build" }}

[profile.dev.package.libsqlite3-sys]
opt-level = 3

[workspace]
"#
        ),
    )
    .unwrap();
    fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    fs::write(dir.join("build.rs"), "fn main() {\n    migcheck_build::Build::new().expose_database().run();\n}\n")
        .unwrap();
    fs::create_dir_all(dir.join("src")).unwrap();
    let migrations = dir.join("migrations");
    fs::create_dir_all(&migrations).unwrap();
    history::generate(&migrations, 100);
}

/// One `cargo build`, timed from outside.
fn cargo_build(dir: &Path) -> Duration {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e"))
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env_remove("RUSTFLAGS");
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

fn main() {
    let calls = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200_usize);
    let tmp = tempfile::Builder::new().prefix("migcheck-bench-").tempdir().unwrap();
    let dir = tmp.path();
    write_crate(dir);
    let sources = [("sql", main_rs(calls, true)), ("plain", main_rs(calls, false))];
    // The first builds: dependencies, the cold check, both variants once.
    for (_, source) in &sources {
        fs::write(dir.join("src/main.rs"), source).unwrap();
        cargo_build(dir);
    }
    let mut best = [Duration::MAX; 2];
    for _ in 0..7 {
        for (k, (_, source)) in sources.iter().enumerate() {
            fs::write(dir.join("src/main.rs"), source).unwrap();
            fs::File::options()
                .append(true)
                .open(dir.join("src/main.rs"))
                .unwrap()
                .set_modified(SystemTime::now())
                .unwrap();
            best[k] = best[k].min(cargo_build(dir));
        }
    }
    let [sql, plain] = best;
    let extra = sql.saturating_sub(plain);
    println!("rebuilding a crate with {calls} statements after touching src/main.rs (best of 7)");
    println!("{:>12} {:>12} {:>7} {:>12}", "sql!", "plain", "ratio", "per call");
    println!(
        "{:>12} {:>12} {:>7.2} {:>12}   (goal: ratio <= 1.10, <= 1 ms per call)",
        format!("{sql:.1?}"),
        format!("{plain:.1?}"),
        sql.as_secs_f64() / plain.as_secs_f64(),
        format!("{:.3?}", extra / calls.max(1) as u32),
    );
}
