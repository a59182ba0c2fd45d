//! `migcheck current`: the database's version.

use anyhow::anyhow;
use serde_json::json;

use super::*;
use crate::Format;
use crate::error::Result;
use crate::output::print_json;
use crate::{Cli, exit};

/// `migcheck current`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _args: &Args) -> Result<u8> {
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    let (target, status) = optional_status(cli, &migrations, true)?.ok_or_else(|| anyhow!("no database given"))?;
    let current = status.current();
    if cli.format == Format::Json {
        print_json(&json!({ "database": target.describe(), "version": current }));
    } else {
        println!("{}", version_text(current));
    }
    Ok(exit::OK)
}
