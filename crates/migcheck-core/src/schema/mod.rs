//! What both engines share about a schema: the model people read
//! ([`model`]: `migcheck schema`, `show`, Mermaid and dot), the statements a
//! squashed baseline is written with ([`squash`]), and the SQL tokenizer the
//! checks read statements with ([`tokens`]). Each engine's own reading and
//! comparison of a schema lives in its room (`engine::sqlite::schema`,
//! `engine::postgres`).

// Documented by its own `//!` (links inside resolve there).
pub mod model;
/// Writing a squashed baseline (`migcheck squash`): the statements both
/// engines share.
pub mod squash;
pub mod tokens;
