//! `migcheck upgrade`: apply pending migrations, with a backup and a progress bar.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use migcheck::UpgradeOptions;

use super::common::{checked, interrupted_text, migrations, version_text};
use crate::context::Context;
use crate::error::{Result, bail};
use crate::{db, exit};
use migcheck::Migrations;

/// `migcheck upgrade`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop after this version.
    #[arg(long, value_name = "VERSION")]
    pub to: Option<i64>,
    /// Print the SQL that would run, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not copy the database file before the first pending migration runs.
    #[arg(long)]
    pub no_backup: bool,
    /// Apply all pending migrations in one transaction: all or nothing.
    #[arg(long)]
    pub batch: bool,
    /// With a fleet: stop starting databases after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// A fleet of SQLite databases instead of one.
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck upgrade` (or, with `--dry-run`, prints what it would run).
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let Args { to, dry_run, no_backup, batch, fail_fast, ref each } = *args;
    if !each.is_set() && (fail_fast || each.jobs.is_some()) {
        bail!("`--fail-fast` and `--jobs` are for fleets: add `--each 'sqlite:tenants/*.db'` or `--each-file FILE`");
    }
    if each.is_set() && (dry_run || batch) {
        bail!("`--dry-run` and `--batch` are for one database, not a fleet (`--each`, `--each-file`)");
    }
    let report = checked(ctx, false)?;
    let migrations = migrations(ctx, &report);
    if let Some(v) = to
        && each.is_set()
        && migrations.get(v).is_none()
    {
        bail!("there is no migration with version {v} in `{}`", ctx.dir.display());
    }
    if each.is_set() {
        return super::fleet::upgrade(ctx, each, &migrations, to, fail_fast, !no_backup);
    }
    if let Some(v) = to
        && migrations.get(v).is_none()
    {
        bail!("there is no migration with version {v} in `{}`", ctx.dir.display());
    }
    let target = db::parse(&db::url(ctx.database_url.as_deref())?)?;
    let mut options = UpgradeOptions::default().batch(batch);
    if let Some(v) = to {
        options = options.target(v);
    }
    // A database this command creates has nothing to back up.
    let existed = matches!(&target, db::Target::File(path) if path.exists());
    let database = if dry_run && !existed {
        // Nothing is created: an empty database's plan.
        (!matches!(target, db::Target::Postgres(_) | db::Target::Mysql(_)))
            .then(|| rusqlite::Connection::open_in_memory().map(db::Database::Sqlite))
    } else {
        None
    };
    let mut database = match database {
        Some(memory) => memory?,
        None => db::Database::connect(&target, !dry_run)?.ok_or_else(|| anyhow!("cannot open the database"))?,
    };
    match (&target, database.sqlite()) {
        (db::Target::File(path), Some(conn)) if existed && !no_backup => {
            options = options.backup(backup_path(path, migrations.current(conn)?));
        }
        (db::Target::Postgres(_), _) if dry_run => {}
        (db::Target::Postgres(_), _) if !no_backup => {
            eprintln!("note: no backup is taken of a PostgreSQL database (SQLite only): use pg_dump");
        }
        (db::Target::Mysql(_), _) if dry_run => {}
        (db::Target::Mysql(_), _) if !no_backup => {
            eprintln!("note: no backup is taken of a MySQL database (SQLite only): use mysqldump");
        }
        _ => {}
    }
    if dry_run {
        return dry_run_of(&target, &database, &migrations, &options);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = database.upgrade(&migrations, &options, |m, i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
        bar.set_message(format!("{} {}", m.version(), m.name()));
    });
    bar.finish_and_clear();
    let done = result?;
    if let Some(path) = &done.backup {
        println!("backup: {}", path.display());
    }
    for a in &done.applied {
        println!("applied {} {} ({:.1?})", a.version, a.name, a.duration);
    }
    let current = database.status(&migrations)?.current();
    if done.applied.is_empty() {
        println!("nothing to apply: {} is at version {}", target.describe(), version_text(current));
    } else {
        println!("{} is at version {}", target.describe(), version_text(current));
    }
    Ok(exit::OK)
}

/// `upgrade --dry-run`: the steps the upgrade would take, from the runtime's
/// own protocol, as a script: transaction control and the migrations' SQL as
/// they are, the history's bookkeeping as comments. Nothing is changed (a
/// SQLite file that does not exist is not created); a refusal is the upgrade's.
fn dry_run_of(
    target: &db::Target,
    database: &db::Database,
    migrations: &Migrations,
    options: &UpgradeOptions,
) -> Result<u8> {
    use migcheck::protocol::Step;
    let steps = database.upgrade_plan(migrations, options)?;
    let status = database.status(migrations)?;
    let dialect = match target {
        db::Target::Postgres(_) => migcheck_core::model::Dialect::Postgres,
        db::Target::Mysql(_) => migcheck_core::model::Dialect::Mysql,
        _ => migcheck_core::model::Dialect::Sqlite,
    };
    if !steps.iter().any(|s| matches!(s, Step::Starting { .. })) {
        println!("-- nothing to apply: {} is up to date", target.describe());
    }
    for step in &steps {
        match step {
            Step::ReadHead | Step::ReadHistory | Step::RowState(_) | Step::IndexValid(_) | Step::RollbackOwn => {}
            Step::Begin | Step::Commit | Step::Rollback => println!("{step};"),
            Step::Starting { migration: m, .. } => {
                match migrations.baseline().filter(|b| b.script().path() == m.up().path()) {
                    Some(b) => {
                        let first = migrations.iter().next().map_or(b.version(), |m| m.version());
                        println!(
                            "-- baseline {} `{}` ({}, replaces migrations {first} to {})",
                            b.version(),
                            b.name(),
                            b.script().path(),
                            b.version()
                        );
                    }
                    None => {
                        println!("-- migration {} `{}` ({}, {:?})", m.version(), m.name(), m.up().path(), m.up().mode())
                    }
                }
                if let Some(i) = status.interrupted.as_ref().filter(|i| i.version == m.version()) {
                    println!("-- interrupted: {}", interrupted_text(migrations, i));
                }
            }
            Step::RunScript { script, .. } => println!("{}", script.sql().trim()),
            Step::RunStatement { script, from, .. } => {
                let sql = script.sql();
                if let Some(r) = migcheck_core::lexer::statements(sql, dialect).into_iter().find(|r| r.start >= *from) {
                    println!("{}", sql[r].trim());
                }
            }
            _ => println!("-- {step}"),
        }
    }
    Ok(exit::OK)
}

/// The backup's path: the database file's name, then the version it holds.
fn backup_path(path: &Path, current: Option<i64>) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "database".into());
    path.with_file_name(format!("{name}.v{}.bak", current.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_say_the_version() {
        assert_eq!(backup_path(Path::new("data/dev.db"), Some(42)), Path::new("data/dev.db.v42.bak"));
        assert_eq!(backup_path(Path::new("dev.db"), None), Path::new("dev.db.v0.bak"));
    }
}
