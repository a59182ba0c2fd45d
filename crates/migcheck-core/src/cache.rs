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

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, MAIN_DB};

use crate::checksum::{self, Digest};
use crate::fingerprint::fingerprint;
use crate::model::ScratchConfig;

/// The file is the database image followed by a fixed-size trailer:
/// `\nmigcheck scratch cache 3 <key hex> fk=<0|1> <fingerprint hex>\n`.
const MAGIC: &str = "\nmigcheck scratch cache 3 ";
const TRAILER_LEN: usize = MAGIC.len() + 64 + " fk=0 ".len() + 16 + 1;
const FILE_NAME: &str = "scratch-cache.sqlite";

/// The cache file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The key for the database after the sealed migrations whose chain hash is `chain`.
pub fn key(chain: &Digest, sealed: usize, config: &ScratchConfig) -> Digest {
    let sqlite = rusqlite::version();
    let mut functions: Vec<String> =
        config.functions.iter().map(|f| format!("{}/{}", f.name.to_lowercase(), f.arity)).collect();
    functions.sort();
    let text = format!(
        "{}\n{}\n{sqlite}\n{}\n{sealed}\n{}\n{}",
        MAGIC.trim(),
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
/// The database's bytes are checked before SQLite sees them.
pub fn load(dir: &Path, key: &Digest) -> Option<(State, Vec<u8>)> {
    let mut image = fs::read(path(dir)).ok()?;
    let db_len = image.len().checked_sub(TRAILER_LEN)?;
    let trailer = std::str::from_utf8(&image[db_len..]).ok()?;
    let rest = trailer.strip_prefix(MAGIC)?.strip_suffix('\n')?;
    let (key_hex, rest) = rest.split_once(' ')?;
    if checksum::from_hex(key_hex)? != *key {
        return None;
    }
    let (state, sum) = rest.split_once(' ')?;
    let foreign_keys = match state {
        "fk=1" => true,
        "fk=0" => false,
        _ => return None,
    };
    let sum = u64::from_str_radix(sum, 16).ok()?;
    image.truncate(db_len);
    if sum != fingerprint(&image) {
        return None;
    }
    Some((State { foreign_keys }, image))
}

/// Writes the cache (to a temporary file, then renamed: a build killed
/// half-way leaves no half-written cache).
pub fn store(dir: &Path, key: &Digest, state: State, db: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(db)?;
    writeln!(file, "{MAGIC}{} fk={} {:016x}", checksum::to_hex(key), u8::from(state.foreign_keys), fingerprint(db))?;
    drop(file);
    fs::rename(tmp, path(dir))
}

/// The main database's bytes (SQLite's own serialization: an in-memory
/// database is read in place, without a copy).
pub fn serialize(conn: &mut Connection) -> Option<rusqlite::serialize::Data<'_>> {
    conn.serialize(MAIN_DB).ok()
}

/// Replaces the main database with `bytes`, writable.
pub fn deserialize(conn: &mut Connection, bytes: &[u8]) -> bool {
    conn.deserialize_read_exact(MAIN_DB, bytes, bytes.len(), false).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scratch::Scratch;

    #[test]
    fn fingerprint_does_not_depend_on_alignment() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut shifted = vec![0u8; 1001];
        shifted[1..].copy_from_slice(&bytes);
        assert_eq!(fingerprint(&bytes), fingerprint(&shifted[1..]));
        let mut changed = bytes.clone();
        changed[517] ^= 0x80;
        assert_ne!(fingerprint(&bytes), fingerprint(&changed));
    }

    #[test]
    fn a_damaged_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let key = key(&[7; 32], 1, &ScratchConfig::default());
        store(dir.path(), &key, State { foreign_keys: false }, &[1, 2, 3, 4]).unwrap();
        assert!(load(dir.path(), &key).is_some());
        let mut bytes = fs::read(path(dir.path())).unwrap();
        bytes[2] ^= 1;
        fs::write(path(dir.path()), &bytes).unwrap();
        assert!(load(dir.path(), &key).is_none(), "a changed byte");
        fs::write(path(dir.path()), &bytes[..5]).unwrap();
        assert!(load(dir.path(), &key).is_none(), "a short file");
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = ScratchConfig::default();
        let mut a = Scratch::open(&config).unwrap();
        a.conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (42);").unwrap();
        let bytes = serialize(&mut a.conn).unwrap().to_vec();
        let key = key(&[7; 32], 1, &config);
        store(dir.path(), &key, State { foreign_keys: true }, &bytes).unwrap();
        let (state, loaded) = load(dir.path(), &key).expect("loads");
        assert_eq!((state, &loaded[..]), (State { foreign_keys: true }, &bytes[..]));
        assert!(load(dir.path(), &[8; 32]).is_none(), "another key");
        let mut b = Scratch::open(&config).unwrap();
        assert!(!deserialize(&mut b.conn, &bytes), "the sandbox refuses the internal ATTACH");
        assert!(b.restore(&loaded));
        let x: i64 = b.conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        b.conn.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    }
}
