//! The `migrations!` macro's compile errors, pinned by trybuild: one case per
//! failure class in `ui-tests/fail/`, each with its fixture directory in
//! `ui-tests/fixtures/`, and the `.stderr` files as the specification of the
//! messages. Refresh with `TRYBUILD=overwrite cargo test -p migcheck-ui-tests` and
//! review the diff. The cases compile against this package's dependencies
//! only (the macro, and rusqlite for the case that applies the expansion).

use std::path::Path;

#[test]
fn ui() {
    // The macro resolves its path against the crate that calls it, and
    // trybuild's crate lives in `<target>/tests/trybuild/migcheck-ui-tests`:
    // the cases name their fixtures `ui-tests/...`, found through a link placed
    // there to this directory, wherever the target directory is.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory");
    let project = target.join("tests/trybuild/migcheck-ui-tests");
    std::fs::create_dir_all(&project).unwrap();
    // `migrations/` (and its `fixtures/`) too, for the case that calls the macro
    // with no argument.
    for name in ["ui-tests", "migrations", "fixtures"] {
        let link = project.join(name);
        if std::fs::read_link(&link).ok().as_deref() != Some(root.join(name).as_path()) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(root.join(name), &link).unwrap();
        }
    }
    // trybuild's compilers inherit this process's environment, and CI sets
    // `CI=true` (locked mode, where an unsealed migration is one more error):
    // every fixture is sealed so that the expected messages hold either way.
    for fixture in std::fs::read_dir(root.join("ui-tests/fixtures")).unwrap() {
        let migrations = fixture.unwrap().path().join("migrations");
        if migrations.is_dir() {
            assert!(
                migrations.join("migrations.lock").is_file(),
                "{} has no migrations.lock: seal it with `migcheck lock`",
                migrations.display()
            );
        }
    }
    // The `sql!` cases check their statements against the good fixture's
    // migrated database, kept and named as a build script's
    // `expose_database()` does.
    let mut config = migcheck_core::config::Config::new(root.join("ui-tests/fixtures/good/migrations"));
    config.keep_head = Some(target.join("tests/trybuild/migcheck-ui-tests-head"));
    let report = migcheck_core::check::check(&config);
    assert!(!report.has_errors(), "the good fixture fails its check: {:?}", report.diagnostics);
    let url = report.head_url.expect("the migrated database is kept");
    // SAFETY: the only test of this binary, set before trybuild starts the
    // compilers that inherit it; nothing else reads the environment here.
    unsafe { std::env::set_var("MIGCHECK_DATABASE_URL", url) };
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
