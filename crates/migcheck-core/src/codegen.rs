//! The Rust code that embeds verified migrations: a `migcheck::Migrations`
//! expression. The build script writes it into `OUT_DIR` for
//! `include_migrations!()`; the `migrations!` macro expands to it.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use crate::checksum::push_hex;
use crate::model::Layout;
use crate::model::{Baseline, Migration, Mode, Script, Squashed};

/// The generated file's path under `OUT_DIR`.
pub const GENERATED: &str = "migcheck/migrations.rs";

/// What the generated code embeds beside the migrations: a squashed
/// baseline and the migrations it replaced whose files were deleted (from
/// [`crate::check::Report`]'s `baseline` and `squashed`), and the lock's
/// `foreign-keys off`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Squash<'a> {
    /// The baseline, when there is one.
    pub baseline: Option<&'a Baseline>,
    /// The replaced migrations without files, oldest first.
    pub squashed: &'a [Squashed],
    /// The lock says `foreign-keys off`: the runtime migrates without them.
    pub foreign_keys_off: bool,
}

/// The expression, preceded by `extra` items inside its block.
pub fn render(migrations: &[Migration], dir_shown: &str) -> String {
    render_with(migrations, Squash::default(), dir_shown, "")
}

/// Like [`render`], with a baseline, and `items` (Rust items) placed inside
/// the block.
pub fn render_with(migrations: &[Migration], squash: Squash<'_>, dir_shown: &str, items: &str) -> String {
    let mut lines = String::with_capacity(lines_size(migrations));
    squashed_lines(&mut lines, squash.squashed);
    for m in migrations {
        line(&mut lines, m);
    }
    assemble(
        squash.squashed.len() + migrations.len(),
        dir_shown,
        items,
        &lines,
        baseline(migrations, squash).as_deref(),
        squash.foreign_keys_off,
    )
}

/// Like [`render`] (with a baseline), reusing the lines of the migrations
/// the last call with the same `cache_dir` rendered, as far as they are still
/// the same (the build script keeps them in `OUT_DIR`): after a migration is
/// appended, only its line is rendered, not thousands. A missing, damaged or
/// foreign cache only costs the rendering.
pub fn render_cached(
    migrations: &[Migration],
    squash: Squash<'_>,
    layout: Layout,
    dir_shown: &str,
    cache_dir: &Path,
) -> String {
    let cache = LineCache::load(cache_dir);
    let mut key = Vec::new();
    // The leading migrations whose line is the cached one.
    let mut same = 0;
    if let Some(cache) = &cache {
        while same < migrations.len().min(cache.keys.len()) {
            line_key(&mut key, &migrations[same], layout);
            if cache.key(same) != key.as_slice() {
                break;
            }
            same += 1;
        }
    }
    let mut lines = String::with_capacity(lines_size(migrations));
    let mut ends: Vec<usize> = Vec::with_capacity(migrations.len());
    if let Some(cache) = &cache {
        lines.push_str(cache.lines(same));
        ends.extend(cache.keys[..same].iter().map(|k| k.1));
    }
    for m in &migrations[same..] {
        line(&mut lines, m);
        ends.push(lines.len());
    }
    if cache.as_ref().is_none_or(|c| same < migrations.len() || c.keys.len() != migrations.len()) {
        let _ = LineCache::store(cache_dir, migrations, layout, &lines, &ends);
    }
    if !squash.squashed.is_empty() {
        let mut all = String::with_capacity(lines.len() + squash.squashed.len() * 200);
        squashed_lines(&mut all, squash.squashed);
        all.push_str(&lines);
        lines = all;
    }
    let count = squash.squashed.len() + migrations.len();
    assemble(count, dir_shown, "", &lines, baseline(migrations, squash).as_deref(), squash.foreign_keys_off)
}

/// The elements of the migrations a baseline replaced whose files are gone.
fn squashed_lines(out: &mut String, squashed: &[Squashed]) {
    for s in squashed {
        out.push_str("    ::migcheck::Migration::__squashed(");
        out.push_str(&s.version.to_string());
        out.push_str(", ");
        literal(out, &s.description);
        out.push_str(", \"");
        push_hex(out, &s.checksum);
        out.push_str("\", \"");
        push_hex(out, &s.chain);
        out.push_str("\"),\n");
    }
}

