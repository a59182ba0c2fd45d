//! The runtime migrator against real SQLite files.

use libtest_mimic::Trial;
use std::sync::{Arc, Barrier};

use migcheck::{Error, Migration, Migrations, Mode, Script};
use rusqlite::Connection;

/// The example migrations (owners, pets), checked and embedded by this
/// package's own build script.
static EXAMPLE: Migrations = migcheck::include_migrations!();

fn db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    (dir, path)
}

fn tables(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn upgrade_applies_records_and_is_idempotent() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    let report = EXAMPLE.upgrade(&mut conn).unwrap();
    let versions: Vec<i64> = report.applied.iter().map(|a| a.version).collect();
    assert_eq!(versions, [20261124093000, 20261124101500]);
    assert_eq!(tables(&conn), ["migcheck_history", "owners", "pets"]);

    let history = EXAMPLE.applied(&conn).unwrap();
    assert_eq!(history.len(), 2);
    for (row, m) in history.iter().zip(EXAMPLE.iter()) {
        assert_eq!(
            (row.version, row.name.as_str(), row.checksum.as_str(), row.chain.as_str()),
            (m.version(), m.name(), m.checksum(), m.chain())
        );
        assert!(row.applied_at.ends_with('Z') && row.applied_at.len() == 24, "{}", row.applied_at);
    }
    drop(conn);

    let mut conn = Connection::open(&path).unwrap();
    assert!(EXAMPLE.upgrade(&mut conn).unwrap().applied.is_empty());
    assert_eq!(EXAMPLE.current(&conn).unwrap(), Some(20261124101500));
}

fn upgrade_to_stops_at_the_version() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    EXAMPLE.upgrade_to(&mut conn, 20261124093000).unwrap();
    assert_eq!(tables(&conn), ["migcheck_history", "owners"]);
    assert!(matches!(EXAMPLE.upgrade_to(&mut conn, 42), Err(Error::NoSuchVersion { version: 42 })));
    EXAMPLE.upgrade(&mut conn).unwrap();
    assert_eq!(EXAMPLE.current(&conn).unwrap(), Some(20261124101500));
}

/// The example migrations as a binary built after `create_owners` was edited
/// would embed them: another checksum, and so another chain from there on.
fn edited_example() -> Migrations {
    Migrations::new(
        EXAMPLE
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let checksum = if i == 0 { "e".repeat(64) } else { m.checksum().to_owned() };
                Migration::new(
                    m.version(),
                    m.name().to_owned(),
                    checksum,
                    format!("edited-{i}"),
                    m.up().clone(),
                    m.down().cloned(),
                )
            })
            .collect(),
    )
}

fn refuses_a_database_whose_applied_migration_was_edited() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    EXAMPLE.upgrade(&mut conn).unwrap();
    let err = edited_example().upgrade(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Divergent { version: 20261124093000, .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("migration 20261124093000 `create_owners` was previously applied but has been modified"),
        "{err}"
    );
    // A history row changed by hand is found by the full comparison, which
    // runs whenever the newest row's chain hash does not match.
    conn.execute("UPDATE migcheck_history SET checksum = 'deadbeef', chain = 'x' WHERE version = 20261124093000", [])
        .unwrap();
    conn.execute("DELETE FROM migcheck_history WHERE version = 20261124101500", []).unwrap();
    assert!(matches!(EXAMPLE.upgrade(&mut conn), Err(Error::Divergent { version: 20261124093000, .. })));
}

fn batch_mode_is_all_or_nothing() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    let batch = migcheck::UpgradeOptions::default().batch(true);
    let err = failing().upgrade_with(&mut conn, &batch, |_, _, _| {}).unwrap_err();
    assert!(matches!(err, Error::MigrationFailed { version: 2, .. }), "{err:?}");
    assert!(tables(&conn).is_empty(), "the first migration was rolled back with the second");
    let report = EXAMPLE.upgrade_with(&mut conn, &batch, |_, _, _| {}).unwrap();
    assert_eq!(report.applied.len(), 2);
    let err = modes().upgrade_with(&mut Connection::open_in_memory().unwrap(), &batch, |_, _, _| {}).unwrap_err();
    assert!(matches!(err, Error::NotBatchable { version: 2, .. }), "{err:?}");
}

fn refuses_a_database_migrated_by_a_newer_binary() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    EXAMPLE.upgrade(&mut conn).unwrap();
    conn.execute(
        "INSERT INTO migcheck_history VALUES (20270101000000, 'from_the_future', 'x', 'y', '2027-01-01T00:00:00.000Z', 1)",
        [],
    )
    .unwrap();
    let err = EXAMPLE.upgrade(&mut conn).unwrap_err();
    assert!(matches!(err, Error::Unknown { version: 20270101000000, .. }), "{err:?}");
    assert!(err.to_string().contains("which this binary does not know"), "{err}");
}

