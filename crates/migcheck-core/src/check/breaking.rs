//! `breaking-change`: what an up migration changes that the release still
//! running during a rolling deploy depends on. Read from the schema before
//! and after the up, on either engine, for the tables the migration names
//! that existed before it:
//!
//! - a table or column dropped or renamed (the running code reads it);
//! - a column made NOT NULL, or a NOT NULL column added, without a default
//!   (the running code's INSERTs leave it out);
//! - a column's type narrowed (the running code writes values the new type
//!   refuses).
//!
//! Only files that can change a table's shape (`ALTER`, `DROP`, `RENAME`, a
//! SQLite table rebuild's `DROP TABLE`) are read.
//!
//! When the running release's statements are known
//! (`Config::running_statements`, read by `check --base` from its `sql!` and
//! `sqlx::query!` call sites), the finding is proven instead: each statement
//! that prepares before the up and no longer does after it is reported with
//! its file, line and the database's error. Drops and renames are then left
//! to that proof (one no statement uses breaks nothing), and a NOT NULL or
//! narrowed column is reported only where a statement writes its table.

use std::collections::BTreeSet;

use crate::diagnostic::{Diagnostic, Kind};
use crate::engine::{ColumnShape, Engine};
use crate::model::Migration;
use crate::rust_source::Call;
use crate::schema::tokens;

use super::data::{find_mention, mention};

/// The tables an up migration may reshape, with their columns before it.
pub(crate) struct Shapes<'a> {
    before: Vec<(String, Vec<ColumnShape>)>,
    /// The running release's statements when known, with the indexes of
    /// those that prepare before the up (the others were broken already, or
    /// are not this database's: nothing a migration here is to blame for).
    running: Option<(&'a [Call], Vec<usize>)>,
}

