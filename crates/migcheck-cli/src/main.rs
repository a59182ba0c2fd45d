//! `migcheck`: the Flask-Migrate workflow for Rust projects, on SQLite.
//!
//! Every command reads the migrations with the same checker `cargo build`
//! runs (`migcheck-core`), so the CLI and the build can never disagree.

// Checker diagnostics and runtime errors are large and rare.
#![allow(clippy::result_large_err)]

mod base;
mod commands;
mod context;
mod db;
mod error;
pub mod exit;
mod formats;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use context::{Context, Format, Output};
use error::Result;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error: the checks failed, a migration failed, bad input or a database error
  2  bad command-line usage
  3  status: migrations are pending
  4  the database does not match the migrations (an applied migration was edited, or is unknown here)";

/// Check, seal and apply SQL migrations: `cargo build` proves them sound, `migcheck` applies them.
#[derive(Debug, Parser)]
#[command(name = "migcheck", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// The migrations directory; `schema.sql` is looked for beside it.
    #[arg(long, global = true, default_value = "migrations", value_name = "PATH")]
    pub dir: PathBuf,

    /// The database, e.g. `sqlite:dev.db` or a path. Default: $DATABASE_URL, also read from `.env`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Output format: text, json (history, current, status, check, explain); github, sarif, junit,
    /// markdown (check).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// The history table's name.
    #[arg(long, global = true, default_value = migcheck::HISTORY_TABLE, value_name = "NAME")]
    pub history_table: String,

    /// Read another tool's directory in place: migcheck, diesel, refinery, dbmate, goose, sql-migrate.
    /// Default: the lock file's `layout` line, else detected.
    #[arg(long, global = true, value_name = "LAYOUT", value_parser = parse_layout)]
    pub layout: Option<migcheck_core::model::Layout>,

    /// The fixtures directory: `<version>.sql` files of rows loaded right after their version
    /// when migrations are checked. Default: `fixtures` beside the migrations directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub fixtures: Option<PathBuf>,

    /// SQL run on every scratch database before the first migration, never at run time (an extension
    /// the deployment creates). Default: `prelude.sql` beside the migrations directory.
    #[arg(long, global = true, value_name = "PATH")]
    pub prelude: Option<PathBuf>,
}

