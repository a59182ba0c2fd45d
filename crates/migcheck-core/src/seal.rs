//! Sealing: writing the lock file (`migcheck lock`, `migcheck_build::lock`).
//!
//! Sealing runs every check first and refuses to seal a directory that fails
//! them. It re-seals an edited migration only when it is the newest sealed one
//! (the usual "I sealed too early" case), or when told `force`; a migration
//! ordered before the newest sealed one is never sealed (`migcheck rebase`).

use std::fs;
use std::path::PathBuf;

use crate::check;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Kind};
use crate::lock::Lock;

/// What [`seal`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The lock file's path.
    pub lock_path: PathBuf,
    /// Versions sealed for the first time.
    pub added: Vec<i64>,
    /// Sealed versions whose checksums changed.
    pub resealed: Vec<i64>,
    /// Versions removed from the lock (deleted files; only with `force`).
    pub removed: Vec<i64>,
    /// Whether the file changed.
    pub written: bool,
    /// The `accept` lines written (with `accept`).
    pub accepted: usize,
}

/// Seals every migration of `config.dir` in its lock file.
pub fn seal(config: &Config, force: bool) -> Result<Sealed, Vec<Diagnostic>> {
    seal_accepting(config, force, false)
}

/// Seals as [`seal`] does; with `accept`, also records in the lock every
/// finding of the sealed migrations that can be accepted (warnings, and a
/// released migration's down that does not undo its up), replacing the
/// `accept` lines there were (`migcheck lock --accept`).
pub fn seal_accepting(config: &Config, force: bool, accept: bool) -> Result<Sealed, Vec<Diagnostic>> {
    seal_with(config, force, accept, false)
}

/// Seals as [`seal`] does, and the baseline as it is now, even if the lock
/// sealed another one (`migcheck squash`, which has just written it).
pub fn seal_baseline(config: &Config) -> Result<Sealed, Vec<Diagnostic>> {
    seal_with(config, false, false, true)
}

/// Whether `d` is about the baseline's file against the lock (edited,
/// deleted): what a new squash replaces.
pub fn is_about_the_baseline(d: &Diagnostic) -> bool {
    matches!(d.kind, Kind::SealedEdited | Kind::SealedDeleted) && d.version.is_none()
}

