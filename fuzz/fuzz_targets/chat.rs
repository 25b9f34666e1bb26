#![no_main]
//! Fuzz target `chat`: see `weft_fuzz::chat` for what it checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| weft_fuzz::chat(data));
