//! `refinery-runner DIR DATABASE [COUNT]`: applies the refinery migrations in
//! DIR with refinery's own `Runner` (`load_sql_migrations`, one transaction
//! per migration, its `refinery_schema_history` table) to DATABASE (a SQLite
//! file, or a `postgres://` URL), all pending ones or up to the COUNT-th, and
//! prints each migration it applied (`V<version>__<name>`), in order.

use refinery::{Migration, Runner, Target};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(database)) = (args.next(), args.next()) else {
        eprintln!("usage: refinery-runner DIR DATABASE [COUNT]");
        std::process::exit(2);
    };
    let count: Option<usize> = args.next().map(|c| c.parse().expect("COUNT is a number"));
    let mut migrations: Vec<Migration> =
        refinery::load_sql_migrations(&dir).unwrap_or_else(|e| fail(format!("reading {dir}: {e}")));
    migrations.sort();
    let mut runner = Runner::new(&migrations);
    if let Some(count) = count {
        // Up to the COUNT-th migration in refinery's own order.
        let Some(last) = migrations.get(count.saturating_sub(1)) else {
            fail(format!("only {} migrations", migrations.len()))
        };
        runner = runner.set_target(Target::Version(last.version()));
    }
    let report = if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let mut client = postgres::Client::connect(&database, postgres::NoTls).unwrap_or_else(|e| fail(e.to_string()));
        runner.run(&mut client)
    } else {
        let mut conn = rusqlite::Connection::open(&database).unwrap_or_else(|e| fail(e.to_string()));
        runner.run(&mut conn)
    };
    match report {
        Ok(report) => {
            for m in report.applied_migrations() {
                println!("V{}__{}", m.version(), m.name());
            }
        }
        Err(e) => {
            if let Some(report) = e.report() {
                for m in report.applied_migrations() {
                    println!("V{}__{}", m.version(), m.name());
                }
            }
            fail(e.to_string());
        }
    }
}

fn fail(message: String) -> ! {
    eprintln!("refinery: {message}");
    std::process::exit(1);
}