fn seal_with(config: &Config, force: bool, accept: bool, baseline: bool) -> Result<Sealed, Vec<Diagnostic>> {
    let config = Config {
        locked: false,
        accepting: accept,
        sealed_findings: accept || config.sealed_findings,
        ..config.clone()
    };
    let report = check::check(&config);
    let newest_sealed = report.lock.newest();
    let blocking: Vec<Diagnostic> = report
        .errors()
        .filter(|d| match d.kind {
            _ if baseline && is_about_the_baseline(d) => false,
            Kind::SealedEdited => !force && d.version != newest_sealed,
            Kind::SealedDeleted | Kind::LockCorrupt | Kind::LockConflict => !force,
            _ => true,
        })
        .cloned()
        .map(|d| match d.kind {
            Kind::SealedEdited | Kind::SealedDeleted | Kind::LockCorrupt | Kind::LockConflict => {
                d.note("`migcheck lock --force` seals the directory as it is now; do that only if no database has applied the old version")
            }
            Kind::IrreversibleDown | Kind::DownDataMismatch => d.note(
                "if this migration is released and its down cannot change, `migcheck lock --accept` seals it with this finding accepted",
            ),
            _ => d,
        })
        .collect();
    if !blocking.is_empty() {
        return Err(blocking);
    }
    let old = &report.lock;
    // The lines of migrations a baseline stands for stay, their files gone.
    let squashed =
        old.entries.iter().filter(|e| report.squashed.binary_search_by_key(&e.version, |s| s.version).is_ok());
    let mut new = Lock {
        entries: squashed.cloned().chain(report.migrations.iter().map(crate::lock::LockEntry::of)).collect(),
        baseline: None,
        functions: old.functions.clone(),
        dialect: old.dialect,
        layout: old.layout,
        custom: old.custom.clone(),
        allow: old.allow.clone(),
        deny: old.deny.clone(),
        scratch_limit: old.scratch_limit,
        foreign_keys_off: old.foreign_keys_off,
        accepts: if accept {
            let mut found = report.accepted.clone();
            found.sort();
            found.dedup();
            found
        } else {
            old.accepts.clone()
        },
    };
    if let Some(b) = &report.baseline {
        let links = new.chain_links();
        let at = new.entries.binary_search_by_key(&b.version, |e| e.version).ok().map(|i| links[i]);
        new.baseline = at.map(|chain| crate::lock::LockBaseline {
            version: b.version,
            checksum: b.script.file.checksum,
            down: b.down.as_ref().map(|d| d.file.checksum),
            chain,
            name: b.description.clone(),
            line: 0,
        });
    }
    let mut sealed = Sealed {
        lock_path: config.lock_path(),
        added: Vec::new(),
        resealed: Vec::new(),
        removed: old.entries.iter().filter(|e| new.get(e.version).is_none()).map(|e| e.version).collect(),
        written: false,
        accepted: new.accepts.len(),
    };
    for entry in &new.entries {
        match old.get(entry.version) {
            None => sealed.added.push(entry.version),
            Some(prev) if prev.to_line() != entry.to_line() => sealed.resealed.push(entry.version),
            Some(_) => {}
        }
    }
    let text = new.render();
    if fs::read_to_string(&sealed.lock_path).ok().as_deref() != Some(text.as_str()) {
        fs::write(&sealed.lock_path, text).map_err(|err| {
            vec![
                Diagnostic::error(Kind::Io, format!("cannot write `{}`: {err}", sealed.lock_path.display()))
                    .help("check that the migrations directory is writable"),
            ]
        })?;
        sealed.written = true;
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_refuses_and_forces() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("migrations");
        fs::create_dir(&m).unwrap();
        fs::write(m.join("1_a.sql"), "CREATE TABLE a(x);").unwrap();
        fs::write(m.join("2_b.sql"), "CREATE TABLE b(x);").unwrap();
        let cfg = Config::new(&m);

        let s = seal(&cfg, false).unwrap();
        assert_eq!((s.added, s.written), (vec![1, 2], true));
        assert!(!check::check(&cfg).has_errors());
        assert!(!seal(&cfg, false).unwrap().written, "nothing changed");

        // The newest sealed migration may be re-sealed; an older one may not.
        fs::write(m.join("2_b.sql"), "CREATE TABLE b(x, y);").unwrap();
        assert_eq!(seal(&cfg, false).unwrap().resealed, vec![2]);
        fs::write(m.join("1_a.sql"), "CREATE TABLE a(x, y);").unwrap();
        let errors = seal(&cfg, false).unwrap_err();
        assert_eq!(errors[0].kind, Kind::SealedEdited);
        assert_eq!(seal(&cfg, true).unwrap().resealed, vec![1]);

        // A deleted sealed migration needs force too.
        fs::remove_file(m.join("2_b.sql")).unwrap();
        assert_eq!(seal(&cfg, false).unwrap_err()[0].kind, Kind::SealedDeleted);
        assert_eq!(seal(&cfg, true).unwrap().removed, vec![2]);
    }

    #[test]
    fn broken_sql_is_not_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("migrations");
        fs::create_dir(&m).unwrap();
        fs::write(m.join("1_a.sql"), "CREATE TABLE a(x;").unwrap();
        let errors = seal(&Config::new(&m), false).unwrap_err();
        assert_eq!(errors[0].kind, Kind::SqlError);
        assert!(!m.join("migrations.lock").exists());
    }

    #[test]
    fn out_of_order_is_not_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("migrations");
        fs::create_dir(&m).unwrap();
        fs::write(m.join("10_a.sql"), "CREATE TABLE a(x);").unwrap();
        let cfg = Config::new(&m);
        seal(&cfg, false).unwrap();
        fs::write(m.join("5_b.sql"), "CREATE TABLE b(x);").unwrap();
        let errors = seal(&cfg, true).unwrap_err();
        assert_eq!(errors.iter().map(|d| d.kind).collect::<Vec<_>>(), [Kind::OutOfOrder]);
    }
}
