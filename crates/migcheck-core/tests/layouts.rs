//! Other tools' migration directories, read in place: detected, ordered,
//! their no-transaction markers honoured, and applied to the same schema.

use std::fs;
use std::path::Path;

use migcheck_core::check::check;

use migcheck_core::config::Config;

use migcheck_core::diagnostic::Kind;
use migcheck_core::layout::detect;
use migcheck_core::model::Layout;
use migcheck_core::model::Mode;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

struct Expect {
    layout: Layout,
    versions: Vec<i64>,
    reversible: Vec<bool>,
    modes: Vec<Mode>,
    tables: Vec<&'static str>,
}

fn check_dir(files: &[(&str, &str)], expect: Expect) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).unwrap();
    write(&dir, files);
    assert_eq!(detect(&dir), expect.layout, "detected layout");
    let report = check(&Config::new(&dir));
    let errors: Vec<String> = report.errors().map(|d| d.render()).collect();
    assert!(errors.is_empty(), "{:?}: {errors:#?}", expect.layout);
    assert_eq!(report.layout, expect.layout);
    assert_eq!(report.migrations.iter().map(|m| m.version).collect::<Vec<_>>(), expect.versions);
    assert_eq!(report.migrations.iter().map(|m| m.down.is_some()).collect::<Vec<_>>(), expect.reversible);
    assert_eq!(report.migrations.iter().map(|m| m.up.mode).collect::<Vec<_>>(), expect.modes);
    let tables: Vec<String> = report
        .schema
        .as_ref()
        .unwrap()
        .rows
        .iter()
        .filter(|r| r.kind == migcheck_core::engine::sqlite::schema::ObjectKind::Table)
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(tables, expect.tables);
}

const T: Mode = Mode::Transaction;
const N: Mode = Mode::NoTransaction;

#[test]
fn diesel() {
    check_dir(
        &[
            ("00000000000000_diesel_initial_setup/up.sql", "CREATE TABLE setup (x);"),
            ("00000000000000_diesel_initial_setup/down.sql", "DROP TABLE setup;"),
            ("2017-11-24-215001_create_posts/up.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT);"),
            ("2017-11-24-215001_create_posts/down.sql", "DROP TABLE posts;"),
            (
                "2018-99-99-999999_odd_time/up.sql",
                "-- diesel allows odd times\nCREATE INDEX posts_title ON posts (title);",
            ),
            ("2018-99-99-999999_odd_time/down.sql", ""),
            ("2019-01-01-000000_vacuum/up.sql", "VACUUM;"),
            ("2019-01-01-000000_vacuum/down.sql", "-- nothing"),
            ("2019-01-01-000000_vacuum/metadata.toml", "run_in_transaction = false\n"),
            (".keep", ""),
            ("README.md", "notes"),
        ],
        Expect {
            layout: Layout::Diesel,
            versions: vec![0, 20171124215001, 20189999999999, 20190101000000],
            reversible: vec![true, true, false, false],
            modes: vec![T, T, T, N],
            tables: vec!["posts", "setup"],
        },
    );
}

/// diesel orders versions as strings: a first migration whose time has seven
/// digits runs before one with six that sorts after it, a five-digit time
/// sorts where its string does, and a directory may be named by its version
/// alone.
#[test]
fn diesel_orders_as_diesel_does() {
    check_dir(
        &[
            ("2023-03-01-1745356_initial/up.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);"),
            ("2023-03-01-1745356_initial/down.sql", "DROP TABLE users;"),
            (
                "2023-03-02-120000_posts/up.sql",
                "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id REFERENCES users);",
            ),
            ("2023-10-06-10000_drop_mmr/up.sql", "ALTER TABLE posts ADD COLUMN mmr INTEGER;"),
            ("2023-10-06-110000/up.sql", "CREATE INDEX posts_mmr ON posts (mmr);"),
            // A date alone sorts as diesel's string does: after 2023's.
            ("2024-03-13_users_cascade/up.sql", "CREATE INDEX posts_user ON posts (user_id);"),
        ],
        Expect {
            layout: Layout::Diesel,
            versions: vec![20230301174535, 20230302120000, 20231006100000, 20231006110000, 20240313000000],
            reversible: vec![true, false, false, false, false],
            modes: vec![T, T, T, T, T],
            tables: vec!["posts", "users"],
        },
    );
}

