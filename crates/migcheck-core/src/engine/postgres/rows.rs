//! The data checks' side of the PostgreSQL scratch database: which tables
//! exist, their rows, synthetic rows made from the catalogs, and clearing.
//!
//! Synthetic rows follow the same rules as SQLite's ([`crate::engine::sqlite::rows`]):
//! a few rows per table, parents first, values of each column's type that
//! differ from row to row, NULL in one row of every nullable column, edge
//! values where the type allows, a plain retry when a constraint refuses a
//! row. Identity and `serial` keys get explicit values from 1001 on, so that
//! the sequence is left where the migrations leave it and a migration that
//! inserts rows with small explicit keys does not meet the synthetic ones.

use std::collections::BTreeSet;

use super::wire::{Client, PgError};
use crate::engine::Contents;

/// How a table is named in SQL: `"name"`, or `"schema"."name"` outside `public`.
pub(crate) fn ident(table: &str) -> String {
    table.split('.').map(crate::lexer::quote_ident).collect::<Vec<_>>().join(".")
}

/// A text literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

const TABLES: &str = "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// The ordinary tables among `names` (lower-case words), or all.
pub(crate) fn tables(client: &mut Client, names: Option<&BTreeSet<String>>) -> Result<Vec<String>, PgError> {
    let sql = match names {
        Some(names) if names.is_empty() => return Ok(Vec::new()),
        Some(names) => {
            let list: Vec<String> = names.iter().map(|n| literal(n)).collect();
            format!("{TABLES} AND lower(c.relname) IN ({}) ORDER BY 1", list.join(", "))
        }
        None => format!("{TABLES} ORDER BY 1"),
    };
    Ok(client.query(&sql)?.into_iter().filter_map(|mut r| r.remove(0)).collect())
}

/// The tables whose foreign keys reference `table`.
pub(crate) fn children(client: &mut Client, table: &str) -> Result<Vec<String>, PgError> {
    let sql = format!(
        "SELECT DISTINCT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'f' AND k.confrelid = {}::regclass AND k.conrelid <> k.confrelid",
        literal(&ident(table))
    );
    Ok(client.query(&sql)?.into_iter().filter_map(|mut r| r.remove(0)).collect())
}

/// Every row of `table` (with the rows of the tables that inherit from it),
/// values as literals.
pub(crate) fn contents(client: &mut Client, table: &str) -> Result<Contents, PgError> {
    contents_of(client, table, false)
}

/// The rows of `table`, only its own with `only` (not its partitions' or
/// children's), values as literals.
fn contents_of(client: &mut Client, table: &str, only: bool) -> Result<Contents, PgError> {
    let columns: Vec<String> = client
        .query(&format!(
            "SELECT attname FROM pg_attribute WHERE attrelid = {}::regclass AND attnum > 0 AND NOT attisdropped
             ORDER BY attnum",
            literal(&ident(table))
        ))?
        .into_iter()
        .filter_map(|mut r| r.remove(0))
        .collect();
    if columns.is_empty() {
        return Ok(Contents { columns, rows: Vec::new() });
    }
    let list: Vec<String> = columns.iter().map(|c| format!("{}::text", ident(c))).collect();
    let only = if only { "ONLY " } else { "" };
    let rows = client.query(&format!("SELECT {} FROM {only}{}", list.join(", "), ident(table)))?;
    let rows = rows.into_iter().map(|r| r.into_iter().map(|v| v.map(|v| literal(&v))).collect()).collect();
    Ok(Contents { columns, rows })
}

/// A partition's name as [`tables`] writes names.
const PARTITION_NAME: &str = "CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END";

