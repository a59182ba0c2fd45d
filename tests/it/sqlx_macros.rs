//! sqlx's own query macros checked at compile time against the database the
//! migrations make (`Build::expose_database`): a crate with `sqlx::query!` and
//! no `DATABASE_URL`, `.env` or `.sqlx` builds, and a migration that drops a
//! column a query reads fails `cargo build` with sqlx's error. The real sqlx
//! macros, on SQLite and on the test PostgreSQL server.
//!
//! The fixtures build in `<target>/runners`, where CI builds sqlx's migrator
//! for the comparison tests (`benches/sqlx-compare`) with the same sqlx
//! features and the same profile, so that sqlx and tokio compile once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Failed, Trial};

use crate::util::{self, workspace};

/// sqlx's features here and in `benches/sqlx-compare/Cargo.toml`: one set,
/// so that the runner's build serves the fixtures.
const SQLX_FEATURES: &str = r#"["sqlite", "postgres", "macros", "migrate", "runtime-tokio"]"#;

/// The fixtures here take turns: they share a target directory.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").join("runners")
}

/// A crate whose `build.rs` runs `build_rs` and whose `src/main.rs` is `main_rs`.
fn fixture(name: &str, build_rs: &str, main_rs: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("migcheck-sqlx-").tempdir().unwrap();
    let root = workspace();
    let root = root.display();
    fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
migcheck = {{ path = "{root}", features = ["macros"] }}
sqlx = {{ version = "0.9.1", default-features = false, features = {SQLX_FEATURES} }}

[build-dependencies]
migcheck-build = {{ path = "{root}/crates/migcheck-build" }}

[workspace]
"#
        ),
    )
    .unwrap();
    fs::copy(root_lock(), dir.path().join("Cargo.lock")).unwrap();
    fs::write(dir.path().join("build.rs"), format!("fn main() {{\n    {build_rs}\n}}\n")).unwrap();
    fs::create_dir(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/main.rs"), main_rs).unwrap();
    fs::create_dir(dir.path().join("migrations")).unwrap();
    dir
}

/// The workspace's lock file: the same versions as every other build here.
fn root_lock() -> PathBuf {
    workspace().join("Cargo.lock")
}

