//! `sql!` and `statement!`: one statement of the application's, prepared at
//! compile time on the database the migrations make, which the build script
//! keeps and names in `MIGCHECK_DATABASE_URL` (`Build::expose_database`).
//!
//! SQLite: the statement is prepared on `head.sqlite`, opened read-only once
//! per compilation; PostgreSQL: parsed and described by the server (the
//! extended protocol's Parse and Describe, nothing run).

use std::cell::RefCell;
use std::collections::HashMap;

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

use migcheck_core::engine::postgres::wire::{Client, PgError, PgUrl};
use migcheck_core::rust_source::unescape;

/// What the call says of the statement's parameters, after its SQL.
enum Expected {
    /// `sql!("… ?1 … ?2", 2)`: how many.
    Count(usize, Span),
    /// `sql!("… :owner …", owner)`: their names.
    Names(Vec<(String, Span)>),
}

struct Call {
    literal: Literal,
    sql: String,
    expected: Option<Expected>,
}

/// What the database knows of a statement.
struct Prepared {
    columns: Vec<String>,
    /// Names as the statement writes them (`:owner`, `?1`, `$1`).
    parameters: Vec<String>,
}

type Failure = (Span, String);

const USAGE: &str = "expected a string literal, then optionally the parameters the call binds: \
                     `sql!(\"SELECT … WHERE owner_id = :owner\", owner)` or `sql!(\"… ?1 …\", 1)`";

/// `sql!` (`info` false: the literal) or `statement!` (`info` true: a
/// `migcheck::Statement`).
pub(crate) fn expand(input: TokenStream, info: bool) -> TokenStream {
    let name = if info { "migcheck::statement!" } else { "migcheck::sql!" };
    let result = parse(input).and_then(|call| {
        let prepared = prepare(&call)?;
        check_parameters(&call, &prepared)?;
        Ok((call, prepared))
    });
    match result {
        Ok((call, _)) if !info => TokenStream::from(TokenTree::Literal(call.literal)),
        Ok((call, prepared)) => statement(&call, &prepared),
        Err((span, message)) => error_at(span, &message.replacen("migcheck::sql!", name, 1)),
    }
}

fn parse(input: TokenStream) -> Result<Call, Failure> {
    let mut tokens = input.into_iter().peekable();
    let literal = match tokens.next() {
        Some(TokenTree::Literal(lit)) => lit,
        // A literal passed through another macro arrives wrapped in a group.
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::None => {
            match g.stream().into_iter().collect::<Vec<_>>().as_slice() {
                [TokenTree::Literal(lit)] => lit.clone(),
                _ => return Err((g.span(), USAGE.into())),
            }
        }
        Some(other) => return Err((other.span(), USAGE.into())),
        None => return Err((Span::call_site(), USAGE.into())),
    };
    let sql = unescape(&literal.to_string()).ok_or_else(|| (literal.span(), USAGE.to_owned()))?;
    let mut count = None;
    let mut names = Vec::new();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == ',' => {}
            other => return Err((other.span(), USAGE.into())),
        }
        match tokens.next() {
            None => break,
            Some(TokenTree::Ident(name)) if count.is_none() => names.push((name.to_string(), name.span())),
            Some(TokenTree::Literal(n)) if names.is_empty() && count.is_none() => {
                let value = n.to_string().parse::<usize>().map_err(|_| (n.span(), USAGE.to_owned()))?;
                count = Some((value, n.span()));
            }
            Some(other) => return Err((other.span(), USAGE.into())),
        }
    }
    let expected = match (count, names.is_empty()) {
        (Some((n, span)), _) => Some(Expected::Count(n, span)),
        (None, false) => Some(Expected::Names(names)),
        (None, true) => None,
    };
    Ok(Call { literal, sql, expected })
}

thread_local! {
    /// The databases opened by this compilation, by URL: opened once.
    static OPEN: RefCell<HashMap<String, Database>> = RefCell::new(HashMap::new());
}

enum Database {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Client>),
}

