//! Faults during `migcheck upgrade` on MariaDB, on a durable server of the
//! test's own (`MIGCHECK_MYSQL_PRIVATE=1 scripts/mysql-start`): the server
//! killed (SIGKILL) at points spread over an upgrade, then started again.
//! Every file runs statement by statement there (DDL commits on its own), so
//! each time the history is a prefix, each version it lists has its table
//! whole, a table without a history row is only the next version's and that
//! version carries a mark saying how far it got, and a re-run finishes the
//! job. Then a cut placed exactly: the server killed in a migration's second
//! statement, after which `status` exits 3 naming it and the re-run does
//! not run the first statement again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::Trial;

const N: usize = 20;
const ROWS: i64 = 2000;

/// A server of the test's own, stopped and deleted when dropped.
struct Server {
    url: String,
    dir: String,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts").join(name)
}

impl Server {
    fn start() -> Server {
        let out = Command::new("bash").arg(script("mysql-start")).env("MIGCHECK_MYSQL_PRIVATE", "1").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        Server { url: lines.next().unwrap().to_owned(), dir: lines.next().unwrap().to_owned() }
    }

    /// SIGKILL: what a power cut or the OOM killer does.
    fn crash(&self) {
        let pid = std::fs::read_to_string(format!("{}/mysqld.pid", self.dir)).unwrap();
        let pid = pid.trim();
        assert!(Command::new("kill").args(["-9", pid]).status().unwrap().success(), "kill -9 {pid}");
        while Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn restart(&self) {
        let out =
            Command::new("bash").arg(script("mysql-start")).env("MIGCHECK_MYSQL_RESTART", &self.dir).output().unwrap();
        assert!(out.status.success(), "restart: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn database(&self, name: &str) -> String {
        format!("{}/{name}", self.url.rsplit_once('/').unwrap().0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script("mysql-stop")).arg(&self.dir).status();
    }
}

fn sql(url: &str, query: &str) -> Vec<Vec<Option<String>>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Row as _;
        let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned())).fetch_all(&pool).await.unwrap();
        let out =
            rows.iter().map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i).unwrap()).collect()).collect();
        pool.close().await;
        out
    })
}

