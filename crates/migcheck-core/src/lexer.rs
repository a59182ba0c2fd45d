//! A light look at SQL text that never splits statements for execution on
//! SQLite.
//!
//! Execution on SQLite walks statements with SQLite's own parser (the `exec`
//! module). This module answers questions that must be settled before
//! anything runs: where the leading whitespace and comments of a statement
//! end, whether a file manages its own transaction (a statement of its own
//! that starts with `BEGIN`), and which lines are sqlite3 shell commands
//! (`.timeout 5000`); on PostgreSQL it also splits the statements of a file
//! that runs one statement at a time.
//!
//! Everything quoted is skipped, in the dialect's own quoting, so that a `;`
//! or a `BEGIN` inside it does not count: strings (PostgreSQL's `E'…'` with
//! backslash escapes too), quoted identifiers (SQLite's `"…"`, `` `…` `` and
//! `[…]`; PostgreSQL's `"…"`), comments (nested on PostgreSQL), and
//! PostgreSQL's dollar-quoted bodies (`$$ … $$`, `$tag$ … $tag$`) and
//! SQL-standard bodies (`BEGIN ATOMIC … END`). So the `BEGIN` of a PL/pgSQL
//! function or a `DO` block is not transaction control. Trigger bodies need
//! no special case on SQLite: their statements never start with `BEGIN`, and
//! a shell command can only stand where a statement starts.

use std::ops::Range;

use crate::model::Dialect;

/// `name` as a double-quoted SQL identifier (a `"` in it doubled): the one
/// quoting every engine here reads (SQLite, PostgreSQL; MySQL with
/// `ANSI_QUOTES`). Every identifier migcheck writes into SQL goes through it.
///
/// ```
/// assert_eq!(migcheck_core::lexer::quote_ident(r#"my "pets""#), r#""my ""pets""""#);
/// ```
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Where in `sent` (one statement sent to MySQL or MariaDB) the server's
/// error `message` points, as a byte offset: MySQL gives no position, but a
/// syntax error quotes the text from where it stopped (`near 'FROMM t' at
/// line 2`), and most other errors quote the name they are about (`Unknown
/// column 'emial'`). The runtime and the build-time check place MySQL's
/// errors through here.
///
/// ```
/// use migcheck_core::lexer::mysql_error_offset;
/// let syntax = "You have an error in your SQL syntax; … near 'FROMM pets' at line 2";
/// assert_eq!(mysql_error_offset("SELECT id\nFROMM pets", syntax), Some(10));
/// // The line the server names is searched first.
/// assert_eq!(mysql_error_offset("SELECT a\nFROMM a", "… near 'a' at line 2"), Some(15));
/// assert_eq!(mysql_error_offset("SELECT email, emial FROM t", "Unknown column 'emial' in 'field list'"), Some(14));
/// assert_eq!(mysql_error_offset("SELECT 1", "Lost connection"), None);
/// ```
pub fn mysql_error_offset(sent: &str, message: &str) -> Option<usize> {
    if let Some((_, rest)) = message.split_once(" near '") {
        // The quoted text runs to `' at line N` (of the text sent); it may
        // be cut short.
        let (near, line) = match rest.rsplit_once("' at line ") {
            Some((near, line)) => (near, line.trim().parse::<usize>().unwrap_or(1)),
            None => (rest, 1),
        };
        let line_start = sent.match_indices('\n').nth(line.saturating_sub(2)).map_or(0, |(i, _)| i + 1);
        let line_start = if line <= 1 { 0 } else { line_start };
        if !near.is_empty()
            && let Some(at) = sent[line_start..].find(near).map(|at| line_start + at).or_else(|| sent.find(near))
        {
            return Some(at);
        }
    }
    // The first quoted name the statement holds as a whole word.
    let name = message.split('\'').nth(1)?;
    let name = name.rsplit('.').next().unwrap_or(name);
    let lower = sent.to_lowercase();
    let wanted = name.to_lowercase();
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    if wanted.is_empty() || lower.len() != sent.len() {
        return None;
    }
    lower.match_indices(&wanted).map(|(at, _)| at).find(|&at| {
        !lower[..at].chars().next_back().is_some_and(is_word)
            && !lower[at + wanted.len()..].chars().next().is_some_and(is_word)
    })
}

