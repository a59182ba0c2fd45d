//! Running the real `migcheck` binary in a project directory, for the
//! modules that share it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `migcheck <args>` in `root`, with no `DATABASE_URL`, not in CI nor locked
/// mode (a test sets what it means), and no input.
pub fn migcheck(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migcheck"));
    cmd.current_dir(root).args(args).env_remove("DATABASE_URL").env_remove("CI").env_remove("MIGCHECK_LOCKED");
    cmd.stdin(Stdio::null());
    cmd
}

/// The exit code, stdout and stderr, for assertions and their messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
