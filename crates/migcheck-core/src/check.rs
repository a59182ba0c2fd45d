//! The checks `cargo build` runs, as one function that returns a [`Report`].
//!
//! Order of work: scan the directory, read the lock, read each file's
//! directives, compare with the lock (edited, deleted, out of order, unsealed),
//! then run every migration on the sandboxed scratch database: up, and for a
//! reversible one down and up again. Static problems are all collected; running
//! stops at the first migration that fails, since the ones after it would run on
//! a schema it did not produce.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::ffi;

use crate::cache;
use crate::checksum::{self, CHAIN_START, Digest};
use crate::diagnostic::{Diagnostic, Kind, Location, Severity};
use crate::directive;
use crate::exec::{self, StatementError};
use crate::lexer;
use crate::lock::{self, Lock, LockEntry};
use crate::memo::{Analysis, Memo, MemoFile};
use crate::scan::{self, ScannedMigration, SourceFile, display_path};
use crate::schema::{self, Snapshot};
use crate::scratch::{Event, Scratch, ScratchConfig};

pub use crate::exec::Mode;

/// One migration file, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub file: SourceFile,
    /// The SQL to run: the file's text without a byte-order mark, with sqlite3
    /// shell commands blanked out (same length, so offsets still match).
    pub sql: String,
    pub mode: Mode,
}

impl Script {
    /// Offset of [`Script::sql`] in the file's text.
    pub fn offset(&self) -> usize {
        self.file.bom_len()
    }
}

/// A checked migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
    pub up: Script,
    pub down: Option<Script>,
    /// The chain hash up to and including this migration.
    pub chain: Digest,
    /// Whether the lock seals this migration (with matching checksums).
    pub sealed: bool,
}

impl Migration {
    /// The migration's line in the lock file.
    pub fn lock_entry(&self) -> LockEntry {
        LockEntry {
            version: self.version,
            up: self.up.file.checksum,
            down: self.down.as_ref().map(|d| d.file.checksum),
            name: self.description.clone(),
            line: 0,
        }
    }

    /// Whether `entry` is this migration's line in the lock file.
    pub fn is(&self, entry: &LockEntry) -> bool {
        entry.version == self.version
            && entry.up == self.up.file.checksum
            && entry.down == self.down.as_ref().map(|d| d.file.checksum)
            && entry.name == self.description
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Config {
    /// The migrations directory.
    pub dir: PathBuf,
    /// Paths in messages are shown relative to this directory.
    pub display_base: PathBuf,
    /// Locked mode: an unsealed migration is an error.
    pub locked: bool,
    /// Warnings are errors.
    pub deny_warnings: bool,
    /// Run the migrations on the scratch database (true unless only names,
    /// order and checksums are wanted).
    pub execute: bool,
    pub scratch: ScratchConfig,
    /// The declared schema (`schema.sql` beside the migrations directory by
    /// default). A file with no statement, or a missing default file, turns
    /// the drift check off.
    pub schema: Option<PathBuf>,
    /// Whether a missing schema file is an error (it was set explicitly).
    pub schema_required: bool,
    /// Where to keep the scratch database at the newest sealed migration
    /// between runs (the build script uses `OUT_DIR`); `None`: always cold.
    pub cache_dir: Option<PathBuf>,
    /// The SQL dialect; `None`: as the lock file says, else SQLite.
    pub dialect: Option<lock::Dialect>,
    /// A PostgreSQL server for the scratch database of Postgres-dialect
    /// migrations (`MIGCHECK_SCRATCH_URL`).
    pub postgres_scratch: Option<String>,
    /// The directory's layout; `None`: as the lock says, else detected.
    pub layout: Option<crate::layout::Layout>,
    /// Read the migrated schema into [`Report::schema`] even when no drift
    /// check needs it (the CLI's `diff` does; the build script does not, and
    /// saves reading thousands of schema rows).
    pub keep_schema: bool,
}

impl Config {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let display_base = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let schema = Some(display_base.join("schema.sql"));
        Config {
            dir,
            display_base,
            locked: false,
            deny_warnings: false,
            execute: true,
            scratch: ScratchConfig::default(),
            schema,
            schema_required: false,
            cache_dir: None,
            dialect: None,
            postgres_scratch: None,
            layout: None,
            keep_schema: true,
        }
    }

    /// Locked mode as the environment asks, read through `get` (the build
    /// script declares each variable it reads): `MIGCHECK_LOCKED=1`/`0` wins,
    /// else a set `CI` (as every CI service sets it) locks.
    pub fn locked_from_env(get: impl Fn(&str) -> Option<String>) -> bool {
        match get("MIGCHECK_LOCKED").as_deref().map(str::trim) {
            Some("1" | "true" | "yes") => true,
            Some("0" | "false" | "no") => false,
            _ => get("CI").is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(lock::FILE_NAME)
    }
}

/// Everything the checker found.
#[derive(Debug)]
pub struct Report {
    /// Migrations in version order (those that could be read).
    pub migrations: Vec<Migration>,
    /// The lock as read (empty if missing or unreadable).
    pub lock: Lock,
    /// Whether the lock file exists and was read.
    pub lock_ok: bool,
    pub diagnostics: Vec<Diagnostic>,
    /// Whether the SQL was run on the scratch database.
    pub executed: bool,
    /// The schema the migrations produce (when they all ran).
    pub schema: Option<Snapshot>,
    /// The schema declared in the schema file (when there is one and it ran).
    pub declared: Option<Snapshot>,
    /// The scratch configuration used (function stubs from the lock included).
    pub scratch: ScratchConfig,
    /// Whether the sealed migrations' result came from the cache.
    pub from_cache: bool,
    /// The layout the directory was read in.
    pub layout: crate::layout::Layout,
    /// The lock's chain hash after each of its entries.
    lock_links: Vec<Digest>,
    /// How long each phase took, in order (`MIGCHECK_TIMINGS=1` shows them).
    pub timings: Vec<(&'static str, Duration)>,
}

/// Times the check's phases into [`Report::timings`].
struct Clock(Instant);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now())
    }

