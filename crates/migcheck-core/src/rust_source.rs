//! Rust source as migcheck reads it, without compiling it: the values of
//! string literals (plain, raw, byte; escapes undone), and the SQL statements
//! a crate checks, at their `migcheck::sql!`, `migcheck::statement!` and
//! `sqlx::query!`-family call sites (`migcheck queries`, and the base
//! release's statements that `check --base` runs on the new schema).
//!
//! A small tokenizer, not a parser: it skips comments (nested block comments
//! included), tells char literals from lifetimes, and reads a string literal
//! whole, so that text inside comments and strings is never taken for a call.

use std::path::{Path, PathBuf};

/// The value of the string literal whose source text is `literal`
/// (`"a\nb"`, `r#"say "hi""#`, `b"bytes"`), escapes undone; `None` when the
/// text is not one string literal or holds an invalid escape.
///
/// ```
/// use migcheck_core::rust_source::unescape;
/// assert_eq!(unescape(r#""SELECT 1;\n""#).as_deref(), Some("SELECT 1;\n"));
/// assert_eq!(unescape(r##"r#"SELECT "id" FROM t"#"##).as_deref(), Some(r#"SELECT "id" FROM t"#));
/// assert_eq!(unescape(r#""a \
///     b""#).as_deref(), Some("a b"));
/// assert_eq!(unescape("'c'"), None);
/// ```
pub fn unescape(literal: &str) -> Option<String> {
    let text = literal.strip_prefix('b').or_else(|| literal.strip_prefix('c')).unwrap_or(literal);
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw[hashes..].strip_prefix('"')?;
        let body = body.strip_suffix(&"#".repeat(hashes))?.strip_suffix('"')?;
        return Some(body.to_owned());
    }
    let body = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let hex: String = [chars.next()?, chars.next()?].iter().collect();
                out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let mut hex = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        '_' => {}
                        h => hex.push(h),
                    }
                }
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            // A line continuation: the newline and the next line's leading
            // whitespace are not part of the value.
            '\n' | '\r' => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// One token of Rust source, as far as finding calls needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Punct(char),
    /// A string literal's value, and where it starts.
    Str(String, usize, usize),
    /// A number, a char or byte literal, a lifetime: not looked at.
    Other,
}

/// The tokens of `source` with the line and column (1-based, in characters)
/// each starts at; comments and whitespace dropped.
fn tokens(source: &str) -> Vec<(Token, usize, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0, 1, 1);
    // Moves past `n` characters, counting lines.
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    let ident_start = |c: char| c == '_' || c.is_alphabetic();
    let ident_char = |c: char| c == '_' || c.is_alphanumeric();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (start_line, start_col) = (line, col);
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
        } else if c == '/' && next == Some('/') {
            let len = chars[i..].iter().position(|&c| c == '\n').unwrap_or(chars.len() - i);
            advance(&mut i, &mut line, &mut col, len);
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            let mut j = i;
            while j < chars.len() {
                if chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            let len = j.min(chars.len()) - i;
            advance(&mut i, &mut line, &mut col, len);
        } else if let Some(len) = string_len(&chars[i..]) {
            let text: String = chars[i..i + len].iter().collect();
            let token = unescape(&text).map_or(Token::Other, |v| Token::Str(v, start_line, start_col));
            out.push((token, start_line, start_col));
            advance(&mut i, &mut line, &mut col, len);
        } else if c == '\'' {
            // A char literal ('a', '\n', '\'') or a lifetime ('a).
            let len = if next == Some('\\') {
                // Past the escaped character, to the closing quote.
                chars[(i + 3).min(chars.len())..].iter().position(|&c| c == '\'').map_or(chars.len() - i, |p| p + 4)
            } else if chars.get(i + 2) == Some(&'\'') {
                3
            } else {
                1 + chars[i + 1..].iter().take_while(|&&c| ident_char(c)).count()
            };
            out.push((Token::Other, start_line, start_col));
            advance(&mut i, &mut line, &mut col, len);
        } else if ident_start(c) {
            let mut len = chars[i..].iter().take_while(|&&c| ident_char(c)).count();
            let mut name: String = chars[i..i + len].iter().collect();
            // A raw identifier: `r#type`.
            if name == "r" && next == Some('#') && chars.get(i + 2).is_some_and(|&c| ident_start(c)) {
                let rest = chars[i + 2..].iter().take_while(|&&c| ident_char(c)).count();
                name = chars[i + 2..i + 2 + rest].iter().collect();
                len = 2 + rest;
            }
            out.push((Token::Ident(name), start_line, start_col));
            advance(&mut i, &mut line, &mut col, len);
        } else if c.is_ascii_digit() {
            let len = chars[i..].iter().take_while(|&&c| ident_char(c) || c == '.').count();
            out.push((Token::Other, start_line, start_col));
            advance(&mut i, &mut line, &mut col, len.max(1));
        } else {
            out.push((Token::Punct(c), start_line, start_col));
            advance(&mut i, &mut line, &mut col, 1);
        }
    }
    out
}

