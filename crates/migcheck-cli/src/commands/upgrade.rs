//! `migcheck upgrade`: apply pending migrations, with a backup and a progress bar.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use migcheck::{Migration, UpgradeOptions};

use super::*;
use crate::error::{Result, bail};
use crate::{Cli, db, exit};

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
pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    let Args { to, dry_run, no_backup, batch, fail_fast, ref each } = *args;
    if !each.is_set() && (fail_fast || each.jobs.is_some()) {
        bail!("`--fail-fast` and `--jobs` are for fleets: add `--each 'sqlite:tenants/*.db'` or `--each-file FILE`");
    }
    if each.is_set() && (dry_run || batch) {
        bail!("`--dry-run` and `--batch` are for one database, not a fleet (`--each`, `--each-file`)");
    }
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    if let Some(v) = to
        && each.is_set()
        && migrations.get(v).is_none()
    {
        bail!("there is no migration with version {v} in `{}`", cli.dir.display());
    }
    if each.is_set() {
        return super::fleet::upgrade(cli, each, &migrations, to, fail_fast, !no_backup);
    }
    if let Some(v) = to
        && migrations.get(v).is_none()
    {
        bail!("there is no migration with version {v} in `{}`", cli.dir.display());
    }
    let target = db::parse(&db::url(cli.database_url.as_deref())?)?;
    if dry_run {
        let status = match db::Database::connect(&target, false)? {
            Some(db) => db.status(&migrations)?,
            None => status_of_new(&migrations),
        };
        if !status.divergent.is_empty() || !status.unknown.is_empty() {
            return Err(divergence(&status));
        }
        let mut pending: Vec<&Migration> =
            status.pending.iter().filter(|v| to.is_none_or(|t| **v <= t)).filter_map(|v| migrations.get(*v)).collect();
        // An empty database runs the baseline instead of what it replaced.
        if let Some(b) = migrations.baseline()
            && status.applied.is_empty()
            && status.interrupted.is_none()
            && to.is_none_or(|t| t >= b.version())
        {
            let first = migrations.iter().next().map_or(b.version(), |m| m.version());
            println!(
                "-- baseline {} `{}` ({}, replaces migrations {first} to {})",
                b.version(),
                b.name(),
                b.script().path(),
                b.version()
            );
            println!("{}", b.script().sql());
            pending.retain(|m| m.version() > b.version());
        } else if let Some(m) = pending.iter().find(|m| !m.has_files()) {
            return Err(Failure::runtime(migcheck::Error::Squashed {
                version: m.version(),
                name: m.name().to_owned(),
                baseline: migrations.baseline().map_or(m.version(), |b| b.version()),
            }));
        }
        if pending.is_empty() && migrations.baseline().is_none_or(|_| !status.applied.is_empty()) {
            println!("-- nothing to apply: {} is up to date", target.describe());
        }
        for m in pending {
            println!("-- migration {} `{}` ({}, {:?})", m.version(), m.name(), m.up().path(), m.up().mode());
            match status.interrupted.as_ref().filter(|i| i.version == m.version()) {
                Some(i) => {
                    println!("-- interrupted: {}", interrupted_text(&migrations, i));
                    let rest = m.up().sql().get(i.resume_at..).unwrap_or_default();
                    println!("{}\n", rest.trim());
                }
                None => println!("{}\n", m.up().sql().trim_end()),
            }
        }
        return Ok(exit::OK);
    }
    // A database this command creates has nothing to back up.
    let existed = matches!(&target, db::Target::File(path) if path.exists());
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    let mut options = UpgradeOptions::default().batch(batch);
    if let Some(v) = to {
        options = options.target(v);
    }
    match (&target, database.sqlite()) {
        (db::Target::File(path), Some(conn)) if existed && !no_backup => {
            options = options.backup(backup_path(path, migrations.current(conn)?));
        }
        (db::Target::Postgres(_), _) if !no_backup => {
            eprintln!("note: no backup is taken of a PostgreSQL database (SQLite only): use pg_dump");
        }
        _ => {}
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
