#![no_main]
//! Fuzz target `link`: see `weft_fuzz::link` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::link(data));
