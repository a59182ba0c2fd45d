//! Faults during `migcheck upgrade` on PostgreSQL, on a server of the test's
//! own (`MIGCHECK_PG_PRIVATE=1 scripts/pg-start`): the server stopped with
//! `pg_ctl stop -m immediate` at points spread over an upgrade, then
//! restarted; the backend terminated from another session. Every time the
//! database holds exactly the tables and rows its history lists (a
//! `no-transaction` file cut half-way leaves only its own, idempotent,
//! statements behind), and a re-run finishes the job.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use libtest_mimic::Trial;

const N: usize = 24;
const ROWS: i64 = 3000;

/// The server's binaries.
fn bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.pop().expect("PostgreSQL's binaries")
}

fn as_postgres(args: &[&str]) -> Command {
    let root = uid() == 0;
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]);
        c
    } else {
        Command::new(args[0])
    };
    cmd.args(if root { args } else { &args[1..] });
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn uid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(1)
}

/// A server of the test's own, stopped and deleted when dropped.
struct Server {
    url: String,
    dir: String,
}

impl Server {
    fn start() -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-start");
        let out = Command::new("bash").arg(script).env("MIGCHECK_PG_PRIVATE", "1").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let server = Server { url: lines.next().unwrap().to_owned(), dir: lines.next().unwrap().to_owned() };
        // The script turns synchronous commits off for speed (on its command
        // line, which only a role's or a database's setting overrides); a
        // server stopped with `-m immediate` then loses the last commits,
        // which production servers do not: on, as they run.
        sql(&server.url, "ALTER ROLE CURRENT_USER SET synchronous_commit = on");
        server
    }

    fn pg_ctl(&self, args: &[&str]) -> bool {
        let pg_ctl = bin().join("pg_ctl");
        let data = format!("{}/data", self.dir);
        let mut all = vec![pg_ctl.to_str().unwrap(), "-D", &data];
        all.extend_from_slice(args);
        as_postgres(&all).status().unwrap().success()
    }

    fn crash(&self) {
        assert!(self.pg_ctl(&["-m", "immediate", "-w", "stop"]), "pg_ctl stop -m immediate");
    }

    /// Starts the server again with the options it had (`postmaster.opts`).
    fn restart(&self) {
        assert!(self.pg_ctl(&["-w", "-t", "60", "restart"]), "pg_ctl restart");
    }

    fn database(&self, name: &str) -> String {
        format!("{}/{name}", self.url.rsplit_once('/').unwrap().0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-stop");
        let _ = Command::new("bash").arg(script).arg(&self.dir).status();
    }
}

fn sql(url: &str, query: &str) -> Vec<Vec<Option<String>>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Row as _;
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(query.to_owned())).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i).unwrap()).collect()).collect()
    })
}

/// An empty PostgreSQL-dialect project: its directory and its migrations.
fn postgres_project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("migrations.lock"), format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)))
        .unwrap();
    (dir, m)
}

/// `N` migrations, each a table of `ROWS` rows; every sixth runs outside a
/// transaction, written to be run again (as such files must be).
fn project() -> tempfile::TempDir {
    let (dir, m) = postgres_project();
    for v in 1..=N {
        let body = format!(
            "CREATE TABLE IF NOT EXISTS t{v} (k int PRIMARY KEY, payload text);\n\
             INSERT INTO t{v} SELECT i, md5(i::text) FROM generate_series(1, {ROWS}) i ON CONFLICT DO NOTHING;\n\
             CREATE INDEX IF NOT EXISTS t{v}_payload ON t{v} (payload);\n"
        );
        let text = if v % 6 == 0 { format!("-- migcheck: no-transaction\n{body}") } else { body };
        std::fs::write(m.join(format!("{v:03}_t{v}.sql")), text).unwrap();
    }
    dir
}

