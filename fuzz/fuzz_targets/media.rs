#![no_main]
//! Fuzz target `media`: see `weft_fuzz::media` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::media(data));
