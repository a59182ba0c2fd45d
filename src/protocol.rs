//! The apply protocol, written once for every engine: what an upgrade,
//! downgrade or stamp does, step by step, with no I/O of its own.
//!
//! The plan (`plan.rs`) decides *what* runs (which migrations are pending,
//! which revert, where an interrupted file resumes); this module decides *in
//! what order and with what bookkeeping*: when a transaction begins, when a
//! file that runs outside one is marked and how the mark moves on, what is
//! recorded, what an error means for the history. An [`Apply`] hands out
//! [`Step`]s and takes each one's [`Outcome`]; a driver carries them out on
//! its engine (`sqlite.rs` over rusqlite, `postgres.rs` over sqlx) and
//! decides nothing. A dry run is one more driver: it answers from the history
//! it read and changes nothing, so `upgrade --dry-run` prints the steps the
//! real run takes ([`Migrations::upgrade_plan`](crate::Migrations::upgrade_plan)).
//!
//! The protocol reads as straight-line code: it is an `async fn` whose only
//! await point is "ask the driver", polled once per answer. Nothing here
//! needs an async runtime, and a synchronous driver drives it with a loop.
//!
//! ```
//! use migcheck::protocol::{Apply, Locking, Next, Outcome, Step};
//! # use migcheck::{Migration, Migrations, Mode, Script};
//! # let migrations = Migrations::new(vec![Migration::new(1, "owners", "c1", "h1",
//! #     Script::new("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);", Mode::Transaction), None)]);
//! // What an upgrade of an empty database does, answered by hand.
//! let mut apply = Apply::upgrade(&migrations, &Default::default(), Locking::Session);
//! let mut next = apply.start();
//! let mut seen = Vec::new();
//! let report = loop {
//!     let step = match next {
//!         Next::Step(step) => step,
//!         Next::Finished(result) => break result?,
//!     };
//!     seen.push(step.to_string());
//!     let outcome = match step {
//!         Step::ReadHead => Outcome::Head(None),
//!         Step::ReadHistory => Outcome::History(Vec::new()),
//!         _ => Outcome::Done,
//!     };
//!     next = apply.resume(Ok(outcome));
//! };
//! assert_eq!(report.applied.len(), 1);
//! assert_eq!(seen[3..], ["BEGIN", "migration 1 `owners` (1 of 1)", "run `1_owners.up.sql`",
//!     "record 1 `owners` as applied", "COMMIT"]);
//! # Ok::<(), migcheck::Error>(())
//! ```

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use migcheck_core::lexer;
use migcheck_core::model::Dialect;

use crate::error::Cause;
use crate::plan::{MARK, Resume, statements_done};
use crate::{AppliedMigration, Direction, Error, Interrupted, Migration, Migrations, Mode, Report, Script};
use crate::{UpgradeOptions, plan};

/// How migrators of one database take turns, which decides whether a
/// migration's row is looked at again once its transaction has begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// A lock is held only while a transaction is open (SQLite's write
    /// lock): another migrator may have applied a migration between reading
    /// the history and beginning its transaction, so each migration's row is
    /// read again under the lock ([`Step::RowState`]).
    PerTransaction,
    /// A lock is held for the whole operation (PostgreSQL's advisory lock):
    /// the history read at the start stays true.
    Session,
}

pub use crate::plan::Head;

/// What the history holds for one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// The migration is applied.
    Applied,
    /// The mark of a file interrupted part-way ([`Interrupted`]).
    Marked,
}

