//! Applying and reverting migrations on SQLite through rusqlite, and the
//! history table.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction, which also
//! holds SQLite's write lock while the history is read: processes migrating one
//! database at once take turns (with the connection's busy timeout), and the
//! later ones find nothing left to do. The history table records version, name,
//! checksum, chain hash, time applied and duration.

use std::path::Path;
use std::time::{Duration, Instant};

use migcheck_core::exec;
use rusqlite::{Connection, MAIN_DB, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::plan::{
    AppliedMigration, Direction, Head, Interrupted, MARK_PATTERN, Report, Resume, Status, UpgradeOptions, from_millis,
    history_error, millis, quote,
};
use crate::{Error, Migration, Migrations, Mode, Script};

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
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        self.check_target(options.target)?;
        let mut report = Report::default();
        let head = self.head(conn);
        if self.is_at_head(head.as_ref(), options.target) {
            return Ok(report);
        }
        let (pending, resume) = self.to_apply(&self.rows(conn)?, options)?;
        if pending.is_empty() {
            return Ok(report);
        }
        if let Some(path) = &options.backup {
            backup(conn, path)?;
            report.backup = Some(path.clone());
        }
        if options.batch {
            return self.apply_batch(conn, &pending, report, progress);
        }
        // Each step reads the history under the write lock: make sure the
        // table exists (a history with a head row has it).
        if head.is_none() {
            self.begin(conn)?.commit()?;
        }
        let total = pending.len();
        for (i, m) in pending.into_iter().enumerate() {
            let resume = resume.filter(|r| r.version == m.version());
            let step = (|| {
                let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
                // Another migrator may have applied it while this one waited,
                // or be running it outside a transaction now.
                match row_state(&tx, &self.history, m.version())? {
                    Some(Row::Applied) => {
                        tx.commit()?;
                        return Ok(None);
                    }
                    Some(Row::Mark) if resume.is_none() => {
                        let rows = read_history(&tx, &self.history)?;
                        let Some(mark) = crate::plan::split(rows)?.1 else {
                            return Err(Error::History {
                                message: format!(
                                    "the row of version {} looks like an interruption mark but is not one: \
                                     repair the history table, then run the command again",
                                    m.version()
                                ),
                            });
                        };
                        return Err(Error::interrupted(
                            &mark,
                            "another process started it after this one read the history, and is running it or \
                             was stopped: run the command again once that process is done",
                        ));
                    }
                    None if self.is_baseline(m) && !read_history(&tx, &self.history)?.is_empty() => {
                        return Err(Error::History {
                            message: "another process applied migrations while this one waited to run the \
                                      baseline on the empty database: run the upgrade again"
                                .into(),
                        });
                    }
                    _ => {}
                }
                progress(m, i, total);
                let started = Instant::now();
                let run = Run { m, script: m.up(), direction: Direction::Up, resume };
                self.run_in(conn, tx, &run, &report, |tx| self.record_step(tx, m, started.elapsed()))?;
                Ok(Some(started.elapsed()))
            })();
            match step {
                Ok(Some(duration)) => report.push(m, duration),
                Ok(None) => {}
                Err(err) => return Err(Error::during(err, m, m.up(), &report)),
            }
        }
        Ok(report)
    }

    /// All pending migrations in one transaction: all or nothing.
    fn apply_batch(
        &self,
        conn: &Connection,
        pending: &[&Migration],
        mut report: Report,
        mut progress: impl FnMut(&Migration, usize, usize),
    ) -> Result<Report, Error> {
        let mut batch = Report::default();
        let result = (|| {
            let tx = self.begin(conn)?;
            for (i, m) in pending.iter().enumerate() {
                if row_state(&tx, &self.history, m.version())?.is_some() {
                    continue;
                }
                progress(m, i, pending.len());
                let started = Instant::now();
                run(&tx, m, m.up(), &report)?;
                self.record_step(&tx, m, started.elapsed())?;
                batch.push(m, started.elapsed());
            }
            tx.commit()?;
            Ok::<(), Error>(())
        })();
        // A failure to begin, record or commit the batch rolls all of it back:
        // said of its last migration, with nothing applied.
        if let Err(err) = result {
            return Err(match pending.last() {
                Some(last) => Error::during(err, last, last.up(), &Report::default()),
                None => err,
            });
        }
        report.applied = batch.applied;
        Ok(report)
    }

    /// The history's newest row, in one indexed read; `None` when there is no
    /// history table yet or it is not ours (the full path then says which).
    pub(crate) fn head(&self, conn: &Connection) -> Option<Head> {
        let sql = format!("SELECT version, chain FROM {} ORDER BY version DESC LIMIT 1", quote(&self.history));
        let mut stmt = conn.prepare_cached(&sql).ok()?;
        stmt.query_row([], |r| Ok(Head { version: r.get(0)?, chain: r.get(1)? })).optional().ok().flatten()
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
        self.check_base_or_version(version)?;
        self.to_revert(&self.rows(conn)?, version)?;
        let mut report = Report::default();
        loop {
            // The plan again under the write lock: another process may have
            // moved the database since.
            let tx = self.begin(conn)?;
            let (plan, resume) = self.to_revert(&read_history(&tx, &self.history)?, version)?;
            let Some(&(m, down)) = plan.first() else {
                tx.commit()?;
                return Ok(report);
            };
            let started = Instant::now();
            let table = &self.history;
            let run = Run { m, script: down, direction: Direction::Down, resume };
            // The baseline's down forgets every migration it replaced.
            let forget = if self.is_baseline(m) { "<=" } else { "=" };
            self.run_in(conn, tx, &run, &report, |tx| {
                tx.execute(&format!("DELETE FROM {} WHERE version {forget} ?1", quote(table)), [m.version()])?;
                Ok(())
            })
            .map_err(|err| err.during(m, down, &report))?;
            report.push(m, started.elapsed());
        }
    }

    /// Marks the database as being at `version` (0: no migration) without
    /// running anything: records every migration up to it as applied, and
    /// forgets newer ones and the mark of an [`Interrupted`]
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
        self.check_base_or_version(version)?;
        let tx = self.begin(conn)?;
        let applied = read_history(&tx, &self.history)?;
        tx.execute(
            &format!("DELETE FROM {} WHERE version > ?1 OR checksum LIKE '{MARK_PATTERN}'", quote(&self.history)),
            [version],
        )?;
        for m in self.to_stamp(&applied, version) {
            record(&tx, &self.history, m, Duration::ZERO)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The history: every applied migration, in version order (empty when the
    /// database was never migrated). A file [`Interrupted`]
    /// part-way is not in it: [`status`](Migrations::status) tells.
    pub fn applied(&self, conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
        Ok(crate::plan::split(self.rows(conn)?)?.0)
    }

    /// The history table's rows, marks included.
    fn rows(&self, conn: &Connection) -> Result<Vec<AppliedMigration>, Error> {
        let exists: Option<i64> = conn
            .query_row("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [&*self.history], |r| r.get(0))
            .optional()?;
        if exists.is_none() {
            return Ok(Vec::new());
        }
        read_history(conn, &self.history)
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

    /// Opens a write transaction and makes sure the history table exists.
    ///
    /// The transaction is `BEGIN IMMEDIATE` (the write lock at once, so two
    /// migrators queue instead of failing half-way), rolled back unless
    /// committed. It borrows the connection shared, so a file that must run
    /// outside it can use the connection after `commit`.
    fn begin<'c>(&self, conn: &'c Connection) -> Result<Transaction<'c>, Error> {
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        tx.prepare_cached(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                chain TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                duration_ms INTEGER NOT NULL
            )",
            quote(&self.history)
        ))?
        .execute([])?;
        Ok(tx)
    }

    /// Runs the script in `tx` (or, for files that run outside a transaction,
    /// after committing `tx`), then `bookkeeping` in the same transaction as
    /// the script where there is one.
    /// Records `m` in the history; for the baseline, every migration it
    /// replaces (the time taken on its own version).
    fn record_step(&self, conn: &Connection, m: &Migration, duration: Duration) -> Result<(), Error> {
        for r in self.recorded_by(m) {
            record(conn, &self.history, r, if r.version() == m.version() { duration } else { Duration::ZERO })?;
        }
        Ok(())
    }

    ///
    /// A file that runs outside a transaction is marked in the history before
    /// its first statement (under the write lock `tx` holds), and the mark
    /// moves on after each statement, so that a file stopped part-way says how
    /// far it got and resumes there ([`Interrupted`]).
    fn run_in(
        &self,
        conn: &Connection,
        tx: Transaction<'_>,
        run: &Run<'_>,
        report: &Report,
        bookkeeping: impl FnOnce(&Connection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let Run { m, script, direction, resume } = *run;
        if script.mode() == Mode::Transaction {
            self::run(&tx, m, script, report)?;
            bookkeeping(&tx)?;
            tx.commit()?;
            return Ok(());
        }
        let (mut done, from) = resume.map_or((0, 0), |r| (r.done, r.from));
        if resume.is_none() {
            mark(&tx, &self.history, m, direction, 0, script, 0, true)?;
        }
        tx.commit()?;
        // The file has its own transaction, or none: each statement's mark is
        // written right after it (in the file's own transaction, if it has one
        // open, so that both commit or neither).
        let mut unmarked = None;
        let result = exec::run_statements_from(
            conn,
            script.sql(),
            from,
            |_| Ok(()),
            |end| {
                done += 1;
                mark(conn, &self.history, m, direction, done, script, end, false).map_err(|err| {
                    let text = err.to_string();
                    unmarked = Some(err);
                    text
                })
            },
        );
        if let Some(err) = unmarked {
            return Err(err.unrecorded(m, direction, done));
        }
        if let Err(err) = result {
            if !conn.is_autocommit() {
                // The file's own transaction rolls back with the marks
                // written in it: the history says again how far it got.
                let _ = conn.execute_batch("ROLLBACK");
                done = kept(conn, &self.history, m.version()).unwrap_or(done);
            }
            return Err(statement_error(m, script, err, report).kept(done));
        }
        let finish = || {
            let tx = self.begin(conn)?;
            tx.execute(
                &format!("DELETE FROM {} WHERE version = ?1 AND checksum LIKE '{MARK_PATTERN}'", quote(&self.history)),
                [m.version()],
            )?;
            bookkeeping(&tx)?;
            tx.commit()?;
            Ok(())
        };
        finish().map_err(|err: Error| err.unrecorded(m, direction, done))
    }
}

