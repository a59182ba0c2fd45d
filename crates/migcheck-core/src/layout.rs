//! Other tools' migration directories, read in place, without renaming:
//! diesel (`<timestamp>_<name>/up.sql`, `down.sql`), refinery and Flyway
//! (`V<n>__<name>.sql`, `U<n>__<name>.sql`), dbmate (`-- migrate:up` /
//! `-- migrate:down` in one file), goose (`-- +goose Up` / `-- +goose Down`)
//! and sql-migrate (`-- +migrate Up` / `-- +migrate Down`). sqlx's and
//! golang-migrate's layouts are migcheck's own. Each tool's no-transaction
//! marker is honoured.
//!
//! A file holding both halves is read twice: the up half is the file with
//! everything outside its section blanked (newlines kept), so that lines and
//! columns in messages are the file's own.

use std::ops::Range;
use std::path::Path;

use crate::model::Layout;

/// Guesses the layout of `dir` from its entries and first lines.
pub fn detect(dir: &Path) -> Layout {
    let Ok(entries) = std::fs::read_dir(dir) else { return Layout::Native };
    // The first few `.sql` names as strings, kept in order as they come:
    // sorting thousands of names costs more than reading a directory where
    // build scripts run unoptimised.
    let mut sql_files: Vec<String> = Vec::with_capacity(9);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // file_type() comes with the directory entry: no stat per file.
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && (entry.path().join("up.sql").exists() || entry.path().join("down.sql").exists()) {
            return Layout::Diesel;
        }
        if (name.starts_with('V') || name.starts_with('U')) && name.contains("__") && name.ends_with(".sql") {
            return Layout::Refinery;
        }
        if name.ends_with(".sql") && (sql_files.len() < 8 || sql_files.last().is_some_and(|last| name < *last)) {
            let at = sql_files.iter().position(|n| name < *n).unwrap_or(sql_files.len());
            sql_files.insert(at, name);
            sql_files.truncate(8);
        }
    }
    // The tools' markers open their files: the head of a few files tells,
    // without reading a long history twice.
    for name in &sql_files {
        let mut head = [0u8; 4096];
        let n =
            std::fs::File::open(dir.join(name)).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
        let text = String::from_utf8_lossy(&head[..n]);
        for line in text.lines().map(|l| l.trim().trim_start_matches('\u{feff}')) {
            if line.starts_with("-- migrate:up") || line.starts_with("-- migrate:down") {
                return Layout::Dbmate;
            }
            if line.starts_with("-- +goose ") {
                return Layout::Goose;
            }
            if line.starts_with("-- +migrate ") {
                return Layout::SqlMigrate;
            }
        }
    }
    Layout::Native
}

/// The up and down sections of a single-file migration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sections {
    /// The up section's byte range in the file.
    pub up: Option<Range<usize>>,
    /// The down section's byte range, if there is one.
    pub down: Option<Range<usize>>,
    /// Whether the up section runs outside a transaction.
    pub up_no_transaction: bool,
    /// Whether the down section runs outside a transaction.
    pub down_no_transaction: bool,
}

/// Why a single-file migration's sections cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionError {
    /// Two up markers.
    TwoUp,
    /// Two down markers.
    TwoDown,
    /// No up marker; the marker the layout expects.
    NoUp {
        /// The marker the layout expects.
        marker: &'static str,
    },
}

impl std::fmt::Display for SectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SectionError::TwoUp => f.write_str("two up sections"),
            SectionError::TwoDown => f.write_str("two down sections"),
            SectionError::NoUp { marker } => write!(f, "no `{marker}` line"),
        }
    }
}

impl std::error::Error for SectionError {}