/// A MySQL-dialect project with `files`.
fn project(files: &[(String, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("migrations.lock"), format!("migcheck-lock 1\ndialect mysql\nchain {}\n", "0".repeat(64)))
        .unwrap();
    for (name, text) in files {
        std::fs::write(m.join(name), text).unwrap();
    }
    dir
}

/// `N` migrations, each a table of `ROWS` rows and an index, written to be
/// run again (as every MySQL migration had better be).
fn tables() -> tempfile::TempDir {
    let files: Vec<(String, String)> = (1..=N)
        .map(|v| {
            (
                format!("{v:03}_t{v}.sql"),
                format!(
                    "CREATE TABLE IF NOT EXISTS t{v} (k INT PRIMARY KEY, payload VARCHAR(64));\n\
                     INSERT IGNORE INTO t{v} SELECT seq, MD5(seq) FROM seq_1_to_{ROWS};\n\
                     CREATE INDEX IF NOT EXISTS t{v}_payload ON t{v} (payload);\n"
                ),
            )
        })
        .collect();
    project(&files)
}

fn migcheck(root: &Path, url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.current_dir(root)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env_remove("MIGCHECK_SCRATCH_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn count(url: &str, query: &str) -> i64 {
    sql(url, query)[0][0].as_deref().unwrap_or("0").parse().unwrap()
}

/// The history against the tables; the versions applied.
fn consistent(url: &str) -> Vec<usize> {
    let has_history = count(
        url,
        "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = 'migcheck_history'",
    );
    let versions = |filter: &str| -> Vec<usize> {
        if has_history == 0 {
            return Vec::new();
        }
        sql(url, &format!("SELECT CAST(version AS CHAR) FROM migcheck_history WHERE {filter} ORDER BY version"))
            .into_iter()
            .map(|r| r[0].as_deref().unwrap().parse().unwrap())
            .collect()
    };
    let applied = versions("checksum NOT LIKE 'interrupted %'");
    let marked = versions("checksum LIKE 'interrupted %'");
    assert_eq!(applied, (1..=applied.len()).collect::<Vec<_>>(), "the history is a prefix");
    for v in &applied {
        assert_eq!(count(url, &format!("SELECT CAST(COUNT(*) AS CHAR) FROM t{v}")), ROWS, "t{v} is whole");
    }
    let tables: Vec<usize> = sql(
        url,
        "SELECT CAST(SUBSTRING(TABLE_NAME, 2) AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME REGEXP '^t[0-9]+$'",
    )
    .into_iter()
    .map(|r| r[0].as_deref().unwrap().parse().unwrap())
    .collect();
    for t in tables.iter().filter(|t| !applied.contains(t)) {
        assert!(
            *t == applied.len() + 1 && marked == [*t],
            "t{t} exists without a history row: only the next migration's, which a mark says is under way"
        );
    }
    assert!(marked.iter().all(|m| *m == applied.len() + 1), "marks: {marked:?}");
    applied
}

/// Five kills spread over an upgrade, at tenths of its length.
fn kills_spread_over_an_upgrade(server: &Server) {
    let p = tables();
    let admin = server.database("mysql");
    sql(&admin, "CREATE DATABASE timing");
    let started = Instant::now();
    let out = migcheck(p.path(), &server.database("timing"), &["upgrade"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let whole = started.elapsed();
    assert_eq!(consistent(&server.database("timing")).len(), N);

    let (mut interrupted, mut marked) = (0, 0);
    for round in [1, 3, 5, 7, 9] {
        let db = format!("fault{round}");
        sql(&admin, &format!("CREATE DATABASE {db}"));
        let target = server.database(&db);
        let mut child = migcheck(p.path(), &target, &["upgrade"]).spawn().unwrap();
        std::thread::sleep(whole.mul_f64(round as f64 / 10.0));
        server.crash();
        let _ = child.wait();
        server.restart();
        let applied = consistent(&target);
        if applied.len() < N {
            interrupted += 1;
        }
        if count(
            &target,
            "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'migcheck_history'",
        ) == 1
            && count(&target, "SELECT CAST(COUNT(*) AS CHAR) FROM migcheck_history WHERE checksum LIKE 'interrupted %'")
                == 1
        {
            marked += 1;
        }
        let out = migcheck(p.path(), &target, &["upgrade"]).output().unwrap();
        assert!(out.status.success(), "round {round}: the re-run finishes: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(consistent(&target).len(), N, "round {round}");
    }
    assert!(interrupted >= 2, "only {interrupted} kills landed during an upgrade: the test proved little");
    eprintln!(
        "5 kills of the MariaDB server: {interrupted} landed during the upgrade, {marked} inside a migration (marked, then resumed)"
    );
}

/// The server killed while a migration's second statement runs: `status`
/// exits 3 naming where it stopped, and the next upgrade resumes there
/// without running the first statement again (it cannot run twice).
fn a_kill_in_the_second_statement(server: &Server) {
    let p = project(&[
        ("1_base.sql".into(), "CREATE TABLE base (k INT);\n".into()),
        (
            "2_cut.sql".into(),
            "CREATE TABLE once (k INT);\nSELECT SLEEP(30) AS cut_here;\nCREATE TABLE twice (k INT);\n".into(),
        ),
    ]);
    sql(&server.database("mysql"), "CREATE DATABASE cuts");
    let url = server.database("cuts");
    let child = migcheck(p.path(), &url, &["upgrade"]).spawn().unwrap();
    let started = Instant::now();
    loop {
        let running = count(
            &server.database("mysql"),
            "SELECT CAST(COUNT(*) AS CHAR) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%cut_here%' AND ID <> CONNECTION_ID()",
        );
        if running > 0 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "the upgrade never ran the second statement");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.crash();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    server.restart();
    let status = migcheck(p.path(), &url, &["--format", "json", "status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((value["current"].as_i64(), value["interrupted"]["version"].as_i64()), (Some(1), Some(2)), "{value}");
    assert_eq!(value["interrupted"]["statements_run"], 1, "{value}");
    // Quicker now, and resumed at the second statement: `once` is not created again.
    std::fs::write(
        p.path().join("migrations/2_cut.sql"),
        "CREATE TABLE once (k INT);\nSELECT SLEEP(0) AS cut_here;\nCREATE TABLE twice (k INT);\n",
    )
    .unwrap();
    let out = migcheck(p.path(), &url, &["upgrade"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status = migcheck(p.path(), &url, &["status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{status:?}");
}

/// One trial: a private server for both scenarios, ignored without MariaDB.
pub fn trials() -> Vec<Trial> {
    let installed = Path::new("/usr/sbin/mariadbd").exists()
        || Command::new("mariadbd").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        assert!(std::env::var_os("CI").is_none(), "CI must run the MySQL fault tests: MariaDB is not installed");
    }
    vec![
        Trial::test("mysql_faults::kills_of_the_server_leave_a_history_that_resumes", || {
            let server = Server::start();
            a_kill_in_the_second_statement(&server);
            kills_spread_over_an_upgrade(&server);
            Ok(())
        })
        .with_ignored_flag(!installed),
    ]
}
