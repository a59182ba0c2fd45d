//! migcheck: SQL migrations that `cargo build` proves sound, applied at run time.
//!
//! The build script (`migcheck-build`) checks the migrations and writes them
//! into `OUT_DIR`; [`include_migrations!`] brings them into the program:
//!
//! ```no_run
//! static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut conn = rusqlite::Connection::open("app.db")?;
//!     MIGRATIONS.upgrade(&mut conn)?;
//!     Ok(())
//! }
//! ```
//!
//! [`Migrations::upgrade`] applies what is pending, one transaction per
//! migration (unless a file says `-- migcheck: no-transaction` or manages its
//! own transaction), and records each in the `migcheck_history` table. It
//! refuses a database whose applied migrations were edited since, or that has a
//! migration this binary does not know.

#![warn(missing_docs)]
// docs.rs builds with every feature and marks what each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
// A failed migration says where and why, with the engine's error kept: a
// few hundred bytes, returned rarely; boxing the whole error would only make
// matching on it clumsier for users.
#![allow(clippy::result_large_err)]

// The generated code names `::migcheck`, which must resolve inside this crate
// too: its own build script checks and embeds the example migrations.
extern crate self as migcheck;

mod error;
mod fleet;
mod history;
#[cfg(feature = "mysql")]
mod mysql;
mod plan;
#[cfg(feature = "postgres")]
mod postgres;
pub mod protocol;
mod sqlite;

use std::borrow::Cow;
use std::fmt;

pub use error::{Cause, Error, InvalidIndex};
pub use fleet::{FleetEntry, FleetEvent, FleetOptions, FleetReport};
pub use history::{AppliedMigration, Direction};
/// Checks a migrations directory at compile time, with no build script, and
/// expands to its [`Migrations`] (feature `macros`): see `migcheck-macros`.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use migcheck_macros::migrations;

/// `sql!("SELECT …")`: the statement checked at compile time against the
/// database the migrations make (feature `macros`, and
/// `Build::expose_database` in build.rs), expanding to the `&'static str`.
/// See `migcheck-macros`.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use migcheck_macros::sql;

/// `statement!("SELECT …")`: as [`sql!`], expanding to a [`Statement`].
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use migcheck_macros::statement;

/// A statement checked at compile time by [`statement!`], with what the
/// database knows of it.
///
/// ```
/// // What `migcheck::statement!("SELECT id, name FROM pets WHERE owner_id = ?1", 1)` expands to:
/// const PETS: migcheck::Statement = migcheck::Statement {
///     sql: "SELECT id, name FROM pets WHERE owner_id = ?1",
///     columns: &["id", "name"],
///     parameters: &["?1"],
/// };
/// // A row mapping that reads two columns, checked when the crate compiles:
/// const _: () = assert!(PETS.columns.len() == 2);
/// assert_eq!(PETS.parameters, ["?1"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement {
    /// The SQL, as written in the call.
    pub sql: &'static str,
    /// The result columns' names, in order (empty for a statement that
    /// returns no rows).
    pub columns: &'static [&'static str],
    /// The parameters as the statement names them (`:owner`, `?1`, `$1`), in
    /// binding order.
    pub parameters: &'static [&'static str],
}
pub use plan::{Applied, BASE, HISTORY_TABLE, Interrupted, Report, Status, UpgradeOptions};

/// Includes the migrations the build script verified, as a [`Migrations`]
/// value usable in a `static`.
#[macro_export]
macro_rules! include_migrations {
    () => {
        include!(concat!(env!("OUT_DIR"), "/migcheck/migrations.rs"))
    };
}

pub use migcheck_core::model::Mode;

/// One migration file: where it came from, its SQL, and how it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    path: Cow<'static, str>,
    sql: Cow<'static, str>,
    mode: Mode,
}

impl Script {
    /// A script read at run time (the CLI builds these from the checker's report).
    pub fn new(path: impl Into<Cow<'static, str>>, sql: impl Into<Cow<'static, str>>, mode: Mode) -> Self {
        Script { path: path.into(), sql: sql.into(), mode }
    }

