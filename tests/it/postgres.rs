//! The runtime on a real PostgreSQL server: `MIGCHECK_TEST_PG_URL`, or one
//! started from `scripts/pg-start` when PostgreSQL is installed
//! (`migcheck_test_support::pg`). Without either these tests say so and skip; in CI
//! (`CI` set) a missing server fails.

use libtest_mimic::Trial;
use migcheck::{Error, Migration, Migrations, Mode, Script, UpgradeOptions};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// A fresh database on the test server, dropped when the guard goes.
struct TestDb {
    admin: PgPool,
    name: String,
    pool: PgPool,
}

impl TestDb {
    async fn new() -> Option<TestDb> {
        let url = match crate::pg::server() {
            Ok(url) => url,
            Err(why) => {
                eprintln!("SKIPPED: {why}");
                return None;
            }
        };
        let admin = PgPoolOptions::new().max_connections(2).connect(&url).await.expect("connect to the test server");
        let name = format!("migcheck_{}", std::process::id()) + &format!("_{}", rand());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        let url = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
        let pool = PgPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
        Some(TestDb { admin, name, pool })
    }

    async fn drop(self) {
        self.pool.close().await;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {} WITH (FORCE)", self.name)))
            .execute(&self.admin)
            .await
            .unwrap();
    }

    async fn tables(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }
}

fn rand() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    h.finish() % 1_000_000_000
}

fn migration(v: i64, name: &str, up: &str, down: Option<&str>, mode: Mode) -> Migration {
    Migration::new(
        v,
        name.to_owned(),
        format!("{:064x}", v * 7 + up.len() as i64),
        format!("chain-{v}-{}", up.len()),
        Script::new(format!("migrations/{v}_{name}.sql"), up.to_owned(), mode),
        down.map(|d| Script::new(format!("migrations/{v}_{name}.down.sql"), d.to_owned(), Mode::Transaction)),
    )
}

fn example() -> Migrations {
    Migrations::new(vec![
        migration(
            1,
            "owners",
            "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);",
            Some("DROP TABLE owners;"),
            Mode::Transaction,
        ),
        migration(
            2,
            "pets",
            "CREATE TABLE pets (id BIGSERIAL PRIMARY KEY, owner_id BIGINT REFERENCES owners(id));\nCREATE FUNCTION pet_count() RETURNS bigint AS $$ SELECT count(*) FROM pets; $$ LANGUAGE sql;",
            Some("DROP FUNCTION pet_count();\nDROP TABLE pets;"),
            Mode::Transaction,
        ),
        migration(
            3,
            "index",
            "CREATE INDEX CONCURRENTLY pets_owner ON pets (owner_id);",
            Some("DROP INDEX pets_owner;"),
            Mode::NoTransaction,
        ),
    ])
}

async fn upgrade_rerun_downgrade_stamp_and_refusals() {
    let Some(db) = TestDb::new().await else { return };
    let m = example();
    let report = m.upgrade_postgres(&db.pool).await.unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(db.tables().await, ["migcheck_history", "owners", "pets"]);
    assert!(m.upgrade_postgres(&db.pool).await.unwrap().applied.is_empty(), "nothing to do");
    let status = m.status_postgres(&db.pool).await.unwrap();
    assert_eq!(status.current(), Some(3));
    assert!(status.applied[0].applied_at.ends_with('Z'));

    let report = m.downgrade_postgres_to(&db.pool, 1).await.unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(db.tables().await, ["migcheck_history", "owners"]);
    let mut seen = Vec::new();
    let options = UpgradeOptions::default().batch(false).target(2);
    m.upgrade_postgres_with(&db.pool, &options, |m, i, total| seen.push((m.version(), i, total))).await.unwrap();
    assert_eq!(seen, [(2, 0, 1)], "progress is reported before each migration, as on SQLite");
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().pending, [3]);

    // Edited after being applied, and unknown to this binary.
    let mut edited: Vec<Migration> = example().iter().cloned().collect();
    edited[0] = migration(1, "owners", "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY);", None, Mode::Transaction);
    let err = Migrations::new(edited).upgrade_postgres(&db.pool).await.unwrap_err();
    assert!(matches!(err, Error::Divergent { version: 1, .. }), "{err:?}");
    let older = Migrations::new(example().iter().take(1).cloned().collect());
    let err = older.upgrade_postgres(&db.pool).await.unwrap_err();
    assert!(matches!(err, Error::Unknown { version: 2, .. }), "{err:?}");
    assert!(err.to_string().contains("which this binary does not know"));

    // Irreversible migrations stop a downgrade before it starts (same file as
    // example's 1, so same checksum, but without its down).
    let one_way = Migrations::new(vec![migration(
        1,
        "owners",
        "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);",
        None,
        Mode::Transaction,
    )]);
    m.stamp_postgres(&db.pool, 1).await.unwrap();
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().applied.len(), 1);
    let err = one_way.downgrade_postgres_to(&db.pool, 0).await.unwrap_err();
    assert!(matches!(err, Error::Irreversible { version: 1, .. }), "{err:?}");
    db.drop().await;
}