const NO_DATABASE: &str = "migcheck::sql! checks the statement against the database the migrations make, \
                           which the build script keeps: call `.expose_database()` on `migcheck_build::Build` \
                           in build.rs (MIGCHECK_DATABASE_URL is not set)";

fn prepare(call: &Call) -> Result<Prepared, Failure> {
    let span = call.literal.span();
    #[allow(clippy::disallowed_methods)] // set by the build script for this compilation
    let url = std::env::var("MIGCHECK_DATABASE_URL").map_err(|_| (span, NO_DATABASE.to_owned()))?;
    OPEN.with(|open| {
        let mut open = open.borrow_mut();
        if !open.contains_key(&url) {
            let db = connect(&url).map_err(|e| (span, format!("migcheck::sql!: cannot open {url}: {e}")))?;
            open.insert(url.clone(), db);
        }
        let db = open.get_mut(&url).expect("opened above");
        match db {
            Database::Sqlite(conn) => prepare_sqlite(conn, &call.sql),
            Database::Postgres(client) => prepare_postgres(client, &call.sql),
        }
        .map_err(|(message, offset)| {
            let offset = offset.or_else(|| named_in(&call.sql, &message));
            (span, rejected(&call.sql, &message, offset))
        })
    })
}

fn connect(url: &str) -> Result<Database, String> {
    if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let path = percent_decode(rest.split('?').next().unwrap_or_default());
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| e.to_string())?;
        return Ok(Database::Sqlite(conn));
    }
    let url = PgUrl::parse(url).map_err(|e| e.to_string())?;
    Ok(Database::Postgres(Box::new(Client::connect(&url).map_err(|e| e.to_string())?)))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a statement did not prepare, and the byte offset in it where known.
type Rejection = (String, Option<usize>);

fn prepare_sqlite(conn: &rusqlite::Connection, sql: &str) -> Result<Prepared, Rejection> {
    let stmt = conn.prepare(sql).map_err(|e| match e {
        rusqlite::Error::SqlInputError { msg, offset, .. } => (msg, usize::try_from(offset).ok()),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => (msg, None),
        rusqlite::Error::MultipleStatement => ("more than one statement: give each its own sql!".into(), None),
        other => (other.to_string(), None),
    })?;
    let columns = stmt.column_names().map(str::to_owned).collect();
    let parameters = (1..=stmt.parameter_count())
        .map(|i| stmt.parameter_name(i).map_or_else(|| format!("?{i}"), str::to_owned))
        .collect();
    Ok(Prepared { columns, parameters })
}

fn prepare_postgres(client: &mut Client, sql: &str) -> Result<Prepared, Rejection> {
    match client.describe(sql) {
        Ok(described) => Ok(Prepared {
            columns: described.columns,
            parameters: (1..=described.parameters.len()).map(|i| format!("${i}")).collect(),
        }),
        // The server counts characters from 1.
        Err(PgError::Server(e)) => {
            let offset = e.position.and_then(|p| sql.char_indices().nth(p.saturating_sub(1))).map(|(at, _)| at);
            Err((e.message, offset))
        }
        Err(e) => Err((e.to_string(), None)),
    }
}

/// Where the statement names what a message without a position is about
/// (`no such table: pet`): the first whole-word occurrence of its last word.
fn named_in(sql: &str, message: &str) -> Option<usize> {
    let (_, name) = message.rsplit_once(": ")?;
    let name = name.trim_matches(|c| c == '"' || c == '`');
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    if name.is_empty() || !name.chars().all(|c| is_word(c) || c == '.') {
        return None;
    }
    let lower = sql.to_lowercase();
    let wanted = name.to_lowercase();
    lower.match_indices(&wanted).map(|(at, _)| at).find(|&at| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + wanted.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word) && lower.len() == sql.len()
    })
}

