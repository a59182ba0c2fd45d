//! The `migrations!` macro's compile errors, pinned by trybuild: one case per
//! failure class in `ui-tests/fail/`, each with its fixture directory in
//! `ui-tests/fixtures/`, and the `.stderr` files as the specification of the
//! messages. Refresh with `TRYBUILD=overwrite cargo test --test it ui` and
//! review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui-tests/pass/*.rs");
    t.compile_fail("ui-tests/fail/*.rs");
}
