//! The data checks: migrations proven on tables that hold rows.
//!
//! Before each migration runs, its tables hold rows: synthetic ones
//! ([`crate::engine::sqlite::rows`], and the PostgreSQL engine's own), given to each table
//! the migration after the one that created it, and the user's fixtures
//! (`fixtures/<version>.sql`, loaded right after migration `<version>`).
//! Around each migration:
//!
//! - a file that fails with rows and runs without them is `data-dependent`
//!   (a warning) when the synthetic rows make it fail, `data-error` when the
//!   fixtures' rows do;
//! - rows or non-NULL values of a table the migration names that are gone
//!   after its up are `data-loss` (a warning), unless it drops the table or
//!   column, deletes or updates rows on purpose, or allows it;
//! - a down must give back every row its up started from and kept as it was
//!   (on the columns the up kept), else `down-data-mismatch` (an error).
//!
//! Only the tables a migration names (and the tables referencing those it
//! drops or deletes from, which a cascade reaches) are read, and only when it
//! holds a statement that can lose rows (a drop, delete, update, rename, …):
//! a history of thousands of tables pays for the few each migration touches.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use crate::checksum;

use crate::config::Config;
use crate::diagnostic::{Diagnostic, Kind, Location, Severity};
use crate::engine::{Contents, Engine};
use crate::lexer;
use crate::model::Digest;
use crate::model::{Migration, Mode, Script, SourceFile};
use crate::scan::display_path;
use crate::schema::tokens::{self, Token};

/// A fixture file: rows the user writes, loaded right after its version.
pub(crate) struct Fixture {
    pub script: Script,
    /// The tables its `INSERT`s fill (lower case), each with the byte offset
    /// of its first `INSERT` in the file.
    pub fills: Vec<(String, usize)>,
}

/// What rows the checks put in the tables.
#[derive(Default)]
pub(crate) struct Data {
    /// Synthetic rows in every table (`MIGCHECK_DATA=0` turns them off).
    pub synthetic: bool,
    /// The fixtures, by the version they load after.
    pub fixtures: BTreeMap<i64, Fixture>,
    /// Tables a fixture fills (lower case): their rows are the user's, never
    /// synthetic.
    pub fixture_tables: BTreeSet<String>,
    /// Report findings (warnings such as `data-loss`) of sealed migrations too.
    pub sealed_findings: bool,
    /// The prelude, run on every fresh scratch database first.
    pub prelude: Option<Script>,
    /// The running release's statements (`Config::running_statements`).
    pub running: Option<Vec<crate::rust_source::Call>>,
}

impl Data {
    /// Whether any table will hold rows.
    pub fn active(&self) -> bool {
        self.synthetic || !self.fixtures.is_empty()
    }

    /// What the rows depend on, for the build cache's key: a database with
    /// rows is not one without.
    pub fn salt(&self) -> Digest {
        let mut text = format!("synthetic {}\n", self.synthetic);
        for (version, f) in &self.fixtures {
            text.push_str(&format!("{version} {}\n", checksum::to_hex(&f.script.file.checksum)));
        }
        checksum::checksum(text.as_bytes())
    }
}