/// `cargo build` of the fixture with none of sqlx's or migcheck's variables
/// but `env`.
fn build(dir: &Path, env: &[(&str, &str)]) -> util::Result {
    let mut cmd = Command::new(env!("CARGO"));
    // Online (the registry only): resolving sqlx's macros reads index
    // entries, such as sqlx-mysql's, that no other build here fetches.
    cmd.args(["build"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        // As CI builds the runners.
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("CI")
        .env_remove("MIGCHECK_LOCKED")
        .env_remove("MIGCHECK_SCRATCH_URL")
        .env_remove("MIGCHECK_KEEP_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("SQLX_OFFLINE")
        .env_remove("SQLX_OFFLINE_DIR")
        .env_remove("RUSTFLAGS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    util::Result::from(cmd.output().unwrap())
}

fn expect(ok: bool, what: &str, r: &util::Result) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(format!("{what}\n--- stderr\n{}", r.stderr).into()) }
}

const SQLITE_MAIN: &str = r#"// Checked by sqlx against the migrated database at compile time.
#[allow(dead_code)]
async fn names(pool: &sqlx::SqlitePool, owner: i64) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query!("SELECT name FROM pets WHERE owner_id = ?", owner).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

fn main() {}
"#;

fn sqlite_queries_are_checked_against_the_migrations() -> Result<(), Failed> {
    let _turn = take_turn();
    let dir = fixture("sqlx_sqlite_fixture", "migcheck_build::Build::new().expose_database().run();", SQLITE_MAIN);
    let migrations = dir.path().join("migrations");
    fs::write(
        migrations.join("1_pets.sql"),
        "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, owner_id INTEGER);\n",
    )
    .unwrap();

    // Nothing to set up: no DATABASE_URL, no .env, no .sqlx.
    let r = build(dir.path(), &[]);
    expect(r.success, "the build should pass with no DATABASE_URL", &r)?;
    assert!(!dir.path().join(".sqlx").exists());

    // The proven database wins over the developer's DATABASE_URL, in the
    // environment or in .env...
    fs::write(dir.path().join(".env"), "DATABASE_URL=sqlite:///nonexistent/dev.db\n").unwrap();
    let r = build(dir.path(), &[("DATABASE_URL", "sqlite:///nonexistent/dev.db")]);
    expect(r.success, "the exposed database should win over DATABASE_URL", &r)?;
    // ...unless they ask for theirs.
    let r = build(dir.path(), &[("DATABASE_URL", "sqlite:///nonexistent/dev.db"), ("MIGCHECK_KEEP_DATABASE_URL", "1")]);
    expect(!r.success, "MIGCHECK_KEEP_DATABASE_URL=1 should leave the (broken) DATABASE_URL to sqlx", &r)?;
    fs::remove_file(dir.path().join(".env")).unwrap();

    // A migration drops the column the query reads: sqlx's error fails the build.
    fs::write(migrations.join("2_drop_name.sql"), "ALTER TABLE pets DROP COLUMN name;\n").unwrap();
    let r = build(dir.path(), &[]);
    expect(
        !r.success && r.stderr.contains("no such column: name") && r.stderr.contains("src/main.rs"),
        "the build should fail on the query reading the dropped column",
        &r,
    )?;

    // The query follows the schema: fixed, it builds again.
    fs::write(
        dir.path().join("src/main.rs"),
        SQLITE_MAIN.replace(
            r#""SELECT name FROM pets WHERE owner_id = ?""#,
            r###"r#"SELECT CAST(id AS TEXT) AS "name!" FROM pets WHERE owner_id = ?"#"###,
        ),
    )
    .unwrap();
    let r = build(dir.path(), &[]);
    expect(r.success, "the fixed query should build", &r)
}

const POSTGRES_MAIN: &str = r#"// Checked by sqlx against the migrated database at compile time.
#[allow(dead_code)]
async fn names(pool: &sqlx::PgPool, owner: i64) -> sqlx::Result<Vec<String>> {
    let rows = sqlx::query!("SELECT name FROM pets WHERE owner_id = $1", owner).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

// And by migcheck's own macro, described by the server on the same database.
const PETS: migcheck::Statement = migcheck::statement!("SELECT id, name FROM pets WHERE owner_id = $1", 1);
const _: () = assert!(PETS.columns.len() == 2);

fn main() {
    assert_eq!(PETS.parameters, ["$1"]);
}
"#;

fn postgres_queries_are_checked_against_the_migrations(server: &str) -> Result<(), Failed> {
    let _turn = take_turn();
    let dir = fixture(
        "sqlx_postgres_fixture",
        "migcheck_build::Build::new().dialect(migcheck_build::Dialect::Postgres).expose_database().run();",
        POSTGRES_MAIN,
    );
    let migrations = dir.path().join("migrations");
    fs::write(
        migrations.join("1_pets.sql"),
        "CREATE TABLE pets (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, owner_id BIGINT);\n",
    )
    .unwrap();
    let env = [("MIGCHECK_SCRATCH_URL", server)];
    let r = build(dir.path(), &env);
    expect(r.success, "the build should pass with no DATABASE_URL", &r)?;

    fs::write(migrations.join("2_drop_name.sql"), "ALTER TABLE pets DROP COLUMN name;\n").unwrap();
    let r = build(dir.path(), &env);
    expect(
        !r.success && r.stderr.contains("column \"name\" does not exist") && r.stderr.contains("src/main.rs"),
        "the build should fail on the query reading the dropped column",
        &r,
    )?;
    expect(
        r.stderr.contains(
            "migcheck::statement!: the statement does not prepare on the migrated database: column \"name\" does not exist",
        ) && r.stderr.contains("1 | SELECT id, name FROM pets WHERE owner_id = $1\n")
            && r.stderr.contains("|            ^^^^\n"),
        "migcheck's statement! should fail too, pointing at the column",
        &r,
    )
}

/// This module's tests.
pub fn trials() -> Vec<Trial> {
    let server = crate::pg::server();
    if let Err(why) = &server {
        eprintln!("sqlx's PostgreSQL macros test ignored: {why}");
    }
    let no_server = server.is_err();
    vec![
        Trial::test("sqlx_macros::sqlite_queries_are_checked_against_the_migrations", || {
            sqlite_queries_are_checked_against_the_migrations()
        }),
        Trial::test("sqlx_macros::postgres_queries_are_checked_against_the_migrations", move || {
            postgres_queries_are_checked_against_the_migrations(&server.clone().unwrap_or_default())
        })
        .with_ignored_flag(no_server),
    ]
}
