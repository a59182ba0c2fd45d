//! Reading each migration file: its directives, its sqlite3 shell commands,
//! whether it has statements and manages its own transaction (read in the
//! project's dialect: a PL/pgSQL body's `BEGIN` is not a transaction's), and
//! so the [`Mode`](crate::model::Mode) it runs in.

use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::directive;
use crate::lexer;
use crate::model::{Analysis, Dialect, Findings, Script, SourceFile};
use crate::scan;

/// Reads directives and shell commands of one file. A whole file whose bytes
/// the memo saw without a problem is not read again.
pub(super) fn script(
    mut file: SourceFile,
    part: &scan::Part,
    is_up: bool,
    version: i64,
    dialect: Dialect,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Script> {
    let whole = part.section.is_none();
    let (sql, mut found) = match file.analysis.get(dialect).filter(|_| whole) {
        Some(found) => (file.text[file.bom_len()..].to_owned(), found),
        None => {
            let Reading { sql, found, clean } = read_script(&file, part, version, dialect, diagnostics)?;
            if whole && clean {
                file.analysis = Analysis::new(found, dialect);
            }
            (sql, found)
        }
    };
    if is_up && !found.has_statements {
        diagnostics.push(
            Diagnostic::warning(Kind::EmptyMigration, format!("`{}` has no SQL statement", file.file_name()))
                .at(Location::file(&file.display))
                .version(version)
                .help("write the migration's SQL, or delete the file if it is not needed"),
        );
    }
    // Another tool's marker asks for no transaction too.
    found.no_transaction |= part.no_transaction;
    Some(Script { file, sql, mode: found.mode(), allow: found.allow })
}

/// What reading one file or section gave.
struct Reading {
    /// The SQL to run: shell commands blanked out (same length).
    sql: String,
    found: Findings,
    /// Nothing needed saying about it (the memo may skip reading it again).
    clean: bool,
}

/// Reads one file or section; `None` after an error (pushed).
fn read_script(
    file: &SourceFile,
    part: &scan::Part,
    version: i64,
    dialect: Dialect,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Reading> {
    let bom = file.bom_len();
    // Another tool's single-file layout: only this half's section, the rest
    // blanked so that positions stay the file's.
    let sectioned;
    let text = match &part.section {
        Some(range) => {
            sectioned = crate::layout::blank_outside(&file.text, range);
            &sectioned[bom..]
        }
        None => &file.text[bom..],
    };
    let directives = match directive::parse(text) {
        Ok(d) => d,
        Err(err) => {
            diagnostics.push(
                Diagnostic::error(Kind::UnknownDirective, format!("unknown directive `{}`", err.directive))
                    .at(Location::span(
                        &file.display,
                        &file.text,
                        err.span.start + bom..err.span.end + bom,
                        "not a migcheck directive",
                    ))
                    .version(version)
                    .help(format!("the directives are: {}", directive::KNOWN.join(", "))),
            );
            return None;
        }
    };
    if let Some(at) = lexer::unterminated_comment(text, dialect) {
        diagnostics.push(
            Diagnostic::error(Kind::SqlError, "this `/*` comment is never closed: SQLite ignores everything after it")
                .at(Location::span(&file.display, &file.text, at + bom..at + bom + 2, "never closed"))
                .version(version)
                .help("close the comment with `*/`"),
        );
        return None;
    }
    let outline = lexer::outline(text, dialect);
    let mut sql = text.to_owned();
    for range in &outline.shell_commands {
        sql.replace_range(range.clone(), &" ".repeat(range.len()));
        diagnostics.push(
            Diagnostic::warning(
                Kind::ShellCommand,
                format!("`{}` is a sqlite3 shell command, not SQL", &text[range.clone()]),
            )
            .at(Location::span(&file.display, &file.text, range.start + bom..range.end + bom, "skipped"))
            .version(version)
            .note("only the sqlite3 command-line shell understands lines that start with `.`; migcheck skips them")
            .help("remove the line"),
        );
    }
    let found = Findings {
        has_statements: outline.has_statements,
        begins: outline.begin.is_some(),
        no_transaction: directives.no_transaction,
        allow: directives.allow,
    };
    // A file with `allow` is read each time: the memo keeps no codes.
    Some(Reading { sql, found, clean: outline.shell_commands.is_empty() && directives.allow.is_empty() })
}
