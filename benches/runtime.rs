//! Runtime costs beside the raw cost of the same work, in one run:
//! `cargo bench -p migcheck --bench runtime`
//!
//! - start-up with nothing to do, at 10, 1,000 and 10,000 applied migrations
//!   on a file database, beside one indexed read of the history's head;
//! - applying 1,000 pending migrations, one transaction each and in batch
//!   mode, beside `execute_batch` of the same SQL in one transaction;
//! - a fresh database of 1,000 migrations squashed at 990 (the baseline
//!   written and proved by the checker, then 10 migrations), beside replaying
//!   all 1,000, one transaction each (goal: at most 1/10 of the time);
//! - with `MIGCHECK_BENCH_SQLX` naming the runner `benches/sqlx-compare/run`
//!   builds, sqlx's `Migrator` applying the same 1,000 migrations beside
//!   migcheck's per-migration mode.

use std::time::{Duration, Instant};

use migcheck::{Baseline, Migration, Migrations, Mode, Script, UpgradeOptions};
use rusqlite::Connection;

fn migrations(n: usize) -> Migrations {
    Migrations::new(
        (1..=n as i64)
            .map(|v| {
                let sql = if v % 10 == 1 {
                    format!("CREATE TABLE t{v} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);\nCREATE INDEX t{v}_name ON t{v} (name);")
                } else {
                    let t = v - (v - 1) % 10;
                    format!("ALTER TABLE t{t} ADD COLUMN c{v} INTEGER NOT NULL DEFAULT 0;\nINSERT INTO t{t} (name) VALUES ('row {v}');")
                };
                Migration::new(v, format!("m{v}"), format!("{v:064x}"), format!("chain{v}"), Script::new(format!("m/{v}.sql"), sql, Mode::Transaction), None)
            })
            .collect(),
    )
}

fn best(reps: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..reps).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("{:<44} {:>12} {:>12} {:>7}", "runtime", "migcheck", "raw", "ratio");
    for n in [10, 1_000, 10_000] {
        let path = dir.path().join(format!("noop{n}.db"));
        let m = migrations(n);
        let mut conn = Connection::open(&path).unwrap();
        m.upgrade_with(&mut conn, &UpgradeOptions::default().batch(true), |_, _, _| {}).unwrap();
        let ours = best(200, || {
            let start = Instant::now();
            assert!(m.upgrade(&mut conn).unwrap().applied.is_empty());
            start.elapsed()
        });
        let raw = best(200, || {
            let start = Instant::now();
            let head: (i64, String) = conn
                .prepare_cached("SELECT version, chain FROM migcheck_history ORDER BY version DESC LIMIT 1")
                .unwrap()
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap();
            std::hint::black_box(head);
            start.elapsed()
        });
        row(&format!("start-up, nothing to do, {n} applied"), ours, raw);
    }
    let n = 1_000;
    let m = migrations(n);
    let raw = best(3, || {
        let path = dir.path().join(format!("raw{}.db", rand()));
        let conn = Connection::open(&path).unwrap();
        let all: String = m.iter().map(|m| m.up().sql()).collect::<Vec<_>>().join("\n");
        let start = Instant::now();
        conn.execute_batch(&format!("BEGIN;\n{all}\nCOMMIT;")).unwrap();
        start.elapsed()
    });
    // The floor of per-migration mode: one durable commit per migration,
    // each with its history row.
    let raw_each = best(3, || {
        let path = dir.path().join(format!("raweach{}.db", rand()));
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE history (version INTEGER PRIMARY KEY, checksum TEXT NOT NULL)").unwrap();
        let start = Instant::now();
        for m in m.iter() {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
            tx.execute_batch(m.up().sql()).unwrap();
            tx.prepare_cached("INSERT INTO history VALUES (?1, ?2)")
                .unwrap()
                .execute((m.version(), m.checksum()))
                .unwrap();
            tx.commit().unwrap();
        }
        start.elapsed()
    });
    let (mut per_migration, mut batch_mode) = (Duration::ZERO, Duration::ZERO);
    for (what, batch, raw) in
        [("apply 1,000 pending, one transaction each", false, raw_each), ("apply 1,000 pending, batch mode", true, raw)]
    {
        let ours = best(3, || {
            let path = dir.path().join(format!("apply{}.db", rand()));
            let mut conn = Connection::open(&path).unwrap();
            let start = Instant::now();
            m.upgrade_with(&mut conn, &UpgradeOptions::default().batch(batch), |_, _, _| {}).unwrap();
            start.elapsed()
        });
        if batch {
            batch_mode = ours;
        } else {
            per_migration = ours;
        }
        row(what, ours, raw);
    }
    println!(
        "(raw for applying, on a file database: one transaction per migration with its history row, and the same \
         SQL in one execute_batch transaction)"
    );
    squashed(dir.path(), &m, per_migration);
    match std::env::var_os("MIGCHECK_BENCH_SQLX") {
        Some(runner) => {
            println!();
            println!("{:<44} {:>12} {:>12} {:>7}", "beside sqlx 0.9's Migrator", "migcheck", "sqlx", "speed-up");
            let wal = best(3, || {
                let path = dir.path().join(format!("wal{}.db", rand()));
                let mut conn = Connection::open(&path).unwrap();
                conn.pragma_update(None, "journal_mode", "WAL").unwrap();
                let start = Instant::now();
                m.upgrade(&mut conn).unwrap();
                start.elapsed()
            });
            for (what, ours, journal) in [
                ("apply 1,000 pending, one transaction each", per_migration, "delete"),
                ("the same, both in WAL mode", wal, "wal"),
                ("migcheck in batch mode", batch_mode, "delete"),
            ] {
                let sqlx = sqlx_migrator(&runner, &m, dir.path(), journal);
                println!(
                    "{what:<44} {:>12} {:>12} {:>7.2}",
                    format!("{ours:.1?}"),
                    format!("{sqlx:.1?}"),
                    sqlx.as_secs_f64() / ours.as_secs_f64()
                );
            }
            println!("(sqlx commits twice per migration: the migration with its history row, then its execution time)");
        }
        None => println!("(sqlx's Migrator on the same migrations: run benches/sqlx-compare/run)"),
    }
}