/// diesel 2.2 writes a hexadecimal subversion after the time, so that
/// migrations made in one second have versions of their own; older names in
/// the same directory sort before them, as diesel's strings do.
#[test]
fn diesel_subversions() {
    check_dir(
        &[
            ("2023-12-31-235959_old/up.sql", "CREATE TABLE old (x);"),
            ("2024-01-01-000000-0000_users/up.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);"),
            ("2024-01-01-000000-0000_users/down.sql", "DROP TABLE users;"),
            ("2024-01-01-000000-0001_posts/up.sql", "CREATE TABLE posts (id INTEGER PRIMARY KEY);"),
            ("2024-01-01-000000-000a_tags/up.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);"),
        ],
        Expect {
            layout: Layout::Diesel,
            versions: vec![20231231235959, 2024010100000000000, 2024010100000000001, 2024010100000000010],
            reversible: vec![false, true, false, false],
            modes: vec![T; 4],
            tables: vec!["old", "posts", "tags", "users"],
        },
    );
}

#[test]
fn refinery_and_flyway() {
    check_dir(
        &[
            ("V0__zero.sql", "CREATE TABLE zero (x);"),
            ("V1__init.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);"),
            ("U1__init.sql", "DROP TABLE users;"),
            ("V2__more.sql", "ALTER TABLE users ADD COLUMN name TEXT;"),
            ("V10__ten.sql", "CREATE TABLE ten (x);"),
            ("V9__nine.sql", "CREATE TABLE nine (x);"),
            ("V3__rust_migrations_are_ignored.rs", "fn main() {}"),
        ],
        Expect {
            layout: Layout::Refinery,
            versions: vec![0, 1, 2, 9, 10],
            reversible: vec![false, true, false, false, false],
            modes: vec![T; 5],
            tables: vec!["nine", "ten", "users", "zero"],
        },
    );
}

/// Flyway's versions may have parts (`V1_10__`, `V1.2__`), compared as
/// numbers one by one: 1.9 runs before 1.10, which runs before 2.
#[test]
fn flyway_dotted_versions() {
    check_dir(
        &[
            ("V1__init.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);"),
            ("V1_9__nine.sql", "CREATE TABLE nine (x);"),
            ("V1_10__ten.sql", "ALTER TABLE nine ADD COLUMN y;"),
            ("U1_10__ten.sql", "ALTER TABLE nine DROP COLUMN y;"),
            ("V1.11__eleven.sql", "CREATE INDEX nine_y ON nine (y);"),
            ("V2__two.sql", "DROP INDEX nine_y;"),
        ],
        Expect {
            layout: Layout::Refinery,
            versions: vec![1_0000_0000_0000, 1_0009_0000_0000, 1_0010_0000_0000, 1_0011_0000_0000, 2_0000_0000_0000],
            reversible: vec![false, false, true, false, false],
            modes: vec![T; 5],
            tables: vec!["nine", "users"],
        },
    );
}

#[test]
fn dbmate() {
    check_dir(
        &[
            (
                "20240101000000_create_users.sql",
                "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY);\n\n-- migrate:down\nDROP TABLE users;\n",
            ),
            ("20240102000000_vacuum.sql", "-- migrate:up transaction:false\nVACUUM;\n\n-- migrate:down\n"),
        ],
        Expect {
            layout: Layout::Dbmate,
            versions: vec![20240101000000, 20240102000000],
            reversible: vec![true, false],
            modes: vec![T, N],
            tables: vec!["users"],
        },
    );
}

#[test]
fn goose() {
    check_dir(
        &[
            (
                "00001_create_users.sql",
                "-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TRIGGER t AFTER INSERT ON users BEGIN SELECT 1; END;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE users;\n",
            ),
            ("9_nine.sql", "-- +goose Up\nCREATE TABLE nine (x);\n-- +goose Down\nDROP TABLE nine;\n"),
            ("10_ten.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nVACUUM;\n"),
        ],
        Expect {
            layout: Layout::Goose,
            versions: vec![1, 9, 10],
            reversible: vec![true, true, false],
            modes: vec![T, T, N],
            tables: vec!["nine", "users"],
        },
    );
}

