#![no_main]
//! Fuzz target `sync`: see `weft_fuzz::sync` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::sync(data));
