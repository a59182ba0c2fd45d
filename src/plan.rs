//! What an upgrade, downgrade or stamp does, decided from the history alone.
//!
//! This is the runtime's engine seam: every decision (which migrations are
//! pending up to a target, which to revert and whether one of them is
//! irreversible, which rows a stamp writes, whether the database is already at
//! head, what counts as divergent or unknown) is made here, without I/O, and
//! the engines (`sqlite.rs` over rusqlite, `postgres.rs` over sqlx) only read
//! and write the history and run the scripts the plan names. So the two engines
//! cannot disagree on what to run.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, Migration, Migrations, Script};

/// The default history table's name.
pub const HISTORY_TABLE: &str = "migcheck_history";

/// The target "no migration" for [`Migrations::downgrade_to`] and
/// [`Migrations::stamp`] (the CLI's `base`): every migration reverted, none
/// recorded. `0` says the same where no migration has version 0 (sqlx and
/// golang-migrate histories may start at `0_…`, diesel's at
/// `00000000000000_diesel_initial_setup`).
pub const BASE: i64 = i64::MIN;

/// A row of the history table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// The migration's version.
    pub version: i64,
    /// Its description when it was applied.
    pub name: String,
    /// SHA-256 (hex) of its up file when it was applied.
    pub checksum: String,
    /// The chain hash up to it when it was applied.
    pub chain: String,
    /// UTC, ISO 8601 (`2026-11-24T09:30:00.000Z`).
    pub applied_at: String,
    /// How long it took to apply.
    pub duration: Duration,
}

/// One migration applied or reverted by a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The migration's version.
    pub version: i64,
    /// Its description.
    pub name: String,
    /// How long it took.
    pub duration: Duration,
}

/// What an upgrade or downgrade did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Migrations applied (upgrade) or reverted (downgrade), in the order run.
    pub applied: Vec<Applied>,
    /// The backup taken before the first migration ran, if one was asked for.
    pub backup: Option<PathBuf>,
}

impl Report {
    /// Records that `m` ran in `duration`.
    pub(crate) fn push(&mut self, m: &Migration, duration: Duration) {
        self.applied.push(Applied { version: m.version(), name: m.name().to_owned(), duration });
    }
}

/// How the database relates to the migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The history, in version order.
    pub applied: Vec<AppliedMigration>,
    /// Known migrations not applied yet.
    pub pending: Vec<i64>,
    /// Applied migrations whose checksum differs from this binary's.
    pub divergent: Vec<i64>,
    /// Applied migrations this binary does not know.
    pub unknown: Vec<i64>,
}

impl Status {
    /// The database's version: the newest applied migration.
    pub fn current(&self) -> Option<i64> {
        self.applied.last().map(|m| m.version)
    }

    /// Nothing pending, nothing divergent or unknown.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty() && self.divergent.is_empty() && self.unknown.is_empty()
    }
}

/// Options for [`Migrations::upgrade_with`] (and, with feature `postgres`,
/// `Migrations::upgrade_postgres_with`).
///
/// ```no_run
/// # static MIGRATIONS: migcheck::Migrations = migcheck::Migrations::__from_generated(&[]);
/// # fn main() -> Result<(), migcheck::Error> {
/// let mut conn = rusqlite::Connection::open("app.db")?;
/// let options = migcheck::UpgradeOptions::default().target(20261124093000).backup("app.db.bak");
/// MIGRATIONS.upgrade_with(&mut conn, &options, |m, i, total| eprintln!("[{}/{total}] {m}", i + 1))?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UpgradeOptions {
    /// Stop after this version (default: the newest).
    pub target: Option<i64>,
    /// Copy the database here (SQLite's online backup API) before the first
    /// pending migration runs. Nothing is copied when nothing is pending.
    /// PostgreSQL has no backup here: use `pg_dump`.
    pub backup: Option<PathBuf>,
    /// Apply all pending migrations in one transaction (all or nothing), as
    /// Alembic does by default. Refused when one must run outside a transaction.
    pub batch: bool,
}

impl UpgradeOptions {
    /// Stops after `version` instead of the newest migration.
    pub fn target(mut self, version: i64) -> Self {
        self.target = Some(version);
        self
    }

    /// Backs the database up to `path` before the first pending migration (SQLite).
    pub fn backup(mut self, path: impl Into<PathBuf>) -> Self {
        self.backup = Some(path.into());
        self
    }

