//! Migration file names: `<version>_<description>.sql`, `.up.sql` and `.down.sql`.
//!
//! The version is a non-negative integer (timestamps from `migcheck new`, or
//! small sequential numbers; sqlx and golang-migrate accept `0_…`, and so does
//! migcheck); order is numeric, never string order. Every `.sql` file
//! in the directory must be a migration name: one that is not is an error, never
//! silently skipped.

use std::fmt;
use std::path::PathBuf;

use crate::model::Layout;

/// Which half of a migration a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `<v>_<d>.up.sql`: the up half of a reversible migration.
    Up,
    /// `<v>_<d>.down.sql`: the down half of a reversible migration.
    Down,
    /// `<v>_<d>.sql`: an irreversible migration.
    Single,
}

/// A parsed migration file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationName {
    /// The version.
    pub version: i64,
    /// The description.
    pub description: String,
    /// Which half (or a single file).
    pub kind: FileKind,
}

/// Why a `.sql` file name is not a migration name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name does not start with a version number.
    NoVersion,
    /// The version does not fit in a signed 64-bit integer.
    VersionTooLarge,
    /// Something other than `_` follows the version.
    NoSeparator,
    /// Nothing follows `<version>_`.
    EmptyDescription,
    /// `.SQL`, `.Sql`, …: the extension must be lower case.
    ExtensionCase,
    /// `1_init_up.sql`: looks like a half of a reversible migration, but would be
    /// read as an irreversible one named `init_up`.
    MisspelledHalf {
        /// The name it should have.
        suggestion: String,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::NoVersion => f.write_str("the name does not start with a version number"),
            NameError::VersionTooLarge => f.write_str("the version does not fit in a 64-bit signed integer"),
            NameError::NoSeparator => f.write_str("the version must be followed by `_`"),
            NameError::EmptyDescription => f.write_str("the description after `_` is empty"),
            NameError::ExtensionCase => f.write_str("the extension must be lower-case `.sql`"),
            NameError::MisspelledHalf { suggestion } => {
                write!(f, "this reads as an irreversible migration; did you mean `{suggestion}`?")
            }
        }
    }
}

/// Whether a file name has a `.sql` extension in any letter case.
pub fn is_sql_file(file_name: &str) -> bool {
    file_name.len() >= 4
        && file_name.is_char_boundary(file_name.len() - 4)
        && file_name[file_name.len() - 4..].eq_ignore_ascii_case(".sql")
}

/// The suffix of a squashed baseline's file: `<version>_<description>.baseline.sql`.
pub const BASELINE_SUFFIX: &str = ".baseline.sql";

/// The suffix of a baseline's down file: `<version>_<description>.baseline.down.sql`.
pub const BASELINE_DOWN_SUFFIX: &str = ".baseline.down.sql";

/// The version and description of a baseline file's name
/// (`<version>_<description>.baseline.sql`, written by `migcheck squash`, or
/// its down, `….baseline.down.sql`, written by hand), in any layout, and
/// whether it is the down; `None` for any other name.
pub fn baseline(file_name: &str) -> Option<(i64, String, bool)> {
    let (stem, down) = match file_name.strip_suffix(BASELINE_DOWN_SUFFIX) {
        Some(stem) => (stem, true),
        None => (file_name.strip_suffix(BASELINE_SUFFIX)?, false),
    };
    let (version, description) = stem.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || description.is_empty() {
        return None;
    }
    Some((version.parse().ok()?, description.to_owned(), down))
}

/// Parses a file name that [`is_sql_file`].
pub fn parse(file_name: &str) -> Result<MigrationName, NameError> {
    let Some(stem) = file_name.strip_suffix(".sql") else {
        return Err(NameError::ExtensionCase);
    };
    let (stem, kind) = if let Some(s) = stem.strip_suffix(".up") {
        (s, FileKind::Up)
    } else if let Some(s) = stem.strip_suffix(".down") {
        (s, FileKind::Down)
    } else {
        (stem, FileKind::Single)
    };
    // A plain loop: thousands of names per build, where build scripts run
    // unoptimised.
    let bytes = stem.as_bytes();
    let mut digits = 0;
    while digits < bytes.len() && b'0' <= bytes[digits] && bytes[digits] <= b'9' {
        digits += 1;
    }
    if digits == 0 {
        return Err(NameError::NoVersion);
    }
    // Up to 18 digits always fit; longer ones may.
    let version: i64 = if digits <= 18 {
        let mut version = 0;
        for &b in &bytes[..digits] {
            version = version * 10 + (b - b'0') as i64;
        }
        version
    } else {
        stem[..digits].parse().map_err(|_| NameError::VersionTooLarge)?
    };
    let Some(description) = stem[digits..].strip_prefix('_') else {
        return Err(NameError::NoSeparator);
    };
    // (Most descriptions start with a letter: no need to trim them.)
    let starts_visible = description.as_bytes().first().is_some_and(|&b| b.is_ascii_graphic());
    if !starts_visible && description.trim().is_empty() {
        return Err(NameError::EmptyDescription);
    }
    if kind == FileKind::Single && (description.ends_with('p') || description.ends_with('n')) {
        for (suffix, half) in [("_up", "up"), ("-up", "up"), ("_down", "down"), ("-down", "down")] {
            if let Some(base) = description.strip_suffix(suffix).filter(|b| !b.is_empty()) {
                return Err(NameError::MisspelledHalf { suggestion: format!("{}_{base}.{half}.sql", &stem[..digits]) });
            }
        }
    }
    Ok(MigrationName { version, description: description.to_owned(), kind })
}

