//! The CLI's one error type: what to print and the exit code to leave with.

use std::fmt;

use crate::exit;

/// Why a command failed, with its exit code.
///
/// Every error converts into one (`?`) with exit code 1; runtime errors go
/// through [`Failure::runtime`], which gives a database that does not match
/// the migrations exit code 4; errors already explained on stderr (the
/// checker's diagnostics) are [`Failure::Reported`].
#[derive(Debug)]
pub enum Failure {
    /// Already printed; leave with this code.
    Reported(u8),
    /// To print as `error: …`, then leave with `code`.
    Error { code: u8, error: anyhow::Error },
}

/// A command's result.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    /// A message with its own exit code.
    pub fn new(code: u8, message: impl fmt::Display) -> Failure {
        Failure::Error { code, error: anyhow::anyhow!("{message}") }
    }

    /// A runtime error: exit code 4 for a database migrated from other
    /// migrations (edited or unknown), 1 otherwise.
    pub fn runtime(err: migcheck::Error) -> Failure {
        let code = match err {
            migcheck::Error::Divergent { .. } | migcheck::Error::Unknown { .. } => exit::DIVERGENT,
            _ => exit::ERROR,
        };
        Failure::Error { code, error: err.into() }
    }

    /// The message to print: the error and each cause that says something
    /// new. A migration's error already quotes the database's message, which
    /// its causes (sqlx's error, and PostgreSQL's, which ends with the line
    /// of the server's own C source that raised it) would only repeat.
    pub fn message(error: &anyhow::Error) -> String {
        let mut out = error.to_string();
        for cause in error.chain().skip(1) {
            let text = cause.to_string();
            let text = text.strip_prefix("error returned from database: ").unwrap_or(&text);
            let text = server_line(text);
            if !text.is_empty() && !out.contains(text) {
                out.push_str(": ");
                out.push_str(text);
            }
        }
        out
    }

    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Reported(code) | Failure::Error { code, .. } => *code,
        }
    }
}

/// `text` without the ` at line N` that sqlx adds after PostgreSQL's
/// message: N is a line of the server's C source, not of the migration.
fn server_line(text: &str) -> &str {
    match text.rsplit_once(" at line ") {
        Some((message, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => message,
        _ => text,
    }
}

// `Failure` is deliberately not a `std::error::Error`, so that every error
// converts into it, as with `anyhow::Error`.
impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Error { code: exit::ERROR, error: err.into() }
    }
}

/// `anyhow::bail!` for functions that return a [`Failure`].
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Failure::from(anyhow::anyhow!($($arg)*)))
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let divergent = migcheck::Error::Unknown { version: 3, name: "x".into() };
        assert_eq!(Failure::runtime(divergent).code(), exit::DIVERGENT);
        assert_eq!(Failure::runtime(migcheck::Error::NoSuchVersion { version: 3 }).code(), exit::ERROR);
        let io: Failure = std::io::Error::other("disk").into();
        assert_eq!(io.code(), exit::ERROR);
        assert_eq!(Failure::Reported(3).code(), 3);
    }

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner(&'static str);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "migration 2 failed at m/2.sql:9:26: invalid input syntax")
        }
    }
    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Inner {}
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn causes_that_repeat_the_message_are_left_out() {
        let repeated =
            anyhow::Error::new(Outer(Inner("error returned from database: invalid input syntax at line 232")));
        assert_eq!(Failure::message(&repeated), "migration 2 failed at m/2.sql:9:26: invalid input syntax");
        let new = anyhow::Error::new(Outer(Inner("disk full")));
        assert_eq!(Failure::message(&new), "migration 2 failed at m/2.sql:9:26: invalid input syntax: disk full");
        assert_eq!(server_line("no such table at line"), "no such table at line");
    }
}