/// Reads the fixtures directory: files `<version>.sql` or
/// `<version>_<words>.sql`, each for a migration that exists.
pub(crate) fn read_fixtures(config: &Config, migrations: &[Migration], diagnostics: &mut Vec<Diagnostic>) -> Data {
    let mut data = Data {
        synthetic: config.data,
        sealed_findings: config.sealed_findings,
        running: config.running_statements.clone(),
        ..Data::default()
    };
    let Some(dir) = &config.fixtures else { return data };
    let shown_dir = display_path(dir, &config.display_base);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !config.fixtures_required => return data,
        Err(e) => {
            diagnostics.push(
                Diagnostic::error(Kind::Io, format!("cannot read the fixtures directory `{shown_dir}`: {e}"))
                    .help("create it, or remove the `.fixtures(…)` / `--fixtures` setting"),
            );
            return data;
        }
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let shown = display_path(&path, &config.display_base);
        let Some(stem) = name.strip_suffix(".sql") else {
            // `1.SQL` would be skipped without a word, as in the
            // migrations directory: an error instead.
            if name.to_lowercase().ends_with(".sql") {
                diagnostics.push(
                    Diagnostic::error(Kind::DataError, format!("`{shown}` is not read: fixtures end in `.sql`"))
                        .at(Location::file(&shown))
                        .help(format!("rename it to `{}.sql`", &name[..name.len() - 4])),
                );
            }
            continue;
        };
        let digits = stem.split('_').next().unwrap_or("");
        let version = digits.parse::<i64>().ok().filter(|_| digits.bytes().all(|b| b.is_ascii_digit()));
        let fail = |message: String, help: &str| {
            Diagnostic::error(Kind::DataError, message).at(Location::file(&shown)).help(help.to_owned())
        };
        let Some(version) = version else {
            diagnostics.push(fail(
                format!("`{shown}` is not named after a migration's version"),
                "name a fixture after the version it loads after: `3.sql` or `3_pets.sql`",
            ));
            continue;
        };
        if !migrations.iter().any(|m| m.version == version) {
            diagnostics.push(fail(
                format!("`{shown}` is for version {version}, and there is no migration {version}"),
                "rename it to the version of the migration after which its rows belong",
            ));
            continue;
        }
        if !path.is_file() {
            diagnostics.push(fail(format!("`{shown}` is not a file"), "make the fixture a plain file"));
            continue;
        }
        let text = match fs::read(&path).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                diagnostics.push(
                    Diagnostic::error(Kind::InvalidText, format!("`{shown}` is not UTF-8 text"))
                        .at(Location::file(&shown))
                        .help("save it as UTF-8"),
                );
                continue;
            }
            Err(e) => {
                diagnostics.push(
                    Diagnostic::error(Kind::Io, format!("cannot read `{shown}`: {e}")).at(Location::file(&shown)),
                );
                continue;
            }
        };
        if data.fixtures.contains_key(&version) {
            diagnostics.push(fail(
                format!("`{shown}` is a second fixture for version {version}"),
                "keep one fixture file per version",
            ));
            continue;
        }
        let file = SourceFile {
            path: path.clone(),
            display: shown,
            checksum: checksum::checksum(text.as_bytes()),
            text,
            analysis: Default::default(),
        };
        let sql = file.text[file.bom_len()..].to_owned();
        let fills = inserts(&sql).into_iter().map(|(t, at)| (t, at + file.bom_len())).collect::<Vec<_>>();
        data.fixture_tables.extend(fills.iter().map(|(t, _)| t.clone()));
        data.fixtures.insert(
            version,
            Fixture { script: Script { file, sql, mode: Mode::Transaction, allow: Default::default() }, fills },
        );
    }
    data
}

/// The tables `INSERT INTO` (or `REPLACE INTO`) statements of `sql` fill,
/// each with the offset of its first such statement.
fn inserts(sql: &str) -> Vec<(String, usize)> {
    let tokens = tokens::tokenize(sql);
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut start = None;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_word("insert") || t.is_word("replace") {
            start = start.or(Some(t.span.start));
        }
        if t.is_punct(";") {
            start = None;
        }
        if t.is_word("into")
            && let (Some(at), Some(name)) = (start, name_at(&tokens, i + 1))
            && !out.iter().any(|(n, _)| *n == name)
        {
            out.push((name, at));
        }
    }
    out
}

/// The (unqualified) object name starting at token `i`: `t`, `main.t`, `"s"."t"`.
fn name_at(tokens: &[Token], mut i: usize) -> Option<String> {
    let mut name = None;
    while let Some(t) = tokens.get(i) {
        if t.kind != tokens::Kind::Word {
            break;
        }
        name = Some(t.text.clone());
        if tokens.get(i + 1).is_some_and(|p| p.is_punct(".")) {
            i += 2;
        } else {
            break;
        }
    }
    name
}

/// Every word of `sql` (identifiers and keywords, lower case).
fn words(tokens: &[Token], into: &mut BTreeSet<String>) {
    for t in tokens {
        if t.kind == tokens::Kind::Word {
            into.insert(t.text.clone());
        }
    }
}

