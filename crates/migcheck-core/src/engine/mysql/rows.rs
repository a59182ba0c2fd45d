//! Synthetic rows on MySQL: every table the check finds empty gets
//! [`ROWS`](crate::engine::synthetic::ROWS) rows, parents first, so that the
//! data checks (`data-loss`, `data-dependent`, a down that loses rows) see
//! a migration work on tables that hold data. Values follow the column's
//! type and length; a column whose CHECK lists its values takes those; a
//! foreign key takes its parent's keys; a nullable column is NULL in one
//! row; auto-increment and generated columns are left to the server.

use std::collections::BTreeSet;

use super::wire::{Client, MyError};
use crate::engine::synthetic::{ROWS, check_choices};
use crate::lexer::quote_mysql_ident;

struct Column {
    name: String,
    data_type: String,
    column_type: String,
    nullable: bool,
    unique: bool,
    max_len: Option<usize>,
    scale: usize,
}

struct ForeignKey {
    columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

fn text(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

fn columns(client: &mut Client, table: &str) -> Result<Vec<Column>, MyError> {
    let rows = client.query(&format!(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, EXTRA, CHARACTER_MAXIMUM_LENGTH, \
         NUMERIC_SCALE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} \
         ORDER BY ORDINAL_POSITION",
        literal(table)
    ))?;
    Ok(rows
        .iter()
        .filter(|r| {
            let extra = text(r, 5).to_lowercase();
            !(extra.contains("auto_increment")
                || extra.contains("generated")
                || extra.contains("virtual")
                || extra.contains("stored"))
        })
        .map(|r| Column {
            name: text(r, 0),
            data_type: text(r, 1).to_lowercase(),
            column_type: text(r, 2).to_lowercase(),
            nullable: text(r, 3) == "YES",
            unique: matches!(text(r, 4).as_str(), "PRI" | "UNI"),
            max_len: text(r, 6).parse().ok(),
            scale: text(r, 7).parse().unwrap_or(0),
        })
        .collect())
}

fn foreign_keys(client: &mut Client, table: &str) -> Result<Vec<ForeignKey>, MyError> {
    let rows = client.query(&format!(
        "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
         FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} \
         AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
        literal(table)
    ))?;
    let mut out: Vec<(String, ForeignKey)> = Vec::new();
    for r in &rows {
        let name = text(r, 0);
        if out.last().is_none_or(|(n, _)| *n != name) {
            out.push((
                name.clone(),
                ForeignKey { columns: Vec::new(), parent: text(r, 2), parent_columns: Vec::new() },
            ));
        }
        let (_, fk) = out.last_mut().expect("pushed above");
        fk.columns.push(text(r, 1));
        fk.parent_columns.push(text(r, 3));
    }
    Ok(out.into_iter().map(|(_, fk)| fk).collect())
}

/// A number naming `table`, so that identifiers made for one table are not
/// those of another (an `INSERT … SELECT id FROM other` then copies keys the
/// target does not hold yet, as it would in production).
fn table_tag(table: &str) -> u64 {
    table.bytes().fold(0u64, |h, b| (h.wrapping_mul(31).wrapping_add(u64::from(b))) % 1_000_000)
}

/// A value of `c`'s type for row `i` (distinct per row) of `table`, as a SQL
/// literal; `None` for a type it cannot make a value of.
fn value(table: &str, c: &Column, i: usize) -> Option<String> {
    let n = i + 1;
    let uuid = || format!("'00000000-0000-4000-8000-{:06}{n:06}'", table_tag(table));
    // Too long for the column: the row number alone, which keeps a unique
    // column unique.
    let fit =
        |s: String| -> String { if c.max_len.is_some_and(|max| s.chars().count() > max) { n.to_string() } else { s } };
    Some(match c.data_type.as_str() {
        "tinyint" if c.column_type.starts_with("tinyint(1)") => (i % 2).to_string(),
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => n.to_string(),
        "decimal" | "numeric" => {
            if c.scale > 0 {
                format!("{n}.5")
            } else {
                n.to_string()
            }
        }
        "float" | "double" | "real" => format!("{n}.25"),
        "bit" => format!("b'{}'", i % 2),
        "year" => (2020 + i).to_string(),
        "date" => format!("'2026-01-{n:02}'"),
        "datetime" | "timestamp" => format!("'2026-01-{n:02} 10:00:00'"),
        "time" => format!("'10:{n:02}:00'"),
        "json" => format!("'{{\"n\": {n}}}'"),
        "uuid" => uuid(),
        "inet4" => format!("'10.0.0.{n}'"),
        "inet6" => format!("'::{n}'"),
        "enum" | "set" => {
            let inside = c.column_type.split_once('(')?.1.rsplit_once(')')?.0;
            let options: Vec<&str> = inside.split(',').collect();
            options.get(i % options.len())?.trim().to_owned()
        }
        "char" if c.max_len == Some(36) => uuid(),
        "char" | "varchar" => literal(&fit(format!("user{n}@example.com"))),
        "tinytext" | "text" | "mediumtext" | "longtext" => literal(&format!("text {n}")),
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => literal(&fit(format!("bytes{n}"))),
        _ => return None,
    })
}