/// One table as the schema model shows it and a baseline creates it: its
/// own columns and constraints (those it inherits come from its parents, a
/// partition's keys and foreign keys from attaching it), `UNLOGGED`,
/// `INHERITS`, `PARTITION BY` and storage parameters.
fn table_view(client: &mut Client, table: String) -> Result<crate::schema::model::TableView, PgError> {
    use crate::schema::model::{ColumnView, Reference, TableView};
    let text = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_default();
    let oid = format!("{}::regclass", literal(&ident(&table)));
    // UNLOGGED, storage parameters (`fillfactor`), the partition key, and the
    // parents of a table that inherits (not of a partition).
    let meta = client.query(&format!(
        "SELECT c.relpersistence = 'u', (SELECT string_agg(o, ', ' ORDER BY o) FROM unnest(c.reloptions) o),
                CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, c.relispartition,
                (SELECT string_agg(h.inhparent::regclass::text, ', ' ORDER BY h.inhseqno) FROM pg_inherits h
                  WHERE h.inhrelid = c.oid AND NOT c.relispartition)
         FROM pg_class c WHERE c.oid = {oid}"
    ))?;
    let meta = meta.into_iter().next().unwrap_or_default();
    let field = |i: usize| meta.get(i).cloned().flatten();
    let (partition, inherits) = (field(3).as_deref() == Some("t"), field(4));
    let rows = client.query(&format!(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = a.attrelid AND x.indisprimary
                        AND a.attnum = ANY (x.indkey)),
                EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = a.attrelid AND x.indisunique
                        AND NOT x.indisprimary AND x.indnatts = 1 AND x.indkey[0] = a.attnum AND x.indpred IS NULL),
                a.attidentity, a.attgenerated,
                CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END, a.attislocal
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
    ))?;
    let mut definitions = Vec::new();
    let mut columns = Vec::new();
    for r in &rows {
        let yes = |i: usize| r[i].as_deref() == Some("t");
        let (name, ty, default) = (text(r, 0), text(r, 1), r[3].clone());
        let mut def = format!("{} {ty}", ident(&name));
        if let Some(collation) = &r[8] {
            def.push_str(&format!(" COLLATE {collation}"));
        }
        match (text(r, 6).as_str(), text(r, 7).as_str(), &default) {
            ("a", _, _) => def.push_str(" GENERATED ALWAYS AS IDENTITY"),
            ("d", _, _) => def.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
            (_, "s", Some(expr)) => def.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED")),
            (_, _, Some(expr)) => def.push_str(&format!(" DEFAULT {expr}")),
            _ => {}
        }
        if yes(2) {
            def.push_str(" NOT NULL");
        }
        // A column a table inherits comes from its parent.
        if inherits.is_none() || yes(9) {
            definitions.push(def);
        }
        columns.push(ColumnView { name, ty, not_null: yes(2), primary_key: yes(4), unique: yes(5), default });
    }
    let constraints = client.query(&format!(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {oid} AND contype <> 'n'
           AND conparentid = 0 AND (conislocal OR {partition})
         ORDER BY contype, conname"
    ))?;
    for r in &constraints {
        definitions.push(format!("CONSTRAINT {} {}", ident(&text(r, 0)), text(r, 1)));
    }
    let foreign_keys = foreign_keys(client, &table)?
        .into_iter()
        .map(|f| Reference { columns: f.columns, table: f.parent, to: f.parent_columns })
        .collect();
    let unlogged = if field(0).as_deref() == Some("t") { "UNLOGGED " } else { "" };
    let inherits = inherits.map_or_else(String::new, |p| format!(" INHERITS ({p})"));
    let partition_by = field(2).map_or_else(String::new, |k| format!(" PARTITION BY {k}"));
    let with = field(1).map_or_else(String::new, |o| format!(" WITH ({o})"));
    let sql = format!(
        "CREATE {unlogged}TABLE {} (\n    {}\n){inherits}{partition_by}{with}",
        ident(&table),
        definitions.join(",\n    ")
    );
    Ok(TableView { name: table, columns, foreign_keys, sql })
}

/// Deletes every row of every table but `keep`, without firing row triggers:
/// `TRUNCATE` of them all at once, or, when a kept table references one of
/// them, `DELETE` with triggers and foreign keys off (`session_replication_role`).
pub(crate) fn clear(client: &mut Client, keep: &BTreeSet<String>) -> Result<(), PgError> {
    let tables: Vec<String> = tables(client, None)?.into_iter().filter(|t| !keep.contains(&t.to_lowercase())).collect();
    if tables.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = tables.iter().map(|t| ident(t)).collect();
    if client.query(&format!("TRUNCATE {}", list.join(", "))).is_ok() {
        return Ok(());
    }
    client.query(&format!(
        "SET session_replication_role = replica; DELETE FROM {}; RESET session_replication_role;",
        list.join("; DELETE FROM ")
    ))?;
    Ok(())
}

/// A column as the catalogs describe it.
#[derive(Debug)]
struct Column {
    name: String,
    /// `format_type`: `integer`, `character varying(20)`, `text[]`, …
    ty: String,
    /// The base type's name (a domain's underlying type).
    base: String,
    not_null: bool,
    /// Identity, or a `nextval` default (serial).
    generated_key: bool,
    /// `GENERATED ALWAYS AS IDENTITY`: needs `OVERRIDING SYSTEM VALUE`.
    always_identity: bool,
    /// A stored generated column: left to PostgreSQL.
    computed: bool,
    /// An enum's labels, in order.
    labels: Vec<String>,
    /// Part of the primary key or of a unique constraint or index.
    unique: bool,
}

/// A foreign key: its columns, the parent, the parent's columns.
#[derive(Debug)]
struct ForeignKey {
    columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
}

fn columns(client: &mut Client, table: &str) -> Result<Vec<Column>, PgError> {
    let oid = format!("{}::regclass", literal(&ident(table)));
    let rows = client.query(&format!(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), COALESCE(bt.typname, t.typname), a.attnotnull,
                a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false),
                a.attidentity = 'a', a.attgenerated <> '',
                COALESCE((SELECT string_agg(e.enumlabel, E'\\x1f' ORDER BY e.enumsortorder) FROM pg_enum e
                          WHERE e.enumtypid = COALESCE(NULLIF(t.typbasetype, 0), t.oid)), ''),
                EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = a.attrelid AND x.indisunique
                        AND a.attnum = ANY (x.indkey))
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
    ))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let text = |i: usize| r[i].clone().unwrap_or_default();
            let yes = |i: usize| r[i].as_deref() == Some("t");
            Column {
                name: text(0),
                ty: text(1),
                base: text(2),
                not_null: yes(3),
                generated_key: yes(4),
                always_identity: yes(5),
                computed: yes(6),
                labels: text(7).split('\u{1f}').filter(|l| !l.is_empty()).map(str::to_owned).collect(),
                unique: yes(8),
            }
        })
        .collect())
}