/// The tables `sql` deletes from, updates, truncates or replaces rows of on
/// purpose (lower case).
fn changed_on_purpose(tokens: &[Token]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        let skip = |from: usize, noise: &[&str]| {
            let mut j = from;
            while tokens.get(j).is_some_and(|t| noise.iter().any(|n| t.is_word(n))) {
                j += 1;
            }
            j
        };
        let at = if t.is_word("delete") && tokens.get(i + 1).is_some_and(|n| n.is_word("from")) {
            Some(skip(i + 2, &["only"]))
        } else if t.is_word("update")
            && !i
                .checked_sub(1)
                .and_then(|p| tokens.get(p))
                .is_some_and(|p| ["on", "after", "before", "instead", "for", "of"].iter().any(|w| p.is_word(w)))
        {
            Some(skip(i + 1, &["or", "rollback", "abort", "replace", "fail", "ignore", "only"]))
        } else if t.is_word("truncate") {
            // TRUNCATE [TABLE] [ONLY] a, b
            let mut j = skip(i + 1, &["table", "only"]);
            while let Some(name) = name_at(tokens, j) {
                out.insert(name);
                while tokens.get(j).is_some_and(|t| !t.is_punct(",") && !t.is_punct(";")) {
                    j += 1;
                }
                if !tokens.get(j).is_some_and(|t| t.is_punct(",")) {
                    break;
                }
                j += 1;
            }
            None
        } else if t.is_word("replace") && tokens.get(i + 1).is_some_and(|n| n.is_word("into")) {
            Some(i + 2)
        } else {
            None
        };
        if let Some(name) = at.and_then(|j| name_at(tokens, j)) {
            out.insert(name);
        }
    }
    out
}

/// The names after `DROP TABLE [IF EXISTS]` in `sql` (lower case).
fn dropped(tokens: &[Token]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_word("drop") && tokens.get(i + 1).is_some_and(|n| n.is_word("table")) {
            let mut j = i + 2;
            if tokens.get(j).is_some_and(|t| t.is_word("if")) && tokens.get(j + 1).is_some_and(|t| t.is_word("exists"))
            {
                j += 2;
            }
            if let Some(name) = name_at(tokens, j) {
                out.insert(name);
            }
        }
    }
    out
}

/// The tables `tokens` drops or renames (both names of a rename), with the
/// renames as (from, to): where a foreign key may be left pointing at a
/// table that is gone.
pub(crate) fn dropped_or_renamed(tokens: &[Token]) -> (BTreeSet<String>, Vec<(String, String)>) {
    let mut names = dropped(tokens);
    let mut renames = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !(t.is_word("alter") && tokens.get(i + 1).is_some_and(|n| n.is_word("table"))) {
            continue;
        }
        let mut j = i + 2;
        if tokens.get(j).is_some_and(|t| t.is_word("if")) && tokens.get(j + 1).is_some_and(|t| t.is_word("exists")) {
            j += 2;
        }
        let Some(from) = name_at(tokens, j) else { continue };
        // Past the (possibly qualified) name: `RENAME TO <new>`.
        let mut k = j + 1;
        while tokens.get(k).is_some_and(|t| t.is_punct(".")) {
            k += 2;
        }
        if tokens.get(k).is_some_and(|t| t.is_word("rename"))
            && tokens.get(k + 1).is_some_and(|t| t.is_word("to"))
            && let Some(to) = name_at(tokens, k + 2)
        {
            names.insert(from.clone());
            names.insert(to.clone());
            renames.push((from, to));
        }
    }
    (names, renames)
}

/// The tables `tokens` drops and creates again under the same name
/// (`DROP TABLE smtp; CREATE TABLE smtp (…)`): the drop it is, whose rows go
/// on purpose, not a loss. (SQLite's rebuild procedure creates another name
/// and renames it: its rows are compared.)
fn recreated(tokens: &[Token]) -> BTreeSet<String> {
    let mut created = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        let mut j = i + 1;
        if tokens.get(j).is_some_and(|n| n.is_word("temp") || n.is_word("temporary") || n.is_word("unlogged")) {
            j += 1;
        }
        if !(t.is_word("create") && tokens.get(j).is_some_and(|n| n.is_word("table"))) {
            continue;
        }
        j += 1;
        if tokens.get(j).is_some_and(|t| t.is_word("if")) && tokens.get(j + 2).is_some_and(|t| t.is_word("exists")) {
            j += 3;
        }
        created.extend(name_at(tokens, j));
    }
    dropped(tokens).intersection(&created).cloned().collect()
}

