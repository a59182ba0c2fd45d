//! The sandboxed scratch database the checker runs migrations on.
//!
//! An in-memory SQLite database that cannot reach outside itself:
//! - an authorizer denies `ATTACH` of any named file (which also covers
//!   `VACUUM INTO`, while plain `VACUUM`, which attaches an unnamed temporary
//!   database, keeps working), `load_extension()`, and the pragmas that move
//!   SQLite's files (`temp_store_directory`, `data_store_directory`);
//! - extension loading stays off, temporary storage stays in memory, and the
//!   connection is opened without URI support, so `file:` names are plain names;
//! - `SQLITE_DBCONFIG_DEFENSIVE` forbids editing `sqlite_schema` through
//!   `PRAGMA writable_schema`: a migration that does so is reported as an SQL
//!   error, since its result could not be trusted anyway;
//! - a progress handler interrupts a statement that runs past the deadline.
//!
//! Foreign-key enforcement is set explicitly (on by default, as sqlx and
//! rusqlite's bundled SQLite do) rather than inherited from compile options.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use crate::config::ScratchConfig;

/// Something the authorizer saw while a statement was prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// An access outside the scratch database, denied; says what it was.
    Denied(String),
    /// `PRAGMA foreign_keys = …`.
    ForeignKeysPragma,
}

struct Shared {
    events: Mutex<Vec<Event>>,
    /// When the clock started.
    epoch: Instant,
    /// The deadline in nanoseconds after `epoch`; 0 when no clock runs.
    /// An atomic, since the progress handler reads it every 1,000 VM steps.
    deadline: AtomicU64,
    /// Set only while migcheck itself restores a cached database
    /// (`sqlite3_deserialize` prepares an internal `ATTACH`).
    restoring: AtomicBool,
}

impl Shared {
    fn past_deadline(&self) -> bool {
        let deadline = self.deadline.load(Ordering::Relaxed);
        deadline != 0 && self.epoch.elapsed().as_nanos() as u64 > deadline
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The scratch database.
pub(crate) struct Scratch {
    pub(crate) conn: Connection,
    shared: Arc<Shared>,
    timeout: Duration,
    size_limit: u64,
}

/// The scratch database's pages: 1 KiB each (set at open, kept by restores).
const PAGE_SIZE: u64 = 1024;

/// Bounds the main and TEMP databases to `limit` bytes of pages: past it, a
/// write fails with `SQLITE_FULL` instead of growing the process's memory.
fn bound(conn: &Connection, limit: u64) -> rusqlite::Result<()> {
    let pages = (limit / PAGE_SIZE).max(1);
    conn.execute_batch(&format!("PRAGMA main.max_page_count = {pages}; PRAGMA temp.max_page_count = {pages};"))?;
    // An in-memory page costs more than its size (the page cache's headers,
    // about a third for 1 KiB pages): SQLite's whole heap is bounded too, a
    // little above the pages' bound, so that the process stays within the
    // limit plus a small constant. The bound is the library's, for the whole
    // process: it is only ever raised, to the largest scratch limit asked.
    let heap = i64::try_from(limit.saturating_add(HEAP_MARGIN)).unwrap_or(i64::MAX);
    // SAFETY: sqlite3_hard_heap_limit64 only reads and sets a global under SQLite's own mutex.
    unsafe {
        let current = rusqlite::ffi::sqlite3_hard_heap_limit64(-1);
        if current == 0 || current < heap {
            rusqlite::ffi::sqlite3_hard_heap_limit64(heap);
        }
    }
    Ok(())
}

/// What SQLite's heap may hold beyond the scratch limit's pages.
const HEAP_MARGIN: u64 = 128 << 20;

impl Scratch {
    pub(crate) fn open(config: &ScratchConfig) -> rusqlite::Result<Scratch> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_in_memory_with_flags(flags)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, config.foreign_keys)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, true)?;
        conn.execute_batch("PRAGMA temp_store = MEMORY; PRAGMA page_size = 1024;")?;
        bound(&conn, config.size_limit)?;
        for function in &config.functions {
            conn.create_scalar_function(
                function.name.as_str(),
                function.arity,
                FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS,
                |ctx| Ok(if ctx.is_empty() { Value::Null } else { ctx.get::<Value>(0)? }),
            )?;
        }
        let shared = Arc::new(Shared {
            events: Mutex::new(Vec::new()),
            epoch: Instant::now(),
            deadline: AtomicU64::new(0),
            restoring: AtomicBool::new(false),
        });
        let events = Arc::clone(&shared);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| authorize(&events, ctx)))?;
        let clock = Arc::clone(&shared);
        conn.progress_handler(1000, Some(move || clock.past_deadline()))?;
        Ok(Scratch { conn, shared, timeout: config.timeout, size_limit: config.size_limit })
    }

    /// Replaces the database with a serialized one (the build cache).
    pub(crate) fn restore(&mut self, source: impl std::io::Read, len: usize) -> bool {
        self.shared.restoring.store(true, Ordering::Relaxed);
        // A database larger than the limit is not restored: the check runs
        // cold and says which migration passes the limit.
        let ok = len as u64 <= self.size_limit
            && crate::engine::sqlite::cache::deserialize(&mut self.conn, source, len)
            && bound(&self.conn, self.size_limit).is_ok();
        self.shared.restoring.store(false, Ordering::Relaxed);
        ok
    }

    /// Starts the clock for one migration file.
    pub(crate) fn start_clock(&self) {
        let deadline = (self.shared.epoch.elapsed() + self.timeout).as_nanos().max(1);
        self.shared.deadline.store(u64::try_from(deadline).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn stop_clock(&self) {
        self.shared.deadline.store(0, Ordering::Relaxed);
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn size_limit(&self) -> u64 {
        self.size_limit
    }

    /// Events since the last call.
    pub(crate) fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *lock(&self.shared.events))
    }

    /// Up to `limit` rows of `PRAGMA foreign_key_check`, as sentences.
    pub(crate) fn foreign_key_violations(&self, limit: usize) -> rusqlite::Result<(usize, Vec<String>)> {
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check")?;
        let mut rows = stmt.query([])?;
        let (mut count, mut out) = (0, Vec::new());
        while let Some(row) = rows.next()? {
            count += 1;
            if out.len() < limit {
                let table: String = row.get(0)?;
                let rowid: Option<i64> = row.get(1)?;
                let parent: String = row.get(2)?;
                let row_name = rowid.map_or_else(|| "a row".to_owned(), |id| format!("the row with rowid {id}"));
                out.push(format!("{row_name} of `{table}` references a missing row of `{parent}`"));
            }
        }
        Ok((count, out))
    }
}