fn foreign_keys(client: &mut Client, table: &str) -> Result<Vec<ForeignKey>, PgError> {
    let oid = format!("{}::regclass", literal(&ident(table)));
    let rows = client.query(&format!(
        "SELECT (SELECT string_agg(a.attname, E'\\x1f' ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
                CASE WHEN n.nspname = 'public' THEN p.relname ELSE n.nspname || '.' || p.relname END,
                (SELECT string_agg(a.attname, E'\\x1f' ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)
         FROM pg_constraint c JOIN pg_class p ON p.oid = c.confrelid JOIN pg_namespace n ON n.oid = p.relnamespace
         WHERE c.contype = 'f' AND c.conrelid = {oid}"
    ))?;
    let split = |s: &Option<String>| -> Vec<String> {
        s.as_deref().unwrap_or("").split('\u{1f}').filter(|c| !c.is_empty()).map(str::to_owned).collect()
    };
    Ok(rows
        .iter()
        .map(|r| ForeignKey {
            columns: split(&r[0]),
            parent: r[1].clone().unwrap_or_default(),
            parent_columns: split(&r[2]),
        })
        .collect())
}

/// The value of row `i` of `column` as a literal with its cast; `plain`
/// values are the ones a CHECK constraint is likeliest to accept. `None`:
/// no value migcheck knows how to make (left NULL).
fn value(column: &Column, i: usize, plain: bool) -> Option<String> {
    let n = i as i64;
    let edge = !plain && !column.unique;
    let ty = column.ty.as_str();
    let cast = |text: String| Some(format!("{}::{}", literal(&text), ty));
    if !column.labels.is_empty() {
        return cast(column.labels[i % column.labels.len()].clone());
    }
    if ty.ends_with("[]") {
        return cast("{}".into());
    }
    let max_len = ty.split_once('(').and_then(|(_, rest)| rest.trim_end_matches(')').parse::<usize>().ok());
    let text = |s: String| {
        let s: String = match max_len {
            Some(len) => s.chars().take(len).collect(),
            None => s,
        };
        cast(s)
    };
    match column.base.as_str() {
        "int2" | "int4" | "int8" if column.generated_key || column.unique => cast((1001 + n).to_string()),
        "int2" | "int4" | "int8" if !edge => cast((n + 1).to_string()),
        "int2" | "int4" | "int8" => {
            let big = match column.base.as_str() {
                "int2" => 32_767_i64,
                "int4" => 2_147_483_647,
                _ => 2_147_483_648,
            };
            cast([1, 0, -7, big, 42][i % 5].to_string())
        }
        "numeric" | "float4" | "float8" | "money" if !edge => cast(format!("{}.5", n + 1)),
        "numeric" | "float4" | "float8" | "money" => cast(["1.5", "0", "-2.25", "99999.75", "3.25"][i % 5].into()),
        "bool" => cast(if i.is_multiple_of(2) { "true" } else { "false" }.into()),
        "date" => cast(format!("2026-01-{:02}", i % 28 + 1)),
        "timestamp" | "timestamptz" => cast(format!("2026-01-{:02} 12:{:02}:00+00", i % 28 + 1, i % 60)),
        "time" | "timetz" => cast(format!("12:{:02}:00", i % 60)),
        "interval" => cast(format!("{} days", i + 1)),
        "uuid" => cast(format!("00000000-0000-4000-8000-{:012}", i + 1)),
        "json" | "jsonb" => cast(format!("{{\"n\": {}}}", i + 1)),
        "bytea" => cast(format!("\\x{:02x}", i + 1)),
        "inet" => cast(format!("10.0.0.{}", i + 1)),
        "cidr" => cast(format!("10.0.{}.0/24", i + 1)),
        "macaddr" => cast(format!("08:00:2b:01:02:{:02x}", i + 1)),
        "text" | "varchar" | "bpchar" | "citext" | "name" => {
            let lower = column.name.to_ascii_lowercase();
            if lower.contains("email") {
                text(format!("user{}@example.com", i + 1))
            } else if lower.contains("url") {
                text(format!("https://example.com/{}", i + 1))
            } else if !edge {
                text(format!("{} {}", column.name, i + 1))
            } else {
                text(match i % 5 {
                    0 => format!("Ada Lovelace {}", i + 1),
                    1 => String::new(),
                    2 => format!("Zoë Ōkubo 名前 {}", i + 1),
                    3 => format!("O'Brien; -- {}", i + 1),
                    _ => format!("{} {}", column.name, i + 1),
                })
            }
        }
        _ => None,
    }
}

/// Fills those of `tables` that are empty, parents first; notes on rows
/// left out.
pub(crate) fn seed(client: &mut Client, tables: &[String]) -> Result<Vec<(String, String)>, PgError> {
    let mut notes = Vec::new();
    let mut skipped = Vec::new();
    let mut pending: Vec<(String, Vec<ForeignKey>)> = Vec::new();
    for table in tables {
        let empty = client.query(&format!("SELECT NOT EXISTS (SELECT 1 FROM {})", ident(table)))?;
        if empty.first().and_then(|r| r[0].as_deref()) == Some("t") {
            let fks = foreign_keys(client, table)?;
            pending.push((table.clone(), fks));
        }
    }
    // Parents first: a table waits while a parent still to fill is pending.
    while !pending.is_empty() {
        let lower: BTreeSet<String> = pending.iter().map(|(t, _)| t.to_lowercase()).collect();
        let ready = pending
            .iter()
            .position(|(t, fks)| {
                fks.iter().all(|fk| fk.parent.eq_ignore_ascii_case(t) || !lower.contains(&fk.parent.to_lowercase()))
            })
            .unwrap_or(0);
        let (table, fks) = pending.remove(ready);
        match seed_table(client, &table, &fks, &mut notes) {
            Ok(()) => {}
            // A table it cannot fill (a type it cannot make a value of, an
            // extension's): the check goes on without its rows. The time
            // bound (57014) ends the check.
            Err(PgError::Server(e)) if e.code != "57014" => skipped.push((table, e.message)),
            Err(other) => return Err(other),
        }
    }
    Ok(skipped)
}

fn seed_table(client: &mut Client, table: &str, fks: &[ForeignKey], notes: &mut Vec<String>) -> Result<(), PgError> {
    let columns: Vec<Column> = columns(client, table)?.into_iter().filter(|c| !c.computed).collect();
    if columns.is_empty() {
        return Ok(());
    }
    // The parents' key values, for each foreign key to another table.
    let mut parents: Vec<Vec<Vec<Option<String>>>> = Vec::new();
    for fk in fks {
        if fk.parent.eq_ignore_ascii_case(table) || fk.parent_columns.is_empty() {
            parents.push(Vec::new());
            continue;
        }
        let list: Vec<String> = fk.parent_columns.iter().map(|c| format!("{}::text", ident(c))).collect();
        let rows = client.query(&format!(
            "SELECT {} FROM {} WHERE ({}) IS NOT NULL ORDER BY 1 LIMIT 5",
            list.join(", "),
            ident(&fk.parent),
            fk.parent_columns.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
        ))?;
        parents.push(rows);
    }
    // A column whose CHECK lists its values holds those (the rows an
    // application writes), not made-up text.
    let checks: Vec<String> = client
        .query(&format!(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {}::regclass AND contype = 'c'",
            literal(&ident(table))
        ))?
        .into_iter()
        .filter_map(|mut r| r.remove(0))
        .collect();
    let choices: Vec<Vec<String>> = columns
        .iter()
        .map(|c| crate::engine::synthetic::check_choices(checks.iter().map(String::as_str), &c.name))
        .collect();
    let overriding = if columns.iter().any(|c| c.always_identity) { " OVERRIDING SYSTEM VALUE" } else { "" };
    let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
    let mut inserted = 0;
    let mut refused = None;
    for i in 0..crate::engine::synthetic::ROWS {
        let mut done = false;
        for plain in [false, true] {
            let mut row: Vec<String> = columns
                .iter()
                .zip(&choices)
                .map(|(c, choices)| {
                    let null = !c.not_null && !c.unique && !c.generated_key && i == 2 && !plain;
                    if null {
                        None
                    } else if !choices.is_empty() {
                        Some(format!("{}::{}", literal(&choices[i % choices.len()]), c.ty))
                    } else {
                        value(c, i, plain)
                    }
                    .unwrap_or_else(|| "NULL".into())
                })
                .collect();
            for (fk, keys) in fks.iter().zip(&parents) {
                let nullable = fk.columns.iter().all(|n| columns.iter().any(|c| c.name == *n && !c.not_null));
                let target: Option<&Vec<Option<String>>> =
                    if keys.is_empty() || (nullable && i == 2 && !plain) { None } else { Some(&keys[i % keys.len()]) };
                for (k, name) in fk.columns.iter().enumerate() {
                    if let Some(p) = columns.iter().position(|c| c.name == *name) {
                        row[p] = match target.and_then(|t| t.get(k).cloned().flatten()) {
                            Some(v) => format!("{}::{}", literal(&v), columns[p].ty),
                            None => "NULL".into(),
                        };
                    }
                }
            }
            let sql =
                format!("INSERT INTO {} ({}){overriding} VALUES ({})", ident(table), names.join(", "), row.join(", "));
            match client.query(&sql) {
                Ok(_) => {
                    inserted += 1;
                    done = true;
                    break;
                }
                // Integrity violations (class 23), values a type refuses (22),
                // and a value of a type it cannot make (42: no such cast).
                Err(PgError::Server(e))
                    if e.code.starts_with("23") || e.code.starts_with("22") || e.code.starts_with("42") =>
                {
                    refused = Some(e.message);
                }
                Err(other) => return Err(other),
            }
        }
        let _ = done;
    }
    if inserted < crate::engine::synthetic::ROWS {
        notes.push(format!(
            "table `{table}`: {inserted} of {} synthetic rows (the others were refused: {})",
            crate::engine::synthetic::ROWS,
            refused.unwrap_or_else(|| "a constraint".into())
        ));
    }
    Ok(())
}

/// The columns of `table` as the breaking-change check sees them: a column
/// a `CHECK (c IS NOT NULL)` covers (even `NOT VALID`: new rows are checked)
/// is NOT NULL already, so that the safe recipe's last step, `SET NOT
/// NULL`, changes nothing for the running release.
pub(crate) fn columns_shape(client: &mut Client, table: &str) -> Result<Vec<crate::engine::ColumnShape>, PgError> {
    let rows = client.query(&format!(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                a.attnotnull OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = a.attrelid AND k.contype = 'c'
                  AND starts_with(pg_get_constraintdef(k.oid), 'CHECK ((' || quote_ident(a.attname) || ' IS NOT NULL))')),
                a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
         FROM pg_attribute a WHERE a.attrelid = {}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        literal(&ident(table))
    ))?;
    Ok(rows
        .into_iter()
        .map(|r| crate::engine::ColumnShape {
            name: r[0].clone().unwrap_or_default(),
            ty: r[1].clone().unwrap_or_default(),
            not_null: r[2].as_deref() == Some("t"),
            has_default: r[3].as_deref() == Some("t"),
        })
        .collect())
}

