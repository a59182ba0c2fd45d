//! The SQLite engine: the sandboxed in-memory scratch database
//! ([`crate::engine::sqlite::sandbox`]) behind the [`Engine`] seam, with the build cache of
//! the database at the newest sealed migration ([`crate::engine::sqlite::cache`]).
//!
//! Files run statement by statement through [`crate::exec`], SQLite's own
//! parser, so that an error points at its statement, line and column.

pub mod cache;
/// `migcheck diff`: a migration written from the difference between two schemas.
pub mod generate;
pub mod rows;
pub mod sandbox;
pub mod schema;

use crate::lexer::quote_ident;
use std::path::PathBuf;
use std::time::Instant;

use std::collections::BTreeSet;

use rusqlite::config::DbConfig;
use rusqlite::ffi;

use crate::config::ScratchConfig;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::{ColumnShape, Contents, Engine, StatementTrace};
use crate::exec::{self, StatementError};
use crate::lexer;
use crate::model::{Digest, Migration, Mode, Script};
use sandbox::{Event, Scratch};
use schema::Snapshot;

/// The in-memory scratch database.
pub struct SqliteEngine {
    scratch: Scratch,
    config: ScratchConfig,
    /// Where the database at the newest sealed migration is kept between runs.
    cache_dir: Option<PathBuf>,
}

/// The file [`Engine::keep_head`] writes.
pub const HEAD_FILE: &str = "head.sqlite";

/// The read-only URL of the SQLite file `path`, as sqlx reads one
/// (`sqlite://` then the path, percent-encoded where a URL needs it).
///
/// ```
/// use migcheck_core::engine::sqlite::head_url;
/// let url = head_url(std::path::Path::new("/tmp/out dir/head.sqlite"));
/// assert_eq!(url.as_deref(), Some("sqlite:///tmp/out%20dir/head.sqlite?mode=ro"));
/// ```
pub fn head_url(path: &std::path::Path) -> Option<String> {
    Some(format!("sqlite://{}?mode=ro", crate::engine::url_encode(path.to_str()?, true)))
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

    fn cache_key(&self, migrations: &[Migration], sealed: usize, salt: &Digest) -> Option<(PathBuf, Digest)> {
        let dir = self.cache_dir.as_ref().filter(|_| sealed > 0)?;
        Some((dir.clone(), cache::key(&migrations[sealed - 1].chain, sealed, &self.config, salt)))
    }

    /// Every row of `table` (`what`: the columns selected), values as SQL literals.
    fn read_rows(&self, table: &str, what: &str) -> Result<Contents, Diagnostic> {
        let read = || -> rusqlite::Result<Contents> {
            let mut stmt = self.scratch.conn.prepare(&format!("SELECT {what} FROM {}", quote_ident(table)))?;
            let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
            let width = columns.len();
            let rows = stmt
                .query_map([], |r| {
                    (0..width).map(|i| Ok(literal(r.get_ref(i)?))).collect::<rusqlite::Result<Vec<_>>>()
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Contents { columns, rows })
        };
        read().map_err(|e| io(&format!("cannot read the rows of `{table}`"), e))
    }

    /// Every row of a virtual table with its rowid first (`rowid` named).
    fn rows_with_rowid(&self, table: &str) -> Result<Contents, Diagnostic> {
        let mut contents = self.read_rows(table, "rowid, *")?;
        if let Some(first) = contents.columns.first_mut() {
            *first = "rowid".to_owned();
        }
        Ok(contents)
    }

    /// Each ordinary table's root page, by lower-case name.
    fn root_pages(&self) -> std::collections::HashMap<String, (String, i64)> {
        self.scratch
            .conn
            .prepare("SELECT name, rootpage FROM sqlite_schema WHERE type = 'table' AND rootpage > 0 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| {
                    let name: String = r.get(0)?;
                    Ok((name.to_lowercase(), (name, r.get(1)?)))
                })?
                .collect()
            })
            .unwrap_or_default()
    }
}

impl Engine for SqliteEngine {
    /// `sqlite_schema` as one text ([`Snapshot::text`]): cheaper to read and
    /// compare than a [`Snapshot`].
    type Schema = String;

