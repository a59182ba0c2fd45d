//! The MySQL driver: carries out the protocol's steps through sqlx, on one
//! connection that holds the named lock. Every file runs statement by
//! statement (the protocol's implicit-commit mode): DDL commits on its own
//! here, so a transaction around a file would not hold.

use std::ops::Range;

use migcheck_core::lexer::{self, quote_mysql_ident};
use migcheck_core::model::Dialect;
use sqlx::mysql::MySqlDatabaseError;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, MySql, MySqlConnection};

use crate::Error;
use crate::plan::{AppliedMigration, MARK_PATTERN, from_millis, history_error, millis};
use crate::protocol::{Failure, Head, Outcome, RowState, Step};

/// Carries out the protocol's steps on one connection.
pub(super) struct Driver<'m> {
    pub(super) conn: PoolConnection<MySql>,
    pub(super) table: &'m str,
    /// The statements of the file running, split once: its text's address,
    /// and their ranges.
    pub(super) statements: Option<(usize, Vec<Range<usize>>)>,
    /// A transaction of the protocol's is open (a `CREATE TABLE` commits it:
    /// it is begun again after one).
    pub(super) open: bool,
    /// The operation ended and the lock was released.
    pub(super) finished: bool,
}

impl Drop for Driver<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}

fn db(err: sqlx::Error) -> Error {
    Error::Mysql(err)
}

impl<'m> Driver<'m> {
    async fn raw(&mut self, sql: &'static str) -> Result<Outcome, Error> {
        sqlx::raw_sql(sql).execute(&mut *self.conn).await.map_err(db)?;
        Ok(Outcome::Done)
    }

    async fn execute(&mut self, sql: String, version: i64) -> Result<Outcome, Error> {
        sqlx::query(AssertSqlSafe(sql)).bind(version).execute(&mut *self.conn).await.map_err(db)?;
        Ok(Outcome::Done)
    }

    /// Runs the next statement of `sql` at or after byte `from`.
    async fn statement(&mut self, sql: &str, from: usize) -> Outcome {
        let text = sql.as_ptr() as usize;
        if self.statements.as_ref().is_none_or(|(t, _)| *t != text) {
            self.statements = Some((text, lexer::statements(sql, Dialect::Mysql)));
        }
        let ranges = self.statements.as_ref().map(|(_, r)| r.as_slice()).unwrap_or_default();
        let Some(range) = ranges.iter().find(|r| r.start >= from).cloned() else { return Outcome::End };
        let sent = &sql[range.clone()];
        match sqlx::raw_sql(AssertSqlSafe(sent.to_owned())).execute(&mut *self.conn).await {
            Ok(_) => Outcome::Ran(range),
            Err(err) => Outcome::Failed(failure(sent, range.start, err)),
        }
    }

