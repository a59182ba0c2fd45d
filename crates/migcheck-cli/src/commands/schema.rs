//! `migcheck schema` and `migcheck show`: the schema at a version (from a
//! scratch database the migrations are replayed on, or a live database) as
//! SQL, a Mermaid diagram, Graphviz dot or JSON, and what one migration
//! changed.

use anyhow::anyhow;
use migcheck_core::check::{self as checker, Report};
use migcheck_core::schema::model::{Changes, Model};
use serde_json::json;

use super::common::{checked, config, migrations, optional_status, parse_target, reported};
use crate::context::Context;
use crate::context::{SchemaFormat, ShowFormat};
use crate::error::Result;
use crate::error::bail;
use crate::output::print_json;
use crate::{db, exit};

/// `migcheck schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The version (default: the newest migration; `base`: none).
    #[arg(long, value_parser = parse_target)]
    pub at: Option<i64>,
}

/// `migcheck show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The migration's version.
    pub version: i64,
}

/// The model of the schema the migrations make up to `version` (all when
/// `None`), replayed on a scratch database of the project's engine.
fn model_at(ctx: &Context, report: &Report, version: Option<i64>) -> Result<Model> {
    let result = checker::model_at(&config(ctx, false)?, report, version);
    result.map_err(reported)
}

/// The model of a live database (its history table left out).
fn live_model(ctx: &Context, url: &str) -> Result<Model> {
    let target = db::parse(url)?;
    match &target {
        db::Target::Postgres(url) => migcheck_core::engine::postgres::live_model(url, &ctx.history_table)
            .map_err(|e| anyhow!("cannot read `{}`: {e}", target.describe()).into()),
        db::Target::Mysql(url) => migcheck_core::engine::mysql::live_model(url, &ctx.history_table)
            .map_err(|e| anyhow!("cannot read `{}`: {e}", target.describe()).into()),
        _ => {
            let Some(conn) = db::open_existing(&target)? else {
                bail!("the database `{}` does not exist", target.describe());
            };
            Ok(migcheck_core::engine::sqlite::schema::model_of(&conn, &[&ctx.history_table])?)
        }
    }
}

/// Runs `migcheck schema`.
pub fn run_schema(ctx: &Context, args: &SchemaArgs, format: SchemaFormat) -> Result<u8> {
    let model = match &ctx.database_url {
        // Only an explicit `--database-url`: DATABASE_URL is for commands that migrate.
        Some(url) => live_model(ctx, url)?,
        None => {
            let report = checked(ctx, true)?;
            // `0` is base where no migration has that version; a version
            // squashed into a baseline whose files are gone is the
            // replay's to explain.
            let known = |v: i64| report.migrations.iter().any(|m| m.version == v) || report.lock.get(v).is_some();
            let at = args.at.map(|v| if v == 0 && !known(0) { migcheck::BASE } else { v });
            if let Some(v) = at
                && v != migcheck::BASE
                && !known(v)
            {
                bail!("there is no migration with version {v} in `{}`", ctx.dir.display());
            }
            model_at(ctx, &report, at)?
        }
    };
    match format {
        SchemaFormat::Mermaid => print!("{}", model.mermaid(None)),
        SchemaFormat::Dot => print!("{}", model.dot()),
        SchemaFormat::Json => print_json(&model_json(&model)),
        SchemaFormat::Sql => print!("{}", model.sql()),
    }
    Ok(exit::OK)
}

/// Runs `migcheck show`.
pub fn run_show(ctx: &Context, args: &ShowArgs, format: ShowFormat) -> Result<u8> {
    let report = checked(ctx, true)?;
    let Some(at) = report.migrations.iter().position(|m| m.version == args.version) else {
        bail!("there is no migration with version {} in `{}`", args.version, ctx.dir.display());
    };
    let m = &report.migrations[at];
    // The first migration after a baseline whose replaced files are gone
    // starts from the baseline.
    let squashed_into = report.standing_baseline().map(|b| b.version);
    let previous = match at {
        0 => squashed_into.unwrap_or(migcheck::BASE),
        _ => report.migrations[at - 1].version,
    };
    let before = model_at(ctx, &report, Some(previous))?;
    let after = model_at(ctx, &report, Some(m.version))?;
    let changes = after.changes(&before);
    let mut files: Vec<String> =
        std::iter::once(&m.up).chain(m.down.as_ref()).map(|s| s.file.display.clone()).collect();
    // Single-file layouts hold both halves in one file.
    files.dedup();
    let checksum = migcheck_core::checksum::to_hex(&m.up.file.checksum);
    let migrations = migrations(ctx, &report);
    let state = optional_status(ctx, &migrations)?.map(|(target, status)| {
        let row = status.applied.iter().find(|r| r.version == m.version);
        let state = match row {
            _ if status.interrupted.as_ref().is_some_and(|i| i.version == m.version) => "interrupted",
            Some(_) if status.divergent.contains(&m.version) => "divergent",
            Some(_) => "applied",
            None => "pending",
        };
        (target.describe(), state, row.map(|r| r.applied_at.clone()))
    });
    match format {
        ShowFormat::Mermaid => print!("{}", after.mermaid(Some((&changes, &before)))),
        ShowFormat::Json => print_json(&json!({
            "version": m.version,
            "name": m.description,
            "files": files,
            "sealed": m.sealed,
            "checksum": checksum,
            "database": state.as_ref().map(|s| s.0.clone()),
            "state": state.as_ref().map(|s| s.1),
            "applied_at": state.as_ref().and_then(|s| s.2.clone()),
            "changes": changes.lines,
        })),
        ShowFormat::Text => {
            println!("migration {} `{}`", m.version, m.description);
            println!("  files:   {}", files.join(", "));
            println!("  sealed:  {} (checksum {})", if m.sealed { "yes" } else { "no" }, &checksum[..16]);
            match &state {
                Some((db, state, Some(at))) => println!("  state:   {state} {at} ({db})"),
                Some((db, state, None)) => println!("  state:   {state} ({db})"),
                None => println!("  state:   (no DATABASE_URL)"),
            }
            print_changes(&changes);
        }
    }
    Ok(exit::OK)
}

fn print_changes(changes: &Changes) {
    if changes.is_empty() {
        println!("changes: none to the schema");
        return;
    }
    println!("changes:");
    for line in &changes.lines {
        println!("  {line}");
    }
}

/// The model as JSON: tables with columns and references, then the other objects.
fn model_json(model: &Model) -> serde_json::Value {
    let objects = |list: &[migcheck_core::schema::model::Object]| {
        list.iter().map(|o| json!({"kind": o.kind, "name": o.name, "table": o.table, "sql": o.sql})).collect::<Vec<_>>()
    };
    json!({
        "tables": model.tables.iter().map(|t| json!({
            "name": t.name,
            "columns": t.columns.iter().map(|c| json!({
                "name": c.name,
                "type": c.ty,
                "not_null": c.not_null,
                "primary_key": c.primary_key,
                "unique": c.unique,
                "default": c.default,
            })).collect::<Vec<_>>(),
            "foreign_keys": t.foreign_keys.iter().map(|r| json!({
                "columns": r.columns, "table": r.table, "to": r.to,
            })).collect::<Vec<_>>(),
            "sql": t.sql,
        })).collect::<Vec<_>>(),
        "indexes": objects(&model.indexes),
        "views": objects(&model.views),
        "triggers": objects(&model.triggers),
        "others": objects(&model.others),
    })
}
