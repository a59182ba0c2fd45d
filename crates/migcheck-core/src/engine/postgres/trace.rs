//! Deployment hazards measured on the PostgreSQL scratch database: each
//! statement of an up migration runs alone, and after it the backend's locks
//! (`pg_locks`), the relations' storage (`relfilenode`) and the validated
//! constraints are read back, inside the migration's transaction.
//!
//! Only relations that existed before the migration count: in production
//! they hold data and serve queries; what the migration creates does not.
//! For each statement and existing table, one finding, the most specific:
//!
//! - `index-not-concurrent`: an index built or dropped without
//!   `CONCURRENTLY` on an existing table;
//! - `validating-constraint`: a foreign key or CHECK added valid (scanning the
//!   table under its lock);
//! - `table-rewrite`: the table's (or an index's) storage was rewritten;
//! - `blocking-lock`: an ACCESS EXCLUSIVE, EXCLUSIVE, SHARE ROW EXCLUSIVE or
//!   SHARE lock was taken on it;
//!
//! and once per file, `no-lock-timeout` when such a lock was taken while
//! `lock_timeout` was 0. A file that runs outside a transaction
//! (`no-transaction`) holds each lock only for its statement: there the
//! rewrites and the indexes are measured, the locks are not.

use std::collections::{BTreeMap, BTreeSet};

use super::rows::literal;
use super::wire::{Client, PgError};
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::StatementTrace;
use crate::lexer;
use crate::model::{Mode, Script};

/// The codes measured here.
pub(crate) const CODES: &[&str] =
    &["table-rewrite", "blocking-lock", "validating-constraint", "index-not-concurrent", "no-lock-timeout"];

/// A relation that existed before the migration.
#[derive(Debug, Clone)]
struct Relation {
    name: String,
    /// `r`/`p` table, `i` index, `m` materialized view.
    kind: char,
    /// For an index, its table's oid.
    table: Option<u32>,
}

/// What one trace query read.
#[derive(Debug, Default)]
struct State {
    /// (relation oid, lock mode) held by this backend.
    locks: BTreeSet<(u32, String)>,
    /// relation oid → relfilenode, for the relations that existed before.
    filenodes: BTreeMap<u32, String>,
    /// (table oid, constraint name) of foreign keys and CHECKs, valid or not.
    constraints: BTreeSet<(u32, String)>,
    /// Those of them that are validated.
    validated: BTreeSet<(u32, String)>,
    /// (index oid, table oid) of every index on an existing table.
    indexes: BTreeSet<(u32, u32)>,
    /// table oid → scans of it in this transaction (sequential and index).
    scans: BTreeMap<u32, u64>,
    /// Scans and rows written in the relations that existed before and that
    /// the file names, in this transaction (work on a table the migration
    /// created is no work in production, where it is empty).
    work: u64,
    /// Rows inserted, updated and deleted in those relations (`explain`'s
    /// rows: scans are not rows).
    written: u64,
    /// `lock_timeout` is 0.
    no_lock_timeout: bool,
}

const USER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// The relations that existed before the file and that it names (`words`),
/// with the indexes of the tables it names and the tables of the indexes it
/// names: all a statement can lock, rewrite or scan.
fn existing(client: &mut Client, words: &BTreeSet<String>) -> Result<BTreeMap<u32, Relation>, PgError> {
    if words.is_empty() {
        return Ok(BTreeMap::new());
    }
    let list = literal(&format!(
        "{{{}}}",
        words.iter().map(|w| format!("\"{}\"", w.replace('"', "\\\""))).collect::<Vec<_>>().join(",")
    ));
    let rows = client.query(&format!(
        "WITH named AS (
           SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'i', 'm') AND {USER} AND lower(c.relname) = ANY ({list}::text[])),
         relations AS (
           SELECT oid FROM named
           UNION SELECT x.indexrelid FROM pg_index x WHERE x.indrelid IN (SELECT oid FROM named)
           UNION SELECT x.indrelid FROM pg_index x WHERE x.indexrelid IN (SELECT oid FROM named))
         SELECT c.oid::text, CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
                c.relkind::text, x.indrelid::text
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index x ON x.indexrelid = c.oid
         WHERE c.oid IN (SELECT oid FROM relations)"
    ))?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let oid = r[0].as_deref()?.parse().ok()?;
            let relation = Relation {
                name: r[1].clone()?,
                kind: r[2].as_deref()?.chars().next()?,
                table: r[3].as_deref().and_then(|t| t.parse().ok()),
            };
            Some((oid, relation))
        })
        .collect())
}