/// A script to run, and where it resumes.
struct Run<'a> {
    m: &'a Migration,
    script: &'a Script,
    direction: Direction,
    resume: Option<Resume>,
}

/// Writes the mark of `script` after `done` statements (ending at `offset`):
/// `first`, before any ran (an up file's new row, or a down file's row
/// marked), otherwise the mark moved on.
#[allow(clippy::too_many_arguments)]
fn mark(
    conn: &Connection,
    table: &str,
    m: &Migration,
    direction: Direction,
    done: usize,
    script: &Script,
    offset: usize,
    first: bool,
) -> Result<(), Error> {
    let (checksum, prefix) = Interrupted::mark(direction, done, script, offset);
    if first && direction == Direction::Up {
        let mut stmt = conn.prepare_cached(&format!(
            "INSERT INTO {} (version, name, checksum, chain, applied_at, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)",
            quote(table)
        ))?;
        stmt.execute(params![m.version(), m.name(), checksum, prefix])?;
    } else {
        let mut stmt =
            conn.prepare_cached(&format!("UPDATE {} SET checksum = ?2, chain = ?3 WHERE version = ?1", quote(table)))?;
        stmt.execute(params![m.version(), checksum, prefix])?;
    }
    Ok(())
}

fn run(conn: &Connection, m: &Migration, script: &Script, report: &Report) -> Result<(), Error> {
    exec::run_statements(conn, script.sql(), |_| Ok(()))
        .map(|_| ())
        .map_err(|err| statement_error(m, script, err, report))
}

fn statement_error(m: &Migration, script: &Script, err: exec::StatementError, report: &Report) -> Error {
    let cause = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(err.code), Some(err.message.clone()));
    Error::failed(m, script, err.offset, err.message, crate::error::Cause::Sqlite(cause), report)
}

/// How many statements the mark of `version` says ran.
fn kept(conn: &Connection, table: &str, version: i64) -> Option<usize> {
    crate::plan::statements_done(read_history(conn, table).ok()?, version)
}

/// What the history holds for a version.
enum Row {
    Applied,
    /// The mark of a file interrupted part-way.
    Mark,
}

fn row_state(conn: &Connection, table: &str, version: i64) -> Result<Option<Row>, Error> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT checksum LIKE '{MARK_PATTERN}' FROM {} WHERE version = ?1", quote(table)))?;
    let marked: Option<bool> = stmt.query_row([version], |r| r.get(0)).optional()?;
    Ok(marked.map(|marked| if marked { Row::Mark } else { Row::Applied }))
}

fn record(conn: &Connection, table: &str, m: &Migration, duration: Duration) -> Result<(), Error> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO {} (version, name, checksum, chain, applied_at, duration_ms)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?5)",
        quote(table)
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
            quote(table)
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
