//! `-- migcheck: <directive>` comments on the first lines of a migration.
//!
//! Only the leading block of comments and blank lines is read, so a directive
//! cannot hide in the middle of a file. An unknown directive is an error: a
//! misspelt `no-transcation` must not silently run the file in a transaction.

use std::ops::Range;

/// What a migration's directives ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Directives {
    /// `-- migcheck: no-transaction`: run the file outside a transaction.
    pub no_transaction: bool,
}

/// A directive comment that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveError {
    /// Byte range of the directive's word in the text.
    pub span: Range<usize>,
    pub directive: String,
}

/// The directives every migration may use.
pub const KNOWN: &[&str] = &["no-transaction"];

/// Reads the directives of `sql`.
pub fn parse(sql: &str) -> Result<Directives, DirectiveError> {
    let mut directives = Directives::default();
    let mut offset = 0;
    for line in sql.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if trimmed.trim_end().is_empty() {
            continue;
        }
        let Some(comment) = trimmed.strip_prefix("--") else {
            break;
        };
        let Some(rest) = comment.trim_start().strip_prefix("migcheck:") else {
            continue;
        };
        for word in rest.split([',', ' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()) {
            match word {
                "no-transaction" => directives.no_transaction = true,
                _ => {
                    let start = line_start + (word.as_ptr() as usize - line.as_ptr() as usize);
                    return Err(DirectiveError { span: start..start + word.len(), directive: word.into() });
                }
            }
        }
    }
    Ok(directives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_leading_comment_block_only() {
        let yes = Directives { no_transaction: true };
        let cases: &[(&str, Directives)] = &[
            ("-- migcheck: no-transaction\nVACUUM;", yes),
            ("\n\n  --migcheck:no-transaction\r\nVACUUM;", yes),
            ("-- a comment\n-- migcheck: no-transaction\n", yes),
            ("SELECT 1;\n-- migcheck: no-transaction\n", Directives::default()),
            ("-- no-transaction\n", Directives::default()),
            ("", Directives::default()),
        ];
        for (sql, expected) in cases {
            assert_eq!(parse(sql).as_ref(), Ok(expected), "{sql:?}");
        }
    }

    #[test]
    fn unknown_directives_are_errors() {
        let sql = "-- header\n-- migcheck: no-transcation\n";
        let err = parse(sql).unwrap_err();
        assert_eq!(err.directive, "no-transcation");
        assert_eq!(&sql[err.span], "no-transcation");
    }
}
