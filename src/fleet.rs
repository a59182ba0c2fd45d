//! Many SQLite databases migrated as one fleet: one file per tenant or per
//! user. Each database is upgraded as [`Migrations::upgrade_with`] upgrades
//! one (each migration all or nothing, the database left at its last good
//! version when one fails); the fleet runs them on a few threads, keeps going
//! past a failure unless told to stop, and reports each database. A database
//! already at head costs its open and one indexed read, so that a fleet
//! upgrade interrupted and run again goes quickly past the finished ones.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::{Applied, Error, Migrations, UpgradeOptions};

/// How a fleet is upgraded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Databases upgraded at once (default: the machine's cores).
    pub jobs: usize,
    /// Stop starting databases after the first failure (the ones running
    /// finish); the rest are reported as skipped.
    pub fail_fast: bool,
    /// Copy each database to `<file>.v<version>.bak` before its first pending
    /// migration runs.
    pub backup: bool,
    /// How long a database locked by another process is waited for.
    pub busy_timeout: Duration,
    /// Stop after this version (default: the newest).
    pub target: Option<i64>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            fail_fast: false,
            backup: false,
            busy_timeout: Duration::from_secs(5),
            target: None,
        }
    }
}

impl FleetOptions {
    /// Sets how many databases are upgraded at once (at least 1).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// Stops starting databases after the first failure.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// Backs each database up before migrating it.
    pub fn backup(mut self, backup: bool) -> Self {
        self.backup = backup;
        self
    }

    /// Sets how long a locked database is waited for.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Stops after `version`.
    pub fn target(mut self, version: i64) -> Self {
        self.target = Some(version);
        self
    }
}

/// What happened to one database of a fleet.
#[derive(Debug)]
#[non_exhaustive]
pub struct FleetEntry {
    /// The database: the file's path as given, or the PostgreSQL schema's name.
    pub database: String,
    /// The database file (empty for a PostgreSQL schema).
    pub path: PathBuf,
    /// Its version before (`None`: no migration applied, or not read).
    pub before: Option<i64>,
    /// Its version after.
    pub after: Option<i64>,
    /// The migrations applied to it.
    pub applied: Vec<Applied>,
    /// Why it failed; the database is at `after`.
    pub error: Option<Error>,
    /// Not started: an earlier database failed and `fail_fast` was set.
    pub skipped: bool,
    /// How long it took.
    pub duration: Duration,
}

impl FleetEntry {
    fn new(path: &Path) -> FleetEntry {
        FleetEntry {
            database: path.display().to_string(),
            path: path.to_owned(),
            before: None,
            after: None,
            applied: Vec::new(),
            error: None,
            skipped: false,
            duration: Duration::ZERO,
        }
    }
}

/// What a fleet upgrade did, one entry per database in the order given.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct FleetReport {
    /// Each database.
    pub databases: Vec<FleetEntry>,
}

impl FleetReport {
    /// The databases that failed.
    pub fn failed(&self) -> impl Iterator<Item = &FleetEntry> {
        self.databases.iter().filter(|d| d.error.is_some())
    }

    /// The databases skipped after a failure (`fail_fast`).
    pub fn skipped(&self) -> impl Iterator<Item = &FleetEntry> {
        self.databases.iter().filter(|d| d.skipped)
    }

    /// The databases that had migrations applied.
    pub fn upgraded(&self) -> impl Iterator<Item = &FleetEntry> {
        self.databases.iter().filter(|d| !d.applied.is_empty())
    }

    /// Every database is at the target, none failed or was skipped.
    pub fn is_ok(&self) -> bool {
        self.databases.iter().all(|d| d.error.is_none() && !d.skipped)
    }
}

/// A fleet upgrade's progress, for a progress bar.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FleetEvent<'a> {
    /// A database is starting.
    Started {
        /// The database.
        path: &'a Path,
    },
    /// A database is done (`ok`: without an error).
    Finished {
        /// The database.
        path: &'a Path,
        /// It succeeded.
        ok: bool,
    },
}

