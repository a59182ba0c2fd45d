//! Applying migrations to SQLite through rusqlite, and the history table.
//!
//! Each pending migration is applied in its own `BEGIN IMMEDIATE` transaction,
//! which also holds SQLite's write lock while the history is read: two
//! processes migrating one database at once take turns, and the second finds
//! nothing left to do. The history table records version, name, checksum,
//! chain hash, time applied and duration.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use migcheck_core::{exec, lexer};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::{Error, Migration, Migrations, Mode, Script};

/// The history table's name.
pub const HISTORY_TABLE: &str = "migcheck_history";

const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS migcheck_history (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    chain TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
)";

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

/// What an upgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The migrations this call applied, in order.
    pub applied: Vec<(i64, &'static str, Duration)>,
}

impl Migrations {
    /// Applies every pending migration.
    pub fn upgrade(&self, conn: &mut Connection) -> Result<Report, Error> {
        self.apply(conn, None)
    }

    /// Applies pending migrations up to and including `version`.
    pub fn upgrade_to(&self, conn: &mut Connection, version: i64) -> Result<Report, Error> {
        if self.get(version).is_none() {
            return Err(Error::NoSuchVersion { version });
        }
        self.apply(conn, Some(version))
    }

    /// The history: every applied migration, in version order (empty when the
    /// database was never migrated).
    pub fn applied(&self, conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
        let exists: Option<i64> = conn
            .query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [HISTORY_TABLE], |r| r.get(0))
            .optional()?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        read_history(conn)
    }

    /// The database's version: the newest applied migration, if any.
    pub fn current(&self, conn: &Connection) -> Result<Option<i64>, Error> {
        Ok(self.applied(conn)?.last().map(|m| m.version))
    }

    /// Checks the history against this binary's migrations.
    fn verify(&self, applied: &[AppliedMigration]) -> Result<(), Error> {
        for row in applied {
            match self.get(row.version) {
                None => return Err(Error::Unknown { version: row.version, name: row.name.clone() }),
                Some(m) if m.checksum != row.checksum => {
                    return Err(Error::Divergent {
                        version: row.version,
                        name: row.name.clone(),
                        applied_checksum: row.checksum.clone(),
                        expected_checksum: m.checksum.to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn apply(&self, conn: &mut Connection, target: Option<i64>) -> Result<Report, Error> {
        let mut report = Report::default();
        loop {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(CREATE_HISTORY)?;
            let applied = read_history(&tx)?;
            self.verify(&applied)?;
            let done: HashSet<i64> = applied.iter().map(|m| m.version).collect();
            let next = self
                .migrations
                .iter()
                .find(|m| !done.contains(&m.version) && target.is_none_or(|t| m.version <= t));
            let Some(m) = next else {
                tx.commit()?;
                return Ok(report);
            };
            let started = Instant::now();
            if m.up.mode == Mode::Transaction {
                run(&tx, m, &m.up, &report)?;
                record(&tx, m, started.elapsed())?;
                tx.commit()?;
            } else {
                // The file runs outside our transaction (it has its own, or
                // none); the history row is written right after it.
                tx.commit()?;
                if let Err(err) = run(conn, m, &m.up, &report) {
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                    return Err(err);
                }
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                record(&tx, m, started.elapsed())?;
                tx.commit()?;
            }
            report.applied.push((m.version, m.name, started.elapsed()));
        }
    }
}

fn run(conn: &Connection, m: &Migration, script: &Script, report: &Report) -> Result<(), Error> {
    exec::run_statements(conn, script.sql, |_| Ok(())).map(|_| ()).map_err(|err| {
        let (line, column) = lexer::line_column(script.sql, err.offset);
        Error::MigrationFailed {
            version: m.version,
            name: m.name,
            path: script.path,
            line,
            column,
            message: err.message,
            applied: report.applied.iter().map(|a| a.0).collect(),
        }
    })
}

fn record(conn: &Connection, m: &Migration, duration: Duration) -> Result<(), Error> {
    conn.execute(
        "INSERT INTO migcheck_history (version, name, checksum, chain, applied_at, duration_ms)
         VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?5)",
        params![m.version, m.name, m.checksum, m.chain, i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

fn read_history(conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
    let history = |err: rusqlite::Error| Error::History {
        message: format!("{err}; expected the columns version, name, checksum, chain, applied_at, duration_ms"),
    };
    let mut stmt = conn
        .prepare("SELECT version, name, checksum, chain, applied_at, duration_ms FROM migcheck_history ORDER BY version")
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
