//! Bad input, each case a clear error and never a panic: the exit status, a
//! message naming the offending file or value, and no file changed.
//!
//! One test per case (libtest-mimic, `harness = false`), named after the case:
//! `cargo test -p migcheck-cli --test bad_input -- UTF-16` runs the cases whose
//! name contains `UTF-16`; `-- --list` lists them.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use libtest_mimic::{Failed, Trial};

type Setup = Box<dyn Fn(&Path) + Send + Sync>;
type LockEdit = Box<dyn Fn(&str) -> String + Send + Sync>;

struct Case {
    name: String,
    setup: Setup,
    args: Vec<&'static str>,
    env: Vec<(&'static str, &'static str)>,
    code: i32,
    expect: Vec<String>,
}

fn case(
    name: impl Into<String>,
    setup: impl Fn(&Path) + Send + Sync + 'static,
    args: &[&'static str],
    code: i32,
    expect: &[&str],
) -> Case {
    Case {
        name: name.into(),
        setup: Box::new(setup),
        args: args.to_vec(),
        env: Vec::new(),
        code,
        expect: expect.iter().map(|s| s.to_string()).collect(),
    }
}

fn m(root: &Path, name: &str, text: impl AsRef<[u8]>) {
    let path = root.join("migrations").join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn lock(root: &Path, text: &str) {
    fs::write(root.join("migrations/migrations.lock"), text).unwrap();
}

fn good_lock(root: &Path) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    let out = cmd.arg("lock").current_dir(root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fs::read_to_string(root.join("migrations/migrations.lock")).unwrap()
}

fn db(root: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(root.join("app.db")).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Every file under `root`, with its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = fs::symlink_metadata(&path).unwrap().file_type();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                out.insert(path.clone(), fs::read(&path).unwrap());
            } else {
                out.insert(
                    path.clone(),
                    fs::read_link(&path).map(|p| p.to_string_lossy().into_owned().into_bytes()).unwrap_or_default(),
                );
            }
        }
    }
    out
}

