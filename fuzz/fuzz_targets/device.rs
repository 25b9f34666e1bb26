#![no_main]
//! Fuzz target `device`: see `weft_fuzz::device` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::device(data));
