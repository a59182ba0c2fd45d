//! A fleet of SQLite tenant files, beside the raw cost of the same work on
//! the same number of threads, in one run: `cargo bench -p migcheck --bench fleet`
//! (`MIGCHECK_BENCH_TENANTS=1000` for a quicker run; 10,000 by default).
//!
//! - each tenant two migrations behind: `Migrations::upgrade_each` beside
//!   opening each file and, per migration, `BEGIN IMMEDIATE`, its SQL, the
//!   history row, `COMMIT`;
//! - every tenant at head: `upgrade_each` beside opening each file and
//!   reading the history's newest row;
//! - with `--features postgres` and a server (`MIGCHECK_TEST_PG_URL`, or the
//!   tests' own, `migcheck_test_support::pg`): 1,000 schemas of one database, two
//!   migrations behind each, `upgrade_postgres_schemas` beside a connection
//!   per schema (`search_path` set), then per migration `BEGIN`, its SQL, the
//!   history row, `COMMIT`, on as many concurrent connections
//!   (`MIGCHECK_BENCH_SCHEMAS` for another number).

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
                    "CREATE TABLE t{v} (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO t{v} (id, name) VALUES (1, 'tenant row {v}');"
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
    #[cfg(feature = "postgres")]
    postgres(&m);
}

#[cfg(feature = "postgres")]
use migcheck_test_support::pg;

#[cfg(feature = "postgres")]
fn postgres(m: &Migrations) {
    use sqlx::Connection as _;
    let server = match pg::server() {
        Ok(url) => url,
        Err(why) => {
            println!("(PostgreSQL schemas skipped: {why})");
            return;
        }
    };
    let n: usize = std::env::var("MIGCHECK_BENCH_SCHEMAS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let jobs = 4;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let database = |name: &str| -> String {
        rt.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
            let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let schemas: String = (0..n).map(|i| format!("CREATE SCHEMA tenant_{i:04};")).collect();
            sqlx::raw_sql(sqlx::AssertSqlSafe(schemas)).execute(&mut conn).await.unwrap();
            url
        })
    };
    let schemas: Vec<String> = (0..n).map(|i| format!("tenant_{i:04}")).collect();
    let behind = FleetOptions::default().jobs(jobs).target(MIGRATIONS - 2);
    let (ours_url, raw_url) = (database("bench_fleet_ours"), database("bench_fleet_raw"));
    for url in [&ours_url, &raw_url] {
        let report = rt.block_on(m.upgrade_postgres_schemas(url, &schemas, &behind, |_| {}));
        assert!(
            report.is_ok(),
            "setting up the schemas: {:?}",
            report.failed().next().map(|d| (&d.database, d.error.as_ref().map(ToString::to_string)))
        );
    }
    let pending: Vec<&Migration> = m.iter().filter(|x| x.version() > MIGRATIONS - 2).collect();
    let start = Instant::now();
    rt.block_on(async {
        use futures_util::StreamExt as _;
        futures_util::stream::iter(&schemas)
            .map(|schema| {
                let pending = &pending;
                let url = &raw_url;
                async move {
                    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}"))).execute(&mut conn).await.unwrap();
                    for x in pending {
                        let mut tx = conn.begin().await.unwrap();
                        sqlx::raw_sql(sqlx::AssertSqlSafe(x.up().sql().to_owned())).execute(&mut *tx).await.unwrap();
                        sqlx::query("INSERT INTO migcheck_history (version, name, checksum, chain, duration_ms) VALUES ($1, $2, $3, $4, 0)")
                            .bind(x.version())
                            .bind(x.name())
                            .bind(x.checksum())
                            .bind(x.chain())
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                    conn.close().await.unwrap();
                }
            })
            .buffer_unordered(jobs)
            .collect::<Vec<()>>()
            .await;
    });
    let raw = start.elapsed();
    let start = Instant::now();
    let report =
        rt.block_on(m.upgrade_postgres_schemas(&ours_url, &schemas, &FleetOptions::default().jobs(jobs), |_| {}));
    let ours = start.elapsed();
    assert!(report.is_ok() && report.upgraded().count() == n);
    row(&format!("{n} PostgreSQL schemas, 2 pending, {jobs} connections"), ours, raw);
}

fn row(label: &str, ours: Duration, raw: Duration) {
    println!(
        "{label:<52} {:>8.1}ms {:>8.1}ms {:>6.2}x",
        ours.as_secs_f64() * 1e3,
        raw.as_secs_f64() * 1e3,
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}
