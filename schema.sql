-- The declared schema of the example application: `cargo build` checks that
-- the migrations in migrations/ produce exactly this (compared semantically).
CREATE TABLE owners (
    id INTEGER PRIMARY KEY,
    first_name VARCHAR(50) NOT NULL,
    last_name VARCHAR(50) NOT NULL,
    email VARCHAR(255) NOT NULL
);

CREATE TABLE pets (
    id INTEGER PRIMARY KEY,
    name VARCHAR(100),
    owner_id INTEGER REFERENCES owners(id)
);
CREATE INDEX pets_owner_id ON pets (owner_id);
