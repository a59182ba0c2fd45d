//! The light SQL lexers and the tokenizer: never panic, and every range they
//! return is in bounds, on character boundaries, and in order.
#![no_main]
use libfuzzer_sys::fuzz_target;
use migcheck_core::lexer;
use migcheck_core::model::Dialect;
use migcheck_core::schema::tokens;

fuzz_target!(|data: &str| {
    let n = lexer::skip_trivia(data);
    assert!(n <= data.len());
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let outline = lexer::outline(data, dialect);
        for r in outline.shell_commands.iter().chain(outline.begin.iter()) {
            assert!(r.end <= data.len() && data.is_char_boundary(r.start) && data.is_char_boundary(r.end));
        }
        if let Some(at) = lexer::unterminated_comment(data, dialect) {
            assert!(data[at..].starts_with("/*"));
        }
    }
    let mut last = 0;
    for r in lexer::postgres_statements(data) {
        assert!(r.start >= last && r.end <= data.len());
        let _ = &data[r.clone()];
        last = r.end;
    }
    let (line, column) = lexer::line_column(data, data.len() / 2);
    assert!(line >= 1 && column >= 1);
    let toks = tokens::tokenize(data);
    for t in &toks {
        let _ = &data[t.span.clone()];
    }
    let once = tokens::normalize(&toks);
    assert_eq!(tokens::normalize_sql(data), once);
});
