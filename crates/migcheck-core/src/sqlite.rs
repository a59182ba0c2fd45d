//! The SQLite engine: the sandboxed in-memory scratch database
//! ([`crate::scratch`]) behind the [`Engine`] seam, with the build cache of
//! the database at the newest sealed migration ([`crate::cache`]).
//!
//! Files run statement by statement through [`crate::exec`], SQLite's own
//! parser, so that an error points at its statement, line and column.

use std::path::PathBuf;
use std::time::Instant;

use rusqlite::ffi;

use crate::cache;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::Engine;
use crate::exec::{self, StatementError};
use crate::lexer;
use crate::model::{Migration, Mode, ScratchConfig, Script};
use crate::schema::{self, Snapshot};
use crate::scratch::{Event, Scratch};

/// The in-memory scratch database.
pub struct SqliteEngine {
    scratch: Scratch,
    config: ScratchConfig,
    /// Where the database at the newest sealed migration is kept between runs.
    cache_dir: Option<PathBuf>,
}

fn io(what: &str, err: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(Kind::Io, format!("{what}: {err}"))
}

impl SqliteEngine {
    /// A new, empty scratch database; `cache_dir`: where to keep (and look
    /// for) the database at the newest sealed migration.
    pub fn open(config: &ScratchConfig, cache_dir: Option<PathBuf>) -> Result<SqliteEngine, Diagnostic> {
        let scratch = Scratch::open(config).map_err(|e| io("cannot open the scratch database", e))?;
        Ok(SqliteEngine { scratch, config: config.clone(), cache_dir })
    }

    /// The schema as a model, for reports and `migcheck diff`.
    pub fn snapshot(&self) -> Result<Snapshot, Diagnostic> {
        Snapshot::read(&self.scratch.conn, &[]).map_err(|e| io("cannot read the scratch database's schema", e))
    }

    fn cache_key(&self, migrations: &[Migration], sealed: usize) -> Option<(PathBuf, crate::model::Digest)> {
        let dir = self.cache_dir.as_ref().filter(|_| sealed > 0)?;
        Some((dir.clone(), cache::key(&migrations[sealed - 1].chain, sealed, &self.config)))
    }
}

impl Engine for SqliteEngine {
    /// `sqlite_schema` as one text ([`Snapshot::text`]): cheaper to read and
    /// compare than a [`Snapshot`].
    type Schema = String;

    fn describe(&self) -> &'static str {
        "an in-memory SQLite database"
    }

    fn generates_migrations(&self) -> bool {
        true
    }

    fn run(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        run_script(&self.scratch, script, warnings)
    }

    fn schema(&mut self) -> Result<String, Diagnostic> {
        Snapshot::text(&self.scratch.conn).map_err(|e| io("cannot read the scratch database's schema", e))
    }

    fn differences(&mut self, a: &String, b: &String, a_label: &str, b_label: &str) -> Result<Vec<String>, Diagnostic> {
        if a == b {
            return Ok(Vec::new());
        }
        // Different texts can still be one schema: objects dropped and created
        // again move in `sqlite_schema`, a table altered and altered back is
        // respaced. Compared as models, only real differences remain.
        let (a, b) = (Snapshot::from_text(a), Snapshot::from_text(b));
        let diff = schema::compare(&a, &b, &self.config).map_err(|e| io("cannot compare schemas", e))?;
        Ok(if diff.is_empty() { Vec::new() } else { diff.describe(a_label, b_label) })
    }

    fn fresh(&self) -> Result<SqliteEngine, Diagnostic> {
        SqliteEngine::open(&self.config, None)
    }

    fn resume(&mut self, migrations: &[Migration], sealed: usize) -> bool {
        let Some((dir, key)) = self.cache_key(migrations, sealed) else { return false };
        let Some((header, file)) = cache::open(&dir, &key) else { return false };
        let restored = self.scratch.restore(file, header.len)
            && cache::serialize(&mut self.scratch.conn).is_some_and(|image| header.matches(&image))
            && self
                .scratch
                .conn
                .execute_batch(if header.state.foreign_keys {
                    "PRAGMA foreign_keys = ON"
                } else {
                    "PRAGMA foreign_keys = OFF"
                })
                .is_ok();
        if !restored {
            // A damaged image may be half in: start again from an empty database.
            match Scratch::open(&self.config) {
                Ok(scratch) => self.scratch = scratch,
                Err(_) => return false,
            }
        }
        restored
    }

    /// Keeps the database unless TEMP objects (which a restored database would
    /// lack) exist. A cache that cannot be written only costs speed.
    fn checkpoint(&mut self, migrations: &[Migration], sealed: usize) {
        let Some((dir, key)) = self.cache_key(migrations, sealed) else { return };
        let conn = &mut self.scratch.conn;
        let temp_objects: i64 =
            conn.query_row("SELECT count(*) FROM temp.sqlite_schema", [], |r| r.get(0)).unwrap_or(1);
        let foreign_keys = conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).map(|v| v == 1);
        if let (0, Ok(foreign_keys), Some(bytes)) = (temp_objects, foreign_keys, cache::serialize(conn)) {
            let _ = cache::store(&dir, &key, cache::State { foreign_keys }, &bytes);
        }
    }
}

