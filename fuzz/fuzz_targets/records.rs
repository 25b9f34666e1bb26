#![no_main]
//! Fuzz target `records`: see `weft_fuzz::records` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::records(data));
