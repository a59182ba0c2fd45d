// The call says which parameters it binds; the statement's must match.
const BY_OWNER: &str = migcheck::sql!("SELECT id FROM pets WHERE owner_id = ?1 AND id = ?2", 1);
const NAMED: &str = migcheck::sql!("SELECT id FROM pets WHERE owner_id = :owner", onwer);
const UNBOUND: migcheck::Statement = migcheck::statement!("SELECT id FROM pets WHERE owner_id = :owner AND id = :id", owner);

fn main() {
    let _ = (BY_OWNER, NAMED, UNBOUND);
}