/// Finds the sections of a dbmate, goose or sql-migrate file. `Err` names
/// what is missing.
pub fn sections(layout: Layout, text: &str) -> Result<Sections, SectionError> {
    let mut markers: Vec<(bool, usize, usize, bool)> = Vec::new(); // (is_up, line start, line end, no_tx)
    let mut any_no_tx = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        // A byte-order mark may open the file, before its first marker.
        let t = line.trim().trim_start_matches('\u{feff}');
        let (up, rest) = match layout {
            Layout::Dbmate => match (t.strip_prefix("-- migrate:up"), t.strip_prefix("-- migrate:down")) {
                (Some(r), _) => (true, r),
                (_, Some(r)) => (false, r),
                _ => continue,
            },
            Layout::Goose => {
                if t.eq_ignore_ascii_case("-- +goose NO TRANSACTION") {
                    any_no_tx = true;
                    continue;
                }
                match (t.strip_prefix("-- +goose Up"), t.strip_prefix("-- +goose Down")) {
                    (Some(r), _) => (true, r),
                    (_, Some(r)) => (false, r),
                    _ => continue,
                }
            }
            Layout::SqlMigrate => match (t.strip_prefix("-- +migrate Up"), t.strip_prefix("-- +migrate Down")) {
                (Some(r), _) => (true, r),
                (_, Some(r)) => (false, r),
                _ => continue,
            },
            _ => return Ok(Sections::default()),
        };
        let no_tx = rest.contains("transaction:false") || rest.contains("notransaction");
        markers.push((up, start, offset, no_tx));
    }
    let mut out = Sections::default();
    for (i, &(up, _, body_start, no_tx)) in markers.iter().enumerate() {
        let end = markers.get(i + 1).map_or(text.len(), |m| m.1);
        let range = body_start..end;
        if up {
            if out.up.is_some() {
                return Err(SectionError::TwoUp);
            }
            out.up = Some(range);
            out.up_no_transaction = no_tx || any_no_tx;
        } else {
            if out.down.is_some() {
                return Err(SectionError::TwoDown);
            }
            out.down = Some(range);
            out.down_no_transaction = no_tx || any_no_tx;
        }
    }
    if out.up.is_none() {
        let marker = match layout {
            Layout::Dbmate => "-- migrate:up",
            Layout::Goose => "-- +goose Up",
            _ => "-- +migrate Up",
        };
        return Err(SectionError::NoUp { marker });
    }
    Ok(out)
}

