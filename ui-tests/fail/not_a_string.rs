static MIGRATIONS: migcheck::Migrations = migcheck::migrations!(migrations);

fn main() {}
