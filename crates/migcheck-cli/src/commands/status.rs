//! `migcheck status`: a summary, with exit code 3 when migrations are pending (or one was interrupted
//! part-way) and 4 when the database diverges.

use serde_json::json;

use super::common::{checked, checked_status, interrupted_text, list, migrations, version_text};
use crate::context::Context;
use crate::context::Output;
use crate::error::Result;
use crate::exit;
use crate::output::print_json;

/// `migcheck status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fleet of SQLite databases instead of one.
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck status`; exit 3 when migrations are pending, 4 when the database diverges.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    if args.each.is_set() {
        let report = checked(ctx, false)?;
        return super::fleet::status(ctx, &args.each, &migrations(ctx, &report), true);
    }
    let (migrations, target, status) = checked_status(ctx)?;
    let code = if !status.divergent.is_empty() || !status.unknown.is_empty() {
        exit::DIVERGENT
    } else if !status.pending.is_empty() || status.interrupted.is_some() {
        exit::PENDING
    } else {
        exit::OK
    };
    if ctx.output == Output::Json {
        print_json(&json!({
            "database": target.describe(),
            "current": status.current(),
            "latest": migrations.latest(),
            "applied": status.applied.len(),
            "pending": status.pending,
            "divergent": status.divergent,
            "unknown": status.unknown,
            "interrupted": status.interrupted.as_ref().map(|i| json!({
                "version": i.version,
                "name": i.name,
                "direction": match i.direction { migcheck::Direction::Up => "up", migcheck::Direction::Down => "down" },
                "statements_run": i.done,
                "since": i.since,
                "message": interrupted_text(&migrations, i),
            })),
            "up_to_date": status.is_up_to_date(),
            "baseline": migrations.baseline().map(|b| json!({"version": b.version(), "name": b.name(), "path": b.script().path()})),
        }));
    } else {
        println!("database:  {}", target.describe());
        println!("current:   {}", version_text(status.current()));
        println!("latest:    {}", version_text(migrations.latest()));
        println!("applied:   {}", status.applied.len());
        println!("pending:   {}", list(&status.pending));
        if let Some(b) = migrations.baseline() {
            let first = migrations.iter().next().map_or(b.version(), |m| m.version());
            println!(
                "baseline:  {} (an empty database runs it instead of migrations {first} to {})",
                b.script().path(),
                b.version()
            );
        }
        if !status.divergent.is_empty() {
            println!("divergent: {} (applied, then edited)", list(&status.divergent));
        }
        if !status.unknown.is_empty() {
            println!("unknown:   {} (applied by a newer binary)", list(&status.unknown));
        }
        if let Some(i) = &status.interrupted {
            println!("interrupted: {}", interrupted_text(&migrations, i));
        }
    }
    Ok(code)
}
