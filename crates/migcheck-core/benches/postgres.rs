//! The build-time check of PostgreSQL migrations on a real server, beside
//! itself in the same run: `cargo bench -p migcheck-core --bench postgres`.
//!
//! - 200 migrations, cold, with the deployment hazards measured (each up
//!   statement run alone, locks and storage read after it) against the same
//!   check with `MIGCHECK_TRACE=0` (goal: at most 1.3x);
//! - 1,000 sealed migrations and one appended: the repeat check, which starts
//!   from the template the first one left on the server, against the cold
//!   check (goal: at most 0.15x).
//!
//! The server is `MIGCHECK_TEST_PG_URL`, or one started with
//! `scripts/pg-start` (as the tests do); without one the benchmark says so
//! and ends.

use migcheck_test_support::pg;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use migcheck_core::check::check;

use migcheck_core::config::Config;

/// A PostgreSQL history of `n` migrations: tables with keys, foreign keys and
/// indexes, columns added with defaults, seed rows and backfills, concurrent
/// indexes in files of their own; one in five reversible.
fn generate(dir: &Path, n: usize) {
    fs::write(dir.join("migrations.lock"), format!("migcheck-lock 1\ndialect postgres\nchain {}\n", "0".repeat(64)))
        .unwrap();
    let mut tables: Vec<String> = Vec::new();
    for i in 1..=n {
        let (mut up, mut down) = (String::new(), None);
        match i % 10 {
            1 | 6 => {
                let t = format!("t{i}");
                let parent = tables.last().cloned();
                let _ = writeln!(
                    up,
                    "CREATE TABLE {t} (\n    id bigserial PRIMARY KEY,\n    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now(),"
                );
                if let Some(p) = &parent {
                    let _ = writeln!(up, "    {p}_id bigint REFERENCES {p} (id) ON DELETE CASCADE,");
                }
                let _ = writeln!(up, "    note text\n);\nCREATE INDEX {t}_name ON {t} (name);");
                let _ = writeln!(up, "INSERT INTO {t} (name) VALUES ('seed 1'), ('seed 2');");
                if i % 20 == 1 {
                    down = Some(format!("DROP TABLE {t};\n"));
                }
                tables.push(t);
            }
            2 | 4 | 7 | 9 => {
                let t = &tables[(i * 7) % tables.len()];
                let _ = writeln!(
                    up,
                    "SET lock_timeout = '5s';\nALTER TABLE {t} ADD COLUMN extra_{i} integer NOT NULL DEFAULT 0;"
                );
                if i % 3 == 0 {
                    down = Some(format!("ALTER TABLE {t} DROP COLUMN extra_{i};\n"));
                }
            }
            3 | 8 => {
                let t = &tables[(i * 13) % tables.len()];
                let _ = writeln!(
                    up,
                    "-- migcheck: no-transaction\nCREATE INDEX CONCURRENTLY {t}_created_{i} ON {t} (created_at, id);"
                );
                down = Some(format!("DROP INDEX {t}_created_{i};\n"));
            }
            5 => {
                let t = &tables[(i * 17) % tables.len()];
                let _ = writeln!(up, "UPDATE {t} SET note = 'n{i}' WHERE note IS NULL;");
            }
            _ => {
                let t = &tables[(i * 19) % tables.len()];
                let _ = writeln!(up, "INSERT INTO {t} (name, note) VALUES ('x{i}', 'it''s {i}');");
            }
        }
        let version = 20260000000000_i64 + i as i64;
        match down {
            Some(down) => {
                fs::write(dir.join(format!("{version}_m{i}.up.sql")), up).unwrap();
                fs::write(dir.join(format!("{version}_m{i}.down.sql")), down).unwrap();
            }
            None => fs::write(dir.join(format!("{version}_m{i}.sql")), up).unwrap(),
        }
    }
}

fn timed(config: &Config) -> (Duration, bool) {
    let start = Instant::now();
    let report = check(config);
    let elapsed = start.elapsed();
    assert!(!report.has_errors(), "{}", report.errors().next().unwrap().render());
    (elapsed, report.from_cache)
}

fn main() {
    let url = match pg::server() {
        Ok(url) => url,
        Err(why) => {
            println!("postgres benchmark skipped: {why}");
            return;
        }
    };
    println!("PostgreSQL build-time check (best of 3)");
    println!("{:>6} {:>12} {:>12} {:>7}   case", "N", "measured", "baseline", "ratio");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m200");
    fs::create_dir(&dir).unwrap();
    generate(&dir, 200);
    let mut on = Config::new(&dir);
    on.postgres_scratch = Some(url.clone());
    let mut off = on.clone();
    off.trace = false;
    let (mut traced, mut plain) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        traced = traced.min(timed(&on).0);
        plain = plain.min(timed(&off).0);
    }
    println!(
        "{:>6} {:>12} {:>12} {:>7.2}   cold, hazards measured vs not (MIGCHECK_TRACE=0; goal <= 1.30)",
        200,
        format!("{traced:.1?}"),
        format!("{plain:.1?}"),
        traced.as_secs_f64() / plain.as_secs_f64()
    );

    let dir = tmp.path().join("m1000");
    fs::create_dir(&dir).unwrap();
    generate(&dir, 1000);
    let mut config = Config::new(&dir);
    config.postgres_scratch = Some(url);
    config.cache_dir = Some(tmp.path().join("out"));
    migcheck_core::seal::seal(&config, false).unwrap_or_else(|d| panic!("{}", d[0].render()));
    let (mut cold, mut warm) = (Duration::MAX, Duration::MAX);
    for round in 0..3 {
        // A cold check: the templates of this history dropped first.
        let mut admin = migcheck_core::engine::postgres::wire::Client::connect(
            &migcheck_core::engine::postgres::wire::PgUrl::parse(config.postgres_scratch.as_deref().unwrap()).unwrap(),
        )
        .unwrap();
        for row in admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'migcheck\\_tpl\\_%'").unwrap() {
            let _ = admin.query(&format!("DROP DATABASE \"{}\"", row[0].clone().unwrap()));
        }
        let _ = fs::remove_file(dir.join("99990101000000_appended.sql"));
        let (t, from_cache) = timed(&config);
        assert!(!from_cache);
        cold = cold.min(t);
        fs::write(dir.join("99990101000000_appended.sql"), format!("CREATE TABLE appended_{round} (id bigint);\n"))
            .unwrap();
        let (t, from_cache) = timed(&config);
        assert!(from_cache, "the repeat check starts from the template");
        warm = warm.min(t);
    }
    println!(
        "{:>6} {:>12} {:>12} {:>7.2}   append one to sealed, from the server's template vs cold (goal <= 0.15)",
        1000,
        format!("{warm:.1?}"),
        format!("{cold:.1?}"),
        warm.as_secs_f64() / cold.as_secs_f64()
    );
}
