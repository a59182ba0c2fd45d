//! `migcheck init`: the migrations directory, an empty lock, `schema.sql` and `build.rs`.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use migcheck_core::lock::{self as lock_file, Lock};

use crate::context::Context;
use crate::error::Result;
use crate::exit;

/// `migcheck init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL dialect of the migrations, recorded in the lock file.
    #[arg(long, value_enum, default_value_t = Dialect::Sqlite)]
    pub dialect: Dialect,
}

/// The dialect `init` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    Sqlite,
    Postgres,
    /// MySQL and MariaDB (`mariadb` is the same dialect).
    #[value(alias = "mariadb")]
    Mysql,
}

/// Runs `migcheck init`; never overwrites a file.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let dialect = args.dialect;
    let dir = &ctx.dir;
    if dir.is_dir() {
        println!("{} exists", dir.display());
    } else {
        fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
        println!("created {}/", dir.display());
    }
    let lock_path = dir.join(lock_file::FILE_NAME);
    if lock_path.exists() {
        println!("{} exists", lock_path.display());
    } else {
        let dialect = match dialect {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(migcheck_core::model::Dialect::Postgres),
            Dialect::Mysql => Some(migcheck_core::model::Dialect::Mysql),
        };
        let lock = Lock { dialect, ..Lock::default() };
        fs::write(&lock_path, lock.render()).with_context(|| format!("cannot write `{}`", lock_path.display()))?;
        println!("created {}", lock_path.display());
    }
    // Created now so that the build script watches it: a file that appears
    // later is not seen until something else re-runs the build script.
    let schema = migcheck_core::config::default_schema_path(dir);
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
