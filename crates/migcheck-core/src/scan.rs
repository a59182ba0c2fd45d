//! Reads a migrations directory into migrations in version order.
//!
//! Every `.sql` file must be a migration name; other files (`README.md`,
//! `.gitkeep`, the lock) are ignored. Files sharing a version, and a down
//! without its up, are errors; each problem becomes a [`Diagnostic`] and the
//! scan goes on, so that one build reports them all.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::checksum;

use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::layout;
use crate::memo::Memo;
use crate::model::Analysis;
use crate::model::Digest;
use crate::model::Layout;
use crate::name::{self, FileKind, NameError};
use crate::order;

use crate::model::SourceFile;

/// A migration found in the directory, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedMigration {
    pub version: i64,
    pub description: String,
    /// The `.up.sql`, or the single `.sql` of an irreversible migration.
    pub up: SourceFile,
    pub down: Option<SourceFile>,
    /// Which part of `up` is the up migration (other tools' single-file layouts).
    pub up_part: Part,
    pub down_part: Part,
}

/// The part of a file that is one half of a migration, and what its tool says
/// about transactions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    /// A byte range of the file; `None`: the whole file.
    pub section: Option<std::ops::Range<usize>>,
    /// The tool's own no-transaction marker was given.
    pub no_transaction: bool,
}

/// The result of [`scan`].
#[derive(Debug, Default)]
pub struct Scan {
    /// Migrations in increasing version order.
    pub migrations: Vec<ScannedMigration>,
    /// Versions that exist in the directory but could not be read as one migration.
    pub broken_versions: BTreeSet<i64>,
    pub diagnostics: Vec<Diagnostic>,
    /// Squashed baselines (`<version>_<description>.baseline.sql`), in name
    /// order (a project has at most one), each with whether it is a down file
    /// (`….baseline.down.sql`).
    pub baselines: Vec<(i64, String, bool, SourceFile)>,
    /// The baseline files' names the layout's own walk met, read last.
    baseline_names: Vec<String>,
}