/// `name` as a backquoted MySQL identifier (a `` ` `` in it doubled): what
/// MySQL reads in its default mode, where `"` quotes a string.
///
/// ```
/// assert_eq!(migcheck_core::lexer::quote_mysql_ident("my `pets`"), "`my ``pets```");
/// ```
pub fn quote_mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

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

/// Whether `b` may continue an unquoted identifier (PostgreSQL's `$` too;
/// any byte of a non-ASCII character).
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Where the string, quoted identifier, comment or dollar-quoted body that
/// starts at byte `i` ends (just past it, or the end of the text when it is
/// never closed); `None` when none starts there.
fn quoted_end(bytes: &[u8], i: usize, dialect: Dialect) -> Option<usize> {
    let pg = dialect == Dialect::Postgres;
    let my = dialect == Dialect::Mysql;
    let to_close =
        |from: usize, close: u8| bytes[from..].iter().position(|&b| b == close).map_or(bytes.len(), |n| from + n + 1);
    match bytes[i] {
        // MySQL's `--` comment needs a space or control character after it
        // (`1--1` is arithmetic); its `#` comment does not.
        b'-' if my && bytes.get(i + 1) == Some(&b'-') => bytes
            .get(i + 2)
            .is_none_or(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            .then(|| to_close(i + 2, b'\n')),
        b'#' if my => Some(to_close(i + 1, b'\n')),
        b'-' if bytes.get(i + 1) == Some(&b'-') => Some(to_close(i + 2, b'\n')),
        b'/' if bytes.get(i + 1) == Some(&b'*') => Some(comment_end(bytes, i, dialect).unwrap_or(bytes.len())),
        // A doubled quote ('it''s') closes and reopens: callers go on from
        // the end, where the next quote opens again.
        // MySQL's strings take backslash escapes (`'it\'s'`).
        b'\'' | b'"' if my => Some(quoted_with_escapes_end(bytes, i + 1, bytes[i])),
        b'\'' | b'"' => Some(to_close(i + 1, bytes[i])),
        b'`' if !pg => Some(to_close(i + 1, b'`')),
        b'[' if !pg && !my => Some(to_close(i + 1, b']')),
        b'E' | b'e' if pg && bytes.get(i + 1) == Some(&b'\'') && (i == 0 || !is_ident_byte(bytes[i - 1])) => {
            Some(escape_string_end(bytes, i + 2))
        }
        b'$' if pg && (i == 0 || !is_ident_byte(bytes[i - 1])) => {
            let tag_len = bytes[i + 1..].iter().take_while(|&&b| is_ident_byte(b) && b != b'$').count();
            let closed = bytes.get(i + 1 + tag_len) == Some(&b'$');
            if !closed || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return None; // `$1`, a parameter
            }
            let tag = &bytes[i..i + tag_len + 2];
            let body = i + tag.len();
            Some(find(&bytes[body..], tag).map_or(bytes.len(), |n| body + n + tag.len()))
        }
        _ => None,
    }
}

/// The end of the `/* … */` comment starting at `i` (on PostgreSQL it may
/// hold comments of its own), or `None` when it is never closed.
fn comment_end(bytes: &[u8], i: usize, dialect: Dialect) -> Option<usize> {
    if dialect != Dialect::Postgres {
        return find(&bytes[i + 2..], b"*/").map(|n| i + n + 4);
    }
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < bytes.len() {
        if bytes[j] == b'/' && bytes[j + 1] == b'*' {
            depth += 1;
            j += 2;
        } else if bytes[j] == b'*' && bytes[j + 1] == b'/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return Some(j);
            }
        } else {
            j += 1;
        }
    }
    None
}