    fn report_snapshot(schema: &String) -> Option<Snapshot> {
        Some(Snapshot::from_text(schema))
    }

    fn describe(&self) -> &'static str {
        "an in-memory SQLite database"
    }

    fn generates_migrations(&self) -> bool {
        true
    }

    fn run(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        run_script(&self.scratch, script, warnings)
    }

    fn measures(&self) -> &'static [&'static str] {
        &["table-rebuild"]
    }

    /// A table that existed before the file and whose storage (its root
    /// page) is another after it was rebuilt: a new table, the rows copied,
    /// the old one dropped and the new one renamed (SQLite's procedure for
    /// what `ALTER TABLE` cannot do).
    fn run_measured(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        let before = self.root_pages();
        run_script(&self.scratch, script, warnings)?;
        let after = self.root_pages();
        for (key, (name, page)) in &after {
            if before.get(key).is_none_or(|(_, old)| old == page) {
                continue;
            }
            let rows: i64 = self
                .scratch
                .conn
                .query_row(&format!("SELECT count(*) FROM {}", quote_ident(name)), [], |r| r.get(0))
                .unwrap_or(0);
            let file = &script.file;
            let at = renamed_to(&script.sql, name).map_or_else(
                || Location::file(&file.display),
                |range| {
                    let range = range.start + script.offset()..range.end + script.offset();
                    Location::span(&file.display, &file.text, range, "the rebuilt table takes its name here")
                },
            );
            warnings.push(
                Diagnostic::info(
                    Kind::TableRebuild,
                    format!(
                        "`{}` rebuilds table `{name}`: a new table, its rows copied ({rows} on the scratch database), the old one dropped",
                        file.file_name()
                    ),
                )
                .at(at)
                .note(
                    "SQLite locks the whole database for any write, so writers wait for as long as the copy takes: \
                     on a large table, run it when they can",
                )
                .help("nothing to do for a small table; `-- migcheck: allow table-rebuild` in the file says it is expected"),
            );
        }
        Ok(())
    }

    fn explain(&mut self, script: &Script) -> Result<Vec<StatementTrace>, Diagnostic> {
        let conn = &self.scratch.conn;
        let file = &script.file;
        let offset = script.offset();
        let mut traces: Vec<StatementTrace> = Vec::new();
        let mut last: Option<(Instant, u64)> = None;
        // Each statement's cost is what passed until the next one starts.
        let close = |traces: &mut Vec<StatementTrace>, last: &mut Option<(Instant, u64)>| {
            if let (Some(t), Some((started, changes))) = (traces.last_mut(), last.take()) {
                t.elapsed = started.elapsed();
                t.rows = conn.total_changes().saturating_sub(changes);
            }
        };
        let wrapped = script.mode == Mode::Transaction;
        if wrapped {
            conn.execute_batch("BEGIN").map_err(|e| io("cannot begin", e))?;
        }
        let result = exec::run_statements(conn, &script.sql, |range| {
            close(&mut traces, &mut last);
            let start = range.start + offset;
            let text =
                file.text[start..(range.end + offset).min(file.text.len())].lines().next().unwrap_or("").to_owned();
            traces.push(StatementTrace {
                line: lexer::line_column(&file.text, start).0,
                statement: text,
                locks: vec!["the whole database (SQLite)".into()],
                ..StatementTrace::default()
            });
            last = Some((Instant::now(), conn.total_changes()));
            Ok(())
        });
        close(&mut traces, &mut last);
        if wrapped {
            let _ = conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        }
        // SQLite's table rebuild (create a new table, copy, drop the old one,
        // rename the new one to its name): the rename is where the table is
        // rewritten.
        let mut dropped: Vec<String> = Vec::new();
        for t in &mut traces {
            let tokens = crate::schema::tokens::tokenize(&t.statement);
            let word = |i: usize| {
                tokens.get(i).filter(|t| t.kind == crate::schema::tokens::Kind::Word).map(|t| t.text.clone())
            };
            if word(0).as_deref() == Some("drop") && word(1).as_deref() == Some("table") {
                let at = if word(2).as_deref() == Some("if") { 4 } else { 2 };
                dropped.extend(word(at));
            }
            if word(0).as_deref() == Some("alter")
                && tokens.iter().any(|t| t.is_word("rename"))
                && let Some(to) = tokens.iter().position(|t| t.is_word("to")).and_then(|i| word(i + 1))
                && dropped.contains(&to)
            {
                t.rewritten.push(format!("{to} (rebuilt)"));
            }
        }
        result.map_err(|e| {
            Diagnostic::error(Kind::SqlError, format!("SQL fails on the scratch database: {}", e.message))
        })?;
        Ok(traces)
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

    /// Keeps the cache directory: a fresh database that replaces this one
    /// (after a retry without rows, or an accepted finding) may still be
    /// kept for the next run.
    fn fresh(&self) -> Result<SqliteEngine, Diagnostic> {
        SqliteEngine::open(&self.config, self.cache_dir.clone())
    }

    fn resume(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) -> bool {
        let Some((dir, key)) = self.cache_key(migrations, sealed, salt) else { return false };
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
    fn checkpoint(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) {
        let Some((dir, key)) = self.cache_key(migrations, sealed, salt) else { return };
        let conn = &mut self.scratch.conn;
        let temp_objects: i64 =
            conn.query_row("SELECT count(*) FROM temp.sqlite_schema", [], |r| r.get(0)).unwrap_or(1);
        let foreign_keys = conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).map(|v| v == 1);
        if let (0, Ok(foreign_keys), Some(bytes)) = (temp_objects, foreign_keys, cache::serialize(conn)) {
            let _ = cache::store(&dir, &key, cache::State { foreign_keys }, &bytes);
        }
    }

    /// `head.sqlite` in `dir`: SQLite's own image of the scratch database,
    /// written beside and renamed into place, so that a compilation reading
    /// it never sees half a file.
    fn keep_head(&mut self, dir: &std::path::Path) -> Result<String, Diagnostic> {
        let path = dir.join(HEAD_FILE);
        let cannot =
            |e: &dyn std::fmt::Display| io(&format!("cannot keep the migrated database at {}", path.display()), e);
        let image = cache::serialize(&mut self.scratch.conn)
            .ok_or_else(|| cannot(&"SQLite cannot serialize the scratch database"))?;
        let tmp = dir.join(format!("{HEAD_FILE}.tmp"));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, &image[..]))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| cannot(&e))?;
        head_url(&path).ok_or_else(|| cannot(&"the path is not UTF-8, which a database URL needs"))
    }

    fn prepare(&mut self, sql: &str) -> Result<(), String> {
        match self.scratch.conn.prepare(sql) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqlInputError { msg, .. }) | Err(rusqlite::Error::SqliteFailure(_, Some(msg))) => {
                Err(msg)
            }
            Err(rusqlite::Error::MultipleStatement) => Err("more than one statement".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn tables(&mut self, names: Option<&BTreeSet<String>>) -> Result<Vec<String>, Diagnostic> {
        let conn = &self.scratch.conn;
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut out = Vec::new();
            let mut stmt = conn.prepare(schema::ORDINARY_TABLES)?;
            match names {
                Some(names) => {
                    // Most words of a migration are not tables: a lookup in
                    // SQLite's hash of names rules them out without SQL.
                    for name in names.iter().filter(|n| conn.table_exists(None, n.as_str()).unwrap_or(true)) {
                        let mut rows = stmt.query([name])?;
                        while let Some(row) = rows.next()? {
                            out.push(row.get(0)?);
                        }
                    }
                }
                None => {
                    let mut rows = stmt.query([None::<&str>])?;
                    while let Some(row) = rows.next()? {
                        out.push(row.get(0)?);
                    }
                }
            }
            Ok(out)
        };
        read().map_err(|e| io("cannot list the scratch database's tables", e))
    }

    fn children(&mut self, table: &str) -> Result<Vec<String>, Diagnostic> {
        // Only tables whose text names the parent can reference it: the text
        // test keeps the foreign-key pragma off most tables.
        let mut stmt = self
            .scratch
            .conn
            .prepare(
                "SELECT DISTINCT m.name FROM sqlite_schema m, pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' AND instr(lower(m.sql), lower(?1)) > 0
                   AND f.\"table\" = ?1 COLLATE NOCASE AND m.name <> ?1 COLLATE NOCASE",
            )
            .map_err(|e| io("cannot read the scratch database's foreign keys", e))?;
        let rows = stmt.query_map([table], |r| r.get(0)).and_then(|rows| rows.collect());
        rows.map_err(|e| io("cannot read the scratch database's foreign keys", e))
    }

    fn dangling(&mut self, names: &BTreeSet<String>) -> Result<Vec<(String, String, String)>, Diagnostic> {
        let conn = &self.scratch.conn;
        let read = || -> rusqlite::Result<Vec<(String, String, String)>> {
            let mut stmt = conn.prepare(
                "SELECT m.name, group_concat(f.\"from\", ', '), f.\"table\"
                 FROM sqlite_schema m, pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' AND instr(lower(m.sql), lower(?1)) > 0 AND f.\"table\" = ?1 COLLATE NOCASE
                   AND NOT EXISTS (SELECT 1 FROM sqlite_schema p WHERE p.type = 'table' AND p.name = ?1 COLLATE NOCASE)
                 GROUP BY m.name, f.id",
            )?;
            let mut out = Vec::new();
            for name in names {
                let rows = stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                for row in rows {
                    out.push(row?);
                }
            }
            Ok(out)
        };
        read().map_err(|e| io("cannot read the scratch database's foreign keys", e))
    }

    fn seed(&mut self, tables: &[String]) -> Result<Vec<(String, String)>, Diagnostic> {
        let conn = &self.scratch.conn;
        // Rows as the application would have written them before this
        // version, not as today's triggers would rewrite them.
        let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false);
        let seeded = rows::seed_tables(conn, tables);
        let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true);
        match seeded {
            Ok(seeded) => Ok(seeded.skipped),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DiskFull => Err(
                Diagnostic::error(Kind::ScratchLimit, "the synthetic rows grow the scratch database past its size limit")
                    .help("raise the limit (MIGCHECK_SCRATCH_LIMIT, `Build::scratch_limit`) or turn the synthetic rows off (MIGCHECK_DATA=0, `Build::data_checks(false)`)"),
            ),
            Err(e) => Err(io("cannot write synthetic rows", e)),
        }
    }

    fn columns(&mut self, table: &str) -> Result<Vec<ColumnShape>, Diagnostic> {
        let read = || -> rusqlite::Result<Vec<ColumnShape>> {
            let mut stmt = self
                .scratch
                .conn
                .prepare("SELECT name, type, \"notnull\", dflt_value IS NOT NULL OR hidden IN (2, 3) OR pk > 0 FROM pragma_table_xinfo(?1) WHERE hidden <> 1")?;
            let rows = stmt.query_map([table], |r| {
                Ok(ColumnShape { name: r.get(0)?, ty: r.get(1)?, not_null: r.get(2)?, has_default: r.get(3)? })
            })?;
            rows.collect()
        };
        read().map_err(|e| io(&format!("cannot read the columns of `{table}`"), e))
    }

    fn model(&mut self) -> Result<crate::schema::model::Model, Diagnostic> {
        schema::model_of(&self.scratch.conn, &[]).map_err(|e| io("cannot read the scratch database's schema", e))
    }

    fn baseline_sql(&mut self, rows: bool) -> Result<String, Diagnostic> {
        use crate::schema::squash::{inserts, statement, views_in_order};
        let model = self.model()?;
        let mut out = String::new();
        if rows {
            // Rows go in parents first; references in a cycle (or to a later
            // row of the same table) wait for the commit.
            out.push_str("PRAGMA defer_foreign_keys = ON;\n\n");
        }
        // A virtual table's shadow tables are made by its own CREATE, and are
        // read-only under the defensive mode that guards the scratch database.
        let kinds: std::collections::HashMap<String, String> = self
            .scratch
            .conn
            .prepare("SELECT name, type FROM pragma_table_list WHERE schema = 'main'")
            .and_then(|mut stmt| stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(|e| io("cannot read the scratch database's tables", e))?;
        let kind = |name: &str| kinds.get(name).map_or("table", String::as_str);
        let tables: Vec<_> =
            model.tables_in_dependency_order().into_iter().filter(|t| kind(&t.name) != "shadow").collect();
        for t in &tables {
            statement(&mut out, &t.sql);
        }
        let mut rebuilds = Vec::new();
        if rows {
            for t in &tables {
                if kind(&t.name) == "virtual" {
                    let sql = t.sql.to_lowercase().replace(' ', "");
                    let fts = sql.contains("usingfts");
                    let external = fts && sql.contains("content=") && !sql.contains("content=''");
                    if external {
                        // Its rows are another table's: the index is rebuilt from them.
                        rebuilds.push(t.name.clone());
                        continue;
                    }
                    if fts {
                        // Full-text rows keep their rowids (what the index and
                        // the content refer to).
                        let contents = self.rows_with_rowid(&t.name)?;
                        inserts(&mut out, &t.name, (&contents.columns, &contents.rows), &[], "");
                        continue;
                    }
                }
                let generated: Vec<String> = self
                    .scratch
                    .conn
                    .prepare("SELECT name FROM pragma_table_xinfo(?1) WHERE hidden IN (2, 3)")
                    .and_then(|mut stmt| stmt.query_map([&t.name], |r| r.get(0))?.collect())
                    .map_err(|e| io(&format!("cannot read the columns of `{}`", t.name), e))?;
                let contents = self.contents(&t.name)?;
                inserts(&mut out, &t.name, (&contents.columns, &contents.rows), &generated, "");
            }
            for name in &rebuilds {
                let quoted = quote_ident(name);
                statement(&mut out, &format!("INSERT INTO {quoted} ({quoted}) VALUES ('rebuild')"));
            }
            // AUTOINCREMENT's counters: what the next row's id will be.
            let sequences: Vec<(String, i64)> = self
                .scratch
                .conn
                .prepare("SELECT name, seq FROM sqlite_sequence ORDER BY name")
                .and_then(|mut stmt| stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                .unwrap_or_default();
            for (table, seq) in sequences {
                let name = format!("'{}'", table.replace('\'', "''"));
                out.push_str(&format!(
                    "UPDATE sqlite_sequence SET seq = {seq} WHERE name = {name};\n\
                     INSERT INTO sqlite_sequence (name, seq) SELECT {name}, {seq} \
                     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = {name});\n\n"
                ));
            }
        }
        for o in model.indexes.iter().chain(views_in_order(&model.views)).chain(&model.triggers) {
            statement(&mut out, &o.sql);
        }
        Ok(out)
    }

    fn contents(&mut self, table: &str) -> Result<Contents, Diagnostic> {
        self.read_rows(table, "*")
    }

    fn clear(&mut self, keep: &BTreeSet<String>) -> Result<(), Diagnostic> {
        let tables = self.tables(None)?;
        let conn = &self.scratch.conn;
        let run = || -> rusqlite::Result<()> {
            let enforcing = conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0))? == 1;
            conn.execute_batch("PRAGMA foreign_keys = OFF")?;
            let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false);
            let mut result = Ok(());
            for table in tables.iter().filter(|t| !keep.contains(&t.to_lowercase())) {
                result = result.and(conn.execute_batch(&format!("DELETE FROM {}", quote_ident(table))));
            }
            let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true);
            if enforcing {
                conn.execute_batch("PRAGMA foreign_keys = ON")?;
            }
            result
        };
        run().map_err(|e| io("cannot delete the rows of the scratch database", e))
    }

    fn culprits(&mut self, error: &Diagnostic, tables: &[String]) -> Vec<String> {
        culprits(&self.scratch.conn, &error.message, tables).unwrap_or_default()
    }
}

