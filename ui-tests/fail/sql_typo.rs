// The statement is prepared on the database the good fixture's migrations make:
// `owners` has `id` and `email`.
const OWNERS: &str = migcheck::sql!("SELECT id, emial FROM owners WHERE id = ?1");

fn main() {
    let _ = OWNERS;
}
