//! `migcheck upgrade --each` and `status --each` on fleets of real SQLite
//! files: the summary, the exit codes, and SIGKILL in the middle of a fleet
//! upgrade followed by a re-run that applies every migration to every
//! database exactly once.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

fn migcheck(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.current_dir(root).args(args).env_remove("DATABASE_URL").env_remove("CI").env_remove("MIGCHECK_LOCKED");
    cmd.stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A project with `n` migrations, each creating a table and logging itself
/// in `applied_log` (so that a migration run twice shows), and `tenants`
/// empty database files.
fn fleet(n: usize, tenants: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("migrations")).unwrap();
    fs::create_dir_all(root.join("tenants")).unwrap();
    for v in 1..=n {
        let log = if v == 1 { "CREATE TABLE applied_log (version INTEGER);\n" } else { "" };
        fs::write(
            root.join(format!("migrations/{v}_m{v}.sql")),
            format!(
                "{log}CREATE TABLE t{v} (id INTEGER PRIMARY KEY, payload BLOB);\n\
                 INSERT INTO t{v} (payload) SELECT randomblob(2000) FROM (WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 200) SELECT i FROM r);\n\
                 INSERT INTO applied_log VALUES ({v});\n"
            ),
        )
        .unwrap();
    }
    for t in 0..tenants {
        Connection::open(root.join(format!("tenants/t{t:03}.db"))).unwrap();
    }
    dir
}

/// The versions a tenant's history lists, after checking that each listed
/// migration ran exactly once and nothing else ran.
fn consistent(path: &Path) -> Vec<i64> {
    let conn = Connection::open(path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    let list = |sql: &str| -> Vec<i64> {
        match conn.prepare(sql) {
            Ok(mut stmt) => stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect(),
            Err(_) => Vec::new(),
        }
    };
    let history = list("SELECT version FROM migcheck_history ORDER BY version");
    let log = list("SELECT version FROM applied_log ORDER BY version");
    assert_eq!(history, log, "{}: each applied migration ran once, and only those", path.display());
    history
}

#[test]
fn a_fleet_upgrade_reports_each_database_and_its_exit_code_says_how_it_went() {
    let dir = fleet(3, 6);
    let root = dir.path();
    // One behind already, one not a database, one whose data breaks migration 3.
    let out = migcheck(root, &["--database-url", "sqlite:tenants/t001.db", "upgrade", "--to", "1", "--no-backup"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    fs::write(root.join("tenants/t002.db"), b"not a database at all, just some text that is long enough").unwrap();
    let out = migcheck(root, &["--database-url", "sqlite:tenants/t003.db", "upgrade", "--to", "2", "--no-backup"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    Connection::open(root.join("tenants/t003.db")).unwrap().execute_batch("CREATE TABLE t3 (x);").unwrap();

    let out =
        migcheck(root, &["upgrade", "--each", "sqlite:tenants/*.db", "--jobs", "3", "--no-backup"]).output().unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("tenants/t001.db  1       3      applied 2"), "{shown}");
    assert!(shown.contains("tenants/t002.db  none    none   failed:"), "{shown}");
    assert!(shown.contains("tenants/t003.db  2       2      failed: migration 3 `m3` failed"), "{shown}");
    assert!(shown.contains("6 databases: 4 upgraded, 0 up to date, 2 failed"), "{shown}");

    let out = migcheck(root, &["--format", "json", "status", "--each", "sqlite:tenants/*.db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "an unreadable database: {}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> =
        status["databases"].as_array().unwrap().iter().map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states[0], "up to date");
    assert!(states[2].starts_with("cannot read"), "{states:?}");
    assert_eq!(states[3], "1 pending");

    // Without the broken ones, the listed fleet is pending until upgraded, then at head.
    let list = root.join("fleet.txt");
    fs::write(&list, "# the good tenants\nsqlite:tenants/t000.db\ntenants/t004.db\n\nsqlite:tenants/t005.db\n")
        .unwrap();
    let out = migcheck(root, &["status", "--each-file", "fleet.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    fs::write(root.join("migrations/4_m4.sql"), "CREATE TABLE t4 (x);\nINSERT INTO applied_log VALUES (4);\n").unwrap();
    let out = migcheck(root, &["status", "--each-file", "fleet.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = migcheck(root, &["--format", "json", "upgrade", "--each-file", "fleet.txt"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["upgraded"], 3, "{report}");
    for t in ["t000", "t004", "t005"] {
        assert_eq!(consistent(&root.join(format!("tenants/{t}.db"))), [1, 2, 3, 4]);
        assert!(root.join(format!("tenants/{t}.db.v3.bak")).is_file(), "a backup per database");
    }
    let out = migcheck(root, &["upgrade", "--each", "sqlite:tenants/nothing-*.db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no file matches `tenants/nothing-*.db`"), "{}", text(&out));
    let out = migcheck(root, &["upgrade", "--jobs", "2"]).output().unwrap();
    assert!(text(&out).contains("are for fleets"), "{}", text(&out));
}

/// SIGKILL at points spread over a fleet upgrade (40 databases, 5 migrations
/// each, 4 at a time), then a re-run: every database ends at head with every
/// migration applied exactly once.
#[test]
fn sigkill_in_a_fleet_upgrade_then_a_rerun_applies_everything_once() {
    let dir = fleet(5, 40);
    let root = dir.path();
    let upgrade = || migcheck(root, &["upgrade", "--each", "sqlite:tenants/*.db", "--jobs", "4", "--no-backup"]);
    // How long a whole fleet upgrade takes, on copies.
    let timing = fleet(5, 40);
    let started = Instant::now();
    let out = migcheck(timing.path(), &["upgrade", "--each", "sqlite:tenants/*.db", "--jobs", "4", "--no-backup"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let whole = started.elapsed();
    let mut landed = 0;
    for round in 0..6 {
        let mut child = upgrade().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(whole.mul_f64(0.1 + 0.12 * round as f64).max(Duration::from_millis(5)));
        let killed = child.kill().is_ok();
        let _ = child.wait();
        let versions: Vec<usize> =
            (0..40).map(|t| consistent(&root.join(format!("tenants/t{t:03}.db"))).len()).collect();
        if killed && versions.iter().any(|v| *v < 5) {
            landed += 1;
        }
    }
    let out = upgrade().output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for t in 0..40 {
        assert_eq!(consistent(&root.join(format!("tenants/t{t:03}.db"))), [1, 2, 3, 4, 5], "t{t:03}");
    }
    assert!(landed >= 1, "no kill landed during the fleet upgrade: the test proved little");
    eprintln!("6 SIGKILLs over a 40-database fleet upgrade, {landed} mid-fleet; the re-run finished each once");
}
