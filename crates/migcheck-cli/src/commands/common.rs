//! What the commands share: the checked migrations, the database's status,
//! new files, and the words for versions.

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use migcheck::{Migration, Migrations, Script};
use migcheck_core::check::{self as checker, Report};
use migcheck_core::checksum::to_hex;
use migcheck_core::config::Config;
use migcheck_core::lock::{self as lock_file, Lock};
use migcheck_core::model::Layout;
use migcheck_core::{name, scan};

use crate::context::Context;
use crate::error::{Failure, Result, bail};
use crate::output::print_diagnostics;
use crate::{db, exit};

/// The checker's configuration as `cargo build` has it: the same
/// environment variables (also read from `.env`), except that only `check`
/// is locked in CI, since the other commands work on unsealed migrations.
pub(crate) fn config(ctx: &Context, execute: bool) -> Result<Config> {
    let _ = dotenvy::dotenv();
    let mut config = Config::from_env(&ctx.dir, |name| std::env::var(name).ok())?;
    config.locked = false;
    config.execute = execute;
    config.layout = ctx.layout;
    if let Some(dir) = &ctx.fixtures {
        config.fixtures = Some(dir.clone());
        config.fixtures_required = true;
    }
    if let Some(path) = &ctx.prelude {
        config.prelude = Some(path.clone());
        config.prelude_required = true;
    }
    Ok(config)
}

/// A target version on the command line: a number, or `base` (no
/// migration; `0` means the same where no migration has version 0).
pub(crate) fn parse_target(text: &str) -> std::result::Result<i64, String> {
    match text.trim() {
        "base" => Ok(migcheck::BASE),
        t => match t.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(v),
            _ => Err(format!("`{t}` is not a version: a number, or `base` for no migration")),
        },
    }
}

/// Runs the checks; prints the errors and fails when there are any.
pub(crate) fn checked(ctx: &Context, execute: bool) -> Result<Report> {
    let report = checker::check(&config(ctx, execute)?);
    if report.has_errors() {
        print_diagnostics(report.errors());
        let n = report.errors().count();
        eprintln!(
            "error: {n} error{} in `{}`; fix {} first",
            plural(n),
            ctx.dir.display(),
            if n == 1 { "it" } else { "them" }
        );
        return Err(Failure::Reported(exit::ERROR));
    }
    Ok(report)
}

/// The checked migrations as the runtime's [`Migrations`].
pub(crate) fn migrations(ctx: &Context, report: &Report) -> Migrations {
    let script = |s: &migcheck_core::model::Script| Script::new(s.file.display.clone(), s.sql.clone(), s.mode);
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
        .chain(
            report
                .squashed
                .iter()
                .map(|s| Migration::squashed(s.version, s.description.clone(), to_hex(&s.checksum), to_hex(&s.chain))),
        )
        .collect();
    let mut migrations = Migrations::new(list).with_history_table(ctx.history_table.clone());
    // The lock's `foreign-keys off`: migrated as checked, without them.
    if report.lock.foreign_keys_off {
        migrations = migrations.without_foreign_keys();
    }
    let Some(b) = &report.baseline else { return migrations };
    let chain = match report.squashed.last() {
        Some(s) => s.chain,
        None => match report.migrations.iter().find(|m| m.version == b.version) {
            Some(m) => m.chain,
            None => return migrations,
        },
    };
    let mut baseline = migcheck::Baseline::new(
        b.version,
        b.description.clone(),
        to_hex(&b.script.file.checksum),
        to_hex(&chain),
        script(&b.script),
    );
    if let Some(down) = &b.down {
        baseline = baseline.with_down(script(down));
    }
    migrations.with_baseline(baseline)
}

pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A description as `migcheck new` writes it: lower-case letters and digits
/// (of any script) joined by `_`.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::new();
    // Letters and digits of any script (`日本語`, `größe`), as migration
    // names allow them.
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// The current UTC time as `YYYYMMDDHHMMSS`.
pub(crate) fn utc_timestamp() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = migcheck_core::model::civil_date(days);
    ((year * 100 + month) * 100 + day) * 1_000_000 + (rem / 3600) * 10_000 + (rem % 3600 / 60) * 100 + rem % 60
}

