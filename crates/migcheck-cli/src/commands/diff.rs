//! `migcheck diff`: generate the migration from the migrated schema to `schema.sql`.

use std::path::PathBuf;

use migcheck_core::check::{self as checker};
use migcheck_core::diagnostic::Kind;
use migcheck_core::engine::sqlite::generate::{self, Rename};
use migcheck_core::model::Layout;

use super::common::{config, new_files, slug, utc_timestamp, versions, write_new};
use crate::context::Context;
use crate::error::{Failure, Result, bail};
use crate::exit;
use crate::output::print_diagnostics;

/// `migcheck diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the migration does; becomes the file name's description.
    #[arg(short, long)]
    pub message: String,
    /// A table (`old:new`) or column (`table.old:new`) renamed rather than dropped and created.
    #[arg(long, value_name = "OLD:NEW")]
    pub rename: Vec<String>,
}

/// Runs `migcheck diff`: writes the generated migration, then checks it.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let (message, renames) = (args.message.as_str(), args.rename.as_slice());
    let renames: Vec<Rename> = renames.iter().map(|r| Rename::parse(r)).collect::<Result<_, _>>()?;
    let config = config(ctx, true)?;
    let report = checker::check(&config);
    let blocking: Vec<_> = report.errors().filter(|d| d.kind != Kind::Drift).collect();
    if !blocking.is_empty() {
        print_diagnostics(blocking);
        eprintln!("error: fix these before generating a migration");
        return Err(Failure::Reported(exit::ERROR));
    }
    let schema_file = config.schema.clone().unwrap_or_else(|| PathBuf::from("schema.sql"));
    let (Some(migrated), Some(declared)) = (&report.schema, &report.declared) else {
        bail!(
            "no declared schema: write the tables you want in `{}` (CREATE TABLE …), then run `migcheck diff` again",
            schema_file.display()
        );
    };
    let description = slug(message);
    if description.is_empty() {
        bail!("`{message}` has no letter or digit to name the migration with");
    }
    let Some(generated) = generate::generate(migrated, declared, &renames, &report.scratch, message)? else {
        println!("nothing to change: the migrations already produce `{}`; nothing was written", schema_file.display());
        return Ok(exit::OK);
    };
    let newest = versions(ctx).last().copied().unwrap_or(0);
    let version = utc_timestamp().max(newest + 1);
    let text = version.to_string();
    let files = new_files(ctx, report.layout, (version, &text), &description, &generated.up, Some(&generated.down))?;
    write_new(ctx, &files)?;
    if report.layout == Layout::Refinery {
        println!("refinery has no down migrations: only the up file was written");
    }
    for change in &generated.changes {
        println!("  {change}");
    }
    for warning in &generated.warnings {
        eprintln!("warning: {warning}");
    }
    let after = checker::check(&config);
    let errors: Vec<_> = after.errors().collect();
    if !errors.is_empty() {
        print_diagnostics(errors);
        eprintln!("error: the generated migration does not pass the checks; the files are kept for you to fix");
        return Err(Failure::Reported(exit::ERROR));
    }
    println!(
        "checked: the migrations now produce `{}`; review the files, then `migcheck upgrade`",
        schema_file.display()
    );
    Ok(exit::OK)
}