fn state(client: &mut Client, before: &BTreeMap<u32, Relation>) -> Result<State, PgError> {
    let oids: Vec<String> = before.keys().map(u32::to_string).collect();
    let tables: Vec<String> = before.iter().filter(|(_, r)| r.kind != 'i').map(|(o, _)| o.to_string()).collect();
    let list = |v: &[String]| literal(&format!("{{{}}}", v.join(",")));
    let rows = client.query(&format!(
        "SELECT 'L', l.relation::text, l.mode FROM pg_locks l
           WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted AND l.relation = ANY ({o}::oid[])
         UNION ALL SELECT 'F', c.oid::text, c.relfilenode::text FROM pg_class c WHERE c.oid = ANY ({o}::oid[])
         UNION ALL SELECT CASE WHEN k.convalidated THEN 'V' ELSE 'C' END, k.conrelid::text, k.conname::text
           FROM pg_constraint k WHERE k.contype IN ('f', 'c') AND k.conrelid = ANY ({t}::oid[])
         UNION ALL SELECT 'I', x.indexrelid::text, x.indrelid::text FROM pg_index x WHERE x.indrelid = ANY ({t}::oid[])
         UNION ALL SELECT 'S', t::text, pg_stat_get_xact_numscans(t)::text FROM unnest ({t}::oid[]) t
         UNION ALL SELECT 'W', '', COALESCE(sum(pg_stat_get_xact_numscans(t) + pg_stat_get_xact_tuples_inserted(t)
             + pg_stat_get_xact_tuples_updated(t) + pg_stat_get_xact_tuples_deleted(t)), 0)::text
           FROM unnest ({o}::oid[]) t
         UNION ALL SELECT 'R', '', COALESCE(sum(pg_stat_get_xact_tuples_inserted(t)
             + pg_stat_get_xact_tuples_updated(t) + pg_stat_get_xact_tuples_deleted(t)), 0)::text
           FROM unnest ({t}::oid[]) t
         UNION ALL SELECT 'T', current_setting('lock_timeout'), ''",
        o = list(&oids),
        t = list(&tables),
    ))?;
    let mut s = State::default();
    for r in rows {
        let get = |i: usize| r[i].clone().unwrap_or_default();
        let oid = || get(1).parse::<u32>().ok();
        match get(0).as_str() {
            "L" => s.locks.extend(oid().map(|o| (o, get(2)))),
            "F" => s.filenodes.extend(oid().map(|o| (o, get(2)))),
            "C" => s.constraints.extend(oid().map(|o| (o, get(2)))),
            "V" => {
                s.constraints.extend(oid().map(|o| (o, get(2))));
                s.validated.extend(oid().map(|o| (o, get(2))));
            }
            "I" => s.indexes.extend(oid().zip(get(2).parse::<u32>().ok())),
            "S" => s.scans.extend(oid().zip(get(2).parse::<u64>().ok())),
            "W" => s.work = get(2).parse().unwrap_or(0),
            "R" => s.written = get(2).parse().unwrap_or(0),
            "T" => s.no_lock_timeout = matches!(get(1).as_str(), "0" | "0ms" | "0s"),
            _ => {}
        }
    }
    Ok(s)
}

/// What a lock mode blocks, for the messages; `None` for the modes that
/// leave reads and writes alone.
fn blocks(mode: &str) -> Option<(&'static str, &'static str)> {
    match mode {
        "AccessExclusiveLock" => Some(("an ACCESS EXCLUSIVE", "reads and writes")),
        "ExclusiveLock" => Some(("an EXCLUSIVE", "writes (and reads that lock rows)")),
        "ShareRowExclusiveLock" => Some(("a SHARE ROW EXCLUSIVE", "writes")),
        "ShareLock" => Some(("a SHARE", "writes")),
        _ => None,
    }
}

/// The modes, weakest first.
const MODES: [(&str, &str); 8] = [
    ("AccessShareLock", "ACCESS SHARE"),
    ("RowShareLock", "ROW SHARE"),
    ("RowExclusiveLock", "ROW EXCLUSIVE"),
    ("ShareUpdateExclusiveLock", "SHARE UPDATE EXCLUSIVE"),
    ("ShareLock", "SHARE"),
    ("ShareRowExclusiveLock", "SHARE ROW EXCLUSIVE"),
    ("ExclusiveLock", "EXCLUSIVE"),
    ("AccessExclusiveLock", "ACCESS EXCLUSIVE"),
];

