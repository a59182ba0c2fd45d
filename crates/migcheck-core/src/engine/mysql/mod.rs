//! MySQL and MariaDB as the check's engine: a scratch database created on
//! `MIGCHECK_SCRATCH_URL`'s server, each migration run on it statement by
//! statement as the runtime runs it (DDL commits implicitly there), and the
//! schema read back through `SHOW CREATE` and `information_schema`, so that
//! a down that does not undo its up, or drift from `schema.sql`, is found as
//! on the other engines. The database is dropped when the engine goes, even
//! after a failure.
//!
//! Measured on the up's first run: an `ALTER TABLE` that rebuilds an
//! existing table (its InnoDB table id changes: a copy, or an in-place
//! rebuild; `ALGORITHM=INSTANT` keeps it) is a `table-rewrite` with the rows
//! it copied.
//!
//! The data checks run there too: synthetic rows in every table
//! (`rows.rs`), and the fixtures.
//!
//! `squash` writes a MySQL baseline from the same reading (`catalog.rs`).

mod catalog;
mod rows;
/// The small synchronous MySQL client the build-time check talks through.
pub mod wire;

pub use catalog::MySnapshot;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wire::{Client, MyError, MyUrl};

use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::{ColumnShape, Contents, Engine, StatementTrace};
use crate::lexer::{self, quote_mysql_ident};
use crate::model::{Dialect, Script};

impl MySnapshot {
    /// The snapshot without tables' default character sets and collations
    /// (`DEFAULT CHARSET=…`, `COLLATE=…`): what a live database created with
    /// other defaults than the scratch one still shares with it.
    pub fn without_table_charsets(&self) -> MySnapshot {
        let objects = self
            .objects
            .iter()
            .map(|(key, sql)| {
                let sql = if key.starts_with("table ") {
                    let words: Vec<&str> = sql.split(' ').collect();
                    let mut kept = Vec::with_capacity(words.len());
                    let mut i = 0;
                    while i < words.len() {
                        let w = words[i];
                        if w == "DEFAULT" && words.get(i + 1).is_some_and(|n| n.starts_with("CHARSET=")) {
                            i += 2;
                            continue;
                        }
                        if w.starts_with("CHARSET=") || w.starts_with("COLLATE=") {
                            i += 1;
                            continue;
                        }
                        kept.push(w);
                        i += 1;
                    }
                    kept.join(" ")
                } else {
                    sql.clone()
                };
                (key.clone(), sql)
            })
            .collect();
        MySnapshot { objects }
    }
}

/// A scratch database on a MySQL or MariaDB server.
pub struct MyEngine {
    url: MyUrl,
    timeout: Duration,
    client: Client,
    /// Declared last: dropped (the database with it) after the client's
    /// connection closed.
    db: ScratchDb,
}

