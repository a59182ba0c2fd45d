//! Other tools' single-file layouts: sections are in bounds, and blanking
//! keeps every byte offset and line.
#![no_main]
use libfuzzer_sys::fuzz_target;
use migcheck_core::layout::{blank_outside, sections};
use migcheck_core::model::Layout;

fuzz_target!(|data: &str| {
    for layout in [Layout::Dbmate, Layout::Goose, Layout::SqlMigrate] {
        if let Ok(s) = sections(layout, data) {
            for range in [s.up, s.down].into_iter().flatten() {
                assert!(range.start <= range.end && range.end <= data.len());
                let blanked = blank_outside(data, &range);
                assert_eq!(blanked.len(), data.len());
                assert_eq!(blanked.matches('\n').count(), data.matches('\n').count());
                assert_eq!(&blanked[range.clone()], &data[range]);
            }
        }
    }
});
