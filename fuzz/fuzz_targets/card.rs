#![no_main]
//! Fuzz target `card`: see `weft_fuzz::card` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::card(data));
