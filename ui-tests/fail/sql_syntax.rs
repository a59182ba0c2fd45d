const Q: &str = migcheck::sql!(r#"SELEC "id" FROM pets"#);

fn main() {
    let _ = Q;
}