/// The schema as a [`crate::schema::model::Model`]: tables (their columns,
/// keys, references, and a `CREATE TABLE` written from the catalogs),
/// indexes that back no constraint, views, triggers, and the enum types,
/// functions and extensions the tables use; `exclude` (the history table) left
/// out.
pub(crate) fn model(client: &mut Client, exclude: &str) -> Result<crate::schema::model::Model, PgError> {
    use crate::schema::model::{Model, Object};
    let mut m = Model::default();
    let text = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_default();
    // Partitions too: a baseline creates them as tables and attaches them,
    // as pg_dump does.
    let partitions: Vec<Vec<Option<String>>> = client.query(&format!(
        "SELECT {PARTITION_NAME}, h.inhparent::regclass::text, pg_get_expr(c.relpartbound, c.oid)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_inherits h ON h.inhrelid = c.oid
         WHERE c.relispartition AND c.relkind IN ('r', 'p')
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
         ORDER BY 1"
    ))?;
    let names = tables(client, None)?.into_iter().chain(partitions.iter().map(|r| text(r, 0)));
    for table in names.collect::<Vec<_>>() {
        if table == exclude {
            continue;
        }
        m.tables.push(table_view(client, table)?);
    }
    let user = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";
    let qualified = "CASE WHEN n.nspname = 'public' THEN t.relname ELSE n.nspname || '.' || t.relname END";
    let excluded = literal(exclude);
    let objects = |client: &mut Client, kind: &str, sql: String| -> Result<Vec<Object>, PgError> {
        Ok(client
            .query(&sql)?
            .iter()
            .map(|r| Object { kind: kind.to_owned(), name: text(r, 0), table: text(r, 1), sql: text(r, 2) })
            .collect())
    };
    m.indexes = objects(
        client,
        "index",
        format!(
            "SELECT i.relname, {qualified}, pg_get_indexdef(i.oid) FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE {user} AND {qualified} <> {excluded}
               AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid)
               AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = x.indexrelid)"
        ),
    )?;
    m.views = objects(
        client,
        "view",
        format!(
            "SELECT {qualified}, {qualified},
                    'CREATE ' || CASE t.relkind WHEN 'm' THEN 'MATERIALIZED VIEW ' ELSE 'VIEW ' END
                    || {qualified} || ' AS' || E'\\n' || rtrim(pg_get_viewdef(t.oid), ';')
             FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE t.relkind IN ('v', 'm') AND {user}"
        ),
    )?;
    m.triggers = objects(
        client,
        "trigger",
        format!(
            "SELECT g.tgname, {qualified}, pg_get_triggerdef(g.oid) FROM pg_trigger g
             JOIN pg_class t ON t.oid = g.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE NOT g.tgisinternal AND g.tgparentid = 0 AND {user}"
        ),
    )?;
    m.others = objects(
        client,
        "type",
        format!(
            "SELECT y.typname, '', 'CREATE TYPE ' || y.typname || ' AS ENUM ('
                    || string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) || ')'
             FROM pg_type y JOIN pg_enum e ON e.enumtypid = y.oid JOIN pg_namespace n ON n.oid = y.typnamespace
             WHERE {user} GROUP BY y.typname"
        ),
    )?;
    m.others.extend(objects(
        client,
        "function",
        format!(
            "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', '', rtrim(pg_get_functiondef(p.oid), E'\\n')
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE p.prokind IN ('f', 'p') AND {user}
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                               AND d.deptype IN ('e', 'i'))"
        ),
    )?);
    m.others.extend(objects(
        client,
        "extension",
        "SELECT extname, '', 'CREATE EXTENSION IF NOT EXISTS ' || quote_ident(extname) FROM pg_extension WHERE extname <> 'plpgsql'"
            .to_owned(),
    )?);
    m.sort();
    for r in &partitions {
        m.others.push(Object {
            kind: "partition".to_owned(),
            name: text(r, 0),
            table: text(r, 1),
            sql: format!("ALTER TABLE ONLY {} ATTACH PARTITION {} {}", text(r, 1), ident(&text(r, 0)), text(r, 2)),
        });
    }
    Ok(m)
}