impl<'a> Shapes<'a> {
    /// Reads the columns of the existing tables an up migration (its
    /// `tokens`) names, when it can reshape them, and which of the running
    /// release's statements prepare.
    pub fn before<E: Engine>(
        engine: &mut E,
        tokens: &[tokens::Token],
        running: Option<&'a [Call]>,
    ) -> Result<Shapes<'a>, Diagnostic> {
        let reshapes = tokens.iter().any(|t| t.is_word("alter") || t.is_word("drop") || t.is_word("rename"));
        if !reshapes {
            return Ok(Shapes { before: Vec::new(), running: None });
        }
        let named: BTreeSet<String> =
            tokens.iter().filter(|t| t.kind == tokens::Kind::Word).map(|t| t.text.clone()).collect();
        let mut before = Vec::new();
        for table in engine.tables(Some(&named))? {
            let columns = engine.columns(&table)?;
            before.push((table, columns));
        }
        let running = running.map(|calls| {
            let prepared = (0..calls.len()).filter(|&i| engine.prepare(&calls[i].sql).is_ok()).collect();
            (calls, prepared)
        });
        Ok(Shapes { before, running })
    }

    /// The running release's statements that prepared before the up and
    /// do not now, each with the database's message: one `breaking-change`
    /// for the migration, naming each.
    fn proven<E: Engine>(&self, engine: &mut E, m: &Migration) -> Option<Diagnostic> {
        let (calls, prepared) = self.running.as_ref()?;
        let broken: Vec<(&Call, String)> =
            prepared.iter().filter_map(|&i| engine.prepare(&calls[i].sql).err().map(|e| (&calls[i], e))).collect();
        let (first, message) = broken.first()?;
        let up = &m.up;
        let file = up.file.file_name();
        let place = |c: &Call| format!("{}:{}", c.file.display(), c.line);
        let headline = if broken.len() == 1 {
            format!("`{file}` breaks a statement of the running release (`{}`): {message}", place(first))
        } else {
            format!(
                "`{file}` breaks {} statements of the running release, the first (`{}`): {message}",
                broken.len(),
                place(first)
            )
        };
        // Where the up names what the message is about (`no such column: name`).
        let at = named_in(message)
            .and_then(|named| find_mention(up, named))
            .unwrap_or_else(|| crate::diagnostic::Location::file(&up.file.display));
        let mut d = Diagnostic::warning(Kind::BreakingChange, headline).at(at).version(m.version);
        const SHOWN: usize = 10;
        for (call, message) in broken.iter().take(SHOWN) {
            let sql = call.sql.split_whitespace().collect::<Vec<_>>().join(" ");
            d = d.note(format!(
                "`{}:{}:{}` ({}!) `{sql}` fails: {message}",
                call.file.display(),
                call.line,
                call.column,
                call.macro_name
            ));
        }
        if broken.len() > SHOWN {
            d = d.note(format!("and {} more", broken.len() - SHOWN));
        }
        Some(d.note("during a rolling deploy the previous release still runs against the migrated database").help(HELP))
    }

    /// After the up: each change that breaks the running release is a
    /// `breaking-change` warning.
    pub fn after<E: Engine>(
        &self,
        engine: &mut E,
        m: &Migration,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), Diagnostic> {
        warnings.extend(self.proven(engine, m));
        if self.before.is_empty() {
            return Ok(());
        }
        let names: BTreeSet<String> = self.before.iter().map(|(t, _)| t.to_lowercase()).collect();
        let now: BTreeSet<String> = engine.tables(Some(&names))?.into_iter().map(|t| t.to_lowercase()).collect();
        let up = &m.up;
        let file = up.file.file_name();
        // With the statements known, drops and renames are the proof's; the
        // rest only where a statement writes the table.
        let known = self.running.as_ref().map(|(calls, _)| *calls);
        let mut push = |message: String, name: &str, table: &str, proven: bool| {
            let writers: Vec<&Call> = match known {
                None => Vec::new(),
                Some(_) if proven => return,
                Some(calls) => {
                    let writers: Vec<&Call> = calls.iter().filter(|c| writes(&c.sql, table)).collect();
                    if writers.is_empty() {
                        return;
                    }
                    writers
                }
            };
            let at = find_mention(up, name).unwrap_or_else(|| mention(up, table));
            let mut d = Diagnostic::warning(Kind::BreakingChange, format!("`{file}` {message}"))
                .at(at)
                .version(m.version)
                .note("during a rolling deploy the previous release still runs against the migrated database");
            for c in writers.iter().take(3) {
                d = d.note(format!("the running release writes `{table}` at `{}:{}`", c.file.display(), c.line));
            }
            warnings.push(d.help(HELP));
        };
        for (table, before) in &self.before {
            if !now.contains(&table.to_lowercase()) {
                push(
                    format!("drops or renames table `{table}`, which the running release still uses"),
                    table,
                    table,
                    true,
                );
                continue;
            }
            let after = engine.columns(table)?;
            let gone: Vec<&ColumnShape> =
                before.iter().filter(|o| !after.iter().any(|c| c.name.eq_ignore_ascii_case(&o.name))).collect();
            let added: Vec<&ColumnShape> =
                after.iter().filter(|c| !before.iter().any(|o| o.name.eq_ignore_ascii_case(&c.name))).collect();
            // A column gone and one added in its shape, in a file that says
            // RENAME: one rename, not a drop and a new NOT NULL column. The
            // file's own `RENAME [COLUMN] a TO b` pairs them first.
            let lower = up.sql.to_lowercase();
            let renames = lower.contains("rename") || lower.contains("change");
            let said = if renames { renamed_columns(&up.sql) } else { Vec::new() };
            let mut renamed: Vec<&str> = Vec::new();
            for old in &gone {
                let named = said.iter().find(|(from, _)| from.eq_ignore_ascii_case(&old.name)).and_then(|(_, to)| {
                    added.iter().find(|c| c.name.eq_ignore_ascii_case(to) && !renamed.contains(&c.name.as_str()))
                });
                let to = named.or_else(|| {
                    added.iter().find(|c| {
                        renames
                            && !renamed.contains(&c.name.as_str())
                            && !said.iter().any(|(_, to)| to.eq_ignore_ascii_case(&c.name))
                            && c.ty.eq_ignore_ascii_case(&old.ty)
                            && c.not_null == old.not_null
                            && c.has_default == old.has_default
                    })
                });
                match to {
                    Some(to) => {
                        renamed.push(&to.name);
                        push(
                            format!(
                                "renames column `{table}.{}` to `{}`, which the running release still reads and writes by its old name",
                                old.name, to.name
                            ),
                            &old.name,
                            table,
                            true,
                        );
                    }
                    None => push(
                        format!(
                            "drops or renames column `{table}.{}`, which the running release still reads and writes",
                            old.name
                        ),
                        &old.name,
                        table,
                        true,
                    ),
                }
            }
            for old in before {
                let Some(new) = after.iter().find(|c| c.name.eq_ignore_ascii_case(&old.name)) else { continue };
                if new.not_null && !old.not_null && !new.has_default {
                    push(
                        format!(
                            "makes `{table}.{}` NOT NULL without a default: the running release's writes that leave it NULL fail",
                            new.name
                        ),
                        &new.name,
                        table,
                        false,
                    );
                } else if narrowed(&old.ty, &new.ty) {
                    push(
                        format!(
                            "changes `{table}.{}` from `{}` to `{}`: values the running release writes may not fit",
                            new.name, old.ty, new.ty
                        ),
                        &new.name,
                        table,
                        false,
                    );
                }
            }
            for new in added.into_iter().filter(|c| !renamed.contains(&c.name.as_str())) {
                if new.not_null && !new.has_default {
                    push(
                        format!(
                            "adds NOT NULL column `{table}.{}` without a default: the running release's INSERTs leave it out and fail",
                            new.name
                        ),
                        &new.name,
                        table,
                        false,
                    );
                }
            }
        }
        Ok(())
    }
}

