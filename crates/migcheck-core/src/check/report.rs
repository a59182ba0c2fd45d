//! What the checker found: the [`Report`], and the clock that times its phases.

use std::time::{Duration, Instant};

use crate::config::ScratchConfig;
use crate::diagnostic::{Diagnostic, Severity};
use crate::engine::sqlite::schema::Snapshot;
use crate::lock::Lock;
use crate::model::{Baseline, Migration, Script, Squashed};
use crate::model::{CHAIN_START, Dialect, Digest};

/// Everything the checker found.
#[derive(Debug)]
pub struct Report {
    /// Migrations in version order (those that could be read).
    pub migrations: Vec<Migration>,
    /// The lock as read (empty if missing or unreadable).
    pub lock: Lock,
    /// Whether the lock file exists and was read.
    pub lock_ok: bool,
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether the SQL was run on the scratch database.
    pub executed: bool,
    /// The schema the migrations produce (when they all ran).
    pub schema: Option<Snapshot>,
    /// The schema declared in the schema file (when there is one and it ran).
    pub declared: Option<Snapshot>,
    /// The dialect the migrations are written in and checked on: the
    /// configuration's, else the lock's, else SQLite.
    pub dialect: Dialect,
    /// The scratch configuration used: the configuration's with the lock's
    /// settings folded in (its size limit, `foreign-keys off`, function stubs).
    pub scratch: ScratchConfig,
    /// Whether the sealed migrations' result came from the cache.
    pub from_cache: bool,
    /// The layout the directory was read in.
    pub layout: crate::model::Layout,
    /// The fixture files read (to watch for changes).
    pub fixtures: Vec<std::path::PathBuf>,
    /// The prelude run before the first migration, when there is one.
    pub prelude: Option<Script>,
    /// Findings of sealed migrations found and accepted by the lock's
    /// `accept` lines (or, with `Config::accepting`, every acceptable one).
    pub accepted: Vec<crate::lock::Accepted>,
    /// The squashed baseline (`<V>_<name>.baseline.sql`), when there is one.
    pub baseline: Option<Baseline>,
    /// The migrations the baseline replaces whose files were deleted, as the
    /// lock keeps them (oldest first); `migrations` starts after them.
    pub squashed: Vec<Squashed>,
    /// Where the copy of the database every migration produced is kept
    /// (`Config::keep_head`), as a URL sqlx and `migcheck::sql!` open:
    /// `sqlite:///…/head.sqlite?mode=ro`, or `postgres://…/migcheck_head_…`.
    pub head_url: Option<String>,
    /// The lock's chain hash after each of its entries.
    pub(super) lock_links: Vec<Digest>,
    /// How long each phase took, in order (`MIGCHECK_TIMINGS=1` shows them).
    pub timings: Vec<(&'static str, Duration)>,
}

/// Times the check's phases into [`Report::timings`].
pub(super) struct Clock(Instant);

impl Clock {
    pub(super) fn start() -> Clock {
        Clock(Instant::now())
    }

    pub(super) fn lap(&mut self, timings: &mut Vec<(&'static str, Duration)>, phase: &'static str) {
        let now = Instant::now();
        timings.push((phase, now - self.0));
        self.0 = now;
    }
}

impl Report {
    /// The baseline once the files of the migrations it replaced are
    /// deleted: what every database starts from before `migrations`.
    pub fn standing_baseline(&self) -> Option<&Baseline> {
        self.baseline.as_ref().filter(|_| !self.squashed.is_empty())
    }

    /// The standing baseline's script.
    pub fn standing_script(&self) -> Option<&Script> {
        self.standing_baseline().map(|b| &b.script)
    }

    /// Whether any diagnostic is an error (the build fails).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The diagnostics that are errors, in the order found.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The diagnostics that are warnings, in the order found.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// The diagnostics that are notes (information that never fails the
    /// build), in the order found.
    pub fn notes(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Note)
    }

    /// The lock's `accept` lines for migrations sealed now: findings the
    /// team accepts, to be said in one line.
    pub fn accepted_in_lock(&self) -> usize {
        self.lock.accepts.iter().filter(|a| self.migrations.iter().any(|m| m.sealed && m.version == a.version)).count()
    }

    /// The chain hash over all migrations.
    pub fn chain(&self) -> Digest {
        self.migrations.last().map_or(CHAIN_START, |m| m.chain)
    }

    /// Whether an error found so far came from the sealed-deleted check of a
    /// migration a baseline stands for (the files replaced and deleted).
    pub(super) fn stands_for(&self, version: i64) -> bool {
        self.squashed.binary_search_by_key(&version, |s| s.version).is_ok()
    }
}
