//! `migcheck stamp`: record the database as being at a version without running anything.

use anyhow::anyhow;

use super::common::{checked, migrations, parse_target, version_text};
use crate::context::Context;
use crate::error::{Result, bail};
use crate::{db, exit};

/// `migcheck stamp`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The version; `base` records none (so does 0 where no migration has version 0).
    #[arg(value_parser = parse_target)]
    pub version: i64,
}

/// Runs `migcheck stamp`.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let version = args.version;
    let report = checked(ctx, false)?;
    let migrations = migrations(ctx, &report);
    if version != migcheck::BASE && version != 0 && migrations.get(version).is_none() {
        bail!("there is no migration with version {version} in `{}`; `migcheck history` lists them", ctx.dir.display());
    }
    let target = db::parse(&db::url(ctx.database_url.as_deref())?)?;
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    database.stamp(&migrations, version)?;
    println!(
        "{} stamped at version {} (nothing was run)",
        target.describe(),
        version_text((version != migcheck::BASE && (version != 0 || migrations.get(0).is_some())).then_some(version))
    );
    Ok(exit::OK)
}
