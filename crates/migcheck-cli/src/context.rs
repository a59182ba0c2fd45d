//! What every command is given: the global options, read once from the
//! command line.

use std::path::PathBuf;

use clap::ValueEnum;

/// The global options every command reads.
#[derive(Debug, Clone)]
pub struct Context {
    /// The migrations directory.
    pub dir: PathBuf,
    /// `--database-url`, when given (else `DATABASE_URL`, read where needed).
    pub database_url: Option<String>,
    /// `--format`.
    pub format: Format,
    /// The history table's name.
    pub history_table: String,
    /// `--layout`, when given.
    pub layout: Option<migcheck_core::model::Layout>,
    /// `--fixtures`, when given.
    pub fixtures: Option<PathBuf>,
    /// `--prelude`, when given.
    pub prelude: Option<PathBuf>,
}

/// `--format`: which commands write which is checked once, before a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// GitHub Actions annotations (`check` only).
    Github,
    /// SARIF 2.1.0, for code scanning (`check` only).
    Sarif,
    /// JUnit XML, one test case per migration (`check` only).
    Junit,
    /// A pull-request comment (`check` only).
    Markdown,
    /// The schema as SQL (`schema` only; its default).
    Sql,
    /// A Mermaid `erDiagram` (`schema`, `show`).
    Mermaid,
    /// Graphviz dot (`schema` only).
    Dot,
}

impl Format {
    /// The formats only `migcheck check` writes.
    pub fn check_only(self) -> bool {
        matches!(self, Format::Github | Format::Sarif | Format::Junit | Format::Markdown)
    }

    /// The formats only `migcheck schema` (and, for Mermaid, `show`) writes.
    pub fn schema_only(self) -> bool {
        matches!(self, Format::Sql | Format::Mermaid | Format::Dot)
    }
}
