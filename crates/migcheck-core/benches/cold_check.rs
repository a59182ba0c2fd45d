//! Cold check cost against the raw cost of the same work, in one run.
//!
//! `cargo bench -p migcheck-core --bench cold_check [-- 100 1000 5000]`
//!
//! For N realistic migrations (new tables with indexes and triggers, ALTER
//! TABLE ADD COLUMN, seed rows; one in five reversible), it times
//! - checker: `check::check` on a sealed directory, as a fresh `cargo build` runs it;
//! - raw: the same files read, SHA-256'd and run with `execute_batch` on an
//!   in-memory database, one transaction per file (down and up again for the
//!   reversible ones), with nothing else.
//!
//! and prints both and their ratio. The goal is a ratio of at most 1.2.
//!
//! Then, up to 1,000, the same history squashed ten migrations before its
//! end (`migcheck squash`): a cold check that proves the baseline, and one
//! after the replaced files are deleted, each beside the plain cold check.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use migcheck_core::check;

use migcheck_core::checksum::checksum;
use migcheck_core::config::Config;
use migcheck_core::seal::seal;

#[path = "support/history.rs"]
mod history;
use history::{generate, generate_views};

/// The raw work: read, hash, execute; nothing else.
fn raw(dir: &Path) {
    let mut files: Vec<(i64, String, bool)> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let version = name.split('_').next()?.parse().ok()?;
            (!name.ends_with(".down.sql") && name.ends_with(".sql")).then_some((version, name, false))
        })
        .collect();
    files.sort();
    for f in &mut files {
        f.2 = dir.join(f.1.replace(".up.sql", ".down.sql")).exists() && f.1.ends_with(".up.sql");
    }
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let run = |sql: &str| {
        conn.execute_batch("BEGIN").unwrap();
        conn.execute_batch(sql).unwrap();
        conn.execute_batch("COMMIT").unwrap();
    };
    for (_, name, reversible) in &files {
        let bytes = fs::read(dir.join(name)).unwrap();
        std::hint::black_box(checksum(&bytes));
        let up = String::from_utf8(bytes).unwrap();
        run(&up);
        if *reversible {
            let bytes = fs::read(dir.join(name.replace(".up.sql", ".down.sql"))).unwrap();
            std::hint::black_box(checksum(&bytes));
            run(&String::from_utf8(bytes).unwrap());
            run(&up);
        }
    }
}

fn time(reps: usize, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let start = Instant::now();
        f();
        best = best.min(start.elapsed());
    }
    best
}

fn main() {
    if std::env::var_os("SNAPSHOT_COST").is_some() {
        snapshot_cost();
        return;
    }
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100, 1000, 5000] } else { sizes };
    if std::env::var_os("VIEWS").is_some() {
        views(&sizes);
        return;
    }
    println!("cold check vs raw work (best of several runs; ratio goal <= 1.20)");
    println!("{:>6} {:>12} {:>12} {:>7}", "N", "checker", "raw", "ratio");
    for n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        fs::create_dir(&dir).unwrap();
        generate(&dir, n);
        let config = Config::new(&dir);
        seal(&config, false).unwrap_or_else(|d| panic!("{}", d[0].render()));
        let mut without_rows = config.clone();
        without_rows.data = false;
        let reps = if n <= 100 {
            20
        } else if n <= 1000 {
            5
        } else {
            2
        };
        // Interleave so that both see the same machine state.
        let (mut checker, mut raw_time, mut empty) = (Duration::MAX, Duration::MAX, Duration::MAX);
        let mut warnings = 0;
        for _ in 0..reps {
            raw_time = raw_time.min(time(1, || raw(&dir)));
            checker = checker.min(time(1, || {
                let report = check::check(&config);
                assert!(!report.has_errors(), "{}", report.errors().next().unwrap().render());
                warnings = report.warnings().count();
            }));
            empty = empty.min(time(1, || {
                let report = check::check(&without_rows);
                assert!(!report.has_errors(), "{}", report.errors().next().unwrap().render());
            }));
        }
        assert_eq!(warnings, 0, "the generated history is clean with rows too");
        println!(
            "{n:>6} {:>12} {:>12} {:>7.2}   cold, rows off (MIGCHECK_DATA=0)",
            format!("{:.1?}", empty),
            format!("{:.1?}", raw_time),
            empty.as_secs_f64() / raw_time.as_secs_f64()
        );
        println!(
            "{n:>6} {:>12} {:>12} {:>7.2}   cold, rows on vs rows off (goal <= 1.30)",
            format!("{:.1?}", checker),
            format!("{:.1?}", empty),
            checker.as_secs_f64() / empty.as_secs_f64()
        );
        incremental(&dir, n, reps);
        if n <= 1000 {
            squashed(&dir, n, reps, checker);
        }
    }
}

/// A view-heavy history (`VIEWS=1`): the cold check, rows on and off,
/// against the raw up, down and up of the same files. Goal: within 2x.
fn views(sizes: &[usize]) {
    println!("view-heavy history: cold check vs raw work (best of several runs; goal <= 2.0)");
    println!("{:>6} {:>12} {:>12} {:>7}", "N", "checker", "raw", "ratio");
    for &n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        fs::create_dir(&dir).unwrap();
        generate_views(&dir, n);
        let config = Config::new(&dir);
        seal(&config, false).unwrap_or_else(|d| panic!("{}", d[0].render()));
        let mut without_rows = config.clone();
        without_rows.data = false;
        let reps = if n <= 200 { 5 } else { 2 };
        let (mut checker, mut raw_time, mut empty) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..reps {
            raw_time = raw_time.min(time(1, || raw(&dir)));
            checker = checker.min(time(1, || {
                let report = check::check(&config);
                assert!(!report.has_errors(), "{}", report.errors().next().unwrap().render());
            }));
            empty = empty.min(time(1, || {
                let report = check::check(&without_rows);
                assert!(!report.has_errors(), "{}", report.errors().next().unwrap().render());
            }));
        }
        for (what, t) in [("cold, rows off", empty), ("cold, rows on", checker)] {
            println!(
                "{n:>6} {:>12} {:>12} {:>7.2}   {what}",
                format!("{t:.1?}"),
                format!("{raw_time:.1?}"),
                t.as_secs_f64() / raw_time.as_secs_f64()
            );
        }
    }
}

