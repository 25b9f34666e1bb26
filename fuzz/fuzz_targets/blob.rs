#![no_main]
//! Fuzz target `blob`: see `weft_fuzz::blob` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::blob(data));
