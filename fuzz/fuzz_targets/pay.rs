#![no_main]
//! Fuzz target `pay`: see `weft_fuzz::pay` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::pay(data));
