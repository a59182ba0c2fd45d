//! `migcheck explain <version>`: what each statement of a migration does on
//! a database at the version before it (locks, rewrites, rows, time), the
//! report a reviewer wants beside the findings.

use serde_json::json;

use super::common::{checked, config, reported};
use crate::context::Context;
use crate::context::Output;
use crate::error::Result;
use crate::exit;
use crate::output::print_json;

/// `migcheck explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The migration's version.
    pub version: i64,
}

/// Runs `migcheck explain`: one row per statement of the migration's up.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let report = checked(ctx, true)?;
    let config = config(ctx, true)?;
    let traces = match migcheck_core::check::explain(&config, &report, args.version) {
        Ok(traces) => traces,
        Err(d) => return Err(reported(d)),
    };
    let m = report.migrations.iter().find(|m| m.version == args.version).expect("explain found it");
    if ctx.output == Output::Json {
        print_json(&json!({
            "version": m.version,
            "name": m.description,
            "file": m.up.file.display,
            "statements": traces.iter().map(|t| json!({
                "line": t.line,
                "statement": t.statement,
                "locks": t.locks,
                "rewritten": t.rewritten,
                "rows": t.rows,
                "ms": t.elapsed.as_secs_f64() * 1e3,
            })).collect::<Vec<_>>(),
        }));
        return Ok(exit::OK);
    }
    println!(
        "migration {} `{}` ({}), run on a scratch database at the version before it:",
        m.version, m.description, m.up.file.display
    );
    let rows: Vec<[String; 6]> = traces
        .iter()
        .map(|t| {
            let mut statement = t.statement.clone();
            if statement.chars().count() > 60 {
                statement = statement.chars().take(59).collect::<String>() + "…";
            }
            [
                t.line.to_string(),
                format!("{:.1} ms", t.elapsed.as_secs_f64() * 1e3),
                t.rows.to_string(),
                if t.locks.is_empty() { "-".into() } else { t.locks.join(", ") },
                if t.rewritten.is_empty() { "-".into() } else { t.rewritten.join(", ") },
                statement,
            ]
        })
        .collect();
    let header = ["line", "time", "rows", "locks", "rewrites", "statement"];
    let widths: Vec<usize> =
        (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    let line = |cells: [&str; 6]| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
    }
    Ok(exit::OK)
}