/// The length in characters of the string literal `chars` starts with
/// (`"…"`, `r#"…"#`, `b"…"`, `br"…"`, `c"…"`), if it starts with one.
fn string_len(chars: &[char]) -> Option<usize> {
    let mut i = 0;
    if matches!(chars.first(), Some('b' | 'c')) {
        i += 1;
    }
    if chars.get(i) == Some(&'r') {
        let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
        let open = i + 1 + hashes;
        if chars.get(open) != Some(&'"') {
            return None;
        }
        let mut j = open + 1;
        while j < chars.len() {
            if chars[j] == '"' && chars[j + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
                return Some(j + 1 + hashes);
            }
            j += 1;
        }
        return Some(chars.len());
    }
    if chars.get(i) != Some(&'"') {
        return None;
    }
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            '"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    Some(chars.len())
}

/// Which macro a statement comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `migcheck::sql!` or `migcheck::statement!`: checked by migcheck.
    Migcheck,
    /// One of sqlx's `query!` family: checked by sqlx against the exposed
    /// database (`Build::expose_database`).
    Sqlx,
}

/// A statement a crate's code checks at compile time, where its call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The source file.
    pub file: PathBuf,
    /// 1-based line and column of the SQL string literal.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The macro's name as written (`query_as`, `sql`).
    pub macro_name: String,
    /// Which family the macro is of.
    pub via: Via,
    /// The statement, escapes undone.
    pub sql: String,
}

/// The macros whose first argument is the SQL.
const SQL_FIRST: &[(&str, Via)] = &[
    ("sql", Via::Migcheck),
    ("statement", Via::Migcheck),
    ("query", Via::Sqlx),
    ("query_scalar", Via::Sqlx),
    ("query_unchecked", Via::Sqlx),
    ("query_scalar_unchecked", Via::Sqlx),
];

/// The macros whose first argument is a type and the second the SQL.
const SQL_SECOND: &[&str] = &["query_as", "query_as_unchecked"];

/// The statements of `source` (the text of `file`), in order: each call of
/// one of the macros, written bare or with its crate's path (`sqlx::query!`),
/// whose SQL is a string literal.
///
/// ```
/// use migcheck_core::rust_source::{calls, Via};
/// let source = r#"
/// // sqlx::query!("SELECT 1") in a comment is not a call
/// let pets = sqlx::query_as!(Pet, "SELECT id, name FROM pets WHERE owner_id = ?", owner);
/// const BY_NAME: &str = migcheck::sql!(r"SELECT id FROM pets WHERE name = :name", name);
/// "#;
/// let found = calls(std::path::Path::new("src/main.rs"), source);
/// assert_eq!(found.len(), 2);
/// assert_eq!((found[0].line, found[0].via, found[0].sql.as_str()), (3, Via::Sqlx, "SELECT id, name FROM pets WHERE owner_id = ?"));
/// assert_eq!((found[1].line, found[1].macro_name.as_str()), (4, "sql"));
/// ```
pub fn calls(file: &Path, source: &str) -> Vec<Call> {
    let tokens = tokens(source);
    let mut out = Vec::new();
    for (i, (token, _, _)) in tokens.iter().enumerate() {
        let Token::Ident(name) = token else { continue };
        let opens = matches!(tokens.get(i + 1), Some((Token::Punct('!'), _, _)))
            && matches!(tokens.get(i + 2), Some((Token::Punct('(' | '[' | '{'), _, _)));
        if !opens {
            continue;
        }
        // A path other than the macro's own crate names another macro.
        let path = match (i.checked_sub(3).map(|j| &tokens[j].0), i.checked_sub(1).map(|j| &tokens[j].0)) {
            (Some(Token::Ident(krate)), Some(Token::Punct(':'))) => Some(krate.as_str()),
            _ => None,
        };
        let (via, argument) = if let Some((_, via)) = SQL_FIRST.iter().find(|(n, _)| n == name) {
            (*via, i + 3)
        } else if SQL_SECOND.contains(&name.as_str()) {
            // Past the type, to the first comma outside brackets.
            let mut depth = 0i32;
            let mut j = i + 3;
            while let Some((t, _, _)) = tokens.get(j) {
                match t {
                    Token::Punct('(' | '[' | '{' | '<') => depth += 1,
                    Token::Punct(')' | ']' | '}' | '>') => depth -= 1,
                    Token::Punct(',') if depth == 0 => break,
                    _ => {}
                }
                if depth < 0 {
                    break;
                }
                j += 1;
            }
            (Via::Sqlx, j + 1)
        } else {
            continue;
        };
        let expected = match via {
            Via::Migcheck => "migcheck",
            Via::Sqlx => "sqlx",
        };
        if path.is_some_and(|p| p != expected) {
            continue;
        }
        if let Some((Token::Str(sql, line, column), _, _)) = tokens.get(argument) {
            out.push(Call {
                file: file.to_owned(),
                line: *line,
                column: *column,
                macro_name: name.clone(),
                via,
                sql: sql.clone(),
            });
        }
    }
    out
}

