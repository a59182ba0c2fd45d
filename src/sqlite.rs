//! Applying and reverting migrations on SQLite through rusqlite, and the
//! history table.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction, which also
//! holds SQLite's write lock while the history is read: processes migrating one
//! database at once take turns (with the connection's busy timeout), and the
//! later ones find nothing left to do. The history table records version, name,
//! checksum, chain hash, time applied and duration.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use migcheck_core::exec;
use rusqlite::{Connection, MAIN_DB, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::{Error, Migration, Migrations, Mode, Script};

/// The default history table's name.
pub const HISTORY_TABLE: &str = "migcheck_history";

/// A row of the history table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub chain: String,
    /// UTC, ISO 8601 (`2026-11-24T09:30:00.000Z`).
    pub applied_at: String,
    pub duration: Duration,
}

/// One migration applied or reverted by a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub duration: Duration,
}

/// What an upgrade or downgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Migrations applied (upgrade) or reverted (downgrade), in the order run.
    pub applied: Vec<Applied>,
    /// The backup taken before the first migration ran, if one was asked for.
    pub backup: Option<PathBuf>,
}

/// How the database relates to the migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The history, in version order.
    pub applied: Vec<AppliedMigration>,
    /// Known migrations not applied yet.
    pub pending: Vec<i64>,
    /// Applied migrations whose checksum differs from this binary's.
    pub divergent: Vec<i64>,
    /// Applied migrations this binary does not know.
    pub unknown: Vec<i64>,
}

impl Status {
    /// The database's version: the newest applied migration.
    pub fn current(&self) -> Option<i64> {
        self.applied.last().map(|m| m.version)
    }

    /// Nothing pending, nothing divergent or unknown.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty() && self.divergent.is_empty() && self.unknown.is_empty()
    }
}

/// Options for [`Migrations::upgrade_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UpgradeOptions {
    /// Stop after this version (default: the newest).
    pub target: Option<i64>,
    /// Copy the database here (SQLite's online backup API) before the first
    /// pending migration runs. Nothing is copied when nothing is pending.
    pub backup: Option<PathBuf>,
    /// Apply all pending migrations in one transaction (all or nothing), as
    /// Alembic does by default. Refused when one must run outside a transaction.
    pub batch: bool,
}

impl UpgradeOptions {
    pub fn target(mut self, version: i64) -> Self {
        self.target = Some(version);
        self
    }

    pub fn backup(mut self, path: impl Into<PathBuf>) -> Self {
        self.backup = Some(path.into());
        self
    }

    pub fn batch(mut self, batch: bool) -> Self {
        self.batch = batch;
        self
    }
}

impl Migrations {
    /// Applies every pending migration.
    pub fn upgrade(&self, conn: &mut Connection) -> Result<Report, Error> {
        self.upgrade_with(conn, &UpgradeOptions::default(), |_, _, _| {})
    }

    /// Applies pending migrations up to and including `version`.
    pub fn upgrade_to(&self, conn: &mut Connection, version: i64) -> Result<Report, Error> {
        self.upgrade_with(conn, &UpgradeOptions::default().target(version), |_, _, _| {})
    }

    /// Applies pending migrations as `options` say; `progress` is called
    /// before each one with the migration, its index and the number pending.
    pub fn upgrade_with(
        &self,
        conn: &mut Connection,
        options: &UpgradeOptions,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        if let Some(version) = options.target
            && self.get(version).is_none()
        {
            return Err(Error::NoSuchVersion { version });
        }
        let mut report = Report::default();
        if self.is_up_to_date(conn, options.target)? {
            return Ok(report);
        }
        let status = self.status(conn)?;
        self.refuse_divergence(&status)?;
        let pending: Vec<&Migration> = status
            .pending
            .iter()
            .filter(|v| options.target.is_none_or(|t| **v <= t))
            .filter_map(|v| self.get(*v))
            .collect();
        if pending.is_empty() {
            return Ok(report);
        }
        if let Some(path) = &options.backup {
            backup(conn, path)?;
            report.backup = Some(path.clone());
        }
        if options.batch {
            return self.apply_batch(conn, &pending, report, progress);
        }
        self.begin(conn)?.commit()?;
        let total = pending.len();
        for (i, m) in pending.into_iter().enumerate() {
            let step = (|| {
                let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
                // Another migrator may have applied it while this one waited.
                if is_applied(&tx, &self.history, m.version)? {
                    tx.commit()?;
                    return Ok(None);
                }
                progress(m, i, total);
                let started = Instant::now();
                self.run_in(conn, tx, m, &m.up, &report, |tx| record(tx, &self.history, m, started.elapsed()))?;
                Ok(Some(started.elapsed()))
            })();
            match step {
                Ok(Some(duration)) => {
                    report.applied.push(Applied { version: m.version, name: m.name().to_owned(), duration })
                }
                Ok(None) => {}
                Err(err) => return Err(Error::during(err, m, &report)),
            }
        }
        Ok(report)
    }

