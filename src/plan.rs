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

pub(crate) use crate::history::{AppliedMigration, Direction};
use crate::{Error, Migration, Migrations, Script};

/// The default history table's name.
pub const HISTORY_TABLE: &str = "migcheck_history";

/// The target "no migration" for [`Migrations::downgrade_to`] and
/// [`Migrations::stamp`] (the CLI's `base`): every migration reverted, none
/// recorded. `0` says the same where no migration has version 0 (sqlx and
/// golang-migrate histories may start at `0_…`, diesel's at
/// `00000000000000_diesel_initial_setup`).
pub const BASE: i64 = i64::MIN;

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
    /// A file that runs outside a transaction (or manages its own) and was
    /// cut part-way, with how far it got; its version is listed in `pending`.
    pub interrupted: Option<Interrupted>,
}

impl Status {
    /// The database's version: the newest applied migration.
    pub fn current(&self) -> Option<i64> {
        self.applied.last().map(|m| m.version)
    }

    /// Nothing pending, nothing divergent or unknown, nothing interrupted.
    pub fn is_up_to_date(&self) -> bool {
        self.pending.is_empty() && self.divergent.is_empty() && self.unknown.is_empty() && self.interrupted.is_none()
    }
}

/// A migration whose file runs outside a transaction (`-- migcheck:
/// no-transaction`, or one with its own `BEGIN … COMMIT`) and was stopped
/// part-way: a statement failed, the process was killed, the server went
/// away. The statements before `resume_at` ran and stay; the history keeps
/// this mark (a row whose checksum reads `interrupted …`) until the file is
/// finished, so that no tool mistakes the database for one at either version.
///
/// Running the same command again resumes the file at the first statement
/// that did not finish, as long as the text up to there is unchanged; `stamp`
/// clears the mark after the database was repaired by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The migration's version.
    pub version: i64,
    /// Its description.
    pub name: String,
    /// Which file was running.
    pub direction: Direction,
    /// How many of its statements finished.
    pub done: usize,
    /// The byte offset in the file where the next statement starts.
    pub resume_at: usize,
    /// When the file started (UTC, ISO 8601).
    pub since: String,
    /// SHA-256 (hex) of the file's text up to `resume_at`.
    pub(crate) prefix: String,
}

impl Interrupted {
    /// How many of its statements took effect, said ("1 statement ran and
    /// stays").
    ///
    /// ```
    /// # fn show(i: &migcheck::Interrupted) {
    /// println!("migration {} stopped part-way: {}", i.version, i.statements_ran());
    /// # }
    /// ```
    pub fn statements_ran(&self) -> String {
        crate::history::statements_ran(self.done)
    }
}

/// The history's `checksum` of a row that marks an interrupted file.
pub(crate) const MARK: &str = "interrupted";

/// The `LIKE` pattern of marks, for the engines' SQL.
pub(crate) const MARK_PATTERN: &str = "interrupted %";

const CHANGED: &str = "the file's text before the statement where it stopped has changed since, so it cannot resume \
     there: restore that text; or finish (or undo) its statements by hand and run `migcheck stamp` to the version \
     the database is at";

impl Interrupted {
    /// The mark written before the first statement of `script` runs, or after
    /// one ends at `offset` (its `done`-th).
    pub(crate) fn mark(direction: Direction, done: usize, script: &Script, offset: usize) -> (String, String) {
        let way = match direction {
            Direction::Up => "up",
            Direction::Down => "down",
        };
        (format!("{MARK} {way} {done} {offset}"), prefix_hash(&script.sql()[..offset]))
    }

    /// Reads a history row as a mark: `None` for an ordinary row.
    fn parse(row: &AppliedMigration) -> Option<Result<Interrupted, Error>> {
        let rest = row.checksum.strip_prefix(MARK)?.strip_prefix(' ')?;
        let bad = || Error::History {
            message: format!("the row of version {} has an unreadable mark `{}`", row.version, row.checksum),
        };
        let mut parts = rest.split(' ');
        let parsed = (|| {
            let direction = match parts.next()? {
                "up" => Direction::Up,
                "down" => Direction::Down,
                _ => return None,
            };
            let done = parts.next()?.parse().ok()?;
            let resume_at = parts.next()?.parse().ok()?;
            parts.next().is_none().then_some((direction, done, resume_at))
        })();
        Some(parsed.ok_or_else(bad).map(|(direction, done, resume_at)| Interrupted {
            version: row.version,
            name: row.name.clone(),
            direction,
            done,
            resume_at,
            since: row.applied_at.clone(),
            prefix: row.chain.clone(),
        }))
    }

