//! The lock file, `migrations/migrations.lock`: seals released migrations.
//!
//! ```text
//! # migcheck lock file: ...comments...
//! migcheck-lock 1
//! 20261124093000 <sha256 of up> <sha256 of down, or -> create_owners
//! 20261124101500 <sha256> - add_pets
//! chain <sha256>
//! ```
//!
//! `function <name> <arity>` lines after the header declare SQL functions the
//! application registers (`function normalize 1`; arity -1 for any), so that
//! the scratch database stands in for them in `cargo build` and in the CLI
//! alike. They may be added by hand, are kept by `migcheck lock`, and are not
//! part of the chain.
//!
//! Settings lines, also outside the chain, make the build script and the CLI
//! agree: `scratch-limit 2GiB`, `allow <code>` (a warning not reported),
//! `deny <code>` (a warning that fails the build).
//!
//! `accept <version> <code> <hash>` lines record findings of sealed
//! migrations the team accepts (`migcheck lock --accept`): a released
//! migration's known imperfect down, a rewrite of a table that is small in
//! production. The build reports them as accepted, and again as found when
//! what is found changes (the hash covers the finding's text). Outside the
//! chain too.
//!
//! `baseline <version> <sha256> <sha256 of down or -> <chain at version>
//! <name>` seals a squashed baseline (`migcheck squash`): the file
//! `<version>_<name>.baseline.sql` that creates what the sealed migrations up
//! to `<version>` leave behind (the chain hash at `<version>` says which). Their lines stay
//! (databases recorded them; the chain goes on through them), so their files
//! may be deleted. The `chain` line covers it: the chain over the entries,
//! then this line.
//!
//! One line per sealed migration, in version order, and a chain hash over those
//! lines (`chain_n = sha256(chain_{n-1} || line_n)`, starting from 32 zero bytes),
//! so that any insertion, deletion, edit or reordering of the lines shows. Line
//! endings are normalised before parsing.

use std::fmt::Write as _;

use crate::checksum;

use crate::config::FunctionStub;
use crate::model::Migration;
use crate::model::{CHAIN_START, Digest};

/// The format this version of migcheck reads and writes.
pub const FORMAT: u32 = 1;

/// The lock file's name inside the migrations directory.
pub const FILE_NAME: &str = crate::model::LOCK_FILE_NAME;

const HEADER: &str = "\
# migcheck lock file: seals released migrations so that `cargo build` fails if one is
# edited, deleted or reordered. Written by `migcheck lock`; commit it, never edit it.
# Each line: version, sha256 of the up file, sha256 of the down file (- if none), name.
";

/// One sealed migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// The migration's version.
    pub version: i64,
    /// SHA-256 of its up file.
    pub up: Digest,
    /// SHA-256 of its down file, if it has one.
    pub down: Option<Digest>,
    /// Its description.
    pub name: String,
    /// 1-based line in the lock file (0 for entries not read from a file).
    pub line: usize,
}

impl LockEntry {
    /// The line that seals `m`.
    pub fn of(m: &Migration) -> LockEntry {
        LockEntry {
            version: m.version,
            up: m.up.file.checksum,
            down: m.down.as_ref().map(|d| d.file.checksum),
            name: m.description.clone(),
            line: 0,
        }
    }

    /// Whether this line seals `m` as it is now.
    pub fn seals(&self, m: &Migration) -> bool {
        self.version == m.version
            && self.up == m.up.file.checksum
            && self.down == m.down.as_ref().map(|d| d.file.checksum)
            && self.name == m.description
    }

    /// The entry's line as written and hashed into the chain.
    pub fn to_line(&self) -> String {
        let down = self.down.as_ref().map_or_else(|| "-".to_owned(), checksum::to_hex);
        format!("{} {} {} {}", self.version, checksum::to_hex(&self.up), down, self.name)
    }
}

/// A sealed squashed baseline (a `baseline` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockBaseline {
    /// The newest version it replaces.
    pub version: i64,
    /// SHA-256 of its file.
    pub checksum: Digest,
    /// SHA-256 of its down file (`<V>_<name>.baseline.down.sql`), if it has one.
    pub down: Option<Digest>,
    /// The chain hash at its version: the migrations it replaces, sealed.
    pub chain: Digest,
    /// Its description.
    pub name: String,
    /// 1-based line in the lock file (0 when not read from a file).
    pub line: usize,
}