/// `text` with everything outside `keep` blanked: line breaks stay, so
/// positions are unchanged.
pub fn blank_outside(text: &str, keep: &Range<usize>) -> String {
    let bytes: Vec<u8> = text
        .bytes()
        .enumerate()
        .map(|(i, b)| if keep.contains(&i) || b == b'\n' || b == b'\r' { b } else { b' ' })
        .collect();
    // Section bounds are line bounds, so every multi-byte character is either
    // kept whole or blanked whole.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Reads a diesel directory name: `2017-11-24-215001_create_posts`, or
/// diesel 2.2's `2024-01-01-000000-0000_create_posts`, whose last group is a
/// subversion in hexadecimal that keeps versions made in one second apart.
pub fn diesel_name(name: &str) -> Option<(i64, String)> {
    // diesel: the version is the name up to the first `_` (the whole name
    // when there is none), its dashes removed.
    let (version, description) = name.split_once('_').unwrap_or((name, name));
    if version.is_empty() || description.is_empty() {
        return None;
    }
    let subversioned = version.rsplit_once('-').filter(|(time, sub)| {
        version.matches('-').count() == 4
            && sub.len() == 4
            && sub.bytes().all(|b| b.is_ascii_hexdigit())
            && time.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    });
    if let Some((time, sub)) = subversioned {
        let digits: String = time.chars().filter(char::is_ascii_digit).collect();
        let number = diesel_version_number(&digits)?;
        return Some((with_subversion(number, u32::from_str_radix(sub, 16).ok()?)?, description.to_owned()));
    }
    if !version.bytes().all(|b| b.is_ascii_digit() || b == b'-') || !version.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = version.chars().filter(char::is_ascii_digit).collect();
    Some((diesel_version_number(&digits)?, description.to_owned()))
}

/// A diesel 2.2 version: the timestamp's number, then the subversion
/// (below 65,536) in five decimal digits, so that numeric order is diesel's
/// order among such versions.
fn with_subversion(timestamp: i64, sub: u32) -> Option<i64> {
    timestamp.checked_mul(100_000)?.checked_add(i64::from(sub))
}

/// The number migcheck orders a diesel version by. diesel orders versions as
/// strings; for its timestamps (`YYYYMMDD` and a time) that is numeric order
/// once the time has six digits, so a time written with five or seven
/// (`2023-10-06-10000`, `2023-03-01-1745356`, both seen in real histories)
/// is read as the six-digit time that sorts where it sorts, and a date alone
/// (`2024-03-13_…`, seen in vaultwarden's) as that date at 00:00:00. diesel 2.2's
/// versions (`__diesel_schema_migrations` keeps `202401010000000000`: the
/// timestamp and a four-digit hexadecimal subversion) are the timestamp
/// times 100,000 plus the subversion. Any other version is its number.
/// `migcheck import` reads the digits diesel keeps through here too.
///
/// ```
/// use migcheck_core::layout::diesel_version_number;
///
/// assert_eq!(diesel_version_number("20221207110000"), Some(20221207110000));
/// assert_eq!(diesel_version_number("2023100610000"), Some(20231006100000));
/// assert_eq!(diesel_version_number("202303011745356"), Some(20230301174535));
/// assert_eq!(diesel_version_number("00000000000000"), Some(0));
/// assert_eq!(diesel_version_number("20240313"), Some(20240313000000));
/// assert_eq!(diesel_version_number("00000007"), Some(7));
/// assert_eq!(diesel_version_number("202401010000000000"), Some(2024010100000000000));
/// assert_eq!(diesel_version_number("20240101000000000a"), Some(2024010100000000010));
/// ```
pub fn diesel_version_number(digits: &str) -> Option<i64> {
    if digits.len() == 18
        && digits[..14].bytes().all(|b| b.is_ascii_digit())
        && digits[14..].bytes().all(|b| b.is_ascii_hexdigit())
        && is_date(&digits[..8])
    {
        return with_subversion(digits[..14].parse().ok()?, u32::from_str_radix(&digits[14..], 16).ok()?);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
        return None;
    }
    let date_like = digits.len() >= 8 && digits.len() != 14 && is_date(&digits[..8]);
    if date_like {
        let time = &digits[8..];
        let time: String = if time.len() < 6 { format!("{time:0<6}") } else { time[..6].to_owned() };
        return format!("{}{time}", &digits[..8]).parse().ok();
    }
    digits.parse().ok()
}

/// Whether eight digits read as a date (`YYYYMMDD`).
fn is_date(digits: &str) -> bool {
    let (year, month, day) = (&digits[..4], &digits[4..6], &digits[6..8]);
    matches!(year.parse::<u32>(), Ok(1970..=2200))
        && matches!(month.parse::<u32>(), Ok(1..=12))
        && matches!(day.parse::<u32>(), Ok(1..=31))
}

/// Reads a single-file layout's name, `<version>_<description>.sql`; for
/// sql-migrate also `<version>-<description>.sql`, the name its `new` writes.
pub fn single_name(name: &str, layout: Layout) -> Option<(i64, String)> {
    if layout == Layout::SqlMigrate {
        let stem = name.strip_suffix(".sql")?;
        let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
        if let Some(description) = stem[digits..].strip_prefix('-') {
            let version: i64 = stem[..digits].parse().ok().filter(|&v| v > 0)?;
            return (!description.trim().is_empty()).then(|| (version, description.to_owned()));
        }
    }
    crate::name::parse(name)
        .ok()
        .filter(|n| n.kind == crate::name::FileKind::Single)
        .map(|n| (n.version, n.description))
}

/// Reads a refinery/Flyway file name: `V3__add_pets.sql` (up) or `U3__…` (undo).
/// A Flyway version of several parts (`V1_10__…`, `V1.2.3__…`) is read by
/// [`flyway_name`]; this reads whole numbers only (refinery's own names).
pub fn refinery_name(name: &str) -> Option<(i64, String, bool)> {
    let (parts, description, is_up) = flyway_parts(name)?;
    match parts[..] {
        [version] => Some((version, description, is_up)),
        _ => None,
    }
}

/// The parts of a Flyway version in a file name (`V1_10__x.sql`: `[1, 10]`),
/// its description and whether it is an up (`V`) or undo (`U`) file.
fn flyway_parts(name: &str) -> Option<(Vec<i64>, String, bool)> {
    let stem = name.strip_suffix(".sql")?;
    let (is_up, rest) = match stem.as_bytes().first()? {
        b'V' | b'v' => (true, &stem[1..]),
        b'U' | b'u' => (false, &stem[1..]),
        _ => return None,
    };
    let (version, description) = rest.split_once("__")?;
    if description.is_empty() {
        return None;
    }
    let parts = version
        .split(['.', '_'])
        .map(|p| if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) { p.parse().ok() } else { None })
        .collect::<Option<Vec<i64>>>()?;
    Some((parts, description.to_owned(), is_up))
}

