//! The SQLite driver: carries out the protocol's steps through rusqlite.
//!
//! Transactions are `BEGIN IMMEDIATE`: SQLite's write lock at once, so that
//! migrators of one database queue (with the connection's busy timeout)
//! instead of failing half-way.

use migcheck_core::lexer::quote_ident;
use std::path::Path;
use std::time::Duration;

use migcheck_core::exec;
use rusqlite::{Connection, MAIN_DB, OptionalExtension, params};

use crate::plan::{AppliedMigration, MARK_PATTERN, Report, from_millis, history_error, millis};
use crate::protocol::{self, Apply, Failure, Head, Outcome, RowState, Step};
use crate::{Error, Migration, Script};

/// Carries out the protocol's steps on one connection.
pub(super) struct Driver<'c, 'm> {
    conn: &'c Connection,
    table: &'m str,
    /// The walk through the statements of a file that runs outside a
    /// transaction (one copy of its text, however many statements).
    walk: Option<(&'m Script, exec::Statements<'m>)>,
}

impl<'c, 'm> Driver<'c, 'm> {
    pub(super) fn new(conn: &'c Connection, table: &'m str) -> Self {
        Driver { conn, table, walk: None }
    }

    pub(super) fn drive(
        mut self,
        apply: &mut Apply<'m>,
        progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        protocol::drive(apply, progress, |step| self.carry(step))
    }

    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<Outcome, Error> {
        self.conn.prepare_cached(sql)?.execute(params)?;
        Ok(Outcome::Done)
    }

    pub(super) fn carry(&mut self, step: Step<'m>) -> Result<Outcome, Error> {
        let (conn, table) = (self.conn, quote_ident(self.table));
        match step {
            Step::ReadHead => Ok(Outcome::Head(head(conn, self.table))),
            Step::ReadHistory => Ok(Outcome::History(rows(conn, self.table)?)),
            Step::CreateHistory if !conn.is_autocommit() => self.execute(&create_history(self.table), []),
            Step::CreateHistory => {
                self.execute("BEGIN IMMEDIATE", [])?;
                let created = self.execute(&create_history(self.table), []);
                self.execute(if created.is_ok() { "COMMIT" } else { "ROLLBACK" }, [])?;
                created
            }
            Step::Backup(path) => backup(conn, &path).map(|()| Outcome::Done),
            // The write lock at once, so that two migrators queue (with the
            // connection's busy timeout) instead of failing half-way.
            Step::Begin => self.execute("BEGIN IMMEDIATE", []),
            Step::RowState(version) => Ok(Outcome::Row(row_state(conn, self.table, version)?)),
            Step::Starting { .. } => Ok(Outcome::Done),
            Step::RunScript { script, .. } => Ok(match exec::run_statements(conn, script.sql(), |_| Ok(())) {
                Ok(_) => Outcome::Done,
                Err(err) => Outcome::Failed(failure(err)),
            }),
            Step::RunStatement { script, from, .. } => {
                if !self.walk.as_ref().is_some_and(|(s, w)| std::ptr::eq(*s, script) && w.position() == from) {
                    match exec::Statements::new(script.sql(), from) {
                        Ok(walk) => self.walk = Some((script, walk)),
                        Err(err) => return Ok(Outcome::Failed(failure(err))),
                    }
                }
                let Some((_, walk)) = &mut self.walk else { return Ok(Outcome::End) };
                Ok(match walk.run_next(conn, |_| Ok(())) {
                    None => Outcome::End,
                    Some(Ok(range)) => Outcome::Ran(range),
                    Some(Err(err)) => Outcome::Failed(failure(err)),
                })
            }
            // SQLite builds an index or fails: none is left invalid.
            Step::IndexValid(_) => Ok(Outcome::Valid(true)),
            Step::RollbackOwn if conn.is_autocommit() => Ok(Outcome::RolledBack(false)),
            Step::RollbackOwn => {
                let _ = conn.execute_batch("ROLLBACK");
                Ok(Outcome::RolledBack(true))
            }
            Step::Mark { migration: m, insert: true, checksum, prefix } => self.execute(
                &format!(
                    "INSERT INTO {table} (version, name, checksum, chain, applied_at, duration_ms)
                     VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)"
                ),
                params![m.version(), m.name(), checksum, prefix],
            ),
            Step::Mark { migration: m, insert: false, checksum, prefix } => self.execute(
                &format!("UPDATE {table} SET checksum = ?2, chain = ?3 WHERE version = ?1"),
                params![m.version(), checksum, prefix],
            ),
            Step::ClearMark(version) => self.execute(
                &format!("DELETE FROM {table} WHERE version = ?1 AND checksum LIKE '{MARK_PATTERN}'"),
                [version],
            ),
            Step::Record { migration, duration } => {
                record(conn, self.table, migration, duration)?;
                Ok(Outcome::Done)
            }
            Step::Forget { version, and_before } => {
                let op = if and_before { "<=" } else { "=" };
                self.execute(&format!("DELETE FROM {table} WHERE version {op} ?1"), [version])
            }
            Step::ForgetAfter(version) => self.execute(
                &format!("DELETE FROM {table} WHERE version > ?1 OR checksum LIKE '{MARK_PATTERN}'"),
                [version],
            ),
            Step::Commit => self.execute("COMMIT", []),
            Step::Rollback => self.execute("ROLLBACK", []),
        }
    }
}

