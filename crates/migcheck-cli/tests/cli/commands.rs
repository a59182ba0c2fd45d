//! The real `migcheck` binary against real SQLite files in temporary projects:
//! exit codes, messages, files and database state.

use migcheck_test_support::pg;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rusqlite::Connection;

struct Project {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Project {
    fn new() -> Project {
        let p = Project { dir: tempfile::Builder::new().prefix("migcheck-cli-").tempdir().unwrap() };
        fs::write(p.path().join(".env"), "DATABASE_URL=sqlite:dev.db\n").unwrap();
        p
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn db(&self) -> PathBuf {
        self.path().join("dev.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("DATABASE_URL")
            .env_remove("CI")
            .env_remove("MIGCHECK_LOCKED")
            // Those that want a scratch server pass it.
            .env_remove("MIGCHECK_SCRATCH_URL")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().unwrap().into()
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        run
    }

    /// Runs `git` in the project; it must succeed.
    fn git(&self, args: &[&str]) {
        let out = Command::new("git").current_dir(self.path()).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Makes the project a git repository on branch `main`.
    fn git_init(&self) {
        self.git(&["init", "-q", "-b", "main"]);
        self.git(&["config", "user.email", "t@example.com"]);
        self.git(&["config", "user.name", "t"]);
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.path().join("migrations").join(name), text).unwrap();
    }

    /// `migcheck init` plus two reversible migrations and an irreversible one.
    fn with_migrations() -> Project {
        let p = Project::new();
        p.ok(&["init"]);
        p.write("0001_create_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n");
        p.write("0001_create_owners.down.sql", "DROP TABLE owners;\n");
        p.write(
            "0002_add_pets.up.sql",
            "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners(id));\n",
        );
        p.write("0002_add_pets.down.sql", "DROP TABLE pets;\n");
        p.write("0003_seed.sql", "INSERT INTO owners (email) VALUES ('ada@example.com');\n");
        p
    }

    fn tables(&self) -> Vec<String> {
        let conn = Connection::open(self.db()).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn applied(&self) -> Vec<i64> {
        let conn = Connection::open(self.db()).unwrap();
        let mut stmt = conn.prepare("SELECT version FROM migcheck_history ORDER BY version").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }
}

fn init_creates_and_never_overwrites() {
    let p = Project::new();
    let run = p.ok(&["init"]);
    assert!(run.stdout.contains("created migrations/") && run.stdout.contains("created build.rs"), "{run:?}");
    assert!(fs::read_to_string(p.path().join("migrations/migrations.lock")).unwrap().contains("migcheck-lock 1"));
    assert_eq!(
        fs::read_to_string(p.path().join("build.rs")).unwrap(),
        "fn main() {\n    migcheck_build::Build::new().run();\n}\n"
    );

    fs::write(p.path().join("build.rs"), "fn main() {}\n").unwrap();
    let run = p.ok(&["--dir", "db/migrations", "init"]);
    assert!(run.stdout.contains("build.rs exists: add this line"), "{run:?}");
    assert!(run.stdout.contains(r#"migcheck_build::Build::new().dir("db/migrations").run();"#), "{run:?}");
    assert_eq!(fs::read_to_string(p.path().join("build.rs")).unwrap(), "fn main() {}\n");
    assert!(p.path().join("db/migrations/migrations.lock").exists());
}

fn new_picks_the_next_version() {
    let p = Project::new();
    let run = p.run(&["new", "x"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("run `migcheck init` first"), "{run:?}");
    p.ok(&["init"]);
    p.ok(&["new", "Create Owners", "--sequential"]);
    p.ok(&["new", "add pets", "--sequential", "--irreversible"]);
    let mut names: Vec<String> = fs::read_dir(p.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["0001_create_owners.down.sql", "0001_create_owners.up.sql", "0002_add_pets.sql", "migrations.lock"]
    );
    let run = p.ok(&["new", "timestamped"]);
    let created = run.stdout.lines().next().unwrap().trim_start_matches("created migrations/").to_owned();
    assert_eq!(created.len(), "20261124093000_timestamped.up.sql".len(), "{run:?}");
    let run = p.run(&["new", "!!!"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no letter or digit"), "{run:?}");
}

fn upgrade_current_history_status_downgrade_stamp() {
    let p = Project::with_migrations();
    let run = p.run(&["status"]);
    assert_eq!(run.code, 3, "pending: {run:?}");
    assert!(run.stdout.contains("current:   none") && run.stdout.contains("pending:   1, 2, 3"), "{run:?}");
    assert!(!p.db().exists(), "reading commands never create the database");

    let dry = p.ok(&["upgrade", "--dry-run"]);
    assert!(
        dry.stdout.contains("-- migration 1 `create_owners`") && dry.stdout.contains("CREATE TABLE pets"),
        "{dry:?}"
    );
    assert!(!p.db().exists(), "--dry-run changes nothing");

    let run = p.ok(&["upgrade", "--to", "2", "--batch"]);
    assert!(run.stdout.contains("applied 1 create_owners") && run.stdout.contains("dev.db is at version 2"), "{run:?}");
    assert!(!run.stdout.contains("backup:"), "a new database needs no backup: {run:?}");
    assert_eq!(p.run(&["status"]).code, 3, "pending");
    assert_eq!(p.ok(&["current"]).stdout, "2\n");

    let run = p.ok(&["upgrade"]);
    assert!(run.stdout.contains("backup: dev.db.v2.bak"), "{run:?}");
    assert!(p.path().join("dev.db.v2.bak").exists());
    assert_eq!(p.applied(), [1, 2, 3]);
    assert!(p.ok(&["upgrade"]).stdout.contains("nothing to apply"));

    let json: serde_json::Value = serde_json::from_str(&p.ok(&["status", "--format", "json"]).stdout).unwrap();
    assert_eq!((json["current"].as_i64(), json["up_to_date"].as_bool()), (Some(3), Some(true)));
    let json: serde_json::Value = serde_json::from_str(&p.ok(&["history", "--format", "json"]).stdout).unwrap();
    assert_eq!(json["migrations"].as_array().unwrap().len(), 3);
    assert_eq!(json["migrations"][0]["state"], "applied");
    assert!(p.ok(&["history"]).stdout.contains("2  add_pets  applied 20"));

    // 3 is irreversible: downgrade refuses and names it, changing nothing.
    let run = p.run(&["downgrade"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("migration 3 `seed` is irreversible"), "{run:?}");
    assert_eq!(p.applied(), [1, 2, 3]);

    p.ok(&["stamp", "2"]);
    assert_eq!(p.applied(), [1, 2]);
    let run = p.ok(&["downgrade"]);
    assert!(run.stdout.contains("reverted 2 add_pets"), "{run:?}");
    assert_eq!(p.tables(), ["migcheck_history", "owners"]);
    let run = p.run(&["downgrade", "--steps", "5"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("cannot downgrade 5 steps: dev.db has 1 applied migration"), "{run:?}");
    let run = p.run(&["downgrade", "--to=-1"]);
    assert_eq!(run.code, 2, "a usage error: {run:?}");
    assert!(run.stderr.contains("`-1` is not a version: a number, or `base` for no migration"), "{run:?}");
    p.ok(&["downgrade", "--to", "0"]);
    assert_eq!(p.tables(), ["migcheck_history"]);

    for (args, message) in [
        (&["stamp", "99"][..], "there is no migration with version 99"),
        (&["upgrade", "--to", "99"][..], "there is no migration with version 99"),
    ] {
        let run = p.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
    }
    assert_eq!(p.run(&["downgrade", "--to", "1", "--steps", "1"]).code, 2, "usage error");
}

fn database_errors_are_clear() {
    let p = Project::with_migrations();
    fs::remove_file(p.path().join(".env")).unwrap();
    let run = p.run(&["upgrade"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no database given: set DATABASE_URL"), "{run:?}");

    fs::write(p.path().join("junk.db"), "this is not a database, just text that is long enough to be read".repeat(20))
        .unwrap();
    let run = p.run(&["--database-url", "sqlite:junk.db", "upgrade"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("`junk.db` is not a SQLite database"), "{run:?}");

    let run = p.run(&["--database-url", "migrations", "upgrade"]);
    assert!(run.stderr.contains("is a directory"), "{run:?}");
    let run = p.run(&["--database-url", "oracle://x/y", "status"]);
    assert!(run.stderr.contains("unsupported database URL scheme"), "{run:?}");
    let run = p.run(&["--database-url", "", "status"]);
    assert!(run.stderr.contains("empty"), "{run:?}");
}

fn a_database_from_a_newer_binary_or_edited_migrations_exit_4() {
    let p = Project::with_migrations();
    p.ok(&["upgrade"]);
    let conn = Connection::open(p.db()).unwrap();
    conn.execute("INSERT INTO migcheck_history VALUES (9, 'future', 'x', 'y', '2030-01-01T00:00:00.000Z', 1)", [])
        .unwrap();
    let run = p.run(&["upgrade"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("the database has migration 9 `future`, which this binary does not know"), "{run:?}");
    let run = p.run(&["status"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stdout.contains("unknown:   9"), "{run:?}");
    assert!(p.ok(&["history"]).stdout.contains("9  future  unknown"));

    conn.execute("DELETE FROM migcheck_history WHERE version = 9", []).unwrap();
    p.write("0001_create_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT);\n");
    let run = p.run(&["upgrade"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("migration 1 `create_owners` was previously applied but has been modified"), "{run:?}");
}

fn check_lock_and_rebase() {
    let p = Project::with_migrations();
    let run = p.ok(&["check"]);
    assert!(run.stdout.contains("3 migrations checked: ok"), "{run:?}");
    assert!(run.stderr.contains("warning[unsealed]: 3 migrations are not sealed yet"), "{run:?}");
    // In CI `check` is locked, as `cargo build` is.
    let run: Run = p.command(&["check"]).env("CI", "true").output().unwrap().into();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("error[unsealed]: 3 migrations are not sealed yet"), "{run:?}");
    assert!(p.ok(&["lock"]).stdout.contains("sealed 3 migrations"));
    assert!(p.ok(&["lock"]).stdout.contains("is up to date"));

    p.write(
        "0001_create_owners.up.sql",
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);\n",
    );
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("error[sealed-edited]: sealed migration `0001_create_owners.up.sql` was edited"),
        "{run:?}"
    );
    let run = p.run(&["check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["diagnostics"][0]["code"], "sealed-edited");
    assert_eq!(json["diagnostics"][0]["file"], "migrations/0001_create_owners.up.sql");
    let run = p.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("nothing was sealed"), "{run:?}");
    assert!(p.ok(&["lock", "--force"]).stdout.contains("re-sealed 1 migration"));

    // Two migrations sharing a version: both are named.
    p.write("0002_from_branch.sql", "CREATE TABLE branch (x);\n");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error[duplicate-version]: 3 migrations share version 2"), "{run:?}");
    assert!(run.stderr.contains("`0002_from_branch.sql`"), "{run:?}");
}

fn rebase_renumbers_after_the_newest_sealed() {
    let p = Project::new();
    p.ok(&["init"]);
    p.write("1_a.sql", "CREATE TABLE a (x);\n");
    p.write("3_c.sql", "CREATE TABLE c (x);\n");
    p.ok(&["lock"]);
    p.write("2_from_branch.up.sql", "CREATE TABLE b (x);\n");
    p.write("2_from_branch.down.sql", "DROP TABLE b;\n");
    let run = p.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("error[out-of-order]") && run.stderr.contains("migcheck rebase"), "{run:?}");
    let run = p.ok(&["rebase"]);
    assert!(run.stdout.contains("renumbered 2 -> 4"), "{run:?}");
    assert!(
        p.path().join("migrations/4_from_branch.up.sql").exists()
            && p.path().join("migrations/4_from_branch.down.sql").exists()
    );
    p.ok(&["check"]);
    p.ok(&["lock"]);
    assert!(p.ok(&["rebase"]).stdout.contains("nothing to rebase"));
}

/// After a merge where both branches added version 3, `rebase` (as the
/// `duplicate-version` help says) moves the branch's unsealed 3 after the
/// sealed one, before the branch's later migrations.
fn rebase_renumbers_a_duplicate_of_a_sealed_version() {
    let p = Project::new();
    p.ok(&["init"]);
    p.write("1_a.sql", "CREATE TABLE a (x);\n");
    p.write("3_main.sql", "CREATE TABLE m (x);\n");
    p.ok(&["lock"]);
    p.write("3_branch.up.sql", "CREATE TABLE b (x);\n");
    p.write("3_branch.down.sql", "DROP TABLE b;\n");
    p.write("4_later.sql", "CREATE TABLE l (x);\n");
    let run = p.run(&["check"]);
    assert!(run.stderr.contains("error[duplicate-version]") && run.stderr.contains("migcheck rebase"), "{run:?}");
    let run = p.ok(&["rebase"]);
    assert!(run.stdout.contains("renumbered 3 -> 4") && run.stdout.contains("renumbered 4 -> 5"), "{run:?}");
    for name in ["3_main.sql", "4_branch.up.sql", "4_branch.down.sql", "5_later.sql"] {
        assert!(p.path().join("migrations").join(name).exists(), "{name}");
    }
    p.ok(&["check"]);
    p.ok(&["lock"]);
}

fn a_failing_migration_leaves_the_previous_version() {
    let p = Project::with_migrations();
    p.ok(&["upgrade"]);
    let before = p.tables();
    p.write("0004_broken.sql", "CREATE TABLE t (x);\nINSERT INTO owners (email) VALUES (NULL);\n");
    let run = p.run(&["upgrade"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("migration 4 `broken` failed at migrations/0004_broken.sql:2:1"), "{run:?}");
    assert!(run.stderr.contains("NOT NULL constraint failed: owners.email"), "{run:?}");
    assert_eq!(p.tables(), before, "the first statement was rolled back too");
    assert_eq!(p.applied(), [1, 2, 3]);
    assert_eq!(p.ok(&["current"]).stdout, "3\n");
}

fn concurrent_upgrades_apply_each_migration_once() {
    let p = Project::with_migrations();
    for i in 4..40 {
        p.write(&format!("{i:04}_t{i}.sql"), &format!("CREATE TABLE t{i} (x);\nINSERT INTO t{i} VALUES ({i});\n"));
    }
    let children: Vec<_> = (0..8)
        .map(|_| p.command(&["upgrade", "--no-backup"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    let mut applied_lines = 0;
    for child in children {
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{run:?}");
        applied_lines += run.stdout.lines().filter(|l| l.starts_with("applied ")).count();
    }
    assert_eq!(applied_lines, 39, "each migration applied exactly once across 8 processes");
    assert_eq!(p.applied(), (1..40).collect::<Vec<i64>>());
}

fn sigkill_during_a_long_upgrade_leaves_a_consistent_database() {
    let p = Project::new();
    p.ok(&["init"]);
    let n = 400;
    for i in 1..=n {
        p.write(
            &format!("{i:04}_t{i}.sql"),
            &format!("CREATE TABLE t{i} (x);\nWITH RECURSIVE r(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM r WHERE k < 300) INSERT INTO t{i} SELECT k FROM r;\n"),
        );
    }
    let mut interrupted = 0;
    for delay_ms in [30u64, 60, 120, 250, 400] {
        let mut child =
            p.command(&["upgrade", "--no-backup"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        if !p.db().exists() {
            continue;
        }
        // Every recorded migration's table exists with all its rows, and no other table does.
        let applied = p.applied_or_empty();
        let tables: Vec<String> = p.tables().into_iter().filter(|t| t.starts_with('t')).collect();
        assert_eq!(tables.len(), applied.len(), "tables and history agree after kill at {delay_ms} ms");
        if !applied.is_empty() && applied.len() < n {
            interrupted += 1;
        }
        let conn = Connection::open(p.db()).unwrap();
        for v in &applied {
            let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM t{v}"), [], |r| r.get(0)).unwrap();
            assert_eq!(rows, 300);
        }
    }
    assert!(interrupted > 0, "no kill landed in the middle of the upgrade: the test proved nothing");
    p.ok(&["upgrade", "--no-backup"]);
    assert_eq!(p.applied().len(), n);
}

impl Project {
    fn applied_or_empty(&self) -> Vec<i64> {
        let conn = Connection::open(self.db()).unwrap();
        let exists: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'migcheck_history'", [], |r| r.get(0))
            .unwrap();
        if exists == 0 { Vec::new() } else { self.applied() }
    }
}

fn diff_generates_renames_on_request_and_writes_nothing_when_nothing_changed() {
    let p = Project::new();
    p.ok(&["init"]);
    let run = p.run(&["diff", "-m", "x"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no declared schema: write the tables you want in `schema.sql`"), "{run:?}");

    fs::write(p.path().join("schema.sql"), "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n")
        .unwrap();
    let run = p.ok(&["diff", "-m", "Create owners!"]);
    assert!(run.stdout.contains("create table `owners`") && run.stdout.contains("_create_owners.up.sql"), "{run:?}");
    let run = p.ok(&["diff", "-m", "again"]);
    assert!(run.stdout.contains("nothing to change"), "{run:?}");
    assert_eq!(fs::read_dir(p.path().join("migrations")).unwrap().count(), 3, "lock + up + down, nothing more");
    p.ok(&["upgrade"]);
    Connection::open(p.db()).unwrap().execute("INSERT INTO owners (email) VALUES ('ada@x')", []).unwrap();

    // Renamed without saying so: drop and create, marked as data loss and ambiguous.
    fs::write(p.path().join("schema.sql"), "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n")
        .unwrap();
    let run = p.ok(&["diff", "-m", "people"]);
    assert!(run.stderr.contains("warning: DATA LOSS: drops table `owners`"), "{run:?}");
    assert!(run.stderr.contains("--rename owners:people"), "{run:?}");
    let generated: Vec<PathBuf> = fs::read_dir(p.path().join("migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.to_string_lossy().contains("_people."))
        .collect();
    assert!(
        fs::read_to_string(generated.iter().find(|f| f.to_string_lossy().ends_with(".up.sql")).unwrap())
            .unwrap()
            .contains("-- DATA LOSS")
    );
    for f in generated {
        fs::remove_file(f).unwrap();
    }
    let run = p.ok(&["diff", "-m", "rename owners", "--rename", "owners:people"]);
    assert!(!run.stderr.contains("DATA LOSS"), "{run:?}");
    p.ok(&["upgrade"]);
    assert_eq!(p.tables(), ["migcheck_history", "people"]);
    let email: String =
        Connection::open(p.db()).unwrap().query_row("SELECT email FROM people", [], |r| r.get(0)).unwrap();
    assert_eq!(email, "ada@x", "the rename kept the row");
    let run = p.run(&["diff", "-m", "x", "--rename", "nonsense"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is not a rename"), "{run:?}");
}

/// A table rebuild written by `migcheck diff` keeps every row: the check
/// runs it on tables holding rows (a child's foreign keys included) and finds
/// no loss; a migration that loses values is reported in the JSON too.
fn diff_rebuilds_keep_every_row_and_check_reports_data_findings() {
    let p = Project::new();
    p.ok(&["init"]);
    let schema = |sql: &str| fs::write(p.path().join("schema.sql"), sql).unwrap();
    schema(
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL, nick TEXT, age INTEGER);\n\
         CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners(id), name TEXT);\n",
    );
    p.ok(&["diff", "-m", "create"]);
    schema(
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, nick TEXT CHECK (length(nick) < 100), age REAL);\n\
         CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners(id), name TEXT);\n",
    );
    let run = p.ok(&["diff", "-m", "rebuild owners"]);
    assert!(run.stdout.contains("UNIQUE (email) added"), "{run:?}");
    let run = p.ok(&["check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let codes: Vec<&str> =
        json["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["unsealed", "table-rebuild"], "the rebuild keeps every row: {run:?}");
    let rebuild = &json["diagnostics"][1];
    assert_eq!(rebuild["severity"], "note", "a rebuild is said as a note: {run:?}");
    assert!(
        rebuild["message"].as_str().unwrap().contains("rebuilds table `owners`: a new table, its rows copied"),
        "{run:?}"
    );
    assert_eq!(json["notes"], 1);

    // Rows changed on purpose, a column dropped and a table emptied on
    // purpose: nothing lost. A rebuild that forgets a column: lost.
    fs::write(
        p.path().join("migrations/99990101000000_on_purpose.sql"),
        "UPDATE owners SET nick = NULL;\nALTER TABLE owners DROP COLUMN age;\nALTER TABLE owners ADD COLUMN age REAL;\n\
         CREATE TABLE pets_copy AS SELECT id FROM pets;\nDELETE FROM pets_copy;\n",
    )
    .unwrap();
    fs::write(
        p.path().join("migrations/99990102000000_lose.sql"),
        "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners(id), name TEXT);\n\
         INSERT INTO pets_new (id, owner_id) SELECT id, owner_id FROM pets;\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
    )
    .unwrap();
    let run = p.run(&["check", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let findings: Vec<(&str, &str)> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] != "unsealed" && d["code"] != "drift" && d["code"] != "table-rebuild")
        .map(|d| (d["code"].as_str().unwrap(), d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        findings,
        [("data-loss", "`99990102000000_lose.sql` loses 4 of the 4 values of `pets.name`: NULL after it")],
        "{run:?}"
    );
    // The rebuild is measured, the in-place `DROP COLUMN` is not one.
    let rebuilt: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "table-rebuild")
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert_eq!(rebuilt.len(), 2, "{run:?}");
    assert!(rebuilt[1].ends_with("99990102000000_lose.sql"), "{run:?}");
}

fn check_with_a_database_finds_changes_made_by_hand() {
    let p = Project::with_migrations();
    p.ok(&["upgrade"]);
    let run = p.ok(&["check", "--database-url", "sqlite:dev.db"]);
    assert!(run.stdout.contains("dev.db: its schema is what its applied migrations make"), "{run:?}");
    Connection::open(p.db())
        .unwrap()
        .execute_batch("CREATE INDEX by_hand ON owners (email); ALTER TABLE pets ADD COLUMN age INTEGER;")
        .unwrap();
    let run = p.run(&["check", "--database-url", "sqlite:dev.db"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("`dev.db` was changed outside its migrations"), "{run:?}");
    assert!(run.stderr.contains("index `by_hand`: in the database at version 3, not in its migrations"), "{run:?}");
    assert!(run.stderr.contains("column `pets.age`: in the database at version 3, not in its migrations"), "{run:?}");
    let json: serde_json::Value =
        serde_json::from_str(&p.run(&["check", "--format", "json", "--database-url", "dev.db"]).stdout).unwrap();
    assert_eq!(json["database"]["drift"].as_array().unwrap().len(), 2);
}

/// A fresh database on the test server (`migcheck_test_support::pg`: the
/// `MIGCHECK_TEST_PG_URL` server, or one started when PostgreSQL is installed);
/// `None`, with the reason, when there is none. In CI that is a failure.
fn postgres_database() -> Option<String> {
    let url = match pg::server() {
        Ok(url) => url,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return None;
        }
    };
    let name = format!(
        "migcheck_cli_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    });
    Some(format!("{}/{name}", url.rsplit_once('/').unwrap().0))
}

/// A fresh database on the MariaDB test server (`migcheck_test_support::mysql`),
/// as a `mariadb://` URL (the CLI reads it as sqlx's `mysql://`).
fn mysql_database() -> Option<String> {
    let url = match migcheck_test_support::mysql::server() {
        Ok(url) => url,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return None;
        }
    };
    let name = format!(
        "migcheck_cli_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let admin = sqlx::MySqlPool::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.unwrap();
    });
    let url = url.replacen("mysql://", "mariadb://", 1);
    Some(format!("{}/{name}", url.rsplit_once('/').unwrap().0))
}

/// The tutorial's commands on MariaDB: `init --dialect mysql`, `upgrade`,
/// `current`, `history`, `downgrade`, `stamp`, `status`, `check`; a
/// migration that fails at its second statement leaves status exit 3 naming
/// where it stopped, and the re-run after the fix does not run the first
/// statement again.
fn every_database_command_works_on_mysql() {
    let Some(url) = mysql_database() else { return };
    let p = Project::new();
    p.ok(&["init", "--dialect", "mariadb"]);
    assert!(fs::read_to_string(p.path().join("migrations/migrations.lock")).unwrap().contains("\ndialect mysql\n"));
    p.write(
        "0001_create_owners.up.sql",
        "CREATE TABLE owners (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL);\n",
    );
    p.write("0001_create_owners.down.sql", "DROP TABLE owners;\n");
    p.write(
        "0002_add_pets.up.sql",
        "# pets and their owners\nCREATE TABLE pets (id BIGINT AUTO_INCREMENT PRIMARY KEY, owner_id BIGINT);\n\
         ALTER TABLE pets ADD CONSTRAINT pets_owner FOREIGN KEY (owner_id) REFERENCES owners (id);\n",
    );
    p.write("0002_add_pets.down.sql", "DROP TABLE pets;\n");
    p.write("0003_seed.sql", "INSERT INTO owners (email) VALUES ('ada@example.com');\n");
    let with = |args: &[&str]| -> Vec<String> {
        ["--database-url", url.as_str()].iter().chain(args).map(|s| s.to_string()).collect()
    };
    let run_with = |args: &[&str]| {
        let args = with(args);
        p.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let check = p.ok(&["check"]);
    assert!(check.stderr.contains("the MySQL migrations' SQL was not run"), "{check:?}");
    // Two DDL statements in one migration cannot be atomic on MySQL.
    assert!(
        check.stderr.contains("warning[partial-ddl]: `0002_add_pets.up.sql` has 2 DDL statements")
            && check.stderr.contains("migrations/0002_add_pets.up.sql:3:1"),
        "{check:?}"
    );
    assert_eq!(check.stderr.matches("warning[partial-ddl]").count(), 1, "{check:?}");
    assert_eq!(run_with(&["status"]).code, 3);
    let run = run_with(&["upgrade", "--dry-run"]);
    assert!(run.code == 0 && run.stdout.contains("-- migration 1 `create_owners`"), "{run:?}");
    let run = run_with(&["upgrade", "--to", "2"]);
    assert!(run.code == 0 && run.stdout.contains("applied 2 add_pets"), "{run:?}");
    assert!(run.stderr.contains("no backup is taken of a MySQL database"), "{run:?}");
    assert!(run.stdout.contains("mysql://root:***@127.0.0.1"), "the password is not shown: {run:?}");
    assert_eq!(run_with(&["current"]).stdout, "2\n");
    assert_eq!(run_with(&["upgrade", "--no-backup"]).code, 0);
    assert!(run_with(&["history"]).stdout.contains("3  seed  applied"));
    let run = run_with(&["downgrade"]);
    assert!(run.code == 1 && run.stderr.contains("migration 3 `seed` is irreversible"), "{run:?}");
    assert_eq!(run_with(&["stamp", "2"]).code, 0);
    let run = run_with(&["downgrade", "--steps", "2"]);
    assert!(run.stdout.contains("reverted 2 add_pets") && run.stdout.contains("reverted 1 create_owners"), "{run:?}");
    let run = run_with(&["status", "--format", "json"]);
    assert_eq!(run.code, 3, "pending: {run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["pending"], serde_json::json!([1, 2, 3]));

    // A migration failing at its second statement: the first stays (DDL
    // commits), status says where it stopped, the fixed file resumes there.
    assert_eq!(run_with(&["upgrade"]).code, 0);
    let first = "CREATE TABLE toys (id BIGINT PRIMARY KEY);\n";
    p.write("0004_toys.sql", &format!("{first}ALTER TABLE toys ADD COLUMN pet_id BIGINT REFERENCES pest (id);\n"));
    let run = run_with(&["upgrade"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("0004_toys.sql:2"), "{run:?}");
    let run = run_with(&["status"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout.contains("interrupted: 4 `toys`: its up file stopped part-way")
            && run.stdout.contains("1 statement ran and stays")
            && run.stdout.contains("resumes it at migrations/0004_toys.sql:2"),
        "{run:?}"
    );
    p.write("0004_toys.sql", &format!("{first}ALTER TABLE toys ADD COLUMN pet_id BIGINT REFERENCES pets (id);\n"));
    let run = run_with(&["upgrade"]);
    assert!(run.code == 0 && run.stdout.contains("applied 4 toys"), "the first statement is not run again: {run:?}");
    assert_eq!(run_with(&["status"]).code, 0);
}

/// The check on a MariaDB scratch server (`MIGCHECK_SCRATCH_URL=mysql://…`):
/// a down that forgets an index fails naming its file and the index, a typo
/// fails at its line and column, `schema.sql` is compared, a dropped column
/// is a `breaking-change`, and no scratch database is left behind.
fn the_check_runs_on_a_mysql_scratch_server() {
    let Ok(server) = migcheck_test_support::mysql::server() else { return };
    let p = Project::new();
    p.ok(&["init", "--dialect", "mysql"]);
    p.write(
        "1_owners.up.sql",
        "CREATE TABLE owners (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL, nick TEXT);\n",
    );
    p.write("1_owners.down.sql", "DROP TABLE owners;\n");
    p.write("2_index.up.sql", "CREATE INDEX owners_email ON owners (email);\n");
    p.write("2_index.down.sql", "SELECT 1;\n");
    let check =
        |p: &Project| -> Run { p.command(&["check"]).env("MIGCHECK_SCRATCH_URL", &server).output().unwrap().into() };
    let run = check(&p);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(
            "error[down-mismatch]: `2_index.down.sql` does not restore the schema its up migration started from"
        ) && run.stderr.contains("KEY `owners_email` (`email`)"),
        "{run:?}"
    );
    p.write("2_index.down.sql", "DROP INDEX owners_email ON owners;\n");
    p.write("3_typo.sql", "INSERT INTO owners (email) VALUES ('a');\nSELECT emial FROM owners;\n");
    let run = check(&p);
    assert!(
        run.code == 1
            && run.stderr.contains("error[sql-error]: SQL fails on the scratch database: Unknown column 'emial'")
            && run.stderr.contains("migrations/3_typo.sql:2:8"),
        "{run:?}"
    );
    p.write("3_typo.sql", "ALTER TABLE owners DROP COLUMN nick;\n");
    fs::write(
        p.path().join("schema.sql"),
        "CREATE TABLE owners (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL);\n",
    )
    .unwrap();
    let run = check(&p);
    assert_eq!(run.code, 1, "the declared schema has no index: {run:?}");
    assert!(run.stderr.contains("error[drift]") && run.stderr.contains("owners_email"), "{run:?}");
    fs::write(
        p.path().join("schema.sql"),
        "CREATE TABLE owners (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL);\n\
         CREATE INDEX owners_email ON owners (email);\n",
    )
    .unwrap();
    let run = check(&p);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("warning[breaking-change]: `3_typo.sql` drops or renames column `owners.nick`"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("not-executed"), "the SQL ran: {run:?}");
    // A column added at the end is instant; a type change copies the table,
    // here with the fixture's rows.
    fs::create_dir(p.path().join("fixtures")).unwrap();
    fs::write(p.path().join("fixtures/1.sql"), "INSERT INTO owners (email) VALUES ('a@x'), ('b@x'), ('c@x');\n")
        .unwrap();
    p.write("4_age.sql", "ALTER TABLE owners ADD COLUMN age INT;\n");
    p.write("5_bigger_age.sql", "ALTER TABLE owners MODIFY age BIGINT;\n");
    fs::remove_file(p.path().join("schema.sql")).unwrap();
    let run = check(&p);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("warning[table-rewrite]: `5_bigger_age.sql` rebuilds table `owners` (3 rows copied here)")
            && run.stderr.contains("migrations/5_bigger_age.sql:1:1"),
        "{run:?}"
    );
    assert_eq!(
        run.stderr.matches("warning[table-rewrite]").count(),
        1,
        "the instant ADD COLUMN copies nothing: {run:?}"
    );

    // The schema views, replayed on the scratch server.
    let view = |args: &[&str]| -> Run { p.command(args).env("MIGCHECK_SCRATCH_URL", &server).output().unwrap().into() };
    let run = view(&["--format", "mermaid", "schema"]);
    assert!(run.code == 0 && run.stdout.contains("owners {") && run.stdout.contains(" id PK"), "{run:?}");
    let run = view(&["schema", "--at", "2"]);
    assert!(
        run.code == 0 && run.stdout.contains("CREATE TABLE `owners`") && run.stdout.contains("owners_email"),
        "{run:?}"
    );
    let run = view(&["show", "3"]);
    assert!(run.code == 0 && run.stdout.contains("nick"), "{run:?}");
    let run = view(&["explain", "5"]);
    assert!(
        run.code == 0
            && run.stdout.contains("ALTER TABLE owners MODIFY age BIGINT;")
            && run.stdout.contains("metadata lock on owners")
            && run.stdout.contains("owners"),
        "{run:?}"
    );
    // The SQL makes the same tables again, each index once.
    let sql = view(&["schema"]).stdout;
    assert_eq!(sql.matches("owners_email").count(), 1, "{sql}");
    let again = mysql_database().expect("the server answered above");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::MySqlPool::connect(&again.replacen("mariadb://", "mysql://", 1)).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&pool).await.unwrap();
    });
    let replayed: Run = p.command(&["--database-url", &again, "schema"]).output().unwrap().into();
    assert_eq!(replayed.stdout, sql, "{replayed:?}");

    // A squash: the baseline written from the scratch server, proved there.
    let run = view(&["lock"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = view(&["squash", "--to", "3", "-m", "first three"]);
    assert!(run.code == 0 && run.stdout.contains("created migrations/3_first_three.baseline.sql"), "{run:?}");
    let baseline = fs::read_to_string(p.path().join("migrations/3_first_three.baseline.sql")).unwrap();
    assert!(
        baseline.contains("CREATE TABLE `owners`") && baseline.contains("SET FOREIGN_KEY_CHECKS = 0;"),
        "{baseline}"
    );
    let run = check(&p);
    assert_eq!(run.code, 0, "the build proves the baseline: {run:?}");

    // A live database compared with what its applied migrations make.
    let live = mysql_database().expect("the server answered above");
    let run = view(&["--database-url", &live, "upgrade"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = view(&["--database-url", &live, "check"]);
    assert!(run.code == 0 && run.stdout.contains("its schema is what its applied migrations make"), "{run:?}");
    rt.block_on(async {
        let pool = sqlx::MySqlPool::connect(&live.replacen("mariadb://", "mysql://", 1)).await.unwrap();
        sqlx::raw_sql("CREATE INDEX by_hand ON owners (age)").execute(&pool).await.unwrap();
    });
    let run = view(&["--database-url", &live, "check"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr
            .contains("table `owners`: `KEY `by_hand` (`age`)` in the database at version 5, not in its migrations"),
        "{run:?}"
    );
    let left: Vec<String> = rt.block_on(async {
        let admin = sqlx::MySqlPool::connect(&server).await.unwrap();
        sqlx::query_scalar("SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'migcheck\\_scratch\\_%'")
            .fetch_all(&admin)
            .await
            .unwrap()
    });
    assert!(left.is_empty(), "every scratch database was dropped: {left:?}");
}

fn every_database_command_works_on_postgres() {
    let Some(url) = postgres_database() else { return };
    let p = Project::new();
    p.ok(&["init", "--dialect", "postgres"]);
    assert!(fs::read_to_string(p.path().join("migrations/migrations.lock")).unwrap().contains("\ndialect postgres\n"));
    p.write("0001_create_owners.up.sql", "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);\n");
    p.write("0001_create_owners.down.sql", "DROP TABLE owners;\n");
    p.write(
        "0002_add_pets.up.sql",
        "CREATE TABLE pets (id BIGSERIAL PRIMARY KEY, owner_id BIGINT REFERENCES owners(id));\n",
    );
    p.write("0002_add_pets.down.sql", "DROP TABLE pets;\n");
    p.write("0003_seed.sql", "INSERT INTO owners (email) VALUES ('ada@example.com');\n");
    fn with<'a>(url: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        [&["--database-url", url][..], args].concat()
    }
    let with = |args: &[&'static str]| with(&url, args);
    let run = p.run(&with(&["status"]));
    assert_eq!(run.code, 3, "{run:?}");
    let run = p.ok(&with(&["upgrade", "--dry-run"]));
    assert!(run.stdout.contains("-- migration 1 `create_owners`"), "{run:?}");
    let run = p.ok(&with(&["upgrade", "--to", "2"]));
    assert!(
        run.stdout.contains("applied 2 add_pets") && run.stderr.contains("no backup is taken of a PostgreSQL database"),
        "{run:?}"
    );
    assert!(run.stdout.contains("postgres://postgres:***@127.0.0.1"), "the password is not shown: {run:?}");
    assert_eq!(p.ok(&with(&["current"])).stdout, "2\n");
    p.ok(&with(&["upgrade", "--no-backup"]));
    assert!(p.ok(&with(&["history"])).stdout.contains("3  seed  applied"));
    let run = p.run(&with(&["downgrade"]));
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("migration 3 `seed` is irreversible"), "{run:?}");
    p.ok(&with(&["stamp", "2"]));
    let run = p.ok(&with(&["downgrade", "--steps", "2"]));
    assert!(run.stdout.contains("reverted 2 add_pets") && run.stdout.contains("reverted 1 create_owners"), "{run:?}");
    let run = p.run(&with(&["status", "--format", "json"]));
    assert_eq!(run.code, 3, "pending: {run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["pending"], serde_json::json!([1, 2, 3]));

    p.ok(&with(&["upgrade", "--to", "1"]));

    // Changes made by hand in the live database (MIGCHECK_SCRATCH_URL: where the expected schema is built).
    let scratch = pg::server().unwrap();
    let mut check = p.command(&with(&["check"]));
    let run: Run = check.env("MIGCHECK_SCRATCH_URL", &scratch).output().unwrap().into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("its schema is what its applied migrations make"), "{run:?}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql("CREATE INDEX by_hand ON owners (email); ALTER TABLE owners ADD COLUMN nick TEXT;")
            .execute(&pool)
            .await
            .unwrap();
    });
    let mut check = p.command(&with(&["check"]));
    let run: Run = check.env("MIGCHECK_SCRATCH_URL", &scratch).output().unwrap().into();
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("index `by_hand`: in the database at version 1, not in its migrations"), "{run:?}");
    assert!(
        run.stderr.contains("column `owners.nick`: in the database at version 1, not in its migrations"),
        "{run:?}"
    );
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::raw_sql("DROP INDEX by_hand; ALTER TABLE owners DROP COLUMN nick;").execute(&pool).await.unwrap();
    });

    p.write("0001_create_owners.up.sql", "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT);\n");
    let run = p.run(&with(&["upgrade"]));
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("was previously applied but has been modified"), "{run:?}");
}

fn import_adopts_databases_other_tools_migrated() {
    struct Case {
        tool: &'static str,
        files: &'static [(&'static str, &'static str)],
        history: &'static str,
    }
    let cases = [
        Case {
            tool: "sqlx",
            files: &[
                ("1_a.sql", "CREATE TABLE a (x);"),
                ("2_b.sql", "CREATE TABLE b (x);"),
                ("3_c.sql", "CREATE TABLE c (x);"),
            ],
            history: "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT, installed_on TEXT, success BOOLEAN, checksum BLOB, execution_time BIGINT);\n\
                      INSERT INTO _sqlx_migrations VALUES (1, 'a', '', 1, x'00', 1), (2, 'b', '', 1, x'00', 1);",
        },
        Case {
            tool: "diesel",
            files: &[
                ("2020-01-01-000000_a/up.sql", "CREATE TABLE a (x);"),
                ("2020-01-01-000000_a/down.sql", "DROP TABLE a;"),
                ("2020-01-02-000000_b/up.sql", "CREATE TABLE b (x);"),
                ("2020-01-02-000000_b/down.sql", "DROP TABLE b;"),
                ("2020-01-03-000000_c/up.sql", "CREATE TABLE c (x);"),
                ("2020-01-03-000000_c/down.sql", "DROP TABLE c;"),
            ],
            history: "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY, run_on TIMESTAMP);\n\
                      INSERT INTO __diesel_schema_migrations VALUES ('20200101000000', ''), ('20200102000000', '');",
        },
        Case {
            tool: "refinery",
            files: &[
                ("V1__a.sql", "CREATE TABLE a (x);"),
                ("V2__b.sql", "CREATE TABLE b (x);"),
                ("V3__c.sql", "CREATE TABLE c (x);"),
            ],
            history: "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255));\n\
                      INSERT INTO refinery_schema_history VALUES (1, 'a', '', ''), (2, 'b', '', '');",
        },
        Case {
            tool: "dbmate",
            files: &[
                ("20200101000000_a.sql", "-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n"),
                ("20200102000000_b.sql", "-- migrate:up\nCREATE TABLE b (x);\n-- migrate:down\nDROP TABLE b;\n"),
                ("20200103000000_c.sql", "-- migrate:up\nCREATE TABLE c (x);\n-- migrate:down\nDROP TABLE c;\n"),
            ],
            history: "CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY);\n\
                      INSERT INTO schema_migrations VALUES ('20200101000000'), ('20200102000000');",
        },
        Case {
            tool: "goose",
            files: &[
                ("00001_a.sql", "-- +goose Up\nCREATE TABLE a (x);\n-- +goose Down\nDROP TABLE a;\n"),
                ("00002_b.sql", "-- +goose Up\nCREATE TABLE b (x);\n-- +goose Down\nDROP TABLE b;\n"),
                ("00003_c.sql", "-- +goose Up\nCREATE TABLE c (x);\n-- +goose Down\nDROP TABLE c;\n"),
            ],
            history: "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY, version_id BIGINT, is_applied BOOLEAN, tstamp TEXT);\n\
                      INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (0, 1, ''), (1, 1, ''), (2, 1, ''), (3, 1, ''), (3, 0, '');",
        },
    ];
    for case in cases {
        let p = Project::new();
        fs::create_dir(p.path().join("migrations")).unwrap();
        for (name, text) in case.files {
            let path = p.path().join("migrations").join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        let conn = Connection::open(p.db()).unwrap();
        conn.execute_batch("CREATE TABLE a (x); CREATE TABLE b (x);").unwrap();
        conn.execute_batch(case.history).unwrap();
        drop(conn);
        let run = p.run(&["import", "--from", case.tool]);
        assert_eq!(run.code, 0, "{}: {run:?}", case.tool);
        assert!(
            run.stdout.contains("3 migrations sealed") && run.stdout.contains("2 recorded as applied"),
            "{}: {run:?}",
            case.tool
        );
        assert!(p.path().join("migrations/migrations.lock").exists());
        let run = p.ok(&["upgrade", "--no-backup"]);
        assert_eq!(
            run.stdout.lines().filter(|l| l.starts_with("applied ")).count(),
            1,
            "{}: only c is left: {run:?}",
            case.tool
        );
        assert!(p.tables().contains(&"c".to_owned()));
        assert_eq!(p.run(&["status"]).code, 0, "{}", case.tool);
    }
}

/// One URL works for every command: TLS (`sslmode=require`, `verify-full`
/// with `sslrootcert`) and a Unix socket given as a `host` parameter, for the
/// runtime's commands (sqlx) and for `check`'s live drift and scratch server
/// (migcheck's own client) alike.
fn every_command_accepts_the_same_tls_and_socket_urls() {
    let Some(url) = postgres_database() else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let show = |what: &str| -> String {
        rt.block_on(async {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {what}"))).fetch_one(&pool).await.unwrap()
        })
    };
    if show("ssl") != "on" {
        assert!(std::env::var_os("CI").is_none(), "CI's server must have TLS on: scripts/pg-start needs openssl");
        eprintln!("SKIPPED: the server has no TLS");
        return;
    }
    let root = std::path::Path::new(&show("data_directory")).join("root.crt");
    let (socket, port) = (show("unix_socket_directories"), show("port"));
    let database = url.rsplit_once('/').unwrap().1.to_owned();
    let admin = pg::server().unwrap();
    let urls = [
        (format!("{url}?sslmode=require"), format!("{admin}?sslmode=require")),
        (
            format!("{}?sslmode=verify-full&sslrootcert={}", url.replace("127.0.0.1", "localhost"), root.display()),
            format!("{}?sslmode=verify-full&sslrootcert={}", admin.replace("127.0.0.1", "localhost"), root.display()),
        ),
        (
            format!("postgres:///{database}?host={socket}&port={port}&user=postgres"),
            format!("postgres:///postgres?host={socket}&port={port}&user=postgres"),
        ),
    ];
    let p = Project::new();
    p.ok(&["init", "--dialect", "postgres"]);
    p.write("0001_create_owners.up.sql", "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);\n");
    p.write("0001_create_owners.down.sql", "DROP TABLE owners;\n");
    for (i, (url, scratch)) in urls.iter().enumerate() {
        let run = p.run(&["--database-url", url, "status"]);
        assert_eq!(run.code, if i == 0 { 3 } else { 0 }, "{url}: {run:?}");
        p.ok(&["--database-url", url, "upgrade"]);
        let mut check = p.command(&["--database-url", url, "check"]);
        let run: Run = check.env("MIGCHECK_SCRATCH_URL", scratch).output().unwrap().into();
        assert_eq!(run.code, 0, "{url}: {run:?}");
        assert!(run.stdout.contains("its schema is what its applied migrations make"), "{url}: {run:?}");
    }
}

/// Deployment hazards measured on the PostgreSQL scratch database: each case
/// is one migration after a base that creates `users` and `orgs`, with the
/// findings `migcheck check` must report (code and line), the safe variants
/// none but what they say.
fn postgres_hazards_are_measured() {
    let Ok(scratch) = pg::server() else {
        eprintln!("SKIPPED: no PostgreSQL server");
        return;
    };
    let base = "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, name text, age integer, seen timestamp);\n\
                CREATE TABLE orgs (id serial PRIMARY KEY, name text);\n\
                CREATE TABLE tags (id int);\nCREATE MATERIALIZED VIEW tag_ids AS SELECT id FROM tags;\n\
                CREATE INDEX tag_ids_id ON tag_ids (id);\n";
    /// What the case is, its migration, and the findings: (code, line).
    type Case = (&'static str, &'static str, &'static [(&'static str, usize)]);
    let cases: &[Case] = &[
        (
            "index",
            "CREATE INDEX users_email ON users (email);\n",
            &[("index-not-concurrent", 1), ("no-lock-timeout", 1)],
        ),
        (
            "index concurrently, in a file of its own",
            "-- migcheck: no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
            &[],
        ),
        ("drop index", "SET lock_timeout = '2s';\nDROP INDEX users_pkey_copy;\n", &[("index-not-concurrent", 2)]),
        ("drop index concurrently", "-- migcheck: no-transaction\nDROP INDEX CONCURRENTLY users_pkey_copy;\n", &[]),
        (
            "an index on a table of the same migration",
            "CREATE TABLE fresh (id int);\nCREATE INDEX fresh_id ON fresh (id);\nALTER TABLE fresh ADD COLUMN x int DEFAULT random();\n",
            &[],
        ),
        (
            "a type change rewrites",
            "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN age TYPE bigint;\n",
            &[("table-rewrite", 2)],
        ),
        (
            "a volatile default rewrites",
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();\n",
            &[("table-rewrite", 2)],
        ),
        (
            "a constant default, or an immutable function's, does not",
            "CREATE FUNCTION one() RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT 1';\nSET lock_timeout = '2s';\n\
             ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';\nALTER TABLE users ADD COLUMN level integer DEFAULT one();\n",
            &[],
        ),
        (
            "without lock_timeout, even a brief lock queues",
            "ALTER TABLE users ADD COLUMN plan text;\n",
            &[("no-lock-timeout", 1)],
        ),
        (
            "a foreign key added valid",
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN org_id integer;\n\
             ALTER TABLE users ADD CONSTRAINT users_org FOREIGN KEY (org_id) REFERENCES orgs (id);\n",
            &[("blocking-lock", 2), ("validating-constraint", 3)],
        ),
        (
            "NOT VALID, then VALIDATE",
            "SET lock_timeout = '2s';\nALTER TABLE users ADD CONSTRAINT age_positive CHECK (age >= 0) NOT VALID;\n\
             COMMIT;\nBEGIN;\nALTER TABLE users VALIDATE CONSTRAINT age_positive;\n",
            &[],
        ),
        (
            "a lock held through a backfill",
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN score integer;\nUPDATE users SET score = 1;\n",
            &[("blocking-lock", 2)],
        ),
        (
            "a brief lock held while SET NOT NULL scans",
            "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN email DROP NOT NULL;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
            &[("blocking-lock", 2)],
        ),
        (
            "SET NOT NULL scans under its lock",
            "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN flag SET NOT NULL;\n",
            &[("blocking-lock", 2)],
        ),
        (
            "a dropped column breaks the running release",
            "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN name;\n",
            &[("breaking-change", 2)],
        ),
        (
            "a narrowed type, and a NOT NULL column without a default",
            "SET lock_timeout = '2s';\nALTER TABLE orgs ALTER COLUMN name TYPE varchar(20);\nALTER TABLE orgs ADD COLUMN tier int NOT NULL DEFAULT 1;\n\
             ALTER TABLE orgs ALTER COLUMN tier DROP DEFAULT;\n",
            &[("table-rewrite", 2), ("breaking-change", 2), ("breaking-change", 3)],
        ),
        (
            "allowed in the file",
            "-- migcheck: allow index-not-concurrent, no-lock-timeout\nCREATE INDEX users_email ON users (email);\n",
            &[],
        ),
        // What a dropped table, materialized view or key takes with it is
        // not an index to drop concurrently.
        ("a dropped table's indexes", "SET lock_timeout = '2s';\nDROP TABLE users;\n", &[("breaking-change", 2)]),
        ("a dropped materialized view's indexes", "SET lock_timeout = '2s';\nDROP MATERIALIZED VIEW tag_ids;\n", &[]),
        (
            "a materialized view dropped and made again: its lock is the drop's",
            "SET lock_timeout = '2s';\nDROP MATERIALIZED VIEW tag_ids;\nCREATE MATERIALIZED VIEW tag_ids AS SELECT id FROM tags;\n",
            &[],
        ),
        ("a dropped primary key", "SET lock_timeout = '2s';\nALTER TABLE orgs DROP CONSTRAINT orgs_pkey;\n", &[]),
        // A type change rebuilds the table's indexes with it: a rewrite (two
        // of them here, each said), not an index to build concurrently.
        (
            "a type change rebuilds the indexes with the table",
            "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN id TYPE bigint;\nALTER TABLE users ALTER COLUMN age TYPE bigint;\n",
            &[("table-rewrite", 2), ("table-rewrite", 3)],
        ),
        // A rename is one finding, not also a NOT NULL column added.
        (
            "a renamed column",
            "SET lock_timeout = '2s';\nALTER TABLE users RENAME COLUMN email TO mail;\n",
            &[("breaking-change", 2)],
        ),
        // Every timestamp fits in a timestamptz (and in UTC nothing is rewritten).
        (
            "timestamp to timestamptz",
            "SET lock_timeout = '2s';\nSET timezone = 'UTC';\nALTER TABLE users ALTER COLUMN seen TYPE timestamptz;\n",
            &[],
        ),
    ];
    for (what, sql, expected) in cases {
        let p = Project::new();
        p.ok(&["init", "--dialect", "postgres"]);
        p.write("1_base.sql", base);
        p.write(
            "2_index.sql",
            "-- migcheck: no-transaction\nCREATE INDEX CONCURRENTLY users_pkey_copy ON users (id);\n\
             ALTER TABLE users ADD COLUMN flag boolean DEFAULT false;\n",
        );
        p.write("3_case.sql", sql);
        let mut check = p.command(&["check", "--format", "json"]);
        let run: Run = check.env("MIGCHECK_SCRATCH_URL", &scratch).output().unwrap().into();
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("{what}: {run:?}"));
        let found: Vec<(String, usize)> = json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] != "unsealed")
            .map(|d| (d["code"].as_str().unwrap().to_owned(), d["line"].as_u64().unwrap_or(0) as usize))
            .collect();
        let expected: Vec<(String, usize)> = expected.iter().map(|(c, l)| (c.to_string(), *l)).collect();
        assert_eq!(found, expected, "{what}: {run:?}");
        if let Some(d) = json["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "table-rewrite") {
            assert!(d["message"].as_str().unwrap().contains("(5 rows copied here)"), "{what}: {d}");
        }
        if let Some(d) = json["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "blocking-lock") {
            assert!(d["message"].as_str().unwrap().contains("ACCESS EXCLUSIVE lock on `users`"), "{what}: {d}");
        }
    }
}

/// `migcheck explain`: one row per statement, on SQLite and on PostgreSQL
/// (where the locks and rewrites are measured).
fn explain_shows_each_statement() {
    let p = Project::new();
    p.ok(&["init"]);
    p.write("1_owners.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n");
    p.write("2_more.sql", "ALTER TABLE owners ADD COLUMN nick TEXT;\nUPDATE owners SET nick = email;\n");
    let run = p.ok(&["explain", "2"]);
    assert!(run.stdout.contains("migration 2 `more` (migrations/2_more.sql)"), "{run:?}");
    assert!(run.stdout.contains("line  time"), "{run:?}");
    let update = run.stdout.lines().find(|l| l.contains("UPDATE owners SET nick = email;")).unwrap();
    assert!(update.starts_with("2 ") && update.contains(" 5 "), "five synthetic rows updated: {run:?}");
    p.write(
        "3_rebuild.sql",
        "CREATE TABLE owners_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, nick TEXT);\n\
         INSERT INTO owners_new SELECT * FROM owners;\nDROP TABLE owners;\nALTER TABLE owners_new RENAME TO owners;\n",
    );
    let run = p.ok(&["explain", "3"]);
    let rename = run.stdout.lines().find(|l| l.contains("RENAME TO owners")).unwrap();
    assert!(rename.contains("owners (rebuilt)"), "SQLite's table rebuild is named: {run:?}");
    let run = p.run(&["explain", "7"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("there is no migration 7"), "{run:?}");

    let Ok(scratch) = pg::server() else { return };
    let p = Project::new();
    p.ok(&["init", "--dialect", "postgres"]);
    p.write("1_users.sql", "CREATE TABLE users (id serial PRIMARY KEY, age integer);\n");
    p.write("2_type.sql", "SET lock_timeout = '2s';\nALTER TABLE users ALTER COLUMN age TYPE bigint;\n");
    let mut explain = p.command(&["explain", "2", "--format", "json"]);
    let run: Run = explain.env("MIGCHECK_SCRATCH_URL", &scratch).output().unwrap().into();
    assert_eq!(run.code, 0, "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let alter = &json["statements"][1];
    assert_eq!(alter["line"], 2, "{run:?}");
    assert_eq!(alter["locks"], serde_json::json!(["ACCESS EXCLUSIVE on users"]), "{run:?}");
    assert_eq!(alter["rewritten"][0], "users", "{run:?}");
    // Rows are rows written: an UPDATE that matches none shows 0, not its scan.
    p.write("3_rows.sql", "UPDATE users SET age = 1 WHERE age = -12345;\nINSERT INTO users (age) VALUES (1), (2);\n");
    let mut explain = p.command(&["explain", "3", "--format", "json"]);
    let run: Run = explain.env("MIGCHECK_SCRATCH_URL", &scratch).output().unwrap().into();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (&json["statements"][0]["rows"], &json["statements"][1]["rows"]),
        (&serde_json::json!(0), &serde_json::json!(2)),
        "{run:?}"
    );
}

/// sqlx and golang-migrate histories may start at version 0: it is a
/// migration like any other, and "no migration" is spelt `base`.
fn version_zero_is_a_migration_and_base_is_none() {
    let p = Project::new();
    p.ok(&["init"]);
    p.write("0_initial.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);\n");
    p.write("0_initial.down.sql", "DROP TABLE owners;\n");
    p.write("1_pets.up.sql", "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners);\n");
    p.write("1_pets.down.sql", "DROP TABLE pets;\n");
    p.ok(&["lock"]);
    p.ok(&["check"]);
    p.ok(&["upgrade", "--no-backup"]);
    assert_eq!(p.applied(), [0, 1]);
    let run = p.ok(&["downgrade", "--to", "0"]);
    assert!(run.stdout.contains("reverted 1 pets") && !run.stdout.contains("reverted 0"), "{run:?}");
    assert_eq!(p.ok(&["current"]).stdout, "0\n");
    let run = p.ok(&["downgrade", "--to", "base"]);
    assert!(run.stdout.contains("reverted 0 initial"), "{run:?}");
    assert_eq!(p.ok(&["current"]).stdout, "none\n");
    p.ok(&["stamp", "1"]);
    let run = p.ok(&["stamp", "base"]);
    assert!(run.stdout.contains("stamped at version none"), "{run:?}");
    let run = p.run(&["downgrade", "--to", "latest"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("a number, or `base` for no migration"), "{run:?}");
}

/// `check --format github|sarif|junit|markdown` on one history with a
/// warning and an error, against golden files
/// (`tests/fixtures/formats/`; `UPDATE_GOLDEN=1` rewrites them); SARIF
/// fingerprints stay when a line moves.
fn check_formats_match_their_golden_files() {
    let p = Project::new();
    p.ok(&["init"]);
    p.write("1_owners.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL, nick TEXT);\n");
    p.ok(&["lock"]);
    // One finding of each kind the SQLite checks give, then an error.
    p.write("2_contract.sql", "ALTER TABLE owners DROP COLUMN nick;\n");
    p.write(
        "3_pets.up.sql",
        "-- migcheck: allow data-loss\nCREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners, name TEXT);\n",
    );
    p.write("3_pets.down.sql", "DROP TABLE pets;\n");
    p.write(
        "4_name_required.sql",
        "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners, name TEXT NOT NULL);\n\
         INSERT INTO pets_new SELECT id, owner, name FROM pets;\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
    );
    p.write(
        "5_prune.sql",
        "CREATE TABLE pets_kept (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners, name TEXT NOT NULL);\n\
         INSERT INTO pets_kept SELECT id, owner, name FROM pets WHERE id < 1003;\nDROP TABLE pets;\n\
         ALTER TABLE pets_kept RENAME TO pets;\n",
    );
    p.write(
        "6_typo.sql",
        "CREATE TABLE toys (id INTEGER PRIMARY KEY);\nINSERT INTO toys (id) SELECT idd FROM owners;\n",
    );
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats");
    for (format, file) in [
        ("github", "check.github.txt"),
        ("sarif", "check.sarif"),
        ("junit", "check.junit.xml"),
        ("markdown", "check.md"),
    ] {
        let run = p.run(&["check", "--format", format]);
        assert_eq!(run.code, 1, "{format}: the typo fails the check: {run:?}");
        let path = golden.join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            fs::create_dir_all(&golden).unwrap();
            fs::write(&path, &run.stdout).unwrap();
        }
        let expected =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(run.stdout, expected, "{format} differs from {}", path.display());
    }
    // The README shows the Markdown summary: the same text.
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let shown = readme.split("```markdown\n").nth(1).and_then(|rest| rest.split("```\n").next()).unwrap_or_default();
    assert_eq!(
        shown,
        fs::read_to_string(golden.join("check.md")).unwrap(),
        "README's `In CI` sample differs from check.md"
    );
    validate_reports(&p);
    let sarif = |p: &Project| -> serde_json::Value {
        serde_json::from_str(&p.run(&["check", "--format", "sarif"]).stdout).unwrap()
    };
    let before = sarif(&p);
    p.write(
        "6_typo.sql",
        "-- a comment moves the lines\nCREATE TABLE toys (id INTEGER PRIMARY KEY);\nINSERT INTO toys (id) SELECT idd FROM owners;\n",
    );
    let after = sarif(&p);
    let result = |v: &serde_json::Value, code: &str| {
        v["runs"][0]["results"].as_array().unwrap().iter().find(|r| r["ruleId"] == code).unwrap().clone()
    };
    let (a, b) = (result(&before, "sql-error"), result(&after, "sql-error"));
    assert_ne!(a["locations"], b["locations"], "the line moved");
    assert_eq!(a["partialFingerprints"], b["partialFingerprints"], "the fingerprint did not");
    let run = p.run(&["history", "--format", "sarif"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("`--format sarif` is for `migcheck check`"), "{run:?}");
}

/// The SARIF log validated against the official SARIF 2.1.0 schema (ajv,
/// with the schema @microsoft/sarif-multitool ships), and the JUnit XML read
/// by junitparser as CI reporting tools read it: one test case per migration
/// and one for the directory, the typo's case failed with its code. The
/// validators come from the npm and PyPI registries: `.ci/run` installs them
/// into `target/validators` and sets `MIGCHECK_VALIDATORS`.
fn validate_reports(p: &Project) {
    let Some(validators) = validators("SARIF and JUnit validation") else { return };
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts");
    let sarif = p.path().join("check.sarif");
    fs::write(&sarif, p.run(&["check", "--format", "sarif"]).stdout).unwrap();
    let out = Command::new("node")
        .arg(scripts.join("validate-sarif.mjs"))
        .arg(validators.join("node_modules"))
        .arg(&sarif)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SARIF 2.1.0 schema: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let junit = p.path().join("check.xml");
    fs::write(&junit, p.run(&["check", "--format", "junit"]).stdout).unwrap();
    let out = Command::new(validators.join("python/bin/python"))
        .arg(scripts.join("read-junit.py"))
        .arg(&junit)
        .output()
        .unwrap();
    assert!(out.status.success(), "junitparser: {}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((read["tests"].as_u64(), read["failures"].as_u64()), (Some(7), Some(1)), "{read}");
    let cases = read["suites"][0]["cases"].as_array().unwrap();
    let results: Vec<(&str, &str)> =
        cases.iter().map(|c| (c["name"].as_str().unwrap(), c["result"].as_str().unwrap())).collect();
    assert_eq!(
        results,
        [
            ("migrations directory", "passed"),
            ("1 owners", "passed"),
            ("2 contract", "passed"),
            ("3 pets", "passed"),
            ("4 name_required", "passed"),
            ("5 prune", "passed"),
            ("6 typo", "failure")
        ],
        "{read}"
    );
    assert_eq!(cases[6]["type"], "sql-error", "{read}");
}

/// The `.pre-commit-hooks.yaml` of this repository, run by pre-commit itself
/// (`pre-commit try-repo`, from PyPI with the other validators) on a project
/// of the test's own: it passes on sound migrations and fails, showing the
/// error, on a broken one.
fn the_pre_commit_hook_runs_the_check() {
    let Some(validators) = validators("pre-commit") else { return };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    if !repo.join(".git").exists() {
        assert!(std::env::var_os("CI").is_none(), "CI runs from a git clone");
        eprintln!("skipped: {} is not a git repository, which pre-commit needs", repo.display());
        return;
    }
    let p = Project::new();
    let git = |args: &[&str]| p.git(args);
    p.git_init();
    p.ok(&["init"]);
    p.write("1_owners.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);\n");
    p.ok(&["lock"]);
    let bin = Path::new(env!("CARGO_BIN_EXE_migcheck")).parent().unwrap().to_path_buf();
    let path =
        std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())))
            .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let hook = || -> Run {
        git(&["add", "-A"]);
        Command::new(validators.join("python/bin/pre-commit"))
            .current_dir(p.path())
            .args(["try-repo", repo.to_str().unwrap(), "migcheck-check", "--all-files"])
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", cache.path())
            .env_remove("CI")
            .output()
            .unwrap()
            .into()
    };
    let run = hook();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("migcheck check") && run.stdout.contains("Passed"), "{run:?}");
    p.write("2_typo.sql", "SELECT nope FROM owners;\n");
    let run = hook();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("Failed") && run.stdout.contains("error[sql-error]"), "{run:?}");
}

/// The validators `.ci/run` installs (`MIGCHECK_VALIDATORS`); `None`, with
/// the reason printed, outside CI when they are not there (CI must have them).
fn validators(what: &str) -> Option<PathBuf> {
    let found = std::env::var_os("MIGCHECK_VALIDATORS").map(PathBuf::from);
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "MIGCHECK_VALIDATORS is not set: .ci/run installs the validators");
        eprintln!("skipped: {what} (set MIGCHECK_VALIDATORS, see .ci/run)");
    }
    found
}

/// Runs `scripts/validate-diagrams.mjs` on `text` when the validators are
/// installed (Mermaid's own parser, Graphviz as WebAssembly).
fn validate_diagram(kind: &str, text: &str) {
    let Some(validators) = validators(&format!("{kind} validation")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("diagram.{kind}"));
    fs::write(&file, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/validate-diagrams.mjs");
    let out =
        Command::new("node").arg(script).arg(validators.join("node_modules")).arg(kind).arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{kind}: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `migcheck schema` in each format and `migcheck show`, on the example
/// history (this repository's `migrations/`) and on the dbmate bookshop
/// fixture (views, triggers, indexes, a renamed column): equal to the golden
/// files (`UPDATE_GOLDEN=1` rewrites them), deterministic, the diagrams
/// accepted by Mermaid's and Graphviz's parsers.
fn schema_views_match_their_golden_files() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let example = Project::new();
    fs::create_dir(example.path().join("migrations")).unwrap();
    for entry in fs::read_dir(root.join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, example.path().join("migrations").join(path.file_name().unwrap())).unwrap();
    }
    let bookshop = Project::new();
    fs::create_dir(bookshop.path().join("migrations")).unwrap();
    for entry in fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layouts/dbmate")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, bookshop.path().join("migrations").join(path.file_name().unwrap())).unwrap();
    }
    let cases: [(&Project, &str, Vec<&str>); 11] = [
        (&example, "example.sql", vec!["schema"]),
        (&example, "example.mmd", vec!["--format", "mermaid", "schema"]),
        (&example, "example.dot", vec!["--format", "dot", "schema"]),
        (&example, "example.json", vec!["--format", "json", "schema"]),
        (&example, "example-show.txt", vec!["show", "20261124101500"]),
        (&example, "example-show.mmd", vec!["--format", "mermaid", "show", "20261124101500"]),
        (&bookshop, "bookshop.sql", vec!["schema"]),
        (&bookshop, "bookshop.mmd", vec!["--format", "mermaid", "schema"]),
        (&bookshop, "bookshop.dot", vec!["--format", "dot", "schema"]),
        (&bookshop, "bookshop.json", vec!["--format", "json", "schema"]),
        (&bookshop, "bookshop-show.txt", vec!["show", "20240115233802"]),
    ];
    for (project, file, args) in cases {
        let run = project.ok(&args);
        assert_eq!(project.ok(&args).stdout, run.stdout, "{file}: the same input gives the same bytes");
        let path = golden.join(file);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            fs::create_dir_all(&golden).unwrap();
            fs::write(&path, &run.stdout).unwrap();
        }
        let expected =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(run.stdout, expected, "{file} differs from {}", path.display());
        if file.ends_with(".mmd") {
            validate_diagram("mermaid", &run.stdout);
        } else if file.ends_with(".dot") {
            validate_diagram("dot", &run.stdout);
        }
    }
    // Names Mermaid cannot take as they are: quoted tables, attributes
    // written with `_` and named in full in their comment.
    let names = Project::new();
    fs::create_dir(names.path().join("migrations")).unwrap();
    names.write(
        "1_names.sql",
        "CREATE TABLE \"my table\" (\"first name\" TEXT NOT NULL, Größe INTEGER, \"1st\" TEXT, \"a\"\"b\" TEXT);\n\
         CREATE TABLE 日本語 (id INTEGER PRIMARY KEY, ref TEXT REFERENCES \"my table\"(\"first name\"));\n",
    );
    let diagram = names.ok(&["--format", "mermaid", "schema"]).stdout;
    for line in [
        "\"my table\" {",
        "TEXT first_name \"first name\"",
        "INTEGER Größe \"nullable\"",
        "TEXT _1st \"1st; nullable\"",
        "TEXT a_b \"a'b; nullable\"",
        "\"日本語\" }o--o| \"my table\" : \"ref\"",
    ] {
        assert!(diagram.contains(line), "{line}:\n{diagram}");
    }
    validate_diagram("mermaid", &diagram);
    validate_diagram("dot", &names.ok(&["--format", "dot", "schema"]).stdout);
    // The SQL makes the same schema again.
    let sql = example.ok(&["schema"]).stdout;
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&sql).unwrap();
    let again = migcheck_core::engine::sqlite::schema::model_of(&conn, &[]).unwrap();
    assert_eq!(again.sql(), sql);
    // At a version, and at `base`; a live database's, history table left out.
    let first = example.ok(&["--format", "mermaid", "schema", "--at", "20261124093000"]).stdout;
    assert!(first.contains("owners {") && !first.contains("pets {"), "{first}");
    assert_eq!(example.ok(&["schema", "--at", "base"]).stdout, "");
    example.ok(&["--database-url", "sqlite:dev.db", "upgrade"]);
    assert_eq!(example.ok(&["--database-url", "sqlite:dev.db", "schema"]).stdout, sql);
    let run = example.run(&["--format", "sarif", "schema"]);
    assert!(run.stderr.contains("`--format sarif` is not a schema format: sql, mermaid, dot or json"), "{run:?}");
    let run = example.run(&["--format", "dot", "history"]);
    assert!(run.stderr.contains("is for `migcheck schema`"), "{run:?}");
}

/// `check --base <ref>` in a git repository: the branch's migrations listed,
/// findings only for them, and a base that sealed what the branch's lock
/// does not know refused early.
fn check_against_a_base_branch() {
    let p = Project::new();
    let git = |args: &[&str]| p.git(args);
    p.git_init();
    p.ok(&["init"]);
    p.write("1_owners.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL, nick TEXT);\n");
    p.write("2_drop.sql", "ALTER TABLE owners DROP COLUMN nick;\n");
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    git(&["checkout", "-qb", "feature"]);
    p.write("3_more.sql", "ALTER TABLE owners DROP COLUMN email;\n");
    let run = p.ok(&["check", "--base", "main"]);
    assert!(run.stdout.contains("compared with `main`: this branch adds or changes migration 3"), "{run:?}");
    assert!(run.stderr.contains("`3_more.sql` drops or renames column `owners.email`"), "{run:?}");
    assert!(!run.stderr.contains("`2_drop.sql` drops"), "the base's finding is not the branch's: {run:?}");
    let run = p.ok(&["check", "--base", "main", "--all"]);
    assert!(run.stderr.contains("`2_drop.sql` drops"), "{run:?}");

    // Committed on the branch, it is still the branch's.
    git(&["add", "-A"]);
    git(&["commit", "-qm", "more"]);
    let run = p.ok(&["check", "--base", "main"]);
    assert!(run.stdout.contains("this branch adds or changes migration 3"), "{run:?}");

    // The base seals migrations this branch's lock does not know.
    git(&["checkout", "-q", "main"]);
    p.ok(&["lock"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "seal"]);
    git(&["checkout", "-q", "feature"]);
    let run = p.run(&["check", "--base", "main"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("`main` sealed migrations 1, 2 that this branch's lock does not know"), "{run:?}");
    assert!(run.stderr.contains("`migcheck rebase`"), "{run:?}");
    let run = p.run(&["check", "--base", "nope"]);
    assert!(run.stderr.contains("`nope` is not a commit in this repository"), "{run:?}");
    // Every CI format says it too: a document holding the error, exit 1.
    for base in ["main", "nope"] {
        for format in ["json", "github", "sarif", "junit", "markdown"] {
            let run = p.run(&["--format", format, "check", "--base", base]);
            assert_eq!(run.code, 1, "{format}: {run:?}");
            let said = if base == "main" { "lock does not know" } else { "is not a commit" };
            assert!(run.stdout.contains(said), "{format} {base}: {run:?}");
            match format {
                "json" | "sarif" => {
                    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect(format);
                    assert!(doc.is_object(), "{format}: {doc}");
                }
                "github" => assert!(run.stdout.contains("::error"), "{run:?}"),
                "junit" => assert!(run.stdout.contains("<testsuites") && run.stdout.contains("<failure"), "{run:?}"),
                _ => {}
            }
        }
    }
}

/// `check --base` with the base release's statements known (its `sql!` and
/// `sqlx::query!` call sites, read from git): a migration that breaks one
/// is reported with the statement's file and line and the error it gets; a
/// rename no statement uses is not. `migcheck queries` lists the working
/// tree's, as text and JSON.
fn check_against_a_base_runs_its_statements_on_the_new_schema() {
    let p = Project::new();
    let git = |args: &[&str]| p.git(args);
    p.git_init();
    p.ok(&["init"]);
    p.write("1_pets.sql", "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, nick TEXT, owner_id INTEGER);\n");
    fs::create_dir(p.path().join("src")).unwrap();
    let db_rs = r##"// sqlx::query!("SELECT nick FROM pets") in a comment is not a statement.
pub async fn names(pool: &sqlx::SqlitePool, owner: i64) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query!(
        r#"SELECT name AS "name!" FROM pets WHERE owner_id = ?"#,
        owner
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

pub const BY_OWNER: &str = migcheck::sql!("SELECT id FROM pets WHERE owner_id = ?1", 1);
"##;
    fs::write(p.path().join("src/db.rs"), db_rs).unwrap();
    // Not the crate's: a build's output.
    fs::create_dir_all(p.path().join("target/debug")).unwrap();
    fs::write(p.path().join("target/debug/copy.rs"), db_rs).unwrap();
    let listed = p.ok(&["queries"]);
    assert_eq!(
        listed.stdout.lines().take(2).collect::<Vec<_>>(),
        [
            r#"src/db.rs:4:9  sqlx::query!  SELECT name AS "name!" FROM pets WHERE owner_id = ?"#,
            "src/db.rs:12:43  migcheck::sql!  SELECT id FROM pets WHERE owner_id = ?1",
        ],
        "{listed:?}"
    );
    assert!(listed.stdout.contains("2 statements in `"), "{listed:?}");
    let json: serde_json::Value = serde_json::from_str(&p.ok(&["--format", "json", "queries"]).stdout).unwrap();
    assert_eq!(json["statements"][1]["macro"], "migcheck::sql!");
    assert_eq!(json["statements"][1]["checked_by"], "migcheck");
    assert_eq!(json["statements"][0]["sql"], r#"SELECT name AS "name!" FROM pets WHERE owner_id = ?"#);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);

    // The branch drops `name`, which the base's query reads, and renames
    // `nick`, which nothing reads; its own code stops reading `name`.
    git(&["checkout", "-qb", "contract"]);
    p.write("2_contract.sql", "ALTER TABLE pets DROP COLUMN name;\nALTER TABLE pets RENAME COLUMN nick TO alias;\n");
    fs::write(
        p.path().join("src/db.rs"),
        "pub const IDS: &str = migcheck::sql!(\"SELECT id FROM pets\");\n\
         pub const ALIASES: &str = migcheck::sql!(\"SELECT alias FROM pets\");\n",
    )
    .unwrap();
    let run = p.ok(&["check", "--base", "main"]);
    // The new code reads what only the branch's migration makes: a note.
    assert!(
        run.stderr.contains(
            "note[deploy-order]: 1 statement of this branch's code fails on the schema before its migrations, the first (`src/db.rs:2`): no such column: alias"
        ),
        "{run:?}"
    );
    assert!(run.stdout.contains("`main`'s code has 2 statements (sql!, sqlx::query!)"), "{run:?}");
    assert!(
        run.stderr.contains(
            "warning[breaking-change]: `2_contract.sql` breaks a statement of the running release (`src/db.rs:4`): no such column: name"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("migrations/2_contract.sql:1:30"), "at the dropped column: {run:?}");
    assert!(
        run.stderr.contains(r#"`src/db.rs:4:9` (query!) `SELECT name AS "name!" FROM pets WHERE owner_id = ?` fails"#),
        "{run:?}"
    );
    assert!(!run.stderr.contains("nick"), "no statement reads `nick`: {run:?}");
    assert_eq!(run.stderr.matches("warning[breaking-change]").count(), 1, "{run:?}");
    let json: serde_json::Value =
        serde_json::from_str(&p.ok(&["--format", "json", "check", "--base", "main"]).stdout).unwrap();
    assert_eq!(json["running_statements"], 2, "{json}");

    // Without a base, or a base without statements, the columns decide.
    let run = p.ok(&["check"]);
    assert!(run.stderr.contains("drops or renames column `pets.name`,"), "{run:?}");
    assert!(run.stderr.contains("renames column `pets.nick` to `alias`,"), "the file's RENAME pairs them: {run:?}");
}

/// The same proof on PostgreSQL: the base's statements described by the
/// scratch server before and after the branch's migration.
fn check_against_a_base_runs_its_statements_on_postgres() {
    let Ok(scratch) = pg::server() else {
        eprintln!("SKIPPED: no PostgreSQL server");
        return;
    };
    let p = Project::new();
    let git = |args: &[&str]| p.git(args);
    p.git_init();
    p.ok(&["init", "--dialect", "postgres"]);
    p.write("1_pets.sql", "CREATE TABLE pets (id bigserial PRIMARY KEY, name text, nick text, owner_id bigint);\n");
    fs::create_dir(p.path().join("src")).unwrap();
    fs::write(
        p.path().join("src/db.rs"),
        "const NAMES: &str = migcheck::sql!(\"SELECT name FROM pets WHERE owner_id = $1\", 1);\n\
         const IDS: &str = migcheck::sql!(\"SELECT id FROM pets\");\n",
    )
    .unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "base"]);
    git(&["checkout", "-qb", "contract"]);
    p.write(
        "2_contract.sql",
        "SET lock_timeout = '2s';\nALTER TABLE pets DROP COLUMN name;\nALTER TABLE pets RENAME COLUMN nick TO alias;\n",
    );
    let mut check = p.command(&["check", "--base", "main"]);
    let run: Run = check.env("MIGCHECK_SCRATCH_URL", &scratch).output().unwrap().into();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(
            "warning[breaking-change]: `2_contract.sql` breaks a statement of the running release (`src/db.rs:1`): column \"name\" does not exist"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("migrations/2_contract.sql:2:30"), "{run:?}");
    assert_eq!(run.stderr.matches("warning[breaking-change]").count(), 1, "the rename no statement uses: {run:?}");
}

/// `check --base` where teams meet trouble: two branches that each sealed a
/// migration of their own, one merged first; a branch that edits a sealed
/// migration; a base from before migcheck, with no lock.
fn check_against_a_base_branch_after_merges_edits_and_without_a_lock() {
    let p = Project::new();
    let git = |args: &[&str]| p.git(args);
    p.git_init();
    // A base with migrations and no lock (before migcheck was adopted).
    fs::create_dir(p.path().join("migrations")).unwrap();
    p.write("1_owners.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n");
    git(&["add", "-A"]);
    git(&["commit", "-qm", "before migcheck"]);
    git(&["checkout", "-qb", "adopt"]);
    p.ok(&["lock"]);
    p.write("2_pets.sql", "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners);\n");
    let run = p.ok(&["check", "--base", "main"]);
    assert!(run.stdout.contains("compared with `main`: this branch adds or changes migration 2"), "{run:?}");
    assert!(!run.stdout.contains("migration 1,") && !run.stdout.contains("migrations 1"), "{run:?}");
    p.ok(&["lock"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "adopt migcheck"]);
    git(&["checkout", "-q", "main"]);
    git(&["merge", "-q", "--ff-only", "adopt"]);

    // Two branches from here, each sealing a migration of its own.
    git(&["checkout", "-qb", "toys"]);
    p.write("3_toys.sql", "CREATE TABLE toys (pet INTEGER REFERENCES pets);\n");
    p.ok(&["lock"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "toys"]);
    git(&["checkout", "-q", "main"]);
    git(&["checkout", "-qb", "vets"]);
    p.write("3_vets.sql", "CREATE TABLE vets (id INTEGER PRIMARY KEY);\n");
    p.ok(&["lock"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "vets"]);
    let run = p.ok(&["check", "--base", "main"]);
    assert!(run.stdout.contains("this branch adds or changes migration 3"), "{run:?}");
    // `toys` is merged first: `vets` now conflicts with main's lock, which
    // `check --base` says before git reports a conflict.
    git(&["checkout", "-q", "main"]);
    git(&["merge", "-q", "--no-ff", "-m", "merge toys", "toys"]);
    git(&["checkout", "-q", "vets"]);
    let run = p.run(&["check", "--base", "main"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("`main` sealed migration 3 that this branch's lock does not know"), "{run:?}");
    assert!(run.stderr.contains("`migcheck rebase`"), "{run:?}");

    // A branch that edits a sealed migration: listed, and refused.
    git(&["checkout", "-q", "main"]);
    git(&["checkout", "-qb", "edit"]);
    p.write("1_owners.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT);\n");
    let run = p.run(&["check", "--base", "main"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("this branch adds or changes migration 1"), "{run:?}");
    assert!(run.stderr.contains("sealed-edited"), "{run:?}");
}

/// A file that runs outside a transaction and fails part-way: the statements
/// before the failing one stay, the history marks it interrupted (`status`,
/// `history` and the error say how far it got), a downgrade waits for it, and
/// the next `upgrade` resumes at the failing statement without running the
/// first again; a file edited before that point is refused until `stamp`.
fn a_no_transaction_file_cut_part_way_resumes_where_it_stopped() {
    let p = Project::with_migrations();
    p.ok(&["upgrade"]);
    let duplicate = || {
        let conn = Connection::open(p.db()).unwrap();
        conn.execute("INSERT INTO owners (email) VALUES ('ada@example.com')", []).unwrap();
    };
    duplicate();
    // `audit` has no IF NOT EXISTS: run twice, the file would fail on it.
    p.write(
        "0004_unique_emails.sql",
        "-- migcheck: no-transaction\nCREATE TABLE audit (id INTEGER PRIMARY KEY);\n\
         CREATE UNIQUE INDEX owners_email ON owners (email);\nCREATE TABLE after_index (x);\n",
    );
    let run = p.run(&["upgrade", "--no-backup"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("migration 4 `unique_emails` failed at migrations/0004_unique_emails.sql:3:1"),
        "{run:?}"
    );
    assert!(run.stderr.contains("the 1 statement before this one ran and stays"), "{run:?}");
    assert!(run.stderr.contains("resumes there"), "{run:?}");

    let status = p.run(&["status"]);
    assert_eq!(status.code, 3, "{status:?}");
    assert!(status.stdout.contains("current:   3") && status.stdout.contains("pending:   4"), "{status:?}");
    assert!(
        status.stdout.contains("interrupted: 4 `unique_emails`: its up file stopped part-way")
            && status.stdout.contains("1 statement ran and stays")
            && status.stdout.contains("`migcheck upgrade` resumes it at migrations/0004_unique_emails.sql:3"),
        "{status:?}"
    );
    let json = p.run(&["--format", "json", "status"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["interrupted"]["statements_run"], 1, "{json:?}");
    assert_eq!(value["interrupted"]["direction"], "up", "{json:?}");
    assert!(p.ok(&["history"]).stdout.contains("4  unique_emails  interrupted"));
    let current = p.ok(&["current"]);
    assert!(current.stdout.starts_with('3'), "{current:?}");

    let down = p.run(&["downgrade"]);
    assert_ne!(down.code, 0, "{down:?}");
    assert!(down.stderr.contains("finish the upgrade first"), "{down:?}");
    assert!(p.tables().contains(&"audit".to_owned()), "the statement that ran stays");

    // The cause fixed, the same command goes on from the failing statement.
    Connection::open(p.db()).unwrap().execute("DELETE FROM owners WHERE id > 1", []).unwrap();
    let run = p.ok(&["upgrade", "--no-backup"]);
    assert!(run.stdout.contains("unique_emails"), "{run:?}");
    assert_eq!(p.applied(), [1, 2, 3, 4]);
    assert!(p.tables().contains(&"after_index".to_owned()));
    assert_eq!(p.ok(&["status"]).code, 0);

    // Cut again, then the file edited before where it stopped: refused, and
    // `stamp` (after repairing by hand) clears the mark.
    Connection::open(p.db()).unwrap().execute_batch("INSERT INTO pets (owner_id) VALUES (1), (1);").unwrap();
    p.write(
        "0005_unique_again.sql",
        "-- migcheck: no-transaction\nCREATE TABLE audit2 (id INTEGER PRIMARY KEY);\n\
         CREATE UNIQUE INDEX pets_owner ON pets (owner_id);\n",
    );
    assert_eq!(p.run(&["upgrade", "--no-backup"]).code, 1);
    p.write(
        "0005_unique_again.sql",
        "-- migcheck: no-transaction\nCREATE TABLE audit3 (id INTEGER PRIMARY KEY);\n\
         CREATE UNIQUE INDEX pets_owner ON pets (owner_id);\n",
    );
    let run = p.run(&["upgrade", "--no-backup"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("migration 5 `unique_again` was interrupted part-way through its up file")
            && run.stderr.contains("has changed since")
            && run.stderr.contains("migcheck stamp"),
        "{run:?}"
    );
    Connection::open(p.db()).unwrap().execute_batch("DROP TABLE audit2; DELETE FROM pets;").unwrap();
    p.ok(&["stamp", "4"]);
    assert_eq!(p.run(&["status"]).code, 3, "5 is pending, no longer interrupted");
    p.ok(&["upgrade", "--no-backup"]);
    assert_eq!(p.applied(), [1, 2, 3, 4, 5]);
    assert!(p.tables().contains(&"audit3".to_owned()));
}

/// SIGTERM during a PostgreSQL check drops its scratch database; one a
/// process left that is gone (SIGKILL) the next run drops.
fn a_terminated_postgres_check_leaves_no_scratch_database() {
    use migcheck_core::engine::postgres::wire::{Client, PgUrl};
    let scratch = pg::server().unwrap();
    let admin = PgUrl::parse(&scratch).unwrap();
    let databases = |pid: u32| -> Vec<String> {
        Client::connect(&admin)
            .unwrap()
            .query(&format!("SELECT datname FROM pg_database WHERE datname LIKE 'migcheck\\_scratch\\_{pid}\\_%'"))
            .unwrap()
            .into_iter()
            .filter_map(|mut r| r.remove(0))
            .collect()
    };
    // A process id no process has (above the kernel's limit).
    let dead = 4_999_999;
    let left = format!("migcheck_scratch_{dead}_{}_0", std::process::id());
    Client::connect(&admin).unwrap().query(&format!("CREATE DATABASE {left}")).unwrap();
    let p = Project::new();
    p.ok(&["init", "--dialect", "postgres"]);
    p.write("1_slow.sql", "CREATE TABLE t (id int);\nSELECT pg_sleep(60);\n");
    let mut child = p.command(&["check"]).env("MIGCHECK_SCRATCH_URL", &scratch).spawn().unwrap();
    let pid = child.id();
    let started = std::time::Instant::now();
    while databases(pid).is_empty() {
        assert!(started.elapsed().as_secs() < 30, "no scratch database appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!databases(dead).contains(&left), "the dead process's scratch database was dropped");
    // SAFETY: signalling our own child, whose pid we hold.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    assert!(databases(pid).is_empty(), "SIGTERM left {:?}", databases(pid));
}

/// One test each; the PostgreSQL ones are ignored when there is no server
/// (the binary's `main` says why).
pub fn trials() -> Vec<libtest_mimic::Trial> {
    let tests: [(&str, fn(), bool); 31] = [
        ("the_check_runs_on_a_mysql_scratch_server", the_check_runs_on_a_mysql_scratch_server, false),
        ("every_database_command_works_on_mysql", every_database_command_works_on_mysql, false),
        (
            "check_against_a_base_runs_its_statements_on_postgres",
            check_against_a_base_runs_its_statements_on_postgres,
            true,
        ),
        (
            "check_against_a_base_runs_its_statements_on_the_new_schema",
            check_against_a_base_runs_its_statements_on_the_new_schema,
            false,
        ),
        (
            "a_terminated_postgres_check_leaves_no_scratch_database",
            a_terminated_postgres_check_leaves_no_scratch_database,
            true,
        ),
        (
            "a_no_transaction_file_cut_part_way_resumes_where_it_stopped",
            a_no_transaction_file_cut_part_way_resumes_where_it_stopped,
            false,
        ),
        ("check_against_a_base_branch", check_against_a_base_branch, false),
        ("schema_views_match_their_golden_files", schema_views_match_their_golden_files, false),
        ("the_pre_commit_hook_runs_the_check", the_pre_commit_hook_runs_the_check, false),
        (
            "check_against_a_base_branch_after_merges_edits_and_without_a_lock",
            check_against_a_base_branch_after_merges_edits_and_without_a_lock,
            false,
        ),
        ("check_formats_match_their_golden_files", check_formats_match_their_golden_files, false),
        ("version_zero_is_a_migration_and_base_is_none", version_zero_is_a_migration_and_base_is_none, false),
        ("explain_shows_each_statement", explain_shows_each_statement, false),
        ("postgres_hazards_are_measured", postgres_hazards_are_measured, true),
        (
            "diff_rebuilds_keep_every_row_and_check_reports_data_findings",
            diff_rebuilds_keep_every_row_and_check_reports_data_findings,
            false,
        ),
        ("init_creates_and_never_overwrites", init_creates_and_never_overwrites, false),
        ("new_picks_the_next_version", new_picks_the_next_version, false),
        ("upgrade_current_history_status_downgrade_stamp", upgrade_current_history_status_downgrade_stamp, false),
        ("database_errors_are_clear", database_errors_are_clear, false),
        (
            "a_database_from_a_newer_binary_or_edited_migrations_exit_4",
            a_database_from_a_newer_binary_or_edited_migrations_exit_4,
            false,
        ),
        ("check_lock_and_rebase", check_lock_and_rebase, false),
        ("rebase_renumbers_after_the_newest_sealed", rebase_renumbers_after_the_newest_sealed, false),
        ("rebase_renumbers_a_duplicate_of_a_sealed_version", rebase_renumbers_a_duplicate_of_a_sealed_version, false),
        ("a_failing_migration_leaves_the_previous_version", a_failing_migration_leaves_the_previous_version, false),
        ("concurrent_upgrades_apply_each_migration_once", concurrent_upgrades_apply_each_migration_once, false),
        (
            "sigkill_during_a_long_upgrade_leaves_a_consistent_database",
            sigkill_during_a_long_upgrade_leaves_a_consistent_database,
            false,
        ),
        (
            "diff_generates_renames_on_request_and_writes_nothing_when_nothing_changed",
            diff_generates_renames_on_request_and_writes_nothing_when_nothing_changed,
            false,
        ),
        ("check_with_a_database_finds_changes_made_by_hand", check_with_a_database_finds_changes_made_by_hand, false),
        ("every_database_command_works_on_postgres", every_database_command_works_on_postgres, true),
        ("import_adopts_databases_other_tools_migrated", import_adopts_databases_other_tools_migrated, false),
        (
            "every_command_accepts_the_same_tls_and_socket_urls",
            every_command_accepts_the_same_tls_and_socket_urls,
            true,
        ),
    ];
    tests
        .into_iter()
        .map(|(name, test, needs_server)| {
            // The hook runs through pre-commit, one of the validators `.ci/run` installs.
            let needs: &[&str] =
                if name == "the_pre_commit_hook_runs_the_check" { &["MIGCHECK_VALIDATORS"] } else { &[] };
            let trial = crate::test_needing(module_path!(), name, test, needs_server, needs);
            // The MariaDB test needs its own server.
            if name.ends_with("_on_mysql") || name.contains("mysql_scratch") {
                trial.with_ignored_flag(migcheck_test_support::mysql::server().is_err())
            } else {
                trial
            }
        })
        .collect()
}
