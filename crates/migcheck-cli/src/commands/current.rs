//! `migcheck current`: the database's version.

use serde_json::json;

use super::common::{checked, checked_status, migrations, version_text};
use crate::context::Context;
use crate::context::Output;
use crate::error::Result;
use crate::exit;
use crate::output::print_json;

/// `migcheck current`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fleet of databases instead of one (each one's version, as `status --each` lists them).
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck current`: prints the database's version.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    if args.each.is_set() {
        let report = checked(ctx, false)?;
        return super::fleet::status(ctx, &args.each, &migrations(ctx, &report), false);
    }
    let (_, target, status) = checked_status(ctx)?;
    let current = status.current();
    if ctx.output == Output::Json {
        print_json(&json!({ "database": target.describe(), "version": current }));
    } else {
        println!("{}", version_text(current));
    }
    Ok(exit::OK)
}
