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

pub use crate::model::Layout;

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

/// Reads a diesel directory name: `2017-11-24-215001_create_posts`.
pub fn diesel_name(name: &str) -> Option<(i64, String)> {
    // diesel: the version is the name up to the first `_` (the whole name
    // when there is none), its dashes removed.
    let (version, description) = name.split_once('_').unwrap_or((name, name));
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'-') || description.is_empty() {
        return None;
    }
    if !version.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = version.chars().filter(char::is_ascii_digit).collect();
    Some((diesel_version_number(&digits)?, description.to_owned()))
}

/// The number migcheck orders a diesel version by. diesel orders versions as
/// strings; for its timestamps (`YYYYMMDD` and a time) that is numeric order
/// once the time has six digits, so a time written with five or seven
/// (`2023-10-06-10000`, `2023-03-01-1745356`, both seen in real histories)
/// is read as the six-digit time that sorts where it sorts. Any other
/// version is its number. `__diesel_schema_migrations` keeps the digits
/// (`migcheck import` reads them through here too).
///
/// ```
/// use migcheck_core::layout::diesel_version_number;
///
/// assert_eq!(diesel_version_number("20221207110000"), Some(20221207110000));
/// assert_eq!(diesel_version_number("2023100610000"), Some(20231006100000));
/// assert_eq!(diesel_version_number("202303011745356"), Some(20230301174535));
/// assert_eq!(diesel_version_number("00000000000000"), Some(0));
/// ```
pub fn diesel_version_number(digits: &str) -> Option<i64> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
        return None;
    }
    let date_like = digits.len() > 8 && digits.len() != 14 && {
        let (year, month, day) = (&digits[..4], &digits[4..6], &digits[6..8]);
        matches!(year.parse::<u32>(), Ok(1970..=2200))
            && matches!(month.parse::<u32>(), Ok(1..=12))
            && matches!(day.parse::<u32>(), Ok(1..=31))
    };
    if date_like {
        let time = &digits[8..];
        let time: String = if time.len() < 6 { format!("{time:0<6}") } else { time[..6].to_owned() };
        return format!("{}{time}", &digits[..8]).parse().ok();
    }
    digits.parse().ok()
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
pub fn refinery_name(name: &str) -> Option<(i64, String, bool)> {
    let stem = name.strip_suffix(".sql")?;
    let (is_up, rest) = match stem.as_bytes().first()? {
        b'V' | b'v' => (true, &stem[1..]),
        b'U' | b'u' => (false, &stem[1..]),
        _ => return None,
    };
    let (version, description) = rest.split_once("__")?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || description.is_empty() {
        return None;
    }
    Some((version.parse().ok()?, description.to_owned(), is_up))
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
        assert_eq!(refinery_name("V1__init.sql"), Some((1, "init".into(), true)));
        assert_eq!(refinery_name("V0__zero.sql"), Some((0, "zero".into(), true)));
        assert_eq!(refinery_name("U2__undo_pets.sql"), Some((2, "undo_pets".into(), false)));
        assert_eq!(refinery_name("V1_init.sql"), None);
        assert_eq!(refinery_name("R__repeatable.sql"), None);
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