/// A value as an SQL literal; `None` for NULL.
fn literal(value: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(format!("{f:?}")),
        // A NUL byte ends an SQL text, and bytes that are not UTF-8 cannot
        // be written in one: such text is written as its bytes.
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(text) if !text.contains('\0') => Some(format!("'{}'", text.replace('\'', "''"))),
            _ => Some(format!("CAST({} AS TEXT)", hex(t))),
        },
        ValueRef::Blob(b) => Some(hex(b)),
    }
}

/// A blob literal, `X'…'`.
fn hex(bytes: &[u8]) -> String {
    format!("X'{}'", bytes.iter().map(|b| format!("{b:02X}")).collect::<String>())
}

/// The rows behind a constraint error, read from SQLite's message: for
/// `NOT NULL constraint failed: t.c`, rows of `tables` with NULL in a column
/// `c`; for `UNIQUE constraint failed: t.a, t.b`, rows of `tables` that
/// share their values of `a, b`.
fn culprits(conn: &rusqlite::Connection, message: &str, tables: &[String]) -> rusqlite::Result<Vec<String>> {
    let ident = quote_ident;
    let columns_of = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|c| c.trim().rsplit('.').next().unwrap_or("").to_owned())
            .filter(|c| !c.is_empty())
            .collect()
    };
    type Condition = fn(&[String]) -> String;
    let (condition, columns): (Condition, Vec<String>) =
        if let Some(rest) = message.split("NOT NULL constraint failed: ").nth(1) {
            (|c: &[String]| format!("{} IS NULL", c[0]), columns_of(rest))
        } else if let Some(rest) = message.split("UNIQUE constraint failed: ").nth(1) {
            (
                |c: &[String]| {
                    let list = c.join(", ");
                    format!("({list}) IN (SELECT {list} FROM __t GROUP BY {list} HAVING count(*) > 1)")
                },
                columns_of(rest),
            )
        } else {
            return Ok(Vec::new());
        };
    let mut out = Vec::new();
    for table in tables {
        let has = |c: &String| -> rusqlite::Result<bool> {
            conn.query_row(
                "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2 COLLATE NOCASE",
                [table, c],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
        };
        if columns.is_empty() || !columns.iter().try_fold(true, |all, c| Ok::<_, rusqlite::Error>(all && has(c)?))? {
            continue;
        }
        let quoted: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let sql = format!(
            "SELECT * FROM {t} WHERE {} LIMIT 2",
            condition(&quoted).replace("__t", &ident(table)),
            t = ident(table)
        );
        let Ok(mut stmt) = conn.prepare(&sql) else { continue };
        let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let width = names.len();
        let rows = stmt
            .query_map([], |r| (0..width).map(|i| Ok(literal(r.get_ref(i)?))).collect::<rusqlite::Result<Vec<_>>>())?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let contents = Contents { columns: names, rows };
        for row in &contents.rows {
            out.push(format!("`{table}` {}", contents.show(row)));
        }
        if !out.is_empty() {
            break;
        }
    }
    Ok(out)
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
    crate::schema::tokens::tokenize(statement).into_iter().find(|t| t.is_word(&name.to_lowercase())).map(|t| t.span)
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
    if err.code & 0xff == ffi::SQLITE_FULL || err.code & 0xff == ffi::SQLITE_NOMEM {
        let limit = crate::config::show_size(scratch.size_limit());
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
/// Where `sql` renames a table to `name` (`ALTER TABLE … RENAME TO name`):
/// the name's byte range.
fn renamed_to(sql: &str, name: &str) -> Option<std::ops::Range<usize>> {
    let lower = sql.to_ascii_lowercase();
    let want = name.to_ascii_lowercase();
    lower.match_indices("rename to").find_map(|(at, word)| {
        let rest = &lower[at + word.len()..];
        let skipped = rest.len() - rest.trim_start().len();
        let start = at + word.len() + skipped;
        let tail = &lower[start..];
        let (inner, len) = match tail.chars().next()? {
            q @ ('"' | '`' | '[') => {
                let close = if q == '[' { ']' } else { q };
                let end = tail[1..].find(close)?;
                (&tail[1..1 + end], end + 2)
            }
            _ => {
                let end = tail.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(tail.len());
                (&tail[..end], end)
            }
        };
        (inner == want).then_some(start..start + len)
    })
}
