//! What the history table holds: its rows, and which way a file that was
//! cut part-way was running. Plain data, imported by the plan, the errors and
//! the drivers.

use std::time::Duration;

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

/// Which way an interrupted file was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Its up file, during an upgrade.
    Up,
    /// Its down file, during a downgrade.
    Down,
}

/// How many statements of a file interrupted part-way took effect, said:
/// "none of its statements ran", "1 statement ran and stays", "3 statements
/// ran and stay".
pub(crate) fn statements_ran(done: usize) -> String {
    match done {
        0 => "none of its statements ran".to_owned(),
        1 => "1 statement ran and stays".to_owned(),
        n => format!("{n} statements ran and stay"),
    }
}
