//! Seals a migrations directory until the `migcheck` CLI is installed:
//! `cargo run -p migcheck-build --example lock -- migrations [--force]`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let force = args.iter().any(|a| a == "--force");
    let dir = args.iter().find(|a| !a.starts_with("--")).map_or("migrations", String::as_str);
    let result = if force { migcheck_build::lock_force(dir) } else { migcheck_build::lock(dir) };
    match result {
        Ok(sealed) if sealed.written => {
            println!(
                "sealed {}: {} new, {} re-sealed, {} removed",
                sealed.lock_path.display(),
                sealed.added.len(),
                sealed.resealed.len(),
                sealed.removed.len()
            );
            ExitCode::SUCCESS
        }
        Ok(sealed) => {
            println!("{} is up to date", sealed.lock_path.display());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}
