//! `migcheck new`: an empty migration with the next version, named in the directory's layout.

use std::path::Path;

use migcheck_core::layout;

use migcheck_core::model::Layout;

use super::common::{custom_of, layout_of, new_files, slug, utc_timestamp, versions, write_new};
use crate::context::Context;
use crate::error::{Result, bail};
use crate::exit;
use migcheck_core::scan;

/// `migcheck new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the migration does; becomes the file name's description (lower-case letters and digits, `_` between words).
    pub name: String,
    /// Number 0001, 0002, … instead of a timestamp.
    #[arg(long)]
    pub sequential: bool,
    /// One `.sql` file with no down migration.
    #[arg(long)]
    pub irreversible: bool,
}

/// The smallest version of a diesel 2.2 name (a timestamp with a
/// subversion: `layout::diesel_version_number`).
const DIESEL_SUBVERSIONED: i64 = 1_000_000_000_000_000_000;

/// Runs `migcheck new`: writes the files, refusing to overwrite.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let Args { name, sequential, irreversible } = args;
    let (name, sequential, irreversible) = (name.as_str(), *sequential, *irreversible);
    if !ctx.dir.is_dir() {
        bail!("the migrations directory `{}` does not exist: run `migcheck init` first", ctx.dir.display());
    }
    let description = slug(name);
    if description.is_empty() {
        bail!("`{name}` has no letter or digit to name the migration with");
    }
    let layout = layout_of(ctx);
    let newest = versions(ctx).last().copied().unwrap_or(0);
    // refinery and Flyway number migrations 1, 2, 3 (refinery's versions are
    // 32-bit): a timestamp only where the history already uses them.
    let dotted = (layout == Layout::Refinery).then(|| dotted_separator(&ctx.dir)).flatten();
    let sequential = sequential || (layout == Layout::Refinery && newest < 10_000_000_000_000);
    let (version, text) = if let Some(separator) = dotted {
        // Flyway's dotted versions: the next whole one (`V1_10` → `V2`).
        let major = newest / layout::flyway_version(&[1]).unwrap_or(1);
        let v = layout::flyway_version(&[major + 1]).unwrap_or(newest + 1);
        (v, layout::flyway_text(v, separator))
    } else if sequential {
        let v = newest + 1;
        // As wide as the names already there (`000016_…`, `00016_…`, `V16__…`).
        let width = match sequential_width(ctx, layout) {
            Some(width) => width,
            None if layout == Layout::Native => 4,
            None => 0,
        };
        (v, format!("{v:0width$}"))
    } else if layout == Layout::Diesel && newest >= DIESEL_SUBVERSIONED {
        // diesel 2.2's names (`2024-01-01-120000-0000_…`): the timestamp
        // and a subversion, as its `migration generate` writes them.
        let v = (utc_timestamp() * 100_000).max(newest + 1);
        (v, v.to_string())
    } else {
        let v = utc_timestamp().max(newest + 1);
        (v, v.to_string())
    };
    let files = if irreversible {
        new_files(ctx, layout, (version, &text), &description, &format!("-- {name} (irreversible)\n"), None)?
    } else {
        let down = format!("-- undo: {name}\n");
        new_files(ctx, layout, (version, &text), &description, &format!("-- {name}\n"), Some(&down))?
    };
    write_new(ctx, &files)?;
    if !irreversible && layout == Layout::Refinery {
        println!("refinery has no down migrations: only the up file was written");
    }
    println!("migration {version}: write its SQL, build to check it, then `migcheck lock` to seal it");
    Ok(exit::OK)
}

/// When the directory's Flyway versions are dotted (`V1_10__…`), the
/// separator its newest such name uses.
fn dotted_separator(dir: &Path) -> Option<char> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| layout::is_dotted_flyway(n))
        .collect();
    names.sort();
    let newest = names.pop()?;
    Some(if newest.split("__").next()?.contains('.') { '.' } else { '_' })
}

/// The zero-padded width of the versions in the directory's names, if they
/// are padded (`0007_a.sql`: 4); `None` if there is no name to go by.
fn sequential_width(ctx: &Context, layout: Layout) -> Option<usize> {
    let scanned = scan::scan_layout(&ctx.dir, Path::new(""), layout, custom_of(ctx).as_ref(), &Default::default());
    let newest = scanned.migrations.iter().max_by_key(|m| m.version)?;
    let name = match layout {
        Layout::Diesel => newest.up.path.parent()?.file_name()?.to_string_lossy().into_owned(),
        _ => newest.up.file_name(),
    };
    let name = name.trim_start_matches(['V', 'v']);
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    Some(if name.starts_with('0') { digits } else { 0 })
}