/// One thing for a driver to do. Every step is answered with an [`Outcome`]:
/// [`Outcome::Done`] unless the step says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step<'m> {
    /// Read the history's newest row: [`Outcome::Head`] (`None` when there
    /// is no history table, or it cannot be read).
    ReadHead,
    /// Read every history row in version order, marks included:
    /// [`Outcome::History`] (empty when there is no history table).
    ReadHistory,
    /// Create the history table if it does not exist: in the open
    /// transaction, or else in one of its own.
    CreateHistory,
    /// Copy the database to this path before the first migration runs.
    Backup(PathBuf),
    /// Begin a transaction, taking the engine's write lock.
    Begin,
    /// Read what the history holds for this version: [`Outcome::Row`].
    RowState(i64),
    /// A migration is about to run (for progress reports).
    Starting {
        /// The migration.
        migration: &'m Migration,
        /// Its place among those this call runs, from 0.
        index: usize,
        /// How many this call runs.
        total: usize,
    },
    /// Run the whole script in the open transaction: [`Outcome::Done`], or
    /// [`Outcome::Failed`] where a statement failed.
    RunScript {
        /// The migration.
        migration: &'m Migration,
        /// The file.
        script: &'m Script,
    },
    /// Run the next statement of a file that runs outside a transaction,
    /// the first that starts at or after byte `from`: [`Outcome::Ran`] with
    /// its byte range, [`Outcome::End`] when none is left, or
    /// [`Outcome::Failed`].
    RunStatement {
        /// The migration.
        migration: &'m Migration,
        /// The file.
        script: &'m Script,
        /// The byte offset where the walk is.
        from: usize,
    },
    /// Whether the index a statement just created is valid:
    /// [`Outcome::Valid`] (an engine without invalid indexes says `true`).
    IndexValid(String),
    /// Roll back a transaction the file itself opened, if one is open:
    /// [`Outcome::RolledBack`] saying whether one was.
    RollbackOwn,
    /// Write the mark of a file that runs outside a transaction: a new
    /// history row (`insert`) or the migration's row changed.
    Mark {
        /// The migration.
        migration: &'m Migration,
        /// A new row, or the existing one changed.
        insert: bool,
        /// The mark, written as the row's checksum.
        checksum: String,
        /// The hash of the text run so far, written as the row's chain.
        prefix: String,
    },
    /// Delete the mark of this version.
    ClearMark(i64),
    /// Record the migration as applied.
    Record {
        /// The migration.
        migration: &'m Migration,
        /// How long it took.
        duration: Duration,
    },
    /// Delete the history row of a reverted migration; with `and_before`
    /// (a squashed baseline reverted) the rows of the migrations it replaced too.
    Forget {
        /// The version reverted.
        version: i64,
        /// Rows of older versions too.
        and_before: bool,
    },
    /// Delete the history rows newer than this version, and any mark (a stamp).
    ForgetAfter(i64),
    /// Commit the open transaction.
    Commit,
    /// Roll the open transaction back (after an error).
    Rollback,
}

/// A driver's answer to a [`Step`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// The step was carried out.
    Done,
    /// The history's newest row ([`Step::ReadHead`]).
    Head(Option<Head>),
    /// The history's rows ([`Step::ReadHistory`]).
    History(Vec<AppliedMigration>),
    /// What the history holds for a version ([`Step::RowState`]).
    Row(Option<RowState>),
    /// A statement ran; its byte range in the file ([`Step::RunStatement`]).
    Ran(Range<usize>),
    /// No statement is left ([`Step::RunStatement`]).
    End,
    /// Whether the index is valid ([`Step::IndexValid`]).
    Valid(bool),
    /// Whether the file had a transaction open ([`Step::RollbackOwn`]).
    RolledBack(bool),
    /// A statement of the migration's own SQL failed.
    Failed(Failure),
}

/// Where and why a migration's statement failed, as the engine said.
#[derive(Debug)]
pub struct Failure {
    /// The byte offset in the file the error points at.
    pub offset: usize,
    /// The engine's message.
    pub message: String,
    /// The engine's error.
    pub cause: Cause,
}

/// What [`Apply`] wants next.
#[derive(Debug)]
pub enum Next<'m> {
    /// A step to carry out and answer with [`Apply::resume`].
    Step(Step<'m>),
    /// The operation ended.
    Finished(Result<Report, Error>),
}

/// An upgrade, downgrade or stamp in progress: hands out steps, takes their
/// outcomes. See the [module documentation](self).
pub struct Apply<'m> {
    io: Io<'m>,
    task: Option<Task<'m>>,
}