/// The end of a PostgreSQL `E'…'` string whose text starts at `from`:
/// a backslash escapes the next byte, a doubled quote is a quote.
fn escape_string_end(bytes: &[u8], from: usize) -> usize {
    quoted_with_escapes_end(bytes, from, b'\'')
}

/// The end of text quoted by `quote` whose body starts at `from`, where a
/// backslash escapes the next byte and a doubled quote is a quote
/// (PostgreSQL's `E'…'`, MySQL's strings).
fn quoted_with_escapes_end(bytes: &[u8], mut from: usize, quote: u8) -> usize {
    while from < bytes.len() {
        match bytes[from] {
            b'\\' => from += 2,
            b if b == quote && bytes.get(from + 1) == Some(&quote) => from += 2,
            b if b == quote => return from + 1,
            _ => from += 1,
        }
    }
    bytes.len()
}

/// What [`outline`] found in a file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outline {
    /// The first statement that is transaction control (`BEGIN`, and on
    /// PostgreSQL `START TRANSACTION`): the file manages its own
    /// transaction and must not be wrapped in one.
    pub begin: Option<Range<usize>>,
    /// sqlite3 shell commands (`.timeout 5000`), each up to the end of its line.
    pub shell_commands: Vec<Range<usize>>,
    /// Whether the file has any statement at all (not only comments, blanks and `;`).
    pub has_statements: bool,
}

/// Looks over `sql` once, read in `dialect`; see the module documentation.
///
/// ```
/// use migcheck_core::lexer::outline;
/// use migcheck_core::model::Dialect;
///
/// let plpgsql = "CREATE FUNCTION f() RETURNS int AS $$ DECLARE x int; BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;";
/// assert!(outline(plpgsql, Dialect::Postgres).begin.is_none());
/// assert!(outline("BEGIN; CREATE TABLE a (x int); COMMIT;", Dialect::Postgres).begin.is_some());
/// ```
pub fn outline(sql: &str, dialect: Dialect) -> Outline {
    let bytes = sql.as_bytes();
    let mut out = Outline::default();
    let mut i = 0;
    while i < bytes.len() {
        i += skip_trivia_in(&sql[i..], dialect);
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
        let start = i;
        i = statement_end(bytes, i, dialect);
        if out.begin.is_none() && is_transaction_control(&sql[start..i], dialect) {
            out.begin = Some(start..i);
        }
    }
    out
}

/// Whether `sql` holds any statement (not only comments, blanks, `;` and
/// shell commands), in any dialect.
pub fn has_statements(sql: &str) -> bool {
    outline(sql, Dialect::Sqlite).has_statements
}

/// Whether `statement` (starting at its first word) opens a transaction.
fn is_transaction_control(statement: &str, dialect: Dialect) -> bool {
    let mut words = words(statement, dialect);
    match words.next() {
        Some(w) if w.eq_ignore_ascii_case("BEGIN") => true,
        Some(w) if dialect != Dialect::Sqlite && w.eq_ignore_ascii_case("START") => {
            words.next().is_some_and(|w| w.eq_ignore_ascii_case("TRANSACTION"))
        }
        _ => false,
    }
}

/// The leading words of a statement, trivia between them skipped.
fn words(statement: &str, dialect: Dialect) -> impl Iterator<Item = &str> {
    let mut rest = statement;
    std::iter::from_fn(move || {
        rest = &rest[skip_trivia_in(rest, dialect)..];
        let len = rest.bytes().take_while(|b| b.is_ascii_alphabetic() || *b == b'_').count();
        if len == 0 {
            return None;
        }
        let (word, after) = rest.split_at(len);
        rest = after;
        Some(word)
    })
}

