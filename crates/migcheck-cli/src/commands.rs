//! The commands. Each returns the exit code; errors that were already printed
//! (check diagnostics) come back as [`Reported`].

use std::fmt;
use std::fs;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use migcheck::{Migration, Migrations, Script, UpgradeOptions};
use migcheck_core::check::{self, Config, Report};
use migcheck_core::checksum::to_hex;
use migcheck_core::diagnostic::Kind;
use migcheck_core::layout::Layout;
use migcheck_core::lock::{self, Lock};
use migcheck_core::schema::Snapshot;
use migcheck_core::schema::generate::{self, Rename};
use migcheck_core::{name, scan, seal};
use serde_json::json;

use crate::output::{diagnostic_json, print_diagnostics, print_json};
use crate::{Cli, Command, Format, db, exit};

/// An error whose explanation was already printed.
#[derive(Debug)]
pub struct Reported(pub u8);

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for Reported {}

/// An error with its own exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub fn run(cli: &Cli) -> Result<u8> {
    match &cli.command {
        Command::Init { dialect } => init(cli, *dialect),
        Command::New { name, sequential, irreversible } => new(cli, name, *sequential, *irreversible),
        Command::Lock { force } => lock(cli, *force),
        Command::Rebase => rebase(cli),
        Command::Check => check_command(cli),
        Command::Diff { message, rename } => diff(cli, message, rename),
        Command::Upgrade { to, dry_run, no_backup, batch } => upgrade(cli, *to, *dry_run, *no_backup, *batch),
        Command::Downgrade { to, steps } => downgrade(cli, *to, *steps),
        Command::History => history(cli),
        Command::Current => current(cli),
        Command::Status => status(cli),
        Command::Stamp { version } => stamp(cli, *version),
        Command::Import { from } => import(cli, *from),
    }
}

/// The checker's configuration as `cargo build` has it: the same
/// environment variables (also read from `.env`), except that only `check`
/// is locked in CI, since the other commands work on unsealed migrations.
fn config(cli: &Cli, execute: bool) -> Result<Config> {
    let _ = dotenvy::dotenv();
    let mut config = Config::from_env(&cli.dir, |name| std::env::var(name).ok())?;
    config.locked = false;
    config.execute = execute;
    config.layout = cli.layout;
    Ok(config)
}

/// Runs the checks; prints the errors and fails when there are any.
fn checked(cli: &Cli, execute: bool) -> Result<Report> {
    let report = check::check(&config(cli, execute)?);
    if report.has_errors() {
        print_diagnostics(report.errors());
        let n = report.errors().count();
        eprintln!(
            "error: {n} error{} in `{}`; fix {} first",
            plural(n),
            cli.dir.display(),
            if n == 1 { "it" } else { "them" }
        );
        return Err(Reported(exit::ERROR).into());
    }
    Ok(report)
}

