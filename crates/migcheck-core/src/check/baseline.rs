//! A squashed baseline (`<V>_<name>.baseline.sql`, `migcheck squash`): read
//! beside the migrations, compared with the lock's `baseline` line, and
//! proved on the engine: run alone on a fresh database, it must give the
//! schema and the rows the migrations up to `V` give, for as long as their
//! files are there. Once they are deleted, the lock's entries up to `V` stand
//! for them (the chain goes on through them) and the check starts from the
//! baseline.

use std::collections::BTreeSet;

use crate::checksum;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::Engine;
use crate::model::Digest;
use crate::model::{Baseline, Migration, Script, SourceFile, Squashed};
use crate::scan::{Part, display_path};

use super::report::Report;

/// Reads the directory's baseline into `report.baseline` (a second one is an
/// error), and the lock entries it replaces whose files are gone into
/// `report.squashed`: the migrations' chain then starts after them.
pub(super) fn take(
    report: &mut Report,
    found: Vec<(i64, String, bool, SourceFile)>,
    first_version: Option<i64>,
    dialect: crate::model::Dialect,
) {
    let (downs, mut found): (Vec<_>, Vec<_>) = found.into_iter().partition(|f| f.2);
    if found.len() > 1 {
        let names: Vec<String> = found.iter().map(|(_, _, _, f)| format!("`{}`", f.file_name())).collect();
        report.diagnostics.push(
            Diagnostic::error(Kind::BaselineMismatch, format!("two baselines: {}", names.join(", ")))
                .at(Location::file(&found[1].3.display))
                .help("keep the newest one: a later squash replaces the earlier baseline"),
        );
        found.truncate(1);
    }
    let up = found.pop();
    let mut down = None;
    for (v, d, _, file) in downs {
        match &up {
            Some((version, description, _, _)) if *version == v && *description == d && down.is_none() => {
                down = Some(file);
            }
            _ => report.diagnostics.push(
                Diagnostic::error(
                    Kind::BaselineMismatch,
                    format!("`{}` is not the down file of a baseline here", file.file_name()),
                )
                .at(Location::file(&file.display))
                .help(match &up {
                    Some((_, _, _, f)) => format!(
                        "name it after the baseline `{}`: `{}`",
                        f.file_name(),
                        f.file_name().replace(crate::name::BASELINE_SUFFIX, crate::name::BASELINE_DOWN_SUFFIX)
                    ),
                    None => "delete it, or restore its baseline".to_owned(),
                }),
            ),
        }
    }
    let Some((version, description, _, file)) = up else { return };
    let Some(script) = super::scripts::script(file, &Part::default(), true, version, dialect, &mut report.diagnostics)
    else {
        return;
    };
    let down = match down {
        Some(file) => {
            match super::scripts::script(file, &Part::default(), false, version, dialect, &mut report.diagnostics) {
                Some(down) => Some(down),
                None => return,
            }
        }
        None => None,
    };
    report.baseline = Some(Baseline { version, description, script, down });
    // Files of the replaced migrations deleted: all of them (the usual
    // case, after the squash was released) when no migration up to the
    // baseline's version is left.
    let Some(sealed) = report.lock.baseline.as_ref().filter(|b| b.version == version) else { return };
    if first_version.is_some_and(|v| v <= sealed.version) {
        return;
    }
    let replaced = report.lock.replaced().len();
    report.squashed = report.lock.entries[..replaced]
        .iter()
        .zip(&report.lock_links)
        .map(|(e, link)| Squashed { version: e.version, description: e.name.clone(), checksum: e.up, chain: *link })
        .collect();
}