    /// All pending migrations in one transaction.
    pub fn batch(mut self, batch: bool) -> Self {
        self.batch = batch;
        self
    }
}

/// The history's newest row, as far as the fast path needs it.
pub(crate) struct Head {
    pub version: i64,
    pub chain: String,
}

impl Migrations {
    /// Refuses an upgrade target that is not one of the migrations.
    pub(crate) fn check_target(&self, target: Option<i64>) -> Result<(), Error> {
        match target {
            Some(version) if self.get(version).is_none() => Err(Error::NoSuchVersion { version }),
            _ => Ok(()),
        }
    }

    /// Refuses a downgrade or stamp target that is neither a migration nor
    /// [`BASE`] (no migration; 0 says the same where no migration has
    /// version 0).
    pub(crate) fn check_base_or_version(&self, version: i64) -> Result<(), Error> {
        if version != BASE && version != 0 && self.get(version).is_none() {
            return Err(Error::NoSuchVersion { version });
        }
        Ok(())
    }

    /// The constant-time check: the newest history row's chain hash equals
    /// this binary's for that version (so the whole history matches), and
    /// nothing newer is wanted.
    pub(crate) fn is_at_head(&self, head: Option<&Head>, target: Option<i64>) -> bool {
        let Some(wanted) = target.or_else(|| self.latest()) else { return true };
        head.is_some_and(|h| h.version >= wanted && self.get(h.version).is_some_and(|m| m.chain() == h.chain))
    }

    /// The migrations an upgrade applies, in order, given the history; refuses
    /// a divergent or unknown history, and a batch that cannot be one.
    pub(crate) fn to_apply(
        &self,
        applied: &[AppliedMigration],
        options: &UpgradeOptions,
    ) -> Result<Vec<&Migration>, Error> {
        self.verify(applied)?;
        let done: HashSet<i64> = applied.iter().map(|a| a.version).collect();
        let pending: Vec<&Migration> = self
            .iter()
            .filter(|m| !done.contains(&m.version()) && options.target.is_none_or(|t| m.version() <= t))
            .collect();
        if options.batch
            && let Some(m) = pending.iter().find(|m| m.up().mode() != crate::Mode::Transaction)
        {
            return Err(Error::NotBatchable { version: m.version(), name: m.name().to_owned() });
        }
        Ok(pending)
    }

    /// The migrations a downgrade to `version` reverts, newest first, with the
    /// script that reverts each; refuses a divergent or unknown history, and,
    /// before anything runs, a migration on the way that is irreversible.
    pub(crate) fn to_revert(
        &self,
        applied: &[AppliedMigration],
        version: i64,
    ) -> Result<Vec<(&Migration, &Script)>, Error> {
        self.verify(applied)?;
        applied
            .iter()
            .rev()
            .filter(|row| row.version > version)
            .map(|row| {
                let m = self
                    .get(row.version)
                    .ok_or_else(|| Error::Unknown { version: row.version, name: row.name.clone() })?;
                let down =
                    m.down().ok_or_else(|| Error::Irreversible { version: m.version(), name: m.name().to_owned() })?;
                Ok((m, down))
            })
            .collect()
    }

    /// The history rows a stamp at `version` adds (rows newer than `version`
    /// are deleted).
    pub(crate) fn to_stamp(&self, applied: &[AppliedMigration], version: i64) -> Vec<&Migration> {
        let done: HashSet<i64> = applied.iter().map(|m| m.version).collect();
        self.iter().filter(|m| m.version() <= version && !done.contains(&m.version())).collect()
    }

    /// The status given the history rows.
    pub(crate) fn status_of(&self, applied: Vec<AppliedMigration>) -> Status {
        let done: HashSet<i64> = applied.iter().map(|m| m.version).collect();
        let mut status = Status {
            pending: self.iter().map(|m| m.version()).filter(|v| !done.contains(v)).collect(),
            ..Status::default()
        };
        for row in &applied {
            match self.get(row.version) {
                None => status.unknown.push(row.version),
                Some(m) if m.checksum() != row.checksum => status.divergent.push(row.version),
                Some(_) => {}
            }
        }
        status.applied = applied;
        status
    }