/// The directory's layout: `--layout`, else the lock's `layout` line, else
/// detected from the files, as the check reads it.
pub(crate) fn layout_of(ctx: &Context) -> Layout {
    let locked =
        || fs::read_to_string(ctx.dir.join(lock_file::FILE_NAME)).ok().and_then(|t| Lock::parse(&t).ok()?.layout);
    ctx.layout.or_else(locked).unwrap_or_else(|| migcheck_core::layout::detect(&ctx.dir))
}

/// The lock's custom layout (`layout custom <regex>`), if it has one.
pub(crate) fn custom_of(ctx: &Context) -> Option<migcheck_core::layout::CustomLayout> {
    fs::read_to_string(ctx.dir.join(lock_file::FILE_NAME)).ok().and_then(|t| Lock::parse(&t).ok()?.custom)
}

/// The files of a new migration `version` (written `text`) in the
/// directory's layout; in a custom layout, named like its newest migration.
pub(crate) fn new_files(
    ctx: &Context,
    layout: Layout,
    (version, text): (i64, &str),
    description: &str,
    up: &str,
    down: Option<&str>,
) -> Result<Vec<name::NewFile>> {
    if layout != Layout::Custom {
        return Ok(name::format(layout, text, description, up, down));
    }
    let Some(custom) = custom_of(ctx) else {
        bail!("the custom layout has no pattern: write `layout custom <regex>` in the lock");
    };
    let s = scan::scan_layout(&ctx.dir, Path::new(""), layout, Some(&custom), &Default::default());
    let Some(newest) = s.migrations.iter().max_by_key(|m| m.version) else {
        bail!(
            "the custom layout names files by the pattern `{}`, and there is no migration yet to name one like:              write the first by hand",
            custom.pattern
        );
    };
    let template = newest.up.file_name();
    // In name order the version is a position: the new file takes the
    // template's own version number plus one, so that its name sorts last.
    let version = match custom.read(&template) {
        Ok(Some(read)) if custom.by_name => match read.version {
            Some(v) => v + 1,
            None => bail!(
                "the custom layout orders by name and its pattern `{}` has no `version` group to make a name that \
                 sorts last: write the file by hand",
                custom.pattern
            ),
        },
        _ => version,
    };
    let name = |is_up: bool| {
        custom.name_like(&template, version, description, is_up).ok_or_else(|| {
            anyhow::anyhow!(
                "cannot name a new {} migration like `{template}` with the pattern `{}`: write it by hand",
                if is_up { "up" } else { "down" },
                custom.pattern
            )
        })
    };
    let mut files = vec![name::NewFile { path: name(true)?.into(), text: up.to_owned() }];
    if let Some(down) = down {
        files.push(name::NewFile { path: name(false)?.into(), text: down.to_owned() });
    }
    Ok(files)
}

/// Writes the files of a new migration; none if one of them exists.
pub(crate) fn write_new(ctx: &Context, files: &[name::NewFile]) -> Result<()> {
    for file in files {
        let path = ctx.dir.join(&file.path);
        // A diesel migration is a new directory: it must not exist either.
        let own_directory = path.parent().filter(|p| *p != ctx.dir);
        if let Some(taken) = std::iter::once(path.as_path()).chain(own_directory).find(|p| p.exists()) {
            bail!("`{}` already exists", taken.display());
        }
    }
    for file in files {
        let path = ctx.dir.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        fs::write(&path, &file.text).with_context(|| format!("cannot write `{}`", path.display()))?;
        println!("created {}", path.display());
    }
    Ok(())
}

