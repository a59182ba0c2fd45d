//! `migcheck downgrade`: revert applied migrations, newest first.

use anyhow::anyhow;

use super::common::{checked, migrations, parse_target, plural, version_text};
use crate::context::Context;
use crate::error::{Result, bail};
use crate::{db, exit};

/// `migcheck downgrade`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep migrations up to this version; `base` reverts all (so does 0 where no migration has version 0).
    #[arg(long, value_name = "VERSION", conflicts_with = "steps", value_parser = parse_target)]
    pub to: Option<i64>,
    /// How many migrations to revert.
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// A fleet of SQLite databases instead of one (with `--to`).
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck downgrade`.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let Args { to, steps, ref each } = *args;
    let report = checked(ctx, false)?;
    let migrations = migrations(ctx, &report);
    if each.is_set() {
        let Some(version) = to else {
            bail!("a fleet is downgraded to a version: `--to VERSION` (or `--to base`), not `--steps`");
        };
        return super::fleet::downgrade(ctx, each, &migrations, version);
    }
    let target = db::parse(&db::url(ctx.database_url.as_deref())?)?;
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    let applied = database.status(&migrations)?.applied;
    let version = match (to, steps) {
        (Some(v), _) => v,
        (None, steps) => {
            let steps = steps.unwrap_or(1);
            if steps == 0 {
                println!("nothing to do: --steps 0");
                return Ok(exit::OK);
            }
            if steps > applied.len() {
                bail!(
                    "cannot downgrade {steps} step{}: {} has {} applied migration{}",
                    plural(steps),
                    target.describe(),
                    applied.len(),
                    plural(applied.len())
                );
            }
            if steps == applied.len() { migcheck::BASE } else { applied[applied.len() - steps - 1].version }
        }
    };
    let done = database.downgrade_to(&migrations, version)?;
    for a in &done.applied {
        println!("reverted {} {} ({:.1?})", a.version, a.name, a.duration);
    }
    if done.applied.is_empty() {
        println!("nothing to revert");
    }
    println!("{} is at version {}", target.describe(), version_text(database.status(&migrations)?.current()));
    Ok(exit::OK)
}
