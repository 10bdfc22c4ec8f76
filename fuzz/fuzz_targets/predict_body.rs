//! See `forest_fuzz::predict_body` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forest_fuzz::predict_body(data));