/// The protocol's coroutine.
type Task<'m> = Pin<Box<dyn Future<Output = Result<Report, Error>> + Send + 'm>>;

impl fmt::Debug for Apply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Apply").field("finished", &self.task.is_none()).finish_non_exhaustive()
    }
}

impl<'m> Apply<'m> {
    /// Applies pending migrations as `options` say.
    pub fn upgrade(migrations: &'m Migrations, options: &UpgradeOptions, locking: Locking) -> Self {
        let options = options.clone();
        Apply::new(move |io| Box::pin(async move { guarded(&io, upgrade(&io, migrations, options, locking)).await }))
    }

    /// Reverts applied migrations newer than `version` ([`BASE`](crate::BASE): all).
    pub fn downgrade(migrations: &'m Migrations, version: i64) -> Self {
        Apply::new(move |io| Box::pin(async move { guarded(&io, downgrade(&io, migrations, version)).await }))
    }

    /// Records the database as being at `version` without running anything.
    pub fn stamp(migrations: &'m Migrations, version: i64) -> Self {
        Apply::new(move |io| Box::pin(async move { guarded(&io, stamp(&io, migrations, version)).await }))
    }

    fn new(task: impl FnOnce(Io<'m>) -> Task<'m>) -> Self {
        let io = Io(Arc::new(Mutex::new(Slot::default())));
        Apply { task: Some(task(io.clone())), io }
    }

    /// For an engine whose DDL commits implicitly (MySQL, MariaDB): every
    /// file runs the way a `no-transaction` file does, statement by
    /// statement with the history's mark moved after each, so that a file
    /// stopped part-way says where and resumes after the last statement that
    /// took effect. Call before [`Apply::start`].
    pub fn with_implicit_commits(self) -> Self {
        self.io.slot().implicit_commits = true;
        self
    }

    /// The first step.
    pub fn start(&mut self) -> Next<'m> {
        self.poll()
    }

    /// Answers the last step, and says what is next.
    pub fn resume(&mut self, outcome: Result<Outcome, Error>) -> Next<'m> {
        self.io.slot().outcome = Some(outcome);
        self.poll()
    }

    /// The version the database was at before this upgrade (its newest
    /// applied row when the history was read), once it has been read.
    pub fn version_before(&self) -> Option<i64> {
        self.io.slot().before
    }

    fn poll(&mut self) -> Next<'m> {
        let Some(task) = &mut self.task else {
            let message = "a step was answered after the operation finished".to_owned();
            return Next::Finished(Err(Error::Driver { message }));
        };
        match task.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => {
                self.task = None;
                Next::Finished(result)
            }
            Poll::Pending => match self.io.slot().step.take() {
                Some(step) => Next::Step(step),
                None => {
                    self.task = None;
                    let message = "the protocol waited without asking for a step".to_owned();
                    Next::Finished(Err(Error::Driver { message }))
                }
            },
        }
    }
}

/// Drives `apply` to its end with a synchronous driver: `carry` does each
/// step, `progress` hears of each migration as it starts.
pub fn drive<'m>(
    apply: &mut Apply<'m>,
    mut progress: impl FnMut(&Migration, usize, usize),
    mut carry: impl FnMut(Step<'m>) -> Result<Outcome, Error>,
) -> Result<Report, Error> {
    let mut next = apply.start();
    loop {
        next = match next {
            Next::Finished(result) => return result,
            Next::Step(Step::Starting { migration, index, total }) => {
                progress(migration, index, total);
                apply.resume(Ok(Outcome::Done))
            }
            Next::Step(step) => {
                let outcome = carry(step);
                apply.resume(outcome)
            }
        };
    }
}

