//! End to end: `cargo build` of a small crate whose `build.rs` runs
//! `migcheck_build::Build`, for good migrations and for every failure class.
//!
//! One fixture crate is built many times with different migrations: its build
//! script compiles once and then only re-runs, which keeps this fast on two
//! cores. Each case is its own test (`cargo test --test it -- checks::`
//! lists them by name) and asserts what the user sees: success or failure, the
//! error code, the file and line, and the advice.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use libtest_mimic::{Failed, Trial};

use crate::util::{Fixture, take_turn};

const OWNERS_UP: &str = "CREATE TABLE owners (\n    id INTEGER PRIMARY KEY,\n    email TEXT NOT NULL\n);\n";
const OWNERS_DOWN: &str = "DROP TABLE owners;\n";
const PETS_UP: &str = "CREATE TABLE pets (\n    id INTEGER PRIMARY KEY,\n    name TEXT,\n    owner_id INTEGER REFERENCES owners(id)\n);\n";
const PETS_DOWN: &str = "DROP TABLE pets;\n";

fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("1_create_owners.up.sql", OWNERS_UP),
        ("1_create_owners.down.sql", OWNERS_DOWN),
        ("2_add_pets.up.sql", PETS_UP),
        ("2_add_pets.down.sql", PETS_DOWN),
    ]
}

fn seal(dir: &Path) {
    migcheck_build::lock(dir).unwrap_or_else(|e| panic!("sealing failed:\n{e}"));
}

struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    /// Runs after the files are written (sealing, edits).
    setup: Box<dyn Fn(&Path) + Send + Sync>,
    env: Vec<(&'static str, &'static str)>,
    succeeds: bool,
    /// Substrings the build script's messages must contain.
    expect: Vec<&'static str>,
    /// Substrings they must not contain.
    reject: Vec<&'static str>,
}

fn case(name: &'static str, files: Vec<(&'static str, &str)>) -> Case {
    Case {
        name,
        files: files.into_iter().map(|(n, t)| (n, t.to_owned())).collect(),
        setup: Box::new(|_| {}),
        env: Vec::new(),
        succeeds: false,
        expect: Vec::new(),
        reject: Vec::new(),
    }
}

impl Case {
    fn setup(mut self, f: impl Fn(&Path) + Send + Sync + 'static) -> Self {
        self.setup = Box::new(f);
        self
    }
    fn env(mut self, k: &'static str, v: &'static str) -> Self {
        self.env.push((k, v));
        self
    }
    fn passes(mut self) -> Self {
        self.succeeds = true;
        self
    }
    fn expect(mut self, s: &'static str) -> Self {
        self.expect.push(s);
        self
    }
    fn reject(mut self, s: &'static str) -> Self {
        self.reject.push(s);
        self
    }
}

/// Seals the first `n` migrations of `dir` only (the later ones would not seal).
fn seal_first(dir: &Path, n: usize) {
    let later: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.split('_').next().and_then(|v| v.parse::<usize>().ok()).is_some_and(|v| v > n)
        })
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    for (path, _) in &later {
        fs::remove_file(path).unwrap();
    }
    seal(dir);
    for (path, bytes) in later {
        fs::write(path, bytes).unwrap();
    }
}

/// Adds a settings line to the lock file of `dir` (outside the chain).
fn lock_setting(dir: &Path, line: &str) {
    let path = dir.join("migrations.lock");
    let lock = fs::read_to_string(&path).unwrap();
    fs::write(&path, lock.replacen("migcheck-lock 1\n", &format!("migcheck-lock 1\n{line}\n"), 1)).unwrap();
}

/// Writes `fixtures/<name>` beside the migrations directory `dir`.
fn fixture_file(dir: &Path, name: &str, text: &str) {
    let fixtures = dir.parent().unwrap().join("fixtures");
    fs::create_dir_all(&fixtures).unwrap();
    fs::write(fixtures.join(name), text).unwrap();
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut files = good();
    files.extend_from_slice(extra);
    files
}

/// Where a migration that escaped the sandbox would write: it must stay absent.
fn escape_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap().keep())
}

/// The fixture every check case builds in turn: one crate, so that each
/// build recompiles only it.
static CHECKS: Mutex<Option<Fixture>> = Mutex::new(None);

/// One test per case of `cargo build` checking migrations.
pub fn trials() -> Vec<Trial> {
    let mut trials: Vec<Trial> = check_cases()
        .into_iter()
        .map(|case| Trial::test(format!("build_script::checks::{}", case.name), move || run_case(&case)))
        .collect();
    trials.push(Trial::test(
        "build_script::the_built_program_applies_the_embedded_migrations_and_unchanged_builds_skip_the_check",
        || {
            the_built_program_applies_the_embedded_migrations_and_unchanged_builds_skip_the_check();
            Ok(())
        },
    ));
    trials.push(Trial::test(
        "build_script::an_accepted_down_mismatch_builds_in_locked_mode_until_what_is_found_changes",
        || {
            an_accepted_down_mismatch_builds_in_locked_mode_until_what_is_found_changes();
            Ok(())
        },
    ));
    trials.push(Trial::test("build_script::a_squashed_history_builds_and_an_edited_baseline_fails_the_build", || {
        a_squashed_history_builds_and_an_edited_baseline_fails_the_build();
        Ok(())
    }));
    trials.push(Trial::test("build_script::editing_a_fixture_reruns_the_check", || {
        editing_a_fixture_reruns_the_check();
        Ok(())
    }));
    trials.push(
        Trial::test("build_script::cargo_build_checks_postgres_migrations_on_a_scratch_server", || {
            cargo_build_checks_postgres_migrations_on_a_scratch_server();
            Ok(())
        })
        .with_ignored_flag(crate::pg::server().is_err()),
    );
    trials.push(
        Trial::test("build_script::cargo_build_checks_mysql_migrations_on_a_scratch_server", || {
            cargo_build_checks_mysql_migrations_on_a_scratch_server();
            Ok(())
        })
        .with_ignored_flag(migcheck_test_support::mysql::server().is_err()),
    );
    trials
}

/// Deletes the shared fixture and the escape directory (after every test ran).
pub fn cleanup() {
    let _ = CHECKS.lock().map(|mut f| f.take());
    let _ = fs::remove_dir_all(escape_dir());
}