    pub(super) async fn carry(&mut self, step: Step<'m>) -> Result<Outcome, Error> {
        let table = quote_mysql_ident(self.table);
        match step {
            Step::ReadHead => {
                let sql = format!("SELECT version, chain FROM {table} ORDER BY version DESC LIMIT 1");
                let head: Option<(i64, String)> =
                    sqlx::query_as(AssertSqlSafe(sql)).fetch_optional(&mut *self.conn).await.ok().flatten();
                Ok(Outcome::Head(head.map(|(version, chain)| Head { version, chain })))
            }
            Step::ReadHistory => Ok(Outcome::History(history(&mut self.conn, self.table).await?)),
            Step::CreateHistory => {
                if exists(&mut self.conn, self.table).await? {
                    return Ok(Outcome::Done);
                }
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {table} (
                        version BIGINT PRIMARY KEY,
                        name TEXT NOT NULL,
                        checksum TEXT NOT NULL,
                        chain TEXT NOT NULL,
                        applied_at DATETIME(3) NOT NULL,
                        duration_ms BIGINT NOT NULL
                    )"
                );
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *self.conn).await.map_err(db)?;
                // The CREATE committed the open transaction: open another.
                if self.open {
                    self.raw("BEGIN").await?;
                }
                Ok(Outcome::Done)
            }
            Step::Backup(_) => Err(Error::History {
                message: "MySQL has no backup here (SQLite only): use mysqldump, and upgrade without one".into(),
            }),
            Step::Begin => {
                self.open = true;
                self.raw("BEGIN").await
            }
            Step::Commit => {
                self.open = false;
                self.raw("COMMIT").await
            }
            Step::Rollback => {
                self.open = false;
                self.raw("ROLLBACK").await
            }
            Step::RowState(version) => {
                let sql =
                    format!("SELECT CAST(checksum LIKE '{MARK_PATTERN}' AS SIGNED) FROM {table} WHERE version = ?");
                let marked: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(version)
                    .fetch_optional(&mut *self.conn)
                    .await
                    .map_err(db)?;
                Ok(Outcome::Row(marked.map(|m| if m != 0 { RowState::Marked } else { RowState::Applied })))
            }
            Step::Starting { .. } => Ok(Outcome::Done),
            // Not asked for in implicit-commit mode; answered all the same,
            // statement by statement.
            Step::RunScript { script, .. } => {
                let mut from = 0;
                loop {
                    match self.statement(script.sql(), from).await {
                        Outcome::Ran(range) => from = range.end,
                        Outcome::End => return Ok(Outcome::Done),
                        failed => return Ok(failed),
                    }
                }
            }
            Step::RunStatement { script, from, .. } => Ok(self.statement(script.sql(), from).await),
            Step::IndexValid(_) => Ok(Outcome::Valid(true)),
            Step::RollbackOwn => Ok(Outcome::RolledBack(self.raw("ROLLBACK").await.is_ok())),
            Step::Mark { migration: m, insert: true, checksum, prefix } => {
                let sql = format!(
                    "INSERT INTO {table} (version, name, checksum, chain, applied_at, duration_ms) \
                     VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), 0)"
                );
                let query =
                    sqlx::query(AssertSqlSafe(sql)).bind(m.version()).bind(m.name()).bind(checksum).bind(prefix);
                query.execute(&mut *self.conn).await.map_err(db)?;
                Ok(Outcome::Done)
            }
            Step::Mark { migration: m, insert: false, checksum, prefix } => {
                let sql = format!("UPDATE {table} SET checksum = ?, chain = ? WHERE version = ?");
                let query = sqlx::query(AssertSqlSafe(sql)).bind(checksum).bind(prefix).bind(m.version());
                query.execute(&mut *self.conn).await.map_err(db)?;
                Ok(Outcome::Done)
            }
            Step::ClearMark(version) => {
                let sql = format!("DELETE FROM {table} WHERE version = ? AND checksum LIKE '{MARK_PATTERN}'");
                self.execute(sql, version).await
            }
            Step::Record { migration: m, duration } => {
                let sql = format!(
                    "INSERT INTO {table} (version, name, checksum, chain, applied_at, duration_ms) \
                     VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3), ?)"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(m.version())
                    .bind(m.name())
                    .bind(m.checksum())
                    .bind(m.chain())
                    .bind(millis(duration))
                    .execute(&mut *self.conn)
                    .await
                    .map_err(db)?;
                Ok(Outcome::Done)
            }
            Step::Forget { version, and_before } => {
                let op = if and_before { "<=" } else { "=" };
                self.execute(format!("DELETE FROM {table} WHERE version {op} ?"), version).await
            }
            Step::ForgetAfter(version) => {
                let sql = format!("DELETE FROM {table} WHERE version > ? OR checksum LIKE '{MARK_PATTERN}'");
                self.execute(sql, version).await
            }
        }
    }
}

/// Whether the history table exists in the connection's database.
async fn exists(conn: &mut MySqlConnection, table: &str) -> Result<bool, Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(table)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    Ok(n > 0)
}

/// The history table's rows, marks included; none when it does not exist.
pub(super) async fn history(conn: &mut MySqlConnection, table: &str) -> Result<Vec<AppliedMigration>, Error> {
    if !exists(conn, table).await? {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT version, CAST(name AS CHAR), CAST(checksum AS CHAR), CAST(chain AS CHAR),
                CAST(CONCAT(DATE_FORMAT(applied_at, '%Y-%m-%dT%H:%i:%s.'),
                            LPAD(MICROSECOND(applied_at) DIV 1000, 3, '0'), 'Z') AS CHAR),
                duration_ms
         FROM {} ORDER BY version",
        quote_mysql_ident(table)
    );
    let rows: Vec<(i64, String, String, String, String, i64)> =
        sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(|err| history_error(table, err))?;
    Ok(rows
        .into_iter()
        .map(|(version, name, checksum, chain, applied_at, ms)| AppliedMigration {
            version,
            name,
            checksum,
            chain,
            applied_at,
            duration: from_millis(ms),
        })
        .collect())
}

/// A failed statement, located in `sent` (which starts at byte `base` of
/// the file): MySQL gives no position, but a syntax error quotes the text
/// from where it stopped (`near 'FROMM t' at line 1`), and most other errors
/// quote the name they are about (`Unknown column 'emial'`).
fn failure(sent: &str, base: usize, err: sqlx::Error) -> Failure {
    let (offset, message) = match &err {
        sqlx::Error::Database(db) => {
            let message = db.message().to_owned();
            let at =
                db.try_downcast_ref::<MySqlDatabaseError>().and_then(|_| lexer::mysql_error_offset(sent, &message));
            (base + at.unwrap_or_else(|| lexer::skip_trivia(sent)), message)
        }
        other => (base, other.to_string()),
    };
    Failure { offset, message, cause: crate::error::Cause::Mysql(err) }
}
