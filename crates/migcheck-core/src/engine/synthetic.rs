//! What synthetic rows follow on every engine (issue 14): how many each
//! table gets, and the values a CHECK constraint lists for a column. Each
//! engine fills its tables its own way (`sqlite::rows`, `postgres::rows`).

/// Rows generated per table.
pub const ROWS: usize = 5;

/// The values a CHECK constraint allows `column` when it lists them
/// (`CHECK (status IN ('draft', 'sent'))`, PostgreSQL's `status = ANY
/// (ARRAY['draft'::text, 'sent'::text])`): the rows an application writes,
/// used for the column instead of made-up text. Empty when no check lists
/// its values.
pub(crate) fn check_choices<'a>(checks: impl IntoIterator<Item = &'a str>, column: &str) -> Vec<String> {
    let column = column.to_lowercase();
    for check in checks {
        // PostgreSQL's `ARRAY[…]`: brackets are SQLite's quotes to the tokenizer.
        let tokens = crate::schema::tokens::tokenize(&check.replace('[', "(").replace(']', ")"));
        // A column's definition (`status TEXT NOT NULL CHECK (…)`): its CHECK.
        let from = tokens.iter().position(|t| t.is_word("check")).unwrap_or(0);
        let tokens = &tokens[from..];
        let words: Vec<&str> =
            tokens.iter().filter(|t| t.kind == crate::schema::tokens::Kind::Word).map(|t| t.text.as_str()).collect();
        // One column named, compared with a list of strings.
        let lists = words.contains(&"in") || words.contains(&"any");
        let others = words.iter().any(|w| {
            *w != column
                && !["check", "in", "any", "array", "text", "varchar", "character", "varying", "constraint"].contains(w)
        });
        if !lists || !words.contains(&column.as_str()) || others {
            continue;
        }
        let values: Vec<String> = tokens
            .iter()
            .filter(|t| t.kind == crate::schema::tokens::Kind::Str)
            .map(|t| t.text.trim_matches('\'').replace("''", "'"))
            .collect();
        if !values.is_empty() {
            return values;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::check_choices;

    #[test]
    fn checks_that_list_values() {
        assert_eq!(check_choices(["CHECK (status IN ('draft', 'sent'))"], "status"), ["draft", "sent"]);
        assert_eq!(check_choices(["CHECK ((status = ANY (ARRAY['a''b'::text, 'c'::text])))"], "status"), ["a'b", "c"]);
        assert!(check_choices(["CHECK (status IN ('a'))"], "kind").is_empty());
        assert!(check_choices(["CHECK (price > 0 OR status IN ('free'))"], "status").is_empty(), "two columns");
        assert!(check_choices(["CHECK (length(name) > 2)"], "name").is_empty());
        assert_eq!(
            check_choices(["status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid'))"], "status"),
            ["new", "paid"],
            "a column's definition"
        );
    }
}