/// Whether `sql` holds a statement that can lose or change rows already
/// there: `DROP TABLE` or a dropped column, `DELETE`, `UPDATE`, `TRUNCATE`,
/// `REPLACE INTO`, a column type change. A file without one only adds
/// (tables, columns, indexes, rows, views, triggers, whose bodies run later):
/// there is nothing to compare before and after it.
fn may_lose(tokens: &[Token]) -> bool {
    let word = |i: usize| tokens.get(i).filter(|t| t.kind == tokens::Kind::Word).map(|t| t.text.as_str());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let before = i.checked_sub(1).and_then(word);
        // A trigger's body runs later, on rows written then: skip to its END.
        if t.is_word("trigger") && matches!(before, Some("create" | "temp" | "temporary")) {
            while i < tokens.len() && !(tokens[i].is_word("end") && tokens.get(i + 1).is_none_or(|n| n.is_punct(";"))) {
                i += 1;
            }
            i += 1;
            continue;
        }
        let risky = match t.text.as_str() {
            _ if t.kind != tokens::Kind::Word => false,
            "drop" => !matches!(
                word(i + 1),
                Some(
                    "index"
                        | "view"
                        | "trigger"
                        | "default"
                        | "not"
                        | "constraint"
                        | "sequence"
                        | "type"
                        | "function"
                        | "extension"
                        | "schema"
                )
            ),
            "delete" => word(i + 1) == Some("from"),
            "update" => !matches!(before, Some("on" | "after" | "before" | "instead" | "for" | "of")),
            "replace" => word(i + 1) == Some("into"),
            "truncate" | "using" => true,
            "type" => !matches!(before, Some("create" | "drop" | "alter") | None),
            _ => false,
        };
        if risky {
            return true;
        }
        i += 1;
    }
    false
}

/// What one migration touches, read before its up runs.
pub(crate) struct Watch {
    /// Every word of the up and down files.
    named: BTreeSet<String>,
    /// The tables (lower case) whose rows may change on purpose: those the up
    /// deletes from, updates or truncates, and the tables referencing them.
    on_purpose: BTreeSet<String>,
    /// The tables (lower case) the down deletes from, updates or truncates,
    /// and the tables referencing them: not compared after the down.
    down_on_purpose: BTreeSet<String>,
    /// The rows, before the up, of the tables the migration names that exist
    /// and of the tables referencing those it drops or deletes from (rows a
    /// cascade reaches); empty for a migration that only adds.
    before: Vec<(String, Contents)>,
    /// The same tables after the up (`None`: gone).
    after_up: Vec<Option<Contents>>,
    /// A retry without rows emptied the tables: nothing to compare.
    pub cleared: bool,
}

impl Watch {
    /// Reads what `m` touches before it runs.
    pub fn before<E: Engine>(engine: &mut E, m: &Migration, up: &[Token]) -> Result<Watch, Diagnostic> {
        let down = m.down.as_ref().map(|d| tokens::tokenize(&d.sql)).unwrap_or_default();
        let mut named = BTreeSet::new();
        words(up, &mut named);
        words(&down, &mut named);
        let risky = may_lose(up) || may_lose(&down);
        let mut watch = Watch {
            named,
            on_purpose: BTreeSet::new(),
            down_on_purpose: BTreeSet::new(),
            before: Vec::new(),
            after_up: Vec::new(),
            cleared: false,
        };
        if !risky {
            return Ok(watch);
        }
        let present = engine.tables(Some(&watch.named))?;
        let mut targets = changed_on_purpose(up);
        targets.extend(recreated(up));
        // The down's own deletes and updates (a down that deletes the rows
        // its up inserted, `DELETE FROM roles`) are on purpose for the round
        // trip.
        let down_targets = changed_on_purpose(&down);
        let mut reached = targets.clone();
        reached.extend(down_targets.iter().cloned());
        reached.extend(dropped(up));
        reached.extend(dropped(&down));
        let mut watched = present.clone();
        for table in &present {
            let lower = table.to_lowercase();
            if !reached.contains(&lower) {
                continue;
            }
            let children = engine.children(table)?;
            if targets.contains(&lower) {
                watch.on_purpose.insert(lower.clone());
                watch.on_purpose.extend(children.iter().map(|c| c.to_lowercase()));
            }
            if down_targets.contains(&lower) {
                watch.down_on_purpose.insert(lower);
                watch.down_on_purpose.extend(children.iter().map(|c| c.to_lowercase()));
            }
            for child in children {
                if !watched.iter().any(|w| w.eq_ignore_ascii_case(&child)) {
                    watched.push(child);
                }
            }
        }
        for table in watched {
            let contents = engine.contents(&table)?;
            watch.before.push((table, contents));
        }
        Ok(watch)
    }

