//! The PostgreSQL server the tests use, shared by every test binary of the
//! workspace: `MIGCHECK_TEST_PG_URL`, else one started by `scripts/pg-start`
//! (the order: `MIGCHECK_TEST_PG_URL`, a server started earlier, a new one; `scripts/pg-stop` stops it).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::server::Server;
pub use crate::server::workspace_root;

/// The server's URL, or why there is none.
pub fn server() -> Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER
        .get_or_init(|| {
            Server {
                name: "PostgreSQL",
                env: "MIGCHECK_TEST_PG_URL",
                state: "migcheck-test-pg",
                script: "scripts/pg-start",
                installed: || {
                    Path::new("/usr/lib/postgresql").read_dir().is_ok_and(|mut d| d.next().is_some())
                        || Command::new("pg_ctl").arg("--version").output().is_ok_and(|o| o.status.success())
                },
                package: "postgresql",
            }
            .find()
        })
        .clone();
    if let Err(why) = &found {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tests: {why}");
    }
    found
}