/// Drops the scratch database when it goes.
struct ScratchDb {
    url: MyUrl,
    name: String,
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(&self.url, None, Duration::from_secs(10)) {
            let _ = admin.execute(&format!("DROP DATABASE IF EXISTS {}", quote_mysql_ident(&self.name)));
        }
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl MyEngine {
    /// Creates an empty scratch database on the server `url` names.
    pub fn create(url: &str, timeout: Duration) -> Result<MyEngine, Diagnostic> {
        let url = MyUrl::parse(url).map_err(|e| io(format!("cannot read MIGCHECK_SCRATCH_URL: {e}")))?;
        MyEngine::on(url, timeout)
    }

    fn on(url: MyUrl, timeout: Duration) -> Result<MyEngine, Diagnostic> {
        let server = url.server();
        let cannot = |e: MyError| io(format!("the MySQL scratch server at {server}: {e}"));
        let mut admin = Client::connect(&url, None, timeout).map_err(cannot)?;
        let name = format!("migcheck_scratch_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        admin
            .execute(&format!("DROP DATABASE IF EXISTS {}", quote_mysql_ident(&name)))
            .and_then(|()| {
                admin.execute(&format!("CREATE DATABASE {} CHARACTER SET utf8mb4", quote_mysql_ident(&name)))
            })
            .map_err(cannot)?;
        let db = ScratchDb { url: url.clone(), name: name.clone() };
        let mut client = Client::connect(&url, Some(&name), timeout + Duration::from_secs(5)).map_err(cannot)?;
        // MariaDB ends a statement that runs past the limit; MySQL has no
        // such setting for DDL, and the socket's read timeout stands in.
        let _ = client.execute(&format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64()));
        Ok(MyEngine { url, timeout, client, db })
    }

    fn rows(&mut self, sql: &str) -> Result<wire::Rows, Diagnostic> {
        self.client.query(sql).map_err(|e| io(format!("cannot read the MySQL scratch database: {e}")))
    }

    fn texts(&mut self, sql: &str) -> Result<Vec<String>, Diagnostic> {
        Ok(self.rows(sql)?.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect())
    }

    /// The schema now.
    pub fn snapshot(&mut self) -> Result<MySnapshot, Diagnostic> {
        catalog::snapshot(&mut self.client, &[]).map_err(|e| io(format!("cannot read the MySQL scratch database: {e}")))
    }

    /// InnoDB's id of `table` in the scratch database: a new one after a
    /// rebuild. MariaDB lists it in `INNODB_SYS_TABLES`, MySQL 8 in
    /// `INNODB_TABLES`; `None` where neither can be read.
    fn table_id(&mut self, table: &str) -> Option<String> {
        let name = format!("{}/{}", self.db.name, table).replace('\'', "''");
        ["INNODB_SYS_TABLES", "INNODB_TABLES"].iter().find_map(|view| {
            self.client
                .query(&format!("SELECT TABLE_ID FROM information_schema.{view} WHERE NAME = '{name}'"))
                .ok()
                .and_then(|rows| rows.into_iter().next())
                .and_then(|row| row.into_iter().next().flatten())
        })
    }

    fn not_here(what: &str) -> Diagnostic {
        Diagnostic::error(Kind::NotExecuted, format!("{what} is not available for MySQL yet"))
            .help("the check itself (up, down, up, schema compared) runs on MySQL; this view of it does not yet")
    }
}

/// The schema of a live database (`check --database-url mysql://…`), its
/// history table left out.
pub fn live_snapshot(url: &str, history_table: &str) -> Result<MySnapshot, String> {
    let url = MyUrl::parse(url)?;
    let mut client = Client::connect(&url, None, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    catalog::snapshot(&mut client, &[history_table]).map_err(|e| e.to_string())
}

/// The schema model of a live database (`schema --database-url mysql://…`),
/// its history table left out.
pub fn live_model(url: &str, history_table: &str) -> Result<crate::schema::model::Model, String> {
    let url = MyUrl::parse(url)?;
    let mut client = Client::connect(&url, None, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    catalog::model(&mut client, &[history_table]).map_err(|e| e.to_string())
}

/// What differs from `a` to `b`, one sentence each (see [`Engine::differences`]).
pub fn diff(a: &MySnapshot, b: &MySnapshot, a_label: &str, b_label: &str) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = a.objects.keys().chain(b.objects.keys()).collect();
    for key in keys {
        match (a.objects.get(key), b.objects.get(key)) {
            (Some(_), None) => out.push(format!("{key}: in {a_label}, not in {b_label}")),
            (None, Some(_)) => out.push(format!("{key}: in {b_label}, not in {a_label}")),
            (Some(x), Some(y)) if x != y => {
                let lines = |t: &'_ str| -> Vec<String> {
                    t.lines().map(|l| l.trim().trim_end_matches(',').to_owned()).collect()
                };
                let (xs, ys) = (lines(x), lines(y));
                let before = out.len();
                for l in xs.iter().filter(|l| !ys.contains(l)) {
                    out.push(format!("{key}: `{l}` in {a_label}, not in {b_label}"));
                }
                for l in ys.iter().filter(|l| !xs.contains(l)) {
                    out.push(format!("{key}: `{l}` in {b_label}, not in {a_label}"));
                }
                if out.len() == before {
                    out.push(format!("{key}: its lines are in another order in {a_label} than in {b_label}"));
                }
            }
            _ => {}
        }
    }
    out
}

/// The table a DDL statement works on: `ALTER TABLE t`, `DROP TABLE t`,
/// `TRUNCATE [TABLE] t`, `RENAME TABLE t`, `CREATE [UNIQUE] INDEX i ON t`,
/// `DROP INDEX i ON t`.
fn ddl_table(statement: &str) -> Option<String> {
    if let Some(t) = altered_table(statement) {
        return Some(t);
    }
    let words: Vec<&str> = statement.split_whitespace().collect();
    let upper = |i: usize| words.get(i).map(|w| w.to_ascii_uppercase());
    let name = |w: &str| {
        let w = w.trim_end_matches(';').split('(').next().unwrap_or_default();
        let last = w.rsplit('.').next().unwrap_or(w).trim_matches('`');
        (!last.is_empty()).then(|| last.to_owned())
    };
    match (upper(0).as_deref(), upper(1).as_deref()) {
        (Some("DROP" | "RENAME"), Some("TABLE")) => {
            let at = if upper(2).as_deref() == Some("IF") { 4 } else { 2 };
            words.get(at).and_then(|w| name(w))
        }
        (Some("TRUNCATE"), Some("TABLE")) => words.get(2).and_then(|w| name(w)),
        (Some("TRUNCATE"), _) => words.get(1).and_then(|w| name(w)),
        (Some("CREATE" | "DROP"), _) => {
            let on = words.iter().position(|w| w.eq_ignore_ascii_case("ON"))?;
            let index = words[..on].iter().any(|w| w.eq_ignore_ascii_case("INDEX"));
            if index { words.get(on + 1).and_then(|w| name(w)) } else { None }
        }
        _ => None,
    }
}

/// The table an `ALTER [ONLINE] [IGNORE] TABLE name …` statement alters,
/// unquoted and without its database.
fn altered_table(statement: &str) -> Option<String> {
    let mut words = statement.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("ALTER") {
        return None;
    }
    let mut word = words.next()?;
    while word.eq_ignore_ascii_case("ONLINE") || word.eq_ignore_ascii_case("IGNORE") {
        word = words.next()?;
    }
    if !word.eq_ignore_ascii_case("TABLE") {
        return None;
    }
    let mut name = words.next()?;
    if name.eq_ignore_ascii_case("IF") {
        words.next()?;
        name = words.next()?;
    }
    let name = name.trim_end_matches(';');
    let last = name.rsplit('.').next().unwrap_or(name).trim_matches('`');
    (!last.is_empty()).then(|| last.to_owned())
}

impl Engine for MyEngine {
    type Schema = MySnapshot;

