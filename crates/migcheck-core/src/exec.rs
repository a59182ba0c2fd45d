//! Runs a migration's SQL one statement at a time with SQLite's own parser.
//!
//! `execute_batch` does not say which statement failed, and splitting on `;` by
//! hand breaks trigger bodies, strings and comments. Instead each statement is
//! prepared with `sqlite3_prepare_v2`, whose tail pointer says where the next one
//! starts, and SQLite's error offset (`sqlite3_error_offset`) says where in the
//! text an error was found. The build-time checker and the runtime migrator both
//! run SQL through here, so they fail on the same statement with the same words.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ops::Range;
use std::ptr;

use libsqlite3_sys as ffi;
use rusqlite::Connection;

use crate::lexer;

/// A statement that failed to prepare or to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementError {
    /// Byte range of the statement in the text (without leading comments).
    pub statement: Range<usize>,
    /// Byte offset of the error: SQLite's error offset where it gives one,
    /// otherwise the start of the statement.
    pub offset: usize,
    /// SQLite's extended result code (`SQLITE_INTERRUPT` for an interrupted statement).
    pub code: c_int,
    /// SQLite's message.
    pub message: String,
}

/// Runs every statement of `sql` on `conn`, in order, stopping at the first
/// error. `before_step` is called with the byte range of each statement after it
/// was prepared and before it runs (the checker uses it to look at what the
/// authorizer saw). Returns the number of statements run.
pub fn run_statements(
    conn: &Connection,
    sql: &str,
    mut before_step: impl FnMut(Range<usize>) -> Result<(), String>,
) -> Result<usize, StatementError> {
    let mut statements = Statements::new(sql, 0)?;
    let mut count = 0;
    while let Some(ran) = statements.run_next(conn, &mut before_step) {
        ran?;
        count += 1;
    }
    Ok(count)
}

/// A walk through a script's statements that runs one at a time, so that the
/// caller can do something between them (the runtime moves an interrupted
/// file's mark after each). It holds one NUL-terminated copy of the text,
/// prepared with a length of -1: given an explicit length, SQLite copies the
/// remaining text on every prepare, which is quadratic for files with many
/// statements.
///
/// ```
/// # use migcheck_core::exec::Statements;
/// let conn = rusqlite::Connection::open_in_memory()?;
/// let sql = "CREATE TABLE a (x); INSERT INTO a VALUES (1);";
/// let mut walk = Statements::new(sql, 0).unwrap();
/// let first = walk.run_next(&conn, |_| Ok(())).unwrap().unwrap();
/// assert_eq!(&sql[first], "CREATE TABLE a (x);");
/// assert!(walk.run_next(&conn, |_| Ok(())).unwrap().is_ok());
/// assert!(walk.run_next(&conn, |_| Ok(())).is_none(), "no more");
/// # Ok::<(), rusqlite::Error>(())
/// ```
#[derive(Debug)]
pub struct Statements<'s> {
    sql: &'s str,
    text: CString,
    pos: usize,
}

impl<'s> Statements<'s> {
    /// The statements of `sql` from byte `from` (where an earlier run
    /// stopped); an error for text holding a NUL byte.
    pub fn new(sql: &'s str, from: usize) -> Result<Self, StatementError> {
        let text = CString::new(sql).map_err(|e| {
            let offset = e.nul_position();
            StatementError {
                statement: offset..offset + 1,
                offset,
                code: ffi::SQLITE_ERROR,
                message: "the file contains a NUL byte".into(),
            }
        })?;
        Ok(Statements { sql, text, pos: from.min(sql.len()) })
    }

    /// Where the next statement (or trivia before it) starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Prepares and runs the next statement: its byte range (without leading
    /// comments, its `;` included) once it ran, or where and why it failed;
    /// `None` when no statement is left. `before_step` is called with the
    /// range after it was prepared and before it runs; its error stops the
    /// statement, as `SQLITE_AUTH` there.
    pub fn run_next(
        &mut self,
        conn: &Connection,
        mut before_step: impl FnMut(Range<usize>) -> Result<(), String>,
    ) -> Option<Result<Range<usize>, StatementError>> {
        let (sql, base) = (self.sql, self.text.as_ptr());
        // SAFETY: the handle is used on this thread only, while `conn` is borrowed.
        let db = unsafe { conn.handle() };
        while self.pos < sql.len() {
            let pos = self.pos;
            let start = pos + lexer::skip_trivia(&sql[pos..]);
            if start >= sql.len() {
                break;
            }
            let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
            let mut tail: *const c_char = ptr::null();
            // SAFETY: `base + pos` points into the NUL-terminated `text`.
            let rc = unsafe { ffi::sqlite3_prepare_v2(db, base.add(pos), -1, &mut stmt, &mut tail) };
            if rc != ffi::SQLITE_OK {
                // SAFETY: `db` is a valid connection.
                let offset = unsafe { ffi::sqlite3_error_offset(db) };
                let offset = usize::try_from(offset).map_or(start, |o| pos + o);
                let end = lexer_statement_end(sql, start);
                return Some(Err(error(db, rc, start..end, offset)));
            }
            // The tail points just past the statement (its `;` included).
            let end = if tail.is_null() { sql.len() } else { (tail as usize - base as usize).min(sql.len()) };
            if stmt.is_null() {
                // Only a `;` or trivia: nothing to run.
                self.pos = end.max(pos + 1);
                continue;
            }
            let statement = start..end;
            if let Err(message) = before_step(statement.clone()) {
                // SAFETY: `stmt` came from a successful prepare and is finalized once.
                unsafe { ffi::sqlite3_finalize(stmt) };
                return Some(Err(StatementError { offset: start, statement, code: ffi::SQLITE_AUTH, message }));
            }
            loop {
                // SAFETY: `stmt` is a live prepared statement.
                let rc = unsafe { ffi::sqlite3_step(stmt) };
                match rc {
                    ffi::SQLITE_ROW => continue,
                    ffi::SQLITE_DONE => break,
                    _ => {
                        // SAFETY: as above; the message is read before finalizing.
                        let offset = unsafe { ffi::sqlite3_error_offset(db) };
                        let offset = usize::try_from(offset)
                            .ok()
                            .map(|o| pos + o)
                            .filter(|o| statement.contains(o))
                            .unwrap_or(start);
                        let err = error(db, rc, statement, offset);
                        unsafe { ffi::sqlite3_finalize(stmt) };
                        return Some(Err(err));
                    }
                }
            }
            // SAFETY: finalized exactly once.
            unsafe { ffi::sqlite3_finalize(stmt) };
            self.pos = end;
            return Some(Ok(statement));
        }
        self.pos = sql.len();
        None
    }
}

