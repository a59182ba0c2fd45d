//! `sqlx-compare apply DIR DATABASE`: applies the migrations in DIR to the
//! SQLite file DATABASE with sqlx's `Migrator`, once (the test that compares
//! the schema sqlx gives with migcheck's uses it).
//!
//! `sqlx-compare DIR SCRATCH REPS [wal]`: applies the migrations in DIR (sqlx's
//! `<version>_<description>.sql` layout) with sqlx's `Migrator`, one
//! transaction each as sqlx does, to a new SQLite file in SCRATCH, REPS times,
//! and prints the fastest run in nanoseconds. The connection uses sqlx's
//! defaults (rollback journal, `synchronous = FULL`: SQLite's own defaults,
//! as rusqlite opens a file), or with `wal` a write-ahead log; reading the
//! directory is not timed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("apply") {
        let (Some(dir), Some(db)) = (args.nth(1), args.next()) else {
            eprintln!("usage: sqlx-compare apply DIR DATABASE");
            std::process::exit(2);
        };
        apply(&dir, &db);
        return;
    }
    let (Some(dir), Some(scratch), Some(reps)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: sqlx-compare DIR SCRATCH REPS");
        std::process::exit(2);
    };
    let reps: usize = reps.parse().expect("REPS is a number");
    let wal = args.next().as_deref() == Some("wal");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let best = rt.block_on(async {
        let migrator = Migrator::new(PathBuf::from(&dir)).await.expect("read the migrations");
        let mut best = Duration::MAX;
        for rep in 0..reps {
            let path = PathBuf::from(&scratch).join(format!("sqlx-{rep}.db"));
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("db-wal"));
            let mut options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
            if wal {
                options = options.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
            }
            let mut conn = options.connect().await.unwrap();
            let start = Instant::now();
            migrator.run(&mut conn).await.expect("sqlx applies the migrations");
            best = best.min(start.elapsed());
            let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let ups = migrator.iter().filter(|m| m.migration_type.is_up_migration()).count();
            assert_eq!(applied as usize, ups, "every migration applied");
        }
        best
    });
    println!("{}", best.as_nanos());
}

fn apply(dir: &str, db: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let migrator = Migrator::new(PathBuf::from(dir)).await.expect("read the migrations");
        let mut conn = SqliteConnectOptions::new().filename(db).create_if_missing(true).connect().await.unwrap();
        if let Err(err) = migrator.run(&mut conn).await {
            eprintln!("sqlx: {err}");
            std::process::exit(1);
        }
    });
}
