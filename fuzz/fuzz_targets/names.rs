//! Migration file names: parsing never panics, and what parses has a
//! version of 0 or more and a description.
#![no_main]
use libfuzzer_sys::fuzz_target;
use migcheck_core::name;

fuzz_target!(|data: &str| {
    if name::is_sql_file(data)
        && let Ok(parsed) = name::parse(data)
    {
        assert!(parsed.version >= 0);
        assert!(!parsed.description.trim().is_empty());
    }
    let _ = migcheck_core::layout::diesel_name(data);
    let _ = migcheck_core::layout::refinery_name(data);
    for layout in [migcheck_core::model::Layout::Dbmate, migcheck_core::model::Layout::SqlMigrate] {
        if let Some((version, description)) = migcheck_core::layout::single_name(data, layout) {
            assert!(version >= 0);
            assert!(!description.trim().is_empty());
        }
    }
});
