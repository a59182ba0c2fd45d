//! The checker's configuration: what to check ([`Config`]), how the scratch
//! database is set up ([`ScratchConfig`]), and the environment variables and
//! values that set them.
//!
//! A leaf beside [`crate::model`]: it imports nothing else from the crate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::model::{Dialect, LOCK_FILE_NAME, Layout};

/// An application SQL function the scratch database stands in for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStub {
    /// The function's name.
    pub name: String,
    /// Number of arguments, or -1 for any number.
    pub arity: i32,
}

/// How the scratch database is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchConfig {
    /// Enforce foreign keys (default true).
    pub foreign_keys: bool,
    /// The longest a single migration file may run.
    pub timeout: Duration,
    /// Application functions to stub: each returns its first argument (or NULL).
    pub functions: Vec<FunctionStub>,
    /// The most the scratch database may grow to, in bytes (default 1 GiB):
    /// a migration that would make it larger fails with `scratch-limit`
    /// instead of exhausting the machine's memory.
    pub size_limit: u64,
}

/// The scratch database's default size limit: 1 GiB.
pub const DEFAULT_SIZE_LIMIT: u64 = 1 << 30;

impl Default for ScratchConfig {
    fn default() -> Self {
        ScratchConfig {
            foreign_keys: true,
            timeout: Duration::from_secs(10),
            functions: Vec::new(),
            size_limit: DEFAULT_SIZE_LIMIT,
        }
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Config {
    /// The migrations directory.
    pub dir: PathBuf,
    /// Paths in messages are shown relative to this directory.
    pub display_base: PathBuf,
    /// Locked mode: an unsealed migration is an error.
    pub locked: bool,
    /// Warnings are errors.
    pub deny_warnings: bool,
    /// Run the migrations on the scratch database (true unless only names,
    /// order and checksums are wanted).
    pub execute: bool,
    /// The scratch database's settings (timeout, foreign keys, function stubs).
    pub scratch: ScratchConfig,
    /// The declared schema (`schema.sql` beside the migrations directory by
    /// default). A file with no statement, or a missing default file, turns
    /// the drift check off.
    pub schema: Option<PathBuf>,
    /// Whether a missing schema file is an error (it was set explicitly).
    pub schema_required: bool,
    /// Where to keep the scratch database at the newest sealed migration
    /// between runs (the build script uses `OUT_DIR`); `None`: always cold.
    pub cache_dir: Option<PathBuf>,
    /// Keep a copy of the database every migration produced, for the
    /// application's own compilation to check its queries against
    /// (`Build::expose_database`): SQLite writes `head.sqlite` in this
    /// directory, PostgreSQL keeps a database on the scratch server named
    /// after it. Its URL is [`crate::check::Report::head_url`]. `None`: no copy.
    pub keep_head: Option<PathBuf>,
    /// The SQL dialect; `None`: as the lock file says, else SQLite.
    pub dialect: Option<Dialect>,
    /// A PostgreSQL server for the scratch database of Postgres-dialect
    /// migrations (`MIGCHECK_SCRATCH_URL`).
    pub postgres_scratch: Option<String>,
    /// The directory's layout; `None`: as the lock says, else detected.
    pub layout: Option<Layout>,
    /// Read the migrated schema into `check::Report::schema` even when no drift
    /// check needs it (the CLI's `diff` does; the build script does not, and
    /// saves reading thousands of schema rows).
    pub keep_schema: bool,
    /// Synthetic rows in every table before each migration (the data checks;
    /// `MIGCHECK_DATA=0` turns them off; fixtures load either way).
    pub data: bool,
    /// The fixtures directory (`fixtures/` beside the migrations directory by
    /// default): `<version>.sql` files of rows loaded right after their version.
    pub fixtures: Option<PathBuf>,
    /// Whether a missing fixtures directory is an error (it was set explicitly).
    pub fixtures_required: bool,
    /// The prelude (`prelude.sql` beside the migrations directory by default):
    /// what the deployment creates outside the migrations (an extension, a
    /// role), run on every scratch database before the first migration.
    pub prelude: Option<PathBuf>,
    /// Whether a missing prelude is an error (it was set explicitly).
    pub prelude_required: bool,
    /// Report findings (`data-loss`, `data-dependent`) of sealed migrations
    /// too; by default only migrations not sealed yet get them, since a
    /// sealed one is released and cannot change.
    pub sealed_findings: bool,
    /// The statements of the release still running during a rolling deploy
    /// (its `sql!` and `sqlx::query!` call sites, read from git by `check
    /// --base`). When `Some`, `breaking-change` is proven: each statement is
    /// prepared before and after every migration that reshapes a table, and
    /// one that stops preparing is reported with its file and line; drops and
    /// renames no statement uses are no longer reported, and NOT NULL or
    /// narrowed columns only where a statement writes the table. `None`: the
    /// findings are inferred from the columns alone.
    pub running_statements: Option<Vec<crate::rust_source::Call>>,
    /// Accept every finding that can be accepted (`migcheck lock --accept`):
    /// they are listed in `check::Report::accepted` instead of reported.
    pub accepting: bool,
    /// Measure each up statement's locks and rewrites on the PostgreSQL
    /// scratch database (`MIGCHECK_TRACE=0` turns it off).
    pub trace: bool,
    /// Warning codes not reported (`Build::allow`; the lock's `allow` lines add to them).
    pub allow: Vec<String>,
    /// Warning codes that fail the build (`Build::deny`; the lock's `deny` lines add to them).
    pub deny: Vec<String>,
}

impl Config {
    /// The defaults for the migrations directory `dir`: not locked, executed, schema file beside `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let display_base = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let schema = Some(default_schema_path(&dir));
        let fixtures = default_fixtures_path(&dir);
        let prelude = dir.parent().unwrap_or(Path::new("")).join("prelude.sql");
        Config {
            dir,
            display_base,
            locked: false,
            deny_warnings: false,
            execute: true,
            scratch: ScratchConfig::default(),
            schema,
            schema_required: false,
            cache_dir: None,
            keep_head: None,
            dialect: None,
            postgres_scratch: None,
            layout: None,
            keep_schema: true,
            data: true,
            fixtures: Some(fixtures),
            prelude: Some(prelude),
            prelude_required: false,
            fixtures_required: false,
            sealed_findings: false,
            running_statements: None,
            accepting: false,
            trace: true,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }

    /// Locked mode as the environment asks, read through `get` (the build
    /// script declares each variable it reads): `MIGCHECK_LOCKED=1`/`0` wins,
    /// else a set `CI` (as every CI service sets it) locks.
    pub fn locked_from_env(get: impl Fn(&str) -> Option<String>) -> bool {
        match get("MIGCHECK_LOCKED").as_deref().map(str::trim) {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            _ => get("CI").is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")),
        }
    }

    /// The checker's configuration for `dir` as the environment asks, read
    /// through `get` (the build script passes a reader that declares each
    /// variable to Cargo). The build script, the `migrations!` macro and the
    /// `migcheck` command all start here, so they honour the same variables:
    ///
    /// - `MIGCHECK_LOCKED` (`1`/`0`) and `CI`: locked mode ([`Config::locked_from_env`]);
    /// - `MIGCHECK_TIMEOUT`: seconds a migration file may run on the scratch database;
    /// - `MIGCHECK_SCRATCH_URL`: the PostgreSQL server for PostgreSQL-dialect migrations;
    /// - `MIGCHECK_SCRATCH_LIMIT`: the most the scratch database may grow to (`2GiB`);
    /// - `MIGCHECK_DATA` (`1`/`0`): synthetic rows in every table for the data checks;
    /// - `MIGCHECK_TRACE` (`1`/`0`): measuring each statement's locks and rewrites on PostgreSQL.
    ///
    /// ```
    /// use migcheck_core::config::Config;
    ///
    /// let env = |name: &str| (name == "MIGCHECK_TIMEOUT").then(|| "2.5".to_owned());
    /// let config = Config::from_env("migrations", env).unwrap();
    /// assert_eq!(config.scratch.timeout.as_millis(), 2500);
    /// assert!(!config.locked);
    /// ```
    pub fn from_env(dir: impl Into<PathBuf>, get: impl Fn(&str) -> Option<String>) -> Result<Config, EnvError> {
        let mut config = Config::new(dir);
        config.locked = Config::locked_from_env(&get);
        if let Some(text) = get("MIGCHECK_TIMEOUT") {
            config.scratch.timeout = parse_seconds(&text).ok_or_else(|| EnvError {
                name: "MIGCHECK_TIMEOUT",
                message: format!("`{text}` is not a number of seconds (e.g. `MIGCHECK_TIMEOUT=30`)"),
            })?;
        }
        if let Some(text) = get("MIGCHECK_SCRATCH_LIMIT") {
            config.scratch.size_limit = parse_size(&text).ok_or_else(|| EnvError {
                name: "MIGCHECK_SCRATCH_LIMIT",
                message: format!("`{text}` is not a size (e.g. `MIGCHECK_SCRATCH_LIMIT=2GiB`, `512MiB`, bytes)"),
            })?;
        }
        config.postgres_scratch = get("MIGCHECK_SCRATCH_URL").filter(|u| !u.trim().is_empty());
        let switch = |name: &'static str, what: &str| -> Result<Option<bool>, EnvError> {
            let Some(text) = get(name) else { return Ok(None) };
            match text.trim() {
                "1" | "true" | "yes" | "on" | "" => Ok(Some(true)),
                "0" | "false" | "no" | "off" => Ok(Some(false)),
                _ => Err(EnvError { name, message: format!("`{text}` is not `1` or `0` ({what} on or off)") }),
            }
        };
        if let Some(on) = switch("MIGCHECK_DATA", "synthetic rows")? {
            config.data = on;
        }
        if let Some(on) = switch("MIGCHECK_TRACE", "measuring locks and rewrites")? {
            config.trace = on;
        }
        Ok(config)
    }

    /// The lock file's path: `migrations.lock` in the directory.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_FILE_NAME)
    }
}

