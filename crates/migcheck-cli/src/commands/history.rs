//! `migcheck history`: every migration with its state.

use serde_json::json;

use super::common::{checked, interrupted_text, migrations, optional_status};
use crate::context::Context;
use crate::context::Output;
use crate::error::Result;
use crate::exit;
use crate::output::print_json;

/// `migcheck history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A fleet: how many of its databases are at each version.
    #[command(flatten)]
    pub each: super::fleet::Each,
}

/// Runs `migcheck history`.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let report = checked(ctx, false)?;
    let migrations = migrations(ctx, &report);
    if args.each.is_set() {
        return super::fleet::summary(ctx, &args.each, &migrations);
    }
    let status = optional_status(ctx, &migrations)?;
    let mut rows = Vec::new();
    // Migrations a baseline replaced whose files are gone are sealed.
    let sealed = |v: i64| report.migrations.iter().find(|c| c.version == v).is_none_or(|c| c.sealed);
    let baseline = report.baseline.as_ref().map(|b| (b.version, b.script.file.file_name()));
    let squashed_into = |v: i64| baseline.as_ref().filter(|(bv, _)| v <= *bv).map(|(_, name)| name.clone());
    for m in migrations.iter() {
        let (state, applied_at) = match &status {
            None => (if sealed(m.version()) { "sealed" } else { "unsealed" }, None),
            Some((_, s)) => {
                let row = s.applied.iter().find(|r| r.version == m.version());
                match row {
                    _ if s.interrupted.as_ref().is_some_and(|i| i.version == m.version()) => {
                        ("interrupted", s.interrupted.as_ref().map(|i| i.since.clone()))
                    }
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
    if ctx.output == Output::Json {
        print_json(&json!({
            "database": status.as_ref().map(|(t, _)| t.describe()),
            "migrations": rows.iter().map(|(v, n, s, at)| json!({"version": v, "name": n, "state": s, "applied_at": at, "squashed_into": squashed_into(*v)})).collect::<Vec<_>>(),
        }));
    } else {
        if rows.is_empty() {
            println!("no migrations in `{}`", ctx.dir.display());
        }
        for (v, n, s, at) in &rows {
            let squashed = squashed_into(*v).map_or_else(String::new, |b| format!("  (squashed into {b})"));
            match at {
                Some(at) => println!("{v}  {n}  {s} {at}{squashed}"),
                None => println!("{v}  {n}  {s}{squashed}"),
            }
        }
        if status.is_none() {
            println!("(no DATABASE_URL: showing whether each migration is sealed; set it to see what is applied)");
        }
        if let Some(i) = status.as_ref().and_then(|(_, s)| s.interrupted.as_ref()) {
            println!("interrupted: {}", interrupted_text(&migrations, i));
        }
    }
    Ok(exit::OK)
}
