//! What a build already worked out about file contents, kept in `OUT_DIR`
//! beside the scratch cache: each migration file's bytes with their checksum
//! and what reading its SQL found (an [`Analysis`] byte), and the lock file's
//! text with its verified chain links and the lock it parsed to.
//!
//! The next build still reads every file, but when a file's bytes equal the
//! remembered bytes (a `memcmp`, fast even where build scripts run
//! unoptimised) it takes the remembered checksum instead of hashing again, and
//! an unchanged lock file is neither parsed nor hashed again. Nothing is trusted by
//! name or time: only byte-for-byte equal contents reuse a result. A memo that
//! is missing, corrupt (a fingerprint covers the whole file) or written by
//! another migcheck version is ignored and rewritten.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::FunctionStub;
use crate::lock::{Lock, LockEntry};
use crate::model::Analysis;
use crate::model::Dialect;
use crate::model::Digest;
use crate::model::Layout;

const MAGIC: &[u8] = concat!("migcheck memo 7 ", env!("CARGO_PKG_VERSION"), "\n").as_bytes();
const FILE_NAME: &str = "memo.bin";

/// Remembered results, looked up by content.
#[derive(Default)]
pub struct Memo {
    bytes: Vec<u8>,
    /// (display path, content) ranges in `bytes`, the checksum and the
    /// analysis, sorted by path.
    files: Vec<(Range<usize>, Range<usize>, Digest, Analysis)>,
    /// The lock file's text range, its chain links, and the range of the
    /// lock it parsed to (in [`put_lock`]'s form).
    lock: Option<(Range<usize>, Vec<Digest>, Range<usize>)>,
    /// Lookups that found equal contents, and lookups that did not (files
    /// are looked up from several threads).
    hits: AtomicUsize,
    misses: AtomicUsize,
    /// Whether the lock text was looked up and found equal.
    lock_hit: AtomicBool,
}

impl Memo {
    /// The memo in `dir`, or an empty one.
    pub fn load(dir: &Path) -> Memo {
        crate::fingerprint::load_fingerprinted(dir, FILE_NAME).and_then(Memo::parse).unwrap_or_default()
    }

    fn parse(bytes: Vec<u8>) -> Option<Memo> {
        let mut r = Reader { bytes: &bytes, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return None;
        }
        let count = r.u64()?;
        let mut files = Vec::with_capacity(usize::try_from(count).ok()?.min(1 << 20));
        for _ in 0..count {
            let path = r.range()?;
            let content = r.range()?;
            let digest: Digest = r.take(32)?.try_into().ok()?;
            let analysis = Analysis::from_bits(r.take(1)?[0]);
            files.push((path, content, digest, analysis));
        }
        if !files.is_sorted_by(|a, b| bytes[a.0.clone()] < bytes[b.0.clone()]) {
            return None;
        }
        let lock = match r.u64()? {
            0 => None,
            _ => {
                let text = r.range()?;
                let n = usize::try_from(r.u64()?).ok()?;
                let links = r.take(n.checked_mul(32)?)?.chunks_exact(32).map(|c| c.try_into().unwrap()).collect();
                let parsed = r.range()?;
                Some((text, links, parsed))
            }
        };
        if r.at != r.bytes.len() {
            return None;
        }
        Some(Memo { bytes, files, lock, ..Memo::default() })
    }

