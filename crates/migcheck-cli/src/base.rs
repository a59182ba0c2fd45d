//! `migcheck check --base <ref>`: the branch compared with its base through
//! the `git` binary (`git show`, `git diff`, `git ls-files`), without a
//! checkout. The `git` binary rather than a library: every CI runner and
//! developer machine that has a repository has it, and it adds nothing to
//! the build.

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow};
use migcheck_core::check::Report;
use migcheck_core::lock::Lock;
use migcheck_core::rust_source::{self, Call};

/// What the branch does to the migrations, compared with its base.
pub struct Base {
    /// The versions whose files the branch adds or changes.
    pub touched: BTreeSet<i64>,
    /// Versions the base's lock seals and the branch's does not know (or
    /// seals with other files).
    pub unknown_sealed: Vec<i64>,
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<Option<String>> {
    let out =
        Command::new("git").current_dir(repo).args(args).output().context("cannot run `git` (is it installed?)")?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Compares `report` (the working tree's migrations in `dir`) with `base`.
pub fn compare(dir: &Path, report: &Report, base: &str) -> anyhow::Result<Base> {
    let dir = dir.canonicalize().with_context(|| format!("cannot find `{}`", dir.display()))?;
    let root = git(&dir, &["rev-parse", "--show-toplevel"])?
        .ok_or_else(|| anyhow!("`{}` is not in a git repository: --base needs one", dir.display()))?;
    let root = PathBuf::from(root.trim()).canonicalize()?;
    git(&root, &["rev-parse", "--verify", "--quiet", &format!("{base}^{{commit}}")])?.ok_or_else(|| {
        anyhow!("`{base}` is not a commit in this repository (fetch it first: `git fetch origin {base}`)")
    })?;
    let relative = dir.strip_prefix(&root).unwrap_or(&dir).to_string_lossy().replace('\\', "/");
    let lock_path =
        if relative.is_empty() { "migrations.lock".to_owned() } else { format!("{relative}/migrations.lock") };
    let base_lock = match git(&root, &["show", &format!("{base}:{lock_path}")])? {
        Some(text) => {
            Lock::parse(&text).map_err(|e| anyhow!("the base's `{lock_path}` cannot be read: {}", e.message))?
        }
        None => Lock::default(),
    };
    // By content, not only by version: two branches that each sealed their
    // own migration 3 conflict as surely as a missing one.
    let unknown_sealed: Vec<i64> = base_lock
        .entries
        .iter()
        .filter(|e| report.lock.get(e.version).is_none_or(|mine| mine.up != e.up || mine.down != e.down))
        .map(|e| e.version)
        .collect();
    // Files changed since the base (committed or not), and new ones git does not track yet.
    let scope = if relative.is_empty() { ".".to_owned() } else { relative.clone() };
    let mut changed: BTreeSet<String> = BTreeSet::new();
    for args in [
        vec!["diff", "--name-only", base, "--", &scope],
        vec!["ls-files", "--others", "--exclude-standard", "--", &scope],
    ] {
        for line in git(&root, &args)?.unwrap_or_default().lines() {
            changed.insert(line.to_owned());
        }
    }
    let touched = report
        .migrations
        .iter()
        .filter(|m| {
            std::iter::once(&m.up).chain(m.down.as_ref()).any(|s| {
                let path = s.file.path.canonicalize().unwrap_or_else(|_| s.file.path.clone());
                path.strip_prefix(&root).is_ok_and(|p| changed.contains(&p.to_string_lossy().replace('\\', "/")))
            })
        })
        .map(|m| m.version)
        .collect();
    Ok(Base { touched, unknown_sealed })
}

/// The crate the migrations belong to: the nearest directory at or above
/// the migrations directory's parent that holds a `Cargo.toml`, else that
/// parent. Its Rust sources are where the statements are.
pub fn project_root(dir: &Path) -> PathBuf {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let parent = dir.parent().map(Path::to_owned).unwrap_or(dir);
    parent.ancestors().find(|d| d.join("Cargo.toml").is_file()).map(Path::to_owned).unwrap_or(parent)
}

/// The statements (`sql!`, `sqlx::query!` and its family) of the crate's
/// Rust sources as they are at `base`, read from git without a checkout
/// (one `git cat-file --batch` for every file); paths relative to the
/// crate, as `migcheck queries` shows them.
pub fn statements(dir: &Path, base: &str) -> anyhow::Result<Vec<Call>> {
    let project = project_root(dir);
    let root = git(&project, &["rev-parse", "--show-toplevel"])?
        .ok_or_else(|| anyhow!("`{}` is not in a git repository: --base needs one", project.display()))?;
    let root = PathBuf::from(root.trim()).canonicalize()?;
    let relative = project.strip_prefix(&root).unwrap_or(&project).to_string_lossy().replace('\\', "/");
    let prefix = if relative.is_empty() { String::new() } else { format!("{relative}/") };
    let scope = if relative.is_empty() { ".".to_owned() } else { relative.clone() };
    let listed = git(&root, &["ls-tree", "-r", "-z", "--name-only", base, "--", &scope])?
        .ok_or_else(|| anyhow!("cannot list the files of `{base}`"))?;
    let paths: Vec<&str> = listed
        .split('\0')
        .filter(|p| p.strip_prefix(prefix.as_str()).is_some_and(rust_source::is_source_path))
        .collect();
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = Command::new("git")
        .current_dir(&root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run `git` (is it installed?)")?;
    let mut stdin = child.stdin.take().expect("piped");
    let requests: String = paths.iter().map(|p| format!("{base}:{p}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()));
    let mut out = Vec::new();
    child.stdout.take().expect("piped").read_to_end(&mut out)?;
    child.wait()?;
    writer.join().map_err(|_| anyhow!("git cat-file's writer stopped"))??;
    let mut calls = Vec::new();
    let mut at = 0;
    for path in paths {
        // `<object> blob <size>\n<content>\n`, or `<name> missing\n`.
        let end = out[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| at + i)
            .ok_or_else(|| anyhow!("git cat-file ended early"))?;
        let header = String::from_utf8_lossy(&out[at..end]).into_owned();
        at = end + 1;
        let Some(size) = header.rsplit(' ').next().and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let content = out.get(at..at + size).ok_or_else(|| anyhow!("git cat-file ended early"))?;
        at += size + 1;
        if let Ok(text) = std::str::from_utf8(content) {
            calls.extend(rust_source::calls(Path::new(&path[prefix.len()..]), text));
        }
    }
    Ok(calls)
}
