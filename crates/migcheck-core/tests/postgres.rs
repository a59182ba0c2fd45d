//! The build-time check of PostgreSQL-dialect migrations on a real server:
//! `MIGCHECK_TEST_PG_URL`, or one started from `scripts/pg-start` when
//! PostgreSQL is installed (`migcheck_test_support::pg`). Without either, the tests
//! that need it are reported as ignored, with the reason; in CI they fail.
//! (libtest-mimic, `harness = false`, so that "ignored" is decided at run time.)

use migcheck_test_support::pg;

mod oracle;

use libtest_mimic::{Arguments, Trial};

use std::fs;

use migcheck_core::check::{Report, check};

use migcheck_core::config::Config;
use migcheck_core::diagnostic::{Kind, Severity};
use migcheck_core::engine::postgres::wire::{Client, PgUrl};
use migcheck_core::model::Dialect;

/// The tests look at every scratch database on the server: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scratch_databases(url: &str) -> Vec<String> {
    let mut c = Client::connect(&PgUrl::parse(url).unwrap()).unwrap();
    c.query("SELECT datname FROM pg_database WHERE datname LIKE 'migcheck\\_scratch\\_%' ORDER BY 1")
        .unwrap()
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

fn run(url: Option<&str>, files: &[(&str, &str)], schema: Option<&str>) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir(&m).unwrap();
    for (name, text) in files {
        fs::write(m.join(name), text).unwrap();
    }
    if let Some(schema) = schema {
        fs::write(dir.path().join("schema.sql"), schema).unwrap();
    }
    let mut config = Config::new(&m);
    config.dialect = Some(Dialect::Postgres);
    config.postgres_scratch = url.map(str::to_owned);
    check(&config)
}

const OWNERS_UP: &str = "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL);\n";
const PETS_UP: &str = "CREATE TABLE pets (\n    id BIGSERIAL PRIMARY KEY,\n    owner_id BIGINT REFERENCES owners(id) ON DELETE CASCADE\n);\n\
                       CREATE FUNCTION pet_count() RETURNS bigint AS $$ SELECT count(*) FROM pets; $$ LANGUAGE sql;\n";

fn good() -> Vec<(&'static str, &'static str)> {
    vec![
        ("1_owners.up.sql", OWNERS_UP),
        ("1_owners.down.sql", "DROP TABLE owners;"),
        ("2_pets.up.sql", PETS_UP),
        ("2_pets.down.sql", "DROP FUNCTION pet_count();\nDROP TABLE pets;"),
        ("3_index.up.sql", "-- migcheck: no-transaction\nCREATE INDEX CONCURRENTLY pets_owner ON pets (owner_id);\n"),
        ("3_index.down.sql", "DROP INDEX pets_owner;"),
    ]
}

fn errors(r: &Report) -> Vec<String> {
    r.errors().map(|d| d.render()).collect()
}

fn good_postgres_migrations_pass_and_match_their_schema(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let url = url.to_owned();
    let schema = format!("{OWNERS_UP}{PETS_UP}CREATE INDEX pets_owner ON pets (owner_id);\n");
    let r = run(Some(&url), &good(), Some(&schema));
    assert!(r.executed);
    assert!(errors(&r).is_empty(), "{:#?}", errors(&r));
    assert!(scratch_databases(&url).is_empty(), "scratch databases are dropped");
}

fn errors_point_at_postgres_positions_and_scratch_databases_are_dropped(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let url = url.to_owned();
    let mut files = good();
    files.push(("4_typo.sql", "CREATE TABLE toys (id BIGSERIAL PRIMARY KEY);\n\nSELECT nmae FROM owners;\n"));
    let r = run(Some(&url), &files, None);
    let e = r.errors().next().expect("an error");
    assert_eq!(e.kind, Kind::SqlError);
    assert_eq!(e.location.as_ref().unwrap().line_column, Some((3, 8)), "{}", e.render());
    assert!(e.render().contains("column \"nmae\" does not exist"), "{}", e.render());
    assert!(scratch_databases(&url).is_empty(), "dropped after a failure too");

    let mut files = good();
    files[5] = ("3_index.down.sql", "SELECT 1;");
    let r = run(Some(&url), &files, None);
    let e = r.errors().next().expect("an error");
    assert_eq!(e.kind, Kind::IrreversibleDown, "{}", e.render());
    assert!(
        e.render().contains("index `pets_owner`: in the schema after the down, not in the schema before the up"),
        "{}",
        e.render()
    );

    let r = run(Some(&url), &good(), Some(&format!("{OWNERS_UP}CREATE TABLE extra (x INT);")));
    let e = r.errors().next().expect("drift");
    assert_eq!(e.kind, Kind::Drift);
    let text = e.render();
    assert!(text.contains("table `extra`: in schema.sql, not in the migrations"), "{text}");
    assert!(text.contains("function `pet_count()`: in the migrations, not in schema.sql"), "{text}");
    assert!(scratch_databases(&url).is_empty());
}

