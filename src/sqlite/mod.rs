//! Applying and reverting migrations on SQLite through rusqlite, and the
//! history table.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction, which also
//! holds SQLite's write lock while the history is read: processes migrating one
//! database at once take turns (with the connection's busy timeout), and the
//! later ones find nothing left to do. The history table records version, name,
//! checksum, chain hash, time applied and duration.

mod driver;

use migcheck_core::model::Dialect;
use rusqlite::Connection;

use crate::plan::{AppliedMigration, Report, Status, UpgradeOptions};
use crate::protocol::{self, Apply, Head, Locking, Step};
use crate::{Error, Migration, Migrations};
use driver::{Driver, head, rows};

impl Migrations {
    /// Applies every pending migration.
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "owners", "c1", "h1",
    /// #         Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction),
    /// #         Some(Script::new("1_owners.down.sql", "DROP TABLE owners;", Mode::Transaction))),
    /// #     Migration::new(2, "pets", "c2", "h2",
    /// #         Script::new("2_pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);", Mode::Transaction),
    /// #         Some(Script::new("2_pets.down.sql", "DROP TABLE pets;", Mode::Transaction))),
    /// # ]);
    /// // `static MIGRATIONS: Migrations = migcheck::include_migrations!();` in an application.
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// let report = migrations.upgrade(&mut conn)?;
    /// assert_eq!(report.applied.iter().map(|a| a.version).collect::<Vec<_>>(), [1, 2]);
    /// assert!(migrations.upgrade(&mut conn)?.applied.is_empty(), "nothing left to do");
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn upgrade(&self, conn: &mut Connection) -> Result<Report, Error> {
        self.upgrade_with(conn, &UpgradeOptions::default(), |_, _, _| {})
    }

    /// Applies pending migrations up to and including `version`.
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "owners", "c1", "h1",
    /// #         Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction),
    /// #         Some(Script::new("1_owners.down.sql", "DROP TABLE owners;", Mode::Transaction))),
    /// #     Migration::new(2, "pets", "c2", "h2",
    /// #         Script::new("2_pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);", Mode::Transaction),
    /// #         Some(Script::new("2_pets.down.sql", "DROP TABLE pets;", Mode::Transaction))),
    /// # ]);
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// migrations.upgrade_to(&mut conn, 1)?;
    /// assert_eq!(migrations.current(&conn)?, Some(1));
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn upgrade_to(&self, conn: &mut Connection, version: i64) -> Result<Report, Error> {
        self.upgrade_with(conn, &UpgradeOptions::default().target(version), |_, _, _| {})
    }

    /// Applies pending migrations as `options` say; `progress` is called
    /// before each one with the migration, its index and the number pending.
    ///
    /// Each migration commits on its own (or, with `batch`, all together): a
    /// failure leaves the database at the last good version, and the error
    /// names the migration, file, line and column.
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "owners", "c1", "h1",
    /// #         Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction),
    /// #         Some(Script::new("1_owners.down.sql", "DROP TABLE owners;", Mode::Transaction))),
    /// #     Migration::new(2, "pets", "c2", "h2",
    /// #         Script::new("2_pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);", Mode::Transaction),
    /// #         Some(Script::new("2_pets.down.sql", "DROP TABLE pets;", Mode::Transaction))),
    /// # ]);
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// let options = migcheck::UpgradeOptions::default().batch(true);
    /// let mut seen = Vec::new();
    /// migrations.upgrade_with(&mut conn, &options, |m, i, total| seen.push(format!("[{}/{total}] {m}", i + 1)))?;
    /// assert_eq!(seen, ["[1/2] 1 `owners`", "[2/2] 2 `pets`"]);
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn upgrade_with(
        &self,
        conn: &mut Connection,
        options: &UpgradeOptions,
        progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        self.foreign_keys_as_checked(conn, |conn| self.upgrade_enforcing_as_checked(conn, options, progress))
    }

