//! Running the migrations: the checks that execute SQL, written once for
//! every [`Engine`].
//!
//! Each migration runs up; a reversible one then runs down, which must give
//! back the schema the up started from, and up again. Running stops at the
//! first migration that fails, since the ones after it would run on a schema
//! it did not produce. Then the migrated schema is compared with the declared
//! one (`schema.sql`), run on a fresh scratch database of the same engine.

use crate::checksum;
use crate::config::Config;
use crate::diagnostic::{Diagnostic, Kind, Location};
use crate::engine::Engine;
use crate::lock::Accepted;
use crate::model::{Migration, Mode, Script};

use super::breaking::Shapes;
use super::data::{self, Cause, Data, Watch};
use super::replay::{declared_script, prelude_script, run_prelude};
use super::report::{Clock, Report};

/// The schemas a run produced, in the engine's form.
pub(crate) struct Outcome<S> {
    /// The migrated schema, when every migration ran and it was asked for.
    pub migrated: Option<S>,
    /// The declared schema, when there is a schema file and it ran.
    pub declared: Option<S>,
}

/// Runs every migration of `report` on `engine`, from the cache where the
/// engine has one, then the drift check.
pub(crate) fn execute<E: Engine>(config: &Config, mut engine: E, report: &mut Report) -> Outcome<E::Schema> {
    let mut outcome = Outcome { migrated: None, declared: None };
    let mut clock = Clock::start();
    report.executed = true;
    let before = report.diagnostics.len();
    let mut data = data::read_fixtures(config, &report.migrations, &mut report.diagnostics);
    report.fixtures = data.fixtures.values().map(|f| f.script.file.path.clone()).collect();
    data.prelude = prelude_script(config, &mut report.diagnostics);
    report.prelude = data.prelude.clone();
    if report.diagnostics[before..].iter().any(Diagnostic::is_error) {
        return outcome;
    }
    let accept = Acceptance { lines: report.lock.accepts.clone(), all: config.accepting };
    // What the rows depend on, and what is accepted: a cached database
    // skips the sealed migrations, so either changing means running them.
    let mut salt_text = checksum::to_hex(&data.salt());
    for a in &accept.lines {
        salt_text.push_str(&format!("\naccept {} {} {}", a.version, a.code, a.hash));
    }
    if let Some(prelude) = &data.prelude {
        salt_text.push_str(&format!("\nprelude {}", checksum::to_hex(&prelude.file.checksum)));
    }
    // Migrations whose files were deleted after a squash: the database
    // starts from the baseline.
    let from_baseline = report.standing_script().cloned();
    if let Some(b) = &from_baseline {
        salt_text.push_str(&format!("\nbaseline {}", checksum::to_hex(&b.file.checksum)));
    }
    let salt = checksum::checksum(salt_text.as_bytes());
    // The leading sealed migrations: their result can come from a cache.
    let sealed = report.migrations.iter().take_while(|m| m.sealed).count();
    let mut start = 0;
    if sealed > 0 && engine.resume(&report.migrations, sealed, &salt) {
        start = sealed;
        report.from_cache = true;
    }
    if start == 0
        && let Err(d) = run_prelude(&mut engine, data.prelude.as_ref())
    {
        report.diagnostics.push(d);
        return outcome;
    }
    if start == 0
        && let Some(b) = &from_baseline
        && let Err(d) = engine.run(b, &mut report.diagnostics)
    {
        report.diagnostics.push(d.note("the migrations it replaces were deleted: every check starts from it"));
        return outcome;
    }
    clock.lap(&mut report.timings, "sql/restore");
    if start < sealed {
        let before = report.diagnostics.len();
        if !run_range(&mut engine, report, &data, &accept, start..sealed) {
            return outcome;
        }
        if report.diagnostics.len() == before {
            engine.checkpoint(&report.migrations, sealed, &salt);
        }
    }
    if !run_range(&mut engine, report, &data, &accept, sealed.max(start)..report.migrations.len()) {
        return outcome;
    }
    if !report.from_cache {
        let stale = accept.stale(config, report);
        report.diagnostics.extend(stale);
    }
    clock.lap(&mut report.timings, "sql/run");
    if let Err(d) = super::baseline::prove(config, &engine, data.prelude.as_ref(), report) {
        report.diagnostics.push(d);
        return outcome;
    }
    clock.lap(&mut report.timings, "sql/baseline");
    let declared = declared_script(config, &mut report.diagnostics);
    if config.keep_schema || declared.is_some() {
        match engine.schema() {
            Ok(schema) => outcome.migrated = Some(schema),
            Err(d) => {
                report.diagnostics.push(d);
                return outcome;
            }
        }
    }
    clock.lap(&mut report.timings, "sql/schema");
    if let (Some(script), Some(migrated)) = (declared, &outcome.migrated) {
        outcome.declared = check_drift(&engine, &script, data.prelude.as_ref(), migrated, &mut report.diagnostics);
    }
    clock.lap(&mut report.timings, "sql/drift");
    if let Some(dir) = &config.keep_head
        && !report.has_errors()
    {
        match engine.keep_head(dir) {
            Ok(url) => report.head_url = Some(url),
            Err(d) => report.diagnostics.push(d),
        }
        clock.lap(&mut report.timings, "sql/head");
    }
    outcome
}

