//! What a MySQL database holds, read through `SHOW CREATE` and
//! `information_schema`: the snapshot the check compares, and the schema
//! model the views draw (`schema`, `show`, Mermaid). Both read the
//! connection's current database, leaving out the tables named in `skip`
//! (a live database's history table).

use std::collections::BTreeMap;

use super::wire::{Client, MyError};
use crate::lexer::quote_mysql_ident;
use crate::schema::model::{ColumnView, Model, Object, Reference, TableView};

/// The schema as the check compares it: each object's normalised
/// definition, by `table `t``, `view `v``, `trigger `x``, `procedure `p``,
/// `function `f``.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MySnapshot {
    pub(super) objects: BTreeMap<String, String>,
}

/// A definition as compared: the server's counters and the definer (who ran
/// it) left out.
pub(super) fn normalise(text: &str) -> String {
    text.split(' ')
        .filter(|word| !word.starts_with("AUTO_INCREMENT=") && !word.starts_with("DEFINER="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn text(row: &[Option<String>], i: usize) -> String {
    row.get(i).cloned().flatten().unwrap_or_default()
}

fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// The definition `SHOW CREATE <what> name` gives in its `column`.
fn show_create(client: &mut Client, what: &str, name: &str, column: usize) -> Result<String, MyError> {
    let rows = client.query(&format!("SHOW CREATE {what} {}", quote_mysql_ident(name)))?;
    Ok(normalise(&rows.first().map(|r| text(r, column)).unwrap_or_default()))
}

/// Tables and views (name, `BASE TABLE` or `VIEW`), by name, `skip` left out.
fn relations(client: &mut Client, skip: &[&str]) -> Result<Vec<(String, String)>, MyError> {
    let rows = client.query(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1",
    )?;
    Ok(rows
        .iter()
        .map(|r| (text(r, 0), text(r, 1)))
        .filter(|(name, _)| !skip.iter().any(|s| s.eq_ignore_ascii_case(name)))
        .collect())
}

/// Triggers (name, table, definition), by name.
fn triggers(client: &mut Client, skip: &[&str]) -> Result<Vec<(String, String, String)>, MyError> {
    let rows = client.query(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, CONCAT('CREATE TRIGGER ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', \
         EVENT_MANIPULATION, ' ON ', EVENT_OBJECT_TABLE, ' FOR EACH ', ACTION_ORIENTATION, ' ', ACTION_STATEMENT) \
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
    )?;
    Ok(rows
        .iter()
        .map(|r| (text(r, 0), text(r, 1), text(r, 2)))
        .filter(|(_, table, _)| !skip.iter().any(|s| s.eq_ignore_ascii_case(table)))
        .collect())
}

/// Procedures and functions (lower-case kind, name, definition), by name.
fn routines(client: &mut Client) -> Result<Vec<(String, String, String)>, MyError> {
    let rows = client.query(
        "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
         ORDER BY 2, 1",
    )?;
    let mut out = Vec::new();
    for r in &rows {
        let (kind, name) = (text(r, 0), text(r, 1));
        let sql = show_create(client, &kind, &name, 2)?;
        out.push((kind.to_lowercase(), name, sql));
    }
    Ok(out)
}

/// The snapshot the check compares: each object's normalised definition.
pub(super) fn snapshot(client: &mut Client, skip: &[&str]) -> Result<MySnapshot, MyError> {
    let mut objects = BTreeMap::new();
    for (name, kind) in relations(client, skip)? {
        let (what, show) = if kind == "VIEW" { ("view", "VIEW") } else { ("table", "TABLE") };
        objects.insert(format!("{what} `{name}`"), show_create(client, show, &name, 1)?);
    }
    for (name, _, sql) in triggers(client, skip)? {
        objects.insert(format!("trigger `{name}`"), sql);
    }
    for (kind, name, sql) in routines(client)? {
        objects.insert(format!("{kind} `{name}`"), sql);
    }
    Ok(MySnapshot { objects })
}

/// The schema as people read it: tables with columns, keys and references
/// (their indexes inside their definitions, as MySQL writes them), then
/// views, triggers and routines.
pub(super) fn model(client: &mut Client, skip: &[&str]) -> Result<Model, MyError> {
    let mut model = Model::default();
    let relations = relations(client, skip)?;
    for (name, kind) in &relations {
        if kind == "VIEW" {
            let sql = show_create(client, "VIEW", name, 1)?;
            model.views.push(Object { kind: "view".into(), name: name.clone(), table: name.clone(), sql });
            continue;
        }
        let columns = client.query(&format!(
            "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_KEY FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} ORDER BY ORDINAL_POSITION",
            quoted(name)
        ))?;
        let columns = columns
            .iter()
            .map(|r| {
                let default = r.get(3).cloned().flatten().filter(|d| d != "NULL");
                ColumnView {
                    name: text(r, 0),
                    ty: text(r, 1),
                    not_null: text(r, 2) == "NO",
                    primary_key: text(r, 4) == "PRI",
                    unique: text(r, 4) == "UNI",
                    default,
                }
            })
            .collect();
        let keys = client.query(&format!(
            "SELECT CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
             FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {} \
             AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
            quoted(name)
        ))?;
        let mut by_constraint: BTreeMap<String, Reference> = BTreeMap::new();
        for k in &keys {
            let r = by_constraint.entry(text(k, 0)).or_default();
            r.columns.push(text(k, 1));
            r.table = text(k, 2);
            r.to.push(text(k, 3));
        }
        let mut foreign_keys: Vec<Reference> = by_constraint.into_values().collect();
        foreign_keys.sort();
        let sql = show_create(client, "TABLE", name, 1)?;
        model.tables.push(TableView { name: name.clone(), columns, foreign_keys, sql });
        // Its indexes are in its `SHOW CREATE TABLE` (`KEY …`): written
        // again as objects they would be made twice.
    }
    for (name, table, sql) in triggers(client, skip)? {
        model.triggers.push(Object { kind: "trigger".into(), name, table, sql });
    }
    for (kind, name, sql) in routines(client)? {
        model.others.push(Object { kind, name: name.clone(), table: name, sql });
    }
    Ok(model)
}

/// A baseline that makes what the database holds (`migcheck squash`): its
/// tables (indexes and keys inside them), views in the order they read
/// each other, routines and triggers, and with `rows` each table's rows; the
/// foreign keys checked only at the end, so that tables and rows may come in
/// any order.
pub(super) fn baseline_sql(client: &mut Client, rows: bool) -> Result<String, MyError> {
    use crate::schema::squash::{statement, views_in_order};
    let model = model(client, &[])?;
    let mut out = String::new();
    statement(&mut out, "SET FOREIGN_KEY_CHECKS = 0");
    for t in &model.tables {
        statement(&mut out, &t.sql);
    }
    for v in views_in_order(&model.views) {
        statement(&mut out, &v.sql);
    }
    for r in &model.others {
        statement(&mut out, &r.sql);
    }
    for t in &model.triggers {
        statement(&mut out, &t.sql);
    }
    if rows {
        for t in &model.tables {
            // Generated columns are the server's to fill.
            let generated = client.query(&format!(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = {} AND (EXTRA LIKE '%GENERATED%' OR EXTRA LIKE '%VIRTUAL%' OR EXTRA LIKE '%STORED%')",
                quoted(&t.name)
            ))?;
            let generated: Vec<String> = generated.iter().map(|r| text(r, 0)).collect();
            let keep: Vec<&str> = t
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|c| !generated.iter().any(|g| g.eq_ignore_ascii_case(c)))
                .collect();
            if keep.is_empty() {
                continue;
            }
            let list: Vec<String> = keep.iter().map(|c| quote_mysql_ident(c)).collect();
            let found = client.query(&format!("SELECT {} FROM {}", list.join(", "), quote_mysql_ident(&t.name)))?;
            for chunk in found.chunks(100) {
                let values: Vec<String> = chunk
                    .iter()
                    .map(|row| {
                        let cells: Vec<String> =
                            row.iter().map(|v| v.as_deref().map_or_else(|| "NULL".to_owned(), quoted)).collect();
                        format!("({})", cells.join(", "))
                    })
                    .collect();
                statement(
                    &mut out,
                    &format!(
                        "INSERT INTO {} ({}) VALUES\n{}",
                        quote_mysql_ident(&t.name),
                        list.join(", "),
                        values.join(",\n")
                    ),
                );
            }
        }
    }
    statement(&mut out, "SET FOREIGN_KEY_CHECKS = 1");
    Ok(out)
}