/// Fills the empty ones of `tables`, parents first; the tables it could not
/// fill, each with why.
pub(super) fn seed(client: &mut Client, tables: &[String]) -> Result<Vec<(String, String)>, MyError> {
    let mut pending: Vec<(String, Vec<ForeignKey>)> = Vec::new();
    for table in tables {
        let rows = client.query(&format!("SELECT 1 FROM {} LIMIT 1", quote_mysql_ident(table)))?;
        if rows.is_empty() {
            pending.push((table.clone(), foreign_keys(client, table)?));
        }
    }
    let mut skipped = Vec::new();
    while !pending.is_empty() {
        let waiting: BTreeSet<String> = pending.iter().map(|(t, _)| t.to_lowercase()).collect();
        let ready = pending
            .iter()
            .position(|(t, fks)| {
                fks.iter().all(|fk| fk.parent.eq_ignore_ascii_case(t) || !waiting.contains(&fk.parent.to_lowercase()))
            })
            .unwrap_or(0);
        let (table, fks) = pending.remove(ready);
        match seed_table(client, &table, &fks) {
            Ok(None) => {}
            Ok(Some(why)) => skipped.push((table, why)),
            Err(MyError::Server { message, .. }) => skipped.push((table, message)),
            Err(other) => return Err(other),
        }
    }
    Ok(skipped)
}

/// Writes the rows of one table; `Some(why)` when it cannot.
fn seed_table(client: &mut Client, table: &str, fks: &[ForeignKey]) -> Result<Option<String>, MyError> {
    let columns = columns(client, table)?;
    if columns.is_empty() {
        return Ok(None);
    }
    let mut parents: Vec<Vec<Vec<Option<String>>>> = Vec::new();
    for fk in fks {
        if fk.parent.eq_ignore_ascii_case(table) {
            parents.push(Vec::new());
            continue;
        }
        let list: Vec<String> = fk.parent_columns.iter().map(|c| quote_mysql_ident(c)).collect();
        parents.push(client.query(&format!(
            "SELECT {} FROM {} ORDER BY 1 LIMIT {ROWS}",
            list.join(", "),
            quote_mysql_ident(&fk.parent)
        ))?);
    }
    let checks: Vec<String> = client
        .query(&format!(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
             AND TABLE_NAME = {}",
            literal(table)
        ))
        .unwrap_or_default()
        .into_iter()
        .map(|r| format!("CHECK ({})", text(&r, 0).replace('`', "")))
        .collect();
    // MariaDB's JSON is `longtext` under `CHECK (json_valid(c))`.
    let json = |c: &Column| {
        c.data_type == "json"
            || checks.iter().any(|k| k.to_lowercase().contains(&format!("json_valid({})", c.name.to_lowercase())))
    };
    let names: Vec<String> = columns.iter().map(|c| quote_mysql_ident(&c.name)).collect();
    for i in 0..ROWS {
        let mut row = Vec::with_capacity(columns.len());
        for c in &columns {
            let choices = check_choices(checks.iter().map(String::as_str), &c.name);
            let v = if c.nullable && !c.unique && i == 2 {
                "NULL".to_owned()
            } else if !choices.is_empty() {
                literal(&choices[i % choices.len()])
            } else if json(c) {
                format!("'{{\"n\": {}}}'", i + 1)
            } else {
                match value(table, c, i) {
                    Some(v) => v,
                    None if c.nullable => "NULL".to_owned(),
                    None => return Ok(Some(format!("no value of type `{}` for column `{}`", c.column_type, c.name))),
                }
            };
            row.push(v);
        }
        for (fk, keys) in fks.iter().zip(&parents) {
            let nullable = fk.columns.iter().all(|n| columns.iter().any(|c| c.name == *n && c.nullable));
            let key = if keys.is_empty() || (nullable && i == 2) { None } else { Some(&keys[i % keys.len()]) };
            for (k, name) in fk.columns.iter().enumerate() {
                if let Some(at) = columns.iter().position(|c| c.name == *name) {
                    row[at] = match key.and_then(|key| key.get(k).cloned().flatten()) {
                        Some(v) => literal(&v),
                        None if nullable => "NULL".to_owned(),
                        None => return Ok(Some(format!("its parent `{}` has no rows", fk.parent))),
                    };
                }
            }
        }
        client.execute(&format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote_mysql_ident(table),
            names.join(", "),
            row.join(", ")
        ))?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_differ_from_table_to_table() {
        assert_ne!(super::table_tag("identities"), super::table_tag("sessions"));
        assert!(super::table_tag("a_rather_long_table_name_indeed") < 1_000_000);
    }
}
