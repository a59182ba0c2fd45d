//! `migcheck check`: every check `cargo build` runs, and with a database URL the live drift.

use anyhow::anyhow;
use migcheck_core::check::{self as checker, Report};
use migcheck_core::checksum::to_hex;
use migcheck_core::config::Config;
use migcheck_core::diagnostic::{Diagnostic, Kind};
use migcheck_core::engine::any::Job;
use migcheck_core::engine::postgres::PgSnapshot;
use migcheck_core::engine::sqlite::schema::Snapshot;
use serde_json::json;

use super::common::{config, divergence, interrupted_text, migrations, plural, reported, version_text};
use crate::context::Context;
use crate::context::{CheckFormat, Output};
use crate::error::{Result, bail};
use crate::output::{diagnostic_json, print_diagnostics, print_json};
use crate::{db, exit};

/// `migcheck check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also report findings (`data-loss`, `data-dependent`) of sealed migrations, which are released
    /// and cannot change; by default only migrations not sealed yet get them.
    #[arg(long)]
    pub all: bool,

    /// Compare with a git ref (the base branch, e.g. `origin/main`): list the migrations the branch adds
    /// or changes, fail early when the base sealed migrations this branch's lock does not know, and
    /// report findings only for the branch's migrations (unless --all).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,

    /// Compare each SQLite database of a fleet with the schema its applied migrations make.
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck check`; exit 0, 1 on errors, 4 when the live database drifted.
pub fn run(ctx: &Context, args: &Args, format: CheckFormat) -> Result<u8> {
    // Exactly what `cargo build` checks, locked mode included (`CI`, `MIGCHECK_LOCKED`).
    let mut config = config(ctx, true)?;
    config.locked = Config::locked_from_env(|name| std::env::var(name).ok());
    config.sealed_findings = args.all;
    // The base release's statements, run before and after each migration:
    // `breaking-change` proven. None found (or none readable): inferred.
    let running = args.base.as_deref().map(|base| crate::base::statements(&ctx.dir, base));
    if let Some(Ok(calls)) = &running
        && !calls.is_empty()
    {
        config.running_statements = Some(calls.clone());
    }
    let mut report = checker::check(&config);
    if let Some(base) = &args.base {
        // A comparison that stops early is an error in the report, so that
        // every output format still says it (a document, not nothing).
        match crate::base::compare(&ctx.dir, &report, base) {
            Err(e) => report.diagnostics.push(
                Diagnostic::error(Kind::Io, format!("cannot compare with `{base}`: {e:#}"))
                    .help("name a branch or commit of this repository, e.g. `--base origin/main`"),
            ),
            Ok(compared) if !compared.unknown_sealed.is_empty() => {
                let versions: Vec<String> = compared.unknown_sealed.iter().map(i64::to_string).collect();
                report.diagnostics.push(
                    Diagnostic::error(
                        Kind::LockConflict,
                        format!(
                            "`{base}` sealed migration{} {} that this branch's lock does not know: the lock chains conflict",
                            if versions.len() == 1 { "" } else { "s" },
                            versions.join(", ")
                        ),
                    )
                    .help(format!(
                        "merge `{base}` into this branch, run `migcheck rebase` so that your migrations come after its, then `migcheck lock`"
                    )),
                );
            }
            Ok(compared) => {
                if !args.all {
                    report
                        .diagnostics
                        .retain(|d| !d.kind.is_finding() || d.version.is_none_or(|v| compared.touched.contains(&v)));
                }
                if let Some(note) = deploy_order(ctx, &config, &report, &compared.touched) {
                    report.diagnostics.push(note);
                }
                if format == CheckFormat::Text {
                    let touched: Vec<String> = compared.touched.iter().map(i64::to_string).collect();
                    println!(
                        "compared with `{base}`: this branch adds or changes {}",
                        if touched.is_empty() {
                            "no migration".to_owned()
                        } else {
                            format!("migration{} {}", if touched.len() == 1 { "" } else { "s" }, touched.join(", "))
                        }
                    );
                    match config.running_statements.as_ref().map(Vec::len) {
                        Some(n) => println!(
                            "`{base}`'s code has {n} statement{} (sql!, sqlx::query!): each is prepared before and after the branch's migrations",
                            plural(n)
                        ),
                        None => println!(
                            "`{base}`'s code has no sql! or sqlx::query! statement: breaking changes are inferred from the columns"
                        ),
                    }
                }
            }
        }
    }
    if args.each.is_set() {
        if report.has_errors() {
            print_diagnostics(report.errors());
            eprintln!(
                "error: {} error(s) in `{}`; fix them before comparing the fleet",
                report.errors().count(),
                ctx.dir.display()
            );
            return Ok(exit::ERROR);
        }
        return fleet_drift(ctx, &args.each, &report);
    }
    let live = match (&ctx.database_url, report.has_errors()) {
        (Some(url), false) => Some(live_drift(ctx, url, &report)?),
        _ => None,
    };
    let drifted = live.as_ref().is_some_and(|(_, d)| !d.is_empty());
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    let notes = report.notes().count();
    let ending = Ok(if errors > 0 {
        exit::ERROR
    } else if drifted {
        exit::DIVERGENT
    } else {
        exit::OK
    });
    match format {
        CheckFormat::Github => {
            print!("{}", crate::formats::github(&report));
            return ending;
        }
        CheckFormat::Sarif => {
            print_json(&crate::formats::sarif(&report));
            return ending;
        }
        CheckFormat::Junit => {
            print!("{}", crate::formats::junit(&report));
            return ending;
        }
        CheckFormat::Markdown => {
            print!("{}", crate::formats::markdown(&report));
            return ending;
        }
        CheckFormat::Text | CheckFormat::Json => {}
    }
    if format == CheckFormat::Json {
        print_json(&json!({
            "ok": errors == 0,
            "layout": report.layout.name(),
            "errors": errors,
            "warnings": warnings,
            "notes": notes,
            "diagnostics": report.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "accepted": report.accepted.iter().map(|a| json!({ "version": a.version, "code": a.code, "hash": a.hash })).collect::<Vec<_>>(),
            "accepted_in_lock": report.accepted_in_lock(),
            // With --base: how many of the base's statements proved `breaking-change` (null: inferred).
            "running_statements": config.running_statements.as_ref().map(Vec::len),
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
                match (warnings, notes) {
                    (0, 0) => String::new(),
                    (w, 0) => format!(" ({w} warning{})", plural(w)),
                    (0, n) => format!(" ({n} note{})", plural(n)),
                    (w, n) => format!(" ({w} warning{}, {n} note{})", plural(w), plural(n)),
                }
            );
            let accepted = report.accepted_in_lock();
            if accepted > 0 {
                println!("{accepted} finding{} of sealed migrations accepted in the lock", plural(accepted));
            }
        } else {
            eprintln!("error: {errors} error{} in `{}`", plural(errors), ctx.dir.display());
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

/// `deploy-order`: the branch's own statements (its working tree's `sql!`
/// and `sqlx::query!` call sites) that fail on the schema before its
/// migrations, as one note; nothing when there are none, or when the check
/// failed (there is no schema to try them on).
fn deploy_order(
    ctx: &Context,
    config: &Config,
    report: &Report,
    touched: &std::collections::BTreeSet<i64>,
) -> Option<Diagnostic> {
    let first = *touched.first()?;
    if report.has_errors() {
        return None;
    }
    let root = crate::base::project_root(&ctx.dir);
    let calls = migcheck_core::rust_source::crate_calls(&root).ok().filter(|c| !c.is_empty())?;
    let before = report.migrations.iter().map(|m| m.version).filter(|&v| v < first).max().unwrap_or(i64::MIN);
    let failing = checker::failing_before(config, report, before, &calls).ok()?;
    let (first_call, error) = failing.first()?;
    let mut d = Diagnostic::info(
        Kind::DeployOrder,
        format!(
            "{} of this branch's code fail{} on the schema before its migrations, the first (`{}:{}`): {error}",
            if failing.len() == 1 { "1 statement".to_owned() } else { format!("{} statements", failing.len()) },
            if failing.len() == 1 { "s" } else { "" },
            first_call.file.display(),
            first_call.line,
        ),
    );
    for (call, error) in failing.iter().take(10) {
        d = d.note(format!(
            "`{}:{}:{}` ({}!) fails: {error}",
            call.file.display(),
            call.line,
            call.column,
            call.macro_name
        ));
    }
    Some(d.help(
        "apply the migrations before the new code serves (`MIGRATIONS.upgrade` at start-up, or `migcheck upgrade` \
         before the deploy), or make the code work on both schemas",
    ))
}

/// `check --each`: each SQLite database of the fleet against the schema its
/// applied migrations make (each version's schema replayed once); exit 4 if
/// one drifted, 1 if one cannot be compared.
fn fleet_drift(ctx: &Context, each: &super::fleet::Each, report: &Report) -> Result<u8> {
    let migrations = migrations(ctx, report);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if let Some((url, schemas)) = each.schemas(ctx, &runtime)? {
        if url.starts_with("mysql://") {
            bail!(
                "`check --each-schema` compares PostgreSQL schemas; compare each MySQL database with \
                 `check --database-url mysql://…/<database>`"
            );
        }
        return schemas_drift(ctx, report, &migrations, &runtime, &url, &schemas);
    }
    let mut expected: std::collections::HashMap<i64, Snapshot> = std::collections::HashMap::new();
    let mut results: Vec<(String, Result<Vec<String>>)> = Vec::new();
    for path in each.paths()? {
        let compared = (|| -> Result<Vec<String>> {
            let Some(conn) = db::open_existing(&db::Target::File(path.clone()))? else {
                bail!("it does not exist");
            };
            let status = migrations.status(&conn)?;
            refuse_unsettled(&migrations, &status)?;
            let version = status.current().unwrap_or(migcheck::BASE);
            let schema = match expected.entry(version) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(checker::schema_at(report, Some(version)).map_err(|d| anyhow!(d.render()))?)
                }
            };
            let live = Snapshot::read(&conn, &[&ctx.history_table])?;
            let label = format!("the database at version {}", version_text(status.current()));
            let diff = migcheck_core::engine::sqlite::schema::compare(schema, &live, &report.scratch)?;
            Ok(diff.describe("its migrations", &label))
        })();
        results.push((path.display().to_string(), compared));
    }
    Ok(print_drift(ctx, results))
}