fn upgrade(root: &Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.current_dir(root)
        .args(["--database-url", url, "upgrade", "--no-backup"])
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The history, checked against the tables: each version listed has its
/// table whole; a table without a history row is only the next version's,
/// and only if it runs outside a transaction.
fn consistent(url: &str) -> Vec<usize> {
    let has_history = sql(url, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'migcheck_history'");
    let (applied, marked): (Vec<usize>, Vec<usize>) = if has_history[0][0].as_deref() == Some("0") {
        (Vec::new(), Vec::new())
    } else {
        let versions = |filter: &str| -> Vec<usize> {
            sql(url, &format!("SELECT version::text FROM migcheck_history h WHERE {filter} ORDER BY h.version"))
                .into_iter()
                .map(|r| r[0].as_deref().unwrap().parse().unwrap())
                .collect()
        };
        (versions("checksum NOT LIKE 'interrupted %'"), versions("checksum LIKE 'interrupted %'"))
    };
    assert_eq!(applied, (1..=applied.len()).collect::<Vec<_>>(), "the history is a prefix");
    let tables: Vec<usize> = sql(url, "SELECT substr(tablename, 2) FROM pg_tables WHERE tablename ~ '^t[0-9]+$'")
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect();
    for v in &applied {
        let rows = sql(url, &format!("SELECT count(*)::text FROM t{v}"));
        assert_eq!(rows[0][0].as_deref(), Some(ROWS.to_string().as_str()), "t{v} is whole");
    }
    for t in tables.iter().filter(|t| !applied.contains(t)) {
        assert!(
            *t == applied.len() + 1 && t % 6 == 0 && marked == [*t],
            "t{t} exists without a history row: only a no-transaction file cut half-way may leave that, marked"
        );
    }
    assert!(marked.iter().all(|m| *m == applied.len() + 1 && m % 6 == 0), "marks: {marked:?}");
    applied
}

/// Ten fault points spread over an upgrade, at tenths of its length: the
/// even ones on one server and the odd ones on another, side by side.
fn faults_at_even_tenths(server: &Server) {
    faults(server, [0, 2, 4, 6, 8]);
}

fn faults_at_odd_tenths(server: &Server) {
    faults(server, [1, 3, 5, 7, 9]);
}

/// A fault at each of `rounds` tenths of an upgrade (`round % 3 == 2`: the
/// backend terminated; else the server stopped immediately and restarted).
fn faults(server: &Server, rounds: [usize; 5]) {
    let p = project();
    // How long a whole upgrade takes, to spread the faults over it: the
    // shorter of two, since the first on a fresh server (beside the other
    // scenarios starting) runs slow, and faults timed from it would land
    // after the upgrades they were meant to cut.
    let url = server.database("postgres");
    let whole = (0..2)
        .map(|i| {
            sql(&url, &format!("CREATE DATABASE timing{i}"));
            let started = Instant::now();
            let out = upgrade(p.path(), &server.database(&format!("timing{i}"))).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let whole = started.elapsed();
            assert_eq!(consistent(&server.database(&format!("timing{i}"))).len(), N);
            whole
        })
        .min()
        .unwrap();

    let mut interrupted = 0;
    let mut marked = 0;
    let terminated = rounds.iter().filter(|r| *r % 3 == 2).count();
    for round in rounds {
        let db = format!("fault{round}");
        sql(&server.database("postgres"), &format!("CREATE DATABASE {db}"));
        let target = server.database(&db);
        let mut child = upgrade(p.path(), &target).spawn().unwrap();
        std::thread::sleep(whole.mul_f64((round as f64 + 0.5) / 10.0));
        if round % 3 == 2 {
            // The upgrade's backend terminated from another session.
            sql(
                &server.database("postgres"),
                &format!("SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '{db}'"),
            );
        } else {
            server.crash();
            server.restart();
        }
        let _ = child.wait();
        let applied = consistent(&target);
        if applied.len() < N {
            interrupted += 1;
        }
        let history = sql(&target, "SELECT count(*)::text FROM pg_tables WHERE tablename = 'migcheck_history'");
        if history[0][0].as_deref() == Some("1")
            && sql(&target, "SELECT count(*)::text FROM migcheck_history WHERE checksum LIKE 'interrupted %'")[0][0]
                .as_deref()
                == Some("1")
        {
            marked += 1;
        }
        let out = upgrade(p.path(), &target).output().unwrap();
        assert!(out.status.success(), "round {round}: the re-run finishes: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(consistent(&target).len(), N, "round {round}");
    }
    assert!(interrupted >= 2, "only {interrupted} faults landed during an upgrade: the test proved little");
    eprintln!(
        "5 fault points ({} immediate stops, {terminated} terminated backends): {interrupted} landed during the \
         upgrade, {marked} inside a no-transaction file (marked, then resumed)",
        5 - terminated
    );
}

fn migcheck(root: &Path, url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_migcheck"))
        .current_dir(root)
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Waits until the database's upgrade runs a statement containing `text`.
fn wait_for_statement(server: &Server, db: &str, text: &str) {
    let started = Instant::now();
    while started.elapsed().as_secs() < 60 {
        let running = sql(
            &server.database("postgres"),
            &format!(
                "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE '%{text}%' \
                 AND pid <> pg_backend_pid()"
            ),
        );
        if running[0][0].as_deref() != Some("0") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the upgrade never ran `{text}`");
}

/// A `no-transaction` file stopped by a server crash in its second
/// statement: the history marks it with the one statement that ran, `status`
/// says so, and the next upgrade resumes at the second statement (the first,
/// which cannot run twice, is not run again). Then a backend terminated in a
/// transactional migration: the error names it, and the advisory lock died
/// with the session, so a second migrator goes on at once.
fn cut_points(server: &Server) {
    let (dir, m) = postgres_project();
    std::fs::write(m.join("1_base.sql"), "CREATE TABLE base (k int);\n").unwrap();
    std::fs::write(
        m.join("2_cut.sql"),
        "-- migcheck: no-transaction\nCREATE TABLE once (k int);\nSELECT pg_sleep(30) AS cut_here;\nCREATE TABLE twice (k int);\n",
    )
    .unwrap();
    std::fs::write(m.join("3_slow.sql"), "CREATE TABLE slow (k int);\nSELECT pg_sleep(30) AS terminate_here;\n")
        .unwrap();
    sql(&server.database("postgres"), "CREATE DATABASE cuts");
    let url = server.database("cuts");

    let child = upgrade(dir.path(), &url).spawn().unwrap();
    wait_for_statement(server, "cuts", "cut_here");
    server.crash();
    server.restart();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let status = migcheck(dir.path(), &url, &["--format", "json", "status"]);
    assert_eq!(status.status.code(), Some(3), "{status:?}");
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((value["current"].as_i64(), value["interrupted"]["version"].as_i64()), (Some(1), Some(2)), "{value}");
    assert_eq!(value["interrupted"]["statements_run"], 1, "{value}");
    assert!(value["interrupted"]["message"].as_str().unwrap().contains("resumes it at migrations/2_cut.sql:3"));

    // Resumed: `once` is not created again (that would fail). Then the
    // transactional migration 3, terminated from another session.
    let child = upgrade(dir.path(), &url).spawn().unwrap();
    wait_for_statement(server, "cuts", "terminate_here");
    sql(
        &server.database("postgres"),
        "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = 'cuts' AND query LIKE '%terminate_here%'",
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("migration 3 `slow`"), "the error names the migration: {stderr}");
    let history = sql(&url, "SELECT string_agg(version::text, ',' ORDER BY version) FROM migcheck_history");
    assert_eq!(history[0][0].as_deref(), Some("1,2"), "2 resumed and finished, 3 rolled back");

    // The lock went with the session: a second migrator starts at once.
    let locks = sql(&server.database("postgres"), "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory'");
    assert_eq!(locks[0][0].as_deref(), Some("0"), "no advisory lock is left behind");
    std::fs::write(m.join("3_slow.sql"), "CREATE TABLE slow (k int);\n").unwrap();
    let started = Instant::now();
    let out = upgrade(dir.path(), &url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed().as_secs() < 20, "the second migrator waited {:?}", started.elapsed());
    let tables =
        sql(&url, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'");
    assert_eq!(tables[0][0].as_deref(), Some("base,migcheck_history,once,slow,twice"));
    eprintln!("cut points: a no-transaction file crashed mid-file and resumed; a backend terminated mid-migration");
}

/// A migration holding a PL/pgSQL function (whose body says `BEGIN`) runs in
/// one transaction like any other: an error after the function, and then a
/// backend terminated after it, leave neither the function nor a history row
/// or mark, and `LOCK TABLE` (which needs a transaction) works in it.
fn plpgsql_is_atomic(server: &Server) {
    let (dir, m) = postgres_project();
    std::fs::write(m.join("1_base.sql"), "CREATE TABLE base (k int);\n").unwrap();
    let function = "CREATE FUNCTION touch() RETURNS trigger AS $$\nDECLARE n int;\nBEGIN\n  n := 1;\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n\
                    LOCK TABLE base IN SHARE MODE;\n";
    std::fs::write(m.join("2_touch.sql"), format!("{function}INSERT INTO base VALUES ('not a number');\n")).unwrap();
    sql(&server.database("postgres"), "CREATE DATABASE plpgsql");
    let url = server.database("plpgsql");
    let function_exists = || sql(&url, "SELECT count(*)::text FROM pg_proc WHERE proname = 'touch'")[0][0].clone();
    let history = || {
        sql(&url, "SELECT string_agg(version::text || ' ' || checksum, ',' ORDER BY version) FROM migcheck_history")[0]
            [0]
        .clone()
    };

    let out = upgrade(dir.path(), &url).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("migrations/2_touch.sql:9:"), "the error points at the insert: {stderr}");
    assert_eq!(stderr.matches("not a number").count(), 1, "the server's message once, without its C line: {stderr}");
    assert!(!stderr.contains("at line"), "{stderr}");
    assert_eq!(function_exists().as_deref(), Some("0"), "the function rolled back with the failed insert");
    assert!(history().is_some_and(|h| h.starts_with("1 ") && !h.contains(',')), "{:?}", history());

    // A backend terminated after the function: the same.
    std::fs::write(m.join("2_touch.sql"), format!("{function}SELECT pg_sleep(30) AS plpgsql_here;\n")).unwrap();
    let child = upgrade(dir.path(), &url).spawn().unwrap();
    wait_for_statement(server, "plpgsql", "plpgsql_here");
    sql(
        &server.database("postgres"),
        "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = 'plpgsql' AND query LIKE '%plpgsql_here%'",
    );
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert_eq!(function_exists().as_deref(), Some("0"), "the function rolled back with the terminated session");
    let status = migcheck(dir.path(), &url, &["--format", "json", "status"]);
    let value: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(value["current"].as_i64(), Some(1), "{value}");
    assert!(value["interrupted"].is_null(), "no migration is marked interrupted: {value}");

    // And once it can succeed, it does, whole.
    std::fs::write(m.join("2_touch.sql"), function).unwrap();
    let out = upgrade(dir.path(), &url).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(function_exists().as_deref(), Some("1"));
    eprintln!("PL/pgSQL: a failure and a terminated backend after the function left nothing; the re-run applied it");
}

/// The fault scenarios, each on a server of its own so that they can run side
/// by side; ignored without PostgreSQL installed (the binary's `main` says why).
pub fn trials() -> Vec<Trial> {
    type Scenario = fn(&Server);
    let scenarios: [(&str, Scenario); 4] = [
        ("a_plpgsql_body_runs_in_its_migrations_transaction", plpgsql_is_atomic),
        ("a_cut_no_transaction_file_resumes_and_a_terminated_backend_frees_the_lock", cut_points),
        ("immediate_stops_at_even_tenths_of_an_upgrade_leave_the_history_true", faults_at_even_tenths),
        ("immediate_stops_at_odd_tenths_of_an_upgrade_leave_the_history_true", faults_at_odd_tenths),
    ];
    scenarios
        .into_iter()
        .map(|(name, scenario)| {
            Trial::test(format!("pg_faults::{name}"), move || {
                scenario(&Server::start());
                Ok(())
            })
            .with_ignored_flag(crate::no_server().is_some())
        })
        .collect()
}