/// Where the declared schema is unless configured: `schema.sql` beside the
/// migrations directory.
pub fn default_schema_path(migrations_dir: &Path) -> PathBuf {
    migrations_dir.parent().unwrap_or(Path::new("")).join("schema.sql")
}

/// Where the fixtures are unless configured: `fixtures/` beside the
/// migrations directory.
pub fn default_fixtures_path(migrations_dir: &Path) -> PathBuf {
    migrations_dir.parent().unwrap_or(Path::new("")).join("fixtures")
}

/// Every environment variable [`Config::from_env`] reads.
pub const ENV_VARS: [&str; 7] = [
    "MIGCHECK_LOCKED",
    "CI",
    "MIGCHECK_TIMEOUT",
    "MIGCHECK_SCRATCH_URL",
    "MIGCHECK_SCRATCH_LIMIT",
    "MIGCHECK_DATA",
    "MIGCHECK_TRACE",
];

/// An environment variable with a value migcheck cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with its value.
    pub message: String,
}

impl std::fmt::Display for EnvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "environment variable `{}`: {}", self.name, self.message)
    }
}

impl std::error::Error for EnvError {}

/// A positive, finite number of seconds.
pub fn parse_seconds(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0).map(Duration::from_secs_f64)
}

/// A size: bytes, or a number with `KiB`, `MiB`, `GiB` (or `KB`, `MB`, `GB`,
/// also meaning powers of 1024, as SQLite's own limits do); at least 1 MiB.
///
/// ```
/// # use migcheck_core::config::parse_size;
/// assert_eq!(parse_size("2GiB"), Some(2 << 30));
/// assert_eq!(parse_size("512 MiB"), Some(512 << 20));
/// assert_eq!(parse_size("12"), None, "less than 1 MiB");
/// ```
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().ok()?;
    let unit: u64 = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit).filter(|bytes| *bytes >= 1 << 20)
}

