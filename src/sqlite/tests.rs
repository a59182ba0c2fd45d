//! `upgrade --dry-run` and the real upgrade agree: over the states the
//! fault suites leave (nothing applied, some applied, a file cut
//! part-way, a squashed baseline, a failing statement), the steps the
//! dry run lists are the steps the real driver carries out, in order, and
//! a refusal is the same refusal.

use rusqlite::Connection;

use super::driver::Driver;
use crate::protocol::{self, Apply, Locking, Step};
use crate::{Error, Migration, Migrations, Mode, Report, Script, UpgradeOptions};

fn migration(v: i64, sql: &str, mode: Mode) -> Migration {
    Migration::new(
        v,
        format!("m{v}"),
        format!("sum{v}:{sql}"),
        format!("chain{v}:{sql}"),
        Script::new(format!("{v}_m{v}.up.sql"), sql.to_owned(), mode),
        Some(Script::new(format!("{v}_m{v}.down.sql"), "SELECT 1;", Mode::Transaction)),
    )
}

fn history(second: &str) -> Migrations {
    Migrations::new(vec![
        migration(1, "CREATE TABLE a (x INTEGER);\nCREATE INDEX a_x ON a (x);", Mode::Transaction),
        migration(2, second, Mode::NoTransaction),
        migration(3, "BEGIN;\nCREATE TABLE c (z);\nINSERT INTO c VALUES (1);\nCOMMIT;", Mode::SelfManaged),
        migration(4, "CREATE TABLE d (w);", Mode::Transaction),
    ])
}

/// The real upgrade, each step it carried out written down.
fn traced(ms: &Migrations, conn: &mut Connection, options: &UpgradeOptions) -> (Result<Report, Error>, Vec<String>) {
    let mut seen = Vec::new();
    let mut apply = Apply::upgrade(ms, options, Locking::PerTransaction);
    let mut driver = Driver::new(conn, &ms.history);
    let result = protocol::drive(
        &mut apply,
        |_, _, _| {},
        |step| {
            seen.push(step.to_string());
            driver.carry(step)
        },
    );
    (result, seen)
}

/// The dry run's steps, without `Starting` (the real driver hears of
/// it through `progress`, not `carry`).
fn planned(ms: &Migrations, conn: &Connection, options: &UpgradeOptions) -> Result<Vec<String>, String> {
    let steps = ms.upgrade_plan(conn, options).map_err(|e| e.to_string())?;
    Ok(steps.iter().filter(|s| !matches!(s, Step::Starting { .. })).map(|s| s.to_string()).collect())
}

fn agree(ms: &Migrations, conn: &mut Connection, options: &UpgradeOptions) -> Vec<String> {
    let plan = planned(ms, conn, options);
    let (result, seen) = traced(ms, conn, options);
    match (plan, result) {
        (Ok(plan), Ok(_)) => assert_eq!(plan, seen, "the dry run lists what the upgrade does"),
        (Err(refused), Err(err)) => assert_eq!(refused, err.to_string(), "the same refusal"),
        (plan, result) => panic!("the dry run said {plan:?}, the upgrade {result:?}"),
    }
    seen
}

const SECOND: &str = "CREATE TABLE b (y);\nCREATE INDEX b_y ON b (y);\nINSERT INTO b VALUES (1);";

#[test]
fn the_dry_run_lists_the_steps_the_upgrade_takes() {
    let ms = history(SECOND);
    // Nothing applied; then part; then a target; then nothing to do.
    let mut conn = Connection::open_in_memory().unwrap();
    let seen = agree(&ms, &mut conn, &UpgradeOptions::default().target(1));
    assert!(seen.contains(&"create the history table if it does not exist".to_owned()), "{seen:?}");
    let seen = agree(&ms, &mut conn, &UpgradeOptions::default());
    assert_eq!(seen.iter().filter(|s| s.starts_with("mark 2 ")).count(), 4, "a first mark, one per statement");
    assert!(seen.contains(&"check that index `b_y` is valid".to_owned()), "{seen:?}");
    assert_eq!(agree(&ms, &mut conn, &UpgradeOptions::default()), ["read the history's newest row"]);
    // All at once.
    let batch = history("SELECT 1;");
    let batch = Migrations::new(batch.iter().filter(|m| m.up().mode() == Mode::Transaction).cloned().collect());
    let seen = agree(&batch, &mut Connection::open_in_memory().unwrap(), &UpgradeOptions::default().batch(true));
    assert_eq!(seen.iter().filter(|s| *s == "BEGIN").count(), 1, "{seen:?}");
    // A refusal: batch with a file that runs outside a transaction.
    agree(&ms, &mut Connection::open_in_memory().unwrap(), &UpgradeOptions::default().batch(true));
}

