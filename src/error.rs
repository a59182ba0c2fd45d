//! The runtime's errors: what went wrong, on which migration, and what to do.

use std::fmt;

/// Why a runtime operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A migration failed; the database is left at the last good version
    /// (everything in `applied` was committed before it).
    MigrationFailed {
        /// The migration's version.
        version: i64,
        /// The migration's description.
        name: String,
        /// The file, as the build saw it.
        path: String,
        /// The failing statement's line in the file (from 1).
        line: usize,
        /// Its column (from 1, in characters).
        column: usize,
        /// The engine's message.
        message: String,
        /// Versions applied (or, in a downgrade, reverted) by this call
        /// before the failure.
        applied: Vec<i64>,
        /// For a file that runs outside a transaction (or manages its own):
        /// how many of its statements ran before the failing one and stay.
        /// The history marks it interrupted ([`Interrupted`](crate::Interrupted)),
        /// and the same command run again resumes at the failing statement.
        /// `None` for a file run in one transaction, which was rolled back.
        kept: Option<usize>,
        /// The engine's error, with its code ([`Error::code`]).
        source: Box<Cause>,
    },
    /// A migration's SQL ran, but committing it failed (an I/O error while
    /// committing or recording it, a lost connection, a deferred constraint
    /// checked at `COMMIT`): it was rolled back, and the database is left at
    /// the last good version.
    NotCommitted {
        /// The migration's version.
        version: i64,
        /// The migration's description.
        name: String,
        /// The engine's message.
        message: String,
        /// Versions applied by this call before the failure.
        applied: Vec<i64>,
        /// The engine's error, with its code ([`Error::code`]).
        source: Box<Cause>,
    },
    /// An applied migration's checksum differs from this binary's: the
    /// migration was edited after the database applied it.
    Divergent {
        /// The migration's version.
        version: i64,
        /// Its description, as the history records it.
        name: String,
        /// The checksum the history records (SHA-256, hex).
        applied_checksum: String,
        /// This binary's checksum of the file.
        expected_checksum: String,
    },
    /// The database has a migration this binary does not know: a newer binary
    /// (or another branch) migrated it.
    Unknown {
        /// The version the history records.
        version: i64,
        /// Its description, as the history records it.
        name: String,
    },
    /// A target version that is not one of the migrations.
    NoSuchVersion {
        /// The version asked for.
        version: i64,
    },
    /// A downgrade would have to revert a migration that has no down migration.
    Irreversible {
        /// The migration's version.
        version: i64,
        /// Its description.
        name: String,
    },
    /// A file that runs outside a transaction was stopped part-way (see
    /// [`Interrupted`](crate::Interrupted)) and this operation cannot go on
    /// from there; `why` says what to do.
    Interrupted {
        /// The migration's version.
        version: i64,
        /// Its description.
        name: String,
        /// Whether its up or its down file was running.
        direction: crate::history::Direction,
        /// How many statements of that file ran.
        done: usize,
        /// Why this operation stops, and what to do.
        why: String,
    },
    /// Batch mode cannot include a migration that runs outside a transaction.
    NotBatchable {
        /// The migration's version.
        version: i64,
        /// Its description.
        name: String,
    },
    /// A database part-way through the migrations a baseline replaced, whose
    /// files this binary no longer has.
    Squashed {
        /// The first migration the database still needs.
        version: i64,
        /// Its description.
        name: String,
        /// The baseline's version (the newest migration it replaced).
        baseline: i64,
    },
    /// The backup before upgrading could not be written.
    Backup {
        /// Where the backup was to be written.
        path: std::path::PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The history table exists but is not migcheck's (missing columns, bad values).
    History {
        /// What is wrong with it.
        message: String,
    },
    /// A driver of the apply protocol answered a step with an outcome of
    /// another kind ([`protocol`](crate::protocol)): a bug in that driver.
    Driver {
        /// The step and the answer.
        message: String,
    },
    /// An SQLite error outside a migration's SQL (opening the transaction,
    /// reading or writing the history).
    Sqlite(rusqlite::Error),
    /// A PostgreSQL error outside a migration's SQL (connecting, the advisory
    /// lock, the history).
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(sqlx::Error),
    /// A MySQL or MariaDB error outside a migration's SQL (connecting, the
    /// named lock, the history).
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    Mysql(sqlx::Error),
}

