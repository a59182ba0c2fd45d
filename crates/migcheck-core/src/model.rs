//! The shapes every other module shares: what a migration, a script, a
//! transaction mode, a layout and a dialect are (the checker's configuration
//! is in [`crate::config`]).
//!
//! This module is a leaf: it imports nothing from the rest of the crate, and
//! every other module may import it. It is compiled without the `checker`
//! feature too, since the runtime embeds [`Mode`] in every migration.

use std::path::PathBuf;

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
    /// MySQL and MariaDB: DDL commits implicitly, so every migration runs
    /// statement by statement with the history's mark moved after each.
    Mysql,
}

impl Dialect {
    /// The dialect's name, as the lock file's `dialect` line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
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
    pub const CODES: [&'static str; 9] = [
        "data-loss",
        "data-dependent",
        "table-rewrite",
        "blocking-lock",
        "validating-constraint",
        "index-not-concurrent",
        "no-lock-timeout",
        "breaking-change",
        "partial-ddl",
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
    /// Read as MySQL (`#` comments, backslash escapes in strings).
    const MYSQL: u8 = 32;

    /// A clean file's findings, known, as read in `dialect`.
    pub fn new(found: Findings, dialect: Dialect) -> Analysis {
        let bit = |b: bool, v: u8| if b { v } else { 0 };
        Analysis(
            Analysis::KNOWN
                | bit(found.has_statements, Analysis::STATEMENTS)
                | bit(found.begins, Analysis::BEGINS)
                | bit(found.no_transaction, Analysis::NO_TRANSACTION)
                | bit(dialect == Dialect::Postgres, Analysis::POSTGRES)
                | bit(dialect == Dialect::Mysql, Analysis::MYSQL),
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
        let read_as = has(Analysis::POSTGRES) == (dialect == Dialect::Postgres)
            && has(Analysis::MYSQL) == (dialect == Dialect::Mysql);
        (has(Analysis::KNOWN) && read_as).then(|| Findings {
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
