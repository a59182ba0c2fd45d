//! The shapes every other module shares: what a migration, a script, a
//! transaction mode, a layout, a dialect and the checker's configuration are.
//!
//! This module is a leaf: it imports nothing from the rest of the crate, and
//! every other module may import it. It is compiled without the `checker`
//! feature too, since the runtime embeds [`Mode`] in every migration.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file's name inside the migrations directory.
pub const LOCK_FILE_NAME: &str = "migrations.lock";

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The chain hash before the first migration.
pub const CHAIN_START: Digest = [0; 32];

/// How a migration file runs: decided when it is checked, embedded in the
/// binary, and followed by the runtime on every engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// In a transaction of its own (the default).
    Transaction,
    /// `-- migcheck: no-transaction` (or another tool's marker): outside any
    /// transaction, as written.
    NoTransaction,
    /// The file has its own `BEGIN … COMMIT`: run as written.
    SelfManaged,
}

/// A migrations directory layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `<v>_<d>.sql`, `<v>_<d>.up.sql` + `.down.sql` (sqlx, golang-migrate).
    Native,
    /// `<timestamp>_<d>/up.sql` + `down.sql` directories (diesel).
    Diesel,
    /// `V<n>__<d>.sql`, and Flyway's undo files `U<n>__<d>.sql`.
    Refinery,
    /// One file with `-- migrate:up` / `-- migrate:down` sections (dbmate).
    Dbmate,
    /// One file with `-- +goose Up` / `-- +goose Down` sections (goose).
    Goose,
    /// One file with `-- +migrate Up` / `-- +migrate Down` sections (sql-migrate).
    SqlMigrate,
    /// The project's own names, read by the pattern of the lock's
    /// `layout custom <regex>` line (`layout::CustomLayout`).
    Custom,
}

impl Layout {
    /// Every layout, migcheck's own first.
    pub const ALL: [Layout; 7] = [
        Layout::Native,
        Layout::Diesel,
        Layout::Refinery,
        Layout::Dbmate,
        Layout::Goose,
        Layout::SqlMigrate,
        Layout::Custom,
    ];

    /// The layout's name, as `--layout` and the lock file's `layout` line spell it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Native => "migcheck",
            Layout::Diesel => "diesel",
            Layout::Refinery => "refinery",
            Layout::Dbmate => "dbmate",
            Layout::Goose => "goose",
            Layout::SqlMigrate => "sql-migrate",
            Layout::Custom => "custom",
        }
    }

    /// The layout named `name` (`migcheck`, `diesel`, `refinery`, `dbmate`, `goose`, `sql-migrate`).
    pub fn parse(name: &str) -> Option<Layout> {
        match name.trim().to_ascii_lowercase().as_str() {
            "migcheck" | "native" | "sqlx" | "golang-migrate" => Some(Layout::Native),
            "diesel" => Some(Layout::Diesel),
            "refinery" | "flyway" => Some(Layout::Refinery),
            "dbmate" => Some(Layout::Dbmate),
            "goose" => Some(Layout::Goose),
            "sql-migrate" => Some(Layout::SqlMigrate),
            "custom" => Some(Layout::Custom),
            _ => None,
        }
    }

    /// Whether a version 0 is a real migration in this layout (diesel's
    /// `00000000000000_diesel_initial_setup`, refinery's `V0__`).
    pub fn allows_version_zero(self) -> bool {
        matches!(self, Layout::Diesel | Layout::Refinery)
    }
}

/// The SQL dialect of a migrations directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Checked on an in-memory SQLite database (the default).
    Sqlite,
    /// Checked on a scratch database on `MIGCHECK_SCRATCH_URL`.
    Postgres,
}

impl Dialect {
    /// The dialect's name, as the lock file's `dialect` line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

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

/// The findings a migration file accepts with `-- migcheck: allow <code>`:
/// a set of [`Allow::CODES`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Allow(u32);

impl Allow {
    /// The codes `allow` accepts: the warnings about what a migration would
    /// do to a production database.
    pub const CODES: [&'static str; 8] = [
        "data-loss",
        "data-dependent",
        "table-rewrite",
        "blocking-lock",
        "validating-constraint",
        "index-not-concurrent",
        "no-lock-timeout",
        "breaking-change",
    ];

    /// Adds `code`; false when it is not one of [`Allow::CODES`].
    pub fn insert(&mut self, code: &str) -> bool {
        match Allow::CODES.iter().position(|c| *c == code) {
            Some(i) => {
                self.0 |= 1 << i;
                true
            }
            None => false,
        }
    }

    /// Whether the file accepts findings with this code.
    pub fn allows(self, code: &str) -> bool {
        Allow::CODES.iter().position(|c| *c == code).is_some_and(|i| self.0 & (1 << i) != 0)
    }

    /// Whether no code is accepted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The accepted codes, in [`Allow::CODES`] order.
    pub fn codes(self) -> impl Iterator<Item = &'static str> {
        Allow::CODES.into_iter().enumerate().filter(move |(i, _)| self.0 & (1 << i) != 0).map(|(_, c)| c)
    }
}

/// What reading one file's SQL found that decides how it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Findings {
    /// It holds at least one statement (not only comments).
    pub has_statements: bool,
    /// A statement of its own starts with `BEGIN`: it manages its transaction.
    pub begins: bool,
    /// Its directives (or its tool's marker) ask to run outside a transaction.
    pub no_transaction: bool,
    /// The data findings its directives accept.
    pub allow: Allow,
}