async fn a_failing_migration_leaves_the_last_good_version_and_points_at_the_error() {
    let Some(db) = TestDb::new().await else { return };
    let m = Migrations::new(vec![
        migration(
            1,
            "owners",
            "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);",
            None,
            Mode::Transaction,
        ),
        migration(
            2,
            "broken",
            "CREATE TABLE pets (id BIGSERIAL PRIMARY KEY);\nINSERT INTO owners (email) VALUES ('a');\nSELECT nme FROM owners;",
            None,
            Mode::Transaction,
        ),
    ]);
    let err = m.upgrade_postgres(&db.pool).await.unwrap_err();
    match &err {
        Error::MigrationFailed { version, line, column, message, applied, .. } => {
            assert_eq!((*version, *line, *column), (2, 3, 8), "{err}");
            assert!(message.contains("column \"nme\" does not exist"), "{message}");
            assert_eq!(applied, &[1]);
        }
        other => panic!("{other:?}"),
    }
    // sqlx's error is kept, with PostgreSQL's SQLSTATE (undefined_column).
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    assert_eq!(err.code().as_deref(), Some("42703"));
    assert_eq!(db.tables().await, ["migcheck_history", "owners"], "the failed migration was rolled back");
    let owners: i64 = sqlx::query_scalar("SELECT count(*) FROM owners").fetch_one(&db.pool).await.unwrap();
    assert_eq!(owners, 0);
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().current(), Some(1));
    db.drop().await;
}

