//! Runtime costs beside the raw cost of the same work, in one run:
//! `cargo bench -p migcheck --bench runtime`
//!
//! - start-up with nothing to do, at 10, 1,000 and 10,000 applied migrations
//!   on a file database, beside one indexed read of the history's head;
//! - applying 1,000 pending migrations, one transaction each and in batch
//!   mode, beside `execute_batch` of the same SQL in one transaction.

use std::time::{Duration, Instant};

use migcheck::{Migration, Migrations, Mode, Script, UpgradeOptions};
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
    for (what, batch) in
        [("apply 1,000 pending, one transaction each", false), ("apply 1,000 pending, batch mode", true)]
    {
        let ours = best(3, || {
            let path = dir.path().join(format!("apply{}.db", rand()));
            let mut conn = Connection::open(&path).unwrap();
            let start = Instant::now();
            m.upgrade_with(&mut conn, &UpgradeOptions::default().batch(batch), |_, _, _| {}).unwrap();
            start.elapsed()
        });
        row(what, ours, raw);
    }
    println!("(raw for applying: the same SQL in one execute_batch transaction on a file database)");
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
