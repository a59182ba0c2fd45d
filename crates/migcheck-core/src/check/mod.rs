//! The checks `cargo build` runs, as one function that returns a [`Report`].
//!
//! Order of work: scan the directory, read the lock, read each file's
//! directives, compare with the lock (edited, deleted, out of order, unsealed),
//! then run every migration on the sandboxed scratch database: up, and for a
//! reversible one down and up again. Static problems are all collected; running
//! stops at the first migration that fails, since the ones after it would run on
//! a schema it did not produce.

mod baseline;
mod breaking;
mod data;
mod history;
mod partial_ddl;
mod pipeline;
mod replay;
mod report;
mod scripts;

use std::path::Path;

use crate::checksum;

use crate::diagnostic::{Diagnostic, Kind, Severity};
use crate::engine::Engine;
use crate::engine::any::{AnyEngine, Job, with_engine};
use crate::engine::sqlite::SqliteEngine;
use crate::engine::sqlite::schema::Snapshot;
use crate::lock::{Lock, LockEntry};
use crate::memo::{Memo, MemoFile};
use crate::model::Analysis;
use crate::model::Dialect;
use crate::model::{CHAIN_START, Digest};
use crate::scan::{self, ScannedMigration, display_path};

use crate::model::Migration;

use crate::config::{Config, ScratchConfig};
use crate::schema::model::Model;
use report::Clock;
pub use report::Report;

/// Runs every check.
pub fn check(config: &Config) -> Report {
    let mut report = Report {
        migrations: Vec::new(),
        lock: Lock::default(),
        lock_ok: false,
        diagnostics: Vec::new(),
        executed: false,
        schema: None,
        declared: None,
        dialect: Dialect::Sqlite,
        scratch: config.scratch.clone(),
        from_cache: false,
        layout: crate::model::Layout::Native,
        fixtures: Vec::new(),
        prelude: None,
        accepted: Vec::new(),
        baseline: None,
        squashed: Vec::new(),
        head_url: None,
        lock_links: Vec::new(),
        timings: Vec::new(),
    };
    if !config.dir.is_dir() {
        let shown = display_path(&config.dir, &config.display_base);
        report.diagnostics.push(
            Diagnostic::error(Kind::MissingDirectory, format!("the migrations directory `{shown}` does not exist"))
                .help("create it with `migcheck init`, or point migcheck at yours (`Build::dir`, `--dir`, or the macro's argument)"),
        );
        return report;
    }
    let mut clock = Clock::start();
    let memo = config.cache_dir.as_deref().map(Memo::load).unwrap_or_default();
    let lock_text = history::read_lock(config, &mut report, &memo);
    report.dialect = config.dialect.or(report.lock.dialect).unwrap_or(Dialect::Sqlite);
    report.scratch = project_scratch(config, &report.lock);
    clock.lap(&mut report.timings, "lock");
    let lock_diagnostics: Vec<Diagnostic> = std::mem::take(&mut report.diagnostics);
    let layout = config.layout.or(report.lock.layout).unwrap_or_else(|| crate::layout::detect(&config.dir));
    report.layout = layout;
    let scanned = scan::scan_layout(&config.dir, &config.display_base, layout, report.lock.custom.as_ref(), &memo);
    clock.lap(&mut report.timings, "scan");
    let scan_failed = scanned.diagnostics.iter().any(Diagnostic::is_error);
    report.diagnostics.extend(scanned.diagnostics);
    report.diagnostics.extend(lock_diagnostics);

    let first_version = scanned.migrations.first().map(|m| m.version);
    // Files are read in the dialect's quoting (a PL/pgSQL body's `BEGIN`).
    let dialect = report.dialect;
    baseline::take(&mut report, scanned.baselines, first_version, dialect);
    // After a baseline whose replaced files were deleted, the chain goes on
    // from the lock's link at the baseline.
    let offset = report.squashed.len();
    let mut chain = report.squashed.last().map_or(CHAIN_START, |s| s.chain);
    let mut script_failed = false;
    for m in scanned.migrations {
        let ScannedMigration { version, description, up, down, up_part, down_part } = m;
        let up = scripts::script(up, &up_part, true, version, dialect, &mut report.diagnostics);
        let down = down.map(|d| scripts::script(d, &down_part, false, version, dialect, &mut report.diagnostics));
        let (Some(up), Some(down)) = (up, down.map_or(Some(None), |d| d.map(Some))) else {
            script_failed = true;
            continue;
        };
        let mut migration = Migration { version, description, up, down, chain: CHAIN_START, sealed: false };
        // While the migrations are the lock's entries, their chain is the lock's
        // (already verified): no need to hash the lines again.
        let i = offset + report.migrations.len();
        chain = match report.lock.entries.get(i) {
            Some(entry) if chain == history::link_before(&report.lock_links, i) && entry.seals(&migration) => {
                report.lock_links[i]
            }
            _ => checksum::chain(&chain, &LockEntry::of(&migration).to_line()),
        };
        migration.chain = chain;
        report.migrations.push(migration);
    }
    clock.lap(&mut report.timings, "scripts");
    if report.lock_ok {
        history::compare_with_lock(config, &scanned.broken_versions, &mut report);
        baseline::compare_with_lock(config, &mut report);
    }
    // An empty migration that is sealed is released as it is: saying so at
    // every build is noise (another tool's placeholder for a dialect, say).
    if !config.sealed_findings {
        let sealed: std::collections::BTreeSet<i64> =
            report.migrations.iter().filter(|m| m.sealed).map(|m| m.version).collect();
        report
            .diagnostics
            .retain(|d| !(d.kind == Kind::EmptyMigration && d.version.is_some_and(|v| sealed.contains(&v))));
    }
    clock.lap(&mut report.timings, "compare");
    if report.dialect == Dialect::Mysql {
        partial_ddl::check(&mut report, config.sealed_findings);
    }
    if config.execute {
        if scan_failed || script_failed {
            if let Some(first) = report.diagnostics.iter_mut().find(|d| d.is_error()) {
                first.notes.push("the SQL was not run on the scratch database because of this error".into());
            }
        } else {
            execute(config, &mut report);
            note_go_migrations(&mut report);
        }
    }
    clock.lap(&mut report.timings, "sql");
    if let Some(dir) = &config.cache_dir {
        remember(dir, &memo, &report, lock_text.as_deref());
    }
    clock.lap(&mut report.timings, "memo");
    settle(config, &mut report);
    if config.deny_warnings {
        for d in &mut report.diagnostics {
            if d.severity == Severity::Warning {
                d.severity = Severity::Error;
                d.notes.push("warnings are errors here (`deny_warnings`)".into());
            }
        }
    }
    report
}