/// The checked migrations as the runtime's [`Migrations`].
fn migrations(cli: &Cli, report: &Report) -> Migrations {
    let script = |s: &check::Script| Script::new(s.file.display.clone(), s.sql.clone(), s.mode);
    let list = report
        .migrations
        .iter()
        .map(|m| {
            Migration::new(
                m.version,
                m.description.clone(),
                to_hex(&m.up.file.checksum),
                to_hex(&m.chain),
                script(&m.up),
                m.down.as_ref().map(script),
            )
        })
        .collect();
    Migrations::new(list).with_history_table(cli.history_table.clone())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn init(cli: &Cli, dialect: crate::DialectArg) -> Result<u8> {
    let dir = &cli.dir;
    if dir.is_dir() {
        println!("{} exists", dir.display());
    } else {
        fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        println!("created {}/", dir.display());
    }
    let lock_path = dir.join(lock::FILE_NAME);
    if lock_path.exists() {
        println!("{} exists", lock_path.display());
    } else {
        let dialect = match dialect {
            crate::DialectArg::Sqlite => None,
            crate::DialectArg::Postgres => Some(lock::Dialect::Postgres),
        };
        let lock = Lock { dialect, ..Lock::default() };
        fs::write(&lock_path, lock.render()).with_context(|| format!("cannot write `{}`", lock_path.display()))?;
        println!("created {}", lock_path.display());
    }
    // Created now so that the build script watches it: a file that appears
    // later is not seen until something else re-runs the build script.
    let schema = migcheck_core::model::default_schema_path(dir);
    if schema.exists() {
        println!("{} exists", schema.display());
    } else {
        fs::write(&schema, SCHEMA_PLACEHOLDER).with_context(|| format!("cannot write `{}`", schema.display()))?;
        println!("created {}", schema.display());
    }
    let call = if dir == Path::new("migrations") {
        "migcheck_build::Build::new().run();".to_owned()
    } else {
        format!("migcheck_build::Build::new().dir({:?}).run();", dir.display().to_string())
    };
    let build_rs = Path::new("build.rs");
    if build_rs.exists() {
        println!("build.rs exists: add this line to its `fn main`:\n    {call}");
    } else {
        fs::write(build_rs, format!("fn main() {{\n    {call}\n}}\n")).context("cannot write `build.rs`")?;
        println!("created build.rs");
    }
    println!(
        "\nNext: in Cargo.toml add `migcheck` and `rusqlite` to [dependencies] and `migcheck-build` to \
         [build-dependencies]; then `migcheck new <name>` (or write schema.sql and `migcheck diff -m \"…\"`)."
    );
    Ok(exit::OK)
}

const SCHEMA_PLACEHOLDER: &str = "\
-- The declared schema: the tables, indexes, views and triggers the application wants.
-- `cargo build` fails when the migrations do not produce exactly this, and
-- `migcheck diff -m \"…\"` writes the migration that does. While this file has no
-- statement, that check is off.
";

/// A description as `migcheck new` writes it: `[a-z0-9_]+`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// The current UTC time as `YYYYMMDDHHMMSS`.
fn utc_timestamp() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    ((year * 100 + month) * 100 + day) * 1_000_000 + (rem / 3600) * 10_000 + (rem % 3600 / 60) * 100 + rem % 60
}

/// The directory's layout: `--layout`, else the lock's `layout` line, else
/// detected from the files, as the check reads it.
fn layout_of(cli: &Cli) -> Layout {
    let locked = || fs::read_to_string(cli.dir.join(lock::FILE_NAME)).ok().and_then(|t| Lock::parse(&t).ok()?.layout);
    cli.layout.or_else(locked).unwrap_or_else(|| migcheck_core::layout::detect(&cli.dir))
}

/// Writes the files of a new migration; none if one of them exists.
fn write_new(cli: &Cli, files: &[name::NewFile]) -> Result<()> {
    for file in files {
        let path = cli.dir.join(&file.path);
        if path.exists() || path.parent().is_some_and(|p| p != cli.dir && p.exists()) {
            bail!("`{}` already exists", if path.exists() { &path } else { path.parent().unwrap_or(&path) }.display());
        }
    }
    for file in files {
        let path = cli.dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        fs::write(&path, &file.text).with_context(|| format!("cannot write `{}`", path.display()))?;
        println!("created {}", path.display());
    }
    Ok(())
}

/// Every version present in the directory, readable or not.
fn versions(cli: &Cli) -> Vec<i64> {
    let s = scan::scan_layout(&cli.dir, Path::new(""), layout_of(cli), &Default::default());
    let mut v: Vec<i64> = s.migrations.iter().map(|m| m.version).chain(s.broken_versions).collect();
    v.sort_unstable();
    v
}

/// The zero-padded width of the versions in the directory's names, if they
/// are padded (`0007_a.sql`: 4); `None` if there is no name to go by.
fn sequential_width(cli: &Cli, layout: Layout) -> Option<usize> {
    let scanned = scan::scan_layout(&cli.dir, Path::new(""), layout, &Default::default());
    let newest = scanned.migrations.iter().max_by_key(|m| m.version)?;
    let name = match layout {
        Layout::Diesel => newest.up.path.parent()?.file_name()?.to_string_lossy().into_owned(),
        _ => newest.up.file_name(),
    };
    let name = name.trim_start_matches(['V', 'v']);
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    Some(if name.starts_with('0') { digits } else { 0 })
}