/// The baseline against the lock: sealed, edited, deleted, or replacing a
/// version that is not a sealed migration.
pub(super) fn compare_with_lock(config: &Config, report: &mut Report) {
    let lock_display = display_path(&config.lock_path(), &config.display_base);
    match (&report.baseline, &report.lock.baseline) {
        (None, None) => {}
        (None, Some(sealed)) => report.diagnostics.push(
            Diagnostic::error(
                Kind::SealedDeleted,
                format!("the sealed baseline `{}_{}.baseline.sql` was deleted", sealed.version, sealed.name),
            )
            .at(Location::file(format!("{lock_display}:{}", sealed.line)))
            .note("fresh databases are created from it, and the migrations it replaces may be gone")
            .help(
                "restore it from version control; to go back to replaying every migration, \
                 restore their files and run `migcheck lock --force`",
            ),
        ),
        (Some(b), None) => {
            let message = format!("the baseline `{}` is not sealed yet", b.script.file.file_name());
            let d = super::history::not_sealed_yet(config, message);
            report.diagnostics.push(
                d.at(Location::file(&b.script.file.display))
                    .help(format!("run `migcheck lock` and commit `{lock_display}` with it")),
            );
        }
        (Some(b), Some(sealed)) => {
            let down = b.down.as_ref().map(|d| d.file.checksum);
            let same = b.version == sealed.version && b.description == sealed.name;
            if same && b.script.file.checksum == sealed.checksum && down != sealed.down {
                // A down added or edited: no database ran it, so it is sealed
                // like a new migration.
                let (message, at) = match &b.down {
                    Some(d) => {
                        (format!("the baseline's down `{}` is not sealed yet", d.file.file_name()), &d.file.display)
                    }
                    None => (
                        format!("the baseline `{}` lost its sealed down file", b.script.file.file_name()),
                        &b.script.file.display,
                    ),
                };
                let d = super::history::not_sealed_yet(config, message);
                report.diagnostics.push(
                    d.at(Location::file(at)).help(format!("run `migcheck lock` and commit `{lock_display}` with it")),
                );
            } else if !same || b.script.file.checksum != sealed.checksum {
                report.diagnostics.push(
                    Diagnostic::error(
                        Kind::SealedEdited,
                        format!("the sealed baseline `{}` was edited", b.script.file.file_name()),
                    )
                    .at(Location::file(&b.script.file.display))
                    .note(format!(
                        "it is sealed in `{lock_display}` (line {}) as `{}_{}.baseline.sql`",
                        sealed.line, sealed.version, sealed.name
                    ))
                    .help(
                        "restore it from version control; while the migrations it replaces are there, \
                         `migcheck squash --to <version>` writes it again",
                    ),
                );
            }
        }
    }
    let Some(b) = &report.baseline else { return };
    let sealed_here = report.lock.get(b.version).is_some();
    let newest = report.lock.newest();
    if !sealed_here {
        report.diagnostics.push(
            Diagnostic::error(
                Kind::BaselineMismatch,
                format!(
                    "the baseline `{}` replaces the migrations up to version {}, which is not a sealed migration",
                    b.script.file.file_name(),
                    b.version
                ),
            )
            .at(Location::file(&b.script.file.display))
            .note(match newest {
                Some(v) => format!("the newest sealed migration is {v}"),
                None => "no migration is sealed".to_owned(),
            })
            .help("a baseline replaces released (sealed) migrations: `migcheck squash --to <sealed version>`"),
        );
    }
    // Some of the replaced files deleted, not all: say so once.
    let present = report.migrations.iter().filter(|m| m.version <= b.version).count();
    let replaced = report.lock.replaced().len();
    if report.squashed.is_empty() && present > 0 && present < replaced {
        report.diagnostics.push(
            Diagnostic::error(
                Kind::BaselineMismatch,
                format!(
                    "{} of the {replaced} migrations the baseline `{}` replaces were deleted, not all of them",
                    replaced - present,
                    b.script.file.file_name()
                ),
            )
            .at(Location::file(&b.script.file.display))
            .help("delete every file up to the baseline's version, or restore the deleted ones"),
        );
    }
}

