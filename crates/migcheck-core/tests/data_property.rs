//! Property: rows never hide an error. Over random histories (tables
//! created, altered, rebuilt, indexed, filled, dropped; statements that fail
//! on any database; downs right and wrong), the check with synthetic rows
//! reports every error the check on empty tables reports, at the same place,
//! unless it stopped earlier at an error only rows reveal.

use std::fs;

use migcheck_core::check::check;

use migcheck_core::config::Config;
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
        t.clone().prop_map(|t| format!("SELECT nope FROM t{t};")),
        // What the row writer finds hard: a foreign key to a table that may
        // be missing or renamed, CHECK-listed values, generated columns,
        // views, triggers that write.
        (t.clone(), 0..3usize).prop_map(|(t, p)| format!(
            "CREATE TABLE IF NOT EXISTS f{t} (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES t{p}(id));"
        )),
        t.clone().prop_map(|t| format!("ALTER TABLE t{t} RENAME TO o{t};")),
        t.clone().prop_map(|t| format!(
            "CREATE TABLE IF NOT EXISTS k{t} (id INTEGER PRIMARY KEY, s TEXT NOT NULL CHECK (s IN ('a', 'b')), n INTEGER CHECK (n > 0));"
        )),
        t.clone().prop_map(|t| format!(
            "CREATE TABLE IF NOT EXISTS g{t} (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2));"
        )),
        t.clone().prop_map(|t| format!("CREATE VIEW IF NOT EXISTS v{t} AS SELECT * FROM t{t};")),
        t.prop_map(|t| format!(
            "CREATE TRIGGER IF NOT EXISTS w{t} AFTER INSERT ON t{t} BEGIN UPDATE t{t} SET c1 = 1 WHERE id = NEW.id; END;"
        )),
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

/// A step of a history that runs on any database its earlier steps made:
/// rendered only where it can run (see [`render`]).
#[derive(Debug, Clone)]
enum Step {
    Create(usize, bool),
    Child(usize, usize),
    Choices(usize),
    Generated(usize),
    Insert(usize),
    AddColumn(usize),
    Index(usize),
    View(usize),
    Trigger(usize),
    /// vaultwarden's swap: rename, create anew, copy, drop the old one.
    Swap(usize),
    /// SQLite's rebuild procedure.
    Rebuild(usize),
    Drop(usize),
}

fn sound_migration() -> impl Strategy<Value = Vec<Step>> {
    let t = 0..3usize;
    let step = prop_oneof![
        (t.clone(), any::<bool>()).prop_map(|(t, nn)| Step::Create(t, nn)),
        (t.clone(), 0..3usize).prop_map(|(t, p)| Step::Child(t, p)),
        t.clone().prop_map(Step::Choices),
        t.clone().prop_map(Step::Generated),
        t.clone().prop_map(Step::Insert),
        t.clone().prop_map(Step::AddColumn),
        t.clone().prop_map(Step::Index),
        t.clone().prop_map(Step::View),
        t.clone().prop_map(Step::Trigger),
        t.clone().prop_map(Step::Swap),
        t.clone().prop_map(Step::Rebuild),
        t.prop_map(Step::Drop),
    ];
    prop::collection::vec(step, 1..4)
}

