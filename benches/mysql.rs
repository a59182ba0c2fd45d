//! migcheck's MySQL runtime beside sqlx's MySQL `Migrator`, in one run, on
//! the MariaDB server the tests use (`MIGCHECK_TEST_MYSQL_URL`, or one
//! `scripts/mysql-start` starts): `cargo bench -p migcheck --bench mysql [-- N]`
//!
//! N migrations (default 1,000) in the runtime benchmark's shape: one in ten
//! creates a table with an index, the others add a column and a row. Each
//! engine applies them to a fresh database, best of 3, turn about:
//!
//! - migcheck: `upgrade_mysql`, every file statement by statement with the
//!   history's mark moved after each (DDL commits implicitly on MySQL);
//! - sqlx: `Migrator::run`, each file sent whole, with its dirty flag.
//!
//! The goal (issue 29): migcheck within 1.1x of sqlx.

use std::time::{Duration, Instant};

use migcheck::{Migration, Migrations, Mode, Script};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::{AssertSqlSafe, MySqlPool};

fn sql(v: i64) -> String {
    if v % 10 == 1 {
        format!(
            "CREATE TABLE t{v} (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT);\nCREATE INDEX t{v}_name ON t{v} (name);"
        )
    } else {
        let t = v - (v - 1) % 10;
        format!("ALTER TABLE t{t} ADD COLUMN c{v} INT NOT NULL DEFAULT 0;\nINSERT INTO t{t} (name) VALUES ('row {v}');")
    }
}

fn migrations(n: i64) -> Migrations {
    Migrations::new(
        (1..=n)
            .map(|v| {
                let script = Script::new(format!("m/{v}.sql"), sql(v), Mode::Transaction);
                Migration::new(v, format!("m{v}"), format!("{v:064x}"), format!("chain{v}"), script, None)
            })
            .collect(),
    )
}

async fn fresh(admin: &MySqlPool, base: &str, name: &str) -> MySqlPool {
    let drop_create = format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}");
    sqlx::raw_sql(AssertSqlSafe(drop_create)).execute(admin).await.unwrap();
    MySqlPoolOptions::new().max_connections(1).connect(&format!("{base}/{name}")).await.unwrap()
}

fn main() {
    let n: i64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let url = match migcheck_test_support::mysql::server() {
        Ok(url) => url,
        Err(why) => {
            println!("no MariaDB server, nothing measured: {why}");
            return;
        }
    };
    let base = url.rsplit_once('/').unwrap().0.to_owned();
    let m = migrations(n);
    let dir = tempfile::tempdir().unwrap();
    for v in 1..=n {
        std::fs::write(dir.path().join(format!("{v}_m{v}.sql")), sql(v)).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (ours, theirs) = rt.block_on(async {
        let admin = MySqlPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
        let (mut ours, mut theirs) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            let pool = fresh(&admin, &base, "migcheck_bench_ours").await;
            let start = Instant::now();
            let report = m.upgrade_mysql(&pool).await.unwrap();
            ours = ours.min(start.elapsed());
            assert_eq!(report.applied.len() as i64, n);
            pool.close().await;

            let pool = fresh(&admin, &base, "migcheck_bench_sqlx").await;
            let start = Instant::now();
            migrator.run(&pool).await.unwrap();
            theirs = theirs.min(start.elapsed());
            pool.close().await;
        }
        for name in ["migcheck_bench_ours", "migcheck_bench_sqlx"] {
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {name}"))).execute(&admin).await.unwrap();
        }
        (ours, theirs)
    });
    println!("applying {n} migrations to MariaDB (best of 3; goal: migcheck within 1.1x of sqlx)");
    println!("{:>12} {:>12} {:>7}", "migcheck", "sqlx", "ratio");
    println!(
        "{:>12} {:>12} {:>7.2}",
        format!("{ours:.1?}"),
        format!("{theirs:.1?}"),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
