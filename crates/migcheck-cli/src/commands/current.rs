//! `migcheck current`: the database's version.

use serde_json::json;

use super::*;
use crate::Format;
use crate::error::Result;
use crate::output::print_json;
use crate::{Cli, exit};

/// `migcheck current`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fleet of databases instead of one (each one's version, as `status --each` lists them).
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck current`: prints the database's version.
pub fn run(cli: &Cli, args: &Args) -> Result<u8> {
    if args.each.is_set() {
        let report = checked(cli, false)?;
        return super::fleet::status(cli, &args.each, &migrations(cli, &report), false);
    }
    let (_, target, status) = checked_status(cli)?;
    let current = status.current();
    if cli.format == Format::Json {
        print_json(&json!({ "database": target.describe(), "version": current }));
    } else {
        println!("{}", version_text(current));
    }
    Ok(exit::OK)
}
