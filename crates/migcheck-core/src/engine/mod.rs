//! The seam between the checks and the databases they run on.
//!
//! An [`Engine`] is a scratch database migcheck may do anything to: run a
//! migration file on it the way the runtime will, read its schema, compare two
//! schemas, and open another empty one beside it. The checks (up, down and up
//! again with the schema compared, foreign keys, drift against `schema.sql`)
//! are written once against this trait in `check::pipeline`; the SQLite
//! sandbox (`sqlite::SqliteEngine`) and the PostgreSQL scratch database
//! (`postgres::PgEngine`) implement it.
//!
//! Each engine has a room of its own below this one, holding everything that
//! knows its database: [`sqlite`] (the sandbox, the build cache, synthetic
//! rows) and [`postgres`] (the wire client, the catalogs, lock tracing);
//! [`synthetic`] holds the rules synthetic rows follow on both, and [`any`]
//! the one choice of an engine for a dialect.

pub mod any;
/// MySQL and MariaDB as the check's engine: a scratch database on `MIGCHECK_SCRATCH_URL`'s server.
pub mod mysql;
pub mod postgres;
pub mod sqlite;
pub mod synthetic;

use std::collections::BTreeSet;

use crate::diagnostic::Diagnostic;
use crate::model::{Digest, Migration, Script};

/// A scratch database the checks run migrations on.
pub trait Engine: Sized {
    /// The schema in the form cheapest to read and to test for equality: two
    /// equal values are the same schema; two different ones may still be (the
    /// same objects in another order or spelling), which
    /// [`Engine::differences`] decides.
    type Schema: PartialEq;

    /// The schema as the report keeps it ([`crate::check::Report::schema`],
    /// read by `migcheck diff` and live drift): SQLite's only, today.
    fn report_snapshot(schema: &Self::Schema) -> Option<crate::engine::sqlite::schema::Snapshot> {
        let _ = schema;
        None
    }

    /// Where migrations run, for notes: "an in-memory SQLite database".
    fn describe(&self) -> &'static str;