/// The lock's `accept` lines, or "accept everything" (`lock --accept`).
struct Acceptance {
    lines: Vec<Accepted>,
    all: bool,
}

impl Acceptance {
    /// Whether `d`, found running `m`, is accepted: a warning, or an error
    /// that a released migration can carry (a down that does not undo its
    /// up), of a sealed migration with a matching `accept` line.
    fn accepts(&self, m: &Migration, d: &Diagnostic) -> Option<Accepted> {
        let acceptable = !d.is_error() || matches!(d.kind, Kind::IrreversibleDown | Kind::DownDataMismatch);
        if !acceptable || !(self.all || m.sealed) {
            return None;
        }
        let code = d.kind.code();
        let found =
            Accepted { version: m.version, code: code.to_owned(), hash: Accepted::hash_of(code, &d.message, &d.notes) };
        if self.all {
            return Some(found);
        }
        // A line an earlier version wrote names the finding by its whole text.
        let legacy = Accepted { hash: Accepted::legacy_hash_of(code, &d.message, &d.notes), ..found.clone() };
        self.lines.iter().find(|line| **line == found || **line == legacy).cloned()
    }

    /// A warning for each `accept` line no finding of a migration that ran
    /// matched: its finding is gone (fixed, or its text changed), and the
    /// line would only hide a new one.
    fn stale(&self, config: &Config, report: &Report) -> Vec<Diagnostic> {
        if self.all {
            return Vec::new();
        }
        let lock = crate::scan::display_path(&config.lock_path(), &config.display_base);
        self.lines
            .iter()
            .filter(|line| !report.accepted.contains(line))
            .filter(|line| report.migrations.iter().any(|m| m.version == line.version))
            .map(|line| {
                Diagnostic::warning(
                    Kind::UnusedAllow,
                    format!(
                        "the lock's `accept {} {} {}` matches no finding of migration {}",
                        line.version, line.code, line.hash, line.version
                    ),
                )
                .at(Location::file(&lock))
                .version(line.version)
                .help("the finding it accepted is gone: remove the line, or run `migcheck lock --accept` to write the lock's accept lines again")
            })
            .collect()
    }
}

/// Runs `report.migrations[range]`; false after the first that failed (its
/// diagnostic pushed).
fn run_range<E: Engine>(
    engine: &mut E,
    report: &mut Report,
    data: &Data,
    accept: &Acceptance,
    range: std::ops::Range<usize>,
) -> bool {
    let total = report.migrations.len();
    for i in range {
        let m = &report.migrations[i];
        let before = report.diagnostics.len();
        let result = run_migration(engine, &report.migrations, i, data, &mut report.diagnostics);
        for d in &mut report.diagnostics[before..] {
            d.version = d.version.or(Some(m.version));
        }
        let mut checked: Vec<&str> = engine.measures().to_vec();
        checked.push("breaking-change");
        if data.active() {
            checked.extend(["data-loss", "data-dependent"]);
        }
        apply_allows(m, &mut report.diagnostics, before, result.is_ok(), &checked);
        if m.sealed && !data.sealed_findings {
            let mut k = before;
            while k < report.diagnostics.len() {
                if report.diagnostics[k].kind.is_finding() && !report.diagnostics[k].is_error() {
                    report.diagnostics.remove(k);
                } else {
                    k += 1;
                }
            }
        }
        let mut k = before;
        while k < report.diagnostics.len() {
            match accept.accepts(m, &report.diagnostics[k]) {
                Some(found) => {
                    report.accepted.push(found);
                    report.diagnostics.remove(k);
                }
                None => k += 1,
            }
        }
        if let Err(mut d) = result {
            if let Some(found) = accept.accepts(m, &d) {
                // Accepted: go on from the database the runtime would have
                // (every up so far), without this migration's down.
                report.accepted.push(found);
                match replay_with_rows(engine, report.standing_script(), &report.migrations[..=i], data) {
                    Ok(fresh) => {
                        *engine = fresh;
                        continue;
                    }
                    Err(e) => d = e,
                }
            }
            d.version = d.version.or(Some(m.version));
            let later = total - i - 1;
            if later > 0 {
                d.notes.push(if later == 1 {
                    "the 1 later migration was not run".to_owned()
                } else {
                    format!("the {later} later migrations were not run")
                });
            }
            report.diagnostics.push(d);
            return false;
        }
    }
    true
}

