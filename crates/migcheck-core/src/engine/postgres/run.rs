//! Running a migration's file on the scratch database, and placing the
//! server's errors in it.

use super::wire::{Client, PgError};
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::lexer;
use crate::model::{Mode, Script};

/// Runs one file as the runtime will: whole in a transaction, or one
/// statement at a time outside any.
pub(crate) fn run_script(client: &mut Client, script: &Script) -> Result<(), Diagnostic> {
    let fail = |sent_at: usize, sent: &str, e: PgError| -> Diagnostic { located(script, sent_at, sent, e) };
    if script.mode == Mode::Transaction {
        client.query("BEGIN").map_err(|e| fail(0, "", e))?;
        if let Err(e) = client.query(&script.sql) {
            let _ = client.query("ROLLBACK");
            return Err(fail(0, &script.sql, e));
        }
        return client.query("COMMIT").map(|_| ()).map_err(|e| fail(0, "", e));
    }
    for range in lexer::postgres_statements(&script.sql) {
        let statement = &script.sql[range.clone()];
        if let Err(e) = client.query(statement) {
            let _ = client.query("ROLLBACK");
            return Err(fail(range.start, statement, e));
        }
    }
    Ok(())
}

/// An error at PostgreSQL's character position in `sent` (which starts at
/// byte `sent_at` of the script), or at the file when there is none.
pub(super) fn located(script: &Script, sent_at: usize, sent: &str, e: PgError) -> Diagnostic {
    let file = &script.file;
    let offset = script.offset();
    let (message, position, detail) = match &e {
        PgError::Server(s) => (s.message.clone(), s.position, s.detail.clone()),
        other => return io(format!("the scratch database: {other}")),
    };
    let kind = match &e {
        PgError::Server(s) if s.code == "53400" && s.message.contains("temp_file_limit") => Kind::ScratchLimit,
        _ => Kind::SqlError,
    };
    let mut d = Diagnostic::error(kind, format!("SQL fails on the scratch database: {message}"));
    let at = lexer::postgres_position(sent, sent_at, position);
    d = match at {
        Some(at) => {
            let text = &file.text;
            let start = at + offset;
            let len = text[start..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(0).max(1);
            d.at(Location::span(&file.display, text, start..(start + len).min(text.len()), message.clone()))
        }
        None if !sent.is_empty() => {
            let start = sent_at + lexer::skip_trivia(sent) + offset;
            let end = (sent_at + sent.len() + offset).min(file.text.len());
            d.at(Location::span(&file.display, &file.text, start..end, message.clone()))
        }
        None => d.at(Location::file(&file.display)),
    };
    if let Some(detail) = detail {
        d = d.note(detail);
    }
    d.note("each migration runs on a scratch PostgreSQL database holding the schema the migrations before it produced")
        .help("fix the statement and build again")
}

/// A scratch database that cannot be reached or used.
pub(super) fn io(message: String) -> Diagnostic {
    Diagnostic::error(Kind::Io, message)
        .help("check MIGCHECK_SCRATCH_URL: a PostgreSQL server where migcheck may create and drop a scratch database")
}