    /// Refuses a history with an edited or unknown migration: the first one.
    pub(crate) fn verify(&self, applied: &[AppliedMigration]) -> Result<(), Error> {
        for row in applied {
            match self.get(row.version) {
                None => return Err(Error::Unknown { version: row.version, name: row.name.clone() }),
                Some(m) if m.checksum() != row.checksum => {
                    return Err(Error::Divergent {
                        version: row.version,
                        name: row.name.clone(),
                        applied_checksum: row.checksum.clone(),
                        expected_checksum: m.checksum().to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// An SQL identifier, quoted (both engines use double quotes).
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A duration as the history's `duration_ms`.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `duration_ms` read back.
pub(crate) fn from_millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The message for a history table that is not migcheck's.
pub(crate) fn history_error(table: &str, err: impl std::fmt::Display) -> Error {
    Error::History {
        message: format!(
            "{err}; `{table}` should have the columns version, name, checksum, chain, applied_at, duration_ms"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn migrations() -> Migrations {
        let m = |v: i64, down: bool, mode: Mode| {
            Migration::new(
                v,
                format!("m{v}"),
                format!("sum{v}"),
                format!("chain{v}"),
                Script::new(format!("{v}.up.sql"), "SELECT 1;", mode),
                down.then(|| Script::new(format!("{v}.down.sql"), "SELECT 1;", Mode::Transaction)),
            )
        };
        Migrations::new(vec![
            m(3, true, Mode::Transaction),
            m(1, true, Mode::Transaction),
            m(2, false, Mode::NoTransaction),
        ])
    }

    fn row(v: i64, checksum: &str) -> AppliedMigration {
        AppliedMigration {
            version: v,
            name: format!("m{v}"),
            checksum: checksum.to_owned(),
            chain: format!("chain{v}"),
            applied_at: String::new(),
            duration: Duration::ZERO,
        }
    }

    fn versions(ms: &[&Migration]) -> Vec<i64> {
        ms.iter().map(|m| m.version()).collect()
    }

    #[test]
    fn upgrade_plans_pending_up_to_the_target_and_refuses_what_cannot_run() {
        let m = migrations();
        let applied = [row(1, "sum1")];
        assert_eq!(versions(&m.to_apply(&applied, &UpgradeOptions::default()).unwrap()), [2, 3]);
        assert_eq!(versions(&m.to_apply(&applied, &UpgradeOptions::default().target(2)).unwrap()), [2]);
        let batch = m.to_apply(&applied, &UpgradeOptions::default().batch(true)).unwrap_err();
        assert!(matches!(batch, Error::NotBatchable { version: 2, .. }), "{batch}");
        let edited = m.to_apply(&[row(1, "other")], &UpgradeOptions::default()).unwrap_err();
        assert!(matches!(edited, Error::Divergent { version: 1, .. }), "{edited}");
        let unknown = m.to_apply(&[row(1, "sum1"), row(9, "x")], &UpgradeOptions::default()).unwrap_err();
        assert!(matches!(unknown, Error::Unknown { version: 9, .. }), "{unknown}");
        assert!(m.check_target(Some(7)).is_err());
        assert!(m.check_base_or_version(0).is_ok() && m.check_base_or_version(4).is_err());
    }

    #[test]
    fn downgrade_plans_newest_first_and_refuses_an_irreversible_one_before_running_any() {
        let m = migrations();
        let all = [row(1, "sum1"), row(2, "sum2"), row(3, "sum3")];
        let to = |v| m.to_revert(&all, v).map(|plan| plan.iter().map(|(m, _)| m.version()).collect::<Vec<_>>());
        assert_eq!(to(2).unwrap(), [3]);
        let err = to(0).unwrap_err();
        assert!(matches!(err, Error::Irreversible { version: 2, .. }), "{err}");
        assert_eq!(m.to_revert(&all[..1], 0).unwrap().len(), 1);
    }

    #[test]
    fn head_and_stamp() {
        let m = migrations();
        let head = |v: i64, chain: &str| Head { version: v, chain: chain.to_owned() };
        assert!(m.is_at_head(Some(&head(3, "chain3")), None));
        assert!(!m.is_at_head(Some(&head(3, "edited")), None));
        assert!(!m.is_at_head(Some(&head(2, "chain2")), None));
        assert!(m.is_at_head(Some(&head(2, "chain2")), Some(2)));
        assert!(!m.is_at_head(None, None));
        assert_eq!(versions(&m.to_stamp(&[row(1, "sum1")], 3)), [2, 3]);
        assert!(m.to_stamp(&[], 0).is_empty());
        let status = m.status_of(vec![row(1, "sum1"), row(2, "edited"), row(8, "x")]);
        assert_eq!((status.pending, status.divergent, status.unknown), (vec![3], vec![2], vec![8]));
    }
}
