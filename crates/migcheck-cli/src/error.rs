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

    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Reported(code) | Failure::Error { code, .. } => *code,
        }
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
}