/// The down check compares what PostgreSQL compares: two constraints whose
/// `table.constraint` keys share their first 63 bytes stay apart (a
/// migration that touches neither passes, every time), a function the down
/// puts back with other indentation and comments is the same function, a
/// view holding `'now'::timestamp` is not a new view a second later; a body
/// that really differs is shown at its first differing line.
fn the_comparison_sees_what_postgres_sees(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let long = "a_table_with_a_name_long_enough_to_push_keys_past_the_limit";
    let body = |indent: &str, comment: &str| {
        format!(
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$\nBEGIN\n{indent}NEW.at := now();{comment}\n{indent}RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n"
        )
    };
    let files = [
        (
            "1_long.sql".to_owned(),
            format!(
                "CREATE TABLE {long} (x int, y int,\n  CONSTRAINT {long}_x_positive_check CHECK (x > 0),\n  CONSTRAINT {long}_y_positive_check CHECK (y > 0));\n\
                 CREATE TABLE events (at timestamp);\n{}",
                body("  ", "")
            ),
        ),
        (
            "2_touch.up.sql".to_owned(),
            format!(
                "{}CREATE VIEW recent AS SELECT at FROM events WHERE at > 'now'::timestamp;\n",
                body("    ", " -- the clock")
            ),
        ),
        ("2_touch.down.sql".to_owned(), format!("DROP VIEW recent;\n{}", body("\t", ""))),
    ];
    // schema.sql makes the view on another database, later: its frozen
    // time is another.
    let schema = format!("{}{}", files[0].1, files[1].1);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    for _ in 0..3 {
        let r = run(Some(url), &files, Some(&schema));
        assert!(r.executed);
        assert!(errors(&r).is_empty(), "{:#?}", errors(&r));
    }
    let mut wrong = files.clone();
    let other = body("  ", "").replace("RETURN NEW;", "RETURN NULL;");
    wrong[2] = ("2_touch.down.sql", &other);
    let r = run(Some(url), &wrong, None);
    let e = r.errors().next().expect("a down that puts back another body");
    assert_eq!(e.kind, Kind::IrreversibleDown, "{}", e.render());
    assert!(e.render().contains("they differ from line 7: `RETURN NEW;`"), "{}", e.render());
}