fn cases(outside: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    // Names, each through three commands.
    let names: &[(&str, &str)] = &[
        ("init.sql", "does not start with a version number"),
        ("99999999999999999999_big.sql", "does not fit in a 64-bit"),
        ("-1_negative.sql", "does not start with a version number"),
        ("\u{0661}_arabic_digit.sql", "does not start with a version number"),
        ("\u{ff11}_fullwidth_digit.sql", "does not start with a version number"),
        ("1_.sql", "the description after `_` is empty"),
        ("1_init.SQL", "must be lower-case `.sql`"),
        ("1_init.Sql", "must be lower-case `.sql`"),
        ("1_init_up.sql", "did you mean `1_init.up.sql`"),
        ("1_init-down.sql", "did you mean `1_init.down.sql`"),
        ("1.sql", "must be followed by `_`"),
        ("1-init.sql", "must be followed by `_`"),
        ("1 init.sql", "must be followed by `_`"),
        (".sql", "does not start with a version number"),
    ];
    for (file, message) in names {
        for cmd in ["check", "lock", "upgrade"] {
            let file = file.to_string();
            let f = file.clone();
            cases.push(case(
                format!("name {file} / {cmd}"),
                move |r| m(r, &f, "SELECT 1;"),
                &[cmd],
                1,
                &[&file, message],
            ));
        }
    }
    // Shapes of entries.
    let outside = outside.to_path_buf();
    let o = outside.clone();
    cases.push(case(
        "a directory named like a migration",
        |r| fs::create_dir_all(r.join("migrations/2_dir.sql")).unwrap(),
        &["check"],
        1,
        &["2_dir.sql", "is a directory"],
    ));
    cases.push(case(
        "a symlink outside the directory",
        move |r| std::os::unix::fs::symlink(o.join("outside.sql"), r.join("migrations/2_link.sql")).unwrap(),
        &["check"],
        1,
        &["2_link.sql", "outside the migrations directory"],
    ));
    cases.push(case(
        "a dangling symlink",
        |r| std::os::unix::fs::symlink(r.join("nowhere.sql"), r.join("migrations/2_dangling.sql")).unwrap(),
        &["check"],
        1,
        &["2_dangling.sql", "broken symbolic link"],
    ));
    cases.push(case(
        "a symlink loop",
        |r| std::os::unix::fs::symlink(r.join("migrations/2_loop.sql"), r.join("migrations/2_loop.sql")).unwrap(),
        &["check"],
        1,
        &["2_loop.sql", "broken symbolic link"],
    ));
    cases.push(case(
        "two files, one version",
        |r| m(r, "1_other.sql", "SELECT 2;"),
        &["check"],
        1,
        &["2 migrations share version 1", "1_a.sql", "1_other.sql"],
    ));
    cases.push(case(
        "a down without its up",
        |r| m(r, "2_x.down.sql", "SELECT 2;"),
        &["check"],
        1,
        &["2_x.down.sql", "has no up migration"],
    ));
    cases.push(case(
        "halves that disagree",
        |r| {
            m(r, "2_x.up.sql", "SELECT 2;");
            m(r, "2_y.down.sql", "SELECT 2;")
        },
        &["check"],
        1,
        &["2_y.down.sql", "its name differs from `2_x.up.sql`"],
    ));
    cases.push(case(
        "--dir is a file",
        |r| fs::write(r.join("file"), "").unwrap(),
        &["--dir", "file", "check"],
        1,
        &["`file` does not exist"],
    ));
    cases.push(case(
        "--dir does not exist",
        |_| {},
        &["--dir", "nope", "check"],
        1,
        &["`nope` does not exist", "migcheck init"],
    ));
    // Contents, each through check and upgrade.
    let contents: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid UTF-8", b"SELECT '\xff\xfe';".to_vec(), "is not UTF-8 text"),
        ("UTF-16 with a BOM", b"\xff\xfeS\0E\0L\0".to_vec(), "the file is UTF-16"),
        ("a NUL byte", b"SELECT 1;\0SELECT 2;".to_vec(), "NUL byte"),
        ("a statement without end", b"CREATE TABLE t (x".to_vec(), "incomplete input"),
        ("an unterminated string", b"SELECT 'abc;\n".to_vec(), "unrecognized token"),
        ("an unterminated comment", b"SELECT 1; /* never closed\nCREATE TABLE lost (x);".to_vec(), "never closed"),
        (
            "an unknown directive",
            b"-- migcheck: no-transacton\nSELECT 1;".to_vec(),
            "unknown directive `no-transacton`",
        ),
        ("a sqlite3 shell command in a statement", b"SELECT 1\n.timeout 5\n;".to_vec(), "2_bad.sql"),
        ("SQL that does not run", b"SELECT nope FROM nowhere;".to_vec(), "no such table: nowhere"),
        ("ATTACH", b"ATTACH 'x.db' AS x;".to_vec(), "denied"),
        (
            "writable_schema",
            b"PRAGMA writable_schema = ON;\nUPDATE sqlite_master SET sql = '';".to_vec(),
            "may not be modified",
        ),
        ("VACUUM in a transaction", b"VACUUM;".to_vec(), "no-transaction"),
    ];
    for (what, bytes, message) in contents {
        for cmd in ["check", "lock"] {
            let b = bytes.clone();
            cases.push(case(
                format!("contents: {what} / {cmd}"),
                move |r| m(r, "2_bad.sql", &b),
                &[cmd],
                1,
                &["2_bad.sql", message],
            ));
        }
    }
    // Lock files, each through check and lock.
    let locks: Vec<(&str, LockEdit, &str)> = vec![
        ("truncated", Box::new(|l: &str| l[..l.len() - 30].to_owned()), "lock"),
        ("empty", Box::new(|_: &str| String::new()), "empty"),
        (
            "a duplicated line",
            Box::new(|l: &str| {
                let line = l.lines().find(|x| x.starts_with("1 ")).unwrap().to_owned();
                l.replace(&line, &format!("{line}\n{line}"))
            }),
            "increasing version order",
        ),
        (
            "an unknown format version",
            Box::new(|l: &str| l.replace("migcheck-lock 1", "migcheck-lock 9")),
            "newer than this migcheck",
        ),
        (
            "a hash of the wrong length",
            Box::new(|l: &str| {
                let h = l.lines().find(|x| x.starts_with("1 ")).unwrap().split(' ').nth(1).unwrap().to_owned();
                l.replace(&h, &h[..40])
            }),
            "not a sha256 checksum",
        ),
        (
            "conflict markers",
            Box::new(|l: &str| format!("<<<<<<< HEAD\n{l}=======\n{l}>>>>>>> branch\n")),
            "git conflict markers",
        ),
        (
            "an edited chain",
            Box::new(|l: &str| {
                let c = l.lines().last().unwrap().to_owned();
                l.replace(&c, &format!("chain {}", "a".repeat(64)))
            }),
            "edited by hand",
        ),
        (
            "an unknown dialect",
            Box::new(|l: &str| l.replace("migcheck-lock 1\n", "migcheck-lock 1\ndialect oracle\n")),
            "unknown dialect `oracle`",
        ),
        (
            "an unknown layout",
            Box::new(|l: &str| l.replace("migcheck-lock 1\n", "migcheck-lock 1\nlayout liquibase\n")),
            "unknown layout `liquibase`",
        ),
        (
            "a bad function line",
            Box::new(|l: &str| l.replace("migcheck-lock 1\n", "migcheck-lock 1\nfunction f many\n")),
            "not a number of arguments",
        ),
    ];
    for (what, edit, message) in locks {
        let edit = std::sync::Arc::new(edit);
        for cmd in ["check", "lock"] {
            let e = edit.clone();
            cases.push(case(
                format!("lock: {what} / {cmd}"),
                move |r| {
                    let l = good_lock(r);
                    lock(r, &e(&l))
                },
                &[cmd],
                1,
                &["migrations.lock", message],
            ));
        }
    }
    cases.push(case(
        "lock: CRLF is fine",
        |r| {
            let l = good_lock(r);
            lock(r, &l.replace('\n', "\r\n"))
        },
        &["check"],
        0,
        &["1 migration checked: ok"],
    ));
    cases.push(case(
        "lock: a directory",
        |r| fs::create_dir(r.join("migrations/migrations.lock")).unwrap(),
        &["check"],
        1,
        &["migrations.lock"],
    ));
    cases.push(case(
        "lock: a sealed file deleted",
        |r| {
            good_lock(r);
            fs::remove_file(r.join("migrations/1_a.sql")).unwrap()
        },
        &["check"],
        1,
        &["sealed migration 1 `a` was deleted", "migrations.lock"],
    ));
    // History tables.
    let url = &["--database-url", "sqlite:app.db"];
    let with_url = |args: &[&'static str]| [&url[..], args].concat();
    cases.push(case(
        "history: missing columns",
        |r| db(r, "CREATE TABLE migcheck_history (version INTEGER PRIMARY KEY, name TEXT)"),
        &with_url(&["upgrade"]),
        1,
        &["migcheck_history", "should have the columns"],
    ));
    cases.push(case(
        "history: another tool's table of that name",
        |r| db(r, "CREATE TABLE migcheck_history (id INTEGER, note TEXT)"),
        &with_url(&["status"]),
        1,
        &["migcheck_history", "should have the columns"],
    ));
    cases.push(case("history: an unknown version", |r| db(r, "CREATE TABLE migcheck_history (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, chain TEXT NOT NULL, applied_at TEXT NOT NULL, duration_ms INTEGER NOT NULL); INSERT INTO migcheck_history VALUES (7, 'seven', 'x', 'y', 'z', 0)"), &with_url(&["upgrade"]), 4, &["migration 7 `seven`", "does not know"]));
    cases.push(case("history: a checksum of the wrong length", |r| db(r, "CREATE TABLE migcheck_history (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, chain TEXT NOT NULL, applied_at TEXT NOT NULL, duration_ms INTEGER NOT NULL); INSERT INTO migcheck_history VALUES (1, 'a', 'abc', 'y', 'z', 0)"), &with_url(&["upgrade"]), 4, &["migration 1 `a`", "has been modified"]));
    cases.push(case("history: extra columns are fine", |r| db(r, "CREATE TABLE migcheck_history (version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, chain TEXT NOT NULL, applied_at TEXT NOT NULL, duration_ms INTEGER NOT NULL, extra TEXT)"), &with_url(&["status"]), 3, &["pending:   1"]));
    cases.push(case("history: a NULL where a name belongs", |r| db(r, "CREATE TABLE migcheck_history (version INTEGER PRIMARY KEY, name TEXT, checksum TEXT, chain TEXT, applied_at TEXT, duration_ms INTEGER); INSERT INTO migcheck_history VALUES (1, NULL, NULL, NULL, NULL, NULL)"), &with_url(&["status"]), 1, &["migcheck_history"]));
    // URLs and paths.
    let mut empty = case("DATABASE_URL empty", |_| {}, &["upgrade"], 1, &["the database URL is empty"]);
    empty.env.push(("DATABASE_URL", ""));
    cases.push(empty);
    cases.push(case("no DATABASE_URL", |_| {}, &["upgrade"], 1, &["no database given", "DATABASE_URL"]));
    cases.push(case(
        "an unsupported scheme",
        |_| {},
        &["--database-url", "oracle://h/db", "upgrade"],
        1,
        &["unsupported database URL scheme `oracle://`"],
    ));
    cases.push(case("a URL naming no file", |_| {}, &["--database-url", "sqlite:", "upgrade"], 1, &["names no file"]));
    cases.push(case(
        "a directory as the database",
        |r| fs::create_dir(r.join("dir.db")).unwrap(),
        &["--database-url", "sqlite:dir.db", "upgrade"],
        1,
        &["`dir.db` is a directory"],
    ));
    cases.push(case(
        "a file that is not a database",
        |r| fs::write(r.join("text.db"), "just some text, not a database at all, long enough".repeat(30)).unwrap(),
        &["--database-url", "text.db", "status"],
        1,
        &["`text.db` is not a SQLite database"],
    ));
    cases.push(case(
        "a database in a missing directory",
        |_| {},
        &["--database-url", "sqlite:missing/dir/app.db", "upgrade"],
        1,
        &["missing/dir/app.db"],
    ));
    cases.push(case(
        "a malformed .env",
        |r| fs::write(r.join(".env"), "DATABASE_URL='unterminated\n").unwrap(),
        &["upgrade"],
        1,
        &[".env"],
    ));
    // A PostgreSQL history's SQL runs on a scratch server: without one, each
    // command that replays it says which variable to set.
    let postgres_history = |r: &Path| {
        lock(r, &format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)));
        m(r, "1_a.sql", "CREATE TABLE a (x int);");
        good_lock(r);
    };
    for (args, what) in [
        (&["schema"][..], "replaying a PostgreSQL history needs a scratch server"),
        (&["show", "1"][..], "replaying a PostgreSQL history needs a scratch server"),
        (&["explain", "1"][..], "explaining a PostgreSQL migration needs a scratch server"),
        (&["squash", "--to", "1"][..], "squashing a PostgreSQL history needs a scratch server"),
    ] {
        cases.push(case(
            format!("{} of a PostgreSQL history without a scratch server", args[0]),
            postgres_history,
            args,
            1,
            &[what, "set MIGCHECK_SCRATCH_URL"],
        ));
    }
    cases.push(case(
        "a PostgreSQL server that is not there",
        |_| {},
        &["--database-url", "postgres://nobody@127.0.0.1:1/db", "status"],
        1,
        &["cannot connect to `postgres://nobody@127.0.0.1:1/db`"],
    ));
    cases.push(case(
        "--to a version that does not exist",
        |_| {},
        &["--database-url", "app.db", "upgrade", "--to", "42"],
        1,
        &["no migration with version 42"],
    ));
    cases.push(case(
        "stamp a version that does not exist",
        |_| {},
        &["--database-url", "app.db", "stamp", "42"],
        1,
        &["no migration with version 42"],
    ));
    cases.push(case("diff without a schema", |_| {}, &["diff", "-m", "x"], 1, &["no declared schema", "schema.sql"]));
    cases.push(case(
        "diff with a bad rename",
        |r| fs::write(r.join("schema.sql"), "CREATE TABLE a (x);").unwrap(),
        &["diff", "-m", "x", "--rename", "a"],
        1,
        &["`a` is not a rename"],
    ));
    cases.push(case(
        "schema.sql that does not run",
        |r| fs::write(r.join("schema.sql"), "CREATE TABLE a (x;").unwrap(),
        &["check"],
        1,
        &["schema.sql", "syntax error"],
    ));
    cases.push(case("new with no name", |_| {}, &["new", "!?"], 1, &["`!?` has no letter or digit"]));
    cases.push(case(
        "import from a database without that history",
        |r| db(r, "CREATE TABLE t (x)"),
        &["--database-url", "app.db", "import", "--from", "sqlx"],
        1,
        &["_sqlx_migrations"],
    ));
    cases
}