/// `check --each-schema`: each tenant schema against the schema its applied
/// migrations make on a scratch database (each version replayed once).
fn schemas_drift(
    ctx: &Context,
    report: &Report,
    migrations: &migcheck::Migrations,
    runtime: &tokio::runtime::Runtime,
    url: &str,
    schemas: &[String],
) -> Result<u8> {
    let config = config(ctx, false)?;
    // Each version's expected schema is replayed on a scratch database.
    if config.postgres_scratch.is_none() {
        return Err(reported(Job::Replay.no_scratch_server()));
    }
    let mut expected: std::collections::HashMap<i64, PgSnapshot> = Default::default();
    let mut results: Vec<(String, Result<Vec<String>>)> = Vec::new();
    for schema in schemas {
        let compared = (|| -> Result<Vec<String>> {
            let status = runtime.block_on(migrations.status_postgres_schema(url, schema))?;
            refuse_unsettled(migrations, &status)?;
            let version = status.current().unwrap_or(migcheck::BASE);
            let snapshot = match expected.entry(version) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(postgres_replay(&config, report, Some(version)).map_err(|d| anyhow!(d.render()))?)
                }
            };
            let live = migcheck_core::engine::postgres::live_snapshot_of_schema(url, schema, &ctx.history_table)
                .map_err(|e| anyhow!("cannot read schema `{schema}`: {e}"))?;
            let label = format!("schema `{schema}` at version {}", version_text(status.current()));
            Ok(migcheck_core::engine::postgres::diff(snapshot, &live, "its migrations", &label))
        })();
        results.push((schema.clone(), compared));
    }
    Ok(print_drift(ctx, results))
}

