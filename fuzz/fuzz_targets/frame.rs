#![no_main]
//! Fuzz target `frame`: see `weft_fuzz::frame` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::frame(data));
