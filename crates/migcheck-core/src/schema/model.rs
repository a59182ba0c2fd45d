//! The schema at a version as people read it: tables with their columns,
//! keys and references, then indexes, views and triggers, in a stable order,
//! read from either engine ([`crate::engine::Engine::model`]) and rendered as
//! canonical SQL, a Mermaid `erDiagram`, Graphviz dot, or (in the CLI) JSON.
//! The same input gives the same bytes, so the output can be committed and
//! diffed; [`Model::changes`] says what a migration changed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

/// A schema: tables, then the other objects, each sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    /// The tables.
    pub tables: Vec<TableView>,
    /// Indexes written by a statement (not those behind a constraint).
    pub indexes: Vec<Object>,
    /// Views.
    pub views: Vec<Object>,
    /// Triggers.
    pub triggers: Vec<Object>,
    /// Other objects PostgreSQL keeps (types, functions, sequences), by kind.
    pub others: Vec<Object>,
}

/// A table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableView {
    /// Its name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<ColumnView>,
    /// Its foreign keys.
    pub foreign_keys: Vec<Reference>,
    /// Its definition, as the engine gives it back (`CREATE TABLE …`).
    pub sql: String,
}

impl TableView {
    /// The key markers of `col`: `PK`, `FK` (part of a foreign key), `UK`
    /// (alone under a unique constraint).
    pub fn keys(&self, col: &ColumnView) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if col.primary_key {
            keys.push("PK");
        }
        if self.foreign_keys.iter().any(|r| r.columns.iter().any(|c| c.eq_ignore_ascii_case(&col.name))) {
            keys.push("FK");
        }
        if col.unique && !col.primary_key {
            keys.push("UK");
        }
        keys
    }
}

/// A column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnView {
    /// Its name.
    pub name: String,
    /// Its declared type (empty when SQLite's column has none).
    pub ty: String,
    /// NOT NULL (or part of the primary key).
    pub not_null: bool,
    /// Part of the primary key.
    pub primary_key: bool,
    /// Alone under a UNIQUE constraint or unique index.
    pub unique: bool,
    /// Its default expression.
    pub default: Option<String>,
}

/// A foreign key.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub table: String,
    /// The referenced columns (empty: its primary key).
    pub to: Vec<String>,
}

/// An object other than a table: its kind, name, the table it belongs to
/// (itself for a view) and its SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Object {
    /// `index`, `view`, `trigger`, `type`, `function`, `sequence`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The table it belongs to.
    pub table: String,
    /// Its definition.
    pub sql: String,
}

/// What changed between two models, by table and object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// One line per change (`table pets: column name added`), in order.
    pub lines: Vec<String>,
    /// Tables added.
    pub added_tables: BTreeSet<String>,
    /// Tables dropped.
    pub dropped_tables: BTreeSet<String>,
    /// (table, column) added or altered.
    pub changed_columns: BTreeSet<(String, String)>,
    /// (table, column) dropped: shown on the table as it was.
    pub dropped_columns: BTreeSet<(String, String)>,
    /// Tables whose constraints, indexes or triggers changed.
    pub touched_tables: BTreeSet<String>,
}

impl Changes {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl Model {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&TableView> {
        self.tables.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Sorts everything by name, so that the same schema reads the same.
    pub fn sort(&mut self) {
        self.tables.sort_by_key(|t| t.name.to_lowercase());
        for t in &mut self.tables {
            t.foreign_keys.sort();
        }
        for list in [&mut self.indexes, &mut self.views, &mut self.triggers, &mut self.others] {
            list.sort_by_key(|o| (o.kind.clone(), o.name.to_lowercase()));
        }
    }

