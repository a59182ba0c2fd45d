//! Synthetic rows for the data checks (issue 14): a few plausible rows in
//! every table of a SQLite database, generated from its schema alone, the same
//! rows on every run.
//!
//! What the rows respect: NOT NULL, declared types (STRICT tables included),
//! primary keys and UNIQUE constraints (every column's values differ from row
//! to row), foreign keys (parents first; a self reference points at the row
//! before), CHECK constraints (a row a CHECK refuses is tried again with plain
//! values, then left out with a note); generated columns are left to SQLite.
//! Integer keys count from 1001, clear of the small explicit keys migrations
//! give reference rows.
//! What they probe: NULL in one row of every nullable column, and edge values
//! where the type allows (empty text, 0, a negative number, an integer beyond
//! 2^53, non-ASCII text, quotes and `--` in text).
//!
//! Virtual tables and their shadow tables are left empty: their contents
//! belong to their module.

use crate::lexer::quote_ident;
use std::collections::{BTreeMap, BTreeSet};

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params_from_iter};

use crate::engine::sqlite::schema::{Column, Table};
use crate::engine::synthetic::{ROWS, check_choices};

/// What seeding did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seeded {
    /// Rows inserted, by table, in the order the tables were filled.
    pub rows: Vec<(String, usize)>,
    /// Tables or rows left out, and why, one sentence each.
    pub notes: Vec<String>,
    /// Tables that could not be filled at all, and why.
    pub skipped: Vec<(String, String)>,
}

/// Fills every ordinary table of `conn`'s main database with up to [`ROWS`]
/// rows, parents before the tables that reference them.
///
/// ```
/// # use migcheck_core::engine::sqlite::rows;
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// conn.execute_batch("CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
///                     CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners);").unwrap();
/// let seeded = rows::seed(&conn).unwrap();
/// assert_eq!(seeded.rows, [("owners".to_owned(), 5), ("pets".to_owned(), 5)]);
/// ```
pub fn seed(conn: &Connection) -> rusqlite::Result<Seeded> {
    let tables = ordinary_tables(conn)?;
    fill(conn, &tables)
}

/// Fills those of `names` that are ordinary tables and hold no row, parents
/// before the tables that reference them (parents outside `names` keep the
/// rows they have).
pub fn seed_tables(conn: &Connection, names: &[String]) -> rusqlite::Result<Seeded> {
    let mut empty = Vec::new();
    for name in names {
        // A quick test first: most tables named are not new, and hold rows.
        let has_rows = format!("SELECT EXISTS (SELECT 1 FROM main.{})", quote_ident(name));
        if conn.query_row(&has_rows, [], |r| r.get::<_, bool>(0)).unwrap_or(true) {
            continue;
        }
        let found: Option<(String, String)> = conn
            .query_row(
                &format!(
                    "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' AND name IN ({})",
                    crate::engine::sqlite::schema::ORDINARY_TABLES
                ),
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((name, sql)) = found {
            empty.push(Table::introspect(conn, &name, &sql)?);
        }
    }
    fill(conn, &empty)
}

fn fill(conn: &Connection, tables: &[Table]) -> rusqlite::Result<Seeded> {
    let mut seeded = Seeded::default();
    for table in fill_order(tables) {
        match seed_table(conn, table, &mut seeded.notes) {
            Ok(inserted) => seeded.rows.push((table.name.clone(), inserted)),
            // The size bound and the time bound end the check.
            Err(rusqlite::Error::SqliteFailure(e, m))
                if matches!(e.code, ErrorCode::DiskFull | ErrorCode::OperationInterrupted) =>
            {
                return Err(rusqlite::Error::SqliteFailure(e, m));
            }
            // A table it cannot fill (a foreign key to a table that is not
            // there): the check goes on without its rows.
            Err(e) => seeded.skipped.push((table.name.clone(), e.to_string())),
        }
    }
    Ok(seeded)
}

/// The main database's tables that hold application data.
fn ordinary_tables(conn: &Connection) -> rusqlite::Result<Vec<Table>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' AND name IN ({}) ORDER BY name",
        crate::engine::sqlite::schema::ORDINARY_TABLES
    ))?;
    let names: Vec<(String, String)> =
        stmt.query_map([None::<&str>], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    names.iter().map(|(name, sql)| Table::introspect(conn, name, sql)).collect()
}

