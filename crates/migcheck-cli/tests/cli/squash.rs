//! `migcheck squash`: a baseline that gives what the migrations it replaces
//! give (schema and rows), proved by the check while their files are there,
//! used by fresh databases only, and still right once the files are deleted;
//! on SQLite files and on the real PostgreSQL server.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::run::{migcheck, text};
use rusqlite::Connection;

fn run_ok(root: &Path, args: &[&str]) -> String {
    let out = migcheck(root, args).output().unwrap();
    assert!(out.status.success(), "migcheck {args:?}: {}", text(&out));
    text(&out)
}

/// Five SQLite migrations: reference rows, AUTOINCREMENT with a deleted row,
/// a self reference, a generated column, a view over a view, a trigger
/// created before rows that must not fire it twice, and a rebuilt table.
const SQLITE_HISTORY: &[(&str, &str)] = &[
    (
        "1_kinds.up.sql",
        "CREATE TABLE kinds (code TEXT PRIMARY KEY, label TEXT NOT NULL);\n\
         INSERT INTO kinds VALUES ('dog', 'Dog'), ('cat', 'Cat');\n\
         CREATE TABLE owners (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);\n\
         INSERT INTO owners (name) VALUES ('ada'), ('bob');\n\
         DELETE FROM owners WHERE name = 'bob';\n",
    ),
    ("1_kinds.down.sql", "DROP TABLE owners;\nDROP TABLE kinds;\n"),
    (
        "2_pets.sql",
        "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners(id),\n\
         parent_id INTEGER REFERENCES pets(id), kind TEXT, name TEXT,\n\
         name_len INTEGER GENERATED ALWAYS AS (length(name)) VIRTUAL);\n\
         CREATE TABLE audit (what TEXT);\n\
         CREATE TRIGGER pets_audit AFTER INSERT ON pets BEGIN INSERT INTO audit VALUES (NEW.name); END;\n\
         INSERT INTO pets (id, owner_id, parent_id, kind, name) VALUES (2, 1, 1, 'dog', 'pup'), (1, 1, NULL, 'dog', 'rex');\n",
    ),
    (
        "3_views.sql",
        "CREATE VIEW z_all AS SELECT * FROM pets;\n\
         CREATE VIEW a_named AS SELECT name FROM z_all WHERE name IS NOT NULL;\n\
         CREATE INDEX pets_owner ON pets (owner_id);\n\
         INSERT INTO kinds VALUES ('fish', 'Fish');\n",
    ),
    (
        "4_rebuild.sql",
        "CREATE TABLE kinds_new (code TEXT PRIMARY KEY, label TEXT NOT NULL, legs INTEGER NOT NULL DEFAULT 4);\n\
         INSERT INTO kinds_new (code, label) SELECT code, label FROM kinds;\n\
         DROP TABLE kinds;\n\
         ALTER TABLE kinds_new RENAME TO kinds;\n",
    ),
    ("5_born.up.sql", "ALTER TABLE pets ADD COLUMN born TEXT;\nINSERT INTO owners (name) VALUES ('cy');\n"),
    ("5_born.down.sql", "DELETE FROM owners WHERE name = 'cy';\nALTER TABLE pets DROP COLUMN born;\n"),
];

fn sqlite_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir_all(&m).unwrap();
    for (name, sql) in SQLITE_HISTORY {
        fs::write(m.join(name), sql).unwrap();
    }
    dir
}

