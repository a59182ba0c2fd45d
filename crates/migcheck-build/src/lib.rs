//! The build-script side of migcheck: `cargo build` proves the migrations sound.
//!
//! ```no_run
//! // build.rs
//! migcheck_build::Build::new().run();
//! ```
//!
//! [`Build::run`] scans `migrations/`, checks names, order and checksums
//! against `migrations/migrations.lock`, runs every migration on a sandboxed
//! in-memory SQLite database, and writes the verified migrations into
//! `OUT_DIR` for `migcheck::include_migrations!()`. Each problem becomes a
//! rustc-style error (the build fails) or warning. It writes nothing outside
//! `OUT_DIR`, and Cargo re-runs it only when the migrations directory or a
//! migcheck environment variable changes.
//!
//! Environment variables read (each declared with `rerun-if-env-changed`):
//! `MIGCHECK_LOCKED` (`1` locked mode, `0` not, whatever `CI` says), `CI`
//! (locked mode when set, as on every CI service), `MIGCHECK_TIMEOUT` (seconds
//! a single migration may run on the scratch database; default 10),
//! `MIGCHECK_SCRATCH_LIMIT` (the most the scratch database may grow to, e.g.
//! `2GiB`; default 1 GiB),
//! `MIGCHECK_SCRATCH_URL` (a PostgreSQL server for Postgres-dialect checks),
//! `MIGCHECK_TIMINGS` (`1`: a warning with the time each phase took),
//! `MIGCHECK_KEEP_DATABASE_URL` (`1`: with [`Build::expose_database`], leave
//! `DATABASE_URL` as the environment sets it).

#![warn(missing_docs)]

mod cargo;

use migcheck_core::codegen;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

// What this crate's API takes and returns: nothing else of migcheck-core.
pub use migcheck_core::check::Report;
pub use migcheck_core::diagnostic::{Diagnostic, Kind, Severity};
pub use migcheck_core::model::Dialect;
pub use migcheck_core::model::Layout;
pub use migcheck_core::model::Migration;
pub use migcheck_core::seal::Sealed;

use migcheck_core::config::Config;
use migcheck_core::config::FunctionStub;

/// Configures and runs the build-time check. Setters chain:
/// `Build::new().dir("db/migrations").locked(true).run()`.
#[derive(Debug, Clone, Default)]
pub struct Build {
    dir: Option<PathBuf>,
    schema: Option<PathBuf>,
    dialect: Option<Dialect>,
    layout: Option<Layout>,
    locked: Option<bool>,
    deny_warnings: bool,
    foreign_keys: Option<bool>,
    timeout: Option<Duration>,
    scratch_limit: Option<u64>,
    data_checks: Option<bool>,
    fixtures: Option<PathBuf>,
    allow: Vec<String>,
    deny: Vec<String>,
    prelude: Option<PathBuf>,
    functions: Vec<FunctionStub>,
    out_dir: Option<PathBuf>,
    expose_database: bool,
}

/// What a successful [`Build::try_run`] produced.
#[derive(Debug)]
pub struct Output {
    /// The generated file `include_migrations!()` includes.
    pub generated: PathBuf,
    /// The full report; its diagnostics are warnings only.
    pub report: Report,
}

