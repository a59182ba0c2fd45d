//! I/O errors during an upgrade, injected by a SQLite VFS: a shim over the
//! default VFS whose writes start failing (`SQLITE_IOERR_WRITE`) after a
//! chosen number, as a failing disk's would. For every write of an upgrade
//! in turn: the upgrade stops with a clear error, and the database, opened
//! again without faults, is intact and exactly at the version its history
//! says (SQLite rolls back the interrupted transaction from its journal); a
//! second upgrade then finishes the job.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use migcheck::{Migration, Migrations, Mode, Script};
use rusqlite::{Connection, OpenFlags, ffi};

/// Writes left before they fail (negative: never).
static WRITES_LEFT: AtomicI64 = AtomicI64::new(-1);
/// Writes seen since the count was set.
static WRITES: AtomicI64 = AtomicI64::new(0);
/// The VFS's registration, once per process.
static VFS: Mutex<Option<usize>> = Mutex::new(None);
/// The fault counters are the process's: tests that inject take turns.
static TURN: Mutex<()> = Mutex::new(());

const NAME: &CStr = c"migcheck_faulty";

/// A file of the shim: its methods first (SQLite's layout), then the real
/// file of the default VFS.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
}

fn real(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: every file this VFS opens is a `File`.
    unsafe { (*f.cast::<File>()).real }
}

fn methods(f: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: the real file was opened by the default VFS, which set its methods.
    unsafe { &*(*real(f)).pMethods }
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    let r = real(f);
    // SAFETY: delegating to the real file, then freeing what `x_open` allocated.
    unsafe {
        let rc = (methods(f).xClose.unwrap())(r);
        ffi::sqlite3_free(r.cast());
        rc
    }
}

/// A method of the shim's files that hands its call to the real file's.
macro_rules! file_delegate {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(f: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: delegating with SQLite's own arguments.
            unsafe { (methods(f).$field.unwrap())(real(f), $($arg),*) }
        }
    };
}

file_delegate!(x_read, xRead, (buf: *mut c_void, n: c_int, off: i64));
file_delegate!(x_truncate, xTruncate, (size: i64));
file_delegate!(x_sync, xSync, (flags: c_int));
file_delegate!(x_file_size, xFileSize, (size: *mut i64));
file_delegate!(x_lock, xLock, (level: c_int));
file_delegate!(x_unlock, xUnlock, (level: c_int));
file_delegate!(x_check_reserved_lock, xCheckReservedLock, (out: *mut c_int));
file_delegate!(x_file_control, xFileControl, (op: c_int, arg: *mut c_void));
file_delegate!(x_sector_size, xSectorSize, ());
file_delegate!(x_device_characteristics, xDeviceCharacteristics, ());

/// Writes fail once the count set in `WRITES_LEFT` is used up.
unsafe extern "C" fn x_write(f: *mut ffi::sqlite3_file, buf: *const c_void, n: c_int, off: i64) -> c_int {
    WRITES.fetch_add(1, Ordering::SeqCst);
    if WRITES_LEFT.load(Ordering::SeqCst) == 0 {
        return ffi::SQLITE_IOERR_WRITE;
    }
    let _ = WRITES_LEFT.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| (w > 0).then_some(w - 1));
    // SAFETY: delegating with SQLite's own arguments.
    unsafe { (methods(f).xWrite.unwrap())(real(f), buf, n, off) }
}

/// Version 1 methods: no shared memory, so no WAL (the test uses the
/// default rollback journal).
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: `pAppData` holds the default VFS (see `register`); the real
    // file gets memory of the size that VFS asks for, freed in `x_close`.
    unsafe {
        let base = (*vfs).pAppData.cast::<ffi::sqlite3_vfs>();
        let real = ffi::sqlite3_malloc((*base).szOsFile).cast::<ffi::sqlite3_file>();
        if real.is_null() {
            return ffi::SQLITE_NOMEM;
        }
        std::ptr::write_bytes(real.cast::<u8>(), 0, (*base).szOsFile as usize);
        let rc = ((*base).xOpen.unwrap())(base, name, real, flags, out_flags);
        let shim = file.cast::<File>();
        if rc != ffi::SQLITE_OK {
            ffi::sqlite3_free(real.cast());
            (*shim).base.pMethods = std::ptr::null();
            return rc;
        }
        (*shim).real = real;
        (*shim).base.pMethods = &METHODS;
        rc
    }
}

macro_rules! delegate {
    ($name:ident, $field:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs, $($arg: $ty),*) -> $ret {
            // SAFETY: `pAppData` holds the default VFS.
            unsafe {
                let base = (*vfs).pAppData.cast::<ffi::sqlite3_vfs>();
                ((*base).$field.unwrap())(base, $($arg),*)
            }
        }
    };
}

