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

/// Declares [`Kind`] from one table: each kind's variant, its stable code,
/// whether it is an error only, a warning (`allow`/`deny` can name it) or a
/// finding (a warning about what the migration does to production data),
/// and its one-sentence summary. Everything that lists kinds reads it.
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $class:ident, $summary:literal;)*) => {
        /// What went wrong; callers match on this. The code shown in brackets
        /// (`error[sealed-edited]`) is [`Kind::code`], stable across releases.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Kind {
            $($(#[$doc])* $variant,)*
        }

        impl Kind {
            /// Every kind, in the table's order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The stable short code shown in brackets.
            pub fn code(self) -> &'static str {
                match self {
                    $(Kind::$variant => $code,)*
                }
            }

            /// What the code means, in one sentence (SARIF's rule descriptions).
            pub fn summary(self) -> &'static str {
                match self {
                    $(Kind::$variant => $summary,)*
                }
            }

            fn class(self) -> Class {
                match self {
                    $(Kind::$variant => Class::$class,)*
                }
            }
        }
    };
}

/// What a kind can be reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// An error only.
    Error,
    /// A warning: `allow` and `deny` settings name it.
    Warning,
    /// A warning about what a migration would do to a production database.
    Finding,
}

kinds! {
    /// The migrations directory does not exist or cannot be read.
    MissingDirectory = "missing-directory", Error, "The migrations directory does not exist or cannot be read.";
    /// A file could not be read.
    Io = "io", Error, "A file could not be read, or an entry of the directory is not a file inside it.";
    /// A `.sql` file whose name is not a migration name.
    MalformedName = "malformed-name", Error, "A .sql file whose name is not a migration name.";
    /// Two migrations with the same version.
    DuplicateVersion = "duplicate-version", Error, "Two migrations share a version.";
    /// A `.down.sql` without its `.up.sql`.
    DownWithoutUp = "down-without-up", Error, "A down migration without its up migration.";
    /// A file that is not UTF-8 text.
    InvalidText = "invalid-text", Error, "A file that is not UTF-8 text.";
    /// An unknown `-- migcheck:` directive.
    UnknownDirective = "unknown-directive", Error, "An unknown `-- migcheck:` directive or setting code.";
    /// The lock file cannot be parsed, or its chain hash does not match its lines.
    LockCorrupt = "lock-corrupt", Error, "The lock file cannot be read, or its chain hash does not match its lines.";
    /// The lock file has git conflict markers.
    LockConflict = "lock-conflict", Error, "The lock file has git conflict markers.";
    /// A sealed migration's file differs from its checksum in the lock.
    SealedEdited = "sealed-edited", Error, "A sealed (released) migration was edited.";
    /// A sealed migration's file is gone.
    SealedDeleted = "sealed-deleted", Error, "A sealed (released) migration was deleted or renamed.";
    /// An unsealed migration is ordered before the newest sealed one.
    OutOfOrder = "out-of-order", Error, "An unsealed migration is ordered before the newest sealed one.";
    /// A migration that is not sealed yet (an error in locked mode).
    Unsealed = "unsealed", Warning, "A migration not sealed in the lock file yet.";
    /// SQL that fails on the scratch database.
    SqlError = "sql-error", Error, "SQL that fails on the scratch database.";
    /// Rows left violating foreign keys.
    ForeignKeyViolation = "foreign-key-violation", Error, "Rows left violating foreign keys.";
    /// An attempt to reach outside the scratch database.
    SandboxDenied = "sandbox", Error, "An attempt to reach outside the scratch database.";
    /// A migration that ran past the time limit.
    Timeout = "timeout", Error, "A migration that runs past the time limit.";
    /// A migration that grew the scratch database past its size limit.
    ScratchLimit = "scratch-limit", Error, "A migration that grows the scratch database past its size limit.";
    /// `PRAGMA foreign_keys` inside a transaction, where SQLite ignores it.
    PragmaInTransaction = "pragma-in-transaction", Warning, "PRAGMA foreign_keys inside a transaction, where SQLite ignores it.";
    /// A sqlite3 shell command (`.timeout`) that is not SQL.
    ShellCommand = "shell-command", Warning, "A sqlite3 shell command, which is not SQL.";
    /// An up migration with no statement.
    EmptyMigration = "empty-migration", Warning, "An up migration with no statement.";
    /// A down migration that does not restore the schema its up started from.
    IrreversibleDown = "down-mismatch", Error, "A down migration that does not restore the schema its up started from.";
    /// The migrations do not produce the schema declared in `schema.sql`.
    Drift = "drift", Error, "The migrations do not produce the schema declared in schema.sql.";
    /// PostgreSQL-dialect SQL that was not run (no scratch server given).
    NotExecuted = "not-executed", Warning, "PostgreSQL migrations whose SQL was not run: no scratch server.";
    /// A file that fails when its tables hold rows (the synthetic ones).
    DataDependent = "data-dependent", Finding, "A migration that fails when its tables hold rows.";
    /// A file that fails on the fixtures' rows, or a fixture that does not load.
    DataError = "data-error", Error, "A migration that fails on the fixtures' rows, or a fixture that does not load.";
    /// Rows or values present before a migration and gone after it.
    DataLoss = "data-loss", Finding, "Rows or values present before a migration and gone after it.";
    /// A down migration that does not give back the rows its up started from.
    DownDataMismatch = "down-data-mismatch", Error, "A down migration that does not give back the rows its up kept.";
    /// `-- migcheck: allow <code>` in a file where no such finding is made.
    UnusedAllow = "unused-allow", Finding, "An allow directive that matches no finding.";
    /// A table or index of the database before the migration rewritten.
    TableRewrite = "table-rewrite", Finding, "A table or index that existed is rewritten under an ACCESS EXCLUSIVE lock.";
    /// A lock that blocks reads or writes held while the table is scanned or
    /// while the migration works on.
    BlockingLock = "blocking-lock", Finding, "A lock that blocks reads or writes, held while its table is scanned or work goes on.";
    /// A constraint added and validated at once on an existing table.
    ValidatingConstraint = "validating-constraint", Finding, "A constraint added and validated at once on an existing table.";
    /// An index built or dropped on an existing table without `CONCURRENTLY`.
    IndexNotConcurrent = "index-not-concurrent", Finding, "An index built or dropped on an existing table without CONCURRENTLY.";
    /// A blocking lock taken with `lock_timeout` unset.
    NoLockTimeout = "no-lock-timeout", Finding, "A blocking lock taken with lock_timeout unset.";
    /// A change the release still running during a deploy breaks on.
    BreakingChange = "breaking-change", Finding, "A change the release still running during a rolling deploy breaks on.";
    /// A squashed baseline that does not give what the migrations it replaces
    /// give, or that cannot stand in for them.
    BaselineMismatch = "baseline-mismatch", Error, "A squashed baseline that does not give the schema and rows of the migrations it replaces.";
    /// A table SQLite's rebuild procedure replaced (a note: SQLite locks the
    /// whole database for any write anyway).
    TableRebuild = "table-rebuild", Finding, "A table replaced by SQLite's rebuild procedure (new table, copy, drop, rename).";
    /// A table the data checks could not give synthetic rows (a note: the
    /// check goes on without them).
    DataSkipped = "data-skipped", Finding, "A table the data checks could not fill with synthetic rows.";
    /// A foreign key left referencing a table that a drop or a rename took
    /// away (SQLite).
    DanglingForeignKey = "dangling-foreign-key", Finding, "A foreign key left referencing a table a drop or a rename took away.";
    /// A MySQL migration with more than one DDL statement: each commits on
    /// its own, so a failure part-way leaves it half applied.
    PartialDdl = "partial-ddl", Finding, "A MySQL migration with more than one DDL statement, which cannot be atomic.";
    /// Statements of the branch's code that fail on the schema before the
    /// branch's migrations (`check --base`; a note): the code needs them
    /// applied first.
    DeployOrder = "deploy-order", Finding, "Statements of the branch's code that fail on the schema before its migrations.";
}

impl Kind {
    /// The kinds that can be warnings: those `allow` and `deny` settings
    /// (`Build::allow`, `Build::deny`, the lock's `allow`/`deny` lines) name.
    pub fn warnings() -> impl Iterator<Item = Kind> {
        Kind::ALL.iter().copied().filter(|k| k.class() != Class::Error)
    }

    /// The warning kind whose code is `code`.
    pub fn warning_from_code(code: &str) -> Option<Kind> {
        Kind::warnings().find(|k| k.code() == code)
    }

    /// Whether this is an advisory finding about what a migration would do
    /// to a production database (data dependence, data loss, deployment
    /// hazards), as opposed to a defect of the files. Findings are reported
    /// for migrations not sealed yet: a sealed migration is released, and
    /// cannot be changed anyway.
    pub fn is_finding(self) -> bool {
        self.class() == Class::Finding
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
