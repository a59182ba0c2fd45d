//! A SQLite database's schema, compared semantically.
//!
//! A [`Snapshot`] is the `sqlite_schema` rows of a database: cheap to read, and
//! two snapshots whose rows have the same SQL text are equal. Where the text
//! differs, [`compare`] builds [`Table`] models from SQLite's own pragmas
//! (`table_xinfo`, `foreign_key_list`, `index_list`, `table_list`) and parses
//! the `CREATE TABLE` text only for what SQLite offers nothing better for
//! (CHECK constraints, collations, generated columns). Whitespace, comments,
//! quoting and keyword case never count as differences.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rusqlite::Connection;

use super::sandbox::Scratch;

use crate::config::ScratchConfig;
use crate::schema::model;
use crate::schema::tokens::{self, Token, normalize, normalize_sql, split_commas, tokenize};

/// The kinds of schema objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    Table,
    Index,
    View,
    Trigger,
}

impl ObjectKind {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "table" => ObjectKind::Table,
            "index" => ObjectKind::Index,
            "view" => ObjectKind::View,
            "trigger" => ObjectKind::Trigger,
            _ => return None,
        })
    }

    pub fn word(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Index => "index",
            ObjectKind::View => "view",
            ObjectKind::Trigger => "trigger",
        }
    }
}

/// One row of `sqlite_schema` with SQL text (automatic indexes have none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRow {
    pub kind: ObjectKind,
    pub name: String,
    /// The table an index or trigger belongs to (the object itself for tables and views).
    pub table: String,
    pub sql: String,
}

/// The main schema's rows with SQL text, SQLite's own objects left out.
const SCHEMA_ROWS: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema
     WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

/// A database's schema as `sqlite_schema` holds it, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub rows: Vec<SchemaRow>,
}

impl Snapshot {
    /// Reads the main schema, leaving out SQLite's own objects and `exclude`
    /// (the history table).
    pub fn read(conn: &Connection, exclude: &[&str]) -> rusqlite::Result<Snapshot> {
        let mut stmt = conn.prepare(SCHEMA_ROWS)?;
        let mut rows = Vec::new();
        let mut query = stmt.query([])?;
        while let Some(r) = query.next()? {
            let Some(kind) = ObjectKind::parse(r.get_ref(0)?.as_str()?) else { continue };
            let name: String = r.get(1)?;
            if exclude.iter().any(|e| e.eq_ignore_ascii_case(&name)) {
                continue;
            }
            rows.push(SchemaRow { kind, name, table: r.get(2)?, sql: r.get(3)? });
        }
        // One lower-cased key per row: a comparator that folds case on every
        // comparison is slow where build scripts run (unoptimised dev builds).
        rows.sort_by_cached_key(|r| (r.kind, r.name.to_ascii_lowercase()));
        Ok(Snapshot { rows })
    }