/// A fresh database after the ups of `migrations`, their fixtures loaded and
/// synthetic rows in every table that has none.
fn replay_with_rows<E: Engine>(
    engine: &E,
    baseline: Option<&Script>,
    migrations: &[Migration],
    data: &Data,
) -> Result<E, Diagnostic> {
    let mut fresh = engine.fresh()?;
    run_prelude(&mut fresh, data.prelude.as_ref())?;
    let mut sink = Vec::new();
    if let Some(baseline) = baseline {
        fresh.run(baseline, &mut sink)?;
    }
    for m in migrations {
        fresh.run(&m.up, &mut sink)?;
        if let Some(f) = data.fixtures.get(&m.version) {
            fresh.run(&f.script, &mut sink)?;
        }
    }
    if data.synthetic {
        let tables: Vec<String> =
            fresh.tables(None)?.into_iter().filter(|t| !data.fixture_tables.contains(&t.to_lowercase())).collect();
        fresh.seed(&tables)?;
    }
    Ok(fresh)
}

/// Drops the findings of `m` from `diagnostics[from..]` that its files
/// accept (`-- migcheck: allow <code>`); when the migration ran through,
/// an accepted code among `checked` that matched nothing is an
/// `unused-allow` warning at the code.
fn apply_allows(m: &Migration, diagnostics: &mut Vec<Diagnostic>, from: usize, ran: bool, checked: &[&str]) {
    let scripts: Vec<&Script> = std::iter::once(&m.up).chain(m.down.as_ref()).collect();
    if scripts.iter().all(|s| s.allow.is_empty()) {
        return;
    }
    let mut used: Vec<(usize, &'static str)> = Vec::new();
    let mut k = from;
    while k < diagnostics.len() {
        let d = &diagnostics[k];
        let code = d.kind.code();
        // The file the finding is in: its location's, else the up.
        let file = d.location.as_ref().and_then(|l| scripts.iter().position(|s| s.file.display == l.path)).unwrap_or(0);
        if d.kind.is_finding() && !d.is_error() && scripts[file].allow.allows(code) {
            used.push((file, code));
            diagnostics.remove(k);
        } else {
            k += 1;
        }
    }
    if !ran {
        return;
    }
    for (f, script) in scripts.iter().enumerate() {
        for code in script.allow.codes().filter(|c| checked.contains(c) && !used.contains(&(f, *c))) {
            let text = &script.file.text;
            // The code on a directive line (`-- migcheck: allow …`).
            let mut offset = 0;
            let mut at = None;
            for line in text.split_inclusive('\n') {
                if let Some(d) = line.find("migcheck:")
                    && let Some(c) = line[d..].find(code)
                {
                    at = Some(offset + d + c);
                    break;
                }
                offset += line.len();
            }
            let location = match at {
                Some(at) => Location::span(&script.file.display, text, at..at + code.len(), "no such finding here"),
                None => Location::file(&script.file.display),
            };
            diagnostics.push(
                Diagnostic::warning(
                    Kind::UnusedAllow,
                    format!("`{}` allows `{code}`, and no `{code}` finding is made", script.file.file_name()),
                )
                .at(location)
                .version(m.version)
                .help(format!(
                    "remove `{code}` from the directive; an allow that matches nothing would hide a later finding"
                )),
            );
        }
    }
}

/// Up; for a reversible migration also down (which must restore the schema
/// the up started from, and with rows in the tables, the rows) and up again.
/// With rows, the data checks run around each step, then the tables the
/// migration created get rows and its fixture loads.
fn run_migration<E: Engine>(
    engine: &mut E,
    migrations: &[Migration],
    i: usize,
    data: &Data,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let m = &migrations[i];
    // The up's words, read once for both the data checks and the shapes.
    let up_tokens = crate::schema::tokens::tokenize(&m.up.sql);
    let mut watch = if data.active() { Some(Watch::before(engine, m, &up_tokens)?) } else { None };
    // The running release's statements, where findings are reported.
    let running = data.running.as_deref().filter(|_| !m.sealed || data.sealed_findings);
    let shapes = Shapes::before(engine, &up_tokens, running)?;
    let before = if m.down.is_some() { Some(engine.schema()?) } else { None };
    // Foreign keys a drop or a rename may leave pointing at nothing.
    let (reshaped, renames) = data::dropped_or_renamed(&up_tokens);
    let dangling_before = if reshaped.is_empty() { Vec::new() } else { engine.dangling(&reshaped)? };
    step(engine, migrations, i, Step::Up, data, watch.as_mut(), warnings)?;
    if !reshaped.is_empty() {
        for (child, columns, parent) in engine.dangling(&reshaped)? {
            if dangling_before.iter().any(|(c, _, p)| *c == child && *p == parent) {
                continue;
            }
            warnings.push(dangling(m, &child, &columns, &parent, &renames));
        }
    }
    shapes.after(engine, m, warnings)?;
    if let Some(watch) = watch.as_mut() {
        watch.after_up(engine, m, warnings)?;
    }
    let (Some(down), Some(before)) = (&m.down, before) else {
        return after_migration(engine, m, data, watch.as_ref(), warnings);
    };
    step(engine, migrations, i, Step::Down, data, watch.as_mut(), warnings)
        .map_err(|d| d.note("this happened checking that the down migration undoes the up"))?;
    let after = engine.schema()?;
    if before != after {
        let differences =
            engine.differences(&before, &after, "the schema before the up", "the schema after the down")?;
        if !differences.is_empty() {
            let mut d = Diagnostic::error(
                Kind::IrreversibleDown,
                format!("`{}` does not restore the schema its up migration started from", down.file.file_name()),
            )
            .at(Location::file(&down.file.display));
            for line in differences {
                d = d.note(line);
            }
            return Err(d.help(
                "make the down migration undo exactly what the up does (each reversible migration is checked up, down, up)",
            ));
        }
    }
    if let Some(watch) = &watch {
        watch.after_down(engine, down)?;
    }
    step(engine, migrations, i, Step::UpAgain, data, watch.as_mut(), warnings)
        .map_err(|d| d.note("this happened applying the up migration again after its down"))?;
    after_migration(engine, m, data, watch.as_ref(), warnings)
}

/// The `dangling-foreign-key` warning: after `m`, `child`'s foreign key
/// (`columns`) references `parent`, which does not exist.
fn dangling(m: &Migration, child: &str, columns: &str, parent: &str, renames: &[(String, String)]) -> Diagnostic {
    let file = m.up.file.file_name();
    let mut d = Diagnostic::warning(
        Kind::DanglingForeignKey,
        format!(
            "`{file}` leaves the foreign key `{child}` ({columns}) pointing at `{parent}`, which no longer exists: with foreign keys enforced, every write to `{child}` fails"
        ),
    )
    .at(data::mention(&m.up, parent))
    .version(m.version);
    if let Some((from, _)) = renames.iter().find(|(_, to)| to.eq_ignore_ascii_case(parent)) {
        d = d.note(format!(
            "renaming `{from}` to `{parent}` made SQLite (since 3.26) point `{child}`'s foreign key at `{parent}`; then `{parent}` went"
        ));
        d.help(format!(
            "keep references on the old name while renaming: `PRAGMA legacy_alter_table = ON;` before `ALTER TABLE {from} RENAME TO {parent}` and `PRAGMA legacy_alter_table = OFF;` after it; or rebuild `{child}` with the foreign key it should have"
        ))
    } else {
        d.help(format!("drop or rebuild `{child}` without that foreign key in the same migration, or keep `{parent}`"))
    }
}

/// The steps of a migration's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Up,
    Down,
    UpAgain,
}

