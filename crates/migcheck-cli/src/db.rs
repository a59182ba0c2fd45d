//! `DATABASE_URL`: where it comes from, what it may say, and opening it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::error::Failure;
use rusqlite::{Connection, OpenFlags};

/// The database URL: `--database-url`, else `DATABASE_URL` from the
/// environment or a `.env` file.
pub fn url(flag: Option<&str>) -> Result<String> {
    if let Some(url) = flag {
        return Ok(url.to_owned());
    }
    // A missing .env is fine; a malformed one is an error worth reporting.
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(err) if err.not_found() => {}
        Err(err) => return Err(err).context("cannot read the .env file"),
    }
    match std::env::var("DATABASE_URL") {
        Ok(url) => Ok(url),
        Err(std::env::VarError::NotPresent) => bail!(
            "no database given: set DATABASE_URL (in the environment or a .env file) or pass --database-url, \
             e.g. DATABASE_URL=sqlite:dev.db"
        ),
        Err(std::env::VarError::NotUnicode(_)) => bail!("DATABASE_URL is not valid Unicode"),
    }
}

/// Where a database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Memory,
    /// A `postgres://` URL.
    Postgres(String),
    /// A `mysql://` or `mariadb://` URL (as sqlx reads it: `mysql://`).
    Mysql(String),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::File(path) => path.display().to_string(),
            Target::Memory => ":memory:".to_owned(),
            Target::Postgres(url) | Target::Mysql(url) => redact(url),
        }
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An open database of either engine.
pub enum Database {
    Sqlite(Connection),
    Postgres { pool: sqlx::PgPool, runtime: tokio::runtime::Runtime },
    Mysql { pool: sqlx::MySqlPool, runtime: tokio::runtime::Runtime },
}

impl Database {
    /// Opens `target`; with `create` false, a SQLite file that does not exist
    /// gives `None` (reading commands never create a database).
    pub fn connect(target: &Target, create: bool) -> Result<Option<Database>> {
        match target {
            Target::Postgres(url) => {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                let pool = runtime
                    .block_on(sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(url))
                    .with_context(|| format!("cannot connect to `{}`", redact(url)))?;
                Ok(Some(Database::Postgres { pool, runtime }))
            }
            Target::Mysql(url) => {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                let pool = runtime
                    .block_on(sqlx::mysql::MySqlPoolOptions::new().max_connections(2).connect(url))
                    .with_context(|| format!("cannot connect to `{}`", redact(url)))?;
                Ok(Some(Database::Mysql { pool, runtime }))
            }
            _ if create => Ok(Some(Database::Sqlite(open(target)?))),
            _ => Ok(open_existing(target)?.map(Database::Sqlite)),
        }
    }

    pub fn sqlite(&self) -> Option<&Connection> {
        match self {
            Database::Sqlite(conn) => Some(conn),
            Database::Postgres { .. } | Database::Mysql { .. } => None,
        }
    }

    pub fn status(&self, m: &migcheck::Migrations) -> Result<migcheck::Status, Failure> {
        match self {
            Database::Sqlite(conn) => m.status(conn),
            Database::Postgres { pool, runtime } => runtime.block_on(m.status_postgres(pool)),
            Database::Mysql { pool, runtime } => runtime.block_on(m.status_mysql(pool)),
        }
        .map_err(Failure::runtime)
    }

    pub fn upgrade(
        &mut self,
        m: &migcheck::Migrations,
        options: &migcheck::UpgradeOptions,
        progress: impl FnMut(&migcheck::Migration, usize, usize),
    ) -> Result<migcheck::Report, Failure> {
        match self {
            Database::Sqlite(conn) => m.upgrade_with(conn, options, progress),
            Database::Postgres { pool, runtime } => runtime.block_on(m.upgrade_postgres_with(pool, options, progress)),
            Database::Mysql { pool, runtime } => runtime.block_on(m.upgrade_mysql_with(pool, options, progress)),
        }
        .map_err(Failure::runtime)
    }

