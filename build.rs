//! migcheck checks its own example migrations, as any user's crate would, for
//! this repository's example, tests and benches only (feature
//! `example-migrations`, turned on by the package's dev-dependency on itself):
//! an application that depends on migcheck compiles no checker here.
fn main() {
    #[cfg(feature = "example-migrations")]
    migcheck_build::Build::new().run();
    #[cfg(not(feature = "example-migrations"))]
    println!("cargo::rerun-if-changed=build.rs");
}
