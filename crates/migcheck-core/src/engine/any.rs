//! The one place that picks an engine for a dialect: [`AnyEngine::open`]
//! opens the scratch database of a history's dialect for a [`Job`], and
//! `with_engine!` hands the engine it holds to generic code.
//!
//! [`Engine`](super::Engine) has an associated schema type and generic
//! callers, so it cannot be a trait object; this enum and its one `match`
//! stand in for one. A new engine is a new variant here and an arm in the
//! macro, and every command that replays, explains, squashes or checks gets
//! it.

use crate::config::{Config, ScratchConfig};
use crate::diagnostic::{Diagnostic, Kind};
use crate::model::Dialect;

use super::mysql::MyEngine;
use super::postgres::PgEngine;
use super::sqlite::SqliteEngine;

/// What a scratch database is opened for: it decides what is kept between
/// runs, and what is said when PostgreSQL's scratch server is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The check (`cargo build`, `migcheck check`): SQLite's database at the
    /// newest sealed migration is kept in the cache directory and
    /// PostgreSQL's as a template, hazards are measured; without a
    /// PostgreSQL server the SQL is not run (a warning, not an error).
    Check,
    /// `migcheck explain`: one migration, statement by statement.
    Explain,
    /// The schema at a version, replayed (`schema`, `show`, `check
    /// --database`'s expected side).
    Replay,
    /// `migcheck squash`: the baseline's SQL read from a replay.
    Squash,
}

impl Job {
    /// Why a PostgreSQL history cannot be worked on without
    /// `MIGCHECK_SCRATCH_URL`, and what to do: the one wording of it.
    pub fn no_scratch_server(self) -> Diagnostic {
        const HELP: &str = "set MIGCHECK_SCRATCH_URL to a PostgreSQL server where migcheck may create and drop \
                            a scratch database (scripts/pg-start starts one)";
        match self {
            Job::Check => {
                Diagnostic::warning(Kind::NotExecuted, "the PostgreSQL migrations' SQL was not run: no scratch server")
                    .note("names, order and checksums were checked")
                    .help(HELP)
            }
            Job::Explain | Job::Replay | Job::Squash => {
                let what = match self {
                    Job::Explain => "explaining a PostgreSQL migration",
                    Job::Squash => "squashing a PostgreSQL history",
                    _ => "replaying a PostgreSQL history",
                };
                Diagnostic::error(Kind::NotExecuted, format!("{what} needs a scratch server")).help(HELP)
            }
        }
    }
}

impl Job {
    /// Why a MySQL history cannot be worked on without a MySQL
    /// `MIGCHECK_SCRATCH_URL`: the check still verifies names, order and
    /// checksums (a warning); what needs the SQL run is an error.
    pub fn no_mysql_engine(self) -> Diagnostic {
        const HELP: &str = "set MIGCHECK_SCRATCH_URL to a MySQL or MariaDB server (`mysql://…`) where migcheck may \
                            create and drop a scratch database (scripts/mysql-start starts one)";
        match self {
            Job::Check => {
                Diagnostic::warning(Kind::NotExecuted, "the MySQL migrations' SQL was not run: no scratch server")
                    .note("names, order and checksums were checked")
                    .help(HELP)
            }
            Job::Explain | Job::Replay | Job::Squash => {
                Diagnostic::error(Kind::NotExecuted, "this needs the MySQL migrations run on a scratch server")
                    .help(HELP)
            }
        }
    }
}

/// The scratch engine of one dialect, opened.
// One is opened per command and moved straight into generic code: the
// variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum AnyEngine {
    /// The in-memory SQLite sandbox.
    Sqlite(SqliteEngine),
    /// A scratch database on `MIGCHECK_SCRATCH_URL`'s server.
    Postgres(PgEngine),
    /// A scratch database on `MIGCHECK_SCRATCH_URL`'s MySQL or MariaDB server.
    Mysql(MyEngine),
}

/// Whether `url` names a MySQL or MariaDB server.
pub fn is_mysql_url(url: &str) -> bool {
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

impl AnyEngine {
    /// Opens an empty scratch database of `dialect`, set up by `scratch` (the
    /// project's settings: see `check::Report::scratch`) for `job`.
    pub fn open(config: &Config, dialect: Dialect, scratch: &ScratchConfig, job: Job) -> Result<AnyEngine, Diagnostic> {
        Ok(match dialect {
            Dialect::Sqlite => {
                let cache = config.cache_dir.clone().filter(|_| job == Job::Check);
                AnyEngine::Sqlite(SqliteEngine::open(scratch, cache)?)
            }
            Dialect::Postgres => AnyEngine::Postgres(postgres(config, scratch, job)?),
            Dialect::Mysql => AnyEngine::Mysql(mysql(config, scratch, job)?),
        })
    }
}

/// A PostgreSQL scratch database on `config.postgres_scratch`, for what only
/// PostgreSQL does (a live PostgreSQL database's drift), or the reason there
/// is none.
pub fn postgres(config: &Config, scratch: &ScratchConfig, job: Job) -> Result<PgEngine, Diagnostic> {
    let Some(url) = &config.postgres_scratch else {
        return Err(job.no_scratch_server());
    };
    Ok(PgEngine::create(url, scratch.timeout)?
        .with_templates(job == Job::Check && config.cache_dir.is_some())
        .with_tracing(config.trace)
        .with_size_limit(scratch.size_limit))
}

/// A MySQL scratch database on `config.postgres_scratch` (a `mysql://` or
/// `mariadb://` URL), or the reason there is none.
pub fn mysql(config: &Config, scratch: &ScratchConfig, job: Job) -> Result<MyEngine, Diagnostic> {
    match config.postgres_scratch.as_deref().filter(|u| is_mysql_url(u)) {
        Some(url) => MyEngine::create(url, scratch.timeout),
        None => Err(job.no_mysql_engine()),
    }
}

/// `$body` with `$engine` bound to the engine an [`AnyEngine`] holds, of its
/// own type: generic code over [`Engine`](super::Engine) runs on either.
///
/// ```text
/// with_engine!(AnyEngine::open(config, dialect, &scratch, Job::Replay)?, engine => replay(&engine, report, None))
/// ```
macro_rules! with_engine {
    ($any:expr, $engine:ident => $body:expr) => {
        match $any {
            $crate::engine::any::AnyEngine::Sqlite($engine) => $body,
            $crate::engine::any::AnyEngine::Postgres($engine) => $body,
            $crate::engine::any::AnyEngine::Mysql($engine) => $body,
        }
    };
}
pub(crate) use with_engine;