/// goose's Go migrations: the check cannot run them, and says so; a
/// project gives an SQL stand-in (`stand-ins/<name>.sql`, which goose does
/// not read), run in its place.
#[test]
fn goose_go_migrations() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).unwrap();
    write(
        &dir,
        &[
            (
                "00001_users.sql",
                "-- +goose Up\nCREATE TABLE users (id INTEGER PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n",
            ),
            ("00002_add_email.go", "package migrations\n"),
            ("00002_add_email_test.go", "package migrations\n"),
            ("00003_index.sql", "-- +goose Up\nCREATE INDEX users_email ON users (email);\n"),
        ],
    );
    let report = check(&Config::new(&dir));
    let warning = report.warnings().find(|d| d.kind == Kind::NotExecuted).expect("the Go migration is said");
    assert_eq!(warning.version, Some(2));
    let shown = warning.render();
    assert!(shown.contains("`00002_add_email.go` is a Go migration"), "{shown}");
    assert!(shown.contains("stand-ins/00002_add_email.sql"), "{shown}");
    let error = report.errors().next().expect("the index needs the Go migration's column").render();
    assert!(error.contains("no such column: email"), "{error}");
    assert!(error.contains("the Go migration `00002_add_email.go` before it did not run here"), "{error}");

    write(
        &dir,
        &[(
            "stand-ins/00002_add_email.sql",
            "-- +goose Up\nALTER TABLE users ADD COLUMN email TEXT;\n-- +goose Down\nALTER TABLE users DROP COLUMN email;\n",
        )],
    );
    let report = check(&Config::new(&dir));
    let errors: Vec<String> = report.errors().map(|d| d.render()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(report.warnings().all(|d| d.kind != Kind::NotExecuted));
    let m = &report.migrations[1];
    assert_eq!((m.version, m.description.as_str(), m.down.is_some()), (2, "add_email", true));
    assert!(m.up.file.display.ends_with("migrations/stand-ins/00002_add_email.sql"), "{}", m.up.file.display);
}

#[test]
fn sql_migrate() {
    check_dir(
        &[
            (
                "1_init.sql",
                "-- +migrate Up\nCREATE TABLE people (id INTEGER PRIMARY KEY);\n-- +migrate Down\nDROP TABLE people;\n",
            ),
            ("2_vacuum.sql", "-- +migrate Up notransaction\nVACUUM;\n-- +migrate Down\n"),
        ],
        Expect {
            layout: Layout::SqlMigrate,
            versions: vec![1, 2],
            reversible: vec![true, false],
            modes: vec![T, N],
            tables: vec!["people"],
        },
    );
}

#[test]
fn golang_migrate_and_sqlx_are_the_native_layout() {
    check_dir(
        &[
            ("000001_create_users.up.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);"),
            ("000001_create_users.down.sql", "DROP TABLE users;"),
            ("000002_add_name.up.sql", "ALTER TABLE users ADD COLUMN name TEXT;"),
            ("000002_add_name.down.sql", "ALTER TABLE users DROP COLUMN name;"),
        ],
        Expect {
            layout: Layout::Native,
            versions: vec![1, 2],
            reversible: vec![true, true],
            modes: vec![T, T],
            tables: vec!["users"],
        },
    );
}

#[test]
fn messy_directories_are_errors_with_both_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).unwrap();
    write(
        &dir,
        &[("V1__a.sql", "SELECT 1;"), ("V01__b.sql", "SELECT 2;"), ("U7__orphan.sql", "SELECT 3;"), ("notes.sql", "x")],
    );
    let report = check(&Config::new(&dir));
    let text: Vec<String> = report.errors().map(|d| d.render()).collect();
    let kinds: Vec<Kind> = report.errors().map(|d| d.kind).collect();
    assert!(kinds.contains(&Kind::DuplicateVersion), "{text:#?}");
    assert!(text.iter().any(|t| t.contains("V01__b.sql") && t.contains("V1__a.sql")), "{text:#?}");
    assert!(text.iter().any(|t| t.contains("`U7__orphan.sql` undoes version 7")), "{text:#?}");
    assert!(
        text.iter()
            .any(|t| t.contains("`notes.sql` is not a migration name: expected `V<version>__<description>.sql`")),
        "{text:#?}"
    );

    let goose = tmp.path().join("goose");
    fs::create_dir(&goose).unwrap();
    write(&goose, &[("1_a.sql", "-- +goose Up\nSELECT 1;"), ("2_b.sql", "SELECT 2;")]);
    let text: Vec<String> = check(&Config::new(&goose)).errors().map(|d| d.render()).collect();
    assert!(text.iter().any(|t| t.contains("`2_b.sql`: no `-- +goose Up` line")), "{text:#?}");
}

