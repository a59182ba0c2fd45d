//! `partial-ddl`: on MySQL and MariaDB every DDL statement commits on its
//! own, so a migration holding two cannot be atomic. If the second fails, the
//! first stays; the runtime then says where the file stopped and resumes
//! there after a fix, but the database sits between two versions until
//! then. Read from the files alone (no server needed), for the migrations
//! whose findings are reported (not sealed yet, or all with
//! `sealed_findings`).

use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::lexer;
use crate::model::{Dialect, Script};

use super::Report;

/// The first words of statements MySQL commits implicitly (`CREATE
/// TEMPORARY TABLE` does not).
fn is_ddl(statement: &str) -> bool {
    let mut words = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase);
    match words.next().as_deref() {
        Some("CREATE") => words.next().as_deref() != Some("TEMPORARY"),
        Some("ALTER" | "DROP" | "RENAME" | "TRUNCATE") => true,
        _ => false,
    }
}

/// One `partial-ddl` warning per file (up or down) of a reported migration
/// that holds more than one DDL statement, at its second.
pub(super) fn check(report: &mut Report, sealed_findings: bool) {
    let mut found = Vec::new();
    for m in report.migrations.iter().filter(|m| !m.sealed || sealed_findings) {
        for script in std::iter::once(&m.up).chain(m.down.as_ref()) {
            if let Some(d) = file(script) {
                found.push(d.version(m.version));
            }
        }
    }
    report.diagnostics.extend(found);
}

fn file(script: &Script) -> Option<Diagnostic> {
    if script.allow.allows("partial-ddl") {
        return None;
    }
    let ddl: Vec<std::ops::Range<usize>> =
        lexer::statements(&script.sql, Dialect::Mysql).into_iter().filter(|r| is_ddl(&script.sql[r.clone()])).collect();
    let second = ddl.get(1)?;
    let offset = script.offset();
    let at = Location::span(
        &script.file.display,
        &script.file.text,
        second.start + offset..second.start + offset + first_line(&script.sql[second.clone()]).len(),
        "a second DDL statement: the first has committed by the time this one runs",
    );
    Some(
        Diagnostic::warning(
            Kind::PartialDdl,
            format!(
                "`{}` has {} DDL statements: MySQL commits each on its own, so a failure after the first leaves \
                 the migration half applied",
                script.file.file_name(),
                ddl.len()
            ),
        )
        .at(at)
        .note("the runtime then says where the file stopped and resumes there once it is fixed")
        .help("put one DDL statement in each migration, or accept it with `-- migcheck: allow partial-ddl`"),
    )
}

/// The statement's first line, without trailing blanks: what is underlined.
fn first_line(statement: &str) -> &str {
    statement.lines().next().unwrap_or_default().trim_end()
}

#[cfg(test)]
mod tests {
    use super::is_ddl;

    #[test]
    fn ddl_is_what_mysql_commits_implicitly() {
        for s in [
            "CREATE TABLE t (x INT)",
            "alter table t add y int",
            "DROP INDEX i ON t",
            "RENAME TABLE a TO b",
            "TRUNCATE t",
        ] {
            assert!(is_ddl(s), "{s}");
        }
        for s in ["CREATE TEMPORARY TABLE t (x INT)", "INSERT INTO t VALUES (1)", "UPDATE t SET x = 1", "SET @a = 1"] {
            assert!(!is_ddl(s), "{s}");
        }
    }
}