impl LockBaseline {
    /// The line as written and hashed into the `chain` line:
    /// `baseline <version> <sha256> <sha256 of down or -> <chain at version> <name>`.
    pub fn to_line(&self) -> String {
        let down = self.down.as_ref().map_or_else(|| "-".to_owned(), checksum::to_hex);
        format!(
            "baseline {} {} {down} {} {}",
            self.version,
            checksum::to_hex(&self.checksum),
            checksum::to_hex(&self.chain),
            self.name
        )
    }

    /// Reads what follows `baseline ` on a line.
    fn parse(rest: &str, line: usize) -> Result<LockBaseline, String> {
        let mut parts = rest.splitn(5, ' ');
        let (Some(version), Some(sum), Some(down), Some(chain), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("expected `baseline <version> <sha256> <sha256 of down or -> <chain hash> <name>`".into());
        };
        let version = version.parse::<i64>().map_err(|_| format!("`{version}` is not a migration version"))?;
        let digest = |text: &str| checksum::from_hex(text).ok_or_else(|| format!("`{text}` is not a sha256 checksum"));
        let down = if down == "-" { None } else { Some(digest(down)?) };
        if name.trim().is_empty() {
            return Err("the baseline has no name".into());
        }
        Ok(LockBaseline {
            version,
            checksum: digest(sum)?,
            down,
            chain: digest(chain)?,
            name: name.trim().to_owned(),
            line,
        })
    }
}

/// A parsed lock file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lock {
    /// Sealed migrations in increasing version order.
    pub entries: Vec<LockEntry>,
    /// Application SQL functions the scratch database stands in for.
    pub functions: Vec<FunctionStub>,
    /// `dialect postgres`: the SQL dialect of the migrations (SQLite when absent).
    pub dialect: Option<Dialect>,
    /// `layout diesel`: the directory's layout (detected when absent).
    pub layout: Option<crate::model::Layout>,
    /// `layout custom [by-name] <regex>`: the pattern of the project's own
    /// names (with `layout` = `Custom`).
    pub custom: Option<crate::layout::CustomLayout>,
    /// `accept …` lines: findings of sealed migrations accepted.
    pub accepts: Vec<Accepted>,
    /// `allow <code>` lines: warnings not reported, project-wide.
    pub allow: Vec<String>,
    /// `deny <code>` lines: warnings that fail the build.
    pub deny: Vec<String>,
    /// `scratch-limit <size>`: the scratch database's size limit, unless the
    /// build or the environment set one.
    pub scratch_limit: Option<u64>,
    /// `foreign-keys off`: the project migrates SQLite with foreign keys
    /// not enforced; the check and the runtime run its migrations so.
    pub foreign_keys_off: bool,
    /// `baseline …`: the squashed baseline, when there is one.
    pub baseline: Option<LockBaseline>,
}

/// A finding of a sealed migration the team accepts (an `accept` line).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Accepted {
    /// The migration's version.
    pub version: i64,
    /// The finding's code (`down-mismatch`, `table-rewrite`, …).
    pub code: String,
    /// What was found, hashed ([`Accepted::hash_of`]).
    pub hash: String,
}

impl Accepted {
    /// The hash of what identifies a finding: its code, message and notes
    /// with their numbers left out, and without the sample row a data
    /// finding shows, so that rows added by a fixture (other counts, another
    /// sample) leave it the same finding.
    ///
    /// ```
    /// use migcheck_core::lock::Accepted;
    /// let a = Accepted::hash_of("data-loss", "`2_x.sql` loses 3 of the 5 rows of `t2`", &["one of them: (1, 'a')".into()]);
    /// let b = Accepted::hash_of("data-loss", "`2_x.sql` loses 7 of the 9 rows of `t2`", &["one of them: (4, 'b')".into()]);
    /// let c = Accepted::hash_of("data-loss", "`2_x.sql` loses 7 of the 9 rows of `t3`", &[]);
    /// assert_eq!(a, b);
    /// assert_ne!(a, c);
    /// ```
    pub fn hash_of(code: &str, message: &str, notes: &[String]) -> String {
        let notes: Vec<String> =
            notes.iter().filter(|n| !n.starts_with("one of them: ")).map(|n| without_numbers(n)).collect();
        let text = format!("{code}\n{}\n{}", without_numbers(message), notes.join("\n"));
        checksum::to_hex(&checksum::checksum(text.as_bytes()))[..16].to_owned()
    }

