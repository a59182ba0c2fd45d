//! What the workspace's test binaries share, as a crate of its own rather than
//! files each includes with `#[path]`: compiled once, linked by every test.
//!
//! ```no_run
//! match migcheck_test_support::pg::server() {
//!     Ok(url) => println!("testing against {url}"),
//!     Err(why) => println!("PostgreSQL tests ignored: {why}"),
//! }
//! ```

pub mod mysql;
pub mod pg;
mod server;