fn new(cli: &Cli, name: &str, sequential: bool, irreversible: bool) -> Result<u8> {
    if !cli.dir.is_dir() {
        bail!("the migrations directory `{}` does not exist: run `migcheck init` first", cli.dir.display());
    }
    let description = slug(name);
    if description.is_empty() {
        bail!("`{name}` has no letter or digit to name the migration with");
    }
    let layout = layout_of(cli);
    let newest = versions(cli).last().copied().unwrap_or(0);
    // refinery and Flyway number migrations 1, 2, 3 (refinery's versions are
    // 32-bit): a timestamp only where the history already uses them.
    let sequential = sequential || (layout == Layout::Refinery && newest < 10_000_000_000_000);
    let (version, text) = if sequential {
        let v = newest + 1;
        // As wide as the names already there (`000016_…`, `00016_…`, `V16__…`).
        let width = match sequential_width(cli, layout) {
            Some(width) => width,
            None if layout == Layout::Native => 4,
            None => 0,
        };
        (v, format!("{v:0width$}"))
    } else {
        let v = utc_timestamp().max(newest + 1);
        (v, v.to_string())
    };
    let files = if irreversible {
        name::format(layout, &text, &description, &format!("-- {name} (irreversible)\n"), None)
    } else {
        name::format(layout, &text, &description, &format!("-- {name}\n"), Some(&format!("-- undo: {name}\n")))
    };
    write_new(cli, &files)?;
    if !irreversible && layout == Layout::Refinery {
        println!("refinery has no down migrations: only the up file was written");
    }
    println!("migration {version}: write its SQL, build to check it, then `migcheck lock` to seal it");
    Ok(exit::OK)
}

fn lock(cli: &Cli, force: bool) -> Result<u8> {
    match seal::seal(&config(cli, true)?, force) {
        Ok(sealed) => {
            if !sealed.written {
                println!("{} is up to date", sealed.lock_path.display());
            } else {
                let mut parts = Vec::new();
                for (n, what) in [
                    (sealed.added.len(), "sealed"),
                    (sealed.resealed.len(), "re-sealed"),
                    (sealed.removed.len(), "removed"),
                ] {
                    if n > 0 {
                        parts.push(format!("{what} {n} migration{}", plural(n)));
                    }
                }
                if parts.is_empty() {
                    parts.push("rewrote the lock".into());
                }
                println!("{}: {}", sealed.lock_path.display(), parts.join(", "));
            }
            Ok(exit::OK)
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            eprintln!("error: nothing was sealed");
            Err(Reported(exit::ERROR).into())
        }
    }
}

