//! Running the migrations: the checks that execute SQL, written once for
//! every [`Engine`].
//!
//! Each migration runs up; a reversible one then runs down, which must give
//! back the schema the up started from, and up again. Running stops at the
//! first migration that fails, since the ones after it would run on a schema
//! it did not produce. Then the migrated schema is compared with the declared
//! one (`schema.sql`), run on a fresh scratch database of the same engine.

use std::fs;

use crate::checksum;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::Engine;
use crate::lexer;
use crate::model::{Config, Migration, Mode, Script, SourceFile};
use crate::scan::display_path;

use super::{Clock, Report};

/// The schemas a run produced, in the engine's form.
pub(crate) struct Outcome<S> {
    /// The migrated schema, when every migration ran and it was asked for.
    pub migrated: Option<S>,
    /// The declared schema, when there is a schema file and it ran.
    pub declared: Option<S>,
}

/// Runs every migration of `report` on `engine`, from the cache where the
/// engine has one, then the drift check.
pub(crate) fn execute<E: Engine>(config: &Config, mut engine: E, report: &mut Report) -> Outcome<E::Schema> {
    let mut outcome = Outcome { migrated: None, declared: None };
    let mut clock = Clock::start();
    report.executed = true;
    // The leading sealed migrations: their result can come from a cache.
    let sealed = report.migrations.iter().take_while(|m| m.sealed).count();
    let mut start = 0;
    if sealed > 0 && engine.resume(&report.migrations, sealed) {
        start = sealed;
        report.from_cache = true;
    }
    clock.lap(&mut report.timings, "sql/restore");
    if start < sealed {
        let before = report.diagnostics.len();
        if !run_range(&mut engine, report, start..sealed) {
            return outcome;
        }
        if report.diagnostics.len() == before {
            engine.checkpoint(&report.migrations, sealed);
        }
    }
    if !run_range(&mut engine, report, sealed.max(start)..report.migrations.len()) {
        return outcome;
    }
    clock.lap(&mut report.timings, "sql/run");
    let declared = declared_script(config, &mut report.diagnostics);
    if config.keep_schema || declared.is_some() {
        match engine.schema() {
            Ok(schema) => outcome.migrated = Some(schema),
            Err(d) => {
                report.diagnostics.push(d);
                return outcome;
            }
        }
    }
    clock.lap(&mut report.timings, "sql/schema");
    if let (Some(script), Some(migrated)) = (declared, &outcome.migrated) {
        outcome.declared = check_drift(&engine, &script, migrated, &mut report.diagnostics);
    }
    clock.lap(&mut report.timings, "sql/drift");
    outcome
}

/// Runs `report.migrations[range]`; false after the first that failed (its
/// diagnostic pushed).
fn run_range<E: Engine>(engine: &mut E, report: &mut Report, range: std::ops::Range<usize>) -> bool {
    let total = report.migrations.len();
    for i in range {
        let m = &report.migrations[i];
        if let Err(mut d) = run_migration(engine, m, &mut report.diagnostics) {
            d.version = Some(m.version);
            let later = total - i - 1;
            if later > 0 {
                d.notes.push(format!("the {later} later migration{} were not run", if later == 1 { "" } else { "s" }));
            }
            report.diagnostics.push(d);
            return false;
        }
    }
    true
}

/// Up; for a reversible migration also down (which must restore the schema
/// the up started from) and up again.
pub(crate) fn run_migration<E: Engine>(
    engine: &mut E,
    m: &Migration,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let Some(down) = &m.down else {
        return engine.run(&m.up, warnings);
    };
    let before = engine.schema()?;
    engine.run(&m.up, warnings)?;
    engine.run(down, warnings).map_err(|d| d.note("this happened checking that the down migration undoes the up"))?;
    let after = engine.schema()?;
    if before != after {
        let differences =
            engine.differences(&before, &after, "the schema before the up", "the schema after the down")?;
        if !differences.is_empty() {
            let mut d = Diagnostic::error(
                Kind::IrreversibleDown,
                format!("`{}` does not restore the schema its up migration started from", down.file.file_name()),
            )
            .at(Location::file(&down.file.display));
            for line in differences {
                d = d.note(line);
            }
            return Err(d.help(
                "make the down migration undo exactly what the up does (each reversible migration is checked up, down, up)",
            ));
        }
    }
    engine.run(&m.up, warnings).map_err(|d| d.note("this happened applying the up migration again after its down"))
}