    #[doc(hidden)]
    pub const fn __generated(path: &'static str, sql: &'static str, mode: Mode) -> Self {
        Script { path: Cow::Borrowed(path), sql: Cow::Borrowed(sql), mode }
    }

    /// The file's path relative to the package root, as the build saw it.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The SQL that runs.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// How it runs: in a transaction of its own, outside any, or managing its own.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// A verified migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    version: i64,
    name: Cow<'static, str>,
    checksum: Cow<'static, str>,
    chain: Cow<'static, str>,
    up: Script,
    down: Option<Script>,
    files: bool,
}

impl Migration {
    /// A migration read at run time. `checksum` is the up file's SHA-256 (hex)
    /// and `chain` the chain hash up to this migration, as the checker computes them.
    pub fn new(
        version: i64,
        name: impl Into<Cow<'static, str>>,
        checksum: impl Into<Cow<'static, str>>,
        chain: impl Into<Cow<'static, str>>,
        up: Script,
        down: Option<Script>,
    ) -> Self {
        Migration { version, name: name.into(), checksum: checksum.into(), chain: chain.into(), up, down, files: true }
    }

    /// A migration a [`Baseline`] replaced whose files were deleted: what the
    /// lock keeps of it (its checksum and chain hash, for the history), with
    /// no SQL. A fresh database records it when the baseline runs; a
    /// database that still needs it cannot get it from this binary.
    pub fn squashed(
        version: i64,
        name: impl Into<Cow<'static, str>>,
        checksum: impl Into<Cow<'static, str>>,
        chain: impl Into<Cow<'static, str>>,
    ) -> Self {
        Migration {
            files: false,
            ..Migration::new(version, name, checksum, chain, Script::new("", "", Mode::Transaction), None)
        }
    }

    #[doc(hidden)]
    pub const fn __squashed(version: i64, name: &'static str, checksum: &'static str, chain: &'static str) -> Self {
        Migration {
            version,
            name: Cow::Borrowed(name),
            checksum: Cow::Borrowed(checksum),
            chain: Cow::Borrowed(chain),
            up: Script::__generated("", "", Mode::Transaction),
            down: None,
            files: false,
        }
    }

    #[doc(hidden)]
    pub const fn __generated(
        version: i64,
        name: &'static str,
        checksum: &'static str,
        chain: &'static str,
        up: Script,
        down: Option<Script>,
    ) -> Self {
        Migration {
            version,
            name: Cow::Borrowed(name),
            checksum: Cow::Borrowed(checksum),
            chain: Cow::Borrowed(chain),
            up,
            down,
            files: true,
        }
    }

    /// The version: the number its file name starts with.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The description from the file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 (hex) of the up file, line endings normalised: what the history records.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }

    /// The chain hash over all migrations up to and including this one.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// The up migration.
    pub fn up(&self) -> &Script {
        &self.up
    }

    /// The down migration, if the migration is reversible.
    pub fn down(&self) -> Option<&Script> {
        self.down.as_ref()
    }

    /// Whether it has a down migration.
    pub fn is_reversible(&self) -> bool {
        self.down.is_some()
    }

    /// Whether this binary has its files: false for a migration a
    /// [`Baseline`] replaced and whose files were deleted
    /// ([`Migration::squashed`]).
    pub fn has_files(&self) -> bool {
        self.files
    }
}

/// A squashed baseline (`<V>_<name>.baseline.sql`, written by `migcheck
/// squash` and proved by the build): one script that creates what the
/// migrations up to version `V` leave behind. An upgrade of an empty database
/// runs it instead of them, and records each of them in the history; a
/// database the migrations already touched never runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    /// The baseline as a step of an upgrade: the version it replaces up to,
    /// its name, its file's checksum, the chain at that version, its script.
    step: Migration,
}