/// Index just past the `;` that ends the statement starting at `i`, or the end
/// of the text: quoted text skipped in the dialect's quoting. On PostgreSQL,
/// as psql does, a `;` inside parentheses (a rule's actions) does not end it,
/// nor one inside the `BEGIN ATOMIC … END` body of a `CREATE [OR REPLACE]
/// FUNCTION | PROCEDURE` (where a `CASE` also closes with `END`).
fn statement_end(bytes: &[u8], mut i: usize, dialect: Dialect) -> usize {
    if dialect == Dialect::Mysql {
        return mysql_statement_end(bytes, i);
    }
    let pg = dialect == Dialect::Postgres;
    let mut words = 0usize;
    let mut routine = [false; 2]; // CREATE seen first; FUNCTION/PROCEDURE next
    let mut depth = 0usize;
    let mut parens = 0usize;
    while i < bytes.len() {
        if let Some(end) = quoted_end(bytes, i, dialect) {
            i = end;
            continue;
        }
        let b = bytes[i];
        if b == b';' {
            if depth == 0 && parens == 0 {
                return i + 1;
            }
            i += 1;
        } else if pg && b == b'(' {
            parens += 1;
            i += 1;
        } else if pg && b == b')' {
            parens = parens.saturating_sub(1);
            i += 1;
        } else if pg && (b.is_ascii_alphabetic() || b == b'_' || b >= 0x80) && (i == 0 || !is_ident_byte(bytes[i - 1]))
        {
            let len = bytes[i..].iter().take_while(|&&b| is_ident_byte(b)).count();
            let word = &bytes[i..i + len];
            let is = |w: &[u8]| word.eq_ignore_ascii_case(w);
            match words {
                0 => routine[0] = is(b"CREATE"),
                1 | 3 if routine[0] && (is(b"FUNCTION") || is(b"PROCEDURE")) => routine[1] = true,
                1 if !is(b"OR") => routine[0] = false,
                2 if !routine[1] && !is(b"REPLACE") => routine[0] = false,
                _ => {}
            }
            words += 1;
            if routine[1] && parens == 0 {
                if is(b"BEGIN") || (is(b"CASE") && depth > 0) {
                    depth += 1;
                } else if is(b"END") {
                    depth = depth.saturating_sub(1);
                }
            }
            i += len;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// [`statement_end`] for MySQL, as its client splits a file: a `CREATE …
/// PROCEDURE | FUNCTION | TRIGGER | EVENT` holds a compound body whose `;`s
/// do not end it. Inside it `BEGIN`, `CASE`, `LOOP`, `WHILE`, `REPEAT` and
/// an `IF` that starts a statement open a block that `END` closes (`END IF`,
/// `END LOOP`: one closer).
fn mysql_statement_end(bytes: &[u8], mut i: usize) -> usize {
    let mut words = 0usize;
    let mut create = false;
    let mut routine = false;
    let mut depth = 0usize;
    // The last thing read may be followed by a statement (`;`, `BEGIN`,
    // `THEN`, a label's `:`), and the word after `END` belongs to it.
    let mut at_start = false;
    let mut after_end = false;
    while i < bytes.len() {
        if let Some(end) = quoted_end(bytes, i, Dialect::Mysql) {
            i = end;
            continue;
        }
        let b = bytes[i];
        if b == b';' {
            if depth == 0 {
                return i + 1;
            }
            (at_start, after_end) = (true, false);
            i += 1;
        } else if (b.is_ascii_alphabetic() || b == b'_' || b >= 0x80) && (i == 0 || !is_ident_byte(bytes[i - 1])) {
            let len = bytes[i..].iter().take_while(|&&b| is_ident_byte(b)).count();
            let word = &bytes[i..i + len];
            let is = |w: &[u8]| word.eq_ignore_ascii_case(w);
            if words == 0 {
                create = is(b"CREATE");
            } else if create && !routine && [&b"PROCEDURE"[..], b"FUNCTION", b"TRIGGER", b"EVENT"].iter().any(|w| is(w))
            {
                routine = true;
            }
            words += 1;
            let closes_block = after_end && [&b"IF"[..], b"CASE", b"LOOP", b"WHILE", b"REPEAT"].iter().any(|w| is(w));
            after_end = false;
            if routine && !closes_block {
                let opens = is(b"BEGIN")
                    || (depth > 0 && [&b"CASE"[..], b"LOOP", b"WHILE", b"REPEAT"].iter().any(|w| is(w)))
                    || (depth > 0 && at_start && is(b"IF"));
                if opens {
                    depth += 1;
                } else if depth > 0 && is(b"END") {
                    depth -= 1;
                    after_end = true;
                }
            }
            at_start = [&b"BEGIN"[..], b"THEN", b"ELSE", b"DO", b"LOOP", b"REPEAT"].iter().any(|w| is(w));
            i += len;
        } else {
            if !b.is_ascii_whitespace() {
                at_start = b == b':';
                after_end = false;
            }
            i += 1;
        }
    }
    bytes.len()
}

/// Length of the leading whitespace and comments of `sql` in `dialect`
/// (PostgreSQL's comments nest).
fn skip_trivia_in(sql: &str, dialect: Dialect) -> usize {
    let bytes = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == 0x0c) {
            i += 1;
        }
        let my = dialect == Dialect::Mysql;
        // MySQL runs what `/*! … */` holds (mysqldump's `/*!40101 SET … */`):
        // a statement, not a comment.
        let executable = my && (bytes[i..].starts_with(b"/*!") || bytes[i..].starts_with(b"/*M!"));
        let comment = bytes[i..].starts_with(b"--")
            || (bytes[i..].starts_with(b"/*") && !executable)
            || (my && bytes.get(i) == Some(&b'#'));
        if !comment {
            return i;
        }
        match quoted_end(bytes, i, dialect) {
            Some(end) => i = end,
            None => return i,
        }
    }
}

/// Byte ranges of the statements of `sql` read in `dialect`, each from its
/// first word to just past its `;` (or the end of the text); empty
/// statements left out.
///
/// ```
/// use migcheck_core::lexer::statements;
/// use migcheck_core::model::Dialect;
///
/// let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; SELECT ';';";
/// let parts: Vec<&str> = statements(sql, Dialect::Postgres).into_iter().map(|r| &sql[r]).collect();
/// assert_eq!(parts, ["CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;", "SELECT ';';"]);
/// ```
pub fn statements(sql: &str, dialect: Dialect) -> Vec<Range<usize>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        i += skip_trivia_in(&sql[i..], dialect);
        if i >= bytes.len() {
            break;
        }
        if bytes[i] == b';' {
            i += 1;
            continue;
        }
        let start = i;
        i = statement_end(bytes, i, dialect);
        out.push(start..i);
    }
    out
}

