//! `migrations!("dir")`: the checks `cargo build` runs with `migcheck-build`,
//! as a procedural macro, for users coming from `sqlx::migrate!()`.
//!
//! The directory is relative to the package root (`CARGO_MANIFEST_DIR`),
//! `migrations` by default. Every problem becomes a `compile_error!` carrying
//! the same rustc-style text the build script prints. The expansion
//! `include_bytes!`s each file (migrations, lock, schema, fixtures), so rustc
//! expands the macro again when one of them changes. Limits, from how procedural macros work: a file added to the
//! directory is seen only when the crate is rebuilt for another reason (the
//! build script has no such limit), warnings (unsealed migrations) cannot be
//! shown, and the environment variables the build script reads (`CI`,
//! `MIGCHECK_LOCKED`, `MIGCHECK_TIMEOUT`, `MIGCHECK_SCRATCH_URL`,
//! `MIGCHECK_DATA`) are read but not tracked.

#![warn(missing_docs)]

mod sql;

use std::path::{Path, PathBuf};

use proc_macro::{Literal, TokenStream, TokenTree};

use migcheck_core::check;

use migcheck_core::codegen;
use migcheck_core::config::Config;
use migcheck_core::scan::display_path;

/// Checks the migrations in `dir` (default `"migrations"`) at compile time and
/// expands to a `migcheck::Migrations` value:
///
/// ```text
/// static MIGRATIONS: migcheck::Migrations = migcheck::migrations!("migrations");
/// ```
#[proc_macro]
pub fn migrations(input: TokenStream) -> TokenStream {
    match expand(input) {
        Ok(tokens) => tokens,
        Err(message) => error(&message),
    }
}

/// One SQL statement of the application's, checked at compile time against
/// the database the migrations make, expanding to the `&'static str` itself.
///
/// The build script keeps that database when asked
/// (`migcheck_build::Build::new().expose_database().run()`); the statement
/// is prepared on it (SQLite; PostgreSQL: described by the server, nothing
/// run). A statement that does not prepare (a misspelt column, a missing
/// table, a syntax error) is a compile error quoting the database's message
/// with a caret under the word it points at. After the SQL, the call may
/// say which parameters it binds, checked against the statement's: their
/// names (`owner` for `:owner`, `@owner` or `$owner`), or their number for
/// positional ones.
///
/// ```text
/// let mut stmt = conn.prepare(migcheck::sql!("SELECT id, name FROM pets WHERE owner_id = :owner", owner))?;
/// let rows = stmt.query(rusqlite::named_params! { ":owner": owner })?;
/// ```
#[proc_macro]
pub fn sql(input: TokenStream) -> TokenStream {
    sql::expand(input, false)
}

/// As [`sql!`], expanding to a `migcheck::Statement`: the SQL with what the
/// prepared statement knows (its result columns' names, its parameters), as
/// constants a row mapping can be checked with.
///
/// ```text
/// const PETS: migcheck::Statement = migcheck::statement!("SELECT id, name FROM pets WHERE owner_id = ?1", 1);
/// const _: () = assert!(PETS.columns.len() == 2);
/// ```
#[proc_macro]
pub fn statement(input: TokenStream) -> TokenStream {
    sql::expand(input, true)
}

fn expand(input: TokenStream) -> Result<TokenStream, String> {
    let dir = match input.into_iter().collect::<Vec<_>>().as_slice() {
        [] => "migrations".to_owned(),
        [TokenTree::Literal(lit)] => {
            string_literal(lit).ok_or("expected a string literal: `migrations!(\"migrations\")`")?
        }
        _ => return Err("expected one string literal, the migrations directory: `migrations!(\"migrations\")`".into()),
    };
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let dir_path = manifest_dir.join(&dir);
    let mut config =
        Config::from_env(&dir_path, |name| std::env::var(name).ok()).map_err(|e| format!("migcheck: {e}"))?;
    config.display_base = manifest_dir.clone();
    config.keep_schema = false;
    let report = check::check(&config);
    if report.has_errors() {
        // rustc prefixes `error: `; `migcheck[code]` reads better after it than `error[code]`.
        let text: Vec<String> = report.errors().map(|d| d.render().replacen("error[", "migcheck[", 1)).collect();
        return Err(text.join("\n\n"));
    }
    // `include_bytes!` of every file read: rustc re-expands when one changes.
    let mut items = String::new();
    let mut track = |path: &Path| {
        if path.exists() {
            items.push_str(&format!("const _: &[u8] = ::core::include_bytes!({:?});\n", path.display().to_string()));
        }
    };
    for m in &report.migrations {
        track(&m.up.file.path);
        if let Some(down) = &m.down {
            track(&down.file.path);
        }
    }
    track(&config.lock_path());
    if let Some(schema) = &config.schema {
        track(schema);
    }
    for fixture in &report.fixtures {
        track(fixture);
    }
    if let Some(prelude) = &report.prelude {
        track(&prelude.file.path);
    }
    if let Some(baseline) = &report.baseline {
        track(&baseline.script.file.path);
        if let Some(down) = &baseline.down {
            track(&down.file.path);
        }
    }
    let shown = display_path(&dir_path, &manifest_dir);
    codegen::render_with(
        &report.migrations,
        codegen::Squash {
            baseline: report.baseline.as_ref(),
            squashed: &report.squashed,
            foreign_keys_off: report.lock.foreign_keys_off || !report.scratch.foreign_keys,
        },
        &shown,
        &items,
    )
    .parse()
    .map_err(|e| format!("migcheck: cannot expand: {e}"))
}

/// The value of a plain or raw string literal.
fn string_literal(lit: &Literal) -> Option<String> {
    let text = lit.to_string();
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        return raw.get(hashes + 1..raw.len() - hashes - 1).map(str::to_owned);
    }
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        return None; // escapes in a path: not worth supporting
    }
    Some(inner.to_owned())
}

fn error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?})").parse().unwrap_or_default()
}