/// The steps `apply` takes on a database whose history is `rows`, if every
/// statement succeeds and no other migrator runs meanwhile: a driver that
/// answers from `rows`, walks files with the `dialect`'s lexer, and changes
/// nothing.
pub(crate) fn dry_run<'m>(
    apply: &mut Apply<'m>,
    rows: &[AppliedMigration],
    dialect: Dialect,
) -> Result<Vec<Step<'m>>, Error> {
    let mut steps = Vec::new();
    let mut next = apply.start();
    loop {
        let step = match next {
            Next::Step(step) => step,
            Next::Finished(result) => return result.map(|_| steps),
        };
        let outcome = match &step {
            Step::ReadHead => Outcome::Head(rows.last().map(|r| Head { version: r.version, chain: r.chain.clone() })),
            Step::ReadHistory => Outcome::History(rows.to_vec()),
            Step::RowState(version) => Outcome::Row(
                rows.iter()
                    .find(|r| r.version == *version)
                    .map(|r| if is_mark(r) { RowState::Marked } else { RowState::Applied }),
            ),
            Step::RunStatement { script, from, .. } => {
                match lexer::statements(script.sql(), dialect).into_iter().find(|r| r.start >= *from) {
                    Some(range) => Outcome::Ran(range),
                    None => Outcome::End,
                }
            }
            Step::IndexValid(_) => Outcome::Valid(true),
            Step::RollbackOwn => Outcome::RolledBack(false),
            _ => Outcome::Done,
        };
        steps.push(step);
        next = apply.resume(Ok(outcome));
    }
}

impl fmt::Display for Step<'_> {
    /// One line: SQL keywords for transaction control, words for the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::ReadHead => write!(f, "read the history's newest row"),
            Step::ReadHistory => write!(f, "read the history"),
            Step::CreateHistory => write!(f, "create the history table if it does not exist"),
            Step::Backup(path) => write!(f, "back the database up to `{}`", path.display()),
            Step::Begin => write!(f, "BEGIN"),
            Step::RowState(version) => write!(f, "read the history row of {version}"),
            Step::Starting { migration, index, total } => {
                write!(f, "migration {} `{}` ({} of {total})", migration.version(), migration.name(), index + 1)
            }
            Step::RunScript { script, .. } => write!(f, "run `{}`", script.path()),
            Step::RunStatement { script, from, .. } => {
                let sql = script.sql();
                let at = lexer::floor_char_boundary(sql, (*from).min(sql.len()));
                let line = lexer::line_column(sql, at + lexer::skip_trivia(&sql[at..])).0;
                write!(f, "run the next statement of `{}` from line {line}", script.path())
            }
            Step::IndexValid(index) => write!(f, "check that index `{index}` is valid"),
            Step::RollbackOwn => write!(f, "roll back the file's own transaction, if it has one open"),
            Step::Mark { migration, checksum, .. } => write!(f, "mark {} `{checksum}`", migration.version()),
            Step::ClearMark(version) => write!(f, "clear the mark of {version}"),
            Step::Record { migration, .. } => {
                write!(f, "record {} `{}` as applied", migration.version(), migration.name())
            }
            Step::Forget { version, and_before: false } => write!(f, "forget {version}"),
            Step::Forget { version, and_before: true } => {
                write!(f, "forget {version} and the migrations it replaced")
            }
            Step::ForgetAfter(version) => write!(f, "forget what is newer than {version}, and any mark"),
            Step::Commit => write!(f, "COMMIT"),
            Step::Rollback => write!(f, "ROLLBACK"),
        }
    }
}

// ---------------------------------------------------------------------------
// The coroutine: one slot shared by the protocol and `Apply`.

#[derive(Default)]
struct Slot<'m> {
    /// The step asked for, until `Apply` hands it out.
    step: Option<Step<'m>>,
    /// The driver's answer, until the protocol takes it.
    outcome: Option<Result<Outcome, Error>>,
    /// A transaction of the protocol's is open.
    open: bool,
    /// The version before an upgrade.
    before: Option<i64>,
    /// DDL commits implicitly (MySQL): every file runs statement by
    /// statement, its mark moved after each, as a `no-transaction` file does.
    implicit_commits: bool,
}

#[derive(Clone)]
struct Io<'m>(Arc<Mutex<Slot<'m>>>);

