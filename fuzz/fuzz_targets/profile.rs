#![no_main]
//! Fuzz target `profile`: see `weft_fuzz::profile` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::profile(data));
