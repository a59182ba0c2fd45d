//! Many SQLite databases upgraded as a fleet (`Migrations::upgrade_each`):
//! each database all or nothing per migration, the others going on past a
//! failure, each reported.

use std::time::Duration;

use libtest_mimic::Trial;
use migcheck::{Error, FleetOptions, Migration, Migrations, Mode, Script};
use rusqlite::Connection;

fn migrations() -> Migrations {
    let m = |v: i64, sql: &'static str| {
        Migration::new(
            v,
            format!("m{v}"),
            format!("sum{v}"),
            format!("chain{v}"),
            Script::new(format!("{v}.sql"), sql, Mode::Transaction),
            None,
        )
    };
    Migrations::new(vec![
        m(1, "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);"),
        m(2, "CREATE TABLE tags (note INTEGER REFERENCES notes, tag TEXT);"),
        m(3, "CREATE UNIQUE INDEX notes_title ON notes (title);"),
    ])
}

fn version(path: &std::path::Path) -> Option<i64> {
    let conn = Connection::open(path).unwrap();
    migrations().current(&conn).unwrap()
}

/// A fleet of seven: up to date, behind, never migrated, divergent, locked
/// by another connection, not a database, and one whose data makes a
/// migration fail. The summary says which is which, and none is left
/// between versions.
fn a_fleet_with_every_kind_of_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(format!("{name}.db"));
    let m = migrations();
    let names = ["current", "behind", "fresh", "divergent", "locked", "garbage", "failing"];
    for name in names {
        Connection::open(path(name)).unwrap();
    }
    m.upgrade(&mut Connection::open(path("current")).unwrap()).unwrap();
    m.upgrade_to(&mut Connection::open(path("behind")).unwrap(), 1).unwrap();
    m.upgrade_to(&mut Connection::open(path("divergent")).unwrap(), 1).unwrap();
    Connection::open(path("divergent"))
        .unwrap()
        .execute("UPDATE migcheck_history SET checksum = 'edited'", [])
        .unwrap();
    m.upgrade_to(&mut Connection::open(path("locked")).unwrap(), 2).unwrap();
    std::fs::write(path("garbage"), b"this is not a database, it is a text file that is long enough").unwrap();
    m.upgrade_to(&mut Connection::open(path("failing")).unwrap(), 2).unwrap();
    Connection::open(path("failing")).unwrap().execute_batch("INSERT INTO notes (title) VALUES ('a'), ('a');").unwrap();
    let holder = Connection::open(path("locked")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let paths: Vec<_> = names.iter().map(|n| path(n)).collect();
    let options = FleetOptions::default().jobs(3).busy_timeout(Duration::from_millis(200));
    let report = m.upgrade_each(&paths, &options, |_| {});
    holder.execute_batch("ROLLBACK").unwrap();
    let by = |name: &str| report.databases.iter().find(|d| d.path == path(name)).unwrap();
    assert!(by("current").error.is_none() && by("current").applied.is_empty());
    assert_eq!((by("current").before, by("current").after), (Some(3), Some(3)));
    assert_eq!((by("behind").before, by("behind").after, by("behind").applied.len()), (Some(1), Some(3), 2));
    assert_eq!((by("fresh").before, by("fresh").after), (None, Some(3)));
    assert!(matches!(by("divergent").error, Some(Error::Divergent { version: 1, .. })), "{:?}", by("divergent").error);
    assert!(by("locked").error.as_ref().is_some_and(|e| e.to_string().contains("locked")), "{:?}", by("locked").error);
    assert!(by("garbage").error.is_some(), "{:?}", by("garbage"));
    let failing = by("failing");
    assert!(matches!(failing.error, Some(Error::MigrationFailed { version: 3, .. })), "{:?}", failing.error);
    assert_eq!(failing.after, Some(2), "left at its last good version");
    assert_eq!(report.failed().count(), 4);
    assert_eq!(report.upgraded().count(), 2);
    assert!(!report.is_ok());
    // Nothing between versions: each is where its history says.
    for (name, want) in [("behind", 3), ("fresh", 3), ("locked", 2), ("failing", 2), ("divergent", 1)] {
        assert_eq!(version(&path(name)), Some(want), "{name}");
    }
    // The lock released, a second run finishes the locked one only.
    let again = m.upgrade_each(&paths, &options, |_| {});
    assert_eq!(again.upgraded().map(|d| d.path.clone()).collect::<Vec<_>>(), [path("locked")]);

    // fail_fast: after the first failure, the databases not started are skipped.
    let report = m.upgrade_each(&paths, &FleetOptions::default().jobs(1).fail_fast(true), |_| {});
    assert!(report.skipped().count() >= 1, "{report:?}");
    assert!(report.databases.iter().skip_while(|d| d.error.is_none()).skip(1).all(|d| d.skipped));
}

/// This module's tests.
pub fn trials() -> Vec<Trial> {
    vec![Trial::test("fleet::a_fleet_with_every_kind_of_database", || {
        a_fleet_with_every_kind_of_database();
        Ok(())
    })]
}