impl Baseline {
    /// A baseline read at run time: it replaces the migrations up to
    /// `version`, whose chain hash is `chain`; `checksum` is its file's SHA-256.
    pub fn new(
        version: i64,
        name: impl Into<Cow<'static, str>>,
        checksum: impl Into<Cow<'static, str>>,
        chain: impl Into<Cow<'static, str>>,
        script: Script,
    ) -> Self {
        Baseline { step: Migration::new(version, name, checksum, chain, script, None) }
    }

    /// With a down script (`<V>_<name>.baseline.down.sql`), proved by the
    /// build to leave an empty database: a downgrade below every migration
    /// the baseline replaced runs it when their own files are gone.
    pub fn with_down(mut self, down: Script) -> Self {
        self.step.down = Some(down);
        self
    }

    #[doc(hidden)]
    pub const fn __generated(
        version: i64,
        name: &'static str,
        checksum: &'static str,
        chain: &'static str,
        script: Script,
        down: Option<Script>,
    ) -> Self {
        Baseline { step: Migration::__generated(version, name, checksum, chain, script, down) }
    }

    /// The newest version it replaces.
    pub fn version(&self) -> i64 {
        self.step.version
    }

    /// Its description.
    pub fn name(&self) -> &str {
        &self.step.name
    }

    /// SHA-256 (hex) of its file.
    pub fn checksum(&self) -> &str {
        &self.step.checksum
    }

    /// Its SQL.
    pub fn script(&self) -> &Script {
        &self.step.up
    }

    /// Its down script, if it has one (without one it is irreversible).
    pub fn down(&self) -> Option<&Script> {
        self.step.down.as_ref()
    }

    /// The baseline as the step an upgrade reports.
    pub(crate) fn step(&self) -> &Migration {
        &self.step
    }
}

impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.version, self.name)
    }
}

/// The verified migrations of a program, in version order.
#[derive(Debug, Clone)]
pub struct Migrations {
    migrations: Cow<'static, [Migration]>,
    history: Cow<'static, str>,
    baseline: Option<Baseline>,
    /// `foreign-keys off` in the lock: SQLite migrations run with foreign
    /// keys not enforced, as they were checked.
    foreign_keys_off: bool,
}

impl Migrations {
    /// Migrations read at run time; sorted by version here.
    pub fn new(mut migrations: Vec<Migration>) -> Self {
        migrations.sort_by_key(|m| m.version);
        Migrations {
            migrations: Cow::Owned(migrations),
            history: Cow::Borrowed(HISTORY_TABLE),
            baseline: None,
            foreign_keys_off: false,
        }
    }

