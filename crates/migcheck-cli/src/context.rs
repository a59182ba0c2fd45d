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
    /// Text or JSON, for what every command prints (`check`, `schema` and
    /// `show` take their own richer format besides).
    pub output: Output,
    /// The history table's name.
    pub history_table: String,
    /// `--layout`, when given.
    pub layout: Option<migcheck_core::model::Layout>,
    /// `--fixtures`, when given.
    pub fixtures: Option<PathBuf>,
    /// `--prelude`, when given.
    pub prelude: Option<PathBuf>,
}

/// `--format` as given: one global option, so that `migcheck --format json
/// history` and `migcheck history --format json` both read. `main` turns it
/// into the command's own format once, before the command runs: a command
/// is never handed a format it does not write.
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
    fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }

    /// Why a command that writes text or JSON refuses this format.
    fn refused(self) -> String {
        let owner = match self {
            Format::Github | Format::Sarif | Format::Junit | Format::Markdown => "check",
            _ => "schema",
        };
        format!("`--format {}` is for `migcheck {owner}`; here use text or json", self.name())
    }
}

/// What the commands other than `check`, `schema` and `show` write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

impl TryFrom<Format> for Output {
    type Error = String;

    fn try_from(format: Format) -> Result<Output, String> {
        match format {
            Format::Text => Ok(Output::Text),
            Format::Json => Ok(Output::Json),
            other => Err(other.refused()),
        }
    }
}

/// What `migcheck check` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFormat {
    Text,
    Json,
    Github,
    Sarif,
    Junit,
    Markdown,
}

impl TryFrom<Format> for CheckFormat {
    type Error = String;

    fn try_from(format: Format) -> Result<CheckFormat, String> {
        Ok(match format {
            Format::Text => CheckFormat::Text,
            Format::Json => CheckFormat::Json,
            Format::Github => CheckFormat::Github,
            Format::Sarif => CheckFormat::Sarif,
            Format::Junit => CheckFormat::Junit,
            Format::Markdown => CheckFormat::Markdown,
            other => {
                return Err(format!(
                    "`--format {}` is for `migcheck schema`; `migcheck check` writes text, json, github, sarif, \
                     junit or markdown",
                    other.name()
                ));
            }
        })
    }
}

/// What `migcheck schema` writes (text is its SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaFormat {
    Sql,
    Json,
    Mermaid,
    Dot,
}

impl TryFrom<Format> for SchemaFormat {
    type Error = String;

    fn try_from(format: Format) -> Result<SchemaFormat, String> {
        Ok(match format {
            Format::Text | Format::Sql => SchemaFormat::Sql,
            Format::Json => SchemaFormat::Json,
            Format::Mermaid => SchemaFormat::Mermaid,
            Format::Dot => SchemaFormat::Dot,
            other => {
                return Err(format!("`--format {}` is not a schema format: sql, mermaid, dot or json", other.name()));
            }
        })
    }
}

/// What `migcheck show` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Json,
    Mermaid,
}

impl TryFrom<Format> for ShowFormat {
    type Error = String;

    fn try_from(format: Format) -> Result<ShowFormat, String> {
        Ok(match format {
            Format::Text => ShowFormat::Text,
            Format::Json => ShowFormat::Json,
            Format::Mermaid => ShowFormat::Mermaid,
            other => {
                return Err(format!("`--format {}` is not for `migcheck show`: text, json or mermaid", other.name()));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which command writes which format: every `--format` value against
    /// every command's own, with the message a refusal gives.
    #[test]
    fn each_command_takes_its_own_formats() {
        use Format::*;
        let all = [Text, Json, Github, Sarif, Junit, Markdown, Sql, Mermaid, Dot];
        let takes = |f: Format| {
            (
                Output::try_from(f).is_ok(),
                CheckFormat::try_from(f).is_ok(),
                SchemaFormat::try_from(f).is_ok(),
                ShowFormat::try_from(f).is_ok(),
            )
        };
        let expected = [
            (Text, (true, true, true, true)),
            (Json, (true, true, true, true)),
            (Github, (false, true, false, false)),
            (Sarif, (false, true, false, false)),
            (Junit, (false, true, false, false)),
            (Markdown, (false, true, false, false)),
            (Sql, (false, false, true, false)),
            (Mermaid, (false, false, true, true)),
            (Dot, (false, false, true, false)),
        ];
        assert_eq!(all.map(|f| (f, takes(f))), expected);
        assert_eq!(SchemaFormat::try_from(Text), Ok(SchemaFormat::Sql), "text is the schema's SQL");
        assert_eq!(
            Output::try_from(Sarif).unwrap_err(),
            "`--format sarif` is for `migcheck check`; here use text or json"
        );
        assert_eq!(
            Output::try_from(Dot).unwrap_err(),
            "`--format dot` is for `migcheck schema`; here use text or json"
        );
        assert!(CheckFormat::try_from(Mermaid).unwrap_err().contains("`migcheck check` writes text, json, github"));
        assert!(ShowFormat::try_from(Dot).unwrap_err().contains("text, json or mermaid"));
    }
}
