//! See `forest_fuzz::v2_infer` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forest_fuzz::v2_infer(data));