    /// Where `script` resumes: `resume_at`, if the text before it is the text
    /// that ran; `None` when the file changed there since.
    pub(crate) fn resume_in(&self, script: &Script) -> Option<usize> {
        let sql = script.sql();
        (sql.is_char_boundary(self.resume_at) && prefix_hash(&sql[..self.resume_at]) == self.prefix)
            .then_some(self.resume_at)
    }

    /// The line of the file where it resumes (from 1), for messages.
    pub fn line_in(&self, script: &Script) -> usize {
        let sql = script.sql();
        let at = migcheck_core::lexer::floor_char_boundary(sql, self.resume_at.min(sql.len()));
        let skip = migcheck_core::lexer::skip_trivia(&sql[at..]);
        migcheck_core::lexer::line_column(sql, (at + skip).min(sql.len())).0
    }
}

fn prefix_hash(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The history split into what is applied and the mark of an interrupted
/// file, if any.
pub(crate) fn split(
    rows: impl IntoIterator<Item = AppliedMigration>,
) -> Result<(Vec<AppliedMigration>, Option<Interrupted>), Error> {
    let mut applied = Vec::new();
    let mut interrupted = None;
    for row in rows {
        match Interrupted::parse(&row) {
            None => applied.push(row),
            Some(mark) => interrupted = Some(mark?),
        }
    }
    Ok((applied, interrupted))
}

/// The migrations a downgrade reverts, with the script that reverts each.
pub(crate) type Reverts<'a> = Vec<(&'a Migration, &'a Script)>;

/// How many statements of `version`'s file the history's mark says ran
/// (`None`: no readable mark for it).
pub(crate) fn statements_done(rows: Vec<AppliedMigration>, version: i64) -> Option<usize> {
    split(rows).ok()?.1.filter(|i| i.version == version).map(|i| i.done)
}

/// Where an upgrade or downgrade picks up an interrupted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The migration.
    pub version: i64,
    /// Statements of its file already run.
    pub done: usize,
    /// The byte offset to run from.
    pub from: usize,
}