/// The baseline's expression: its version, name, file checksum, the chain
/// at its version, and its script.
fn baseline(migrations: &[Migration], squash: Squash<'_>) -> Option<String> {
    let b = squash.baseline?;
    let chain = match squash.squashed.last() {
        Some(s) => s.chain,
        None => migrations.iter().find(|m| m.version == b.version)?.chain,
    };
    let mut out = String::from("::migcheck::Baseline::__generated(");
    out.push_str(&b.version.to_string());
    out.push_str(", ");
    literal(&mut out, &b.description);
    out.push_str(", \"");
    push_hex(&mut out, &b.script.file.checksum);
    out.push_str("\", \"");
    push_hex(&mut out, &chain);
    out.push_str("\", ");
    script(&mut out, &b.script);
    out.push_str(", ");
    match &b.down {
        Some(d) => {
            out.push_str("::core::option::Option::Some(");
            script(&mut out, d);
            out.push(')');
        }
        None => out.push_str("::core::option::Option::None"),
    }
    out.push(')');
    Some(out)
}

fn lines_size(migrations: &[Migration]) -> usize {
    migrations
        .iter()
        .map(|m| 400 + m.description.len() + script_size(&m.up) + m.down.as_ref().map_or(0, script_size))
        .sum()
}

fn assemble(
    count: usize,
    dir_shown: &str,
    items: &str,
    lines: &str,
    baseline: Option<&str>,
    foreign_keys_off: bool,
) -> String {
    let mut out = String::with_capacity(lines.len() + items.len() + 400);
    let _ =
        writeln!(out, "// @generated by migcheck-build {} from `{dir_shown}`: do not edit.", env!("CARGO_PKG_VERSION"));
    // A static array rather than a promoted `&[…]`: `Migration` owns `Cow`s,
    // and a temporary with a destructor cannot be promoted.
    out.push_str("{\n");
    out.push_str(items);
    let _ = writeln!(out, "static MIGRATIONS: [::migcheck::Migration; {count}] = [");
    out.push_str(lines);
    out.push_str("];\n");
    match (baseline, foreign_keys_off) {
        (baseline, true) => {
            out.push_str("::migcheck::Migrations::__generated(&MIGRATIONS, ");
            match baseline {
                Some(b) => {
                    out.push_str("::core::option::Option::Some(");
                    out.push_str(b);
                    out.push(')');
                }
                None => out.push_str("::core::option::Option::None"),
            }
            out.push_str(", true)\n}\n");
        }
        (Some(b), false) => {
            out.push_str("::migcheck::Migrations::__from_generated_with_baseline(&MIGRATIONS, ");
            out.push_str(b);
            out.push_str(")\n}\n");
        }
        (None, false) => out.push_str("::migcheck::Migrations::__from_generated(&MIGRATIONS)\n}\n"),
    }
    out
}

/// One migration's element of the array.
fn line(out: &mut String, m: &Migration) {
    // push_str rather than write!: thousands of migrations, and build
    // scripts run unoptimised.
    out.push_str("    ::migcheck::Migration::__generated(");
    out.push_str(&m.version.to_string());
    out.push_str(", ");
    literal(out, &m.description);
    out.push_str(", \"");
    push_hex(out, &m.up.file.checksum);
    out.push_str("\", \"");
    push_hex(out, &m.chain);
    out.push_str("\", ");
    script(out, &m.up);
    out.push_str(", ");
    match &m.down {
        Some(d) => {
            out.push_str("::core::option::Option::Some(");
            script(out, d);
            out.push(')');
        }
        None => out.push_str("::core::option::Option::None"),
    }
    out.push_str("),\n");
}

/// What a migration's line is made of, short: its chain hash stands for its
/// version, name and files' checksums (and all before it); the files' text
/// and the layout for the SQL (the layout says which part of a file is the
/// up or the down); then the modes and the paths shown.
fn line_key(key: &mut Vec<u8>, m: &Migration, layout: Layout) {
    key.clear();
    key.extend_from_slice(&m.chain);
    key.push(Layout::ALL.iter().position(|&l| l == layout).unwrap_or(usize::MAX) as u8);
    key.push(mode_byte(m.up.mode));
    key.push(m.down.as_ref().map_or(0xff, |d| mode_byte(d.mode)));
    key.extend_from_slice(m.up.file.display.as_bytes());
    key.push(0);
    if let Some(d) = &m.down {
        key.extend_from_slice(d.file.display.as_bytes());
    }
}

fn mode_byte(mode: Mode) -> u8 {
    match mode {
        Mode::Transaction => 0,
        Mode::NoTransaction => 1,
        Mode::SelfManaged => 2,
    }
}

