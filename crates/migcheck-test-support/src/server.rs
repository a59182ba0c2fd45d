//! Finding a database server for the tests, the same way for every engine:
//!
//! 1. the engine's URL variable, when set (`.ci/run` starts a server and sets it);
//! 2. else a throwaway server started here by the engine's `scripts/*-start`
//!    when its binaries are installed, written down in
//!    `$TMPDIR/<state>/url` so that the next test binary, and the next
//!    `cargo test`, reuse it while it answers;
//! 3. else none, with the reason, which the tests report as ignored (or, in
//!    CI, as a failure).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// One engine's server, as the tests look for it.
pub(crate) struct Server {
    /// The engine's name in messages: "PostgreSQL".
    pub name: &'static str,
    /// The variable that names a running server.
    pub env: &'static str,
    /// The directory under `$TMPDIR` remembering a server started here.
    pub state: &'static str,
    /// The script that starts one, relative to the workspace.
    pub script: &'static str,
    /// Whether the engine's binaries are installed.
    pub installed: fn() -> bool,
    /// What to install.
    pub package: &'static str,
}

impl Server {
    /// The server's URL, or why there is none.
    pub fn find(&self) -> Result<String, String> {
        if let Ok(url) = std::env::var(self.env) {
            return Ok(url);
        }
        let state = std::env::temp_dir().join(self.state);
        let url_file = state.join("url");
        if let Ok(url) = std::fs::read_to_string(&url_file)
            && answers(url.trim())
        {
            return Ok(url.trim().to_owned());
        }
        if !(self.installed)() {
            return Err(format!("no {}: install it (apt-get install {}) or set {}", self.name, self.package, self.env));
        }
        let script = workspace_root().join(self.script);
        let out =
            Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed: {}", self.script, String::from_utf8_lossy(&out.stderr).trim()));
        }
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let _ = std::fs::create_dir_all(&state);
        let _ = std::fs::write(&url_file, &url);
        eprintln!(
            "started a {} server for the tests: {url} ({} stops it)",
            self.name,
            self.script.replace("-start", "-stop")
        );
        Ok(url)
    }
}

/// Whether something listens at the URL's host and port.
fn answers(url: &str) -> bool {
    let Some(rest) = url.split_once('@').map(|(_, r)| r) else { return false };
    let host_port = rest.split('/').next().unwrap_or_default();
    use std::net::ToSocketAddrs as _;
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|addr| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
}

/// The workspace's root: the directory holding `scripts/pg-start`.
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("scripts/pg-start").exists() {
        if !dir.pop() {
            break;
        }
    }
    dir
}