fn parse_layout(text: &str) -> Result<migcheck_core::model::Layout, String> {
    migcheck_core::model::Layout::parse(text)
        .ok_or_else(|| format!("unknown layout `{text}`: migcheck, diesel, refinery, dbmate, goose or sql-migrate"))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the migrations directory, an empty lock file, and a `build.rs` that checks them.
    #[command(
        after_help = "Examples:\n  migcheck init\n  migcheck --dir db/migrations init\n  migcheck init --dialect postgres"
    )]
    Init(commands::init::Args),

    /// Create an empty migration with the next version (a UTC timestamp by default).
    #[command(
        after_help = "Examples:\n  migcheck new create_owners\n  migcheck new \"add pets\" --irreversible\n  migcheck new init --sequential   # 0001_init.up.sql"
    )]
    New(commands::new::Args),

    /// Seal the migrations in `migrations.lock`.
    #[command(
        after_help = "Examples:\n  migcheck lock\n  migcheck lock --force   # re-seal an edited migration that no database has applied"
    )]
    Lock(commands::lock::Args),

    /// Renumber unsealed migrations that sort before the newest sealed one (after a branch merge).
    #[command(after_help = "Example:\n  git merge main && migcheck rebase && migcheck lock")]
    Rebase(commands::rebase::Args),

    /// Run every check `cargo build` runs, with the same messages; with --database-url, also compare
    /// the live database's schema with what its applied migrations should have made.
    #[command(
        after_help = "Examples:\n  migcheck check\n  migcheck check --format json\n  migcheck check --database-url sqlite:prod.db   # finds changes made by hand"
    )]
    Check(commands::check::Args),

    /// Show what each statement of a migration does on a database at the version before it: the locks
    /// it takes, the relations it rewrites, the rows it touches and its time (PostgreSQL measures locks
    /// and rewrites; SQLite locks the whole database).
    #[command(
        after_help = "Examples:\n  migcheck explain 20261124101500\n  MIGCHECK_SCRATCH_URL=postgres://… migcheck explain 3 --format json"
    )]
    Explain(commands::explain::Args),

    /// Print the schema at a version (default: the newest) as SQL, a Mermaid `erDiagram`, Graphviz
    /// dot or JSON, replayed on a scratch database; with --database-url, a live database's.
    #[command(
        after_help = "Examples:\n  migcheck schema\n  migcheck --format mermaid schema --at 20261124093000\n  migcheck --format dot schema | dot -Tsvg > schema.svg\n  migcheck --database-url sqlite:dev.db schema"
    )]
    Schema(commands::schema::SchemaArgs),

    /// Squash the migrations up to a sealed version into one baseline file (schema and rows) that fresh
    /// databases run instead; sealed in the lock, and proved by the build against those migrations while
    /// their files are there. Databases they already migrated go on from where they are.
    #[command(after_help = "Examples:
  migcheck squash --to 20261124101500
  migcheck squash --to 990 -m 'first two years' --schema-only")]
    Squash(commands::squash::Args),

    /// Show a migration: its files, whether it is sealed and applied, and what it changes in the
    /// schema (as text, or with --format mermaid the tables it touches, changes marked).
    #[command(after_help = "Examples:\n  migcheck show 20261124101500\n  migcheck --format mermaid show 2")]
    Show(commands::schema::ShowArgs),

    /// Generate a migration (up and down) from the migrated schema to schema.sql.
    #[command(
        after_help = "Examples:\n  migcheck diff -m \"create owners table\"\n  migcheck diff -m \"rename owners\" --rename owners:people\n  migcheck diff -m \"rename email\" --rename owners.email:mail"
    )]
    Diff(commands::diff::Args),

    /// Apply pending migrations.
    #[command(
        after_help = "Examples:\n  migcheck upgrade\n  migcheck upgrade --to 20261124093000\n  migcheck upgrade --dry-run"
    )]
    Upgrade(commands::upgrade::Args),

    /// Revert applied migrations (one by default), newest first.
    #[command(
        after_help = "Examples:\n  migcheck downgrade\n  migcheck downgrade --steps 2\n  migcheck downgrade --to base   # revert everything"
    )]
    Downgrade(commands::downgrade::Args),

    /// List every migration with its state (applied, pending, divergent, unknown).
    #[command(after_help = "Examples:\n  migcheck history\n  migcheck history --format json")]
    History(commands::history::Args),

    /// Print the database's version.
    #[command(after_help = "Example:\n  migcheck current")]
    Current(commands::current::Args),

    /// Summarise; exit 3 when migrations are pending, 4 when the database diverges.
    #[command(after_help = "Example (deploy script):\n  migcheck status || migcheck upgrade")]
    Status(commands::status::Args),

    /// List the SQL statements the crate's code checks at compile time (`migcheck::sql!`, `statement!`,
    /// sqlx's `query!` family), read from its Rust sources without compiling them; `check --base` runs the
    /// base release's on the branch's schema.
    #[command(after_help = "Examples:\n  migcheck queries\n  migcheck queries --format json")]
    Queries(commands::queries::Args),

    /// Adopt a database another tool migrated: seal its migrations (read in place) and record
    /// what its history table says was applied, so that `upgrade` continues from there.
    #[command(
        after_help = "Examples:\n  migcheck import --from sqlx --database-url sqlite:app.db\n  migcheck --dir migrations import --from diesel --database-url postgres://localhost/app"
    )]
    Import(commands::import::Args),

    /// Mark the database as being at VERSION without running anything (0: no migration).
    #[command(after_help = "Example (adopting an existing database):\n  migcheck stamp 20261124093000")]
    Stamp(commands::stamp::Args),
}