/// The first error after a goose Go migration that did not run says so: the
/// schema it ran on lacks what the Go migration does.
fn note_go_migrations(report: &mut Report) {
    let go: Vec<(i64, String)> = report
        .diagnostics
        .iter()
        .filter(|d| d.kind == Kind::NotExecuted)
        .filter_map(|d| {
            let path = &d.location.as_ref()?.path;
            let name = path.rsplit('/').next()?.strip_suffix(".go")?;
            Some((d.version?, format!("{name}.go")))
        })
        .collect();
    let Some((first, _)) = go.first() else { return };
    if let Some(e) = report.diagnostics.iter_mut().find(|d| d.is_error() && d.version.is_some_and(|v| v > *first)) {
        let before: Vec<String> =
            go.iter().filter(|(v, _)| e.version.is_some_and(|ev| *v < ev)).map(|(_, n)| format!("`{n}`")).collect();
        e.notes.push(format!(
            "the Go migration{} {} before it did not run here: give {} an SQL stand-in if this depends on {}",
            if before.len() == 1 { "" } else { "s" },
            before.join(", "),
            if before.len() == 1 { "it" } else { "them" },
            if before.len() == 1 { "it" } else { "them" },
        ));
    }
}

/// Applies the project's `allow` and `deny` settings (`Build::allow`,
/// `Build::deny` and the lock's lines): an allowed warning is not reported, a
/// denied one is an error. A code that is not a warning's is an error itself.
fn settle(config: &Config, report: &mut Report) {
    let allow: Vec<&String> = config.allow.iter().chain(&report.lock.allow).collect();
    let deny: Vec<&String> = config.deny.iter().chain(&report.lock.deny).collect();
    for (code, setting) in config.allow.iter().map(|c| (c, "allow")).chain(config.deny.iter().map(|c| (c, "deny"))) {
        if Kind::warning_from_code(code).is_none() {
            report.diagnostics.push(
                Diagnostic::error(
                    Kind::UnknownDirective,
                    format!("`{code}` in `Build::{setting}` is not the code of a warning"),
                )
                .help(format!(
                    "the warnings are: {}",
                    Kind::warnings().map(|k| k.code()).collect::<Vec<_>>().join(", ")
                )),
            );
        }
    }
    report.diagnostics.retain(|d| d.is_error() || !allow.iter().any(|c| c.as_str() == d.kind.code()));
    for d in &mut report.diagnostics {
        if !d.is_error() && deny.iter().any(|c| c.as_str() == d.kind.code()) {
            d.severity = Severity::Error;
            d.notes.push(format!("`{}` is denied in this project (`deny {}`)", d.kind.code(), d.kind.code()));
        }
    }
}