/// The engine's own error behind a failed migration: kept whole, so that
/// [`std::error::Error::source`] and [`Error::code`] reach SQLite's extended
/// result code or PostgreSQL's SQLSTATE.
#[derive(Debug)]
#[non_exhaustive]
pub enum Cause {
    /// rusqlite's error (`SqliteFailure` with the extended result code).
    Sqlite(rusqlite::Error),
    /// sqlx's error (a database error carries the SQLSTATE).
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    Postgres(sqlx::Error),
    /// sqlx's error from MySQL or MariaDB (a database error carries the
    /// server's error number).
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    Mysql(sqlx::Error),
    /// A statement that ran outside a transaction left an index INVALID
    /// (PostgreSQL: `CREATE INDEX CONCURRENTLY` that failed part-way, found
    /// again by `IF NOT EXISTS`).
    InvalidIndex(InvalidIndex),
}

/// An index PostgreSQL marks INVALID (`pg_index.indisvalid` false): it is not
/// used, and a unique one does not keep duplicates out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIndex {
    /// The index's name.
    pub index: String,
}

impl std::fmt::Display for InvalidIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "index `{}` is INVALID", self.index)
    }
}

impl std::error::Error for InvalidIndex {}

impl Cause {
    fn error(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            Cause::Sqlite(err) => err,
            #[cfg(feature = "postgres")]
            Cause::Postgres(err) => err,
            #[cfg(feature = "mysql")]
            Cause::Mysql(err) => err,
            Cause::InvalidIndex(err) => err,
        }
    }

    fn code(&self) -> Option<String> {
        match self {
            Cause::Sqlite(err) => sqlite_code(err),
            #[cfg(feature = "postgres")]
            Cause::Postgres(err) => sqlx_code(err),
            #[cfg(feature = "mysql")]
            Cause::Mysql(err) => sqlx_code(err),
            Cause::InvalidIndex(_) => None,
        }
    }
}

fn sqlite_code(err: &rusqlite::Error) -> Option<String> {
    match err {
        rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code.to_string()),
        _ => None,
    }
}

/// The database's own code: PostgreSQL's SQLSTATE, MySQL's error number.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn sqlx_code(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