/// An index a failed `CREATE INDEX CONCURRENTLY` left INVALID is not the
/// index the migrations make: the live drift check reports it.
fn an_invalid_index_is_drift(url: &str) {
    let admin = PgUrl::parse(url).unwrap();
    let name = format!("migcheck_invalid_{}", std::process::id());
    let mut c = Client::connect(&admin).unwrap();
    c.query(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    c.query(&format!("CREATE DATABASE {name}")).unwrap();
    let mut db = Client::connect(&admin.with_database(&name)).unwrap();
    db.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (1);").unwrap();
    let valid = migcheck_core::engine::postgres::snapshot(&mut db).unwrap();
    assert!(db.query("CREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x)").is_err());
    let invalid = migcheck_core::engine::postgres::snapshot(&mut db).unwrap();
    db.query("DELETE FROM t WHERE ctid NOT IN (SELECT min(ctid) FROM t)").unwrap();
    db.query("DROP INDEX t_x").unwrap();
    db.query("CREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x)").unwrap();
    let rebuilt = migcheck_core::engine::postgres::snapshot(&mut db).unwrap();
    drop(db);
    c.query(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
    let found = migcheck_core::engine::postgres::diff(&rebuilt, &invalid, "its migrations", "the live database");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("index `t_x`") && found[0].contains("INVALID"), "{found:?}");
    assert!(migcheck_core::engine::postgres::diff(&valid, &rebuilt, "a", "b").iter().all(|d| d.contains("t_x")));
}

/// The safe NOT NULL recipe (a CHECK added NOT VALID, validated, then SET
/// NOT NULL) breaks the running release's NULL writes at its first step,
/// and only there: the last step changes nothing for it.
fn the_safe_not_null_recipe_is_flagged_where_writes_start_failing(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lock = "SET lock_timeout = '5s';\n";
    let files = [
        ("1_t.sql", "CREATE TABLE t (id int PRIMARY KEY, n int);\n".to_owned()),
        ("2_check.sql", format!("{lock}ALTER TABLE t ADD CONSTRAINT t_n_nn CHECK (n IS NOT NULL) NOT VALID;\n")),
        ("3_validate.sql", format!("{lock}ALTER TABLE t VALIDATE CONSTRAINT t_n_nn;\n")),
        (
            "4_set.sql",
            format!("{lock}ALTER TABLE t ALTER COLUMN n SET NOT NULL;\nALTER TABLE t DROP CONSTRAINT t_n_nn;\n"),
        ),
    ];
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let r = run(Some(url), &files, None);
    let breaking: Vec<Option<i64>> =
        r.diagnostics.iter().filter(|d| d.kind == Kind::BreakingChange).map(|d| d.version).collect();
    assert_eq!(breaking, [Some(2)], "{:#?}", r.diagnostics);
}

/// The row writer never ends the check: a type it cannot make a value of
/// (an extension's, `ltree`) leaves its table without rows, and the check
/// goes on; a column whose CHECK lists its values gets those.
fn tables_the_row_writer_cannot_fill_do_not_stop_the_check(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let files = [
        (
            "1_paths.sql",
            "CREATE EXTENSION IF NOT EXISTS ltree;\nCREATE TABLE paths (id serial PRIMARY KEY, path ltree NOT NULL);\n\
             CREATE TABLE orders (id serial PRIMARY KEY, status text NOT NULL CHECK (status IN ('new', 'paid')));\n",
        ),
        (
            "2_more.sql",
            "ALTER TABLE paths ADD COLUMN depth int;\nUPDATE orders SET status = 'paid' WHERE status = 'new';\n",
        ),
        ("3_typo.sql", "SELECT nmae FROM orders;\n"),
    ];
    let r = run(Some(url), &files, None);
    let errors = errors(&r);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("column \"nmae\" does not exist"), "the check reached the last file: {errors:#?}");
    assert!(!errors[0].contains("MIGCHECK_SCRATCH_URL"), "{errors:#?}");
}

fn without_a_scratch_server_the_sql_is_not_run_and_the_build_says_so() {
    let r = run(None, &good(), None);
    assert!(!r.executed);
    let kinds: Vec<(Kind, Severity)> = r.diagnostics.iter().map(|d| (d.kind, d.severity)).collect();
    assert!(kinds.contains(&(Kind::NotExecuted, Severity::Warning)), "{kinds:?}");
    assert!(!r.has_errors());
}

/// Each `sslmode` against the test server's certificate (made by
/// `scripts/pg-start` for the name `localhost` only, signed by its own CA), a Unix socket given as
/// libpq and sqlx take it, and a wrong password.
fn connects_with_each_sslmode_over_a_socket_and_refuses_a_wrong_password(url: &str) {
    let url = url.to_owned();
    let show = |c: &mut Client, what: &str| c.query(&format!("SHOW {what}")).unwrap()[0][0].clone().unwrap();
    let mut plain = Client::connect(&PgUrl::parse(&url).unwrap()).unwrap();
    if show(&mut plain, "ssl") != "on" {
        assert!(std::env::var_os("CI").is_none(), "CI's server must have TLS on: scripts/pg-start needs openssl");
        eprintln!("SKIPPED: the server has no TLS");
        return;
    }
    let cert = std::path::Path::new(&show(&mut plain, "data_directory")).join("root.crt");
    let socket = show(&mut plain, "unix_socket_directories");
    let port = show(&mut plain, "port");
    let (base, _) = url.split_once('?').unwrap_or((&url, ""));
    let with = |query: &str| format!("{base}?{query}");
    let encrypted = |url: &str| -> Result<String, String> {
        let mut c = Client::connect(&PgUrl::parse(url).unwrap()).map_err(|e| e.to_string())?;
        let rows = c.query("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()").unwrap();
        Ok(rows[0][0].clone().unwrap())
    };
    let cert = cert.display();
    assert_eq!(encrypted(&with("sslmode=require")).unwrap(), "true");
    assert_eq!(encrypted(&with("sslmode=prefer")).unwrap(), "true");
    assert_eq!(encrypted(&with("sslmode=disable")).unwrap(), "false");
    assert_eq!(encrypted(&with(&format!("sslmode=verify-ca&sslrootcert={cert}"))).unwrap(), "true");
    let err = encrypted(&with(&format!("sslmode=verify-full&sslrootcert={cert}"))).unwrap_err();
    assert!(err.contains("TLS") && err.contains("not valid for name"), "127.0.0.1 is not in the certificate: {err}");
    let localhost = base.replace("127.0.0.1", "localhost");
    assert_eq!(encrypted(&format!("{localhost}?sslmode=verify-full&sslrootcert={cert}")).unwrap(), "true");
    let err = encrypted(&format!("{localhost}?sslmode=verify-full")).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "a self-signed certificate is not in the public roots: {err}");

    let over_socket = format!("postgres:///postgres?host={socket}&port={port}&user=postgres");
    assert_eq!(encrypted(&over_socket).unwrap(), "false", "a Unix socket is not encrypted");

    let wrong = base.replacen(":migcheck-test@", ":wrong@", 1);
    assert_ne!(wrong, base, "the test server's password is in its URL");
    let err = encrypted(&wrong).unwrap_err();
    assert!(err.contains("password authentication failed"), "{err}");
}

