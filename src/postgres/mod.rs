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

mod driver;

use migcheck_core::model::Dialect;
use sqlx::PgPool;

use crate::plan::{Report, Status, UpgradeOptions};
use crate::protocol::{self, Apply, Locking, Next, Outcome, Step};
use crate::{Error, Migration, Migrations};
use driver::{Driver, history};

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
        // No backup here: `UpgradeOptions::backup` is SQLite's.
        let options = UpgradeOptions { backup: None, ..options.clone() };
        let mut apply = Apply::upgrade(self, &options, Locking::Session);
        let result = self.locked(pool, &mut apply, progress).await;
        *before = apply.version_before();
        result
    }

    /// The steps [`Migrations::upgrade_postgres_with`] would take on the
    /// database behind `pool`, if every statement succeeds; nothing is
    /// changed (see [`Migrations::upgrade_plan`]).
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect("postgres://app@localhost/app").await?;
    /// for step in MIGRATIONS.upgrade_plan_postgres(&pool, &Default::default()).await? {
    ///     println!("{step}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_plan_postgres(&self, pool: &PgPool, options: &UpgradeOptions) -> Result<Vec<Step<'_>>, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Postgres)?;
        let rows = history(&mut conn, &self.history).await?;
        protocol::dry_run(&mut Apply::upgrade(self, options, Locking::Session), &rows, Dialect::Postgres)
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
        self.locked(pool, &mut Apply::downgrade(self, version), |_, _, _| {}).await
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
        self.locked(pool, &mut Apply::stamp(self, version), |_, _, _| {}).await.map(|_| ())
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
        let rows = history(&mut conn, &self.history).await?;
        self.status_of(rows)
    }

    /// Drives `apply` on a connection of `pool` that holds the advisory
    /// lock for the whole operation.
    async fn locked<'m>(
        &'m self,
        pool: &PgPool,
        apply: &mut Apply<'m>,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Postgres)?;
        sqlx::query(LOCK).bind(LOCK_KEY).execute(&mut *conn).await.map_err(Error::Postgres)?;
        let mut driver = Driver { conn, table: &self.history, statements: None, finished: false };
        let mut next = apply.start();
        let result = loop {
            next = match next {
                Next::Finished(result) => break result,
                Next::Step(Step::Starting { migration, index, total }) => {
                    progress(migration, index, total);
                    apply.resume(Ok(Outcome::Done))
                }
                Next::Step(step) => {
                    let outcome = driver.carry(step).await;
                    apply.resume(outcome)
                }
            };
        };
        // Released whatever happened. Were this future dropped part-way, the
        // connection would go back to the pool holding the lock (and perhaps
        // a transaction): `Driver`'s drop closes it instead.
        let unlocked = sqlx::query(UNLOCK).bind(LOCK_KEY).execute(&mut *driver.conn).await;
        driver.finished = true;
        let value = result?;
        unlocked.map_err(Error::Postgres)?;
        Ok(value)
    }
}
