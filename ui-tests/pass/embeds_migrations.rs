// The expansion is a `Migrations` usable in a static, and it applies.
static MIGRATIONS: migcheck::Migrations = migcheck::migrations!("ui-tests/fixtures/good/migrations");

fn main() {
    assert_eq!(MIGRATIONS.len(), 2);
    assert!(MIGRATIONS.get(1).unwrap().is_reversible());
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    let report = MIGRATIONS.upgrade(&mut conn).unwrap();
    assert_eq!(report.applied.len(), 2);
}
