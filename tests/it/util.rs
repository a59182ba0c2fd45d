//! Fixtures: a small crate on disk whose `build.rs` runs migcheck-build,
//! built with the real `cargo` into one shared target directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (this package's directory).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory the fixtures build in: this build's own, whatever
/// CARGO_TARGET_DIR says. Cargo releases it once the test binaries are built,
/// and a fixture's dependencies that the workspace compiled with the same
/// features and profile (rusqlite and its bundled SQLite, sha2, …) are reused
/// instead of compiled again.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").to_path_buf()
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub name: &'static str,
}

/// A fixture built while holding the turn. Fixtures take turns: they share a
/// target directory, and one fixture's environment (`MIGCHECK_SCRATCH_URL`)
/// re-runs the `migcheck` package's own build script, which would make another
/// fixture's "nothing changed" build see a rebuilt dependency.
pub struct Turned {
    fixture: Fixture,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Turned {
    type Target = Fixture;
    fn deref(&self) -> &Fixture {
        &self.fixture
    }
}

/// Whose turn it is to build.
pub static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the turn to build.
pub fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Fixture {
    /// A crate named `name` with the given `build.rs` body. Each fixture needs
    /// its own name: Cargo keys a package's build output by name and version,
    /// not by path, so two fixtures of one name would share fingerprints.
    pub fn with_turn(name: &'static str, build_rs: &str) -> Turned {
        let turn = take_turn();
        Turned { fixture: Fixture::shared(name, build_rs), _turn: turn }
    }

    /// A fixture kept across tests, which take the turn ([`take_turn`])
    /// for each build themselves.
    pub fn shared(name: &'static str, build_rs: &str) -> Fixture {
        let dir = tempfile::Builder::new().prefix("migcheck-e2e-").tempdir().unwrap();
        let root = workspace();
        let root = root.display();
        let manifest = format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
migcheck = {{ path = "{root}" }}
rusqlite = {{ version = "0.43", default-features = false, features = ["bundled"] }}

[build-dependencies]
migcheck-build = {{ path = "{root}/crates/migcheck-build" }}

[profile.dev.package.libsqlite3-sys]
opt-level = 3

[workspace]
"#
        );
        fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        // The workspace's lock file pins the same dependency versions.
        fs::copy(workspace().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
        fs::write(dir.path().join("build.rs"), format!("fn main() {{\n    {build_rs}\n}}\n")).unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(
            dir.path().join("src/main.rs"),
            r#"static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();

fn main() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    let report = MIGRATIONS.upgrade(&mut conn).unwrap();
    for m in report.applied {
        println!("applied {} {}", m.version, m.name);
    }
}
"#,
        )
        .unwrap();
        fs::create_dir(dir.path().join("migrations")).unwrap();
        Fixture { dir, name }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn migrations(&self) -> PathBuf {
        self.path().join("migrations")
    }

    /// Replaces the migrations directory with `files`.
    pub fn set_migrations(&self, files: &[(&str, &str)]) {
        let dir = self.migrations();
        fs::remove_dir_all(&dir).unwrap();
        fs::create_dir(&dir).unwrap();
        for (name, text) in files {
            // Other tools' layouts put migrations in directories of their own.
            fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
            fs::write(dir.join(name), text).unwrap();
        }
    }

    pub fn write(&self, name: &str, text: &str) {
        fs::write(self.migrations().join(name), text).unwrap();
    }

    /// `cargo <args>` in the fixture, with migcheck's variables cleared and
    /// `env` set.
    pub fn cargo(&self, args: &[&str], env: &[(&str, &str)]) -> Result {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(args)
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", target_dir())
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CI")
            .env_remove("MIGCHECK_LOCKED")
            .env_remove("MIGCHECK_TIMEOUT")
            // A developer's scratch server is not the test's: those that
            // want one pass it.
            .env_remove("MIGCHECK_SCRATCH_URL")
            .env_remove("RUSTFLAGS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut result = Result::from(cmd.output().unwrap());
        result.prefix = format!("{}@0.1.0: ", self.name);
        result
    }

    pub fn build(&self, env: &[(&str, &str)]) -> Result {
        self.cargo(&["build", "--offline"], env)
    }
}

#[derive(Debug)]
pub struct Result {
    /// What Cargo puts before each line the build script prints.
    pub prefix: String,
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Result {
    fn from(o: Output) -> Self {
        Result {
            prefix: String::new(),
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Result {
    /// The build-script lines Cargo printed, without its `error: <name>@0.1.0: ` prefixes.
    pub fn messages(&self) -> String {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("error: ").or_else(|| l.strip_prefix("warning: ")))
            .filter_map(|l| l.strip_prefix(self.prefix.as_str()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