/// The message for a statement the database refused, with the line of the
/// statement it points at and a caret under the word there.
fn rejected(sql: &str, message: &str, offset: Option<usize>) -> String {
    let mut text = format!("migcheck::sql!: the statement does not prepare on the migrated database: {message}");
    if let Some(at) = offset.filter(|&at| at <= sql.len() && sql.is_char_boundary(at)) {
        let start = sql[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = sql[at..].find('\n').map_or(sql.len(), |i| at + i);
        let line_no = sql[..at].matches('\n').count() + 1;
        let word = sql[at..end].chars().take_while(|c| c.is_alphanumeric() || *c == '_').count().max(1);
        let gutter = line_no.to_string().len();
        text.push_str(&format!(
            "\n{:gutter$} |\n{line_no} | {}\n{:gutter$} | {}{}",
            "",
            &sql[start..end],
            "",
            " ".repeat(sql[start..at].chars().count()),
            "^".repeat(word),
        ));
    }
    text.push_str(
        "\n  = note: checked against the database every migration made (MIGCHECK_DATABASE_URL, kept by the build script)",
    );
    text
}

/// The call's parameters against the statement's.
fn check_parameters(call: &Call, prepared: &Prepared) -> Result<(), Failure> {
    let listed = || {
        if prepared.parameters.is_empty() { "none".to_owned() } else { prepared.parameters.join(", ") }
    };
    match &call.expected {
        None => Ok(()),
        Some(Expected::Count(n, span)) if *n != prepared.parameters.len() => Err((
            *span,
            format!(
                "migcheck::sql!: the statement has {} parameter{} ({}), the call binds {n}",
                prepared.parameters.len(),
                if prepared.parameters.len() == 1 { "" } else { "s" },
                listed()
            ),
        )),
        Some(Expected::Count(..)) => Ok(()),
        Some(Expected::Names(names)) => {
            for (name, span) in names {
                let found = prepared
                    .parameters
                    .iter()
                    .any(|p| p.strip_prefix([':', '@', '$']).is_some_and(|bare| bare == name));
                if !found {
                    return Err((
                        *span,
                        format!(
                            "migcheck::sql!: the statement has no parameter `:{name}` (its parameters: {})",
                            listed()
                        ),
                    ));
                }
            }
            for p in &prepared.parameters {
                let bare = p.trim_start_matches([':', '@', '$', '?']);
                if !names.iter().any(|(n, _)| n == bare) {
                    return Err((
                        call.literal.span(),
                        format!("migcheck::sql!: the statement's parameter `{p}` is not among the ones the call binds"),
                    ));
                }
            }
            Ok(())
        }
    }
}

/// `::migcheck::Statement { sql: "…", columns: &[…], parameters: &[…] }`.
fn statement(call: &Call, prepared: &Prepared) -> TokenStream {
    let strings = |items: &[String]| items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    let mut out: TokenStream = "::migcheck::Statement".parse().expect("a path");
    let fields: TokenStream = format!(
        "sql: __MIGCHECK_SQL__, columns: &[{}], parameters: &[{}]",
        strings(&prepared.columns),
        strings(&prepared.parameters)
    )
    .parse()
    .expect("fields");
    // The literal keeps its span: errors about the type point at the call.
    let fields: TokenStream = fields
        .into_iter()
        .map(|t| match t {
            TokenTree::Ident(i) if i.to_string() == "__MIGCHECK_SQL__" => TokenTree::Literal(call.literal.clone()),
            other => other,
        })
        .collect();
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, fields))]);
    out
}

/// `compile_error!("message")` at `span`.
fn error_at(span: Span, message: &str) -> TokenStream {
    let mut literal = Literal::string(message);
    literal.set_span(span);
    let mut bang = Punct::new('!', Spacing::Alone);
    bang.set_span(span);
    let mut group = Group::new(Delimiter::Parenthesis, TokenStream::from(TokenTree::Literal(literal)));
    group.set_span(span);
    [TokenTree::Ident(Ident::new("compile_error", span)), TokenTree::Punct(bang), TokenTree::Group(group)]
        .into_iter()
        .collect()
}
