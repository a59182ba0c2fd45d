// `sql!` is the statement itself; `statement!` adds what the database knows of it.
static MIGRATIONS: migcheck::Migrations = migcheck::migrations!("ui-tests/fixtures/good/migrations");

const INSERT: &str = migcheck::sql!("INSERT INTO owners (id, email) VALUES (:id, :email)", id, email);
const BY_EMAIL: migcheck::Statement = migcheck::statement!(
    r#"SELECT id, email AS "address" FROM owners WHERE email = ?1"#,
    1
);
// A row mapping that reads two columns, checked when the crate compiles.
const _: () = assert!(BY_EMAIL.columns.len() == 2);

fn main() {
    assert_eq!(BY_EMAIL.columns, ["id", "address"]);
    assert_eq!(BY_EMAIL.parameters, ["?1"]);
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    MIGRATIONS.upgrade(&mut conn).unwrap();
    conn.execute(INSERT, rusqlite::named_params! { ":id": 7, ":email": "ada@example.com" }).unwrap();
    let id: i64 = conn.query_row(BY_EMAIL.sql, ["ada@example.com"], |r| r.get(0)).unwrap();
    assert_eq!(id, 7);
}
