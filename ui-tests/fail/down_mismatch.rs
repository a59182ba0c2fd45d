// trybuild compiles this in target/tests/trybuild/migcheck-ui-tests: the path climbs back to the workspace.
static MIGRATIONS: migcheck::Migrations = migcheck::migrations!("ui-tests/fixtures/down_mismatch/migrations");

fn main() {}
