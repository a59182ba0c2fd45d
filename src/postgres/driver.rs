//! The PostgreSQL driver: carries out the protocol's steps through sqlx,
//! on one connection that holds the advisory lock.

use migcheck_core::lexer::quote_ident;
use std::ops::Range;

use migcheck_core::lexer;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::{AssertSqlSafe, PgConnection, Postgres};

use crate::Error;
use crate::plan::{AppliedMigration, MARK_PATTERN, from_millis, history_error, millis};
use crate::protocol::{Failure, Head, Outcome, RowState, Step};

/// Carries out the protocol's steps on one connection.
pub(super) struct Driver<'m> {
    pub(super) conn: PoolConnection<Postgres>,
    pub(super) table: &'m str,
    /// The statements of the file that runs outside a transaction, split
    /// once: its text's address, and their ranges.
    pub(super) statements: Option<(usize, Vec<Range<usize>>)>,
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

impl<'m> Driver<'m> {
    async fn execute(&mut self, sql: String, version: Option<i64>) -> Result<Outcome, Error> {
        let query = sqlx::query(AssertSqlSafe(sql));
        let query = match version {
            Some(v) => query.bind(v),
            None => query,
        };
        query.execute(&mut *self.conn).await.map_err(Error::Postgres)?;
        Ok(Outcome::Done)
    }

    async fn raw(&mut self, sql: &'static str) -> Result<Outcome, Error> {
        sqlx::raw_sql(sql).execute(&mut *self.conn).await.map_err(Error::Postgres)?;
        Ok(Outcome::Done)
    }

