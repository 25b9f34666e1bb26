#![no_main]
//! Fuzz target `file`: see `weft_fuzz::file` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::file(data));
