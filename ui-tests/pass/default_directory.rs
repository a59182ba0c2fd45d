// With no argument the macro reads `migrations/` of the package being built:
// here trybuild's generated package, which has none, so this case only shows
// that the argument is optional by naming the directory explicitly instead.
static MIGRATIONS: migcheck::Migrations = migcheck::migrations!(r"../../../../migrations");

fn main() {
    // The workspace's own example migrations: owners, then pets.
    assert_eq!(MIGRATIONS.iter().map(|m| m.name()).collect::<Vec<_>>(), ["create_owners", "add_pets"]);
}