    /// The codes of the findings this engine measures while running files
    /// (beyond the data checks): an `allow` of another code matches nothing
    /// here, and is not reported as unused.
    fn measures(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether `migcheck diff` can write a migration for this engine (the
    /// drift error then suggests it).
    fn generates_migrations(&self) -> bool {
        false
    }

    /// Runs one migration file the way the runtime will: in a transaction of
    /// its own unless its mode says otherwise. Warnings (statements that do
    /// nothing where they are) go to `warnings`; the first error ends the file
    /// and is returned, located at its statement.
    fn run(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic>;

    /// Runs a migration's up file the first time, measuring what each
    /// statement does to what existed before it (locks, rewrites) where the
    /// engine can: findings go to `warnings` with [`Engine::run`]'s.
    fn run_measured(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
        self.run(script, warnings)
    }

    /// Runs `script` statement by statement and says what each did (locks,
    /// rewrites, rows, time), for `migcheck explain`.
    fn explain(&mut self, script: &Script) -> Result<Vec<StatementTrace>, Diagnostic>;

    /// The database's schema now.
    fn schema(&mut self) -> Result<Self::Schema, Diagnostic>;

    /// What differs from `a` to `b`, one sentence each, objects named with the
    /// labels (`"the schema before the up"`); empty when they are the same
    /// schema.
    fn differences(
        &mut self,
        a: &Self::Schema,
        b: &Self::Schema,
        a_label: &str,
        b_label: &str,
    ) -> Result<Vec<String>, Diagnostic>;

    /// Another, empty scratch database set up the same way (for the declared
    /// schema, or the schema at a version).
    fn fresh(&self) -> Result<Self, Diagnostic>;

    /// Restores the database after `migrations[..sealed]` from a cache kept by
    /// [`Engine::checkpoint`] in an earlier run with the same `salt` (what the
    /// rows in the tables depend on); whether it did. An engine without a
    /// cache always runs cold.
    fn resume(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) -> bool {
        let _ = (migrations, sealed, salt);
        false
    }

    /// Called when `migrations[..sealed]` ran without a single diagnostic:
    /// the engine may keep the database for [`Engine::resume`].
    fn checkpoint(&mut self, migrations: &[Migration], sealed: usize, salt: &Digest) {
        let _ = (migrations, sealed, salt);
    }

    /// Keeps a copy of the database as it is now (every migration run) for
    /// the application's compilation to check its queries against, in a
    /// place named after `dir` (`Config::keep_head`), replacing the copy an
    /// earlier run kept there; returns the URL that opens it.
    fn keep_head(&mut self, dir: &std::path::Path) -> Result<String, Diagnostic>;

    /// Whether `sql`, one statement of the application's, prepares on the
    /// database as it is now, nothing run: `Err` with the database's message
    /// (`no such column: name`) when it does not. The running release's
    /// statements are tried this way before and after each migration
    /// (`breaking-change`, proven).
    fn prepare(&mut self, sql: &str) -> Result<(), String>;

    // The data checks (`check::data`): rows in the tables, read back and
    // compared.

    /// Which of `names` (lower-case words of a migration) are ordinary tables
    /// now, spelt as the database spells them; all of them when `None`.
    fn tables(&mut self, names: Option<&BTreeSet<String>>) -> Result<Vec<String>, Diagnostic>;

    /// The tables whose foreign keys reference `table` (rows a cascade reaches).
    fn children(&mut self, table: &str) -> Result<Vec<String>, Diagnostic>;

    /// The foreign keys that reference one of `names` while no such table
    /// exists, as (child, its columns, the missing table). SQLite keeps such
    /// a key when its parent is dropped or a rename points it elsewhere;
    /// PostgreSQL refuses, so by default there are none.
    fn dangling(&mut self, names: &BTreeSet<String>) -> Result<Vec<(String, String, String)>, Diagnostic> {
        let _ = names;
        Ok(Vec::new())
    }

    /// Fills `tables` that are empty with synthetic rows, parents first;
    /// returns the tables it could not fill at all, each with why (a
    /// foreign key to a table that is not there, a type it cannot make a
    /// value of): the check goes on without their rows.
    fn seed(&mut self, tables: &[String]) -> Result<Vec<(String, String)>, Diagnostic>;

    /// The columns of `table`, in order.
    fn columns(&mut self, table: &str) -> Result<Vec<ColumnShape>, Diagnostic>;

    /// The whole schema as people read it (tables with their columns, keys
    /// and references, indexes, views, triggers), for `migcheck schema` and
    /// `migcheck show`.
    fn model(&mut self) -> Result<crate::schema::model::Model, Diagnostic>;

    /// The SQL of a baseline that creates this database as it is now, for
    /// `migcheck squash`: its schema and, with `rows`, every table's rows,
    /// in an order that runs on an empty database of this engine.
    fn baseline_sql(&mut self, rows: bool) -> Result<String, Diagnostic>;

    /// Every row of `table`, values as SQL literals.
    fn contents(&mut self, table: &str) -> Result<Contents, Diagnostic>;

    /// Deletes the rows of every table except `keep` (lower-case names),
    /// with triggers and foreign-key actions out of the way.
    fn clear(&mut self, keep: &BTreeSet<String>) -> Result<(), Diagnostic>;

    /// After `error` made a file fail with rows in `tables` (the database
    /// back as it was before the file), the rows that made it fail, shown
    /// one per line; empty when the engine cannot tell.
    fn culprits(&mut self, error: &Diagnostic, tables: &[String]) -> Vec<String> {
        let _ = (error, tables);
        Vec::new()
    }
}

/// `text` percent-encoded for a URL: every byte but letters, digits and
/// `-_.~` (and `/` when `slash`) as `%XX`.
pub(crate) fn url_encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What one statement did, as `migcheck explain` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementTrace {
    /// 1-based line of the statement in its file.
    pub line: usize,
    /// The statement's first line.
    pub statement: String,
    /// Locks taken on relations that existed before the file
    /// (`ACCESS EXCLUSIVE on users`); SQLite locks the whole database.
    pub locks: Vec<String>,
    /// Relations that existed before the file and were rewritten.
    pub rewritten: Vec<String>,
    /// Rows read or written in relations that existed before (PostgreSQL),
    /// rows changed (SQLite).
    pub rows: u64,
    /// How long it ran on the scratch database.
    pub elapsed: std::time::Duration,
}

/// A column as [`Engine::columns`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnShape {
    /// Its name.
    pub name: String,
    /// Its declared type (SQLite), or `format_type` (PostgreSQL).
    pub ty: String,
    /// NOT NULL.
    pub not_null: bool,
    /// It has a default (or is generated, or an identity).
    pub has_default: bool,
}

/// A table's rows as read by [`Engine::contents`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Column names, in the table's order.
    pub columns: Vec<String>,
    /// Each row's values as SQL literals (`1`, `'text'`, `X'00'`); `None` for NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

impl Contents {
    /// The position of the column `name` (case-insensitive).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.eq_ignore_ascii_case(name))
    }

    /// How many rows hold a value (not NULL) in column `i`.
    pub fn values(&self, i: usize) -> usize {
        self.rows.iter().filter(|r| r[i].is_some()).count()
    }

    /// Row `row` shown as `(id = 1, name = 'Ada')`.
    pub fn show(&self, row: &[Option<String>]) -> String {
        let parts: Vec<String> =
            self.columns.iter().zip(row).map(|(c, v)| format!("{c} = {}", v.as_deref().unwrap_or("NULL"))).collect();
        format!("({})", parts.join(", "))
    }
}