/// Parents before children (by name where the order is free); tables in a
/// cycle of references come in name order after what can go first.
fn fill_order(tables: &[Table]) -> Vec<&Table> {
    let by_name: BTreeMap<String, &Table> = tables.iter().map(|t| (t.name.to_lowercase(), t)).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < tables.len() {
        let ready = by_name.iter().find(|(name, t)| {
            !done.contains(*name)
                && t.foreign_keys
                    .iter()
                    .all(|fk| fk.table == **name || done.contains(&fk.table) || !by_name.contains_key(&fk.table))
        });
        // A cycle: take the first table left; its references to tables not
        // filled yet get NULL where allowed.
        let (name, table) =
            ready.or_else(|| by_name.iter().find(|(name, _)| !done.contains(*name))).expect("a table left");
        done.insert(name.clone());
        order.push(*table);
    }
    order
}

/// How a value is chosen for a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Text,
    Blob,
    Boolean,
    Date,
    Timestamp,
}

fn kind(column: &Column) -> Kind {
    // SQLite's affinity rules (section 3.1 of its datatype page), with the
    // names applications use for dates and booleans.
    let t = column.decl_type.to_ascii_uppercase();
    if t.contains("INT") {
        Kind::Integer
    } else if t.contains("BOOL") {
        Kind::Boolean
    } else if t.contains("TIMESTAMP") || t.contains("DATETIME") {
        Kind::Timestamp
    } else if t.contains("DATE") {
        Kind::Date
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        Kind::Text
    } else if t.contains("BLOB") {
        Kind::Blob
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        Kind::Real
    } else if t.is_empty() || t == "ANY" {
        // No type (or STRICT's ANY): text shows best what a column holds.
        Kind::Text
    } else {
        Kind::Integer // NUMERIC, DECIMAL(10,2), …
    }
}

/// The value of row `i` of `column`: `plain` values are the safe ones a
/// CHECK constraint is likeliest to accept; otherwise edge values come in.
/// Each column's values differ from row to row, so any UNIQUE set holds.
fn value(column: &Column, i: usize, plain: bool) -> Value {
    let n = i as i64;
    let name = column.name.to_ascii_lowercase();
    match kind(column) {
        // Keys from 1001 on: a migration that inserts rows with small explicit
        // keys (reference data) does not meet the synthetic ones.
        Kind::Integer if column.primary_key > 0 => Value::Integer(1001 + n),
        Kind::Integer if plain => Value::Integer(n + 1),
        Kind::Integer => Value::Integer([1, 0, -7, 2_147_483_648, 42][i % ROWS] + (i / ROWS) as i64 * 1000),
        Kind::Real if plain => Value::Real(n as f64 + 1.5),
        Kind::Real => Value::Real([1.5, 0.0, -2.25, 1e15, 3.25][i % ROWS] + (i / ROWS) as f64 * 1000.0),
        Kind::Boolean => Value::Integer(n % 2),
        Kind::Date => Value::Text(format!("2026-01-{:02}", i % 28 + 1)),
        Kind::Timestamp => Value::Text(format!("2026-01-{:02}T12:{:02}:00Z", i % 28 + 1, i % 60)),
        Kind::Blob if plain => Value::Blob(vec![i as u8 + 1]),
        Kind::Blob => Value::Blob(match i % ROWS {
            0 => vec![1],
            1 => vec![],
            2 => vec![0xff, 0x00],
            3 => vec![0],
            _ => vec![0xde, 0xad, 0xbe, 0xef, i as u8],
        }),
        Kind::Text if name.contains("email") => Value::Text(format!("user{}@example.com", i + 1)),
        Kind::Text if name.contains("url") => Value::Text(format!("https://example.com/{}", i + 1)),
        Kind::Text if plain || column.primary_key > 0 => Value::Text(format!("{} {}", column.name, i + 1)),
        Kind::Text => Value::Text(match i % ROWS {
            0 => format!("Ada Lovelace {}", i + 1),
            1 if i == 1 => String::new(),
            2 => format!("Zoë Ōkubo 名前 {}", i + 1),
            3 => format!("O'Brien; -- {}", i + 1),
            _ => format!("{} {}", column.name, i + 1),
        }),
    }
}