/// Runs one step. With rows in the tables, a file that fails in a way rows
/// can cause runs again without them: if it then runs, the rows made it
/// fail (`data-dependent`, or `data-error` for the fixtures' rows), and the
/// check goes on from the database without rows.
fn step<E: Engine>(
    engine: &mut E,
    migrations: &[Migration],
    i: usize,
    step: Step,
    data: &Data,
    watch: Option<&mut Watch>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let m = &migrations[i];
    let script = match step {
        Step::Down => m.down.as_ref().expect("a down step of a reversible migration"),
        Step::Up | Step::UpAgain => &m.up,
    };
    let ran = if step == Step::Up { engine.run_measured(script, warnings) } else { engine.run(script, warnings) };
    let err = match ran {
        Ok(()) => return Ok(()),
        Err(err) => err,
    };
    let Some(watch) = watch else { return Err(err) };
    // Rows that make a statement run past the time bound are the rows'
    // doing too: retried without them like a failure.
    if watch.cleared || !matches!(err.kind, Kind::SqlError | Kind::ForeignKeyViolation | Kind::Timeout) {
        return Err(err);
    }
    // A failed file in a transaction of its own left the database as it was.
    let rolled_back = script.mode == Mode::Transaction && err.kind == Kind::SqlError;
    let mut culprits = if rolled_back {
        let tables = engine.tables(Some(watch.named()))?;
        engine.culprits(&err, &tables)
    } else {
        Vec::new()
    };
    let fixtures = data.fixtures.range(..m.version).next().is_some();
    let mut sink = Vec::new();
    let mut retry = |engine: &mut E, keep_fixtures: bool, culprits: &mut Vec<String>| -> Result<(), Diagnostic> {
        if rolled_back {
            let keep = if keep_fixtures { data.fixture_tables.clone() } else { Default::default() };
            engine.clear(&keep)?;
            return engine.run(script, &mut sink);
        }
        let mut fresh = rebuild(engine, migrations, i, step, data, keep_fixtures)?;
        if keep_fixtures && culprits.is_empty() {
            // The database as it was, with the fixtures' rows: the rows
            // behind the failure can be read before the file runs again.
            let tables = fresh.tables(Some(watch.named()))?;
            *culprits = fresh.culprits(&err, &tables);
        }
        fresh.run(script, &mut sink)?;
        *engine = fresh;
        Ok(())
    };
    let mut fixture_culprits = Vec::new();
    let cause = if fixtures && retry(engine, true, &mut fixture_culprits).is_ok() {
        Cause::Synthetic
    } else {
        match retry(engine, false, &mut Vec::new()) {
            Ok(()) if fixtures => {
                if culprits.is_empty() {
                    culprits = fixture_culprits;
                }
                Cause::Fixtures
            }
            Ok(()) => Cause::Synthetic,
            // It fails without rows too: the error is not the rows'.
            Err(plain) => return Err(plain),
        }
    };
    watch.cleared = true;
    let d = data::data_failure(err, script, cause, culprits, data, m.version, watch);
    if d.is_error() {
        return Err(d);
    }
    warnings.push(d.version(m.version));
    Ok(())
}

