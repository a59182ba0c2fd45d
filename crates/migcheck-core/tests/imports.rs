//! No crate of the workspace has an import cycle between its files, and
//! core's `model` is a leaf.
//!
//! Read from the source: every file is a node (`check/history.rs` is
//! `check::history`, `check/mod.rs` is `check`), and every path in its code that
//! starts with `crate::`, `super::`, `self::` or the name of one of its child
//! modules is an edge to the file that defines what the path names. A path
//! that reaches an item a `mod.rs` only re-exports (`pub use lock::Lock;`)
//! follows the re-export to the file that defines it, and a parent's
//! re-exports and `mod` lines are not edges of their own: they are the
//! folder's table of contents, not a dependency. A `#[cfg(test)] mod tests`
//! at the end of a file is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// A module path inside one crate (`["check", "lock"]`).
type Module = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Punct(char),
}

/// Identifiers, `::` and punctuation of Rust code, with comments, strings
/// and character literals left out.
fn tokens(code: &str) -> Vec<Tok> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if code[i..].starts_with("//") {
            i = code[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if code[i..].starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if code[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if code[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r'
            && (code[i + 1..].starts_with('"') || code[i + 1..].starts_with("#\"") || code[i + 1..].starts_with("##\""))
        {
            let hashes = code[i + 1..].bytes().take_while(|&h| h == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let open = i + 1 + hashes + 1;
            i = code[open..].find(&close).map_or(b.len(), |n| open + n + close.len());
        } else if c == b'"' || (c == b'b' && code[i + 1..].starts_with('"')) {
            i += if c == b'b' { 2 } else { 1 };
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let rest = &code[i + 1..];
            if let Some(end) = rest.strip_prefix('\\').and_then(|r| r.find('\'')) {
                i += end + 3;
            } else if rest.chars().nth(1) == Some('\'') {
                i += 1 + rest.chars().next().map_or(1, char::len_utf8) + 1;
            } else {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let end = code[i..].find(|ch: char| !(ch.is_alphanumeric() || ch == '_')).map_or(b.len(), |n| i + n);
            out.push(Tok::Ident(code[i..end].to_owned()));
            i = end;
        } else if code[i..].starts_with("::") {
            out.push(Tok::Path);
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                out.push(Tok::Punct(c as char));
            }
            i += code[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// The paths of a `use` tree starting at `toks[*i]`, each with the name it
/// binds (`as` respected; `*` binds everything).
fn use_tree(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(id)) => {
                path.push(id.clone());
                *i += 1;
                match toks.get(*i) {
                    Some(Tok::Path) => *i += 1,
                    Some(Tok::Ident(kw)) if kw == "as" => {
                        let alias = match toks.get(*i + 1) {
                            Some(Tok::Ident(a)) => a.clone(),
                            _ => String::new(),
                        };
                        *i += 2;
                        out.push((path, alias));
                        return;
                    }
                    _ => {
                        let name = path.last().cloned().unwrap_or_default();
                        out.push((path, name));
                        return;
                    }
                }
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((path, "*".into()));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match toks.get(*i) {
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        None => return,
                        _ => use_tree(toks, i, &path, out),
                    }
                }
            }
            _ => return,
        }
    }
}

struct File {
    /// Child modules (from the folder).
    children: BTreeSet<String>,
    /// Paths used (not re-exported), as written, as seen from the file's
    /// own module (inside an inline `mod x { … }`, a leading `super` is the file).
    uses: Vec<Vec<String>>,
    /// Names re-exported: name → path as written (`*` for globs, many).
    exports: Vec<(String, Vec<String>)>,
}

fn read(text: &str, children: BTreeSet<String>) -> File {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    let toks = tokens(code);
    let mut file = File { children, uses: Vec::new(), exports: Vec::new() };
    // Inline modules open here: the brace depth inside each.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0;
    // A path written inside `inline.len()` inline modules, seen from the file.
    let from_file = |mut path: Vec<String>, inline: usize| {
        let supers = path.iter().take_while(|s| *s == "super").count().min(inline);
        if supers > 0 {
            path.drain(..supers);
            path.insert(0, "self".into());
        }
        path
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                if i >= 2 && toks[i - 2] == Tok::Ident("mod".into()) {
                    inline.push(depth);
                }
            }
            Tok::Punct('}') => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth -= 1;
            }
            _ => {}
        }
        if toks[i] == Tok::Ident("use".into()) && !matches!(i.checked_sub(1).map(|p| &toks[p]), Some(Tok::Path)) {
            // `pub use` / `pub(crate) use` / `pub(super) use`: a re-export.
            let mut j = i;
            if j > 0 && toks[j - 1] == Tok::Punct(')') {
                while j > 0 && toks[j - 1] != Tok::Punct('(') {
                    j -= 1;
                }
                j = j.saturating_sub(1);
            }
            let public = j > 0 && toks[j - 1] == Tok::Ident("pub".into());
            i += 1;
            let mut paths = Vec::new();
            use_tree(&toks, &mut i, &[], &mut paths);
            for (path, name) in paths {
                let path = from_file(path, inline.len());
                if public && inline.is_empty() { file.exports.push((name, path)) } else { file.uses.push(path) }
            }
            continue;
        }
        if let Tok::Ident(first) = &toks[i]
            && toks.get(i + 1) == Some(&Tok::Path)
            && !matches!(i.checked_sub(1).map(|p| &toks[p]), Some(Tok::Path))
        {
            let mut path = vec![first.clone()];
            let mut j = i + 1;
            while toks.get(j) == Some(&Tok::Path) {
                match toks.get(j + 1) {
                    Some(Tok::Ident(id)) => path.push(id.clone()),
                    _ => break,
                }
                j += 2;
            }
            file.uses.push(from_file(path, inline.len()));
            i = j;
            continue;
        }
        i += 1;
    }
    file
}