/// Whether a Flyway file name's version has several parts (`V1_10__…`,
/// `V1.2__…`): a directory holding one numbers all its versions by
/// [`flyway_version`].
pub fn is_dotted_flyway(name: &str) -> bool {
    flyway_parts(name).is_some_and(|(parts, _, _)| parts.len() > 1)
}

/// The most parts a dotted Flyway version may have, and the bound of each
/// part after the first.
const FLYWAY_PARTS: usize = 4;
const FLYWAY_PART: i64 = 10_000;

/// The number a dotted Flyway version is ordered by: Flyway compares the
/// parts as numbers, one by one, a missing part being 0 (`1.9` < `1.10` <
/// `2`, and `1` = `1.0`). Each part after the first takes four decimal
/// digits: `first × 10¹² + second × 10⁸ + third × 10⁴ + fourth`. `None`
/// when the version does not fit (more than four parts, a later part above
/// 9999, a first part above 9223371).
///
/// ```
/// use migcheck_core::layout::flyway_version;
///
/// assert_eq!(flyway_version(&[1, 9]), Some(1_0009_0000_0000));
/// assert!(flyway_version(&[1, 9]) < flyway_version(&[1, 10]));
/// assert!(flyway_version(&[1, 10]) < flyway_version(&[2]));
/// assert_eq!(flyway_version(&[1]), flyway_version(&[1, 0]));
/// assert_eq!(flyway_version(&[1, 10000]), None);
/// ```
pub fn flyway_version(parts: &[i64]) -> Option<i64> {
    if parts.is_empty() || parts.len() > FLYWAY_PARTS || parts[1..].iter().any(|p| *p >= FLYWAY_PART) {
        return None;
    }
    let mut number: i64 = 0;
    for i in 0..FLYWAY_PARTS {
        number = number.checked_mul(FLYWAY_PART)?.checked_add(parts.get(i).copied().unwrap_or(0))?;
    }
    Some(number)
}

/// The Flyway version text of a number made by [`flyway_version`], with
/// `separator` between parts and trailing zero parts left out (`1_10`).
pub fn flyway_text(version: i64, separator: char) -> String {
    let mut parts = Vec::new();
    let mut rest = version;
    for _ in 1..FLYWAY_PARTS {
        parts.push(rest % FLYWAY_PART);
        rest /= FLYWAY_PART;
    }
    parts.push(rest);
    parts.reverse();
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    parts.iter().map(i64::to_string).collect::<Vec<_>>().join(&separator.to_string())
}