delegate!(x_delete, xDelete, (name: *const c_char, sync: c_int) -> c_int);
delegate!(x_access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int);
delegate!(x_full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char) -> c_int);
delegate!(x_randomness, xRandomness, (n: c_int, out: *mut c_char) -> c_int);
delegate!(x_sleep, xSleep, (micros: c_int) -> c_int);
delegate!(x_current_time, xCurrentTime, (out: *mut f64) -> c_int);
delegate!(x_get_last_error, xGetLastError, (n: c_int, out: *mut c_char) -> c_int);
delegate!(x_current_time_int64, xCurrentTimeInt64, (out: *mut i64) -> c_int);

/// Registers the faulty VFS (not as the default) once.
fn register() {
    let mut registered = VFS.lock().unwrap_or_else(|e| e.into_inner());
    if registered.is_some() {
        return;
    }
    // SAFETY: the default VFS lives as long as the process; the new VFS is
    // leaked on purpose (SQLite keeps a pointer to it).
    unsafe {
        let base = ffi::sqlite3_vfs_find(std::ptr::null());
        assert!(!base.is_null(), "SQLite has a default VFS");
        let vfs = Box::new(ffi::sqlite3_vfs {
            iVersion: 2,
            szOsFile: std::mem::size_of::<File>() as c_int,
            mxPathname: (*base).mxPathname,
            pNext: std::ptr::null_mut(),
            zName: NAME.as_ptr(),
            pAppData: base.cast(),
            xOpen: Some(x_open),
            xDelete: Some(x_delete),
            xAccess: Some(x_access),
            xFullPathname: Some(x_full_pathname),
            xDlOpen: None,
            xDlError: None,
            xDlSym: None,
            xDlClose: None,
            xRandomness: Some(x_randomness),
            xSleep: Some(x_sleep),
            xCurrentTime: Some(x_current_time),
            xGetLastError: Some(x_get_last_error),
            xCurrentTimeInt64: Some(x_current_time_int64),
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        });
        let vfs = Box::into_raw(vfs);
        assert_eq!(ffi::sqlite3_vfs_register(vfs, 0), ffi::SQLITE_OK);
        *registered = Some(vfs as usize);
    }
}

/// Six migrations, each a table with rows; the third also updates the first's.
fn migrations() -> Migrations {
    let m = (1..=6i64)
        .map(|v| {
            let mut sql = format!(
                "CREATE TABLE t{v} (k INTEGER PRIMARY KEY, payload BLOB);\n\
                 WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50)\n\
                 INSERT INTO t{v} SELECT i, randomblob(3000) FROM r;\n"
            );
            if v == 3 {
                sql.push_str("UPDATE t1 SET payload = randomblob(100);\n");
            }
            let up = Script::new(format!("migrations/{v}_t{v}.up.sql"), sql, Mode::Transaction);
            let down =
                Script::new(format!("migrations/{v}_t{v}.down.sql"), format!("DROP TABLE t{v};"), Mode::Transaction);
            Migration::new(v, format!("t{v}"), format!("{v:064x}"), format!("{v:064x}"), up, Some(down))
        })
        .collect();
    Migrations::new(m)
}

/// The versions the history lists, after checking that the database is
/// intact and holds exactly their tables, each with all its rows.
fn consistent(path: &std::path::Path) -> Vec<i64> {
    let conn = Connection::open(path).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let applied: Vec<i64> = match conn.prepare("SELECT version FROM migcheck_history ORDER BY version") {
        Ok(mut stmt) => stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect(),
        Err(_) => Vec::new(),
    };
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 't%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut expected: Vec<String> = applied.iter().map(|v| format!("t{v}")).collect();
    expected.sort();
    assert_eq!(tables, expected, "the schema is the one the history lists");
    for table in &tables {
        let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 50, "{table} has all its rows");
    }
    applied
}

fn io_errors_leave_the_last_good_version_at_every_write() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    register();
    let m = migrations();
    // How many writes a whole upgrade makes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let faulty = |path: &std::path::Path| {
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME.to_str().unwrap()).unwrap()
    };
    WRITES_LEFT.store(-1, Ordering::SeqCst);
    WRITES.store(0, Ordering::SeqCst);
    m.upgrade(&mut faulty(&path)).unwrap();
    let total = WRITES.load(Ordering::SeqCst);
    assert!(total > 20, "an upgrade writes: {total}");
    assert_eq!(consistent(&path), (1..=6).collect::<Vec<_>>());

    let mut stopped_part_way = 0;
    for fail_at in 0..total {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let result = {
            let mut conn = faulty(&path);
            WRITES_LEFT.store(fail_at, Ordering::SeqCst);
            let result = m.upgrade(&mut conn);
            WRITES_LEFT.store(-1, Ordering::SeqCst);
            result
        };
        let err = result.expect_err("a write failed");
        let message = err.to_string();
        assert!(message.contains("disk I/O error") || message.contains("I/O"), "write {fail_at}: {message}");
        // Opened again without faults: intact, at a version its history names.
        let applied = consistent(&path);
        assert!(applied.len() < 6, "write {fail_at}: stopped before the end");
        if !applied.is_empty() {
            stopped_part_way += 1;
            assert!(message.contains(&format!("t{}", applied.len() + 1)), "names the migration: {message}");
        }
        m.upgrade(&mut Connection::open(&path).unwrap()).unwrap();
        assert_eq!(consistent(&path), (1..=6).collect::<Vec<_>>(), "write {fail_at}: a re-run finishes");
    }
    assert!(stopped_part_way > 0, "some failures came after a migration was committed");
    eprintln!("{total} fault points; {stopped_part_way} of them after at least one migration was committed");
}

