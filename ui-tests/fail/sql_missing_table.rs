// The migrations create `pets`, not `pet`; the error spans lines of the statement.
const PETS: &str = migcheck::sql!(
    "SELECT id
     FROM pet
     WHERE owner_id = :owner",
    owner
);

fn main() {
    let _ = PETS;
}
