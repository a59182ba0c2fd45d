//! The PostgreSQL server the tests use, shared by every test binary of the
//! workspace:
//!
//! 1. `MIGCHECK_TEST_PG_URL`, when set (`.ci/run` starts a server and sets it);
//! 2. else a throwaway server started here by `scripts/pg-start` when
//!    PostgreSQL's binaries are installed, written down in
//!    `$TMPDIR/migcheck-test-pg/url` so that the next test binary, and the next
//!    `cargo test`, reuse it while it answers (`scripts/pg-stop` stops it);
//! 3. else none, with the reason, which the tests report as ignored (or, in
//!    CI, as a failure).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The server's URL, or why there is none.
pub fn server() -> Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER.get_or_init(find).clone();
    if let Err(why) = &found {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tests: {why}");
    }
    found
}

fn find() -> Result<String, String> {
    if let Ok(url) = std::env::var("MIGCHECK_TEST_PG_URL") {
        return Ok(url);
    }
    let state = std::env::temp_dir().join("migcheck-test-pg");
    let url_file = state.join("url");
    if let Ok(url) = std::fs::read_to_string(&url_file)
        && answers(url.trim())
    {
        return Ok(url.trim().to_owned());
    }
    let installed = Path::new("/usr/lib/postgresql").read_dir().is_ok_and(|mut d| d.next().is_some())
        || Command::new("pg_ctl").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        return Err("no PostgreSQL: install it (apt-get install postgresql) or set MIGCHECK_TEST_PG_URL".into());
    }
    let script = workspace_root().join("scripts/pg-start");
    let out =
        Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("scripts/pg-start failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let _ = std::fs::create_dir_all(&state);
    let _ = std::fs::write(&url_file, &url);
    eprintln!("started a PostgreSQL server for the tests: {url} (scripts/pg-stop stops it)");
    Ok(url)
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
