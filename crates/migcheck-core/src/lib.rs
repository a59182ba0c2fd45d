//! migcheck's core, shared by the build script, the CLI, the macro and the
//! runtime, so that they can never disagree: one scanner, one checksum, one set
//! of checks, one statement walker. Nothing here prints.
//!
//! - always: [`exec`] (run SQL statement by statement, with positions) and
//!   [`lexer`], which the runtime uses too;
//! - feature `checker` (default): the build-time checker, [`check::check`].

// A diagnostic is a few hundred bytes of data and errors are rare: returning it
// unboxed keeps the code plain.
#![allow(clippy::result_large_err)]

pub mod exec;
pub mod lexer;
/// The shared shapes (configuration, migration, script, mode, layout); imports nothing else of the crate.
pub mod model;

#[cfg(feature = "checker")]
pub mod cache;
#[cfg(feature = "checker")]
pub mod check;
#[cfg(feature = "checker")]
pub mod checksum;
#[cfg(feature = "checker")]
pub mod codegen;
#[cfg(feature = "checker")]
pub mod diagnostic;
#[cfg(feature = "checker")]
pub mod directive;
#[cfg(feature = "checker")]
pub mod engine;
#[cfg(feature = "checker")]
pub mod fingerprint;
#[cfg(feature = "checker")]
pub mod layout;
#[cfg(feature = "checker")]
pub mod lock;
#[cfg(feature = "checker")]
pub mod memo;
#[cfg(feature = "checker")]
pub mod name;
#[cfg(feature = "checker")]
pub mod order;
#[cfg(feature = "checker")]
pub mod postgres;
#[cfg(feature = "checker")]
pub mod scan;
#[cfg(feature = "checker")]
pub mod schema;
#[cfg(feature = "checker")]
pub mod scratch;
#[cfg(feature = "checker")]
pub mod seal;
#[cfg(feature = "checker")]
pub mod sqlite;
