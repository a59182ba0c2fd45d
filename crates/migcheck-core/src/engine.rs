//! The seam between the checks and the databases they run on.
//!
//! An [`Engine`] is a scratch database migcheck may do anything to: run a
//! migration file on it the way the runtime will, read its schema, compare two
//! schemas, and open another empty one beside it. The checks (up, down and up
//! again with the schema compared, foreign keys, drift against `schema.sql`)
//! are written once against this trait in `check::pipeline`; the SQLite
//! sandbox (`sqlite::SqliteEngine`) and the PostgreSQL scratch database
//! (`postgres::PgEngine`) implement it.

use crate::diagnostic::Diagnostic;
use crate::model::{Migration, Script};

/// A scratch database the checks run migrations on.
pub trait Engine: Sized {
    /// The schema in the form cheapest to read and to test for equality: two
    /// equal values are the same schema; two different ones may still be (the
    /// same objects in another order or spelling), which
    /// [`Engine::differences`] decides.
    type Schema: PartialEq;

    /// Where migrations run, for notes: "an in-memory SQLite database".
    fn describe(&self) -> &'static str;

    /// Whether `migcheck diff` can write a migration for this engine (the
    /// drift error then suggests it).
    fn generates_migrations(&self) -> bool {
        false
    }

    /// Runs one migration file the way the runtime will: in a transaction of
    /// its own unless its mode says otherwise. Warnings (statements that do
    /// nothing where they are) go to `warnings`; the first error ends the file
    /// and is returned, located at its statement.
    fn run(&mut self, script: &Script, warnings: &mut Vec<Diagnostic>) -> Result<(), Diagnostic>;

    /// The database's schema now.
    fn schema(&mut self) -> Result<Self::Schema, Diagnostic>;

    /// What differs from `a` to `b`, one sentence each, objects named with the
    /// labels (`"the schema before the up"`); empty when they are the same
    /// schema.
    fn differences(
        &mut self,
        a: &Self::Schema,
        b: &Self::Schema,
        a_label: &str,
        b_label: &str,
    ) -> Result<Vec<String>, Diagnostic>;

    /// Another, empty scratch database set up the same way (for the declared
    /// schema, or the schema at a version).
    fn fresh(&self) -> Result<Self, Diagnostic>;

    /// Restores the database after `migrations[..sealed]` from a cache kept by
    /// [`Engine::checkpoint`] in an earlier run; whether it did. An engine
    /// without a cache always runs cold.
    fn resume(&mut self, migrations: &[Migration], sealed: usize) -> bool {
        let _ = (migrations, sealed);
        false
    }

    /// Called when `migrations[..sealed]` ran without a single diagnostic:
    /// the engine may keep the database for [`Engine::resume`].
    fn checkpoint(&mut self, migrations: &[Migration], sealed: usize) {
        let _ = (migrations, sealed);
    }
}
