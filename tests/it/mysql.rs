//! The runtime on a real MariaDB server: `MIGCHECK_TEST_MYSQL_URL`, or one
//! started from `scripts/mysql-start` when MariaDB is installed
//! (`migcheck_test_support::mysql`). Without either these tests say so and
//! are ignored; in CI (`CI` set) a missing server fails.
//!
//! DDL commits implicitly on MySQL, so every file runs statement by
//! statement with the history's mark moved after each: what these tests pin.

use libtest_mimic::Trial;
use migcheck::{Error, Migration, Migrations, Mode, Script, UpgradeOptions};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::{AssertSqlSafe, MySqlPool};

/// A fresh database on the test server, dropped when done.
struct TestDb {
    admin: MySqlPool,
    name: String,
    pool: MySqlPool,
}

impl TestDb {
    async fn new() -> TestDb {
        let url = migcheck_test_support::mysql::server().expect("the trial is ignored without a server");
        let admin = MySqlPoolOptions::new().max_connections(2).connect(&url).await.expect("connect to the test server");
        let name = format!("migcheck_{}_{}", std::process::id(), rand());
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
        let url = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
        let pool = MySqlPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
        TestDb { admin, name, pool }
    }

    async fn drop(self) {
        self.pool.close().await;
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE {}", self.name))).execute(&self.admin).await.unwrap();
    }

    async fn tables(&self) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1",
        )
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

fn migration(v: i64, name: &str, up: &str, down: Option<&str>) -> Migration {
    Migration::new(
        v,
        name.to_owned(),
        format!("{:064x}", v * 7 + up.len() as i64),
        format!("chain-{v}-{}", up.len()),
        Script::new(format!("migrations/{v}_{name}.sql"), up.to_owned(), Mode::Transaction),
        down.map(|d| Script::new(format!("migrations/{v}_{name}.down.sql"), d.to_owned(), Mode::Transaction)),
    )
}

fn example() -> Migrations {
    Migrations::new(vec![
        migration(
            1,
            "owners",
            "CREATE TABLE owners (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL);",
            Some("DROP TABLE owners;"),
        ),
        migration(
            2,
            "pets",
            "# MySQL's own comment; and a procedure whose body holds `;`s\n\
             CREATE TABLE pets (id BIGINT AUTO_INCREMENT PRIMARY KEY, owner_id BIGINT, name TEXT);\n\
             CREATE PROCEDURE pet_count(OUT n INT)\nBEGIN\n  SELECT COUNT(*) INTO n FROM pets;\nEND;\n",
            Some("DROP PROCEDURE pet_count;\nDROP TABLE pets;"),
        ),
    ])
}

async fn upgrade_rerun_downgrade_and_stamp() {
    let db = TestDb::new().await;
    let m = example();
    let plan = m.upgrade_plan_mysql(&db.pool, &Default::default()).await.unwrap();
    // Every file statement by statement, the procedure's body whole: two
    // statements in 2_pets.sql, then the end of the file.
    let runs = plan.iter().filter(|s| s.to_string().starts_with("run the next statement of `migrations/2_pets.sql`"));
    assert_eq!(runs.count(), 3, "{plan:#?}");
    assert!(!plan.iter().any(|s| s.to_string().starts_with("run `")), "no file runs whole: {plan:#?}");
    let report = m.upgrade_mysql(&db.pool).await.unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(db.tables().await, ["migcheck_history", "owners", "pets"]);
    assert!(m.upgrade_mysql(&db.pool).await.unwrap().applied.is_empty(), "nothing to do");
    let status = m.status_mysql(&db.pool).await.unwrap();
    assert_eq!(status.current(), Some(2));
    assert!(status.interrupted.is_none());
    assert!(status.applied[0].applied_at.ends_with('Z') && status.applied[0].applied_at.len() == 24, "{status:?}");

    let report = m.downgrade_mysql_to(&db.pool, 1).await.unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [2]);
    assert_eq!(db.tables().await, ["migcheck_history", "owners"]);
    // Edited after being applied.
    let mut edited: Vec<Migration> = example().iter().cloned().collect();
    edited[0] = migration(1, "owners", "CREATE TABLE owners (id BIGINT PRIMARY KEY);", None);
    let err = Migrations::new(edited).upgrade_mysql(&db.pool).await.unwrap_err();
    assert!(matches!(err, Error::Divergent { version: 1, .. }), "{err:?}");
    let mut seen = Vec::new();
    m.upgrade_mysql_with(&db.pool, &UpgradeOptions::default(), |m, i, total| seen.push((m.version(), i, total)))
        .await
        .unwrap();
    assert_eq!(seen, [(2, 0, 1)]);

    // Unknown to this binary.
    let older = Migrations::new(example().iter().take(1).cloned().collect());
    let err = older.upgrade_mysql(&db.pool).await.unwrap_err();
    assert!(matches!(err, Error::Unknown { version: 2, .. }), "{err:?}");

    m.downgrade_mysql_to(&db.pool, 0).await.unwrap();
    assert_eq!(db.tables().await, ["migcheck_history"]);
    m.stamp_mysql(&db.pool, 1).await.unwrap();
    assert_eq!(m.status_mysql(&db.pool).await.unwrap().current(), Some(1));
    db.drop().await;
}