fn rebase(cli: &Cli) -> Result<u8> {
    let report = check::check(&config(cli, false)?);
    let blocking: Vec<_> = report.errors().filter(|d| d.kind != migcheck_core::diagnostic::Kind::OutOfOrder).collect();
    if !blocking.is_empty() {
        print_diagnostics(blocking);
        eprintln!("error: fix these before rebasing");
        return Err(Reported(exit::ERROR).into());
    }
    let Some(newest_sealed) = report.lock.newest() else {
        println!("nothing is sealed: nothing to rebase");
        return Ok(exit::OK);
    };
    let unsealed: Vec<&check::Migration> =
        report.migrations.iter().filter(|m| report.lock.get(m.version).is_none()).collect();
    if !unsealed.iter().any(|m| m.version < newest_sealed) {
        println!("no unsealed migration comes before the newest sealed one ({newest_sealed}): nothing to rebase");
        return Ok(exit::OK);
    }
    // Timestamps stay timestamps; small sequential numbers stay sequential.
    let mut next =
        if newest_sealed >= 10_000_000_000_000 { utc_timestamp().max(newest_sealed + 1) } else { newest_sealed + 1 };
    let layout = report.layout;
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
            let Some(new_name) = name::renumber(layout, &old_name, version) else {
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
    let report = check::check(&config(cli, true)?);
    print_diagnostics(report.diagnostics.iter());
    if report.has_errors() {
        return Err(Reported(exit::ERROR).into());
    }
    println!("rebased; review, then `migcheck lock` to seal");
    Ok(exit::OK)
}

/// Differences between a live database and the schema its applied
/// migrations should have made, described.
fn live_drift(cli: &Cli, url: &str, report: &Report) -> Result<(String, Vec<String>)> {
    let target = db::parse(url)?;
    let migrations = migrations(cli, report);
    if let db::Target::Postgres(live_url) = &target {
        let Some(scratch) = config(cli, false)?.postgres_scratch else {
            bail!(
                "comparing a live PostgreSQL database needs MIGCHECK_SCRATCH_URL: a server where migcheck may create \
                 a scratch database to apply the migrations to"
            );
        };
        let database = db::Database::connect(&target, false)?.ok_or_else(|| anyhow!("cannot open the database"))?;
        let status = database.status(&migrations)?;
        if !status.divergent.is_empty() || !status.unknown.is_empty() {
            return Err(divergence(&status));
        }
        let expected = migcheck_core::postgres::PgEngine::create(&scratch, config(cli, false)?.scratch.timeout)
            .and_then(|engine| check::replay(&engine, report, Some(status.current().unwrap_or(0))))
            .and_then(|mut db| db.snapshot())
            .map_err(|d| anyhow!(d.render()))?;
        let live = migcheck_core::postgres::live_snapshot(live_url, &cli.history_table)
            .map_err(|e| anyhow!("cannot read `{}`: {e}", target.describe()))?;
        let label = format!("the database at version {}", version_text(status.current()));
        return Ok((target.describe(), migcheck_core::postgres::diff(&expected, &live, "its migrations", &label)));
    }
    let Some(conn) = db::open_existing(&target)? else {
        bail!("the database `{}` does not exist", target.describe());
    };
    let status = migrations.status(&conn)?;
    if !status.divergent.is_empty() || !status.unknown.is_empty() {
        return Err(divergence(&status));
    }
    let expected = check::schema_at(report, Some(status.current().unwrap_or(0))).map_err(|d| anyhow!(d.render()))?;
    let live = Snapshot::read(&conn, &[&cli.history_table])?;
    let label = format!("the database at version {}", version_text(status.current()));
    let diff = migcheck_core::schema::compare(&expected, &live, &report.scratch)?;
    Ok((target.describe(), diff.describe("its migrations", &label)))
}

fn check_command(cli: &Cli) -> Result<u8> {
    // Exactly what `cargo build` checks, locked mode included (`CI`, `MIGCHECK_LOCKED`).
    let mut config = config(cli, true)?;
    config.locked = Config::locked_from_env(|name| std::env::var(name).ok());
    let report = check::check(&config);
    let live = match (&cli.database_url, report.has_errors()) {
        (Some(url), false) => Some(live_drift(cli, url, &report)?),
        _ => None,
    };
    let drifted = live.as_ref().is_some_and(|(_, d)| !d.is_empty());
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    if cli.format == Format::Json {
        print_json(&json!({
            "ok": errors == 0,
            "layout": report.layout.name(),
            "errors": errors,
            "warnings": warnings,
            "diagnostics": report.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "database": live.as_ref().map(|(db, d)| json!({ "database": db, "drift": d })),
            "migrations": report.migrations.iter().map(|m| json!({
                "version": m.version,
                "name": m.description,
                "sealed": m.sealed,
                "reversible": m.down.is_some(),
                "checksum": to_hex(&m.up.file.checksum),
                "files": std::iter::once(&m.up).chain(m.down.as_ref()).map(|s| s.file.display.as_str())
                    .fold(Vec::new(), |mut files, f| { if !files.contains(&f) { files.push(f) } files }),
            })).collect::<Vec<_>>(),
        }));
    } else {
        print_diagnostics(report.diagnostics.iter());
        if errors == 0 {
            println!(
                "{} migration{} checked: ok{}",
                report.migrations.len(),
                plural(report.migrations.len()),
                if warnings > 0 { format!(" ({warnings} warning{})", plural(warnings)) } else { String::new() }
            );
        } else {
            eprintln!("error: {errors} error{} in `{}`", plural(errors), cli.dir.display());
        }
        if let Some((db, differences)) = &live {
            if differences.is_empty() {
                println!("{db}: its schema is what its applied migrations make");
            } else {
                eprintln!("error: `{db}` was changed outside its migrations:");
                for d in differences {
                    eprintln!("  {d}");
                }
                eprintln!("help: undo the manual changes, or write a migration that makes them");
            }
        }
    }
    Ok(if errors > 0 {
        exit::ERROR
    } else if drifted {
        exit::DIVERGENT
    } else {
        exit::OK
    })
}

fn diff(cli: &Cli, message: &str, renames: &[String]) -> Result<u8> {
    let renames: Vec<Rename> =
        renames.iter().map(|r| Rename::parse(r).map_err(|e| anyhow!(e))).collect::<Result<_>>()?;
    let config = config(cli, true)?;
    let report = check::check(&config);
    let blocking: Vec<_> = report.errors().filter(|d| d.kind != Kind::Drift).collect();
    if !blocking.is_empty() {
        print_diagnostics(blocking);
        eprintln!("error: fix these before generating a migration");
        return Err(Reported(exit::ERROR).into());
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
    let Some(generated) =
        generate::generate(migrated, declared, &renames, &report.scratch, message).map_err(|e| anyhow!(e))?
    else {
        println!("nothing to change: the migrations already produce `{}`; nothing was written", schema_file.display());
        return Ok(exit::OK);
    };
    let newest = versions(cli).last().copied().unwrap_or(0);
    let version = utc_timestamp().max(newest + 1);
    let files = name::format(report.layout, &version.to_string(), &description, &generated.up, Some(&generated.down));
    write_new(cli, &files)?;
    if report.layout == Layout::Refinery {
        println!("refinery has no down migrations: only the up file was written");
    }
    for change in &generated.changes {
        println!("  {change}");
    }
    for warning in &generated.warnings {
        eprintln!("warning: {warning}");
    }
    let after = check::check(&config);
    let errors: Vec<_> = after.errors().collect();
    if !errors.is_empty() {
        print_diagnostics(errors);
        eprintln!("error: the generated migration does not pass the checks; the files are kept for you to fix");
        return Err(Reported(exit::ERROR).into());
    }
    println!(
        "checked: the migrations now produce `{}`; review the files, then `migcheck upgrade`",
        schema_file.display()
    );
    Ok(exit::OK)
}

/// The backup's path: the database file's name, then the version it holds.
fn backup_path(path: &Path, current: Option<i64>) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "database".into());
    path.with_file_name(format!("{name}.v{}.bak", current.unwrap_or(0)))
}