/// One file of a new migration: its path inside the migrations directory
/// and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// The path, relative to the migrations directory.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

/// The files of a new migration in `layout`: the names and, for single-file
/// layouts, the section markers its tool writes. `version` is written as
/// given (`0007`, or a timestamp `20240101120000`, which diesel writes as
/// `2024-01-01-120000`); `down` is `None` for an irreversible migration.
///
/// refinery has no down migrations: there the down is left out (its `U`
/// prefix means something else to refinery).
///
/// ```
/// use migcheck_core::model::Layout;
/// use migcheck_core::name::format;
///
/// let files = format(Layout::Native, "0003", "add_pets", "CREATE TABLE pets (id);\n", Some("DROP TABLE pets;\n"));
/// assert_eq!(files[0].path.to_str(), Some("0003_add_pets.up.sql"));
/// assert_eq!(files[1].path.to_str(), Some("0003_add_pets.down.sql"));
/// let files = format(Layout::Refinery, "3", "add_pets", "CREATE TABLE pets (id);\n", None);
/// assert_eq!(files[0].path.to_str(), Some("V3__add_pets.sql"));
/// ```
pub fn format(layout: Layout, version: &str, description: &str, up: &str, down: Option<&str>) -> Vec<NewFile> {
    let file = |path: String, text: String| NewFile { path: PathBuf::from(path), text };
    let sections = |up_marker: &str, down_marker: &str| {
        let mut text = format!("{up_marker}\n{up}");
        if let Some(down) = down {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("\n{down_marker}\n{down}"));
        }
        text
    };
    match layout {
        // A custom layout's names are made like an existing one
        // (`CustomLayout::name_like`); without one, migcheck's own.
        Layout::Native | Layout::Custom => match down {
            None => vec![file(format!("{version}_{description}.sql"), up.to_owned())],
            Some(down) => vec![
                file(format!("{version}_{description}.up.sql"), up.to_owned()),
                file(format!("{version}_{description}.down.sql"), down.to_owned()),
            ],
        },
        Layout::Diesel => {
            let dir = format!("{}_{description}", diesel_version(version));
            let mut files = vec![file(format!("{dir}/up.sql"), up.to_owned())];
            if let Some(down) = down {
                files.push(file(format!("{dir}/down.sql"), down.to_owned()));
            }
            files
        }
        Layout::Refinery => vec![file(format!("V{version}__{description}.sql"), up.to_owned())],
        Layout::Dbmate => {
            vec![file(format!("{version}_{description}.sql"), sections("-- migrate:up", "-- migrate:down"))]
        }
        Layout::Goose => vec![file(format!("{version}_{description}.sql"), sections("-- +goose Up", "-- +goose Down"))],
        Layout::SqlMigrate => {
            vec![file(format!("{version}-{description}.sql"), sections("-- +migrate Up", "-- +migrate Down"))]
        }
    }
}

/// diesel's way of writing a 14-digit timestamp (`2024-01-01-120000`), and
/// diesel 2.2's of a timestamp with a subversion (the 19 digits of
/// `layout::diesel_version_number`: `2024-01-01-120000-0000`); other
/// versions as they are.
fn diesel_version(version: &str) -> String {
    let digits = version.bytes().all(|b| b.is_ascii_digit());
    let dashed = |t: &str| format!("{}-{}-{}-{}", &t[..4], &t[4..6], &t[6..8], &t[8..14]);
    match version.len() {
        14 if digits => dashed(version),
        19 if digits => match version[14..].parse::<u32>() {
            Ok(sub) if sub <= 0xffff => format!("{}-{sub:04x}", dashed(version)),
            _ => version.to_owned(),
        },
        _ => version.to_owned(),
    }
}

