#![no_main]
//! Fuzz target `seal`: see `weft_fuzz::seal` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::seal(data));
