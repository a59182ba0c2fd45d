//! `migcheck current`: the database's version.

use serde_json::json;

use super::*;
use crate::Format;
use crate::error::Result;
use crate::output::print_json;
use crate::{Cli, exit};

/// `migcheck current`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `migcheck current`: prints the database's version.
pub fn run(cli: &Cli, _args: &Args) -> Result<u8> {
    let (_, target, status) = checked_status(cli)?;
    let current = status.current();
    if cli.format == Format::Json {
        print_json(&json!({ "database": target.describe(), "version": current }));
    } else {
        println!("{}", version_text(current));
    }
    Ok(exit::OK)
}
