//! A light look at SQL text that never splits statements for execution.
//!
//! Execution walks statements with SQLite's own parser (the `exec` module).
//! This module only answers questions that must be settled before anything
//! runs: where the leading whitespace and comments of a statement end, whether a
//! file manages its own transaction (a statement that starts with `BEGIN`), and
//! which lines are sqlite3 shell commands (`.timeout 5000`). It skips strings,
//! quoted identifiers and comments so that semicolons inside them do not count.
//! Trigger bodies need no special case: their statements never start with
//! `BEGIN`, and a shell command can only stand where a statement starts.

use std::ops::Range;

/// Length of the leading whitespace and comments of `sql`.
pub fn skip_trivia(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == 0x0c) {
            i += 1;
        }
        if bytes[i..].starts_with(b"--") {
            i += bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len() - i, |n| n + 1);
        } else if bytes[i..].starts_with(b"/*") {
            i += find(&bytes[i + 2..], b"*/").map_or(bytes.len() - i, |n| n + 4);
        } else {
            return i;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What [`outline`] found in a file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outline {
    /// The first statement that starts with `BEGIN`: the file manages its own
    /// transaction and must not be wrapped in one.
    pub begin: Option<Range<usize>>,
    /// sqlite3 shell commands (`.timeout 5000`), each up to the end of its line.
    pub shell_commands: Vec<Range<usize>>,
    /// Whether the file has any statement at all (not only comments, blanks and `;`).
    pub has_statements: bool,
}

/// Looks over `sql` once; see the module documentation.
pub fn outline(sql: &str) -> Outline {
    let bytes = sql.as_bytes();
    let mut out = Outline::default();
    let mut i = 0;
    while i < bytes.len() {
        i += skip_trivia(&sql[i..]);
        if i >= bytes.len() {
            break;
        }
        match bytes[i] {
            b';' => {
                i += 1;
                continue;
            }
            b'.' => {
                let end = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| i + n);
                let end = if end > i && bytes[end - 1] == b'\r' { end - 1 } else { end };
                out.shell_commands.push(i..end);
                i = end;
                continue;
            }
            _ => {}
        }
        out.has_statements = true;
        let word_len = bytes[i..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let starts_with_begin = bytes[i..i + word_len].eq_ignore_ascii_case(b"BEGIN");
        let start = i;
        i = statement_end(bytes, i);
        if starts_with_begin && out.begin.is_none() {
            out.begin = Some(start..i);
        }
    }
    out
}

/// Index just past the `;` that ends the statement starting at `i`, or the end
/// of the text.
fn statement_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        let close = match bytes[i] {
            b';' => return i + 1,
            b'\'' => b'\'',
            b'"' => b'"',
            b'`' => b'`',
            b'[' => b']',
            b'-' if bytes.get(i + 1) == Some(&b'-') => b'\n',
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += find(&bytes[i + 2..], b"*/").map_or(bytes.len() - i, |n| n + 4);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        // A doubled quote ('it''s') closes and reopens: the loop handles it.
        i += 1 + bytes[i + 1..].iter().position(|&b| b == close).map_or(bytes.len() - i - 1, |n| n + 1);
    }
    bytes.len()
}

/// Byte ranges of the statements of PostgreSQL text, for files that must run
/// one statement at a time outside a transaction (`CREATE INDEX CONCURRENTLY`
/// cannot run in the implicit transaction of a multi-statement query). Skips
/// strings, quoted identifiers, comments and dollar-quoted bodies (`$$ … $$`,
/// `$tag$ … $tag$`). Everything else is run whole by the server, which
/// reports its own positions.
pub fn postgres_statements(sql: &str) -> Vec<Range<usize>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        i += skip_trivia(&sql[i..]);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        loop {
            if i >= bytes.len() {
                break;
            }
            match bytes[i] {
                b';' => {
                    i += 1;
                    break;
                }
                b'$' => {
                    // A dollar quote: `$` tag `$`, the tag letters, digits or `_`.
                    let tag_len =
                        bytes[i + 1..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
                    if bytes.get(i + 1 + tag_len) == Some(&b'$') && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                        let tag = &sql[i..i + tag_len + 2];
                        let body = i + tag.len();
                        i = sql[body..].find(tag).map_or(bytes.len(), |n| body + n + tag.len());
                    } else {
                        i += 1;
                    }
                }
                _ => {
                    let next = statement_end(bytes, i);
                    // statement_end stops after a `;`; stop before a `$` too.
                    let dollar = bytes[i..next].iter().position(|&b| b == b'$').map(|n| i + n);
                    match dollar {
                        Some(d) if d > i && !inside_quotes(bytes, i, d) => i = d,
                        _ => {
                            i = next;
                            if bytes[next - 1] == b';' {
                                break;
                            }
                        }
                    }
                }
            }
        }
        if sql[start..i].trim_end_matches(';').trim().is_empty() {
            continue;
        }
        out.push(start..i);
    }
    out
}