    /// The checksum and analysis of `content`, if this memo saw exactly these
    /// bytes at `path`. Files come in name order, as the memo keeps them:
    /// `hint` (start at 0) remembers where the last one was, to try the next
    /// before searching.
    pub fn lookup(&self, hint: &mut usize, path: &str, content: &[u8]) -> Option<(Digest, Analysis)> {
        let found = match self.files.get(*hint) {
            Some((p, ..)) if self.bytes[p.clone()] == *path.as_bytes() => Some(*hint),
            _ => self.files.binary_search_by(|(p, ..)| self.bytes[p.clone()].cmp(path.as_bytes())).ok(),
        };
        let hit = found.and_then(|i| {
            *hint = i + 1;
            let (_, range, digest, analysis) = &self.files[i];
            (self.bytes[range.clone()] == *content).then_some((*digest, *analysis))
        });
        let counter = if hit.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// The lock file `text` parsed, with its chain links, if this memo saw
    /// exactly this text.
    pub fn lock(&self, text: &str) -> Option<(Lock, Vec<Digest>)> {
        let (range, links, parsed) = self.lock.as_ref()?;
        let found = (self.bytes[range.clone()] == *text.as_bytes())
            .then(|| get_lock(&mut Reader { bytes: &self.bytes[parsed.clone()], at: 0 }))
            .flatten();
        self.lock_hit.store(found.is_some(), Ordering::Relaxed);
        found.map(|lock| (lock, links.clone()))
    }

    /// Whether every lookup so far found what this memo holds, each of its
    /// files was looked up, and the lock was (or there is none in the memo and
    /// `lock_read` is false): then writing it again would change nothing.
    pub fn is_current(&self, lock_read: bool) -> bool {
        self.misses.load(Ordering::Relaxed) == 0
            && self.hits.load(Ordering::Relaxed) == self.files.len()
            && if self.lock.is_some() { self.lock_hit.load(Ordering::Relaxed) } else { !lock_read }
    }

    /// Writes a memo of `files` (sorted by path, each path once) and `lock` to
    /// `dir` (through a temporary file and a rename). A memo that cannot be
    /// written only costs speed.
    pub fn store(dir: &Path, files: &[MemoFile<'_>], lock: Option<(&str, &[Digest], &Lock)>) -> std::io::Result<()> {
        let size: usize = files.iter().map(|(p, c, ..)| 57 + p.len() + c.len()).sum::<usize>()
            + lock.map_or(0, |(t, l, _)| 2 * t.len() + 32 * l.len())
            + 64;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(files.len() as u64).to_le_bytes());
        for (path, content, digest, analysis) in files {
            block(&mut out, path.as_bytes());
            block(&mut out, content);
            out.extend_from_slice(digest);
            out.push(analysis.to_bits());
        }
        match lock {
            None => out.extend_from_slice(&0u64.to_le_bytes()),
            Some((text, links, parsed)) => {
                out.extend_from_slice(&1u64.to_le_bytes());
                block(&mut out, text.as_bytes());
                out.extend_from_slice(&(links.len() as u64).to_le_bytes());
                for link in links {
                    out.extend_from_slice(link);
                }
                let mut encoded = Vec::new();
                put_lock(&mut encoded, parsed);
                block(&mut out, &encoded);
            }
        }
        crate::fingerprint::store_fingerprinted(dir, FILE_NAME, out)
    }
}

/// One file for [`Memo::store`]: display path, bytes, checksum, analysis.
pub type MemoFile<'a> = (&'a str, &'a [u8], Digest, Analysis);

/// A parsed lock in the memo's form.
fn put_lock(out: &mut Vec<u8>, lock: &Lock) {
    out.push(match lock.dialect {
        None => 0,
        Some(Dialect::Sqlite) => 1,
        Some(Dialect::Postgres) => 2,
        Some(Dialect::Mysql) => 3,
    });
    block(out, lock.layout.map_or("", |l| l.name()).as_bytes());
    block(out, lock.custom.as_ref().map_or_else(String::new, |c| c.render()).as_bytes());
    out.extend_from_slice(&(lock.functions.len() as u64).to_le_bytes());
    for f in &lock.functions {
        block(out, f.name.as_bytes());
        out.extend_from_slice(&i64::from(f.arity).to_le_bytes());
    }
    out.extend_from_slice(&(lock.entries.len() as u64).to_le_bytes());
    for e in &lock.entries {
        out.extend_from_slice(&e.version.to_le_bytes());
        out.extend_from_slice(&(e.line as u64).to_le_bytes());
        out.extend_from_slice(&e.up);
        match &e.down {
            Some(down) => {
                out.push(1);
                out.extend_from_slice(down);
            }
            None => out.push(0),
        }
        block(out, e.name.as_bytes());
    }
    out.extend_from_slice(&lock.scratch_limit.map_or(u64::MAX, |l| l).to_le_bytes());
    out.push(u8::from(lock.foreign_keys_off));
    for list in [&lock.allow, &lock.deny] {
        out.extend_from_slice(&(list.len() as u64).to_le_bytes());
        for code in list {
            block(out, code.as_bytes());
        }
    }
    out.extend_from_slice(&(lock.accepts.len() as u64).to_le_bytes());
    for a in &lock.accepts {
        out.extend_from_slice(&a.version.to_le_bytes());
        block(out, a.code.as_bytes());
        block(out, a.hash.as_bytes());
    }
    block(out, lock.baseline.as_ref().map_or_else(String::new, |b| b.to_line()).as_bytes());
    out.extend_from_slice(&(lock.baseline.as_ref().map_or(0, |b| b.line) as u64).to_le_bytes());
}

fn get_lock(r: &mut Reader<'_>) -> Option<Lock> {
    let dialect = match r.take(1)?[0] {
        0 => None,
        1 => Some(Dialect::Sqlite),
        2 => Some(Dialect::Postgres),
        3 => Some(Dialect::Mysql),
        _ => return None,
    };
    let layout = match r.text()? {
        "" => None,
        name => Some(Layout::parse(name)?),
    };
    let custom = match r.text()? {
        "" => None,
        spec => Some(crate::layout::CustomLayout::parse(spec).ok()?),
    };
    let count = usize::try_from(r.u64()?).ok()?;
    let mut functions = Vec::with_capacity(count.min(1 << 10));
    for _ in 0..count {
        let name = r.text()?.to_owned();
        let arity = i32::try_from(r.u64()? as i64).ok()?;
        functions.push(FunctionStub { name, arity });
    }
    let count = usize::try_from(r.u64()?).ok()?;
    let mut entries = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let version = r.u64()? as i64;
        let line = usize::try_from(r.u64()?).ok()?;
        let up: Digest = r.take(32)?.try_into().ok()?;
        let down = match r.take(1)?[0] {
            0 => None,
            1 => Some(r.take(32)?.try_into().ok()?),
            _ => return None,
        };
        let name = r.text()?.to_owned();
        entries.push(LockEntry { version, up, down, name, line });
    }
    let scratch_limit = Some(r.u64()?).filter(|l| *l != u64::MAX);
    let foreign_keys_off = r.take(1)?[0] == 1;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let count = usize::try_from(r.u64()?).ok()?;
        for _ in 0..count.min(1 << 10) {
            list.push(r.text()?.to_owned());
        }
    }
    let [allow, deny] = lists;
    let count = usize::try_from(r.u64()?).ok()?;
    let mut accepts = Vec::with_capacity(count.min(1 << 10));
    for _ in 0..count {
        let version = r.u64()? as i64;
        let code = r.text()?.to_owned();
        let hash = r.text()?.to_owned();
        accepts.push(crate::lock::Accepted { version, code, hash });
    }
    let baseline = match r.text()? {
        "" => None,
        line => Some(line.to_owned()),
    };
    let baseline_line = usize::try_from(r.u64()?).ok()?;
    let baseline = match baseline {
        None => None,
        Some(text) => {
            let mut lock = Lock::default();
            crate::lock::read_setting(&mut lock, baseline_line, &text).ok()?;
            Some(lock.baseline?)
        }
    };
    (r.at == r.bytes.len()).then_some(Lock {
        entries,
        functions,
        dialect,
        layout,
        custom,
        accepts,
        allow,
        deny,
        scratch_limit,
        foreign_keys_off,
        baseline,
    })
}

