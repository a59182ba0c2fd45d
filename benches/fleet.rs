//! A fleet of SQLite tenant files, beside the raw cost of the same work on
//! the same number of threads, in one run: `cargo bench -p migcheck --bench fleet`
//! (`MIGCHECK_BENCH_TENANTS=1000` for a quicker run; 10,000 by default).
//!
//! - each tenant two migrations behind: `Migrations::upgrade_each` beside
//!   opening each file and, per migration, `BEGIN IMMEDIATE`, its SQL, the
//!   history row, `COMMIT`;
//! - every tenant at head: `upgrade_each` beside opening each file and
//!   reading the history's newest row.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use migcheck::{FleetOptions, Migration, Migrations, Mode, Script};
use rusqlite::{Connection, OpenFlags};

const MIGRATIONS: i64 = 10;

fn migrations() -> Migrations {
    Migrations::new(
        (1..=MIGRATIONS)
            .map(|v| {
                let sql = format!(
                    "CREATE TABLE t{v} (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO t{v} (name) VALUES ('tenant row {v}');"
                );
                Migration::new(v, format!("m{v}"), format!("{v:064x}"), format!("chain{v}"), Script::new(format!("m/{v}.sql"), sql, Mode::Transaction), None)
            })
            .collect(),
    )
}

/// `n` copies of a database at `version`, in a fresh directory.
fn tenants(root: &Path, name: &str, n: usize, version: i64) -> Vec<PathBuf> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.db");
    migrations().upgrade_to(&mut Connection::open(&template).unwrap(), version).unwrap();
    let bytes = std::fs::read(&template).unwrap();
    (0..n)
        .map(|i| {
            let path = dir.join(format!("t{i:05}.db"));
            std::fs::write(&path, &bytes).unwrap();
            path
        })
        .collect()
}

/// `work` on every path, on `jobs` threads taking the next path in turn.
fn on_threads(paths: &[PathBuf], jobs: usize, work: impl Fn(&Path) + Sync) -> Duration {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while let Some(p) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
                    work(p);
                }
            });
        }
    });
    start.elapsed()
}

fn open(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX).unwrap()
}

fn main() {
    let n: usize = std::env::var("MIGCHECK_BENCH_TENANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let jobs = std::thread::available_parallelism().map_or(1, |j| j.get());
    let dir = tempfile::tempdir().unwrap();
    let m = migrations();
    println!(
        "{:<52} {:>10} {:>10} {:>7}",
        format!("fleet of {n} SQLite files, {jobs} threads"),
        "migcheck",
        "raw",
        "ratio"
    );

    // Two migrations pending on every tenant.
    let ours_paths = tenants(dir.path(), "ours", n, MIGRATIONS - 2);
    let raw_paths = tenants(dir.path(), "raw", n, MIGRATIONS - 2);
    let pending: Vec<&Migration> = m.iter().filter(|x| x.version() > MIGRATIONS - 2).collect();
    let raw = on_threads(&raw_paths, jobs, |p| {
        let conn = open(p);
        for x in &pending {
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            conn.execute_batch(x.up().sql()).unwrap();
            conn.execute(
                "INSERT INTO migcheck_history (version, name, checksum, chain, applied_at, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)",
                rusqlite::params![x.version(), x.name(), x.checksum(), x.chain()],
            )
            .unwrap();
            conn.execute_batch("COMMIT").unwrap();
        }
    });
    let start = Instant::now();
    let report = m.upgrade_each(&ours_paths, &FleetOptions::default().jobs(jobs), |_| {});
    let ours = start.elapsed();
    assert!(report.is_ok() && report.upgraded().count() == n, "every tenant upgraded");
    row("2 pending migrations on each", ours, raw);

    // Every tenant at head (the fleet just upgraded), read again: the best
    // of five runs each, taking turns, so that neither has the warmer cache.
    let (mut ours, mut raw) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        raw = raw.min(on_threads(&raw_paths, jobs, |p| {
            let conn = open(p);
            let head: i64 = conn
                .query_row("SELECT version FROM migcheck_history ORDER BY version DESC LIMIT 1", [], |r| r.get(0))
                .unwrap();
            assert_eq!(head, MIGRATIONS);
        }));
        let start = Instant::now();
        let report = m.upgrade_each(&ours_paths, &FleetOptions::default().jobs(jobs), |_| {});
        ours = ours.min(start.elapsed());
        assert!(report.is_ok() && report.upgraded().count() == 0);
    }
    row("all at head (one indexed read each)", ours, raw);
}

fn row(label: &str, ours: Duration, raw: Duration) {
    println!(
        "{label:<52} {:>8.1}ms {:>8.1}ms {:>6.2}x",
        ours.as_secs_f64() * 1e3,
        raw.as_secs_f64() * 1e3,
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}
