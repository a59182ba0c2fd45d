//! migcheck's core, shared by the build script, the CLI, the macro and the
//! runtime, so that they can never disagree: one scanner, one checksum, one set
//! of checks, one statement walker. Nothing here prints.
//!
//! - always: [`model`] (the shared shapes), and the statement walker and
//!   lexer, which the runtime uses too;
//! - feature `checker` (default): the build-time checker, [`check::check`],
//!   configured by [`config`] (what to check, the scratch database's
//!   settings, the `MIGCHECK_*` variables), with [`diagnostic`], [`lock`],
//!   [`layout`], [`name`] and [`seal`].
//!
//! **No semver promise of its own.** Depend on `migcheck` (the runtime) and
//! `migcheck-build` (the build script); this crate is their shared
//! implementation, versioned with them. The documented modules are what they
//! and the `migcheck` CLI build on; the modules hidden from these docs
//! (the sandbox, the engines, the caches, the schema model, the scanner, code
//! generation) are internal and change without notice.

#![warn(missing_docs)]
// A diagnostic is a few hundred bytes of data and errors are rare: returning it
// unboxed keeps the code plain.
#![allow(clippy::result_large_err)]

#[doc(hidden)]
pub mod exec;
#[doc(hidden)]
pub mod lexer;
pub mod model;

#[cfg(feature = "checker")]
pub mod config;

#[cfg(feature = "checker")]
pub mod check;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod checksum;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod codegen;
#[cfg(feature = "checker")]
pub mod diagnostic;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod directive;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod engine;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod fingerprint;
#[cfg(feature = "checker")]
pub mod layout;
#[cfg(feature = "checker")]
pub mod lock;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod memo;
#[cfg(feature = "checker")]
pub mod name;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod order;
#[cfg(feature = "checker")]
pub mod rust_source;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod scan;
#[cfg(feature = "checker")]
#[doc(hidden)]
pub mod schema;
#[cfg(feature = "checker")]
pub mod seal;