/// The history's newest row, as far as the constant-time "already at head"
/// check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Its version.
    pub version: i64,
    /// Its chain hash.
    pub chain: String,
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

    /// The migrations an upgrade applies, in order, given the history rows
    /// (marks included), and where the first resumes if its file was
    /// interrupted; refuses a divergent or unknown history, a batch that
    /// cannot be one, and an interrupted file that cannot resume.
    pub(crate) fn to_apply(
        &self,
        rows: &[AppliedMigration],
        options: &UpgradeOptions,
    ) -> Result<(Vec<&Migration>, Option<Resume>), Error> {
        let (applied, mark) = split(rows.iter().cloned())?;
        self.verify(&applied)?;
        // An empty database goes to a squashed baseline's version (or past
        // it) by running the baseline instead of the migrations it replaces.
        if let Some(b) = &self.baseline
            && applied.is_empty()
            && mark.is_none()
            && options.target.is_none_or(|t| t >= b.version())
        {
            let later =
                self.iter().filter(|m| m.version() > b.version() && options.target.is_none_or(|t| m.version() <= t));
            let pending: Vec<&Migration> = std::iter::once(b.step()).chain(later).collect();
            if options.batch
                && let Some(m) = pending.iter().find(|m| m.up().mode() != crate::Mode::Transaction)
            {
                return Err(Error::NotBatchable { version: m.version(), name: m.name().to_owned() });
            }
            return Ok((pending, None));
        }
        let done: HashSet<i64> = applied.iter().map(|a| a.version).collect();
        let pending: Vec<&Migration> = self
            .iter()
            .filter(|m| !done.contains(&m.version()) && options.target.is_none_or(|t| m.version() <= t))
            .collect();
        if let Some(m) = pending.iter().find(|m| !m.has_files()) {
            return Err(Error::Squashed {
                version: m.version(),
                name: m.name().to_owned(),
                baseline: self.baseline.as_ref().map_or(m.version(), |b| b.version()),
            });
        }
        let resume = match mark {
            None => None,
            Some(i) if i.direction == Direction::Down => {
                return Err(Error::interrupted(
                    &i,
                    "finish the downgrade first: run it again and it resumes where it stopped",
                ));
            }
            Some(i) => {
                let Some(m) = self.get(i.version) else {
                    return Err(Error::interrupted(
                        &i,
                        "this binary does not know it: finish it with the binary that started it",
                    ));
                };
                if pending.first().is_some_and(|p| p.version() < i.version) {
                    return Err(Error::interrupted(
                        &i,
                        "migrations before it are pending now, and running them under a half-run migration is not safe: \
                         repair it by hand and run `migcheck stamp` to the version the database is at",
                    ));
                }
                match i.resume_in(m.up()) {
                    _ if pending.first().is_none_or(|p| p.version() != i.version) => None,
                    Some(from) => Some(Resume { version: i.version, done: i.done, from }),
                    None => return Err(Error::interrupted(&i, CHANGED)),
                }
            }
        };
        if options.batch
            && let Some(m) = pending.iter().find(|m| m.up().mode() != crate::Mode::Transaction)
        {
            return Err(Error::NotBatchable { version: m.version(), name: m.name().to_owned() });
        }
        Ok((pending, resume))
    }

    /// The migrations a downgrade to `version` reverts, newest first, with the
    /// script that reverts each, and where the first resumes if its down file
    /// was interrupted; refuses a divergent or unknown history, an
    /// interrupted upgrade, and, before anything runs, a migration on the way
    /// that is irreversible.
    pub(crate) fn to_revert(
        &self,
        rows: &[AppliedMigration],
        version: i64,
    ) -> Result<(Reverts<'_>, Option<Resume>), Error> {
        let (applied, mark) = split(rows.iter().cloned())?;
        self.verify(&applied)?;
        let mut plan = Vec::new();
        let mut resume = None;
        if let Some(i) = mark {
            if i.direction == Direction::Up {
                return Err(Error::interrupted(
                    &i,
                    "finish the upgrade first: `migcheck upgrade` resumes it where it stopped",
                ));
            }
            if version >= i.version {
                return Err(Error::interrupted(&i, "finish reverting it first: downgrade to a version before it"));
            }
            let Some((m, down)) = self.get(i.version).and_then(|m| Some((m, m.down()?))) else {
                return Err(Error::interrupted(
                    &i,
                    "this binary has no down file for it: finish it with the binary that started it",
                ));
            };
            let from = i.resume_in(down).ok_or_else(|| Error::interrupted(&i, CHANGED))?;
            resume = Some(Resume { version: i.version, done: i.done, from });
            plan.push((m, down));
        }
        for row in applied.iter().rev().filter(|row| row.version > version) {
            let m =
                self.get(row.version).ok_or_else(|| Error::Unknown { version: row.version, name: row.name.clone() })?;
            // Migrations a baseline replaced, whose files are gone: its down
            // reverts all of them at once, when the target is before them all.
            if let Some(b) = &self.baseline
                && !m.has_files()
                && let Some(down) = b.down()
                && self.iter().next().is_some_and(|first| version < first.version())
            {
                plan.push((b.step(), down));
                break;
            }
            let down =
                m.down().ok_or_else(|| Error::Irreversible { version: m.version(), name: m.name().to_owned() })?;
            plan.push((m, down));
        }
        Ok((plan, resume))
    }

    /// Whether `m` is the step of the squashed baseline (not a migration).
    pub(crate) fn is_baseline(&self, m: &Migration) -> bool {
        self.baseline.as_ref().is_some_and(|b| std::ptr::eq(b.step(), m))
    }

    /// The migrations whose history rows applying `m` writes: `m`, or, for
    /// the baseline, every migration it replaces.
    pub(crate) fn recorded_by<'a>(&'a self, m: &'a Migration) -> Vec<&'a Migration> {
        if self.is_baseline(m) { self.iter().take_while(|r| r.version() <= m.version()).collect() } else { vec![m] }
    }

    /// The history rows a stamp at `version` adds (rows newer than `version`,
    /// and the mark of an interrupted file, are deleted).
    pub(crate) fn to_stamp(&self, rows: &[AppliedMigration], version: i64) -> Vec<&Migration> {
        let done: HashSet<i64> = rows.iter().filter(|m| Interrupted::parse(m).is_none()).map(|m| m.version).collect();
        self.iter().filter(|m| m.version() <= version && !done.contains(&m.version())).collect()
    }

    /// The status given the history rows (marks included).
    pub(crate) fn status_of(&self, rows: Vec<AppliedMigration>) -> Result<Status, Error> {
        let (applied, interrupted) = split(rows)?;
        let done: HashSet<i64> = applied.iter().map(|m| m.version).collect();
        let mut status = Status {
            pending: self.iter().map(|m| m.version()).filter(|v| !done.contains(v)).collect(),
            interrupted,
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
        Ok(status)
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

impl Error {
    /// The operation cannot go on from the interrupted file `i`.
    pub(crate) fn interrupted(i: &Interrupted, why: &str) -> Error {
        Error::Interrupted {
            version: i.version,
            name: i.name.clone(),
            direction: i.direction,
            done: i.done,
            why: why.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Baseline, Mode};

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

    #[test]
    fn an_empty_database_runs_the_baseline_and_only_it_and_a_missing_file_is_said() {
        let baseline = || {
            Baseline::new(
                2,
                "start",
                "b",
                "chain2",
                Script::new("2_start.baseline.sql", "SELECT 1;", Mode::Transaction),
            )
        };
        let m = migrations().with_baseline(baseline());
        let all = UpgradeOptions::default();
        let (pending, _) = m.to_apply(&[], &all).unwrap();
        assert!(m.is_baseline(pending[0]));
        assert_eq!(versions(&pending), [2, 3]);
        assert_eq!(versions(&m.recorded_by(pending[0])), [1, 2]);
        // Asked for a version before it, or not empty: the migrations.
        assert_eq!(versions(&m.to_apply(&[], &all.clone().target(1)).unwrap().0), [1]);
        assert_eq!(versions(&m.to_apply(&[row(1, "sum1")], &all).unwrap().0), [2, 3]);
        // The replaced files gone: an empty database still works, one at 1 is told.
        let gone = Migrations::new(vec![
            Migration::squashed(1, "m1", "sum1", "chain1"),
            Migration::squashed(2, "m2", "sum2", "chain2"),
            m.get(3).unwrap().clone(),
        ])
        .with_baseline(baseline());
        assert_eq!(versions(&gone.to_apply(&[], &all).unwrap().0), [2, 3]);
        let err = gone.to_apply(&[row(1, "sum1")], &all).unwrap_err();
        assert!(matches!(err, Error::Squashed { version: 2, baseline: 2, .. }), "{err}");
        assert!(gone.is_at_head(Some(&Head { version: 3, chain: "chain3".into() }), None));
        // Without a down, reverting past it refuses; with one, it reverts all at once.
        let rows = [row(1, "sum1"), row(2, "sum2"), row(3, "sum3")];
        assert!(matches!(gone.to_revert(&rows, BASE).unwrap_err(), Error::Irreversible { version: 2, .. }));
        let down = Script::new("2_start.baseline.down.sql", "SELECT 1;", Mode::Transaction);
        let gone = gone.clone().with_baseline(baseline().with_down(down));
        let (plan, _) = gone.to_revert(&rows, BASE).unwrap();
        assert_eq!(plan.iter().map(|(m, _)| m.version()).collect::<Vec<_>>(), [3, 2]);
        assert!(gone.is_baseline(plan[1].0));
        assert!(matches!(gone.to_revert(&rows, 1).unwrap_err(), Error::Irreversible { version: 2, .. }));
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
        assert_eq!(versions(&m.to_apply(&applied, &UpgradeOptions::default()).unwrap().0), [2, 3]);
        assert_eq!(versions(&m.to_apply(&applied, &UpgradeOptions::default().target(2)).unwrap().0), [2]);
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
        let to = |v| m.to_revert(&all, v).map(|plan| plan.0.iter().map(|(m, _)| m.version()).collect::<Vec<_>>());
        assert_eq!(to(2).unwrap(), [3]);
        let err = to(0).unwrap_err();
        assert!(matches!(err, Error::Irreversible { version: 2, .. }), "{err}");
        assert_eq!(m.to_revert(&all[..1], 0).unwrap().0.len(), 1);
    }

    /// Migration 2 (outside a transaction) stopped after its first statement
    /// of `sql`, which ends at `offset`.
    fn mark_row(direction: Direction, sql: &str, offset: usize) -> AppliedMigration {
        let script = Script::new("2.up.sql", sql.to_owned(), Mode::NoTransaction);
        let (checksum, chain) = Interrupted::mark(direction, 1, &script, offset);
        AppliedMigration { checksum, chain, ..row(2, "") }
    }

    #[test]
    fn an_interrupted_file_resumes_where_it_stopped_only_if_its_text_there_is_the_same() {
        let m = migrations();
        // `migrations()` gives 2 the text `SELECT 1;`, 9 bytes.
        let rows = [row(1, "sum1"), mark_row(Direction::Up, "SELECT 1;", 9)];
        let (pending, resume) = m.to_apply(&rows, &UpgradeOptions::default()).unwrap();
        assert_eq!(versions(&pending), [2, 3]);
        assert_eq!(resume, Some(Resume { version: 2, done: 1, from: 9 }));
        let status = m.status_of(rows.to_vec()).unwrap();
        assert_eq!(status.applied.len(), 1, "the mark is not an applied migration");
        assert_eq!((status.pending.clone(), status.interrupted.as_ref().map(|i| i.done)), (vec![2, 3], Some(1)));
        assert!(!status.is_up_to_date());

        let changed = [row(1, "sum1"), mark_row(Direction::Up, "SELECT 2;", 9)];
        let err = m.to_apply(&changed, &UpgradeOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Interrupted { version: 2, done: 1, .. }), "{err}");
        assert!(err.to_string().contains("has changed since"), "{err}");
        let err = m.to_revert(&rows, 0).unwrap_err();
        assert!(err.to_string().contains("finish the upgrade first"), "{err}");
        // A stamp forgets the mark.
        assert_eq!(versions(&m.to_stamp(&rows, 3)), [2, 3]);

        // A down file stopped part-way: the downgrade resumes it first.
        let m = Migrations::new(vec![
            Migration::new(1, "m1", "sum1", "chain1", Script::new("1.sql", "SELECT 1;", Mode::Transaction), None),
            Migration::new(
                2,
                "m2",
                "sum2",
                "chain2",
                Script::new("2.up.sql", "SELECT 1;", Mode::Transaction),
                Some(Script::new("2.down.sql", "SELECT 1;", Mode::NoTransaction)),
            ),
        ]);
        let rows = [row(1, "sum1"), mark_row(Direction::Down, "SELECT 1;", 9)];
        let (plan, resume) = m.to_revert(&rows, 1).unwrap();
        assert_eq!((plan.len(), resume), (1, Some(Resume { version: 2, done: 1, from: 9 })));
        let err = m.to_apply(&rows, &UpgradeOptions::default()).unwrap_err();
        assert!(err.to_string().contains("finish the downgrade first"), "{err}");
        let err = m.to_revert(&rows, 2).unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err}");

        let bad = AppliedMigration { checksum: "interrupted sideways 1 2".into(), ..row(2, "") };
        assert!(matches!(m.status_of(vec![bad]), Err(Error::History { .. })));
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
        let status = m.status_of(vec![row(1, "sum1"), row(2, "edited"), row(8, "x")]).unwrap();
        assert_eq!((status.pending, status.divergent, status.unknown), (vec![3], vec![2], vec![8]));
    }
}
