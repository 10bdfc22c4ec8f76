//! See `forest_fuzz::artifact` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forest_fuzz::artifact(data));