/// One trial per case, named after it; `outside` is a directory outside every
/// case's, for the cases that link to a file there.
pub fn trials(outside: &Path) -> Vec<Trial> {
    fs::write(outside.join("outside.sql"), "SELECT 'secret';").unwrap();
    let all = cases(outside);
    assert!(all.len() >= 100, "{} cases", all.len());
    let mut trials: Vec<Trial> =
        all.into_iter().map(|c| Trial::test(format!("bad_input::{}", c.name), move || run_case(&c))).collect();
    trials.push(Trial::test("bad_input::huge_files_are_checked_whole", huge_files_are_checked_whole));
    trials
}

/// One case: the exit status, the expected words, no panic, no file changed.
fn run_case(c: &Case) -> Result<(), Failed> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    m(root, "1_a.sql", "CREATE TABLE a (x);");
    (c.setup)(root);
    let before = tree(root);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.args(&c.args)
        .current_dir(root)
        .env_remove("DATABASE_URL")
        .env_remove("MIGCHECK_SCRATCH_URL")
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .stdin(Stdio::null());
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let all_text = format!("{stdout}{stderr}");
    let mut problems = Vec::new();
    if out.status.code() != Some(c.code) {
        problems.push(format!("exit {:?}, expected {}", out.status.code(), c.code));
    }
    if all_text.contains("panicked") || all_text.contains("RUST_BACKTRACE") {
        problems.push("it panicked".into());
    }
    for e in &c.expect {
        if !all_text.contains(e.as_str()) {
            problems.push(format!("no `{e}` in the output"));
        }
    }
    if c.code != 0 && tree(root) != before {
        problems.push("a file changed".into());
    }
    if problems.is_empty() { Ok(()) } else { Err(format!("{}\n{all_text}", problems.join("; ")).into()) }
}

/// `migcheck check` as a developer runs it: not in CI, so unsealed migrations only warn.
fn check(root: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_migcheck"))
        .arg("check")
        .current_dir(root)
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn huge_files_are_checked_whole() -> Result<(), Failed> {
    // 100 MB of comments, then an error: found at its line, nothing truncated.
    let dir = tempfile::tempdir().unwrap();
    let padding = "-- padding padding padding padding padding padding padding padding padding padding\n";
    let lines = 100 * 1024 * 1024 / padding.len();
    let mut text = padding.repeat(lines);
    text.push_str("SELECT nope FROM nowhere;\n");
    m(dir.path(), "1_big.sql", text);
    // And 10,000 statements in one file run fine.
    m(
        dir.path(),
        "2_many.sql",
        "CREATE TABLE many (x);\n".to_owned() + &"INSERT INTO many VALUES (1);\n".repeat(10_000),
    );
    let out = check(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("migrations/1_big.sql:{}:", lines + 1)), "{}", &stderr[..stderr.len().min(2000)]);
    fs::write(dir.path().join("migrations/1_big.sql"), "CREATE TABLE big (x);").unwrap();
    let out = check(dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