/// Repeat checks start from a template of the sealed migrations' database
/// kept on the server; a template dropped by someone else means a cold check,
/// with the same result; at most a few templates stay.
fn repeat_checks_start_from_a_template_on_the_server(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir(&m).unwrap();
    for (name, text) in good() {
        fs::write(m.join(name), text).unwrap();
    }
    fs::write(m.join("migrations.lock"), format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)))
        .unwrap();
    let mut config = Config::new(&m);
    config.postgres_scratch = Some(url.to_owned());
    config.cache_dir = Some(dir.path().join("out"));
    migcheck_core::seal::seal(&config, false).unwrap_or_else(|d| panic!("{}", d[0].render()));
    let templates = || -> Vec<String> {
        let mut c = Client::connect(&PgUrl::parse(url).unwrap()).unwrap();
        c.query("SELECT datname FROM pg_database WHERE datname LIKE 'migcheck\\_tpl\\_%'")
            .unwrap()
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect()
    };
    // An earlier run of this test left this history's template: start cold.
    let mut admin = Client::connect(&PgUrl::parse(url).unwrap()).unwrap();
    for t in templates() {
        admin.query(&format!("DROP DATABASE \"{t}\"")).unwrap();
    }
    let cold = check(&config);
    assert!(!cold.has_errors() && !cold.from_cache, "{:?}", errors(&cold));
    fs::write(m.join("9_more.sql"), "CREATE TABLE more (id bigint PRIMARY KEY REFERENCES owners (id));\n").unwrap();
    let warm = check(&config);
    assert!(warm.from_cache, "the second check starts from the template");
    assert_eq!(errors(&warm), errors(&cold));
    assert_eq!(warm.migrations.len(), cold.migrations.len() + 1);

    for t in templates() {
        admin.query(&format!("DROP DATABASE \"{t}\"")).unwrap();
    }
    let again = check(&config);
    assert!(!again.from_cache && !again.has_errors(), "a dropped template means a cold check: {:?}", errors(&again));
    assert_eq!(templates().len(), 1, "the cold check kept a template again");
    assert!(templates().len() <= 4);
    assert!(scratch_databases(url).is_empty(), "scratch databases are dropped: {:?}", scratch_databases(url));
}

