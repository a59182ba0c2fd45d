//! `migcheck queries`: the statements the crate's code checks at compile
//! time, read from its sources without compiling them.

use migcheck_core::rust_source::{self, Call, Via};
use serde_json::json;

use super::common::plural;
use crate::base::project_root;
use crate::context::{Context, Output};
use crate::error::Result;
use crate::exit;
use crate::output::print_json;

/// `migcheck queries`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The macro as a user writes it: `sqlx::query_as!`, `migcheck::sql!`.
fn qualified(call: &Call) -> String {
    let krate = match call.via {
        Via::Migcheck => "migcheck",
        Via::Sqlx => "sqlx",
    };
    format!("{krate}::{}!", call.macro_name)
}

/// Runs `migcheck queries`: every `sql!`/`statement!` and sqlx `query!`
/// family call site with a literal statement, in file order.
pub fn run(ctx: &Context, _args: &Args) -> Result<u8> {
    let root = project_root(&ctx.dir);
    let calls = rust_source::crate_calls(&root)
        .map_err(|e| anyhow::anyhow!("cannot read the Rust sources under `{}`: {e}", root.display()))?;
    if ctx.output == Output::Json {
        print_json(&json!({
            "root": root.display().to_string(),
            "statements": calls.iter().map(|c| json!({
                "file": c.file.display().to_string(),
                "line": c.line,
                "column": c.column,
                "macro": qualified(c),
                "checked_by": match c.via { Via::Migcheck => "migcheck", Via::Sqlx => "sqlx" },
                "sql": c.sql,
            })).collect::<Vec<_>>(),
        }));
        return Ok(exit::OK);
    }
    for c in &calls {
        let sql = c.sql.split_whitespace().collect::<Vec<_>>().join(" ");
        println!("{}:{}:{}  {}  {sql}", c.file.display(), c.line, c.column, qualified(c));
    }
    let ours = calls.iter().filter(|c| c.via == Via::Migcheck).count();
    let theirs = calls.len() - ours;
    println!(
        "{} statement{} in `{}` ({ours} migcheck::sql!/statement!, {theirs} sqlx::query! family)",
        calls.len(),
        plural(calls.len()),
        root.display()
    );
    if calls.is_empty() {
        println!(
            "help: write the program's SQL through `migcheck::sql!(\"…\")` (rusqlite) or `sqlx::query!` with \
             `.expose_database()` in build.rs, and `cargo build` checks it against the migrations"
        );
    }
    Ok(exit::OK)
}