fn a_malformed_history_table_is_an_error_not_a_panic() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE migcheck_history (version INTEGER PRIMARY KEY, note TEXT)").unwrap();
    let err = EXAMPLE.upgrade(&mut conn).unwrap_err();
    assert!(matches!(err, Error::History { .. }), "{err:?}");
    assert!(err.to_string().contains("no such column: name; `migcheck_history` should have the columns"), "{err}");
}

fn failing() -> Migrations {
    Migrations::new(vec![
        Migration::__generated(
            1,
            "a",
            "c1",
            "h1",
            Script::__generated("m/1_a.sql", "CREATE TABLE a(x);\nINSERT INTO a VALUES (1);", Mode::Transaction),
            None,
        ),
        Migration::__generated(
            2,
            "b",
            "c2",
            "h2",
            Script::__generated(
                "m/2_b.sql",
                "CREATE TABLE b(y);\nINSERT INTO a VALUES (2);\nINSERT INTO nope VALUES (1);",
                Mode::Transaction,
            ),
            None,
        ),
    ])
}

fn a_failed_migration_leaves_the_last_good_version() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    let err = failing().upgrade(&mut conn).unwrap_err();
    match &err {
        Error::MigrationFailed { version, path, line, column, message, applied, .. } => {
            assert_eq!((*version, path.as_str(), *line, *column), (2, "m/2_b.sql", 3, 1));
            assert_eq!(message, "no such table: nope");
            assert_eq!(applied, &[1]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("m/2_b.sql:3:1"), "{err}");
    // The engine's error is kept: `source()` and SQLite's result code (SQLITE_ERROR).
    let source = std::error::Error::source(&err).expect("the SQLite error is the source");
    assert!(source.to_string().contains("no such table: nope"), "{source}");
    assert_eq!(err.code().as_deref(), Some("1"));
    assert_eq!(tables(&conn), ["a", "migcheck_history"]);
    let rows: i64 = conn.query_row("SELECT count(*) FROM a", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1, "the half-run migration's insert was rolled back");
    assert_eq!(failing().current(&conn).unwrap(), Some(1));
}

fn modes() -> Migrations {
    Migrations::new(vec![
        Migration::__generated(
            1,
            "a",
            "c1",
            "h1",
            Script::__generated("m/1.sql", "CREATE TABLE a(x);", Mode::Transaction),
            None,
        ),
        Migration::__generated(
            2,
            "vacuum",
            "c2",
            "h2",
            Script::__generated("m/2.sql", "-- migcheck: no-transaction\nVACUUM;", Mode::NoTransaction),
            None,
        ),
        Migration::__generated(
            3,
            "rebuild",
            "c3",
            "h3",
            Script::__generated(
                "m/3.sql",
                "PRAGMA foreign_keys=OFF;\nBEGIN;\nCREATE TABLE a2(x NOT NULL);\nINSERT INTO a2 SELECT x FROM a;\nDROP TABLE a;\nALTER TABLE a2 RENAME TO a;\nCOMMIT;\nPRAGMA foreign_keys=ON;",
                Mode::SelfManaged,
            ),
            None,
        ),
    ])
}

fn no_transaction_and_self_managed_files_run_as_written() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    let report = modes().upgrade(&mut conn).unwrap();
    assert_eq!(report.applied.len(), 3);
    assert_eq!(tables(&conn), ["a", "migcheck_history"]);
    assert!(conn.is_autocommit());
}

fn concurrent_migrators_apply_each_migration_once() {
    let (_dir, path) = db();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (path, barrier) = (path.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut conn = Connection::open(&path).unwrap();
                barrier.wait();
                EXAMPLE.upgrade(&mut conn).map(|r| r.applied.len())
            })
        })
        .collect();
    let applied: usize = handles.into_iter().map(|h| h.join().unwrap().unwrap()).sum();
    assert_eq!(applied, EXAMPLE.len(), "each migration applied exactly once in all");
    let conn = Connection::open(&path).unwrap();
    assert_eq!(EXAMPLE.applied(&conn).unwrap().len(), EXAMPLE.len());
}