fn block(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len())?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Some(slice)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<&'a str> {
        let range = self.range()?;
        std::str::from_utf8(&self.bytes[range]).ok()
    }

    fn range(&mut self) -> Option<std::ops::Range<usize>> {
        let n = usize::try_from(self.u64()?).ok()?;
        let start = self.at;
        self.take(n)?;
        Some(start..start + n)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::model::Findings;

    #[test]
    fn remembers_only_equal_contents() {
        let dir = tempfile::tempdir().unwrap();
        let clean = Analysis::new(
            Findings { has_statements: true, begins: false, no_transaction: true, ..Default::default() },
            crate::model::Dialect::Sqlite,
        );
        let files = [
            ("m/1_a.sql", &b"CREATE TABLE a (x);"[..], [1; 32], clean),
            ("m/2_b.sql", &b""[..], [2; 32], Analysis::NONE),
        ];
        let links = [[3; 32], [4; 32]];
        let parsed = Lock {
            entries: vec![LockEntry { version: 7, up: [5; 32], down: Some([6; 32]), name: "seven".into(), line: 3 }],
            functions: vec![FunctionStub { name: "slugify".into(), arity: 1 }],
            dialect: Some(Dialect::Sqlite),
            layout: Some(Layout::Custom),
            custom: Some(
                crate::layout::CustomLayout::parse(r"by-name (?<version>\d+)_(?<description>.*)\.sql").unwrap(),
            ),
            accepts: vec![crate::lock::Accepted {
                version: 7,
                code: "down-mismatch".into(),
                hash: "0123456789abcdef".into(),
            }],
            allow: vec!["data-loss".into()],
            deny: Vec::new(),
            scratch_limit: Some(4096),
            foreign_keys_off: true,
            baseline: Some(crate::lock::LockBaseline {
                version: 2,
                checksum: [7; 32],
                down: Some([8; 32]),
                chain: [9; 32],
                name: "init".into(),
                line: 9,
            }),
        };
        Memo::store(dir.path(), &files, Some(("lock text", &links, &parsed))).unwrap();
        let memo = Memo::load(dir.path());
        assert_eq!(memo.lookup(&mut 0, "m/1_a.sql", b"CREATE TABLE a (x);"), Some(([1; 32], clean)));
        assert_eq!(
            clean.get(crate::model::Dialect::Sqlite),
            Some(Findings { has_statements: true, begins: false, no_transaction: true, ..Default::default() })
        );
        // Read as SQLite, not known as PostgreSQL (whose quoting differs).
        assert_eq!(clean.get(crate::model::Dialect::Postgres), None);
        assert_eq!(memo.lookup(&mut 0, "m/2_b.sql", b""), Some(([2; 32], Analysis::NONE)));
        assert_eq!(Analysis::NONE.get(crate::model::Dialect::Sqlite), None);
        assert_eq!(memo.lookup(&mut 0, "m/1_a.sql", b"CREATE TABLE a (y);"), None, "other bytes");
        assert_eq!(memo.lookup(&mut 0, "m/3_c.sql", b"CREATE TABLE a (x);"), None, "another file");
        assert_eq!(memo.lock("lock text\n"), None);
        assert_eq!(memo.lock("lock text"), Some((parsed.clone(), links.to_vec())));
        assert!(!memo.is_current(true), "lookups missed");

        let current = |lookups: &[(&str, &[u8])], lock: Option<&str>| {
            let memo = Memo::load(dir.path());
            let mut hint = 0;
            for (path, content) in lookups {
                memo.lookup(&mut hint, path, content);
            }
            if let Some(text) = lock {
                memo.lock(text);
            }
            memo.is_current(lock.is_some())
        };
        let (a, b) = (("m/1_a.sql", files[0].1), ("m/2_b.sql", files[1].1));
        assert!(current(&[a, b], Some("lock text")));
        assert!(!current(&[a], Some("lock text")), "a file is gone");
        assert!(!current(&[a, b, ("m/3_c.sql", b"")], Some("lock text")), "a new file");
        assert!(!current(&[a, ("m/2_b.sql", b"x")], Some("lock text")), "an edited file");
        assert!(!current(&[a, b], Some("other lock")), "an edited lock");
        assert!(!current(&[a, b], None), "the lock is gone");
    }

    #[test]
    fn a_damaged_memo_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        Memo::store(
            dir.path(),
            &[(
                "a.sql",
                b"SELECT 1;",
                [9; 32],
                Analysis::new(
                    Findings { has_statements: true, begins: false, no_transaction: false, ..Default::default() },
                    crate::model::Dialect::Sqlite,
                ),
            )],
            None,
        )
        .unwrap();
        let path = dir.path().join(FILE_NAME);
        let good = fs::read(&path).unwrap();
        for at in [0, good.len() / 2, good.len() - 12, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x04;
            fs::write(&path, &bad).unwrap();
            assert_eq!(Memo::load(dir.path()).lookup(&mut 0, "a.sql", b"SELECT 1;"), None, "byte {at} flipped");
        }
        for len in [0, 7, 8, good.len() - 1] {
            fs::write(&path, &good[..len]).unwrap();
            assert_eq!(Memo::load(dir.path()).lookup(&mut 0, "a.sql", b"SELECT 1;"), None, "cut to {len}");
        }
        fs::write(&path, &good).unwrap();
        assert_eq!(Memo::load(dir.path()).lookup(&mut 0, "a.sql", b"SELECT 1;").map(|h| h.0), Some([9; 32]));
    }
}
