// With no argument the macro reads `migrations/` of the package being built:
// here trybuild's generated package, where the test links this repository's
// example migrations as `migrations/`.
static MIGRATIONS: migcheck::Migrations = migcheck::migrations!();

fn main() {
    // The workspace's own example migrations: owners, then pets.
    assert_eq!(MIGRATIONS.iter().map(|m| m.name()).collect::<Vec<_>>(), ["create_owners", "add_pets"]);
}
