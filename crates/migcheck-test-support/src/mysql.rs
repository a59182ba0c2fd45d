//! The MariaDB server the tests use: `MIGCHECK_TEST_MYSQL_URL`, else one
//! started by `scripts/mysql-start` (the order: the variable, a server started earlier, a new one;
//! `scripts/mysql-stop` stops it).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::server::Server;

/// The server's URL (`mysql://root:…@127.0.0.1:<port>/mysql`), or why there
/// is none.
pub fn server() -> Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER
        .get_or_init(|| {
            Server {
                name: "MariaDB",
                env: "MIGCHECK_TEST_MYSQL_URL",
                state: "migcheck-test-mysql",
                script: "scripts/mysql-start",
                installed: || {
                    Path::new("/usr/sbin/mariadbd").exists()
                        || Command::new("mariadbd").arg("--version").output().is_ok_and(|o| o.status.success())
                },
                package: "mariadb-server",
            }
            .find()
        })
        .clone();
    if let Err(why) = &found {
        assert!(std::env::var_os("CI").is_none(), "CI must run the MySQL tests: {why}");
    }
    found
}