impl Migrations {
    /// Upgrades every SQLite database in `paths` (files that exist: a fleet
    /// upgrade never creates one), `options.jobs` at a time. A database that
    /// fails (a migration's SQL, a lock held past the busy timeout, an
    /// unreadable file, a divergent history) is reported and the others go
    /// on, unless `fail_fast`; each stays at its last good version.
    ///
    /// ```
    /// # use migcheck::{FleetOptions, Migration, Migrations, Mode, Script};
    /// # let migrations = Migrations::new(vec![
    /// #     Migration::new(1, "notes", "c1", "h1",
    /// #         Script::new("1_notes.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY);", Mode::Transaction), None),
    /// # ]);
    /// let dir = tempfile::tempdir()?;
    /// let tenants: Vec<_> = (1..=3).map(|n| dir.path().join(format!("tenant{n}.db"))).collect();
    /// for t in &tenants {
    ///     rusqlite::Connection::open(t)?; // the tenants' files exist
    /// }
    /// let report = migrations.upgrade_each(&tenants, &FleetOptions::default().jobs(2), |_| {});
    /// assert!(report.is_ok());
    /// assert_eq!(report.upgraded().count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn upgrade_each<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
        options: &FleetOptions,
        progress: impl Fn(FleetEvent<'_>) + Sync,
    ) -> FleetReport {
        on_threads(paths, options, progress, |path, entry| self.upgrade_one(path, options, entry))
    }

    /// Reverts every SQLite database in `paths` to `version`
    /// ([`BASE`](crate::BASE): every migration), as
    /// [`Migrations::downgrade_to`] reverts one, `options.jobs` at a time;
    /// each entry's `applied` lists the migrations reverted.
    pub fn downgrade_each<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
        version: i64,
        options: &FleetOptions,
        progress: impl Fn(FleetEvent<'_>) + Sync,
    ) -> FleetReport {
        on_threads(paths, options, progress, |path, entry| {
            let Some(mut conn) = open(path, options, entry) else { return };
            entry.before = self.current(&conn).ok().flatten();
            match self.downgrade_to(&mut conn, version) {
                Ok(report) => entry.applied = report.applied,
                Err(err) => entry.error = Some(err),
            }
            entry.after = self.current(&conn).ok().flatten();
        })
    }

    /// One database of the fleet: opened without creating it, its head read
    /// once; migrated only when behind.
    fn upgrade_one(&self, path: &Path, options: &FleetOptions, entry: &mut FleetEntry) {
        let Some(mut conn) = open(path, options, entry) else { return };
        let head = self.head(&conn);
        if self.is_at_head(head.as_ref(), options.target) {
            entry.before = head.as_ref().map(|h| h.version);
            entry.after = entry.before;
            return;
        }
        // Behind, or the newest row is not one this binary wrote as applied
        // (a file interrupted part-way, an edited history): read it whole.
        entry.before = match &head {
            Some(h) if self.get(h.version).is_some_and(|m| m.chain() == h.chain) => Some(h.version),
            Some(_) => self.current(&conn).ok().flatten(),
            None => None,
        };
        let mut upgrade = UpgradeOptions { target: options.target, ..UpgradeOptions::default() };
        if options.backup {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let version = entry.before.map_or_else(|| "0".to_owned(), |v| v.to_string());
            upgrade.backup = Some(path.with_file_name(format!("{name}.v{version}.bak")));
        }
        match self.upgrade_with(&mut conn, &upgrade, |_, _, _| {}) {
            Ok(report) => {
                entry.after = report.applied.last().map(|a| a.version).or(entry.before);
                entry.applied = report.applied;
                return;
            }
            Err(err) => {
                if let Error::MigrationFailed { applied, .. } | Error::NotCommitted { applied, .. } = &err {
                    entry.applied = applied
                        .iter()
                        .filter_map(|v| self.get(*v))
                        .map(|m| Applied { version: m.version(), name: m.name().to_owned(), duration: Duration::ZERO })
                        .collect();
                }
                entry.error = Some(err);
            }
        }
        entry.after = self.current(&conn).ok().flatten();
    }
}