/// The scratch database is bounded on PostgreSQL too: a database grown past
/// the limit, and temporary files past it, are `scratch-limit` errors.
fn the_scratch_database_is_bounded(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for (sql, expected) in [
        (
            "CREATE TABLE big AS SELECT i, repeat(md5(i::text), 20) AS pad FROM generate_series(1, 200000) i;\n",
            "`2_big.sql` grows the scratch database past its size limit (32 MiB)",
        ),
        (
            "SELECT count(*) FROM (SELECT i, md5(i::text) m FROM generate_series(1, 3000000) i ORDER BY m) s;\n",
            "temporary file size exceeds temp_file_limit",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("migrations");
        fs::create_dir(&m).unwrap();
        fs::write(m.join("1_a.sql"), "CREATE TABLE a (id int);\n").unwrap();
        fs::write(m.join("2_big.sql"), sql).unwrap();
        let mut config = Config::new(&m);
        config.dialect = Some(Dialect::Postgres);
        config.postgres_scratch = Some(url.to_owned());
        config.scratch.size_limit = 32 << 20;
        let report = check(&config);
        let err = report.errors().next().unwrap_or_else(|| panic!("{sql}: no error"));
        assert_eq!(err.kind, Kind::ScratchLimit, "{}", err.render());
        assert!(err.render().contains(expected), "{}", err.render());
    }
    assert!(scratch_databases(url).is_empty());
}

/// What the deployment creates outside the migrations (an extension) comes
/// from the prelude, on every scratch database, the drift check's too.
fn the_prelude_runs_before_the_first_migration(url: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir(&m).unwrap();
    fs::write(m.join("1_docs.sql"), "CREATE TABLE docs (id serial PRIMARY KEY, body text);\n").unwrap();
    fs::write(m.join("2_trgm.sql"), "CREATE INDEX docs_trgm ON docs USING gin (body gin_trgm_ops);\n").unwrap();
    let mut config = Config::new(&m);
    config.dialect = Some(Dialect::Postgres);
    config.postgres_scratch = Some(url.to_owned());
    let without = check(&config);
    assert!(
        errors(&without).iter().any(|e| e.contains("operator class \"gin_trgm_ops\" does not exist")),
        "{:?}",
        errors(&without)
    );
    fs::write(dir.path().join("prelude.sql"), "CREATE EXTENSION IF NOT EXISTS pg_trgm;\n").unwrap();
    fs::write(
        dir.path().join("schema.sql"),
        "CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE TABLE docs (id serial PRIMARY KEY, body text);\n\
         CREATE INDEX docs_trgm ON docs USING gin (body gin_trgm_ops);\n",
    )
    .unwrap();
    let with = check(&config);
    assert!(!with.has_errors(), "{:?}", errors(&with));
    fs::write(dir.path().join("prelude.sql"), "CREATE EXTENSION no_such_extension;\n").unwrap();
    let broken = check(&config);
    let err = broken.errors().next().unwrap().render();
    assert!(err.contains("--> prelude.sql:1:1") && err.contains("is the prelude"), "{err}");
}

fn main() {
    let args = Arguments::from_args();
    let server = pg::server();
    if let Err(why) = &server {
        eprintln!("PostgreSQL tests ignored: {why}");
    }
    let on_server = |name: &str, test: fn(&str), needs_tls: bool| {
        let url = server.clone().ok();
        let ignored = url.is_none() || (needs_tls && !cfg!(feature = "tls"));
        Trial::test(name, move || {
            test(url.as_deref().unwrap_or_default());
            Ok(())
        })
        .with_ignored_flag(ignored)
    };
    let trials = vec![
        on_server(
            "good_postgres_migrations_pass_and_match_their_schema",
            good_postgres_migrations_pass_and_match_their_schema,
            false,
        ),
        on_server(
            "errors_point_at_postgres_positions_and_scratch_databases_are_dropped",
            errors_point_at_postgres_positions_and_scratch_databases_are_dropped,
            false,
        ),
        on_server("the_scratch_database_is_bounded", the_scratch_database_is_bounded, false),
        on_server("the_comparison_sees_what_postgres_sees", the_comparison_sees_what_postgres_sees, false),
        on_server("an_invalid_index_is_drift", an_invalid_index_is_drift, false),
        on_server(
            "the_safe_not_null_recipe_is_flagged_where_writes_start_failing",
            the_safe_not_null_recipe_is_flagged_where_writes_start_failing,
            false,
        ),
        {
            // pg_dump comes with the server's installation; in CI, missing it fails.
            let found = oracle::pg_dump().is_some();
            assert!(found || std::env::var_os("CI").is_none(), "CI must run the pg_dump oracle: no pg_dump");
            let trial =
                on_server("the_comparison_agrees_with_pg_dump", oracle::the_comparison_agrees_with_pg_dump, false);
            if found { trial } else { trial.with_ignored_flag(true) }
        },
        on_server(
            "tables_the_row_writer_cannot_fill_do_not_stop_the_check",
            tables_the_row_writer_cannot_fill_do_not_stop_the_check,
            false,
        ),
        on_server("the_prelude_runs_before_the_first_migration", the_prelude_runs_before_the_first_migration, false),
        on_server(
            "repeat_checks_start_from_a_template_on_the_server",
            repeat_checks_start_from_a_template_on_the_server,
            false,
        ),
        // Needs migcheck-core's `tls` feature (on in `cargo test --workspace`).
        on_server(
            "connects_with_each_sslmode_over_a_socket_and_refuses_a_wrong_password",
            connects_with_each_sslmode_over_a_socket_and_refuses_a_wrong_password,
            true,
        ),
        Trial::test("without_a_scratch_server_the_sql_is_not_run_and_the_build_says_so", || {
            without_a_scratch_server_the_sql_is_not_run_and_the_build_says_so();
            Ok(())
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}
