//! Faults during `migcheck upgrade` on SQLite: SIGKILL at random points, a
//! full disk, and the backup. Afterwards the database opens, its schema is
//! exactly what its history says, and a re-run finishes the job.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

fn migcheck(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.current_dir(root)
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env("DATABASE_URL", "sqlite:app.db")
        .stdin(Stdio::null());
    cmd
}

/// `n` reversible migrations, each a table with `rows` rows.
fn project(n: usize, rows: usize, payload: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir(&m).unwrap();
    for v in 1..=n {
        fs::write(
            m.join(format!("{v:04}_t{v}.up.sql")),
            format!(
                "CREATE TABLE t{v} (k INTEGER PRIMARY KEY, payload BLOB);\n\
                 WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {rows})\n\
                 INSERT INTO t{v} SELECT i, randomblob({payload}) FROM r;\n"
            ),
        )
        .unwrap();
        fs::write(m.join(format!("{v:04}_t{v}.down.sql")), format!("DROP TABLE t{v};\n")).unwrap();
    }
    dir
}

/// The history, and a check that the schema is exactly what it says.
fn consistent(root: &Path, rows: usize) -> Vec<i64> {
    let rows = rows as i64;
    let conn = Connection::open(root.join("app.db")).expect("the database opens");
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let has_history: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'migcheck_history'", [], |r| r.get(0)).unwrap();
    let applied: Vec<i64> = if has_history == 0 {
        Vec::new()
    } else {
        let mut stmt = conn.prepare("SELECT version FROM migcheck_history ORDER BY version").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(applied, (1..=applied.len() as i64).collect::<Vec<_>>(), "the history is a prefix");
    let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 't%' ORDER BY CAST(substr(name, 2) AS INTEGER)").unwrap();
    let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        tables,
        applied.iter().map(|v| format!("t{v}")).collect::<Vec<_>>(),
        "tables are exactly the applied migrations'"
    );
    for t in &tables {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n, rows, "{t} has all its rows");
    }
    applied
}

fn sigkill_at_200_random_points() {
    let (n, rows) = (120, 50);
    let dir = project(n, rows, 16);
    let root = dir.path();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut interrupted = 0;
    let started = Instant::now();
    for trial in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % 60_000);
        let mut child = migcheck(root)
            .args(["upgrade", "--no-backup"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if !root.join("app.db").exists() {
            continue;
        }
        let applied = consistent(root, rows);
        if !applied.is_empty() && applied.len() < n {
            interrupted += 1;
        }
        if applied.len() == n || trial % 40 == 39 {
            // Start over so that kills keep landing mid-upgrade.
            let out = migcheck(root).args(["downgrade", "--to", "0"]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(consistent(root, rows).is_empty());
        }
        assert!(started.elapsed() < Duration::from_secs(240), "bounded in time");
    }
    assert!(interrupted >= 20, "only {interrupted} kills landed mid-upgrade: the test proves little");
    let out = migcheck(root).args(["upgrade", "--no-backup"]).output().unwrap();
    assert!(out.status.success(), "a re-run finishes: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(consistent(root, rows).len(), n);
}

fn a_full_disk_stops_at_the_last_good_version() {
    // Each migration writes about 400 KB; the file size limit (ulimit -f, in
    // 512-byte blocks, SIGXFSZ ignored so that writes fail with EFBIG) stops
    // the upgrade part-way, as a full disk would.
    let (n, rows) = (12, 100);
    let dir = project(n, rows, 4000);
    let root = dir.path();
    let script = format!("trap '' XFSZ; ulimit -f 3000; exec '{}' upgrade --no-backup", env!("CARGO_BIN_EXE_migcheck"));
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(root)
        .env("DATABASE_URL", "sqlite:app.db")
        .env_remove("CI")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("disk is full") || stderr.contains("disk I/O error"), "{stderr}");
    // Whether the SQL or the commit met the full disk, the message names the migration.
    assert!(
        stderr.contains("failed at migrations/") || stderr.contains("could not be committed"),
        "names where: {stderr}"
    );
    assert!(stderr.contains("the database stays at version") || stderr.contains("as it was"), "{stderr}");
    let applied = consistent(root, rows);
    assert!(!applied.is_empty() && applied.len() < n, "stopped part-way: {applied:?}");
    let out = migcheck(root).args(["upgrade", "--no-backup"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(consistent(root, rows).len(), n);
}

fn the_backup_restores_the_database_row_for_row() {
    let dir = project(3, 20, 8);
    let root = dir.path();
    let out = migcheck(root).args(["upgrade", "--to", "2"]).output().unwrap();
    assert!(out.status.success());
    Connection::open(root.join("app.db")).unwrap().execute_batch("INSERT INTO t1 VALUES (1000, x'ff');").unwrap();
    let dump = |path: &Path| -> Vec<String> {
        let conn = Connection::open(path).unwrap();
        let mut out = Vec::new();
        let mut stmt = conn.prepare("SELECT name, sql FROM sqlite_schema ORDER BY name").unwrap();
        let objects: Vec<(String, Option<String>)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap();
        for (name, sql) in objects {
            out.push(format!("{name}: {sql:?}"));
            if sql.as_deref().is_some_and(|s| s.starts_with("CREATE TABLE")) {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{name}\" ORDER BY 1")).unwrap();
                let columns = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| {
                        Ok((0..columns).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))
                    })
                    .unwrap();
                out.extend(rows.map(|r| r.unwrap()));
            }
        }
        out
    };
    let before = dump(&root.join("app.db"));
    let out = migcheck(root).args(["upgrade"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("backup: app.db.v2.bak"), "{stdout}");
    assert_ne!(dump(&root.join("app.db")), before);
    fs::copy(root.join("app.db.v2.bak"), root.join("app.db")).unwrap();
    assert_eq!(dump(&root.join("app.db")), before, "restoring the backup gives the database as it was");
}

/// A runaway migration stops at the scratch limit, and the check's peak
/// memory stays within the limit plus 200 MB (the child's maximum resident
/// set, from `getrusage`).
#[cfg(target_os = "linux")]
fn the_scratch_bound_keeps_the_checks_memory_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir(&m).unwrap();
    fs::write(
        m.join("1_big.sql"),
        "CREATE TABLE big AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 3000000)\n  SELECT i, randomblob(4000) FROM c;\n",
    )
    .unwrap();
    let limit: u64 = 512 << 20;
    let out = migcheck(dir.path()).arg("check").env("MIGCHECK_SCRATCH_LIMIT", "512MiB").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[scratch-limit]: `1_big.sql` grows the scratch database past its size limit (512 MiB)"),
        "{stderr}"
    );
    // SAFETY: getrusage fills the struct it is given.
    let peak = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage.ru_maxrss as u64 * 1024
    };
    assert!(peak < limit + 200_000_000, "peak {} MB, limit {} MB", peak / 1_000_000, limit / 1_000_000);
    assert!(peak > limit / 2, "the migration really filled the scratch database: {} MB", peak / 1_000_000);
}

/// This file's tests, for the binary's `main`.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    #[allow(unused_mut)]
    let mut trials = crate::tests![
        sigkill_at_200_random_points,
        a_full_disk_stops_at_the_last_good_version,
        the_backup_restores_the_database_row_for_row,
    ];
    #[cfg(target_os = "linux")]
    trials.extend(crate::tests![the_scratch_bound_keeps_the_checks_memory_within_the_limit]);
    trials
}
