static MIGRATIONS: migcheck::Migrations = migcheck::migrations!("no/such/dir");

fn main() {}
