//! What the CLI prints: diagnostics as rustc-style text or JSON.

use migcheck_core::diagnostic::{Diagnostic, Severity};
use serde_json::{Value, json};

/// Prints diagnostics to stderr, blank line between them.
pub fn print_diagnostics<'a>(diagnostics: impl IntoIterator<Item = &'a Diagnostic>) {
    for d in diagnostics {
        eprintln!("{}\n", d.render());
    }
}

pub fn diagnostic_json(d: &Diagnostic) -> Value {
    let location = d.location.as_ref();
    json!({
        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning", Severity::Note => "note" },
        "code": d.kind.code(),
        "message": d.message,
        "file": location.map(|l| l.path.clone()),
        "line": location.and_then(|l| l.line_column).map(|(l, _)| l),
        "column": location.and_then(|l| l.line_column).map(|(_, c)| c),
        "version": d.version,
        "notes": d.notes,
        "help": d.help,
        "rendered": d.render(),
    })
}

pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}