const HELP: &str = "change the schema in steps a running release survives (expand, then contract): \
                    stop using what goes in one release, drop it in a later one; \
                    or accept it with `-- migcheck: allow breaking-change`";

/// What a database's message says is missing: the first quoted name
/// (PostgreSQL: `column "name" does not exist`), else what follows its last
/// colon (SQLite: `no such column: p.name`), without a qualifier.
fn named_in(message: &str) -> Option<&str> {
    let name = match message.split('"').nth(1) {
        Some(quoted) if message.matches('"').count() >= 2 => quoted,
        _ => message.rsplit_once(": ")?.1.trim(),
    };
    let name = name.rsplit('.').next().unwrap_or(name);
    (!name.is_empty() && !name.contains(' ')).then_some(name)
}

/// The column renames `sql` spells out: `RENAME [COLUMN] a TO b`, and
/// MySQL's `CHANGE [COLUMN] a b type`; names as the tokenizer gives them
/// (not `RENAME TO t`, a table's).
fn renamed_columns(sql: &str) -> Vec<(String, String)> {
    let words = tokens::tokenize(sql);
    let mut out = Vec::new();
    for (i, t) in words.iter().enumerate() {
        if t.is_word("change") {
            let mut j = i + 1;
            if words.get(j).is_some_and(|t| t.is_word("column")) {
                j += 1;
            }
            if let (Some(from), Some(to)) = (words.get(j), words.get(j + 1))
                && from.kind == tokens::Kind::Word
                && to.kind == tokens::Kind::Word
                && !from.text.eq_ignore_ascii_case(&to.text)
            {
                out.push((from.text.clone(), to.text.clone()));
            }
            continue;
        }
        if !t.is_word("rename") {
            continue;
        }
        let mut j = i + 1;
        if words.get(j).is_some_and(|t| t.is_word("column")) {
            j += 1;
        }
        match (words.get(j), words.get(j + 1), words.get(j + 2)) {
            (Some(from), Some(to_kw), Some(to)) if !from.is_word("to") && to_kw.is_word("to") => {
                out.push((from.text.clone(), to.text.clone()));
            }
            _ => {}
        }
    }
    out
}

/// Whether the statement `sql` writes `table` (an INSERT, UPDATE, REPLACE or
/// MERGE that names it).
fn writes(sql: &str, table: &str) -> bool {
    let words = tokens::tokenize(sql);
    let table = table.to_lowercase();
    words.iter().any(|t| ["insert", "update", "replace", "merge"].iter().any(|w| t.is_word(w)))
        && words.iter().any(|t| t.is_word(&table))
}