/// Keeps the checksums of the files read and the lock's links for the next
/// build, unless the memo already holds exactly them.
fn remember(dir: &Path, memo: &Memo, report: &Report, lock_text: Option<&str>) {
    if memo.is_current(lock_text.is_some()) {
        return;
    }
    let mut files: std::collections::BTreeMap<&str, (&[u8], Digest, Analysis)> = std::collections::BTreeMap::new();
    for m in &report.migrations {
        for file in std::iter::once(&m.up.file).chain(m.down.as_ref().map(|d| &d.file)) {
            files.insert(&file.display, (file.text.as_bytes(), file.checksum, file.analysis));
        }
    }
    let files: Vec<MemoFile<'_>> = files.into_iter().map(|(p, (c, d, a))| (p, c, d, a)).collect();
    let _ = Memo::store(dir, &files, lock_text.map(|t| (t, report.lock_links.as_slice(), &report.lock)));
}

/// The scratch settings a project's checks and replays use: the build's or
/// the environment's, with the lock's (`scratch-limit` unless another was
/// set, `foreign-keys off`, `function` stubs) folded in.
fn project_scratch(config: &Config, lock: &Lock) -> ScratchConfig {
    let mut scratch = config.scratch.clone();
    if let Some(limit) = lock.scratch_limit.filter(|_| scratch.size_limit == crate::config::DEFAULT_SIZE_LIMIT) {
        scratch.size_limit = limit;
    }
    if lock.foreign_keys_off {
        scratch.foreign_keys = false;
    }
    for f in &lock.functions {
        if !scratch.functions.contains(f) {
            scratch.functions.push(f.clone());
        }
    }
    scratch
}

/// Runs the migrations on the dialect's engine.
fn execute(config: &Config, report: &mut Report) {
    let mut clock = Clock::start();
    match AnyEngine::open(config, report.dialect, &report.scratch, Job::Check) {
        Ok(engine) => {
            clock.lap(&mut report.timings, "sql/open");
            with_engine!(engine, engine => execute_on(config, engine, report));
        }
        Err(d) => report.diagnostics.push(d),
    }
}

/// The pipeline on one engine; the schemas it read kept in the report where
/// the engine has them in the report's form.
fn execute_on<E: Engine>(config: &Config, engine: E, report: &mut Report) {
    let outcome = pipeline::execute(config, engine, report);
    report.schema = outcome.migrated.as_ref().and_then(E::report_snapshot);
    report.declared = outcome.declared.as_ref().and_then(E::report_snapshot);
}

/// A fresh scratch database of the report's dialect, set up as the project's.
pub fn scratch_engine(config: &Config, report: &Report, job: Job) -> Result<AnyEngine, Diagnostic> {
    AnyEngine::open(config, report.dialect, &report.scratch, job)
}

/// What each statement of migration `version`'s up does, run on a scratch
/// database at the version before it with the rows the check gives it
/// (`migcheck explain`): locks, rewrites, rows, time. PostgreSQL-dialect
/// migrations need `config.postgres_scratch`.
pub fn explain(
    config: &Config,
    report: &Report,
    version: i64,
) -> Result<Vec<crate::engine::StatementTrace>, Diagnostic> {
    let Some(i) = report.migrations.iter().position(|m| m.version == version) else {
        return Err(Diagnostic::error(Kind::MissingDirectory, format!("there is no migration {version}"))
            .help("`migcheck history` lists the versions"));
    };
    with_engine!(scratch_engine(config, report, Job::Explain)?, engine => {
        pipeline::explain(config, engine, report.standing_script(), &report.migrations, i)
    })
}

/// The schema the migrations of `report` up to `version` (all when `None`)
/// produce on a fresh SQLite scratch database: what a live database at that
/// version should have.
pub fn schema_at(report: &Report, version: Option<i64>) -> Result<Snapshot, Diagnostic> {
    let engine = SqliteEngine::open(&report.scratch, None)?;
    replay(&engine, report, version)?.snapshot()
}

/// The schema as people read it ([`crate::schema::model::Model`]) that the
/// migrations up to `version` (all when `None`) make, replayed on a scratch
/// database of the project's engine (`migcheck schema`, `show`).
pub fn model_at(config: &Config, report: &Report, version: Option<i64>) -> Result<Model, Diagnostic> {
    with_engine!(scratch_engine(config, report, Job::Replay)?, engine => replay(&engine, report, version)?.model())
}

