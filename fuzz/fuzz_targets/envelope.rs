#![no_main]
//! Fuzz target `envelope`: see `weft_fuzz::envelope` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::envelope(data));