/// The directory's entries with their names, sorted by name (as strings:
/// cheaper than comparing paths component by component, for thousands of
/// files where build scripts run unoptimised); unreadable entries first.
fn sorted_entries(dir: &Path) -> Vec<(String, walkdir::Result<walkdir::DirEntry>)> {
    let mut entries: Vec<(String, walkdir::Result<walkdir::DirEntry>)> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .into_iter()
        .map(|e| (e.as_ref().map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_default(), e))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// How a path is shown: relative to `base` when it is inside it.
pub fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// `display_path(&dir.join(name), base)`, given `shown_dir = display_path(dir,
/// base)`: without comparing path components again for each of thousands of files.
fn child_display(shown_dir: &str, name: &str) -> String {
    let dir = shown_dir.trim_end_matches('/');
    let mut shown = String::with_capacity(dir.len() + 1 + name.len());
    if !shown_dir.is_empty() {
        shown.push_str(dir);
        shown.push('/');
    }
    if name.as_bytes().contains(&b'\\') {
        shown.push_str(&name.replace('\\', "/"));
    } else {
        shown.push_str(name);
    }
    shown
}

const NAME_HELP: &str = "name migrations `<version>_<description>.sql` (irreversible) or \
    `<version>_<description>.up.sql` with a `.down.sql` (reversible), e.g. \
    `20261124093000_create_owners.up.sql`; `migcheck new <name>` picks the next version. \
    migcheck never skips a `.sql` file";

/// Scans `dir`. Paths are shown relative to `display_base`.
pub fn scan(dir: &Path, display_base: &Path) -> Scan {
    scan_native(dir, display_base, &Memo::default())
}

fn scan_native(dir: &Path, display_base: &Path, memo: &Memo) -> Scan {
    let mut out = Scan::default();
    // First what the names say, then the files read all at once (on several
    // threads), in version order (a version's files in name order, as the
    // memo keeps them); problems with names first, in name order.
    let (pending, problems) = list_native(dir, display_base, &mut out.baseline_names);
    out.diagnostics.extend(problems);
    // Versions are not negative: their order is their order as unsigned keys.
    let mut pending = order::sorted_by_key(pending, |p| p.version as u64);
    for same in pending.chunk_by_mut(|a, b| a.version == b.version).filter(|s| s.len() > 1) {
        same.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let jobs: Vec<(&Path, &str)> = pending.iter().map(|p| (p.path.as_path(), p.display.as_str())).collect();
    let mut contents = read_all(&jobs, memo).into_iter();
    let mut read = Vec::with_capacity(jobs.len());
    for Pending { version, kind, description, display, path, .. } in pending {
        match source_file(path, display, contents.next().expect("one result per file")) {
            Ok(file) => read.push((version, kind, description, file)),
            Err(diagnostic) => {
                out.diagnostics.push(diagnostic.version(version));
                out.broken_versions.insert(version);
            }
        }
    }
    // Each version's files, in one reused buffer, up before down.
    let mut read = read.into_iter().peekable();
    let mut files: Vec<(FileKind, String, SourceFile)> = Vec::new();
    while let Some((version, kind, description, file)) = read.next() {
        files.clear();
        files.push((kind, description, file));
        while let Some((_, kind, description, file)) = read.next_if(|f| f.0 == version) {
            files.push((kind, description, file));
        }
        if files.len() > 1 {
            files.sort_by_key(|f| f.0);
        }
        // The common cases move the files (their text) instead of copying them.
        let single = matches!(files.as_slice(), [(FileKind::Single | FileKind::Up, _, _)]);
        let pair = matches!(files.as_slice(), [(FileKind::Up, a, _), (FileKind::Down, b, _)] if a == b);
        if single || pair {
            let mut files = files.drain(..);
            let (_, description, up) = files.next().expect("one file");
            let down = files.next().map(|(_, _, down)| down);
            drop(files);
            let up_part = sqlx_part(&up);
            let down_part = down.as_ref().map(sqlx_part).unwrap_or_default();
            out.migrations.push(ScannedMigration { version, description, up, down, up_part, down_part });
        } else {
            out.broken_versions.insert(version);
            out.diagnostics.push(mismatched_files(version, &files));
        }
    }
    out
}

/// A `.sql` file whose name says a version, not read yet.
struct Pending {
    version: i64,
    kind: FileKind,
    name: String,
    description: String,
    display: String,
    path: PathBuf,
}

/// The directory's `.sql` files as their names say, and the names and
/// entries that are not migrations (in name order).
fn list_native(dir: &Path, display_base: &Path, baselines: &mut Vec<String>) -> (Vec<Pending>, Vec<Diagnostic>) {
    let shown_dir = display_path(dir, display_base);
    let mut pending = Vec::new();
    let mut problems: Vec<(String, Diagnostic)> = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).max_depth(1) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = err.path().map(|p| display_path(p, display_base)).unwrap_or_default();
                problems.push((
                    String::new(),
                    Diagnostic::error(Kind::Io, format!("cannot read `{path}`: {err}"))
                        .at(Location::file(path))
                        .help("check the file's permissions"),
                ));
                continue;
            }
        };
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if name::baseline(&file_name).is_some() {
            baselines.push(file_name);
            continue;
        }
        if !name::is_sql_file(&file_name) {
            continue;
        }
        let display = child_display(&shown_dir, &file_name);
        if let Err(d) = check_entry(dir, &entry, &display) {
            problems.push((file_name, d));
            continue;
        }
        match name::parse(&file_name) {
            Ok(parsed) => pending.push(Pending {
                version: parsed.version,
                kind: parsed.kind,
                name: file_name,
                description: parsed.description,
                display,
                path: entry.into_path(),
            }),
            Err(err) => {
                let help = match &err {
                    NameError::MisspelledHalf { suggestion } => format!("rename it to `{suggestion}`"),
                    _ => NAME_HELP.to_owned(),
                };
                let d = Diagnostic::error(Kind::MalformedName, format!("`{file_name}` is not a migration name: {err}"))
                    .at(Location::file(display))
                    .help(help);
                problems.push((file_name, d));
            }
        }
    }
    problems.sort_by(|a, b| a.0.cmp(&b.0));
    (pending, problems.into_iter().map(|(_, d)| d).collect())
}

/// The error for a version whose files are not one migration: a down file
/// alone, halves with different descriptions, or several migrations.
fn mismatched_files(version: i64, files: &[(FileKind, String, SourceFile)]) -> Diagnostic {
    match files {
        [(FileKind::Down, description, down)] => {
            Diagnostic::error(Kind::DownWithoutUp, format!("`{}` has no up migration", down.file_name()))
                .at(Location::file(down.display.clone()))
                .version(version)
                .help(format!("add `{version}_{description}.up.sql` beside it, or delete the down file"))
        }
        [(FileKind::Up, _, up), (FileKind::Down, _, down)] => Diagnostic::error(
            Kind::DownWithoutUp,
            format!("`{}` has no up migration: its name differs from `{}`", down.file_name(), up.file_name()),
        )
        .at(Location::file(down.display.clone()))
        .version(version)
        .help("give the up and the down file the same description"),
        _ => {
            let names: Vec<String> = files.iter().map(|(_, _, f)| format!("`{}`", f.file_name())).collect();
            Diagnostic::error(
                Kind::DuplicateVersion,
                format!("{} migrations share version {version}: {}", files.len(), names.join(", ")),
            )
            .at(Location::file(files[1].2.display.clone()))
            .version(version)
            .help(
                "give each migration its own version; if one came from another branch, \
                 `migcheck rebase` renumbers the unsealed one",
            )
        }
    }
}