impl Error {
    /// The engine's error code behind a failed migration (or any engine
    /// error): SQLite's extended result code as a number (`"2067"` for
    /// `SQLITE_CONSTRAINT_UNIQUE`), or PostgreSQL's SQLSTATE (`"23505"`).
    ///
    /// ```
    /// # fn handle(err: migcheck::Error) {
    /// if err.code().as_deref() == Some("2067") {
    ///     eprintln!("a migration met duplicate rows: {err}");
    /// }
    /// # }
    /// ```
    pub fn code(&self) -> Option<String> {
        match self {
            Error::MigrationFailed { source, .. } | Error::NotCommitted { source, .. } => source.code(),
            Error::Sqlite(err) => sqlite_code(err),
            #[cfg(feature = "postgres")]
            Error::Postgres(err) => sqlx_code(err),
            #[cfg(feature = "mysql")]
            Error::Mysql(err) => sqlx_code(err),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MigrationFailed { version, name, path, line, column, message, kept: Some(kept), .. } => {
                let before = match kept {
                    0 => "it failed at its first statement, so nothing of it took effect".to_owned(),
                    1 => "the 1 statement before this one ran and stays".to_owned(),
                    n => format!("the {n} statements before this one ran and stay"),
                };
                write!(
                    f,
                    "migration {version} `{name}` failed at {path}:{line}:{column}: {message}; the file runs outside \
                     a transaction, so {before}, and the history marks it interrupted: fix the failing statement (or \
                     what it needs) and run the command again, which resumes there"
                )
            }
            Error::MigrationFailed { version, name, path, line, column, message, applied, kept: None, .. } => {
                write!(f, "migration {version} `{name}` failed at {path}:{line}:{column}: {message}; ")?;
                rolled_back(f, *version, applied)
            }
            Error::Interrupted { version, name, direction, done, why } => {
                let way = match direction {
                    crate::history::Direction::Up => "up",
                    crate::history::Direction::Down => "down",
                };
                write!(
                    f,
                    "migration {version} `{name}` was interrupted part-way through its {way} file \
                     ({}): {why}",
                    crate::history::statements_ran(*done)
                )
            }
            Error::NotCommitted { version, name, message, applied, .. } => {
                write!(f, "migration {version} `{name}` could not be committed: {message}; ")?;
                rolled_back(f, *version, applied)?;
                write!(
                    f,
                    "; fix what the error names (a full or failing disk, a lost connection, a deferred constraint), then run the command again"
                )
            }
            Error::Divergent { version, name, applied_checksum, expected_checksum } => write!(
                f,
                "migration {version} `{name}` was previously applied but has been modified \
                 (applied checksum {applied_checksum}, this binary's {expected_checksum}): \
                 restore the released migration and add a new one instead"
            ),
            Error::Unknown { version, name } => write!(
                f,
                "the database has migration {version} `{name}`, which this binary does not know: \
                 a newer binary migrated it; run that binary, or restore the database from before it"
            ),
            Error::NoSuchVersion { version } => write!(f, "there is no migration with version {version}"),
            Error::Irreversible { version, name } => write!(
                f,
                "migration {version} `{name}` is irreversible (it has no down migration): \
                 cannot downgrade past it; restore a backup, or add a new migration that undoes it"
            ),
            Error::Squashed { version, name, baseline } => write!(
                f,
                "the database needs migration {version} `{name}`, which was squashed into the baseline at \
                 {baseline} and whose files this binary no longer has: upgrade it to {baseline} with a release \
                 that still has them, then with this one"
            ),
            Error::NotBatchable { version, name } => write!(
                f,
                "migration {version} `{name}` runs outside a transaction, so it cannot be part of a batch: \
                 upgrade without batch mode, or apply up to the version before it first"
            ),
            Error::Backup { path, source } => write!(f, "cannot write the backup `{}`: {source}", path.display()),
            Error::History { message } => write!(f, "the migration history table is not usable: {message}"),
            Error::Driver { message } => write!(f, "a bug in migcheck's driver: {message}; please report it"),
            Error::Sqlite(err) => write!(f, "sqlite: {err}"),
            #[cfg(feature = "postgres")]
            Error::Postgres(err) => write!(f, "postgres: {err}"),
            #[cfg(feature = "mysql")]
            Error::Mysql(err) => write!(f, "mysql: {err}"),
        }
    }
}

/// How a failed migration (`version`, applied or reverted) left the database.
fn rolled_back(f: &mut fmt::Formatter<'_>, version: i64, done: &[i64]) -> fmt::Result {
    let plural = if done.len() == 1 { "" } else { "s" };
    match done.last() {
        None => write!(f, "it was rolled back, and the database is as it was"),
        // A downgrade reverts newest first: the failed one is still applied.
        Some(&last) if last > version => write!(
            f,
            "it was rolled back; the database stays at version {version} (this run reverted {} migration{plural} before it)",
            done.len()
        ),
        Some(last) => write!(
            f,
            "it was rolled back; the database stays at version {last} (this run applied {} migration{plural} before it)",
            done.len()
        ),
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(err) | Error::Backup { source: err, .. } => Some(err),
            #[cfg(feature = "postgres")]
            Error::Postgres(err) => Some(err),
            #[cfg(feature = "mysql")]
            Error::Mysql(err) => Some(err),
            Error::MigrationFailed { source, .. } | Error::NotCommitted { source, .. } => Some(source.error()),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::Sqlite(err)
    }
}
