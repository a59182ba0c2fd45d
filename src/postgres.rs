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

use crate::plan::{
    AppliedMigration, Direction, Interrupted, MARK_PATTERN, Report, Resume, Status, UpgradeOptions, from_millis,
    history_error, millis, quote,
};
use crate::{Error, Migration, Migrations, Mode, Script};

/// The advisory lock key: "migcheck" in ASCII, so that it is recognisable in
/// `pg_locks`.
const LOCK_KEY: i64 = 0x6d69_6763_6865_636b;

/// The lock is per schema: migrators of one schema take turns, tenants in
/// schemas of their own migrate side by side (`public` keeps the plain key).
const LOCK: &str = "SELECT pg_advisory_lock(CASE WHEN current_schema() = 'public' THEN $1 \
                    ELSE $1 # hashtext(current_schema())::bigint END)";
const UNLOCK: &str = "SELECT pg_advisory_unlock(CASE WHEN current_schema() = 'public' THEN $1 \
                      ELSE $1 # hashtext(current_schema())::bigint END)";

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
        self.upgrade_postgres_from(pool, options, &mut None, progress).await
    }

    /// [`Migrations::upgrade_postgres_with`], saying in `before` the version
    /// the database was at (read under the lock, with the history).
    pub(crate) async fn upgrade_postgres_from(
        &self,
        pool: &PgPool,
        options: &UpgradeOptions,
        before: &mut Option<i64>,
        progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        self.check_target(options.target)?;
        let mut conn = self.locked(pool).await?;
        let result = self.upgrade_locked(&mut conn, options, before, progress).await;
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
        let rows = self.history_postgres(&mut conn).await?;
        self.status_of(rows)
    }

    async fn locked(&self, pool: &PgPool) -> Result<PoolConnection<Postgres>, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Postgres)?;
        sqlx::query(LOCK).bind(LOCK_KEY).execute(&mut *conn).await.map_err(Error::Postgres)?;
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
        before: &mut Option<i64>,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        let rows = self.history_postgres(conn).await?;
        // A history with rows has its table: one round trip less per
        // database, which fleets of schemas feel.
        if rows.is_empty() {
            self.ensure_history(conn).await?;
        }
        *before = rows.iter().rev().find(|r| !r.checksum.starts_with("interrupted ")).map(|r| r.version);
        let (pending, resume) = self.to_apply(&rows, options)?;
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
                    self.record_step_postgres(&mut tx, m, started.elapsed()).await?;
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
            let record = async |conn: &mut PgConnection| self.record_step_postgres(conn, m, started.elapsed()).await;
            let run = Run {
                m,
                script: m.up(),
                direction: Direction::Up,
                resume: resume.filter(|r| r.version == m.version()),
            };
            self.run_postgres(conn, &run, &report, record).await.map_err(|err| err.during(m, m.up(), &report))?;
            report.push(m, started.elapsed());
        }
        Ok(report)
    }

    async fn downgrade_locked(&self, conn: &mut PgConnection, version: i64) -> Result<Report, Error> {
        let (plan, mut resume) = self.to_revert(&self.history_postgres(conn).await?, version)?;
        let mut report = Report::default();
        let delete = format!("DELETE FROM {} WHERE version = $1", quote(&self.history));
        // The baseline's down forgets every migration it replaced.
        let delete_replaced = format!("DELETE FROM {} WHERE version <= $1", quote(&self.history));
        for (m, down) in plan {
            let started = Instant::now();
            let sql = if self.is_baseline(m) { &delete_replaced } else { &delete };
            let forget = async |conn: &mut PgConnection| {
                sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(m.version())
                    .execute(&mut *conn)
                    .await
                    .map(|_| ())
                    .map_err(Error::Postgres)
            };
            let run = Run { m, script: down, direction: Direction::Down, resume: resume.take() };
            self.run_postgres(conn, &run, &report, forget).await.map_err(|err| err.during(m, down, &report))?;
            report.push(m, started.elapsed());
        }
        Ok(report)
    }

    async fn stamp_locked(&self, conn: &mut PgConnection, version: i64) -> Result<(), Error> {
        self.ensure_history(conn).await?;
        let applied = self.history_postgres(conn).await?;
        let mut tx = conn.begin().await.map_err(Error::Postgres)?;
        let forget =
            format!("DELETE FROM {} WHERE version > $1 OR checksum LIKE '{MARK_PATTERN}'", quote(&self.history));
        sqlx::query(AssertSqlSafe(forget)).bind(version).execute(&mut *tx).await.map_err(Error::Postgres)?;
        for m in self.to_stamp(&applied, version) {
            self.record(&mut tx, m, Duration::ZERO).await?;
        }
        tx.commit().await.map_err(Error::Postgres)?;
        Ok(())
    }

    /// Records `m`; for the baseline, every migration it replaces (the time
    /// taken on its own version).
    async fn record_step_postgres(
        &self,
        conn: &mut PgConnection,
        m: &Migration,
        duration: Duration,
    ) -> Result<(), Error> {
        for r in self.recorded_by(m) {
            self.record(conn, r, if r.version() == m.version() { duration } else { Duration::ZERO }).await?;
        }
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

/// A script to run, and where it resumes.
struct Run<'a> {
    m: &'a Migration,
    script: &'a Script,
    direction: Direction,
    resume: Option<Resume>,
}