/// The name `name` (a file's, or a diesel directory's) takes when its
/// migration is renumbered to `version` in `layout`: the version is replaced
/// where the layout writes it, zero-padding and the rest kept. `None` when
/// `name` does not start the way the layout's names do.
///
/// ```
/// use migcheck_core::model::Layout;
/// use migcheck_core::name::renumber;
///
/// assert_eq!(renumber(Layout::Native, "0003_c.up.sql", 6).as_deref(), Some("0006_c.up.sql"));
/// assert_eq!(renumber(Layout::Refinery, "V3__c.sql", 6).as_deref(), Some("V6__c.sql"));
/// assert_eq!(
///     renumber(Layout::Diesel, "2024-01-01-120000_c", 20240301090000).as_deref(),
///     Some("2024-03-01-090000_c")
/// );
/// // diesel 2.2's names keep their subversion.
/// assert_eq!(
///     renumber(Layout::Diesel, "2024-01-01-120000-0000_c", 2024030109000000001).as_deref(),
///     Some("2024-03-01-090000-0001_c")
/// );
/// ```
pub fn renumber(layout: Layout, name: &str, version: i64) -> Option<String> {
    let (prefix, rest) = match layout {
        Layout::Refinery => name.split_at_checked(1).filter(|(p, _)| matches!(*p, "V" | "v" | "U" | "u"))?,
        _ => ("", name),
    };
    let digits = match layout {
        // Up to the `_`: diesel 2.2's subversion is hexadecimal.
        Layout::Diesel => rest.bytes().take_while(|b| b.is_ascii_hexdigit() || *b == b'-').count(),
        _ => rest.bytes().take_while(u8::is_ascii_digit).count(),
    };
    if digits == 0 {
        return None;
    }
    let old = &rest[..digits];
    let new = match layout {
        Layout::Diesel if old.matches('-').count() == 4 => diesel_version(&format!("{version:019}")),
        Layout::Diesel if old.contains('-') => diesel_version(&format!("{version:014}")),
        _ if old.starts_with('0') && old.len() > 1 => format!("{version:0width$}", width = old.len()),
        _ => version.to_string(),
    };
    Some(format!("{prefix}{new}{}", &rest[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, version: i64, description: &str, kind: FileKind) {
        assert_eq!(parse(name), Ok(MigrationName { version, description: description.into(), kind }), "{name}");
    }

    #[test]
    fn good_names() {
        ok("20261124093000_create_owners.up.sql", 20261124093000, "create_owners", FileKind::Up);
        ok("20261124093000_create_owners.down.sql", 20261124093000, "create_owners", FileKind::Down);
        ok("0001_init.sql", 1, "init", FileKind::Single);
        ok("9223372036854775807_max.sql", i64::MAX, "max", FileKind::Single);
        ok("999999999999999999_eighteen_nines.sql", 999_999_999_999_999_999, "eighteen_nines", FileKind::Single);
        ok("00000000000000000000042_padded.sql", 42, "padded", FileKind::Single);
        ok("7_\u{3000}wide.sql", 7, "\u{3000}wide", FileKind::Single);
        ok("9_add-smtp-port.sql", 9, "add-smtp-port", FileKind::Single);
        ok("10_Initial_Schema.sql", 10, "Initial_Schema", FileKind::Single);
        ok("3_with space.sql", 3, "with space", FileKind::Single);
        ok("9223372036854775807_max.sql", i64::MAX, "max", FileKind::Single);
    }

    #[test]
    fn bad_names() {
        let cases: &[(&str, NameError)] = &[
            ("init.sql", NameError::NoVersion),
            ("_init.sql", NameError::NoVersion),
            ("V1__init.sql", NameError::NoVersion),
            ("9223372036854775808_big.sql", NameError::VersionTooLarge),
            ("1-init.sql", NameError::NoSeparator),
            ("1.sql", NameError::NoSeparator),
            ("1_.sql", NameError::EmptyDescription),
            ("1_ .up.sql", NameError::EmptyDescription),
            ("1_init.SQL", NameError::ExtensionCase),
            ("1_init_up.sql", NameError::MisspelledHalf { suggestion: "1_init.up.sql".into() }),
            ("1_init-down.sql", NameError::MisspelledHalf { suggestion: "1_init.down.sql".into() }),
        ];
        for (name, expected) in cases {
            assert!(is_sql_file(name), "{name}");
            assert_eq!(parse(name).as_ref(), Err(expected), "{name}");
        }
    }

    #[test]
    fn numeric_order_not_string_order() {
        let mut names = ["10_b.sql", "9_a.sql", "100_c.sql"].map(|n| parse(n).unwrap().version);
        names.sort();
        assert_eq!(names, [9, 10, 100]);
    }

    #[test]
    fn non_sql_files_are_not_migrations() {
        for name in ["README.md", ".gitkeep", "migrations.lock", "sql", "x.sql.bak"] {
            assert!(!is_sql_file(name), "{name}");
        }
        assert!(is_sql_file("x.Sql"));
    }
}
