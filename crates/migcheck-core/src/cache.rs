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
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use rusqlite::Connection;

use crate::checksum::{self, Digest};
use crate::fingerprint::fingerprint;
use crate::model::ScratchConfig;

/// The file is the database image followed by a fixed-size trailer, so that
/// it is read in one go into the buffer SQLite then owns:
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
    // SAFETY: sqlite3_libversion returns a static NUL-terminated string.
    let sqlite = unsafe { CStr::from_ptr(ffi::sqlite3_libversion()) }.to_string_lossy();
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

/// A database image in memory SQLite allocated, ready to hand to
/// `sqlite3_deserialize`.
pub struct Image {
    buffer: NonNull<u8>,
    /// The database's size: the buffer may be larger.
    len: usize,
    capacity: usize,
}

impl Image {
    fn alloc(capacity: usize) -> Option<Image> {
        // SAFETY: plain allocation; zeroed so that the slice below is initialised.
        let buffer = NonNull::new(unsafe { ffi::sqlite3_malloc64(capacity.max(1) as u64) }.cast::<u8>())?;
        unsafe { ptr::write_bytes(buffer.as_ptr(), 0, capacity) };
        Some(Image { buffer, len: capacity, capacity })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len <= capacity` initialised bytes owned by this image.
        unsafe { std::slice::from_raw_parts(self.buffer.as_ptr(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.buffer.as_ptr(), self.capacity) }
    }

    /// Copies `bytes` into a new image.
    pub fn copy_of(bytes: &[u8]) -> Option<Image> {
        let mut image = Image::alloc(bytes.len())?;
        image.bytes_mut().copy_from_slice(bytes);
        Some(image)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: allocated by sqlite3_malloc64 and not handed over.
        unsafe { ffi::sqlite3_free(self.buffer.as_ptr().cast()) }
    }
}

/// Reads the cached database for `key`, if there is one and it is intact.
pub fn load(dir: &Path, key: &Digest) -> Option<(State, Image)> {
    let mut file = fs::File::open(path(dir)).ok()?;
    let size = usize::try_from(file.metadata().ok()?.len()).ok()?;
    if size < TRAILER_LEN {
        return None;
    }
    let mut image = Image::alloc(size)?;
    file.read_exact(image.bytes_mut()).ok()?;
    let db_len = size - TRAILER_LEN;
    let trailer = std::str::from_utf8(&image.bytes()[db_len..]).ok()?;
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
    image.len = db_len;
    if sum != fingerprint(image.bytes()) {
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

/// Replaces the main database with `image`, which SQLite then owns.
pub fn deserialize(conn: &Connection, image: Image) -> bool {
    let image = std::mem::ManuallyDrop::new(image);
    let (Ok(size), Ok(capacity)) =
        (ffi::sqlite3_int64::try_from(image.len), ffi::sqlite3_int64::try_from(image.capacity))
    else {
        std::mem::ManuallyDrop::into_inner(image);
        return false;
    };
    // SAFETY: the buffer comes from sqlite3_malloc64; with FREEONCLOSE SQLite
    // owns it from here on, and frees it itself if deserializing fails. It is
    // resizeable so that the database stays writable.
    let rc = unsafe {
        ffi::sqlite3_deserialize(
            conn.handle(),
            c"main".as_ptr() as *const c_char,
            image.buffer.as_ptr(),
            size,
            capacity,
            ffi::SQLITE_DESERIALIZE_FREEONCLOSE | ffi::SQLITE_DESERIALIZE_RESIZEABLE,
        )
    };
    rc == ffi::SQLITE_OK
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
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let config = ScratchConfig::default();
        let a = Scratch::open(&config).unwrap();
        a.conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (42);").unwrap();
        let bytes = serialize(&a.conn).unwrap();
        let key = key(&[7; 32], 1, &config);
        store(dir.path(), &key, State { foreign_keys: true }, &bytes).unwrap();
        let (state, loaded) = load(dir.path(), &key).expect("loads");
        assert_eq!((state, loaded.bytes()), (State { foreign_keys: true }, &bytes[..]));
        assert!(load(dir.path(), &[8; 32]).is_none(), "another key");
        let b = Scratch::open(&config).unwrap();
        assert!(!deserialize(&b.conn, Image::copy_of(&bytes).unwrap()), "the sandbox refuses the internal ATTACH");
        assert!(b.restore(loaded));
        let x: i64 = b.conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        b.conn.execute_batch("INSERT INTO t VALUES (1)").unwrap();
    }
}