    /// The main schema (SQLite's own objects left out) as one text, in
    /// `sqlite_schema`'s own order: a cheap test of whether a schema is still
    /// what it was (one buffer, no row sorted or allocated), for the
    /// reversibility check of every reversible migration. Objects dropped and
    /// created again move, so a different text is not yet a different schema:
    /// [`Snapshot::from_text`] reads it back for [`compare`].
    pub fn text(conn: &Connection) -> rusqlite::Result<String> {
        let mut stmt = conn.prepare(SCHEMA_ROWS)?;
        let mut text = String::new();
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            // Fields and rows are separated by NUL, which no SQL text or name holds.
            for i in 0..4 {
                if !text.is_empty() {
                    text.push('\0');
                }
                text.push_str(r.get_ref(i)?.as_str()?);
            }
        }
        Ok(text)
    }

    /// The snapshot a [`Snapshot::text`] describes.
    pub fn from_text(text: &str) -> Snapshot {
        let mut rows = Vec::new();
        let mut fields = text.split('\0');
        while let (Some(kind), Some(name), Some(table), Some(sql)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        {
            if let Some(kind) = ObjectKind::parse(kind) {
                rows.push(SchemaRow { kind, name: name.into(), table: table.into(), sql: sql.into() });
            }
        }
        rows.sort_by_cached_key(|r| (r.kind, r.name.to_ascii_lowercase()));
        Snapshot { rows }
    }

    pub fn get(&self, kind: ObjectKind, name: &str) -> Option<&SchemaRow> {
        self.rows.iter().find(|r| r.kind == kind && r.name.eq_ignore_ascii_case(name))
    }

    pub fn of_kind(&self, kind: ObjectKind) -> impl Iterator<Item = &SchemaRow> {
        self.rows.iter().filter(move |r| r.kind == kind)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A column, as SQLite reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The declared type, normalised (`varchar ( 50 )`); empty when none.
    pub decl_type: String,
    pub not_null: bool,
    /// The default expression, normalised.
    pub default: Option<String>,
    /// Position in the primary key (1-based), 0 when not part of it.
    pub primary_key: i64,
    /// A generated column's expression (normalised) and whether it is STORED.
    pub generated: Option<(String, bool)>,
    pub collation: Option<String>,
    /// The column's definition as written in `CREATE TABLE` (for `ADD COLUMN`).
    pub definition: String,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub table: String,
    /// Referenced columns; empty means the parent's primary key.
    pub to: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
}

impl fmt::Display for ForeignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) REFERENCES {}", self.columns.join(", "), self.table)?;
        if !self.to.is_empty() {
            write!(f, "({})", self.to.join(", "))?;
        }
        if self.on_update != "NO ACTION" {
            write!(f, " ON UPDATE {}", self.on_update)?;
        }
        if self.on_delete != "NO ACTION" {
            write!(f, " ON DELETE {}", self.on_delete)?;
        }
        Ok(())
    }
}

/// A table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub foreign_keys: Vec<ForeignKey>,
    /// UNIQUE constraints (column lists, lower-cased).
    pub uniques: Vec<Vec<String>>,
    /// CHECK constraints, normalised, sorted.
    pub checks: Vec<String>,
    pub without_rowid: bool,
    pub strict: bool,
    /// The `CREATE TABLE` text.
    pub sql: String,
}

/// The main database's ordinary tables, from `sqlite_schema` alone: no
/// virtual table and none of a virtual table's shadow tables (named after
/// it, `<vtab>_…`), no internal table. `PRAGMA table_list` says the same,
/// but compiles every view first, each time the schema changed: on a
/// history of many views that is most of the check. `?1`, when bound, is
/// one name (any case); `NULL` lists them all.
pub const ORDINARY_TABLES: &str = "SELECT s.name FROM main.sqlite_schema s
     WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
       AND (?1 IS NULL OR s.name = ?1 COLLATE NOCASE)
       AND s.sql NOT LIKE 'CREATE VIRTUAL TABLE%'
       AND NOT EXISTS (SELECT 1 FROM main.sqlite_schema v
                       WHERE v.type = 'table' AND v.sql LIKE 'CREATE VIRTUAL TABLE%'
                         AND substr(s.name, 1, length(v.name) + 1) = v.name || '_' COLLATE NOCASE)
     ORDER BY s.name";

