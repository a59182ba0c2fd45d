//! Diagnostics: what the checker found, where, and what to do next.
//!
//! A diagnostic is data; [`Diagnostic::render`] turns it into rustc-style text
//! (annotate-snippets). Nothing here prints: the build-script crate, the CLI and
//! the macro decide where the text goes.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

use crate::lexer;

/// Error or warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The build fails.
    Error,
    /// Printed; the build goes on (unless warnings are denied).
    Warning,
    /// Printed for information; never fails the build, not even with
    /// warnings denied (unless its code is denied by name).
    Note,
}

/// What went wrong; callers match on this. The code shown in brackets
/// (`error[sealed-edited]`) is [`Kind::code`], stable across releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The migrations directory does not exist or cannot be read.
    MissingDirectory,
    /// A file could not be read.
    Io,
    /// A `.sql` file whose name is not a migration name.
    MalformedName,
    /// Two migrations with the same version.
    DuplicateVersion,
    /// A `.down.sql` without its `.up.sql`.
    DownWithoutUp,
    /// A file that is not UTF-8 text.
    InvalidText,
    /// An unknown `-- migcheck:` directive.
    UnknownDirective,
    /// The lock file cannot be parsed, or its chain hash does not match its lines.
    LockCorrupt,
    /// The lock file has git conflict markers.
    LockConflict,
    /// A sealed migration's file differs from its checksum in the lock.
    SealedEdited,
    /// A sealed migration's file is gone.
    SealedDeleted,
    /// An unsealed migration is ordered before the newest sealed one.
    OutOfOrder,
    /// A migration that is not sealed yet (an error in locked mode).
    Unsealed,
    /// SQL that fails on the scratch database.
    SqlError,
    /// Rows left violating foreign keys.
    ForeignKeyViolation,
    /// An attempt to reach outside the scratch database.
    SandboxDenied,
    /// A migration that ran past the time limit.
    Timeout,
    /// A migration that grew the scratch database past its size limit.
    ScratchLimit,
    /// `PRAGMA foreign_keys` inside a transaction, where SQLite ignores it.
    PragmaInTransaction,
    /// A sqlite3 shell command (`.timeout`) that is not SQL.
    ShellCommand,
    /// An up migration with no statement.
    EmptyMigration,
    /// A down migration that does not restore the schema its up started from.
    IrreversibleDown,
    /// The migrations do not produce the schema declared in `schema.sql`.
    Drift,
    /// PostgreSQL-dialect SQL that was not run (no scratch server given).
    NotExecuted,
    /// A file that fails when its tables hold rows (the synthetic ones).
    DataDependent,
    /// A file that fails on the fixtures' rows, or a fixture that does not load.
    DataError,
    /// Rows or values present before a migration and gone after it.
    DataLoss,
    /// A down migration that does not give back the rows its up started from.
    DownDataMismatch,
    /// `-- migcheck: allow <code>` in a file where no such finding is made.
    UnusedAllow,
    /// A table or index of the database before the migration rewritten.
    TableRewrite,
    /// A lock that blocks reads or writes held while the table is scanned or
    /// while the migration works on.
    BlockingLock,
    /// A constraint added and validated at once on an existing table.
    ValidatingConstraint,
    /// An index built or dropped on an existing table without `CONCURRENTLY`.
    IndexNotConcurrent,
    /// A blocking lock taken with `lock_timeout` unset.
    NoLockTimeout,
    /// A change the release still running during a deploy breaks on.
    BreakingChange,
    /// A squashed baseline that does not give what the migrations it replaces
    /// give, or that cannot stand in for them.
    BaselineMismatch,
    /// A table SQLite's rebuild procedure replaced (a note: SQLite locks the
    /// whole database for any write anyway).
    TableRebuild,
    /// A table the data checks could not give synthetic rows (a note: the
    /// check goes on without them).
    DataSkipped,
    /// A foreign key left referencing a table that a drop or a rename took
    /// away (SQLite).
    DanglingForeignKey,
}

impl Kind {
    /// The kinds that can be warnings: those `allow` and `deny` settings
    /// (`Build::allow`, `Build::deny`, the lock's `allow`/`deny` lines) name.
    pub const WARNINGS: [Kind; 17] = [
        Kind::Unsealed,
        Kind::PragmaInTransaction,
        Kind::ShellCommand,
        Kind::EmptyMigration,
        Kind::NotExecuted,
        Kind::DataDependent,
        Kind::DataLoss,
        Kind::UnusedAllow,
        Kind::TableRewrite,
        Kind::BlockingLock,
        Kind::ValidatingConstraint,
        Kind::IndexNotConcurrent,
        Kind::NoLockTimeout,
        Kind::BreakingChange,
        Kind::TableRebuild,
        Kind::DataSkipped,
        Kind::DanglingForeignKey,
    ];

