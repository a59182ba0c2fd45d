//! `-- migcheck:` directives: never panics; an error's span is in the text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use migcheck_core::directive;

fuzz_target!(|data: &str| {
    if let Err(e) = directive::parse(data) {
        assert!(e.span.end <= data.len());
        assert_eq!(&data[e.span], e.directive);
    }
});
