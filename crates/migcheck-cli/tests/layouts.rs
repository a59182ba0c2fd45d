//! Other tools' migration directories, read in place by the real binary.
//!
//! `tests/fixtures/layouts/` holds one bookshop history of 16 migrations
//! written in each tool's own conventions: its file names and templates,
//! comments, trigger bodies and strings that hold `;` and `--`, two files with
//! CRLF line endings and one with a byte-order mark, the tool's own
//! no-transaction marker (or, for golang-migrate, a file that manages its own
//! transaction), and the files such directories carry beside migrations.
//! Each directory is checked against `schema.sql` (the drift check), sealed,
//! applied to a SQLite file, and must give exactly that schema and the seeded
//! rows, leaving every fixture file as it was.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migcheck_core::schema::{Snapshot, compare};
use migcheck_core::scratch::ScratchConfig;
use rusqlite::Connection;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layouts")
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf(), fs::read(&path).unwrap());
            }
        }
    }
    out
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn migcheck(root: &Path, args: &[&str], ci: bool) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.current_dir(root)
        .args(args)
        .env("DATABASE_URL", "sqlite:shop.db")
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env_remove("MIGCHECK_SCRATCH_URL");
    if ci {
        cmd.env("CI", "true");
    }
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

struct Fixture {
    dir: &'static str,
    layout: &'static str,
    versions: Vec<i64>,
    /// Migrations with a down half.
    reversible: usize,
}

/// The fixtures' dated versions: one a day from 2024-01-01, at varying times.
fn dated(day: i64) -> i64 {
    let (month, mday) = (1 + day / 28, 1 + day % 28);
    let (hour, minute, second) = ((9 + day) % 24, (7 * day) % 60, (13 * day) % 60);
    // YYYYMMDDhhmmss as a number.
    ((((2024 * 100 + month) * 100 + mday) * 100 + hour) * 100 + minute) * 100 + second
}

fn fixture_list() -> Vec<Fixture> {
    let dated_versions: Vec<i64> = (0..16).map(dated).collect();
    let from_one: Vec<i64> = (1..=16).collect();
    vec![
        Fixture { dir: "sqlx", layout: "migcheck", versions: dated_versions.clone(), reversible: 16 },
        Fixture { dir: "golang-migrate", layout: "migcheck", versions: from_one.clone(), reversible: 16 },
        Fixture { dir: "diesel", layout: "diesel", versions: dated_versions.clone(), reversible: 15 },
        Fixture { dir: "refinery", layout: "refinery", versions: (0..16).collect(), reversible: 0 },
        Fixture { dir: "flyway", layout: "refinery", versions: from_one.clone(), reversible: 15 },
        Fixture { dir: "dbmate", layout: "dbmate", versions: dated_versions.clone(), reversible: 15 },
        Fixture { dir: "goose", layout: "goose", versions: from_one, reversible: 16 },
        Fixture { dir: "sql-migrate", layout: "sql-migrate", versions: dated_versions, reversible: 15 },
    ]
}