impl<'m> Io<'m> {
    fn slot(&self) -> MutexGuard<'_, Slot<'m>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands `step` out and waits for its outcome.
    async fn ask(&self, step: Step<'m>) -> Result<Outcome, Error> {
        self.slot().step = Some(step);
        std::future::poll_fn(|_| match self.slot().outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        })
        .await
    }

    async fn done(&self, step: Step<'m>) -> Result<(), Error> {
        let asked = step.to_string();
        match self.ask(step).await? {
            Outcome::Done => Ok(()),
            other => Err(mismatch(&asked, &other)),
        }
    }

    async fn begin(&self) -> Result<(), Error> {
        self.done(Step::Begin).await?;
        self.slot().open = true;
        Ok(())
    }

    async fn commit(&self) -> Result<(), Error> {
        // Still open if COMMIT fails: the guard rolls it back.
        self.done(Step::Commit).await?;
        self.slot().open = false;
        Ok(())
    }

    async fn head(&self) -> Result<Option<Head>, Error> {
        match self.ask(Step::ReadHead).await? {
            Outcome::Head(head) => Ok(head),
            other => Err(mismatch("read the head", &other)),
        }
    }

    async fn history(&self) -> Result<Vec<AppliedMigration>, Error> {
        match self.ask(Step::ReadHistory).await? {
            Outcome::History(rows) => Ok(rows),
            other => Err(mismatch("read the history", &other)),
        }
    }

    async fn row_state(&self, version: i64) -> Result<Option<RowState>, Error> {
        match self.ask(Step::RowState(version)).await? {
            Outcome::Row(row) => Ok(row),
            other => Err(mismatch("read a row", &other)),
        }
    }

    /// Writes the mark of `script` after `done` statements (ending at `offset`).
    async fn mark(&self, run: &Run<'m>, done: usize, offset: usize, insert: bool) -> Result<(), Error> {
        let (checksum, prefix) = Interrupted::mark(run.direction, done, run.script, offset);
        self.done(Step::Mark { migration: run.m, insert, checksum, prefix }).await
    }
}

fn mismatch(step: &str, outcome: &Outcome) -> Error {
    Error::Driver { message: format!("the step `{step}` was answered with {outcome:?}") }
}

/// Whether a history row is the mark of an interrupted file.
fn is_mark(row: &AppliedMigration) -> bool {
    row.checksum.strip_prefix(MARK).is_some_and(|rest| rest.starts_with(' '))
}

/// Runs the protocol; after an error, rolls back a transaction it left open.
async fn guarded<'m>(io: &Io<'m>, work: impl Future<Output = Result<Report, Error>>) -> Result<Report, Error> {
    let result = work.await;
    if result.is_err() && io.slot().open {
        let _ = io.ask(Step::Rollback).await;
        io.slot().open = false;
    }
    result
}

// ---------------------------------------------------------------------------
// The protocol.

async fn upgrade<'m>(
    io: &Io<'m>,
    ms: &'m Migrations,
    options: UpgradeOptions,
    locking: Locking,
) -> Result<Report, Error> {
    ms.check_target(options.target)?;
    let mut report = Report::default();
    let head = io.head().await?;
    if ms.is_at_head(head.as_ref(), options.target) {
        io.slot().before = head.map(|h| h.version);
        return Ok(report);
    }
    let rows = io.history().await?;
    io.slot().before = rows.iter().rev().find(|r| !is_mark(r)).map(|r| r.version);
    let (pending, resume) = ms.to_apply(&rows, &options)?;
    if pending.is_empty() {
        return Ok(report);
    }
    if let Some(path) = &options.backup {
        io.done(Step::Backup(path.clone())).await?;
        report.backup = Some(path.clone());
    }
    if options.batch {
        return batch(io, ms, pending, report, locking, rows.is_empty()).await;
    }
    if rows.is_empty() {
        io.done(Step::CreateHistory).await?;
    }
    let total = pending.len();
    for (index, m) in pending.into_iter().enumerate() {
        let run =
            Run { m, script: m.up(), direction: Direction::Up, resume: resume.filter(|r| r.version == m.version()) };
        match apply_one(io, ms, &run, index, total, locking, &report).await {
            Ok(Some(duration)) => report.push(m, duration),
            Ok(None) => {}
            Err(err) => return Err(err.during(m, m.up(), &report)),
        }
    }
    Ok(report)
}