    fn describe(&self) -> &'static str {
        "a scratch MySQL database"
    }

    fn run(&mut self, script: &Script, _warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        for range in lexer::statements(&script.sql, Dialect::Mysql) {
            let statement = &script.sql[range.clone()];
            if let Err(e) = self.client.query(statement) {
                return Err(located(script, range.start, statement, e));
            }
        }
        Ok(())
    }

    fn run_measured(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        for range in lexer::statements(&script.sql, Dialect::Mysql) {
            let statement = &script.sql[range.clone()];
            let altered = altered_table(statement);
            let before = match &altered {
                Some(table) => self.table_id(table),
                None => None,
            };
            if let Err(e) = self.client.query(statement) {
                return Err(located(script, range.start, statement, e));
            }
            let (Some(table), Some(before)) = (altered, before) else { continue };
            if self.table_id(&table).is_some_and(|after| after != before) {
                let rows = self
                    .texts(&format!("SELECT COUNT(*) FROM {}", quote_mysql_ident(&table)))
                    .ok()
                    .and_then(|r| r.into_iter().next())
                    .unwrap_or_else(|| "0".to_owned());
                let copied = match rows.as_str() {
                    "0" => String::new(),
                    "1" => " (1 row copied here)".to_owned(),
                    n => format!(" ({n} rows copied here)"),
                };
                let file = &script.file;
                let at = range.start + script.offset();
                let end = at + statement.lines().next().unwrap_or_default().trim_end().len();
                warnings.push(
                    Diagnostic::warning(
                        Kind::TableRewrite,
                        format!(
                            "`{}` rebuilds table `{table}`{copied}: InnoDB writes a new copy of the table, and on a \
                             large one writes wait or the server works for long",
                            file.file_name(),
                        ),
                    )
                    .at(Location::span(&file.display, &file.text, at..end, "the table's storage is replaced here"))
                    .help(
                        "ask for `ALGORITHM=INSTANT` (or `INPLACE, LOCK=NONE`) where the change allows it, so that \
                         the server refuses a copy; for a large table, an online schema change tool",
                    ),
                );
            }
        }
        Ok(())
    }