#[test]
fn they_agree_on_a_file_cut_part_way_and_on_a_failing_statement() {
    let mut conn = Connection::open_in_memory().unwrap();
    // Migration 2 fails at its second statement: the first stays, marked.
    let broken = history("CREATE TABLE b (y);\nINSERT INTO missing VALUES (1);\nCREATE TABLE e (v);");
    let plan = planned(&broken, &conn, &UpgradeOptions::default()).unwrap();
    let (result, seen) = traced(&broken, &mut conn, &UpgradeOptions::default());
    assert!(matches!(result, Err(Error::MigrationFailed { version: 2, kept: Some(1), .. })), "{result:?}");
    let failed = seen.iter().position(|s| s.contains("from line 2")).unwrap();
    assert_eq!(plan[..=failed], seen[..=failed], "the real run follows the plan until the failure");
    assert_eq!(seen[failed + 1..], ["roll back the file's own transaction, if it has one open"]);
    // Fixed after the point where it stopped: both resume there.
    let fixed = history("CREATE TABLE b (y);\nCREATE TABLE missing (m);\nINSERT INTO missing VALUES (1);");
    let seen = agree(&fixed, &mut conn, &UpgradeOptions::default());
    assert!(!seen.iter().any(|s| s == "mark 2 `interrupted up 0 0`"), "resumed, not restarted: {seen:?}");
    assert!(seen.iter().any(|s| s.contains("from line 2")), "{seen:?}");
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name IN ('b', 'missing', 'c', 'd')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 4);

    // Its own transaction rolled back: both restart where the history says.
    let mut conn = Connection::open_in_memory().unwrap();
    let own = Migrations::new(vec![migration(
        1,
        "CREATE TABLE s (x);\nBEGIN;\nINSERT INTO s VALUES (1);\nINSERT INTO nope VALUES (1);\nCOMMIT;",
        Mode::SelfManaged,
    )]);
    let (result, _) = traced(&own, &mut conn, &UpgradeOptions::default());
    assert!(matches!(result, Err(Error::MigrationFailed { kept: Some(1), .. })), "{result:?}");
    let fixed = Migrations::new(vec![migration(
        1,
        "CREATE TABLE s (x);\nBEGIN;\nINSERT INTO s VALUES (1);\nCOMMIT;",
        Mode::SelfManaged,
    )]);
    agree(&fixed, &mut conn, &UpgradeOptions::default());
    // An edited applied migration: the same refusal.
    agree(&history("SELECT 2;"), &mut conn, &UpgradeOptions::default());
}

#[test]
fn they_agree_on_a_squashed_baseline() {
    let ms = history(SECOND).with_baseline(crate::Baseline::new(
        3,
        "first_three",
        "b",
        "chain3:BEGIN;\nCREATE TABLE c (z);\nINSERT INTO c VALUES (1);\nCOMMIT;",
        Script::new("3_first_three.baseline.sql", "CREATE TABLE a (x); CREATE TABLE b (y);", Mode::Transaction),
    ));
    let seen = agree(&ms, &mut Connection::open_in_memory().unwrap(), &UpgradeOptions::default());
    assert!(seen.contains(&"run `3_first_three.baseline.sql`".to_owned()), "{seen:?}");
    assert!(seen.contains(&"record 1 `m1` as applied".to_owned()), "the replaced migrations recorded: {seen:?}");
    assert!(!seen.iter().any(|s| s.starts_with("mark ")), "{seen:?}");
}