fn upgrade(cli: &Cli, to: Option<i64>, dry_run: bool, no_backup: bool, batch: bool) -> Result<u8> {
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    if let Some(v) = to
        && migrations.get(v).is_none()
    {
        bail!("there is no migration with version {v} in `{}`", cli.dir.display());
    }
    let target = db::parse(&db::url(cli.database_url.as_deref())?)?;
    if dry_run {
        let status = match db::Database::connect(&target, false)? {
            Some(db) => db.status(&migrations)?,
            None => status_of_new(&migrations),
        };
        if !status.divergent.is_empty() || !status.unknown.is_empty() {
            bail!(divergence(&status));
        }
        let pending: Vec<&Migration> =
            status.pending.iter().filter(|v| to.is_none_or(|t| **v <= t)).filter_map(|v| migrations.get(*v)).collect();
        if pending.is_empty() {
            println!("-- nothing to apply: {} is up to date", target.describe());
        }
        for m in pending {
            println!("-- migration {} `{}` ({}, {:?})", m.version(), m.name(), m.up().path(), m.up().mode());
            println!("{}\n", m.up().sql().trim_end());
        }
        return Ok(exit::OK);
    }
    // A database this command creates has nothing to back up.
    let existed = matches!(&target, db::Target::File(path) if path.exists());
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    let mut options = UpgradeOptions::default().batch(batch);
    if let Some(v) = to {
        options = options.target(v);
    }
    match (&target, database.sqlite()) {
        (db::Target::File(path), Some(conn)) if existed && !no_backup => {
            options = options.backup(backup_path(path, migrations.current(conn)?));
        }
        (db::Target::Postgres(_), _) if !no_backup => {
            eprintln!("note: no backup is taken of a PostgreSQL database (SQLite only): use pg_dump");
        }
        _ => {}
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = database.upgrade(&migrations, &options, |m, i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
        bar.set_message(format!("{} {}", m.version(), m.name()));
    });
    bar.finish_and_clear();
    let done = result?;
    if let Some(path) = &done.backup {
        println!("backup: {}", path.display());
    }
    for a in &done.applied {
        println!("applied {} {} ({:.1?})", a.version, a.name, a.duration);
    }
    let current = database.status(&migrations)?.current();
    if done.applied.is_empty() {
        println!("nothing to apply: {} is at version {}", target.describe(), version_text(current));
    } else {
        println!("{} is at version {}", target.describe(), version_text(current));
    }
    Ok(exit::OK)
}