/// Whether `end` falls inside a string, quoted identifier or comment that
/// starts at or after `start` (used to tell a real `$` from a quoted one).
fn inside_quotes(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut i = start;
    while i < end {
        let close = match bytes[i] {
            b'\'' => b'\'',
            b'"' => b'"',
            b'-' if bytes.get(i + 1) == Some(&b'-') => b'\n',
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let close = find(&bytes[i + 2..], b"*/").map_or(bytes.len(), |n| i + n + 4);
                if close > end {
                    return true;
                }
                i = close;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let close = bytes[i + 1..].iter().position(|&b| b == close).map_or(bytes.len(), |n| i + n + 2);
        if close > end {
            return true;
        }
        i = close;
    }
    false
}

/// Where a `/*` comment that is never closed starts. SQLite accepts one at
/// the end of the text, silently ignoring everything after it: a forgotten
/// `*/` drops the rest of the migration.
/// Where PostgreSQL's error position points: `position` counts characters
/// from 1 in the text sent (`sent`, which starts at byte `base` of the
/// file); the byte offset in the file, or `None` when the server gave no
/// position inside `sent`. The checker and the runtime both place
/// PostgreSQL's errors through here.
///
/// ```
/// use migcheck_core::lexer::postgres_position;
///
/// // `é` is two bytes: the 10th character, `+`, starts at byte 10.
/// assert_eq!(postgres_position("SELECT é + x", 100, Some(10)), Some(110));
/// assert_eq!(postgres_position("SELECT 1", 0, None), None);
/// ```
pub fn postgres_position(sent: &str, base: usize, position: Option<usize>) -> Option<usize> {
    let chars = position?;
    sent.char_indices().nth(chars.checked_sub(1)?).map(|(i, _)| base + i)
}

pub fn unterminated_comment(sql: &str) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let close = match bytes[i] {
            b'\'' => b'\'',
            b'"' => b'"',
            b'`' => b'`',
            b'[' => b']',
            b'-' if bytes.get(i + 1) == Some(&b'-') => b'\n',
            b'/' if bytes.get(i + 1) == Some(&b'*') => match find(&bytes[i + 2..], b"*/") {
                Some(n) => {
                    i += n + 4;
                    continue;
                }
                None => return Some(i),
            },
            _ => {
                i += 1;
                continue;
            }
        };
        i += 1 + bytes[i + 1..].iter().position(|&b| b == close).map_or(bytes.len() - i - 1, |n| n + 1);
    }
    None
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The largest char boundary at or below `offset`.
pub fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivia() {
        let cases = [
            ("SELECT 1", 0),
            ("  \n\tSELECT 1", 4),
            ("-- c\nSELECT 1", 5),
            ("/* a; b */ SELECT", 11),
            ("-- only a comment", 17),
            ("/* unterminated", 15),
            ("-- a\r\n-- b\r\n  x", 14),
        ];
        for (sql, expected) in cases {
            assert_eq!(skip_trivia(sql), expected, "{sql:?}");
        }
    }

    #[test]
    fn self_managed_transactions() {
        let cases: &[(&str, bool)] = &[
            ("CREATE TABLE a(x);", false),
            ("PRAGMA foreign_keys=OFF;\nBEGIN;\nCREATE TABLE a(x);\nCOMMIT;", true),
            ("begin transaction; commit", true),
            ("BEGIN IMMEDIATE;", true),
            ("CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (';'); END;", false),
            ("CREATE TRIGGER t AFTER INSERT ON a BEGIN\n UPDATE b SET x = 1;\n DELETE FROM c;\nEND;", false),
            ("INSERT INTO a VALUES ('x; BEGIN; y');", false),
            ("-- BEGIN;\nSELECT 1; /* ; BEGIN */", false),
            ("SELECT \"a;\"; BEGIN;", true),
            ("SELECT [a;b]; SELECT `c;d`;", false),
            ("SELECT beginning FROM t;", false),
        ];
        for (sql, expected) in cases {
            assert_eq!(outline(sql).begin.is_some(), *expected, "{sql:?}");
        }
    }

    #[test]
    fn shell_commands_and_emptiness() {
        let sql = ".timeout 5000\r\nCREATE TABLE a(x);\n.mode csv\n";
        let o = outline(sql);
        assert_eq!(o.shell_commands, vec![0..13, 34..43]);
        assert_eq!(&sql[34..43], ".mode csv");
        assert!(o.has_statements);
        assert!(!outline("").has_statements);
        assert!(!outline("-- nothing\n/* here */ ;; \n").has_statements);
        assert!(outline("SELECT 1").has_statements);
    }

    #[test]
    fn postgres_statements_skip_dollar_quotes() {
        let sql = "CREATE INDEX CONCURRENTLY i ON t (x);\n\
                   CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\
                   CREATE FUNCTION g() RETURNS int AS $body$ BEGIN RETURN 2; END; $body$ LANGUAGE plpgsql;\n\
                   SELECT 'a;$$' , $1::text;  -- c; $$\nSELECT 2";
        let parts: Vec<&str> = postgres_statements(sql).into_iter().map(|r| &sql[r]).collect();
        assert_eq!(parts.len(), 5, "{parts:#?}");
        assert!(parts[1].ends_with("LANGUAGE sql;"), "{}", parts[1]);
        assert!(parts[2].ends_with("LANGUAGE plpgsql;"), "{}", parts[2]);
        assert_eq!(parts[4], "SELECT 2");
        assert!(postgres_statements("-- only\n;;").is_empty());
    }

    #[test]
    fn unterminated_comments() {
        assert_eq!(unterminated_comment("SELECT 1; /* never closed\nCREATE TABLE b (x);"), Some(10));
        assert_eq!(unterminated_comment("SELECT '/*'; -- /*\n/* ok */ SELECT 2;"), None);
        assert_eq!(unterminated_comment("SELECT \"/*\" FROM [/*];"), None);
    }

    #[test]
    fn positions() {
        let text = "ab\nc\u{e9}d\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 6), (2, 3));
        assert_eq!(line_column(text, 5), (2, 2));
        assert_eq!(line_column(text, 100), (3, 1));
    }
}
