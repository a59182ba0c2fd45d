//! The `migrations!` macro's compile errors, pinned by trybuild: one case per
//! failure class in `ui-tests/fail/`, each with its fixture directory in
//! `ui-tests/fixtures/`, and the `.stderr` files as the specification of the
//! messages. Refresh with `TRYBUILD=overwrite cargo test --test it ui` and
//! review the diff.

use std::path::Path;

#[test]
fn ui() {
    // The macro resolves its path against the crate that calls it, and trybuild's
    // crate lives in `<target>/tests/trybuild/migcheck`: the cases name their
    // fixtures `../../../../ui-tests/...`, which only works with the target
    // directory at the workspace root.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let parent = Path::new(&target).canonicalize().ok().and_then(|t| t.parent().map(Path::to_path_buf));
        assert_eq!(
            parent.as_deref(),
            root.canonicalize().ok().as_deref(),
            "the ui tests need the target directory at the workspace root: unset CARGO_TARGET_DIR or set it to {}",
            root.join("target").display()
        );
    }
    let t = trybuild::TestCases::new();
    t.pass("ui-tests/pass/*.rs");
    t.compile_fail("ui-tests/fail/*.rs");
}
