//! `DATABASE_URL`: where it comes from, what it may say, and opening it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
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

/// Where a SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Memory,
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::File(path) => path.display().to_string(),
            Target::Memory => ":memory:".to_owned(),
        }
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
            "postgres" | "postgresql" => bail!(
                "`{scheme}://` URLs are not supported by this version of migcheck yet; it migrates SQLite databases \
                 (DATABASE_URL=sqlite:dev.db)"
            ),
            _ => bail!("unsupported database URL scheme `{scheme}://`: migcheck migrates SQLite (`sqlite:dev.db`)"),
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
        ];
        for (url, expected) in cases {
            assert_eq!(parse(url).unwrap(), expected, "{url}");
        }
        for (url, message) in [
            ("", "empty"),
            ("  ", "empty"),
            ("sqlite:", "names no file"),
            ("postgres://localhost/db", "not supported by this version"),
            ("mysql://localhost/db", "unsupported database URL scheme `mysql://`"),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(message), "{url}: {err}");
        }
    }
}