/// Why the build-time check failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The migrations failed the checks; every problem found is here.
    Check {
        /// Errors and warnings, in the order found.
        diagnostics: Vec<Diagnostic>,
    },
    /// An environment variable has a value migcheck cannot use, or one Cargo
    /// sets is missing (the build was not run by Cargo).
    Env {
        /// The variable.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Check { diagnostics } => {
                let mut first = true;
                for d in diagnostics {
                    if !first {
                        f.write_str("\n\n")?;
                    }
                    first = false;
                    f.write_str(&d.render())?;
                }
                Ok(())
            }
            Error::Env { name, message } => write!(f, "environment variable `{name}`: {message}"),
            Error::Io { path, source } => write!(f, "cannot write `{}`: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Build {
    /// The defaults: `migrations/` beside `Cargo.toml`, `schema.sql` beside
    /// it if present, locked mode from `CI` / `MIGCHECK_LOCKED`.
    ///
    /// ```no_run
    /// // build.rs: `fn main` calls
    /// migcheck_build::Build::new()
    ///     .dir("db/migrations")
    ///     .timeout(std::time::Duration::from_secs(30))
    ///     .deny_warnings()
    ///     .run();
    /// ```
    pub fn new() -> Self {
        Build::default()
    }

    /// The migrations directory, relative to the package root (default `migrations`).
    pub fn dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The declared schema the migrations must produce (drift check), relative
    /// to the package root. Default: `schema.sql` beside the migrations
    /// directory, when it exists. A file with only comments turns the check
    /// off while keeping the file watched (`migcheck init` writes one).
    pub fn schema(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.schema = Some(path.as_ref().to_owned());
        self
    }

    /// The migrations' SQL dialect (default: what the lock file's `dialect`
    /// line says, else SQLite). PostgreSQL migrations are run on a scratch
    /// database created on `MIGCHECK_SCRATCH_URL`; without it the build checks
    /// names, order and checksums and warns that the SQL was not run.
    pub fn dialect(&mut self, dialect: Dialect) -> &mut Self {
        self.dialect = Some(dialect);
        self
    }

    /// The directory's layout, when it is another tool's (diesel, refinery,
    /// dbmate, goose, sql-migrate). Default: the lock file's `layout` line, else
    /// detected from the files.
    pub fn layout(&mut self, layout: Layout) -> &mut Self {
        self.layout = Some(layout);
        self
    }

    /// Locked mode: an unsealed migration fails the build. Default: on when
    /// `MIGCHECK_LOCKED=1` or `CI` is set; `MIGCHECK_LOCKED=0` turns it off.
    pub fn locked(&mut self, locked: bool) -> &mut Self {
        self.locked = Some(locked);
        self
    }

    /// Treat warnings (unsealed migrations, `PRAGMA foreign_keys` inside a
    /// transaction, shell commands, empty migrations) as errors.
    pub fn deny_warnings(&mut self) -> &mut Self {
        self.deny_warnings = true;
        self
    }

    /// Whether the scratch database enforces foreign keys (default true, as
    /// sqlx and rusqlite's bundled SQLite do). Set it to match your application.
    pub fn foreign_keys(&mut self, enforce: bool) -> &mut Self {
        self.foreign_keys = Some(enforce);
        self
    }

    /// The longest one migration file may run on the scratch database
    /// (default 10 s; `MIGCHECK_TIMEOUT` in seconds overrides the default).
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = Some(timeout);
        self
    }

    /// The most the in-memory scratch database may grow to, in bytes (default
    /// 1 GiB; `MIGCHECK_SCRATCH_LIMIT`, e.g. `2GiB`, overrides the default). A
    /// migration that needs more fails with `scratch-limit` instead of
    /// exhausting the build machine's memory.
    pub fn scratch_limit(&mut self, bytes: u64) -> &mut Self {
        self.scratch_limit = Some(bytes);
        self
    }

    /// Whether every table gets synthetic rows before each migration runs, so
    /// that the build proves the migrations on tables holding data (default
    /// on; `MIGCHECK_DATA=0` turns it off). The fixtures load either way.
    ///
    /// With rows, a migration that fails only on data (a UNIQUE index over
    /// duplicates, a NOT NULL column without a default) is `data-dependent`,
    /// rows or values it loses are `data-loss`, and a down that does not give
    /// the rows back is `down-data-mismatch`.
    ///
    /// ```no_run
    /// migcheck_build::Build::new().data_checks(false).run();
    /// ```
    pub fn data_checks(&mut self, on: bool) -> &mut Self {
        self.data_checks = Some(on);
        self
    }

    /// The fixtures directory, relative to the package root (default
    /// `fixtures` beside the migrations directory, when it exists). A fixture
    /// `<version>.sql` (or `<version>_<words>.sql`) holds `INSERT` statements
    /// of rows like production's, loaded right after migration `<version>` on
    /// every check; a migration those rows make fail is a `data-error`.
    ///
    /// ```no_run
    /// migcheck_build::Build::new().fixtures("db/fixtures").run();
    /// ```
    pub fn fixtures(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.fixtures = Some(dir.as_ref().to_owned());
        self
    }

    /// The prelude, relative to the package root (default `prelude.sql`
    /// beside the migrations directory, when it exists): SQL for what the
    /// deployment creates outside the migrations (an extension such as
    /// `pg_trgm`, a role, a schema), run on every scratch database before
    /// the first migration and never applied at run time.
    ///
    /// ```no_run
    /// migcheck_build::Build::new().prelude("db/prelude.sql").run();
    /// ```
    pub fn prelude(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.prelude = Some(path.as_ref().to_owned());
        self
    }

    /// Warnings not to report, by code, for the whole project: a deployment
    /// hazard that does not matter where you deploy (`"table-rewrite"` when
    /// every table is small). The lock's `allow <code>` lines do the same for
    /// the build and the CLI alike; a file accepts its own findings with
    /// `-- migcheck: allow <code>`.
    ///
    /// ```no_run
    /// migcheck_build::Build::new().allow(&["table-rewrite"]).run();
    /// ```
    pub fn allow(&mut self, codes: &[&str]) -> &mut Self {
        self.allow.extend(codes.iter().map(|c| c.to_string()));
        self
    }

    /// Warnings that fail the build, by code (`"blocking-lock"`,
    /// `"breaking-change"`); the lock's `deny <code>` lines do the same for
    /// the build and the CLI alike. `deny_warnings` denies them all.
    ///
    /// ```no_run
    /// migcheck_build::Build::new().deny(&["blocking-lock", "index-not-concurrent"]).run();
    /// ```
    pub fn deny(&mut self, codes: &[&str]) -> &mut Self {
        self.deny.extend(codes.iter().map(|c| c.to_string()));
        self
    }

    /// Declares an SQL function the application registers on its connections
    /// (`normalize(text)`: `.function("normalize", 1)`; `-1` for any number of
    /// arguments). The scratch database stands in for it with a function that
    /// returns its first argument.
    pub fn function(&mut self, name: impl Into<String>, arity: i32) -> &mut Self {
        self.functions.push(FunctionStub { name: name.into(), arity });
        self
    }

    /// Compiles the crate against the database its migrations make: after a
    /// passing check a copy of it is kept (SQLite: `head.sqlite` in
    /// `OUT_DIR`; PostgreSQL: a database on the `MIGCHECK_SCRATCH_URL`
    /// server, replaced at each check) and the crate's own compilation sees
    /// `DATABASE_URL` pointing at it. `sqlx::query!` and its family then
    /// check every query against exactly the schema the migrations produce,
    /// with no `DATABASE_URL`, `.env` or `.sqlx` to set up: a migration that
    /// drops a column a query reads fails `cargo build` with sqlx's error.
    ///
    /// This `DATABASE_URL` wins over one in the environment or in `.env`
    /// (the application's compilation only: the program still reads yours
    /// at run time). `MIGCHECK_KEEP_DATABASE_URL=1` keeps yours instead, and
    /// `SQLX_OFFLINE=true` makes sqlx read its `.sqlx` cache whatever the
    /// URL. `MIGCHECK_DATABASE_URL` is set either way (for `migcheck::sql!`).
    ///
    /// ```no_run
    /// // build.rs
    /// migcheck_build::Build::new().expose_database().run();
    /// ```
    /// ```ignore
    /// // src/main.rs: checked against the migrated schema at compile time
    /// let pets = sqlx::query!("SELECT id, name FROM pets WHERE owner_id = ?", owner)
    ///     .fetch_all(&pool)
    ///     .await?;
    /// ```
    pub fn expose_database(&mut self) -> &mut Self {
        self.expose_database = true;
        self
    }

    /// Where to write the generated file (default `OUT_DIR`).
    pub fn out_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.out_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the check, prints its warnings and errors for Cargo, and fails the
    /// build on errors. Use [`Build::try_run`] to handle the result yourself.
    pub fn run(&self) {
        match self.try_run() {
            Ok(output) => {
                // Cargo shows warnings only: notes go the same way, said as notes.
                for d in output.report.diagnostics.iter().filter(|d| !d.is_error()) {
                    cargo::warning(&d.render());
                }
                if let Some(line) = accepted_line(&output.report) {
                    cargo::warning(&line);
                }
            }
            Err(Error::Check { diagnostics }) => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                for d in &diagnostics {
                    if d.is_error() {
                        cargo::error(&d.render());
                    } else {
                        cargo::warning(&d.render());
                    }
                }
                cargo::error(&format!(
                    "migcheck: {errors} error{} in the migrations; `cargo build` cannot continue until {} fixed",
                    if errors == 1 { "" } else { "s" },
                    if errors == 1 { "it is" } else { "they are" }
                ));
            }
            Err(err) => cargo::error(&format!("migcheck: {err}")),
        }
    }

    /// Runs the check and writes the generated file. Prints only the
    /// `rerun-if-changed` / `rerun-if-env-changed` lines Cargo needs.
    pub fn try_run(&self) -> Result<Output, Error> {
        let manifest_dir = PathBuf::from(cargo::cargo_env("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into()));
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(cargo::cargo_env("OUT_DIR").ok_or_else(|| {
                Error::Env {
                    name: "OUT_DIR".into(),
                    message: "not set: `Build::run` is meant for a build script (build.rs) run by Cargo; \
                          outside one, set `.out_dir(…)`"
                        .into(),
                }
            })?),
        };
        let dir = manifest_dir.join(self.dir.as_deref().unwrap_or(Path::new("migrations")));
        cargo::rerun_if_changed(&dir);
        let mut config =
            Config::from_env(&dir, cargo::env).map_err(|e| Error::Env { name: e.name.into(), message: e.message })?;
        config.display_base = manifest_dir.clone();
        // The scratch database at the newest sealed migration, for the next build.
        config.cache_dir = Some(out_dir.join("migcheck"));
        if self.expose_database {
            config.keep_head = Some(out_dir.join("migcheck"));
        }
        config.keep_schema = false;
        config.dialect = self.dialect;
        config.layout = self.layout;
        if let Some(path) = &self.schema {
            config.schema = Some(manifest_dir.join(path));
            config.schema_required = true;
        }
        // A path that does not exist would re-run the script on every build:
        // watch the schema file only when it is there (the directory is always
        // watched, so a new migration still re-runs the check).
        if let Some(schema) = config.schema.as_ref().filter(|p| p.exists()) {
            cargo::rerun_if_changed(schema);
        }
        if let Some(dir) = &self.fixtures {
            config.fixtures = Some(manifest_dir.join(dir));
            config.fixtures_required = true;
        }
        if let Some(path) = &self.prelude {
            config.prelude = Some(manifest_dir.join(path));
            config.prelude_required = true;
        }
        if let Some(prelude) = config.prelude.as_ref().filter(|p| p.exists()) {
            cargo::rerun_if_changed(prelude);
        }
        // Likewise the fixtures directory (Cargo watches a directory's files).
        if let Some(fixtures) = config.fixtures.as_ref().filter(|p| p.exists()) {
            cargo::rerun_if_changed(fixtures);
        }
        if let Some(on) = self.data_checks {
            config.data = on;
        }
        config.allow = self.allow.clone();
        config.deny = self.deny.clone();
        if let Some(locked) = self.locked {
            config.locked = locked;
        }
        config.deny_warnings = self.deny_warnings;
        config.scratch.foreign_keys = self.foreign_keys.unwrap_or(true);
        config.scratch.functions = self.functions.clone();
        if let Some(limit) = self.scratch_limit {
            config.scratch.size_limit = limit;
        }
        if let Some(timeout) = self.timeout {
            config.scratch.timeout = timeout;
        }
        let started = std::time::Instant::now();
        let mut report = migcheck_core::check::check(&config);
        let checked = started.elapsed();
        if report.has_errors() {
            return Err(Error::Check { diagnostics: report.diagnostics });
        }
        let shown = migcheck_core::scan::display_path(&dir, &config.display_base);
        let generated = out_dir.join(codegen::GENERATED);
        let code = codegen::render_cached(
            &report.migrations,
            codegen::Squash {
                baseline: report.baseline.as_ref(),
                squashed: &report.squashed,
                foreign_keys_off: report.lock.foreign_keys_off || !report.scratch.foreign_keys,
            },
            report.layout,
            &shown,
            &out_dir.join("migcheck"),
        );
        codegen::write_if_changed(&generated, &code).map_err(|source| Error::Io { path: generated.clone(), source })?;
        if let Some(url) = &report.head_url {
            cargo::rustc_env("MIGCHECK_DATABASE_URL", url);
            if !cargo::env("MIGCHECK_KEEP_DATABASE_URL").is_some_and(|v| !v.is_empty() && v != "0") {
                cargo::rustc_env("DATABASE_URL", url);
            }
        }
        report.timings.push(("embed", started.elapsed() - checked));
        if cargo::env("MIGCHECK_TIMINGS").is_some_and(|v| v != "0") {
            cargo::warning(&timings(&report, started.elapsed()));
        }
        Ok(Output { generated, report })
    }
}