    /// Runs `f` with foreign keys as the project migrates: with
    /// `foreign-keys off` ([`Migrations::without_foreign_keys`]) not
    /// enforced, the connection's own setting put back afterwards; else as
    /// the connection has them.
    fn foreign_keys_as_checked<T>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if !self.foreign_keys_off() {
            return f(conn);
        }
        let enforcing = conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).map_err(Error::Sqlite)? == 1;
        conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(Error::Sqlite)?;
        let result = f(conn);
        if enforcing {
            let put_back = conn.execute_batch("PRAGMA foreign_keys = ON").map_err(Error::Sqlite);
            return result.and_then(|value| put_back.map(|()| value));
        }
        result
    }

    fn upgrade_enforcing_as_checked(
        &self,
        conn: &mut Connection,
        options: &UpgradeOptions,
        progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        let mut apply = Apply::upgrade(self, options, Locking::PerTransaction);
        Driver::new(conn, &self.history).drive(&mut apply, progress)
    }

    /// The steps [`Migrations::upgrade_with`] would take on this database, if
    /// every statement succeeds and no other migrator runs meanwhile (the
    /// file's statements as migcheck's lexer reads them); nothing is changed.
    /// A refusal (an edited migration, a target that is not one) is the same
    /// error the upgrade gives.
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![Migration::new(1, "owners", "c1", "h1",
    /// #     Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction), None)]);
    /// let conn = rusqlite::Connection::open_in_memory()?;
    /// let steps = migrations.upgrade_plan(&conn, &migcheck::UpgradeOptions::default())?;
    /// assert!(steps.iter().any(|s| s.to_string() == "run `1_owners.up.sql`"));
    /// assert_eq!(migrations.current(&conn)?, None, "nothing ran");
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn upgrade_plan(&self, conn: &Connection, options: &UpgradeOptions) -> Result<Vec<Step<'_>>, Error> {
        let rows = self.rows(conn)?;
        protocol::dry_run(&mut Apply::upgrade(self, options, Locking::PerTransaction), &rows, Dialect::Sqlite)
    }

    /// The history's newest row, in one indexed read (see [`head`]).
    pub(crate) fn head(&self, conn: &Connection) -> Option<Head> {
        head(conn, &self.history)
    }

    /// Reverts applied migrations newer than `version` ([`BASE`](crate::BASE): all
    /// of them; 0 too where no migration has version 0), newest
    /// first, each in its own transaction. Refuses, before reverting anything,
    /// when one of them is irreversible.
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "owners", "c1", "h1",
    /// #         Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction),
    /// #         Some(Script::new("1_owners.down.sql", "DROP TABLE owners;", Mode::Transaction))),
    /// #     Migration::new(2, "pets", "c2", "h2",
    /// #         Script::new("2_pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);", Mode::Transaction),
    /// #         Some(Script::new("2_pets.down.sql", "DROP TABLE pets;", Mode::Transaction))),
    /// # ]);
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// migrations.upgrade(&mut conn)?;
    /// let report = migrations.downgrade_to(&mut conn, 1)?;
    /// assert_eq!(report.applied[0].version, 2, "reverted");
    /// migrations.downgrade_to(&mut conn, 0)?;
    /// assert_eq!(migrations.current(&conn)?, None);
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn downgrade_to(&self, conn: &mut Connection, version: i64) -> Result<Report, Error> {
        self.foreign_keys_as_checked(conn, |conn| self.downgrade_enforcing_as_checked(conn, version))
    }

    fn downgrade_enforcing_as_checked(&self, conn: &mut Connection, version: i64) -> Result<Report, Error> {
        Driver::new(conn, &self.history).drive(&mut Apply::downgrade(self, version), |_, _, _| {})
    }

    /// Marks the database as being at `version` (0: no migration) without
    /// running anything: records every migration up to it as applied, and
    /// forgets newer ones and the mark of an [`Interrupted`](crate::Interrupted)
    /// file (after the database was repaired by hand).
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "owners", "c1", "h1",
    /// #         Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction),
    /// #         Some(Script::new("1_owners.down.sql", "DROP TABLE owners;", Mode::Transaction))),
    /// #     Migration::new(2, "pets", "c2", "h2",
    /// #         Script::new("2_pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);", Mode::Transaction),
    /// #         Some(Script::new("2_pets.down.sql", "DROP TABLE pets;", Mode::Transaction))),
    /// # ]);
    /// // A database whose schema was made before migcheck: adopt it at version 2.
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// migrations.stamp(&mut conn, 2)?;
    /// assert!(migrations.status(&conn)?.is_up_to_date());
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn stamp(&self, conn: &mut Connection, version: i64) -> Result<(), Error> {
        Driver::new(conn, &self.history).drive(&mut Apply::stamp(self, version), |_, _, _| {}).map(|_| ())
    }

    /// The history: every applied migration, in version order (empty when the
    /// database was never migrated). A file [`Interrupted`](crate::Interrupted)
    /// part-way is not in it: [`status`](Migrations::status) tells.
    pub fn applied(&self, conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
        Ok(crate::plan::split(self.rows(conn)?)?.0)
    }

    /// The history table's rows, marks included.
    fn rows(&self, conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
        rows(conn, &self.history)
    }

    /// The database's version: the newest applied migration, if any.
    pub fn current(&self, conn: &Connection) -> Result<Option<i64>, Error> {
        Ok(self.applied(conn)?.last().map(|m| m.version))
    }

    /// What is applied, pending, divergent and unknown.
    ///
    /// ```
    /// # use migcheck::{Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "owners", "c1", "h1",
    /// #         Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction),
    /// #         Some(Script::new("1_owners.down.sql", "DROP TABLE owners;", Mode::Transaction))),
    /// #     Migration::new(2, "pets", "c2", "h2",
    /// #         Script::new("2_pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);", Mode::Transaction),
    /// #         Some(Script::new("2_pets.down.sql", "DROP TABLE pets;", Mode::Transaction))),
    /// # ]);
    /// let mut conn = rusqlite::Connection::open_in_memory()?;
    /// migrations.upgrade_to(&mut conn, 1)?;
    /// let status = migrations.status(&conn)?;
    /// assert_eq!((status.current(), status.pending.as_slice()), (Some(1), &[2][..]));
    /// assert!(!status.is_up_to_date());
    /// # Ok::<(), migcheck::Error>(())
    /// ```
    pub fn status(&self, conn: &Connection) -> Result<Status, Error> {
        self.status_of(self.rows(conn)?)
    }
}

#[cfg(test)]
mod tests;