fn version_text(v: Option<i64>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

fn divergence(status: &migcheck::Status) -> anyhow::Error {
    let mut parts = Vec::new();
    if !status.divergent.is_empty() {
        parts.push(format!("applied migrations edited since: {:?}", status.divergent));
    }
    if !status.unknown.is_empty() {
        parts.push(format!("applied migrations unknown here (a newer binary migrated it): {:?}", status.unknown));
    }
    Failure {
        code: exit::DIVERGENT,
        message: format!(
            "the database does not match the migrations: {}; restore the released migrations, or use the binary \
             that migrated it",
            parts.join("; ")
        ),
    }
    .into()
}

/// The status of a database that does not exist yet: everything pending.
fn status_of_new(m: &Migrations) -> migcheck::Status {
    migcheck::Status { pending: m.iter().map(|m| m.version()).collect(), ..Default::default() }
}

fn downgrade(cli: &Cli, to: Option<i64>, steps: Option<usize>) -> Result<u8> {
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    let target = db::parse(&db::url(cli.database_url.as_deref())?)?;
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    let applied = database.status(&migrations)?.applied;
    let version = match (to, steps) {
        (Some(v), _) if v < 0 => bail!("--to must be a version or 0, not {v}"),
        (Some(v), _) => v,
        (None, steps) => {
            let steps = steps.unwrap_or(1);
            if steps == 0 {
                println!("nothing to do: --steps 0");
                return Ok(exit::OK);
            }
            if steps > applied.len() {
                bail!(
                    "cannot downgrade {steps} step{}: {} has {} applied migration{}",
                    plural(steps),
                    target.describe(),
                    applied.len(),
                    plural(applied.len())
                );
            }
            if steps == applied.len() { 0 } else { applied[applied.len() - steps - 1].version }
        }
    };
    let done = database.downgrade_to(&migrations, version)?;
    for a in &done.applied {
        println!("reverted {} {} ({:.1?})", a.version, a.name, a.duration);
    }
    if done.applied.is_empty() {
        println!("nothing to revert");
    }
    println!("{} is at version {}", target.describe(), version_text(database.status(&migrations)?.current()));
    Ok(exit::OK)
}

/// The status of the database, or `None` when no database URL is given.
fn optional_status(
    cli: &Cli,
    migrations: &Migrations,
    required: bool,
) -> Result<Option<(db::Target, migcheck::Status)>> {
    let url = match db::url(cli.database_url.as_deref()) {
        Ok(url) => url,
        Err(_) if !required => return Ok(None),
        Err(err) => return Err(err),
    };
    let target = db::parse(&url)?;
    let status = match db::Database::connect(&target, false)? {
        Some(db) => db.status(migrations)?,
        None => status_of_new(migrations),
    };
    Ok(Some((target, status)))
}

fn history(cli: &Cli) -> Result<u8> {
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    let status = optional_status(cli, &migrations, false)?;
    let mut rows = Vec::new();
    for (m, checked) in migrations.iter().zip(&report.migrations) {
        let (state, applied_at) = match &status {
            None => (if checked.sealed { "sealed" } else { "unsealed" }, None),
            Some((_, s)) => {
                let row = s.applied.iter().find(|r| r.version == m.version());
                match row {
                    Some(r) if s.divergent.contains(&r.version) => ("divergent", Some(r.applied_at.clone())),
                    Some(r) => ("applied", Some(r.applied_at.clone())),
                    None => ("pending", None),
                }
            }
        };
        rows.push((m.version(), m.name().to_owned(), state, applied_at));
    }
    if let Some((_, s)) = &status {
        for r in s.applied.iter().filter(|r| s.unknown.contains(&r.version)) {
            rows.push((r.version, r.name.clone(), "unknown", Some(r.applied_at.clone())));
        }
        rows.sort_by_key(|r| r.0);
    }
    if cli.format == Format::Json {
        print_json(&json!({
            "database": status.as_ref().map(|(t, _)| t.describe()),
            "migrations": rows.iter().map(|(v, n, s, at)| json!({"version": v, "name": n, "state": s, "applied_at": at})).collect::<Vec<_>>(),
        }));
    } else {
        if rows.is_empty() {
            println!("no migrations in `{}`", cli.dir.display());
        }
        for (v, n, s, at) in &rows {
            match at {
                Some(at) => println!("{v}  {n}  {s} {at}"),
                None => println!("{v}  {n}  {s}"),
            }
        }
        if status.is_none() {
            println!("(no DATABASE_URL: showing whether each migration is sealed; set it to see what is applied)");
        }
    }
    Ok(exit::OK)
}

fn current(cli: &Cli) -> Result<u8> {
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

fn status(cli: &Cli) -> Result<u8> {
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    let (target, status) = optional_status(cli, &migrations, true)?.ok_or_else(|| anyhow!("no database given"))?;
    let code = if !status.divergent.is_empty() || !status.unknown.is_empty() {
        exit::DIVERGENT
    } else if !status.pending.is_empty() {
        exit::PENDING
    } else {
        exit::OK
    };
    if cli.format == Format::Json {
        print_json(&json!({
            "database": target.describe(),
            "current": status.current(),
            "latest": migrations.latest(),
            "applied": status.applied.len(),
            "pending": status.pending,
            "divergent": status.divergent,
            "unknown": status.unknown,
            "up_to_date": status.is_up_to_date(),
        }));
    } else {
        println!("database:  {}", target.describe());
        println!("current:   {}", version_text(status.current()));
        println!("latest:    {}", version_text(migrations.latest()));
        println!("applied:   {}", status.applied.len());
        println!("pending:   {}", list(&status.pending));
        if !status.divergent.is_empty() {
            println!("divergent: {} (applied, then edited)", list(&status.divergent));
        }
        if !status.unknown.is_empty() {
            println!("unknown:   {} (applied by a newer binary)", list(&status.unknown));
        }
    }
    Ok(code)
}

fn list(versions: &[i64]) -> String {
    if versions.is_empty() {
        return "none".to_owned();
    }
    versions.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// The tool's history table, and a query for the versions it applied.
fn history_of(tool: crate::Tool) -> (&'static str, &'static str, Layout) {
    use crate::Tool;
    match tool {
        Tool::Sqlx => {
            ("_sqlx_migrations", "SELECT CAST(version AS TEXT) FROM _sqlx_migrations WHERE success", Layout::Native)
        }
        Tool::Diesel => (
            "__diesel_schema_migrations",
            "SELECT CAST(version AS TEXT) FROM __diesel_schema_migrations",
            Layout::Diesel,
        ),
        Tool::Refinery => {
            ("refinery_schema_history", "SELECT CAST(version AS TEXT) FROM refinery_schema_history", Layout::Refinery)
        }
        Tool::Dbmate => ("schema_migrations", "SELECT CAST(version AS TEXT) FROM schema_migrations", Layout::Dbmate),
        Tool::Goose => (
            "goose_db_version",
            "SELECT CAST(version_id AS TEXT) FROM goose_db_version g WHERE is_applied AND version_id > 0 \
             AND id = (SELECT max(id) FROM goose_db_version h WHERE h.version_id = g.version_id)",
            Layout::Goose,
        ),
    }
}

fn import(cli: &Cli, tool: crate::Tool) -> Result<u8> {
    let (table, query, layout) = history_of(tool);
    let mut config = config(cli, true)?;
    config.layout = Some(cli.layout.unwrap_or(layout));
    let report = check::check(&config);
    if report.has_errors() {
        print_diagnostics(report.errors());
        eprintln!("error: fix these before importing");
        return Err(Reported(exit::ERROR).into());
    }
    let target = db::parse(&db::url(cli.database_url.as_deref())?)?;
    if matches!(&target, db::Target::File(path) if !path.exists()) {
        bail!("the database `{}` does not exist", target.describe());
    }
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    let applied: Vec<i64> = database
        .texts(query)
        .with_context(|| format!("cannot read `{table}`, the history table of {tool:?}, in `{}`", target.describe()))?
        .iter()
        .map(|v| v.chars().filter(char::is_ascii_digit).collect::<String>().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("`{table}` has a version that is not a number"))?;
    let migrations = migrations(cli, &report);
    let unknown: Vec<i64> = applied.iter().copied().filter(|v| migrations.get(*v).is_none()).collect();
    if !unknown.is_empty() {
        bail!("`{table}` records versions with no migration in `{}`: {}", cli.dir.display(), list(&unknown));
    }
    let newest = applied.iter().copied().max().unwrap_or(0);
    let missing: Vec<i64> =
        migrations.iter().map(|m| m.version()).filter(|v| *v <= newest && !applied.contains(v)).collect();
    if !missing.is_empty() {
        bail!(
            "`{table}` says versions {} were never applied although newer ones were; apply or remove them with {tool:?} first",
            list(&missing)
        );
    }
    let mut lock_config = config.clone();
    lock_config.layout = config.layout;
    if let Err(diagnostics) = seal::seal(&lock_config, false) {
        print_diagnostics(&diagnostics);
        return Err(Reported(exit::ERROR).into());
    }
    // Remember the layout, so that `cargo build` and later commands read the directory the same way.
    let lock_path = config.lock_path();
    if let Ok(mut lock) = fs::read_to_string(&lock_path)
        .map_err(anyhow::Error::from)
        .and_then(|t| Lock::parse(&t).map_err(|e| anyhow!(e.message)))
        && lock.layout.is_none()
        && config.layout != Some(Layout::Native)
    {
        lock.layout = config.layout;
        fs::write(&lock_path, lock.render())?;
    }
    database.stamp(&migrations, newest)?;
    println!(
        "imported {}: {} migration{} sealed in {}, {} recorded as applied (up to version {}); `migcheck upgrade` continues from here",
        target.describe(),
        migrations.len(),
        plural(migrations.len()),
        lock_path.display(),
        applied.len(),
        version_text((newest != 0).then_some(newest))
    );
    Ok(exit::OK)
}

fn stamp(cli: &Cli, version: i64) -> Result<u8> {
    let report = checked(cli, false)?;
    let migrations = migrations(cli, &report);
    if version < 0 || (version != 0 && migrations.get(version).is_none()) {
        bail!("there is no migration with version {version} in `{}`; `migcheck history` lists them", cli.dir.display());
    }
    let target = db::parse(&db::url(cli.database_url.as_deref())?)?;
    let mut database = db::Database::connect(&target, true)?.ok_or_else(|| anyhow!("cannot open the database"))?;
    database.stamp(&migrations, version)?;
    println!(
        "{} stamped at version {} (nothing was run)",
        target.describe(),
        version_text((version != 0).then_some(version))
    );
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (name, expected) in [
            ("create owners table", "create_owners_table"),
            ("Add-SMTP port!", "add_smtp_port"),
            ("  __x__ ", "x"),
            ("émoji 🎉 ok", "moji_ok"),
            ("!!!", ""),
        ] {
            assert_eq!(slug(name), expected, "{name}");
        }
    }

    #[test]
    fn timestamps_look_like_timestamps() {
        let t = utc_timestamp().to_string();
        assert_eq!(t.len(), 14);
        assert!(t.starts_with("20"));
        let month: u32 = t[4..6].parse().unwrap();
        let day: u32 = t[6..8].parse().unwrap();
        assert!((1..=12).contains(&month) && (1..=31).contains(&day), "{t}");
    }

    #[test]
    fn backup_names_say_the_version() {
        assert_eq!(backup_path(Path::new("data/dev.db"), Some(42)), Path::new("data/dev.db.v42.bak"));
        assert_eq!(backup_path(Path::new("dev.db"), None), Path::new("dev.db.v0.bak"));
    }
}
