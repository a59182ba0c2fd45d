//! The subcommands, one module each with its clap `Args` and a `run` that
//! takes the global options as a [`Context`](crate::context::Context); what
//! they share is in [`common`]. `main.rs` dispatches to them. No command
//! imports another's parent or the root: the module graph has no cycles
//! (`crates/migcheck-core/tests/imports.rs`).

pub mod check;
pub mod common;
pub mod current;
pub mod diff;
pub mod downgrade;
/// `migcheck explain <version>`: each statement's locks, rewrites, rows and time.
pub mod explain;
/// Fleets: `--each`, `--each-file` and `--each-schema` for `upgrade`, `status`, `current`,
/// `history`, `downgrade` and `check`.
pub mod fleet;
pub mod history;
pub mod import;
pub mod init;
pub mod lock;
pub mod new;
/// `migcheck queries`: the statements the crate's code checks, read from its sources.
pub mod queries;
pub mod rebase;
/// `migcheck schema` and `migcheck show`: the schema at a version, and what a migration changed.
pub mod schema;
/// `migcheck squash --to V`: a proved baseline that fresh databases run instead of the migrations it replaces.
pub mod squash;
pub mod stamp;
pub mod status;
pub mod upgrade;