    /// The warning kind whose code is `code`.
    pub fn warning_from_code(code: &str) -> Option<Kind> {
        Kind::WARNINGS.into_iter().find(|k| k.code() == code)
    }

    /// Whether this is an advisory finding about what a migration would do
    /// to a production database (data dependence, data loss, deployment
    /// hazards), as opposed to
    /// a defect of the files. Findings are reported for migrations not sealed
    /// yet: a sealed migration is released, and cannot be changed anyway.
    pub fn is_finding(self) -> bool {
        matches!(
            self,
            Kind::DataDependent
                | Kind::DataLoss
                | Kind::UnusedAllow
                | Kind::TableRewrite
                | Kind::BlockingLock
                | Kind::ValidatingConstraint
                | Kind::IndexNotConcurrent
                | Kind::NoLockTimeout
                | Kind::BreakingChange
                | Kind::TableRebuild
                | Kind::DataSkipped
                | Kind::DanglingForeignKey
        )
    }

    /// What the code means, in one sentence (SARIF's rule descriptions).
    pub fn summary(self) -> &'static str {
        match self {
            Kind::MissingDirectory => "The migrations directory does not exist or cannot be read.",
            Kind::Io => "A file could not be read, or an entry of the directory is not a file inside it.",
            Kind::MalformedName => "A .sql file whose name is not a migration name.",
            Kind::DuplicateVersion => "Two migrations share a version.",
            Kind::DownWithoutUp => "A down migration without its up migration.",
            Kind::InvalidText => "A file that is not UTF-8 text.",
            Kind::UnknownDirective => "An unknown `-- migcheck:` directive or setting code.",
            Kind::LockCorrupt => "The lock file cannot be read, or its chain hash does not match its lines.",
            Kind::LockConflict => "The lock file has git conflict markers.",
            Kind::SealedEdited => "A sealed (released) migration was edited.",
            Kind::SealedDeleted => "A sealed (released) migration was deleted or renamed.",
            Kind::OutOfOrder => "An unsealed migration is ordered before the newest sealed one.",
            Kind::Unsealed => "A migration not sealed in the lock file yet.",
            Kind::SqlError => "SQL that fails on the scratch database.",
            Kind::ForeignKeyViolation => "Rows left violating foreign keys.",
            Kind::SandboxDenied => "An attempt to reach outside the scratch database.",
            Kind::Timeout => "A migration that runs past the time limit.",
            Kind::ScratchLimit => "A migration that grows the scratch database past its size limit.",
            Kind::PragmaInTransaction => "PRAGMA foreign_keys inside a transaction, where SQLite ignores it.",
            Kind::ShellCommand => "A sqlite3 shell command, which is not SQL.",
            Kind::EmptyMigration => "An up migration with no statement.",
            Kind::IrreversibleDown => "A down migration that does not restore the schema its up started from.",
            Kind::Drift => "The migrations do not produce the schema declared in schema.sql.",
            Kind::NotExecuted => "PostgreSQL migrations whose SQL was not run: no scratch server.",
            Kind::DataDependent => "A migration that fails when its tables hold rows.",
            Kind::DataError => "A migration that fails on the fixtures' rows, or a fixture that does not load.",
            Kind::DataLoss => "Rows or values present before a migration and gone after it.",
            Kind::DownDataMismatch => "A down migration that does not give back the rows its up kept.",
            Kind::UnusedAllow => "An allow directive that matches no finding.",
            Kind::TableRewrite => "A table or index that existed is rewritten under an ACCESS EXCLUSIVE lock.",
            Kind::BlockingLock => {
                "A lock that blocks reads or writes, held while its table is scanned or work goes on."
            }
            Kind::ValidatingConstraint => "A constraint added and validated at once on an existing table.",
            Kind::IndexNotConcurrent => "An index built or dropped on an existing table without CONCURRENTLY.",
            Kind::NoLockTimeout => "A blocking lock taken with lock_timeout unset.",
            Kind::BreakingChange => "A change the release still running during a rolling deploy breaks on.",
            Kind::BaselineMismatch => {
                "A squashed baseline that does not give the schema and rows of the migrations it replaces."
            }
            Kind::TableRebuild => "A table replaced by SQLite's rebuild procedure (new table, copy, drop, rename).",
            Kind::DataSkipped => "A table the data checks could not fill with synthetic rows.",
            Kind::DanglingForeignKey => "A foreign key left referencing a table a drop or a rename took away.",
        }
    }

    /// The stable short code shown in brackets.
    pub fn code(self) -> &'static str {
        match self {
            Kind::MissingDirectory => "missing-directory",
            Kind::Io => "io",
            Kind::MalformedName => "malformed-name",
            Kind::DuplicateVersion => "duplicate-version",
            Kind::DownWithoutUp => "down-without-up",
            Kind::InvalidText => "invalid-text",
            Kind::UnknownDirective => "unknown-directive",
            Kind::LockCorrupt => "lock-corrupt",
            Kind::LockConflict => "lock-conflict",
            Kind::SealedEdited => "sealed-edited",
            Kind::SealedDeleted => "sealed-deleted",
            Kind::OutOfOrder => "out-of-order",
            Kind::Unsealed => "unsealed",
            Kind::SqlError => "sql-error",
            Kind::ForeignKeyViolation => "foreign-key-violation",
            Kind::SandboxDenied => "sandbox",
            Kind::Timeout => "timeout",
            Kind::ScratchLimit => "scratch-limit",
            Kind::PragmaInTransaction => "pragma-in-transaction",
            Kind::ShellCommand => "shell-command",
            Kind::EmptyMigration => "empty-migration",
            Kind::IrreversibleDown => "down-mismatch",
            Kind::Drift => "drift",
            Kind::NotExecuted => "not-executed",
            Kind::DataDependent => "data-dependent",
            Kind::DataError => "data-error",
            Kind::DataLoss => "data-loss",
            Kind::DownDataMismatch => "down-data-mismatch",
            Kind::UnusedAllow => "unused-allow",
            Kind::TableRewrite => "table-rewrite",
            Kind::BlockingLock => "blocking-lock",
            Kind::ValidatingConstraint => "validating-constraint",
            Kind::IndexNotConcurrent => "index-not-concurrent",
            Kind::NoLockTimeout => "no-lock-timeout",
            Kind::BreakingChange => "breaking-change",
            Kind::BaselineMismatch => "baseline-mismatch",
            Kind::TableRebuild => "table-rebuild",
            Kind::DataSkipped => "data-skipped",
            Kind::DanglingForeignKey => "dangling-foreign-key",
        }
    }
}

