//! `migcheck rebase`: renumber unsealed migrations that sort before the newest sealed one.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use migcheck_core::check::{self as checker};
use migcheck_core::model::Layout;
use migcheck_core::name;

use super::common::{config, utc_timestamp};
use crate::context::Context;
use crate::error::{Failure, Result, bail};
use crate::exit;
use crate::output::print_diagnostics;

/// `migcheck rebase`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `migcheck rebase`, then checks the result.
pub fn run(ctx: &Context, _args: &Args) -> Result<u8> {
    let report = checker::check(&config(ctx, false)?);
    // After a merge where both branches added the same version: the sealed
    // one stays, the branch's unsealed one is renumbered with the others.
    let duplicates = branch_duplicates(ctx, &report)?;
    let blocking: Vec<_> = report
        .errors()
        .filter(|d| d.kind != migcheck_core::diagnostic::Kind::OutOfOrder)
        .filter(|d| {
            d.kind != migcheck_core::diagnostic::Kind::DuplicateVersion
                || !duplicates.iter().any(|(v, _)| Some(*v) == d.version)
        })
        .collect();
    if !blocking.is_empty() {
        print_diagnostics(blocking);
        eprintln!("error: fix these before rebasing");
        return Err(Failure::Reported(exit::ERROR));
    }
    let Some(newest_sealed) = report.lock.newest() else {
        println!("nothing is sealed: nothing to rebase");
        return Ok(exit::OK);
    };
    let layout = report.layout;
    // Each unsealed migration's files (a diesel migration is its directory;
    // a single-file layout's halves are one file), in version order, the
    // branch's duplicates among them.
    let mut unsealed: Vec<(i64, Vec<PathBuf>, bool)> = report
        .migrations
        .iter()
        .filter(|m| report.lock.get(m.version).is_none())
        .map(|m| {
            let mut paths: Vec<PathBuf> = std::iter::once(&m.up)
                .chain(m.down.as_ref())
                .map(|script| match layout {
                    Layout::Diesel => {
                        script.file.path.parent().map_or_else(|| script.file.path.clone(), Path::to_path_buf)
                    }
                    _ => script.file.path.clone(),
                })
                .collect();
            paths.dedup();
            (m.version, paths, false)
        })
        .chain(duplicates.into_iter().map(|(v, paths)| (v, paths, true)))
        .collect();
    unsealed.sort_by_key(|(v, ..)| *v);
    if !unsealed.iter().any(|(v, _, duplicate)| *v < newest_sealed || *duplicate) {
        println!("no unsealed migration comes before the newest sealed one ({newest_sealed}): nothing to rebase");
        return Ok(exit::OK);
    }
    // Timestamps stay timestamps; small sequential numbers stay sequential.
    let mut next =
        if newest_sealed >= 10_000_000_000_000 { utc_timestamp().max(newest_sealed + 1) } else { newest_sealed + 1 };
    let custom = report.lock.custom.clone();
    let mut renames: Vec<(PathBuf, PathBuf, i64, i64)> = Vec::new();
    for (old, paths, _) in unsealed {
        let version = if old > newest_sealed { old.max(next) } else { next };
        next = version + 1;
        if version == old {
            continue;
        }
        for path in paths {
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
            renames.push((path.clone(), path.with_file_name(new_name), old, version));
        }
    }
    for (_, to, ..) in &renames {
        if to.exists() && !renames.iter().any(|(from, ..)| from == to) {
            bail!("cannot rebase: `{}` already exists", to.display());
        }
    }
    // Highest new version first, so that a name is free when its turn comes.
    renames.sort_by_key(|(.., new)| std::cmp::Reverse(*new));
    for (from, to, old, new) in &renames {
        fs::rename(from, to).with_context(|| format!("cannot rename `{}`", from.display()))?;
        println!("renumbered {old} -> {new}: {} -> {}", from.display(), to.display());
    }
    let report = checker::check(&config(ctx, true)?);
    print_diagnostics(report.diagnostics.iter());
    if report.has_errors() {
        return Err(Failure::Reported(exit::ERROR));
    }
    println!("rebased; review, then `migcheck lock` to seal");
    Ok(exit::OK)
}

/// The unsealed migrations that share a sealed migration's version
/// (`duplicate-version`), each as (that version, its files): the files of
/// the version, as the layout names them, whose text is not what the lock
/// sealed, grouped by migration (the name without version and suffix).
fn branch_duplicates(ctx: &Context, report: &checker::Report) -> Result<Vec<(i64, Vec<PathBuf>)>> {
    let duplicated: Vec<i64> = report
        .diagnostics
        .iter()
        .filter(|d| d.kind == migcheck_core::diagnostic::Kind::DuplicateVersion)
        .filter_map(|d| d.version)
        .filter(|v| report.lock.get(*v).is_some())
        .collect();
    if duplicated.is_empty() {
        return Ok(Vec::new());
    }
    let layout = report.layout;
    let mut names: Vec<String> = fs::read_dir(&ctx.dir)
        .with_context(|| format!("cannot read `{}`", ctx.dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for version in duplicated {
        let Some(entry) = report.lock.get(version) else { continue };
        let mut branch: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
        for name in &names {
            if name::renumber(layout, name, version).as_deref() != Some(name.as_str()) {
                continue;
            }
            let path = ctx.dir.join(name);
            let text = fs::read(if path.is_dir() { path.join("up.sql") } else { path.clone() }).unwrap_or_default();
            let sum = migcheck_core::checksum::checksum(&text);
            if sum == entry.up || Some(sum) == entry.down {
                continue;
            }
            let key = name::renumber(layout, name, 0).unwrap_or_default();
            let key = ["up.sql", "down.sql", "sql"]
                .iter()
                .find_map(|suffix| key.strip_suffix(suffix))
                .unwrap_or(&key)
                .trim_end_matches(['.', '_'])
                .to_owned();
            branch.entry(key).or_default().push(path);
        }
        out.extend(branch.into_values().map(|paths| (version, paths)));
    }
    Ok(out)
}