/// An existing database file, opened read-write (never created), with the
/// fleet's busy timeout; `None` with the error in `entry`.
fn open(path: &Path, options: &FleetOptions, entry: &mut FleetEntry) -> Option<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let opened = Connection::open_with_flags(path, flags).and_then(|conn| {
        conn.busy_timeout(options.busy_timeout)?;
        Ok(conn)
    });
    match opened {
        Ok(conn) => Some(conn),
        Err(err) => {
            entry.error = Some(Error::Sqlite(err));
            None
        }
    }
}

/// `work` on every path, `options.jobs` threads taking the next in turn,
/// stopping to start new ones after a failure with `fail_fast`.
fn on_threads<P: AsRef<Path> + Sync>(
    paths: &[P],
    options: &FleetOptions,
    progress: impl Fn(FleetEvent<'_>) + Sync,
    work: impl Fn(&Path, &mut FleetEntry) + Sync,
) -> FleetReport {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Option<FleetEntry>>> = Mutex::new((0..paths.len()).map(|_| None).collect());
    let jobs = options.jobs.max(1).min(paths.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let path = path.as_ref();
                    let mut entry = FleetEntry::new(path);
                    if stop.load(Ordering::Relaxed) {
                        entry.skipped = true;
                    } else {
                        progress(FleetEvent::Started { path });
                        let started = Instant::now();
                        work(path, &mut entry);
                        entry.duration = started.elapsed();
                        if entry.error.is_some() && options.fail_fast {
                            stop.store(true, Ordering::Relaxed);
                        }
                        progress(FleetEvent::Finished { path, ok: entry.error.is_none() });
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(entry);
                }
            });
        }
    });
    let databases = results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .zip(paths)
        .map(|(entry, path)| entry.unwrap_or_else(|| FleetEntry::new(path.as_ref())))
        .collect();
    FleetReport { databases }
}

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl Migrations {
    /// The schemas of the PostgreSQL database at `url` whose names match
    /// `pattern` (SQL `LIKE`: `tenant_%`), sorted.
    pub async fn postgres_schemas(url: &str, pattern: &str) -> Result<Vec<String>, Error> {
        use sqlx::Connection as _;
        let mut conn = sqlx::PgConnection::connect(url).await.map_err(Error::Postgres)?;
        let schemas = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1
               AND nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1",
        )
        .bind(pattern)
        .fetch_all(&mut conn)
        .await
        .map_err(Error::Postgres)?;
        let _ = conn.close().await;
        Ok(schemas)
    }

    /// Upgrades each schema in `schemas` of the PostgreSQL database at `url`
    /// as its own database: its own history table (the connection's
    /// `search_path` is the schema), its own advisory lock, so that
    /// `options.jobs` schemas migrate side by side. The same report as
    /// [`Migrations::upgrade_each`], one entry per schema.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let url = "postgres://app@localhost/app";
    /// let schemas = migcheck::Migrations::postgres_schemas(url, "tenant_%").await?;
    /// let report = MIGRATIONS.upgrade_postgres_schemas(url, &schemas, &migcheck::FleetOptions::default().jobs(4), |_| {}).await;
    /// println!("{} upgraded, {} failed", report.upgraded().count(), report.failed().count());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_postgres_schemas(
        &self,
        url: &str,
        schemas: &[String],
        options: &FleetOptions,
        progress: impl Fn(FleetEvent<'_>),
    ) -> FleetReport {
        on_schemas(schemas, options, progress, async |schema, entry| {
            self.upgrade_schema(url, schema, options, entry).await
        })
        .await
    }

    /// Reverts each schema in `schemas` of the PostgreSQL database at `url`
    /// to `version` ([`BASE`](crate::BASE): every migration), as
    /// [`Migrations::downgrade_postgres_to`] reverts one; each entry's
    /// `applied` lists the migrations reverted.
    pub async fn downgrade_postgres_schemas(
        &self,
        url: &str,
        schemas: &[String],
        version: i64,
        options: &FleetOptions,
        progress: impl Fn(FleetEvent<'_>),
    ) -> FleetReport {
        on_schemas(schemas, options, progress, async |schema, entry| {
            let pool = match schema_pool(url, schema).await {
                Ok(pool) => pool,
                Err(err) => {
                    entry.error = Some(Error::Postgres(err));
                    return;
                }
            };
            entry.before = self.status_postgres(&pool).await.ok().and_then(|s| s.current());
            match self.downgrade_postgres_to(&pool, version).await {
                Ok(report) => entry.applied = report.applied,
                Err(err) => entry.error = Some(err),
            }
            entry.after = self.status_postgres(&pool).await.ok().and_then(|s| s.current());
            pool.close().await;
        })
        .await
    }

    /// What is applied, pending, divergent and unknown in schema `schema`
    /// of the PostgreSQL database at `url` (its own history table).
    pub async fn status_postgres_schema(&self, url: &str, schema: &str) -> Result<crate::Status, Error> {
        let pool = schema_pool(url, schema).await.map_err(Error::Postgres)?;
        let status = self.status_postgres(&pool).await;
        pool.close().await;
        status
    }

    async fn upgrade_schema(&self, url: &str, schema: &str, options: &FleetOptions, entry: &mut FleetEntry) {
        let pool = schema_pool(url, schema).await;
        let pool = match pool {
            Ok(pool) => pool,
            Err(err) => {
                entry.error = Some(Error::Postgres(err));
                return;
            }
        };
        let upgrade = UpgradeOptions { target: options.target, ..UpgradeOptions::default() };
        match self.upgrade_postgres_from(&pool, &upgrade, &mut entry.before, |_, _, _| {}).await {
            Ok(report) => {
                entry.after = report.applied.last().map(|a| a.version).or(entry.before);
                entry.applied = report.applied;
            }
            Err(err) => {
                entry.error = Some(err);
                entry.after = self.status_postgres(&pool).await.ok().and_then(|s| s.current());
            }
        }
        pool.close().await;
    }
}