/// A `CREATE TABLE` text's table options: `WITHOUT ROWID`, `STRICT`.
fn table_options(sql: &str) -> (bool, bool) {
    let tokens = tokens::tokenize(sql);
    let mut depth = 0usize;
    let mut end = None;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                end = Some(i);
                break;
            }
        }
    }
    let options = end.map_or(&[][..], |e| &tokens[e + 1..]);
    let without_rowid = options.windows(2).any(|w| w[0].is_word("without") && w[1].is_word("rowid"));
    (without_rowid, options.iter().any(|t| t.is_word("strict")))
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Reads table `name` (already created on `conn`) whose text is `sql`.
    pub fn introspect(conn: &Connection, name: &str, sql: &str) -> rusqlite::Result<Table> {
        let parsed = parse_create_table(sql);
        let mut columns = Vec::new();
        let mut stmt =
            conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)")?;
        let mut rows = stmt.query([name])?;
        while let Some(r) = rows.next()? {
            let col_name: String = r.get(0)?;
            let hidden: i64 = r.get(5)?;
            if hidden == 1 {
                continue; // a virtual table's hidden column
            }
            let def = parsed.columns.iter().find(|c| c.name.eq_ignore_ascii_case(&col_name));
            columns.push(Column {
                decl_type: normalize_sql(&r.get::<_, Option<String>>(1)?.unwrap_or_default()),
                not_null: r.get::<_, i64>(2)? != 0,
                default: r.get::<_, Option<String>>(3)?.map(|d| normalize_sql(&d)),
                primary_key: r.get(4)?,
                generated: def.and_then(|d| d.generated.clone()).map(|(expr, stored)| (expr, stored || hidden == 3)),
                collation: def.and_then(|d| d.collation.clone()),
                definition: def.map(|d| d.definition.clone()).unwrap_or_else(|| col_name.clone()),
                name: col_name,
            });
        }
        let mut fks: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        let mut stmt = conn.prepare(
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let mut rows = stmt.query([name])?;
        while let Some(r) = rows.next()? {
            let fk = fks.entry(r.get(0)?).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                table: String::new(),
                to: Vec::new(),
                on_update: String::new(),
                on_delete: String::new(),
            });
            fk.table = r.get::<_, String>(1)?.to_lowercase();
            fk.columns.push(r.get::<_, String>(2)?.to_lowercase());
            if let Some(to) = r.get::<_, Option<String>>(3)? {
                fk.to.push(to.to_lowercase());
            }
            fk.on_update = r.get(4)?;
            fk.on_delete = r.get(5)?;
        }
        let mut foreign_keys: Vec<ForeignKey> = fks.into_values().collect();
        foreign_keys.sort();
        let mut uniques = Vec::new();
        let mut stmt = conn.prepare("SELECT name FROM pragma_index_list(?1) WHERE origin = 'u'")?;
        let names: Vec<String> = stmt.query_map([name], |r| r.get(0))?.collect::<Result<_, _>>()?;
        for index in names {
            let mut stmt = conn.prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?;
            let cols: Vec<Option<String>> = stmt.query_map([&index], |r| r.get(0))?.collect::<Result<_, _>>()?;
            uniques.push(cols.into_iter().map(|c| c.unwrap_or_default().to_lowercase()).collect());
        }
        uniques.sort();
        let (without_rowid, strict) = table_options(sql);
        let mut checks = parsed.checks;
        checks.sort();
        Ok(Table {
            name: name.to_owned(),
            columns,
            foreign_keys,
            uniques,
            checks,
            without_rowid,
            strict,
            sql: sql.to_owned(),
        })
    }
}

/// What the `CREATE TABLE` text says beyond the pragmas.
#[derive(Debug, Default)]
pub(crate) struct ParsedTable {
    pub columns: Vec<ParsedColumn>,
    pub checks: Vec<String>,
    /// Token range of the table's name in the text.
    pub name_span: Option<std::ops::Range<usize>>,
}

#[derive(Debug)]
pub(crate) struct ParsedColumn {
    pub name: String,
    pub definition: String,
    pub collation: Option<String>,
    pub generated: Option<(String, bool)>,
}

pub(crate) fn parse_create_table(sql: &str) -> ParsedTable {
    let tokens = tokenize(sql);
    let mut out = ParsedTable::default();
    let Some(table_kw) = tokens.iter().position(|t| t.is_word("table")) else { return out };
    let mut i = table_kw + 1;
    if tokens.get(i).is_some_and(|t| t.is_word("if")) {
        i += 3;
    }
    if tokens.get(i + 1).is_some_and(|t| t.is_punct(".")) {
        i += 2;
    }
    if let Some(name) = tokens.get(i) {
        out.name_span = Some(name.span.clone());
    }
    let Some(open) = tokens.iter().skip(i).position(|t| t.is_punct("(")).map(|p| p + i) else { return out };
    let close = tokens::matching_paren(&tokens, open);
    let inner = &tokens[open + 1..close.saturating_sub(1).max(open + 1)];
    for part in split_commas(inner) {
        let Some(first) = part.first() else { continue };
        let is_constraint = first.kind == tokens::Kind::Word
            && ["constraint", "primary", "unique", "check", "foreign"].contains(&first.text.as_str())
            && !(first.text == "check" && part.get(1).is_some_and(|t| !t.is_punct("(")));
        out.checks.extend(checks_in(part));
        if is_constraint {
            continue;
        }
        let definition = sql[first.span.start..part.last().map_or(first.span.end, |t| t.span.end)].to_owned();
        let collation =
            part.iter().position(|t| t.is_word("collate")).and_then(|p| part.get(p + 1)).map(|t| t.text.clone());
        let generated = part.iter().position(|t| t.is_word("as")).and_then(|p| {
            let open = p + 1;
            part.get(open).filter(|t| t.is_punct("("))?;
            let close = tokens::matching_paren(part, open);
            let expr = normalize(&part[open + 1..close.saturating_sub(1)]);
            let stored = part.get(close).is_some_and(|t| t.is_word("stored"));
            Some((expr, stored))
        });
        out.columns.push(ParsedColumn { name: first.text.clone(), definition, collation, generated });
    }
    out
}