/// Runs one file on the scratch database the way the runtime will.
pub(crate) fn run_script(scratch: &Scratch, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
    let conn = &scratch.conn;
    let file = &script.file;
    let offset = script.offset();
    let wrapped = script.mode == Mode::Transaction;
    let sql_error = |e: rusqlite::Error| {
        Diagnostic::error(Kind::SqlError, format!("SQL fails on the scratch database: {e}"))
            .at(Location::file(&file.display))
    };
    if wrapped {
        conn.execute_batch("BEGIN").map_err(sql_error)?;
    }
    scratch.take_events();
    scratch.start_clock();
    let started = Instant::now();
    let mut saw_foreign_keys_pragma = false;
    let result = exec::run_statements(conn, &script.sql, |statement| {
        for event in scratch.take_events() {
            saw_foreign_keys_pragma |= event == Event::ForeignKeysPragma;
            if event == Event::ForeignKeysPragma && !conn.is_autocommit() {
                let span = statement.start + offset..statement.end + offset;
                warnings.push(
                    Diagnostic::warning(
                        Kind::PragmaInTransaction,
                        "`PRAGMA foreign_keys` has no effect inside a transaction",
                    )
                    .at(Location::span(&file.display, &file.text, span, "ignored by SQLite"))
                    .note(if wrapped {
                        "migcheck runs this file in a transaction, and SQLite silently ignores the pragma there"
                    } else {
                        "this statement runs after `BEGIN`, where SQLite silently ignores the pragma"
                    })
                    .help(
                        "add `-- migcheck: no-transaction` on the first line and set the pragma before \
                               `BEGIN` and after `COMMIT` (SQLite's table rebuild procedure)",
                    ),
                );
            }
        }
        Ok(())
    });
    scratch.stop_clock();
    let result = result.map_err(|err| statement_error(scratch, script, err, started.elapsed()));
    if result.is_err() {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return result.map(|_| ());
    }
    if wrapped {
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            let mut d = sql_error(e);
            if conn.is_autocommit() {
                d = d.note("the file ended the transaction migcheck runs it in: a file with its own `BEGIN … COMMIT` must start a statement with `BEGIN`");
            }
            return Err(d);
        }
    } else if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(Diagnostic::error(Kind::SqlError, format!("`{}` leaves a transaction open", file.file_name()))
            .at(Location::file(&file.display))
            .help("end the file's transaction with `COMMIT`"));
    }
    // With enforcement on throughout the file, SQLite refused any violating
    // row as it was written (deferred ones at COMMIT): only a file that
    // touched `PRAGMA foreign_keys`, or a database with enforcement off, can
    // leave violations. Skipping the scan otherwise keeps long histories fast.
    let enforcing = conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).map_err(sql_error)? == 1;
    if enforcing && !saw_foreign_keys_pragma {
        return Ok(());
    }
    match scratch.foreign_key_violations(5) {
        Ok((0, _)) => Ok(()),
        Ok((count, rows)) => {
            let mut d = Diagnostic::error(
                Kind::ForeignKeyViolation,
                format!(
                    "`{}` leaves {count} row{} violating foreign keys",
                    file.file_name(),
                    if count == 1 { "" } else { "s" }
                ),
            )
            .at(Location::file(&file.display));
            for row in rows {
                d = d.note(row);
            }
            Err(d.help("fix or delete the rows in the migration, or create the rows they reference first"))
        }
        Err(e) => Err(sql_error(e)),
    }
}