#[test]
fn the_layout_can_be_set_and_sealed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).unwrap();
    write(&dir, &[("1_a.sql", "-- migrate:up\nCREATE TABLE a (x);\n-- migrate:down\nDROP TABLE a;\n")]);
    let mut config = Config::new(&dir);
    config.layout = Some(Layout::Dbmate);
    fs::write(dir.join("migrations.lock"), format!("migcheck-lock 1\nlayout dbmate\nchain {}\n", "0".repeat(64)))
        .unwrap();
    migcheck_core::seal::seal(&Config::new(&dir), false).unwrap();
    let lock = fs::read_to_string(dir.join("migrations.lock")).unwrap();
    assert!(lock.contains("\nlayout dbmate\n"), "{lock}");
    let report = check(&Config::new(&dir));
    assert!(!report.has_errors());
    assert_eq!(report.layout, Layout::Dbmate);
    assert!(report.migrations[0].sealed && report.migrations[0].down.is_some());
}

/// Every layout applies migcheck's entry rules: a link that leaves the
/// directory is refused, never followed.
#[cfg(unix)]
#[test]
fn links_out_of_the_directory_are_refused_in_every_layout() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.sql"), "CREATE TABLE secret (x);").unwrap();
    fs::create_dir(outside.path().join("2024-01-01-000000_elsewhere")).unwrap();
    fs::write(outside.path().join("2024-01-01-000000_elsewhere/up.sql"), "CREATE TABLE elsewhere (x);").unwrap();
    /// What the case is, its files, and the link it adds.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Box<dyn Fn(&Path) + 'a>);
    let cases: Vec<Case> = vec![
        (
            "goose",
            vec![("1_a.sql", "-- +goose Up\nCREATE TABLE a (x);\n-- +goose Down\nDROP TABLE a;\n")],
            Box::new(|dir: &Path| symlink(outside.path().join("secret.sql"), dir.join("2_b.sql")).unwrap()),
        ),
        (
            "diesel directory",
            vec![("2023-01-01-000000_a/up.sql", "CREATE TABLE a (x);")],
            Box::new(|dir: &Path| {
                symlink(outside.path().join("2024-01-01-000000_elsewhere"), dir.join("2024-01-01-000000_elsewhere"))
                    .unwrap()
            }),
        ),
        (
            "diesel up.sql",
            vec![("2023-01-01-000000_a/up.sql", "CREATE TABLE a (x);"), ("2024-01-01-000000_b/down.sql", "")],
            Box::new(|dir: &Path| {
                symlink(outside.path().join("secret.sql"), dir.join("2024-01-01-000000_b/up.sql")).unwrap()
            }),
        ),
    ];
    for (what, files, link) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        fs::create_dir(&dir).unwrap();
        write(&dir, &files);
        link(&dir);
        let report = check(&Config::new(&dir));
        let errors: Vec<String> = report.errors().map(|d| d.render()).collect();
        assert!(errors.iter().any(|e| e.contains("outside the migrations directory")), "{what}: {errors:#?}");
        assert!(
            report.migrations.iter().all(|m| !m.up.sql.contains("secret") && !m.up.sql.contains("elsewhere")),
            "{what}"
        );
    }
}

/// A project's own names, read by the lock's `layout custom <regex>`.
fn custom_dir(lock_line: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).unwrap();
    write(&dir, files);
    fs::write(dir.join("migrations.lock"), format!("migcheck-lock 1\n{lock_line}\nchain {}\n", "0".repeat(64)))
        .unwrap();
    (tmp, dir)
}