/// Batch mode and downgrades under the same faults: every failure names a
/// migration (`NotCommitted` when the SQL ran and writing it failed), batch
/// mode leaves all or nothing, a downgrade stops at a version its history
/// names, and a re-run finishes.
fn io_errors_in_batch_mode_and_downgrades_name_the_migration() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    register();
    let m = migrations();
    let faulty = |path: &std::path::Path| {
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME.to_str().unwrap()).unwrap()
    };
    // Writes a whole batch makes, and a whole downgrade.
    let count = |f: &dyn Fn(&mut Connection)| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let mut conn = faulty(&path);
        WRITES_LEFT.store(-1, Ordering::SeqCst);
        WRITES.store(0, Ordering::SeqCst);
        f(&mut conn);
        WRITES.load(Ordering::SeqCst)
    };
    let batch = migcheck::UpgradeOptions::default().batch(true);
    let batch_writes = count(&|c| drop(m.upgrade_with(c, &batch, |_, _, _| {}).unwrap()));
    let downgrade_writes = count(&|c| {
        WRITES_LEFT.store(-1, Ordering::SeqCst);
        m.upgrade(c).unwrap();
        WRITES.store(0, Ordering::SeqCst);
        m.downgrade_to(c, 0).unwrap();
    });
    assert!(batch_writes > 5 && downgrade_writes > 5, "{batch_writes} {downgrade_writes}");

    for fail_at in 0..batch_writes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let result = {
            let mut conn = faulty(&path);
            WRITES_LEFT.store(fail_at, Ordering::SeqCst);
            let result = m.upgrade_with(&mut conn, &batch, |_, _, _| {});
            WRITES_LEFT.store(-1, Ordering::SeqCst);
            result
        };
        let message = result.expect_err("a write failed").to_string();
        assert!(message.contains("migration ") && message.contains("`t"), "batch, write {fail_at}: {message}");
        let applied = consistent(&path);
        assert!(applied.is_empty(), "batch, write {fail_at}: all or nothing, found {applied:?}");
        m.upgrade(&mut Connection::open(&path).unwrap()).unwrap();
        assert_eq!(consistent(&path), (1..=6).collect::<Vec<_>>());
    }
    for fail_at in 0..downgrade_writes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        m.upgrade(&mut Connection::open(&path).unwrap()).unwrap();
        let result = {
            let mut conn = faulty(&path);
            WRITES_LEFT.store(fail_at, Ordering::SeqCst);
            let result = m.downgrade_to(&mut conn, 0);
            WRITES_LEFT.store(-1, Ordering::SeqCst);
            result
        };
        let message = result.expect_err("a write failed").to_string();
        let applied = consistent(&path);
        assert!(!applied.is_empty(), "downgrade, write {fail_at}: stopped before the end");
        let stays = applied.last().unwrap();
        assert!(
            message.contains(&format!("migration {stays} `t{stays}`")),
            "downgrade, write {fail_at}: names the migration it could not revert: {message}"
        );
        m.downgrade_to(&mut Connection::open(&path).unwrap(), 0).unwrap();
        assert!(consistent(&path).is_empty(), "downgrade, write {fail_at}: a re-run finishes");
    }
}