/// A fresh database as it was before `step` of `migrations[i]`, with the
/// fixtures' rows when `fixtures` and no synthetic rows (for a file that
/// failed outside a transaction and left the database half changed).
fn rebuild<E: Engine>(
    engine: &E,
    migrations: &[Migration],
    i: usize,
    step: Step,
    data: &Data,
    fixtures: bool,
) -> Result<E, Diagnostic> {
    let mut fresh = engine.fresh()?;
    run_prelude(&mut fresh, data.prelude.as_ref())?;
    let mut sink = Vec::new();
    for m in &migrations[..i] {
        fresh.run(&m.up, &mut sink)?;
        if let Some(f) = data.fixtures.get(&m.version).filter(|_| fixtures) {
            fresh.run(&f.script, &mut sink)?;
        }
    }
    let m = &migrations[i];
    if step != Step::Up {
        fresh.run(&m.up, &mut sink)?;
    }
    if let (Step::UpAgain, Some(down)) = (step, &m.down) {
        fresh.run(down, &mut sink)?;
    }
    Ok(fresh)
}

/// After a migration ran: its fixture loads, and the tables it names that
/// hold no row (those it created; every table, after a retry emptied them)
/// get synthetic rows.
fn after_migration<E: Engine>(
    engine: &mut E,
    m: &Migration,
    data: &Data,
    watch: Option<&Watch>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let Some(watch) = watch else { return Ok(()) };
    if let Some(fixture) = data.fixtures.get(&m.version) {
        engine.run(&fixture.script, &mut Vec::new()).map_err(|mut d| {
            d.kind = Kind::DataError;
            d.message = format!(
                "the fixture `{}` does not load after migration {}: {}",
                fixture.script.file.display,
                m.version,
                d.message.strip_prefix("SQL fails on the scratch database: ").unwrap_or(&d.message)
            );
            d.notes.retain(|n| !n.starts_with("each migration runs on"));
            d.notes.push(format!(
                "its rows load right after `{}`, on the schema at version {}",
                m.up.file.file_name(),
                m.version
            ));
            d.help =
                Some("make the fixture's rows fit the schema at its version (or rename it to another version)".into());
            d
        })?;
    }
    if !data.synthetic {
        return Ok(());
    }
    // Every table the migration names gets rows if it has none (those it
    // created); after a retry emptied them, every table.
    let tables = engine.tables(if watch.cleared { None } else { Some(watch.named()) })?;
    let tables: Vec<String> = tables.into_iter().filter(|t| !data.fixture_tables.contains(&t.to_lowercase())).collect();
    if !tables.is_empty() {
        for (table, why) in engine.seed(&tables)? {
            warnings.push(
                Diagnostic::info(
                    Kind::DataSkipped,
                    format!("table `{table}` gets no synthetic rows after `{}`: {why}", m.up.file.file_name()),
                )
                .at(data::mention(&m.up, &table))
                .version(m.version)
                .note("the migrations after it are checked without rows in it")
                .help(format!(
                    "give it rows in a fixture (`fixtures/{}.sql`, loaded after this migration), or say `allow data-skipped` in the lock",
                    m.version
                )),
            );
        }
    }
    Ok(())
}

