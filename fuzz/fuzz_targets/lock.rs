//! The lock file: parsing never panics, and a parsed lock renders to text that
//! parses back to the same lock.
#![no_main]
use libfuzzer_sys::fuzz_target;
use migcheck_core::lock::Lock;

fuzz_target!(|data: &str| {
    if let Ok(lock) = Lock::parse(data) {
        let again = Lock::parse(&lock.render()).expect("a rendered lock parses");
        assert_eq!(again.entries.len(), lock.entries.len());
        assert_eq!(again.chain(), lock.chain());
    }
});