/// The SQL of a baseline that replaces the migrations up to `version`
/// (`migcheck squash`): the schema they make on a fresh database of the
/// project's engine and, with `rows`, the rows they leave in it.
pub fn baseline_sql(config: &Config, report: &Report, version: i64, rows: bool) -> Result<String, Diagnostic> {
    with_engine!(scratch_engine(config, report, Job::Squash)?, engine => {
        replay(&engine, report, Some(version))?.baseline_sql(rows)
    })
}

/// The statements of `calls` that prepare on the schema every migration
/// makes but not on the schema the migrations up to `version` make, each
/// with the database's error there: with `version` the last one before a
/// branch's, the branch's code that needs its migrations applied first
/// (`check --base`, `deploy-order`). Statements that do not prepare at the
/// head either are left out: they are not the schema's to explain.
pub fn failing_before(
    config: &Config,
    report: &Report,
    version: i64,
    calls: &[crate::rust_source::Call],
) -> Result<Vec<(crate::rust_source::Call, String)>, Diagnostic> {
    with_engine!(scratch_engine(config, report, Job::Replay)?, engine => {
        let mut head = replay(&engine, report, None)?;
        let working: Vec<&crate::rust_source::Call> = calls.iter().filter(|c| head.prepare(&c.sql).is_ok()).collect();
        drop(head);
        let mut before = replay(&engine, report, Some(version))?;
        Ok(working.into_iter().filter_map(|c| before.prepare(&c.sql).err().map(|e| (c.clone(), e))).collect())
    })
}