#[cfg(feature = "mysql")]
#[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
impl Migrations {
    /// The databases of the MySQL or MariaDB server at `url` whose names
    /// match `pattern` (SQL `LIKE`: `tenant_%`), the server's own left out,
    /// sorted.
    pub async fn mysql_databases(url: &str, pattern: &str) -> Result<Vec<String>, Error> {
        use sqlx::Connection as _;
        let mut conn = sqlx::MySqlConnection::connect(url).await.map_err(Error::Mysql)?;
        let databases = sqlx::query_scalar(
            "SELECT CAST(SCHEMA_NAME AS CHAR) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?
               AND SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY 1",
        )
        .bind(pattern)
        .fetch_all(&mut conn)
        .await
        .map_err(Error::Mysql)?;
        let _ = conn.close().await;
        Ok(databases)
    }

    /// Upgrades each database in `databases` on the MySQL or MariaDB server
    /// at `url` as [`Migrations::upgrade_mysql`] upgrades one: its own
    /// history table and named lock, `options.jobs` at a time. The same
    /// report as [`Migrations::upgrade_each`], one entry per database.
    ///
    /// ```no_run
    /// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let url = "mysql://app@localhost/mysql";
    /// let tenants = migcheck::Migrations::mysql_databases(url, "tenant_%").await?;
    /// let report = MIGRATIONS.upgrade_mysql_databases(url, &tenants, &migcheck::FleetOptions::default().jobs(4), |_| {}).await;
    /// println!("{} upgraded, {} failed", report.upgraded().count(), report.failed().count());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upgrade_mysql_databases(
        &self,
        url: &str,
        databases: &[String],
        options: &FleetOptions,
        progress: impl Fn(FleetEvent<'_>),
    ) -> FleetReport {
        on_schemas(databases, options, progress, async |database, entry| {
            let pool = match database_pool(url, database).await {
                Ok(pool) => pool,
                Err(err) => {
                    entry.error = Some(Error::Mysql(err));
                    return;
                }
            };
            entry.before = self.status_mysql(&pool).await.ok().and_then(|s| s.current());
            let upgrade = UpgradeOptions { target: options.target, ..UpgradeOptions::default() };
            match self.upgrade_mysql_with(&pool, &upgrade, |_, _, _| {}).await {
                Ok(report) => {
                    entry.after = report.applied.last().map(|a| a.version).or(entry.before);
                    entry.applied = report.applied;
                }
                Err(err) => {
                    entry.error = Some(err);
                    entry.after = self.status_mysql(&pool).await.ok().and_then(|s| s.current());
                }
            }
            pool.close().await;
        })
        .await
    }