    fn measures(&self) -> &'static [&'static str] {
        &["table-rewrite"]
    }

    /// Each statement's time, the rows it changed, the tables that existed
    /// before the file and that it rebuilt (InnoDB's table id), and the
    /// metadata lock a DDL statement takes on an existing table (every one
    /// does, exclusive for a moment at least; writes queue behind it).
    fn explain(&mut self, script: &Script) -> Result<Vec<StatementTrace>, Diagnostic> {
        let existing: BTreeSet<String> = self.tables(None)?.into_iter().map(|t| t.to_lowercase()).collect();
        let mut traces = Vec::new();
        for range in lexer::statements(&script.sql, Dialect::Mysql) {
            let statement = &script.sql[range.clone()];
            let touched = ddl_table(statement).filter(|t| existing.contains(&t.to_lowercase()));
            let before = touched.as_deref().and_then(|t| self.table_id(t));
            let started = std::time::Instant::now();
            if let Err(e) = self.client.query(statement) {
                return Err(located(script, range.start, statement, e));
            }
            let elapsed = started.elapsed();
            let rows = self.client.affected;
            let mut rewritten = Vec::new();
            if let (Some(table), Some(before)) = (&touched, before)
                && self.table_id(table).is_some_and(|after| after != before)
            {
                rewritten.push(table.clone());
            }
            let at = range.start + script.offset();
            traces.push(StatementTrace {
                line: lexer::line_column(&script.file.text, at).0,
                statement: statement.lines().next().unwrap_or_default().trim_end().to_owned(),
                locks: touched.iter().map(|t| format!("metadata lock on {t}")).collect(),
                rewritten,
                rows,
                elapsed,
            });
        }
        Ok(traces)
    }

    fn schema(&mut self) -> Result<MySnapshot, Diagnostic> {
        self.snapshot()
    }

    fn differences(
        &mut self,
        a: &MySnapshot,
        b: &MySnapshot,
        a_label: &str,
        b_label: &str,
    ) -> Result<Vec<String>, Diagnostic> {
        Ok(diff(a, b, a_label, b_label))
    }

    fn fresh(&self) -> Result<MyEngine, Diagnostic> {
        MyEngine::on(self.url.clone(), self.timeout)
    }

    fn keep_head(&mut self, _dir: &std::path::Path) -> Result<String, Diagnostic> {
        Err(MyEngine::not_here("keeping the migrated database for the crate's queries (`expose_database`)"))
    }

    fn prepare(&mut self, sql: &str) -> Result<(), String> {
        let quoted = sql.replace('\\', "\\\\").replace('\'', "\\'");
        match self.client.execute(&format!("PREPARE migcheck_statement FROM '{quoted}'")) {
            Ok(()) => {
                let _ = self.client.execute("DEALLOCATE PREPARE migcheck_statement");
                Ok(())
            }
            Err(MyError::Server { message, .. }) => Err(message),
            Err(e) => Err(e.to_string()),
        }
    }

    fn tables(&mut self, names: Option<&BTreeSet<String>>) -> Result<Vec<String>, Diagnostic> {
        let all = self.texts(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
        )?;
        Ok(all.into_iter().filter(|t| names.is_none_or(|n| n.contains(&t.to_lowercase()))).collect())
    }

    fn children(&mut self, table: &str) -> Result<Vec<String>, Diagnostic> {
        self.texts(&format!(
            "SELECT DISTINCT TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
             AND REFERENCED_TABLE_NAME = '{}' ORDER BY 1",
            table.replace('\'', "''")
        ))
    }

    fn seed(&mut self, tables: &[String]) -> Result<Vec<(String, String)>, Diagnostic> {
        rows::seed(&mut self.client, tables)
            .map_err(|e| io(format!("cannot write rows on the MySQL scratch database: {e}")))
    }

    fn columns(&mut self, table: &str) -> Result<Vec<ColumnShape>, Diagnostic> {
        let rows = self.rows(&format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{}' ORDER BY ORDINAL_POSITION",
            table.replace('\'', "''")
        ))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let text = |i: usize| r.get(i).cloned().flatten();
                let extra = text(4).unwrap_or_default().to_lowercase();
                // MariaDB writes a NULL default as the text `NULL`.
                let default = text(3).filter(|d| d != "NULL");
                ColumnShape {
                    name: text(0).unwrap_or_default(),
                    ty: text(1).unwrap_or_default(),
                    not_null: text(2).as_deref() == Some("NO"),
                    has_default: default.is_some()
                        || extra.contains("auto_increment")
                        || extra.contains("generated")
                        || extra.contains("virtual")
                        || extra.contains("stored"),
                }
            })
            .collect())
    }

    fn model(&mut self) -> Result<crate::schema::model::Model, Diagnostic> {
        catalog::model(&mut self.client, &[]).map_err(|e| io(format!("cannot read the MySQL scratch database: {e}")))
    }

    fn baseline_sql(&mut self, rows: bool) -> Result<String, Diagnostic> {
        catalog::baseline_sql(&mut self.client, rows)
            .map_err(|e| io(format!("cannot read the MySQL scratch database: {e}")))
    }

    fn contents(&mut self, table: &str) -> Result<Contents, Diagnostic> {
        let columns = self.columns(table)?.into_iter().map(|c| c.name).collect();
        let rows = self.rows(&format!("SELECT * FROM {}", quote_mysql_ident(table)))?;
        let literal = |v: Option<String>| v.map(|v| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''")));
        Ok(Contents { columns, rows: rows.into_iter().map(|r| r.into_iter().map(literal).collect()).collect() })
    }

    fn clear(&mut self, keep: &BTreeSet<String>) -> Result<(), Diagnostic> {
        let tables = self.tables(None)?;
        self.rows("SET FOREIGN_KEY_CHECKS = 0")?;
        for t in tables.iter().filter(|t| !keep.contains(&t.to_lowercase())) {
            self.rows(&format!("DELETE FROM {}", quote_mysql_ident(t)))?;
        }
        self.rows("SET FOREIGN_KEY_CHECKS = 1")?;
        Ok(())
    }
}