/// A `.sql` entry must be a regular file in the directory, or a symlink to
/// one inside it: a directory, a broken or looping link, or a link that leaves
/// the directory is an error (the build must not read outside it).
fn check_entry(dir: &Path, entry: &walkdir::DirEntry, display: &str) -> Result<(), Diagnostic> {
    let error = |message: String, help: &str| {
        Err(Diagnostic::error(Kind::Io, message).at(Location::file(display)).help(help.to_owned()))
    };
    if entry.file_type().is_dir() {
        return error(
            format!("`{display}` is a directory, not a migration file"),
            "rename it, or move the directory out of the migrations directory",
        );
    }
    if entry.path_is_symlink() {
        let target = match std::fs::canonicalize(entry.path()) {
            Ok(t) => t,
            Err(err) => {
                return error(
                    format!("`{display}` is a broken symbolic link: {err}"),
                    "point it at a file, or delete it",
                );
            }
        };
        let inside = std::fs::canonicalize(dir).is_ok_and(|d| target.starts_with(d));
        if !inside {
            return error(
                format!("`{display}` links to `{}`, outside the migrations directory", target.display()),
                "copy the file into the migrations directory: migcheck reads only files inside it",
            );
        }
        if target.is_dir() {
            return error(format!("`{display}` links to a directory, not a migration file"), "delete the link");
        }
    }
    Ok(())
}