/// Every file of one crate's `src`, by module.
fn crate_files(src: &Path) -> BTreeMap<Module, File> {
    fn walk(dir: &Path, module: &Module, out: &mut Vec<(Module, std::path::PathBuf)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                walk(&path, &[module.clone(), vec![name]].concat(), out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let m = match name.as_str() {
                    "mod" | "lib" | "main" => module.clone(),
                    _ => [module.clone(), vec![name]].concat(),
                };
                out.push((m, path));
            }
        }
    }
    let mut found = Vec::new();
    walk(src, &Vec::new(), &mut found);
    // `src/bin` and the like are crates of their own.
    found.retain(|(m, _)| m.first().is_none_or(|f| f != "bin"));
    let modules: BTreeSet<Module> = found.iter().map(|(m, _)| m.clone()).collect();
    found
        .into_iter()
        .map(|(m, path)| {
            let children = modules
                .iter()
                .filter(|c| c.len() == m.len() + 1 && c.starts_with(&m))
                .map(|c| c.last().unwrap().clone())
                .collect();
            let file = read(&fs::read_to_string(&path).unwrap(), children);
            (m, file)
        })
        .collect()
}

/// The file a path used in `from` names, following re-exports; `None` for
/// a path outside the crate.
fn resolve(files: &BTreeMap<Module, File>, from: &Module, path: &[String], depth: usize) -> Option<Module> {
    let (mut base, rest): (Module, &[String]) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (from.clone(), &path[1..]),
        "super" => {
            let mut base = from.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        first if files[from].children.contains(first) => (from.clone(), path),
        _ => return None,
    };
    let mut k = 0;
    while k < rest.len() && files.contains_key(&[base.clone(), vec![rest[k].clone()]].concat()) {
        base.push(rest[k].clone());
        k += 1;
    }
    // An item of `base`, or one it re-exports from elsewhere.
    if depth < 8
        && let Some(name) = rest.get(k)
    {
        let file = &files[&base];
        let export = file.exports.iter().find(|(n, _)| n == name).or_else(|| {
            file.exports.iter().find(|(n, p)| {
                n == "*" && resolve(files, &base, p, depth + 1).is_some_and(|m| defines(files, &m, name))
            })
        });
        if let Some((n, p)) = export {
            let target = if n == "*" { [p.clone(), vec![name.clone()]].concat() } else { p.clone() };
            if let Some(m) = resolve(files, &base, &target, depth + 1) {
                return Some(m);
            }
        }
    }
    Some(base)
}

