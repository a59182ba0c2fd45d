//! Fleets: `upgrade --each 'sqlite:tenants/*.db'` (or `--each-file urls.txt`)
//! and `status --each …` over many SQLite databases, with one progress bar, a
//! summary table or JSON, and an exit code for the whole fleet.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use migcheck::{FleetEvent, FleetOptions, Migrations};
use serde_json::json;

use super::common::version_text;
use crate::context::Context;
use crate::context::Output;
use crate::error::{Result, bail};
use crate::output::print_json;
use crate::{db, exit};

/// Where the fleet's databases come from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Each {
    /// Every SQLite database matching a glob: `--each 'sqlite:tenants/*.db'`.
    #[arg(long, value_name = "PATTERN", conflicts_with = "each_file")]
    pub each: Option<String>,
    /// Every database listed in a file, one URL or path a line (`#` comments).
    #[arg(long, value_name = "FILE")]
    pub each_file: Option<PathBuf>,
    /// The PostgreSQL schemas of `--database-url` (or the MySQL databases of
    /// its server) whose names match a `LIKE` pattern (`tenant_%`), each with
    /// its own history table.
    #[arg(long, value_name = "PATTERN", conflicts_with_all = ["each", "each_file"])]
    pub each_schema: Option<String>,
    /// Databases migrated at once (default: the machine's cores; 4 PostgreSQL schemas).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

impl Each {
    /// Whether a fleet was asked for.
    pub fn is_set(&self) -> bool {
        self.each.is_some() || self.each_file.is_some() || self.each_schema.is_some()
    }

    /// The PostgreSQL database and the schemas `--each-schema` names.
    pub(crate) fn schemas(
        &self,
        ctx: &Context,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Option<(String, Vec<String>)>> {
        let Some(pattern) = &self.each_schema else { return Ok(None) };
        let (url, listed) = match ctx.database_url.as_deref().map(db::parse).transpose()? {
            Some(db::Target::Postgres(url)) => {
                let listed = runtime.block_on(Migrations::postgres_schemas(&url, pattern));
                (url, listed)
            }
            Some(db::Target::Mysql(url)) => {
                let listed = runtime.block_on(Migrations::mysql_databases(&url, pattern));
                (url, listed)
            }
            _ => bail!(
                "`--each-schema` needs `--database-url postgres://…` (the database whose schemas are tenants) or \
                 `mysql://…` (the server whose databases are)"
            ),
        };
        let schemas = listed.map_err(|e| anyhow::anyhow!("cannot list the schemas: {e}"))?;
        if schemas.is_empty() {
            bail!("no schema matches `{pattern}`");
        }
        Ok(Some((url, schemas)))
    }

    /// The fleet's files, sorted and without duplicates.
    pub fn paths(&self) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        if let Some(pattern) = &self.each {
            let pattern =
                pattern.strip_prefix("sqlite://").or_else(|| pattern.strip_prefix("sqlite:")).unwrap_or(pattern);
            if pattern.starts_with("postgres://") || pattern.starts_with("postgresql://") {
                bail!("`--each` takes SQLite files (`sqlite:tenants/*.db`); PostgreSQL fleets are not supported yet");
            }
            let found = glob::glob(pattern).map_err(|e| anyhow::anyhow!("`{pattern}` is not a glob pattern: {e}"))?;
            for path in found {
                let path = path.map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", e.path().display()))?;
                if path.is_file() {
                    paths.push(path);
                } else {
                    // Said, not dropped without a word.
                    eprintln!(
                        "warning: `{}` matches `{pattern}` but is not a file: it is not a database of the fleet",
                        path.display()
                    );
                }
            }
            if paths.is_empty() {
                bail!("no file matches `{pattern}`");
            }
        }
        if let Some(list) = &self.each_file {
            let text =
                std::fs::read_to_string(list).map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", list.display()))?;
            let mut listed = 0;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                listed += 1;
                match db::parse(line)? {
                    db::Target::File(path) => paths.push(path),
                    _ => bail!(
                        "`{}` line {}: `{line}` is not a SQLite file; PostgreSQL fleets are not supported yet",
                        list.display(),
                        n + 1
                    ),
                }
            }
            // As an empty glob: a fleet of none is a mistake, not a success.
            if listed == 0 {
                bail!("`{}` names no database: one URL or path a line", list.display());
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    fn options(&self) -> FleetOptions {
        let options = FleetOptions::default();
        match (self.jobs, &self.each_schema) {
            (Some(jobs), _) => options.jobs(jobs),
            // A small pool: each schema holds a connection while it migrates.
            (None, Some(_)) => options.jobs(4),
            (None, None) => options,
        }
    }
}

/// `upgrade --each`: every database, the summary, exit 1 if one failed.
pub fn upgrade(
    ctx: &Context,
    each: &Each,
    migrations: &Migrations,
    to: Option<i64>,
    fail_fast: bool,
    backup: bool,
) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let schemas = each.schemas(ctx, &runtime)?;
    let paths = if schemas.is_some() { Vec::new() } else { each.paths()? };
    let count = schemas.as_ref().map_or(paths.len(), |(_, s)| s.len());
    let mut options = each.options().fail_fast(fail_fast).backup(backup && schemas.is_none());
    if let Some(v) = to {
        options = options.target(v);
    }
    let bar = ProgressBar::with_draw_target(Some(count as u64), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} databases, {prefix} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let failed = AtomicUsize::new(0);
    bar.set_prefix("0 failed");
    let progress = |event: FleetEvent<'_>| match event {
        FleetEvent::Started { path } => bar.set_message(path.display().to_string()),
        FleetEvent::Finished { ok, .. } => {
            if !ok {
                let n = failed.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_prefix(format!("{n} failed"));
            }
            bar.inc(1);
        }
        _ => {}
    };
    let report = match &schemas {
        Some((url, schemas)) if is_mysql(url) => {
            runtime.block_on(migrations.upgrade_mysql_databases(url, schemas, &options, progress))
        }
        Some((url, schemas)) => runtime.block_on(migrations.upgrade_postgres_schemas(url, schemas, &options, progress)),
        None => migrations.upgrade_each(&paths, &options, progress),
    };
    bar.finish_and_clear();
    Ok(summarize(ctx, &report, "applied"))
}