    /// All pending migrations in one transaction: all or nothing.
    fn apply_batch(
        &self,
        conn: &Connection,
        pending: &[&Migration],
        mut report: Report,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        if let Some(m) = pending.iter().find(|m| m.up.mode() != Mode::Transaction) {
            return Err(Error::NotBatchable { version: m.version, name: m.name().to_owned() });
        }
        let tx = self.begin(conn)?;
        let mut applied = Vec::new();
        for (i, m) in pending.iter().enumerate() {
            if is_applied(&tx, &self.history, m.version)? {
                continue;
            }
            progress(m, i, pending.len());
            let started = Instant::now();
            run(&tx, m, &m.up, &report)?;
            record(&tx, &self.history, m, started.elapsed())?;
            applied.push(Applied { version: m.version, name: m.name().to_owned(), duration: started.elapsed() });
        }
        tx.commit()?;
        report.applied = applied;
        Ok(report)
    }

    /// The constant-time check: the newest history row's chain hash equals
    /// this binary's for that version (so the whole history matches), and
    /// nothing newer is wanted. One indexed read, whatever the history's length.
    fn is_up_to_date(&self, conn: &Connection, target: Option<i64>) -> Result<bool, Error> {
        let Some(wanted) = target.or_else(|| self.latest()) else { return Ok(true) };
        let head: Option<(i64, String)> = match conn.prepare_cached(&format!(
            "SELECT version, chain FROM {} ORDER BY version DESC LIMIT 1",
            quote(&self.history)
        )) {
            Ok(mut stmt) => stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional().unwrap_or(None),
            Err(_) => None, // no history table yet, or not ours: the full path says which
        };
        Ok(head
            .is_some_and(|(version, chain)| version >= wanted && self.get(version).is_some_and(|m| m.chain() == chain)))
    }

    /// Reverts applied migrations newer than `version` (0: all of them), newest
    /// first, each in its own transaction. Refuses, before reverting anything,
    /// when one of them is irreversible.
    pub fn downgrade_to(&self, conn: &mut Connection, version: i64) -> Result<Report, Error> {
        if version != 0 && self.get(version).is_none() {
            return Err(Error::NoSuchVersion { version });
        }
        let status = self.status(conn)?;
        self.refuse_divergence(&status)?;
        for row in status.applied.iter().rev().filter(|r| r.version > version) {
            if let Some(m) = self.get(row.version).filter(|m| !m.is_reversible()) {
                return Err(Error::Irreversible { version: m.version, name: m.name().to_owned() });
            }
        }
        let mut report = Report::default();
        loop {
            let tx = self.begin(conn)?;
            let applied = read_history(&tx, &self.history)?;
            self.verify(&applied)?;
            let Some(row) = applied.last().filter(|r| r.version > version) else {
                tx.commit()?;
                return Ok(report);
            };
            let m =
                self.get(row.version).ok_or_else(|| Error::Unknown { version: row.version, name: row.name.clone() })?;
            let down = m.down().ok_or_else(|| Error::Irreversible { version: m.version, name: m.name().to_owned() })?;
            let started = Instant::now();
            let table = self.history.clone();
            self.run_in(conn, tx, m, down, &report, |tx| {
                tx.execute(&format!("DELETE FROM {} WHERE version = ?1", quote(&table)), [m.version])?;
                Ok(())
            })?;
            report.applied.push(Applied { version: m.version, name: m.name().to_owned(), duration: started.elapsed() });
        }
    }