/// What each statement of `migrations[i]`'s up does on a database at the
/// version before it, holding the rows the check would give it.
pub(crate) fn explain<E: Engine>(
    config: &Config,
    engine: E,
    baseline: Option<&Script>,
    migrations: &[Migration],
    i: usize,
) -> Result<Vec<crate::engine::StatementTrace>, Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut data = data::read_fixtures(config, migrations, &mut diagnostics);
    data.prelude = prelude_script(config, &mut diagnostics);
    if let Some(d) = diagnostics.into_iter().find(Diagnostic::is_error) {
        return Err(d);
    }
    let mut db = replay_with_rows(&engine, baseline, &migrations[..i], &data)?;
    db.explain(&migrations[i].up)
}

/// Runs the schema file on a fresh database and compares what it declares
/// with `migrated`; returns the declared schema.
fn check_drift<E: Engine>(
    engine: &E,
    script: &Script,
    prelude: Option<&Script>,
    migrated: &E::Schema,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<E::Schema> {
    match declared_schema(engine, script, prelude, diagnostics) {
        Ok((mut fresh, declared)) => {
            let name = script.file.file_name();
            match fresh.differences(migrated, &declared, "the migrations", &name) {
                Ok(differences) if differences.is_empty() => {}
                Ok(differences) => diagnostics.push(drift(engine, script, differences)),
                Err(d) => diagnostics.push(d),
            }
            Some(declared)
        }
        Err(d) => {
            diagnostics.push(d);
            None
        }
    }
}

/// The schema `script` (the schema file) makes on an empty database, and that
/// database.
fn declared_schema<E: Engine>(
    engine: &E,
    script: &Script,
    prelude: Option<&Script>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<(E, E::Schema), Diagnostic> {
    let mut fresh = engine.fresh()?;
    run_prelude(&mut fresh, prelude)?;
    fresh.run(script, diagnostics).map_err(|d| {
        d.note(format!(
            "`{}` declares the schema the migrations must produce; it must run on an empty database",
            script.file.display
        ))
    })?;
    let schema = fresh.schema()?;
    Ok((fresh, schema))
}

/// The drift error: what differs, and how to resolve it.
fn drift<E: Engine>(engine: &E, script: &Script, differences: Vec<String>) -> Diagnostic {
    let shown = &script.file.display;
    let mut d =
        Diagnostic::error(Kind::Drift, format!("the migrations do not produce the schema declared in `{shown}`"))
            .at(Location::file(shown));
    for line in differences {
        d = d.note(line);
    }
    d.help(if engine.generates_migrations() {
        format!(
            "run `migcheck diff -m \"<what changed>\"` to generate a migration from the migrated schema to `{shown}`, or edit `{shown}`"
        )
    } else {
        format!("write a migration that takes the migrated schema to `{shown}`, or edit `{shown}`")
    })
}