/// The strongest lock taken on each table (indexes left out), as
/// `ACCESS EXCLUSIVE on users`.
fn strongest<'a>(locks: impl Iterator<Item = &'a (u32, String)>, before: &BTreeMap<u32, Relation>) -> Vec<String> {
    let mut by_table: BTreeMap<&str, usize> = BTreeMap::new();
    for (oid, mode) in locks {
        let Some(relation) = before.get(oid).filter(|r| r.kind != 'i') else { continue };
        let rank = MODES.iter().position(|(m, _)| m == mode).unwrap_or(0);
        let entry = by_table.entry(relation.name.as_str()).or_insert(rank);
        *entry = (*entry).max(rank);
    }
    by_table.into_iter().map(|(name, rank)| format!("{} on {name}", MODES[rank].1)).collect()
}

/// Runs `script` statement by statement, measuring each; findings go to
/// `warnings`. Errors are located as `run::run_script` locates them.
pub(crate) fn run(
    client: &mut Client,
    script: &Script,
    warnings: &mut Vec<Diagnostic>,
    located: impl Fn(usize, &str, PgError) -> Diagnostic,
) -> Result<(), Diagnostic> {
    run_traced(client, script, warnings, None, located)
}

/// [`run`], and with `traces`, what each statement did (every statement
/// measured), for `migcheck explain`.
pub(crate) fn run_traced(
    client: &mut Client,
    script: &Script,
    warnings: &mut Vec<Diagnostic>,
    mut traces: Option<&mut Vec<StatementTrace>>,
    located: impl Fn(usize, &str, PgError) -> Diagnostic,
) -> Result<(), Diagnostic> {
    let fail = |e: PgError| located(0, "", e);
    let words: BTreeSet<String> = crate::schema::tokens::tokenize(&script.sql)
        .into_iter()
        .filter(|t| t.kind == crate::schema::tokens::Kind::Word)
        .map(|t| t.text)
        .collect();
    let before = existing(client, &words).map_err(fail)?;
    // Only a statement that names a relation that existed can lock, rewrite
    // or scan one (a foreign key names its parent, a DROP INDEX its index):
    // the others run without being measured, and a file with none of them
    // runs as it would untraced.
    let names: BTreeSet<String> =
        before.values().map(|r| r.name.rsplit('.').next().unwrap_or(&r.name).to_lowercase()).collect();
    let statements: Vec<(std::ops::Range<usize>, bool)> = lexer::postgres_statements(&script.sql)
        .into_iter()
        .map(|range| {
            let touches = crate::schema::tokens::tokenize(&script.sql[range.clone()])
                .iter()
                .any(|t| t.kind == crate::schema::tokens::Kind::Word && names.contains(&t.text));
            (range, touches)
        })
        .collect();
    let explaining = traces.is_some();
    if !explaining && !statements.iter().any(|(_, touches)| *touches) {
        return super::run::run_script(client, script);
    }
    let in_transaction = script.mode == Mode::Transaction;
    // `lock_timeout` must be set by the migration itself, not left by an
    // earlier one in the same session.
    client.query(if in_transaction { "RESET lock_timeout; BEGIN" } else { "RESET lock_timeout" }).map_err(fail)?;
    let mut now = state(client, &before).map_err(fail)?;
    let mut unguarded: Option<std::ops::Range<usize>> = None;
    // The existing tables locked while `lock_timeout` was unset.
    let mut unguarded_tables: BTreeSet<String> = BTreeSet::new();
    let mut found: Vec<(std::ops::Range<usize>, (Kind, String, String))> = Vec::new();
    // Blocking locks taken and not reported yet: (statement, lock, what it blocks).
    let mut pending: BTreeMap<u32, (std::ops::Range<usize>, &str, &str)> = BTreeMap::new();
    for (range, touches) in statements {
        let statement = &script.sql[range.clone()];
        let started = std::time::Instant::now();
        if let Err(e) = client.query(statement) {
            let _ = client.query("ROLLBACK");
            return Err(located(range.start, statement, e));
        }
        let elapsed = started.elapsed();
        if !touches && !explaining {
            continue;
        }
        let next = state(client, &before).map_err(fail)?;
        if let Some(traces) = traces.as_deref_mut() {
            let start = range.start + script.offset();
            traces.push(StatementTrace {
                line: lexer::line_column(&script.file.text, start).0,
                statement: statement.trim_start().lines().next().unwrap_or("").to_owned(),
                locks: strongest(next.locks.difference(&now.locks), &before),
                rewritten: next
                    .filenodes
                    .iter()
                    .filter(|(oid, node)| now.filenodes.get(oid) != Some(node))
                    .filter_map(|(oid, _)| before.get(oid).map(|r| r.name.clone()))
                    .collect(),
                rows: next.written.saturating_sub(now.written),
                elapsed,
            });
        }
        let statement_tokens = crate::schema::tokens::tokenize(statement);
        let concurrently = statement_tokens.iter().any(|t| t.is_word("concurrently"));
        // Only `DROP INDEX` can drop an index concurrently: the indexes a
        // dropped table, materialized view, column or constraint takes with
        // it are that statement's own business.
        let drops_index = statement_tokens.first().is_some_and(|t| t.is_word("drop"))
            && statement_tokens.get(1).is_some_and(|t| t.is_word("index"));
        let mut said: BTreeSet<u32> = BTreeSet::new();
        let mut counted = false;
        fn say(
            said: &mut BTreeSet<u32>,
            table: u32,
            kind: Kind,
            message: String,
            help: &str,
            found: &mut Vec<(Kind, String, String)>,
        ) {
            if said.insert(table) {
                found.push((kind, message, help.to_owned()));
            }
        }
        let mut statement_findings = Vec::new();
        // Indexes built or dropped on existing tables. A table whose
        // existing indexes the statement replaced (a column's type changed)
        // had them rebuilt with it: that is the rewrite's to say, and no
        // `CONCURRENTLY` can help.
        // (Any index it replaced: a second type change of the table
        // rebuilds the indexes the first one made.)
        let rebuilt: BTreeSet<u32> = now.indexes.difference(&next.indexes).map(|(_, table)| *table).collect();
        for (index, table) in next.indexes.difference(&now.indexes) {
            if !before.contains_key(index) && !concurrently && !rebuilt.contains(table) {
                let name = &before[table].name;
                say(
                    &mut said,
                    *table,
                    Kind::IndexNotConcurrent,
                    format!("builds an index on `{name}` without CONCURRENTLY, blocking writes to it while it builds"),
                    "build it with `CREATE INDEX CONCURRENTLY` in a file of its own marked `-- migcheck: no-transaction`",
                    &mut statement_findings,
                );
            }
        }
        for (index, table) in now.indexes.difference(&next.indexes) {
            if before.contains_key(index) && !concurrently && drops_index {
                let name = &before[table].name;
                say(
                    &mut said,
                    *table,
                    Kind::IndexNotConcurrent,
                    format!(
                        "drops index `{}` of `{name}` without CONCURRENTLY, under an ACCESS EXCLUSIVE lock on `{name}`",
                        before[index].name
                    ),
                    "drop it with `DROP INDEX CONCURRENTLY` in a file of its own marked `-- migcheck: no-transaction`",
                    &mut statement_findings,
                );
            }
        }
        // Constraints added valid: a scan of the table under its lock (a
        // constraint added NOT VALID and validated later is the recipe).
        for (table, constraint) in next.validated.difference(&now.constraints) {
            let name = &before[table].name;
            say(
                &mut said,
                *table,
                Kind::ValidatingConstraint,
                format!(
                    "adds constraint `{constraint}` to `{name}` and validates it at once, scanning the table while writes wait"
                ),
                "add it `NOT VALID` here, then `ALTER TABLE … VALIDATE CONSTRAINT` in a later migration (that takes a lock that lets writes through)",
                &mut statement_findings,
            );
        }
        // Rewrites: a relation's storage replaced.
        for (oid, node) in &next.filenodes {
            let Some(relation) = before.get(oid) else { continue };
            if now.filenodes.get(oid) == Some(node) {
                continue;
            }
            let table = relation.table.unwrap_or(*oid);
            let rows = if relation.kind == 'i' {
                String::new()
            } else {
                counted = true;
                client
                    .query(&format!("SELECT count(*) FROM {}", super::rows::ident(&relation.name)))
                    .ok()
                    .and_then(|r| r.first().and_then(|r| r[0].clone()))
                    .map_or(String::new(), |n| format!(" ({n} row{} copied here)", if n == "1" { "" } else { "s" }))
            };
            let what = if relation.kind == 'i' { "index" } else { "table" };
            say(
                &mut said,
                table,
                Kind::TableRewrite,
                format!(
                    "rewrites {what} `{}`{rows} under an ACCESS EXCLUSIVE lock: reads and writes wait for the whole copy",
                    relation.name
                ),
                "avoid the rewrite: add a column without a volatile default (then backfill in batches), or change a type through a new column",
                &mut statement_findings,
            );
        }
        // Counting rows read the tables: measure again from here.
        let next = if counted { state(client, &before).map_err(fail)? } else { next };
        // Blocking locks on existing tables: a hazard when the table is
        // scanned under it, or when the lock is held while later statements
        // work (until the migration commits). A lock held for a change of
        // the catalog alone (a column added with a constant default) is
        // brief: only `lock_timeout` matters then.
        let scanned = |oid: &u32| next.scans.get(oid).copied().unwrap_or(0) > now.scans.get(oid).copied().unwrap_or(0);
        if next.work > now.work {
            for (table, (at, lock, what)) in std::mem::take(&mut pending) {
                found.push((
                    at,
                    (
                        Kind::BlockingLock,
                        format!(
                            "takes {lock} lock on `{}` and holds it while the statements after it work: {what} on it wait until the migration commits",
                            before[&table].name
                        ),
                        "take the lock last, just before the migration commits, or move the work to a migration of its own".to_owned(),
                    ),
                ));
            }
        }
        let mut took_lock = false;
        for (oid, mode) in next.locks.difference(&now.locks) {
            let Some(relation) = before.get(oid).filter(|r| r.kind != 'i') else { continue };
            let Some((lock, what)) = blocks(mode) else { continue };
            took_lock = true;
            if next.no_lock_timeout {
                unguarded_tables.insert(relation.name.clone());
            }
            // The lock of a relation the statement dropped is the drop's own
            // (it waits behind queries: `no-lock-timeout` still counts it);
            // what a drop breaks is `breaking-change`'s to say.
            if !next.filenodes.contains_key(oid) {
                continue;
            }
            if said.contains(oid) || pending.contains_key(oid) {
                continue;
            }
            if scanned(oid) {
                say(
                    &mut said,
                    *oid,
                    Kind::BlockingLock,
                    format!(
                        "takes {lock} lock on `{}` and scans it: {what} on it wait until the migration commits",
                        relation.name
                    ),
                    "do the scan under a weaker lock (`NOT VALID` then `VALIDATE CONSTRAINT`; a CHECK constraint validated before `SET NOT NULL`)",
                    &mut statement_findings,
                );
            } else if in_transaction {
                pending.insert(*oid, (range.clone(), lock, what));
            }
        }
        if (took_lock || !statement_findings.is_empty()) && next.no_lock_timeout && unguarded.is_none() {
            unguarded = Some(range.clone());
        }
        found.extend(statement_findings.into_iter().map(|f| (range.clone(), f)));
        now = next;
    }
    if in_transaction {
        client.query("COMMIT").map_err(fail)?;
    }
    let file = &script.file;
    let offset = script.offset();
    let at = |range: &std::ops::Range<usize>, label: &str| {
        let start = range.start + offset;
        let end = (range.end + offset).min(file.text.len());
        Location::span(&file.display, &file.text, start..end, label.to_owned())
    };
    for (range, (kind, message, help)) in found {
        warnings.push(
            Diagnostic::warning(kind, format!("`{}` {message}", file.file_name()))
                .at(at(&range, "measured on the scratch database"))
                .note("measured by running the statement on the scratch PostgreSQL database; in production the table holds data and serves queries")
                .help(help),
        );
    }
    if let Some(range) = unguarded {
        let tables: Vec<String> = unguarded_tables.iter().map(|t| format!("`{t}`")).collect();
        let on = match tables.len() {
            0 => String::new(),
            1 => format!(" on {}", tables[0]),
            _ => format!(" on {}", tables.join(", ")),
        };
        warnings.push(
            Diagnostic::warning(
                Kind::NoLockTimeout,
                format!("`{}` takes a blocking lock{on} with no `lock_timeout` set", file.file_name()),
            )
            .at(at(&range, "waits for its lock for as long as it takes"))
            .note("behind a long-running query it waits for its lock, and every query on the table queues behind it")
            .help("start the migration with `SET lock_timeout = '5s';` (and retry the deploy if it gives up)"),
        );
    }
    Ok(())
}
