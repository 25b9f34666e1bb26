#![no_main]
//! Fuzz target `moments`: see `weft_fuzz::moments` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::moments(data));