    /// Canonical SQL: every object's definition, tables first (in an order
    /// where a referenced table comes before the tables that reference it,
    /// names breaking ties), each ending in `;`.
    pub fn sql(&self) -> String {
        let mut out = String::new();
        for o in self.others.iter().filter(|o| o.kind != "function") {
            let _ = writeln!(out, "{};\n", o.sql.trim_end_matches(';'));
        }
        for t in self.tables_in_dependency_order() {
            let _ = writeln!(out, "{};\n", t.sql.trim_end_matches(';'));
        }
        for o in self.others.iter().filter(|o| o.kind == "function") {
            let _ = writeln!(out, "{};\n", o.sql.trim_end_matches(';'));
        }
        for o in self.indexes.iter().chain(&self.views).chain(&self.triggers) {
            let _ = writeln!(out, "{};\n", o.sql.trim_end_matches(';'));
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }

    /// Tables with each referenced table before its referrers (cycles and
    /// self references broken by name order).
    pub fn tables_in_dependency_order(&self) -> Vec<&TableView> {
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::new();
        while out.len() < self.tables.len() {
            let ready = self.tables.iter().find(|t| {
                !done.contains(&t.name.to_lowercase())
                    && t.foreign_keys.iter().all(|r| {
                        r.table.eq_ignore_ascii_case(&t.name)
                            || done.contains(&r.table.to_lowercase())
                            || self.table(&r.table).is_none()
                    })
            });
            // A cycle: the first table left, by name.
            let next = ready.or_else(|| self.tables.iter().find(|t| !done.contains(&t.name.to_lowercase())));
            let Some(t) = next else { break };
            done.insert(t.name.to_lowercase());
            out.push(t);
        }
        out
    }

    /// A Mermaid `erDiagram`: each table with its columns (type, name, `PK`,
    /// `FK`, `UK`), and a relationship per foreign key, its cardinality from
    /// the referencing columns' nullability and uniqueness. With `changes`,
    /// only the tables they touch (and the tables those reference), with
    /// added or altered columns marked `"added or changed"`, dropped ones
    /// `"dropped"`, and new or dropped tables said in a comment.
    pub fn mermaid(&self, changes: Option<(&Changes, &Model)>) -> String {
        let mut out = String::from("erDiagram\n");
        let shown: Vec<&TableView> = match changes {
            None => self.tables.iter().collect(),
            Some((c, _)) => self
                .tables
                .iter()
                .filter(|t| {
                    let name = t.name.to_lowercase();
                    c.added_tables.contains(&name)
                        || c.touched_tables.contains(&name)
                        || c.changed_columns.iter().any(|(table, _)| *table == name)
                        || c.dropped_columns.iter().any(|(table, _)| *table == name)
                })
                .collect(),
        };
        for t in &shown {
            let name = t.name.to_lowercase();
            if let Some((c, _)) = changes
                && c.added_tables.contains(&name)
            {
                let _ = writeln!(out, "    %% table {} added", t.name);
            }
            let _ = writeln!(out, "    {} {{", mermaid_name(&t.name));
            for col in &t.columns {
                let keys = t.keys(col);
                let (attribute, renamed) = mermaid_attribute(&col.name);
                let _ = write!(out, "        {} {attribute}", mermaid_type(&col.ty));
                if !keys.is_empty() {
                    let _ = write!(out, " {}", keys.join(", "));
                }
                let changed = changes.is_some_and(|(c, _)| {
                    !c.added_tables.contains(&name)
                        && c.changed_columns.contains(&(name.clone(), col.name.to_lowercase()))
                });
                let comment: Vec<&str> = renamed
                    .as_deref()
                    .into_iter()
                    .chain(changed.then_some("added or changed"))
                    .chain((!changed && !col.not_null).then_some("nullable"))
                    .collect();
                if !comment.is_empty() {
                    let _ = write!(out, " \"{}\"", comment.join("; "));
                }
                out.push('\n');
            }
            if let Some((c, before)) = changes
                && let Some(old) = before.table(&t.name)
            {
                for col in old
                    .columns
                    .iter()
                    .filter(|col| c.dropped_columns.contains(&(name.clone(), col.name.to_lowercase())))
                {
                    let (attribute, renamed) = mermaid_attribute(&col.name);
                    let comment = renamed.map_or_else(|| "dropped".to_owned(), |n| format!("{n}; dropped"));
                    let _ = writeln!(out, "        {} {attribute} \"{comment}\"", mermaid_type(&col.ty));
                }
            }
            out.push_str("    }\n");
        }
        if let Some((c, _)) = changes {
            for t in &c.dropped_tables {
                let _ = writeln!(out, "    %% table {t} dropped");
            }
        }
        for t in &shown {
            for r in &t.foreign_keys {
                // A reference to a table not shown is drawn all the same:
                // Mermaid shows the referenced table as a bare box.
                let nullable = r
                    .columns
                    .iter()
                    .any(|c| t.columns.iter().any(|col| col.name.eq_ignore_ascii_case(c) && !col.not_null));
                let unique = r.columns.len() == 1
                    && t.columns.iter().any(|col| {
                        col.name.eq_ignore_ascii_case(&r.columns[0])
                            && (col.unique
                                || (col.primary_key && t.columns.iter().filter(|c| c.primary_key).count() == 1))
                    });
                // The referencing table, on the left: zero or one of its rows
                // per parent when the key is unique, else zero or more.
                let child = if unique { "|o" } else { "}o" };
                // The referenced table, on the right: exactly one, or zero or
                // one when the key may be NULL.
                let parent = if nullable { "o|" } else { "||" };
                let label = r.columns.join(", ");
                let _ = writeln!(
                    out,
                    "    {} {child}--{parent} {} : \"{}\"",
                    mermaid_name(&t.name),
                    mermaid_name(&r.table),
                    label.replace('"', "'")
                );
            }
        }
        out
    }

    /// Graphviz dot: a record per table (its columns with type and keys), an
    /// edge per foreign key from the referencing columns' table to the
    /// referenced one.
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph schema {\n    graph [rankdir=LR];\n    node [shape=plaintext, fontname=\"Helvetica\"];\n    edge [arrowhead=crow, arrowtail=none, dir=both];\n",
        );
        for t in &self.tables {
            let _ = writeln!(out, "    {} [label=<", dot_id(&t.name));
            let _ = writeln!(out, "        <table border=\"0\" cellborder=\"1\" cellspacing=\"0\">");
            let _ = writeln!(
                out,
                "            <tr><td colspan=\"2\" bgcolor=\"lightgrey\"><b>{}</b></td></tr>",
                html(&t.name)
            );
            for col in &t.columns {
                let keys = t.keys(col);
                let null = if col.not_null { "" } else { "?" };
                let kind = format!("{} {}", col.ty, keys.join(" "));
                let _ = writeln!(
                    out,
                    "            <tr><td port=\"{}\" align=\"left\">{}{}</td><td align=\"left\">{}</td></tr>",
                    html(&col.name.to_lowercase()),
                    html(&col.name),
                    null,
                    html(kind.trim())
                );
            }
            out.push_str("        </table>>];\n");
        }
        for t in &self.tables {
            for r in &t.foreign_keys {
                let from_port =
                    r.columns.first().map(|c| format!(":{}", dot_id(&c.to_lowercase()))).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {}{from_port} -> {} [label=\"{}\"];",
                    dot_id(&t.name),
                    dot_id(&r.table),
                    r.columns.join(", ").replace('"', "'")
                );
            }
        }
        out.push_str("}\n");
        out
    }

    /// What changed from `before` to `self`: tables and columns added,
    /// dropped and altered, foreign keys, indexes, views, triggers and other
    /// objects added, dropped or redefined.
    pub fn changes(&self, before: &Model) -> Changes {
        let mut c = Changes::default();
        let lower = |s: &str| s.to_lowercase();
        for t in &self.tables {
            let name = lower(&t.name);
            let Some(old) = before.table(&t.name) else {
                c.lines.push(format!("table `{}` added ({} columns)", t.name, t.columns.len()));
                c.added_tables.insert(name);
                continue;
            };
            for col in &t.columns {
                match old.columns.iter().find(|o| o.name.eq_ignore_ascii_case(&col.name)) {
                    None => {
                        c.lines.push(format!("table `{}`: column `{}` {} added", t.name, col.name, describe(col)));
                        c.changed_columns.insert((name.clone(), lower(&col.name)));
                    }
                    Some(o) if o != col => {
                        c.lines.push(format!(
                            "table `{}`: column `{}` changed from {} to {}",
                            t.name,
                            col.name,
                            describe(o),
                            describe(col)
                        ));
                        c.changed_columns.insert((name.clone(), lower(&col.name)));
                    }
                    Some(_) => {}
                }
            }
            for o in &old.columns {
                if t.columns.iter().all(|col| !col.name.eq_ignore_ascii_case(&o.name)) {
                    c.lines.push(format!("table `{}`: column `{}` dropped", t.name, o.name));
                    c.dropped_columns.insert((name.clone(), lower(&o.name)));
                }
            }
            for r in &t.foreign_keys {
                if !old.foreign_keys.contains(r) {
                    c.lines.push(format!(
                        "table `{}`: foreign key ({}) → `{}` added",
                        t.name,
                        r.columns.join(", "),
                        r.table
                    ));
                    c.touched_tables.insert(name.clone());
                }
            }
            for r in &old.foreign_keys {
                if !t.foreign_keys.contains(r) {
                    c.lines.push(format!(
                        "table `{}`: foreign key ({}) → `{}` dropped",
                        t.name,
                        r.columns.join(", "),
                        r.table
                    ));
                    c.touched_tables.insert(name.clone());
                }
            }
            if t.sql != old.sql && c.lines.iter().all(|l| !l.starts_with(&format!("table `{}`", t.name))) {
                c.lines.push(format!("table `{}` redefined (constraints or options)", t.name));
                c.touched_tables.insert(name.clone());
            }
        }
        for old in &before.tables {
            if self.table(&old.name).is_none() {
                c.lines.push(format!("table `{}` dropped", old.name));
                c.dropped_tables.insert(lower(&old.name));
            }
        }
        let objects = |m: &Model| -> Vec<Object> {
            m.indexes.iter().chain(&m.views).chain(&m.triggers).chain(&m.others).cloned().collect()
        };
        let (now, then) = (objects(self), objects(before));
        for o in &now {
            match then.iter().find(|p| p.kind == o.kind && p.name.eq_ignore_ascii_case(&o.name)) {
                None => c.lines.push(format!("{} `{}` added", o.kind, o.name)),
                Some(p) if p.sql != o.sql => c.lines.push(format!("{} `{}` redefined", o.kind, o.name)),
                Some(_) => continue,
            }
            if self.table(&o.table).is_some() && o.kind != "view" {
                c.touched_tables.insert(lower(&o.table));
            }
        }
        for p in &then {
            if !now.iter().any(|o| o.kind == p.kind && o.name.eq_ignore_ascii_case(&p.name)) {
                c.lines.push(format!("{} `{}` dropped", p.kind, p.name));
                if self.table(&p.table).is_some() && p.kind != "view" {
                    c.touched_tables.insert(lower(&p.table));
                }
            }
        }
        c
    }
}

/// A column in a few words: `INTEGER NOT NULL DEFAULT 0`.
fn describe(col: &ColumnView) -> String {
    let mut out = if col.ty.is_empty() { "(no type)".to_owned() } else { col.ty.clone() };
    if col.primary_key {
        out.push_str(" PRIMARY KEY");
    } else if col.not_null {
        out.push_str(" NOT NULL");
    }
    if col.unique && !col.primary_key {
        out.push_str(" UNIQUE");
    }
    if let Some(d) = &col.default {
        let _ = write!(out, " DEFAULT {d}");
    }
    out
}

/// A name as Mermaid takes it: letters, digits, `_` and `-` as they are,
/// anything else in double quotes (Mermaid's entity aliases).
fn mermaid_name(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "'"))
    }
}

/// A column's name as a Mermaid attribute name, which cannot be quoted: its
/// letters (of any script), digits, `_` and `-`, others written `_`, and a
/// leading digit after `_`; with the name as it is, for the attribute's
/// comment, when that differs.
fn mermaid_attribute(name: &str) -> (String, Option<String>) {
    let mut word: String =
        name.chars().map(|c| if c.is_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        word.insert(0, '_');
    }
    let renamed = (word != name).then(|| name.replace('"', "'"));
    (word, renamed)
}

/// A type as a Mermaid attribute type: one word (`varchar(50)` keeps its
/// parentheses; spaces become `_`), `any` when there is none.
fn mermaid_type(ty: &str) -> String {
    if ty.trim().is_empty() {
        return "any".to_owned();
    }
    ty.trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '(' | ')' | '_' | '-' | '[' | ']') { c } else { '_' })
        .collect()
}

/// A dot identifier, always quoted.
fn dot_id(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Text in a dot HTML label.
fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