fn checks_in(part: &[Token]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, t) in part.iter().enumerate() {
        if t.is_word("check") && part.get(i + 1).is_some_and(|t| t.is_punct("(")) {
            let close = tokens::matching_paren(part, i + 1);
            out.push(normalize(&part[i + 2..close.saturating_sub(1)]));
        }
    }
    out
}

/// One difference between two schemas, from `a` (what is) to `b` (what is wanted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add {
        kind: ObjectKind,
        name: String,
    },
    Drop {
        kind: ObjectKind,
        name: String,
    },
    /// A view, index or trigger whose definition differs.
    Alter {
        kind: ObjectKind,
        name: String,
    },
    AddColumn {
        table: String,
        column: String,
    },
    DropColumn {
        table: String,
        column: String,
    },
    /// A column whose type, nullability, default, key, collation or generation differs.
    AlterColumn {
        table: String,
        column: String,
        details: Vec<String>,
    },
    /// Table-level differences: foreign keys, CHECK and UNIQUE constraints, WITHOUT ROWID, STRICT.
    AlterTable {
        table: String,
        details: Vec<String>,
    },
}

impl Change {
    /// What a migration making this change does, as a short imperative.
    pub fn action(&self) -> String {
        match self {
            Change::Add { kind, name } => format!("create {} `{name}`", kind.word()),
            Change::Drop { kind, name } => format!("drop {} `{name}`", kind.word()),
            Change::Alter { kind, name } => format!("redefine {} `{name}`", kind.word()),
            Change::AddColumn { table, column } => format!("add column `{table}.{column}`"),
            Change::DropColumn { table, column } => format!("drop column `{table}.{column}`"),
            Change::AlterColumn { table, column, details } => {
                format!("change column `{table}.{column}`: {}", details.join("; "))
            }
            Change::AlterTable { table, details } => format!("change table `{table}`: {}", details.join("; ")),
        }
    }

    /// The difference, as seen between schema `a` and schema `b`.
    pub fn describe(&self, a: &str, b: &str) -> String {
        match self {
            Change::Add { kind, name } => format!("{} `{name}`: in {b}, not in {a}", kind.word()),
            Change::Drop { kind, name } => format!("{} `{name}`: in {a}, not in {b}", kind.word()),
            Change::Alter { kind, name } => format!("{} `{name}`: defined differently in {a} and {b}", kind.word()),
            Change::AddColumn { table, column } => format!("column `{table}.{column}`: in {b}, not in {a}"),
            Change::DropColumn { table, column } => format!("column `{table}.{column}`: in {a}, not in {b}"),
            Change::AlterColumn { table, column, details } => {
                format!("column `{table}.{column}`: {}", details.join("; "))
            }
            Change::AlterTable { table, details } => format!("table `{table}`: {}", details.join("; ")),
        }
    }
}

/// The differences between two snapshots, with the models of the tables that differ.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Models of changed tables as they are in `a`, by lower-case name.
    pub a_tables: BTreeMap<String, Table>,
    /// Models of changed or added tables as they are in `b`.
    pub b_tables: BTreeMap<String, Table>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// One line per change.
    pub fn describe(&self, a: &str, b: &str) -> Vec<String> {
        self.changes.iter().map(|c| c.describe(a, b)).collect()
    }
}