/// One pending migration in its transaction (or, outside one, marked):
/// its duration, or `None` when another migrator applied it meanwhile.
async fn apply_one<'m>(
    io: &Io<'m>,
    ms: &'m Migrations,
    run: &Run<'m>,
    index: usize,
    total: usize,
    locking: Locking,
    report: &Report,
) -> Result<Option<Duration>, Error> {
    let m = run.m;
    io.begin().await?;
    // Another migrator may have applied it while this one waited for the
    // lock, or be running it outside a transaction now.
    if locking == Locking::PerTransaction {
        match io.row_state(m.version()).await? {
            Some(RowState::Applied) => {
                io.commit().await?;
                return Ok(None);
            }
            Some(RowState::Marked) if run.resume.is_none() => {
                let Some(mark) = plan::split(io.history().await?)?.1 else {
                    return Err(Error::History {
                        message: format!(
                            "the row of version {} looks like an interruption mark but is not one: repair the \
                             history table, then run the command again",
                            m.version()
                        ),
                    });
                };
                return Err(Error::interrupted(
                    &mark,
                    "another process started it after this one read the history, and is running it or was \
                     stopped: run the command again once that process is done",
                ));
            }
            None if ms.is_baseline(m) && !io.history().await?.is_empty() => {
                return Err(Error::History {
                    message: "another process applied migrations while this one waited to run the baseline on \
                              the empty database: run the upgrade again"
                        .into(),
                });
            }
            _ => {}
        }
    }
    io.done(Step::Starting { migration: m, index, total }).await?;
    let started = Instant::now();
    run_file(io, ms, run, report, Bookkeeping::Record { m, started }).await?;
    Ok(Some(started.elapsed()))
}

/// All pending migrations in one transaction: all or nothing (the history
/// table too, when it is new).
async fn batch<'m>(
    io: &Io<'m>,
    ms: &'m Migrations,
    pending: Vec<&'m Migration>,
    mut report: Report,
    locking: Locking,
    new_history: bool,
) -> Result<Report, Error> {
    let Some(&last) = pending.last() else { return Ok(report) };
    let mut batch = Report::default();
    let total = pending.len();
    let result = async {
        io.begin().await?;
        if new_history {
            io.done(Step::CreateHistory).await?;
        }
        for (index, m) in pending.into_iter().enumerate() {
            if locking == Locking::PerTransaction && io.row_state(m.version()).await?.is_some() {
                continue;
            }
            io.done(Step::Starting { migration: m, index, total }).await?;
            let started = Instant::now();
            run_script(io, m, m.up(), &report).await?;
            bookkeeping(io, ms, Bookkeeping::Record { m, started }).await?;
            batch.push(m, started.elapsed());
        }
        io.commit().await
    }
    .await;
    // A failure to begin, record or commit the batch rolls all of it back:
    // said of its last migration, with nothing applied.
    result.map_err(|err| err.during(last, last.up(), &Report::default()))?;
    report.applied = batch.applied;
    Ok(report)
}

async fn downgrade<'m>(io: &Io<'m>, ms: &'m Migrations, version: i64) -> Result<Report, Error> {
    ms.check_base_or_version(version)?;
    // Refuses (an irreversible migration on the way) before anything runs.
    ms.to_revert(&io.history().await?, version)?;
    let mut report = Report::default();
    loop {
        // The plan again under the write lock: another process may have
        // moved the database since.
        io.begin().await?;
        let rows = io.history().await?;
        let (plan, resume) = ms.to_revert(&rows, version)?;
        let Some(&(m, down)) = plan.first() else {
            io.commit().await?;
            return Ok(report);
        };
        let started = Instant::now();
        let run = Run { m, script: down, direction: Direction::Down, resume };
        // The baseline's down forgets every migration it replaced.
        let forget = Bookkeeping::Forget { version: m.version(), and_before: ms.is_baseline(m) };
        run_file(io, ms, &run, &report, forget).await.map_err(|err| err.during(m, down, &report))?;
        report.push(m, started.elapsed());
    }
}