/// The one line that says how many findings the lock accepts, if any.
fn accepted_line(report: &Report) -> Option<String> {
    let n = report.accepted_in_lock();
    (n > 0).then(|| {
        format!(
            "migcheck: {n} finding{} of sealed migrations accepted in the lock (`accept` lines; `migcheck lock --accept` records them)",
            if n == 1 { "" } else { "s" }
        )
    })
}

/// The `MIGCHECK_TIMINGS=1` line: where the build script's time went.
fn timings(report: &Report, total: Duration) -> String {
    let phases: Vec<String> =
        report.timings.iter().map(|(phase, d)| format!("{phase} {:.1} ms", d.as_secs_f64() * 1e3)).collect();
    format!(
        "migcheck: checked {} migrations in {:.1} ms{}: {}",
        report.migrations.len(),
        total.as_secs_f64() * 1e3,
        if report.from_cache { " (the sealed ones' database from the cache)" } else { "" },
        phases.join(", ")
    )
}

/// Seals the migrations of `dir` in its lock file (`migcheck lock` calls this).
///
/// Runs every check first and refuses to seal when they fail. It re-seals an
/// edited migration only when it is the newest sealed one; [`lock_force`]
/// seals the directory as it is.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("1_owners.sql"), "CREATE TABLE owners (id INTEGER PRIMARY KEY);")?;
/// let sealed = migcheck_build::lock(dir.path())?;
/// assert_eq!(sealed.added, [1]);
/// assert!(std::fs::read_to_string(dir.path().join("migrations.lock"))?.contains("1 "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn lock(dir: impl AsRef<Path>) -> Result<Sealed, Error> {
    seal(dir.as_ref(), false)
}