/// Compares `a` with `b`. `config` supplies the function stubs that table
/// definitions may use.
pub fn compare(a: &Snapshot, b: &Snapshot, config: &ScratchConfig) -> rusqlite::Result<Diff> {
    let mut diff = Diff::default();
    let key = |r: &SchemaRow| (r.kind, r.name.to_lowercase());
    let a_rows: BTreeMap<_, &SchemaRow> = a.rows.iter().map(|r| (key(r), r)).collect();
    let b_rows: BTreeMap<_, &SchemaRow> = b.rows.iter().map(|r| (key(r), r)).collect();
    let mut changed_tables = Vec::new();
    for (k, row) in &a_rows {
        match b_rows.get(k) {
            None => diff.changes.push(Change::Drop { kind: row.kind, name: row.name.clone() }),
            Some(other) if other.sql == row.sql => {}
            // Same tokens, other spacing (ALTER TABLE rewrites the stored text):
            // equal without building models.
            Some(other) if comparable(&row.sql) == comparable(&other.sql) => {}
            Some(other) if row.kind == ObjectKind::Table => changed_tables.push((*row, *other)),
            Some(other) => diff.changes.push(Change::Alter { kind: row.kind, name: other.name.clone() }),
        }
    }
    for (k, row) in &b_rows {
        if !a_rows.contains_key(k) {
            diff.changes.push(Change::Add { kind: row.kind, name: row.name.clone() });
        }
    }
    let added_tables: Vec<&SchemaRow> = diff
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Add { kind: ObjectKind::Table, name } => b.get(ObjectKind::Table, name),
            _ => None,
        })
        .collect();
    let dropped_tables: Vec<&SchemaRow> = diff
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Drop { kind: ObjectKind::Table, name } => a.get(ObjectKind::Table, name),
            _ => None,
        })
        .collect();
    if !changed_tables.is_empty() || !added_tables.is_empty() || !dropped_tables.is_empty() {
        let a_side: Vec<&SchemaRow> = changed_tables.iter().map(|(x, _)| *x).chain(dropped_tables).collect();
        let b_side: Vec<&SchemaRow> = changed_tables.iter().map(|(_, y)| *y).chain(added_tables).collect();
        diff.a_tables = models(&a_side, config)?;
        diff.b_tables = models(&b_side, config)?;
        for (x, _) in &changed_tables {
            let name = x.name.to_lowercase();
            let (Some(ta), Some(tb)) = (diff.a_tables.get(&name), diff.b_tables.get(&name)) else { continue };
            compare_tables(ta, tb, &mut diff.changes);
        }
    }
    Ok(diff)
}

/// Text of an index, view or trigger for comparison: normalised tokens
/// without `IF NOT EXISTS` (SQLite keeps it in the stored text).
fn comparable(sql: &str) -> String {
    let tokens = tokenize(sql);
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].is_word("if")
            && tokens.get(i + 1).is_some_and(|t| t.is_word("not"))
            && tokens.get(i + 2).is_some_and(|t| t.is_word("exists"))
        {
            i += 3;
            continue;
        }
        out.push(tokens[i].clone());
        i += 1;
    }
    normalize(&out)
}

/// Models of `rows` (tables), each created in a fresh scratch database.
fn models(rows: &[&SchemaRow], config: &ScratchConfig) -> rusqlite::Result<BTreeMap<String, Table>> {
    let mut config = config.clone();
    config.foreign_keys = false;
    let scratch = Scratch::open(&config)?;
    let mut out = BTreeMap::new();
    for row in rows {
        scratch.conn.execute_batch(&row.sql)?;
        out.insert(row.name.to_lowercase(), Table::introspect(&scratch.conn, &row.name, &row.sql)?);
    }
    Ok(out)
}

fn flag(b: bool, yes: &str, no: &str) -> String {
    (if b { yes } else { no }).to_owned()
}

