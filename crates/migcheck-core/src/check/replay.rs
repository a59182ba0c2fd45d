//! Fresh databases brought to a version: the prelude, a baseline and the up
//! migrations run in order. Used by the pipeline, the baseline's proof and the
//! schema views.

use std::fs;

use crate::checksum;
use crate::config::Config;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::Engine;
use crate::lexer;
use crate::model::{Migration, Mode, Script, SourceFile};
use crate::scan::display_path;

/// The schema the up migrations of `migrations` up to `version` (all when
/// `None`) produce on a fresh database of `engine`'s kind, after `baseline`
/// when they start from one: what a live database at that version should
/// have.
pub(crate) fn replay<E: Engine>(
    engine: &E,
    prelude: Option<&Script>,
    baseline: Option<&Script>,
    migrations: &[Migration],
    version: Option<i64>,
) -> Result<E, Diagnostic> {
    let mut fresh = engine.fresh()?;
    run_prelude(&mut fresh, prelude)?;
    let mut warnings = Vec::new();
    if let Some(baseline) = baseline {
        fresh.run(baseline, &mut warnings)?;
    }
    for m in migrations.iter().filter(|m| version.is_none_or(|v| m.version <= v)) {
        fresh.run(&m.up, &mut warnings)?;
    }
    Ok(fresh)
}

/// The schema file as a script to run, when there is one with statements.
/// A missing file is an error only when it was asked for by name.
pub(super) fn declared_script(config: &Config, diagnostics: &mut Vec<Diagnostic>) -> Option<Script> {
    let path = config.schema.as_ref()?;
    sql_file(config, path, config.schema_required, "the schema file", "`.schema(…)`", diagnostics)
}

/// The prelude (`prelude.sql`): what the deployment creates outside the
/// migrations (an extension, a role, a schema), run on every scratch
/// database before the first migration and never at run time.
pub(crate) fn prelude_script(config: &Config, diagnostics: &mut Vec<Diagnostic>) -> Option<Script> {
    let path = config.prelude.as_ref()?;
    sql_file(config, path, config.prelude_required, "the prelude", "`.prelude(…)` / `--prelude`", diagnostics)
}

/// A SQL file beside the migrations, when there is one with statements; a
/// missing one is an error only when it was `required` (named).
fn sql_file(
    config: &Config,
    path: &std::path::Path,
    required: bool,
    what: &str,
    setting: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Script> {
    let shown = display_path(path, &config.display_base);
    let text = match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                diagnostics.push(
                    Diagnostic::error(Kind::InvalidText, format!("`{shown}` is not UTF-8 text"))
                        .at(Location::file(&shown))
                        .help("save it as UTF-8"),
                );
                return None;
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => return None,
        Err(err) => {
            diagnostics.push(
                Diagnostic::error(Kind::Io, format!("cannot read {what} `{shown}`: {err}"))
                    .at(Location::file(&shown))
                    .help(format!("create it, or remove the {setting} setting")),
            );
            return None;
        }
    };
    if !lexer::has_statements(&text) {
        return None;
    }
    let file = SourceFile {
        path: path.to_path_buf(),
        display: shown,
        checksum: checksum::checksum(text.as_bytes()),
        text,
        analysis: Default::default(),
    };
    let sql = file.text[file.bom_len()..].to_owned();
    Some(Script { file, sql, mode: Mode::Transaction, allow: Default::default() })
}

/// Runs the prelude on a database, its failure said as the prelude's.
pub(crate) fn run_prelude<E: Engine>(engine: &mut E, prelude: Option<&Script>) -> Result<(), Diagnostic> {
    let Some(prelude) = prelude else { return Ok(()) };
    engine.run(prelude, &mut Vec::new()).map_err(|mut d| {
        d.notes.retain(|n| !n.starts_with("each migration runs on"));
        d.note(format!(
            "`{}` is the prelude: it runs on every scratch database before the first migration, and never at run time",
            prelude.file.display
        ))
    })
}