/// Three migrations, the second outside a transaction: five statements, each
/// safe to run twice (a statement that ran but whose mark was not written
/// runs again on resume).
fn with_a_no_transaction_file() -> Migrations {
    let table = |v: i64| {
        format!(
            "CREATE TABLE t{v} (k INTEGER PRIMARY KEY, payload BLOB);\n\
             WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50)\n\
             INSERT INTO t{v} SELECT i, randomblob(3000) FROM r;\n"
        )
    };
    let mut free = String::from("-- migcheck: no-transaction\n");
    for n in 1..=2 {
        free.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS n{n} (k INTEGER PRIMARY KEY, payload BLOB);\n\
             WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 50)\n\
             INSERT OR IGNORE INTO n{n} SELECT i, randomblob(3000) FROM r;\n"
        ));
    }
    free.push_str("CREATE INDEX IF NOT EXISTS n1_payload ON n1 (payload);\n");
    let script = |v: i64, sql: String, mode| Script::new(format!("migrations/{v}_m{v}.sql"), sql, mode);
    Migrations::new(vec![
        Migration::new(
            1,
            "m1",
            format!("{:064x}", 1),
            format!("{:064x}", 1),
            script(1, table(1), Mode::Transaction),
            None,
        ),
        Migration::new(
            2,
            "m2",
            format!("{:064x}", 2),
            format!("{:064x}", 2),
            script(2, free, Mode::NoTransaction),
            None,
        ),
        Migration::new(
            3,
            "m3",
            format!("{:064x}", 3),
            format!("{:064x}", 3),
            script(3, table(3), Mode::Transaction),
            None,
        ),
    ])
}

/// How many of the no-transaction file's five statements have their effect
/// in the database, counted from the first.
fn effects(conn: &Connection) -> usize {
    let exists = |name: &str| {
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = ?1", [name], |r| r.get::<_, i64>(0)).unwrap()
            == 1
    };
    let full = |table: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0)).unwrap() == 50
    };
    let steps =
        [exists("n1"), exists("n1") && full("n1"), exists("n2"), exists("n2") && full("n2"), exists("n1_payload")];
    steps.iter().take_while(|done| **done).count()
}

/// Write faults at every point of an upgrade through a file that runs
/// outside a transaction: the database stays intact; the file is either not
/// started (no mark, none of its effects), finished (recorded), or marked
/// with `done` statements while `done` or `done + 1` of them took effect
/// (the one that ran but could not be recorded); every error names the
/// migration; and the same upgrade run again finishes.
fn io_errors_in_a_no_transaction_file_leave_a_mark_that_resumes() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    register();
    let m = with_a_no_transaction_file();
    let faulty = |path: &std::path::Path| {
        Connection::open_with_flags_and_vfs(path, OpenFlags::default(), NAME.to_str().unwrap()).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    WRITES_LEFT.store(-1, Ordering::SeqCst);
    WRITES.store(0, Ordering::SeqCst);
    m.upgrade(&mut faulty(&dir.path().join("app.db"))).unwrap();
    let total = WRITES.load(Ordering::SeqCst);
    assert!(total > 20, "an upgrade writes: {total}");

    let mut marked = 0;
    for fail_at in 0..total {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let result = {
            let mut conn = faulty(&path);
            WRITES_LEFT.store(fail_at, Ordering::SeqCst);
            let result = m.upgrade(&mut conn);
            WRITES_LEFT.store(-1, Ordering::SeqCst);
            result
        };
        let message = result.expect_err("a write failed").to_string();
        assert!(message.contains("disk I/O error"), "write {fail_at}: {message}");
        let conn = Connection::open(&path).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok", "write {fail_at}");
        let status = m.status(&conn).unwrap();
        let applied: Vec<i64> = status.applied.iter().map(|a| a.version).collect();
        let took_effect = effects(&conn);
        match (&status.interrupted, applied.as_slice()) {
            (Some(i), [1]) => {
                marked += 1;
                assert_eq!(i.version, 2);
                assert!(
                    took_effect == i.done || took_effect == i.done + 1,
                    "write {fail_at}: the mark says {} ran, {took_effect} took effect: {message}",
                    i.done
                );
                assert!(message.contains("migration 2 `m2`"), "write {fail_at}: {message}");
            }
            (None, [] | [1]) => {
                assert_eq!(took_effect, 0, "write {fail_at}: not started, nothing of it is there");
                if applied == [1] {
                    assert!(message.contains("migration 2 `m2`"), "write {fail_at}: {message}");
                }
            }
            (None, [1, 2]) => {
                assert_eq!(took_effect, 5, "write {fail_at}");
                assert!(message.contains("migration 3 `m3`"), "write {fail_at}: {message}");
            }
            other => panic!("write {fail_at}: {other:?}: {message}"),
        }
        drop(conn);
        m.upgrade(&mut Connection::open(&path).unwrap()).unwrap();
        let conn = Connection::open(&path).unwrap();
        let status = m.status(&conn).unwrap();
        assert!(status.is_up_to_date(), "write {fail_at}: a re-run finishes: {status:?}");
        assert_eq!(effects(&conn), 5);
    }
    assert!(marked > 3, "faults inside the no-transaction file: {marked}");
    eprintln!("{total} fault points; {marked} of them inside the no-transaction file (marked, then resumed)");
}

/// This file's tests, for the binary's `main`.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    crate::tests![
        io_errors_leave_the_last_good_version_at_every_write,
        io_errors_in_batch_mode_and_downgrades_name_the_migration,
        io_errors_in_a_no_transaction_file_leave_a_mark_that_resumes,
    ]
}
