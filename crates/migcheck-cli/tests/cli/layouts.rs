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

use migcheck_core::config::ScratchConfig;
use migcheck_core::engine::sqlite::schema::{Snapshot, compare};
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

/// A project holding a copy of the fixture `name` as its `migrations/`, and
/// `schema` as its `schema.sql`.
fn project(name: &str, schema: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    copy_tree(&fixtures().join(name), &dir);
    fs::write(tmp.path().join("schema.sql"), schema).unwrap();
    (tmp, dir)
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

fn other_tools_directories_are_checked_and_applied_in_place() {
    let expected_schema = fs::read_to_string(fixtures().join("schema.sql")).unwrap();
    let expected = {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&expected_schema).unwrap();
        Snapshot::read(&conn, &[]).unwrap()
    };
    for fixture in fixture_list() {
        let name = fixture.dir;
        let (tmp, dir) = project(name, &expected_schema);
        let root = tmp.path();
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
/// migcheck gives. The runner is `benches/sqlx-compare` (built apart, so that
/// the workspace does not compile sqlx's SQLite driver); `.ci/run` builds it
/// and sets `MIGCHECK_SQLX_RUNNER`.
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
    // sqlx accepts a migration numbered 0, and so does migcheck.
    fs::write(root.join("migrations/0_version_zero.sql"), "CREATE TABLE zero (x);\nDROP TABLE zero;\n").unwrap();
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
    assert_eq!(applied, 17);
    let zero: i64 =
        theirs.query_row("SELECT count(*) FROM _sqlx_migrations WHERE version = 0", [], |r| r.get(0)).unwrap();
    assert_eq!(zero, 1, "sqlx applied version 0");
    let ours_zero: i64 =
        ours.query_row("SELECT count(*) FROM migcheck_history WHERE version = 0", [], |r| r.get(0)).unwrap();
    assert_eq!(ours_zero, 1, "migcheck applied version 0");
}

/// `new`, `rebase` and `diff` write names in the directory's own layout, so
/// that the next check reads them: in each tool's directory, the newest
/// migration is held back while the rest and a `new` one are sealed, then
/// put back (out of order), `rebase`d, and the schema file is extended for
/// `diff` to write the migration that catches up.
fn new_rebase_and_diff_write_names_in_each_layout() {
    let schema = fs::read_to_string(fixtures().join("schema.sql")).unwrap();
    for fixture in fixture_list() {
        let name = fixture.dir;
        let (tmp, _) = project(name, &schema);
        let root = tmp.path();
        let run = migcheck(root, &["check", "--format", "json"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let checked: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let newest = checked["migrations"].as_array().unwrap().last().unwrap().clone();
        // The newest migration's entries in the directory (a diesel migration is its directory).
        let mut held: Vec<PathBuf> = Vec::new();
        for file in newest["files"].as_array().unwrap() {
            let path = root.join(file.as_str().unwrap());
            let entry = if fixture.layout == "diesel" { path.parent().unwrap().to_path_buf() } else { path };
            if !held.contains(&entry) {
                held.push(entry);
            }
        }
        let aside = root.join("aside");
        fs::create_dir(&aside).unwrap();
        for entry in &held {
            fs::rename(entry, aside.join(entry.file_name().unwrap())).unwrap();
        }
        let run = migcheck(root, &["lock"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");

        let run = migcheck(root, &["new", "add notes"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let run = migcheck(root, &["check", "--format", "json"], false);
        assert_eq!(run.code, 0, "{name}: the new migration is read: {run:?}");
        let checked: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let added = checked["migrations"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(added["name"], "add_notes", "{name}: {checked}");
        // (Its down holds only a comment: diesel and the single-file layouts
        // read such a down as none, as their tools do.)
        let files = added["files"].as_array().unwrap().len();
        assert_eq!(files, if fixture.layout == "migcheck" { 2 } else { 1 }, "{name}: {checked}");
        let run = migcheck(root, &["lock"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");

        if fixture.layout == "refinery" {
            // Numbered 1, 2, 3, the new migration took the held-back one's
            // number: that is a duplicate, not an out-of-order migration (see
            // `rebase_renumbers_a_refinery_migration` for refinery's rebase).
        } else {
            for entry in &held {
                fs::rename(aside.join(entry.file_name().unwrap()), entry).unwrap();
            }
            let run = migcheck(root, &["check"], false);
            assert_eq!(run.code, 1, "{name}: the held-back migration is out of order: {run:?}");
            assert!(run.stderr.contains("migcheck rebase"), "{name}: {run:?}");
            let run = migcheck(root, &["rebase"], false);
            assert_eq!(run.code, 0, "{name}: {run:?}");
            let run = migcheck(root, &["check", "--format", "json"], false);
            assert_eq!(run.code, 0, "{name}: the renumbered migration is read: {run:?}");
            let checked: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            let last = checked["migrations"].as_array().unwrap().last().unwrap().clone();
            assert_eq!(last["name"], newest["name"], "{name}: {checked}");
            assert_eq!(last["reversible"], newest["reversible"], "{name}: {checked}");
        }

        fs::write(
            root.join("schema.sql"),
            format!("{schema}\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"),
        )
        .unwrap();
        let run = migcheck(root, &["check"], false);
        assert_eq!(run.code, 1, "{name}: drift: {run:?}");
        let run = migcheck(root, &["diff", "-m", "add notes table"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let run = migcheck(root, &["check"], false);
        assert_eq!(run.code, 0, "{name}: the generated migration is read and closes the drift: {run:?}");
        let run = migcheck(root, &["upgrade", "--no-backup"], false);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let conn = Connection::open(root.join("shop.db")).unwrap();
        let notes: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'", [], |r| r.get(0)).unwrap();
        assert_eq!(notes, 1, "{name}");
    }
}

/// The example of the issue that asked for it: in a refinery directory,
/// `V3__c.sql` written on a branch while `V5__b.sql` was sealed on main.
fn rebase_renumbers_a_refinery_migration() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = root.join("migrations");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("V1__a.sql"), "CREATE TABLE a (x);\n").unwrap();
    fs::write(dir.join("V5__b.sql"), "CREATE TABLE b (x);\n").unwrap();
    let run = migcheck(root, &["lock"], false);
    assert_eq!(run.code, 0, "{run:?}");
    fs::write(dir.join("V3__c.sql"), "CREATE TABLE c (x);\n").unwrap();
    let run = migcheck(root, &["rebase"], false);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(dir.join("V6__c.sql").exists() && !dir.join("V3__c.sql").exists(), "{run:?}");
    let run = migcheck(root, &["new", "d"], false);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(dir.join("V7__d.sql").exists(), "{run:?}");
    let run = migcheck(root, &["check"], false);
    assert_eq!(run.code, 0, "{run:?}");
}

/// A project's own names (`V0001.Initial_Schema.up.sql`), described by a
/// `layout custom <regex>` line in the lock: sealed, checked, extended with
/// `new` in the same style, applied, without renaming a file.
fn a_custom_layout_is_read_written_and_applied_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = root.join("migrations");
    fs::create_dir(&dir).unwrap();
    let pattern = r"V(?<version>\d+)\.(?<description>\w+)\.(?<direction>up|down)\.sql";
    fs::write(
        dir.join("migrations.lock"),
        format!("migcheck-lock 1\nlayout custom {pattern}\nchain {}\n", "0".repeat(64)),
    )
    .unwrap();
    fs::write(dir.join("V0001.Initial_Schema.up.sql"), "CREATE TABLE owners (id INTEGER PRIMARY KEY);\n").unwrap();
    fs::write(dir.join("V0001.Initial_Schema.down.sql"), "DROP TABLE owners;\n").unwrap();
    fs::write(dir.join("V0002.Add_Pets.up.sql"), "CREATE TABLE pets (owner INTEGER REFERENCES owners);\n").unwrap();
    fs::write(dir.join("V0002.Add_Pets.down.sql"), "DROP TABLE pets;\n").unwrap();

    let run = migcheck(root, &["lock"], false);
    assert_eq!(run.code, 0, "{run:?}");
    let lock = fs::read_to_string(dir.join("migrations.lock")).unwrap();
    assert!(lock.contains(&format!("\nlayout custom {pattern}\n")), "{lock}");
    assert!(lock.contains("\n2 ") && lock.contains(" Add_Pets\n"), "{lock}");

    let run = migcheck(root, &["new", "add toys", "--sequential"], false);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(dir.join("V0003.add_toys.up.sql").is_file() && dir.join("V0003.add_toys.down.sql").is_file(), "{run:?}");
    fs::write(dir.join("V0003.add_toys.up.sql"), "CREATE TABLE toys (pet INTEGER);\n").unwrap();
    fs::write(dir.join("V0003.add_toys.down.sql"), "DROP TABLE toys;\n").unwrap();
    let run = migcheck(root, &["check"], false);
    assert_eq!(run.code, 0, "{run:?}");
    let run = migcheck(root, &["upgrade", "--no-backup"], false);
    assert_eq!(run.code, 0, "{run:?}");
    let run = migcheck(root, &["history"], false);
    assert!(
        run.stdout.contains("1  Initial_Schema  applied") && run.stdout.contains("3  add_toys  applied"),
        "{run:?}"
    );

    // In name order, a new file is named to sort last.
    let by_name = tempfile::tempdir().unwrap();
    let named = by_name.path().join("migrations");
    fs::create_dir(&named).unwrap();
    fs::write(
        named.join("migrations.lock"),
        format!(
            "migcheck-lock 1\nlayout custom by-name (?<version>\\d{{8}})_(?<description>[a-z_]+)\\.sql\nchain {}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    fs::write(named.join("20240101_users.sql"), "CREATE TABLE users (id INTEGER PRIMARY KEY);\n").unwrap();
    fs::write(named.join("20240101_users_index.sql"), "CREATE INDEX users_id ON users (id);\n").unwrap();
    let run = migcheck(by_name.path(), &["new", "add posts", "--irreversible"], false);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(named.join("20240102_add_posts.sql").is_file(), "{run:?}");

    // A file the pattern does not match fails the check, naming the pattern.
    fs::write(dir.join("V0004_typo.up.sql"), "SELECT 1;\n").unwrap();
    let run = migcheck(root, &["check"], false);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("does not match the custom layout's pattern"), "{run:?}");
}

/// A tool's own runner (`benches/diesel-runner`, `benches/refinery-runner`,
/// built apart by `.ci/run`), or `None` outside CI when it is not built.
fn runner(variable: &str, manifest: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{variable} is not set: .ci/run builds `cargo build --manifest-path {manifest}` and sets it"
            );
            eprintln!("skipped: set {variable} to a build of {manifest} to compare with the tool itself");
            None
        }
    }
}

/// Runs a tool's runner; the names of the migrations it applied, in order.
fn run_tool(runner: &Path, dir: &Path, database: &str, count: Option<usize>) -> Vec<String> {
    let mut cmd = Command::new(runner);
    cmd.arg(dir).arg(database);
    if let Some(count) = count {
        cmd.arg(count.to_string());
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}: {}", runner.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// The names migcheck reads in the directory, in its order: diesel's
/// directory names, refinery's file stems.
fn migcheck_order(root: &Path, tool: &str) -> Vec<String> {
    let run = migcheck(root, &["check", "--format", "json"], false);
    assert_eq!(run.code, 0, "{tool}: {run:?}");
    let checked: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    checked["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let path = PathBuf::from(m["files"][0].as_str().unwrap());
            let named = if tool == "diesel" { path.parent().unwrap().file_name() } else { path.file_stem() };
            named.unwrap().to_string_lossy().into_owned()
        })
        .collect()
}

/// diesel_migrations and refinery apply their own fixtures, and migcheck
/// applies the same directories: the same order (what the tool printed as it
/// went against migcheck's reading), the same schema object for object, the
/// same rows. Then `migcheck import` adopts a database the tool itself left
/// half-way (it records each migration as it goes) and finishes it.
fn diesel_and_refinery_apply_their_histories_as_migcheck_reads_them() {
    for (tool, variable, manifest, history) in [
        ("diesel", "MIGCHECK_DIESEL_RUNNER", "benches/diesel-runner/Cargo.toml", "__diesel_schema_migrations"),
        ("refinery", "MIGCHECK_REFINERY_RUNNER", "benches/refinery-runner/Cargo.toml", "refinery_schema_history"),
    ] {
        let Some(runner) = runner(variable, manifest) else { continue };
        let schema = fs::read_to_string(fixtures().join("schema.sql")).unwrap();
        let (tmp, dir) = project(tool, &schema);
        let root = tmp.path();
        // The names the tools accept that are easy to misread: diesel
        // directories with a 7-digit time (diesel orders versions as strings,
        // so this one runs second, where a numeric order would put it last),
        // a 5-digit time and no name; refinery versions with gaps.
        let harmless = |table: &str| format!("CREATE TABLE {table} (x);\nDROP TABLE {table};\n");
        let extra: Vec<(&str, String)> = if tool == "diesel" {
            vec![
                ("2024-01-01-1745356_seven_digit_time/up.sql", harmless("seven")),
                ("2024-01-01-1745356_seven_digit_time/down.sql", "SELECT 1;\n".into()),
                ("2024-01-05-10000_five_digit_time/up.sql", harmless("five")),
                ("2024-01-05-10000_five_digit_time/down.sql", "SELECT 1;\n".into()),
                ("2024-02-03-120000/up.sql", harmless("unnamed")),
                ("2024-02-03-120000/down.sql", "SELECT 1;\n".into()),
            ]
        } else {
            vec![("V17__after_a_gap.sql", harmless("gap17")), ("V20__after_another_gap.sql", harmless("gap20"))]
        };
        for (name, text) in &extra {
            fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
            fs::write(dir.join(name), text).unwrap();
        }

        let theirs_db = root.join("theirs.db");
        let order = run_tool(&runner, &dir, theirs_db.to_str().unwrap(), None);
        assert_eq!(order, migcheck_order(root, tool), "{tool}: the order of application");
        if tool == "diesel" {
            assert_eq!(order[1], "2024-01-01-1745356_seven_digit_time", "{order:#?}");
        }
        let run = migcheck(root, &["upgrade", "--no-backup"], false);
        assert_eq!(run.code, 0, "{tool}: {run:?}");

        let ours = Connection::open(root.join("shop.db")).unwrap();
        let theirs = Connection::open(&theirs_db).unwrap();
        let snapshot = |conn: &Connection, history: &str| Snapshot::read(conn, &[history]).unwrap();
        assert_eq!(snapshot(&ours, "migcheck_history"), snapshot(&theirs, history), "{tool}: the schema");
        let rows = |conn: &Connection, sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
        };
        for sql in [
            "SELECT name FROM tags ORDER BY id",
            "SELECT full_name FROM authors ORDER BY id",
            "SELECT title || ' ' || isbn FROM books ORDER BY id",
            "SELECT title || ' ' || author FROM book_list ORDER BY title",
        ] {
            assert_eq!(rows(&ours, sql), rows(&theirs, sql), "{tool}: {sql}");
        }

        // Half-way: the tool applied 7 and stopped; migcheck adopts
        // exactly those and applies the rest.
        let half = root.join("half.db");
        assert_eq!(run_tool(&runner, &dir, half.to_str().unwrap(), Some(7)).len(), 7, "{tool}");
        let url = format!("sqlite:{}", half.display());
        let run = migcheck(root, &["--database-url", &url, "import", "--from", tool], false);
        assert_eq!(run.code, 0, "{tool}: {run:?}");
        let run = migcheck(root, &["--database-url", &url, "--format", "json", "status"], false);
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let pending = status["pending"].as_array().unwrap().len();
        assert_eq!((status["applied"].as_u64(), pending), (Some(7), order.len() - 7), "{tool}");
        let run = migcheck(root, &["--database-url", &url, "upgrade", "--no-backup"], false);
        assert_eq!(run.code, 0, "{tool}: {run:?}");
        let finished = Connection::open(&half).unwrap();
        let both = |conn: &Connection| Snapshot::read(conn, &[history, "migcheck_history"]).unwrap();
        assert_eq!(both(&finished), snapshot(&theirs, history), "{tool}: finished by migcheck");
    }
}

/// A PostgreSQL history in diesel's or refinery's layout: serial keys, a
/// foreign key, an enum, arrays, a PL/pgSQL trigger whose body holds `;`, a
/// view, seeded rows, and (diesel) an index built concurrently outside a
/// transaction (`metadata.toml`).
fn postgres_history(dir: &Path, tool: &str) {
    let downs: [&str; 7] = [
        "DROP TABLE authors;\n",
        "DROP TABLE books;\n",
        "ALTER TABLE books DROP COLUMN mood;\nDROP TYPE mood;\n",
        "DROP TRIGGER books_trim ON books;\nDROP FUNCTION trim_title();\n",
        "DELETE FROM books;\nDELETE FROM authors;\n",
        "DROP VIEW book_list;\n",
        "DROP INDEX CONCURRENTLY books_title;\n",
    ];
    let steps: [(&str, &str); 7] = [
        ("create_authors", "CREATE TABLE authors (id serial PRIMARY KEY, full_name text NOT NULL);\n"),
        (
            "create_books",
            "CREATE TABLE books (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES authors (id),\n\
             title text NOT NULL, tags text[] NOT NULL DEFAULT '{}');\n",
        ),
        ("add_mood", "CREATE TYPE mood AS ENUM ('happy', 'sad');\nALTER TABLE books ADD COLUMN mood mood;\n"),
        (
            "trim_titles",
            "CREATE FUNCTION trim_title() RETURNS trigger AS $$\nBEGIN\n  NEW.title := trim(NEW.title);\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n\
             CREATE TRIGGER books_trim BEFORE INSERT ON books FOR EACH ROW EXECUTE FUNCTION trim_title();\n",
        ),
        (
            "seed",
            "INSERT INTO authors (full_name) VALUES ('Ursula K. Le Guin'), ('Anonymous -- unknown; really');\n\
             INSERT INTO books (author_id, title, tags, mood)\n\
             SELECT id, '  The Dispossessed ', '{sf,utopia}', 'happy' FROM authors WHERE full_name = 'Ursula K. Le Guin';\n",
        ),
        (
            "book_list",
            "CREATE VIEW book_list AS SELECT b.title, a.full_name AS author FROM books b JOIN authors a ON a.id = b.author_id;\n",
        ),
        ("index_titles", "CREATE INDEX CONCURRENTLY books_title ON books (title);\n"),
    ];
    for (n, (name, sql)) in steps.iter().enumerate() {
        let n = n + 1;
        if tool == "diesel" {
            let migration = dir.join(format!("2024-03-{n:02}-120000_{name}"));
            fs::create_dir_all(&migration).unwrap();
            fs::write(migration.join("up.sql"), sql).unwrap();
            fs::write(migration.join("down.sql"), downs[n - 1]).unwrap();
            if name.starts_with("index") {
                fs::write(migration.join("metadata.toml"), "run_in_transaction = false\n").unwrap();
            }
        } else {
            // refinery runs every file in a transaction: the index is built plainly.
            fs::write(dir.join(format!("V{n}__{name}.sql")), sql.replace(" CONCURRENTLY", "")).unwrap();
        }
    }
    fs::write(dir.join("migrations.lock"), format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)))
        .unwrap();
}

/// The same tools on the PostgreSQL test server, with a PostgreSQL history:
/// the same order, schema (as the catalogs describe it) and rows.
fn diesel_and_refinery_on_postgres_agree_with_migcheck() {
    let server = crate::server();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sql = |url: &str, query: &str| -> Vec<String> {
        rt.block_on(async {
            use sqlx::Row as _;
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned())).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        })
    };
    for (tool, variable, manifest, history) in [
        ("diesel", "MIGCHECK_DIESEL_RUNNER", "benches/diesel-runner/Cargo.toml", "__diesel_schema_migrations"),
        ("refinery", "MIGCHECK_REFINERY_RUNNER", "benches/refinery-runner/Cargo.toml", "refinery_schema_history"),
    ] {
        let Some(runner) = runner(variable, manifest) else { continue };
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = root.join("migrations");
        fs::create_dir(&dir).unwrap();
        postgres_history(&dir, tool);
        let database = |which: &str| {
            let name = format!("layouts_{tool}_{which}_{}", std::process::id());
            sql(&server, &format!("DROP DATABASE IF EXISTS {name}"));
            sql(&server, &format!("CREATE DATABASE {name}"));
            format!("{}/{name}", server.rsplit_once('/').unwrap().0)
        };
        let (ours, theirs) = (database("ours"), database("theirs"));

        let order = run_tool(&runner, &dir, &theirs, None);
        assert_eq!(order.len(), 7, "{tool}: {order:?}");
        assert_eq!(order, migcheck_order(root, tool), "{tool}: the order of application");
        let run = migcheck(root, &["--database-url", &ours, "upgrade"], false);
        assert_eq!(run.code, 0, "{tool}: {run:?}");
        let schema = |url: &str, history: &str| migcheck_core::engine::postgres::live_snapshot(url, history).unwrap();
        assert_eq!(schema(&ours, "migcheck_history"), schema(&theirs, history), "{tool}: the schema");
        for query in [
            "SELECT title || ' by ' || author FROM book_list ORDER BY 1",
            "SELECT full_name FROM authors ORDER BY id",
            "SELECT array_to_string(tags, ',') || ' ' || mood::text FROM books ORDER BY id",
        ] {
            assert_eq!(sql(&ours, query), sql(&theirs, query), "{tool}: {query}");
        }
        // `migcheck schema` reads the same model from the live database and
        // from a scratch database the history is replayed on.
        let live = migcheck(root, &["--database-url", &ours, "--format", "json", "schema"], false);
        assert_eq!(live.code, 0, "{tool}: {live:?}");
        let out = Command::new(env!("CARGO_BIN_EXE_migcheck"))
            .current_dir(root)
            .args(["--format", "json", "schema"])
            .env("MIGCHECK_SCRATCH_URL", &server)
            .env_remove("DATABASE_URL")
            .env_remove("CI")
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
        let scratch: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let live: serde_json::Value = serde_json::from_str(&live.stdout).unwrap();
        assert_eq!(scratch["tables"], live["tables"], "{tool}");
        assert_eq!(scratch["views"], live["views"], "{tool}");
        let mermaid = migcheck(root, &["--database-url", &ours, "--format", "mermaid", "schema"], false);
        assert!(mermaid.stdout.contains("books }o--|| authors : \"author_id\""), "{tool}: {mermaid:?}");
        assert!(mermaid.stdout.contains("integer id PK"), "{tool}: {mermaid:?}");
        for url in [ours, theirs] {
            let name = url.rsplit_once('/').unwrap().1;
            sql(&server, &format!("DROP DATABASE {name} WITH (FORCE)"));
        }
    }
}

/// This file's tests, for the binary's `main`.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    let mut trials = crate::tests![
        other_tools_directories_are_checked_and_applied_in_place,
        new_rebase_and_diff_write_names_in_each_layout,
        rebase_renumbers_a_refinery_migration,
        a_custom_layout_is_read_written_and_applied_in_place,
    ];
    // The other tools' own runners, which `.ci/run` builds.
    let here = module_path!();
    let runners = ["MIGCHECK_DIESEL_RUNNER", "MIGCHECK_REFINERY_RUNNER"];
    trials.extend([
        crate::test_needing(
            here,
            "sqlx_gives_the_schema_migcheck_gives",
            sqlx_gives_the_schema_migcheck_gives,
            false,
            &["MIGCHECK_SQLX_RUNNER"],
        ),
        crate::test_needing(
            here,
            "diesel_and_refinery_apply_their_histories_as_migcheck_reads_them",
            diesel_and_refinery_apply_their_histories_as_migcheck_reads_them,
            false,
            &runners,
        ),
        crate::test_needing(
            here,
            "diesel_and_refinery_on_postgres_agree_with_migcheck",
            diesel_and_refinery_on_postgres_agree_with_migcheck,
            true,
            &runners,
        ),
    ]);
    trials
}