/// The fleet's drift: each database's differences (or why it could not be
/// compared); exit 4 if one drifted, 1 if one could not be compared.
fn print_drift(ctx: &Context, results: Vec<(String, Result<Vec<String>>)>) -> u8 {
    let (mut drifted, mut failed) = (0, 0);
    let rows: Vec<serde_json::Value> = results
        .into_iter()
        .map(|(db, compared)| match compared {
            Ok(differences) => {
                if !differences.is_empty() {
                    drifted += 1;
                }
                json!({ "database": db, "drift": differences, "error": null })
            }
            Err(err) => {
                failed += 1;
                let message = match err {
                    crate::error::Failure::Error { error, .. } => crate::error::Failure::message(&error),
                    crate::error::Failure::Reported(_) => "cannot be compared".to_owned(),
                };
                json!({ "database": db, "drift": [], "error": message })
            }
        })
        .collect();
    if ctx.output == Output::Json {
        print_json(&json!({ "databases": rows, "drifted": drifted, "failed": failed }));
    } else {
        for r in &rows {
            let db = r["database"].as_str().unwrap_or_default();
            match (r["error"].as_str(), r["drift"].as_array()) {
                (Some(e), _) => println!("{db}: cannot compare: {e}"),
                (None, Some(d)) if d.is_empty() => println!("{db}: its schema is what its applied migrations make"),
                (None, Some(d)) => {
                    println!("{db}: changed outside its migrations:");
                    for line in d {
                        println!("  {}", line.as_str().unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        println!("{} databases: {drifted} drifted, {failed} could not be compared", rows.len());
    }
    if failed > 0 {
        exit::ERROR
    } else if drifted > 0 {
        exit::DIVERGENT
    } else {
        exit::OK
    }
}

/// Differences between a live database and the schema its applied
/// migrations should have made, described.
/// The PostgreSQL schema the migrations of `report` up to `version` make,
/// replayed on a scratch database.
fn postgres_replay(config: &Config, report: &Report, version: Option<i64>) -> Result<PgSnapshot, Diagnostic> {
    let engine = migcheck_core::engine::any::postgres(config, &report.scratch, Job::Replay)?;
    checker::replay(&engine, report, version)?.snapshot()
}

fn live_drift(ctx: &Context, url: &str, report: &Report) -> Result<(String, Vec<String>)> {
    let target = db::parse(url)?;
    let migrations = migrations(ctx, report);
    if let db::Target::Mysql(live_url) = &target {
        let database = db::Database::connect(&target, false)?.ok_or_else(|| anyhow!("cannot open the database"))?;
        let status = database.status(&migrations)?;
        refuse_unsettled(&migrations, &status)?;
        let engine =
            migcheck_core::engine::any::mysql(&config(ctx, false)?, &report.scratch, Job::Replay).map_err(reported)?;
        let expected = checker::replay(&engine, report, Some(status.current().unwrap_or(0)))
            .and_then(|mut db| db.snapshot())
            .map_err(reported)?;
        let live = migcheck_core::engine::mysql::live_snapshot(live_url, &ctx.history_table)
            .map_err(|e| anyhow!("cannot read `{}`: {e}", target.describe()))?;
        let label = format!("the database at version {}", version_text(status.current()));
        // A live database may have been created with other defaults than
        // the scratch one: tables' default character sets are not compared.
        let (expected, live) = (expected.without_table_charsets(), live.without_table_charsets());
        return Ok((target.describe(), migcheck_core::engine::mysql::diff(&expected, &live, "its migrations", &label)));
    }
    if let db::Target::Postgres(live_url) = &target {
        let database = db::Database::connect(&target, false)?.ok_or_else(|| anyhow!("cannot open the database"))?;
        let status = database.status(&migrations)?;
        refuse_unsettled(&migrations, &status)?;
        let expected =
            postgres_replay(&config(ctx, false)?, report, Some(status.current().unwrap_or(0))).map_err(reported)?;
        let live = migcheck_core::engine::postgres::live_snapshot(live_url, &ctx.history_table)
            .map_err(|e| anyhow!("cannot read `{}`: {e}", target.describe()))?;
        let label = format!("the database at version {}", version_text(status.current()));
        return Ok((
            target.describe(),
            migcheck_core::engine::postgres::diff(&expected, &live, "its migrations", &label),
        ));
    }
    let Some(conn) = db::open_existing(&target)? else {
        bail!("the database `{}` does not exist", target.describe());
    };
    let status = migrations.status(&conn)?;
    refuse_unsettled(&migrations, &status)?;
    let expected = checker::schema_at(report, Some(status.current().unwrap_or(0))).map_err(|d| anyhow!(d.render()))?;
    let live = Snapshot::read(&conn, &[&ctx.history_table])?;
    let label = format!("the database at version {}", version_text(status.current()));
    let diff = migcheck_core::engine::sqlite::schema::compare(&expected, &live, &report.scratch)?;
    Ok((target.describe(), diff.describe("its migrations", &label)))
}

/// A live database can only be compared with a version it is at: not one
/// that diverges, nor one with a file stopped part-way.
fn refuse_unsettled(migrations: &migcheck::Migrations, status: &migcheck::Status) -> Result<()> {
    if !status.divergent.is_empty() || !status.unknown.is_empty() {
        return Err(divergence(status));
    }
    if let Some(i) = &status.interrupted {
        bail!(
            "the database is between two versions, so there is no schema to compare it with: migration {}",
            interrupted_text(migrations, i)
        );
    }
    Ok(())
}