/// Where a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as shown to the user (relative to the package root when possible).
    pub path: String,
    /// 1-based line and column (in characters); `None` when the whole file is meant.
    pub line_column: Option<(usize, usize)>,
    /// The offending lines, when there is text to show.
    pub excerpt: Option<Excerpt>,
}

/// Lines of a file with a span to underline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// Whole lines of the file.
    pub text: String,
    /// Line number of the first line of `text`.
    pub first_line: usize,
    /// The span to underline, in bytes of `text`.
    pub span: Range<usize>,
    /// The label under the span.
    pub label: String,
}

/// At most this many lines are shown for one span.
const MAX_EXCERPT_LINES: usize = 6;

impl Location {
    /// A whole file.
    pub fn file(path: impl Into<String>) -> Self {
        Location { path: path.into(), line_column: None, excerpt: None }
    }

    /// A span of `text`, the contents of `path`, labelled `label`.
    pub fn span(path: impl Into<String>, text: &str, span: Range<usize>, label: impl Into<String>) -> Self {
        let start = lexer::floor_char_boundary(text, span.start);
        let end = lexer::floor_char_boundary(text, span.end.max(start));
        let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
        let mut line_end = text[end..].find('\n').map_or(text.len(), |n| end + n);
        // Cap the number of lines shown; the span is clipped with them.
        if let Some((i, _)) = text[line_start..line_end].match_indices('\n').nth(MAX_EXCERPT_LINES - 1) {
            line_end = line_start + i;
        }
        let excerpt_text = text[line_start..line_end].trim_end_matches('\r').to_owned();
        let local =
            (start - line_start).min(excerpt_text.len())..(end.min(line_end) - line_start).min(excerpt_text.len());
        let (line, column) = lexer::line_column(text, start);
        Location {
            path: path.into(),
            line_column: Some((line, column)),
            excerpt: Some(Excerpt { text: excerpt_text, first_line: line, span: local, label: label.into() }),
        }
    }
}