/// The directory's entries in name order; one that cannot be read is an
/// error in `diagnostics`, never skipped silently.
fn readable_entries(
    dir: &Path,
    shown_dir: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<(String, walkdir::DirEntry)> {
    let mut out = Vec::new();
    for (name, entry) in sorted_entries(dir) {
        match entry {
            Ok(entry) => out.push((name, entry)),
            Err(err) => diagnostics.push(unreadable_entry(shown_dir, &err)),
        }
    }
    out
}

/// An entry of the directory that cannot be read: said, never skipped.
fn unreadable_entry(shown_dir: &str, err: &walkdir::Error) -> Diagnostic {
    let path = err.path().map(|p| p.display().to_string()).unwrap_or_else(|| shown_dir.to_owned());
    Diagnostic::error(Kind::Io, format!("cannot read `{path}` in `{shown_dir}`: {err}"))
        .at(Location::file(shown_dir))
        .help("make it readable, or move it out of the migrations directory")
}

/// A symbolic link is read only when it resolves inside `dir`.
fn inside(dir: &Path, link: &Path, display: &str) -> Result<(), Diagnostic> {
    let error = |message: String, help: &str| {
        Diagnostic::error(Kind::Io, message).at(Location::file(display)).help(help.to_owned())
    };
    let target = std::fs::canonicalize(link).map_err(|err| {
        error(format!("`{display}` is a broken symbolic link: {err}"), "point it at a file, or delete it")
    })?;
    if std::fs::canonicalize(dir).is_ok_and(|d| target.starts_with(d)) {
        Ok(())
    } else {
        Err(error(
            format!("`{display}` links to `{}`, outside the migrations directory", target.display()),
            "copy it into the migrations directory: migcheck reads only what is inside it",
        ))
    }
}

/// Scans `dir` in `layout`.
/// Reads `dir` in `layout`; files whose bytes `memo` remembers are not hashed again.
pub fn scan_layout(
    dir: &Path,
    display_base: &Path,
    layout: Layout,
    custom: Option<&layout::CustomLayout>,
    memo: &Memo,
) -> Scan {
    let mut out = match (layout, custom) {
        (Layout::Native, _) => scan_native(dir, display_base, memo),
        (Layout::Diesel, _) => scan_diesel(dir, display_base, memo),
        (Layout::Custom, Some(custom)) => scan_custom(dir, display_base, custom, memo),
        (Layout::Custom, None) => {
            let mut out = Scan::default();
            out.diagnostics.push(
                Diagnostic::error(Kind::MalformedName, "the custom layout has no pattern")
                    .at(Location::file(display_path(dir, display_base)))
                    .help("write it in the lock: `layout custom <regex>` (named groups `version`, `description`, `direction`)"),
            );
            out
        }
        _ => scan_files(dir, display_base, layout, memo),
    };
    find_baselines(dir, display_base, memo, &mut out);
    out
}

/// Reads the squashed baselines the layout's walk met at the top of the
/// directory (no second listing of it: build scripts list it every build).
fn find_baselines(dir: &Path, display_base: &Path, memo: &Memo, out: &mut Scan) {
    let shown_dir = display_path(dir, display_base);
    let mut found: Vec<(String, i64, String, bool)> = std::mem::take(&mut out.baseline_names)
        .into_iter()
        .filter_map(|name| name::baseline(&name).map(|(v, d, down)| (name, v, d, down)))
        .collect();
    found.sort();
    let mut buffer = Vec::new();
    for (file_name, version, description, down) in found {
        let display = child_display(&shown_dir, &file_name);
        match read(&dir.join(&file_name), &display, memo, &mut buffer) {
            Ok(file) => out.baselines.push((version, description, down, file)),
            Err(d) => out.diagnostics.push(d),
        }
    }
}

/// A custom layout (`layout custom [by-name] <regex>` in the lock): every
/// `.sql` file must match the regex; up and down files pair by their name
/// without the direction; versions are the `version` group's digits, or, in
/// `by-name` order, 1, 2, 3 in the order of the names.
fn scan_custom(dir: &Path, base: &Path, custom: &layout::CustomLayout, memo: &Memo) -> Scan {
    let mut out = Scan::default();
    let shown_dir = display_path(dir, base);
    let mut buffer = Vec::new();
    // By key (the name without its direction): its version, description, up and down files.
    type Pair = (Option<i64>, String, Option<SourceFile>, Option<SourceFile>);
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for (name, entry) in readable_entries(dir, &shown_dir, &mut out.diagnostics) {
        if name::baseline(&name).is_some() {
            out.baseline_names.push(name);
            continue;
        }
        if !name::is_sql_file(&name) {
            continue;
        }
        let display = child_display(&shown_dir, &name);
        if let Err(d) = check_entry(dir, &entry, &display) {
            out.diagnostics.push(d);
            continue;
        }
        let read_name = match custom.read(&name) {
            Ok(Some(n)) => n,
            Ok(None) => {
                out.diagnostics.push(layout_error(
                    &display,
                    format!("`{name}` does not match the custom layout's pattern `{}`", custom.pattern),
                    Layout::Custom,
                ));
                continue;
            }
            Err(why) => {
                out.diagnostics.push(layout_error(&display, format!("`{name}`: {why}"), Layout::Custom));
                continue;
            }
        };
        let file = match read(entry.path(), &display, memo, &mut buffer) {
            Ok(f) => f,
            Err(d) => {
                let d = match read_name.version {
                    Some(v) => {
                        out.broken_versions.insert(v);
                        d.version(v)
                    }
                    None => d,
                };
                out.diagnostics.push(d);
                continue;
            }
        };
        let slot = pairs.entry(read_name.key.clone()).or_insert((read_name.version, read_name.description, None, None));
        let half = if read_name.up { &mut slot.2 } else { &mut slot.3 };
        *half = Some(file);
    }
    let mut found: BTreeMap<i64, Vec<ScannedMigration>> = BTreeMap::new();
    for (n, (_key, (version, description, up, down))) in pairs.into_iter().enumerate() {
        // The keys are in name order: `by-name` numbers them so.
        let version = if custom.by_name { n as i64 + 1 } else { version.unwrap_or_default() };
        let Some(up) = up else {
            let Some(down) = down else { continue };
            out.broken_versions.insert(version);
            out.diagnostics.push(
                Diagnostic::error(Kind::DownWithoutUp, format!("`{}` has no up migration", down.file_name()))
                    .at(Location::file(down.display.clone()))
                    .version(version),
            );
            continue;
        };
        found.entry(version).or_default().push(ScannedMigration {
            version,
            description,
            up,
            down,
            up_part: Part::default(),
            down_part: Part::default(),
        });
    }
    collect(found, &mut out);
    out
}

fn layout_error(display: &str, message: String, layout: Layout) -> Diagnostic {
    Diagnostic::error(Kind::MalformedName, message)
        .at(Location::file(display))
        .note(format!("the directory is read in {}'s layout", layout.name()))
        .help("fix the file, or set the layout explicitly (`layout …` line in the lock, `Build::layout`, `--layout`)")
}

/// diesel: one directory per migration, `up.sql` and `down.sql` inside,
/// `metadata.toml` with `run_in_transaction = false` for no transaction.
fn scan_diesel(dir: &Path, base: &Path, memo: &Memo) -> Scan {
    let mut out = Scan::default();
    let mut buffer = Vec::new();
    let mut found: BTreeMap<i64, Vec<ScannedMigration>> = BTreeMap::new();
    let shown_dir = display_path(dir, base);
    for (name, entry) in readable_entries(dir, &shown_dir, &mut out.diagnostics) {
        let display = display_path(entry.path(), base);
        // A linked migration directory is read only if it stays inside.
        let linked_dir = entry.path_is_symlink() && entry.path().is_dir();
        if linked_dir && let Err(d) = inside(dir, entry.path(), &display) {
            out.diagnostics.push(d);
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        if !entry.file_type().is_dir() && !linked_dir {
            if name::baseline(&name).is_some() {
                out.baseline_names.push(name);
            } else if name::is_sql_file(&name) {
                out.diagnostics.push(layout_error(
                    &display,
                    format!("`{name}` is not inside a migration directory"),
                    Layout::Diesel,
                ));
            }
            continue;
        }
        let Some((version, description)) = layout::diesel_name(&name) else {
            out.diagnostics.push(layout_error(
                &display,
                format!("`{name}` is not a diesel migration directory name (`2017-11-24-215001_create_posts`)"),
                Layout::Diesel,
            ));
            continue;
        };
        let up_path = entry.path().join("up.sql");
        let down_path = entry.path().join("down.sql");
        if let Some(d) = [&up_path, &down_path]
            .into_iter()
            .filter(|p| p.is_symlink())
            .find_map(|p| inside(dir, p, &display_path(p, base)).err())
        {
            out.diagnostics.push(d.version(version));
            out.broken_versions.insert(version);
            continue;
        }
        let no_transaction = std::fs::read_to_string(entry.path().join("metadata.toml"))
            .is_ok_and(|m| m.lines().any(|l| l.replace(' ', "") == "run_in_transaction=false"));
        let up = match read(&up_path, &display_path(&up_path, base), memo, &mut buffer) {
            Ok(f) => f,
            Err(d) => {
                out.diagnostics.push(d.version(version));
                out.broken_versions.insert(version);
                continue;
            }
        };
        let down =
            match down_path.exists().then(|| read(&down_path, &display_path(&down_path, base), memo, &mut buffer)) {
                Some(Err(d)) => {
                    out.diagnostics.push(d.version(version));
                    out.broken_versions.insert(version);
                    continue;
                }
                Some(Ok(f)) if crate::lexer::has_statements(&f.text) => Some(f),
                _ => None, // diesel writes empty down files for irreversible migrations
            };
        let part = Part { section: None, no_transaction };
        found.entry(version).or_default().push(ScannedMigration {
            version,
            description,
            up,
            down,
            up_part: part.clone(),
            down_part: part,
        });
    }
    collect(found, &mut out);
    out
}

/// refinery/Flyway (`V<n>__d.sql`, `U<n>__d.sql`) and the single-file layouts.
fn scan_files(dir: &Path, base: &Path, layout: Layout, memo: &Memo) -> Scan {
    let mut out = Scan::default();
    let shown_dir = display_path(dir, base);
    let mut buffer = Vec::new();
    let mut found: BTreeMap<i64, Vec<ScannedMigration>> = BTreeMap::new();
    let mut undo: BTreeMap<i64, SourceFile> = BTreeMap::new();
    let entries = readable_entries(dir, &shown_dir, &mut out.diagnostics);
    // Flyway compares dotted versions part by part (`V1_9` < `V1_10` < `V2`):
    // with one in the directory, every version is numbered that way.
    let dotted = layout == Layout::Refinery && entries.iter().any(|(name, _)| layout::is_dotted_flyway(name));
    for (name, entry) in entries {
        if name::baseline(&name).is_some() {
            out.baseline_names.push(name);
            continue;
        }
        // goose's Go migrations: run in their place by an SQL stand-in
        // (`stand-ins/<name>.sql`), or said not to be run.
        let mut path = entry.path().to_path_buf();
        let mut name = name;
        if layout == Layout::Goose && name.ends_with(".go") && !name.ends_with("_test.go") {
            let stem = name[..name.len() - 3].to_owned();
            let Some((version, _)) = layout::single_name(&format!("{stem}.sql"), layout) else { continue };
            let stand_in = dir.join(STAND_INS).join(format!("{stem}.sql"));
            if !stand_in.is_file() {
                out.diagnostics.push(go_migration(&child_display(&shown_dir, &name), &shown_dir, &stem, version));
                continue;
            }
            path = stand_in;
            name = format!("{STAND_INS}/{stem}.sql");
        } else if !name::is_sql_file(&name) {
            continue;
        }
        let display = child_display(&shown_dir, &name);
        // The same entry rules as migcheck's own layout: a file, or a link
        // to one inside the directory.
        if path == entry.path()
            && let Err(d) = check_entry(dir, &entry, &display)
        {
            out.diagnostics.push(d);
            continue;
        }
        let parsed = if dotted {
            match layout::flyway_name(&name) {
                Some(Err(message)) => {
                    out.diagnostics.push(layout_error(&display, format!("`{name}`: {message}"), layout));
                    continue;
                }
                parsed => parsed.and_then(Result::ok),
            }
        } else if layout == Layout::Refinery {
            layout::refinery_name(&name)
        } else {
            layout::single_name(name.strip_prefix(STAND_INS_PREFIX).unwrap_or(&name), layout)
                .map(|(version, description)| (version, description, true))
        };
        let Some((version, description, is_up)) = parsed else {
            let expected = if layout == Layout::Refinery {
                "`V<version>__<description>.sql` (Flyway's `V1_2__…` and `V1.2__…` too)"
            } else {
                "`<version>_<description>.sql`"
            };
            out.diagnostics.push(layout_error(
                &display,
                format!("`{name}` is not a migration name: expected {expected}"),
                layout,
            ));
            continue;
        };
        let file = match read(&path, &display, memo, &mut buffer) {
            Ok(f) => f,
            Err(d) => {
                out.diagnostics.push(d.version(version));
                out.broken_versions.insert(version);
                continue;
            }
        };
        if layout == Layout::Refinery {
            if is_up {
                found.entry(version).or_default().push(ScannedMigration {
                    version,
                    description,
                    up: file,
                    down: None,
                    up_part: Part::default(),
                    down_part: Part::default(),
                });
            } else {
                undo.insert(version, file);
            }
            continue;
        }
        match layout::sections(layout, &file.text) {
            Ok(s) => {
                let down_has_sql = s.down.as_ref().is_some_and(|r| crate::lexer::has_statements(&file.text[r.clone()]));
                found.entry(version).or_default().push(ScannedMigration {
                    version,
                    description,
                    up: file.clone(),
                    down: down_has_sql.then_some(file),
                    up_part: Part { section: s.up, no_transaction: s.up_no_transaction },
                    down_part: Part { section: s.down, no_transaction: s.down_no_transaction },
                });
            }
            Err(message) => {
                out.broken_versions.insert(version);
                out.diagnostics.push(layout_error(&display, format!("`{name}`: {message}"), layout).version(version));
            }
        }
    }
    for (version, file) in undo {
        match found.get_mut(&version).and_then(|v| v.first_mut()) {
            Some(m) => m.down = Some(file),
            None => {
                out.broken_versions.insert(version);
                let display = file.display.clone();
                out.diagnostics.push(
                    Diagnostic::error(
                        Kind::DownWithoutUp,
                        format!("`{}` undoes version {version}, which has no `V{version}__` file", file.file_name()),
                    )
                    .at(Location::file(display))
                    .version(version),
                );
            }
        }
    }
    collect(found, &mut out);
    out
}

/// Where a goose project's SQL stand-ins for its Go migrations are: a
/// directory inside the migrations directory, which goose does not read.
pub const STAND_INS: &str = "stand-ins";
const STAND_INS_PREFIX: &str = "stand-ins/";

/// The warning for a goose Go migration without a stand-in: the check
/// cannot run it, so the schema after it is not the one it sees.
fn go_migration(display: &str, shown_dir: &str, stem: &str, version: i64) -> Diagnostic {
    Diagnostic::warning(
        Kind::NotExecuted,
        format!(
            "`{stem}.go` is a Go migration: migcheck cannot run it, so from version {version} on the check sees the schema without what it does"
        ),
    )
    .at(Location::file(display))
    .version(version)
    .note("goose runs Go migrations from the application's binary; the check runs SQL only")
    .help(format!(
        "write what it does as SQL in `{shown_dir}/{STAND_INS}/{stem}.sql` (with `-- +goose Up` / `-- +goose Down` sections): the check runs it in the Go migration's place, and migcheck's runtime applies it as version {version}; or `allow not-executed` in the lock"
    ))
}

/// Moves found migrations into `out`, reporting shared versions.
fn collect(found: BTreeMap<i64, Vec<ScannedMigration>>, out: &mut Scan) {
    for (version, mut list) in found {
        if list.len() == 1 {
            out.migrations.extend(list.pop());
            continue;
        }
        out.broken_versions.insert(version);
        let names: Vec<String> = list.iter().map(|m| format!("`{}`", m.up.display)).collect();
        out.diagnostics.push(
            Diagnostic::error(
                Kind::DuplicateVersion,
                format!("{} migrations share version {version}: {}", list.len(), names.join(", ")),
            )
            .at(Location::file(list[1].up.display.clone()))
            .version(version)
            .help("give each migration its own version"),
        );
    }
}

/// A file's bytes, checksum and (from the memo) analysis.
type FileRead = std::io::Result<(Vec<u8>, Digest, Analysis)>;

/// Reads a file through `buffer` (kept between calls: no size query per file,
/// no regrowing) and takes its checksum and analysis from `memo` when it
/// holds these bytes.
fn read_one(path: &Path, display: &str, memo: &Memo, hint: &mut usize, buffer: &mut Vec<u8>) -> FileRead {
    buffer.clear();
    if buffer.capacity() == 0 {
        buffer.reserve(64 * 1024);
    }
    fs::File::open(path)?.read_to_end(buffer)?;
    let (digest, analysis) =
        memo.lookup(hint, display, buffer).unwrap_or_else(|| (checksum::checksum(buffer), Analysis::NONE));
    Ok((buffer.as_slice().to_vec(), digest, analysis))
}

/// Reads `jobs` (path, display), in order. A long history is thousands of
/// small files, and the build waits on their open/read/close calls: with
/// enough of them, threads share the work.
fn read_all(jobs: &[(&Path, &str)], memo: &Memo) -> Vec<FileRead> {
    let read_part = |part: &[(&Path, &str)]| {
        let (mut hint, mut buffer) = (0, Vec::new());
        part.iter().map(|(path, display)| read_one(path, display, memo, &mut hint, &mut buffer)).collect::<Vec<_>>()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if threads < 2 || jobs.len() < 256 {
        return read_part(jobs);
    }
    let parts: Vec<&[(&Path, &str)]> = jobs.chunks(jobs.len().div_ceil(threads)).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts.iter().map(|part| scope.spawn(move || read_part(part))).collect();
        handles
            .into_iter()
            .zip(&parts)
            .flat_map(|(handle, part)| {
                handle.join().unwrap_or_else(|_| {
                    part.iter().map(|_| Err(std::io::Error::other("a thread reading the files failed"))).collect()
                })
            })
            .collect()
    })
}

/// Reads one migration file (other layouts read them one by one).
fn read(path: &Path, display: &str, memo: &Memo, buffer: &mut Vec<u8>) -> Result<SourceFile, Diagnostic> {
    source_file(path.to_owned(), display.to_owned(), read_one(path, display, memo, &mut 0, buffer))
}

fn source_file(path: PathBuf, display: String, read: FileRead) -> Result<SourceFile, Diagnostic> {
    let (bytes, checksum, analysis) = read.map_err(|err| {
        Diagnostic::error(Kind::Io, format!("cannot read `{display}`: {err}"))
            .at(Location::file(&display))
            .help("check that the file exists and can be read")
    })?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let utf16 = err.as_bytes().starts_with(&[0xff, 0xfe]) || err.as_bytes().starts_with(&[0xfe, 0xff]);
        let offset = err.utf8_error().valid_up_to();
        let valid = String::from_utf8_lossy(&err.as_bytes()[..offset]).into_owned();
        let (line, column) = crate::lexer::line_column(&valid, offset);
        Diagnostic::error(
            Kind::InvalidText,
            format!("`{display}` is not UTF-8 text (invalid byte at line {line}, column {column})"),
        )
        .at(Location { path: display.clone(), line_column: Some((line, column)), excerpt: None })
        .help(if utf16 { "the file is UTF-16: save it as UTF-8" } else { "save the file as UTF-8" })
    })?;
    Ok(SourceFile { path, display, text, checksum, analysis })
}

