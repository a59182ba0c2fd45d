//! The lock file against the directory: reading `migrations.lock` (or the
//! memo's parse of the same text), then edited, renamed, deleted, out-of-order
//! and unsealed migrations.

use std::fs;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::lock::Lock;
use crate::memo::Memo;
use crate::model::{CHAIN_START, Digest};
use crate::scan::display_path;

use super::report::Report;

/// The lock's chain hash before its entry `i`.
pub(super) fn link_before(links: &[Digest], i: usize) -> Digest {
    if i == 0 { CHAIN_START } else { links[i - 1] }
}

/// Reads the lock into `report`; returns its text when it parsed.
pub(super) fn read_lock(config: &Config, report: &mut Report, memo: &Memo) -> Option<String> {
    let path = config.lock_path();
    let shown = display_path(&path, &config.display_base);
    match fs::read_to_string(&path) {
        Ok(text) if let Some((lock, links)) = memo.lock(&text) => {
            report.lock = lock;
            report.lock_links = links;
            report.lock_ok = true;
            return Some(text);
        }
        Ok(text) => match Lock::parse_with_links(&text) {
            Ok((lock, links)) => {
                report.lock = lock;
                report.lock_links = links;
                report.lock_ok = true;
                return Some(text);
            }
            Err(err) => {
                let kind = if err.conflict { Kind::LockConflict } else { Kind::LockCorrupt };
                let location = if err.line == 0 {
                    Location::file(shown)
                } else {
                    let start: usize = text.split_inclusive('\n').take(err.line - 1).map(str::len).sum();
                    let len = text[start..].find(['\r', '\n']).unwrap_or(text.len() - start);
                    Location::span(shown, &text, start..start + len, "here")
                };
                report.diagnostics.push(
                    Diagnostic::error(kind, err.message)
                        .at(location)
                        .note("sealed migrations cannot be verified until the lock file is fixed")
                        .help(err.help),
                );
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => report.lock_ok = true,
        Err(err) => report.diagnostics.push(
            Diagnostic::error(Kind::Io, format!("cannot read `{shown}`: {err}"))
                .at(Location::file(shown))
                .help("check the file's permissions"),
        ),
    }
    None
}

pub(super) fn compare_with_lock(config: &Config, broken: &std::collections::BTreeSet<i64>, report: &mut Report) {
    let lock_display = display_path(&config.lock_path(), &config.display_base);
    let newest_sealed = report.lock.newest();
    for entry in &report.lock.entries {
        if broken.contains(&entry.version) || report.stands_for(entry.version) {
            continue;
        }
        // Both lists are in version order: a binary search, not a scan (long histories).
        let found = report.migrations.binary_search_by_key(&entry.version, |m| m.version).ok();
        let Some(m) = found.map(|i| &mut report.migrations[i]) else {
            report.diagnostics.push(
                Diagnostic::error(
                    Kind::SealedDeleted,
                    format!("sealed migration {} `{}` was deleted", entry.version, entry.name),
                )
                .at(Location::file(format!("{lock_display}:{}", entry.line)))
                .version(entry.version)
                .note("databases that applied it would no longer match the migrations")
                .help("restore it from version control; to undo what it did, add a new migration with `migcheck new`"),
            );
            continue;
        };
        let mut edited = Vec::new();
        if m.description != entry.name {
            edited.push((
                m.up.file.display.clone(),
                format!("sealed migration {} was renamed from `{}` to `{}`", entry.version, entry.name, m.description),
            ));
        }
        if m.up.file.checksum != entry.up {
            edited
                .push((m.up.file.display.clone(), format!("sealed migration `{}` was edited", m.up.file.file_name())));
        }
        match (&m.down, entry.down) {
            (Some(down), Some(sealed)) if down.file.checksum != sealed => edited
                .push((down.file.display.clone(), format!("sealed migration `{}` was edited", down.file.file_name()))),
            (Some(down), None) => edited.push((
                down.file.display.clone(),
                format!("`{}` was added to a sealed irreversible migration", down.file.file_name()),
            )),
            (None, Some(_)) => edited.push((
                m.up.file.display.clone(),
                format!("the down migration of sealed migration {} `{}` was deleted", entry.version, entry.name),
            )),
            _ => {}
        }
        m.sealed = edited.is_empty();
        for (file, message) in edited {
            report.diagnostics.push(
                Diagnostic::error(Kind::SealedEdited, message)
                    .at(Location::file(file))
                    .version(entry.version)
                    .note(format!(
                        "it is sealed in `{lock_display}` (line {}): databases may already have applied it",
                        entry.line
                    ))
                    .help(
                        "restore it from version control and add a new migration with `migcheck new` instead; \
                           if it was never applied anywhere, re-seal it with `migcheck lock --force`",
                    ),
            );
        }
    }
    let mut unsealed = Vec::new();
    for m in &report.migrations {
        if report.lock.get(m.version).is_some() {
            continue;
        }
        match newest_sealed {
            Some(newest) if m.version < newest => report.diagnostics.push(
                Diagnostic::error(
                    Kind::OutOfOrder,
                    format!(
                        "migration {} is not sealed and comes before the newest sealed migration {newest}",
                        m.version
                    ),
                )
                .at(Location::file(m.up.file.display.clone()))
                .version(m.version)
                .note("databases at the newest sealed migration would never apply it (typical after a branch merge)")
                .help("run `migcheck rebase` to renumber it after the newest sealed migration"),
            ),
            _ => unsealed.push(m),
        }
    }
    // One diagnostic for all unsealed migrations: while a migration is being
    // written this shows on every build, so it must stay short.
    let Some(first) = unsealed.first() else { return };
    let message = match unsealed.as_slice() {
        [m] => format!("migration {} `{}` is not sealed yet", m.version, m.description),
        many => format!("{} migrations are not sealed yet", many.len()),
    };
    let mut d = not_sealed_yet(config, message);
    if unsealed.len() > 1 {
        for m in &unsealed {
            d = d.note(format!("not sealed: {}", m.up.file.display));
        }
    }
    report.diagnostics.push(
        d.at(Location::file(first.up.file.display.clone()))
            .version(first.version)
            .help(format!("run `migcheck lock` and commit `{lock_display}` with the migrations")),
    );
}

/// Something not sealed yet: a warning, an error in locked mode.
pub(super) fn not_sealed_yet(config: &Config, message: String) -> Diagnostic {
    if config.locked {
        Diagnostic::error(Kind::Unsealed, message).note(
            "locked mode (`CI` or `MIGCHECK_LOCKED=1` is set, or `.locked(true)`) requires every migration to be sealed",
        )
    } else {
        Diagnostic::warning(Kind::Unsealed, message)
    }
}