/// Like [`lock`], but also re-seals edited and deleted sealed migrations and
/// rewrites a corrupt lock file. Only for migrations no database has applied.
pub fn lock_force(dir: impl AsRef<Path>) -> Result<Sealed, Error> {
    seal(dir.as_ref(), true)
}

fn seal(dir: &Path, force: bool) -> Result<Sealed, Error> {
    migcheck_core::seal::seal(&Config::new(dir), force).map_err(|diagnostics| Error::Check { diagnostics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_run_writes_the_generated_file_only_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::write(migrations.join("1_a.sql"), "CREATE TABLE a(x);").unwrap();
        let out = dir.path().join("out");
        let output = Build::new().dir(&migrations).out_dir(&out).locked(false).try_run().unwrap();
        let text = std::fs::read_to_string(&output.generated).unwrap();
        assert!(text.contains("::migcheck::Migration::__generated(1, r\"a\""), "{text}");
        let modified = std::fs::metadata(&output.generated).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        Build::new().dir(&migrations).out_dir(&out).locked(false).try_run().unwrap();
        assert_eq!(std::fs::metadata(&output.generated).unwrap().modified().unwrap(), modified);

        let err = Build::new().dir(&migrations).out_dir(&out).locked(true).try_run().unwrap_err();
        assert!(matches!(&err, Error::Check { diagnostics } if diagnostics[0].kind == Kind::Unsealed));
        assert!(err.to_string().contains("error[unsealed]"), "{err}");
    }
}
