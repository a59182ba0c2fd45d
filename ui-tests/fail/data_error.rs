// trybuild compiles this in target/tests/trybuild/migcheck: the path climbs back to the workspace.
static MIGRATIONS: migcheck::Migrations = migcheck::migrations!("ui-tests/fixtures/data_error/migrations");

fn main() {}