/// Whether the relative path `path` (`/`-separated) is a Rust source file of
/// the crate's own: not under a `target` directory or a hidden one.
pub fn is_source_path(path: &str) -> bool {
    path.ends_with(".rs") && !path.split('/').any(|part| part == "target" || part.starts_with('.'))
}

/// The statements of every Rust source file under `root` ([`is_source_path`]),
/// files in path order, each [`Call::file`] relative to `root`: what
/// `migcheck queries` lists. Files that cannot be read as UTF-8 text are
/// skipped.
#[cfg(feature = "checker")]
pub fn crate_calls(root: &Path) -> std::io::Result<Vec<Call>> {
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(root).sort_by_file_name().into_iter().filter_entry(|e| {
        e.depth() == 0
            || !(e.file_type().is_dir()
                && (e.file_name() == "target" || e.file_name().to_string_lossy().starts_with('.')))
    });
    for entry in walk {
        let entry = entry.map_err(std::io::Error::other)?;
        let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let shown = relative.to_string_lossy().replace('\\', "/");
        if entry.file_type().is_file() && is_source_path(&shown) {
            files.push((PathBuf::from(shown), entry.path().to_owned()));
        }
    }
    let mut out = Vec::new();
    for (shown, path) in files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        out.extend(calls(&shown, &text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(source: &str) -> Vec<String> {
        calls(Path::new("x.rs"), source).into_iter().map(|c| c.sql).collect()
    }

    #[test]
    fn comments_strings_and_chars_hide_nothing_and_fake_nothing() {
        let source = r###"
            /* sqlx::query!("in a /* nested */ comment") */
            let s = "sqlx::query!(\"in a string\")";
            let r = r#"sqlx::query!("in a raw string")"#;
            let c = '"'; let e = '\''; let l: &'static str = "x";
            let q = sqlx::query!("SELECT 'it''s' AS \"quoted\"");
            let n = sqlx::query!(
                r#"SELECT id AS "id!" FROM pets"#
            );
        "###;
        assert_eq!(sqls(source), ["SELECT 'it''s' AS \"quoted\"", "SELECT id AS \"id!\" FROM pets"]);
    }

    #[test]
    fn other_crates_macros_of_the_same_name_are_not_calls() {
        assert!(
            sqls(r#"diesel::sql!("SELECT 1"); other::query!("SELECT 2"); macro_rules! query { () => {} }"#).is_empty()
        );
        assert_eq!(sqls(r#"use sqlx::query; query!("SELECT 3")"#), ["SELECT 3"]);
    }

    #[test]
    fn query_as_takes_the_sql_after_the_type() {
        assert_eq!(sqls(r#"sqlx::query_as!(Wrapper<Vec<i64>, u8>, "SELECT 4", a)"#), ["SELECT 4"]);
    }

    #[test]
    fn positions_are_the_literal_s_line_and_column() {
        let found = calls(Path::new("x.rs"), "fn f() {\n    let q = sqlx::query!(\"SELECT é\");\n}");
        assert_eq!((found[0].line, found[0].column), (2, 26));
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r#""\x41\u{1F600}\t\"""#).as_deref(), Some("A\u{1F600}\t\""));
        assert_eq!(unescape(r#""\q""#), None);
        assert_eq!(unescape(r#"br"raw""#).as_deref(), Some("raw"));
    }
}