#[test]
fn a_custom_layout_orders_by_version_number_and_pairs_up_and_down() {
    let (_tmp, dir) = custom_dir(
        r"layout custom V(?<version>\d+)\.(?<description>\w+)\.(?<direction>up|down)\.sql",
        &[
            ("V0001.Initial_Schema.up.sql", "CREATE TABLE owners (id INTEGER PRIMARY KEY);"),
            ("V0001.Initial_Schema.down.sql", "DROP TABLE owners;"),
            // 10 after 2, as numbers (as names, `V0010` sorts before `V002`).
            ("V0010.Seed.up.sql", "INSERT INTO pets (owner) VALUES (NULL);"),
            ("V002.Add_Pets.up.sql", "CREATE TABLE pets (owner INTEGER REFERENCES owners);"),
            ("V002.Add_Pets.down.sql", "DROP TABLE pets;"),
            ("README.md", "not a migration"),
        ],
    );
    let report = check(&Config::new(&dir));
    let errors: Vec<String> = report.errors().map(|d| d.render()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report.layout, Layout::Custom);
    let read: Vec<(i64, &str, bool)> =
        report.migrations.iter().map(|m| (m.version, m.description.as_str(), m.down.is_some())).collect();
    assert_eq!(read, [(1, "Initial_Schema", true), (2, "Add_Pets", true), (10, "Seed", false)]);

    // Sealing keeps the pattern; a name it does not match fails the build.
    migcheck_core::seal::seal(&Config::new(&dir), false).unwrap();
    let lock = fs::read_to_string(dir.join("migrations.lock")).unwrap();
    assert!(
        lock.contains(r"layout custom V(?<version>\d+)\.(?<description>\w+)\.(?<direction>up|down)\.sql"),
        "{lock}"
    );
    write(&dir, &[("V0011_typo.up.sql", "SELECT 1;")]);
    let report = check(&Config::new(&dir));
    let error = report.errors().find(|d| d.kind == Kind::MalformedName).expect("a malformed name");
    assert!(error.render().contains("does not match the custom layout's pattern"), "{}", error.render());
}

#[test]
fn a_custom_layout_by_name_numbers_files_that_share_a_version_in_name_order() {
    let (_tmp, dir) = custom_dir(
        r"layout custom by-name (?<version>\d{8})_(?<description>[a-z_]+)\.sql",
        &[
            ("20240101_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY);"),
            ("20240101_users_index.sql", "CREATE INDEX users_id ON users (id);"),
            ("20240315_posts.sql", "CREATE TABLE posts (user_id INTEGER REFERENCES users);"),
        ],
    );
    let report = check(&Config::new(&dir));
    let errors: Vec<String> = report.errors().map(|d| d.render()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let read: Vec<(i64, &str)> = report.migrations.iter().map(|m| (m.version, m.description.as_str())).collect();
    assert_eq!(read, [(1, "users"), (2, "users_index"), (3, "posts")]);
}

#[test]
fn a_custom_layout_that_cannot_be_read_is_a_clear_error() {
    for (line, expect) in [
        ("layout custom", "needs a regex"),
        (r"layout custom (?<version>\d+", "does not compile"),
        (r"layout custom (?<v>\d+)\.sql", "group `v`"),
        (r"layout custom (?<description>\w+)\.sql", "needs a `(?<version>…)` group"),
    ] {
        let (_tmp, dir) = custom_dir(line, &[("1_a.sql", "SELECT 1;")]);
        let report = check(&Config::new(&dir));
        let error = report.errors().next().unwrap_or_else(|| panic!("{line}: no error"));
        assert_eq!(error.kind, Kind::LockCorrupt, "{line}");
        assert!(error.render().contains(expect), "{line}: {}", error.render());
    }
    let (_tmp, dir) = custom_dir(
        r"layout custom (?<version>\d+)_(?<direction>\w+)\.sql",
        &[("1_sideways.sql", "SELECT 1;"), ("2_down.sql", "SELECT 1;")],
    );
    let report = check(&Config::new(&dir));
    let rendered: Vec<String> = report.errors().map(|d| d.render()).collect();
    assert!(rendered.iter().any(|e| e.contains("direction `sideways`")), "{rendered:#?}");
    assert!(rendered.iter().any(|e| e.contains("`2_down.sql` has no up migration")), "{rendered:#?}");
}
