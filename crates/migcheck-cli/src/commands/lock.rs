//! `migcheck lock`: seal the migrations in `migrations.lock`.

use migcheck_core::seal;

use super::common::{config, plural};
use crate::context::Context;
use crate::error::{Failure, Result};
use crate::exit;
use crate::output::print_diagnostics;

/// `migcheck lock`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Also re-seal edited or deleted sealed migrations and rewrite a corrupt lock.
    #[arg(long)]
    pub force: bool,

    /// Also record in the lock the findings of the sealed migrations that the team accepts: every warning,
    /// and a released migration's down that does not undo its up. The build then reports them as accepted,
    /// and again as found if what is found changes.
    #[arg(long)]
    pub accept: bool,
}

/// Runs `migcheck lock`.
pub fn run(ctx: &Context, args: &Args) -> Result<u8> {
    let force = args.force;
    match seal::seal_accepting(&config(ctx, true)?, force, args.accept) {
        Ok(sealed) => {
            if !sealed.written {
                println!("{} is up to date", sealed.lock_path.display());
            } else {
                let mut parts = Vec::new();
                for (n, what) in [
                    (sealed.added.len(), "sealed"),
                    (sealed.resealed.len(), "re-sealed"),
                    (sealed.removed.len(), "removed"),
                ] {
                    if n > 0 {
                        parts.push(format!("{what} {n} migration{}", plural(n)));
                    }
                }
                if args.accept {
                    parts.push(format!("{} accepted finding{}", sealed.accepted, plural(sealed.accepted)));
                }
                if parts.is_empty() {
                    parts.push("rewrote the lock".into());
                }
                println!("{}: {}", sealed.lock_path.display(), parts.join(", "));
            }
            Ok(exit::OK)
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            eprintln!("error: nothing was sealed");
            Err(Failure::Reported(exit::ERROR))
        }
    }
}