/// sqlx's own marker: a file whose text starts with `-- no-transaction` runs
/// outside a transaction (sqlx reads the start of the file, as here).
fn sqlx_part(file: &SourceFile) -> Part {
    let text = &file.text[file.bom_len()..];
    Part { section: None, no_transaction: text.starts_with("-- no-transaction") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_long_directory_read_on_threads_is_read_in_order() {
        // Enough files for several reader threads, with problems among them.
        let mut files: Vec<(String, Vec<u8>)> =
            (1..=600).map(|v| (format!("{v}_m.sql"), format!("CREATE TABLE t{v} (x);").into_bytes())).collect();
        files.push(("700_bad.sql".into(), b"\xff\xfe".to_vec()));
        files.push(("notes.sql".into(), b"SELECT 1;".to_vec()));
        files.push(("450_twin.sql".into(), b"SELECT 2;".to_vec()));
        let tmp = tempfile::tempdir().unwrap();
        for (name, bytes) in &files {
            fs::write(tmp.path().join(name), bytes).unwrap();
        }
        let scanned = scan(tmp.path(), tmp.path());
        let versions: Vec<i64> = scanned.migrations.iter().map(|m| m.version).collect();
        let expected: Vec<i64> = (1..=600).filter(|v| *v != 450).collect();
        assert_eq!(versions, expected);
        for m in &scanned.migrations {
            assert_eq!(m.up.text, format!("CREATE TABLE t{} (x);", m.version));
            assert_eq!(m.up.checksum, checksum::checksum(m.up.text.as_bytes()));
        }
        let messages: Vec<&str> = scanned.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        // Names first (in name order), then files (in version order), then
        // the pairing of versions.
        assert!(messages[0].contains("notes.sql"), "{messages:?}");
        assert!(messages[1].contains("700_bad.sql") && messages[1].contains("UTF-8"), "{messages:?}");
        assert!(messages[2].contains("share version 450"), "{messages:?}");
    }

    #[test]
    fn child_display_is_display_path() {
        for (dir, base) in [
            ("/p/migrations", "/p"),
            ("/p/migrations/", "/p"),
            ("/p", "/p"),
            ("migrations", ""),
            ("./migrations", ""),
            ("/elsewhere/m", "/p"),
            ("/", "/p"),
        ] {
            let (dir, base) = (Path::new(dir), Path::new(base));
            for name in ["1_a.sql", "2_b\\c.sql"] {
                assert_eq!(
                    child_display(&display_path(dir, base), name),
                    display_path(&dir.join(name), base),
                    "{dir:?} {base:?} {name}"
                );
            }
        }
    }

    #[test]
    fn reads_in_numeric_order_and_pairs_halves() {
        let d = dir(&[
            ("10_b.sql", b"SELECT 10;"),
            ("9_a.up.sql", b"SELECT 9;"),
            ("9_a.down.sql", b"SELECT -9;"),
            ("100_c.up.sql", b""),
            ("README.md", b"not sql"),
            (".gitkeep", b""),
            ("migrations.lock", b""),
        ]);
        fs::create_dir(d.path().join("sub")).unwrap();
        let scan = scan(d.path(), d.path());
        assert!(scan.diagnostics.is_empty(), "{:?}", scan.diagnostics);
        let got: Vec<(i64, &str, bool)> =
            scan.migrations.iter().map(|m| (m.version, m.description.as_str(), m.down.is_some())).collect();
        assert_eq!(got, [(9, "a", true), (10, "b", false), (100, "c", false)]);
        assert_eq!(scan.migrations[0].up.display, "9_a.up.sql");
    }

    #[test]
    fn reports_every_problem() {
        let d = dir(&[
            ("init.sql", b""),
            ("1_a.sql", b""),
            ("1_b.sql", b""),
            ("2_x.down.sql", b""),
            ("3_up_half_up.sql", b""),
            ("4_a.up.sql", b""),
            ("4_b.down.sql", b""),
            ("5_bad.sql", b"\xff\xfeS\0"),
            ("6_fine.sql", b"SELECT 1;"),
        ]);
        let scan = scan(d.path(), d.path());
        let kinds: Vec<Kind> = scan.diagnostics.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::MalformedName,
                Kind::MalformedName,
                Kind::InvalidText,
                Kind::DuplicateVersion,
                Kind::DownWithoutUp,
                Kind::DownWithoutUp
            ]
        );
        assert_eq!(scan.broken_versions.iter().copied().collect::<Vec<_>>(), [1, 2, 4, 5]);
        assert_eq!(scan.migrations.len(), 1);
        let text: Vec<String> = scan.diagnostics.iter().map(|d| d.render()).collect();
        assert!(text[0].contains("`3_up_half_up.sql`") && text[0].contains("3_up_half.up.sql"), "{}", text[0]);
        assert!(text[1].contains("`init.sql`"), "{}", text[1]);
        assert!(text[2].contains("UTF-16"), "{}", text[2]);
        assert!(text[3].contains("`1_a.sql`, `1_b.sql`"), "{}", text[3]);
    }
}
