//! A tokenizer for comparing SQL text semantically: identifiers unquoted and
//! lower-cased (SQLite identifiers are case-insensitive), keywords likewise,
//! whitespace and comments dropped, string literals kept exactly.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A keyword or identifier, quoted or not: its text, unquoted, lower-cased.
    Word,
    /// A string literal, quotes included, as written.
    Str,
    /// A number or blob literal, as written (lower-cased).
    Literal,
    /// An operator or punctuation.
    Punct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// The normalised text.
    pub text: String,
    /// Where it is in the source.
    pub span: Range<usize>,
}

impl Token {
    pub fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text == word
    }

    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }
}

/// Splits `sql` into tokens.
pub fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        i += crate::lexer::skip_trivia(&sql[i..]);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let c = bytes[i];
        let (kind, text, end) = match c {
            b'\'' => {
                let end = quoted_end(bytes, i, b'\'');
                (Kind::Str, sql[start..end].to_owned(), end)
            }
            b'"' | b'`' => {
                let end = quoted_end(bytes, i, c);
                // An unclosed quote runs to the end of the text.
                let inner_end = if end > start + 1 && bytes[end - 1] == c { end - 1 } else { end };
                let inner = &sql[start + 1..inner_end];
                let doubled = if c == b'"' { "\"\"" } else { "``" };
                (Kind::Word, inner.replace(doubled, &doubled[..1]).to_lowercase(), end)
            }
            b'[' => {
                let (inner_end, end) = bytes[i..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or((bytes.len(), bytes.len()), |n| (i + n, i + n + 1));
                (Kind::Word, sql[start + 1..inner_end].to_lowercase(), end)
            }
            b'x' | b'X' if bytes.get(i + 1) == Some(&b'\'') => {
                let end = quoted_end(bytes, i + 1, b'\'');
                (Kind::Literal, sql[start..end].to_lowercase(), end)
            }
            c if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                let mut end = i;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || bytes[end] == b'.'
                        || ((bytes[end] == b'+' || bytes[end] == b'-')
                            && matches!(bytes[end - 1], b'e' | b'E')
                            && !sql[start..end].starts_with("0x")))
                {
                    end += 1;
                }
                (Kind::Literal, sql[start..end].to_lowercase(), end)
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let mut end = i;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || bytes[end] == b'_'
                        || bytes[end] == b'$'
                        || bytes[end] >= 0x80)
                {
                    end += 1;
                }
                (Kind::Word, sql[start..end].to_lowercase(), end)
            }
            _ => {
                let two = sql.get(i..i + 2).unwrap_or("");
                let len = if ["||", "<=", ">=", "<>", "!=", "==", "<<", ">>", "->"].contains(&two) {
                    if sql.get(i..i + 3) == Some("->>") { 3 } else { 2 }
                } else {
                    sql[i..].chars().next().map_or(1, char::len_utf8)
                };
                (Kind::Punct, sql[i..i + len].to_owned(), i + len)
            }
        };
        out.push(Token { kind, text, span: start..end });
        i = end;
    }
    out
}

fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The tokens as one normalised string.
pub fn normalize(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        // Readable spacing: `varchar(255)`, `f(a, b)`, `t.c`; always the same
        // for the same tokens, so comparisons are unaffected.
        let tight = i == 0
            || t.is_punct(")")
            || t.is_punct(",")
            || t.is_punct(".")
            || tokens[i - 1].is_punct("(")
            || tokens[i - 1].is_punct(".")
            || (t.is_punct("(") && tokens[i - 1].kind == Kind::Word);
        if !tight {
            out.push(' ');
        }
        if t.kind == Kind::Word && needs_quotes(&t.text) {
            out.push_str(&crate::lexer::quote_ident(&t.text));
        } else {
            out.push_str(&t.text);
        }
    }
    out
}

/// Normalised text of an SQL fragment.
pub fn normalize_sql(sql: &str) -> String {
    normalize(&tokenize(sql))
}

fn needs_quotes(word: &str) -> bool {
    word.is_empty()
        || !word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        || word.as_bytes()[0].is_ascii_digit()
}

/// The index just past the `)` matching the `(` at `open`.
pub fn matching_paren(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i + 1;
            }
        }
    }
    tokens.len()
}

/// Splits `tokens` at top-level commas.
pub fn split_commas(tokens: &[Token]) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.saturating_sub(1);
        } else if t.is_punct(",") && depth == 0 {
            parts.push(&tokens[start..i]);
            start = i + 1;
        }
    }
    if start < tokens.len() {
        parts.push(&tokens[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_quotes_whitespace_and_comments() {
        let a = normalize_sql(
            "CREATE TABLE \"Owners\" (\n  id INTEGER PRIMARY KEY, -- the id\n  email VARCHAR( 255 ) NOT NULL DEFAULT 'X'\n)",
        );
        let b =
            normalize_sql("create table [owners](id integer primary key,`EMAIL` varchar(255) not null default 'X')");
        assert_eq!(a, b);
        assert_ne!(
            a,
            normalize_sql("create table owners(id integer primary key, email varchar(255) not null default 'x')")
        );
        assert_eq!(normalize_sql("a||b >= 1.5e-3"), "a || b >= 1.5e-3");
        assert_eq!(normalize_sql("VARCHAR ( 255 )"), "varchar(255)");
        assert_eq!(normalize_sql("f( a,b ) + T . c"), "f(a, b) + t.c");
        assert_eq!(normalize_sql("\"two words\""), "\"two words\"");
        assert_eq!(normalize_sql("x'AB' 0x1F"), "x'ab' 0x1f");
        assert_eq!(normalize_sql("'it''s'"), "'it''s'");
    }

    /// Found by `cargo fuzz run sql_text`: an unclosed quoted identifier whose
    /// text ends in a multi-byte character.
    #[test]
    fn unclosed_quotes_at_the_end() {
        for sql in ["last `na\u{e9}", "x \"\u{1f600}", "[\u{e9}", "`", "\"", "["] {
            let t = tokenize(sql);
            assert!(!t.is_empty(), "{sql:?}");
        }
        let crash = "CREATE TABLE own\u{65}/s (\n    id INTEGER PRIMARY KEY,\n  KEY,\n    last_naNNNNme VARCH`AOT NULL,\n    email VARCHAR(255) NOT\u{d6}\u{1ea}\u{b3}L\n);\n";
        tokenize(crash);
        assert_eq!(normalize_sql(crash), normalize(&tokenize(crash)));
    }

    #[test]
    fn parens_and_commas() {
        let t = tokenize("a, f(b, c), (d, e)");
        assert_eq!(split_commas(&t).len(), 3);
        let t = tokenize("(a (b) c) d");
        assert_eq!(matching_paren(&t, 0), 7);
    }
}