    /// The steps `upgrade` would take, changing nothing.
    pub fn upgrade_plan<'m>(
        &self,
        m: &'m migcheck::Migrations,
        options: &migcheck::UpgradeOptions,
    ) -> Result<Vec<migcheck::protocol::Step<'m>>, Failure> {
        match self {
            Database::Sqlite(conn) => m.upgrade_plan(conn, options),
            Database::Postgres { pool, runtime } => runtime.block_on(m.upgrade_plan_postgres(pool, options)),
            Database::Mysql { pool, runtime } => runtime.block_on(m.upgrade_plan_mysql(pool, options)),
        }
        .map_err(Failure::runtime)
    }

    pub fn downgrade_to(&mut self, m: &migcheck::Migrations, version: i64) -> Result<migcheck::Report, Failure> {
        match self {
            Database::Sqlite(conn) => m.downgrade_to(conn, version),
            Database::Postgres { pool, runtime } => runtime.block_on(m.downgrade_postgres_to(pool, version)),
            Database::Mysql { pool, runtime } => runtime.block_on(m.downgrade_mysql_to(pool, version)),
        }
        .map_err(Failure::runtime)
    }

    /// The first column of `sql`'s rows, as text.
    pub fn texts(&self, sql: &str) -> Result<Vec<String>> {
        match self {
            Database::Sqlite(conn) => {
                let mut stmt = conn.prepare(sql)?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            }
            Database::Postgres { pool, runtime } => Ok(runtime
                .block_on(sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(pool))?),
            Database::Mysql { pool, runtime } => Ok(runtime
                .block_on(sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(pool))?),
        }
    }

    pub fn stamp(&mut self, m: &migcheck::Migrations, version: i64) -> Result<(), Failure> {
        match self {
            Database::Sqlite(conn) => m.stamp(conn, version),
            Database::Postgres { pool, runtime } => runtime.block_on(m.stamp_postgres(pool, version)),
            Database::Mysql { pool, runtime } => runtime.block_on(m.stamp_mysql(pool, version)),
        }
        .map_err(Failure::runtime)
    }
}

/// Reads `sqlite:path`, `sqlite://path`, `sqlite:///abs/path`,
/// `sqlite::memory:` and plain paths. Query strings (`?mode=rwc`) are ignored.
pub fn parse(url: &str) -> Result<Target> {
    let url = url.trim();
    if url.is_empty() {
        bail!("the database URL is empty: give a SQLite file, e.g. DATABASE_URL=sqlite:dev.db");
    }
    let rest = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if let Some((scheme, _)) = url.split_once("://") {
        match scheme {
            "postgres" | "postgresql" => {
                // Read once here, by the reader the checker's client uses, so
                // that a URL either client would refuse stops every command
                // alike, before it connects (the runtime's sqlx reads it the
                // same way: `tests::both_clients_read_a_url_alike`).
                if let Err(e) = migcheck_core::engine::postgres::wire::PgUrl::parse(url) {
                    bail!("cannot read the PostgreSQL URL `{}`: {e}", redact(url));
                }
                return Ok(Target::Postgres(url.to_owned()));
            }
            // sqlx reads `mysql://` for both servers.
            "mysql" | "mariadb" => return Ok(Target::Mysql(format!("mysql{}", &url[scheme.len()..]))),
            _ => bail!(
                "unsupported database URL scheme `{scheme}://`: migcheck migrates SQLite (`sqlite:dev.db`), \
                 PostgreSQL (`postgres://user@host/db`) and MySQL or MariaDB (`mysql://user@host/db`)"
            ),
        }
    } else {
        url
    };
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path == ":memory:" {
        return Ok(Target::Memory);
    }
    if path.is_empty() {
        bail!("the database URL `{url}` names no file: e.g. sqlite:dev.db");
    }
    Ok(Target::File(PathBuf::from(path)))
}

fn configure(conn: &Connection, shown: &str) -> Result<()> {
    // Concurrent `migcheck upgrade`s take turns on SQLite's write lock.
    conn.busy_timeout(Duration::from_secs(60))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0))
        .with_context(|| format!("`{shown}` is not a SQLite database"))?;
    Ok(())
}