/// Where a statement that failed to prepare ends, for showing it: SQLite gives
/// no tail then, so use the light lexer.
fn lexer_statement_end(sql: &str, start: usize) -> usize {
    let outline_end = sql[start..].find(';').map_or(sql.len(), |n| start + n + 1);
    // A statement that failed to parse may be cut anywhere; show at most its
    // first line if the `;` is far away.
    let line_end = sql[start..].find('\n').map_or(sql.len(), |n| start + n);
    outline_end.min(line_end.max(start + 1)).min(sql.len())
}

fn error(db: *mut ffi::sqlite3, rc: c_int, statement: Range<usize>, offset: usize) -> StatementError {
    // SAFETY: `db` is valid; sqlite3_errmsg returns a NUL-terminated UTF-8 string.
    let (code, message) = unsafe {
        let msg = ffi::sqlite3_errmsg(db);
        let message = if msg.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        };
        (ffi::sqlite3_extended_errcode(db), message)
    };
    let code = if code == ffi::SQLITE_OK { rc } else { code };
    StatementError { statement, offset, code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(conn: &Connection, sql: &str) -> Result<usize, StatementError> {
        run_statements(conn, sql, |_| Ok(()))
    }

    #[test]
    fn walks_triggers_strings_and_comments() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        let sql = "\u{feff}-- a; comment\nCREATE TABLE a (x TEXT); /* ; */\n\
                   CREATE TABLE log (m TEXT);\n\
                   CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO log VALUES ('a;b');\nEND;\n\
                   INSERT INTO a VALUES ('x;y')\n-- no final semicolon";
        // A BOM is not SQL: callers strip it; SQLite itself rejects it.
        assert_eq!(run(&conn, &sql[3..]), Ok(4));
        let n: i64 = conn.query_row("SELECT count(*) FROM log WHERE m = 'a;b'", [], |r| r.get(0))?;
        assert_eq!(n, 1);
        Ok(())
    }

    #[test]
    fn points_at_the_error() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        let sql = "CREATE TABLE a (x);\nSELECT nope FROM a;\n";
        let err = run(&conn, sql).unwrap_err();
        assert_eq!(err.message, "no such column: nope");
        assert_eq!(&sql[err.offset..err.offset + 4], "nope");
        assert_eq!(&sql[err.statement.clone()], "SELECT nope FROM a;");
        Ok(())
    }

    #[test]
    fn runtime_errors_point_at_the_statement() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        let sql = "CREATE TABLE a (x UNIQUE);\nINSERT INTO a VALUES (1);\n  INSERT INTO a VALUES (1);";
        let err = run(&conn, sql).unwrap_err();
        assert_eq!(err.message, "UNIQUE constraint failed: a.x");
        assert_eq!(err.offset, sql.rfind("INSERT").unwrap());
        assert_eq!(err.code, ffi::SQLITE_CONSTRAINT_UNIQUE);
        Ok(())
    }

    #[test]
    fn empty_and_comment_only_text_runs_nothing() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        for sql in ["", "  \n", "-- only\n", "/* x */ ;;", ";"] {
            assert_eq!(run(&conn, sql), Ok(0), "{sql:?}");
        }
        Ok(())
    }

    #[test]
    fn nul_bytes_are_an_error_not_a_truncation() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        let err = run(&conn, "SELECT 1;\0DROP TABLE x;").unwrap_err();
        assert_eq!(err.offset, 9);
        assert!(err.message.contains("NUL"));
        Ok(())
    }

    #[test]
    fn the_hook_can_refuse_a_statement() -> rusqlite::Result<()> {
        let conn = Connection::open_in_memory()?;
        let err = run_statements(&conn, "SELECT 1; CREATE TABLE a(x);", |range| {
            if range.start > 0 { Err("refused".into()) } else { Ok(()) }
        })
        .unwrap_err();
        assert_eq!((err.offset, err.message.as_str()), (10, "refused"));
        assert!(conn.prepare("SELECT * FROM a").is_err());
        Ok(())
    }
}