/// One problem found by the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem: its stable code.
    pub kind: Kind,
    /// One lower-case sentence naming what is wrong.
    pub message: String,
    /// Where: a file, with a line and column when known.
    pub location: Option<Location>,
    /// Facts that explain the error.
    pub notes: Vec<String>,
    /// What to do next.
    pub help: Option<String>,
    /// The migration concerned, when there is one.
    pub version: Option<i64>,
}

impl Diagnostic {
    /// An error of `kind`.
    pub fn error(kind: Kind, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            kind,
            message: message.into(),
            location: None,
            notes: Vec::new(),
            help: None,
            version: None,
        }
    }

    /// A warning of `kind`.
    pub fn warning(kind: Kind, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(kind, message) }
    }

    /// A note: printed, never failing the build by itself.
    pub fn info(kind: Kind, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Note, ..Diagnostic::error(kind, message) }
    }

    /// Says where.
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Adds a fact that explains it.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Says what to do.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Says which migration it concerns.
    pub fn version(mut self, version: i64) -> Self {
        self.version = Some(version);
        self
    }

    /// Whether it fails the build.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// rustc-style text without colours, ending without a newline.
    pub fn render(&self) -> String {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
            Severity::Note => Level::NOTE,
        };
        let mut group: Group<'_> =
            Group::with_title(level.clone().primary_title(self.message.as_str()).id(self.kind.code()));
        match &self.location {
            Some(Location { path, excerpt: Some(excerpt), .. }) => {
                let span = excerpt.span.start..excerpt.span.end.max(excerpt.span.start);
                group = group.element(
                    Snippet::source(excerpt.text.as_str())
                        .line_start(excerpt.first_line)
                        .path(path.as_str())
                        .fold(false)
                        .annotation(AnnotationKind::Primary.span(span).label(excerpt.label.as_str())),
                );
            }
            Some(Location { path, line_column, excerpt: None }) => {
                let mut origin = Origin::path(path.as_str());
                if let Some((line, column)) = line_column {
                    origin = origin.line(*line).char_column(*column);
                }
                group = group.element(origin);
            }
            None => {}
        }
        for note in &self.notes {
            group = group.element(Level::NOTE.message(note.as_str()));
        }
        if let Some(help) = &self.help {
            group = group.element(Level::HELP.message(help.as_str()));
        }
        Renderer::plain().render(&[group])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let text = "CREATE TABLE pets (id INTEGER);\nSELECT nme FROM pets;\n";
        let at = text.find("nme").unwrap();
        let d = Diagnostic::error(Kind::SqlError, "no such column: nme")
            .at(Location::span("migrations/2_pets.up.sql", text, at..at + 3, "no such column"))
            .help("fix the statement");
        let out = d.render();
        assert!(out.starts_with("error[sql-error]: no such column: nme\n"), "{out}");
        assert!(out.contains("--> migrations/2_pets.up.sql:2:8"), "{out}");
        assert!(out.contains("2 | SELECT nme FROM pets;"), "{out}");
        assert!(out.contains("^^^ no such column"), "{out}");
        assert!(out.contains("= help: fix the statement"), "{out}");
    }

    #[test]
    fn whole_file_and_long_spans() {
        let d = Diagnostic::warning(Kind::Unsealed, "not sealed").at(Location::file("migrations/1_a.sql"));
        let out = d.render();
        assert!(out.starts_with("warning[unsealed]: not sealed"), "{out}");
        assert!(out.contains("--> migrations/1_a.sql"), "{out}");

        let text: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let loc = Location::span("f.sql", &text, 0..text.len(), "here");
        let excerpt = loc.excerpt.unwrap();
        assert_eq!(excerpt.text.lines().count(), MAX_EXCERPT_LINES);
        assert!(excerpt.span.end <= excerpt.text.len());
    }

    #[test]
    fn crlf_and_spans_at_the_end() {
        let text = "SELECT 1;\r\nSELEC 2;\r\n";
        let at = text.find("SELEC ").unwrap();
        let loc = Location::span("f.sql", text, at..at + 5, "here");
        assert_eq!(loc.line_column, Some((2, 1)));
        assert_eq!(loc.excerpt.as_ref().unwrap().text, "SELEC 2;");
        let end = Location::span("f.sql", text, text.len()..text.len(), "end");
        assert_eq!(end.line_column, Some((3, 1)));
        Diagnostic::error(Kind::SqlError, "x").at(end).render();
    }
}