/// Runs the command; the exit code, or a failure that carries its own.
fn run(cli: &Cli) -> Result<u8> {
    let ctx = &cli.context();
    use commands::*;
    // `--format` becomes the command's own, or the command does not run:
    // `check`, `schema` and `show` are handed theirs, the others write text
    // or JSON.
    if !matches!(cli.command, Command::Check(_) | Command::Schema(_) | Command::Show(_)) {
        own::<Output>(cli.format)?;
    }
    match &cli.command {
        Command::Init(args) => init::run(ctx, args),
        Command::New(args) => new::run(ctx, args),
        Command::Lock(args) => lock::run(ctx, args),
        Command::Rebase(args) => rebase::run(ctx, args),
        Command::Check(args) => check::run(ctx, args, own(cli.format)?),
        Command::Diff(args) => diff::run(ctx, args),
        Command::Explain(args) => explain::run(ctx, args),
        Command::Schema(args) => schema::run_schema(ctx, args, own(cli.format)?),
        Command::Show(args) => schema::run_show(ctx, args, own(cli.format)?),
        Command::Upgrade(args) => upgrade::run(ctx, args),
        Command::Downgrade(args) => downgrade::run(ctx, args),
        Command::History(args) => history::run(ctx, args),
        Command::Current(args) => current::run(ctx, args),
        Command::Status(args) => status::run(ctx, args),
        Command::Squash(args) => squash::run(ctx, args),
        Command::Stamp(args) => stamp::run(ctx, args),
        Command::Import(args) => import::run(ctx, args),
        Command::Queries(args) => queries::run(ctx, args),
    }
}

/// `--format` as a command's own format, or why that command does not write it.
fn own<F: TryFrom<Format, Error = String>>(format: Format) -> Result<F> {
    format.try_into().map_err(|refused: String| anyhow::anyhow!(refused).into())
}

impl Cli {
    /// The global options, for the commands.
    fn context(&self) -> Context {
        Context {
            dir: self.dir.clone(),
            database_url: self.database_url.clone(),
            // A command's own format, when it has one, says JSON the same way.
            output: if self.format == Format::Json { Output::Json } else { Output::Text },
            history_table: self.history_table.clone(),
            layout: self.layout,
            fixtures: self.fixtures.clone(),
            prelude: self.prelude.clone(),
        }
    }
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`| head`) would
    // panic; a command-line tool ends quietly instead, as `cat` does.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    #[cfg(unix)]
    on_termination_drop_scratch_databases();
    let cli = Cli::parse();
    let result = run(&cli);
    // Ended by a signal: the signal's thread ends the process once the
    // scratch databases are dropped (the command may have failed because
    // they were).
    #[cfg(unix)]
    while TERMINATING.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::park();
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if let error::Failure::Error { error, .. } = &failure {
                eprintln!("error: {}", error::Failure::message(error));
            }
            ExitCode::from(failure.code())
        }
    }
}

/// Set once SIGTERM or SIGINT arrived: the signal's thread ends the process.
#[cfg(unix)]
static TERMINATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// SIGTERM and SIGINT end the process without running destructors, which
/// would leave the scratch databases of a PostgreSQL check on the server:
/// both are blocked here, before any thread starts (threads inherit the
/// mask), and one thread waits for them, drops the scratch databases and
/// exits as the signal would (128 + its number). Dropping a scratch database
/// with `FORCE` ends this process's own connections to it, so the other
/// threads fail meanwhile: they wait (a panic included) until the signal's
/// thread exits, and a write to a closed socket is an error, not SIGPIPE.
#[cfg(unix)]
fn on_termination_drop_scratch_databases() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        while TERMINATING.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::park();
        }
        default(info);
    }));
    // SAFETY: a signal set on the stack, filled and installed as this
    // thread's mask before any other thread exists; sigwait only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        std::thread::spawn(move || {
            let mut signal: libc::c_int = 0;
            if libc::sigwait(&set, &mut signal) == 0 {
                TERMINATING.store(true, std::sync::atomic::Ordering::SeqCst);
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                migcheck_core::engine::postgres::drop_scratch_databases();
                std::process::exit(128 + signal);
            }
        });
    }
}
