//! Stable exit codes (documented in the README).

/// Success.
pub const OK: u8 = 0;
/// An error: the checks failed, a migration failed, bad input, a database error.
pub const ERROR: u8 = 1;
/// Bad command-line usage (clap).
pub const USAGE: u8 = 2;
/// `status`: migrations are pending.
pub const PENDING: u8 = 3;
/// The database does not match the migrations: an applied migration was
/// edited (divergent), or the database has one this binary does not know.
pub const DIVERGENT: u8 = 4;