/// A baseline of the scratch database as it is (`migcheck squash`): types
/// and extensions, sequences, tables without their foreign keys, functions,
/// rows, sequences owned and set where they stood, foreign keys, then
/// indexes, views and triggers.
pub(crate) fn baseline_sql(client: &mut Client, rows: bool) -> Result<String, PgError> {
    use crate::schema::squash::{ident as quoted, inserts, statement, views_in_order};
    let model = model(client, "")?;
    let mut out = String::new();
    for o in model.others.iter().filter(|o| o.kind != "function" && o.kind != "partition") {
        statement(&mut out, &o.sql);
    }
    // Range types (after the enums they may range over).
    let ranges = client.query(
        "SELECT quote_ident(t.typname), format_type(r.rngsubtype, NULL),
                CASE WHEN NOT o.opcdefault THEN quote_ident(o.opcname) END,
                CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> s.typcollation THEN r.rngcollation::regcollation::text END,
                NULLIF(r.rngcanonical::text, '-'), NULLIF(r.rngsubdiff::text, '-'), format_type(r.rngmultitypid, NULL)
         FROM pg_range r JOIN pg_type t ON t.oid = r.rngtypid JOIN pg_namespace n ON n.oid = t.typnamespace
         JOIN pg_type s ON s.oid = r.rngsubtype JOIN pg_opclass o ON o.oid = r.rngsubopc
         WHERE n.nspname = current_schema() ORDER BY t.typname",
    )?;
    for r in &ranges {
        let mut options = vec![format!("subtype = {}", r[1].clone().unwrap_or_default())];
        for (i, word) in [
            (2, "subtype_opclass"),
            (3, "collation"),
            (4, "canonical"),
            (5, "subtype_diff"),
            (6, "multirange_type_name"),
        ] {
            if let Some(value) = &r[i] {
                options.push(format!("{word} = {value}"));
            }
        }
        statement(
            &mut out,
            &format!("CREATE TYPE {} AS RANGE ({})", r[0].clone().unwrap_or_default(), options.join(", ")),
        );
    }
    // Domains (after the enums they may use), then composite types (which
    // may use both).
    let domains = client.query(
        "SELECT t.typname, format_type(t.typbasetype, t.typtypmod), t.typdefault, t.typnotnull,
                (SELECT string_agg(' CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ''
                                   ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid)
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE t.typtype = 'd' AND n.nspname = current_schema() ORDER BY t.typname",
    )?;
    for r in &domains {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        let default = r[2].as_ref().map_or_else(String::new, |d| format!(" DEFAULT {d}"));
        let not_null = if text(3) == "t" { " NOT NULL" } else { "" };
        statement(
            &mut out,
            &format!("CREATE DOMAIN {} AS {}{default}{not_null}{}", quoted(&text(0)), text(1), text(4)),
        );
    }
    let composites = client.query(
        "SELECT t.typname, string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                      ORDER BY a.attnum)
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE t.typtype = 'c' AND n.nspname = current_schema() GROUP BY t.typname ORDER BY t.typname",
    )?;
    for r in &composites {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        statement(&mut out, &format!("CREATE TYPE {} AS ({})", quoted(&text(0)), text(1)));
    }
    // Sequences of their own (serial columns, CREATE SEQUENCE): not those of
    // identity columns, which their table creates.
    let sequences = client.query(
        "SELECT c.relname, format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache,
                s.seqcycle, t.relname, a.attname
         FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         LEFT JOIN pg_class t ON t.oid = d.refobjid
         LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE n.nspname = current_schema() AND (d.deptype IS NULL OR d.deptype = 'a')
         ORDER BY c.relname",
    )?;
    let text = |r: &Vec<Option<String>>, i: usize| r[i].clone().unwrap_or_default();
    for r in &sequences {
        statement(
            &mut out,
            &format!(
                "CREATE SEQUENCE {} AS {} INCREMENT BY {} MINVALUE {} MAXVALUE {} START WITH {} CACHE {}{}",
                quoted(&text(r, 0)),
                text(r, 1),
                text(r, 2),
                text(r, 3),
                text(r, 4),
                text(r, 5),
                text(r, 6),
                if text(r, 7) == "t" { " CYCLE" } else { "" }
            ),
        );
    }
    // Parents before the tables that inherit from them.
    let parents: Vec<(String, String)> = client
        .query(
            "SELECT h.inhrelid::regclass::text, h.inhparent::regclass::text FROM pg_inherits h
             JOIN pg_class c ON c.oid = h.inhrelid WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition",
        )?
        .into_iter()
        .map(|r| (r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default()))
        .collect();
    let mut tables = Vec::new();
    let mut left = model.tables_in_dependency_order();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            parents.iter().all(|(child, parent)| {
                child != &t.name || tables.iter().any(|d: &&crate::schema::model::TableView| &d.name == parent)
            })
        });
        tables.push(left.remove(ready.unwrap_or(0)));
    }
    let mut foreign_keys = Vec::new();
    for t in &tables {
        // The table's own definition, its foreign keys apart: they are added
        // once every table and row is in.
        let mut lines: Vec<&str> = Vec::new();
        for line in t.sql.lines() {
            let def = line.trim().trim_end_matches(',');
            if def.starts_with("CONSTRAINT ") && def.contains(" FOREIGN KEY ") {
                foreign_keys.push(format!("ALTER TABLE {} ADD {def}", quoted(&t.name)));
            } else {
                lines.push(line);
            }
        }
        let mut sql = lines.join("\n");
        // The last definition kept may have lost the one after it.
        if let Some(close) = sql.rfind("\n)") {
            let head = sql[..close].trim_end_matches(',').to_owned();
            sql = format!("{head}{}", &sql[close..]);
        }
        statement(&mut out, &sql);
    }
    for o in model.others.iter().filter(|o| o.kind == "partition") {
        statement(&mut out, &o.sql);
    }
    for o in model.others.iter().filter(|o| o.kind == "function") {
        statement(&mut out, &o.sql);
    }
    if rows {
        for t in &tables {
            let special = client.query(&format!(
                "SELECT attname, attgenerated <> '', attidentity = 'a' FROM pg_attribute
                 WHERE attrelid = {}::regclass AND attnum > 0 AND NOT attisdropped",
                literal(&ident(&t.name))
            ))?;
            let generated: Vec<String> =
                special.iter().filter(|r| r[1].as_deref() == Some("t")).map(|r| text(r, 0)).collect();
            let always = special.iter().any(|r| r[2].as_deref() == Some("t"));
            let contents = contents_of(client, &t.name, true)?;
            inserts(
                &mut out,
                &t.name,
                (&contents.columns, &contents.rows),
                &generated,
                if always { " OVERRIDING SYSTEM VALUE" } else { "" },
            );
        }
    }
    for r in &sequences {
        if let (Some(table), Some(column)) = (&r[8], &r[9]) {
            statement(
                &mut out,
                &format!("ALTER SEQUENCE {} OWNED BY {}.{}", quoted(&text(r, 0)), quoted(table), quoted(column)),
            );
        }
    }
    if rows {
        // Where each sequence stands, identity columns' included.
        let positions = client.query(
            "SELECT sequencename, last_value FROM pg_sequences
             WHERE schemaname = current_schema() AND last_value IS NOT NULL ORDER BY sequencename",
        )?;
        for r in &positions {
            statement(&mut out, &format!("SELECT setval({}, {}, true)", literal(&quoted(&text(r, 0))), text(r, 1)));
        }
    }
    for fk in &foreign_keys {
        statement(&mut out, fk);
    }
    // The catalogs name the scratch schema; the baseline runs in whatever
    // schema the database's search path gives (a tenant's, say).
    let schema = client.query("SELECT current_schema()")?.first().and_then(|r| r[0].clone()).unwrap_or_default();
    let unqualified = |sql: &str| {
        [" ON ", "FUNCTION ", " TABLE "].iter().fold(sql.to_owned(), |sql, word| {
            sql.replace(&format!("{word}{schema}."), word).replace(&format!("{word}{}.", ident(&schema)), word)
        })
    };
    let functions = std::mem::take(&mut out);
    out = unqualified(&functions);
    // An index on a partitioned table is created on its partitions too (with
    // the names PostgreSQL gives them), as when the migrations made it.
    for o in model.indexes.iter().chain(views_in_order(&model.views)).chain(&model.triggers) {
        statement(&mut out, &unqualified(&o.sql.replacen(" ON ONLY ", " ON ", 1)));
    }
    // Last, once the rows are in: row-level security and its policies,
    // comments, and privileges other than the defaults (the owner is the
    // role that runs the baseline).
    for r in client.query(PROPERTIES_SQL)? {
        statement(&mut out, &text(&r, 2));
    }
    Ok(out)
}