/// Where the name an error message ends with (`no such table: pets`, `table
/// t has no column named x`) appears in the statement, when SQLite gave no
/// offset: so that the caret points at it rather than at the whole statement.
fn named_in_message(message: &str, statement: &str) -> Option<std::ops::Range<usize>> {
    let name = message.rsplit([' ', ':']).next()?.trim_matches(['"', '\'', '`']);
    let name = name.rsplit('.').next()?;
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    schema::tokens::tokenize(statement).into_iter().find(|t| t.is_word(&name.to_lowercase())).map(|t| t.span)
}

fn statement_error(
    scratch: &Scratch,
    script: &Script,
    err: StatementError,
    elapsed: std::time::Duration,
) -> Diagnostic {
    let file = &script.file;
    let offset = script.offset();
    let text = &file.text;
    let statement = err.statement.start + offset..err.statement.end + offset;
    let at = lexer::floor_char_boundary(text, err.offset + offset);
    // Underline the word at the error offset, or the statement when SQLite gave
    // no position inside it.
    let span = if at > statement.start && at < statement.end {
        let len = text[at..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len() - at).max(1);
        at..(at + len).min(statement.end)
    } else {
        named_in_message(&err.message, &text[statement.clone()])
            .map_or(statement.clone(), |r| r.start + statement.start..r.end + statement.start)
    };
    let denied = scratch.take_events().into_iter().find_map(|e| match e {
        Event::Denied(what) => Some(what),
        Event::ForeignKeysPragma => None,
    });
    if let Some(what) = denied {
        return Diagnostic::error(Kind::SandboxDenied, format!("the build-time check denied {what}"))
            .at(Location::span(&file.display, text, span, "reaches outside the scratch database"))
            .note(
                "`cargo build` runs migrations on a sandboxed in-memory database that cannot read or write other files",
            )
            .help("keep migrations to SQL on the database itself; do file work outside the migration");
    }
    if err.code & 0xff == ffi::SQLITE_FULL {
        let limit = crate::model::show_size(scratch.size_limit());
        return Diagnostic::error(
            Kind::ScratchLimit,
            format!("`{}` grows the scratch database past its size limit ({limit})", file.file_name()),
        )
        .at(Location::span(&file.display, text, statement, "needs more room than the limit"))
        .note("the build-time check holds the scratch database in memory, bounded so that a runaway migration cannot exhaust the machine")
        .help(format!(
            "raise the limit if the migration really needs it (MIGCHECK_SCRATCH_LIMIT=4GiB, or `Build::scratch_limit`); it is {limit} now"
        ));
    }
    if err.code == ffi::SQLITE_INTERRUPT {
        return Diagnostic::error(
            Kind::Timeout,
            format!("`{}` did not finish within {:?}", file.file_name(), scratch.timeout()),
        )
        .at(Location::span(&file.display, text, statement, "still running when interrupted"))
        .note(format!("it was interrupted after {:.1?}", elapsed))
        .help(
            "look for a statement that never ends (a recursive CTE without a stop condition); \
               raise the limit with `Build::timeout` or `MIGCHECK_TIMEOUT=<seconds>` if it is just slow",
        );
    }
    let mut d = Diagnostic::error(Kind::SqlError, format!("SQL fails on the scratch database: {}", err.message))
        .at(Location::span(&file.display, text, span, err.message.clone()))
        .note(
            "each migration runs on an in-memory SQLite database holding the schema the migrations before it produced",
        );
    if err.message.contains("within a transaction") {
        d = d.help(
            "add `-- migcheck: no-transaction` on the first line: migcheck wraps each migration in a transaction",
        );
    } else if err.message.starts_with("no such function") {
        d = d.help(
            "if the application registers this function, declare it with `Build::function(name, arity)` so the \
                    scratch database stands in for it",
        );
    } else {
        d = d.help("fix the statement and build again");
    }
    d
}
