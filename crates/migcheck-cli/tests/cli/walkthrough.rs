//! ../shared/WALKTHROUGH.md, step by step, with the real `migcheck` binary and
//! the real `cargo build` of a new `pets` crate (README "Tutorial").

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ok={}\n--- stdout\n{}--- stderr\n{}", self.ok, self.stdout, self.stderr)
    }
}

fn run(mut cmd: Command) -> Run {
    let o = cmd.output().unwrap();
    Run {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}

struct Pets {
    dir: tempfile::TempDir,
}

impl Pets {
    fn root(&self) -> PathBuf {
        self.dir.path().join("pets")
    }

    fn migcheck(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
        cmd.args(args).current_dir(self.root()).env_remove("DATABASE_URL").env_remove("CI");
        run(cmd)
    }

    fn cargo(&self, args: &[&str], ci: bool) -> Run {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(args)
            .arg("--offline")
            .current_dir(self.root())
            // This build's own target directory, where the workspace compiled
            // the dependencies the tutorial's crate shares with it.
            .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap())
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("MIGCHECK_LOCKED")
            .env_remove("RUSTFLAGS");
        if ci {
            cmd.env("CI", "true");
        } else {
            cmd.env_remove("CI");
        }
        run(cmd)
    }

    fn migration(&self, suffix: &str) -> PathBuf {
        fs::read_dir(self.root().join("migrations"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no migration ending in {suffix}"))
    }

    fn query(&self, sql: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.root().join("dev.db")).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }
}

fn the_walkthrough_works_as_written() {
    let ws = workspace();
    let p = Pets { dir: tempfile::tempdir().unwrap() };

    // 1. Start a project.
    let mut new = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    new.args(["new", "--quiet", "--vcs", "none", "pets"]).current_dir(p.dir.path());
    assert!(run(new).ok);
    let manifest = fs::read_to_string(p.root().join("Cargo.toml")).unwrap();
    fs::write(
        p.root().join("Cargo.toml"),
        format!(
            "{manifest}migcheck = {{ path = {ws:?} }}\nrusqlite = {{ version = \"0.43\", default-features = false, features = [\"bundled\"] }}\n\n\
             [build-dependencies]\nmigcheck-build = {{ path = {:?} }}\n\n[profile.dev.package.libsqlite3-sys]\nopt-level = 3\n",
            ws.join("crates/migcheck-build")
        ),
    )
    .unwrap();
    fs::copy(ws.join("Cargo.lock"), p.root().join("Cargo.lock")).unwrap();
    fs::write(p.root().join(".env"), "DATABASE_URL=sqlite:dev.db\n").unwrap();
    fs::write(p.root().join(".gitignore"), "/target\n*.db\n.env\n").unwrap();

    // 2. Initialise.
    let r = p.migcheck(&["init"]);
    assert!(r.ok && r.stdout.contains("created migrations/") && r.stdout.contains("created build.rs"), "{r:?}");
    let r = p.cargo(&["build"], false);
    assert!(r.ok, "{r:?}");

    // 3. Declare the first model: the build fails with drift and says to run `migcheck diff`.
    let owners = "CREATE TABLE owners (\n    id INTEGER PRIMARY KEY,\n    first_name VARCHAR(50) NOT NULL,\n    last_name VARCHAR(50) NOT NULL,\n    email VARCHAR(255) NOT NULL\n);\n";
    fs::write(p.root().join("schema.sql"), owners).unwrap();
    let r = p.cargo(&["build"], false);
    assert!(!r.ok && r.stderr.contains("error[drift]") && r.stderr.contains("migcheck diff -m"), "{r:?}");

    // 4. Generate the migration; the build passes, warning that it is not sealed.
    let r = p.migcheck(&["diff", "-m", "create owners table"]);
    assert!(r.ok && r.stdout.contains("review"), "{r:?}");
    assert!(fs::read_to_string(p.migration("_create_owners_table.up.sql")).unwrap().contains("CREATE TABLE owners"));
    assert!(fs::read_to_string(p.migration("_create_owners_table.down.sql")).unwrap().contains("DROP TABLE owners;"));
    let r = p.cargo(&["build"], false);
    assert!(r.ok && r.stderr.contains("warning[unsealed]"), "{r:?}");

    // 5. Apply it; current and history say so.
    assert!(p.migcheck(&["upgrade"]).ok);
    let version = p.migration("_create_owners_table.up.sql").file_name().unwrap().to_string_lossy()[..14].to_owned();
    assert_eq!(p.migcheck(&["current"]).stdout.trim(), version);
    assert!(p.migcheck(&["history"]).stdout.contains("create_owners_table  applied"));

    // 6. Use it from the program: a fresh database gets the table.
    fs::write(
        p.root().join("src/main.rs"),
        "static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();\n\n\
         fn main() -> Result<(), Box<dyn std::error::Error>> {\n    \
         let mut conn = rusqlite::Connection::open(\"fresh.db\")?;\n    MIGRATIONS.upgrade(&mut conn)?;\n    \
         let n: i64 = conn.query_row(\"SELECT count(*) FROM owners\", [], |r| r.get(0))?;\n    println!(\"owners: {n}\");\n    Ok(())\n}\n",
    )
    .unwrap();
    let r = p.cargo(&["run", "--quiet"], false);
    assert!(r.ok && r.stdout == "owners: 0\n", "{r:?}");

    // 7. Add a model.
    let pets = "\nCREATE TABLE pets (\n    id INTEGER PRIMARY KEY,\n    name VARCHAR(100),\n    owner_id INTEGER REFERENCES owners(id)\n);\n";
    fs::write(p.root().join("schema.sql"), format!("{owners}{pets}")).unwrap();
    assert!(p.migcheck(&["diff", "-m", "add pets table"]).ok);
    assert!(p.migcheck(&["upgrade"]).ok);
    assert_eq!(p.query("SELECT name FROM sqlite_schema WHERE name = 'pets'"), ["pets"]);

    // 8. Roll back and forward.
    assert!(p.migcheck(&["downgrade"]).ok);
    assert!(p.query("SELECT name FROM sqlite_schema WHERE name = 'pets'").is_empty());
    assert!(p.migcheck(&["upgrade"]).ok);
    assert_eq!(p.query("SELECT name FROM sqlite_schema WHERE name = 'pets'"), ["pets"]);

    // 9. Seal, and see the schema: the diagram is the README's.
    assert!(p.migcheck(&["lock"]).stdout.contains("sealed 2 migrations"));
    let diagram = p.migcheck(&["--format", "mermaid", "schema"]);
    assert!(diagram.ok, "{diagram:?}");
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    let block = readme.split("```mermaid\n").nth(1).and_then(|rest| rest.split("   ```").next()).unwrap_or_default();
    let shown: String = block.lines().map(|l| format!("{}\n", l.strip_prefix("   ").unwrap_or(l))).collect();
    assert_eq!(diagram.stdout, shown, "README's diagram");
    assert!(p.cargo(&["build"], true).ok, "sealed: CI passes");

    // 10. The guard: an edited released migration, an out-of-order one, a typo, CI and unsealed.
    let owners_up = p.migration("_create_owners_table.up.sql");
    let original = fs::read_to_string(&owners_up).unwrap();
    fs::write(&owners_up, original.replace("VARCHAR(255)", "VARCHAR(320)")).unwrap();
    let r = p.cargo(&["build"], false);
    assert!(!r.ok && r.stderr.contains("error[sealed-edited]") && r.stderr.contains("add a new migration"), "{r:?}");
    fs::write(&owners_up, original).unwrap();

    let early = p.root().join("migrations").join(format!("{}_from_branch.sql", version.parse::<i64>().unwrap() - 1));
    fs::write(&early, "CREATE INDEX owners_email ON owners (email);\n").unwrap();
    let r = p.cargo(&["build"], false);
    assert!(!r.ok && r.stderr.contains("error[out-of-order]") && r.stderr.contains("migcheck rebase"), "{r:?}");
    fs::remove_file(&early).unwrap();

    let typo = p.root().join("migrations/99999999999999_typo.sql");
    fs::write(&typo, "CREATE INDEX owners_email ON owners (emial);\n").unwrap();
    let r = p.cargo(&["build"], false);
    assert!(
        !r.ok
            && r.stderr.contains("migrations/99999999999999_typo.sql:1:38")
            && r.stderr.contains("no such column: emial"),
        "{r:?}"
    );
    fs::write(&typo, "CREATE INDEX owners_email ON owners (email);\n").unwrap();
    fs::write(p.root().join("schema.sql"), format!("{owners}{pets}CREATE INDEX owners_email ON owners (email);\n"))
        .unwrap();
    let r = p.cargo(&["build"], true);
    assert!(!r.ok && r.stderr.contains("error[unsealed]"), "CI refuses an unsealed migration: {r:?}");
    assert!(p.cargo(&["build"], false).ok);
    fs::remove_file(&typo).unwrap();
    fs::write(p.root().join("schema.sql"), format!("{owners}{pets}")).unwrap();

    // 11. Change a column SQLite cannot alter: a table rebuild that keeps every owner and pet.
    let conn = rusqlite::Connection::open(p.root().join("dev.db")).unwrap();
    conn.execute_batch(
        "INSERT INTO owners (first_name, last_name, email) VALUES ('Ada', 'Lovelace', 'ada@example.com');\n\
         INSERT INTO pets (name, owner_id) VALUES ('Babbage', 1);",
    )
    .unwrap();
    drop(conn);
    fs::write(
        p.root().join("schema.sql"),
        format!("{}{pets}", owners.replace("email VARCHAR(255) NOT NULL", "email VARCHAR(255)")),
    )
    .unwrap();
    let r = p.migcheck(&["diff", "-m", "make email optional"]);
    assert!(r.ok && r.stdout.contains("NOT NULL → nullable"), "{r:?}");
    let up = fs::read_to_string(p.migration("_make_email_optional.up.sql")).unwrap();
    assert!(up.contains("PRAGMA foreign_keys = OFF") && up.contains("INSERT INTO migcheck_new_owners"), "{up}");
    let r = p.cargo(&["build"], false);
    assert!(r.ok, "the build proves the down restores the previous schema: {r:?}");
    assert!(p.migcheck(&["upgrade"]).ok);
    assert_eq!(p.query("SELECT email FROM owners"), ["ada@example.com"]);
    assert_eq!(p.query("SELECT name FROM pets"), ["Babbage"]);
    assert!(p.migcheck(&["downgrade"]).ok);
    assert_eq!(p.query("SELECT name FROM pets"), ["Babbage"]);
    assert!(p.migcheck(&["upgrade"]).ok);

    // 12. Prove it on your data: a fixture with a pet without a name, then
    // make names required. The generated rebuild fails on the fixture's row,
    // the build says where, and a backfill fixes it.
    let pets_version = p
        .migration("_add_pets_table.up.sql")
        .file_name()
        .unwrap()
        .to_string_lossy()
        .split('_')
        .next()
        .unwrap()
        .to_owned();
    fs::create_dir_all(p.root().join("fixtures")).unwrap();
    fs::write(
        p.root().join(format!("fixtures/{pets_version}.sql")),
        "INSERT INTO owners (id, first_name, last_name, email) VALUES (1, 'Ada', 'Lovelace', 'ada@example.com');\n\
         INSERT INTO pets (id, name, owner_id) VALUES (1, 'Babbage', 1), (2, NULL, 1);\n",
    )
    .unwrap();
    assert!(p.cargo(&["build"], false).ok, "the fixture loads at its version");
    let schema = fs::read_to_string(p.root().join("schema.sql")).unwrap();
    fs::write(p.root().join("schema.sql"), schema.replace("name VARCHAR(100),", "name VARCHAR(100) NOT NULL,"))
        .unwrap();
    let r = p.migcheck(&["diff", "-m", "require pet names"]);
    assert!(!r.ok, "{r:?}");
    assert!(
        r.stderr.contains("error[data-error]: `") && r.stderr.contains("_require_pet_names.up.sql` fails on the fixtures' rows: NOT NULL constraint failed: migcheck_new_pets.name"),
        "{r:?}"
    );
    assert!(r.stderr.contains(&format!("the rows of `pets` come from `fixtures/{pets_version}.sql` line 2")), "{r:?}");
    let r = p.cargo(&["build"], false);
    assert!(!r.ok && r.stderr.contains("error[data-error]"), "{r:?}");
    let up_path = p.migration("_require_pet_names.up.sql");
    let up = fs::read_to_string(&up_path).unwrap();
    fs::write(&up_path, up.replacen("BEGIN;\n", "BEGIN;\nUPDATE pets SET name = 'unnamed' WHERE name IS NULL;\n", 1))
        .unwrap();
    let r = p.cargo(&["build"], false);
    assert!(r.ok, "the backfill makes the migration work on the fixture's rows: {r:?}");
    assert!(!r.stderr.contains("data-"), "{r:?}");
    assert!(p.migcheck(&["upgrade"]).ok);
    assert_eq!(p.query("SELECT name FROM pets"), ["Babbage"]);

    // 13. Check the program's queries against the migrations: `sql!` is
    // prepared on the database the build script just proved; a misspelt
    // column fails the build at the query.
    let manifest = fs::read_to_string(p.root().join("Cargo.toml")).unwrap();
    let with_macros = manifest.replace(
        &format!("migcheck = {{ path = {ws:?} }}"),
        &format!("migcheck = {{ path = {ws:?}, features = [\"macros\"] }}"),
    );
    assert_ne!(manifest, with_macros);
    fs::write(p.root().join("Cargo.toml"), with_macros).unwrap();
    let build_rs = fs::read_to_string(p.root().join("build.rs")).unwrap();
    assert!(build_rs.contains("Build::new().run()"), "{build_rs}");
    fs::write(
        p.root().join("build.rs"),
        build_rs.replace("Build::new().run()", "Build::new().expose_database().run()"),
    )
    .unwrap();
    let program = |column: &str| {
        format!(
            "static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();\n\n\
             fn main() -> Result<(), Box<dyn std::error::Error>> {{\n    \
             let mut conn = rusqlite::Connection::open(\"dev.db\")?;\n    MIGRATIONS.upgrade(&mut conn)?;\n    \
             let mut pets = conn.prepare(migcheck::sql!(\"SELECT {column} FROM pets WHERE owner_id = ?1\", 1))?;\n    \
             for name in pets.query_map([1], |r| r.get::<_, String>(0))? {{\n        println!(\"{{}}\", name?);\n    }}\n    \
             Ok(())\n}}\n"
        )
    };
    fs::write(p.root().join("src/main.rs"), program("nmae")).unwrap();
    let r = p.cargo(&["build"], false);
    assert!(
        !r.ok && r.stderr.contains("no such column: nmae") && r.stderr.contains("src/main.rs:6:"),
        "a misspelt column fails the build at the query: {r:?}"
    );
    fs::write(p.root().join("src/main.rs"), program("name")).unwrap();
    let r = p.cargo(&["run", "--quiet"], false);
    assert!(r.ok && r.stdout == "Babbage\n", "{r:?}");
}

/// This file's tests, for the binary's `main`.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    crate::tests![the_walkthrough_works_as_written,]
}
