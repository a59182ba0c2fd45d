//! `migcheck squash --to V`: one baseline file that creates what the
//! migrations up to `V` leave (schema and rows), sealed in the lock. The
//! build proves it against them for as long as their files are there.

use migcheck_core::check::{self as checker, Report};
use migcheck_core::seal;

use super::common::{config, reported, slug};
use crate::context::Context;
use crate::error::bail;
use crate::error::{Failure, Result};
use crate::exit;
use crate::output::print_diagnostics;
use anyhow::Context as _;
use migcheck_core::name;
use std::fs;

/// `migcheck squash`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The newest migration the baseline replaces (a sealed one).
    #[arg(long)]
    pub to: i64,

    /// The baseline's description (default: `baseline`).
    #[arg(short, long)]
    pub message: Option<String>,

    /// Leave out the rows the replaced migrations insert (reference data):
    /// the baseline creates the schema only. The build then reports the
    /// rows it lacks, unless they are none.
    #[arg(long)]
    pub schema_only: bool,
}

/// The baseline's SQL, replayed on the project's engine.
fn baseline_sql(ctx: &Context, report: &Report, version: i64, rows: bool) -> Result<String> {
    let result = checker::baseline_sql(&config(ctx, false)?, report, version, rows);
    result.map_err(reported)
}

/// Runs `migcheck squash`.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    // A baseline edited or deleted since it was sealed is what a new
    // squash replaces; every other error stops it.
    let report = checker::check(&config(ctx, true)?);
    let blocking: Vec<_> = report
        .errors()
        .filter(|d| !seal::is_about_the_baseline(d) && d.kind != migcheck_core::diagnostic::Kind::BaselineMismatch)
        .collect();
    if !blocking.is_empty() {
        print_diagnostics(blocking.iter().copied());
        eprintln!("error: fix the errors in `{}` first", ctx.dir.display());
        return Err(Failure::Reported(exit::ERROR));
    }
    let v = args.to;
    if report.lock.get(v).is_none() {
        let newest = report.lock.newest().map_or_else(|| "none is".to_owned(), |n| format!("the newest is {n}"));
        bail!(
            "migration {v} is not sealed ({newest}): a baseline replaces released migrations; \
             seal them first with `migcheck lock`"
        );
    }
    if let Some(b) = &report.baseline
        && v < b.version
    {
        bail!("the baseline `{}` already replaces the migrations up to {}", b.script.file.file_name(), b.version);
    }
    // Once the files it replaced are deleted, a baseline stands for them,
    // and a new baseline could be proved against neither.
    if let (Some(b), Some(gone)) = (report.standing_baseline(), report.squashed.first())
        && v > b.version
    {
        bail!(
            "the files of migrations {} to {} were deleted after they were squashed into `{}`, and a new baseline \
             replacing them could not be proved against them; nothing was changed. To squash further, restore those \
             files from version control (for example `git checkout <commit> -- {}`), run `migcheck squash --to {v}`, \
             then delete them again",
            gone.version,
            b.version,
            b.script.file.file_name(),
            ctx.dir.display()
        );
    }
    let first = report.lock.entries.first().map_or(v, |e| e.version);
    let sql = baseline_sql(ctx, &report, v, !args.schema_only)?;
    let description = slug(args.message.as_deref().unwrap_or("baseline"));
    if description.is_empty() {
        bail!("the description `{}` has no letter or digit", args.message.as_deref().unwrap_or_default());
    }
    let name = format!("{v}_{description}{}", name::BASELINE_SUFFIX);
    let path = ctx.dir.join(&name);
    let text = format!(
        "-- migcheck baseline: what migrations {first} to {v} leave{}, for fresh databases.\n\
         -- Written by `migcheck squash`; `cargo build` proves it against those migrations while they are\n\
         -- there. Databases they already migrated never run it.\n\n{sql}",
        if args.schema_only { " (the schema only)" } else { "" }
    );
    // Everything changed from here on is put back if the proof fails: a
    // squash leaves the baseline it proved, or nothing.
    let config = config(ctx, true)?;
    let lock_path = config.lock_path();
    let mut undo = Undo { lock: (lock_path.clone(), fs::read(&lock_path).ok()), ..Undo::default() };
    let mut done = Vec::new();
    let changed = (|| -> Result<()> {
        if let Some(old) = &report.baseline {
            let old_path = &old.script.file.path;
            undo.files.push((old_path.clone(), fs::read(old_path).ok()));
            if old_path != &path {
                fs::remove_file(old_path)
                    .with_context(|| format!("cannot remove the earlier baseline `{}`", old_path.display()))?;
                done.push(format!("removed {}", old_path.display()));
                // A down written by hand follows its baseline's new name (the
                // build proves it again).
                if let Some(down) = &old.down {
                    let renamed = path.with_file_name(name.replace(name::BASELINE_SUFFIX, name::BASELINE_DOWN_SUFFIX));
                    fs::rename(&down.file.path, &renamed)
                        .with_context(|| format!("cannot rename `{}`", down.file.path.display()))?;
                    undo.renamed = Some((renamed.clone(), down.file.path.clone()));
                    done.push(format!("renamed {} to {}", down.file.path.display(), renamed.display()));
                }
            }
        }
        if !undo.files.iter().any(|(p, _)| p == &path) {
            undo.files.push((path.clone(), fs::read(&path).ok()));
        }
        fs::write(&path, &text).with_context(|| format!("cannot write `{}`", path.display()))?;
        Ok(())
    })();
    if let Err(e) = changed {
        undo.apply();
        return Err(e);
    }
    match seal::seal_baseline(&config) {
        Ok(sealed) => {
            for line in done {
                println!("{line}");
            }
            println!("created {} (replaces migrations {first} to {v})", path.display());
            println!("{}: sealed the baseline", sealed.lock_path.display());
            Ok(exit::OK)
        }
        Err(diagnostics) => {
            let diagnostics: Vec<_> = diagnostics
                .into_iter()
                .map(|mut d| {
                    if d.kind == migcheck_core::diagnostic::Kind::BaselineMismatch {
                        d.message = format!(
                            "`migcheck squash` cannot write a baseline that gives what migrations {first} to {v} give"
                        );
                        d.location = None;
                        d.help = Some(format!(
                            "what differs above is what a baseline does not write yet; keep the migrations as they \
                             are, or squash to a version before the one that makes it (`--to` below {v})"
                        ));
                    }
                    d
                })
                .collect();
            print_diagnostics(&diagnostics);
            undo.apply();
            eprintln!("error: the baseline was not proved, so nothing was changed");
            Err(Failure::Reported(exit::ERROR))
        }
    }
}

/// What a squash changed, to put back when its baseline is not proved.
#[derive(Default)]
struct Undo {
    /// Files written or removed, with what they held before (none: absent).
    files: Vec<(std::path::PathBuf, Option<Vec<u8>>)>,
    /// A baseline's down renamed: (new path, old path).
    renamed: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The lock, as it was.
    lock: (std::path::PathBuf, Option<Vec<u8>>),
}

impl Undo {
    fn apply(&self) {
        for (path, before) in self.files.iter().chain(std::iter::once(&self.lock)) {
            let _ = match before {
                Some(bytes) => fs::write(path, bytes),
                None => fs::remove_file(path),
            };
        }
        if let Some((now, before)) = &self.renamed {
            let _ = fs::rename(now, before);
        }
    }
}