/// Inserts the rows of `table`; returns how many went in.
fn seed_table(conn: &Connection, table: &Table, notes: &mut Vec<String>) -> rusqlite::Result<usize> {
    let columns: Vec<&Column> = table.columns.iter().filter(|c| c.generated.is_none()).collect();
    if columns.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_ident(&table.name),
        columns.iter().map(|c| quote_ident(&c.name)).collect::<Vec<_>>().join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    let mut insert = conn.prepare(&sql)?;
    // A column whose CHECK lists its values holds those: read once per table.
    let choices: Vec<Vec<String>> = columns
        .iter()
        .map(|c| check_choices(table.checks.iter().map(String::as_str).chain([c.definition.as_str()]), &c.name))
        .collect();
    // The referenced keys of each foreign key, from the parents filled before.
    let parents: Vec<Vec<Vec<Value>>> =
        table.foreign_keys.iter().map(|fk| parent_keys(conn, table, fk)).collect::<rusqlite::Result<_>>()?;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut inserted = 0;
    let mut refused: Option<String> = None;
    for i in 0..ROWS {
        let mut done = false;
        for plain in [false, true] {
            let row = make_row(table, &columns, &choices, &parents, &rows, i, plain);
            match insert.execute(params_from_iter(row.iter())) {
                Ok(_) => {
                    rows.push(row);
                    inserted += 1;
                    done = true;
                    break;
                }
                Err(rusqlite::Error::SqliteFailure(e, message)) if e.code == ErrorCode::ConstraintViolation => {
                    refused = message.or(refused);
                }
                Err(other) => return Err(other),
            }
        }
        if !done {
            // Keep the row's values for the self references of later rows.
            rows.push(make_row(table, &columns, &choices, &parents, &rows, i, true));
        }
    }
    if inserted < ROWS {
        let why = refused.unwrap_or_else(|| "a constraint".into());
        notes.push(format!(
            "table `{}`: {inserted} of {ROWS} synthetic rows (the others were refused: {why})",
            table.name
        ));
    }
    Ok(inserted)
}

/// Row `i`: its own values, then the foreign-key columns pointing at a
/// parent row (or, for a self reference, at the row before; NULL for the
/// first where allowed, else at itself).
#[allow(clippy::too_many_arguments)]
fn make_row(
    table: &Table,
    columns: &[&Column],
    choices: &[Vec<String>],
    parents: &[Vec<Vec<Value>>],
    earlier: &[Vec<Value>],
    i: usize,
    plain: bool,
) -> Vec<Value> {
    let mut row: Vec<Value> = columns
        .iter()
        .zip(choices)
        .map(|(c, choices)| {
            let is_key = c.primary_key > 0;
            // One row in five holds NULL in each nullable, non-key column.
            if !c.not_null && !is_key && i % ROWS == 2 && !plain {
                Value::Null
            } else if !choices.is_empty() {
                Value::Text(choices[i % choices.len()].clone())
            } else {
                value(c, i, plain)
            }
        })
        .collect();
    let position = |name: &str| columns.iter().position(|c| c.name.eq_ignore_ascii_case(name));
    for (fk, keys) in table.foreign_keys.iter().zip(parents) {
        let slots: Vec<Option<usize>> = fk.columns.iter().map(|c| position(c)).collect();
        let nullable = fk.columns.iter().all(|c| table.column(c).is_some_and(|c| !c.not_null));
        let target: Option<Vec<Value>> = if fk.table.eq_ignore_ascii_case(&table.name) {
            let referenced = referenced_columns(table, fk);
            let from =
                |r: &Vec<Value>| referenced.iter().map(|c| position(c).map_or(Value::Null, |p| r[p].clone())).collect();
            match earlier.last() {
                Some(previous) => Some(from(previous)),
                None if nullable => None,
                None => Some(from(&row)),
            }
        } else if keys.is_empty() || (nullable && i % ROWS == 2 && !plain) {
            // No parent row to point at, or this row's NULL.
            None
        } else {
            Some(keys[i % keys.len()].clone())
        };
        for (k, slot) in slots.iter().enumerate() {
            if let Some(p) = slot {
                row[*p] = target.as_ref().map_or(Value::Null, |t| t.get(k).cloned().unwrap_or(Value::Null));
            }
        }
    }
    row
}