    /// Runs the migrations on SQLite with foreign keys not enforced (`PRAGMA
    /// foreign_keys = OFF` for the upgrade or downgrade, the connection's
    /// setting put back after it), as a lock with `foreign-keys off` says the
    /// project migrates and as the build checked them. The build script and
    /// `migrations!` set it from the lock; this is for migrations read at
    /// run time.
    ///
    /// ```
    /// use migcheck::{Migration, Migrations, Mode, Script};
    ///
    /// let script = |sql: &'static str| Script::new("", sql, Mode::Transaction);
    /// // A child created before its parent: with foreign keys enforced, the
    /// // second migration's row would be refused.
    /// let migrations = Migrations::new(vec![
    ///     Migration::new(1, "pets", "c1", "k1", script("CREATE TABLE pets (owner INTEGER REFERENCES owners(id));"), None),
    ///     Migration::new(2, "row", "c2", "k2", script("INSERT INTO pets VALUES (7);"), None),
    /// ])
    /// .without_foreign_keys();
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// conn.execute_batch("PRAGMA foreign_keys = ON")?;
    /// migrations.upgrade(&mut conn)?;
    /// let on: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    /// assert_eq!(on, 1, "the connection's setting is back");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn without_foreign_keys(mut self) -> Self {
        self.foreign_keys_off = true;
        self
    }

    /// Whether the migrations run with foreign keys not enforced
    /// ([`Migrations::without_foreign_keys`]).
    pub fn foreign_keys_off(&self) -> bool {
        self.foreign_keys_off
    }

    /// Adds a squashed baseline: an empty database upgraded to its version
    /// or later runs it instead of the migrations it replaces. (The build
    /// script and `migrations!` embed the one `migcheck squash` wrote and the
    /// build proved; this is for migrations read at run time.)
    ///
    /// ```
    /// use migcheck::{Baseline, Migration, Migrations, Mode, Script};
    ///
    /// let script = |sql: &'static str| Script::new("", sql, Mode::Transaction);
    /// let migrations = Migrations::new(vec![
    ///     Migration::new(1, "owners", "c1", "k1", script("CREATE TABLE owners (id INTEGER PRIMARY KEY);"), None),
    ///     Migration::new(2, "pets", "c2", "k2", script("CREATE TABLE pets (owner INTEGER);"), None),
    ///     Migration::new(3, "toys", "c3", "k3", script("CREATE TABLE toys (pet INTEGER);"), None),
    /// ])
    /// .with_baseline(Baseline::new(
    ///     2,
    ///     "start",
    ///     "b2",
    ///     "k2",
    ///     script("CREATE TABLE owners (id INTEGER PRIMARY KEY); CREATE TABLE pets (owner INTEGER);"),
    /// ));
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// let report = migrations.upgrade(&mut conn)?;
    /// // The baseline ran instead of migrations 1 and 2, then migration 3.
    /// let ran: Vec<(i64, &str)> = report.applied.iter().map(|a| (a.version, a.name.as_str())).collect();
    /// assert_eq!(ran, [(2, "start"), (3, "toys")]);
    /// // The history records every migration, as if they had run.
    /// let recorded: Vec<i64> = migrations.applied(&conn)?.iter().map(|a| a.version).collect();
    /// assert_eq!(recorded, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_baseline(mut self, baseline: Baseline) -> Self {
        self.baseline = Some(baseline);
        self
    }

    /// The squashed baseline, if there is one.
    pub fn baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref()
    }

    /// Records the history in `table` instead of `migcheck_history`.
    pub fn with_history_table(mut self, table: impl Into<Cow<'static, str>>) -> Self {
        self.history = table.into();
        self
    }

    /// The history table's name.
    pub fn history_table(&self) -> &str {
        &self.history
    }

    #[doc(hidden)]
    pub const fn __from_generated(migrations: &'static [Migration]) -> Self {
        Migrations {
            migrations: Cow::Borrowed(migrations),
            history: Cow::Borrowed(HISTORY_TABLE),
            baseline: None,
            foreign_keys_off: false,
        }
    }

    #[doc(hidden)]
    pub const fn __generated(
        migrations: &'static [Migration],
        baseline: Option<Baseline>,
        foreign_keys_off: bool,
    ) -> Self {
        Migrations {
            migrations: Cow::Borrowed(migrations),
            history: Cow::Borrowed(HISTORY_TABLE),
            baseline,
            foreign_keys_off,
        }
    }

    #[doc(hidden)]
    pub const fn __from_generated_with_baseline(migrations: &'static [Migration], baseline: Baseline) -> Self {
        Migrations {
            migrations: Cow::Borrowed(migrations),
            history: Cow::Borrowed(HISTORY_TABLE),
            baseline: Some(baseline),
            foreign_keys_off: false,
        }
    }

    /// The migrations, oldest first.
    ///
    /// ```
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// for m in MIGRATIONS.iter() {
    ///     println!("{m}: {}", if m.is_reversible() { "reversible" } else { "irreversible" });
    /// }
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Migration> {
        self.migrations.iter()
    }

    /// How many migrations there are.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether there is no migration.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The migration with this version.
    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations.binary_search_by_key(&version, |m| m.version).ok().map(|i| &self.migrations[i])
    }

    /// The newest version.
    pub fn latest(&self) -> Option<i64> {
        self.migrations.last().map(|m| m.version)
    }
}
