//! `-- migcheck: <directive>` comments on the first lines of a migration.
//!
//! Only the leading block of comments and blank lines is read, so a directive
//! cannot hide in the middle of a file. An unknown directive is an error: a
//! misspelt `no-transcation` must not silently run the file in a transaction.
//!
//! The directives:
//! - `no-transaction`: run the file outside a transaction;
//! - `allow <code>, …`: the file accepts those findings ([`Allow::CODES`]:
//!   `data-loss` when it loses rows or values on purpose, `data-dependent`
//!   when production cannot hold the rows it fails on, the deployment
//!   hazards); an `allow` that matches no finding is itself a warning.

use std::ops::Range;

use crate::model::Allow;

/// What a migration's directives ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Directives {
    /// `-- migcheck: no-transaction`: run the file outside a transaction.
    pub no_transaction: bool,
    /// The findings the file accepts (`-- migcheck: allow data-loss`).
    pub allow: Allow,
}

/// A directive comment that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveError {
    /// Byte range of the directive's word in the text.
    pub span: Range<usize>,
    pub directive: String,
}

/// The directives every migration may use.
pub const KNOWN: &[&str] = &["no-transaction", "allow <code>, …"];

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
        // `allow` takes the codes after it, up to the next directive.
        let mut allowing = false;
        for word in rest.split([',', ' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()) {
            match word {
                "no-transaction" => {
                    directives.no_transaction = true;
                    allowing = false;
                }
                "allow" => allowing = true,
                code if allowing && directives.allow.insert(code) => {}
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
        let yes = Directives { no_transaction: true, ..Directives::default() };
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
    fn allow_takes_the_codes_after_it() {
        let d = parse("-- migcheck: allow data-loss\n-- migcheck: no-transaction, allow data-dependent\n").unwrap();
        assert!(d.no_transaction && d.allow.allows("data-loss") && d.allow.allows("data-dependent"));
        let d = parse("-- migcheck: allow data-loss data-dependent, table-rewrite\n").unwrap();
        assert_eq!(d.allow.codes().collect::<Vec<_>>(), ["data-loss", "data-dependent", "table-rewrite"]);
        assert!(!d.allow.allows("blocking-lock"));
        // A code without `allow` is not a directive; `allow` of an unknown code neither.
        assert_eq!(parse("-- migcheck: data-loss\n").unwrap_err().directive, "data-loss");
        assert_eq!(parse("-- migcheck: allow sql-error\n").unwrap_err().directive, "sql-error");
    }

    #[test]
    fn unknown_directives_are_errors() {
        let sql = "-- header\n-- migcheck: no-transcation\n";
        let err = parse(sql).unwrap_err();
        assert_eq!(err.directive, "no-transcation");
        assert_eq!(&sql[err.span], "no-transcation");
    }
}