impl Findings {
    /// How a file with these findings runs.
    pub fn mode(self) -> Mode {
        if self.no_transaction {
            Mode::NoTransaction
        } else if self.begins {
            Mode::SelfManaged
        } else {
            Mode::Transaction
        }
    }
}

/// What reading a whole file's SQL found, for a file without problems
/// (directives understood, no `allow`, comments closed, no sqlite3 shell commands): the
/// next build skips the reading when the bytes are the same. Files with a
/// problem, and halves of single-file layouts, keep [`Analysis::NONE`] and
/// are read again each time, so that their diagnostics are given again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Analysis(u8);

impl Analysis {
    /// Nothing known yet.
    pub const NONE: Analysis = Analysis(0);
    const KNOWN: u8 = 1;
    const STATEMENTS: u8 = 2;
    const BEGINS: u8 = 4;
    const NO_TRANSACTION: u8 = 8;
    /// Read as PostgreSQL (its quoting differs from SQLite's).
    const POSTGRES: u8 = 16;

    /// A clean file's findings, known, as read in `dialect`.
    pub fn new(found: Findings, dialect: Dialect) -> Analysis {
        let bit = |b: bool, v: u8| if b { v } else { 0 };
        Analysis(
            Analysis::KNOWN
                | bit(found.has_statements, Analysis::STATEMENTS)
                | bit(found.begins, Analysis::BEGINS)
                | bit(found.no_transaction, Analysis::NO_TRANSACTION)
                | bit(dialect == Dialect::Postgres, Analysis::POSTGRES),
        )
    }

    /// The findings as one byte, as the memo stores them.
    pub fn to_bits(self) -> u8 {
        self.0
    }

    /// Findings the memo stored with [`Analysis::to_bits`].
    pub fn from_bits(bits: u8) -> Analysis {
        Analysis(bits)
    }

    /// The findings, if known for a reading in `dialect`.
    pub fn get(self, dialect: Dialect) -> Option<Findings> {
        let has = |v: u8| self.0 & v != 0;
        (has(Analysis::KNOWN) && has(Analysis::POSTGRES) == (dialect == Dialect::Postgres)).then(|| Findings {
            has_statements: has(Analysis::STATEMENTS),
            begins: has(Analysis::BEGINS),
            no_transaction: has(Analysis::NO_TRANSACTION),
            allow: Allow::default(),
        })
    }
}

/// One migration file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where the file is.
    pub path: PathBuf,
    /// The path as shown to users.
    pub display: String,
    /// The file's text as read (a byte-order mark included).
    pub text: String,
    /// SHA-256 (`checksum::checksum`) of the file's bytes.
    pub checksum: Digest,
    /// What reading its SQL found, when known (from the memo, or once the
    /// checker has read it).
    pub analysis: Analysis,
}

impl SourceFile {
    /// Length of a leading UTF-8 byte-order mark (0 or 3).
    pub fn bom_len(&self) -> usize {
        if self.text.starts_with('\u{feff}') { 3 } else { 0 }
    }

    /// The file's name, without its directory.
    pub fn file_name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// One migration file, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// The file it comes from.
    pub file: SourceFile,
    /// The SQL to run: the file's text without a byte-order mark, with sqlite3
    /// shell commands blanked out (same length, so offsets still match).
    pub sql: String,
    /// How it runs (its own transaction, none, or one it manages).
    pub mode: Mode,
    /// The data findings its directives accept.
    pub allow: Allow,
}

impl Script {
    /// Offset of [`Script::sql`] in the file's text.
    pub fn offset(&self) -> usize {
        self.file.bom_len()
    }
}

/// A checked migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The version: the number its name starts with.
    pub version: i64,
    /// The description from its name.
    pub description: String,
    /// The up migration.
    pub up: Script,
    /// The down migration, if it is reversible.
    pub down: Option<Script>,
    /// The chain hash up to and including this migration.
    pub chain: Digest,
    /// Whether the lock seals this migration (with matching checksums).
    pub sealed: bool,
}

/// A squashed baseline (`<version>_<description>.baseline.sql`, written by
/// `migcheck squash`): one script that creates what the migrations up to
/// `version` leave behind, schema and rows. A fresh database runs it instead
/// of them; a database the migrations already touched never does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The newest version it replaces.
    pub version: i64,
    /// The description from its name.
    pub description: String,
    /// Its SQL (one transaction).
    pub script: Script,
    /// Its down file (`<version>_<description>.baseline.down.sql`), which
    /// must leave an empty database: without one, a baseline is irreversible.
    pub down: Option<Script>,
}

/// A migration a baseline replaces whose files were deleted: what the lock
/// keeps of it, for the history rows a fresh database records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Squashed {
    /// Its version.
    pub version: i64,
    /// Its description.
    pub description: String,
    /// SHA-256 of its up file, as sealed.
    pub checksum: Digest,
    /// The chain hash up to and including it.
    pub chain: Digest,
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
    /// use migcheck_core::model::Config;
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
/// # use migcheck_core::model::parse_size;
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

/// The (year, month, day) of the day `days` after 1970-01-01 (Howard
/// Hinnant's civil-from-days), for the UTC dates migcheck writes and reads.
///
/// ```
/// assert_eq!(migcheck_core::model::civil_date(19_723), (2024, 1, 1));
/// ```
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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