#[test]
fn other_tools_directories_are_checked_and_applied_in_place() {
    let expected_schema = fs::read_to_string(fixtures().join("schema.sql")).unwrap();
    let expected = {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&expected_schema).unwrap();
        Snapshot::read(&conn, &[]).unwrap()
    };
    for fixture in fixture_list() {
        let name = fixture.dir;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = root.join("migrations");
        copy_tree(&fixtures().join(name), &dir);
        fs::write(root.join("schema.sql"), &expected_schema).unwrap();
        let before = tree(&dir);

        // Unsealed: the checks pass (with the unsealed warning), drift included.
        let run = migcheck(root, &["check"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert!(!run.stderr.contains("error"), "{name}: {run:?}");

        let run = migcheck(root, &["lock"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");

        // Sealed, the locked check (as in CI) passes too, and names the layout.
        let run = migcheck(root, &["check", "--format", "json"], true);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let checked: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(checked["layout"], fixture.layout, "{name}: {checked}");
        let migrations = checked["migrations"].as_array().unwrap();
        let versions: Vec<i64> = migrations.iter().map(|m| m["version"].as_i64().unwrap()).collect();
        assert_eq!(versions, fixture.versions, "{name}: migrations in version order");
        assert!(migrations.iter().all(|m| m["sealed"] == true), "{name}: {checked}");
        let reversible = migrations.iter().filter(|m| m["reversible"] == true).count();
        assert_eq!(reversible, fixture.reversible, "{name}: {checked}");

        let run = migcheck(root, &["upgrade", "--no-backup"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert_eq!(run.stdout.lines().filter(|l| l.starts_with("applied ")).count(), 16, "{name}: {run:?}");
        let run = migcheck(root, &["history", "--format", "json"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let history: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let states: Vec<&str> =
            history["migrations"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
        assert_eq!(states, vec!["applied"; 16], "{name}: {history}");
        // Nothing left to do.
        let run = migcheck(root, &["status"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");

        let conn = Connection::open(root.join("shop.db")).unwrap();
        let got = Snapshot::read(&conn, &["migcheck_history"]).unwrap();
        let diff = compare(&got, &expected, &ScratchConfig::default()).unwrap();
        assert!(diff.is_empty(), "{name}: {:#?}", diff.describe("the database", "schema.sql"));
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT count(*) FROM tags WHERE name IN ('poetry; verse', 'children''s')"), 2, "{name}");
        assert_eq!(count("SELECT count(*) FROM authors WHERE full_name = 'Anonymous -- unknown; really'"), 1, "{name}");
        assert_eq!(count("SELECT count(*) FROM book_list WHERE author = 'Ursula K. Le Guin'"), 1, "{name}");

        let mut after = tree(&dir);
        after.remove(Path::new("migrations.lock"));
        assert!(before == after, "{name}: the fixture's files were changed");
    }
}

/// sqlx itself applies the sqlx fixture: the schema must be exactly the one
/// migcheck gives. The runner is `benches/sqlx-compare` (built apart: sqlx's
/// SQLite driver links another libsqlite3-sys than rusqlite); `.ci/run` builds
/// it and sets `MIGCHECK_SQLX_RUNNER`.
#[test]
fn sqlx_gives_the_schema_migcheck_gives() {
    let Some(runner) = std::env::var_os("MIGCHECK_SQLX_RUNNER") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "MIGCHECK_SQLX_RUNNER is not set: .ci/run builds benches/sqlx-compare and sets it"
        );
        eprintln!("skipped: set MIGCHECK_SQLX_RUNNER to a build of benches/sqlx-compare to compare with sqlx");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_tree(&fixtures().join("sqlx"), &root.join("migrations"));
    let run = migcheck(root, &["upgrade", "--no-backup"], false);
    assert_eq!(run.code, 0, "{run:?}");
    let out =
        Command::new(&runner).arg("apply").arg(root.join("migrations")).arg(root.join("sqlx.db")).output().unwrap();
    assert!(out.status.success(), "sqlx: {}", String::from_utf8_lossy(&out.stderr));

    let ours = Connection::open(root.join("shop.db")).unwrap();
    let theirs = Connection::open(root.join("sqlx.db")).unwrap();
    let schema = |conn: &Connection, history: &str| Snapshot::read(conn, &[history]).unwrap();
    // The same text, object for object: not only an equivalent schema.
    assert_eq!(schema(&ours, "migcheck_history"), schema(&theirs, "_sqlx_migrations"));
    let rows = |conn: &Connection, sql: &str| -> Vec<String> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    for sql in [
        "SELECT name FROM tags ORDER BY id",
        "SELECT full_name FROM authors ORDER BY id",
        "SELECT title || ' ' || isbn FROM books ORDER BY id",
    ] {
        assert_eq!(rows(&ours, sql), rows(&theirs, sql), "{sql}");
    }
    let applied: i64 =
        theirs.query_row("SELECT count(*) FROM _sqlx_migrations WHERE success", [], |r| r.get(0)).unwrap();
    assert_eq!(applied, 16);
}
