#![no_main]
//! Fuzz target `group`: see `weft_fuzz::group` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::group(data));