    fn lap(&mut self, timings: &mut Vec<(&'static str, Duration)>, phase: &'static str) {
        let now = Instant::now();
        timings.push((phase, now - self.0));
        self.0 = now;
    }
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }

    /// The chain hash over all migrations.
    pub fn chain(&self) -> Digest {
        self.migrations.last().map_or(CHAIN_START, |m| m.chain)
    }
}

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
        scratch: config.scratch.clone(),
        from_cache: false,
        layout: crate::layout::Layout::Native,
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
    let lock_text = read_lock(config, &mut report, &memo);
    clock.lap(&mut report.timings, "lock");
    let lock_diagnostics: Vec<Diagnostic> = std::mem::take(&mut report.diagnostics);
    let layout = config.layout.or(report.lock.layout).unwrap_or_else(|| crate::layout::detect(&config.dir));
    report.layout = layout;
    let scanned = scan::scan_layout(&config.dir, &config.display_base, layout, &memo);
    clock.lap(&mut report.timings, "scan");
    let scan_failed = scanned.diagnostics.iter().any(Diagnostic::is_error);
    report.diagnostics.extend(scanned.diagnostics);
    report.diagnostics.extend(lock_diagnostics);

    let mut chain = CHAIN_START;
    let mut script_failed = false;
    for m in scanned.migrations {
        let ScannedMigration { version, description, up, down, up_part, down_part } = m;
        let up = script(up, &up_part, true, version, &mut report.diagnostics);
        let down = down.map(|d| script(d, &down_part, false, version, &mut report.diagnostics));
        let (Some(up), Some(down)) = (up, down.map_or(Some(None), |d| d.map(Some))) else {
            script_failed = true;
            continue;
        };
        let mut migration = Migration { version, description, up, down, chain: CHAIN_START, sealed: false };
        // While the migrations are the lock's entries, their chain is the lock's
        // (already verified): no need to hash the lines again.
        let i = report.migrations.len();
        chain = match report.lock.entries.get(i) {
            Some(entry) if chain == link_before(&report.lock_links, i) && migration.is(entry) => report.lock_links[i],
            _ => checksum::chain(&chain, &migration.lock_entry().to_line()),
        };
        migration.chain = chain;
        report.migrations.push(migration);
    }
    clock.lap(&mut report.timings, "scripts");
    if report.lock_ok {
        compare_with_lock(config, &scanned.broken_versions, &mut report);
    }
    clock.lap(&mut report.timings, "compare");
    if config.execute {
        if scan_failed || script_failed {
            if let Some(first) = report.diagnostics.iter_mut().find(|d| d.is_error()) {
                first.notes.push("the SQL was not run on the scratch database because of this error".into());
            }
        } else if config.dialect.or(report.lock.dialect) == Some(lock::Dialect::Postgres) {
            match &config.postgres_scratch {
                Some(url) => crate::postgres::execute(config, url, &mut report),
                None => report.diagnostics.push(
                    Diagnostic::warning(Kind::NotExecuted, "the PostgreSQL migrations' SQL was not run: no scratch server")
                        .note("names, order and checksums were checked")
                        .help("set MIGCHECK_SCRATCH_URL to a PostgreSQL server where migcheck may create and drop a scratch database (scripts/pg-start starts one)"),
                ),
            }
        } else {
            execute(config, &mut report);
        }
    }
    clock.lap(&mut report.timings, "sql");
    if let Some(dir) = &config.cache_dir {
        remember(dir, &memo, &report, lock_text.as_deref());
    }
    clock.lap(&mut report.timings, "memo");
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