/// A failed statement, placed where the server's message says (see
/// [`lexer::mysql_error_offset`]); a lost connection is an I/O error.
fn located(script: &Script, sent_at: usize, sent: &str, e: MyError) -> Diagnostic {
    let MyError::Server { message, code, .. } = &e else {
        return io(format!("the MySQL scratch database: {e}"));
    };
    let kind = if *code == 1969 || *code == 3024 { Kind::Timeout } else { Kind::SqlError };
    let file = &script.file;
    let offset = script.offset();
    let at = sent_at + lexer::mysql_error_offset(sent, message).unwrap_or_else(|| lexer::skip_trivia(sent)) + offset;
    let text = &file.text;
    let at = lexer::floor_char_boundary(text, at.min(text.len()));
    let len = text[at..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(0).max(1);
    Diagnostic::error(kind, format!("SQL fails on the scratch database: {message}"))
        .at(Location::span(&file.display, text, at..(at + len).min(text.len()), message.clone()))
        .note(format!(
            "each migration runs on a scratch MySQL database holding the schema the migrations before it produced \
             (error {code})"
        ))
        .help("fix the statement and build again")
}

/// A scratch server that cannot be reached or used.
fn io(message: String) -> Diagnostic {
    Diagnostic::error(Kind::Io, message).help(
        "check MIGCHECK_SCRATCH_URL: a MySQL or MariaDB server where migcheck may create and drop a scratch database \
         (scripts/mysql-start starts one)",
    )
}

#[cfg(test)]
mod tests {
    use super::altered_table;
    use super::catalog::normalise;

    #[test]
    fn ddl_statements_name_their_table() {
        assert_eq!(super::ddl_table("CREATE UNIQUE INDEX i ON `pets` (name)").as_deref(), Some("pets"));
        assert_eq!(super::ddl_table("CREATE INDEX i ON pets(name);").as_deref(), Some("pets"));
        assert_eq!(super::ddl_table("DROP INDEX i ON pets;").as_deref(), Some("pets"));
        assert_eq!(super::ddl_table("DROP TABLE IF EXISTS pets;").as_deref(), Some("pets"));
        assert_eq!(super::ddl_table("TRUNCATE pets").as_deref(), Some("pets"));
        assert_eq!(super::ddl_table("ALTER TABLE pets ADD x INT").as_deref(), Some("pets"));
        assert_eq!(super::ddl_table("CREATE TABLE pets (id INT)"), None);
        assert_eq!(super::ddl_table("INSERT INTO pets VALUES (1)"), None);
    }

    #[test]
    fn the_altered_table_is_read_from_the_statement() {
        assert_eq!(altered_table("ALTER TABLE `shop`.`pets` ADD COLUMN x INT").as_deref(), Some("pets"));
        assert_eq!(altered_table("alter online ignore table pets engine=InnoDB;").as_deref(), Some("pets"));
        assert_eq!(altered_table("ALTER TABLE IF EXISTS pets DROP x").as_deref(), Some("pets"));
        assert_eq!(altered_table("ALTER VIEW v AS SELECT 1"), None);
        assert_eq!(altered_table("CREATE TABLE t (x INT)"), None);
    }

    #[test]
    fn a_live_comparison_leaves_table_charsets_out() {
        let mut objects = std::collections::BTreeMap::new();
        objects.insert(
            "table `t`".to_owned(),
            "CREATE TABLE `t` (\n  `a` int(11) DEFAULT NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci".to_owned(),
        );
        let s = super::MySnapshot { objects }.without_table_charsets();
        assert_eq!(s.objects["table `t`"], "CREATE TABLE `t` (\n  `a` int(11) DEFAULT NULL\n) ENGINE=InnoDB");
    }

    #[test]
    fn counters_and_definers_are_not_the_schema() {
        assert_eq!(
            normalise("CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB AUTO_INCREMENT=7"),
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL AUTO_INCREMENT\n) ENGINE=InnoDB"
        );
        assert_eq!(
            normalise("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1"),
            "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1"
        );
    }
}