/// Byte ranges of the statements of PostgreSQL text, for files that must run
/// one statement at a time outside a transaction (`CREATE INDEX CONCURRENTLY`
/// cannot run in the implicit transaction of a multi-statement query): the
/// [`statements`] of the PostgreSQL dialect. Everything else is run whole by
/// the server, which reports its own positions.
pub fn postgres_statements(sql: &str) -> Vec<Range<usize>> {
    statements(sql, Dialect::Postgres)
}

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

/// Where a `/*` comment that is never closed starts. SQLite accepts one at
/// the end of the text, silently ignoring everything after it: a forgotten
/// `*/` drops the rest of the migration.
pub fn unterminated_comment(sql: &str, dialect: Dialect) -> Option<usize> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            match comment_end(bytes, i, dialect) {
                Some(end) => i = end,
                None => return Some(i),
            }
            continue;
        }
        match quoted_end(bytes, i, dialect) {
            Some(end) => i = end,
            None => i += 1,
        }
    }
    None
}

/// The name of the index a `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT
/// EXISTS] name ON …` statement creates, unquoted and without its schema;
/// `None` for any other statement, or an index left for PostgreSQL to name.
///
/// ```
/// use migcheck_core::lexer::created_index;
/// assert_eq!(created_index("-- c\ncreate unique index concurrently if not exists \"Ix\" on t (a)"), Some("Ix".into()));
/// assert_eq!(created_index("CREATE INDEX public.ix ON t (a)"), Some("ix".into()));
/// assert_eq!(created_index("CREATE INDEX ON t (a)"), None);
/// ```
pub fn created_index(statement: &str) -> Option<String> {
    let mut rest = &statement[skip_trivia(statement)..];
    let word = |rest: &mut &str| -> Option<String> {
        let text = rest.trim_start();
        let end = if let Some(quoted) = text.strip_prefix('"') {
            // A quoted name, `""` standing for one quote.
            let mut i = 0;
            let bytes = quoted.as_bytes();
            loop {
                match bytes.get(i) {
                    None => return None,
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => break i + 2,
                    Some(_) => i += 1,
                }
            }
        } else {
            text.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(text.len())
        };
        let (token, after) = text.split_at(end);
        *rest = after;
        (!token.is_empty()).then(|| token.to_owned())
    };
    let keyword = |token: &Option<String>, k: &str| token.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(k));
    if !keyword(&word(&mut rest), "create") {
        return None;
    }
    let mut token = word(&mut rest);
    if keyword(&token, "unique") {
        token = word(&mut rest);
    }
    if !keyword(&token, "index") {
        return None;
    }
    token = word(&mut rest);
    if keyword(&token, "concurrently") {
        token = word(&mut rest);
    }
    if keyword(&token, "if") {
        let (not, exists) = (word(&mut rest), word(&mut rest));
        if !keyword(&not, "not") || !keyword(&exists, "exists") {
            return None;
        }
        token = word(&mut rest);
    }
    let name = token?;
    if keyword(&Some(name.clone()), "on") {
        return None;
    }
    // The last part of `schema.name`, unquoted.
    let last = match name.rfind("\".") {
        Some(_) if name.ends_with('"') => {
            let start = name[..name.len() - 1].rfind("\"").map_or(0, |i| i + 1);
            name[start..name.len() - 1].to_owned()
        }
        _ if name.ends_with('"') => name.trim_start_matches(|c| c != '"').trim_matches('"').to_owned(),
        _ => name.rsplit('.').next().unwrap_or(&name).to_lowercase(),
    };
    Some(last.replace("\"\"", "\""))
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
    fn mysql_statements_are_split_as_its_client_splits_them() {
        let parts = |sql: &'static str| -> Vec<&'static str> {
            statements(sql, Dialect::Mysql).into_iter().map(|r| &sql[r]).collect()
        };
        assert_eq!(
            parts(
                "# a comment; still\nCREATE TABLE `a;b` (x TEXT DEFAULT 'it\\'s; fine');\n-- another; comment\nSELECT 1--1;\n"
            ),
            ["CREATE TABLE `a;b` (x TEXT DEFAULT 'it\\'s; fine');", "SELECT 1--1;"]
        );
        let routine = "CREATE DEFINER=`root`@`%` PROCEDURE p(n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  \
                       lbl: WHILE i < n DO\n    IF (i > 2) THEN SET i = i + 1; ELSE SET i = IF(i > 1, i + 2, i + 1); END IF;\n  \
                       END WHILE lbl;\n  SELECT CASE WHEN i > 0 THEN 'a;' ELSE 'b' END;\n  DROP TABLE IF EXISTS t;\nEND;";
        assert_eq!(parts(Box::leak(format!("{routine}\nSELECT 2;").into_boxed_str())), [routine, "SELECT 2;"]);
        let trigger = "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 'y';";
        assert_eq!(parts(Box::leak(format!("{trigger} SELECT 3;").into_boxed_str())), [trigger, "SELECT 3;"]);
        // mysqldump's executable comments are statements.
        assert_eq!(
            parts("/*!40101 SET NAMES utf8mb4 */;\n/* a comment */ SELECT 4;"),
            ["/*!40101 SET NAMES utf8mb4 */;", "SELECT 4;"]
        );
    }

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
            assert_eq!(outline(sql, Dialect::Sqlite).begin.is_some(), *expected, "{sql:?}");
        }
    }

    #[test]
    fn postgres_bodies_are_not_transaction_control() {
        let cases: &[(&str, bool)] = &[
            ("CREATE FUNCTION f() RETURNS int AS $$ DECLARE x int; BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;", false),
            (
                "CREATE FUNCTION f() RETURNS trigger AS $body$\nBEGIN\n  RETURN NEW;\nEND;\n$body$ LANGUAGE plpgsql;",
                false,
            ),
            ("DO $$ BEGIN PERFORM 1; END $$;\nLOCK TABLE t;", false),
            ("DO $a$ BEGIN EXECUTE $b$ BEGIN; $b$; END $a$;", false),
            ("CREATE FUNCTION f() RETURNS int AS ' BEGIN RETURN 1; END; ' LANGUAGE plpgsql;", false),
            ("CREATE FUNCTION f() RETURNS text AS E' BEGIN RETURN \\'x\\'; END; ' LANGUAGE plpgsql;", false),
            ("SELECT E'\\'; BEGIN; \\'';", false),
            ("SELECT \"x;\nBEGIN\";", false),
            ("/* a /* nested; */ BEGIN; */ SELECT 1;", false),
            ("-- BEGIN;\nSELECT 1;", false),
            (
                "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC\n  INSERT INTO t VALUES (1);\n  SELECT CASE WHEN true THEN 1 END;\nEND;",
                false,
            ),
            ("CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO a VALUES (1); BEGIN);", false),
            ("SELECT a$b$c FROM t; SELECT 1", false),
            ("BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;", true),
            (
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\nbegin isolation level serializable;",
                true,
            ),
            ("START TRANSACTION; SELECT 1; COMMIT;", true),
            ("SELECT 1; START TRANSACTION;", true),
        ];
        for (sql, expected) in cases {
            assert_eq!(outline(sql, Dialect::Postgres).begin.is_some(), *expected, "{sql:?}");
        }
        // SQLite has no dollar quotes or `START TRANSACTION`.
        assert!(outline("START TRANSACTION;", Dialect::Sqlite).begin.is_none());
    }

    #[test]
    fn shell_commands_and_emptiness() {
        let sql = ".timeout 5000\r\nCREATE TABLE a(x);\n.mode csv\n";
        let o = outline(sql, Dialect::Sqlite);
        assert_eq!(o.shell_commands, vec![0..13, 34..43]);
        assert_eq!(&sql[34..43], ".mode csv");
        assert!(o.has_statements);
        assert!(!has_statements(""));
        assert!(!has_statements("-- nothing\n/* here */ ;; \n"));
        assert!(has_statements("SELECT 1"));
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
        let sqlite = |sql| unterminated_comment(sql, Dialect::Sqlite);
        assert_eq!(sqlite("SELECT 1; /* never closed\nCREATE TABLE b (x);"), Some(10));
        assert_eq!(sqlite("SELECT '/*'; -- /*\n/* ok */ SELECT 2;"), None);
        assert_eq!(sqlite("SELECT \"/*\" FROM [/*];"), None);
        let pg = |sql| unterminated_comment(sql, Dialect::Postgres);
        assert_eq!(pg("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 /* $$ LANGUAGE sql;"), None);
        assert_eq!(pg("SELECT E'\\' /*';"), None);
        assert_eq!(pg("/* a /* b */ still open"), Some(0));
        assert_eq!(pg("/* a /* b */ */ SELECT 1"), None);
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

/// The PostgreSQL reading against its own statement splitting: random files
/// made of statements whose quoted parts hold `;`, `BEGIN` and each other's
/// closing marks split back into exactly those statements, and a file is
/// transaction control exactly when one of its statements starts with it.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Pieces that may stand inside a statement (never first): each holds
    /// something that would end a statement or open a transaction if it were
    /// not quoted or nested.
    const INNER: &[&str] = &[
        "x",
        "t.a",
        "42",
        "$1",
        "a$b$c",
        "'it''s; BEGIN;'",
        "E'\\'; BEGIN; \\\\'",
        "e'back\\\\slash;'",
        "U&'d\\0061ta;'",
        "\"quoted;BEGIN\"",
        "\"dq\"\"x;\"",
        "$$ DECLARE n int; BEGIN n := 1; END; $$",
        "$body$ BEGIN RETURN $$;$$; END; $body$",
        "$a$ $b$ ; $b$ BEGIN; $a$",
        "/* c; BEGIN; /* nested; */ still; */",
        "-- line; BEGIN;\n",
        "(INSERT INTO a VALUES (1); BEGIN)",
        "CASE WHEN a THEN 1 ELSE 2 END",
        "begin",
        "array[1, 2]",
        "'[;' ",
    ];

    /// First words: transaction control or not.
    const HEADS: &[(&str, bool)] = &[
        ("SELECT", false),
        ("CREATE FUNCTION f() RETURNS int AS", false),
        (
            "CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN b THEN 1 END; END",
            false,
        ),
        ("create function f() returns int language sql begin atomic select 1; end", false),
        ("DO", false),
        ("INSERT INTO t VALUES", false),
        ("LOCK TABLE t;--", false),
        ("COMMIT", false),
        ("BEGIN", true),
        ("begin transaction", true),
        ("START TRANSACTION", true),
        ("start", false),
        ("beginning", false),
    ];

    /// Between statements: nothing, blanks, comments, stray `;`.
    const GAPS: &[&str] = &["", "\n", "  ", "\n-- note; BEGIN;\n", "/* BEGIN; */ ", ";\n", "\n\n/* a /* b */ c */\n"];

    fn statement() -> impl Strategy<Value = (String, bool)> {
        (0..HEADS.len(), proptest::collection::vec(0..INNER.len(), 0..6)).prop_map(|(head, inner)| {
            let (word, begins) = HEADS[head];
            // A head that ends with a line comment ("LOCK TABLE t;--") is a
            // statement of its own; keep the property simple and skip it.
            let word = word.trim_end_matches(";--");
            let mut text = word.to_owned();
            for i in inner {
                // A bare `begin` in a routine's head opens a body that never
                // closes (as in psql): only other statements get one.
                if INNER[i] == "begin" && word.starts_with(['C', 'c']) {
                    continue;
                }
                text.push(' ');
                text.push_str(INNER[i]);
            }
            if text.ends_with('\n') {
                text.push(' ');
            }
            text.push(';');
            (text, begins)
        })
    }

    proptest! {
        #[test]
        fn split_and_transaction_control_agree(
            parts in proptest::collection::vec((statement(), 0..GAPS.len()), 1..8),
            last_without_semicolon in any::<bool>(),
        ) {
            let mut sql = String::new();
            let mut expected = Vec::new();
            let mut first_begin = None;
            let n = parts.len();
            for (k, ((text, begins), gap)) in parts.into_iter().enumerate() {
                sql.push_str(GAPS[gap]);
                if !sql.is_empty() && !sql.ends_with(char::is_whitespace) {
                    sql.push(' ');
                }
                let text = if k + 1 == n && last_without_semicolon { text.trim_end_matches(';').to_owned() } else { text };
                let start = sql.len();
                sql.push_str(&text);
                if begins && first_begin.is_none() {
                    first_begin = Some(start..sql.len());
                }
                expected.push(text);
            }
            let got: Vec<&str> = statements(&sql, Dialect::Postgres).into_iter().map(|r| &sql[r]).collect();
            prop_assert_eq!(&got, &expected, "{}", sql);
            let found = outline(&sql, Dialect::Postgres);
            prop_assert_eq!(found.begin, first_begin, "{}", sql);
            prop_assert!(found.has_statements);
            prop_assert_eq!(unterminated_comment(&sql, Dialect::Postgres), None, "{}", sql);
        }
    }
}
