//! The one module that talks to Cargo: every `cargo::` line and every
//! environment variable read goes through here, so each variable read is
//! declared with `rerun-if-env-changed` and nothing prints behind its back.

use std::io::Write;
use std::path::Path;

/// Reads an environment variable and tells Cargo to re-run the build script
/// when it changes.
#[allow(clippy::disallowed_methods)]
pub(crate) fn env(name: &str) -> Option<String> {
    println!("cargo::rerun-if-env-changed={name}");
    std::env::var(name).ok()
}

/// An environment variable Cargo sets for build scripts (no re-run needed).
#[allow(clippy::disallowed_methods)]
pub(crate) fn cargo_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn rerun_if_changed(path: &Path) {
    println!("cargo::rerun-if-changed={}", path.display());
}

/// An environment variable the package's own compilation sees (its
/// procedural macros included).
pub(crate) fn rustc_env(name: &str, value: &str) {
    println!("cargo::rustc-env={name}={value}");
}

/// A warning shown by Cargo; one directive per line of text.
pub(crate) fn warning(text: &str) {
    directive("warning", text);
}

/// An error: Cargo fails the build after the script ends (Rust 1.84+).
pub(crate) fn error(text: &str) {
    directive("error", text);
}

fn directive(kind: &str, text: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in text.lines() {
        // Cargo drops empty directives; keep blank lines of the rendering.
        let line = if line.trim().is_empty() { " " } else { line };
        let _ = writeln!(out, "cargo::{kind}={line}");
    }
}
