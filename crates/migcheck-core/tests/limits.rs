//! The scratch database's size bound: a migration that would grow it past the
//! limit fails with `scratch-limit` at its statement, quickly, and the
//! process's memory stays within the limit plus a small constant.

use std::fs;
use std::time::{Duration, Instant};

use migcheck_core::check::{Report, check};

use migcheck_core::config::Config;
use migcheck_core::diagnostic::Kind;

/// The example from issue 19: about 12 GB of rows if nothing stopped it.
const RUNAWAY: &str = "CREATE TABLE big AS\n  WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 3000000)\n  SELECT i, randomblob(4000) AS b FROM c;\n";

fn run(files: &[(&str, &str)], limit: Option<u64>) -> (Report, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    fs::create_dir(&m).unwrap();
    for (name, text) in files {
        fs::write(m.join(name), text).unwrap();
    }
    let mut config = Config::new(&m);
    config.scratch.timeout = Duration::from_secs(60);
    if let Some(limit) = limit {
        config.scratch.size_limit = limit;
    }
    let started = Instant::now();
    let report = check(&config);
    (report, started.elapsed())
}

/// The process's peak resident memory, in bytes (Linux).
fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_runaway_migration_stops_at_the_limit_with_a_clear_error_and_bounded_memory() {
    // One test function, so that the peak memory measured is this one's.
    let before = peak_rss();
    let (report, elapsed) = run(&[("1_a.sql", "CREATE TABLE a (x);\n"), ("2_big.sql", RUNAWAY)], Some(64 << 20));
    let errors: Vec<_> = report.errors().collect();
    assert_eq!(errors.len(), 1, "{:#?}", report.diagnostics);
    let d = errors[0];
    assert_eq!(d.kind, Kind::ScratchLimit);
    let rendered = d.render();
    assert!(rendered.contains("`2_big.sql` grows the scratch database past its size limit (64 MiB)"), "{rendered}");
    assert!(rendered.contains("2_big.sql:1:1"), "{rendered}");
    assert!(rendered.contains("MIGCHECK_SCRATCH_LIMIT"), "{rendered}");
    assert!(elapsed < Duration::from_secs(30), "stopped by the limit, not the clock: {elapsed:?}");
    if let (Some(before), Some(after)) = (before, peak_rss()) {
        let grown = after.saturating_sub(before);
        assert!(grown < (64 << 20) + (48 << 20), "memory grew by {} MiB for a 64 MiB limit", grown >> 20);
    }

    // TEMP tables are bounded too.
    let temp = RUNAWAY.replace("CREATE TABLE big", "CREATE TEMP TABLE big");
    let (report, _) = run(&[("1_big.sql", &temp)], Some(32 << 20));
    assert!(report.errors().any(|d| d.kind == Kind::ScratchLimit), "{:#?}", report.diagnostics);

    // Under the limit, the same kind of migration passes.
    let small = RUNAWAY.replace("3000000", "1000");
    let (report, _) = run(&[("1_small.sql", &small)], Some(32 << 20));
    assert!(!report.has_errors(), "{:#?}", report.diagnostics);
}
