//! Applying migrations to PostgreSQL through sqlx (feature `postgres`).
//!
//! The same history semantics as on SQLite: one row per applied migration
//! with version, name, checksum, chain hash, time and duration, and the same
//! refusal of edited or unknown migrations. A session-level advisory lock is
//! held for the whole run, so concurrent migrators take turns and the later
//! ones find nothing to do. Each migration runs in its own transaction (DDL is
//! transactional on PostgreSQL); a `no-transaction` file runs one statement at
//! a time outside any transaction (`CREATE INDEX CONCURRENTLY`). PostgreSQL
//! reports an error's character position, which becomes a line and column.
//! There is no backup here: use `pg_dump`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use migcheck_core::lexer;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool, Postgres};

use crate::sqlite::{Applied, AppliedMigration, Report, Status, UpgradeOptions};
use crate::{Error, Migration, Migrations, Mode, Script};

/// The advisory lock key: "migcheck" in ASCII, so that it is recognisable in
/// `pg_locks`.
const LOCK_KEY: i64 = 0x6d69_6763_6865_636b;

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Migrations {
    /// Applies every pending migration to the database behind `pool`.
    pub async fn upgrade_postgres(&self, pool: &PgPool) -> Result<Report, Error> {
        self.upgrade_postgres_with(pool, &UpgradeOptions::default()).await
    }

    /// Applies pending migrations as `options` say (`target`, `batch`; there
    /// is no `backup` on PostgreSQL).
    pub async fn upgrade_postgres_with(&self, pool: &PgPool, options: &UpgradeOptions) -> Result<Report, Error> {
        if let Some(version) = options.target
            && self.get(version).is_none()
        {
            return Err(Error::NoSuchVersion { version });
        }
        let mut conn = self.locked(pool).await?;
        let result = self.upgrade_locked(&mut conn, options).await;
        unlock(&mut conn, result).await
    }

    /// Reverts applied migrations newer than `version` (0: all), newest first.
    pub async fn downgrade_postgres_to(&self, pool: &PgPool, version: i64) -> Result<Report, Error> {
        if version != 0 && self.get(version).is_none() {
            return Err(Error::NoSuchVersion { version });
        }
        let mut conn = self.locked(pool).await?;
        let result = self.downgrade_locked(&mut conn, version).await;
        unlock(&mut conn, result).await
    }

    /// Records the database as being at `version` (0: none) without running anything.
    pub async fn stamp_postgres(&self, pool: &PgPool, version: i64) -> Result<(), Error> {
        if version != 0 && self.get(version).is_none() {
            return Err(Error::NoSuchVersion { version });
        }
        let mut conn = self.locked(pool).await?;
        let result = self.stamp_locked(&mut conn, version).await;
        unlock(&mut conn, result).await
    }

    /// What is applied, pending, divergent and unknown.
    pub async fn status_postgres(&self, pool: &PgPool) -> Result<Status, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Postgres)?;
        let applied = self.history_postgres(&mut conn).await?;
        Ok(self.status_of(applied))
    }

    async fn locked(&self, pool: &PgPool) -> Result<PoolConnection<Postgres>, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Postgres)?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK_KEY).execute(&mut *conn).await.map_err(Error::Postgres)?;
        Ok(conn)
    }

    async fn ensure_history(&self, conn: &mut PgConnection) -> Result<(), Error> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                chain TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                duration_ms BIGINT NOT NULL
            )",
            quote(&self.history)
        );
        sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await.map_err(Error::Postgres)?;
        Ok(())
    }

    async fn history_postgres(&self, conn: &mut PgConnection) -> Result<Vec<AppliedMigration>, Error> {
        let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
            .bind(quote(&self.history))
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
            quote(&self.history)
        );
        let rows: Vec<(i64, String, String, String, String, i64)> =
            sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn).await.map_err(|err| Error::History {
                message: format!(
                    "{err}; `{}` should have the columns version, name, checksum, chain, applied_at, duration_ms",
                    self.history
                ),
            })?;
        Ok(rows
            .into_iter()
            .map(|(version, name, checksum, chain, applied_at, ms)| AppliedMigration {
                version,
                name,
                checksum,
                chain,
                applied_at,
                duration: Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            })
            .collect())
    }

    async fn upgrade_locked(&self, conn: &mut PgConnection, options: &UpgradeOptions) -> Result<Report, Error> {
        self.ensure_history(conn).await?;
        let applied = self.history_postgres(conn).await?;
        let status = self.status_of(applied);
        self.refuse_divergence(&status)?;
        let done: HashSet<i64> = status.applied.iter().map(|a| a.version).collect();
        let pending: Vec<&Migration> = self
            .iter()
            .filter(|m| !done.contains(&m.version) && options.target.is_none_or(|t| m.version <= t))
            .collect();
        let mut report = Report::default();
        if options.batch {
            if let Some(m) = pending.iter().find(|m| m.up().mode() != Mode::Transaction) {
                return Err(Error::NotBatchable { version: m.version(), name: m.name().to_owned() });
            }
            let mut tx = conn.begin().await.map_err(Error::Postgres)?;
            let mut applied = Vec::new();
            for m in &pending {
                let started = Instant::now();
                run(&mut tx, m, m.up(), &report).await?;
                self.record(&mut tx, m, started.elapsed()).await?;
                applied.push(Applied { version: m.version(), name: m.name().to_owned(), duration: started.elapsed() });
            }
            tx.commit().await.map_err(Error::Postgres)?;
            report.applied = applied;
            return Ok(report);
        }
        for m in pending {
            let started = Instant::now();
            let step = async {
                if m.up().mode() == Mode::Transaction {
                    let mut tx = conn.begin().await.map_err(Error::Postgres)?;
                    run(&mut tx, m, m.up(), &report).await?;
                    self.record(&mut tx, m, started.elapsed()).await?;
                    tx.commit().await.map_err(Error::Postgres)?;
                } else {
                    run_outside_transaction(conn, m, m.up(), &report).await?;
                    self.record(conn, m, started.elapsed()).await?;
                }
                Ok::<(), Error>(())
            };
            if let Err(err) = step.await {
                return Err(err.during(m, &report));
            }
            report.applied.push(Applied {
                version: m.version(),
                name: m.name().to_owned(),
                duration: started.elapsed(),
            });
        }
        Ok(report)
    }

    async fn downgrade_locked(&self, conn: &mut PgConnection, version: i64) -> Result<Report, Error> {
        let applied = self.history_postgres(conn).await?;
        let status = self.status_of(applied);
        self.refuse_divergence(&status)?;
        let to_revert: Vec<&Migration> =
            status.applied.iter().rev().filter(|r| r.version > version).filter_map(|r| self.get(r.version)).collect();
        if let Some(m) = to_revert.iter().find(|m| !m.is_reversible()) {
            return Err(Error::Irreversible { version: m.version(), name: m.name().to_owned() });
        }
        let mut report = Report::default();
        let delete = format!("DELETE FROM {} WHERE version = $1", quote(&self.history));
        for m in to_revert {
            let Some(down) = m.down() else { continue };
            let started = Instant::now();
            if down.mode() == Mode::Transaction {
                let mut tx = conn.begin().await.map_err(Error::Postgres)?;
                run(&mut tx, m, down, &report).await?;
                sqlx::query(AssertSqlSafe(delete.clone()))
                    .bind(m.version())
                    .execute(&mut *tx)
                    .await
                    .map_err(Error::Postgres)?;
                tx.commit().await.map_err(Error::Postgres)?;
            } else {
                run_outside_transaction(conn, m, down, &report).await?;
                sqlx::query(AssertSqlSafe(delete.clone()))
                    .bind(m.version())
                    .execute(&mut *conn)
                    .await
                    .map_err(Error::Postgres)?;
            }
            report.applied.push(Applied {
                version: m.version(),
                name: m.name().to_owned(),
                duration: started.elapsed(),
            });
        }
        Ok(report)
    }

    async fn stamp_locked(&self, conn: &mut PgConnection, version: i64) -> Result<(), Error> {
        self.ensure_history(conn).await?;
        let applied = self.history_postgres(conn).await?;
        let done: HashSet<i64> = applied.iter().map(|a| a.version).collect();
        let mut tx = conn.begin().await.map_err(Error::Postgres)?;
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {} WHERE version > $1", quote(&self.history))))
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(Error::Postgres)?;
        for m in self.iter().filter(|m| m.version() <= version && !done.contains(&m.version())) {
            self.record(&mut tx, m, Duration::ZERO).await?;
        }
        tx.commit().await.map_err(Error::Postgres)?;
        Ok(())
    }

    async fn record(&self, conn: &mut PgConnection, m: &Migration, duration: Duration) -> Result<(), Error> {
        let sql = format!(
            "INSERT INTO {} (version, name, checksum, chain, duration_ms) VALUES ($1, $2, $3, $4, $5)",
            quote(&self.history)
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(m.version())
            .bind(m.name())
            .bind(m.checksum())
            .bind(m.chain())
            .bind(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
            .execute(&mut *conn)
            .await
            .map_err(Error::Postgres)?;
        Ok(())
    }
}

/// Releases the advisory lock whatever happened, then returns `result`.
async fn unlock<T>(conn: &mut PgConnection, result: Result<T, Error>) -> Result<T, Error> {
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut *conn).await;
    let value = result?;
    unlocked.map_err(Error::Postgres)?;
    Ok(value)
}

/// Runs a whole file in one simple query; PostgreSQL reports positions in it.
async fn run(conn: &mut PgConnection, m: &Migration, script: &Script, report: &Report) -> Result<(), Error> {
    sqlx::raw_sql(AssertSqlSafe(script.sql().to_owned()))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|err| failed(m, script, script.sql(), 0, err, report))
}

/// Runs a file one statement at a time, outside any transaction.
async fn run_outside_transaction(
    conn: &mut PgConnection,
    m: &Migration,
    script: &Script,
    report: &Report,
) -> Result<(), Error> {
    for range in lexer::postgres_statements(script.sql()) {
        let statement = &script.sql()[range.clone()];
        sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
            .execute(&mut *conn)
            .await
            .map_err(|err| failed(m, script, statement, range.start, err, report))?;
    }
    Ok(())
}

/// A failed migration, located: PostgreSQL's position counts characters from
/// 1 in the text it was sent (`sent`, which starts at byte `base` of the file).
fn failed(m: &Migration, script: &Script, sent: &str, base: usize, err: sqlx::Error, report: &Report) -> Error {
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
    Error::failed(m, script, offset, message, crate::error::Cause::Postgres(err), report)
}