/// The columns a foreign key references: named ones, else the parent's primary key.
fn referenced_columns(parent: &Table, fk: &crate::engine::sqlite::schema::ForeignKey) -> Vec<String> {
    if !fk.to.is_empty() {
        return fk.to.clone();
    }
    let mut pk: Vec<&Column> = parent.columns.iter().filter(|c| c.primary_key > 0).collect();
    pk.sort_by_key(|c| c.primary_key);
    if pk.is_empty() { vec!["rowid".to_owned()] } else { pk.iter().map(|c| c.name.clone()).collect() }
}

/// The parent's rows' values for the columns `fk` references (empty when the
/// parent is this table, or has no rows, or is missing).
fn parent_keys(
    conn: &Connection,
    table: &Table,
    fk: &crate::engine::sqlite::schema::ForeignKey,
) -> rusqlite::Result<Vec<Vec<Value>>> {
    if fk.table.eq_ignore_ascii_case(&table.name) {
        return Ok(Vec::new());
    }
    let Ok(parent) = conn.query_row(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
        [&fk.table],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    ) else {
        return Ok(Vec::new());
    };
    let parent = Table::introspect(conn, &parent.0, &parent.1)?;
    let columns = referenced_columns(&parent, fk);
    let list = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {list} FROM {} ORDER BY {list}", quote_ident(&parent.name));
    let mut stmt = conn.prepare(&sql)?;
    let width = columns.len();
    let rows =
        stmt.query_map([], |r| (0..width).map(|k| r.get::<_, Value>(k)).collect::<rusqlite::Result<Vec<_>>>())?;
    let keys: Vec<Vec<Value>> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(keys.into_iter().filter(|k| k.iter().all(|v| *v != Value::Null)).collect())
}

#[cfg(test)]
mod check_tests {

