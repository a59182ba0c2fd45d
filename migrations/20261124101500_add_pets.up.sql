CREATE TABLE pets (
    id INTEGER PRIMARY KEY,
    name VARCHAR(100),
    owner_id INTEGER REFERENCES owners(id)
);
CREATE INDEX pets_owner_id ON pets (owner_id);