/// Every version present in the directory, readable or not.
pub(crate) fn versions(ctx: &Context) -> Vec<i64> {
    let s = scan::scan_layout(&ctx.dir, Path::new(""), layout_of(ctx), custom_of(ctx).as_ref(), &Default::default());
    let mut v: Vec<i64> = s.migrations.iter().map(|m| m.version).chain(s.broken_versions).collect();
    v.sort_unstable();
    v
}

pub(crate) fn version_text(v: Option<i64>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

/// What `status` and `history` say of a file stopped part-way, and how it goes on.
pub(crate) fn interrupted_text(migrations: &migcheck::Migrations, i: &migcheck::Interrupted) -> String {
    let (way, command) = match i.direction {
        migcheck::Direction::Up => ("up", "`migcheck upgrade`"),
        migcheck::Direction::Down => ("down", "`migcheck downgrade`"),
    };
    let script = migrations.get(i.version).and_then(|m| match i.direction {
        migcheck::Direction::Up => Some(m.up()),
        migcheck::Direction::Down => m.down(),
    });
    let resume = match script {
        Some(s) => format!("{command} resumes it at {}:{}", s.path(), i.line_in(s)),
        None => "this binary does not have its file".to_owned(),
    };
    format!(
        "{} `{}`: its {way} file stopped part-way (it runs outside a transaction; {}, started {}); {resume}, or \
         repair it by hand and run `migcheck stamp`",
        i.version,
        i.name,
        i.statements_ran(),
        i.since
    )
}

pub(crate) fn divergence(status: &migcheck::Status) -> Failure {
    let mut parts = Vec::new();
    if !status.divergent.is_empty() {
        parts.push(format!("applied migrations edited since: {:?}", status.divergent));
    }
    if !status.unknown.is_empty() {
        parts.push(format!("applied migrations unknown here (a newer binary migrated it): {:?}", status.unknown));
    }
    Failure::new(
        exit::DIVERGENT,
        format!(
            "the database does not match the migrations: {}; restore the released migrations, or use the binary \
             that migrated it",
            parts.join("; ")
        ),
    )
}

/// The status of a database that does not exist yet: everything pending.
pub(crate) fn status_of_new(m: &Migrations) -> migcheck::Status {
    migcheck::Status { pending: m.iter().map(|m| m.version()).collect(), ..Default::default() }
}

/// The checked migrations, the database and its status: what `current` and
/// `status` show. A database URL is required.
pub(crate) fn checked_status(ctx: &Context) -> Result<(Migrations, db::Target, migcheck::Status)> {
    let report = checked(ctx, false)?;
    let migrations = migrations(ctx, &report);
    let target = db::parse(&db::url(ctx.database_url.as_deref())?)?;
    let status = status_at(&target, &migrations)?;
    Ok((migrations, target, status))
}

/// The status of the database, or `None` when no database URL is given.
pub(crate) fn optional_status(
    ctx: &Context,
    migrations: &Migrations,
) -> Result<Option<(db::Target, migcheck::Status)>> {
    let Ok(url) = db::url(ctx.database_url.as_deref()) else { return Ok(None) };
    let target = db::parse(&url)?;
    let status = status_at(&target, migrations)?;
    Ok(Some((target, status)))
}

/// The status of the database at `target`; everything pending when it does
/// not exist yet (reading commands never create one).
fn status_at(target: &db::Target, migrations: &Migrations) -> Result<migcheck::Status> {
    Ok(match db::Database::connect(target, false)? {
        Some(db) => db.status(migrations)?,
        None => status_of_new(migrations),
    })
}

pub(crate) fn list(versions: &[i64]) -> String {
    if versions.is_empty() {
        return "none".to_owned();
    }
    versions.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}

/// A diagnostic that ends the command: printed, and the command fails.
pub fn reported(diagnostic: migcheck_core::diagnostic::Diagnostic) -> Failure {
    print_diagnostics(std::iter::once(&diagnostic));
    Failure::Reported(exit::ERROR)
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
            ("émoji 🎉 ok", "émoji_ok"),
            ("日本語", "日本語"),
            ("Größe ändern", "größe_ändern"),
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
}
