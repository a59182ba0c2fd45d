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
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, MAIN_DB};

use crate::checksum;

use crate::config::ScratchConfig;
use crate::fingerprint::fingerprint;
use crate::model::Digest;

/// The file is a fixed-size header line, then the database image, which
/// SQLite reads straight from the file into its own buffer:
/// `migcheck scratch cache 4 <key hex> fk=<0|1> <fingerprint hex> <length hex>\n`.
const MAGIC: &str = "migcheck scratch cache 4 ";
const HEADER_LEN: usize = MAGIC.len() + 64 + " fk=0 ".len() + 16 + 1 + 16 + 1;
const FILE_NAME: &str = "scratch-cache.sqlite";

/// The cache file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The key for the database after the sealed migrations whose chain hash is
/// `chain`, made with `config` and with rows that depend on `salt`.
pub fn key(chain: &Digest, sealed: usize, config: &ScratchConfig, salt: &Digest) -> Digest {
    let sqlite = rusqlite::version();
    let mut functions: Vec<String> =
        config.functions.iter().map(|f| format!("{}/{}", f.name.to_lowercase(), f.arity)).collect();
    functions.sort();
    let text = format!(
        "{}\n{}\n{sqlite}\n{}\n{sealed}\n{}\n{}\n{}",
        MAGIC.trim(),
        env!("CARGO_PKG_VERSION"),
        checksum::to_hex(chain),
        config.foreign_keys,
        functions.join(","),
        checksum::to_hex(salt)
    );
    checksum::checksum(text.as_bytes())
}

/// What the cache holds besides the database: connection state that the
/// sealed migrations may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub foreign_keys: bool,
}

/// What the header says of the image after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub state: State,
    /// The image's [`fingerprint`]: check it once SQLite holds the image.
    pub fingerprint: u64,
    /// The image's length in bytes.
    pub len: usize,
}

impl Header {
    /// Whether `image` (the restored database's bytes) is the one stored.
    pub fn matches(&self, image: &[u8]) -> bool {
        image.len() == self.len && fingerprint(image) == self.fingerprint
    }
}

/// Opens the cached database for `key`, if there is one: its header, and the
/// file positioned at the image. The image is checked against the header's
/// fingerprint after it is read ([`Header::matches`]).
pub fn open(dir: &Path, key: &Digest) -> Option<(Header, fs::File)> {
    let mut file = fs::File::open(path(dir)).ok()?;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).ok()?;
    let rest = std::str::from_utf8(&header).ok()?.strip_prefix(MAGIC)?.strip_suffix('\n')?;
    let mut fields = rest.split(' ');
    let (Some(key_hex), Some(state), Some(sum), Some(len), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    if checksum::from_hex(key_hex)? != *key {
        return None;
    }
    let foreign_keys = match state {
        "fk=1" => true,
        "fk=0" => false,
        _ => return None,
    };
    let fingerprint = u64::from_str_radix(sum, 16).ok()?;
    let len = usize::try_from(u64::from_str_radix(len, 16).ok()?).ok()?;
    if file.metadata().ok()?.len() != (HEADER_LEN + len) as u64 {
        return None;
    }
    Some((Header { state: State { foreign_keys }, fingerprint, len }, file))
}

/// Writes the cache (to a temporary file, then renamed: a build killed
/// half-way leaves no half-written cache).
pub fn store(dir: &Path, key: &Digest, state: State, db: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    writeln!(
        file,
        "{MAGIC}{} fk={} {:016x} {:016x}",
        checksum::to_hex(key),
        u8::from(state.foreign_keys),
        fingerprint(db),
        db.len()
    )?;
    file.write_all(db)?;
    drop(file);
    fs::rename(tmp, path(dir))
}

/// The main database's bytes (SQLite's own serialization: an in-memory
/// database is read in place, without a copy).
pub fn serialize(conn: &mut Connection) -> Option<rusqlite::serialize::Data<'_>> {
    conn.serialize(MAIN_DB).ok()
}

/// Replaces the main database with the `len` bytes `source` gives, writable.
pub fn deserialize(conn: &mut Connection, source: impl std::io::Read, len: usize) -> bool {
    conn.deserialize_read_exact(MAIN_DB, source, len, false).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sqlite::sandbox::Scratch;

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
        let key = key(&[7; 32], 1, &ScratchConfig::default(), &[0; 32]);
        store(dir.path(), &key, State { foreign_keys: false }, &[1, 2, 3, 4]).unwrap();
        let (header, _) = open(dir.path(), &key).unwrap();
        assert!(header.matches(&[1, 2, 3, 4]) && !header.matches(&[1, 2, 3, 5]), "a changed byte");
        assert!(open(dir.path(), &[8; 32]).is_none(), "another key");
        let bytes = fs::read(path(dir.path())).unwrap();
        fs::write(path(dir.path()), &bytes[..bytes.len() - 1]).unwrap();
        assert!(open(dir.path(), &key).is_none(), "a short file");
        fs::write(path(dir.path()), &bytes[1..]).unwrap();
        assert!(open(dir.path(), &key).is_none(), "a damaged header");
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = ScratchConfig::default();
        let mut a = Scratch::open(&config).unwrap();
        a.conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (42);").unwrap();
        let bytes = serialize(&mut a.conn).unwrap().to_vec();
        let key = key(&[7; 32], 1, &config, &[0; 32]);
        store(dir.path(), &key, State { foreign_keys: true }, &bytes).unwrap();
        let (header, file) = open(dir.path(), &key).expect("opens");
        assert_eq!((header.state, header.len), (State { foreign_keys: true }, bytes.len()));
        let mut b = Scratch::open(&config).unwrap();
        assert!(!deserialize(&mut b.conn, &bytes[..], bytes.len()), "the sandbox refuses the internal ATTACH");
        assert!(b.restore(file, header.len));
        assert!(header.matches(&serialize(&mut b.conn).unwrap()));
        let x: i64 = b.conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        b.conn.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    }
}