async fn stamp<'m>(io: &Io<'m>, ms: &'m Migrations, version: i64) -> Result<Report, Error> {
    ms.check_base_or_version(version)?;
    io.done(Step::CreateHistory).await?;
    io.begin().await?;
    let rows = io.history().await?;
    io.done(Step::ForgetAfter(version)).await?;
    for m in ms.to_stamp(&rows, version) {
        io.done(Step::Record { migration: m, duration: Duration::ZERO }).await?;
    }
    io.commit().await?;
    Ok(Report::default())
}

/// A file to run, and where it resumes.
struct Run<'m> {
    m: &'m Migration,
    script: &'m Script,
    direction: Direction,
    resume: Option<Resume>,
}

/// What the history says once a file ran.
enum Bookkeeping<'m> {
    /// Applied (for the baseline: every migration it replaces, the time
    /// taken on its own version).
    Record { m: &'m Migration, started: Instant },
    /// Reverted.
    Forget { version: i64, and_before: bool },
}

async fn bookkeeping<'m>(io: &Io<'m>, ms: &'m Migrations, what: Bookkeeping<'m>) -> Result<(), Error> {
    match what {
        Bookkeeping::Record { m, started } => {
            let duration = started.elapsed();
            for r in ms.recorded_by(m) {
                let duration = if r.version() == m.version() { duration } else { Duration::ZERO };
                io.done(Step::Record { migration: r, duration }).await?;
            }
            Ok(())
        }
        Bookkeeping::Forget { version, and_before } => io.done(Step::Forget { version, and_before }).await,
    }
}

/// Runs a whole file in the open transaction.
async fn run_script<'m>(io: &Io<'m>, m: &'m Migration, script: &'m Script, report: &Report) -> Result<(), Error> {
    match io.ask(Step::RunScript { migration: m, script }).await? {
        Outcome::Done => Ok(()),
        Outcome::Failed(f) => Err(Error::failed(m, script, f.offset, f.message, f.cause, report)),
        other => Err(mismatch("run a script", &other)),
    }
}

/// Runs `run`'s file in the transaction the caller began, then its
/// bookkeeping, and commits. A file that runs outside a transaction is marked
/// in the history before its first statement (under the lock the transaction
/// holds), the transaction commits, and the mark moves on after each
/// statement, so that a file stopped part-way says how far it got and
/// resumes there ([`Interrupted`]); its bookkeeping then clears the mark in a
/// transaction of its own.
async fn run_file<'m>(
    io: &Io<'m>,
    ms: &'m Migrations,
    run: &Run<'m>,
    report: &Report,
    then: Bookkeeping<'m>,
) -> Result<(), Error> {
    let Run { m, script, direction, resume } = *run;
    let implicit_commits = io.slot().implicit_commits;
    if script.mode() == Mode::Transaction && !implicit_commits {
        run_script(io, m, script, report).await?;
        bookkeeping(io, ms, then).await?;
        return io.commit().await;
    }
    let (mut done, mut from) = resume.map_or((0, 0), |r| (r.done, r.from));
    if resume.is_none() {
        // An up file's row is new; a down file's applied row becomes its mark.
        io.mark(run, 0, 0, direction == Direction::Up).await?;
    }
    io.commit().await?;
    loop {
        let range = match io.ask(Step::RunStatement { migration: m, script, from }).await? {
            Outcome::End => break,
            Outcome::Ran(range) => range,
            Outcome::Failed(f) => {
                let err = Error::failed(m, script, f.offset, f.message, f.cause, report);
                // A file with its own transaction may have one open: it rolls
                // back with the marks written in it, and the history says
                // again how far it got.
                if let Ok(Outcome::RolledBack(true)) = io.ask(Step::RollbackOwn).await
                    && let Ok(rows) = io.history().await
                {
                    done = statements_done(rows, m.version()).unwrap_or(done);
                }
                return Err(err.kept(done));
            }
            other => return Err(mismatch("run a statement", &other)),
        };
        from = range.end;
        let statement = &script.sql()[range.clone()];
        // A `CREATE INDEX CONCURRENTLY` that failed part-way leaves its index
        // INVALID, and `IF NOT EXISTS` skips it when the file runs again: not
        // done until the index is valid.
        if let Some(index) = lexer::created_index(statement)
            && let Ok(Outcome::Valid(false)) = io.ask(Step::IndexValid(index.clone())).await
        {
            let at = range.start + lexer::skip_trivia(statement);
            let message = format!(
                "index `{index}` is INVALID (a `CREATE INDEX CONCURRENTLY` that failed part-way leaves it so, and \
                 `IF NOT EXISTS` then skips it): it is not used, and a unique one does not keep duplicates out; \
                 drop it with `DROP INDEX CONCURRENTLY {}` and run the migration again",
                lexer::quote_ident(&index)
            );
            let cause = Cause::InvalidIndex(crate::InvalidIndex { index });
            return Err(Error::failed(m, script, at, message, cause, report).kept(done));
        }
        done += 1;
        // Written in the file's own transaction, if it has one open, so that
        // the statement and its mark commit together or not at all.
        io.mark(run, done, range.end, false).await.map_err(|err| err.unrecorded(m, direction, done))?;
    }
    let finish = async {
        io.begin().await?;
        io.done(Step::ClearMark(m.version())).await?;
        bookkeeping(io, ms, then).await?;
        io.commit().await
    };
    finish.await.map_err(|err| err.unrecorded(m, direction, done))
}

