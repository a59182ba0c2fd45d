//! The incremental-build cache: the scratch database at the newest sealed
//! migration, kept in `OUT_DIR`, so that a build after editing or appending an
//! unsealed migration re-runs only the unsealed ones.
//!
//! The file is keyed by everything that determines that database: the chain
//! hash over the sealed migrations (their order, names, and the checksums of
//! their up and down files), migcheck's and SQLite's versions, and the scratch
//! configuration. A file whose key differs, or that cannot be read, is ignored
//! and replaced: never trusted. The checker stores it only when running the
//! sealed migrations produced no diagnostic and left no TEMP objects, so that a
//! build from the cache reports exactly what a cold build would.

use std::ffi::{CStr, c_char};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::ptr;

use libsqlite3_sys as ffi;
use rusqlite::Connection;

use crate::checksum::{self, Digest};
use crate::scratch::ScratchConfig;

const MAGIC: &[u8] = b"migcheck scratch cache 1\n";
const FILE_NAME: &str = "scratch-cache.sqlite";

/// The cache file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The key for the database after the sealed migrations whose chain hash is `chain`.
pub fn key(chain: &Digest, sealed: usize, config: &ScratchConfig) -> Digest {
    // SAFETY: sqlite3_libversion returns a static NUL-terminated string.
    let sqlite = unsafe { CStr::from_ptr(ffi::sqlite3_libversion()) }.to_string_lossy();
    let mut functions: Vec<String> =
        config.functions.iter().map(|f| format!("{}/{}", f.name.to_lowercase(), f.arity)).collect();
    functions.sort();
    let text = format!(
        "{}\n{}\n{sqlite}\n{}\n{sealed}\n{}\n{}",
        String::from_utf8_lossy(MAGIC).trim_end(),
        env!("CARGO_PKG_VERSION"),
        checksum::to_hex(chain),
        config.foreign_keys,
        functions.join(",")
    );
    checksum::checksum(text.as_bytes())
}

/// What the cache holds besides the database: connection state that the
/// sealed migrations may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub foreign_keys: bool,
}

/// Reads the cached database for `key`, if there is one and it is intact.
pub fn load(dir: &Path, key: &Digest) -> Option<(State, Vec<u8>)> {
    let bytes = fs::read(path(dir)).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let (key_line, rest) = split_line(rest)?;
    if checksum::from_hex(std::str::from_utf8(key_line).ok()?)? != *key {
        return None;
    }
    let (state_line, rest) = split_line(rest)?;
    let foreign_keys = match state_line {
        b"foreign_keys=1" => true,
        b"foreign_keys=0" => false,
        _ => return None,
    };
    let (sum_line, db) = split_line(rest)?;
    if std::str::from_utf8(sum_line).ok()? != fingerprint(db) {
        return None;
    }
    Some((State { foreign_keys }, db.to_vec()))
}

/// A fingerprint of the cached bytes against corruption (not against
/// tampering: the file lives in Cargo's OUT_DIR): a multiply-rotate hash over
/// 8-byte words, with the length. Any changed byte changes it; and it is a
/// tight loop, cheap even where build scripts run unoptimised.
fn fingerprint(bytes: &[u8]) -> String {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h.rotate_left(23) ^ w).wrapping_mul(K);
    }
    for &b in words.remainder() {
        h = (h.rotate_left(23) ^ u64::from(b)).wrapping_mul(K);
    }
    format!("{h:016x}")
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..n], &bytes[n + 1..]))
}

/// Writes the cache (to a temporary file, then renamed: a build killed
/// half-way leaves no half-written cache).
pub fn store(dir: &Path, key: &Digest, state: State, db: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(MAGIC)?;
    writeln!(file, "{}", checksum::to_hex(key))?;
    writeln!(file, "foreign_keys={}", u8::from(state.foreign_keys))?;
    writeln!(file, "{}", fingerprint(db))?;
    file.write_all(db)?;
    drop(file);
    fs::rename(tmp, path(dir))
}

/// A copy of the main database's bytes.
pub fn serialize(conn: &Connection) -> Option<Vec<u8>> {
    let mut size: ffi::sqlite3_int64 = 0;
    // SAFETY: valid handle; with flags 0 SQLite returns a copy we must free.
    unsafe {
        let data = ffi::sqlite3_serialize(conn.handle(), c"main".as_ptr(), &mut size, 0);
        if data.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(data, usize::try_from(size).ok()?).to_vec();
        ffi::sqlite3_free(data.cast());
        Some(bytes)
    }
}

/// Replaces the main database with `bytes`.
pub fn deserialize(conn: &Connection, bytes: &[u8]) -> bool {
    let Ok(size) = ffi::sqlite3_int64::try_from(bytes.len()) else { return false };
    // SAFETY: the buffer comes from sqlite3_malloc64 and SQLite owns it from
    // here on (FREEONCLOSE); it is resizeable so the database stays writable.
    unsafe {
        let buffer = ffi::sqlite3_malloc64(bytes.len() as u64).cast::<u8>();
        if buffer.is_null() {
            return false;
        }
        ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, bytes.len());
        let rc = ffi::sqlite3_deserialize(
            conn.handle(),
            c"main".as_ptr() as *const c_char,
            buffer,
            size,
            size,
            ffi::SQLITE_DESERIALIZE_FREEONCLOSE | ffi::SQLITE_DESERIALIZE_RESIZEABLE,
        );
        rc == ffi::SQLITE_OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = ScratchConfig::default();
        let a = Scratch::open(&config).unwrap();
        a.conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (42);").unwrap();
        let bytes = serialize(&a.conn).unwrap();
        let key = key(&[7; 32], 1, &config);
        store(dir.path(), &key, State { foreign_keys: true }, &bytes).unwrap();
        let (state, loaded) = load(dir.path(), &key).expect("loads");
        assert_eq!((state, loaded.len()), (State { foreign_keys: true }, bytes.len()));
        assert!(load(dir.path(), &[8; 32]).is_none(), "another key");
        let b = Scratch::open(&config).unwrap();
        assert!(!deserialize(&b.conn, &loaded), "the sandbox refuses the internal ATTACH");
        assert!(b.restore(&loaded));
        let x: i64 = b.conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        b.conn.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    }
}