/// The schema the up migrations of `migrations` up to `version` (all when
/// `None`) produce on a fresh database of `engine`'s kind: what a live
/// database at that version should have.
pub(crate) fn replay<E: Engine>(engine: &E, migrations: &[Migration], version: Option<i64>) -> Result<E, Diagnostic> {
    let mut fresh = engine.fresh()?;
    let mut warnings = Vec::new();
    for m in migrations.iter().filter(|m| version.is_none_or(|v| m.version <= v)) {
        fresh.run(&m.up, &mut warnings)?;
    }
    Ok(fresh)
}

/// The schema file as a script to run, when there is one with statements.
/// A missing file is an error only when it was asked for by name.
fn declared_script(config: &Config, diagnostics: &mut Vec<Diagnostic>) -> Option<Script> {
    let path = config.schema.as_ref()?;
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
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !config.schema_required => return None,
        Err(err) => {
            diagnostics.push(
                Diagnostic::error(Kind::Io, format!("cannot read the schema file `{shown}`: {err}"))
                    .at(Location::file(&shown))
                    .help("create it, or remove the `.schema(…)` setting"),
            );
            return None;
        }
    };
    if !lexer::outline(&text).has_statements {
        return None;
    }
    let file = SourceFile {
        path: path.clone(),
        display: shown,
        checksum: checksum::checksum(text.as_bytes()),
        text,
        analysis: Default::default(),
    };
    let sql = file.text[file.bom_len()..].to_owned();
    Some(Script { file, sql, mode: Mode::Transaction })
}

/// Runs the schema file on a fresh database and compares what it declares
/// with `migrated`; returns the declared schema.
fn check_drift<E: Engine>(
    engine: &E,
    script: &Script,
    migrated: &E::Schema,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<E::Schema> {
    match declared_schema(engine, script, diagnostics) {
        Ok((mut fresh, declared)) => {
            let name = script.file.file_name();
            match fresh.differences(migrated, &declared, "the migrations", &name) {
                Ok(differences) if differences.is_empty() => {}
                Ok(differences) => diagnostics.push(drift(engine, script, differences)),
                Err(d) => diagnostics.push(d),
            }
            Some(declared)
        }
        Err(d) => {
            diagnostics.push(d);
            None
        }
    }
}

/// The schema `script` (the schema file) makes on an empty database, and that
/// database.
fn declared_schema<E: Engine>(
    engine: &E,
    script: &Script,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<(E, E::Schema), Diagnostic> {
    let mut fresh = engine.fresh()?;
    fresh.run(script, diagnostics).map_err(|d| {
        d.note(format!(
            "`{}` declares the schema the migrations must produce; it must run on an empty database",
            script.file.display
        ))
    })?;
    let schema = fresh.schema()?;
    Ok((fresh, schema))
}

/// The drift error: what differs, and how to resolve it.
fn drift<E: Engine>(engine: &E, script: &Script, differences: Vec<String>) -> Diagnostic {
    let shown = &script.file.display;
    let mut d =
        Diagnostic::error(Kind::Drift, format!("the migrations do not produce the schema declared in `{shown}`"))
            .at(Location::file(shown));
    for line in differences {
        d = d.note(line);
    }
    d.help(if engine.generates_migrations() {
        format!(
            "run `migcheck diff -m \"<what changed>\"` to generate a migration from the migrated schema to `{shown}`, or edit `{shown}`"
        )
    } else {
        format!("write a migration that takes the migrated schema to `{shown}`, or edit `{shown}`")
    })
}