fn refuse_directory(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("the database `{}` is a directory, not a SQLite file", path.display());
    }
    Ok(())
}

/// Opens for writing, creating the file if needed.
pub fn open(target: &Target) -> Result<Connection> {
    let conn = match target {
        Target::Memory => Connection::open_in_memory()?,
        Target::Postgres(_) | Target::Mysql(_) => bail!("internal: a server's URL where a SQLite file was expected"),
        Target::File(path) => {
            refuse_directory(path)?;
            Connection::open(path).with_context(|| format!("cannot open the database `{}`", path.display()))?
        }
    };
    configure(&conn, &target.describe())?;
    Ok(conn)
}

/// Opens for reading; `None` when the file does not exist (never migrated),
/// so that reading commands never create a database.
pub fn open_existing(target: &Target) -> Result<Option<Connection>> {
    let conn = match target {
        Target::Memory => Connection::open_in_memory()?,
        Target::Postgres(_) | Target::Mysql(_) => bail!("internal: a server's URL where a SQLite file was expected"),
        Target::File(path) => {
            refuse_directory(path)?;
            if !path.exists() {
                return Ok(None);
            }
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .with_context(|| format!("cannot open the database `{}`", path.display()))?
        }
    };
    configure(&conn, &target.describe())?;
    Ok(Some(conn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let file = |p: &str| Target::File(PathBuf::from(p));
        let cases = [
            ("sqlite:dev.db", file("dev.db")),
            ("sqlite://dev.db", file("dev.db")),
            ("sqlite:///abs/dev.db", file("/abs/dev.db")),
            ("sqlite:dev.db?mode=rwc", file("dev.db")),
            ("dev.db", file("dev.db")),
            ("./data/app.sqlite", file("./data/app.sqlite")),
            ("sqlite::memory:", Target::Memory),
            ("postgres://u:secret@h/db", Target::Postgres("postgres://u:secret@h/db".into())),
            ("mysql://u:secret@h/db", Target::Mysql("mysql://u:secret@h/db".into())),
            // sqlx reads `mysql://` for both servers.
            ("mariadb://u@h:3306/db?ssl-mode=required", Target::Mysql("mysql://u@h:3306/db?ssl-mode=required".into())),
        ];
        assert_eq!(Target::Mysql("mysql://u:secret@h/db".into()).describe(), "mysql://u:***@h/db");
        assert_eq!(Target::Postgres("postgres://u:secret@h:5432/db".into()).describe(), "postgres://u:***@h:5432/db");
        for (url, expected) in cases {
            assert_eq!(parse(url).unwrap(), expected, "{url}");
        }
        for (url, message) in [
            ("", "empty"),
            ("  ", "empty"),
            ("sqlite:", "names no file"),
            ("oracle://localhost/db", "unsupported database URL scheme `oracle://`"),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(message), "{url}: {err}");
        }
    }

    /// The URLs the two PostgreSQL clients read, each in an environment of
    /// its own: the build-time checker's (core's `PgUrl`) must reach what
    /// the runtime's (sqlx) reaches. Each case runs in a child process, since
    /// both read the process's `PG*` variables.
    #[test]
    fn both_clients_read_a_url_alike() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("postgres://u:p@db.example:6543/app?sslmode=require&application_name=x", &[]),
            (
                "postgres:///app",
                &[("PGHOST", "/var/run/postgresql"), ("PGPORT", "5433"), ("PGUSER", "me"), ("PGSSLMODE", "disable")],
            ),
            (
                "postgres://h/app",
                &[("PGPORT", "6000"), ("PGSSLMODE", "verify-full"), ("PGAPPNAME", "tool"), ("PGOPTIONS", "-c a=b")],
            ),
            ("postgres://u@h/app?options=-c%20x%3Dy&port=7000&sslmode=allow", &[("PGOPTIONS", "-c a=b")]),
            ("postgres:///app?host=%2Ftmp&dbname=other&user=u", &[("PGDATABASE", "ignored")]),
            ("postgres://u@127.0.0.1", &[("PGDATABASE", "fromenv"), ("PGHOSTADDR", "127.0.0.2")]),
            ("postgres:///", &[("PGHOSTADDR", "127.0.0.2"), ("PGUSER", "me")]),
            ("postgres://db.example/app?hostaddr=127.0.0.3", &[("PGHOSTADDR", "127.0.0.2")]),
            ("postgres://", &[("PGUSER", "me")]),
            ("postgresql://u@[::1]:5433/db?ssl-mode=verify-ca", &[]),
        ];
        for (url, env) in cases {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child.args(["--exact", "db::tests::one_url_as_both_clients_read_it", "--ignored", "--nocapture"]);
            for name in [
                "PGHOST",
                "PGHOSTADDR",
                "PGPORT",
                "PGUSER",
                "PGPASSWORD",
                "PGDATABASE",
                "PGSSLMODE",
                "PGSSLROOTCERT",
                "PGAPPNAME",
                "PGOPTIONS",
                "PGPASSFILE",
            ] {
                child.env_remove(name);
            }
            child.envs(env.iter().copied()).env("MIGCHECK_URL_CASE", url);
            let out = child.output().unwrap();
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && text.contains("1 passed"), "{url} with {env:?}:\n{text}");
        }
    }

    /// One case of [`both_clients_read_a_url_alike`], in its child process.
    #[test]
    #[ignore = "run by both_clients_read_a_url_alike, in a child process with the case's environment"]
    fn one_url_as_both_clients_read_it() {
        use migcheck_core::engine::postgres::wire::{Host, PgUrl, SslMode};
        use sqlx::postgres::{PgConnectOptions, PgSslMode};
        let url = std::env::var("MIGCHECK_URL_CASE").expect("MIGCHECK_URL_CASE: run by both_clients_read_a_url_alike");
        let ours = PgUrl::parse(&url).unwrap();
        let theirs: PgConnectOptions = url.parse().unwrap();
        // Where sqlx connects: a socket, else the `hostaddr` (which only its
        // URL form shows; sqlx 0.9.1 cannot write that form for a socket),
        // else the host.
        let hostaddr = || {
            sqlx::ConnectOptions::to_url_lossy(&theirs)
                .query_pairs()
                .find(|(k, _)| k == "hostaddr")
                .map(|(_, v)| v.into_owned())
        };
        let host = match theirs.get_socket() {
            Some(dir) => Host::Socket(dir.clone()),
            None if theirs.get_host().starts_with('/') => Host::Socket(theirs.get_host().into()),
            None => Host::Tcp(
                hostaddr()
                    .unwrap_or_else(|| theirs.get_host().trim_start_matches('[').trim_end_matches(']').to_owned()),
            ),
        };
        assert_eq!(ours.host, host, "host");
        assert_eq!(ours.port, theirs.get_port(), "port");
        // Where nothing names the role, each takes the system's user its own
        // way (sqlx through `whoami`, which may say "anonymous"): compared
        // only where the URL or PGUSER names one.
        if url.contains('@') || url.contains("user=") || std::env::var_os("PGUSER").is_some() {
            assert_eq!(ours.user, theirs.get_username(), "user");
            // sqlx leaves the database to the server, which takes the user's name.
            assert_eq!(ours.database, theirs.get_database().unwrap_or(theirs.get_username()), "database");
        }
        let ssl = match theirs.get_ssl_mode() {
            PgSslMode::Disable | PgSslMode::Allow => SslMode::Disable,
            PgSslMode::Prefer => SslMode::Prefer,
            PgSslMode::Require => SslMode::Require,
            PgSslMode::VerifyCa => SslMode::VerifyCa,
            PgSslMode::VerifyFull => SslMode::VerifyFull,
        };
        assert_eq!(ours.ssl, ssl, "sslmode");
        let parameter = |name: &str| ours.parameters.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(parameter("application_name"), theirs.get_application_name(), "application_name");
        assert_eq!(parameter("options"), theirs.get_options(), "options");
    }
}