    /// After the up: rows and values that vanished are `data-loss` warnings.
    pub fn after_up<E: Engine>(
        &mut self,
        engine: &mut E,
        m: &Migration,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), Diagnostic> {
        if self.cleared || self.before.is_empty() {
            return Ok(());
        }
        let names: BTreeSet<String> = self.before.iter().map(|(t, _)| t.to_lowercase()).collect();
        let now: BTreeSet<String> = engine.tables(Some(&names))?.into_iter().map(|t| t.to_lowercase()).collect();
        for (table, before) in &self.before {
            let after = if now.contains(&table.to_lowercase()) { Some(engine.contents(table)?) } else { None };
            if let Some(after) = &after
                && !self.on_purpose.contains(&table.to_lowercase())
                && let Some(d) = loss(&m.up, table, before, after)
            {
                warnings.push(d.version(m.version));
            }
            self.after_up.push(after);
        }
        Ok(())
    }

    /// After the down: every row the up started from and kept as it was must
    /// be back, on the columns the up kept.
    pub fn after_down<E: Engine>(&self, engine: &mut E, down: &Script) -> Result<(), Diagnostic> {
        if self.cleared || self.before.is_empty() {
            return Ok(());
        }
        let names: BTreeSet<String> = self.before.iter().map(|(t, _)| t.to_lowercase()).collect();
        let now: BTreeSet<String> = engine.tables(Some(&names))?.into_iter().map(|t| t.to_lowercase()).collect();
        for ((table, before), after_up) in self.before.iter().zip(&self.after_up) {
            let Some(after_up) = after_up else { continue };
            let lower = table.to_lowercase();
            if before.rows.is_empty()
                || self.on_purpose.contains(&lower)
                || self.down_on_purpose.contains(&lower)
                || !now.contains(&lower)
            {
                continue;
            }
            let back = engine.contents(table)?;
            let kept: Vec<&String> =
                before.columns.iter().filter(|c| after_up.column(c).is_some() && back.column(c).is_some()).collect();
            if kept.is_empty() {
                continue;
            }
            let project = |c: &Contents| -> Vec<Vec<Option<String>>> {
                let at: Vec<usize> = kept.iter().filter_map(|k| c.column(k)).collect();
                c.rows.iter().map(|r| at.iter().map(|&i| r[i].clone()).collect()).collect()
            };
            // Rows the up changed on the kept columns cannot be asked back;
            // the rows it kept as they were must come back.
            let before_rows = project(before);
            let changed = missing(&before_rows, &project(after_up));
            let kept_rows = missing(&before_rows, &changed);
            let lost = missing(&kept_rows, &project(&back));
            if let Some(first) = lost.first() {
                let shown = Contents { columns: kept.iter().map(|c| c.to_string()).collect(), rows: Vec::new() };
                let n = lost.len();
                let total = before.rows.len();
                return Err(Diagnostic::error(
                    Kind::DownDataMismatch,
                    format!(
                        "`{}` does not give back {n} of the {total} row{} of `{table}` its up migration started from",
                        down.file.file_name(),
                        plural(total)
                    ),
                )
                .at(mention(down, table))
                .note(format!("one of them: {}", shown.show(first)))
                .note("each reversible migration runs up and down on tables holding rows; the down must restore them, on the columns the up kept")
                .help("make the down copy the rows back (a table rebuild's `INSERT … SELECT` must take every row), or drop the down if the migration cannot be undone"));
            }
        }
        Ok(())
    }

    /// The words of the migration (to tell which tables it creates).
    pub fn named(&self) -> &BTreeSet<String> {
        &self.named
    }
}

