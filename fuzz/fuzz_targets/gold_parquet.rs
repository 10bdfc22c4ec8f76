//! See `forest_fuzz::gold_parquet` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| forest_fuzz::gold_parquet(data));