/// A fresh database from a baseline at 990 (written from the migrations by
/// the checker, as `migcheck squash` does, and proved by its check) and the
/// 10 migrations after it, beside replaying all 1,000 one transaction each.
fn squashed(scratch: &std::path::Path, m: &Migrations, replay: Duration) {
    let dir = scratch.join("squash");
    std::fs::create_dir_all(&dir).unwrap();
    for m in m.iter() {
        std::fs::write(dir.join(format!("{}_{}.sql", m.version(), m.name())), m.up().sql()).unwrap();
    }
    let config = migcheck_core::config::Config::new(&dir);
    migcheck_core::seal::seal(&config, false).unwrap_or_else(|d| panic!("{}", d[0].render()));
    let report = migcheck_core::check::check(&config);
    let sql =
        migcheck_core::check::baseline_sql(&config, &report, 990, true).unwrap_or_else(|d| panic!("{}", d.render()));
    std::fs::write(dir.join("990_baseline.baseline.sql"), &sql).unwrap();
    let report = migcheck_core::check::check(&config);
    assert!(!report.has_errors(), "the baseline is proved: {:?}", report.errors().next());
    let chain = m.get(990).unwrap().chain().to_owned();
    let with_baseline = Migrations::new(m.iter().cloned().collect()).with_baseline(Baseline::new(
        990,
        "baseline",
        "0".repeat(64),
        chain,
        Script::new("squash/990_baseline.baseline.sql", sql, Mode::Transaction),
    ));
    let ours = best(3, || {
        let path = scratch.join(format!("squashed{}.db", rand()));
        let mut conn = Connection::open(&path).unwrap();
        let start = Instant::now();
        let report = with_baseline.upgrade(&mut conn).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(report.applied.len(), 11, "the baseline and 10 migrations");
        elapsed
    });
    println!(
        "{:<44} {:>12} {:>12} {:>7.2}",
        "fresh database, 1,000 squashed at 990",
        format!("{ours:.1?}"),
        format!("{replay:.1?}"),
        ours.as_secs_f64() / replay.as_secs_f64()
    );
    println!("(raw for the squash: the same 1,000 replayed one transaction each by migcheck; goal at most 0.10)");
}

/// Times sqlx's `Migrator` applying `m` (written out in sqlx's layout) on a
/// new file database (rollback journal, or `wal`), best of 3, in the runner `benches/sqlx-compare` builds:
/// sqlx's SQLite driver cannot be linked beside rusqlite.
fn sqlx_migrator(runner: &std::ffi::OsStr, m: &Migrations, scratch: &std::path::Path, journal: &str) -> Duration {
    let dir = scratch.join("sqlx-migrations");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for m in m.iter() {
        std::fs::write(dir.join(format!("{}_{}.sql", m.version(), m.name())), m.up().sql()).unwrap();
    }
    let out = std::process::Command::new(runner).arg(&dir).arg(scratch).arg("3").arg(journal).output().unwrap();
    assert!(out.status.success(), "sqlx-compare failed: {}", String::from_utf8_lossy(&out.stderr));
    Duration::from_nanos(String::from_utf8(out.stdout).unwrap().trim().parse().unwrap())
}

fn rand() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn row(what: &str, ours: Duration, raw: Duration) {
    println!(
        "{what:<44} {:>12} {:>12} {:>7.2}",
        format!("{ours:.1?}"),
        format!("{raw:.1?}"),
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}