impl Migrations {
    /// Runs the script and then `bookkeeping` in one transaction, or, for a
    /// file that runs outside one, a statement at a time, marking in the
    /// history how far it got ([`Interrupted`]), and then `bookkeeping` with
    /// the mark cleared in a transaction of their own.
    async fn run_postgres(
        &self,
        conn: &mut PgConnection,
        run: &Run<'_>,
        report: &Report,
        bookkeeping: impl AsyncFnOnce(&mut PgConnection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let Run { m, script, direction, resume } = *run;
        if script.mode() == Mode::Transaction {
            let mut tx = conn.begin().await.map_err(Error::Postgres)?;
            self::run(&mut tx, m, script, report).await?;
            bookkeeping(&mut tx).await?;
            tx.commit().await.map_err(Error::Postgres)?;
            return Ok(());
        }
        let (mut done, from) = resume.map_or((0, 0), |r| (r.done, r.from));
        if resume.is_none() {
            self.mark(conn, m, direction, 0, script, 0, true).await?;
        }
        for range in lexer::postgres_statements(script.sql()).into_iter().filter(|r| r.start >= from) {
            let statement = &script.sql()[range.clone()];
            if let Err(err) = sqlx::raw_sql(AssertSqlSafe(statement.to_owned())).execute(&mut *conn).await {
                let err = failed(m, script, statement, range.start, err, report);
                // A file with its own transaction may have one open: it rolls
                // back with the marks written in it (a warning, if none is open).
                if sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_ok() {
                    done = self.kept(conn, m.version()).await.unwrap_or(done);
                }
                return Err(err.kept(done));
            }
            // A `CREATE INDEX CONCURRENTLY` that failed part-way leaves its
            // index INVALID, and `IF NOT EXISTS` skips it when the file is
            // run again: not done until the index is valid.
            if let Some(index) = lexer::created_index(statement)
                && self.invalid_index(conn, &index).await
            {
                let at = range.start + lexer::skip_trivia(statement);
                let message = format!(
                    "index `{index}` is INVALID (a `CREATE INDEX CONCURRENTLY` that failed part-way leaves it so, and \
                     `IF NOT EXISTS` then skips it): it is not used, and a unique one does not keep duplicates out; \
                     drop it with `DROP INDEX CONCURRENTLY {}` and run the migration again",
                    quote(&index)
                );
                let cause = crate::error::Cause::InvalidIndex(crate::error::InvalidIndex { index });
                return Err(Error::failed(m, script, at, message, cause, report).kept(done));
            }
            done += 1;
            // Written in the file's own transaction, if it has one open, so
            // that the statement and its mark commit together or not at all.
            self.mark(conn, m, direction, done, script, range.end, false)
                .await
                .map_err(|err| err.unrecorded(m, direction, done))?;
        }
        let finish = async {
            let mut tx = conn.begin().await.map_err(Error::Postgres)?;
            let clear =
                format!("DELETE FROM {} WHERE version = $1 AND checksum LIKE '{MARK_PATTERN}'", quote(&self.history));
            sqlx::query(AssertSqlSafe(clear)).bind(m.version()).execute(&mut *tx).await.map_err(Error::Postgres)?;
            bookkeeping(&mut tx).await?;
            tx.commit().await.map_err(Error::Postgres)
        };
        finish.await.map_err(|err| err.unrecorded(m, direction, done))
    }

    /// Writes the mark of `script` after `done` statements (ending at
    /// `offset`): `first`, before any ran (an up file's new row, or a down
    /// file's row marked), otherwise the mark moved on.
    #[allow(clippy::too_many_arguments)]
    async fn mark(
        &self,
        conn: &mut PgConnection,
        m: &Migration,
        direction: Direction,
        done: usize,
        script: &Script,
        offset: usize,
        first: bool,
    ) -> Result<(), Error> {
        let (checksum, prefix) = Interrupted::mark(direction, done, script, offset);
        let table = quote(&self.history);
        let query = if first && direction == Direction::Up {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO {table} (version, name, checksum, chain, duration_ms) VALUES ($1, $2, $3, $4, 0)"
            )))
            .bind(m.version())
            .bind(m.name())
        } else {
            sqlx::query(AssertSqlSafe(format!("UPDATE {table} SET checksum = $2, chain = $3 WHERE version = $1")))
                .bind(m.version())
        };
        query.bind(checksum).bind(prefix).execute(&mut *conn).await.map_err(Error::Postgres)?;
        Ok(())
    }

    /// Whether the index `name` (as the search path finds it) is INVALID.
    async fn invalid_index(&self, conn: &mut PgConnection, name: &str) -> bool {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                            WHERE c.relname = $1 AND pg_table_is_visible(c.oid) AND NOT x.indisvalid)",
        )
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or(false)
    }

    /// How many statements the mark of `version` says ran.
    async fn kept(&self, conn: &mut PgConnection, version: i64) -> Option<usize> {
        crate::plan::statements_done(self.history_postgres(conn).await.ok()?, version)
    }
}

/// Releases the advisory lock whatever happened, then returns `result`.
async fn unlock<T>(conn: &mut PgConnection, result: Result<T, Error>) -> Result<T, Error> {
    let unlocked = sqlx::query(UNLOCK).bind(LOCK_KEY).execute(&mut *conn).await;
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
