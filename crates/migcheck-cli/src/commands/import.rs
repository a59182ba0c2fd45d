//! `migcheck import`: adopt a database another tool migrated.

use std::fs;

use anyhow::anyhow;
use migcheck_core::check::{self as checker};
use migcheck_core::lock::Lock;
use migcheck_core::model::Layout;
use migcheck_core::seal;

use super::common::{config, list, migrations, plural, version_text};
use crate::context::Context;
use crate::error::{Failure, Result, bail};
use crate::output::print_diagnostics;
use crate::{db, exit};
use anyhow::Context as _;

/// `migcheck import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tool that migrated the database.
    #[arg(long, value_enum)]
    pub from: Tool,
}

/// Tools whose history tables `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tool {
    Sqlx,
    Diesel,
    Refinery,
    Dbmate,
    Goose,
}

/// Runs `migcheck import`: seals the directory and stamps the database at what the tool applied.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let tool = args.from;
    let (table, query, layout) = history_of(tool);
    let mut config = config(ctx, true)?;
    config.layout = Some(ctx.layout.unwrap_or(layout));
    let report = checker::check(&config);
    if report.has_errors() {
        print_diagnostics(report.errors());
        eprintln!("error: fix these before importing");
        return Err(Failure::Reported(exit::ERROR));
    }
    let target = db::parse(&db::url(ctx.database_url.as_deref())?)?;
    if matches!(&target, db::Target::File(path) if !path.exists()) {
        bail!("the database `{}` does not exist", target.describe());
    }
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    let applied: Vec<i64> = database
        .texts(query)
        .with_context(|| format!("cannot read `{table}`, the history table of {tool:?}, in `{}`", target.describe()))?
        .iter()
        .map(|v| {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            // diesel's versions, read as migcheck reads its directory names.
            if report.layout == migcheck_core::model::Layout::Diesel {
                migcheck_core::layout::diesel_version_number(&digits).ok_or(())
            } else {
                digits.parse::<i64>().map_err(|_| ())
            }
        })
        .collect::<std::result::Result<_, ()>>()
        .map_err(|_| anyhow!("`{table}` has a version that is not a number"))?;
    let migrations = migrations(ctx, &report);
    let unknown: Vec<i64> = applied.iter().copied().filter(|v| migrations.get(*v).is_none()).collect();
    if !unknown.is_empty() {
        bail!("`{table}` records versions with no migration in `{}`: {}", ctx.dir.display(), list(&unknown));
    }
    let newest = applied.iter().copied().max().unwrap_or(0);
    let missing: Vec<i64> =
        migrations.iter().map(|m| m.version()).filter(|v| *v <= newest && !applied.contains(v)).collect();
    if !missing.is_empty() {
        bail!(
            "`{table}` says versions {} were never applied although newer ones were; apply or remove them with {tool:?} first",
            list(&missing)
        );
    }
    let mut lock_config = config.clone();
    lock_config.layout = config.layout;
    if let Err(diagnostics) = seal::seal(&lock_config, false) {
        print_diagnostics(&diagnostics);
        return Err(Failure::Reported(exit::ERROR));
    }
    // Remember the layout, so that `cargo build` and later commands read the directory the same way.
    let lock_path = config.lock_path();
    if let Ok(mut lock) = fs::read_to_string(&lock_path)
        .map_err(anyhow::Error::from)
        .and_then(|t| Lock::parse(&t).map_err(|e| anyhow!(e.message)))
        && lock.layout.is_none()
        && config.layout != Some(Layout::Native)
    {
        lock.layout = config.layout;
        fs::write(&lock_path, lock.render())?;
    }
    database.stamp(&migrations, newest)?;
    println!(
        "imported {}: {} migration{} sealed in {}, {} recorded as applied (up to version {}); `migcheck upgrade` continues from here",
        target.describe(),
        migrations.len(),
        plural(migrations.len()),
        lock_path.display(),
        applied.len(),
        version_text((newest != 0).then_some(newest))
    );
    Ok(exit::OK)
}

/// The tool's history table, and a query for the versions it applied.
fn history_of(tool: Tool) -> (&'static str, &'static str, Layout) {
    match tool {
        Tool::Sqlx => {
            ("_sqlx_migrations", "SELECT CAST(version AS TEXT) FROM _sqlx_migrations WHERE success", Layout::Native)
        }
        Tool::Diesel => (
            "__diesel_schema_migrations",
            "SELECT CAST(version AS TEXT) FROM __diesel_schema_migrations",
            Layout::Diesel,
        ),
        Tool::Refinery => {
            ("refinery_schema_history", "SELECT CAST(version AS TEXT) FROM refinery_schema_history", Layout::Refinery)
        }
        Tool::Dbmate => ("schema_migrations", "SELECT CAST(version AS TEXT) FROM schema_migrations", Layout::Dbmate),
        Tool::Goose => (
            "goose_db_version",
            "SELECT CAST(version_id AS TEXT) FROM goose_db_version g WHERE is_applied AND version_id > 0 \
             AND id = (SELECT max(id) FROM goose_db_version h WHERE h.version_id = g.version_id)",
            Layout::Goose,
        ),
    }
}