impl Error {
    /// A migration's file failed at byte `offset` of its SQL (any engine).
    pub(crate) fn failed(
        m: &Migration,
        script: &Script,
        offset: usize,
        message: String,
        source: Cause,
        report: &Report,
    ) -> Error {
        let (line, column) = migcheck_core::lexer::line_column(script.sql(), offset);
        Error::MigrationFailed {
            version: m.version(),
            name: m.name().to_owned(),
            path: script.path().to_owned(),
            line,
            column,
            message,
            applied: report.applied.iter().map(|a| a.version).collect(),
            kept: None,
            source: Box::new(source),
        }
    }

    /// This failure came after `kept` statements of a file that runs outside
    /// a transaction.
    pub(crate) fn kept(mut self, statements: usize) -> Error {
        if let Error::MigrationFailed { kept, .. } = &mut self {
            *kept = Some(statements);
        }
        self
    }
}

impl Error {
    /// An engine error met while running `script` of `m` in its transaction
    /// (beginning, committing, recording): said of `m`, which was rolled back.
    /// A file that runs outside a transaction has its engine errors met after
    /// its first statement made [`Error::Interrupted`] already
    /// ([`Error::unrecorded`]): what reaches here for it came before anything
    /// of it ran. Other errors pass unchanged.
    pub(crate) fn during(self, m: &Migration, _script: &Script, report: &Report) -> Error {
        let (message, source) = match self {
            Error::Sqlite(err) => (err.to_string(), Cause::Sqlite(err)),
            #[cfg(feature = "postgres")]
            Error::Postgres(err) => (err.to_string(), Cause::Postgres(err)),
            other => return other,
        };
        Error::NotCommitted {
            version: m.version(),
            name: m.name().to_owned(),
            message,
            applied: report.applied.iter().map(|a| a.version).collect(),
            source: Box::new(source),
        }
    }
}

impl Error {
    /// An engine error met while recording the progress of a file that runs
    /// outside a transaction, after `done` of its statements ran: the file
    /// stays marked interrupted, and the same command resumes it.
    pub(crate) fn unrecorded(self, m: &Migration, direction: Direction, done: usize) -> Error {
        match self {
            Error::Sqlite(_) => {}
            #[cfg(feature = "postgres")]
            Error::Postgres(_) => {}
            other => return other,
        }
        Error::Interrupted {
            version: m.version(),
            name: m.name().to_owned(),
            direction,
            done,
            why: format!(
                "recording its progress in the history failed ({self}); fix that, then run the command again: \
                 it resumes after the last statement the history records (a statement that ran but was not \
                 recorded runs again)"
            ),
        }
    }
}
