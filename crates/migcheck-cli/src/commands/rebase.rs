//! `migcheck rebase`: renumber unsealed migrations that sort before the newest sealed one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use migcheck_core::check::{self as checker};
use migcheck_core::layout::Layout;
use migcheck_core::name;

use super::*;
use crate::error::{Failure, Result, bail};
use crate::output::print_diagnostics;
use crate::{Cli, exit};

/// `migcheck rebase`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `migcheck rebase`, then checks the result.
pub fn run(cli: &Cli, _args: &Args) -> Result<u8> {
    let report = checker::check(&config(cli, false)?);
    let blocking: Vec<_> = report.errors().filter(|d| d.kind != migcheck_core::diagnostic::Kind::OutOfOrder).collect();
    if !blocking.is_empty() {
        print_diagnostics(blocking);
        eprintln!("error: fix these before rebasing");
        return Err(Failure::Reported(exit::ERROR));
    }
    let Some(newest_sealed) = report.lock.newest() else {
        println!("nothing is sealed: nothing to rebase");
        return Ok(exit::OK);
    };
    let unsealed: Vec<&checker::Migration> =
        report.migrations.iter().filter(|m| report.lock.get(m.version).is_none()).collect();
    if !unsealed.iter().any(|m| m.version < newest_sealed) {
        println!("no unsealed migration comes before the newest sealed one ({newest_sealed}): nothing to rebase");
        return Ok(exit::OK);
    }
    // Timestamps stay timestamps; small sequential numbers stay sequential.
    let mut next =
        if newest_sealed >= 10_000_000_000_000 { utc_timestamp().max(newest_sealed + 1) } else { newest_sealed + 1 };
    let layout = report.layout;
    let custom = report.lock.custom.clone();
    let mut renames: Vec<(PathBuf, PathBuf, i64, i64)> = Vec::new();
    for m in unsealed {
        let version = if m.version > newest_sealed { m.version.max(next) } else { next };
        next = version + 1;
        if version == m.version {
            continue;
        }
        for script in std::iter::once(&m.up).chain(m.down.as_ref()) {
            // A diesel migration is its directory; a single-file layout's
            // halves are one file.
            let path = match layout {
                Layout::Diesel => script.file.path.parent().map_or_else(|| script.file.path.clone(), Path::to_path_buf),
                _ => script.file.path.clone(),
            };
            if renames.iter().any(|(from, ..)| *from == path) {
                continue;
            }
            let old_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let renamed = match (layout, &custom) {
                (Layout::Custom, Some(custom)) => custom
                    .read(&old_name)
                    .ok()
                    .flatten()
                    .and_then(|n| custom.name_like(&old_name, version, &n.description, n.up)),
                _ => name::renumber(layout, &old_name, version),
            };
            let Some(new_name) = renamed else {
                bail!(
                    "cannot renumber `{}`: it is not named as the {} layout names migrations",
                    path.display(),
                    layout.name()
                );
            };
            renames.push((path.clone(), path.with_file_name(new_name), m.version, version));
        }
    }
    for (_, to, ..) in &renames {
        if to.exists() {
            bail!("cannot rebase: `{}` already exists", to.display());
        }
    }
    for (from, to, old, new) in &renames {
        fs::rename(from, to).with_context(|| format!("cannot rename `{}`", from.display()))?;
        println!("renumbered {old} -> {new}: {} -> {}", from.display(), to.display());
    }
    let report = checker::check(&config(cli, true)?);
    print_diagnostics(report.diagnostics.iter());
    if report.has_errors() {
        return Err(Failure::Reported(exit::ERROR));
    }
    println!("rebased; review, then `migcheck lock` to seal");
    Ok(exit::OK)
}