/// A unique index built concurrently that failed on duplicates is left
/// INVALID; run again, `IF NOT EXISTS` skips it, and the migration must not
/// be recorded as applied until the index is dropped and built again.
async fn a_resumed_file_does_not_record_an_invalid_index_as_applied() {
    let Some(db) = TestDb::new().await else { return };
    let index = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_x ON t (x);";
    let m = Migrations::new(vec![
        migration(1, "t", "CREATE TABLE t (x int);\nINSERT INTO t VALUES (1), (1);", None, Mode::Transaction),
        migration(2, "unique_x", &format!("-- migcheck: no-transaction\n{index}\n"), None, Mode::NoTransaction),
    ]);
    let err = m.upgrade_postgres(&db.pool).await.unwrap_err();
    assert!(err.to_string().contains("could not create unique index"), "{err}");
    let valid = || async {
        sqlx::query_scalar::<_, bool>(
            "SELECT x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = 't_x'",
        )
        .fetch_optional(&db.pool)
        .await
        .unwrap()
    };
    assert_eq!(valid().await, Some(false), "the failed build leaves an INVALID index");
    // Run again as the README advises: refused, naming the index and the fix.
    let err = m.upgrade_postgres(&db.pool).await.unwrap_err();
    match &err {
        Error::MigrationFailed { version, line, message, .. } => {
            assert_eq!((*version, *line), (2, 2), "{err}");
            assert!(message.contains("index `t_x` is INVALID"), "{message}");
            assert!(message.contains("DROP INDEX CONCURRENTLY"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().current(), Some(1), "not recorded as applied");
    // Fixed as told: the index is built again, valid, and keeps duplicates out.
    for fix in ["DELETE FROM t WHERE ctid NOT IN (SELECT min(ctid) FROM t)", "DROP INDEX CONCURRENTLY t_x"] {
        sqlx::raw_sql(fix).execute(&db.pool).await.unwrap();
    }
    m.upgrade_postgres(&db.pool).await.unwrap();
    assert_eq!(valid().await, Some(true));
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().current(), Some(2));
    assert!(sqlx::raw_sql("INSERT INTO t VALUES (1)").execute(&db.pool).await.is_err());
    db.drop().await;
}

async fn concurrent_migrators_apply_each_migration_once() {
    let Some(db) = TestDb::new().await else { return };
    let many = Migrations::new(
        (1..=30)
            .map(|v| {
                migration(
                    v,
                    &format!("t{v}"),
                    &format!("CREATE TABLE t{v} (x INT);\nINSERT INTO t{v} VALUES ({v});"),
                    None,
                    Mode::Transaction,
                )
            })
            .collect(),
    );
    let url = db.pool.connect_options();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let many = many.clone();
        let options = (*url).clone();
        tasks.push(tokio::spawn(async move {
            let pool = PgPoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
            let n = many.upgrade_postgres(&pool).await.unwrap().applied.len();
            pool.close().await;
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 30, "each migration applied exactly once across 8 migrators");
    assert_eq!(many.status_postgres(&db.pool).await.unwrap().applied.len(), 30);
    db.drop().await;
}

/// A commit that fails (a deferred foreign key checked at `COMMIT`) is
/// `NotCommitted`, naming the migration, in each mode: one transaction per
/// migration, batch, downgrade; the database stays at its last good version.
async fn a_failed_commit_names_the_migration_in_every_mode() {
    let Some(db) = TestDb::new().await else { return };
    let parent = migration(
        1,
        "keys",
        "CREATE TABLE parent (id int PRIMARY KEY);\n\
         CREATE TABLE child (p int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);",
        Some("DROP TABLE child;\nDROP TABLE parent;"),
        Mode::Transaction,
    );
    let orphan = migration(2, "orphan", "INSERT INTO child VALUES (42);", None, Mode::Transaction);
    let m = Migrations::new(vec![parent.clone(), orphan.clone()]);
    let not_committed = |err: &Error, want: i64, applied_before: &[i64]| match err {
        Error::NotCommitted { version, applied, .. } => {
            assert_eq!((*version, applied.as_slice()), (want, applied_before), "{err}");
            assert!(err.to_string().contains(&format!("migration {want} ")), "{err}");
            assert_eq!(err.code().as_deref(), Some("23503"), "{err}");
        }
        other => panic!("{other:?}"),
    };

    let batch = UpgradeOptions::default().batch(true);
    let err = m.upgrade_postgres_with(&db.pool, &batch, |_, _, _| {}).await.unwrap_err();
    not_committed(&err, 2, &[]);
    assert!(db.tables().await.is_empty(), "the batch rolled back whole, the new history table with it");

    let err = m.upgrade_postgres(&db.pool).await.unwrap_err();
    not_committed(&err, 2, &[1]);
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().current(), Some(1));

    let undo = migration(2, "undo", "SELECT 1;", Some("INSERT INTO child VALUES (7);"), Mode::Transaction);
    let m = Migrations::new(vec![parent, undo]);
    m.upgrade_postgres(&db.pool).await.unwrap();
    let err = m.downgrade_postgres_to(&db.pool, 1).await.unwrap_err();
    not_committed(&err, 2, &[]);
    assert_eq!(m.status_postgres(&db.pool).await.unwrap().current(), Some(2));
    db.drop().await;
}

/// This module's tests: ignored, with the reason printed, when there is no
/// PostgreSQL server (`migcheck_test_support::pg`).
pub fn trials() -> Vec<Trial> {
    let no_server = crate::pg::server().err();
    if let Some(why) = &no_server {
        eprintln!("PostgreSQL tests ignored: {why}");
    }
    let trials = vec![
        Trial::test("postgres::upgrade_rerun_downgrade_stamp_and_refusals", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(upgrade_rerun_downgrade_stamp_and_refusals());
            Ok(())
        }),
        Trial::test("postgres::a_failing_migration_leaves_the_last_good_version_and_points_at_the_error", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(a_failing_migration_leaves_the_last_good_version_and_points_at_the_error());
            Ok(())
        }),
        Trial::test("postgres::a_failed_commit_names_the_migration_in_every_mode", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(a_failed_commit_names_the_migration_in_every_mode());
            Ok(())
        }),
        Trial::test("postgres::a_resumed_file_does_not_record_an_invalid_index_as_applied", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(a_resumed_file_does_not_record_an_invalid_index_as_applied());
            Ok(())
        }),
        Trial::test("postgres::concurrent_migrators_apply_each_migration_once", || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(concurrent_migrators_apply_each_migration_once());
            Ok(())
        }),
    ];
    trials.into_iter().map(|t| t.with_ignored_flag(no_server.is_some())).collect()
}