/// `downgrade --each --to V`: every SQLite database reverted to V.
pub fn downgrade(ctx: &Context, each: &Each, migrations: &Migrations, version: i64) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = match each.schemas(ctx, &runtime)? {
        Some((url, schemas)) if is_mysql(&url) => {
            runtime.block_on(migrations.downgrade_mysql_databases(&url, &schemas, version, &each.options(), |_| {}))
        }
        Some((url, schemas)) => {
            runtime.block_on(migrations.downgrade_postgres_schemas(&url, &schemas, version, &each.options(), |_| {}))
        }
        None => migrations.downgrade_each(&each.paths()?, version, &each.options(), |_| {}),
    };
    Ok(summarize(ctx, &report, "reverted"))
}

/// The fleet's summary (a table and counts, or JSON); exit 1 when a
/// database failed or was skipped.
fn summarize(ctx: &Context, report: &migcheck::FleetReport, done: &str) -> u8 {
    let failures = report.failed().count();
    let skipped = report.skipped().count();
    let changed = if done == "applied" { "upgraded" } else { "downgraded" };
    if ctx.output == Output::Json {
        let mut value = json!({
            "databases": report.databases.iter().map(|d| json!({
                "database": d.database,
                "before": d.before,
                "after": d.after,
                done: d.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
                "error": d.error.as_ref().map(ToString::to_string),
                "skipped": d.skipped,
                "ms": d.duration.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
            "failed": failures,
            "skipped": skipped,
        });
        value[changed] = json!(report.upgraded().count());
        print_json(&value);
    } else {
        let rows: Vec<[String; 4]> = report
            .databases
            .iter()
            .map(|d| {
                let outcome = match (&d.error, d.skipped) {
                    (_, true) => "skipped (an earlier database failed)".to_owned(),
                    (Some(e), _) => format!("failed: {e}"),
                    (None, _) if d.applied.is_empty() => "up to date".to_owned(),
                    (None, _) => format!("{done} {}", d.applied.len()),
                };
                [d.database.clone(), version_text(d.before), version_text(d.after), outcome]
            })
            .collect();
        print_table(["database", "before", "after", "result"], &rows);
        println!(
            "{} databases: {} {}, {} up to date, {failures} failed{}",
            report.databases.len(),
            report.upgraded().count(),
            changed,
            report.databases.iter().filter(|d| d.error.is_none() && !d.skipped && d.applied.is_empty()).count(),
            if skipped > 0 { format!(", {skipped} skipped") } else { String::new() }
        );
    }
    if failures > 0 || skipped > 0 { exit::ERROR } else { exit::OK }
}

/// `status --each`: each database's version and what is pending; exit 4 if
/// one diverges, 3 if one has pending migrations, 1 if one cannot be read.
pub fn status(ctx: &Context, each: &Each, migrations: &Migrations, states_exit: bool) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let schemas = each.schemas(ctx, &runtime)?;
    let names: Vec<String> = match &schemas {
        Some((_, schemas)) => schemas.clone(),
        None => each.paths()?.iter().map(|p| p.display().to_string()).collect(),
    };
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    let (mut pending, mut divergent, mut unreadable) = (0, 0, 0);
    for name in &names {
        let read = match &schemas {
            Some((url, _)) => schema_status(&runtime, migrations, url, name),
            None => status_of(Path::new(name), migrations),
        };
        let (current, state) = match &read {
            Ok(s) if !s.divergent.is_empty() || !s.unknown.is_empty() => {
                divergent += 1;
                (s.current(), "divergent".to_owned())
            }
            Ok(s) if !s.pending.is_empty() || s.interrupted.is_some() => {
                pending += 1;
                (s.current(), format!("{} pending", s.pending.len()))
            }
            Ok(s) => (s.current(), "up to date".to_owned()),
            Err(e) => {
                unreadable += 1;
                (None, format!("cannot read: {e}"))
            }
        };
        rows.push([name.clone(), version_text(current), state.clone()]);
        json_rows.push(json!({
            "database": name,
            "current": current,
            "pending": read.as_ref().map(|s| s.pending.clone()).unwrap_or_default(),
            "state": state,
        }));
    }
    if ctx.output == Output::Json {
        print_json(&json!({ "databases": json_rows, "latest": migrations.latest() }));
    } else {
        print_table(["database", "current", "state"], &rows);
        println!(
            "{} databases: {} up to date, {pending} pending, {divergent} divergent, {unreadable} unreadable",
            names.len(),
            names.len() - pending - divergent - unreadable
        );
    }
    Ok(if unreadable > 0 {
        exit::ERROR
    } else if !states_exit {
        exit::OK
    } else if divergent > 0 {
        exit::DIVERGENT
    } else if pending > 0 {
        exit::PENDING
    } else {
        exit::OK
    })
}

/// `history --each`: how many databases of the fleet are at each version
/// (newest first), and how many cannot be read.
pub fn summary(ctx: &Context, each: &Each, migrations: &Migrations) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let schemas = each.schemas(ctx, &runtime)?;
    let names: Vec<String> = match &schemas {
        Some((_, schemas)) => schemas.clone(),
        None => each.paths()?.iter().map(|p| p.display().to_string()).collect(),
    };
    let mut at: std::collections::BTreeMap<Option<i64>, usize> = std::collections::BTreeMap::new();
    let mut unreadable = 0;
    for name in &names {
        let read = match &schemas {
            Some((url, _)) => schema_status(&runtime, migrations, url, name),
            None => status_of(Path::new(name), migrations),
        };
        match read {
            Ok(s) => *at.entry(s.current()).or_default() += 1,
            Err(_) => unreadable += 1,
        }
    }
    let name_of = |v: Option<i64>| v.and_then(|v| migrations.get(v)).map(|m| m.name().to_owned());
    if ctx.output == Output::Json {
        print_json(&json!({
            "versions": at.iter().rev().map(|(v, n)| json!({ "version": v, "name": name_of(*v), "databases": n })).collect::<Vec<_>>(),
            "latest": migrations.latest(),
            "unreadable": unreadable,
        }));
    } else {
        for (v, n) in at.iter().rev() {
            let latest = if *v == migrations.latest() { " (latest)" } else { "" };
            match name_of(*v) {
                Some(name) => {
                    println!("{}  {name}{latest}: {n} database{}", version_text(*v), if *n == 1 { "" } else { "s" })
                }
                None => println!("{}{latest}: {n} database{}", version_text(*v), if *n == 1 { "" } else { "s" }),
            }
        }
        if unreadable > 0 {
            println!("cannot read: {unreadable}");
        }
    }
    Ok(if unreadable > 0 { exit::ERROR } else { exit::OK })
}

fn status_of(path: &Path, migrations: &Migrations) -> std::result::Result<migcheck::Status, String> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
    migrations.status(&conn).map_err(|e| e.to_string())
}

/// Columns padded to their widest cell.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let widths: Vec<usize> =
        (0..N).map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// Whether a `--each-schema` fleet is MySQL's (databases on a server).
fn is_mysql(url: &str) -> bool {
    url.starts_with("mysql://")
}

/// One schema's (or MySQL database's) status, or why it cannot be read.
fn schema_status(
    runtime: &tokio::runtime::Runtime,
    migrations: &Migrations,
    url: &str,
    name: &str,
) -> std::result::Result<migcheck::Status, String> {
    if is_mysql(url) {
        runtime.block_on(migrations.status_mysql_database(url, name)).map_err(|e| e.to_string())
    } else {
        runtime.block_on(migrations.status_postgres_schema(url, name)).map_err(|e| e.to_string())
    }
}