/// Whether a column's type went from `old` to a type that holds fewer
/// values. Widening (a larger integer, a longer or unbounded text, a
/// number to text, SQLite's NUMERIC and untyped) is not.
fn narrowed(old: &str, new: &str) -> bool {
    let (old, new) = (old.trim().to_lowercase(), new.trim().to_lowercase());
    if old == new {
        return false;
    }
    let rank = |t: &str| -> Option<u32> {
        let base = t.split('(').next().unwrap_or(t).trim();
        Some(match base {
            "smallint" | "int2" => 1,
            "integer" | "int" | "int4" => 2,
            "bigint" | "int8" => 3,
            "numeric" | "decimal" => 4,
            "real" | "float4" => 5,
            "double precision" | "float8" | "double" => 6,
            _ => return None,
        })
    };
    let length = |t: &str| {
        t.split_once('(').and_then(|(_, r)| r.trim_end_matches(')').split(',').next()?.trim().parse::<u32>().ok())
    };
    let texty = |t: &str| ["text", "char", "clob", "varchar", "character"].iter().any(|w| t.contains(w));
    // Every value of the old type has a place in the new one.
    // The type without its modifier: `timestamp(3) with time zone` is a
    // `timestamp with time zone`.
    let base = |t: &str| match (t.find('('), t.find(')')) {
        (Some(a), Some(b)) if a < b => format!("{}{}", t[..a].trim_end(), &t[b + 1..]),
        _ => t.to_owned(),
    };
    let (old_base, new_base) = (base(&old), base(&new));
    let timestamp = ["timestamp", "timestamp without time zone", "datetime"];
    let timestamptz = ["timestamptz", "timestamp with time zone"];
    let widens = |from: &[&str], to: &[&str]| from.contains(&old_base.as_str()) && to.contains(&new_base.as_str());
    if widens(&timestamp, &timestamptz)
        || widens(&["date"], &timestamp)
        || widens(&["date"], &timestamptz)
        || widens(&["time", "time without time zone"], &["timetz", "time with time zone"])
        || widens(&["json"], &["jsonb"])
        || widens(&["jsonb"], &["json"])
        || (old_base == new_base && length(&new).is_none())
    {
        return false;
    }
    match (rank(&old), rank(&new)) {
        (Some(a), Some(b)) if a < 4 && b < 4 => return b < a,
        (Some(_), Some(_)) => return false,
        _ => {}
    }
    if texty(&new) {
        // To text: narrower only when bounded below what was there.
        return match (length(&old), length(&new)) {
            (_, None) => false,
            (Some(a), Some(b)) => b < a,
            (None, Some(_)) => true,
        };
    }
    // SQLite's forgiving types, and types without a declared type.
    if new.is_empty() || new == "any" || new == "blob" || new == "numeric" {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{named_in, narrowed};

    #[test]
    fn renames_are_read_in_either_spelling() {
        assert_eq!(
            super::renamed_columns("ALTER TABLE t RENAME COLUMN nick TO alias;"),
            [("nick".to_owned(), "alias".to_owned())]
        );
        assert_eq!(
            super::renamed_columns("ALTER TABLE `t` CHANGE `old_id` `new_id` char(36) NOT NULL;"),
            [("old_id".to_owned(), "new_id".to_owned())]
        );
        // Same name: a type change, not a rename.
        assert!(super::renamed_columns("ALTER TABLE t CHANGE COLUMN a a BIGINT;").is_empty());
        assert!(super::renamed_columns("ALTER TABLE t RENAME TO u;").is_empty());
    }

    #[test]
    fn the_missing_name_is_read_from_either_database_s_message() {
        assert_eq!(named_in("no such column: name"), Some("name"));
        assert_eq!(named_in("no such column: p.name"), Some("name"));
        assert_eq!(named_in("no such table: main.pets"), Some("pets"));
        assert_eq!(named_in(r#"column "name" does not exist"#), Some("name"));
        assert_eq!(named_in(r#"relation "pets" does not exist"#), Some("pets"));
        assert_eq!(named_in(r#"column p.name does not exist"#), None);
    }

    #[test]
    fn widening_is_not_narrowing() {
        for (old, new) in [
            ("integer", "bigint"),
            ("int4", "int8"),
            ("character varying(20)", "character varying(40)"),
            ("character varying(20)", "text"),
            ("integer", "text"),
            ("INTEGER", "NUMERIC"),
            ("TEXT", ""),
            ("real", "double precision"),
            ("timestamp without time zone", "timestamp with time zone"),
            ("timestamp(3) without time zone", "timestamp(6) with time zone"),
            ("date", "timestamp with time zone"),
            ("json", "jsonb"),
            ("numeric(10,2)", "numeric"),
        ] {
            assert!(!narrowed(old, new), "{old} → {new}");
        }
        for (old, new) in [
            ("bigint", "integer"),
            ("character varying(40)", "character varying(20)"),
            ("text", "character varying(20)"),
            ("text", "integer"),
            ("TEXT", "INTEGER"),
            ("timestamp with time zone", "date"),
            ("timestamp with time zone", "timestamp without time zone"),
            ("timestamp(6) with time zone", "timestamp(3) without time zone"),
        ] {
            assert!(narrowed(old, new), "{old} → {new}");
        }
    }
}