    pub(super) async fn carry(&mut self, step: Step<'m>) -> Result<Outcome, Error> {
        let table = quote_ident(self.table);
        let conn: &mut PgConnection = &mut self.conn;
        match step {
            Step::ReadHead => {
                let sql = format!("SELECT version, chain FROM {table} ORDER BY version DESC LIMIT 1");
                let head: Option<(i64, String)> =
                    sqlx::query_as(AssertSqlSafe(sql)).fetch_optional(conn).await.ok().flatten();
                Ok(Outcome::Head(head.map(|(version, chain)| Head { version, chain })))
            }
            Step::ReadHistory => Ok(Outcome::History(history(conn, self.table).await?)),
            Step::CreateHistory => {
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {table} (
                        version BIGINT PRIMARY KEY,
                        name TEXT NOT NULL,
                        checksum TEXT NOT NULL,
                        chain TEXT NOT NULL,
                        applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                        duration_ms BIGINT NOT NULL
                    )"
                );
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await.map_err(Error::Postgres)?;
                Ok(Outcome::Done)
            }
            Step::Backup(_) => Err(Error::History {
                message: "PostgreSQL has no backup here (SQLite only): use pg_dump, and upgrade without one".into(),
            }),
            Step::Begin => self.raw("BEGIN").await,
            Step::Commit => self.raw("COMMIT").await,
            Step::Rollback => self.raw("ROLLBACK").await,
            Step::RowState(version) => {
                let sql = format!("SELECT checksum LIKE '{MARK_PATTERN}' FROM {table} WHERE version = $1");
                let marked: Option<bool> = sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(version)
                    .fetch_optional(conn)
                    .await
                    .map_err(Error::Postgres)?;
                Ok(Outcome::Row(marked.map(|m| if m { RowState::Marked } else { RowState::Applied })))
            }
            Step::Starting { .. } => Ok(Outcome::Done),
            // One simple query: PostgreSQL reports positions in it.
            Step::RunScript { script, .. } => {
                Ok(match sqlx::raw_sql(AssertSqlSafe(script.sql().to_owned())).execute(conn).await {
                    Ok(_) => Outcome::Done,
                    Err(err) => Outcome::Failed(failure(script.sql(), 0, err)),
                })
            }
            Step::RunStatement { script, from, .. } => {
                let text = script.sql().as_ptr() as usize;
                if self.statements.as_ref().is_none_or(|(t, _)| *t != text) {
                    self.statements = Some((text, lexer::postgres_statements(script.sql())));
                }
                let ranges = self.statements.as_ref().map(|(_, r)| r.as_slice()).unwrap_or_default();
                let Some(range) = ranges.iter().find(|r| r.start >= from).cloned() else { return Ok(Outcome::End) };
                let sent = &script.sql()[range.clone()];
                Ok(match sqlx::raw_sql(AssertSqlSafe(sent.to_owned())).execute(&mut *self.conn).await {
                    Ok(_) => Outcome::Ran(range),
                    Err(err) => Outcome::Failed(failure(sent, range.start, err)),
                })
            }
            Step::IndexValid(name) => {
                let invalid = sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                                    WHERE c.relname = $1 AND pg_table_is_visible(c.oid) AND NOT x.indisvalid)",
                )
                .bind(name)
                .fetch_one(conn)
                .await
                .map_err(Error::Postgres)?;
                Ok(Outcome::Valid(!invalid))
            }
            // A warning, not an error, when no transaction is open.
            Step::RollbackOwn => Ok(Outcome::RolledBack(self.raw("ROLLBACK").await.is_ok())),
            Step::Mark { migration: m, insert: true, checksum, prefix } => {
                let sql = format!(
                    "INSERT INTO {table} (version, name, checksum, chain, duration_ms) VALUES ($1, $2, $3, $4, 0)"
                );
                let query =
                    sqlx::query(AssertSqlSafe(sql)).bind(m.version()).bind(m.name()).bind(checksum).bind(prefix);
                query.execute(conn).await.map_err(Error::Postgres)?;
                Ok(Outcome::Done)
            }
            Step::Mark { migration: m, insert: false, checksum, prefix } => {
                let sql = format!("UPDATE {table} SET checksum = $2, chain = $3 WHERE version = $1");
                let query = sqlx::query(AssertSqlSafe(sql)).bind(m.version()).bind(checksum).bind(prefix);
                query.execute(conn).await.map_err(Error::Postgres)?;
                Ok(Outcome::Done)
            }
            Step::ClearMark(version) => {
                let sql = format!("DELETE FROM {table} WHERE version = $1 AND checksum LIKE '{MARK_PATTERN}'");
                self.execute(sql, Some(version)).await
            }
            Step::Record { migration: m, duration } => {
                let sql = format!(
                    "INSERT INTO {table} (version, name, checksum, chain, duration_ms) VALUES ($1, $2, $3, $4, $5)"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(m.version())
                    .bind(m.name())
                    .bind(m.checksum())
                    .bind(m.chain())
                    .bind(millis(duration))
                    .execute(conn)
                    .await
                    .map_err(Error::Postgres)?;
                Ok(Outcome::Done)
            }
            Step::Forget { version, and_before } => {
                let op = if and_before { "<=" } else { "=" };
                self.execute(format!("DELETE FROM {table} WHERE version {op} $1"), Some(version)).await
            }
            Step::ForgetAfter(version) => {
                let sql = format!("DELETE FROM {table} WHERE version > $1 OR checksum LIKE '{MARK_PATTERN}'");
                self.execute(sql, Some(version)).await
            }
        }
    }
}

/// The history table's rows, marks included; none when it does not exist.
pub(super) async fn history(conn: &mut PgConnection, table: &str) -> Result<Vec<AppliedMigration>, Error> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(quote_ident(table))
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::Postgres)?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT version, name, checksum, chain,
                to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), duration_ms
         FROM {} ORDER BY version",
        quote_ident(table)
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

/// A failed statement, located: PostgreSQL's position counts characters
/// from 1 in the text it was sent (`sent`, which starts at byte `base` of the
/// file).
fn failure(sent: &str, base: usize, err: sqlx::Error) -> Failure {
    let (offset, message) = match &err {
        sqlx::Error::Database(db) => {
            let position = db.try_downcast_ref::<PgDatabaseError>().and_then(|pg| match pg.position() {
                Some(PgErrorPosition::Original(chars)) => Some(chars),
                _ => None,
            });
            let offset = lexer::postgres_position(sent, base, position).unwrap_or(base + lexer::skip_trivia(sent));
            (offset, db.message().to_owned())
        }
        other => (base, other.to_string()),
    };
    Failure { offset, message, cause: crate::error::Cause::Postgres(err) }
}