/// Reads a Flyway file name in a directory whose versions are dotted
/// ([`is_dotted_flyway`]): the version numbered by [`flyway_version`];
/// `Err` with what is wrong when the version does not fit.
pub fn flyway_name(name: &str) -> Option<Result<(i64, String, bool), String>> {
    let (parts, description, is_up) = flyway_parts(name)?;
    Some(match flyway_version(&parts) {
        Some(version) => Ok((version, description, is_up)),
        None => Err(format!(
            "its version has parts migcheck cannot number in a directory of dotted versions: at most {FLYWAY_PARTS} \
             parts, the first below 9223372 and the others below {FLYWAY_PART}"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(diesel_name("2017-11-24-215001_create_posts"), Some((20171124215001, "create_posts".into())));
        assert_eq!(diesel_name("00000000000000_diesel_initial_setup"), Some((0, "diesel_initial_setup".into())));
        assert_eq!(diesel_name("2017-99-99-999999_odd_time"), Some((20179999999999, "odd_time".into())));
        assert_eq!(diesel_name("notes"), None);
        // diesel 2.2: a hexadecimal subversion after the time.
        assert_eq!(diesel_name("2024-01-01-000000-0000_a"), Some((2024010100000000000, "a".into())));
        assert_eq!(diesel_name("2024-01-01-000000-0001_b"), Some((2024010100000000001, "b".into())));
        assert_eq!(diesel_name("2024-01-01-000000-00ff_c"), Some((2024010100000000255, "c".into())));
        assert_eq!(diesel_name("2024-01-02-000000-0000_d"), Some((2024010200000000000, "d".into())));
        let mut order: Vec<i64> = ["2024-01-01-000000-000a_x", "2024-01-01-000000-0009_x", "2024-01-01-000001-0000_x"]
            .map(|n| diesel_name(n).unwrap().0)
            .to_vec();
        order.sort();
        assert_eq!(order, [2024010100000000009, 2024010100000000010, 2024010100000100000]);
        assert_eq!(refinery_name("V1__init.sql"), Some((1, "init".into(), true)));
        assert_eq!(refinery_name("V0__zero.sql"), Some((0, "zero".into(), true)));
        assert_eq!(refinery_name("U2__undo_pets.sql"), Some((2, "undo_pets".into(), false)));
        assert_eq!(refinery_name("V1_init.sql"), None);
        assert_eq!(refinery_name("R__repeatable.sql"), None);
        assert_eq!(refinery_name("V1_10__dotted.sql"), None);
        assert!(
            is_dotted_flyway("V1_10__a.sql") && is_dotted_flyway("V1.2.3__a.sql") && !is_dotted_flyway("V3__a.sql")
        );
        assert_eq!(flyway_name("V1_10__a.sql"), Some(Ok((1_0010_0000_0000, "a".into(), true))));
        assert_eq!(flyway_name("U1.10__a.sql"), Some(Ok((1_0010_0000_0000, "a".into(), false))));
        assert!(matches!(flyway_name("V1_2_3_4_5__a.sql"), Some(Err(_))));
        assert_eq!(flyway_text(1_0010_0000_0000, '_'), "1_10");
        assert_eq!(flyway_text(2_0000_0000_0000, '.'), "2");
        assert_eq!(flyway_text(1_0002_0003_0004, '.'), "1.2.3.4");
        let sm = Layout::SqlMigrate;
        assert_eq!(single_name("20240101120000-create_users.sql", sm), Some((20240101120000, "create_users".into())));
        assert_eq!(single_name("3_more.sql", sm), Some((3, "more".into())));
        assert_eq!(single_name("0-zero.sql", sm), None);
        assert_eq!(single_name("7-.sql", sm), None);
        assert_eq!(single_name("20240101120000-create_users.sql", Layout::Goose), None);
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_the_first_marker() {
        let text = "\u{feff}-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n";
        let s = sections(Layout::Dbmate, text).unwrap();
        assert_eq!(&text[s.up.unwrap()], "CREATE TABLE a (x);\n");
        assert_eq!(&text[s.down.unwrap()], "DROP TABLE a;\n");
    }

    #[test]
    fn sections_of_single_file_layouts() {
        let dbmate = "-- migrate:up transaction:false\nCREATE TABLE a (x);\n\n-- migrate:down\nDROP TABLE a;\n";
        let s = sections(Layout::Dbmate, dbmate).unwrap();
        assert_eq!(&dbmate[s.up.clone().unwrap()], "CREATE TABLE a (x);\n\n");
        assert_eq!(&dbmate[s.down.clone().unwrap()], "DROP TABLE a;\n");
        assert!(s.up_no_transaction && !s.down_no_transaction);

        let goose = "-- +goose NO TRANSACTION\n-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE a (x);\n-- +goose StatementEnd\n-- +goose Down\nDROP TABLE a;\n";
        let s = sections(Layout::Goose, goose).unwrap();
        assert!(goose[s.up.clone().unwrap()].contains("CREATE TABLE a"));
        assert!(s.up_no_transaction && s.down_no_transaction);

        let sm = "-- +migrate Down\nDROP TABLE a;\n-- +migrate Up notransaction\nCREATE TABLE a (x);\n";
        let s = sections(Layout::SqlMigrate, sm).unwrap();
        assert_eq!(&sm[s.up.clone().unwrap()], "CREATE TABLE a (x);\n");
        assert_eq!(&sm[s.down.clone().unwrap()], "DROP TABLE a;\n");
        assert!(s.up_no_transaction);

        assert_eq!(sections(Layout::Goose, "CREATE TABLE a (x);").unwrap_err().to_string(), "no `-- +goose Up` line");
        assert!(sections(Layout::Dbmate, "-- migrate:up\n-- migrate:up\n").is_err());
    }

    #[test]
    fn blanking_keeps_positions() {
        let text = "é-- up\nSELECT 1;\n-- down\n";
        let keep = 8..18;
        let blanked = blank_outside(text, &keep);
        assert_eq!(blanked.len(), text.len());
        assert_eq!(&blanked[keep.clone()], &text[keep]);
        assert_eq!(blanked.matches('\n').count(), 3);
    }
}

/// A project's own file names, described by the lock's
/// `layout custom [by-name] <regex>` line: the regex matches a whole file name,
/// with the named groups `version` (its digits make the version),
/// `description` (optional; the name stands for it without one) and
/// `direction` (optional: `up`, `do`, `apply`, `V` or `down`, `undo`,
/// `revert`, `rollback`, `U`, any case; without it every file is an up
/// migration). With `by-name`, files are ordered by their whole names
/// (the direction left out) and numbered 1, 2, 3 in that order, for projects
/// whose names share versions; otherwise they are ordered by version number.
///
/// ```
/// use migcheck_core::layout::CustomLayout;
///
/// let layout = CustomLayout::parse(r"V(?<version>\d+)\.(?<description>\w+)\.(?<direction>up|down)\.sql").unwrap();
/// let name = layout.read("V0001.Initial_Schema.up.sql").unwrap().unwrap();
/// assert_eq!((name.version, name.description.as_str(), name.up), (Some(1), "Initial_Schema", true));
/// assert!(layout.read("notes.sql").unwrap().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomLayout {
    /// The regex, as written in the lock.
    pub pattern: String,
    /// Order by whole name (`by-name`) rather than by version number.
    pub by_name: bool,
    regex: RegexKey,
}

/// The compiled regex, compared by its pattern.
#[derive(Debug, Clone)]
struct RegexKey(regex_lite::Regex);

impl PartialEq for RegexKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for RegexKey {}

/// What a [`CustomLayout`] reads in a file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomName {
    /// The version's digits as a number (`None` in `by-name` order without a
    /// `version` group).
    pub version: Option<i64>,
    /// The description (the `description` group, or the name without its
    /// direction and extension).
    pub description: String,
    /// An up migration (or a down one).
    pub up: bool,
    /// The name without its direction: the up and down files of one
    /// migration share it, and `by-name` order sorts by it.
    pub key: String,
}

impl CustomLayout {
    /// Reads the rest of a `layout custom` line: `[by-name] <regex>`.
    /// `Err` says what is wrong with it.
    pub fn parse(spec: &str) -> Result<CustomLayout, String> {
        let spec = spec.trim();
        let (by_name, pattern) = match spec.strip_prefix("by-name ") {
            Some(rest) => (true, rest.trim()),
            None => (false, spec),
        };
        if pattern.is_empty() {
            return Err("`layout custom` needs a regex for the file names".into());
        }
        let regex = regex_lite::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("the custom layout's regex does not compile: {e}"))?;
        let names: Vec<&str> = regex.capture_names().flatten().collect();
        if let Some(other) = names.iter().find(|n| !matches!(**n, "version" | "description" | "direction")) {
            return Err(format!(
                "the custom layout's regex has a group `{other}`: the named groups are `version`, `description` and `direction`"
            ));
        }
        if !by_name && !names.contains(&"version") {
            return Err("the custom layout's regex needs a `(?<version>…)` group (or `by-name` order)".into());
        }
        Ok(CustomLayout { pattern: pattern.to_owned(), by_name, regex: RegexKey(regex) })
    }

    /// The line's rest as the lock writes it.
    pub fn render(&self) -> String {
        if self.by_name { format!("by-name {}", self.pattern) } else { self.pattern.clone() }
    }

    /// Reads a file name: `Ok(None)` when the regex does not match it,
    /// `Err` when it matches but its version or direction cannot be read.
    pub fn read(&self, name: &str) -> Result<Option<CustomName>, String> {
        let Some(caps) = self.regex.0.captures(name) else { return Ok(None) };
        let version = match caps.name("version") {
            None => None,
            Some(v) => {
                let digits: String = v.as_str().chars().filter(char::is_ascii_digit).collect();
                if digits.is_empty() {
                    return Err(format!("its version `{}` has no digits", v.as_str()));
                }
                Some(digits.parse::<i64>().map_err(|_| format!("its version `{}` is too large", v.as_str()))?)
            }
        };
        let (up, key) = match caps.name("direction") {
            None => (true, name.to_owned()),
            Some(d) => {
                let up = match d.as_str().to_ascii_lowercase().as_str() {
                    "up" | "do" | "apply" | "v" => true,
                    "down" | "undo" | "revert" | "rollback" | "u" => false,
                    other => {
                        return Err(format!(
                            "its direction `{other}` is neither up (`up`, `do`, `apply`) nor down (`down`, `undo`, `revert`, `rollback`)"
                        ));
                    }
                };
                (up, format!("{}{}", &name[..d.start()], &name[d.end()..]))
            }
        };
        // Without a `description` group, the name without its direction
        // and extension describes the migration.
        let description = caps.name("description").map_or_else(
            || {
                let stem = key.strip_suffix(".sql").or_else(|| key.strip_suffix(".SQL")).unwrap_or(&key);
                stem.trim_matches(|c: char| !c.is_alphanumeric()).to_owned()
            },
            |d| d.as_str().to_owned(),
        );
        Ok(Some(CustomName { version, description, up, key }))
    }

    /// A new name made like `template` (a name this layout reads): its
    /// version, description and direction replaced, the rest kept (a
    /// zero-padded version stays as wide). `None` when `template` does not
    /// match, the new name would not read back the same, or a part to
    /// replace has no group in the regex.
    ///
    /// ```
    /// use migcheck_core::layout::CustomLayout;
    ///
    /// let layout = CustomLayout::parse(r"V(?<version>\d+)\.(?<description>\w+)\.(?<direction>up|down)\.sql").unwrap();
    /// let name = layout.name_like("V0001.Initial_Schema.up.sql", 12, "add_pets", false);
    /// assert_eq!(name.as_deref(), Some("V0012.add_pets.down.sql"));
    /// ```
    pub fn name_like(&self, template: &str, version: i64, description: &str, up: bool) -> Option<String> {
        let caps = self.regex.0.captures(template)?;
        let mut parts: Vec<(std::ops::Range<usize>, String)> = Vec::new();
        if let Some(v) = caps.name("version") {
            let old = v.as_str();
            let digits = old.chars().filter(char::is_ascii_digit).count();
            let new = if old.starts_with('0') && old.len() > 1 && old.len() == digits {
                format!("{version:0digits$}")
            } else {
                version.to_string()
            };
            parts.push((v.range(), new));
        }
        // Without a `description` group, names carry none.
        if let Some(d) = caps.name("description") {
            parts.push((d.range(), description.to_owned()));
        }
        match caps.name("direction") {
            Some(d) => parts.push((d.range(), direction_word(d.as_str(), up)?)),
            None if !up => return None,
            None => {}
        }
        parts.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut name = template.to_owned();
        for (range, text) in parts {
            name.replace_range(range, &text);
        }
        let read = self.read(&name).ok()??;
        (read.up == up && (self.by_name || read.version == Some(version))).then_some(name)
    }
}

/// The direction word for `up` in the family and case of `old` (`up` and
/// `down`, `do` and `undo`, `apply` and `revert`, `V` and `U`).
fn direction_word(old: &str, up: bool) -> Option<String> {
    const PAIRS: [(&str, &str); 5] =
        [("up", "down"), ("do", "undo"), ("apply", "revert"), ("apply", "rollback"), ("v", "u")];
    let lower = old.to_ascii_lowercase();
    let (u, d) = PAIRS.iter().find(|(u, d)| *u == lower || *d == lower)?;
    let word = if up { *u } else { *d };
    Some(if old.chars().all(|c| c.is_ascii_uppercase()) {
        word.to_ascii_uppercase()
    } else if old.starts_with(|c: char| c.is_ascii_uppercase()) {
        let mut w = word.to_owned();
        w[..1].make_ascii_uppercase();
        w
    } else {
        word.to_owned()
    })
}