/// A migration that fails at its second statement keeps its first (DDL
/// committed it), says so, and leaves the history marking where it stopped;
/// fixed, the next upgrade resumes at the second without running the first
/// again (which would fail: the table exists).
async fn a_failure_part_way_resumes_after_the_last_statement_that_took_effect() {
    let db = TestDb::new().await;
    let first = "CREATE TABLE pets (id BIGINT PRIMARY KEY);\n";
    let broken = Migrations::new(vec![migration(
        1,
        "pets",
        &format!("{first}CREATE TABLE toys (id BIGINT, pet_id BIGINT REFERENCES pest (id));\n"),
        None,
    )]);
    let err = broken.upgrade_mysql(&db.pool).await.unwrap_err();
    match &err {
        Error::MigrationFailed { version, line, kept, .. } => {
            assert_eq!((*version, *line, *kept), (1, 2, Some(1)), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.code().is_some(), "the server's error number is kept: {err:?}");
    assert_eq!(db.tables().await, ["migcheck_history", "pets"], "the first statement took effect");
    let status = broken.status_mysql(&db.pool).await.unwrap();
    let stopped = status.interrupted.as_ref().expect("the history marks where it stopped");
    assert_eq!((stopped.version, stopped.done, stopped.resume_at), (1, 1, first.trim_end().len()));
    assert_eq!(status.current(), None);

    let fixed = Migrations::new(vec![migration(
        1,
        "pets",
        &format!("{first}CREATE TABLE toys (id BIGINT, pet_id BIGINT);\n"),
        None,
    )]);
    let report = fixed.upgrade_mysql(&db.pool).await.unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [1]);
    assert_eq!(db.tables().await, ["migcheck_history", "pets", "toys"]);
    let status = fixed.status_mysql(&db.pool).await.unwrap();
    assert!(status.interrupted.is_none() && status.current() == Some(1), "{status:?}");
    db.drop().await;
}

/// A syntax error is placed where the server's message says.
async fn a_syntax_error_points_at_its_line_and_column() {
    let db = TestDb::new().await;
    let m = Migrations::new(vec![migration(1, "typo", "CREATE TABLE a (id INT);\nSELECT id\nFROMM a;\n", None)]);
    let err = m.upgrade_mysql(&db.pool).await.unwrap_err();
    match &err {
        Error::MigrationFailed { line, column, message, .. } => {
            // MariaDB reads `FROMM` as an alias and stops at `a`.
            assert_eq!((*line, *column), (3, 7), "{err}");
            assert!(message.contains("SQL syntax"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    db.drop().await;
}

async fn concurrent_migrators_apply_each_migration_once() {
    let db = TestDb::new().await;
    let many = Migrations::new(
        (1..=20)
            .map(|v| {
                migration(
                    v,
                    &format!("t{v}"),
                    &format!("CREATE TABLE t{v} (x INT);\nINSERT INTO t{v} VALUES ({v});"),
                    None,
                )
            })
            .collect(),
    );
    let url = db.pool.connect_options();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let many = many.clone();
        let options = (*url).clone();
        tasks.push(tokio::spawn(async move {
            let pool = MySqlPoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
            let n = many.upgrade_mysql(&pool).await.unwrap().applied.len();
            pool.close().await;
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 20, "each migration applied exactly once across 6 migrators");
    assert_eq!(many.status_mysql(&db.pool).await.unwrap().applied.len(), 20);
    db.drop().await;
}

fn run<F: std::future::Future<Output = ()>>(test: fn() -> F) -> Result<(), libtest_mimic::Failed> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test());
    Ok(())
}

/// This module's tests, ignored when there is no server.
pub fn trials() -> Vec<Trial> {
    let no_server = migcheck_test_support::mysql::server().err();
    if let Some(why) = &no_server {
        eprintln!("MySQL tests ignored: {why}");
    }
    vec![
        Trial::test("mysql::upgrade_rerun_downgrade_and_stamp", || run(upgrade_rerun_downgrade_and_stamp)),
        Trial::test("mysql::a_failure_part_way_resumes_after_the_last_statement_that_took_effect", || {
            run(a_failure_part_way_resumes_after_the_last_statement_that_took_effect)
        }),
        Trial::test("mysql::a_syntax_error_points_at_its_line_and_column", || {
            run(a_syntax_error_points_at_its_line_and_column)
        }),
        Trial::test("mysql::concurrent_migrators_apply_each_migration_once", || {
            run(concurrent_migrators_apply_each_migration_once)
        }),
    ]
    .into_iter()
    .map(|t| t.with_ignored_flag(no_server.is_some()))
    .collect()
}