/// Proves the baseline: on fresh databases of `engine`'s kind, the ups of the
/// migrations it replaces and the baseline alone must give the same schema
/// and the same rows in every table. Kept in the cache directory by what it
/// depends on, so that an unchanged project proves it once.
pub(super) fn prove<E: Engine>(
    config: &Config,
    engine: &E,
    prelude: Option<&Script>,
    report: &Report,
) -> Result<(), Diagnostic> {
    let Some(b) = &report.baseline else { return Ok(()) };
    let replaced: Vec<&Migration> = report.migrations.iter().filter(|m| m.version <= b.version).collect();
    let chain = match (replaced.last(), report.squashed.last()) {
        (Some(last), _) => last.chain,
        (None, Some(last)) => last.chain,
        (None, None) => return Ok(()),
    };
    let key = proof_key(engine.describe(), b, chain, prelude);
    let marker = config.cache_dir.as_ref().map(|d| d.join(format!("baseline-{}.proved", checksum::to_hex(&key))));
    if marker.as_ref().is_some_and(|m| m.exists()) {
        return Ok(());
    }
    if let Some(down) = &b.down {
        prove_down(engine, prelude, b, down)?;
    }
    if replaced.is_empty() {
        if let Some(marker) = marker {
            let _ = std::fs::write(marker, b"");
        }
        return Ok(());
    }
    let mismatch = |notes: Vec<String>| {
        let shown = notes.len().min(12);
        let mut d = Diagnostic::error(
            Kind::BaselineMismatch,
            format!(
                "the baseline `{}` does not give what migrations {} to {} give",
                b.script.file.file_name(),
                replaced[0].version,
                b.version
            ),
        )
        .at(Location::file(&b.script.file.display));
        for n in &notes[..shown] {
            d = d.note(n.clone());
        }
        if notes.len() > shown {
            d = d.note(format!("and {} more differences", notes.len() - shown));
        }
        d.help(format!(
            "write it again from the migrations with `migcheck squash --to {}`, or restore it from version control",
            b.version
        ))
    };
    let mut history = super::replay::replay(engine, prelude, None, &report.migrations, Some(b.version))?;
    let mut warnings = Vec::new();
    let mut squashed = engine.fresh()?;
    super::replay::run_prelude(&mut squashed, prelude)?;
    if let Err(d) = squashed.run(&b.script, &mut warnings) {
        return Err(d.note(format!(
            "`{}` is the baseline of migrations {} to {}: it must run on an empty database",
            b.script.file.file_name(),
            replaced[0].version,
            b.version
        )));
    }
    let (want, got) = (history.schema()?, squashed.schema()?);
    let differences =
        squashed.differences(&want, &got, "the migrations' schema", &format!("`{}`", b.script.file.file_name()))?;
    if !differences.is_empty() {
        return Err(mismatch(differences));
    }
    let mut notes = Vec::new();
    let tables: BTreeSet<String> = history.tables(None)?.into_iter().collect();
    let mut model = None;
    for table in &tables {
        let (mut a, mut c) = (history.contents(table)?, squashed.contents(table)?);
        a.rows.sort();
        c.rows.sort();
        if a == c {
            continue;
        }
        // A value the clock or chance gave when the row was made (a
        // `DEFAULT CURRENT_TIMESTAMP` column) differs between the squash and
        // now: such columns are compared by being NULL or not.
        if model.is_none() {
            model = Some(history.model()?);
        }
        let volatile: Vec<usize> = model
            .as_ref()
            .and_then(|m| m.table(table))
            .map(|t| {
                t.columns
                    .iter()
                    .filter(|col| col.default.as_deref().is_some_and(is_volatile))
                    .filter_map(|col| a.column(&col.name))
                    .collect()
            })
            .unwrap_or_default();
        if !volatile.is_empty() && a.columns == c.columns {
            for rows in [&mut a.rows, &mut c.rows] {
                for row in rows.iter_mut() {
                    for &i in &volatile {
                        row[i] = row[i].as_ref().map(|_| "<clock or random>".to_owned());
                    }
                }
                rows.sort();
            }
            if a == c {
                continue;
            }
        }
        if a.columns != c.columns {
            notes.push(format!(
                "table `{table}` has columns ({}) here, ({}) there",
                a.columns.join(", "),
                c.columns.join(", ")
            ));
            continue;
        }
        let missing: Vec<&Vec<Option<String>>> = a.rows.iter().filter(|r| !c.rows.contains(r)).collect();
        let extra: Vec<&Vec<Option<String>>> = c.rows.iter().filter(|r| !a.rows.contains(r)).collect();
        let rows = |n: usize| if n == 1 { "1 row".to_owned() } else { format!("{n} rows") };
        let mut note =
            format!("table `{table}`: the migrations leave {}, the baseline {}", rows(a.rows.len()), c.rows.len());
        if let Some(row) = missing.first() {
            note.push_str(&format!("; missing from the baseline: {}", a.show(row)));
        }
        if let Some(row) = extra.first() {
            note.push_str(&format!("; only in the baseline: {}", c.show(row)));
        }
        notes.push(note);
    }
    if !notes.is_empty() {
        return Err(mismatch(notes));
    }
    if let Some(marker) = marker {
        let _ = std::fs::write(marker, b"");
    }
    Ok(())
}

/// The baseline's down must give back the empty database the baseline
/// started from (the prelude's objects only).
fn prove_down<E: Engine>(engine: &E, prelude: Option<&Script>, b: &Baseline, down: &Script) -> Result<(), Diagnostic> {
    let mut db = engine.fresh()?;
    super::replay::run_prelude(&mut db, prelude)?;
    let empty = db.schema()?;
    let mut warnings = Vec::new();
    db.run(&b.script, &mut warnings)?;
    db.run(down, &mut warnings)?;
    let after = db.schema()?;
    let differences = db.differences(&empty, &after, "the empty database", &format!("`{}`", down.file.file_name()))?;
    if differences.is_empty() {
        return Ok(());
    }
    let mut d = Diagnostic::error(
        Kind::IrreversibleDown,
        format!("`{}` does not give back the empty database its baseline started from", down.file.file_name()),
    )
    .at(Location::file(&down.file.display));
    for n in differences.iter().take(12) {
        d = d.note(n.clone());
    }
    Err(d.help("drop everything the baseline creates, dependents first"))
}

/// Whether a column default's value depends on when or by chance it is
/// taken (both engines' spellings).
fn is_volatile(default: &str) -> bool {
    let d = default.to_ascii_lowercase();
    [
        "current_timestamp",
        "current_date",
        "current_time",
        "localtimestamp",
        "localtime",
        "'now'",
        "now()",
        "random",
        "clock_timestamp",
        "statement_timestamp",
        "transaction_timestamp",
        "timeofday",
        "uuid",
        "julianday",
        "unixepoch",
        "strftime",
    ]
    .iter()
    .any(|word| d.contains(word))
}

/// What the proof depends on: the engine, the baseline's text, the chain of
/// the migrations it replaces, and the prelude.
fn proof_key(engine: &str, b: &Baseline, chain: Digest, prelude: Option<&Script>) -> Digest {
    let text = format!(
        "{engine}\n{}\n{}\n{}\n{}\n{}",
        b.version,
        checksum::to_hex(&b.script.file.checksum),
        b.down.as_ref().map_or_else(String::new, |d| checksum::to_hex(&d.file.checksum)),
        checksum::to_hex(&chain),
        prelude.map_or_else(String::new, |p| checksum::to_hex(&p.file.checksum)),
    );
    checksum::checksum(text.as_bytes())
}
