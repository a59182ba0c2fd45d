//! Writing a squashed baseline (`migcheck squash`): the pieces both engines
//! share. Each engine orders the statements its own way
//! ([`crate::engine::Engine::baseline_sql`]): objects a table needs, tables,
//! rows, then indexes, views and triggers (triggers last, so that the rows
//! inserted do not fire them).

use std::fmt::Write as _;

use super::model::Object;

/// Rows per `INSERT` statement.
const ROWS_PER_INSERT: usize = 100;

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    crate::lexer::quote_ident(name)
}

/// `INSERT` statements that put `rows` (values as SQL literals, in the
/// order of `columns`) back into `table`, leaving out the
/// columns in `skip` (generated ones), a hundred rows each; `overriding` goes
/// between the column list and `VALUES` (PostgreSQL's identity columns).
pub fn inserts(
    out: &mut String,
    table: &str,
    (columns, rows): (&[String], &[Vec<Option<String>>]),
    skip: &[String],
    overriding: &str,
) {
    let keep: Vec<usize> =
        (0..columns.len()).filter(|&i| !skip.iter().any(|s| s.eq_ignore_ascii_case(&columns[i]))).collect();
    if keep.is_empty() || rows.is_empty() {
        return;
    }
    let columns: Vec<String> = keep.iter().map(|&i| ident(&columns[i])).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let _ = write!(out, "INSERT INTO {} ({}){overriding} VALUES", ident(table), columns.join(", "));
        for (n, row) in chunk.iter().enumerate() {
            let values: Vec<&str> = keep.iter().map(|&i| row[i].as_deref().unwrap_or("NULL")).collect();
            let _ = write!(out, "{}\n    ({})", if n == 0 { "" } else { "," }, values.join(", "));
        }
        out.push_str(";\n");
    }
    out.push('\n');
}

/// Views with each one after the views its text names (cycles cannot be;
/// name order otherwise).
pub fn views_in_order(views: &[Object]) -> Vec<&Object> {
    let mut out: Vec<&Object> = Vec::with_capacity(views.len());
    let mut left: Vec<&Object> = views.iter().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|v| {
            let text = v.sql.to_lowercase();
            left.iter().all(|o| std::ptr::eq(*o, *v) || !mentions(&text, &o.name.to_lowercase()))
        });
        out.push(left.remove(ready.unwrap_or(0)));
    }
    out
}

/// Whether `text` has `word` as a whole word (quoted or not).
fn mentions(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(word).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + word.len()).copied();
        let edge = |b: Option<u8>| b.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
        edge(before) && edge(after)
    })
}

/// The statement of an object, ending in `;` and a blank line.
pub fn statement(out: &mut String, sql: &str) {
    let _ = writeln!(out, "{};\n", sql.trim_end().trim_end_matches(';'));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, sql: &str) -> Object {
        Object { kind: "view".into(), name: name.into(), table: name.into(), sql: sql.into() }
    }

    #[test]
    fn a_view_comes_after_the_views_it_reads() {
        let views = [
            view("a_totals", "CREATE VIEW a_totals AS SELECT * FROM z_base"),
            view("z_base", "CREATE VIEW z_base AS SELECT 1 AS x"),
        ];
        let names: Vec<&str> = views_in_order(&views).iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["z_base", "a_totals"]);
    }

    #[test]
    fn rows_are_inserted_without_generated_columns_a_hundred_at_a_time() {
        let columns: Vec<String> = vec!["id".into(), "name".into(), "len".into()];
        let rows: Vec<Vec<Option<String>>> = (0..150)
            .map(|i| vec![Some(i.to_string()), if i == 0 { None } else { Some("'x'".into()) }, Some("1".into())])
            .collect();
        let mut out = String::new();
        inserts(&mut out, "pets", (&columns, &rows), &["len".into()], "");
        assert_eq!(out.matches("INSERT INTO \"pets\" (\"id\", \"name\") VALUES").count(), 2);
        assert!(out.contains("(0, NULL),\n    (1, 'x')"), "{out}");
    }
}