fn downgrade_reverts_newest_first_and_refuses_irreversible() {
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    EXAMPLE.upgrade(&mut conn).unwrap();
    let report = EXAMPLE.downgrade_to(&mut conn, 20261124093000).unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [20261124101500]);
    assert_eq!(tables(&conn), ["migcheck_history", "owners"]);
    EXAMPLE.upgrade(&mut conn).unwrap();
    EXAMPLE.downgrade_to(&mut conn, 0).unwrap();
    assert_eq!(tables(&conn), ["migcheck_history"]);
    assert_eq!(EXAMPLE.current(&conn).unwrap(), None);

    // 1 is irreversible: downgrading past it is refused before anything changes.
    let m = modes();
    let (_dir2, path2) = db();
    let mut conn = Connection::open(&path2).unwrap();
    m.upgrade(&mut conn).unwrap();
    let err = m.downgrade_to(&mut conn, 0).unwrap_err();
    assert!(matches!(err, Error::Irreversible { version: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("cannot downgrade past it"), "{err}");
    assert_eq!(m.current(&conn).unwrap(), Some(3));
}

fn stamp_status_backup_and_history_table_name() {
    let (dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    let m = EXAMPLE.clone().with_history_table("schema_history");
    m.stamp(&mut conn, 20261124093000).unwrap();
    assert_eq!(tables(&conn), ["schema_history"], "stamp runs nothing");
    let status = m.status(&conn).unwrap();
    assert_eq!((status.current(), status.pending.as_slice()), (Some(20261124093000), &[20261124101500][..]));
    assert!(!status.is_up_to_date());

    m.stamp(&mut conn, 0).unwrap();
    let backup = dir.path().join("app.db.bak");
    let options = migcheck::UpgradeOptions::default().backup(&backup);
    let mut seen = Vec::new();
    let report = m.upgrade_with(&mut conn, &options, |mig, i, n| seen.push((mig.version(), i, n))).unwrap();
    assert_eq!(seen, [(20261124093000, 0, 2), (20261124101500, 1, 2)]);
    assert_eq!(report.backup.as_deref(), Some(backup.as_path()));
    let copy = Connection::open(&backup).unwrap();
    assert_eq!(tables(&copy), ["schema_history"], "the backup is the database before the upgrade");
    assert!(m.status(&conn).unwrap().is_up_to_date());
}

fn a_failed_down_migration_names_the_version_the_database_stays_at() {
    let script = |path: &str, sql: &'static str| Script::new(path.to_owned(), sql, Mode::Transaction);
    let m = |v: i64, up: &'static str, down: &'static str| {
        Migration::new(
            v,
            format!("m{v}"),
            format!("sum{v}"),
            format!("chain{v}"),
            script(&format!("{v}.up.sql"), up),
            Some(script(&format!("{v}.down.sql"), down)),
        )
    };
    let migrations = Migrations::new(vec![
        m(1, "CREATE TABLE a (x);", "DROP TABLE a;"),
        m(2, "CREATE TABLE b (x);", "DROP TABLE b;\nDROP TABLE missing;"),
        m(3, "CREATE TABLE c (x);", "DROP TABLE c;"),
    ]);
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    migrations.upgrade(&mut conn).unwrap();
    let err = migrations.downgrade_to(&mut conn, 0).unwrap_err();
    let Error::MigrationFailed { version, ref path, line, ref applied, .. } = err else { panic!("{err:?}") };
    assert_eq!((version, path.as_str(), line, applied.as_slice()), (2, "2.down.sql", 2, &[3][..]));
    assert!(
        err.to_string().contains("the database stays at version 2 (this run reverted 1 migration before it)"),
        "{err}"
    );
    assert_eq!(migrations.current(&conn).unwrap(), Some(2));
    assert_eq!(tables(&conn), ["a", "b", "migcheck_history"], "the failed down was rolled back whole");
}

/// A down file that runs outside a transaction and fails at its second
/// statement: the first stays, the history marks the migration interrupted
/// (downward), an upgrade waits for the downgrade, the fixed file resumes at
/// the second statement, and a file changed before that point is refused.
fn an_interrupted_down_file_resumes_and_blocks_upgrades_meanwhile() {
    let with_down = |down: &'static str| {
        Migrations::new(vec![
            Migration::new(
                1,
                "a",
                "sum1",
                "chain1",
                Script::new("1.up.sql", "CREATE TABLE a (x);", Mode::Transaction),
                None,
            ),
            Migration::new(
                2,
                "b",
                "sum2",
                "chain2",
                Script::new("2.up.sql", "CREATE TABLE b (x);\nCREATE TABLE c (x);", Mode::Transaction),
                Some(Script::new("2.down.sql", down, Mode::NoTransaction)),
            ),
        ])
    };
    let broken = with_down("-- migcheck: no-transaction\nDROP TABLE b;\nDROP TABLE missing;\nDROP TABLE c;\n");
    let (_dir, path) = db();
    let mut conn = Connection::open(&path).unwrap();
    broken.upgrade(&mut conn).unwrap();
    let err = broken.downgrade_to(&mut conn, 1).unwrap_err();
    assert!(matches!(err, Error::MigrationFailed { version: 2, line: 3, kept: Some(1), .. }), "{err:?}");
    assert_eq!(tables(&conn), ["a", "c", "migcheck_history"], "the first statement ran and stays");
    let status = broken.status(&conn).unwrap();
    let i = status.interrupted.clone().expect("marked");
    assert_eq!((i.version, i.direction, i.done), (2, migcheck::Direction::Down, 1));
    assert_eq!(i.line_in(broken.get(2).unwrap().down().unwrap()), 3);
    assert_eq!((status.current(), status.pending.as_slice()), (Some(1), &[2][..]));
    assert_eq!(broken.applied(&conn).unwrap().len(), 1, "the mark is not an applied migration");
    let err = broken.upgrade(&mut conn).unwrap_err();
    assert!(err.to_string().contains("finish the downgrade first"), "{err}");

    // Edited before where it stopped: refused, nothing runs.
    let edited = with_down("-- migcheck: no-transaction\nDROP TABLE IF EXISTS b;\nDROP TABLE c;\n");
    let err = edited.downgrade_to(&mut conn, 1).unwrap_err();
    assert!(matches!(err, Error::Interrupted { version: 2, done: 1, .. }), "{err:?}");
    assert_eq!(tables(&conn), ["a", "c", "migcheck_history"]);

    // Fixed after it: resumes at the second statement (`DROP TABLE b` again would fail).
    let fixed = with_down("-- migcheck: no-transaction\nDROP TABLE b;\nDROP TABLE c;\n");
    let report = fixed.downgrade_to(&mut conn, 1).unwrap();
    assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [2]);
    assert_eq!(tables(&conn), ["a", "migcheck_history"]);
    let status = fixed.status(&conn).unwrap();
    assert_eq!((status.current(), status.interrupted), (Some(1), None));
    fixed.upgrade(&mut conn).unwrap();
    assert!(fixed.status(&conn).unwrap().is_up_to_date());
}

