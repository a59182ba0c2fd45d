//! Property: rows never hide an error. Over random histories (tables
//! created, altered, rebuilt, indexed, filled, dropped; statements that fail
//! on any database; downs right and wrong), the check with synthetic rows
//! reports every error the check on empty tables reports, at the same place,
//! unless it stopped earlier at an error only rows reveal.

use std::fs;

use migcheck_core::check::{Config, check};
use migcheck_core::diagnostic::Kind;
use proptest::prelude::*;

/// One statement of a migration, over tables `t0`–`t2` and columns `c0`–`c2`.
fn statement() -> impl Strategy<Value = String> {
    let t = 0..3usize;
    let c = 0..3usize;
    prop_oneof![
        (t.clone(), any::<bool>(), any::<bool>()).prop_map(|(t, nn, uq)| format!(
            "CREATE TABLE t{t} (id INTEGER PRIMARY KEY, c0 TEXT{}, c1 INTEGER{}, c2 TEXT);",
            if nn { " NOT NULL" } else { "" },
            if uq { " UNIQUE" } else { "" }
        )),
        (t.clone(), c.clone())
            .prop_map(|(t, c)| format!("ALTER TABLE t{t} ADD COLUMN x{c} TEXT NOT NULL DEFAULT 'x';")),
        (t.clone(), c.clone()).prop_map(|(t, c)| format!("ALTER TABLE t{t} ADD COLUMN y{c} INTEGER;")),
        (t.clone(), c.clone())
            .prop_map(|(t, c)| format!("CREATE UNIQUE INDEX IF NOT EXISTS t{t}_u{c} ON t{t} (c{c});")),
        (t.clone(), c.clone()).prop_map(|(t, c)| format!("CREATE INDEX IF NOT EXISTS t{t}_i{c} ON t{t} (c{c});")),
        (t.clone(), c.clone()).prop_map(|(t, c)| format!("UPDATE t{t} SET c{c} = NULL;")),
        t.clone().prop_map(|t| format!("INSERT INTO t{t} (c0, c1) VALUES ('a', 1);")),
        t.clone().prop_map(|t| format!(
            "CREATE TABLE r{t} (id INTEGER PRIMARY KEY, c0 TEXT NOT NULL, c1 INTEGER, c2 TEXT);\n\
             INSERT INTO r{t} (id, c0, c1, c2) SELECT id, c0, c1, c2 FROM t{t};\n\
             DROP TABLE t{t};\nALTER TABLE r{t} RENAME TO t{t};"
        )),
        t.clone().prop_map(|t| format!("DROP TABLE t{t};")),
        t.clone().prop_map(|t| format!("DELETE FROM t{t} WHERE c1 > 2;")),
        t.prop_map(|t| format!("SELECT nope FROM t{t};")),
    ]
}

/// A migration: one to three statements, and maybe a down (`SELECT 1;` is a
/// down that restores nothing; a DROP of a created table is a right one).
fn migration() -> impl Strategy<Value = (String, Option<String>)> {
    (prop::collection::vec(statement(), 1..4), 0..3usize).prop_map(|(statements, down)| {
        let up = statements.join("\n");
        let created: Vec<&str> = statements
            .iter()
            .filter_map(|s| s.strip_prefix("CREATE TABLE ").and_then(|r| r.split(' ').next()))
            .filter(|name| name.starts_with('t'))
            .collect();
        let down = match down {
            0 => None,
            1 => Some("SELECT 1;\n".to_owned()),
            _ => Some(created.iter().rev().map(|t| format!("DROP TABLE {t};\n")).collect()),
        };
        (up, down)
    })
}

/// The errors of a check: (code, version, line and column, message).
type Found = Vec<(Kind, Option<i64>, Option<(usize, usize)>, String)>;

fn errors(dir: &std::path::Path, data: bool) -> Found {
    let mut config = Config::new(dir);
    config.data = data;
    let report = check(&config);
    report
        .errors()
        .map(|d| (d.kind, d.version, d.location.as_ref().and_then(|l| l.line_column), d.message.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rows_never_hide_an_error(history in prop::collection::vec(migration(), 1..7)) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("migrations");
        fs::create_dir(&dir).unwrap();
        for (i, (up, down)) in history.iter().enumerate() {
            let v = i + 1;
            match down {
                Some(down) => {
                    fs::write(dir.join(format!("{v}_m.up.sql")), up).unwrap();
                    fs::write(dir.join(format!("{v}_m.down.sql")), down).unwrap();
                }
                None => fs::write(dir.join(format!("{v}_m.sql")), up).unwrap(),
            }
        }
        let empty = errors(&dir, false);
        let rows = errors(&dir, true);
        // Only rows reveal these; they stop the run where they are.
        let data_only = |k: Kind| matches!(k, Kind::DownDataMismatch | Kind::DataError);
        let stopped_at = rows.iter().filter(|e| data_only(e.0)).filter_map(|e| e.1).min();
        for error in &empty {
            let later = matches!((stopped_at, error.1), (Some(stop), Some(v)) if v > stop);
            prop_assert!(
                later || rows.contains(error),
                "an error without rows is missing with rows: {error:?}\nwith rows: {rows:?}\nhistory: {history:#?}"
            );
        }
    }
}
