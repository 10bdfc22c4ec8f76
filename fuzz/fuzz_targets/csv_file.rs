//! See `forest_fuzz::csv_file` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forest_fuzz::csv_file(data));