/// Whether `module`'s file plausibly defines `name` (for glob re-exports).
fn defines(files: &BTreeMap<Module, File>, module: &Module, name: &str) -> bool {
    files[module].exports.iter().any(|(n, _)| n == name)
        || files.contains_key(&[module.clone(), vec![name.into()]].concat())
}

fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = crate_files(src);
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = files.keys().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (m, file) in &files {
        for path in &file.uses {
            if let Some(target) = resolve(&files, m, path, 0)
                && &target != m
            {
                graph.get_mut(m).unwrap().insert(target);
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle(graph: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    let mut stack = vec![vec![start.clone()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in &graph[last] {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

fn name(m: &Module) -> String {
    if m.is_empty() { "(root)".into() } else { m.join("::") }
}

fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn no_file_imports_itself_through_others() {
    let mut cycles = Vec::new();
    for krate in [
        ".",
        "crates/migcheck-core",
        "crates/migcheck-build",
        "crates/migcheck-cli",
        "crates/migcheck-macros",
        "crates/migcheck-test-support",
    ] {
        let graph = graph(&workspace().join(krate).join("src"));
        assert!(!graph.is_empty(), "{krate}: the source was not found");
        let mut seen = BTreeSet::new();
        for m in graph.keys() {
            if let Some(c) = cycle(&graph, m) {
                let members: BTreeSet<Module> = c.iter().cloned().collect();
                if seen.insert(members) {
                    cycles.push(format!("{krate}: {}", c.iter().map(name).collect::<Vec<_>>().join(" -> ")));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "{} import cycles:\n{}", cycles.len(), cycles.join("\n"));
}

#[test]
fn the_reader_sees_folders_super_and_re_exports() {
    let files: BTreeMap<Module, File> = [
        (vec![], "mod a; mod b;", &["a", "b"][..]),
        (vec!["a".into()], "mod x; pub use x::Thing; pub(crate) use self::y::*; mod y;", &["x", "y"][..]),
        (vec!["a".into(), "x".into()], "use super::super::b::B; // crate::c::C\nlet s = \"crate::d\";", &[][..]),
        (vec!["a".into(), "y".into()], "pub struct Y;", &[][..]),
        (vec!["b".into()], "use crate::a::{Thing, y::Y as Why};\nfn f() { crate::a::x::g() }", &[][..]),
    ]
    .into_iter()
    .map(|(m, text, children): (Module, &str, &[&str])| {
        let file = read(text, children.iter().map(|c| c.to_string()).collect());
        (m, file)
    })
    .collect();
    let at = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Module>();
    let b = &files[&at(&["b"])];
    let targets: BTreeSet<Module> = b.uses.iter().filter_map(|p| resolve(&files, &at(&["b"]), p, 0)).collect();
    assert_eq!(targets, [at(&["a", "x"]), at(&["a", "y"])].into_iter().collect(), "re-exports followed");
    let x = &files[&at(&["a", "x"])];
    let targets: Vec<Module> = x.uses.iter().filter_map(|p| resolve(&files, &at(&["a", "x"]), p, 0)).collect();
    assert_eq!(targets, [at(&["b"])], "`super::super`, and nothing from comments or strings");
}

#[test]
fn model_is_a_leaf() {
    let graph = graph(&workspace().join("crates/migcheck-core/src"));
    assert_eq!(graph[&vec!["model".to_string()]], BTreeSet::new(), "model must import nothing of the crate");
}