/// The statements that give the current schema's objects their row-level
/// security, policies, comments and privileges, in that order. What they
/// cannot say (a comment on a schema, a grant by another role) the squash
/// proof finds missing, and the squash stops.
const PROPERTIES_SQL: &str = "
WITH rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relowner, c.relacl, c.relrowsecurity, c.relforcerowsecurity,
         CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS word
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
     AND NOT EXISTS (SELECT 1 FROM pg_depend m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid AND m.deptype = 'e')
), fn AS (
  SELECT p.oid, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END || ' ' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name, p.proowner AS owner, p.proacl AS acl
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = current_schema()
     AND NOT EXISTS (SELECT 1 FROM pg_depend m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid AND m.deptype = 'e')
), priv AS (
  SELECT r.word || ' ' || quote_ident(r.relname) AS name, r.relowner AS owner, r.relacl AS acl,
         CASE r.relkind WHEN 'S' THEN 's' ELSE 'r' END AS kind FROM rel r
  UNION ALL SELECT f.name, f.owner, f.acl, 'f' FROM fn f
)
SELECT 1, 0, 'ALTER TABLE ' || quote_ident(relname) || ' ENABLE ROW LEVEL SECURITY' FROM rel WHERE relrowsecurity
UNION ALL
SELECT 1, 1, 'ALTER TABLE ' || quote_ident(relname) || ' FORCE ROW LEVEL SECURITY' FROM rel WHERE relforcerowsecurity
UNION ALL
SELECT 2, 0, 'CREATE POLICY ' || quote_ident(p.policyname) || ' ON ' || quote_ident(p.tablename) || ' AS ' || p.permissive
       || ' FOR ' || p.cmd || ' TO '
       || (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ') FROM unnest(p.roles) r)
       || COALESCE(' USING (' || p.qual || ')', '') || COALESCE(' WITH CHECK (' || p.with_check || ')', '')
  FROM pg_policies p WHERE p.schemaname = current_schema()
UNION ALL
SELECT 3, 0, 'COMMENT ON ' || CASE WHEN d.objsubid > 0 THEN 'COLUMN ' || quote_ident(r.relname) || '.'
           || quote_ident((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum = d.objsubid))
         ELSE CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
           WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END || ' ' || quote_ident(r.relname) END
       || ' IS ' || quote_literal(d.description)
  FROM pg_description d JOIN rel r ON d.classoid = 'pg_class'::regclass AND d.objoid = r.oid
UNION ALL
SELECT 3, 1, 'COMMENT ON ' || f.name || ' IS ' || quote_literal(d.description)
  FROM pg_description d JOIN fn f ON d.classoid = 'pg_proc'::regclass AND d.objoid = f.oid
UNION ALL
SELECT 3, 2, 'COMMENT ON INDEX ' || quote_ident(i.relname) || ' IS ' || quote_literal(d.description)
  FROM pg_description d JOIN pg_class i ON d.classoid = 'pg_class'::regclass AND d.objoid = i.oid AND i.relkind IN ('i', 'I')
  JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = current_schema()
UNION ALL
SELECT 3, 3, 'COMMENT ON CONSTRAINT ' || quote_ident(k.conname) || ' ON ' || quote_ident(r.relname) || ' IS ' || quote_literal(d.description)
  FROM pg_description d JOIN pg_constraint k ON d.classoid = 'pg_constraint'::regclass AND d.objoid = k.oid
  JOIN rel r ON r.oid = k.conrelid
UNION ALL
SELECT 3, 4, 'COMMENT ON TRIGGER ' || quote_ident(g.tgname) || ' ON ' || quote_ident(r.relname) || ' IS ' || quote_literal(d.description)
  FROM pg_description d JOIN pg_trigger g ON d.classoid = 'pg_trigger'::regclass AND d.objoid = g.oid
  JOIN rel r ON r.oid = g.tgrelid
UNION ALL
SELECT 3, 5, 'COMMENT ON TYPE ' || quote_ident(t.typname) || ' IS ' || quote_literal(d.description)
  FROM pg_description d JOIN pg_type t ON d.classoid = 'pg_type'::regclass AND d.objoid = t.oid
  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = current_schema()
UNION ALL
SELECT 4, 0, 'REVOKE ' || g.privilege_type || ' ON ' || p.name || ' FROM '
       || CASE WHEN g.grantee = 0 THEN 'PUBLIC' WHEN g.grantee = p.owner THEN 'CURRENT_USER' ELSE quote_ident(pg_get_userbyid(g.grantee)) END
  FROM priv p, aclexplode(acldefault(p.kind::\"char\", p.owner)) g
 WHERE p.acl IS NOT NULL AND NOT aclcontains(p.acl, makeaclitem(g.grantee, g.grantor, g.privilege_type, g.is_grantable))
UNION ALL
SELECT 4, 1, 'GRANT ' || g.privilege_type || ' ON ' || p.name || ' TO '
       || CASE WHEN g.grantee = 0 THEN 'PUBLIC' WHEN g.grantee = p.owner THEN 'CURRENT_USER' ELSE quote_ident(pg_get_userbyid(g.grantee)) END
       || CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
  FROM priv p, aclexplode(p.acl) g
 WHERE p.acl IS NOT NULL AND g.grantor = p.owner
   AND NOT aclcontains(acldefault(p.kind::\"char\", p.owner), makeaclitem(g.grantee, g.grantor, g.privilege_type, g.is_grantable))
UNION ALL
SELECT 4, 2, 'GRANT ' || g.privilege_type || ' (' || quote_ident(a.attname) || ') ON TABLE ' || quote_ident(r.relname) || ' TO '
       || CASE WHEN g.grantee = 0 THEN 'PUBLIC' WHEN g.grantee = r.relowner THEN 'CURRENT_USER' ELSE quote_ident(pg_get_userbyid(g.grantee)) END
       || CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid, aclexplode(a.attacl) g
 WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND g.grantor = r.relowner
ORDER BY 1, 2, 3";