fn compare_tables(a: &Table, b: &Table, changes: &mut Vec<Change>) {
    let table = b.name.clone();
    for col in &a.columns {
        if b.column(&col.name).is_none() {
            changes.push(Change::DropColumn { table: table.clone(), column: col.name.clone() });
        }
    }
    for col in &b.columns {
        let Some(old) = a.column(&col.name) else {
            changes.push(Change::AddColumn { table: table.clone(), column: col.name.clone() });
            continue;
        };
        let mut details = Vec::new();
        if old.decl_type != col.decl_type {
            details.push(format!("type `{}` → `{}`", old.decl_type, col.decl_type));
        }
        if old.not_null != col.not_null {
            details.push(format!(
                "{} → {}",
                flag(old.not_null, "NOT NULL", "nullable"),
                flag(col.not_null, "NOT NULL", "nullable")
            ));
        }
        if old.default != col.default {
            let show =
                |d: &Option<String>| d.clone().map_or_else(|| "no default".to_owned(), |d| format!("DEFAULT {d}"));
            details.push(format!("{} → {}", show(&old.default), show(&col.default)));
        }
        if (old.primary_key > 0) != (col.primary_key > 0) || old.primary_key != col.primary_key {
            details.push(format!(
                "{} → {}",
                flag(old.primary_key > 0, "in the primary key", "not in the primary key"),
                flag(col.primary_key > 0, "in the primary key", "not in the primary key")
            ));
        }
        if old.collation != col.collation {
            let show = |c: &Option<String>| {
                c.clone().map_or_else(|| "default collation".to_owned(), |c| format!("COLLATE {c}"))
            };
            details.push(format!("{} → {}", show(&old.collation), show(&col.collation)));
        }
        if old.generated != col.generated {
            details.push("generated expression differs".to_owned());
        }
        if !details.is_empty() {
            changes.push(Change::AlterColumn { table: table.clone(), column: col.name.clone(), details });
        }
    }
    let mut details = Vec::new();
    let a_fks: BTreeSet<&ForeignKey> = a.foreign_keys.iter().collect();
    let b_fks: BTreeSet<&ForeignKey> = b.foreign_keys.iter().collect();
    for fk in a_fks.difference(&b_fks) {
        details.push(format!("foreign key {fk} removed"));
    }
    for fk in b_fks.difference(&a_fks) {
        details.push(format!("foreign key {fk} added"));
    }
    for u in a.uniques.iter().filter(|u| !b.uniques.contains(u)) {
        details.push(format!("UNIQUE ({}) removed", u.join(", ")));
    }
    for u in b.uniques.iter().filter(|u| !a.uniques.contains(u)) {
        details.push(format!("UNIQUE ({}) added", u.join(", ")));
    }
    for c in a.checks.iter().filter(|c| !b.checks.contains(c)) {
        details.push(format!("CHECK ({c}) removed"));
    }
    for c in b.checks.iter().filter(|c| !a.checks.contains(c)) {
        details.push(format!("CHECK ({c}) added"));
    }
    if a.without_rowid != b.without_rowid {
        details.push(format!(
            "{} → {}",
            flag(a.without_rowid, "WITHOUT ROWID", "rowid"),
            flag(b.without_rowid, "WITHOUT ROWID", "rowid")
        ));
    }
    if a.strict != b.strict {
        details.push(format!(
            "{} → {}",
            flag(a.strict, "STRICT", "not STRICT"),
            flag(b.strict, "STRICT", "not STRICT")
        ));
    }
    if !details.is_empty() {
        changes.push(Change::AlterTable { table, details });
    }
}