/// The rows of `before` that `after` lacks, as a multiset difference.
fn missing(before: &[Vec<Option<String>>], after: &[Vec<Option<String>>]) -> Vec<Vec<Option<String>>> {
    let mut left: BTreeMap<&Vec<Option<String>>, usize> = BTreeMap::new();
    for row in after {
        *left.entry(row).or_default() += 1;
    }
    let mut out = Vec::new();
    for row in before {
        match left.get_mut(row) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(row.clone()),
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The `data-loss` warning for `table`, if rows or values vanished.
fn loss(up: &Script, table: &str, before: &Contents, after: &Contents) -> Option<Diagnostic> {
    let help = "copy every row and column across (a table rebuild's `INSERT INTO new SELECT … FROM old` must take them all); \
                if the loss is intended, add `-- migcheck: allow data-loss` on the first line";
    let note =
        "each migration runs on tables holding rows; rows and values present before it must still be there after it";
    let (n0, n1) = (before.rows.len(), after.rows.len());
    if n1 < n0 {
        let common: Vec<&String> = before.columns.iter().filter(|c| after.column(c).is_some()).collect();
        let project = |c: &Contents| -> Vec<Vec<Option<String>>> {
            let at: Vec<usize> = common.iter().filter_map(|k| c.column(k)).collect();
            c.rows.iter().map(|r| at.iter().map(|&i| r[i].clone()).collect()).collect()
        };
        let shown = Contents { columns: common.iter().map(|c| c.to_string()).collect(), rows: Vec::new() };
        let mut d = Diagnostic::warning(
            Kind::DataLoss,
            format!("`{}` loses {} of the {n0} row{} of `{table}`", up.file.file_name(), n0 - n1, plural(n0)),
        )
        .at(mention(up, table))
        .note(format!("rows in: {n0}, rows out: {n1}"));
        if let Some(row) = missing(&project(before), &project(after)).first() {
            d = d.note(format!("one of them: {}", shown.show(row)));
        }
        return Some(d.note(note).help(help));
    }
    for (i, column) in before.columns.iter().enumerate() {
        let Some(j) = after.column(column) else { continue };
        let (v0, v1) = (before.values(i), after.values(j));
        if v1 < v0 {
            let example = before
                .rows
                .iter()
                .filter_map(|r| r[i].as_ref())
                .find(|v| !after.rows.iter().any(|a| a[j].as_ref() == Some(*v)));
            let mut d = Diagnostic::warning(
                Kind::DataLoss,
                format!(
                    "`{}` loses {} of the {v0} value{} of `{table}.{column}`: NULL after it",
                    up.file.file_name(),
                    v0 - v1,
                    plural(v0)
                ),
            )
            .at(find_mention(up, column).unwrap_or_else(|| mention(up, table)));
            if let Some(v) = example {
                d = d.note(format!("one of them: {v}"));
            }
            return Some(d.note(note).help(help));
        }
    }
    None
}

/// Where `script` first names `name` (the statement a reader should look
/// at), or the whole file.
pub(crate) fn mention(script: &Script, name: &str) -> Location {
    find_mention(script, name).unwrap_or_else(|| Location::file(&script.file.display))
}

pub(crate) fn find_mention(script: &Script, name: &str) -> Option<Location> {
    let lower = name.to_lowercase();
    let offset = script.offset();
    let t = tokens::tokenize(&script.sql).into_iter().find(|t| t.is_word(&lower))?;
    Some(Location::span(
        &script.file.display,
        &script.file.text,
        t.span.start + offset..t.span.end + offset,
        format!("the first statement naming `{name}`"),
    ))
}

/// How a file failed with rows and ran without them, for its diagnostic.
pub(crate) enum Cause {
    /// The synthetic rows made it fail.
    Synthetic,
    /// The fixtures' rows made it fail.
    Fixtures,
}

/// The diagnostic for a file that failed with rows (`err`) and runs
/// without the rows of `cause`.
pub(crate) fn data_failure(
    err: Diagnostic,
    script: &Script,
    cause: Cause,
    culprits: Vec<String>,
    data: &Data,
    before_version: i64,
    watch: &Watch,
) -> Diagnostic {
    let sql_message =
        err.message.strip_prefix("SQL fails on the scratch database: ").unwrap_or(&err.message).to_owned();
    let timed_out = err.kind == Kind::Timeout;
    let mut d = err;
    d.notes.retain(|n| !n.starts_with("each migration runs on"));
    // The tables the rows behind the failure belong to (`pets` in
    // "`pets` (id = 1, …)"), when they are known.
    let culprit_tables: BTreeSet<String> =
        culprits.iter().filter_map(|c| c.strip_prefix('`')?.split('`').next()).map(str::to_lowercase).collect();
    for row in culprits {
        d.notes.push(format!("a row that makes it fail: {row}"));
    }
    match cause {
        Cause::Synthetic => {
            d.kind = Kind::DataDependent;
            d.severity = Severity::Warning;
            d.message = if timed_out {
                format!(
                    "`{}` runs past the time bound when its tables hold rows; on empty tables it finishes",
                    script.file.file_name()
                )
            } else {
                format!("`{}` fails when its tables hold rows: {sql_message}", script.file.file_name())
            };
            d.notes.push(
                "it runs on empty tables; with the synthetic rows migcheck puts in every table, as a production database would hold, it fails"
                    .into(),
            );
            d.help = Some(
                "fix the rows before the statement (an `UPDATE` backfill, deleting duplicates), give a new NOT NULL column a DEFAULT, \
                 or add a constraint in two steps; if production cannot hold such rows, add `-- migcheck: allow data-dependent` on the first line"
                    .into(),
            );
        }
        Cause::Fixtures => {
            d.kind = Kind::DataError;
            d.severity = Severity::Error;
            d.message = format!("`{}` fails on the fixtures' rows: {sql_message}", script.file.file_name());
            for (version, f) in data.fixtures.range(..before_version) {
                for (table, at) in &f.fills {
                    let relevant = if culprit_tables.is_empty() {
                        watch.named.contains(table)
                    } else {
                        culprit_tables.contains(table)
                    };
                    if relevant {
                        let (line, _) = lexer::line_column(&f.script.file.text, *at);
                        d.notes.push(format!(
                            "the rows of `{table}` come from `{}` line {line} (loaded after version {version})",
                            f.script.file.display
                        ));
                    }
                }
            }
            d.help = Some(
                "the fixtures stand for production data: make the migration work on these rows, or change the fixture if production cannot hold them"
                    .into(),
            );
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_only_add_cannot_lose_rows() {
        for sql in [
            "CREATE TABLE t (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id) ON DELETE CASCADE ON UPDATE SET NULL);",
            "ALTER TABLE t ADD COLUMN c INTEGER NOT NULL DEFAULT 0; CREATE INDEX i ON t (c); DROP INDEX old;",
            "CREATE TRIGGER tr AFTER UPDATE OF name ON t BEGIN\n  UPDATE t SET note = 'x'; DELETE FROM u;\nEND;\nINSERT INTO t (name) VALUES ('a');",
            "CREATE OR REPLACE VIEW v AS SELECT replace(name, 'a', 'b') FROM t; CREATE TYPE mood AS ENUM ('ok'); DROP VIEW w;",
            "ALTER TABLE t RENAME TO u; ALTER TABLE u RENAME COLUMN a TO b; ALTER TABLE u ALTER COLUMN b DROP NOT NULL;",
        ] {
            assert!(!may_lose(&tokens::tokenize(sql)), "{sql}");
        }
        for sql in [
            "DROP TABLE t;",
            "ALTER TABLE t DROP COLUMN c;",
            "ALTER TABLE t DROP c;",
            "DELETE FROM t;",
            "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; UPDATE t SET a = 1;",
            "INSERT OR REPLACE INTO t VALUES (1);",
            "TRUNCATE t;",
            "ALTER TABLE t ALTER COLUMN c TYPE integer USING c::integer;",
            "ALTER TABLE t ALTER COLUMN c SET DATA TYPE bigint;",
        ] {
            assert!(may_lose(&tokens::tokenize(sql)), "{sql}");
        }
    }

    #[test]
    fn rows_changed_on_purpose_and_tables_dropped() {
        let sql = "DELETE FROM main.a WHERE x; UPDATE OR IGNORE \"B\" SET y = 1; TRUNCATE TABLE c, d; REPLACE INTO e VALUES (1);\n\
                   CREATE TABLE f (p REFERENCES g ON DELETE CASCADE ON UPDATE CASCADE);";
        let found: Vec<String> = changed_on_purpose(&tokens::tokenize(sql)).into_iter().collect();
        assert_eq!(found, ["a", "b", "c", "d", "e"]);
        let found: Vec<String> =
            dropped(&tokens::tokenize("DROP TABLE IF EXISTS x; DROP INDEX y; drop table \"Z\";")).into_iter().collect();
        assert_eq!(found, ["x", "z"]);
        assert_eq!(
            inserts(
                "-- rows\nINSERT INTO a VALUES (1);\nINSERT OR IGNORE INTO main.b SELECT 1;\nINSERT INTO a VALUES (2);"
            ),
            [("a".to_owned(), 8), ("b".to_owned(), 34)]
        );
    }
}
