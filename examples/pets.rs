//! The example application: applies its embedded, build-checked migrations to a
//! SQLite file, then uses the schema they made.
//!
//! `cargo run --example pets -- pets.db`

use anyhow::Context as _;
use rusqlite::Connection;

static MIGRATIONS: migcheck::Migrations = migcheck::include_migrations!();

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "pets.db".to_owned());
    let mut conn = Connection::open(&path).with_context(|| format!("cannot open the database `{path}`"))?;

    let report = MIGRATIONS.upgrade(&mut conn).with_context(|| format!("cannot migrate `{path}`"))?;
    for m in &report.applied {
        println!("applied {} {} ({:.1?})", m.version, m.name, m.duration);
    }
    let current = MIGRATIONS.current(&conn)?.map_or_else(|| "none".to_owned(), |v| v.to_string());
    println!("{path} is at version {current} ({} migrations known)", MIGRATIONS.len());

    let owners: i64 = conn.query_row("SELECT count(*) FROM owners", [], |r| r.get(0))?;
    if owners == 0 {
        conn.execute(
            "INSERT INTO owners (first_name, last_name, email) VALUES ('Ada', 'Lovelace', 'ada@example.com')",
            [],
        )?;
        let owner = conn.last_insert_rowid();
        conn.execute("INSERT INTO pets (name, owner_id) VALUES ('Babbage', ?1)", [owner])?;
    }
    let mut stmt = conn.prepare(
        "SELECT pets.name, owners.first_name || ' ' || owners.last_name
         FROM pets JOIN owners ON owners.id = pets.owner_id ORDER BY pets.id",
    )?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (pet, owner) = row?;
        println!("{pet} belongs to {owner}");
    }
    Ok(())
}