/// Each migration's SQL, with the steps that could not run where they are
/// left out (a table's steps only while it exists).
fn render(history: &[Vec<Step>]) -> Vec<String> {
    let mut exists = [false; 3];
    let mut extra = [false; 3];
    let mut made = std::collections::BTreeSet::new();
    let columns = |extra: bool| if extra { "id, c0, c1, x" } else { "id, c0, c1" };
    let create = |t: usize, name: &str, nn: bool, extra: bool| {
        format!(
            "CREATE TABLE {name} (id INTEGER PRIMARY KEY, c0 TEXT{}, c1 INTEGER UNIQUE{});",
            if nn { " NOT NULL DEFAULT ''" } else { "" },
            if extra { ", x TEXT" } else { "" }
        )
        .replace("{t}", &t.to_string())
    };
    let mut out = Vec::new();
    for steps in history {
        let mut sql = Vec::new();
        for step in steps {
            match *step {
                Step::Create(t, nn) if !exists[t] => {
                    sql.push(create(t, &format!("t{t}"), nn, false));
                    (exists[t], extra[t]) = (true, false);
                }
                Step::Child(t, p) if made.insert(format!("f{t}")) => sql.push(format!(
                    "CREATE TABLE f{t} (id INTEGER PRIMARY KEY, p INTEGER NOT NULL REFERENCES t{p}(id));"
                )),
                Step::Choices(t) if made.insert(format!("k{t}")) => sql.push(format!(
                    "CREATE TABLE k{t} (id INTEGER PRIMARY KEY, s TEXT NOT NULL CHECK (s IN ('a', 'b')), n INTEGER CHECK (n > 0));"
                )),
                Step::Generated(t) if made.insert(format!("g{t}")) => sql.push(format!(
                    "CREATE TABLE g{t} (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2));"
                )),
                Step::Insert(t) if exists[t] => sql.push(format!("INSERT OR IGNORE INTO t{t} (c0, c1) VALUES ('a', 1);")),
                Step::AddColumn(t) if exists[t] && !extra[t] => {
                    sql.push(format!("ALTER TABLE t{t} ADD COLUMN x TEXT;"));
                    extra[t] = true;
                }
                Step::Index(t) if exists[t] => sql.push(format!("CREATE INDEX IF NOT EXISTS t{t}_c0 ON t{t} (c0);")),
                Step::View(t) if exists[t] => sql.push(format!("CREATE VIEW IF NOT EXISTS v{t} AS SELECT id, c0 FROM t{t};")),
                Step::Trigger(t) if exists[t] => sql.push(format!(
                    "CREATE TRIGGER IF NOT EXISTS w{t} AFTER INSERT ON t{t} BEGIN UPDATE t{t} SET c0 = 'w' WHERE id = NEW.id; END;"
                )),
                Step::Swap(t) if exists[t] => sql.push(format!(
                    "ALTER TABLE t{t} RENAME TO o{t};\n{}\nINSERT INTO t{t} ({cols}) SELECT {cols} FROM o{t};\nDROP TABLE o{t};",
                    create(t, &format!("t{t}"), false, extra[t]),
                    cols = columns(extra[t])
                )),
                Step::Rebuild(t) if exists[t] => sql.push(format!(
                    "{}\nINSERT INTO n{t} ({cols}) SELECT {cols} FROM t{t};\nDROP TABLE t{t};\nALTER TABLE n{t} RENAME TO t{t};",
                    create(t, &format!("n{t}"), false, extra[t]),
                    cols = columns(extra[t])
                )),
                Step::Drop(t) if exists[t] => {
                    sql.push(format!("DROP VIEW IF EXISTS v{t};\nDROP TABLE t{t};"));
                    exists[t] = false;
                }
                _ => {}
            }
        }
        out.push(if sql.is_empty() { "SELECT 1;".to_owned() } else { sql.join("\n") });
    }
    out
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

/// The history as files in a new directory.
fn write(history: &[(String, Option<String>)]) -> tempfile::TempDir {
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
    root
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// On a history that passes without data checks, they add findings,
    /// never an error that names no file: the row writer's own trouble is a
    /// note (`data-skipped`) and the check goes on.
    #[test]
    fn data_checks_never_add_an_error_without_a_file(history in prop::collection::vec(sound_migration(), 1..8)) {
        let history: Vec<(String, Option<String>)> = render(&history).into_iter().map(|up| (up, None)).collect();
        let root = write(&history);
        let dir = root.path().join("migrations");
        prop_assume!(errors(&dir, false).is_empty());
        let mut config = Config::new(&dir);
        config.data = true;
        let report = check(&config);
        for e in report.errors() {
            let file = e.location.as_ref().map(|l| l.path.as_str()).unwrap_or_default();
            prop_assert!(
                file.ends_with(".sql") && e.kind != Kind::Io,
                "an error without a file: {}\nhistory: {history:#?}",
                e.render()
            );
        }
    }

    #[test]
    fn rows_never_hide_an_error(history in prop::collection::vec(migration(), 1..7)) {
        let root = write(&history);
        let dir = root.path().join("migrations");
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