    /// Marks the database as being at `version` (0: no migration) without
    /// running anything: records every migration up to it as applied, and
    /// forgets newer ones.
    pub fn stamp(&self, conn: &mut Connection, version: i64) -> Result<(), Error> {
        if version != 0 && self.get(version).is_none() {
            return Err(Error::NoSuchVersion { version });
        }
        let tx = self.begin(conn)?;
        let applied = read_history(&tx, &self.history)?;
        let done: HashSet<i64> = applied.iter().map(|m| m.version).collect();
        tx.execute(&format!("DELETE FROM {} WHERE version > ?1", quote(&self.history)), [version])?;
        for m in self.iter().filter(|m| m.version <= version && !done.contains(&m.version)) {
            record(&tx, &self.history, m, Duration::ZERO)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The history: every applied migration, in version order (empty when the
    /// database was never migrated).
    pub fn applied(&self, conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
        let exists: Option<i64> = conn
            .query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [&*self.history], |r| r.get(0))
            .optional()?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        read_history(conn, &self.history)
    }

    /// The database's version: the newest applied migration, if any.
    pub fn current(&self, conn: &Connection) -> Result<Option<i64>, Error> {
        Ok(self.applied(conn)?.last().map(|m| m.version))
    }

    /// What is applied, pending, divergent and unknown.
    pub fn status(&self, conn: &Connection) -> Result<Status, Error> {
        Ok(self.status_of(self.applied(conn)?))
    }

    /// The status given the history rows (any engine).
    pub(crate) fn status_of(&self, applied: Vec<AppliedMigration>) -> Status {
        let done: HashSet<i64> = applied.iter().map(|m| m.version).collect();
        let mut status = Status {
            pending: self.iter().map(|m| m.version).filter(|v| !done.contains(v)).collect(),
            ..Status::default()
        };
        for row in &applied {
            match self.get(row.version) {
                None => status.unknown.push(row.version),
                Some(m) if m.checksum() != row.checksum => status.divergent.push(row.version),
                Some(_) => {}
            }
        }
        status.applied = applied;
        status
    }

    /// Refuses edited and unknown migrations (any engine).
    pub(crate) fn refuse_divergence(&self, status: &Status) -> Result<(), Error> {
        self.verify(&status.applied)
    }

    /// Checks the history against this binary's migrations.
    fn verify(&self, applied: &[AppliedMigration]) -> Result<(), Error> {
        for row in applied {
            match self.get(row.version) {
                None => {
                    return Err(Error::Unknown { version: row.version, name: row.name.clone() });
                }
                Some(m) if m.checksum() != row.checksum => {
                    return Err(Error::Divergent {
                        version: row.version,
                        name: row.name.clone(),
                        applied_checksum: row.checksum.clone(),
                        expected_checksum: m.checksum().to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Opens a write transaction and makes sure the history table exists.
    ///
    /// The transaction is `BEGIN IMMEDIATE` (the write lock at once, so two
    /// migrators queue instead of failing half-way), rolled back unless
    /// committed. It borrows the connection shared, so a file that must run
    /// outside it can use the connection after `commit`.
    fn begin<'c>(&self, conn: &'c Connection) -> Result<Transaction<'c>, Error> {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        tx.prepare_cached(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                chain TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                duration_ms INTEGER NOT NULL
            )",
            quote(&self.history)
        ))?
        .execute([])?;
        Ok(tx)
    }

    /// Runs `script` in `tx` (or, for files that run outside a transaction,
    /// after committing `tx`), then `bookkeeping` in the same transaction as
    /// the script where there is one.
    fn run_in(
        &self,
        conn: &Connection,
        tx: Transaction<'_>,
        m: &Migration,
        script: &Script,
        report: &Report,
        bookkeeping: impl FnOnce(&Connection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if script.mode() == Mode::Transaction {
            run(&tx, m, script, report)?;
            bookkeeping(&tx)?;
            tx.commit()?;
            return Ok(());
        }
        // The file has its own transaction, or none; the history row is
        // written right after it.
        tx.commit()?;
        if let Err(err) = run(conn, m, script, report) {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(err);
        }
        let tx = self.begin(conn)?;
        bookkeeping(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

fn run(conn: &Connection, m: &Migration, script: &Script, report: &Report) -> Result<(), Error> {
    exec::run_statements(conn, script.sql(), |_| Ok(())).map(|_| ()).map_err(|err| {
        let cause = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(err.code), Some(err.message.clone()));
        Error::failed(m, script, err.offset, err.message, crate::error::Cause::Sqlite(cause), report)
    })
}

fn is_applied(conn: &Connection, table: &str, version: i64) -> Result<bool, Error> {
    let mut stmt = conn.prepare_cached(&format!("SELECT 1 FROM {} WHERE version = ?1", quote(table)))?;
    Ok(stmt.exists([version])?)
}

fn record(conn: &Connection, table: &str, m: &Migration, duration: Duration) -> Result<(), Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO {} (version, name, checksum, chain, applied_at, duration_ms)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?5)",
        quote(table)
    ))?;
    stmt.execute(params![
        m.version(),
        m.name(),
        m.checksum(),
        m.chain(),
        i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

fn read_history(conn: &Connection, table: &str) -> Result<Vec<AppliedMigration>, Error> {
    let history = |err: rusqlite::Error| {
        let err = match err {
            rusqlite::Error::SqlInputError { msg, .. } => msg,
            other => other.to_string(),
        };
        Error::History {
            message: format!(
                "{err}; `{table}` should have the columns version, name, checksum, chain, applied_at, duration_ms"
            ),
        }
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT version, name, checksum, chain, applied_at, duration_ms FROM {} ORDER BY version",
            quote(table)
        ))
        .map_err(history)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(AppliedMigration {
                version: r.get(0)?,
                name: r.get(1)?,
                checksum: r.get(2)?,
                chain: r.get(3)?,
                applied_at: r.get(4)?,
                duration: Duration::from_millis(u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0)),
            })
        })
        .map_err(history)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(history)
}

fn backup(conn: &Connection, path: &Path) -> Result<(), Error> {
    conn.backup(MAIN_DB, path, None::<fn(rusqlite::backup::Progress)>)
        .map_err(|err| Error::Backup { path: path.to_owned(), source: err })
}

/// An SQL identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