/// The file behind [`render_cached`]: each line's key and end, and the lines.
struct LineCache {
    /// The keys, one after the other.
    bytes: Vec<u8>,
    /// (key range in `bytes`, end of the line in `lines`), in order.
    keys: Vec<(std::ops::Range<usize>, usize)>,
    lines: String,
}

const LINES_MAGIC: &[u8] = concat!("migcheck lines 1 ", env!("CARGO_PKG_VERSION"), "\n").as_bytes();
const LINES_FILE: &str = "lines.bin";

impl LineCache {
    fn load(dir: &Path) -> Option<LineCache> {
        let mut bytes = crate::fingerprint::load_fingerprinted(dir, LINES_FILE)?;
        if !bytes.starts_with(LINES_MAGIC) {
            return None;
        }
        let body = bytes.len();
        let mut at = LINES_MAGIC.len();
        let u64_at = |at: &mut usize| -> Option<usize> {
            let v = u64::from_le_bytes(bytes.get(*at..*at + 8)?.try_into().ok()?);
            *at += 8;
            usize::try_from(v).ok()
        };
        let count = u64_at(&mut at)?;
        let mut keys = Vec::with_capacity(count.min(1 << 20));
        let mut last_end = 0;
        for _ in 0..count {
            let len = u64_at(&mut at)?;
            let key = at..at.checked_add(len).filter(|&e| e <= body)?;
            at = key.end;
            let end = u64_at(&mut at)?;
            if end < last_end {
                return None;
            }
            last_end = end;
            keys.push((key, end));
        }
        let len = u64_at(&mut at)?;
        if at.checked_add(len) != Some(body) || last_end > len {
            return None;
        }
        // Validated once; each line ends where a line ends (a character boundary).
        let lines = String::from_utf8(bytes.split_off(at)).ok()?;
        if keys.iter().any(|&(_, end)| end > 0 && lines.as_bytes()[end - 1] != b'\n') {
            return None;
        }
        Some(LineCache { bytes, keys, lines })
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.bytes[self.keys[i].0.clone()]
    }

    /// The first `n` lines.
    fn lines(&self, n: usize) -> &str {
        let end = if n == 0 { 0 } else { self.keys[n - 1].1 };
        // Checked in `load`: every end follows a line break.
        &self.lines[..end]
    }

    /// Writes `lines` (those of `migrations`, in order, each ending at its
    /// entry in `ends`) with their keys, through a temporary file and a rename.
    fn store(dir: &Path, migrations: &[Migration], layout: Layout, lines: &str, ends: &[usize]) -> io::Result<()> {
        let mut out = Vec::with_capacity(lines.len() + migrations.len() * 128 + 64);
        out.extend_from_slice(LINES_MAGIC);
        out.extend_from_slice(&(migrations.len() as u64).to_le_bytes());
        let mut key = Vec::new();
        for (m, end) in migrations.iter().zip(ends) {
            line_key(&mut key, m, layout);
            out.extend_from_slice(&(key.len() as u64).to_le_bytes());
            out.extend_from_slice(&key);
            out.extend_from_slice(&(*end as u64).to_le_bytes());
        }
        out.extend_from_slice(&(lines.len() as u64).to_le_bytes());
        out.extend_from_slice(lines.as_bytes());
        crate::fingerprint::store_fingerprinted(dir, LINES_FILE, out)
    }
}

fn script_size(s: &Script) -> usize {
    s.file.display.len() + s.sql.len() + 100
}

fn script(out: &mut String, s: &Script) {
    let mode = match s.mode {
        Mode::Transaction => "Transaction",
        Mode::NoTransaction => "NoTransaction",
        Mode::SelfManaged => "SelfManaged",
    };
    out.push_str("::migcheck::Script::__generated(");
    literal(out, &s.file.display);
    out.push_str(", ");
    literal(out, &s.sql);
    out.push_str(", ::migcheck::Mode::");
    out.push_str(mode);
    out.push(')');
}

/// `text` as a Rust string literal: raw (`r#"…"#`, copied as it is: cheap for
/// thousands of files where build scripts run unoptimised) unless it holds a
/// carriage return, which rustc would normalise away in a raw literal.
fn literal(out: &mut String, text: &str) {
    if text.contains('\r') {
        // `{:?}` of a str is a valid Rust string literal.
        let _ = write!(out, "{text:?}");
        return;
    }
    // Most texts hold no `"`: no search for the hashes a raw literal needs.
    let mut hashes = String::new();
    if text.contains('"') {
        let mut quote = String::from("\"");
        while text.contains(quote.as_str()) {
            hashes.push('#');
            quote.push('#');
        }
    }
    out.push('r');
    out.push_str(&hashes);
    out.push('"');
    out.push_str(text);
    out.push('"');
    out.push_str(&hashes);
}

