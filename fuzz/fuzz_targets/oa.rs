#![no_main]
//! Fuzz target `oa`: see `weft_fuzz::oa` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::oa(data));