    /// Reverts each database in `databases` on the server at `url` to
    /// `version` ([`BASE`](crate::BASE): every migration), as
    /// [`Migrations::downgrade_mysql_to`] reverts one.
    pub async fn downgrade_mysql_databases(
        &self,
        url: &str,
        databases: &[String],
        version: i64,
        options: &FleetOptions,
        progress: impl Fn(FleetEvent<'_>),
    ) -> FleetReport {
        on_schemas(databases, options, progress, async |database, entry| {
            let pool = match database_pool(url, database).await {
                Ok(pool) => pool,
                Err(err) => {
                    entry.error = Some(Error::Mysql(err));
                    return;
                }
            };
            entry.before = self.status_mysql(&pool).await.ok().and_then(|s| s.current());
            match self.downgrade_mysql_to(&pool, version).await {
                Ok(report) => entry.applied = report.applied,
                Err(err) => entry.error = Some(err),
            }
            entry.after = self.status_mysql(&pool).await.ok().and_then(|s| s.current());
            pool.close().await;
        })
        .await
    }

    /// What is applied, pending, divergent and unknown in database
    /// `database` on the server at `url`.
    pub async fn status_mysql_database(&self, url: &str, database: &str) -> Result<crate::Status, Error> {
        let pool = database_pool(url, database).await.map_err(Error::Mysql)?;
        let status = self.status_mysql(&pool).await;
        pool.close().await;
        status
    }
}

/// One connection to database `database` on the MySQL server at `url`.
#[cfg(feature = "mysql")]
async fn database_pool(url: &str, database: &str) -> Result<sqlx::MySqlPool, sqlx::Error> {
    use std::str::FromStr as _;
    let options = sqlx::mysql::MySqlConnectOptions::from_str(url)?.database(database);
    sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect_with(options).await
}

/// `work` on every schema, `options.jobs` at a time on the caller's task,
/// stopping to start new ones after a failure with `fail_fast`.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn on_schemas(
    schemas: &[String],
    options: &FleetOptions,
    progress: impl Fn(FleetEvent<'_>),
    work: impl AsyncFn(&str, &mut FleetEntry),
) -> FleetReport {
    use futures_util::StreamExt as _;
    let stop = AtomicBool::new(false);
    let (progress, stop, work) = (&progress, &stop, &work);
    let mut done: Vec<(usize, FleetEntry)> = futures_util::stream::iter(schemas.iter().enumerate())
        .map(|(i, schema)| async move {
            let path = Path::new(schema.as_str());
            let mut entry = FleetEntry::new(path);
            entry.path = PathBuf::new();
            if stop.load(Ordering::Relaxed) {
                entry.skipped = true;
                return (i, entry);
            }
            progress(FleetEvent::Started { path });
            let started = Instant::now();
            work(schema, &mut entry).await;
            entry.duration = started.elapsed();
            if entry.error.is_some() && options.fail_fast {
                stop.store(true, Ordering::Relaxed);
            }
            progress(FleetEvent::Finished { path, ok: entry.error.is_none() });
            (i, entry)
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    FleetReport { databases: done.into_iter().map(|(_, e)| e).collect() }
}

/// One connection to `url` whose `search_path` is `schema`.
#[cfg(feature = "postgres")]
async fn schema_pool(url: &str, schema: &str) -> Result<sqlx::PgPool, sqlx::Error> {
    let set = format!("SET search_path TO {}", migcheck_core::lexer::quote_ident(schema));
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .after_connect(move |conn, _| {
            let set = set.clone();
            Box::pin(async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(set)).execute(conn).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
}