/// This module's tests.
pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("runtime::an_interrupted_down_file_resumes_and_blocks_upgrades_meanwhile", || {
            an_interrupted_down_file_resumes_and_blocks_upgrades_meanwhile();
            Ok(())
        }),
        Trial::test("runtime::upgrade_applies_records_and_is_idempotent", || {
            upgrade_applies_records_and_is_idempotent();
            Ok(())
        }),
        Trial::test("runtime::upgrade_to_stops_at_the_version", || {
            upgrade_to_stops_at_the_version();
            Ok(())
        }),
        Trial::test("runtime::refuses_a_database_whose_applied_migration_was_edited", || {
            refuses_a_database_whose_applied_migration_was_edited();
            Ok(())
        }),
        Trial::test("runtime::batch_mode_is_all_or_nothing", || {
            batch_mode_is_all_or_nothing();
            Ok(())
        }),
        Trial::test("runtime::refuses_a_database_migrated_by_a_newer_binary", || {
            refuses_a_database_migrated_by_a_newer_binary();
            Ok(())
        }),
        Trial::test("runtime::a_malformed_history_table_is_an_error_not_a_panic", || {
            a_malformed_history_table_is_an_error_not_a_panic();
            Ok(())
        }),
        Trial::test("runtime::a_failed_migration_leaves_the_last_good_version", || {
            a_failed_migration_leaves_the_last_good_version();
            Ok(())
        }),
        Trial::test("runtime::no_transaction_and_self_managed_files_run_as_written", || {
            no_transaction_and_self_managed_files_run_as_written();
            Ok(())
        }),
        Trial::test("runtime::concurrent_migrators_apply_each_migration_once", || {
            concurrent_migrators_apply_each_migration_once();
            Ok(())
        }),
        Trial::test("runtime::downgrade_reverts_newest_first_and_refuses_irreversible", || {
            downgrade_reverts_newest_first_and_refuses_irreversible();
            Ok(())
        }),
        Trial::test("runtime::stamp_status_backup_and_history_table_name", || {
            stamp_status_backup_and_history_table_name();
            Ok(())
        }),
        Trial::test("runtime::a_failed_down_migration_names_the_version_the_database_stays_at", || {
            a_failed_down_migration_names_the_version_the_database_stays_at();
            Ok(())
        }),
    ]
}
