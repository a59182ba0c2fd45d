// migcheck checks its own example migrations, as any user's crate would.
fn main() {
    migcheck_build::Build::new().run();
}
