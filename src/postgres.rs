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

use std::time::{Duration, Instant};

use migcheck_core::lexer;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgDatabaseError, PgErrorPosition};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool, Postgres};

use crate::plan::{AppliedMigration, Report, Status, UpgradeOptions, from_millis, history_error, millis, quote};
use crate::{Error, Migration, Migrations, Mode, Script};

/// The advisory lock key: "migcheck" in ASCII, so that it is recognisable in
/// `pg_locks`.
const LOCK_KEY: i64 = 0x6d69_6763_6865_636b;

#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl Migrations {
    /// Applies every pending migration to the database behind `pool`.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// MIGRATIONS.upgrade_postgres(&pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_postgres(&self, pool: &PgPool) -> Result<Report, Error> {
        self.upgrade_postgres_with(pool, &UpgradeOptions::default(), |_, _, _| {}).await
    }

    /// Applies pending migrations as `options` say (`target`, `batch`; there
    /// is no `backup` on PostgreSQL: use `pg_dump`); `progress` is called
    /// before each one with the migration, its index and the number pending,
    /// as [`Migrations::upgrade_with`] does on SQLite.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// let options = migcheck::UpgradeOptions::default().target(20261124093000);
    /// let report = MIGRATIONS.upgrade_postgres_with(&pool, &options, |m, i, n| eprintln!("[{}/{n}] {m}", i + 1)).await?;
    /// println!("applied {}", report.applied.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_postgres_with(
        &self,
        pool: &PgPool,
        options: &UpgradeOptions,
        progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        self.check_target(options.target)?;
        let mut conn = self.locked(pool).await?;
        let result = self.upgrade_locked(&mut conn, options, progress).await;
        unlock(&mut conn, result).await
    }

    /// Reverts applied migrations newer than `version` (0: all), newest first.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// let report = MIGRATIONS.downgrade_postgres_to(&pool, 0).await?; // revert everything
    /// println!("reverted {}", report.applied.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn downgrade_postgres_to(&self, pool: &PgPool, version: i64) -> Result<Report, Error> {
        self.check_base_or_version(version)?;
        let mut conn = self.locked(pool).await?;
        let result = self.downgrade_locked(&mut conn, version).await;
        unlock(&mut conn, result).await
    }

    /// Records the database as being at `version` (0: none) without running anything.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// // A schema made before migcheck: adopt it at its version.
    /// MIGRATIONS.stamp_postgres(&pool, 20261124093000).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stamp_postgres(&self, pool: &PgPool, version: i64) -> Result<(), Error> {
        self.check_base_or_version(version)?;
        let mut conn = self.locked(pool).await?;
        let result = self.stamp_locked(&mut conn, version).await;
        unlock(&mut conn, result).await
    }

    /// What is applied, pending, divergent and unknown.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// let status = MIGRATIONS.status_postgres(&pool).await?;
    /// if !status.is_up_to_date() {
    ///     eprintln!("pending: {:?}", status.pending);
    /// }
    /// # Ok(())
    /// # }
    /// ```
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
        let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .map_err(|err| history_error(&self.history, err))?;
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

    async fn upgrade_locked(
        &self,
        conn: &mut PgConnection,
        options: &UpgradeOptions,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        self.ensure_history(conn).await?;
        let pending = self.to_apply(&self.history_postgres(conn).await?, options)?;
        let mut report = Report::default();
        let total = pending.len();
        if options.batch {
            let Some(&last) = pending.last() else { return Ok(report) };
            let mut batch = Report::default();
            let result = async {
                let mut tx = conn.begin().await.map_err(Error::Postgres)?;
                for (i, m) in pending.into_iter().enumerate() {
                    progress(m, i, total);
                    let started = Instant::now();
                    run(&mut tx, m, m.up(), &report).await?;
                    self.record(&mut tx, m, started.elapsed()).await?;
                    batch.push(m, started.elapsed());
                }
                tx.commit().await.map_err(Error::Postgres)
            }
            .await;
            // A failure to begin, record or commit the batch rolls all of it
            // back: said of its last migration, with nothing applied.
            result.map_err(|err| err.during(last, last.up(), &Report::default()))?;
            report.applied = batch.applied;
            return Ok(report);
        }
        for (i, m) in pending.into_iter().enumerate() {
            progress(m, i, total);
            let started = Instant::now();
            let record = async |conn: &mut PgConnection| self.record(conn, m, started.elapsed()).await;
            run_in(conn, m, m.up(), &report, record).await.map_err(|err| err.during(m, m.up(), &report))?;
            report.push(m, started.elapsed());
        }
        Ok(report)
    }

    async fn downgrade_locked(&self, conn: &mut PgConnection, version: i64) -> Result<Report, Error> {
        let plan = self.to_revert(&self.history_postgres(conn).await?, version)?;
        let mut report = Report::default();
        let delete = format!("DELETE FROM {} WHERE version = $1", quote(&self.history));
        for (m, down) in plan {
            let started = Instant::now();
            let forget = async |conn: &mut PgConnection| {
                sqlx::query(AssertSqlSafe(delete.clone()))
                    .bind(m.version())
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
                    .map_err(Error::Postgres)
            };
            run_in(conn, m, down, &report, forget).await.map_err(|err| err.during(m, down, &report))?;
            report.push(m, started.elapsed());
        }
        Ok(report)
    }

    async fn stamp_locked(&self, conn: &mut PgConnection, version: i64) -> Result<(), Error> {
        self.ensure_history(conn).await?;
        let applied = self.history_postgres(conn).await?;
        let mut tx = conn.begin().await.map_err(Error::Postgres)?;
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {} WHERE version > $1", quote(&self.history))))
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(Error::Postgres)?;
        for m in self.to_stamp(&applied, version) {
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
            .bind(millis(duration))
            .execute(&mut *conn)
            .await
            .map_err(Error::Postgres)?;
        Ok(())
    }
}

/// Runs `script` and then `bookkeeping` in one transaction, or, for a
/// file that runs outside one, a statement at a time and then
/// `bookkeeping` on its own.
async fn run_in(
    conn: &mut PgConnection,
    m: &Migration,
    script: &Script,
    report: &Report,
    bookkeeping: impl AsyncFnOnce(&mut PgConnection) -> Result<(), Error>,
) -> Result<(), Error> {
    if script.mode() == Mode::Transaction {
        let mut tx = conn.begin().await.map_err(Error::Postgres)?;
        run(&mut tx, m, script, report).await?;
        bookkeeping(&mut tx).await?;
        tx.commit().await.map_err(Error::Postgres)?;
    } else {
        run_outside_transaction(conn, m, script, report).await?;
        bookkeeping(conn).await?;
    }
    Ok(())
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