/// The cold check of the same history with a baseline at its 11th newest
/// migration: proved (the replaced files there), and started from (deleted).
fn squashed(dir: &Path, n: usize, reps: usize, cold: Duration) {
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("migrations");
    fs::create_dir(&copy).unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let config = Config::new(&copy);
    let report = check::check(&config);
    let v = report.migrations[n - 11].version;
    let sql = check::baseline_sql(&config, &report, v, true).unwrap_or_else(|d| panic!("{}", d.render()));
    fs::write(copy.join(format!("{v}_baseline.baseline.sql")), sql).unwrap();
    migcheck_core::seal::seal_baseline(&config).unwrap_or_else(|d| panic!("{}", d[0].render()));
    let clean = |config: &Config| {
        let report = check::check(config);
        assert!(!report.has_errors(), "{}", report.errors().next().unwrap().render());
        assert_eq!(report.warnings().count(), 0);
    };
    let proving = time(reps, || clean(&config));
    for m in &report.migrations[..n - 10] {
        fs::remove_file(&m.up.file.path).unwrap();
        if let Some(down) = &m.down {
            fs::remove_file(&down.file.path).unwrap();
        }
    }
    let from_baseline = time(reps, || clean(&config));
    for (what, t) in [("cold, a baseline at n-10 proved", proving), ("cold, its replaced files deleted", from_baseline)]
    {
        println!(
            "{n:>6} {:>12} {:>12} {:>7.2}   {what} (vs cold)",
            format!("{t:.1?}"),
            format!("{cold:.1?}"),
            t.as_secs_f64() / cold.as_secs_f64()
        );
    }
}

/// A build after appending one migration, then after editing it: the checker
/// with its cache, beside the raw work (read and hash every file, restore the
/// cached database, run the new migration).
fn incremental(dir: &Path, n: usize, reps: usize) {
    let cache_dir = dir.parent().unwrap().join("out");
    let mut config = Config::new(dir);
    config.cache_dir = Some(cache_dir.clone());
    assert!(!check::check(&config).has_errors());
    let new = dir.join(format!("{}_appended.sql", 20260000000000_i64 + n as i64 + 1));
    for (what, sql) in [
        ("append one", "CREATE TABLE appended (id INTEGER PRIMARY KEY, v TEXT);\n"),
        ("edit unsealed head", "CREATE TABLE appended (id INTEGER PRIMARY KEY, v TEXT, w TEXT);\n"),
    ] {
        fs::write(&new, sql).unwrap();
        let (mut checker, mut raw_time) = (Duration::MAX, Duration::MAX);
        // Where the fastest check's time went, phase by phase (the report's
        // timings, as `MIGCHECK_TIMINGS=1` prints them in a build).
        let mut phases = Vec::new();
        for _ in 0..reps.max(3) {
            raw_time = raw_time.min(time(1, || raw_incremental(dir, &cache_dir, &new)));
            let start = Instant::now();
            let report = check::check(&config);
            let took = start.elapsed();
            assert!(report.from_cache && !report.has_errors());
            if took < checker {
                (checker, phases) = (took, report.timings);
            }
        }
        println!(
            "{n:>6} {:>12} {:>12} {:>7.2}   incremental: {what}",
            format!("{:.1?}", checker),
            format!("{:.1?}", raw_time),
            checker.as_secs_f64() / raw_time.as_secs_f64()
        );
        let phases: Vec<String> = phases.iter().map(|(phase, t)| format!("{phase} {t:.1?}")).collect();
        println!("{:>6}   phases: {}", "", phases.join(" · "));
    }
    fs::remove_file(&new).unwrap();
}

fn raw_incremental(dir: &Path, cache_dir: &Path, new: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        std::hint::black_box(checksum(&bytes));
    }
    let bytes = fs::read(migcheck_core::engine::sqlite::cache::path(cache_dir)).unwrap();
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    // The database image, then a one-line trailer.
    // The cache file is a one-line header, then the database image.
    let start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let image = &bytes[start..];
    let size = image.len();
    conn.deserialize_read_exact(rusqlite::MAIN_DB, image, size, false).unwrap();
    conn.execute_batch(&fs::read_to_string(new).unwrap()).unwrap();
}

#[allow(dead_code)]
fn snapshot_cost() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    for i in 0..1500 {
        conn.execute_batch(&format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, note TEXT); CREATE INDEX t{i}_name ON t{i} (name);")).unwrap();
    }
    let start = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(migcheck_core::engine::sqlite::schema::Snapshot::read(&conn, &[]).unwrap());
    }
    println!("snapshot of 3000 objects: {:?}", start.elapsed() / 100);
    let start = Instant::now();
    for _ in 0..100 {
        std::hint::black_box(migcheck_core::engine::sqlite::schema::Snapshot::text(&conn).unwrap());
    }
    println!("schema text of 3000 objects: {:?}", start.elapsed() / 100);
}