fn authorize(shared: &Shared, ctx: AuthContext<'_>) -> Authorization {
    if shared.restoring.load(Ordering::Relaxed) {
        return Authorization::Allow;
    }
    let denied = match ctx.action {
        AuthAction::Attach { filename } if !filename.is_empty() => {
            Some(format!("attaching the database file `{filename}` (ATTACH or VACUUM INTO)"))
        }
        AuthAction::Function { function_name } if function_name.eq_ignore_ascii_case("load_extension") => {
            Some("loading an extension with load_extension()".to_owned())
        }
        AuthAction::Pragma { pragma_name, pragma_value: Some(_) }
            if pragma_name.eq_ignore_ascii_case("temp_store_directory")
                || pragma_name.eq_ignore_ascii_case("data_store_directory") =>
        {
            Some(format!("`PRAGMA {pragma_name}`, which moves SQLite's files"))
        }
        AuthAction::Pragma { pragma_name, pragma_value: Some(_) }
            if pragma_name.eq_ignore_ascii_case("foreign_keys") =>
        {
            lock(&shared.events).push(Event::ForeignKeysPragma);
            None
        }
        _ => None,
    };
    match denied {
        Some(what) => {
            lock(&shared.events).push(Event::Denied(what));
            Authorization::Deny
        }
        None => Authorization::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> Scratch {
        Scratch::open(&ScratchConfig {
            functions: vec![crate::config::FunctionStub { name: "normalize".into(), arity: 1 }],
            ..ScratchConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn denies_every_way_out_and_keeps_plain_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let s = scratch();
        let target = dir.path().join("x.db");
        let t = target.display();
        let escapes = [
            format!("ATTACH '{t}' AS x"),
            format!("ATTACH 'file:{t}?mode=rwc' AS x"),
            format!("VACUUM INTO '{t}'"),
            format!("SELECT load_extension('{t}')"),
            format!("PRAGMA temp_store_directory = '{}'", dir.path().display()),
        ];
        for sql in &escapes {
            assert!(s.conn.execute_batch(sql).is_err(), "{sql}");
            assert!(matches!(s.take_events().as_slice(), [Event::Denied(_)]), "{sql}");
        }
        s.conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
        assert!(s.conn.execute_batch("UPDATE sqlite_master SET sql = 'x'").is_err());
        s.conn.execute_batch("CREATE TABLE a(x); VACUUM;").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file may be created");
    }

    #[test]
    fn interrupts_runaway_statements() {
        let s =
            Scratch::open(&ScratchConfig { timeout: Duration::from_millis(50), ..ScratchConfig::default() }).unwrap();
        s.start_clock();
        let started = Instant::now();
        let err = s
            .conn
            .execute_batch("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r")
            .unwrap_err();
        assert_eq!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::OperationInterrupted));
        assert!(started.elapsed() < Duration::from_secs(5));
        s.stop_clock();
        s.conn.execute_batch("SELECT 1").unwrap();
    }

    #[test]
    fn stubs_functions_and_enforces_foreign_keys() {
        let s = scratch();
        let v: String = s.conn.query_row("SELECT normalize('Ab')", [], |r| r.get(0)).unwrap();
        assert_eq!(v, "Ab");
        s.conn.execute_batch("CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(p REFERENCES p(id));").unwrap();
        assert!(s.conn.execute_batch("INSERT INTO c VALUES (7)").is_err());
        s.conn.execute_batch("PRAGMA foreign_keys = OFF; INSERT INTO c VALUES (7);").unwrap();
        assert_eq!(s.take_events(), vec![Event::ForeignKeysPragma]);
        let (n, rows) = s.foreign_key_violations(5).unwrap();
        assert_eq!(n, 1);
        assert_eq!(rows[0], "the row with rowid 1 of `c` references a missing row of `p`");
    }
}