fn run_case(case: &Case) -> Result<(), Failed> {
    let _turn = take_turn();
    let mut guard = CHECKS.lock().unwrap_or_else(|p| p.into_inner());
    let fixture = guard.get_or_insert_with(|| {
        Fixture::shared("fixture_checks", r#"migcheck_build::Build::new().function("normalize", 1).run();"#)
    });
    let files: Vec<(&str, &str)> = case.files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    if !fixture.migrations().exists() {
        fs::create_dir(fixture.migrations()).unwrap();
    }
    fixture.set_migrations(&files);
    let _ = fs::remove_file(fixture.path().join("schema.sql"));
    let _ = fs::remove_dir_all(fixture.path().join("fixtures"));
    let _ = fs::remove_file(fixture.path().join("prelude.sql"));
    (case.setup)(&fixture.migrations());
    let result = fixture.build(&case.env);
    let messages = result.messages();
    let mut problems = Vec::new();
    if result.success != case.succeeds {
        problems.push(format!("expected the build to {}", if case.succeeds { "pass" } else { "fail" }));
    }
    for expected in &case.expect {
        if !messages.contains(expected) {
            problems.push(format!("missing `{expected}`"));
        }
    }
    for unexpected in &case.reject {
        if messages.contains(unexpected) {
            problems.push(format!("unexpected `{unexpected}`"));
        }
    }
    let escape = escape_dir().join("escape.db");
    if escape.exists() {
        problems.push(format!("the sandbox let a migration create {}", escape.display()));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n--- stderr ---\n{}", problems.join("; "), result.stderr).into())
    }
}

/// The cases: files, setup, environment, and what the build must say.
fn check_cases() -> Vec<Case> {
    let escape_dir = escape_dir();
    let escape = escape_dir.join("escape.db");
    let attach: &'static str =
        Box::leak(format!("ATTACH DATABASE '{}' AS other;\n", escape.display()).into_boxed_str());
    let attach_uri: &'static str =
        Box::leak(format!("ATTACH DATABASE 'file:{}?mode=rwc' AS other;\n", escape.display()).into_boxed_str());
    let temp_dir: &'static str =
        Box::leak(format!("PRAGMA temp_store_directory = '{}';\n", escape_dir.display()).into_boxed_str());
    let vacuum_into: &'static str =
        Box::leak(format!("-- migcheck: no-transaction\nVACUUM INTO '{}';\n", escape.display()).into_boxed_str());

    let cases = vec![
        case("good, sealed", good()).setup(seal).passes().reject("warning"),
        case(
            "a unique index over values rows already repeat is data-dependent",
            with(&[
                ("3_active.sql", "ALTER TABLE owners ADD COLUMN active BOOLEAN NOT NULL DEFAULT 1;\n"),
                ("4_one_active.sql", "CREATE UNIQUE INDEX owners_active ON owners (active);\n"),
            ]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .expect("warning[data-dependent]: `4_one_active.sql` fails when its tables hold rows: UNIQUE constraint failed: owners.active")
        .expect("--> migrations/4_one_active.sql:1:46")
        .expect("a row that makes it fail: `owners` (id = 1001, email = ")
        .expect("-- migcheck: allow data-dependent"),
        case(
            "a NOT NULL rebuild over NULLs is data-dependent, and shows the row",
            with(&[(
                "3_name_required.sql",
                "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, owner_id INTEGER REFERENCES owners(id));\n\
                 INSERT INTO pets_new SELECT id, name, owner_id FROM pets;\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
            )]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .expect("warning[data-dependent]: `3_name_required.sql` fails when its tables hold rows: NOT NULL constraint failed: pets_new.name")
        .expect("--> migrations/3_name_required.sql:2:")
        .expect("a row that makes it fail: `pets` (id = 1003, name = NULL, owner_id = NULL)"),
        case(
            "a table rebuild is a note: the build passes and says what it copied",
            with(&[(
                "3_name_default.sql",
                "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', owner_id INTEGER REFERENCES owners(id));\n\
                 INSERT INTO pets_new SELECT id, coalesce(name, ''), owner_id FROM pets;\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
            )]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .expect("note[table-rebuild]: `3_name_default.sql` rebuilds table `pets`: a new table, its rows copied (")
        .expect("--> migrations/3_name_default.sql:4:32")
        .reject("warning[data-")
        .reject("warning[breaking-change]"),
        case(
            "findings of sealed migrations are not reported: they are released",
            with(&[
                ("3_active.sql", "ALTER TABLE owners ADD COLUMN active BOOLEAN NOT NULL DEFAULT 1;\n"),
                ("4_one_active.sql", "CREATE UNIQUE INDEX owners_active ON owners (active);\n"),
            ]),
        )
        .setup(seal)
        .passes()
        .reject("warning"),
        case(
            "data-dependent is allowed by its directive",
            with(&[
                ("3_active.sql", "ALTER TABLE owners ADD COLUMN active BOOLEAN NOT NULL DEFAULT 1;\n"),
                (
                    "4_one_active.sql",
                    "-- migcheck: allow data-dependent\nCREATE UNIQUE INDEX owners_active ON owners (active);\n",
                ),
            ]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .reject("data-dependent"),
        case(
            "an allow that matches nothing is a warning, an unknown code an error",
            with(&[("3_nick.sql", "-- migcheck: no-transaction, allow data-loss\nALTER TABLE owners ADD COLUMN nick TEXT;\n")]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .expect("warning[unused-allow]: `3_nick.sql` allows `data-loss`, and no `data-loss` finding is made")
        .expect("--> migrations/3_nick.sql:1:36"),
        case("allow of a code that is not a finding", with(&[("3_x.sql", "-- migcheck: allow sql-error\nSELECT 1;\n")]))
            .expect("error[unknown-directive]: unknown directive `sql-error`")
            .expect("--> migrations/3_x.sql:1:20"),
        case(
            "a dropped column or a NOT NULL without a default breaks the running release",
            with(&[(
                "3_contract.sql",
                "ALTER TABLE pets DROP COLUMN name;\nALTER TABLE owners ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';\n",
            )]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .expect("warning[breaking-change]: `3_contract.sql` drops or renames column `pets.name`, which the running release still reads and writes")
        .expect("--> migrations/3_contract.sql:1:30")
        .reject("`owners.plan`"),
        case("the lock's deny line makes a warning fail the build", with(&[("3_contract.sql", "ALTER TABLE pets DROP COLUMN name;\n")]))
            .setup(|dir| {
                seal_first(dir, 2);
                lock_setting(dir, "deny breaking-change");
            })
            .expect("error[breaking-change]: `3_contract.sql` drops or renames column `pets.name`")
            .expect("`breaking-change` is denied in this project (`deny breaking-change`)"),
        case("the lock's allow line hides a warning", with(&[("3_contract.sql", "ALTER TABLE pets DROP COLUMN name;\n")]))
            .setup(|dir| {
                seal_first(dir, 2);
                lock_setting(dir, "allow breaking-change");
            })
            .passes()
            .reject("breaking-change"),
        case(
            "the lock's scratch-limit line bounds the scratch database",
            with(&[(
                "3_big.sql",
                "CREATE TABLE big AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 3000000)\n  SELECT i, randomblob(4000) FROM c;\n",
            )]),
        )
        .setup(|dir| {
            seal_first(dir, 2);
            lock_setting(dir, "scratch-limit 16MiB");
        })
        .expect("error[scratch-limit]: `3_big.sql` grows the scratch database past its size limit (16 MiB)"),
        case("the prelude makes what the deployment creates", with(&[("3_settings.sql", "INSERT INTO app_settings (k, v) VALUES ('theme', 'dark');\n")]))
            .setup(|dir| {
                seal_first(dir, 2);
                fs::write(dir.parent().unwrap().join("prelude.sql"), "-- made by the deployment\nCREATE TABLE app_settings (k TEXT PRIMARY KEY, v TEXT);\n").unwrap();
            })
            .passes()
            .reject("error"),
        case("a prelude that does not run", good())
            .setup(|dir| {
                seal(dir);
                fs::write(dir.parent().unwrap().join("prelude.sql"), "CREATE TABLE broken (;\n").unwrap();
            })
            .expect("error[sql-error]: SQL fails on the scratch database: near \";\": syntax error")
            .expect("--> prelude.sql:1:22")
            .expect("`prelude.sql` is the prelude: it runs on every scratch database before the first migration, and never at run time"),
        case(
            "MIGCHECK_DATA=0 runs on empty tables",
            with(&[
                ("3_active.sql", "ALTER TABLE owners ADD COLUMN active BOOLEAN NOT NULL DEFAULT 1;\n"),
                ("4_one_active.sql", "CREATE UNIQUE INDEX owners_active ON owners (active);\n"),
            ]),
        )
        .setup(|dir| seal_first(dir, 2))
        .env("MIGCHECK_DATA", "0")
        .passes()
        .reject("data-"),
        case(
            "a rebuild that forgets a column loses its values",
            with(&[(
                "3_rebuild.sql",
                "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER REFERENCES owners(id), born DATE);\n\
                 INSERT INTO pets_new (id, owner_id) SELECT id, owner_id FROM pets;\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
            )]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .expect("warning[data-loss]: `3_rebuild.sql` loses 4 of the 4 values of `pets.name`: NULL after it")
        .expect("--> migrations/3_rebuild.sql:1:")
        .expect("one of them: 'Ada Lovelace 1'"),
        case(
            "a rebuild that drops rows loses them, unless the file allows it",
            with(&[(
                "3_rebuild.sql",
                "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER REFERENCES owners(id));\n\
                 INSERT INTO pets_new SELECT * FROM pets WHERE name <> '';\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
            )]),
        )
        .setup(|dir| {
            seal_first(dir, 2);
            let allowed = fs::read_to_string(dir.join("3_rebuild.sql")).unwrap();
            fs::write(dir.join("4_again.sql"), format!("-- migcheck: allow data-loss\n{}", allowed.replace("pets_new", "pets_again"))).unwrap();
        })
        .passes()
        .expect("warning[data-loss]: `3_rebuild.sql` loses 2 of the 5 rows of `pets`")
        .expect("--> migrations/3_rebuild.sql:2:")
        .expect("rows in: 5, rows out: 3")
        .reject("`4_again.sql` loses"),
        case(
            "deleting rows on purpose is not data loss",
            with(&[("3_purge.sql", "DELETE FROM pets WHERE name IS NULL;\nUPDATE owners SET email = lower(email);\n")]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .reject("data-loss"),
        case(
            "a down that does not give the rows back",
            with(&[
                (
                    "3_born.up.sql",
                    "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER REFERENCES owners(id), born DATE);\n\
                     INSERT INTO pets_new (id, name, owner_id) SELECT id, name, owner_id FROM pets;\nDROP TABLE pets;\nALTER TABLE pets_new RENAME TO pets;\n",
                ),
                ("3_born.down.sql", "DROP TABLE pets;\nCREATE TABLE pets (\n    id INTEGER PRIMARY KEY,\n    name TEXT,\n    owner_id INTEGER REFERENCES owners(id)\n);\n"),
            ]),
        )
        .setup(|dir| seal_first(dir, 2))
        .expect("error[down-data-mismatch]: `3_born.down.sql` does not give back 5 of the 5 rows of `pets` its up migration started from")
        .expect("--> migrations/3_born.down.sql:1:12")
        .expect("one of them: (id = 1001, name = 'Ada Lovelace 1', owner_id = 1001)"),
        case(
            "a down that deletes rows on purpose (the rows its up inserted, and more)",
            with(&[
                ("3_seed.up.sql", "INSERT INTO owners (id, email) VALUES (1, 'admin@example.com');\n"),
                ("3_seed.down.sql", "DELETE FROM owners;\n"),
            ]),
        )
        .setup(|dir| seal_first(dir, 2))
        .passes()
        .reject("down-data-mismatch"),
        case(
            "fixtures that make a migration fail are a data error naming the fixture",
            with(&[("3_unique_names.sql", "CREATE UNIQUE INDEX pets_name ON pets (name);\n")]),
        )
        .setup(|dir| {
            seal(dir);
            fixture_file(
                dir,
                "2.sql",
                "-- two owners' pets\nINSERT INTO owners (id, email) VALUES (1, 'ann@example.com'), (2, 'bo@example.com');\n\
                 INSERT INTO pets (id, name, owner_id) VALUES (1, 'Rex', 1), (2, 'Rex', 2);\n",
            );
        })
        .expect("error[data-error]: `3_unique_names.sql` fails on the fixtures' rows: UNIQUE constraint failed: pets.name")
        .expect("--> migrations/3_unique_names.sql:1:40")
        .expect("a row that makes it fail: `pets` (id = 1, name = 'Rex', owner_id = 1)")
        .expect("the rows of `pets` come from `fixtures/2.sql` line 3 (loaded after version 2)"),
        case("a fixture that does not load names its line", good())
            .setup(|dir| {
                seal(dir);
                fixture_file(dir, "1_owners.sql", "INSERT INTO owners (id, email) VALUES (1, 'a@example.com');\nINSERT INTO owners (id, mail) VALUES (2, 'b');\n");
            })
            .expect("error[data-error]: the fixture `fixtures/1_owners.sql` does not load after migration 1: table owners has no column named mail")
            .expect("--> fixtures/1_owners.sql:2:25"),
        case("a fixture for a version that does not exist", good())
            .setup(|dir| {
                seal(dir);
                fixture_file(dir, "7.sql", "INSERT INTO owners (id, email) VALUES (1, 'a@example.com');\n");
            })
            .expect("error[data-error]: `fixtures/7.sql` is for version 7, and there is no migration 7"),
        case("fixtures that fit build without warnings", good())
            .setup(|dir| {
                seal(dir);
                fixture_file(dir, "2.sql", "INSERT INTO owners (id, email) VALUES (1, 'ann@example.com');\nINSERT INTO pets (id, name, owner_id) VALUES (1, 'Rex', 1);\n");
            })
            .passes()
            .reject("warning"),
        case("unsealed is a warning", good())
            .setup(|dir| {
                seal(dir);
                fs::write(dir.join("3_more.sql"), "CREATE TABLE more (x);").unwrap();
            })
            .passes()
            .expect("warning[unsealed]: migration 3 `more` is not sealed yet")
            .expect("help: run `migcheck lock`"),
        case("unsealed in CI is an error", good())
            .env("CI", "true")
            .expect("error[unsealed]: 2 migrations are not sealed yet")
            .expect("locked mode"),
        case("MIGCHECK_LOCKED=1 also locks", good()).env("MIGCHECK_LOCKED", "1").expect("error[unsealed]"),
        case("malformed name", with(&[("init.sql", "SELECT 1;")]))
            .expect("error[malformed-name]: `init.sql` is not a migration name")
            .expect("--> migrations/init.sql")
            .expect("never skips a `.sql` file"),
        case("_up.sql is not skipped", with(&[("3_add_x_up.sql", "SELECT 1;")]))
            .expect("did you mean `3_add_x.up.sql`?"),
        case("duplicate version", with(&[("2_other.sql", "SELECT 1;")]))
            .expect("error[duplicate-version]: 3 migrations share version 2")
            .expect("`2_add_pets.up.sql`"),
        case("down without up", with(&[("3_x.down.sql", "SELECT 1;")]))
            .expect("error[down-without-up]: `3_x.down.sql` has no up migration")
            .expect("add `3_x.up.sql`"),
        case("sealed migration edited", good())
            .setup(|dir| {
                seal(dir);
                fs::write(dir.join("1_create_owners.up.sql"), OWNERS_UP.replace("NOT NULL", "")).unwrap();
            })
            .expect("error[sealed-edited]: sealed migration `1_create_owners.up.sql` was edited")
            .expect("--> migrations/1_create_owners.up.sql")
            .expect("add a new migration with `migcheck new`"),
        case("CRLF checkout of sealed files still passes", good())
            .setup(|dir| {
                seal(dir);
                fs::write(dir.join("1_create_owners.up.sql"), OWNERS_UP.replace('\n', "\r\n")).unwrap();
            })
            .passes(),
        case("sealed migration deleted", good())
            .setup(|dir| {
                seal(dir);
                fs::remove_file(dir.join("2_add_pets.up.sql")).unwrap();
                fs::remove_file(dir.join("2_add_pets.down.sql")).unwrap();
            })
            .expect("error[sealed-deleted]: sealed migration 2 `add_pets` was deleted")
            .expect("migrations/migrations.lock:"),
        case("out of order", vec![("10_a.sql", "CREATE TABLE a(x);")])
            .setup(|dir| {
                seal(dir);
                fs::write(dir.join("9_b.sql"), "CREATE TABLE b(x);").unwrap();
            })
            .expect("error[out-of-order]: migration 9 is not sealed and comes before the newest sealed migration 10")
            .expect("migcheck rebase"),
        case(
            "SQL error with line and column",
            with(&[("3_typo.up.sql", "CREATE TABLE t (a INTEGER);\n\nINSERT INTO t (a) SELECT idd FROM owners;\n"), ("3_typo.down.sql", "DROP TABLE t;")]),
        )
        .expect("error[sql-error]: SQL fails on the scratch database: no such column: idd")
        .expect("--> migrations/3_typo.up.sql:3:26")
        .expect("3 | INSERT INTO t (a) SELECT idd FROM owners;")
        .expect("^^^ no such column: idd"),
        case("syntax error", with(&[("3_syntax.sql", "CREATE TABLE t (a INTEGER,);\n")]))
            .expect("error[sql-error]: SQL fails on the scratch database: near \")\": syntax error")
            .expect("--> migrations/3_syntax.sql:1:27"),
        case("a down that does not undo its up", with(&[("3_t.up.sql", "CREATE TABLE t (a);"), ("3_t.down.sql", "-- forgot\nSELECT 1;")]))
            .expect("error[down-mismatch]: `3_t.down.sql` does not restore the schema its up migration started from")
            .expect("--> migrations/3_t.down.sql")
            .expect("table `t`: in the schema after the down, not in the schema before the up"),
        case("a down that half undoes its up", with(&[("3_t.up.sql", "ALTER TABLE owners ADD COLUMN nick TEXT;\nCREATE INDEX owners_nick ON owners (nick);"), ("3_t.down.sql", "DROP INDEX owners_nick;")]))
            .expect("error[down-mismatch]")
            .expect("column `owners.nick`: in the schema after the down, not in the schema before the up"),
        case("drift from schema.sql", good())
            .setup(|dir| {
                seal(dir);
                let schema = format!("{}{}CREATE INDEX pets_name ON pets (name);\n", OWNERS_UP.replace("email TEXT NOT NULL", "email TEXT NOT NULL,\n    name TEXT"), PETS_UP);
                fs::write(dir.parent().unwrap().join("schema.sql"), schema).unwrap();
            })
            .expect("error[drift]: the migrations do not produce the schema declared in `schema.sql`")
            .expect("--> schema.sql")
            .expect("column `owners.name`: in schema.sql, not in the migrations")
            .expect("index `pets_name`: in schema.sql, not in the migrations")
            .expect("migcheck diff -m"),
        case("schema.sql matches, formatted differently", good())
            .setup(|dir| {
                seal(dir);
                let schema = format!("-- declared\n{}\n{}", OWNERS_UP.to_uppercase().replace("OWNERS", "\"owners\""), PETS_UP.replace('\n', " "));
                fs::write(dir.parent().unwrap().join("schema.sql"), schema).unwrap();
            })
            .passes(),
        case("comment-only schema.sql turns the drift check off", good())
            .setup(|dir| {
                seal(dir);
                fs::write(dir.parent().unwrap().join("schema.sql"), "-- nothing declared yet\n").unwrap();
            })
            .passes(),
        case("schema.sql that does not run", good())
            .setup(|dir| {
                seal(dir);
                fs::write(dir.parent().unwrap().join("schema.sql"), "CREATE TABLE owners (id INTEGER PRIMARY KEY);\nCREATE TABLE pets (owner_id REFERENCES owners(id), name TEXT;\n").unwrap();
            })
            .expect("error[sql-error]")
            .expect("--> schema.sql:2:"),
        case(
            "foreign key violation",
            with(&[("3_orphans.sql", "-- migcheck: no-transaction\nPRAGMA foreign_keys = OFF;\nINSERT INTO pets (name, owner_id) VALUES ('rex', 99);\nPRAGMA foreign_keys = ON;\n")]),
        )
        .expect("error[foreign-key-violation]: `3_orphans.sql` leaves 1 row violating foreign keys")
        .expect("the row with rowid 1 of `pets` references a missing row of `owners`"),
        case("ATTACH is denied", with(&[("3_escape.sql", attach)]))
            .expect("error[sandbox]: the build-time check denied attaching the database file")
            .expect("--> migrations/3_escape.sql:1:1"),
        case("VACUUM INTO is denied", with(&[("3_escape.sql", vacuum_into)]))
            .expect("error[sandbox]")
            .expect("--> migrations/3_escape.sql:2:1"),
        case("ATTACH of a writable file: URI is denied", with(&[("3_escape.sql", attach_uri)])).expect("error[sandbox]"),
        case("moving SQLite's temporary files is denied", with(&[("3_escape.sql", temp_dir)]))
            .expect("error[sandbox]")
            .expect("temp_store_directory"),
        case(
            "editing sqlite_master through writable_schema fails",
            with(&[("3_escape.sql", "PRAGMA writable_schema = ON;\nUPDATE sqlite_master SET sql = 'CREATE TABLE x(y)' WHERE name = 'owners';\n")]),
        )
        .expect("error[sql-error]")
        .expect("may not be modified"),
        case("no function reads files", with(&[("3_escape.sql", "SELECT readfile('/etc/passwd');\nSELECT edit('x');\n")]))
            .expect("no such function: readfile"),
        case("load_extension is denied", with(&[("3_ext.sql", "SELECT load_extension('/tmp/evil.so');")])).expect("error[sandbox]"),
        case("corrupt lock", good())
            .setup(|dir| fs::write(dir.join("migrations.lock"), "migcheck-lock 1\n1 nonsense\n").unwrap())
            .expect("error[lock-corrupt]")
            .expect("--> migrations/migrations.lock:2:1"),
        case("lock with conflict markers", good())
            .setup(|dir| {
                seal(dir);
                let text = fs::read_to_string(dir.join("migrations.lock")).unwrap();
                fs::write(dir.join("migrations.lock"), format!("<<<<<<< HEAD\n{text}=======\n>>>>>>> feature\n")).unwrap();
            })
            .expect("error[lock-conflict]: the lock file has git conflict markers")
            .expect("migcheck rebase"),
        case("runaway migration", with(&[("3_loop.sql", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)\nSELECT count(*) FROM r;")]))
            .env("MIGCHECK_TIMEOUT", "0.5")
            .expect("error[timeout]: `3_loop.sql` did not finish within 500ms"),
        case("every problem in one build", with(&[("init.sql", ""), ("2_dup.sql", ""), ("7_x.down.sql", "")]))
            .expect("error[malformed-name]")
            .expect("error[duplicate-version]")
            .expect("error[down-without-up]")
            .expect("3 errors in the migrations"),
        case(
            "what real migrations do",
            vec![
                ("9_first.sql", "\u{feff}CREATE TABLE log (m TEXT);\r\nCREATE TABLE a (x TEXT)"),
                (
                    "10_trigger.sql",
                    "CREATE TRIGGER a_log AFTER INSERT ON a BEGIN\n  INSERT INTO log VALUES ('inserted; ok');\nEND;\nINSERT INTO a VALUES ('semi;colon'); -- trailing; comment",
                ),
                ("11_own_transaction.sql", "PRAGMA foreign_keys = OFF;\nBEGIN;\nCREATE TABLE b (x);\nCOMMIT;\nPRAGMA foreign_keys = ON;\n"),
                ("12_vacuum.sql", "-- migcheck: no-transaction\nVACUUM;\n"),
                ("13_app_function.sql", "CREATE TABLE users (email TEXT);\nCREATE INDEX users_email ON users (normalize(email));\n"),
                ("14_comment_only.sql", "-- nothing yet\n"),
                ("15_shell.sql", ".timeout 5000\nCREATE TABLE c (x);\n"),
            ],
        )
        .setup(|dir| {
            // Declared in build.rs for `cargo build`; in the lock for `migcheck lock` and the CLI.
            fs::write(dir.join("migrations.lock"), "migcheck-lock 1\nfunction normalize 1\nchain 0000000000000000000000000000000000000000000000000000000000000000\n").unwrap();
            seal(dir);
        })
        .passes()
        // Sealed, the empty one is released as it is: not said again.
        .reject("empty-migration")
        .expect("warning[shell-command]: `.timeout 5000` is a sqlite3 shell command, not SQL"),
        case("an empty migration not sealed yet is a warning", with(&[("3_placeholder.sql", "-- nothing yet\n")]))
            .passes()
            .expect("warning[empty-migration]: `3_placeholder.sql` has no SQL statement"),
        case("PRAGMA foreign_keys in a transaction warns", with(&[("3_fk.sql", "PRAGMA foreign_keys = OFF;\nCREATE TABLE t (x);\n")]))
            .setup(seal)
            .passes()
            .expect("warning[pragma-in-transaction]: `PRAGMA foreign_keys` has no effect inside a transaction")
            .expect("--> migrations/3_fk.sql:1:1"),
        case(
            "a migration past the scratch size limit",
            with(&[(
                "3_big.sql",
                "CREATE TABLE big AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 3000000)\n  SELECT i, randomblob(4000) FROM c;\n",
            )]),
        )
        .env("MIGCHECK_SCRATCH_LIMIT", "16MiB")
        .expect("error[scratch-limit]: `3_big.sql` grows the scratch database past its size limit (16 MiB)")
        .expect("--> migrations/3_big.sql:1:1")
        .expect("MIGCHECK_SCRATCH_LIMIT=4GiB"),
        case("a bad MIGCHECK_SCRATCH_LIMIT", good())
            .env("MIGCHECK_SCRATCH_LIMIT", "lots")
            .expect("`lots` is not a size"),
        // Other tools' histories build in place, read as the tools read them:
        // diesel orders versions as strings, so the 7-digit time runs second
        // (numerically it would run last, before its table existed).
        case(
            "a diesel history builds and seals as it is",
            vec![
                ("2024-01-01-090000_create_owners/up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);\n"),
                ("2024-01-01-090000_create_owners/down.sql", "DROP TABLE owners;\n"),
                ("2024-01-01-1745356_add_pets/up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);\n"),
                ("2024-01-02-100713/up.sql", "CREATE INDEX pets_owner ON pets (owner);\n"),
            ],
        )
        .setup(seal)
        .env("CI", "true")
        .passes()
        .reject("warning"),
        case(
            "a custom layout builds and seals as it is",
            vec![
                ("V0001.Create_Owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);\n"),
                ("V0001.Create_Owners.down.sql", "DROP TABLE owners;\n"),
                ("V0002.Add_Pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);\n"),
                ("V0002.Add_Pets.down.sql", "DROP TABLE pets;\n"),
            ],
        )
        .setup(|dir| {
            let pattern = r"V(?<version>\d+)\.(?<description>\w+)\.(?<direction>up|down)\.sql";
            fs::write(dir.join("migrations.lock"), format!("migcheck-lock 1\nlayout custom {pattern}\nchain {}\n", "0".repeat(64)))
                .unwrap();
            seal(dir);
        })
        .env("CI", "true")
        .passes()
        .reject("warning"),
        case("missing directory", vec![])
            .setup(|dir| fs::remove_dir(dir).unwrap())
            .expect("error[missing-directory]: the migrations directory `migrations` does not exist"),
    ];

    cases
}

fn the_built_program_applies_the_embedded_migrations_and_unchanged_builds_skip_the_check() {
    let fixture = Fixture::with_turn("fixture_run", "migcheck_build::Build::new().run();");
    fixture.set_migrations(&good());
    seal(&fixture.migrations());
    let run = fixture.cargo(&["run", "--offline", "--quiet"], &[]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout, "applied 1 create_owners\napplied 2 add_pets\n");

    // Nothing changed: Cargo must not even run the build script.
    let again = fixture.cargo(&["build", "--offline", "-v"], &[]);
    assert!(again.success, "{}", again.stderr);
    assert!(again.stderr.contains("Fresh fixture_run"), "{}", again.stderr);
    assert!(!again.stderr.contains("build-script-build`"), "the build script ran again:\n{}", again.stderr);

    // Adding a migration re-runs it, and the program picks the migration up;
    // text that needs care as a Rust literal (quotes and hashes, CRLF) embeds whole.
    fixture.write("3_more.sql", "CREATE TABLE \"more\" (x TEXT DEFAULT 'say \"#hi\"##');");
    fixture.write("4_crlf.sql", "-- \"#\r\nCREATE TABLE crlf (x);\r\n");
    let run = fixture.cargo(&["run", "--offline"], &[]);
    assert!(run.success, "{}", run.stderr);
    assert!(run.stdout.ends_with("applied 3 more\napplied 4 crlf\n"), "{}", run.stdout);
    assert!(run.stderr.contains("warning: fixture_run@0.1.0: warning[unsealed]"), "{}", run.stderr);
}

/// A released migration whose down does not undo its up: `lock --accept`
/// records the finding, `cargo build` in CI passes saying so, and fails again
/// when what is found changes (here: the lock's hash no longer matches).
fn an_accepted_down_mismatch_builds_in_locked_mode_until_what_is_found_changes() {
    let fixture = Fixture::with_turn("fixture_accept", "migcheck_build::Build::new().run();");
    let mut files = good();
    files[3] = ("2_add_pets.down.sql", "SELECT 1;\n");
    fixture.set_migrations(&files);
    let dir = fixture.migrations();
    let refused = migcheck_build::lock(&dir).unwrap_err().to_string();
    assert!(refused.contains("error[down-mismatch]") && refused.contains("`migcheck lock --accept`"), "{refused}");
    let config = migcheck_core::config::Config::new(&dir);
    let sealed =
        migcheck_core::seal::seal_accepting(&config, false, true).unwrap_or_else(|d| panic!("{}", d[0].render()));
    assert_eq!((sealed.added.len(), sealed.accepted), (2, 1));
    let lock = fs::read_to_string(dir.join("migrations.lock")).unwrap();
    assert!(lock.contains("\naccept 2 down-mismatch "), "{lock}");

    let ci = fixture.cargo(&["build", "--offline"], &[("CI", "true")]);
    assert!(ci.success, "{}", ci.stderr);
    let messages = ci.messages();
    assert!(messages.contains("migcheck: 1 finding of sealed migrations accepted in the lock"), "{messages}");
    assert!(!messages.contains("down-mismatch"), "{messages}");

    // What is found no longer matches what was accepted.
    let hash = lock.split("accept 2 down-mismatch ").nth(1).unwrap().lines().next().unwrap().to_owned();
    fs::write(dir.join("migrations.lock"), lock.replace(&hash, "0000000000000000")).unwrap();
    let changed = fixture.cargo(&["build", "--offline"], &[("CI", "true")]);
    assert!(!changed.success, "{}", changed.stderr);
    assert!(
        changed.messages().contains(
            "error[down-mismatch]: `2_add_pets.down.sql` does not restore the schema its up migration started from"
        ),
        "{}",
        changed.stderr
    );
}

/// A baseline written from the migrations (as `migcheck squash` does) and
/// sealed: the built program runs it on its empty database; hand-edited, it
/// fails `cargo build` in CI naming the file and what differs; with the
/// replaced files deleted, the build and the program still work.
fn a_squashed_history_builds_and_an_edited_baseline_fails_the_build() {
    let fixture = Fixture::with_turn("fixture_squash", "migcheck_build::Build::new().run();");
    let mut files = good();
    files.push((
        "3_kinds.sql",
        "CREATE TABLE kinds (code TEXT PRIMARY KEY);\nINSERT INTO kinds VALUES ('dog'), ('cat');\n",
    ));
    files.push(("4_more.sql", "CREATE TABLE more (x);\n"));
    fixture.set_migrations(&files);
    let dir = fixture.migrations();
    seal(&dir);
    let config = migcheck_core::config::Config::new(&dir);
    let report = migcheck_core::check::check(&config);
    let sql =
        migcheck_core::check::baseline_sql(&config, &report, 3, true).unwrap_or_else(|d| panic!("{}", d.render()));
    let baseline = dir.join("3_start.baseline.sql");
    fs::write(&baseline, &sql).unwrap();
    migcheck_core::seal::seal_baseline(&config).unwrap_or_else(|d| panic!("{}", d[0].render()));

    let run = fixture.cargo(&["run", "--offline", "--quiet"], &[("CI", "true")]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout, "applied 3 start\napplied 4 more\n");

    fs::write(&baseline, sql.replace("('cat')", "('cow')")).unwrap();
    let edited = fixture.cargo(&["build", "--offline"], &[("CI", "true")]);
    assert!(!edited.success, "{}", edited.stderr);
    let messages = edited.messages();
    assert!(
        messages.contains(
            "error[baseline-mismatch]: the baseline `3_start.baseline.sql` does not give what migrations 1 to 3 give"
        ),
        "{messages}"
    );
    assert!(messages.contains("missing from the baseline: (code = 'cat')"), "{messages}");
    assert!(messages.contains("--> migrations/3_start.baseline.sql"), "{messages}");

    fs::write(&baseline, &sql).unwrap();
    for name in [
        "1_create_owners.up.sql",
        "1_create_owners.down.sql",
        "2_add_pets.up.sql",
        "2_add_pets.down.sql",
        "3_kinds.sql",
    ] {
        fs::remove_file(dir.join(name)).unwrap();
    }
    let run = fixture.cargo(&["run", "--offline", "--quiet"], &[("CI", "true")]);
    assert!(run.success, "{}", run.stderr);
    assert_eq!(run.stdout, "applied 3 start\napplied 4 more\n");
}

fn editing_a_fixture_reruns_the_check() {
    let fixture = Fixture::with_turn("fixture_fixtures", "migcheck_build::Build::new().run();");
    fixture.set_migrations(&good());
    seal(&fixture.migrations());
    fixture_file(&fixture.migrations(), "1.sql", "INSERT INTO owners (id, email) VALUES (1, 'ann@example.com');\n");
    let fits = fixture.cargo(&["build", "--offline"], &[]);
    assert!(fits.success, "{}", fits.stderr);
    // Only the fixture changes: Cargo must run the build script again.
    fixture_file(&fixture.migrations(), "1.sql", "INSERT INTO owners (id) VALUES (1);\n");
    let broken = fixture.cargo(&["build", "--offline"], &[]);
    assert!(!broken.success, "{}", broken.stderr);
    assert!(
        broken.messages().contains("error[data-error]: the fixture `fixtures/1.sql` does not load after migration 1: NOT NULL constraint failed: owners.email"),
        "{}",
        broken.stderr
    );
}

/// `cargo build` on MySQL migrations: without a scratch server the SQL is
/// not run (a warning); with `MIGCHECK_SCRATCH_URL=mysql://…` a down that
/// forgets the up's index fails the build naming the file and the index.
fn cargo_build_checks_mysql_migrations_on_a_scratch_server() {
    let url = migcheck_test_support::mysql::server().expect("the trial is ignored without a server");
    let fixture = Fixture::with_turn(
        "fixture_mysql",
        "migcheck_build::Build::new().dialect(migcheck_build::Dialect::Mysql).run();",
    );
    fixture.set_migrations(&[
        (
            "1_owners.up.sql",
            "CREATE TABLE owners (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(255) NOT NULL);\n",
        ),
        ("1_owners.down.sql", "DROP TABLE owners;\n"),
        ("2_index.up.sql", "CREATE INDEX owners_email ON owners (email);\n"),
        ("2_index.down.sql", "SELECT 1;\n"),
    ]);
    let without = fixture.cargo(&["build", "--offline"], &[]);
    assert!(without.success, "{}", without.stderr);
    assert!(without.messages().contains("warning[not-executed]"), "{}", without.stderr);

    let with = fixture.cargo(&["build", "--offline"], &[("MIGCHECK_SCRATCH_URL", &url)]);
    assert!(!with.success, "the down forgets the index: {}", with.stderr);
    let messages = with.messages();
    assert!(
        messages.contains(
            "error[down-mismatch]: `2_index.down.sql` does not restore the schema its up migration started from"
        ) && messages.contains("--> migrations/2_index.down.sql")
            && messages.contains("KEY `owners_email` (`email`)"),
        "{messages}"
    );
    fixture.write("2_index.down.sql", "DROP INDEX owners_email ON owners;\n");
    let fixed = fixture.cargo(&["build", "--offline"], &[("MIGCHECK_SCRATCH_URL", &url)]);
    assert!(fixed.success, "{}", fixed.stderr);
    assert!(!fixed.messages().contains("not-executed"), "{}", fixed.stderr);
}

fn cargo_build_checks_postgres_migrations_on_a_scratch_server() {
    let url = match crate::pg::server() {
        Ok(url) => url,
        Err(why) => {
            eprintln!("SKIPPED: {why}");
            return;
        }
    };
    let fixture = Fixture::with_turn(
        "fixture_postgres",
        "migcheck_build::Build::new().dialect(migcheck_build::Dialect::Postgres).run();",
    );
    fixture.set_migrations(&[
        ("1_owners.up.sql", "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);\n"),
        ("1_owners.down.sql", "DROP TABLE owners;\n"),
        ("2_index.sql", "-- migcheck: no-transaction\nCREATE INDEX CONCURRENTLY owners_email ON owners (email);\n"),
    ]);
    // The dialect line (what `migcheck init --dialect postgres` writes) tells `lock` and the CLI.
    fs::write(
        fixture.migrations().join("migrations.lock"),
        format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)),
    )
    .unwrap();
    seal(&fixture.migrations());
    assert!(fs::read_to_string(fixture.migrations().join("migrations.lock")).unwrap().contains("\ndialect postgres\n"));
    let without = fixture.cargo(&["build", "--offline"], &[]);
    assert!(without.success, "{}", without.stderr);
    assert!(without.messages().contains("warning[not-executed]"), "{}", without.stderr);

    let with = fixture.cargo(&["build", "--offline"], &[("MIGCHECK_SCRATCH_URL", &url)]);
    assert!(with.success, "{}", with.stderr);
    assert!(!with.messages().contains("not-executed"), "{}", with.stderr);

    fixture.write("3_typo.sql", "ALTER TABLE owners ADD COLUMN nick TEXT;\nUPDATE owners SET nick = emial;\n");
    let typo = fixture.cargo(&["build", "--offline"], &[("MIGCHECK_SCRATCH_URL", &url)]);
    assert!(!typo.success);
    let messages = typo.messages();
    assert!(
        messages.contains("error[sql-error]: SQL fails on the scratch database: column \"emial\" does not exist"),
        "{messages}"
    );
    assert!(messages.contains("--> migrations/3_typo.sql:2:26"), "{messages}");
    fs::remove_file(fixture.migrations().join("3_typo.sql")).unwrap();

    // The data checks on PostgreSQL: the scratch database's tables hold rows.
    let build = |files: &[(&str, &str)]| {
        for (name, text) in files {
            fixture.write(name, text);
        }
        let result = fixture.cargo(&["build", "--offline"], &[("MIGCHECK_SCRATCH_URL", &url)]);
        for (name, _) in files {
            fs::remove_file(fixture.migrations().join(name)).unwrap();
        }
        result
    };
    let nn = build(&[("3_plan.sql", "ALTER TABLE owners ADD COLUMN plan TEXT NOT NULL;\n")]);
    assert!(nn.success, "{}", nn.stderr);
    let messages = nn.messages();
    assert!(
        messages.contains("warning[data-dependent]: `3_plan.sql` fails when its tables hold rows: column \"plan\" of relation \"owners\" contains null values"),
        "{messages}"
    );
    assert!(messages.contains("--> migrations/3_plan.sql:1:1"), "{messages}");

    let cast = build(&[("3_cast.sql", "ALTER TABLE owners ALTER COLUMN email TYPE integer USING email::integer;\n")]);
    assert!(cast.success, "{}", cast.stderr);
    assert!(cast.messages().contains("warning[data-dependent]: `3_cast.sql` fails when its tables hold rows: invalid input syntax for type integer: \"user1@example.com\""), "{}", cast.stderr);

    let lost = build(&[(
        "3_lose.sql",
        "ALTER TABLE owners ALTER COLUMN email DROP NOT NULL, ALTER COLUMN email TYPE varchar(200) USING NULL;\n",
    )]);
    assert!(lost.success, "{}", lost.stderr);
    assert!(
        lost.messages()
            .contains("warning[data-loss]: `3_lose.sql` loses 5 of the 5 values of `owners.email`: NULL after it"),
        "{}",
        lost.stderr
    );

    let down = build(&[
        ("3_nick.up.sql", "ALTER TABLE owners ADD COLUMN nick TEXT;\n"),
        // A down that makes the table again instead of dropping the column.
        (
            "3_nick.down.sql",
            "DROP TABLE owners;\nCREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);\n\
             CREATE INDEX owners_email ON owners (email);\n",
        ),
    ]);
    assert!(!down.success, "{}", down.stderr);
    let messages = down.messages();
    assert!(
        messages.contains("error[down-data-mismatch]: `3_nick.down.sql` does not give back 5 of the 5 rows of `owners` its up migration started from"),
        "{messages}"
    );
    assert!(messages.contains("--> migrations/3_nick.down.sql:1:12"), "{messages}");

    let fixtures = fixture.path().join("fixtures");
    fs::create_dir_all(&fixtures).unwrap();
    fs::write(
        fixtures.join("1.sql"),
        "INSERT INTO owners (id, email) VALUES (1, 'ann@example.com'), (2, 'ann@example.com');\n",
    )
    .unwrap();
    let unique = build(&[("3_unique.sql", "CREATE UNIQUE INDEX owners_email_key ON owners (email);\n")]);
    fs::remove_dir_all(&fixtures).unwrap();
    assert!(!unique.success, "{}", unique.stderr);
    let messages = unique.messages();
    assert!(messages.contains("error[data-error]: `3_unique.sql` fails on the fixtures' rows: could not create unique index \"owners_email_key\""), "{messages}");
    assert!(messages.contains("Key (email)=(ann@example.com) is duplicated."), "{messages}");
    assert!(
        messages.contains("the rows of `owners` come from `fixtures/1.sql` line 1 (loaded after version 1)"),
        "{messages}"
    );
}