    #[test]
    fn a_column_whose_check_lists_its_values_holds_them() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT NOT NULL CHECK (status IN ('new', 'paid')),
                                  kind TEXT, CHECK (kind IN ('a', 'b', 'c')));",
        )
        .unwrap();
        let seeded = super::seed(&conn).unwrap();
        assert_eq!(seeded.rows, [("orders".to_owned(), super::ROWS)], "every row fits the checks");
        let odd: i64 = conn
            .query_row(
                "SELECT count(*) FROM orders WHERE status NOT IN ('new', 'paid') OR kind NOT IN ('a', 'b', 'c')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(odd, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(sql: &str) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        conn.execute_batch(sql).unwrap();
        conn
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    }

    fn dump(conn: &Connection, table: &str) -> Vec<Vec<Value>> {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1")).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| (0..n).map(|k| r.get::<_, Value>(k)).collect::<rusqlite::Result<Vec<_>>>())
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn every_table_gets_rows_that_keep_every_constraint() {
        let conn = db("
            CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owners(id),
                               name TEXT NOT NULL, nick TEXT, weight REAL, born DATE, photo BLOB,
                               UNIQUE (owner_id, name));
            CREATE TABLE owners (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0),
                                 active BOOLEAN NOT NULL DEFAULT 1, created_at TIMESTAMP);
            CREATE TABLE tags (name TEXT PRIMARY KEY, parent TEXT REFERENCES tags(name)) WITHOUT ROWID;
            CREATE TABLE typed (i INTEGER NOT NULL, r REAL NOT NULL, t TEXT NOT NULL, b BLOB NOT NULL, a ANY) STRICT;
            CREATE TABLE gen (x INTEGER, y INTEGER GENERATED ALWAYS AS (x * 2) VIRTUAL);
            CREATE UNIQUE INDEX pets_nick ON pets (nick);
        ");
        let seeded = seed(&conn).unwrap();
        assert!(seeded.notes.is_empty(), "{:?}", seeded.notes);
        let order: Vec<&str> = seeded.rows.iter().map(|(t, _)| t.as_str()).collect();
        assert!(
            order.iter().position(|t| *t == "owners") < order.iter().position(|t| *t == "pets"),
            "parents first: {order:?}"
        );
        for (table, n) in &seeded.rows {
            assert_eq!(*n, ROWS, "{table}");
            assert_eq!(count(&conn, table), ROWS as i64, "{table}");
        }
        let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 0, "every reference holds");
        // Edge values and NULLs where the type and constraints allow.
        let nulls: i64 = conn.query_row("SELECT count(*) FROM pets WHERE nick IS NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(nulls, 1, "one NULL per nullable column");
        let big: i64 = conn.query_row("SELECT count(*) FROM typed WHERE i > 2147483647", [], |r| r.get(0)).unwrap();
        assert_eq!(big, 1, "an integer beyond 32 bits (and far below 2^53: a backfill may count up to it)");
        let empty: i64 = conn.query_row("SELECT count(*) FROM typed WHERE t = ''", [], |r| r.get(0)).unwrap();
        assert_eq!(empty, 1, "an empty text");
        let non_ascii: i64 =
            conn.query_row("SELECT count(*) FROM pets WHERE name LIKE '%名前%'", [], |r| r.get(0)).unwrap();
        assert_eq!(non_ascii, 1, "non-ASCII text");
        let self_refs: i64 =
            conn.query_row("SELECT count(*) FROM tags WHERE parent IS NOT NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(self_refs, ROWS as i64 - 1, "each tag but the first points at the one before");
        let generated: i64 = conn.query_row("SELECT sum(y = x * 2) FROM gen", [], |r| r.get(0)).unwrap();
        assert_eq!(generated, ROWS as i64 - 1, "generated columns are SQLite's (x is NULL in one row)");
    }

    #[test]
    fn the_same_rows_every_time() {
        let schema = "CREATE TABLE a (id INTEGER PRIMARY KEY, t TEXT, r REAL);
                      CREATE TABLE b (a_id INTEGER REFERENCES a, note TEXT NOT NULL);";
        let (one, two) = (db(schema), db(schema));
        assert_eq!(seed(&one).unwrap(), seed(&two).unwrap());
        for table in ["a", "b"] {
            assert_eq!(dump(&one, table), dump(&two, table), "{table}");
        }
    }

    #[test]
    fn a_check_that_refuses_edge_values_gets_plain_ones_and_an_impossible_one_a_note() {
        let conn = db("
            CREATE TABLE positive (n INTEGER NOT NULL CHECK (n > 0), label TEXT NOT NULL CHECK (length(label) > 0));
            CREATE TABLE never (x INTEGER CHECK (x IS NULL AND x IS NOT NULL));
        ");
        let seeded = seed(&conn).unwrap();
        assert_eq!(count(&conn, "positive"), ROWS as i64, "{:?}", seeded.notes);
        assert_eq!(count(&conn, "never"), 0);
        assert_eq!(seeded.notes.len(), 1, "{:?}", seeded.notes);
        assert!(
            seeded.notes[0].contains("table `never`: 0 of 5") && seeded.notes[0].contains("CHECK"),
            "{:?}",
            seeded.notes
        );
    }

    #[test]
    fn tables_in_a_cycle_and_virtual_tables() {
        let conn = db("
            CREATE TABLE x (id INTEGER PRIMARY KEY, y_id INTEGER REFERENCES y);
            CREATE TABLE y (id INTEGER PRIMARY KEY, x_id INTEGER NOT NULL REFERENCES x);
        ");
        let seeded = seed(&conn).unwrap();
        assert!(seeded.notes.is_empty(), "{:?}", seeded.notes);
        assert_eq!((count(&conn, "x"), count(&conn, "y")), (ROWS as i64, ROWS as i64));
        let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 0);
        // An FTS table's contents belong to its module: left alone.
        let conn = db("CREATE VIRTUAL TABLE docs USING fts5(body);");
        let seeded = seed(&conn).unwrap();
        assert!(seeded.rows.is_empty(), "{seeded:?}");
    }
}