    /// The hash earlier versions wrote (code, message and notes as they
    /// are): a lock's line written so still accepts its finding.
    pub fn legacy_hash_of(code: &str, message: &str, notes: &[String]) -> String {
        let text = format!("{code}\n{message}\n{}", notes.join("\n"));
        checksum::to_hex(&checksum::checksum(text.as_bytes()))[..16].to_owned()
    }
}

/// `text` with each number that stands alone (not part of a name such as
/// `t2`) written `#`.
fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut previous: Option<char> = None;
    while let Some((_, c)) = chars.next() {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if c.is_ascii_digit() && !word(previous) {
            let mut last = c;
            while let Some(&(_, d)) = chars.peek() {
                if !(d.is_ascii_digit() || d == '.') {
                    break;
                }
                last = d;
                chars.next();
            }
            out.push('#');
            previous = Some(last);
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

use crate::model::Dialect;

/// Why a lock file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockError {
    /// Whether the problem is git conflict markers (a merge).
    pub conflict: bool,
    /// 1-based line, or 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

impl Lock {
    /// The chain hash after each entry.
    pub fn chain_links(&self) -> Vec<Digest> {
        let mut link = CHAIN_START;
        self.entries
            .iter()
            .map(|e| {
                link = checksum::chain(&link, &e.to_line());
                link
            })
            .collect()
    }

    /// The hash on the `chain` line: the chain over all entries, then the
    /// `baseline` line when there is one.
    pub fn chain(&self) -> Digest {
        self.sealed_chain(self.chain_links().last().copied().unwrap_or(CHAIN_START))
    }

    /// The `chain` line's hash, given the chain over the entries.
    fn sealed_chain(&self, entries: Digest) -> Digest {
        match &self.baseline {
            Some(b) => checksum::chain(&entries, &b.to_line()),
            None => entries,
        }
    }

    /// The entries a baseline replaces (versions up to its own).
    pub fn replaced(&self) -> &[LockEntry] {
        let Some(b) = &self.baseline else { return &[] };
        &self.entries[..self.entries.partition_point(|e| e.version <= b.version)]
    }

    /// The newest sealed version.
    pub fn newest(&self) -> Option<i64> {
        self.entries.last().map(|e| e.version)
    }

    /// The entry for `version`.
    pub fn get(&self, version: i64) -> Option<&LockEntry> {
        self.entries.binary_search_by_key(&version, |e| e.version).ok().map(|i| &self.entries[i])
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from(HEADER);
        let _ = writeln!(out, "migcheck-lock {FORMAT}");
        if let Some(dialect) = self.dialect {
            let _ = writeln!(out, "dialect {}", dialect.name());
        }
        match (self.layout, &self.custom) {
            (Some(crate::model::Layout::Custom), Some(custom)) => {
                let _ = writeln!(out, "layout custom {}", custom.render());
            }
            (Some(layout), _) => {
                let _ = writeln!(out, "layout {}", layout.name());
            }
            (None, _) => {}
        }
        for f in &self.functions {
            let _ = writeln!(out, "function {} {}", f.name, f.arity);
        }
        if let Some(limit) = self.scratch_limit {
            let shown = crate::config::show_size(limit);
            let _ = writeln!(out, "scratch-limit {}", shown.strip_suffix(" bytes").unwrap_or(&shown).replace(' ', ""));
        }
        if self.foreign_keys_off {
            out.push_str("foreign-keys off\n");
        }
        for code in &self.allow {
            let _ = writeln!(out, "allow {code}");
        }
        for code in &self.deny {
            let _ = writeln!(out, "deny {code}");
        }
        for a in &self.accepts {
            let _ = writeln!(out, "accept {} {} {}", a.version, a.code, a.hash);
        }
        if let Some(b) = &self.baseline {
            let _ = writeln!(out, "{}", b.to_line());
        }
        for entry in &self.entries {
            out.push_str(&entry.to_line());
            out.push('\n');
        }
        let _ = writeln!(out, "chain {}", checksum::to_hex(&self.chain()));
        out
    }

    /// Parses a lock file's text.
    pub fn parse(text: &str) -> Result<Lock, LockError> {
        Lock::parse_with_links(text).map(|(lock, _)| lock)
    }

    /// Parses a lock file's text, and returns the chain hash after each entry
    /// (the links [`chain_links`](Self::chain_links) gives), verified against
    /// the `chain` line. (The build's memo keeps both for an unchanged text.)
    pub fn parse_with_links(text: &str) -> Result<(Lock, Vec<Digest>), LockError> {
        let text = text.replace("\r\n", "\n");
        let lines: Vec<&str> = text.lines().collect();
        refuse_conflict_markers(&lines)?;
        let mut lock = Lock::default();
        let mut seen_header = false;
        let mut chain: Option<(usize, &str)> = None;
        for (i, raw) in lines.iter().enumerate() {
            let n = i + 1;
            let line = raw.trim_end();
            if line.trim_start().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if let Some((chain_line, _)) = chain {
                return Err(corrupt(n, format!("unexpected line after the `chain` line (line {chain_line})")));
            }
            // An entry line starts with its version: skip the keyword checks.
            let is_entry = line.starts_with(|c: char| c.is_ascii_digit());
            if !seen_header {
                read_header(n, line)?;
                seen_header = true;
            } else if !is_entry && let Some(hash) = line.strip_prefix("chain ") {
                chain = Some((n, hash.trim()));
            } else if is_entry || !read_setting(&mut lock, n, line)? {
                let entry = read_entry(n, line)?;
                if let Some(prev) = lock.entries.last().filter(|p| p.version >= entry.version) {
                    return Err(corrupt(
                        n,
                        format!(
                            "version {} comes after version {} (line {}): lines must be in increasing version order",
                            entry.version, prev.version, prev.line
                        ),
                    ));
                }
                lock.entries.push(entry);
            }
        }
        if !seen_header {
            return Err(corrupt(0, "the lock file is empty: it has no `migcheck-lock 1` line".into()));
        }
        let Some((chain_line, hash)) = chain else {
            return Err(corrupt(lines.len(), "the lock file has no `chain` line: it was cut short".into()));
        };
        let links = lock.chain_links();
        if let Some(b) = &lock.baseline {
            let at = lock.entries.binary_search_by_key(&b.version, |e| e.version).ok().map(|i| links[i]);
            if at != Some(b.chain) {
                return Err(corrupt(
                    b.line,
                    format!(
                        "the baseline's chain hash is not the chain at version {}: the lock file was edited by hand",
                        b.version
                    ),
                ));
            }
        }
        match checksum::from_hex(hash) {
            Some(found) if found == lock.sealed_chain(links.last().copied().unwrap_or(CHAIN_START)) => {
                Ok((lock, links))
            }
            Some(_) => Err(LockError {
                help: "a lock file is written by `migcheck lock`, never by hand; restore it from version \
                       control, or run `migcheck lock` (it refuses to re-seal an edited migration unless \
                       told `--force`)"
                    .into(),
                ..corrupt(
                    chain_line,
                    "the chain hash does not match the lines above it: the lock file was edited by hand".into(),
                )
            }),
            None => Err(corrupt(chain_line, format!("`{hash}` is not a sha256 checksum"))),
        }
    }
}

/// A lock file that cannot be read, at `line`.
fn corrupt(line: usize, message: String) -> LockError {
    LockError {
        conflict: false,
        line,
        message,
        help: "restore the lock file from version control, or run `migcheck lock` to write it again".into(),
    }
}

/// Git's conflict markers, said as such (a merge of two branches' locks).
fn refuse_conflict_markers(lines: &[&str]) -> Result<(), LockError> {
    for (i, line) in lines.iter().enumerate() {
        // Most lines are entries: look closer only at lines that could be markers.
        if !line.starts_with(['<', '|', '=', '>']) {
            continue;
        }
        let marker = ["<<<<<<<", "|||||||", "=======", ">>>>>>>"]
            .iter()
            .any(|m| line.strip_prefix(m).is_some_and(|rest| rest.is_empty() || rest.starts_with(' ')));
        if marker {
            return Err(LockError {
                conflict: true,
                line: i + 1,
                message: "the lock file has git conflict markers".into(),
                help: "keep the migration lines of both sides in version order and delete the markers \
                       and the `chain` lines, then run `migcheck lock` to write the chain again; if \
                       both branches added migrations, run `migcheck rebase` so that yours come after \
                       the ones already sealed"
                    .into(),
            });
        }
    }
    Ok(())
}

/// `migcheck-lock <format>`.
fn read_header(n: usize, line: &str) -> Result<(), LockError> {
    let Some(format) = line.strip_prefix("migcheck-lock ") else {
        return Err(corrupt(n, "the lock file does not start with `migcheck-lock 1`".into()));
    };
    match format.trim().parse::<u32>() {
        Ok(FORMAT) => Ok(()),
        Ok(newer) if newer > FORMAT => Err(LockError {
            help: "upgrade migcheck to the version that wrote this lock file".into(),
            ..corrupt(n, format!("the lock file has format {newer}, newer than this migcheck reads ({FORMAT})"))
        }),
        _ => Err(corrupt(n, format!("unknown lock file format `{}`", format.trim()))),
    }
}

/// A `dialect`, `layout`, `function`, `scratch-limit`, `foreign-keys`, `allow`, `deny`,
/// `baseline` or `accept` line; `false` for any other line.
pub(crate) fn read_setting(lock: &mut Lock, n: usize, line: &str) -> Result<bool, LockError> {
    if let Some(dialect) = line.strip_prefix("dialect ") {
        lock.dialect = Some(match dialect.trim() {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::Mysql,
            other => return Err(corrupt(n, format!("unknown dialect `{other}`: `sqlite`, `postgres` or `mysql`"))),
        });
    } else if let Some(spec) = line.strip_prefix("layout custom ") {
        lock.custom = Some(crate::layout::CustomLayout::parse(spec).map_err(|e| corrupt(n, e))?);
        lock.layout = Some(crate::model::Layout::Custom);
    } else if let Some(name) = line.strip_prefix("layout ") {
        if name.trim() == "custom" {
            return Err(corrupt(n, "`layout custom` needs a regex: `layout custom <regex>`".into()));
        }
        lock.layout = Some(crate::model::Layout::parse(name).ok_or_else(|| {
            corrupt(
                n,
                format!(
                    "unknown layout `{}`: migcheck, diesel, refinery, dbmate, goose, sql-migrate or custom <regex>",
                    name.trim()
                ),
            )
        })?);
    } else if let Some(decl) = line.strip_prefix("function ") {
        let mut parts = decl.split_whitespace();
        let (Some(name), Some(arity), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt(n, "expected `function <name> <number of arguments>`".into()));
        };
        let arity = match arity.parse::<i32>() {
            Ok(a) if (-1..=127).contains(&a) => a,
            _ => return Err(corrupt(n, format!("`{arity}` is not a number of arguments (-1 to 127)"))),
        };
        if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(corrupt(n, format!("`{name}` is not an SQL function name")));
        }
        lock.functions.push(FunctionStub { name: name.to_owned(), arity });
    } else if let Some(setting) = line.strip_prefix("foreign-keys ") {
        lock.foreign_keys_off = match setting.trim() {
            "off" => true,
            "on" => false,
            other => {
                return Err(corrupt(n, format!("`foreign-keys {other}`: `foreign-keys off` or `foreign-keys on`")));
            }
        };
    } else if let Some(size) = line.strip_prefix("scratch-limit ") {
        lock.scratch_limit = Some(
            crate::config::parse_size(size.trim())
                .ok_or_else(|| corrupt(n, format!("`{}` is not a size (`2GiB`, `512MiB`, bytes)", size.trim())))?,
        );
    } else if let Some(rest) =
        line.strip_prefix("allow ").map(|r| (r, true)).or_else(|| line.strip_prefix("deny ").map(|r| (r, false)))
    {
        let (code, allow) = (rest.0.trim(), rest.1);
        if crate::diagnostic::Kind::warning_from_code(code).is_none() {
            return Err(corrupt(n, format!("`{code}` is not the code of a warning migcheck gives")));
        }
        if allow { &mut lock.allow } else { &mut lock.deny }.push(code.to_owned());
    } else if let Some(rest) = line.strip_prefix("baseline ") {
        if lock.baseline.is_some() {
            return Err(corrupt(n, "a second `baseline` line: a project has one baseline".into()));
        }
        lock.baseline = Some(LockBaseline::parse(rest, n).map_err(|e| corrupt(n, e))?);
    } else if let Some(accept) = line.strip_prefix("accept ") {
        let mut parts = accept.split_whitespace();
        let (Some(version), Some(code), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt(n, "expected `accept <version> <code> <hash>`".into()));
        };
        let Ok(version) = version.parse::<i64>() else {
            return Err(corrupt(n, format!("`{version}` is not a migration version")));
        };
        if hash.len() != 16 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(corrupt(n, format!("`{hash}` is not a finding's hash (16 hexadecimal digits)")));
        }
        lock.accepts.push(Accepted { version, code: code.to_owned(), hash: hash.to_owned() });
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// `<version> <sha256 of up> <sha256 of down or -> <name>`.
fn read_entry(n: usize, line: &str) -> Result<LockEntry, LockError> {
    let mut parts = line.splitn(4, ' ');
    let (Some(version), Some(up), Some(down), Some(name)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt(n, "expected `<version> <sha256 of up> <sha256 of down or -> <name>`".into()));
    };
    let version: i64 = match version.parse() {
        Ok(v) if v >= 0 => v,
        _ => return Err(corrupt(n, format!("`{version}` is not a migration version"))),
    };
    let Some(up) = checksum::from_hex(up) else {
        return Err(corrupt(n, format!("`{up}` is not a sha256 checksum (64 hexadecimal digits)")));
    };
    let down = match down {
        "-" => None,
        hex => match checksum::from_hex(hex) {
            Some(d) => Some(d),
            None => return Err(corrupt(n, format!("`{hex}` is not a sha256 checksum or `-`"))),
        },
    };
    if name.trim().is_empty() {
        return Err(corrupt(n, "the migration name is empty".into()));
    }
    Ok(LockEntry { version, up, down, name: name.to_owned(), line: n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::checksum;

    fn sample() -> Lock {
        Lock {
            entries: vec![
                LockEntry {
                    version: 1,
                    up: checksum(b"a"),
                    down: Some(checksum(b"b")),
                    name: "create owners".into(),
                    line: 0,
                },
                LockEntry { version: 20, up: checksum(b"c"), down: None, name: "add_pets".into(), line: 0 },
            ],
            functions: vec![FunctionStub { name: "normalize".into(), arity: 1 }],
            dialect: Some(Dialect::Postgres),
            layout: Some(crate::model::Layout::Diesel),
            custom: None,
            accepts: Vec::new(),
            allow: vec!["table-rewrite".into()],
            deny: vec!["blocking-lock".into()],
            scratch_limit: Some(2 << 30),
            foreign_keys_off: true,
            baseline: None,
        }
    }

    fn parsed(text: &str) -> Lock {
        let mut lock = Lock::parse(text).unwrap();
        lock.entries.iter_mut().for_each(|e| e.line = 0);
        lock
    }

    #[test]
    fn a_baseline_line_round_trips_and_a_hand_edit_shows() {
        let mut lock = sample();
        let chain = lock.chain_links()[0];
        lock.baseline = Some(LockBaseline {
            version: 1,
            checksum: checksum(b"base"),
            down: None,
            chain,
            name: "start".into(),
            line: 0,
        });
        let text = lock.render();
        assert!(
            text.contains(&format!(
                "\nbaseline 1 {} - {} start\n",
                checksum::to_hex(&checksum(b"base")),
                checksum::to_hex(&chain)
            )),
            "{text}"
        );
        let mut back = parsed(&text);
        back.baseline.as_mut().unwrap().line = 0;
        assert_eq!(back, lock);
        assert_eq!(lock.replaced().len(), 1);
        // The `chain` line covers the baseline line: an edit shows.
        let edited = text.replace(" start\n", " started\n");
        assert!(Lock::parse(&edited).unwrap_err().message.contains("edited by hand"));
        // A baseline line whose chain is not the chain at its version.
        let mut wrong = lock.clone();
        wrong.baseline.as_mut().unwrap().chain = lock.chain_links()[1];
        let err = Lock::parse(&wrong.render()).unwrap_err();
        assert!(err.message.contains("not the chain at version 1"), "{}", err.message);
    }

    #[test]
    fn a_custom_layout_round_trips() {
        let mut lock = sample();
        lock.layout = Some(crate::model::Layout::Custom);
        lock.custom =
            Some(crate::layout::CustomLayout::parse(r"by-name (?<version>\d+) (?<description>.+)\.sql").unwrap());
        let text = lock.render();
        assert!(text.contains("\nlayout custom by-name (?<version>\\d+) (?<description>.+)\\.sql\n"), "{text}");
        assert_eq!(parsed(&text), lock);
    }

    #[test]
    fn round_trips_with_lf_and_crlf() {
        let text = sample().render();
        assert_eq!(parsed(&text), sample());
        assert_eq!(parsed(&text.replace('\n', "\r\n")), sample());
        assert_eq!(parsed(&Lock::default().render()), Lock::default());
    }

    #[test]
    fn accept_lines_round_trip_outside_the_chain() {
        let mut lock = sample();
        let chain = lock.chain();
        lock.accepts.push(Accepted { version: 1, code: "down-mismatch".into(), hash: "0123456789abcdef".into() });
        let text = lock.render();
        assert!(text.contains("\naccept 1 down-mismatch 0123456789abcdef\n"), "{text}");
        let parsed = parsed(&text);
        assert_eq!(parsed.accepts, lock.accepts);
        assert_eq!(parsed.chain(), chain);
        let bad = text.replace("0123456789abcdef", "xyz");
        assert!(Lock::parse(&bad).unwrap_err().message.contains("is not a finding's hash"));
        assert!(
            text.contains("\nscratch-limit 2GiB\nforeign-keys off\nallow table-rewrite\ndeny blocking-lock\n"),
            "{text}"
        );
        assert!(parsed.foreign_keys_off);
        assert!(!self::parsed(&text.replace("foreign-keys off\n", "")).foreign_keys_off);
        let bad = text.replace("foreign-keys off", "foreign-keys maybe");
        assert!(Lock::parse(&bad).unwrap_err().message.contains("`foreign-keys off` or `foreign-keys on`"));
        let bad = text.replace("deny blocking-lock", "deny sql-error");
        assert!(Lock::parse(&bad).unwrap_err().message.contains("`sql-error` is not the code of a warning"));
    }

    #[test]
    fn function_lines_are_outside_the_chain() {
        let text = sample().render();
        assert!(text.contains("\nfunction normalize 1\n"));
        let more = text.replace("function normalize 1\n", "function normalize 1\nfunction slugify -1\n");
        assert_eq!(Lock::parse(&more).unwrap().functions.len(), 2);
        let bad = text.replace("function normalize 1", "function normalize x");
        assert!(Lock::parse(&bad).unwrap_err().message.contains("not a number of arguments"));
    }

    #[test]
    fn every_change_breaks_the_chain() {
        let text = sample().render();
        let up_a = checksum::to_hex(&checksum(b"a"));
        let tampered = [
            text.replace(&up_a, &checksum::to_hex(&checksum(b"z"))),
            text.replace(" add_pets", " add_dogs"),
            text.replace("\n20 ", "\n21 "),
        ];
        for t in tampered {
            let err = Lock::parse(&t).unwrap_err();
            assert!(err.message.contains("chain hash does not match"), "{}", err.message);
        }
    }

    #[test]
    fn malformed_lock_files() {
        let good = sample().render();
        let chain_line = good.lines().find(|l| l.starts_with("chain")).unwrap().to_owned();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            ("migcheck-lock 2\nchain 00\n".into(), "newer than this migcheck"),
            ("migcheck-lock x\n".into(), "unknown lock file format"),
            ("hello\n".into(), "does not start with"),
            (good.replace(&chain_line, ""), "cut short"),
            (good.replace(&format!("\n{chain_line}"), "\n20 x - y\n"), "not a sha256"),
            (format!("{good}1 a\n"), "after the `chain` line"),
            ("migcheck-lock 1\n1 ab\n".into(), "expected `<version>"),
            ("migcheck-lock 1\n-1 ab cd e\n".into(), "not a migration version"),
            (good.replace(&chain_line, "chain zz"), "not a sha256"),
        ];
        for (text, expected) in cases {
            let err = Lock::parse(&text).unwrap_err();
            assert!(!err.conflict);
            assert!(err.message.contains(expected), "{text:?}: {}", err.message);
        }
        let swapped = {
            let lines: Vec<&str> = good.lines().collect();
            let (a, b) = (
                lines.iter().position(|l| l.starts_with("1 ")).unwrap(),
                lines.iter().position(|l| l.starts_with("20 ")).unwrap(),
            );
            let mut l = lines.clone();
            l.swap(a, b);
            l.join("\n")
        };
        assert!(Lock::parse(&swapped).unwrap_err().message.contains("increasing version order"));
    }

    #[test]
    fn conflict_markers_say_how_to_resolve() {
        let text = "migcheck-lock 1\n<<<<<<< HEAD\n1 a b c\n=======\n2 a b c\n>>>>>>> feature\nchain x\n";
        let err = Lock::parse(text).unwrap_err();
        assert!(err.conflict);
        assert_eq!(err.line, 2);
        assert!(err.help.contains("migcheck rebase"));
    }
}
