//! Applying migrations to MySQL and MariaDB through sqlx (feature `mysql`).
//!
//! The same history semantics as on SQLite and PostgreSQL: one row per
//! applied migration with version, name, checksum, chain hash, time and
//! duration, and the same refusal of edited or unknown migrations. A named
//! lock (`GET_LOCK`, per database) is held for the whole run, so concurrent
//! migrators take turns and the later ones find nothing to do.
//!
//! DDL commits implicitly here, so no migration can be atomic: every file
//! runs the way a `no-transaction` file does elsewhere, one statement at a
//! time, with the history's mark moved after each. A migration that fails at
//! its third statement leaves the first two applied and says so; `status`
//! names the statement where it stopped, and the next `upgrade` resumes
//! there without running the first two again. There is no backup here: use
//! `mysqldump`.

mod driver;

use migcheck_core::model::Dialect;
use sqlx::MySqlPool;

use crate::plan::{Report, Status, UpgradeOptions};
use crate::protocol::{self, Apply, Locking, Next, Outcome, Step};
use crate::{Error, Migration, Migrations};
use driver::{Driver, history};

/// The named lock: one per database, so that migrators of one database take
/// turns and databases on one server migrate side by side. Waits as long as
/// it takes (a year).
const LOCK: &str = "SELECT GET_LOCK(LEFT(CONCAT('migcheck:', COALESCE(DATABASE(), '')), 64), 31536000)";
const UNLOCK: &str = "SELECT RELEASE_LOCK(LEFT(CONCAT('migcheck:', COALESCE(DATABASE(), '')), 64))";

#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
impl Migrations {
    /// Applies every pending migration to the MySQL or MariaDB database
    /// behind `pool`, statement by statement (see the module's notes on
    /// implicit commits).
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@localhost/app").await?;
    /// MIGRATIONS.upgrade_mysql(&pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_mysql(&self, pool: &MySqlPool) -> Result<Report, Error> {
        self.upgrade_mysql_with(pool, &UpgradeOptions::default(), |_, _, _| {}).await
    }

    /// Applies pending migrations as `options` say (`target`; there is no
    /// `backup` here, and no `batch`: DDL commits on its own); `progress` is
    /// called before each one with the migration, its index and the number
    /// pending.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@localhost/app").await?;
    /// let options = migcheck::UpgradeOptions::default().target(20261124093000);
    /// let report = MIGRATIONS.upgrade_mysql_with(&pool, &options, |m, i, n| eprintln!("[{}/{n}] {m}", i + 1)).await?;
    /// println!("applied {}", report.applied.len());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_mysql_with(
        &self,
        pool: &MySqlPool,
        options: &UpgradeOptions,
        progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        let options = UpgradeOptions { backup: None, batch: false, ..options.clone() };
        let mut apply = Apply::upgrade(self, &options, Locking::Session).with_implicit_commits();
        self.locked_mysql(pool, &mut apply, progress).await
    }

    /// The steps [`Migrations::upgrade_mysql_with`] would take on the
    /// database behind `pool`, if every statement succeeds; nothing is
    /// changed.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@localhost/app").await?;
    /// for step in MIGRATIONS.upgrade_plan_mysql(&pool, &Default::default()).await? {
    ///     println!("{step}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_plan_mysql(&self, pool: &MySqlPool, options: &UpgradeOptions) -> Result<Vec<Step<'_>>, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Mysql)?;
        let rows = history(&mut conn, &self.history).await?;
        let options = UpgradeOptions { backup: None, batch: false, ..options.clone() };
        let mut apply = Apply::upgrade(self, &options, Locking::Session).with_implicit_commits();
        protocol::dry_run(&mut apply, &rows, Dialect::Mysql)
    }

    /// Reverts applied migrations newer than `version` (0: all), newest
    /// first, each down file statement by statement.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@localhost/app").await?;
    /// MIGRATIONS.downgrade_mysql_to(&pool, 0).await?; // revert everything
    /// # Ok(())
    /// # }
    /// ```
    pub async fn downgrade_mysql_to(&self, pool: &MySqlPool, version: i64) -> Result<Report, Error> {
        self.locked_mysql(pool, &mut Apply::downgrade(self, version).with_implicit_commits(), |_, _, _| {}).await
    }

    /// Records the database as being at `version` (0: none) without running anything.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@localhost/app").await?;
    /// MIGRATIONS.stamp_mysql(&pool, 20261124093000).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stamp_mysql(&self, pool: &MySqlPool, version: i64) -> Result<(), Error> {
        self.locked_mysql(pool, &mut Apply::stamp(self, version).with_implicit_commits(), |_, _, _| {})
            .await
            .map(|_| ())
    }

    /// What is applied, pending, divergent and unknown; a migration stopped
    /// part-way is [`Status::interrupted`], naming the statement.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@localhost/app").await?;
    /// let status = MIGRATIONS.status_mysql(&pool).await?;
    /// if !status.is_up_to_date() {
    ///     eprintln!("pending: {:?}", status.pending);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn status_mysql(&self, pool: &MySqlPool) -> Result<Status, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Mysql)?;
        let rows = history(&mut conn, &self.history).await?;
        self.status_of(rows)
    }

    /// Drives `apply` on a connection of `pool` that holds the named lock
    /// for the whole operation.
    async fn locked_mysql<'m>(
        &'m self,
        pool: &MySqlPool,
        apply: &mut Apply<'m>,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        let mut conn = pool.acquire().await.map_err(Error::Mysql)?;
        let got: Option<i64> = sqlx::query_scalar(LOCK).fetch_one(&mut *conn).await.map_err(Error::Mysql)?;
        if got != Some(1) {
            return Err(Error::History { message: "the server did not grant migcheck's named lock (GET_LOCK)".into() });
        }
        let mut driver = Driver { conn, table: &self.history, statements: None, open: false, finished: false };
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
        // Released whatever happened; were this future dropped part-way,
        // `Driver`'s drop closes the connection, which releases it.
        let unlocked = sqlx::query(UNLOCK).execute(&mut *driver.conn).await;
        driver.finished = true;
        let value = result?;
        unlocked.map_err(Error::Mysql)?;
        Ok(value)
    }
}
