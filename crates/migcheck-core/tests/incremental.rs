//! A check that starts from the cached scratch database reports exactly what
//! a cold check reports, over random histories: append, edit unsealed, edit
//! sealed, delete, reorder, re-seal.

use std::fs;
use std::path::Path;

use migcheck_core::check::{Report, check};

use migcheck_core::config::Config;
use migcheck_core::seal::seal;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Everything a user sees, without the cache flag.
fn view(r: &Report) -> String {
    let mut out = String::new();
    for d in &r.diagnostics {
        out.push_str(&d.render());
        out.push('\n');
    }
    for m in &r.migrations {
        out.push_str(&format!(
            "{} {} {} {} {:?} {:?} {:?}\n",
            m.version,
            m.description,
            m.sealed,
            migcheck_core::checksum::to_hex(&m.chain),
            (m.up.mode, &m.up.sql),
            m.down.as_ref().map(|d| (d.mode, &d.sql)),
            m.up.file.text.len()
        ));
    }
    out.push_str(&format!("{:?}\n{:?}\n", r.schema, r.executed));
    out
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

fn migration_sql(rng: &mut Rng, n: usize) -> (String, Option<String>) {
    match rng.below(15) {
        0..=5 => (
            format!("CREATE TABLE t{n} (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t{n} (v) VALUES ('a;b');"),
            Some(format!("DROP TABLE t{n};")),
        ),
        6 | 7 => (
            format!("CREATE TABLE IF NOT EXISTS t0 (id INTEGER PRIMARY KEY);\nALTER TABLE t0 ADD COLUMN c{n} INTEGER;"),
            None,
        ),
        8 | 9 => (
            format!("CREATE TABLE IF NOT EXISTS t0 (id INTEGER PRIMARY KEY);\nCREATE INDEX i{n} ON t0 (id);"),
            Some(format!("DROP INDEX i{n};")),
        ),
        10 => (format!("SELECT * FROM missing_{n};"), None),
        11 if n.is_multiple_of(2) => (
            format!(
                "-- migcheck: no-transaction\nPRAGMA foreign_keys = OFF;\nCREATE TABLE p{n} (id INTEGER PRIMARY KEY, q REFERENCES nowhere(id));\nPRAGMA foreign_keys = ON;"
            ),
            None,
        ),
        // Files whose reading the memo keeps (or must not keep): their own
        // transaction, a shell command (a warning each build), no statement.
        12 => (format!("BEGIN;\nCREATE TABLE b{n} (x);\nCOMMIT;"), Some(format!("DROP TABLE b{n};"))),
        13 => (format!(".headers on\nCREATE TABLE h{n} (x);"), None),
        14 => ("-- nothing yet\n".to_owned(), Some("-- nothing\n".to_owned())),
        _ => (format!("CREATE TABLE u{n} (x);"), Some("SELECT 1;".to_owned())),
    }
}

#[test]
fn incremental_reports_equal_cold_reports() {
    let mut from_cache = 0;
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("migrations");
        fs::create_dir(&dir).unwrap();
        let cold_config = Config::new(&dir);
        let mut warm_config = Config::new(&dir);
        warm_config.cache_dir = Some(tmp.path().join("out"));
        let mut next = 1;
        for step in 0..16 {
            let names = files(&dir);
            let op = rng.below(12);
            match op {
                0..=4 => {
                    let (up, down) = migration_sql(&mut rng, next);
                    match down {
                        Some(down) => {
                            fs::write(dir.join(format!("{next}_m.up.sql")), up).unwrap();
                            fs::write(dir.join(format!("{next}_m.down.sql")), down).unwrap();
                        }
                        None => fs::write(dir.join(format!("{next}_m.sql")), up).unwrap(),
                    }
                    next += 1;
                }
                5 | 6 if !names.is_empty() => {
                    let name = &names[rng.below(names.len())];
                    let text = fs::read_to_string(dir.join(name)).unwrap();
                    fs::write(dir.join(name), format!("{text}\n-- edited {step}")).unwrap();
                }
                7 if !names.is_empty() => {
                    let name = &names[rng.below(names.len())];
                    fs::remove_file(dir.join(name)).unwrap();
                }
                8 if !names.is_empty() => {
                    let name = &names[rng.below(names.len())];
                    let rest = name.split_once('_').unwrap().1;
                    let _ = fs::rename(dir.join(name), dir.join(format!("{}_{rest}", 1000 + step)));
                }
                _ => {
                    let _ = seal(&cold_config, rng.below(3) == 0);
                }
            }
            let cold = check(&cold_config);
            let warm = check(&warm_config);
            from_cache += usize::from(warm.from_cache);
            assert!(!cold.from_cache);
            assert_eq!(view(&warm), view(&cold), "seed {seed}, step {step}, op {op}, files {:?}", files(&dir));
        }
    }
    assert!(from_cache >= 30, "the cache was used only {from_cache} times: the test proves little");
}

#[test]
fn a_corrupt_or_foreign_cache_is_ignored_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("1_a.sql"), "CREATE TABLE a (x);").unwrap();
    fs::write(dir.join("2_b.sql"), "CREATE TABLE b (x);").unwrap();
    let mut config = Config::new(&dir);
    config.cache_dir = Some(tmp.path().join("out"));
    seal(&config, false).unwrap();
    fs::write(dir.join("3_c.sql"), "CREATE TABLE c (x);").unwrap();
    assert!(!check(&config).from_cache, "first run is cold");
    let cache = migcheck_core::engine::sqlite::cache::path(config.cache_dir.as_ref().unwrap());
    let good = check(&config);
    assert!(good.from_cache);
    let bytes = fs::read(&cache).unwrap();
    let flipped = |at: usize| {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        b
    };
    let broken = [
        b"garbage".to_vec(),
        bytes[..bytes.len() / 2].to_vec(),
        bytes[1..].to_vec(),
        flipped(0),
        flipped(100),
        flipped(130),
        flipped(bytes.len() / 2),
        flipped(bytes.len() - 30),
        flipped(bytes.len() - 1),
    ];
    for broken in broken {
        fs::write(&cache, broken).unwrap();
        let report = check(&config);
        assert!(!report.from_cache);
        assert_eq!(view(&report), view(&good));
        assert!(check(&config).from_cache, "rebuilt");
    }
}
