//! `diesel-runner DIR DATABASE [COUNT]`: applies the diesel migrations in DIR
//! with diesel_migrations' own harness (`FileBasedMigrations`,
//! `MigrationHarness`) to DATABASE (a SQLite file, or a `postgres://` URL),
//! all pending ones or the next COUNT, and prints the name of each migration
//! it applied, in the order it applied them.

use diesel::Connection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(database)) = (args.next(), args.next()) else {
        eprintln!("usage: diesel-runner DIR DATABASE [COUNT]");
        std::process::exit(2);
    };
    let count: Option<usize> = args.next().map(|c| c.parse().expect("COUNT is a number"));
    let migrations = FileBasedMigrations::from_path(&dir).unwrap_or_else(|e| fail(format!("reading {dir}: {e}")));
    let applied = if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        let mut conn = PgConnection::establish(&database).unwrap_or_else(|e| fail(e.to_string()));
        run(&mut conn, migrations, count)
    } else {
        let mut conn = SqliteConnection::establish(&database).unwrap_or_else(|e| fail(e.to_string()));
        run(&mut conn, migrations, count)
    };
    for name in applied {
        println!("{name}");
    }
}

fn run<C: MigrationHarness<B>, B: diesel::backend::Backend>(
    conn: &mut C,
    migrations: FileBasedMigrations,
    count: Option<usize>,
) -> Vec<String> {
    // The harness's own list and order (`run_pending_migrations` runs these).
    let pending = conn.pending_migrations(migrations).unwrap_or_else(|e| fail(e.to_string()));
    let mut done = Vec::new();
    for m in pending.iter().take(count.unwrap_or(usize::MAX)) {
        if let Err(e) = conn.run_migration(m.as_ref()) {
            for name in &done {
                println!("{name}");
            }
            fail(format!("{}: {e}", m.name()));
        }
        done.push(m.name().to_string());
    }
    done
}

fn fail(message: String) -> ! {
    eprintln!("diesel: {message}");
    std::process::exit(1);
}