/// A fresh database of `engine`'s kind holding what the up migrations of
/// `report` up to `version` (all when `None`) make: what a live database at
/// that version should have.
pub fn replay<E: Engine>(engine: &E, report: &Report, version: Option<i64>) -> Result<E, Diagnostic> {
    // With the replaced migrations' files gone, from the baseline, which
    // stands for them only at its own version.
    let baseline = report.standing_baseline();
    if let Some(b) = baseline
        && let Some(v) = version.filter(|v| *v < b.version && *v >= 0)
    {
        return Err(Diagnostic::error(
            Kind::BaselineMismatch,
            format!("version {v} was squashed into the baseline at {} and its files deleted", b.version),
        )
        .help(format!("ask for version {} or later", b.version)));
    }
    let start = baseline.filter(|b| version.is_none_or(|v| v >= b.version)).map(|b| &b.script);
    replay::replay(engine, report.prelude.as_ref(), start, &report.migrations, version)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::diagnostic::Severity;

    fn config(files: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        fs::create_dir(&migrations).unwrap();
        for (name, text) in files {
            fs::write(migrations.join(name), text).unwrap();
        }
        let config = Config::new(migrations);
        (dir, config)
    }

    fn kinds(report: &Report) -> Vec<(Kind, Severity)> {
        report.diagnostics.iter().map(|d| (d.kind, d.severity)).collect()
    }

    #[test]
    fn a_table_rebuild_is_a_note_that_denied_warnings_leave_alone_unless_named() {
        let rebuild = "CREATE TABLE pets_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n\
                       INSERT INTO pets_new SELECT id, coalesce(name, '') FROM pets;\nDROP TABLE pets;\n\
                       ALTER TABLE \"pets_new\" RENAME TO \"pets\";\n";
        let (_d, mut cfg) = config(&[
            ("1_pets.sql", "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT);"),
            ("2_rebuild.sql", rebuild),
            ("3_in_place.sql", "ALTER TABLE pets ADD COLUMN age INTEGER;\nALTER TABLE pets DROP COLUMN age;\n"),
        ]);
        cfg.deny_warnings = true;
        let report = check(&cfg);
        let notes: Vec<&Diagnostic> = report.notes().collect();
        assert_eq!(notes.len(), 1, "{:#?}", report.diagnostics);
        assert_eq!((notes[0].kind, notes[0].version), (Kind::TableRebuild, Some(2)));
        let shown = notes[0].render();
        assert!(shown.starts_with("note[table-rebuild]: `2_rebuild.sql` rebuilds table `pets`"), "{shown}");
        assert!(shown.contains("2_rebuild.sql:4:34"), "the rename into `pets`: {shown}");
        // Warnings denied make the unsealed warning an error, not the note.
        assert_eq!(report.errors().map(|d| d.kind).collect::<Vec<_>>(), [Kind::Unsealed]);
        cfg.deny_warnings = false;
        cfg.deny = vec!["table-rebuild".into()];
        assert!(check(&cfg).errors().any(|d| d.kind == Kind::TableRebuild), "denied by name");
        cfg.deny.clear();
        cfg.allow = vec!["table-rebuild".into()];
        assert_eq!(check(&cfg).notes().count(), 0, "allowed by name");
    }

    fn running(statements: &[&str]) -> Vec<crate::rust_source::Call> {
        statements
            .iter()
            .enumerate()
            .map(|(i, sql)| crate::rust_source::Call {
                file: "src/db.rs".into(),
                line: 10 + i,
                column: 5,
                macro_name: "query".into(),
                via: crate::rust_source::Via::Sqlx,
                sql: (*sql).to_owned(),
            })
            .collect()
    }

    fn breaking(report: &Report) -> Vec<String> {
        report.diagnostics.iter().filter(|d| d.kind == Kind::BreakingChange).map(Diagnostic::render).collect()
    }

    /// With the running release's statements known, `breaking-change` is
    /// proven: a drop a statement reads is reported with the statement and
    /// its error; a rename no statement uses is not; NOT NULL only where a
    /// statement writes the table. Without them, the columns decide.
    #[test]
    fn breaking_changes_are_proven_by_the_running_statements() {
        let (_d, mut cfg) = config(&[
            (
                "1_pets.sql",
                "CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT, nick TEXT, owner_id INTEGER);
",
            ),
            (
                "2_contract.sql",
                "ALTER TABLE pets DROP COLUMN name;
ALTER TABLE pets RENAME COLUMN nick TO alias;
",
            ),
            (
                "3_required.sql",
                "ALTER TABLE pets ADD COLUMN age INTEGER NOT NULL;
",
            ),
        ]);
        let inferred = breaking(&check(&cfg));
        assert_eq!(inferred.len(), 3, "without statements, the columns decide: {inferred:#?}");

        cfg.running_statements = Some(running(&[
            "SELECT name FROM pets WHERE owner_id = ?",
            "SELECT id, owner_id FROM pets",
            // Broken before the branch: not the migrations' doing.
            "SELECT colour FROM pets",
        ]));
        let proven = breaking(&check(&cfg));
        assert_eq!(proven.len(), 1, "{proven:#?}");
        assert!(
            proven[0].starts_with(
                "warning[breaking-change]: `2_contract.sql` breaks a statement of the running release (`src/db.rs:10`): no such column: name"
            ),
            "{}",
            proven[0]
        );
        assert!(proven[0].contains("2_contract.sql:1:30"), "at the dropped column: {}", proven[0]);
        assert!(
            proven[0].contains("`src/db.rs:10:5` (query!) `SELECT name FROM pets WHERE owner_id = ?` fails"),
            "{}",
            proven[0]
        );

        // A statement that writes the table makes the new NOT NULL column a finding again.
        cfg.running_statements = Some(running(&["INSERT INTO pets (id, owner_id) VALUES (?, ?)"]));
        let writes = breaking(&check(&cfg));
        assert_eq!(writes.len(), 1, "{writes:#?}");
        assert!(writes[0].contains("adds NOT NULL column `pets.age`"), "{}", writes[0]);
        assert!(writes[0].contains("the running release writes `pets` at `src/db.rs:10`"), "{}", writes[0]);
    }

    /// An empty migration is said while it is not sealed; sealed, it is
    /// released as it is, and saying so again at every build is noise.
    #[test]
    fn a_sealed_empty_migration_is_not_said_again() {
        let (_d, mut cfg) =
            config(&[("1_t.sql", "CREATE TABLE t (x INT);\n"), ("2_nothing.sql", "-- a placeholder\n")]);
        let said = |cfg: &Config| check(cfg).diagnostics.iter().filter(|d| d.kind == Kind::EmptyMigration).count();
        assert_eq!(said(&cfg), 1);
        crate::seal::seal(&cfg, false).unwrap_or_else(|d| panic!("{}", d[0].render()));
        assert_eq!(said(&cfg), 0);
        cfg.sealed_findings = true;
        assert_eq!(said(&cfg), 1, "--all says it");
    }

    /// The row writer never ends the check: a table it cannot fill (a
    /// foreign key to a table created later, or to one a rename left
    /// behind) is a note, and the migrations after it are checked.
    #[test]
    fn tables_the_row_writer_cannot_fill_are_notes() {
        let (_d, cfg) = config(&[
            ("1_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b(id));\n"),
            ("2_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);\n"),
            ("3_c.sql", "CREATE TABLE c (id INTEGER PRIMARY KEY, gone_id INTEGER REFERENCES gone(id));\n"),
            (
                "4_d.sql",
                "CREATE TABLE d (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a(id));\nSELECT nonsense FROM d;\n",
            ),
        ]);
        let report = check(&cfg);
        assert!(report.executed);
        let errors: Vec<String> = report.errors().map(Diagnostic::render).collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].contains("no such column: nonsense"), "the check went on to the last file: {errors:#?}");
        assert!(!errors[0].contains("MIGCHECK_SCRATCH_URL"), "{errors:#?}");
        let notes: Vec<String> = report.notes().map(Diagnostic::render).collect();
        assert_eq!(notes.len(), 2, "{notes:#?}");
        assert!(
            notes[0].starts_with(
                "note[data-skipped]: table `a` gets no synthetic rows after `1_a.sql`: no such table: main.b"
            ),
            "{notes:#?}"
        );
        assert!(notes[1].contains("table `c`") && notes[1].contains("fixtures/3.sql"), "{notes:#?}");
    }

    /// An accepted finding stays accepted when a fixture changes its row
    /// counts and sample; a lock line no finding matches is a warning.
    #[test]
    fn accepted_findings_survive_new_fixtures_and_stale_lines_are_reported() {
        let (d, mut cfg) = config(&[
            ("1_t.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);\n"),
            (
                "2_purge.sql",
                "CREATE TABLE n (id INTEGER PRIMARY KEY, x TEXT);\nINSERT INTO n SELECT id, x FROM t WHERE x IS NULL;\n\
                 DROP TABLE t;\nALTER TABLE n RENAME TO t;\n",
            ),
        ]);
        let sealed = crate::seal::seal_accepting(&cfg, false, true).unwrap_or_else(|d| panic!("{}", d[0].render()));
        let lock = fs::read_to_string(cfg.lock_path()).unwrap();
        assert!(lock.contains("\naccept 2 data-loss "), "the data-loss warning of 2 is accepted: {lock}");
        let fixtures = d.path().join("fixtures");
        fs::create_dir(&fixtures).unwrap();
        fs::write(fixtures.join("1.sql"), "INSERT INTO t (id, x) VALUES (100, 'a'), (101, 'b'), (102, NULL);\n")
            .unwrap();
        cfg.fixtures = Some(fixtures);
        cfg.sealed_findings = true;
        let report = check(&cfg);
        assert_eq!(report.accepted.len(), sealed.accepted, "{:#?}", report.diagnostics);
        assert!(report.diagnostics.iter().all(|d| d.kind != Kind::DataLoss), "{:#?}", report.diagnostics);
        let lock_path = cfg.lock_path();
        let lock = fs::read_to_string(&lock_path).unwrap();
        let hash = lock.split("accept 2 data-loss ").nth(1).unwrap().lines().next().unwrap().to_owned();
        fs::write(&lock_path, lock.replace(&hash, "0123456789abcdef")).unwrap();
        let report = check(&cfg);
        let stale: Vec<String> =
            report.diagnostics.iter().filter(|d| d.kind == Kind::UnusedAllow).map(Diagnostic::render).collect();
        assert_eq!(stale.len(), 1, "{:#?}", report.diagnostics);
        assert!(
            stale[0].contains("`accept 2 data-loss 0123456789abcdef` matches no finding of migration 2"),
            "{stale:?}"
        );
        assert!(report.diagnostics.iter().any(|d| d.kind == Kind::DataLoss), "the finding is back");
    }

    /// A fixture whose extension is not `.sql` in lower case is an error
    /// naming the name it needs, not a file skipped without a word.
    #[test]
    fn a_fixture_named_in_capitals_is_an_error() {
        let (d, mut cfg) = config(&[("1_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);\n")]);
        let fixtures = d.path().join("fixtures");
        fs::create_dir(&fixtures).unwrap();
        fs::write(fixtures.join("1.SQL"), "INSERT INTO a VALUES (1);\n").unwrap();
        fs::write(fixtures.join("README.md"), "rows\n").unwrap();
        cfg.fixtures = Some(fixtures);
        let errors: Vec<String> = check(&cfg).errors().map(Diagnostic::render).collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].contains("1.SQL` is not read: fixtures end in `.sql`"), "{errors:#?}");
        assert!(errors[0].contains("rename it to `1.sql`"), "{errors:#?}");
    }

    /// A rename that points a child's foreign key at the old table, which
    /// the migration then drops, is a warning at that migration naming the
    /// rename and the fix; the check goes on. A drop of a parent too; the
    /// SQLite rebuild procedure (drop, then rename the new table into the
    /// name) is not, nor a child referencing a table created later.
    #[test]
    fn a_foreign_key_left_pointing_at_a_dropped_table_is_a_warning() {
        let (_d, cfg) = config(&[
            (
                "1_base.sql",
                "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE notes (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items(id));\nCREATE TABLE later (id INTEGER PRIMARY KEY, x_id INTEGER REFERENCES not_yet(id));\n",
            ),
            (
                "2_swap.sql",
                "ALTER TABLE items RENAME TO old_items;\nCREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\n\
                 INSERT INTO items SELECT id, coalesce(name, '') FROM old_items;\nDROP TABLE old_items;\n",
            ),
            (
                "3_rebuild.sql",
                "CREATE TABLE items_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', extra TEXT);\n\
                 INSERT INTO items_new (id, name) SELECT id, name FROM items;\nDROP TABLE items;\nALTER TABLE items_new RENAME TO items;\n",
            ),
            (
                "4_tags.sql",
                "CREATE TABLE tags (id INTEGER PRIMARY KEY);\nCREATE TABLE item_tags (tag_id INTEGER REFERENCES tags(id));\n",
            ),
            ("5_drop.sql", "DROP TABLE tags;\n"),
        ]);
        let report = check(&cfg);
        assert!(!report.has_errors(), "{:#?}", report.diagnostics);
        let found: Vec<&Diagnostic> = report.warnings().filter(|d| d.kind == Kind::DanglingForeignKey).collect();
        assert_eq!(found.iter().map(|d| d.version).collect::<Vec<_>>(), [Some(2), Some(5)], "{found:#?}");
        let swap = found[0].render();
        assert!(swap.contains("leaves the foreign key `notes` (item_id) pointing at `old_items`"), "{swap}");
        assert!(swap.contains("renaming `items` to `old_items`") && swap.contains("legacy_alter_table = ON"), "{swap}");
        assert!(found[1].render().contains("`item_tags` (tag_id) pointing at `tags`"), "{}", found[1].render());
    }

    /// A table dropped and created again under its name is the drop it is:
    /// its rows go on purpose, which is no `data-loss`.
    #[test]
    fn a_table_dropped_and_created_again_loses_nothing_by_mistake() {
        let (_d, cfg) = config(&[
            ("1_smtp.sql", "CREATE TABLE smtp (id INTEGER PRIMARY KEY, host TEXT);\n"),
            (
                "2_again.sql",
                "DROP TABLE IF EXISTS smtp;\nCREATE TABLE IF NOT EXISTS smtp (id INTEGER PRIMARY KEY, host TEXT, port INTEGER);\n",
            ),
            (
                "3_prune.sql",
                "CREATE TABLE keep (id INTEGER PRIMARY KEY);\nDROP TABLE keep;\nDELETE FROM smtp WHERE 0;\n",
            ),
        ]);
        let report = check(&cfg);
        assert!(report.executed);
        assert_eq!(kinds(&report), [(Kind::Unsealed, Severity::Warning)], "{:#?}", report.diagnostics);
    }

    /// Rows that make a statement run past the time bound are a data
    /// finding at that file, not an error of the history: without rows it
    /// runs at once.
    #[test]
    fn rows_that_make_a_statement_time_out_are_a_data_finding() {
        let (_d, mut cfg) = config(&[
            ("1_n.sql", "CREATE TABLE n (id INTEGER PRIMARY KEY, upto INTEGER);\n"),
            (
                "2_count.sql",
                "CREATE TABLE counted (k INTEGER);\n\
                 INSERT INTO counted WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < (SELECT max(upto) FROM n)) SELECT k FROM c;\n",
            ),
        ]);
        cfg.scratch.timeout = std::time::Duration::from_millis(700);
        let report = check(&cfg);
        assert!(!report.has_errors(), "{:#?}", report.diagnostics);
        let finding = report.warnings().find(|d| d.kind == Kind::DataDependent).expect("a data-dependent warning");
        assert_eq!(finding.version, Some(2));
        assert!(finding.render().contains("allow data-dependent"), "{}", finding.render());
    }

    #[test]
    fn good_migrations_pass_with_unsealed_warnings() {
        let (_d, cfg) = config(&[
            ("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);"),
            ("1_owners.down.sql", "DROP TABLE owners;"),
            ("2_pets.sql", "CREATE TABLE pets (owner_id REFERENCES owners(id));\n"),
        ]);
        let report = check(&cfg);
        assert!(report.executed);
        assert_eq!(kinds(&report), [(Kind::Unsealed, Severity::Warning)]);
        assert!(report.diagnostics[0].render().contains("2 migrations are not sealed yet"));
        assert_ne!(report.migrations[0].chain, report.migrations[1].chain);
    }

    #[test]
    fn a_down_that_does_not_undo_its_up_names_the_difference() {
        let (_d, cfg) = config(&[
            ("1_owners.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);"),
            ("1_owners.down.sql", "SELECT 1;"),
        ]);
        let report = check(&cfg);
        let err = report.errors().next().unwrap();
        assert_eq!(err.kind, Kind::IrreversibleDown);
        assert!(
            err.render().contains("table `owners`: in the schema after the down, not in the schema before the up"),
            "{}",
            err.render()
        );
    }

    #[test]
    fn a_down_that_restores_objects_in_other_places_or_words_is_reversible() {
        // Dropped and created again, an object moves in `sqlite_schema`; altered
        // and altered back, a table's text is respaced: neither is a difference.
        let (_d, cfg) = config(&[
            (
                "1_a.sql",
                "CREATE TABLE a (x);
CREATE TABLE b (y);
CREATE INDEX b_y ON b (y);",
            ),
            ("2_drop_a.up.sql", "DROP TABLE a;"),
            ("2_drop_a.down.sql", "CREATE TABLE a (x);"),
            ("3_b_z.up.sql", "ALTER TABLE b ADD COLUMN z TEXT;"),
            ("3_b_z.down.sql", "ALTER TABLE b DROP COLUMN z;"),
            ("4_index.up.sql", "DROP INDEX b_y;"),
            ("4_index.down.sql", "CREATE INDEX b_y ON b (y);"),
        ]);
        let report = check(&cfg);
        assert!(!report.has_errors(), "{:?}", report.errors().map(|d| d.render()).collect::<Vec<_>>());
        // And a down that restores a different index is caught.
        let (_d, cfg) = config(&[
            (
                "1_a.sql",
                "CREATE TABLE b (y, w);
CREATE INDEX b_y ON b (y);",
            ),
            ("2_index.up.sql", "DROP INDEX b_y;"),
            ("2_index.down.sql", "CREATE INDEX b_y ON b (w);"),
        ]);
        let report = check(&cfg);
        assert_eq!(report.errors().map(|d| d.kind).collect::<Vec<_>>(), [Kind::IrreversibleDown]);
    }

    #[test]
    fn errors_without_an_offset_point_at_the_name() {
        for (sql, expected) in [
            ("CREATE TABLE a (x);\nINSERT INTO a (y) VALUES (1);", (2, 16)),
            ("CREATE TABLE a (x);\n  INSERT INTO nope VALUES (1);", (2, 15)),
        ] {
            let (_d, cfg) = config(&[("1_a.sql", sql)]);
            let report = check(&cfg);
            let err = report.errors().next().unwrap();
            assert_eq!(err.location.as_ref().unwrap().line_column, Some(expected), "{}", err.render());
        }
    }

    #[test]
    fn modes() {
        let (_d, cfg) = config(&[
            ("1_a.sql", "CREATE TABLE a(x);"),
            ("2_b.sql", "-- migcheck: no-transaction\nVACUUM;"),
            ("3_c.sql", "PRAGMA foreign_keys=OFF;\nBEGIN;\nCREATE TABLE c(x);\nCOMMIT;\nPRAGMA foreign_keys=ON;"),
        ]);
        let report = check(&cfg);
        assert!(!report.has_errors(), "{:#?}", report.diagnostics);
        let modes: Vec<crate::model::Mode> = report.migrations.iter().map(|m| m.up.mode).collect();
        assert_eq!(
            modes,
            [crate::model::Mode::Transaction, crate::model::Mode::NoTransaction, crate::model::Mode::SelfManaged]
        );
    }

    #[test]
    fn vacuum_in_a_transaction_says_what_to_do() {
        let (_d, cfg) = config(&[("1_a.sql", "VACUUM;")]);
        let report = check(&cfg);
        let err = report.errors().next().unwrap().render();
        assert!(err.contains("no-transaction"), "{err}");
    }

    #[test]
    fn pragma_foreign_keys_in_a_transaction_warns() {
        let (_d, cfg) = config(&[("1_a.sql", "CREATE TABLE a(x);\nPRAGMA foreign_keys = OFF;\n")]);
        let report = check(&cfg);
        assert!(kinds(&report).contains(&(Kind::PragmaInTransaction, Severity::Warning)), "{:#?}", report.diagnostics);
        let d = report.diagnostics.iter().find(|d| d.kind == Kind::PragmaInTransaction).unwrap();
        assert_eq!(d.location.as_ref().unwrap().line_column, Some((2, 1)));
    }

    #[test]
    fn bom_crlf_and_shell_commands() {
        let (_d, cfg) = config(&[("1_a.sql", "\u{feff}.timeout 5000\r\nCREATE TABLE a(x);\r\nSELECT nope FROM a;")]);
        let report = check(&cfg);
        let kinds = kinds(&report);
        assert!(kinds.contains(&(Kind::ShellCommand, Severity::Warning)));
        let err = report.errors().next().unwrap();
        assert_eq!(err.kind, Kind::SqlError);
        assert_eq!(err.location.as_ref().unwrap().line_column, Some((3, 8)));
    }
}
