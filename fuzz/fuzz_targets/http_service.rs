//! See `forest_fuzz::http_service` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forest_fuzz::http_service(data));