/// The history's newest row, in one indexed read; `None` when there is no
/// history table yet or it is not ours (the full read then says which).
pub(super) fn head(conn: &Connection, table: &str) -> Option<Head> {
    let sql = format!("SELECT version, chain FROM {} ORDER BY version DESC LIMIT 1", quote_ident(table));
    let mut stmt = conn.prepare_cached(&sql).ok()?;
    stmt.query_row([], |r| Ok(Head { version: r.get(0)?, chain: r.get(1)? })).optional().ok().flatten()
}

/// The history table's rows, marks included; none when it does not exist.
pub(super) fn rows(conn: &Connection, table: &str) -> Result<Vec<AppliedMigration>, Error> {
    let exists: Option<i64> = conn
        .query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    read_history(conn, table)
}

fn create_history(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            chain TEXT NOT NULL,
            applied_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL
        )",
        quote_ident(table)
    )
}

fn failure(err: exec::StatementError) -> Failure {
    let cause = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(err.code), Some(err.message.clone()));
    Failure { offset: err.offset, message: err.message, cause: crate::error::Cause::Sqlite(cause) }
}

fn row_state(conn: &Connection, table: &str, version: i64) -> Result<Option<RowState>, Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT checksum LIKE '{MARK_PATTERN}' FROM {} WHERE version = ?1",
        quote_ident(table)
    ))?;
    let marked: Option<bool> = stmt.query_row([version], |r| r.get(0)).optional()?;
    Ok(marked.map(|marked| if marked { RowState::Marked } else { RowState::Applied }))
}

fn record(conn: &Connection, table: &str, m: &Migration, duration: Duration) -> Result<(), Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO {} (version, name, checksum, chain, applied_at, duration_ms)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?5)",
        quote_ident(table)
    ))?;
    stmt.execute(params![m.version(), m.name(), m.checksum(), m.chain(), millis(duration)])?;
    Ok(())
}

fn read_history(conn: &Connection, table: &str) -> Result<Vec<AppliedMigration>, Error> {
    let history = |err: rusqlite::Error| match err {
        rusqlite::Error::SqlInputError { msg, .. } => history_error(table, msg),
        other => history_error(table, other),
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT version, name, checksum, chain, applied_at, duration_ms FROM {} ORDER BY version",
            quote_ident(table)
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
                duration: from_millis(r.get(5)?),
            })
        })
        .map_err(history)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(history)
}

fn backup(conn: &Connection, path: &Path) -> Result<(), Error> {
    conn.backup(MAIN_DB, path, None::<fn(rusqlite::backup::Progress)>)
        .map_err(|err| Error::Backup { path: path.to_owned(), source: err })
}