/// Everything a database holds but the history's timestamps: its schema
/// (as `sqlite_schema` has it, sorted) and every table's rows, sorted.
fn contents(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    let mut out = Vec::new();
    let mut stmt = conn.prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name").unwrap();
    let objects: Vec<(String, String, Option<String>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    for (kind, name, sql) in objects {
        out.push(format!("{kind} {name}: {}", sql.unwrap_or_default()));
        if kind != "table" {
            continue;
        }
        let columns = if name == "migcheck_history" { "version, name, checksum, chain" } else { "*" };
        let mut stmt = conn.prepare(&format!("SELECT {columns} FROM \"{name}\"")).unwrap();
        let width = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok((0..width).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        rows.sort();
        out.extend(rows.into_iter().map(|r| format!("  {r}")));
    }
    out.join("\n")
}

fn upgrade(root: &Path, db: &str, to: Option<i64>) -> Output {
    let url = format!("sqlite:{db}");
    let mut args = vec!["--database-url", url.as_str(), "upgrade"];
    let to = to.map(|v| v.to_string());
    if let Some(to) = &to {
        args.extend(["--to", to.as_str()]);
    }
    migcheck(root, &args).output().unwrap()
}

fn a_sqlite_squash_gives_a_fresh_database_what_the_history_gives_and_never_touches_older_ones() {
    let dir = sqlite_project();
    let root = dir.path();
    run_ok(root, &["lock"]);
    // Databases at every version before the squash, and the full replay.
    for v in 1..=5 {
        let out = upgrade(root, &format!("at{v}.db"), Some(v));
        assert!(out.status.success(), "{}", text(&out));
    }
    assert!(upgrade(root, "replay.db", None).status.success());
    let want = contents(&root.join("replay.db"));

    let out = run_ok(root, &["squash", "--to", "4", "-m", "first four"]);
    assert!(out.contains("4_first_four.baseline.sql (replaces migrations 1 to 4)"), "{out}");
    let baseline = fs::read_to_string(root.join("migrations/4_first_four.baseline.sql")).unwrap();
    assert!(baseline.contains("INSERT INTO \"kinds\""), "reference rows kept: {baseline}");
    assert!(!baseline.contains("name_len\") VALUES"), "generated columns are not inserted");
    let lock = fs::read_to_string(root.join("migrations/migrations.lock")).unwrap();
    assert!(lock.contains("\nbaseline 4 "), "{lock}");
    // Locked mode (CI) passes: the baseline is sealed and proved.
    let out = migcheck(root, &["check"]).env("MIGCHECK_LOCKED", "1").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // A fresh database runs the baseline, then migration 5; it records every
    // migration, and holds what the full replay holds.
    let out = upgrade(root, "fresh.db", None);
    assert!(text(&out).contains("applied 4 first_four"), "{}", text(&out));
    assert!(text(&out).contains("applied 5 born"), "{}", text(&out));
    assert_eq!(contents(&root.join("fresh.db")), want);
    // AUTOINCREMENT goes on where it stood (bob's id is not reused).
    let next = |db: &str| {
        let conn = Connection::open(root.join(db)).unwrap();
        conn.execute("INSERT INTO owners (name) VALUES ('dee')", []).unwrap();
        conn.query_row("SELECT id FROM owners WHERE name = 'dee'", [], |r| r.get::<_, i64>(0)).unwrap()
    };
    fs::copy(root.join("fresh.db"), root.join("fresh-copy.db")).unwrap();
    fs::copy(root.join("replay.db"), root.join("replay-copy.db")).unwrap();
    assert_eq!(next("fresh-copy.db"), next("replay-copy.db"));

    // Every database from before goes on from where it is, never running
    // the baseline, and ends up the same.
    for v in 0..=5 {
        let db = format!("at{v}.db");
        let out = upgrade(root, &db, None);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(text(&out).contains("first_four"), v == 0, "version {v}: {}", text(&out));
        let _ = fs::remove_file(root.join(format!("{db}.v{v}.bak")));
        assert_eq!(contents(&root.join(&db)), want, "from version {v}");
    }
    // A fresh database asked for a version before the baseline replays.
    let out = upgrade(root, "early.db", Some(2));
    assert!(!text(&out).contains("first_four") && out.status.success(), "{}", text(&out));

    // Edited by hand: the build's check says where and what.
    let path = root.join("migrations/4_first_four.baseline.sql");
    fs::write(&path, baseline.replace("('fish', 'Fish'", "('fish', 'Fishy'")).unwrap();
    let out = migcheck(root, &["check"]).output().unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("error[baseline-mismatch]: the baseline `4_first_four.baseline.sql` does not give what migrations 1 to 4 give"), "{shown}");
    assert!(shown.contains("missing from the baseline: (code = 'fish', label = 'Fish', legs = 4)"), "{shown}");
    assert!(shown.contains("error[sealed-edited]: the sealed baseline"), "{shown}");
    // Squashing again writes it back.
    run_ok(root, &["squash", "--to", "4", "-m", "first four"]);
    assert_eq!(fs::read_to_string(&path).unwrap(), baseline);
    run_ok(root, &["check"]);

    // The replaced files deleted: the check starts from the baseline, the
    // chain goes on through the lock's lines, fresh databases still work,
    // and a database part-way through is told what to do.
    for (name, _) in &SQLITE_HISTORY[..5] {
        fs::remove_file(root.join("migrations").join(name)).unwrap();
    }
    let out = migcheck(root, &["check"]).env("MIGCHECK_LOCKED", "1").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 migration checked: ok"), "{}", text(&out));
    run_ok(root, &["lock"]);
    assert_eq!(fs::read_to_string(root.join("migrations/migrations.lock")).unwrap(), lock, "the lock keeps its lines");
    let out = upgrade(root, "after.db", None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(contents(&root.join("after.db")), want);
    for db in ["at1.db", "at3.db", "at5.db", "fresh.db"] {
        let out = migcheck(root, &["--database-url", &format!("sqlite:{db}"), "status"]).output().unwrap();
        assert!(out.status.success(), "{db}: {}", text(&out));
    }
    run_ok(root, &["--database-url", "sqlite:part.db", "stamp", "2"]);
    let out = upgrade(root, "part.db", None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs migration 3 `views`, which was squashed into the baseline at 4"),
        "{}",
        text(&out)
    );
    // `--dry-run` shows the same plans.
    let out = run_ok(root, &["--database-url", "sqlite:dry.db", "upgrade", "--dry-run"]);
    assert!(
        out.contains("-- baseline 4 `first_four` (migrations/4_first_four.baseline.sql, replaces migrations 1 to 4)"),
        "{out}"
    );
    assert!(out.contains("-- migration 5 `born`") && !out.contains("-- migration 3"), "{out}");
    let out = migcheck(root, &["--database-url", "sqlite:part.db", "upgrade", "--dry-run"]).output().unwrap();
    assert!(text(&out).contains("needs migration 3 `views`"), "{}", text(&out));
    // Irreversible as it is: a downgrade past the baseline refuses.
    let out = migcheck(root, &["--database-url", "sqlite:after.db", "downgrade", "--to", "base"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("migration 4 `rebuild` is irreversible"), "{}", text(&out));
    // With a down that leaves an empty database, it reverts everything it
    // replaced at once; one that leaves something behind fails the check.
    let down = root.join("migrations/4_first_four.baseline.down.sql");
    fs::write(&down, "DROP VIEW a_named;\nDROP VIEW z_all;\nDROP TABLE pets;\nDROP TABLE audit;\nDROP TABLE owners;\n")
        .unwrap();
    let out = migcheck(root, &["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error[down-mismatch]: `4_first_four.baseline.down.sql` does not give back the empty database its baseline started from"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("kinds"), "{}", text(&out));
    fs::write(&down, "DROP VIEW a_named;\nDROP VIEW z_all;\nDROP TABLE pets;\nDROP TABLE audit;\nDROP TABLE owners;\nDROP TABLE kinds;\n").unwrap();
    let out = migcheck(root, &["check"]).output().unwrap();
    assert!(
        text(&out)
            .contains("warning[unsealed]: the baseline's down `4_first_four.baseline.down.sql` is not sealed yet"),
        "a new down is sealed like a new migration: {}",
        text(&out)
    );
    run_ok(root, &["lock"]);
    let out = migcheck(root, &["check"]).env("MIGCHECK_LOCKED", "1").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    fs::copy(root.join("after.db"), root.join("down.db")).unwrap();
    run_ok(root, &["--database-url", "sqlite:down.db", "downgrade", "--to", "base"]);
    let conn = Connection::open(root.join("down.db")).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name NOT IN ('migcheck_history', 'sqlite_sequence')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let rows: i64 = conn.query_row("SELECT count(*) FROM migcheck_history", [], |r| r.get(0)).unwrap();
    assert_eq!((left, rows), (0, 0));
    drop(conn);
    assert!(upgrade(root, "down.db", None).status.success());
    assert_eq!(contents(&root.join("down.db")), want);

    // History says which rows the baseline stands for.
    let out = run_ok(root, &["--database-url", "sqlite:after.db", "history"]);
    assert!(out.contains("squashed into 4_first_four.baseline.sql"), "{out}");

    // A partly deleted set of replaced files is refused.
    let dir = sqlite_project();
    run_ok(dir.path(), &["lock"]);
    run_ok(dir.path(), &["squash", "--to", "4"]);
    fs::remove_file(dir.path().join("migrations/2_pets.sql")).unwrap();
    let out = migcheck(dir.path(), &["check"]).output().unwrap();
    assert!(
        text(&out).contains("1 of the 4 migrations the baseline `4_baseline.baseline.sql` replaces were deleted"),
        "{}",
        text(&out)
    );
}

fn concurrent_upgrades_of_a_fresh_database_apply_the_baseline_once() {
    let dir = sqlite_project();
    let root = dir.path();
    run_ok(root, &["lock"]);
    run_ok(root, &["squash", "--to", "4"]);
    for round in 0..3 {
        let db = format!("race{round}.db");
        let children: Vec<_> = (0..4)
            .map(|_| {
                migcheck(root, &["--database-url", &format!("sqlite:{db}"), "upgrade"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        // Each either applied, found it done, or lost the race to the
        // first migrator and says to run again; a re-run finishes.
        for out in &outs {
            assert!(out.status.success() || text(out).contains("run the upgrade again"), "{}", text(out));
        }
        let baseline_runs = outs.iter().filter(|o| text(o).contains("applied 4 baseline")).count();
        assert_eq!(baseline_runs, 1, "round {round}");
        assert!(upgrade(root, &db, None).status.success());
        let conn = Connection::open(root.join(&db)).unwrap();
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM migcheck_history ORDER BY version")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(versions, [1, 2, 3, 4, 5]);
        let audit: i64 = conn.query_row("SELECT count(*) FROM audit", [], |r| r.get(0)).unwrap();
        assert_eq!(audit, 2, "the trigger's rows once, not fired again by the baseline's inserts");
    }
}

/// A PostgreSQL history: an enum, serial and identity columns, a sequence
/// of its own, a self reference, a generated column, arrays, a PL/pgSQL
/// trigger, a view and an expression index.
const PG_HISTORY: &[(&str, &str)] = &[
    (
        "1_init.sql",
        "CREATE TYPE mood AS ENUM ('happy', 'sad');\n\
         CREATE DOMAIN nick AS text DEFAULT 'x' NOT NULL CHECK (VALUE <> '');\n\
         CREATE TYPE spot AS (x int, y int, m mood);\n\
         CREATE TABLE owners (id serial PRIMARY KEY, name text NOT NULL UNIQUE, m mood, n nick, at spot);\n\
         CREATE TABLE pets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, owner_id int REFERENCES owners(id),\n\
           parent_id bigint REFERENCES pets(id), name text, tags text[], len int GENERATED ALWAYS AS (length(name)) STORED);\n\
         CREATE SEQUENCE invoice_no START 1000;\n\
         INSERT INTO owners (name, m, at) VALUES ('a', 'happy', ROW(1, 2, 'sad')), ('b', NULL, NULL);\n\
         INSERT INTO pets (owner_id, name, tags) VALUES (1, 'rex', '{x,y}');\n\
         INSERT INTO pets (owner_id, parent_id, name) VALUES (1, 1, 'pup');\n\
         SELECT nextval('invoice_no');\n",
    ),
    (
        "2_more.sql",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := lower(NEW.name); RETURN NEW; END $$;\n\
         CREATE TRIGGER pets_touch BEFORE INSERT ON pets FOR EACH ROW EXECUTE FUNCTION touch();\n\
         CREATE VIEW v_pets AS SELECT p.name, o.name AS owner FROM pets p JOIN owners o ON o.id = p.owner_id;\n\
         CREATE INDEX pets_name ON pets (lower(name));\n\
         INSERT INTO pets (owner_id, name) VALUES (2, 'Tom');\n",
    ),
    ("3_born.sql", "ALTER TABLE pets ADD COLUMN born date;\n"),
];

fn a_postgres_squash_gives_a_fresh_database_what_the_history_gives() {
    let server = crate::server();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = root.join("migrations");
    fs::create_dir_all(&m).unwrap();
    fs::write(
        m.join("migrations.lock"),
        "migcheck-lock 1\ndialect postgres\nchain 0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .unwrap();
    for (name, sql) in PG_HISTORY {
        fs::write(m.join(name), sql).unwrap();
    }
    let pg = |args: &[&str]| {
        let out = migcheck(root, args).env("MIGCHECK_SCRATCH_URL", &server).output().unwrap();
        assert!(out.status.success(), "migcheck {args:?}: {}", text(&out));
        text(&out)
    };
    pg(&["lock"]);
    let base = server.rsplit_once('/').unwrap().0.to_owned();
    let suffix = std::process::id();
    let databases: Vec<String> =
        ["at0", "at1", "replay", "fresh", "tenants"].iter().map(|n| format!("squash_{n}_{suffix}")).collect();
    let admin = |sql: &str| {
        let out = Command::new("/usr/lib/postgresql/15/bin/psql").args([server.as_str(), "-qAtc", sql]).output();
        match out {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            Err(e) => panic!("psql: {e}"),
        }
    };
    for db in &databases {
        admin(&format!("DROP DATABASE IF EXISTS {db}"));
        admin(&format!("CREATE DATABASE {db}"));
    }
    let url = |db: &str| format!("{base}/{db}");
    pg(&["--database-url", &url(&databases[1]), "upgrade", "--to", "1"]);
    pg(&["--database-url", &url(&databases[2]), "upgrade"]);
    // Tenants as schemas: one empty, one migrated to 1 before the squash.
    let tenants = url(&databases[4]);
    let psql = |url: &str, sql: &str| {
        let out = Command::new("/usr/lib/postgresql/15/bin/psql").args([url, "-qAtc", sql]).output().unwrap();
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    psql(&tenants, "CREATE SCHEMA t_a; CREATE SCHEMA t_b;");
    pg(&["--database-url", &tenants, "upgrade", "--each-schema", "t_b", "--to", "1"]);
    pg(&["squash", "--to", "2"]);
    let out = pg(&["--database-url", &url(&databases[3]), "upgrade"]);
    assert!(out.contains("applied 2 baseline"), "{out}");
    for db in &databases[..2] {
        let out = pg(&["--database-url", &url(db), "upgrade"]);
        assert_eq!(out.contains("applied 2 baseline"), db == &databases[0], "{out}");
    }
    let schema = |db: &str| pg(&["--database-url", &url(db), "schema"]);
    let rows = |db: &str| {
        let sql = "SELECT string_agg(t::text, ';' ORDER BY t::text) FROM (\
                   SELECT format('%s|%s|%s|%s|%s', id, owner_id, parent_id, name, tags) AS t FROM pets \
                   UNION ALL SELECT format('%s|%s|%s|%s|%s', id, name, m, n, at) FROM owners \
                   UNION ALL SELECT 'next ' || nextval('owners_id_seq') || ' ' || nextval('invoice_no') \
                   UNION ALL SELECT version || ' ' || name || ' ' || chain FROM migcheck_history) s";
        let out =
            Command::new("/usr/lib/postgresql/15/bin/psql").args([url(db).as_str(), "-qAtc", sql]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (want_schema, want_rows) = (schema(&databases[2]), rows(&databases[2]));
    assert!(want_rows.contains("3|2||tom|") && want_rows.contains("1|a|happy|x|(1,2,sad)"), "{want_rows}");
    for db in [&databases[0], &databases[1], &databases[3]] {
        assert_eq!(schema(db), want_schema, "{db}");
        assert_eq!(rows(db), want_rows, "{db}");
    }
    // Each tenant schema gets what the history gives, in its own schema.
    pg(&["--database-url", &tenants, "upgrade", "--each-schema", "t_%"]);
    let tenant = |schema: &str| {
        psql(
            &tenants,
            &format!(
                "SET search_path = {schema}; SELECT (SELECT string_agg(format('%s|%s|%s|%s', id, owner_id, name, tags), ';' ORDER BY id) FROM pets) \
                 || ' ' || (SELECT count(*) FROM pg_indexes WHERE schemaname = '{schema}' AND indexname = 'pets_name') \
                 || ' ' || (SELECT count(*) FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND g.tgname = 'pets_touch') \
                 || ' ' || nextval('owners_id_seq') || ' ' || (SELECT string_agg(version::text, ',' ORDER BY version) FROM migcheck_history)"
            ),
        )
    };
    let (a, b) = (tenant("t_a"), tenant("t_b"));
    assert_eq!(a, b);
    assert_eq!(a, "1|1|rex|{x,y};2|1|pup|;3|2|tom| 1 1 3 1,2,3");
    assert_eq!(psql(&tenants, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0", "nothing in public");

    // Edited by hand: the check fails and says what differs.
    let path = m.join("2_baseline.baseline.sql");
    let text_before = fs::read_to_string(&path).unwrap();
    fs::write(&path, text_before.replace("CREATE INDEX pets_name", "-- CREATE INDEX pets_name")).unwrap();
    let out = migcheck(root, &["check"]).env("MIGCHECK_SCRATCH_URL", &server).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("error[baseline-mismatch]"), "{}", text(&out));
    assert!(text(&out).contains("pets_name"), "{}", text(&out));
    for db in &databases {
        admin(&format!("DROP DATABASE IF EXISTS {db}"));
    }
}

/// Full-text tables: their shadow tables come from their own CREATE, an
/// external-content index is rebuilt from its table, a regular one keeps its
/// rowids; STRICT and WITHOUT ROWID tables keep their rows.
fn a_sqlite_squash_keeps_full_text_indexes_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("migrations")).unwrap();
    fs::write(
        root.join("migrations/1_search.sql"),
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);\n\
         CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');\n\
         INSERT INTO docs VALUES (1, 'hello world'), (5, 'other words');\n\
         INSERT INTO docs_fts (docs_fts) VALUES ('rebuild');\n\
         CREATE VIRTUAL TABLE notes USING fts5(title, body);\n\
         INSERT INTO notes (rowid, title, body) VALUES (7, 'a', 'alpha beta'), (9, 'b', 'gamma');\n\
         CREATE TABLE s (id INTEGER PRIMARY KEY, x TEXT) STRICT;\n\
         CREATE TABLE w (k TEXT PRIMARY KEY, v) WITHOUT ROWID;\n\
         INSERT INTO s VALUES (1, 'x');\n\
         INSERT INTO w VALUES ('a', 1);\n\
         CREATE TABLE log (id INTEGER PRIMARY KEY, at TEXT DEFAULT CURRENT_TIMESTAMP, what TEXT);\n\
         INSERT INTO log (id, what) VALUES (1, 'made');\n",
    )
    .unwrap();
    fs::write(root.join("migrations/2_later.sql"), "CREATE TABLE later (x);\n").unwrap();
    run_ok(root, &["lock"]);
    run_ok(root, &["squash", "--to", "1"]);
    let baseline = fs::read_to_string(root.join("migrations/1_baseline.baseline.sql")).unwrap();
    assert!(!baseline.contains("docs_fts_data"), "shadow tables are the virtual table's own: {baseline}");
    assert!(baseline.contains("INSERT INTO \"docs_fts\" (\"docs_fts\") VALUES ('rebuild');"), "{baseline}");
    // The clock has moved on since the squash: a `DEFAULT CURRENT_TIMESTAMP`
    // value differs, and is not a mismatch; any other value is.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = migcheck(root, &["check"]).env("MIGCHECK_LOCKED", "1").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let path = root.join("migrations/1_baseline.baseline.sql");
    fs::write(&path, baseline.replace("'made'", "'done'")).unwrap();
    let out = migcheck(root, &["check"]).output().unwrap();
    assert!(text(&out).contains("table `log`: the migrations leave 1 row, the baseline 1"), "{}", text(&out));
    fs::write(&path, &baseline).unwrap();
    assert!(upgrade(root, "fresh.db", None).status.success());
    let conn = Connection::open(root.join("fresh.db")).unwrap();
    let hits = |sql: &str| -> Vec<i64> {
        conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(hits("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'words'"), [5]);
    assert_eq!(hits("SELECT rowid FROM notes WHERE notes MATCH 'gamma'"), [9]);
    assert_eq!(hits("SELECT count(*) FROM s JOIN w"), [1]);
}

/// Every file under `dir`, with its bytes: what a refused squash must leave
/// as it found it.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// Text holding a NUL byte is written as its bytes; once the replaced files
/// are deleted, a squash further is refused with what to do, and changes
/// nothing: the check, and an upgrade, go on from the first baseline.
fn a_squash_after_the_files_were_deleted_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let m = root.join("migrations");
    fs::create_dir_all(&m).unwrap();
    fs::write(m.join("1_t.sql"), "CREATE TABLE t (v TEXT);\nINSERT INTO t VALUES ('a' || char(0) || 'b');\n").unwrap();
    fs::write(m.join("2_u.sql"), "CREATE TABLE u (id INTEGER);\n").unwrap();
    fs::write(m.join("3_w.sql"), "ALTER TABLE u ADD COLUMN w TEXT;\n").unwrap();
    run_ok(root, &["lock"]);
    run_ok(root, &["squash", "--to", "2"]);
    let out = upgrade(root, "fresh.db", None);
    assert!(out.status.success(), "{}", text(&out));
    let conn = Connection::open(root.join("fresh.db")).unwrap();
    let bytes: String = conn.query_row("SELECT hex(v) FROM t", [], |r| r.get(0)).unwrap();
    assert_eq!(bytes, "610062", "the text keeps its NUL byte");

    fs::remove_file(m.join("1_t.sql")).unwrap();
    fs::remove_file(m.join("2_u.sql")).unwrap();
    // show, explain and schema --at start from the baseline.
    let shown = run_ok(root, &["show", "3"]);
    assert!(shown.contains("column `w` TEXT added") && !shown.contains("table `u` added"), "{shown}");
    let explained = run_ok(root, &["explain", "3"]);
    assert!(explained.contains("ALTER TABLE u ADD COLUMN w TEXT"), "{explained}");
    let at2 = run_ok(root, &["schema", "--at", "2"]);
    assert!(at2.contains("CREATE TABLE u") && !at2.contains("w TEXT"), "{at2}");
    let at0 = run_ok(root, &["schema", "--at", "0"]);
    assert!(!at0.contains("CREATE TABLE"), "0 is base: {at0}");
    let out = migcheck(root, &["schema", "--at", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("version 1 was squashed into the baseline at 2"), "{}", text(&out));
    let before = files(&m);
    let out = migcheck(root, &["squash", "--to", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("were deleted after they were squashed into `2_baseline.baseline.sql`"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("nothing was changed"), "{}", text(&out));
    assert!(files(&m) == before, "a refused squash changes no file");
    run_ok(root, &["check"]);
    let out = upgrade(root, "other.db", None);
    assert!(out.status.success(), "{}", text(&out));
    let out = upgrade(root, "fresh.db", None);
    assert!(out.status.success(), "{}", text(&out));
}

/// On PostgreSQL the baseline writes what the comparison sees: row-level
/// security and its policies, comments, grants, a column's collation,
/// UNLOGGED and storage parameters; what it cannot write yet (a partitioned
/// table, inheritance) stops the squash before anything changes, naming it.
fn a_postgres_squash_writes_what_it_compares_or_changes_nothing() {
    let server = crate::server();
    let project = |first: &str| {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("migrations");
        fs::create_dir_all(&m).unwrap();
        fs::write(
            m.join("migrations.lock"),
            "migcheck-lock 1\ndialect postgres\nchain 0000000000000000000000000000000000000000000000000000000000000000\n",
        )
        .unwrap();
        fs::write(m.join("1_first.sql"), first).unwrap();
        fs::write(m.join("2_notes.sql"), "CREATE TABLE notes (id int);\n").unwrap();
        dir
    };
    let pg = |root: &Path, args: &[&str]| migcheck(root, args).env("MIGCHECK_SCRATCH_URL", &server).output().unwrap();
    let secured = project(
        "CREATE TABLE docs (id int PRIMARY KEY, title text COLLATE \"C\", owner text) WITH (fillfactor = 80);\n\
         COMMENT ON TABLE docs IS 'documents';\nCOMMENT ON COLUMN docs.title IS 'the title';\n\
         ALTER TABLE docs ENABLE ROW LEVEL SECURITY;\nALTER TABLE docs FORCE ROW LEVEL SECURITY;\n\
         CREATE POLICY docs_owner ON docs USING (owner = current_user);\n\
         GRANT SELECT ON docs TO PUBLIC;\nREVOKE TRUNCATE ON docs FROM CURRENT_USER;\n\
         CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);\n\
         INSERT INTO docs VALUES (1, 'a', 'x');\n",
    );
    let root = secured.path();
    for args in [&["lock"][..], &["squash", "--to", "1"]] {
        let out = pg(root, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let baseline = fs::read_to_string(root.join("migrations/1_baseline.baseline.sql")).unwrap();
    for written in [
        "ALTER TABLE docs ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE docs FORCE ROW LEVEL SECURITY",
        "CREATE POLICY docs_owner ON docs",
        "COMMENT ON COLUMN docs.title IS 'the title'",
        "GRANT SELECT ON TABLE docs TO PUBLIC",
        "REVOKE TRUNCATE ON TABLE docs FROM CURRENT_USER",
        "\"title\" text COLLATE \"C\"",
        "CREATE UNLOGGED TABLE \"cache\"",
        "WITH (fillfactor=80)",
    ] {
        assert!(baseline.contains(written), "{written}:\n{baseline}");
    }

    // Partitions (nested, with an index and a key on the parent, a foreign
    // key to it), inheritance and a range type are written.
    let parted = project(
        "CREATE TABLE events (id int PRIMARY KEY, at date, kind text CHECK (kind <> '')) PARTITION BY RANGE (id);\n\
         CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100);\n\
         CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);\n\
         CREATE TABLE events_high_a PARTITION OF events_high FOR VALUES FROM (100) TO (150);\n\
         CREATE INDEX events_at ON events (at);\n\
         INSERT INTO events VALUES (1, '2024-01-01', 'x'), (120, '2024-01-02', 'a');\n\
         CREATE TABLE base (id int NOT NULL, CHECK (id > 0));\nCREATE TABLE child (x int) INHERITS (base);\n\
         INSERT INTO base VALUES (1);\nINSERT INTO child VALUES (2, 3);\n\
         CREATE TYPE span AS RANGE (subtype = float8, subtype_diff = float8mi);\n\
         CREATE TABLE slots (s span);\nCREATE TABLE event_refs (event_id int REFERENCES events);\n",
    );
    let root = parted.path();
    for args in [&["lock"][..], &["squash", "--to", "1"]] {
        let out = pg(root, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let baseline = fs::read_to_string(root.join("migrations/1_baseline.baseline.sql")).unwrap();
    for written in [
        "ALTER TABLE ONLY events ATTACH PARTITION \"events_low\" FOR VALUES FROM (0) TO (100)",
        ") INHERITS (base)",
        "CREATE TYPE span AS RANGE (subtype = double precision, subtype_diff = float8mi",
        "INSERT INTO \"events_low\"",
    ] {
        assert!(baseline.contains(written), "{written}:\n{baseline}");
    }
    assert!(!baseline.contains("LANGUAGE internal"), "a range's own functions come with it:\n{baseline}");

    // What a baseline does not write yet stops the squash, naming it.
    let stats = project("CREATE TABLE t (a int, b int);\nCREATE STATISTICS t_ab (dependencies) ON a, b FROM t;\n");
    let root = stats.path();
    let out = pg(root, &["lock"]);
    assert!(out.status.success(), "{}", text(&out));
    let before = files(&root.join("migrations"));
    let out = pg(root, &["squash", "--to", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for said in ["cannot write a baseline", "statistics `t_ab`", "nothing was changed"] {
        assert!(text(&out).contains(said), "{said}: {}", text(&out));
    }
    assert!(!text(&out).contains("created"), "{}", text(&out));
    assert!(files(&root.join("migrations")) == before, "a refused squash changes no file");
    let out = pg(root, &["check"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// This file's tests, for the binary's `main`.
pub fn trials() -> Vec<libtest_mimic::Trial> {
    let mut trials = crate::tests![
        a_sqlite_squash_gives_a_fresh_database_what_the_history_gives_and_never_touches_older_ones,
        concurrent_upgrades_of_a_fresh_database_apply_the_baseline_once,
        a_sqlite_squash_keeps_full_text_indexes_searchable,
        a_squash_after_the_files_were_deleted_changes_nothing,
    ];
    trials.extend(crate::postgres_tests![
        a_postgres_squash_gives_a_fresh_database_what_the_history_gives,
        a_postgres_squash_writes_what_it_compares_or_changes_nothing,
    ]);
    trials
}
