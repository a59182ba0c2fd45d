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
    let mut args = std::env::args().skip(1);
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
            assert_eq!(applied as usize, migrator.iter().count(), "every migration applied");
        }
        best
    });
    println!("{}", best.as_nanos());
}