/// The lock's chain hash before its entry `i`.
fn link_before(links: &[Digest], i: usize) -> Digest {
    if i == 0 { CHAIN_START } else { links[i - 1] }
}

/// Reads the lock into `report`; returns its text when it parsed.
fn read_lock(config: &Config, report: &mut Report, memo: &Memo) -> Option<String> {
    let path = config.lock_path();
    let shown = display_path(&path, &config.display_base);
    match fs::read_to_string(&path) {
        Ok(text) if let Some((lock, links)) = memo.lock(&text) => {
            report.lock = lock;
            report.lock_links = links;
            report.lock_ok = true;
            return Some(text);
        }
        Ok(text) => match Lock::parse_with_links(&text) {
            Ok((lock, links)) => {
                report.lock = lock;
                report.lock_links = links;
                report.lock_ok = true;
                return Some(text);
            }
            Err(err) => {
                let kind = if err.conflict { Kind::LockConflict } else { Kind::LockCorrupt };
                let location = if err.line == 0 {
                    Location::file(shown)
                } else {
                    let start: usize = text.split_inclusive('\n').take(err.line - 1).map(str::len).sum();
                    let len = text[start..].find(['\r', '\n']).unwrap_or(text.len() - start);
                    Location::span(shown, &text, start..start + len, "here")
                };
                report.diagnostics.push(
                    Diagnostic::error(kind, err.message)
                        .at(location)
                        .note("sealed migrations cannot be verified until the lock file is fixed")
                        .help(err.help),
                );
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => report.lock_ok = true,
        Err(err) => report.diagnostics.push(
            Diagnostic::error(Kind::Io, format!("cannot read `{shown}`: {err}"))
                .at(Location::file(shown))
                .help("check the file's permissions"),
        ),
    }
    None
}

/// Reads directives and shell commands of one file. A whole file whose bytes
/// the memo saw without a problem is not read again.
fn script(
    mut file: SourceFile,
    part: &scan::Part,
    is_up: bool,
    version: i64,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Script> {
    let whole = part.section.is_none();
    let (sql, found) = match file.analysis.get().filter(|_| whole) {
        Some(found) => (file.text[file.bom_len()..].to_owned(), found),
        None => {
            let (sql, found, clean) = read_script(&file, part, version, diagnostics)?;
            if whole && clean {
                file.analysis = Analysis::new(found.0, found.1, found.2);
            }
            (sql, found)
        }
    };
    let (has_statements, begins, no_transaction) = found;
    if is_up && !has_statements {
        diagnostics.push(
            Diagnostic::warning(Kind::EmptyMigration, format!("`{}` has no SQL statement", file.file_name()))
                .at(Location::file(&file.display))
                .version(version)
                .help("write the migration's SQL, or delete the file if it is not needed"),
        );
    }
    let mode = if no_transaction || part.no_transaction {
        Mode::NoTransaction
    } else if begins {
        Mode::SelfManaged
    } else {
        Mode::Transaction
    };
    Some(Script { file, sql, mode })
}

/// The SQL to run (shell commands blanked) and `(has_statements, begins,
/// no_transaction directive)` of one file or section, and whether nothing
/// needed saying about it; `None` after an error.
fn read_script(
    file: &SourceFile,
    part: &scan::Part,
    version: i64,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(String, (bool, bool, bool), bool)> {
    let bom = file.bom_len();
    // Another tool's single-file layout: only this half's section, the rest
    // blanked so that positions stay the file's.
    let sectioned;
    let text = match &part.section {
        Some(range) => {
            sectioned = crate::layout::blank_outside(&file.text, range);
            &sectioned[bom..]
        }
        None => &file.text[bom..],
    };
    let directives = match directive::parse(text) {
        Ok(d) => d,
        Err(err) => {
            diagnostics.push(
                Diagnostic::error(Kind::UnknownDirective, format!("unknown directive `{}`", err.directive))
                    .at(Location::span(
                        &file.display,
                        &file.text,
                        err.span.start + bom..err.span.end + bom,
                        "not a migcheck directive",
                    ))
                    .version(version)
                    .help(format!("the directives are: {}", directive::KNOWN.join(", "))),
            );
            return None;
        }
    };
    if let Some(at) = lexer::unterminated_comment(text) {
        diagnostics.push(
            Diagnostic::error(Kind::SqlError, "this `/*` comment is never closed: SQLite ignores everything after it")
                .at(Location::span(&file.display, &file.text, at + bom..at + bom + 2, "never closed"))
                .version(version)
                .help("close the comment with `*/`"),
        );
        return None;
    }
    let outline = lexer::outline(text);
    let mut sql = text.to_owned();
    for range in &outline.shell_commands {
        sql.replace_range(range.clone(), &" ".repeat(range.len()));
        diagnostics.push(
            Diagnostic::warning(
                Kind::ShellCommand,
                format!("`{}` is a sqlite3 shell command, not SQL", &text[range.clone()]),
            )
            .at(Location::span(&file.display, &file.text, range.start + bom..range.end + bom, "skipped"))
            .version(version)
            .note("only the sqlite3 command-line shell understands lines that start with `.`; migcheck skips them")
            .help("remove the line"),
        );
    }
    let found = (outline.has_statements, outline.begin.is_some(), directives.no_transaction);
    Some((sql, found, outline.shell_commands.is_empty()))
}

fn compare_with_lock(config: &Config, broken: &std::collections::BTreeSet<i64>, report: &mut Report) {
    let lock_display = display_path(&config.lock_path(), &config.display_base);
    let newest_sealed = report.lock.newest();
    for entry in &report.lock.entries {
        if broken.contains(&entry.version) {
            continue;
        }
        // Both lists are in version order: a binary search, not a scan (long histories).
        let found = report.migrations.binary_search_by_key(&entry.version, |m| m.version).ok();
        let Some(m) = found.map(|i| &mut report.migrations[i]) else {
            report.diagnostics.push(
                Diagnostic::error(
                    Kind::SealedDeleted,
                    format!("sealed migration {} `{}` was deleted", entry.version, entry.name),
                )
                .at(Location::file(format!("{lock_display}:{}", entry.line)))
                .version(entry.version)
                .note("databases that applied it would no longer match the migrations")
                .help("restore it from version control; to undo what it did, add a new migration with `migcheck new`"),
            );
            continue;
        };
        let mut edited = Vec::new();
        if m.description != entry.name {
            edited.push((
                m.up.file.display.clone(),
                format!("sealed migration {} was renamed from `{}` to `{}`", entry.version, entry.name, m.description),
            ));
        }
        if m.up.file.checksum != entry.up {
            edited
                .push((m.up.file.display.clone(), format!("sealed migration `{}` was edited", m.up.file.file_name())));
        }
        match (&m.down, entry.down) {
            (Some(down), Some(sealed)) if down.file.checksum != sealed => edited
                .push((down.file.display.clone(), format!("sealed migration `{}` was edited", down.file.file_name()))),
            (Some(down), None) => edited.push((
                down.file.display.clone(),
                format!("`{}` was added to a sealed irreversible migration", down.file.file_name()),
            )),
            (None, Some(_)) => edited.push((
                m.up.file.display.clone(),
                format!("the down migration of sealed migration {} `{}` was deleted", entry.version, entry.name),
            )),
            _ => {}
        }
        m.sealed = edited.is_empty();
        for (file, message) in edited {
            report.diagnostics.push(
                Diagnostic::error(Kind::SealedEdited, message)
                    .at(Location::file(file))
                    .version(entry.version)
                    .note(format!(
                        "it is sealed in `{lock_display}` (line {}): databases may already have applied it",
                        entry.line
                    ))
                    .help(
                        "restore it from version control and add a new migration with `migcheck new` instead; \
                           if it was never applied anywhere, re-seal it with `migcheck lock --force`",
                    ),
            );
        }
    }
    let mut unsealed = Vec::new();
    for m in &report.migrations {
        if report.lock.get(m.version).is_some() {
            continue;
        }
        match newest_sealed {
            Some(newest) if m.version < newest => report.diagnostics.push(
                Diagnostic::error(
                    Kind::OutOfOrder,
                    format!(
                        "migration {} is not sealed and comes before the newest sealed migration {newest}",
                        m.version
                    ),
                )
                .at(Location::file(m.up.file.display.clone()))
                .version(m.version)
                .note("databases at the newest sealed migration would never apply it (typical after a branch merge)")
                .help("run `migcheck rebase` to renumber it after the newest sealed migration"),
            ),
            _ => unsealed.push(m),
        }
    }
    // One diagnostic for all unsealed migrations: while a migration is being
    // written this shows on every build, so it must stay short.
    let Some(first) = unsealed.first() else { return };
    let message = match unsealed.as_slice() {
        [m] => format!("migration {} `{}` is not sealed yet", m.version, m.description),
        many => format!("{} migrations are not sealed yet", many.len()),
    };
    let mut d = if config.locked {
        Diagnostic::error(Kind::Unsealed, message).note(
            "locked mode (`CI` or `MIGCHECK_LOCKED=1` is set, or `.locked(true)`) requires every migration to be sealed",
        )
    } else {
        Diagnostic::warning(Kind::Unsealed, message)
    };
    if unsealed.len() > 1 {
        for m in &unsealed {
            d = d.note(format!("not sealed: {}", m.up.file.display));
        }
    }
    report.diagnostics.push(
        d.at(Location::file(first.up.file.display.clone()))
            .version(first.version)
            .help(format!("run `migcheck lock` and commit `{lock_display}` with the migrations")),
    );
}

fn execute(config: &Config, report: &mut Report) {
    let mut clock = Clock::start();
    let mut scratch_config = config.scratch.clone();
    for f in &report.lock.functions {
        if !scratch_config.functions.contains(f) {
            scratch_config.functions.push(f.clone());
        }
    }
    report.scratch = scratch_config.clone();
    let scratch = match Scratch::open(&scratch_config) {
        Ok(s) => s,
        Err(err) => {
            report.diagnostics.push(Diagnostic::error(Kind::Io, format!("cannot open the scratch database: {err}")));
            return;
        }
    };
    report.executed = true;
    let total = report.migrations.len();
    // The leading sealed migrations: their result can come from the cache.
    let sealed = report.migrations.iter().take_while(|m| m.sealed).count();
    let cache = config
        .cache_dir
        .as_ref()
        .filter(|_| sealed > 0)
        .map(|dir| (dir, cache::key(&report.migrations[sealed - 1].chain, sealed, &scratch_config)));
    clock.lap(&mut report.timings, "sql/open");
    let mut start = 0;
    if let Some((dir, key)) = &cache
        && let Some((state, image)) = cache::load(dir, key)
        && scratch.restore(image)
        && scratch
            .conn
            .execute_batch(if state.foreign_keys { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" })
            .is_ok()
    {
        start = sealed;
        report.from_cache = true;
    }
    clock.lap(&mut report.timings, "sql/restore");
    let diagnostics_before = report.diagnostics.len();
    for (i, m) in report.migrations.iter().enumerate().skip(start) {
        if i == sealed
            && start == 0
            && report.diagnostics.len() == diagnostics_before
            && let Some((dir, key)) = &cache
        {
            store_cache(&scratch, dir, key);
        }
        if let Err(mut diagnostic) = run_migration(&scratch, &scratch_config, m, &mut report.diagnostics) {
            diagnostic.version = Some(m.version);
            if i + 1 < total {
                let later = total - i - 1;
                diagnostic
                    .notes
                    .push(format!("the {later} later migration{} were not run", if later == 1 { "" } else { "s" }));
            }
            report.diagnostics.push(diagnostic);
            return;
        }
    }
    if sealed == total
        && start == 0
        && report.diagnostics.len() == diagnostics_before
        && let Some((dir, key)) = &cache
    {
        store_cache(&scratch, dir, key);
    }
    clock.lap(&mut report.timings, "sql/run");
    let drift_check = config.schema_required || config.schema.as_ref().is_some_and(|p| p.exists());
    if config.keep_schema || drift_check {
        match Snapshot::read(&scratch.conn, &[]) {
            Ok(snapshot) => report.schema = Some(snapshot),
            Err(err) => {
                report
                    .diagnostics
                    .push(Diagnostic::error(Kind::Io, format!("cannot read the scratch database's schema: {err}")));
                return;
            }
        }
    }
    clock.lap(&mut report.timings, "sql/schema");
    check_drift(config, &scratch_config, report);
    clock.lap(&mut report.timings, "sql/drift");
}

/// Keeps the scratch database at the newest sealed migration for the next
/// build, unless TEMP objects (which a restored database would lack) exist. A
/// cache that cannot be written only costs speed.
fn store_cache(scratch: &Scratch, dir: &Path, key: &checksum::Digest) {
    let temp_objects: i64 =
        scratch.conn.query_row("SELECT count(*) FROM temp.sqlite_schema", [], |r| r.get(0)).unwrap_or(1);
    let foreign_keys = scratch.conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).map(|v| v == 1);
    if let (0, Ok(foreign_keys), Some(bytes)) = (temp_objects, foreign_keys, cache::serialize(&scratch.conn)) {
        let _ = cache::store(dir, key, cache::State { foreign_keys }, &bytes);
    }
}

/// The schema the migrations up to `version` (all when `None`) produce, on a
/// fresh scratch database: what a live database at that version should have.
pub fn schema_at(report: &Report, version: Option<i64>) -> Result<Snapshot, Diagnostic> {
    let scratch = Scratch::open(&report.scratch)
        .map_err(|e| Diagnostic::error(Kind::Io, format!("cannot open the scratch database: {e}")))?;
    let mut warnings = Vec::new();
    for m in report.migrations.iter().filter(|m| version.is_none_or(|v| m.version <= v)) {
        run_script(&scratch, &m.up, &mut warnings)?;
    }
    Snapshot::read(&scratch.conn, &[])
        .map_err(|e| Diagnostic::error(Kind::Io, format!("cannot read the scratch database's schema: {e}")))
}

/// Up; for a reversible migration also down (which must restore the schema
/// the up started from) and up again.
fn run_migration(
    scratch: &Scratch,
    config: &ScratchConfig,
    m: &Migration,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let Some(down) = &m.down else {
        return run_script(scratch, &m.up, warnings);
    };
    // The schema as one text from SQLite: equal texts are equal schemas, and
    // only different ones are compared as models (the text of a table that
    // was altered and altered back may differ in spacing alone).
    let text = |scratch: &Scratch| {
        Snapshot::text(&scratch.conn)
            .map_err(|e| Diagnostic::error(Kind::Io, format!("cannot read the scratch database's schema: {e}")))
    };
    let before = text(scratch)?;
    run_script(scratch, &m.up, warnings)?;
    run_script(scratch, down, warnings)
        .map_err(|d| d.note("this happened checking that the down migration undoes the up"))?;
    let after = text(scratch)?;
    if before != after {
        let (before, after) = (Snapshot::from_text(&before), Snapshot::from_text(&after));
        let diff = schema::compare(&before, &after, config)
            .map_err(|e| Diagnostic::error(Kind::Io, format!("cannot compare schemas: {e}")))?;
        if !diff.is_empty() {
            let mut d = Diagnostic::error(
                Kind::IrreversibleDown,
                format!("`{}` does not restore the schema its up migration started from", down.file.file_name()),
            )
            .at(Location::file(&down.file.display));
            for line in diff.describe("the schema before the up", "the schema after the down") {
                d = d.note(line);
            }
            return Err(d.help("make the down migration undo exactly what the up does (each reversible migration is checked up, down, up)"));
        }
    }
    run_script(scratch, &m.up, warnings)
        .map_err(|d| d.note("this happened applying the up migration again after its down"))
}

/// Compares the migrated schema with the schema file.
fn check_drift(config: &Config, scratch_config: &ScratchConfig, report: &mut Report) {
    let Some(path) = &config.schema else { return };
    let shown = display_path(path, &config.display_base);
    let text = match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                report.diagnostics.push(
                    Diagnostic::error(Kind::InvalidText, format!("`{shown}` is not UTF-8 text"))
                        .at(Location::file(&shown))
                        .help("save it as UTF-8"),
                );
                return;
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !config.schema_required => return,
        Err(err) => {
            report.diagnostics.push(
                Diagnostic::error(Kind::Io, format!("cannot read the schema file `{shown}`: {err}"))
                    .at(Location::file(&shown))
                    .help("create it, or remove the `.schema(…)` setting"),
            );
            return;
        }
    };
    if !lexer::outline(&text).has_statements {
        return;
    }
    let checksum = checksum::checksum(text.as_bytes());
    let file = SourceFile {
        path: path.clone(),
        display: shown.clone(),
        text: text.clone(),
        checksum,
        analysis: Default::default(),
    };
    let sql = text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
    let script = Script { file, sql, mode: Mode::Transaction };
    let scratch = match Scratch::open(scratch_config) {
        Ok(s) => s,
        Err(err) => {
            report.diagnostics.push(Diagnostic::error(Kind::Io, format!("cannot open a scratch database: {err}")));
            return;
        }
    };
    if let Err(d) = run_script(&scratch, &script, &mut report.diagnostics) {
        report.diagnostics.push(
            d.note("`schema.sql` declares the schema the migrations must produce; it must run on an empty database"),
        );
        return;
    }
    let declared = match Snapshot::read(&scratch.conn, &[]) {
        Ok(s) => s,
        Err(err) => {
            report.diagnostics.push(Diagnostic::error(Kind::Io, format!("cannot read the declared schema: {err}")));
            return;
        }
    };
    if let Some(migrated) = &report.schema {
        match schema::compare(migrated, &declared, scratch_config) {
            Ok(diff) if !diff.is_empty() => {
                let mut d = Diagnostic::error(
                    Kind::Drift,
                    format!("the migrations do not produce the schema declared in `{shown}`"),
                )
                .at(Location::file(&shown));
                let name = path.file_name().map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
                for line in diff.describe("the migrations", &name) {
                    d = d.note(line);
                }
                report.diagnostics.push(d.help(format!(
                    "run `migcheck diff -m \"<what changed>\"` to generate a migration from the migrated schema to `{shown}`, or edit `{shown}`"
                )));
            }
            Ok(_) => {}
            Err(err) => report.diagnostics.push(Diagnostic::error(Kind::Io, format!("cannot compare schemas: {err}"))),
        }
    }
    report.declared = Some(declared);
}

/// Runs one file on the scratch database the way the runtime will.
fn run_script(scratch: &Scratch, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic> {
    let conn = &scratch.conn;
    let file = &script.file;
    let offset = script.offset();
    let wrapped = script.mode == Mode::Transaction;
    let sql_error = |e: rusqlite::Error| {
        Diagnostic::error(Kind::SqlError, format!("SQL fails on the scratch database: {e}"))
            .at(Location::file(&file.display))
    };
    if wrapped {
        conn.execute_batch("BEGIN").map_err(sql_error)?;
    }
    scratch.take_events();
    scratch.start_clock();
    let started = Instant::now();
    let mut saw_foreign_keys_pragma = false;
    let result = exec::run_statements(conn, &script.sql, |statement| {
        for event in scratch.take_events() {
            saw_foreign_keys_pragma |= event == Event::ForeignKeysPragma;
            if event == Event::ForeignKeysPragma && !conn.is_autocommit() {
                let span = statement.start + offset..statement.end + offset;
                warnings.push(
                    Diagnostic::warning(
                        Kind::PragmaInTransaction,
                        "`PRAGMA foreign_keys` has no effect inside a transaction",
                    )
                    .at(Location::span(&file.display, &file.text, span, "ignored by SQLite"))
                    .note(if wrapped {
                        "migcheck runs this file in a transaction, and SQLite silently ignores the pragma there"
                    } else {
                        "this statement runs after `BEGIN`, where SQLite silently ignores the pragma"
                    })
                    .help(
                        "add `-- migcheck: no-transaction` on the first line and set the pragma before \
                               `BEGIN` and after `COMMIT` (SQLite's table rebuild procedure)",
                    ),
                );
            }
        }
        Ok(())
    });
    scratch.stop_clock();
    let result = result.map_err(|err| statement_error(scratch, script, err, started.elapsed()));
    if result.is_err() {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return result.map(|_| ());
    }
    if wrapped {
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            let mut d = sql_error(e);
            if conn.is_autocommit() {
                d = d.note("the file ended the transaction migcheck runs it in: a file with its own `BEGIN … COMMIT` must start a statement with `BEGIN`");
            }
            return Err(d);
        }
    } else if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(Diagnostic::error(Kind::SqlError, format!("`{}` leaves a transaction open", file.file_name()))
            .at(Location::file(&file.display))
            .help("end the file's transaction with `COMMIT`"));
    }
    // With enforcement on throughout the file, SQLite refused any violating
    // row as it was written (deferred ones at COMMIT): only a file that
    // touched `PRAGMA foreign_keys`, or a database with enforcement off, can
    // leave violations. Skipping the scan otherwise keeps long histories fast.
    let enforcing = conn.query_row("PRAGMA foreign_keys", [], |r| r.get::<_, i64>(0)).map_err(sql_error)? == 1;
    if enforcing && !saw_foreign_keys_pragma {
        return Ok(());
    }
    match scratch.foreign_key_violations(5) {
        Ok((0, _)) => Ok(()),
        Ok((count, rows)) => {
            let mut d = Diagnostic::error(
                Kind::ForeignKeyViolation,
                format!(
                    "`{}` leaves {count} row{} violating foreign keys",
                    file.file_name(),
                    if count == 1 { "" } else { "s" }
                ),
            )
            .at(Location::file(&file.display));
            for row in rows {
                d = d.note(row);
            }
            Err(d.help("fix or delete the rows in the migration, or create the rows they reference first"))
        }
        Err(e) => Err(sql_error(e)),
    }
}

/// Where the name an error message ends with (`no such table: pets`, `table
/// t has no column named x`) appears in the statement, when SQLite gave no
/// offset: so that the caret points at it rather than at the whole statement.
fn named_in_message(message: &str, statement: &str) -> Option<std::ops::Range<usize>> {
    let name = message.rsplit([' ', ':']).next()?.trim_matches(['"', '\'', '`']);
    let name = name.rsplit('.').next()?;
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    schema::tokens::tokenize(statement).into_iter().find(|t| t.is_word(&name.to_lowercase())).map(|t| t.span)
}

fn statement_error(
    scratch: &Scratch,
    script: &Script,
    err: StatementError,
    elapsed: std::time::Duration,
) -> Diagnostic {
    let file = &script.file;
    let offset = script.offset();
    let text = &file.text;
    let statement = err.statement.start + offset..err.statement.end + offset;
    let at = lexer::floor_char_boundary(text, err.offset + offset);
    // Underline the word at the error offset, or the statement when SQLite gave
    // no position inside it.
    let span = if at > statement.start && at < statement.end {
        let len = text[at..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len() - at).max(1);
        at..(at + len).min(statement.end)
    } else {
        named_in_message(&err.message, &text[statement.clone()])
            .map_or(statement.clone(), |r| r.start + statement.start..r.end + statement.start)
    };
    let denied = scratch.take_events().into_iter().find_map(|e| match e {
        Event::Denied(what) => Some(what),
        Event::ForeignKeysPragma => None,
    });
    if let Some(what) = denied {
        return Diagnostic::error(Kind::SandboxDenied, format!("the build-time check denied {what}"))
            .at(Location::span(&file.display, text, span, "reaches outside the scratch database"))
            .note(
                "`cargo build` runs migrations on a sandboxed in-memory database that cannot read or write other files",
            )
            .help("keep migrations to SQL on the database itself; do file work outside the migration");
    }
    if err.code == ffi::SQLITE_INTERRUPT {
        return Diagnostic::error(
            Kind::Timeout,
            format!("`{}` did not finish within {:?}", file.file_name(), scratch.timeout()),
        )
        .at(Location::span(&file.display, text, statement, "still running when interrupted"))
        .note(format!("it was interrupted after {:.1?}", elapsed))
        .help(
            "look for a statement that never ends (a recursive CTE without a stop condition); \
               raise the limit with `Build::timeout` or `MIGCHECK_TIMEOUT=<seconds>` if it is just slow",
        );
    }
    let mut d = Diagnostic::error(Kind::SqlError, format!("SQL fails on the scratch database: {}", err.message))
        .at(Location::span(&file.display, text, span, err.message.clone()))
        .note(
            "each migration runs on an in-memory SQLite database holding the schema the migrations before it produced",
        );
    if err.message.contains("within a transaction") {
        d = d.help(
            "add `-- migcheck: no-transaction` on the first line: migcheck wraps each migration in a transaction",
        );
    } else if err.message.starts_with("no such function") {
        d = d.help(
            "if the application registers this function, declare it with `Build::function(name, arity)` so the \
                    scratch database stands in for it",
        );
    } else {
        d = d.help("fix the statement and build again");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let modes: Vec<Mode> = report.migrations.iter().map(|m| m.up.mode).collect();
        assert_eq!(modes, [Mode::Transaction, Mode::NoTransaction, Mode::SelfManaged]);
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