/// The schema of a SQLite database as a [`model::Model`] (SQLite's own
/// objects and `exclude`, the history table, left out).
pub fn model_of(conn: &Connection, exclude: &[&str]) -> rusqlite::Result<model::Model> {
    use model::{ColumnView, Model, Object, Reference, TableView};
    let snapshot = Snapshot::read(conn, exclude)?;
    let mut m = Model::default();
    for row in &snapshot.rows {
        let object = || Object {
            kind: row.kind.word().to_owned(),
            name: row.name.clone(),
            table: row.table.clone(),
            sql: row.sql.clone(),
        };
        match row.kind {
            ObjectKind::Index => m.indexes.push(object()),
            ObjectKind::View => m.views.push(object()),
            ObjectKind::Trigger => m.triggers.push(object()),
            ObjectKind::Table => {
                let table = Table::introspect(conn, &row.name, &row.sql)?;
                // Columns alone under a UNIQUE constraint or a unique index.
                let mut unique: BTreeSet<String> = BTreeSet::new();
                let mut stmt = conn.prepare(
                    "SELECT (SELECT group_concat(name, char(31)) FROM pragma_index_info(l.name)) FROM pragma_index_list(?1) l
                     WHERE l.\"unique\" AND l.origin <> 'pk' AND NOT l.partial",
                )?;
                for cols in stmt.query_map([&row.name], |r| r.get::<_, Option<String>>(0))? {
                    if let Some(cols) = cols?.filter(|c| !c.contains('\u{1f}')) {
                        unique.insert(cols.to_lowercase());
                    }
                }
                let mut stmt = conn.prepare(
                    "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo(?1) WHERE hidden <> 1",
                )?;
                let pk_columns = table.columns.iter().filter(|c| c.primary_key > 0).count();
                let columns = stmt
                    .query_map([&row.name], |r| {
                        let name: String = r.get(0)?;
                        let ty: String = r.get::<_, Option<String>>(1)?.unwrap_or_default();
                        let pk: i64 = r.get(4)?;
                        // A lone INTEGER PRIMARY KEY is the rowid: never NULL.
                        let rowid =
                            pk > 0 && pk_columns == 1 && ty.eq_ignore_ascii_case("integer") && !table.without_rowid;
                        Ok(ColumnView {
                            unique: unique.contains(&name.to_lowercase()),
                            not_null: r.get::<_, i64>(2)? != 0 || rowid,
                            default: r.get(3)?,
                            primary_key: pk > 0,
                            ty,
                            name,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let foreign_keys = table
                    .foreign_keys
                    .iter()
                    .map(|f| Reference { columns: f.columns.clone(), table: f.table.clone(), to: f.to.clone() })
                    .collect();
                m.tables.push(TableView { name: row.name.clone(), columns, foreign_keys, sql: row.sql.clone() });
            }
        }
    }
    // SQLite reports references in lower case: the names as written.
    let names: Vec<(String, Vec<String>)> =
        m.tables.iter().map(|t| (t.name.clone(), t.columns.iter().map(|c| c.name.clone()).collect())).collect();
    let spelled = |list: &[String], name: &str| list.iter().find(|n| n.eq_ignore_ascii_case(name)).cloned();
    for t in &mut m.tables {
        let own: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        for r in &mut t.foreign_keys {
            for c in &mut r.columns {
                *c = spelled(&own, c).unwrap_or_else(|| c.clone());
            }
            if let Some((name, columns)) = names.iter().find(|(n, _)| n.eq_ignore_ascii_case(&r.table)) {
                r.table = name.clone();
                for c in &mut r.to {
                    *c = spelled(columns, c).unwrap_or_else(|| c.clone());
                }
            }
        }
    }
    m.sort();
    Ok(m)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The schema `sql` makes on an empty database (shared by the schema tests).
    pub(crate) fn snapshot(sql: &str) -> Snapshot {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(sql).unwrap();
        Snapshot::read(&conn, &[]).unwrap()
    }

    fn diff(a: &str, b: &str) -> Vec<String> {
        compare(&snapshot(a), &snapshot(b), &ScratchConfig::default()).unwrap().describe("A", "B")
    }

    /// What `PRAGMA table_list` says of the ordinary tables, without it
    /// (it compiles every view first).
    #[test]
    fn ordinary_tables_without_table_list() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE Pets (id INTEGER PRIMARY KEY) WITHOUT ROWID, STRICT;
             CREATE TABLE docs_extra (x);
             CREATE VIRTUAL TABLE docs USING fts5(body);
             CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT);
             CREATE VIEW pet_view AS SELECT * FROM Pets;",
        )
        .unwrap();
        let names = |name: Option<&str>| -> Vec<String> {
            let mut stmt = conn.prepare(ORDINARY_TABLES).unwrap();
            stmt.query_map([name], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        let mut expected: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // table_list calls a table named like a virtual table's shadows one
        // of them only when its module says so: `docs_extra` is not.
        expected.retain(|n| n != "docs_extra");
        assert_eq!(names(None), expected);
        assert_eq!(names(Some("pets")), ["Pets"]);
        assert!(names(Some("pet_view")).is_empty() && names(Some("docs_data")).is_empty());
        assert_eq!(table_options("CREATE TABLE p (id INTEGER PRIMARY KEY) WITHOUT ROWID, STRICT"), (true, true));
        assert_eq!(
            table_options("CREATE TABLE p (note TEXT DEFAULT 'strict', x CHECK (x <> 'without rowid'))"),
            (false, false)
        );
    }

    #[test]
    fn formatting_is_not_a_difference() {
        let a = "CREATE TABLE owners (id INTEGER PRIMARY KEY, email VARCHAR(255) NOT NULL DEFAULT 'x');\n\
                 CREATE INDEX owners_email ON owners (email);\nCREATE VIEW v AS SELECT id FROM owners;";
        let b = "create table \"OWNERS\" (\n  id integer primary key, -- key\n  `email` varchar( 255 ) not null default 'x'\n);\n\
                 create index IF NOT EXISTS owners_email on owners(email);\ncreate view v as select ID from OWNERS;";
        assert_eq!(diff(a, b), Vec::<String>::new());
    }

    #[test]
    fn differences_are_named() {
        let cases: &[(&str, &str, &str)] = &[
            ("", "CREATE TABLE t (x);", "table `t`: in B, not in A"),
            ("CREATE TABLE t (x);", "", "table `t`: in A, not in B"),
            ("CREATE TABLE t (x);", "CREATE TABLE t (x, y INT);", "column `t.y`: in B, not in A"),
            ("CREATE TABLE t (x, y);", "CREATE TABLE t (x);", "column `t.y`: in A, not in B"),
            ("CREATE TABLE t (x TEXT);", "CREATE TABLE t (x INTEGER);", "column `t.x`: type `text` → `integer`"),
            ("CREATE TABLE t (x NOT NULL);", "CREATE TABLE t (x);", "column `t.x`: NOT NULL → nullable"),
            ("CREATE TABLE t (x DEFAULT 1);", "CREATE TABLE t (x DEFAULT 2);", "column `t.x`: DEFAULT 1 → DEFAULT 2"),
            (
                "CREATE TABLE t (x TEXT);",
                "CREATE TABLE t (x TEXT COLLATE NOCASE);",
                "default collation → COLLATE nocase",
            ),
            ("CREATE TABLE t (x, y AS (x + 1));", "CREATE TABLE t (x, y AS (x + 2));", "generated expression differs"),
            ("CREATE TABLE t (x);", "CREATE TABLE t (x, CHECK (x > 0));", "CHECK (x > 0) added"),
            ("CREATE TABLE t (x);", "CREATE TABLE t (x UNIQUE);", "UNIQUE (x) added"),
            (
                "CREATE TABLE t (x);",
                "CREATE TABLE t (x REFERENCES p(id) ON DELETE CASCADE);",
                "foreign key (x) REFERENCES p(id) ON DELETE CASCADE added",
            ),
            (
                "CREATE TABLE t (x PRIMARY KEY);",
                "CREATE TABLE t (x PRIMARY KEY) WITHOUT ROWID;",
                "rowid → WITHOUT ROWID",
            ),
            ("CREATE TABLE t (x INT);", "CREATE TABLE t (x INT) STRICT;", "not STRICT → STRICT"),
            ("CREATE TABLE t (x); CREATE INDEX i ON t (x);", "CREATE TABLE t (x);", "index `i`: in A, not in B"),
            (
                "CREATE TABLE t (x); CREATE INDEX i ON t (x);",
                "CREATE TABLE t (x); CREATE UNIQUE INDEX i ON t (x);",
                "index `i`: defined differently",
            ),
            (
                "CREATE TABLE t (x); CREATE INDEX i ON t (x);",
                "CREATE TABLE t (x); CREATE INDEX i ON t (x) WHERE x > 0;",
                "index `i`: defined differently",
            ),
            ("CREATE VIEW v AS SELECT 1;", "CREATE VIEW v AS SELECT 2;", "view `v`: defined differently"),
            (
                "CREATE TABLE t (x); CREATE TRIGGER g AFTER INSERT ON t BEGIN SELECT 1; END;",
                "CREATE TABLE t (x); CREATE TRIGGER g AFTER DELETE ON t BEGIN SELECT 1; END;",
                "trigger `g`: defined differently",
            ),
        ];
        for (a, b, expected) in cases {
            let got = diff(a, b);
            assert!(got.iter().any(|g| g.contains(expected)), "{a} → {b}: expected `{expected}` in {got:?}");
        }
    }
}
