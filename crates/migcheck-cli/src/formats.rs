//! `migcheck check --format github|sarif|junit|markdown`: the same findings
//! where reviewers look. Every format renders the one finding model (the
//! check's `Diagnostic`s); no check knows about formats.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use migcheck_core::check::Report;
use migcheck_core::checksum::{checksum, to_hex};
use migcheck_core::diagnostic::{Diagnostic, Kind, Severity};
use serde_json::json;

/// SARIF's level.
fn level(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

fn line_column(d: &Diagnostic) -> (Option<&str>, Option<usize>, Option<usize>) {
    let location = d.location.as_ref();
    let (line, column) = location.and_then(|l| l.line_column).map_or((None, None), |(l, c)| (Some(l), Some(c)));
    (location.map(|l| l.path.as_str()), line, column)
}

/// GitHub Actions workflow commands: one `::error` or `::warning` per
/// finding, on its file and line, with the rustc-style text as the message.
pub fn github(report: &Report) -> String {
    // Workflow-command escaping: data, then property values.
    let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for d in &report.diagnostics {
        let (file, line, column) = line_column(d);
        let mut properties = Vec::new();
        if let Some(file) = file {
            properties.push(format!("file={}", property(file)));
        }
        if let Some(line) = line {
            properties.push(format!("line={line}"));
        }
        if let Some(column) = column {
            properties.push(format!("col={column}"));
        }
        properties.push(format!("title={}", property(&format!("migcheck {}", d.kind.code()))));
        // GitHub's workflow commands say `notice` where SARIF says `note`.
        let command = if d.severity == Severity::Note { "notice" } else { level(d) };
        let _ = writeln!(out, "::{command} {}::{}", properties.join(","), data(&d.render()));
    }
    out
}

/// A fingerprint that stays the same across runs while the finding does:
/// its code, file and message (not its line, which moves with edits above).
fn fingerprint(d: &Diagnostic) -> String {
    let (file, _, _) = line_column(d);
    to_hex(&checksum(format!("{}\n{}\n{}", d.kind.code(), file.unwrap_or(""), d.message).as_bytes()))[..32].to_owned()
}

/// SARIF 2.1.0: one rule per code (its summary and help), one result per
/// finding with its physical location and a stable fingerprint.
pub fn sarif(report: &Report) -> serde_json::Value {
    let mut rules: BTreeMap<&str, (Kind, Option<&str>)> = BTreeMap::new();
    for d in &report.diagnostics {
        rules.entry(d.kind.code()).or_insert((d.kind, d.help.as_deref()));
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, c)| (*c, i)).collect();
    let results: Vec<serde_json::Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            let (file, line, column) = line_column(d);
            let mut result = json!({
                "ruleId": d.kind.code(),
                "ruleIndex": index[d.kind.code()],
                "level": level(d),
                "message": { "text": d.render() },
                "partialFingerprints": { "migcheck/v1": fingerprint(d) },
            });
            if let Some(file) = file {
                let mut region = json!({});
                if let Some(line) = line {
                    region["startLine"] = json!(line);
                }
                if let Some(column) = column {
                    region["startColumn"] = json!(column);
                }
                let mut physical = json!({ "artifactLocation": { "uri": file } });
                if line.is_some() {
                    physical["region"] = region;
                }
                result["locations"] = json!([{ "physicalLocation": physical }]);
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "migcheck",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|(code, (kind, help))| json!({
                    "id": code,
                    "name": code,
                    "shortDescription": { "text": kind.summary() },
                    "help": { "text": help.unwrap_or(kind.summary()) },
                })).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JUnit XML: one test case per migration, a failure per error found in it;
/// errors that belong to no migration go to a case for the directory.
pub fn junit(report: &Report) -> String {
    let mut cases: Vec<(String, Vec<&Diagnostic>)> = vec![("migrations directory".into(), Vec::new())];
    let mut by_version: BTreeMap<i64, usize> = BTreeMap::new();
    for m in &report.migrations {
        by_version.insert(m.version, cases.len());
        cases.push((format!("{} {}", m.version, m.description), Vec::new()));
    }
    for d in report.errors() {
        let at = d.version.and_then(|v| by_version.get(&v).copied()).unwrap_or(0);
        cases[at].1.push(d);
    }
    let failures: usize = cases.iter().map(|(_, e)| e.len().min(1)).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"migcheck\" tests=\"{}\" failures=\"{failures}\">", cases.len());
    let _ = writeln!(out, "  <testsuite name=\"migcheck check\" tests=\"{}\" failures=\"{failures}\">", cases.len());
    for (name, errors) in &cases {
        if errors.is_empty() {
            let _ = writeln!(out, "    <testcase classname=\"migrations\" name=\"{}\"/>", xml(name));
            continue;
        }
        let _ = writeln!(out, "    <testcase classname=\"migrations\" name=\"{}\">", xml(name));
        for d in errors {
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                d.kind.code(),
                xml(&d.message),
                xml(&d.render())
            );
        }
        let _ = writeln!(out, "    </testcase>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A pull-request comment: the migrations not sealed yet (what the branch
/// adds), the findings by severity, and the lock's state.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("## migcheck\n\n");
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    let notes = match report.notes().count() {
        0 => String::new(),
        1 => " · 1 note".to_owned(),
        n => format!(" · {n} notes"),
    };
    let sealed = report.migrations.iter().filter(|m| m.sealed).count();
    let _ = writeln!(
        out,
        "{} · {} migration{}, {sealed} sealed · {errors} error{} · {warnings} warning{}{notes}\n",
        if errors == 0 { "✅ passes" } else { "❌ fails" },
        report.migrations.len(),
        if report.migrations.len() == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    );
    let added: Vec<_> = report.migrations.iter().filter(|m| !m.sealed).collect();
    if !added.is_empty() {
        out.push_str("### Migrations not sealed yet\n\n");
        for m in added {
            let files: Vec<String> =
                std::iter::once(&m.up).chain(m.down.as_ref()).map(|s| format!("`{}`", s.file.display)).collect();
            let _ = writeln!(
                out,
                "- **{}** {} ({}{})",
                m.version,
                m.description,
                files.join(", "),
                if m.down.is_some() { "" } else { ", irreversible" }
            );
        }
        out.push('\n');
    }
    for (title, severity) in [("Errors", Severity::Error), ("Warnings", Severity::Warning), ("Notes", Severity::Note)] {
        let found: Vec<&Diagnostic> = report.diagnostics.iter().filter(|d| d.severity == severity).collect();
        if found.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n\n| code | where | what |\n|---|---|---|");
        for d in found {
            let (file, line, _) = line_column(d);
            let place = match (file, line) {
                (Some(f), Some(l)) => format!("`{f}:{l}`"),
                (Some(f), None) => format!("`{f}`"),
                _ => String::new(),
            };
            let _ = writeln!(out, "| `{}` | {place} | {} |", d.kind.code(), d.message.replace('|', "\\|"));
        }
        out.push('\n');
    }
    let accepted = report.accepted_in_lock();
    let _ = writeln!(
        out,
        "Lock: {} sealed{}.",
        report.lock.entries.len(),
        if accepted > 0 { format!(", {accepted} finding(s) accepted") } else { String::new() }
    );
    out
}