/// A size as people read it (`1 GiB`, `512 MiB`, bytes otherwise).
pub fn show_size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size(" 3 gb "), Some(3 << 30));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        for bad in ["", "x", "-1GiB", "1.5GiB", "2TB", "1KiB", "99999999999999999999GiB"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(
            (show_size(1 << 30), show_size(64 << 20), show_size(1_500_000)),
            ("1 GiB".into(), "64 MiB".into(), "1500000 bytes".into())
        );
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_seconds(" 10 "), Some(Duration::from_secs(10)));
        for bad in ["", "x", "-1", "0", "inf", "NaN"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_variable_comes_from_the_environment_reader() {
        let env = |name: &str| {
            let value = match name {
                "CI" => "true",
                "MIGCHECK_TIMEOUT" => "3",
                "MIGCHECK_SCRATCH_LIMIT" => "2GiB",
                "MIGCHECK_SCRATCH_URL" => "postgres://u@h/db",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let config = Config::from_env("m", env).unwrap();
        assert!(config.locked);
        assert_eq!(config.scratch.timeout, Duration::from_secs(3));
        assert_eq!(config.scratch.size_limit, 2 << 30);
        assert_eq!(config.postgres_scratch.as_deref(), Some("postgres://u@h/db"));
        let read = std::cell::RefCell::new(Vec::new());
        let _ = Config::from_env("m", |name: &str| {
            read.borrow_mut().push(name.to_owned());
            None
        });
        for name in read.into_inner() {
            assert!(ENV_VARS.contains(&name.as_str()), "{name} is read but not in ENV_VARS");
        }
        let err = Config::from_env("m", |n: &str| (n == "MIGCHECK_TIMEOUT").then(|| "soon".to_owned())).unwrap_err();
        assert_eq!(err.name, "MIGCHECK_TIMEOUT");
    }
}