/// Writes `contents` to `path` only if it differs, so that an unchanged build
/// does not recompile the crate that includes it.
pub fn write_if_changed(path: &Path, contents: &str) -> io::Result<bool> {
    if fs::read(path).ok().as_deref() == Some(contents.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, contents)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceFile;

    fn migration(version: i64, sql: &str, down: Option<&str>, mode: Mode) -> Migration {
        let script = |path: String, sql: &str, mode| Script {
            file: SourceFile {
                path: path.clone().into(),
                display: path,
                text: sql.into(),
                checksum: crate::checksum::checksum(sql.as_bytes()),
                analysis: Default::default(),
            },
            sql: sql.into(),
            mode,
            allow: Default::default(),
        };
        let chain = crate::checksum::checksum(format!("{version} {sql} {down:?}").as_bytes());
        Migration {
            version,
            description: format!("m{version}"),
            up: script(format!("migrations/{version}_m{version}.up.sql"), sql, mode),
            down: down.map(|d| script(format!("migrations/{version}_m{version}.down.sql"), d, Mode::Transaction)),
            chain,
            sealed: true,
        }
    }

    #[test]
    fn foreign_keys_off_is_embedded() {
        let ms = [migration(1, "CREATE TABLE a (x);", None, Mode::Transaction)];
        let off = Squash { foreign_keys_off: true, ..Squash::default() };
        let code = render_with(&ms, off, "migrations", "");
        assert!(
            code.contains("::migcheck::Migrations::__generated(&MIGRATIONS, ::core::option::Option::None, true)"),
            "{code}"
        );
        assert!(render(&ms, "migrations").contains("::migcheck::Migrations::__from_generated(&MIGRATIONS)"));
    }

    #[test]
    fn cached_lines_render_what_rendering_renders() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path();
        let mut ms: Vec<Migration> = (1..=40)
            .map(|v| {
                migration(v, &format!("CREATE TABLE t{v} (x);\n-- \"quoted\"#"), Some("SELECT 1;"), Mode::Transaction)
            })
            .collect();
        let check = |ms: &[Migration], layout: Layout, what: &str| {
            assert_eq!(
                render_cached(ms, Squash::default(), layout, "migrations", cache),
                render(ms, "migrations"),
                "{what}"
            );
        };
        check(&ms, Layout::Native, "no cache yet");
        check(&ms, Layout::Native, "all from the cache");
        ms.push(migration(41, "CREATE TABLE appended (x);", None, Mode::NoTransaction));
        check(&ms, Layout::Native, "one appended");
        ms[20].up.mode = Mode::SelfManaged;
        check(&ms, Layout::Native, "a mode changed in the middle");
        ms[30].up.file.display = "migrations/0031_m31.up.sql".into();
        check(&ms, Layout::Native, "a path changed");
        ms[10] = migration(11, "CREATE TABLE other (y);", None, Mode::Transaction);
        check(&ms, Layout::Native, "a migration edited");
        check(&ms, Layout::Dbmate, "another layout");
        ms.truncate(25);
        check(&ms, Layout::Dbmate, "fewer migrations");
        check(&[], Layout::Dbmate, "none");
        check(&ms, Layout::Dbmate, "back from none");
        // A damaged or cut cache file is not used.
        let path = cache.join(LINES_FILE);
        let good = fs::read(&path).unwrap();
        for at in [0, good.len() / 3, good.len() / 2, good.len() - 9, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            fs::write(&path, &bad).unwrap();
            ms[5].up.sql.push(' ');
            check(&ms, Layout::Dbmate, &format!("byte {at} flipped"));
        }
        fs::write(&path, &good[..good.len() / 2]).unwrap();
        check(&ms, Layout::Dbmate, "cut short");
    }

    fn lit(text: &str) -> String {
        let mut out = String::new();
        literal(&mut out, text);
        out
    }

    #[test]
    fn literals_are_raw_with_enough_hashes_unless_a_carriage_return() {
        assert_eq!(lit("SELECT 1;"), "r\"SELECT 1;\"");
        assert_eq!(lit("SELECT \"a\";"), "r#\"SELECT \"a\";\"#");
        assert_eq!(lit("'\"#x\"##'"), "r###\"'\"#x\"##'\"###");
        assert_eq!(lit("a\r\nb \"c\""), "\"a\\r\\nb \\\"c\\\"\"");
    }
}
