//! `migcheck upgrade --each` and `status --each` on fleets of real SQLite
//! files: the summary, the exit codes, and SIGKILL in the middle of a fleet
//! upgrade followed by a re-run that applies every migration to every
//! database exactly once.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::run::{migcheck, text};
use rusqlite::Connection;

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
    fs::write(root.join("migrations/4_m4.up.sql"), "CREATE TABLE t4 (x);\nINSERT INTO applied_log VALUES (4);\n")
        .unwrap();
    fs::write(root.join("migrations/4_m4.down.sql"), "DROP TABLE t4;\nDELETE FROM applied_log WHERE version = 4;\n")
        .unwrap();
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
    // `current --each` lists the versions (exit 0 whatever they are);
    // `downgrade --each --to` reverts the fleet.
    let out = migcheck(root, &["current", "--each-file", "fleet.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("tenants/t004.db  4        up to date"), "{}", text(&out));
    let out =
        migcheck(root, &["--format", "json", "downgrade", "--each-file", "fleet.txt", "--to", "3"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["downgraded"], 3, "{report}");
    assert_eq!(report["databases"][0]["reverted"], serde_json::json!([4]), "{report}");
    for t in ["t000", "t004", "t005"] {
        assert_eq!(consistent(&root.join(format!("tenants/{t}.db"))), [1, 2, 3]);
    }
    let out = migcheck(root, &["downgrade", "--each-file", "fleet.txt"]).output().unwrap();
    assert!(text(&out).contains("`--to VERSION`"), "{}", text(&out));

    // `history --each`: how many are at each version.
    let out = migcheck(root, &["history", "--each", "sqlite:tenants/*.db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "one cannot be read: {}", text(&out));
    assert!(text(&out).contains("3  m3: 4 databases"), "{}", text(&out));
    assert!(text(&out).contains("2  m2: 1 database\n") && text(&out).contains("cannot read: 1"), "{}", text(&out));

    // `check --each`: a tenant changed by hand is found, the others match.
    let out = migcheck(root, &["check", "--each-file", "fleet.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    Connection::open(root.join("tenants/t004.db"))
        .unwrap()
        .execute_batch("CREATE INDEX by_hand ON t1 (payload);")
        .unwrap();
    let out = migcheck(root, &["check", "--each-file", "fleet.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("tenants/t004.db: changed outside its migrations:"), "{}", text(&out));
    assert!(text(&out).contains("tenants/t000.db: its schema is what its applied migrations make"), "{}", text(&out));
    assert!(text(&out).contains("3 databases: 1 drifted, 0 could not be compared"), "{}", text(&out));

    let out = migcheck(root, &["upgrade", "--each", "sqlite:tenants/nothing-*.db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no file matches `tenants/nothing-*.db`"), "{}", text(&out));
    // An empty list fails as an empty glob does; a directory the glob
    // matches is said, not dropped without a word.
    fs::write(root.join("empty.txt"), "# no tenants yet\n\n").unwrap();
    let out = migcheck(root, &["upgrade", "--each-file", "empty.txt"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("`empty.txt` names no database"), "{}", text(&out));
    fs::create_dir(root.join("tenants/t999.db")).unwrap();
    let out = migcheck(root, &["status", "--each", "sqlite:tenants/*.db"]).output().unwrap();
    assert!(text(&out).contains("`tenants/t999.db` matches `tenants/*.db` but is not a file"), "{}", text(&out));
    fs::remove_dir(root.join("tenants/t999.db")).unwrap();
    let out = migcheck(root, &["upgrade", "--jobs", "2"]).output().unwrap();
    assert!(text(&out).contains("are for fleets"), "{}", text(&out));
}

/// SIGKILL at points spread over a fleet upgrade (40 databases, 5 migrations
/// each, 4 at a time), then a re-run: every database ends at head with every
/// migration applied exactly once.
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

fn sql(url: &str, query: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Row as _;
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_owned())).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.iter().map(|r| r.try_get::<String, _>(0).unwrap_or_default()).collect()
    })
}

/// A PostgreSQL database whose tenants are schemas: `--each-schema` migrates
/// each in its own history table (side by side: the advisory lock is per
/// schema), one whose objects make a migration fail is reported and left at
/// its last good version, other schemas are untouched.
fn a_fleet_of_postgres_schemas() {
    let server = crate::server();
    let name = format!("fleet_{}", std::process::id());
    sql(&server, &format!("DROP DATABASE IF EXISTS {name}"));
    sql(&server, &format!("CREATE DATABASE {name}"));
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let mut setup = String::new();
    for t in ["tenant_a", "tenant_b", "tenant_c", "tenant_d", "other"] {
        setup.push_str(&format!("CREATE SCHEMA {t};"));
    }
    // tenant_c already has a `tags` table: migration 2 fails there.
    setup.push_str("CREATE TABLE tenant_c.tags (x int);");
    sql(&url, &setup);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("migrations")).unwrap();
    fs::write(
        root.join("migrations/migrations.lock"),
        format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)),
    )
    .unwrap();
    fs::write(root.join("migrations/1_notes.sql"), "CREATE TABLE notes (id serial PRIMARY KEY, title text);\n")
        .unwrap();
    fs::write(root.join("migrations/2_tags.sql"), "CREATE TABLE tags (note int REFERENCES notes (id), tag text);\n")
        .unwrap();

    let out = migcheck(root, &["--database-url", &url, "upgrade", "--each-schema", "tenant_%", "--jobs", "3"])
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("tenant_a  none    2      applied 2"), "{shown}");
    assert!(shown.contains("tenant_c  none    1      failed: migration 2 `tags` failed"), "{shown}");
    assert!(shown.contains("4 databases: 3 upgraded, 0 up to date, 1 failed"), "{shown}");
    let histories = sql(
        &url,
        "SELECT string_agg(table_schema, ',' ORDER BY table_schema) FROM information_schema.tables WHERE table_name = 'migcheck_history'",
    );
    assert_eq!(histories, ["tenant_a,tenant_b,tenant_c,tenant_d"], "a history per tenant, none elsewhere");
    let out = migcheck(root, &["--database-url", &url, "status", "--each-schema", "tenant_%"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("tenant_c  1        1 pending"), "{}", text(&out));

    sql(&url, "DROP TABLE tenant_c.tags");
    let out = migcheck(root, &["--database-url", &url, "--format", "json", "upgrade", "--each-schema", "tenant_%"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["upgraded"].as_u64(), report["failed"].as_u64()), (Some(1), Some(0)), "{report}");
    let out = migcheck(root, &["--database-url", &url, "status", "--each-schema", "tenant_%"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Live drift per tenant: each schema against a scratch replay.
    let check = || {
        migcheck(root, &["--database-url", &url, "check", "--each-schema", "tenant_%"])
            .env("MIGCHECK_SCRATCH_URL", &server)
            .output()
            .unwrap()
    };
    let out = check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("tenant_a: its schema is what its applied migrations make"), "{}", text(&out));
    sql(&url, "CREATE INDEX by_hand ON tenant_b.notes (title)");
    let out = check();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("tenant_b: changed outside its migrations:"), "{}", text(&out));
    assert!(text(&out).contains("by_hand"), "{}", text(&out));
    sql(&url, "DROP INDEX tenant_b.by_hand");

    let out = migcheck(root, &["upgrade", "--each-schema", "tenant_%"]).output().unwrap();
    assert!(text(&out).contains("needs `--database-url postgres://"), "{}", text(&out));
    // Reversible now: every tenant back to 1, then forward again.
    fs::write(root.join("migrations/2_tags.down.sql"), "DROP TABLE tags;\n").unwrap();
    fs::rename(root.join("migrations/2_tags.sql"), root.join("migrations/2_tags.up.sql")).unwrap();
    let out = migcheck(
        root,
        &["--database-url", &url, "--format", "json", "downgrade", "--each-schema", "tenant_%", "--to", "1"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["downgraded"], 4, "{report}");
    let tags = sql(&url, "SELECT count(*)::text FROM information_schema.tables WHERE table_name = 'tags'");
    assert_eq!(tags, ["0"]);
    sql(&server, &format!("DROP DATABASE {name} WITH (FORCE)"));
}

fn mysql(url: &str, query: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_owned())).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

/// A MariaDB server whose tenants are databases: `--each-schema` with a
/// `mysql://` URL migrates each matching database with its own history, one
/// where a migration fails is reported and left where it stopped, the others
/// upgraded; `status` and `downgrade` take the same fleet.
fn a_fleet_of_mysql_databases() {
    let server = migcheck_test_support::mysql::server().expect("the trial is ignored without a server");
    let prefix = format!("mt{}", std::process::id());
    let mut setup = String::new();
    for t in ["tenant_a", "tenant_b", "tenant_c", "other"] {
        setup.push_str(&format!("DROP DATABASE IF EXISTS {prefix}_{t}; CREATE DATABASE {prefix}_{t};"));
    }
    // tenant_c already has a `tags` table: migration 2 fails there.
    setup.push_str(&format!("CREATE TABLE {prefix}_tenant_c.tags (x INT);"));
    mysql(&server, &setup);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir(root.join("migrations")).unwrap();
    fs::write(
        root.join("migrations/migrations.lock"),
        format!("migcheck-lock 1\ndialect mysql\nchain {}\n", "0".repeat(64)),
    )
    .unwrap();
    fs::write(
        root.join("migrations/1_notes.sql"),
        "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, title TEXT);\n",
    )
    .unwrap();
    fs::write(root.join("migrations/2_tags.up.sql"), "CREATE TABLE tags (note INT, tag TEXT);\n").unwrap();
    fs::write(root.join("migrations/2_tags.down.sql"), "DROP TABLE tags;\n").unwrap();
    let pattern = format!("{prefix}_tenant_%");
    let run = |args: &[&str]| {
        let out = migcheck(root, &[&["--database-url", server.as_str()][..], args].concat()).output().unwrap();
        (out.status.code(), text(&out))
    };
    let (code, shown) = run(&["upgrade", "--each-schema", &pattern, "--jobs", "2"]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains(&format!("{prefix}_tenant_a  none    2      applied 2")), "{shown}");
    assert!(shown.contains(&format!("{prefix}_tenant_c  none    1      failed: migration 2 `tags` failed")), "{shown}");
    assert!(shown.contains("3 databases: 2 upgraded, 0 up to date, 1 failed"), "{shown}");
    let (code, shown) = run(&["status", "--each-schema", &pattern]);
    assert_eq!(code, Some(3), "{shown}");
    mysql(&server, &format!("DROP TABLE {prefix}_tenant_c.tags"));
    let (code, shown) = run(&["upgrade", "--each-schema", &pattern]);
    assert_eq!(code, Some(0), "the stopped migration resumes: {shown}");
    let (code, shown) = run(&["status", "--each-schema", &pattern]);
    assert_eq!(code, Some(0), "{shown}");
    let out = migcheck(
        root,
        &["--database-url", server.as_str(), "--format", "json", "downgrade", "--each-schema", &pattern, "--to", "1"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["downgraded"], 3, "{report}");
    let mut cleanup = String::new();
    for t in ["tenant_a", "tenant_b", "tenant_c", "other"] {
        cleanup.push_str(&format!("DROP DATABASE {prefix}_{t};"));
    }
    mysql(&server, &cleanup);
}

/// This file's tests, for the binary's `main`.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    let mut trials = crate::tests![
        a_fleet_upgrade_reports_each_database_and_its_exit_code_says_how_it_went,
        sigkill_in_a_fleet_upgrade_then_a_rerun_applies_everything_once,
    ];
    trials.extend(crate::postgres_tests![a_fleet_of_postgres_schemas,]);
    trials.push(
        libtest_mimic::Trial::test("fleet::a_fleet_of_mysql_databases", || {
            a_fleet_of_mysql_databases();
            Ok(())
        })
        .with_ignored_flag(migcheck_test_support::mysql::server().is_err()),
    );
    trials
}
